-- What `congvu-admin migrate imap` has copied, so that a re-run (the delta pass after the MX
-- moves, or a run after a kill) copies only what is new and never duplicates (PostgreSQL).
-- Keep in step with migrations/sqlite/0010_mail_migration.sql: same columns and constraint
-- names.

-- One folder of one account on the old server, for one official: the source's UIDVALIDITY
-- when its UIDs were recorded. A changed UIDVALIDITY voids the recorded UIDs.
CREATE TABLE migration_folders (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    official_id   BIGINT  NOT NULL REFERENCES officials (id) ON DELETE CASCADE,
    source_host   TEXT    NOT NULL,
    source_user   TEXT    NOT NULL,
    source_folder TEXT    NOT NULL,
    uidvalidity   BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    CONSTRAINT migration_folders_source_key UNIQUE (official_id, source_host, source_user, source_folder)
);

-- Each source message copied, and the congvu message it became. The message is referred to
-- by (mailbox, its UIDVALIDITY, UID) without a foreign key on purpose: a message the official
-- deletes after the move stays recorded, so the delta pass does not bring it back; the
-- UIDVALIDITY tells a mailbox created later under a reused id from the one recorded.
-- Written in the same transaction as the message itself.
CREATE TABLE migration_messages (
    folder_id           BIGINT  NOT NULL REFERENCES migration_folders (id) ON DELETE CASCADE,
    source_uid          BIGINT  NOT NULL,
    mailbox_id          BIGINT  NOT NULL,
    mailbox_uidvalidity BIGINT  NOT NULL,
    uid                 BIGINT  NOT NULL,
    CONSTRAINT migration_messages_pkey PRIMARY KEY (folder_id, source_uid)
);
CREATE INDEX migration_messages_message ON migration_messages (mailbox_id, uid);
