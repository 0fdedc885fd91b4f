//! SQL for the consistency check of the mail store: one query per kind of inconsistency
//! (the first few offending rows and how many there are in all) and the statement that
//! repairs each kind that can be repaired from what the database itself holds. What counts
//! as an inconsistency and in which order repairs run is decided in `mailstore::consistency`.
//!
//! Each finding is one statement, so it sees one moment of the database even while the
//! server writes: a delivery in flight never shows up as a refcount that disagrees.

use super::{on_backend, Conn, Raw, StoreError};
use crate::model::{
    BodyExample, BodyId, Examined, Example, Finding, Inconsistency, MailboxExample, MailboxId,
    MessageExample, QueueEntryExample,
};

/// Every body with the number of mailbox messages and queue entries holding it.
const COUNTED_BODIES: &str = "SELECT b.id, b.sha256, b.size, b.refcount, \
     (SELECT COUNT(*) FROM mailbox_messages m WHERE m.body_id = b.id) \
     + (SELECT COUNT(*) FROM queue_entries q WHERE q.body_id = b.id) AS holders \
     FROM message_bodies b";

/// The holders of the body in `message_bodies`, in an UPDATE or DELETE of that table.
const HOLDERS_OF_ROW: &str =
    "(SELECT COUNT(*) FROM mailbox_messages m WHERE m.body_id = message_bodies.id) \
     + (SELECT COUNT(*) FROM queue_entries q WHERE q.body_id = message_bodies.id)";

/// A mailbox counter and what its messages say it should be.
struct MailboxCounter {
    /// The mailbox's column.
    column: &'static str,
    /// The aggregate over the mailbox's messages (`m`) the column must agree with.
    aggregate: &'static str,
    /// When the column is wrong, in terms of `recorded` and `actual` (NULL when the mailbox
    /// holds no message).
    wrong: &'static str,
    /// The value the repair gives the column, from `actual`.
    repaired: &'static str,
}

/// RFC 3501 §2.3.1.1: the next UID is above every UID the mailbox has given.
const UIDNEXT: MailboxCounter = MailboxCounter {
    column: "uidnext",
    aggregate: "MAX(m.uid)",
    wrong: "recorded <= actual",
    repaired: "actual + 1",
};

/// RFC 7162 §3.1.2: HIGHESTMODSEQ is at least every message's mod-sequence.
const HIGHESTMODSEQ: MailboxCounter = MailboxCounter {
    column: "highestmodseq",
    aggregate: "MAX(m.modseq)",
    wrong: "recorded < actual",
    repaired: "actual",
};

/// The quota usage is the bytes of the mailbox's messages. SUM over BIGINT is NUMERIC on
/// PostgreSQL; the cast keeps it an integer on both engines.
const USED_BYTES: MailboxCounter = MailboxCounter {
    column: "used_bytes",
    aggregate: "CAST(COALESCE(SUM(m.size), 0) AS BIGINT)",
    wrong: "recorded <> COALESCE(actual, 0)",
    repaired: "COALESCE(actual, 0)",
};

impl MailboxCounter {
    /// The offending mailboxes with the official's login, the recorded and the actual value,
    /// and the total count, first `$1` of them.
    fn find_sql(&self) -> String {
        format!(
            "SELECT id, login, name, recorded, actual, COUNT(*) OVER () FROM (\
             SELECT mb.id, o.login, mb.name, mb.{column} AS recorded, \
             (SELECT {aggregate} FROM mailbox_messages m WHERE m.mailbox_id = mb.id) AS actual \
             FROM mailboxes mb LEFT JOIN officials o ON o.id = mb.official_id) counted \
             WHERE {wrong} ORDER BY id LIMIT $1",
            column = self.column,
            aggregate = self.aggregate,
            wrong = self.wrong,
        )
    }

    /// Sets the counter of every offending mailbox from its messages, returning their ids.
    fn repair_sql(&self) -> String {
        let actual = format!(
            "(SELECT {} FROM mailbox_messages m WHERE m.mailbox_id = mailboxes.id)",
            self.aggregate
        );
        let column = self.column;
        format!(
            "UPDATE mailboxes SET {column} = {repaired} WHERE {wrong} RETURNING id",
            repaired = self.repaired.replace("actual", &actual),
            wrong = self
                .wrong
                .replace("recorded", column)
                .replace("actual", &actual),
        )
    }
}

/// Mailbox messages with their mailbox, its official's login and their body's size (NULL
/// when the body is gone).
const LOCATED_MESSAGES: &str =
    "SELECT mm.mailbox_id, o.login, mb.name, mm.uid, mm.body_id, mm.size, b.size AS body_size, \
     COUNT(*) OVER () FROM mailbox_messages mm \
     LEFT JOIN message_bodies b ON b.id = mm.body_id \
     LEFT JOIN mailboxes mb ON mb.id = mm.mailbox_id \
     LEFT JOIN officials o ON o.id = mb.official_id";

