//! Where the table is in an HR form as agencies really send it: the title block above the
//! header ("UBND TỈNH VĨNH PHÚC", "DANH SÁCH CÁN BỘ …"), a header over one or two rows, the
//! column numbers under it, section rows ("I. BAN GIÁM ĐỐC") that give the rows below
//! their unit, and the signature block after the table ("Người lập biểu", "…, ngày … tháng …
//! năm …", "GIÁM ĐỐC" and the names under them), which never becomes a row. Text typed in
//! the old TCVN3 or VNI fonts is read as Unicode first. Every row that is not a table row is
//! kept with its line and the reason, for the plan.

use std::path::Path;

use congvu::directory::ascii_word;

use super::legacy_font::{self, LegacyFont};
use super::table::{Encoding, Grid, GridRow, Source};

/// The header is looked for in a sheet's first lines only: below them is data.
const HEADER_SEARCH_LINES: u64 = 30;

/// How to read the file.
#[derive(Debug, Clone)]
pub struct FormOptions {
    pub sheet: Option<String>,
    pub encoding: Encoding,
    pub legacy_font: LegacyChoice,
}

/// `--legacy-font`: which old Vietnamese font encoding the cells are typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LegacyChoice {
    /// TCVN3 or VNI where the sheet's text reads as Vietnamese through one of them.
    Auto,
    Tcvn3,
    Vni,
    /// Take every cell as it is.
    None,
}

/// What a table of one kind looks like to the reader.
pub trait TableKind {
    /// Whether `text` is one of the headers this kind of table uses (its ordinal included).
    fn is_header_word(&self, text: &str) -> bool;
    /// The subject and ordinal columns, when `headers` is this kind's header row.
    fn key_columns(&self, headers: &[String]) -> Option<KeyColumns>;
    /// Whether `text` can be a row's subject (a person's name, an agency's code).
    fn is_subject(&self, text: &str) -> bool;
    /// The columns a header must name, for messages.
    fn subject_name(&self) -> &'static str;
}

/// The columns that decide what a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyColumns {
    /// The column every table row fills: an official's name, an agency's code.
    pub subject: usize,
    /// The ordinal (STT) column, when the table has one.
    pub ordinal: Option<usize>,
}

/// The table found in a file, and everything around it.
#[derive(Debug, Clone, Default)]
pub struct Form {
    pub sheet: Option<String>,
    /// A CSV file's encoding.
    pub encoding: Option<&'static str>,
    /// The old font the sheet's text was converted from.
    pub legacy_font: Option<LegacyFont>,
    pub headers: Vec<String>,
    pub header_lines: Vec<u64>,
    pub rows: Vec<FormRow>,
    /// Every row with content that is not a table row, in file order.
    pub ignored: Vec<IgnoredRow>,
}

/// A table row.
#[derive(Debug, Clone, Default)]
pub struct FormRow {
    pub line: u64,
    pub cells: Vec<String>,
    pub errors: Vec<(usize, String)>,
    /// The label of the section row above it ("BAN GIÁM ĐỐC"), if any.
    pub section: Option<String>,
    /// Cells converted from an old font: (column, the cell as typed).
    pub as_typed: Vec<(usize, String)>,
}

/// A row that is not a table row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredRow {
    pub line: u64,
    pub kind: Ignored,
    /// The row's distinct texts, joined.
    pub text: String,
}

/// Why a row is not a table row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    Title,
    ColumnNumbers,
    RepeatedHeader,
    Section,
    NoOrdinal,
    NumberedButEmpty,
    NoSubject,
    Total,
    Signature,
}

