//! A private Dovecot (Debian's `dovecot-imapd` 2.3) for one end-to-end test: the old mail
//! server a province migrates from, on free loopback ports, with Maildir mailboxes the test
//! writes itself.
//!
//! This module owns the daemon's process, its configuration and every file under its
//! temporary directory; it never touches the system's Dovecot. The configuration is ours:
//! implicit TLS (`imaps`) and plain IMAP with STARTTLS, both with a certificate issued by a
//! CA made for the instance ([`Dovecot::ca_file`] is what a client passes as `--ca-file`);
//! users in a passwd-file, and a master user in a second one (`auth_master_user_separator =
//! *`, `master = yes`), so both Dovecot's `user*master` LOGIN and SASL PLAIN with an
//! authorization identity sign in as any user; a static userdb with
//! `mail_location = maildir:…/%u` in Dovecot's default Maildir++ layout (hierarchy separator
//! `.`); and the special-use folders `Sent`, `Drafts`, `Trash` and `Junk` (RFC 6154) named
//! in the namespace. Folders named otherwise (`Sent Items`, `Thư đã gửi`) carry no
//! special-use attribute, as on a server where clients made their own.
//!
//! Dovecot refuses to run mail processes as root, so they run as the system's `mail` user,
//! and every file the [`Maildir`] writer makes is handed to that user.
//!
//! The [`Maildir`] writer lays messages down as an MDA or a restore would: folders as
//! `.Name` directories with modified UTF-7 names (RFC 3501 §5.1.3), message files in `cur/`
//! with `:2,` info flags (`S R F D T`), keywords as the lowercase letters that index the
//! folder's `dovecot-keywords` file, the received date (IMAP's INTERNALDATE) as the file's
//! modification time, and the `subscriptions` file in Dovecot's version 2 format. Dovecot
//! reads all of it the first time it opens the folder (it has no index yet); files put into
//! `new/` later are found at its next look, like mail delivered meanwhile.
//!
//! A missing program is a failure, not a skip: [`Dovecot::start`] panics and names the
//! Debian package that `.ci/run` installs.

use std::fs::File;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::alphabet::IMAP_MUTF7;
use base64::engine::general_purpose::NO_PAD;
use base64::engine::GeneralPurpose;
use base64::Engine;
use nix::unistd::User;
use rustls::pki_types::ServerName;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use crate::daemon;
use crate::imap::ImapSession;

const DOVECOT: &str = "/usr/sbin/dovecot";
const INSTALL_HINT: &str = "install the Debian package dovecot-imapd, as .ci/run does \
                            (apt-get install dovecot-imapd)";
/// The system user Dovecot's mail processes run as and who owns the mail files.
const MAIL_USER: &str = "mail";
/// How long Dovecot may take to greet on both ports.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long Dovecot's master may take to stop its processes after SIGTERM.
const STOP_WITHIN: Duration = Duration::from_secs(5);
/// The master user of every instance: it signs in as any user with its own password.
pub const MASTER_USER: &str = "saoluu";
/// [`MASTER_USER`]'s password.
pub const MASTER_PASSWORD: &str = "SaoLuu-matkhau-2026";
/// The name the certificate is issued to, besides `localhost` and `127.0.0.1`.
pub const HOSTNAME: &str = "mail.cu.vinhphuc.gov.vn";
/// Maildir++ keeps up to 26 keywords per folder, as the letters `a` to `z`.
const MAX_KEYWORDS: usize = 26;
/// IMAP's modified base64 (RFC 3501 §5.1.3): `,` for `/`, no padding.
const MUTF7: GeneralPurpose = GeneralPurpose::new(&IMAP_MUTF7, NO_PAD);

/// An IMAP system flag as Maildir keeps it in a file name's info part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    Draft,
    Flagged,
    Answered,
    Seen,
    Deleted,
}

