//! `congvu-admin domain …`

use clap::Subcommand;
use congvu::directory::NewDomain;
use serde_json::json;

use crate::{output, Context};

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add a mail domain.
    Add {
        /// The domain, e.g. vinhphuc.gov.vn.
        name: String,
        /// Make it the primary domain (the LDAP base and the default for new agencies).
        #[arg(long)]
        primary: bool,
        /// Default mailbox quota for officials in this domain, in MiB.
        #[arg(long, default_value_t = 2048)]
        quota_mib: i64,
    },
    /// List the domains.
    List,
}

pub async fn run(ctx: &Context, cmd: DomainCommand) -> anyhow::Result<()> {
    match cmd {
        DomainCommand::Add {
            name,
            primary,
            quota_mib,
        } => {
            let mut new = NewDomain::new(&name);
            new.is_primary = primary;
            new.default_quota_bytes = quota_mib.saturating_mul(1 << 20);
            let domain = ctx.directory.add_domain(&ctx.actor, new).await?;
            output::line(&format!(
                "added domain {}{}",
                domain.name,
                if domain.is_primary { " (primary)" } else { "" }
            ));
        }
        DomainCommand::List => {
            let domains = ctx.directory.domains().await?;
            if ctx.json {
                let list: Vec<_> = domains
                    .iter()
                    .map(|d| json!({ "name": d.name, "primary": d.is_primary, "default_quota_bytes": d.default_quota_bytes }))
                    .collect();
                output::json(&json!(list));
            } else {
                let rows: Vec<_> = domains
                    .iter()
                    .map(|d| {
                        vec![
                            d.name.clone(),
                            if d.is_primary {
                                "yes".into()
                            } else {
                                String::new()
                            },
                            format!("{} MiB", d.default_quota_bytes >> 20),
                        ]
                    })
                    .collect();
                output::table(&["DOMAIN", "PRIMARY", "DEFAULT QUOTA"], &rows);
            }
        }
    }
    Ok(())
}
