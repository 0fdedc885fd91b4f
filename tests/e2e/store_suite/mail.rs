//! The mail store and queue on both backends: one body per message whatever the number of
//! holders, reference counts that free bodies, UIDs, flags, and queue leases.

use congvu::clock::UnixTime;
use congvu::mailstore::import::ImportMessage;
use congvu::mailstore::{BodyHash, MailboxRole, MessageFlags, Uid};
use congvu::queue::Lease;
use congvu_tests::Backend;

use super::{on_both_backends, Fixture, START};

on_both_backends!(
    a_circular_is_stored_once_and_freed_with_its_last_holder,
    uids_ascend_per_mailbox_and_flags_persist,
    queue_entries_share_the_body_and_leases_expire,
    every_commit_is_synced_before_it_returns,
    a_bulk_import_relaxes_syncing_until_it_ends,
    the_refcount_audit_names_a_body_whose_count_is_off,
    structures_stored_before_their_own_table_are_moved_into_it,
    a_mailbox_of_more_messages_than_one_read_takes_is_listed_whole,
    search_texts_are_kept_with_their_bodies_and_worked_out_when_missing,
    several_bodies_are_read_together_each_once_and_those_gone_left_out,
);

/// SQLite with `synchronous=FULL`, PostgreSQL with `synchronous_commit=on`, on the pooled
/// write connections themselves: what every 250 and OK congvu sends relies on.
async fn every_commit_is_synced_before_it_returns(backend: Backend) {
    let Some(f) = Fixture::new(backend).await else {
        return;
    };
    let expected = match backend {
        Backend::Sqlite => "full",
        Backend::Postgres => "on",
    };
    for _ in 0..4 {
        // Several times, so that more than one pooled connection is likely asked.
        assert_eq!(f.store.commit_durability().await.unwrap(), expected);
    }
}

/// While a bulk import runs, SQLite commits wait only for checkpoints; once it ends, every
/// commit waits for the disk again. PostgreSQL's commits wait throughout.
async fn a_bulk_import_relaxes_syncing_until_it_ends(backend: Backend) {
    let Some(f) = Fixture::new(backend).await else {
        return;
    };
    let (during, after) = match backend {
        Backend::Sqlite => ("normal", "full"),
        Backend::Postgres => ("on", "on"),
    };
    let bulk = f.store.begin_bulk_writes().await.unwrap();
    assert_eq!(f.store.commit_durability().await.unwrap(), during);
    bulk.finish().await.unwrap();
    assert_eq!(f.store.commit_durability().await.unwrap(), after);
}

/// Two deployments in two schemas of one PostgreSQL database, each with a second node on
/// its schema: a delivery wakes the other node of its own deployment, never the other
/// deployment's watchers of the same mailbox id.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    congvu_skip_postgres,
    ignore = "CONGVU_TEST_SKIP_POSTGRES=1: the PostgreSQL half is not run"
)]
async fn notifications_stay_in_their_schema() {
    use std::time::Duration;
    let (Some(a), Some(b)) = (
        Fixture::with_province(Backend::Postgres).await,
        Fixture::with_province(Backend::Postgres).await,
    ) else {
        return;
    };
    let (inbox_a, inbox_b) = (inbox(&a, "annv").await, inbox(&b, "annv").await);
    assert_eq!(inbox_a, inbox_b, "the same mailbox id in both schemas");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut watchers = Vec::new();
    for f in [&a, &b] {
        // A second node of each deployment: its own store on the same schema, listening.
        let node = f.db.open_store().await;
        let watcher = node.mailbox_changes().watch(inbox_a);
        let listening = node.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move { listening.follow_other_nodes(stop).await });
        watchers.push((node, watcher));
    }
    // The listeners subscribe asynchronously: deliver until node A hears one.
    let mut heard = false;
    for _ in 0..50 {
        a.mailstore
            .deliver(&[inbox_a], CIRCULAR, MessageFlags::default())
            .await
            .unwrap();
        let wait = tokio::time::timeout(Duration::from_millis(200), watchers[0].1.changed());
        if wait.await.is_ok() {
            heard = true;
            break;
        }
    }
    assert!(
        heard,
        "the other node of deployment A never heard of A's delivery"
    );
    let crossed = tokio::time::timeout(Duration::from_secs(1), watchers[1].1.changed()).await;
    assert!(
        crossed.is_err(),
        "deployment B's node was woken by a delivery in deployment A"
    );
    shutdown.cancel();
}

/// A circular as officials receive it (RFC 2047 subject, UTF-8 body).
const CIRCULAR: &[u8] = include_bytes!("../../fixtures/circular.eml");