impl Flag {
    /// The letter after `:2,` (the Maildir specification's letters, sorted as Dovecot
    /// writes them: D F R S T).
    fn letter(self) -> char {
        match self {
            Flag::Draft => 'D',
            Flag::Flagged => 'F',
            Flag::Answered => 'R',
            Flag::Seen => 'S',
            Flag::Deleted => 'T',
        }
    }

    /// The flag as IMAP writes it.
    pub fn imap(self) -> &'static str {
        match self {
            Flag::Draft => "\\Draft",
            Flag::Flagged => "\\Flagged",
            Flag::Answered => "\\Answered",
            Flag::Seen => "\\Seen",
            Flag::Deleted => "\\Deleted",
        }
    }
}

/// What [`Dovecot::start_with`] adds to the configuration [`Dovecot::start`] writes.
#[derive(Debug, Clone, Default)]
pub struct DovecotOptions {
    /// Settings appended to `dovecot.conf`, e.g. the `imapc_*` settings with which
    /// `doveadm backup -R imapc:` pulls mailboxes from another server.
    pub extra_config: String,
}

/// A private Dovecot. Dropping it kills the daemon and every process it started.
pub struct Dovecot {
    /// Dovecot's master process, leader of its own process group, which every process it
    /// starts (auth, login, imap) stays in.
    master: Child,
    imap_port: u16,
    imaps_port: u16,
    /// Owner of the mail files: the [`MAIL_USER`]'s uid and gid.
    owner: (u32, u32),
    /// Configuration, certificates, mail and log, removed after the daemon has ended.
    dir: TempDir,
    /// Trusts the instance's CA only.
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dovecot")
            .field("imap_port", &self.imap_port)
            .field("imaps_port", &self.imaps_port)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Dovecot {
    /// Starts Dovecot with `users` (login, password) and the [`MASTER_USER`], and waits
    /// until both ports greet. Panics, with the end of Dovecot's log, if it is missing or
    /// does not start.
    pub async fn start(users: &[(&str, &str)]) -> Dovecot {
        Dovecot::start_with(users, DovecotOptions::default()).await
    }

    /// [`Dovecot::start`] with `options`.
    pub async fn start_with(users: &[(&str, &str)], options: DovecotOptions) -> Dovecot {
        assert!(
            Path::new(DOVECOT).exists(),
            "{DOVECOT} is missing: {INSTALL_HINT}"
        );
        let mail_user = User::from_name(MAIL_USER)
            .unwrap()
            .unwrap_or_else(|| panic!("no system user {MAIL_USER:?} for Dovecot's mail files"));
        let owner = (mail_user.uid.as_raw(), mail_user.gid.as_raw());
        let dir = tempfile::Builder::new()
            .prefix("congvu-dovecot-")
            .tempdir()
            .unwrap();
        // Dovecot's login processes (user dovenull) and mail processes (user mail) walk in.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).unwrap();
        std::os::unix::fs::chown(&mail, Some(owner.0), Some(owner.1)).unwrap();
        let ca_pem = write_certificates(dir.path());
        write_passwd_files(dir.path(), users);
        let tls = connector(&ca_pem);
        let (master, imap_port, imaps_port) = daemon::start_on_free_ports("Dovecot", async || {
            let (imap_port, imaps_port) = (daemon::free_port(), daemon::free_port());
            write_configuration(dir.path(), owner, imap_port, imaps_port);
            append_configuration(dir.path(), &options.extra_config);
            let mut master = spawn(dir.path());
            match wait_until_ready(&mut master, imap_port, imaps_port).await {
                Ok(()) => Ok((master, imap_port, imaps_port)),
                Err(failure) => {
                    daemon::stop_process_group(&mut master, STOP_WITHIN);
                    Err(format!(
                        "ports {imap_port}/{imaps_port}: {failure}\n{}",
                        log_tail(dir.path())
                    ))
                }
            }
        })
        .await;
        Dovecot {
            master,
            imap_port,
            imaps_port,
            owner,
            dir,
            tls,
        }
    }

    /// `imaps://127.0.0.1:PORT`: implicit TLS.
    pub fn imaps_url(&self) -> String {
        format!("imaps://127.0.0.1:{}", self.imaps_port)
    }

    /// `imap://127.0.0.1:PORT`: plain IMAP that offers STARTTLS.
    pub fn imap_url(&self) -> String {
        format!("imap://127.0.0.1:{}", self.imap_port)
    }

    /// The implicit-TLS listener.
    pub fn imaps_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.imaps_port))
    }

    /// The plain listener that offers STARTTLS.
    pub fn imap_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.imap_port))
    }

    /// The PEM file of the CA that issued the instance's certificate, for `--ca-file`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    /// A file holding [`MASTER_PASSWORD`] on one line, for `--master-password-file`.
    pub fn master_password_file(&self) -> PathBuf {
        self.dir.path().join("master-password")
    }

    /// The configuration file, for `doveadm -c`.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    /// The writer of `login`'s mailbox. The user need not have signed in yet.
    pub fn maildir(&self, login: &str) -> Maildir {
        let root = self.dir.path().join("mail").join(login);
        let maildir = Maildir {
            root,
            owner: self.owner,
        };
        maildir.folder("INBOX");
        maildir
    }

    /// An `async-imap` session over implicit TLS, logged in as `login`.
    pub async fn session(&self, login: &str, password: &str) -> ImapSession {
        let session = async {
            let tcp = TcpStream::connect(self.imaps_addr()).await.unwrap();
            let name = ServerName::try_from(HOSTNAME).unwrap();
            let tls = self.tls.connect(name, tcp).await.unwrap();
            let mut client = async_imap::Client::new(tls);
            let greeting = client.read_response().await.unwrap();
            assert!(greeting.is_some(), "no greeting from Dovecot");
            client
                .login(login, password)
                .await
                .map_err(|(error, _)| error)
                .unwrap()
        };
        tokio::time::timeout(READY_WITHIN, session)
            .await
            .unwrap_or_else(|_| panic!("no Dovecot session in time:\n{}", self.log()))
    }

    /// The end of Dovecot's log, for a failing test's message.
    pub fn log(&self) -> String {
        log_tail(self.dir.path())
    }

    /// Lines of Dovecot's whole log that contain `text`.
    pub fn log_lines(&self, text: &str) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default();
        log.lines()
            .filter(|line| line.contains(text))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM first: Dovecot's master then ends its auth, login and imap processes and
        // reaps them itself.
        daemon::stop_process_group(&mut self.master, STOP_WITHIN);
    }
}

