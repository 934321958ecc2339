//! `integrations tools`.

use std::process::ExitCode;

use integrations_core::{Error, ErrorKind};

use crate::ToolFormat;

pub(crate) fn export(keys: &[String], format: ToolFormat) -> Result<ExitCode, Error> {
    let _ = (keys, format);
    Err(Error::new(
        ErrorKind::Configuration,
        "cli.tools_unavailable",
        "tool exports arrive with the tools engine",
    ))
}
