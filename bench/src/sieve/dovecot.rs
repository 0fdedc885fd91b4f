//! The private Dovecot behind Postfix: LMTP on a socket in its own base directory,
//! Pigeonhole in its `lmtp`, one Maildir home per recipient holding the script, and the
//! messages found in each home's folders.

use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use congvu_tests::dovecot::mutf7;

use crate::admin::Official;
use crate::machine::{field, pinned, proc_stat, set_mode, CSTIME, CUTIME, STIME, UTIME};
use crate::server::{Process, DOMAIN, HOSTNAME};

use super::*;

/// Owner of the Dovecot homes, as of Postfix's Maildirs in S1.
const VMAIL_ID: u32 = 5000;
/// The link Pigeonhole runs as the active script, in each home.
const ACTIVE_LINK: &str = ".dovecot.sieve";

/// Where the private Dovecot keeps everything.
#[derive(Debug, Clone)]
pub(super) struct DovecotSetup {
    pub(super) dir: PathBuf,
    pub(super) config: PathBuf,
    pub(super) log: PathBuf,
    /// The LMTP socket Postfix delivers to.
    pub(super) socket: PathBuf,
    /// The script as every home holds it, for `sievec`.
    pub(super) script: PathBuf,
    /// Each recipient's home, in the order of the officials.
    pub(super) homes: Vec<PathBuf>,
}

/// dovecot.conf: Dovecot's defaults wherever durability and delivery are concerned
/// (`mail_fsync = optimized`: each delivered file synced before LMTP's 250), LMTP only, a
/// static userdb giving each address its home, and Pigeonhole as the Debian package sets it
/// up, with each user's scripts in `~/sieve` and the active one linked from `~/.dovecot.sieve`.
pub(super) fn dovecot_conf(dir: &Path, mail: &Path) -> String {
    format!(
        "base_dir = {dir}/dovecot-run\n\
         state_dir = {dir}/dovecot-state\n\
         instance_name = congvu-bench-lmtp\n\
         protocols = lmtp\n\
         log_path = {dir}/dovecot.log\n\
         ssl = no\n\
         hostname = {HOSTNAME}\n\
         postmaster_address = postmaster@{DOMAIN}\n\
         mail_location = maildir:~/Maildir\n\
         first_valid_uid = {VMAIL_ID}\n\
         passdb {{\n  driver = static\n  args = nopassword=y\n}}\n\
         userdb {{\n  driver = static\n  \
           args = uid={VMAIL_ID} gid={VMAIL_ID} home={mail}/%u\n}}\n\
         service lmtp {{\n  unix_listener lmtp {{\n    mode = 0666\n  }}\n}}\n\
         protocol lmtp {{\n  mail_plugins = $mail_plugins sieve\n}}\n\
         plugin {{\n  sieve = file:~/sieve;active=~/{ACTIVE_LINK}\n}}\n",
        dir = dir.display(),
        mail = mail.display(),
    )
}

/// The configuration under `work/dovecot`, and a home per recipient with an empty Maildir
/// (made up front, as congvu's mailboxes and S1's Maildirs are) and the script, inactive.
pub(super) fn write_dovecot(work: &Path, recipients: &[Official]) -> anyhow::Result<DovecotSetup> {
    let dir = work.join("dovecot");
    let mail = dir.join("mail");
    for d in [&dir, &mail] {
        std::fs::create_dir_all(d)?;
        set_mode(d, 0o755)?;
    }
    let config = dir.join("dovecot.conf");
    std::fs::write(&config, dovecot_conf(&dir, &mail))?;
    let script = dir.join("official.sieve");
    std::fs::write(&script, SCRIPT)?;
    set_mode(&script, 0o644)?;
    let mut homes = Vec::with_capacity(recipients.len());
    for official in recipients {
        let home = mail.join(official.address.to_lowercase());
        for sub in ["Maildir/cur", "Maildir/new", "Maildir/tmp", "sieve"] {
            std::fs::create_dir_all(home.join(sub))?;
        }
        std::fs::write(home.join("sieve/main.sieve"), SCRIPT)?;
        for path in [
            "",
            "Maildir",
            "Maildir/cur",
            "Maildir/new",
            "Maildir/tmp",
            "sieve",
            "sieve/main.sieve",
        ] {
            std::os::unix::fs::chown(home.join(path), Some(VMAIL_ID), Some(VMAIL_ID))?;
        }
        set_mode(&home, 0o700)?;
        homes.push(home);
    }
    Ok(DovecotSetup {
        log: dir.join("dovecot.log"),
        socket: dir.join("dovecot-run/lmtp"),
        dir,
        config,
        script,
        homes,
    })
}

