//! `congvu-admin migrate imap` against a private Dovecot (congvu_tests::dovecot) with Maildir
//! mailboxes written by the test: every folder (hierarchy, Vietnamese names, special folders
//! found by SPECIAL-USE or by their usual names), every message byte for byte with its
//! internal date, flags and keywords, subscriptions; a second run that copies nothing and a
//! delta pass; a run killed with SIGKILL and started again; master-user sign-in both ways;
//! one bad account among good ones; STARTTLS, implicit TLS and plaintext on loopback;
//! officials past their quota; and `mbsync` reading the result from congvu.
//!
//! The real binary runs against the test's database while the test's congvu server is up,
//! as an administrator runs it beside a live server; what arrived is read back over
//! congvu's IMAP with `async-imap`. Each test starts its own Dovecot, and runs on SQLite and
//! on PostgreSQL. The hostile sources (a fake server that drops, babbles or announces a
//! 2 GiB literal) are in `hostile`.

mod hostile;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use congvu::mailstore::BodyHash;
use congvu::net::ListenerKind;
use congvu_tests::dovecot::{self, mutf7, Dovecot, Flag, Maildir, MASTER_USER};
use congvu_tests::imap::{login_session, ImapSession};
use congvu_tests::mbsync::{self, with_lf, without_tuid, Direction, Mbsync};
use congvu_tests::Backend;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use crate::admin::{json_of, AdminCli, AdminRun};
use crate::backend_tests;
use crate::smtp::fixture::{Province, Who, ANNV, DAYHOP, NHUNG, VAN};

backend_tests!(
    every_folder_flag_date_and_byte_arrives,
    a_second_run_copies_nothing_and_a_delta_pass_brings_changes,
    a_run_killed_midway_and_run_again_copies_each_message_once,
    master_user_signs_in_with_an_authzid_or_dovecots_separator,
    one_wrong_password_fails_that_account_alone,
    starttls_and_implicit_tls_trust_the_private_ca_only,
    plaintext_only_on_loopback,
    officials_past_their_quota_get_everything_and_are_listed,
    mbsync_reads_the_migrated_mailbox_from_congvu,
);

/// The officials' domain in the seeded province.
const DOMAIN: &str = "vinhphuc.gov.vn";
/// Longest one migration run may take in these tests.
const RUN_DEADLINE: Duration = Duration::from_secs(180);
/// 2019-03-04 08:15 +07:00: the oldest mail in the source mailboxes.
const OLD: i64 = 1_551_662_100;
/// A day.
const DAY: i64 = 86_400;

/// An account on the old server and the official it belongs to in congvu.
#[derive(Debug, Clone, Copy)]
struct Account {
    /// The login on the old server, deliberately not congvu's.
    source: &'static str,
    password: &'static str,
    official: Who,
}

impl Account {
    fn address(&self) -> String {
        format!("{}@{DOMAIN}", self.official.0)
    }
}

const AN: Account = Account {
    source: "an.nguyen",
    password: "Cu-An-2019",
    official: ANNV,
};
const NHUNG_SRC: Account = Account {
    source: "nhung.lth",
    password: "Cu-Nhung-2019",
    official: NHUNG,
};
const VAN_SRC: Account = Account {
    source: "van.lt",
    password: "Cu-Van-2019",
    official: VAN,
};
const DAYHOP_SRC: Account = Account {
    source: "hopthu.day",
    password: "Cu-Dayhop-2019",
    official: DAYHOP,
};

/// A message the test wrote into the source, and where it must end up in congvu.
#[derive(Debug, Clone)]
struct Written {
    /// The congvu folder it belongs in (Unicode, NFC).
    target: String,
    bytes: Vec<u8>,
    flags: Vec<Flag>,
    keywords: Vec<String>,
    received: i64,
}

impl Written {
    /// The message as congvu must hold it: flags and keywords together.
    fn held(&self) -> Held {
        let mut flags: BTreeSet<String> = self.flags.iter().map(|f| f.imap().to_string()).collect();
        flags.extend(self.keywords.iter().cloned());
        Held::new(&self.bytes, flags, self.received)
    }
}

/// What the test wrote into one source mailbox.
#[derive(Debug, Clone)]
struct Source {
    account: Account,
    maildir: Maildir,
    written: Vec<Written>,
    /// Source folders, in the order they were made (INBOX first).
    folders: Vec<String>,
}

impl Source {
    fn new(dovecot: &Dovecot, account: Account) -> Source {
        Source {
            account,
            maildir: dovecot.maildir(account.source),
            written: Vec::new(),
            folders: vec!["INBOX".into()],
        }
    }

    /// Creates source folder `folder`, which congvu must call `target`, with no messages.
    fn folder(&mut self, folder: &str) {
        self.maildir.folder(folder);
        if !self.folders.iter().any(|f| f == folder) {
            self.folders.push(folder.to_string());
        }
    }

    /// Writes `bytes` into source folder `folder` (which congvu must call `target`).
    fn put(
        &mut self,
        folder: &str,
        target: &str,
        bytes: Vec<u8>,
        flags: &[Flag],
        keywords: &[&str],
        received: i64,
    ) {
        self.folder(folder);
        self.maildir.put(folder, &bytes, flags, keywords, received);
        self.written.push(Written {
            target: target.to_string(),
            bytes,
            flags: flags.to_vec(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            received,
        });
    }

    /// Messages written, less those marked `\Deleted`.
    fn live(&self) -> impl Iterator<Item = &Written> {
        self.written
            .iter()
            .filter(|w| !w.flags.contains(&Flag::Deleted))
    }

    fn deleted(&self) -> usize {
        self.written.len() - self.live().count()
    }

    fn bytes(&self) -> u64 {
        self.live().map(|w| w.bytes.len() as u64).sum()
    }

    /// What congvu must hold for this account: every folder an official starts with, every
    /// target folder, and in each its live messages.
    fn expected(&self) -> Holding {
        let mut folders: Holding = ["INBOX", "Sent", "Drafts", "Trash", "Junk"]
            .iter()
            .map(|f| (f.to_string(), Vec::new()))
            .collect();
        for written in &self.written {
            folders.entry(written.target.clone()).or_default();
        }
        for written in self.live() {
            folders
                .get_mut(&written.target)
                .unwrap()
                .push(written.held());
        }
        for messages in folders.values_mut() {
            messages.sort();
        }
        folders
    }
}

/// A message as congvu holds it: comparable, and printed by size and hash rather than
/// byte by byte when a comparison fails.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    message_id: String,
    size: usize,
    hash: String,
    flags: BTreeSet<String>,
    internal_date: i64,
}

