//! Classification of messages signed by OpenSSL (fixtures/make.sh) against directory
//! certificates.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::certificate::{SignerCertificate, MAX_CERTIFICATE_BYTES};
use super::verify::MAX_SIGNERS;
use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name)).as_slice()
    };
}

const ANNV: &[u8] = fixture!("annv.der");
const ANNV_OTHER: &[u8] = fixture!("annv-other.der");
const NHUNG: &[u8] = fixture!("nhung.der");
const NHUNG_OTHER: &[u8] = fixture!("nhung-other.der");
const LANPT: &[u8] = fixture!("lanpt.der");

const RSA_DETACHED: &[u8] = fixture!("rsa-detached.eml");
const RSA_OPAQUE: &[u8] = fixture!("rsa-opaque.eml");
const ECDSA_DETACHED: &[u8] = fixture!("ecdsa-detached.eml");
const ECDSA_OPAQUE: &[u8] = fixture!("ecdsa-opaque.eml");

/// A signed fixture, the certificate of its signer, and another certificate for the same
/// address (or, for the one P-384 signer, another official's).
struct Case {
    name: &'static str,
    message: &'static [u8],
    signer: &'static [u8],
    other: &'static [u8],
}

const fn case(
    name: &'static str,
    message: &'static [u8],
    signer: &'static [u8],
    other: &'static [u8],
) -> Case {
    Case {
        name,
        message,
        signer,
        other,
    }
}

/// Every signed fixture.
const SIGNED: &[Case] = &[
    case("rsa-detached", RSA_DETACHED, ANNV, ANNV_OTHER),
    case(
        "rsa-alternative",
        fixture!("rsa-alternative.eml"),
        ANNV,
        ANNV_OTHER,
    ),
    case("rsa-sha1", fixture!("rsa-sha1.eml"), ANNV, ANNV_OTHER),
    case("rsa-sha384", fixture!("rsa-sha384.eml"), ANNV, ANNV_OTHER),
    case("rsa-sha512", fixture!("rsa-sha512.eml"), ANNV, ANNV_OTHER),
    case("rsa-pss", fixture!("rsa-pss.eml"), ANNV, ANNV_OTHER),
    case("rsa-noattr", fixture!("rsa-noattr.eml"), ANNV, ANNV_OTHER),
    case("rsa-keyid", fixture!("rsa-keyid.eml"), ANNV, ANNV_OTHER),
    case("rsa-ber", fixture!("rsa-ber.eml"), ANNV, ANNV_OTHER),
    case("rsa-opaque", RSA_OPAQUE, ANNV, ANNV_OTHER),
    case(
        "rsa-opaque-noattr",
        fixture!("rsa-opaque-noattr.eml"),
        ANNV,
        ANNV_OTHER,
    ),
    case(
        "rsa-opaque-ber",
        fixture!("rsa-opaque-ber.eml"),
        ANNV,
        ANNV_OTHER,
    ),
    case("ecdsa-detached", ECDSA_DETACHED, NHUNG, NHUNG_OTHER),
    case(
        "ecdsa-noattr",
        fixture!("ecdsa-noattr.eml"),
        NHUNG,
        NHUNG_OTHER,
    ),
    case("ecdsa-opaque", ECDSA_OPAQUE, NHUNG, NHUNG_OTHER),
    case("ecdsa-p384", fixture!("ecdsa-p384.eml"), LANPT, NHUNG),
];

const TEXT: &[u8] = "Đề nghị báo cáo trước ngày 30/11.".as_bytes();

