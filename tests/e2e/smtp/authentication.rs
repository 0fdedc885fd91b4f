//! Sender authentication on the MX (SPF, DKIM, DMARC) against the test's own DNS server on
//! `127.0.0.1`, with messages signed by dkimpy's `dkimsign`: the folder each message is filed
//! in and the `Authentication-Results:` field it carries, every refusal and deferral, forged
//! verdicts removed, hostile signatures and SPF records bounded, and submission left alone.

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use congvu::config::{AuthenticationMode, Config, SpfFailAction};
use congvu::mailstore::MailboxRole;
use congvu::net::ListenerKind;
use congvu_tests::dkim::{arc_seal, dkim_sign, DkimKey, SignOptions, SigningAlgorithm};
use congvu_tests::dns::{DnsBuilder, DnsServer};
use congvu_tests::smtp::{RawSmtp, SmtpReply};
use congvu_tests::Backend;

use super::fixture::{message, send, Province, ANNV, HOSTNAME, NHUNG};
use super::smtp_tests;

smtp_tests!(
    a_signed_message_from_an_authenticated_domain_goes_to_inbox_with_its_results,
    a_message_failing_p_reject_is_refused_and_not_stored,
    p_quarantine_files_into_junk_and_p_none_into_inbox_both_marked_failed,
    forged_results_claiming_this_host_are_removed_and_others_kept,
    a_dns_timeout_defers_the_message,
    a_dns_servfail_defers_the_message,
    a_forged_sender_in_a_served_domain_is_refused,
    spf_fail_without_dmarc_goes_to_junk_by_default,
    spf_fail_without_dmarc_is_refused_when_configured,
    spf_fail_without_dmarc_goes_to_inbox_when_configured,
    report_mode_delivers_with_results_and_off_mode_asks_nothing,
    relaxed_alignment_follows_the_public_suffix_list,
    only_the_first_signatures_are_verified,
    spf_lookups_past_the_limit_are_a_permerror,
    an_rsa_sha1_signature_is_no_pass,
    bdat_gets_the_same_check,
    submission_is_not_checked,
    a_forward_sealed_with_arc_is_recorded_and_a_broken_seal_fails,
);

/// The outside sender's domain; `gov.vn` is a public suffix, so this is an organizational
/// domain of its own.
const HANOI: &str = "hanoi.gov.vn";
const HANOI_SENDER: &str = "vanphong@hanoi.gov.vn";
const SELECTOR: &str = "s2026";
const RECIPIENT: &str = "nhunglth@vinhphuc.gov.vn";
/// Connections come from 127.0.0.1: this record lets them send.
const SPF_PASS: &str = "v=spf1 ip4:127.0.0.1 -all";
/// ... and this one fails them outright.
const SPF_FAIL: &str = "v=spf1 ip4:192.0.2.1 -all";
const DMARC_REJECT: &str = "v=DMARC1; p=reject";
/// The reply to a message refused by hanoi.gov.vn's DMARC policy.
const HANOI_REJECTED: &str =
    "550 5.7.1 Message rejected by the DMARC policy of hanoi.gov.vn: it is not authenticated as theirs";
const DEFERRED: &str =
    "451 4.7.0 Cannot check the sender's domain now (DNS did not answer); try again later";

/// One signing key for every test: RSA key generation is the slow part of signing.
static KEY: LazyLock<DkimKey> = LazyLock::new(|| DkimKey::generate(2048));

/// `domain`'s own records: SPF, the DKIM key under [`SELECTOR`], and DMARC when given.
fn publish(dns: DnsBuilder, domain: &str, spf: &str, dmarc: Option<&str>) -> DnsBuilder {
    let dns = dns
        .txt(domain, spf)
        .txt(&format!("{SELECTOR}._domainkey.{domain}"), KEY.txt_record());
    match dmarc {
        Some(dmarc) => dns.txt(&format!("_dmarc.{domain}"), dmarc),
        None => dns,
    }
}

/// hanoi.gov.vn with the given SPF and DMARC records and its DKIM key.
fn hanoi(spf: &str, dmarc: &str) -> DnsBuilder {
    publish(DnsServer::builder(), HANOI, spf, Some(dmarc))
}

