//! Mail addresses of officials, groups and agencies: one namespace, lowercase, local to a
//! domain congvu serves.

use super::DirectoryError;

/// A parsed `local@domain`, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAddress {
    pub local: String,
    pub domain: String,
}

impl MailAddress {
    /// Parses and lowercases an address. Only the dot-atom form is accepted for local
    /// addresses: quoted local parts, `%` and `!` routing have no place in an official's
    /// address and are classic relay tricks.
    pub fn parse(text: &str) -> Result<MailAddress, DirectoryError> {
        let lower = text.trim().to_ascii_lowercase();
        let invalid = || {
            DirectoryError::Invalid(format!(
                "\"{text}\" is not a mail address: use name@domain with letters, digits, '.', '-' or '_'"
            ))
        };
        let (local, domain) = lower.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'));
        if !local_ok {
            return Err(invalid());
        }
        let domain = super::domain::normalize_domain(domain).map_err(|_| invalid())?;
        Ok(MailAddress {
            local: local.to_string(),
            domain,
        })
    }

    /// `local@domain`.
    pub fn full(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_splits() {
        let a = MailAddress::parse(" AnNV@VinhPhuc.gov.vn ").unwrap();
        assert_eq!(a.full(), "annv@vinhphuc.gov.vn");
        assert_eq!(a.local, "annv");
    }

    #[test]
    fn refuses_routing_tricks() {
        for bad in [
            "a%b@vinhphuc.gov.vn",
            "a!b@vinhphuc.gov.vn",
            "\"a b\"@vinhphuc.gov.vn",
            "@vinhphuc.gov.vn",
            "a..b@vinhphuc.gov.vn",
            "annv@localhost",
            "annv",
            "an\r\nnv@vinhphuc.gov.vn",
        ] {
            assert!(MailAddress::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
