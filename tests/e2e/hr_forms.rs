//! HR forms as agencies really send them, through `congvu-admin user import` and `agency
//! import` on SQLite and PostgreSQL: a title block, a two-row merged header, column numbers,
//! section rows that give units, a total line and a signature block around five officials;
//! the same form saved as .xls and .ods by LibreOffice (tests/fixtures/hr-forms), as a
//! Windows-1258 CSV, and typed in the TCVN3 and VNI fonts; Excel's error cells and dates;
//! which sheet is read; and hostile files (a million rows, 200 sheets, a password, a zip
//! bomb, an ODS whose repeats expand) refused with nothing written.
//!
//! The workbooks are built here with rust_xlsxwriter; the few that no writer makes (a
//! million identical rows, a zip bomb, a hostile ODS) are zipped by hand below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use congvu_tests::{Backend, TestDb};
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
use serde_json::{json, Value};

use crate::admin::{json_of, AdminCli, AdminRun};
use crate::import::directory;
use crate::store_suite::on_both_backends;

on_both_backends!(
    a_realistic_form_imports_only_its_officials,
    a_signer_typed_in_one_cell_is_not_an_official,
    rows_that_are_not_officials_are_named_by_kind,
    a_windows_1258_csv_imports_the_same_officials,
    a_tcvn3_sheet_imports_unicode_names,
    a_vni_sheet_imports_unicode_names,
    an_xls_saved_by_libreoffice_imports_the_same_officials,
    an_ods_saved_by_libreoffice_imports_the_same_officials,
    excel_error_cells_reject_their_rows_and_dates_are_harmless,
    the_sheet_is_the_named_one_or_the_first_with_a_table,
    oversized_workbooks_are_refused,
    protected_and_inflating_files_are_refused,
    agency_import_reads_a_form_with_title_and_signature,
);

/// When set to a directory, the realistic form's test also saves its workbook there as
/// `hr-form.xlsx`, the source of the LibreOffice fixtures (tests/fixtures/hr-forms/README.md).
const WRITE_FIXTURES: &str = "CONGVU_WRITE_HR_FIXTURES";

/// The committed fixtures: the realistic form as LibreOffice saves it.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hr-forms")
}

// ---------------------------------------------------------------------------------------
// The forms

/// A cell as Excel keeps it.
#[derive(Debug, Clone)]
enum Cell {
    Text(String),
    Number(f64),
}

/// A worksheet as data, addressed as the spreadsheet shows it (line 1, column 'A'), so that
/// one form can be saved as .xlsx and as the CSV Excel writes from it.
#[derive(Debug, Clone)]
struct Sheet {
    name: String,
    cells: BTreeMap<(u32, char), Cell>,
    /// Merged ranges, top-left to bottom-right; the value is the top-left cell's.
    merges: Vec<((u32, char), (u32, char))>,
}

fn column(letter: char) -> u16 {
    letter as u16 - 'A' as u16
}

impl Sheet {
    fn new(name: &str) -> Sheet {
        Sheet {
            name: name.to_string(),
            cells: BTreeMap::new(),
            merges: Vec::new(),
        }
    }

    fn text(&mut self, line: u32, column: char, text: &str) -> &mut Sheet {
        self.cells
            .insert((line, column), Cell::Text(text.to_string()));
        self
    }

    fn number(&mut self, line: u32, column: char, number: f64) -> &mut Sheet {
        self.cells.insert((line, column), Cell::Number(number));
        self
    }

    /// Texts from column A on; empty ones leave their cell empty.
    fn row(&mut self, line: u32, texts: &[&str]) -> &mut Sheet {
        for (text, letter) in texts.iter().zip('A'..) {
            if !text.is_empty() {
                self.text(line, letter, text);
            }
        }
        self
    }

    fn merged(&mut self, from: (u32, char), to: (u32, char), text: &str) -> &mut Sheet {
        self.merges.push((from, to));
        self.text(from.0, from.1, text)
    }

    /// Empties a line.
    fn clear(&mut self, line: u32) -> &mut Sheet {
        self.cells.retain(|(l, _), _| *l != line);
        self.merges.retain(|(from, _)| from.0 != line);
        self
    }

    fn add_to(&self, book: &mut Workbook) {
        let sheet = book.add_worksheet();
        sheet.set_name(&self.name).unwrap();
        let plain = Format::new();
        for &(from, to) in &self.merges {
            let Some(Cell::Text(text)) = self.cells.get(&from) else {
                panic!("merged range at {from:?} without text");
            };
            let (first, last) = ((from.0 - 1, column(from.1)), (to.0 - 1, column(to.1)));
            sheet
                .merge_range(first.0, first.1, last.0, last.1, text, &plain)
                .unwrap();
        }
        for (&(line, letter), cell) in &self.cells {
            if self.merges.iter().any(|(from, _)| *from == (line, letter)) {
                continue;
            }
            match cell {
                Cell::Text(text) => sheet.write_string(line - 1, column(letter), text),
                Cell::Number(number) => sheet.write_number(line - 1, column(letter), *number),
            }
            .unwrap();
        }
    }

    /// The sheet as Excel's "Save as CSV" writes it on Windows: every line of the used
    /// range, semicolons, CRLF, a merged range's value in its first cell only.
    fn csv(&self, encode: fn(&str) -> Vec<u8>) -> Vec<u8> {
        let last_line = self.cells.keys().map(|k| k.0).max().unwrap_or(1);
        let last_column = self.cells.keys().map(|k| k.1).max().unwrap_or('A');
        let mut bytes = Vec::new();
        for line in 1..=last_line {
            let fields: Vec<String> = ('A'..=last_column)
                .map(|letter| match self.cells.get(&(line, letter)) {
                    None => String::new(),
                    Some(Cell::Text(t)) if t.contains([';', '"']) => {
                        format!("\"{}\"", t.replace('"', "\"\""))
                    }
                    Some(Cell::Text(t)) => t.clone(),
                    Some(Cell::Number(n)) => format!("{n}"),
                })
                .collect();
            bytes.extend(encode(&fields.join(";")));
            bytes.extend(b"\r\n");
        }
        bytes
    }
}

fn book(sheets: &[&Sheet]) -> Workbook {
    let mut book = Workbook::new();
    for sheet in sheets {
        sheet.add_to(&mut book);
    }
    book
}

fn save(book: &mut Workbook, path: &Path) {
    std::fs::write(path, book.save_to_buffer().unwrap()).unwrap();
}

/// The first sheet of the form's workbook: a line of instructions and no table.
fn instructions() -> Sheet {
    let mut sheet = Sheet::new("Hướng dẫn");
    sheet.text(
        1,
        'A',
        "Điền vào trang \"Danh sách\" mỗi cán bộ một dòng, giữ nguyên tiêu đề các cột.",
    );
    sheet
}