impl Ignored {
    /// A stable name, for `--json`.
    pub fn code(self) -> &'static str {
        match self {
            Ignored::Title => "title",
            Ignored::ColumnNumbers => "column-numbers",
            Ignored::RepeatedHeader => "repeated-header",
            Ignored::Section => "section",
            Ignored::NoOrdinal => "no-ordinal",
            Ignored::NumberedButEmpty => "numbered-but-empty",
            Ignored::NoSubject => "no-name",
            Ignored::Total => "total",
            Ignored::Signature => "signature",
        }
    }

    /// Why, for a person.
    pub fn reason(self) -> &'static str {
        match self {
            Ignored::Title => "title block above the table",
            Ignored::ColumnNumbers => "column numbers under the header",
            Ignored::RepeatedHeader => "the header again",
            Ignored::Section => "section row: the unit of the rows below it",
            Ignored::NoOrdinal => "no number in the STT column: not an official",
            Ignored::NumberedButEmpty => "numbered row left empty",
            Ignored::NoSubject => "no name",
            Ignored::Total => "total line",
            Ignored::Signature => "signature block after the table",
        }
    }
}

impl Form {
    /// The section rows: (line, label).
    pub fn sections(&self) -> impl Iterator<Item = (u64, &str)> {
        self.ignored
            .iter()
            .filter(|r| r.kind == Ignored::Section)
            .map(|r| (r.line, r.text.as_str()))
    }
}

/// Reads the table of `kind` from `path`: the sheet `options.sheet`, else the first sheet
/// that has one.
pub fn read_form(path: &Path, options: &FormOptions, kind: &dyn TableKind) -> anyhow::Result<Form> {
    let file = path.display();
    let mut source =
        Source::open(path, options.encoding).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let names = source.sheet_names();
    let sheets: Vec<Option<String>> = match (&options.sheet, names.is_empty()) {
        (_, true) => vec![None],
        (Some(wanted), false) => match names.iter().find(|n| *n == wanted) {
            Some(name) => vec![Some(name.clone())],
            None => anyhow::bail!(
                "{file}: no worksheet \"{wanted}\": the workbook has {}",
                list_sheets(&names)
            ),
        },
        (None, false) => names.iter().cloned().map(Some).collect(),
    };
    for sheet in &sheets {
        let at = match sheet {
            Some(s) => format!("{file}: worksheet \"{s}\""),
            None => file.to_string(),
        };
        let mut grid = source
            .read(sheet.as_deref())
            .map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
        let (font, typed) = convert_legacy(&mut grid, options.legacy_font);
        drop_soft_hyphens(&mut grid);
        if let Some(mut form) = find_table(&grid, &typed, kind) {
            form.sheet = sheet.clone();
            form.encoding = source.encoding();
            form.legacy_font = font;
            return Ok(form);
        }
    }
    let expected = format!(
        "a header row naming {} among its first {HEADER_SEARCH_LINES} lines",
        kind.subject_name()
    );
    match (names.is_empty(), &options.sheet) {
        (true, _) => anyhow::bail!("{file}: no table found: the file needs {expected}"),
        (false, Some(sheet)) => {
            anyhow::bail!("{file}: worksheet \"{sheet}\" has no table: it needs {expected}")
        }
        (false, None) => anyhow::bail!(
            "{file}: no worksheet has a table ({}): one needs {expected}; pick one with --sheet NAME",
            list_sheets(&names)
        ),
    }
}

fn list_sheets(names: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut list: Vec<String> = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("\"{n}\""))
        .collect();
    if names.len() > SHOWN {
        list.push(format!("and {} more", names.len() - SHOWN));
    }
    format!("{} sheet(s): {}", names.len(), list.join(", "))
}

/// Cells converted from an old font: (line, column, as typed).
type Typed = Vec<(u64, usize, String)>;

