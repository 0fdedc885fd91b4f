//! Search filters: a client's filter compiled once against the served attribute types
//! (values normalized by each type's matching rule), then evaluated per entry with RFC 4511
//! three-valued logic. Values are compared as data, never as patterns, so `*`, `%`, `_` or
//! `\` in an assertion match only themselves.
//!
//! An item on a supertype covers its served subtypes (`name` covers `cn`, `sn`, `ou`, ...);
//! an item on a type the schema defines but no entry carries is FALSE, on an undefined type
//! Undefined, as slapd has it. Extensible matches (RFC 4511 §4.5.1.7.7) take the equality
//! rules of [`Rule`], by name or OID, and `:dn` also tries the values of the entry's RDNs.
//! The filter sees only the attributes the reader may read; the DN, anyone who sees the entry.

use ldap3_proto::proto::{LdapFilter, LdapMatchingRuleAssertion, LdapSubstringFilter};
use unicode_normalization::UnicodeNormalization;

use super::attributes::{self as at, AttributeType, Matching, RuleRef};
use super::dn;
use super::tree::{Attribute, Entry, Tree};

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
    Extensible(Extensible),
    /// Always true: `(objectClass=*)`, which every entry satisfies.
    Everything,
    /// Always false: an item on a type the schema defines that no entry carries (`mobile`),
    /// or on a language-tagged description (`cn;lang-vi`), congvu storing no tagged values
    /// (RFC 4511 §4.5.1.7: a known type absent from the entry).
    Nothing,
    /// Always Undefined: a type the schema does not define, an item the type has no matching
    /// rule for, an unknown or inapplicable matching rule, or a value the rule's syntax
    /// does not allow.
    Undefined,
}

/// The parts of a substring assertion, normalized.
#[derive(Debug, Clone)]
pub struct Substring {
    initial: Option<String>,
    any: Vec<String>,
    last: Option<String>,
}

/// An extensible match resolved against the served types.
#[derive(Debug, Clone)]
pub struct Extensible {
    /// Each served type tried, the rule its values are compared by, and the assertion value
    /// in that rule's normal form.
    tried: Vec<(&'static AttributeType, Rule, String)>,
    /// `:dn`: the values of the entry's RDNs are tried too.
    dn_attributes: bool,
}

/// The equality rules an extensible match may name (RFC 4517 §4.2), each the normal form
/// its values compare in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// caseIgnoreMatch: Unicode case folding, NFC, spaces collapsed.
    CaseIgnore,
    /// caseIgnoreIA5Match: as caseIgnoreMatch, for IA5 (ASCII) values only.
    CaseIgnoreIa5,
    /// caseExactMatch: NFC and spaces collapsed, case kept.
    CaseExact,
    /// caseExactIA5Match: as caseExactMatch, for IA5 values only.
    CaseExactIa5,
    /// distinguishedNameMatch.
    Dn,
    /// octetStringMatch: the bytes as they are.
    Octets,
    /// telephoneNumberMatch: case-insensitive, spaces and hyphens ignored.
    Telephone,
    /// numericStringMatch: digits, spaces ignored.
    NumericString,
    /// integerMatch: an INTEGER (RFC 4517 §3.3.16), compared as a number.
    Integer,
}

