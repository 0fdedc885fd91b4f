//! Support for congvu's end-to-end tests: a fresh database per test on SQLite or
//! PostgreSQL, and a server started on `127.0.0.1:0` ports.
//!
//! PostgreSQL tests use `CONGVU_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets its own schema, so tests run
//! in parallel. Set `CONGVU_TEST_SKIP_POSTGRES=1` to run only the SQLite half where no
//! PostgreSQL server is available.
// This package is tests: a failed expectation panics, and a test reads top to bottom.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::too_many_lines
)]

pub mod browser;
pub mod certificates;
pub mod clamav;
pub mod daemon;
pub mod db;
pub mod dkim;
pub mod dns;
pub mod dovecot;
pub mod imap;
pub mod ldap;
pub mod mbsync;
pub mod program;
pub mod roundcube;
pub mod rspamd;
pub mod server;
pub mod sieve_connect;
pub mod slapd;
pub mod smime;
pub mod smtp;
pub mod smtp_sink;
pub mod soak;

pub use db::{Backend, TestDb};
