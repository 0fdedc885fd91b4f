//! Content filters and blocklists as senders and officials see them: the real rspamd and
//! clamd the test kit starts privately on loopback, a stand-in rspamd for the verdicts real
//! rspamd rarely gives a test message (and for an rspamd that answers garbage or nothing),
//! and the test kit's DNS server as a blocklist. Each verdict is checked twice: the reply the
//! sender gets, and what is stored, where, and with which headers. Learning is checked on
//! rspamd's own counters after MOVEs over IMAP.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use congvu::config::Config;
use congvu::filter::FailPolicy;
use congvu::mailstore::MailboxRole;
use congvu_tests::clamav::{
    letter_with_attachment as with_attachment, Clamd, EICAR, EICAR_SIGNATURE,
};
use congvu_tests::dns::DnsServer;
use congvu_tests::rspamd::Rspamd;
use congvu_tests::smtp::SmtpReply;
use congvu_tests::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::fixture::{send, Province, ANNV, NHUNG, VAN};
use super::smtp_tests;

smtp_tests!(
    gtube_from_outside_is_refused_and_nothing_stored,
    a_clean_vietnamese_letter_reaches_inbox_with_rspamds_verdict,
    add_header_and_rewrite_subject_file_into_junk_with_rspamds_headers,
    soft_reject_and_greylist_defer_the_message,
    a_message_in_bdat_chunks_gets_the_same_verdicts,
    rspamd_judges_submissions_knowing_the_official,
    an_rspamd_answering_garbage_or_nothing_is_skipped_by_default,
    an_rspamd_answering_garbage_or_nothing_defers_under_tempfail,
    eicar_is_refused_on_the_mx_and_clean_mail_passes,
    eicar_is_refused_on_submission_and_nothing_is_queued,
    clamd_down_defers_by_default,
    clamd_down_delivers_under_accept,
    a_listed_client_is_refused_at_mail_from_asking_once_per_connection,
    an_ipv4_client_of_a_dual_stack_listener_is_looked_up_as_ipv4,
    the_lists_error_codes_and_a_silent_list_list_nobody,
    submission_is_never_checked_against_blocklists,
    moving_into_junk_teaches_spam_and_out_of_it_ham,
    moving_to_trash_teaches_nothing,
    with_learning_off_moving_into_junk_teaches_nothing,
);

/// The outside sender of every message on the MX.
const SENDER: &str = "vanphong@hanoi.gov.vn";
/// The official who receives them.
const RECIPIENT: &str = "nhunglth@vinhphuc.gov.vn";
/// The GTUBE line: every spam filter's test pattern, rejected by rspamd's default rules.
const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
/// rspamd's verdict on spam.
const SPAM: &str = "550 5.7.1 Message refused as spam";
/// rspamd's advice to come back later.
const LATER: &str = "451 4.7.1 Try again later";
/// An engine could not be asked and its policy is to defer.
const CANNOT_SCAN: &str = "451 4.7.1 Cannot scan the message now; try again later";
/// How long rspamd may take to count a lesson taught in the background.
const LESSON_WITHIN: Duration = Duration::from_secs(10);

/// A well-formed letter from [`SENDER`] to [`RECIPIENT`] with `body` as its UTF-8 text.
fn letter(message_id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: =?UTF-8?B?VsSDbiBwaMOybmcgVUJORCBIw6AgTuG7mWk=?= <{SENDER}>\r\n\
         To: =?UTF-8?B?TMOqIFRo4buLIEjhu5NuZyBOaHVuZw==?= <{RECIPIENT}>\r\n\
         Subject: {subject}\r\n\
         Date: Fri, 27 Nov 2026 08:00:00 +0700\r\n\
         Message-ID: <{message_id}@hanoi.gov.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {body}\r\n"
    )
}

/// A letter of about forty Vietnamese words: enough tokens for rspamd's Bayes to learn.
fn meeting_notice(message_id: &str) -> String {
    letter(
        message_id,
        "=?UTF-8?B?TOG7i2NoIGjhu41wIGdpYW8gYmFuIHR14bqnbg==?=",
        "Kính gửi các đồng chí,\r\n\r\n\
         Văn phòng UBND thành phố thông báo lịch họp giao ban tuần vào 8 giờ sáng thứ Hai \
         tại phòng họp tầng 3. Đề nghị các phòng chuẩn bị báo cáo kết quả công tác tuần qua \
         và kế hoạch tuần tới, gửi về Văn phòng trước 16 giờ chiều thứ Sáu.\r\n\r\n\
         Trân trọng.",
    )
}

