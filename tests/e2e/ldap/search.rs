//! Searches and what they return: the root DSE and subschema, the tree and its scopes,
//! officials, agencies, groups and service entries attribute by attribute, attribute
//! selection (`*`, `+`, `1.1`, names and their aliases, typesOnly), and a base that does not
//! exist.

use std::collections::BTreeSet;

use congvu_tests::ldap::{self, Transport, PAGED_RESULTS, PASSWORD_MODIFY, START_TLS, WHO_AM_I};
use congvu_tests::Backend;
use ldap3::{Scope, SearchOptions};

use super::fixture::{
    agency, annv_certificate, group, person, service, Province, ACTIVE, AGENCIES, ANH, ANNV, BASE,
    GROUPS, MAILAPP, NHUNG, PEOPLE, SERVICES, START_GENERALIZED,
};
use super::ldap_tests;

ldap_tests!(
    the_root_dse_describes_the_server_to_anyone,
    the_subschema_is_readable_by_anyone,
    an_official_carries_every_attribute_exactly,
    operational_attributes_come_with_plus_or_by_name,
    one_one_returns_names_only,
    named_attributes_and_their_aliases,
    types_only_returns_no_values,
    scopes_base_one_and_subtree,
    a_missing_base_is_no_such_object,
    groups_name_direct_members_and_officials_every_group,
    aliases_are_alternate_addresses,
    the_certificate_is_the_stored_der,
    agencies_carry_their_name_level_and_parent,
    a_service_sees_its_own_entry_only,
);

fn set<S: AsRef<str>>(items: &[S]) -> BTreeSet<String> {
    items.iter().map(|s| s.as_ref().to_lowercase()).collect()
}

fn people(logins: &[&str]) -> BTreeSet<String> {
    logins.iter().map(|l| person(l).to_lowercase()).collect()
}

async fn the_root_dse_describes_the_server_to_anyone(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for transport in [Transport::Plain, Transport::StartTls, Transport::Ldaps] {
        let mut client = p.client(transport).await;
        // Unbound, as `ldapsearch -x -s base -b ""` asks.
        for attrs in [
            vec!["*", "+"],
            vec![
                "namingContexts",
                "supportedLDAPVersion",
                "supportedControl",
                "supportedExtension",
                "supportedSASLMechanisms",
                "subschemaSubentry",
                "vendorName",
                "vendorVersion",
            ],
        ] {
            let (entries, result) =
                ldap::search(&mut client, "", Scope::Base, "(objectClass=*)", &attrs).await;
            result.success().unwrap();
            assert_eq!(entries.len(), 1, "{transport:?} {attrs:?}: {entries:?}");
            let dse = &entries[0];
            assert_eq!(dse.dn, "");
            assert_eq!(dse.folded("namingContexts"), set(&[BASE]), "{dse:?}");
            assert!(dse.values("supportedLDAPVersion").contains(&"3".into()));
            assert!(
                dse.values("supportedControl")
                    .contains(&PAGED_RESULTS.into()),
                "{dse:?}"
            );
            let extensions = dse.values("supportedExtension");
            for oid in [START_TLS, WHO_AM_I, PASSWORD_MODIFY] {
                assert!(extensions.contains(&oid.into()), "{oid}: {dse:?}");
            }
            assert!(dse.values("supportedSASLMechanisms").is_empty(), "{dse:?}");
            assert_eq!(dse.folded("subschemaSubentry"), set(&["cn=Subschema"]));
            assert_eq!(dse.values("vendorName"), ["congvu"]);
            assert!(!dse.single("vendorVersion").is_empty());
        }
    }
    // The root DSE is the base object only: it has no children to find.
    let mut client = p.anonymous().await;
    let (entries, result) = ldap::search(
        &mut client,
        "",
        Scope::OneLevel,
        "(objectClass=*)",
        &["1.1"],
    )
    .await;
    assert!(
        entries.is_empty(),
        "one-level below the root DSE: {entries:?} ({result})"
    );
}

