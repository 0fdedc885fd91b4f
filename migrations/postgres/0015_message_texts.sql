-- Each body's searchable text (JSON: decoded header fields and body text) in a table of its
-- own (PostgreSQL). Keep in step with migrations/sqlite/0015_message_texts.sql: same columns
-- and names.
--
-- SEARCH over text read and parsed every message of the mailbox, one at a time: decoding
-- MIME, quoted-printable, base64 and HTML cost more than matching. The text is worked out
-- once, when a body is stored (or at the first search that needs it, for bodies stored
-- before this table), and searches read only it.
CREATE TABLE message_texts (
    body_id BIGINT PRIMARY KEY REFERENCES message_bodies (id) ON DELETE CASCADE,
    text    TEXT   NOT NULL
);
