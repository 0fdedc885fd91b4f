//! LDAP serves each official's certificate in force as `userCertificate;binary`, so mail
//! clients find a colleague's certificate; expired, not yet valid and revoked ones are not
//! served. Time is the server's fixed clock, moved by the test.

use congvu::directory::{fingerprint, Actor};
use congvu_tests::certificates::{CertificateRequest, IssuingCa};
use congvu_tests::{ldap, Backend};
use ldap3::{Ldap, Scope};

use super::DAY;
use crate::backend_tests;
use crate::ldap::fixture::{Province, MAILAPP, START, VAN};

backend_tests!(
    the_certificate_in_force_is_served_and_follows_the_clock,
    colleagues_find_each_others_certificates_by_address,
);

const PEOPLE: &str = "ou=people,dc=vinhphuc,dc=gov,dc=vn";

/// The `userCertificate;binary` values of the entry `filter` finds.
async fn served(client: &mut Ldap, filter: &str) -> Vec<Vec<u8>> {
    let (entries, result) = ldap::search(
        client,
        PEOPLE,
        Scope::Subtree,
        filter,
        &["userCertificate;binary"],
    )
    .await;
    result.success().unwrap();
    assert_eq!(entries.len(), 1, "{filter}");
    entries[0].bytes("userCertificate;binary")
}

/// Logins of the officials whose entries hold a certificate.
async fn holders(client: &mut Ldap) -> Vec<String> {
    let (entries, result) = ldap::search(
        client,
        PEOPLE,
        Scope::Subtree,
        "(userCertificate=*)",
        &["uid"],
    )
    .await;
    result.success().unwrap();
    let mut logins: Vec<String> = entries.iter().map(|e| e.single("uid")).collect();
    logins.sort();
    logins
}

async fn the_certificate_in_force_is_served_and_follows_the_clock(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let admin = Actor::admin("it-snv");
    let ca = IssuingCa::new("VNPT-CA thử nghiệm");
    let start = START.0;
    let email = "vanlt@vinhphuc.gov.vn";
    let first = ca.issue(&CertificateRequest::for_address(
        email,
        start - DAY,
        start + 10 * DAY,
    ));
    let renewal = ca.issue(&CertificateRequest::for_address(
        email,
        start + 8 * DAY,
        start + 375 * DAY,
    ));
    p.directory()
        .import_certificate(&admin, VAN.name(), first.pem.as_bytes())
        .await
        .unwrap();
    p.directory()
        .import_certificate(&admin, VAN.name(), &renewal.der)
        .await
        .unwrap();
    let mut client = p.bound(MAILAPP).await;
    let vanlt = "(uid=vanlt)";
    // The renewal is not valid yet: the first certificate is the one in force.
    assert_eq!(served(&mut client, vanlt).await, vec![first.der.clone()]);
    assert_eq!(holders(&mut client).await, ["annv", "vanlt"]);

    // Once the renewal starts, it is served, with nothing written to the directory.
    p.clock.advance(8 * DAY + 1);
    assert_eq!(served(&mut client, vanlt).await, vec![renewal.der.clone()]);

    // Revoked, it leaves LDAP at once; the first certificate is in force again.
    p.directory()
        .revoke_certificate_by_fingerprint(&admin, &fingerprint(&renewal.der))
        .await
        .unwrap();
    assert_eq!(served(&mut client, vanlt).await, vec![first.der.clone()]);

    // One second after its last valid second, it is gone too.
    p.clock.advance(2 * DAY - 1);
    assert_eq!(served(&mut client, vanlt).await, vec![first.der.clone()]);
    p.clock.advance(1);
    assert_eq!(served(&mut client, vanlt).await, Vec::<Vec<u8>>::new());
    assert_eq!(holders(&mut client).await, ["annv"]);
}

async fn colleagues_find_each_others_certificates_by_address(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let admin = Actor::admin("it-snv");
    let ca = IssuingCa::new("Viettel-CA thử nghiệm");
    let start = START.0;
    let issued = ca.issue(&CertificateRequest::for_address(
        "vanlt@vinhphuc.gov.vn",
        start - DAY,
        start + 365 * DAY,
    ));
    p.directory()
        .import_certificate(&admin, VAN.name(), issued.pem.as_bytes())
        .await
        .unwrap();
    // Thunderbird looks a recipient up by address and asks for `userCertificate;binary`;
    // Outlook asks for `userCertificate` and `userSMIMECertificate`.
    let mut client = p.bound(crate::ldap::fixture::ANNV).await;
    assert_eq!(
        served(&mut client, "(mail=vanlt@vinhphuc.gov.vn)").await,
        vec![issued.der.clone()]
    );
    let (entries, result) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::Subtree,
        "(|(mail=vanlt@vinhphuc.gov.vn)(mailAlternateAddress=vanlt@vinhphuc.gov.vn))",
        &["userCertificate", "userSMIMECertificate", "cn"],
    )
    .await;
    result.success().unwrap();
    let certificates: Vec<Vec<u8>> = entries[0]
        .attrs
        .iter()
        .filter(|(name, _)| name.to_ascii_lowercase().starts_with("usercertificate"))
        .flat_map(|(_, values)| values.clone())
        .collect();
    assert_eq!(certificates, vec![issued.der.clone()]);

    // Found by the certificate itself: the exact DER, escaped byte by byte in the filter.
    let by_value = |der: &[u8]| {
        let escaped: String = der.iter().map(|b| format!("\\{b:02x}")).collect();
        format!("(userCertificate;binary={escaped})")
    };
    let (entries, result) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::Subtree,
        &by_value(&issued.der),
        &["uid"],
    )
    .await;
    result.success().unwrap();
    assert_eq!(ldap::dns(&entries).len(), 1);
    assert_eq!(entries[0].single("uid"), "vanlt");
    let other = ca.issue(&CertificateRequest::for_address(
        "vanlt@vinhphuc.gov.vn",
        start - DAY,
        start + 365 * DAY,
    ));
    let (entries, result) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::Subtree,
        &format!("(|{}(uid=nobody))", by_value(&other.der)),
        &["uid"],
    )
    .await;
    result.success().unwrap();
    assert!(entries.is_empty());
    // Compare carries the value as bytes too.
    let dn = "uid=vanlt,ou=people,dc=vinhphuc,dc=gov,dc=vn";
    let compared = client
        .compare(dn, "userCertificate;binary", issued.der.as_slice())
        .await
        .unwrap();
    assert_eq!(compared.0.rc, 6, "compareTrue");
    let compared = client
        .compare(dn, "userCertificate;binary", other.der.as_slice())
        .await
        .unwrap();
    assert_eq!(compared.0.rc, 5, "compareFalse");
}
