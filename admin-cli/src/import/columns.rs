//! Which column of an HR list holds which field: Vietnamese or English headers, compared
//! without diacritics or case, plus the administrator's `--map column=field` overrides;
//! and what a list of officials looks like to the form reader (its header words, its name
//! and ordinal columns, what a name is).

use congvu::directory::{ascii_word, ImportField, ImportRow, PersonName};

use super::form::{KeyColumns, TableKind};

/// Header spellings for each field, after [`header_key`].
const KNOWN_HEADERS: [(ImportField, &[&str]); 7] = [
    (
        ImportField::FullName,
        &[
            "hovaten",
            "hoten",
            "hovatencanbo",
            "fullname",
            "name",
            "hotencanbo",
        ],
    ),
    (
        ImportField::Title,
        &["chucvu", "chucdanh", "title", "position", "jobtitle"],
    ),
    (
        ImportField::Phone,
        &[
            "sodienthoai",
            "dienthoai",
            "sdt",
            "sodt",
            "dt",
            "phone",
            "mobile",
            "didong",
        ],
    ),
    (
        ImportField::Email,
        &[
            "email",
            "thudientu",
            "diachiemail",
            "mail",
            "diachithudientu",
        ],
    ),
    (
        ImportField::EmployeeId,
        &[
            "macanbo",
            "macb",
            "manhanvien",
            "manv",
            "employeeid",
            "maso",
            "maccvc",
        ],
    ),
    (
        ImportField::Unit,
        &["phongban", "donvi", "phong", "unit", "department", "bophan"],
    ),
    (ImportField::Password, &["matkhau", "password"]),
];

/// Columns people keep in HR lists that the import does not need.
const IGNORED_HEADERS: [&str; 6] = ["stt", "tt", "sothutu", "sott", "no", "ghichu"];

/// Headers of the ordinal column (Số thứ tự), which numbers the officials of a list.
pub const ORDINAL_HEADERS: [&str; 5] = ["stt", "tt", "sothutu", "sott", "no"];

/// A header reduced to lowercase ASCII letters and digits: `Họ và tên` -> `hovaten`.
pub fn header_key(header: &str) -> String {
    header.split_whitespace().map(ascii_word).collect()
}

/// Which column index holds each field.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    columns: Vec<(ImportField, usize)>,
    /// Headers that were neither recognised nor ignored, for the report.
    pub unrecognised: Vec<String>,
}

impl ColumnMap {
    /// Maps `headers`, with `overrides` given as `Column=field`.
    pub fn new(headers: &[String], overrides: &[String]) -> Result<ColumnMap, String> {
        let forced = parse_overrides(overrides)?;
        let mut map = ColumnMap::default();
        for (index, header) in headers.iter().enumerate() {
            let key = header_key(header);
            match field_of(&key, &forced) {
                Some(f) if map.columns.iter().any(|(g, _)| *g == f) => {
                    return Err(format!(
                        "two columns hold the {} field (the second is \"{header}\"): rename one or use --map",
                        f.name()
                    ));
                }
                Some(f) => map.columns.push((f, index)),
                None if key.is_empty() || IGNORED_HEADERS.contains(&key.as_str()) => {}
                None => map.unrecognised.push(header.clone()),
            }
        }
        if map.column(ImportField::FullName).is_none() {
            return Err(format!(
                "no full-name column: the headers are {:?}; name one \"Họ và tên\" or pass --map \"<column>=full_name\"",
                headers
            ));
        }
        Ok(map)
    }

