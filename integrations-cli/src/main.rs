//! `integrations`: the command line of the integrations SDK.
//!
//! Every command has `--help`. Output meant for programs is JSON; errors go to stderr
//! with the error's stable code as the first word. Secrets are read only from
//! environment variables or files, never from arguments.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command line prints"
)]

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Catalog, schemas and validation of the integrations shipped with the SDK.
#[derive(Debug, Parser)]
#[command(name = "integrations", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the shipped integrations.
    Catalog {
        /// Print the catalog as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of one of a definition's configs.
    Schema {
        /// The definition, `family::variant`.
        key: String,
        /// `target-config`, `target-secrets`, `binding-config` or `connection:<method>`.
        kind: String,
    },
    /// Validate a JSON file against one of a definition's configs. Exit 0 when valid;
    /// exit 1 and one JSON object per issue (`code`, `path`, `message`) on stdout when not.
    Validate {
        /// The definition, `family::variant`.
        key: String,
        /// `target-config`, `target-secrets`, `binding-config` or `connection:<method>`.
        kind: String,
        /// The JSON file.
        file: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Catalog { json } => commands::catalog(json),
        Command::Schema { key, kind } => commands::schema(&key, &kind),
        Command::Validate { key, kind, file } => commands::validate(&key, &kind, &file),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{} {e}", e.code());
            for issue in e.issues() {
                eprintln!("  {issue}");
            }
            ExitCode::from(2)
        }
    }
}
