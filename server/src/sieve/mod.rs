//! Officials' Sieve filters (RFC 5228), as run at local delivery: compiling a script under
//! limits, and running a compiled script against one delivery to learn what becomes of the
//! message: which folders get a copy and with which flags, where it is redirected, which
//! out-of-office reply goes back, whether the script asked to reject it.
//!
//! The interpreter is `sieve-rs`. This module owns the rules congvu adds around it: the
//! redirect policy (official mail is not forwarded outside the government unless the province
//! allows it), the RFC 3834 conditions under which an automatic reply is never sent, and that a
//! script failing at run time loses nothing (the message goes to INBOX). It knows nothing of
//! storage or protocols: the caller answers its questions through [`Answers`] (is this domain
//! ours? does this folder exist?), and carries out the [`Outcome`], claiming each reply
//! (was it sent to this sender within its period?) before sending it.

use std::collections::HashMap;
use std::sync::Arc;

use ::sieve::compiler::grammar::Capability;
use ::sieve::runtime::RuntimeError;
use ::sieve::{Compiler, Event, Input, Recipient, Runtime};
use mail_parser::{Encoding, HeaderName, Message, MessageParser, MessagePart, PartType};

pub use crate::config::RedirectPolicy;

pub mod scripts;
pub mod vacation;

/// The largest script an official may store, in bytes.
pub const MAX_SCRIPT_BYTES: usize = 64 * 1024;
/// Bytes in one string of a script at most (sieve-rs counts them as written): room for the
/// longest out-of-office text the portal writes (`vacation::MAX_MESSAGE_CHARS` characters,
/// each at most four bytes, or five where a `${` is written encoded).
const MAX_STRING_BYTES: usize = 24 * 1024;
/// Blocks and tests nested at most in one script.
const MAX_NESTING: usize = 32;
/// Instructions one run may execute before it is stopped (a loop of `foreverypart` over a
/// message of many parts, say): far above what 20 ordinary rules take.
const CPU_LIMIT: usize = 50_000;
/// Redirects one run may make.
pub const MAX_REDIRECTS: usize = 4;
/// Messages one run may send (redirects and replies together).
const MAX_OUT_MESSAGES: usize = 4;
/// How long an out-of-office reply to one sender waits before the next, by default (RFC 5230
/// §4.1 recommends 7 days).
const DEFAULT_VACATION_SECONDS: u64 = 7 * 86_400;
/// The prefix the interpreter gives the ids of vacation replies it asks about.
const VACATION_ID_PREFIX: &str = "_v";

/// The extensions a script may require (RFC 5228 §6): what ManageSieve advertises in its
/// `SIEVE` capability, and nothing else compiles. The comparators `i;octet` and
/// `i;ascii-casemap` need no `require` and are always there.
const OFFERED: &[Capability] = &[
    Capability::FileInto,
    Capability::Mailbox,
    Capability::Envelope,
    Capability::Imap4Flags,
    Capability::Copy,
    Capability::Body,
    Capability::Variables,
    Capability::Date,
    Capability::Index,
    Capability::Relational,
    Capability::Comparator(::sieve::compiler::grammar::Comparator::AsciiNumeric),
    Capability::Vacation,
    Capability::VacationSeconds,
    Capability::Reject,
    Capability::Ereject,
    Capability::SubAddress,
    Capability::EncodedCharacter,
    Capability::Environment,
    Capability::Regex,
    Capability::ForEveryPart,
    Capability::Mime,
    Capability::ExtractText,
    Capability::Ihave,
];

fn offered(capability: &Capability) -> bool {
    matches!(capability, Capability::Comparator(_)) || OFFERED.contains(capability)
}

/// The interpreter's settings: with `chain`, `include` is allowed (only congvu's chain
/// script uses it: a stored script requiring it is refused by the checker, which lacks it).
fn runtime(hostname: &str, chain: bool) -> Runtime {
    Runtime::new()
        .with_cpu_limit(CPU_LIMIT)
        .with_max_redirects(MAX_REDIRECTS)
        .with_max_out_messages(MAX_OUT_MESSAGES)
        .with_max_nested_includes(if chain { 2 } else { 0 })
        .with_default_vacation_expiry(DEFAULT_VACATION_SECONDS)
        .with_vacation_default_subject("Trả lời tự động")
        .with_local_hostname(hostname.to_owned())
        // What the `environment` extension reports (RFC 5183 §4.2).
        .with_env_variable("name", "congvu")
        .with_env_variable("version", env!("CARGO_PKG_VERSION"))
        // Only the extensions in OFFERED: the rest (notifications, includes, lists, header
        // edits, changing the message) have nothing behind them here, and a script that
        // asks for one is refused when it is stored.
        .without_capabilities(
            Capability::all()
                .iter()
                .filter(|c| !(offered(c) || chain && **c == Capability::Include))
                .cloned()
                .collect::<Vec<_>>(),
        )
}