/// Sends `body` over a new MX connection from [`SENDER`] to [`RECIPIENT`]; returns the
/// answer to the message, after checking that the envelope was accepted.
async fn deliver(p: &Province, body: &str) -> SmtpReply {
    let mut smtp = p.mx().await;
    let mut replies = send(&mut smtp, SENDER, &[RECIPIENT], body).await;
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert_eq!(codes[..3], [250, 250, 354], "{replies:?}");
    replies.pop().unwrap()
}

/// The id in `250 2.0.0 Ok: queued as ID`; fails on any other reply.
fn queued_as(reply: &SmtpReply) -> String {
    let id = reply
        .line()
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .map(str::to_owned);
    id.unwrap_or_else(|| panic!("not accepted: {reply:?}"))
}

/// The copies in the recipient's INBOX and Junk.
async fn inbox_and_junk(p: &Province) -> (Vec<String>, Vec<String>) {
    let text = |bodies: Vec<Vec<u8>>| -> Vec<String> {
        bodies
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect()
    };
    (
        text(p.inbox(NHUNG.0).await),
        text(p.mailbox(NHUNG.0, MailboxRole::Junk).await),
    )
}

async fn assert_nothing_stored(p: &Province) {
    let (inbox, junk) = inbox_and_junk(p).await;
    assert!(inbox.is_empty() && junk.is_empty(), "{inbox:?} {junk:?}");
}

/// The one copy in INBOX, Junk being empty.
async fn only_in_inbox(p: &Province) -> String {
    let (mut inbox, junk) = inbox_and_junk(p).await;
    assert!(junk.is_empty(), "{junk:?}");
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    inbox.remove(0)
}

/// Nothing in the outbound queue.
async fn assert_nothing_queued(p: &Province) {
    let services = p.server.services();
    let mut conn = services.store.read().await.unwrap();
    let queued = conn.queue_entries().await.unwrap();
    assert!(queued.is_empty(), "{queued:?}");
}

/// The province with the real rspamd `daemon` scoring every message; `configure` may
/// change more.
async fn with_rspamd(
    backend: Backend,
    daemon: &Rspamd,
    configure: impl FnOnce(&mut Config),
) -> Province {
    let (url, controller) = (daemon.url(), daemon.controller_url());
    let started = Province::start_with(backend, move |config| {
        config.filter.rspamd.url = Some(url);
        config.filter.rspamd.controller_url = Some(controller);
        config.filter.rspamd.timeout_seconds = 30;
        configure(config);
    });
    started.await.expect("TestDb::new is always Some")
}

async fn gtube_from_outside_is_refused_and_nothing_stored(backend: Backend) {
    let daemon = Rspamd::start().await;
    let p = with_rspamd(backend, &daemon, |_| {}).await;
    let reply = deliver(&p, &letter("gtube", "Test", GTUBE)).await;
    assert_eq!(reply.line(), SPAM, "{}", daemon.log());
    assert_nothing_stored(&p).await;
}

async fn a_clean_vietnamese_letter_reaches_inbox_with_rspamds_verdict(backend: Backend) {
    let daemon = Rspamd::start().await;
    let p = with_rspamd(backend, &daemon, |_| {}).await;
    let body = meeting_notice("hop-giao-ban");
    queued_as(&deliver(&p, &body).await);
    let stored = only_in_inbox(&p).await;
    // rspamd's verdict sits on top, under Return-Path and above our Received.
    let verdict = stored
        .strip_prefix(&format!(
            "Return-Path: <{SENDER}>\r\nX-Spam-Status: No, score="
        ))
        .unwrap_or_else(|| panic!("{stored}"));
    let (_, rest) = verdict
        .split_once("\r\nX-Spamd-Result: default: False [")
        .unwrap();
    assert!(
        rest.contains("\r\nReceived: from relay.example.org "),
        "{stored}"
    );
    assert!(!stored.contains("\r\nX-Spam: "), "{stored}");
    assert!(stored.ends_with(&body), "{stored}");
}

/// A `/checkv2` answer with `action`, a score under the reject threshold and two symbols.
fn rspamd_answer(action: &str, extra: &str) -> String {
    format!(
        r#"{{"is_skipped":false,"score":7.5,"required_score":15,"action":"{action}",{extra}"symbols":{{"BAYES_SPAM":{{"name":"BAYES_SPAM","score":5.1,"metric_score":5.1}},"MISSING_MID":{{"name":"MISSING_MID","score":2.4,"metric_score":2.4}}}},"messages":{{}},"message-id":"x"}}"#
    )
}