/// The province with sender authentication enforced against `dns`; `configure` may change
/// more.
async fn start(
    backend: Backend,
    dns: &DnsServer,
    configure: impl FnOnce(&mut Config),
) -> Option<Province> {
    let servers = vec![dns.addr().to_string()];
    Province::start_with(backend, move |config| {
        config.inbound.authentication = AuthenticationMode::Enforce;
        config.dns.servers = servers;
        config.dns.timeout_seconds = 1;
        config.dns.attempts = 1;
        configure(config);
    })
    .await
}

/// A connection to the MX greeted with `EHLO helo`.
async fn mx_as(p: &Province, helo: &str) -> RawSmtp {
    let (mut smtp, greeting) = RawSmtp::connect(p.addr(ListenerKind::Smtp)).await;
    assert_eq!(greeting.code, 220);
    assert_eq!(smtp.command(&format!("EHLO {helo}")).await.code, 250);
    smtp
}

/// Sends `body` from `mail_from` to [`RECIPIENT`] and returns the answer to the message.
async fn deliver(smtp: &mut RawSmtp, mail_from: &str, body: &str) -> SmtpReply {
    let mut replies = send(smtp, mail_from, &[RECIPIENT], body).await;
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert_eq!(codes[..3], [250, 250, 354], "{replies:?}");
    replies.pop().unwrap()
}

fn assert_accepted(reply: &SmtpReply) {
    assert!(
        reply.line().starts_with("250 2.0.0 Ok: queued as "),
        "{reply:?}"
    );
}

/// `body` signed by `dkimsign` as `d=domain`, `s=`[`SELECTOR`].
fn signed(body: &str, domain: &str, options: &SignOptions) -> String {
    String::from_utf8(dkim_sign(body.as_bytes(), domain, SELECTOR, &KEY, options)).unwrap()
}

/// The copies in the recipient's INBOX and Junk.
async fn inbox_and_junk(p: &Province) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    (
        p.inbox(NHUNG.0).await,
        p.mailbox(NHUNG.0, MailboxRole::Junk).await,
    )
}

async fn assert_nothing_stored(p: &Province) {
    let (inbox, junk) = inbox_and_junk(p).await;
    assert!(inbox.is_empty() && junk.is_empty(), "{inbox:?} {junk:?}");
}

/// The header fields of a stored message in order, unfolded: `(name, value)`.
fn fields(stored: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(stored);
    let (header, _) = text.split_once("\r\n\r\n").expect("a header block");
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in header.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            fields
                .last_mut()
                .expect("a field to continue")
                .1
                .push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("a field name");
            fields.push((name.to_string(), value.trim_start().to_string()));
        }
    }
    fields
}

/// The values of every `Authentication-Results:` field, unfolded.
fn results_fields(stored: &[u8]) -> Vec<String> {
    fields(stored)
        .into_iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))
        .map(|(_, value)| value)
        .collect()
}

/// An `Authentication-Results:` value without its comments, split into the authserv-id and
/// one `method=result property=value …` string per result, whitespace collapsed and the
/// signature-dependent `header.b=` left out.
fn parse_results(value: &str) -> (String, Vec<String>) {
    let mut plain = String::new();
    let mut depth = 0u32;
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let mut parts = plain.split(';').map(|part| {
        part.split_whitespace()
            .filter(|token| !token.starts_with("header.b="))
            .collect::<Vec<_>>()
            .join(" ")
    });
    let authserv_id = parts.next().unwrap_or_default();
    (authserv_id, parts.collect())
}

/// The results this server recorded in a stored copy: its one `Authentication-Results:`
/// field, which must come right after `Return-Path:` and above our `Received:`.
fn our_results(stored: &[u8]) -> Vec<String> {
    let fields = fields(stored);
    let names: Vec<&str> = fields.iter().take(3).map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Return-Path", "Authentication-Results", "Received"],
        "{}",
        String::from_utf8_lossy(stored)
    );
    let ours = results_fields(stored)
        .iter()
        .filter(|value| parse_results(value).0.eq_ignore_ascii_case(HOSTNAME))
        .count();
    assert_eq!(ours, 1, "{}", String::from_utf8_lossy(stored));
    let (authserv_id, results) = parse_results(&fields[1].1);
    assert_eq!(authserv_id, HOSTNAME);
    results
}

/// The SPF result for the HELO name `relay.example.org`, which publishes nothing.
const HELO_NONE: &str = "spf=none smtp.helo=relay.example.org";

