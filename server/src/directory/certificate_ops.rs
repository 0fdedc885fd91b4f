//! Directory operations on officials' signing certificates: importing certificate files for
//! one official or matching a folder of them to officials by e-mail address, listing,
//! revoking, and the reads that mail submission and expiry notices need. Nothing is guessed:
//! a certificate whose addresses lead to no official, or to several, is reported, not stored.

use std::collections::BTreeSet;

use super::certificate::{fingerprint, read_certificate_file, CertificateFileError};
use super::official_ops::official_in;
use super::{
    agency_parents, agency_subtree, name_taken, not_found, Actor, AddressOwner, AgencyId,
    Certificate, CertificateId, CertificateStanding, Directory, DirectoryError, NewCertificate,
    Official, OfficialId,
};
use crate::model::EntityKind;
use crate::store::Conn;
use crate::store::UniqueKey;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The shortest fingerprint prefix `cert revoke` accepts: 8 hex digits, as with Git hashes.
pub const MIN_FINGERPRINT_PREFIX: usize = 8;

/// A certificate imported for a named official.
#[derive(Debug, Clone)]
pub struct ImportedCertificate {
    pub certificate: Certificate,
    /// Whether one of the addresses the certificate names is the official's. A certificate
    /// that names none of them (a personal address, or none at all) is still imported.
    pub names_the_official: bool,
}

/// What became of one file of a folder import.
#[derive(Debug, Clone)]
pub enum CertificateFileOutcome {
    Imported {
        login: String,
        certificate: Certificate,
    },
    /// The same certificate (by fingerprint) is already in the directory, held by `login`.
    AlreadyHeld { login: String },
    /// None of the addresses the certificate names belongs to an official.
    Unmatched { emails: Vec<String> },
    /// The addresses lead to more than one official.
    Ambiguous { logins: Vec<String> },
    /// The file is not a certificate congvu can read.
    Unreadable(CertificateFileError),
}

/// Which certificates `cert list` shows.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    /// Only holders in this agency or below it.
    pub agency: Option<String>,
    /// Only valid certificates that end within this many seconds from now.
    pub expiring_within: Option<i64>,
}

/// A certificate with its holder, for listings.
#[derive(Debug, Clone)]
pub struct CertificateListing {
    pub certificate: Certificate,
    pub login: String,
    pub display_name: String,
    pub agency_code: String,
    pub standing: CertificateStanding,
}

/// A certificate whose expiry notice is due, with the official to tell.
#[derive(Debug, Clone)]
pub struct ExpiryNoticeDue {
    pub certificate: Certificate,
    pub official: Official,
}

impl Directory {
    /// Reads a certificate file (PEM, DER, or a PKCS#7 bundle whose end-entity certificate
    /// is the official's) and attaches it to `login`. A certificate that names another
    /// official's address is refused: it is that official's.
    pub async fn import_certificate(
        &self,
        actor: &Actor,
        login: &str,
        file: &[u8],
    ) -> Result<ImportedCertificate, DirectoryError> {
        let read =
            read_certificate_file(file).map_err(|e| DirectoryError::Invalid(e.to_string()))?;
        let (official, names_the_official) = {
            let mut conn = self.read().await?;
            let official = super::official_ops::official_in(&mut conn, login).await?;
            let mut others = Vec::new();
            let mut names_the_official = false;
            for email in &read.emails {
                match address_holder(&mut conn, email).await? {
                    Some(id) if id == official.id => names_the_official = true,
                    Some(id) => others.push((email, id)),
                    None => {}
                }
            }
            if let (false, Some((email, other))) = (names_the_official, others.first()) {
                let other = conn.official_by_id(*other).await?.map(|o| o.login);
                let other = other.as_deref().unwrap_or("another official");
                return Err(DirectoryError::Invalid(format!(
                    "the certificate is for {email}, which is {other}'s address, not {}'s; \
                     import it for {other}",
                    official.login
                )));
            }
            (official, names_the_official)
        };
        let certificate = self
            .add_certificate(actor, &official.login, read.certificate)
            .await?;
        Ok(ImportedCertificate {
            certificate,
            names_the_official,
        })
    }

    /// Imports a folder's certificate files, each matched to its official by the e-mail
    /// addresses it names. Outcomes come back in the order of `files`.
    pub async fn import_certificate_files(
        &self,
        actor: &Actor,
        files: &[Vec<u8>],
    ) -> Result<Vec<CertificateFileOutcome>, DirectoryError> {
        let mut outcomes = Vec::with_capacity(files.len());
        for bytes in files {
            outcomes.push(self.import_matched(actor, bytes).await?);
        }
        Ok(outcomes)
    }

