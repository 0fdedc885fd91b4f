//! Search filters: every RFC 4511 filter type, case-insensitive matching of Vietnamese text
//! (Unicode lowercase, NFC, collapsed spaces), telephone numbers without their punctuation,
//! and assertion values with `*`, `(`, `)`, `\`, `'`, `%` and `_` matched literally, never
//! as wildcards of the filter or of SQL. Items on supertypes, OIDs and tagged descriptions;
//! defined types no entry carries (false) against unknown ones (Undefined, even under NOT);
//! extensible match with named rules and `:dn`, through `ldap3` and through `ldapsearch`.

use std::collections::BTreeSet;

use congvu_tests::ldap;
use congvu_tests::Backend;
use ldap3::{ldap_escape, Ldap, Scope};

use super::fixture::{
    agency, person, Province, ACTIVE, AGENCIES, BASE, MAILAPP, NHUNG, PEOPLE, SPECIAL_TITLE,
};
use super::ldap_tests;

ldap_tests!(
    every_filter_type_selects_the_right_officials,
    vietnamese_text_matches_without_regard_to_case_or_form,
    telephone_numbers_match_without_spaces_or_hyphens,
    metacharacters_in_values_match_literally,
    like_wildcards_are_plain_characters,
    supertypes_oids_and_options_resolve_as_slapd_does,
    extensible_match_applies_the_named_rule,
    dn_attributes_match_the_values_of_the_rdns,
    extensible_match_reads_only_what_the_reader_may,
    ldapsearch_sends_extensible_and_supertype_filters,
);

/// The logins of the officials `filter` selects in `ou=people` (one level: the container
/// itself is not an official), as an unscoped service.
async fn logins(client: &mut Ldap, filter: &str) -> BTreeSet<String> {
    let (entries, result) = ldap::search(client, PEOPLE, Scope::OneLevel, filter, &["uid"]).await;
    assert_eq!(result.rc, 0, "{filter}: {result}");
    let found: BTreeSet<String> = entries.iter().flat_map(|e| e.values("uid")).collect();
    assert_eq!(
        found.len(),
        entries.len(),
        "{filter}: every entry once, each with its uid: {entries:?}"
    );
    for entry in &entries {
        assert_eq!(
            entry.dn.to_lowercase(),
            person(&entry.single("uid")),
            "{filter}"
        );
    }
    found
}

async fn check(client: &mut Ldap, cases: &[(String, Vec<&str>)]) {
    let mut wrong = Vec::new();
    for (filter, expected) in cases {
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        let found = logins(client, filter).await;
        if found != expected {
            wrong.push(format!("{filter}: expected {expected:?}, found {found:?}"));
        }
    }
    assert!(wrong.is_empty(), "wrong results:\n{}", wrong.join("\n"));
}