async fn the_subschema_is_readable_by_anyone(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.anonymous().await;
    for filter in ["(objectClass=subschema)", "(objectClass=*)"] {
        let (entries, result) = ldap::search(
            &mut client,
            "cn=Subschema",
            Scope::Base,
            filter,
            &[
                "objectClass",
                "attributeTypes",
                "objectClasses",
                "ldapSyntaxes",
                "matchingRules",
            ],
        )
        .await;
        result.success().unwrap();
        assert_eq!(entries.len(), 1, "{filter}: {entries:?}");
        let schema = &entries[0];
        assert_eq!(schema.dn.to_lowercase(), "cn=subschema");
        assert!(schema.folded("objectClass").contains("subschema"));
        let types = schema.values("attributeTypes");
        for name in ["'uid'", "'mail'", "'mailAlternateAddress'", "'memberOf'"] {
            assert!(
                types.iter().any(|t| t.contains(name) && t.starts_with('(')),
                "no attribute type {name} in {types:?}"
            );
        }
        let classes = schema.values("objectClasses");
        for name in ["'inetOrgPerson'", "'groupOfNames'", "'organizationalUnit'"] {
            assert!(
                classes.iter().any(|c| c.contains(name)),
                "no object class {name} in {classes:?}"
            );
        }
        assert!(!schema.values("ldapSyntaxes").is_empty());
        assert!(!schema.values("matchingRules").is_empty());
    }
}

async fn an_official_carries_every_attribute_exactly(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let (entries, result) =
        ldap::search(&mut client, &ANNV.dn(), Scope::Base, "(objectClass=*)", &[]).await;
    result.success().unwrap();
    assert_eq!(entries.len(), 1);
    let an = &entries[0];
    assert_eq!(an.dn.to_lowercase(), ANNV.dn());
    let classes = an.folded("objectClass");
    for class in ["top", "person", "organizationalperson", "inetorgperson"] {
        assert!(classes.contains(class), "{classes:?}");
    }
    assert_eq!(an.values("uid"), ["annv"]);
    assert_eq!(an.values("cn"), ["Nguyễn Văn An"]);
    assert_eq!(an.values("sn"), ["Nguyễn"]);
    assert_eq!(an.values("givenName"), ["An"]);
    assert_eq!(an.values("displayName"), ["Nguyễn Văn An"]);
    assert_eq!(an.values("mail"), ["annv@vinhphuc.gov.vn"]);
    assert_eq!(
        an.values("mailAlternateAddress"),
        ["an.nguyen@vinhphuc.gov.vn"]
    );
    assert_eq!(an.values("title"), ["Giám đốc"]);
    assert_eq!(an.values("telephoneNumber"), ["0211 3862 001"]);
    assert_eq!(an.folded("ou"), set(&["snv"]));
    assert_eq!(an.values("departmentNumber"), ["Ban Giám đốc"]);
    assert_eq!(an.values("employeeNumber"), ["SNV-001"]);
    assert_eq!(
        an.folded("memberOf"),
        set(&[group("lanhdao"), group("toanso")])
    );
    assert_eq!(an.bytes("userCertificate;binary"), vec![annv_certificate()]);
    assert!(!an.has("userPassword"), "{an:?}");
    for operational in [
        "entryDN",
        "structuralObjectClass",
        "hasSubordinates",
        "subschemaSubentry",
    ] {
        assert!(!an.has(operational), "{operational} without asking: {an:?}");
    }
    // The bytes are the UTF-8 the administrator typed, not a re-encoding.
    assert_eq!(
        an.bytes("cn"),
        vec![b"Nguy\xe1\xbb\x85n V\xc4\x83n An".to_vec()]
    );

    let (entries, _) = ldap::search(
        &mut client,
        &NHUNG.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["*"],
    )
    .await;
    let nhung = &entries[0];
    assert_eq!(nhung.values("cn"), ["Lê Thị Hồng Nhung"]);
    assert_eq!(nhung.values("sn"), ["Lê"]);
    assert_eq!(nhung.values("givenName"), ["Nhung"]);
    assert_eq!(
        nhung.values("displayName"),
        ["Lê Thị Hồng Nhung – Sở Nội vụ"]
    );
    assert_eq!(
        nhung
            .values("mailAlternateAddress")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        set(&["nhung.le@vinhphuc.gov.vn", "hongnhung@vinhphuc.gov.vn"])
    );
    assert_eq!(nhung.folded("memberOf"), set(&[group("toanso")]));
    assert!(!nhung.has("userCertificate;binary"), "{nhung:?}");
}

