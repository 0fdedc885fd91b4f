//! Entry points for the fuzz harness (`congvu-fuzz`, in fuzz/): one function per parser that
//! reads hostile input, each taking arbitrary bytes and driving the real parser the way the
//! server drives it (same limits, same calls, same order), never a copy of it.
//!
//! Every entry point must return normally for every input. A panic, whether from the parser
//! or from one of the assertions here (the invariants the server relies on: byte ranges
//! inside the message, results independent of how the bytes were split into reads,
//! round trips), is a bug to fix in the parser, not in the harness.
//!
//! Each entry point answers the coarse [`Features`] the input reached (which commands, which
//! errors, which branches), so that a harness without coverage instrumentation — the stable
//! toolchain has no libFuzzer — can still keep the inputs that reach something new.
#![allow(
    clippy::panic,
    reason = "a fuzz target reports a broken invariant by panicking"
)]
#![doc(hidden)]

use std::ops::Range;
use std::sync::LazyLock;
use std::time::Duration;

use bytes::BytesMut;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use ldap3_proto::proto::{LdapFilter, LdapMsg, LdapOp, LdapPasswordModifyRequest};
use smtp_proto::{Request, AUTH_LOGIN, AUTH_PLAIN};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::Decoder;

use crate::config::Config;
use crate::directory::{normalize_address, plain_credentials, LoginName, PlainRefusal};
use crate::http::autoconfig::{self, AutodiscoverRequest, PoxError, RequestedAddress};
use crate::http::{AutoconfigSettings, MAX_AUTODISCOVER_REQUEST_BYTES};
use crate::imap::framing::{Expect, ReadFault, Reader, Received};
use crate::imap::{folders, utf7, ImapSettings};
use crate::ldap::frame::{FrameError, LdapFrames};
use crate::ldap::{attributes, bind, dn, filter::Filter, schema, LdapSettings};
use crate::mailstore::message::header_facts;
use crate::mailstore::shape::{MessageShape, Part};
use crate::smime::certificate::SignerCertificate;
use crate::smime::{ber, verify};
use crate::smtp::{command_line, DataFault, DataReader, LineStatus};
use crate::smtp::{decode_sasl_response, reply, SmtpSettings};
use crate::smtp::{starts_with_auth, MAX_AUTH_LINE, MAX_COMMAND_LINE, MAX_TEXT_LINE};

/// What an input made a parser do, as a set of up to 64 coarse features (a command verb
/// seen, an error kind reached, a branch taken). Which bit means what is private to each
/// entry point; the harness only compares sets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Features(u64);

impl Features {
    /// The set as bits.
    pub fn bits(self) -> u64 {
        self.0
    }

    fn mark(&mut self, feature: u32) {
        self.0 |= 1u64 << (feature % 64);
    }

    /// Marks a feature named by text (a verb, an error's name), hashed onto `bits`.
    fn mark_name(&mut self, bits: Range<u32>, name: &str) {
        let width = u64::from(bits.end.saturating_sub(bits.start).max(1));
        self.mark(bits.start + (input_hash(name.as_bytes()) % width) as u32);
    }
}

/// One fuzz target: a name for the command line and the entry point.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The name `congvu-fuzz` takes, and the corpus directory's.
    pub name: &'static str,
    /// What the target feeds, for `--help` and the docs.
    pub about: &'static str,
    /// The entry point.
    pub run: fn(&[u8]) -> Features,
}