async fn a_signed_message_from_an_authenticated_domain_goes_to_inbox_with_its_results(
    backend: Backend,
) {
    let dns = hanoi(SPF_PASS, DMARC_REJECT)
        .txt("mail.hanoi.gov.vn", SPF_PASS)
        .start()
        .await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let body = signed(
        &message(HANOI_SENDER, RECIPIENT, "signed"),
        HANOI,
        &SignOptions::default(),
    );
    let mut smtp = mx_as(&p, "mail.hanoi.gov.vn").await;
    assert_accepted(&deliver(&mut smtp, HANOI_SENDER, &body).await);

    let (inbox, junk) = inbox_and_junk(&p).await;
    assert!(junk.is_empty());
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].ends_with(body.as_bytes()));
    // dkimsign always sets i=@domain, which mail-auth reports as header.i.
    assert_eq!(
        our_results(&inbox[0]),
        [
            "dkim=pass header.i=@hanoi.gov.vn header.s=s2026",
            "spf=pass smtp.helo=mail.hanoi.gov.vn",
            "spf=pass smtp.mailfrom=vanphong@hanoi.gov.vn",
            "arc=none smtp.remote-ip=127.0.0.1",
            "dmarc=pass header.from=hanoi.gov.vn policy.dmarc=reject",
        ]
    );
    assert_eq!(results_fields(&inbox[0]).len(), 1);
}

async fn a_message_failing_p_reject_is_refused_and_not_stored(backend: Backend) {
    let dns = hanoi(SPF_FAIL, DMARC_REJECT).start().await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let mut smtp = p.mx().await;
    let unsigned = message(HANOI_SENDER, RECIPIENT, "unsigned");
    let reply = deliver(&mut smtp, HANOI_SENDER, &unsigned).await;
    assert_eq!(reply.line(), HANOI_REJECTED);

    // A signature whose body changed on the way is no pass either (dkim=neutral).
    let body = signed(
        &message(HANOI_SENDER, RECIPIENT, "changed"),
        HANOI,
        &SignOptions::default(),
    );
    let changed = body.replace("Nội dung thư.", "Nội dung đã sửa.");
    assert_ne!(changed, body);
    let reply = deliver(&mut smtp, HANOI_SENDER, &changed).await;
    assert_eq!(reply.line(), HANOI_REJECTED);
    assert_nothing_stored(&p).await;

    // The session goes on: the same message unchanged passes on its signature.
    assert_accepted(&deliver(&mut smtp, HANOI_SENDER, &body).await);
    assert_eq!(p.inbox(NHUNG.0).await.len(), 1);
}

async fn p_quarantine_files_into_junk_and_p_none_into_inbox_both_marked_failed(backend: Backend) {
    let dns = hanoi(SPF_FAIL, "v=DMARC1; p=quarantine");
    let dns = publish(dns, "haiphong.gov.vn", SPF_FAIL, Some("v=DMARC1; p=none"))
        .start()
        .await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let mut smtp = p.mx().await;
    let body = message(HANOI_SENDER, RECIPIENT, "quarantine");
    assert_accepted(&deliver(&mut smtp, HANOI_SENDER, &body).await);
    let (inbox, junk) = inbox_and_junk(&p).await;
    assert!(inbox.is_empty());
    assert_eq!(junk.len(), 1);
    assert!(junk[0].ends_with(body.as_bytes()));
    assert_eq!(
        our_results(&junk[0]),
        [
            HELO_NONE,
            "spf=fail smtp.mailfrom=vanphong@hanoi.gov.vn",
            "arc=none smtp.remote-ip=127.0.0.1",
            "dmarc=fail header.from=hanoi.gov.vn policy.dmarc=quarantine",
        ]
    );

    let sender = "vanphong@haiphong.gov.vn";
    let body = message(sender, RECIPIENT, "none");
    assert_accepted(&deliver(&mut smtp, sender, &body).await);
    let (inbox, junk) = inbox_and_junk(&p).await;
    assert_eq!((inbox.len(), junk.len()), (1, 1));
    assert_eq!(
        our_results(&inbox[0]),
        [
            HELO_NONE,
            "spf=fail smtp.mailfrom=vanphong@haiphong.gov.vn",
            "arc=none smtp.remote-ip=127.0.0.1",
            "dmarc=fail header.from=haiphong.gov.vn policy.dmarc=none",
        ]
    );
}

