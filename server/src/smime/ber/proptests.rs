//! Property tests of BER to DER: random element trees written as DER pass through unchanged,
//! the same trees written as BER the way streaming encoders do (indefinite lengths, long
//! length forms, OCTET STRINGs cut into nested segments) come out as their DER, and arbitrary
//! bytes neither panic nor take more than linear work.

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

/// An element tree as a DER encoder sees it.
#[derive(Debug, Clone)]
enum Tree {
    /// Identifier octets of a primitive type, and its value.
    Primitive(Vec<u8>, Vec<u8>),
    /// Identifier octets of a constructed type, and its elements.
    Constructed(Vec<u8>, Vec<Tree>),
}

/// Identifier octets with the constructed bit as given: low tag numbers of every class, and
/// high tag numbers in two to four octets. Never universal 0 (the end-of-contents octets
/// are `00 00`) and never a constructed OCTET STRING, which DER does not have.
fn identifier(constructed: bool) -> impl Strategy<Value = Vec<u8>> {
    let flag = if constructed { 0x20 } else { 0x00 };
    let low = (0u8..4, 0u8..31)
        .prop_filter("not end-of-contents", |(class, number)| {
            *class != 0 || *number != 0
        })
        .prop_filter("not a constructed OCTET STRING", move |(class, number)| {
            !(constructed && *class == 0 && *number == 4)
        })
        .prop_map(move |(class, number)| vec![(class << 6) | flag | number]);
    let high = (
        0u8..4,
        prop::collection::vec(0x80u8..=0xFF, 0..3),
        0u8..0x80,
    )
        .prop_map(move |(class, mut digits, last)| {
            // A leading digit of 0x80 would not be the shortest form.
            if let Some(first) = digits.first_mut() {
                *first = (*first).max(0x81);
            }
            let mut id = vec![(class << 6) | flag | 0x1F];
            id.append(&mut digits);
            id.push(if id.len() == 1 { last.max(31) } else { last });
            id
        });
    prop_oneof![4 => low, 1 => high]
}

fn tree() -> impl Strategy<Value = Tree> {
    let primitive = (identifier(false), prop::collection::vec(any::<u8>(), 0..40))
        .prop_map(|(id, content)| Tree::Primitive(id, content));
    // Long values need long length forms.
    let long = (identifier(false), 120usize..300, any::<u8>())
        .prop_map(|(id, len, b)| Tree::Primitive(id, vec![b; len]));
    let leaf = prop_oneof![8 => primitive, 1 => long];
    leaf.prop_recursive(5, 48, 5, |inner| {
        (identifier(true), prop::collection::vec(inner, 0..5))
            .prop_map(|(id, children)| Tree::Constructed(id, children))
    })
}

/// DER length octets: the shortest form.
fn der_length(length: usize, out: &mut Vec<u8>) {
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let octets: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | octets.len() as u8);
        out.extend_from_slice(&octets);
    }
}

fn der(tree: &Tree) -> Vec<u8> {
    let mut out = Vec::new();
    match tree {
        Tree::Primitive(id, content) => {
            out.extend_from_slice(id);
            der_length(content.len(), &mut out);
            out.extend_from_slice(content);
        }
        Tree::Constructed(id, children) => {
            let inner: Vec<u8> = children.iter().flat_map(der).collect();
            out.extend_from_slice(id);
            der_length(inner.len(), &mut out);
            out.extend_from_slice(&inner);
        }
    }
    out
}

/// How to write one element as BER; drawn from a stream of choices so that every element
/// gets its own.
struct BerChoices<'a> {
    choices: &'a [u8],
    next: usize,
}

