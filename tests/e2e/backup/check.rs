//! `congvu-admin check [--repair]`: real mail delivered through the mail store and the queue,
//! then each kind of inconsistency planted with SQL straight into the database (foreign keys
//! off where a body must go missing). The check names every planted problem and exits 1;
//! the repair fixes what can be rebuilt in one audited transaction, leaves mail whose body is
//! gone for a restore, and a second check shows exactly what is left.

use std::str::FromStr;

use congvu::clock::Clock;
use congvu::directory::{Directory, Official};
use congvu::mailstore::{BodyHash, BodyId, DeliveredCopy, MailboxId, Mailstore, MessageFlags};
use congvu::queue::Queue;
use congvu_tests::{Backend, TestDb};
use serde_json::{json, Value};
use sqlx::{ConnectOptions, Connection};

use crate::admin::{json_of, AdminCli, AdminRun};

crate::backend_tests!(
    a_clean_database_checks_clean,
    planted_inconsistencies_are_named_then_repaired,
    mail_whose_body_is_gone_is_left_for_a_restore,
);

/// Every kind the check reports, with no problem.
fn no_counts() -> Value {
    json!({
        "body-refcount": 0, "orphaned-body": 0, "uidnext": 0, "highestmodseq": 0,
        "used-bytes": 0, "message-without-body": 0, "queue-entry-without-body": 0,
        "message-size": 0,
    })
}

/// `no_counts()` with `counts` set.
fn counts(set: &[(&str, u64)]) -> Value {
    let mut all = no_counts();
    for (kind, n) in set {
        all[*kind] = json!(n);
    }
    all
}

