//! Property tests of SASL PLAIN (RFC 4616) response parsing: credentials round-trip, the two
//! documented refusals come exactly when they should, and no bytes make it panic.

use proptest::prelude::*;

use super::{plain_credentials, PlainRefusal};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure is kept as a plain regression test, not as a file beside the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text without NUL: ASCII logins, Vietnamese passwords, anything else.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.@_-]{0,16}",
        "[ -~ăâđêôơưĂÂĐÊÔƠƯạảấầẩẫậắằẳẵặẹẻẽếềểễệ]{0,16}",
        any::<String>(),
    ]
    .prop_map(|s| s.replace('\0', ""))
}

fn response(authz: &[u8], user: &[u8], password: &[u8]) -> Vec<u8> {
    [authz, b"\0", user, b"\0", password].concat()
}

/// Bytes where NUL and bytes that are not UTF-8 come up often.
fn raw_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![4 => any::<u8>(), 2 => Just(0u8), 1 => Just(0xC3u8), 1 => Just(0xFFu8), 2 => Just(b'a')],
        0..40,
    )
}

proptest! {
    #![proptest_config(config(2048))]

    /// Without an authorisation identity, or with the login's own, any user and password
    /// without NUL come back as sent.
    #[test]
    fn credentials_round_trip(user in text(), password in text(), own_authz in any::<bool>()) {
        let authz = if own_authz { user.as_str() } else { "" };
        let parsed = plain_credentials(&response(authz.as_bytes(), user.as_bytes(), password.as_bytes()));
        prop_assert_eq!(parsed, Ok((user, password)));
    }

    /// Any other authorisation identity is refused as acting for someone else.
    #[test]
    fn another_identity_is_refused(authz in text(), user in text(), password in text()) {
        // Someone else: never empty, never the login itself.
        let authz = if authz.is_empty() { "x".to_string() } else { authz };
        let authz = if authz == user { format!("{authz}x") } else { authz };
        let parsed = plain_credentials(&response(authz.as_bytes(), user.as_bytes(), password.as_bytes()));
        prop_assert_eq!(parsed, Err(PlainRefusal::ActingForOther));
    }

    /// Arbitrary bytes never panic, and are judged as RFC 4616 reads them: exactly two NULs,
    /// the authorisation identity empty or the login's own, login and password in UTF-8.
    #[test]
    fn arbitrary_bytes_are_judged_by_the_rfc(bytes in raw_bytes()) {
        let parsed = plain_credentials(&bytes);
        let fields: Vec<&[u8]> = bytes.split(|&b| b == 0).collect();
        let [authz, user, password] = fields[..] else {
            prop_assert_eq!(parsed, Err(PlainRefusal::Malformed));
            return Ok(());
        };
        let utf8 = |b: &[u8]| std::str::from_utf8(b).map(str::to_owned);
        match (utf8(authz), utf8(user), utf8(password)) {
            (Ok(authz), Ok(user), Ok(password)) if authz.is_empty() || authz == user => {
                prop_assert_eq!(parsed, Ok((user, password)));
            }
            (Ok(_), Ok(_), Ok(_)) => prop_assert_eq!(parsed, Err(PlainRefusal::ActingForOther)),
            _ if authz.is_empty() || authz == user => prop_assert_eq!(parsed, Err(PlainRefusal::Malformed)),
            // Not UTF-8 and someone else's: either refusal describes it.
            _ => prop_assert!(parsed.is_err(), "{:?}", parsed),
        }
    }

    /// Responses with too few or too many NULs are malformed, whatever is between them.
    #[test]
    fn field_count_other_than_three_is_malformed(
        fields in prop::sample::select(&[0usize, 1, 2, 4, 5, 6][..])
            .prop_flat_map(|n| prop::collection::vec(text(), n)),
    ) {
        let bytes = fields.join("\0").into_bytes();
        prop_assert_eq!(plain_credentials(&bytes), Err(PlainRefusal::Malformed));
    }
}
