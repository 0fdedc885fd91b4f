//! congvu: the mail and identity directory server of a province's government.
//!
//! One service holds every official's identity and mailbox, receives and relays mail over
//! SMTP, serves mailboxes over IMAP and answers LDAP. The layers, from the wire down:
//! `net` (listeners, TLS, limits) -> protocol sessions (`smtp`, `imap`, `ldap`, `http`, `managesieve`) ->
//! the domain (`directory`, `mailstore`, `queue`) -> `store` (the only place SQL lives).
//! `server` ties them together and owns the lifecycle; `config` is read once at start.

pub mod backup;
pub mod clock;
pub mod config;
pub mod directory;
pub mod dkim;
pub mod dns;
pub mod expiry;
pub mod filter;
pub mod fuzzing;
pub mod http;
pub mod imap;
pub mod inbound;
pub mod ldap;
pub mod mailstore;
pub mod managesieve;
pub mod model;
pub mod net;
pub mod queue;
pub mod server;
pub mod sieve;
pub mod smime;
pub mod smtp;
pub mod store;
pub mod task;
pub mod telemetry;