/// Converts the grid's TCVN3 or VNI text to Unicode, in place; returns the font and the
/// cells as they were typed.
fn convert_legacy(grid: &mut Grid, choice: LegacyChoice) -> (Option<LegacyFont>, Typed) {
    let font = match choice {
        LegacyChoice::None => return (None, Vec::new()),
        LegacyChoice::Tcvn3 => LegacyFont::Tcvn3,
        LegacyChoice::Vni => LegacyFont::Vni,
        LegacyChoice::Auto => {
            let cells = grid
                .rows
                .iter()
                .flat_map(|r| r.cells.iter().map(String::as_str));
            match legacy_font::detect(cells) {
                Some(font) => font,
                None => return (None, Vec::new()),
            }
        }
    };
    let forced = choice != LegacyChoice::Auto;
    let mut typed = Vec::new();
    for row in &mut grid.rows {
        for (column, cell) in row.cells.iter_mut().enumerate() {
            if !legacy_font::is_candidate(cell) {
                continue;
            }
            // Once the sheet reads as this font, a cell whose conversion reads as well as
            // the cell is converted too: "Vò" is a word, but in TCVN3 it is "Vũ".
            let text = legacy_font::convert(cell, font);
            let tie = legacy_font::vietnamese_words(&text) == legacy_font::vietnamese_words(cell);
            let converted = if forced || tie {
                Some(text)
            } else {
                legacy_font::improve(cell, font)
            };
            if let Some(text) = converted.filter(|t| t != cell) {
                typed.push((row.line, column, std::mem::replace(cell, text)));
            }
        }
    }
    let font = (!typed.is_empty()).then_some(font);
    (font, typed)
}

/// Removes the soft hyphens (U+00AD, invisible) left once old-font text, where the same
/// code is the letter ư, has been converted.
fn drop_soft_hyphens(grid: &mut Grid) {
    for cell in grid.rows.iter_mut().flat_map(|r| r.cells.iter_mut()) {
        if cell.contains('\u{AD}') {
            cell.retain(|c| c != '\u{AD}');
        }
    }
}

/// The table of `kind` in `grid`, if its header is among the first lines.
fn find_table(grid: &Grid, typed: &Typed, kind: &dyn TableKind) -> Option<Form> {
    let at = grid
        .rows
        .iter()
        .take_while(|r| r.line <= HEADER_SEARCH_LINES)
        .position(|r| kind.key_columns(&r.cells).is_some())?;
    let header = Header::around(&grid.rows, at, kind)?;
    let mut form = Form {
        headers: header.cells.clone(),
        header_lines: header.lines.clone(),
        ..Form::default()
    };
    for row in &grid.rows[..header.first] {
        form.ignored.push(ignored(row, Ignored::Title));
    }
    let mut reader = RowReader {
        kind,
        keys: header.keys,
        headers: &header.cells,
        section: None,
        signature: false,
    };
    let body = &grid.rows[header.after..];
    for (i, row) in body.iter().enumerate() {
        if i == 0 && is_column_numbers(row) {
            form.ignored.push(ignored(row, Ignored::ColumnNumbers));
            continue;
        }
        match reader.classify(row) {
            Some(why) => form.ignored.push(ignored(row, why)),
            None => form.rows.push(FormRow {
                line: row.line,
                cells: row.cells.clone(),
                errors: row.errors.clone(),
                section: reader.section.clone(),
                as_typed: typed
                    .iter()
                    .filter(|(line, ..)| *line == row.line)
                    .map(|(_, column, text)| (*column, text.clone()))
                    .collect(),
            }),
        }
    }
    Some(form)
}

fn ignored(row: &GridRow, kind: Ignored) -> IgnoredRow {
    let text = match kind {
        Ignored::Section => section_label(row).unwrap_or_default(),
        _ => distinct_texts(row).join(" | "),
    };
    IgnoredRow {
        line: row.line,
        kind,
        text,
    }
}

/// The header row, merged with the row under or over it when the header is written over
/// two rows (a group cell such as "Thông tin cán bộ" over "Họ và tên", "Chức vụ").
struct Header {
    cells: Vec<String>,
    lines: Vec<u64>,
    keys: KeyColumns,
    /// Index of the header's first row (rows before it are the title block).
    first: usize,
    /// Index of the first row after the header.
    after: usize,
}

