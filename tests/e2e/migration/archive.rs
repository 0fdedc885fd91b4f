//! `congvu-admin mailbox import` with the archives officials really keep: a Thunderbird mbox
//! file (bare LF line ends, `X-Mozilla-Status`, a quoted `>From ` line, a message marked
//! deleted) and a Dovecot Maildir with Maildir++ subfolders in modified UTF-7, keyword
//! letters and file times as received dates. What lands is read back through the mail
//! store: folders, bytes (CRLF), dates, flags, keywords; a second run adds nothing.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use congvu::clock::{Clock, UnixTime};
use congvu::directory::Directory;
use congvu::mailstore::{MailboxRole, Mailstore, MessageFlags};
use congvu_tests::{Backend, TestDb};
use serde_json::json;

use crate::admin::{json_of, AdminCli};
use crate::store_suite::on_both_backends;

on_both_backends!(
    a_thunderbird_mbox_arrives_with_dates_and_flags_once,
    a_maildir_arrives_folder_by_folder_with_keywords_once,
    archives_that_cannot_be_imported_are_named,
);

/// PostgreSQL plans every statement from its tables' statistics, and a mailbox an import
/// just grew must not be read with plans made for the empty one it was (reading a
/// 400,000-message list sorted the whole mailbox for every batch of it): the import ends by
/// gathering them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    congvu_skip_postgres,
    ignore = "CONGVU_TEST_SKIP_POSTGRES=1: the PostgreSQL half is not run"
)]
async fn an_import_into_postgresql_leaves_its_planner_knowing_the_messages() {
    let db = TestDb::new(Backend::Postgres).await.unwrap();
    let cli = cli_with_annv(&db);
    assert!(
        db.planner_rows("mailbox_messages").await < 1,
        "gathered before any import"
    );
    let mbox = cli.dir.join("Cong van.mbox");
    let letters: String = (0..40)
        .map(|n| format!("From - Mon Jan 15 08:30:00 2018\nSubject: so {n}\n\nNoi dung {n}.\n\n"))
        .collect();
    fs::write(&mbox, letters).unwrap();

    let path = mbox.to_str().unwrap();
    let run = cli.run(&["--json", "mailbox", "import", "annv", "--mbox", path]);
    assert_eq!(json_of(&run.ok())["totals"]["added"], json!(40));
    assert_eq!(db.planner_rows("mailbox_messages").await, 40);
}

/// 2018-01-15 08:30:00 UTC, as the first message's `From ` line says.
const JAN_15_2018: i64 = 1_516_005_000;
/// 2018-02-20 10:00:00 UTC.
const FEB_20_2018: i64 = 1_519_120_800;

/// Three messages as Thunderbird keeps a local folder: read with a label, flagged with a
/// line that had to be quoted, and one marked deleted (not yet compacted away).
const MBOX: &str = "From - Mon Jan 15 08:30:00 2018\n\
X-Mozilla-Status: 0001\n\
X-Mozilla-Status2: 00000000\n\
X-Mozilla-Keys: $label1\n\
From: vanphong@vinhphuc.gov.vn\n\
To: annv@vinhphuc.gov.vn\n\
Subject: =?UTF-8?B?Q8O0bmcgdsSDbiBz4buRIDEy?=\n\
Message-ID: <cv12@vinhphuc.gov.vn>\n\
\n\
Kính gửi các phòng ban.\n\
\n\
From sender@hanoi.gov.vn Tue Feb 20 10:00:00 2018\n\
X-Mozilla-Status: 0004\n\
From: sender@hanoi.gov.vn\n\
Subject: Lich hop\n\
Message-ID: <hop@hanoi.gov.vn>\n\
\n\
>From the director: the meeting moves to 9h.\n\
\n\
From - Wed Mar 21 10:00:00 2018\n\
X-Mozilla-Status: 0009\n\
From: spam@example.com\n\
Subject: deleted\n\
\n\
gone\n";

async fn open(db: &TestDb) -> (Directory, Mailstore) {
    let store = db.open_store().await;
    (
        Directory::new(store.clone(), Clock::system()),
        Mailstore::new(store, Clock::system()),
    )
}

