//! Loopback servers standing in for rspamd and clamd in the unit tests: each reads one
//! request per connection, hands it to the test, and writes canned bytes back (or nothing
//! at all, for the engine that hangs).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// When a request read so far is whole.
pub type Complete = fn(&[u8]) -> bool;

/// A server on `127.0.0.1:0` that answers every connection with `answer` once the request
/// is `complete`, then closes it. The requests arrive on the receiver, in order.
pub async fn answering(
    answer: Vec<u8>,
    complete: Complete,
) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (requests, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let request = read_request(&mut stream, complete).await;
            let _ = requests.send(request);
            let _ = stream.write_all(&answer).await;
            let _ = stream.shutdown().await;
        }
    });
    (address, received)
}

/// A server on `127.0.0.1:0` that accepts connections, reads what comes, and never answers.
pub async fn silent() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut sink = [0u8; 4096];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                // Held open until the client gives up.
                std::future::pending::<()>().await;
            });
        }
    });
    address
}

/// An address nothing listens on: a port bound and released.
pub async fn refusing() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Reads from `stream` until `complete` or the end of the stream.
pub async fn read_request(stream: &mut TcpStream, complete: Complete) -> Vec<u8> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 8192];
    while !complete(&request) {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    request
}

/// An HTTP/1.1 request is whole once its headers and `Content-Length` bytes are in.
pub fn http_request_complete(request: &[u8]) -> bool {
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    request.len() >= end + 4 + length
}

/// An HTTP response with `status` (e.g. `200 OK`) and a JSON `body`.
pub fn http_response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The parts of an HTTP request the tests look at.
#[derive(Debug)]
pub struct HttpRequest {
    /// `POST /checkv2`, say.
    pub request_line: String,
    /// Names lowercased, in order, repeated ones repeated.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn parse(request: &[u8]) -> HttpRequest {
        let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&request[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap().to_owned();
        let headers = lines
            .map(|l| {
                let (name, value) = l.split_once(':').unwrap();
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        HttpRequest {
            request_line,
            headers,
            body: request[end + 4..].to_vec(),
        }
    }

    /// Every value of header `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A clamd request is whole at `zPING\0`, or once an `INSTREAM`'s zero-length chunk is in.
pub fn clamd_request_complete(request: &[u8]) -> bool {
    if request == b"zPING\0" {
        return true;
    }
    instream_chunks(request).is_some_and(|(_, ended)| ended)
}

/// The chunks of a `zINSTREAM` request read so far, and whether the zero-length chunk that
/// ends it has arrived. `None` if the request is not an `INSTREAM`.
pub fn instream_chunks(request: &[u8]) -> Option<(Vec<Vec<u8>>, bool)> {
    let mut rest = request.strip_prefix(b"zINSTREAM\0")?;
    let mut chunks = Vec::new();
    while rest.len() >= 4 {
        let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        if length == 0 {
            return Some((chunks, true));
        }
        if rest.len() < 4 + length {
            break;
        }
        chunks.push(rest[4..4 + length].to_vec());
        rest = &rest[4 + length..];
    }
    Some((chunks, false))
}
