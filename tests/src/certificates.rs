//! Officials' signing certificates made in the test: a test CA issues certificates with the
//! addresses, validity and key usages a Vietnamese CA would put in them (ECDSA P-256, which
//! rcgen generates in microseconds).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// A certification authority for tests.
pub struct IssuingCa {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate issued by an [`IssuingCa`].
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub der: Vec<u8>,
    pub pem: String,
    pub key_pem: String,
}

/// What an issued certificate names and how long it lasts.
#[derive(Debug, Clone)]
pub struct CertificateRequest<'a> {
    pub common_name: &'a str,
    /// `rfc822Name`s in the subject alternative name.
    pub san_emails: Vec<&'a str>,
    /// The subject's `emailAddress` attribute, as older CAs write it.
    pub subject_email: Option<&'a str>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl std::fmt::Debug for IssuingCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuingCa").finish_non_exhaustive()
    }
}

impl IssuingCa {
    /// A CA named `name`.
    pub fn new(name: &str) -> IssuingCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params.self_signed(&key).unwrap();
        IssuingCa { certificate, key }
    }

    /// The CA's own certificate, PEM.
    pub fn pem(&self) -> String {
        self.certificate.pem()
    }

    /// Issues a signing certificate for `request`.
    pub fn issue(&self, request: &CertificateRequest<'_>) -> IssuedCertificate {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, request.common_name);
        if let Some(email) = request.subject_email {
            // PKCS #9 emailAddress (1.2.840.113549.1.9.1).
            params.distinguished_name.push(
                DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
                rcgen::DnValue::Ia5String(email.try_into().unwrap()),
            );
        }
        params.subject_alt_names = request
            .san_emails
            .iter()
            .map(|e| SanType::Rfc822Name((*e).try_into().unwrap()))
            .collect();
        params.not_before = time::OffsetDateTime::from_unix_timestamp(request.not_before).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(request.not_after).unwrap();
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .unwrap();
        IssuedCertificate {
            der: certificate.der().to_vec(),
            pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl<'a> CertificateRequest<'a> {
    /// A certificate naming `email` in its SAN and subject, valid from `not_before` to `not_after`.
    pub fn for_address(email: &'a str, not_before: i64, not_after: i64) -> CertificateRequest<'a> {
        CertificateRequest {
            common_name: "Cán bộ thử nghiệm",
            san_emails: vec![email],
            subject_email: Some(email),
            not_before,
            not_after,
        }
    }
}

/// `pem` turned into a PKCS#7 bundle (DER `.p7b`) with `ca_pem`, by `openssl crl2pkcs7`, as
/// CAs and Windows export them.
pub fn pkcs7_bundle(dir: &std::path::Path, pem: &str, ca_pem: &str) -> Vec<u8> {
    let (leaf, ca, out) = (
        dir.join("leaf.pem"),
        dir.join("ca.pem"),
        dir.join("bundle.p7b"),
    );
    std::fs::write(&leaf, pem).unwrap();
    std::fs::write(&ca, ca_pem).unwrap();
    let status = std::process::Command::new("openssl")
        .args(["crl2pkcs7", "-nocrl", "-outform", "DER", "-certfile"])
        .arg(&ca)
        .arg("-certfile")
        .arg(&leaf)
        .arg("-out")
        .arg(&out)
        .status()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(status.success());
    std::fs::read(out).unwrap()
}
