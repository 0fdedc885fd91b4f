//! `congvu-admin mailbox export` read back by the programs officials really use: an
//! official's mail (flags, keywords, a deleted message, `From ` lines to quote, Vietnamese
//! folder names, a nested folder) is exported as mbox and opened by the real `mutt` and by
//! Python's `mailbox`, as a Maildir++ tree read by Python's `mailbox.Maildir`, as `.eml`
//! files, and imported again into another official; refusals leave nothing behind, and
//! every export leaves its audit row.
//!
//! Never skipped: where mutt, `script` or /usr/bin/python3 is missing the test fails and
//! says what to install.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::UNIX_EPOCH;

use congvu::clock::{Clock, UnixTime};
use congvu::directory::Directory;
use congvu::mailstore::{Mailstore, MessageFlags};
use congvu_tests::{Backend, TestDb};
use serde_json::{json, Value};

use crate::admin::{fails, json_of, AdminCli};
use crate::store_suite::on_both_backends;

on_both_backends!(
    mbox_files_open_in_mutt_with_flags_dates_and_quoted_lines,
    a_maildir_tree_reads_back_in_python_with_flags_keywords_and_times,
    an_export_imports_into_another_official_unchanged,
    eml_files_hold_the_stored_bytes_with_their_dates,
    exports_that_cannot_run_are_refused_before_writing,
    an_export_of_one_folder_is_audited,
);

/// 2018-01-15 08:30:00 UTC.
const JAN_15_2018: i64 = 1_516_005_000;
/// 2018-02-06 10:00:00 UTC: a one-digit day, which asctime pads with a space.
const FEB_6_2018: i64 = 1_517_911_200;

const OFFICIAL_FOLDER: &str = "Công văn đến";
const NESTED_FOLDER: &str = "Dự án/2026";

/// A message as put in the store, and what an export must carry of it.
#[derive(Debug, Clone)]
struct Stored {
    folder: &'static str,
    uid: u32,
    uidvalidity: u32,
    /// Exactly as stored: CRLF line ends.
    bytes: Vec<u8>,
    date: i64,
    flags: MessageFlags,
    keywords: Vec<String>,
}

/// The official `annv`'s mail, as (folder, message with LF line ends, date, flags, keywords).
fn fixture() -> Vec<(
    &'static str,
    &'static str,
    i64,
    MessageFlags,
    &'static [&'static str],
)> {
    let seen = MessageFlags::SEEN;
    vec![
        (
            "INBOX",
            "Return-Path: <vanphong@vinhphuc.gov.vn>\nFrom: Văn phòng <vanphong@vinhphuc.gov.vn>\n\
             To: annv@vinhphuc.gov.vn\nSubject: Công văn số 12\nMessage-ID: <cv12@vinhphuc.gov.vn>\n\n\
             Kính gửi các phòng ban.\nFrom the director: họp lúc 9h.\n>From a quoted reply.\n",
            JAN_15_2018,
            seen.with(MessageFlags::FLAGGED),
            &["$Important"],
        ),
        (
            "INBOX",
            "From: sender@hanoi.gov.vn\nSubject: Lich hop\nMessage-ID: <hop@hanoi.gov.vn>\n\n\
             Chua doc.\n",
            FEB_6_2018,
            MessageFlags::default(),
            &[],
        ),
        (
            "Sent",
            "From: annv@vinhphuc.gov.vn\nTo: sender@hanoi.gov.vn\nSubject: Re: Lich hop\n\nDa nhan.\n",
            FEB_6_2018 + 3600,
            seen.with(MessageFlags::ANSWERED),
            &[],
        ),
        (
            "Drafts",
            "From: annv@vinhphuc.gov.vn\nSubject: Du thao\n\nchua xong\n",
            FEB_6_2018 + 7200,
            MessageFlags::DRAFT,
            &[],
        ),
        (
            OFFICIAL_FOLDER,
            "From: ubnd@vinhphuc.gov.vn\nSubject: CV 45\n\nnội dung công văn\n",
            JAN_15_2018 + 60,
            seen,
            &["$Label1", "$Important"],
        ),
        (
            OFFICIAL_FOLDER,
            "From: spam@example.com\nSubject: xoa\n\ngone\n",
            JAN_15_2018 + 120,
            seen.with(MessageFlags::DELETED),
            &[],
        ),
        (
            NESTED_FOLDER,
            "From: duan@vinhphuc.gov.vn\nSubject: Ke hoach 2026\n\n>>From an older quote.\nFrom now on.\n",
            FEB_6_2018 + 86_400,
            MessageFlags::FLAGGED,
            &[],
        ),
    ]
}

fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn lf(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes()
}

async fn open(db: &TestDb) -> (Directory, Mailstore) {
    let store = db.open_store().await;
    (
        Directory::new(store.clone(), Clock::system()),
        Mailstore::new(store, Clock::system()),
    )
}

fn cli_with(db: &TestDb, logins: &[(&str, &str)]) -> AdminCli {
    let cli = AdminCli::new(db).with_province();
    for (login, name) in logins {
        cli.run(&["user", "add", login, "--name", name, "--agency", "stttt"])
            .ok();
    }
    cli
}

/// `annv` with the fixture's mail, appended through the mail store as IMAP APPEND does.
async fn official_with_mail(db: &TestDb) -> (AdminCli, Vec<Stored>) {
    let cli = cli_with(db, &[("annv", "Nguyễn Văn An")]);
    let (directory, mailstore) = open(db).await;
    let official = directory.official("annv").await.unwrap();
    for folder in [OFFICIAL_FOLDER, NESTED_FOLDER] {
        mailstore.create_folder(&official, folder).await.unwrap();
    }
    let mut stored = Vec::new();
    for (folder, text, date, flags, keywords) in fixture() {
        let mailbox = mailstore
            .mailbox_named(&official, folder)
            .await
            .unwrap()
            .unwrap();
        let keywords: Vec<String> = keywords.iter().map(|k| k.to_string()).collect();
        let bytes = crlf(text);
        let (uidvalidity, uid) = mailstore
            .append(
                &official,
                mailbox.id,
                &bytes,
                flags,
                &keywords,
                Some(UnixTime(date)),
            )
            .await
            .unwrap();
        stored.push(Stored {
            folder,
            uid: uid.0,
            uidvalidity,
            bytes,
            date,
            flags,
            keywords,
        });
    }
    (cli, stored)
}

/// Runs `congvu-admin --json mailbox export annv --format FORMAT --output DIR extra…`.
fn export(cli: &AdminCli, format: &str, dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "--json",
        "mailbox",
        "export",
        "annv",
        "--format",
        format,
        "--output",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    json_of(&cli.run(&args).ok())
}

fn in_folder<'a>(stored: &'a [Stored], folder: &str) -> Vec<&'a Stored> {
    stored.iter().filter(|m| m.folder == folder).collect()
}