type BodyRow = (i64, Vec<u8>, i64, i64, i64, i64);
type MailboxRow = (i64, Option<String>, Option<String>, i64, Option<i64>, i64);
type MessageRow = (
    i64,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
    Option<i64>,
    i64,
);
type QueueRow = (i64, i64, String, i64);

impl Conn {
    /// How many bodies, mailboxes, messages and queue entries there are to check.
    pub async fn consistency_examined(&mut self) -> Result<Examined, StoreError> {
        let sql =
            "SELECT (SELECT COUNT(*) FROM message_bodies), (SELECT COUNT(*) FROM mailboxes), \
             (SELECT COUNT(*) FROM mailbox_messages), (SELECT COUNT(*) FROM queue_entries)";
        let (bodies, mailboxes, messages, queue_entries): (i64, i64, i64, i64) =
            on_backend!(self, c => sqlx::query_as(sql).fetch_one(&mut *c).await)?;
        Ok(Examined {
            bodies: count(bodies),
            mailboxes: count(mailboxes),
            messages: count(messages),
            queue_entries: count(queue_entries),
        })
    }

    /// The inconsistencies of `kind`: how many, and the first `examples` of them (by id).
    /// The count comes with the rows, so at least one row is read whatever `examples` says.
    pub async fn find_inconsistency(
        &mut self,
        kind: Inconsistency,
        examples: u32,
    ) -> Result<Finding, StoreError> {
        let limit = i64::from(examples.max(1));
        let (total, found) = match kind {
            Inconsistency::BodyRefcount => {
                self.body_rows("holders > 0 AND refcount <> holders", limit)
                    .await?
            }
            Inconsistency::OrphanBody => self.body_rows("holders = 0", limit).await?,
            Inconsistency::UidNext => self.mailbox_rows(&UIDNEXT, limit).await?,
            Inconsistency::HighestModseq => self.mailbox_rows(&HIGHESTMODSEQ, limit).await?,
            Inconsistency::UsedBytes => self.mailbox_rows(&USED_BYTES, limit).await?,
            Inconsistency::MessageWithoutBody => self.message_rows("b.id IS NULL", limit).await?,
            Inconsistency::QueueEntryWithoutBody => self.queue_rows(limit).await?,
            Inconsistency::MessageSize => self.message_rows("b.size <> mm.size", limit).await?,
        };
        Ok(Finding {
            kind,
            total,
            examples: found.into_iter().take(examples as usize).collect(),
        })
    }

