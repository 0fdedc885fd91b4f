//! `congvu-admin completions SHELL` and `congvu-admin man`: generated from the clap
//! definitions, so they never drift from the commands. Neither needs a config or a database.

use std::path::PathBuf;

use anyhow::Context as _;
use clap_complete::Shell;

use crate::{output, UsageError};

/// `completions`: the completion script for one shell.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, powershell or elvish.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `man`: the manual page of the tool or of one command.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// A command to print the page of, e.g. `user passwd` (default: the whole tool).
    pub command: Vec<String>,
    /// Write the pages of the tool and of every command to this directory instead.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub out_dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`.
pub fn print_completions(args: CompletionsArgs, mut cli: clap::Command) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cli, "congvu-admin", &mut script);
    output::raw(&script);
    Ok(())
}

/// Prints one manual page in roff, or writes them all to `--out-dir`.
pub fn print_man(args: ManArgs, cli: clap::Command) -> anyhow::Result<()> {
    if let Some(dir) = args.out_dir {
        clap_mangen::generate_to(cli, &dir)
            .with_context(|| format!("while writing manual pages to {}", dir.display()))?;
        return Ok(());
    }
    // Building fills in each subcommand's display name (`congvu-admin-user-passwd`).
    let mut cmd = cli.disable_help_subcommand(true);
    cmd.build();
    for name in &args.command {
        cmd = cmd.find_subcommand(name).cloned().ok_or_else(|| {
            UsageError(format!(
                "no command \"{}\": see `congvu-admin --help`",
                args.command.join(" ")
            ))
        })?;
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .source(format!("congvu-admin {}", env!("CARGO_PKG_VERSION")))
        .render(&mut page)
        .context("while rendering the manual page")?;
    output::raw(title_first(&String::from_utf8_lossy(&page)).as_bytes());
    Ok(())
}

/// man(7): `.TH` is the first request of a page (after comments). clap_mangen puts its
/// apostrophe string definitions (`.ie`/`.el … Aq`) before it; they may equally follow.
fn title_first(page: &str) -> String {
    let mut lines: Vec<&str> = page.lines().collect();
    if let Some(at) = lines.iter().position(|l| l.starts_with(".TH ")) {
        let title = lines.remove(at);
        lines.insert(0, title);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
