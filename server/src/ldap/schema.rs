//! The root DSE (what a client learns about the server before binding) and the subschema
//! entry (the attribute types and object classes served, in RFC 4512 form), both readable
//! by anyone.

use super::attributes as at;
use super::tree::{strings, Entry, EntryKind};

/// The subschema entry's DN.
pub const SUBSCHEMA_DN: &str = "cn=Subschema";

pub const OID_PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
pub const OID_START_TLS: &str = "1.3.6.1.4.1.1466.20037";
pub const OID_WHO_AM_I: &str = "1.3.6.1.4.1.4203.1.11.3";
pub const OID_PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";
/// The password policy control (draft-behera-ldap-password-policy), as OpenLDAP's ppolicy.
pub const OID_PASSWORD_POLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// RFC 3673: `+` selects all operational attributes.
const OID_ALL_OPERATIONAL: &str = "1.3.6.1.4.1.4203.1.5.1";

/// The root DSE for a tree under `base_dn`.
pub fn root_dse(base_dn: &str) -> Entry {
    Entry {
        dn: String::new(),
        key: String::new(),
        kind: EntryKind::Structure,
        attributes: vec![
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
    }
}

/// The subschema entry.
pub fn subschema() -> Entry {
    Entry {
        dn: SUBSCHEMA_DN.to_string(),
        key: "cn=subschema".to_string(),
        kind: EntryKind::Structure,
        attributes: vec![
            strings(
                &at::OBJECT_CLASS,
                ["top", "subentry", "subschema", "extensibleObject"],
            ),
            strings(&at::CN, ["Subschema"]),
            strings(&at::ATTRIBUTE_TYPES, ATTRIBUTE_TYPES.iter().copied()),
            strings(&at::OBJECT_CLASSES, OBJECT_CLASSES.iter().copied()),
            strings(&at::LDAP_SYNTAXES, LDAP_SYNTAXES.iter().copied()),
            strings(&at::MATCHING_RULES, MATCHING_RULES.iter().copied()),
        ],
    }
}

const LDAP_SYNTAXES: &[&str] = &[
    "( 1.3.6.1.4.1.1466.115.121.1.7 DESC 'Boolean' )",
    "( 1.3.6.1.4.1.1466.115.121.1.8 DESC 'Certificate' X-BINARY-TRANSFER-REQUIRED 'TRUE' X-NOT-HUMAN-READABLE 'TRUE' )",
    "( 1.3.6.1.4.1.1466.115.121.1.12 DESC 'Distinguished Name' )",
    "( 1.3.6.1.4.1.1466.115.121.1.15 DESC 'Directory String' )",
    "( 1.3.6.1.4.1.1466.115.121.1.24 DESC 'Generalized Time' )",
    "( 1.3.6.1.4.1.1466.115.121.1.26 DESC 'IA5 String' )",
    "( 1.3.6.1.4.1.1466.115.121.1.27 DESC 'INTEGER' )",
    "( 1.3.6.1.4.1.1466.115.121.1.38 DESC 'OID' )",
    "( 1.3.6.1.4.1.1466.115.121.1.40 DESC 'Octet String' )",
    "( 1.3.6.1.4.1.1466.115.121.1.50 DESC 'Telephone Number' )",
    "( 1.3.6.1.1.16.1 DESC 'UUID' )",
];

const MATCHING_RULES: &[&str] = &[
    "( 2.5.13.0 NAME 'objectIdentifierMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.38 )",
    "( 2.5.13.1 NAME 'distinguishedNameMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )",
    "( 2.5.13.2 NAME 'caseIgnoreMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    "( 2.5.13.4 NAME 'caseIgnoreSubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
    "( 2.5.13.17 NAME 'octetStringMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )",
    "( 2.5.13.20 NAME 'telephoneNumberMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )",
    "( 2.5.13.27 NAME 'generalizedTimeMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 )",
    "( 1.3.6.1.4.1.1466.109.114.2 NAME 'caseIgnoreIA5Match' SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )",
    "( 1.3.6.1.1.16.2 NAME 'UUIDMatch' SYNTAX 1.3.6.1.1.16.1 )",
];

const ATTRIBUTE_TYPES: &[&str] = &[
    "( 2.5.4.0 NAME 'objectClass' EQUALITY objectIdentifierMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.38 )",
    "( 2.5.4.41 NAME 'name' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    "( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )",
    "( 2.5.4.4 NAME ( 'sn' 'surname' ) SUP name )",
    "( 2.5.4.42 NAME ( 'givenName' 'gn' ) SUP name )",
    "( 2.5.4.12 NAME 'title' SUP name )",
    "( 2.5.4.11 NAME ( 'ou' 'organizationalUnitName' ) SUP name )",
    "( 2.5.4.13 NAME 'description' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    "( 2.5.4.15 NAME 'businessCategory' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    "( 2.5.4.20 NAME 'telephoneNumber' EQUALITY telephoneNumberMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )",
    "( 2.5.4.34 NAME 'seeAlso' SUP distinguishedName )",
    "( 2.5.4.49 NAME 'distinguishedName' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )",
    "( 2.5.4.31 NAME 'member' SUP distinguishedName )",
    "( 2.5.4.35 NAME 'userPassword' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )",
    "( 2.5.4.36 NAME 'userCertificate' DESC 'X.509 certificate, transferred with ;binary' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.8 )",
    "( 0.9.2342.19200300.100.1.1 NAME ( 'uid' 'userid' ) EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    "( 0.9.2342.19200300.100.1.3 NAME ( 'mail' 'rfc822Mailbox' ) EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )",
    "( 0.9.2342.19200300.100.1.25 NAME ( 'dc' 'domainComponent' ) EQUALITY caseIgnoreIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )",
    "( 2.16.840.1.113730.3.1.2 NAME 'departmentNumber' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    "( 2.16.840.1.113730.3.1.3 NAME 'employeeNumber' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
    "( 2.16.840.1.113730.3.1.241 NAME 'displayName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
    "( 2.16.840.1.113730.3.1.13 NAME 'mailAlternateAddress' DESC 'the official''s aliases' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )",
    "( 1.2.840.113556.1.2.102 NAME 'memberOf' DESC 'groups containing the entry, nested included' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 NO-USER-MODIFICATION )",
    "( 1.3.6.1.1.16.4 NAME 'entryUUID' EQUALITY UUIDMatch SYNTAX 1.3.6.1.1.16.1 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
    "( 1.3.6.1.1.20 NAME 'entryDN' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
    "( 2.5.18.1 NAME 'createTimestamp' EQUALITY generalizedTimeMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
    "( 2.5.18.2 NAME 'modifyTimestamp' EQUALITY generalizedTimeMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
    "( 2.5.21.9 NAME 'structuralObjectClass' EQUALITY objectIdentifierMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.38 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
    "( 2.5.18.9 NAME 'hasSubordinates' SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
    "( 2.5.18.10 NAME 'subschemaSubentry' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
];

const OBJECT_CLASSES: &[&str] = &[
    "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
    "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( userPassword $ telephoneNumber $ seeAlso $ description ) )",
    "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL MAY ( title $ ou $ telephoneNumber ) )",
    "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL MAY ( departmentNumber $ displayName $ employeeNumber $ givenName $ mail $ uid $ userCertificate ) )",
    "( 2.5.6.5 NAME 'organizationalUnit' SUP top STRUCTURAL MUST ou MAY ( businessCategory $ description $ seeAlso $ telephoneNumber ) )",
    "( 2.5.6.17 NAME 'groupOfNames' SUP top STRUCTURAL MUST ( member $ cn ) MAY ( businessCategory $ seeAlso $ ou $ description $ mail ) )",
    "( 2.5.6.11 NAME 'applicationProcess' SUP top STRUCTURAL MUST cn MAY ( seeAlso $ ou $ description ) )",
    "( 0.9.2342.19200300.100.4.13 NAME 'domain' SUP top STRUCTURAL MUST dc MAY description )",
    "( 1.3.6.1.4.1.1466.344 NAME 'dcObject' SUP top AUXILIARY MUST dc )",
    "( 2.5.20.1 NAME 'subschema' AUXILIARY MAY ( ldapSyntaxes $ matchingRules $ attributeTypes $ objectClasses ) )",
    "( 1.3.6.1.4.1.1466.101.120.111 NAME 'extensibleObject' SUP top AUXILIARY )",
];
