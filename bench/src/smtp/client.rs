//! The SMTP client: one session as smtp-source speaks it, the messages it sends, and the S3
//! circular.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::server::DOMAIN;

use super::*;

/// One SMTP reply: its code and its lines joined.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    pub(crate) text: String,
}

/// One SMTP connection, over TCP or over TLS. Commands go one at a time, without
/// pipelining, like smtp-source.
pub(crate) struct Session<S = TcpStream> {
    stream: BufReader<S>,
    line: String,
}

impl Session {
    pub(super) async fn connect(addr: SocketAddr) -> Result<Session, String> {
        let stream = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        // As smtp-source does: the close resets the connection instead of leaving 20,000
        // client ports in TIME_WAIT per run.
        let _ = stream.set_zero_linger();
        Ok(Session::over(stream))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    /// A session over a connected `stream`, its greeting not yet read.
    pub(crate) fn over(stream: S) -> Session<S> {
        Session {
            stream: BufReader::new(stream),
            line: String::new(),
        }
    }

    pub(crate) async fn reply(&mut self) -> Result<Reply, String> {
        let mut text = String::new();
        loop {
            self.line.clear();
            let n = tokio::time::timeout(STEP_TIMEOUT, self.stream.read_line(&mut self.line))
                .await
                .map_err(|_| "no reply within the step timeout".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err(if text.is_empty() {
                    "the server closed the connection".into()
                } else {
                    format!("the server closed the connection after {text:?}")
                });
            }
            let line = self.line.trim_end();
            let code = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("malformed reply line {line:?}"))?;
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(line);
            // RFC 5321 §4.2.1: "NNN-" continues a reply, "NNN " (or "NNN") ends it.
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, text });
            }
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let stream = self.stream.get_mut();
        let written = async {
            stream.write_all(bytes).await?;
            // A TLS stream holds what it wrote until flushed; TCP's flush does nothing.
            stream.flush().await
        };
        tokio::time::timeout(STEP_TIMEOUT, written)
            .await
            .map_err(|_| "write timed out".to_string())?
            .map_err(|e| format!("write: {e}"))
    }

    /// Sends `command` and expects a reply with code `expect`.
    pub(crate) async fn command(&mut self, command: &str, expect: u16) -> Result<(), String> {
        self.send(format!("{command}\r\n").as_bytes()).await?;
        let reply = self.reply().await?;
        if reply.code == expect {
            Ok(())
        } else {
            Err(format!("{command} → {}", reply.text))
        }
    }
}

/// Connects and reads the greeting.
pub(super) async fn greeting(addr: SocketAddr) -> Result<Reply, String> {
    let mut session = Session::connect(addr).await?;
    let reply = session.reply().await?;
    let _ = session.send(b"QUIT\r\n").await;
    Ok(reply)
}

/// What one delivered message took.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    /// From the final `<CRLF>.<CRLF>` written to the 250 read.
    pub(super) data_to_250: Duration,
}

/// One message on a new connection: greeting, HELO, MAIL, RCPT for each recipient, DATA,
/// `head` then `body` then `<CRLF>.<CRLF>`, QUIT. `body` must not end with CRLF: the
/// terminator supplies it.
pub(crate) async fn deliver(
    addr: SocketAddr,
    recipients: &[&str],
    head: &[u8],
    body: &[u8],
) -> Result<Sent, String> {
    deliver_as(addr, BENCH_ENVELOPE, recipients, head, body).await
}

/// Who the client says it is: its HELO name and its envelope sender.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope {
    pub(crate) helo: &'static str,
    pub(crate) sender: &'static str,
}

/// smtp-source's: [`CLIENT_NAME`] and [`SENDER`].
pub(crate) const BENCH_ENVELOPE: Envelope = Envelope {
    helo: CLIENT_NAME,
    sender: SENDER,
};