/// The list of the Sở Thông tin và Truyền thông as it was sent: five officials under three
/// sections, between the title block and the signature block. Phones and employee ids are
/// numbers, as Excel keeps what is typed as digits.
fn realistic_form() -> Sheet {
    let mut s = Sheet::new("Danh sách");
    s.merged((1, 'A'), (1, 'C'), "UBND TỈNH VĨNH PHÚC")
        .merged((1, 'D'), (1, 'H'), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
        .merged((2, 'A'), (2, 'C'), "SỞ THÔNG TIN VÀ TRUYỀN THÔNG")
        .merged((2, 'D'), (2, 'H'), "Độc lập - Tự do - Hạnh phúc")
        .merged(
            (4, 'A'),
            (4, 'H'),
            "DANH SÁCH CÁN BỘ, CÔNG CHỨC ĐỀ NGHỊ CẤP HỘP THƯ CÔNG VỤ",
        )
        .merged(
            (5, 'A'),
            (5, 'H'),
            "(Kèm theo Công văn số 123/STTTT-VP ngày 10/3/2026)",
        )
        .merged((7, 'A'), (8, 'A'), "STT")
        .merged((7, 'B'), (7, 'D'), "Thông tin cán bộ")
        .merged((7, 'E'), (7, 'F'), "Liên hệ")
        .merged((7, 'G'), (8, 'G'), "Mã cán bộ")
        .merged((7, 'H'), (8, 'H'), "Ghi chú")
        .row(
            8,
            &[
                "",
                "Họ và tên",
                "Chức vụ",
                "Phòng ban",
                "Số điện thoại",
                "Email",
            ],
        )
        .row(9, &["(1)", "(2)", "(3)", "(4)", "(5)", "(6)", "(7)", "(8)"])
        .merged((10, 'A'), (10, 'H'), "I. BAN GIÁM ĐỐC");
    s.number(11, 'A', 1.0)
        .row(11, &["", "Nguyễn Văn An", "Giám đốc"]);
    s.number(11, 'E', 912345678.0).number(11, 'G', 1001.0);
    s.number(12, 'A', 2.0)
        .row(12, &["", "Đỗ Đức Anh", "Phó Giám đốc"]);
    s.number(12, 'E', 983123456.0).number(12, 'G', 1002.0);
    s.row(13, &["II", "VĂN PHÒNG SỞ"]);
    s.number(14, 'A', 3.0).row(
        14,
        &[
            "",
            "Lê  Thị Hồng Nhung\u{a0}",
            "Trưởng phòng",
            "Phòng Kế hoạch",
        ],
    );
    s.number(14, 'E', 2113862001.0).number(14, 'G', 1003.0);
    s.number(15, 'A', 4.0)
        .row(15, &["", "Đặng Thị Thu Hà", "Chánh Văn phòng"]);
    s.number(15, 'G', 1004.0)
        .text(15, 'H', "Kiêm nhiệm kế toán");
    s.text(16, 'B', "2. Phòng Bưu chính, Viễn thông");
    s.number(17, 'A', 5.0)
        .row(17, &["", "Ưng Hoàng Phúc", "Chuyên viên"]);
    s.number(17, 'G', 1005.0);
    s.text(18, 'B', "Tổng cộng: 5 người")
        .text(20, 'E', "Vĩnh Phúc, ngày 15 tháng 3 năm 2026")
        .text(21, 'B', "Người lập biểu")
        .text(21, 'F', "GIÁM ĐỐC")
        .text(22, 'F', "(Ký, ghi rõ họ tên, đóng dấu)")
        .text(25, 'B', "Trần Văn Bình")
        .text(25, 'F', "Nguyễn Văn Cường");
    s
}

/// An official of the realistic form, as the directory must hold them.
struct Listed {
    line: u64,
    login: &'static str,
    name: &'static str,
    unit: &'static str,
    title: &'static str,
    phone: Option<&'static str>,
    employee_id: &'static str,
}

const THE_FIVE: [Listed; 5] = [
    Listed {
        line: 11,
        login: "annv",
        name: "Nguyễn Văn An",
        unit: "BAN GIÁM ĐỐC",
        title: "Giám đốc",
        phone: Some("0912345678"),
        employee_id: "1001",
    },
    Listed {
        line: 12,
        login: "anhdd",
        name: "Đỗ Đức Anh",
        unit: "BAN GIÁM ĐỐC",
        title: "Phó Giám đốc",
        phone: Some("0983123456"),
        employee_id: "1002",
    },
    Listed {
        line: 14,
        login: "nhunglth",
        name: "Lê Thị Hồng Nhung",
        unit: "Phòng Kế hoạch",
        title: "Trưởng phòng",
        phone: Some("02113862001"),
        employee_id: "1003",
    },
    Listed {
        line: 15,
        login: "hadtt",
        name: "Đặng Thị Thu Hà",
        unit: "VĂN PHÒNG SỞ",
        title: "Chánh Văn phòng",
        phone: None,
        employee_id: "1004",
    },
    Listed {
        line: 17,
        login: "phucuh",
        name: "Ưng Hoàng Phúc",
        unit: "Phòng Bưu chính, Viễn thông",
        title: "Chuyên viên",
        phone: None,
        employee_id: "1005",
    },
];

/// The plan's `create` entries for `officials`, none converted from an old font.
fn creates_json<'a>(officials: impl IntoIterator<Item = &'a Listed>) -> Value {
    officials
        .into_iter()
        .map(|o| {
            json!({
                "line": o.line, "name": o.name, "as_typed": null, "login": o.login,
                "address": format!("{}@vinhphuc.gov.vn", o.login), "unit": o.unit,
                "title": o.title, "phone": o.phone, "employee_id": o.employee_id,
            })
        })
        .collect()
}

