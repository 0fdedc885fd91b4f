//! The checks run after every kill (before the restart) and once at the end, on the database
//! itself through congvu's library: every mailbox of every official, the outbound queue,
//! what the smart host (the sink) received, and the bodies' reference counts, held against
//! the ledger. Each stored copy is recognised by the SHA-256 of its bytes after the trace
//! fields the server prepends; a copy that matches no message sent whole is a half-stored one.
//!
//! A mailbox row never changes once written (its UID is never reused), so each copy is read
//! once and remembered by mailbox, UID and body; the queue is read whole every time (it stays
//! short: the sink takes everything), the sink only for what arrived since the last check.

use std::collections::{HashMap, HashSet};

use congvu::clock::Clock;
use congvu::directory::OfficialId;
use congvu::mailstore::{BodyHash, BodyId, MailboxId, Mailstore};
use congvu::queue::Queue;
use congvu::store::Store;

use super::ledger::{Expect, Folder, Ledger, Letter, MoveRecord, Outcome, Place, Target};
use super::{CheckPoint, SoakReport, Violation, ViolationKind};
use crate::smtp_sink::SmtpSink;

/// One stored copy of a known message.
#[derive(Debug, Clone)]
struct Copy {
    login: &'static str,
    mailbox: String,
    folder: Option<Folder>,
    uid: u32,
}

/// Where every known message was found.
#[derive(Debug, Default)]
struct Scan {
    /// Mailbox copies, by message number.
    copies: HashMap<u64, Vec<Copy>>,
    /// Queue entries, by message number and recipient (lowercase).
    queued: HashMap<(u64, String), u32>,
}

/// A broken promise about one message, before it is attributed.
#[derive(Debug)]
struct Finding {
    kind: ViolationKind,
    /// Tells this finding apart from others about the same message.
    key: String,
    detail: String,
}

impl Finding {
    fn new(kind: ViolationKind, key: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding {
            kind,
            key: key.into(),
            detail: detail.into(),
        }
    }
}