/// `haystack` with its only occurrence of `from` replaced by `to`.
fn replace_once(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = find(haystack, from).unwrap_or_else(|| panic!("{:?} not found", from.escape_ascii()));
    assert_eq!(
        find(&haystack[at + 1..], from),
        None,
        "{:?} found twice",
        from.escape_ascii()
    );
    [&haystack[..at], to, &haystack[at + from.len()..]].concat()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where the base64 of the (only) S/MIME body of `message` starts and ends, the line end
/// after its last line excluded.
fn signature_block(message: &[u8]) -> (usize, usize) {
    let header = find(message, b"Content-Type: application/pkcs7-").unwrap();
    let start = header + find(&message[header..], b"\r\n\r\n").unwrap() + 4;
    let rest = &message[start..];
    let end = [find(rest, b"\r\n\r\n"), find(rest, b"\r\n--")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len() - 2);
    (start, start + end)
}

/// The decoded S/MIME body of `message`.
fn cms_of(message: &[u8]) -> Vec<u8> {
    let (start, end) = signature_block(message);
    let text: Vec<u8> = message[start..end]
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    STANDARD.decode(text).unwrap()
}

/// `message` with its S/MIME body replaced by `cms`, base64 in 76-column lines.
fn with_cms(message: &[u8], cms: &[u8]) -> Vec<u8> {
    let (start, end) = signature_block(message);
    let encoded = STANDARD.encode(cms);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    [
        &message[..start],
        lines.join("\r\n").as_bytes(),
        &message[end..],
    ]
    .concat()
}

/// `message` with one byte of the signed text changed: in the first body part, or inside the
/// encapsulated content of an opaque signature.
fn tampered(message: &[u8]) -> Vec<u8> {
    if find(message, b"multipart/signed").is_some() {
        replace_once(message, b"30/11", b"31/11")
    } else {
        let cms = replace_once(&cms_of(message), b"30/11", b"31/11");
        with_cms(message, &cms)
    }
}

#[test]
fn signatures_verify_with_the_signers_directory_certificate() {
    for Case {
        name,
        message,
        signer: certificate,
        ..
    } in SIGNED
    {
        assert_eq!(
            classify(message, &[certificate]),
            Signing::Verified,
            "{name}"
        );
    }
}

#[test]
fn the_signers_certificate_may_be_any_of_the_senders() {
    for Case {
        name,
        message,
        signer: certificate,
        other,
    } in SIGNED
    {
        assert_eq!(
            classify(message, &[other, LANPT, certificate]),
            Signing::Verified,
            "{name}"
        );
    }
}

#[test]
fn another_certificate_for_the_same_address_does_not_verify() {
    for Case {
        name,
        message,
        other,
        ..
    } in SIGNED
    {
        assert_eq!(classify(message, &[other]), Signing::Unverified, "{name}");
    }
}

#[test]
fn a_signer_outside_the_directory_is_unverified() {
    for Case { name, message, .. } in SIGNED {
        assert_eq!(classify(message, &[]), Signing::Unverified, "{name}");
    }
}

#[test]
fn one_changed_byte_of_the_content_is_unverified() {
    for Case {
        name,
        message,
        signer: certificate,
        ..
    } in SIGNED
    {
        if *name == "rsa-alternative" {
            continue;
        }
        let changed = tampered(message);
        assert_eq!(changed.len(), message.len(), "{name}");
        assert_eq!(
            classify(&changed, &[certificate]),
            Signing::Unverified,
            "{name}"
        );
    }
    let alternative = fixture!("rsa-alternative.eml");
    let changed = replace_once(alternative, b"<p>K", b"<p>k");
    assert_eq!(classify(&changed, &[ANNV]), Signing::Unverified);
}

#[test]
fn the_signed_part_ends_before_the_crlf_of_the_next_delimiter() {
    // RFC 1847 §2.1: the CRLF before "--boundary" belongs to the delimiter. Moving it into
    // the part (one more blank line) or dropping the part's own last CRLF changes what is
    // signed.
    let extra = replace_once(
        RSA_DETACHED,
        "30/11.\r\n\r\n--".as_bytes(),
        "30/11.\r\n\r\n\r\n--".as_bytes(),
    );
    assert_eq!(classify(&extra, &[ANNV]), Signing::Unverified);
    let fewer = replace_once(
        RSA_DETACHED,
        "30/11.\r\n\r\n--".as_bytes(),
        "30/11.\r\n--".as_bytes(),
    );
    assert_eq!(classify(&fewer, &[ANNV]), Signing::Unverified);
}

#[test]
fn line_ends_changed_in_the_signed_part_are_unverified() {
    for (message, certificate) in [(RSA_DETACHED, ANNV), (ECDSA_DETACHED, NHUNG)] {
        let start = find(message, b"\r\n\r\n------=_smime_").unwrap() + 4;
        let start = start + find(&message[start..], b"\r\n").unwrap() + 2;
        let end = start + find(&message[start..], b"\r\n\r\n------=_smime_").unwrap() + 2;
        let part = &message[start..end];
        let lf = String::from_utf8(part.to_vec())
            .unwrap()
            .replace("\r\n", "\n");
        assert!(lf.starts_with("Content-Type: text/plain; charset=utf-8\n"));
        let changed = [&message[..start], lf.as_bytes(), &message[end..]].concat();
        assert_eq!(classify(&changed, &[certificate]), Signing::Unverified);
    }
}

#[test]
fn trace_headers_above_the_signed_part_do_not_matter() {
    let received = b"Received: from mail.vinhphuc.gov.vn by mx.vinhphuc.gov.vn;\r\n\tMon, 24 Nov 2025 09:00:01 +0700\r\nReturn-Path: <annv@vinhphuc.gov.vn>\r\n";
    for (message, certificate) in [(RSA_DETACHED, ANNV), (RSA_OPAQUE, ANNV)] {
        let traced = [received.as_slice(), message].concat();
        assert_eq!(classify(&traced, &[certificate]), Signing::Verified);
    }
}

#[test]
fn the_x_pkcs7_spelling_is_signed() {
    let old = String::from_utf8(RSA_DETACHED.to_vec()).unwrap().replace(
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
    );
    assert_eq!(old.matches("x-pkcs7-signature").count(), 2);
    assert_eq!(classify(old.as_bytes(), &[ANNV]), Signing::Verified);
    assert_eq!(classify(old.as_bytes(), &[ANNV_OTHER]), Signing::Unverified);

    let old = String::from_utf8(RSA_OPAQUE.to_vec())
        .unwrap()
        .replace("application/pkcs7-mime", "application/x-pkcs7-mime");
    assert_eq!(classify(old.as_bytes(), &[ANNV]), Signing::Verified);
}

#[test]
fn the_protocol_parameter_is_matched_without_case_or_read_from_the_signature_part() {
    let upper = replace_once(
        RSA_DETACHED,
        b"protocol=\"application/pkcs7-signature\"",
        b"protocol=\"Application/PKCS7-Signature\"",
    );
    assert_eq!(classify(&upper, &[ANNV]), Signing::Verified);
    let missing = replace_once(
        RSA_DETACHED,
        b" protocol=\"application/pkcs7-signature\";",
        b"",
    );
    assert_eq!(classify(&missing, &[ANNV]), Signing::Verified);
    let missing_and_not_smime = replace_once(
        &missing,
        b"Content-Type: application/pkcs7-signature",
        b"Content-Type: application/pgp-signature",
    );
    assert_eq!(classify(&missing_and_not_smime, &[ANNV]), Signing::Unsigned);
}

#[test]
fn opaque_signed_data_without_smime_type_is_recognised_by_its_content() {
    let bare = replace_once(RSA_OPAQUE, b" smime-type=signed-data;", b"");
    assert_eq!(classify(&bare, &[ANNV]), Signing::Verified);
    assert_eq!(classify(&bare, &[]), Signing::Unverified);
    let enveloped = replace_once(
        fixture!("enveloped.eml"),
        b" smime-type=enveloped-data;",
        b"",
    );
    assert_eq!(classify(&enveloped, &[ANNV]), Signing::Unsigned);
}

const PLAIN: &str = "From: annv@vinhphuc.gov.vn\r\nTo: vanlt@vinhphuc.gov.vn\r\nSubject: thuong\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nĐề nghị báo cáo trước ngày 30/11.\r\n";

#[test]
fn plain_mail_is_unsigned() {
    assert_eq!(classify(PLAIN.as_bytes(), &[ANNV]), Signing::Unsigned);
    let no_mime = b"From: annv@vinhphuc.gov.vn\r\nSubject: x\r\n\r\nhello\r\n";
    assert_eq!(classify(no_mime, &[ANNV]), Signing::Unsigned);
    assert_eq!(classify(b"", &[ANNV]), Signing::Unsigned);
}

#[test]
fn a_signed_message_inside_multipart_mixed_is_unsigned() {
    // The signed multipart as the first part of a top-level multipart/mixed, as when a
    // client adds a footer or an attachment around a signed message.
    let body_at = find(RSA_DETACHED, b"Content-Type: multipart/signed").unwrap();
    let mixed = [
        &RSA_DETACHED[..body_at],
        b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n",
        &RSA_DETACHED[body_at..],
        b"\r\n--outer\r\nContent-Type: text/plain\r\n\r\nfooter\r\n--outer--\r\n",
    ]
    .concat();
    assert_eq!(classify(&mixed, &[ANNV]), Signing::Unsigned);
}

#[test]
fn encrypted_only_mail_is_unsigned() {
    assert_eq!(
        classify(fixture!("enveloped.eml"), &[ANNV]),
        Signing::Unsigned
    );
    let certs_only = replace_once(RSA_OPAQUE, b"signed-data", b"certs-only");
    assert_eq!(classify(&certs_only, &[ANNV]), Signing::Unsigned);
}

#[test]
fn pgp_mime_is_unsigned() {
    let pgp = "From: annv@vinhphuc.gov.vn\r\nTo: vanlt@vinhphuc.gov.vn\r\nSubject: pgp\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"pgp\"\r\n\r\n\
        --pgp\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nĐề nghị báo cáo.\r\n\r\n\
        --pgp\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n\
        -----BEGIN PGP SIGNATURE-----\r\n\r\niHUEARYIAB0WIQQ=\r\n-----END PGP SIGNATURE-----\r\n\r\n--pgp--\r\n";
    assert_eq!(classify(pgp.as_bytes(), &[ANNV]), Signing::Unsigned);
}

#[test]
fn garbage_in_the_signature_is_unverified() {
    let signature = cms_of(RSA_DETACHED);
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let random: Vec<u8> = (0..1500)
        .map(|_| {
            // xorshift64: fixed, so a failure reproduces.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let cases: [(&str, &[u8]); 4] = [
        ("random", &random),
        ("truncated", &signature[..signature.len() / 2]),
        ("one byte short", &signature[..signature.len() - 1]),
        ("empty", &[]),
    ];
    for (name, garbage) in cases {
        for (message, certificate) in [(RSA_DETACHED, ANNV), (RSA_OPAQUE, ANNV)] {
            let broken = with_cms(message, garbage);
            assert_eq!(
                classify(&broken, &[certificate]),
                Signing::Unverified,
                "{name}"
            );
        }
    }
    // Not base64 at all.
    let (start, end) = signature_block(RSA_DETACHED);
    let text = [
        &RSA_DETACHED[..start],
        b"%%% not base64 %%%",
        &RSA_DETACHED[end..],
    ]
    .concat();
    assert_eq!(classify(&text, &[ANNV]), Signing::Unverified);
}

#[test]
fn every_truncation_of_a_signature_is_unverified() {
    for (message, certificate) in [(RSA_DETACHED, ANNV), (ECDSA_OPAQUE, NHUNG)] {
        let cms = cms_of(message);
        for length in 0..cms.len() {
            let broken = with_cms(message, &cms[..length]);
            assert_eq!(
                classify(&broken, &[certificate]),
                Signing::Unverified,
                "{length}"
            );
        }
    }
}

#[test]
fn a_flipped_bit_in_the_signature_value_is_unverified() {
    for (message, certificate) in [(RSA_DETACHED, ANNV), (ECDSA_DETACHED, NHUNG)] {
        let mut cms = cms_of(message);
        // The signature value is the last OCTET STRING: its final byte is the last of the DER.
        let last = cms.len() - 1;
        cms[last] ^= 0x01;
        assert_eq!(
            classify(&with_cms(message, &cms), &[certificate]),
            Signing::Unverified
        );
    }
}

#[test]
fn a_multipart_signed_missing_its_signature_part_is_unverified() {
    let start = find(
        RSA_DETACHED,
        b"\r\n------=_smime_rsa-detached\r\nContent-Type: application",
    )
    .unwrap();
    let end = find(RSA_DETACHED, b"\r\n------=_smime_rsa-detached--").unwrap();
    let one_part = [&RSA_DETACHED[..start], &RSA_DETACHED[end..]].concat();
    assert_eq!(classify(&one_part, &[ANNV]), Signing::Unverified);
}

#[test]
fn signers_past_the_eighth_are_not_read() {
    let message = fixture!("nine-signers.eml");
    assert_eq!(MAX_SIGNERS, 8);
    // SignerInfos are read in DER order, which here is the order of the serial numbers.
    assert_eq!(
        classify(message, &[fixture!("cosigner-8.der")]),
        Signing::Verified
    );
    assert_eq!(
        classify(message, &[fixture!("cosigner-9.der")]),
        Signing::Unverified
    );
}

#[test]
fn certificates_past_the_size_bound_are_ignored() {
    // x509-parser reads the certificate and leaves what follows, so padding makes a
    // certificate of any size that is still the signer's.
    let padded = |size: usize| {
        let mut der = ANNV.to_vec();
        der.resize(size, 0);
        der
    };
    let at_bound = padded(MAX_CERTIFICATE_BYTES);
    let past_bound = padded(MAX_CERTIFICATE_BYTES + 1);
    assert!(SignerCertificate::read(&at_bound).is_some());
    assert!(SignerCertificate::read(&past_bound).is_none());
    assert_eq!(classify(RSA_DETACHED, &[&at_bound]), Signing::Verified);
    assert_eq!(classify(RSA_DETACHED, &[&past_bound]), Signing::Unverified);
}

#[test]
fn unreadable_directory_certificates_are_skipped() {
    assert_eq!(
        classify(RSA_DETACHED, &[b"not a certificate", &[], ANNV]),
        Signing::Verified
    );
}

#[test]
fn the_signed_text_is_what_the_fixtures_say() {
    // Guards the tampering above: the changed bytes are inside the signed text.
    for Case { name, message, .. } in SIGNED {
        let holds = if find(message, b"multipart/signed").is_some() {
            find(message, TEXT).is_some() || *name == "rsa-alternative"
        } else {
            find(&cms_of(message), TEXT).is_some()
        };
        assert!(holds, "{name}");
    }
}