async fn operational_attributes_come_with_plus_or_by_name(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let (entries, result) = ldap::search(
        &mut client,
        &ANNV.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["+"],
    )
    .await;
    result.success().unwrap();
    let plus = &entries[0];
    assert_eq!(plus.folded("entryDN"), set(&[ANNV.dn()]));
    assert_eq!(
        plus.folded("structuralObjectClass"),
        set(&["inetOrgPerson"])
    );
    assert_eq!(plus.folded("hasSubordinates"), set(&["FALSE"]));
    assert_eq!(plus.folded("subschemaSubentry"), set(&["cn=Subschema"]));
    assert!(
        !plus.has("cn") && !plus.has("mail"),
        "user attributes with +: {plus:?}"
    );

    let (entries, _) = ldap::search(
        &mut client,
        &ANNV.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["*", "+"],
    )
    .await;
    let all = &entries[0];
    assert!(all.has("cn") && all.has("entryDN"), "{all:?}");
    let uuid = all.single("entryUUID");
    assert_eq!(uuid.len(), 36, "{uuid}");
    assert_eq!(uuid.matches('-').count(), 4, "{uuid}");
    assert_eq!(all.single("createTimestamp"), START_GENERALIZED);
    assert_eq!(all.single("modifyTimestamp"), START_GENERALIZED);

    let (entries, _) = ldap::search(
        &mut client,
        &ANNV.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["entryDN", "createTimestamp", "hasSubordinates"],
    )
    .await;
    let named = &entries[0];
    assert_eq!(
        named.names(),
        set(&["entryDN", "createTimestamp", "hasSubordinates"]),
        "{named:?}"
    );

    // A container has subordinates.
    let (entries, _) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::Base,
        "(objectClass=*)",
        &["hasSubordinates"],
    )
    .await;
    assert_eq!(entries[0].folded("hasSubordinates"), set(&["TRUE"]));
}

async fn one_one_returns_names_only(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let (entries, result) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::OneLevel,
        "(objectClass=inetOrgPerson)",
        &["1.1"],
    )
    .await;
    result.success().unwrap();
    assert_eq!(ldap::dns(&entries), people(&ACTIVE));
    for entry in &entries {
        assert!(entry.attrs.is_empty(), "{entry:?}");
    }
    // RFC 4511 §4.5.1.8: listed with other attributes, 1.1 is ignored.
    let (entries, _) = ldap::search(
        &mut client,
        &ANNV.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["1.1", "uid"],
    )
    .await;
    assert_eq!(entries[0].names(), set(&["uid"]), "{entries:?}");
}

async fn named_attributes_and_their_aliases(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let (entries, result) = ldap::search(
        &mut client,
        &ANNV.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["CN", "Mail", "title"],
    )
    .await;
    result.success().unwrap();
    let an = &entries[0];
    assert_eq!(an.names(), set(&["cn", "mail", "title"]), "{an:?}");
    assert_eq!(an.values("cn"), ["Nguyễn Văn An"]);

    // RFC 4519 short and long names are one attribute.
    let (entries, _) = ldap::search(
        &mut client,
        &ANNV.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["commonName", "surname", "userid", "gn"],
    )
    .await;
    let an = &entries[0];
    let value_of = |names: [&str; 2]| -> Vec<String> {
        let found: Vec<_> = names.iter().filter(|n| an.has(n)).collect();
        assert_eq!(found.len(), 1, "{names:?} in {an:?}");
        an.values(found[0])
    };
    assert_eq!(value_of(["cn", "commonName"]), ["Nguyễn Văn An"]);
    assert_eq!(value_of(["sn", "surname"]), ["Nguyễn"]);
    assert_eq!(value_of(["uid", "userid"]), ["annv"]);
    assert_eq!(value_of(["givenName", "gn"]), ["An"]);
    assert_eq!(an.attrs.len(), 4, "{an:?}");

    // Filters accept the aliases too.
    let (entries, _) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::Subtree,
        "(&(commonName=Nguyễn Văn An)(userid=annv)(surname=nguyễn)(gn=an))",
        &["1.1"],
    )
    .await;
    assert_eq!(ldap::dns(&entries), people(&["annv"]));
}

