//! BER as this server writes it: every length worked out before a byte is written, and
//! each element written once, into one buffer, with no buffer of its own per level.
//!
//! `ldap3_lber`'s writer encodes a constructed element by encoding its contents into a
//! buffer of their own and copying that into the parent's, so each byte of an answer is
//! copied once per level of nesting, with an allocation per level. Search entries, most of
//! what this server writes, are nested five deep and are written here from the tree's own
//! values, without building ldap3_proto's message and tag values first; every other
//! message still goes through ldap3_proto's types, written by [`write_tag`]. The bytes are
//! the same DER-style definite-length encoding ldap3_lber writes: the tests check them
//! against it.

use bytes::{BufMut, BytesMut};
use ldap3_lber::common::TagClass;
use ldap3_lber::structure::{StructureTag, PL};

/// Universal SEQUENCE, constructed.
const SEQUENCE: u8 = 0x30;
/// Universal SET, constructed.
const SET: u8 = 0x31;
/// Universal INTEGER.
const INTEGER: u8 = 0x02;
/// Universal OCTET STRING.
const OCTET_STRING: u8 = 0x04;
/// `[APPLICATION 4]`, constructed: a searchResEntry (RFC 4511 §4.5.2).
const SEARCH_RESULT_ENTRY: u8 = 0x64;

/// Octets a definite length takes: the short form below 128, else a count and the length's
/// significant octets.
fn length_octets(length: usize) -> usize {
    if length < 0x80 {
        1
    } else {
        1 + (usize::BITS - length.leading_zeros()).div_ceil(8) as usize
    }
}

fn put_length(buf: &mut BytesMut, length: usize) {
    if length < 0x80 {
        buf.put_u8(length as u8);
    } else {
        let octets = length_octets(length) - 1;
        buf.put_u8(0x80 | octets as u8);
        buf.put_slice(&length.to_be_bytes()[usize::BITS as usize / 8 - octets..]);
    }
}

/// An element of `content` octets, with its identifier and length.
fn element(content: usize) -> usize {
    1 + length_octets(content) + content
}

/// The contents of a non-negative INTEGER: big-endian, minimal, with a leading zero octet
/// where the top bit would otherwise read as a sign.
fn integer_octets(value: i32) -> ([u8; 5], usize) {
    let magnitude = value.max(0) as u32;
    let significant = (u32::BITS - magnitude.leading_zeros()).div_ceil(8).max(1) as usize;
    let mut octets = [0u8; 5];
    octets[1..].copy_from_slice(&magnitude.to_be_bytes());
    let sign = usize::from((magnitude >> (significant * 8 - 1)) & 1 == 1);
    let count = significant + sign;
    (octets, count)
}

/// Writes one LDAPMessage carrying a searchResEntry for `dn`, without controls.
/// `attributes` gives each attribute sent, in order: its name and the values sent (none
/// when only types were asked for). Both are walked more than once, to size what encloses
/// them before writing it: collecting them first would cost the allocations this module is
/// here to save.
pub fn write_search_entry<'n, 'v, A, V>(buf: &mut BytesMut, msgid: i32, dn: &str, attributes: A)
where
    A: Iterator<Item = (&'n str, V)> + Clone,
    V: Iterator<Item = &'v [u8]> + Clone,
{
    let list: usize = attributes
        .clone()
        .map(|(name, values)| element(attribute_content(name, values)))
        .sum();
    let entry = element(dn.len()) + element(list);
    let (id, id_len) = integer_octets(msgid);
    let message = element(id_len) + element(entry);
    buf.reserve(element(message));

    buf.put_u8(SEQUENCE);
    put_length(buf, message);
    buf.put_u8(INTEGER);
    put_length(buf, id_len);
    buf.put_slice(&id[id.len() - id_len..]);
    buf.put_u8(SEARCH_RESULT_ENTRY);
    put_length(buf, entry);
    put_octets(buf, dn.as_bytes());
    buf.put_u8(SEQUENCE);
    put_length(buf, list);
    for (name, values) in attributes {
        let set = set_content(values.clone());
        buf.put_u8(SEQUENCE);
        put_length(buf, element(name.len()) + element(set));
        put_octets(buf, name.as_bytes());
        buf.put_u8(SET);
        put_length(buf, set);
        for value in values {
            put_octets(buf, value);
        }
    }
}

/// The contents of one PartialAttribute: its type and the SET of its values.
fn attribute_content<'a>(name: &str, values: impl Iterator<Item = &'a [u8]>) -> usize {
    element(name.len()) + element(set_content(values))
}

/// The contents of a SET of OCTET STRINGs.
fn set_content<'a>(values: impl Iterator<Item = &'a [u8]>) -> usize {
    values.map(|v| element(v.len())).sum()
}

fn put_octets(buf: &mut BytesMut, octets: &[u8]) {
    buf.put_u8(OCTET_STRING);
    put_length(buf, octets.len());
    buf.put_slice(octets);
}

/// Writes `tag` and everything inside it.
pub fn write_tag(buf: &mut BytesMut, tag: &StructureTag) {
    buf.reserve(element(content_length(tag)));
    put_tag(buf, tag);
}

fn content_length(tag: &StructureTag) -> usize {
    match &tag.payload {
        PL::P(octets) => octets.len(),
        PL::C(inner) => inner.iter().map(element_of).sum(),
    }
}

/// The octets `tag` takes whole: identifier, length and contents.
fn element_of(tag: &StructureTag) -> usize {
    identifier_octets(tag.id) + {
        let content = content_length(tag);
        length_octets(content) + content
    }
}

fn identifier_octets(id: u64) -> usize {
    if id < 31 {
        1
    } else {
        1 + (u64::BITS - id.leading_zeros()).div_ceil(7) as usize
    }
}

fn put_tag(buf: &mut BytesMut, tag: &StructureTag) {
    let constructed = matches!(tag.payload, PL::C(_));
    let class = match tag.class {
        TagClass::Universal => 0x00,
        TagClass::Application => 0x40,
        TagClass::Context => 0x80,
        TagClass::Private => 0xc0,
    };
    let form = if constructed { 0x20 } else { 0x00 };
    if tag.id < 31 {
        buf.put_u8(class | form | tag.id as u8);
    } else {
        buf.put_u8(class | form | 0x1f);
        let groups = identifier_octets(tag.id) - 1;
        for group in (0..groups).rev() {
            let more = if group > 0 { 0x80 } else { 0x00 };
            buf.put_u8(more | ((tag.id >> (7 * group)) & 0x7f) as u8);
        }
    }
    match &tag.payload {
        PL::P(octets) => {
            put_length(buf, octets.len());
            buf.put_slice(octets);
        }
        PL::C(inner) => {
            put_length(buf, inner.iter().map(element_of).sum());
            for t in inner {
                put_tag(buf, t);
            }
        }
    }
}

#[cfg(test)]
mod tests;