impl Held {
    fn new(bytes: &[u8], flags: BTreeSet<String>, internal_date: i64) -> Held {
        Held {
            message_id: message_id(bytes),
            size: bytes.len(),
            hash: format!("{:?}", BodyHash::of(bytes)),
            flags,
            internal_date,
        }
    }
}

/// Folders (Unicode names) and the messages in each, sorted.
type Holding = BTreeMap<String, Vec<Held>>;

/// The `Message-ID` field's value, or `""`.
fn message_id(bytes: &[u8]) -> String {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..head_end])
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("message-id")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default()
}

/// A small message `n` of `who`'s old mailbox.
fn letter(who: &str, n: usize, subject: &str) -> Vec<u8> {
    format!(
        "Return-Path: <vanphong@{DOMAIN}>\r\n\
         From: =?UTF-8?Q?V=C4=83n_ph=C3=B2ng?= <vanphong@{DOMAIN}>\r\n\
         To: <{who}@cu.{DOMAIN}>\r\n\
         Subject: {subject}\r\n\
         Date: Mon, 4 Mar 2019 08:15:00 +0700\r\n\
         Message-ID: <{who}-{n}@cu.{DOMAIN}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Kính gửi đồng chí,\r\n\
         Thư số {n}: {subject}.\r\n\
         Trân trọng./.\r\n"
    )
    .into_bytes()
}

/// A 20 MiB message: a scanned dossier as a base64 attachment of pseudo-random bytes.
fn dossier(who: &str) -> Vec<u8> {
    use base64::Engine;
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(2019);
    let mut scan = vec![0u8; 15 * 1024 * 1024];
    rng.fill_bytes(&mut scan);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&scan);
    let mut message = format!(
        "From: <vanthu@{DOMAIN}>\r\n\
         To: <{who}@cu.{DOMAIN}>\r\n\
         Subject: =?UTF-8?B?SOG7kyBzxqEgc2NhbiAyMCBNQg==?=\r\n\
         Date: Tue, 5 Mar 2019 10:00:00 +0700\r\n\
         Message-ID: <{who}-hoso-scan@cu.{DOMAIN}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"ranh-gioi\"\r\n\
         \r\n\
         --ranh-gioi\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Hồ sơ scan kèm theo.\r\n\
         --ranh-gioi\r\n\
         Content-Type: application/pdf; name=\"ho-so.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n"
    )
    .into_bytes();
    for line in encoded.as_bytes().chunks(76) {
        message.extend_from_slice(line);
        message.extend_from_slice(b"\r\n");
    }
    message.extend_from_slice(b"--ranh-gioi--\r\n");
    assert!(message.len() >= 20 * 1024 * 1024, "{}", message.len());
    message
}

/// The seeded province with its server, a Dovecot holding `accounts`, and the CLI.
struct Scene {
    p: Province,
    dovecot: Dovecot,
    cli: AdminCli,
}

impl Scene {
    async fn start(backend: Backend, accounts: &[Account]) -> Option<Scene> {
        let users: Vec<(&str, &str)> = accounts.iter().map(|a| (a.source, a.password)).collect();
        let dovecot = Dovecot::start(&users).await;
        let p = Province::start(backend).await?;
        let cli = AdminCli::new(&p.db);
        Some(Scene { p, dovecot, cli })
    }

    /// Writes an accounts CSV named `name` with `accounts`' passwords.
    fn accounts(&self, name: &str, accounts: &[Account]) -> PathBuf {
        let rows: Vec<Vec<String>> = accounts
            .iter()
            .map(|a| vec![a.address(), a.source.into(), a.password.into()])
            .collect();
        self.csv(name, &["address", "source_user", "source_password"], &rows)
    }

    fn csv(&self, name: &str, header: &[&str], rows: &[Vec<String>]) -> PathBuf {
        let path = self.cli.dir.join(name);
        let mut writer = csv::Writer::from_path(&path).unwrap();
        writer.write_record(header).unwrap();
        for row in rows {
            writer.write_record(row).unwrap();
        }
        writer.flush().unwrap();
        path
    }

