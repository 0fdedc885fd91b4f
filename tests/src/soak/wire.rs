//! The soak's SMTP and IMAP connections: line reading and writing with a deadline on every
//! read, TLS (implicit or after STARTTLS) trusting the server's self-signed certificate.
//! Every failure is an `io::Error`, never a panic: the server is killed under these
//! connections on purpose, and a client only has to notice and stop.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Longest one reply may take before the client gives up on the connection.
const REPLY_DEADLINE: Duration = Duration::from_secs(20);

/// The name on the server's self-signed certificate.
pub const HOSTNAME: &str = "mail.vinhphuc.gov.vn";

/// A byte stream, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One connection, read line by line.
pub struct Wire {
    reader: BufReader<Box<dyn Stream>>,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire").finish_non_exhaustive()
    }
}

/// An error for a reply the client did not expect.
pub fn unexpected(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
}

impl Wire {
    /// A plain TCP connection to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Wire> {
        let tcp = deadline(TcpStream::connect(addr)).await?;
        Ok(Wire::over(Box::new(tcp)))
    }

    /// A TLS connection to `addr` from its first byte (SMTPS, IMAPS).
    pub async fn connect_tls(addr: SocketAddr, tls: &TlsConnector) -> io::Result<Wire> {
        let tcp = deadline(TcpStream::connect(addr)).await?;
        Ok(Wire::over(handshake(Box::new(tcp), tls).await?))
    }

    fn over(stream: Box<dyn Stream>) -> Wire {
        Wire {
            reader: BufReader::new(stream),
        }
    }

    /// Switches to TLS after a STARTTLS the server accepted. Bytes already buffered would be
    /// plaintext injected before the handshake: refused.
    pub async fn start_tls(self, tls: &TlsConnector) -> io::Result<Wire> {
        if !self.reader.buffer().is_empty() {
            return Err(unexpected("plaintext after the STARTTLS reply"));
        }
        let stream = self.reader.into_inner();
        Ok(Wire::over(handshake(stream, tls).await?))
    }

    /// Sends bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.reader.get_mut();
        deadline(stream.write_all(bytes)).await?;
        deadline(stream.flush()).await
    }

    /// One line, without its CRLF.
    pub async fn line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        if deadline(self.reader.read_until(b'\n', &mut line)).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    /// One SMTP reply (all its lines); returns its code.
    pub async fn reply(&mut self) -> io::Result<u16> {
        loop {
            let line = self.line().await?;
            let code = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| unexpected(format!("not an SMTP reply: {line:?}")))?;
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(code);
            }
        }
    }

    /// Sends an SMTP command line and reads the reply code.
    pub async fn command(&mut self, line: &str) -> io::Result<u16> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }

    /// Sends an IMAP command (its bytes, literals included, ending in CRLF) and reads up to
    /// its tagged completion; returns every line, the tagged one last.
    pub async fn tagged(&mut self, tag: &str, command: &[u8]) -> io::Result<Vec<String>> {
        self.send(command).await?;
        let prefix = format!("{tag} ");
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let done = line.starts_with(&prefix);
            lines.push(line);
            if done {
                return Ok(lines);
            }
        }
    }
}

/// Whether an IMAP exchange ended in a tagged `OK`.
pub fn is_ok(lines: &[String], tag: &str) -> bool {
    lines
        .last()
        .is_some_and(|l| l.starts_with(&format!("{tag} OK")))
}

/// The numbers after `[CODE ` in a response line: `[APPENDUID 38505 3955]` → `[38505, 3955]`.
pub fn response_code(line: &str, code: &str) -> Option<Vec<u32>> {
    let start = line.find(&format!("[{code} "))? + code.len() + 2;
    let end = start + line[start..].find(']')?;
    line[start..end]
        .split_whitespace()
        .map(|n| n.parse().ok())
        .collect()
}

/// A TLS client that trusts only the server's self-signed certificate, read from `pem`.
pub fn connector(pem: &Path) -> io::Result<TlsConnector> {
    let bytes = std::fs::read(pem)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| unexpected(format!("{}: {e}", pem.display())))?;
        roots
            .add(cert)
            .map_err(|e| unexpected(format!("{}: {e}", pem.display())))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| unexpected(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn handshake(stream: Box<dyn Stream>, tls: &TlsConnector) -> io::Result<Box<dyn Stream>> {
    let name = ServerName::try_from(HOSTNAME).map_err(|e| unexpected(e.to_string()))?;
    Ok(Box::new(deadline(tls.connect(name, stream)).await?))
}

/// `operation`, or a timeout error past [`REPLY_DEADLINE`].
async fn deadline<T>(operation: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(REPLY_DEADLINE, operation)
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}
