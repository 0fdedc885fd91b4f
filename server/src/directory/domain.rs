//! Mail domains (`vinhphuc.gov.vn`) and their per-domain settings.

use super::DirectoryError;

/// The address rule used when a domain does not name one: given name followed by the
/// initials of the family and middle names (`Nguyễn Văn An` -> `annv`).
pub const DEFAULT_ADDRESS_RULE: &str = "{given}{initials}";

/// What an administrator supplies to add a domain.
#[derive(Debug, Clone)]
pub struct NewDomain {
    pub name: String,
    pub is_primary: bool,
    pub default_quota_bytes: i64,
    pub max_message_bytes: i64,
    pub address_rule: String,
}

impl NewDomain {
    /// A domain with the usual settings: 2 GiB quota, 50 MiB messages, the default rule.
    pub fn new(name: &str) -> NewDomain {
        NewDomain {
            name: name.to_string(),
            is_primary: false,
            default_quota_bytes: 2 << 30,
            max_message_bytes: 50 << 20,
            address_rule: DEFAULT_ADDRESS_RULE.to_string(),
        }
    }
}

/// Lowercases and checks a domain name: dot-separated labels of ASCII letters, digits and
/// hyphens (IDNs must be given in their `xn--` form).
pub fn normalize_domain(name: &str) -> Result<String, DirectoryError> {
    let lower = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if lower.len() > 253 || !lower.contains('.') || !lower.split('.').all(valid_label) {
        return Err(DirectoryError::Invalid(format!(
            "\"{name}\" is not a domain name: use letters, digits and hyphens between dots, e.g. vinhphuc.gov.vn"
        )));
    }
    Ok(lower)
}