async fn inbox(f: &Fixture, login: &str) -> congvu::mailstore::MailboxId {
    let official = f.official(login, "Nguyễn Văn An").await;
    let boxes = f.mailstore.mailboxes(official.id).await.unwrap();
    boxes
        .into_iter()
        .find(|m| m.role == Some(MailboxRole::Inbox))
        .unwrap()
        .id
}

async fn refcount(f: &Fixture, body: congvu::mailstore::BodyId) -> Option<i64> {
    f.store
        .read()
        .await
        .unwrap()
        .body_refcount(body)
        .await
        .unwrap()
}

async fn a_circular_is_stored_once_and_freed_with_its_last_holder(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let a = inbox(&f, "annv").await;
    let b = inbox(&f, "binhtt").await;
    let c = inbox(&f, "cuongld").await;

    let copies = f
        .mailstore
        .deliver(&[a, b, c], CIRCULAR, MessageFlags::default())
        .await
        .unwrap();
    assert_eq!(copies.len(), 3);
    let body = f.mailstore.messages(a).await.unwrap()[0].body_id;
    for mailbox in [b, c] {
        assert_eq!(
            f.mailstore.messages(mailbox).await.unwrap()[0].body_id,
            body,
            "one body for every copy"
        );
    }
    assert_eq!(refcount(&f, body).await, Some(3));
    assert_eq!(
        f.store
            .read()
            .await
            .unwrap()
            .body_by_hash(&BodyHash::of(CIRCULAR))
            .await
            .unwrap(),
        Some(body)
    );
    assert_eq!(
        f.mailstore.body(body).await.unwrap().as_deref(),
        Some(CIRCULAR),
        "bytes stored exactly"
    );

    // The same bytes delivered again add holders, not a body.
    f.mailstore
        .deliver(&[a, b], CIRCULAR, MessageFlags::default())
        .await
        .unwrap();
    assert_eq!(refcount(&f, body).await, Some(5));

    assert_eq!(
        f.mailstore
            .expunge(a, &[Uid(1), Uid(2), Uid(99)])
            .await
            .unwrap(),
        [Uid(1), Uid(2)]
    );
    assert_eq!(refcount(&f, body).await, Some(3));
    f.mailstore.expunge(b, &[Uid(1), Uid(2)]).await.unwrap();
    assert_eq!(refcount(&f, body).await, Some(1));
    f.mailstore.expunge(c, &[Uid(1)]).await.unwrap();
    assert_eq!(
        refcount(&f, body).await,
        None,
        "the body goes with its last holder"
    );
    assert_eq!(f.mailstore.body(body).await.unwrap(), None);
}

/// The audit the crash soak runs after every kill: silent while every body's count equals its
/// holders (mailbox copies and queue entries), and naming the body, its count and its
/// holders once a reference is taken or given back without a holder.
async fn the_refcount_audit_names_a_body_whose_count_is_off(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let audit = || async {
        f.store
            .read()
            .await
            .unwrap()
            .miscounted_bodies()
            .await
            .unwrap()
    };
    let a = inbox(&f, "annv").await;
    let b = inbox(&f, "binhtt").await;
    f.mailstore
        .deliver(&[a, b], CIRCULAR, MessageFlags::default())
        .await
        .unwrap();
    let remote = ["vanphong@hanoi.gov.vn".to_string()];
    f.queue
        .enqueue("annv@vinhphuc.gov.vn", &remote, CIRCULAR)
        .await
        .unwrap();
    let body = f.mailstore.messages(a).await.unwrap()[0].body_id;
    assert_eq!(
        refcount(&f, body).await,
        Some(3),
        "two copies and a queue entry"
    );
    assert_eq!(audit().await, []);

    let mut tx = f.store.begin().await.unwrap();
    tx.release_body(body, 1).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(audit().await, [(body, 2, 3)]);

    let mut tx = f.store.begin().await.unwrap();
    tx.put_body(&BodyHash::of(CIRCULAR), CIRCULAR, None, 2, START)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(audit().await, [(body, 4, 3)]);
}

