-- congvu foundation schema (PostgreSQL). Times are Unix seconds (BIGINT).
-- Keep in step with migrations/sqlite/0001_foundation.sql: same tables, columns and constraint names.

CREATE TABLE domains (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 TEXT    NOT NULL CONSTRAINT domains_name_key UNIQUE,
    is_primary           BOOLEAN NOT NULL DEFAULT FALSE,
    default_quota_bytes  BIGINT NOT NULL,
    max_message_bytes    BIGINT NOT NULL,
    address_rule         TEXT    NOT NULL,
    dkim_selector        TEXT,
    dkim_private_key     TEXT,
    require_tls_outbound BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX domains_one_primary ON domains (is_primary) WHERE is_primary;

CREATE TABLE agencies (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid       TEXT    NOT NULL CONSTRAINT agencies_uuid_key UNIQUE,
    code       TEXT    NOT NULL CONSTRAINT agencies_code_key UNIQUE,
    name       TEXT    NOT NULL,
    level      TEXT    NOT NULL CHECK (level IN ('province', 'department', 'district', 'commune')),
    parent_id  BIGINT REFERENCES agencies (id) ON DELETE RESTRICT,
    domain_id  BIGINT NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX agencies_parent ON agencies (parent_id);

CREATE TABLE officials (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid                 TEXT    NOT NULL CONSTRAINT officials_uuid_key UNIQUE,
    login                TEXT    NOT NULL CONSTRAINT officials_login_key UNIQUE,
    family_name          TEXT    NOT NULL,
    middle_name          TEXT    NOT NULL DEFAULT '',
    given_name           TEXT    NOT NULL,
    display_name         TEXT    NOT NULL,
    agency_id            BIGINT NOT NULL REFERENCES agencies (id) ON DELETE RESTRICT,
    unit                 TEXT,
    title                TEXT,
    phone                TEXT,
    hr_id                TEXT    CONSTRAINT officials_hr_id_key UNIQUE,
    status               TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash        TEXT,
    password_cost        TEXT    NOT NULL CHECK (password_cost IN ('full', 'initial')),
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    quota_bytes          BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX officials_agency ON officials (agency_id);

CREATE TABLE directory_groups (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid         TEXT    NOT NULL CONSTRAINT directory_groups_uuid_key UNIQUE,
    name         TEXT    NOT NULL CONSTRAINT directory_groups_name_key UNIQUE,
    display_name TEXT    NOT NULL,
    description  TEXT,
    kind         TEXT    NOT NULL CHECK (kind IN ('group', 'list')),
    agency_id    BIGINT REFERENCES agencies (id) ON DELETE RESTRICT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id        BIGINT NOT NULL REFERENCES directory_groups (id) ON DELETE CASCADE,
    official_id     BIGINT REFERENCES officials (id) ON DELETE CASCADE,
    member_group_id BIGINT REFERENCES directory_groups (id) ON DELETE CASCADE,
    CHECK ((official_id IS NULL) <> (member_group_id IS NULL)),
    CHECK (member_group_id IS NULL OR member_group_id <> group_id),
    CONSTRAINT group_members_official_key UNIQUE (group_id, official_id),
    CONSTRAINT group_members_group_key UNIQUE (group_id, member_group_id)
);
CREATE INDEX group_members_official ON group_members (official_id);
CREATE INDEX group_members_member_group ON group_members (member_group_id);

-- Every deliverable local address, whatever owns it, in one namespace: the primary key makes
-- an official's alias and a group's address impossible to collide.
CREATE TABLE addresses (
    address     TEXT    NOT NULL CONSTRAINT addresses_pkey PRIMARY KEY,
    domain_id   BIGINT NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
    official_id BIGINT REFERENCES officials (id) ON DELETE CASCADE,
    group_id    BIGINT REFERENCES directory_groups (id) ON DELETE CASCADE,
    agency_id   BIGINT REFERENCES agencies (id) ON DELETE CASCADE,
    is_primary  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL,
    CHECK (num_nonnulls(official_id, group_id, agency_id) = 1)
);
CREATE INDEX addresses_official ON addresses (official_id);
CREATE INDEX addresses_group ON addresses (group_id);
CREATE INDEX addresses_agency ON addresses (agency_id);
CREATE UNIQUE INDEX addresses_one_primary ON addresses (official_id) WHERE is_primary;

CREATE TABLE service_accounts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid            TEXT    NOT NULL CONSTRAINT service_accounts_uuid_key UNIQUE,
    name            TEXT    NOT NULL CONSTRAINT service_accounts_name_key UNIQUE,
    description     TEXT,
    password_hash   TEXT    NOT NULL,
    scope_agency_id BIGINT REFERENCES agencies (id) ON DELETE RESTRICT,
    status          TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE certificates (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    official_id        BIGINT NOT NULL REFERENCES officials (id) ON DELETE CASCADE,
    der                BYTEA   NOT NULL,
    serial             TEXT    NOT NULL,
    issuer             TEXT    NOT NULL,
    subject            TEXT    NOT NULL,
    not_before         BIGINT NOT NULL,
    not_after          BIGINT NOT NULL,
    fingerprint_sha256 TEXT    NOT NULL CONSTRAINT certificates_fingerprint_key UNIQUE,
    key_usage          TEXT,
    revoked_at         BIGINT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX certificates_official ON certificates (official_id);

CREATE TABLE audit_log (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT NOT NULL,
    actor          TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    target         TEXT    NOT NULL,
    before_summary TEXT,
    after_summary  TEXT
);
CREATE INDEX audit_log_target ON audit_log (target);

-- Bumped in the same transaction as every directory change, so in-memory snapshots know
-- when to reload.
CREATE TABLE directory_version (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

-- Message bodies are stored once, addressed by SHA-256, and shared by every mailbox entry
-- and queue entry that holds them; refcount counts those holders.
CREATE TABLE message_bodies (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256     BYTEA   NOT NULL CONSTRAINT message_bodies_sha256_key UNIQUE,
    size       BIGINT NOT NULL,
    refcount   BIGINT NOT NULL CHECK (refcount >= 0),
    data       BYTEA   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE mailboxes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    official_id BIGINT NOT NULL REFERENCES officials (id) ON DELETE RESTRICT,
    name        TEXT    NOT NULL,
    role        TEXT    CHECK (role IN ('inbox', 'sent', 'drafts', 'trash', 'junk', 'archive')),
    uidvalidity BIGINT NOT NULL,
    uidnext     BIGINT NOT NULL,
    subscribed  BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    CONSTRAINT mailboxes_name_key UNIQUE (official_id, name)
);
CREATE UNIQUE INDEX mailboxes_one_role ON mailboxes (official_id, role) WHERE role IS NOT NULL;

CREATE TABLE mailbox_messages (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox_id    BIGINT NOT NULL REFERENCES mailboxes (id) ON DELETE RESTRICT,
    uid           BIGINT NOT NULL,
    body_id       BIGINT NOT NULL REFERENCES message_bodies (id) ON DELETE RESTRICT,
    flags         BIGINT  NOT NULL DEFAULT 0,
    keywords      TEXT    NOT NULL DEFAULT '',
    internal_date BIGINT NOT NULL,
    size          BIGINT NOT NULL,
    CONSTRAINT mailbox_messages_uid_key UNIQUE (mailbox_id, uid)
);
CREATE INDEX mailbox_messages_body ON mailbox_messages (body_id);

CREATE TABLE queue_entries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body_id          BIGINT NOT NULL REFERENCES message_bodies (id) ON DELETE RESTRICT,
    sender           TEXT    NOT NULL,
    recipient        TEXT    NOT NULL,
    recipient_domain TEXT    NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    last_error       TEXT,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX queue_entries_due ON queue_entries (next_attempt_at);
CREATE INDEX queue_entries_body ON queue_entries (body_id);
