//! Digital-signature certificates held by officials, as facts the directory serves
//! (`userCertificate;binary`) and counts for the e-government report.

use super::ids::{CertificateId, OfficialId};
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

/// The parsed facts of a certificate to attach to an official.
#[derive(Debug, Clone)]
pub struct NewCertificate {
    pub der: Vec<u8>,
    pub serial: String,
    pub issuer: String,
    pub subject: String,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    pub key_usage: Option<String>,
}