/// Every target, in the order `congvu-fuzz all` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "smtp_command_line",
        about: "an SMTP client's side of a session: command lines, AUTH responses, DATA and BDAT",
        run: smtp_command_line,
    },
    Target {
        name: "smtp_data",
        about: "a DATA stream: dot-unstuffing and end detection, fed in input-derived reads",
        run: smtp_data,
    },
    Target {
        name: "imap_command",
        about: "an IMAP client's messages through the literal-limited reader and imap-codec",
        run: imap_command,
    },
    Target {
        name: "ldap_frame",
        about: "LDAP requests: the frame cap, BER decoding, filters, DNs and bind names",
        run: ldap_frame,
    },
    Target {
        name: "smime_ber",
        about: "a CMS signature in BER: rewriting to DER, then reading it as SignedData",
        run: smime_ber,
    },
    Target {
        name: "utf7",
        about: "an IMAP mailbox name in modified UTF-7",
        run: utf7,
    },
    Target {
        name: "mime_shape",
        about: "a stored message's MIME shape, its byte ranges and its JSON form",
        run: mime_shape,
    },
    Target {
        name: "sasl_plain",
        about: "a decoded SASL PLAIN response",
        run: sasl_plain,
    },
    Target {
        name: "autoconfig_xml",
        about: "an Outlook Autodiscover request body and the XML written back",
        run: autoconfig_xml,
    },
    Target {
        name: "config_toml",
        about: "the configuration file, with CONGVU_* variables after a NUL byte",
        run: config_toml,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The settings a server started from the built-in defaults runs with.
struct Defaults {
    smtp: SmtpSettings,
    imap: ImapSettings,
    ldap: LdapSettings,
    autoconfig: AutoconfigSettings,
}

static DEFAULTS: LazyLock<Defaults> = LazyLock::new(|| {
    let config = Config::default();
    Defaults {
        smtp: SmtpSettings::from_config(&config),
        imap: ImapSettings::from_config(&config),
        ldap: LdapSettings::from_config(&config),
        autoconfig: AutoconfigSettings::from_config(&config),
    }
});

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A hash of `input` whose every bit depends on every byte (FNV-1a's low bits depend only on
/// the bytes' low bits), for the choices an entry point derives from its input.
fn input_hash(input: &[u8]) -> u64 {
    let mut z = fnv1a(input);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `input` cut into reads of varying sizes, at points derived from the input itself, so that
/// an input saved after a crash replays the same reads.
fn reads(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut state = input_hash(input) | 1;
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        // xorshift64: cheap, and enough to vary the cuts.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let size = match state % 4 {
            0 => 1 + (state >> 8) as usize % 3,
            1 => 1 + (state >> 8) as usize % 16,
            2 => 1 + (state >> 8) as usize % 512,
            _ => rest.len(),
        };
        let (read, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        Some(read)
    })
}

// ---- SMTP ------------------------------------------------------------------------------

/// What the session reads after a command, besides the next command line.
enum SmtpNext {
    Command,
    /// A SASL response line.
    SaslResponse(Sasl),
    /// The message of a DATA command, being read.
    Data(Box<DataReader>),
    /// The rest of a BDAT command's chunk.
    Chunk(usize),
}

/// The SASL response `smtp::auth` waits for.
#[derive(Debug, Clone, Copy)]
enum Sasl {
    Plain,
    LoginUser,
    LoginPassword,
}

/// An SMTP client's side of a session, as `smtp::session` reads it: command lines framed at
/// the AUTH limit, the 512-octet command limit, smtp-proto's parser and the reply chosen for
/// its errors, addresses normalized, AUTH responses decoded, and the message after DATA or
/// the chunk after BDAT taken out of the stream before the next command (as if the
/// transaction's state let them through).
pub fn smtp_command_line(input: &[u8]) -> Features {
    let mut features = Features::default();
    let mut buf = BytesMut::new();
    let mut next = SmtpNext::Command;
    for read in reads(input) {
        buf.extend_from_slice(read);
        while !buf.is_empty() {
            next = match next {
                SmtpNext::Data(reader) => smtp_session_data(reader, &mut buf, &mut features),
                SmtpNext::Chunk(left) => {
                    let here = left.min(buf.len());
                    let _ = buf.split_to(here);
                    match left - here {
                        0 => SmtpNext::Command,
                        left => SmtpNext::Chunk(left),
                    }
                }
                SmtpNext::Command | SmtpNext::SaslResponse(_) => {
                    match command_line(&buf, MAX_AUTH_LINE) {
                        LineStatus::Line(n) => {
                            let line = buf.split_to(n);
                            match next {
                                SmtpNext::SaslResponse(sasl) => {
                                    features.mark(1);
                                    smtp_sasl_response(&line, sasl, &mut features)
                                }
                                _ => smtp_command(&line, &mut features),
                            }
                        }
                        LineStatus::NeedMore => {
                            features.mark(2);
                            break;
                        }
                        // The session answers and closes the connection.
                        LineStatus::TooLong | LineStatus::BareNewline(_) => {
                            features.mark(3);
                            return features;
                        }
                    }
                }
            };
        }
    }
    features
}

/// Feeds what has arrived of the message after DATA, as `smtp::message::data` does; the
/// reader goes on until the end of the data, then the next command follows.
fn smtp_session_data(
    mut reader: Box<DataReader>,
    buf: &mut BytesMut,
    features: &mut Features,
) -> SmtpNext {
    let Some(used) = reader.feed(buf) else {
        buf.clear();
        return SmtpNext::Data(reader);
    };
    let _ = buf.split_to(used);
    match reader.finish() {
        Ok(_) => features.mark(4),
        Err(fault) => {
            let _ = reply::for_data_fault(fault).to_wire();
            features.mark(5 + fault as u32);
        }
    }
    SmtpNext::Command
}

/// One command line, as `Session::command` takes it and the handlers' first checks.
fn smtp_command(line: &[u8], features: &mut Features) -> SmtpNext {
    if line.len() > MAX_COMMAND_LINE && !starts_with_auth(line) {
        let _ = reply::LINE_TOO_LONG.to_wire();
        features.mark(8);
        return SmtpNext::Command;
    }
    let request = match Request::parse(&mut line.iter()) {
        Ok(request) => request,
        Err(error) => {
            let reply = reply::for_parse_error(&error);
            let _ = reply.to_wire();
            features.mark_name(40..64, &format!("{}", reply.code));
            features.mark_name(
                40..64,
                &format!("{error:?}").chars().take(12).collect::<String>(),
            );
            return SmtpNext::Command;
        }
    };
    features.mark_name(10..30, request.name());
    match request {
        Request::Mail { from } => {
            let _ = (from.address.is_ascii(), normalize_address(&from.address));
            if from.size > DEFAULTS.smtp.max_message_bytes {
                features.mark(9);
            }
            SmtpNext::Command
        }
        Request::Rcpt { to } => {
            let _ = normalize_address(&to.address);
            SmtpNext::Command
        }
        Request::Auth {
            mechanism,
            initial_response,
        } => smtp_auth(mechanism, &initial_response, features),
        Request::Data => SmtpNext::Data(Box::new(DataReader::new(
            DEFAULTS.smtp.max_message_bytes,
            MAX_TEXT_LINE,
        ))),
        Request::Bdat { chunk_size, .. } => SmtpNext::Chunk(chunk_size),
        _ => SmtpNext::Command,
    }
}

/// AUTH with its initial response, as `smtp::auth` decodes it.
fn smtp_auth(mechanism: u64, initial: &str, features: &mut Features) -> SmtpNext {
    let plain = mechanism == AUTH_PLAIN;
    if !plain && mechanism != AUTH_LOGIN {
        features.mark(30);
        return SmtpNext::Command;
    }
    if initial.is_empty() {
        return SmtpNext::SaslResponse(if plain { Sasl::Plain } else { Sasl::LoginUser });
    }
    match decode_sasl_response(initial) {
        Ok(bytes) if plain => mark_plain(&plain_credentials(&bytes), features),
        Ok(bytes) => {
            let _ = LoginName::parse(&String::from_utf8_lossy(&bytes));
            features.mark(31);
            return SmtpNext::SaslResponse(Sasl::LoginPassword);
        }
        Err(_) => features.mark(32),
    }
    SmtpNext::Command
}

/// A SASL response line, as `smtp::auth::response` reads it: `*` cancels, else base64; LOGIN
/// asks for the password once it has a user name.
fn smtp_sasl_response(line: &[u8], sasl: Sasl, features: &mut Features) -> SmtpNext {
    let text = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
    if text.trim() == "*" {
        features.mark(33);
        return SmtpNext::Command;
    }
    let Ok(bytes) = decode_sasl_response(&text) else {
        features.mark(32);
        return SmtpNext::Command;
    };
    match sasl {
        Sasl::Plain => mark_plain(&plain_credentials(&bytes), features),
        Sasl::LoginUser => {
            let _ = LoginName::parse(&String::from_utf8_lossy(&bytes));
            features.mark(34);
            return SmtpNext::SaslResponse(Sasl::LoginPassword);
        }
        Sasl::LoginPassword => {
            let _ = String::from_utf8(bytes);
            features.mark(35);
        }
    }
    SmtpNext::Command
}

fn mark_plain(result: &Result<(String, String), PlainRefusal>, features: &mut Features) {
    match result {
        Ok((user, _)) => {
            let _ = LoginName::parse(user);
            features.mark(36);
        }
        Err(PlainRefusal::Malformed) => features.mark(37),
        Err(PlainRefusal::ActingForOther) => features.mark(38),
    }
}

/// Where the end of the data was found and the message read, for comparing runs.
type DataOutcome = (Option<usize>, Result<Vec<u8>, DataFault>);

fn read_data<'a>(
    chunks: impl Iterator<Item = &'a [u8]>,
    max_size: usize,
    max_line: usize,
) -> DataOutcome {
    let mut reader = DataReader::new(max_size, max_line);
    let mut taken = 0;
    for chunk in chunks {
        if let Some(used) = reader.feed(chunk) {
            return (Some(taken + used), reader.finish());
        }
        taken += chunk.len();
    }
    (None, reader.finish())
}

