//! SEARCH (RFC 3501 §6.4.4): which messages of the selected mailbox satisfy a list of
//! search keys, and sequence-set resolution shared with FETCH, STORE and COPY. Owns the
//! meaning of every key; parsing, CHARSET and the reply belong to the session, and message
//! bytes are only read through the mail store, never written.

use std::collections::HashSet;
use std::ops::Range;

use imap_codec::imap_types::datetime::NaiveDate;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use tokio::task::JoinSet;

use crate::clock::UnixTime;
use crate::mailstore::text::{MessageText, TextMatcher};
use crate::mailstore::{BodyId, MailboxMessage, Mailstore, MailstoreError, MessageFlags, Uid};

/// The selected mailbox as a search sees it.
#[derive(Debug)]
pub(crate) struct SearchScope<'a> {
    /// The messages, sequence number = index + 1, ascending UIDs.
    pub messages: &'a [MailboxMessage],
    /// UIDs this session holds as `\Recent`.
    pub recent: &'a HashSet<Uid>,
}

/// The deepest nesting of NOT, OR and parenthesised lists a search may use. imap-codec's
/// parser refuses a ninth level before a command reaches us; this bound holds for keys
/// built any other way.
pub(crate) const MAX_SEARCH_DEPTH: usize = 8;

/// Why a search gave no result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SearchError {
    #[error("search keys are nested more than {MAX_SEARCH_DEPTH} deep")]
    TooDeep,
    #[error(transparent)]
    Mailstore(#[from] MailstoreError),
}

/// Messages whose search texts are read and matched in one go, one statement's worth (see
/// `Conn::body_texts`): a search holds two such batches at most (one matched, the next
/// being read), whatever the mailbox's size.
const TEXTS_PER_READ: usize = 128;

/// Messages matched between two chances for other tasks to run: under a millisecond's work
/// (a BODY search matches a message in about 22 µs).
const YIELD_EVERY: usize = 16;

