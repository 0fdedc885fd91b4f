//! The rspamd client: a message and its envelope posted to the normal worker's `/checkv2`,
//! the JSON answer read into an [`RspamdVerdict`]; and learning, posted to the controller
//! worker's `/learnspam` or `/learnham`.
//!
//! Owns rspamd's protocol (request headers, answer fields, the "already learned" answer)
//! and its bounds: one timeout over the whole exchange, an answer of at most 1 MiB. Which
//! reply an action earns is the SMTP session's business, not this module's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::{
    failure_outcome, record_scan, Engine, EngineError, EngineFailure, RspamdSettings, ScanFacts,
};

/// The largest answer read from rspamd. A verdict with every symbol rspamd ships is a few
/// tens of KiB; more is a fault or not rspamd.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Where rspamd's controller worker listens unless told otherwise.
const CONTROLLER_DEFAULT_PORT: u16 = 11334;
/// How much of an engine's error text goes into an [`EngineError`] (for the log).
const EXCERPT_CHARS: usize = 200;
/// rspamd's default subject for the "rewrite subject" action, used if its answer names no
/// subject.
const SPAM_SUBJECT_PREFIX: &str = "***SPAM***";

/// What rspamd advises doing with a message (its `action` field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RspamdAction {
    /// `reject`: refuse the message.
    Reject,
    /// `soft reject`: refuse it for now (a rate limit, a temporary failure in rspamd).
    SoftReject,
    /// `rewrite subject`: spam; rspamd's new subject for it.
    RewriteSubject(String),
    /// `add header`: probably spam; mark it.
    AddHeader,
    /// `greylist`: ask the sender to come back later.
    Greylist,
    /// `no action`: nothing against it.
    NoAction,
}

impl RspamdAction {
    /// The action from rspamd's `action` field; `None` for one this client does not know.
    fn from_answer(action: &str, subject: impl FnOnce() -> String) -> Option<RspamdAction> {
        Some(match action {
            "reject" => RspamdAction::Reject,
            "soft reject" => RspamdAction::SoftReject,
            "rewrite subject" => RspamdAction::RewriteSubject(subject()),
            "add header" => RspamdAction::AddHeader,
            "greylist" => RspamdAction::Greylist,
            "no action" => RspamdAction::NoAction,
            _ => return None,
        })
    }

    /// The `outcome` label of `congvu_filter_scans_total`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RspamdAction::Reject => "reject",
            RspamdAction::SoftReject => "soft_reject",
            RspamdAction::RewriteSubject(_) => "rewrite_subject",
            RspamdAction::AddHeader => "add_header",
            RspamdAction::Greylist => "greylist",
            RspamdAction::NoAction => "no_action",
        }
    }

    /// Whether rspamd judged the message spam. Soft reject and greylist say "later", not
    /// "spam".
    pub fn is_spam(&self) -> bool {
        matches!(
            self,
            RspamdAction::Reject | RspamdAction::RewriteSubject(_) | RspamdAction::AddHeader
        )
    }
}

/// rspamd's verdict on one message.
#[derive(Debug, Clone, PartialEq)]
pub struct RspamdVerdict {
    /// What rspamd advises.
    pub action: RspamdAction,
    /// The message's score.
    pub score: f64,
    /// The score at which rspamd would reject.
    pub required_score: f64,
    /// The names of the symbols that matched, sorted.
    pub symbols: Vec<String>,
    /// Header fields to add to the stored message, in order. rspamd's own
    /// (`milter.add_headers`) when its `milter_headers` module is set up; otherwise, and in
    /// rspamd's default configuration, `X-Spam: Yes` (spam only), `X-Spam-Status` and
    /// `X-Spamd-Result` made here from the score and symbols, so that mail clients and
    /// Sieve see the verdict either way. A value may be folded (CRLF then a tab); it never
    /// holds another line break.
    pub headers: Vec<(String, String)>,
}

/// A client of one rspamd: its normal worker for checks, its controller for learning.
#[derive(Debug)]
pub struct Rspamd {
    client: reqwest::Client,
    /// The normal worker's base URL, as configured.
    url: String,
    /// The controller's base URL, or why there is none.
    controller: Result<String, String>,
    password: Option<String>,
    timeout: Duration,
    learn: bool,
}

