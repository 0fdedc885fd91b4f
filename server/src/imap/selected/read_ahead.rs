//! Reading message bodies ahead of a client that goes through a mailbox in order, one
//! message per command, as `mbsync` and other synchronising clients do. Each such command
//! would wait for a statement of its own, and on PostgreSQL that is a round trip to another
//! process per message, answered in turn however deeply the client pipelines. Once a client
//! asks for the message after the one it asked for last, the bodies of the next few messages
//! are read in the same statement and kept for the commands that follow, within a bound in
//! messages and in bytes. A client that jumps about reads one body at a time, as before.
//!
//! Bodies are stored by content and never change, so a body kept here is the body the store
//! holds; one whose message is expunged meanwhile is still the message the client's view
//! holds at that sequence number.

use crate::mailstore::{BodyId, MailboxMessage, Uid};

/// Bodies read in one statement at most.
const AHEAD_MESSAGES: usize = 32;

/// Bytes of bodies read with the one asked for at most, by the messages' stored sizes: what a
/// session holds between its commands.
const AHEAD_BYTES: u64 = 256 * 1024;

/// A session's bodies read ahead, for its selected mailbox.
#[derive(Debug, Default)]
pub(in crate::imap) struct ReadAhead {
    /// The message whose body was asked for last.
    last: Option<Uid>,
    /// Bodies read ahead and not yet asked for, in the order the messages come.
    kept: Vec<(BodyId, Vec<u8>)>,
}

/// Where the body of the message asked for comes from.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::imap) enum Plan {
    /// It was read ahead.
    Kept(Vec<u8>),
    /// Read these, the one asked for first.
    Read(Vec<BodyId>),
}

impl ReadAhead {
    /// Where the body of `messages[index]` comes from: kept, or read now alone or with the
    /// bodies of the messages after it when the client asked for the one before it last.
    pub(in crate::imap) fn plan(&mut self, messages: &[MailboxMessage], index: usize) -> Plan {
        let message = &messages[index];
        let in_order = index > 0 && self.last == Some(messages[index - 1].uid);
        self.last = Some(message.uid);
        if let Some(at) = self.kept.iter().position(|(id, _)| *id == message.body_id) {
            // The ones before it were passed over by the client.
            if let Some((_, body)) = self.kept.drain(..=at).next_back() {
                return Plan::Kept(body);
            }
        }
        self.kept.clear();
        let mut wanted = vec![message.body_id];
        if in_order {
            let mut bytes = 0;
            for next in &messages[index + 1..] {
                bytes += next.size;
                if wanted.len() == AHEAD_MESSAGES || bytes > AHEAD_BYTES {
                    break;
                }
                // A body two messages share is read once and kept for the first.
                if !wanted.contains(&next.body_id) {
                    wanted.push(next.body_id);
                }
            }
        }
        Plan::Read(wanted)
    }

