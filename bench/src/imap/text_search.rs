//! I2: SEARCH over text in a large mailbox (`--search-messages`, 50,000 by default), the
//! third official's INBOX on both servers: `SEARCH TEXT "công văn 2986"` and `SEARCH BODY
//! "ha noi"`. The mailbox is varied official mail (Vietnamese with diacritics, subjects as
//! B and Q encoded-words, bodies 8bit, quoted-printable or base64, some HTML, some with a
//! PDF attached), written once as a Maildir that `congvu-admin mailbox import` brings into
//! congvu before it starts and that Dovecot serves as is, as I3's is.
//!
//! Each message is a pure function of its number, and [`Plant::of`] says what it carries:
//! the phrase, Hà Nội in one spelling or another, or a near miss of either. From that plan
//! come the counts congvu must answer under its matching rules (`mailstore::text`: case
//! ignored, diacritics folded when the search string has none, any run of whitespace read as
//! one space). Dovecot, without an FTS plugin, does not fold diacritics: its counts are
//! recorded, and checked only to find the phrase at all. The same Dovecot also answers the
//! searches for a fourth official holding the same files with fts-xapian loaded ([`fts`]).
//!
//! This module owns the generator, the measurement and I2's part of the report; it writes
//! only into the Maildirs of the officials it is given.

use std::io;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::{Duration, Instant};

use mail_builder::encoders::base64::base64_encode_mime;
use mail_builder::encoders::quoted_printable::{
    inline_quoted_printable_encode, quoted_printable_encode,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::admin::Official;
use crate::figures::{bytes_roughly, per_second, seconds, spreads};
use crate::report::Row;
use crate::server::HOSTNAME;

/// I2's two searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Search {
    /// `TEXT "công văn 2986"`: header fields and body; the string has marks, so only the same
    /// letters match.
    Text,
    /// `BODY "ha noi"`: body text only; the string has no marks, so every spelling of Hà Nội
    /// matches.
    Body,
}

/// The searches in the order each session sends them.
pub(super) const SEARCHES: [Search; 2] = [Search::Text, Search::Body];

impl Search {
    pub(super) fn key(self) -> &'static str {
        match self {
            Search::Text => "TEXT",
            Search::Body => "BODY",
        }
    }

    pub(super) fn string(self) -> &'static str {
        match self {
            Search::Text => "công văn 2986",
            Search::Body => "ha noi",
        }
    }

    /// The search as the report shows it.
    pub(super) fn command(self) -> String {
        format!("SEARCH {} \"{}\"", self.key(), self.string())
    }

    /// How many of the first `n` messages congvu must find.
    pub(super) fn planted(self, n: usize) -> usize {
        (0..n)
            .filter(|&i| Plant::of(i).is_some_and(|p| p.found_by(self)))
            .count()
    }
}

/// Where a planted text sits in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spot {
    /// The Subject, and nowhere else.
    Subject,
    /// A paragraph of the body, and nowhere else.
    Body,
}

/// What a planted text is to the searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `công văn 2986` in some case and spacing: TEXT finds it.
    Phrase,
    /// Like the phrase but not it (another number, another word between, no marks).
    NearPhrase,
    /// Hà Nội with marks, without, or in capitals: BODY finds it in a body.
    Place,
    /// Other places and words sharing its letters.
    NearPlace,
}

/// A text planted in one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plant {
    pub(super) kind: Kind,
    pub(super) spot: Spot,
    pub(super) text: &'static str,
}

const fn plant(kind: Kind, spot: Spot, text: &'static str) -> Plant {
    Plant { kind, spot, text }
}

