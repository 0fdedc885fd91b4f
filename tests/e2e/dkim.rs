//! DKIM keys through the real `congvu-admin` binary on SQLite and PostgreSQL: `domain
//! dkim-keygen` stores a key and prints the record to publish, `domain dkim-show` prints it
//! again, replacing a key takes `--replace` and a new selector; then the server's signers,
//! loaded from the same database, sign mail that mail-auth's verifier accepts against the
//! printed record (served from an offline TXT cache), and follow key changes.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use congvu::clock::Clock;
use congvu::directory::{default_dkim_selector, Actor, Directory, DkimKey};
use congvu::dkim::{load_dkim_signers, DkimSigners, DKIM_REFRESH};
use congvu_tests::{Backend, TestDb};
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
};
use serde_json::{json, Value};

use crate::admin::{fails, json_of, AdminCli};
use crate::backend_tests;

backend_tests!(
    keygen_prints_the_record_of_the_key_that_signs,
    replacing_a_key_takes_replace_and_a_new_selector,
    unknown_domains_bad_selectors_and_sizes_are_refused,
);

const DOMAIN: &str = "vinhphuc.gov.vn";

const MESSAGE: &str = "From: Nguyen Van An <annv@vinhphuc.gov.vn>\r\n\
To: lanpt@bacninh.gov.vn\r\n\
Subject: Cong van so 123/STTTT\r\n\
Date: Fri, 27 Nov 2026 08:00:00 +0700\r\n\
Message-ID: <cv123@vinhphuc.gov.vn>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Kinh gui So Thong tin va Truyen thong tinh Bac Ninh.\r\n";

/// A record as printed in zone-file form, taken apart.
#[derive(Debug)]
struct ZoneEntry {
    /// The owner name, with its trailing dot.
    name: String,
    /// The quoted strings, unquoted.
    strings: Vec<String>,
}

impl ZoneEntry {
    fn parse(line: &str) -> ZoneEntry {
        let (name, rest) = line
            .split_once(" IN TXT ( ")
            .unwrap_or_else(|| panic!("{line}"));
        let inner = rest.strip_suffix(" )").unwrap_or_else(|| panic!("{line}"));
        let strings: Vec<String> = inner
            .split("\" \"")
            .map(|s| s.trim_matches('"').to_string())
            .collect();
        assert_eq!(
            format!("{name} IN TXT ( \"{}\" )", strings.join("\" \"")),
            line,
            "not one line of quoted strings"
        );
        ZoneEntry {
            name: name.to_string(),
            strings,
        }
    }

    /// The TXT record's text as a resolver hands it over: the strings joined.
    fn value(&self) -> String {
        self.strings.concat()
    }

    fn public_key(&self) -> String {
        let value = self.value();
        value
            .strip_prefix("v=DKIM1; k=rsa; p=")
            .unwrap_or_else(|| panic!("{value}"))
            .to_string()
    }
}

/// TXT records answered from memory: `name.` -> the record's text.
struct Txts(HashMap<String, Txt>);

