//! A submission client for the queue check: an official logged in with AUTH PLAIN over
//! implicit TLS (RFC 8314), sending one message after another in one session.

use std::net::{IpAddr, Ipv4Addr};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::smtp::Session;

use super::*;

/// Connecting or the TLS handshake slower than this fails the session rather than hang
/// the run; replies have the SMTP client's own step timeout.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// One authenticated submission session.
pub(super) struct Submission {
    session: Session<TlsStream<TcpStream>>,
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submission").finish_non_exhaustive()
    }
}

impl Submission {
    /// Connects to `addr` over TLS, reads the greeting, says EHLO and logs `login` in.
    pub(super) async fn open(
        addr: SocketAddr,
        tls: &TlsConnector,
        login: &str,
        password: &str,
    ) -> Result<Submission, String> {
        let tcp = within("connect", TcpStream::connect(addr)).await?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::IpAddress(IpAddr::from(Ipv4Addr::LOCALHOST).into());
        let stream = within("TLS handshake", tls.connect(name, tcp)).await?;
        let mut session = Session::over(stream);
        expect(&mut session, "greeting", 220).await?;
        session.command("EHLO bench.example.org", 250).await?;
        let token = auth_plain(login, password)?;
        session.command(&format!("AUTH PLAIN {token}"), 235).await?;
        Ok(Submission { session })
    }

    /// One transaction: `from` to `to`, `message` (ending in CRLF, no line starting with a
    /// dot) as its data.
    pub(super) async fn send(
        &mut self,
        from: &str,
        to: &str,
        message: &[u8],
    ) -> Result<(), String> {
        let session = &mut self.session;
        session.command(&format!("MAIL FROM:<{from}>"), 250).await?;
        session.command(&format!("RCPT TO:<{to}>"), 250).await?;
        session.command("DATA", 354).await?;
        session.send(message).await?;
        session.send(b".\r\n").await?;
        expect(session, "end of DATA", 250).await
    }

    pub(super) async fn quit(mut self) {
        let _ = self.session.command("QUIT", 221).await;
    }
}

/// Reads one reply and fails unless its code is `code`.
async fn expect(
    session: &mut Session<TlsStream<TcpStream>>,
    what: &str,
    code: u16,
) -> Result<(), String> {
    let reply = session.reply().await?;
    match reply.code == code {
        true => Ok(()),
        false => Err(format!("{what} → {}", reply.text)),
    }
}

/// The AUTH PLAIN initial response (RFC 4616): no authorization identity, then `login` and
/// `password`, NUL-separated, in base64.
pub(super) fn auth_plain(login: &str, password: &str) -> Result<String, String> {
    let plain = format!("\0{login}\0{password}");
    let encoded = mail_builder::encoders::base64::base64_encode(plain.as_bytes())
        .map_err(|e| format!("base64: {e}"))?;
    String::from_utf8(encoded).map_err(|e| format!("base64: {e}"))
}

/// `step`, failing after [`STEP_TIMEOUT`] or with its error, named.
async fn within<T>(
    step: &str,
    future: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .map_err(|_| format!("{step} timed out"))?
        .map_err(|e| format!("{step}: {e}"))
}
