//! The ClamAV client: a message streamed to clamd with `zINSTREAM` over a Unix or TCP
//! socket, and clamd's one-line answer read into a [`ClamVerdict`].
//!
//! Owns clamd's protocol (the NUL-terminated commands, chunks of at most 64 KiB each behind
//! a 4-byte big-endian length, the zero-length chunk that ends the stream, the answer
//! forms) and its bounds: one timeout over connect and the whole exchange, an answer of at
//! most 4 KiB, a message no larger than `max_bytes`. Only `stream: OK` is clean.

use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpStream, UnixStream};

use super::{
    failure_outcome, record_scan, ClamavSettings, ClamdAddress, Engine, EngineError, EngineFailure,
};

/// The largest chunk clamd takes in one piece of an `INSTREAM`.
const CHUNK_BYTES: usize = 64 * 1024;
/// The longest answer read: a verdict line is well under 200 bytes.
const MAX_ANSWER_BYTES: usize = 4096;

/// What clamd found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamVerdict {
    /// `stream: OK`.
    Clean,
    /// `stream: <signature> FOUND`: the signature's name, e.g.
    /// `Eicar-Test-Signature.UNOFFICIAL`.
    Infected(String),
}

/// A connection to clamd over either kind of socket.
trait Socket: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Socket for T {}

/// A client of one clamd.
#[derive(Debug)]
pub struct ClamAv {
    /// The configured address, or why it is unusable (validation should have said so).
    address: Result<ClamdAddress, String>,
    timeout: Duration,
    max_bytes: u64,
}

impl ClamAv {
    /// A client for the clamd `settings` name; `None` when ClamAV is off (no `address`).
    /// Settings should have passed [`ClamavSettings::validate`]: an unusable address is
    /// not refused here but fails every scan, so the fail policy applies.
    pub fn new(settings: &ClamavSettings) -> Option<ClamAv> {
        let address = settings.address.as_deref()?;
        Some(ClamAv {
            address: ClamdAddress::parse(address),
            timeout: Duration::from_secs(settings.timeout_seconds),
            max_bytes: settings.max_bytes,
        })
    }

    /// Streams `message` to clamd and reads its verdict, within the timeout. A message over
    /// `max_bytes` is not sent: it is an error, so that the fail policy decides.
    pub async fn scan(&self, message: &[u8]) -> Result<ClamVerdict, EngineError> {
        let started = Instant::now();
        let bytes = message.len() as u64;
        let result = if bytes > self.max_bytes {
            Err(EngineFailure::TooLarge {
                bytes,
                max: self.max_bytes,
            })
        } else {
            self.within_timeout(self.instream(message)).await
        }
        .map_err(|failure| EngineError::new(Engine::Clamav, failure));
        let outcome = match &result {
            Ok(ClamVerdict::Clean) => "clean",
            Ok(ClamVerdict::Infected(_)) => "infected",
            Err(error) => failure_outcome(error),
        };
        record_scan(Engine::Clamav, outcome, started.elapsed());
        result
    }

    /// Asks clamd whether it is there (`zPING`, answered `PONG`): for checks at start.
    pub async fn ping(&self) -> Result<(), EngineError> {
        self.within_timeout(async {
            let (mut socket, address) = self.connect().await?;
            send(&mut socket, b"zPING\0", address).await?;
            match read_answer(&mut socket, address).await?.as_str() {
                "PONG" => Ok(()),
                other => Err(EngineFailure::BadAnswer(format!("{other:?} to PING"))),
            }
        })
        .await
        .map_err(|failure| EngineError::new(Engine::Clamav, failure))
    }

