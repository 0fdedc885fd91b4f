//! Property tests of LDAP framing: the size cap is decided from the length header alone,
//! every message under the cap comes back as sent (octet-string assertion values as hex),
//! and no input makes the decoder panic.
#![allow(
    clippy::unreachable,
    clippy::too_many_lines,
    reason = "property tests: a strategy that cannot yield a case says so"
)]

use bytes::BytesMut;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapCompareRequest, LdapDerefAliases, LdapFilter, LdapOp,
    LdapSearchRequest, LdapSearchScope, LdapSubstringFilter,
};
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

/// Attribute descriptions as clients write them: served text attributes, the two octet
/// string ones in several spellings, and names congvu does not know.
const ATTRIBUTES: &[&str] = &[
    "cn",
    "mail",
    "uid",
    "objectClass",
    "userCertificate",
    "userCertificate;binary",
    "USERCERTIFICATE",
    "userPassword",
    "USERPASSWORD",
    "description",
    "x-unknown",
];

/// Whether assertions on `attribute` compare octets (and so travel as hex after decoding).
fn is_octets(attribute: &str) -> bool {
    let base = attribute.split(';').next().unwrap_or_default();
    base.eq_ignore_ascii_case("userCertificate") || base.eq_ignore_ascii_case("userPassword")
}

fn attribute() -> impl Strategy<Value = String> {
    prop::sample::select(ATTRIBUTES).prop_map(String::from)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z0-9 .@=,]{0,12}"]
}

/// A search filter of up to three levels.
fn filter() -> impl Strategy<Value = LdapFilter> {
    let leaf = prop_oneof![
        (attribute(), text()).prop_map(|(a, v)| LdapFilter::Equality(a, v)),
        (attribute(), text()).prop_map(|(a, v)| LdapFilter::Approx(a, v)),
        (attribute(), text()).prop_map(|(a, v)| LdapFilter::GreaterOrEqual(a, v)),
        (attribute(), text()).prop_map(|(a, v)| LdapFilter::LessOrEqual(a, v)),
        attribute().prop_map(LdapFilter::Present),
        (
            attribute(),
            prop::option::of(text()),
            prop::collection::vec(text(), 0..3),
            prop::option::of(text())
        )
            .prop_filter(
                "a substring filter has at least one part",
                |(_, i, a, f)| { i.is_some() || !a.is_empty() || f.is_some() }
            )
            .prop_map(|(attribute, initial, any, final_)| {
                LdapFilter::Substring(
                    attribute,
                    LdapSubstringFilter {
                        initial,
                        any,
                        final_,
                    },
                )
            }),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(LdapFilter::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(LdapFilter::Or),
            inner.prop_map(|f| LdapFilter::Not(Box::new(f))),
        ]
    })
}

/// `filter` as the decoder hands it on: equality and approximate values on octet-string
/// attributes as the lowercase hex of their bytes.
fn with_hex_octets(filter: LdapFilter) -> LdapFilter {
    match filter {
        LdapFilter::And(parts) => LdapFilter::And(parts.into_iter().map(with_hex_octets).collect()),
        LdapFilter::Or(parts) => LdapFilter::Or(parts.into_iter().map(with_hex_octets).collect()),
        LdapFilter::Not(inner) => LdapFilter::Not(Box::new(with_hex_octets(*inner))),
        LdapFilter::Equality(a, v) if is_octets(&a) => LdapFilter::Equality(a, hex::encode(v)),
        LdapFilter::Approx(a, v) if is_octets(&a) => LdapFilter::Approx(a, hex::encode(v)),
        other => other,
    }
}

fn search(filter: LdapFilter, base: String, attrs: Vec<String>) -> LdapOp {
    LdapOp::SearchRequest(LdapSearchRequest {
        base,
        scope: LdapSearchScope::Subtree,
        aliases: LdapDerefAliases::Never,
        sizelimit: 0,
        timelimit: 0,
        typesonly: false,
        filter,
        attrs,
    })
}

