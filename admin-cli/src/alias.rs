//! `congvu-admin alias …`: officials' additional addresses.

use clap::Subcommand;
use serde_json::json;

use crate::{output, Context};

/// `congvu-admin alias …`
#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Give an official an additional address, e.g. vanthu.stttt@vinhphuc.gov.vn.
    Add {
        /// The official's login.
        login: String,
        /// The new address, in a domain congvu serves.
        address: String,
    },
    /// Take an additional address away (never the primary one).
    Remove {
        /// The official's login.
        login: String,
        /// The alias to remove.
        address: String,
    },
}

/// Runs one `alias` command.
pub async fn run(ctx: &Context, cmd: AliasCommand) -> anyhow::Result<()> {
    let (login, address, added) = match cmd {
        AliasCommand::Add { login, address } => {
            let alias = ctx
                .directory
                .add_alias(&ctx.actor, &login, &address)
                .await?;
            (login, alias, true)
        }
        AliasCommand::Remove { login, address } => {
            ctx.directory
                .remove_alias(&ctx.actor, &login, &address)
                .await?;
            (login, address.trim().to_ascii_lowercase(), false)
        }
    };
    let login = congvu::directory::normalize_login(&login)?;
    if ctx.json {
        let addresses = ctx.directory.addresses_of_official(&login).await?;
        output::json(&json!({ "login": login, "addresses": addresses }));
    } else if added {
        output::line(&format!("added alias {address} to {login}"));
    } else {
        output::line(&format!("removed alias {address} from {login}"));
    }
    Ok(())
}
