//! `congvu-admin queue …` through the real binary: what it prints, its exit status, what
//! the queue holds afterwards and the audit rows it wrote.

use congvu::clock::{Clock, UnixTime};
use congvu::directory::Directory;
use congvu::mailstore::BodyHash;
use congvu::queue::{Lease, Queue, QueueEntry, QueueEntryId};
use congvu::store::Store;
use congvu_tests::{Backend, TestDb};
use serde_json::{json, Value};

use super::{ANNV, OUTBOUND, START};
use crate::admin::{fails, json_of, AdminCli, AdminRun};
use crate::store_suite::on_both_backends;

on_both_backends!(
    the_queue_is_listed_and_shown,
    changes_are_audited_and_deletion_needs_yes,
);

/// 2033-05-18 03:33:20 UTC: a next attempt and a lease far past the real clock, which the
/// CLI reads.
const LATER: UnixTime = UnixTime(2_000_000_000);

/// Four entries of one message, queued at [`START`] (IDs 1-4):
/// 1 being sent by another node, 2 due, 3 held, 4 from `<>` waiting after a failure.
async fn four_entries(db: &TestDb) -> (Store, Queue) {
    let store = db.open_store().await;
    let clock = Clock::fixed(START);
    let queue = Queue::new(store.clone(), clock.clone());
    let one = |r: &str| vec![r.to_string()];
    queue
        .enqueue(ANNV, &one("vanthu@danang.gov.vn"), OUTBOUND)
        .await
        .unwrap();
    let sending = Lease {
        owner: "mail2.vinhphuc.gov.vn/7".into(),
        seconds: LATER.0 - START.0,
    };
    assert_eq!(queue.claim_due(&sending, 1).await.unwrap().len(), 1);
    queue
        .enqueue(ANNV, &one("vanphong@hanoi.gov.vn"), OUTBOUND)
        .await
        .unwrap();
    queue
        .enqueue(ANNV, &one("thuky@mic.gov.vn"), OUTBOUND)
        .await
        .unwrap();
    queue
        .hold(
            &congvu::directory::Actor::admin("setup"),
            &congvu::queue::QueueSelector::Entry(QueueEntryId(3)),
        )
        .await
        .unwrap();
    queue
        .enqueue("", &one("nguoigui@hanoi.gov.vn"), OUTBOUND)
        .await
        .unwrap();
    queue
        .retry_later(QueueEntryId(4), LATER, "451 4.3.0 Try later")
        .await
        .unwrap();
    (store, queue)
}

