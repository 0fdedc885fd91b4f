//! Entries to officials and groups: agencies through the map, members by DN, uid and
//! address, and what is rejected or left out, each with its line.

use super::super::parse::records;
use super::*;

fn map(lines: &str) -> AgencyMap {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.csv");
    std::fs::write(&path, lines).unwrap();
    AgencyMap::read(&path).unwrap()
}

const EXPORT: &str = "dn: dc=vinhphuc,dc=gov,dc=vn
objectClass: dcObject
objectClass: organization
dc: vinhphuc

dn: ou=Sở Tài chính,dc=vinhphuc,dc=gov,dc=vn
objectClass: organizationalUnit

dn: uid=annv,ou=Sở Tài chính,dc=vinhphuc,dc=gov,dc=vn
objectClass: inetOrgPerson
uid: annv
cn: Nguyễn Văn An
sn: Nguyễn
mail: annv@vinhphuc.gov.vn
mail: an.nguyen@vinhphuc.gov.vn
mailAlternateAddress: annv@stc.vinhphuc.gov.vn
mobile: 0912 000 001
userPassword: {SSHA}pKqkNr1tq3wtQqk+UcPyA3HnA2NsU5NJ
entryUUID: 7c5ef2a8-0000-0000-0000-000000000001

dn: uid=binhtt,ou=Phòng Kế hoạch,dc=vinhphuc,dc=gov,dc=vn
objectClass: posixAccount
objectClass: person
uid: binhtt
cn: Trần Thanh Bình
mail: binhtt@vinhphuc.gov.vn

dn: cn=lanhdao,ou=Sở Tài chính,dc=vinhphuc,dc=gov,dc=vn
objectClass: groupOfNames
cn: lanhdao
member: UID=AnNV, ou=Sở Tài chính,dc=vinhphuc,dc=gov,dc=vn
member: cn=toanso,ou=groups,dc=vinhphuc,dc=gov,dc=vn
member: uid=binhtt,ou=Phòng Kế hoạch,dc=vinhphuc,dc=gov,dc=vn
member: cn=admin,dc=vinhphuc,dc=gov,dc=vn

dn: cn=toanso,ou=groups,dc=vinhphuc,dc=gov,dc=vn
objectClass: posixGroup
cn: toanso
memberUid: annv
memberUid: nobody
";

#[test]
fn officials_groups_agencies_and_members() {
    let map = map("source,agency\nSở tài chính,STC\n");
    let export = read_export(records(EXPORT.as_bytes()), &AgencySource::Ou, &map);
    assert_eq!(export.records, 6);
    assert_eq!(export.ignored, 2);
    assert_eq!(export.officials.len(), 1);
    let an = &export.officials[0];
    assert_eq!(an.line, 9);
    assert_eq!(an.login, "annv");
    assert_eq!(an.agency_code, "stc");
    assert_eq!(
        an.addresses,
        ["annv@vinhphuc.gov.vn", "an.nguyen@vinhphuc.gov.vn"]
    );
    assert_eq!(an.aliases, ["annv@stc.vinhphuc.gov.vn"]);
    assert_eq!(an.phone.as_deref(), Some("0912 000 001"));
    assert_eq!(an.passwords.len(), 1);

    // Bình's ou is not in the map: rejected with the ou and the map's name.
    assert_eq!(export.rejected.len(), 1);
    assert_eq!(export.rejected[0].line, 21);
    assert!(
        export.rejected[0].reason.contains("\"Phòng Kế hoạch\"")
            && export.rejected[0].reason.contains("map.csv"),
        "{}",
        export.rejected[0].reason
    );

    let lanhdao = &export.groups[0];
    assert_eq!(lanhdao.agency_code.as_deref(), Some("stc"));
    assert_eq!(
        lanhdao.members,
        [MigratedMember::Official(0), MigratedMember::Group(1)]
    );
    let toanso = &export.groups[1];
    assert_eq!(toanso.agency_code, None);
    assert_eq!(toanso.members, [MigratedMember::Official(0)]);
    let notes: Vec<(u64, &str)> = export
        .notes
        .iter()
        .map(|n| (n.line, n.reason.as_str()))
        .collect();
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(notes[0].1.contains("uid=binhtt") && notes[0].1.contains("(line 21)"));
    assert!(notes[1].1.contains("cn=admin") && notes[1].1.contains("not in the export"));
    assert_eq!(
        notes[2],
        (
            36,
            "group toanso: its memberUid nobody is not an official of the export: left out"
        )
    );
}

#[test]
fn the_agency_from_an_attribute() {
    let ldif = "dn: uid=a,dc=x\nobjectClass: person\nuid: a\ndepartmentNumber: 0301\n\n\
dn: uid=b,dc=x\nobjectClass: person\nuid: b\n";
    let map = map("\u{feff}agency,source,note\nstc,0301,Sở Tài chính\n");
    let from: AgencySource = "attribute:departmentNumber".parse().unwrap();
    let export = read_export(records(ldif.as_bytes()), &from, &map);
    assert_eq!(export.officials[0].agency_code, "stc");
    assert_eq!(export.rejected.len(), 1);
    assert!(export.rejected[0]
        .reason
        .contains("its departmentnumber attribute, which the entry does not have"));
}

#[test]
fn duplicate_dns_and_bad_maps_are_named() {
    let ldif =
        "dn: uid=a,dc=x\nobjectClass: person\nuid: a\n\ndn: UID=A,DC=X\nobjectClass: person\n";
    let export = read_export(
        records(ldif.as_bytes()),
        &AgencySource::Ou,
        &map("source,agency\n"),
    );
    assert_eq!(export.rejected.len(), 2);
    assert!(export.rejected[1].reason.contains("already on line 1"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.csv");
    std::fs::write(&path, "source,agency\nA,stc\na,sxd\n").unwrap();
    let e = AgencyMap::read(&path).unwrap_err().to_string();
    assert!(
        e.ends_with("map.csv:3: \"a\" is already mapped to stc on line 2"),
        "{e}"
    );
    std::fs::write(&path, "nguon,ma\n").unwrap();
    let e = AgencyMap::read(&path).unwrap_err().to_string();
    assert!(e.contains("no \"source\" column"), "{e}");
    assert!("dept".parse::<AgencySource>().is_err());
}
