//! Reading an HR file into grids of text cells with their line numbers, before anything
//! knows where the table is: CSV through the `csv` crate (UTF-8 with or without BOM,
//! Windows-1258 or Windows-1252, comma, semicolon or tab), workbooks (.xlsx, .xls, .ods)
//! through `calamine`. Cells read as a person sees them: merged cells carry their value,
//! whole numbers print without ".0", dates as dd/mm/yyyy, spaces of every kind collapsed.
//!
//! Hostile files are bounded before they are parsed: the file's size, a zip's declared
//! sizes (which the `zip` crate enforces while inflating), an ODS sheet's expanded size,
//! and the rows and columns kept. Every error names the file and, where there is one, the
//! sheet and the line.

use std::io::{BufReader, Read};
use std::path::Path;

use calamine::{Data, Dimensions, Reader, Sheets};
use unicode_normalization::UnicodeNormalization;

use super::legacy_font::vietnamese_words;

/// Largest file read: an agency's HR list is kilobytes, a province's a few megabytes.
const MAX_FILE_BYTES: u64 = 64 << 20;
/// Largest inflated part of a workbook, and all parts together.
const MAX_PART_BYTES: u64 = 256 << 20;
const MAX_WORKBOOK_BYTES: u64 = 512 << 20;
/// Rows with content kept from one sheet: far above any list of officials.
pub const MAX_ROWS: usize = 100_000;
/// Columns kept; cells further right are not part of any HR form.
const MAX_COLUMNS: usize = 256;
/// Cells an ODS sheet may expand to (its repeated rows and columns) before it is parsed.
const MAX_ODS_CELLS: u64 = 10_000_000;

/// How a CSV file's bytes are text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// UTF-8 when the bytes are UTF-8, else Windows-1258 or Windows-1252, whichever reads as
    /// Vietnamese.
    Auto,
    #[value(name = "utf-8")]
    Utf8,
    #[value(name = "windows-1258")]
    Windows1258,
    #[value(name = "windows-1252")]
    Windows1252,
}

/// One sheet's rows with content, numbered as the spreadsheet (or the CSV's lines) shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grid {
    pub rows: Vec<GridRow>,
}

/// One row of a sheet: its text cells, and the cells that hold a formula error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GridRow {
    pub line: u64,
    pub cells: Vec<String>,
    /// (column, error as Excel shows it, e.g. `#N/A`): the cell's text is empty.
    pub errors: Vec<(usize, String)>,
}

impl GridRow {
    /// The trimmed cell at `column`, empty when there is none.
    pub fn cell(&self, column: usize) -> &str {
        self.cells.get(column).map_or("", String::as_str)
    }

    /// Whether the row holds nothing at all.
    pub fn is_blank(&self) -> bool {
        self.errors.is_empty() && self.cells.iter().all(String::is_empty)
    }
}

/// An opened HR file: a CSV's one grid, or a workbook whose sheets are read on demand.
pub enum Source {
    Csv { grid: Grid, encoding: &'static str },
    Workbook(Box<Sheets<BufReader<std::fs::File>>>),
}

impl Source {
    /// Opens `path` by its extension, refusing what no HR list is before parsing it.
    pub fn open(path: &Path, encoding: Encoding) -> Result<Source, String> {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let size = std::fs::metadata(path)
            .map_err(|e| format!("cannot read: {e}"))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(format!(
                "the file is {} MiB; an HR list is far smaller (the limit is {} MiB): give the agency's list alone",
                size >> 20,
                MAX_FILE_BYTES >> 20
            ));
        }
        match extension.as_str() {
            "csv" | "txt" => {
                let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
                let (text, encoding) = decode(&bytes, encoding)?;
                Ok(Source::Csv {
                    grid: csv_grid(&text)?,
                    encoding,
                })
            }
            "xlsx" | "xlsm" | "xls" | "ods" => {
                refuse_encrypted(path)?;
                if extension != "xls" {
                    check_zip_sizes(path)?;
                }
                if extension == "ods" {
                    check_ods_size(path)?;
                }
                let workbook = calamine::open_workbook_auto(path).map_err(open_error)?;
                Ok(Source::Workbook(Box::new(workbook)))
            }
            _ => {
                Err("unknown file type: give a .xlsx, .xls or .ods workbook or a .csv file".into())
            }
        }
    }

    /// The sheets in workbook order; a CSV file has one sheet without a name.
    pub fn sheet_names(&self) -> Vec<String> {
        match self {
            Source::Csv { .. } => Vec::new(),
            Source::Workbook(book) => book.sheet_names(),
        }
    }

