-- What SMTP delivery and submission need beyond the LDAP migration (PostgreSQL).
-- Keep in step with migrations/sqlite/0004_smtp.sql: same columns and constraint names.

-- Bytes held by each mailbox's messages, kept with every delivery and expunge, so that quota
-- checks read a handful of rows instead of summing messages.
ALTER TABLE mailboxes ADD COLUMN used_bytes BIGINT NOT NULL DEFAULT 0;

-- Messages officials submitted, per agency and day (UTC date, YYYY-MM-DD), and how many of them
-- were S/MIME-signed. Only these counts are kept: the report needs nothing more.
CREATE TABLE submission_counts (
    agency_id BIGINT NOT NULL REFERENCES agencies (id) ON DELETE CASCADE,
    day       TEXT   NOT NULL,
    sent      BIGINT NOT NULL DEFAULT 0,
    signed    BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT submission_counts_pkey PRIMARY KEY (agency_id, day)
);
