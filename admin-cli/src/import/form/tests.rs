//! Where the table is, on forms as agencies write them.

use super::*;
use crate::import::columns::OfficialsTable;

fn grid(rows: &[(u64, &[&str])]) -> Grid {
    Grid {
        rows: rows
            .iter()
            .map(|(line, cells)| GridRow {
                line: *line,
                cells: cells.iter().map(|c| c.to_string()).collect(),
                errors: Vec::new(),
            })
            .collect(),
    }
}

fn form(rows: &[(u64, &[&str])]) -> Form {
    find_table(&grid(rows), &Vec::new(), &OfficialsTable { overrides: &[] }).expect("a table")
}

fn ignored(form: &Form) -> Vec<(u64, &'static str)> {
    form.ignored
        .iter()
        .map(|r| (r.line, r.kind.code()))
        .collect()
}

fn lines(form: &Form) -> Vec<u64> {
    form.rows.iter().map(|r| r.line).collect()
}

#[test]
fn title_block_two_row_header_sections_and_signature() {
    let f = form(&[
        (
            1,
            &[
                "UBND TỈNH VĨNH PHÚC",
                "UBND TỈNH VĨNH PHÚC",
                "",
                "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            ],
        ),
        (
            2,
            &[
                "SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG",
                "",
                "",
                "Độc lập - Tự do - Hạnh phúc",
            ],
        ),
        (
            4,
            &["DANH SÁCH CÁN BỘ, CÔNG CHỨC ĐỀ NGHỊ CẤP HỘP THƯ CÔNG VỤ"],
        ),
        (
            6,
            &["STT", "Thông tin cán bộ", "Thông tin cán bộ", "Liên hệ"],
        ),
        (7, &["STT", "Họ và tên", "Chức vụ", "Số điện thoại"]),
        (8, &["(1)", "(2)", "(3)", "(4)"]),
        (
            9,
            &[
                "I. BAN GIÁM ĐỐC",
                "I. BAN GIÁM ĐỐC",
                "I. BAN GIÁM ĐỐC",
                "I. BAN GIÁM ĐỐC",
            ],
        ),
        (10, &["1", "Nguyễn Văn An", "Giám đốc", "912345678"]),
        (11, &["II", "VĂN PHÒNG SỞ"]),
        (12, &["2", "Lê Thị Hồng Nhung", "Chánh Văn phòng"]),
        (13, &["", "2. Phòng Đất đai"]),
        (14, &["3", "Đỗ Đức Anh"]),
        (15, &["4"]),
        (16, &["", "Tổng cộng: 3 người"]),
        (18, &["", "", "", "Vĩnh Phúc, ngày 15 tháng 3 năm 2026"]),
        (19, &["", "Người lập biểu", "", "GIÁM ĐỐC"]),
        (22, &["", "Trần Văn Bình", "", "Nguyễn Văn Cường"]),
    ]);
    assert_eq!(f.headers, ["STT", "Họ và tên", "Chức vụ", "Số điện thoại"]);
    assert_eq!(f.header_lines, [6, 7]);
    assert_eq!(lines(&f), [10, 12, 14]);
    let sections: Vec<_> = f.rows.iter().map(|r| r.section.as_deref()).collect();
    assert_eq!(
        sections,
        [
            Some("BAN GIÁM ĐỐC"),
            Some("VĂN PHÒNG SỞ"),
            Some("Phòng Đất đai")
        ]
    );
    assert_eq!(
        ignored(&f),
        [
            (1, "title"),
            (2, "title"),
            (4, "title"),
            (8, "column-numbers"),
            (9, "section"),
            (11, "section"),
            (13, "section"),
            (15, "numbered-but-empty"),
            (16, "total"),
            (18, "signature"),
            (19, "signature"),
            (22, "signature"),
        ]
    );
}

#[test]
fn without_an_ordinal_column_the_signature_block_still_ends_the_table() {
    let f = form(&[
        (1, &["Họ và tên", "Chức vụ"]),
        (2, &["Nguyễn Văn An", "Giám đốc"]),
        (3, &["Bàn Văn Hùng"]),
        (4, &["Tô Thị Lan", "Chuyên viên"]),
        (5, &["Phòng Tổng hợp"]),
        (6, &["Trương Văn Nam", "Trưởng phòng"]),
        (8, &["Người lập biểu: Trần Văn Bình"]),
        (9, &["Nguyễn Văn Cường"]),
    ]);
    assert_eq!(
        lines(&f),
        [2, 3, 4, 6],
        "names that begin like units are names"
    );
    assert_eq!(f.rows[3].section.as_deref(), Some("Phòng Tổng hợp"));
    assert_eq!(
        ignored(&f),
        [(5, "section"), (8, "signature"), (9, "signature")]
    );
}

#[test]
fn a_header_over_two_rows_with_the_name_above() {
    // "Họ và tên" merged over rows 3-4 (filled), "Liên hệ" over the phone and email.
    let f = form(&[
        (3, &["STT", "Họ và tên", "Liên hệ", "Liên hệ"]),
        (4, &["", "", "Điện thoại", "Email"]),
        (
            5,
            &["1", "Nguyễn Văn An", "0912345678", "annv@vinhphuc.gov.vn"],
        ),
        (6, &["", "Phạm Văn Đức"]),
    ]);
    assert_eq!(f.headers, ["STT", "Họ và tên", "Điện thoại", "Email"]);
    assert_eq!(lines(&f), [5]);
    assert_eq!(ignored(&f), [(6, "no-ordinal")]);
}

#[test]
fn repeated_headers_and_rows_without_a_name() {
    let f = form(&[
        (1, &["Họ và tên", "Chức vụ"]),
        (2, &["Nguyễn Văn An", "Chuyên viên"]),
        (3, &["Họ và tên", "Chức vụ"]),
        (4, &["", "Chuyên viên"]),
    ]);
    assert_eq!(lines(&f), [2]);
    assert_eq!(ignored(&f), [(3, "repeated-header"), (4, "no-name")]);
}

#[test]
fn no_header_in_the_first_thirty_lines_is_no_table() {
    let rows: Vec<(u64, &[&str])> = (1..=31)
        .map(|l| (l, &["ghi chú"][..]))
        .chain([(32, &["Họ và tên"][..])])
        .collect();
    assert!(find_table(
        &grid(&rows),
        &Vec::new(),
        &OfficialsTable { overrides: &[] }
    )
    .is_none());
}

#[test]
fn section_marks_ordinals_and_date_lines() {
    assert!(is_section_mark("IV."));
    assert!(is_section_mark("b)"));
    assert!(!is_section_mark("12"));
    assert!(is_ordinal("01"));
    assert!(is_ordinal("12."));
    assert!(!is_ordinal("II"));
    assert!(is_date_line("Vĩnh Yên, ngày 15 tháng 3 năm 2026"));
    assert!(is_date_line("ngày … tháng … năm 2026"));
    assert!(!is_date_line("Nguyễn Văn Năm"));
    assert!(is_column_numbers(
        &grid(&[(1, &["1", "2", "3", "4"])]).rows[0]
    ));
    assert!(is_column_numbers(&grid(&[(1, &["A", "B", "C"])]).rows[0]));
    assert!(!is_column_numbers(
        &grid(&[(1, &["1", "Nguyễn Văn An", "3"])]).rows[0]
    ));
}
