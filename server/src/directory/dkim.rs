//! Domains' DKIM keys (RFC 6376): generating a domain's RSA key pair, the selector rules, the
//! DNS TXT record that publishes the public key, and storing the private key on the domain
//! with its audit row. Signing mail with the keys is `crate::dkim`'s job. A private key is
//! never logged, audited or shown: `Debug` prints only its public half.

use std::fmt;
use std::ops::RangeInclusive;

use base64::Engine;
use mail_auth::dkim::generate::DkimKeyPair;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::json;

use super::{normalize_domain, not_found, Actor, Directory, DirectoryError};
use crate::clock::UnixTime;
use crate::model::{DomainDkimKey, EntityKind};

/// RSA key sizes congvu generates and signs with. RFC 8301 §3.2 asks for at least 1024 bits
/// and recommends 2048; 2048 is also the least that the signing code (ring) accepts.
pub const DKIM_KEY_BITS: RangeInclusive<usize> = 2048..=4096;

/// The key size `dkim-keygen` uses unless told otherwise.
pub const DEFAULT_DKIM_KEY_BITS: usize = 2048;

/// RFC 1035 §3.3.14: one TXT character-string holds at most 255 octets.
const TXT_STRING_MAX: usize = 255;

/// Why a DKIM key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum DkimKeyError {
    #[error(
        "a DKIM key of {0} bits is not supported: use {min} to {max} bits (2048 is the usual size)",
        min = DKIM_KEY_BITS.start(),
        max = DKIM_KEY_BITS.end()
    )]
    Bits(usize),
    #[error("cannot generate a DKIM key: {0}")]
    Generation(String),
    /// The stored text is not an RSA private key in PKCS#8 PEM form.
    #[error("the DKIM private key is not a PKCS#8 PEM RSA key: {0}")]
    Unreadable(String),
}

/// An RSA key pair for DKIM signing: the private key as PKCS#8 PEM (what the store holds),
/// and the public key as DER SubjectPublicKeyInfo (what the DNS record publishes, as
/// `openssl rsa -pubout` writes it and every verifier reads it).
#[derive(Clone)]
pub struct DkimKey {
    private_key_pem: String,
    public_key_der: Vec<u8>,
    bits: usize,
}

impl fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimKey")
            .field("bits", &self.bits)
            .field("public_key", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

impl DkimKey {
    /// A new random key of `bits` bits (see [`DKIM_KEY_BITS`]). Takes a moment: RSA key
    /// generation searches for primes.
    pub fn generate(bits: usize) -> Result<DkimKey, DkimKeyError> {
        if !DKIM_KEY_BITS.contains(&bits) {
            return Err(DkimKeyError::Bits(bits));
        }
        let pair =
            DkimKeyPair::generate_rsa(bits).map_err(|e| DkimKeyError::Generation(e.to_string()))?;
        let private = RsaPrivateKey::from_pkcs1_der(pair.private_key())
            .map_err(|e| DkimKeyError::Generation(e.to_string()))?;
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| DkimKeyError::Generation(e.to_string()))?;
        DkimKey::from_private(&private, pem.to_string())
    }

    /// The key stored as PKCS#8 PEM text.
    pub fn from_pem(pem: &str) -> Result<DkimKey, DkimKeyError> {
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| DkimKeyError::Unreadable(e.to_string()))?;
        DkimKey::from_private(&private, pem.to_string())
    }

    fn from_private(private: &RsaPrivateKey, pem: String) -> Result<DkimKey, DkimKeyError> {
        let bits = private.n().bits();
        if !DKIM_KEY_BITS.contains(&bits) {
            return Err(DkimKeyError::Bits(bits));
        }
        let public_key_der = private
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| DkimKeyError::Unreadable(e.to_string()))?
            .into_vec();
        Ok(DkimKey {
            private_key_pem: pem,
            public_key_der,
            bits,
        })
    }

    /// The private key, PKCS#8 PEM: only for the store and the signer.
    pub fn private_key_pem(&self) -> &str {
        &self.private_key_pem
    }

    /// The public key, DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// The public key as the record's `p=` value.
    pub fn public_key_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.public_key_der)
    }

    /// The modulus size.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The TXT record that publishes this key for `domain` under `selector`.
    pub fn record(&self, domain: &str, selector: &str) -> DkimRecord {
        DkimRecord {
            domain: domain.to_string(),
            selector: selector.to_string(),
            public_key: self.public_key_base64(),
        }
    }
}

