//! Operations besides bind and search: Compare, Who am I?, Password Modify (an official's
//! own change, a service's reset, everyone else refused), the writes the directory refuses
//! because congvu-admin manages it, Abandon and Unbind.

use std::collections::HashSet;

use congvu_tests::ldap::{
    self, abandon_request, bind, refusal, search_request, unbind_request, who_am_i, Transport,
    WHO_AM_I,
};
use congvu_tests::Backend;
use ldap3::controls::RawControl;
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, LdapResult, Mod, Scope};

use super::fixture::{
    person, Province, Who, ANH, ANNV, BASE, HA, HRSYNC, MAILAPP, NHUNG, PEOPLE, PORTAL, VINHYEN_HR,
};
use super::ldap_tests;

ldap_tests!(
    compare_answers_true_false_or_no_such_object,
    who_am_i_names_the_bound_identity,
    an_official_changes_their_own_password,
    a_wrong_or_missing_old_password_changes_nothing,
    new_passwords_must_be_long_enough,
    must_change_is_cleared_by_a_change,
    a_service_allowed_to_reset_resets_within_its_scope,
    nobody_else_may_change_a_password,
    writes_are_refused,
    unknown_critical_controls_and_extended_operations_are_refused,
    abandon_gets_no_answer,
    unbind_closes_the_connection,
);

async fn compare(client: &mut Ldap, dn: &str, attr: &str, value: &str) -> LdapResult {
    client.compare(dn, attr, value).await.unwrap().0
}

async fn compare_answers_true_false_or_no_such_object(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    for (dn, attr, value, rc) in [
        (ANNV.dn(), "cn", "Nguyễn Văn An", 6),
        (ANNV.dn(), "cn", "nguyễn văn an", 6),
        (ANNV.dn(), "commonName", "NGUYỄN VĂN AN", 6),
        (ANNV.dn(), "title", "Phó Giám đốc", 5),
        (ANNV.dn(), "mail", "annv@vinhphuc.gov.vn", 6),
        (
            ANNV.dn(),
            "mailAlternateAddress",
            "an.nguyen@vinhphuc.gov.vn",
            6,
        ),
        (ANNV.dn(), "telephoneNumber", "02113862001", 6),
        (ANNV.dn(), "employeeNumber", "SNV-001", 6),
        (ANNV.dn(), "employeeNumber", "SNV-002", 5),
        (
            ANNV.dn(),
            "memberOf",
            "cn=lanhdao,ou=groups,dc=vinhphuc,dc=gov,dc=vn",
            6,
        ),
        (
            ANH.dn(),
            "memberOf",
            "CN=lanhdao,OU=groups,DC=vinhphuc,DC=gov,DC=vn",
            6,
        ),
        (ANNV.dn(), "objectClass", "inetOrgPerson", 6),
        (
            "cn=lanhdao,ou=groups,dc=vinhphuc,dc=gov,dc=vn".to_string(),
            "member",
            "uid=annv,ou=people,dc=vinhphuc,dc=gov,dc=vn",
            6,
        ),
        (person("khongco"), "cn", "Nguyễn Văn An", 32),
        (person("tuanpq"), "cn", "Phạm Quốc Tuấn", 32),
    ] {
        let result = compare(&mut client, &dn, attr, value).await;
        assert_eq!(result.rc, rc, "compare {dn} {attr}={value}: {result}");
    }
    let result = compare(&mut client, &ANNV.dn(), "userPassword", ANNV.password()).await;
    assert_eq!(result.rc, 50, "{result}");
    let result = compare(&mut client, &ANNV.dn(), "userPassword", "wrong").await;
    assert_eq!(
        result.rc, 50,
        "the refusal does not depend on the value: {result}"
    );
    // The typed helper agrees.
    assert!(client
        .compare(&ANNV.dn(), "uid", "annv")
        .await
        .unwrap()
        .equal()
        .unwrap());
    assert!(!client
        .compare(&ANNV.dn(), "uid", "anhdd")
        .await
        .unwrap()
        .equal()
        .unwrap());
}

async fn who_am_i_names_the_bound_identity(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.anonymous().await;
    assert_eq!(who_am_i(&mut client).await, "");
    for who in [ANNV, MAILAPP, NHUNG] {
        bind(&mut client, &who.dn(), who.password())
            .await
            .success()
            .unwrap();
        assert_eq!(
            who_am_i(&mut client).await.to_lowercase(),
            format!("dn:{}", who.dn())
        );
    }
    let mut ldaps = p.client(Transport::Ldaps).await;
    assert_eq!(who_am_i(&mut ldaps).await, "");
}