    /// `migrate imap --source SOURCE --accounts CSV --json` and `extra`, trusting the
    /// Dovecot's CA.
    async fn migrate(&self, source: &str, accounts: &Path, extra: &[&str]) -> AdminRun {
        let ca = self.dovecot.ca_file();
        let mut args = vec![
            "migrate",
            "imap",
            "--source",
            source,
            "--accounts",
            accounts.to_str().unwrap(),
            "--ca-file",
            ca.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        self.run(&args).await
    }

    /// Runs `congvu-admin ARGS…` to its end within [`RUN_DEADLINE`].
    async fn run(&self, args: &[&str]) -> AdminRun {
        let run = Running::start(&self.cli, args);
        run.finish(|| self.dovecot.log()).await.0
    }

    /// Starts `congvu-admin ARGS…` without waiting for it.
    fn spawn(&self, args: &[&str]) -> Running {
        Running::start(&self.cli, args)
    }

    /// Every folder of `who` in congvu and the messages in it, read over congvu's IMAP:
    /// the folder list from LIST, each message from `UID FETCH 1:* (FLAGS INTERNALDATE
    /// BODY.PEEK[])`.
    async fn holding(&self, who: Who) -> Holding {
        let addr = self.p.addr(ListenerKind::Imaps);
        let mut imap = login_session(addr, &self.p.db, who.0, who.1).await;
        let names = self.folder_names(who).await;
        let encoded: BTreeSet<String> = names.iter().map(|n| mutf7(n)).collect();
        assert_eq!(
            listed(&mut imap, false).await,
            encoded,
            "LIST against the mail store's names"
        );
        let mut holding = Holding::new();
        for name in names {
            let messages = fetch_folder(&mut imap, &mutf7(&name)).await;
            holding.insert(name, messages);
        }
        imap.logout().await.unwrap();
        holding
    }

    /// `who`'s folder names as the mail store holds them.
    async fn folder_names(&self, who: Who) -> Vec<String> {
        self.folders(who)
            .await
            .into_iter()
            .map(|m| m.name)
            .collect()
    }

    async fn folders(&self, who: Who) -> Vec<congvu::mailstore::Mailbox> {
        let official = self.p.directory().official(who.0).await.unwrap();
        let mailstore = &self.p.server.services().mailstore;
        mailstore.mailboxes(official.id).await.unwrap()
    }

    /// Messages `who` holds in all their folders, counted in the mail store.
    async fn message_count(&self, who: Who) -> usize {
        let mailstore = &self.p.server.services().mailstore;
        let mut count = 0;
        for folder in self.folders(who).await {
            count += mailstore.messages(folder.id).await.unwrap().len();
        }
        count
    }

    /// Asserts that congvu holds exactly what `source` must bring, folder by folder.
    async fn assert_arrived(&self, source: &Source) {
        let holding = self.holding(source.account.official).await;
        let expected = source.expected();
        assert_eq!(
            holding.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "folders of {}",
            source.account.address()
        );
        for (folder, messages) in &expected {
            assert_eq!(
                &holding[folder],
                messages,
                "{} in {folder:?}",
                source.account.address()
            );
        }
    }
}

/// A `congvu-admin` process the test watches, its output going to files.
struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
}