/// Every folder `annv` has, as the export names them.
const ALL_FOLDERS: [&str; 8] = [
    "INBOX",
    "Công văn đến",
    "Drafts",
    "Dự án",
    "Dự án/2026",
    "Junk",
    "Sent",
    "Trash",
];

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn mtime(path: &Path) -> i64 {
    let modified = fs::metadata(path).unwrap().modified().unwrap();
    modified.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Runs a Python script with /usr/bin/python3 on `args` and returns what it printed as JSON.
fn python(script: &str, args: &[&Path]) -> Value {
    let python = Path::new("/usr/bin/python3");
    assert!(
        python.exists(),
        "/usr/bin/python3 is not installed: apt-get install python3"
    );
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("PYTHONUTF8", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Each message of each mbox file given: its `From ` line (after `From `), its flags as
/// Python reads `Status:`/`X-Status:`, and its bytes as Python splits them (no separator).
const READ_MBOX: &str = r#"
import base64, json, mailbox, sys
out = {}
for path in sys.argv[1:]:
    box = mailbox.mbox(path, create=False)
    out[path] = [{"from": m.get_from(), "flags": m.get_flags(),
                  "bytes": base64.b64encode(box.get_bytes(k)).decode()}
                 for k, m in zip(box.keys(), box.values())]
print(json.dumps(out))
"#;

/// Each folder of the Maildir given ("" for INBOX): its messages' keys, subdirectory,
/// info, date and bytes.
const READ_MAILDIR: &str = r#"
import base64, json, mailbox, sys
root = mailbox.Maildir(sys.argv[1], factory=None, create=False)
out = {}
for name in [""] + root.list_folders():
    box = root if name == "" else root.get_folder(name)
    out[name] = sorted(({"key": k, "subdir": m.get_subdir(), "info": m.get_info(),
                         "date": int(m.get_date()),
                         "bytes": base64.b64encode(box.get_bytes(k)).decode()}
                        for k, m in box.iteritems()), key=lambda e: e["key"])
print(json.dumps(out))
"#;

fn base64_bytes(value: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str().unwrap())
        .unwrap()
}

/// An exported mbox message (LF) back as stored: without the `Status:`/`X-Status:` fields
/// the export added, one `>` less on each `^>+From ` line, with CRLF.
fn unexported_mbox(bytes: &[u8]) -> Vec<u8> {
    let text = without_added_status(bytes);
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let quotes = line.chars().take_while(|&c| c == '>').count();
        if quotes > 0 && line[quotes..].starts_with("From ") {
            out.push_str(&line[1..]);
        } else {
            out.push_str(line);
        }
    }
    crlf(&out)
}

/// `bytes` (LF) without `Status:` and `X-Status:` lines: the fixture has none of its own.
fn without_added_status(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .split_inclusive('\n')
        .filter(|line| !line.starts_with("Status: ") && !line.starts_with("X-Status: "))
        .collect()
}

/// What mutt reads in `Status:`/`X-Status:` for `flags` (`RO` read, then `A` `F` `T` `D`).
fn mutt_letters(flags: MessageFlags) -> String {
    let mut letters = String::new();
    if flags.contains(MessageFlags::SEEN) {
        letters.push_str("RO");
    }
    for (flag, letter) in [
        (MessageFlags::ANSWERED, 'A'),
        (MessageFlags::FLAGGED, 'F'),
        (MessageFlags::DRAFT, 'T'),
        (MessageFlags::DELETED, 'D'),
    ] {
        if flags.contains(flag) {
            letters.push(letter);
        }
    }
    letters
}

/// The `From ` line date of the messages whose date the test writes down.
fn asctime(date: i64) -> Option<&'static str> {
    match date {
        JAN_15_2018 => Some("Mon Jan 15 08:30:00 2018"),
        FEB_6_2018 => Some("Tue Feb  6 10:00:00 2018"),
        d if d == FEB_6_2018 + 86_400 => Some("Wed Feb  7 10:00:00 2018"),
        _ => None,
    }
}

/// Fails the test, saying what to install, where mutt or `script` cannot run.
fn require_mutt() {
    for (program, package) in [("mutt", "mutt"), ("script", "bsdutils")] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "{program} is not installed: apt-get install {package}"
        );
    }
}

/// Has the real mutt open `mbox` read-only, tag every message and save them all into
/// `copy`, as an official would. mutt needs a terminal, so `script` gives it one; HOME is
/// `home`, so no personal configuration takes part.
fn mutt_saves_all(mbox: &Path, copy: &Path, home: &Path) {
    let command = format!(
        "mutt -n -F /dev/null -R -f '{}' -e 'set confirmcreate=no confirmappend=no' \
         -e 'push \"T~A<enter>;s{}<enter>q\"'",
        mbox.display(),
        copy.display()
    );
    let output = Command::new("timeout")
        .args(["60", "script", "-qec", &command, "/dev/null"])
        .env("HOME", home)
        .env("TERM", "xterm")
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "mutt on {} ended with {:?}",
        mbox.display(),
        output.status
    );
}

