//! The attribute types congvu serves: their names and aliases, how their values are
//! matched (the equality rule of their syntax), which attribute lists return them, and how a
//! client's attribute description (a name, an alias, an OID, a supertype) resolves to them
//! through the published schema.

use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

use super::schema;

/// How values of an attribute compare (RFC 4517 matching rules, reduced to what the
/// served attributes use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// caseIgnoreMatch / caseIgnoreIA5Match: Unicode case folding, NFC, spaces collapsed.
    CaseIgnore,
    /// telephoneNumberMatch: case-insensitive, spaces and hyphens ignored.
    Telephone,
    /// distinguishedNameMatch.
    Dn,
    /// octetStringMatch (certificates): bytes as they are.
    Octets,
}

/// Which attribute lists of a search return an attribute (RFC 4511 §4.5.1.8, RFC 3673);
/// naming it always does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// A user attribute: returned for `*` (or an empty list).
    User,
    /// An operational attribute: returned for `+`.
    Operational,
    /// An operational attribute of the root DSE or the subschema entry, returned for `*`
    /// too: clients probing a server rarely ask for them with `+`.
    UserOrOperational,
}

/// One served attribute type.
#[derive(Debug)]
pub struct AttributeType {
    /// The name written in results.
    pub name: &'static str,
    /// The lowercase name and aliases a client may use.
    pub names: &'static [&'static str],
    pub matching: Matching,
    pub returned: Returned,
}

impl AttributeType {
    /// The name the schema defines, without the `;binary` option results carry.
    pub fn schema_name(&self) -> &'static str {
        self.name.split(';').next().unwrap_or(self.name)
    }
}

macro_rules! attribute_types {
    ($($id:ident: $name:literal [$($alias:literal),*] $matching:ident $returned:ident;)*) => {
        $(pub static $id: AttributeType = AttributeType {
            name: $name,
            names: &[$($alias),*],
            matching: Matching::$matching,
            returned: Returned::$returned,
        };)*
        /// Every served attribute type.
        pub static ALL: &[&AttributeType] = &[$(&$id),*];
    };
}

attribute_types! {
    OBJECT_CLASS: "objectClass" ["objectclass"] CaseIgnore User;
    UID: "uid" ["uid", "userid"] CaseIgnore User;
    CN: "cn" ["cn", "commonname"] CaseIgnore User;
    SN: "sn" ["sn", "surname"] CaseIgnore User;
    GIVEN_NAME: "givenName" ["givenname", "gn"] CaseIgnore User;
    DISPLAY_NAME: "displayName" ["displayname"] CaseIgnore User;
    MAIL: "mail" ["mail", "rfc822mailbox"] CaseIgnore User;
    MAIL_ALTERNATE: "mailAlternateAddress" ["mailalternateaddress"] CaseIgnore User;
    TITLE: "title" ["title"] CaseIgnore User;
    TELEPHONE: "telephoneNumber" ["telephonenumber"] Telephone User;
    OU: "ou" ["ou", "organizationalunitname"] CaseIgnore User;
    DEPARTMENT: "departmentNumber" ["departmentnumber"] CaseIgnore User;
    EMPLOYEE_NUMBER: "employeeNumber" ["employeenumber"] CaseIgnore User;
    MEMBER_OF: "memberOf" ["memberof"] Dn User;
    CERTIFICATE: "userCertificate;binary" ["usercertificate"] Octets User;
    DESCRIPTION: "description" ["description"] CaseIgnore User;
    BUSINESS_CATEGORY: "businessCategory" ["businesscategory"] CaseIgnore User;
    SEE_ALSO: "seeAlso" ["seealso"] Dn User;
    MEMBER: "member" ["member"] Dn User;
    DC: "dc" ["dc", "domaincomponent"] CaseIgnore User;
    USER_PASSWORD: "userPassword" ["userpassword"] Octets User;
    ENTRY_UUID: "entryUUID" ["entryuuid"] CaseIgnore Operational;
    ENTRY_DN: "entryDN" ["entrydn"] Dn Operational;
    CREATE_TIMESTAMP: "createTimestamp" ["createtimestamp"] CaseIgnore Operational;
    MODIFY_TIMESTAMP: "modifyTimestamp" ["modifytimestamp"] CaseIgnore Operational;
    STRUCTURAL_OBJECT_CLASS: "structuralObjectClass" ["structuralobjectclass"] CaseIgnore Operational;
    HAS_SUBORDINATES: "hasSubordinates" ["hassubordinates"] CaseIgnore Operational;
    SUBSCHEMA_SUBENTRY: "subschemaSubentry" ["subschemasubentry"] Dn Operational;
    // The root DSE's and the subschema entry's own attributes.
    NAMING_CONTEXTS: "namingContexts" ["namingcontexts"] Dn UserOrOperational;
    SUPPORTED_LDAP_VERSION: "supportedLDAPVersion" ["supportedldapversion"] CaseIgnore UserOrOperational;
    SUPPORTED_CONTROL: "supportedControl" ["supportedcontrol"] CaseIgnore UserOrOperational;
    SUPPORTED_EXTENSION: "supportedExtension" ["supportedextension"] CaseIgnore UserOrOperational;
    SUPPORTED_FEATURES: "supportedFeatures" ["supportedfeatures"] CaseIgnore UserOrOperational;
    SUPPORTED_SASL: "supportedSASLMechanisms" ["supportedsaslmechanisms"] CaseIgnore UserOrOperational;
    VENDOR_NAME: "vendorName" ["vendorname"] CaseIgnore UserOrOperational;
    VENDOR_VERSION: "vendorVersion" ["vendorversion"] CaseIgnore UserOrOperational;
    ATTRIBUTE_TYPES: "attributeTypes" ["attributetypes"] CaseIgnore UserOrOperational;
    OBJECT_CLASSES: "objectClasses" ["objectclasses"] CaseIgnore UserOrOperational;
    LDAP_SYNTAXES: "ldapSyntaxes" ["ldapsyntaxes"] CaseIgnore UserOrOperational;
    MATCHING_RULES: "matchingRules" ["matchingrules"] CaseIgnore UserOrOperational;
    MATCHING_RULE_USE: "matchingRuleUse" ["matchingruleuse"] CaseIgnore UserOrOperational;
}