async fn types_only_returns_no_values(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let result = client
        .with_search_options(SearchOptions::new().typesonly(true))
        .search(
            &ANNV.dn(),
            Scope::Base,
            "(objectClass=*)",
            vec!["cn", "mail", "employeeNumber", "roomNumber"],
        )
        .await
        .unwrap();
    let (entries, _) = result.success().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = ldap3::SearchEntry::construct(entries.into_iter().next().unwrap());
    let mut names: Vec<_> = entry.attrs.keys().map(|k| k.to_lowercase()).collect();
    names.sort();
    assert_eq!(names, ["cn", "employeenumber", "mail"], "{entry:?}");
    for (name, values) in &entry.attrs {
        assert!(values.is_empty(), "{name} has values: {values:?}");
    }
    assert!(entry.bin_attrs.is_empty(), "{entry:?}");
}

async fn scopes_base_one_and_subtree(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let any = "(objectClass=*)";

    let (entries, _) = ldap::search(&mut client, BASE, Scope::OneLevel, any, &["ou"]).await;
    assert_eq!(
        ldap::dns(&entries),
        set(&[PEOPLE, AGENCIES, GROUPS, SERVICES])
    );
    for entry in &entries {
        assert!(
            entry.folded("objectClass").contains("organizationalunit") || entry.has("ou"),
            "{entry:?}"
        );
    }

    let (entries, _) = ldap::search(&mut client, PEOPLE, Scope::Base, any, &["ou"]).await;
    assert_eq!(ldap::dns(&entries), set(&[PEOPLE]));
    assert_eq!(entries[0].folded("ou"), set(&["people"]));

    let (entries, _) = ldap::search(&mut client, PEOPLE, Scope::OneLevel, any, &["1.1"]).await;
    assert_eq!(ldap::dns(&entries), people(&ACTIVE));

    let (entries, _) = ldap::search(&mut client, PEOPLE, Scope::Subtree, any, &["1.1"]).await;
    let mut expected = people(&ACTIVE);
    expected.insert(PEOPLE.to_lowercase());
    assert_eq!(ldap::dns(&entries), expected);

    // The whole tree as the unscoped service sees it: containers, active officials,
    // agencies, groups, and its own service entry.
    let (entries, result) = ldap::search(&mut client, BASE, Scope::Subtree, any, &["1.1"]).await;
    result.success().unwrap();
    let mut expected = set(&[BASE, PEOPLE, AGENCIES, GROUPS, SERVICES]);
    expected.extend(people(&ACTIVE));
    for code in ["vinhphuc", "snv", "vinhyen", "lienbao"] {
        expected.insert(agency(code).to_lowercase());
    }
    for name in ["lanhdao", "vanphong", "toanso"] {
        expected.insert(group(name).to_lowercase());
    }
    expected.insert(MAILAPP.dn().to_lowercase());
    assert_eq!(ldap::dns(&entries), expected);

    // A base named in another case or with spaces is the same entry.
    for base in [
        "OU=People,DC=VINHPHUC,DC=gov,DC=vn",
        "ou=people, dc=vinhphuc, dc=gov, dc=vn",
    ] {
        let (entries, result) =
            ldap::search(&mut client, base, Scope::OneLevel, "(uid=annv)", &["1.1"]).await;
        assert_eq!(result.rc, 0, "{base}: {result}");
        assert_eq!(ldap::dns(&entries), people(&["annv"]), "{base}");
    }

    let (entries, result) = ldap::search(&mut client, BASE, Scope::Base, any, &["*"]).await;
    result.success().unwrap();
    assert_eq!(ldap::dns(&entries), set(&[BASE]));
    let base = &entries[0];
    assert_eq!(base.values("dc"), ["vinhphuc"]);
    let classes = base.folded("objectClass");
    for class in ["top", "domain", "dcobject"] {
        assert!(
            classes.contains(class),
            "the base lacks {class}: {classes:?}"
        );
    }
}

async fn a_missing_base_is_no_such_object(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    for (base, matched) in [
        (person("khongco"), PEOPLE.to_string()),
        (format!("uid=x,ou=khongco,{BASE}"), BASE.to_string()),
        (agency("khongco"), AGENCIES.to_string()),
        ("dc=example,dc=com".to_string(), String::new()),
    ] {
        for scope in [Scope::Base, Scope::OneLevel, Scope::Subtree] {
            let (entries, result) =
                ldap::search(&mut client, &base, scope, "(objectClass=*)", &["1.1"]).await;
            assert_eq!(result.rc, 32, "{base} {scope:?}: {result}");
            assert!(entries.is_empty());
            assert_eq!(
                result.matched.to_lowercase(),
                matched.to_lowercase(),
                "{base}: {result}"
            );
        }
    }
    // Disabled officials are not there at all.
    let (_, result) = ldap::search(
        &mut client,
        &person("tuanpq"),
        Scope::Base,
        "(objectClass=*)",
        &[],
    )
    .await;
    assert_eq!(result.rc, 32, "{result}");
}