async fn mbox_files_open_in_mutt_with_flags_dates_and_quoted_lines(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (cli, stored) = official_with_mail(&db).await;
    let dir = cli.dir.join("xuất/annv");
    let report = export(&cli, "mbox", &dir, &[]);
    let total: usize = stored.iter().map(|m| m.bytes.len()).sum();
    assert_eq!(
        report["totals"],
        json!({"folders": 8, "messages": 7, "bytes": total})
    );
    let folders = report["folders"].as_array().unwrap();
    let names: Vec<&str> = folders
        .iter()
        .map(|f| f["folder"].as_str().unwrap())
        .collect();
    assert_eq!(names, ALL_FOLDERS, "INBOX first, then by name");
    let paths: BTreeMap<&str, &str> = folders
        .iter()
        .map(|f| (f["folder"].as_str().unwrap(), f["path"].as_str().unwrap()))
        .collect();
    assert_eq!(paths["INBOX"], "INBOX.mbox");
    assert_eq!(paths[OFFICIAL_FOLDER], "Công văn đến.mbox");
    assert_eq!(paths[NESTED_FOLDER], "Dự án/2026.mbox");
    assert_eq!(mode(&dir), 0o700, "the mail is readable by its owner alone");
    assert_eq!(mode(&dir.join("INBOX.mbox")), 0o600);
    assert_eq!(fs::read(dir.join("Dự án.mbox")).unwrap(), b"");

    let files: Vec<PathBuf> = ALL_FOLDERS.iter().map(|f| dir.join(paths[f])).collect();
    let our_from = python_reads_mbox_files(&files, &stored);
    let inbox = fs::read_to_string(dir.join("INBOX.mbox")).unwrap();
    assert!(
        inbox.contains("\n>From the director: họp lúc 9h.\n>>From a quoted reply.\n"),
        "{inbox}"
    );
    let nested = fs::read_to_string(dir.join("Dự án/2026.mbox")).unwrap();
    assert!(
        nested.contains("\n>>>From an older quote.\n>From now on.\n"),
        "{nested}"
    );

    require_mutt();
    let home = cli.dir.join("mutt-home");
    // With no ~/Mail, mutt first asks whether to create it, and that question would take
    // the keys meant for the index.
    fs::create_dir_all(home.join("Mail")).unwrap();
    for (index, folder) in ["INBOX", OFFICIAL_FOLDER, NESTED_FOLDER, "Sent"]
        .into_iter()
        .enumerate()
    {
        let copy = home.join(format!("copy-{index}.mbox"));
        mutt_saves_all(&dir.join(paths[folder]), &copy, &home);
        mutt_copy_agrees(&copy, &in_folder(&stored, folder), &our_from[folder]);
    }
}

/// Reads the exported mbox `files` (one per folder of [`ALL_FOLDERS`]) with Python and
/// checks each message against `stored`: separator line, flags, bytes. Returns each
/// folder's `From ` lines.
fn python_reads_mbox_files(files: &[PathBuf], stored: &[Stored]) -> BTreeMap<String, Vec<String>> {
    let file_refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let read = python(READ_MBOX, &file_refs);
    let mut our_from: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (folder, file) in ALL_FOLDERS.iter().zip(files) {
        let expected = in_folder(stored, folder);
        let messages = read[file.to_str().unwrap()].as_array().unwrap();
        assert_eq!(messages.len(), expected.len(), "messages in {folder}");
        for (got, want) in messages.iter().zip(expected) {
            let sender = if want.bytes.starts_with(b"Return-Path: <vanphong") {
                "vanphong@vinhphuc.gov.vn"
            } else {
                "MAILER-DAEMON"
            };
            let from = got["from"].as_str().unwrap();
            if let Some(date) = asctime(want.date) {
                assert_eq!(from, format!("{sender} {date}"));
            }
            assert!(from.starts_with(&format!("{sender} ")), "{from}");
            our_from
                .entry(folder.to_string())
                .or_default()
                .push(from.to_string());
            let mut flags: Vec<char> = got["flags"].as_str().unwrap().chars().collect();
            let mut want_flags: Vec<char> = mutt_letters(want.flags).chars().collect();
            flags.sort_unstable();
            want_flags.sort_unstable();
            assert_eq!(flags, want_flags, "flags of {from}");
            let bytes = base64_bytes(&got["bytes"]);
            assert!(!bytes.contains(&b'\r'), "LF line ends in an mbox file");
            assert_eq!(
                String::from_utf8(unexported_mbox(&bytes)).unwrap(),
                String::from_utf8(want.bytes.clone()).unwrap()
            );
        }
    }
    our_from
}