/// What message `i % 1000` carries of the phrase: eight that TEXT finds (two by the Subject
/// alone; in bodies as typed, wrapped by the sender's client, with runs of spaces, in
/// capitals), four near misses. None of these numbers is that of a [`PLACE_SLOTS`] entry
/// modulo 100.
const PHRASE_SLOTS: [(usize, Plant); 12] = {
    use Kind::*;
    use Spot::*;
    [
        (
            12,
            plant(Phrase, Subject, "V/v triển khai công văn 2986/UBND-VP"),
        ),
        (
            123,
            plant(
                Phrase,
                Subject,
                "Fwd: CÔNG VĂN 2986/UBND-VP VỀ KẾ HOẠCH NĂM 2026",
            ),
        ),
        (
            234,
            plant(
                Phrase,
                Body,
                "Thực hiện công văn 2986/UBND-VP ngày 12/3/2026 của Ủy ban nhân dân tỉnh về \
                 việc triển khai kế hoạch năm 2026, Sở báo cáo như sau:",
            ),
        ),
        (
            345,
            plant(
                Phrase,
                Body,
                "Đề nghị các đơn vị nghiên cứu kỹ công văn\r\n2986/UBND-VP và báo cáo kết \
                 quả trước ngày 20/3/2026.",
            ),
        ),
        (
            456,
            plant(
                Phrase,
                Body,
                "Công văn 2986/UBND-VP được gửi kèm theo thư này (bản chụp có chữ ký).",
            ),
        ),
        (
            567,
            plant(
                Phrase,
                Body,
                "Căn cứ công  văn   2986 của Văn phòng UBND tỉnh,",
            ),
        ),
        (
            678,
            plant(
                Phrase,
                Body,
                "Phúc đáp công văn\r\n    2986/UBND-VP, Sở Y tế báo cáo như sau:",
            ),
        ),
        (
            789,
            plant(Phrase, Body, "CĂN CỨ CÔNG VĂN 2986/UBND-VP NGÀY 12/3/2026"),
        ),
        (
            890,
            plant(NearPhrase, Subject, "V/v triển khai công văn 2987/UBND-VP"),
        ),
        (
            901,
            plant(
                NearPhrase,
                Body,
                "Căn cứ công văn số 2986/UBND-VP ngày 12/3/2026,",
            ),
        ),
        (
            960,
            plant(
                NearPhrase,
                Body,
                "Theo cong van 2986/UBND-VP (gui ban khong dau),",
            ),
        ),
        (
            70,
            plant(
                NearPhrase,
                Body,
                "Thực hiện công văn 2968/UBND-VP và công văn 298/SYT,",
            ),
        ),
    ]
};

/// What message `i % 100` carries of Hà Nội: seven bodies BODY finds (with marks, without,
/// in capitals, wrapped), one Subject it must not look at, one body of look-alikes.
const PLACE_SLOTS: [(usize, Plant); 9] = {
    use Kind::*;
    use Spot::*;
    [
        (
            5,
            plant(
                Place,
                Body,
                "Đoàn công tác của Tỉnh ủy làm việc tại Hà Nội từ ngày 15 đến ngày 17/4/2026.",
            ),
        ),
        (
            17,
            plant(
                Place,
                Body,
                "Địa điểm: Hội trường tầng 3, số 8 Tôn Thất Thuyết, Hà Nội.",
            ),
        ),
        (
            29,
            plant(
                Place,
                Body,
                "Dia chi nhan ho so: 12 Ngo Quyen, Hoan Kiem, Ha Noi.",
            ),
        ),
        (
            38,
            plant(
                Place,
                Body,
                "Address: 8 Ton That Thuyet, Cau Giay, Ha Noi, Viet Nam",
            ),
        ),
        (
            50,
            plant(Place, Body, "BỘ NỘI VỤ - HÀ NỘI, NGÀY 20 THÁNG 3 NĂM 2026"),
        ),
        (
            63,
            plant(Place, Body, "HỘI NGHỊ TRỰC TUYẾN TẠI ĐIỂM CẦU HÀ NỘI"),
        ),
        (
            76,
            plant(
                Place,
                Body,
                "Các đại biểu dự hội nghị tại Hà\r\nNội được bố trí phòng nghỉ theo danh \
                 sách gửi kèm.",
            ),
        ),
        (
            88,
            plant(Place, Subject, "Lịch làm việc với các bộ, ngành tại Hà Nội"),
        ),
        (
            94,
            plant(
                NearPlace,
                Body,
                "Đoàn đi Hà Nam và Hà Tĩnh; Sở Nội vụ tổng hợp danh sách.",
            ),
        ),
    ]
};

impl Plant {
    /// What message `i` carries, if anything.
    pub(super) fn of(i: usize) -> Option<Plant> {
        let at = |slots: &[(usize, Plant)], slot: usize| {
            slots.iter().find(|(s, _)| *s == slot).map(|(_, p)| *p)
        };
        at(&PHRASE_SLOTS, i % 1000).or_else(|| at(&PLACE_SLOTS, i % 100))
    }

    /// Whether congvu's answer to `search` holds the message carrying this.
    pub(super) fn found_by(self, search: Search) -> bool {
        match search {
            // TEXT reads every header field and the body.
            Search::Text => self.kind == Kind::Phrase,
            Search::Body => self.kind == Kind::Place && self.spot == Spot::Body,
        }
    }
}

