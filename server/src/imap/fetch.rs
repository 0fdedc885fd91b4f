//! FETCH data items (RFC 3501 §6.4.5, §7.4.2; RFC 3516 BINARY) from a stored message: its
//! mailbox entry, its flags, its stored shape and, only when a section asks for them, its
//! bytes. Sections and structures come from the shape worked out at delivery; nothing here
//! parses MIME. No I/O: the caller loads what [`needs`] says and encodes what comes back.
//!
//! A section naming a part the message does not have answers an empty string, as Dovecot
//! does, rather than failing the command.

use std::borrow::Cow;
use std::num::NonZeroU32;

use imap_codec::decode::Decoder;
use imap_codec::imap_types::body::{
    BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
    SinglePartExtensionData, SpecificFields,
};
use imap_codec::imap_types::core::{
    AString, IString, Literal, LiteralMode, NString, NString8, Quoted, Vec1,
};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::envelope::{Address as ImapAddress, Envelope as ImapEnvelope};
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Part as SectionPart, Section,
};
use imap_codec::imap_types::flag::FlagFetch;
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::imap_types::IntoStatic;
use imap_codec::ResponseCodec;
use time::{OffsetDateTime, UtcOffset};

use crate::clock::UnixTime;
use crate::mailstore::shape::{self, MessageShape};
use crate::mailstore::MailboxMessage;

/// The zone INTERNALDATE is given in: Vietnam's, UTC+07:00 all year.
const SERVER_ZONE: UtcOffset = crate::clock::VIETNAM;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The items a FETCH asks for, with the FAST, ALL and FULL macros expanded (RFC 3501 §6.4.5).
pub(crate) fn item_names(m: MacroOrMessageDataItemNames<'_>) -> Vec<MessageDataItemName<'static>> {
    match m {
        MacroOrMessageDataItemNames::Macro(shorthand) => shorthand
            .expand()
            .into_iter()
            .map(IntoStatic::into_static)
            .collect(),
        MacroOrMessageDataItemNames::MessageDataItemNames(names) => {
            names.into_iter().map(IntoStatic::into_static).collect()
        }
    }
}

/// What must be loaded for a message before its items can be answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// The stored shape: envelope, structure or a section other than the whole message.
    pub shape: bool,
    /// The message bytes: any section or BINARY item.
    pub body: bool,
}

/// What `items` need loaded.
pub(crate) fn needs(items: &[MessageDataItemName<'_>]) -> Needs {
    let mut needs = Needs::default();
    for item in items {
        match item {
            MessageDataItemName::Envelope
            | MessageDataItemName::BodyStructure
            | MessageDataItemName::Body => needs.shape = true,
            MessageDataItemName::BodyExt { section, .. } => {
                needs.body = true;
                needs.shape |= section.is_some();
            }
            MessageDataItemName::Rfc822 => needs.body = true,
            MessageDataItemName::Rfc822Header | MessageDataItemName::Rfc822Text => {
                needs.body = true;
                needs.shape = true;
            }
            MessageDataItemName::Binary { section, .. }
            | MessageDataItemName::BinarySize { section } => {
                needs.body = true;
                needs.shape |= !section.is_empty();
            }
            _ => {}
        }
    }
    needs
}

/// Whether fetching `items` sets `\Seen` (RFC 3501 §6.4.5: BODY[…] without .PEEK, RFC822 and
/// RFC822.TEXT; RFC 3516 §4.2: BINARY without .PEEK).
pub(crate) fn marks_seen(items: &[MessageDataItemName<'_>]) -> bool {
    items.iter().any(|item| {
        matches!(
            item,
            MessageDataItemName::BodyExt { peek: false, .. }
                | MessageDataItemName::Binary { peek: false, .. }
                | MessageDataItemName::Rfc822
                | MessageDataItemName::Rfc822Text
        )
    })
}

/// A message with what has been loaded for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchedMessage<'a> {
    pub message: &'a MailboxMessage,
    pub flags: &'a [FlagFetch<'static>],
    pub shape: Option<&'a MessageShape>,
    pub body: Option<&'a [u8]>,
}