async fn forged_results_claiming_this_host_are_removed_and_others_kept(backend: Backend) {
    let dns = hanoi(SPF_PASS, DMARC_REJECT).start().await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let theirs =
        "Authentication-Results: mx.hanoi.gov.vn;\r\n\tspf=pass smtp.mailfrom=hanoi.gov.vn\r\n";
    let body = format!(
        "Authentication-Results: mail.vinhphuc.gov.vn; dkim=pass dmarc=pass\r\n{theirs}\
Authentication-Results: (forged) MAIL.VINHPHUC.GOV.VN;\r\n\tdkim=pass\r\n{}",
        message(HANOI_SENDER, RECIPIENT, "forged")
    );
    let mut smtp = p.mx().await;
    assert_accepted(&deliver(&mut smtp, HANOI_SENDER, &body).await);

    let inbox = p.inbox(NHUNG.0).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        our_results(&inbox[0]),
        [
            HELO_NONE,
            "spf=pass smtp.mailfrom=vanphong@hanoi.gov.vn",
            "arc=none smtp.remote-ip=127.0.0.1",
            "dmarc=pass header.from=hanoi.gov.vn policy.dmarc=reject",
        ]
    );
    let stored = String::from_utf8_lossy(&inbox[0]);
    assert_eq!(results_fields(&inbox[0]).len(), 2, "{stored}");
    assert!(
        stored.ends_with(&format!(
            "{theirs}{}",
            message(HANOI_SENDER, RECIPIENT, "forged")
        )),
        "{stored}"
    );
}

/// Sends one message per `(sender, why)` and expects each deferred, nothing stored.
async fn assert_each_deferred(p: &Province, senders: &[(&str, &str)]) {
    let mut smtp = p.mx().await;
    for (sender, why) in senders {
        let reply = deliver(&mut smtp, sender, &message(sender, RECIPIENT, "dns")).await;
        assert_eq!(reply.line(), DEFERRED, "{why}");
    }
    assert_nothing_stored(p).await;
}

async fn a_dns_timeout_defers_the_message(backend: Backend) {
    let dns = hanoi(SPF_FAIL, DMARC_REJECT).silent(&format!("_dmarc.{HANOI}"));
    let dns = publish(dns, "haiduong.gov.vn", SPF_PASS, Some(DMARC_REJECT))
        .silent("haiduong.gov.vn")
        .start()
        .await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    assert_each_deferred(
        &p,
        &[
            (HANOI_SENDER, "the DMARC record timed out"),
            ("vanphong@haiduong.gov.vn", "the SPF record timed out"),
        ],
    )
    .await;
}

async fn a_dns_servfail_defers_the_message(backend: Backend) {
    let dns = hanoi(SPF_FAIL, DMARC_REJECT).servfail(&format!("_dmarc.{HANOI}"));
    let dns = publish(dns, "haiduong.gov.vn", SPF_PASS, Some(DMARC_REJECT))
        .servfail("haiduong.gov.vn")
        .start()
        .await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    assert_each_deferred(
        &p,
        &[
            (HANOI_SENDER, "the DMARC record got SERVFAIL"),
            ("vanphong@haiduong.gov.vn", "the SPF record got SERVFAIL"),
        ],
    )
    .await;
}

async fn a_forged_sender_in_a_served_domain_is_refused(backend: Backend) {
    // vinhphuc.gov.vn publishes nothing here, so nothing from outside can pass for it.
    let dns = hanoi(SPF_PASS, DMARC_REJECT).start().await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let forged = |domain: &str| {
        format!("550 5.7.1 Mail from {domain} must come from its own servers; this message is not authenticated as theirs")
    };
    let mut smtp = p.mx().await;
    for (mail_from, from, refused) in [
        (
            "giamdoc@vinhphuc.gov.vn",
            "giamdoc@vinhphuc.gov.vn",
            "vinhphuc.gov.vn",
        ),
        // The envelope passes SPF for hanoi.gov.vn; the From: the official sees does not.
        (HANOI_SENDER, "giamdoc@vinhphuc.gov.vn", "vinhphuc.gov.vn"),
        (
            "vanthu@snv.vinhphuc.gov.vn",
            "vanthu@snv.vinhphuc.gov.vn",
            "snv.vinhphuc.gov.vn",
        ),
    ] {
        let reply = deliver(&mut smtp, mail_from, &message(from, RECIPIENT, "phishing")).await;
        assert_eq!(
            reply.line(),
            forged(refused),
            "MAIL FROM {mail_from}, From: {from}"
        );
    }
    assert_nothing_stored(&p).await;
}