#[track_caller]
fn bad_usage(run: AdminRun) {
    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

fn entry(entries: &[QueueEntry], id: i64) -> Option<&QueueEntry> {
    entries.iter().find(|e| e.id == QueueEntryId(id))
}

async fn the_queue_is_listed_and_shown(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (store, queue) = four_entries(&db).await;
    let cli = AdminCli::new(&db);

    // Each message got its own random queue id; the table shows them in their column.
    let ids: Vec<String> = queue
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.queue_id)
        .collect();
    assert!(ids.iter().all(|id| id.len() == 12), "{ids:?}");
    let [q1, q2, q3, q4] = &ids[..] else {
        panic!("{ids:?}")
    };
    assert_eq!(
        cli.run(&["queue", "list"]).ok().stdout,
        format!(
            "ID  QUEUE ID      STATE    ATTEMPTS  NEXT ATTEMPT             SENDER                RECIPIENT              LAST ERROR\n\
             1   {q1}  sending  0         2026-11-27 01:00:00 UTC  annv@vinhphuc.gov.vn  vanthu@danang.gov.vn\n\
             2   {q2}  due      0         2026-11-27 01:00:00 UTC  annv@vinhphuc.gov.vn  vanphong@hanoi.gov.vn\n\
             3   {q3}  held     0         2026-11-27 01:00:00 UTC  annv@vinhphuc.gov.vn  thuky@mic.gov.vn\n\
             4   {q4}  waiting  1         2033-05-18 03:33:20 UTC  <>                    nguoigui@hanoi.gov.vn  451 4.3.0 Try later\n"
        )
    );
    assert_eq!(
        cli.run(&["queue", "list", "--domain", "Hanoi.gov.vn"])
            .ok()
            .stdout
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect::<Vec<_>>(),
        ["2", "4"]
    );
    let listed = json_of(&cli.run(&["queue", "list", "--json"]).ok());
    assert_eq!(listed.as_array().unwrap().len(), 4);
    assert_eq!(
        listed[3],
        json!({
            "id": 4, "queue_id": q4, "state": "waiting", "sender": "", "recipient": "nguoigui@hanoi.gov.vn",
            "domain": "hanoi.gov.vn", "held": false, "attempts": 1,
            "created_at": START.0, "next_attempt_at": LATER.0, "last_attempt_at": null,
            "last_error": "451 4.3.0 Try later", "last_remote": null, "delay_notice_at": null,
            "lease_owner": null, "lease_expires_at": null,
        })
    );
    assert_eq!(
        (
            &listed[0]["state"],
            &listed[0]["lease_owner"],
            &listed[0]["lease_expires_at"]
        ),
        (
            &json!("sending"),
            &json!("mail2.vinhphuc.gov.vn/7"),
            &json!(LATER.0)
        )
    );
    assert_eq!(
        (&listed[2]["state"], &listed[2]["held"]),
        (&json!("held"), &json!(true))
    );

    assert_eq!(
        cli.run(&["queue", "show", "1"]).ok().stdout,
        format!(
            "id            1\n\
         queue id      {q1}\n\
         state         sending\n\
         sender        annv@vinhphuc.gov.vn\n\
         recipient     vanthu@danang.gov.vn\n\
         queued        2026-11-27 01:00:00 UTC\n\
         attempts      0\n\
         next attempt  2026-11-27 01:00:00 UTC\n\
         last attempt  -\n\
         last server   -\n\
         last error    -\n\
         delay notice  -\n\
         lease         mail2.vinhphuc.gov.vn/7 until 2033-05-18 03:33:20 UTC\n"
        )
    );
    assert_eq!(
        json_of(&cli.run(&["queue", "show", "4", "--json"]).ok()),
        listed[3]
    );
    fails(
        cli.run(&["queue", "show", "99"]),
        1,
        "congvu-admin: queue entry 99 does not exist: see the entries with `congvu-admin queue list`\n",
    );
    fails(
        cli.run(&["queue", "list", "--domain", "hanoi gov"]),
        1,
        "congvu-admin: \"hanoi gov\" is not a domain name: use letters, digits and hyphens between dots, e.g. vinhphuc.gov.vn\n",
    );
    store.close().await;
}

