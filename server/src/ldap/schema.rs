//! The root DSE (what a client learns about the server before binding) and the subschema
//! entry `cn=Subschema`, both readable by anyone. The subschema publishes the standard schema
//! the way slapd does (RFC 4512, 4517, 4519, 4523, 4524, 2798 and the RFCs of the operational
//! attributes congvu serves) plus congvu's own definitions. The definitions live as RFC 4512
//! description text in `schema/*.schema`, one file per document, compiled into the program
//! and read into a checked [`Schema`] on first use.

mod description;
mod registry;

use std::sync::LazyLock;

pub use description::AttributeTypeDescription;
pub use registry::Schema;
use registry::Source;

use super::attributes as at;
use super::tree::{generalized_time, strings, values, Entry, EntryKind};
use crate::clock::Clock;

/// The subschema entry's DN.
pub const SUBSCHEMA_DN: &str = "cn=Subschema";
/// [`SUBSCHEMA_DN`] as DNs compare.
pub const SUBSCHEMA_KEY: &str = "cn=subschema";

pub const OID_PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
pub const OID_START_TLS: &str = "1.3.6.1.4.1.1466.20037";
pub const OID_WHO_AM_I: &str = "1.3.6.1.4.1.4203.1.11.3";
pub const OID_PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";
/// The password policy control (draft-behera-ldap-password-policy), as OpenLDAP's ppolicy.
pub const OID_PASSWORD_POLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// RFC 3673: `+` selects all operational attributes.
const OID_ALL_OPERATIONAL: &str = "1.3.6.1.4.1.4203.1.5.1";

/// The schema files, each with the document its definitions come from (published as
/// `X-ORIGIN`). References resolve once all are read, so the order is only the order in
/// which the definitions are published.
const SOURCES: [Source; 13] = [
    Source {
        origin: "RFC 4512",
        text: include_str!("schema/rfc4512.schema"),
    },
    Source {
        origin: "RFC 4517",
        text: include_str!("schema/rfc4517.schema"),
    },
    Source {
        origin: "RFC 4519",
        text: include_str!("schema/rfc4519.schema"),
    },
    Source {
        origin: "RFC 4523",
        text: include_str!("schema/rfc4523.schema"),
    },
    Source {
        origin: "RFC 4524",
        text: include_str!("schema/rfc4524.schema"),
    },
    Source {
        origin: "RFC 2798",
        text: include_str!("schema/rfc2798.schema"),
    },
    Source {
        origin: "RFC 4530",
        text: include_str!("schema/rfc4530.schema"),
    },
    Source {
        origin: "RFC 5020",
        text: include_str!("schema/rfc5020.schema"),
    },
    Source {
        origin: "RFC 2589",
        text: include_str!("schema/rfc2589.schema"),
    },
    Source {
        origin: "RFC 3045",
        text: include_str!("schema/rfc3045.schema"),
    },
    Source {
        origin: "RFC 3672",
        text: include_str!("schema/rfc3672.schema"),
    },
    Source {
        origin: "X.501",
        text: include_str!("schema/x501.schema"),
    },
    Source {
        origin: "congvu",
        text: include_str!("schema/congvu.schema"),
    },
];

/// The schema congvu publishes.
pub fn standard() -> &'static Schema {
    static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
        // The files are compiled in and the unit tests load them, so this fails only in a
        // build that broke them; serving a partial schema would mislead every client.
        #[allow(
            clippy::panic,
            reason = "the compiled-in schema is checked by the unit tests"
        )]
        Schema::load(&SOURCES)
            .unwrap_or_else(|e| panic!("the built-in LDAP schema is inconsistent: {e}"))
    });
    &SCHEMA
}

/// The root DSE for a tree under `base_dn`.
pub fn root_dse(base_dn: &str) -> Entry {
    Entry::new(
        "",
        EntryKind::Structure,
        vec![
            strings(&at::OBJECT_CLASS, ["top"]),
            strings(&at::NAMING_CONTEXTS, [base_dn]),
            strings(&at::SUPPORTED_LDAP_VERSION, ["3"]),
            strings(
                &at::SUPPORTED_CONTROL,
                [OID_PAGED_RESULTS, OID_PASSWORD_POLICY],
            ),
            strings(
                &at::SUPPORTED_EXTENSION,
                [OID_START_TLS, OID_WHO_AM_I, OID_PASSWORD_MODIFY],
            ),
            strings(&at::SUPPORTED_FEATURES, [OID_ALL_OPERATIONAL]),
            strings(&at::SUBSCHEMA_SUBENTRY, [SUBSCHEMA_DN]),
            strings(&at::VENDOR_NAME, ["congvu"]),
            strings(&at::VENDOR_VERSION, [env!("CARGO_PKG_VERSION")]),
        ],
    )
}

