//! `congvu-admin report egov`: the e-government report (mailboxes issued, officials active,
//! signing certificates, and the share of submitted mail signed with a signature that
//! verified) per level, per agency and in total, as a table, CSV, JSON or a self-contained
//! HTML page to print. The directory assembles the report; this module only prints it.

mod html;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::ValueEnum;
use congvu::directory::{
    EgovAgency, EgovCounts, EgovLevel, EgovReport, ReportPeriod, SignedShareTarget, UtcDay,
};
use serde_json::json;

use crate::{output, Context, UsageError};

/// How `report egov` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EgovFormat {
    Table,
    Csv,
    Json,
    /// One self-contained page (tables and bar charts) to open in a browser and print.
    Html,
}

/// `report egov`.
#[derive(Debug, clap::Args)]
pub struct EgovArgs {
    /// First day of the period (UTC), included [default: 1 January of the --to year]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = utc_day)]
    from: Option<UtcDay>,
    /// Last day of the period (UTC), included [default: today]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = utc_day)]
    to: Option<UtcDay>,
    /// table (the default), csv, json or html; --json is the same as --format json.
    #[arg(long, value_enum, default_value_t = EgovFormat::Table)]
    format: EgovFormat,
    /// Write the report to FILE instead of standard output (csv, json and html).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Reads a `--from` or `--to` value; clap names the option and the value when it is refused.
fn utc_day(text: &str) -> Result<UtcDay, congvu::directory::PeriodError> {
    text.parse()
}

/// The CSV header: one row per level, per agency (its own officials) and the total.
pub const CSV_COLUMNS: [&str; 18] = [
    "scope",
    "code",
    "level",
    "name",
    "parent",
    "agencies",
    "agencies_with_mailboxes",
    "mailboxes",
    "active",
    "valid_certificate_holders",
    "certificates_issued",
    "certificates_cumulative",
    "sent",
    "signed",
    "verified",
    "signed_share_percent",
    "target_percent",
    "target_met",
];

/// Prints (or writes) the e-government report.
pub async fn run(ctx: &Context, args: EgovArgs) -> anyhow::Result<()> {
    let format = if ctx.json {
        EgovFormat::Json
    } else {
        args.format
    };
    if format == EgovFormat::Table && args.output.is_some() {
        return Err(UsageError(
            "--output writes csv, json or html; add --format csv, json or html, or redirect the table"
                .into(),
        )
        .into());
    }
    let period = period(&args, ctx.directory.now())?;
    let report = ctx.directory.egov_report(period).await?;
    let bytes = match format {
        EgovFormat::Table => {
            table(&report);
            return Ok(());
        }
        EgovFormat::Csv => csv(&report)?,
        EgovFormat::Json => format!("{:#}\n", to_json(&report)).into_bytes(),
        EgovFormat::Html => html::page(&report).into_bytes(),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &bytes)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            output::line(&format!("wrote {}", path.display()));
        }
        None => output::raw(&bytes),
    }
    Ok(())
}

/// The period the options name: to defaults to today, from to 1 January of to's year.
fn period(args: &EgovArgs, now: congvu::clock::UnixTime) -> Result<ReportPeriod, UsageError> {
    let to = args.to.unwrap_or_else(|| UtcDay::of(now));
    let from = args.from.unwrap_or_else(|| to.first_of_year());
    ReportPeriod::new(from, to).map_err(|_| {
        let to_text = if args.to.is_some() {
            format!("--to {to}")
        } else {
            format!("--to {to} (today, the default)")
        };
        UsageError(format!(
            "--from {from} is after {to_text}: the period runs from --from to --to, both days included"
        ))
    })
}

/// `19/20`: agencies where someone holds a mailbox, out of all.
fn with_mailboxes(c: &EgovCounts) -> String {
    format!("{}/{}", c.agencies_with_mailboxes, c.agencies)
}

/// `97.5`, or `None` when nothing was sent.
fn share_text(c: &EgovCounts) -> Option<String> {
    c.signed_share().map(|s| s.to_string())
}

fn target_text(target: Option<SignedShareTarget>) -> Option<String> {
    target.map(|t| t.0.to_string())
}

fn met_text(met: Option<bool>) -> Option<&'static str> {
    met.map(|m| if m { "yes" } else { "no" })
}

const DASH: &str = "–";

/// The table cells after the first column(s): counts, share, target, met.
fn table_numbers(
    c: &EgovCounts,
    mailbox_cell: String,
    target: Option<SignedShareTarget>,
) -> Vec<String> {
    vec![
        mailbox_cell,
        c.mailboxes.to_string(),
        c.active.to_string(),
        c.valid_certificate_holders.to_string(),
        c.certificates_issued.to_string(),
        c.certificates_cumulative.to_string(),
        c.sent.to_string(),
        c.signed.to_string(),
        c.verified.to_string(),
        share_text(c).map_or_else(|| DASH.to_string(), |s| format!("{s}%")),
        target_text(target).map_or_else(|| DASH.to_string(), |t| format!("{t}%")),
        met_text(c.meets(target)).unwrap_or(DASH).to_string(),
    ]
}

