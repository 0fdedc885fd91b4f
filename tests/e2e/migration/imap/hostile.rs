//! A hostile or broken old server: a fake IMAP server in the test (a small tokio listener,
//! plaintext on loopback) that serves each account one message and misbehaves while the
//! message's body is fetched — it drops the connection in the middle of the literal (once,
//! or every time), answers garbage, or announces a literal of 2 GiB and streams it. Each
//! faulty account fails alone with a clear error, or is retried cleanly; nothing
//! half-written is left in congvu; the run ends in bounded time and memory. And a source
//! that offers no STARTTLS on `imap://` never sees a password.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use congvu_tests::Backend;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

use super::{
    account_entry, letter, Account, Held, Running, AN, DAYHOP_SRC, DOMAIN, NHUNG_SRC, VAN_SRC,
};
use crate::admin::{json_of, AdminCli};
use crate::backend_tests;
use crate::smtp::fixture::{Province, ANNV, DAYHOP, NHUNG, VAN};

backend_tests!(
    a_hostile_source_fails_only_its_accounts_in_bounded_time_and_memory,
    imap_without_starttls_is_refused_before_any_password,
);

/// The literal the hostile source announces: 2 GiB.
const HUGE_LITERAL: u64 = 2_147_483_648;
/// The most the hostile source streams of it before it gives up.
const HUGE_STREAM_CAP: u64 = 512 * 1024 * 1024;
/// Peak resident memory the migration may reach against the hostile source: a client that
/// buffered the streamed literal would pass it several times over.
const MEMORY_BOUND_KIB: u64 = 200 * 1024;
/// How long the whole run against the hostile source may take, retries included.
const TIME_BOUND: Duration = Duration::from_secs(120);
/// The source's UIDVALIDITY.
const UIDVALIDITY: u32 = 1_551_662_100;
/// What the fake server says it can do: no STARTTLS, whatever the client wants.
const CAPABILITIES: &str = "IMAP4rev1 LITERAL+ AUTH=PLAIN ID UIDPLUS NAMESPACE";
/// The longest command line the fake server reads.
const MAX_LINE: usize = 64 * 1024;

/// How the fake source misbehaves for one account while the message body is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Drops the connection half-way through the body the first time; serves it whole on
    /// the next connection.
    DropOnce,
    /// Drops the connection half-way through the body every time.
    DropAlways,
    /// Answers the body FETCH with bytes that are no IMAP at all, then `OK`.
    Garbage,
    /// Announces a 2 GiB literal and streams it until the client hangs up.
    HugeLiteral,
}

/// What the fake source saw.
#[derive(Debug, Default)]
struct Seen {
    /// Body fetches per login.
    body_fetches: Mutex<HashMap<String, usize>>,
    /// Whether any LOGIN or AUTHENTICATE reached it.
    credentials: AtomicBool,
    /// Bytes of the huge literal it managed to send, all connections together.
    huge_bytes: AtomicU64,
}

/// The fake old server, accepting until dropped.
struct FakeSource {
    addr: SocketAddr,
    seen: Arc<Seen>,
    accept: tokio::task::JoinHandle<()>,
}

impl FakeSource {
    async fn start(faults: &[(&'static str, Fault)]) -> FakeSource {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let faults: Arc<HashMap<String, Fault>> =
            Arc::new(faults.iter().map(|(l, f)| (l.to_string(), *f)).collect());
        let state = Arc::clone(&seen);
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (faults, seen) = (Arc::clone(&faults), Arc::clone(&state));
                tokio::spawn(async move {
                    let _ = serve(tcp, &faults, &seen).await;
                });
            }
        });
        FakeSource { addr, seen, accept }
    }

    fn url(&self) -> String {
        format!("imap://{}", self.addr)
    }

    fn body_fetches(&self, login: &str) -> usize {
        let fetches = self.seen.body_fetches.lock().unwrap();
        fetches.get(login).copied().unwrap_or(0)
    }
}

