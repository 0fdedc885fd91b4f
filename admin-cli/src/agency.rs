//! `congvu-admin agency …`

use clap::Subcommand;
use congvu::directory::{AgencyLevel, AgencyUsage, NewAgency};
use serde_json::json;

use crate::{output, Context};

/// `congvu-admin agency …`
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
    /// List the agencies, or with --tree print the tree with each agency's mailboxes.
    List {
        /// Print the tree, indented, with the mailboxes of each agency.
        #[arg(long)]
        tree: bool,
    },
    /// Show one agency: its place in the tree, addresses and officials.
    Show {
        /// The agency's code.
        code: String,
    },
    /// Move an agency (with everything below it) under another parent.
    Move {
        /// The agency to move.
        code: String,
        /// Code of the new parent.
        #[arg(long)]
        parent: String,
    },
    /// Load agencies from a CSV file (code, name, level, parent).
    Import(crate::import::AgencyImportArgs),
}

/// Runs one `agency` command.
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
        AgencyCommand::List { tree: true } => tree(ctx).await?,
        AgencyCommand::List { tree: false } => list(ctx).await?,
        AgencyCommand::Show { code } => show(ctx, &code).await?,
        AgencyCommand::Move { code, parent } => {
            let before = ctx.directory.agency(&code).await?;
            let agencies = ctx.directory.agencies().await?;
            let previous = agencies
                .iter()
                .find(|a| Some(a.id) == before.parent_id)
                .map(|a| a.code.clone());
            let moved = ctx
                .directory
                .move_agency(&ctx.actor, &code, &parent)
                .await?;
            let parent = ctx.directory.agency(&parent).await?;
            if ctx.json {
                output::json(
                    &json!({ "code": moved.code, "parent": parent.code, "previous_parent": previous }),
                );
            } else {
                output::line(&format!(
                    "moved {} under {} (was under {})",
                    moved.code,
                    parent.code,
                    previous.as_deref().unwrap_or("nothing")
                ));
            }
        }
        AgencyCommand::Import(args) => crate::import::run_agency_import(ctx, args).await?,
    }
    Ok(())
}

async fn list(ctx: &Context) -> anyhow::Result<()> {
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
    Ok(())
}

/// The tree, depth-first with children by code, each agency with its own mailboxes.
async fn tree(ctx: &Context) -> anyhow::Result<()> {
    let report = ctx.directory.usage_report().await?;
    if ctx.json {
        let mut next = 0;
        output::json(&json!(nest(&report.agencies, &mut next, 0)));
        return Ok(());
    }
    for a in &report.agencies {
        output::line(&format!(
            "{indent}{code}  {name}  ({level}, {mailboxes})",
            indent = "  ".repeat(a.depth),
            code = a.agency.code,
            name = a.agency.name,
            level = a.agency.level,
            mailboxes = output::count(a.own.mailboxes, "mailbox", "mailboxes"),
        ));
    }
    Ok(())
}

/// The depth-ordered agencies from `items[*next]` on at `depth`, with their children nested.
fn nest(items: &[AgencyUsage], next: &mut usize, depth: usize) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    while let Some(a) = items.get(*next).filter(|a| a.depth == depth) {
        *next += 1;
        let children = nest(items, next, depth + 1);
        out.push(json!({
            "code": a.agency.code, "name": a.agency.name, "level": a.agency.level.as_str(),
            "officials": a.own.officials, "mailboxes": a.own.mailboxes,
            "subtree_mailboxes": a.subtree.mailboxes, "children": children,
        }));
    }
    out
}

async fn show(ctx: &Context, code: &str) -> anyhow::Result<()> {
    let d = ctx.directory.agency_details(code).await?;
    let u = d.usage;
    if ctx.json {
        output::json(&json!({
            "code": d.agency.code, "name": d.agency.name, "level": d.agency.level.as_str(),
            "uuid": d.agency.uuid, "domain": d.domain,
            "parent": d.parent.as_ref().map(|p| json!({ "code": p.code, "name": p.name })),
            "children": d.children.iter()
                .map(|c| json!({ "code": c.code, "name": c.name, "level": c.level.as_str() }))
                .collect::<Vec<_>>(),
            "addresses": d.addresses,
            "officials": u.officials, "active": u.active, "disabled": u.disabled,
            "mailboxes": u.mailboxes, "storage_bytes": u.storage_bytes,
        }));
        return Ok(());
    }
    let children: Vec<&str> = d.children.iter().map(|c| c.code.as_str()).collect();
    output::fields(&[
        ("code", d.agency.code.clone()),
        ("name", d.agency.name.clone()),
        ("level", d.agency.level.to_string()),
        ("domain", d.domain.clone()),
        (
            "parent",
            d.parent
                .as_ref()
                .map(|p| format!("{} ({})", p.code, p.name))
                .unwrap_or_default(),
        ),
        ("children", children.join(", ")),
        ("addresses", d.addresses.join(", ")),
        (
            "officials",
            format!(
                "{} ({} active, {} disabled)",
                u.officials, u.active, u.disabled
            ),
        ),
        ("mailboxes", u.mailboxes.to_string()),
        ("storage", output::bytes(u.storage_bytes)),
    ]);
    Ok(())
}
