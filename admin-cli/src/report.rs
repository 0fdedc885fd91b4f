//! `congvu-admin report`: officials, mailboxes and storage per level and per agency, as a
//! table, CSV or JSON; `report egov` is the e-government report (see `egov.rs`). The
//! counting is done by the store, one query per aggregate.

use clap::ValueEnum;
use congvu::directory::{Usage, UsageReport};
use serde_json::json;

use crate::{egov, output, Context};

/// How `report` prints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

/// `report`: the usage report, or one of the other reports named as a subcommand.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    command: Option<ReportCommand>,
    /// table (the default), csv or json; --json is the same as --format json.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
}

/// The reports besides the usage report.
#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// E-government: mailboxes, active officials, certificates and the share of sent mail
    /// validly signed, per level and per agency over a period, against the targets.
    Egov(egov::EgovArgs),
}

/// The CSV header; agency rows count the agency and everything below it.
pub const CSV_COLUMNS: [&str; 11] = [
    "scope",
    "code",
    "level",
    "name",
    "parent",
    "agencies",
    "officials",
    "active",
    "disabled",
    "mailboxes",
    "storage_bytes",
];

/// Prints the usage report.
pub async fn run(ctx: &Context, args: ReportArgs) -> anyhow::Result<()> {
    if let Some(ReportCommand::Egov(args)) = args.command {
        return egov::run(ctx, args).await;
    }
    let report = ctx.directory.usage_report().await?;
    let format = if ctx.json {
        ReportFormat::Json
    } else {
        args.format
    };
    match format {
        ReportFormat::Table => table(&report),
        ReportFormat::Csv => csv(&report)?,
        ReportFormat::Json => output::json(&to_json(&report)),
    }
    Ok(())
}

fn numbers(u: &Usage) -> [String; 5] {
    [
        u.officials.to_string(),
        u.active.to_string(),
        u.disabled.to_string(),
        u.mailboxes.to_string(),
        output::bytes(u.storage_bytes),
    ]
}

fn table(report: &UsageReport) {
    const COUNTS: [&str; 6] = [
        "AGENCIES",
        "OFFICIALS",
        "ACTIVE",
        "DISABLED",
        "MAILBOXES",
        "STORAGE",
    ];
    let mut rows: Vec<Vec<String>> = report
        .levels
        .iter()
        .map(|l| {
            let mut row = vec![l.level.to_string(), l.usage.agencies.to_string()];
            row.extend(numbers(&l.usage));
            row
        })
        .collect();
    let mut total = vec!["total".to_string(), report.total.agencies.to_string()];
    total.extend(numbers(&report.total));
    rows.push(total);
    output::line("By level:");
    output::table(&[&["LEVEL"][..], &COUNTS].concat(), &rows);

    let rows: Vec<Vec<String>> = report
        .agencies
        .iter()
        .map(|a| {
            let mut row = vec![
                format!("{}{}", "  ".repeat(a.depth), a.agency.code),
                a.agency.level.to_string(),
                a.subtree.agencies.to_string(),
            ];
            row.extend(numbers(&a.subtree));
            row.push(a.agency.name.clone());
            row
        })
        .collect();
    output::line("");
    output::line("By agency (each with the agencies below it):");
    output::table(
        &[&["CODE", "LEVEL"][..], &COUNTS, &["NAME"]].concat(),
        &rows,
    );
}

fn csv_numbers(u: &Usage) -> [String; 6] {
    [
        u.agencies.to_string(),
        u.officials.to_string(),
        u.active.to_string(),
        u.disabled.to_string(),
        u.mailboxes.to_string(),
        u.storage_bytes.to_string(),
    ]
}

fn csv(report: &UsageReport) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for l in &report.levels {
        let mut row = vec![
            "level".to_string(),
            String::new(),
            l.level.to_string(),
            String::new(),
            String::new(),
        ];
        row.extend(csv_numbers(&l.usage));
        rows.push(row);
    }
    for a in &report.agencies {
        let mut row = vec![
            "agency".to_string(),
            a.agency.code.clone(),
            a.agency.level.to_string(),
            a.agency.name.clone(),
            output::cell(a.parent_code.as_deref()),
        ];
        row.extend(csv_numbers(&a.subtree));
        rows.push(row);
    }
    let mut total = vec![
        "total".to_string(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ];
    total.extend(csv_numbers(&report.total));
    rows.push(total);
    output::csv(&CSV_COLUMNS, &rows)
}

fn usage_json(u: &Usage) -> serde_json::Value {
    json!({
        "agencies": u.agencies, "officials": u.officials, "active": u.active,
        "disabled": u.disabled, "mailboxes": u.mailboxes, "storage_bytes": u.storage_bytes,
    })
}

fn to_json(report: &UsageReport) -> serde_json::Value {
    json!({
        "levels": report.levels.iter().map(|l| {
            let mut v = usage_json(&l.usage);
            v["level"] = json!(l.level.as_str());
            v
        }).collect::<Vec<_>>(),
        "agencies": report.agencies.iter().map(|a| json!({
            "code": a.agency.code, "name": a.agency.name, "level": a.agency.level.as_str(),
            "parent": a.parent_code, "own": usage_json(&a.own), "subtree": usage_json(&a.subtree),
        })).collect::<Vec<_>>(),
        "total": usage_json(&report.total),
    })
}
