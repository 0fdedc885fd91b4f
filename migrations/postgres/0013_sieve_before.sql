-- Scripts an administrator runs before every official's own filter (Pigeonhole calls them
-- sieve_before): one for the whole province (agency_id NULL) and at most one per agency,
-- run for the officials of that agency (PostgreSQL).
-- Keep in step with migrations/sqlite/0013_sieve_before.sql: same columns and index names.
CREATE TABLE sieve_before_scripts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id  BIGINT REFERENCES agencies (id) ON DELETE CASCADE,
    script     TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX sieve_before_scripts_scope ON sieve_before_scripts (COALESCE(agency_id, 0));
