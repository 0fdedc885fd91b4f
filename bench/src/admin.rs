//! Driving `congvu-admin` from the benchmarks: every workload seeds congvu the way an
//! administrator would, through the CLI, never through the database.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context as _;

/// Runs `binary --config config args…`, feeding it `stdin`, and returns its standard output;
/// fails with everything it printed unless it exits 0.
pub fn run(
    binary: &Path,
    config: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<String> {
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("while starting {}", binary.display()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "congvu-admin {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The primary domain, the province and its Department of Home Affairs (`snv`), which the
/// benchmarks import their officials into.
pub fn add_province(binary: &Path, config: &Path) -> anyhow::Result<()> {
    let steps: [&[&str]; 3] = [
        &["domain", "add", "vinhphuc.gov.vn", "--primary"],
        &[
            "agency",
            "add",
            "vinhphuc",
            "--name",
            "UBND tỉnh Vĩnh Phúc",
            "--level",
            "province",
        ],
        &[
            "agency",
            "add",
            "snv",
            "--name",
            "Sở Nội vụ",
            "--level",
            "department",
            "--parent",
            "vinhphuc",
        ],
    ];
    for step in steps {
        run(binary, config, step, None)?;
    }
    Ok(())
}
