//! A message's structure, worked out once when its body is first stored: the envelope fields
//! and the MIME part tree with the byte ranges of every part's header and body. FETCH answers
//! ENVELOPE, BODYSTRUCTURE and sections from this and the stored bytes, never re-parsing.
//!
//! Protocol-neutral: no IMAP types here. Bodies are never copied into the shape, only their
//! ranges. Header values are kept as they appear in the message (unfolded and trimmed,
//! encoded-words left for clients to decode).

use std::ops::Range;

use base64::Engine as _;
use mail_parser::{
    Addr, Address as ParsedAddress, ContentType, Encoding, Header, HeaderName, HeaderValue,
    Message, MessageParser, MessagePart, PartType,
};
use serde::{Deserialize, Serialize};

/// Parts nested deeper than this are kept as opaque leaves, so neither building the shape,
/// storing it as JSON (serde_json refuses deeply nested input) nor encoding it recurses without
/// bound on a hostile message.
const MAX_DEPTH: usize = 24;

/// Parts beyond this many in one message are left out of the tree; their bytes stay reachable
/// through the enclosing multipart's body.
const MAX_PARTS: usize = 1000;

/// The longest run of UTF-8 bytes put into one encoded-word, so the word stays within the
/// 75 characters RFC 2047 §2 allows.
const ENCODED_WORD_BYTES: usize = 45;

/// The structure of one message (or of a message embedded in a `message/rfc822` part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageShape {
    pub envelope: Envelope,
    pub root: Part,
}

/// The envelope fields of a message header (RFC 3501 §7.4.2), as written in the message:
/// unfolded and trimmed, with encoded-words not decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sender: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reply_to: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// One entry of an address list, in RFC 3501 §7.4.2 form: a group starts with
/// `{name: None, mailbox: Some(group name), host: None}` and ends with all fields `None`.
///
/// A display name with characters beyond ASCII is given as RFC 2047 encoded-words, the form it
/// takes in a header, so clients decode it as they decode any header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// One MIME part. Byte ranges are offsets into the whole stored message, also inside embedded
/// messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Lowercase media type; `text` when the part does not say (RFC 2045 §5.2).
    pub media_type: String,
    /// Lowercase subtype; `plain` by default, `rfc822` for a `message` default inside
    /// `multipart/digest` (RFC 2046 §5.1.5).
    pub subtype: String,
    /// Content-Type parameters with lowercase names and decoded values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Content-Transfer-Encoding as written; absent means 7bit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Content-Disposition: the lowercase disposition and its parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<(String, Vec<(String, String)>)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub language: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// This part's header block, the blank line after it included.
    pub header: Range<usize>,
    /// This part's body, as transferred (not decoded).
    pub body: Range<usize>,
    /// Lines in the body, for `text/*` and `message/*` parts; 0 for others.
    #[serde(default)]
    pub lines: u32,
    /// The sub-parts of a `multipart/*` part; never empty for one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Part>,
    /// The message carried by a `message/rfc822` part, when it is not transfer-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Box<MessageShape>>,
}

impl MessageShape {
    /// The shape of `message`. Never fails: bytes with no header become one `text/plain` part
    /// spanning them all.
    pub fn of(message: &[u8]) -> MessageShape {
        match parser().parse(message) {
            Some(parsed) if !parsed.parts.is_empty() => {
                let mut shaper = Shaper {
                    raw: message,
                    parts_left: MAX_PARTS,
                };
                shaper.message(&parsed, 0)
            }
            _ => MessageShape {
                envelope: Envelope::default(),
                root: Part::plain_text(0..0, 0..message.len(), message),
            },
        }
    }

    /// The shape as stored JSON.
    pub fn to_json(&self) -> String {
        // Plain structs with string keys always serialise.
        #[allow(
            clippy::expect_used,
            reason = "plain structs with string keys serialise"
        )]
        serde_json::to_string(self).expect("a message shape serialises to JSON")
    }

    /// A shape from stored JSON; `None` if it is not one.
    pub fn from_json(s: &str) -> Option<MessageShape> {
        serde_json::from_str(s).ok()
    }

    /// Structures stored as a JSON array of `[body id, structure]` pairs; `None` if it is
    /// not one. Checked as UTF-8 as [`MessageText::pairs_from_json`] checks texts.
    ///
    /// [`MessageText::pairs_from_json`]: super::text::MessageText::pairs_from_json
    pub fn pairs_from_json(bytes: &[u8]) -> Option<Vec<(i64, MessageShape)>> {
        let json = simdutf8::basic::from_utf8(bytes).ok()?;
        serde_json::from_str(json).ok()
    }

    /// The part at an IMAP part number (RFC 3501 §6.4.5), as 1-based numbers. A message that
    /// is not multipart has only part 1, its body. Numbers after a `message/rfc822` part
    /// continue in the embedded message. The empty path is the top-level part.
    pub fn part(&self, path: &[u32]) -> Option<&Part> {
        let Some((&first, rest)) = path.split_first() else {
            return Some(&self.root);
        };
        let part = if self.root.children.is_empty() {
            Some(&self.root).filter(|_| first == 1)?
        } else {
            self.root.children.get(index(first)?)?
        };
        part.descend(rest)
    }
}