/// One user's Maildir++ mailbox, written the way a delivery agent or a restore writes it.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
    owner: (u32, u32),
}

impl Maildir {
    /// Creates folder `name` (Unicode, `/` between levels, `INBOX` for the root) and its
    /// parents; returns its directory.
    pub fn folder(&self, name: &str) -> PathBuf {
        let levels = levels(name);
        for depth in 1..levels.len() {
            self.make_folder(&levels[..depth]);
        }
        self.make_folder(&levels)
    }

    /// Writes a message into `cur/` of `folder` with `flags` and `keywords`, received
    /// (INTERNALDATE) at `received` (Unix seconds). Returns the file's path.
    pub fn put(
        &self,
        folder: &str,
        bytes: &[u8],
        flags: &[Flag],
        keywords: &[&str],
        received: i64,
    ) -> PathBuf {
        let dir = self.folder(folder);
        let mut info: Vec<char> = flags.iter().map(|f| f.letter()).collect();
        info.sort_unstable();
        info.dedup();
        for keyword in keywords {
            info.push(self.keyword_letter(&dir, keyword));
        }
        let path = dir.join("cur").join(format!(
            "{}:2,{}",
            unique_name(received),
            String::from_iter(info)
        ));
        self.write_file(&path, bytes, received);
        path
    }