/// The officials of `stttt` in the directory are exactly the five of the realistic form.
async fn assert_the_five(db: &TestDb, what: &str) {
    let mut found: Vec<_> = directory(db)
        .await
        .officials_in_agency("stttt")
        .await
        .unwrap()
        .into_iter()
        .map(|o| {
            let fields = [o.unit, o.title, o.phone, o.hr_id];
            (o.login, o.name.full(), o.primary_address, fields)
        })
        .collect();
    found.sort();
    let mut expected: Vec<_> = THE_FIVE
        .iter()
        .map(|o| {
            let fields = [Some(o.unit), Some(o.title), o.phone, Some(o.employee_id)];
            (
                o.login.to_string(),
                o.name.to_string(),
                format!("{}@vinhphuc.gov.vn", o.login),
                fields.map(|f| f.map(str::to_string)),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(found, expected, "{what}");
}

/// (line, kind) of every row the plan says is not an official, in file order.
fn kinds(plan: &Value) -> Vec<(u64, String)> {
    plan["ignored"]
        .as_array()
        .unwrap_or_else(|| panic!("no ignored rows in {plan:#}"))
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (line, `field`) of every official the plan creates.
fn created(plan: &Value, field: &str) -> Vec<(u64, String)> {
    plan["create"]
        .as_array()
        .unwrap_or_else(|| panic!("no creates in {plan:#}"))
        .iter()
        .map(|c| {
            (
                c["line"].as_u64().unwrap(),
                c[field].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn owned(pairs: &[(u64, &str)]) -> Vec<(u64, String)> {
    pairs.iter().map(|(l, k)| (*l, k.to_string())).collect()
}

/// The plan of the realistic form, however it was saved: the five officials with their
/// sections' units, and every other row named by kind.
fn assert_the_form_plan(plan: &Value, what: &str) {
    assert_eq!(plan["header_lines"], json!([7, 8]), "{what}");
    assert_eq!(plan["create"], creates_json(&THE_FIVE), "{what}");
    assert_eq!(plan["rejected"], json!([]), "{what}");
    assert_eq!(plan["ignored_columns"], json!([]), "{what}");
    let sections = json!([
        {"line": 10, "unit": "BAN GIÁM ĐỐC"},
        {"line": 13, "unit": "VĂN PHÒNG SỞ"},
        {"line": 16, "unit": "Phòng Bưu chính, Viễn thông"},
    ]);
    assert_eq!(plan["sections"], sections, "{what}");
    let expected = owned(&[
        (1, "title"),
        (2, "title"),
        (4, "title"),
        (5, "title"),
        (9, "column-numbers"),
        (10, "section"),
        (13, "section"),
        (16, "section"),
        (18, "total"),
        (20, "signature"),
        (21, "signature"),
        (22, "signature"),
        (25, "signature"),
    ]);
    assert_eq!(kinds(plan), expected, "{what}");
    for row in plan["ignored"].as_array().unwrap() {
        let keys: BTreeSet<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["kind", "line", "reason", "text"]),
            "{what}: {row}"
        );
    }
    let texts: Vec<&str> = plan["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "section")
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "BAN GIÁM ĐỐC",
            "VĂN PHÒNG SỞ",
            "Phòng Bưu chính, Viễn thông"
        ],
        "{what}"
    );
}

// ---------------------------------------------------------------------------------------
// Running the CLI

async fn setup(backend: Backend) -> Option<(TestDb, AdminCli)> {
    let db = TestDb::new(backend).await?;
    let cli = AdminCli::new(&db).with_province();
    Some((db, cli))
}

/// Runs `congvu-admin user import --agency stttt FILE ARGS…`.
fn import(cli: &AdminCli, file: &Path, args: &[&str]) -> AdminRun {
    let mut all = vec![
        "user",
        "import",
        "--agency",
        "stttt",
        file.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    cli.run(&all)
}

/// The `--dry-run --json` plan of importing `file`.
fn dry_run(cli: &AdminCli, file: &Path, args: &[&str]) -> Value {
    json_of(&import(cli, file, &[&["--dry-run", "--json"][..], args].concat()).ok())
}

/// Imports `file` for real, with a credentials file.
fn apply(cli: &AdminCli, file: &Path) -> AdminRun {
    let name = file.file_stem().unwrap().to_str().unwrap();
    let creds = cli.dir.join(format!("{name}-credentials.csv"));
    import(cli, file, &["--credentials-out", creds.to_str().unwrap()]).ok()
}

/// A real import of `file` fails naming the file and `phrase`, and writes nothing.
async fn refused(cli: &AdminCli, db: &TestDb, file: &Path, phrase: &str) -> AdminRun {
    let creds = cli.dir.join("refused-credentials.csv");
    let out = import(cli, file, &["--credentials-out", creds.to_str().unwrap()]);
    let name = file.file_name().unwrap().to_str().unwrap();
    assert_eq!(out.code, Some(1), "{name}: {}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(name) && out.stderr.contains(phrase),
        "{name}: expected \"{phrase}\" in:\n{}",
        out.stderr
    );
    assert!(!creds.exists(), "{name}: credentials written");
    let officials = directory(db)
        .await
        .officials_in_agency("stttt")
        .await
        .unwrap();
    assert!(officials.is_empty(), "{name}: officials written");
    out
}

fn user_show(cli: &AdminCli, login: &str) -> Value {
    json_of(&cli.run(&["--json", "user", "show", login]).ok())
}

// ---------------------------------------------------------------------------------------
// The tests

async fn a_realistic_form_imports_only_its_officials(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let path = cli.dir.join("hr-form.xlsx");
    let bytes = book(&[&instructions(), &realistic_form()])
        .save_to_buffer()
        .unwrap();
    std::fs::write(&path, &bytes).unwrap();
    if let (Backend::Sqlite, Some(dir)) = (backend, std::env::var_os(WRITE_FIXTURES)) {
        std::fs::write(Path::new(&dir).join("hr-form.xlsx"), &bytes).unwrap();
    }

    let plan = dry_run(&cli, &path, &[]);
    assert_plan_keys(&plan);
    assert_eq!(plan["file"], path.to_str().unwrap());
    assert_eq!(plan["sheet"], "Danh sách", "the first sheet with a table");
    let read = [&plan["encoding"], &plan["legacy_font"]];
    assert_eq!(read, [&Value::Null, &Value::Null]);
    let target = [&plan["agency"], &plan["dry_run"]];
    assert_eq!(target, [&json!("stttt"), &json!(true)]);
    let nothing_else = [&plan["update"], &plan["unchanged"], &plan["missing"]];
    assert_eq!(nothing_else, [&json!([]), &json!(0), &json!([])]);
    assert_the_form_plan(&plan, "xlsx");
    assert_text_plan_lists_the_signers(&cli, &path, &plan);
    let officials = directory(&db).await.officials_in_agency("stttt").await;
    assert!(officials.unwrap().is_empty(), "a dry run wrote officials");

    apply(&cli, &path);
    assert_the_five(&db, "xlsx").await;
    for (login, unit, phone, employee_id) in [
        ("nhunglth", "Phòng Kế hoạch", "02113862001", "1003"),
        ("annv", "BAN GIÁM ĐỐC", "0912345678", "1001"),
    ] {
        let shown = user_show(&cli, login);
        let fields = [&shown["unit"], &shown["phone"], &shown["employee_id"]];
        assert_eq!(
            fields,
            [unit, phone, employee_id].map(Value::from).each_ref()
        );
    }
}

/// The keys of a `--dry-run --json` plan, no more, no fewer.
fn assert_plan_keys(plan: &Value) {
    let keys: BTreeSet<&str> = plan
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected = BTreeSet::from([
        "file",
        "sheet",
        "encoding",
        "legacy_font",
        "header_lines",
        "agency",
        "dry_run",
        "create",
        "update",
        "unchanged",
        "rejected",
        "missing",
        "ignored",
        "sections",
        "ignored_columns",
    ]);
    assert_eq!(keys, expected);
}

/// The text plan of the realistic form lists the rows that are not officials under their
/// own heading, the signers' names on line 25 with the reason the JSON plan gives.
fn assert_text_plan_lists_the_signers(cli: &AdminCli, path: &Path, plan: &Value) {
    let text = import(cli, path, &["--dry-run"]).ok().stdout;
    let (_, rows) = text
        .split_once("Rows that are not officials:")
        .unwrap_or_else(|| panic!("no ignored rows in:\n{text}"));
    let mut lines = rows.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap();
    assert!(header.starts_with("LINE") && header.contains("WHY") && header.contains("TEXT"));
    let signers = lines
        .find(|l| l.starts_with("25 "))
        .expect("line 25 listed");
    let ignored = plan["ignored"].as_array().unwrap();
    let why = ignored.iter().find(|r| r["line"] == 25).unwrap()["reason"]
        .as_str()
        .unwrap();
    assert!(
        signers.contains(why) && signers.contains("Trần Văn Bình"),
        "{signers}"
    );
}

async fn a_signer_typed_in_one_cell_is_not_an_official(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    // A list without an STT column, whose signer's line sits in the name column.
    let csv = cli.dir.join("no-stt.csv");
    let text = "Họ và tên;Chức vụ;Phòng ban\r\n\
Nguyễn Văn An;Giám đốc;Ban Giám đốc\r\n\
Lê Thị Hồng Nhung;Phó Giám đốc;Ban Giám đốc\r\n\
;;\r\n\
Người lập biểu: Trần Văn Bình;GIÁM ĐỐC;\r\n\
;Nguyễn Văn Cường;\r\n";
    std::fs::write(&csv, text).unwrap();
    let plan = dry_run(&cli, &csv, &[]);
    assert_eq!(
        created(&plan, "login"),
        owned(&[(2, "annv"), (3, "nhunglth")])
    );
    assert_eq!(plan["rejected"], json!([]));
    assert_eq!(kinds(&plan), owned(&[(5, "signature"), (6, "signature")]));

    // The realistic form without its date line, the compiler named in the same cell.
    let mut form = realistic_form();
    form.clear(20).clear(21).clear(25);
    form.text(21, 'B', "Người lập biểu: Trần Văn Bình")
        .text(21, 'F', "GIÁM ĐỐC")
        .text(25, 'F', "Nguyễn Văn Cường");
    let path = cli.dir.join("hr-form.xlsx");
    save(&mut book(&[&form]), &path);
    let plan = dry_run(&cli, &path, &[]);
    assert_eq!(plan["create"], creates_json(&THE_FIVE));
    assert_eq!(plan["rejected"], json!([]));
    let tail = owned(&[
        (18, "total"),
        (21, "signature"),
        (22, "signature"),
        (25, "signature"),
    ]);
    assert!(kinds(&plan).ends_with(&tail), "{:?}", kinds(&plan));
    apply(&cli, &path);
    assert_the_five(&db, "signer in one cell").await;
}

async fn rows_that_are_not_officials_are_named_by_kind(backend: Backend) {
    let Some((_db, cli)) = setup(backend).await else {
        return;
    };
    let header = ["STT", "Họ và tên", "Chức vụ", "Ghi chú"];
    let mut sheet = Sheet::new("Danh sách");
    sheet.row(1, &header);
    sheet
        .number(2, 'A', 1.0)
        .row(2, &["", "Nguyễn Văn An", "Giám đốc"]);
    // Listed without a number, with a note: not on the list of accounts to create.
    sheet.row(3, &["", "Nguyễn Thị Mai", "", "đã nghỉ hưu"]);
    sheet.number(4, 'A', 2.0);
    // The header again, as after a page break.
    sheet.row(5, &header);
    sheet
        .number(6, 'A', 3.0)
        .row(6, &["", "Lê Thị Hồng Nhung", "Chuyên viên"]);
    let path = cli.dir.join("kinds.xlsx");
    save(&mut book(&[&sheet]), &path);
    let plan = dry_run(&cli, &path, &[]);
    let expected = owned(&[(2, "Nguyễn Văn An"), (6, "Lê Thị Hồng Nhung")]);
    assert_eq!(created(&plan, "name"), expected);
    let expected = owned(&[
        (3, "no-ordinal"),
        (4, "numbered-but-empty"),
        (5, "repeated-header"),
    ]);
    assert_eq!(kinds(&plan), expected);
    let note = plan["ignored"][0]["text"].as_str().unwrap();
    assert!(note.contains("Nguyễn Thị Mai"), "{note}");

    // Without an STT column, a row with no name is said to be one.
    let csv = cli.dir.join("no-name.csv");
    let text =
        "Họ và tên;Chức vụ;Số điện thoại\r\nNguyễn Văn An;Giám đốc;\r\n;Chuyên viên;0912000111\r\n";
    std::fs::write(&csv, text).unwrap();
    let plan = dry_run(&cli, &csv, &[]);
    assert_eq!(created(&plan, "name"), owned(&[(2, "Nguyễn Văn An")]));
    assert_eq!(kinds(&plan), owned(&[(3, "no-name")]));
}

async fn a_windows_1258_csv_imports_the_same_officials(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let path = cli.dir.join("hr-form.csv");
    std::fs::write(&path, realistic_form().csv(windows_1258)).unwrap();
    let plan = dry_run(&cli, &path, &[]);
    assert_eq!(plan["file"], path.to_str().unwrap());
    assert_eq!(plan["sheet"], Value::Null);
    assert_eq!(plan["encoding"], "windows-1258");
    assert_eq!(plan["legacy_font"], Value::Null);
    assert_the_form_plan(&plan, "csv");
    apply(&cli, &path);
    assert_the_five(&db, "csv").await;

    // Forced to UTF-8, the file is refused at its first line that is not.
    let forced = import(&cli, &path, &["--dry-run", "--encoding", "utf-8"]);
    assert_eq!(forced.code, Some(1), "{}", forced.stdout);
    assert!(
        forced
            .stderr
            .contains("hr-form.csv: line 1: the file is not UTF-8"),
        "{}",
        forced.stderr
    );
    let later = cli.dir.join("later.csv");
    let mut bytes = b"STT;Ho va ten\r\n1;Nguyen Van An\r\n2;".to_vec();
    bytes.extend(windows_1258("Lê Thị Hồng Nhung"));
    bytes.extend(b"\r\n");
    std::fs::write(&later, bytes).unwrap();
    let forced = import(&cli, &later, &["--dry-run", "--encoding", "utf-8"]);
    assert_eq!(forced.code, Some(1), "{}", forced.stdout);
    assert!(
        forced
            .stderr
            .contains("later.csv: line 3: the file is not UTF-8"),
        "{}",
        forced.stderr
    );
}

/// Staff typed in an old font: (name, title, unit, login).
const LEGACY_STAFF: [(&str, &str, &str, &str); 4] = [
    ("Nguyễn Văn An", "Giám đốc", "Ban Giám đốc", "annv"),
    (
        "Lê Thị Hồng Nhung",
        "Phó Giám đốc",
        "Ban Giám đốc",
        "nhunglth",
    ),
    ("Dương Văn Đức", "Chuyên viên", "Văn phòng Sở", "ducdv"),
    ("Đỗ Đức Anh", "Trưởng phòng", "Phòng Kế hoạch", "anhdd"),
];

/// A list typed with an old font's keyboard: the title and every name, title and unit in
/// it, and the header too when `header_too` (else the header came with a Unicode template).
fn legacy_sheet(encode: fn(&str) -> String, header_too: bool) -> Sheet {
    let header = |text: &str| {
        if header_too {
            encode(text)
        } else {
            text.to_string()
        }
    };
    let mut sheet = Sheet::new("Danh sách");
    sheet.text(1, 'A', &encode("Danh sách cán bộ, công chức"));
    sheet.row(
        3,
        &[
            "STT",
            &header("Họ và tên"),
            &header("Chức vụ"),
            &header("Phòng ban"),
        ],
    );
    for (line, (name, title, unit, _)) in (4..).zip(LEGACY_STAFF) {
        sheet.number(line, 'A', f64::from(line - 3));
        sheet.row(line, &["", &encode(name), &encode(title), &encode(unit)]);
    }
    sheet
}

/// A list in `font` (as `encode` types it) imports Unicode names, and shows what was typed.
async fn a_legacy_font_sheet_imports_unicode_names(
    backend: Backend,
    encode: fn(&str) -> String,
    font: &str,
) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    // Taken as typed, the names stay as they were typed.
    let mixed = cli.dir.join("names-only.xlsx");
    save(&mut book(&[&legacy_sheet(encode, false)]), &mixed);
    let raw = import(&cli, &mixed, &["--dry-run", "--legacy-font", "none"]).ok();
    let typed = encode("Lê Thị Hồng Nhung");
    assert!(
        raw.stdout.contains(&typed) && !raw.stdout.contains("Lê Thị Hồng Nhung"),
        "{font}:\n{}",
        raw.stdout
    );
    let raw = dry_run(&cli, &mixed, &["--legacy-font", "none"]);
    assert_eq!(raw["legacy_font"], Value::Null, "{font}");
    for create in raw["create"].as_array().unwrap() {
        assert_eq!(create["as_typed"], Value::Null, "{font}: {create}");
    }

    let path = cli.dir.join("legacy.xlsx");
    save(&mut book(&[&legacy_sheet(encode, true)]), &path);
    let plan = dry_run(&cli, &path, &[]);
    assert_eq!(plan["legacy_font"], font);
    assert_eq!(plan["header_lines"], json!([3]), "{font}");
    let expected: Value = (4..)
        .zip(LEGACY_STAFF)
        .map(|(line, (name, title, unit, login))| {
            json!({
                "line": line, "name": name, "as_typed": encode(name), "login": login,
                "address": format!("{login}@vinhphuc.gov.vn"), "unit": unit, "title": title,
                "phone": null, "employee_id": null,
            })
        })
        .collect();
    assert_eq!(plan["create"], expected, "{font}");
    assert_eq!(plan["rejected"], json!([]), "{font}");

    apply(&cli, &path);
    let mut found: Vec<_> = directory(&db)
        .await
        .officials_in_agency("stttt")
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.login, o.name.full(), o.title, o.unit))
        .collect();
    found.sort();
    let mut expected: Vec<_> = LEGACY_STAFF
        .iter()
        .map(|(name, title, unit, login)| {
            let (title, unit) = (Some(title.to_string()), Some(unit.to_string()));
            (login.to_string(), name.to_string(), title, unit)
        })
        .collect();
    expected.sort();
    assert_eq!(found, expected, "{font}");
}

async fn a_tcvn3_sheet_imports_unicode_names(backend: Backend) {
    a_legacy_font_sheet_imports_unicode_names(backend, tcvn3, "TCVN3").await;
}

async fn a_vni_sheet_imports_unicode_names(backend: Backend) {
    a_legacy_font_sheet_imports_unicode_names(backend, vni, "VNI").await;
}

/// The realistic form as LibreOffice saved it (`fixture`) reads like the .xlsx it was
/// saved from.
async fn a_libreoffice_fixture_imports_the_same_officials(backend: Backend, fixture: &str) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let path = cli.dir.join(fixture);
    std::fs::copy(fixtures().join(fixture), &path).unwrap();
    let plan = dry_run(&cli, &path, &[]);
    assert_eq!(plan["sheet"], "Danh sách", "{fixture}");
    assert_eq!(plan["encoding"], Value::Null, "{fixture}");
    assert_the_form_plan(&plan, fixture);
    apply(&cli, &path);
    assert_the_five(&db, fixture).await;
}

async fn an_xls_saved_by_libreoffice_imports_the_same_officials(backend: Backend) {
    a_libreoffice_fixture_imports_the_same_officials(backend, "hr-form.xls").await;
}

async fn an_ods_saved_by_libreoffice_imports_the_same_officials(backend: Backend) {
    a_libreoffice_fixture_imports_the_same_officials(backend, "hr-form.ods").await;
}

async fn excel_error_cells_reject_their_rows_and_dates_are_harmless(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let mut form = realistic_form();
    form.merged((7, 'I'), (8, 'I'), "Ngày sinh")
        .text(9, 'I', "(9)");
    let mut workbook = book(&[&form]);
    let sheet = workbook.worksheet_from_name("Danh sách").unwrap();
    // Names and phones looked up from another list, where two were not found.
    let lookup = |formula: &str| Formula::new(formula).set_result("#N/A");
    sheet
        .write_formula(11, 1, lookup("=VLOOKUP(G12,$K$2:$M$200,2,FALSE)"))
        .unwrap();
    sheet
        .write_formula(13, 4, lookup("=VLOOKUP(G14,$K$2:$M$200,3,FALSE)"))
        .unwrap();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    for (row, (year, month, day)) in [
        (10, (1975, 4, 30)),
        (14, (1988, 12, 1)),
        (16, (1999, 2, 28)),
    ] {
        let born = ExcelDateTime::from_ymd(year, month, day).unwrap();
        sheet
            .write_datetime_with_format(row, 8, &born, &date)
            .unwrap();
    }
    let path = cli.dir.join("hr-form.xlsx");
    save(&mut workbook, &path);

    let plan = dry_run(&cli, &path, &[]);
    let rejected = plan["rejected"].as_array().unwrap();
    let lines: Vec<&Value> = rejected.iter().map(|r| &r["line"]).collect();
    assert_eq!(lines, [&json!(12), &json!(14)], "{plan:#}");
    for r in rejected {
        assert!(r["reason"].as_str().unwrap().contains("#N/A"), "{r}");
    }
    let others = creates_json([&THE_FIVE[0], &THE_FIVE[3], &THE_FIVE[4]]);
    assert_eq!(plan["create"], others, "the dates change nothing");
    assert_eq!(plan["ignored_columns"], json!(["Ngày sinh"]));

    let out = import(
        &cli,
        &path,
        &["--credentials-out", cli.dir.join("c.csv").to_str().unwrap()],
    );
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let listed = format!("{}{}", out.stdout, out.stderr);
    for line in [12, 14] {
        let at = format!("hr-form.xlsx:{line}: rejected: ");
        let reason = listed.lines().find(|l| l.contains(&at));
        assert!(reason.is_some_and(|r| r.contains("#N/A")), "{listed}");
    }
    assert!(
        out.stderr
            .contains("2 row(s) rejected, nothing was imported"),
        "{}",
        out.stderr
    );
    let officials = directory(&db)
        .await
        .officials_in_agency("stttt")
        .await
        .unwrap();
    assert!(officials.is_empty(), "a rejected import wrote officials");
}

async fn the_sheet_is_the_named_one_or_the_first_with_a_table(backend: Backend) {
    let Some((_db, cli)) = setup(backend).await else {
        return;
    };
    let mut extra = Sheet::new("Bổ sung");
    extra
        .row(1, &["Họ và tên", "Chức vụ"])
        .row(2, &["Trần Thị Bình", "Chuyên viên"]);
    let path = cli.dir.join("three-sheets.xlsx");
    save(
        &mut book(&[&instructions(), &realistic_form(), &extra]),
        &path,
    );

    let plan = dry_run(&cli, &path, &[]);
    assert_eq!(plan["sheet"], "Danh sách");
    assert_eq!(plan["create"].as_array().unwrap().len(), 5);
    let picked = dry_run(&cli, &path, &["--sheet", "Bổ sung"]);
    assert_eq!(picked["sheet"], "Bổ sung");
    assert_eq!(created(&picked, "name"), owned(&[(2, "Trần Thị Bình")]));

    let all = "3 sheet(s): \"Hướng dẫn\", \"Danh sách\", \"Bổ sung\"";
    let missing = import(&cli, &path, &["--dry-run", "--sheet", "Missing"]);
    assert_eq!(missing.code, Some(1), "{}", missing.stdout);
    for part in ["three-sheets.xlsx", "\"Missing\"", all] {
        assert!(missing.stderr.contains(part), "{part}: {}", missing.stderr);
    }
    let empty = import(&cli, &path, &["--dry-run", "--sheet", "Hướng dẫn"]);
    assert_eq!(empty.code, Some(1), "{}", empty.stdout);
    assert!(
        empty.stderr.contains("\"Hướng dẫn\" has no table"),
        "{}",
        empty.stderr
    );

    let mut notes = Sheet::new("Ghi chú");
    notes.text(1, 'A', "Danh sách sẽ gửi sau.");
    let none = cli.dir.join("no-table.xlsx");
    save(&mut book(&[&instructions(), &notes]), &none);
    let out = import(&cli, &none, &["--dry-run"]);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    for part in ["no-table.xlsx", "2 sheet(s): \"Hướng dẫn\", \"Ghi chú\""] {
        assert!(out.stderr.contains(part), "{part}: {}", out.stderr);
    }
}

async fn oversized_workbooks_are_refused(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let huge = cli.dir.join("hr-million.xlsx");
    million_row_workbook(&huge);
    refused(&cli, &db, &huge, "more than 100000 rows").await;

    let many = cli.dir.join("hr-200-sheets.xlsx");
    let mut workbook = Workbook::new();
    for n in 1..=200 {
        let sheet = workbook.add_worksheet();
        sheet
            .write_string(0, 0, format!("Trang {n}: xem hướng dẫn"))
            .unwrap();
    }
    save(&mut workbook, &many);
    let out = refused(&cli, &db, &many, "200 sheet(s)").await;
    assert!(out.stderr.contains("and 180 more"), "{}", out.stderr);
}

async fn protected_and_inflating_files_are_refused(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let protected = cli.dir.join("hr-form-password.xlsx");
    std::fs::copy(fixtures().join("hr-form-password.xlsx"), &protected).unwrap();
    refused(&cli, &db, &protected, "protected with a password").await;

    let bomb = cli.dir.join("hr-bomb.xlsx");
    zip_bomb(&bomb);
    refused(&cli, &db, &bomb, "inflates to").await;

    let repeats = cli.dir.join("hr-repeats.ods");
    repeating_ods(&repeats);
    refused(&cli, &db, &repeats, "expands to more than").await;
}

async fn agency_import_reads_a_form_with_title_and_signature(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let mut s = Sheet::new("Đơn vị");
    s.merged((1, 'A'), (1, 'C'), "UBND TỈNH VĨNH PHÚC")
        .merged(
            (2, 'A'),
            (2, 'E'),
            "DANH SÁCH CƠ QUAN, ĐƠN VỊ SỬ DỤNG HỘP THƯ CÔNG VỤ",
        )
        .row(4, &["STT", "Mã", "Tên đơn vị", "Cấp", "Cấp trên"])
        .row(
            5,
            &["", "sgddt", "Sở Giáo dục và Đào tạo", "Sở", "vinhphuc"],
        )
        .row(
            6,
            &["", "vinhyen", "Thành phố Vĩnh Yên", "Thành phố", "vinhphuc"],
        )
        .row(7, &["", "dongda", "Phường Đống Đa", "Phường", "vinhyen"])
        .text(8, 'B', "Tổng số: 3 đơn vị")
        .text(10, 'D', "Vĩnh Phúc, ngày 15 tháng 3 năm 2026")
        .row(11, &["", "Người lập biểu", "", "KT. CHỦ TỊCH"])
        .text(12, 'D', "PHÓ CHỦ TỊCH")
        .row(15, &["", "Trần Văn Bình", "", "Nguyễn Văn Cường"]);
    for line in 5..=7 {
        s.number(line, 'A', f64::from(line - 4));
    }
    let path = cli.dir.join("don-vi.xlsx");
    save(&mut book(&[&s]), &path);
    let file = path.to_str().unwrap();

    let dry = cli.run(&["agency", "import", file, "--dry-run"]).ok();
    assert!(
        dry.stdout.contains("would add 3 agencies"),
        "{}",
        dry.stdout
    );
    let out = cli.run(&["agency", "import", file]).ok();
    assert!(
        out.stdout.contains("added 3 agencies, 0 already present"),
        "{}",
        out.stdout
    );
    let signers = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{file}:15: not an agency")));
    assert!(
        signers.is_some_and(|l| l.contains("Trần Văn Bình")),
        "{}",
        out.stdout
    );
    let directory = directory(&db).await;
    let mut codes: Vec<String> = directory
        .agency_subtree("vinhphuc")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.code)
        .collect();
    codes.sort();
    assert_eq!(codes, ["dongda", "sgddt", "stttt", "vinhphuc", "vinhyen"]);
    let under: Vec<String> = directory
        .agency_subtree("vinhyen")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.code)
        .collect();
    assert_eq!(under, ["vinhyen", "dongda"]);
}