const TABLE_COUNTS: [&str; 12] = [
    "WITH MAILBOXES",
    "MAILBOXES",
    "ACTIVE",
    "CERT HOLDERS",
    "CERTS ISSUED",
    "CERTS TOTAL",
    "SENT",
    "SIGNED",
    "VERIFIED",
    "SIGNED %",
    "TARGET",
    "MET",
];

fn table(report: &EgovReport) {
    output::line(&format!(
        "E-government report, {} to {} (UTC days, both included)",
        report.period.from(),
        report.period.to()
    ));
    output::line("");
    let mut rows: Vec<Vec<String>> = report
        .levels
        .iter()
        .map(|l| {
            let mut row = vec![l.level.as_str().to_string()];
            row.extend(table_numbers(
                &l.counts,
                with_mailboxes(&l.counts),
                l.target,
            ));
            row
        })
        .collect();
    let mut total = vec!["total".to_string()];
    total.extend(table_numbers(
        &report.total,
        with_mailboxes(&report.total),
        None,
    ));
    rows.push(total);
    output::line("By level:");
    output::table(&[&["LEVEL"][..], &TABLE_COUNTS].concat(), &rows);

    let rows: Vec<Vec<String>> = agencies(report)
        .map(|(level, a)| {
            let mut row = vec![
                format!("{}{}", "  ".repeat(a.depth), a.agency.code),
                level.level.as_str().to_string(),
            ];
            let mailbox = if a.has_mailboxes() { "yes" } else { "no" };
            row.extend(table_numbers(&a.counts, mailbox.to_string(), level.target));
            row.push(a.agency.name.clone());
            row
        })
        .collect();
    output::line("");
    output::line("By agency (its own officials), grouped by level:");
    output::table(
        &[&["CODE", "LEVEL"][..], &TABLE_COUNTS, &["NAME"]].concat(),
        &rows,
    );
}

/// Every agency row with its level, levels from the province down, each in tree order.
fn agencies(report: &EgovReport) -> impl Iterator<Item = (&EgovLevel, &EgovAgency)> {
    report
        .levels
        .iter()
        .flat_map(|l| l.agencies.iter().map(move |a| (l, a)))
}

fn csv_numbers(c: &EgovCounts, target: Option<SignedShareTarget>) -> Vec<String> {
    vec![
        c.agencies.to_string(),
        c.agencies_with_mailboxes.to_string(),
        c.mailboxes.to_string(),
        c.active.to_string(),
        c.valid_certificate_holders.to_string(),
        c.certificates_issued.to_string(),
        c.certificates_cumulative.to_string(),
        c.sent.to_string(),
        c.signed.to_string(),
        c.verified.to_string(),
        share_text(c).unwrap_or_default(),
        target_text(target).unwrap_or_default(),
        met_text(c.meets(target)).unwrap_or_default().to_string(),
    ]
}

fn csv(report: &EgovReport) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_COLUMNS)?;
    for l in &report.levels {
        let mut row = vec![
            "level".to_string(),
            String::new(),
            l.level.as_str().to_string(),
            String::new(),
            String::new(),
        ];
        row.extend(csv_numbers(&l.counts, l.target));
        writer.write_record(&row)?;
    }
    for (level, a) in agencies(report) {
        let mut row = vec![
            "agency".to_string(),
            a.agency.code.clone(),
            level.level.as_str().to_string(),
            a.agency.name.clone(),
            output::cell(a.parent_code.as_deref()),
        ];
        row.extend(csv_numbers(&a.counts, level.target));
        writer.write_record(&row)?;
    }
    let mut total = vec![
        "total".to_string(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ];
    total.extend(csv_numbers(&report.total, None));
    writer.write_record(&total)?;
    Ok(writer.into_inner()?)
}

/// The counts as JSON; the share is a number with one decimal (rounded down), null without mail.
fn counts_json(c: &EgovCounts, target: Option<SignedShareTarget>) -> serde_json::Value {
    json!({
        "agencies": c.agencies,
        "agencies_with_mailboxes": c.agencies_with_mailboxes,
        "mailboxes": c.mailboxes,
        "active": c.active,
        "valid_certificate_holders": c.valid_certificate_holders,
        "certificates_issued": c.certificates_issued,
        "certificates_cumulative": c.certificates_cumulative,
        "sent": c.sent,
        "signed": c.signed,
        "verified": c.verified,
        "signed_share_percent": c.signed_share().map(|s| s.tenths_of_percent() as f64 / 10.0),
        "target_percent": target.map(|t| t.0),
        "target_met": c.meets(target),
    })
}

fn to_json(report: &EgovReport) -> serde_json::Value {
    json!({
        "period": { "from": report.period.from().to_string(), "to": report.period.to().to_string() },
        "levels": report.levels.iter().map(|l| {
            let mut v = counts_json(&l.counts, l.target);
            v["level"] = json!(l.level.as_str());
            v
        }).collect::<Vec<_>>(),
        "agencies": agencies(report).map(|(level, a)| {
            let mut v = counts_json(&a.counts, level.target);
            v["code"] = json!(a.agency.code);
            v["name"] = json!(a.agency.name);
            v["level"] = json!(level.level.as_str());
            v["parent"] = json!(a.parent_code);
            v
        }).collect::<Vec<_>>(),
        "total": counts_json(&report.total, None),
    })
}
