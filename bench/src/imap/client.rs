//! The IMAP client the workloads speak through: one session over implicit TLS, reading
//! responses with their literals.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::*;

/// Where the first complete server response in `buffer` ends: after the CRLF of its last
/// line, past every literal its lines announce (RFC 3501 §4.3: a line ending in `{n}` is
/// followed by n octets, then the rest of the response). `None` while more bytes are needed.
pub(super) fn response_end(buffer: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let newline = buffer.get(from..)?.iter().position(|&b| b == b'\n')? + from;
        let line = &buffer[from..newline];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match literal_size(line) {
            Some(size) => {
                from = (newline + 1).checked_add(size)?;
                if from > buffer.len() {
                    return None;
                }
            }
            None => return Some(newline + 1),
        }
    }
}

/// The size a line ending in `{n}` announces.
pub(super) fn literal_size(line: &[u8]) -> Option<usize> {
    let inside = line.strip_suffix(b"}")?;
    let open = inside.iter().rposition(|&b| b == b'{')?;
    let digits = &inside[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Where `needle` first occurs in `haystack`.
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The number right after the first `key` in `response`, e.g. `RFC822.SIZE 4711`.
pub(super) fn number_after(response: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(response, key)? + key.len();
    let digits = response[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&response[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// n of an untagged `* n KEYWORD` response (`EXISTS`, `FETCH`).
pub(crate) fn untagged_number(response: &[u8], keyword: &[u8]) -> Option<u64> {
    let rest = response.strip_prefix(b"* ")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let after = rest[digits..].strip_prefix(b" ")?;
    if digits == 0 || !after.starts_with(keyword) {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The numbers of a `* SEARCH` response (RFC 3501 §7.2.5), or why they could not be read;
/// `None` for any other response. The line holds one number per message found, so it may
/// be hundreds of kilobytes long.
pub(super) fn search_numbers(response: &[u8]) -> Option<Result<Vec<u32>, String>> {
    let line = response.strip_suffix(b"\r\n").unwrap_or(response);
    let rest = line.strip_prefix(b"* SEARCH")?;
    if !rest.is_empty() && !rest.starts_with(b" ") {
        return None;
    }
    let numbers = rest
        .split(|&b| b == b' ')
        .filter(|word| !word.is_empty())
        .map(|word| {
            std::str::from_utf8(word)
                .ok()
                .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("`{}` in a SEARCH response", String::from_utf8_lossy(word)))
        })
        .collect();
    Some(numbers)
}

/// The first line of a response, for messages.
pub(super) fn first_line(response: &[u8]) -> String {
    let end = response
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(response.len());
    String::from_utf8_lossy(&response[..end.min(300)]).into_owned()
}

/// One IMAP session over implicit TLS. Commands go one at a time.
pub(crate) struct ImapSession {
    pub(super) stream: TlsStream<TcpStream>,
    pub(super) buffer: Vec<u8>,
    /// Bytes at the front of `buffer` already handed out as responses.
    pub(super) consumed: usize,
    pub(super) tags: u32,
}

impl std::fmt::Debug for ImapSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSession")
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

impl ImapSession {
    /// Connects, completes the TLS handshake and reads the greeting.
    pub(super) async fn connect(
        addr: SocketAddr,
        tls: &TlsConnector,
    ) -> Result<(ImapSession, String), String> {
        let tcp = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::IpAddress(IpAddr::from(Ipv4Addr::LOCALHOST).into());
        let stream = tokio::time::timeout(STEP_TIMEOUT, tls.connect(name, tcp))
            .await
            .map_err(|_| "TLS handshake timed out".to_string())?
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let mut session = ImapSession {
            stream,
            buffer: Vec::with_capacity(64 * 1024),
            consumed: 0,
            tags: 0,
        };
        let greeting = first_line(session.response().await?);
        Ok((session, greeting))
    }

    /// The next complete response, literals included.
    pub(crate) async fn response(&mut self) -> Result<&[u8], String> {
        loop {
            if let Some(end) = response_end(&self.buffer[self.consumed..]) {
                let start = self.consumed;
                self.consumed += end;
                return Ok(&self.buffer[start..start + end]);
            }
            if self.consumed > 0 {
                self.buffer.drain(..self.consumed);
                self.consumed = 0;
            }
            self.buffer.reserve(64 * 1024);
            let read = tokio::time::timeout(STEP_TIMEOUT, self.stream.read_buf(&mut self.buffer))
                .await
                .map_err(|_| "no response within the step timeout".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            if read == 0 {
                return Err("the server closed the connection".into());
            }
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(STEP_TIMEOUT, write)
            .await
            .map_err(|_| "write timed out".to_string())?
            .map_err(|e| format!("write: {e}"))
    }

    pub(crate) fn next_tag(&mut self) -> String {
        self.tags += 1;
        format!("b{}", self.tags)
    }

    /// Reads responses until the one tagged `tag`, handing every other to `each`; fails
    /// unless the tagged one is OK.
    pub(crate) async fn until_tagged(
        &mut self,
        tag: &str,
        command: &str,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), String> {
        let tagged = format!("{tag} ");
        loop {
            let response = self.response().await?;
            if let Some(status) = response.strip_prefix(tagged.as_bytes()) {
                return if status.starts_with(b"OK") {
                    Ok(())
                } else {
                    Err(format!("{command} → {}", first_line(response)))
                };
            }
            if response.starts_with(b"* BYE") {
                return Err(format!("{command} → {}", first_line(response)));
            }
            each(response);
        }
    }

    /// Sends `command`, handing each untagged response to `each`; fails unless it ends OK.
    pub(crate) async fn command(
        &mut self,
        command: &str,
        each: impl FnMut(&[u8]),
    ) -> Result<(), String> {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        self.until_tagged(&tag, command, each).await
    }

    pub(super) async fn login(&mut self, login: &str, password: &str) -> Result<(), String> {
        let tag = self.next_tag();
        self.send(format!("{tag} LOGIN \"{login}\" \"{password}\"\r\n").as_bytes())
            .await?;
        self.until_tagged(&tag, "LOGIN", |_| {}).await
    }

    /// Selects INBOX; returns its EXISTS.
    pub(super) async fn select_inbox(&mut self) -> Result<usize, String> {
        let mut exists = None;
        self.command("SELECT INBOX", |r| {
            if let Some(n) = untagged_number(r, b"EXISTS") {
                exists = Some(n as usize);
            }
        })
        .await?;
        exists.ok_or_else(|| "SELECT INBOX answered no EXISTS".to_string())
    }

    /// APPENDs one message to INBOX with a synchronising literal: the server's `+` before
    /// the bytes, as a client that does not rely on LITERAL+ sends it.
    pub(super) async fn append(&mut self, flags: &str, message: &[u8]) -> Result<(), String> {
        let tag = self.next_tag();
        self.send_with_literal(&tag, &format!("APPEND INBOX {flags}"), message)
            .await?;
        self.until_tagged(&tag, "APPEND", |_| {}).await
    }

    /// `SEARCH CHARSET UTF-8 key string` with the search string as a synchronising literal,
    /// so any UTF-8 goes as is (RFC 3501 §6.4.4); returns the message numbers of the one
    /// `* SEARCH` response, checked to lie within `1..=exists`.
    pub(super) async fn search(
        &mut self,
        key: &str,
        string: &str,
        exists: usize,
    ) -> Result<Vec<u32>, String> {
        let tag = self.next_tag();
        let command = format!("SEARCH CHARSET UTF-8 {key}");
        self.send_with_literal(&tag, &command, string.as_bytes())
            .await?;
        let mut answers = Vec::new();
        self.until_tagged(&tag, &command, |r| {
            if let Some(numbers) = search_numbers(r) {
                answers.push(numbers);
            }
        })
        .await?;
        let [numbers] = <[_; 1]>::try_from(answers).map_err(|answers| {
            format!(
                "{command} → {} `* SEARCH` responses, not one",
                answers.len()
            )
        })?;
        let numbers = numbers.map_err(|e| format!("{command} → {e}"))?;
        match numbers.iter().find(|&&n| n == 0 || n as usize > exists) {
            Some(n) => Err(format!("{command} → message {n}, of {exists}")),
            None => Ok(numbers),
        }
    }

    /// Sends `tag command {n}`, waits for the server's `+` (RFC 3501 §7.5: a synchronising
    /// literal, as a client that does not rely on LITERAL+ sends it), then the `n` bytes of
    /// `literal` and the line's end.
    async fn send_with_literal(
        &mut self,
        tag: &str,
        command: &str,
        literal: &[u8],
    ) -> Result<(), String> {
        self.send(format!("{tag} {command} {{{}}}\r\n", literal.len()).as_bytes())
            .await?;
        let response = self.response().await?;
        if !response.starts_with(b"+") {
            return Err(format!("{command} → {}", first_line(response)));
        }
        let mut bytes = Vec::with_capacity(literal.len() + 2);
        bytes.extend_from_slice(literal);
        bytes.extend_from_slice(b"\r\n");
        self.send(&bytes).await
    }

    /// LOGOUT; the session is over whatever the server answers.
    pub(crate) async fn logout(mut self) {
        let _ = self.command("LOGOUT", |_| {}).await;
    }
}

/// Logs `official` in and selects INBOX; returns the session and INBOX's EXISTS.
pub(crate) async fn open_inbox(
    addr: SocketAddr,
    tls: &TlsConnector,
    login: &str,
) -> Result<(ImapSession, usize), String> {
    let (mut session, greeting) = ImapSession::connect(addr, tls).await?;
    if !greeting.starts_with("* OK") {
        return Err(format!("greeting {greeting}"));
    }
    session.login(login, &chosen_password(login)).await?;
    let exists = session.select_inbox().await?;
    Ok((session, exists))
}
