//! Delivery: exact bytes and envelope, one transaction per domain, the retry schedule, the
//! TLS policy (opportunistic, required, verified against a configured CA), smart host AUTH,
//! and held entries.

use congvu::directory::Actor;
use congvu::queue::{QueueEntry, QueueSelector};
use congvu_tests::smtp_sink::{SmtpSink, Stage, Transaction};
use congvu_tests::Backend;

use super::{QueueTest, ANNV, OUTBOUND, START};

crate::backend_tests!(
    a_message_arrives_byte_for_byte_and_leaves_the_queue,
    recipients_in_one_domain_share_one_transaction,
    a_temporary_failure_is_retried_exactly_on_schedule,
    required_tls_waits_for_a_server_that_offers_it,
    starttls_is_used_when_offered_and_verified_when_required,
    smart_host_credentials_go_only_over_verified_tls,
    held_entries_wait_until_released,
);

fn recipients(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The one transaction the sink received.
fn only(sink: &SmtpSink) -> Transaction {
    let mut all = sink.transactions();
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

fn entry<'a>(entries: &'a [QueueEntry], recipient: &str) -> &'a QueueEntry {
    entries
        .iter()
        .find(|e| e.recipient == recipient)
        .unwrap_or_else(|| panic!("no entry for {recipient}: {entries:#?}"))
}

