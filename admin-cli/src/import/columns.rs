//! Which column of an HR list holds which field: Vietnamese or English headers, compared
//! without diacritics or case, plus the administrator's `--map column=field` overrides.

use congvu::directory::{ascii_word, ImportField, ImportRow};

use super::table::Table;

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
const IGNORED_HEADERS: [&str; 5] = ["stt", "tt", "sothutu", "no", "ghichu"];

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
    /// Maps the headers of `table`, with `overrides` given as `Column=field`.
    pub fn new(table: &Table, overrides: &[String]) -> Result<ColumnMap, String> {
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
        let mut map = ColumnMap::default();
        for (index, header) in table.headers.iter().enumerate() {
            let key = header_key(header);
            let field = forced
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, f)| *f)
                .or_else(|| {
                    KNOWN_HEADERS
                        .iter()
                        .find(|(_, names)| names.contains(&key.as_str()))
                        .map(|(f, _)| *f)
                });
            match field {
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
        if map.index(ImportField::FullName).is_none() {
            return Err(format!(
                "no full-name column: the headers are {:?}; name one \"Họ và tên\" or pass --map \"<column>=full_name\"",
                table.headers
            ));
        }
        Ok(map)
    }

    fn index(&self, field: ImportField) -> Option<usize> {
        self.columns
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, i)| *i)
    }

    /// The fields the file has columns for.
    pub fn fields(&self) -> Vec<ImportField> {
        self.columns.iter().map(|(f, _)| *f).collect()
    }

    /// A table row as an import row: cells trimmed, empty cells as `None`.
    pub fn row(&self, line: u64, cells: &[String]) -> ImportRow {
        let cell = |field| {
            self.index(field)
                .and_then(|i| cells.get(i))
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
        };
        ImportRow {
            line,
            full_name: cell(ImportField::FullName),
            title: cell(ImportField::Title),
            phone: cell(ImportField::Phone),
            email: cell(ImportField::Email),
            employee_id: cell(ImportField::EmployeeId),
            unit: cell(ImportField::Unit),
            password: cell(ImportField::Password),
        }
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
    use crate::import::table::TableRow;

    fn table(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: vec![TableRow {
                line: 2,
                cells: vec![],
            }],
        }
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
        let row = map.row(3, &["  Nguyễn Văn An ".into(), "   ".into()]);
        assert_eq!(
            (row.line, row.full_name.as_deref(), row.title),
            (3, Some("Nguyễn Văn An"), None)
        );
    }
}
