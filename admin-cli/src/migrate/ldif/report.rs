//! What `migrate ldif` prints: the plan for `--dry-run`, the summary after a migration, and
//! every rejected entry and note as `file:line: …`. Never a password or a hash: a carried
//! password shows as its scheme.

use congvu::directory::{
    MigrationOutcome, MigrationPlan, PlannedGroup, PlannedOfficial, PlannedPassword, Rejection,
};
use serde_json::json;

use super::entries::Export;
use crate::{output, Context};

/// What was read and planned, for the reports.
pub struct Migration<'a> {
    pub file: &'a str,
    pub export: &'a Export,
    pub plan: &'a MigrationPlan,
    /// The reader's rejections and the planner's, by line.
    pub rejected: &'a [Rejection],
    /// The reader's notes and the planner's, by line.
    pub notes: &'a [Rejection],
}

impl Migration<'_> {
    fn json(&self) -> serde_json::Value {
        let plan = self.plan;
        json!({
            "file": self.file,
            "records": self.export.records,
            "ignored": self.export.ignored,
            "officials": plan.officials.iter().map(official_json).collect::<Vec<_>>(),
            "present": plan.present.iter().map(|(line, login)| json!({"line": line, "login": login})).collect::<Vec<_>>(),
            "groups": plan.groups.iter().map(group_json).collect::<Vec<_>>(),
            "groups_present": plan.groups_present.iter().map(|(line, name)| json!({"line": line, "name": name})).collect::<Vec<_>>(),
            "rejected": lines_json(self.rejected),
            "notes": lines_json(self.notes),
        })
    }
}

fn official_json(o: &PlannedOfficial) -> serde_json::Value {
    json!({
        "line": o.line, "login": o.login, "address": o.address, "aliases": o.aliases,
        "name": o.name.full(), "display_name": o.display_name, "agency": o.agency_code,
        "password": password_json(&o.password),
    })
}

fn password_json(p: &PlannedPassword) -> serde_json::Value {
    match p {
        PlannedPassword::Carried { scheme, .. } => json!({ "carried": scheme }),
        PlannedPassword::Initial { why } => json!({ "initial": why }),
    }
}

fn group_json(g: &PlannedGroup) -> serde_json::Value {
    json!({
        "line": g.line, "name": g.name, "display_name": g.display_name, "address": g.address,
        "exists": g.existing.is_some(),
        "add_members": g.members.iter().map(|(_, label)| label).collect::<Vec<_>>(),
    })
}

fn lines_json(lines: &[Rejection]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|r| json!({"line": r.line, "reason": r.reason}))
        .collect()
}

/// Prints the whole plan of a dry run.
pub fn plan(ctx: &Context, m: &Migration<'_>) {
    if ctx.json {
        let mut value = m.json();
        value["dry_run"] = json!(true);
        output::json(&value);
        return;
    }
    output::line(&format!("Plan for {} — dry run, nothing written", m.file));
    read_line(m);
    counts(m, None);
    officials(&m.plan.officials);
    groups(&m.plan.groups);
    lines(m);
}

/// Prints the summary of an applied (or no-op) migration.
pub fn outcome(
    ctx: &Context,
    m: &Migration<'_>,
    outcome: Option<&MigrationOutcome>,
    credentials: Option<&str>,
) {
    if ctx.json {
        let mut value = m.json();
        value["created"] = json!(outcome.map_or(0, |o| o.officials));
        value["carried_passwords"] = json!(outcome.map_or(0, |o| o.carried_passwords));
        value["groups_created"] = json!(outcome.map_or(0, |o| o.groups_created));
        value["members_added"] = json!(outcome.map_or(0, |o| o.members_added));
        value["credentials"] = json!(credentials);
        output::json(&value);
        return;
    }
    match outcome {
        None => output::line(&format!(
            "{}: nothing to change: every official and group is already in congvu",
            m.file
        )),
        Some(o) => {
            output::line(&format!(
                "Migrated {}: {}, {} with the password hash they had",
                m.file,
                output::count(o.officials as i64, "official", "officials"),
                o.carried_passwords
            ));
            if let Some(path) = credentials {
                output::line(&format!(
                    "{} written to {path}: hand each to its official",
                    output::count(
                        (o.officials - o.carried_passwords) as i64,
                        "generated initial password",
                        "generated initial passwords"
                    )
                ));
            }
        }
    }
    read_line(m);
    counts(m, outcome);
    lines(m);
}