    /// Puts a message into `new/` of `folder`, as mail delivered while the old server still
    /// runs: no flags, received at `received`.
    pub fn deliver(&self, folder: &str, bytes: &[u8], received: i64) -> PathBuf {
        let dir = self.folder(folder);
        let path = dir.join("new").join(unique_name(received));
        self.write_file(&path, bytes, received);
        path
    }

    /// Writes the `subscriptions` file: exactly `folders` (Unicode names) are subscribed.
    pub fn subscribe(&self, folders: &[&str]) {
        // Dovecot 2.3's version 2 format: a header, an empty line, then one folder per line
        // with its levels in modified UTF-7, separated by tabs.
        let mut text = String::from("V\t2\n\n");
        for folder in folders {
            let encoded: Vec<String> = match levels(folder).as_slice() {
                [] => vec!["INBOX".into()],
                levels => levels.iter().map(|l| mutf7(l)).collect(),
            };
            text.push_str(&encoded.join("\t"));
            text.push('\n');
        }
        self.write_file(&self.root.join("subscriptions"), text.as_bytes(), now());
    }

    /// Messages in every folder of the mailbox: the files in each `cur/` and `new/`.
    pub fn message_count(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        let folders = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            });
        std::iter::once(self.root.clone())
            .chain(folders)
            .flat_map(|dir| [dir.join("cur"), dir.join("new")])
            .filter_map(|sub| std::fs::read_dir(sub).ok())
            .map(|files| files.filter_map(Result::ok).count())
            .sum()
    }

    /// The folder's directory at `levels` (`[]` is INBOX, the root), made with its `cur`,
    /// `new` and `tmp`.
    fn make_folder(&self, levels: &[String]) -> PathBuf {
        let dir = if levels.is_empty() {
            self.root.clone()
        } else {
            let encoded: Vec<String> = levels.iter().map(|l| mutf7(l)).collect();
            self.root.join(format!(".{}", encoded.join(".")))
        };
        for sub in ["", "cur", "new", "tmp"] {
            let path = dir.join(sub);
            if !path.is_dir() {
                std::fs::create_dir_all(&path).unwrap();
                self.own(&path);
            }
        }
        // Maildir++ marks every folder but INBOX.
        if !levels.is_empty() && !dir.join("maildirfolder").exists() {
            self.write_file(&dir.join("maildirfolder"), b"", now());
        }
        self.own(&self.root);
        dir
    }

    /// The letter of `keyword` in the folder at `dir`, added to its `dovecot-keywords` file
    /// (`INDEX NAME` lines) if it is new there.
    fn keyword_letter(&self, dir: &Path, keyword: &str) -> char {
        assert!(
            !keyword.is_empty() && keyword.bytes().all(|b| b.is_ascii_graphic()),
            "{keyword:?} is not an IMAP keyword (an atom)"
        );
        let path = dir.join("dovecot-keywords");
        let known = std::fs::read_to_string(&path).unwrap_or_default();
        let mut names: Vec<String> = known
            .lines()
            .filter_map(|line| line.split_once(' ').map(|(_, name)| name.to_string()))
            .collect();
        let index = match names.iter().position(|n| n == keyword) {
            Some(index) => index,
            None => {
                names.push(keyword.to_string());
                let text: String = names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| format!("{i} {name}\n"))
                    .collect();
                self.write_file(&path, text.as_bytes(), now());
                names.len() - 1
            }
        };
        assert!(index < MAX_KEYWORDS, "more than {MAX_KEYWORDS} keywords");
        char::from(b'a' + u8::try_from(index).unwrap())
    }

    /// Writes `bytes` to `path` with modification time `mtime`, owned by the mail user.
    fn write_file(&self, path: &Path, bytes: &[u8], mtime: i64) {
        std::fs::write(path, bytes).unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(mtime).unwrap());
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
        self.own(path);
    }

    fn own(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.owner.0), Some(self.owner.1)).unwrap();
    }
}