/// The data items answering `items` for one message, in the order asked. An item that needs
/// something not loaded is answered NIL, or left out where NIL is not allowed. Envelopes and
/// structures borrow their strings from the shape: a listing of a whole mailbox copies none.
pub(crate) fn message_items<'a>(
    items: &[MessageDataItemName<'_>],
    m: &FetchedMessage<'a>,
) -> Vec<MessageDataItem<'a>> {
    match (m.shape, m.body) {
        // Without a stored shape (a body stored before shapes were kept) it is worked out here.
        (None, Some(body)) if needs(items).shape => {
            let worked_out = MessageShape::of(body);
            let with_shape = FetchedMessage {
                shape: Some(&worked_out),
                ..*m
            };
            answers(items, &with_shape)
                .into_iter()
                .map(IntoStatic::into_static)
                .collect()
        }
        _ => answers(items, m),
    }
}

fn answers<'a>(
    items: &[MessageDataItemName<'_>],
    m: &FetchedMessage<'a>,
) -> Vec<MessageDataItem<'a>> {
    items
        .iter()
        .filter_map(|item| message_item(item, m))
        .collect()
}

fn message_item<'a>(
    item: &MessageDataItemName<'_>,
    m: &FetchedMessage<'a>,
) -> Option<MessageDataItem<'a>> {
    let shape = m.shape;
    Some(match item {
        MessageDataItemName::Flags => MessageDataItem::Flags(m.flags.to_vec()),
        MessageDataItemName::InternalDate => {
            MessageDataItem::InternalDate(internal_date(m.message.internal_date)?)
        }
        MessageDataItemName::Rfc822Size => {
            MessageDataItem::Rfc822Size(u32::try_from(m.message.size).unwrap_or(u32::MAX))
        }
        MessageDataItemName::Uid => MessageDataItem::Uid(NonZeroU32::new(m.message.uid.0)?),
        MessageDataItemName::ModSeq => {
            MessageDataItem::ModSeq(std::num::NonZeroU64::new(m.message.modseq)?)
        }
        MessageDataItemName::Envelope => MessageDataItem::Envelope(envelope(&shape?.envelope)),
        MessageDataItemName::BodyStructure => {
            MessageDataItem::BodyStructure(structure(&shape?.root, true))
        }
        MessageDataItemName::Body => MessageDataItem::Body(structure(&shape?.root, false)),
        MessageDataItemName::BodyExt {
            section, partial, ..
        } => MessageDataItem::BodyExt {
            section: section.clone().into_static(),
            origin: partial.map(|(origin, _)| origin),
            data: nil_or(m.body, |body| {
                let bytes = section_bytes(section.as_ref(), shape, body);
                body_string(partial_of(&bytes, *partial))
            }),
        },
        MessageDataItemName::Rfc822 => MessageDataItem::Rfc822(nil_or(m.body, body_string)),
        MessageDataItemName::Rfc822Header => {
            MessageDataItem::Rfc822Header(nil_or(m.body, |body| {
                body_string(section_bytes(Some(&Section::Header(None)), shape, body).as_ref())
            }))
        }
        MessageDataItemName::Rfc822Text => MessageDataItem::Rfc822Text(nil_or(m.body, |body| {
            body_string(section_bytes(Some(&Section::Text(None)), shape, body).as_ref())
        })),
        MessageDataItemName::Binary {
            section, partial, ..
        } => MessageDataItem::Binary {
            section: section.clone(),
            value: match m.body {
                Some(body) => binary_string(partial_of(&binary(section, shape, body), *partial)),
                None => NString8::NString(NString(None)),
            },
        },
        MessageDataItemName::BinarySize { section } => MessageDataItem::BinarySize {
            section: section.clone(),
            size: u32::try_from(binary(section, shape, m.body?).len()).unwrap_or(u32::MAX),
        },
        // Items of extensions this server does not offer (CONDSTORE's MODSEQ, when imap-types
        // is built with it) are not answered.
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// How many bytes of message data `items` carry: the strings of BODY[…], RFC822,
/// RFC822.HEADER, RFC822.TEXT and BINARY[…]; flags, sizes and structures are not counted.
pub(crate) fn message_data_bytes(items: &[MessageDataItem<'_>]) -> usize {
    let of = |data: &NString<'_>| data.0.as_ref().map_or(0, |s| s.as_ref().len());
    items
        .iter()
        .map(|item| match item {
            MessageDataItem::BodyExt { data, .. }
            | MessageDataItem::Rfc822(data)
            | MessageDataItem::Rfc822Header(data)
            | MessageDataItem::Rfc822Text(data) => of(data),
            MessageDataItem::Binary { value, .. } => match value {
                NString8::NString(data) => of(data),
                NString8::Literal8(literal) => literal.data.len(),
            },
            _ => 0,
        })
        .sum()
}

/// `answer` over the loaded bytes, or NIL when they were not loaded.
fn nil_or(body: Option<&[u8]>, answer: impl FnOnce(&[u8]) -> NString<'static>) -> NString<'static> {
    body.map_or(NString(None), answer)
}

/// INTERNALDATE in the server's zone. `None` only for a time outside years 0–9999.
fn internal_date(at: UnixTime) -> Option<DateTime> {
    let local = OffsetDateTime::from_unix_timestamp(at.0)
        .ok()?
        .to_offset(SERVER_ZONE);
    let (zone_hours, zone_minutes, _) = SERVER_ZONE.as_hms();
    let text = format!(
        "* 1 FETCH (INTERNALDATE \"{:02}-{}-{:04} {:02}:{:02}:{:02} {:+03}{:02}\")\r\n",
        local.day(),
        MONTHS[usize::from(u8::from(local.month())) - 1],
        local.year(),
        local.hour(),
        local.minute(),
        local.second(),
        zone_hours,
        zone_minutes.unsigned_abs(),
    );
    // imap-types builds a DateTime only from a chrono value, and chrono is not a dependency
    // of this crate; the codec's own parser builds one from the IMAP text form instead.
    match ResponseCodec::default().decode(text.as_bytes()) {
        Ok((_, Response::Data(Data::Fetch { items, .. }))) => {
            items.into_iter().find_map(|item| match item {
                MessageDataItem::InternalDate(date) => Some(date),
                _ => None,
            })
        }
        _ => None,
    }
}

// ---- sections ----

/// The bytes a BODY section names, before any partial. Only the whole message (no section)
/// can be answered without the shape.
fn section_bytes<'b>(
    section: Option<&Section<'_>>,
    shape: Option<&MessageShape>,
    body: &'b [u8],
) -> Cow<'b, [u8]> {
    let Some(section) = section else {
        return Cow::Borrowed(body);
    };
    let Some(shape) = shape else {
        return Cow::Borrowed(&[]);
    };
    let range = match section {
        Section::Part(part) => shape.part(&numbers(part)).map(|p| p.body.clone()),
        Section::Mime(part) => shape.part(&numbers(part)).map(|p| p.header.clone()),
        Section::Header(part) => message_at(shape, part.as_ref()).map(|m| m.root.header.clone()),
        Section::Text(part) => message_at(shape, part.as_ref()).map(|m| m.root.body.clone()),
        Section::HeaderFields(part, names) | Section::HeaderFieldsNot(part, names) => {
            let listed = matches!(section, Section::HeaderFields(..));
            let Some(embedded) = message_at(shape, part.as_ref()) else {
                return Cow::Borrowed(&[]);
            };
            let header = slice(body, &embedded.root.header);
            return Cow::Owned(header_fields(header, names.as_ref(), listed));
        }
    };
    Cow::Borrowed(range.map(|r| slice(body, &r)).unwrap_or_default())
}

/// The message a HEADER or TEXT section refers to: the whole one, or the one carried by a
/// `message/rfc822` part.
fn message_at<'s>(shape: &'s MessageShape, part: Option<&SectionPart>) -> Option<&'s MessageShape> {
    match part {
        None => Some(shape),
        Some(part) => shape.part(&numbers(part))?.message.as_deref(),
    }
}