fn read_line(m: &Migration<'_>) {
    let e = m.export;
    output::line(&format!(
        "Read {}: {} ({}, {}, {} left alone)",
        m.file,
        output::count(e.records as i64, "record", "records"),
        output::count(e.officials.len() as i64, "official", "officials"),
        output::count(e.groups.len() as i64, "group", "groups"),
        output::count(e.ignored as i64, "other entry", "other entries"),
    ));
}

fn counts(m: &Migration<'_>, outcome: Option<&MigrationOutcome>) {
    let plan = m.plan;
    let applied = outcome.is_some();
    let new_groups = plan.groups.iter().filter(|g| g.existing.is_none()).count();
    let completed = plan.groups.len() - new_groups;
    let members: usize = plan.groups.iter().map(|g| g.members.len()).sum();
    let rows = vec![
        vec![
            if applied { "created" } else { "to create" }.into(),
            plan.officials.len().to_string(),
            new_groups.to_string(),
        ],
        vec![
            "already in congvu".into(),
            plan.present.len().to_string(),
            (plan.groups_present.len() + completed).to_string(),
        ],
        vec![
            if applied {
                "members added"
            } else {
                "members to add"
            }
            .into(),
            String::new(),
            members.to_string(),
        ],
    ];
    output::table(&["", "OFFICIALS", "GROUPS"], &rows);
    if !m.rejected.is_empty() {
        output::line(&format!(
            "{} (listed below)",
            output::count(
                m.rejected.len() as i64,
                "entry rejected",
                "entries rejected"
            )
        ));
    }
}

fn officials(planned: &[PlannedOfficial]) {
    if planned.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = planned
        .iter()
        .map(|o| {
            let password = match &o.password {
                PlannedPassword::Carried { scheme, .. } => format!("carried {scheme}"),
                PlannedPassword::Initial { .. } => "initial (see notes)".into(),
            };
            vec![
                o.line.to_string(),
                o.login.clone(),
                o.address.clone(),
                o.aliases.len().to_string(),
                o.agency_code.clone(),
                o.name.full(),
                password,
            ]
        })
        .collect();
    output::line("");
    output::table(
        &[
            "LINE", "LOGIN", "ADDRESS", "ALIASES", "AGENCY", "NAME", "PASSWORD",
        ],
        &rows,
    );
}

fn groups(planned: &[PlannedGroup]) {
    if planned.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = planned
        .iter()
        .map(|g| {
            vec![
                g.line.to_string(),
                g.name.clone(),
                if g.existing.is_some() {
                    "add members"
                } else {
                    "create"
                }
                .into(),
                g.address.clone().unwrap_or_default(),
                g.members.len().to_string(),
            ]
        })
        .collect();
    output::line("");
    output::table(&["LINE", "GROUP", "ACTION", "ADDRESS", "MEMBERS"], &rows);
}

/// Every rejected entry and every note, as `file:line: …`.
fn lines(m: &Migration<'_>) {
    if !m.rejected.is_empty() || !m.notes.is_empty() {
        output::line("");
    }
    crate::import::report::rejections(m.file, m.rejected);
    for n in m.notes {
        output::line(&format!("{}:{}: note: {}", m.file, n.line, n.reason));
    }
}

/// Prints only the rejected entries (a migration refused because of them).
pub fn rejections(m: &Migration<'_>) {
    crate::import::report::rejections(m.file, m.rejected);
}