// ---------------------------------------------------------------------------------------
// Vietnamese as the old code pages and fonts write it

/// The twelve vowels of Vietnamese, each with its tones: none, grave (huyền), hook (hỏi),
/// tilde (ngã), acute (sắc), dot below (nặng).
const VOWELS: [&str; 12] = [
    "aàảãáạ",
    "ăằẳẵắặ",
    "âầẩẫấậ",
    "eèẻẽéẹ",
    "êềểễếệ",
    "iìỉĩíị",
    "oòỏõóọ",
    "ôồổỗốộ",
    "ơờởỡớợ",
    "uùủũúụ",
    "ưừửữứự",
    "yỳỷỹýỵ",
];

/// (vowel, tone) of a Vietnamese vowel letter, and whether it is a capital.
fn vowel_of(letter: char) -> Option<(usize, usize, bool)> {
    let lower = letter.to_lowercase().next()?;
    VOWELS.iter().enumerate().find_map(|(vowel, tones)| {
        let tone = tones.chars().position(|t| t == lower)?;
        Some((vowel, tone, lower != letter))
    })
}

/// TCVN3 (the ABC keyboard, .VnTime fonts) codes of the vowels, by tone as in [`VOWELS`].
const TCVN3_VOWELS: [[u8; 6]; 12] = [
    [b'a', 0xB5, 0xB6, 0xB7, 0xB8, 0xB9],
    [0xA8, 0xBB, 0xBC, 0xBD, 0xBE, 0xC6],
    [0xA9, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB],
    [b'e', 0xCC, 0xCE, 0xCF, 0xD0, 0xD1],
    [0xAA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6],
    [b'i', 0xD7, 0xD8, 0xDC, 0xDD, 0xDE],
    [b'o', 0xDF, 0xE1, 0xE2, 0xE3, 0xE4],
    [0xAB, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9],
    [0xAC, 0xEA, 0xEB, 0xEC, 0xED, 0xEE],
    [b'u', 0xEF, 0xF1, 0xF2, 0xF3, 0xF4],
    [0xAD, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9],
    [b'y', 0xFA, 0xFB, 0xFC, 0xFD, 0xFE],
];

