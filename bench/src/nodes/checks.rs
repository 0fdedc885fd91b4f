//! What several nodes promise, checked while both run: every queue entry delivered once,
//! whichever node took it, and IDLE on one node woken by mail that arrived on the other.

use std::collections::HashMap;
use std::sync::Arc;

use crate::imap::{chosen_password, open_inbox, untagged_number, ImapSession};
use crate::smtp::{deliver, payload, smtp_source_head, CLIENT_NAME};

use super::submission::Submission;
use super::*;

/// How the Message-IDs the sink received compare with those submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Once {
    /// Submitted messages the sink received at least once.
    pub(super) delivered: usize,
    /// Submitted messages the sink never received.
    pub(super) missing: usize,
    /// Copies beyond the first of a submitted message.
    pub(super) duplicates: usize,
    /// Messages the sink received that were never submitted (or carried no Message-ID).
    pub(super) unexpected: usize,
}

impl Once {
    /// Counts `received` against `expected`, both Message-IDs.
    pub(super) fn account(expected: &[String], received: &[String]) -> Once {
        let mut seen: HashMap<&str, usize> = expected.iter().map(|id| (id.as_str(), 0)).collect();
        let mut unexpected = 0;
        for id in received {
            match seen.get_mut(id.as_str()) {
                Some(count) => *count += 1,
                None => unexpected += 1,
            }
        }
        Once {
            delivered: seen.values().filter(|&&n| n > 0).count(),
            missing: seen.values().filter(|&&n| n == 0).count(),
            duplicates: seen.values().map(|&n| n.saturating_sub(1)).sum(),
            unexpected,
        }
    }

    /// Each submitted message arrived, once, and nothing else did.
    pub(super) fn is_exact(&self) -> bool {
        self.missing == 0 && self.duplicates == 0 && self.unexpected == 0
    }
}

/// The value of the first `Message-ID` header field of `message`, without its angle
/// brackets; `None` when the header has none.
pub(super) fn message_id(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let header = text.split("\r\n\r\n").next().unwrap_or_default();
    // RFC 5322 §2.2.3: a line starting with white space continues the field before it.
    let unfolded = header.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("message-id").then(|| {
            let value = value.trim();
            value
                .strip_prefix('<')
                .and_then(|v| v.strip_suffix('>'))
                .unwrap_or(value)
                .to_string()
        })
    })
}

/// The queue check of one run.
#[derive(Debug, Clone)]
pub(super) struct QueueOnce {
    /// Messages the nodes acknowledged, on either node.
    pub(super) accepted: usize,
    /// Messages a node refused, and the first refusal.
    pub(super) refused: usize,
    pub(super) first_refusal: Option<String>,
    pub(super) once: Once,
    /// From the last acknowledgement until the sink had everything (or gave up).
    pub(super) waited: Duration,
}

impl QueueOnce {
    pub(super) fn passed(&self) -> bool {
        self.refused == 0 && self.once.is_exact()
    }
}

/// The IDLE check of one run.
#[derive(Debug, Clone, Default)]
pub(super) struct IdleWakes {
    /// Messages node A acknowledged.
    pub(super) delivered: usize,
    /// Node A's 250 to node B's EXISTS, for each message node B reported.
    pub(super) wakes: Vec<Duration>,
    /// Messages node B had not reported within [`WAKE_TIMEOUT`].
    pub(super) missing: usize,
    /// What broke the check off, if anything did.
    pub(super) failure: Option<String>,
}

impl IdleWakes {
    pub(super) fn passed(&self) -> bool {
        self.failure.is_none() && self.missing == 0 && self.wakes.len() == IDLE_MESSAGES
    }
}

/// What each run's checks found wrong, a line per failed check; empty when both passed
/// in every run.
pub(super) fn broken_promises(runs: &[RunFigures]) -> Vec<String> {
    let mut broken = Vec::new();
    for (run, figures) in runs.iter().enumerate() {
        let (q, idle) = (&figures.queue, &figures.idle);
        if !q.passed() {
            broken.push(format!(
                "run {}: queue: {} of {} acknowledged arrived, {} missing, {} duplicate copies, \
                 {} unexpected, {} refused at submission",
                run + 1,
                q.once.delivered,
                q.accepted,
                q.once.missing,
                q.once.duplicates,
                q.once.unexpected,
                q.refused
            ));
        }
        if !idle.passed() {
            broken.push(format!(
                "run {}: IDLE across nodes: {} of {IDLE_MESSAGES} messages acknowledged, {} woke \
                 node B, {} missing after {} s{}",
                run + 1,
                idle.delivered,
                idle.wakes.len(),
                idle.missing,
                WAKE_TIMEOUT.as_secs(),
                idle.failure
                    .as_ref()
                    .map(|f| format!("; {f}"))
                    .unwrap_or_default()
            ));
        }
    }
    broken
}