impl BerChoices<'_> {
    fn take(&mut self) -> u8 {
        let choice = self.choices.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        choice
    }

    /// Length octets: shortest, or long form with up to four octets; `None` means
    /// indefinite, allowed only for constructed encodings.
    fn length(&mut self, length: usize, constructed: bool, out: &mut Vec<u8>) -> bool {
        let choice = self.take();
        if constructed && choice % 3 == 0 {
            out.push(0x80);
            return true;
        }
        let needed = (usize::BITS - length.leading_zeros()).div_ceil(8) as usize;
        let octets = 1 + usize::from(choice / 3) % 4;
        if choice % 3 == 1 && octets >= needed {
            out.push(0x80 | octets as u8);
            out.extend((0..octets).rev().map(|i| (length >> (8 * i)) as u8));
        } else {
            der_length(length, out);
        }
        false
    }

    /// `content` behind `id` (primitive), or cut into OCTET STRING segments that may
    /// themselves be cut, when `id` is OCTET STRING's.
    fn octets(&mut self, id: &[u8], content: &[u8], depth: usize, out: &mut Vec<u8>) {
        let choice = self.take();
        if id != [OCTET_STRING] || depth > 3 || choice % 2 == 0 {
            out.extend_from_slice(id);
            self.length(content.len(), false, out);
            out.extend_from_slice(content);
            return;
        }
        let mut segments = Vec::new();
        let mut rest = content;
        while !rest.is_empty() || segments.is_empty() {
            let cut = (usize::from(self.take()) % 9).min(rest.len());
            let (segment, tail) = rest.split_at(cut);
            self.octets(id, segment, depth + 1, &mut segments);
            rest = tail;
            if cut == 0 {
                // An empty segment is allowed; go on with at least one byte.
                let (segment, tail) = rest.split_at(rest.len().min(1));
                if !segment.is_empty() {
                    self.octets(id, segment, depth + 1, &mut segments);
                }
                rest = tail;
            }
        }
        out.push(OCTET_STRING_CONSTRUCTED);
        if self.length(segments.len(), true, out) {
            out.extend_from_slice(&segments);
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&segments);
        }
    }

    fn write(&mut self, tree: &Tree, out: &mut Vec<u8>) {
        match tree {
            Tree::Primitive(id, content) => self.octets(id, content, 0, out),
            Tree::Constructed(id, children) => {
                let mut inner = Vec::new();
                for child in children {
                    self.write(child, &mut inner);
                }
                out.extend_from_slice(id);
                let indefinite = self.length(inner.len(), true, out);
                out.extend_from_slice(&inner);
                if indefinite {
                    out.extend_from_slice(&[0, 0]);
                }
            }
        }
    }
}

/// Trees whose root is constructed (a ContentInfo is a SEQUENCE), with the choices for
/// writing them as BER.
fn rooted_tree() -> impl Strategy<Value = (Tree, Vec<u8>)> {
    (
        identifier(true),
        prop::collection::vec(tree(), 0..5),
        prop::collection::vec(any::<u8>(), 0..512),
    )
        .prop_map(|(id, children, choices)| (Tree::Constructed(id, children), choices))
}

proptest! {
    #![proptest_config(config(512))]

    /// DER is BER already: it passes through unchanged, trailing bytes ignored.
    #[test]
    fn der_is_unchanged(tree in tree(), trailing in prop::collection::vec(any::<u8>(), 0..4)) {
        let mut input = der(&tree);
        let expected = input.clone();
        input.extend_from_slice(&trailing);
        prop_assert_eq!(content_info_der(&input), Some(expected));
    }

    /// BER written with indefinite lengths, long length forms and segmented OCTET STRINGs
    /// comes out as the DER of the same tree.
    #[test]
    fn ber_of_a_tree_becomes_its_der((tree, choices) in rooted_tree()) {
        let mut ber = Vec::new();
        BerChoices { choices: &choices, next: 0 }.write(&tree, &mut ber);
        prop_assert_eq!(content_info_der(&ber), Some(der(&tree)));
    }

    /// Arbitrary bytes (biased towards tags, indefinite lengths and end-of-contents) are
    /// refused or converted; whatever comes out is DER that converts to itself.
    #[test]
    fn arbitrary_bytes_never_panic_and_output_is_der(bytes in prop::collection::vec(
        prop_oneof![
            2 => any::<u8>(),
            1 => Just(0x30u8),
            1 => Just(0x80u8),
            1 => Just(0x00u8),
            1 => Just(0x24u8),
            1 => Just(0x04u8),
            1 => Just(0x1Fu8),
            1 => Just(0x84u8),
        ],
        0..200,
    )) {
        if let Some(out) = content_info_der(&bytes) {
            prop_assert_eq!(content_info_der(&out), Some(out.clone()));
        }
    }
}

/// Hostile shapes that could loop or run away: nothing but empty indefinite SEQUENCEs, or
/// end-of-contents octets everywhere. Each must finish quickly, bounded by the element and
/// depth limits.
#[test]
fn hostile_repetition_finishes() {
    let started = std::time::Instant::now();
    let mut wide = vec![0x30, 0x80];
    wide.extend(std::iter::repeat_n([0x30u8, 0x80, 0, 0], 300_000).flatten());
    wide.extend([0, 0]);
    assert_eq!(content_info_der(&wide), None, "past the element limit");
    assert_eq!(content_info_der(&[0u8; 4096]), Some(vec![0, 0]));
    let mut deep = Vec::new();
    for _ in 0..10_000 {
        deep.extend_from_slice(&[0x24, 0x80]);
    }
    assert_eq!(content_info_der(&deep), None, "past the depth limit");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