/// A short message, CRLF line ends as stored.
fn mail(subject: &str, text: &str) -> Vec<u8> {
    format!(
        "From: vanphong@vinhphuc.gov.vn\r\nTo: annv@vinhphuc.gov.vn\r\nSubject: {subject}\r\n\
         Message-ID: <{}@vinhphuc.gov.vn>\r\n\r\n{text}\r\n",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

fn hex(hash: &BodyHash) -> String {
    hash.0.iter().map(|b| format!("{b:02x}")).collect()
}

/// Two officials with mail: a circular both hold, letters of their own, a folder, and one
/// message waiting in the outbound queue.
struct Province {
    db: TestDb,
    cli: AdminCli,
    mailstore: Mailstore,
    queue: Queue,
    directory: Directory,
    annv_inbox: MailboxId,
    annv_archive: MailboxId,
    thuy_inbox: MailboxId,
    thuy_drafts: MailboxId,
    circular: BodyId,
    circular_hash: BodyHash,
    /// thuyltt's own letter: UID 2 of her INBOX.
    letter: Vec<u8>,
}

async fn province(backend: Backend) -> Option<Province> {
    let db = TestDb::new(backend).await?;
    let cli = AdminCli::new(&db).with_province();
    for (login, name) in [("annv", "Nguyễn Văn An"), ("thuyltt", "Lê Thị Thu Thủy")] {
        cli.run(&["user", "add", login, "--name", name, "--agency", "stttt"])
            .ok();
    }
    let store = db.open_store().await;
    let directory = Directory::new(store.clone(), Clock::system());
    let mailstore = Mailstore::new(store.clone(), Clock::system());
    let queue = Queue::new(store, Clock::system());
    let annv = directory.official("annv").await.unwrap();
    let thuy = directory.official("thuyltt").await.unwrap();
    mailstore.create_folder(&annv, "Lưu trữ").await.unwrap();
    let annv_inbox = folder_id(&mailstore, &annv, "INBOX").await;
    let annv_archive = folder_id(&mailstore, &annv, "Lưu trữ").await;
    let thuy_inbox = folder_id(&mailstore, &thuy, "INBOX").await;
    let thuy_drafts = folder_id(&mailstore, &thuy, "Drafts").await;

    let circular = mail("Cong van 12", "Kính gửi các phòng ban.");
    let copies = deliver(&mailstore, &[annv_inbox, thuy_inbox], &circular).await;
    let circular_body = body_of(&mailstore, copies[0]).await;
    deliver(
        &mailstore,
        &[annv_inbox],
        &mail("Lich hop", "9h sáng thứ Hai."),
    )
    .await;
    deliver(
        &mailstore,
        &[annv_inbox],
        &mail("Bao cao", "Số liệu quý III."),
    )
    .await;
    deliver(&mailstore, &[annv_archive], &mail("Luu 2018", "Hồ sơ cũ.")).await;
    let letter = mail("Thu rieng", "Chị Thủy đọc giúp em.");
    deliver(&mailstore, &[thuy_inbox], &letter).await;
    queue
        .enqueue(
            "annv@vinhphuc.gov.vn",
            &["vanthu@hanoi.gov.vn".to_string()],
            &mail("Gui Ha Noi", "Công văn đi."),
        )
        .await
        .unwrap();
    Some(Province {
        db,
        cli,
        mailstore,
        queue,
        directory,
        annv_inbox,
        annv_archive,
        thuy_inbox,
        thuy_drafts,
        circular: circular_body,
        circular_hash: BodyHash::of(&circular),
        letter,
    })
}

async fn folder_id(mailstore: &Mailstore, official: &Official, name: &str) -> MailboxId {
    let mailbox = mailstore.mailbox_named(official, name).await.unwrap();
    mailbox.unwrap_or_else(|| panic!("no folder {name}")).id
}

async fn deliver(mailstore: &Mailstore, to: &[MailboxId], message: &[u8]) -> Vec<DeliveredCopy> {
    mailstore
        .deliver(to, message, MessageFlags::default())
        .await
        .unwrap()
}

async fn body_of(mailstore: &Mailstore, copy: DeliveredCopy) -> BodyId {
    let messages = mailstore.messages(copy.mailbox_id).await.unwrap();
    messages.iter().find(|m| m.uid == copy.uid).unwrap().body_id
}

/// A connection straight to the test's database that does not enforce foreign keys, to
/// plant what congvu itself never writes.
enum Planter {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Planter {
    async fn open(db: &TestDb) -> Planter {
        if db.url.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .foreign_keys(false);
            Planter::Sqlite(options.connect().await.unwrap())
        } else {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            // Replica mode skips the triggers that enforce foreign keys (the test user is a
            // superuser).
            sqlx::query("SET session_replication_role = replica")
                .execute(&mut conn)
                .await
                .unwrap();
            Planter::Postgres(conn)
        }
    }

    async fn run(&mut self, sql: &str) {
        match self {
            Planter::Sqlite(c) => sqlx::query(sql).execute(c).await.map(|_| ()),
            Planter::Postgres(c) => sqlx::query(sql).execute(c).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The one integer `sql` returns.
    async fn number(&mut self, sql: &str) -> i64 {
        match self {
            Planter::Sqlite(c) => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await,
            Planter::Postgres(c) => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// The cells of each table row in `stdout` (columns are two or more spaces apart).
fn rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[track_caller]
fn assert_row(run: &AdminRun, row: &[&str]) {
    let row: Vec<String> = row.iter().map(|c| c.to_string()).collect();
    assert!(
        rows(&run.stdout).contains(&row),
        "no row {row:?} in:\n{}",
        run.stdout
    );
}

fn check(p: &Province, args: &[&str]) -> AdminRun {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    p.cli.run(&all)
}

fn check_json(p: &Province, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["--json", "check"];
    all.extend_from_slice(args);
    let run = p.cli.run(&all);
    (run.code, json_of(&run))
}

/// Bodies, mailboxes, messages and queue entries of [`province`]: six bodies (the circular
/// once), five default folders per official plus `Lưu trữ`, six messages, one queue entry.
const CHECKED: &str = "Checked 6 message bodies, 11 mailboxes, 6 messages and 1 queue entry.";

async fn a_clean_database_checks_clean(backend: Backend) {
    let Some(p) = province(backend).await else {
        return;
    };
    let run = check(&p, &[]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (
            Some(0),
            format!("{CHECKED}\nThe database is consistent.\n").as_str(),
            ""
        )
    );

    let (code, report) = check_json(&p, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        report,
        json!({
            "clean": true, "problems": 0,
            "examined": {"bodies": 6, "mailboxes": 11, "messages": 6, "queue_entries": 1},
            "counts": no_counts(), "findings": [],
        })
    );

    let run = check(&p, &["--repair"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (
            Some(0),
            format!("{CHECKED}\nThe database is consistent: nothing to repair.\n").as_str()
        )
    );
    // Nothing changed, so nothing is recorded.
    assert!(p
        .directory
        .audit_log(Some("store"))
        .await
        .unwrap()
        .is_empty());
}

async fn planted_inconsistencies_are_named_then_repaired(backend: Backend) {
    let Some(p) = province(backend).await else {
        return;
    };
    // A message whose queue entry vanished without its reference (a crash between the two
    // writes of an older build): its body is held by nothing.
    let orphan = mail("Da gui", "Đã gửi xong.");
    p.queue
        .enqueue("annv@vinhphuc.gov.vn", &["x@hanoi.gov.vn".into()], &orphan)
        .await
        .unwrap();
    let mut db = Planter::open(&p.db).await;
    let orphan_id = db.number("SELECT MAX(id) FROM message_bodies").await;
    db.run(&format!(
        "DELETE FROM queue_entries WHERE body_id = {orphan_id}"
    ))
    .await;
    db.run(&format!(
        "UPDATE message_bodies SET refcount = 7 WHERE id = {}",
        p.circular.0
    ))
    .await;
    db.run(&format!(
        "UPDATE mailboxes SET uidnext = 2 WHERE id = {}",
        p.annv_inbox.0
    ))
    .await;
    db.run(&format!(
        "UPDATE mailboxes SET highestmodseq = 1 WHERE id = {}",
        p.thuy_inbox.0
    ))
    .await;
    db.run(&format!(
        "UPDATE mailboxes SET used_bytes = 999999 WHERE id = {}",
        p.annv_archive.0
    ))
    .await;
    // Her INBOX's usage now disagrees with the sizes too, until the size is repaired.
    db.run(&format!(
        "UPDATE mailbox_messages SET size = 5 WHERE mailbox_id = {} AND uid = 2",
        p.thuy_inbox.0
    ))
    .await;

    let run = check(&p, &[]);
    assert_eq!(run.code, Some(1), "stdout:\n{}", run.stdout);
    assert_eq!(
        run.stderr,
        "congvu-admin: found 7 inconsistencies in the database: 7 can be fixed with \
         `congvu-admin check --repair`\n"
    );
    let (circular, thuy_inbox) = (p.circular.0.to_string(), p.thuy_inbox.0.to_string());
    let circular_size = p
        .mailstore
        .body(p.circular)
        .await
        .unwrap()
        .unwrap()
        .len()
        .to_string();
    let circular_hex = hex(&p.circular_hash);
    assert_row(&run, &[&circular, &circular_hex, &circular_size, "7", "2"]);
    let orphan_size = orphan.len().to_string();
    let orphan_hex = hex(&BodyHash::of(&orphan));
    assert_row(
        &run,
        &[&orphan_id.to_string(), &orphan_hex, &orphan_size, "1", "0"],
    );
    assert_row(
        &run,
        &[&p.annv_inbox.0.to_string(), "annv", "INBOX", "2", "3"],
    );
    assert_row(&run, &[&thuy_inbox, "thuyltt", "INBOX", "1", "3"]);
    let archive_bytes = mail("Luu 2018", "Hồ sơ cũ.").len().to_string();
    assert_row(
        &run,
        &[
            &p.annv_archive.0.to_string(),
            "annv",
            "Lưu trữ",
            "999999",
            &archive_bytes,
        ],
    );
    let letter = p.letter.len() as i64;
    let circular_len = circular_size.parse::<i64>().unwrap();
    let (before, after) = (circular_len + letter, circular_len + 5);
    assert_row(
        &run,
        &[
            &thuy_inbox,
            "thuyltt",
            "INBOX",
            &before.to_string(),
            &after.to_string(),
        ],
    );
    let letter_body = p.mailstore.messages(p.thuy_inbox).await.unwrap()[1]
        .body_id
        .0;
    assert_row(
        &run,
        &[
            &thuy_inbox,
            "thuyltt",
            "INBOX",
            "2",
            &letter_body.to_string(),
            "5",
            &letter.to_string(),
        ],
    );
    for kind in [
        "body-refcount (1)",
        "orphaned-body (1)",
        "uidnext (1)",
        "highestmodseq (1)",
        "used-bytes (2)",
        "message-size (1)",
    ] {
        assert!(run.stdout.contains(kind), "no {kind} in:\n{}", run.stdout);
    }

    let planted = counts(&[
        ("body-refcount", 1),
        ("orphaned-body", 1),
        ("uidnext", 1),
        ("highestmodseq", 1),
        ("used-bytes", 2),
        ("message-size", 1),
    ]);
    let (code, report) = check_json(&p, &[]);
    assert_eq!(
        (code, &report["clean"], &report["problems"]),
        (Some(1), &json!(false), &json!(7))
    );
    assert_eq!(report["counts"], planted);
    let refcount = &report["findings"][0];
    assert_eq!(
        (&refcount["kind"], &refcount["examples"][0]),
        (
            &json!("body-refcount"),
            &json!({"body": p.circular.0, "sha256": circular_hex, "size": circular_len,
                    "refcount": 7, "holders": 2})
        )
    );

    // Sizes first: her INBOX's usage is right again once its size is, so one usage is fixed.
    let (code, repaired) = check_json(&p, &["--repair"]);
    assert_eq!(code, Some(0), "{repaired:#}");
    assert_eq!(
        (&repaired["clean"], &repaired["audited"], &repaired["fixed"]),
        (
            &json!(true),
            &json!(true),
            &json!({"message-size": 1, "used-bytes": 1, "uidnext": 1, "highestmodseq": 1,
                    "orphaned-body": 1, "body-refcount": 1})
        )
    );
    assert_eq!(repaired["found"]["counts"], planted);
    assert_eq!(repaired["left"]["counts"], no_counts());

    let run = check(&p, &[]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (
            Some(0),
            format!("{CHECKED}\nThe database is consistent.\n").as_str()
        )
    );
    assert_repaired(&p, &mut db, orphan_id, letter).await;

    let log = p.directory.audit_log(Some("store")).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    let record = &log[0].record;
    assert_eq!(record.action, "store.repair");
    assert!(record.actor.starts_with("admin:"), "{}", record.actor);
    let summary: Value = serde_json::from_str(record.after.as_deref().unwrap()).unwrap();
    assert_eq!(summary["fixed"], repaired["fixed"]);
    assert_eq!(summary["left"], json!({}));
}

/// The values the repair wrote, read back through the mail store and the tables.
async fn assert_repaired(p: &Province, db: &mut Planter, orphan: i64, letter: i64) {
    let refcount = format!(
        "SELECT refcount FROM message_bodies WHERE id = {}",
        p.circular.0
    );
    assert_eq!(db.number(&refcount).await, 2);
    let gone = format!("SELECT COUNT(*) FROM message_bodies WHERE id = {orphan}");
    assert_eq!(db.number(&gone).await, 0);
    let inbox = p.mailstore.mailbox(p.annv_inbox).await.unwrap();
    assert_eq!(inbox.uidnext.0, 4);
    let thuy = p.mailstore.messages(p.thuy_inbox).await.unwrap();
    let top = thuy.iter().map(|m| m.modseq).max().unwrap();
    let thuy_inbox = p.mailstore.mailbox(p.thuy_inbox).await.unwrap();
    assert_eq!(thuy_inbox.highestmodseq, top);
    assert_eq!(thuy[1].size, letter as u64);
    let annv_bytes: u64 = p
        .mailstore
        .messages(p.annv_archive)
        .await
        .unwrap()
        .iter()
        .map(|m| m.size)
        .sum();
    let used = format!(
        "SELECT used_bytes FROM mailboxes WHERE id = {}",
        p.annv_archive.0
    );
    assert_eq!(db.number(&used).await, annv_bytes as i64);
    // The repaired counters are the ones mail goes on with.
    let next = deliver(&p.mailstore, &[p.annv_inbox], &mail("Sau sua", "Tiếp tục.")).await;
    assert_eq!(next[0].uid.0, 4);
}

async fn mail_whose_body_is_gone_is_left_for_a_restore(backend: Backend) {
    let Some(p) = province(backend).await else {
        return;
    };
    let mut db = Planter::open(&p.db).await;
    let entry = db
        .number(
            "INSERT INTO queue_entries (body_id, sender, recipient, recipient_domain, \
             next_attempt_at, created_at) VALUES (999999, 'annv@vinhphuc.gov.vn', \
             'lost@hanoi.gov.vn', 'hanoi.gov.vn', 0, 0) RETURNING id",
        )
        .await;
    db.run(&format!(
        "INSERT INTO mailbox_messages (mailbox_id, uid, body_id, internal_date, size) \
         VALUES ({}, 1, 999998, 0, 0)",
        p.thuy_drafts.0
    ))
    .await;
    db.run(&format!(
        "UPDATE mailboxes SET uidnext = 2 WHERE id = {}",
        p.thuy_drafts.0
    ))
    .await;
    db.run(&format!(
        "UPDATE message_bodies SET refcount = 3 WHERE id = {}",
        p.circular.0
    ))
    .await;

    let run = check(&p, &[]);
    assert_eq!(run.code, Some(1), "stdout:\n{}", run.stdout);
    assert_eq!(
        run.stderr,
        "congvu-admin: found 3 inconsistencies in the database: 1 can be fixed with \
         `congvu-admin check --repair`; 2 (mail whose body is gone) need a restore from backup\n"
    );
    let drafts = p.thuy_drafts.0.to_string();
    assert_row(
        &run,
        &[&drafts, "thuyltt", "Drafts", "1", "999998", "0", "gone"],
    );
    assert_row(&run, &[&entry.to_string(), "999999", "lost@hanoi.gov.vn"]);
    assert!(
        run.stdout.contains("restore it from a backup"),
        "{}",
        run.stdout
    );

    let run = check(&p, &["--repair"]);
    assert_eq!(run.code, Some(1), "stdout:\n{}", run.stdout);
    assert_eq!(
        run.stderr,
        "congvu-admin: 2 inconsistencies are left that a repair cannot fix: mail whose body \
         is gone from the database; restore it from a backup\n"
    );
    assert_row(
        &run,
        &[
            "body-refcount",
            "1",
            "1",
            "0",
            "the count is set to the number of holders",
        ],
    );
    assert_row(
        &run,
        &[&drafts, "thuyltt", "Drafts", "1", "999998", "0", "gone"],
    );
    assert_eq!(p.directory.audit_log(Some("store")).await.unwrap().len(), 1);

    let (code, left) = check_json(&p, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        left["counts"],
        counts(&[("message-without-body", 1), ("queue-entry-without-body", 1)])
    );
    let examples: Vec<&Value> = left["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["examples"][0])
        .collect();
    assert_eq!(
        examples,
        [
            &json!({"mailbox": p.thuy_drafts.0, "login": "thuyltt", "folder": "Drafts", "uid": 1,
                    "body": 999998, "size": 0, "body_size": null}),
            &json!({"queue_entry": entry, "body": 999999, "recipient": "lost@hanoi.gov.vn"}),
        ]
    );
    // The mail that could not be rebuilt is still there for the restore to replace.
    let held = format!("SELECT COUNT(*) FROM queue_entries WHERE id = {entry}");
    assert_eq!(db.number(&held).await, 1);
}