/// Requests a client sends.
fn request() -> impl Strategy<Value = LdapMsg> {
    let op = prop_oneof![
        4 => (filter(), text(), prop::collection::vec(attribute(), 0..3))
            .prop_map(|(f, base, attrs)| search(f, base, attrs)),
        1 => (text(), text()).prop_map(|(dn, password)| {
            LdapOp::BindRequest(LdapBindRequest {
                version: 3,
                dn,
                cred: LdapBindCred::Simple(password),
            })
        }),
        1 => text().prop_map(LdapOp::DelRequest),
        1 => (text(), attribute(), prop::collection::vec(any::<u8>(), 0..16)).prop_map(
            |(dn, atype, val)| LdapOp::CompareRequest(LdapCompareRequest { dn, atype, val })
        ),
        1 => (0..=i32::MAX).prop_map(LdapOp::AbandonRequest),
        1 => Just(LdapOp::UnbindRequest),
    ];
    (0..=i32::MAX, op).prop_map(|(msgid, op)| LdapMsg {
        msgid,
        op,
        ctrl: Vec::new(),
    })
}

fn encoded(msg: LdapMsg) -> BytesMut {
    let mut buf = BytesMut::new();
    LdapFrames::new(usize::MAX >> 1)
        .encode(msg, &mut buf)
        .expect("a message encodes");
    buf
}

/// What the decoder should hand on for `msg`.
fn as_decoded(mut msg: LdapMsg) -> LdapMsg {
    if let LdapOp::SearchRequest(search) = &mut msg.op {
        let filter = std::mem::replace(&mut search.filter, LdapFilter::Present(String::new()));
        search.filter = with_hex_octets(filter);
    }
    msg
}

/// A BER length in the form given: short when it fits and `long_octets` is 0, else long with
/// that many octets (at least as many as the value needs).
fn ber_length(length: usize, long_octets: usize) -> Vec<u8> {
    let needed = (usize::BITS - length.leading_zeros()).div_ceil(8) as usize;
    if long_octets == 0 && length < 0x80 {
        return vec![length as u8];
    }
    let octets = long_octets.max(needed).max(1);
    let mut out = vec![0x80 | octets as u8];
    out.extend((0..octets).rev().map(|i| (length >> (8 * i)) as u8));
    out
}

