//! Property tests of the LDIF reader: for generated entries written as exporters write them
//! (values plain when RFC 2849 allows it and base64 otherwise, lines folded at any width,
//! comments between records, LF or CRLF) every entry comes back with its DN, its values and
//! the line its `dn:` is on; and no input at all makes the reader panic.
#![allow(
    clippy::unreachable,
    clippy::too_many_lines,
    reason = "property tests: a strategy that cannot yield a case says so"
)]

use base64::Engine as _;
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

/// A value: Vietnamese letters, ASCII, spaces, colons, `<`, and now and then a control
/// character, so that both the plain and the base64 forms come up.
fn value() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            8 => proptest::char::range('a', 'z'),
            2 => Just(' '),
            1 => Just(':'),
            1 => Just('<'),
            2 => prop::sample::select(vec!['ễ', 'Đ', 'ư', 'ơ', 'ạ', 'ố']),
            1 => Just('\r'),
        ],
        0..40,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// RFC 2849 SAFE-STRING: written plain only when it is one.
fn is_safe(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .all(|b| b.is_ascii() && !matches!(b, b'\r' | b'\n' | 0))
        && !matches!(bytes.first(), Some(b' ' | b':' | b'<'))
        && !text.ends_with(' ')
}

#[derive(Debug, Clone)]
struct Generated {
    dn: String,
    attributes: Vec<(String, String)>,
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        "[a-z]{1,8}",
        value(),
        proptest::collection::vec(
            (
                prop::sample::select(vec!["cn", "sn", "mail", "description"]),
                value(),
            ),
            1..6,
        ),
    )
        .prop_map(|(uid, ou, attrs)| Generated {
            dn: format!(
                "uid={uid},ou={},dc=x",
                ou.replace(['\r', ',', '+', '\\'], "")
            ),
            attributes: attrs.into_iter().map(|(n, v)| (n.to_string(), v)).collect(),
        })
}

/// Writes `name: value` or `name:: base64`, folded after `width` characters.
fn write_line(out: &mut String, name: &str, value: &str, width: usize, end: &str) {
    let line = if is_safe(value) {
        format!("{name}: {value}")
    } else {
        format!(
            "{name}:: {}",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    };
    let chars: Vec<char> = line.chars().collect();
    for (i, chunk) in chars.chunks(width).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.extend(chunk);
        out.push_str(end);
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Every entry written comes back whole, on the line its `dn:` was written on.
    #[test]
    fn entries_come_back_as_written(
        entries in proptest::collection::vec(generated(), 1..6),
        width in 2usize..80,
        crlf in any::<bool>(),
        comments in any::<bool>(),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut text = format!("version: 1{end}");
        let mut lines = Vec::new();
        for e in &entries {
            text.push_str(end);
            if comments {
                text.push_str(&format!("# {}{end}", e.dn.len()));
            }
            lines.push(text.matches('\n').count() as u64 + 1);
            write_line(&mut text, "dn", &e.dn, width, end);
            for (name, value) in &e.attributes {
                write_line(&mut text, name, value, width, end);
            }
        }
        let read = records(text.as_bytes());
        prop_assert_eq!(read.len(), entries.len(), "{:?}", text);
        for ((record, e), line) in read.iter().zip(&entries).zip(lines) {
            let Record::Entry(got) = record else {
                prop_assert!(false, "{:?} in {:?}", record, text);
                unreachable!()
            };
            prop_assert_eq!(got.line, line);
            prop_assert_eq!(&got.dn, &e.dn);
            let values: Vec<(String, String)> = got
                .attributes
                .iter()
                .map(|(n, v)| (n.clone(), String::from_utf8(v.bytes.clone()).unwrap()))
                .collect();
            prop_assert_eq!(&values, &e.attributes);
        }
    }

    /// Whatever the bytes, the reader answers with entries and broken records, never a panic.
    #[test]
    fn any_input_is_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for record in records(&bytes) {
            if let Record::Broken { line, .. } = record {
                prop_assert!(line >= 1);
            }
        }
    }
}