/// The top of a message rspamd judged [`rspamd_answer`] spam, after `Return-Path:`:
/// rspamd's verdict made into headers, then our `Received:`.
const SPAM_HEADERS: &str = "X-Spam: Yes\r\n\
    X-Spam-Status: Yes, score=7.50 required=15.00\r\n\
    X-Spamd-Result: default: True [7.50 / 15.00];\r\n\
    \tBAYES_SPAM(5.10);\r\n\
    \tMISSING_MID(2.40)\r\n\
    Received: from relay.example.org ";

/// The province with `fake` as its rspamd; `configure` may change more.
async fn with_fake_rspamd(
    backend: Backend,
    fake: &FakeRspamd,
    configure: impl FnOnce(&mut Config),
) -> Province {
    let url = fake.url();
    let started = Province::start_with(backend, move |config| {
        config.filter.rspamd.url = Some(url);
        config.filter.rspamd.timeout_seconds = 1;
        configure(config);
    });
    started.await.expect("TestDb::new is always Some")
}

async fn add_header_and_rewrite_subject_file_into_junk_with_rspamds_headers(backend: Backend) {
    let fake = FakeRspamd::start(Stand::Verdict(rspamd_answer("add header", ""))).await;
    let p = with_fake_rspamd(backend, &fake, |_| {}).await;
    let first = meeting_notice("them-tieu-de");
    let id = queued_as(&deliver(&p, &first).await);
    // What rspamd was told of the message.
    let request = fake.requests().pop().unwrap();
    assert_eq!(request.line, "POST /checkv2 HTTP/1.1");
    for (name, value) in [
        ("ip", "127.0.0.1"),
        ("helo", "relay.example.org"),
        ("from", SENDER),
        ("rcpt", RECIPIENT),
        ("queue-id", id.as_str()),
        ("mta-name", "mail.vinhphuc.gov.vn"),
    ] {
        assert_eq!(request.all(name), [value], "{name}: {request:?}");
    }
    assert!(request.all("user").is_empty(), "{request:?}");
    assert_eq!(request.body, first.as_bytes());

    let rewrite = r#""subject":"***SPAM*** Lich hop","#;
    fake.answer(Stand::Verdict(rspamd_answer("rewrite subject", rewrite)));
    let second = meeting_notice("viet-lai-tieu-de");
    queued_as(&deliver(&p, &second).await);

    // Both in Junk, marked; the Subject stays as sent (the folder and headers say spam).
    let (inbox, junk) = inbox_and_junk(&p).await;
    assert!(inbox.is_empty(), "{inbox:?}");
    assert_eq!(junk.len(), 2);
    for (stored, body) in junk.iter().zip([&first, &second]) {
        let top = format!("Return-Path: <{SENDER}>\r\n{SPAM_HEADERS}");
        assert!(stored.starts_with(&top), "{stored}");
        assert!(stored.ends_with(body.as_str()), "{stored}");
    }
}

async fn soft_reject_and_greylist_defer_the_message(backend: Backend) {
    let fake = FakeRspamd::start(Stand::Verdict(rspamd_answer("soft reject", ""))).await;
    let p = with_fake_rspamd(backend, &fake, |_| {}).await;
    assert_eq!(
        deliver(&p, &meeting_notice("tu-choi-mem")).await.line(),
        LATER
    );
    fake.answer(Stand::Verdict(rspamd_answer("greylist", "")));
    assert_eq!(
        deliver(&p, &meeting_notice("danh-sach-xam")).await.line(),
        LATER
    );
    assert_eq!(fake.requests().len(), 2);
    assert_nothing_stored(&p).await;
}

/// Sends `body` in two BDAT chunks over an open MX session from [`SENDER`] to
/// [`RECIPIENT`]; returns the reply to the last chunk.
async fn deliver_in_chunks(smtp: &mut congvu_tests::smtp::RawSmtp, body: &str) -> SmtpReply {
    let envelope = [
        format!("MAIL FROM:<{SENDER}>"),
        format!("RCPT TO:<{RECIPIENT}>"),
    ];
    for command in envelope {
        assert_eq!(smtp.command(&command).await.code, 250, "{command}");
    }
    let (first, last) = body.as_bytes().split_at(body.len() / 2);
    let bdat = |chunk: &[u8], tail: &str| {
        let mut bytes = format!("BDAT {}{tail}\r\n", chunk.len()).into_bytes();
        bytes.extend_from_slice(chunk);
        bytes
    };
    smtp.send(&bdat(first, "")).await;
    let reply = smtp.reply().await.expect("closed after BDAT");
    assert_eq!(reply.code, 250, "{reply:?}");
    smtp.send(&bdat(last, " LAST")).await;
    smtp.reply().await.expect("closed after BDAT LAST")
}

