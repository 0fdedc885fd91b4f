//! BER to DER for the CMS structures of S/MIME messages. Streaming encoders (NSS, which
//! Thunderbird uses, and OpenSSL with `-stream`) write indefinite lengths and OCTET STRINGs
//! cut into segments; the `cms` decoder reads DER only. This module rewrites tags and lengths
//! and nothing else: it never interprets what a value means, except to leave out the
//! certificates and CRLs a SignedData carries (hints the classifier does not use, and the
//! part of a signature most likely to hold encodings a strict decoder refuses).

use std::borrow::Cow;

/// Deepest nesting read; CMS signatures nest about ten levels.
const MAX_DEPTH: usize = 64;
/// Most elements read: a signature with a dozen certificates has a few thousand, and a
/// streamed opaque signature one per segment of its content (OpenSSL and NSS write segments
/// of 1 KiB and more). Bounds the memory a hostile signature of tiny elements can take.
const MAX_ELEMENTS: usize = 250_000;

/// `SEQUENCE`, constructed.
const SEQUENCE: u8 = 0x30;
/// `OCTET STRING`, primitive and constructed.
const OCTET_STRING: u8 = 0x04;
const OCTET_STRING_CONSTRUCTED: u8 = 0x24;
/// `[0]` and `[1]`, constructed: SignedData's `certificates` and `crls` (RFC 5652 §5.1).
const CONTEXT_0: u8 = 0xA0;
const CONTEXT_1: u8 = 0xA1;
/// The DER of the OBJECT IDENTIFIER id-signedData (1.2.840.113549.1.7.2).
const ID_SIGNED_DATA: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02,
];

/// One BER element as read.
#[derive(Debug)]
enum Element<'a> {
    /// Borrowed as read, or owned when joined from segments.
    Primitive {
        tag: &'a [u8],
        content: Cow<'a, [u8]>,
    },
    Constructed {
        tag: &'a [u8],
        children: Vec<Element<'a>>,
    },
}

/// The DER of the ContentInfo at the start of `ber`, with a SignedData's certificate and CRL
/// sets left out. `None` when the bytes are not well-formed BER. Bytes after the first
/// element are ignored, as base64 padding and trailing line ends leave some.
pub(crate) fn content_info_der(ber: &[u8]) -> Option<Vec<u8>> {
    let mut budget = MAX_ELEMENTS;
    let (mut root, _) = read_element(ber, 0, &mut budget)?;
    drop_signed_data_certificates(&mut root);
    let mut der = Vec::with_capacity(ber.len());
    write_element(&root, &mut der);
    Some(der)
}

/// Reads one element from the start of `input`; returns it and the bytes it took. `budget`
/// is how many more elements may be read.
fn read_element<'a>(
    input: &'a [u8],
    depth: usize,
    budget: &mut usize,
) -> Option<(Element<'a>, usize)> {
    if depth > MAX_DEPTH || *budget == 0 {
        return None;
    }
    *budget -= 1;
    let tag_len = tag_length(input)?;
    let tag = &input[..tag_len];
    let constructed = tag[0] & 0x20 != 0;
    let (length, length_len) = read_length(&input[tag_len..])?;
    let start = tag_len + length_len;
    match length {
        Some(length) => {
            let end = start.checked_add(length)?;
            let value = input.get(start..end)?;
            let element = if constructed {
                let mut children = Vec::new();
                let mut at = 0;
                while at < value.len() {
                    let (child, used) = read_element(&value[at..], depth + 1, budget)?;
                    children.push(child);
                    at += used;
                }
                constructed_element(tag, children)?
            } else {
                Element::Primitive {
                    tag,
                    content: Cow::Borrowed(value),
                }
            };
            Some((element, end))
        }
        // X.690 §8.1.3.6: indefinite lengths are for constructed encodings only, and end
        // with two zero octets.
        None if constructed => {
            let mut children = Vec::new();
            let mut at = start;
            loop {
                let rest = input.get(at..)?;
                if rest.starts_with(&[0, 0]) {
                    at += 2;
                    break;
                }
                let (child, used) = read_element(rest, depth + 1, budget)?;
                children.push(child);
                at += used;
            }
            Some((constructed_element(tag, children)?, at))
        }
        None => None,
    }
}

