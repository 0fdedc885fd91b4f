//! Distinguished names as text (RFC 4514): split into RDNs and attribute-value assertions at
//! unescaped separators, values unescaped. DNs name the directory's entries wherever they
//! are read, by the LDAP server and by the LDIF reader of a migration alike, so both parse
//! them here. How two DNs compare and how congvu writes its own DNs belong to their callers;
//! this module owns only the reading.

/// One attribute type and value of an RDN, the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ava {
    /// The attribute type, lowercase.
    pub kind: String,
    pub value: String,
}

/// What separates one RDN from the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdnSeparators {
    /// RFC 4514 §2.1: a comma only.
    Comma,
    /// A comma, or the semicolon RFC 1779 §2.3 also allowed, which older exports still write.
    CommaOrSemicolon,
}

impl RdnSeparators {
    fn bytes(self) -> &'static [u8] {
        match self {
            RdnSeparators::Comma => b",",
            RdnSeparators::CommaOrSemicolon => b",;",
        }
    }
}

/// The RDNs of `dn`, the entry's own first, each with its attribute-value assertions in the
/// order written; empty for the empty DN (the root). `None` when `dn` is not a DN: an RDN
/// without `=`, an attribute type that is neither a name nor an OID, or a bad escape.
pub fn rdns(dn: &str, separators: RdnSeparators) -> Option<Vec<Vec<Ava>>> {
    if dn.trim().is_empty() {
        return Some(Vec::new());
    }
    split_unescaped(dn, separators.bytes())
        .into_iter()
        .map(|rdn| split_unescaped(rdn, b"+").into_iter().map(ava).collect())
        .collect()
}

/// `rdns` written back as one string to compare DNs by: each attribute-value assertion as
/// `write` puts it, those of a multi-valued RDN sorted (an RDN is an unordered set, RFC 4512
/// §2.3.1), the RDNs joined by commas. The caller decides how values are folded and escaped.
pub fn comparable(rdns: &[Vec<Ava>], write: impl Fn(&Ava) -> String) -> String {
    let rdns: Vec<String> = rdns
        .iter()
        .map(|rdn| {
            let mut avas: Vec<String> = rdn.iter().map(&write).collect();
            avas.sort();
            avas.join("+")
        })
        .collect();
    rdns.join(",")
}

/// `type=value`, spaces around either dropped.
fn ava(text: &str) -> Option<Ava> {
    let (kind, value) = text.split_once('=')?;
    let kind = kind.trim().to_ascii_lowercase();
    // RFC 4514 §3: a descriptor (letters, digits, hyphens) or a numeric OID.
    let valid = !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
    valid.then_some(())?;
    Some(Ava {
        kind,
        value: unescape(value.trim())?,
    })
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

/// Resolves RFC 4514 §2.4 escapes: a backslash and the character it protects (`\,`), or a
/// backslash and a pair of hex digits standing for one byte (`\2C`); hex pairs in a row
/// spell UTF-8 (`\C3\A1` is `á`). `None` for a dangling backslash, a backslash before a lone
/// hex digit, or bytes that are not UTF-8. One surrounding pair of double quotes (RFC 1779)
/// is taken off.
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
            let low = input.next().filter(u8::is_ascii_hexdigit)?;
            let pair = [next, low];
            let hex = std::str::from_utf8(&pair).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            bytes.push(next);
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(dn: &str) -> Option<Vec<Vec<(String, String)>>> {
        let rdns = rdns(dn, RdnSeparators::Comma)?;
        let pairs = rdns
            .into_iter()
            .map(|rdn| rdn.into_iter().map(|a| (a.kind, a.value)).collect())
            .collect();
        Some(pairs)
    }

    fn pairs(list: &[&[(&str, &str)]]) -> Vec<Vec<(String, String)>> {
        list.iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn rdns_and_multi_valued_rdns_split_at_unescaped_separators() {
        assert_eq!(
            values(" UID=annv , ou=Sở Tài chính,dc=vn"),
            Some(pairs(&[
                &[("uid", "annv")],
                &[("ou", "Sở Tài chính")],
                &[("dc", "vn")]
            ]))
        );
        assert_eq!(
            values("cn=Văn thư+uid=vt,2.5.4.11=x"),
            Some(pairs(&[
                &[("cn", "Văn thư"), ("uid", "vt")],
                &[("2.5.4.11", "x")]
            ]))
        );
        assert_eq!(
            values("cn=Lãnh đạo\\, Sở\\+1,dc=x"),
            Some(pairs(&[&[("cn", "Lãnh đạo, Sở+1")], &[("dc", "x")]]))
        );
        assert_eq!(values(""), Some(Vec::new()));
        assert_eq!(values("   "), Some(Vec::new()));
    }

    #[test]
    fn the_comparable_form_sorts_a_multi_valued_rdn() {
        let write = |a: &Ava| format!("{}={}", a.kind, a.value.to_lowercase());
        let dn = |text| comparable(&rdns(text, RdnSeparators::Comma).unwrap(), write);
        assert_eq!(dn("UID=VT+cn=Văn Thư,dc=X"), "cn=văn thư+uid=vt,dc=x");
        assert_eq!(dn("cn=Văn Thư+UID=VT,dc=X"), dn("UID=VT+cn=Văn Thư,dc=X"));
        assert_eq!(dn(""), "");
    }

    #[test]
    fn the_semicolon_separates_rdns_only_where_asked() {
        let dn = "uid=annv;ou=people";
        assert_eq!(values(dn), Some(pairs(&[&[("uid", "annv;ou=people")]])));
        let lenient = rdns(dn, RdnSeparators::CommaOrSemicolon).unwrap();
        assert_eq!(lenient.len(), 2);
        assert_eq!(lenient[1][0].value, "people");
    }

    #[test]
    fn hex_pairs_spell_utf8() {
        assert_eq!(unescape("S\\E1\\BB\\9F").as_deref(), Some("Sở"));
        assert_eq!(unescape("T\\c3\\a0i").as_deref(), Some("Tài"));
        assert_eq!(unescape("a\\2Cb").as_deref(), Some("a,b"));
        assert_eq!(unescape("\\00").as_deref(), Some("\0"));
        // Half of a two-byte character, and a byte no UTF-8 has.
        assert_eq!(unescape("\\C3"), None);
        assert_eq!(unescape("\\FF"), None);
    }

    #[test]
    fn a_protected_character_is_not_read_as_hex() {
        // `\+1` is `+` then `1`; the number parser's sign must not make it the byte 0x01.
        assert_eq!(unescape("a\\+1").as_deref(), Some("a+1"));
        assert_eq!(unescape("\\+2B").as_deref(), Some("+2B"));
        assert_eq!(unescape("\\ lead").as_deref(), Some(" lead"));
        assert_eq!(unescape("\\\\").as_deref(), Some("\\"));
        assert_eq!(
            unescape("\"quoted, as RFC 1779 wrote\"").as_deref(),
            Some("quoted, as RFC 1779 wrote")
        );
    }

    #[test]
    fn bad_escapes_and_bad_types_are_not_dns() {
        assert_eq!(unescape("a\\"), None);
        assert_eq!(unescape("\\4"), None);
        assert_eq!(unescape("\\4g"), None);
        assert_eq!(values("not a dn"), None);
        assert_eq!(values("uid"), None);
        assert_eq!(values("=annv,dc=x"), None);
        assert_eq!(values("u id=annv"), None);
        assert_eq!(values("cn=a\\"), None);
    }
}