impl Rspamd {
    /// A client for the rspamd `settings` name; `None` when rspamd is off (no `url`).
    /// Settings should have passed [`RspamdSettings::validate`]: an unusable URL is not
    /// refused here but fails every exchange, so the fail policy applies.
    pub fn new(settings: &RspamdSettings) -> Option<Rspamd> {
        let url = settings.url.clone()?;
        let controller = match &settings.controller_url {
            Some(controller) => Ok(controller.clone()),
            None => default_controller(&url),
        };
        // Invariant: building fails only for a TLS backend, a proxy or default headers, and
        // this client has none of them. rspamd is never reached through a proxy.
        #[allow(clippy::expect_used, reason = "nothing that can fail is configured")]
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client without TLS, proxies or default headers builds");
        Some(Rspamd {
            client,
            url,
            controller,
            password: settings.controller_password.clone(),
            timeout: Duration::from_secs(settings.timeout_seconds),
            learn: settings.learn,
        })
    }

    /// Whether the settings ask for learning from Junk moves (`learn`). [`Rspamd::learn`]
    /// itself posts whatever this says.
    pub fn learning_enabled(&self) -> bool {
        self.learn
    }

    /// Asks rspamd what to do with `message`, within the timeout.
    pub async fn check(
        &self,
        message: &[u8],
        facts: &ScanFacts,
    ) -> Result<RspamdVerdict, EngineError> {
        let started = Instant::now();
        let result = self
            .within_timeout(self.post_check(message, facts))
            .await
            .map_err(|failure| EngineError::new(Engine::Rspamd, failure));
        let took = started.elapsed();
        match &result {
            Ok(verdict) => {
                record_scan(Engine::Rspamd, verdict.action.as_str(), took);
                metrics::histogram!("congvu_rspamd_score").record(verdict.score);
            }
            Err(error) => record_scan(Engine::Rspamd, failure_outcome(error), took),
        }
        result
    }

    /// Teaches rspamd's Bayes classifier that `message` is spam (or ham), through the
    /// controller. A message rspamd has already learned the same way counts as learned.
    pub async fn learn(&self, message: &[u8], as_spam: bool) -> Result<(), EngineError> {
        let kind = if as_spam { "spam" } else { "ham" };
        let result = self
            .within_timeout(self.post_learn(message, kind))
            .await
            .map_err(|failure| EngineError::new(Engine::Rspamd, failure));
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("congvu_filter_learn_total", "engine" => "rspamd", "kind" => kind, "outcome" => outcome)
            .increment(1);
        result
    }

    async fn within_timeout<T>(
        &self,
        exchange: impl std::future::Future<Output = Result<T, EngineFailure>>,
    ) -> Result<T, EngineFailure> {
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(EngineFailure::Timeout(self.timeout)))
    }

    async fn post_check(
        &self,
        message: &[u8],
        facts: &ScanFacts,
    ) -> Result<RspamdVerdict, EngineFailure> {
        let url = join(&self.url, "checkv2");
        let request = self
            .client
            .post(&url)
            .headers(request_headers(facts))
            .body(message.to_vec());
        let (status, body) = exchange(request, &url).await?;
        if status != StatusCode::OK {
            return Err(EngineFailure::Refused(format!(
                "{status}: {}",
                error_text(&body)
            )));
        }
        parse_check(&body, message)
    }

    async fn post_learn(&self, message: &[u8], kind: &str) -> Result<(), EngineFailure> {
        let base = self
            .controller
            .as_ref()
            .map_err(|why| EngineFailure::Misconfigured(why.clone()))?;
        let url = join(base, &format!("learn{kind}"));
        let mut request = self.client.post(&url).body(message.to_vec());
        if let Some(password) = &self.password {
            request = request.header("password", password);
        }
        let (status, body) = exchange(request, &url).await?;
        learn_answer(status, &body)
    }
}