/// The DNS TXT record a domain publishes so that receivers can verify its signatures
/// (RFC 6376 §3.6.2.1: at `selector._domainkey.domain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimRecord {
    pub domain: String,
    pub selector: String,
    /// Base64 of the DER SubjectPublicKeyInfo.
    pub public_key: String,
}

/// The record's tags before the key (RFC 6376 §3.6.1).
const RECORD_PREFIX: &str = "v=DKIM1; k=rsa; ";

impl DkimRecord {
    /// Where the record goes, without the root's trailing dot: `sel._domainkey.example.gov.vn`.
    pub fn name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The record's text as receivers read it (the strings joined): `v=DKIM1; k=rsa; p=…`.
    pub fn value(&self) -> String {
        format!("{RECORD_PREFIX}p={}", self.public_key)
    }

    /// The record in zone-file form, on one line, with the key split into quoted strings
    /// of at most 255 characters:
    /// `sel._domainkey.example.gov.vn. IN TXT ( "v=DKIM1; k=rsa; " "p=MIIB…" "…" )`.
    pub fn zone_entry(&self) -> String {
        let key = format!("p={}", self.public_key);
        let mut entry = format!("{}. IN TXT ( \"{RECORD_PREFIX}\"", self.name());
        // Base64 and the tags are ASCII, so splitting by bytes never cuts a character.
        for chunk in key.as_bytes().chunks(TXT_STRING_MAX) {
            entry.push_str(" \"");
            entry.push_str(&String::from_utf8_lossy(chunk));
            entry.push('"');
        }
        entry.push_str(" )");
        entry
    }
}

/// The selector used when the administrator names none: `congvu` and the year and month
/// (UTC) the key was made, e.g. `congvu202611`, so that each rotation gets a new name.
pub fn default_dkim_selector(now: UnixTime) -> String {
    match time::OffsetDateTime::from_unix_timestamp(now.0) {
        Ok(t) => format!("congvu{:04}{:02}", t.year(), u8::from(t.month())),
        Err(_) => "congvu".to_string(),
    }
}

/// Lowercases and checks a selector: dot-separated labels of ASCII letters, digits and
/// hyphens (RFC 6376 §3.1, `selector = sub-domain *( "." sub-domain )`).
pub fn normalize_dkim_selector(selector: &str) -> Result<String, DirectoryError> {
    let lower = selector.trim().to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if lower.is_empty() || lower.len() > 63 || !lower.split('.').all(valid_label) {
        return Err(DirectoryError::Invalid(format!(
            "\"{selector}\" is not a DKIM selector: use up to 63 letters, digits and hyphens, e.g. congvu202611"
        )));
    }
    Ok(lower)
}

impl Directory {
    /// Makes `key` the DKIM key of `domain`, published under `selector` (by default
    /// [`default_dkim_selector`] of now), and returns the record to publish. A domain that
    /// has a key keeps it unless `replace` is set, and a replacement needs a new selector:
    /// mail signed with the old key is still being verified against the old record.
    pub async fn set_dkim_key(
        &self,
        actor: &Actor,
        domain: &str,
        selector: Option<&str>,
        key: &DkimKey,
        replace: bool,
    ) -> Result<DkimRecord, DirectoryError> {
        let name = normalize_domain(domain)?;
        let selector = match selector {
            Some(s) => normalize_dkim_selector(s)?,
            None => default_dkim_selector(self.now()),
        };
        let record = key.record(&name, &selector);
        if record.name().len() > 253 {
            return Err(DirectoryError::Invalid(format!(
                "the record name {} is longer than DNS allows (253 characters): choose a shorter selector",
                record.name()
            )));
        }
        let mut tx = self.store.begin().await?;
        let current = tx
            .domain_by_name(&name)
            .await?
            .ok_or_else(|| not_found(EntityKind::Domain, &name))?;
        if let Some(old) = tx.domain_dkim_key(&name).await? {
            if !replace {
                return Err(DirectoryError::Invalid(format!(
                    "{name} already has a DKIM key (selector {}): replace it with `congvu-admin domain dkim-keygen {name} --replace`",
                    old.selector
                )));
            }
            if old.selector == selector {
                return Err(DirectoryError::Invalid(format!(
                    "the new key needs a new selector: mail signed with the current key is verified against {}; name another with --selector",
                    key.record(&name, &old.selector).name()
                )));
            }
        }
        tx.set_domain_dkim_key(current.id, &selector, key.private_key_pem(), self.now())
            .await?;
        let before = current.dkim_selector.map(|s| json!({ "dkim_selector": s }));
        let after = json!({ "dkim_selector": selector, "dkim_key_bits": key.bits() });
        self.commit_change(
            tx,
            actor,
            "domain.dkim-key",
            format!("domain:{name}"),
            before,
            Some(after),
        )
        .await?;
        Ok(record)
    }