async fn a_message_in_bdat_chunks_gets_the_same_verdicts(backend: Backend) {
    let fake = FakeRspamd::start(Stand::Verdict(rspamd_answer("add header", ""))).await;
    let p = with_fake_rspamd(backend, &fake, |_| {}).await;
    let mut smtp = p.mx().await;
    let body = meeting_notice("tung-phan");
    queued_as(&deliver_in_chunks(&mut smtp, &body).await);
    assert_eq!(fake.requests().pop().unwrap().body, body.as_bytes());
    fake.answer(Stand::Verdict(rspamd_answer("reject", "")));
    let refused = deliver_in_chunks(&mut smtp, &meeting_notice("tung-phan-2")).await;
    assert_eq!(refused.line(), SPAM);

    let (inbox, junk) = inbox_and_junk(&p).await;
    assert!(inbox.is_empty(), "{inbox:?}");
    assert_eq!(junk.len(), 1);
    let top = format!("Return-Path: <{SENDER}>\r\n{SPAM_HEADERS}");
    assert!(junk[0].starts_with(&top), "{}", junk[0]);
    assert!(junk[0].ends_with(&body), "{}", junk[0]);
}

async fn rspamd_judges_submissions_knowing_the_official(backend: Backend) {
    let fake = FakeRspamd::start(Stand::Verdict(rspamd_answer("reject", ""))).await;
    let p = with_fake_rspamd(backend, &fake, |_| {}).await;
    let from = "annv@vinhphuc.gov.vn";
    let to = "vanlt@vinhphuc.gov.vn";
    let mut smtp = p.submission_as(ANNV).await;
    let body = super::fixture::message(from, to, "gui-tu-trong");
    let replies = send(&mut smtp, from, &[to], &body).await;
    assert_eq!(replies.last().unwrap().line(), SPAM, "{replies:?}");
    let request = fake.requests().pop().unwrap();
    assert_eq!(request.all("user"), [ANNV.0], "{request:?}");
    assert_eq!(request.all("helo"), ["laptop"], "{request:?}");
    assert!(p.inbox(VAN.0).await.is_empty());
    assert_nothing_queued(&p).await;
}

/// Two messages: the first while rspamd answers garbage, the second while it says nothing
/// until the one-second timeout. Returns the two replies.
async fn deliver_past_a_broken_rspamd(p: &Province, fake: &FakeRspamd) -> [SmtpReply; 2] {
    fake.answer(Stand::Garbage);
    let garbage = deliver(p, &meeting_notice("rac")).await;
    fake.answer(Stand::Silent);
    let started = Instant::now();
    let silent = deliver(p, &meeting_notice("im-lang")).await;
    assert!(started.elapsed() < Duration::from_secs(10), "{silent:?}");
    assert_eq!(fake.requests().len(), 2);
    [garbage, silent]
}

async fn an_rspamd_answering_garbage_or_nothing_is_skipped_by_default(backend: Backend) {
    let fake = FakeRspamd::start(Stand::Garbage).await;
    let p = with_fake_rspamd(backend, &fake, |_| {}).await;
    for reply in deliver_past_a_broken_rspamd(&p, &fake).await {
        queued_as(&reply);
    }
    // Delivered as if clean: INBOX, and no verdict claimed on them.
    let (inbox, junk) = inbox_and_junk(&p).await;
    assert!(junk.is_empty(), "{junk:?}");
    assert_eq!(inbox.len(), 2);
    for stored in inbox {
        assert!(!stored.contains("X-Spam"), "{stored}");
    }
}

async fn an_rspamd_answering_garbage_or_nothing_defers_under_tempfail(backend: Backend) {
    let fake = FakeRspamd::start(Stand::Garbage).await;
    let p = with_fake_rspamd(backend, &fake, |config| {
        config.filter.rspamd.fail = FailPolicy::Tempfail;
    })
    .await;
    for reply in deliver_past_a_broken_rspamd(&p, &fake).await {
        assert_eq!(reply.line(), CANNOT_SCAN);
    }
    assert_nothing_stored(&p).await;
}