impl Running {
    fn start(cli: &AdminCli, args: &[&str]) -> Running {
        let stamp = rand::random::<u32>();
        let stdout = cli.dir.join(format!("admin-{stamp}.out"));
        let stderr = cli.dir.join(format!("admin-{stamp}.err"));
        let child = Command::new(env!("CARGO_BIN_EXE_e2e-congvu-admin"))
            .arg("--config")
            .arg(cli.dir.join("admin.toml"))
            .args(args)
            .current_dir(&cli.dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Running {
            child,
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    /// Whether the process is still running.
    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// What it wrote to standard error so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Its peak resident memory so far in KiB (`VmHWM`), while it runs.
    fn peak_memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// SIGKILL.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the end within [`RUN_DEADLINE`]; returns how it ended and the highest
    /// peak memory seen while polling. `context` is added to the panic of a run that hangs.
    async fn finish(mut self, context: impl Fn() -> String) -> (AdminRun, u64) {
        let mut peak = 0;
        let status = loop {
            if let Some(kib) = self.peak_memory_kib() {
                peak = peak.max(kib);
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.started.elapsed() > RUN_DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "congvu-admin ran past {RUN_DEADLINE:?}:\n{}\n{}",
                    self.stderr(),
                    context()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let run = AdminRun {
            code: status.code(),
            stdout: std::fs::read_to_string(&self.stdout).unwrap(),
            stderr: self.stderr(),
        };
        (run, peak)
    }
}

/// The folder names (as on the wire) of `LIST "" "*"`, or of `LSUB "" "*"`.
async fn listed(imap: &mut ImapSession, subscribed: bool) -> BTreeSet<String> {
    let names = if subscribed {
        imap.lsub(Some(""), Some("*")).await.unwrap().boxed()
    } else {
        imap.list(Some(""), Some("*")).await.unwrap().boxed()
    };
    names
        .map_ok(|name| name.name().to_string())
        .try_collect()
        .await
        .unwrap()
}

/// Every message of folder `wire` (its name on the wire), from `UID FETCH 1:* (FLAGS
/// INTERNALDATE BODY.PEEK[])`, sorted.
async fn fetch_folder(imap: &mut ImapSession, wire: &str) -> Vec<Held> {
    imap.select(wire).await.unwrap();
    let fetched: Vec<async_imap::types::Fetch> = imap
        .uid_fetch("1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut messages: Vec<Held> = fetched
        .iter()
        .filter(|f| f.body().is_some())
        .map(|f| {
            let flags = f.flags().filter_map(|flag| flag_name(&flag)).collect();
            let date = f.internal_date().unwrap().timestamp();
            Held::new(f.body().unwrap(), flags, date)
        })
        .collect();
    messages.sort();
    messages
}

/// Borrowed views of owned arguments.
fn strs(owned: &[String]) -> Vec<&str> {
    owned.iter().map(String::as_str).collect()
}

/// A flag as IMAP names it, `\Recent` left out (it belongs to a session, not a message).
fn flag_name(flag: &async_imap::types::Flag<'_>) -> Option<String> {
    use async_imap::types::Flag as F;
    Some(match flag {
        F::Seen => "\\Seen".into(),
        F::Answered => "\\Answered".into(),
        F::Flagged => "\\Flagged".into(),
        F::Deleted => "\\Deleted".into(),
        F::Draft => "\\Draft".into(),
        F::Recent | F::MayCreate => return None,
        F::Custom(name) => name.to_string(),
    })
}

/// The one account entry for `address` in a `--json` summary.
fn account_entry<'j>(summary: &'j Value, address: &str) -> &'j Value {
    let accounts = summary["accounts"].as_array().unwrap();
    let found: Vec<&Value> = accounts
        .iter()
        .filter(|a| a["address"] == address)
        .collect();
    assert_eq!(found.len(), 1, "{address} in {summary:#}");
    found[0]
}

/// Asserts a successful account entry with these counts.
#[track_caller]
fn assert_account(summary: &Value, source: &Source, copied: usize, already_there: usize) {
    let address = source.account.address();
    let entry = account_entry(summary, &address);
    // The bytes copied are checked where the test knows them; nothing copied is 0 bytes.
    let bytes = if copied == 0 {
        0
    } else {
        entry["bytes"].as_u64().unwrap()
    };
    let expected = serde_json::json!({
        "address": address,
        "source_user": source.account.source,
        "status": "ok",
        "error": null,
        "folders": source.folders.len(),
        "copied": copied,
        "already_there": already_there,
        "skipped": source.deleted(),
        "failed": 0,
        "bytes": bytes,
        "over_quota": false,
    });
    assert_eq!(entry, &expected, "{summary:#}");
}

/// A message of a source mailbox: its number, source folder, congvu folder, subject,
/// flags and keywords; message n is received n - 1 days after [`OLD`].
type Letter = (
    usize,
    &'static str,
    &'static str,
    &'static str,
    &'static [Flag],
    &'static [&'static str],
);

/// An's mail, less the dossier (5) and the message in the folder named in NFD (13).
#[rustfmt::skip]
const AN_LETTERS: [Letter; 12] = [
    (1, "INBOX", "INBOX", "Giay moi hop", &[Flag::Seen, Flag::Answered], &["$Forwarded"]),
    (2, "INBOX", "INBOX", "Bao cao quy I", &[Flag::Flagged], &["DaXuLy", "$label1"]),
    (3, "INBOX", "INBOX", "Chua doc", &[], &[]),
    (4, "INBOX", "INBOX", "Da xoa", &[Flag::Seen, Flag::Deleted], &[]),
    (6, "Sent", "Sent", "Tra loi", &[Flag::Seen], &[]),
    (7, "Drafts", "Drafts", "Du thao", &[Flag::Draft], &[]),
    (8, "Trash", "Trash", "Rac", &[Flag::Seen], &[]),
    (9, "Junk", "Junk", "Quang cao", &[], &["$Junk"]),
    (10, "Công văn đến", "Công văn đến", "Cong van 10", &[Flag::Seen], &[]),
    (11, "Công văn đến/2023", "Công văn đến/2023", "Cong van 11",
        &[Flag::Seen, Flag::Flagged], &["DaXuLy"]),
    (12, "Công văn đến/2023", "Công văn đến/2023", "Cong van 12", &[], &[]),
    (14, "Tài liệu cũ", "Tài liệu cũ", "Tai lieu da xoa", &[Flag::Deleted], &[]),
];

impl Source {
    /// Writes `letters` into this account's mailbox.
    fn letters(&mut self, letters: &[Letter]) {
        for &(n, folder, target, subject, flags, keywords) in letters {
            let bytes = letter(self.account.source, n, subject);
            let received = OLD + (n as i64 - 1) * DAY;
            self.put(folder, target, bytes, flags, keywords, received);
        }
    }
}

/// The mailbox of An on the old server: INBOX with flags, keywords, old dates, a message
/// marked `\Deleted` and (if asked) the 20 MiB dossier; the special-use folders; a
/// two-level Vietnamese hierarchy; a folder named in decomposed Unicode (NFD); an
/// unsubscribed one holding only a deleted message.
fn an_mailbox(dovecot: &Dovecot, with_dossier: bool) -> Source {
    let mut s = Source::new(dovecot, AN);
    s.letters(&AN_LETTERS);
    if with_dossier {
        let dossier = dossier(AN.source);
        s.put("INBOX", "INBOX", dossier, &[Flag::Seen], &[], OLD + 4 * DAY);
    }
    let ho_so_nfd: String = "Hồ sơ".nfd().collect();
    assert_ne!(ho_so_nfd, "Hồ sơ");
    let ho_so = letter(AN.source, 13, "Ho so");
    s.put(
        &ho_so_nfd,
        "Hồ sơ",
        ho_so,
        &[Flag::Seen],
        &[],
        OLD + 12 * DAY,
    );
    s.maildir.subscribe(&[
        "INBOX",
        "Sent",
        "Công văn đến",
        "Công văn đến/2023",
        &ho_so_nfd,
    ]);
    s
}

/// Nhung's mailbox, kept by Outlook against Exchange: `Sent Items`, `Deleted Items`,
/// `Junk Email`, none of them marked special-use.
fn nhung_mailbox(dovecot: &Dovecot) -> Source {
    let mut s = Source::new(dovecot, NHUNG_SRC);
    let w = NHUNG_SRC.source;
    s.put(
        "INBOX",
        "INBOX",
        letter(w, 1, "Lich cong tac"),
        &[Flag::Seen],
        &[],
        OLD,
    );
    s.put(
        "Sent Items",
        "Sent",
        letter(w, 2, "Da gui"),
        &[Flag::Seen],
        &[],
        OLD + DAY,
    );
    s.put(
        "Deleted Items",
        "Trash",
        letter(w, 3, "Da xoa"),
        &[Flag::Seen],
        &[],
        OLD + 2 * DAY,
    );
    s.put(
        "Junk Email",
        "Junk",
        letter(w, 4, "Thu rac"),
        &[],
        &[],
        OLD + 3 * DAY,
    );
    s.maildir.subscribe(&["INBOX", "Sent Items"]);
    s
}

/// Vân's mailbox, with the special folders named in Vietnamese and not marked special-use.
fn van_mailbox(dovecot: &Dovecot) -> Source {
    let mut s = Source::new(dovecot, VAN_SRC);
    let w = VAN_SRC.source;
    s.put("INBOX", "INBOX", letter(w, 1, "Thong bao"), &[], &[], OLD);
    s.put(
        "Thư đã gửi",
        "Sent",
        letter(w, 2, "Da gui"),
        &[Flag::Seen],
        &[],
        OLD + DAY,
    );
    s.put(
        "Thư nháp",
        "Drafts",
        letter(w, 3, "Nhap"),
        &[Flag::Draft, Flag::Seen],
        &[],
        OLD + 2 * DAY,
    );
    s.put(
        "Thùng rác",
        "Trash",
        letter(w, 4, "Rac"),
        &[Flag::Seen],
        &[],
        OLD + 3 * DAY,
    );
    s.put(
        "Thư rác",
        "Junk",
        letter(w, 5, "Spam"),
        &[],
        &[],
        OLD + 4 * DAY,
    );
    s.maildir.subscribe(&["INBOX", "Thư đã gửi"]);
    s
}

/// `count` small messages spread over INBOX and two folders.
fn many_messages(dovecot: &Dovecot, account: Account, count: usize) -> Source {
    let mut s = Source::new(dovecot, account);
    for n in 0..count {
        let (folder, flags): (&str, &[Flag]) = match n % 3 {
            0 => ("INBOX", &[Flag::Seen]),
            1 => ("Công văn đến", &[]),
            _ => ("Công văn đến/2024", &[Flag::Flagged]),
        };
        let subject = format!("Van ban so {n}");
        let bytes = letter(account.source, n, &subject);
        s.put(folder, folder, bytes, flags, &[], OLD + n as i64 * 3_600);
    }
    s
}

/// The kit itself, against Dovecot's own IMAP: names, flags, keywords, dates and
/// subscriptions read from the files as the migration tests rely on, and both master-user
/// forms. No congvu here, so it runs once rather than per backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_serves_what_the_test_wrote() {
    tokio::time::timeout(crate::TEST_DEADLINE, dovecot_serves_what_was_written())
        .await
        .expect("the test ran past its deadline")
}

async fn dovecot_serves_what_was_written() {
    let dovecot = Dovecot::start(&[(AN.source, AN.password)]).await;
    let source = an_mailbox(&dovecot, false);
    let mut imap = dovecot.session(AN.source, AN.password).await;
    let ho_so_nfd = mutf7(&"Hồ sơ".nfd().collect::<String>());
    let cong_van = "C&APQ-ng v&AQM-n &AREevw-n";
    let cong_van_2023 = "C&APQ-ng v&AQM-n &AREevw-n.2023";
    let folders = [
        "INBOX",
        "Sent",
        "Drafts",
        "Trash",
        "Junk",
        cong_van,
        cong_van_2023,
        &ho_so_nfd,
        "T&AOA-i li&Hsc-u c&AWk-",
    ];
    assert_eq!(
        listed(&mut imap, false).await,
        folders.map(String::from).into()
    );
    let subscribed = ["INBOX", "Sent", cong_van, cong_van_2023, &ho_so_nfd];
    assert_eq!(
        listed(&mut imap, true).await,
        subscribed.map(String::from).into()
    );
    // The deleted message is still there on the source: the migration skips it.
    let mut inbox: Vec<Held> = source
        .written
        .iter()
        .filter(|w| w.target == "INBOX")
        .map(Written::held)
        .collect();
    inbox.sort();
    let served = fetch_folder(&mut imap, "INBOX").await;
    assert_eq!(served, inbox, "{}", dovecot.log());
    imap.logout().await.unwrap();

    // The master user signs in as An with Dovecot's separator (the migration tests also
    // sign in with SASL PLAIN and an authorization identity).
    let master = format!("{}*{MASTER_USER}", AN.source);
    let mut as_master = dovecot.session(&master, dovecot::MASTER_PASSWORD).await;
    assert_eq!(fetch_folder(&mut as_master, "INBOX").await, inbox);
    as_master.logout().await.unwrap();
}

async fn every_folder_flag_date_and_byte_arrives(backend: Backend) {
    let Some(scene) = Scene::start(backend, &[AN, NHUNG_SRC, VAN_SRC]).await else {
        return;
    };
    let an = an_mailbox(&scene.dovecot, true);
    let nhung = nhung_mailbox(&scene.dovecot);
    let van = van_mailbox(&scene.dovecot);
    let accounts = scene.accounts("accounts.csv", &[AN, NHUNG_SRC, VAN_SRC]);

    let run = scene
        .migrate(&scene.dovecot.imaps_url(), &accounts, &[])
        .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, scene.dovecot.log());
    let summary = json_of(&run);
    assert_eq!(summary["dry_run"], false);
    for source in [&an, &nhung, &van] {
        assert_account(&summary, source, source.live().count(), 0);
        let entry = account_entry(&summary, &source.account.address());
        assert_eq!(entry["bytes"], source.bytes(), "{summary:#}");
        scene.assert_arrived(source).await;
    }
    let sources = [&an, &nhung, &van];
    assert_eq!(
        summary["totals"],
        serde_json::json!({
            "accounts": 3,
            "failed_accounts": 0,
            "folders": sources.iter().map(|s| s.folders.len()).sum::<usize>(),
            "copied": sources.iter().map(|s| s.live().count()).sum::<usize>(),
            "already_there": 0,
            "skipped": sources.iter().map(|s| s.deleted()).sum::<usize>(),
            "failed": 0,
            "bytes": sources.iter().map(|s| s.bytes()).sum::<u64>(),
        })
    );
    assert_eq!(summary["over_quota"], serde_json::json!([]));

    // Subscriptions follow: the source's subscribed folders are subscribed in congvu, and
    // `Tài liệu cũ`, which An had not subscribed to, is not.
    let subscribed: BTreeMap<String, bool> = scene
        .folders(ANNV)
        .await
        .into_iter()
        .map(|m| (m.name, m.subscribed))
        .collect();
    for name in ["Công văn đến", "Công văn đến/2023", "Hồ sơ"] {
        assert_eq!(subscribed.get(name), Some(&true), "{name}: {subscribed:?}");
    }
    assert_eq!(
        subscribed.get("Tài liệu cũ"),
        Some(&false),
        "{subscribed:?}"
    );
    // One `Hồ sơ`, in NFC, whatever form the source used.
    let ho_so: Vec<&String> = subscribed
        .keys()
        .filter(|n| n.nfc().collect::<String>() == "Hồ sơ")
        .collect();
    assert_eq!(ho_so, ["Hồ sơ"]);
    // The special folders are congvu's own, with their roles, not new folders beside them.
    for source in [&nhung, &van] {
        let folders = scene.folders(source.account.official).await;
        let names: BTreeSet<&str> = folders.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            BTreeSet::from(["INBOX", "Sent", "Drafts", "Trash", "Junk"]),
            "{}",
            source.account.address()
        );
    }
}