/// The extensions offered, as ManageSieve's `SIEVE` capability lists them.
pub fn extensions() -> String {
    let names: Vec<String> = OFFERED.iter().map(ToString::to_string).collect();
    names.join(" ")
}

/// A script that failed to compile, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {reason}")]
pub struct ScriptError {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

/// A compiled script, cheap to share between deliveries.
#[derive(Debug, Clone)]
pub struct Script(Arc<::sieve::Sieve>);

impl Script {
    /// Whether `other` is this very compilation (not merely an equal one).
    pub fn same_as(&self, other: &Script) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// One message arriving for one official.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The message as stored, headers and body.
    pub message: &'a [u8],
    /// The envelope sender; empty for the null sender `<>`.
    pub sender: &'a str,
    /// The envelope recipient this copy is for.
    pub recipient: &'a str,
    /// Every address of the official, the primary first: replies go out from the primary,
    /// and never to any of them.
    pub addresses: &'a [String],
    /// The official's display name, for the From of replies.
    pub name: &'a str,
}

/// What a run needs to ask the rest of congvu.
pub trait Answers {
    /// Whether congvu serves `domain` (lower case).
    fn is_served(&self, domain: &str) -> bool;
    /// Whether the official has a folder named `name`.
    fn folder_exists(&self, name: &str) -> bool;
}

/// Where one copy of the message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// `None` for INBOX; otherwise the folder's name as the script wrote it.
    pub folder: Option<String>,
    /// IMAP flags and keywords (`\Seen`, `$Important`).
    pub flags: Vec<String>,
    /// Whether the folder may be created when it does not exist (`fileinto :create`).
    pub create: bool,
}

impl Copy {
    fn inbox(flags: Vec<String>) -> Copy {
        Copy {
            folder: None,
            flags,
            create: false,
        }
    }
}

/// An automatic reply to send: to the sender, from the official, with the null return path;
/// once per `key` within `period_seconds` (RFC 5230 §4.2), which the caller checks and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub to: String,
    /// The sender and the reply (its `:handle`, or its text), lower case.
    pub key: String,
    pub period_seconds: u64,
    /// The whole message, headers (`Auto-Submitted: auto-replied`, `In-Reply-To`,
    /// `References`) included.
    pub message: Vec<u8>,
}

/// What a run decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Where copies go; empty when the script discarded the message.
    pub copies: Vec<Copy>,
    /// Addresses the message is redirected to, allowed by the policy.
    pub redirects: Vec<String>,
    /// Redirects the policy refused, for the log.
    pub refused_redirects: Vec<String>,
    pub replies: Vec<Reply>,
    /// The reason of a `reject` or `ereject`: honoured only while the sender still waits
    /// for the SMTP reply; after that, the message is kept (no backscatter).
    pub rejection: Option<String>,
    /// Why the script stopped early; the message then goes to INBOX and nothing else happens.
    pub failure: Option<String>,
}

impl Outcome {
    fn failed(why: String) -> Outcome {
        Outcome {
            copies: vec![Copy::inbox(Vec::new())],
            failure: Some(why),
            ..Outcome::default()
        }
    }
}

/// Compiles and runs officials' scripts.
pub struct Filters {
    compiler: Compiler,
    /// Runs deliveries: the extensions in [`OFFERED`], and `include` for the chain.
    runtime: Runtime,
    /// Checks stored scripts: the extensions in [`OFFERED`] only.
    checker: Runtime,
    /// The script a delivery runs when administrators' scripts come before the official's:
    /// it includes each link of a [`Chain`] in turn.
    chain: Script,
    policy: RedirectPolicy,
    /// Reads each delivered message once for its scripts: `Received` fields are kept as
    /// written (no Sieve test looks into their parts, and parsing them is much of a parse).
    parser: MessageParser,
}

impl std::fmt::Debug for Filters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filters")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Includes the links of a [`Chain`] in order (RFC 6609): a `stop` in one ends them all, and
/// the implicit keep is cancelled by whichever of them files, discards or redirects.
const CHAIN: &str = "require \"include\";\r\n\
    include :global :optional \"province\";\r\n\
    include :global :optional \"agency\";\r\n\
    include :personal :optional \"own\";\r\n";

