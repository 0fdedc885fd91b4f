//! Search filters: every RFC 4511 filter type, case-insensitive matching of Vietnamese text
//! (Unicode lowercase, NFC, collapsed spaces), telephone numbers without their punctuation,
//! and assertion values with `*`, `(`, `)`, `\`, `'`, `%` and `_` matched literally, never
//! as wildcards of the filter or of SQL.

use std::collections::BTreeSet;

use congvu_tests::ldap;
use congvu_tests::Backend;
use ldap3::{ldap_escape, Ldap, Scope};

use super::fixture::{person, Province, ACTIVE, MAILAPP, PEOPLE, SPECIAL_TITLE};
use super::ldap_tests;

ldap_tests!(
    every_filter_type_selects_the_right_officials,
    vietnamese_text_matches_without_regard_to_case_or_form,
    telephone_numbers_match_without_spaces_or_hyphens,
    metacharacters_in_values_match_literally,
    like_wildcards_are_plain_characters,
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
            // Extensible match never matches.
            ("(cn:caseExactMatch:=Nguyễn Văn An)", &[]),
            ("(cn:dn:=Nguyễn Văn An)", &[]),
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