impl Bench<'_> {
    /// [`QUEUE_MESSAGES`] messages for another domain submitted through both nodes, then
    /// what the sink received once the queue had time to deliver them all.
    pub(super) fn queue_once(
        &self,
        cluster: &Cluster,
        seeded: &Seeded,
        sink: &SmtpSink,
        run: usize,
    ) -> anyhow::Result<QueueOnce> {
        let ids: Vec<String> = (0..QUEUE_MESSAGES)
            .map(|i| format!("n1.{run}.{i}@{CLIENT_NAME}"))
            .collect();
        let addrs: Vec<SocketAddr> = cluster.running(2).iter().map(|n| n.submissions).collect();
        let submitted =
            self.runtime
                .block_on(submit_all(&addrs, self.tls, &seeded.submitter, &ids));
        let acknowledged: Vec<String> = submitted
            .iter()
            .filter(|(_, refusal)| refusal.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        let refusals: Vec<&String> = submitted.iter().filter_map(|(_, r)| r.as_ref()).collect();
        let started = Instant::now();
        let received = |sink: &SmtpSink| -> Vec<String> {
            let no_id = "(no Message-ID)".to_string();
            let transactions = sink.transactions();
            let ids = transactions.iter().map(|t| message_id(&t.data));
            ids.map(|id| id.unwrap_or_else(|| no_id.clone())).collect()
        };
        while Once::account(&acknowledged, &received(sink)).missing > 0
            && started.elapsed() < QUEUE_WAIT
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        let waited = started.elapsed();
        std::thread::sleep(QUEUE_LINGER);
        Ok(QueueOnce {
            accepted: acknowledged.len(),
            refused: refusals.len(),
            first_refusal: refusals.first().map(|r| r.to_string()),
            once: Once::account(&acknowledged, &received(sink)),
            waited,
        })
    }

    /// A session on node B in IDLE on the watcher's INBOX while node A takes
    /// [`IDLE_MESSAGES`] messages for it, one at a time.
    pub(super) fn idle_across(
        &self,
        cluster: &Cluster,
        seeded: &Seeded,
    ) -> anyhow::Result<IdleWakes> {
        let (a, b) = (cluster.node(0).smtp, cluster.node(1).imaps);
        let watcher = &seeded.watcher;
        Ok(self.runtime.block_on(watch(a, b, self.tls, watcher)))
    }
}

/// Submits one message per id, [`QUEUE_SESSIONS`] sessions taking the nodes in turn;
/// returns each id with the refusal it got, if any.
async fn submit_all(
    addrs: &[SocketAddr],
    tls: &TlsConnector,
    submitter: &Official,
    ids: &[String],
) -> Vec<(String, Option<String>)> {
    let sessions: Vec<_> = (0..QUEUE_SESSIONS)
        .map(|s| {
            let addr = addrs[s % addrs.len()];
            let node = NODE_NAMES[s % addrs.len()];
            let mine: Vec<(usize, String)> = ids
                .iter()
                .enumerate()
                .skip(s)
                .step_by(QUEUE_SESSIONS)
                .map(|(i, id)| (i, id.clone()))
                .collect();
            let (tls, submitter) = (tls.clone(), submitter.clone());
            tokio::spawn(async move { submit(addr, node, &tls, &submitter, mine).await })
        })
        .collect();
    let mut submitted = Vec::new();
    for session in sessions {
        match session.await {
            Ok(results) => submitted.extend(results),
            Err(e) => submitted.push((String::new(), Some(format!("a session panicked: {e}")))),
        }
    }
    submitted
}

