-- What the LDAP service needs beyond the foundation (SQLite).
-- Keep in step with migrations/postgres/0003_ldap.sql: same columns and constraint names.

-- Service accounts allowed to reset officials' passwords through LDAP Password Modify
-- (within their scope).
ALTER TABLE service_accounts ADD COLUMN may_reset_passwords BOOLEAN NOT NULL DEFAULT 0;
-- Unix seconds of the first failed login counted in failed_logins: failures older than the
-- lockout window start a new count.
ALTER TABLE officials ADD COLUMN failing_since INTEGER;
