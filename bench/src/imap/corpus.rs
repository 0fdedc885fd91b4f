//! The mailbox both servers are seeded with: generated messages, mostly Vietnamese, some
//! HTML, a few with attachments, the same bytes for both.

use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use rand::{Rng, SeedableRng};

use crate::admin::Official;
use crate::server::HOSTNAME;

use super::*;

pub(super) const WORDS_VI: [&str; 72] = [
    "công", "văn", "số", "về", "việc", "triển", "khai", "kế", "hoạch", "năm", "của", "Ủy", "ban",
    "nhân", "dân", "tỉnh", "đề", "nghị", "các", "cơ", "quan", "đơn", "vị", "báo", "cáo", "kết",
    "quả", "thực", "hiện", "trước", "ngày", "hồ", "sơ", "cán", "bộ", "chức", "viên", "thẩm",
    "định", "phê", "duyệt", "dự", "án", "đầu", "tư", "xây", "dựng", "giáo", "dục", "y", "tế",
    "nông", "nghiệp", "giao", "thông", "tài", "chính", "ngân", "sách", "họp", "tuần", "trân",
    "trọng", "đồng", "chí", "lãnh", "đạo", "sở", "phòng", "huyện", "xã", "quý",
];
pub(super) const WORDS_EN: [&str; 40] = [
    "the",
    "report",
    "meeting",
    "schedule",
    "please",
    "review",
    "attached",
    "document",
    "before",
    "deadline",
    "budget",
    "project",
    "province",
    "department",
    "office",
    "update",
    "training",
    "course",
    "registration",
    "confirm",
    "participants",
    "agenda",
    "minutes",
    "quarter",
    "results",
    "plan",
    "approval",
    "request",
    "information",
    "system",
    "account",
    "security",
    "notice",
    "weekly",
    "summary",
    "staff",
    "from",
    "with",
    "for",
    "and",
];
/// Who writes to the mailbox's owner: display names and addresses.
pub(super) const SENDERS: [(&str, &str); 8] = [
    ("Văn phòng UBND tỉnh", "vanphong@vinhphuc.gov.vn"),
    ("Sở Tài chính", "stc@vinhphuc.gov.vn"),
    ("Nguyễn Thị Hương", "huong.nt@snv.vinhphuc.gov.vn"),
    ("Trần Quốc Tuấn", "tuan.tq@skhdt.vinhphuc.gov.vn"),
    ("Lê Minh Đạt", "dat.lm@stttt.vinhphuc.gov.vn"),
    ("Phòng Tổ chức cán bộ", "tccb@snv.vinhphuc.gov.vn"),
    ("Training Office", "training@example.org"),
    ("IT Helpdesk", "helpdesk@example.org"),
];
/// Seconds since the epoch of the first message (1 January 2026, 08:00 +07:00).
pub(super) const FIRST_DATE: i64 = 1_767_229_200;

/// What a message of the mailbox is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Vietnamese text/plain, sent 8bit as many local clients do.
    VietnameseEightBit,
    /// Vietnamese text/plain, encoded the way mail-builder chooses (quoted-printable or
    /// base64).
    VietnameseEncoded,
    /// ASCII text/plain.
    English,
    /// multipart/alternative: Vietnamese text and HTML.
    Alternative,
    /// multipart/mixed: Vietnamese text and a binary attachment.
    Attachment,
}

impl Shape {
    /// Of every 20 messages: 6 Vietnamese 8bit, 6 Vietnamese encoded, 5 English, 2 HTML,
    /// 1 with an attachment.
    pub(super) fn of(i: usize) -> Shape {
        match i % 20 {
            0 => Shape::Attachment,
            1 | 11 => Shape::Alternative,
            2..=6 => Shape::English,
            n if n % 2 == 1 => Shape::VietnameseEightBit,
            _ => Shape::VietnameseEncoded,
        }
    }
}

/// The messages both servers are seeded with, in APPEND order.
#[derive(Debug, Default)]
pub(super) struct Corpus {
    pub(super) messages: Vec<Vec<u8>>,
}