    /// The DKIM key of `domain`, if it has one.
    pub async fn dkim_key(&self, domain: &str) -> Result<Option<DomainDkimKey>, DirectoryError> {
        let name = normalize_domain(domain)?;
        let mut conn = self.read().await?;
        if conn.domain_by_name(&name).await?.is_none() {
            return Err(not_found(EntityKind::Domain, &name));
        }
        Ok(conn.domain_dkim_key(&name).await?)
    }

    /// Every domain's DKIM key, by domain name.
    pub async fn dkim_keys(&self) -> Result<Vec<DomainDkimKey>, DirectoryError> {
        Ok(self.read().await?.domain_dkim_keys().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(public_key: &str) -> DkimRecord {
        DkimRecord {
            domain: "vinhphuc.gov.vn".into(),
            selector: "congvu202611".into(),
            public_key: public_key.into(),
        }
    }

    #[test]
    fn the_zone_entry_splits_the_key_into_strings_of_255() {
        let key = "A".repeat(253 + 255 + 10);
        let entry = record(&key).zone_entry();
        let expected = format!(
            "congvu202611._domainkey.vinhphuc.gov.vn. IN TXT ( \"v=DKIM1; k=rsa; \" \"p={}\" \"{}\" \"{}\" )",
            "A".repeat(253),
            "A".repeat(255),
            "A".repeat(10)
        );
        assert_eq!(entry, expected);
    }

    #[test]
    fn a_key_that_fits_one_string_is_one_string() {
        let entry = record(&"B".repeat(253)).zone_entry();
        assert_eq!(
            entry,
            format!(
                "congvu202611._domainkey.vinhphuc.gov.vn. IN TXT ( \"v=DKIM1; k=rsa; \" \"p={}\" )",
                "B".repeat(253)
            )
        );
        assert_eq!(record("MIIB").value(), "v=DKIM1; k=rsa; p=MIIB".to_string());
        assert_eq!(
            record("MIIB").name(),
            "congvu202611._domainkey.vinhphuc.gov.vn"
        );
    }

    #[test]
    fn the_default_selector_is_the_month_the_key_was_made() {
        // 2026-11-27 01:00 UTC.
        assert_eq!(
            default_dkim_selector(UnixTime(1_795_741_200)),
            "congvu202611"
        );
        // 2027-01-01 00:00 UTC.
        assert_eq!(
            default_dkim_selector(UnixTime(1_798_761_600)),
            "congvu202701"
        );
    }

    #[test]
    fn selectors_are_dns_labels() {
        assert_eq!(
            normalize_dkim_selector(" Congvu2026 ").unwrap(),
            "congvu2026"
        );
        assert_eq!(
            normalize_dkim_selector("mail.2026-11").unwrap(),
            "mail.2026-11"
        );
        for bad in [
            "",
            "a..b",
            "-a",
            "a-",
            "sel_1",
            "sel;p=x",
            "sel\"",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(
                    normalize_dkim_selector(bad),
                    Err(DirectoryError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            normalize_dkim_selector(&"a".repeat(63)).unwrap(),
            "a".repeat(63)
        );
    }

    #[test]
    fn key_sizes_outside_the_range_are_refused_before_generating() {
        for bits in [1024, 2047, 4097] {
            assert!(matches!(DkimKey::generate(bits), Err(DkimKeyError::Bits(b)) if b == bits));
        }
        assert_eq!(
            DkimKeyError::Bits(1024).to_string(),
            "a DKIM key of 1024 bits is not supported: use 2048 to 4096 bits (2048 is the usual size)"
        );
    }

    #[test]
    fn a_generated_key_reads_back_from_its_pem_with_the_same_public_key() {
        let key = DkimKey::generate(2048).unwrap();
        assert_eq!(key.bits(), 2048);
        assert!(key
            .private_key_pem()
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = DkimKey::from_pem(key.private_key_pem()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());
        // DER SubjectPublicKeyInfo of a 2048-bit RSA key: 294 bytes, base64 `MIIBIjANBgkq…`.
        assert_eq!(key.public_key_der().len(), 294);
        assert!(key
            .public_key_base64()
            .starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"));
        let shown = format!("{key:?}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
        assert!(matches!(
            DkimKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(DkimKeyError::Unreadable(_))
        ));
    }
}
