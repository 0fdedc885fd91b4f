//! Officials' signing certificates end to end: `congvu-admin cert` with files made in the test
//! (PEM, DER, PKCS#7), LDAP serving them to mail clients, expiry with a controlled clock, and
//! the expiry notice.

mod cli;
mod expiry;
mod ldap;
mod signing;

use congvu_tests::certificates::{CertificateRequest, IssuedCertificate, IssuingCa};

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The current time, as the CLI (which runs on the system clock) sees it.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A certificate for `email` issued by `ca`, valid from a day before `at` for `days` after it.
pub fn certificate_for(ca: &IssuingCa, email: &str, at: i64, days: i64) -> IssuedCertificate {
    ca.issue(&CertificateRequest::for_address(
        email,
        at - DAY,
        at + days * DAY,
    ))
}