/// A DATA stream (`smtp::framing::DataReader`), fed in one read and in reads cut at
/// input-derived points: both must find the end at the same byte and read the same message,
/// a tighter size limit may only turn the result into `TooLarge`, and what is found must be
/// what RFC 5321 says (the end is `CRLF . CRLF`, the message has only CRLF line ends). The
/// session reads a message only once its end is found, so without one only the end is
/// compared.
pub fn smtp_data(input: &[u8]) -> Features {
    let mut features = Features::default();
    let max_size = DEFAULTS.smtp.max_message_bytes;
    let whole = read_data(std::iter::once(input), max_size, MAX_TEXT_LINE);
    let split = read_data(reads(input), max_size, MAX_TEXT_LINE);
    let small_limit = (input_hash(input) % 256) as usize;
    let small = read_data(reads(input), small_limit, MAX_TEXT_LINE);
    assert_eq!(
        whole.0, split.0,
        "the end depends on how the data was split"
    );
    assert_eq!(whole.0, small.0, "the size limit moved the end of the data");
    let Some(end) = whole.0 else {
        features.mark(0);
        return features;
    };
    let data = &input[..end];
    assert!(
        data.ends_with(b"\r\n.\r\n") || data == b".\r\n",
        "data ended without CRLF.CRLF: {:?}",
        String::from_utf8_lossy(&data[data.len().saturating_sub(8)..])
    );
    assert_eq!(
        whole.1, split.1,
        "the message depends on how the data was split"
    );
    match (&whole.1, &small.1) {
        (_, Err(DataFault::TooLarge)) => {}
        (Ok(message), small) if message.len() <= small_limit => {
            assert_eq!(
                small, &whole.1,
                "a message within the smaller limit read differently"
            )
        }
        (Ok(_), small) => panic!("a message over the smaller limit was read as {small:?}"),
        (Err(fault), small) => {
            assert_eq!(small, &Err(*fault), "the smaller limit changed the fault")
        }
    }
    match &whole.1 {
        Ok(message) => {
            features.mark(1);
            assert_only_crlf(message);
        }
        Err(fault) => features.mark(2 + *fault as u32),
    }
    features
}