async fn uids_ascend_per_mailbox_and_flags_persist(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let a = inbox(&f, "annv").await;
    let b = inbox(&f, "binhtt").await;
    for i in 0..3u8 {
        let message = [b"Subject: ".as_slice(), &[b'0' + i], b"\r\n\r\nx\r\n"].concat();
        f.mailstore
            .deliver(&[a], &message, MessageFlags::default())
            .await
            .unwrap();
    }
    let copies = f
        .mailstore
        .deliver(&[b, a], CIRCULAR, MessageFlags::SEEN)
        .await
        .unwrap();
    assert_eq!(
        (copies[0].uid, copies[1].uid),
        (Uid(1), Uid(4)),
        "UIDs count per mailbox"
    );

    f.mailstore.expunge(a, &[Uid(4)]).await.unwrap();
    let next = f
        .mailstore
        .deliver(&[a], CIRCULAR, MessageFlags::default())
        .await
        .unwrap();
    assert_eq!(next[0].uid, Uid(5), "an expunged UID is never reused");

    let messages = f.mailstore.messages(a).await.unwrap();
    let uids: Vec<_> = messages.iter().map(|m| m.uid.0).collect();
    assert_eq!(uids, [1, 2, 3, 5]);
    assert_eq!(messages[0].internal_date, START);
    assert_eq!(messages[3].size, CIRCULAR.len() as u64);

    let flags = MessageFlags::SEEN.with(MessageFlags::FLAGGED);
    let keywords = vec!["$Forwarded".to_string(), "$Label1".to_string()];
    let mut tx = f.store.begin().await.unwrap();
    assert!(tx
        .set_message_flags(a, Uid(2), flags, &keywords, 2)
        .await
        .unwrap());
    assert!(!tx
        .set_message_flags(a, Uid(4), flags, &keywords, 2)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let second = &f.mailstore.messages(a).await.unwrap()[1];
    assert!(
        second.flags.contains(MessageFlags::FLAGGED) && second.flags.contains(MessageFlags::SEEN)
    );
    assert!(!second.flags.contains(MessageFlags::DELETED));
    assert_eq!(second.keywords, keywords);
    assert_eq!(
        f.mailstore.messages(b).await.unwrap()[0].flags,
        MessageFlags::SEEN
    );

    let mailboxes = f
        .mailstore
        .mailboxes(f.directory.official("annv").await.unwrap().id)
        .await
        .unwrap();
    let inbox = mailboxes.iter().find(|m| m.id == a).unwrap();
    assert_eq!(inbox.uidnext, Uid(6));
}

/// What reading ahead of an IMAP client relies on: several bodies in one read, each by its id
/// with its bytes, a body named twice given once, and one freed meanwhile left out.
async fn several_bodies_are_read_together_each_once_and_those_gone_left_out(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let a = inbox(&f, "annv").await;
    let messages: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("Subject: {i}\r\n\r\n{}\r\n", "x".repeat(1000 * i)).into_bytes())
        .collect();
    for message in &messages {
        f.mailstore
            .deliver(&[a], message, MessageFlags::default())
            .await
            .unwrap();
    }
    let stored = f.mailstore.messages(a).await.unwrap();
    let ids: Vec<_> = stored.iter().map(|m| m.body_id).collect();
    f.mailstore.expunge(a, &[stored[3].uid]).await.unwrap();

    let wanted = [ids[4], ids[0], ids[3], ids[2], ids[0]];
    let mut read = f.mailstore.bodies(&wanted).await.unwrap();
    read.sort_by_key(|(id, _)| id.0);
    let expected: Vec<_> = [0, 2, 4]
        .iter()
        .map(|&i| (ids[i], messages[i].clone()))
        .collect();
    assert_eq!(read, expected);
    assert_eq!(f.mailstore.bodies(&[]).await.unwrap(), []);
}

