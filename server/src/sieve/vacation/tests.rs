use mail_parser::MessageParser;
use time::Duration;

use super::*;
use crate::sieve::{Answers, Copy, Delivery, Filters, Outcome, RedirectPolicy};

/// A script an official's mail client made: a header line, its `require`, one rule.
const CLIENT: &str = "# Bộ lọc của tôi (Thunderbird)\n\
require [\"fileinto\"];\n\
if header :contains \"subject\" \"Báo cáo\" { fileinto \"Báo cáo\"; }\n";

const MESSAGE: &str = "From: Nguyễn Thị Hồng Nhung <nhunglth@vinhphuc.gov.vn>\r\n\
To: An <an@vinhphuc.gov.vn>\r\n\
Subject: =?UTF-8?B?QsOhbyBjw6FvIHF1w70gNA==?=\r\n\
Message-ID: <bc-q4@vinhphuc.gov.vn>\r\n\
\r\n\
Anh An xem giúp em báo cáo quý 4.\r\n";

struct Folders;

impl Answers for Folders {
    fn is_served(&self, domain: &str) -> bool {
        domain == "vinhphuc.gov.vn"
    }

    fn folder_exists(&self, name: &str) -> bool {
        name == "Báo cáo"
    }
}

fn filters() -> Filters {
    Filters::new("mail.vinhphuc.gov.vn", RedirectPolicy::default())
}

/// Compiles `script` (it must) and runs it on [`MESSAGE`].
fn run(script: &str) -> Outcome {
    let filters = filters();
    let compiled = filters
        .compile(script.as_bytes())
        .unwrap_or_else(|e| panic!("{e}\n{script}"));
    let addresses = vec!["an@vinhphuc.gov.vn".to_owned()];
    let delivery = Delivery {
        message: MESSAGE.as_bytes(),
        sender: "nhunglth@vinhphuc.gov.vn",
        recipient: "an@vinhphuc.gov.vn",
        addresses: &addresses,
        name: "Nguyễn Văn An",
    };
    filters.run(&compiled, &delivery, &Folders)
}

/// The subject and text of the one reply an outcome holds.
fn reply_of(outcome: &Outcome) -> (String, String) {
    assert_eq!(outcome.replies.len(), 1, "{outcome:?}");
    let reply = MessageParser::new()
        .parse(&outcome.replies[0].message)
        .expect("the reply parses");
    let subject = reply.subject().unwrap_or_default().to_owned();
    let text = reply.body_text(0).unwrap_or_default().into_owned();
    (
        subject,
        text.trim_end_matches(['\r', '\n']).replace("\r\n", "\n"),
    )
}

fn on(subject: &str, message: &str) -> OutOfOffice {
    OutOfOffice::from_form(true, "", "", subject, message).unwrap()
}

fn day(text: &str) -> Date {
    parse_day(text).unwrap()
}

#[test]
fn the_default_block_is_vietnamese_and_says_exactly_this() {
    let setting = on(DEFAULT_SUBJECT, DEFAULT_MESSAGE);
    assert_eq!(
        setting.to_sieve(),
        "# BEGIN congvu out-of-office\n\
         # Written by the portal's \"Out of office\" page, which replaces it on every save.\n\
         require [\"vacation\", \"date\", \"relational\", \"encoded-character\"];\n\
         vacation :days 1 :subject \"Trả lời tự động: đang vắng mặt\" text:\n\
         Tôi đang vắng mặt và sẽ trả lời thư của anh/chị khi trở lại.\n\
         .\n\
         ;\n\
         # END congvu out-of-office\n"
    );
    let (subject, text) = reply_of(&run(&setting.to_sieve()));
    assert_eq!(subject, DEFAULT_SUBJECT);
    assert_eq!(text, DEFAULT_MESSAGE);
    assert_eq!(OutOfOffice::default().subject, DEFAULT_SUBJECT);
    assert!(!OutOfOffice::default().enabled);
}