impl Header {
    fn around(rows: &[GridRow], at: usize, kind: &dyn TableKind) -> Option<Header> {
        let row = &rows[at];
        let keys = kind.key_columns(&row.cells)?;
        let below = rows.get(at + 1).filter(|b| b.line == row.line + 1);
        let above = at
            .checked_sub(1)
            .and_then(|i| rows.get(i))
            .filter(|a| a.line + 1 == row.line);
        // The row below completes the header when it names columns this row leaves
        // unnamed, and holds no subject of its own.
        if let Some(below) = below.filter(|b| {
            adds_headers(row, b, kind)
                && (b.cell(keys.subject).is_empty() || kind.is_header_word(b.cell(keys.subject)))
        }) {
            let cells = combine(row, below, kind);
            let keys = kind.key_columns(&cells)?;
            return Some(Header {
                cells,
                lines: vec![row.line, below.line],
                keys,
                first: at,
                after: at + 2,
            });
        }
        if let Some(above) = above.filter(|a| adds_headers(row, a, kind) || is_group_row(a, kind)) {
            let cells = combine(above, row, kind);
            let keys = kind.key_columns(&cells)?;
            return Some(Header {
                cells,
                lines: vec![above.line, row.line],
                keys,
                first: at - 1,
                after: at + 1,
            });
        }
        Some(Header {
            cells: row.cells.clone(),
            lines: vec![row.line],
            keys,
            first: at,
            after: at + 1,
        })
    }
}

/// Whether `other` names a column that `row` leaves empty or names with a group label.
fn adds_headers(row: &GridRow, other: &GridRow, kind: &dyn TableKind) -> bool {
    other.cells.iter().enumerate().any(|(c, text)| {
        kind.is_header_word(text) && text != row.cell(c) && !kind.is_header_word(row.cell(c))
    })
}

/// A row of group cells over the header ("STT", "Thông tin cán bộ", "Liên hệ"): several
/// texts, one of them a header (a title line is one text, however wide its merged cell).
fn is_group_row(row: &GridRow, kind: &dyn TableKind) -> bool {
    let texts = distinct_texts(row);
    texts.len() >= 2 && texts.iter().any(|t| kind.is_header_word(t))
}

/// One header from two rows: per column the lower row's name, unless it has none, or the
/// upper one is a header of that column alone and the lower one is not.
fn combine(upper: &GridRow, lower: &GridRow, kind: &dyn TableKind) -> Vec<String> {
    let width = upper.cells.len().max(lower.cells.len());
    (0..width)
        .map(|c| {
            let (u, l) = (upper.cell(c), lower.cell(c));
            let spans = |d: Option<usize>| d.is_some_and(|d| !u.is_empty() && upper.cell(d) == u);
            let group = spans(c.checked_sub(1)) || spans(Some(c + 1));
            let take_upper =
                l.is_empty() || (kind.is_header_word(u) && !kind.is_header_word(l) && !group);
            if take_upper { u } else { l }.to_string()
        })
        .collect()
}

/// The row of column numbers many forms put under the header: (1) (2) (3) … or A B C.
fn is_column_numbers(row: &GridRow) -> bool {
    let marks: Vec<&str> = row
        .cells
        .iter()
        .map(String::as_str)
        .filter(|c| !c.is_empty())
        .collect();
    let number = |text: &str| {
        let inner = text.trim_start_matches('(').trim_end_matches(')');
        inner
            .parse::<u32>()
            .ok()
            .or_else(|| match inner.as_bytes() {
                [b] if b.is_ascii_uppercase() => Some(u32::from(*b)),
                _ => None,
            })
    };
    let numbers: Vec<u32> = marks.iter().filter_map(|m| number(m)).collect();
    marks.len() >= 3 && numbers.len() == marks.len() && numbers.windows(2).all(|w| w[0] < w[1])
}