fn cases(list: &[(&str, &[&'static str])]) -> Vec<(String, Vec<&'static str>)> {
    list.iter()
        .map(|(filter, expected)| (filter.to_string(), expected.to_vec()))
        .collect()
}

async fn every_filter_type_selects_the_right_officials(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let everyone: &[&str] = &ACTIVE;
    check(
        &mut client,
        &cases(&[
            ("(uid=annv)", &["annv"]),
            ("(objectClass=inetOrgPerson)", everyone),
            ("(objectclass=INETORGPERSON)", everyone),
            ("(&(ou=snv)(title=Giám đốc))", &["annv"]),
            ("(|(uid=annv)(uid=anhdd)(uid=khongco))", &["anhdd", "annv"]),
            (
                "(&(ou=snv)(!(uid=annv)))",
                &["dacbiet", "nhunglth", "vanlt"],
            ),
            ("(!(ou=snv))", &["anhdd", "hadtt"]),
            (
                "(&(objectClass=person)(|(ou=vinhyen)(ou=lienbao)))",
                &["anhdd", "hadtt"],
            ),
            ("(cn=Nguyễn*)", &["annv"]),
            ("(cn=*Hồng*)", &["nhunglth"]),
            ("(cn=*Anh)", &["anhdd"]),
            ("(cn=Lê*Hồng*Nhung)", &["nhunglth"]),
            ("(cn=L*ị*g*g)", &["nhunglth"]),
            ("(cn=*thị*)", &["hadtt", "nhunglth", "vanlt"]),
            ("(cn=Nguyễn*An*Anh)", &[]),
            ("(mail=*@vinhphuc.gov.vn)", everyone),
            ("(employeeNumber=*)", everyone),
            (
                "(telephoneNumber=*)",
                &["anhdd", "annv", "hadtt", "nhunglth"],
            ),
            (
                "(departmentNumber=*)",
                &["anhdd", "annv", "dacbiet", "nhunglth", "vanlt"],
            ),
            ("(roomNumber=*)", &[]),
            (
                "(employeeNumber>=SNV-002)",
                &["anhdd", "dacbiet", "nhunglth", "vanlt"],
            ),
            ("(employeeNumber<=LB-004)", &["hadtt"]),
            (
                "(&(employeeNumber>=SNV-002)(employeeNumber<=SNV-006))",
                &["dacbiet", "nhunglth"],
            ),
            ("(cn~=nguyễn văn an)", &["annv"]),
            ("(uid~=ANNV)", &["annv"]),
            // An attribute nobody has, equality or substring, matches nothing.
            ("(foo=bar)", &[]),
            ("(foo=*b*)", &[]),
            ("(|(foo=bar)(uid=vanlt))", &["vanlt"]),
            // Disabled officials are never found, whatever the filter.
            ("(uid=tuanpq)", &[]),
            ("(employeeNumber=SNV-005)", &[]),
            ("(title=Chuyên viên)", &["vanlt"]),
            // entryDN compares as a DN: case and spaces after commas do not matter.
            (
                "(entryDN=UID=annv, OU=People, DC=vinhphuc, DC=gov, DC=vn)",
                &["annv"],
            ),
            (
                "(entryDN=uid=annv,ou=people,dc=vinhphuc,dc=gov,dc=vn)",
                &["annv"],
            ),
        ]),
    )
    .await;
}

async fn vietnamese_text_matches_without_regard_to_case_or_form(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    // "Nguyễn Văn An" with ễ and ă written as base letter plus combining marks (NFD).
    let decomposed = "Nguye\u{302}\u{303}n Va\u{306}n An";
    check(
        &mut client,
        &[
            ("(cn=nguyễn văn an)".to_string(), vec!["annv"]),
            ("(cn=NGUYỄN VĂN AN)".to_string(), vec!["annv"]),
            ("(cn=Nguyễn   Văn  An)".to_string(), vec!["annv"]),
            (format!("(cn={decomposed})"), vec!["annv"]),
            (format!("(cn={}*)", &decomposed[..9]), vec!["annv"]),
            ("(sn=đỗ)".to_string(), vec!["anhdd"]),
            ("(sn=ĐỖ)".to_string(), vec!["anhdd"]),
            ("(givenName=hà)".to_string(), vec!["hadtt"]),
            ("(cn=*THU HÀ)".to_string(), vec!["hadtt"]),
            ("(title=chủ tịch ubnd phường)".to_string(), vec!["hadtt"]),
            (
                "(departmentNumber=văn phòng hđnd và ubnd)".to_string(),
                vec!["anhdd"],
            ),
            ("(displayName=*– sở nội vụ)".to_string(), vec!["nhunglth"]),
            // Diacritics are significant: "Ha" is not "Hà", "Nguyen" is not "Nguyễn".
            ("(givenName=Ha)".to_string(), vec![]),
            ("(cn=Nguyen Van An)".to_string(), vec![]),
            ("(sn=Do)".to_string(), vec![]),
        ],
    )
    .await;
}

async fn telephone_numbers_match_without_spaces_or_hyphens(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    check(
        &mut client,
        &cases(&[
            ("(telephoneNumber=0211 3862 001)", &["annv"]),
            ("(telephoneNumber=02113862001)", &["annv"]),
            ("(telephoneNumber=0211-3862-001)", &["annv"]),
            ("(telephoneNumber=0912 000 003)", &["anhdd"]),
            ("(telephoneNumber=0912000003)", &["anhdd"]),
            ("(telephoneNumber=0912000*)", &["anhdd", "hadtt"]),
            ("(telephoneNumber=*3862*)", &["annv", "nhunglth"]),
            ("(telephoneNumber=0211386200)", &[]),
        ]),
    )
    .await;
    // The value returned is the one stored, punctuation included.
    let (entries, _) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::Subtree,
        "(uid=anhdd)",
        &["telephoneNumber"],
    )
    .await;
    assert_eq!(entries[0].values("telephoneNumber"), ["0912-000-003"]);
}

async fn metacharacters_in_values_match_literally(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let (entries, _) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::Subtree,
        "(uid=dacbiet)",
        &["title"],
    )
    .await;
    assert_eq!(
        entries[0].bytes("title"),
        vec![SPECIAL_TITLE.as_bytes().to_vec()]
    );

    let whole = ldap_escape(SPECIAL_TITLE).into_owned();
    assert_eq!(whole, "50% \\28tạm\\29 \\5c _x_ 'a' \\2ab");
    let special = vec!["dacbiet"];
    let none: Vec<&str> = vec![];
    check(
        &mut client,
        &[
            (format!("(title={whole})"), special.clone()),
            (format!("(title={})", whole.to_uppercase()), special.clone()),
            (
                format!("(title=*{}*)", ldap_escape("(tạm)")),
                special.clone(),
            ),
            (format!("(title=*{}*)", ldap_escape("\\")), special.clone()),
            (format!("(title=*{})", ldap_escape("*b")), special.clone()),
            ("(title=*'a'*)".to_string(), special.clone()),
            ("(title=*_x_*)".to_string(), special.clone()),
            ("(title=50%*)".to_string(), special.clone()),
            ("(title=*%*)".to_string(), special.clone()),
            // Escaped, `*` is a character: no title starts "50*" or is "*".
            (format!("(title={}*)", ldap_escape("50*")), none.clone()),
            (format!("(title={})", ldap_escape("*")), none.clone()),
            (
                format!("(title={})", ldap_escape("50% (tạm)")),
                none.clone(),
            ),
            // The title with the backslash dropped or doubled is another value.
            (
                "(title=50% \\28tạm\\29  _x_ 'a' \\2ab)".to_string(),
                none.clone(),
            ),
            (
                "(title=50% \\28tạm\\29 \\5c\\5c _x_ 'a' \\2ab)".to_string(),
                none.clone(),
            ),
            // Quotes are not SQL string delimiters.
            ("(title=')".to_string(), none.clone()),
            ("(title=*' OR '1'='1*)".to_string(), none.clone()),
            (
                format!("(cn={})", ldap_escape("x') OR 1=1 --")),
                none.clone(),
            ),
        ],
    )
    .await;
}

async fn like_wildcards_are_plain_characters(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    check(
        &mut client,
        &cases(&[
            // `%` and `_` would match "50% (tạm)…" and "Chuyên viên" if they reached SQL
            // LIKE as wildcards.
            ("(title=5%)", &[]),
            ("(title=%)", &[]),
            ("(title=%*)", &[]),
            ("(title=*%)", &[]),
            ("(title=Chuy_n vi_n)", &[]),
            ("(title=Chuy_n*)", &[]),
            ("(title=*_)", &[]),
            ("(title=_*)", &[]),
            ("(title=*vi_n)", &[]),
            ("(cn=%)", &[]),
            ("(uid=_nnv)", &[]),
            ("(uid=%)", &[]),
            ("(uid=a%)", &[]),
            ("(uid=*_*)", &[]),
            ("(mail=%@vinhphuc.gov.vn)", &[]),
            ("(title=Chuyên viên)", &["vanlt"]),
            ("(title=*x_*)", &["dacbiet"]),
        ]),
    )
    .await;
}

/// The snv officials that are active.
const SNV: [&str; 4] = ["annv", "dacbiet", "nhunglth", "vanlt"];

async fn supertypes_oids_and_options_resolve_as_slapd_does(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let everyone: &[&str] = &ACTIVE;
    check(
        &mut client,
        &cases(&[
            // `name` is the supertype of cn, sn, givenName, title and ou.
            ("(name=Nguyễn Văn An)", &["annv"]),
            ("(name=đỗ)", &["anhdd"]),
            ("(name=Hà)", &["hadtt"]),
            ("(name=Chuyên viên)", &["vanlt"]),
            ("(name=vinhyen)", &["anhdd"]),
            ("(name=*Thu*)", &["hadtt"]),
            ("(name=*)", everyone),
            ("(&(name=snv)(name=Giám đốc))", &["annv"]),
            ("(commonName=nguyễn văn an)", &["annv"]),
            // By OID: 2.5.4.3 is cn, 2.5.4.41 name.
            ("(2.5.4.3=Nguyễn*)", &["annv"]),
            ("(2.5.4.41=Lý Thị Vân)", &["vanlt"]),
            // congvu stores no language-tagged values: false, and true negated.
            ("(cn;lang-vi=Nguyễn Văn An)", &[]),
            ("(!(cn;lang-vi=Nguyễn Văn An))", everyone),
            // A type the schema defines that no entry carries is false, so NOT is true.
            ("(mobile=0912 000 003)", &[]),
            ("(mobile=*)", &[]),
            ("(!(mobile=x))", everyone),
            ("(&(ou=snv)(!(mobile=*)))", &SNV),
            // mobile has no ordering rule, and an unknown type is no type: Undefined,
            // which NOT leaves Undefined.
            ("(!(mobile<=5))", &[]),
            ("(!(foo=bar))", &[]),
            ("(!(cn;x-foo=Nguyễn Văn An))", &[]),
        ]),
    )
    .await;
}

async fn extensible_match_applies_the_named_rule(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    check(
        &mut client,
        &cases(&[
            ("(cn:caseExactMatch:=Nguyễn Văn An)", &["annv"]),
            ("(cn:caseExactMatch:=nguyễn văn an)", &[]),
            ("(cn:caseIgnoreMatch:=nguyễn văn an)", &["annv"]),
            ("(cn:2.5.13.5:=NGUYỄN VĂN AN)", &[]),
            ("(cn:2.5.13.2:=NGUYỄN VĂN AN)", &["annv"]),
            // No rule: the type's own equality rule.
            ("(cn:=nguyễn   văn an)", &["annv"]),
            ("(name:caseExactMatch:=Hà)", &["hadtt"]),
            ("(name:caseExactMatch:=hà)", &[]),
            ("(mail:caseExactIA5Match:=ANNV@vinhphuc.gov.vn)", &[]),
            ("(mail:caseIgnoreIA5Match:=ANNV@vinhphuc.gov.vn)", &["annv"]),
            (
                "(telephoneNumber:telephoneNumberMatch:=0912000003)",
                &["anhdd"],
            ),
            (
                "(memberOf:distinguishedNameMatch:=CN=vanphong, OU=groups, DC=vinhphuc, DC=gov, DC=vn)",
                &["anhdd"],
            ),
            // Without a type: every attribute the rule applies to.
            ("(:caseExactMatch:=Chuyên viên)", &["vanlt"]),
            ("(:caseIgnoreMatch:=VINHYEN)", &["anhdd"]),
            ("(:caseExactMatch:=VINHYEN)", &[]),
            // Unknown rules, rules of another kind or syntax: Undefined, not an error, and
            // NOT leaves them Undefined.
            ("(cn:noSuchMatch:=Nguyễn Văn An)", &[]),
            ("(!(cn:noSuchMatch:=Nguyễn Văn An))", &[]),
            ("(cn:1.2.3.4.5:=Nguyễn Văn An)", &[]),
            ("(cn:caseIgnoreSubstringsMatch:=Nguyễn)", &[]),
            ("(mail:caseIgnoreMatch:=annv@vinhphuc.gov.vn)", &[]),
            ("(!(mail:caseIgnoreMatch:=annv@vinhphuc.gov.vn))", &[]),
            ("(|(cn:noSuchMatch:=x)(uid=vanlt))", &["vanlt"]),
        ]),
    )
    .await;
}

/// The DNs `filter` selects in the whole tree, lowercased.
async fn dns_under_base(client: &mut Ldap, filter: &str) -> BTreeSet<String> {
    let (entries, result) = ldap::search(client, BASE, Scope::Subtree, filter, &["1.1"]).await;
    assert_eq!(result.rc, 0, "{filter}: {result}");
    ldap::dns(&entries)
}

async fn dn_attributes_match_the_values_of_the_rdns(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    // The officials of an agency, found by its RDN value, as clients of slapd trees do.
    check(
        &mut client,
        &cases(&[("(ou:dn:=snv)", &SNV), ("(ou:dn:=SNV)", &SNV)]),
    )
    .await;
    // Officials are not placed under their agency: ou=snv holds them through their `ou`
    // attribute, and the agency entry through its DN and its own `ou`.
    let mut snv: BTreeSet<String> = SNV.iter().map(|l| person(l)).collect();
    snv.insert(agency("snv"));
    assert_eq!(dns_under_base(&mut client, "(ou:dn:=snv)").await, snv);
    // The agencies' container matches `ou=agencies` itself; with `:dn` everything under it.
    let container = BTreeSet::from([AGENCIES.to_string()]);
    assert_eq!(
        dns_under_base(&mut client, "(ou=agencies)").await,
        container
    );
    let mut agencies = container.clone();
    agencies.extend(["vinhphuc", "snv", "vinhyen", "lienbao"].map(agency));
    assert_eq!(
        dns_under_base(&mut client, "(ou:dn:=agencies)").await,
        agencies
    );
    assert_eq!(
        dns_under_base(&mut client, "(ou:dn:caseExactMatch:=agencies)").await,
        agencies
    );
    assert!(
        dns_under_base(&mut client, "(ou:dn:caseExactMatch:=Agencies)")
            .await
            .is_empty()
    );
    // `name` is a supertype of ou; cn is not.
    assert_eq!(
        dns_under_base(&mut client, "(name:dn:=agencies)").await,
        agencies
    );
    assert!(dns_under_base(&mut client, "(cn:dn:=agencies)")
        .await
        .is_empty());
    // An agency's name is its description, not its RDN.
    assert!(dns_under_base(&mut client, "(ou:dn:=Sở Nội vụ)")
        .await
        .is_empty());
    // Every official is under ou=people.
    check(&mut client, &cases(&[("(ou:dn:=people)", &ACTIVE)])).await;
}

async fn extensible_match_reads_only_what_the_reader_may(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    // The HR id is readable by service accounts and by its owner only.
    let mut service = p.bound(MAILAPP).await;
    let mut official = p.bound(NHUNG).await;
    for filter in [
        "(:caseIgnoreMatch:=snv-001)",
        "(employeeNumber:caseExactMatch:=SNV-001)",
        "(employeeNumber:=snv-001)",
    ] {
        assert_eq!(
            logins(&mut service, filter).await,
            BTreeSet::from(["annv".to_string()]),
            "{filter}"
        );
        assert!(logins(&mut official, filter).await.is_empty(), "{filter}");
    }
    assert_eq!(
        logins(&mut official, "(:caseIgnoreMatch:=snv-002)").await,
        BTreeSet::from(["nhunglth".to_string()])
    );
}

/// The DNs `ldapsearch` prints for `filter` under `base`, bound as [`MAILAPP`] over
/// StartTLS; fails unless it exits 0 (result success).
async fn ldapsearch_dns(p: &Province, base: &str, filter: &str) -> BTreeSet<String> {
    let program = std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("ldapsearch"))
                .find(|path| path.is_file())
        })
        .expect("ldapsearch is not installed: install ldap-utils, which CI installs");
    let url = format!("ldap://{}", p.ldap_addr());
    let bind_dn = MAILAPP.dn();
    let args: Vec<String> = [
        "-x",
        "-ZZ",
        "-LLL",
        "-o",
        "ldif_wrap=no",
        "-o",
        "nettimeout=10",
        "-H",
        url.as_str(),
        "-D",
        bind_dn.as_str(),
        "-w",
        MAILAPP.password(),
        "-b",
        base,
        filter,
        "1.1",
    ]
    .map(str::to_string)
    .to_vec();
    let home = p.db.dir.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&program)
            .args(&args)
            .env("HOME", &home)
            .env("LDAPTLS_REQCERT", "never")
            .env_remove("LDAPURI")
            .env_remove("LDAPBASE")
            .env_remove("LDAPBINDDN")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{filter}: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("dn: "))
        .map(str::to_lowercase)
        .collect()
}

async fn ldapsearch_sends_extensible_and_supertype_filters(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let annv = BTreeSet::from([person("annv")]);
    let none = BTreeSet::new();
    for (filter, expected) in [
        ("(name=Nguyễn Văn An)", &annv),
        ("(cn:caseExactMatch:=Nguyễn Văn An)", &annv),
        ("(cn:caseExactMatch:=nguyễn văn an)", &none),
        ("(cn:caseIgnoreMatch:=nguyễn văn an)", &annv),
        ("(&(uid=annv)(!(mobile=x)))", &annv),
        // An unknown rule: no entries, and success.
        ("(cn:noSuchMatch:=Nguyễn Văn An)", &none),
    ] {
        assert_eq!(
            &ldapsearch_dns(&p, PEOPLE, filter).await,
            expected,
            "{filter}"
        );
    }
    let snv: BTreeSet<String> = SNV.iter().map(|l| person(l)).collect();
    assert_eq!(ldapsearch_dns(&p, PEOPLE, "(ou:dn:=snv)").await, snv);
}