    /// The column that holds `field`.
    pub fn column(&self, field: ImportField) -> Option<usize> {
        self.columns
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, i)| *i)
    }

    /// The fields the file has columns for.
    pub fn fields(&self) -> Vec<ImportField> {
        self.columns.iter().map(|(f, _)| *f).collect()
    }

    /// A table row as an import row: cells trimmed, empty cells as `None`, a formula error
    /// in a column the import reads makes the row unreadable.
    pub fn row(
        &self,
        line: u64,
        cells: &[String],
        errors: &[(usize, String)],
        headers: &[String],
    ) -> ImportRow {
        let cell = |field| {
            self.column(field)
                .and_then(|i| cells.get(i))
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
        };
        let unreadable = errors
            .iter()
            .find(|(column, _)| self.columns.iter().any(|(_, i)| i == column))
            .map(|(column, error)| {
                let header = headers.get(*column).map_or("", String::as_str);
                format!(
                    "the cell in column \"{header}\" shows the Excel error {error}: correct the formula or type the value"
                )
            });
        ImportRow {
            line,
            full_name: cell(ImportField::FullName),
            title: cell(ImportField::Title),
            phone: cell(ImportField::Phone).map(restore_leading_zero),
            email: cell(ImportField::Email),
            employee_id: cell(ImportField::EmployeeId),
            unit: cell(ImportField::Unit),
            password: cell(ImportField::Password),
            unreadable,
        }
    }
}

/// A Vietnamese phone number that Excel stored as a number and so lost its leading zero:
/// nine digits of a mobile (3x, 5x, 7x, 8x, 9x) or ten of a landline (2xx).
fn restore_leading_zero(phone: String) -> String {
    let digits = phone.bytes().all(|b| b.is_ascii_digit());
    let lost_zero = matches!(
        (phone.len(), phone.as_bytes().first()),
        (9, Some(b'3' | b'5' | b'7' | b'8' | b'9')) | (10, Some(b'2'))
    );
    if digits && lost_zero {
        format!("0{phone}")
    } else {
        phone
    }
}

/// The field a header (as its [`header_key`]) names: an override's, else a known header's.
fn field_of(key: &str, forced: &[(String, ImportField)]) -> Option<ImportField> {
    forced
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, f)| *f)
        .or_else(|| {
            KNOWN_HEADERS
                .iter()
                .find(|(_, names)| names.contains(&key))
                .map(|(f, _)| *f)
        })
}

/// `--map` overrides as (header key, field).
fn parse_overrides(overrides: &[String]) -> Result<Vec<(String, ImportField)>, String> {
    let mut forced = Vec::new();
    for o in overrides {
        let (column, field) = o
            .split_once('=')
            .ok_or_else(|| format!("--map {o}: write it as --map \"Column name=field\""))?;
        let field = ImportField::ALL
            .into_iter()
            .find(|f| f.name() == field.trim())
            .ok_or_else(|| {
                format!(
                    "--map {o}: unknown field \"{}\"; fields are {}",
                    field.trim(),
                    field_names()
                )
            })?;
        forced.push((header_key(column), field));
    }
    Ok(forced)
}

/// A list of officials, as the form reader looks for it: the header row is the one that
/// names a full-name column (by the known headers or a `--map … =full_name`).
pub struct OfficialsTable<'a> {
    pub overrides: &'a [String],
}

impl OfficialsTable<'_> {
    fn field_of(&self, text: &str) -> Option<ImportField> {
        let forced = parse_overrides(self.overrides).unwrap_or_default();
        field_of(&header_key(text), &forced)
    }
}

impl TableKind for OfficialsTable<'_> {
    fn is_header_word(&self, text: &str) -> bool {
        let key = header_key(text);
        self.field_of(text).is_some() || IGNORED_HEADERS.contains(&key.as_str())
    }

    fn key_columns(&self, headers: &[String]) -> Option<KeyColumns> {
        let subject = headers
            .iter()
            .position(|h| self.field_of(h) == Some(ImportField::FullName))?;
        let ordinal = headers
            .iter()
            .position(|h| ORDINAL_HEADERS.contains(&header_key(h).as_str()));
        Some(KeyColumns { subject, ordinal })
    }

    fn is_subject(&self, text: &str) -> bool {
        PersonName::from_listed(text).is_ok()
    }

    fn subject_name(&self) -> &'static str {
        "a full-name column (\"Họ và tên\", or pass --map \"<column>=full_name\")"
    }
}