/// One submission session sending `messages` (index, Message-ID) to another domain; a
/// session that breaks takes its remaining messages with it as refused.
async fn submit(
    addr: SocketAddr,
    node: &str,
    tls: &TlsConnector,
    submitter: &Official,
    messages: Vec<(usize, String)>,
) -> Vec<(String, Option<String>)> {
    let password = chosen_password(&submitter.login);
    let mut results = Vec::new();
    let mut session = match Submission::open(addr, tls, &submitter.login, &password).await {
        Ok(session) => session,
        Err(e) => {
            let refusal = format!("{node}: {e}");
            return messages
                .into_iter()
                .map(|(_, id)| (id, Some(refusal.clone())))
                .collect();
        }
    };
    for (i, id) in messages {
        let to = format!("vanthu{}@tinh{}.gov.vn", i % 50, i % 7);
        let message = outbound(&submitter.address, &to, &id, i);
        let outcome = session.send(&submitter.address, &to, &message).await;
        results.push((id, outcome.err().map(|e| format!("{node}: {e}"))));
    }
    session.quit().await;
    results
}

/// A short letter to another province, from `from`, identified by `id`.
pub(super) fn outbound(from: &str, to: &str, id: &str, i: usize) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: Cong van so {i}\r\n\
         Date: Mon, 5 Jan 2026 08:00:00 +0700\r\nMessage-ID: <{id}>\r\n\r\n\
         Kinh gui van thu: cong van so {i} gui kem.\r\n"
    )
    .into_bytes()
}

/// The IDLE check: `watcher` logged in on node B's `imaps` in IDLE, messages for them
/// delivered through node A's `smtp` one at a time, each 250 timed to the EXISTS that
/// reports it.
async fn watch(
    smtp: SocketAddr,
    imaps: SocketAddr,
    tls: &TlsConnector,
    watcher: &Official,
) -> IdleWakes {
    let mut wakes = IdleWakes::default();
    let (mut session, mut reported) = match open_inbox(imaps, tls, &watcher.login).await {
        Ok(opened) => opened,
        Err(e) => {
            wakes.failure = Some(format!("node B: {e}"));
            return wakes;
        }
    };
    let tag = session.next_tag();
    if let Err(e) = enter_idle(&mut session, &tag).await {
        wakes.failure = Some(format!("node B: {e}"));
        return wakes;
    }
    let body = Arc::new(payload(MESSAGE_BYTES));
    let expected_first = reported;
    for k in 0..IDLE_MESSAGES {
        let head = smtp_source_head(&watcher.address, 50_000_000 + k);
        if let Err(e) = deliver(smtp, &[&watcher.address], head.as_bytes(), &body).await {
            wakes.failure = Some(format!("node A: {e}"));
            break;
        }
        let acknowledged = Instant::now();
        wakes.delivered += 1;
        let expected = expected_first + k + 1;
        match until_exists(&mut session, expected, &mut reported).await {
            Ok(true) => wakes.wakes.push(acknowledged.elapsed()),
            Ok(false) => wakes.missing += 1,
            Err(e) => {
                wakes.failure = Some(format!("node B: {e}"));
                return wakes;
            }
        }
    }
    let _ = session.send(b"DONE\r\n").await;
    let _ = session.until_tagged(&tag, "IDLE", |_| {}).await;
    session.logout().await;
    wakes
}

/// Sends `tag IDLE` and waits for the continuation (RFC 2177).
async fn enter_idle(session: &mut ImapSession, tag: &str) -> Result<(), String> {
    session.send(format!("{tag} IDLE\r\n").as_bytes()).await?;
    let response = session.response().await?;
    if response.starts_with(b"+") {
        Ok(())
    } else {
        Err(format!(
            "IDLE → {}",
            String::from_utf8_lossy(response).trim_end()
        ))
    }
}

/// Reads untagged responses until one says INBOX holds at least `expected` messages
/// (`true`), or [`WAKE_TIMEOUT`] passes (`false`); `reported` keeps the last EXISTS seen.
async fn until_exists(
    session: &mut ImapSession,
    expected: usize,
    reported: &mut usize,
) -> Result<bool, String> {
    let deadline = tokio::time::Instant::now() + WAKE_TIMEOUT;
    while *reported < expected {
        let response = match tokio::time::timeout_at(deadline, session.response()).await {
            Ok(response) => response?,
            Err(_) => return Ok(false),
        };
        if let Some(n) = untagged_number(response, b"EXISTS") {
            *reported = n as usize;
        }
    }
    Ok(true)
}
