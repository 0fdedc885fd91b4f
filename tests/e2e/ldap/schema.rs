//! The published schema as clients read it. Python's ldap3 with its defaults reads the root
//! DSE and `cn=Subschema` at every bind and checks each attribute name it is asked to send
//! against that schema, so it is the client that fails first when a definition is missing;
//! it searches, then binds again over the same `Server` object and searches again. The real
//! `ldapsearch` reads `cn=Subschema`, and every definition of RFC 4512, 4517, 4519, 4524 and
//! 2798, with those of RFC 4523, 4530, 5020, 2589 and 3045 that congvu serves, listed below
//! from the RFCs themselves, must be there as written. Finally every entry of the
//! province is checked against the schema the server publishes: object classes defined,
//! MUSTs present, each attribute allowed by a class or operational, values of its syntax.
//!
//! python3-ldap3 and ldap-utils are Debian packages CI installs; a machine without them fails
//! these tests and says what to install.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use base64::Engine as _;
use congvu_tests::ldap::{self, Entry};
use congvu_tests::Backend;
use ldap3::Scope;

use super::fixture::{
    annv_certificate, group, Province, ANNV, BASE, HRSYNC, MAILAPP, PORTAL, START_GENERALIZED,
    VINHYEN_HR,
};
use super::ldap_tests;

ldap_tests!(
    python_ldap3_checks_names_against_the_schema_and_reuses_its_server,
    ldapsearch_reads_every_standard_definition,
    every_entry_satisfies_the_published_schema,
);

/// Attribute types as the RFCs define them, `;` after each: OID, first NAME, then the fields
/// the RFC gives (SUP, EQUALITY, ORDERING, SUBSTR, SYNTAX, USAGE, SINGLE-VALUE). A bare SYNTAX
/// number N stands for 1.3.6.1.4.1.1466.115.121.1.N. Lines starting with `#` name the RFC.
const ATTRIBUTE_TYPES: &str = "
# RFC 4512
2.5.4.1 aliasedObjectName EQUALITY distinguishedNameMatch SYNTAX 12 SINGLE-VALUE;
2.5.4.0 objectClass EQUALITY objectIdentifierMatch SYNTAX 38;
2.5.18.3 creatorsName EQUALITY distinguishedNameMatch SYNTAX 12 USAGE directoryOperation
    SINGLE-VALUE;
2.5.18.1 createTimestamp EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch
    SYNTAX 24 USAGE directoryOperation SINGLE-VALUE;
2.5.18.4 modifiersName EQUALITY distinguishedNameMatch SYNTAX 12 USAGE directoryOperation
    SINGLE-VALUE;
2.5.18.2 modifyTimestamp EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch
    SYNTAX 24 USAGE directoryOperation SINGLE-VALUE;
2.5.21.9 structuralObjectClass EQUALITY objectIdentifierMatch SYNTAX 38 USAGE directoryOperation
    SINGLE-VALUE;
2.5.21.10 governingStructureRule EQUALITY integerMatch SYNTAX 27 USAGE directoryOperation
    SINGLE-VALUE;
2.5.18.10 subschemaSubentry EQUALITY distinguishedNameMatch SYNTAX 12 USAGE directoryOperation
    SINGLE-VALUE;
2.5.21.6 objectClasses EQUALITY objectIdentifierFirstComponentMatch SYNTAX 37 USAGE
    directoryOperation;
2.5.21.5 attributeTypes EQUALITY objectIdentifierFirstComponentMatch SYNTAX 3 USAGE
    directoryOperation;
2.5.21.4 matchingRules EQUALITY objectIdentifierFirstComponentMatch SYNTAX 30 USAGE
    directoryOperation;
2.5.21.8 matchingRuleUse EQUALITY objectIdentifierFirstComponentMatch SYNTAX 31 USAGE
    directoryOperation;
1.3.6.1.4.1.1466.101.120.16 ldapSyntaxes EQUALITY objectIdentifierFirstComponentMatch SYNTAX 54
    USAGE directoryOperation;
2.5.21.2 dITContentRules EQUALITY objectIdentifierFirstComponentMatch SYNTAX 16 USAGE
    directoryOperation;
2.5.21.1 dITStructureRules EQUALITY integerFirstComponentMatch SYNTAX 17 USAGE
    directoryOperation;
2.5.21.7 nameForms EQUALITY objectIdentifierFirstComponentMatch SYNTAX 35 USAGE
    directoryOperation;
1.3.6.1.4.1.1466.101.120.6 altServer SYNTAX 26 USAGE dSAOperation;
1.3.6.1.4.1.1466.101.120.5 namingContexts SYNTAX 12 USAGE dSAOperation;
1.3.6.1.4.1.1466.101.120.13 supportedControl SYNTAX 38 USAGE dSAOperation;
1.3.6.1.4.1.1466.101.120.7 supportedExtension SYNTAX 38 USAGE dSAOperation;
1.3.6.1.4.1.4203.1.3.5 supportedFeatures EQUALITY objectIdentifierMatch SYNTAX 38 USAGE
    dSAOperation;
1.3.6.1.4.1.1466.101.120.15 supportedLDAPVersion SYNTAX 27 USAGE dSAOperation;
1.3.6.1.4.1.1466.101.120.14 supportedSASLMechanisms SYNTAX 15 USAGE dSAOperation;
# RFC 4519
2.5.4.15 businessCategory EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 15;
2.5.4.6 c SUP name SYNTAX 11 SINGLE-VALUE;
2.5.4.3 cn SUP name;
0.9.2342.19200300.100.1.25 dc EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch
    SYNTAX 26 SINGLE-VALUE;
2.5.4.13 description EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 15;
2.5.4.27 destinationIndicator EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX
    44;
2.5.4.49 distinguishedName EQUALITY distinguishedNameMatch SYNTAX 12;
2.5.4.46 dnQualifier EQUALITY caseIgnoreMatch ORDERING caseIgnoreOrderingMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 44;
2.5.4.47 enhancedSearchGuide SYNTAX 21;
2.5.4.23 facsimileTelephoneNumber SYNTAX 22;
2.5.4.44 generationQualifier SUP name;
2.5.4.42 givenName SUP name;
2.5.4.51 houseIdentifier EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 15;
2.5.4.43 initials SUP name;
2.5.4.25 internationalISDNNumber EQUALITY numericStringMatch SUBSTR numericStringSubstringsMatch
    SYNTAX 36;
2.5.4.7 l SUP name;
2.5.4.31 member SUP distinguishedName;
2.5.4.41 name EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 15;
2.5.4.10 o SUP name;
2.5.4.11 ou SUP name;
2.5.4.32 owner SUP distinguishedName;
2.5.4.19 physicalDeliveryOfficeName EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 15;
2.5.4.16 postalAddress EQUALITY caseIgnoreListMatch SUBSTR caseIgnoreListSubstringsMatch SYNTAX
    41;