impl Part {
    /// Whether this part holds sub-parts.
    pub fn is_multipart(&self) -> bool {
        !self.children.is_empty()
    }

    /// The part `path` below this one.
    fn descend(&self, path: &[u32]) -> Option<&Part> {
        let Some((&first, rest)) = path.split_first() else {
            return Some(self);
        };
        if let Some(embedded) = &self.message {
            return embedded.part(path);
        }
        self.children.get(index(first)?)?.descend(rest)
    }

    /// A `text/plain; charset=us-ascii` part, the RFC 2045 §5.2 default.
    fn plain_text(header: Range<usize>, body: Range<usize>, raw: &[u8]) -> Part {
        let lines = count_lines(raw.get(body.clone()).unwrap_or_default());
        Part {
            media_type: "text".into(),
            subtype: "plain".into(),
            params: vec![("charset".into(), "us-ascii".into())],
            id: None,
            description: None,
            encoding: None,
            disposition: None,
            language: Vec::new(),
            location: None,
            md5: None,
            header,
            body,
            lines,
            children: Vec::new(),
            message: None,
        }
    }
}

/// A 1-based part number as an index.
fn index(number: u32) -> Option<usize> {
    (number as usize).checked_sub(1)
}

/// A parser that structures only the fields the shape reads; every other field is skipped
/// but its position kept.
fn parser() -> MessageParser {
    MessageParser::new()
        .default_header_ignore()
        .header_content_type(HeaderName::ContentType)
        .header_content_type(HeaderName::ContentDisposition)
        .header_text(HeaderName::ContentTransferEncoding)
        .header_address(HeaderName::From)
        .header_address(HeaderName::Sender)
        .header_address(HeaderName::ReplyTo)
        .header_address(HeaderName::To)
        .header_address(HeaderName::Cc)
        .header_address(HeaderName::Bcc)
}

/// Walks mail-parser's flat part list into the tree, within the depth and part limits.
struct Shaper<'m> {
    raw: &'m [u8],
    parts_left: usize,
}