fn numbers(part: &SectionPart) -> Vec<u32> {
    part.0.as_ref().iter().map(|n| n.get()).collect()
}

/// `range` of `body`, empty where it does not fit.
fn slice<'b>(body: &'b [u8], range: &std::ops::Range<usize>) -> &'b [u8] {
    body.get(range.clone()).unwrap_or_default()
}

/// The octets `<origin.count>` selects (RFC 3501 §6.4.5): cut short at the end, empty past it.
fn partial_of(bytes: &[u8], partial: Option<(u32, NonZeroU32)>) -> &[u8] {
    let Some((origin, count)) = partial else {
        return bytes;
    };
    let start = (origin as usize).min(bytes.len());
    let end = start.saturating_add(count.get() as usize).min(bytes.len());
    &bytes[start..end]
}

/// The fields of `header` whose names are (`listed`) or are not in `names`, matched without
/// regard to case, followed by the blank line ending the header when it has one.
fn header_fields(header: &[u8], names: &[AString<'_>], listed: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = header;
    let mut keep = false;
    while !rest.is_empty() {
        let line_len = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |lf| lf + 1);
        let (line, tail) = rest.split_at(line_len);
        rest = tail;
        if line == b"\r\n" || line == b"\n" {
            out.extend_from_slice(line);
            break;
        }
        // A line starting with white space continues the field above it (RFC 5322 §2.2.3).
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = field_name(line);
            let named = names.iter().any(|n| n.as_ref().eq_ignore_ascii_case(name));
            keep = named == listed;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The name of the field starting on `line`: the text before the colon, trailing white space
/// dropped (RFC 5322 §4.5 allows it).
fn field_name(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&b| b == b':').unwrap_or(line.len());
    line[..end].trim_ascii_end()
}

// ---- BINARY ----

/// The content of a BINARY section with its transfer encoding undone (RFC 3516 §4.1). The
/// empty section is the whole message. Parts with sub-parts, and encodings that are unknown
/// or do not decode, are given as stored.
fn binary<'b>(
    section: &[NonZeroU32],
    shape: Option<&MessageShape>,
    body: &'b [u8],
) -> Cow<'b, [u8]> {
    if section.is_empty() {
        return Cow::Borrowed(body);
    }
    let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
    let Some(part) = shape.and_then(|s| s.part(&path)) else {
        return Cow::Borrowed(&[]);
    };
    let stored = slice(body, &part.body);
    if part.is_multipart() || part.message.is_some() {
        return Cow::Borrowed(stored);
    }
    let encoding = part.encoding.as_deref().unwrap_or("7bit");
    let decoded = if encoding.eq_ignore_ascii_case("base64") {
        mail_parser::decoders::base64::base64_decode(stored)
    } else if encoding.eq_ignore_ascii_case("quoted-printable") {
        mail_parser::decoders::quoted_printable::quoted_printable_decode(stored)
    } else {
        None
    };
    decoded.map_or(Cow::Borrowed(stored), Cow::Owned)
}