    /// The CSV's encoding, for the plan.
    pub fn encoding(&self) -> Option<&'static str> {
        match self {
            Source::Csv { encoding, .. } => Some(encoding),
            Source::Workbook(_) => None,
        }
    }

    /// Reads one sheet (`None` for a CSV file) into a grid.
    pub fn read(&mut self, sheet: Option<&str>) -> Result<Grid, String> {
        match (self, sheet) {
            (Source::Csv { grid, .. }, _) => Ok(std::mem::take(grid)),
            (Source::Workbook(book), Some(sheet)) => read_sheet(book, sheet),
            (Source::Workbook(_), None) => Err("no worksheet was named".into()),
        }
    }
}

/// A calamine error as the administrator can act on it.
fn open_error(e: calamine::Error) -> String {
    use calamine::{Error, XlsError, XlsxError};
    match e {
        Error::Xlsx(XlsxError::Password) | Error::Xls(XlsError::Password) => password_protected(),
        e => format!("cannot open as a workbook ({e}): is it a real .xlsx, .xls or .ods file?"),
    }
}

fn password_protected() -> String {
    "the workbook is protected with a password: open it in Excel, remove the password \
     (File > Info > Protect Workbook > Encrypt with Password, empty it), save, and import again"
        .into()
}

/// An encrypted .xlsx is an OLE compound file holding an `EncryptedPackage`, not a zip.
fn refuse_encrypted(path: &Path) -> Result<(), String> {
    const OLE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let read = file
        .read(&mut head)
        .map_err(|e| format!("cannot read: {e}"))?;
    let is_xls = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xls"));
    if read == 8 && head == OLE && !is_xls {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
        let marker: Vec<u8> = "EncryptedPackage"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        if bytes.windows(marker.len()).any(|w| w == marker.as_slice()) {
            return Err(password_protected());
        }
        return Err("the file is an Excel 97-2003 workbook saved with a modern extension: rename it to .xls, or save it again as .xlsx".into());
    }
    Ok(())
}

/// Refuses a zip whose parts would inflate beyond what any HR list needs (a zip bomb), by
/// the sizes its central directory declares; `zip` fails a part that inflates beyond them.
fn check_zip_sizes(path: &Path) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let Ok(mut archive) = zip::ZipArchive::new(BufReader::new(file)) else {
        return Ok(()); // not a zip: calamine says what it is not
    };
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let part = archive
            .by_index_raw(index)
            .map_err(|e| format!("cannot read the workbook's parts: {e}"))?;
        total = total.saturating_add(part.size());
        if part.size() > MAX_PART_BYTES || total > MAX_WORKBOOK_BYTES {
            return Err(format!(
                "the workbook's part {} inflates to {} MiB (limit {} MiB, {} MiB in all): it is not an HR list; open it in Excel and save the list alone",
                part.name().unwrap_or_default(),
                part.size() >> 20,
                MAX_PART_BYTES >> 20,
                MAX_WORKBOOK_BYTES >> 20
            ));
        }
    }
    Ok(())
}

/// CSV bytes as text: UTF-8 (BOM or not), else the Windows code page a Vietnamese or
/// Western "Save as CSV" wrote, in NFC (Windows-1258 writes tone marks as combining marks).
fn decode(bytes: &[u8], encoding: Encoding) -> Result<(String, &'static str), String> {
    let utf8 = |bytes: &[u8]| {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        std::str::from_utf8(bytes).map(str::to_string).map_err(|e| {
            let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
            format!(
                "line {line}: the file is not UTF-8 text: pass --encoding windows-1258 (or windows-1252), or save it in Excel as \"CSV UTF-8 (Comma delimited)\""
            )
        })
    };
    let code_page = |page: &'static encoding_rs::Encoding| {
        let (text, _, _) = page.decode(bytes);
        text.nfc().collect::<String>()
    };
    let text = match encoding {
        Encoding::Utf8 => (utf8(bytes)?, "utf-8"),
        Encoding::Windows1258 => (code_page(encoding_rs::WINDOWS_1258), "windows-1258"),
        Encoding::Windows1252 => (code_page(encoding_rs::WINDOWS_1252), "windows-1252"),
        Encoding::Auto => match utf8(bytes) {
            Ok(text) => (text, "utf-8"),
            Err(_) => {
                let vietnamese = code_page(encoding_rs::WINDOWS_1258);
                let western = code_page(encoding_rs::WINDOWS_1252);
                // The pages differ in a few letters (ă đ ơ ư, the tone marks): where those
                // bytes are absent both read the same, and the text is Western.
                if vietnamese != western
                    && vietnamese_words(&vietnamese) >= vietnamese_words(&western)
                {
                    (vietnamese, "windows-1258")
                } else {
                    (western, "windows-1252")
                }
            }
        },
    };
    if text.0.contains('\0') {
        return Err(
            "the file is binary, not CSV text: give a .csv, .xlsx, .xls or .ods file".into(),
        );
    }
    Ok(text)
}