impl Shaper<'_> {
    fn message(&mut self, parsed: &Message<'_>, depth: usize) -> MessageShape {
        let headers = parsed
            .parts
            .first()
            .map(|p| p.headers.as_slice())
            .unwrap_or_default();
        MessageShape {
            envelope: envelope(self.raw, headers),
            root: self.part(parsed, 0, false, depth),
        }
    }

    fn part(&mut self, parsed: &Message<'_>, id: usize, in_digest: bool, depth: usize) -> Part {
        let Some(source) = parsed.parts.get(id) else {
            return Part::plain_text(0..0, 0..0, self.raw);
        };
        let mut part = leaf(self.raw, source, in_digest);
        if depth < MAX_DEPTH {
            match &source.body {
                PartType::Multipart(ids) if part.media_type == "multipart" => {
                    let digest = part.subtype == "digest";
                    // The parser numbers parts in the order they start, so a sub-part comes
                    // after its parent; recovering from a broken multipart it can list the
                    // part itself among its sub-parts (found by the fuzz harness), which
                    // would repeat the part inside itself down to the depth limit.
                    for &child in ids.iter().filter(|&&child| child as usize > id) {
                        if self.parts_left == 0 {
                            break;
                        }
                        self.parts_left -= 1;
                        let mut child = self.part(parsed, child as usize, digest, depth + 1);
                        self.confine(&mut child, &part.body);
                        part.children.push(child);
                    }
                }
                // A transfer-encoded message was parsed from its decoded bytes, so its offsets
                // do not point into the stored message: it stays a leaf.
                PartType::Message(embedded)
                    if source.encoding == Encoding::None && !embedded.parts.is_empty() =>
                {
                    let mut inner = self.message(embedded, depth + 1);
                    // The embedded message runs to the end of the part holding it; the parser
                    // ends a multipart one at its close delimiter, without the line end and
                    // epilogue that follow.
                    let end = &mut inner.root.body.end;
                    *end = (*end).max(part.body.end);
                    self.confine(&mut inner.root, &part.body);
                    part.message = Some(Box::new(inner));
                }
                _ => {}
            }
        }
        if part.media_type == "multipart" && part.children.is_empty() {
            // A multipart without a usable boundary (or past the limits) has no sub-parts to
            // show; like the parser, read it as text.
            part.media_type = "text".into();
            part.subtype = "plain".into();
        }
        if part.media_type == "text" || part.media_type == "message" {
            part.lines = count_lines(self.raw.get(part.body.clone()).unwrap_or_default());
        }
        part
    }

    /// Keeps the ranges of `part` and of everything under it within `outer`, the body of the
    /// part holding it: the parser can read an embedded message's header or a sub-part's body
    /// into the delimiter that ends its parent (found by the fuzz harness, fuzz/), and FETCH
    /// must never serve a section with bytes from outside its parent.
    fn confine(&self, part: &mut Part, outer: &Range<usize>) {
        let body = part.body.clone();
        for range in [&mut part.header, &mut part.body] {
            let end = range.end.clamp(outer.start, outer.end);
            *range = range.start.clamp(outer.start, end)..end;
        }
        if part.body != body && (part.media_type == "text" || part.media_type == "message") {
            part.lines = count_lines(self.raw.get(part.body.clone()).unwrap_or_default());
        }
        let body = part.body.clone();
        for child in &mut part.children {
            self.confine(child, &body);
        }
        if let Some(message) = &mut part.message {
            self.confine(&mut message.root, &body);
        }
    }
}