2.5.4.17 postalCode EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 15;
2.5.4.18 postOfficeBox EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 15;
2.5.4.28 preferredDeliveryMethod SYNTAX 14 SINGLE-VALUE;
2.5.4.26 registeredAddress SUP postalAddress SYNTAX 41;
2.5.4.33 roleOccupant SUP distinguishedName;
2.5.4.14 searchGuide SYNTAX 25;
2.5.4.34 seeAlso SUP distinguishedName;
2.5.4.5 serialNumber EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 44;
2.5.4.4 sn SUP name;
2.5.4.8 st SUP name;
2.5.4.9 street EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 15;
2.5.4.20 telephoneNumber EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch
    SYNTAX 50;
2.5.4.22 teletexTerminalIdentifier SYNTAX 51;
2.5.4.21 telexNumber SYNTAX 52;
2.5.4.12 title SUP name;
0.9.2342.19200300.100.1.1 uid EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX
    15;
2.5.4.50 uniqueMember EQUALITY uniqueMemberMatch SYNTAX 34;
2.5.4.35 userPassword EQUALITY octetStringMatch SYNTAX 40;
2.5.4.24 x121Address EQUALITY numericStringMatch SUBSTR numericStringSubstringsMatch SYNTAX 36;
2.5.4.45 x500UniqueIdentifier EQUALITY bitStringMatch SYNTAX 6;
# RFC 4524
0.9.2342.19200300.100.1.37 associatedDomain EQUALITY caseIgnoreIA5Match SUBSTR
    caseIgnoreIA5SubstringsMatch SYNTAX 26;
0.9.2342.19200300.100.1.38 associatedName EQUALITY distinguishedNameMatch SYNTAX 12;
0.9.2342.19200300.100.1.48 buildingName EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15;
0.9.2342.19200300.100.1.43 co EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX
    15;
0.9.2342.19200300.100.1.14 documentAuthor EQUALITY distinguishedNameMatch SYNTAX 12;
0.9.2342.19200300.100.1.11 documentIdentifier EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15;
0.9.2342.19200300.100.1.15 documentLocation EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15;
0.9.2342.19200300.100.1.56 documentPublisher EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15;
0.9.2342.19200300.100.1.12 documentTitle EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15;
0.9.2342.19200300.100.1.13 documentVersion EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15;
0.9.2342.19200300.100.1.5 drink EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX
    15;
0.9.2342.19200300.100.1.20 homePhone EQUALITY telephoneNumberMatch SUBSTR
    telephoneNumberSubstringsMatch SYNTAX 50;
0.9.2342.19200300.100.1.39 homePostalAddress EQUALITY caseIgnoreListMatch SUBSTR
    caseIgnoreListSubstringsMatch SYNTAX 41;
0.9.2342.19200300.100.1.9 host EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX
    15;
0.9.2342.19200300.100.1.4 info EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX
    15;
0.9.2342.19200300.100.1.3 mail EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch
    SYNTAX 26;
0.9.2342.19200300.100.1.10 manager EQUALITY distinguishedNameMatch SYNTAX 12;
0.9.2342.19200300.100.1.41 mobile EQUALITY telephoneNumberMatch SUBSTR
    telephoneNumberSubstringsMatch SYNTAX 50;
0.9.2342.19200300.100.1.45 organizationalStatus EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15;
0.9.2342.19200300.100.1.42 pager EQUALITY telephoneNumberMatch SUBSTR
    telephoneNumberSubstringsMatch SYNTAX 50;
0.9.2342.19200300.100.1.40 personalTitle EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15;
0.9.2342.19200300.100.1.6 roomNumber EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 15;
0.9.2342.19200300.100.1.21 secretary EQUALITY distinguishedNameMatch SYNTAX 12;
0.9.2342.19200300.100.1.44 uniqueIdentifier EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15;
0.9.2342.19200300.100.1.8 userClass EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 15;
# RFC 2798
2.16.840.1.113730.3.1.1 carLicense EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 15;
2.16.840.1.113730.3.1.2 departmentNumber EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15;
2.16.840.1.113730.3.1.241 displayName EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 15 SINGLE-VALUE;
2.16.840.1.113730.3.1.3 employeeNumber EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 15 SINGLE-VALUE;
2.16.840.1.113730.3.1.4 employeeType EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 15;
0.9.2342.19200300.100.1.60 jpegPhoto SYNTAX 28;
2.16.840.1.113730.3.1.39 preferredLanguage EQUALITY caseIgnoreMatch SUBSTR
    caseIgnoreSubstringsMatch SYNTAX 15 SINGLE-VALUE;
2.16.840.1.113730.3.1.40 userSMIMECertificate SYNTAX 5;
2.16.840.1.113730.3.1.216 userPKCS12 SYNTAX 5;
# RFC 4523
2.5.4.36 userCertificate EQUALITY certificateExactMatch SYNTAX 8;
# RFC 4530
1.3.6.1.1.16.4 entryUUID EQUALITY uuidMatch ORDERING uuidOrderingMatch SYNTAX 1.3.6.1.1.16.1
    USAGE directoryOperation SINGLE-VALUE;
# RFC 5020
1.3.6.1.1.20 entryDN EQUALITY distinguishedNameMatch SYNTAX 12 USAGE directoryOperation
    SINGLE-VALUE;
# RFC 2589
1.3.6.1.4.1.1466.101.119.3 entryTtl SYNTAX 27 USAGE dSAOperation SINGLE-VALUE;
1.3.6.1.4.1.1466.101.119.4 dynamicSubtrees SYNTAX 12 USAGE dSAOperation;
# RFC 3045
1.3.6.1.1.4 vendorName EQUALITY 1.3.6.1.4.1.1466.109.114.1 SYNTAX 15 USAGE dSAOperation
    SINGLE-VALUE;
1.3.6.1.1.5 vendorVersion EQUALITY 1.3.6.1.4.1.1466.109.114.1 SYNTAX 15 USAGE dSAOperation
    SINGLE-VALUE;
";

/// Object classes as the RFCs define them, `;` after each: OID, NAME, SUP, kind, then MUST and
/// MAY with their attribute types.
const OBJECT_CLASSES: &str = "
# RFC 4512
2.5.6.0 top ABSTRACT MUST objectClass;
2.5.6.1 alias SUP top STRUCTURAL MUST aliasedObjectName;
2.5.20.1 subschema AUXILIARY MAY dITStructureRules nameForms ditContentRules objectClasses
    attributeTypes matchingRules matchingRuleUse;
1.3.6.1.4.1.1466.101.120.111 extensibleObject SUP top AUXILIARY;
# RFC 4519
2.5.6.11 applicationProcess SUP top STRUCTURAL MUST cn MAY seeAlso ou l description;
2.5.6.2 country SUP top STRUCTURAL MUST c MAY searchGuide description;
1.3.6.1.4.1.1466.344 dcObject SUP top AUXILIARY MUST dc;
2.5.6.14 device SUP top STRUCTURAL MUST cn MAY serialNumber seeAlso owner ou o l description;
2.5.6.9 groupOfNames SUP top STRUCTURAL MUST member cn MAY businessCategory seeAlso owner ou o
    description;