/// quangninh.gov.vn fails SPF outright and publishes no DMARC record; the message sent
/// from it and the reply it got.
async fn spf_fail_without_dmarc(
    backend: Backend,
    action: Option<SpfFailAction>,
) -> Option<(Province, String, SmtpReply)> {
    let dns = DnsServer::builder()
        .txt("quangninh.gov.vn", SPF_FAIL)
        .start()
        .await;
    let p = start(backend, &dns, |config| {
        if let Some(action) = action {
            config.inbound.spf_fail = action;
        }
    })
    .await?;
    let sender = "vanphong@quangninh.gov.vn";
    let body = message(sender, RECIPIENT, "spf");
    let mut smtp = p.mx().await;
    let reply = deliver(&mut smtp, sender, &body).await;
    Some((p, body, reply))
}

const QUANGNINH_RESULTS: [&str; 4] = [
    HELO_NONE,
    "spf=fail smtp.mailfrom=vanphong@quangninh.gov.vn",
    "arc=none smtp.remote-ip=127.0.0.1",
    "dmarc=none header.from=quangninh.gov.vn policy.dmarc=none",
];

async fn spf_fail_without_dmarc_goes_to_junk_by_default(backend: Backend) {
    let Some((p, body, reply)) = spf_fail_without_dmarc(backend, None).await else {
        return;
    };
    assert_accepted(&reply);
    let (inbox, junk) = inbox_and_junk(&p).await;
    assert!(inbox.is_empty());
    assert_eq!(junk.len(), 1);
    assert!(junk[0].ends_with(body.as_bytes()));
    assert_eq!(our_results(&junk[0]), QUANGNINH_RESULTS);
}

async fn spf_fail_without_dmarc_is_refused_when_configured(backend: Backend) {
    let Some((p, _, reply)) = spf_fail_without_dmarc(backend, Some(SpfFailAction::Reject)).await
    else {
        return;
    };
    assert_eq!(
        reply.line(),
        "550 5.7.23 The SPF record of quangninh.gov.vn does not allow this host to send its mail"
    );
    assert_nothing_stored(&p).await;
}

async fn spf_fail_without_dmarc_goes_to_inbox_when_configured(backend: Backend) {
    let Some((p, _, reply)) = spf_fail_without_dmarc(backend, Some(SpfFailAction::Inbox)).await
    else {
        return;
    };
    assert_accepted(&reply);
    let (inbox, junk) = inbox_and_junk(&p).await;
    assert!(junk.is_empty());
    assert_eq!(inbox.len(), 1);
    assert_eq!(our_results(&inbox[0]), QUANGNINH_RESULTS);
}

async fn report_mode_delivers_with_results_and_off_mode_asks_nothing(backend: Backend) {
    let body = message(HANOI_SENDER, RECIPIENT, "report");
    let dns = hanoi(SPF_FAIL, DMARC_REJECT).start().await;
    let Some(p) = start(backend, &dns, |config| {
        config.inbound.authentication = AuthenticationMode::Report;
    })
    .await
    else {
        return;
    };
    assert_accepted(&deliver(&mut p.mx().await, HANOI_SENDER, &body).await);
    let (inbox, junk) = inbox_and_junk(&p).await;
    assert!(junk.is_empty());
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        our_results(&inbox[0]),
        [
            HELO_NONE,
            "spf=fail smtp.mailfrom=vanphong@hanoi.gov.vn",
            "arc=none smtp.remote-ip=127.0.0.1",
            "dmarc=fail header.from=hanoi.gov.vn policy.dmarc=reject",
        ]
    );
    drop(p);

    let dns = hanoi(SPF_FAIL, DMARC_REJECT).start().await;
    let Some(p) = start(backend, &dns, |config| {
        config.inbound.authentication = AuthenticationMode::Off;
    })
    .await
    else {
        return;
    };
    assert_accepted(&deliver(&mut p.mx().await, HANOI_SENDER, &body).await);
    let inbox = p.inbox(NHUNG.0).await;
    assert_eq!(inbox.len(), 1);
    assert!(results_fields(&inbox[0]).is_empty());
    assert!(inbox[0].ends_with(body.as_bytes()));
    assert_eq!(dns.queries(), []);
}