/// The controller next to the normal worker at `url`: the same host on port 11334.
fn default_controller(url: &str) -> Result<String, String> {
    let mut parsed = Url::parse(url).map_err(|e| format!("url {url:?}: {e}"))?;
    parsed
        .set_port(Some(CONTROLLER_DEFAULT_PORT))
        .map_err(|()| format!("url {url:?} has no port to replace"))?;
    Ok(parsed.to_string())
}

/// `base` with the path segment `command` appended.
fn join(base: &str, command: &str) -> String {
    format!("{}/{command}", base.trim_end_matches('/'))
}

/// The headers that tell rspamd the envelope and the connection.
fn request_headers(facts: &ScanFacts) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        // A value with control characters (a hostile HELO, say) cannot be an HTTP header.
        // It is left out rather than failing the check, which under `fail = "accept"`
        // would let the sender choose to skip spam filtering.
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            headers.append(HeaderName::from_static(name), value);
        }
    };
    if let Some(ip) = facts.client_ip {
        // An IPv4 client on a dual-stack listener arrives as ::ffff:a.b.c.d; rspamd's
        // address rules are written for a.b.c.d.
        put("ip", &ip.to_canonical().to_string());
    }
    if let Some(helo) = &facts.helo {
        put("helo", helo);
    }
    if let Some(hostname) = &facts.client_hostname {
        put("hostname", hostname);
    }
    put(
        "from",
        if facts.mail_from.is_empty() {
            "<>"
        } else {
            &facts.mail_from
        },
    );
    for recipient in &facts.recipients {
        put("rcpt", recipient);
    }
    if let Some(user) = &facts.authenticated_user {
        put("user", user);
    }
    if let Some(queue_id) = &facts.queue_id {
        put("queue-id", queue_id);
    }
    if !facts.receiving_host.is_empty() {
        put("mta-name", &facts.receiving_host);
    }
    headers
}