/// Checks the mbox file mutt saved (`copy`) against the folder's `expected` messages and
/// the `From ` lines of our export: every message there, mutt's flags, the same dates.
fn mutt_copy_agrees(copy: &Path, expected: &[&Stored], our_from: &[String]) {
    let read = python(READ_MBOX, &[copy]);
    let saved = read[copy.to_str().unwrap()].as_array().unwrap();
    assert_eq!(
        saved.len(),
        expected.len(),
        "mutt saw every message: {read}"
    );
    for ((got, want), ours) in saved.iter().zip(expected).zip(our_from) {
        // mutt rewrites the flags as it understood them: read, replied, flagged.
        let status = got["flags"].as_str().unwrap();
        let understood = [
            (status.contains('R'), MessageFlags::SEEN),
            (status.contains('A'), MessageFlags::ANSWERED),
            (status.contains('F'), MessageFlags::FLAGGED),
        ];
        for (set, flag) in understood {
            assert_eq!(set, want.flags.contains(flag), "{ours}: {status}");
        }
        let date = |from: &str| from.split_once(' ').unwrap().1.to_string();
        assert_eq!(
            date(got["from"].as_str().unwrap()),
            date(ours),
            "mutt kept the date"
        );
    }
}

async fn a_maildir_tree_reads_back_in_python_with_flags_keywords_and_times(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (cli, stored) = official_with_mail(&db).await;
    let dir = cli.dir.join("Maildir");
    let report = export(&cli, "maildir", &dir, &[]);
    assert_eq!(report["totals"]["messages"], json!(7));
    assert_eq!(mode(&dir), 0o700);

    let read = python(READ_MAILDIR, &[&dir]);
    let mut folders: Vec<&str> = read
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    folders.sort_unstable();
    assert_eq!(
        folders,
        [
            "",
            "Công văn đến",
            "Drafts",
            "Dự án",
            "Dự án.2026",
            "Junk",
            "Sent",
            "Trash"
        ]
    );
    let infos = [
        ("INBOX", "2,FSa"),
        ("INBOX", "2,"),
        ("Sent", "2,RS"),
        ("Drafts", "2,D"),
        (OFFICIAL_FOLDER, "2,Sab"),
        (OFFICIAL_FOLDER, "2,ST"),
        (NESTED_FOLDER, "2,F"),
    ];
    for (want, (folder, info)) in stored.iter().zip(infos) {
        assert_eq!(want.folder, folder);
        let entry = maildir_entry(&read, want);
        assert_eq!(
            (
                entry["subdir"].as_str().unwrap(),
                entry["info"].as_str().unwrap()
            ),
            ("cur", info),
            "{folder}"
        );
        assert_eq!(
            entry["date"],
            json!(want.date),
            "file time is the internal date"
        );
        assert_eq!(base64_bytes(&entry["bytes"]), lf(&want.bytes));
        assert_eq!(maildir_keywords(&dir, want.folder, info), want.keywords);
    }
    for (folder, count) in [
        ("", 2),
        ("Công văn đến", 2),
        ("Dự án", 0),
        ("Dự án.2026", 1),
    ] {
        assert_eq!(read[folder].as_array().unwrap().len(), count, "{folder:?}");
    }
    assert_eq!(
        fs::read_to_string(dir.join("dovecot-keywords")).unwrap(),
        "0 $Important\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join(".Công văn đến/dovecot-keywords")).unwrap(),
        "0 $Label1\n1 $Important\n"
    );
    assert!(dir.join(".Dự án.2026/maildirfolder").exists());
}

/// The keywords that the lowercase letters of `info` name in the Maildir folder's
/// `dovecot-keywords` file.
fn maildir_keywords(root: &Path, folder: &str, info: &str) -> Vec<String> {
    let dir = match folder {
        "INBOX" => root.to_path_buf(),
        other => root.join(format!(".{}", other.replace('/', "."))),
    };
    let names = fs::read_to_string(dir.join("dovecot-keywords")).unwrap_or_default();
    let names: Vec<&str> = names
        .lines()
        .map(|l| l.split_once(' ').unwrap().1)
        .collect();
    info.chars()
        .filter(char::is_ascii_lowercase)
        .map(|c| names[usize::from(c as u8 - b'a')].to_string())
        .collect()
}