async fn relaxed_alignment_follows_the_public_suffix_list(backend: Backend) {
    // Only a DKIM signature can pass: SPF fails for both domains.
    let dns = hanoi(SPF_FAIL, DMARC_REJECT).txt(
        &format!("{SELECTOR}._domainkey.mail.{HANOI}"),
        KEY.txt_record(),
    );
    let dns = publish(
        dns,
        "danang.gov.vn",
        SPF_FAIL,
        Some("v=DMARC1; p=reject; adkim=s"),
    )
    .txt(
        &format!("{SELECTOR}._domainkey.mail.danang.gov.vn"),
        KEY.txt_record(),
    )
    .txt(&format!("{SELECTOR}._domainkey.gov.vn"), KEY.txt_record())
    .start()
    .await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let mut smtp = p.mx().await;
    let options = SignOptions::default();

    // mail.hanoi.gov.vn and hanoi.gov.vn share the organizational domain hanoi.gov.vn.
    let body = signed(
        &message(HANOI_SENDER, RECIPIENT, "relaxed"),
        "mail.hanoi.gov.vn",
        &options,
    );
    assert_accepted(&deliver(&mut smtp, HANOI_SENDER, &body).await);
    let inbox = p.inbox(NHUNG.0).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        our_results(&inbox[0]),
        [
            "dkim=pass header.i=@mail.hanoi.gov.vn header.s=s2026",
            HELO_NONE,
            "spf=fail smtp.mailfrom=vanphong@hanoi.gov.vn",
            "arc=none smtp.remote-ip=127.0.0.1",
            "dmarc=pass header.from=hanoi.gov.vn policy.dmarc=reject",
        ]
    );

    // adkim=s: the signing domain must be the From: domain itself.
    let sender = "vanphong@danang.gov.vn";
    let body = signed(
        &message(sender, RECIPIENT, "strict"),
        "mail.danang.gov.vn",
        &options,
    );
    assert_eq!(
        deliver(&mut smtp, sender, &body).await.line(),
        "550 5.7.1 Message rejected by the DMARC policy of danang.gov.vn: it is not authenticated as theirs"
    );

    // gov.vn is a public suffix, not hanoi.gov.vn's organizational domain: a valid
    // signature by d=gov.vn does not align with it.
    let body = signed(
        &message(HANOI_SENDER, RECIPIENT, "suffix"),
        "gov.vn",
        &options,
    );
    assert_eq!(
        deliver(&mut smtp, HANOI_SENDER, &body).await.line(),
        HANOI_REJECTED
    );
    assert_eq!(inbox_and_junk(&p).await.0.len(), 1);
}

/// How many `DKIM-Signature:` fields the hostile message carries.
const SIGNATURES: usize = 200;
/// `[inbound] max_dkim_signatures` by default.
const MAX_VERIFIED: usize = 10;

/// `valid` (a signed message) with `decoys` copies of its signature on top, each under a
/// selector that does not exist (`x000`, `x001`, …).
fn with_decoys(valid: &str, unsigned_len: usize, decoys: usize) -> String {
    let signature = &valid[..valid.len() - unsigned_len];
    let selector = format!(" s={SELECTOR};");
    assert_eq!(signature.matches(&selector).count(), 1, "{signature}");
    let mut body: String = (0..decoys)
        .map(|i| signature.replace(&selector, &format!(" s=x{i:03};")))
        .collect();
    body.push_str(valid);
    body
}

/// How many DKIM results a stored copy records, and those that are a pass; DMARC passes on
/// SPF whatever they are.
fn dkim_results(stored: &[u8]) -> (usize, Vec<String>) {
    let results = our_results(stored);
    let dkim: Vec<String> = results
        .iter()
        .filter(|r| r.starts_with("dkim="))
        .cloned()
        .collect();
    assert_eq!(
        results.last().unwrap(),
        "dmarc=pass header.from=hanoi.gov.vn policy.dmarc=reject"
    );
    (
        dkim.len(),
        dkim.into_iter()
            .filter(|r| r.starts_with("dkim=pass"))
            .collect(),
    )
}