/// BINARY content: a literal8 when it holds NUL octets, which a plain literal cannot carry.
fn binary_string(bytes: &[u8]) -> NString8<'static> {
    if bytes.contains(&0) {
        NString8::Literal8(Literal8 {
            data: Cow::Owned(bytes.to_vec()),
            mode: LiteralMode::Sync,
        })
    } else {
        NString8::NString(body_string(bytes))
    }
}

// ---- strings ----

/// Message bytes as a string: a literal, or `""` when empty. NUL octets, which IMAP strings
/// cannot carry, become 0x80 as Dovecot does.
fn body_string(bytes: &[u8]) -> NString<'static> {
    if bytes.is_empty() {
        return NString(Some(empty_string()));
    }
    let data: Vec<u8> = if bytes.contains(&0) {
        bytes
            .iter()
            .map(|&b| if b == 0 { 0x80 } else { b })
            .collect()
    } else {
        bytes.to_vec()
    };
    match Literal::try_from(data) {
        Ok(literal) => NString::from(literal),
        Err(_) => NString(Some(empty_string())),
    }
}

fn empty_string() -> IString<'static> {
    IString::Quoted(Quoted::unvalidated(""))
}

/// A short value as a quoted string, or a literal when it holds 8-bit octets or line ends;
/// borrowed unless NUL octets, which no IMAP string carries, must be taken out.
fn istring(value: &str) -> IString<'_> {
    if value.contains('\0') {
        return owned_istring(value.to_owned());
    }
    IString::try_from(value).unwrap_or_else(|_| empty_string())
}