/// A constructed element, with a segmented OCTET STRING joined into the one primitive value
/// DER requires (X.690 §10.2).
fn constructed_element<'a>(tag: &'a [u8], children: Vec<Element<'a>>) -> Option<Element<'a>> {
    if tag != [OCTET_STRING_CONSTRUCTED] {
        return Some(Element::Constructed { tag, children });
    }
    let mut content = Vec::new();
    for child in children {
        // Segments are OCTET STRINGs themselves; nested segments were joined when read.
        match child {
            Element::Primitive { tag, content: part } if tag == [OCTET_STRING] => {
                content.extend_from_slice(&part);
            }
            _ => return None,
        }
    }
    Some(Element::Primitive {
        tag: &[OCTET_STRING],
        content: Cow::Owned(content),
    })
}

/// How many bytes the identifier octets at the start of `input` take (X.690 §8.1.2).
fn tag_length(input: &[u8]) -> Option<usize> {
    let first = *input.first()?;
    if first & 0x1F != 0x1F {
        return Some(1);
    }
    // High tag numbers: base-128 digits, the last without the top bit. CMS uses none; four
    // digits is far beyond any real tag.
    for (i, byte) in input.iter().enumerate().skip(1).take(4) {
        if byte & 0x80 == 0 {
            return Some(i + 1);
        }
    }
    None
}

/// The length octets at the start of `input`: the length (`None` when indefinite) and how many
/// bytes they took (X.690 §8.1.3).
fn read_length(input: &[u8]) -> Option<(Option<usize>, usize)> {
    let first = *input.first()?;
    match first {
        0x00..=0x7F => Some((Some(usize::from(first)), 1)),
        0x80 => Some((None, 1)),
        // Four length octets already allow 4 GiB, more than any message congvu accepts.
        0x81..=0x84 => {
            let count = usize::from(first & 0x7F);
            let bytes = input.get(1..=count)?;
            let length = bytes
                .iter()
                .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
            Some((Some(length), count + 1))
        }
        _ => None,
    }
}

/// Leaves out `certificates [0]` and `crls [1]` when `root` is a ContentInfo holding a
/// SignedData (RFC 5652 §3, §5.1).
fn drop_signed_data_certificates(root: &mut Element<'_>) {
    let Element::Constructed { tag, children } = root else {
        return;
    };
    if *tag != [SEQUENCE] {
        return;
    }
    let is_signed_data = matches!(
        children.first(),
        Some(Element::Primitive { tag, content })
            if tag.len() == 1 && tag[0] == ID_SIGNED_DATA[0] && content[..] == ID_SIGNED_DATA[2..]
    );
    if !is_signed_data {
        return;
    }
    let Some(Element::Constructed { children, .. }) = children.get_mut(1) else {
        return;
    };
    let Some(Element::Constructed { tag, children }) = children.first_mut() else {
        return;
    };
    if *tag == [SEQUENCE] {
        children.retain(|field| {
            !matches!(field, Element::Constructed { tag, .. } if *tag == [CONTEXT_0] || *tag == [CONTEXT_1])
        });
    }
}

/// Appends the DER of `element` to `out`. Everything is written into `out` directly, so that
/// deep nesting does not hold a copy of the content per level.
fn write_element(element: &Element<'_>, out: &mut Vec<u8>) {
    match element {
        Element::Primitive { tag, content } => {
            out.extend_from_slice(tag);
            write_length(content.len(), out);
            out.extend_from_slice(content);
        }
        Element::Constructed { tag, children } => {
            out.extend_from_slice(tag);
            write_length(children.iter().map(encoded_len).sum(), out);
            for child in children {
                write_element(child, out);
            }
        }
    }
}

/// The length of the DER of `element`, header included.
fn encoded_len(element: &Element<'_>) -> usize {
    let (tag, value_len) = match element {
        Element::Primitive { tag, content } => (tag, content.len()),
        Element::Constructed { tag, children } => (tag, children.iter().map(encoded_len).sum()),
    };
    let length_len = if value_len < 0x80 {
        1
    } else {
        1 + (usize::BITS - value_len.leading_zeros()).div_ceil(8) as usize
    };
    tag.len() + length_len + value_len
}

