//! Running the programs a benchmark starts besides the servers: reading what they print,
//! and the tail of a server's log for an error message.

use std::path::Path;
use std::process::Command;

/// What `command` prints, trimmed: a program's version as its own `--version` (or the like)
/// gives it; `unknown` when it prints nothing or does not run.
pub(crate) fn version(mut command: Command, unknown: &str) -> String {
    command
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| unknown.into())
}

/// The last 20 lines of the log at `path`, which say why a server failed.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
