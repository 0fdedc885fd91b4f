-- What SMTP delivery and submission need beyond the LDAP migration (SQLite).
-- Keep in step with migrations/postgres/0004_smtp.sql: same columns and constraint names.

-- Bytes held by each mailbox's messages, kept with every delivery and expunge, so that quota
-- checks read a handful of rows instead of summing messages.
ALTER TABLE mailboxes ADD COLUMN used_bytes INTEGER NOT NULL DEFAULT 0;

-- Messages officials submitted, per agency and day (UTC date, YYYY-MM-DD), and how many of them
-- were S/MIME-signed. Only these counts are kept: the report needs nothing more.
CREATE TABLE submission_counts (
    agency_id INTEGER NOT NULL REFERENCES agencies (id) ON DELETE CASCADE,
    day       TEXT    NOT NULL,
    sent      INTEGER NOT NULL DEFAULT 0,
    signed    INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT submission_counts_pkey PRIMARY KEY (agency_id, day)
);