async fn queue_entries_share_the_body_and_leases_expire(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let recipients = vec![
        "vanphong@hanoi.gov.vn".to_string(),
        "ThuKy@Mic.Gov.VN".to_string(),
    ];
    let ids = f
        .queue
        .enqueue("annv@vinhphuc.gov.vn", &recipients, CIRCULAR)
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    let entries = f.queue.entries().await.unwrap();
    assert_eq!(entries[0].body_id, entries[1].body_id);
    assert_eq!(
        entries[0].queue_id, entries[1].queue_id,
        "one message, one queue id"
    );
    assert!(
        entries[0].queue_id.len() == 12
            && entries[0].queue_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{:?}",
        entries[0].queue_id
    );
    assert_eq!(entries[1].recipient_domain, "mic.gov.vn");
    assert_eq!(entries[0].next_attempt_at, START);
    let body = entries[0].body_id;
    assert_eq!(refcount(&f, body).await, Some(2));

    let node_a = Lease {
        owner: "node-a".into(),
        seconds: 300,
    };
    let node_b = Lease {
        owner: "node-b".into(),
        seconds: 300,
    };
    let claimed = f.queue.claim_due(&node_a, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    assert!(claimed
        .iter()
        .all(|e| e.lease_owner.as_deref() == Some("node-a")
            && e.lease_expires_at == Some(START.plus(300))));
    assert!(
        f.queue.claim_due(&node_b, 10).await.unwrap().is_empty(),
        "leased entries are not claimed twice"
    );

    // node-a dies; once its lease expires node-b takes the work.
    f.clock.advance(301);
    let taken = f.queue.claim_due(&node_b, 1).await.unwrap();
    assert_eq!(taken.len(), 1, "the limit is honoured");
    assert_eq!(taken[0].lease_owner.as_deref(), Some("node-b"));

    f.queue
        .retry_later(taken[0].id, START.plus(301 + 600), "451 4.4.1 try later")
        .await
        .unwrap();
    let rescheduled = f
        .queue
        .entries()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.id == taken[0].id)
        .unwrap();
    assert_eq!(
        (rescheduled.attempts, rescheduled.lease_owner.as_deref()),
        (1, None)
    );
    assert_eq!(
        rescheduled.last_error.as_deref(),
        Some("451 4.4.1 try later")
    );
    let rest = f.queue.claim_due(&node_b, 10).await.unwrap();
    assert_eq!(rest.len(), 1, "the rescheduled entry waits for its time");
    assert_ne!(rest[0].id, taken[0].id);

    f.queue.finish(rest[0].id).await.unwrap();
    assert_eq!(refcount(&f, body).await, Some(1));
    f.queue.finish(taken[0].id).await.unwrap();
    assert_eq!(refcount(&f, body).await, None);
    assert!(f.queue.entries().await.unwrap().is_empty());
}

/// Migration 0014 gives structures a table of their own: one a database at schema 13 kept
/// beside its body is found there afterwards, as stored, not worked out again.
async fn structures_stored_before_their_own_table_are_moved_into_it(backend: Backend) {
    let db = match congvu_tests::TestDb::new(backend).await {
        Some(db) => db,
        None => return,
    };
    let store = congvu::store::Store::open_unmigrated(&db.store_options())
        .await
        .unwrap();
    store.migrate_up_to(13).await.unwrap();
    // A structure that working it out from this body would not give: its subject differs.
    let stored = r#"{"envelope":{"subject":"Kept before 0014"},"root":{"media_type":"text","subtype":"plain","header":{"start":0,"end":12},"body":{"start":12,"end":14}}}"#;
    let hash = BodyHash::of(b"Subject: x\r\n\r\nx\r\n");
    let hex: String = hash.0.iter().map(|b| format!("{b:02x}")).collect();
    let blob = match backend {
        congvu_tests::Backend::Sqlite => format!("X'{hex}'"),
        congvu_tests::Backend::Postgres => format!("'\\x{hex}'::bytea"),
    };
    db.execute_unchecked(&format!(
        "INSERT INTO message_bodies (sha256, size, refcount, data, created_at, shape) \
         VALUES ({blob}, 16, 0, {blob}, 1, '{stored}')"
    ))
    .await;
    store.migrate().await.unwrap();

    let mut conn = store.read().await.unwrap();
    let bodies = conn
        .body_shapes(&[congvu::mailstore::BodyId(1)])
        .await
        .unwrap();
    assert_eq!(bodies.len(), 1);
    let array = String::from_utf8_lossy(&bodies[0]);
    assert!(array.contains("Kept before 0014"), "{array}");
    let moved = conn.body_shape(congvu::mailstore::BodyId(1)).await.unwrap();
    assert_eq!(moved.as_deref(), Some(stored));
}

