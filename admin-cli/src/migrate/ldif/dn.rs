//! Distinguished names as an export writes them: read with the directory's RFC 4514 reader
//! (which also takes the `;` between RDNs that older exports write), compared in a form of
//! their own so that a group's `member` finds its entry however either was spelled, and the
//! nearest `ou=` of an official read.

use congvu::directory::dn::{self as rfc4514, Ava, RdnSeparators};
use unicode_normalization::UnicodeNormalization;

/// The RDNs of `dn`, the entry's own first; `None` when it is not a DN.
fn rdns(dn: &str) -> Option<Vec<Vec<Ava>>> {
    rfc4514::rdns(dn, RdnSeparators::CommaOrSemicolon)
}

/// The form two DNs are compared in: types and values without regard to case or Unicode
/// composition, insignificant spaces dropped, multi-valued RDNs in a fixed order.
pub fn normalize(dn: &str) -> Option<String> {
    Some(rfc4514::comparable(&rdns(dn)?, |ava| {
        let value: String = ava.value.nfc().collect::<String>().to_lowercase();
        format!("{}={}", ava.kind, reescape(&value))
    }))
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

    #[test]
    fn older_exports_semicolons_and_escapes() {
        // RFC 1779's `;` between RDNs, as some older exports write it.
        assert_eq!(
            normalize("uid=annv;ou=Sở Tài chính;dc=x"),
            normalize("uid=annv,ou=Sở Tài chính,dc=x")
        );
        assert_eq!(
            nearest_ou("uid=annv; ou=Phòng 1\\;2 ;dc=x").as_deref(),
            Some("Phòng 1;2")
        );
        // `\+` protects the plus; the digit after it is not read as hex.
        assert_eq!(own("cn=Tổ\\+1,dc=x", "cn").as_deref(), Some("Tổ+1"));
        assert_eq!(normalize("cn=Tổ\\2B1,dc=x"), normalize("cn=tổ\\+1,dc=x"));
        assert_eq!(normalize("cn=a\\4g,dc=x"), None);
        assert_eq!(own("uid=\\C3\\A1,dc=x", "uid").as_deref(), Some("á"));
    }
}
