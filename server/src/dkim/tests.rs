//! Signing checked by mail-auth's own verifier, with the public key served from an offline
//! TXT cache instead of DNS.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::OnceLock;
use std::time::Instant;

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{
    AuthenticatedMessage, DkimResult, Error, MessageAuthenticator, Parameters, ResolverCache, Txt,
};

use super::*;
use crate::directory::{DkimKey, DkimRecord};

const DOMAIN: &str = "vinhphuc.gov.vn";
const SELECTOR: &str = "congvu202611";

const MESSAGE: &str = "From: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <annv@vinhphuc.gov.vn>\r\n\
To: vanthu.stttt@vinhphuc.gov.vn\r\n\
Subject: Lich hop giao ban\r\n\
Date: Fri, 27 Nov 2026 08:00:00 +0700\r\n\
Message-ID: <lichhop-1@vinhphuc.gov.vn>\r\n\
X-Mailer: Thunderbird\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hop giao ban 8h thu Hai tai phong hop tang 3.\r\n";

/// One 2048-bit key for the whole module: generating RSA keys takes a while.
fn key() -> &'static DkimKey {
    static KEY: OnceLock<DkimKey> = OnceLock::new();
    KEY.get_or_init(|| DkimKey::generate(2048).unwrap())
}

fn signers() -> DkimSigners {
    DkimSigners::build(
        7,
        &[DomainDkimKey {
            domain: DOMAIN.into(),
            selector: SELECTOR.into(),
            private_key_pem: key().private_key_pem().into(),
        }],
    )
}

/// TXT records answered from memory.
struct Txts(HashMap<String, Txt>);

impl Txts {
    fn publishing(record: &DkimRecord) -> Txts {
        let key = DomainKey::parse(record.value().as_bytes()).unwrap();
        Txts(HashMap::from([(
            format!("{}.", record.name()),
            Txt::from(key),
        )]))
    }
}

impl ResolverCache<String, Txt> for Txts {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.get(name).cloned()
    }

    fn remove<Q>(&self, _: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, _: String, _: Txt, _: Instant) {}
}

/// The DKIM results of `message` against the published `record`.
async fn verify(message: &[u8], record: &DkimRecord) -> Vec<DkimResult> {
    let txts = Txts::publishing(record);
    let authenticator = MessageAuthenticator::new_cloudflare().unwrap();
    let parsed = AuthenticatedMessage::parse(message).unwrap();
    let outputs = authenticator
        .verify_dkim(Parameters::new(&parsed).with_txt_cache(&txts))
        .await;
    outputs.iter().map(|o| o.result().clone()).collect()
}

fn signed(signers: &DkimSigners, message: &str) -> Vec<u8> {
    let mut signed = signers.sign(message.as_bytes()).unwrap();
    signed.extend_from_slice(message.as_bytes());
    signed
}

#[tokio::test]
async fn signed_mail_verifies_against_the_published_record() {
    let signers = signers();
    let header = signers.sign(MESSAGE.as_bytes()).unwrap();
    let text = String::from_utf8(header.clone()).unwrap();
    assert!(
        text.starts_with(
            "DKIM-Signature: v=1; a=rsa-sha256; s=congvu202611; d=vinhphuc.gov.vn; c=relaxed/relaxed;\r\n\t"
        ),
        "{text}"
    );
    assert!(text.ends_with(";\r\n"), "{text}");
    let mut message = header;
    message.extend_from_slice(MESSAGE.as_bytes());

    let parsed = AuthenticatedMessage::parse(&message).unwrap();
    let signature = parsed.dkim_headers[0].header.as_ref().unwrap();
    // Only the listed headers that are present, each once (X-Mailer and Cc are not signed).
    assert_eq!(
        signature.h,
        [
            "Content-Type",
            "MIME-Version",
            "Message-ID",
            "Date",
            "Subject",
            "To",
            "From"
        ]
    );
    let record = key().record(DOMAIN, SELECTOR);
    assert_eq!(verify(&message, &record).await, [DkimResult::Pass]);
}