/// The scripts a delivery to one official runs, in order: the province's, the official's
/// agency's (both set by administrators), then the official's own active script.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    pub province: Option<Script>,
    pub agency: Option<Script>,
    pub own: Option<Script>,
}

impl Chain {
    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.province.is_none() && self.agency.is_none() && self.own.is_none()
    }

    /// The link the chain script asks for by `name`.
    fn link(&self, name: &::sieve::Script) -> Option<&Script> {
        match name {
            ::sieve::Script::Global(n) if n == "province" => self.province.as_ref(),
            ::sieve::Script::Global(n) if n == "agency" => self.agency.as_ref(),
            ::sieve::Script::Personal(n) if n == "own" => self.own.as_ref(),
            _ => None,
        }
    }
}

impl Filters {
    /// Filters for a server named `hostname` (the Message-ID of replies) under `policy`.
    pub fn new(hostname: &str, policy: RedirectPolicy) -> Filters {
        let compiler = Compiler::new()
            .with_max_script_size(MAX_SCRIPT_BYTES)
            .with_max_string_size(MAX_STRING_BYTES)
            .with_max_nested_blocks(MAX_NESTING)
            .with_max_nested_tests(MAX_NESTING)
            .with_max_nested_foreverypart(3)
            .with_max_includes(0);
        // The chain is congvu's own and always compiles.
        #[allow(clippy::expect_used)]
        let chain = Compiler::new()
            .compile(CHAIN.as_bytes())
            .map(|sieve| Script(Arc::new(sieve)))
            .expect("the chain script compiles");
        Filters {
            compiler,
            runtime: runtime(hostname, true),
            checker: runtime(hostname, false),
            chain,
            policy,
            parser: parser(),
        }
    }

    /// Compiles `text`, or says where it is wrong.
    pub fn compile(&self, text: &[u8]) -> Result<Script, ScriptError> {
        if text.len() > MAX_SCRIPT_BYTES {
            return Err(ScriptError {
                line: 0,
                column: 0,
                reason: format!(
                    "the script is {} bytes; at most {MAX_SCRIPT_BYTES} are allowed",
                    text.len()
                ),
            });
        }
        let script = match self.compiler.compile(text) {
            Ok(sieve) => Script(Arc::new(sieve)),
            Err(e) => {
                return Err(ScriptError {
                    line: e.line_num(),
                    column: e.line_pos(),
                    reason: e.to_string(),
                })
            }
        };
        match self.unoffered(&script) {
            None => Ok(script),
            Some(name) => Err(ScriptError {
                line: line_naming(text, &name),
                column: 1,
                reason: format!("the extension \"{name}\" is not offered here"),
            }),
        }
    }

    /// The first extension the script requires that is unknown or not offered. The
    /// interpreter finds out only when it runs the `require`, so the script is run once on an
    /// empty message, every question answered yes: the `require`s come first.
    fn unoffered(&self, script: &Script) -> Option<String> {
        let mut context = self.checker.filter(b"Subject: check\r\n\r\n");
        let mut input = Input::script("check", script.0.clone());
        while let Some(result) = context.run(input) {
            input = match result {
                Ok(_) => true.into(),
                Err(RuntimeError::CapabilityNotSupported(name)) => return Some(name),
                Err(RuntimeError::CapabilityNotAllowed(capability)) => {
                    return Some(capability.to_string())
                }
                Err(_) => return None,
            };
        }
        None
    }

    /// Runs `script` for `delivery`.
    pub fn run(&self, script: &Script, delivery: &Delivery<'_>, answers: &dyn Answers) -> Outcome {
        let chain = Chain::default();
        self.execute(script, &chain, delivery, answers)
    }

    /// Runs the scripts of `chain` in order for `delivery` (an empty chain keeps the message
    /// in INBOX, as no script would).
    pub fn run_chain(
        &self,
        chain: &Chain,
        delivery: &Delivery<'_>,
        answers: &dyn Answers,
    ) -> Outcome {
        match (&chain.province, &chain.agency, &chain.own) {
            // The official's own script alone needs no chain around it.
            (None, None, Some(own)) => self.run(own, delivery, answers),
            _ => self.execute(&self.chain, chain, delivery, answers),
        }
    }