/// The attribute type a client's attribute description names: case-insensitive, by any of
/// its names or its OID (RFC 4512 §2.5), options such as `;binary` ignored. `None` for a
/// type congvu does not serve.
pub fn lookup(description: &str) -> Option<&'static AttributeType> {
    let base = description.split(';').next().unwrap_or_default().trim();
    let lower = base.to_ascii_lowercase();
    if let Some(served) = ALL
        .iter()
        .copied()
        .find(|t| t.names.contains(&lower.as_str()))
    {
        return Some(served);
    }
    let defined = schema::standard().attribute_type(base)?;
    ALL.iter().copied().find(|t| {
        defined
            .names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(t.schema_name()))
    })
}

/// The served attribute types an entry of a search's attribute list selects: the type it
/// names and every served subtype of it (RFC 4511 §4.5.1.8), so `name` selects `cn`, `sn`,
/// `givenName`, `title` and `ou`. Empty for a name the schema does not define, and for a
/// defined type no entry carries (`mobile`, `jpegPhoto`): such a request returns nothing
/// for it.
pub fn selected_by(description: &str) -> Vec<&'static AttributeType> {
    let base = description.split(';').next().unwrap_or_default().trim();
    schema::standard()
        .attribute_type(base)
        .map_or_else(Vec::new, served_under)
}

/// The served types that are `defined` or derive from it.
fn served_under(defined: &schema::AttributeTypeDescription) -> Vec<&'static AttributeType> {
    served_lineage()
        .iter()
        .filter(|(_, lineage)| lineage.contains(&defined.oid.as_str()))
        .map(|(served, _)| *served)
        .collect()
}

/// Each served type with the OIDs of its schema type and every supertype. Worked out once:
/// every filter item and every attribute list of every search asks which served types a
/// description selects, and walking the schema for each of them then cost more than the rest
/// of the search.
fn served_lineage() -> &'static [(&'static AttributeType, Vec<&'static str>)] {
    static LINEAGE: LazyLock<Vec<(&'static AttributeType, Vec<&'static str>)>> =
        LazyLock::new(|| {
            let schema = schema::standard();
            ALL.iter()
                .map(|served| {
                    let lineage = schema
                        .attribute_type(served.schema_name())
                        .map(|defined| {
                            let chain = schema.supertypes(defined);
                            chain.iter().map(|t| t.oid.as_str()).collect()
                        })
                        .unwrap_or_default();
                    (*served, lineage)
                })
                .collect()
        });
    &LINEAGE
}

/// What an attribute description in a search filter stands for (RFC 4512 §2.5): the served
/// types whose values it covers and the rules the schema gives the type it names.
#[derive(Debug, Clone)]
pub struct Described {
    /// The type and its served subtypes (RFC 4512 §2.5.1: `name` covers `cn`, `sn`, ...).
    /// Empty for a type no entry carries (`mobile`) and for a description with a language
    /// tag (`cn;lang-vi`): congvu stores no tagged values.
    pub served: Vec<&'static AttributeType>,
    /// The OIDs of the type's equality, ordering and substrings rules, inherited from its
    /// supertypes.
    pub equality: Option<&'static str>,
    pub ordering: Option<&'static str>,
    pub substr: Option<&'static str>,
    /// The OID of the type's syntax, inherited likewise.
    pub syntax: Option<&'static str>,
}

/// A matching rule the schema defines: its OID and the syntax of its assertion values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleRef {
    pub oid: &'static str,
    pub syntax: &'static str,
}