/// Each message of `login`'s folder `name`: its bytes, date, flags and keywords.
async fn folder(
    db: &TestDb,
    login: &str,
    name: &str,
) -> Vec<(Vec<u8>, UnixTime, MessageFlags, Vec<String>)> {
    let (directory, mailstore) = open(db).await;
    let official = directory.official(login).await.unwrap();
    let mailbox = mailstore
        .mailbox_named(&official, name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no folder {name:?}"));
    let mut found = Vec::new();
    for m in mailstore.messages(mailbox.id).await.unwrap() {
        let bytes = mailstore.body(m.body_id).await.unwrap().unwrap();
        found.push((bytes, m.internal_date, m.flags, m.keywords));
    }
    found
}

async fn role_name(db: &TestDb, login: &str, role: MailboxRole) -> String {
    let (directory, mailstore) = open(db).await;
    let official = directory.official(login).await.unwrap();
    let boxes = mailstore.mailboxes(official.id).await.unwrap();
    boxes
        .into_iter()
        .find(|m| m.role == Some(role))
        .unwrap()
        .name
}

fn cli_with_annv(db: &TestDb) -> AdminCli {
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
    cli
}

fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

async fn a_thunderbird_mbox_arrives_with_dates_and_flags_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = cli_with_annv(&db);
    let mbox = cli.dir.join("Luu tru 2018.mbox");
    fs::write(&mbox, MBOX).unwrap();
    let args = [
        "--json",
        "mailbox",
        "import",
        "annv",
        "--mbox",
        mbox.to_str().unwrap(),
        "--folder",
        "Lưu trữ/2018",
    ];

    let first = json_of(&cli.run(&args).ok());
    assert_eq!(
        first["totals"],
        json!({"added": 2, "already_there": 0, "skipped": 1, "failed": 0,
               "bytes": first["totals"]["bytes"].clone()})
    );
    let stored = folder(&db, "annv", "Lưu trữ/2018").await;
    assert_eq!(stored.len(), 2);
    let (bytes, date, flags, keywords) = &stored[0];
    let expected_first =
        &MBOX[MBOX.find("X-Mozilla-Status: 0001").unwrap()..MBOX.find("From sender@").unwrap()];
    assert_eq!(
        String::from_utf8_lossy(bytes),
        String::from_utf8_lossy(&crlf(expected_first))
    );
    assert_eq!((*date, *flags), (UnixTime(JAN_15_2018), MessageFlags::SEEN));
    assert_eq!(keywords, &["$label1"]);
    let (bytes, date, flags, _) = &stored[1];
    let text = String::from_utf8_lossy(bytes);
    assert!(
        text.contains("\r\n\r\nFrom the director: the meeting moves to 9h.\r\n"),
        "{text}"
    );
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "a bare LF is left: {text:?}"
    );
    assert_eq!(
        (*date, *flags),
        (UnixTime(FEB_20_2018), MessageFlags::FLAGGED)
    );
    assert_eq!(
        first["totals"]["bytes"],
        json!(stored.iter().map(|m| m.0.len()).sum::<usize>())
    );

    let again = json_of(&cli.run(&args).ok());
    assert_eq!(again["totals"]["added"], json!(0));
    assert_eq!(again["totals"]["already_there"], json!(2));
    assert_eq!(folder(&db, "annv", "Lưu trữ/2018").await.len(), 2);
}

/// Writes a message file into a Maildir folder with `mtime` as its time.
fn maildir_file(dir: &Path, sub: &str, name: &str, body: &str, mtime: i64) {
    let path = dir.join(sub).join(name);
    fs::write(&path, body).unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(mtime as u64))
        .unwrap();
}

fn maildir_folder(dir: &Path) {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
}

