//! What `user import` prints: the plan for `--dry-run`, rejected rows with their lines, and
//! the summary at the end. Never a password.

use congvu::directory::{ImportOutcome, ImportPlan, PlannedCreate, Rejection};
use serde_json::json;

use super::form::Form;
use crate::{output, Context};

/// What was read from the file, for the reports.
pub struct Reading<'a> {
    pub file: &'a str,
    pub form: &'a Form,
    /// The full-name column, whose old-font spelling the plan shows.
    pub name_column: Option<usize>,
    pub unrecognised: &'a [String],
}

impl Reading<'_> {
    /// The name of a created official as typed, when it was converted from an old font.
    fn as_typed(&self, line: u64) -> Option<&str> {
        let row = self.form.rows.iter().find(|r| r.line == line)?;
        row.as_typed
            .iter()
            .find(|(column, _)| Some(*column) == self.name_column)
            .map(|(_, text)| text.as_str())
    }

    fn json(&self) -> serde_json::Value {
        let form = self.form;
        json!({
            "file": self.file,
            "sheet": form.sheet,
            "encoding": form.encoding,
            "legacy_font": form.legacy_font.map(|f| f.name()),
            "header_lines": form.header_lines,
            "ignored": form.ignored.iter().map(|r| json!({
                "line": r.line, "kind": r.kind.code(), "reason": r.kind.reason(), "text": r.text,
            })).collect::<Vec<_>>(),
            "sections": form.sections().map(|(line, unit)| json!({"line": line, "unit": unit})).collect::<Vec<_>>(),
            "ignored_columns": self.unrecognised,
        })
    }

    fn create_json(&self, c: &PlannedCreate) -> serde_json::Value {
        json!({
            "line": c.line, "name": c.name.full(), "as_typed": self.as_typed(c.line),
            "login": c.login, "address": c.address, "unit": c.unit, "title": c.title,
            "phone": c.phone, "employee_id": c.employee_id,
        })
    }
}

/// Merges `extra`'s fields into `value`.
fn with(mut value: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(value), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
        value.extend(extra);
    }
    value
}

/// Prints the whole plan: how the file was read, counts, the officials to create with
/// their addresses, updates, rejections, every row that is not an official and why, and
/// officials missing from the list.
pub fn plan(ctx: &Context, read: &Reading<'_>, plan: &ImportPlan) {
    if ctx.json {
        output::json(&with(
            read.json(),
            json!({
                "agency": plan.agency.code,
                "dry_run": true,
                "create": plan.creates.iter().map(|c| read.create_json(c)).collect::<Vec<_>>(),
                "update": plan.updates.iter().map(|u| json!({"line": u.line, "login": u.login, "fields": u.fields})).collect::<Vec<_>>(),
                "unchanged": plan.unchanged.len(),
                "rejected": rejections_json(&plan.rejected),
                "missing": plan.missing,
            }),
        ));
        return;
    }
    output::line(&format!(
        "Plan for {} into {} ({}) — dry run, nothing written",
        read.file, plan.agency.code, plan.agency.name
    ));
    how_read(read);
    counts(plan, None);
    creates(read, &plan.creates);
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
        rejections(read.file, &plan.rejected);
    }
    ignored_rows(read);
}

/// Prints how the file was read and the rows that are not officials, when there is more
/// to say than "a table on line 1" (the plan always prints them).
pub fn form(ctx: &Context, read: &Reading<'_>) {
    let form = read.form;
    let notable = !form.ignored.is_empty()
        || form.legacy_font.is_some()
        || !read.unrecognised.is_empty()
        || form.header_lines != [1];
    if !ctx.json && notable {
        output::line("");
        how_read(read);
        ignored_rows(read);
    }
}

/// Where the table was found, and how its text was decoded.
fn how_read(read: &Reading<'_>) {
    let form = read.form;
    let mut parts = Vec::new();
    if let Some(sheet) = &form.sheet {
        parts.push(format!("worksheet \"{sheet}\""));
    }
    if let Some(encoding) = form.encoding {
        parts.push(format!("encoding {encoding}"));
    }
    let lines: Vec<String> = form.header_lines.iter().map(u64::to_string).collect();
    parts.push(format!("header on line {}", lines.join("–")));
    if let Some(font) = form.legacy_font {
        parts.push(format!(
            "text typed in the {} font converted to Unicode: check the names against AS TYPED",
            font.name()
        ));
    }
    output::line(&format!("Read {}: {}", read.file, parts.join("; ")));
}

fn creates(read: &Reading<'_>, creates: &[PlannedCreate]) {
    if creates.is_empty() {
        return;
    }
    let typed = creates.iter().any(|c| read.as_typed(c.line).is_some());
    let units = creates.iter().any(|c| c.unit.is_some());
    let mut headers = vec!["LINE", "NAME"];
    if typed {
        headers.push("AS TYPED");
    }
    if units {
        headers.push("UNIT");
    }
    headers.extend(["LOGIN", "ADDRESS"]);
    let rows: Vec<_> = creates
        .iter()
        .map(|c| {
            let mut row = vec![c.line.to_string(), c.name.full()];
            if typed {
                row.push(read.as_typed(c.line).unwrap_or("").to_string());
            }
            if units {
                row.push(c.unit.clone().unwrap_or_default());
            }
            row.extend([c.login.clone(), c.address.clone()]);
            row
        })
        .collect();
    output::line("");
    output::table(&headers, &rows);
}

/// Every row that is not an official, with its line and why.
fn ignored_rows(read: &Reading<'_>) {
    if !read.form.ignored.is_empty() {
        output::line("");
        output::line("Rows that are not officials:");
        let rows: Vec<_> = read
            .form
            .ignored
            .iter()
            .map(|r| {
                vec![
                    r.line.to_string(),
                    r.kind.reason().to_string(),
                    r.text.clone(),
                ]
            })
            .collect();
        output::table(&["LINE", "WHY", "TEXT"], &rows);
    }
    if !read.unrecognised.is_empty() {
        output::line(&format!(
            "ignored columns: {}",
            read.unrecognised.join(", ")
        ));
    }
}

/// Prints every rejected row as `file:line: reason`.
pub fn rejections(file: &str, rejected: &[Rejection]) {
    for r in rejected {
        output::line(&format!("{file}:{}: rejected: {}", r.line, r.reason));
    }
}

/// Prints the summary of an applied (or no-op) import.
pub fn outcome(
    ctx: &Context,
    read: &Reading<'_>,
    plan: &ImportPlan,
    outcome: Option<&ImportOutcome>,
) {
    let file = read.file;
    let disabled = outcome.map_or(0, |o| o.disabled);
    if ctx.json {
        output::json(&with(
            read.json(),
            json!({
                "agency": plan.agency.code,
                "created": outcome.map_or(0, |o| o.created),
                "updated": outcome.map_or(0, |o| o.updated),
                "unchanged": plan.unchanged.len(),
                "rejected": rejections_json(&plan.rejected),
                "missing": plan.missing,
                "disabled": disabled,
            }),
        ));
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