/// How a text part's bytes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Encoding {
    EightBit,
    QuotedPrintable,
    Base64,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::EightBit => "8bit",
            Encoding::QuotedPrintable => "quoted-printable",
            Encoding::Base64 => "base64",
        }
    }

    /// `bytes` in this encoding, ending with a line end.
    fn encode(self, bytes: &[u8]) -> Vec<u8> {
        let mut out = written(|out| match self {
            Encoding::EightBit => io::Write::write_all(out, bytes).map(|()| bytes.len()),
            Encoding::QuotedPrintable => quoted_printable_encode(bytes, out, true),
            Encoding::Base64 => base64_encode_mime(bytes, out, false),
        });
        if !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

/// What `write` writes into a new buffer.
#[allow(
    clippy::expect_used,
    reason = "a Vec<u8> accepts every write, and the encoders fail only when their output does"
)]
fn written(write: impl FnOnce(&mut Vec<u8>) -> io::Result<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out).expect("a Vec<u8> accepts every write");
    out
}

/// The MIME shape of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Form {
    /// One text/plain part.
    Plain(Encoding),
    /// multipart/alternative: the letter as text/plain and as text/html.
    Alternative,
    /// One text/html part, as some webmail sends.
    Html,
    /// multipart/mixed: the letter as text/plain and a PDF of a few KiB in base64.
    Attachment,
}

/// The forms in the proportions the mailbox has them.
const FORMS: [Form; 10] = [
    Form::Plain(Encoding::EightBit),
    Form::Plain(Encoding::QuotedPrintable),
    Form::Alternative,
    Form::Plain(Encoding::EightBit),
    Form::Plain(Encoding::Base64),
    Form::Plain(Encoding::QuotedPrintable),
    Form::Attachment,
    Form::Plain(Encoding::EightBit),
    Form::Html,
    Form::Alternative,
];

/// A number that moves on with `i`, its hundreds and its thousands, so that the messages at
/// one slot of [`PHRASE_SLOTS`] or [`PLACE_SLOTS`] take every form and encoding in turn.
fn turn(i: usize) -> usize {
    i + i / 100 + i / 1000
}

impl Form {
    pub(super) fn of(i: usize) -> Form {
        FORMS[turn(i) % FORMS.len()]
    }

    /// Bytes of letter text that make a message of about `target` bytes: the rest is header
    /// and the growth of the text in its `encodings`.
    fn text_budget(self, (text, html): (Encoding, Option<Encoding>), target: usize) -> usize {
        let growth = |encoding| match encoding {
            Encoding::EightBit => 1.0,
            // Vietnamese text is about a third non-ASCII bytes, three characters each.
            Encoding::QuotedPrintable => 1.95,
            Encoding::Base64 => 1.37,
        };
        // The HTML copy of a letter is a fifth longer than its text; alone, its tags are
        // fewer.
        let per_byte = match self {
            Form::Html => 1.05 * growth(text),
            _ => growth(text) + html.map_or(0.0, |html| 1.2 * growth(html)),
        };
        let fixed = match self {
            Form::Alternative | Form::Attachment => 1_300,
            _ => 1_000,
        };
        (target.saturating_sub(fixed) as f64 / per_byte) as usize
    }
}

/// Whether message `i`'s text parts take the second of their two encodings (and its
/// Subject Q rather than B).
fn second_choice(i: usize) -> bool {
    turn(i) / FORMS.len() % 2 == 1
}

/// How message `i`'s text parts are sent: the part holding the letter as text (as HTML in
/// [`Form::Html`]), and the HTML alternative of [`Form::Alternative`].
pub(super) fn encodings(i: usize, form: Form) -> (Encoding, Option<Encoding>) {
    use Encoding::*;
    match form {
        Form::Plain(encoding) => (encoding, None),
        Form::Html => (QuotedPrintable, None),
        Form::Alternative if second_choice(i) => (QuotedPrintable, Some(Base64)),
        Form::Alternative => (EightBit, Some(QuotedPrintable)),
        Form::Attachment if second_choice(i) => (QuotedPrintable, None),
        Form::Attachment => (EightBit, None),
    }
}

/// The sizes messages are built to, drawn log-uniformly.
pub(super) const SEARCH_BYTES: RangeInclusive<usize> = 1024..=30 * 1024;

