//! Who reads what: userPassword never leaves the server, officials read each other's public
//! attributes and only their own employee number, scoped services see their agency subtree,
//! anonymous clients see the root DSE and schema unless anonymous reading is switched on, and
//! disabled officials are invisible to everyone.

use std::collections::BTreeSet;
use std::time::Duration;

use congvu::directory::{Actor, OfficialStatus};
use congvu_tests::ldap::{self, bind, Transport};
use congvu_tests::Backend;
use ldap3::{Ldap, Scope};

use super::fixture::{
    agency, group, person, Province, Who, ACTIVE, AGENCIES, ANH, ANNV, BASE, GROUPS, HA, HRSYNC,
    MAILAPP, NHUNG, PEOPLE, PORTAL, SERVICES,
};
use super::ldap_tests;

ldap_tests!(
    user_password_is_never_returned,
    an_official_reads_public_attributes_and_only_their_own_hr_id,
    a_scoped_service_sees_only_its_subtree,
    anonymous_clients_see_only_the_root_dse_and_schema,
    anonymous_reading_when_allowed_is_an_official_view,
    disabled_officials_are_invisible_to_everyone,
);

fn set<S: AsRef<str>>(items: &[S]) -> BTreeSet<String> {
    items.iter().map(|s| s.as_ref().to_lowercase()).collect()
}

fn people(logins: &[&str]) -> BTreeSet<String> {
    logins.iter().map(|l| person(l)).collect()
}

async fn dns_found(client: &mut Ldap, base: &str, filter: &str) -> BTreeSet<String> {
    let (entries, result) = ldap::search(client, base, Scope::Subtree, filter, &["1.1"]).await;
    assert_eq!(result.rc, 0, "{base} {filter}: {result}");
    ldap::dns(&entries)
}

async fn user_password_is_never_returned(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for who in [ANNV, MAILAPP, HRSYNC, PORTAL] {
        let mut client = p.bound(who).await;
        for attrs in [
            vec!["userPassword"],
            vec!["*", "+", "userPassword"],
            vec!["USERPASSWORD", "authPassword"],
        ] {
            let (entries, result) =
                ldap::search(&mut client, BASE, Scope::Subtree, "(objectClass=*)", &attrs).await;
            result.success().unwrap();
            assert!(!entries.is_empty(), "{who:?} sees something");
            for entry in &entries {
                for name in entry.names() {
                    assert!(
                        !name.contains("password"),
                        "{who:?} asked {attrs:?} and got {name} of {}",
                        entry.dn
                    );
                }
            }
        }
        assert_eq!(
            dns_found(&mut client, BASE, "(userPassword=*)").await,
            BTreeSet::new(),
            "{who:?}: the hash is not even testable for presence"
        );
        assert_eq!(
            dns_found(&mut client, BASE, "(userPassword=*argon2*)").await,
            BTreeSet::new(),
            "{who:?}"
        );
    }
}