/// What Python read of `message`'s file: the one in its folder named
/// `DATE.UID_UIDVALIDITY.…`.
fn maildir_entry<'a>(read: &'a Value, message: &Stored) -> &'a Value {
    let folder = match message.folder {
        "INBOX" => String::new(),
        other => other.replace('/', "."),
    };
    let prefix = format!("{}.{}_{}.", message.date, message.uid, message.uidvalidity);
    read[&folder]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"].as_str().unwrap().starts_with(&prefix))
        .unwrap_or_else(|| panic!("no file {prefix}… in {folder:?}: {read}"))
}

/// Each message of `login`'s folder `name` that is not marked deleted, by date: bytes,
/// date, flags, keywords.
async fn folder_of(
    db: &TestDb,
    login: &str,
    name: &str,
) -> Vec<(Vec<u8>, i64, MessageFlags, Vec<String>)> {
    let (directory, mailstore) = open(db).await;
    let official = directory.official(login).await.unwrap();
    let Some(mailbox) = mailstore.mailbox_named(&official, name).await.unwrap() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for m in mailstore.messages(mailbox.id).await.unwrap() {
        if m.flags.contains(MessageFlags::DELETED) {
            continue;
        }
        let bytes = mailstore.body(m.body_id).await.unwrap().unwrap();
        found.push((bytes, m.internal_date.0, m.flags, m.keywords));
    }
    found.sort_by_key(|m| m.1);
    found
}

async fn an_export_imports_into_another_official_unchanged(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (cli, _) = official_with_mail(&db).await;
    for (login, name) in [("binhtt", "Trần Thị Bình"), ("chilt", "Lê Thị Chi")] {
        cli.run(&["user", "add", login, "--name", name, "--agency", "stttt"])
            .ok();
    }
    let maildir = cli.dir.join("maildir-export");
    export(&cli, "maildir", &maildir, &[]);
    let imported = json_of(
        &cli.run(&[
            "--json",
            "mailbox",
            "import",
            "binhtt",
            "--maildir",
            maildir.to_str().unwrap(),
        ])
        .ok(),
    );
    assert_eq!(imported["totals"]["added"], json!(6));
    assert_eq!(
        imported["totals"]["skipped"],
        json!(1),
        "the deleted message"
    );
    for folder in ALL_FOLDERS {
        let original = folder_of(&db, "annv", folder).await;
        assert_eq!(
            folder_of(&db, "binhtt", folder).await,
            original,
            "{folder}: bytes, dates, flags and keywords"
        );
    }

    // Through mbox: flags and dates come back from `Status:`/`X-Status:` and `From ` lines.
    let mbox = cli.dir.join("mbox-export");
    let report = export(&cli, "mbox", &mbox, &[]);
    for entry in report["folders"].as_array().unwrap() {
        let folder = entry["folder"].as_str().unwrap();
        let file = mbox.join(entry["path"].as_str().unwrap());
        let args = [
            "mailbox",
            "import",
            "chilt",
            "--mbox",
            file.to_str().unwrap(),
            "--folder",
            folder,
        ];
        cli.run(&args).ok();
        let original = folder_of(&db, "annv", folder).await;
        let again = folder_of(&db, "chilt", folder).await;
        assert_eq!(again.len(), original.len(), "{folder}");
        for (back, first) in again.iter().zip(&original) {
            assert_eq!(
                (back.1, back.2),
                (first.1, first.2),
                "{folder}: date and flags"
            );
            // The importer has undone the quoting already; its copy keeps the flag fields.
            let without_status = crlf(&without_added_status(&lf(&back.0)));
            assert_eq!(
                String::from_utf8_lossy(&without_status).trim_end(),
                String::from_utf8_lossy(&first.0).trim_end()
            );
        }
    }
}

async fn eml_files_hold_the_stored_bytes_with_their_dates(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (cli, stored) = official_with_mail(&db).await;
    let dir = cli.dir.join("eml");
    let report = export(&cli, "eml", &dir, &[]);
    assert_eq!(report["totals"]["messages"], json!(7));
    assert_eq!(mode(&dir), 0o700);
    for message in &stored {
        let file = dir
            .join(message.folder)
            .join(format!("{}.eml", message.uid));
        assert_eq!(
            fs::read(&file).unwrap(),
            message.bytes,
            "{}",
            file.display()
        );
        assert_eq!(mtime(&file), message.date, "{}", file.display());
        assert_eq!(mode(&file), 0o600);
    }
    let mut count = 0;
    for folder in ALL_FOLDERS {
        let entries = fs::read_dir(dir.join(folder)).unwrap();
        count += entries
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "eml")
            })
            .count();
    }
    assert_eq!(count, stored.len(), "one file per message, nothing else");
}

