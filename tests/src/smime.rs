//! S/MIME-signed mail made in the test: officials' signing certificates (RSA-2048, as the
//! Vietnamese CAs issue them, or ECDSA P-256) from rcgen, and messages signed with them by the
//! OpenSSL 3 command line (`openssl cms -sign`), an implementation independent of congvu's
//! verifier.
//!
//! Every message has CRLF line ends and is 7-bit: the signed text travels base64-encoded,
//! as RFC 8551 §3.1.2 asks of signed content.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// The OpenSSL 3 command line (`.ci/run` installs it).
const OPENSSL: &str = "openssl";

/// A test certification authority that issues [`TestCertificate`]s (ECDSA P-256).
pub struct TestCa {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A CA whose common name is `name`.
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CountryName, "VN");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Test CA");
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params.self_signed(&key).unwrap();
        TestCa { certificate, key }
    }

    /// The CA's certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.certificate.pem()
    }
}

/// An official's signing certificate and its private key.
#[derive(Debug, Clone)]
pub struct TestCertificate {
    pub der: Vec<u8>,
    pub cert_pem: String,
    /// PKCS#8, PEM.
    pub key_pem: String,
}

impl TestCertificate {
    /// An RSA-2048 certificate for `email` (in the SAN rfc822Name and the subject
    /// emailAddress), valid from `not_before` to `not_after` (Unix seconds), issued by `ca`
    /// (or self-signed when `None`).
    ///
    /// Generating an RSA key takes a quarter of a second, so every RSA certificate made in one
    /// process has the same key; each still has its own random serial number, which is how a
    /// signature names its certificate.
    pub fn rsa(
        email: &str,
        not_before: i64,
        not_after: i64,
        ca: Option<&TestCa>,
    ) -> TestCertificate {
        let key = KeyPair::from_pem(rsa_key_pem()).unwrap();
        TestCertificate::issue(key, email, not_before, not_after, ca)
    }

    /// The same with a new ECDSA P-256 key.
    pub fn ecdsa(
        email: &str,
        not_before: i64,
        not_after: i64,
        ca: Option<&TestCa>,
    ) -> TestCertificate {
        TestCertificate::issue(
            KeyPair::generate().unwrap(),
            email,
            not_before,
            not_after,
            ca,
        )
    }

    fn issue(
        key: KeyPair,
        email: &str,
        not_before: i64,
        not_after: i64,
        ca: Option<&TestCa>,
    ) -> TestCertificate {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CountryName, "VN");
        params
            .distinguished_name
            .push(DnType::CommonName, "Cán bộ thử nghiệm");
        // PKCS #9 emailAddress (1.2.840.113549.1.9.1), as the Vietnamese CAs still write it.
        params.distinguished_name.push(
            DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
            rcgen::DnValue::Ia5String(email.try_into().unwrap()),
        );
        params.subject_alt_names = vec![SanType::Rfc822Name(email.try_into().unwrap())];
        params.not_before = time::OffsetDateTime::from_unix_timestamp(not_before).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
        let certificate = match ca {
            Some(ca) => params.signed_by(&key, &ca.certificate, &ca.key),
            None => params.self_signed(&key),
        }
        .unwrap();
        TestCertificate {
            der: certificate.der().to_vec(),
            cert_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// The process's RSA-2048 key, PKCS#8 PEM, generated by OpenSSL on first use.
fn rsa_key_pem() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let output = Command::new(OPENSSL)
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("run openssl genpkey");
        assert!(
            output.status.success(),
            "openssl genpkey: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    })
}

/// A complete message (From/To/Subject/Date/Message-ID headers and a multipart/signed body,
/// RFC 8551 §3.5.3) with `body` (UTF-8 text) signed by `signer`.
pub fn signed_message(
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
    signer: &TestCertificate,
) -> Vec<u8> {
    let entity = text_entity(body);
    let signature = sign(&entity, signer, false);
    let boundary = format!("----=_smime_{}", uuid::Uuid::new_v4().simple());
    let mut message = headers(from, to, subject);
    message.extend_from_slice(
        format!(
            "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n \
             micalg=sha-256; boundary=\"{boundary}\"\r\n\r\n\
             This is a cryptographically signed message in MIME format.\r\n\r\n\
             --{boundary}\r\n"
        )
        .as_bytes(),
    );
    message.extend_from_slice(&entity);
    // RFC 1847 §2.1: the CRLF before the delimiter is not part of the signed entity.
    message.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\n\
             Content-Type: application/pkcs7-signature; name=smime.p7s\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=smime.p7s\r\n\r\n\
             {}\r\n--{boundary}--\r\n",
            base64_lines(&signature)
        )
        .as_bytes(),
    );
    message
}