/// `text` as typed in TCVN3: each code kept in the cell as the Latin-1 character of the same
/// value, as Excel stores it. The untoned capitals Ă Â Ê Ô Ơ Ư Đ have codes of their own;
/// a toned capital is its small letter's code (the ".VnTimeH" fonts draw it as a capital).
fn tcvn3(text: &str) -> String {
    let code = |c: char| -> u8 {
        let capitals = [
            ('Ă', 0xA1),
            ('Â', 0xA2),
            ('Ê', 0xA3),
            ('Ô', 0xA4),
            ('Ơ', 0xA5),
        ];
        let others = [('Ư', 0xA6), ('Đ', 0xA7), ('đ', 0xAE)];
        if let Some((_, code)) = capitals.iter().chain(&others).find(|(l, _)| *l == c) {
            return *code;
        }
        match vowel_of(c) {
            Some((vowel, tone, capital)) => {
                let code = TCVN3_VOWELS[vowel][tone];
                if capital {
                    code.to_ascii_uppercase()
                } else {
                    code
                }
            }
            None if c.is_ascii() => c as u8,
            None => panic!("{c} has no TCVN3 code"),
        }
    };
    text.chars().map(|c| char::from(code(c))).collect()
}

/// VNI-Windows spellings of the vowels, by tone as in [`VOWELS`]: the base letter, then one
/// character for the vowel's mark and tone together (i and the ỵ have codes of their own).
const VNI_VOWELS: [[&str; 6]; 12] = [
    ["a", "aø", "aû", "aõ", "aù", "aï"],
    ["aê", "aè", "aú", "aü", "aé", "aë"],
    ["aâ", "aà", "aå", "aã", "aá", "aä"],
    ["e", "eø", "eû", "eõ", "eù", "eï"],
    ["eâ", "eà", "eå", "eã", "eá", "eä"],
    ["i", "ì", "æ", "ó", "í", "ò"],
    ["o", "oø", "oû", "oõ", "où", "oï"],
    ["oâ", "oà", "oå", "oã", "oá", "oä"],
    ["ô", "ôø", "ôû", "ôõ", "ôù", "ôï"],
    ["u", "uø", "uû", "uõ", "uù", "uï"],
    ["ö", "öø", "öû", "öõ", "öù", "öï"],
    ["y", "yø", "yû", "yõ", "yù", "î"],
];