/// The subschema entry, built once.
pub fn subschema() -> Entry {
    static ENTRY: LazyLock<Entry> = LazyLock::new(build_subschema);
    ENTRY.clone()
}

fn build_subschema() -> Entry {
    let schema = standard();
    // As slapd: the schema counts as created and modified when the server loaded it, the
    // only moment it can change, so a client caching it knows to read it again after a
    // restart.
    let loaded = generalized_time(Clock::system().now());
    let text = |items: Vec<String>| items.into_iter().map(String::into_bytes);
    Entry::new(
        SUBSCHEMA_DN,
        EntryKind::Structure,
        vec![
            strings(
                &at::OBJECT_CLASS,
                ["top", "subentry", "subschema", "extensibleObject"],
            ),
            strings(&at::CN, ["Subschema"]),
            values(
                &at::LDAP_SYNTAXES,
                text(schema.syntaxes.iter().map(|d| d.to_string()).collect()),
            ),
            values(
                &at::MATCHING_RULES,
                text(
                    schema
                        .matching_rules
                        .iter()
                        .map(|d| d.to_string())
                        .collect(),
                ),
            ),
            values(
                &at::MATCHING_RULE_USE,
                text(
                    schema
                        .matching_rule_uses()
                        .iter()
                        .map(|d| d.to_string())
                        .collect(),
                ),
            ),
            values(
                &at::ATTRIBUTE_TYPES,
                text(
                    schema
                        .attribute_types
                        .iter()
                        .map(|d| d.to_string())
                        .collect(),
                ),
            ),
            values(
                &at::OBJECT_CLASSES,
                text(
                    schema
                        .object_classes
                        .iter()
                        .map(|d| d.to_string())
                        .collect(),
                ),
            ),
            strings(&at::STRUCTURAL_OBJECT_CLASS, ["subentry"]),
            strings(&at::CREATE_TIMESTAMP, [loaded.as_str()]),
            strings(&at::MODIFY_TIMESTAMP, [loaded.as_str()]),
            strings(&at::ENTRY_DN, [SUBSCHEMA_DN]),
            strings(&at::SUBSCHEMA_SUBENTRY, [SUBSCHEMA_DN]),
        ],
    )
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::description::{
        AttributeTypeDescription, MatchingRuleDescription, MatchingRuleUseDescription,
        ObjectClassDescription, SyntaxDescription,
    };
    use super::*;
    use at::{Matching, Returned};

    /// The published values of one subschema attribute, as text.
    fn published(kind: &at::AttributeType) -> Vec<String> {
        subschema()
            .attribute(kind)
            .map(|a| {
                a.values()
                    .map(|v| String::from_utf8(v.to_vec()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Names and OID of a definition, lowercased, for reference checks.
    fn keys(oid: &str, names: &[String]) -> Vec<String> {
        std::iter::once(oid.to_string())
            .chain(names.iter().map(|n| n.to_ascii_lowercase()))
            .collect()
    }

    /// Registers `keys`, failing on any already taken.
    fn claim(taken: &mut HashSet<String>, keys: Vec<String>, what: &str) {
        for key in keys {
            assert!(taken.insert(key.clone()), "{key} defined twice ({what})");
        }
    }

    #[allow(clippy::too_many_lines, reason = "one case, read top to bottom")]
    #[test]
    fn every_published_description_is_well_formed_and_consistent() {
        let syntaxes: Vec<SyntaxDescription> = published(&at::LDAP_SYNTAXES)
            .iter()
            .map(|t| SyntaxDescription::parse(t).unwrap())
            .collect();
        let rules: Vec<MatchingRuleDescription> = published(&at::MATCHING_RULES)
            .iter()
            .map(|t| MatchingRuleDescription::parse(t).unwrap())
            .collect();
        let types: Vec<AttributeTypeDescription> = published(&at::ATTRIBUTE_TYPES)
            .iter()
            .map(|t| AttributeTypeDescription::parse(t).unwrap())
            .collect();
        let classes: Vec<ObjectClassDescription> = published(&at::OBJECT_CLASSES)
            .iter()
            .map(|t| ObjectClassDescription::parse(t).unwrap())
            .collect();
        assert!(syntaxes.len() >= 45, "{}", syntaxes.len());
        assert!(rules.len() >= 40, "{}", rules.len());
        assert!(types.len() >= 120, "{}", types.len());
        assert!(classes.len() >= 40, "{}", classes.len());

        // No OID twice; no name twice among types, classes and rules.
        let mut taken = HashSet::new();
        for s in &syntaxes {
            claim(&mut taken, vec![s.oid.clone()], "syntax");
        }
        for r in &rules {
            claim(&mut taken, keys(&r.oid, &r.names), "matching rule");
        }
        for t in &types {
            claim(&mut taken, keys(&t.oid, &t.names), "attribute type");
        }
        for c in &classes {
            claim(&mut taken, keys(&c.oid, &c.names), "object class");
        }

        let syntax_oids: HashSet<&str> = syntaxes.iter().map(|s| s.oid.as_str()).collect();
        let rule_keys: HashSet<String> =
            rules.iter().flat_map(|r| keys(&r.oid, &r.names)).collect();
        let type_by_key: HashMap<String, &AttributeTypeDescription> = types
            .iter()
            .flat_map(|t| keys(&t.oid, &t.names).into_iter().map(move |k| (k, t)))
            .collect();
        let class_keys: HashSet<String> = classes
            .iter()
            .flat_map(|c| keys(&c.oid, &c.names))
            .collect();
        for r in &rules {
            assert!(syntax_oids.contains(r.syntax.as_str()), "{r}");
        }
        for t in &types {
            if let Some(syntax) = &t.syntax {
                assert!(syntax_oids.contains(syntax.as_str()), "{t}");
            }
            for rule in [&t.equality, &t.ordering, &t.substr].into_iter().flatten() {
                assert!(rule_keys.contains(&rule.to_ascii_lowercase()), "{t}");
            }
            // The SUP chain resolves, ends, and keeps the usage.
            let mut at = t;
            for _ in 0..types.len() {
                let Some(sup) = &at.sup else { break };
                let parent = type_by_key
                    .get(&sup.to_ascii_lowercase())
                    .unwrap_or_else(|| panic!("{t}: SUP {sup} undefined"));
                assert_eq!(parent.usage, at.usage, "{t}");
                at = parent;
            }
            assert!(at.sup.is_none(), "{t}: SUP chain loops");
            assert!(at.syntax.is_some(), "{t}: no syntax up the chain");
            assert!(!t.no_user_modification || t.usage.is_operational(), "{t}");
        }
        for c in &classes {
            for sup in &c.sup {
                assert!(class_keys.contains(&sup.to_ascii_lowercase()), "{c}");
            }
            for a in c.must.iter().chain(&c.may) {
                assert!(
                    type_by_key.contains_key(&a.to_ascii_lowercase()),
                    "{c}: {a}"
                );
            }
        }
        for u in published(&at::MATCHING_RULE_USE) {
            let use_ = MatchingRuleUseDescription::parse(&u).unwrap();
            assert!(rule_keys.contains(&use_.oid), "{u}");
            for a in &use_.applies {
                assert!(type_by_key.contains_key(&a.to_ascii_lowercase()), "{u}");
            }
        }
    }

    #[test]
    fn rendering_parses_back_to_the_loaded_definitions() {
        let schema = standard();
        for d in &schema.attribute_types {
            assert_eq!(&AttributeTypeDescription::parse(&d.to_string()).unwrap(), d);
        }
        for d in &schema.object_classes {
            assert_eq!(&ObjectClassDescription::parse(&d.to_string()).unwrap(), d);
        }
        for d in &schema.matching_rules {
            assert_eq!(&MatchingRuleDescription::parse(&d.to_string()).unwrap(), d);
        }
        for d in &schema.syntaxes {
            assert_eq!(&SyntaxDescription::parse(&d.to_string()).unwrap(), d);
        }
    }

    #[test]
    fn well_known_definitions_read_as_the_rfcs_write_them() {
        let types = published(&at::ATTRIBUTE_TYPES);
        for expected in [
            "( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name X-ORIGIN 'RFC 4519' )",
            "( 0.9.2342.19200300.100.1.41 NAME ( 'mobile' 'mobileTelephoneNumber' ) \
             EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch \
             SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 X-ORIGIN 'RFC 4524' )",
            "( 2.5.21.6 NAME 'objectClasses' EQUALITY objectIdentifierFirstComponentMatch \
             SYNTAX 1.3.6.1.4.1.1466.115.121.1.37 USAGE directoryOperation X-ORIGIN 'RFC 4512' )",
            "( 0.9.2342.19200300.100.1.60 NAME 'jpegPhoto' DESC 'a JPEG image' \
             SYNTAX 1.3.6.1.4.1.1466.115.121.1.28 X-ORIGIN 'RFC 2798' )",
        ] {
            assert!(
                types.iter().any(|t| t == expected),
                "{expected} not in {types:#?}"
            );
        }
        let classes = published(&at::OBJECT_CLASSES);
        let group = classes
            .iter()
            .find(|c| c.contains("'groupOfNames'"))
            .unwrap();
        assert!(group.starts_with("( 2.5.6.9 "), "{group}");
        assert!(group.contains("MUST ( member $ cn )"), "{group}");
        let uses = published(&at::MATCHING_RULE_USE);
        let telephone = uses.iter().find(|u| u.starts_with("( 2.5.13.20 ")).unwrap();
        for name in ["telephoneNumber", "mobile", "homePhone", "pager"] {
            assert!(telephone.contains(&format!(" {name} ")), "{telephone}");
        }
        assert!(!telephone.contains(" mail "), "{telephone}");
    }

    /// The syntax a served attribute's [`Matching`] compares values of.
    fn fits(matching: Matching, syntax: &str) -> bool {
        const DN: &str = "1.3.6.1.4.1.1466.115.121.1.12";
        const TELEPHONE: &str = "1.3.6.1.4.1.1466.115.121.1.50";
        const BYTES: [&str; 2] = [
            "1.3.6.1.4.1.1466.115.121.1.40",
            "1.3.6.1.4.1.1466.115.121.1.8",
        ];
        match matching {
            Matching::Dn => syntax == DN,
            Matching::Telephone => syntax == TELEPHONE,
            Matching::Octets => BYTES.contains(&syntax),
            Matching::CaseIgnore => ![DN, TELEPHONE].contains(&syntax) && !BYTES.contains(&syntax),
        }
    }

    #[test]
    fn every_served_attribute_is_defined_alike() {
        let schema = standard();
        for served in at::ALL {
            let d = schema
                .attribute_type(served.schema_name())
                .unwrap_or_else(|| panic!("{} is not in the schema", served.name));
            assert!(
                d.names.iter().any(|n| n == served.schema_name()),
                "{} is published as {:?}",
                served.name,
                d.names
            );
            for alias in served.names {
                assert!(
                    d.names.iter().any(|n| n.eq_ignore_ascii_case(alias)),
                    "{alias} is no name of {}",
                    served.name
                );
            }
            let syntax = schema.syntax_of(d).unwrap_or_default();
            assert!(fits(served.matching, syntax), "{}: {syntax}", served.name);
            let operational = served.returned != Returned::User;
            assert_eq!(operational, d.usage.is_operational(), "{}", served.name);
        }
    }

    #[test]
    fn the_subschema_carries_its_timestamps() {
        let entry = subschema();
        let stamp = entry.attribute(&at::CREATE_TIMESTAMP).unwrap();
        let stamp: Vec<&[u8]> = stamp.values().collect();
        let text = String::from_utf8(stamp[0].to_vec()).unwrap();
        assert_eq!(text.len(), "20261127010000Z".len(), "{text}");
        assert!(text.ends_with('Z') && text.starts_with("20"), "{text}");
        assert_eq!(
            entry
                .attribute(&at::MODIFY_TIMESTAMP)
                .unwrap()
                .values()
                .collect::<Vec<_>>(),
            stamp
        );
    }
}