/// Who writes to the mailbox's owner: display name, address, and the line under the name
/// in the signature.
const WRITERS: [(&str, &str, &str); 12] = [
    (
        "Văn phòng UBND tỉnh",
        "vanphong@vinhphuc.gov.vn",
        "Phòng Hành chính - Tổ chức",
    ),
    (
        "Sở Tài chính",
        "stc@vinhphuc.gov.vn",
        "Phòng Quản lý ngân sách",
    ),
    (
        "Sở Nội vụ",
        "snv@vinhphuc.gov.vn",
        "Phòng Tổ chức, biên chế",
    ),
    ("Sở Y tế", "syt@vinhphuc.gov.vn", "Phòng Nghiệp vụ y"),
    (
        "Sở Giáo dục và Đào tạo",
        "sgddt@vinhphuc.gov.vn",
        "Văn phòng Sở",
    ),
    (
        "Nguyễn Thị Hương",
        "huong.nt@snv.vinhphuc.gov.vn",
        "Phòng Công chức, viên chức - Sở Nội vụ",
    ),
    (
        "Trần Quốc Tuấn",
        "tuan.tq@skhdt.vinhphuc.gov.vn",
        "Phòng Tổng hợp - Sở Kế hoạch và Đầu tư",
    ),
    (
        "Lê Minh Đạt",
        "dat.lm@stttt.vinhphuc.gov.vn",
        "Trung tâm Công nghệ thông tin",
    ),
    (
        "Phạm Thu Hà",
        "ha.pt@stc.vinhphuc.gov.vn",
        "Phòng Tài chính hành chính sự nghiệp",
    ),
    (
        "Hoàng Văn Nam",
        "nam.hv@sxd.vinhphuc.gov.vn",
        "Phòng Quản lý xây dựng",
    ),
    (
        "UBND huyện Tam Dương",
        "ubnd@tamduong.vinhphuc.gov.vn",
        "Văn phòng HĐND và UBND huyện",
    ),
    (
        "Đỗ Thị Lan",
        "lan.dt@sgtvt.vinhphuc.gov.vn",
        "Phòng Kế hoạch - Tài chính",
    ),
];

const GREETINGS: [&str; 4] = [
    "Kính gửi: Các sở, ban, ngành tỉnh",
    "Kính gửi: Ủy ban nhân dân các huyện, thành phố",
    "Kính gửi đồng chí,",
    "Kính gửi: Văn phòng Tỉnh ủy",
];

/// Message `i` of I2's mailbox, to `to`; the same `i` always gives the same bytes.
pub(super) fn search_message(i: usize, to: &str) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(2_986_000_000 + i as u64);
    let plant = Plant::of(i);
    let form = Form::of(i);
    let writer = WRITERS[rng.random_range(0..WRITERS.len())];
    let (low, high) = (*SEARCH_BYTES.start() as f64, *SEARCH_BYTES.end() as f64);
    let target = (low * (high / low).powf(rng.random::<f64>())) as usize;
    let pdf_bytes = match form {
        Form::Attachment => rng.random_range(2_048..=6_144),
        _ => 0,
    };
    let budget = form.text_budget(encodings(i, form), target.saturating_sub(pdf_bytes * 4 / 3));
    let in_body = plant.filter(|p| p.spot == Spot::Body);
    let text = letter(&mut rng, in_body, writer, budget);
    let in_subject = plant.filter(|p| p.spot == Spot::Subject);
    let subject = subject(&mut rng, i, in_subject);
    let body = body(i, form, &text, pdf_bytes, &mut rng);
    let mut message = header(i, to, writer, &subject, &mut rng).into_bytes();
    message.extend_from_slice(body.header.as_bytes());
    message.extend_from_slice(b"\r\n");
    message.extend_from_slice(&body.content);
    message
}

/// The message's header fields down to `MIME-Version`.
fn header(
    i: usize,
    to: &str,
    (name, address, _): (&str, &str, &str),
    subject: &str,
    rng: &mut StdRng,
) -> String {
    // Ten minutes apart on average from 1 January 2026, written in Vietnam's zone.
    let sent = FIRST_DATE + i as i64 * 600 + rng.random_range(0..600);
    let date = mail_builder::headers::date::Date::new(sent + 7 * 3_600)
        .to_rfc822()
        .replace("+0000", "+0700");
    let reply = if i % 7 == 3 {
        format!("In-Reply-To: <i2.{}@vinhphuc.gov.vn>\r\n", i - 1)
    } else {
        String::new()
    };
    format!(
        "Return-Path: <{address}>\r\n\
         Received: from mail.vinhphuc.gov.vn (mail.vinhphuc.gov.vn [10.20.0.5])\r\n\
         \tby {HOSTNAME} with ESMTPS id {i:08x}\r\n\
         \tfor <{to}>; {date}\r\n\
         From: {from} <{address}>\r\n\
         To: {to}\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <i2.{i}@vinhphuc.gov.vn>\r\n\
         {reply}\
         MIME-Version: 1.0\r\n",
        from = encoded_words(name, false),
    )
}

/// The Subject's value: `plant`'s text, or a matter of the office's with a document number,
/// as encoded-words.
fn subject(rng: &mut StdRng, i: usize, plant: Option<Plant>) -> String {
    let text = match plant {
        Some(plant) => plant.text.to_string(),
        None => {
            let count = rng.random_range(4..9);
            let words: Vec<&str> = (0..count)
                .map(|_| WORDS_VI[rng.random_range(0..WORDS_VI.len())])
                .collect();
            let prefix = ["", "", "", "Re: ", "Fwd: "][i % 5];
            let unit = ["UBND-VP", "STC-NS", "SNV-TCBC", "SYT-NVY", "SGDĐT-VP"][i % 5];
            let number = rng.random_range(1..4_000);
            format!("{prefix}V/v {} (số {number}/{unit})", words.join(" "))
        }
    };
    encoded_words(&text, second_choice(i))
}

