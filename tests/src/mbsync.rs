//! `mbsync` (Debian package isync) as a real mail client of the test's congvu: it signs in
//! over implicit TLS trusting the server's self-signed certificate, and keeps a whole
//! mailbox in step with a local Maildir, in both directions or pulling only.
//!
//! This module owns the client's home directory under the test's own directory (its
//! `mbsyncrc`, its sync state and the Maildir `Mail/`), and reads that Maildir back as the
//! test compares it with the server. What mbsync changes in a message is undone by
//! [`with_lf`] and [`without_tuid`], so a test can compare bytes.
//!
//! Never skipped: where mbsync is missing, [`require`] fails the test and says how to install
//! it, as `.ci/run` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest one mbsync run may take.
const SYNC_DEADLINE: Duration = Duration::from_secs(180);

/// Fails the test, saying how to install it, where mbsync cannot run.
pub fn require() {
    let found = Command::new("mbsync")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "mbsync is not installed: apt-get install isync (.ci/run installs it)"
    );
}

/// Which way a sync carries folders and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways: new folders are made on either side, nothing is expunged.
    Both,
    /// Only from the server into the Maildir, which gets the server's folders.
    Pull,
}

impl Direction {
    /// The channel's options for this direction.
    fn channel_options(self) -> &'static str {
        match self {
            Direction::Both => "Create Both\nExpunge None\n",
            Direction::Pull => "Create Near\nSync Pull\n",
        }
    }
}

/// The IMAPS account mbsync signs in to.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    pub user: &'a str,
    pub password: &'a str,
    /// congvu's implicit-TLS IMAP port on 127.0.0.1.
    pub port: u16,
    /// The server's self-signed certificate (PEM), the only one mbsync trusts.
    pub certificate: &'a Path,
}

/// One mbsync client: its home, configuration and Maildir.
#[derive(Debug)]
pub struct Mbsync {
    home: PathBuf,
    config: PathBuf,
    maildir: PathBuf,
}

impl Mbsync {
    /// A client under `home` (made if missing) that keeps all of `account`'s folders in step
    /// with the Maildir `home/Mail` in `direction`.
    pub fn new(home: &Path, account: Account<'_>, direction: Direction) -> Mbsync {
        let maildir = home.join("Mail");
        std::fs::create_dir_all(&maildir).unwrap();
        let text = format!(
            "IMAPAccount congvu\n\
             Host 127.0.0.1\n\
             Port {port}\n\
             User {user}\n\
             Pass {password}\n\
             SSLType IMAPS\n\
             CertificateFile {certificate}\n\
             SystemCertificates no\n\
             \n\
             IMAPStore congvu-remote\n\
             Account congvu\n\
             \n\
             MaildirStore congvu-local\n\
             Path {maildir}/\n\
             Inbox {maildir}/INBOX\n\
             SubFolders Verbatim\n\
             \n\
             Channel congvu\n\
             Far :congvu-remote:\n\
             Near :congvu-local:\n\
             Patterns *\n\
             {options}\
             SyncState *\n",
            port = account.port,
            user = account.user,
            password = account.password,
            certificate = account.certificate.display(),
            maildir = maildir.display(),
            options = direction.channel_options(),
        );
        let config = home.join("mbsyncrc");
        std::fs::write(&config, text).unwrap();
        Mbsync {
            home: home.to_path_buf(),
            config,
            maildir,
        }
    }

    /// The local Maildir's root; INBOX is its folder `INBOX`.
    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// Runs `mbsync -a`; fails the test if it fails or runs past [`SYNC_DEADLINE`].
    pub async fn sync(&self) {
        let (config, home) = (self.config.clone(), self.home.clone());
        tokio::task::spawn_blocking(move || {
            let mut child = Command::new("mbsync")
                .arg("-c")
                .arg(&config)
                .arg("-a")
                .env("HOME", &home)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + SYNC_DEADLINE;
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let output = child.wait_with_output().unwrap();
                    panic!(
                        "mbsync ran past {SYNC_DEADLINE:?}:\n{}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "mbsync failed ({}):\n{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        })
        .await
        .unwrap()
    }

    /// Every message file in each folder of the Maildir, by folder path relative to its
    /// root (as mbsync names them: IMAP's modified UTF-7, levels as directories).
    pub fn folders(&self) -> BTreeMap<String, Vec<MessageFile>> {
        let mut folders = BTreeMap::new();
        let mut pending = vec![self.maildir.clone()];
        while let Some(dir) = pending.pop() {
            if dir.join("cur").is_dir() {
                let name = dir.strip_prefix(&self.maildir).unwrap();
                folders.insert(name.to_string_lossy().into_owned(), messages(&dir));
            }
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let is_maildir_part = ["cur", "new", "tmp"]
                    .iter()
                    .any(|part| path.file_name().is_some_and(|n| n == *part));
                if path.is_dir() && !is_maildir_part {
                    pending.push(path);
                }
            }
        }
        folders
    }
}

/// A message in the Maildir: its file name and its bytes as mbsync wrote them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl MessageFile {
    /// The flag letters of the file name's info part (`…:2,FS` has `FS`); empty for a
    /// message in `new/`.
    pub fn flags(&self) -> &str {
        self.name.rsplit_once(":2,").map_or("", |(_, flags)| flags)
    }
}

/// The messages in `cur/` and `new/` of the Maildir folder at `dir`.
fn messages(dir: &Path) -> Vec<MessageFile> {
    let mut messages = Vec::new();
    for sub in ["cur", "new"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            messages.push(MessageFile {
                name: path.file_name().unwrap().to_string_lossy().into_owned(),
                bytes: std::fs::read(&path).unwrap(),
            });
        }
    }
    messages
}

/// A message as mbsync keeps it in a Maildir: with LF line ends.
pub fn with_lf(message: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(message)
        .replace("\r\n", "\n")
        .into_bytes()
}

/// A message without the `X-TUID:` field mbsync adds to recognise its own copies.
pub fn without_tuid(message: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(message);
    let kept: Vec<&str> = text
        .split_inclusive('\n')
        .filter(|line| !line.starts_with("X-TUID: "))
        .collect();
    kept.concat().into_bytes()
}