/// A folder name's levels: `INBOX` has none, `Công văn đến/2023` has two. Maildir++ keeps
/// levels apart with `.`, so a level cannot contain one.
fn levels(name: &str) -> Vec<String> {
    if name == "INBOX" {
        return Vec::new();
    }
    let levels: Vec<String> = name.split('/').map(str::to_string).collect();
    for level in &levels {
        assert!(
            !level.is_empty() && !level.contains('.'),
            "folder {name:?}: a Maildir++ level cannot be empty or contain '.'"
        );
    }
    levels
}

/// `name` in IMAP's modified UTF-7 (RFC 3501 §5.1.3), written here rather than taken from
/// congvu's own encoder so that the Maildir names the tests give Dovecot do not depend on the
/// code under test: printable ASCII stands for itself,
/// `&` is `&-`, anything else is UTF-16 in modified base64 between `&` and `-`.
pub fn mutf7(name: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |out: &mut String, pending: &mut Vec<u16>| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&MUTF7.encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// A Maildir base name unique in this process: `TIME.M<n>P<pid>.congvu-tests`.
fn unique_name(time: i64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{time}.M{n}P{}.congvu-tests", std::process::id())
}

fn now() -> i64 {
    let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    i64::try_from(since.unwrap().as_secs()).unwrap()
}

/// Makes a CA and a server certificate it issues for [`HOSTNAME`], `localhost` and
/// `127.0.0.1`, under `dir/tls`; returns the CA's PEM.
fn write_certificates(dir: &Path) -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let tls = dir.join("tls");
    std::fs::create_dir(&tls).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "CA thử nghiệm máy chủ thư cũ");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let names = vec![HOSTNAME.to_string(), "localhost".into(), "127.0.0.1".into()];
    let mut server = CertificateParams::new(names).unwrap();
    server.distinguished_name.push(DnType::CommonName, HOSTNAME);
    let server = server.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(tls.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(tls.join("cert.pem"), server.pem()).unwrap();
    std::fs::write(tls.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::set_permissions(tls.join("key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
    ca.pem()
}

/// A TLS client that trusts `ca_pem` only.
fn connector(ca_pem: &str) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(client))
}

/// The users' and the master user's passwd-files, and the master password's file.
fn write_passwd_files(dir: &Path, users: &[(&str, &str)]) {
    let line = |login: &str, password: &str| {
        assert!(
            !login.contains([':', '*', '\n']) && !password.contains([':', '\n']),
            "{login:?}/{password:?} cannot stand in a passwd-file"
        );
        format!("{login}:{{PLAIN}}{password}::::::\n")
    };
    let text: String = users.iter().map(|(l, p)| line(l, p)).collect();
    std::fs::write(dir.join("users"), text).unwrap();
    std::fs::write(dir.join("master-users"), line(MASTER_USER, MASTER_PASSWORD)).unwrap();
    std::fs::write(dir.join("master-password"), format!("{MASTER_PASSWORD}\n")).unwrap();
}

/// `dovecot.conf` under `dir` (see the module header).
fn write_configuration(dir: &Path, owner: (u32, u32), imap_port: u16, imaps_port: u16) {
    let path = |sub: &str| dir.join(sub).display().to_string();
    let (uid, gid) = owner;
    let special_use: String = [
        ("Sent", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Trash", "\\Trash"),
        ("Junk", "\\Junk"),
    ]
    .iter()
    .map(|(name, attribute)| format!("  mailbox {name} {{\n    special_use = {attribute}\n  }}\n"))
    .collect();
    let config = format!(
        "base_dir = {base}\n\
         state_dir = {state}\n\
         instance_name = congvu-test-dovecot-{imaps_port}\n\
         protocols = imap\n\
         listen = 127.0.0.1\n\
         log_path = {log}\n\
         auth_verbose = yes\n\
         ssl = yes\n\
         ssl_cert = <{cert}\n\
         ssl_key = <{key}\n\
         auth_mechanisms = plain login\n\
         auth_master_user_separator = *\n\
         mail_location = maildir:{mail}/%u\n\
         mail_uid = {uid}\n\
         mail_gid = {gid}\n\
         first_valid_uid = {uid}\n\
         first_valid_gid = {gid}\n\
         passdb {{\n  driver = passwd-file\n  args = {masters}\n  master = yes\n  pass = yes\n}}\n\
         passdb {{\n  driver = passwd-file\n  args = {users}\n}}\n\
         userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={mail}/%u\n}}\n\
         namespace inbox {{\n  inbox = yes\n{special_use}}}\n\
         service imap-login {{\n  \
           inet_listener imap {{\n    port = {imap_port}\n  }}\n  \
           inet_listener imaps {{\n    port = {imaps_port}\n    ssl = yes\n  }}\n}}\n\
         protocol imap {{\n  mail_max_userip_connections = 100\n}}\n",
        base = path("run"),
        state = path("state"),
        log = path("dovecot.log"),
        cert = path("tls/cert.pem"),
        key = path("tls/key.pem"),
        mail = path("mail"),
        masters = path("master-users"),
        users = path("users"),
    );
    std::fs::write(dir.join("dovecot.conf"), config).unwrap();
}

/// Appends `extra` to `dovecot.conf` under `dir`.
fn append_configuration(dir: &Path, extra: &str) {
    if extra.is_empty() {
        return;
    }
    let path = dir.join("dovecot.conf");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(extra);
    if !config.ends_with('\n') {
        config.push('\n');
    }
    std::fs::write(path, config).unwrap();
}

/// Starts Dovecot's master in the foreground on the configuration under `dir`.
fn spawn(dir: &Path) -> Child {
    let output = File::create(dir.join("dovecot.out")).unwrap();
    let spawned = Command::new(DOVECOT)
        .arg("-F")
        .arg("-c")
        .arg(dir.join("dovecot.conf"))
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        // Its own process group, which every process it starts joins: see `Drop for Dovecot`.
        .process_group(0)
        .spawn();
    match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("{DOVECOT} is missing: {INSTALL_HINT}")
        }
        Err(e) => panic!("starting {DOVECOT}: {e}"),
    }
}