/// `text` as RFC 2047 encoded-words in UTF-8, Q when `q` and B otherwise, each short enough
/// for its line, folded onto continuation lines: a decoder joins adjacent encoded-words and
/// drops the folding between them (RFC 2047 §6.2). A word never splits a character.
fn encoded_words(text: &str, q: bool) -> String {
    // Encoded lengths that keep each line within 76 characters after `Subject: `.
    let (limit, prefix) = if q {
        (50, "=?utf-8?Q?")
    } else {
        (39, "=?utf-8?B?")
    };
    let cost = |c: char| {
        let mut utf8 = [0; 4];
        let bytes = c.encode_utf8(&mut utf8).as_bytes();
        if q {
            written(|out| inline_quoted_printable_encode(bytes, out)).len()
        } else {
            bytes.len()
        }
    };
    let mut chunks = vec![String::new()];
    let mut size = 0;
    for c in text.chars() {
        if size + cost(c) > limit {
            chunks.push(String::new());
            size = 0;
        }
        size += cost(c);
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(c);
        }
    }
    let words: Vec<String> = chunks
        .iter()
        .map(|chunk| {
            let encoded = written(|out| {
                if q {
                    inline_quoted_printable_encode(chunk.as_bytes(), out)
                } else {
                    base64_encode_mime(chunk.as_bytes(), out, true)
                }
            });
            format!("{prefix}{}?=", String::from_utf8_lossy(&encoded))
        })
        .collect();
    words.join("\r\n ")
}

/// The letter: a greeting, perhaps a citation, about `budget` bytes of paragraphs, `plant`'s
/// paragraph somewhere after the greeting, the closing and the writer's signature; CRLF
/// line ends.
fn letter(
    rng: &mut StdRng,
    plant: Option<Plant>,
    (name, _, unit): (&str, &str, &str),
    budget: usize,
) -> String {
    let mut paragraphs = vec![GREETINGS[rng.random_range(0..GREETINGS.len())].to_string()];
    if rng.random_bool(0.5) {
        paragraphs.push(format!(
            "Căn cứ Kế hoạch số {}/KH-UBND ngày {}/{}/2026 của Ủy ban nhân dân tỉnh;",
            rng.random_range(1..4_000),
            rng.random_range(1..29),
            rng.random_range(1..13),
        ));
    }
    let mut size = 0;
    while size < budget.max(1) {
        let mut paragraph = String::new();
        let sentences = rng.random_range(1..5);
        super::corpus::paragraph(rng, &WORDS_VI, sentences, 6..16, &mut paragraph);
        size += paragraph.len();
        paragraphs.push(paragraph);
    }
    if let Some(plant) = plant {
        let at = rng.random_range(1..=paragraphs.len());
        paragraphs.insert(at, plant.text.to_string());
    }
    paragraphs.push(format!(
        "Trân trọng./.\r\n\r\nNơi nhận:\r\n- Như trên;\r\n- Lưu: VT.\r\n\r\n{name}\r\n{unit}"
    ));
    paragraphs.join("\r\n\r\n") + "\r\n"
}

/// The letter as HTML, with the no-break space Outlook puts inside Hà Nội.
fn html_letter(text: &str) -> String {
    html(text).replace("Hà Nội", "Hà&nbsp;Nội")
}

/// One body part as written: its MIME header fields and its encoded content.
#[derive(Debug)]
struct Part {
    header: String,
    content: Vec<u8>,
}

fn text_part(subtype: &str, text: &str, encoding: Encoding) -> Part {
    Part {
        header: format!(
            "Content-Type: text/{subtype}; charset=utf-8\r\n\
             Content-Transfer-Encoding: {}\r\n",
            encoding.name()
        ),
        content: encoding.encode(text.as_bytes()),
    }
}

/// A PDF-like attachment of `bytes` bytes, its stream random.
fn pdf_part(i: usize, bytes: usize, rng: &mut StdRng) -> Part {
    let mut stream = vec![0u8; bytes];
    rng.fill(stream.as_mut_slice());
    let mut pdf = format!(
        "%PDF-1.4\n%\u{e2}\u{e3}\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
         4 0 obj\n<< /Length {bytes} /Filter /FlateDecode >>\nstream\n"
    )
    .into_bytes();
    pdf.extend_from_slice(&stream);
    pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
    let name = format!("KH-{}-UBND.pdf", 100 + i % 900);
    Part {
        header: format!(
            "Content-Type: application/pdf; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n"
        ),
        content: Encoding::Base64.encode(&pdf),
    }
}

