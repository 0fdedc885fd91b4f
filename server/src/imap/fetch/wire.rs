//! FETCH answers of a listing written straight as IMAP bytes: FLAGS, UID, RFC822.SIZE,
//! MODSEQ, ENVELOPE, BODY and BODYSTRUCTURE, from the stored structure. A client listing a
//! mailbox asks for these alone, for every message, and building imap-types values for each
//! answer and encoding them cost more than reading the structures. Requests with any other
//! item (sections, INTERNALDATE, BINARY) are answered through imap-codec by
//! [`super::message_items`]. The bytes are those imap-codec writes for the same answer; the
//! tests compare the two over the fixtures and over generated structures. What each item
//! says (defaults, upper-casing, RFC 2231 parameters) is decided by the functions both share.

use std::io::Write as _;
use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::imap_types::fetch::MessageDataItemName;
use imap_codec::imap_types::flag::FlagFetch;

use super::{
    encoding, parameter, part_kind, sender_and_reply_to, upper_case, FetchedMessage, PartKind,
};
use crate::mailstore::shape;

/// Whether every item of a request is one this module writes.
pub(crate) fn writes_all(items: &[MessageDataItemName<'_>]) -> bool {
    items.iter().all(|item| {
        matches!(
            item,
            MessageDataItemName::Flags
                | MessageDataItemName::Uid
                | MessageDataItemName::Rfc822Size
                | MessageDataItemName::ModSeq
                | MessageDataItemName::Envelope
                | MessageDataItemName::BodyStructure
                | MessageDataItemName::Body
        )
    })
}

/// Appends `* seq FETCH (…)` with its line end for `m`, the items in the order asked. An item
/// that cannot be answered (no stored structure, a zero UID) is left out, as imap-codec's path
/// leaves it out; with none left nothing is written and `false` returned.
pub(crate) fn write_fetch(
    out: &mut Vec<u8>,
    seq: NonZeroU32,
    items: &[MessageDataItemName<'_>],
    m: &FetchedMessage<'_>,
) -> bool {
    let start = out.len();
    out.extend_from_slice(b"* ");
    number(out, seq.get());
    out.extend_from_slice(b" FETCH (");
    let mut written = 0usize;
    for item in items {
        let mark = out.len();
        if written > 0 {
            out.push(b' ');
        }
        if write_item(out, item, m) {
            written += 1;
        } else {
            out.truncate(mark);
        }
    }
    if written == 0 {
        out.truncate(start);
        return false;
    }
    out.extend_from_slice(b")\r\n");
    true
}

fn write_item(out: &mut Vec<u8>, item: &MessageDataItemName<'_>, m: &FetchedMessage<'_>) -> bool {
    match item {
        MessageDataItemName::Flags => flags(out, m.flags),
        MessageDataItemName::Uid => {
            let Some(uid) = NonZeroU32::new(m.message.uid.0) else {
                return false;
            };
            out.extend_from_slice(b"UID ");
            number(out, uid.get());
        }
        MessageDataItemName::Rfc822Size => {
            out.extend_from_slice(b"RFC822.SIZE ");
            number(out, u32::try_from(m.message.size).unwrap_or(u32::MAX));
        }
        MessageDataItemName::ModSeq => {
            let Some(modseq) = NonZeroU64::new(m.message.modseq) else {
                return false;
            };
            out.extend_from_slice(b"MODSEQ (");
            number(out, modseq.get());
            out.push(b')');
        }
        MessageDataItemName::Envelope => {
            let Some(shape) = m.shape else { return false };
            out.extend_from_slice(b"ENVELOPE ");
            envelope(out, &shape.envelope);
        }
        MessageDataItemName::BodyStructure | MessageDataItemName::Body => {
            let Some(shape) = m.shape else { return false };
            let extended = matches!(item, MessageDataItemName::BodyStructure);
            out.extend_from_slice(if extended {
                b"BODYSTRUCTURE "
            } else {
                b"BODY "
            });
            structure(out, &shape.root, extended);
        }
        _ => return false,
    }
    true
}

fn flags(out: &mut Vec<u8>, flags: &[FlagFetch<'_>]) {
    out.extend_from_slice(b"FLAGS (");
    for (i, flag) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match flag {
            FlagFetch::Flag(flag) => {
                // Writing into a Vec cannot fail.
                let _ = write!(out, "{flag}");
            }
            FlagFetch::Recent => out.extend_from_slice(b"\\Recent"),
        }
    }
    out.push(b')');
}

// ---- ENVELOPE ----

/// The ENVELOPE of a message (RFC 3501 §7.4.2).
fn envelope(out: &mut Vec<u8>, e: &shape::Envelope) {
    let (sender, reply_to) = sender_and_reply_to(e);
    out.push(b'(');
    nstring(out, e.date.as_deref());
    out.push(b' ');
    nstring(out, e.subject.as_deref());
    for list in [&e.from[..], sender, reply_to, &e.to, &e.cc, &e.bcc] {
        out.push(b' ');
        addresses(out, list);
    }
    out.push(b' ');
    nstring(out, e.in_reply_to.as_deref());
    out.push(b' ');
    nstring(out, e.message_id.as_deref());
    out.push(b')');
}

fn addresses(out: &mut Vec<u8>, list: &[shape::Address]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        out.extend_from_slice(b" NIL ");
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

// ---- BODYSTRUCTURE ----

/// BODYSTRUCTURE (`extended`) or BODY of a part and everything below it.
fn structure(out: &mut Vec<u8>, part: &shape::Part, extended: bool) {
    out.push(b'(');
    if part.children.is_empty() {
        single(out, part, extended);
        if extended {
            out.push(b' ');
            nstring(out, part.md5.as_deref());
            out.push(b' ');
            disposition(out, part);
        }
    } else {
        for child in &part.children {
            structure(out, child, extended);
        }
        out.push(b' ');
        upper(out, &part.subtype);
        if extended {
            out.push(b' ');
            parameters(out, &part.params);
            out.push(b' ');
            disposition(out, part);
        }
    }
    out.push(b')');
}

/// A single part's type, its basic fields and what its type adds.
fn single(out: &mut Vec<u8>, part: &shape::Part, extended: bool) {
    match part_kind(part) {
        PartKind::Text => {
            out.extend_from_slice(b"\"TEXT\" ");
            upper(out, &part.subtype);
            out.push(b' ');
            basic_fields(out, part);
            out.push(b' ');
            number(out, part.lines);
        }
        PartKind::Message(embedded) => {
            out.extend_from_slice(b"\"MESSAGE\" \"RFC822\" ");
            basic_fields(out, part);
            out.push(b' ');
            envelope(out, &embedded.envelope);
            out.push(b' ');
            structure(out, &embedded.root, extended);
            out.push(b' ');
            number(out, part.lines);
        }
        PartKind::Opaque => {
            out.extend_from_slice(b"\"APPLICATION\" \"OCTET-STREAM\" ");
            basic_fields(out, part);
        }
        PartKind::Other => {
            upper(out, &part.media_type);
            out.push(b' ');
            upper(out, &part.subtype);
            out.push(b' ');
            basic_fields(out, part);
        }
    }
}

fn basic_fields(out: &mut Vec<u8>, part: &shape::Part) {
    parameters(out, &part.params);
    out.push(b' ');
    nstring(out, part.id.as_deref());
    out.push(b' ');
    nstring(out, part.description.as_deref());
    out.push(b' ');
    string(out, &encoding(part));
    out.push(b' ');
    number(out, u32::try_from(part.body.len()).unwrap_or(u32::MAX));
}

/// Disposition, language and location: the extension data after MD5 or the parameters.
fn disposition(out: &mut Vec<u8>, part: &shape::Part) {
    match &part.disposition {
        Some((kind, params)) => {
            out.push(b'(');
            upper(out, kind);
            out.push(b' ');
            parameters(out, params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    if part.language.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        for (i, language) in part.language.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            string(out, language);
        }
        out.push(b')');
    }
    out.push(b' ');
    nstring(out, part.location.as_deref());
}

fn parameters(out: &mut Vec<u8>, params: &[(String, String)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        let (name, value) = parameter(name, value);
        string(out, &name);
        out.push(b' ');
        string(out, &value);
    }
    out.push(b')');
}

// ---- strings ----

fn number(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn nstring(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => string(out, value),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// `value` upper-cased, as types, subtypes, encodings and parameter names are given.
fn upper(out: &mut Vec<u8>, value: &str) {
    string(out, &upper_case(value));
}

/// A quoted string when every octet may stand in one (TEXT-CHAR: 7-bit, no CR or LF), else a
/// literal. NUL octets, which no IMAP string carries, are left out.
fn string(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let quotable = bytes
        .iter()
        .all(|&b| matches!(b, 0x00..=0x09 | 0x0b..=0x0c | 0x0e..=0x7f));
    if quotable {
        out.push(b'"');
        for &b in bytes {
            match b {
                0 => {}
                b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                _ => out.push(b),
            }
        }
        out.push(b'"');
    } else {
        let length = bytes.iter().filter(|&&b| b != 0).count();
        out.push(b'{');
        number(out, length);
        out.extend_from_slice(b"}\r\n");
        out.extend(bytes.iter().copied().filter(|&b| b != 0));
    }
}

#[cfg(test)]
mod tests;