async fn a_second_run_copies_nothing_and_a_delta_pass_brings_changes(backend: Backend) {
    let Some(scene) = Scene::start(backend, &[AN]).await else {
        return;
    };
    let mut an = an_mailbox(&scene.dovecot, false);
    let accounts = scene.accounts("accounts.csv", &[AN]);
    let source = scene.dovecot.imaps_url();
    let first = json_of(&scene.migrate(&source, &accounts, &[]).await.ok());
    let live = an.live().count();
    assert_account(&first, &an, live, 0);

    let second = json_of(&scene.migrate(&source, &accounts, &[]).await.ok());
    assert_account(&second, &an, 0, live);
    scene.assert_arrived(&an).await;

    // Meanwhile on the old server: An flags a message and reads another over IMAP, files a
    // new one into a Vietnamese folder, and new mail is delivered to INBOX.
    let mut imap = scene.dovecot.session(AN.source, AN.password).await;
    imap.select("INBOX").await.unwrap();
    let flagged = format!("<{}-1@cu.{DOMAIN}>", AN.source);
    let read = format!("<{}-3@cu.{DOMAIN}>", AN.source);
    for (id, change) in [(&flagged, "+FLAGS (\\Flagged)"), (&read, "+FLAGS (\\Seen)")] {
        let uids = imap
            .uid_search(format!("HEADER Message-ID \"{id}\""))
            .await
            .unwrap();
        let uid = uids.into_iter().next().unwrap();
        let _: Vec<_> = imap
            .uid_store(uid.to_string(), change)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
    }
    for written in an.written.iter_mut() {
        let id = message_id(&written.bytes);
        if id == flagged {
            written.flags.push(Flag::Flagged);
        }
        if id == read {
            written.flags.push(Flag::Seen);
        }
    }
    let filed = letter(AN.source, 20, "Cong van moi");
    imap.append(
        mutf7("Công văn đến"),
        Some("(\\Seen $Forwarded)"),
        Some("\"15-Jan-2024 09:30:00 +0700\""),
        &filed,
    )
    .await
    .unwrap();
    imap.logout().await.unwrap();
    an.written.push(Written {
        target: "Công văn đến".into(),
        bytes: filed,
        flags: vec![Flag::Seen],
        keywords: vec!["$Forwarded".into()],
        received: 1_705_285_800,
    });
    let delivered = letter(AN.source, 21, "Thu moi den");
    let received = OLD + 400 * DAY;
    an.maildir.deliver("INBOX", &delivered, received);
    an.written.push(Written {
        target: "INBOX".into(),
        bytes: delivered,
        flags: Vec::new(),
        keywords: Vec::new(),
        received,
    });

    let delta = json_of(&scene.migrate(&source, &accounts, &[]).await.ok());
    assert_account(&delta, &an, 2, live);
    scene.assert_arrived(&an).await;
    let after = json_of(&scene.migrate(&source, &accounts, &[]).await.ok());
    assert_account(&after, &an, 0, live + 2);
    scene.assert_arrived(&an).await;
}