/// `parts` as one multipart part; `=_` in the boundary cannot occur in quoted-printable or
/// base64 text (RFC 2045 §6.7, §6.8).
fn multipart(subtype: &str, i: usize, parts: &[Part]) -> Part {
    let boundary = format!("----=_Part_{i}_{subtype}");
    let mut content = b"This is a multi-part message in MIME format.\r\n".to_vec();
    for part in parts {
        content.extend_from_slice(format!("--{boundary}\r\n{}\r\n", part.header).as_bytes());
        content.extend_from_slice(&part.content);
    }
    content.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Part {
        header: format!("Content-Type: multipart/{subtype};\r\n\tboundary=\"{boundary}\"\r\n"),
        content,
    }
}

/// The body of message `i` in `form`.
fn body(i: usize, form: Form, text: &str, pdf_bytes: usize, rng: &mut StdRng) -> Part {
    let (encoding, html_encoding) = encodings(i, form);
    match form {
        Form::Plain(_) => text_part("plain", text, encoding),
        Form::Html => text_part("html", &html_letter(text), encoding),
        Form::Alternative => {
            let parts = [
                text_part("plain", text, encoding),
                text_part(
                    "html",
                    &html_letter(text),
                    html_encoding.unwrap_or(encoding),
                ),
            ];
            multipart("alternative", i, &parts)
        }
        Form::Attachment => {
            let parts = [
                text_part("plain", text, encoding),
                pdf_part(i, pdf_bytes, rng),
            ];
            multipart("mixed", i, &parts)
        }
    }
}

/// The official whose INBOX I2 searches: the third, as the first holds I1's mailbox and
/// the second I3's.
pub(super) fn search_owner(officials: &[Official]) -> &Official {
    &officials[2]
}

/// I2's mailbox on both servers when I2 is asked for, and its copy for Dovecot's FTS
/// official; how long congvu's import took.
pub(super) fn prepare_if_asked(
    args: &ImapArgs,
    work: &Path,
    config: &Path,
    officials: &[Official],
) -> anyhow::Result<Option<Duration>> {
    if !args.workloads.contains(&Workload::I2) {
        return Ok(None);
    }
    let owner = search_owner(officials);
    let n = args.search_messages;
    let home = work.join("dovecot-mail").join(&owner.login);
    println!(
        "I2: writing {n} messages as a Maildir ({} with `{}`, {} with Hà Nội in the body)",
        Search::Text.planted(n),
        Search::Text.string(),
        Search::Body.planted(n),
    );
    let started = Instant::now();
    let bytes = write_maildir(&home, n, &owner.address)?;
    println!(
        "  {:.1} s, {}",
        started.elapsed().as_secs_f64(),
        bytes_roughly(bytes as f64)
    );
    let maildir = home.join("Maildir");
    let fts = &fts::fts_owner(officials).login;
    let linked = fts::link_maildir(&maildir, &work.join("dovecot-mail").join(fts))?;
    println!("  the same {linked} files hard-linked into {fts}'s Maildir, for Dovecot's FTS");
    super::large::import_maildir(args, config, "I2", &owner.login, &maildir).map(Some)
}

/// Messages `0..count` as Maildir files in `home`'s `Maildir/cur/`, every fourth unread, all
/// of it Dovecot's mail user's; returns the bytes written.
fn write_maildir(home: &Path, count: usize, to: &str) -> anyhow::Result<u64> {
    let cur = super::large::empty_maildir(home)?;
    let mut bytes = 0;
    for i in 0..count {
        let message = search_message(i, to);
        let seen = if i % 4 == 3 { "" } else { "S" };
        let name = cur.join(format!(
            "{}.M{i}P2.congvu-bench:2,{seen}",
            1_760_000_000 + i
        ));
        std::fs::write(&name, &message)?;
        super::large::give_to_vmail(&name)?;
        bytes += message.len() as u64;
    }
    Ok(bytes)
}

/// What I2 measured on one server.
#[derive(Debug, Clone)]
pub(super) struct SearchRun {
    /// One for each of [`SEARCHES`], in that order.
    pub(super) searches: Vec<SearchTimes>,
    /// congvu only: how long `congvu-admin mailbox import` took to bring the mailbox in.
    pub(super) import: Option<Duration>,
    /// Dovecot with fts-xapian only: the index built before the searches.
    pub(super) index: Option<fts::FtsIndex>,
}