2.5.6.17 groupOfUniqueNames SUP top STRUCTURAL MUST uniqueMember cn MAY businessCategory seeAlso
    owner ou o description;
2.5.6.3 locality SUP top STRUCTURAL MAY street seeAlso searchGuide st l description;
2.5.6.4 organization SUP top STRUCTURAL MUST o MAY userPassword searchGuide seeAlso
    businessCategory x121Address registeredAddress destinationIndicator preferredDeliveryMethod
    telexNumber teletexTerminalIdentifier telephoneNumber internationalISDNNumber
    facsimileTelephoneNumber street postOfficeBox postalCode postalAddress
    physicalDeliveryOfficeName st l description;
2.5.6.7 organizationalPerson SUP person STRUCTURAL MAY title x121Address registeredAddress
    destinationIndicator preferredDeliveryMethod telexNumber teletexTerminalIdentifier
    telephoneNumber internationalISDNNumber facsimileTelephoneNumber street postOfficeBox
    postalCode postalAddress physicalDeliveryOfficeName ou st l;
2.5.6.8 organizationalRole SUP top STRUCTURAL MUST cn MAY x121Address registeredAddress
    destinationIndicator preferredDeliveryMethod telexNumber teletexTerminalIdentifier
    telephoneNumber internationalISDNNumber facsimileTelephoneNumber seeAlso roleOccupant
    preferredDeliveryMethod street postOfficeBox postalCode postalAddress
    physicalDeliveryOfficeName ou st l description;
2.5.6.5 organizationalUnit SUP top STRUCTURAL MUST ou MAY businessCategory description
    destinationIndicator facsimileTelephoneNumber internationalISDNNumber l
    physicalDeliveryOfficeName postalAddress postalCode postOfficeBox preferredDeliveryMethod
    registeredAddress searchGuide seeAlso st street telephoneNumber teletexTerminalIdentifier
    telexNumber userPassword x121Address;
2.5.6.6 person SUP top STRUCTURAL MUST sn cn MAY userPassword telephoneNumber seeAlso
    description;
2.5.6.10 residentialPerson SUP person STRUCTURAL MUST l MAY businessCategory x121Address
    registeredAddress destinationIndicator preferredDeliveryMethod telexNumber
    teletexTerminalIdentifier telephoneNumber internationalISDNNumber facsimileTelephoneNumber
    preferredDeliveryMethod street postOfficeBox postalCode postalAddress
    physicalDeliveryOfficeName st l;
1.3.6.1.1.3.1 uidObject SUP top AUXILIARY MUST uid;
# RFC 4524
0.9.2342.19200300.100.4.5 account SUP top STRUCTURAL MUST uid MAY description seeAlso l o ou
    host;
0.9.2342.19200300.100.4.6 document SUP top STRUCTURAL MUST documentIdentifier MAY cn description
    seeAlso l o ou documentTitle documentVersion documentAuthor documentLocation
    documentPublisher;
0.9.2342.19200300.100.4.9 documentSeries SUP top STRUCTURAL MUST cn MAY description l o ou
    seeAlso telephonenumber;
0.9.2342.19200300.100.4.13 domain SUP top STRUCTURAL MUST dc MAY userPassword searchGuide
    seeAlso businessCategory x121Address registeredAddress destinationIndicator
    preferredDeliveryMethod telexNumber teletexTerminalIdentifier telephoneNumber
    internationaliSDNNumber facsimileTelephoneNumber street postOfficeBox postalCode
    postalAddress physicalDeliveryOfficeName st l description o associatedName;
0.9.2342.19200300.100.4.17 domainRelatedObject SUP top AUXILIARY MUST associatedDomain;
0.9.2342.19200300.100.4.18 friendlyCountry SUP country STRUCTURAL MUST co;
0.9.2342.19200300.100.4.14 rFC822localPart SUP domain STRUCTURAL MAY cn description
    destinationIndicator facsimileTelephoneNumber internationaliSDNNumber
    physicalDeliveryOfficeName postalAddress postalCode postOfficeBox preferredDeliveryMethod
    registeredAddress seeAlso sn street telephoneNumber teletexTerminalIdentifier telexNumber
    x121Address;
0.9.2342.19200300.100.4.7 room SUP top STRUCTURAL MUST cn MAY roomNumber description seeAlso
    telephoneNumber;
0.9.2342.19200300.100.4.19 simpleSecurityObject SUP top AUXILIARY MUST userPassword;
# RFC 2798
2.16.840.1.113730.3.2.2 inetOrgPerson SUP organizationalPerson STRUCTURAL MAY audio
    businessCategory carLicense departmentNumber displayName employeeNumber employeeType
    givenName homePhone homePostalAddress initials jpegPhoto labeledURI mail manager mobile o
    pager photo roomNumber secretary uid userCertificate x500uniqueIdentifier preferredLanguage
    userSMIMECertificate userPKCS12;
# RFC 2589
1.3.6.1.4.1.1466.101.119.2 dynamicObject SUP top AUXILIARY;
";

/// Syntaxes, `;` after each: OID and DESC.
const SYNTAXES: &str = "
# RFC 4517
1.3.6.1.4.1.1466.115.121.1.3 Attribute Type Description;
1.3.6.1.4.1.1466.115.121.1.6 Bit String;
1.3.6.1.4.1.1466.115.121.1.7 Boolean;
1.3.6.1.4.1.1466.115.121.1.11 Country String;
1.3.6.1.4.1.1466.115.121.1.14 Delivery Method;
1.3.6.1.4.1.1466.115.121.1.15 Directory String;
1.3.6.1.4.1.1466.115.121.1.16 DIT Content Rule Description;
1.3.6.1.4.1.1466.115.121.1.17 DIT Structure Rule Description;
1.3.6.1.4.1.1466.115.121.1.12 DN;
1.3.6.1.4.1.1466.115.121.1.21 Enhanced Guide;
1.3.6.1.4.1.1466.115.121.1.22 Facsimile Telephone Number;
1.3.6.1.4.1.1466.115.121.1.23 Fax;
1.3.6.1.4.1.1466.115.121.1.24 Generalized Time;
1.3.6.1.4.1.1466.115.121.1.25 Guide;
1.3.6.1.4.1.1466.115.121.1.26 IA5 String;
1.3.6.1.4.1.1466.115.121.1.27 INTEGER;
1.3.6.1.4.1.1466.115.121.1.28 JPEG;
1.3.6.1.4.1.1466.115.121.1.54 LDAP Syntax Description;
1.3.6.1.4.1.1466.115.121.1.30 Matching Rule Description;
1.3.6.1.4.1.1466.115.121.1.31 Matching Rule Use Description;
1.3.6.1.4.1.1466.115.121.1.34 Name And Optional UID;
1.3.6.1.4.1.1466.115.121.1.35 Name Form Description;
1.3.6.1.4.1.1466.115.121.1.36 Numeric String;
1.3.6.1.4.1.1466.115.121.1.37 Object Class Description;
1.3.6.1.4.1.1466.115.121.1.40 Octet String;
1.3.6.1.4.1.1466.115.121.1.38 OID;
1.3.6.1.4.1.1466.115.121.1.39 Other Mailbox;
1.3.6.1.4.1.1466.115.121.1.41 Postal Address;
1.3.6.1.4.1.1466.115.121.1.44 Printable String;
1.3.6.1.4.1.1466.115.121.1.58 Substring Assertion;
1.3.6.1.4.1.1466.115.121.1.50 Telephone Number;
1.3.6.1.4.1.1466.115.121.1.51 Teletex Terminal Identifier;
1.3.6.1.4.1.1466.115.121.1.52 Telex Number;
1.3.6.1.4.1.1466.115.121.1.53 UTC Time;
# RFC 4523
1.3.6.1.4.1.1466.115.121.1.8 X.509 Certificate;
# RFC 4530
1.3.6.1.1.16.1 UUID;
";

