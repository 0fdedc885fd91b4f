//! The agency tree: the province at the root, departments and districts under it, communes
//! and wards under districts.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use super::DirectoryError;
use crate::clock::UnixTime;
use crate::model::{AgencyId, DomainId};

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

impl FromStr for AgencyLevel {
    type Err = DirectoryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgencyLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                DirectoryError::Invalid(format!(
                    "\"{s}\" is not an agency level: use province, department, district or commune"
                ))
            })
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

/// What an administrator supplies to add an agency.
#[derive(Debug, Clone)]
pub struct NewAgency {
    pub code: String,
    pub name: String,
    pub level: AgencyLevel,
    /// Code of the parent agency; `None` only for the province.
    pub parent_code: Option<String>,
    /// Domain name; the primary domain when `None`.
    pub domain: Option<String>,
    /// The agency's own mailbox address (`vanthu@…`), delivered to its mail officers later.
    pub mail_address: Option<String>,
}

/// Lowercases and checks an agency code: 1-32 ASCII letters, digits, `-` or `_`.
pub fn normalize_agency_code(code: &str) -> Result<String, DirectoryError> {
    let lower = code.trim().to_ascii_lowercase();
    let valid = !lower.is_empty()
        && lower.len() <= 32
        && lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(lower)
    } else {
        Err(DirectoryError::Invalid(format!(
            "\"{code}\" is not an agency code: use 1-32 letters, digits, '-' or '_', e.g. stttt"
        )))
    }
}

/// The agencies depth-first from the root, children by code, each with its depth: the order
/// `congvu-admin agency tree` and the usage report show.
pub(super) fn tree_order(agencies: &[Agency]) -> Vec<(&Agency, usize)> {
    let mut children: HashMap<Option<AgencyId>, Vec<&Agency>> = HashMap::new();
    for a in agencies {
        children.entry(a.parent_id).or_default().push(a);
    }
    for list in children.values_mut() {
        list.sort_by(|x, y| x.code.cmp(&y.code));
    }
    // An explicit stack keeps a deep (or corrupt) tree off the call stack.
    let mut ordered = Vec::with_capacity(agencies.len());
    let mut stack: Vec<(&Agency, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|a| (*a, 0)).collect())
        .unwrap_or_default();
    while let Some((agency, depth)) = stack.pop() {
        ordered.push((agency, depth));
        if let Some(kids) = children.get(&Some(agency.id)) {
            stack.extend(kids.iter().rev().map(|a| (*a, depth + 1)));
        }
    }
    ordered
}
