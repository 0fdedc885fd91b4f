//! A private clamd (Debian's `clamav-daemon`) for one end-to-end test, on a free loopback
//! port, with a signature database of one line.
//!
//! This module owns the daemon's process, its configuration and its files. There is no
//! network here for `freshclam`, so the database is made on the spot: `eicar.hdb` holds the
//! MD5 and size of the EICAR test file, which clamd reports as
//! `Eicar-Test-Signature.UNOFFICIAL` ([`EICAR_SIGNATURE`]) in a stream that is the file, or
//! a mail carrying it as an attachment (clamd decodes MIME parts). `StreamMaxLength` is
//! 10 MiB, so a test can pass it.
//!
//! [`Clamd::start_with`] can have clamd log every clean scan too, so that a benchmark counts
//! the messages it was asked about ([`Clamd::clean_scans`]).
//!
//! A missing program is a failure, not a skip: [`Clamd::start`] panics and names the Debian
//! package that `.ci/run` installs.

use std::fs::File;
use std::io::ErrorKind;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use md5::{Digest, Md5};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::daemon;

const CLAMD: &str = "/usr/sbin/clamd";
const INSTALL_HINT: &str = "install the Debian package clamav-daemon, as .ci/run does \
                            (apt-get install clamav-daemon)";
/// How long clamd may take to answer `zPING`.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The EICAR anti-virus test file: 68 harmless bytes every scanner reports.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// What this clamd calls [`EICAR`]: the name in `eicar.hdb`, which clamd marks as coming
/// from an unofficial database.
pub const EICAR_SIGNATURE: &str = "Eicar-Test-Signature.UNOFFICIAL";
/// clamd's `StreamMaxLength` here: a longer `INSTREAM` is refused with an `ERROR` answer.
pub const STREAM_MAX_BYTES: usize = 10 * 1024 * 1024;

/// What [`Clamd::start_with`] changes in the configuration [`Clamd::start`] writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClamdOptions {
    /// `LogClean yes`: one `OK` line in the log per clean stream.
    pub log_clean: bool,
}

/// A private clamd. Dropping it kills the daemon.
#[derive(Debug)]
pub struct Clamd {
    process: Child,
    port: u16,
    /// Configuration, database and log, removed after the daemon has ended.
    dir: TempDir,
}

impl Clamd {
    /// Starts clamd and waits until it answers `zPING`. Panics, with the end of its log, if
    /// it is missing or does not start.
    pub async fn start() -> Clamd {
        Clamd::start_with(ClamdOptions::default()).await
    }

    /// [`Clamd::start`] with `options`.
    pub async fn start_with(options: ClamdOptions) -> Clamd {
        assert!(
            Path::new(CLAMD).exists(),
            "{CLAMD} is missing: {INSTALL_HINT}"
        );
        let dir = tempfile::Builder::new()
            .prefix("congvu-clamd-")
            .tempdir()
            .unwrap();
        write_database(&dir.path().join("db"));
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let (process, port) = daemon::start_on_free_ports("clamd", async || {
            let port = daemon::free_port();
            write_configuration(dir.path(), port, options);
            let mut process = spawn(dir.path());
            match wait_until_ready(&mut process, port).await {
                Ok(()) => Ok((process, port)),
                Err(failure) => {
                    let _ = process.kill();
                    let _ = process.wait();
                    Err(format!("port {port}: {failure}\n{}", log_tail(dir.path())))
                }
            }
        })
        .await;
        Clamd { process, port, dir }
    }

    /// Where it listens, for `[filter.clamav] address`: `tcp:127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }

    /// Clean streams logged so far; counts only with [`ClamdOptions::log_clean`].
    pub fn clean_scans(&self) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("clamd.log")).unwrap_or_default();
        log.lines().filter(|line| line.ends_with(": OK")).count()
    }

    /// The end of clamd's log, for a failing test's message.
    pub fn log(&self) -> String {
        log_tail(self.dir.path())
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// `db/eicar.hdb`: one `MD5:SIZE:NAME` line, a signature matching the whole EICAR file.
fn write_database(db: &Path) {
    std::fs::create_dir_all(db).unwrap();
    let md5: String = Md5::digest(EICAR)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = EICAR_SIGNATURE.trim_end_matches(".UNOFFICIAL");
    std::fs::write(
        db.join("eicar.hdb"),
        format!("{md5}:{}:{name}\n", EICAR.len()),
    )
    .unwrap();
}

/// `clamd.conf` under `dir`: TCP on loopback only, in the foreground, files kept under `dir`,
/// the log never cut short (clamd truncates it at 1 MiB by default), so lines can be counted.
fn write_configuration(dir: &Path, port: u16, options: ClamdOptions) {
    let path = |sub: &str| dir.join(sub).display().to_string();
    let config = format!(
        "Foreground yes\n\
         TCPSocket {port}\n\
         TCPAddr 127.0.0.1\n\
         LogFile {log}\n\
         LogTime yes\n\
         PidFile {pid}\n\
         DatabaseDirectory {db}\n\
         TemporaryDirectory {tmp}\n\
         StreamMaxLength {STREAM_MAX_BYTES}\n\
         LogClean {log_clean}\n\
         LogFileMaxSize 0\n",
        log = path("clamd.log"),
        pid = path("clamd.pid"),
        db = path("db"),
        tmp = path("tmp"),
        log_clean = if options.log_clean { "yes" } else { "no" },
    );
    std::fs::write(dir.join("clamd.conf"), config).unwrap();
}

/// Starts clamd in the foreground on the configuration under `dir`.
fn spawn(dir: &Path) -> Child {
    let output = File::create(dir.join("clamd.out")).unwrap();
    let spawned = Command::new(CLAMD)
        .arg("-c")
        .arg(dir.join("clamd.conf"))
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .spawn();
    match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!("{CLAMD} is missing: {INSTALL_HINT}"),
        Err(e) => panic!("starting {CLAMD}: {e}"),
    }
}

/// Sends `zPING` until clamd answers `PONG`.
async fn wait_until_ready(process: &mut Child, port: u16) -> Result<(), String> {
    daemon::wait_until_ready(process, "clamd", READY_WITHIN, "PONG", async || {
        ping(port).await.as_deref() == Some(&b"PONG\0"[..])
    })
    .await
}

/// clamd's answer to `zPING`, if it gives one within a second.
async fn ping(port: u16) -> Option<Vec<u8>> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        stream.write_all(b"zPING\0").await.ok()?;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 64];
        while !answer.contains(&0) {
            match stream.read(&mut buffer).await.ok()? {
                0 => break,
                n => answer.extend_from_slice(&buffer[..n]),
            }
        }
        Some(answer)
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
}

/// The last lines of what clamd printed and of its log.
fn log_tail(dir: &Path) -> String {
    daemon::log_tail(&[dir.join("clamd.out"), dir.join("clamd.log")])
}

/// A letter from `from` to `to` carrying `attachment` as a base64 file named `name`: how
/// malware arrives, and what clamd must decode to find it.
pub fn letter_with_attachment(from: &str, to: &str, name: &str, attachment: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
    format!(
        "From: <{from}>\r\n\
         To: <{to}>\r\n\
         Subject: =?UTF-8?B?VMOgaSBsaeG7h3UgxJHDrW5oIGvDqG0=?=\r\n\
         Date: Fri, 27 Nov 2026 08:00:00 +0700\r\n\
         Message-ID: <{name}@test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"ranh-gioi\"\r\n\
         \r\n\
         --ranh-gioi\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Xem tệp đính kèm.\r\n\
         --ranh-gioi\r\n\
         Content-Type: application/octet-stream; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {encoded}\r\n\
         --ranh-gioi--\r\n"
    )
}
