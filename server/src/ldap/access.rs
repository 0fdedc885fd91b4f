//! Who may read what. An official reads everyone's public attributes (the address book) and
//! all of their own entry; a service account reads the officials and agencies of its scope,
//! HR ids included, and its own entry; an anonymous client reads nothing but the root DSE
//! and the schema unless the configuration opens the directory to it. `userPassword` is
//! never read by anyone.

use std::collections::HashSet;

use super::attributes as at;
use super::tree::{Attribute, Entry, EntryKind, Tree};
use crate::directory::{AgencyId, OfficialId, ServiceAccountId};

/// The identity a connection is bound as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
    Official {
        id: OfficialId,
        login: String,
        dn: String,
    },
    Service {
        id: ServiceAccountId,
        name: String,
        dn: String,
        scope: Option<AgencyId>,
        may_reset_passwords: bool,
    },
}

impl Identity {
    /// The bound DN (empty for anonymous).
    pub fn dn(&self) -> &str {
        match self {
            Identity::Anonymous => "",
            Identity::Official { dn, .. } | Identity::Service { dn, .. } => dn,
        }
    }
}

/// An identity's read rights over one tree, worked out once per search.
#[derive(Debug)]
pub struct Reader<'a> {
    identity: &'a Identity,
    anonymous_read: bool,
    /// For a scoped service account: the agencies it may read.
    scope: Option<HashSet<AgencyId>>,
}

/// What a reader sees of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    Hidden,
    /// Public attributes only.
    Public,
    /// Private attributes too (the HR id).
    Full,
}

impl<'a> Reader<'a> {
    pub fn new(identity: &'a Identity, anonymous_read: bool, tree: &Tree) -> Reader<'a> {
        let scope = match identity {
            Identity::Service {
                scope: Some(agency),
                ..
            } => Some(tree.agencies_within(*agency)),
            _ => None,
        };
        Reader {
            identity,
            anonymous_read,
            scope,
        }
    }

    fn in_scope(&self, agency: AgencyId) -> bool {
        self.scope.as_ref().is_none_or(|s| s.contains(&agency))
    }

    /// How much of `entry` this reader sees.
    pub fn sight(&self, entry: &Entry) -> Sight {
        match (self.identity, entry.kind) {
            (Identity::Anonymous, _) if !self.anonymous_read => Sight::Hidden,
            (_, EntryKind::Service(own)) => match self.identity {
                Identity::Service { id, .. } if *id == own => Sight::Public,
                _ => Sight::Hidden,
            },
            (Identity::Service { .. }, EntryKind::Official { agency, .. }) => {
                if self.in_scope(agency) {
                    Sight::Full
                } else {
                    Sight::Hidden
                }
            }
            (Identity::Service { .. }, EntryKind::Agency(agency)) => {
                if self.in_scope(agency) {
                    Sight::Public
                } else {
                    Sight::Hidden
                }
            }
            (Identity::Official { id, .. }, EntryKind::Official { id: owner, .. })
                if *id == owner =>
            {
                Sight::Full
            }
            _ => Sight::Public,
        }
    }
}

/// Whether an attribute may be shown (or matched by a filter) at `sight`.
pub fn readable(attribute: &Attribute, sight: Sight) -> bool {
    match sight {
        Sight::Hidden => false,
        _ if std::ptr::eq(attribute.kind, &at::USER_PASSWORD) => false,
        Sight::Public => !attribute.private,
        Sight::Full => true,
    }
}