impl Drop for FakeSource {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The one message of `login`'s INBOX on the fake source.
fn message_of(login: &str) -> Vec<u8> {
    letter(login, 1, "Thu tu may chu cu")
}

/// One connection: greeting, then commands until LOGOUT, a fault, or the client's end.
async fn serve(
    tcp: TcpStream,
    faults: &HashMap<String, Fault>,
    seen: &Seen,
) -> std::io::Result<()> {
    let (read, mut write) = tcp.into_split();
    let mut read = BufReader::new(read);
    write
        .write_all(format!("* OK [CAPABILITY {CAPABILITIES}] may chu cu san sang\r\n").as_bytes())
        .await?;
    let mut login = String::new();
    loop {
        let Some(command) = read_command(&mut read, &mut write).await? else {
            return Ok(());
        };
        let words = tokens(&command);
        let Some(tag) = words.first().cloned() else {
            continue;
        };
        let mut rest: Vec<String> = words[1..].to_vec();
        let mut name = rest
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        if name == "UID" && rest.len() > 1 {
            rest.remove(0);
            name = rest[0].to_ascii_uppercase();
        }
        let args = &rest[1.min(rest.len())..];
        let reply = match name.as_str() {
            "CAPABILITY" => format!("* CAPABILITY {CAPABILITIES}\r\n{tag} OK done\r\n"),
            "LOGIN" => {
                seen.credentials.store(true, Ordering::SeqCst);
                login = args.first().cloned().unwrap_or_default();
                format!("{tag} OK [CAPABILITY {CAPABILITIES}] logged in\r\n")
            }
            "AUTHENTICATE" => {
                seen.credentials.store(true, Ordering::SeqCst);
                let response = match args.get(1) {
                    Some(initial) => initial.clone(),
                    None => {
                        write.write_all(b"+ \r\n").await?;
                        let line = read_command(&mut read, &mut write)
                            .await?
                            .unwrap_or_default();
                        String::from_utf8_lossy(&line).into_owned()
                    }
                };
                login = plain_identity(&response);
                format!("{tag} OK [CAPABILITY {CAPABILITIES}] logged in\r\n")
            }
            "LOGOUT" => {
                let bye = format!("* BYE bye\r\n{tag} OK done\r\n");
                write.write_all(bye.as_bytes()).await?;
                return Ok(());
            }
            "FETCH" => {
                let fault = faults.get(&login).copied();
                match fetch(&mut write, &tag, args, &login, fault, seen).await? {
                    Fetched::Answered => continue,
                    Fetched::HungUp => return Ok(()),
                }
            }
            other => answer(other, &tag, args),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// The answer to a command other than LOGIN, AUTHENTICATE, FETCH and LOGOUT.
fn answer(command: &str, tag: &str, args: &[String]) -> String {
    let size = message_of("x").len();
    match command {
        "NOOP" | "CHECK" | "ENABLE" | "CLOSE" | "UNSELECT" | "EXPUNGE" | "SUBSCRIBE" => {
            format!("{tag} OK done\r\n")
        }
        "ID" => format!("* ID NIL\r\n{tag} OK done\r\n"),
        "NAMESPACE" => format!("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n{tag} OK done\r\n"),
        "LIST" | "LSUB" | "XLIST" => {
            let pattern = args.last().map(String::as_str).unwrap_or("*");
            let line = if pattern.is_empty() {
                format!("* {command} (\\Noselect) \"/\" \"\"\r\n")
            } else {
                format!("* {command} (\\HasNoChildren) \"/\" \"INBOX\"\r\n")
            };
            format!("{line}{tag} OK done\r\n")
        }
        "STATUS" => {
            let wanted = args
                .get(1)
                .map(|a| a.to_ascii_uppercase())
                .unwrap_or_default();
            let items: Vec<String> = [
                ("MESSAGES", "1".to_string()),
                ("RECENT", "0".into()),
                ("UIDNEXT", "2".into()),
                ("UIDVALIDITY", UIDVALIDITY.to_string()),
                ("UNSEEN", "0".into()),
                ("SIZE", size.to_string()),
            ]
            .iter()
            .filter(|(item, _)| wanted.contains(item))
            .map(|(item, value)| format!("{item} {value}"))
            .collect();
            format!(
                "* STATUS \"INBOX\" ({})\r\n{tag} OK done\r\n",
                items.join(" ")
            )
        }
        "SELECT" | "EXAMINE" => {
            let mode = if command == "SELECT" {
                "READ-WRITE"
            } else {
                "READ-ONLY"
            };
            format!(
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
                 * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] ok\r\n\
                 * 1 EXISTS\r\n* 0 RECENT\r\n\
                 * OK [UIDVALIDITY {UIDVALIDITY}] ok\r\n* OK [UIDNEXT 2] ok\r\n\
                 {tag} OK [{mode}] selected\r\n"
            )
        }
        "SEARCH" => format!("* SEARCH 1\r\n{tag} OK done\r\n"),
        _ => format!("{tag} BAD unknown command\r\n"),
    }
}

/// How a FETCH ended for the connection.
enum Fetched {
    Answered,
    HungUp,
}

/// Answers `FETCH SET ITEMS` for the one message; the item that asks for the whole message
/// meets `fault`.
async fn fetch(
    write: &mut OwnedWriteHalf,
    tag: &str,
    args: &[String],
    login: &str,
    fault: Option<Fault>,
    seen: &Seen,
) -> std::io::Result<Fetched> {
    let message = message_of(login);
    let set = args.first().map(String::as_str).unwrap_or("1");
    if !covers_first(set) {
        write
            .write_all(format!("{tag} OK done\r\n").as_bytes())
            .await?;
        return Ok(Fetched::Answered);
    }
    let mut out = b"* 1 FETCH (UID 1".to_vec();
    for item in fetch_items(&args[1.min(args.len())..]) {
        let upper = item.to_ascii_uppercase();
        let Some(section) = Section::of(&upper) else {
            out.extend_from_slice(metadata(&upper, &message, login).as_bytes());
            continue;
        };
        let content = section.content(&message);
        out.extend_from_slice(format!(" {} {{{}}}\r\n", section.name, content.len()).as_bytes());
        if !section.whole {
            out.extend_from_slice(&content);
            continue;
        }
        let attempt = {
            let mut fetches = seen.body_fetches.lock().unwrap();
            let count = fetches.entry(login.to_string()).or_default();
            *count += 1;
            *count
        };
        match fault {
            Some(Fault::DropAlways) => return hang_up_midway(write, out, &content).await,
            Some(Fault::DropOnce) if attempt == 1 => {
                return hang_up_midway(write, out, &content).await
            }
            Some(Fault::Garbage) => {
                let garbage = b"* 1 FETCH (UID 1 BODY[] \x00\xff\xfe)))((( \x1b[2J }}{{ NIL\r\n";
                write.write_all(garbage).await?;
                write
                    .write_all(format!("{tag} OK done\r\n").as_bytes())
                    .await?;
                return Ok(Fetched::Answered);
            }
            Some(Fault::HugeLiteral) => {
                let announce = out.len() - format!("{{{}}}\r\n", content.len()).len();
                out.truncate(announce);
                out.extend_from_slice(format!("{{{HUGE_LITERAL}}}\r\n").as_bytes());
                write.write_all(&out).await?;
                stream_huge(write, seen).await;
                return Ok(Fetched::HungUp);
            }
            _ => out.extend_from_slice(&content),
        }
    }
    out.extend_from_slice(format!(")\r\n{tag} OK done\r\n").as_bytes());
    write.write_all(&out).await?;
    Ok(Fetched::Answered)
}

/// Sends the response so far and half of `content`, then closes the connection.
async fn hang_up_midway(
    write: &mut OwnedWriteHalf,
    mut out: Vec<u8>,
    content: &[u8],
) -> std::io::Result<Fetched> {
    out.extend_from_slice(&content[..content.len() / 2]);
    write.write_all(&out).await?;
    write.flush().await?;
    write.shutdown().await?;
    Ok(Fetched::HungUp)
}

/// Streams the announced huge literal until the client stops reading or hangs up, or
/// [`HUGE_STREAM_CAP`] is reached.
async fn stream_huge(write: &mut OwnedWriteHalf, seen: &Seen) {
    let chunk = vec![b'A'; 64 * 1024];
    let mut sent = 0;
    while sent < HUGE_STREAM_CAP {
        let wrote = tokio::time::timeout(Duration::from_secs(10), write.write_all(&chunk)).await;
        if !matches!(wrote, Ok(Ok(()))) {
            break;
        }
        sent += chunk.len() as u64;
        seen.huge_bytes
            .fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
    let _ = write.shutdown().await;
}

/// A body section asked for by a FETCH item.
struct Section {
    /// The item's name in the response (`BODY[]`, `BODY[HEADER.FIELDS (MESSAGE-ID)]<0>`).
    name: String,
    /// What is inside the brackets, or the RFC822 form's part.
    part: String,
    /// Whether it is the whole message.
    whole: bool,
    /// `<origin.length>` of a partial fetch.
    partial: Option<(usize, usize)>,
}

impl Section {
    /// The section an upper-cased FETCH item asks for, if it asks for message text.
    fn of(item: &str) -> Option<Section> {
        match item {
            "RFC822" => return Some(Section::plain("RFC822", "", true)),
            "RFC822.HEADER" => return Some(Section::plain("RFC822.HEADER", "HEADER", false)),
            "RFC822.TEXT" => return Some(Section::plain("RFC822.TEXT", "TEXT", false)),
            _ => {}
        }
        let open = item.find('[')?;
        let close = item.rfind(']')?;
        let kind = item[..open].replace(".PEEK", "");
        if kind != "BODY" && kind != "BINARY" {
            return None;
        }
        let part = item[open + 1..close].to_string();
        let partial = item[close + 1..]
            .strip_prefix('<')
            .and_then(|p| p.strip_suffix('>'))
            .and_then(|p| p.split_once('.'))
            .and_then(|(o, l)| Some((o.parse().ok()?, l.parse().ok()?)));
        let mut name = format!("{kind}[{part}]");
        if let Some((origin, _)) = partial {
            name.push_str(&format!("<{origin}>"));
        }
        Some(Section {
            name,
            whole: part.is_empty() && partial.is_none(),
            part,
            partial,
        })
    }

    fn plain(name: &str, part: &str, whole: bool) -> Section {
        Section {
            name: name.into(),
            part: part.into(),
            whole,
            partial: None,
        }
    }

    /// The bytes this section holds of `message`.
    fn content(&self, message: &[u8]) -> Vec<u8> {
        let split = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(message.len(), |at| at + 4);
        let (header, text) = message.split_at(split);
        let content = if self.part.is_empty() {
            message.to_vec()
        } else if self.part == "HEADER" {
            header.to_vec()
        } else if self.part == "TEXT" || self.part == "1" {
            text.to_vec()
        } else if let Some(fields) = self.part.strip_prefix("HEADER.FIELDS") {
            header_fields(header, fields)
        } else {
            Vec::new()
        };
        match self.partial {
            Some((origin, length)) => {
                let start = origin.min(content.len());
                content[start..(start + length).min(content.len())].to_vec()
            }
            None => content,
        }
    }
}

/// The header lines named in `(A B)` (or all others after `.NOT`), and the blank line.
fn header_fields(header: &[u8], fields: &str) -> Vec<u8> {
    let (not, list) = match fields.strip_prefix(".NOT") {
        Some(list) => (true, list),
        None => (false, fields),
    };
    let names: Vec<String> = list
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let text = String::from_utf8_lossy(header);
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        if names.contains(&name.to_ascii_uppercase()) != not {
            out.push_str(line);
        }
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A FETCH item that is not message text, with its leading space; nothing for `UID`
/// (always sent first) and unknown items.
fn metadata(item: &str, message: &[u8], login: &str) -> String {
    let text_start = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |at| at + 4);
    let lines = message[text_start..].split(|&b| b == b'\n').count() - 1;
    match item {
        "FLAGS" => " FLAGS (\\Seen)".into(),
        "INTERNALDATE" => " INTERNALDATE \"04-Mar-2019 08:15:00 +0700\"".into(),
        "RFC822.SIZE" => format!(" RFC822.SIZE {}", message.len()),
        "ENVELOPE" => format!(
            " ENVELOPE (\"Mon, 4 Mar 2019 08:15:00 +0700\" \"Thu tu may chu cu\" \
             ((NIL NIL \"vanphong\" \"{DOMAIN}\")) ((NIL NIL \"vanphong\" \"{DOMAIN}\")) \
             ((NIL NIL \"vanphong\" \"{DOMAIN}\")) ((NIL NIL \"{login}\" \"cu.{DOMAIN}\")) \
             NIL NIL NIL \"<{login}-1@cu.{DOMAIN}>\")"
        ),
        "BODYSTRUCTURE" | "BODY" => format!(
            " {item} (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\" {} {lines})",
            message.len() - text_start
        ),
        "MODSEQ" => " MODSEQ (1)".into(),
        _ => String::new(),
    }
}

/// Whether a sequence set names message 1 (the only one, so also `*`).
fn covers_first(set: &str) -> bool {
    set.split(',').any(|range| {
        let bound = |b: &str| {
            if b == "*" {
                Some(1)
            } else {
                b.parse::<u64>().ok()
            }
        };
        match range.split_once(':') {
            Some((a, b)) => match (bound(a), bound(b)) {
                (Some(a), Some(b)) => a.min(b) <= 1 && 1 <= a.max(b),
                _ => false,
            },
            None => bound(range) == Some(1),
        }
    })
}

/// FETCH's items: one item, a parenthesised list, or a macro.
fn fetch_items(args: &[String]) -> Vec<String> {
    let joined = args.join(" ");
    let inner = joined
        .strip_prefix('(')
        .and_then(|j| j.strip_suffix(')'))
        .unwrap_or(&joined);
    let mut items = Vec::new();
    for item in tokens(inner.as_bytes()) {
        match item.to_ascii_uppercase().as_str() {
            "FAST" => items.extend(["FLAGS", "INTERNALDATE", "RFC822.SIZE"].map(String::from)),
            "ALL" => {
                items.extend(["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"].map(String::from))
            }
            "FULL" => items.extend(
                ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"].map(String::from),
            ),
            "UID" => {}
            _ => items.push(item),
        }
    }
    items
}

/// Splits a command at spaces outside quotes, parentheses and brackets; quoted strings are
/// unquoted, everything else kept as written.
fn tokens(command: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(command);
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut depth, mut quoted, mut escaped, mut was_quoted) = (0i32, false, false, false);
    for c in text.chars() {
        if quoted {
            match c {
                _ if escaped => {
                    word.push(c);
                    escaped = false;
                }
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => word.push(c),
            }
            continue;
        }
        match c {
            '"' if depth == 0 => {
                quoted = true;
                was_quoted = true;
            }
            '(' | '[' => {
                depth += 1;
                word.push(c);
            }
            ')' | ']' => {
                depth -= 1;
                word.push(c);
            }
            ' ' if depth == 0 => {
                if !word.is_empty() || was_quoted {
                    words.push(std::mem::take(&mut word));
                }
                was_quoted = false;
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() || was_quoted {
        words.push(word);
    }
    words
}

/// The user a SASL PLAIN response (base64 of `authzid NUL authcid NUL password`) signs
/// in as: the authorization identity if there is one.
fn plain_identity(response: &str) -> String {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(response.trim())
        .unwrap_or_default();
    let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
    let user = match parts.as_slice() {
        [authzid, _, _] if !authzid.is_empty() => authzid,
        [_, authcid, _] => authcid,
        _ => &b""[..],
    };
    String::from_utf8_lossy(user).into_owned()
}

/// Reads one command line, literals included (as quoted strings in place of their
/// announcement), without its CRLF; `None` when the client has hung up.
async fn read_command(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut command = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = (&mut *read)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(None);
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        let Some((before, length, synchronising)) = literal_announcement(&line) else {
            command.extend_from_slice(&line);
            return Ok(Some(command));
        };
        command.extend_from_slice(&line[..before]);
        if synchronising {
            write.write_all(b"+ go ahead\r\n").await?;
        }
        let mut literal = vec![0; length.min(MAX_LINE)];
        read.read_exact(&mut literal).await?;
        command.push(b'"');
        for &byte in &literal {
            if byte == b'"' || byte == b'\\' {
                command.push(b'\\');
            }
            command.push(byte);
        }
        command.push(b'"');
    }
}

/// Where a line's trailing `{n}` or `{n+}` starts, `n`, and whether it waits for `+`.
fn literal_announcement(line: &[u8]) -> Option<(usize, usize, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let (digits, synchronising) = match digits.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (digits, true),
    };
    let length = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((open, length, synchronising))
}

/// Every message `who` holds in congvu, by its bytes only.
async fn held(p: &Province, who: &str) -> Vec<Held> {
    let official = p.directory().official(who).await.unwrap();
    let mailstore = &p.server.services().mailstore;
    let mut messages = Vec::new();
    for folder in mailstore.mailboxes(official.id).await.unwrap() {
        for message in mailstore.messages(folder.id).await.unwrap() {
            let body = mailstore.body(message.body_id).await.unwrap().unwrap();
            messages.push(Held::new(&body, Default::default(), 0));
        }
    }
    messages
}

/// Writes an accounts CSV for `accounts` under the CLI's directory.
fn accounts_csv(cli: &AdminCli, accounts: &[Account]) -> std::path::PathBuf {
    let path = cli.dir.join("hostile.csv");
    let mut writer = csv::Writer::from_path(&path).unwrap();
    writer
        .write_record(["address", "source_user", "source_password"])
        .unwrap();
    for account in accounts {
        writer
            .write_record([&account.address(), account.source, account.password])
            .unwrap();
    }
    writer.flush().unwrap();
    path
}

async fn a_hostile_source_fails_only_its_accounts_in_bounded_time_and_memory(backend: Backend) {
    let fake = FakeSource::start(&[
        (AN.source, Fault::DropOnce),
        (NHUNG_SRC.source, Fault::DropAlways),
        (VAN_SRC.source, Fault::Garbage),
        (DAYHOP_SRC.source, Fault::HugeLiteral),
    ])
    .await;
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let cli = AdminCli::new(&p.db);
    let accounts = accounts_csv(&cli, &[AN, NHUNG_SRC, VAN_SRC, DAYHOP_SRC]);
    let started = Instant::now();
    let run = Running::start(
        &cli,
        &[
            "migrate",
            "imap",
            "--source",
            &fake.url(),
            "--insecure-plain",
            "--accounts",
            accounts.to_str().unwrap(),
            "--json",
        ],
    );
    let (run, peak_kib) = run.finish(String::new).await;
    let took = started.elapsed();

    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(took < TIME_BOUND, "the run took {took:?}");
    assert!(
        peak_kib < MEMORY_BOUND_KIB,
        "peak memory {peak_kib} KiB against a {HUGE_LITERAL}-byte literal"
    );
    let summary = json_of(&run);
    assert_eq!(summary["totals"]["accounts"], 4, "{summary:#}");
    assert_eq!(summary["totals"]["failed_accounts"], 3, "{summary:#}");

    // The connection dropped once: retried, and the message arrived whole, once.
    let an = account_entry(&summary, &AN.address());
    assert_eq!(
        (&an["status"], &an["copied"]),
        (&"ok".into(), &1.into()),
        "{summary:#}"
    );
    assert!(fake.body_fetches(AN.source) >= 2);
    assert!(!run.stderr.contains(&AN.address()), "{}", run.stderr);
    assert_eq!(
        held(&p, ANNV.0).await,
        [Held::new(&message_of(AN.source), Default::default(), 0)]
    );

    // Each faulty account failed alone, named on stderr with an error that says what the
    // source did, and nothing of it was written.
    for (account, who, why) in [
        (NHUNG_SRC, NHUNG.0, "connection"),
        (VAN_SRC, VAN.0, "not IMAP"),
        (DAYHOP_SRC, DAYHOP.0, "2147483648"),
    ] {
        let entry = account_entry(&summary, &account.address());
        assert_eq!(entry["status"], "failed", "{summary:#}");
        assert_eq!(entry["copied"], 0, "{summary:#}");
        assert!(
            entry["error"].as_str().is_some_and(|e| e.contains(why)),
            "{summary:#}"
        );
        assert!(run.stderr.contains(&account.address()), "{}", run.stderr);
        assert_eq!(held(&p, who).await, [], "{}", account.address());
    }
    // The dropping source was tried again, a bounded number of times.
    let drops = fake.body_fetches(NHUNG_SRC.source);
    assert!((2..=20).contains(&drops), "{drops} attempts");
    // The 2 GiB announcement was refused, not read through.
    let streamed = fake.seen.huge_bytes.load(Ordering::SeqCst);
    assert!(
        streamed < HUGE_STREAM_CAP,
        "{streamed} bytes of the literal read"
    );
}

async fn imap_without_starttls_is_refused_before_any_password(backend: Backend) {
    let fake = FakeSource::start(&[]).await;
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let cli = AdminCli::new(&p.db);
    let accounts = accounts_csv(&cli, &[AN]);
    let run = Running::start(
        &cli,
        &[
            "migrate",
            "imap",
            "--source",
            &fake.url(),
            "--accounts",
            accounts.to_str().unwrap(),
            "--json",
        ],
    );
    let (run, _) = run.finish(String::new).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains(&AN.address()), "{}", run.stderr);
    assert!(run.stderr.contains("STARTTLS"), "{}", run.stderr);
    let summary = json_of(&run);
    assert_eq!(account_entry(&summary, &AN.address())["status"], "failed");
    assert!(
        !fake.seen.credentials.load(Ordering::SeqCst),
        "a password was sent in the clear"
    );
}