/// Matching rules, `;` after each: OID, NAME and assertion SYNTAX (numbered as in
/// [`ATTRIBUTE_TYPES`]).
const MATCHING_RULES: &str = "
# RFC 4517
2.5.13.2 caseIgnoreMatch 15;
2.5.13.16 bitStringMatch 6;
2.5.13.13 booleanMatch 7;
1.3.6.1.4.1.1466.109.114.1 caseExactIA5Match 26;
2.5.13.5 caseExactMatch 15;
2.5.13.6 caseExactOrderingMatch 15;
2.5.13.7 caseExactSubstringsMatch 58;
1.3.6.1.4.1.1466.109.114.2 caseIgnoreIA5Match 26;
1.3.6.1.4.1.1466.109.114.3 caseIgnoreIA5SubstringsMatch 58;
2.5.13.11 caseIgnoreListMatch 41;
2.5.13.12 caseIgnoreListSubstringsMatch 58;
2.5.13.3 caseIgnoreOrderingMatch 15;
2.5.13.4 caseIgnoreSubstringsMatch 58;
2.5.13.31 directoryStringFirstComponentMatch 15;
2.5.13.1 distinguishedNameMatch 12;
2.5.13.27 generalizedTimeMatch 24;
2.5.13.28 generalizedTimeOrderingMatch 24;
2.5.13.29 integerFirstComponentMatch 27;
2.5.13.14 integerMatch 27;
2.5.13.15 integerOrderingMatch 27;
2.5.13.33 keywordMatch 15;
2.5.13.8 numericStringMatch 36;
2.5.13.9 numericStringOrderingMatch 36;
2.5.13.10 numericStringSubstringsMatch 58;
2.5.13.30 objectIdentifierFirstComponentMatch 38;
2.5.13.0 objectIdentifierMatch 38;
2.5.13.17 octetStringMatch 40;
2.5.13.18 octetStringOrderingMatch 40;
2.5.13.20 telephoneNumberMatch 50;
2.5.13.21 telephoneNumberSubstringsMatch 58;
2.5.13.23 uniqueMemberMatch 34;
2.5.13.32 wordMatch 15;
# RFC 4523
2.5.13.34 certificateExactMatch 1.3.6.1.1.15.1;
# RFC 4530
1.3.6.1.1.16.2 uuidMatch 1.3.6.1.1.16.1;
1.3.6.1.1.16.3 uuidOrderingMatch 1.3.6.1.1.16.1;
";

/// One entry of a table above: its OID, its name and its keywords with their values.
#[derive(Debug)]
struct Row {
    oid: &'static str,
    name: &'static str,
    fields: HashMap<&'static str, Vec<&'static str>>,
}

impl Row {
    fn has(&self, keyword: &str) -> bool {
        self.fields.contains_key(keyword)
    }

    /// The value of `keyword`, or "" when the RFC gives none.
    fn one(&self, keyword: &str) -> &'static str {
        self.fields
            .get(keyword)
            .and_then(|v| v.first().copied())
            .unwrap_or_default()
    }

    fn set(&self, keyword: &str) -> BTreeSet<String> {
        self.fields
            .get(keyword)
            .into_iter()
            .flatten()
            .map(|v| v.to_ascii_lowercase())
            .collect()
    }
}

