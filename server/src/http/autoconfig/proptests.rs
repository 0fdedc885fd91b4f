//! Property tests of the Autodiscover request reader: arbitrary bodies never panic and yield
//! no more text than they hold, and generated valid requests (namespace prefixes, comments,
//! character references, CDATA, whitespace) yield the address they carry.
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

/// Pieces of XML and of requests, joined at random: most bodies are near-XML.
fn near_xml() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => prop::sample::select(&[
            "<Autodiscover>", "</Autodiscover>", "<Request>", "</Request>", "<EMailAddress>",
            "</EMailAddress>", "<EMailAddress/>", "<a:Request xmlns:a=\"urn:x\">", "</a:Request>",
            "<AcceptableResponseSchema>", "</AcceptableResponseSchema>", "<![CDATA[", "]]>",
            "<!--", "-->", "<?xml version=\"1.0\"?>", "<!DOCTYPE x [<!ENTITY e \"v\">]>", "&amp;",
            "&#64;", "&#x1F600;", "&#0;", "&#xD800;", "&#99999999999;", "&e;", "&", "<", ">", "\"",
            "=", " a=\"1\"", "an@vinhphuc.gov.vn", "\u{feff}", " ", "\r\n",
        ][..]).prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..4),
        1 => "[a-zA-Z:@. ]{0,6}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..48).prop_map(|pieces| pieces.concat())
}

/// A valid address: a local part, and a domain in any case with an optional trailing dot.
fn address() -> impl Strategy<Value = (String, String)> {
    (
        "[a-zA-Z0-9][a-zA-Z0-9._+-]{0,20}",
        prop::collection::vec("[a-zA-Z0-9]{1,8}", 2..4),
        any::<bool>(),
    )
        .prop_map(|(local, labels, dot)| {
            let domain = labels.join(".");
            let written = format!("{local}@{domain}{}", if dot { "." } else { "" });
            (written, format!("{local}@{}", domain.to_ascii_lowercase()))
        })
}

/// `text` as XML character data, each character plain, as a decimal or hexadecimal
/// reference, or inside a CDATA section, as `ways` says.
fn as_character_data(text: &str, ways: &[u8]) -> String {
    text.chars()
        .zip(ways.iter().cycle())
        .map(|(c, way)| match way % 6 {
            0 => format!("&#{};", u32::from(c)),
            1 => format!("&#x{:X};", u32::from(c)),
            2 => format!("<![CDATA[{c}]]>"),
            _ => c.to_string(),
        })
        .collect()
}

/// A request as different clients write it.
fn request() -> impl Strategy<Value = (Vec<u8>, String)> {
    (
        address(),
        prop::collection::vec(any::<u8>(), 1..16),
        prop::sample::select(&["", "a:", "ns1:"][..]),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(&["", " ", "\r\n  ", "\n\t"][..]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|((written, expected), ways, prefix, declaration, schema, space, comment, bom)| {
            let xmlns = if prefix.is_empty() {
                " xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"".to_string()
            } else {
                format!(" xmlns:{}=\"urn:x\"", prefix.trim_end_matches(':'))
            };
            let mut body = String::new();
            if bom {
                // Windows clients may start UTF-8 with a byte order mark.
                body.push('\u{feff}');
            }
            if declaration {
                body.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n");
            }
            body.push_str(&format!("<{prefix}Autodiscover{xmlns}>{space}<{prefix}Request>{space}"));
            if comment {
                body.push_str("<!-- Outlook -->");
            }
            body.push_str(&format!(
                "<{prefix}EMailAddress>{space}{}{space}</{prefix}EMailAddress>{space}",
                as_character_data(&written, &ways)
            ));
            if schema {
                body.push_str(&format!(
                    "<{prefix}AcceptableResponseSchema>{OUTLOOK_RESPONSE_SCHEMA}</{prefix}AcceptableResponseSchema>"
                ));
            }
            body.push_str(&format!("{space}</{prefix}Request>{space}</{prefix}Autodiscover>{space}"));
            (body.into_bytes(), expected)
        })
}

proptest! {
    #![proptest_config(config(1024))]

    /// Near-XML never panics, and what is read out of a body is never larger than it.
    #[test]
    fn near_xml_never_panics_and_is_bounded(body in near_xml()) {
        if let Ok(request) = AutodiscoverRequest::parse(&body) {
            let read = request.email.as_ref().map_or(0, String::len)
                + request.response_schema.as_ref().map_or(0, String::len);
            prop_assert!(read <= body.len(), "{} bytes read from {}", read, body.len());
        }
    }

    /// Arbitrary bytes never panic.
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = AutodiscoverRequest::parse(&body);
    }

    /// A valid request yields its address, which checks as a requested address with the
    /// domain normalized.
    #[test]
    fn a_valid_request_yields_its_address((body, expected) in request()) {
        let request = AutodiscoverRequest::parse(&body);
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                prop_assert!(false, "refused: {} in {}", e, String::from_utf8_lossy(&body));
                unreachable!()
            }
        };
        prop_assert!(request.accepts_outlook_schema());
        let email = request.email.as_deref().unwrap_or_default();
        let address = RequestedAddress::parse(email).map(|a| a.address);
        prop_assert_eq!(address, Some(expected));
    }
}

/// The largest body the route accepts, all nesting or all references, is read in bounded
/// time and refused or read without keeping more than it holds.
#[test]
fn largest_hostile_bodies_finish() {
    let started = std::time::Instant::now();
    let deep = "<a>".repeat(MAX_AUTODISCOVER_REQUEST_BYTES / 3);
    assert!(matches!(
        AutodiscoverRequest::parse(deep.as_bytes()),
        Err(MalformedXml::Unclosed)
    ));
    let open = "<Autodiscover><Request><EMailAddress>";
    let close = "</EMailAddress></Request></Autodiscover>";
    let references =
        "&#x1F600;".repeat((MAX_AUTODISCOVER_REQUEST_BYTES - open.len() - close.len()) / 9);
    let body = format!("{open}{references}{close}");
    let request = AutodiscoverRequest::parse(body.as_bytes()).expect("well-formed");
    assert!(request.email.expect("an address element").len() <= body.len());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