/// Parses CSV text into rows.
fn csv_grid(text: &str) -> Result<Grid, String> {
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
    let mut grid = Grid::default();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(p.byte()));
            format!("line {line}: not valid CSV: {e}")
        })?;
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        let row = GridRow {
            line,
            cells: record.iter().take(MAX_COLUMNS).map(clean_text).collect(),
            errors: Vec::new(),
        };
        push_row(&mut grid, row)?;
    }
    Ok(grid)
}

/// Keeps a row with content, refusing a sheet past [`MAX_ROWS`] rows.
fn push_row(grid: &mut Grid, row: GridRow) -> Result<(), String> {
    if row.is_blank() {
        return Ok(());
    }
    if grid.rows.len() >= MAX_ROWS {
        return Err(format!(
            "line {}: more than {MAX_ROWS} rows with content: an HR list holds one agency's officials; split the file or delete the rows below the list",
            row.line
        ));
    }
    grid.rows.push(row);
    Ok(())
}

/// The delimiter the first line uses most: semicolon (Excel in many locales), tab, or comma.
fn delimiter_of(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let count = |c: char| header.matches(c).count();
    [(b';', count(';')), (b'\t', count('\t')), (b',', count(','))]
        .into_iter()
        .max_by_key(|&(d, n)| (n, d == b','))
        .map_or(b',', |(d, _)| d)
}

/// A cell's text as a person reads it: NFC, every kind of space (no-break, line breaks in
/// a cell, tabs) one space, zero-width characters gone, trimmed. The soft hyphen U+00AD
/// stays: in TCVN3 text it is the letter ư (the form reader drops it from other text).
pub fn clean_text(text: &str) -> String {
    let visible = text
        .chars()
        .filter(|c| !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'));
    let text: String = visible.nfc().collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads one worksheet: .xlsx cell by cell (so a huge sheet stops at the row limit),
/// .xls and .ods whole (their size was bounded when the file was opened), then fills
/// merged cells.
fn read_sheet(book: &mut Sheets<BufReader<std::fs::File>>, sheet: &str) -> Result<Grid, String> {
    let (mut grid, merges) = match book {
        Sheets::Xlsx(xlsx) => {
            let grid = xlsx_grid(xlsx, sheet)?;
            let merges = xlsx.merge_cells_by_sheet_name(sheet).unwrap_or_default();
            (grid, merges)
        }
        Sheets::Xls(xls) => {
            let merges = xls.merge_cells_by_sheet_name(sheet).unwrap_or_default();
            (range_grid(book, sheet)?, merges)
        }
        Sheets::Ods(_) | Sheets::Xlsb(_) => (range_grid(book, sheet)?, Vec::new()),
    };
    fill_merged(&mut grid, &merges);
    Ok(grid)
}

fn xlsx_grid(
    xlsx: &mut calamine::Xlsx<BufReader<std::fs::File>>,
    sheet: &str,
) -> Result<Grid, String> {
    let mut reader = xlsx
        .worksheet_cells_reader(sheet)
        .map_err(|e| format!("cannot read worksheet \"{sheet}\": {e}"))?;
    let mut grid = Grid::default();
    let mut row = GridRow::default();
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| format!("cannot read worksheet \"{sheet}\": {e}"))?
    {
        let (r, c) = cell.get_position();
        let line = u64::from(r) + 1;
        if line != row.line {
            push_row(&mut grid, std::mem::take(&mut row))?;
            row.line = line;
        }
        put_cell(
            &mut row,
            c as usize,
            cell_value(&Data::from(cell.get_value().clone())),
        );
    }
    push_row(&mut grid, row)?;
    Ok(grid)
}

fn range_grid(book: &mut Sheets<BufReader<std::fs::File>>, sheet: &str) -> Result<Grid, String> {
    let range = book
        .worksheet_range(sheet)
        .map_err(|e| format!("cannot read worksheet \"{sheet}\": {e}"))?;
    let (first_row, first_column) = range.start().unwrap_or((0, 0));
    let mut grid = Grid::default();
    for (i, cells) in range.rows().enumerate() {
        let mut row = GridRow {
            line: u64::from(first_row) + i as u64 + 1,
            ..GridRow::default()
        };
        for (j, data) in cells.iter().enumerate() {
            put_cell(&mut row, first_column as usize + j, cell_value(data));
        }
        push_row(&mut grid, row)?;
    }
    Ok(grid)
}

/// A cell's value: its text, or the formula error it shows.
enum CellValue {
    Text(String),
    Error(String),
}

fn put_cell(row: &mut GridRow, column: usize, value: CellValue) {
    if column >= MAX_COLUMNS {
        return;
    }
    if row.cells.len() <= column {
        row.cells.resize(column + 1, String::new());
    }
    match value {
        CellValue::Text(text) => row.cells[column] = text,
        CellValue::Error(error) => row.errors.push((column, error)),
    }
}

/// A cell as the text a person sees: whole numbers (employee ids, phones) without a
/// decimal point, dates as Vietnamese write them.
fn cell_value(cell: &Data) -> CellValue {
    let text = match cell {
        Data::Empty => String::new(),
        Data::String(s) => clean_text(s),
        Data::Float(f) => number_text(*f),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) if d.is_datetime() => {
            let (year, month, day, ..) = d.to_ymd_hms_milli();
            format!("{day:02}/{month:02}/{year}")
        }
        Data::DateTime(d) => number_text(d.as_f64()),
        Data::DateTimeIso(iso) => iso_date_text(iso),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return CellValue::Error(e.to_string()),
    };
    CellValue::Text(text)
}

fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// `2026-03-15` or `2026-03-15T00:00:00` (ODS) as `15/03/2026`; anything else as it is.
fn iso_date_text(iso: &str) -> String {
    let date = iso.split('T').next().unwrap_or(iso);
    match date.split('-').collect::<Vec<_>>().as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => format!("{d}/{m}/{y}"),
        _ => iso.to_string(),
    }
}

/// Gives every cell of a merged region the value of its top-left cell, as Excel shows it.
fn fill_merged(grid: &mut Grid, merges: &[Dimensions]) {
    for merge in merges {
        let (top, left) = (u64::from(merge.start.0) + 1, merge.start.1 as usize);
        let (bottom, right) = (u64::from(merge.end.0) + 1, merge.end.1 as usize);
        let right = right.min(MAX_COLUMNS - 1);
        let Some(value) = grid
            .rows
            .iter()
            .find(|r| r.line == top)
            .map(|r| r.cell(left).to_string())
            .filter(|v| !v.is_empty())
        else {
            continue;
        };
        for row in grid
            .rows
            .iter_mut()
            .filter(|r| (top..=bottom).contains(&r.line))
        {
            for column in left..=right {
                if row.cell(column).is_empty() {
                    put_cell(row, column, CellValue::Text(value.clone()));
                }
            }
        }
    }
}