async fn a_maildir_arrives_folder_by_folder_with_keywords_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = cli_with_annv(&db);
    let root = cli.dir.join("Maildir");
    maildir_folder(&root);
    let sent = root.join(".Sent");
    maildir_folder(&sent);
    // "Công văn/2023" as Dovecot's Maildir++ layout names it.
    let official = root.join(".C&APQ-ng v&AQM-n.2023");
    maildir_folder(&official);
    fs::write(
        official.join("dovecot-keywords"),
        "0 $Important\n1 $Label1\n",
    )
    .unwrap();

    let read = "From: a@hanoi.gov.vn\nSubject: read\n\nseen\n";
    let unread = "From: b@hanoi.gov.vn\nSubject: new\n\nnot yet\n";
    let trashed = "From: c@hanoi.gov.vn\nSubject: trashed\n\nx\n";
    let reply = "From: annv@vinhphuc.gov.vn\nSubject: Re: hop\n\nDa nhan.\n";
    let circular = "From: vanphong@vinhphuc.gov.vn\nSubject: CV 45\n\nnoi dung\n";
    maildir_file(&root, "cur", "1500000000.M1P1.old:2,S", read, 1_500_000_000);
    maildir_file(&root, "new", "1500000100.M2P1.old", unread, 1_500_000_100);
    maildir_file(
        &root,
        "cur",
        "1500000200.M3P1.old:2,ST",
        trashed,
        1_500_000_200,
    );
    maildir_file(
        &sent,
        "cur",
        "1500000300.M4P1.old:2,RS",
        reply,
        1_500_000_300,
    );
    maildir_file(
        &official,
        "cur",
        "1500000400.M5P1.old:2,Fab",
        circular,
        1_500_000_400,
    );
    let args = [
        "--json",
        "mailbox",
        "import",
        "annv",
        "--maildir",
        root.to_str().unwrap(),
    ];

    let first = json_of(&cli.run(&args).ok());
    assert_eq!(first["totals"]["added"], json!(4));
    assert_eq!(first["totals"]["skipped"], json!(1));

    let mut inbox = folder(&db, "annv", "INBOX").await;
    inbox.sort_by_key(|m| m.1);
    let summary: Vec<(Vec<u8>, i64, MessageFlags)> =
        inbox.iter().map(|m| (m.0.clone(), m.1 .0, m.2)).collect();
    assert_eq!(
        summary,
        [
            (crlf(read), 1_500_000_000, MessageFlags::SEEN),
            (crlf(unread), 1_500_000_100, MessageFlags::default()),
        ]
    );
    let sent_name = role_name(&db, "annv", MailboxRole::Sent).await;
    let sent = folder(&db, "annv", &sent_name).await;
    assert_eq!(
        sent.len(),
        1,
        "the Maildir's .Sent lands in the official's Sent folder"
    );
    assert_eq!(
        (sent[0].0.clone(), sent[0].2),
        (crlf(reply), MessageFlags::SEEN.with(MessageFlags::ANSWERED))
    );
    let filed = folder(&db, "annv", "Công văn/2023").await;
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].0, crlf(circular));
    assert_eq!(
        (filed[0].1, filed[0].2),
        (UnixTime(1_500_000_400), MessageFlags::FLAGGED)
    );
    assert_eq!(filed[0].3, ["$Important", "$Label1"]);

    let again = json_of(&cli.run(&args).ok());
    assert_eq!(
        (
            again["totals"]["added"].clone(),
            again["totals"]["already_there"].clone()
        ),
        (json!(0), json!(4))
    );
    assert_eq!(folder(&db, "annv", "INBOX").await.len(), 2);
}

async fn archives_that_cannot_be_imported_are_named(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = cli_with_annv(&db);
    let not_maildir = cli.dir.join("Documents");
    fs::create_dir_all(&not_maildir).unwrap();
    let run = cli.run(&[
        "mailbox",
        "import",
        "annv",
        "--maildir",
        not_maildir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains(&format!("{}: not a Maildir", not_maildir.display())),
        "{}",
        run.stderr
    );

    let missing = cli.dir.join("missing.mbox");
    let run = cli.run(&[
        "mailbox",
        "import",
        "annv",
        "--mbox",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains(&format!("{}: cannot open the mbox file", missing.display())),
        "{}",
        run.stderr
    );

    let mbox = cli.dir.join("a.mbox");
    fs::write(&mbox, MBOX).unwrap();
    let run = cli.run(&[
        "mailbox",
        "import",
        "nobody",
        "--mbox",
        mbox.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("nobody"), "{}", run.stderr);

    // A message bigger than the server accepts is named, and the others are imported.
    let config = cli.dir.join("admin.toml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("\n[smtp]\nmax_message_bytes = 1024\n");
    fs::write(&config, text).unwrap();
    let big = format!(
        "From - Mon Jan 15 08:30:00 2018\nSubject: big\n\n{}\nFrom - Mon Jan 15 08:31:00 2018\nSubject: small\n\nok\n",
        "x".repeat(2000)
    );
    fs::write(&mbox, big).unwrap();
    let run = cli.run(&[
        "mailbox",
        "import",
        "annv",
        "--mbox",
        mbox.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{}, message 1: ", mbox.display()))
            && run
                .stderr
                .contains("larger than the largest message congvu accepts"),
        "{}",
        run.stderr
    );
    let inbox = folder(&db, "annv", "INBOX").await;
    assert_eq!(inbox.len(), 1);
    assert!(String::from_utf8_lossy(&inbox[0].0).contains("Subject: small"));
}