    async fn import_matched(
        &self,
        actor: &Actor,
        bytes: &[u8],
    ) -> Result<CertificateFileOutcome, DirectoryError> {
        let read = match read_certificate_file(bytes) {
            Ok(read) => read,
            Err(e) => return Ok(CertificateFileOutcome::Unreadable(e)),
        };
        let login = {
            let mut conn = self.read().await?;
            if let Some(held) = conn
                .certificate_by_fingerprint(&fingerprint(&read.certificate.der))
                .await?
            {
                let login = conn
                    .official_by_id(held.official_id)
                    .await?
                    .map(|o| o.login);
                return Ok(CertificateFileOutcome::AlreadyHeld {
                    login: login.unwrap_or_default(),
                });
            }
            let mut holders = BTreeSet::new();
            for email in &read.emails {
                if let Some(id) = address_holder(&mut conn, email).await? {
                    holders.insert(id);
                }
            }
            let mut logins = Vec::with_capacity(holders.len());
            for id in holders {
                if let Some(o) = conn.official_by_id(id).await? {
                    logins.push(o.login);
                }
            }
            match logins.len() {
                0 => {
                    return Ok(CertificateFileOutcome::Unmatched {
                        emails: read.emails,
                    })
                }
                1 => logins.remove(0),
                _ => {
                    logins.sort();
                    return Ok(CertificateFileOutcome::Ambiguous { logins });
                }
            }
        };
        let certificate = self
            .add_certificate(actor, &login, read.certificate)
            .await?;
        Ok(CertificateFileOutcome::Imported { login, certificate })
    }

    /// Certificates with their holders, by agency code, login and newest validity first.
    pub async fn certificate_listing(
        &self,
        filter: &CertificateFilter,
    ) -> Result<Vec<CertificateListing>, DirectoryError> {
        let now = self.now();
        let mut conn = self.read().await?;
        let agencies = conn.agencies().await?;
        let within = match &filter.agency {
            Some(code) => {
                let agency = super::agency_ops::agency_in(&mut conn, code).await?;
                Some(agency_subtree(&agency_parents(&agencies), agency.id))
            }
            None => None,
        };
        let code_of = |id: AgencyId| {
            agencies
                .iter()
                .find(|a| a.id == id)
                .map(|a| a.code.clone())
                .unwrap_or_default()
        };
        let officials: std::collections::HashMap<OfficialId, Official> = conn
            .all_officials()
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
        let mut listing = Vec::new();
        for certificate in conn.all_certificates().await? {
            let Some(official) = officials.get(&certificate.official_id) else {
                continue;
            };
            if within
                .as_ref()
                .is_some_and(|w| !w.contains(&official.agency_id))
            {
                continue;
            }
            let standing = certificate.standing(now);
            if let Some(seconds) = filter.expiring_within {
                if standing != CertificateStanding::Valid
                    || certificate.not_after > now.plus(seconds)
                {
                    continue;
                }
            }
            listing.push(CertificateListing {
                login: official.login.clone(),
                display_name: official.display_name.clone(),
                agency_code: code_of(official.agency_id),
                standing,
                certificate,
            });
        }
        listing.sort_by(|a, b| {
            (
                &a.agency_code,
                &a.login,
                std::cmp::Reverse(a.certificate.not_after),
            )
                .cmp(&(
                    &b.agency_code,
                    &b.login,
                    std::cmp::Reverse(b.certificate.not_after),
                ))
        });
        Ok(listing)
    }