async fn a_run_killed_midway_and_run_again_copies_each_message_once(backend: Backend) {
    let Some(scene) = Scene::start(backend, &[AN]).await else {
        return;
    };
    let total = 60;
    let an = many_messages(&scene.dovecot, AN, total);
    let accounts = scene.accounts("accounts.csv", &[AN]);
    let source = scene.dovecot.imaps_url();
    let ca = scene.dovecot.ca_file();
    // Killed twice: once early, once about half-way; at 20 messages a second the run would
    // take three seconds, so each kill lands mid-copy.
    for at_least in [3, total / 2] {
        let mut run = scene.spawn(&[
            "migrate",
            "imap",
            "--source",
            &source,
            "--accounts",
            accounts.to_str().unwrap(),
            "--ca-file",
            ca.to_str().unwrap(),
            "--max-messages-per-second",
            "20",
        ]);
        let deadline = Instant::now() + RUN_DEADLINE;
        while scene.message_count(ANNV).await < at_least {
            assert!(
                run.running(),
                "the run ended before it was killed:\n{}",
                run.stderr()
            );
            assert!(
                Instant::now() < deadline,
                "no progress within {RUN_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        run.kill();
        let copied = scene.message_count(ANNV).await;
        assert!(
            copied < total,
            "killed after everything was copied ({copied})"
        );
    }

    let rerun = json_of(&scene.migrate(&source, &accounts, &[]).await.ok());
    let entry = account_entry(&rerun, &AN.address());
    assert_eq!(entry["status"], "ok", "{rerun:#}");
    assert_eq!(
        entry["copied"].as_u64().unwrap() + entry["already_there"].as_u64().unwrap(),
        total as u64,
        "{rerun:#}"
    );
    assert!(entry["already_there"].as_u64().unwrap() >= (total / 2) as u64);
    // Every message exactly once, byte for byte, with its flags and date.
    scene.assert_arrived(&an).await;
    let holding = scene.holding(ANNV).await;
    let mut ids: Vec<&str> = holding
        .values()
        .flatten()
        .map(|m| m.message_id.as_str())
        .collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (total, total));
}

async fn master_user_signs_in_with_an_authzid_or_dovecots_separator(backend: Backend) {
    let Some(scene) = Scene::start(backend, &[AN, NHUNG_SRC]).await else {
        return;
    };
    let an = many_messages(&scene.dovecot, AN, 6);
    let nhung = nhung_mailbox(&scene.dovecot);
    let source = scene.dovecot.imaps_url();
    let password_file = scene.dovecot.master_password_file();
    let master = |style: &'static str| {
        [
            "--master-user",
            MASTER_USER,
            "--master-password-file",
            password_file.to_str().unwrap(),
            "--master-style",
            style,
        ]
        .map(str::to_string)
    };

    // SASL PLAIN with An as the authorization identity; the CSV has no password column.
    let an_csv = scene.csv(
        "an.csv",
        &["address", "source_user"],
        &[vec![AN.address(), AN.source.into()]],
    );
    let authzid = master("authzid");
    let run = scene.migrate(&source, &an_csv, &strs(&authzid)).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, scene.dovecot.log());
    assert_account(&json_of(&run), &an, an.live().count(), 0);
    scene.assert_arrived(&an).await;

    // `nhung.lth*saoluu`: Dovecot's own form; the password column is there but empty.
    let nhung_csv = scene.csv(
        "nhung.csv",
        &["address", "source_user", "source_password"],
        &[vec![
            NHUNG_SRC.address(),
            NHUNG_SRC.source.into(),
            String::new(),
        ]],
    );
    let separator = master("dovecot");
    let run = scene.migrate(&source, &nhung_csv, &strs(&separator)).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, scene.dovecot.log());
    assert_account(&json_of(&run), &nhung, nhung.live().count(), 0);
    scene.assert_arrived(&nhung).await;
    // A wrong master password fails every account and copies nothing more.
    let wrong = scene.cli.dir.join("wrong-master");
    std::fs::write(&wrong, "not-the-master-password\n").unwrap();
    let mut wrong_args = master("authzid");
    wrong_args[3] = wrong.to_str().unwrap().to_string();
    let both = scene.csv(
        "both.csv",
        &["address", "source_user"],
        &[
            vec![AN.address(), AN.source.into()],
            vec![NHUNG_SRC.address(), NHUNG_SRC.source.into()],
        ],
    );
    let before = scene.message_count(ANNV).await;
    let run = scene.migrate(&source, &both, &strs(&wrong_args)).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let summary = json_of(&run);
    assert_eq!(summary["totals"]["failed_accounts"], 2, "{summary:#}");
    for account in [AN, NHUNG_SRC] {
        assert!(run.stderr.contains(&account.address()), "{}", run.stderr);
        assert_eq!(
            account_entry(&summary, &account.address())["status"],
            "failed"
        );
    }
    assert_eq!(scene.message_count(ANNV).await, before);
}

