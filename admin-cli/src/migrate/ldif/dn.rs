//! Distinguished names as an export writes them (RFC 4514): split into RDNs at unescaped
//! commas, values unescaped (`\,`, `\C3\A1`), so that a group's `member` finds its entry
//! however either was spelled, and an official's nearest `ou=` can be read.

use unicode_normalization::UnicodeNormalization;

/// One attribute type and value of an RDN, the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ava {
    /// Lowercase.
    pub kind: String,
    pub value: String,
}

/// The RDNs of `dn`, the entry's own first; `None` when it is not a DN.
pub fn rdns(dn: &str) -> Option<Vec<Vec<Ava>>> {
    if dn.trim().is_empty() {
        return Some(Vec::new());
    }
    split_unescaped(dn, b",;")
        .into_iter()
        .map(|rdn| {
            split_unescaped(rdn, b"+")
                .into_iter()
                .map(|ava| {
                    let (kind, value) = ava.split_once('=')?;
                    let kind = kind.trim().to_ascii_lowercase();
                    let valid = !kind.is_empty()
                        && kind
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
                    valid.then_some(())?;
                    Some(Ava {
                        kind,
                        value: unescape(value.trim())?,
                    })
                })
                .collect()
        })
        .collect()
}

/// The form two DNs are compared in: types and values without regard to case or Unicode
/// composition, insignificant spaces dropped, multi-valued RDNs in a fixed order.
pub fn normalize(dn: &str) -> Option<String> {
    let rdns = rdns(dn)?;
    let parts: Vec<String> = rdns
        .into_iter()
        .map(|rdn| {
            let mut avas: Vec<String> = rdn
                .into_iter()
                .map(|a| {
                    let value: String = a.value.nfc().collect::<String>().to_lowercase();
                    format!("{}={}", a.kind, reescape(&value))
                })
                .collect();
            avas.sort();
            avas.join("+")
        })
        .collect();
    Some(parts.join(","))
}

/// The value of the nearest `ou=` above the entry itself, as written.
pub fn nearest_ou(dn: &str) -> Option<String> {
    rdns(dn)?
        .into_iter()
        .skip(1)
        .flatten()
        .find(|a| a.kind == "ou")
        .map(|a| a.value)
}

/// The value of the entry's own RDN of type `kind`, if its RDN has one.
pub fn own(dn: &str, kind: &str) -> Option<String> {
    rdns(dn)?
        .into_iter()
        .next()?
        .into_iter()
        .find(|a| a.kind == kind)
        .map(|a| a.value)
}

/// Splits at any of `separators` where not escaped with a backslash.
fn split_unescaped<'a>(text: &'a str, separators: &[u8]) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, &b) in text.as_bytes().iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            _ if separators.contains(&b) => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// RFC 4514 §2.4 backslash escapes, and hex pairs that together spell UTF-8.
fn unescape(value: &str) -> Option<String> {
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let mut bytes = Vec::with_capacity(value.len());
    let mut input = value.bytes();
    while let Some(b) = input.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        let next = input.next()?;
        if next.is_ascii_hexdigit() {
            let low = input.next()?;
            let pair = [next, low];
            let hex = std::str::from_utf8(&pair).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            bytes.push(next);
        }
    }
    String::from_utf8(bytes).ok()
}

/// Escapes what would make a normalized value ambiguous.
fn reescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, ',' | '+' | '=' | '\\' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_dn_however_spelled() {
        let forms = [
            "uid=annv,ou=Sở Tài chính,dc=vinhphuc,dc=gov,dc=vn",
            "UID=AnNV, OU=sở tài chính , DC=VinhPhuc,dc=gov,dc=vn",
            "uid=annv,ou=S\\E1\\BB\\9F T\\C3\\A0i ch\\C3\\ADnh,dc=vinhphuc,dc=gov,dc=vn",
            // The same letters, decomposed (NFD), as some Windows tools write them.
            "uid=annv,ou=So\u{31b}\u{309} Ta\u{300}i chi\u{301}nh,dc=vinhphuc,dc=gov,dc=vn",
        ];
        let normalized: Vec<String> = forms.iter().map(|f| normalize(f).unwrap()).collect();
        for n in &normalized {
            assert_eq!(n, &normalized[0]);
        }
        assert_ne!(
            normalize("cn=a\\,b,dc=x").unwrap(),
            normalize("cn=a,b=,dc=x").unwrap_or_default()
        );
    }

    #[test]
    fn the_nearest_ou_and_the_own_rdn() {
        let dn = "uid=annv,ou=People,ou=Sở Tài chính,dc=vinhphuc";
        assert_eq!(nearest_ou(dn).as_deref(), Some("People"));
        assert_eq!(
            nearest_ou("cn=Lãnh đạo\\, Sở,ou=Sở Tài chính,dc=x").as_deref(),
            Some("Sở Tài chính")
        );
        assert_eq!(
            own("cn=Lãnh đạo\\, Sở,ou=x", "cn").as_deref(),
            Some("Lãnh đạo, Sở")
        );
        assert_eq!(nearest_ou("uid=a,dc=x"), None);
        assert_eq!(rdns("uid"), None);
    }
}