impl Txts {
    fn publishing(name: &str, value: &str) -> Txts {
        let key = DomainKey::parse(value.as_bytes()).unwrap();
        Txts(HashMap::from([(name.to_string(), Txt::from(key))]))
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

/// Signs [`MESSAGE`] with `signers` and verifies it against the record `name` = `value`.
async fn sign_and_verify(signers: &DkimSigners, name: &str, value: &str) -> Vec<DkimResult> {
    let mut message = signers.sign(MESSAGE.as_bytes()).expect("signed");
    message.extend_from_slice(MESSAGE.as_bytes());
    verify(&message, name, value).await
}

/// Verifies every DKIM signature of `message` against the one record `name` = `value`.
pub(crate) async fn verify(message: &[u8], name: &str, value: &str) -> Vec<DkimResult> {
    let txts = Txts::publishing(name, value);
    let parsed = AuthenticatedMessage::parse(message).unwrap();
    MessageAuthenticator::new_cloudflare()
        .unwrap()
        .verify_dkim(Parameters::new(&parsed).with_txt_cache(&txts))
        .await
        .iter()
        .map(|o| o.result().clone())
        .collect()
}

async fn directory(db: &TestDb) -> Directory {
    Directory::new(db.open_store().await, Clock::system())
}

/// The public key (base64) of the key stored for `domain`.
async fn stored_public_key(directory: &Directory, domain: &str) -> (String, String) {
    let stored = directory.dkim_key(domain).await.unwrap().expect("a key");
    let key = DkimKey::from_pem(&stored.private_key_pem).unwrap();
    (stored.selector, key.public_key_base64())
}

async fn keygen_prints_the_record_of_the_key_that_signs(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db);
    cli.run(&["domain", "add", DOMAIN, "--primary"]).ok();
    let before = default_dkim_selector(Clock::system().now());
    let run = cli.run(&["domain", "dkim-keygen", DOMAIN]).ok();
    let after = default_dkim_selector(Clock::system().now());
    assert_eq!(run.stderr, "");

    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    let entry = ZoneEntry::parse(lines[0]);
    let selector = entry.name.split('.').next().unwrap().to_string();
    assert!(selector == before || selector == after, "{selector}");
    assert_eq!(entry.name, format!("{selector}._domainkey.{DOMAIN}."));
    assert_eq!(entry.strings[0], "v=DKIM1; k=rsa; ");
    assert!(entry.strings[1].starts_with("p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"));
    // A 2048-bit key: 392 base64 characters after `p=`, in two strings of at most 255.
    assert_eq!(
        entry.strings.iter().map(String::len).collect::<Vec<_>>(),
        [16, 255, 139]
    );
    assert_eq!(
        lines[1],
        format!(
            "; mail from {DOMAIN} is signed with this key from now on: publish this record in the \
             zone of {DOMAIN}, then check it with `dig +short TXT {selector}._domainkey.{DOMAIN}`"
        )
    );

    // The printed key is the public half of the stored private key.
    let directory = directory(&db).await;
    assert_eq!(
        stored_public_key(&directory, DOMAIN).await,
        (selector.clone(), entry.public_key())
    );
    let audit = directory
        .audit_log(Some(&format!("domain:{DOMAIN}")))
        .await
        .unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.record.action, "domain.dkim-key");
    assert_eq!(last.record.before, None);
    let summary: Value = serde_json::from_str(last.record.after.as_deref().unwrap()).unwrap();
    assert_eq!(
        summary,
        json!({ "dkim_selector": selector, "dkim_key_bits": 2048 })
    );

    // The server's signers, loaded from the same database, sign mail the record verifies.
    let signers = DkimSigners::load(&directory).await.unwrap();
    assert_eq!(signers.selector(DOMAIN), Some(selector.as_str()));
    assert_eq!(
        sign_and_verify(&signers, &entry.name, &entry.value()).await,
        [DkimResult::Pass]
    );

    // dkim-show prints the same record again, in text and in JSON.
    let show = cli.run(&["domain", "dkim-show", DOMAIN]).ok();
    assert_eq!(
        show.stdout,
        format!(
            "{}\n; mail from {DOMAIN} is signed with selector {selector}\n",
            lines[0]
        )
    );
    let show = cli.run(&["--json", "domain", "dkim-show", DOMAIN]).ok();
    assert_eq!(
        json_of(&show),
        json!({
            "domain": DOMAIN,
            "selector": selector,
            "record_name": format!("{selector}._domainkey.{DOMAIN}"),
            "record_value": entry.value(),
        })
    );
}

