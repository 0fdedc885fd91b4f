//! The SMTP service as senders see it: the real server on `127.0.0.1:0` over a small seeded
//! province, spoken to with a raw client (exact replies, hostile input) and with lettre.
//!
//! Every test runs on SQLite and on PostgreSQL, each with its own database and server.

mod authentication;
mod chunking;
mod crash;
mod filtering;
pub(crate) mod fixture;
mod limits;
mod managesieve;
mod probes;
mod receive;
mod shutdown;
mod sieve;
mod submission;
mod tools;

pub(crate) use crate::backend_tests as smtp_tests;