#[test]
fn dates_become_currentdate_tests_in_vietnam_time() {
    let setting = OutOfOffice::from_form(
        true,
        "2026-12-20",
        "2027-01-03",
        "Nghỉ phép",
        "Tôi nghỉ phép.",
    )
    .unwrap();
    assert_eq!(
        setting.to_sieve(),
        "# BEGIN congvu out-of-office\n\
         # Written by the portal's \"Out of office\" page, which replaces it on every save.\n\
         require [\"vacation\", \"date\", \"relational\", \"encoded-character\"];\n\
         if allof (currentdate :zone \"+0700\" :value \"ge\" \"date\" \"2026-12-20\",\n          \
         currentdate :zone \"+0700\" :value \"le\" \"date\" \"2027-01-03\") {\n    \
         vacation :days 1 :subject \"Nghỉ phép\" text:\n\
         Tôi nghỉ phép.\n\
         .\n\
         ;\n\
         }\n\
         # END congvu out-of-office\n"
    );
    filters().compile(setting.to_sieve().as_bytes()).unwrap();
    let only_from = OutOfOffice::from_form(true, "2026-12-20", "", "", "x").unwrap();
    let block = only_from.to_sieve();
    assert!(
        block.contains(
            "if allof (currentdate :zone \"+0700\" :value \"ge\" \"date\" \"2026-12-20\") {\n"
        ),
        "{block}"
    );
    assert!(!block.contains("\"le\""), "{block}");
    filters().compile(block.as_bytes()).unwrap();
}

#[test]
fn replies_go_only_between_the_first_and_the_last_day() {
    // The interpreter reads the real clock: days around today, in Vietnam. What the portal
    // says of the setting (its standing) must agree with what delivery does.
    let today = crate::clock::Clock::system().now().in_vietnam().date();
    let iso = |d: Date| iso_day(d);
    let (before, after) = (today - Duration::days(2), today + Duration::days(2));
    let cases = [
        (Some(before), Some(after), 1, Standing::On),
        (Some(today), Some(today), 1, Standing::On),
        (Some(after), None, 0, Standing::Starts(after)),
        (None, Some(before), 0, Standing::Ended(before)),
        (None, Some(after), 1, Standing::On),
        (None, None, 1, Standing::On),
    ];
    for (from, to, replies, standing) in cases {
        let from = from.map(iso).unwrap_or_default();
        let to = to.map(iso).unwrap_or_default();
        let setting = OutOfOffice::from_form(true, &from, &to, "", "Vắng mặt.").unwrap();
        assert_eq!(setting.standing(today), standing, "{from}..{to}");
        let outcome = run(&setting.to_sieve());
        assert_eq!(outcome.replies.len(), replies, "{from}..{to}");
        assert_eq!(
            outcome.copies,
            vec![Copy::inbox(Vec::new())],
            "the mail is kept"
        );
    }
}

#[test]
fn a_setting_turned_off_stands_off_whatever_its_days() {
    let today = day("2026-12-20");
    assert_eq!(OutOfOffice::default().standing(today), Standing::Off);
    let mut off = on("Vắng mặt", "Tôi vắng mặt.");
    off.enabled = false;
    off.from = Some(day("2026-12-01"));
    assert_eq!(off.standing(today), Standing::Off);
}