    async fn body_rows(
        &mut self,
        condition: &str,
        limit: i64,
    ) -> Result<(u64, Vec<Example>), StoreError> {
        let sql = format!(
            "SELECT id, sha256, size, refcount, holders, COUNT(*) OVER () \
             FROM ({COUNTED_BODIES}) counted WHERE {condition} ORDER BY id LIMIT $1"
        );
        let rows: Vec<BodyRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(limit).fetch_all(&mut *c).await)?;
        let total = rows.first().map_or(0, |r| count(r.5));
        let examples = rows
            .into_iter()
            .map(|(id, sha256, size, refcount, holders, _)| {
                Example::Body(BodyExample {
                    body: BodyId(id),
                    sha256: hex::encode(sha256),
                    size,
                    refcount,
                    holders,
                })
            })
            .collect();
        Ok((total, examples))
    }

    async fn mailbox_rows(
        &mut self,
        counter: &MailboxCounter,
        limit: i64,
    ) -> Result<(u64, Vec<Example>), StoreError> {
        let sql = counter.find_sql();
        let rows: Vec<MailboxRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(limit).fetch_all(&mut *c).await)?;
        let total = rows.first().map_or(0, |r| count(r.5));
        let examples = rows
            .into_iter()
            .map(|(id, login, folder, recorded, actual, _)| {
                Example::Mailbox(MailboxExample {
                    mailbox: MailboxId(id),
                    login: login.unwrap_or_default(),
                    folder: folder.unwrap_or_default(),
                    recorded,
                    actual: actual.unwrap_or(0),
                })
            })
            .collect();
        Ok((total, examples))
    }

    async fn message_rows(
        &mut self,
        condition: &str,
        limit: i64,
    ) -> Result<(u64, Vec<Example>), StoreError> {
        let sql = format!("{LOCATED_MESSAGES} WHERE {condition} ORDER BY mm.id LIMIT $1");
        let rows: Vec<MessageRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(limit).fetch_all(&mut *c).await)?;
        let total = rows.first().map_or(0, |r| count(r.7));
        let examples = rows
            .into_iter()
            .map(|(mailbox, login, folder, uid, body, size, body_size, _)| {
                Example::Message(MessageExample {
                    mailbox: MailboxId(mailbox),
                    login: login.unwrap_or_default(),
                    folder: folder.unwrap_or_default(),
                    uid,
                    body: BodyId(body),
                    size,
                    body_size,
                })
            })
            .collect();
        Ok((total, examples))
    }

    async fn queue_rows(&mut self, limit: i64) -> Result<(u64, Vec<Example>), StoreError> {
        let sql = "SELECT q.id, q.body_id, q.recipient, COUNT(*) OVER () FROM queue_entries q \
             WHERE NOT EXISTS (SELECT 1 FROM message_bodies b WHERE b.id = q.body_id) \
             ORDER BY q.id LIMIT $1";
        let rows: Vec<QueueRow> =
            on_backend!(self, c => sqlx::query_as(sql).bind(limit).fetch_all(&mut *c).await)?;
        let total = rows.first().map_or(0, |r| count(r.3));
        let examples = rows
            .into_iter()
            .map(|(entry, body, recipient, _)| {
                Example::QueueEntry(QueueEntryExample {
                    entry,
                    body: BodyId(body),
                    recipient,
                })
            })
            .collect();
        Ok((total, examples))
    }

    /// Keeps every other writer of bodies, mailboxes, messages and queue entries waiting
    /// until this transaction ends, so that a repair computed from the holders it reads is
    /// still right when it commits. On PostgreSQL, under READ COMMITTED, an UPDATE waiting on
    /// a row a delivery holds would otherwise recount with its own, older view and undo the
    /// delivery's reference. Reads go on. The tables are taken in the order a delivery
    /// writes them (body, mailbox, message). On SQLite the write transaction already holds
    /// the only write lock.
    pub async fn hold_off_mail_writers(&mut self) -> Result<(), StoreError> {
        let sql = "LOCK TABLE message_bodies, mailboxes, mailbox_messages, queue_entries \
             IN SHARE ROW EXCLUSIVE MODE";
        if let Raw::Postgres(c) = self.raw() {
            sqlx::query(sql).execute(&mut *c).await?;
        }
        Ok(())
    }

    /// Repairs every inconsistency of `kind` that can be repaired from the database alone
    /// and returns how many rows it changed; kinds that cannot be (a body that is gone)
    /// change nothing.
    pub async fn repair_inconsistency(&mut self, kind: Inconsistency) -> Result<u64, StoreError> {
        match kind {
            Inconsistency::BodyRefcount => {
                let sql = format!(
                    "UPDATE message_bodies SET refcount = {HOLDERS_OF_ROW} \
                     WHERE refcount <> {HOLDERS_OF_ROW}"
                );
                self.execute_repair(&sql).await
            }
            // A body without holders is what a delivery may be about to take up again (its
            // INSERT … ON CONFLICT reuses the row whatever its refcount). This runs in its
            // own transaction with the other writers held off, so a delivery either
            // committed before (and is a holder) or stores the body afresh after.
            Inconsistency::OrphanBody => {
                let sql = "DELETE FROM message_bodies WHERE NOT EXISTS \
                     (SELECT 1 FROM mailbox_messages m WHERE m.body_id = message_bodies.id) \
                     AND NOT EXISTS (SELECT 1 FROM queue_entries q WHERE q.body_id = message_bodies.id)";
                self.execute_repair(sql).await
            }
            Inconsistency::UidNext => self.repair_mailboxes(&UIDNEXT.repair_sql()).await,
            Inconsistency::HighestModseq => {
                self.repair_mailboxes(&HIGHESTMODSEQ.repair_sql()).await
            }
            Inconsistency::UsedBytes => self.repair_mailboxes(&USED_BYTES.repair_sql()).await,
            Inconsistency::MessageSize => {
                let body_size =
                    "(SELECT b.size FROM message_bodies b WHERE b.id = mailbox_messages.body_id)";
                let sql = format!(
                    "UPDATE mailbox_messages SET size = {body_size} WHERE size <> {body_size} \
                     RETURNING mailbox_id"
                );
                self.repair_mailboxes(&sql).await
            }
            Inconsistency::MessageWithoutBody | Inconsistency::QueueEntryWithoutBody => Ok(0),
        }
    }

    async fn execute_repair(&mut self, sql: &str) -> Result<u64, StoreError> {
        Ok(
            on_backend!(self, c => sqlx::query(sql).execute(&mut *c).await.map(|r| r.rows_affected()))?,
        )
    }

    /// Runs a repair returning one mailbox id per changed row, and wakes the sessions
    /// watching those mailboxes once it commits.
    async fn repair_mailboxes(&mut self, sql: &str) -> Result<u64, StoreError> {
        let ids: Vec<i64> =
            on_backend!(self, c => sqlx::query_scalar(sql).fetch_all(&mut *c).await)?;
        for &id in &ids {
            self.touch(MailboxId(id));
        }
        Ok(ids.len() as u64)
    }
}

/// A `COUNT(*)`, never negative.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
