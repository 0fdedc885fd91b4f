//! An official's Sieve script as stored.

use crate::clock::UnixTime;

/// One of an official's Sieve scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SieveScript {
    pub name: String,
    pub text: String,
    /// Whether it runs at delivery: at most one of an official's scripts is active.
    pub active: bool,
    pub updated_at: UnixTime,
}