/// `text` as typed in VNI-Windows, kept as Latin-1 characters like TCVN3.
fn vni(text: &str) -> String {
    text.chars()
        .map(|c| match (c, vowel_of(c)) {
            ('đ', _) => "ñ".to_string(),
            ('Đ', _) => "Ñ".to_string(),
            (_, Some((vowel, tone, true))) => VNI_VOWELS[vowel][tone].to_uppercase(),
            (_, Some((vowel, tone, false))) => VNI_VOWELS[vowel][tone].to_string(),
            (c, None) if c.is_ascii() => c.to_string(),
            (c, None) => panic!("{c} has no VNI spelling"),
        })
        .collect()
}

/// Windows-1258 bytes of each vowel without a tone, small and capital.
const CP1258_BASES: [[u8; 2]; 12] = [
    [b'a', b'A'],
    [0xE3, 0xC3],
    [0xE2, 0xC2],
    [b'e', b'E'],
    [0xEA, 0xCA],
    [b'i', b'I'],
    [b'o', b'O'],
    [0xF4, 0xD4],
    [0xF5, 0xD5],
    [b'u', b'U'],
    [0xFD, 0xDD],
    [b'y', b'Y'],
];

/// `text` as Windows writes it in code page 1258: the letters the code page has whole
/// (à á è é í ó ù ú and capitals), else the letter without its tone and a combining tone
/// mark (grave 0xCC, hook 0xD2, tilde 0xDE, acute 0xEC, dot below 0xF2).
fn windows_1258(text: &str) -> Vec<u8> {
    const TONE_MARKS: [u8; 5] = [0xCC, 0xD2, 0xDE, 0xEC, 0xF2];
    let mut bytes = Vec::new();
    for c in text.chars() {
        match (c, vowel_of(c)) {
            (c, _) if c.is_ascii() => bytes.push(c as u8),
            (c, _) if "àáèéíóùúÀÁÈÉÍÓÙÚ\u{a0}".contains(c) => {
                bytes.push(c as u32 as u8)
            }
            ('đ', _) => bytes.push(0xF0),
            ('Đ', _) => bytes.push(0xD0),
            (_, Some((vowel, tone, capital))) => {
                bytes.push(CP1258_BASES[vowel][usize::from(capital)]);
                if tone > 0 {
                    bytes.push(TONE_MARKS[tone - 1]);
                }
            }
            (c, None) => panic!("{c} is not in Windows-1258"),
        }
    }
    bytes
}