async fn groups_name_direct_members_and_officials_every_group(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let (entries, result) = ldap::search(
        &mut client,
        GROUPS,
        Scope::OneLevel,
        "(objectClass=groupOfNames)",
        &["*"],
    )
    .await;
    result.success().unwrap();
    assert_eq!(
        ldap::dns(&entries),
        set(&[group("lanhdao"), group("vanphong"), group("toanso")])
    );
    let by_cn = |cn: &str| {
        entries
            .iter()
            .find(|e| e.values("cn") == [cn])
            .unwrap_or_else(|| panic!("no group {cn} in {entries:?}"))
    };
    let lanhdao = by_cn("lanhdao");
    assert_eq!(
        lanhdao.folded("member"),
        set(&[person("annv"), group("vanphong")])
    );
    assert_eq!(
        lanhdao.values("description"),
        ["Lãnh đạo Sở Nội vụ và Văn phòng"]
    );
    assert!(!lanhdao.has("mail"));
    assert_eq!(by_cn("vanphong").folded("member"), set(&[person("anhdd")]));
    let toanso = by_cn("toanso");
    assert_eq!(toanso.values("mail"), ["toanso@vinhphuc.gov.vn"]);
    assert_eq!(
        toanso.values("description"),
        ["Danh sách thư toàn Sở Nội vụ"]
    );
    assert_eq!(
        toanso.folded("member"),
        set(&[person("annv"), person("nhunglth"), person("vanlt")])
    );
    for entry in &entries {
        let classes = entry.folded("objectClass");
        assert!(
            classes.contains("groupofnames") && classes.contains("top"),
            "{entry:?}"
        );
    }

    // Anh is in vanphong directly and in lanhdao through it.
    let (entries, _) = ldap::search(
        &mut client,
        &ANH.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["memberOf"],
    )
    .await;
    assert_eq!(
        entries[0].folded("memberOf"),
        set(&[group("vanphong"), group("lanhdao")])
    );
    let (entries, _) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::Subtree,
        &format!("(memberOf={})", group("lanhdao")),
        &["1.1"],
    )
    .await;
    assert_eq!(ldap::dns(&entries), people(&["annv", "anhdd"]));
    // DN-valued attributes compare as DNs, whatever their case and spacing.
    let (entries, _) = ldap::search(
        &mut client,
        GROUPS,
        Scope::Subtree,
        "(member=UID=annv, OU=People, DC=vinhphuc, DC=gov, DC=vn)",
        &["1.1"],
    )
    .await;
    assert_eq!(
        ldap::dns(&entries),
        set(&[group("lanhdao"), group("toanso")])
    );
    let (entries, _) = ldap::search(
        &mut client,
        GROUPS,
        Scope::Subtree,
        &format!("(member={})", group("vanphong")),
        &["1.1"],
    )
    .await;
    assert_eq!(ldap::dns(&entries), set(&[group("lanhdao")]));
}

async fn aliases_are_alternate_addresses(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    for (filter, expected) in [
        (
            "(mailAlternateAddress=hongnhung@vinhphuc.gov.vn)",
            vec!["nhunglth"],
        ),
        (
            "(mailAlternateAddress=NHUNG.LE@vinhphuc.gov.vn)",
            vec!["nhunglth"],
        ),
        (
            "(mailAlternateAddress=*@vinhphuc.gov.vn)",
            vec!["annv", "nhunglth"],
        ),
        ("(mailAlternateAddress=*)", vec!["annv", "nhunglth"]),
        ("(mail=nhunglth@vinhphuc.gov.vn)", vec!["nhunglth"]),
        // `mail` holds the primary address only.
        ("(mail=hongnhung@vinhphuc.gov.vn)", vec![]),
        (
            "(|(mail=an.nguyen@vinhphuc.gov.vn)(mailAlternateAddress=an.nguyen@vinhphuc.gov.vn))",
            vec!["annv"],
        ),
    ] {
        let (entries, result) =
            ldap::search(&mut client, PEOPLE, Scope::Subtree, filter, &["1.1"]).await;
        result.success().unwrap();
        assert_eq!(ldap::dns(&entries), people(&expected), "{filter}");
    }
}

