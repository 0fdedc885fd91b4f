//! Reading an HR list into rows of text cells with their line numbers: CSV (UTF-8 with or
//! without BOM; comma, semicolon or tab) through the `csv` crate, Excel workbooks through
//! `calamine`. Every error names the file and, where there is one, the line.

use std::path::Path;

use calamine::{Data, Reader};

/// A sheet of text cells: the header row and the data rows, blank rows dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<TableRow>,
}

/// One data row and where it is in the file (CSV line or spreadsheet row, from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub line: u64,
    pub cells: Vec<String>,
}

/// Reads `path` by its extension; `sheet` picks a worksheet of a workbook.
pub fn read_table(path: &Path, sheet: Option<&str>) -> anyhow::Result<Table> {
    let name = path.display();
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let lines = match extension.as_str() {
        "csv" | "txt" => {
            let bytes =
                std::fs::read(path).map_err(|e| anyhow::anyhow!("{name}: cannot read: {e}"))?;
            csv_lines(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?
        }
        "xlsx" | "xlsm" | "xls" | "ods" => {
            workbook_lines(path, sheet).map_err(|e| anyhow::anyhow!("{name}: {e}"))?
        }
        _ => anyhow::bail!("{name}: unknown file type: give a .csv (UTF-8) or .xlsx file"),
    };
    let mut rows = lines
        .into_iter()
        .filter(|r| r.cells.iter().any(|c| !c.trim().is_empty()));
    let header = rows.next().ok_or_else(|| {
        anyhow::anyhow!(
            "{name}: the file has no rows: it needs a header row and one row per official"
        )
    })?;
    Ok(Table {
        headers: header.cells.iter().map(|h| h.trim().to_string()).collect(),
        rows: rows.collect(),
    })
}

/// Parses CSV bytes into rows.
fn csv_lines(bytes: &[u8]) -> Result<Vec<TableRow>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        format!(
            "line {line}: the file is not UTF-8 text: in Excel save it as \"CSV UTF-8 (Comma delimited)\", or give the .xlsx file"
        )
    })?;
    if text.contains('\0') {
        return Err("the file is binary, not CSV text: give a .csv or .xlsx file".into());
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter_of(text))
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    // The reader's line count drifts on CRLF files with blank lines (as Excel writes them),
    // and a record's position is where the previous one ended: skip the line breaks from
    // there to the record's first byte, and count the newlines before it.
    let newlines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let line_at = |byte: u64| {
        let first = text
            .as_bytes()
            .get(byte as usize..)
            .unwrap_or_default()
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .map_or(text.len(), |skip| byte as usize + skip);
        newlines.partition_point(|&n| n < first) as u64 + 1
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(p.byte()));
            format!("line {line}: not valid CSV: {e}")
        })?;
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        rows.push(TableRow {
            line,
            cells: record.iter().map(str::to_string).collect(),
        });
    }
    Ok(rows)
}

/// The delimiter the header line uses most: semicolon (Excel in many locales), tab, or comma.
fn delimiter_of(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let count = |c: char| header.matches(c).count();
    [(b';', count(';')), (b'\t', count('\t')), (b',', count(','))]
        .into_iter()
        .max_by_key(|&(d, n)| (n, d == b','))
        .map_or(b',', |(d, _)| d)
}

/// Reads one worksheet of a workbook into rows numbered as the spreadsheet shows them.
fn workbook_lines(path: &Path, sheet: Option<&str>) -> Result<Vec<TableRow>, String> {
    let mut workbook = calamine::open_workbook_auto(path)
        .map_err(|e| format!("cannot open as a workbook ({e}): is it a real .xlsx file?"))?;
    let names = workbook.sheet_names();
    let chosen = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "no worksheet \"{s}\": the workbook has {}",
                    names.join(", ")
                )
            })?,
        None => names
            .first()
            .cloned()
            .ok_or("the workbook has no worksheets")?,
    };
    let range = workbook
        .worksheet_range(&chosen)
        .map_err(|e| format!("cannot read worksheet \"{chosen}\": {e}"))?;
    let first_row = range.start().map_or(0, |(row, _)| row);
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, cells)| TableRow {
            line: u64::from(first_row) + i as u64 + 1,
            cells: cells.iter().map(cell_text).collect(),
        })
        .collect())
}

/// A cell as the text a person sees; whole numbers (employee ids) without a decimal point.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_semicolons_quotes_and_blank_lines_keep_their_line_numbers() {
        let text = "\u{feff}Họ và tên;Chức vụ\r\nNguyễn Văn An;\"Chuyên viên; kiêm nhiệm\"\r\n\r\nLê Thị Hồng Nhung;Phó phòng\r\n";
        let rows = csv_lines(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 3, "the blank line is skipped");
        assert_eq!(
            rows[0].cells,
            ["Họ và tên", "Chức vụ"],
            "the BOM is not part of the first header"
        );
        assert_eq!(rows[1].cells, ["Nguyễn Văn An", "Chuyên viên; kiêm nhiệm"]);
        assert_eq!(
            (rows[2].line, rows[2].cells[0].as_str()),
            (4, "Lê Thị Hồng Nhung")
        );
    }

    #[test]
    fn delimiter_follows_the_header() {
        assert_eq!(delimiter_of("a;b;c\n1,5;2;3"), b';');
        assert_eq!(delimiter_of("a,b,c\n"), b',');
        assert_eq!(delimiter_of("a\tb\n"), b'\t');
        assert_eq!(delimiter_of("name\n"), b',');
    }

    #[test]
    fn latin1_is_refused_with_its_line() {
        let err = csv_lines(b"name\nNguy\xean\n").unwrap_err();
        assert!(err.starts_with("line 2: the file is not UTF-8"), "{err}");
    }

    #[test]
    fn whole_number_cells_lose_the_decimal_point() {
        assert_eq!(cell_text(&Data::Float(123456.0)), "123456");
        assert_eq!(cell_text(&Data::Float(1.5)), "1.5");
    }
}
