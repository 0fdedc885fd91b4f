//! `agency import`: the agency tree from a CSV or workbook with columns code, name, level
//! and parent (Vietnamese headers and level names accepted), applied in one transaction.

use congvu::directory::{ascii_word, AgencyLevel, NewAgency};

use super::columns::header_key;
use super::table::read_table;
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

pub async fn run(ctx: &Context, args: AgencyImportArgs) -> anyhow::Result<()> {
    let file = args.file.display().to_string();
    let table = read_table(&args.file, None)?;
    let find = |names: &[&str]| {
        table
            .headers
            .iter()
            .position(|h| names.contains(&header_key(h).as_str()))
    };
    let (Some(code), Some(name), Some(level)) = (find(CODE), find(NAME), find(LEVEL)) else {
        anyhow::bail!(
            "{file}: the header row needs columns code, name and level (and parent); found {:?}",
            table.headers
        );
    };
    let parent = find(PARENT);
    let mut agencies = Vec::new();
    let mut rejected = Vec::new();
    for row in &table.rows {
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