#[test]
fn quotes_backslashes_dollars_and_dots_reach_the_reply_as_typed() {
    let subject = r#"Vắng "cả tuần" \ C:\new\"#;
    let message = "Dòng có \"ngoặc kép\" và \\ gạch chéo, C:\\temp\\new.\n\
                   .\n\
                   ..\n\
                   .bắt đầu bằng dấu chấm\n\
                   Biến ${không} và $${hex:24} và 100$\n\
                   # không phải chú thích\n\
                   Hết.";
    let setting = on(subject, message);
    let block = setting.to_sieve();
    // A line of one dot would end the text: it is written doubled, as are other dotted lines.
    assert!(block.contains("\n..\n...\n..bắt đầu"), "{block}");
    assert!(
        block.contains(r#":subject "Vắng \"cả tuần\" ${hex:5C} C:${hex:5C}new${hex:5C}""#),
        "{block}"
    );
    let (replied_subject, replied_text) = reply_of(&run(&block));
    assert_eq!(replied_subject, subject);
    assert_eq!(replied_text, message);
    assert_eq!(read(&block), Some(setting));
}

#[test]
fn a_client_script_keeps_its_rule_byte_for_byte_from_on_to_off() {
    let setting =
        OutOfOffice::from_form(true, "2020-01-01", "2099-12-31", "", DEFAULT_MESSAGE).unwrap();
    let merged = merge(CLIENT, &setting);
    let (head, rule) = CLIENT.split_at(CLIENT.find("if header").unwrap());
    assert_eq!(merged, format!("{head}{}{rule}", setting.to_sieve()));
    let outcome = run(&merged);
    assert_eq!(
        outcome.copies,
        vec![Copy {
            folder: Some("Báo cáo".into()),
            flags: Vec::new(),
            create: false
        }],
        "the client's rule still files"
    );
    assert_eq!(reply_of(&outcome).1, DEFAULT_MESSAGE);
    assert_eq!(read(&merged), Some(setting));

    let off = merge(&merged, &OutOfOffice::default());
    assert_eq!(off, CLIENT);
    assert_eq!(read(&off), None);
    assert!(run(&off).replies.is_empty());
}

#[test]
fn saving_again_replaces_the_block_and_never_adds_a_second() {
    let first = merge(CLIENT, &on("Đi công tác", "Tôi đi công tác."));
    let second = merge(&first, &on("Nghỉ phép", "Tôi nghỉ phép."));
    assert_eq!(second.matches(BEGIN_MARKER).count(), 1, "{second}");
    assert_eq!(second, merge(CLIENT, &on("Nghỉ phép", "Tôi nghỉ phép.")));
    assert_eq!(merge(&second, &on("Nghỉ phép", "Tôi nghỉ phép.")), second);
    assert_eq!(read(&second).unwrap().subject, "Nghỉ phép");
    assert_eq!(merge(&second, &OutOfOffice::default()), CLIENT);
    // Off when already off changes nothing.
    assert_eq!(merge(CLIENT, &OutOfOffice::default()), CLIENT);
}

#[test]
fn a_block_moved_below_the_rules_is_put_back_after_the_requires() {
    let moved = format!("{CLIENT}{}", on("A", "B").to_sieve());
    let merged = merge(&moved, &on("C", "D"));
    assert_eq!(merged, merge(CLIENT, &on("C", "D")));
    run(&merged);
}

#[test]
fn a_script_without_requires_gets_the_block_first() {
    let plain = "# chỉ có quy tắc\nif size :over 10M { discard; }\n";
    let merged = merge(plain, &on("A", "B"));
    assert_eq!(merged, format!("{}{plain}", on("A", "B").to_sieve()));
    run(&merged);
    assert_eq!(merge(&merged, &OutOfOffice::default()), plain);
    assert_eq!(merge("", &on("A", "B")), on("A", "B").to_sieve());
    assert_eq!(merge(&on("A", "B").to_sieve(), &OutOfOffice::default()), "");
    // The script of the official's own, turned off, is empty: it must still be storable.
    filters().compile(b"").unwrap();
}

#[test]
fn a_require_sharing_its_line_with_a_rule_or_ending_the_script_round_trips() {
    for client in [
        "require \"fileinto\"; if header :contains \"subject\" \"Báo cáo\" { fileinto \"Báo cáo\"; }",
        "require [\"fileinto\"];",
        "require [\"fileinto\"];   ",
        "require [\"fileinto\"]; # chú thích không xuống dòng",
        "require [\"fileinto\"]; /* chú thích */ if true { keep; }\n",
    ] {
        let merged = merge(client, &on("A", "B"));
        run(&merged);
        assert_eq!(read(&merged), Some(on("A", "B")), "{merged}");
        assert_eq!(merge(&merged, &on("A", "B")), merged, "{client}");
        assert_eq!(merge(&merged, &OutOfOffice::default()), client, "{merged}");
    }
}

#[test]
fn the_scanner_is_not_fooled_by_strings_and_comments() {
    let tricky = "/* require \"x\";\n*/ require [\"fileinto\", /* ; */ \"imap4flags\"] # ;\n\
                  ;\r\n\
                  require \"body\"; # cuối\r\n\
                  # BEGIN congvu out-of-office is only named here, not at the start of a line\r\n\
                  if body :text :contains \";\" { fileinto \"# END congvu out-of-office\"; }\r\n\
                  if true { addflag text:\r\n\
                  # BEGIN congvu out-of-office\r\n\
                  .\r\n\
                  ; }\r\n";
    filters().compile(tricky.as_bytes()).unwrap();
    assert!(
        !has_block(tricky),
        "markers inside strings and text: are not markers"
    );
    assert_eq!(read(tricky), None);
    let merged = merge(tricky, &on("A", "B"));
    let at = tricky.find("# BEGIN congvu out-of-office is").unwrap();
    assert_eq!(
        merged,
        format!(
            "{}{}{}",
            &tricky[..at],
            on("A", "B").to_sieve(),
            &tricky[at..]
        )
    );
    filters().compile(merged.as_bytes()).unwrap();
    assert_eq!(merge(&merged, &OutOfOffice::default()), tricky);
}

#[test]
fn crlf_scripts_come_back_whole() {
    let client = CLIENT.replace('\n', "\r\n");
    let merged = merge(&client, &on("A", "B"));
    run(&merged);
    assert_eq!(merge(&merged, &OutOfOffice::default()), client);
}

#[test]
fn a_hand_edited_block_still_reads_as_on() {
    let edited = "# BEGIN congvu out-of-office\nrequire \"vacation\";\n\
                  vacation :mime :days 3 :subject \"Sửa\" \"Sửa tay\";\n# END congvu out-of-office\n";
    let setting = read(edited).unwrap();
    assert!(setting.enabled);
    assert_eq!(
        (setting.subject.as_str(), setting.message.as_str()),
        ("Sửa", "Sửa tay")
    );
    assert_eq!((setting.from, setting.to), (None, None));
    assert_eq!(merge(edited, &OutOfOffice::default()), "");
    // Without its end line a block is not taken for one, and is not cut out.
    let open = "# BEGIN congvu out-of-office\nkeep;\n";
    assert_eq!(read(open), None);
    assert_eq!(merge(open, &OutOfOffice::default()), open);
}

#[test]
fn days_are_exactly_yyyy_mm_dd_and_real() {
    assert_eq!(iso_day(day("2026-03-16")), "2026-03-16");
    assert_eq!(
        parse_day("2028-02-29").map(iso_day).as_deref(),
        Some("2028-02-29")
    );
    for bad in [
        "16/03/2026",
        "2026-3-16",
        "2026-02-30",
        "2027-02-29",
        "2026-13-01",
        "2026-03-16 ",
        "+026-03-16",
        "２０２６-03-16",
        "",
    ] {
        assert_eq!(parse_day(bad), None, "{bad:?}");
    }
}

#[test]
fn bad_input_is_refused_with_its_reason() {
    let refused = |from: &str, to: &str, subject: &str, message: &str| {
        OutOfOffice::from_form(true, from, to, subject, message).unwrap_err()
    };
    assert_eq!(
        refused("16/03/2026", "", "", "x"),
        OutOfOfficeError::BadFrom
    );
    assert_eq!(refused("", "2026-02-30", "", "x"), OutOfOfficeError::BadTo);
    assert_eq!(
        refused("2026-03-16", "2026-03-15", "", "x"),
        OutOfOfficeError::EndsBeforeStart
    );
    let same_day = OutOfOffice::from_form(true, "2026-03-16", "2026-03-16", "", "x").unwrap();
    assert_eq!(
        (same_day.from, same_day.to),
        (Some(day("2026-03-16")), Some(day("2026-03-16")))
    );
    assert_eq!(refused("", "", "", ""), OutOfOfficeError::NoMessage);
    assert_eq!(
        refused("", "", "", " \r\n\t\r\n"),
        OutOfOfficeError::NoMessage
    );

    let subject = "ắ".repeat(MAX_SUBJECT_CHARS);
    assert_eq!(on(&subject, "x").subject, subject);
    assert_eq!(
        refused("", "", &format!("{subject}a"), "x"),
        OutOfOfficeError::SubjectTooLong
    );
    let message = "ệ".repeat(MAX_MESSAGE_CHARS);
    assert_eq!(on("", &message).message, message);
    assert_eq!(
        refused("", "", "", &format!("{message}a")),
        OutOfOfficeError::MessageTooLong
    );

    // Off is always accepted, whatever the other fields hold, and stores nothing of them.
    assert_eq!(
        OutOfOffice::from_form(false, "hôm nay", "2000-01-01", &"x".repeat(999), "").unwrap(),
        OutOfOffice::default()
    );
}

#[test]
fn typed_text_is_tidied_before_it_is_written() {
    let setting = on(
        "  Nghỉ\r\nphép\t ",
        "Dòng một\r\nDòng hai\rDòng ba\u{7}\n\n  \n",
    );
    assert_eq!(setting.subject, "Nghỉ  phép");
    assert_eq!(setting.message, "Dòng một\nDòng hai\nDòng ba");
    assert_eq!(on("   ", "x").subject, DEFAULT_SUBJECT);
}

#[test]
fn the_longest_reply_in_vietnamese_compiles_and_is_sent_whole() {
    let line = "Tôi đang đi công tác tại Hà Nội; việc gấp xin liên hệ chị Nhung.\n";
    let mut message: String = line.repeat(MAX_MESSAGE_CHARS / line.chars().count() + 1);
    message = message.chars().take(MAX_MESSAGE_CHARS).collect();
    let setting = on(&"Đ".repeat(MAX_SUBJECT_CHARS), &message);
    let merged = merge(CLIENT, &setting);
    let (subject, text) = reply_of(&run(&merged));
    assert_eq!(subject, setting.subject);
    assert_eq!(text, setting.message);
    assert_eq!(read(&merged), Some(setting));
}