/// The rules of [`Rule`] by OID; any other rule the schema defines is not applied.
const RULES: [(&str, Rule); 9] = [
    ("2.5.13.2", Rule::CaseIgnore),
    ("1.3.6.1.4.1.1466.109.114.2", Rule::CaseIgnoreIa5),
    ("2.5.13.5", Rule::CaseExact),
    ("1.3.6.1.4.1.1466.109.114.1", Rule::CaseExactIa5),
    ("2.5.13.1", Rule::Dn),
    ("2.5.13.17", Rule::Octets),
    ("2.5.13.20", Rule::Telephone),
    ("2.5.13.8", Rule::NumericString),
    ("2.5.13.14", Rule::Integer),
];

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
    pub fn matches(&self, entry: &Entry, visible: &dyn Fn(&Attribute) -> bool) -> bool {
        self.eval(entry, visible) == Truth::True
    }

    /// Entries the filter can only match, from the equality index; `None` when the filter
    /// gives no such bound and every entry must be tried.
    pub fn candidates(&self, tree: &Tree) -> Option<Vec<usize>> {
        match self {
            Filter::Equal(kind, value) => tree.lookup(kind, value),
            Filter::Nothing => Some(Vec::new()),
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

    fn eval(&self, entry: &Entry, visible: &dyn Fn(&Attribute) -> bool) -> Truth {
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
                truth(attribute(kind).is_some_and(|a| a.normalized().any(|v| v == value)))
            }
            Filter::Substring(kind, sub) => {
                truth(attribute(kind).is_some_and(|a| a.normalized().any(|v| sub.matches(v))))
            }
            Filter::GreaterOrEqual(kind, value) => {
                ordering(attribute(kind), kind, |v| v >= value.as_str())
            }
            Filter::LessOrEqual(kind, value) => {
                ordering(attribute(kind), kind, |v| v <= value.as_str())
            }
            Filter::Present(kind) => truth(attribute(kind).is_some()),
            Filter::Extensible(ext) => truth(ext.matches(entry, visible)),
            Filter::Everything => Truth::True,
            Filter::Nothing => Truth::False,
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
    attribute: Option<Attribute<'_>>,
    kind: &AttributeType,
    test: impl Fn(&str) -> bool,
) -> Truth {
    if matches!(kind.matching, Matching::Dn | Matching::Octets) {
        return Truth::Undefined;
    }
    truth(attribute.is_some_and(|a| a.normalized().any(&test)))
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

impl Extensible {
    /// RFC 4511 §4.5.1.7.7: true when a readable value of a tried type, or with `:dn` a value
    /// of the entry's RDNs of such a type, matches under the type's rule.
    fn matches(&self, entry: &Entry, visible: &dyn Fn(&Attribute) -> bool) -> bool {
        let in_values = self.tried.iter().any(|(kind, rule, value)| {
            entry
                .attribute(kind)
                .filter(|a| visible(a))
                .is_some_and(|a| rule.holds(a, value))
        });
        in_values
            || (self.dn_attributes
                && rdn_values(entry.dn()).iter().any(|(ava, raw)| {
                    self.tried.iter().any(|(kind, rule, value)| {
                        std::ptr::eq(*kind, *ava)
                            && rule.normalize(raw.as_bytes()).as_deref() == Some(value.as_str())
                    })
                }))
    }
}

impl Rule {
    /// The rule named or numbered `key` and its schema definition; `None` for a rule the
    /// schema does not define or congvu does not apply.
    fn named(key: &str) -> Option<(RuleRef, Rule)> {
        let defined = at::matching_rule(key)?;
        let rule = RULES
            .iter()
            .find(|(oid, _)| *oid == defined.oid)
            .map(|&(_, rule)| rule)?;
        Some((defined, rule))
    }

    /// The rule a served attribute's values are compared by in an equality item.
    fn of(matching: Matching) -> Rule {
        match matching {
            Matching::CaseIgnore => Rule::CaseIgnore,
            Matching::Telephone => Rule::Telephone,
            Matching::Dn => Rule::Dn,
            Matching::Octets => Rule::Octets,
        }
    }

    /// The served matching whose stored normal form is this rule's, so stored values need
    /// not be normalized again.
    fn stored_as(self) -> Option<Matching> {
        match self {
            Rule::CaseIgnore | Rule::CaseIgnoreIa5 => Some(Matching::CaseIgnore),
            Rule::Telephone => Some(Matching::Telephone),
            Rule::Dn => Some(Matching::Dn),
            Rule::Octets => Some(Matching::Octets),
            Rule::CaseExact | Rule::CaseExactIa5 | Rule::NumericString | Rule::Integer => None,
        }
    }

    /// `value` in the rule's normal form; `None` when it is no value of the rule's syntax.
    fn normalize(self, value: &[u8]) -> Option<String> {
        let text = || std::str::from_utf8(value).ok();
        match self {
            Rule::CaseIgnore => text().map(at::fold_case),
            Rule::CaseIgnoreIa5 => text().filter(|t| t.is_ascii()).map(at::fold_case),
            Rule::CaseExact => text().map(exact_form),
            Rule::CaseExactIa5 => text().filter(|t| t.is_ascii()).map(exact_form),
            Rule::Dn => text().and_then(dn::normalize),
            Rule::Octets => Some(hex::encode(value)),
            Rule::Telephone => text().map(|t| at::normalize(Matching::Telephone, t.as_bytes())),
            Rule::NumericString => text()
                .filter(|t| t.bytes().all(|b| b.is_ascii_digit() || b == b' '))
                .map(|t| t.replace(' ', "")),
            Rule::Integer => text().filter(|t| is_integer(t)).map(str::to_string),
        }
    }

    /// Whether a value of `attribute` equals `assertion` (in this rule's normal form).
    fn holds(self, attribute: Attribute<'_>, assertion: &str) -> bool {
        if self.stored_as() == Some(attribute.kind.matching) {
            attribute.normalized().any(|v| v == assertion)
        } else {
            attribute
                .values()
                .any(|v| self.normalize(v).as_deref() == Some(assertion))
        }
    }
}

/// caseExactMatch's normal form: NFC, runs of spaces as one, no leading or trailing spaces.
fn exact_form(value: &str) -> String {
    let composed: String = value.nfc().collect();
    composed.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 4517 §3.3.16: an optional minus and digits without a leading zero (no `-0`). Written
/// so, equal integers are equal strings.
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let leading_zero = digits.starts_with('0') && (digits.len() > 1 || digits.len() < text.len());
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && !leading_zero
}

/// The values of a DN's RDNs (RFC 4514 §3) with their served types, unescaped: what `:dn`
/// tries. Values written in the `#` hex form and types congvu does not serve are left out.
fn rdn_values(dn: &str) -> Vec<(&'static AttributeType, String)> {
    let mut found = Vec::new();
    let mut rest = dn.as_bytes();
    while let Some(equals) = rest.iter().position(|&b| b == b'=') {
        let kind = std::str::from_utf8(&rest[..equals])
            .ok()
            .and_then(|t| at::lookup(t.trim()));
        let raw = &rest[equals + 1..];
        let hex_form = raw.trim_ascii_start().first() == Some(&b'#');
        let mut value = Vec::new();
        let mut i = 0;
        while i < raw.len() && !matches!(raw[i], b',' | b'+') {
            let pair = raw
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
            match (raw[i], pair) {
                (b'\\', Some(hex)) => {
                    let text = std::str::from_utf8(hex).unwrap_or_default();
                    value.extend(u8::from_str_radix(text, 16).ok());
                    i += 3;
                }
                (b'\\', None) => {
                    value.extend(raw.get(i + 1));
                    i += 2;
                }
                (byte, _) => {
                    value.push(byte);
                    i += 1;
                }
            }
        }
        if let (Some(kind), Ok(text), false) = (kind, String::from_utf8(value), hex_form) {
            found.push((kind, text));
        }
        rest = raw.get(i + 1..).unwrap_or_default();
    }
    found
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
    Ok(match filter {
        LdapFilter::And(parts) => Filter::And(nested(parts)?),
        LdapFilter::Or(parts) => Filter::Or(nested(parts)?),
        LdapFilter::Not(inner) => {
            if depth >= max_depth {
                return Err(TooDeep);
            }
            Filter::Not(Box::new(compile(inner, max_depth, depth + 1)?))
        }
        // Approximate match is equality: no served type has an approximate rule.
        LdapFilter::Equality(attr, value) | LdapFilter::Approx(attr, value) => {
            item(attr, Needs::Equality, |kind| {
                Filter::Equal(kind, assertion(kind, value))
            })
        }
        LdapFilter::GreaterOrEqual(attr, value) => item(attr, Needs::Ordering, |kind| {
            Filter::GreaterOrEqual(kind, assertion(kind, value))
        }),
        LdapFilter::LessOrEqual(attr, value) => item(attr, Needs::Ordering, |kind| {
            Filter::LessOrEqual(kind, assertion(kind, value))
        }),
        LdapFilter::Present(attr) => item(attr, Needs::Presence, |kind| {
            if std::ptr::eq(kind, &at::OBJECT_CLASS) {
                Filter::Everything
            } else {
                Filter::Present(kind)
            }
        }),
        LdapFilter::Substring(attr, sub) => item(attr, Needs::Substrings, |kind| {
            Filter::Substring(kind, substring(kind.matching, sub))
        }),
        LdapFilter::Extensible(assertion) => extensible(assertion),
    })
}

/// The rule a simple item needs the schema to give its type.
#[derive(Debug, Clone, Copy)]
enum Needs {
    Equality,
    Ordering,
    Substrings,
    /// Presence needs none.
    Presence,
}

/// An item on `description`: `make` for each served type it covers, any of them matching.
/// Covering none, the item is FALSE when the schema gives the type the rule it needs (a
/// known type absent from the entry, RFC 4511 §4.5.1.7) and Undefined when not (slapd's
/// inappropriate matching). An undefined type or option makes it Undefined.
fn item(
    description: &str,
    needs: Needs,
    make: impl Fn(&'static AttributeType) -> Filter,
) -> Filter {
    let Some(described) = at::describe(description) else {
        return Filter::Undefined;
    };
    let each: Vec<Filter> = described.served.iter().map(|&kind| make(kind)).collect();
    match <[Filter; 1]>::try_from(each) {
        Ok([one]) => one,
        Err(each) if !each.is_empty() => Filter::Or(each),
        Err(_) => {
            let has_rule = match needs {
                Needs::Equality => described.equality.is_some(),
                Needs::Ordering => described.ordering.is_some(),
                Needs::Substrings => described.substr.is_some(),
                Needs::Presence => true,
            };
            if has_rule {
                Filter::Nothing
            } else {
                Filter::Undefined
            }
        }
    }
}

/// An equality or ordering value in `kind`'s normal form.
fn assertion(kind: &AttributeType, value: &str) -> String {
    match kind.matching {
        // Octet-string values arrive hex-encoded already (ldap/frame.rs).
        Matching::Octets => value.to_ascii_lowercase(),
        matching => at::normalize(matching, value.as_bytes()),
    }
}

/// RFC 4511 §4.5.1.7.7. With a type, the rule (or, naming none, the type's equality rule)
/// is tried on the type and its served subtypes; without one, on every served type the rule
/// applies to. An unknown rule, one not applicable to the type, or a value outside the
/// rule's syntax makes the item Undefined, as slapd does.
fn extensible(assertion: &LdapMatchingRuleAssertion) -> Filter {
    let named = match assertion.matching_rule.as_deref() {
        Some(key) => match Rule::named(key) {
            Some(found) => Some(found),
            None => return Filter::Undefined,
        },
        None => None,
    };
    let value = assertion.match_value.as_bytes();
    let tried = match (assertion.type_.as_deref(), named) {
        (Some(description), named) => match typed(description, named, value) {
            Some(tried) => tried,
            None => return Filter::Undefined,
        },
        (None, Some((defined, rule))) => {
            let Some(normal) = rule.normalize(value) else {
                return Filter::Undefined;
            };
            at::ALL
                .iter()
                .copied()
                .filter(|kind| at::describe(kind.schema_name()).is_some_and(|d| d.accepts(defined)))
                .map(|kind| (kind, rule, normal.clone()))
                .collect()
        }
        // Neither a type nor a rule: nothing says how to compare.
        (None, None) => return Filter::Undefined,
    };
    if tried.is_empty() {
        return Filter::Nothing;
    }
    Filter::Extensible(Extensible {
        tried,
        dn_attributes: assertion.dn_attributes,
    })
}

/// What an extensible match on `description` tries; `None` when it is Undefined.
fn typed(
    description: &str,
    named: Option<(RuleRef, Rule)>,
    value: &[u8],
) -> Option<Vec<(&'static AttributeType, Rule, String)>> {
    let described = at::describe(description)?;
    match named {
        Some((defined, rule)) => {
            if !described.accepts(defined) {
                return None;
            }
            let normal = rule.normalize(value)?;
            Some(
                described
                    .served
                    .iter()
                    .map(|&kind| (kind, rule, normal.clone()))
                    .collect(),
            )
        }
        None => {
            // The type's equality rule, as each served type applies it in an equality item.
            described.equality?;
            described
                .served
                .iter()
                .map(|&kind| {
                    let rule = Rule::of(kind.matching);
                    Some((kind, rule, rule.normalize(value)?))
                })
                .collect()
        }
    }
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
    use crate::ldap::schema;
    use crate::ldap::tree::{strings, EntryKind, NewAttribute};
    use ldap3_proto::parse_ldap_filter_str;

    fn sub(initial: Option<&str>, any: &[&str], last: Option<&str>) -> Substring {
        Substring {
            initial: initial.map(str::to_string),
            any: any.iter().map(|s| s.to_string()).collect(),
            last: last.map(str::to_string),
        }
    }

    const BASE: &str = "dc=vinhphuc,dc=gov,dc=vn";

    fn entry(dn: &str, attributes: Vec<NewAttribute<'_>>) -> Entry {
        Entry::new(dn, EntryKind::Structure, attributes)
    }

    /// An official of Sở Nội vụ as the tree holds one; the HR id is private.
    fn official() -> Entry {
        entry(
            &format!("uid=annv,ou=people,{BASE}"),
            vec![
                strings(&at::OBJECT_CLASS, ["top", "person", "inetOrgPerson"]),
                strings(&at::UID, ["annv"]),
                strings(&at::CN, ["Nguyễn Văn An"]),
                strings(&at::SN, ["Nguyễn"]),
                strings(&at::GIVEN_NAME, ["An"]),
                strings(&at::MAIL, ["annv@vinhphuc.gov.vn"]),
                strings(&at::TELEPHONE, ["0211 3862 001"]),
                strings(&at::OU, ["snv"]),
                strings(&at::EMPLOYEE_NUMBER, ["SNV-001"]).private(),
                strings(
                    &at::MEMBER_OF,
                    [format!("cn=lanhdao,ou=groups,{BASE}").as_str()],
                ),
            ],
        )
    }

    fn agency() -> Entry {
        entry(
            &format!("ou=snv,ou=agencies,{BASE}"),
            vec![
                strings(&at::OBJECT_CLASS, ["top", "organizationalUnit"]),
                strings(&at::OU, ["snv"]),
                strings(&at::DESCRIPTION, ["Sở Nội vụ"]),
            ],
        )
    }

    /// How `filter` evaluates on `entry` for a reader of public attributes.
    fn eval(filter: &LdapFilter, entry: &Entry) -> Truth {
        Filter::compile(filter, 16)
            .unwrap()
            .eval(entry, &|a| !a.private)
    }

    fn parsed(text: &str) -> LdapFilter {
        parse_ldap_filter_str(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    /// Checks each `(filter, expected)` on `entry`, reporting every mismatch at once.
    #[track_caller]
    fn check(entry: &Entry, cases: &[(LdapFilter, Truth)]) {
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|(filter, expected)| {
                let found = eval(filter, entry);
                (found != *expected).then(|| format!("{filter:?}: {found:?}, not {expected:?}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    fn texts(cases: &[(&str, Truth)]) -> Vec<(LdapFilter, Truth)> {
        cases.iter().map(|(t, e)| (parsed(t), *e)).collect()
    }

    fn equal(attr: &str, value: &str) -> LdapFilter {
        LdapFilter::Equality(attr.into(), value.into())
    }

    fn not(filter: LdapFilter) -> LdapFilter {
        LdapFilter::Not(Box::new(filter))
    }

    fn ext(rule: Option<&str>, attr: Option<&str>, value: &str, dn: bool) -> LdapFilter {
        LdapFilter::Extensible(LdapMatchingRuleAssertion {
            matching_rule: rule.map(str::to_string),
            type_: attr.map(str::to_string),
            match_value: value.to_string(),
            dn_attributes: dn,
        })
    }

    use Truth::{False, True, Undefined};

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

    #[test]
    fn an_item_on_a_supertype_covers_its_served_subtypes() {
        let annv = official();
        let mut cases = texts(&[
            ("(name=*)", True),
            ("(name=an)", True),
            ("(name=SNV)", True),
            ("(name=Ngu*)", True),
            ("(name=*Văn*)", True),
            ("(name=annv)", False),
            ("(!(name=annv))", True),
            ("(&(name=an)(name=snv))", True),
        ]);
        cases.extend([
            (equal("name", "nguyễn  VĂN an"), True),
            // By OID: name is 2.5.4.41, cn 2.5.4.3.
            (equal("2.5.4.41", "Nguyễn Văn An"), True),
            (
                LdapFilter::Substring(
                    "2.5.4.3".into(),
                    LdapSubstringFilter {
                        initial: Some("Nguyễn".into()),
                        any: Vec::new(),
                        final_: Some("An".into()),
                    },
                ),
                True,
            ),
            (LdapFilter::Present("2.5.4.3".into()), True),
            (equal("CommonName;binary", "nguyễn văn an"), True),
        ]);
        check(&annv, &cases);
        check(
            &agency(),
            &texts(&[("(name=snv)", True), ("(name=Sở*)", False)]),
        );
    }

    #[test]
    fn a_defined_type_no_entry_carries_is_false_and_an_unknown_one_undefined() {
        let annv = official();
        check(
            &annv,
            &texts(&[
                ("(mobile=0912)", False),
                ("(mobile=*)", False),
                ("(mobile=09*)", False),
                ("(!(mobile=0912))", True),
                ("(!(mobile=*))", True),
                ("(&(uid=annv)(!(mobile=x)))", True),
                // mobile has no ordering rule, jpegPhoto no equality or substrings rule.
                ("(mobile<=5)", Undefined),
                ("(!(mobile>=5))", Undefined),
                ("(jpegPhoto=x)", Undefined),
                ("(!(jpegPhoto=*))", True),
                // Unknown types stay Undefined through NOT, and decide nothing in AND/OR.
                ("(noSuchType=x)", Undefined),
                ("(!(noSuchType=x))", Undefined),
                ("(!(noSuchType=*))", Undefined),
                ("(|(noSuchType=x)(uid=annv))", True),
                ("(|(noSuchType=x)(uid=vanlt))", Undefined),
                ("(&(noSuchType=x)(uid=annv))", Undefined),
                ("(&(noSuchType=x)(uid=vanlt))", False),
            ]),
        );
    }

    #[test]
    fn options_other_than_binary_select_tagged_values_or_nothing_known() {
        check(
            &official(),
            &[
                // congvu stores no language-tagged values: a known type, absent.
                (equal("cn;lang-vi", "Nguyễn Văn An"), False),
                (not(equal("cn;lang-vi", "Nguyễn Văn An")), True),
                (LdapFilter::Present("cn;LANG-VI".into()), False),
                (equal("2.5.4.3;lang-vi", "Nguyễn Văn An"), False),
                // An option slapd does not know makes the description unrecognized.
                (equal("cn;x-foo", "Nguyễn Văn An"), Undefined),
                (not(equal("cn;x-foo", "Nguyễn Văn An")), Undefined),
                (equal("cn;lang-", "Nguyễn Văn An"), Undefined),
                (equal("cn;binary", "Nguyễn Văn An"), True),
            ],
        );
    }

    #[test]
    fn extensible_matches_by_rule_name_or_oid() {
        let annv = official();
        let mut cases = texts(&[
            ("(cn:caseExactMatch:=Nguyễn)", False),
            ("(cn:caseIgnoreMatch:=NGUYỄN)", False),
            ("(sn:caseExactMatch:=Nguyễn)", True),
            ("(sn:caseExactMatch:=nguyễn)", False),
            ("(sn:2.5.13.5:=NGUYỄN)", False),
            ("(sn:2.5.13.2:=NGUYỄN)", True),
            ("(sn:CASEIGNOREMATCH:=NGUYỄN)", True),
            ("(sn:=nguyễn)", True),
            ("(name:caseExactMatch:=An)", True),
            ("(name:caseExactMatch:=an)", False),
            ("(mail:caseIgnoreIA5Match:=ANNV@VINHPHUC.GOV.VN)", True),
            ("(mail:caseExactIA5Match:=ANNV@VINHPHUC.GOV.VN)", False),
            (
                "(mail:1.3.6.1.4.1.1466.109.114.1:=annv@vinhphuc.gov.vn)",
                True,
            ),
            ("(telephoneNumber:telephoneNumberMatch:=02113862001)", True),
            ("(telephoneNumber:2.5.13.20:=0211-3862-002)", False),
            ("(telephoneNumber:=0211-3862-001)", True),
            ("(uid:=ANNV)", True),
            // A type the schema defines that no entry carries: FALSE, as for equality.
            ("(mobile:telephoneNumberMatch:=0912)", False),
            ("(!(mobile:=0912))", True),
            ("(userPassword:octetStringMatch:=x)", False),
        ]);
        cases.extend([
            (
                ext(Some("caseExactMatch"), Some("cn"), "Nguyễn Văn An", false),
                True,
            ),
            (
                ext(Some("2.5.13.5"), Some("cn"), "Nguyễn  Văn An ", false),
                True,
            ),
            (
                ext(Some("caseExactMatch"), Some("cn"), "nguyễn văn an", false),
                False,
            ),
            (
                ext(Some("caseIgnoreMatch"), Some("cn"), "nguyễn văn an", false),
                True,
            ),
            (ext(None, Some("2.5.4.3"), "NGUYỄN VĂN AN", false), True),
            (
                ext(
                    Some("distinguishedNameMatch"),
                    Some("memberOf"),
                    "CN=Lanhdao, OU=groups, dc=vinhphuc,dc=gov,dc=vn",
                    false,
                ),
                True,
            ),
            (
                ext(Some("2.5.13.1"), Some("memberOf"), "cn=toanso", false),
                False,
            ),
        ]);
        check(&annv, &cases);
    }

    #[test]
    fn unknown_or_inapplicable_rules_and_invalid_values_are_undefined() {
        let annv = official();
        check(
            &annv,
            &texts(&[
                ("(cn:noSuchMatch:=x)", Undefined),
                ("(!(cn:noSuchMatch:=x))", Undefined),
                ("(cn:1.2.3.4:=x)", Undefined),
                // A substrings or ordering rule is no equality rule.
                ("(cn:caseIgnoreSubstringsMatch:=Ng)", Undefined),
                ("(cn:caseIgnoreOrderingMatch:=Ng)", Undefined),
                // Rules for another syntax.
                ("(mail:caseIgnoreMatch:=annv@vinhphuc.gov.vn)", Undefined),
                ("(cn:caseIgnoreIA5Match:=x)", Undefined),
                ("(telephoneNumber:caseExactMatch:=02113862001)", Undefined),
                ("(cn:octetStringMatch:=x)", Undefined),
                ("(mobile:caseExactMatch:=0912)", Undefined),
                ("(!(mobile:caseExactMatch:=0912))", Undefined),
                // An unknown type, and a type without an equality rule named no rule.
                ("(noSuchType:caseIgnoreMatch:=x)", Undefined),
                ("(jpegPhoto:=x)", Undefined),
                ("(|(cn:noSuchMatch:=x)(uid=annv))", True),
                // Values outside the rule's syntax.
                ("(:numericStringMatch:=12a)", Undefined),
                ("(:caseIgnoreIA5Match:=Nguyễn)", Undefined),
            ]),
        );
        check(
            &annv,
            &[
                (
                    ext(
                        Some("distinguishedNameMatch"),
                        Some("memberOf"),
                        "not a DN",
                        false,
                    ),
                    Undefined,
                ),
                (ext(Some("numericStringMatch"), None, "12 3", false), False),
                // Neither a type nor a rule.
                (ext(None, None, "x", true), Undefined),
            ],
        );
    }

    #[test]
    fn without_a_type_every_readable_attribute_the_rule_applies_to_is_tried() {
        let annv = official();
        let full = |text: &str| {
            Filter::compile(&parsed(text), 16)
                .unwrap()
                .eval(&annv, &|_| true)
        };
        check(
            &annv,
            &texts(&[
                ("(:caseIgnoreMatch:=SNV)", True),
                ("(:caseExactMatch:=snv)", True),
                ("(:caseExactMatch:=SNV)", False),
                ("(:2.5.13.2:=NGUYỄN)", True),
                ("(:caseIgnoreIA5Match:=ANNV@vinhphuc.gov.vn)", True),
                ("(:telephoneNumberMatch:=02113862001)", True),
                // No served type has NumericString syntax.
                ("(:numericStringMatch:=123)", False),
                // The HR id is private: a public reader's filter cannot test it.
                ("(:caseIgnoreMatch:=snv-001)", False),
                ("(employeeNumber:caseIgnoreMatch:=snv-001)", False),
                ("(employeeNumber=snv-001)", False),
            ]),
        );
        assert_eq!(full("(:caseIgnoreMatch:=snv-001)"), True);
        assert_eq!(full("(employeeNumber:caseIgnoreMatch:=snv-001)"), True);
    }

    #[test]
    fn integers_compare_as_integers() {
        let root = schema::root_dse(BASE);
        check(
            &root,
            &texts(&[
                ("(supportedLDAPVersion:integerMatch:=3)", True),
                ("(supportedLDAPVersion:2.5.13.14:=2)", False),
                ("(:integerMatch:=3)", True),
                ("(supportedLDAPVersion:integerMatch:=03)", Undefined),
                ("(supportedLDAPVersion:integerMatch:=-0)", Undefined),
                ("(supportedLDAPVersion:integerMatch:=three)", Undefined),
                ("(cn:integerMatch:=3)", Undefined),
            ]),
        );
    }

    #[test]
    fn dn_attributes_try_the_values_of_the_rdns() {
        let annv = official();
        check(
            &annv,
            &texts(&[
                ("(ou:dn:=people)", True),
                ("(ou:=people)", False),
                ("(ou:dn:=PEOPLE)", True),
                ("(ou:dn:caseExactMatch:=People)", False),
                ("(ou:dn:=snv)", True),
                ("(dc:dn:=gov)", True),
                ("(dc:=gov)", False),
                ("(name:dn:=people)", True),
                ("(cn:dn:=people)", False),
                ("(:dn:caseExactMatch:=people)", True),
                ("(:dn:caseIgnoreIA5Match:=VINHPHUC)", True),
                ("(:caseIgnoreIA5Match:=VINHPHUC)", False),
                ("(!(ou:dn:=people))", False),
            ]),
        );
        let snv = agency();
        check(
            &snv,
            &texts(&[
                ("(ou:dn:=agencies)", True),
                ("(ou:dn:=snv)", True),
                ("(ou:dn:=people)", False),
            ]),
        );
        // Escaped characters in the DN, and no attribute holding the value.
        let escaped = entry(
            &format!("cn=Nguyễn Văn A\\2C Jr\\+1,ou=groups,{BASE}"),
            vec![strings(&at::OBJECT_CLASS, ["top"])],
        );
        check(
            &escaped,
            &[
                (
                    ext(
                        Some("caseExactMatch"),
                        Some("cn"),
                        "Nguyễn Văn A, Jr+1",
                        true,
                    ),
                    True,
                ),
                (
                    ext(
                        Some("caseExactMatch"),
                        Some("cn"),
                        "Nguyễn Văn A, Jr+1",
                        false,
                    ),
                    False,
                ),
                (ext(None, Some("cn"), "nguyễn văn a, jr+1", true), True),
                (ext(None, Some("cn"), "Nguyễn Văn A", true), False),
            ],
        );
    }

    #[test]
    fn rdn_values_are_unescaped_with_their_types() {
        let found: Vec<(&str, String)> =
            rdn_values("CN=a\\,b\\2Bc + UID=x,ou=#0403,2.5.4.11=people, dc=vn,foo=bar")
                .into_iter()
                .map(|(kind, value)| (kind.name, value))
                .collect();
        assert_eq!(
            found,
            [
                ("cn", "a,b+c ".to_string()),
                ("uid", "x".to_string()),
                ("ou", "people".to_string()),
                ("dc", "vn".to_string()),
            ]
        );
        assert!(rdn_values("").is_empty());
    }

    #[test]
    fn nothing_bounds_the_candidates_to_none() {
        let filter = Filter::compile(&parsed("(&(objectClass=*)(mobile=1))"), 16).unwrap();
        let tree = Tree::build(&Default::default(), BASE);
        assert_eq!(filter.candidates(&tree), Some(Vec::new()));
    }
}
