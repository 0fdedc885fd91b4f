//! What the mail store reads from a message's header: the `From:` addresses (sender
//! ownership is checked against them) and whether the message is S/MIME-signed (counted for
//! the e-government report). Only the header block is parsed; bodies are never decoded here.

use mail_parser::{MessageParser, MimeHeaders};

pub use crate::model::Signing;

/// Facts read from a message's header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderFacts {
    /// Every address in `From:`, lowercase, in order.
    pub from: Vec<String>,
    /// Whether the top-level part is an S/MIME signature: `multipart/signed` with a PKCS#7
    /// signature (RFC 8551 §3.5.3), or `application/pkcs7-mime; smime-type=signed-data`
    /// (§3.5.2).
    pub smime_signed: bool,
}

/// Reads the header of `message`.
pub fn header_facts(message: &[u8]) -> HeaderFacts {
    let Some(parsed) = MessageParser::new().parse_headers(message) else {
        return HeaderFacts::default();
    };
    let from = parsed
        .from()
        .map(|list| {
            list.iter()
                .filter_map(|a| a.address())
                .map(|a| a.trim().to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let smime_signed = parsed.content_type().is_some_and(|ct| {
        let kind = ct.ctype().to_ascii_lowercase();
        let sub = ct.subtype().unwrap_or("").to_ascii_lowercase();
        let attr = |name: &str| ct.attribute(name).unwrap_or("").to_ascii_lowercase();
        match (kind.as_str(), sub.as_str()) {
            ("multipart", "signed") => matches!(
                attr("protocol").as_str(),
                "application/pkcs7-signature" | "application/x-pkcs7-signature"
            ),
            ("application", "pkcs7-mime" | "x-pkcs7-mime") => attr("smime-type") == "signed-data",
            _ => false,
        }
    });
    HeaderFacts { from, smime_signed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_from_and_signature_kinds() {
        let plain = b"From: An <AnNV@VinhPhuc.gov.vn>\r\nSubject: x\r\n\r\nbody\r\n";
        assert_eq!(
            header_facts(plain),
            HeaderFacts {
                from: vec!["annv@vinhphuc.gov.vn".into()],
                smime_signed: false
            }
        );
        let detached = b"From: a@b.vn\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=x\r\n\r\n--x--\r\n";
        assert!(header_facts(detached).smime_signed);
        let opaque = b"From: a@b.vn\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n\r\nMIIB\r\n";
        assert!(header_facts(opaque).smime_signed);
        let encrypted = b"From: a@b.vn\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nMIIB\r\n";
        assert!(!header_facts(encrypted).smime_signed);
        let pgp = b"From: a@b.vn\r\nContent-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=x\r\n\r\n--x--\r\n";
        assert!(!header_facts(pgp).smime_signed);
    }
}
