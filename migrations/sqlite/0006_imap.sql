-- What IMAP needs beyond the foundation (SQLite).
-- Keep in step with migrations/postgres/0006_imap.sql: same columns and constraint names.

-- The body's structure (envelope, MIME parts with byte ranges) as JSON, computed once when the
-- body is first stored, so FETCH ENVELOPE/BODYSTRUCTURE and section reads never re-parse it.
-- NULL for bodies stored before this column existed; those are parsed when first fetched.
ALTER TABLE message_bodies ADD COLUMN shape TEXT;

-- Each mailbox's change counter (RFC 7162 HIGHESTMODSEQ): raised by every append, flag change
-- and expunge, so a session learns whether anything changed with one indexed read.
ALTER TABLE mailboxes ADD COLUMN highestmodseq INTEGER NOT NULL DEFAULT 1;
-- The counter's value when the message last changed.
ALTER TABLE mailbox_messages ADD COLUMN modseq INTEGER NOT NULL DEFAULT 1;
-- A session brings its view up to date by reading only what changed since it last looked.
CREATE INDEX mailbox_messages_modseq ON mailbox_messages (mailbox_id, modseq);
-- The last UIDVALIDITY given to any of an official's mailboxes. It outlives deleted
-- mailboxes, so a folder deleted and created again, even within the same second, never gets a
-- value it had before (RFC 3501 §2.3.1.1).
ALTER TABLE officials ADD COLUMN last_uidvalidity INTEGER NOT NULL DEFAULT 0;