async fn only_the_first_signatures_are_verified(backend: Backend) {
    let dns = hanoi(SPF_PASS, DMARC_REJECT).start().await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let original = message(HANOI_SENDER, RECIPIENT, "many-signatures");
    let valid = signed(&original, HANOI, &SignOptions::default());
    let mut smtp = p.mx().await;

    let hostile = with_decoys(&valid, original.len(), SIGNATURES - 1);
    let started = Instant::now();
    let reply = deliver(&mut smtp, HANOI_SENDER, &hostile).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // SPF passes and aligns, so the message needs no signature.
    assert_accepted(&reply);
    let asked: BTreeSet<String> = dns
        .queries()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.contains("._domainkey."))
        .collect();
    let first: BTreeSet<String> = (0..MAX_VERIFIED)
        .map(|i| format!("x{i:03}._domainkey.{HANOI}"))
        .collect();
    assert_eq!(asked, first);

    // Just under and just over the limit: the valid signature is the 10th, then the 11th.
    for decoys in [MAX_VERIFIED - 1, MAX_VERIFIED] {
        let body = with_decoys(&valid, original.len(), decoys);
        assert_accepted(&deliver(&mut smtp, HANOI_SENDER, &body).await);
    }
    let inbox = p.inbox(NHUNG.0).await;
    assert_eq!(inbox.len(), 3);
    let pass = "dkim=pass header.i=@hanoi.gov.vn header.s=s2026".to_string();
    assert_eq!(dkim_results(&inbox[0]), (MAX_VERIFIED, vec![]));
    assert_eq!(dkim_results(&inbox[1]), (MAX_VERIFIED, vec![pass]));
    assert_eq!(dkim_results(&inbox[2]), (MAX_VERIFIED, vec![]));
}

/// TXT records for a chain of `includes` SPF `include:`s under `zone`, from `l0.<zone>` to
/// `l<includes>.<zone>`, whose record allows 127.0.0.1.
fn spf_chain(mut dns: DnsBuilder, zone: &str, includes: usize) -> DnsBuilder {
    for i in 0..includes {
        dns = dns.txt(
            &format!("l{i}.{zone}"),
            &format!("v=spf1 include:l{}.{zone} -all", i + 1),
        );
    }
    dns.txt(&format!("l{includes}.{zone}"), SPF_PASS)
}

async fn spf_lookups_past_the_limit_are_a_permerror(backend: Backend) {
    let dns = DnsServer::builder().txt("loop.example.org", "v=spf1 include:loop.example.org -all");
    // RFC 7208 §4.6.4: at most 10 mechanisms that ask DNS.
    let dns = spf_chain(dns, "under.example.org", 10);
    let dns = spf_chain(dns, "over.example.org", 11).start().await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let mut smtp = p.mx().await;
    for (sender, spf) in [
        ("bot@loop.example.org", "permerror"),
        ("bot@l0.under.example.org", "pass"),
        ("bot@l0.over.example.org", "permerror"),
    ] {
        let started = Instant::now();
        let reply = deliver(&mut smtp, sender, &message(sender, RECIPIENT, "spf")).await;
        assert!(started.elapsed() < Duration::from_secs(5), "{sender}");
        assert_accepted(&reply);
        let inbox = p.inbox(NHUNG.0).await;
        let domain = sender.split_once('@').unwrap().1;
        assert_eq!(
            our_results(inbox.last().unwrap()),
            [
                HELO_NONE.to_string(),
                format!("spf={spf} smtp.mailfrom={sender}"),
                "arc=none smtp.remote-ip=127.0.0.1".to_string(),
                format!("dmarc=none header.from={domain} policy.dmarc=none"),
            ],
            "{sender}"
        );
    }
    assert_eq!(p.inbox(NHUNG.0).await.len(), 3);
}

async fn an_rsa_sha1_signature_is_no_pass(backend: Backend) {
    let dns = hanoi(SPF_FAIL, DMARC_REJECT).start().await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let body = message(HANOI_SENDER, RECIPIENT, "sha1");
    let sha1 = SignOptions {
        algorithm: Some(SigningAlgorithm::RsaSha1),
        ..SignOptions::default()
    };
    let mut smtp = p.mx().await;
    let reply = deliver(&mut smtp, HANOI_SENDER, &signed(&body, HANOI, &sha1)).await;
    assert_eq!(reply.line(), HANOI_REJECTED);
    assert_nothing_stored(&p).await;
    // The same key with rsa-sha256 passes: only the algorithm was refused.
    let sha256 = signed(&body, HANOI, &SignOptions::default());
    assert_accepted(&deliver(&mut smtp, HANOI_SENDER, &sha256).await);
}