/// What the checks have learnt so far.
#[derive(Debug)]
pub struct Checker {
    officials: Vec<(&'static str, OfficialId)>,
    /// What each mailbox copy was found to be: its body and message (`None`: bytes no
    /// client sent whole).
    known: HashMap<(MailboxId, u32), (BodyId, Option<u64>)>,
    /// Sink transactions already read.
    sink_read: usize,
    /// Sink deliveries by message number and recipient (lowercase).
    relayed: HashMap<(u64, String), u32>,
    /// The check after which each (message, recipient) was last relayed.
    relayed_in: HashMap<(u64, String), usize>,
    /// Checks run so far: the sink's transactions between two checks came from one server
    /// process.
    checks: usize,
    /// Violations already reported, so that one broken promise is counted once.
    reported: HashSet<String>,
}

impl Checker {
    /// Checks over the mailboxes of `officials`.
    pub fn new(officials: Vec<(&'static str, OfficialId)>) -> Checker {
        Checker {
            officials,
            known: HashMap::new(),
            sink_read: 0,
            relayed: HashMap::new(),
            relayed_in: HashMap::new(),
            checks: 0,
            reported: HashSet::new(),
        }
    }

    /// Runs every check on `store` (no server running) and records in `report` what it
    /// found; settles in the ledger where unanswered messages turned out to be. `Err` when
    /// the database cannot be read.
    pub async fn check(
        &mut self,
        store: &Store,
        ledger: &mut Ledger,
        sink: &SmtpSink,
        at: CheckPoint,
        report: &mut SoakReport,
    ) -> Result<(), String> {
        let mut findings = Vec::new();
        let mut scan = Scan::default();
        self.scan_mailboxes(store, ledger, &mut scan, &mut findings)
            .await
            .map_err(|e| format!("reading the mailboxes: {e}"))?;
        report.queued_at_end = self
            .scan_queue(store, ledger, &mut scan, &mut findings)
            .await
            .map_err(|e| format!("reading the queue: {e}"))?;
        self.checks += 1;
        report.redelivered_in_one_life += self.read_sink(sink, ledger, &mut findings);
        let miscounted = match store.read().await {
            Ok(mut conn) => conn.miscounted_bodies().await,
            Err(e) => Err(e),
        }
        .map_err(|e| format!("reading the reference counts: {e}"))?;
        for (body, refcount, holders) in miscounted {
            findings.push(Finding::new(
                ViolationKind::Refcount,
                format!("refcount/{}/{refcount}/{holders}", body.0),
                format!(
                    "body {} has refcount {refcount} but {holders} holders",
                    body.0
                ),
            ));
        }
        for finding in findings {
            self.violate(report, at, finding);
        }
        self.judge(ledger, &scan, at, report);
        self.count_relayed(report);
        Ok(())
    }

    fn violate(&mut self, report: &mut SoakReport, at: CheckPoint, finding: Finding) {
        if !self.reported.insert(finding.key) {
            return;
        }
        match finding.kind {
            ViolationKind::Lost => report.lost += 1,
            ViolationKind::Duplicated => report.duplicated += 1,
            ViolationKind::HalfPresent => report.half_present += 1,
            _ => {}
        }
        report.violations.push(Violation {
            at,
            kind: finding.kind,
            detail: finding.detail,
        });
    }

    /// Reads every mailbox of every official: UIDNEXT against the UIDs, and what each copy is.
    async fn scan_mailboxes(
        &mut self,
        store: &Store,
        ledger: &Ledger,
        scan: &mut Scan,
        findings: &mut Vec<Finding>,
    ) -> Result<(), congvu::mailstore::MailstoreError> {
        let mailstore = Mailstore::new(store.clone(), Clock::system());
        for &(login, official) in &self.officials {
            for mailbox in mailstore.mailboxes(official).await? {
                let messages = mailstore.messages(mailbox.id).await?;
                if let Some(highest) = messages.iter().map(|m| m.uid).max() {
                    if mailbox.uidnext <= highest {
                        findings.push(Finding::new(
                            ViolationKind::Uidnext,
                            format!("uidnext/{}/{}", mailbox.id.0, highest.0),
                            format!(
                                "{login}'s {}: UIDNEXT {} is not above UID {}",
                                mailbox.name, mailbox.uidnext.0, highest.0
                            ),
                        ));
                    }
                }
                for message in messages {
                    let key = (mailbox.id, message.uid.0);
                    let identity = match self.known.get(&key) {
                        Some((body, identity)) if *body == message.body_id => *identity,
                        _ => {
                            let bytes = mailstore.body(message.body_id).await?;
                            let place = format!("{login}'s {} UID {}", mailbox.name, message.uid.0);
                            let identity = identify(ledger, bytes.as_deref(), &place, findings);
                            self.known.insert(key, (message.body_id, identity));
                            identity
                        }
                    };
                    if let Some(number) = identity {
                        scan.copies.entry(number).or_default().push(Copy {
                            login,
                            folder: Folder::named(&mailbox.name),
                            mailbox: mailbox.name.clone(),
                            uid: message.uid.0,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads the outbound queue; returns how many entries it holds.
    async fn scan_queue(
        &mut self,
        store: &Store,
        ledger: &Ledger,
        scan: &mut Scan,
        findings: &mut Vec<Finding>,
    ) -> Result<u64, congvu::store::StoreError> {
        let queue = Queue::new(store.clone(), Clock::system());
        let entries = queue.entries().await?;
        let mut bodies: HashMap<BodyId, Option<u64>> = HashMap::new();
        for entry in &entries {
            let identity = match bodies.get(&entry.body_id) {
                Some(identity) => *identity,
                None => {
                    let bytes = queue.body(entry.body_id).await?;
                    let place = format!("queue entry {} for {}", entry.id.0, entry.recipient);
                    let identity = identify(ledger, bytes.as_deref(), &place, findings);
                    bodies.insert(entry.body_id, identity);
                    identity
                }
            };
            if let Some(number) = identity {
                let recipient = entry.recipient.to_ascii_lowercase();
                *scan.queued.entry((number, recipient)).or_default() += 1;
            }
        }
        Ok(entries.len() as u64)
    }

    /// Takes in what the sink received since the last check; returns how many deliveries
    /// repeated one made by the same server process (no kill in between to explain them).
    fn read_sink(&mut self, sink: &SmtpSink, ledger: &Ledger, findings: &mut Vec<Finding>) -> u64 {
        let mut repeated = 0;
        let transactions = sink.transactions();
        for (index, transaction) in transactions.iter().enumerate().skip(self.sink_read) {
            let place = format!("relayed transaction {index} to {:?}", transaction.rcpt_to);
            if let Some(number) = identify(ledger, Some(&transaction.data), &place, findings) {
                for recipient in &transaction.rcpt_to {
                    let key = (number, recipient.to_ascii_lowercase());
                    let previous = self.relayed_in.insert(key.clone(), self.checks);
                    if previous == Some(self.checks) {
                        repeated += 1;
                    }
                    *self.relayed.entry(key).or_default() += 1;
                }
            }
        }
        self.sink_read = transactions.len();
        repeated
    }

    fn count_relayed(&self, report: &mut SoakReport) {
        report.relayed = self.relayed.len() as u64;
        report.redelivered = self.relayed.values().map(|n| u64::from(n - 1)).sum();
    }

    /// Holds every message in the ledger against what was found, and settles where the
    /// unanswered ones turned out to be.
    fn judge(&mut self, ledger: &mut Ledger, scan: &Scan, at: CheckPoint, report: &mut SoakReport) {
        let (mut expected, mut found) = (0, 0);
        let Ledger { letters, moves, .. } = ledger;
        for letter in letters.iter_mut() {
            let copies = scan
                .copies
                .get(&letter.number)
                .map_or(&[][..], Vec::as_slice);
            let acknowledged = letter.outcome == Outcome::Acknowledged;
            let verdict = match &letter.target {
                Target::Mail {
                    local,
                    remote,
                    expect,
                } => self.judge_mail(letter.number, local, remote, *expect, copies, scan),
                Target::Stored { owner, place } => judge_stored(owner, *place, copies),
            };
            if acknowledged {
                expected += verdict.expected;
                found += verdict.found;
            }
            if verdict.stored_unanswered {
                report.in_flight_stored += 1;
            }
            for finding in verdict.findings {
                let detail = format!(
                    "{}{}: {}",
                    letter.describe(),
                    last_move(letter, moves),
                    finding.detail
                );
                let key = format!("{}/{}", finding.key, letter.number);
                self.violate(report, at, Finding::new(finding.kind, key, detail));
            }
            match (&mut letter.target, verdict.settled) {
                (Target::Mail { expect, .. }, Settled::Mail(now)) => *expect = now,
                (Target::Stored { place, .. }, Settled::Stored(now)) => *place = now,
                _ => {}
            }
        }
        report.expected = expected;
        report.found = found;
    }

    fn judge_mail(
        &self,
        number: u64,
        local: &[&'static str],
        remote: &[&'static str],
        expect: Expect,
        copies: &[Copy],
        scan: &Scan,
    ) -> Verdict {
        let mut verdict = Verdict::new(Settled::Mail(expect), (local.len() + remote.len()) as u64);
        for copy in copies {
            if !(local.contains(&copy.login) && copy.mailbox == "INBOX") {
                verdict.findings.push(misplaced(copy));
            }
        }
        let inbox: Vec<(&str, usize)> = local
            .iter()
            .map(|login| {
                let n = copies
                    .iter()
                    .filter(|c| c.login == *login && c.mailbox == "INBOX")
                    .count();
                (*login, n)
            })
            .collect();
        let outbound: Vec<(&str, u32, u32)> = remote
            .iter()
            .map(|address| {
                let key = (number, address.to_ascii_lowercase());
                let queued = scan.queued.get(&key).copied().unwrap_or(0);
                let relayed = self.relayed.get(&key).copied().unwrap_or(0);
                (*address, queued, relayed)
            })
            .collect();
        for (login, n) in &inbox {
            if *n > 1 {
                let detail = format!("{n} copies in {login}'s INBOX");
                verdict.push(ViolationKind::Duplicated, format!("dup/{login}"), detail);
            }
        }
        for (address, queued, _) in &outbound {
            if *queued > 1 {
                let detail = format!("queued {queued} times for {address}");
                verdict.push(ViolationKind::Duplicated, format!("dupq/{address}"), detail);
            }
        }
        verdict.found = (inbox.iter().filter(|(_, n)| *n == 1).count()
            + outbound
                .iter()
                .filter(|(_, q, r)| q + r > 0 && *q <= 1)
                .count()) as u64;
        settle_mail(&mut verdict, expect, &inbox, &outbound);
        verdict
    }
}

/// What an SMTP message's copies (per INBOX, and queued and relayed per remote recipient)
/// say against what the store must show: a loss, a part, a phantom, or a settled state.
fn settle_mail(
    verdict: &mut Verdict,
    expect: Expect,
    inbox: &[(&str, usize)],
    outbound: &[(&str, u32, u32)],
) {
    let whole = inbox.iter().all(|(_, n)| *n == 1) && outbound.iter().all(|(_, q, r)| q + r > 0);
    let any = inbox.iter().any(|(_, n)| *n > 0) || outbound.iter().any(|(_, q, r)| q + r > 0);
    let state = || format!("INBOX copies {inbox:?}, outbound (queued, relayed) {outbound:?}");
    match expect {
        Expect::Whole => {
            for (login, n) in inbox {
                if *n == 0 {
                    let detail = format!("not in {login}'s INBOX");
                    verdict.push(ViolationKind::Lost, format!("lost/{login}"), detail);
                }
            }
            for (address, queued, relayed) in outbound {
                if queued + relayed == 0 {
                    let detail = format!("neither queued for nor relayed to {address}");
                    verdict.push(ViolationKind::Lost, format!("lost/{address}"), detail);
                }
            }
        }
        Expect::Unknown if !any => verdict.settled = Settled::Mail(Expect::Absent),
        Expect::Unknown if whole => {
            verdict.settled = Settled::Mail(Expect::Whole);
            verdict.stored_unanswered = true;
        }
        Expect::Unknown => {
            let detail = format!("unanswered and stored in part: {}", state());
            verdict.push(ViolationKind::HalfPresent, "part", detail);
        }
        Expect::Absent if any => {
            let detail = format!("refused or found absent before, now stored: {}", state());
            verdict.push(ViolationKind::Phantom, "phantom", detail);
        }
        Expect::Absent => {}
    }
}

/// What one message's check concluded.
#[derive(Debug)]
struct Verdict {
    /// Copies an acknowledged message must have, and how many are there as they must be.
    expected: u64,
    found: u64,
    /// What the store must show of it from now on.
    settled: Settled,
    /// An unanswered message found stored whole (its commit beat the kill).
    stored_unanswered: bool,
    findings: Vec<Finding>,
}

impl Verdict {
    fn new(settled: Settled, expected: u64) -> Verdict {
        Verdict {
            expected,
            found: 0,
            settled,
            stored_unanswered: false,
            findings: Vec::new(),
        }
    }

    fn push(&mut self, kind: ViolationKind, key: impl Into<String>, detail: String) {
        self.findings.push(Finding::new(kind, key, detail));
    }
}

#[derive(Debug)]
enum Settled {
    Mail(Expect),
    Stored(Place),
}

/// An IMAP message against where it must be.
fn judge_stored(owner: &'static str, place: Place, copies: &[Copy]) -> Verdict {
    let mut verdict = Verdict::new(Settled::Stored(place), 1);
    verdict.findings = copies
        .iter()
        .filter(|c| c.login != owner || c.folder.is_none())
        .map(misplaced)
        .collect();
    let in_folder = |folder: Folder| -> Vec<&Copy> {
        copies
            .iter()
            .filter(|c| c.login == owner && c.folder == Some(folder))
            .collect()
    };
    match place {
        Place::In { folder, uid } => {
            let (here, there) = (in_folder(folder), in_folder(folder.other()));
            judge_in(&mut verdict, owner, folder, uid, &here, &there);
        }
        Place::MaybeIn(folder) => {
            let (here, there) = (in_folder(folder), in_folder(folder.other()));
            match (here.as_slice(), there.len()) {
                ([], 0) => verdict.settled = Settled::Stored(Place::Absent),
                ([one], 0) => {
                    verdict.settled = Settled::Stored(Place::In {
                        folder,
                        uid: Some(one.uid),
                    });
                    verdict.stored_unanswered = true;
                }
                _ => {
                    let detail = format!(
                        "unanswered APPEND to {} stored {} + {} times",
                        folder.name(),
                        here.len(),
                        there.len()
                    );
                    verdict.push(ViolationKind::Duplicated, "dup", detail);
                }
            }
        }
        Place::Between { from, to } => {
            judge_between(&mut verdict, from, to, &in_folder(from), &in_folder(to));
        }
        Place::Absent if !copies.is_empty() => {
            let detail = "refused or found absent before, now stored".to_string();
            verdict.push(ViolationKind::Phantom, "phantom", detail);
        }
        Place::Absent => {}
    }
    verdict
}

/// A message that must be in `folder` only (under `uid`, when answered): `here` are its
/// copies there, `there` in the other folder.
fn judge_in(
    verdict: &mut Verdict,
    owner: &str,
    folder: Folder,
    uid: Option<u32>,
    here: &[&Copy],
    there: &[&Copy],
) {
    match here {
        [] => {
            let detail = format!(
                "not in {owner}'s {} ({} copies in {})",
                folder.name(),
                there.len(),
                folder.other().name()
            );
            verdict.push(ViolationKind::Lost, "lost", detail);
        }
        [one] => {
            if uid.is_some_and(|uid| uid != one.uid) {
                let detail = format!("UID {uid:?} answered, UID {} stored", one.uid);
                verdict.push(ViolationKind::UidChanged, "uid", detail);
            }
            verdict.settled = Settled::Stored(Place::In {
                folder,
                uid: Some(one.uid),
            });
            verdict.found = u64::from(there.is_empty());
        }
        many => {
            let detail = format!("{} copies in {owner}'s {}", many.len(), folder.name());
            verdict.push(ViolationKind::Duplicated, "dup", detail);
        }
    }
    // Only in the other folder is a loss (reported above), not a duplicate.
    if !here.is_empty() && !there.is_empty() {
        let detail = format!(
            "also in {owner}'s {}, which it must have left",
            folder.other().name()
        );
        verdict.push(ViolationKind::Duplicated, "both", detail);
    }
}

/// A message under an unanswered MOVE: exactly one copy, in `from` or in `to`.
fn judge_between(
    verdict: &mut Verdict,
    from: Folder,
    to: Folder,
    source: &[&Copy],
    target: &[&Copy],
) {
    let landed = |folder, copy: &Copy| {
        Settled::Stored(Place::In {
            folder,
            uid: Some(copy.uid),
        })
    };
    match (source, target) {
        ([one], []) => verdict.settled = landed(from, one),
        ([], [one]) => verdict.settled = landed(to, one),
        ([], []) => {
            let detail = format!(
                "in neither {} nor {} after an unanswered MOVE",
                from.name(),
                to.name()
            );
            verdict.push(ViolationKind::Lost, "lost", detail);
        }
        _ => {
            let detail = format!(
                "unanswered MOVE left {} copies in {} and {} in {}",
                source.len(),
                from.name(),
                target.len(),
                to.name()
            );
            verdict.push(ViolationKind::Duplicated, "both", detail);
        }
    }
}

fn misplaced(copy: &Copy) -> Finding {
    Finding::new(
        ViolationKind::Misplaced,
        format!("misplaced/{}/{}/{}", copy.login, copy.mailbox, copy.uid),
        format!(
            "a copy in {}'s {} (UID {}), where it was never sent",
            copy.login, copy.mailbox, copy.uid
        ),
    )
}

/// `, last moved …` for a message that was moved.
fn last_move(letter: &Letter, moves: &[MoveRecord]) -> String {
    letter
        .last_move
        .and_then(|index| moves.get(index))
        .map(|m| {
            format!(
                ", last MOVE {} -> {} in round {} ({:?})",
                m.from.name(),
                m.to.name(),
                m.round,
                m.outcome
            )
        })
        .unwrap_or_default()
}

/// The message `bytes` hold whole (after the server's trace fields), if a client sent it;
/// otherwise a half-present finding about `place`.
fn identify(
    ledger: &Ledger,
    bytes: Option<&[u8]>,
    place: &str,
    findings: &mut Vec<Finding>,
) -> Option<u64> {
    let Some(bytes) = bytes else {
        findings.push(Finding::new(
            ViolationKind::HalfPresent,
            format!("nobody/{place}"),
            format!("{place}: its body is missing"),
        ));
        return None;
    };
    let sent = after_trace(bytes);
    if let Some(number) = ledger.by_hash(&BodyHash::of(sent).0) {
        return Some(number);
    }
    findings.push(Finding::new(
        ViolationKind::HalfPresent,
        format!("unknown/{place}"),
        format!(
            "{place}: {} bytes that no client sent whole ({}), beginning {:?}",
            bytes.len(),
            message_id(sent).unwrap_or("no Message-ID"),
            String::from_utf8_lossy(&sent[..sent.len().min(160)])
        ),
    ));
    None
}

/// The `Message-ID` of a message, which names its number.
fn message_id(message: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(message).ok()?;
    let start = text.find("Message-ID: ")? + "Message-ID: ".len();
    let end = start + text[start..].find("\r\n")?;
    Some(&text[start..end])
}

/// What a stored copy holds after the `Return-Path:`, `Received:` and `DKIM-Signature:`
/// fields (with their continuation lines) the server puts above the message it was given.
pub fn after_trace(stored: &[u8]) -> &[u8] {
    let mut at = 0;
    let mut in_trace = false;
    loop {
        let rest = &stored[at..];
        let field = rest.starts_with(b"Return-Path: ")
            || rest.starts_with(b"Received: ")
            || rest.starts_with(b"DKIM-Signature: ");
        let continued = in_trace && (rest.starts_with(b" ") || rest.starts_with(b"\t"));
        if !(field || continued) {
            return rest;
        }
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return rest;
        };
        at += end + 2;
        in_trace = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(login: &'static str, folder: Folder, uid: u32) -> Copy {
        Copy {
            login,
            mailbox: folder.name().to_string(),
            folder: Some(folder),
            uid,
        }
    }

    fn kinds(verdict: &Verdict) -> Vec<ViolationKind> {
        verdict.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn trace_fields_and_their_continuations_are_skipped() {
        let stored = b"Return-Path: <a@b>\r\nReceived: from x ([127.0.0.1])\r\n\tby y (congvu) with ESMTP id 1; now\r\nDKIM-Signature: v=1;\r\n b=abc\r\nFrom: <a@b>\r\n\r\nbody\r\n";
        assert_eq!(after_trace(stored), b"From: <a@b>\r\n\r\nbody\r\n");
        let plain = b"From: <a@b>\r\n\r\n Received: no\r\n";
        assert_eq!(after_trace(plain), plain);
    }

    #[test]
    fn a_stored_fragment_is_half_present_and_a_whole_copy_is_recognised() {
        let mut ledger = Ledger::default();
        let content = super::super::ledger::compose(1, 0, "a@b", "c@d", 2_000);
        let number = ledger.add_append(1, "annv", Folder::Inbox, &content);
        let mut findings = Vec::new();
        let mut stored = b"Return-Path: <a@b>\r\n".to_vec();
        stored.extend_from_slice(&content);
        assert_eq!(
            identify(&ledger, Some(&stored), "here", &mut findings),
            Some(number)
        );
        assert!(findings.is_empty());
        let torn = &content[..content.len() - 10];
        assert_eq!(identify(&ledger, Some(torn), "here", &mut findings), None);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].kind, ViolationKind::HalfPresent);
    }

    #[test]
    fn an_acknowledged_move_must_have_left_its_source() {
        let place = Place::In {
            folder: Folder::Archive,
            uid: Some(7),
        };
        let moved = [copy("annv", Folder::Archive, 7)];
        assert!(judge_stored("annv", place, &moved).findings.is_empty());
        let both = [
            copy("annv", Folder::Archive, 7),
            copy("annv", Folder::Inbox, 3),
        ];
        assert_eq!(
            kinds(&judge_stored("annv", place, &both)),
            [ViolationKind::Duplicated]
        );
        let back = [copy("annv", Folder::Inbox, 3)];
        assert_eq!(
            kinds(&judge_stored("annv", place, &back)),
            [ViolationKind::Lost]
        );
        let renumbered = [copy("annv", Folder::Archive, 8)];
        assert_eq!(
            kinds(&judge_stored("annv", place, &renumbered)),
            [ViolationKind::UidChanged]
        );
    }

    #[test]
    fn an_unanswered_move_is_in_exactly_one_of_the_two() {
        let place = Place::Between {
            from: Folder::Inbox,
            to: Folder::Archive,
        };
        let verdict = judge_stored("annv", place, &[copy("annv", Folder::Archive, 9)]);
        assert!(verdict.findings.is_empty());
        assert!(matches!(
            verdict.settled,
            Settled::Stored(Place::In {
                folder: Folder::Archive,
                uid: Some(9)
            })
        ));
        assert_eq!(
            kinds(&judge_stored("annv", place, &[])),
            [ViolationKind::Lost]
        );
        let both = [
            copy("annv", Folder::Archive, 9),
            copy("annv", Folder::Inbox, 2),
        ];
        assert_eq!(
            kinds(&judge_stored("annv", place, &both)),
            [ViolationKind::Duplicated]
        );
        let elsewhere = [copy("vanlt", Folder::Inbox, 2)];
        assert!(kinds(&judge_stored("annv", place, &elsewhere)).contains(&ViolationKind::Misplaced));
    }

    #[test]
    fn mail_is_whole_absent_or_a_violation() {
        let checker = Checker::new(Vec::new());
        let local = ["annv", "vanlt"];
        let remote = ["vanthu@sotttt.haiphong.gov.vn"];
        let mut scan = Scan::default();
        let judge = |expect, copies: &[Copy], scan: &Scan| {
            checker.judge_mail(5, &local, &remote, expect, copies, scan)
        };
        let one_inbox = [copy("annv", Folder::Inbox, 1)];
        // Acknowledged: one copy missing, the remote recipient neither queued nor relayed.
        let lost = judge(Expect::Whole, &one_inbox, &scan);
        assert_eq!(kinds(&lost), [ViolationKind::Lost, ViolationKind::Lost]);
        // Unanswered: nothing stored is fine, and settles as absent.
        let absent = judge(Expect::Unknown, &[], &scan);
        assert!(absent.findings.is_empty());
        assert!(matches!(absent.settled, Settled::Mail(Expect::Absent)));
        // Unanswered and stored for one recipient only: half-present.
        assert_eq!(
            kinds(&judge(Expect::Unknown, &one_inbox, &scan)),
            [ViolationKind::HalfPresent]
        );
        // Whole once queued and in both INBOXes; twice in one INBOX is a duplicate.
        scan.queued.insert((5, remote[0].to_string()), 1);
        let whole = [
            copy("annv", Folder::Inbox, 1),
            copy("vanlt", Folder::Inbox, 4),
        ];
        let verdict = judge(Expect::Unknown, &whole, &scan);
        assert!(verdict.findings.is_empty() && verdict.stored_unanswered);
        assert_eq!((verdict.expected, verdict.found), (3, 3));
        let twice = [
            whole[0].clone(),
            whole[1].clone(),
            copy("vanlt", Folder::Inbox, 5),
        ];
        assert_eq!(
            kinds(&judge(Expect::Whole, &twice, &scan)),
            [ViolationKind::Duplicated]
        );
        // Found absent before, stored now: a phantom.
        assert_eq!(
            kinds(&judge(Expect::Absent, &whole, &scan)),
            [ViolationKind::Phantom]
        );
    }
}