/// Password Modify (RFC 3062), answered with any result code.
async fn password_modify(
    client: &mut Ldap,
    user: Option<&str>,
    old: Option<&str>,
    new: Option<&str>,
) -> LdapResult {
    client
        .extended(PasswordModify {
            user_id: user,
            old_pass: old,
            new_pass: new,
        })
        .await
        .unwrap()
        .1
}

/// The result code of a fresh bind as `dn` with `password`.
async fn bind_rc(p: &Province, dn: &str, password: &str) -> u32 {
    let mut client = p.anonymous().await;
    bind(&mut client, dn, password).await.rc
}

async fn an_official_changes_their_own_password(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(ANNV).await;
    let new = "Mật khẩu mới tháng Chạp 2027";
    password_modify(&mut client, None, Some(ANNV.password()), Some(new))
        .await
        .success()
        .unwrap();
    assert_eq!(bind_rc(&p, &ANNV.dn(), new).await, 0);
    assert_eq!(bind_rc(&p, &ANNV.dn(), ANNV.password()).await, 49);
    // The connection stays bound as An.
    assert_eq!(
        who_am_i(&mut client).await.to_lowercase(),
        format!("dn:{}", ANNV.dn())
    );

    // Naming oneself, by DN or by login, is the same change.
    let newer = "Đồi-chè-Tam-Đảo-2028";
    password_modify(&mut client, Some(&ANNV.dn()), Some(new), Some(newer))
        .await
        .success()
        .unwrap();
    let newest = "Sương-mù-Tam-Đảo-2029";
    password_modify(&mut client, Some("annv"), Some(newer), Some(newest))
        .await
        .success()
        .unwrap();
    assert_eq!(bind_rc(&p, "annv", newest).await, 0);
    assert_eq!(bind_rc(&p, "annv", newer).await, 49);
    // Other officials are untouched.
    assert_eq!(bind_rc(&p, &NHUNG.dn(), NHUNG.password()).await, 0);
}

async fn a_wrong_or_missing_old_password_changes_nothing(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(ANNV).await;
    let new = "An-matkhau-2030-moi";
    let wrong = password_modify(&mut client, None, Some("An-matkhau-2025"), Some(new)).await;
    assert!(
        wrong.rc == 49 || wrong.rc == 50,
        "a wrong old password is invalidCredentials or insufficientAccessRights: {wrong}"
    );
    let missing_old = password_modify(&mut client, None, None, Some(new)).await;
    assert_ne!(missing_old.rc, 0, "an official must give the old password");
    let missing_new = password_modify(&mut client, None, Some(ANNV.password()), None).await;
    assert_ne!(missing_new.rc, 0, "the server does not generate passwords");
    assert_eq!(bind_rc(&p, &ANNV.dn(), ANNV.password()).await, 0);
    assert_eq!(bind_rc(&p, &ANNV.dn(), new).await, 49);
}

async fn new_passwords_must_be_long_enough(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(ANNV).await;
    // MIN_CHOSEN_PASSWORD_CHARS counts characters, not bytes: nine Vietnamese letters are
    // more than nine bytes and still too short.
    for short in ["123456789", "ấầẩẫậắằẳẵ", "ngắn"] {
        let result = password_modify(&mut client, None, Some(ANNV.password()), Some(short)).await;
        assert_eq!(result.rc, 19, "{short:?}: {result}");
    }
    assert_eq!(bind_rc(&p, &ANNV.dn(), ANNV.password()).await, 0);
    let ten = "ấ8#Qz!kưVđ";
    assert_eq!(ten.chars().count(), 10);
    password_modify(&mut client, None, Some(ANNV.password()), Some(ten))
        .await
        .success()
        .unwrap();
    assert_eq!(bind_rc(&p, &ANNV.dn(), ten).await, 0);
}

async fn must_change_is_cleared_by_a_change(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.anonymous().await;
    let first = bind(&mut client, &HA.dn(), HA.password()).await;
    assert!(first.text.contains("must be changed"), "{first}");
    let new = "Đổi-mật-khẩu-tháng-3-2026";
    password_modify(&mut client, None, Some(HA.password()), Some(new))
        .await
        .success()
        .unwrap();
    let mut again = p.anonymous().await;
    let result = bind(&mut again, &HA.dn(), new).await;
    assert_eq!(result.rc, 0, "{result}");
    assert!(!result.text.contains("must be changed"), "{result}");
}

