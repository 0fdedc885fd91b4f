//! Property tests of the CSV line mapping: for generated CSV (quoted fields holding
//! delimiters, quotes and line breaks, LF or CRLF line ends, blank and whitespace-only lines,
//! an optional BOM, no final line end) every row reports the line its record starts on, as a
//! text editor numbers lines, and holds the cells written.
#![allow(
    clippy::unreachable,
    clippy::too_many_lines,
    reason = "property tests: a strategy that cannot yield a case says so"
)]

use proptest::prelude::*;

use super::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure is kept as a plain regression test, not as a file beside the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A cell as written in the file.
#[derive(Debug, Clone)]
enum Field {
    /// Written as is: no delimiter, quote or line break in it.
    Plain(String),
    /// Written in quotes, quotes doubled: anything at all.
    Quoted(String),
}

impl Field {
    fn value(&self) -> &str {
        match self {
            Field::Plain(text) | Field::Quoted(text) => text,
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Field::Plain(text) => out.push_str(text),
            Field::Quoted(text) => {
                out.push('"');
                out.push_str(&text.replace('"', "\"\""));
                out.push('"');
            }
        }
    }
}

/// Header cells: plain names, as the first line must show the delimiter.
fn header_field() -> impl Strategy<Value = Field> {
    "[A-Za-z][A-Za-z0-9 ]{0,8}|Họ và tên|Chức vụ|Đơn vị".prop_map(Field::Plain)
}

fn field(delimiter: char) -> impl Strategy<Value = Field> {
    let plain = "[A-Za-z0-9 .@àáạảãđêôơưỳ]{0,10}|\\PC{0,6}".prop_map(move |text: String| {
        let clean: String = text
            .chars()
            .filter(|&c| c != delimiter && !matches!(c, '"' | '\r' | '\n'))
            .collect();
        Field::Plain(clean)
    });
    let quoted = prop::collection::vec(
        prop_oneof![
            3 => "[A-Za-z0-9 àđ]{1,6}",
            1 => Just("\r\n".to_string()),
            1 => Just("\n".to_string()),
            1 => Just("\"".to_string()),
            1 => Just(",".to_string()),
            1 => Just(";".to_string()),
            1 => Just("\t".to_string()),
            1 => Just("\r\n\r\n".to_string()),
        ],
        0..6,
    )
    .prop_map(|parts| Field::Quoted(parts.concat()));
    prop_oneof![3 => plain, 2 => quoted]
}

/// A generated file: the text, and for each record the line it starts on and its cells.
#[derive(Debug, Clone)]
struct Csv {
    text: String,
    records: Vec<(u64, Vec<String>)>,
}

fn csv_file() -> impl Strategy<Value = Csv> {
    prop::sample::select(&[',', ';', '\t'][..]).prop_flat_map(|delimiter| {
        let record = prop::collection::vec(field(delimiter), 1..5);
        (
            prop::collection::vec(header_field(), 2..5),
            prop::collection::vec(record, 0..8),
            // Per record: its line end, and the blank lines before it.
            prop::collection::vec(
                (
                    prop::sample::select(&["\n", "\r\n"][..]),
                    prop::collection::vec(
                        prop::sample::select(&["\n", "\r\n", "  \r\n", " \n"][..]),
                        0..3,
                    ),
                ),
                9,
            ),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(move |(header, body, layout, bom, final_newline)| {
                let mut text = String::new();
                if bom {
                    text.push('\u{feff}');
                }
                let mut records = Vec::new();
                let all = std::iter::once(header).chain(body);
                let count = all.clone().count();
                for (i, (fields, (end, blanks))) in all.zip(layout).enumerate() {
                    if i > 0 {
                        for blank in blanks {
                            text.push_str(blank);
                        }
                    }
                    let line = text.matches('\n').count() as u64 + 1;
                    for (j, field) in fields.iter().enumerate() {
                        if j > 0 {
                            text.push(delimiter);
                        }
                        field.write(&mut text);
                    }
                    if i + 1 < count || final_newline {
                        text.push_str(end);
                    }
                    let cells = fields.iter().map(|f| clean_text(f.value())).collect();
                    records.push((line, cells));
                }
                Csv { text, records }
            })
    })
}

proptest! {
    #![proptest_config(config(512))]

    /// Every row with content reports the line its record starts on and the cells written;
    /// rows without content are left out.
    #[test]
    fn rows_report_the_line_their_record_starts_on(csv in csv_file()) {
        let grid = csv_grid(&csv.text);
        let grid = match grid {
            Ok(grid) => grid,
            Err(e) => {
                prop_assert!(false, "refused: {} in {:?}", e, csv.text);
                unreachable!()
            }
        };
        let got: Vec<(u64, Vec<String>)> =
            grid.rows.into_iter().map(|row| (row.line, row.cells)).collect();
        let expected: Vec<(u64, Vec<String>)> = csv
            .records
            .into_iter()
            .filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()))
            .collect();
        prop_assert_eq!(got, expected, "{:?}", csv.text);
    }

    /// Arbitrary text never panics, and every row's line lies within the text.
    #[test]
    fn arbitrary_text_never_panics(text in "(\\PC|[\",;\t\r\n]){0,80}") {
        let lines = text.matches('\n').count() as u64 + 1;
        if let Ok(grid) = csv_grid(&text) {
            for row in grid.rows {
                prop_assert!((1..=lines).contains(&row.line), "line {} of {}", row.line, lines);
            }
        }
    }
}
