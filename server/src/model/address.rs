//! Local addresses as stored, and who receives the mail sent to each.

use super::{AgencyId, GroupId, OfficialId};

/// Who receives mail sent to a local address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressOwner {
    Official(OfficialId),
    Group(GroupId),
    Agency(AgencyId),
}

/// A local address and what it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressEntry {
    pub address: String,
    pub owner: AddressOwner,
    /// The official's primary address (the others are aliases).
    pub is_primary: bool,
}
