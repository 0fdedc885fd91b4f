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
    /// The scripts run before every official's own: the province's, and one per agency.
    #[command(subcommand)]
    Before(BeforeCommand),
}

/// `congvu-admin sieve before …`: administrators' scripts, run at every delivery before the
/// official's own filter (a `stop` in them ends filtering).
#[derive(Debug, Subcommand)]
pub enum BeforeCommand {
    /// List the province's script and the agencies' that are set.
    List,
    /// Print the province's script, or an agency's.
    Show {
        /// The agency whose script is meant; the province's without it.
        #[arg(long)]
        agency: Option<String>,
    },
    /// Set the province's script, or an agency's, from FILE (UTF-8), once it compiles.
    Put {
        file: PathBuf,
        #[arg(long)]
        agency: Option<String>,
    },
    /// Remove the province's script, or an agency's.
    Delete {
        #[arg(long)]
        agency: Option<String>,
    },
}

/// Runs one `sieve` command.
pub async fn run(ctx: &Context, cmd: SieveCommand) -> anyhow::Result<()> {
    let login = match &cmd {
        SieveCommand::Before(before) => return run_before(ctx, before).await,
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
        SieveCommand::Before(_) => {}
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

/// Runs one `sieve before` command.
async fn run_before(ctx: &Context, cmd: &BeforeCommand) -> anyhow::Result<()> {
    let scripts = &ctx.scripts;
    let agency = match cmd {
        BeforeCommand::List => return list_before(ctx).await,
        BeforeCommand::Show { agency }
        | BeforeCommand::Put { agency, .. }
        | BeforeCommand::Delete { agency } => agency,
    };
    let (scope, agency) = agency_scope(ctx, agency).await?;
    match cmd {
        BeforeCommand::List => {}
        BeforeCommand::Show { .. } => {
            let set = scripts.before_scripts().await?;
            let Some(script) = set.into_iter().find(|s| s.agency == agency) else {
                anyhow::bail!("{scope} has no script run before officials' own");
            };
            output::line(script.text.trim_end());
        }
        BeforeCommand::Put { file, .. } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("{}: cannot be read as UTF-8 text", file.display()))?;
            match scripts.put_before(agency, &text).await {
                Err(ScriptsError::Invalid(e)) => {
                    anyhow::bail!("{}: {e}; nothing was stored", file.display())
                }
                other => other?,
            }
            output::line(&format!(
                "stored the script run before the filters of {scope}"
            ));
        }
        BeforeCommand::Delete { .. } => {
            if !scripts.delete_before(agency).await? {
                anyhow::bail!("{scope} has no script run before officials' own");
            }
            output::line(&format!(
                "removed the script run before the filters of {scope}"
            ));
        }
    }
    Ok(())
}

/// Who a `--agency` option names, in words and as the scripts' key.
async fn agency_scope(
    ctx: &Context,
    agency: &Option<String>,
) -> anyhow::Result<(String, Option<congvu::directory::AgencyId>)> {
    match agency {
        None => Ok(("the province".to_owned(), None)),
        Some(code) => {
            let agency = ctx.directory.agency(code).await?;
            Ok((format!("agency {code}"), Some(agency.id)))
        }
    }
}

/// `sieve before list`: which scripts are set, by agency code.
async fn list_before(ctx: &Context) -> anyhow::Result<()> {
    let agencies = ctx.directory.agencies().await?;
    let code = |id| {
        agencies
            .iter()
            .find(|a| a.id == id)
            .map_or_else(|| format!("#{}", id.0), |a| a.code.clone())
    };
    let set = ctx.scripts.before_scripts().await?;
    let rows: Vec<_> = set
        .iter()
        .map(|s| {
            (
                s.agency.map_or_else(|| "province".to_owned(), code),
                s.text.len(),
            )
        })
        .collect();
    if ctx.json {
        let rows: Vec<_> = rows
            .iter()
            .map(|(scope, bytes)| json!({ "scope": scope, "bytes": bytes }))
            .collect();
        output::json(&json!({ "before": rows }));
    } else {
        for (scope, bytes) in rows {
            output::line(&format!("{scope} ({bytes} bytes)"));
        }
    }
    Ok(())
}