/// Indexes (0-based) of matching messages, ascending. criteria are ANDed.
///
/// Flags, sizes, dates and sets are decided from the message list; a message's text (its
/// decoded header fields and body text, kept when it was stored) is read only when a header
/// or text key still decides whether it matches, for many messages at a time.
pub(crate) async fn search(
    mailstore: &Mailstore,
    scope: &SearchScope<'_>,
    criteria: &[SearchKey<'_>],
) -> Result<Vec<usize>, SearchError> {
    if depth(criteria) > MAX_SEARCH_DEPTH {
        return Err(SearchError::TooDeep);
    }
    let query = Criterion::And(
        criteria
            .iter()
            .map(|key| Criterion::compile(key, scope.messages))
            .collect(),
    );
    let candidate = |index: usize| {
        let message = &scope.messages[index];
        Candidate {
            index,
            message,
            recent: scope.recent.contains(&message.uid),
        }
    };
    let mut found = Vec::new();
    let mut undecided = Vec::new();
    for index in 0..scope.messages.len() {
        match query.decide(&candidate(index), None) {
            Some(true) => found.push(index),
            Some(false) => {}
            None => undecided.push(index),
        }
    }
    // Each batch's texts are read on a task of their own while the batch before is
    // matched: on PostgreSQL the database's work per batch takes as long as the matching,
    // and the two then overlap. Dropping the set (the search abandoned) stops the read.
    let batches: Vec<&[usize]> = undecided.chunks(TEXTS_PER_READ).collect();
    let mut reading = JoinSet::new();
    let read = |reading: &mut JoinSet<_>, batch: &[usize]| {
        let bodies: Vec<BodyId> = batch.iter().map(|&i| scope.messages[i].body_id).collect();
        let mailstore = mailstore.clone();
        reading.spawn(async move { mailstore.texts(&bodies).await });
    };
    if let Some(first) = batches.first() {
        read(&mut reading, first);
    }
    for (n, chunk) in batches.iter().enumerate() {
        // A read cancelled (the runtime shutting down) ends the search as stopped.
        let texts = (reading.join_next().await)
            .and_then(crate::task::finished)
            .unwrap_or(Err(MailstoreError::Stopped))?;
        if let Some(next) = batches.get(n + 1) {
            read(&mut reading, next);
        }
        let gone = MessageText::default();
        for (k, &index) in chunk.iter().enumerate() {
            let text = texts.get(&scope.messages[index].body_id).unwrap_or(&gone);
            if query.decide(&candidate(index), Some(text)) == Some(true) {
                found.push(index);
            }
            // Matching is CPU work: let the read of the next batch (and other sessions) go
            // on meanwhile, even on a runtime with one worker thread.
            if k % YIELD_EVERY == YIELD_EVERY - 1 {
                tokio::task::yield_now().await;
            }
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Nesting depth of NOT, OR and parenthesised lists: `SEEN` is 0, `NOT SEEN` 1,
/// `OR (A B) C` 2. Walks without recursion, so any input is measured safely.
pub(crate) fn depth(criteria: &[SearchKey<'_>]) -> usize {
    let mut deepest = 0;
    let mut pending: Vec<(&SearchKey<'_>, usize)> = criteria.iter().map(|k| (k, 0)).collect();
    while let Some((key, level)) = pending.pop() {
        deepest = deepest.max(level);
        match key {
            SearchKey::Not(inner) => pending.push((inner, level + 1)),
            SearchKey::Or(left, right) => {
                pending.push((left, level + 1));
                pending.push((right, level + 1));
            }
            SearchKey::And(keys) => pending.extend(keys.as_ref().iter().map(|k| (k, level + 1))),
            _ => {}
        }
    }
    deepest
}

/// Resolves a sequence set to indexes, ascending and without repeats.
///
/// `uid` picks UID or sequence-number semantics. `*` is the last message (its UID, or the
/// message count). Numbers that name no message are ignored, so `559:*` still includes the
/// last message when 559 is above every UID (RFC 3501 §6.4.8). Callers that must refuse an
/// out-of-range sequence number check it themselves.
pub(crate) fn resolve(set: &SequenceSet, messages: &[MailboxMessage], uid: bool) -> Vec<usize> {
    let mut spans: Vec<Range<usize>> = set
        .0
        .as_ref()
        .iter()
        .filter_map(|sequence| span(sequence, messages, uid))
        .collect();
    spans.sort_by_key(|s| s.start);
    let mut indexes = Vec::new();
    let mut next = 0;
    for span in spans {
        indexes.extend(span.start.max(next)..span.end);
        next = next.max(span.end);
    }
    indexes
}

/// The indexes one sequence or range covers, if any.
fn span(sequence: &Sequence, messages: &[MailboxMessage], uid: bool) -> Option<Range<usize>> {
    let last = messages.last()?;
    let star = if uid {
        last.uid.0
    } else {
        u32::try_from(messages.len()).unwrap_or(u32::MAX)
    };
    let number = |n: &SeqOrUid| match n {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => star,
    };
    let (a, b) = match sequence {
        Sequence::Single(n) => (number(n), number(n)),
        Sequence::Range(from, to) => (number(from), number(to)),
    };
    // RFC 3501 §9: a range may be written high:low.
    let (low, high) = (a.min(b), a.max(b));
    let span = if uid {
        // UIDs ascend with the index, so each bound is a binary search.
        messages.partition_point(|m| m.uid.0 < low)..messages.partition_point(|m| m.uid.0 <= high)
    } else {
        let count = messages.len();
        (low as usize - 1).min(count)..(high as usize).min(count)
    };
    (!span.is_empty()).then_some(span)
}

/// Vietnam is UTC+07:00 all year: an internal date's day is the day officials saw there.
const VIETNAM_UTC_OFFSET_SECONDS: i64 = 7 * 3600;
const SECONDS_PER_DAY: i64 = 86_400;
/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Which side of a day a date key asks for.
#[derive(Debug, Clone, Copy)]
enum DayTest {
    Before(i64),
    On(i64),
    Since(i64),
}

impl DayTest {
    fn holds(self, day: i64) -> bool {
        match self {
            DayTest::Before(d) => day < d,
            DayTest::On(d) => day == d,
            DayTest::Since(d) => day >= d,
        }
    }
}

/// A search key made ready to test against messages: sets resolved to membership, search
/// strings prepared once, dates as day numbers since 1970-01-01.
#[derive(Debug)]
enum Criterion {
    All,
    /// Membership by index, from a sequence set or a UID set.
    Messages(Vec<bool>),
    /// A system flag, set (`true`) or clear.
    Flag(MessageFlags, bool),
    /// A keyword, set (`true`) or clear.
    Keyword(String, bool),
    Recent,
    InternalDay(DayTest),
    /// The `Date:` header's day; a message without a readable one is dated by its internal
    /// date, so it is not lost to every sent-date search.
    SentDay(DayTest),
    Larger(u64),
    Smaller(u64),
    /// Changed at or after this mod-sequence (RFC 7162 `MODSEQ`).
    ModSeq(u64),
    /// A header field (lowercase name) containing the text; an empty text asks only that
    /// the field be there.
    Header(String, TextMatcher),
    Body(TextMatcher),
    Text(TextMatcher),
    Not(Box<Criterion>),
    Or(Box<Criterion>, Box<Criterion>),
    And(Vec<Criterion>),
}

impl Criterion {
    /// Prepares `key`, whose nesting the caller has bounded.
    fn compile(key: &SearchKey<'_>, messages: &[MailboxMessage]) -> Criterion {
        let header = |name: &str, text: &[u8]| Criterion::Header(name.into(), matcher(text));
        match key {
            SearchKey::And(keys) => Criterion::And(
                keys.as_ref()
                    .iter()
                    .map(|k| Criterion::compile(k, messages))
                    .collect(),
            ),
            SearchKey::SequenceSet(set) => Criterion::members(set, messages, false),
            SearchKey::Uid(set) => Criterion::members(set, messages, true),
            SearchKey::All => Criterion::All,
            SearchKey::Answered => Criterion::Flag(MessageFlags::ANSWERED, true),
            SearchKey::Deleted => Criterion::Flag(MessageFlags::DELETED, true),
            SearchKey::Draft => Criterion::Flag(MessageFlags::DRAFT, true),
            SearchKey::Flagged => Criterion::Flag(MessageFlags::FLAGGED, true),
            SearchKey::Seen => Criterion::Flag(MessageFlags::SEEN, true),
            SearchKey::Unanswered => Criterion::Flag(MessageFlags::ANSWERED, false),
            SearchKey::Undeleted => Criterion::Flag(MessageFlags::DELETED, false),
            SearchKey::Undraft => Criterion::Flag(MessageFlags::DRAFT, false),
            SearchKey::Unflagged => Criterion::Flag(MessageFlags::FLAGGED, false),
            SearchKey::Unseen => Criterion::Flag(MessageFlags::SEEN, false),
            SearchKey::Keyword(atom) => Criterion::Keyword(atom.as_ref().to_string(), true),
            SearchKey::Unkeyword(atom) => Criterion::Keyword(atom.as_ref().to_string(), false),
            SearchKey::Recent => Criterion::Recent,
            // RFC 3501: NEW is (RECENT UNSEEN), OLD is NOT RECENT.
            SearchKey::New => Criterion::And(vec![
                Criterion::Recent,
                Criterion::Flag(MessageFlags::SEEN, false),
            ]),
            SearchKey::Old => Criterion::Not(Box::new(Criterion::Recent)),
            SearchKey::Before(date) => Criterion::InternalDay(DayTest::Before(day_of(date))),
            SearchKey::On(date) => Criterion::InternalDay(DayTest::On(day_of(date))),
            SearchKey::Since(date) => Criterion::InternalDay(DayTest::Since(day_of(date))),
            SearchKey::SentBefore(date) => Criterion::SentDay(DayTest::Before(day_of(date))),
            SearchKey::SentOn(date) => Criterion::SentDay(DayTest::On(day_of(date))),
            SearchKey::SentSince(date) => Criterion::SentDay(DayTest::Since(day_of(date))),
            SearchKey::Larger(n) => Criterion::Larger(u64::from(*n)),
            SearchKey::Smaller(n) => Criterion::Smaller(u64::from(*n)),
            SearchKey::ModSequence { modseq, .. } => Criterion::ModSeq(*modseq),
            SearchKey::From(text) => header("from", text.as_ref()),
            SearchKey::To(text) => header("to", text.as_ref()),
            SearchKey::Cc(text) => header("cc", text.as_ref()),
            SearchKey::Bcc(text) => header("bcc", text.as_ref()),
            SearchKey::Subject(text) => header("subject", text.as_ref()),
            SearchKey::Header(name, text) => header(
                &String::from_utf8_lossy(name.as_ref()).to_ascii_lowercase(),
                text.as_ref(),
            ),
            SearchKey::Body(text) => Criterion::Body(matcher(text.as_ref())),
            SearchKey::Text(text) => Criterion::Text(matcher(text.as_ref())),
            SearchKey::Not(inner) => Criterion::Not(Box::new(Criterion::compile(inner, messages))),
            SearchKey::Or(left, right) => Criterion::Or(
                Box::new(Criterion::compile(left, messages)),
                Box::new(Criterion::compile(right, messages)),
            ),
        }
    }

    /// Membership of every message in `set`.
    fn members(set: &SequenceSet, messages: &[MailboxMessage], uid: bool) -> Criterion {
        let mut members = vec![false; messages.len()];
        for index in resolve(set, messages, uid) {
            members[index] = true;
        }
        Criterion::Messages(members)
    }

    /// Whether `candidate` matches: `None` when that depends on the message's content and
    /// `content` is not loaded yet. Once content is given, always `Some`.
    fn decide(&self, candidate: &Candidate<'_>, content: Option<&MessageText>) -> Option<bool> {
        let message = candidate.message;
        match self {
            Criterion::All => Some(true),
            Criterion::Messages(members) => Some(members[candidate.index]),
            Criterion::Flag(flag, set) => Some(message.flags.contains(*flag) == *set),
            Criterion::Keyword(keyword, set) => Some(
                message
                    .keywords
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(keyword))
                    == *set,
            ),
            Criterion::Recent => Some(candidate.recent),
            Criterion::InternalDay(test) => Some(test.holds(vietnam_day(message.internal_date))),
            Criterion::Larger(n) => Some(message.size > *n),
            Criterion::Smaller(n) => Some(message.size < *n),
            Criterion::ModSeq(n) => Some(message.modseq >= *n),
            Criterion::SentDay(test) => content.map(|c| {
                test.holds(sent_day(c).unwrap_or_else(|| vietnam_day(message.internal_date)))
            }),
            Criterion::Header(name, text) => content.map(|c| {
                c.headers
                    .iter()
                    .any(|(n, v)| n == name && text.matches_nfc(v))
            }),
            Criterion::Body(text) => content.map(|c| text.matches_nfc(&c.body)),
            Criterion::Text(text) => content.map(|c| {
                c.headers
                    .iter()
                    .any(|(n, v)| text.matches_nfc(n) || text.matches_nfc(v))
                    || text.matches_nfc(&c.body)
            }),
            Criterion::Not(inner) => inner.decide(candidate, content).map(|m| !m),
            Criterion::Or(left, right) => {
                match (
                    left.decide(candidate, content),
                    right.decide(candidate, content),
                ) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                }
            }
            Criterion::And(all) => {
                let mut undecided = false;
                for criterion in all {
                    match criterion.decide(candidate, content) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => undecided = true,
                    }
                }
                (!undecided).then_some(true)
            }
        }
    }
}

/// A search string as sent; a client that declared a CHARSET other than UTF-8 was already
/// refused, so stray bytes are only replaced.
fn matcher(text: &[u8]) -> TextMatcher {
    TextMatcher::new(&String::from_utf8_lossy(text))
}

/// A SEARCH date as days since 1970-01-01.
fn day_of(date: &NaiveDate) -> i64 {
    i64::from(date.as_ref().to_epoch_days())
}

/// The day, in Vietnam, of an instant, as days since 1970-01-01.
fn vietnam_day(at: UnixTime) -> i64 {
    at.0.saturating_add(VIETNAM_UTC_OFFSET_SECONDS)
        .div_euclid(SECONDS_PER_DAY)
}

/// The message a key is tested against.
struct Candidate<'a> {
    index: usize,
    message: &'a MailboxMessage,
    recent: bool,
}

/// The day of the `Date:` header as written, in the sender's own zone (RFC 3501:
/// "disregarding time and timezone"); `None` without a readable one.
fn sent_day(text: &MessageText) -> Option<i64> {
    let (_, value) = text.headers.iter().find(|(name, _)| name == "date")?;
    let sent = mail_parser::DateTime::parse_rfc822(value)?;
    let month = time::Month::try_from(sent.month).ok()?;
    let date = time::Date::from_calendar_date(i32::from(sent.year), month, sent.day).ok()?;
    Some(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

#[cfg(test)]
mod tests;