/// [`istring`] of a value made here (upper-cased, encoded).
fn owned_istring(value: String) -> IString<'static> {
    let clean = if value.contains('\0') {
        value.replace('\0', "")
    } else {
        value
    };
    IString::try_from(clean).unwrap_or_else(|_| empty_string())
}

/// `value` upper-cased, as types, subtypes, encodings and parameter names are given.
fn upper(value: &str) -> IString<'_> {
    cow_istring(upper_case(value))
}

/// `value` in ASCII capitals; borrowed when it is already.
fn upper_case(value: &str) -> Cow<'_, str> {
    if value.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(value.to_ascii_uppercase())
    } else {
        Cow::Borrowed(value)
    }
}

fn cow_istring(value: Cow<'_, str>) -> IString<'_> {
    match value {
        Cow::Borrowed(value) => istring(value),
        Cow::Owned(value) => owned_istring(value),
    }
}

fn nstring(value: Option<&str>) -> NString<'_> {
    NString(value.map(istring))
}

// ---- ENVELOPE ----

/// Sender and Reply-To as ENVELOPE gives them: each defaults to From (RFC 3501 §7.4.2).
fn sender_and_reply_to(e: &shape::Envelope) -> (&[shape::Address], &[shape::Address]) {
    fn or_from<'a>(list: &'a [shape::Address], from: &'a [shape::Address]) -> &'a [shape::Address] {
        if list.is_empty() {
            from
        } else {
            list
        }
    }
    (or_from(&e.sender, &e.from), or_from(&e.reply_to, &e.from))
}

/// The ENVELOPE of a message (RFC 3501 §7.4.2).
fn envelope<'a>(e: &'a shape::Envelope) -> ImapEnvelope<'a> {
    let (sender, reply_to) = sender_and_reply_to(e);
    ImapEnvelope {
        date: nstring(e.date.as_deref()),
        subject: nstring(e.subject.as_deref()),
        from: addresses(&e.from),
        sender: addresses(sender),
        reply_to: addresses(reply_to),
        to: addresses(&e.to),
        cc: addresses(&e.cc),
        bcc: addresses(&e.bcc),
        in_reply_to: nstring(e.in_reply_to.as_deref()),
        message_id: nstring(e.message_id.as_deref()),
    }
}

fn addresses(list: &[shape::Address]) -> Vec<ImapAddress<'_>> {
    list.iter()
        .map(|a| ImapAddress {
            name: nstring(a.name.as_deref()),
            adl: NString(None),
            mailbox: nstring(a.mailbox.as_deref()),
            host: nstring(a.host.as_deref()),
        })
        .collect()
}

// ---- BODYSTRUCTURE ----

/// BODYSTRUCTURE (`extended`) or BODY of a part and everything below it. Types, subtypes,
/// parameter names and encodings are upper-cased as in RFC 3501's examples.
fn structure(part: &shape::Part, extended: bool) -> BodyStructure<'_> {
    let bodies: Vec<BodyStructure<'_>> = part
        .children
        .iter()
        .map(|child| structure(child, extended))
        .collect();
    match Vec1::try_from(bodies) {
        Ok(bodies) => BodyStructure::Multi {
            bodies,
            subtype: upper(&part.subtype),
            extension_data: extended.then(|| MultiPartExtensionData {
                parameter_list: parameters(&part.params),
                tail: Some(disposition(part)),
            }),
        },
        Err(_) => BodyStructure::Single {
            body: Body {
                basic: basic_fields(part),
                specific: specific_fields(part, extended),
            },
            extension_data: extended.then(|| SinglePartExtensionData {
                md5: nstring(part.md5.as_deref()),
                tail: Some(disposition(part)),
            }),
        },
    }
}

