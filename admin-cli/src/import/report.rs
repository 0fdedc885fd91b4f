//! What `user import` prints: the plan for `--dry-run`, rejected rows with their lines, and
//! the summary at the end. Never a password.

use congvu::directory::{ImportOutcome, ImportPlan, Rejection};
use serde_json::json;

use crate::{output, Context};

/// Prints the whole plan: counts, the addresses new officials would get, updates, rejections
/// and officials missing from the list.
pub fn plan(ctx: &Context, file: &str, plan: &ImportPlan, unrecognised: &[String]) {
    if ctx.json {
        output::json(&json!({
            "file": file,
            "agency": plan.agency.code,
            "dry_run": true,
            "create": plan.creates.iter().map(|c| json!({"line": c.line, "name": c.name.full(), "login": c.login, "address": c.address})).collect::<Vec<_>>(),
            "update": plan.updates.iter().map(|u| json!({"line": u.line, "login": u.login, "fields": u.fields})).collect::<Vec<_>>(),
            "unchanged": plan.unchanged.len(),
            "rejected": rejections_json(&plan.rejected),
            "missing": plan.missing,
            "ignored_columns": unrecognised,
        }));
        return;
    }
    output::line(&format!(
        "Plan for {file} into {} ({}) — dry run, nothing written",
        plan.agency.code, plan.agency.name
    ));
    counts(plan, None);
    if !plan.creates.is_empty() {
        output::line("");
        let rows: Vec<_> = plan
            .creates
            .iter()
            .map(|c| {
                vec![
                    c.line.to_string(),
                    c.name.full(),
                    c.login.clone(),
                    c.address.clone(),
                ]
            })
            .collect();
        output::table(&["LINE", "NAME", "LOGIN", "ADDRESS"], &rows);
    }
    if !plan.updates.is_empty() {
        output::line("");
        let rows: Vec<_> = plan
            .updates
            .iter()
            .map(|u| vec![u.line.to_string(), u.login.clone(), u.fields.join(", ")])
            .collect();
        output::table(&["LINE", "LOGIN", "CHANGES"], &rows);
    }
    if !plan.rejected.is_empty() {
        output::line("");
        rejections(file, &plan.rejected);
    }
    if !unrecognised.is_empty() {
        output::line(&format!("ignored columns: {}", unrecognised.join(", ")));
    }
}

/// Prints every rejected row as `file:line: reason`.
pub fn rejections(file: &str, rejected: &[Rejection]) {
    for r in rejected {
        output::line(&format!("{file}:{}: rejected: {}", r.line, r.reason));
    }
}

/// Prints the summary of an applied (or no-op) import.
pub fn outcome(ctx: &Context, file: &str, plan: &ImportPlan, outcome: Option<&ImportOutcome>) {
    let disabled = outcome.map_or(0, |o| o.disabled);
    if ctx.json {
        output::json(&json!({
            "file": file,
            "agency": plan.agency.code,
            "created": outcome.map_or(0, |o| o.created),
            "updated": outcome.map_or(0, |o| o.updated),
            "unchanged": plan.unchanged.len(),
            "rejected": rejections_json(&plan.rejected),
            "missing": plan.missing,
            "disabled": disabled,
        }));
        return;
    }
    if outcome.is_none() {
        output::line(&format!(
            "{file}: nothing to change in {}: every row matches the directory",
            plan.agency.code
        ));
    } else {
        output::line(&format!(
            "Imported {file} into {} ({})",
            plan.agency.code, plan.agency.name
        ));
    }
    counts(plan, outcome);
    rejections(file, &plan.rejected);
}

fn counts(plan: &ImportPlan, outcome: Option<&ImportOutcome>) {
    let missing_note = if plan.disable_missing {
        "disabled"
    } else if plan.disable_withheld {
        "not disabled: rows were rejected"
    } else {
        "kept; --disable-missing disables them"
    };
    let applied = outcome.is_some();
    let rows = vec![
        vec![
            if applied { "created" } else { "create" }.into(),
            plan.creates.len().to_string(),
        ],
        vec![
            if applied { "updated" } else { "update" }.into(),
            plan.updates.len().to_string(),
        ],
        vec!["unchanged".into(), plan.unchanged.len().to_string()],
        vec!["rejected".into(), plan.rejected.len().to_string()],
        vec![
            format!("missing from the list ({missing_note})"),
            plan.missing.len().to_string(),
        ],
    ];
    output::table(&["", "OFFICIALS"], &rows);
}

fn rejections_json(rejected: &[Rejection]) -> Vec<serde_json::Value> {
    rejected
        .iter()
        .map(|r| json!({"line": r.line, "reason": r.reason}))
        .collect()
}