/// Walks the rows after the header, deciding what each is.
struct RowReader<'a> {
    kind: &'a dyn TableKind,
    keys: KeyColumns,
    headers: &'a [String],
    /// The label of the last section row.
    section: Option<String>,
    /// Whether the signature block has begun: nothing after it is a table row.
    signature: bool,
}

impl RowReader<'_> {
    /// `None` for a table row, else why the row is not one.
    fn classify(&mut self, row: &GridRow) -> Option<Ignored> {
        if self.signature {
            return Some(Ignored::Signature);
        }
        let subject = row.cell(self.keys.subject);
        if !subject.is_empty() && subject == self.headers[self.keys.subject] {
            return Some(Ignored::RepeatedHeader);
        }
        let ordinal = self.keys.ordinal.map(|c| row.cell(c));
        if ordinal.is_some_and(is_ordinal) {
            let others = row
                .cells
                .iter()
                .enumerate()
                .any(|(c, text)| Some(c) != self.keys.ordinal && !text.is_empty());
            return (!others && row.errors.is_empty()).then_some(Ignored::NumberedButEmpty);
        }
        if self.starts_signature(row, subject) {
            self.signature = true;
            return Some(Ignored::Signature);
        }
        if distinct_texts(row)
            .first()
            .is_some_and(|t| starts_with_words(t, TOTAL_WORDS))
        {
            return Some(Ignored::Total);
        }
        if let Some(label) = self.section_of(row) {
            self.section = Some(label);
            return Some(Ignored::Section);
        }
        if self.keys.ordinal.is_some() {
            return Some(Ignored::NoOrdinal);
        }
        let subject_error = row.errors.iter().any(|(c, _)| *c == self.keys.subject);
        (subject.is_empty() && !subject_error).then_some(Ignored::NoSubject)
    }

    /// A date line, or a role of the signature block where no table row can be: outside
    /// the numbered rows, or with no subject in the row.
    fn starts_signature(&self, row: &GridRow, subject: &str) -> bool {
        let texts = distinct_texts(row);
        if texts.iter().any(|t| is_date_line(t)) {
            return true;
        }
        if !texts.iter().any(|t| starts_with_words(t, SIGNATURE_WORDS)) {
            return false;
        }
        self.keys.ordinal.is_some()
            || (texts.len() <= 3
                && (subject.is_empty()
                    || starts_with_words(subject, SIGNATURE_WORDS)
                    || !self.kind.is_subject(subject)))
    }

    /// The unit a section row sets: a row with one text (a numbered heading, a unit's
    /// name, or any heading where rows are numbered), or a Roman numeral or letter in the
    /// STT column and one text.
    fn section_of(&self, row: &GridRow) -> Option<String> {
        let label = section_label(row)?;
        let texts = distinct_texts(row);
        let numbered = texts.len() == 2 || texts.first() != Some(&label.as_str());
        let unit = starts_with_unit_word(&label);
        let where_numbered = self.keys.ordinal.is_some() && !self.kind.is_subject(&label);
        (numbered || unit || where_numbered).then_some(label)
    }
}

/// The distinct texts of a row, in column order (a merged cell's value once).
fn distinct_texts(row: &GridRow) -> Vec<&str> {
    let mut texts: Vec<&str> = Vec::new();
    for cell in row.cells.iter().filter(|c| !c.is_empty()) {
        if !texts.contains(&cell.as_str()) {
            texts.push(cell);
        }
    }
    texts
}

/// A section row's label without its numbering ("I. BAN GIÁM ĐỐC" -> "BAN GIÁM ĐỐC"), or
/// the text after a Roman numeral or letter in the STT column.
fn section_label(row: &GridRow) -> Option<String> {
    let texts = distinct_texts(row);
    let text = match texts.as_slice() {
        [mark, text] if is_section_mark(mark) => return Some(text.to_string()),
        [text] => *text,
        _ => return None,
    };
    let (head, rest) = text.split_once(['.', ')']).unwrap_or(("", text));
    let numbering = !head.is_empty()
        && (is_section_mark(head) || head.split('.').all(|p| p.parse::<u32>().is_ok()));
    let label = if numbering { rest.trim() } else { text };
    (!label.is_empty()).then(|| label.to_string())
}

