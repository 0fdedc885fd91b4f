-- Password hashes carried over from another directory by `congvu-admin migrate ldif` (SQLite).
-- Keep in step with migrations/postgres/0011_legacy_passwords.sql: same column and constraint.

-- The `userPassword` value exactly as the old directory exported it (`{SSHA}…`), checked at
-- sign-in until the official's first successful one replaces it with an argon2id hash in
-- password_hash. It lives in a column of its own, so that nothing reading password_hash (or
-- password_cost, whose CHECK names the argon2id classes) ever mistakes it for one of ours; an
-- official has one password or the other, never both.
ALTER TABLE officials ADD COLUMN legacy_password_hash TEXT
    CONSTRAINT officials_one_password_check CHECK (legacy_password_hash IS NULL OR password_hash IS NULL);
