//! The agency tree: the province at the root, departments and districts under it, communes
//! and wards under districts.

use std::collections::HashMap;
use std::str::FromStr;

use super::DirectoryError;
use crate::model::{Agency, AgencyId, AgencyLevel};

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