/// The province with `address` as its clamd; `configure` may change more.
async fn with_clamd(
    backend: Backend,
    address: String,
    configure: impl FnOnce(&mut Config),
) -> Province {
    let started = Province::start_with(backend, move |config| {
        config.filter.clamav.address = Some(address);
        config.filter.clamav.timeout_seconds = 30;
        configure(config);
    });
    started.await.expect("TestDb::new is always Some")
}

/// The reply to a message carrying EICAR.
fn malware_reply() -> String {
    format!("554 5.7.1 Message refused: it contains malware ({EICAR_SIGNATURE})")
}

async fn eicar_is_refused_on_the_mx_and_clean_mail_passes(backend: Backend) {
    let daemon = Clamd::start().await;
    let p = with_clamd(backend, daemon.address(), |_| {}).await;
    let infected = with_attachment(SENDER, RECIPIENT, "eicar.com", EICAR);
    let reply = deliver(&p, &infected).await;
    assert_eq!(reply.line(), malware_reply(), "{}", daemon.log());
    assert_nothing_stored(&p).await;

    // EICAR but for its last byte is another file.
    let almost = with_attachment(SENDER, RECIPIENT, "bao-cao.txt", &EICAR[..EICAR.len() - 1]);
    queued_as(&deliver(&p, &almost).await);
    let stored = only_in_inbox(&p).await;
    assert!(stored.ends_with(&almost), "{stored}");
}

async fn eicar_is_refused_on_submission_and_nothing_is_queued(backend: Backend) {
    let daemon = Clamd::start().await;
    let p = with_clamd(backend, daemon.address(), |_| {}).await;
    let from = "annv@vinhphuc.gov.vn";
    let to = ["vanlt@vinhphuc.gov.vn", "partner@example.org"];
    let infected = with_attachment(from, to[0], "eicar.com", EICAR);
    let mut smtp = p.submission_as(ANNV).await;
    let replies = send(&mut smtp, from, &to, &infected).await;
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert_eq!(codes[..4], [250, 250, 250, 354], "{replies:?}");
    assert_eq!(replies[4].line(), malware_reply(), "{}", daemon.log());
    assert!(p.inbox(VAN.0).await.is_empty());
    assert_nothing_queued(&p).await;

    // The session goes on, and a clean message from it is taken.
    let clean = super::fixture::message(from, to[0], "sach");
    let replies = send(&mut smtp, from, &[to[0]], &clean).await;
    queued_as(replies.last().unwrap());
    assert_eq!(p.inbox(VAN.0).await.len(), 1);
}

/// An address on loopback that refuses connections: a port bound, then released.
fn nothing_listening() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp:{}", probe.local_addr().unwrap())
}

async fn clamd_down_defers_by_default(backend: Backend) {
    let p = with_clamd(backend, nothing_listening(), |_| {}).await;
    let reply = deliver(&p, &meeting_notice("khi-hong")).await;
    assert_eq!(reply.line(), CANNOT_SCAN);
    assert_nothing_stored(&p).await;
}

async fn clamd_down_delivers_under_accept(backend: Backend) {
    let p = with_clamd(backend, nothing_listening(), |config| {
        config.filter.clamav.fail = FailPolicy::Accept;
    })
    .await;
    let body = meeting_notice("khi-hong-van-nhan");
    queued_as(&deliver(&p, &body).await);
    assert!(only_in_inbox(&p).await.ends_with(&body));
}

/// The name a blocklist `zone` is asked about for clients on 127.0.0.1 (RFC 5782 §2.1).
fn listing_name(zone: &str) -> String {
    format!("1.0.0.127.{zone}")
}

/// The province asking `zones` about MX clients of `dns`, without a cache, so that every
/// question reaches the server and can be counted.
async fn with_blocklists(backend: Backend, dns: &DnsServer, zones: &[&str]) -> Province {
    let servers = vec![dns.addr().to_string()];
    let zones: Vec<String> = zones.iter().map(|z| z.to_string()).collect();
    let started = Province::start_with(backend, move |config| {
        config.dns.servers = servers;
        config.dns.timeout_seconds = 1;
        config.dns.attempts = 1;
        config.dns.cache_entries = 0;
        config.filter.dnsbl = zones;
    });
    started.await.expect("TestDb::new is always Some")
}