fn assert_only_crlf(message: &[u8]) {
    for (i, &b) in message.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(message.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && message[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
}

// ---- IMAP ------------------------------------------------------------------------------

/// The client's side of an IMAP connection, in memory: the input arrives in input-derived
/// reads, then the client closes; what the server writes (literal invitations) is dropped.
struct ScriptedClient<'a, I> {
    reads: I,
    pending: &'a [u8],
}

impl<'a, I: Iterator<Item = &'a [u8]> + Unpin> AsyncRead for ScriptedClient<'a, I> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.pending.is_empty() {
            self.pending = self.reads.next().unwrap_or_default();
        }
        let n = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending[..n]);
        self.pending = &self.pending[n..];
        std::task::Poll::Ready(Ok(()))
    }
}

impl<'a, I: Iterator<Item = &'a [u8]> + Unpin> AsyncWrite for ScriptedClient<'a, I> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

thread_local! {
    /// The reader's deadlines need a Tokio runtime with a timer; one per fuzzing thread.
    static RUNTIME: Option<tokio::runtime::Runtime> = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .ok();
}

/// An IMAP client's messages through `imap::framing::Reader` (imap-codec's fragmentizer with
/// congvu's line and literal limits, then the command, AUTHENTICATE and IDLE decoders),
/// expecting what the session would expect next; mailbox names are read as the folder
/// handlers read them. Half the inputs run under the smallest limits the configuration
/// allows, so that the limits themselves are reached.
pub fn imap_command(input: &[u8]) -> Features {
    let (max_line, max_literal) = if input_hash(input) & 1 == 0 {
        (
            DEFAULTS.imap.max_command_bytes,
            DEFAULTS.imap.max_literal_bytes,
        )
    } else {
        (1024, 1024)
    };
    RUNTIME.with(|runtime| {
        let Some(runtime) = runtime else {
            panic!("no Tokio runtime for the IMAP reader");
        };
        let mut features = Features::default();
        let mut reader = Reader::new(max_line, max_literal);
        let mut client = ScriptedClient {
            reads: reads(input),
            pending: &[],
        };
        let mut expect = Expect::Command;
        loop {
            let received =
                runtime.block_on(reader.next(&mut client, expect, Duration::from_secs(3600)));
            expect = match received {
                Ok(received) => imap_received(received, &mut features),
                Err(fault) => {
                    features.mark(match fault {
                        ReadFault::Closed => 0,
                        ReadFault::TimedOut => 1,
                        ReadFault::LineTooLong => 2,
                        ReadFault::LiteralTooLarge => 3,
                    });
                    return features;
                }
            };
        }
    })
}

