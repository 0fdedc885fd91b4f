//! `agency import`: the agency tree from a CSV or workbook with columns code, name, level
//! and parent (Vietnamese headers and level names accepted), read like the officials'
//! lists (title and signature blocks, old fonts and encodings), applied in one transaction.

use congvu::directory::{ascii_word, AgencyLevel, NewAgency};

use super::columns::{header_key, ORDINAL_HEADERS};
use super::form::{read_form, KeyColumns, TableKind};
use super::AgencyImportArgs;
use crate::{output, Context};

/// Header spellings, after `header_key`.
const CODE: &[&str] = &["code", "ma", "madonvi", "macoquan", "viettat"];
const NAME: &[&str] = &["name", "ten", "tendonvi", "tencoquan"];
const LEVEL: &[&str] = &["level", "cap", "capdonvi", "loai"];
const PARENT: &[&str] = &[
    "parent",
    "captren",
    "donvicaptren",
    "coquancaptren",
    "trucThuoc",
    "tructhuoc",
];

/// A level written in English or Vietnamese (`Sở`, `Huyện`, `Phường`, …).
fn level_of(text: &str) -> Option<AgencyLevel> {
    let key: String = text.split_whitespace().map(ascii_word).collect();
    Some(match key.as_str() {
        "province" | "tinh" | "ubndtinh" => AgencyLevel::Province,
        "department" | "so" | "ban" | "nganh" | "songanh" | "chicuc" => AgencyLevel::Department,
        "district" | "huyen" | "thanhpho" | "thixa" | "quan" => AgencyLevel::District,
        "commune" | "xa" | "phuong" | "thitran" => AgencyLevel::Commune,
        _ => return None,
    })
}

/// A list of agencies: its header names the code, name and level columns.
struct AgenciesTable;

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.contains(&header_key(h).as_str()))
}

impl TableKind for AgenciesTable {
    fn is_header_word(&self, text: &str) -> bool {
        let key = header_key(text);
        [CODE, NAME, LEVEL, PARENT, &ORDINAL_HEADERS[..]]
            .iter()
            .any(|names| names.contains(&key.as_str()))
    }

    fn key_columns(&self, headers: &[String]) -> Option<KeyColumns> {
        let subject = find(headers, CODE)?;
        find(headers, NAME)?;
        find(headers, LEVEL)?;
        Some(KeyColumns {
            subject,
            ordinal: find(headers, &ORDINAL_HEADERS),
        })
    }

    fn is_subject(&self, text: &str) -> bool {
        !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    }

    fn subject_name(&self) -> &'static str {
        "code, name and level columns (Mã, Tên, Cấp)"
    }
}

pub async fn run(ctx: &Context, args: AgencyImportArgs) -> anyhow::Result<()> {
    let file = args.file.display().to_string();
    let form = read_form(&args.file, &args.reading.options(), &AgenciesTable)?;
    let headers = &form.headers;
    let (Some(code), Some(name), Some(level)) = (
        find(headers, CODE),
        find(headers, NAME),
        find(headers, LEVEL),
    ) else {
        anyhow::bail!("{file}: the header row needs columns code, name and level (and parent); found {headers:?}");
    };
    let parent = find(headers, PARENT);
    for ignored in &form.ignored {
        output::line(&format!(
            "{file}:{}: not an agency: {}: {}",
            ignored.line,
            ignored.kind.reason(),
            ignored.text
        ));
    }
    let mut agencies = Vec::new();
    let mut rejected = Vec::new();
    for row in &form.rows {
        let cell = |i: usize| {
            row.cells
                .get(i)
                .map(|c| c.trim().to_string())
                .unwrap_or_default()
        };
        let Some(agency_level) = level_of(&cell(level)) else {
            rejected.push(format!("{file}:{}: rejected: level \"{}\" is not province, department, district or commune", row.line, cell(level)));
            continue;
        };
        let parent_code = parent.map(cell).filter(|p| !p.is_empty());
        agencies.push((
            row.line,
            NewAgency {
                code: cell(code),
                name: cell(name),
                level: agency_level,
                parent_code,
                domain: None,
                mail_address: None,
            },
        ));
    }
    if !rejected.is_empty() {
        for r in &rejected {
            output::line(r);
        }
        anyhow::bail!(
            "{file}: {} row(s) rejected, nothing was imported",
            rejected.len()
        );
    }
    let outcome = ctx
        .directory
        .import_agencies(&ctx.actor, agencies, args.dry_run)
        .await?;
    let verb = if args.dry_run { "would add" } else { "added" };
    output::line(&format!(
        "{file}: {verb} {} agencies, {} already present",
        outcome.added.len(),
        outcome.unchanged
    ));
    for code in &outcome.added {
        output::line(&format!("  {code}"));
    }
    Ok(())
}