/// One search's times and answers on one server.
#[derive(Debug, Clone)]
pub(super) struct SearchTimes {
    pub(super) search: Search,
    /// The first of this search after the server started.
    pub(super) first: Duration,
    /// Each one after it.
    pub(super) warm: Vec<Duration>,
    /// Messages found: by the first, then by each warm one.
    pub(super) found: Vec<usize>,
}

impl SearchRun {
    pub(super) fn times(&self, search: Search) -> Option<&SearchTimes> {
        self.searches.iter().find(|t| t.search == search)
    }

    /// Every search's answers and times, and the index if any, for the report's details
    /// under `label`.
    pub(super) fn describe(&self, n: usize, label: &str) -> String {
        let each: Vec<String> = self
            .index
            .iter()
            .map(fts::FtsIndex::describe)
            .chain(self.searches.iter().map(|t| {
                let mut found = t.found.clone();
                found.dedup();
                let found: Vec<String> = found.iter().map(usize::to_string).collect();
                let warm: Vec<String> = t.warm.iter().map(|d| seconds(d.as_secs_f64())).collect();
                format!(
                    "`{}` found {} messages (planted for congvu's rules: {}), first {}, then {}",
                    t.search.command(),
                    found.join(", then "),
                    t.search.planted(n),
                    seconds(t.first.as_secs_f64()),
                    warm.join(", ")
                )
            }))
            .collect();
        format!("{label}: {}", each.join("; "))
    }
}

/// congvu must find exactly what was planted, every time; Dovecot, which does not fold
/// diacritics, must at least find the phrase typed with its marks.
pub(super) fn check_found(kind: ServerKind, n: usize, run: &SearchRun) -> Result<(), String> {
    for t in &run.searches {
        let planted = t.search.planted(n);
        let wrong = match kind {
            ServerKind::Congvu => t.found.iter().position(|&found| found != planted),
            ServerKind::Dovecot if t.search == Search::Text => {
                t.found.iter().position(|&found| found == 0)
            }
            ServerKind::Dovecot => None,
        };
        if let Some(k) = wrong {
            let which = if k == 0 {
                "the first".to_string()
            } else {
                format!("warm search {k}")
            };
            return Err(format!(
                "`{}`: {which} found {} messages; the generator planted {planted}",
                t.search.command(),
                t.found[k]
            ));
        }
    }
    Ok(())
}

impl Bench<'_> {
    /// I2: on each server in turn, one session selects the INBOX and sends each search once
    /// and then `--runs` more times, every answer counted; on Dovecot, then the same through
    /// fts-xapian.
    pub(super) fn measure_text_search(
        &self,
        servers: &[Server],
        figures: &mut [Figures],
    ) -> anyhow::Result<()> {
        let n = self.args.search_messages;
        let owner = &search_owner(self.officials).login;
        for (server, f) in servers.iter().zip(figures.iter_mut()) {
            println!("I2: {}, SEARCH in {n} messages", server.kind.name());
            let import = self
                .search_import
                .filter(|_| server.kind == ServerKind::Congvu);
            let run = self
                .runtime
                .block_on(self.search_session(server, owner))
                .map(|searches| SearchRun {
                    searches,
                    import,
                    index: None,
                })
                .and_then(|run| check_found(server.kind, n, &run).map(|()| run))
                .map_err(|e| anyhow::anyhow!("{}: I2: {e}", server.kind.name()))?;
            print_run(n, &run);
            f.text_search = Some(run);
            if server.kind == ServerKind::Dovecot {
                f.text_search_fts = Some(self.measure_fts(server)?);
            }
        }
        Ok(())
    }

    /// One session of `login`'s: SELECT INBOX, then each search once and `--runs` more
    /// times.
    async fn search_session(
        &self,
        server: &Server,
        login: &str,
    ) -> Result<Vec<SearchTimes>, String> {
        let n = self.args.search_messages;
        let (mut session, exists) = open_inbox(server.imaps, self.tls, login).await?;
        if exists != n {
            return Err(format!("INBOX holds {exists} messages, not {n}"));
        }
        let mut searches = Vec::with_capacity(SEARCHES.len());
        for search in SEARCHES {
            let mut times = Vec::with_capacity(self.args.runs + 1);
            let mut found = Vec::with_capacity(self.args.runs + 1);
            for _ in 0..=self.args.runs {
                let started = Instant::now();
                let numbers = session
                    .search(search.key(), search.string(), exists)
                    .await?;
                times.push(started.elapsed());
                found.push(numbers.len());
            }
            searches.push(SearchTimes {
                search,
                first: times[0],
                warm: times[1..].to_vec(),
                found,
            });
        }
        session.logout().await;
        Ok(searches)
    }
}

