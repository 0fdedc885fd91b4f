//! A raw SMTP client for tests that need exact replies, pipelining, bare line ends or
//! STARTTLS injection — what a well-behaved client library would never send.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest a test waits for one reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One SMTP reply: its code and every line's text after the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl SmtpReply {
    /// The last line as sent, without the code: `5.1.1 No such recipient here`.
    pub fn text(&self) -> &str {
        self.lines.last().map_or("", String::as_str)
    }

    /// `code text` of the last line, e.g. `550 5.1.1 No such recipient here`.
    pub fn line(&self) -> String {
        format!("{} {}", self.code, self.text())
    }
}

/// A raw SMTP connection.
#[derive(Debug)]
pub struct RawSmtp<S = TcpStream> {
    stream: S,
    buffer: Vec<u8>,
}

impl RawSmtp<TcpStream> {
    /// Connects and reads the greeting.
    pub async fn connect(addr: SocketAddr) -> (RawSmtp, SmtpReply) {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut client = RawSmtp::over(stream);
        let greeting = client.reply().await.expect("no greeting");
        (client, greeting)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawSmtp<S> {
    /// A client over an established stream.
    pub fn over(stream: S) -> RawSmtp<S> {
        RawSmtp {
            stream,
            buffer: Vec::new(),
        }
    }

    /// The stream and any bytes read past the last reply.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        (self.stream, self.buffer)
    }

    /// Sends bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sends `bytes`, returning the error when the server has closed the connection.
    pub async fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends `line` with CRLF and reads the reply.
    pub async fn command(&mut self, line: &str) -> SmtpReply {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply()
            .await
            .unwrap_or_else(|| panic!("connection closed after {line:?}"))
    }

    /// Reads one (possibly multi-line) reply; `None` if the server closed first.
    pub async fn reply(&mut self) -> Option<SmtpReply> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let code: u16 = line.get(..3)?.parse().ok()?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Some(SmtpReply { code, lines });
            }
        }
    }

    /// Whether the server has closed the connection (reading gives end of file, within the
    /// reply timeout, after any pending bytes).
    pub async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1024];
        loop {
            match tokio::time::timeout(REPLY_TIMEOUT, self.stream.read(&mut byte)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(REPLY_TIMEOUT, self.stream.read(&mut chunk))
                .await
                .expect("no reply from the SMTP server in time")
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}