async fn a_service_allowed_to_reset_resets_within_its_scope(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut hr = p.bound(HRSYNC).await;
    let reset = "Dat-lai-cho-An-2026";
    password_modify(&mut hr, Some(&ANNV.dn()), None, Some(reset))
        .await
        .success()
        .unwrap();
    assert_eq!(bind_rc(&p, &ANNV.dn(), reset).await, 0);
    assert_eq!(bind_rc(&p, &ANNV.dn(), ANNV.password()).await, 49);
    // By login works as well.
    let again = "Dat-lai-lan-hai-2026";
    password_modify(&mut hr, Some("annv"), None, Some(again))
        .await
        .success()
        .unwrap();
    assert_eq!(bind_rc(&p, "annv", again).await, 0);
    // The policy holds for resets too.
    let short = password_modify(&mut hr, Some(&ANNV.dn()), None, Some("ngan")).await;
    assert_eq!(short.rc, 19, "{short}");

    // Vĩnh Yên's reset account reaches Anh (city) and Hà (ward below it), not An.
    let mut city = p.bound(VINHYEN_HR).await;
    let for_anh = "Dat-lai-cho-Anh-2026";
    password_modify(&mut city, Some(&ANH.dn()), None, Some(for_anh))
        .await
        .success()
        .unwrap();
    assert_eq!(bind_rc(&p, &ANH.dn(), for_anh).await, 0);
    let for_ha = "Dat-lai-cho-Ha-2026";
    password_modify(&mut city, Some(&HA.dn()), None, Some(for_ha))
        .await
        .success()
        .unwrap();
    assert_eq!(bind_rc(&p, &HA.dn(), for_ha).await, 0);
    let outside = password_modify(
        &mut city,
        Some(&NHUNG.dn()),
        None,
        Some("Khong-duoc-phep-2026"),
    )
    .await;
    assert_eq!(outside.rc, 50, "{outside}");
    assert_eq!(bind_rc(&p, &NHUNG.dn(), NHUNG.password()).await, 0);
}

async fn nobody_else_may_change_a_password(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let target = "Khong-duoc-phep-2026";
    // (who tries, bound as, userIdentity, oldPasswd)
    type Attempt<'a> = (&'a str, Option<Who>, Option<String>, Option<&'a str>);
    let attempts: [Attempt; 6] = [
        ("anonymous", None, Some(ANNV.dn()), Some(ANNV.password())),
        ("anonymous, no identity", None, None, Some(ANNV.password())),
        (
            "another official, with the right old password",
            Some(NHUNG),
            Some(ANNV.dn()),
            Some(ANNV.password()),
        ),
        (
            "another official, by login",
            Some(NHUNG),
            Some("annv".into()),
            None,
        ),
        (
            "a service without the right",
            Some(MAILAPP),
            Some(ANNV.dn()),
            None,
        ),
        (
            "a scoped service without the right",
            Some(PORTAL),
            Some(ANH.dn()),
            None,
        ),
    ];
    for (who_tries, who, user, old) in attempts {
        let mut client = match who {
            Some(who) => p.bound(who).await,
            None => p.anonymous().await,
        };
        let result = password_modify(&mut client, user.as_deref(), old, Some(target)).await;
        assert_eq!(result.rc, 50, "{who_tries}: {result}");
    }
    assert_eq!(bind_rc(&p, &ANNV.dn(), ANNV.password()).await, 0);
    assert_eq!(bind_rc(&p, &ANH.dn(), ANH.password()).await, 0);
    assert_eq!(bind_rc(&p, &ANNV.dn(), target).await, 49);
    // A service resetting another service: never.
    let mut hr = p.bound(HRSYNC).await;
    let result = password_modify(&mut hr, Some(&MAILAPP.dn()), None, Some(target)).await;
    assert_ne!(result.rc, 0, "{result}");
    assert_eq!(bind_rc(&p, &MAILAPP.dn(), MAILAPP.password()).await, 0);
}