async fn exports_that_cannot_run_are_refused_before_writing(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (cli, _) = official_with_mail(&db).await;
    let export_of = |login: &str, output: &Path, extra: &[&str]| {
        let mut args = vec!["mailbox", "export", login, "--format", "mbox", "--output"];
        args.push(output.to_str().unwrap());
        args.extend_from_slice(extra);
        cli.run(&args)
    };
    let used = cli.dir.join("đã có");
    fs::create_dir_all(&used).unwrap();
    fs::write(used.join("ghi chú.txt"), "giữ nguyên").unwrap();
    fails(
        export_of("annv", &used, &[]),
        1,
        &format!(
            "congvu-admin: {}: the directory is not empty; export into a new or empty \
             directory (give another --output, or move what is in it elsewhere)\n",
            used.display()
        ),
    );
    assert_eq!(fs::read_dir(&used).unwrap().count(), 1, "nothing was added");
    assert_eq!(
        fs::read_to_string(used.join("ghi chú.txt")).unwrap(),
        "giữ nguyên"
    );

    let file = cli.dir.join("a-file");
    fs::write(&file, "x").unwrap();
    fails(
        export_of("annv", &file, &[]),
        1,
        &format!(
            "congvu-admin: {}: exists and is not a directory; give a new or empty directory \
             as --output\n",
            file.display()
        ),
    );

    let fresh = cli.dir.join("fresh");
    fails(
        export_of("nobody", &fresh, &[]),
        1,
        "congvu-admin: official \"nobody\" does not exist: check the login with \
         `congvu-admin user list`\n",
    );
    fails(
        export_of("annv", &fresh, &["--folder", "Không có"]),
        1,
        "congvu-admin: annv has no folder \"Không có\"; the folders are: INBOX, Công văn đến, \
         Drafts, Dự án, Dự án/2026, Junk, Sent, Trash\n",
    );
    assert!(!fresh.exists(), "a refused export creates no directory");

    let (directory, _) = open(&db).await;
    let log = directory.audit_log(Some("official:annv")).await.unwrap();
    assert!(
        log.iter().all(|e| e.record.action != "mailbox.export"),
        "a refused export is not recorded as one"
    );
}

async fn an_export_of_one_folder_is_audited(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (cli, stored) = official_with_mail(&db).await;
    let dir = cli.dir.join("một thư mục");
    let args = [
        "mailbox",
        "export",
        "annv",
        "--format",
        "eml",
        "--output",
        dir.to_str().unwrap(),
        "--folder",
        NESTED_FOLDER,
    ];
    let run = cli.run(&args).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("FOLDER"), "{}", run.stdout);
    assert!(lines[1].starts_with("Dự án/2026  1 "), "{}", run.stdout);
    assert!(lines[2].starts_with("total       1 "), "{}", run.stdout);
    let nested = &in_folder(&stored, NESTED_FOLDER)[0];
    let only: Vec<PathBuf> = fs::read_dir(dir.join("Dự án"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(only, [dir.join("Dự án/2026")]);
    assert_eq!(
        fs::read(dir.join(format!("Dự án/2026/{}.eml", nested.uid))).unwrap(),
        nested.bytes
    );
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no other folder");

    let (directory, _) = open(&db).await;
    let log = directory.audit_log(Some("official:annv")).await.unwrap();
    let exports: Vec<_> = log
        .iter()
        .filter(|e| e.record.action == "mailbox.export")
        .collect();
    assert_eq!(exports.len(), 1);
    let record = &exports[0].record;
    assert!(record.actor.starts_with("admin:"), "{}", record.actor);
    let summary: Value = serde_json::from_str(record.after.as_deref().unwrap()).unwrap();
    assert_eq!(
        summary,
        json!({"format": "eml", "output": fs::canonicalize(&dir).unwrap().display().to_string(),
               "folders": 1, "messages": 1, "bytes": nested.bytes.len(), "completed": true})
    );
}
