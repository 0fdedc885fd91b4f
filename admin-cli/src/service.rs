//! `congvu-admin service …`: accounts for other systems (document management, portals,
//! Keycloak, SSSD) that bind to LDAP, each limited to an agency subtree or the whole tree.

use clap::Subcommand;
use congvu::directory::NewServiceAccount;
use serde_json::json;

use crate::{output, Context};

/// `congvu-admin service …`
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Add a service account with a generated secret (shown once).
    Add {
        /// Short name, e.g. qlvb (the document management system).
        name: String,
        /// Code of the agency whose subtree it may read (default: the whole directory).
        #[arg(long)]
        scope_agency: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Let it reset officials' passwords (LDAP Password Modify) within its scope.
        #[arg(long)]
        may_reset_passwords: bool,
    },
    /// List the service accounts.
    List,
    /// Remove a service account; the system using it can no longer bind.
    Remove { name: String },
}

/// Runs one `service` command.
pub async fn run(ctx: &Context, cmd: ServiceCommand) -> anyhow::Result<()> {
    match cmd {
        ServiceCommand::Add {
            name,
            scope_agency,
            description,
            may_reset_passwords,
        } => {
            let new = NewServiceAccount {
                name,
                description,
                scope_agency_code: scope_agency,
                may_reset_passwords,
            };
            add(ctx, new).await
        }
        ServiceCommand::List => list(ctx).await,
        ServiceCommand::Remove { name } => remove(ctx, &name).await,
    }
}

/// Adds the account and shows its secret, once.
async fn add(ctx: &Context, new: NewServiceAccount) -> anyhow::Result<()> {
    let (account, secret) = ctx
        .directory
        .create_service_account(&ctx.actor, new, &ctx.hasher)
        .await?;
    let scope = match account.scope_agency_id {
        Some(id) => ctx
            .directory
            .agencies()
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .map(|a| a.code),
        None => None,
    };
    if ctx.json {
        output::json(&json!({ "name": account.name, "scope": scope, "secret": secret }));
    } else {
        output::line(&format!(
            "added service account {} (reads {})",
            account.name,
            scope.map_or("the whole directory".to_string(), |s| format!(
                "agency {s} and below"
            ))
        ));
        output::line(&format!(
            "secret (shown once, put it in the system's LDAP settings): {secret}"
        ));
    }
    Ok(())
}

/// Lists the accounts with the agency each reads.
async fn list(ctx: &Context) -> anyhow::Result<()> {
    let accounts = ctx.directory.service_accounts().await?;
    let agencies = ctx.directory.agencies().await?;
    let scope_of = |id| {
        agencies
            .iter()
            .find(|a| Some(a.id) == id)
            .map(|a| a.code.clone())
    };
    if ctx.json {
        let list: Vec<_> = accounts
            .iter()
            .map(|s| {
                json!({
                    "name": s.name, "scope": scope_of(s.scope_agency_id),
                    "status": s.status.as_str(), "description": s.description,
                })
            })
            .collect();
        output::json(&json!(list));
    } else {
        let rows: Vec<_> = accounts
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    scope_of(s.scope_agency_id).unwrap_or_else(|| "(all)".into()),
                    s.status.to_string(),
                    output::cell(s.description.as_deref()),
                ]
            })
            .collect();
        output::table(&["NAME", "SCOPE", "STATUS", "DESCRIPTION"], &rows);
    }
    Ok(())
}

async fn remove(ctx: &Context, name: &str) -> anyhow::Result<()> {
    ctx.directory
        .remove_service_account(&ctx.actor, name)
        .await?;
    let name = name.trim().to_ascii_lowercase();
    if ctx.json {
        output::json(&json!({ "name": name, "removed": true }));
    } else {
        output::line(&format!("removed service account {name}"));
    }
    Ok(())
}