    /// Revokes the certificate whose fingerprint is, or starts with, `fingerprint` (at least
    /// [`MIN_FINGERPRINT_PREFIX`] hex digits); it leaves LDAP and no longer verifies mail.
    pub async fn revoke_certificate_by_fingerprint(
        &self,
        actor: &Actor,
        fingerprint: &str,
    ) -> Result<Certificate, DirectoryError> {
        let prefix = fingerprint.trim().replace(':', "").to_ascii_lowercase();
        if prefix.len() < MIN_FINGERPRINT_PREFIX || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DirectoryError::Invalid(format!(
                "\"{fingerprint}\" is not a certificate fingerprint: give its SHA-256 in hex \
                 (at least {MIN_FINGERPRINT_PREFIX} digits), as `cert list` shows it"
            )));
        }
        let mut tx = self.store.begin().await?;
        let found = tx.certificates_by_fingerprint_prefix(&prefix, 2).await?;
        let certificate = match found.as_slice() {
            [one] => one.clone(),
            [] => return Err(not_found(EntityKind::Certificate, &prefix)),
            _ => {
                return Err(DirectoryError::Invalid(format!(
                    "more than one certificate's fingerprint starts with {prefix}; give more digits"
                )))
            }
        };
        if certificate.revoked_at.is_some() {
            return Err(DirectoryError::Invalid(format!(
                "certificate {} is already revoked",
                certificate.fingerprint_sha256
            )));
        }
        let login = tx
            .official_by_id(certificate.official_id)
            .await?
            .map(|o| o.login)
            .unwrap_or_default();
        self.commit_revocation(tx, actor, &login, &certificate)
            .await?;
        Ok(Certificate {
            revoked_at: Some(self.now()),
            ..certificate
        })
    }

    /// The DER of `official`'s certificates that are valid now: the ones a signature on
    /// their mail may verify against.
    pub async fn signing_certificates(
        &self,
        official: OfficialId,
    ) -> Result<Vec<Vec<u8>>, DirectoryError> {
        let now = self.now();
        Ok(self
            .read()
            .await?
            .valid_certificates_of(official, now)
            .await?)
    }

    /// Certificates that end within `window` seconds and whose holder has not been told.
    pub async fn expiry_notices_due(
        &self,
        window: i64,
    ) -> Result<Vec<ExpiryNoticeDue>, DirectoryError> {
        let now = self.now();
        let mut conn = self.read().await?;
        let due = conn.certificates_due_notice(now, now.plus(window)).await?;
        let mut notices = Vec::with_capacity(due.len());
        for certificate in due {
            if let Some(official) = conn.official_by_id(certificate.official_id).await? {
                notices.push(ExpiryNoticeDue {
                    certificate,
                    official,
                });
            }
        }
        Ok(notices)
    }

    /// Attaches a certificate to `login`; the same certificate cannot be held twice.
    pub async fn add_certificate(
        &self,
        actor: &Actor,
        login: &str,
        new: NewCertificate,
    ) -> Result<Certificate, DirectoryError> {
        if new.not_after <= new.not_before {
            return Err(DirectoryError::Invalid(
                "the certificate's validity ends before it starts".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        let official = official_in(&mut tx, login).await?;
        let mut cert = Certificate {
            id: CertificateId(0),
            official_id: official.id,
            fingerprint_sha256: hex::encode(Sha256::digest(&new.der)),
            der: new.der,
            serial: new.serial,
            issuer: new.issuer,
            subject: new.subject,
            not_before: new.not_before,
            not_after: new.not_after,
            key_usage: new.key_usage,
            revoked_at: None,
            created_at: self.now(),
        };
        cert.id = tx.insert_certificate(&cert).await.map_err(|e| {
            name_taken(
                e.into(),
                &[(UniqueKey::CertificateFingerprint, &cert.fingerprint_sha256)],
            )
        })?;
        let after = json!({ "serial": cert.serial, "fingerprint": cert.fingerprint_sha256, "not_after": cert.not_after.0 });
        self.commit_change(
            tx,
            actor,
            "certificate.add",
            format!("official:{}", official.login),
            None,
            Some(after),
        )
        .await?;
        Ok(cert)
    }

    /// The certificates held by `login`, newest validity first.
    pub async fn certificates_of(&self, login: &str) -> Result<Vec<Certificate>, DirectoryError> {
        let mut conn = self.read().await?;
        let official = official_in(&mut conn, login).await?;
        Ok(conn.certificates_of(official.id).await?)
    }

    /// Marks one of `login`'s certificates revoked.
    pub async fn revoke_certificate(
        &self,
        actor: &Actor,
        login: &str,
        fingerprint: &str,
    ) -> Result<(), DirectoryError> {
        let fingerprint = fingerprint.trim().to_ascii_lowercase();
        let mut tx = self.store.begin().await?;
        let official = official_in(&mut tx, login).await?;
        let cert = tx
            .certificates_of(official.id)
            .await?
            .into_iter()
            .find(|c| c.fingerprint_sha256 == fingerprint && c.revoked_at.is_none())
            .ok_or_else(|| not_found(EntityKind::Certificate, &fingerprint))?;
        self.commit_revocation(tx, actor, &official.login, &cert)
            .await
    }

    /// Revokes `cert`, held by `login`, in `tx`, and commits it with its audit row.
    pub(super) async fn commit_revocation(
        &self,
        mut tx: Conn,
        actor: &Actor,
        login: &str,
        cert: &Certificate,
    ) -> Result<(), DirectoryError> {
        tx.revoke_certificate(cert.id, self.now()).await?;
        let after = json!({ "revoked": cert.fingerprint_sha256 });
        self.commit_change(
            tx,
            actor,
            "certificate.revoke",
            format!("official:{login}"),
            None,
            Some(after),
        )
        .await
    }
}

/// The official who receives mail at `address` (primary or alias), if any.
async fn address_holder(
    conn: &mut Conn,
    address: &str,
) -> Result<Option<OfficialId>, DirectoryError> {
    Ok(match conn.address_entry(address).await? {
        Some(entry) => match entry.owner {
            AddressOwner::Official(id) => Some(id),
            AddressOwner::Group(_) | AddressOwner::Agency(_) => None,
        },
        None => None,
    })
}