async fn changes_are_audited_and_deletion_needs_yes(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (store, queue) = four_entries(&db).await;
    let directory = Directory::new(store.clone(), Clock::system());
    let cli = AdminCli::new(&db);
    let actions = |target: &'static str| {
        let directory = directory.clone();
        async move {
            directory
                .audit_log(Some(target))
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.record.action)
                .collect::<Vec<_>>()
        }
    };

    // Hold: entry 2 alone, then the rest of hanoi.gov.vn (2 is held already).
    assert_eq!(
        cli.run(&["queue", "hold", "2"]).ok().stdout,
        "1 entry held: 2\n"
    );
    assert_eq!(
        cli.run(&["queue", "hold", "2"]).ok().stdout,
        "queue entry 2 is already held: nothing to do\n"
    );
    assert_eq!(
        cli.run(&["queue", "hold", "--domain", "hanoi.gov.vn"])
            .ok()
            .stdout,
        "1 entry held: 4\n"
    );
    let entries = queue.entries().await.unwrap();
    let held: Vec<i64> = entries.iter().filter(|e| e.held).map(|e| e.id.0).collect();
    assert_eq!(held, [2, 3, 4]);
    assert_eq!(actions("queue:2").await, ["queue.hold"]);
    let record = &directory.audit_log(Some("queue:2")).await.unwrap()[0].record;
    assert!(record.actor.starts_with("admin:"), "{}", record.actor);
    let before: Value = serde_json::from_str(record.before.as_deref().unwrap()).unwrap();
    let after: Value = serde_json::from_str(record.after.as_deref().unwrap()).unwrap();
    assert_eq!(
        (&before["held"], &after["held"], &after["recipient"]),
        (&json!(false), &json!(true), &json!("vanphong@hanoi.gov.vn"))
    );

    // Release all: only the held ones change.
    assert_eq!(
        json_of(&cli.run(&["--json", "queue", "release", "--all"]).ok()),
        json!({ "action": "release", "entries": [2, 3, 4] })
    );
    assert!(queue.entries().await.unwrap().iter().all(|e| !e.held));
    assert_eq!(actions("queue:3").await, ["queue.hold", "queue.release"]);

    // Retry: entry 4 is due now (the CLI's clock is the system's).
    let before_retry = Clock::system().now();
    assert_eq!(
        cli.run(&["queue", "retry", "4"]).ok().stdout,
        "1 entry due now: 4\n"
    );
    let retried = queue.entry(QueueEntryId(4)).await.unwrap();
    assert!(
        (before_retry..=Clock::system().now()).contains(&retried.next_attempt_at),
        "{retried:?}"
    );
    assert_eq!(retried.attempts, 1, "a retry is not an attempt");
    assert_eq!(
        actions("queue:4").await,
        ["queue.hold", "queue.release", "queue.retry"]
    );

    // Delete: only with --yes; the body goes with the last entry holding it.
    fails(
        cli.run(&["queue", "delete", "2"]),
        2,
        "congvu-admin: refusing to delete queue entry 2 without --yes: the mail is not delivered \
         and its sender is not told; run `congvu-admin queue delete 2 --yes`, or \
         `congvu-admin queue hold 2` to keep it\n",
    );
    fails(
        cli.run(&["queue", "delete", "--domain", "mic.gov.vn"]),
        2,
        "congvu-admin: refusing to delete the queue entries for mic.gov.vn without --yes: the mail \
         is not delivered and its sender is not told; run `congvu-admin queue delete --domain mic.gov.vn --yes`, \
         or `congvu-admin queue hold --domain mic.gov.vn` to keep it\n",
    );
    assert_eq!(queue.entries().await.unwrap().len(), 4);
    let body = {
        let mut conn = store.read().await.unwrap();
        conn.body_by_hash(&BodyHash::of(OUTBOUND))
            .await
            .unwrap()
            .unwrap()
    };
    let holders = || {
        let store = store.clone();
        async move {
            store
                .read()
                .await
                .unwrap()
                .body_refcount(body)
                .await
                .unwrap()
        }
    };
    assert_eq!(holders().await, Some(4));
    assert_eq!(
        cli.run(&["queue", "delete", "2", "--yes"]).ok().stdout,
        "1 entry deleted: 2\n"
    );
    assert!(entry(&queue.entries().await.unwrap(), 2).is_none());
    assert_eq!(holders().await, Some(3));
    let log = directory.audit_log(Some("queue:2")).await.unwrap();
    let deleted = &log.last().unwrap().record;
    assert_eq!(
        (deleted.action.as_str(), deleted.after.as_deref()),
        ("queue.delete", None)
    );
    fails(
        cli.run(&["queue", "delete", "2", "--yes"]),
        1,
        "congvu-admin: queue entry 2 does not exist: see the entries with `congvu-admin queue list`\n",
    );
    assert_eq!(
        cli.run(&["queue", "delete", "--all", "--yes"]).ok().stdout,
        "3 entries deleted: 1, 3, 4\n"
    );
    assert_eq!(queue.entries().await.unwrap(), []);
    assert_eq!(holders().await, None, "the body was not released");
    assert_eq!(
        cli.run(&["queue", "retry", "--all"]).ok().stdout,
        "no queue entries to change: nothing to do\n"
    );

    // Usage errors: no selection, or two.
    bad_usage(cli.run(&["queue", "hold"]));
    bad_usage(cli.run(&["queue", "hold", "1", "--all"]));
    bad_usage(cli.run(&["queue", "release", "--domain", "mic.gov.vn", "--all"]));
    store.close().await;
}
