//! The kinds of entity the directory holds, named: an error says which kind was not found,
//! and a caller matches on the kind rather than on its words.

use std::fmt;

/// A kind of directory entity, as errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Official,
    Agency,
    Group,
    ServiceAccount,
    Domain,
    /// An official's extra address.
    Alias,
    /// A group's member.
    Member,
    Certificate,
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntityKind::Official => "official",
            EntityKind::Agency => "agency",
            EntityKind::Group => "group",
            EntityKind::ServiceAccount => "service account",
            EntityKind::Domain => "domain",
            EntityKind::Alias => "alias",
            EntityKind::Member => "member",
            EntityKind::Certificate => "certificate",
        })
    }
}
