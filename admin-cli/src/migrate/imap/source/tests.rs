use std::borrow::Cow;

use super::*;

#[test]
fn sources_are_read_with_their_security() {
    let tls = SourceAddress::parse("imaps://Old.VinhPhuc.gov.vn", false).unwrap();
    assert_eq!(
        tls,
        SourceAddress {
            host: "old.vinhphuc.gov.vn".into(),
            port: 993,
            security: Security::Tls
        }
    );
    let starttls = SourceAddress::parse("imap://old.vinhphuc.gov.vn:1143/", false).unwrap();
    assert_eq!(starttls.port, 1143);
    assert_eq!(starttls.security, Security::StartTls);
    let plain = SourceAddress::parse("imap://127.0.0.1:10143", true).unwrap();
    assert_eq!(plain.security, Security::Plain);
    assert_eq!(plain.host, "127.0.0.1");
    let v6 = SourceAddress::parse("imap://[::1]:10143", true).unwrap();
    assert_eq!(v6.host, "::1");
    assert!(SourceAddress::parse("imap://localhost", true).is_ok());
}

#[test]
fn bad_sources_are_refused_with_the_reason() {
    let remote_plain = SourceAddress::parse("imap://old.vinhphuc.gov.vn", true).unwrap_err();
    assert!(
        remote_plain.contains("only for a source on this machine"),
        "{remote_plain}"
    );
    let pretend_loopback = SourceAddress::parse("imap://127.0.0.1.example.vn", true).unwrap_err();
    assert!(
        pretend_loopback.contains("--insecure-plain"),
        "{pretend_loopback}"
    );
    let tls_plain = SourceAddress::parse("imaps://127.0.0.1", true).unwrap_err();
    assert!(tls_plain.contains("imap:// sources only"), "{tls_plain}");
    let scheme = SourceAddress::parse("pop3://old.vinhphuc.gov.vn", false).unwrap_err();
    assert!(scheme.contains("imaps:// or imap://"), "{scheme}");
    let credentials = SourceAddress::parse("imaps://admin:pw@old.vinhphuc.gov.vn", false);
    assert!(credentials
        .unwrap_err()
        .contains("no credentials in the URL"));
    let garbage = SourceAddress::parse("old.vinhphuc.gov.vn", false).unwrap_err();
    assert!(garbage.contains("--source"), "{garbage}");
}

#[test]
fn internal_dates_are_read_in_their_zone() {
    // RFC 3501's example: 1996-07-17 09:44:25 UTC.
    assert_eq!(
        parse_internal_date("17-Jul-1996 02:44:25 -0700"),
        Some(UnixTime(837_596_665))
    );
    // Space-padded day, Vietnam time.
    assert_eq!(
        parse_internal_date(" 4-Mar-2019 16:30:00 +0700"),
        Some(UnixTime(1_551_691_800))
    );
    assert_eq!(parse_internal_date("yesterday"), None);
}

#[test]
fn fetch_answers_become_flags_keywords_and_sizes() {
    let attributes = vec![
        AttributeValue::Uid(42),
        AttributeValue::Flags(vec![
            Cow::Borrowed("\\Seen"),
            Cow::Borrowed("\\ANSWERED"),
            Cow::Borrowed("\\Recent"),
            Cow::Borrowed("\\Deleted"),
            Cow::Borrowed("$Forwarded"),
            Cow::Borrowed("$label1"),
        ]),
        AttributeValue::InternalDate(Cow::Borrowed("04-Mar-2019 16:30:00 +0700")),
        AttributeValue::Rfc822Size(1234),
    ];
    assert_eq!(
        message_info(&attributes),
        Some(MessageInfo {
            uid: 42,
            flags: MessageFlags::SEEN
                .with(MessageFlags::ANSWERED)
                .with(MessageFlags::DELETED),
            keywords: vec!["$Forwarded".into(), "$label1".into()],
            internal_date: Some(UnixTime(1_551_691_800)),
            size: 1234,
        })
    );
    // An unsolicited flag update carries no size: not a listing entry.
    let update = vec![
        AttributeValue::Uid(42),
        AttributeValue::Flags(vec![Cow::Borrowed("\\Seen")]),
    ];
    assert_eq!(message_info(&update), None);
}

#[test]
fn uid_sets_are_compact() {
    assert_eq!(uid_set(&[3, 4, 5, 9, 11, 12]), "3:5,9,11:12");
    assert_eq!(uid_set(&[7]), "7");
    assert_eq!(uid_set(&[]), "");
}

#[test]
fn mailbox_names_are_quoted() {
    assert_eq!(
        quoted("Th&AbA- &ARE-&AOM- g&Ark-i"),
        "\"Th&AbA- &ARE-&AOM- g&Ark-i\""
    );
    assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
}

#[test]
fn credentials_never_show_the_password() {
    let credentials = Credentials::MasterAuthzid {
        user: "an".into(),
        master: "admin".into(),
        password: "s3cret".into(),
    };
    let shown = format!("{credentials:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("an"));
    let mut plain = Plain {
        authzid: "an",
        authcid: "admin",
        password: "s3cret",
    };
    use async_imap::Authenticator;
    assert_eq!(plain.process(b""), b"an\0admin\0s3cret".to_vec());
}

#[test]
fn the_sources_own_words_are_kept_from_a_refusal() {
    assert_eq!(
        server_words("code: Some(AuthenticationFailed), info: Some(\"Authentication failed.\")"),
        "Authentication failed."
    );
    assert_eq!(
        server_words("code: None, info: Some(\"TLS support isn't \\\"enabled\\\".\")"),
        "TLS support isn't \"enabled\"."
    );
    assert_eq!(
        server_words("code: None, info: None"),
        "code: None, info: None"
    );
}