impl Corpus {
    /// Each message's size in octets, by sequence number: what RFC822.SIZE must say.
    pub(super) fn sizes(&self) -> Vec<u64> {
        self.messages.iter().map(|m| m.len() as u64).collect()
    }

    pub(super) fn generate(n: usize, owner: &Official) -> anyhow::Result<Corpus> {
        let messages: Vec<Vec<u8>> = (0..n)
            .map(|i| corpus_message(i, &owner.address))
            .collect::<anyhow::Result<_>>()?;
        // The sizing converges to within a few per cent of its target, so a message may land
        // a little outside the range; far outside means the generator is broken.
        let roughly = MESSAGE_BYTES.start() * 3 / 4..=MESSAGE_BYTES.end() * 5 / 4;
        if let Some(i) = messages.iter().position(|m| !roughly.contains(&m.len())) {
            anyhow::bail!(
                "generated message {i} has {} bytes, outside {MESSAGE_BYTES:?}",
                messages[i].len()
            );
        }
        Ok(Corpus { messages })
    }

    pub(super) fn bytes(&self) -> usize {
        self.messages.iter().map(Vec::len).sum()
    }

    /// Flags message `i` is appended with: most mail has been read, some is flagged.
    pub(super) fn flags(i: usize) -> &'static str {
        match i % 10 {
            0..=5 => "(\\Seen)",
            6 => "(\\Seen \\Flagged)",
            _ => "()",
        }
    }
}

/// Message `i` of the mailbox, its size drawn log-uniformly from [`MESSAGE_BYTES`]
/// (attachments from the upper half), the same `i` always giving the same shape and size.
pub(crate) fn corpus_message(i: usize, to: &str) -> anyhow::Result<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9_051 + i as u64);
    let shape = Shape::of(i);
    let (low, high) = (
        *MESSAGE_BYTES.start() as f64 * 1.1,
        *MESSAGE_BYTES.end() as f64 * 0.95,
    );
    let low = if shape == Shape::Attachment {
        high / 2.0
    } else {
        low
    };
    let target = (low * (high / low).powf(rng.random::<f64>())) as usize;
    // The encodings make the size roughly proportional to the text: a few rounds of
    // scaling the text land within a few per cent of the target.
    let mut text_bytes = target / 2;
    let mut message = Vec::new();
    for _ in 0..4 {
        message = build_message(i, shape, to, text_bytes, target, rng.clone())?;
        let overhead = 900;
        let scale = target.saturating_sub(overhead) as f64
            / message.len().saturating_sub(overhead).max(1) as f64;
        text_bytes = ((text_bytes as f64 * scale) as usize).max(64);
        if message.len().abs_diff(target) * 50 < target {
            break;
        }
    }
    Ok(message)
}