async fn an_official_reads_public_attributes_and_only_their_own_hr_id(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(ANNV).await;
    let (entries, result) = ldap::search(
        &mut client,
        &NHUNG.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["*", "employeeNumber"],
    )
    .await;
    result.success().unwrap();
    let nhung = &entries[0];
    assert_eq!(nhung.values("cn"), ["Lê Thị Hồng Nhung"]);
    assert_eq!(nhung.values("mail"), ["nhunglth@vinhphuc.gov.vn"]);
    assert_eq!(nhung.values("title"), ["Phó Giám đốc"]);
    assert_eq!(nhung.values("telephoneNumber"), ["0211 3862 002"]);
    assert_eq!(nhung.values("departmentNumber"), ["Ban Giám đốc"]);
    assert_eq!(nhung.folded("memberOf"), set(&[group("toanso")]));
    assert_eq!(nhung.values("mailAlternateAddress").len(), 2);
    assert!(!nhung.has("employeeNumber"), "{nhung:?}");

    let (entries, _) = ldap::search(
        &mut client,
        &ANNV.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["*"],
    )
    .await;
    assert_eq!(entries[0].values("employeeNumber"), ["SNV-001"]);

    // The hidden attribute is no oracle in Compare or in filters either.
    for guess in ["SNV-002", "SNV-009"] {
        let result = client
            .compare(&NHUNG.dn(), "employeeNumber", guess)
            .await
            .unwrap()
            .0;
        assert!(
            result.rc != 5 && result.rc != 6,
            "Compare tells {guess} about a hidden attribute: {result}"
        );
    }
    assert_eq!(
        dns_found(&mut client, PEOPLE, "(employeeNumber=SNV-002)").await,
        BTreeSet::new()
    );
    assert_eq!(
        dns_found(&mut client, PEOPLE, "(employeeNumber=VY*)").await,
        BTreeSet::new()
    );
    let with_hr_id = dns_found(&mut client, PEOPLE, "(employeeNumber=*)").await;
    assert!(with_hr_id.is_subset(&people(&["annv"])), "{with_hr_id:?}");

    // Everyone active, every agency and group; no service entries.
    assert_eq!(
        dns_found(&mut client, PEOPLE, "(objectClass=inetOrgPerson)").await,
        people(&ACTIVE)
    );
    assert_eq!(
        dns_found(&mut client, AGENCIES, "(objectClass=organizationalUnit)").await,
        set(&[
            AGENCIES.to_string(),
            agency("vinhphuc"),
            agency("snv"),
            agency("vinhyen"),
            agency("lienbao"),
        ])
    );
    assert_eq!(
        dns_found(&mut client, GROUPS, "(objectClass=groupOfNames)").await,
        set(&[group("lanhdao"), group("vanphong"), group("toanso")])
    );
    assert_eq!(
        dns_found(&mut client, SERVICES, "(objectClass=*)").await,
        set(&[SERVICES])
    );
}

async fn a_scoped_service_sees_only_its_subtree(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(PORTAL).await;
    let mut expected = set(&[BASE, PEOPLE, AGENCIES, GROUPS, SERVICES]);
    expected.extend(people(&["anhdd", "hadtt"]));
    expected.extend(set(&[
        agency("vinhyen"),
        agency("lienbao"),
        group("lanhdao"),
        group("vanphong"),
        group("toanso"),
        PORTAL.dn(),
    ]));
    assert_eq!(
        dns_found(&mut client, BASE, "(objectClass=*)").await,
        expected
    );

    let (entries, _) = ldap::search(
        &mut client,
        &HA.dn(),
        Scope::Base,
        "(objectClass=*)",
        &["employeeNumber", "cn"],
    )
    .await;
    assert_eq!(entries[0].values("employeeNumber"), ["LB-004"]);
    assert_eq!(
        dns_found(&mut client, PEOPLE, "(employeeNumber=VY-003)").await,
        people(&["anhdd"])
    );

    // Outside the scope is nowhere: not found, not comparable, not a base.
    assert_eq!(
        dns_found(&mut client, PEOPLE, "(|(uid=annv)(cn=Lê Thị Hồng Nhung))").await,
        BTreeSet::new()
    );
    let (_, result) =
        ldap::search(&mut client, &ANNV.dn(), Scope::Base, "(objectClass=*)", &[]).await;
    assert_eq!(result.rc, 32, "{result}");
    let result = client.compare(&ANNV.dn(), "uid", "annv").await.unwrap().0;
    assert_eq!(result.rc, 32, "{result}");
    let (_, result) = ldap::search(
        &mut client,
        &agency("snv"),
        Scope::Base,
        "(objectClass=*)",
        &[],
    )
    .await;
    assert_eq!(result.rc, 32, "{result}");
}

async fn anonymous_clients_see_only_the_root_dse_and_schema(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for transport in [Transport::Plain, Transport::StartTls, Transport::Ldaps] {
        let mut client = p.client(transport).await;
        bind(&mut client, "", "").await.success().unwrap();
        for base in [BASE, PEOPLE, GROUPS, AGENCIES] {
            for scope in [Scope::Base, Scope::OneLevel, Scope::Subtree] {
                let (entries, result) =
                    ldap::search(&mut client, base, scope, "(objectClass=*)", &["*"]).await;
                assert!(
                    entries.is_empty(),
                    "{transport:?} anonymous {base} {scope:?}: {entries:?}"
                );
                assert!(
                    result.rc == 0 || result.rc == 32,
                    "{transport:?} anonymous {base} {scope:?}: {result}"
                );
            }
        }
        let (_, result) =
            ldap::search(&mut client, &ANNV.dn(), Scope::Base, "(objectClass=*)", &[]).await;
        assert_eq!(result.rc, 32, "{transport:?}: {result}");
        let result = client.compare(&ANNV.dn(), "uid", "annv").await.unwrap().0;
        assert_eq!(result.rc, 32, "{transport:?}: {result}");

        let (entries, result) =
            ldap::search(&mut client, "", Scope::Base, "(objectClass=*)", &["+"]).await;
        result.success().unwrap();
        assert_eq!(entries.len(), 1);
        let (entries, result) = ldap::search(
            &mut client,
            "cn=Subschema",
            Scope::Base,
            "(objectClass=*)",
            &["objectClasses"],
        )
        .await;
        result.success().unwrap();
        assert_eq!(entries.len(), 1);
    }
}

