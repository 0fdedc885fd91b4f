//! What a directory certificate contributes to S/MIME verification: the names a SignerInfo can
//! call it by (RFC 5652 §5.3 `sid`) and its public key. Read with x509-parser, as the directory
//! reads certificates, so that every certificate the directory accepted is usable here.

use cms::cert::x509::name::Name;
use cms::signed_data::SignerIdentifier;
use der::{Decode, Encode};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::prelude::FromDer;

/// Certificates larger than this are ignored: real ones are a few KiB, and this bounds the
/// work a bad directory entry can cause.
pub(super) const MAX_CERTIFICATE_BYTES: usize = 2 * 1024 * 1024;

/// A public key in the form `ring` verifies with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PublicKey {
    /// The DER `RSAPublicKey` (RFC 8017 §A.1.1).
    Rsa(Vec<u8>),
    /// An uncompressed point on P-256 (SEC 1 §2.3.3).
    EcP256(Vec<u8>),
    /// An uncompressed point on P-384.
    EcP384(Vec<u8>),
}

/// One of the sender's directory certificates, as far as verification needs it.
#[derive(Debug, Clone)]
pub(crate) struct SignerCertificate {
    /// The issuer Name, DER, in the canonical form [`canonical_name`] gives.
    issuer: Vec<u8>,
    /// The serial number's INTEGER content octets.
    serial: Vec<u8>,
    /// RFC 5280 §4.2.1.2 subject key identifier.
    key_identifier: Vec<u8>,
    pub(super) key: PublicKey,
}

impl SignerCertificate {
    /// Reads `der`; `None` when it is not a certificate, is too large, or holds a key type
    /// that cannot sign S/MIME here (anything but RSA, P-256 and P-384).
    pub(crate) fn read(der: &[u8]) -> Option<SignerCertificate> {
        if der.len() > MAX_CERTIFICATE_BYTES {
            return None;
        }
        let (_, certificate) = X509Certificate::from_der(der).ok()?;
        let spki = certificate.public_key();
        let key_bits = spki.subject_public_key.data.to_vec();
        let algorithm = &spki.algorithm;
        let key = if algorithm.algorithm == OID_PKCS1_RSAENCRYPTION {
            PublicKey::Rsa(key_bits)
        } else if algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = algorithm.parameters.as_ref()?.as_oid().ok()?;
            if curve == OID_EC_P256 {
                PublicKey::EcP256(key_bits)
            } else if curve == OID_NIST_EC_P384 {
                PublicKey::EcP384(key_bits)
            } else {
                return None;
            }
        } else {
            return None;
        };
        let key_identifier = certificate
            .extensions()
            .iter()
            .find_map(|extension| match extension.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                _ => None,
            })
            // RFC 5280 §4.2.1.2 method (1), which signers use when the extension is absent.
            .unwrap_or_else(|| {
                ring::digest::digest(
                    &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                    &spki.subject_public_key.data,
                )
                .as_ref()
                .to_vec()
            });
        Some(SignerCertificate {
            issuer: canonical_name(certificate.issuer().as_raw()),
            serial: certificate.raw_serial().to_vec(),
            key_identifier,
            key,
        })
    }

    /// Whether `sid` names this certificate: issuer and serial number, or subject key
    /// identifier (RFC 5652 §5.3).
    pub(super) fn is_named_by(&self, sid: &SignerIdentifier) -> bool {
        match sid {
            SignerIdentifier::IssuerAndSerialNumber(named) => {
                named.serial_number.as_bytes() == self.serial.as_slice()
                    && named
                        .issuer
                        .to_der()
                        .is_ok_and(|issuer| issuer == self.issuer)
            }
            SignerIdentifier::SubjectKeyIdentifier(id) => {
                id.0.as_bytes() == self.key_identifier.as_slice()
            }
        }
    }
}

/// `raw` (a Name's DER as found in a certificate) decoded and re-encoded the way the SignerInfo
/// side is, so that a certificate whose Name is not strictly DER (unsorted multi-valued RDNs)
/// still compares equal to the same Name copied into a signature. Unchanged when unreadable.
fn canonical_name(raw: &[u8]) -> Vec<u8> {
    Name::from_der(raw)
        .ok()
        .and_then(|name| name.to_der().ok())
        .unwrap_or_else(|| raw.to_vec())
}