/// A part's own fields, without sub-parts.
fn leaf(raw: &[u8], source: &MessagePart<'_>, in_digest: bool) -> Part {
    let header = clamp(
        raw,
        source.offset_header as usize,
        source.offset_body as usize,
    );
    let body = clamp(raw, source.offset_body as usize, source.offset_end as usize);
    let content_type = source
        .headers
        .iter()
        .find_map(|h| match (&h.name, &h.value) {
            (HeaderName::ContentType, HeaderValue::ContentType(ct)) => Some(ct),
            _ => None,
        });
    let mut part = match content_type {
        Some(ct) => Part {
            params: parameters(ct),
            ..typed(ct, header.clone(), body.clone(), raw)
        },
        None if in_digest => Part {
            media_type: "message".into(),
            subtype: "rfc822".into(),
            params: Vec::new(),
            ..Part::plain_text(header.clone(), body.clone(), raw)
        },
        None => Part::plain_text(header.clone(), body.clone(), raw),
    };
    part.lines = 0;
    let text = |name: &str| raw_field(raw, &source.headers, name);
    part.id = text("content-id");
    part.description = text("content-description");
    part.encoding = text("content-transfer-encoding");
    part.location = text("content-location");
    part.md5 = text("content-md5");
    part.language = text("content-language")
        .map(|l| {
            l.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    part.disposition = source
        .headers
        .iter()
        .find_map(|h| match (&h.name, &h.value) {
            (HeaderName::ContentDisposition, HeaderValue::ContentType(cd)) => {
                Some((cd.c_type.to_ascii_lowercase(), parameters(cd)))
            }
            _ => None,
        });
    part
}

/// A part typed by its Content-Type; a type without a subtype falls back to the default for
/// text (`text/plain`) or for anything else (`application/octet-stream`).
fn typed(ct: &ContentType<'_>, header: Range<usize>, body: Range<usize>, raw: &[u8]) -> Part {
    let media_type = ct.c_type.trim().to_ascii_lowercase();
    let subtype = ct.c_subtype.as_deref().map(str::trim).unwrap_or_default();
    let (media_type, subtype) = match (media_type.as_str(), subtype) {
        ("" | "text", "") => ("text".to_string(), "plain".to_string()),
        (_, "") => ("application".to_string(), "octet-stream".to_string()),
        _ => (media_type, subtype.to_ascii_lowercase()),
    };
    Part {
        media_type,
        subtype,
        ..Part::plain_text(header, body, raw)
    }
}

/// Parameters of a Content-Type or Content-Disposition, names lowercase.
fn parameters(ct: &ContentType<'_>) -> Vec<(String, String)> {
    ct.attributes
        .iter()
        .flatten()
        .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
        .collect()
}

/// A range within the message, empty where the parser's offsets do not fit it.
fn clamp(raw: &[u8], start: usize, end: usize) -> Range<usize> {
    let end = end.min(raw.len());
    start.min(end)..end
}

/// Lines in a body: every line feed, plus a last line that has none.
fn count_lines(body: &[u8]) -> u32 {
    let feeds = body.iter().filter(|&&b| b == b'\n').count();
    let unterminated = usize::from(body.last().is_some_and(|&b| b != b'\n'));
    u32::try_from(feeds + unterminated).unwrap_or(u32::MAX)
}

/// The first field called `name` (lowercase) among `headers`, as written: unfolded and
/// trimmed. `None` when absent or empty.
fn raw_field(raw: &[u8], headers: &[Header<'_>], name: &str) -> Option<String> {
    let header = headers.iter().find(|h| field_name_is(h, name))?;
    let bytes = raw.get(header.offset_start as usize..header.offset_end as usize)?;
    // RFC 5322 §2.2.3: unfolding removes each CRLF that precedes white space; the only other
    // line end in a field value is the one that ends it, which trimming removes anyway.
    let unfolded: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let value = String::from_utf8_lossy(&unfolded).trim().to_string();
    Some(value).filter(|v| !v.is_empty())
}

fn field_name_is(header: &Header<'_>, name: &str) -> bool {
    match &header.name {
        HeaderName::Other(other) => other.eq_ignore_ascii_case(name),
        known => known.as_static_str().eq_ignore_ascii_case(name),
    }
}

/// The envelope fields from a message's header fields.
fn envelope(raw: &[u8], headers: &[Header<'_>]) -> Envelope {
    let addresses = |name: HeaderName<'static>| {
        headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| match &h.value {
                HeaderValue::Address(list) => address_list(list),
                _ => Vec::new(),
            })
            .unwrap_or_default()
    };
    Envelope {
        date: raw_field(raw, headers, "date"),
        subject: raw_field(raw, headers, "subject"),
        from: addresses(HeaderName::From),
        sender: addresses(HeaderName::Sender),
        reply_to: addresses(HeaderName::ReplyTo),
        to: addresses(HeaderName::To),
        cc: addresses(HeaderName::Cc),
        bcc: addresses(HeaderName::Bcc),
        in_reply_to: raw_field(raw, headers, "in-reply-to"),
        message_id: raw_field(raw, headers, "message-id"),
    }
}

/// An address header in envelope form, groups marked as RFC 3501 §7.4.2 describes.
fn address_list(list: &ParsedAddress<'_>) -> Vec<Address> {
    match list {
        ParsedAddress::List(addrs) => addrs.iter().filter_map(address).collect(),
        ParsedAddress::Group(groups) => {
            let mut out = Vec::new();
            for group in groups {
                let members = group.addresses.iter().filter_map(address);
                match &group.name {
                    // Addresses outside any group come as a group without a name.
                    None => out.extend(members),
                    Some(name) => {
                        out.push(Address {
                            name: None,
                            mailbox: Some(header_phrase(name)),
                            host: None,
                        });
                        out.extend(members);
                        out.push(Address::default());
                    }
                }
            }
            out
        }
    }
}

/// One mailbox; `None` for an entry with no address to write to.
fn address(addr: &Addr<'_>) -> Option<Address> {
    let address = addr.address.as_deref()?.trim();
    if address.is_empty() {
        return None;
    }
    // A host of NIL would read as a group marker, so an address without a domain gets an
    // empty one.
    let (mailbox, host) = address.rsplit_once('@').unwrap_or((address, ""));
    Some(Address {
        name: addr
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(header_phrase),
        mailbox: Some(mailbox.to_string()),
        host: Some(host.to_string()),
    })
}

/// A decoded display name in the form a header carries it: unchanged when ASCII, otherwise
/// RFC 2047 encoded-words (UTF-8, base64) split at character boundaries.
fn header_phrase(decoded: &str) -> String {
    if decoded.is_ascii() {
        return decoded.to_string();
    }
    let mut words = Vec::new();
    let mut rest = decoded;
    while !rest.is_empty() {
        let mut cut = rest.len().min(ENCODED_WORD_BYTES);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (chunk, tail) = rest.split_at(cut);
        let encoded = base64::engine::general_purpose::STANDARD.encode(chunk);
        words.push(format!("=?utf-8?b?{encoded}?="));
        rest = tail;
    }
    words.join(" ")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