/// The words of each `;`-terminated entry of a table, `#` lines left out.
fn table(text: &'static str) -> Vec<Vec<&'static str>> {
    text.split(';')
        .map(|entry| {
            entry
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .flat_map(str::split_whitespace)
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .collect()
}

/// The entries of a table of attribute types or object classes.
fn rows(text: &'static str) -> Vec<Row> {
    table(text)
        .into_iter()
        .map(|words| {
            let mut fields: HashMap<&str, Vec<&str>> = HashMap::new();
            let mut keyword = "";
            for word in &words[2..] {
                if word.bytes().all(|b| b.is_ascii_uppercase() || b == b'-') {
                    keyword = word;
                    fields.entry(keyword).or_default();
                } else {
                    fields.entry(keyword).or_default().push(word);
                }
            }
            Row {
                oid: words[0],
                name: words[1],
                fields,
            }
        })
        .collect()
}

/// A syntax OID as written in the tables: a bare number is one of RFC 4517's.
fn syntax_oid(short: &str) -> String {
    if short.contains('.') {
        short.to_string()
    } else {
        format!("1.3.6.1.4.1.1466.115.121.1.{short}")
    }
}

/// One published definition, read on its own terms: OID, NAMEs and each keyword's values.
/// Deliberately simpler than the server's parser, so the two do not share mistakes.
#[derive(Debug, Clone)]
struct Definition {
    text: String,
    oid: String,
    names: Vec<String>,
    fields: HashMap<String, Vec<String>>,
}

impl Definition {
    fn parse(text: &str) -> Definition {
        let mut tokens = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(quoted) = rest.strip_prefix('\'') {
                let end = quoted
                    .find('\'')
                    .unwrap_or_else(|| panic!("unclosed quote: {text}"));
                tokens.push((true, quoted[..end].to_string()));
                rest = quoted[end + 1..].trim_start();
            } else {
                let end = rest.find([' ', '\'']).unwrap_or(rest.len());
                tokens.push((false, rest[..end].to_string()));
                rest = rest[end..].trim_start();
            }
        }
        assert!(
            tokens.first().map(|t| t.1.as_str()) == Some("(")
                && tokens.last().map(|t| t.1.as_str()) == Some(")"),
            "not parenthesized: {text}"
        );
        let oid = tokens[1].1.clone();
        let mut fields: HashMap<String, Vec<String>> = HashMap::new();
        let mut current = String::new();
        for (quoted, token) in &tokens[2..tokens.len() - 1] {
            let keyword = !quoted
                && token.len() > 1
                && token.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
            if keyword {
                current = token.clone();
                fields.entry(current.clone()).or_default();
            } else if *quoted || !matches!(token.as_str(), "(" | ")" | "$") {
                assert!(!current.is_empty(), "a value before any keyword: {text}");
                fields
                    .entry(current.clone())
                    .or_default()
                    .push(token.clone());
            }
        }
        Definition {
            text: text.to_string(),
            names: fields.get("NAME").cloned().unwrap_or_default(),
            oid,
            fields,
        }
    }

    fn has(&self, keyword: &str) -> bool {
        self.fields.contains_key(keyword)
    }

    /// The one value of `keyword`, or "" when absent.
    fn one(&self, keyword: &str) -> String {
        let values = self.fields.get(keyword).cloned().unwrap_or_default();
        assert!(values.len() <= 1, "{keyword} twice in {}", self.text);
        values.into_iter().next().unwrap_or_default()
    }

    /// The values of `keyword`, lowercased, as a set.
    fn set(&self, keyword: &str) -> BTreeSet<String> {
        self.fields
            .get(keyword)
            .into_iter()
            .flatten()
            .map(|v| v.to_ascii_lowercase())
            .collect()
    }

    /// SYNTAX without its length bound.
    fn syntax(&self) -> String {
        let syntax = self.one("SYNTAX");
        syntax.split('{').next().unwrap_or_default().to_string()
    }
}

/// The published schema, indexed by lowercase name and by OID.
#[derive(Debug, Default)]
struct PublishedSchema {
    types: HashMap<String, Definition>,
    classes: HashMap<String, Definition>,
    rules: HashMap<String, Definition>,
    syntaxes: HashMap<String, Definition>,
    rule_uses: HashMap<String, Definition>,
}

fn index(texts: &[String]) -> HashMap<String, Definition> {
    let mut map = HashMap::new();
    for text in texts {
        let d = Definition::parse(text);
        for key in std::iter::once(d.oid.clone()).chain(d.names.iter().map(|n| n.to_lowercase())) {
            assert!(
                map.insert(key.clone(), d.clone()).is_none(),
                "{key} is defined twice"
            );
        }
    }
    map
}

impl PublishedSchema {
    fn from_values(values: &dyn Fn(&str) -> Vec<String>) -> PublishedSchema {
        PublishedSchema {
            types: index(&values("attributeTypes")),
            classes: index(&values("objectClasses")),
            rules: index(&values("matchingRules")),
            syntaxes: index(&values("ldapSyntaxes")),
            rule_uses: index(&values("matchingRuleUse")),
        }
    }

    fn attribute_type(&self, name: &str) -> Option<&Definition> {
        self.types.get(&name.to_lowercase())
    }

    fn class(&self, name: &str) -> Option<&Definition> {
        self.classes.get(&name.to_lowercase())
    }

    /// A type's field, inherited through SUP when the type does not give it.
    fn inherited(&self, d: &Definition, keyword: &str) -> String {
        let mut at = d;
        for _ in 0..self.types.len() {
            if at.has(keyword) {
                return if keyword == "SYNTAX" {
                    at.syntax()
                } else {
                    at.one(keyword)
                };
            }
            match self.attribute_type(&at.one("SUP")) {
                Some(sup) => at = sup,
                None => break,
            }
        }
        String::new()
    }

    /// `class` and its superclasses, lowercased names.
    fn lineage(&self, class: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut pending = vec![class.to_lowercase()];
        while let Some(name) = pending.pop() {
            let Some(d) = self.class(&name) else { continue };
            if found.insert(d.names[0].to_lowercase()) {
                pending.extend(d.set("SUP"));
            }
        }
        found
    }

    fn is_operational(&self, d: &Definition) -> bool {
        !matches!(d.one("USAGE").as_str(), "" | "userApplications")
    }
}

/// The path of an installed program; fails the test with what to install when missing.
fn program(name: &str, package: &str) -> PathBuf {
    let found = if name.starts_with('/') {
        Some(PathBuf::from(name)).filter(|p| p.is_file())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
    };
    found.unwrap_or_else(|| {
        panic!("{name} is not installed: apt-get install {package} (CI installs it)")
    })
}

/// How one run of a program ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `program` in the test's directory, as HOME so that no user configuration applies.
async fn run(p: &Province, program: PathBuf, args: Vec<String>) -> Run {
    let home = p.db.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(&program)
            .args(&args)
            .current_dir(&home)
            .env("HOME", &home)
            .env("LDAPTLS_REQCERT", "never")
            .env_remove("LDAPURI")
            .env_remove("LDAPBASE")
            .env_remove("LDAPBINDDN")
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// What the ldap3 script does, step by step; it prints one JSON object.
const LDAP3_SCRIPT: &str = r#"
import base64, json, sys
try:
    from ldap3 import ALL, ALL_ATTRIBUTES, ALL_OPERATIONAL_ATTRIBUTES, BASE, Connection, Server
    from ldap3.core.exceptions import LDAPAttributeError
except ImportError as e:
    sys.exit("python3-ldap3 is not installed (apt-get install python3-ldap3): %s" % e)

host, port, target, names_file, accounts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
with open(names_file) as f:
    names = json.load(f)

def read(conn, attributes):
    if not conn.search(target, "(objectClass=*)", BASE, attributes=attributes):
        return {"error": str(conn.result)}
    entry = conn.response[0]
    return {
        "dn": entry["dn"],
        "raw": {k: [base64.b64encode(v).decode() for v in vs] for k, vs in entry["raw_attributes"].items()},
        "formatted": {k: str(v) for k, v in entry["attributes"].items()},
    }

# Defaults but for the schema: read the root DSE and the schema at every bind.
server = Server(host, port=port, get_info=ALL)
out = {}
first = Connection(server, accounts[0][0], accounts[0][1], auto_bind=True)
out["schema_types"] = len(server.schema.attribute_types) if server.schema else 0
out["schema_classes"] = len(server.schema.object_classes) if server.schema else 0
out["vendor"] = str(server.info.vendor_name) if server.info else ""
out["first"] = read(first, names)
first.unbind()
# The same Server object: this bind reads the DSE and the schema again, now checking the
# names it asks for against the schema it read the first time.
second = Connection(server, accounts[1][0], accounts[1][1], auto_bind=True)
out["second"] = read(second, names)
out["all"] = read(second, [ALL_ATTRIBUTES, ALL_OPERATIONAL_ATTRIBUTES])
out["supertype"] = read(second, ["name"])
try:
    second.search(target, "(objectClass=*)", BASE, attributes=["noSuchAttribute"])
    out["undefined"] = "sent"
except LDAPAttributeError as e:
    out["undefined"] = str(e)
second.unbind()
print(json.dumps(out))
"#;

/// One entry as the script printed it.
#[derive(Debug)]
struct Ldap3Entry {
    dn: String,
    /// Attribute names as sent, lowercased, to raw values.
    raw: HashMap<String, Vec<Vec<u8>>>,
    /// ldap3's rendering of its formatted value, by attribute name as sent, lowercased.
    formatted: HashMap<String, String>,
}

impl Ldap3Entry {
    #[track_caller]
    fn from_json(value: &serde_json::Value) -> Ldap3Entry {
        assert!(value.get("error").is_none(), "ldap3 search failed: {value}");
        let raw = value["raw"]
            .as_object()
            .unwrap_or_else(|| panic!("no raw attributes: {value}"))
            .iter()
            .map(|(name, values)| {
                let values = values
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| {
                        base64::engine::general_purpose::STANDARD
                            .decode(v.as_str().unwrap_or_default())
                            .unwrap()
                    })
                    .collect();
                (name.to_lowercase(), values)
            })
            .collect();
        let formatted = value["formatted"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, v)| {
                (
                    name.to_lowercase(),
                    v.as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        Ldap3Entry {
            dn: value["dn"].as_str().unwrap_or_default().to_string(),
            raw,
            formatted,
        }
    }

    fn text(&self, name: &str) -> Vec<String> {
        self.raw
            .get(&name.to_lowercase())
            .into_iter()
            .flatten()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// The attributes returned with values (ldap3 lists the requested ones not returned
    /// with no values).
    fn names(&self) -> BTreeSet<String> {
        self.raw
            .iter()
            .filter(|(_, values)| !values.is_empty())
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// Runs [`LDAP3_SCRIPT`] against `p`, asking for every user attribute type the RFCs define and
/// a few operational ones; returns what it printed.
async fn run_ldap3(p: &Province) -> serde_json::Value {
    let python = program("/usr/bin/python3", "python3-ldap3");
    let script = p.db.dir.path().join("ldap3_client.py");
    std::fs::write(&script, LDAP3_SCRIPT).unwrap();
    let mut names: Vec<&str> = rows(ATTRIBUTE_TYPES)
        .iter()
        .filter(|t| !t.has("USAGE"))
        .map(|t| t.name)
        .collect();
    names.extend([
        "memberOf",
        "mailAlternateAddress",
        "entryUUID",
        "createTimestamp",
        "objectClasses",
    ]);
    let names_file = p.db.dir.path().join("names.json");
    std::fs::write(&names_file, serde_json::to_string(&names).unwrap()).unwrap();
    let accounts = serde_json::json!([
        [MAILAPP.dn(), MAILAPP.password()],
        [ANNV.dn(), ANNV.password()]
    ]);
    let addr = p.ldap_addr();
    let args = vec![
        script.display().to_string(),
        addr.ip().to_string(),
        addr.port().to_string(),
        ANNV.dn(),
        names_file.display().to_string(),
        accounts.to_string(),
    ];
    let ran = run(p, python, args).await;
    assert_eq!(ran.code, Some(0), "ldap3 failed: {}\n{ran:?}", ran.stderr);
    serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {ran:?}"))
}

/// Nguyễn Văn An as ldap3 read him with every standard attribute name asked for.
#[track_caller]
fn assert_annv(an: &Ldap3Entry) {
    assert_eq!(an.dn.to_lowercase(), ANNV.dn());
    for (name, value) in [
        ("cn", "Nguyễn Văn An"),
        ("sn", "Nguyễn"),
        ("givenName", "An"),
        ("mail", "annv@vinhphuc.gov.vn"),
        ("mailAlternateAddress", "an.nguyen@vinhphuc.gov.vn"),
        ("title", "Giám đốc"),
        ("telephoneNumber", "0211 3862 001"),
        ("ou", "snv"),
        ("departmentNumber", "Ban Giám đốc"),
        ("employeeNumber", "SNV-001"),
        ("createTimestamp", START_GENERALIZED),
    ] {
        assert_eq!(an.text(name), [value], "{name}");
    }
    assert_eq!(an.text("entryUUID").len(), 1, "{an:?}");
    let groups: BTreeSet<String> = an
        .text("memberOf")
        .iter()
        .map(|g| g.to_lowercase())
        .collect();
    assert_eq!(groups, BTreeSet::from([group("lanhdao"), group("toanso")]));
    // The certificate comes as the stored DER, with the ;binary option it is sent with.
    assert_eq!(
        an.raw.get("usercertificate;binary"),
        Some(&vec![annv_certificate()])
    );
    // Asked for, defined, but not held: nothing comes back for them.
    for absent in [
        "mobile",
        "o",
        "l",
        "postalAddress",
        "initials",
        "manager",
        "jpegPhoto",
        "userPassword",
        "objectClasses",
    ] {
        assert!(an.text(absent).is_empty(), "{absent}: {an:?}");
    }
}

async fn python_ldap3_checks_names_against_the_schema_and_reuses_its_server(backend: Backend) {
    // ldap3's defaults speak plain LDAP; loopback binds without TLS are allowed for it.
    let Some(p) = Province::start_with(backend, 0, |c| {
        c.ldap.allow_plaintext_bind_on_loopback = true
    })
    .await
    else {
        return;
    };
    let out = run_ldap3(&p).await;
    assert!(out["schema_types"].as_u64().unwrap_or(0) >= 120, "{out}");
    assert!(out["schema_classes"].as_u64().unwrap_or(0) >= 40, "{out}");
    let vendor = out["vendor"].as_str().unwrap_or_default();
    assert!(vendor.contains("congvu"), "{out}");

    // The official as the service account (first) and as himself (second connection over
    // the same Server object).
    let first = Ldap3Entry::from_json(&out["first"]);
    let second = Ldap3Entry::from_json(&out["second"]);
    assert_annv(&first);
    assert_annv(&second);
    assert_eq!(first.names(), second.names());

    // `*` and `+`: ldap3 formats values by the published syntaxes.
    let all = Ldap3Entry::from_json(&out["all"]);
    assert!(
        all.names().contains("cn") && all.names().contains("entrydn"),
        "{all:?}"
    );
    assert_eq!(
        all.formatted["createtimestamp"],
        "2026-11-27 01:00:00+00:00"
    );
    assert_eq!(all.formatted["hassubordinates"], "False");
    assert_eq!(
        all.formatted["entryuuid"],
        all.text("entryUUID")[0],
        "a UUID in its string form"
    );

    // A supertype selects the subtypes held (RFC 4511 §4.5.1.8).
    let names_of = Ldap3Entry::from_json(&out["supertype"]);
    let expected: BTreeSet<String> = ["cn", "sn", "givenname", "title", "ou"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names_of.names(), expected);

    // ldap3 refuses, before sending, a name the schema does not define: proof it checks.
    let undefined = out["undefined"].as_str().unwrap_or_default();
    assert!(undefined.contains("invalid attribute type"), "{undefined}");
}

/// Runs ldapsearch against the server and returns the LDIF entries.
async fn ldapsearch(p: &Province, args: &[&str]) -> Vec<(String, Vec<(String, String)>)> {
    let url = format!("ldap://{}", p.ldap_addr());
    let mut all = vec!["-x", "-LLL", "-o", "ldif_wrap=no", "-H", &url];
    all.extend(args);
    let ran = run(
        p,
        program("ldapsearch", "ldap-utils"),
        all.iter().map(|a| a.to_string()).collect(),
    )
    .await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    ldif(&ran.stdout)
}

/// The entries of an unwrapped LDIF text, base64 values decoded, names lowercased.
fn ldif(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut entries: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("not an LDIF line: {line:?}"));
        let value = match value.strip_prefix(':') {
            Some(encoded) => String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .unwrap(),
            )
            .unwrap(),
            None => value.trim_start().to_string(),
        };
        if name.eq_ignore_ascii_case("dn") {
            entries.push((value, Vec::new()));
        } else {
            entries
                .last_mut()
                .unwrap_or_else(|| panic!("an attribute before any dn: {line:?}"))
                .1
                .push((name.to_lowercase(), value));
        }
    }
    entries
}

fn values_of(attrs: &[(String, String)], name: &str) -> Vec<String> {
    attrs
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .collect()
}

const SUBSCHEMA_LISTS: [&str; 5] = [
    "objectClasses",
    "attributeTypes",
    "ldapSyntaxes",
    "matchingRules",
    "matchingRuleUse",
];

async fn ldapsearch_reads_every_standard_definition(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let base = ["-b", "cn=Subschema", "-s", "base", "(objectClass=*)"];
    // `+`: the subschema's lists are operational (RFC 4512 §4.2), so `+` returns them, with
    // the entry's own operational attributes.
    let plus = ldapsearch(&p, &[&base[..], &["+"]].concat()).await;
    assert_eq!(plus.len(), 1, "{plus:?}");
    assert_eq!(plus[0].0.to_lowercase(), "cn=subschema");
    let attrs = &plus[0].1;
    let created = values_of(attrs, "createtimestamp");
    assert_eq!(created.len(), 1, "{attrs:?}");
    assert_eq!(values_of(attrs, "modifytimestamp"), created);
    assert!(
        created[0].len() == 15 && created[0].ends_with('Z'),
        "{created:?}"
    );
    assert_eq!(values_of(attrs, "structuralobjectclass"), ["subentry"]);
    // By name: the same lists, value for value.
    let named = ldapsearch(&p, &[&base[..], &SUBSCHEMA_LISTS[..]].concat()).await;
    for list in SUBSCHEMA_LISTS {
        let key = list.to_lowercase();
        let by_plus = values_of(attrs, &key);
        assert!(!by_plus.is_empty(), "{list} missing with +");
        assert_eq!(values_of(&named[0].1, &key), by_plus, "{list}");
    }
    let schema = PublishedSchema::from_values(&|name| values_of(attrs, &name.to_lowercase()));
    // The tables above, read whole.
    assert_eq!(rows(ATTRIBUTE_TYPES).len(), 108);
    assert_eq!(rows(OBJECT_CLASSES).len(), 29);
    assert_eq!(table(SYNTAXES).len(), 36);
    assert_eq!(table(MATCHING_RULES).len(), 35);
    check_attribute_types(&schema);
    check_object_classes(&schema);
    check_syntaxes_and_rules(&schema);
    check_rule_uses(&schema);
}

fn check_attribute_types(schema: &PublishedSchema) {
    for row in rows(ATTRIBUTE_TYPES) {
        let d = schema.types.get(row.oid).unwrap_or_else(|| {
            panic!("attribute type {} ({}) is not published", row.oid, row.name)
        });
        assert_eq!(
            d.names.first().map(String::as_str),
            Some(row.name),
            "{}",
            d.text
        );
        for keyword in ["SUP", "EQUALITY", "ORDERING", "SUBSTR"] {
            assert!(
                d.one(keyword).eq_ignore_ascii_case(row.one(keyword)),
                "{keyword} should be {:?}: {}",
                row.one(keyword),
                d.text
            );
        }
        let expected_syntax = match row.one("SYNTAX") {
            "" => String::new(),
            syntax => syntax_oid(syntax),
        };
        assert_eq!(d.syntax(), expected_syntax, "{}", d.text);
        assert_eq!(d.one("USAGE"), row.one("USAGE"), "{}", d.text);
        assert_eq!(d.has("SINGLE-VALUE"), row.has("SINGLE-VALUE"), "{}", d.text);
        // What SUP leaves out resolves up the chain to a published syntax.
        let effective = schema.inherited(d, "SYNTAX");
        assert!(schema.syntaxes.contains_key(&effective), "{}", d.text);
    }
}

fn check_object_classes(schema: &PublishedSchema) {
    for row in rows(OBJECT_CLASSES) {
        let d = schema
            .classes
            .get(row.oid)
            .unwrap_or_else(|| panic!("object class {} ({}) is not published", row.oid, row.name));
        assert_eq!(
            d.names.first().map(String::as_str),
            Some(row.name),
            "{}",
            d.text
        );
        let kind = ["ABSTRACT", "STRUCTURAL", "AUXILIARY"]
            .into_iter()
            .find(|k| row.has(k))
            .unwrap_or_else(|| panic!("no kind for {row:?}"));
        assert!(d.has(kind), "{kind}: {}", d.text);
        for keyword in ["SUP", "MUST", "MAY"] {
            assert_eq!(d.set(keyword), row.set(keyword), "{keyword}: {}", d.text);
        }
        for attribute in d.set("MUST").iter().chain(&d.set("MAY")) {
            assert!(
                schema.attribute_type(attribute).is_some(),
                "{attribute}: {}",
                d.text
            );
        }
    }
}

fn check_syntaxes_and_rules(schema: &PublishedSchema) {
    for words in table(SYNTAXES) {
        let (oid, desc) = (words[0], words[1..].join(" "));
        let d = schema
            .syntaxes
            .get(oid)
            .unwrap_or_else(|| panic!("syntax {oid} ({desc}) is not published"));
        assert_eq!(d.one("DESC"), desc, "{}", d.text);
    }
    for words in table(MATCHING_RULES) {
        let (oid, name, syntax) = (words[0], words[1], words[2]);
        let d = schema
            .rules
            .get(oid)
            .unwrap_or_else(|| panic!("matching rule {oid} ({name}) is not published"));
        assert_eq!(
            d.names.first().map(String::as_str),
            Some(name),
            "{}",
            d.text
        );
        assert_eq!(d.one("SYNTAX"), syntax_oid(syntax), "{}", d.text);
    }
    // ldapSyntaxes names every syntax in use; every rule a type names is published.
    for d in schema.types.values() {
        if d.has("SYNTAX") {
            assert!(schema.syntaxes.contains_key(&d.syntax()), "{}", d.text);
        }
        for keyword in ["EQUALITY", "ORDERING", "SUBSTR"] {
            let rule = d.one(keyword);
            assert!(
                rule.is_empty() || schema.rules.contains_key(&rule.to_lowercase()),
                "{keyword} {rule}: {}",
                d.text
            );
        }
    }
    for d in schema.rules.values() {
        assert!(schema.syntaxes.contains_key(&d.one("SYNTAX")), "{}", d.text);
    }
}

/// matchingRuleUse: which rules an extensible match may apply to which types.
fn check_rule_uses(schema: &PublishedSchema) {
    let applies = |rule: &str| -> BTreeSet<String> {
        schema
            .rule_uses
            .get(rule)
            .unwrap_or_else(|| panic!("no matchingRuleUse for {rule}"))
            .set("APPLIES")
    };
    for (rule, types) in [
        (
            "caseIgnoreMatch",
            &["cn", "uid", "description", "displayName"][..],
        ),
        (
            "distinguishedNameMatch",
            &["member", "memberOf", "seeAlso", "manager"],
        ),
        (
            "caseIgnoreIA5Match",
            &["mail", "mailAlternateAddress", "dc"],
        ),
        ("telephoneNumberMatch", &["telephoneNumber", "mobile"]),
        (
            "generalizedTimeMatch",
            &["createTimestamp", "modifyTimestamp"],
        ),
        ("uuidMatch", &["entryUUID"]),
    ] {
        let rule_oid = schema.rules[&rule.to_lowercase()].oid.clone();
        let listed = applies(&rule_oid);
        for t in types {
            assert!(
                listed.contains(&t.to_lowercase()),
                "{rule} does not apply to {t}: {listed:?}"
            );
        }
    }
    assert!(
        !applies("2.5.13.20").contains("mail"),
        "telephoneNumberMatch on mail"
    );
}

/// The entries a realistic client sees: the whole tree as the service accounts read it
/// (each service entry is readable by that service only), the root DSE and the subschema.
async fn every_entry(p: &Province) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut client = p.bound(MAILAPP).await;
    let (tree, result) = ldap::search(
        &mut client,
        BASE,
        Scope::Subtree,
        "(objectClass=*)",
        &["*", "+"],
    )
    .await;
    result.success().unwrap();
    entries.extend(tree);
    for service in [PORTAL, HRSYNC, VINHYEN_HR] {
        let mut client = p.bound(service).await;
        let (own, result) = ldap::search(
            &mut client,
            &service.dn(),
            Scope::Base,
            "(objectClass=*)",
            &["*", "+"],
        )
        .await;
        result.success().unwrap();
        entries.extend(own);
    }
    entries
}

async fn every_entry_satisfies_the_published_schema(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.anonymous().await;
    let (published, result) = ldap::search(
        &mut client,
        "cn=Subschema",
        Scope::Base,
        "(objectClass=*)",
        &["*", "+"],
    )
    .await;
    result.success().unwrap();
    let subschema = &published[0];
    let schema = PublishedSchema::from_values(&|name| subschema.values(name));
    let entries = every_entry(&p).await;
    // The province: the base, four containers, four agencies, six active officials, three
    // groups and four service accounts.
    assert_eq!(
        entries.len(),
        1 + 4 + 4 + 6 + 3 + 4,
        "{:?}",
        ldap::dns(&entries)
    );
    for entry in &entries {
        check_entry(&schema, entry);
    }
    // The root DSE and the subschema: every attribute defined, values of their syntax.
    let (dse, _) = ldap::search(&mut client, "", Scope::Base, "(objectClass=*)", &["*", "+"]).await;
    for entry in dse.iter().chain([subschema]) {
        for name in entry.names() {
            let d = schema
                .attribute_type(&name)
                .unwrap_or_else(|| panic!("{} carries undefined {name}", entry.dn));
            check_values(&schema, entry, &name, d);
        }
    }
}

/// One entry against the schema: RFC 4512 §2.4 and §2.5.
fn check_entry(schema: &PublishedSchema, entry: &Entry) {
    let dn = &entry.dn;
    let classes = entry.folded("objectClass");
    let mut lineage = BTreeSet::new();
    for class in &classes {
        assert!(
            schema.class(class).is_some(),
            "{dn}: objectClass {class} is not defined"
        );
        lineage.extend(schema.lineage(class));
    }
    // Superclasses are listed too, and the structural classes form one chain, headed by
    // structuralObjectClass where the entry carries it.
    assert_eq!(
        lineage, classes,
        "{dn}: superclasses missing from objectClass"
    );
    let structural: Vec<&String> = classes
        .iter()
        .filter(|c| schema.class(c).is_some_and(|d| d.has("STRUCTURAL")))
        .collect();
    let head = structural
        .iter()
        .find(|c| {
            structural
                .iter()
                .all(|other| schema.lineage(c).contains(*other))
        })
        .unwrap_or_else(|| panic!("{dn}: no single structural chain in {classes:?}"));
    if entry.has("structuralObjectClass") {
        assert_eq!(
            &&entry.single("structuralObjectClass").to_lowercase(),
            head,
            "{dn}"
        );
    }
    let mut allowed = BTreeSet::new();
    for class in &classes {
        let d = schema.class(class).unwrap();
        for must in d.set("MUST") {
            let held = schema
                .attribute_type(&must)
                .unwrap_or_else(|| panic!("{dn}: {must} undefined"));
            assert!(
                held.names.iter().any(|n| entry.has(n)),
                "{dn}: {class} must have {must}"
            );
        }
        allowed.extend(d.set("MUST"));
        allowed.extend(d.set("MAY"));
    }
    for name in entry.names() {
        let base = name.split(';').next().unwrap_or_default();
        let d = schema
            .attribute_type(base)
            .unwrap_or_else(|| panic!("{dn} carries {name}, which the schema does not define"));
        let by_any_name = d.names.iter().any(|n| allowed.contains(&n.to_lowercase()));
        assert!(
            schema.is_operational(d) || by_any_name,
            "{dn}: {name} is allowed by none of {classes:?}"
        );
        check_values(schema, entry, &name, d);
    }
}

/// The values of `name` are of its published syntax, one value if SINGLE-VALUE.
fn check_values(schema: &PublishedSchema, entry: &Entry, name: &str, d: &Definition) {
    let values = entry.bytes(name);
    assert!(!values.is_empty(), "{}: {name} without values", entry.dn);
    if d.has("SINGLE-VALUE") {
        assert_eq!(values.len(), 1, "{}: {name} is single-valued", entry.dn);
    }
    let syntax = schema.inherited(d, "SYNTAX");
    let short = syntax
        .strip_prefix("1.3.6.1.4.1.1466.115.121.1.")
        .unwrap_or(&syntax);
    for value in &values {
        let text = String::from_utf8_lossy(value);
        let ok = match short {
            // Certificate: DER, a SEQUENCE.
            "8" => value.first() == Some(&0x30),
            "7" => text == "TRUE" || text == "FALSE",
            "12" => text.is_empty() || text.contains('='),
            "24" => {
                text.len() == 15
                    && text.ends_with('Z')
                    && text[..14].bytes().all(|b| b.is_ascii_digit())
            }
            "26" => value.is_ascii(),
            "27" => text.bytes().all(|b| b.is_ascii_digit()),
            "38" => text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'),
            "50" => text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:?".contains(c)),
            "1.3.6.1.1.16.1" => {
                text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
            }
            // Directory String and the description syntaxes: non-empty UTF-8.
            _ => std::str::from_utf8(value).is_ok_and(|s| !s.is_empty()),
        };
        assert!(
            ok,
            "{}: {name} = {text:?} is not of syntax {syntax}",
            entry.dn
        );
    }
}