#[tokio::test]
async fn a_changed_body_or_signed_header_fails_verification() {
    let signers = signers();
    let record = key().record(DOMAIN, SELECTOR);
    let message = signed(&signers, MESSAGE);
    let text = String::from_utf8(message).unwrap();

    let body_changed = text.replace("8h thu Hai", "9h thu Ba");
    assert_eq!(
        verify(body_changed.as_bytes(), &record).await,
        [DkimResult::Neutral(Error::FailedBodyHashMatch)]
    );
    let subject_changed = text.replace("Subject: Lich hop", "Subject: Huy lich hop");
    assert_eq!(
        verify(subject_changed.as_bytes(), &record).await,
        [DkimResult::Fail(Error::FailedVerification)]
    );
    // A header outside the signed set may be added on the way, as relays do.
    let relayed = format!("Received: from mx.vinhphuc.gov.vn\r\n{text}");
    assert_eq!(
        verify(relayed.as_bytes(), &record).await,
        [DkimResult::Pass]
    );
}

#[tokio::test]
async fn another_key_does_not_verify() {
    let other = DkimKey::generate(2048).unwrap();
    let message = signed(&signers(), MESSAGE);
    assert_eq!(
        verify(&message, &other.record(DOMAIN, SELECTOR)).await,
        [DkimResult::Fail(Error::FailedVerification)]
    );
}

#[tokio::test]
async fn the_from_domain_chooses_the_key_whatever_its_case() {
    let signers = signers();
    let upper = MESSAGE.replace("<annv@vinhphuc.gov.vn>", "<AnNV@VinhPhuc.Gov.VN>");
    let header = String::from_utf8(signers.sign(upper.as_bytes()).unwrap()).unwrap();
    assert!(header.contains("; d=vinhphuc.gov.vn;"), "{header}");
    let message = signed(&signers, &upper);
    let record = key().record(DOMAIN, SELECTOR);
    assert_eq!(verify(&message, &record).await, [DkimResult::Pass]);

    // Only the headers present: here From, To and Subject.
    let minimal = "From: annv@vinhphuc.gov.vn\r\nTo: a@example.org\r\nSubject: x\r\n\r\nbody\r\n";
    let message = signed(&signers, minimal);
    let parsed = AuthenticatedMessage::parse(&message).unwrap();
    let signature = parsed.dkim_headers[0].header.as_ref().unwrap();
    assert_eq!(signature.h, ["Subject", "To", "From"]);
    assert_eq!(verify(&message, &record).await, [DkimResult::Pass]);
}

#[test]
fn mail_from_a_domain_without_a_key_is_not_signed() {
    let signers = signers();
    let other = MESSAGE.replace("annv@vinhphuc.gov.vn", "annv@bacninh.gov.vn");
    assert_eq!(signers.sign(other.as_bytes()), None);
    // A subdomain is another domain: it needs its own key.
    let sub = MESSAGE.replace("annv@vinhphuc.gov.vn", "annv@stttt.vinhphuc.gov.vn");
    assert_eq!(signers.sign(sub.as_bytes()), None);
    let no_from = "To: a@example.org\r\nSubject: x\r\n\r\nbody\r\n";
    assert_eq!(signers.sign(no_from.as_bytes()), None);
    assert_eq!(signers.sign(b""), None);
    assert_eq!(DkimSigners::build(1, &[]).sign(MESSAGE.as_bytes()), None);
}

#[test]
fn an_unusable_stored_key_leaves_only_its_domain_unsigned() {
    let signers = DkimSigners::build(
        3,
        &[
            DomainDkimKey {
                domain: "bacninh.gov.vn".into(),
                selector: "s1".into(),
                private_key_pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
                    .into(),
            },
            DomainDkimKey {
                domain: "VinhPhuc.gov.vn".into(),
                selector: SELECTOR.into(),
                private_key_pem: key().private_key_pem().into(),
            },
        ],
    );
    assert_eq!(signers.version(), 3);
    assert_eq!(signers.selector("bacninh.gov.vn"), None);
    assert_eq!(signers.selector("vinhphuc.gov.vn"), Some(SELECTOR));
    assert!(signers.sign(MESSAGE.as_bytes()).is_some());
    let shown = format!("{signers:?}");
    assert!(!shown.contains("PRIVATE"), "{shown}");
}