// ---------------------------------------------------------------------------------------
// Zip archives written by hand

/// The CRC-32 register (reflected, polynomial 0xEDB88320) after `bytes`.
fn crc_update(mut register: u32, bytes: &[u8]) -> u32 {
    for &byte in bytes {
        register ^= u32::from(byte);
        for _ in 0..8 {
            register = (register >> 1) ^ (0xEDB8_8320 & (register & 1).wrapping_neg());
        }
    }
    register
}

fn crc32(bytes: &[u8]) -> u32 {
    !crc_update(!0, bytes)
}

/// An affine map of the CRC register over GF(2): `x -> constant ^ (columns · x)`.
#[derive(Clone, Copy)]
struct CrcMap {
    columns: [u32; 32],
    constant: u32,
}

impl CrcMap {
    fn apply(&self, x: u32) -> u32 {
        (0..32usize)
            .filter(|&bit| (x >> bit) & 1 == 1)
            .fold(self.constant, |acc, bit| acc ^ self.columns[bit])
    }

    /// `self` after `first`.
    fn after(&self, first: &CrcMap) -> CrcMap {
        CrcMap {
            columns: first.columns.map(|c| self.apply(c) ^ self.constant),
            constant: self.apply(first.constant),
        }
    }
}

/// The register after `block` repeated `times` times, without reading every byte: the
/// block's effect on the register is an affine map, raised to the power by squaring.
fn crc_update_repeated(register: u32, block: &[u8], times: u64) -> u32 {
    let constant = crc_update(0, block);
    let mut power = CrcMap {
        columns: std::array::from_fn(|bit| crc_update(1 << bit, block) ^ constant),
        constant,
    };
    let mut result = CrcMap {
        columns: std::array::from_fn(|bit| 1 << bit),
        constant: 0,
    };
    let mut times = times;
    while times > 0 {
        if times & 1 == 1 {
            result = power.after(&result);
        }
        power = power.after(&power);
        times >>= 1;
    }
    result.apply(register)
}

/// A DEFLATE stream (RFC 1951) of one block with the fixed Huffman codes, written as
/// literals and copies of what came before: enough for data that repeats, without a
/// compressor.
struct Deflate {
    out: Vec<u8>,
    bits: u64,
    pending: u32,
}

impl Deflate {
    fn new() -> Deflate {
        let mut deflate = Deflate {
            out: Vec::new(),
            bits: 0,
            pending: 0,
        };
        deflate.bits(1, 1); // the final block
        deflate.bits(1, 2); // fixed codes
        deflate
    }

    /// `count` bits of `value`, least significant first.
    fn bits(&mut self, value: u32, count: u32) {
        self.bits |= u64::from(value) << self.pending;
        self.pending += count;
        while self.pending >= 8 {
            self.out.push(self.bits as u8);
            self.bits >>= 8;
            self.pending -= 8;
        }
    }

    /// A Huffman code, most significant bit first.
    fn code(&mut self, code: u32, length: u32) {
        self.bits(code.reverse_bits() >> (32 - length), length);
    }

    fn symbol(&mut self, symbol: u32) {
        match symbol {
            0..=143 => self.code(0x30 + symbol, 8),
            144..=255 => self.code(0x190 + symbol - 144, 9),
            256..=279 => self.code(symbol - 256, 7),
            _ => self.code(0xC0 + symbol - 280, 8),
        }
    }

    fn literal(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.symbol(u32::from(byte));
        }
    }

    /// `length` bytes copied from `distance` bytes back (overlapping: a repeat).
    fn copy(&mut self, distance: u32, mut length: u64) {
        assert!(length >= 3, "a copy is at least three bytes");
        while length > 0 {
            let mut chunk = length.min(258);
            if (1..3).contains(&(length - chunk)) {
                chunk -= 3; // leave what one more copy can hold
            }
            self.one_copy(distance, chunk as u32);
            length -= chunk;
        }
    }

    fn one_copy(&mut self, distance: u32, length: u32) {
        const LENGTHS: [u32; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258,
        ];
        const LENGTH_EXTRA: [u32; 29] = [
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
        ];
        const DISTANCES: [u32; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        let l = LENGTHS.iter().rposition(|&base| base <= length).unwrap();
        self.symbol(257 + l as u32);
        self.bits(length - LENGTHS[l], LENGTH_EXTRA[l]);
        let d = DISTANCES
            .iter()
            .rposition(|&base| base <= distance)
            .unwrap();
        self.code(d as u32, 5);
        // Distance codes 4 and 5 take one extra bit, 6 and 7 two, and so on.
        self.bits(distance - DISTANCES[d], (d as u32).saturating_sub(2) / 2);
    }

    fn finish(mut self) -> Vec<u8> {
        self.symbol(256);
        if self.pending > 0 {
            self.out.push(self.bits as u8);
        }
        self.out
    }
}

