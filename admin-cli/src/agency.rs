//! `congvu-admin agency …`

use clap::Subcommand;
use congvu::directory::{AgencyLevel, NewAgency};
use serde_json::json;

use crate::{output, Context};

#[derive(Debug, Subcommand)]
pub enum AgencyCommand {
    /// Add an agency under its parent.
    Add {
        /// Short code, e.g. stttt.
        code: String,
        /// Full Vietnamese name, e.g. "Sở Thông tin và Truyền thông".
        #[arg(long)]
        name: String,
        /// province, department, district or commune.
        #[arg(long)]
        level: AgencyLevel,
        /// Code of the parent agency (every agency but the province has one).
        #[arg(long)]
        parent: Option<String>,
        /// Domain of the agency's addresses (default: the primary domain).
        #[arg(long)]
        domain: Option<String>,
        /// The agency's own address, e.g. vanthu.stttt@vinhphuc.gov.vn.
        #[arg(long)]
        address: Option<String>,
    },
    /// List the agencies.
    List,
    /// Load the agency tree from a CSV file (code, name, level, parent).
    Import(crate::import::AgencyImportArgs),
}

pub async fn run(ctx: &Context, cmd: AgencyCommand) -> anyhow::Result<()> {
    match cmd {
        AgencyCommand::Add {
            code,
            name,
            level,
            parent,
            domain,
            address,
        } => {
            let new = NewAgency {
                code,
                name,
                level,
                parent_code: parent,
                domain,
                mail_address: address,
            };
            let agency = ctx.directory.add_agency(&ctx.actor, new).await?;
            output::line(&format!(
                "added {} {} ({})",
                agency.level, agency.code, agency.name
            ));
        }
        AgencyCommand::Import(args) => crate::import::run_agency_import(ctx, args).await?,
        AgencyCommand::List => {
            let agencies = ctx.directory.agencies().await?;
            let code_of = |id| {
                agencies
                    .iter()
                    .find(|a| Some(a.id) == id)
                    .map_or(String::new(), |a| a.code.clone())
            };
            if ctx.json {
                let list: Vec<_> = agencies
                    .iter()
                    .map(|a| json!({ "code": a.code, "name": a.name, "level": a.level.as_str(), "parent": code_of(a.parent_id) }))
                    .collect();
                output::json(&json!(list));
            } else {
                let rows: Vec<_> = agencies
                    .iter()
                    .map(|a| {
                        vec![
                            a.code.clone(),
                            a.level.to_string(),
                            code_of(a.parent_id),
                            a.name.clone(),
                        ]
                    })
                    .collect();
                output::table(&["CODE", "LEVEL", "PARENT", "NAME"], &rows);
            }
        }
    }
    Ok(())
}
