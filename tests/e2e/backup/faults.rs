//! Backups when things go wrong: a disk that fills while an archive is written or while a
//! restore writes the database (simulated with a file-size limit on `congvu-admin`, which
//! makes its writes fail as a full disk does), and a restore killed with SIGKILL midway. The
//! partial archive is removed, the database keeps no restored record (a new SQLite database is
//! not there at all: it is built as `NAME.restoring` and moved into place only once
//! complete), and running the restore again finishes it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use congvu_tests::{Backend, TestDb};

use crate::admin::{json_of, AdminCli, AdminRun};
use crate::store_suite::on_both_backends;

on_both_backends!(
    a_full_disk_leaves_no_archive_and_no_restored_records,
    a_restore_killed_midway_is_run_again,
);

const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A province with one official holding `messages` distinct messages of about 100 KiB.
fn province_with_mail(db: &TestDb, messages: usize) -> AdminCli {
    let cli = AdminCli::new(db).with_province();
    cli.run(&[
        "user",
        "add",
        "annv",
        "--name",
        "Nguyễn Văn An",
        "--agency",
        "stttt",
    ])
    .ok();
    let mut mbox = String::new();
    for n in 0..messages {
        mbox.push_str(&format!(
            "From - Mon Jan 15 08:{:02}:00 2018\nSubject: Công văn số {n}\nMessage-ID: <cv{n}@vinhphuc.gov.vn>\n\n",
            n % 60
        ));
        // An attachment's base64: it does not compress, so sizes are what they seem.
        for _ in 0..1400 {
            let line: String = (0..76)
                .map(|_| BASE64[rand::random_range(0..64)] as char)
                .collect();
            mbox.push_str(&line);
            mbox.push('\n');
        }
    }
    let path = db.dir.path().join("archive.mbox");
    std::fs::write(&path, mbox).unwrap();
    cli.run(&[
        "mailbox",
        "import",
        "annv",
        "--mbox",
        path.to_str().unwrap(),
    ])
    .ok();
    cli
}

/// `congvu-admin --config CONFIG args…` with its files limited to `kib` KiB: a write past
/// that fails with EFBIG, as one on a full disk fails with ENOSPC (SIGXFSZ is ignored, so the
/// process sees the error instead of being killed by it).
fn admin_limited(cli: &AdminCli, kib: u64, args: &[&str]) -> AdminRun {
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_e2e-congvu-admin"))
        .arg("--config")
        .arg(cli.dir.join("admin.toml"))
        .args(args)
        .current_dir(&cli.dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    AdminRun {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn officials(cli: &AdminCli) -> usize {
    json_of(&cli.run(&["--json", "user", "list"]).ok())
        .as_array()
        .unwrap()
        .len()
}

async fn a_full_disk_leaves_no_archive_and_no_restored_records(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = province_with_mail(&db, 30);
    let archive = db.dir.path().join("full.cvbak");
    let run = admin_limited(&cli, 256, &["backup", "create", archive.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("cannot write"), "{}", run.stderr);
    let left: Vec<_> = std::fs::read_dir(db.dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("full.cvbak"))
        .collect();
    assert!(left.is_empty(), "the partial archive stays: {left:?}");

    // With room, the same backup is written; restored onto a full disk (SQLite writes the
    // database itself) it fails and leaves nothing restored, and with room it succeeds.
    cli.run(&["backup", "create", archive.to_str().unwrap()])
        .ok();
    let Some(target) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let restorer = AdminCli::new(&target);
    let run = admin_limited(
        &restorer,
        1024,
        &["backup", "restore", archive.to_str().unwrap()],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    let place = sqlite_file(&target).unwrap();
    assert!(
        !place.exists(),
        "a failed restore created {}",
        place.display()
    );
    assert!(!restoring(&place).exists(), "the file being built stays");
    // Now the database exists, empty: the restore goes into it in one transaction.
    assert_eq!(officials(&restorer), 0, "nothing restored");
    restorer
        .run(&["backup", "restore", archive.to_str().unwrap()])
        .ok();
    assert_eq!(officials(&restorer), 1);
}

async fn a_restore_killed_midway_is_run_again(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = province_with_mail(&db, 120);
    let archive = db.dir.path().join("big.cvbak");
    cli.run(&["backup", "create", archive.to_str().unwrap()])
        .ok();
    let target = TestDb::new(backend).await.unwrap();
    let restorer = AdminCli::new(&target);
    let mut child = Command::new(env!("CARGO_BIN_EXE_e2e-congvu-admin"))
        .arg("--config")
        .arg(restorer.dir.join("admin.toml"))
        .args(["backup", "restore", archive.to_str().unwrap()])
        .current_dir(&restorer.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_writes(&mut child, &target).await;
    child.kill().unwrap();
    child.wait().unwrap();
    match sqlite_file(&target) {
        // A new SQLite database is not there until complete; the file being built is thrown
        // away by the next restore, which builds it again.
        Some(place) => {
            assert!(!place.exists(), "a killed restore left {}", place.display());
            assert!(restoring(&place).exists());
        }
        None => assert_eq!(officials(&restorer), 0, "a killed restore leaves no record"),
    }
    let done = restorer
        .run(&["--json", "backup", "restore", archive.to_str().unwrap()])
        .ok();
    assert_eq!(json_of(&done)["rows"]["mailbox_messages"], 120);
    if let Some(place) = sqlite_file(&target) {
        assert!(
            !restoring(&place).exists(),
            "the killed restore's file stays"
        );
        // The file format's write and read versions: 2 is WAL, the mode the server runs in.
        let header = std::fs::read(&place).unwrap();
        assert_eq!(
            header[18..20],
            [2, 2],
            "the restored database is not in WAL mode"
        );
    }
    let listed = restorer.run(&["--json", "user", "list"]).ok();
    assert_eq!(json_of(&listed)[0]["login"], "annv");
}

/// Waits until the restore has written rows (uncommitted) into the database, then returns;
/// panics if it finishes first, since then the kill would prove nothing.
async fn wait_for_writes(child: &mut Child, target: &TestDb) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the restore ended before it could be killed midway"
        );
        if written_bytes(target).await > 4 << 20 {
            return;
        }
        assert!(Instant::now() < deadline, "the restore wrote nothing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The SQLite database file of `target`; `None` on PostgreSQL.
fn sqlite_file(target: &TestDb) -> Option<PathBuf> {
    target.url.strip_prefix("sqlite://").map(PathBuf::from)
}

/// The file a restore builds a new SQLite database `place` in.
fn restoring(place: &Path) -> PathBuf {
    PathBuf::from(format!("{}.restoring", place.display()))
}

/// Bytes the restore has put into the database so far, committed or not: the SQLite file it
/// builds (or, restoring into an existing file, its WAL), or PostgreSQL's heap of message
/// bodies.
async fn written_bytes(target: &TestDb) -> u64 {
    if let Some(place) = sqlite_file(target) {
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
        return size(&restoring(&place)) + size(&place.with_extension("db-wal"));
    }
    use sqlx::Connection;
    let Ok(mut conn) = sqlx::PgConnection::connect(&target.url).await else {
        return 0;
    };
    let size: Option<i64> =
        sqlx::query_scalar("SELECT pg_total_relation_size(to_regclass('message_bodies'))")
            .fetch_one(&mut conn)
            .await
            .unwrap_or(None);
    let _ = conn.close().await;
    size.unwrap_or(0) as u64
}