async fn replacing_a_key_takes_replace_and_a_new_selector(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db);
    cli.run(&["domain", "add", DOMAIN, "--primary"]).ok();
    let run = cli
        .run(&[
            "--json",
            "domain",
            "dkim-keygen",
            "VinhPhuc.gov.vn",
            "--selector",
            "CongVu2026a",
        ])
        .ok();
    let first = json_of(&run);
    let directory = directory(&db).await;
    let (_, first_key) = stored_public_key(&directory, DOMAIN).await;
    assert_eq!(
        first,
        json!({
            "domain": DOMAIN,
            "selector": "congvu2026a",
            "record_name": "congvu2026a._domainkey.vinhphuc.gov.vn",
            "record_value": format!("v=DKIM1; k=rsa; p={first_key}"),
        })
    );
    let cache = load_dkim_signers(directory.clone(), DKIM_REFRESH)
        .await
        .unwrap();
    assert_eq!(
        cache.current().await.unwrap().selector(DOMAIN),
        Some("congvu2026a")
    );

    fails(
        cli.run(&["domain", "dkim-keygen", DOMAIN, "--selector", "congvu2026b"]),
        2,
        "congvu-admin: vinhphuc.gov.vn already has a DKIM key (selector congvu2026a): pass \
         --replace to replace it with a new one; `congvu-admin domain dkim-show vinhphuc.gov.vn` \
         prints its record\n",
    );
    fails(
        cli.run(&[
            "domain",
            "dkim-keygen",
            DOMAIN,
            "--replace",
            "--selector",
            "congvu2026a",
        ]),
        1,
        "congvu-admin: the new key needs a new selector: mail signed with the current key is \
         verified against congvu2026a._domainkey.vinhphuc.gov.vn; name another with --selector\n",
    );
    assert_eq!(
        stored_public_key(&directory, DOMAIN).await,
        ("congvu2026a".to_string(), first_key.clone())
    );

    let run = cli
        .run(&[
            "domain",
            "dkim-keygen",
            DOMAIN,
            "--replace",
            "--selector",
            "congvu2026b",
        ])
        .ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    let entry = ZoneEntry::parse(lines[0]);
    assert_eq!(entry.name, "congvu2026b._domainkey.vinhphuc.gov.vn.");
    assert_eq!(
        lines[1],
        "; mail from vinhphuc.gov.vn is signed with this key from now on: publish this record at \
         once, and keep the record of selector congvu2026a for a week, until mail signed with it \
         has been checked"
    );
    let (selector, second_key) = stored_public_key(&directory, DOMAIN).await;
    assert_eq!(
        (selector.as_str(), &second_key),
        ("congvu2026b", &entry.public_key())
    );
    assert_ne!(second_key, first_key);

    let audit = directory
        .audit_log(Some("domain:vinhphuc.gov.vn"))
        .await
        .unwrap();
    let summary = |text: &Option<String>| -> Option<Value> {
        text.as_deref().map(|t| serde_json::from_str(t).unwrap())
    };
    let changes: Vec<_> = audit
        .iter()
        .filter(|e| e.record.action == "domain.dkim-key")
        .map(|e| (summary(&e.record.before), summary(&e.record.after)))
        .collect();
    assert_eq!(
        changes,
        [
            (
                None,
                Some(json!({ "dkim_selector": "congvu2026a", "dkim_key_bits": 2048 }))
            ),
            (
                Some(json!({ "dkim_selector": "congvu2026a" })),
                Some(json!({ "dkim_selector": "congvu2026b", "dkim_key_bits": 2048 }))
            ),
        ]
    );

    // The cache notices a change made by another process within its refresh interval.
    let deadline = Instant::now() + DKIM_REFRESH + Duration::from_secs(5);
    let signers = loop {
        let signers = cache.current().await.unwrap();
        if signers.selector(DOMAIN) == Some("congvu2026b") {
            break signers;
        }
        assert!(Instant::now() < deadline, "the cache kept {signers:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        sign_and_verify(&signers, &entry.name, &entry.value()).await,
        [DkimResult::Pass]
    );
    let header = String::from_utf8(signers.sign(MESSAGE.as_bytes()).unwrap()).unwrap();
    assert!(header.contains(" s=congvu2026b;"), "{header}");

    // A change made in this process is seen by the next signature, without waiting.
    let stored = directory.dkim_key(DOMAIN).await.unwrap().unwrap();
    let same_key = DkimKey::from_pem(&stored.private_key_pem).unwrap();
    let record = directory
        .set_dkim_key(
            &Actor::admin("it-stttt"),
            DOMAIN,
            Some("congvu2026c"),
            &same_key,
            true,
        )
        .await
        .unwrap();
    let signers = cache.current().await.unwrap();
    assert_eq!(signers.selector(DOMAIN), Some("congvu2026c"));
    assert_eq!(
        sign_and_verify(&signers, &format!("{}.", record.name()), &record.value()).await,
        [DkimResult::Pass]
    );
}

async fn unknown_domains_bad_selectors_and_sizes_are_refused(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db);
    cli.run(&["domain", "add", DOMAIN, "--primary"]).ok();
    let unknown = "congvu-admin: domain \"bacninh.gov.vn\" does not exist: check the name with \
                   `congvu-admin domain list`\n";
    fails(
        cli.run(&["domain", "dkim-keygen", "bacninh.gov.vn"]),
        1,
        unknown,
    );
    fails(
        cli.run(&["domain", "dkim-show", "bacninh.gov.vn"]),
        1,
        unknown,
    );
    fails(
        cli.run(&["domain", "dkim-show", DOMAIN]),
        1,
        "congvu-admin: vinhphuc.gov.vn has no DKIM key: create one with `congvu-admin domain \
         dkim-keygen vinhphuc.gov.vn`\n",
    );
    fails(
        cli.run(&["domain", "dkim-keygen", DOMAIN, "--selector", "sel_1"]),
        1,
        "congvu-admin: \"sel_1\" is not a DKIM selector: use up to 63 letters, digits and \
         hyphens, e.g. congvu202611\n",
    );
    for bits in ["1024", "4097", "many"] {
        let run = cli.run(&["domain", "dkim-keygen", DOMAIN, "--bits", bits]);
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        assert!(
            run.stderr.starts_with(&format!(
                "error: invalid value '{bits}' for '--bits <BITS>': "
            )),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    // Nothing was stored by any of these.
    let directory = directory(&db).await;
    assert!(directory.dkim_keys().await.unwrap().is_empty());
    let audit = directory.audit_log(None).await.unwrap();
    assert!(audit.iter().all(|e| e.record.action != "domain.dkim-key"));
}