/// SQLite reads a mailbox's messages and its UIDs 10,000 to a statement: a mailbox of
/// 20,001, some expunged at the seams, is listed whole and in UID order, every field as
/// stored, and on PostgreSQL the same.
async fn a_mailbox_of_more_messages_than_one_read_takes_is_listed_whole(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let a = inbox(&f, "annv").await;
    let keywords = vec!["$Label1".to_string(), "KeHoach2027".to_string()];
    let bodies: Vec<Vec<u8>> = (0..20_001)
        .map(|n| format!("Subject: so {n}\r\n\r\nx\r\n").into_bytes())
        .collect();
    let messages: Vec<ImportMessage<'_>> = bodies
        .iter()
        .enumerate()
        .map(|(n, bytes)| ImportMessage {
            bytes,
            internal_date: UnixTime(START.0 + n as i64),
            flags: if n % 2 == 0 {
                MessageFlags::SEEN
            } else {
                MessageFlags::default()
            },
            keywords: if n % 1000 == 7 { &keywords } else { &[] },
            origin: None,
        })
        .collect();
    for batch in messages.chunks(2_000) {
        let outcomes = f.mailstore.import(a, batch).await.unwrap();
        assert!(outcomes.iter().all(Result::is_ok));
    }
    f.mailstore
        .expunge(a, &[Uid(1), Uid(10_000), Uid(10_001), Uid(20_001)])
        .await
        .unwrap();

    let listed = f.mailstore.messages(a).await.unwrap();
    assert_eq!(listed.len(), 19_997);
    let uids: Vec<u32> = listed.iter().map(|m| m.uid.0).collect();
    let expected: Vec<u32> = (2..=20_000)
        .filter(|u| ![10_000, 10_001].contains(u))
        .collect();
    assert_eq!(uids, expected);
    let present: Vec<u32> = f
        .mailstore
        .uids(a)
        .await
        .unwrap()
        .iter()
        .map(|u| u.0)
        .collect();
    assert_eq!(present, expected, "the UIDs alone, read as arrays too");
    for m in &listed {
        let n = m.uid.0 as usize - 1;
        assert_eq!(m.mailbox_id, a);
        assert_eq!(m.size, bodies[n].len() as u64, "UID {}", m.uid.0);
        assert_eq!(m.internal_date, UnixTime(START.0 + n as i64));
        assert_eq!(m.flags.contains(MessageFlags::SEEN), n % 2 == 0);
        let expected: &[String] = if n % 1000 == 7 { &keywords } else { &[] };
        assert_eq!(m.keywords, expected, "UID {}", m.uid.0);
        assert!(m.modseq > 0);
    }
    let bodies_listed: std::collections::HashSet<_> = listed.iter().map(|m| m.body_id).collect();
    assert_eq!(bodies_listed.len(), 19_997, "each message its own body");
}

/// Each imported body's search text (decoded headers, body text) is kept beside it when it is
/// stored, and read back for many bodies at once. A body stored before texts were kept has
/// its text worked out from its bytes at the first read, and kept from then on.
async fn search_texts_are_kept_with_their_bodies_and_worked_out_when_missing(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let a = inbox(&f, "annv").await;
    use base64::Engine as _;
    let base64 = |text: String| base64::engine::general_purpose::STANDARD.encode(text);
    let bodies: Vec<Vec<u8>> = (0..300)
        .map(|n| {
            format!(
                "Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n_s=E1=BB=91_{n}?=\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                base64(format!("Kính gửi Hà Nội, thư {n}"))
            )
            .into_bytes()
        })
        .collect();
    let messages: Vec<ImportMessage<'_>> = bodies
        .iter()
        .map(|bytes| ImportMessage {
            bytes,
            internal_date: START,
            flags: MessageFlags::default(),
            keywords: &[],
            origin: None,
        })
        .collect();
    let outcomes = f.mailstore.import(a, &messages).await.unwrap();
    assert!(outcomes.iter().all(Result::is_ok));
    let listed = f.mailstore.messages(a).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|m| m.body_id).collect();
    assert_eq!(
        kept_texts(&f, &ids).await,
        300,
        "every imported body's text is kept"
    );

    let check = |texts: &std::collections::HashMap<_, congvu::mailstore::text::MessageText>| {
        for (n, message) in listed.iter().enumerate() {
            let text = &texts[&message.body_id];
            assert_eq!(text.body, format!("Kính gửi Hà Nội, thư {n}"));
            let subject = text.headers.iter().find(|(name, _)| name == "subject");
            assert_eq!(
                subject.map(|(_, v)| v.as_str()),
                Some(format!("Công văn số {n}").as_str())
            );
        }
    };
    check(&f.mailstore.texts(&ids).await.unwrap());

    // As if stored before texts were kept: worked out at the first read, then kept.
    f.db.execute_unchecked("DELETE FROM message_texts").await;
    assert_eq!(kept_texts(&f, &ids).await, 0);
    check(&f.mailstore.texts(&ids).await.unwrap());
    assert_eq!(kept_texts(&f, &ids).await, 300, "worked-out texts are kept");
}

/// How many of `bodies` have a kept search text, read as the store hands them over.
async fn kept_texts(f: &Fixture, bodies: &[congvu::mailstore::BodyId]) -> usize {
    let arrays = f
        .store
        .read()
        .await
        .unwrap()
        .body_texts(bodies)
        .await
        .unwrap();
    arrays
        .iter()
        .map(|a| String::from_utf8_lossy(a).matches("\"body\":").count())
        .sum()
}