    /// Runs `script`, answering its includes from `chain`.
    fn execute(
        &self,
        script: &Script,
        chain: &Chain,
        delivery: &Delivery<'_>,
        answers: &dyn Answers,
    ) -> Outcome {
        let primary = delivery.addresses.first().map_or("", String::as_str);
        // A message without a header still runs its scripts, as one empty part.
        let message = self
            .parser
            .parse(delivery.message)
            .unwrap_or_else(empty_message);
        let mut context = self
            .runtime
            .filter_parsed(message)
            .with_envelope("from", delivery.sender)
            .with_envelope("to", delivery.recipient)
            .with_user_address(primary)
            .with_user_full_name(delivery.name);
        let mut run = Run {
            filters: self,
            delivery,
            chain,
            may_reply: None,
            vacation: None,
            created: HashMap::new(),
            outcome: Outcome::default(),
        };
        let mut input = Input::script("active", script.0.clone());
        while let Some(result) = context.run(input) {
            input = match result {
                Ok(event) => run.event(event, answers),
                Err(e) => return Outcome::failed(format!("{e:?}")),
            };
        }
        let mut outcome = run.outcome;
        // Redirects the policy refused cancel no keep: the message must land somewhere.
        if outcome.copies.is_empty()
            && outcome.redirects.is_empty()
            && !outcome.refused_redirects.is_empty()
        {
            outcome.copies.push(Copy::inbox(Vec::new()));
        }
        outcome
    }
}

/// One run in progress.
struct Run<'a> {
    filters: &'a Filters,
    delivery: &'a Delivery<'a>,
    /// The scripts the chain script includes.
    chain: &'a Chain,
    /// Whether RFC 3834 allows an automatic reply to this message at all, once a reply is
    /// in question (most runs make none, and need not read the header fields for it).
    may_reply: Option<bool>,
    /// The key and period of the vacation reply the script is making.
    vacation: Option<(String, u64)>,
    /// Messages the script made (the vacation reply), by the interpreter's number.
    created: HashMap<usize, Vec<u8>>,
    outcome: Outcome,
}

impl Run<'_> {
    /// Takes in one event; the answer the interpreter waits for.
    fn event(&mut self, event: Event, answers: &dyn Answers) -> Input {
        match event {
            Event::Keep { flags, .. } => self.outcome.copies.push(Copy::inbox(flags)),
            Event::FileInto {
                folder,
                flags,
                create,
                ..
            } => self.outcome.copies.push(filed(folder, flags, create)),
            Event::Discard => {}
            Event::Reject { reason, .. } => self.outcome.rejection = Some(reason),
            Event::CreatedMessage {
                message_id,
                message,
            } => {
                self.created.insert(message_id, message);
            }
            Event::SendMessage {
                recipient,
                message_id,
                ..
            } => self.send(recipient, message_id, answers),
            Event::DuplicateId { id, expiry, .. } => {
                // Asked before a vacation reply is made: `true` ("answered lately") means no
                // reply. Whether one went lately is the caller's to check when it sends.
                let Some(key) = id.strip_prefix(VACATION_ID_PREFIX) else {
                    return false.into();
                };
                if !self.may_reply() {
                    return true.into();
                }
                self.vacation = Some((key.to_lowercase(), expiry));
                return false.into();
            }
            Event::MailboxExists { mailboxes, .. } => {
                let all = mailboxes.iter().all(|m| match m {
                    ::sieve::Mailbox::Name(name) => {
                        name.eq_ignore_ascii_case("INBOX") || answers.folder_exists(name)
                    }
                    ::sieve::Mailbox::Id(_) => false,
                });
                return all.into();
            }
            Event::IncludeScript { name, .. } => {
                return match self.chain.link(&name) {
                    Some(script) => Input::script(name, script.0.clone()),
                    None => false.into(),
                };
            }
            Event::ListContains { .. }
            | Event::Function { .. }
            | Event::SetEnvelope { .. }
            | Event::Notify { .. } => return false.into(),
        }
        true.into()
    }

    /// A redirect of the message (`message_id` 0) or the sending of one the script made.
    fn send(&mut self, recipient: Recipient, message_id: usize, answers: &dyn Answers) {
        let to = match recipient {
            Recipient::Address(address) => address,
            Recipient::List(_) | Recipient::Group(_) => return,
        };
        if message_id == 0 {
            match self.redirect_allowed(&to, answers) {
                true => self.outcome.redirects.push(to),
                false => self.outcome.refused_redirects.push(to),
            }
            return;
        }
        let (Some(message), Some((key, period_seconds))) =
            (self.created.remove(&message_id), self.vacation.take())
        else {
            return;
        };
        let own = self
            .delivery
            .addresses
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&to));
        if self.may_reply() && !own {
            self.outcome.replies.push(Reply {
                to,
                key,
                period_seconds,
                message,
            });
        }
    }

    fn may_reply(&mut self) -> bool {
        *self
            .may_reply
            .get_or_insert_with(|| may_auto_reply(self.delivery))
    }

    fn redirect_allowed(&self, to: &str, answers: &dyn Answers) -> bool {
        match self.filters.policy {
            RedirectPolicy::None => false,
            RedirectPolicy::Any => true,
            RedirectPolicy::ServedDomains => to
                .rsplit_once('@')
                .is_some_and(|(_, domain)| answers.is_served(&domain.to_ascii_lowercase())),
        }
    }
}

