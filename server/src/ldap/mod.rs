//! LDAP: 389 with StartTLS and 636 with implicit TLS.
//!
//! The session arrives with the LDAP capability; until then connections are accepted and
//! closed at once, which LDAP clients report as "server unavailable" and retry.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::net::{Connection, Refusal};

/// Serves one LDAP connection.
pub async fn serve(mut conn: Connection) {
    let _ = conn.stream.shutdown().await;
}

/// Turns away a connection over the limits.
pub async fn refuse(mut stream: TcpStream, _why: Refusal) {
    let _ = stream.shutdown().await;
}
