//! The LDAP service as clients see it: the real server on `127.0.0.1:0` over a province
//! seeded through the directory, spoken to with `ldap3`, with raw BER where a client library
//! would not send what a test needs, and with the OpenLDAP command-line tools.
//!
//! Every test runs on SQLite and on PostgreSQL, each with its own database and server.

mod access;
mod bind;
mod filters;
pub(crate) mod fixture;
mod limits;
mod operations;
mod paging;
mod schema;
mod search;
mod tools;

/// The LDAP tests run per backend like every server test.
pub(crate) use crate::backend_tests as ldap_tests;