/// Sends `request` and reads the status and at most [`MAX_ANSWER_BYTES`] of the answer.
async fn exchange(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<(StatusCode, Vec<u8>), EngineFailure> {
    let broken = |e: reqwest::Error| {
        if e.is_builder() {
            EngineFailure::Misconfigured(format!("{url}: {}", error_chain(&e)))
        } else {
            EngineFailure::Connection {
                address: url.to_owned(),
                reason: error_chain(&e),
            }
        }
    };
    let mut response = request.send().await.map_err(broken)?;
    let status = response.status();
    let too_long = || EngineFailure::BadAnswer(format!("an answer over {MAX_ANSWER_BYTES} bytes"));
    if response
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_long());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(broken)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// `error` and its sources, `: `-separated: reqwest's own text says little.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// rspamd's answer to `/checkv2`, the fields congvu reads.
#[derive(Debug, Deserialize)]
struct CheckAnswer {
    action: String,
    score: f64,
    required_score: f64,
    #[serde(default)]
    symbols: BTreeMap<String, SymbolAnswer>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    milter: Option<MilterAnswer>,
}

#[derive(Debug, Deserialize)]
struct SymbolAnswer {
    #[serde(default)]
    score: f64,
}

#[derive(Debug, Deserialize)]
struct MilterAnswer {
    #[serde(default)]
    add_headers: BTreeMap<String, serde_json::Value>,
}

/// Reads a `/checkv2` answer; `message` supplies the subject to rewrite when rspamd names
/// none.
fn parse_check(body: &[u8], message: &[u8]) -> Result<RspamdVerdict, EngineFailure> {
    let answer: CheckAnswer = serde_json::from_slice(body)
        .map_err(|e| EngineFailure::BadAnswer(format!("{e}: {}", excerpt(body))))?;
    if !answer.score.is_finite() || !answer.required_score.is_finite() {
        return Err(EngineFailure::BadAnswer(
            "a score that is not a number".into(),
        ));
    }
    let subject = answer.subject.clone();
    let action = RspamdAction::from_answer(&answer.action, || {
        subject.unwrap_or_else(|| spam_subject(message))
    })
    .ok_or_else(|| EngineFailure::BadAnswer(format!("unknown action {:?}", answer.action)))?;
    let mut headers = answer
        .milter
        .as_ref()
        .map(|milter| milter_headers(&milter.add_headers))
        .unwrap_or_default();
    if headers.is_empty() {
        headers = summary_headers(&action, &answer);
    }
    Ok(RspamdVerdict {
        action,
        score: answer.score,
        required_score: answer.required_score,
        symbols: answer.symbols.into_keys().collect(),
        headers,
    })
}

/// rspamd's default rewritten subject: its prefix before the message's own subject.
fn spam_subject(message: &[u8]) -> String {
    let original = mail_parser::MessageParser::new()
        .parse_headers(message)
        .and_then(|m| m.subject().map(str::to_owned));
    match original {
        Some(subject) => format!("{SPAM_SUBJECT_PREFIX} {subject}"),
        None => SPAM_SUBJECT_PREFIX.to_owned(),
    }
}

/// The fields of `milter.add_headers`: each value a string, a `{"value": …}` object, or a
/// list of those. Names that are not header names are dropped.
fn milter_headers(add: &BTreeMap<String, serde_json::Value>) -> Vec<(String, String)> {
    fn values(value: &serde_json::Value) -> Vec<&str> {
        match value {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Object(o) => o
                .get("value")
                .and_then(serde_json::Value::as_str)
                .into_iter()
                .collect(),
            serde_json::Value::Array(items) => items.iter().flat_map(values).collect(),
            _ => Vec::new(),
        }
    }
    add.iter()
        .filter(|(name, _)| is_header_name(name))
        .flat_map(|(name, value)| values(value).into_iter().map(|v| (name.clone(), folded(v))))
        .collect()
}

/// RFC 5322 §2.2: a field name is printable US-ASCII without `:`; 76 keeps it on one line.
fn is_header_name(name: &str) -> bool {
    (1..=76).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// `raw` with every line break made a fold (CRLF, tab) and control characters dropped, so
/// a value from rspamd cannot start a header field of its own.
fn folded(raw: &str) -> String {
    raw.split('\n')
        .map(|line| {
            line.trim()
                .chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
        })
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\r\n\t")
}

/// `X-Spam`, `X-Spam-Status` and `X-Spamd-Result` as rspamd's milter would write them.
fn summary_headers(action: &RspamdAction, answer: &CheckAnswer) -> Vec<(String, String)> {
    let spam = action.is_spam();
    let mut headers = Vec::new();
    if spam {
        headers.push(("X-Spam".to_owned(), "Yes".to_owned()));
    }
    headers.push((
        "X-Spam-Status".to_owned(),
        format!(
            "{}, score={:.2} required={:.2}",
            if spam { "Yes" } else { "No" },
            answer.score,
            answer.required_score
        ),
    ));
    let mut result = format!(
        "default: {} [{:.2} / {:.2}]",
        if spam { "True" } else { "False" },
        answer.score,
        answer.required_score
    );
    for (name, symbol) in &answer.symbols {
        if is_header_name(name) && !name.contains(['(', ';']) {
            result.push_str(&format!(";\r\n\t{name}({:.2})", symbol.score));
        }
    }
    headers.push(("X-Spamd-Result".to_owned(), result));
    headers
}

/// Reads the controller's answer to a learn request. rspamd 3.x answers a message it has
/// learned the same way before with an error status whose text says "already learned":
/// the message is learned, which is what the caller wanted.
fn learn_answer(status: StatusCode, body: &[u8]) -> Result<(), EngineFailure> {
    if status == StatusCode::OK {
        #[derive(Deserialize)]
        struct Learned {
            success: bool,
        }
        return match serde_json::from_slice::<Learned>(body) {
            Ok(Learned { success: true }) => Ok(()),
            _ => Err(EngineFailure::BadAnswer(excerpt(body))),
        };
    }
    let text = error_text(body);
    if status == StatusCode::ALREADY_REPORTED || text.contains("already learned") {
        return Ok(());
    }
    Err(EngineFailure::Refused(format!("{status}: {text}")))
}

/// The `error` field of an rspamd error answer, or the start of the body.
fn error_text(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorAnswer {
        error: String,
    }
    match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(answer) => excerpt(answer.error.as_bytes()),
        Err(_) => excerpt(body),
    }
}

/// The start of an engine's text, safe for a log line.
fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests;