async fn writes_are_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for who in [Some(MAILAPP), Some(ANNV), Some(HRSYNC), None] {
        let mut client = match who {
            Some(who) => p.bound(who).await,
            None => p.anonymous().await,
        };
        let mut results = Vec::new();
        results.push((
            "add",
            refusal(
                client
                    .add(
                        &person("moi"),
                        vec![
                            ("objectClass", HashSet::from(["inetOrgPerson"])),
                            ("uid", HashSet::from(["moi"])),
                            ("cn", HashSet::from(["Người Mới"])),
                            ("sn", HashSet::from(["Người"])),
                        ],
                    )
                    .await
                    .and_then(LdapResult::success),
            ),
        ));
        results.push((
            "modify",
            refusal(
                client
                    .modify(
                        &ANNV.dn(),
                        vec![Mod::Replace("title", HashSet::from(["Chuyên viên"]))],
                    )
                    .await
                    .and_then(LdapResult::success),
            ),
        ));
        results.push((
            "modify userPassword",
            refusal(
                client
                    .modify(
                        &ANNV.dn(),
                        vec![Mod::Replace(
                            "userPassword",
                            HashSet::from(["Mat-khau-moi-2026"]),
                        )],
                    )
                    .await
                    .and_then(LdapResult::success),
            ),
        ));
        results.push((
            "delete",
            refusal(
                client
                    .delete(&NHUNG.dn())
                    .await
                    .and_then(LdapResult::success),
            ),
        ));
        results.push((
            "modify DN",
            refusal(
                client
                    .modifydn(&ANNV.dn(), "uid=annv2", true, None)
                    .await
                    .and_then(LdapResult::success),
            ),
        ));
        for (operation, result) in results {
            assert_eq!(result.rc, 53, "{operation} as {who:?}: {result}");
            assert!(
                result.text.contains("congvu-admin"),
                "{operation} as {who:?}: {result}"
            );
        }
    }
    // Nothing changed.
    let mut client = p.bound(MAILAPP).await;
    let (entries, _) = ldap::search(
        &mut client,
        PEOPLE,
        Scope::Subtree,
        "(|(uid=moi)(uid=annv2)(uid=nhunglth)(&(uid=annv)(title=Giám đốc)))",
        &["1.1"],
    )
    .await;
    assert_eq!(
        ldap::dns(&entries),
        [ANNV.dn(), NHUNG.dn()].into_iter().collect()
    );
    assert_eq!(bind_rc(&p, &ANNV.dn(), ANNV.password()).await, 0);
}

async fn unknown_critical_controls_and_extended_operations_are_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(ANNV).await;
    let unknown = |critical: bool| RawControl {
        ctype: "1.3.6.1.4.1.99999.1".into(),
        crit: critical,
        val: None,
    };
    // RFC 4511 §4.1.11: a critical control the server does not know fails the operation.
    client.with_controls(unknown(true));
    let (entries, result) =
        ldap::search(&mut client, PEOPLE, Scope::Subtree, "(uid=annv)", &["1.1"]).await;
    assert_eq!(result.rc, 12, "{result}");
    assert!(entries.is_empty(), "{entries:?}");
    // A non-critical one is ignored.
    client.with_controls(unknown(false));
    let (entries, result) =
        ldap::search(&mut client, PEOPLE, Scope::Subtree, "(uid=annv)", &["1.1"]).await;
    assert_eq!((entries.len(), result.rc), (1, 0), "{result}");
    // RFC 4511 §4.12: an extended operation the server does not know is a protocol error.
    let result = ldap::extended(&mut client, "1.3.6.1.4.1.99999.2", None).await;
    assert_eq!(result.rc, 2, "{result}");
    assert_eq!(
        who_am_i(&mut client).await.to_lowercase(),
        format!("dn:{}", ANNV.dn())
    );
}

async fn abandon_gets_no_answer(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    // Raw, to see every message: a search, an Abandon of it, and a Who am I?, pipelined.
    // The search may finish or stop, but the Abandon itself is never answered (RFC 4511
    // §4.11) and the Who am I? is.
    let mut raw = p.raw().await;
    raw.send(
        2,
        search_request(BASE, Scope::Subtree, "(objectClass=*)", &["*"]),
    )
    .await;
    raw.send(3, abandon_request(2)).await;
    raw.send(4, abandon_request(99)).await;
    raw.send(5, ldap::extended_request(WHO_AM_I, None)).await;
    loop {
        let message = raw
            .receive()
            .await
            .expect("the connection stays open after an Abandon");
        assert!(
            message.id == 2 || message.id == 5,
            "an answer to message {}: {message:?}",
            message.id
        );
        if message.id == 5 {
            assert_eq!(message.result_code(), Some(0), "{message:?}");
            break;
        }
    }

    // ldap3's own Abandon of a streaming search leaves the connection usable.
    let mut client = p.bound(ANNV).await;
    let mut stream = client
        .streaming_search(PEOPLE, Scope::Subtree, "(objectClass=*)", vec!["*"])
        .await
        .unwrap();
    let id = stream.ldap_handle().last_id();
    let _ = stream.finish().await;
    client.abandon(id).await.unwrap();
    assert_eq!(
        who_am_i(&mut client).await.to_lowercase(),
        format!("dn:{}", ANNV.dn())
    );
}

async fn unbind_closes_the_connection(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut raw = p.raw().await;
    assert_eq!(raw.who_am_i(1).await, "");
    raw.send(2, unbind_request()).await;
    let after = raw.receive_until_closed().await;
    assert!(after.is_empty(), "Unbind has no response: {after:?}");

    let mut client = p.bound(ANNV).await;
    client.unbind().await.unwrap();
    assert!(
        client.extended(ldap3::exop::WhoAmI).await.is_err(),
        "an operation after Unbind"
    );
}