async fn one_wrong_password_fails_that_account_alone(backend: Backend) {
    let Some(scene) = Scene::start(backend, &[AN, NHUNG_SRC, VAN_SRC]).await else {
        return;
    };
    let an = many_messages(&scene.dovecot, AN, 5);
    let _nhung = nhung_mailbox(&scene.dovecot);
    let van = van_mailbox(&scene.dovecot);
    let wrong = Account {
        password: "Mat-khau-sai",
        ..NHUNG_SRC
    };
    let accounts = scene.accounts("accounts.csv", &[AN, wrong, VAN_SRC]);
    let run = scene
        .migrate(&scene.dovecot.imaps_url(), &accounts, &[])
        .await;

    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains(&NHUNG_SRC.address()),
        "stderr names the failed account:\n{}",
        run.stderr
    );
    for good in [AN, VAN_SRC] {
        assert!(!run.stderr.contains(&good.address()), "{}", run.stderr);
    }
    let summary = json_of(&run);
    let failed = account_entry(&summary, &NHUNG_SRC.address());
    assert_eq!(failed["status"], "failed", "{summary:#}");
    assert_eq!(failed["source_user"], NHUNG_SRC.source);
    assert!(
        failed["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{summary:#}"
    );
    assert_eq!(failed["copied"], 0);
    assert_eq!(summary["totals"]["accounts"], 3);
    assert_eq!(summary["totals"]["failed_accounts"], 1);
    assert_account(&summary, &an, an.live().count(), 0);
    assert_account(&summary, &van, van.live().count(), 0);
    scene.assert_arrived(&an).await;
    scene.assert_arrived(&van).await;
    assert_eq!(scene.message_count(NHUNG).await, 0);
    // The old server refused the wrong password (auth_verbose logs each mismatch).
    let mismatches = scene.dovecot.log_lines("Password mismatch");
    assert!(
        mismatches.iter().any(|l| l.contains(NHUNG_SRC.source)),
        "{}",
        scene.dovecot.log()
    );
}

async fn starttls_and_implicit_tls_trust_the_private_ca_only(backend: Backend) {
    let Some(scene) = Scene::start(backend, &[AN, NHUNG_SRC, VAN_SRC]).await else {
        return;
    };
    let an = many_messages(&scene.dovecot, AN, 4);
    let nhung = nhung_mailbox(&scene.dovecot);
    let _van = van_mailbox(&scene.dovecot);

    // imap:// upgrades with STARTTLS, trusting the private CA from --ca-file.
    let an_csv = scene.accounts("an.csv", &[AN]);
    let run = scene.migrate(&scene.dovecot.imap_url(), &an_csv, &[]).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, scene.dovecot.log());
    assert_account(&json_of(&run), &an, an.live().count(), 0);
    scene.assert_arrived(&an).await;
    let tls_logins = scene
        .dovecot
        .log_lines(&format!("Login: user=<{}>", AN.source));
    assert!(
        tls_logins.iter().all(|l| l.contains(", TLS")),
        "every sign-in over TLS: {tls_logins:#?}"
    );

    // imaps:// with --ca-file.
    let nhung_csv = scene.accounts("nhung.csv", &[NHUNG_SRC]);
    let run = scene
        .migrate(&scene.dovecot.imaps_url(), &nhung_csv, &[])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_account(&json_of(&run), &nhung, nhung.live().count(), 0);

    // Without --ca-file the private CA is not trusted: nothing is copied, and the error
    // says why.
    let van_csv = scene.accounts("van.csv", &[VAN_SRC]);
    let run = scene
        .run(&[
            "migrate",
            "imap",
            "--source",
            &scene.dovecot.imaps_url(),
            "--accounts",
            van_csv.to_str().unwrap(),
            "--json",
        ])
        .await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains(&VAN_SRC.address()), "{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("certificate"),
        "{}",
        run.stderr
    );
    assert_eq!(scene.message_count(VAN).await, 0);
    assert!(
        scene
            .dovecot
            .log_lines(&format!("Login: user=<{}>", VAN_SRC.source))
            .is_empty(),
        "no password sent to an untrusted server"
    );
}