/// A Roman numeral (I … XX) or a single letter, as sections are numbered.
fn is_section_mark(text: &str) -> bool {
    let text = text.trim_end_matches(['.', ')']);
    let roman = !text.is_empty() && text.len() <= 5 && text.chars().all(|c| "IVXivx".contains(c));
    let letter = text.len() == 1 && text.chars().all(|c| c.is_ascii_alphabetic());
    roman || letter
}

/// An ordinal in the STT column: 1, 01, 1., 12).
fn is_ordinal(text: &str) -> bool {
    let digits = text.trim_end_matches(['.', ')']);
    !digits.is_empty() && digits.len() <= 6 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// "Vĩnh Phúc, ngày 15 tháng 3 năm 2026", "ngày … tháng … năm 2026".
fn is_date_line(text: &str) -> bool {
    let words = words_of(text);
    let at = |w: &str| words.iter().position(|x| x == w);
    matches!((at("ngay"), at("thang"), at("nam")), (Some(a), Some(b), Some(c)) if a < b && b < c)
}

/// The first words of signature block lines, without diacritics.
const SIGNATURE_WORDS: &[&str] = &[
    "nguoi lap",
    "lap bieu",
    "nguoi duyet",
    "thu truong",
    "giam doc",
    "pho giam doc",
    "kt",
    "tm",
    "tl",
    "tuq",
    "q giam doc",
    "chu tich",
    "pho chu tich",
    "truong phong",
    "pho truong phong",
    "ke toan truong",
    "chanh van phong",
    "xac nhan",
    "noi nhan",
    "luu vt",
    "ky ghi ro",
    "ky va ghi ro",
    "ky ten",
    "ky dong dau",
    "ghi chu",
    "luu y",
];

/// The first words of a total line.
const TOTAL_WORDS: &[&str] = &["tong cong", "tong so"];

/// Whether `text` begins with one of `phrases`, word for word, without diacritics.
fn starts_with_words(text: &str, phrases: &[&str]) -> bool {
    let words = words_of(text);
    phrases.iter().any(|phrase| {
        let phrase: Vec<&str> = phrase.split(' ').collect();
        words.len() >= phrase.len() && words.iter().zip(&phrase).all(|(w, p)| w == p)
    })
}

/// The words of `text` as lowercase ASCII: "KT. GIÁM ĐỐC" -> ["kt", "giam", "doc"].
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && !('\u{300}'..='\u{36f}').contains(&c))
        .map(ascii_word)
        .filter(|w| !w.is_empty())
        .collect()
}

/// Names of units, with their diacritics (so that the family names Bàn, Tô, Đới and
/// Trương are not mistaken for Ban, Tổ, Đội and Trường).
const UNIT_WORDS: &[&str] = &[
    "ban",
    "phòng",
    "văn phòng",
    "trung tâm",
    "chi cục",
    "cục",
    "tổng cục",
    "lãnh đạo",
    "bộ phận",
    "tổ",
    "đội",
    "khối",
    "cơ quan",
    "đơn vị",
    "thanh tra",
    "hội đồng",
    "trạm",
    "chi nhánh",
    "các",
    "sở",
    "ủy ban",
    "uỷ ban",
    "ubnd",
    "trường",
    "bệnh viện",
    "viện",
    "hạt",
    "xí nghiệp",
    "công ty",
    "nhà",
];

fn starts_with_unit_word(text: &str) -> bool {
    let lower = text.to_lowercase();
    UNIT_WORDS.iter().any(|unit| {
        lower
            .strip_prefix(unit)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    })
}

#[cfg(test)]
mod tests;
