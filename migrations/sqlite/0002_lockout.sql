-- Login lockout state of officials (SQLite). The LDAP and IMAP login code counts failed
-- logins and sets locked_until; `congvu-admin user unlock` clears both.
-- Keep in step with migrations/postgres/0002_lockout.sql: same columns and constraint names.

ALTER TABLE officials ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0
    CONSTRAINT officials_failed_logins_check CHECK (failed_logins >= 0);
-- Unix seconds until which logins are refused; NULL when not locked.
ALTER TABLE officials ADD COLUMN locked_until INTEGER;