    async fn within_timeout<T>(
        &self,
        exchange: impl std::future::Future<Output = Result<T, EngineFailure>>,
    ) -> Result<T, EngineFailure> {
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(EngineFailure::Timeout(self.timeout)))
    }

    async fn connect(&self) -> Result<(Pin<Box<dyn Socket>>, &ClamdAddress), EngineFailure> {
        let address = self
            .address
            .as_ref()
            .map_err(|why| EngineFailure::Misconfigured(why.clone()))?;
        let connected: std::io::Result<Pin<Box<dyn Socket>>> = match address {
            ClamdAddress::Unix(path) => UnixStream::connect(path)
                .await
                .map(|s| Box::pin(s) as Pin<Box<dyn Socket>>),
            ClamdAddress::Tcp(host, port) => TcpStream::connect((host.as_str(), *port))
                .await
                .map(|s| Box::pin(s) as Pin<Box<dyn Socket>>),
        };
        Ok((connected.map_err(broken(address))?, address))
    }

    async fn instream(&self, message: &[u8]) -> Result<ClamVerdict, EngineFailure> {
        let (mut socket, address) = self.connect().await?;
        let sent = send_stream(&mut socket, message)
            .await
            .map_err(broken(address));
        // clamd answers and closes as soon as a stream passes its StreamMaxLength, so a
        // write that fails may still have an answer behind it, and that answer says why.
        let answer = read_answer(&mut socket, address).await;
        match (sent, answer) {
            (_, Ok(answer)) => verdict(&answer),
            (Err(write_failed), Err(_)) => Err(write_failed),
            (Ok(()), Err(read_failed)) => Err(read_failed),
        }
    }
}

/// Writes `bytes` and flushes.
async fn send(
    socket: &mut Pin<Box<dyn Socket>>,
    bytes: &[u8],
    address: &ClamdAddress,
) -> Result<(), EngineFailure> {
    socket.write_all(bytes).await.map_err(broken(address))?;
    socket.flush().await.map_err(broken(address))
}

/// `zINSTREAM`, the message in length-prefixed chunks, and the zero-length chunk.
async fn send_stream(socket: &mut Pin<Box<dyn Socket>>, message: &[u8]) -> std::io::Result<()> {
    let mut writer = BufWriter::with_capacity(CHUNK_BYTES + 4, socket);
    writer.write_all(b"zINSTREAM\0").await?;
    for chunk in message.chunks(CHUNK_BYTES) {
        // Invariant: a chunk is at most 64 KiB, so its length fits in 32 bits.
        #[allow(clippy::expect_used, reason = "a chunk is at most 64 KiB")]
        let length = u32::try_from(chunk.len()).expect("a chunk of at most 64 KiB");
        writer.write_all(&length.to_be_bytes()).await?;
        writer.write_all(chunk).await?;
    }
    writer.write_all(&[0; 4]).await?;
    writer.flush().await
}

/// Reads clamd's answer up to its NUL (or the end of the connection), at most
/// [`MAX_ANSWER_BYTES`].
async fn read_answer(
    socket: &mut Pin<Box<dyn Socket>>,
    address: &ClamdAddress,
) -> Result<String, EngineFailure> {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 512];
    loop {
        let n = socket.read(&mut buffer).await.map_err(broken(address))?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        if let Some(end) = answer.iter().position(|b| *b == 0) {
            answer.truncate(end);
            break;
        }
        if answer.len() > MAX_ANSWER_BYTES {
            return Err(EngineFailure::BadAnswer(format!(
                "an answer over {MAX_ANSWER_BYTES} bytes"
            )));
        }
    }
    if answer.is_empty() {
        return Err(EngineFailure::BadAnswer(
            "the connection closed without an answer".into(),
        ));
    }
    let text = String::from_utf8_lossy(&answer);
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// What an `INSTREAM` answer says. Anything but `stream: OK` or `stream: NAME FOUND` is an
/// error, `... ERROR` answers (such as "INSTREAM size limit exceeded. ERROR") included.
fn verdict(answer: &str) -> Result<ClamVerdict, EngineFailure> {
    let printable = || {
        answer
            .chars()
            .filter(|c| !c.is_control())
            .collect::<String>()
    };
    if answer == "stream: OK" {
        return Ok(ClamVerdict::Clean);
    }
    if let Some(name) = answer
        .strip_prefix("stream: ")
        .and_then(|rest| rest.strip_suffix(" FOUND"))
    {
        if !name.is_empty() && !name.contains(|c: char| c.is_control() || c.is_whitespace()) {
            return Ok(ClamVerdict::Infected(name.to_owned()));
        }
    }
    if answer.ends_with(" ERROR") {
        return Err(EngineFailure::Refused(printable()));
    }
    Err(EngineFailure::BadAnswer(printable()))
}

/// Turns an I/O error with clamd at `address` into a failure that names it.
fn broken(address: &ClamdAddress) -> impl Fn(std::io::Error) -> EngineFailure + '_ {
    move |error| EngineFailure::Connection {
        address: address.to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests;