async fn bdat_gets_the_same_check(backend: Backend) {
    let dns = hanoi(SPF_FAIL, DMARC_REJECT).start().await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let mut smtp = p.mx().await;
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{HANOI_SENDER}>"))
            .await
            .code,
        250
    );
    assert_eq!(
        smtp.command(&format!("RCPT TO:<{RECIPIENT}>")).await.code,
        250
    );
    let body = message(HANOI_SENDER, RECIPIENT, "bdat");
    let (first, last) = body.as_bytes().split_at(body.len() / 2);
    for (chunk, is_last, expected) in [
        (
            first,
            false,
            format!("250 2.0.0 {} octets received", first.len()),
        ),
        (last, true, HANOI_REJECTED.to_string()),
    ] {
        let mut bytes = format!(
            "BDAT {}{}\r\n",
            chunk.len(),
            if is_last { " LAST" } else { "" }
        )
        .into_bytes();
        bytes.extend_from_slice(chunk);
        smtp.send(&bytes).await;
        assert_eq!(smtp.reply().await.unwrap().line(), expected);
    }
    assert_nothing_stored(&p).await;
}

async fn submission_is_not_checked(backend: Backend) {
    let dns = DnsServer::builder().start().await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let from = "annv@vinhphuc.gov.vn";
    let body = message(from, RECIPIENT, "submitted");
    let mut smtp = p.submission_as(ANNV).await;
    let replies = send(&mut smtp, from, &[RECIPIENT], &body).await;
    assert!(
        replies
            .last()
            .unwrap()
            .line()
            .starts_with("250 2.0.0 Ok: queued as "),
        "{replies:?}"
    );
    let inbox = p.inbox(NHUNG.0).await;
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].ends_with(body.as_bytes()));
    assert!(results_fields(&inbox[0]).is_empty());
    assert_eq!(dns.queries(), []);
}

/// A mailing list that forwards hanoi.gov.vn's signed message with a footer added (which
/// breaks the DKIM signature) and seals what it saw with ARC. The seal is recorded as
/// `arc=pass`; a message changed after sealing fails it. ARC does not override DMARC here:
/// hanoi.gov.vn's `p=none` decides the folder.
async fn a_forward_sealed_with_arc_is_recorded_and_a_broken_seal_fails(backend: Backend) {
    const LIST: &str = "lists.example.net";
    const LIST_SENDER: &str = "bounces@lists.example.net";
    let dns = publish(hanoi(SPF_FAIL, "v=DMARC1; p=none"), LIST, SPF_PASS, None)
        .start()
        .await;
    let Some(p) = start(backend, &dns, |_| {}).await else {
        return;
    };
    let original = signed(
        &message(HANOI_SENDER, RECIPIENT, "forwarded"),
        HANOI,
        &SignOptions::default(),
    );
    let forwarded = format!(
        "Authentication-Results: {LIST}; dkim=pass header.d={HANOI}; spf=pass smtp.mailfrom={HANOI}\r\n\
         {original}-- \r\nThe province's mailing list\r\n"
    );
    let sealed = arc_seal(forwarded.as_bytes(), LIST, SELECTOR, &KEY, LIST);
    let sealed = String::from_utf8(sealed).unwrap();
    let tampered = sealed.replacen("Subject: forwarded", "Subject: changed after sealing", 1);
    assert_ne!(tampered, sealed);

    let mut smtp = mx_as(&p, "mail.lists.example.net").await;
    assert_accepted(&deliver(&mut smtp, LIST_SENDER, &sealed).await);
    assert_accepted(&deliver(&mut smtp, LIST_SENDER, &tampered).await);

    let (inbox, junk) = inbox_and_junk(&p).await;
    assert!(junk.is_empty());
    assert_eq!(inbox.len(), 2);
    let arc_of = |stored: &[u8]| -> Vec<String> {
        our_results(stored)
            .into_iter()
            .filter(|r| r.starts_with("arc=") || r.starts_with("dmarc="))
            .collect()
    };
    assert_eq!(
        arc_of(&inbox[0]),
        [
            "arc=pass smtp.remote-ip=127.0.0.1",
            "dmarc=fail header.from=hanoi.gov.vn policy.dmarc=none",
        ]
    );
    assert_eq!(arc_of(&inbox[1])[0], "arc=fail smtp.remote-ip=127.0.0.1");
}
