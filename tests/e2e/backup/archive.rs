//! `congvu-admin backup`: a backup taken while mail arrives over SMTP and APPEND over IMAP
//! restores into an empty database of the same engine and of the other one with every
//! acknowledged message byte for byte, and an IMAP client sees the same mailboxes (UIDs,
//! UIDVALIDITY, flags, HIGHESTMODSEQ). Damaged archives are caught and refused before
//! anything is written; so are a non-empty database and a newer schema. The server's own
//! backups rotate and show in `/metrics`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use congvu::clock::Clock;
use congvu::net::ListenerKind;
use congvu::server::RunningServer;
use congvu::store::Store;
use congvu_tests::imap::RawImap;
use congvu_tests::{Backend, TestDb};

use crate::admin::{json_of, AdminCli, AdminRun};
use crate::imap::fixture::{self, Province, Who, ANNV, NHUNG};
use crate::imap::{append, deliver};
use crate::store_suite::on_both_backends;

on_both_backends!(
    a_backup_taken_while_mail_flows_restores_on_either_engine,
    damaged_archives_are_named_and_never_restored,
    restore_refuses_a_database_with_records_and_a_newer_schema,
    an_archive_of_an_older_schema_restores_and_is_migrated,
    scheduled_backups_rotate_and_show_in_metrics,
    a_scheduled_backup_that_fails_is_counted,
);

/// The engine that is not `backend`.
fn other(backend: Backend) -> Backend {
    match backend {
        Backend::Sqlite => Backend::Postgres,
        Backend::Postgres => Backend::Sqlite,
    }
}

/// Runs the admin binary off the async runtime, so the server in this process keeps serving.
async fn admin(cli: &AdminCli, args: &[&str]) -> AdminRun {
    let config = cli.dir.join("admin.toml");
    let dir = cli.dir.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::admin::run_admin(&config, &dir, &args)
    })
    .await
    .unwrap()
}

/// Mail arriving while a backup runs: over the MX to An, APPENDed over IMAP by Nhung (some
/// \Seen, some \Flagged). Each message's Message-ID is recorded once acknowledged.
async fn traffic(p: &Province, count: usize, acknowledged: Arc<Mutex<Vec<String>>>) {
    let mut imap = crate::imap::logged_in(p, NHUNG).await;
    for n in 0..count {
        let id = format!("mx-{n}@example.org");
        let message = format!(
            "From: <sender@example.org>\r\nTo: <annv@vinhphuc.gov.vn>\r\nSubject: Công văn {n}\r\n\
             Message-ID: <{id}>\r\n\r\nNội dung {n}.\r\n{}\r\n",
            "Điều khoản thi hành.\r\n".repeat(n * 7 % 150)
        );
        deliver(p, &[ANNV.0], &message).await;
        acknowledged.lock().unwrap().push(id);
        let id = format!("append-{n}@vinhphuc.gov.vn");
        let message = format!("Subject: Dự thảo {n}\r\nMessage-ID: <{id}>\r\n\r\nBản {n}\r\n");
        let flags = if n % 2 == 0 {
            "(\\Seen) "
        } else {
            "(\\Flagged) "
        };
        let reply = append(&mut imap, "a", "INBOX", flags, message.as_bytes()).await;
        assert!(reply.last().unwrap().starts_with("a OK"), "{reply:?}");
        acknowledged.lock().unwrap().push(id);
    }
}

/// What an IMAP client sees of `who`'s INBOX: the SELECT answer's numbers and every message's
/// UID, flags, mod-sequence, date and size.
async fn client_view(server: &RunningServer, db: &TestDb, who: Who) -> Vec<String> {
    let addr = server.local_addr(ListenerKind::Imaps).unwrap();
    let (mut imap, _) = RawImap::connect_tls(addr, db).await;
    let login = imap
        .command("L", &format!("LOGIN {} {}", who.0, who.1))
        .await;
    assert!(login.last().unwrap().starts_with("L OK"), "{login:?}");
    let mut view: Vec<String> = imap
        .command("S", "SELECT INBOX (CONDSTORE)")
        .await
        .into_iter()
        .filter(|l| {
            l.contains("UIDVALIDITY")
                || l.contains("UIDNEXT")
                || l.contains("HIGHESTMODSEQ")
                || l.ends_with("EXISTS")
        })
        .collect();
    view.extend(
        imap.command("F", "UID FETCH 1:* (FLAGS MODSEQ INTERNALDATE RFC822.SIZE)")
            .await,
    );
    assert!(view.len() > 4, "{view:#?}");
    view
}