proptest! {
    #![proptest_config(config(256))]

    /// A request under the cap comes back whole, whether it arrives at once or in pieces,
    /// and leaves nothing behind; octet-string assertion values arrive as hex.
    #[test]
    fn requests_under_the_cap_round_trip(msg in request(), cuts in prop::collection::vec(any::<usize>(), 0..4)) {
        let wire = encoded(msg.clone());
        let mut frames = LdapFrames::new(wire.len());
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % wire.len()).collect();
        cuts.sort_unstable();
        let mut buf = BytesMut::new();
        let mut from = 0;
        for cut in cuts {
            buf.extend_from_slice(&wire[from..cut.max(from)]);
            from = cut.max(from);
            prop_assert!(matches!(frames.decode(&mut buf), Ok(None)), "decoded before the end");
        }
        buf.extend_from_slice(&wire[from..]);
        let decoded = frames.decode(&mut buf);
        prop_assert!(buf.is_empty());
        match decoded {
            Ok(Some(decoded)) => prop_assert_eq!(decoded, as_decoded(msg)),
            other => prop_assert!(false, "not decoded: {:?}", other.map_err(|e| e.to_string())),
        }
        let mut one_short = LdapFrames::new(wire.len() - 1);
        prop_assert!(matches!(
            one_short.decode(&mut wire.clone()),
            Err(FrameError::TooLarge(n)) if n == wire.len()
        ));
    }

    /// An equality or approximate match on a certificate or password, with any bytes as its
    /// value (DER is not UTF-8), at any depth under NOT, AND and OR, arrives as hex.
    #[test]
    fn octet_assertions_of_any_bytes_arrive_as_hex(
        octets_attribute in prop::sample::select(&ATTRIBUTES[4..9]),
        value in prop::collection::vec(any::<u8>(), 0..64),
        approx in any::<bool>(),
        wrappers in prop::collection::vec(0u8..3, 0..4),
    ) {
        let leaf = |v: String| if approx {
            LdapFilter::Approx(octets_attribute.to_string(), v)
        } else {
            LdapFilter::Equality(octets_attribute.to_string(), v)
        };
        let wrap = |mut f: LdapFilter| {
            for w in wrappers.iter().rev() {
                f = match w {
                    0 => LdapFilter::Not(Box::new(f)),
                    1 => LdapFilter::And(vec![f]),
                    _ => LdapFilter::Or(vec![f]),
                };
            }
            f
        };
        let msg = LdapMsg { msgid: 1, op: search(wrap(leaf(String::new())), String::new(), vec![]), ctrl: vec![] };
        // Put the raw bytes where the empty placeholder value is.
        let mut tag = StructureTag::from(msg);
        let mut node = match &mut tag.payload {
            PL::C(parts) => match &mut parts[1].payload {
                PL::C(fields) => &mut fields[SEARCH_FILTER_INDEX],
                PL::P(_) => unreachable!("a search request is constructed"),
            },
            PL::P(_) => unreachable!("a message is constructed"),
        };
        for _ in &wrappers {
            node = match &mut node.payload {
                PL::C(parts) => &mut parts[0],
                PL::P(_) => unreachable!("NOT, AND and OR are constructed"),
            };
        }
        match &mut node.payload {
            PL::C(parts) => parts[1].payload = PL::P(value.clone()),
            PL::P(_) => unreachable!("an assertion is constructed"),
        }
        let mut buf = BytesMut::new();
        ldap3_lber::write::encode_into(&mut buf, tag).expect("encodes");
        let decoded = LdapFrames::new(1 << 16).decode(&mut buf);
        let expected = wrap(leaf(hex::encode(&value)));
        match decoded {
            Ok(Some(LdapMsg { op: LdapOp::SearchRequest(search), .. })) => prop_assert_eq!(search.filter, expected),
            other => prop_assert!(false, "not a search: {:?}", other.map_err(|e| e.to_string())),
        }
    }

    /// A header announcing more than the cap is refused before the body arrives, and
    /// nothing is reserved for it.
    #[test]
    fn oversize_is_refused_from_the_header_alone(
        cap in 2usize..4096,
        over in 1usize..(1 << 24),
        long_octets in 0usize..5,
        sent in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let header_len = ber_length(cap + over, long_octets).len() + 1;
        // The body length that makes the whole element `cap + over` bytes.
        let Some(body) = (cap + over).checked_sub(header_len) else { return Ok(()); };
        let length = ber_length(body, long_octets);
        prop_assume!(length.len() + 1 == header_len && length.len() <= 5);
        let mut wire = vec![0x30];
        wire.extend_from_slice(&length);
        wire.extend_from_slice(&sent[..sent.len().min(body.saturating_sub(1))]);
        let mut buf = BytesMut::from(&wire[..]);
        let mut frames = LdapFrames::new(cap);
        let refused = frames.decode(&mut buf);
        prop_assert!(
            matches!(refused, Err(FrameError::TooLarge(n)) if n == cap + over),
            "{:?}",
            refused.map_err(|e| e.to_string())
        );
        prop_assert!(buf.capacity() < cap + over || wire.len() >= cap + over);
        prop_assert_eq!(&buf[..], &wire[..]);
    }

    /// Arbitrary bytes are refused, awaited or decoded; never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), cap in 0usize..512) {
        let mut frames = LdapFrames::new(cap);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = frames.decode(&mut buf) {}
    }

    /// Arbitrary content behind a well-formed header reaches the BER parser and the message
    /// types; never a panic.
    #[test]
    fn arbitrary_content_never_panics(content in prop::collection::vec(
        prop_oneof![any::<u8>(), Just(0x30u8), Just(0x80u8), Just(0x04u8), Just(0xA0u8), Just(0x63u8), Just(0x02u8)],
        0..300,
    )) {
        let mut wire = vec![0x30];
        wire.extend_from_slice(&ber_length(content.len(), 0));
        wire.extend_from_slice(&content);
        let mut frames = LdapFrames::new(1024);
        let mut buf = BytesMut::from(&wire[..]);
        let _ = frames.decode(&mut buf);
    }

    /// A valid request with arbitrary bytes flipped still never panics.
    #[test]
    fn mutated_requests_never_panic(
        msg in request(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut wire = encoded(msg).to_vec();
        for (at, byte) in flips {
            let at = at % wire.len();
            wire[at] = byte;
        }
        let mut frames = LdapFrames::new(1 << 16);
        let mut buf = BytesMut::from(&wire[..]);
        while let Ok(Some(_)) = frames.decode(&mut buf) {}
    }
}
