//! The attribute types congvu serves: their names and aliases, how their values are
//! matched (the equality rule of their syntax), and whether they are operational.

use unicode_normalization::UnicodeNormalization;

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

/// One served attribute type.
#[derive(Debug)]
pub struct AttributeType {
    /// The name written in results.
    pub name: &'static str,
    /// The lowercase name and aliases a client may use.
    pub names: &'static [&'static str],
    pub matching: Matching,
    /// Returned only when asked for by name or with `+`.
    pub operational: bool,
}

macro_rules! attribute_types {
    ($($id:ident: $name:literal [$($alias:literal),*] $matching:ident $op:literal;)*) => {
        $(pub static $id: AttributeType = AttributeType {
            name: $name,
            names: &[$($alias),*],
            matching: Matching::$matching,
            operational: $op,
        };)*
        /// Every served attribute type.
        pub static ALL: &[&AttributeType] = &[$(&$id),*];
    };
}

attribute_types! {
    OBJECT_CLASS: "objectClass" ["objectclass"] CaseIgnore false;
    UID: "uid" ["uid", "userid"] CaseIgnore false;
    CN: "cn" ["cn", "commonname"] CaseIgnore false;
    SN: "sn" ["sn", "surname"] CaseIgnore false;
    GIVEN_NAME: "givenName" ["givenname", "gn"] CaseIgnore false;
    DISPLAY_NAME: "displayName" ["displayname"] CaseIgnore false;
    MAIL: "mail" ["mail", "rfc822mailbox"] CaseIgnore false;
    MAIL_ALTERNATE: "mailAlternateAddress" ["mailalternateaddress"] CaseIgnore false;
    TITLE: "title" ["title"] CaseIgnore false;
    TELEPHONE: "telephoneNumber" ["telephonenumber"] Telephone false;
    OU: "ou" ["ou", "organizationalunitname"] CaseIgnore false;
    DEPARTMENT: "departmentNumber" ["departmentnumber"] CaseIgnore false;
    EMPLOYEE_NUMBER: "employeeNumber" ["employeenumber"] CaseIgnore false;
    MEMBER_OF: "memberOf" ["memberof"] Dn false;
    CERTIFICATE: "userCertificate;binary" ["usercertificate"] Octets false;
    DESCRIPTION: "description" ["description"] CaseIgnore false;
    BUSINESS_CATEGORY: "businessCategory" ["businesscategory"] CaseIgnore false;
    SEE_ALSO: "seeAlso" ["seealso"] Dn false;
    MEMBER: "member" ["member"] Dn false;
    DC: "dc" ["dc", "domaincomponent"] CaseIgnore false;
    USER_PASSWORD: "userPassword" ["userpassword"] Octets false;
    ENTRY_UUID: "entryUUID" ["entryuuid"] CaseIgnore true;
    ENTRY_DN: "entryDN" ["entrydn"] Dn true;
    CREATE_TIMESTAMP: "createTimestamp" ["createtimestamp"] CaseIgnore true;
    MODIFY_TIMESTAMP: "modifyTimestamp" ["modifytimestamp"] CaseIgnore true;
    STRUCTURAL_OBJECT_CLASS: "structuralObjectClass" ["structuralobjectclass"] CaseIgnore true;
    HAS_SUBORDINATES: "hasSubordinates" ["hassubordinates"] CaseIgnore true;
    SUBSCHEMA_SUBENTRY: "subschemaSubentry" ["subschemasubentry"] Dn true;
    // The root DSE's and the subschema entry's own attributes. Returned for `*` too, as
    // clients probing a server rarely ask for them with `+`.
    NAMING_CONTEXTS: "namingContexts" ["namingcontexts"] Dn false;
    SUPPORTED_LDAP_VERSION: "supportedLDAPVersion" ["supportedldapversion"] CaseIgnore false;
    SUPPORTED_CONTROL: "supportedControl" ["supportedcontrol"] CaseIgnore false;
    SUPPORTED_EXTENSION: "supportedExtension" ["supportedextension"] CaseIgnore false;
    SUPPORTED_FEATURES: "supportedFeatures" ["supportedfeatures"] CaseIgnore false;
    SUPPORTED_SASL: "supportedSASLMechanisms" ["supportedsaslmechanisms"] CaseIgnore false;
    VENDOR_NAME: "vendorName" ["vendorname"] CaseIgnore false;
    VENDOR_VERSION: "vendorVersion" ["vendorversion"] CaseIgnore false;
    ATTRIBUTE_TYPES: "attributeTypes" ["attributetypes"] CaseIgnore false;
    OBJECT_CLASSES: "objectClasses" ["objectclasses"] CaseIgnore false;
    LDAP_SYNTAXES: "ldapSyntaxes" ["ldapsyntaxes"] CaseIgnore false;
    MATCHING_RULES: "matchingRules" ["matchingrules"] CaseIgnore false;
}

/// The attribute type a client's attribute description names: case-insensitive, aliases
/// accepted, options such as `;binary` ignored. `None` for a type congvu does not serve.
pub fn lookup(description: &str) -> Option<&'static AttributeType> {
    let base = description.split(';').next().unwrap_or_default();
    let lower = base.trim().to_ascii_lowercase();
    ALL.iter()
        .copied()
        .find(|t| t.names.contains(&lower.as_str()))
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
