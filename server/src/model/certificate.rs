//! Officials' signing certificates as stored, and where one stands at a given time.

use super::{CertificateId, OfficialId};
use crate::clock::UnixTime;

/// A certificate as stored: the DER bytes and the fields the directory and reports need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub id: CertificateId,
    pub official_id: OfficialId,
    pub der: Vec<u8>,
    pub serial: String,
    pub issuer: String,
    pub subject: String,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    /// Lowercase hex SHA-256 of the DER bytes; unique across the directory.
    pub fingerprint_sha256: String,
    pub key_usage: Option<String>,
    pub revoked_at: Option<UnixTime>,
    pub created_at: UnixTime,
}

impl Certificate {
    /// Where the certificate stands at `now`.
    pub fn standing(&self, now: UnixTime) -> CertificateStanding {
        if self.revoked_at.is_some() {
            CertificateStanding::Revoked
        } else if now < self.not_before {
            CertificateStanding::NotYetValid
        } else if now > self.not_after {
            CertificateStanding::Expired
        } else {
            CertificateStanding::Valid
        }
    }
}

/// Whether a certificate may be served and trusted at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStanding {
    Valid,
    NotYetValid,
    Expired,
    Revoked,
}

impl CertificateStanding {
    /// The word the admin CLI prints.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStanding::Valid => "valid",
            CertificateStanding::NotYetValid => "not-yet-valid",
            CertificateStanding::Expired => "expired",
            CertificateStanding::Revoked => "revoked",
        }
    }
}