/// Every message of `login`'s INBOX as stored: (Message-ID line, bytes), by UID.
async fn stored(server: &RunningServer, login: &str) -> Vec<(String, Vec<u8>)> {
    let services = server.services();
    let official = services.directory.official(login).await.unwrap();
    let inbox = services.mailstore.mailboxes(official.id).await.unwrap();
    let inbox = inbox.iter().find(|m| m.name == "INBOX").unwrap();
    let mut out = Vec::new();
    for message in services.mailstore.messages(inbox.id).await.unwrap() {
        let bytes = services
            .mailstore
            .body(message.body_id)
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: <"))
            .map(|l| l.trim_end_matches('>').to_string())
            .unwrap_or_default();
        out.push((id, bytes));
    }
    out
}

/// A server over a restored database, with the province's clock and cheap hashing.
async fn serve(p: &Province, db: &TestDb) -> RunningServer {
    let mut config = congvu_tests::server::test_config(db);
    config.auth.argon2_memory_kib = 64;
    config.auth.argon2_iterations = 1;
    RunningServer::start_with_clock(&config, p.clock.clone())
        .await
        .unwrap()
}

async fn a_backup_taken_while_mail_flows_restores_on_either_engine(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let cli = AdminCli::new(&p.db);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let flowing = traffic(&p, 30, Arc::clone(&acknowledged));
    let during = cli.dir.join("during.cvbak");
    let backup = async {
        // Some mail first, then the backup while the rest arrives.
        while acknowledged.lock().unwrap().len() < 10 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let before: Vec<String> = acknowledged.lock().unwrap().clone();
        let run = admin(&cli, &["backup", "create", during.to_str().unwrap()]).await;
        (before, run)
    };
    let ((before, run), ()) = tokio::join!(backup, flowing);
    run.ok();
    assert!(acknowledged.lock().unwrap().len() == 60);

    // Restored, the backup taken under load holds every message acknowledged before it
    // started, byte for byte as the server stored it.
    let restored = TestDb::new(backend).await.unwrap();
    admin(
        &AdminCli::new(&restored),
        &["backup", "restore", during.to_str().unwrap()],
    )
    .await
    .ok();
    let server = serve(&p, &restored).await;
    for login in [ANNV.0, NHUNG.0] {
        let original = stored(&p.server, login).await;
        let copy = stored(&server, login).await;
        assert!(copy.len() <= original.len());
        assert_eq!(
            copy[..],
            original[..copy.len()],
            "{login}: a prefix of the mailbox, exactly"
        );
        for id in before.iter() {
            let expected = login == ANNV.0 && id.starts_with("mx-")
                || login == NHUNG.0 && id.starts_with("append-");
            if expected {
                assert!(
                    copy.iter().any(|(m, _)| m == id),
                    "{login}: {id} acknowledged before the backup, missing"
                );
            }
        }
    }
    server.stop().await;

    // Quiet now: flags change, then a second backup; restored on both engines, a client sees
    // exactly what it saw.
    let mut imap = crate::imap::logged_in(&p, ANNV).await;
    imap.command("s", "SELECT INBOX").await;
    let changed = imap
        .command("f", "STORE 2:4 +FLAGS (\\Answered $Label1)")
        .await;
    assert!(changed.last().unwrap().starts_with("f OK"), "{changed:?}");
    let quiet = cli.dir.join("quiet.cvbak");
    let created = admin(
        &cli,
        &["--json", "backup", "create", quiet.to_str().unwrap()],
    )
    .await
    .ok();
    let summary = json_of(&created);
    assert_eq!(summary["rows"]["officials"], 5, "{summary}");
    let before_an = client_view(&p.server, &p.db, ANNV).await;
    let before_nhung = client_view(&p.server, &p.db, NHUNG).await;
    for engine in [backend, other(backend)] {
        let Some(target) = TestDb::new(engine).await else {
            continue;
        };
        let restored = admin(
            &AdminCli::new(&target),
            &["--json", "backup", "restore", quiet.to_str().unwrap()],
        )
        .await
        .ok();
        assert_eq!(
            json_of(&restored)["rows"]["mailbox_messages"],
            summary["rows"]["mailbox_messages"]
        );
        if engine == Backend::Postgres {
            // PostgreSQL plans for the restored tables' sizes, not for empty ones.
            assert_eq!(
                target.planner_rows("mailbox_messages").await,
                summary["rows"]["mailbox_messages"].as_i64().unwrap()
            );
        }
        let server = serve(&p, &target).await;
        assert_eq!(
            client_view(&server, &target, ANNV).await,
            before_an,
            "{engine:?}"
        );
        assert_eq!(
            client_view(&server, &target, NHUNG).await,
            before_nhung,
            "{engine:?}"
        );
        for login in [ANNV.0, NHUNG.0] {
            assert_eq!(stored(&server, login).await, stored(&p.server, login).await);
        }
        // New mail after the restore takes new ids and the next UID.
        deliver_to(&server, ANNV.0).await;
        let view = client_view(&server, &target, ANNV).await;
        assert!(view.len() == before_an.len() + 1, "{view:#?}");
        server.stop().await;
    }
}