/// Looks at one message as the session would, and says what it expects next.
fn imap_received(received: Received, features: &mut Features) -> Expect {
    match received {
        Received::Command(command, ..) => imap_command_body(&command, features),
        Received::AuthenticateData(_) => {
            features.mark(4);
            Expect::Command
        }
        Received::IdleDone => {
            features.mark(5);
            Expect::Command
        }
        Received::Malformed(tag) => {
            features.mark(if tag.is_some() { 6 } else { 7 });
            Expect::Command
        }
        Received::LiteralRefused(_) => {
            features.mark(8);
            Expect::Command
        }
    }
}

fn imap_command_body(command: &Command<'_>, features: &mut Features) -> Expect {
    features.mark_name(12..64, command.body.name());
    match &command.body {
        CommandBody::Authenticate {
            initial_response: None,
            ..
        } => return Expect::AuthenticateData,
        CommandBody::Idle => return Expect::IdleDone,
        CommandBody::Select { mailbox, .. }
        | CommandBody::Examine { mailbox, .. }
        | CommandBody::Create { mailbox, .. }
        | CommandBody::Delete { mailbox, .. }
        | CommandBody::Subscribe { mailbox, .. }
        | CommandBody::Unsubscribe { mailbox, .. }
        | CommandBody::Status { mailbox, .. }
        | CommandBody::Append { mailbox, .. }
        | CommandBody::Copy { mailbox, .. }
        | CommandBody::Move { mailbox, .. } => imap_folder(mailbox, features),
        CommandBody::Rename { from, to } => {
            imap_folder(from, features);
            imap_folder(to, features);
        }
        CommandBody::List {
            reference,
            mailbox_wildcard,
        }
        | CommandBody::Lsub {
            reference,
            mailbox_wildcard,
        } => {
            imap_folder(reference, features);
            let pattern = match mailbox_wildcard {
                ListMailbox::Token(token) => token.as_ref(),
                ListMailbox::String(string) => string.as_ref(),
            };
            if let Ok(pattern) = std::str::from_utf8(pattern) {
                if utf7::decode(pattern).is_none() {
                    features.mark(10);
                }
            }
        }
        _ => {}
    }
    Expect::Command
}