async fn a_listed_client_is_refused_at_mail_from_asking_once_per_connection(backend: Backend) {
    let dns = DnsServer::builder()
        .a(&listing_name("bl.test"), Ipv4Addr::new(127, 0, 0, 2))
        .start()
        .await;
    let p = with_blocklists(backend, &dns, &["bl.test"]).await;
    let refused = "554 5.7.1 Service unavailable; client [127.0.0.1] is listed by bl.test";
    let mut smtp = p.mx().await;
    for _ in 0..2 {
        let reply = smtp.command(&format!("MAIL FROM:<{SENDER}>")).await;
        assert_eq!(reply.line(), refused);
        let reply = smtp.command(&format!("RCPT TO:<{RECIPIENT}>")).await;
        assert_eq!(reply.code, 503, "{reply:?}");
    }
    let asked = vec![(listing_name("bl.test"), "A".to_owned())];
    assert_eq!(dns.queries(), asked);
    assert_nothing_stored(&p).await;
}

async fn an_ipv4_client_of_a_dual_stack_listener_is_looked_up_as_ipv4(backend: Backend) {
    let dns = DnsServer::builder()
        .a(&listing_name("bl.test"), Ipv4Addr::new(127, 0, 0, 2))
        .start()
        .await;
    let servers = vec![dns.addr().to_string()];
    // What `listen = ["[::]:25"]` does for IPv4 clients, on loopback only: an IPv6 socket
    // that sees them as ::ffff:a.b.c.d.
    let mapped: SocketAddr = "[::ffff:127.0.0.1]:0".parse().unwrap();
    let started = Province::start_with(backend, move |config| {
        config.smtp.listen = vec![mapped.into()];
        config.dns.servers = servers;
        config.dns.timeout_seconds = 1;
        config.dns.attempts = 1;
        config.filter.dnsbl = vec!["bl.test".into()];
    });
    let p = started.await.expect("TestDb::new is always Some");
    let reply = p.mx().await.command(&format!("MAIL FROM:<{SENDER}>")).await;
    assert_eq!(
        reply.line(),
        "554 5.7.1 Service unavailable; client [127.0.0.1] is listed by bl.test",
        "{:?}",
        dns.queries()
    );
}

async fn the_lists_error_codes_and_a_silent_list_list_nobody(backend: Backend) {
    // 127.255.255.254: "you query through a public resolver", a refusal to answer.
    let dns = DnsServer::builder()
        .a(
            &listing_name("codes.test"),
            Ipv4Addr::new(127, 255, 255, 254),
        )
        .silent(&listing_name("silent.test"))
        .start()
        .await;
    let p = with_blocklists(backend, &dns, &["codes.test", "silent.test"]).await;
    let asked = |zone: &str| {
        let name = listing_name(zone);
        dns.queries()
            .iter()
            .filter(|(n, t)| *n == name && t == "A")
            .count()
    };
    let mut smtp = p.mx().await;
    let replies = send(&mut smtp, SENDER, &[RECIPIENT], &meeting_notice("lan-1")).await;
    queued_as(replies.last().unwrap());
    // The resolver tries a server that stays silent over UDP and then over TCP.
    let silent_tries = asked("silent.test");
    assert!((1..=2).contains(&silent_tries), "{:?}", dns.queries());
    assert_eq!(asked("codes.test"), 1, "{:?}", dns.queries());

    // The second transaction of the connection asks nothing.
    let replies = send(&mut smtp, SENDER, &[RECIPIENT], &meeting_notice("lan-2")).await;
    queued_as(replies.last().unwrap());
    assert_eq!(dns.queries().len(), 1 + silent_tries, "{:?}", dns.queries());
    assert_eq!(inbox_and_junk(&p).await.0.len(), 2);

    // A new connection is a new client: asked again.
    let mut smtp = p.mx().await;
    let replies = send(&mut smtp, SENDER, &[RECIPIENT], &meeting_notice("lan-3")).await;
    queued_as(replies.last().unwrap());
    assert_eq!(asked("codes.test"), 2, "{:?}", dns.queries());
    assert_eq!(
        asked("silent.test"),
        2 * silent_tries,
        "{:?}",
        dns.queries()
    );
}