/// [`deliver`], saying HELO and MAIL FROM as `envelope` gives them.
pub(crate) async fn deliver_as(
    addr: SocketAddr,
    envelope: Envelope,
    recipients: &[&str],
    head: &[u8],
    body: &[u8],
) -> Result<Sent, String> {
    let mut session = Session::connect(addr).await?;
    let greeting = session.reply().await?;
    if greeting.code != 220 {
        return Err(format!("greeting {}", greeting.text));
    }
    session
        .command(&format!("HELO {}", envelope.helo), 250)
        .await?;
    session
        .command(&format!("MAIL FROM:<{}>", envelope.sender), 250)
        .await?;
    for recipient in recipients {
        session
            .command(&format!("RCPT TO:<{recipient}>"), 250)
            .await?;
    }
    session.command("DATA", 354).await?;
    session.send(head).await?;
    session.send(body).await?;
    let written = Instant::now();
    session.send(b"\r\n.\r\n").await?;
    let reply = session.reply().await?;
    let data_to_250 = written.elapsed();
    if reply.code != 250 {
        return Err(format!("end of DATA → {}", reply.text));
    }
    // The message is accepted; a failing QUIT does not undo that.
    let _ = session.command("QUIT", 221).await;
    Ok(Sent { data_to_250 })
}

/// smtp-source's payload for `-l length`: `X`s in 80-byte lines, each starting with a
/// digit and ending with CRLF, the last line without one (the sender adds it).
pub(crate) fn payload(length: usize) -> Vec<u8> {
    let mut data = vec![b'X'; length];
    let mut i = 80;
    while i < length {
        data[i - 80] = b"0123456789"[(i / 80) % 10];
        data[i - 2] = b'\r';
        data[i - 1] = b'\n';
        i += 80;
    }
    data
}

/// smtp-source's headers for one message, with a unique Message-Id.
pub(crate) fn smtp_source_head(recipient: &str, id: usize) -> String {
    format!(
        "From: <{SENDER}>\r\nTo: <{recipient}>\r\nDate: Mon, 5 Jan 2026 08:00:00 +0700\r\n\
         Message-Id: <{id:08x}.{:04x}@{CLIENT_NAME}>\r\n\r\n",
        std::process::id() & 0xffff
    )
}

/// A circular of exactly `size` bytes (a text part and a base64 attachment), without its
/// final CRLF, which the terminator supplies.
pub(super) fn circular(size: usize) -> Vec<u8> {
    let boundary = "=_congvan_2026_01";
    let head = format!(
        "From: \"Văn phòng UBND tỉnh\" <{SENDER}>\r\n\
         To: \"Toàn thể cán bộ\" <{LIST_NAME}@{DOMAIN}>\r\n\
         Subject: =?UTF-8?B?VGjDtG5nIGLDoW8gbOG7i2NoIG5naOG7iSBU4bq/dA==?=\r\n\
         Date: Mon, 5 Jan 2026 08:00:00 +0700\r\n\
         Message-Id: <circular.2026.01@{CLIENT_NAME}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Kính gửi các cơ quan, đơn vị: Văn phòng UBND tỉnh gửi kèm thông báo lịch nghỉ Tết.\r\n\r\n\
         --{boundary}\r\n\
         Content-Type: application/pdf; name=\"thong-bao.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"thong-bao.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    );
    let tail = format!("--{boundary}--");
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::rngs::StdRng::seed_from_u64(1_048_576);
    let mut out = head.into_bytes();
    // Lines of 76 base64 characters and a shorter last one, so the total comes out exact;
    // one line of 77 where 76 would leave a single byte over.
    let mut left = size.saturating_sub(out.len() + tail.len());
    while left >= 2 {
        let line = if left == 79 { 77 } else { (left - 2).min(76) };
        out.extend((0..line).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]));
        out.extend_from_slice(b"\r\n");
        left -= line + 2;
    }
    out.extend_from_slice(tail.as_bytes());
    out
}