/// The parser the interpreter would use, but for `Received`, kept raw. A parser given any
/// header of its own reads every header it is not told of as raw, so each that
/// `MessageParser::new()` reads otherwise is listed here (a unit test holds the two equal).
fn parser() -> MessageParser {
    use HeaderName as H;
    let text = [
        H::Subject,
        H::Comments,
        H::ContentDescription,
        H::ContentLocation,
        H::ContentTransferEncoding,
    ];
    let addresses = [
        H::From,
        H::To,
        H::Cc,
        H::Bcc,
        H::ReplyTo,
        H::Sender,
        H::ResentTo,
        H::ResentFrom,
        H::ResentBcc,
        H::ResentCc,
        H::ResentSender,
        H::ListArchive,
        H::ListHelp,
        H::ListId,
        H::ListOwner,
        H::ListPost,
        H::ListSubscribe,
        H::ListUnsubscribe,
    ];
    let ids = [
        H::MessageId,
        H::References,
        H::InReplyTo,
        H::ReturnPath,
        H::ContentId,
        H::ResentMessageId,
    ];
    let mut parser = MessageParser::new()
        .header_raw(H::Received)
        .header_date(H::Date)
        .header_date(H::ResentDate)
        .header_comma_separated(H::Keywords)
        .header_comma_separated(H::ContentLanguage)
        .header_content_type(H::ContentType)
        .header_content_type(H::ContentDisposition);
    for name in text {
        parser = parser.header_text(name);
    }
    for name in addresses {
        parser = parser.header_address(name);
    }
    for name in ids {
        parser = parser.header_id(name);
    }
    parser
}

/// What the interpreter makes of a message it cannot parse: one empty text part.
fn empty_message<'x>() -> Message<'x> {
    Message {
        parts: vec![MessagePart {
            headers: vec![],
            is_encoding_problem: false,
            body: PartType::Text("".into()),
            encoding: Encoding::None,
            offset_header: 0,
            offset_body: 0,
            offset_end: 0,
        }],
        raw_message: b""[..].into(),
        ..Default::default()
    }
}

/// The line (from 1) that first names `extension` in quotes; 1 when none does.
fn line_naming(text: &[u8], extension: &str) -> usize {
    let quoted = format!("\"{extension}\"");
    String::from_utf8_lossy(text)
        .lines()
        .position(|line| line.to_ascii_lowercase().contains(&quoted))
        .map_or(1, |at| at + 1)
}

/// A `fileinto`: INBOX by any spelling is INBOX.
fn filed(folder: String, flags: Vec<String>, create: bool) -> Copy {
    match folder.eq_ignore_ascii_case("INBOX") {
        true => Copy::inbox(flags),
        false => Copy {
            folder: Some(folder),
            flags,
            create,
        },
    }
}

/// Whether an automatic reply may answer this message (RFC 3834 §2, RFC 5230 §4.6): not to
/// the null sender or a mailer daemon, not to mail that is itself automatic
/// (`Auto-Submitted` other than `no`) or sent to a list (`List-Id`, `Precedence: bulk`,
/// `list` or `junk`), and not to the official's own mail.
fn may_auto_reply(delivery: &Delivery<'_>) -> bool {
    let sender = delivery.sender.to_ascii_lowercase();
    let local = sender.split('@').next().unwrap_or("");
    if sender.is_empty() || local == "mailer-daemon" || local == "postmaster" {
        return false;
    }
    if delivery
        .addresses
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&sender))
    {
        return false;
    }
    let Some(message) = MessageParser::new().parse_headers(delivery.message) else {
        return false;
    };
    // The raw values: how the parser types a header it knows varies with the header.
    let value = |name: &str| {
        message.header_raw(name).map(|v| {
            let v = v.split(';').next().unwrap_or("");
            v.trim().to_ascii_lowercase()
        })
    };
    let listed = message.header_raw("List-Id").is_some();
    let automatic = value("Auto-Submitted").is_some_and(|v| v != "no");
    let bulk = value("Precedence").is_some_and(|v| ["bulk", "list", "junk"].contains(&v.as_str()));
    !(listed || automatic || bulk)
}

#[cfg(test)]
mod tests;