async fn a_message_arrives_byte_for_byte_and_leaves_the_queue(backend: Backend) {
    let Some(t) = QueueTest::start(backend, SmtpSink::builder(), |_, _| {}).await else {
        return;
    };
    t.queue
        .enqueue(ANNV, &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    assert_eq!(t.body_holders(OUTBOUND).await, Some(1));
    t.settle().await;

    let sent = only(&t.sink);
    assert_eq!(sent.mail_from, ANNV);
    assert_eq!(sent.rcpt_to, ["vanphong@hanoi.gov.vn"]);
    assert_eq!(sent.data, OUTBOUND, "the message changed on the way");
    assert_eq!(sent.reply, "250 2.0.0 Ok: queued");
    assert!(!sent.tls, "the sink offers no STARTTLS");
    assert_eq!(t.entries().await, []);
    assert_eq!(
        t.body_holders(OUTBOUND).await,
        None,
        "the body was not released"
    );
    assert_eq!(
        t.inbox("annv").await.len(),
        0,
        "no notification for a delivery"
    );
    t.stop().await;
}

async fn recipients_in_one_domain_share_one_transaction(backend: Backend) {
    let Some(t) = QueueTest::start(backend, SmtpSink::builder(), |_, _| {}).await else {
        return;
    };
    t.queue
        .enqueue(
            ANNV,
            &recipients(&[
                "vanphong@hanoi.gov.vn",
                "thuky@mic.gov.vn",
                "ThuKy@Hanoi.gov.vn",
            ]),
            OUTBOUND,
        )
        .await
        .unwrap();
    t.settle().await;

    let mut sent = t.sink.transactions();
    sent.sort_by_key(|tx| tx.rcpt_to.len());
    let envelopes: Vec<(String, Vec<String>)> = sent
        .iter()
        .map(|tx| (tx.mail_from.clone(), tx.rcpt_to.clone()))
        .collect();
    assert_eq!(
        envelopes,
        [
            (ANNV.to_string(), recipients(&["thuky@mic.gov.vn"])),
            (
                ANNV.to_string(),
                recipients(&["vanphong@hanoi.gov.vn", "ThuKy@Hanoi.gov.vn"])
            ),
        ]
    );
    assert!(sent.iter().all(|tx| tx.data == OUTBOUND));
    assert_eq!(t.sink.connections(), 2, "one connection per domain");
    assert_eq!(t.entries().await, []);
    assert_eq!(t.body_holders(OUTBOUND).await, None);
    t.stop().await;
}

async fn a_temporary_failure_is_retried_exactly_on_schedule(backend: Backend) {
    let sink = SmtpSink::builder().reply_times(Stage::Mail, 2, "451 4.3.0 Try again later");
    let Some(t) = QueueTest::start(backend, sink, |_, _| {}).await else {
        return;
    };
    t.queue
        .enqueue(ANNV, &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    t.settle().await;
    let first = t.entries().await;
    assert_eq!(first.len(), 1);
    let e = &first[0];
    assert_eq!(
        (e.attempts, e.next_attempt_at, e.last_attempt_at),
        (1, START.plus(300), Some(START))
    );
    assert_eq!(e.last_error.as_deref(), Some("451 4.3.0 Try again later"));
    assert_eq!(e.last_remote.as_deref(), Some("127.0.0.1"));
    assert_eq!(e.lease_owner, None, "the lease is given up");
    assert_eq!(t.sink.connections(), 1);

    // One second before the back-off ends: no attempt.
    t.advance(299).await;
    assert_eq!(t.sink.connections(), 1, "retried before its time");
    assert_eq!(t.entries().await[0].attempts, 1);

    // On the second: the retry, failing again, doubles the wait.
    t.advance(1).await;
    assert_eq!(t.sink.connections(), 2);
    let second = t.entries().await;
    assert_eq!(
        (second[0].attempts, second[0].next_attempt_at),
        (2, START.plus(300 + 600))
    );
    t.advance(599).await;
    assert_eq!(t.sink.connections(), 2, "retried before its time");

    t.advance(1).await;
    assert_eq!(t.sink.connections(), 3);
    assert_eq!(only(&t.sink).rcpt_to, ["vanphong@hanoi.gov.vn"]);
    assert_eq!(t.entries().await, []);
    assert_eq!(t.body_holders(OUTBOUND).await, None);
    assert_eq!(
        t.inbox("annv").await.len(),
        0,
        "no delay notice before its time"
    );
    t.stop().await;
}

async fn required_tls_waits_for_a_server_that_offers_it(backend: Backend) {
    let Some(t) = QueueTest::start(backend, SmtpSink::builder(), |config, _| {
        config.queue.require_tls_domains = vec!["hanoi.gov.vn".into()];
    })
    .await
    else {
        return;
    };
    t.queue
        .enqueue(
            ANNV,
            &recipients(&["vanphong@hanoi.gov.vn", "thuky@mic.gov.vn"]),
            OUTBOUND,
        )
        .await
        .unwrap();
    t.settle().await;

    assert_eq!(
        only(&t.sink).rcpt_to,
        ["thuky@mic.gov.vn"],
        "mic.gov.vn has no TLS policy"
    );
    let entries = t.entries().await;
    assert_eq!(entries.len(), 1);
    let waiting = entry(&entries, "vanphong@hanoi.gov.vn");
    assert_eq!(
        (waiting.attempts, waiting.next_attempt_at),
        (1, START.plus(300))
    );
    assert_eq!(
        waiting.last_error.as_deref(),
        Some("127.0.0.1 does not offer STARTTLS, and TLS is required for this delivery")
    );
    assert_eq!(t.body_holders(OUTBOUND).await, Some(1));
    assert_eq!(
        t.inbox("annv").await.len(),
        0,
        "a temporary failure bounces nothing"
    );
    t.stop().await;
}

async fn starttls_is_used_when_offered_and_verified_when_required(backend: Backend) {
    // Opportunistic: the sink's self-signed certificate is accepted.
    let Some(t) = QueueTest::start(backend, SmtpSink::builder().starttls(), |_, _| {}).await else {
        return;
    };
    t.queue
        .enqueue(ANNV, &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    t.settle().await;
    let sent = only(&t.sink);
    assert!(sent.tls, "STARTTLS was offered but not used");
    assert_eq!(sent.data, OUTBOUND);
    t.stop().await;

    // Required, without a CA that signed it: the certificate does not verify.
    let Some(t) = QueueTest::start(backend, SmtpSink::builder().starttls(), |config, _| {
        config.queue.require_tls = true;
    })
    .await
    else {
        return;
    };
    t.queue
        .enqueue(ANNV, &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    t.settle().await;
    assert_eq!(t.sink.transactions(), []);
    let entries = t.entries().await;
    assert_eq!(entries[0].attempts, 1);
    let error = entries[0].last_error.clone().unwrap();
    assert!(
        error.starts_with("TLS with 127.0.0.1 failed: ") && error.contains("certificate"),
        "{error}"
    );
    t.stop().await;

    // Required, with the sink's certificate as a trusted CA: delivered over verified TLS.
    let Some(t) = QueueTest::start(backend, SmtpSink::builder().starttls(), |config, sink| {
        let ca = config.server.data_dir.with_file_name("sink-ca.pem");
        std::fs::write(&ca, sink.cert_pem()).unwrap();
        config.queue.require_tls = true;
        config.queue.tls_ca_file = Some(ca);
    })
    .await
    else {
        return;
    };
    t.queue
        .enqueue(ANNV, &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    t.settle().await;
    let sent = only(&t.sink);
    assert!(sent.tls);
    assert_eq!(sent.data, OUTBOUND);
    assert_eq!(t.entries().await, []);
    t.stop().await;
}

async fn smart_host_credentials_go_only_over_verified_tls(backend: Backend) {
    let relay = || {
        SmtpSink::builder()
            .starttls()
            .auth("vinhphuc", "Relay-matkhau-2026")
    };
    let Some(t) = QueueTest::start(backend, relay(), |config, sink| {
        let ca = config.server.data_dir.with_file_name("relay-ca.pem");
        std::fs::write(&ca, sink.cert_pem()).unwrap();
        config.queue.tls_ca_file = Some(ca);
        config.queue.smart_host_username = Some("vinhphuc".into());
        config.queue.smart_host_password = Some("Relay-matkhau-2026".into());
    })
    .await
    else {
        return;
    };
    t.queue
        .enqueue(ANNV, &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    t.settle().await;
    let sent = only(&t.sink);
    assert_eq!((sent.tls, sent.auth.as_deref()), (true, Some("vinhphuc")));
    assert_eq!(sent.data, OUTBOUND);
    t.stop().await;

    // Without a way to verify the relay, the password is not sent and the mail waits.
    let Some(t) = QueueTest::start(backend, relay(), |config, _| {
        config.queue.smart_host_username = Some("vinhphuc".into());
        config.queue.smart_host_password = Some("Relay-matkhau-2026".into());
    })
    .await
    else {
        return;
    };
    t.queue
        .enqueue(ANNV, &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    t.settle().await;
    assert_eq!(t.sink.transactions(), []);
    assert_eq!(t.entries().await[0].attempts, 1);
    t.stop().await;

    // Wrong credentials: the relay refuses them; the mail waits instead of bouncing.
    let Some(t) = QueueTest::start(backend, relay(), |config, sink| {
        let ca = config.server.data_dir.with_file_name("relay-ca.pem");
        std::fs::write(&ca, sink.cert_pem()).unwrap();
        config.queue.tls_ca_file = Some(ca);
        config.queue.smart_host_username = Some("vinhphuc".into());
        config.queue.smart_host_password = Some("sai-mat-khau".into());
    })
    .await
    else {
        return;
    };
    t.queue
        .enqueue(ANNV, &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    t.settle().await;
    assert_eq!(t.sink.transactions(), []);
    let entries = t.entries().await;
    assert_eq!(
        (entries[0].attempts, entries[0].last_error.as_deref()),
        (1, Some("535 5.7.8 Authentication credentials invalid"))
    );
    assert_eq!(t.inbox("annv").await.len(), 0);
    t.stop().await;
}

async fn held_entries_wait_until_released(backend: Backend) {
    let Some(t) = QueueTest::start(backend, SmtpSink::builder(), |_, _| {}).await else {
        return;
    };
    let ids = t
        .queue
        .enqueue(
            ANNV,
            &recipients(&["vanphong@hanoi.gov.vn", "thuky@mic.gov.vn"]),
            OUTBOUND,
        )
        .await
        .unwrap();
    let admin = Actor::admin("it-stttt");
    t.queue
        .hold(&admin, &QueueSelector::Entry(ids[0]))
        .await
        .unwrap();
    t.settle().await;
    assert_eq!(only(&t.sink).rcpt_to, ["thuky@mic.gov.vn"]);
    let entries = t.entries().await;
    assert_eq!(entries.len(), 1);
    assert!(entries[0].held);
    assert_eq!(entries[0].attempts, 0, "a held entry is not attempted");

    // Still held a day later.
    t.advance(86_400).await;
    assert_eq!(t.sink.transactions().len(), 1);

    t.queue
        .release(&admin, &QueueSelector::Entry(ids[0]))
        .await
        .unwrap();
    t.settle().await;
    let mut sent = t.sink.transactions();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent.remove(1).rcpt_to, ["vanphong@hanoi.gov.vn"]);
    assert_eq!(t.entries().await, []);
    assert_eq!(t.body_holders(OUTBOUND).await, None);
    t.stop().await;
}
