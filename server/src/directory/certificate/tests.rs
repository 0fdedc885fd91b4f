use super::*;
use crate::model::{Certificate, CertificateId, CertificateStanding, OfficialId};

const ANNV_PEM: &[u8] = include_bytes!("fixtures/annv.pem");
const ANNV_DER: &[u8] = include_bytes!("fixtures/annv.der");
const CA_PEM: &[u8] = include_bytes!("fixtures/ca.pem");
const CHAIN_PEM: &[u8] = include_bytes!("fixtures/chain.pem");
const CHAIN_P7B: &[u8] = include_bytes!("fixtures/chain.p7b");
const CHAIN_P7B_PEM: &[u8] = include_bytes!("fixtures/chain.p7b.pem");

#[test]
fn every_file_form_yields_the_officials_certificate() {
    for (form, bytes) in [
        ("PEM", ANNV_PEM),
        ("DER", ANNV_DER),
        ("PEM chain, CA second", CHAIN_PEM),
        ("PKCS#7 DER", CHAIN_P7B),
        ("PKCS#7 PEM", CHAIN_P7B_PEM),
    ] {
        let file = read_certificate_file(bytes).unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(file.certificate.der, ANNV_DER, "{form}");
    }
}

#[test]
fn the_stored_facts_are_read_from_the_certificate() {
    let file = read_certificate_file(ANNV_PEM).unwrap();
    let c = &file.certificate;
    assert_eq!(c.serial, "5404FFFEB7033FB316D672201B7AB83B");
    assert_eq!(c.issuer, "C=VN, O=Test CA, CN=Test CA Vinh Phuc");
    assert!(c.subject.contains("CN=Nguyễn Văn An"), "{}", c.subject);
    assert!(c.subject.contains("O=Sở Nội vụ"), "{}", c.subject);
    assert_eq!(c.not_after.0 - c.not_before.0, 3650 * 86_400);
    assert_eq!(
        c.key_usage.as_deref(),
        Some("digitalSignature,nonRepudiation,keyEncipherment,emailProtection,clientAuth")
    );
    // SAN addresses first, then the subject's emailAddress (lowercased, once).
    assert_eq!(
        file.emails,
        ["annv@vinhphuc.gov.vn", "an.nv@vinhphuc.gov.vn"]
    );
    assert_eq!(fingerprint(ANNV_DER).len(), 64);
}

#[test]
fn a_lone_ca_certificate_is_taken_as_it_is_but_a_bundle_of_cas_is_refused() {
    // A single certificate is the official's, whatever it says about itself.
    assert!(read_certificate_file(CA_PEM).is_ok());
    let two_cas = [CA_PEM, CA_PEM].concat();
    assert_eq!(
        read_certificate_file(&two_cas).unwrap_err(),
        CertificateFileError::OnlyAuthorities
    );
}

#[test]
fn two_officials_in_one_file_are_refused() {
    let two = [ANNV_PEM, &b"\n"[..], &pem_of_other_leaf()].concat();
    assert_eq!(
        read_certificate_file(&two).unwrap_err(),
        CertificateFileError::SeveralLeaves(2)
    );
}

fn pem_of_other_leaf() -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::Rfc822Name(
        "vanlt@vinhphuc.gov.vn".try_into().unwrap(),
    )];
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem().into_bytes()
}

#[test]
fn junk_gets_a_clear_error() {
    assert_eq!(
        read_certificate_file(b"hello").unwrap_err(),
        CertificateFileError::NoCertificate
    );
    assert_eq!(
        read_certificate_file(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .unwrap_err(),
        CertificateFileError::NoCertificate
    );
    assert!(matches!(
        read_certificate_file(&ANNV_DER[..ANNV_DER.len() - 10]),
        Err(CertificateFileError::Malformed(_))
    ));
    let mut trailing = ANNV_DER.to_vec();
    trailing.extend_from_slice(b"extra");
    assert!(matches!(
        read_certificate_file(&trailing),
        Err(CertificateFileError::Malformed(_))
    ));
    assert!(matches!(
        read_certificate_file(&[0x30, 0x03, 0x02, 0x01, 0x00]),
        Err(CertificateFileError::Malformed(_))
    ));
}

#[test]
fn standing_follows_time_and_revocation() {
    let file = read_certificate_file(ANNV_DER).unwrap();
    let c = file.certificate;
    let mut cert = Certificate {
        id: CertificateId(1),
        official_id: OfficialId(1),
        fingerprint_sha256: fingerprint(&c.der),
        der: c.der,
        serial: c.serial,
        issuer: c.issuer,
        subject: c.subject,
        not_before: c.not_before,
        not_after: c.not_after,
        key_usage: c.key_usage,
        revoked_at: None,
        created_at: UnixTime(0),
    };
    assert_eq!(
        cert.standing(cert.not_before.plus(-1)),
        CertificateStanding::NotYetValid
    );
    assert_eq!(cert.standing(cert.not_before), CertificateStanding::Valid);
    assert_eq!(cert.standing(cert.not_after), CertificateStanding::Valid);
    assert_eq!(
        cert.standing(cert.not_after.plus(1)),
        CertificateStanding::Expired
    );
    cert.revoked_at = Some(UnixTime(5));
    assert_eq!(cert.standing(cert.not_before), CertificateStanding::Revoked);
}