async fn plaintext_only_on_loopback(backend: Backend) {
    let Some(scene) = Scene::start(backend, &[AN]).await else {
        return;
    };
    let an = many_messages(&scene.dovecot, AN, 4);
    let an_csv = scene.accounts("an.csv", &[AN]);
    // --insecure-plain is for a source on loopback only: a usage error elsewhere, before
    // any connection is tried.
    let started = Instant::now();
    let run = scene
        .run(&[
            "migrate",
            "imap",
            "--source",
            "imap://192.0.2.25:143",
            "--accounts",
            an_csv.to_str().unwrap(),
            "--insecure-plain",
        ])
        .await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("--insecure-plain"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));

    // On loopback it is allowed: An signs in without TLS, and Dovecot saw no TLS.
    let run = scene
        .migrate(&scene.dovecot.imap_url(), &an_csv, &["--insecure-plain"])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_account(&json_of(&run), &an, an.live().count(), 0);
    scene.assert_arrived(&an).await;
    let logins = scene
        .dovecot
        .log_lines(&format!("Login: user=<{}>", AN.source));
    assert!(
        !logins.is_empty() && logins.iter().all(|l| !l.contains(", TLS")),
        "{logins:#?}"
    );
}

async fn officials_past_their_quota_get_everything_and_are_listed(backend: Backend) {
    let Some(scene) = Scene::start(backend, &[AN, DAYHOP_SRC]).await else {
        return;
    };
    let an = many_messages(&scene.dovecot, AN, 3);
    // Five messages of about 600 bytes against a 2,000-byte quota.
    let mut full = Source::new(&scene.dovecot, DAYHOP_SRC);
    for n in 0..5 {
        let bytes = letter(DAYHOP_SRC.source, n, &format!("Thu cu {n}"));
        full.put(
            "INBOX",
            "INBOX",
            bytes,
            &[Flag::Seen],
            &[],
            OLD + n as i64 * DAY,
        );
    }
    assert!(full.bytes() > 2_000);
    let accounts = scene.accounts("accounts.csv", &[AN, DAYHOP_SRC]);
    let run = scene
        .migrate(&scene.dovecot.imaps_url(), &accounts, &[])
        .await;

    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = json_of(&run);
    assert_eq!(
        summary["over_quota"],
        serde_json::json!([DAYHOP_SRC.address()])
    );
    let entry = account_entry(&summary, &DAYHOP_SRC.address());
    assert_eq!(
        (&entry["status"], &entry["copied"], &entry["over_quota"]),
        (&Value::from("ok"), &Value::from(5), &Value::from(true)),
        "{summary:#}"
    );
    assert_account(&summary, &an, an.live().count(), 0);
    scene.assert_arrived(&full).await;
    scene.assert_arrived(&an).await;
}

async fn mbsync_reads_the_migrated_mailbox_from_congvu(backend: Backend) {
    mbsync::require();
    let Some(scene) = Scene::start(backend, &[AN]).await else {
        return;
    };
    let an = an_mailbox(&scene.dovecot, false);
    let accounts = scene.accounts("accounts.csv", &[AN]);
    scene
        .migrate(&scene.dovecot.imaps_url(), &accounts, &[])
        .await
        .ok();

    let certificate = scene.cli.dir.join("data/tls/self-signed-cert.pem");
    let account = mbsync::Account {
        user: ANNV.0,
        password: ANNV.1,
        port: scene.p.addr(ListenerKind::Imaps).port(),
        certificate: &certificate,
    };
    let client = Mbsync::new(&scene.cli.dir.join("mbsync"), account, Direction::Pull);
    client.sync().await;

    // Folder by folder, mbsync found what the old server had: the same bytes (mbsync keeps
    // LF line ends and adds X-TUID) and the same system flags in the file names.
    let local = pulled(&client);
    let mut expected: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (folder, _) in an.expected() {
        expected.entry(mutf7(&folder)).or_default();
    }
    for written in an.live() {
        let mut letters: Vec<char> = written
            .flags
            .iter()
            .filter_map(|f| match f {
                Flag::Draft => Some('D'),
                Flag::Flagged => Some('F'),
                Flag::Answered => Some('R'),
                Flag::Seen => Some('S'),
                Flag::Deleted => None,
            })
            .collect();
        // mbsync keeps `$Forwarded` as Maildir's P (passed).
        if written.keywords.iter().any(|k| k == "$Forwarded") {
            letters.push('P');
        }
        letters.sort_unstable();
        let text = String::from_utf8(with_lf(&written.bytes)).unwrap();
        expected
            .get_mut(&mutf7(&written.target))
            .unwrap()
            .push((text, letters.into_iter().collect()));
    }
    for messages in expected.values_mut() {
        messages.sort();
    }
    assert_eq!(local, expected);
}

/// Every message in each folder mbsync pulled (by folder path relative to its Maildir): its
/// text without mbsync's `X-TUID:` line, and the flag letters of its file name; sorted.
fn pulled(client: &Mbsync) -> BTreeMap<String, Vec<(String, String)>> {
    let folders = client.folders().into_iter().map(|(folder, files)| {
        let mut messages: Vec<(String, String)> = files
            .iter()
            .map(|file| {
                let text = String::from_utf8(without_tuid(&file.bytes)).unwrap();
                (text, file.flags().to_string())
            })
            .collect();
        messages.sort();
        (folder, messages)
    });
    folders.collect()
}
