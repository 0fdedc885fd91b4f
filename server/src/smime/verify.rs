//! Verification of a CMS SignedData (RFC 5652 §5.4, §5.6) against the sender's directory
//! certificates. The certificates a signature carries are never used: the directory
//! certificate its SignerInfo names supplies the key.

use cms::cert::x509::spki::AlgorithmIdentifierOwned;
use cms::signed_data::{SignedAttributes, SignedData, SignerInfo};
use der::asn1::AnyRef;
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use ring::digest;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use super::certificate::{PublicKey, SignerCertificate};

/// SignerInfos past this many are ignored: one is usual, a few for co-signed mail.
pub(super) const MAX_SIGNERS: usize = 8;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA1_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// What a CMS structure turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Not a SignedData with signers (enveloped data, a certificate bundle, …).
    NotSigned,
    /// A SignedData none of whose signers verify against the given certificates.
    Failed,
    /// A SignedData with a signer that verifies against one of the given certificates.
    Verified,
}

/// Verifies `content_info` (DER) over `detached` content, or over its own encapsulated
/// content when `detached` is `None`.
pub(crate) fn verify(
    content_info: &[u8],
    detached: Option<&[u8]>,
    certificates: &[SignerCertificate],
) -> Outcome {
    let Ok(content_info) = ContentInfoRef::from_der(content_info) else {
        return Outcome::Failed;
    };
    if content_info.content_type != ID_SIGNED_DATA {
        return Outcome::NotSigned;
    }
    let Ok(signed_data) = content_info.content.decode_as::<SignedData>() else {
        return Outcome::Failed;
    };
    if signed_data.signer_infos.0.is_empty() {
        return Outcome::NotSigned;
    }
    let content = match (detached, &signed_data.encap_content_info.econtent) {
        (Some(content), _) => content,
        // The OCTET STRING's value is the content (§5.2); read in place, as it can be most
        // of a large message.
        (None, Some(econtent)) if econtent.tag() == Tag::OctetString => econtent.value(),
        (None, _) => return Outcome::Failed,
    };
    verify_signers(&signed_data, content, certificates)
}

/// ContentInfo (RFC 5652 §3), its content borrowed rather than copied.
#[derive(Debug, Sequence)]
struct ContentInfoRef<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: AnyRef<'a>,
}

fn verify_signers(
    signed_data: &SignedData,
    content: &[u8],
    certificates: &[SignerCertificate],
) -> Outcome {
    let mut digests = ContentDigests::new(content);
    let content_type = &signed_data.encap_content_info.econtent_type;
    let verified = signed_data
        .signer_infos
        .0
        .iter()
        .take(MAX_SIGNERS)
        .any(|signer| signer_verifies(signer, content_type, &mut digests, certificates));
    if verified {
        Outcome::Verified
    } else {
        Outcome::Failed
    }
}

/// RFC 5652 §5.4 and §5.6 for one SignerInfo.
fn signer_verifies(
    signer: &SignerInfo,
    content_type: &ObjectIdentifier,
    digests: &mut ContentDigests<'_>,
    certificates: &[SignerCertificate],
) -> bool {
    let Some(hash) = Hash::from_oid(&signer.digest_alg.oid) else {
        return false;
    };
    let signed_attributes;
    let signed: &[u8] = match &signer.signed_attrs {
        None => {
            // Without signed attributes the content type must be id-data (§5.3).
            if *content_type != ID_DATA {
                return false;
            }
            digests.content
        }
        Some(attributes) => {
            if !attributes_bind(attributes, content_type, digests.of(hash)) {
                return false;
            }
            // §5.4: the signature covers the DER of the attributes as an explicit SET OF,
            // not the [0] IMPLICIT tag they are sent under; `SetOfVec` encodes as SET.
            signed_attributes = match attributes.to_der() {
                Ok(der) => der,
                Err(_) => return false,
            };
            &signed_attributes
        }
    };
    certificates
        .iter()
        .filter(|certificate| certificate.is_named_by(&signer.sid))
        .any(|certificate| {
            let Some(algorithm) =
                verification_algorithm(hash, &signer.signature_algorithm, &certificate.key)
            else {
                return false;
            };
            let key = match &certificate.key {
                PublicKey::Rsa(key) | PublicKey::EcP256(key) | PublicKey::EcP384(key) => key,
            };
            UnparsedPublicKey::new(algorithm, key)
                .verify(signed, signer.signature.as_bytes())
                .is_ok()
        })
}

/// Whether the signed attributes name `content_type` and carry `digest` (RFC 5652 §11.1,
/// §11.2: each present exactly once, with exactly one value).
fn attributes_bind(
    attributes: &SignedAttributes,
    content_type: &ObjectIdentifier,
    digest: &[u8],
) -> bool {
    let named_type = single_value(attributes, ID_CONTENT_TYPE)
        .and_then(|value| value.decode_as::<ObjectIdentifier>().ok());
    let message_digest = single_value(attributes, ID_MESSAGE_DIGEST)
        .and_then(|value| value.decode_as::<OctetString>().ok());
    named_type.as_ref() == Some(content_type)
        && message_digest.is_some_and(|value| value.as_bytes() == digest)
}

fn single_value(attributes: &SignedAttributes, oid: ObjectIdentifier) -> Option<&Any> {
    let mut found = attributes.iter().filter(|attribute| attribute.oid == oid);
    let attribute = found.next()?;
    if found.next().is_some() || attribute.values.len() != 1 {
        return None;
    }
    attribute.values.iter().next()
}

