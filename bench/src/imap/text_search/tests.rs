use std::collections::HashSet;

use congvu::mailstore::text::{body_text, decoded_headers, TextMatcher};
use mail_parser::decoders::html::html_to_text;
use mail_parser::{MessageParser, PartType};

use super::super::tests::{test_args, test_machine, test_report};
use super::*;

const TO: &str = "cuong.le@vinhphuc.gov.vn";
/// Every slot of [`PHRASE_SLOTS`] twice and of [`PLACE_SLOTS`] twenty times, so each planted
/// text meets several forms.
const CHECKED: usize = 2_000;

/// `text` lowercased, every run of whitespace (the no-break space too) as one space: what a
/// reader sees as the same words.
fn as_read(text: &str) -> String {
    text.split(char::is_whitespace)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A message as a mail client shows it: the Subject and the text of every text part (HTML
/// stripped of its tags), decoded by mail-parser, not by the server under test.
struct Shown {
    subject: String,
    body: String,
}

fn shown(i: usize, message: &[u8]) -> Shown {
    let parsed = MessageParser::new()
        .parse(message)
        .unwrap_or_else(|| panic!("message {i} does not parse"));
    let mut body = String::new();
    for part in &parsed.parts {
        match &part.body {
            PartType::Text(text) => body.push_str(text),
            PartType::Html(html) => body.push_str(&html_to_text(html)),
            _ => continue,
        }
        body.push('\n');
    }
    Shown {
        subject: parsed.subject().unwrap_or_default().to_string(),
        body,
    }
}

#[test]
fn the_plan_plants_eight_phrases_a_thousand_and_seven_places_a_hundred() {
    assert_eq!(Search::Text.planted(1_000), 8);
    assert_eq!(Search::Body.planted(100), 7);
    assert_eq!(Search::Text.planted(50_000), 400);
    assert_eq!(Search::Body.planted(50_000), 3_500);
    assert_eq!(Search::Text.planted(3_000), 24);
    assert_eq!(Search::Body.planted(3_000), 210);
    // A phrase slot never hides a place slot.
    let places: HashSet<usize> = PLACE_SLOTS.iter().map(|(slot, _)| *slot).collect();
    for (slot, _) in PHRASE_SLOTS {
        assert!(!places.contains(&(slot % 100)), "phrase slot {slot}");
    }
}

#[test]
fn what_a_mail_client_reads_holds_the_planted_texts_and_nothing_else() {
    let mut phrase_forms = HashSet::new();
    let mut place_forms = HashSet::new();
    let (mut phrases, mut places) = (0, 0);
    for i in 0..CHECKED {
        let message = search_message(i, TO);
        let shown = shown(i, &message);
        let (subject, body) = (as_read(&shown.subject), as_read(&shown.body));
        let phrase = subject.contains("công văn 2986") || body.contains("công văn 2986");
        let place = ["hà nội", "ha noi"].iter().any(|p| body.contains(p));
        let plant = Plant::of(i);
        assert_eq!(
            phrase,
            plant.is_some_and(|p| p.found_by(Search::Text)),
            "message {i}"
        );
        assert_eq!(
            place,
            plant.is_some_and(|p| p.found_by(Search::Body)),
            "message {i}"
        );
        if let Some(p) = plant.filter(|p| p.spot == Spot::Body) {
            // The planted words are there whether they match or not: near misses included.
            let first_line = as_read(p.text.lines().next().unwrap_or_default());
            assert!(
                body.contains(&first_line),
                "message {i} lacks {first_line:?}"
            );
            // Sent encoded, the words are not in the raw bytes (quoted-printable leaves ASCII
            // as it is).
            let hides = |encoding| match encoding {
                Encoding::EightBit => false,
                Encoding::QuotedPrintable => !first_line.is_ascii(),
                Encoding::Base64 => true,
            };
            let (text, html) = encodings(i, Form::of(i));
            let encoded = hides(text) && html.is_none_or(hides);
            let raw = as_read(&String::from_utf8_lossy(&message));
            assert_eq!(raw.contains(&first_line), !encoded, "message {i}");
        }
        if phrase {
            phrases += 1;
            phrase_forms.insert(Form::of(i));
        }
        if place {
            places += 1;
            place_forms.insert(Form::of(i));
        }
    }
    assert_eq!(phrases, Search::Text.planted(CHECKED));
    assert_eq!(places, Search::Body.planted(CHECKED));
    let every: HashSet<Form> = FORMS.into_iter().collect();
    assert_eq!(phrase_forms, every);
    assert_eq!(place_forms, every);
}

#[test]
fn congvu_matching_rules_find_exactly_the_planted_messages() {
    // As server/src/imap/search.rs decides them: TEXT in any header field's name or decoded
    // value or in the body text, BODY in the body text alone.
    for search in SEARCHES {
        let matcher = TextMatcher::new(search.string());
        let found: Vec<usize> = (0..CHECKED)
            .filter(|&i| {
                let message = search_message(i, TO);
                let in_body = matcher.matches(&body_text(&message));
                let in_header = || {
                    decoded_headers(&message)
                        .iter()
                        .any(|(name, value)| matcher.matches(name) || matcher.matches(value))
                };
                match search {
                    Search::Text => in_body || in_header(),
                    Search::Body => in_body,
                }
            })
            .collect();
        let planted: Vec<usize> = (0..CHECKED)
            .filter(|&i| Plant::of(i).is_some_and(|p| p.found_by(search)))
            .collect();
        assert_eq!(found, planted, "{}", search.command());
    }
}

#[test]
fn subjects_and_senders_are_encoded_words_in_b_and_q() {
    let mut seen = HashSet::new();
    for (slot, plant) in PHRASE_SLOTS.iter().chain(&PLACE_SLOTS) {
        if plant.spot != Spot::Subject {
            continue;
        }
        for i in [*slot, slot + 1_000, slot + 2_000] {
            let message = search_message(i, TO);
            let text = String::from_utf8_lossy(&message);
            let subject = text
                .split("\r\nSubject: ")
                .nth(1)
                .and_then(|rest| rest.split("\r\nDate: ").next())
                .expect("a Subject field");
            let kind = if subject.starts_with("=?utf-8?B?") {
                'B'
            } else {
                assert!(subject.starts_with("=?utf-8?Q?"), "message {i}: {subject}");
                'Q'
            };
            seen.insert(kind);
            assert!(subject.is_ascii(), "message {i}");
            assert!(
                subject.split("\r\n ").all(|word| word.len() <= 75),
                "message {i}: {subject}"
            );
            assert_eq!(shown(i, &message).subject, plant.text, "message {i}");
            let parsed = MessageParser::new().parse(&message).expect("parses");
            let from = parsed.from().and_then(|f| f.first()).and_then(|a| a.name());
            assert!(
                WRITERS.iter().any(|(name, _, _)| Some(*name) == from),
                "message {i}: {from:?}"
            );
        }
    }
    assert_eq!(seen, HashSet::from(['B', 'Q']));
}

#[test]
fn messages_are_sized_well_formed_distinct_and_the_same_every_time() {
    let mut ids = HashSet::new();
    let sizes: Vec<usize> = (0..CHECKED)
        .map(|i| {
            let message = search_message(i, TO);
            assert_eq!(message, search_message(i, TO), "message {i}");
            let header_end = find(&message, b"\r\n\r\n").expect("a header") + 2;
            assert!(message[..header_end].is_ascii(), "message {i}");
            let mut line = 0;
            for (at, &b) in message.iter().enumerate() {
                match b {
                    b'\n' => {
                        assert!(at > 0 && message[at - 1] == b'\r', "bare LF in {i}");
                        line = 0;
                    }
                    b'\r' => assert_eq!(message.get(at + 1), Some(&b'\n'), "bare CR in {i}"),
                    _ => {
                        line += 1;
                        assert!(line <= 998, "long line in message {i}");
                    }
                }
            }
            let parsed = MessageParser::new().parse(&message).expect("parses");
            assert!(parsed.date().is_some() && parsed.from().is_some(), "{i}");
            assert!(ids.insert(parsed.message_id().expect("Message-ID").to_string()));
            message.len()
        })
        .collect();
    let (smallest, largest) = (sizes.iter().min(), sizes.iter().max());
    assert!(
        smallest.is_some_and(|&s| (800..1_600).contains(&s)),
        "{smallest:?}"
    );
    assert!(
        largest.is_some_and(|&s| (24_000..34_000).contains(&s)),
        "{largest:?}"
    );
}

#[test]
fn attachments_are_pdfs_of_a_few_kib_that_no_search_reads() {
    let i = (0..CHECKED)
        .find(|&i| Form::of(i) == Form::Attachment)
        .expect("an attachment");
    let message = search_message(i, TO);
    let parsed = MessageParser::new().parse(&message).expect("parses");
    let pdf = parsed.attachment(0).expect("one attachment");
    let bytes = pdf.contents();
    assert!(bytes.starts_with(b"%PDF-1.4\n"), "message {i}");
    assert!((2_048..=6_400).contains(&bytes.len()), "{}", bytes.len());
    assert!(matches!(pdf.body, PartType::Binary(_)));
}

fn times(seconds: &[f64]) -> Vec<Duration> {
    seconds
        .iter()
        .map(|&s| Duration::from_secs_f64(s))
        .collect()
}

/// Figures of `kind` whose TEXT search took `warm` seconds after a first of 2 s.
fn figures(kind: ServerKind, warm: &[f64]) -> Figures {
    let searches = SEARCHES
        .iter()
        .map(|&search| SearchTimes {
            search,
            first: Duration::from_secs(2),
            warm: times(warm),
            found: vec![search.planted(50_000); warm.len() + 1],
        })
        .collect();
    Figures {
        kind,
        seed: None,
        sync: Vec::new(),
        fetch: Vec::new(),
        memory: None,
        large: None,
        text_search: Some(SearchRun {
            searches,
            import: Some(Duration::from_secs(10)),
            index: None,
        }),
        text_search_fts: None,
    }
}

#[test]
fn the_target_is_met_only_when_every_congvu_search_clears_it() {
    let args = test_args(vec![Workload::I2]);
    let (machine, corpus) = (test_machine(), Corpus::default());
    let report = test_report(&args, &machine, &corpus);
    let dovecot = figures(ServerKind::Dovecot, &[1.0, 1.1, 1.2]);
    // Medians 0.4 s against 1.1 s, but one search took 0.6 s, over half of Dovecot's 1.0 s.
    let uneven = figures(ServerKind::Congvu, &[0.3, 0.4, 0.6]);
    let rows = report.text_search_rows(Some(&uneven), Some(&dovecot));
    assert_eq!(rows.len(), 8);
    assert_eq!(rows[0].ours.as_deref(), Some("10.0 s (5000/s)"));
    let text = &rows[1];
    assert!(text
        .what
        .starts_with("`SEARCH TEXT \"công văn 2986\"` in a 50000-message"));
    assert_eq!(text.ratio.as_deref(), Some("0.36×"));
    assert_eq!(text.met, Some(false));
    let steady = figures(ServerKind::Congvu, &[0.45, 0.5, 0.5]);
    let rows = report.text_search_rows(Some(&steady), Some(&dovecot));
    assert_eq!(rows[1].met, Some(true));
    assert_eq!(rows[2].met, Some(true));
    assert!(rows[3]
        .what
        .starts_with("the first SEARCH after the server started"));
    assert_eq!(rows[3].ratio.as_deref(), Some("1.00×"));
    assert_eq!(rows[3].met, None);
    let alone = report.text_search_rows(Some(&steady), None);
    assert_eq!(alone[1].met, None);
}

#[test]
fn congvu_must_find_the_plan_and_dovecot_the_phrase() {
    let n = 50_000;
    let run = |found_text: usize, found_body: usize| SearchRun {
        searches: vec![
            SearchTimes {
                search: Search::Text,
                first: Duration::ZERO,
                warm: vec![Duration::ZERO],
                found: vec![found_text, found_text],
            },
            SearchTimes {
                search: Search::Body,
                first: Duration::ZERO,
                warm: vec![Duration::ZERO],
                found: vec![found_body, found_body],
            },
        ],
        import: None,
        index: None,
    };
    assert_eq!(check_found(ServerKind::Congvu, n, &run(400, 3_500)), Ok(()));
    assert_eq!(
        check_found(ServerKind::Congvu, n, &run(400, 1_000)),
        Err(
            "`SEARCH BODY \"ha noi\"`: the first found 1000 messages; the generator planted 3500"
                .to_string()
        )
    );
    assert_eq!(
        check_found(ServerKind::Dovecot, n, &run(250, 1_000)),
        Ok(())
    );
    assert!(check_found(ServerKind::Dovecot, n, &run(0, 1_000)).is_err());
}

/// Dovecot's figures with the plain official's searches taking 1 s and the FTS official's
/// `fts_warm` seconds after a first of 0.05 s, behind an index of 20 s.
fn dovecot_with_fts(fts_warm: &[f64]) -> Figures {
    let mut dovecot = figures(ServerKind::Dovecot, &[1.0, 1.0, 1.0]);
    let plain = dovecot.text_search.as_mut().expect("plain figures");
    plain.import = None;
    let mut fts = plain.clone();
    for t in &mut fts.searches {
        t.first = Duration::from_millis(50);
        t.warm = times(fts_warm);
        t.found = vec![30; fts_warm.len() + 1];
    }
    fts.index = Some(fts::FtsIndex {
        wall: Duration::from_secs(20),
        bytes: 3 * 1024 * 1024 / 2,
    });
    dovecot.text_search_fts = Some(fts);
    dovecot
}

#[test]
fn congvu_is_set_against_dovecot_with_fts_xapian_without_a_target() {
    let args = test_args(vec![Workload::I2]);
    let (machine, corpus) = (test_machine(), Corpus::default());
    let report = test_report(&args, &machine, &corpus);
    let congvu = figures(ServerKind::Congvu, &[0.4, 0.5, 0.6]);
    let dovecot = dovecot_with_fts(&[0.02, 0.03, 0.04]);
    let rows = report.text_search_rows(Some(&congvu), Some(&dovecot));
    assert_eq!(rows.len(), 8);
    // The rows still set congvu against Dovecot without FTS.
    assert_eq!(rows[1].ratio.as_deref(), Some("0.50×"));
    assert_eq!(rows[1].met, Some(false));
    let index = &rows[4];
    assert_eq!(index.id, "I2 FTS index");
    assert!(index
        .what
        .starts_with("`doveadm index` of the 50000 messages"));
    assert_eq!(index.ours, None);
    assert_eq!(index.reference.as_deref(), Some("20.0 s (2500/s)"));
    assert_eq!((index.ratio.as_deref(), index.met), (None, None));
    for (row, search) in rows[5..7].iter().zip(SEARCHES) {
        assert_eq!(
            row.what,
            format!(
                "`{}` in a 50000-message INBOX, against Dovecot with fts-xapian",
                search.command()
            )
        );
        assert_eq!(row.ours.as_deref(), Some("0.500 s [0.400 s–0.600 s]"));
        assert_eq!(row.reference.as_deref(), Some("0.030 s [0.020 s–0.040 s]"));
        assert_eq!(row.ratio.as_deref(), Some("16.67×"));
        assert_eq!((row.target, row.met), ("—", None));
    }
    let first = &rows[7];
    assert!(first
        .what
        .contains("fts-xapian's first after `doveadm index`"));
    assert_eq!(first.ratio.as_deref(), Some("40.00×"));
    assert_eq!(first.met, None);
    // Without the FTS figures the rows stay, empty on Dovecot's side.
    let plain = figures(ServerKind::Dovecot, &[1.0]);
    let rows = report.text_search_rows(Some(&congvu), Some(&plain));
    assert_eq!(rows[4].reference, None);
    assert_eq!(rows[5].reference, None);
    assert_eq!(rows[5].ratio, None);
}

#[test]
fn the_details_give_the_fts_index_and_counts() {
    let dovecot = dovecot_with_fts(&[0.02]);
    let fts = dovecot.text_search_fts.as_ref().expect("FTS figures");
    let details = fts.describe(50_000, "I2 with fts-xapian");
    assert!(
        details.starts_with(
            "I2 with fts-xapian: `doveadm index` took 20.0 s, leaving an index of 1.5 MiB; \
             `SEARCH TEXT \"công văn 2986\"` found 30 messages (planted for congvu's rules: \
             400), first 0.050 s, then 0.020 s; `SEARCH BODY"
        ),
        "{details}"
    );
    let plain = dovecot.text_search.as_ref().expect("plain figures");
    assert!(plain.describe(50_000, "I2").starts_with("I2: `SEARCH TEXT"));
}

#[test]
fn the_method_says_how_the_fts_official_is_configured() {
    let args = test_args(vec![Workload::I2]);
    let (machine, corpus) = (test_machine(), Corpus::default());
    let method = test_report(&args, &machine, &corpus).text_search_method();
    for words in [
        "**Dovecot with fts-xapian**",
        "`userdb_mail_plugins=fts,fts_xapian`",
        "`fts_xapian = partial=3 full=20\n  verbose=0`",
        "`doveadm index`",
    ] {
        assert!(method.contains(words), "{words} missing from\n{method}");
    }
}

#[test]
fn doveadm_indexes_the_fts_officials_inbox_through_the_private_instance() {
    assert_eq!(
        fts::doveadm_index_arguments(Path::new("/w/dovecot.conf"), "dung.pham"),
        ["-c", "/w/dovecot.conf", "index", "-u", "dung.pham", "INBOX"]
    );
}

#[test]
fn the_fts_index_must_be_the_fts_officials_alone() {
    let mail = tempfile::tempdir().expect("temporary directory");
    let (plain, fts_home) = (mail.path().join("cuong"), mail.path().join("dung"));
    let index = fts_home.join("Maildir/xapian-indexes/db_0123");
    std::fs::create_dir_all(&index).expect("index directory");
    std::fs::create_dir_all(plain.join("Maildir/cur")).expect("plain Maildir");
    std::fs::write(index.join("termlist.glass"), [0u8; 1000]).expect("index file");
    std::fs::write(index.join("../db_0123_exp.db"), [0u8; 24]).expect("index file");
    assert_eq!(fts::fts_index_bytes(&plain, &fts_home), Ok(1024));
    let missing = fts::fts_index_bytes(&plain, &plain).expect_err("no index");
    assert!(
        missing.ends_with("searched without fts-xapian"),
        "{missing}"
    );
    std::fs::create_dir_all(plain.join("Maildir/xapian-indexes")).expect("stray index");
    let stray = fts::fts_index_bytes(&plain, &fts_home).expect_err("a stray index");
    assert!(
        stray.ends_with("the official without FTS loaded fts-xapian"),
        "{stray}"
    );
}