async fn submission_is_never_checked_against_blocklists(backend: Backend) {
    let dns = DnsServer::builder()
        .a(&listing_name("bl.test"), Ipv4Addr::new(127, 0, 0, 2))
        .start()
        .await;
    let p = with_blocklists(backend, &dns, &["bl.test"]).await;
    let from = "annv@vinhphuc.gov.vn";
    let to = "vanlt@vinhphuc.gov.vn";
    let mut smtp = p.submission_as(ANNV).await;
    let body = super::fixture::message(from, to, "tu-cung-dia-chi");
    let replies = send(&mut smtp, from, &[to], &body).await;
    queued_as(replies.last().unwrap());
    assert_eq!(p.inbox(VAN.0).await.len(), 1);
    assert!(dns.queries().is_empty(), "{:?}", dns.queries());

    // The same address on the MX is listed.
    let reply = p.mx().await.command(&format!("MAIL FROM:<{SENDER}>")).await;
    assert_eq!(reply.code, 554, "{reply:?}");
    assert_eq!(dns.queries().len(), 1);
}

/// How many messages rspamd's Bayes statfiles have learned, `(spam, ham)`.
async fn lessons_now(daemon: &Rspamd) -> Result<(u64, u64), String> {
    daemon.bayes_revisions().await
}