    /// Keeps what was read for `wanted` (a [`Plan::Read`]) beyond its first body, in its
    /// order, and returns the first: `None` when it is gone from the store.
    pub(in crate::imap) fn keep(
        &mut self,
        wanted: &[BodyId],
        mut read: Vec<(BodyId, Vec<u8>)>,
    ) -> Option<Vec<u8>> {
        let mut take = |id: BodyId| {
            let at = read.iter().position(|(read_id, _)| *read_id == id)?;
            Some(read.swap_remove(at))
        };
        let (first, rest) = wanted.split_first()?;
        let body = take(*first).map(|(_, body)| body);
        self.kept = rest.iter().filter_map(|&id| take(id)).collect();
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::UnixTime;
    use crate::mailstore::{MailboxId, MessageFlags};

    fn message(uid: u32, body: i64, size: u64) -> MailboxMessage {
        MailboxMessage {
            mailbox_id: MailboxId(1),
            uid: Uid(uid),
            body_id: BodyId(body),
            flags: MessageFlags::default(),
            keywords: Vec::new(),
            internal_date: UnixTime(0),
            size,
            modseq: 1,
        }
    }

    fn read(bodies: &[BodyId]) -> Vec<(BodyId, Vec<u8>)> {
        // As the store gives them: in no particular order.
        bodies
            .iter()
            .rev()
            .map(|&b| (b, b.0.to_string().into_bytes()))
            .collect()
    }

    fn ids(ids: &[i64]) -> Vec<BodyId> {
        ids.iter().map(|&i| BodyId(i)).collect()
    }

    #[test]
    fn a_client_going_in_order_gets_the_next_bodies_read_with_one() {
        let messages: Vec<_> = (1..=40)
            .map(|n| message(n, 100 + i64::from(n), 1000))
            .collect();
        let mut ahead = ReadAhead::default();
        // The first message asked for is read alone: nothing says the client goes in order.
        assert_eq!(ahead.plan(&messages, 0), Plan::Read(ids(&[101])));
        let wanted = ids(&[101]);
        assert_eq!(ahead.keep(&wanted, read(&wanted)), Some(b"101".to_vec()));
        // The one after it brings the next 31 along.
        let Plan::Read(wanted) = ahead.plan(&messages, 1) else {
            panic!("the second message in order is read")
        };
        assert_eq!(wanted, (102..=133).map(BodyId).collect::<Vec<_>>());
        assert_eq!(ahead.keep(&wanted, read(&wanted)), Some(b"102".to_vec()));
        for index in 2..31 {
            let body = format!("{}", 101 + index).into_bytes();
            assert_eq!(ahead.plan(&messages, index), Plan::Kept(body));
        }
        // Passing one over drops it; the next is still kept.
        assert_eq!(ahead.plan(&messages, 32), Plan::Kept(b"133".to_vec()));
        assert!(ahead.kept.is_empty());
        // Past what was kept, in order, the next batch is read.
        let rest: Vec<BodyId> = (134..=140).map(BodyId).collect();
        assert_eq!(ahead.plan(&messages, 33), Plan::Read(rest));
    }

    #[test]
    fn what_is_read_ahead_is_bounded_in_bytes_and_a_jump_reads_one() {
        let sizes = [10_000, 10_000, 100_000, 100_000, 70_000, 1_000];
        let messages: Vec<_> = sizes
            .iter()
            .zip(1..)
            .map(|(&size, n)| message(n, i64::from(n), size))
            .collect();
        let mut ahead = ReadAhead::default();
        let _ = ahead.plan(&messages, 0);
        // 100,000 + 100,000 + 70,000 is over 256 KiB: the fifth message is not read ahead.
        assert_eq!(ahead.plan(&messages, 1), Plan::Read(ids(&[2, 3, 4])));
        ahead.keep(&ids(&[2, 3, 4]), read(&ids(&[2, 3, 4])));
        // A client that jumps back reads the body alone and drops what was kept.
        assert_eq!(ahead.plan(&messages, 0), Plan::Read(ids(&[1])));
        assert!(ahead.kept.is_empty());
        // A message larger than the bound alone is read alone, in order or not.
        let big = vec![message(1, 1, 10), message(2, 2, 10), message(3, 3, 1 << 30)];
        let mut ahead = ReadAhead::default();
        let _ = ahead.plan(&big, 0);
        assert_eq!(ahead.plan(&big, 1), Plan::Read(ids(&[2])));
    }

    #[test]
    fn a_body_gone_from_the_store_is_none_and_a_shared_body_is_read_once() {
        let messages = vec![message(1, 7, 10), message(2, 8, 10), message(3, 8, 10)];
        let mut ahead = ReadAhead::default();
        let _ = ahead.plan(&messages, 0);
        assert_eq!(ahead.plan(&messages, 1), Plan::Read(ids(&[8])));
        // Expunged and released by another session before the read.
        assert_eq!(ahead.keep(&ids(&[8]), Vec::new()), None);
        assert!(ahead.kept.is_empty());
    }
}