/// One more message over the MX of `server`.
async fn deliver_to(server: &RunningServer, login: &str) {
    let addr = server.local_addr(ListenerKind::Smtp).unwrap();
    let (mut smtp, _) = congvu_tests::smtp::RawSmtp::connect(addr).await;
    assert_eq!(smtp.command("EHLO relay.example.org").await.code, 250);
    let to = format!("{login}@vinhphuc.gov.vn");
    let replies = fixture::send(
        &mut smtp,
        "sender@example.org",
        &[&to],
        "Subject: sau\r\n\r\nx\r\n",
    )
    .await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
}

/// A backup of the province with a few messages.
async fn small_backup(p: &Province, name: &str) -> PathBuf {
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    traffic(p, 3, acknowledged).await;
    let path = p.db.dir.path().join(name);
    admin(
        &AdminCli::new(&p.db),
        &["backup", "create", path.to_str().unwrap()],
    )
    .await
    .ok();
    path
}

/// Runs `backup verify` and `backup restore` of `archive` into a fresh database; both must
/// fail naming `problem`, and the database must stay empty.
async fn refused(backend: Backend, archive: &Path, problem: &str) {
    let verify = admin(
        &AdminCli::new(&TestDb::new(backend).await.unwrap()),
        &["backup", "verify", archive.to_str().unwrap()],
    )
    .await;
    assert_eq!(verify.code, Some(1), "{verify:?}");
    assert!(
        verify.stderr.contains(problem),
        "{problem:?} not in {:?}",
        verify.stderr
    );
    let target = TestDb::new(backend).await.unwrap();
    let cli = AdminCli::new(&target);
    let restore = admin(&cli, &["backup", "restore", archive.to_str().unwrap()]).await;
    assert_eq!(restore.code, Some(1), "{restore:?}");
    assert!(
        restore.stderr.contains(problem),
        "{problem:?} not in {:?}",
        restore.stderr
    );
    let listed = admin(&cli, &["--json", "user", "list"]).await.ok();
    assert_eq!(json_of(&listed), serde_json::json!([]), "nothing restored");
}

