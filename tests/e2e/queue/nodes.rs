//! Several nodes on one database: each entry delivered once in total, a dead node's lease
//! taken over once it expires, and a live node's leases renewed.

use std::collections::BTreeMap;

use congvu::clock::Clock;
use congvu::queue::{Lease, Queue};
use congvu::server::RunningServer;
use congvu_tests::smtp_sink::SmtpSink;
use congvu_tests::{Backend, TestDb};

use super::{queue_config, seed, QueueTest, ANNV, OUTBOUND, START};

crate::backend_tests!(
    two_nodes_deliver_each_entry_exactly_once,
    an_expired_lease_is_taken_over,
    leases_are_renewed_and_released,
);

/// Messages queued for the two-node test, each its own transaction.
const MESSAGES: usize = 30;

async fn two_nodes_deliver_each_entry_exactly_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let clock = Clock::fixed(START);
    let store = db.open_store().await;
    seed(&store, &clock).await;
    let sink = SmtpSink::builder().start().await;
    let mut config = queue_config(&db, &sink);
    config.queue.workers = 2;
    let a = RunningServer::start_with_clock(&config, clock.clone())
        .await
        .unwrap();
    let b = RunningServer::start_with_clock(&config, clock.clone())
        .await
        .unwrap();
    let queue = Queue::new(store.clone(), clock.clone());
    let mut expected = Vec::new();
    for i in 0..MESSAGES {
        let message = format!(
            "From: {ANNV}\r\nTo: vanthu{i}@tinh{d}.gov.vn\r\nSubject: Cong van so {i}\r\n\r\nNoi dung {i}.\r\n",
            d = i % 7
        );
        let recipient = format!("vanthu{i}@tinh{}.gov.vn", i % 7);
        queue
            .enqueue(ANNV, std::slice::from_ref(&recipient), message.as_bytes())
            .await
            .unwrap();
        expected.push(recipient);
    }
    // Both nodes at once, each told that mail is waiting.
    let (wa, wb) = (a.services().queue.clone(), b.services().queue.clone());
    tokio::join!(wa.wait_idle(), wb.wait_idle());
    tokio::join!(wa.wait_idle(), wb.wait_idle());

    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for tx in sink.transactions() {
        for rcpt in tx.rcpt_to {
            *times.entry(rcpt).or_default() += 1;
        }
    }
    expected.sort();
    let delivered: Vec<_> = times.keys().cloned().collect();
    assert_eq!(delivered, expected);
    assert!(
        times.values().all(|&n| n == 1),
        "delivered more than once: {times:?}"
    );
    assert_eq!(queue.entries().await.unwrap(), []);
    assert!(a.stop().await);
    assert!(b.stop().await);
    store.close().await;
}

async fn an_expired_lease_is_taken_over(backend: Backend) {
    let Some(t) = QueueTest::start(backend, SmtpSink::builder(), |_, _| {}).await else {
        return;
    };
    t.queue
        .enqueue(ANNV, &["vanphong@hanoi.gov.vn".to_string()], OUTBOUND)
        .await
        .unwrap();
    // Another node claims the entry and dies with it.
    let dead = Lease {
        owner: "node-gone".into(),
        seconds: 300,
    };
    let claimed = t.queue.claim_due(&dead, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    t.settle().await;
    assert_eq!(t.sink.connections(), 0, "a leased entry was taken");
    let entries = t.entries().await;
    assert_eq!(
        (
            entries[0].lease_owner.as_deref(),
            entries[0].lease_expires_at
        ),
        (Some("node-gone"), Some(START.plus(300)))
    );

    t.advance(299).await;
    assert_eq!(t.sink.connections(), 0, "taken before the lease expired");
    t.advance(1).await;
    let sent = t.sink.transactions();
    assert_eq!(
        sent.len(),
        1,
        "delivered once after the lease expired: {:#?}",
        t.entries().await
    );
    assert_eq!(sent[0].data, OUTBOUND);
    assert_eq!(t.entries().await, []);
    assert_eq!(t.body_holders(OUTBOUND).await, None);
    t.stop().await;
}

async fn leases_are_renewed_and_released(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let clock = Clock::fixed(START);
    let store = db.open_store().await;
    let queue = Queue::new(store.clone(), clock.clone());
    let ids = queue
        .enqueue(
            ANNV,
            &["a@hanoi.gov.vn".to_string(), "b@hanoi.gov.vn".to_string()],
            OUTBOUND,
        )
        .await
        .unwrap();
    let live = Lease {
        owner: "node-a".into(),
        seconds: 300,
    };
    let other = Lease {
        owner: "node-b".into(),
        seconds: 300,
    };
    assert_eq!(queue.claim_due(&live, 10).await.unwrap().len(), 2);

    // node-a renews at 200 s: at 301 s its entries are still its own.
    clock.advance(200);
    assert_eq!(queue.renew_leases(&live).await.unwrap(), 2);
    assert_eq!(queue.renew_leases(&other).await.unwrap(), 0);
    clock.advance(101);
    assert_eq!(queue.claim_due(&other, 10).await.unwrap(), []);
    let entries = queue.entries().await.unwrap();
    assert!(entries
        .iter()
        .all(|e| e.lease_expires_at == Some(START.plus(500))));

    // Released (at shutdown), the first is due for anyone at once; node-b cannot release
    // what it does not hold.
    assert_eq!(queue.release_leases(&ids[..1], "node-b").await.unwrap(), 0);
    assert_eq!(queue.release_leases(&ids[..1], "node-a").await.unwrap(), 1);
    let taken = queue.claim_due(&other, 10).await.unwrap();
    assert_eq!(taken.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[0]]);
    assert_eq!(taken[0].attempts, 0, "a release is not an attempt");
    store.close().await;
}
