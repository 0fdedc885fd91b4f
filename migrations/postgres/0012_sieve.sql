-- Officials' Sieve filters: their scripts, at most one active, and the out-of-office replies
-- they sent, so that a sender hears once per period (PostgreSQL).
-- Keep in step with migrations/sqlite/0012_sieve.sql: same columns and constraint names.

-- A script as the official (or their mail client over ManageSieve) stored it; compiled when
-- stored, so a script here always compiled once.
CREATE TABLE sieve_scripts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    official_id BIGINT NOT NULL REFERENCES officials (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    script      TEXT    NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT sieve_scripts_name_key UNIQUE (official_id, name)
);
CREATE UNIQUE INDEX sieve_scripts_one_active ON sieve_scripts (official_id) WHERE active;

-- When an automatic reply last went to a sender (RFC 5230 §4.2): `reply_key` names the
-- sender and the reply (its :handle, or its text). Shared by every node on one database.
CREATE TABLE vacation_replies (
    official_id BIGINT NOT NULL REFERENCES officials (id) ON DELETE CASCADE,
    reply_key   TEXT    NOT NULL,
    sent_at     BIGINT NOT NULL,
    CONSTRAINT vacation_replies_pkey PRIMARY KEY (official_id, reply_key)
);