/// Polls rspamd's lessons until `done` holds for them, for at most `within`; the last
/// answer if it never does.
async fn lessons_when(
    daemon: &Rspamd,
    within: Duration,
    done: impl Fn((u64, u64)) -> bool,
) -> Result<(u64, u64), String> {
    let deadline = Instant::now() + within;
    loop {
        let now = lessons_now(daemon).await;
        if let Some(lessons) = now.as_ref().ok().filter(|l| done(**l)) {
            return Ok(*lessons);
        }
        if Instant::now() >= deadline {
            return Err(format!("{now:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// rspamd's lessons, once it reports them.
async fn lessons(daemon: &Rspamd) -> (u64, u64) {
    let lessons = lessons_when(daemon, LESSON_WITHIN, |_| true).await;
    lessons.unwrap_or_else(|last| panic!("no lessons from /stat: {last}\n{}", daemon.log()))
}

/// Waits until rspamd's lessons are `wanted`.
async fn until_lessons(daemon: &Rspamd, wanted: (u64, u64)) {
    let lessons = lessons_when(daemon, LESSON_WITHIN, |now| now == wanted).await;
    if let Err(last) = lessons {
        panic!(
            "rspamd's lessons stayed at {last}, not {wanted:?}\n{}",
            daemon.log()
        );
    }
}

/// A private rspamd whose controller can learn, with no lessons yet.
async fn rspamd_that_learns() -> Rspamd {
    let daemon = Rspamd::start_learnable().await;
    assert_eq!(lessons(&daemon).await, (0, 0), "{}", daemon.log());
    daemon
}

/// `command` in the IMAP session; checks it completed.
async fn imap_ok(imap: &mut congvu_tests::imap::RawImap, tag: &str, command: &str) {
    let lines = imap.command(tag, command).await;
    let done = format!("{tag} OK ");
    assert!(lines.last().unwrap().starts_with(&done), "{lines:#?}");
}

async fn moving_into_junk_teaches_spam_and_out_of_it_ham(backend: Backend) {
    let daemon = rspamd_that_learns().await;
    let p = with_rspamd(backend, &daemon, |_| {}).await;
    queued_as(&deliver(&p, &meeting_notice("bai-hoc")).await);

    let (mut imap, _) = crate::imap::selected(&p, NHUNG, "INBOX").await;
    imap_ok(&mut imap, "a", "UID MOVE 1 Junk").await;
    until_lessons(&daemon, (1, 0)).await;

    imap_ok(&mut imap, "b", "SELECT Junk").await;
    imap_ok(&mut imap, "c", "UID MOVE 1 INBOX").await;
    // Changing its mind: the message is learned as ham. rspamd usually also unlearns it as
    // spam (its learn cache knows the message), but when its cache has not yet recorded the
    // first lesson it keeps it, so only the ham lesson is congvu's to guarantee.
    let ham = lessons_when(&daemon, LESSON_WITHIN, |(_, ham)| ham == 1).await;
    if let Err(last) = ham {
        panic!(
            "rspamd learned no ham: lessons stayed at {last}\n{}",
            daemon.log()
        );
    }
    assert_eq!(inbox_and_junk(&p).await.0.len(), 1);
}

async fn moving_to_trash_teaches_nothing(backend: Backend) {
    let daemon = rspamd_that_learns().await;
    let p = with_rspamd(backend, &daemon, |_| {}).await;
    queued_as(&deliver(&p, &meeting_notice("vao-thung-rac")).await);
    queued_as(&deliver(&p, &meeting_notice("vao-thu-rac")).await);

    let (mut imap, _) = crate::imap::selected(&p, NHUNG, "INBOX").await;
    imap_ok(&mut imap, "a", "UID MOVE 1 Trash").await;
    // A lesson that does come, taught after the move to Trash, bounds the wait for one
    // that must not.
    imap_ok(&mut imap, "b", "UID MOVE 2 Junk").await;
    until_lessons(&daemon, (1, 0)).await;
    // Out of Junk into Trash is throwing it away, not saying it is ham.
    imap_ok(&mut imap, "c", "SELECT Junk").await;
    imap_ok(&mut imap, "d", "UID MOVE 1 Trash").await;
    settle().await;
    assert_eq!(lessons(&daemon).await, (1, 0), "{}", daemon.log());
    assert_eq!(p.mailbox(NHUNG.0, MailboxRole::Trash).await.len(), 2);
}

async fn with_learning_off_moving_into_junk_teaches_nothing(backend: Backend) {
    let daemon = rspamd_that_learns().await;
    let p = with_rspamd(backend, &daemon, |config| {
        config.filter.rspamd.learn = false;
    })
    .await;
    queued_as(&deliver(&p, &meeting_notice("khong-hoc")).await);
    let (mut imap, _) = crate::imap::selected(&p, NHUNG, "INBOX").await;
    imap_ok(&mut imap, "a", "UID MOVE 1 Junk").await;
    assert_eq!(p.mailbox(NHUNG.0, MailboxRole::Junk).await.len(), 1);
    settle().await;
    assert_eq!(lessons(&daemon).await, (0, 0), "{}", daemon.log());
}

/// A wait for a lesson that must not come. Lessons are taught in the background after the
/// MOVE's reply, so their absence can only be seen after a while; a taught lesson shows up
/// in rspamd's counters within tens of milliseconds here.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// How the stand-in rspamd answers a request.
#[derive(Debug, Clone)]
enum Stand {
    /// `200 OK` with this JSON as the `/checkv2` answer.
    Verdict(String),
    /// `200 OK` with a body that is not rspamd's JSON.
    Garbage,
    /// Reads the request and never answers, keeping the connection open.
    Silent,
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Request {
    /// `POST /checkv2 HTTP/1.1`.
    line: String,
    /// Names lowercased, in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// Every value of header `name` (lowercase).
    fn all(&self, name: &str) -> Vec<&str> {
        let named = self.headers.iter().filter(|(n, _)| n == name);
        named.map(|(_, v)| v.as_str()).collect()
    }
}

/// A stand-in for rspamd's normal worker on `127.0.0.1:0`: real rspamd gives a test
/// message `add header`, `soft reject` or `greylist` only with tuned rules, and never
/// answers garbage. It stops when dropped.
struct FakeRspamd {
    addr: SocketAddr,
    shared: Arc<Mutex<(Stand, Vec<Request>)>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeRspamd {
    async fn start(stand: Stand) -> FakeRspamd {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new((stand, Vec::new())));
        let serving = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            // Connection tasks live in this set, so aborting the accept task ends them too.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve(stream, Arc::clone(&serving)));
            }
        });
        FakeRspamd { addr, shared, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers later requests with `stand`.
    fn answer(&self, stand: Stand) {
        self.shared.lock().unwrap().0 = stand;
    }

    /// Every request received so far, in order.
    fn requests(&self) -> Vec<Request> {
        self.shared.lock().unwrap().1.clone()
    }
}

impl Drop for FakeRspamd {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP/1.1 request from `stream`, records it, and answers as the stand says.
async fn serve(mut stream: TcpStream, shared: Arc<Mutex<(Stand, Vec<Request>)>>) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let stand = {
        let mut shared = shared.lock().unwrap();
        shared.1.push(request);
        shared.0.clone()
    };
    let body = match stand {
        Stand::Verdict(json) => json,
        Stand::Garbage => "<html>502 Bad Gateway</html>".to_owned(),
        Stand::Silent => return std::future::pending().await,
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// One request with its `Content-Length` body; `None` if the client closes first.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let line = lines.next()?.to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let length = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
            if bytes.len() >= end + 4 + length {
                let body = bytes[end + 4..end + 4 + length].to_vec();
                return Some(Request {
                    line,
                    headers,
                    body,
                });
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}
