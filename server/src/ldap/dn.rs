//! Distinguished names: the normalized form two DNs are compared in (RFC 4514 syntax,
//! attribute types and values matched case-insensitively, insignificant spaces dropped),
//! and escaping of values when congvu writes DNs. Reading a DN's text is the directory's
//! ([`crate::directory::dn`]), shared with the LDIF reader of a migration.

use super::attributes::fold_case;
use crate::directory::dn::{comparable, rdns, RdnSeparators};

/// A DN reduced to its comparable form: `UID=AnNV, ou=People,dc=VinhPhuc` becomes
/// `uid=annv,ou=people,dc=vinhphuc`. `None` when the text is not a DN.
pub fn normalize(dn: &str) -> Option<String> {
    let rdns = rdns(dn, RdnSeparators::Comma)?;
    Some(comparable(&rdns, |ava| {
        format!("{}={}", ava.kind, escape_value(&fold_case(&ava.value)))
    }))
}

/// Escapes an attribute value for use in a DN (RFC 4514 §2.4).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && matches!(c, ' ' | '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
    out
}

/// An official's DN under `base`.
pub fn official(login: &str, base: &str) -> String {
    format!("uid={},ou=people,{base}", escape_value(login))
}

/// An agency's DN under `base`.
pub fn agency(code: &str, base: &str) -> String {
    format!("ou={},ou=agencies,{base}", escape_value(code))
}

/// A group's or distribution list's DN under `base`.
pub fn group(name: &str, base: &str) -> String {
    format!("cn={},ou=groups,{base}", escape_value(name))
}

/// A service account's DN under `base`.
pub fn service(name: &str, base: &str) -> String {
    format!("cn={},ou=services,{base}", escape_value(name))
}

/// The parent of a normalized DN (`uid=a,ou=people,dc=x` -> `ou=people,dc=x`).
pub fn parent(normalized: &str) -> &str {
    let bytes = normalized.as_bytes();
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b',' => return &normalized[i + 1..],
            _ => {}
        }
    }
    ""
}

/// Whether normalized `dn` is `base` or below it.
pub fn is_within(dn: &str, base: &str) -> bool {
    base.is_empty()
        || dn == base
        || (dn.len() > base.len()
            && dn.ends_with(base)
            && dn.as_bytes()[dn.len() - base.len() - 1] == b','
            && !ends_escaped(&dn[..dn.len() - base.len() - 1]))
}

/// Whether the text ends in an odd run of backslashes (so its last comma is escaped).
fn ends_escaped(text: &str) -> bool {
    text.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_spaces_and_escapes() {
        assert_eq!(
            normalize("UID=AnNV , OU=People,dc=VinhPhuc").as_deref(),
            Some("uid=annv,ou=people,dc=vinhphuc")
        );
        assert_eq!(
            normalize("cn=Nguyễn Văn A\\2C Jr,ou=x").as_deref(),
            normalize("CN=nguyễn văn a\\, jr,OU=X").as_deref()
        );
        assert_eq!(normalize("").as_deref(), Some(""));
        assert_eq!(normalize("not a dn"), None);
        assert_eq!(normalize("cn=a\\"), None);
    }

    #[test]
    fn escapes_and_hex_pairs_compare_equal() {
        // Hex pairs spell UTF-8: a client may send the Vietnamese letters either way.
        assert_eq!(
            normalize("ou=S\\E1\\BB\\9F T\\C3\\A0i ch\\C3\\ADnh,dc=x"),
            normalize("OU=Sở Tài Chính,dc=x")
        );
        // `\+` protects the plus; the `1` after it is a letter of the value, not hex.
        assert_eq!(
            normalize("cn=Tổ\\+1,dc=x").as_deref(),
            Some("cn=tổ\\+1,dc=x")
        );
        assert_eq!(normalize("cn=Tổ\\2B1,dc=x"), normalize("cn=Tổ\\+1,dc=x"));
        // Only RFC 4514's comma separates RDNs here.
        assert_eq!(normalize("uid=a;ou=b").as_deref(), Some("uid=a\\;ou\\=b"));
    }

    #[test]
    fn a_backslash_before_a_lone_hex_digit_is_not_a_dn() {
        assert_eq!(normalize("cn=a\\4g,dc=x"), None);
        assert_eq!(normalize("cn=a\\4"), None);
        assert_eq!(normalize("cn=\\C3,dc=x"), None);
    }

    #[test]
    fn parents_and_containment() {
        let dn = normalize("uid=a\\,b,ou=people,dc=x").unwrap();
        assert_eq!(parent(&dn), "ou=people,dc=x");
        assert!(is_within(&dn, "dc=x"));
        assert!(is_within(&dn, &dn));
        assert!(!is_within(&dn, "x"));
        assert!(!is_within("ou=people,dc=xx", "dc=x"));
        assert!(is_within("dc=x", ""));
    }

    #[test]
    fn escapes_what_rfc_4514_requires() {
        assert_eq!(escape_value("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_value(" lead"), "\\ lead");
        assert_eq!(escape_value("#x"), "\\#x");
    }
}