impl Described {
    /// Whether `rule` may be applied to the type in an extensible match, as the subschema's
    /// `matchingRuleUse` publishes it (RFC 4512 §4.1.4): the type's syntax is the rule's
    /// assertion syntax, or the type names the rule as one of its own.
    pub fn accepts(&self, rule: RuleRef) -> bool {
        self.syntax == Some(rule.syntax)
            || [self.equality, self.ordering, self.substr].contains(&Some(rule.oid))
    }
}

/// What a filter's attribute description names, by name, alias or OID, case-insensitive.
/// Options: `binary` is ignored, a language tag (`lang-vi`) selects tagged values, of which
/// congvu has none. `None` for a type the schema does not define and for any other option,
/// which slapd does not recognize either: a filter item on it is Undefined.
pub fn describe(description: &str) -> Option<Described> {
    let mut parts = description.trim().split(';');
    let base = parts.next().unwrap_or_default();
    let mut tagged = false;
    for option in parts {
        let option = option.to_ascii_lowercase();
        match option.strip_prefix("lang-") {
            Some(tag) if !tag.is_empty() => tagged = true,
            _ if option == "binary" => {}
            _ => return None,
        }
    }
    let schema = schema::standard();
    let defined = schema.attribute_type(base)?;
    let chain = schema.supertypes(defined);
    let rule_oid = |rule: Option<&'static str>| {
        rule.and_then(|r| schema.matching_rule(r))
            .map(|r| r.oid.as_str())
    };
    Some(Described {
        served: if tagged {
            Vec::new()
        } else {
            served_under(defined)
        },
        equality: rule_oid(schema.equality_of(defined)),
        ordering: rule_oid(chain.iter().find_map(|t| t.ordering.as_deref())),
        substr: rule_oid(chain.iter().find_map(|t| t.substr.as_deref())),
        syntax: schema.syntax_of(defined),
    })
}

/// The matching rule named or numbered `key`, if the schema defines it.
pub fn matching_rule(key: &str) -> Option<RuleRef> {
    schema::standard()
        .matching_rule(key.trim())
        .map(|r| RuleRef {
            oid: r.oid.as_str(),
            syntax: r.syntax.as_str(),
        })
}

/// Case folding for caseIgnoreMatch: NFC (so a name typed with combining marks matches one
/// typed precomposed), lowercase, runs of spaces as one, no leading or trailing spaces.
pub fn fold_case(value: &str) -> String {
    let lowered: String = value.nfc().flat_map(char::to_lowercase).collect();
    lowered.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The comparable form of `value` under `matching`.
pub fn normalize(matching: Matching, value: &[u8]) -> String {
    match matching {
        Matching::CaseIgnore => fold_case(&String::from_utf8_lossy(value)),
        Matching::Telephone => fold_case(&String::from_utf8_lossy(value))
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect(),
        Matching::Dn => {
            let text = String::from_utf8_lossy(value);
            super::dn::normalize(&text).unwrap_or_else(|| fold_case(&text))
        }
        // Bytes as they are, in hex: DER is not text, and lossy text would make two
        // certificates equal.
        Matching::Octets => hex::encode(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_options_resolve() {
        assert_eq!(lookup("CommonName").map(|t| t.name), Some("cn"));
        assert_eq!(
            lookup("userCertificate;binary").map(|t| t.name),
            Some("userCertificate;binary")
        );
        assert_eq!(lookup("USERID").map(|t| t.name), Some("uid"));
        assert!(lookup("posixAccount").is_none());
        // By OID, and by a name only the schema lists.
        assert_eq!(lookup("2.5.4.3").map(|t| t.name), Some("cn"));
        assert_eq!(
            lookup("0.9.2342.19200300.100.1.3").map(|t| t.name),
            Some("mail")
        );
        assert!(lookup("2.5.4.99").is_none());
    }

    #[test]
    fn a_supertype_selects_its_served_subtypes() {
        let names = |d: &str| -> Vec<&str> { selected_by(d).iter().map(|t| t.name).collect() };
        assert_eq!(names("name"), ["cn", "sn", "givenName", "title", "ou"]);
        assert_eq!(names("distinguishedName"), ["seeAlso", "member"]);
        assert_eq!(names("commonName"), ["cn"]);
        assert_eq!(names("userCertificate;binary"), ["userCertificate;binary"]);
        // Defined but carried by no entry; not defined at all.
        assert!(names("mobile").is_empty());
        assert!(names("jpegPhoto").is_empty());
        assert!(names("noSuchAttribute").is_empty());
    }

    #[test]
    fn vietnamese_folds_whatever_the_input_form() {
        // "Nguyễn" precomposed and with combining marks (e + circumflex + tilde).
        let precomposed = "NGUYỄN  Văn An";
        let decomposed = "nguye\u{302}\u{303}n va\u{306}n an";
        assert_eq!(fold_case(precomposed), fold_case(decomposed));
        assert_eq!(fold_case(precomposed), "nguyễn văn an");
    }

    #[test]
    fn telephone_numbers_ignore_separators() {
        assert_eq!(
            normalize(Matching::Telephone, b"0211 3-862-135"),
            normalize(Matching::Telephone, b"02113862135")
        );
    }
}