/// A mailbox name, read as the folder handlers read it.
fn imap_folder(mailbox: &Mailbox<'_>, features: &mut Features) {
    if folders::folder_name(mailbox).is_none() {
        features.mark(9);
    }
}

// ---- LDAP ------------------------------------------------------------------------------

/// Signing certificates a signature may name, so that verification gets past finding the
/// signer: an RSA and a P-256 key, from the S/MIME fixtures.
static SIGNERS: LazyLock<Vec<SignerCertificate>> = LazyLock::new(|| {
    [
        &include_bytes!("smime/fixtures/annv.der")[..],
        &include_bytes!("smime/fixtures/nhung.der")[..],
    ]
    .into_iter()
    .filter_map(SignerCertificate::read)
    .collect()
});

/// LDAP requests through `ldap::frame::LdapFrames` in input-derived reads, with the cap of an
/// anonymous connection raised after a bind as the session raises it, and each request's
/// parts read as the operations read them: search bases and filters (compiled under the
/// depth limit and evaluated against the root DSE and the subschema entry), requested
/// attributes, bind names, compare assertions and Password Modify requests.
pub fn ldap_frame(input: &[u8]) -> Features {
    let settings = &DEFAULTS.ldap;
    let mut features = Features::default();
    let mut frames = LdapFrames::new(settings.max_request_bytes_unbound);
    let mut buf = BytesMut::new();
    for read in reads(input) {
        buf.extend_from_slice(read);
        loop {
            match frames.decode(&mut buf) {
                Ok(Some(msg)) => {
                    if ldap_request(&msg, &mut features) {
                        frames.set_max_bytes(settings.max_request_bytes);
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    features.mark(match error {
                        FrameError::TooLarge(_) => 0,
                        FrameError::Malformed => 1,
                        FrameError::Io(_) => 2,
                    });
                    return features;
                }
            }
        }
    }
    features
}

/// Reads one request; true for a bind, after which a real session may raise the cap.
fn ldap_request(msg: &LdapMsg, features: &mut Features) -> bool {
    let settings = &DEFAULTS.ldap;
    match &msg.op {
        LdapOp::SearchRequest(search) => {
            features.mark(3);
            let _ = dn::normalize(&search.base);
            for attribute in &search.attrs {
                let _ = attributes::selected_by(attribute);
            }
            ldap_filter(&search.filter, features);
        }
        LdapOp::BindRequest(request) => {
            features.mark(4);
            let _ = bind::resolve(&request.dn, &settings.base_dn);
            return true;
        }
        LdapOp::CompareRequest(compare) => {
            features.mark(5);
            let _ = dn::normalize(&compare.dn);
            if let Some(kind) = attributes::lookup(&compare.atype) {
                let _ = attributes::normalize(kind.matching, &compare.val);
            }
        }
        LdapOp::ExtendedRequest(request) => {
            features.mark(6);
            if let Ok(modify) = LdapPasswordModifyRequest::try_from(request) {
                features.mark(7);
                if let Some(name) = &modify.user_identity {
                    let _ = bind::resolve(name, &settings.base_dn);
                }
            }
        }
        LdapOp::AbandonRequest(_) | LdapOp::UnbindRequest => features.mark(8),
        _ => features.mark(9),
    }
    false
}

fn ldap_filter(filter: &LdapFilter, features: &mut Features) {
    let mark = match filter {
        LdapFilter::And(_) => 10,
        LdapFilter::Or(_) => 11,
        LdapFilter::Not(_) => 12,
        LdapFilter::Equality(..) => 13,
        LdapFilter::Substring(..) => 14,
        LdapFilter::GreaterOrEqual(..) => 15,
        LdapFilter::LessOrEqual(..) => 16,
        LdapFilter::Present(_) => 17,
        LdapFilter::Approx(..) => 18,
        LdapFilter::Extensible(_) => 19,
    };
    features.mark(mark);
    match Filter::compile(filter, DEFAULTS.ldap.max_filter_depth) {
        Ok(compiled) => {
            for entry in [
                schema::root_dse(&DEFAULTS.ldap.base_dn),
                schema::subschema(),
            ] {
                if compiled.matches(&entry, &|_| true) {
                    features.mark(20);
                }
            }
        }
        Err(_) => features.mark(21),
    }
}

// ---- S/MIME, UTF-7, MIME ---------------------------------------------------------------

/// A CMS ContentInfo in BER through `smime::ber` (BER to DER), which must be idempotent (its
/// output is DER, which it must leave as it is), then through `smime::verify` with two
/// known signers, as `smime::classify` takes a signature.
pub fn smime_ber(input: &[u8]) -> Features {
    let mut features = Features::default();
    let Some(der) = ber::content_info_der(input) else {
        features.mark(0);
        return features;
    };
    features.mark(1);
    let again = ber::content_info_der(&der);
    assert_eq!(
        again.as_deref(),
        Some(&der[..]),
        "DER rewritten is not the same DER"
    );
    features.mark(match verify::verify(&der, None, &SIGNERS) {
        verify::Outcome::NotSigned => 2,
        verify::Outcome::Failed => 3,
        verify::Outcome::Verified => 4,
    });
    // The detached form reads the same SignedData over other content.
    if verify::verify(&der, Some(input), &SIGNERS) == verify::Outcome::Verified {
        features.mark(5);
    }
    features
}

/// A mailbox name in IMAP's modified UTF-7 through `imap::utf7::decode`; what it decodes to,
/// and the input read as a Unicode name, must come back unchanged through `encode`.
pub fn utf7(input: &[u8]) -> Features {
    let mut features = Features::default();
    let Ok(text) = std::str::from_utf8(input) else {
        features.mark(0);
        return features;
    };
    match utf7::decode(text) {
        Some(name) => {
            features.mark(1);
            if name != text {
                features.mark(2);
            }
            let wire = utf7::encode(&name);
            assert_eq!(utf7::decode(&wire).as_deref(), Some(&name[..]), "{wire}");
        }
        None => features.mark(3),
    }
    let wire = utf7::encode(text);
    assert!(wire.is_ascii(), "encoded name is not ASCII: {wire:?}");
    assert_eq!(utf7::decode(&wire).as_deref(), Some(text), "{wire}");
    features
}

/// A message through `mailstore::shape` as the store takes one: every byte range in the
/// shape lies inside the message and every sub-part's inside its parent's body (FETCH cuts
/// sections out of the stored bytes with them), and the shape comes back unchanged from the
/// JSON it is stored as. The header facts SMTP reads from the same message come along.
pub fn mime_shape(input: &[u8]) -> Features {
    let mut features = Features::default();
    let shape = MessageShape::of(input);
    check_shape(&shape, &(0..input.len()), 0, &mut features);
    let json = shape.to_json();
    assert_eq!(
        MessageShape::from_json(&json).as_ref(),
        Some(&shape),
        "the shape does not survive its JSON"
    );
    let facts = header_facts(input);
    if facts.smime_signed {
        features.mark(1);
    }
    if !facts.from.is_empty() {
        features.mark(2);
    }
    features
}

fn check_shape(shape: &MessageShape, outer: &Range<usize>, depth: u32, features: &mut Features) {
    features.mark(8 + depth.min(15));
    check_part(&shape.root, outer, depth, features);
}

/// Checks `part`'s ranges lie within `outer` in order (header, then body), its children's
/// within its body, and siblings one after the other.
fn check_part(part: &Part, outer: &Range<usize>, depth: u32, features: &mut Features) {
    for (what, range) in [("header", &part.header), ("body", &part.body)] {
        assert!(
            range.start <= range.end && outer.start <= range.start && range.end <= outer.end,
            "{what} {range:?} of a {}/{} part at depth {depth} is outside {outer:?}",
            part.media_type,
            part.subtype
        );
    }
    assert!(
        part.header.end <= part.body.start,
        "header {:?} overlaps body {:?} at depth {depth}",
        part.header,
        part.body
    );
    features.mark_name(24..64, &part.media_type);
    if part.media_type == "multipart" {
        assert!(
            !part.children.is_empty(),
            "a multipart part without children"
        );
    }
    for child in &part.children {
        check_part(child, &part.body, depth + 1, features);
    }
    for pair in part.children.windows(2) {
        assert!(
            pair[0].body.end <= pair[1].header.start,
            "sibling body {:?} overlaps the next header {:?} at depth {depth}",
            pair[0].body,
            pair[1].header
        );
    }
    if let Some(message) = &part.message {
        check_shape(message, &part.body, depth + 1, features);
    }
}

// ---- Authentication, Autodiscover, configuration ---------------------------------------

/// A decoded SASL PLAIN response through `directory::plain_credentials`: credentials read
/// from it hold no NUL, and writing them back as `NUL user NUL password` reads the same.
pub fn sasl_plain(input: &[u8]) -> Features {
    let mut features = Features::default();
    let result = plain_credentials(input);
    mark_plain(&result, &mut features);
    if let Ok((user, password)) = result {
        assert!(!user.contains('\0') && !password.contains('\0'));
        let again = [b"\0", user.as_bytes(), b"\0", password.as_bytes()].concat();
        assert_eq!(plain_credentials(&again), Ok((user, password)));
    }
    features
}

/// An Autodiscover request body (cut at the body limit the route applies) through
/// `http::autoconfig`, then the answers written for the address it names, both Outlook's and
/// Thunderbird's, which must be well-formed XML: the address is written back into them.
pub fn autoconfig_xml(input: &[u8]) -> Features {
    let mut features = Features::default();
    let body = &input[..input.len().min(MAX_AUTODISCOVER_REQUEST_BYTES)];
    let request = match AutodiscoverRequest::parse(body) {
        Ok(request) => request,
        Err(error) => {
            features.mark_name(
                8..64,
                &format!("{error:?}").chars().take(10).collect::<String>(),
            );
            return features;
        }
    };
    features.mark(1);
    let settings = &DEFAULTS.autoconfig;
    if !request.accepts_outlook_schema() {
        features.mark(2);
        well_formed(&autoconfig::autodiscover_error(
            PoxError::ProviderUnavailable,
        ));
        return features;
    }
    let Some(address) = request.email.as_deref().and_then(RequestedAddress::parse) else {
        features.mark(3);
        well_formed(&autoconfig::autodiscover_error(PoxError::InvalidRequest));
        return features;
    };
    features.mark(4);
    well_formed(&autoconfig::autodiscover_settings(
        settings,
        &address.address,
    ));
    well_formed(&autoconfig::client_config(settings, &address.domain));
    features
}

/// Panics unless `xml` reads as one well-formed document.
fn well_formed(xml: &[u8]) {
    if let Err(error) = AutodiscoverRequest::parse(xml) {
        panic!(
            "the XML written back is malformed ({error}): {}",
            String::from_utf8_lossy(xml)
        );
    }
}

/// A configuration file through `Config::from_toml` (TOML with spans, the environment
/// overlay, the schema and validation). Bytes after the first NUL are `NAME=value` lines
/// taken as the environment, so the overlay is fuzzed too. A configuration accepted must
/// give the settings every service derives from it.
pub fn config_toml(input: &[u8]) -> Features {
    let mut features = Features::default();
    let (file, env) = match input.iter().position(|&b| b == 0) {
        Some(nul) => (&input[..nul], &input[nul + 1..]),
        None => (input, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(file) else {
        features.mark(0);
        return features;
    };
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    if !env.is_empty() {
        features.mark(1);
    }
    match Config::from_toml(text, "congvu.toml", env) {
        Ok(config) => {
            features.mark(2);
            let _ = SmtpSettings::from_config(&config);
            let _ = ImapSettings::from_config(&config);
            let _ = LdapSettings::from_config(&config);
            let _ = AutoconfigSettings::from_config(&config);
        }
        Err(error) => {
            // The first words say which check failed; the rest names values.
            let check: Vec<&str> = error.message.split_whitespace().take(3).collect();
            features.mark_name(8..64, &check.join(" "));
        }
    }
    features
}
