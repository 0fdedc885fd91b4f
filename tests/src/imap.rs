//! IMAP clients for the end-to-end tests: a raw client that sends exactly the bytes a test
//! writes and reads back every response line (literals inlined), for transcripts, hostile
//! input and STARTTLS injection; and a logged-in `async-imap` session over implicit TLS, for
//! what a well-behaved client library does.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::{server, TestDb};

/// Longest a test waits for one response line before it fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The logged-in session the `async-imap` helper returns.
pub type ImapSession = async_imap::Session<TlsStream<TcpStream>>;

/// The connection under a raw client: plain until STARTTLS, then TLS.
#[derive(Debug)]
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while STARTTLS swaps one for the other.
    Upgrading,
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Transport::Upgrading => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Transport::Upgrading => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Transport::Upgrading => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
            Transport::Upgrading => Poll::Ready(Ok(())),
        }
    }
}

/// What one wait on the server brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A whole response line, literals inlined.
    Line(String),
    /// The server closed the connection.
    Closed,
    /// Nothing within the wait.
    Nothing,
}

/// A raw IMAP connection.
#[derive(Debug)]
pub struct RawImap {
    transport: Transport,
    buffer: Vec<u8>,
}

impl RawImap {
    /// Connects to the STARTTLS port; returns the client and the greeting line.
    pub async fn connect(addr: SocketAddr) -> (RawImap, String) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        RawImap::greeted(Transport::Plain(tcp)).await
    }

    /// Connects to the implicit-TLS port of `db`'s server; returns the client and the
    /// greeting line.
    pub async fn connect_tls(addr: SocketAddr, db: &TestDb) -> (RawImap, String) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let tls = handshake(tcp, db).await;
        RawImap::greeted(Transport::Tls(Box::new(tls))).await
    }

    async fn greeted(transport: Transport) -> (RawImap, String) {
        let mut client = RawImap {
            transport,
            buffer: Vec::new(),
        };
        let greeting = client
            .read_line()
            .await
            .expect("closed before the greeting");
        (client, greeting)
    }

    /// Sends `tag STARTTLS`; on a tagged OK, performs the TLS handshake with `db`'s server.
    /// Returns the STARTTLS response lines.
    pub async fn starttls(&mut self, tag: &str, db: &TestDb) -> Vec<String> {
        let lines = self.command(tag, "STARTTLS").await;
        let ok = format!("{tag} OK");
        if lines.last().is_some_and(|l| l.starts_with(&ok)) {
            self.upgrade_tls(db).await;
        }
        lines
    }

    /// The TLS handshake on a plain connection, for a test that sent STARTTLS itself and
    /// read the OK. Bytes the server sent in plaintext after its OK would be a protocol
    /// violation, so they fail the test.
    pub async fn upgrade_tls(&mut self, db: &TestDb) {
        assert!(
            self.buffer.is_empty(),
            "plaintext after the STARTTLS OK: {:?}",
            String::from_utf8_lossy(&self.buffer)
        );
        let Transport::Plain(tcp) = std::mem::replace(&mut self.transport, Transport::Upgrading)
        else {
            panic!("STARTTLS on a connection that is not plain");
        };
        self.transport = Transport::Tls(Box::new(handshake(tcp, db).await));
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }

    /// Sends bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.transport.write_all(bytes).await.unwrap();
        self.transport.flush().await.unwrap();
    }

    /// Sends `tag line` with CRLF and reads until the tagged response; returns every line
    /// read, the tagged one last. Panics if the server closes first.
    pub async fn command(&mut self, tag: &str, line: &str) -> Vec<String> {
        self.send(format!("{tag} {line}\r\n").as_bytes()).await;
        self.until_tagged(tag).await
    }

    /// Reads lines until the one tagged `tag`; returns them all, that one last.
    pub async fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let prefix = format!("{tag} ");
        let mut lines = Vec::new();
        loop {
            let Some(line) = self.read_line().await else {
                panic!("connection closed before {tag}'s completion; read: {lines:#?}");
            };
            let done = line.starts_with(&prefix);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Reads one response line, with the bytes of any `{n}` literals in it inlined right
    /// after the `{n}` (the CRLF that ends the announcement left out); `None` if the server
    /// closed first. Panics if nothing arrives within [`REPLY_TIMEOUT`].
    pub async fn read_line(&mut self) -> Option<String> {
        match self.listen(REPLY_TIMEOUT).await {
            Heard::Line(line) => Some(line),
            Heard::Closed => None,
            Heard::Nothing => panic!("no response from the IMAP server within {REPLY_TIMEOUT:?}"),
        }
    }

    /// Waits up to `wait` for one response line.
    pub async fn listen(&mut self, wait: Duration) -> Heard {
        match tokio::time::timeout(wait, self.response()).await {
            Ok(Some(line)) => Heard::Line(line),
            Ok(None) => Heard::Closed,
            Err(_) => Heard::Nothing,
        }
    }

    /// Whether the server closes the connection: end of file within the reply timeout,
    /// after any lines still pending, which are skipped.
    pub async fn closed(&mut self) -> bool {
        loop {
            match self.listen(REPLY_TIMEOUT).await {
                Heard::Closed => return true,
                Heard::Line(_) => continue,
                Heard::Nothing => return false,
            }
        }
    }

    /// One response: a line, and after each line ending in a literal announcement, the
    /// literal's bytes and the rest of the response.
    async fn response(&mut self) -> Option<String> {
        let mut response = Vec::new();
        loop {
            let line = self.raw_line().await?;
            let literal = literal_length(&line);
            response.extend_from_slice(&line);
            let Some(length) = literal else {
                return Some(String::from_utf8_lossy(&response).into_owned());
            };
            let bytes = self.raw_bytes(length).await?;
            response.extend_from_slice(&bytes);
        }
    }

    /// One line without its CRLF.
    async fn raw_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let mut line: Vec<u8> = self.buffer.drain(..end + 2).collect();
                line.truncate(end);
                return Some(line);
            }
            self.fill().await?;
        }
    }

    async fn raw_bytes(&mut self, length: usize) -> Option<Vec<u8>> {
        while self.buffer.len() < length {
            self.fill().await?;
        }
        Some(self.buffer.drain(..length).collect())
    }

    /// Reads more bytes into the buffer; `None` at end of file or on a broken connection.
    async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 16 * 1024];
        match self.transport.read(&mut chunk).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    }
}

/// The length `n` of a line ending in a `{n}` literal announcement (or `~{n}`, RFC 3516).
fn literal_length(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

/// The TLS handshake with `db`'s server, trusting its self-signed certificate.
async fn handshake(tcp: TcpStream, db: &TestDb) -> TlsStream<TcpStream> {
    let name = ServerName::try_from(server::test_config(db).server.hostname).unwrap();
    let handshake = server::tls_connector(db).connect(name, tcp);
    tokio::time::timeout(REPLY_TIMEOUT, handshake)
        .await
        .expect("no TLS handshake with the IMAP server in time")
        .unwrap()
}

/// An `async-imap` session over implicit TLS to `addr`, logged in as `login`.
pub async fn login_session(
    addr: SocketAddr,
    db: &TestDb,
    login: &str,
    password: &str,
) -> ImapSession {
    let session = async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut client = async_imap::Client::new(handshake(tcp, db).await);
        let greeting = client.read_response().await.unwrap();
        assert!(greeting.is_some(), "no IMAP greeting");
        client
            .login(login, password)
            .await
            .map_err(|(error, _)| error)
            .unwrap()
    };
    tokio::time::timeout(REPLY_TIMEOUT, session)
        .await
        .expect("IMAP login did not finish in time")
}
