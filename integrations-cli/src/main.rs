//! `integrations`: the command line of the integrations SDK.
//!
//! Every command has `--help`. Output meant for programs is JSON; a failure prints the
//! error's stable code as the first word on stderr. Secrets are read only from
//! environment variables (`--secret-env VAR`), never from arguments.
//!
//! Exit codes (see [`report::EXIT_CODES`]): 0 success; 1 the input was read and is invalid
//! or refused; 2 usage errors; 3 `egress match` found no route; 4 `egress match` found
//! several (ambiguous); 5 a file could not be read or written, or an address could not
//! be listened on; 6 `sync run`: another run holds the stream; 7 `sync run`: the
//! connection cannot sync; 130 `sync run` stopped by a signal.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command line prints"
)]

/// Prints a line of a command's output on stdout. A closed pipe (`| head`) ends the
/// program quietly, as Unix tools do; any other failure (a full disk under `>`) ends it
/// with `cli.write_failed` and exit 5, never as a success with the output cut short.
/// Commands that serve or run on (`sync run`, `proxy`) print their progress with
/// [`note!`] instead: their stdout going away must not stop them.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = writeln!(stdout, $($arg)*).and_then(|()| stdout.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("cli.write_failed cannot write to standard output: {e}");
            std::process::exit(i32::from(crate::report::IO));
        }
    }};
}

/// Prints a progress line on stdout for a command that serves or runs on; a failure to
/// print is ignored (a log collector restarting must not stop a proxy or a sync run
/// half-way, with its lease held or its audit records unwritten).
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, $($arg)*);
    }};
}

#[allow(
    unreachable_pub,
    dead_code,
    reason = "a catalogue: `ALL` and the table test read every code"
)]
mod codes;
mod commands;
mod io;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use integrations_core::Error;

/// Inspect, validate and exercise the integrations shipped with the SDK.
#[derive(Debug, Parser)]
#[command(name = "integrations", version, about, long_about = None, after_help = report::EXIT_CODES)]
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
    /// Validate a JSON file against one of a definition's configs. Exit 0 and `valid` on
    /// stderr when valid; exit 1 and one JSON object per issue (`code`, `path`, `message`)
    /// on stdout when not.
    Validate {
        /// The definition, `family::variant`.
        key: String,
        /// `target-config`, `target-secrets`, `binding-config` or `connection:<method>`.
        kind: String,
        /// The JSON file; `-` reads standard input.
        file: PathBuf,
    },
    /// Compile a sandbox profile (see the README for its JSON format) into a runtime plan:
    /// the plan as canonical JSON, or its hash. Exit 1 and one JSON object per issue on
    /// stdout when the profile does not compile.
    Compile {
        /// The profile JSON file; `-` reads standard input.
        profile: PathBuf,
        /// Print only the plan's SHA-256 hash.
        #[arg(long)]
        hash: bool,
    },
    /// Egress routes of a compiled plan.
    #[command(subcommand)]
    Egress(EgressCommand),
    /// Sign and verify webhook deliveries.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Export tool descriptors for agents. A summary of what was exported (and of keys
    /// given twice, or variants sharing their family's tools) goes to stderr.
    Tools {
        /// Definitions whose tools to export (`family::variant`); every one when none.
        keys: Vec<String>,
        /// The format.
        #[arg(long, value_enum)]
        format: ToolFormat,
    },
    /// The MCP server.
    #[command(subcommand)]
    Mcp(commands::mcp_serve::McpCommand),
    /// Agent MCP config files.
    #[command(subcommand, name = "mcp-config")]
    McpConfig(McpConfigCommand),
    /// The egress proxy (`proxy --demo`, `proxy ca`).
    Proxy(Box<commands::proxy::ProxyArgs>),
    /// Sync a stored connection's records (`sync run`).
    #[command(subcommand)]
    Sync(commands::sync::SyncCommand),
    /// The database the serving commands read (`db migrate`).
    #[command(subcommand)]
    Db(commands::db::DbCommand),
}

#[derive(Debug, Subcommand)]
enum EgressCommand {
    /// Classify a request against a plan's routes: prints the route id (exit 0),
    /// `no-match` (exit 3) or `ambiguous` (exit 4). A method or URL that cannot be
    /// parsed is a usage error (exit 2).
    Match {
        /// The compiled plan JSON file (`integrations compile` output).
        plan: PathBuf,
        /// The HTTP method.
        method: String,
        /// The request URL.
        url: String,
    },
}

