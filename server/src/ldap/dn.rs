//! Distinguished names: the normalized form two DNs are compared in (RFC 4514 syntax,
//! attribute types and values matched case-insensitively, insignificant spaces dropped),
//! and escaping of values when congvu writes DNs.

use super::attributes::fold_case;

/// A DN reduced to its comparable form: `UID=AnNV, ou=People,dc=VinhPhuc` becomes
/// `uid=annv,ou=people,dc=vinhphuc`. `None` when the text is not a DN.
pub fn normalize(dn: &str) -> Option<String> {
    if dn.trim().is_empty() {
        return Some(String::new());
    }
    let mut rdns = Vec::new();
    for rdn in split_unescaped(dn, b',') {
        let mut parts = Vec::new();
        for ava in split_unescaped(rdn, b'+') {
            let (kind, value) = ava.split_once('=')?;
            let kind = kind.trim().to_ascii_lowercase();
            if kind.is_empty()
                || !kind
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                return None;
            }
            let value = fold_case(&unescape(value.trim())?);
            parts.push(format!("{kind}={}", escape_value(&value)));
        }
        parts.sort();
        rdns.push(parts.join("+"));
    }
    Some(rdns.join(","))
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

/// Splits on `sep` where it is not escaped with a backslash.
fn split_unescaped(text: &str, sep: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            _ if b == sep => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Resolves `\,`-style and `\2C`-style escapes; `None` for a dangling or bad escape.
fn unescape(value: &str) -> Option<String> {
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let next = *bytes.get(i + 1)?;
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(next);
                i += 2;
            }
        }
    }
    String::from_utf8(out).ok()
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
