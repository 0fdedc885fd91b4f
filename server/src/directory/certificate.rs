//! Digital-signature certificates held by officials, as facts the directory serves
//! (`userCertificate;binary`) and counts for the e-government report, and the reading of
//! certificate files (PEM, DER, PKCS#7 bundles) into those facts. What a certificate file
//! holds is decided here; which official gets it is decided by the operations that call this.

use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;

use crate::clock::UnixTime;

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

/// An official's certificate read from a file: its facts and the e-mail addresses it names
/// (subject alternative name `rfc822Name`s, then subject `emailAddress`), lowercase.
#[derive(Debug, Clone)]
pub struct CertificateFile {
    pub certificate: NewCertificate,
    pub emails: Vec<String>,
}

/// Why a certificate file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateFileError {
    #[error("holds no certificate: expected PEM (BEGIN CERTIFICATE or BEGIN PKCS7), DER, or a DER PKCS#7 bundle")]
    NoCertificate,
    #[error("is not a valid X.509 certificate ({0})")]
    Malformed(String),
    #[error(
        "holds {0} end-entity certificates; import each official's certificate from its own file"
    )]
    SeveralLeaves(usize),
    #[error("holds only CA certificates; the official's own certificate is missing")]
    OnlyAuthorities,
}

/// PKCS#7 `signedData` content type (RFC 5652 §5.1), which `.p7b`/`.p7c` bundles use.
const PKCS7_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";

/// Reads a certificate file and picks the official's certificate from it: the one
/// certificate, or in a bundle the end-entity certificate (the one that is not a CA and
/// issued no other certificate in the bundle).
pub fn read_certificate_file(bytes: &[u8]) -> Result<CertificateFile, CertificateFileError> {
    let ders = certificates_in(bytes)?;
    let leaf = leaf_of(&ders)?;
    describe(leaf)
}

/// The DER of every certificate a file holds, in file order.
fn certificates_in(bytes: &[u8]) -> Result<Vec<Vec<u8>>, CertificateFileError> {
    if looks_like_pem(bytes) {
        let mut ders = Vec::new();
        for pem in Pem::iter_from_buffer(bytes) {
            let pem = pem.map_err(|e| CertificateFileError::Malformed(format!("PEM: {e}")))?;
            match pem.label.as_str() {
                "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                    ders.push(pem.contents)
                }
                "PKCS7" | "CMS" => ders.extend(bundle_certificates(&pem.contents)?),
                // Keys and other blocks beside the certificate are not ours to keep.
                _ => {}
            }
        }
        if ders.is_empty() {
            return Err(CertificateFileError::NoCertificate);
        }
        return Ok(ders);
    }
    if is_pkcs7(bytes) {
        return bundle_certificates(bytes);
    }
    if bytes.first() == Some(&0x30) {
        return Ok(vec![bytes.to_vec()]);
    }
    Err(CertificateFileError::NoCertificate)
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Whether `der` is a CMS ContentInfo of type signedData.
fn is_pkcs7(der: &[u8]) -> bool {
    use cms::content_info::ContentInfo;
    use der::Decode;
    ContentInfo::from_der(der).is_ok_and(|ci| ci.content_type.to_string() == PKCS7_SIGNED_DATA)
}

/// The certificates carried by a PKCS#7 `signedData` bundle (RFC 5652 §5.1 `certificates`).
fn bundle_certificates(der_bytes: &[u8]) -> Result<Vec<Vec<u8>>, CertificateFileError> {
    use cms::cert::CertificateChoices;
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use der::{Decode, Encode};
    let malformed = |e: der::Error| CertificateFileError::Malformed(format!("PKCS#7: {e}"));
    let info = ContentInfo::from_der(der_bytes).map_err(malformed)?;
    if info.content_type.to_string() != PKCS7_SIGNED_DATA {
        return Err(CertificateFileError::NoCertificate);
    }
    let signed: SignedData = info.content.decode_as().map_err(malformed)?;
    let mut ders = Vec::new();
    for choice in signed.certificates.iter().flat_map(|set| set.0.iter()) {
        if let CertificateChoices::Certificate(cert) = choice {
            ders.push(cert.to_der().map_err(malformed)?);
        }
    }
    if ders.is_empty() {
        return Err(CertificateFileError::NoCertificate);
    }
    Ok(ders)
}

