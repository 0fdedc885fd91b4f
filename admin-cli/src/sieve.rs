//! `congvu-admin sieve …`: officials' Sieve filters, as the IT team sets them up for an
//! official (officials manage their own with a ManageSieve client).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use congvu::sieve::scripts::ScriptsError;
use serde_json::json;

use crate::{output, Context};

/// `congvu-admin sieve …`
#[derive(Debug, Subcommand)]
pub enum SieveCommand {
    /// List an official's scripts; the active one is marked.
    List {
        /// The official's login.
        login: String,
    },
    /// Print one of an official's scripts.
    Show { login: String, name: String },
    /// Store a script from FILE (UTF-8) under NAME, once it compiles.
    Put {
        login: String,
        name: String,
        file: PathBuf,
        /// Make it the active script too.
        #[arg(long)]
        activate: bool,
    },
    /// Make NAME the official's active script.
    Activate { login: String, name: String },
    /// Leave the official without an active script.
    Deactivate { login: String },
    /// Delete a script that is not the active one.
    Delete { login: String, name: String },
}

/// Runs one `sieve` command.
pub async fn run(ctx: &Context, cmd: SieveCommand) -> anyhow::Result<()> {
    let login = match &cmd {
        SieveCommand::List { login }
        | SieveCommand::Show { login, .. }
        | SieveCommand::Put { login, .. }
        | SieveCommand::Activate { login, .. }
        | SieveCommand::Deactivate { login }
        | SieveCommand::Delete { login, .. } => login.clone(),
    };
    let official = ctx.directory.official(&login).await?.id;
    let scripts = &ctx.scripts;
    match cmd {
        SieveCommand::List { .. } => {
            let listed = scripts.list(official).await?;
            if ctx.json {
                let rows: Vec<_> = listed
                    .iter()
                    .map(|s| json!({ "name": s.name, "active": s.active, "bytes": s.text.len() }))
                    .collect();
                output::json(&json!({ "login": login, "scripts": rows }));
            } else {
                for s in &listed {
                    let mark = if s.active { " (active)" } else { "" };
                    output::line(&format!("{}{mark}", s.name));
                }
            }
        }
        SieveCommand::Show { name, .. } => {
            output::line(scripts.get(official, &name).await?.text.trim_end());
        }
        SieveCommand::Put {
            name,
            file,
            activate,
            ..
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("{}: cannot be read as UTF-8 text", file.display()))?;
            match scripts.put(official, &name, &text).await {
                Err(ScriptsError::Invalid(e)) => {
                    anyhow::bail!("{}: {e}; nothing was stored", file.display())
                }
                other => other?,
            }
            if activate {
                scripts.activate(official, Some(&name)).await?;
            }
            output::line(&format!("stored {name:?} for {login}"));
        }
        SieveCommand::Activate { name, .. } => {
            scripts.activate(official, Some(&name)).await?;
            output::line(&format!("{name:?} is now {login}'s active script"));
        }
        SieveCommand::Deactivate { .. } => {
            scripts.activate(official, None).await?;
            output::line(&format!("{login} has no active script"));
        }
        SieveCommand::Delete { name, .. } => {
            scripts.delete(official, &name).await?;
            output::line(&format!("deleted {name:?} of {login}"));
        }
    }
    Ok(())
}