/// Waits until the plain port greets with `* OK` and the TLS port accepts connections.
async fn wait_until_ready(master: &mut Child, imap: u16, imaps: u16) -> Result<(), String> {
    daemon::wait_until_ready(
        master,
        "dovecot",
        READY_WITHIN,
        "greeting on both ports",
        async || {
            let greeted = greeting(imap).await.is_some_and(|g| g.starts_with("* OK"));
            greeted && TcpStream::connect(("127.0.0.1", imaps)).await.is_ok()
        },
    )
    .await
}

/// The first line the plain port sends, if it answers within a second.
async fn greeting(port: u16) -> Option<String> {
    let read = async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let mut line = String::new();
        BufReader::new(tcp).read_line(&mut line).await.ok()?;
        Some(line)
    };
    tokio::time::timeout(Duration::from_secs(1), read)
        .await
        .ok()
        .flatten()
}

/// The last lines of what Dovecot printed and of its log.
fn log_tail(dir: &Path) -> String {
    daemon::log_tail(&[dir.join("dovecot.out"), dir.join("dovecot.log")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_names_are_encoded_as_imap_writes_them() {
        // The encodings congvu's own IMAP tests expect from the server.
        assert_eq!(mutf7("Công văn đến"), "C&APQ-ng v&AQM-n &AREevw-n");
        assert_eq!(mutf7("Hồ sơ"), "H&HtM- s&AaE-");
        assert_eq!(mutf7("Lưu trữ"), "L&AbA-u tr&Hu8-");
        assert_eq!(mutf7("A&B"), "A&-B");
        assert_eq!(mutf7("INBOX"), "INBOX");
    }
}