/// Prints what one session found and how long each search took.
fn print_run(n: usize, run: &SearchRun) {
    for t in &run.searches {
        let warm: Vec<String> = t
            .warm
            .iter()
            .map(|d| format!("{:.3} s", d.as_secs_f64()))
            .collect();
        println!(
            "  {}: {} found (planted {}); first {:.3} s, then {}",
            t.search.command(),
            t.found[0],
            t.search.planted(n),
            t.first.as_secs_f64(),
            warm.join(", ")
        );
    }
}

impl Report<'_> {
    /// How I2 was measured.
    pub(super) fn text_search_method(&self) -> String {
        let n = self.args.search_messages;
        format!(
            "- I2: a third official's INBOX of {n} official letters (about 1–30 KiB, log-uniform;\n  \
             Vietnamese with diacritics; subjects as UTF-8 encoded-words, B and Q; bodies 8bit,\n  \
             quoted-printable or base64, some multipart/alternative with HTML, some HTML only, some\n  \
             multipart/mixed with a PDF of 2–6 KiB), written once as a Maildir as I3's is. {text} messages hold `công văn 2986`\n  \
             (2 in 8 by the Subject alone; in bodies as typed, wrapped across a line, with runs of spaces,\n  \
             in capitals, in every encoding), {near} hold near misses that must not match (`công văn 2987`,\n  \
             `công văn số 2986`, `cong van 2986`, `công văn 2968`); {body} hold Hà Nội in the body as\n  \
             `Hà Nội`, `Ha Noi` or `HÀ NỘI`, once wrapped, beside a Subject-only Hà Nội and bodies with\n  \
             Hà Nam and Hà Tĩnh. One session selects INBOX and sends `SEARCH CHARSET UTF-8 TEXT` and then\n  \
             `… BODY` (each search string a synchronising literal), each once and then {k} more times;\n  \
             congvu must find exactly the planted messages, {text} and {body}, in every answer.\n  \
             **For this official Dovecot runs without an FTS plugin** (every search reads the\n  \
             messages) and does not fold diacritics, so for `ha noi` it finds only the unmarked\n  \
             spelling; nor does it read a line break or a run of spaces as one space, so it misses the\n  \
             phrase wrapped or spaced twice. Its counts are in the details, checked only to find\n  \
             `công văn 2986` at all. The target counts as met only when congvu's slowest warm search is\n  \
             within 0.5× Dovecot's fastest; the first search after start (the TEXT one, after the first\n  \
             SELECT) is its own row.\n{fts}",
            text = Search::Text.planted(n),
            near = (0..n)
                .filter(|&i| Plant::of(i).is_some_and(|p| p.kind == Kind::NearPhrase))
                .count(),
            body = Search::Body.planted(n),
            k = self.args.runs,
            fts = self.fts_method(),
        )
    }

    pub(super) fn text_search_rows(&self, c: Option<&Figures>, d: Option<&Figures>) -> Vec<Row> {
        let n = self.args.search_messages;
        let import = c
            .and_then(|f| f.text_search.as_ref())
            .and_then(|r| r.import)
            .map(|t| {
                let rate = per_second(n as f64 / t.as_secs_f64());
                format!("{} ({rate})", seconds(t.as_secs_f64()))
            });
        let mut rows = vec![Row::info(
            "I2 seed",
            format!("`congvu-admin mailbox import --maildir` of the {n} messages: wall time"),
            import,
        )];
        for search in SEARCHES {
            let warm = |f: &Figures| -> Vec<f64> {
                f.text_search
                    .iter()
                    .filter_map(|r| r.times(search))
                    .flat_map(|t| t.warm.iter().map(Duration::as_secs_f64))
                    .collect()
            };
            // Met when every congvu search clears the line against Dovecot's fastest, not
            // when the medians do.
            let slowest = c.and_then(|f| warm(f).into_iter().reduce(f64::max));
            let fastest = d.and_then(|f| warm(f).into_iter().reduce(f64::min));
            let met = slowest.zip(fastest).map(|(s, f)| s <= 0.5 * f);
            let what = format!("`{}` in a {n}-message INBOX", search.command());
            rows.push(Row::compare("I2", what, spreads(c, d, warm), seconds).target("≤ 0.5×", met));
        }
        let first = spreads(c, d, |f| {
            f.text_search
                .iter()
                .filter_map(|r| r.times(SEARCHES[0]))
                .map(|t| t.first.as_secs_f64())
                .collect()
        });
        let what = format!(
            "the first SEARCH after the server started (`{}`)",
            SEARCHES[0].command()
        );
        rows.push(Row::compare("I2", what, first, seconds));
        rows.extend(self.fts_rows(c, d));
        rows
    }
}

pub(super) mod fts;

#[cfg(test)]
mod tests;