/// The digest algorithms S/MIME signers use (RFC 8551 §2.1, with SHA-1 still sent by old clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        match *oid {
            ID_SHA1 => Some(Hash::Sha1),
            ID_SHA256 => Some(Hash::Sha256),
            ID_SHA384 => Some(Hash::Sha384),
            ID_SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn ring(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }

    fn output_len(self) -> u32 {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
}

/// The content's digest per algorithm, each computed at most once however many signers ask.
struct ContentDigests<'c> {
    content: &'c [u8],
    computed: Vec<(Hash, digest::Digest)>,
}

impl<'c> ContentDigests<'c> {
    fn new(content: &'c [u8]) -> ContentDigests<'c> {
        ContentDigests {
            content,
            computed: Vec::new(),
        }
    }

    fn of(&mut self, hash: Hash) -> &[u8] {
        let index = match self.computed.iter().position(|(h, _)| *h == hash) {
            Some(index) => index,
            None => {
                self.computed
                    .push((hash, digest::digest(hash.ring(), self.content)));
                self.computed.len() - 1
            }
        };
        self.computed[index].1.as_ref()
    }
}

/// The `ring` algorithm for a SignerInfo's digest and signature algorithms and the key's
/// type; `None` for combinations that are inconsistent or not supported.
fn verification_algorithm(
    hash: Hash,
    signature_algorithm: &AlgorithmIdentifierOwned,
    key: &PublicKey,
) -> Option<&'static dyn VerificationAlgorithm> {
    let oid = signature_algorithm.oid;
    match key {
        PublicKey::Rsa(_) => {
            // The hash named by a combined algorithm must be the digest algorithm (RFC 5754 §3.2);
            // bare rsaEncryption takes it from the digest algorithm (RFC 3370 §3.2).
            let pkcs1_hash = match oid {
                RSA_ENCRYPTION => Some(hash),
                SHA1_WITH_RSA => Some(Hash::Sha1),
                SHA256_WITH_RSA => Some(Hash::Sha256),
                SHA384_WITH_RSA => Some(Hash::Sha384),
                SHA512_WITH_RSA => Some(Hash::Sha512),
                _ => None,
            };
            if let Some(pkcs1_hash) = pkcs1_hash {
                if pkcs1_hash != hash {
                    return None;
                }
                return Some(match hash {
                    Hash::Sha1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    Hash::Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Hash::Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Hash::Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                });
            }
            if oid != RSASSA_PSS || !pss_parameters_match(signature_algorithm, hash) {
                return None;
            }
            match hash {
                Hash::Sha256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
                Hash::Sha384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
                Hash::Sha512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
                Hash::Sha1 => None,
            }
        }
        PublicKey::EcP256(_) | PublicKey::EcP384(_) => {
            // Some signers write the key's algorithm where the signature algorithm belongs
            // (RFC 5753 §7.1.3 allows only ecdsa-with-*, but the hash is unambiguous).
            let ecdsa_hash = match oid {
                EC_PUBLIC_KEY => hash,
                ECDSA_WITH_SHA256 => Hash::Sha256,
                ECDSA_WITH_SHA384 => Hash::Sha384,
                _ => return None,
            };
            if ecdsa_hash != hash {
                return None;
            }
            let p256 = matches!(key, PublicKey::EcP256(_));
            match (p256, hash) {
                (true, Hash::Sha256) => Some(&signature::ECDSA_P256_SHA256_ASN1),
                (true, Hash::Sha384) => Some(&signature::ECDSA_P256_SHA384_ASN1),
                (false, Hash::Sha256) => Some(&signature::ECDSA_P384_SHA256_ASN1),
                (false, Hash::Sha384) => Some(&signature::ECDSA_P384_SHA384_ASN1),
                _ => None,
            }
        }
    }
}

/// RSASSA-PSS-params (RFC 4055 §3.1). Absent fields take the defaults (SHA-1, MGF1 with SHA-1,
/// salt length 20, trailer 1).
#[derive(Debug, Sequence)]
struct PssParameters {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_generation: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

/// Whether the PSS parameters are the ones `ring` verifies: `hash` for the message and for
/// MGF1, a salt as long as the hash output, the standard trailer.
fn pss_parameters_match(signature_algorithm: &AlgorithmIdentifierOwned, hash: Hash) -> bool {
    let Some(parameters) = signature_algorithm
        .parameters
        .as_ref()
        .and_then(|any| any.decode_as::<PssParameters>().ok())
    else {
        return false;
    };
    let names = |algorithm: &Option<AlgorithmIdentifierOwned>| {
        algorithm
            .as_ref()
            .map_or(Some(Hash::Sha1), |algorithm| Hash::from_oid(&algorithm.oid))
    };
    let mgf1_hash = match &parameters.mask_generation {
        None => Some(Hash::Sha1),
        Some(mgf) if mgf.oid == MGF1 => mgf
            .parameters
            .as_ref()
            .and_then(|any| any.decode_as::<AlgorithmIdentifierOwned>().ok())
            .and_then(|inner| Hash::from_oid(&inner.oid)),
        Some(_) => None,
    };
    names(&parameters.hash) == Some(hash)
        && mgf1_hash == Some(hash)
        && parameters.salt_length.unwrap_or(20) == hash.output_len()
        && parameters.trailer_field.unwrap_or(1) == 1
}
