//! DKIM signing of mail that officials submit (RFC 6376): one ready signer per domain that
//! has a key, chosen by the domain of the message's `From:` address, and a cache of signers
//! that follows key changes through the directory version. Keys are made and stored by the
//! directory (`directory::DkimKey`, `Directory::set_dkim_key`); this module only reads them,
//! never writes them, and never logs them.

use std::collections::{HashMap, HashSet};
use std::fmt;

use std::time::Duration;

use mail_auth::common::crypto::{Algorithm, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::{HeaderWriter, Writable};
use mail_auth::dkim::DkimSigner;
use mail_parser::MessageParser;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::directory::{Directory, DirectoryError, DomainDkimKey, Following, SnapshotView};

/// The headers signed when present, in the order they are listed in `h=`. These are the
/// ones RFC 6376 §5.4.1 names as the ones a signature should cover; absent ones are left
/// out of `h=`.
pub const SIGNED_HEADERS: [&str; 12] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "In-Reply-To",
    "References",
];

/// How long a key change made outside this process (by `congvu-admin` or another node) may
/// take to reach the signers.
pub const DKIM_REFRESH: Duration = Duration::from_secs(1);

/// One domain's signer: rsa-sha256, relaxed/relaxed (mail-auth's default canonicalization).
struct DomainSigner {
    selector: String,
    key: RsaKey<Sha256>,
}

/// A domain's key lent to one signature: mail-auth's signer owns its key, and an RSA key
/// pair is too costly to parse again for every message.
struct LentKey<'a>(&'a RsaKey<Sha256>);

impl SigningKey for LentKey<'_> {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        self.0.sign(input)
    }

    fn algorithm(&self) -> Algorithm {
        self.0.algorithm()
    }
}

impl DomainSigner {
    fn new(key: &DomainDkimKey) -> Result<DomainSigner, String> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(key.private_key_pem.as_bytes())
            .map_err(|e| e.to_string())?;
        let key_pair =
            RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(der)).map_err(|e| e.to_string())?;
        Ok(DomainSigner {
            selector: key.selector.clone(),
            key: key_pair,
        })
    }
}

/// The signers of every domain that has a DKIM key, at one directory version.
pub struct DkimSigners {
    version: i64,
    by_domain: HashMap<String, DomainSigner>,
}

impl fmt::Debug for DkimSigners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let selectors: HashMap<&str, &str> = self
            .by_domain
            .iter()
            .map(|(d, s)| (d.as_str(), s.selector.as_str()))
            .collect();
        f.debug_struct("DkimSigners")
            .field("version", &self.version)
            .field("selectors", &selectors)
            .finish()
    }
}

impl DkimSigners {
    /// The signers for the keys stored now.
    pub async fn load(directory: &Directory) -> Result<DkimSigners, DirectoryError> {
        // The version is read first: a key stored in between is then loaded under the older
        // version, and the next check loads it again, instead of being missed.
        let version = directory.version().await?;
        let keys = directory.dkim_keys().await?;
        Ok(DkimSigners::build(version, &keys))
    }

    /// Signers for `keys`. A key the signer cannot use (which the directory never stores)
    /// is reported and its domain's mail goes unsigned, rather than stopping all signing.
    fn build(version: i64, keys: &[DomainDkimKey]) -> DkimSigners {
        let mut by_domain = HashMap::with_capacity(keys.len());
        for key in keys {
            match DomainSigner::new(key) {
                Ok(signer) => {
                    by_domain.insert(key.domain.to_ascii_lowercase(), signer);
                }
                Err(error) => tracing::error!(
                    domain = %key.domain,
                    selector = %key.selector,
                    %error,
                    "stored DKIM key is unusable; mail from this domain goes out unsigned"
                ),
            }
        }
        DkimSigners { version, by_domain }
    }

    /// The directory version these signers were loaded at.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The selector `domain` signs with, if it has a key.
    pub fn selector(&self, domain: &str) -> Option<&str> {
        self.by_domain
            .get(&domain.to_ascii_lowercase())
            .map(|s| s.selector.as_str())
    }

    /// The `DKIM-Signature: …\r\n` header to prepend to `message`, signed with the key of the
    /// domain of its `From:` address; `None` when that domain has no key or the message has
    /// no `From:` address.
    pub fn sign(&self, message: &[u8]) -> Option<Vec<u8>> {
        let parsed = MessageParser::new().parse_headers(message)?;
        let from = parsed.from()?.first()?.address()?;
        let (_, domain) = from.rsplit_once('@')?;
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let signer = self.by_domain.get(&domain)?;
        let present: HashSet<String> = parsed
            .headers()
            .iter()
            .map(|h| h.name().to_ascii_lowercase())
            .collect();
        // mail-auth lists absent headers in `h=` too; only the present ones are asked for.
        let headers: Vec<&str> = SIGNED_HEADERS
            .into_iter()
            .filter(|h| present.contains(&h.to_ascii_lowercase()))
            .collect();
        let signature = DkimSigner::from_key(LentKey(&signer.key))
            .domain(domain.as_str())
            .selector(signer.selector.as_str())
            .headers(headers)
            .sign(message);
        match signature {
            Ok(signature) => Some(signature.to_header().into_bytes()),
            Err(error) => {
                tracing::error!(%domain, %error, "DKIM signing failed; message goes out unsigned");
                None
            }
        }
    }
}

impl SnapshotView for DkimSigners {
    fn version(&self) -> i64 {
        self.version
    }
}

/// The current signers, reloaded when the directory version moves: checked at once after a
/// change committed by this process, and otherwise at most once per refresh interval
/// ([`DKIM_REFRESH`] in the server).
pub type DkimCache = Following<DkimSigners>;

/// Loads the signers and follows the directory (see [`Following`]).
pub async fn load_dkim_signers(
    directory: Directory,
    refresh: Duration,
) -> Result<DkimCache, DirectoryError> {
    Following::load(directory, refresh, |directory: Directory| {
        Box::pin(async move { DkimSigners::load(&directory).await })
    })
    .await
}

#[cfg(test)]
mod tests;
