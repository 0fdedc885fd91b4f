//! Property tests of modified UTF-7 (RFC 3501 §5.1.3): every Unicode name survives the trip
//! to the wire and back as ASCII, decoding never panics, and a decoded name always encodes
//! to a valid wire form of itself.

use proptest::prelude::*;

use super::{decode, encode};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure is kept as a plain regression test, not as a file beside the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Names mixing the characters that matter: `&`, `-`, printable ASCII, Vietnamese letters,
/// controls, characters outside the BMP (surrogate pairs on the wire), and anything else.
fn name() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => Just('&'),
        2 => Just('-'),
        4 => prop::char::range(' ', '~'),
        3 => prop::sample::select(vec!['ô', 'ă', 'đ', 'Đ', 'ế', 'ữ', 'ự', '\u{0303}', '–']),
        1 => prop::char::range('\0', '\u{1f}'),
        1 => Just('\u{7f}'),
        2 => prop::char::range('\u{10000}', '\u{10FFFF}'),
        3 => any::<char>(),
    ];
    prop::collection::vec(c, 0..24).prop_map(|chars| chars.into_iter().collect())
}

/// Wire-like text: the characters of modified UTF-7 and base64, plus some that are not.
fn wire() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => Just('&'),
        3 => Just('-'),
        4 => prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,".chars().collect::<Vec<_>>()
        ),
        2 => prop::char::range(' ', '~'),
        1 => Just('/'),
        1 => Just('='),
        1 => any::<char>(),
    ];
    prop::collection::vec(c, 0..32).prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(config(2048))]

    /// Any Unicode string encodes to printable ASCII and decodes back to itself.
    #[test]
    fn any_name_round_trips_through_printable_ascii(name in name()) {
        let wire = encode(&name);
        prop_assert!(wire.bytes().all(|b| (b' '..=b'~').contains(&b)), "{:?}", wire);
        prop_assert_eq!(decode(&wire), Some(name));
    }

    /// `&` always travels as `&-`, and other printable ASCII as itself.
    #[test]
    fn printable_ascii_is_itself_and_ampersand_is_escaped(name in "[ -~]{0,24}") {
        prop_assert_eq!(encode(&name), name.replace('&', "&-"));
    }

    /// Decoding arbitrary text never panics; what it accepts encodes to a wire form that
    /// decodes to the same name.
    #[test]
    fn decoding_never_panics_and_accepted_names_re_encode(wire in wire()) {
        if let Some(name) = decode(&wire) {
            prop_assert_eq!(decode(&encode(&name)), Some(name));
        }
    }

    /// Arbitrary Unicode input (not only wire-like) never panics either.
    #[test]
    fn decoding_any_string_never_panics(text in any::<String>()) {
        let _ = decode(&text);
    }
}

#[test]
fn ampersands_round_trip() {
    for name in ["&", "&&", "&-", "-&-", "A&B", "&Đ&", "Đ&Đ"] {
        let wire = encode(name);
        assert_eq!(decode(&wire).as_deref(), Some(name), "{wire}");
    }
    assert_eq!(encode("&-"), "&--");
}
