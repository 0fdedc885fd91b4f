//! An official's Sieve script as stored.

use crate::clock::UnixTime;
use crate::model::AgencyId;

/// One of an official's Sieve scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SieveScript {
    pub name: String,
    pub text: String,
    /// Whether it runs at delivery: at most one of an official's scripts is active.
    pub active: bool,
    pub updated_at: UnixTime,
}

/// A script run before every official's own filter: the province's, or one agency's for its
/// officials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeforeScript {
    /// `None` for the whole province.
    pub agency: Option<AgencyId>,
    pub text: String,
    pub updated_at: UnixTime,
}
