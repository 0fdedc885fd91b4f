//! `congvu-admin group …`: groups (for access control, LDAP `memberOf`) and distribution
//! lists (with an address), whose members are officials or other groups.

use clap::{ArgGroup, Args, Subcommand};
use congvu::directory::{GroupKind, MemberListing, MemberName, NewGroup};
use serde_json::json;

use crate::{output, Context, UsageError};

/// `congvu-admin group …`
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Add a group, or with --list --address a distribution list.
    Add {
        /// Short name, e.g. lanhdao-stttt.
        name: String,
        /// Name shown in address books, e.g. "Lãnh đạo Sở TT&TT".
        #[arg(long)]
        display_name: String,
        /// Make it a distribution list: mail to --address reaches every member.
        #[arg(long, requires = "address")]
        list: bool,
        /// The list's address.
        #[arg(long, requires = "list")]
        address: Option<String>,
        /// Agency the group belongs to.
        #[arg(long)]
        agency: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List the groups.
    List,
    /// Show a group's direct members, or with --expand every official in it.
    Members {
        name: String,
        /// Every official, through nested groups, each once.
        #[arg(long)]
        expand: bool,
    },
    /// Add an official (--user) or a group (--group) to a group.
    AddMember(MemberArgs),
    /// Remove a direct member from a group.
    RemoveMember(MemberArgs),
}

/// `group add-member` / `remove-member`: the group and exactly one member.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("member").required(true).args(["user", "group"])))]
pub struct MemberArgs {
    /// The group to change.
    name: String,
    /// An official's login.
    #[arg(long)]
    user: Option<String>,
    /// Another group's name (nesting).
    #[arg(long)]
    group: Option<String>,
}

impl MemberArgs {
    fn member(&self) -> Result<MemberName, UsageError> {
        match (&self.user, &self.group) {
            (Some(login), None) => Ok(MemberName::Official(login.clone())),
            (None, Some(group)) => Ok(MemberName::Group(group.clone())),
            _ => Err(UsageError(
                "name the member with --user LOGIN or --group NAME".into(),
            )),
        }
    }
}

fn describe(member: &MemberName) -> String {
    match member {
        MemberName::Official(login) => login.trim().to_ascii_lowercase(),
        MemberName::Group(name) => format!("group {}", name.trim().to_ascii_lowercase()),
    }
}

/// Runs one `group` command.
pub async fn run(ctx: &Context, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Add {
            name,
            display_name,
            list,
            address,
            agency,
            description,
        } => {
            let new = NewGroup {
                name,
                display_name,
                description,
                kind: if list {
                    GroupKind::List
                } else {
                    GroupKind::Group
                },
                agency_code: agency,
                address,
            };
            let address = new.address.as_ref().map(|a| a.trim().to_ascii_lowercase());
            let group = ctx.directory.add_group(&ctx.actor, new).await?;
            if ctx.json {
                output::json(&json!({
                    "name": group.name, "display_name": group.display_name,
                    "kind": group.kind.as_str(), "address": address,
                }));
            } else {
                let address = address.map(|a| format!(" <{a}>")).unwrap_or_default();
                output::line(&format!(
                    "added {} {}{address} ({})",
                    group.kind.as_str(),
                    group.name,
                    group.display_name
                ));
            }
        }
        GroupCommand::List => list(ctx).await?,
        GroupCommand::Members {
            name,
            expand: false,
        } => members(ctx, &name).await?,
        GroupCommand::Members { name, expand: true } => expand(ctx, &name).await?,
        GroupCommand::AddMember(args) => {
            let member = args.member()?;
            ctx.directory
                .add_group_member(&ctx.actor, &args.name, &member)
                .await?;
            membership_changed(ctx, &args.name, &member, "added", "to")?;
        }
        GroupCommand::RemoveMember(args) => {
            let member = args.member()?;
            ctx.directory
                .remove_group_member(&ctx.actor, &args.name, &member)
                .await?;
            membership_changed(ctx, &args.name, &member, "removed", "from")?;
        }
    }
    Ok(())
}

fn membership_changed(
    ctx: &Context,
    group: &str,
    member: &MemberName,
    verb: &str,
    preposition: &str,
) -> anyhow::Result<()> {
    let group = group.trim().to_ascii_lowercase();
    if ctx.json {
        let (kind, name) = match member {
            MemberName::Official(login) => ("official", login),
            MemberName::Group(name) => ("group", name),
        };
        output::json(&json!({
            "group": group, "change": verb,
            "member": { "kind": kind, "name": name.trim().to_ascii_lowercase() },
        }));
    } else {
        output::line(&format!(
            "{verb} {} {preposition} {group}",
            describe(member)
        ));
    }
    Ok(())
}

async fn list(ctx: &Context) -> anyhow::Result<()> {
    let groups = ctx.directory.group_listings().await?;
    if ctx.json {
        let list: Vec<_> = groups
            .iter()
            .map(|g| {
                json!({
                    "name": g.group.name, "display_name": g.group.display_name,
                    "kind": g.group.kind.as_str(), "address": g.address,
                    "agency": g.agency_code, "description": g.group.description,
                    "members": g.members,
                })
            })
            .collect();
        output::json(&json!(list));
        return Ok(());
    }
    let rows: Vec<_> = groups
        .iter()
        .map(|g| {
            vec![
                g.group.name.clone(),
                g.group.kind.as_str().to_string(),
                output::cell(g.address.as_deref()),
                output::cell(g.agency_code.as_deref()),
                g.members.to_string(),
                g.group.display_name.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "NAME",
            "KIND",
            "ADDRESS",
            "AGENCY",
            "MEMBERS",
            "DISPLAY NAME",
        ],
        &rows,
    );
    Ok(())
}

async fn members(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let members = ctx.directory.group_member_listing(name).await?;
    if ctx.json {
        let list: Vec<_> = members
            .iter()
            .map(|m| match m {
                MemberListing::Official(o) => json!({
                    "kind": "official", "name": o.login, "display_name": o.display_name,
                    "address": o.address,
                }),
                MemberListing::Group { name, display_name } => json!({
                    "kind": "group", "name": name, "display_name": display_name, "address": null,
                }),
            })
            .collect();
        output::json(&json!(list));
        return Ok(());
    }
    let rows: Vec<_> = members
        .iter()
        .map(|m| match m {
            MemberListing::Official(o) => vec![
                "official".into(),
                o.login.clone(),
                o.address.clone(),
                o.display_name.clone(),
            ],
            MemberListing::Group { name, display_name } => vec![
                "group".into(),
                name.clone(),
                String::new(),
                display_name.clone(),
            ],
        })
        .collect();
    output::table(&["KIND", "NAME", "ADDRESS", "DISPLAY NAME"], &rows);
    Ok(())
}

async fn expand(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let mut officials = ctx.directory.expand_group(name).await?;
    officials.sort_by(|a, b| a.login.cmp(&b.login));
    if ctx.json {
        let list: Vec<_> = officials
            .iter()
            .map(|o| {
                json!({
                    "login": o.login, "display_name": o.display_name,
                    "address": o.primary_address, "status": o.status.as_str(),
                })
            })
            .collect();
        output::json(&json!(list));
        return Ok(());
    }
    let rows: Vec<_> = officials
        .iter()
        .map(|o| {
            vec![
                o.login.clone(),
                o.primary_address.clone(),
                o.status.to_string(),
                o.display_name.clone(),
            ]
        })
        .collect();
    output::table(&["LOGIN", "ADDRESS", "STATUS", "DISPLAY NAME"], &rows);
    Ok(())
}