async fn anonymous_reading_when_allowed_is_an_official_view(backend: Backend) {
    let Some(p) = Province::start_with(backend, 0, |c| c.ldap.allow_anonymous_read = true).await
    else {
        return;
    };
    let mut client = p.anonymous().await;
    let (entries, result) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::OneLevel,
        "(objectClass=*)",
        &["*", "+", "employeeNumber", "userPassword"],
    )
    .await;
    result.success().unwrap();
    assert_eq!(ldap::dns(&entries), people(&ACTIVE));
    for entry in &entries {
        assert!(entry.has("cn") && entry.has("mail"), "{entry:?}");
        assert!(!entry.has("employeeNumber"), "{entry:?}");
        assert!(!entry.has("userPassword"), "{entry:?}");
    }
    assert_eq!(
        dns_found(&mut client, PEOPLE, "(employeeNumber=*)").await,
        BTreeSet::new()
    );
    assert_eq!(
        dns_found(&mut client, GROUPS, "(objectClass=groupOfNames)").await,
        set(&[group("lanhdao"), group("vanphong"), group("toanso")])
    );
    assert_eq!(
        dns_found(&mut client, SERVICES, "(objectClass=*)").await,
        set(&[SERVICES])
    );
}

/// Whether `filter` finds `dn` for `who`, once the server's view has caught up with a
/// change made through the directory. The search may read a snapshot that follows the
/// database, so a change becomes visible within a bounded time, not necessarily at once.
async fn eventually_found(p: &Province, who: Who, filter: &str, dn: &str, want: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut client = p.bound(who).await;
    loop {
        let found = dns_found(&mut client, PEOPLE, filter).await.contains(dn);
        if found == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{filter}: {dn} {} for {who:?} 10 s after the change",
            if want {
                "still missing"
            } else {
                "still visible"
            }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn disabled_officials_are_invisible_to_everyone(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let tuan = person("tuanpq");
    for who in [MAILAPP, HRSYNC, ANNV, NHUNG] {
        let mut client = p.bound(who).await;
        for filter in [
            "(uid=tuanpq)",
            "(cn=Phạm Quốc Tuấn)",
            "(mail=tuanpq@vinhphuc.gov.vn)",
            "(objectClass=*)",
        ] {
            assert!(
                !dns_found(&mut client, BASE, filter).await.contains(&tuan),
                "{who:?} found the disabled official with {filter}"
            );
        }
        let (_, result) =
            ldap::search(&mut client, &tuan, Scope::Base, "(objectClass=*)", &[]).await;
        assert_eq!(result.rc, 32, "{who:?}: {result}");
    }

    let admin = Actor::admin("it-snv");
    p.directory()
        .set_official_status(&admin, ANH.name(), OfficialStatus::Disabled)
        .await
        .unwrap();
    eventually_found(&p, MAILAPP, "(uid=anhdd)", &ANH.dn(), false).await;
    let mut client = p.bound(MAILAPP).await;
    let (entries, _) = ldap::search(
        &mut client,
        &group("vanphong"),
        Scope::Base,
        "(objectClass=*)",
        &["member"],
    )
    .await;
    assert_eq!(entries.len(), 1, "the group stays");
    p.directory()
        .set_official_status(&admin, "tuanpq", OfficialStatus::Active)
        .await
        .unwrap();
    eventually_found(&p, MAILAPP, "(uid=tuanpq)", &tuan, true).await;
}