/// The same as an opaque application/pkcs7-mime signed-data message (RFC 8551 §3.5.2).
pub fn opaque_signed_message(
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
    signer: &TestCertificate,
) -> Vec<u8> {
    let signed_data = sign(&text_entity(body), signer, true);
    let mut message = headers(from, to, subject);
    message.extend_from_slice(
        format!(
            "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=smime.p7m\r\n\r\n\
             {}\r\n",
            base64_lines(&signed_data)
        )
        .as_bytes(),
    );
    message
}

/// A plain unsigned message.
pub fn plain_message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    let mut message = headers(from, to, subject);
    message.extend_from_slice(&text_entity(body));
    message
}

/// `message` with one character of the signed text changed, the signature left as it is:
/// the first letter or digit of the first body part of a multipart/signed message, of the
/// text inside an opaque signature, or of the body of any other message.
pub fn tampered(message: &[u8]) -> Vec<u8> {
    let parsed = MessageParser::new().parse(message).unwrap();
    let root = &parsed.parts[0];
    let content_type = root.content_type().unwrap();
    let mut changed = message.to_vec();
    match (content_type.ctype(), content_type.subtype().unwrap_or("")) {
        ("multipart", _) => {
            let PartType::Multipart(ids) = &root.body else {
                panic!("a multipart without parts");
            };
            let first = &parsed.parts[ids[0] as usize];
            let body = first.offset_body as usize..first.offset_end as usize;
            change_first_alphanumeric(&mut changed[body]);
        }
        ("application", "pkcs7-mime") => {
            let mut signed_data = root.contents().to_vec();
            // The text follows the header block of the entity inside the eContent.
            let header_end = b"Content-Transfer-Encoding: base64\r\n\r\n";
            let text_at =
                find(&signed_data, header_end).expect("the signed entity") + header_end.len();
            change_first_alphanumeric(&mut signed_data[text_at..]);
            let encoded = format!("{}\r\n", base64_lines(&signed_data));
            changed = [
                &message[..root.offset_body as usize],
                encoded.as_bytes(),
                &message[root.offset_end as usize..],
            ]
            .concat();
        }
        _ => {
            let body = root.offset_body as usize..root.offset_end as usize;
            change_first_alphanumeric(&mut changed[body]);
        }
    }
    assert_ne!(changed, message);
    changed
}

/// Replaces the first ASCII letter or digit in `bytes` by another: in base64 text the first
/// character carries the top bits of the first byte, so the decoded text changes too.
fn change_first_alphanumeric(bytes: &mut [u8]) {
    let at = bytes
        .iter()
        .position(u8::is_ascii_alphanumeric)
        .expect("a letter or digit to change");
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// From/To/Subject/Date/Message-ID and MIME-Version, each line ending in CRLF.
fn headers(from: &str, to: &str, subject: &str) -> Vec<u8> {
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap();
    let domain = from.rsplit_once('@').map_or("localhost", |(_, d)| d);
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {}\r\nDate: {date}\r\n\
         Message-ID: <{}@{domain}>\r\nMIME-Version: 1.0\r\n",
        encoded_word(subject),
        uuid::Uuid::new_v4().simple()
    )
    .into_bytes()
}

/// `text` as an RFC 2047 encoded word when it is not plain ASCII.
fn encoded_word(text: &str) -> String {
    if text.is_ascii() {
        text.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(text))
    }
}

/// The MIME entity that is signed: `body` as UTF-8 text with CRLF line ends, base64.
fn text_entity(body: &str) -> Vec<u8> {
    let mut text = body.replace("\r\n", "\n").replace('\n', "\r\n");
    if !text.ends_with("\r\n") {
        text.push_str("\r\n");
    }
    format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64_lines(text.as_bytes())
    )
    .into_bytes()
}

/// Base64 in 76-character lines joined by CRLF, without a final line end.
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    encoded
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The DER SignedData `openssl cms -sign` makes over `entity` as given (`-binary`: no line-end
/// translation), detached or with the entity inside (`opaque`).
fn sign(entity: &[u8], signer: &TestCertificate, opaque: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("entity"), entity).unwrap();
    std::fs::write(path("cert.pem"), &signer.cert_pem).unwrap();
    std::fs::write(path("key.pem"), &signer.key_pem).unwrap();
    let mut command = Command::new(OPENSSL);
    command
        .args([
            "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256",
        ])
        .arg("-in")
        .arg(path("entity"))
        .arg("-signer")
        .arg(path("cert.pem"))
        .arg("-inkey")
        .arg(path("key.pem"))
        .arg("-out")
        .arg(path("signature"));
    if opaque {
        command.arg("-nodetach");
    }
    run(&mut command, dir.path());
    std::fs::read(path("signature")).unwrap()
}