fn basic_fields(part: &shape::Part) -> BasicFields<'_> {
    BasicFields {
        parameter_list: parameters(&part.params),
        id: nstring(part.id.as_deref()),
        description: nstring(part.description.as_deref()),
        content_transfer_encoding: cow_istring(encoding(part)),
        size: u32::try_from(part.body.len()).unwrap_or(u32::MAX),
    }
}

/// What BODYSTRUCTURE makes of a single part.
enum PartKind<'a> {
    Text,
    /// message/rfc822 with the message it holds.
    Message(&'a MessageShape),
    /// message/rfc822 whose message could not be placed (it is transfer-encoded, which RFC
    /// 2046 §5.2.1 forbids): it has no envelope to give, and clients read "MESSAGE" "RFC822"
    /// as promising one, so it is described as APPLICATION/OCTET-STREAM.
    Opaque,
    Other,
}

fn part_kind(part: &shape::Part) -> PartKind<'_> {
    match (
        part.media_type.as_str(),
        part.subtype.as_str(),
        &part.message,
    ) {
        ("text", _, _) => PartKind::Text,
        ("message", "rfc822", Some(embedded)) => PartKind::Message(embedded),
        ("message", "rfc822", None) => PartKind::Opaque,
        _ => PartKind::Other,
    }
}

fn specific_fields(part: &shape::Part, extended: bool) -> SpecificFields<'_> {
    match part_kind(part) {
        PartKind::Text => SpecificFields::Text {
            subtype: upper(&part.subtype),
            number_of_lines: part.lines,
        },
        PartKind::Message(embedded) => SpecificFields::Message {
            envelope: Box::new(envelope(&embedded.envelope)),
            body_structure: Box::new(structure(&embedded.root, extended)),
            number_of_lines: part.lines,
        },
        PartKind::Opaque => SpecificFields::Basic {
            r#type: istring("APPLICATION"),
            subtype: istring("OCTET-STREAM"),
        },
        PartKind::Other => SpecificFields::Basic {
            r#type: upper(&part.media_type),
            subtype: upper(&part.subtype),
        },
    }
}

/// The transfer encoding, upper-cased; 7BIT when the part names none (RFC 2045 §6.1).
fn encoding(part: &shape::Part) -> Cow<'_, str> {
    part.encoding
        .as_deref()
        .map_or(Cow::Borrowed("7BIT"), upper_case)
}

/// Disposition, language and location: the extension data after MD5 or the parameters.
fn disposition(part: &shape::Part) -> Disposition<'_> {
    Disposition {
        disposition: part
            .disposition
            .as_ref()
            .map(|(kind, params)| (upper(kind), parameters(params))),
        tail: Some(Language {
            language: part.language.iter().map(|l| istring(l)).collect(),
            tail: Some(Location {
                location: nstring(part.location.as_deref()),
                extensions: Vec::new(),
            }),
        }),
    }
}

fn parameters(params: &[(String, String)]) -> Vec<(IString<'_>, IString<'_>)> {
    params
        .iter()
        .map(|(name, value)| {
            let (name, value) = parameter(name, value);
            (cow_istring(name), cow_istring(value))
        })
        .collect()
}

/// A parameter as an attribute/value pair, the name upper-cased. A value beyond ASCII is
/// given in RFC 2231 form (`NAME*` = `utf-8''percent-encoded`), so BODYSTRUCTURE stays 7-bit.
fn parameter<'a>(name: &'a str, value: &'a str) -> (Cow<'a, str>, Cow<'a, str>) {
    if value.is_ascii() {
        (upper_case(name), Cow::Borrowed(value))
    } else {
        let name = format!("{}*", name.to_ascii_uppercase());
        (Cow::Owned(name), Cow::Owned(rfc2231_value(value)))
    }
}

/// `value` as an RFC 2231 §4 extended value in UTF-8.
fn rfc2231_value(value: &str) -> String {
    let mut out = String::from("utf-8''");
    for &b in value.as_bytes() {
        // RFC 2231 §7 attribute-char: a token character other than `*`, `'` and `%`.
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) mod wire;

#[cfg(test)]
mod tests;
