//! SMTP: MX (25), submission (587) and submissions (465).
//!
//! The session state machine arrives with the SMTP capability; until then each connection
//! is greeted with a `421` that tells the client to try again later (RFC 5321 §3.8), so
//! well-behaved senders queue their mail instead of losing it.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::net::{Connection, Refusal};

/// RFC 5321 §4.2.3: 421 is "service not available, closing transmission channel".
fn not_available(hostname: &str) -> String {
    format!("421 4.3.2 {hostname} Service not available, try again later\r\n")
}

fn busy(hostname: &str, why: Refusal) -> String {
    match why {
        Refusal::ServerBusy => format!("421 4.3.2 {hostname} Too busy, try again later\r\n"),
        Refusal::TooManyFromAddress => {
            format!("421 4.7.0 {hostname} Too many connections from your address\r\n")
        }
    }
}

/// Serves one SMTP connection.
pub async fn serve(mut conn: Connection, hostname: &str) {
    let _ = conn
        .stream
        .write_all(not_available(hostname).as_bytes())
        .await;
    let _ = conn.stream.shutdown().await;
}

/// Turns away a connection over the limits.
pub async fn refuse(mut stream: TcpStream, hostname: &str, why: Refusal) {
    let _ = stream.write_all(busy(hostname, why).as_bytes()).await;
    let _ = stream.shutdown().await;
}
