-- The officials' portal: initial passwords that expire, one-time reset links, and portal
-- sessions held server-side (PostgreSQL).
-- Keep in step with migrations/sqlite/0008_portal.sql: same columns and constraint names.

-- When the current password was set: an initial password (must_change_password) expires
-- [auth] initial_password_days after it. Existing passwords count from their last update.
ALTER TABLE officials ADD COLUMN password_set_at BIGINT;
UPDATE officials SET password_set_at = updated_at WHERE password_hash IS NOT NULL;

-- One-time links to choose a password without knowing one. Only the SHA-256 of the token is
-- kept; every link of an official dies when any password is set for them.
CREATE TABLE reset_links (
    token_sha256 BYTEA   NOT NULL CONSTRAINT reset_links_pkey PRIMARY KEY,
    official_id  BIGINT    NOT NULL REFERENCES officials (id) ON DELETE CASCADE,
    created_at   BIGINT    NOT NULL,
    expires_at   BIGINT    NOT NULL
);
CREATE INDEX reset_links_official ON reset_links (official_id);

-- Portal sessions. The cookie carries a random 256-bit id; only its SHA-256 is kept, so the
-- table cannot be replayed as cookies. `purpose` is 'account' (signed in) or 'choose_password'
-- (signed in with an initial password or a reset link: may only choose a password).
CREATE TABLE portal_sessions (
    id_sha256    BYTEA   NOT NULL CONSTRAINT portal_sessions_pkey PRIMARY KEY,
    official_id  BIGINT    NOT NULL REFERENCES officials (id) ON DELETE CASCADE,
    purpose      TEXT    NOT NULL CHECK (purpose IN ('account', 'choose_password')),
    csrf_token   TEXT    NOT NULL,
    created_at   BIGINT    NOT NULL,
    last_seen_at BIGINT    NOT NULL,
    source       TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL
);
CREATE INDEX portal_sessions_official ON portal_sessions (official_id);