async fn the_certificate_is_the_stored_der(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    for attrs in [
        vec!["userCertificate;binary"],
        vec!["userCertificate"],
        vec!["*"],
    ] {
        let (entries, result) =
            ldap::search(&mut client, PEOPLE, Scope::Subtree, "(uid=annv)", &attrs).await;
        result.success().unwrap();
        let certificates: Vec<_> = entries[0]
            .attrs
            .iter()
            .filter(|(name, _)| name.starts_with("usercertificate"))
            .flat_map(|(_, values)| values.clone())
            .collect();
        assert_eq!(certificates, vec![annv_certificate()], "{attrs:?}");
    }
    let (entries, _) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::Subtree,
        "(userCertificate=*)",
        &["1.1"],
    )
    .await;
    assert_eq!(ldap::dns(&entries), people(&["annv"]));
}

async fn agencies_carry_their_name_level_and_parent(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let (entries, result) = ldap::search(
        &mut client,
        AGENCIES,
        Scope::OneLevel,
        "(objectClass=organizationalUnit)",
        &["*"],
    )
    .await;
    result.success().unwrap();
    let expected = [
        ("vinhphuc", "UBND tỉnh Vĩnh Phúc", "province", None),
        ("snv", "Sở Nội vụ", "department", Some("vinhphuc")),
        (
            "vinhyen",
            "UBND thành phố Vĩnh Yên",
            "district",
            Some("vinhphuc"),
        ),
        (
            "lienbao",
            "UBND phường Liên Bảo",
            "commune",
            Some("vinhyen"),
        ),
    ];
    assert_eq!(entries.len(), expected.len(), "{entries:?}");
    for (code, name, level, parent) in expected {
        let entry = entries
            .iter()
            .find(|e| e.dn.to_lowercase() == agency(code))
            .unwrap_or_else(|| panic!("no agency {code} in {entries:?}"));
        assert_eq!(entry.folded("ou"), set(&[code]));
        assert_eq!(entry.values("description"), [name], "{code}");
        assert_eq!(entry.values("businessCategory"), [level], "{code}");
        let see_also: Vec<String> = parent.map(agency).into_iter().collect();
        assert_eq!(entry.folded("seeAlso"), set(&see_also), "{code}");
    }
    let (entries, _) = ldap::search(
        &mut client,
        AGENCIES,
        Scope::Subtree,
        "(description=sở nội vụ)",
        &["1.1"],
    )
    .await;
    assert_eq!(ldap::dns(&entries), set(&[agency("snv")]));
    let (entries, _) = ldap::search(
        &mut client,
        AGENCIES,
        Scope::Subtree,
        &format!("(seeAlso={})", agency("vinhphuc")),
        &["1.1"],
    )
    .await;
    assert_eq!(
        ldap::dns(&entries),
        set(&[agency("snv"), agency("vinhyen")])
    );
}

async fn a_service_sees_its_own_entry_only(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let (entries, result) = ldap::search(
        &mut client,
        SERVICES,
        Scope::Subtree,
        "(objectClass=*)",
        &["*"],
    )
    .await;
    result.success().unwrap();
    assert_eq!(
        ldap::dns(&entries),
        set(&[SERVICES, service("mailapp").as_str()])
    );
    let own = entries
        .iter()
        .find(|e| e.dn.to_lowercase() == service("mailapp"))
        .unwrap();
    assert_eq!(own.values("cn"), ["mailapp"]);
    assert_eq!(own.values("description"), ["Cổng thư điện tử"]);
    assert!(own.folded("objectClass").contains("applicationprocess"));
    assert!(!own.has("userPassword"));

    let mut official = p.bound(ANNV).await;
    let (entries, _) = ldap::search(
        &mut official,
        SERVICES,
        Scope::OneLevel,
        "(objectClass=*)",
        &["1.1"],
    )
    .await;
    assert!(entries.is_empty(), "{entries:?}");
}