#[derive(Debug, Subcommand)]
enum WebhookCommand {
    /// Sign a delivery as the provider would: prints its headers, one `Name: value` a line.
    Sign {
        /// The definition, `family::variant`.
        key: String,
        /// The environment variable holding the signing secret.
        #[arg(long, value_name = "VAR")]
        secret_env: String,
        /// The body file, sent byte for byte.
        #[arg(long, value_name = "FILE")]
        body: PathBuf,
        /// The signing time, Unix seconds (default: now).
        #[arg(long, value_name = "UNIX")]
        timestamp: Option<i64>,
        /// The delivery id (default: `delivery-<timestamp>`).
        #[arg(long)]
        id: Option<String>,
        /// The event name, for providers that send it in a header (GitHub `issues`).
        #[arg(long, value_name = "NAME")]
        event: Option<String>,
    },
    /// Verify and normalize a delivery through the ingest pipeline: exit 0 and the
    /// normalized event as JSON; exit 1 and the error's stable code as the first word on
    /// stderr.
    Verify {
        /// The definition, `family::variant`.
        key: String,
        /// The environment variable holding the signing secret.
        #[arg(long, value_name = "VAR")]
        secret_env: String,
        /// A file of `Name: value` header lines.
        #[arg(long, value_name = "FILE")]
        headers: PathBuf,
        /// The body file, byte for byte.
        #[arg(long, value_name = "FILE")]
        body: PathBuf,
        /// The time of verification, Unix seconds (default: now).
        #[arg(long, value_name = "UNIX")]
        now: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
enum McpConfigCommand {
    /// Write a profile's MCP servers into an agent config file, keeping every byte outside
    /// the entries the profile manages (comments, formatting, the user's own servers).
    Apply {
        /// The profile JSON file.
        profile: PathBuf,
        /// The config file to update (created when missing).
        #[arg(long, value_name = "F")]
        file: PathBuf,
        /// The file's format: Codex `config.toml` (`mcp_servers`) or a JSON `mcpServers` file.
        #[arg(long, value_enum)]
        format: McpFormat,
        /// A server an earlier profile wrote and this one no longer has: its entry is
        /// removed (repeat for several; a name the profile still has is kept). The file
        /// does not record which entries a profile wrote, so they are named here.
        #[arg(long, value_name = "NAME")]
        retire: Vec<String>,
    },
}

/// Tool export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ToolFormat {
    /// MCP `tools/list`.
    Mcp,
    /// OpenAI function calling (strict mode), as the Responses API takes it.
    Openai,
    /// OpenAI function calling (strict mode), as Chat Completions takes it
    /// (`{"type": "function", "function": {...}}`).
    OpenaiChat,
    /// Anthropic tools.
    Anthropic,
    /// Gemini function declarations.
    Gemini,
}

/// MCP config file formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum McpFormat {
    /// TOML (Codex `config.toml`).
    Toml,
    /// JSON (`mcpServers`).
    Json,
}

fn run(command: Command) -> Result<ExitCode, Error> {
    match command {
        Command::Catalog { json } => commands::catalog::catalog(json),
        Command::Schema { key, kind } => commands::config::schema(&key, &kind),
        Command::Validate { key, kind, file } => commands::config::validate(&key, &kind, &file),
        Command::Compile { profile, hash } => commands::compile::compile(&profile, hash),
        Command::Egress(EgressCommand::Match { plan, method, url }) => {
            commands::compile::egress_match(&plan, &method, &url)
        }
        Command::Webhook(WebhookCommand::Sign {
            key,
            secret_env,
            body,
            timestamp,
            id,
            event,
        }) => commands::webhook::sign(
            &key,
            &secret_env,
            &body,
            timestamp,
            id.as_deref(),
            event.as_deref(),
        ),
        Command::Webhook(WebhookCommand::Verify {
            key,
            secret_env,
            headers,
            body,
            now,
        }) => commands::webhook::verify(&key, &secret_env, &headers, &body, now),
        Command::Tools { keys, format } => commands::tools::export(&keys, format),
        Command::Mcp(command) => commands::mcp_serve::run(command),
        Command::McpConfig(McpConfigCommand::Apply {
            profile,
            file,
            format,
            retire,
        }) => commands::compile::mcp_config_apply(&profile, &file, format, &retire),
        Command::Proxy(args) => commands::proxy::run(*args),
        Command::Sync(command) => commands::sync::run(command),
        Command::Db(command) => commands::db::run(command),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return report::usage(&e),
    };
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => report::failure(&e),
    }
}