fn run(command: &mut Command, dir: &Path) {
    let output = command
        .current_dir(dir)
        .output()
        .expect("run openssl (the tests need the OpenSSL 3 command line)");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[cfg(test)]
mod tests {
    use congvu::smime::{classify, Signing};

    use super::*;

    const FROM: &str = "annv@vinhphuc.gov.vn";
    const TO: &str = "vanlt@vinhphuc.gov.vn";
    const BODY: &str = "Kính gửi các phòng,\nĐề nghị báo cáo trước ngày 30/11.";
    const NOW: i64 = 1_764_000_000;

    /// What OpenSSL itself says of `message` signed by `signer`.
    fn openssl_verifies(message: &[u8], signer: &TestCertificate, ca: Option<&TestCa>) -> bool {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("message.eml"), message).unwrap();
        let trusted = ca.map_or_else(|| signer.cert_pem.clone(), TestCa::cert_pem);
        std::fs::write(dir.path().join("trusted.pem"), trusted).unwrap();
        Command::new(OPENSSL)
            .args([
                "cms",
                "-verify",
                "-in",
                "message.eml",
                "-CAfile",
                "trusted.pem",
                "-purpose",
                "any",
                "-no_check_time",
                "-out",
                "text.mime",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap()
            .status
            .success()
    }

    #[test]
    fn messages_verify_with_openssl_and_congvu_and_carry_the_text() {
        let ca = TestCa::new("Test CA Vĩnh Phúc");
        let signers = [
            (
                TestCertificate::rsa(FROM, NOW - 86_400, NOW + 86_400, None),
                None,
            ),
            (
                TestCertificate::ecdsa(FROM, NOW - 86_400, NOW + 86_400, Some(&ca)),
                Some(&ca),
            ),
        ];
        for (signer, ca) in &signers {
            for message in [
                signed_message(FROM, TO, "Báo cáo", BODY, signer),
                opaque_signed_message(FROM, TO, "Báo cáo", BODY, signer),
            ] {
                assert!(message.is_ascii());
                assert!(!message.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
                assert!(openssl_verifies(&message, signer, *ca));
                assert_eq!(classify(&message, &[&signer.der]), Signing::Verified);
                let changed = tampered(&message);
                assert!(!openssl_verifies(&changed, signer, *ca));
                assert_eq!(classify(&changed, &[&signer.der]), Signing::Unverified);
            }
        }
        let message = signed_message(FROM, TO, "Báo cáo", BODY, &signers[1].0);
        let parsed = MessageParser::new().parse(&message).unwrap();
        assert_eq!(parsed.subject(), Some("Báo cáo"));
        assert_eq!(
            parsed.body_text(0).as_deref(),
            Some("Kính gửi các phòng,\r\nĐề nghị báo cáo trước ngày 30/11.\r\n")
        );
        let plain = plain_message(FROM, TO, "x", "y");
        assert_eq!(classify(&plain, &[&signers[0].0.der]), Signing::Unsigned);
    }

    #[test]
    fn certificates_name_the_address_and_validity() {
        let ca = TestCa::new("Test CA");
        let certificate = TestCertificate::rsa(FROM, NOW, NOW + 3_600, Some(&ca));
        let (_, parsed) = x509_parser::parse_x509_certificate(&certificate.der).unwrap();
        assert_eq!(parsed.validity().not_before.timestamp(), NOW);
        assert_eq!(parsed.validity().not_after.timestamp(), NOW + 3_600);
        assert_eq!(
            parsed
                .subject()
                .iter_email()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            FROM
        );
        assert!(parsed.issuer().to_string().contains("CN=Test CA"));
        assert_eq!(parsed.public_key().parsed().unwrap().key_size(), 2048);
        let plain = plain_message(FROM, TO, "x", "y");
        assert!(plain.ends_with(b"\r\n\r\neQ0K\r\n"));
        assert_eq!(
            tampered(&plain),
            [&plain[..plain.len() - 6], b"AQ0K\r\n"].concat()
        );
    }
}