pub(super) fn build_message(
    i: usize,
    shape: Shape,
    to: &str,
    text_bytes: usize,
    target: usize,
    mut rng: rand::rngs::StdRng,
) -> anyhow::Result<Vec<u8>> {
    let (sender_name, sender) = SENDERS[match shape {
        Shape::English => 6 + i % 2,
        _ => i % 6,
    }];
    let date = FIRST_DATE + i as i64 * 2_700;
    let words: &[&str] = if shape == Shape::English {
        &WORDS_EN
    } else {
        &WORDS_VI
    };
    let subject = match shape {
        Shape::English => format!("{} #{i}", sentence(&mut rng, words, 6)),
        _ => format!("V/v {} (số {}/SNV-VP)", sentence(&mut rng, words, 8), i + 1),
    };
    let received = format!(
        "from mx.example.org (mx.example.org [203.0.113.5]) by {HOSTNAME} with ESMTPS id \
         {i:08x} for <{to}>; {}",
        mail_builder::headers::date::Date::new(date + 3).to_rfc822()
    );
    let builder = MessageBuilder::new()
        .header("Received", Raw::new(received))
        .from(Address::from((sender_name.to_string(), sender.to_string())))
        .to(Address::from(to.to_string()))
        .subject(subject)
        .date(date)
        .message_id(format!("{i}.{date}@{HOSTNAME}"));
    let builder = if i % 7 == 3 && i > 0 {
        builder.in_reply_to(format!("{}.{}@{HOSTNAME}", i - 1, date - 2_700))
    } else {
        builder
    };
    let text = text(&mut rng, words, text_bytes);
    let builder = match shape {
        Shape::VietnameseEightBit => {
            builder.body(MimePart::new("text/plain", text).transfer_encoding("8bit"))
        }
        Shape::VietnameseEncoded | Shape::English => builder.text_body(text),
        Shape::Alternative => {
            let html = html(&text);
            builder.text_body(text).html_body(html)
        }
        Shape::Attachment => {
            let text = text_prefix(&text, 1_500);
            // base64 takes 4 bytes (and a line break per 76) for every 3.
            let payload = target.saturating_sub(text.len() + 1_200) * 3 / 4 * 76 / 78;
            let mut bytes = vec![0u8; payload.max(512)];
            rng.fill(bytes.as_mut_slice());
            let (kind, name) = if i % 40 == 0 {
                ("application/pdf", format!("Kế hoạch số {}.pdf", i + 1))
            } else {
                (
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    format!("bao-cao-{}.docx", i + 1),
                )
            };
            builder.text_body(text).attachment(kind, name, bytes)
        }
    };
    Ok(builder.write_to_vec()?)
}

/// `count` words, the first capitalised.
pub(super) fn sentence(rng: &mut rand::rngs::StdRng, words: &[&str], count: usize) -> String {
    let mut out = String::new();
    for n in 0..count {
        let word = words[rng.random_range(0..words.len())];
        if n == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(word);
        }
    }
    out
}

/// About `bytes` bytes of paragraphs in lines of at most 76 characters, CRLF-terminated as
/// the message's 8bit form needs.
pub(super) fn text(rng: &mut rand::rngs::StdRng, words: &[&str], bytes: usize) -> String {
    let mut out = String::from("Kính gửi đồng chí,\r\n\r\n");
    while out.len() < bytes {
        let sentences = rng.random_range(3..7);
        paragraph(rng, words, sentences, 8..20, &mut out);
        out.push_str("\r\n\r\n");
    }
    out.push_str("Trân trọng./.\r\n");
    out
}

/// Appends to `out` one paragraph of `sentences` sentences, each of a number of words drawn
/// from `length`, in lines of at most 76 characters joined by CRLF, with no line end after
/// the last.
pub(super) fn paragraph(
    rng: &mut rand::rngs::StdRng,
    words: &[&str],
    sentences: usize,
    length: std::ops::Range<usize>,
    out: &mut String,
) {
    let mut line = 0;
    for _ in 0..sentences {
        let count = rng.random_range(length.clone());
        let sentence = sentence(rng, words, count) + ".";
        for word in sentence.split(' ') {
            let width = word.chars().count();
            if line > 0 && line + 1 + width > 76 {
                out.push_str("\r\n");
                line = 0;
            } else if line > 0 {
                out.push(' ');
                line += 1;
            }
            out.push_str(word);
            line += width;
        }
    }
}

/// The first paragraphs of `text`, up to about `bytes` bytes, cut at a line end.
pub(super) fn text_prefix(text: &str, bytes: usize) -> String {
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        if out.len() + line.len() > bytes && !out.is_empty() {
            break;
        }
        out.push_str(line);
    }
    out
}

/// The HTML part of an alternative message: the same paragraphs.
pub(super) fn html(text: &str) -> String {
    let mut out = String::from(
        "<html><head><meta charset=\"utf-8\"></head>\r\n<body style=\"font-family: Arial\">\r\n",
    );
    for paragraph in text.split("\r\n\r\n").filter(|p| !p.is_empty()) {
        out.push_str("<p>");
        out.push_str(paragraph);
        out.push_str("</p>\r\n");
    }
    out.push_str("</body></html>\r\n");
    out
}