/// Makes every home's script active (the link to it), or none (no link).
pub(super) fn switch_scripts(homes: &[PathBuf], active: bool) -> anyhow::Result<()> {
    for home in homes {
        let link = home.join(ACTIVE_LINK);
        match std::fs::remove_file(&link) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        if active {
            std::os::unix::fs::symlink(format!("sieve/{SCRIPT_NAME}.sieve"), &link)?;
            std::os::unix::fs::lchown(&link, Some(VMAIL_ID), Some(VMAIL_ID))?;
        }
    }
    Ok(())
}

/// Messages in the Maildir folder of `home` (`None`: INBOX), new or seen.
pub(super) fn messages_in(home: &Path, folder: Option<&str>) -> usize {
    let root = match folder {
        None => home.join("Maildir"),
        Some(name) => home.join("Maildir").join(format!(".{}", mutf7(name))),
    };
    ["new", "cur"]
        .iter()
        .map(|sub| std::fs::read_dir(root.join(sub)).map_or(0, |d| d.count()))
        .sum()
}

/// The private Dovecot as a child process (`dovecot -F`), on the server core when pinning.
#[derive(Debug)]
pub(super) struct Dovecot {
    binary: PathBuf,
    pub(super) setup: DovecotSetup,
    pin: Option<String>,
    process: Option<Process>,
    ticks: f64,
}

impl Dovecot {
    pub(super) fn new(
        binary: PathBuf,
        setup: DovecotSetup,
        pin: Option<String>,
        ticks: f64,
    ) -> Dovecot {
        Dovecot {
            binary,
            setup,
            pin,
            process: None,
            ticks,
        }
    }

    /// Starts the master and waits until LMTP greets on its socket.
    pub(super) fn start(&mut self) -> anyhow::Result<()> {
        let mut command = pinned(&self.binary, self.pin.as_deref());
        command.arg("-F").arg("-c").arg(&self.setup.config);
        let log = self.setup.dir.join("dovecot.out");
        let process = self
            .process
            .insert(Process::start("Dovecot", command, log)?);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            process.check_running()?;
            if lmtp_greets(&self.setup.socket) {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "Dovecot's LMTP did not greet on {} within 60 s (see {})",
                self.setup.socket.display(),
                self.setup.log.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, on which the master stops every process it started.
    pub(super) fn stop(&mut self) -> anyhow::Result<()> {
        match self.process.take() {
            Some(mut process) => process.stop(Duration::from_secs(30)),
            None => Ok(()),
        }
    }

    /// CPU time of the master and every process it started.
    pub(super) fn cpu(&self) -> Duration {
        let pid = self.process.as_ref().and_then(Process::pid);
        let ticks: u64 = pid.map_or(0, |pid| {
            crate::imap::process_tree(pid)
                .into_iter()
                .filter_map(proc_stat)
                .map(|s| {
                    field(&s, UTIME) + field(&s, STIME) + field(&s, CUTIME) + field(&s, CSTIME)
                })
                .sum()
        });
        Duration::from_secs_f64(ticks as f64 / self.ticks)
    }

    /// Lines of the log, from byte `from` on, saying a delivery or a script went wrong.
    pub(super) fn trouble(&self, from: u64) -> Option<String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(&self.setup.log).ok()?;
        file.seek(SeekFrom::Start(from)).ok()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .find(|line| line.contains(": Error: ") || line.contains(": Fatal: "))
            .map(str::to_string)
    }

    /// How long the log is now.
    pub(super) fn log_length(&self) -> u64 {
        std::fs::metadata(&self.setup.log).map_or(0, |m| m.len())
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Whether an LMTP server on `socket` greets with 220.
fn lmtp_greets(socket: &Path) -> bool {
    use std::io::Read;
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut greeting = [0u8; 3];
    let greeted = stream.read_exact(&mut greeting).is_ok() && &greeting == b"220";
    let _ = stream.shutdown(Shutdown::Both);
    greeted
}