/// One member of a zip archive.
struct ZipMember {
    name: &'static str,
    /// 0 stored, 8 deflated.
    method: u16,
    crc: u32,
    size: u32,
    data: Vec<u8>,
}

impl ZipMember {
    fn stored(name: &'static str, text: &str) -> ZipMember {
        ZipMember {
            name,
            method: 0,
            crc: crc32(text.as_bytes()),
            size: text.len() as u32,
            data: text.as_bytes().to_vec(),
        }
    }
}

/// Writes a zip archive (no zip64: every size fits 32 bits).
fn write_zip(path: &Path, members: &[ZipMember]) {
    let mut out: Vec<u8> = Vec::new();
    let mut directory: Vec<u8> = Vec::new();
    for member in members {
        let offset = out.len() as u32;
        let name = member.name.as_bytes();
        // version 2.0, no flags, method, time 00:00, date 1980-01-01, crc, sizes, name
        let fields = |head: &mut Vec<u8>| {
            head.extend(20u16.to_le_bytes());
            head.extend(0u16.to_le_bytes());
            head.extend(member.method.to_le_bytes());
            head.extend(0u16.to_le_bytes());
            head.extend(0x21u16.to_le_bytes());
            head.extend(member.crc.to_le_bytes());
            head.extend((member.data.len() as u32).to_le_bytes());
            head.extend(member.size.to_le_bytes());
            head.extend((name.len() as u16).to_le_bytes());
            head.extend(0u16.to_le_bytes());
        };
        out.extend(0x0403_4b50u32.to_le_bytes());
        fields(&mut out);
        out.extend(name);
        out.extend(&member.data);
        directory.extend(0x0201_4b50u32.to_le_bytes());
        directory.extend(20u16.to_le_bytes());
        fields(&mut directory);
        // comment length, first disk, internal and external attributes
        directory.extend([0u8; 10]);
        directory.extend(offset.to_le_bytes());
        directory.extend(name);
    }
    let (start, length) = (out.len() as u32, directory.len() as u32);
    out.extend(directory);
    let count = (members.len() as u16).to_le_bytes();
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend(count);
    out.extend(count);
    out.extend(length.to_le_bytes());
    out.extend(start.to_le_bytes());
    out.extend([0u8; 2]);
    std::fs::write(path, out).unwrap();
}

const SPREADSHEETML: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const RELATIONSHIPS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
const OFFICE_RELATIONSHIPS: &str =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// The parts of an .xlsx around its one worksheet, "Danh sách".
fn workbook_parts() -> Vec<ZipMember> {
    let types = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">"#,
        r#"<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>"#,
        r#"<Default Extension="xml" ContentType="application/xml"/>"#,
        r#"<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>"#,
        r#"<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#,
        r#"</Types>"#,
    );
    let rels = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELATIONSHIPS}"><Relationship Id="rId1" Type="{OFFICE_RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
    );
    let workbook = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{SPREADSHEETML}" xmlns:r="{OFFICE_RELATIONSHIPS}"><sheets><sheet name="Danh sách" sheetId="1" r:id="rId1"/></sheets></workbook>"#
    );
    let workbook_rels = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELATIONSHIPS}"><Relationship Id="rId1" Type="{OFFICE_RELATIONSHIPS}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#
    );
    vec![
        ZipMember::stored("[Content_Types].xml", types),
        ZipMember::stored("_rels/.rels", &rels),
        ZipMember::stored("xl/workbook.xml", &workbook),
        ZipMember::stored("xl/_rels/workbook.xml.rels", &workbook_rels),
    ]
}

/// A worksheet part: `head`, then `block` `times` times, then `tail`, deflated as literals
/// and one long copy, so that neither the file nor this test holds the whole sheet.
fn repeating_sheet(head: &str, block: &str, times: u64, tail: &str) -> ZipMember {
    let mut deflate = Deflate::new();
    deflate.literal(head.as_bytes());
    deflate.literal(block.as_bytes());
    deflate.copy(block.len() as u32, block.len() as u64 * (times - 1));
    deflate.literal(tail.as_bytes());
    let register = crc_update(!0, head.as_bytes());
    let register = crc_update_repeated(register, block.as_bytes(), times);
    let register = crc_update(register, tail.as_bytes());
    let size = head.len() as u64 + block.len() as u64 * times + tail.len() as u64;
    ZipMember {
        name: "xl/worksheets/sheet1.xml",
        method: 8,
        crc: !register,
        size: u32::try_from(size).unwrap(),
        data: deflate.finish(),
    }
}

/// An .xlsx whose sheet has a header and then a million rows, the same official on each.
fn million_row_workbook(path: &Path) {
    let head = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{SPREADSHEETML}"><sheetData><row><c t="inlineStr"><is><t>Họ và tên</t></is></c></row>"#
    );
    // Rows without a number: each one is the line after the previous.
    let row = r#"<row><c t="inlineStr"><is><t>Nguyễn Văn An</t></is></c></row>"#;
    let mut parts = workbook_parts();
    parts.push(repeating_sheet(
        &head,
        row,
        1_000_000,
        "</sheetData></worksheet>",
    ));
    write_zip(path, &parts);
}

/// An .xlsx of a few kilobytes whose sheet inflates to 257 MiB of spaces.
fn zip_bomb(path: &Path) {
    let head = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{SPREADSHEETML}"><sheetData>"#
    );
    let mut parts = workbook_parts();
    parts.push(repeating_sheet(
        &head,
        " ",
        257 << 20,
        "</sheetData></worksheet>",
    ));
    write_zip(path, &parts);
}

/// An .ods whose one written row is repeated a million times, 1024 cells wide.
fn repeating_ods(path: &Path) {
    let content = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
        r#"xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" "#,
        r#"xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">"#,
        r#"<office:body><office:spreadsheet><table:table table:name="Danh sách">"#,
        r#"<table:table-row><table:table-cell office:value-type="string"><text:p>Họ và tên</text:p></table:table-cell></table:table-row>"#,
        r#"<table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="1024" office:value-type="string"><text:p>Nguyễn Văn An</text:p></table:table-cell></table:table-row>"#,
        r#"</table:table></office:spreadsheet></office:body></office:document-content>"#,
    );
    let manifest = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">"#,
        r#"<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>"#,
        r#"<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>"#,
        r#"</manifest:manifest>"#,
    );
    let parts = [
        ZipMember::stored("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
        ZipMember::stored("META-INF/manifest.xml", manifest),
        ZipMember::stored("content.xml", content),
    ];
    write_zip(path, &parts);
}

#[test]
fn the_crc_of_a_repeated_block_is_the_crc_of_its_bytes() {
    let block = b"<row><c><v>1</v></c></row>";
    let bytes: Vec<u8> = block
        .iter()
        .copied()
        .cycle()
        .take(block.len() * 1000)
        .collect();
    let repeated = !crc_update_repeated(crc_update(!0, b"head"), block, 1000);
    let plain = crc32(&[b"head".as_slice(), &bytes].concat());
    assert_eq!(repeated, plain);
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926, "the standard check value");
}