async fn damaged_archives_are_named_and_never_restored(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let good = small_backup(&p, "good.cvbak").await;
    let verified = admin(
        &AdminCli::new(&p.db),
        &["backup", "verify", good.to_str().unwrap()],
    )
    .await
    .ok();
    assert!(verified.stdout.contains("verified"), "{}", verified.stdout);
    let bytes = std::fs::read(&good).unwrap();

    // A flipped byte inside the message bodies' part.
    let bodies = find(&bytes, b"message_bodies.cbor.zst").expect("a bodies part");
    let mut flipped = bytes.clone();
    flipped[bodies + 1024] ^= 0x20;
    let path = p.db.dir.path().join("flipped.cvbak");
    std::fs::write(&path, &flipped).unwrap();
    refused(backend, &path, "message_bodies.cbor.zst").await;

    // Cut short: the manifest is gone.
    let path = p.db.dir.path().join("truncated.cvbak");
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
    refused(backend, &path, "is damaged").await;

    // Not ours at all: a tar of something else.
    let path = p.db.dir.path().join("other.tar");
    let status = std::process::Command::new("tar")
        .args([
            "-cf",
            path.to_str().unwrap(),
            "-C",
            p.db.dir.path().to_str().unwrap(),
            "admin.toml",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    refused(backend, &path, "is not a congvu backup").await;

    // A message whose body the database lost (foreign keys off, an edit by hand): the
    // backup is written, and verify names the message and the body.
    lose_a_body(&p).await;
    let lost = p.db.dir.path().join("lost.cvbak");
    admin(
        &AdminCli::new(&p.db),
        &["backup", "create", lost.to_str().unwrap()],
    )
    .await
    .ok();
    refused(backend, &lost, "is not in message_bodies").await;
}

/// Deletes the body of An's first message behind the database's back.
async fn lose_a_body(p: &Province) {
    let official = p.directory().official(ANNV.0).await.unwrap();
    let services = p.server.services();
    let inbox = services.mailstore.mailboxes(official.id).await.unwrap();
    let inbox = inbox.iter().find(|m| m.name == "INBOX").unwrap();
    let body = services.mailstore.messages(inbox.id).await.unwrap()[0].body_id;
    p.db.execute_unchecked(&format!("DELETE FROM message_bodies WHERE id = {}", body.0))
        .await;
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn restore_refuses_a_database_with_records_and_a_newer_schema(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let good = small_backup(&p, "good.cvbak").await;
    // Into the very database it came from.
    let run = admin(
        &AdminCli::new(&p.db),
        &["backup", "restore", good.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("the database is not empty"),
        "{}",
        run.stderr
    );

    // The same archive, its manifest claiming a schema from the future.
    let newer = p.db.dir.path().join("newer.cvbak");
    let script = format!(
        "import json, tarfile, io\n\
         src = tarfile.open({good:?}); dst = tarfile.open({newer:?}, 'w')\n\
         for m in src.getmembers():\n\
         \x20   data = src.extractfile(m).read()\n\
         \x20   if m.name == 'manifest.json':\n\
         \x20       doc = json.loads(data); doc['schema_version'] += 1; data = json.dumps(doc).encode()\n\
         \x20       m.size = len(data)\n\
         \x20   dst.addfile(m, io.BytesIO(data))\n\
         dst.close()\n",
        good = good.display().to_string(),
        newer = newer.display().to_string(),
    );
    let status = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .status()
        .expect("python3 rewrites the manifest");
    assert!(status.success());
    let target = TestDb::new(backend).await.unwrap();
    let run = admin(
        &AdminCli::new(&target),
        &["backup", "restore", newer.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("is newer than this congvu's"),
        "{}",
        run.stderr
    );
}

/// The schema before the last migration (0011, legacy password hashes), as an older congvu
/// left it.
const OLDER_SCHEMA: i64 = 10;

/// An archive an older congvu wrote (its database at schema 10) restores into this one: the
/// rows go into the schema they were taken at, then the newer migrations run over them.
async fn an_archive_of_an_older_schema_restores_and_is_migrated(backend: Backend) {
    let source = TestDb::new(backend).await.unwrap();
    let store = Store::open_unmigrated(&source.store_options())
        .await
        .unwrap();
    store.migrate_up_to(OLDER_SCHEMA).await.unwrap();
    for sql in [
        "INSERT INTO domains (name, is_primary, default_quota_bytes, max_message_bytes, \
         address_rule, created_at, updated_at) \
         VALUES ('vinhphuc.gov.vn', TRUE, 1073741824, 26214400, '{given}{initials}', 1, 1)",
        "INSERT INTO agencies (uuid, code, name, level, domain_id, created_at, updated_at) \
         SELECT '6f1c1b2e-0000-4000-8000-000000000001', 'stttt', \
         'Sở Thông tin và Truyền thông', 'department', id, 1, 1 FROM domains",
        "INSERT INTO officials (uuid, login, family_name, middle_name, given_name, \
         display_name, agency_id, status, password_cost, quota_bytes, created_at, updated_at) \
         SELECT '6f1c1b2e-0000-4000-8000-000000000002', 'annv', 'Nguyễn', 'Văn', 'An', \
         'Nguyễn Văn An', id, 'active', 'full', 1073741824, 1, 1 FROM agencies",
        "INSERT INTO addresses (address, domain_id, official_id, is_primary, created_at) \
         SELECT 'annv@vinhphuc.gov.vn', d.id, o.id, TRUE, 1 FROM domains d, officials o",
    ] {
        source.execute_unchecked(sql).await;
    }
    let archive = source.dir.path().join("older.cvbak");
    congvu::backup::create(&store, &archive, &Clock::system(), &|_| {})
        .await
        .unwrap();
    store.close().await;
    let manifest = congvu::backup::read_manifest(&archive).unwrap();
    assert_eq!(manifest.schema_version, OLDER_SCHEMA);

    let target = TestDb::new(backend).await.unwrap();
    let cli = AdminCli::new(&target);
    let restored = admin(
        &cli,
        &["--json", "backup", "restore", archive.to_str().unwrap()],
    )
    .await
    .ok();
    assert_eq!(json_of(&restored)["rows"]["officials"], 1);
    // Opened without migrating: the restore itself brought the database up to date.
    let store = Store::open_unmigrated(&target.store_options())
        .await
        .unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        store.latest_schema_version()
    );
    assert!(store.latest_schema_version() > OLDER_SCHEMA);
    store.close().await;
    let listed = admin(&cli, &["--json", "user", "list"]).await.ok();
    assert_eq!(json_of(&listed)[0]["login"], "annv", "{}", listed.stdout);
    assert_eq!(json_of(&listed)[0]["address"], "annv@vinhphuc.gov.vn");
    assert_eq!(json_of(&listed)[0]["display_name"], "Nguyễn Văn An");
}

async fn scheduled_backups_rotate_and_show_in_metrics(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let configured = backups.clone();
    let Some(p) = Province::start_with(backend, move |config| {
        config.backup.dir = Some(configured);
        config.backup.every_hours = Duration::from_secs(3600);
        config.backup.keep = 2;
    })
    .await
    else {
        return;
    };
    let names = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&backups)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.retain(|n| n.ends_with(".cvbak"));
        names
    };
    let mut seen = Vec::new();
    for hour in 0..3 {
        if hour > 0 {
            p.clock.advance(3600);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let now = names();
            if now.last().is_some_and(|n| !seen.contains(n)) {
                seen.push(now.last().unwrap().clone());
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no backup for hour {hour}: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Three written, two kept: the newest.
    assert_eq!(names(), seen[1..].to_vec());
    let listed = admin(
        &AdminCli::new(&p.db),
        &["--json", "backup", "list", backups.to_str().unwrap()],
    )
    .await
    .ok();
    let listed = json_of(&listed);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed[1]["officials"], 5, "{listed}");
    let http = p.addr(ListenerKind::Http);
    let metrics = reqwest::get(format!("http://{http}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The metrics are the process's, shared with the other engine's run of this test: the
    // last success is one of the province's hours, and the size that of an archive.
    let value = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} ")));
        line.unwrap_or_else(|| panic!("no {name} in {metrics}"))[name.len() + 1..]
            .parse()
            .unwrap()
    };
    let last = value("congvu_backup_last_success_timestamp_seconds") as i64;
    assert!(
        (fixture::START.0..=fixture::START.0 + 2 * 3600).contains(&last),
        "{last}"
    );
    assert!(value("congvu_backup_last_size_bytes") > 10_000.0);
}

async fn a_scheduled_backup_that_fails_is_counted(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // A file where the directory should be: no backup can be written there.
    let blocked = dir.path().join("not-a-directory");
    std::fs::write(&blocked, b"").unwrap();
    let configured = blocked.clone();
    let Some(p) = Province::start_with(backend, move |config| {
        config.backup.dir = Some(configured);
    })
    .await
    else {
        return;
    };
    let http = p.addr(ListenerKind::Http);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = reqwest::get(format!("http://{http}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let failures = metrics
            .lines()
            .find_map(|l| l.strip_prefix("congvu_backup_failures_total "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if failures >= 1.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        std::fs::read(&blocked).unwrap(),
        b"",
        "the file is left alone"
    );
}
