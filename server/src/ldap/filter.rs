//! Search filters: a client's filter compiled once against the served attribute types
//! (values normalized by each type's matching rule), then evaluated per entry with RFC 4511
//! three-valued logic. Values are compared as data, never as patterns, so `*`, `%`, `_` or
//! `\` in an assertion match only themselves.

use ldap3_proto::proto::{LdapFilter, LdapSubstringFilter};

use super::attributes::{self as at, AttributeType, Matching};
use super::tree::{Entry, Tree};

/// A compiled filter.
#[derive(Debug, Clone)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Equal(&'static AttributeType, String),
    Substring(&'static AttributeType, Substring),
    GreaterOrEqual(&'static AttributeType, String),
    LessOrEqual(&'static AttributeType, String),
    Present(&'static AttributeType),
    /// Always true: `(objectClass=*)`, which every entry satisfies.
    Everything,
    /// An attribute congvu does not serve, or an unsupported extensible match.
    Undefined,
}

/// The parts of a substring assertion, normalized.
#[derive(Debug, Clone)]
pub struct Substring {
    initial: Option<String>,
    any: Vec<String>,
    last: Option<String>,
}

/// The filter nests deeper than allowed.
#[derive(Debug)]
pub struct TooDeep;

/// Three-valued truth (RFC 4511 §4.5.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    True,
    False,
    Undefined,
}

impl Filter {
    /// Compiles `filter`, refusing nesting deeper than `max_depth`.
    pub fn compile(filter: &LdapFilter, max_depth: usize) -> Result<Filter, TooDeep> {
        compile(filter, max_depth, 0)
    }

    /// Whether `entry` matches, considering only the attributes `visible` lets through.
    pub fn matches(
        &self,
        entry: &Entry,
        visible: &dyn Fn(&super::tree::Attribute) -> bool,
    ) -> bool {
        self.eval(entry, visible) == Truth::True
    }

    /// Entries the filter can only match, from the equality index; `None` when the filter
    /// gives no such bound and every entry must be tried.
    pub fn candidates(&self, tree: &Tree) -> Option<Vec<usize>> {
        match self {
            Filter::Equal(kind, value) => tree.lookup(kind, value).map(<[usize]>::to_vec),
            Filter::And(parts) => parts
                .iter()
                .filter_map(|p| p.candidates(tree))
                .min_by_key(Vec::len),
            Filter::Or(parts) => {
                let mut all = Vec::new();
                for part in parts {
                    all.extend(part.candidates(tree)?);
                }
                all.sort_unstable();
                all.dedup();
                Some(all)
            }
            _ => None,
        }
    }

    fn eval(&self, entry: &Entry, visible: &dyn Fn(&super::tree::Attribute) -> bool) -> Truth {
        let attribute = |kind: &AttributeType| entry.attribute(kind).filter(|a| visible(a));
        match self {
            Filter::And(parts) => {
                let mut result = Truth::True;
                for p in parts {
                    match p.eval(entry, visible) {
                        Truth::False => return Truth::False,
                        Truth::Undefined => result = Truth::Undefined,
                        Truth::True => {}
                    }
                }
                result
            }
            Filter::Or(parts) => {
                let mut result = Truth::False;
                for p in parts {
                    match p.eval(entry, visible) {
                        Truth::True => return Truth::True,
                        Truth::Undefined => result = Truth::Undefined,
                        Truth::False => {}
                    }
                }
                result
            }
            Filter::Not(inner) => match inner.eval(entry, visible) {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                Truth::Undefined => Truth::Undefined,
            },
            Filter::Equal(kind, value) => {
                truth(attribute(kind).is_some_and(|a| a.normalized.iter().any(|v| v == value)))
            }
            Filter::Substring(kind, sub) => {
                truth(attribute(kind).is_some_and(|a| a.normalized.iter().any(|v| sub.matches(v))))
            }
            Filter::GreaterOrEqual(kind, value) => {
                ordering(attribute(kind), kind, |v| v >= value.as_str())
            }
            Filter::LessOrEqual(kind, value) => {
                ordering(attribute(kind), kind, |v| v <= value.as_str())
            }
            Filter::Present(kind) => truth(attribute(kind).is_some()),
            Filter::Everything => Truth::True,
            Filter::Undefined => Truth::Undefined,
        }
    }
}

fn truth(b: bool) -> Truth {
    if b {
        Truth::True
    } else {
        Truth::False
    }
}

/// `>=` and `<=`: defined for string-like syntaxes only (DNs and certificates have no
/// ordering rule, so the assertion is undefined there).
fn ordering(
    attribute: Option<&super::tree::Attribute>,
    kind: &AttributeType,
    test: impl Fn(&str) -> bool,
) -> Truth {
    if matches!(kind.matching, Matching::Dn | Matching::Octets) {
        return Truth::Undefined;
    }
    truth(attribute.is_some_and(|a| a.normalized.iter().any(|v| test(v))))
}

impl Substring {
    fn matches(&self, value: &str) -> bool {
        let mut rest = value;
        if let Some(initial) = &self.initial {
            match rest.strip_prefix(initial.as_str()) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        for part in &self.any {
            match rest.find(part.as_str()) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        match &self.last {
            Some(last) => rest.ends_with(last.as_str()),
            None => true,
        }
    }
}

fn compile(filter: &LdapFilter, max_depth: usize, depth: usize) -> Result<Filter, TooDeep> {
    let nested = |parts: &[LdapFilter]| -> Result<Vec<Filter>, TooDeep> {
        if depth >= max_depth {
            return Err(TooDeep);
        }
        parts
            .iter()
            .map(|p| compile(p, max_depth, depth + 1))
            .collect()
    };
    let assertion =
        |attr: &str, value: &str, make: fn(&'static AttributeType, String) -> Filter| {
            match at::lookup(attr) {
                // Octet-string values arrive hex-encoded already (ldap/frame.rs).
                Some(kind) if matches!(kind.matching, Matching::Octets) => {
                    make(kind, value.to_ascii_lowercase())
                }
                Some(kind) => make(kind, at::normalize(kind.matching, value.as_bytes())),
                None => Filter::Undefined,
            }
        };
    Ok(match filter {
        LdapFilter::And(parts) => Filter::And(nested(parts)?),
        LdapFilter::Or(parts) => Filter::Or(nested(parts)?),
        LdapFilter::Not(inner) => {
            if depth >= max_depth {
                return Err(TooDeep);
            }
            Filter::Not(Box::new(compile(inner, max_depth, depth + 1)?))
        }
        LdapFilter::Equality(attr, value) | LdapFilter::Approx(attr, value) => {
            assertion(attr, value, Filter::Equal)
        }
        LdapFilter::GreaterOrEqual(attr, value) => assertion(attr, value, Filter::GreaterOrEqual),
        LdapFilter::LessOrEqual(attr, value) => assertion(attr, value, Filter::LessOrEqual),
        LdapFilter::Present(attr) => match at::lookup(attr) {
            Some(kind) if std::ptr::eq(kind, &at::OBJECT_CLASS) => Filter::Everything,
            Some(kind) => Filter::Present(kind),
            None => Filter::Undefined,
        },
        LdapFilter::Substring(attr, sub) => match at::lookup(attr) {
            Some(kind) => Filter::Substring(kind, substring(kind.matching, sub)),
            None => Filter::Undefined,
        },
        LdapFilter::Extensible(_) => Filter::Undefined,
    })
}

/// Normalizes each part by itself: folding per part keeps a space at a part's edge from
/// being trimmed away only when the rule says spaces are insignificant.
fn substring(matching: Matching, sub: &LdapSubstringFilter) -> Substring {
    let norm = |s: &String| at::normalize(matching, s.as_bytes());
    Substring {
        initial: sub.initial.as_ref().map(norm).filter(|s| !s.is_empty()),
        any: sub.any.iter().map(norm).filter(|s| !s.is_empty()).collect(),
        last: sub.final_.as_ref().map(norm).filter(|s| !s.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::parse_ldap_filter_str;

    fn sub(initial: Option<&str>, any: &[&str], last: Option<&str>) -> Substring {
        Substring {
            initial: initial.map(str::to_string),
            any: any.iter().map(|s| s.to_string()).collect(),
            last: last.map(str::to_string),
        }
    }

    #[test]
    fn substrings_match_in_order() {
        assert!(sub(Some("ngu"), &["văn"], Some("an")).matches("nguyễn văn an"));
        assert!(!sub(Some("văn"), &[], None).matches("nguyễn văn an"));
        assert!(!sub(None, &["an", "văn"], None).matches("nguyễn văn an x"));
        assert!(sub(None, &["50%"], None).matches("giảm 50% (tạm)"));
        assert!(!sub(None, &["5_%"], None).matches("giảm 50% (tạm)"));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = parse_ldap_filter_str("(&(|(!(uid=a))))").unwrap();
        assert!(Filter::compile(&deep, 3).is_ok());
        assert!(Filter::compile(&deep, 2).is_err());
    }
}
