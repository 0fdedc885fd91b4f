//! `congvu-admin user export`: officials as CSV with the columns `user import` reads, so an
//! export edited in a spreadsheet can be imported again, or as JSON for scripts.

use clap::ValueEnum;
use congvu::directory::{OfficialFilter, OfficialListing};
use serde_json::json;

use crate::{output, Context};

/// The CSV header: `user import`'s columns (full_name, title, phone, email, employee_id,
/// unit) plus the login, the agency code and the status.
pub const EXPORT_COLUMNS: [&str; 9] = [
    "login",
    "full_name",
    "email",
    "agency",
    "unit",
    "title",
    "phone",
    "employee_id",
    "status",
];

/// How `user export` writes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

/// `user export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Only the officials of this agency (not of the agencies below it).
    #[arg(long)]
    agency: Option<String>,
    /// csv (the default) or json; --json is the same as --format json.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    format: ExportFormat,
}

/// Writes the officials to standard output.
pub async fn run(ctx: &Context, args: ExportArgs) -> anyhow::Result<()> {
    let filter = OfficialFilter {
        agency_code: args.agency,
        status: None,
    };
    let officials = ctx.directory.list_officials(&filter).await?;
    if ctx.json || matches!(args.format, ExportFormat::Json) {
        let list: Vec<serde_json::Value> = officials
            .iter()
            .map(|o| {
                json!({
                    "login": o.login, "full_name": o.name.full(), "email": o.address,
                    "agency": o.agency_code, "unit": o.unit, "title": o.title, "phone": o.phone,
                    "employee_id": o.hr_id, "status": o.status.as_str(),
                })
            })
            .collect();
        output::json(&json!(list));
    } else {
        let rows: Vec<Vec<String>> = officials.iter().map(row).collect();
        output::csv(&EXPORT_COLUMNS, &rows)?;
    }
    Ok(())
}

fn row(o: &OfficialListing) -> Vec<String> {
    vec![
        o.login.clone(),
        o.name.full(),
        o.address.clone(),
        o.agency_code.clone(),
        output::cell(o.unit.as_deref()),
        output::cell(o.title.as_deref()),
        output::cell(o.phone.as_deref()),
        output::cell(o.hr_id.as_deref()),
        o.status.to_string(),
    ]
}