/// Refuses an ODS file whose repeated rows and columns would expand past
/// [`MAX_ODS_CELLS`] cells in memory: calamine expands every sheet's repeats when it opens
/// the file. Like calamine, it counts the rows up to the last one with content and the
/// columns up to the rightmost cell with content (LibreOffice ends each sheet with a
/// million empty rows that expand to nothing).
fn check_ods_size(path: &Path) -> Result<(), String> {
    use quick_xml::events::Event;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| format!("cannot open as a workbook ({e}): is it a real .ods file?"))?;
    let content = archive
        .by_name("content.xml")
        .map_err(|e| format!("cannot open as a workbook ({e}): is it a real .ods file?"))?;
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(content));
    let mut sheet = OdsExtent::default();
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("cannot read the workbook's content: {e}"))?;
        match event {
            Event::Start(e) | Event::Empty(e) => sheet.start(&e),
            Event::End(e) if e.name().as_ref() == "table:table-row" => sheet.end_row()?,
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

/// How far one ODS sheet's content reaches, counted as its rows and cells go by.
#[derive(Debug, Default)]
struct OdsExtent {
    /// Rows up to the last with content, and empty rows since.
    rows: u64,
    empty_rows: u64,
    /// Columns up to the rightmost cell with content, in any row.
    width: u64,
    row_repeats: u64,
    row_columns: u64,
    row_width: u64,
}

impl OdsExtent {
    fn start(&mut self, e: &quick_xml::events::BytesStart<'_>) {
        let repeats = |name: &str| -> u64 {
            e.try_get_attribute(name)
                .ok()
                .flatten()
                .and_then(|a| a.value.parse().ok())
                .unwrap_or(1)
        };
        match e.name().as_ref() {
            "table:table" => *self = OdsExtent::default(),
            "table:table-row" => {
                self.row_repeats = repeats("table:number-rows-repeated");
                (self.row_columns, self.row_width) = (0, 0);
            }
            "table:table-cell" | "table:covered-table-cell" => {
                let columns = repeats("table:number-columns-repeated");
                self.row_columns = self.row_columns.saturating_add(columns);
                if matches!(e.try_get_attribute("office:value-type"), Ok(Some(_))) {
                    self.row_width = self.row_columns;
                }
            }
            _ => {}
        }
    }

    fn end_row(&mut self) -> Result<(), String> {
        if self.row_width == 0 {
            self.empty_rows = self.empty_rows.saturating_add(self.row_repeats);
            return Ok(());
        }
        self.rows = self
            .rows
            .saturating_add(self.empty_rows)
            .saturating_add(self.row_repeats);
        self.empty_rows = 0;
        self.width = self.width.max(self.row_width);
        if self.rows.saturating_mul(self.width) > MAX_ODS_CELLS {
            return Err(format!(
                "a sheet expands to more than {MAX_ODS_CELLS} cells (row {}): it is not an HR list; open it in LibreOffice and save the list alone",
                self.rows
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_semicolons_quotes_and_blank_lines_keep_their_line_numbers() {
        let text = "\u{feff}Họ và tên;Chức vụ\r\nNguyễn Văn An;\"Chuyên viên; kiêm nhiệm\"\r\n\r\nLê Thị Hồng Nhung;Phó phòng\r\n";
        let (text, encoding) = decode(text.as_bytes(), Encoding::Auto).unwrap();
        assert_eq!(encoding, "utf-8");
        let rows = csv_grid(&text).unwrap().rows;
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
    fn windows_code_pages_are_told_apart_by_what_reads_as_vietnamese() {
        // "Họ và tên / Nguyễn Văn Đức" as Windows-1258 writes it: o + combining dot below
        // (0xF2), e-circumflex + combining tilde (0xDE), a-breve (0xE3), D-stroke (0xD0),
        // u-horn (0xFD) + combining acute (0xEC).
        let vietnamese = b"Ho\xf2 v\xe0 t\xean\r\nNguy\xea\xden V\xe3n \xd0\xfd\xecc\r\n";
        let (text, encoding) = decode(vietnamese, Encoding::Auto).unwrap();
        assert_eq!(encoding, "windows-1258");
        assert_eq!(text, "Họ và tên\r\nNguyễn Văn Đức\r\n");
        let western = b"Name\nJos\xe9 M\xfcller\n";
        let (text, encoding) = decode(western, Encoding::Auto).unwrap();
        assert_eq!(
            (text.as_str(), encoding),
            ("Name\nJosé Müller\n", "windows-1252")
        );
        let err = decode(b"name\nNguy\xean\n", Encoding::Utf8).unwrap_err();
        assert!(err.starts_with("line 2: the file is not UTF-8"), "{err}");
    }

    #[test]
    fn cells_read_as_people_see_them() {
        assert_eq!(number_text(123456.0), "123456");
        assert_eq!(number_text(1.5), "1.5");
        assert_eq!(
            clean_text(" Nguyễn\u{a0}Văn \u{200b}An\n "),
            "Nguyễn Văn An",
            "no-break and zero-width spaces, line breaks and trailing spaces"
        );
        assert_eq!(clean_text("Ho\u{0323} va\u{0300} te\u{0302}n"), "Họ và tên");
        assert_eq!(iso_date_text("2026-03-15"), "15/03/2026");
        assert_eq!(iso_date_text("2026-03-15T00:00:00"), "15/03/2026");
    }

    #[test]
    fn merged_cells_carry_their_value() {
        let mut grid = Grid {
            rows: vec![
                GridRow {
                    line: 5,
                    cells: vec!["STT".into(), "Thông tin cán bộ".into()],
                    errors: vec![],
                },
                GridRow {
                    line: 6,
                    cells: vec![String::new(), "Họ và tên".into(), "Chức vụ".into()],
                    errors: vec![],
                },
            ],
        };
        let merges = [
            Dimensions::new((4, 0), (5, 0)),
            Dimensions::new((4, 1), (4, 2)),
        ];
        fill_merged(&mut grid, &merges);
        assert_eq!(
            grid.rows[0].cells,
            ["STT", "Thông tin cán bộ", "Thông tin cán bộ"]
        );
        assert_eq!(grid.rows[1].cells, ["STT", "Họ và tên", "Chức vụ"]);
    }

    #[test]
    fn a_sheet_past_the_row_limit_is_refused_with_its_line() {
        let text: String = (1..=MAX_ROWS + 5).map(|i| format!("{i}\n")).collect();
        let err = csv_grid(&text).unwrap_err();
        assert!(
            err.starts_with(&format!("line {}: more than", MAX_ROWS + 1)),
            "{err}"
        );
    }
}

#[cfg(test)]
mod proptests;
