//! Agencies as stored: the province's administration, level by level.

use std::fmt;

use super::{AgencyId, DomainId};
use crate::clock::UnixTime;

/// Where an agency sits in the province's administration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AgencyLevel {
    /// The provincial People's Committee and its office.
    Province,
    /// A provincial department (`Sở`).
    Department,
    /// A district, town or provincial city.
    District,
    /// A commune, ward or township.
    Commune,
}

impl AgencyLevel {
    /// Every level, from the root down.
    pub const ALL: [AgencyLevel; 4] = [
        AgencyLevel::Province,
        AgencyLevel::Department,
        AgencyLevel::District,
        AgencyLevel::Commune,
    ];

    /// The name used in storage, config and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyLevel::Province => "province",
            AgencyLevel::Department => "department",
            AgencyLevel::District => "district",
            AgencyLevel::Commune => "commune",
        }
    }

    /// Whether an agency of this level may sit directly under one of `parent`'s level.
    /// `None` is the root: only the province stands there.
    pub fn may_have_parent(self, parent: Option<AgencyLevel>) -> bool {
        use AgencyLevel::*;
        matches!(
            (parent, self),
            (None, Province)
                | (Some(Province), Department | District)
                | (Some(District), Commune)
                // A department's own sub-units (chi cục) are departments too.
                | (Some(Department), Department)
        )
    }
}

impl fmt::Display for AgencyLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An agency of the province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agency {
    pub id: AgencyId,
    pub uuid: String,
    /// Short code, lowercase ASCII (`stttt` for Sở Thông tin và Truyền thông).
    pub code: String,
    /// Full Vietnamese name with diacritics, as written by the agency.
    pub name: String,
    pub level: AgencyLevel,
    pub parent_id: Option<AgencyId>,
    pub domain_id: DomainId,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}