fn field_names() -> String {
    ImportField::ALL
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(headers: &[&str]) -> Vec<String> {
        headers.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn vietnamese_and_english_headers() {
        let t = table(&[
            "STT",
            "Họ và tên",
            "Chức vụ",
            "Số điện thoại",
            "Email",
            "Mã cán bộ",
            "Phòng ban",
            "Quê quán",
        ]);
        let map = ColumnMap::new(&t, &[]).unwrap();
        use ImportField::*;
        assert_eq!(
            map.fields(),
            [FullName, Title, Phone, Email, EmployeeId, Unit]
        );
        assert_eq!(map.unrecognised, ["Quê quán"]);
        let t = table(&[
            "full_name",
            "title",
            "phone",
            "email",
            "employee_id",
            "unit",
        ]);
        assert_eq!(ColumnMap::new(&t, &[]).unwrap().fields().len(), 6);
    }

    #[test]
    fn overrides_and_errors() {
        let t = table(&["Tên cán bộ", "Chức danh kiêm nhiệm"]);
        let err = ColumnMap::new(&t, &[]).unwrap_err();
        assert!(err.contains("no full-name column"), "{err}");
        let map = ColumnMap::new(
            &t,
            &[
                "Tên cán bộ=full_name".into(),
                "Chức danh kiêm nhiệm=title".into(),
            ],
        )
        .unwrap();
        assert_eq!(map.fields(), [ImportField::FullName, ImportField::Title]);
        assert!(ColumnMap::new(&t, &["Tên cán bộ=surname".into()])
            .unwrap_err()
            .contains("unknown field"));
        let twice = table(&["Họ và tên", "Full name"]);
        assert!(ColumnMap::new(&twice, &[])
            .unwrap_err()
            .contains("two columns hold the full_name field"));
    }

    #[test]
    fn cells_are_trimmed_and_blank_is_none() {
        let t = table(&["Họ và tên", "Chức vụ"]);
        let map = ColumnMap::new(&t, &[]).unwrap();
        let row = map.row(3, &["  Nguyễn Văn An ".into(), "   ".into()], &[], &t);
        assert_eq!(
            (row.line, row.full_name.as_deref(), row.title),
            (3, Some("Nguyễn Văn An"), None)
        );
    }

    #[test]
    fn phones_get_back_the_zero_excel_dropped_and_errors_make_a_row_unreadable() {
        let t = table(&["Họ và tên", "Số điện thoại", "Quê quán"]);
        let map = ColumnMap::new(&t, &[]).unwrap();
        let phone = |cell: &str| {
            map.row(2, &["Nguyễn Văn An".into(), cell.into()], &[], &t)
                .phone
                .unwrap()
        };
        assert_eq!(phone("912345678"), "0912345678", "a mobile number");
        assert_eq!(
            phone("2113862001"),
            "02113862001",
            "a landline with its area code"
        );
        assert_eq!(phone("0912345678"), "0912345678");
        assert_eq!(phone("0211 3862 001"), "0211 3862 001");
        assert_eq!(
            phone("12345"),
            "12345",
            "not a Vietnamese number: as written"
        );
        let errors = [(1, "#N/A".to_string())];
        let row = map.row(2, &["Nguyễn Văn An".into()], &errors, &t);
        let why = row.unreadable.unwrap();
        assert!(
            why.contains("\"Số điện thoại\"") && why.contains("#N/A"),
            "{why}"
        );
        let unmapped = [(2, "#REF!".to_string())];
        let row = map.row(2, &["Nguyễn Văn An".into()], &unmapped, &t);
        assert_eq!(
            row.unreadable, None,
            "an error in a column the import does not read"
        );
    }
}