/// Appends a definite length in its shortest form (X.690 §10.1).
fn write_length(length: usize, out: &mut Vec<u8>) {
    if length < 0x80 {
        // Checked just above: fits in seven bits.
        out.push(length as u8);
        return;
    }
    let bytes = length.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = &bytes[skip..];
    // At most size_of::<usize>() octets, so the count fits in the low seven bits.
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(ber: &[u8]) -> Option<Vec<u8>> {
        content_info_der(ber)
    }

    #[test]
    fn indefinite_lengths_become_definite() {
        // SEQUENCE (indefinite) { INTEGER 1, SEQUENCE (indefinite) { NULL } }
        let ber = [
            0x30, 0x80, 0x02, 0x01, 0x01, 0x30, 0x80, 0x05, 0x00, 0, 0, 0, 0,
        ];
        assert_eq!(
            der(&ber).unwrap(),
            vec![0x30, 0x07, 0x02, 0x01, 0x01, 0x30, 0x02, 0x05, 0x00]
        );
    }

    #[test]
    fn segmented_octet_strings_are_joined() {
        // [0] { OCTET STRING (constructed, indefinite) { "ab", "c" } }
        let ber = [
            0xA0, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0,
        ];
        assert_eq!(
            der(&ber).unwrap(),
            vec![0xA0, 0x05, 0x04, 0x03, b'a', b'b', b'c']
        );
    }

    #[test]
    fn long_lengths_are_written_shortest() {
        // OCTET STRING with a needlessly long two-octet length of 3, then a 200-byte one.
        assert_eq!(
            der(&[0x04, 0x82, 0x00, 0x03, 1, 2, 3]).unwrap(),
            vec![0x04, 0x03, 1, 2, 3]
        );
        let mut long = vec![0x04, 0x81, 200];
        long.extend([7u8; 200]);
        assert_eq!(der(&long).unwrap(), long);
    }

    #[test]
    fn signed_data_certificates_and_crls_are_left_out() {
        let mut ber = vec![0x30, 0x80];
        ber.extend_from_slice(ID_SIGNED_DATA);
        // [0] EXPLICIT SignedData { version, [0] certificates, [1] crls, SET signerInfos }
        ber.extend_from_slice(&[
            0xA0, 0x80, 0x30, 0x80, 0x02, 0x01, 0x01, 0xA0, 0x02, 0x05, 0x00, 0xA1, 0x00, 0x31,
            0x00, 0, 0, 0, 0, 0, 0,
        ]);
        let mut expected = vec![0x30, 0x14];
        expected.extend_from_slice(ID_SIGNED_DATA);
        expected.extend_from_slice(&[0xA0, 0x07, 0x30, 0x05, 0x02, 0x01, 0x01, 0x31, 0x00]);
        assert_eq!(der(&ber).unwrap(), expected);
    }

    #[test]
    fn malformed_input_is_refused() {
        let cases: &[&[u8]] = &[
            &[],
            &[0x30],
            // Length past the end.
            &[0x04, 0x05, 1, 2],
            // Indefinite length on a primitive.
            &[0x04, 0x80, 1, 0, 0],
            // Indefinite length never closed.
            &[0x30, 0x80, 0x05, 0x00],
            // Five length octets.
            &[0x04, 0x85, 0, 0, 0, 0, 1, 0],
            // A child running past its parent.
            &[0x30, 0x02, 0x04, 0x05, 1, 2, 3, 4, 5],
            // A segment of a constructed OCTET STRING that is not an OCTET STRING.
            &[0x24, 0x03, 0x02, 0x01, 0x01],
            // A high tag number that never ends.
            &[0x1F, 0x81, 0x81, 0x81, 0x81, 0x81, 0x00],
        ];
        for case in cases {
            assert_eq!(der(case), None, "{case:02x?}");
        }
    }

    #[test]
    fn the_number_of_elements_is_bounded() {
        // SEQUENCE (indefinite) of NULLs: the SEQUENCE and `nulls` elements.
        let sequence_of = |nulls: usize| {
            let mut ber = vec![0x30, 0x80];
            ber.extend(std::iter::repeat_n([0x05u8, 0x00], nulls).flatten());
            ber.extend([0, 0]);
            ber
        };
        let at_bound = der(&sequence_of(MAX_ELEMENTS - 1)).unwrap();
        // 2 × 249 999 = 0x07A11E content octets: a three-octet length.
        assert_eq!(at_bound.len(), 5 + 2 * (MAX_ELEMENTS - 1));
        assert_eq!(&at_bound[..7], &[0x30, 0x83, 0x07, 0xA1, 0x1E, 0x05, 0x00]);
        assert_eq!(der(&sequence_of(MAX_ELEMENTS)), None);
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = Vec::new();
        for _ in 0..=MAX_DEPTH + 1 {
            deep.extend_from_slice(&[0x30, 0x80]);
        }
        deep.extend(std::iter::repeat_n(0u8, 2 * (MAX_DEPTH + 2)));
        assert_eq!(der(&deep), None);
        let mut shallow = Vec::new();
        for _ in 0..=MAX_DEPTH {
            shallow.extend_from_slice(&[0x30, 0x80]);
        }
        shallow.extend(std::iter::repeat_n(0u8, 2 * (MAX_DEPTH + 1)));
        assert!(der(&shallow).is_some());
    }
}

#[cfg(test)]
mod proptests;
