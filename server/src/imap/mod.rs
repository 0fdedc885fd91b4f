//! IMAP: 143 with STARTTLS and 993 with implicit TLS.
//!
//! The session state machine arrives with the IMAP capability; until then each connection
//! gets an untagged `BYE` (RFC 3501 §7.1.5) and is closed.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::net::{Connection, Refusal};

const NOT_AVAILABLE: &[u8] =
    b"* BYE [UNAVAILABLE] congvu IMAP service is not available, try again later\r\n";
const BUSY: &[u8] = b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n";

/// Serves one IMAP connection.
pub async fn serve(mut conn: Connection) {
    let _ = conn.stream.write_all(NOT_AVAILABLE).await;
    let _ = conn.stream.shutdown().await;
}

/// Turns away a connection over the limits.
pub async fn refuse(mut stream: TcpStream, _why: Refusal) {
    let _ = stream.write_all(BUSY).await;
    let _ = stream.shutdown().await;
}