/// The end-entity certificate among `ders`.
fn leaf_of(ders: &[Vec<u8>]) -> Result<&[u8], CertificateFileError> {
    let parsed = ders
        .iter()
        .map(|der| parse(der))
        .collect::<Result<Vec<_>, _>>()?;
    if let [only] = ders {
        return Ok(only);
    }
    let issuers: Vec<&[u8]> = parsed.iter().map(|c| c.issuer().as_raw()).collect();
    let leaves: Vec<usize> = (0..parsed.len())
        .filter(|&i| !parsed[i].is_ca())
        .filter(|&i| {
            let subject = parsed[i].subject().as_raw();
            // A certificate that issued another in the bundle is an authority, whatever it says.
            !(0..parsed.len()).any(|j| j != i && issuers[j] == subject)
        })
        .collect();
    match leaves.as_slice() {
        [one] => Ok(&ders[*one]),
        [] => Err(CertificateFileError::OnlyAuthorities),
        many => Err(CertificateFileError::SeveralLeaves(many.len())),
    }
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, CertificateFileError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(CertificateFileError::Malformed(
            "bytes follow the certificate".into(),
        )),
        Err(e) => Err(CertificateFileError::Malformed(e.to_string())),
    }
}

/// The stored facts and addresses of one certificate.
fn describe(der: &[u8]) -> Result<CertificateFile, CertificateFileError> {
    let cert = parse(der)?;
    let mut emails: Vec<String> = Vec::new();
    let mut add = |address: &str| {
        let address = address.trim().to_lowercase();
        if address.contains('@') && !emails.contains(&address) {
            emails.push(address);
        }
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::RFC822Name(address) = name {
                add(address);
            }
        }
    }
    for attribute in cert.subject().iter_email() {
        if let Ok(address) = attribute.as_str() {
            add(address);
        }
    }
    let validity = cert.validity();
    Ok(CertificateFile {
        certificate: NewCertificate {
            der: der.to_vec(),
            serial: hex::encode_upper(cert.raw_serial()),
            issuer: cert.issuer().to_string(),
            subject: cert.subject().to_string(),
            not_before: UnixTime(validity.not_before.timestamp()),
            not_after: UnixTime(validity.not_after.timestamp()),
            key_usage: key_usage(&cert),
        },
        emails,
    })
}

/// The key usages and extended key usages a certificate allows, by their RFC 5280 names
/// (`digitalSignature,nonRepudiation,emailProtection`); `None` when it states neither.
fn key_usage(cert: &X509Certificate<'_>) -> Option<String> {
    let mut uses: Vec<&str> = Vec::new();
    if let Ok(Some(ku)) = cert.key_usage() {
        let ku = ku.value;
        let flags = [
            (ku.digital_signature(), "digitalSignature"),
            (ku.non_repudiation(), "nonRepudiation"),
            (ku.key_encipherment(), "keyEncipherment"),
            (ku.data_encipherment(), "dataEncipherment"),
            (ku.key_agreement(), "keyAgreement"),
            (ku.key_cert_sign(), "keyCertSign"),
            (ku.crl_sign(), "cRLSign"),
        ];
        uses.extend(flags.iter().filter(|(set, _)| *set).map(|(_, name)| *name));
    }
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        let eku = eku.value;
        let purposes = [
            (eku.email_protection, "emailProtection"),
            (eku.client_auth, "clientAuth"),
            (eku.server_auth, "serverAuth"),
            (eku.code_signing, "codeSigning"),
        ];
        uses.extend(
            purposes
                .iter()
                .filter(|(set, _)| *set)
                .map(|(_, name)| *name),
        );
    }
    (!uses.is_empty()).then(|| uses.join(","))
}

/// Lowercase hex SHA-256 of a certificate's DER: how certificates are named to admins.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

#[cfg(test)]
mod tests;
