//! Simple binds: the look-up-then-bind flow services use, every form of bind name, anonymous
//! binds, TLS requirements, the single answer for every bad credential, must-change
//! passwords, SASL, StartTLS and LDAPS.

use congvu::directory::{Actor, OfficialStatus};
use congvu_tests::ldap::{
    self, bind, encode_message, extended_request, refusal, who_am_i, RawLdap, Transport, START_TLS,
    WHO_AM_I,
};
use congvu_tests::Backend;
use ldap3::Scope;

use super::fixture::{person, Province, Who, ANNV, HA, HOSTNAME, MAILAPP, NHUNG, PEOPLE, TUAN};
use super::ldap_tests;

ldap_tests!(
    a_service_finds_an_official_then_binds_as_them,
    every_bind_name_form_reaches_the_same_official,
    anonymous_bind_succeeds_as_nobody,
    a_name_without_a_password_is_unwilling,
    passwords_need_tls_on_the_plain_port,
    plaintext_binds_on_loopback_when_allowed,
    every_bad_credential_gets_the_same_answer,
    a_disabled_official_is_refused_at_once,
    a_must_change_password_binds_with_a_warning,
    sasl_is_not_supported,
    starttls_and_ldaps_both_carry_binds,
    starttls_discards_bytes_sent_before_the_handshake,
);

fn dn_identity(who: Who) -> String {
    format!("dn:{}", who.dn())
}

async fn a_service_finds_an_official_then_binds_as_them(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut service = p.bound(MAILAPP).await;
    for filter in [
        "(mail=annv@vinhphuc.gov.vn)",
        "(uid=annv)",
        "(mailAlternateAddress=an.nguyen@vinhphuc.gov.vn)",
    ] {
        let (entries, result) =
            ldap::search(&mut service, PEOPLE, Scope::Subtree, filter, &["1.1"]).await;
        result.success().unwrap();
        assert_eq!(
            ldap::dns(&entries),
            [ANNV.dn()].into(),
            "{filter} found {entries:?}"
        );
    }
    let (entries, _) = ldap::search(
        &mut service,
        PEOPLE,
        Scope::Subtree,
        "(mail=annv@vinhphuc.gov.vn)",
        &["1.1"],
    )
    .await;
    let found = entries[0].dn.clone();

    // The same connection binds as the official found, as PAM and web portals do.
    bind(&mut service, &found, ANNV.password())
        .await
        .success()
        .unwrap();
    assert_eq!(
        who_am_i(&mut service).await.to_lowercase(),
        dn_identity(ANNV)
    );
    let wrong = bind(&mut service, &found, "An-matkhau-2025").await;
    assert_eq!(wrong.rc, 49, "{wrong}");
    assert_eq!(
        who_am_i(&mut service).await,
        "",
        "a failed bind leaves the connection anonymous"
    );
    bind(&mut service, &MAILAPP.dn(), MAILAPP.password())
        .await
        .success()
        .unwrap();
    assert_eq!(
        who_am_i(&mut service).await.to_lowercase(),
        dn_identity(MAILAPP)
    );
}

async fn every_bind_name_form_reaches_the_same_official(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for name in [
        ANNV.dn(),
        "UID=annv,OU=People,DC=VinhPhuc,DC=gov,DC=vn".to_string(),
        "uid=annv, ou=people, dc=vinhphuc, dc=gov, dc=vn".to_string(),
        "annv".to_string(),
        "annv@vinhphuc.gov.vn".to_string(),
        "an.nguyen@vinhphuc.gov.vn".to_string(),
    ] {
        let mut client = p.anonymous().await;
        let result = bind(&mut client, &name, ANNV.password()).await;
        assert_eq!(result.rc, 0, "bind as {name:?}: {result}");
        assert_eq!(
            who_am_i(&mut client).await.to_lowercase(),
            dn_identity(ANNV),
            "bound as {name:?}"
        );
    }
    // Another official's alias with An's password is not An.
    let mut client = p.anonymous().await;
    let result = bind(&mut client, "nhung.le@vinhphuc.gov.vn", ANNV.password()).await;
    assert_eq!(result.rc, 49, "{result}");
    let result = bind(&mut client, "hongnhung@vinhphuc.gov.vn", NHUNG.password()).await;
    assert_eq!(result.rc, 0, "{result}");
    assert_eq!(
        who_am_i(&mut client).await.to_lowercase(),
        dn_identity(NHUNG)
    );

    // An alias taken away no longer names anyone, at once.
    p.directory()
        .remove_alias(&Actor::admin("it-snv"), "annv", "an.nguyen@vinhphuc.gov.vn")
        .await
        .unwrap();
    let result = bind(&mut client, "an.nguyen@vinhphuc.gov.vn", ANNV.password()).await;
    assert_eq!(result.rc, 49, "{result}");
    let result = bind(&mut client, "annv@vinhphuc.gov.vn", ANNV.password()).await;
    assert_eq!(result.rc, 0, "{result}");
}

async fn anonymous_bind_succeeds_as_nobody(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for transport in [Transport::Plain, Transport::StartTls, Transport::Ldaps] {
        let mut client = p.client(transport).await;
        bind(&mut client, "", "").await.success().unwrap();
        assert_eq!(who_am_i(&mut client).await, "", "{transport:?}");
    }
    // Anonymous after a successful bind drops the identity.
    let mut client = p.bound(ANNV).await;
    bind(&mut client, "", "").await.success().unwrap();
    assert_eq!(who_am_i(&mut client).await, "");
}

async fn a_name_without_a_password_is_unwilling(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.anonymous().await;
    for name in [ANNV.dn(), "annv".to_string(), MAILAPP.dn()] {
        let result = bind(&mut client, &name, "").await;
        // RFC 4513 §5.1.2: an unauthenticated bind is refused, never taken as anonymous.
        assert_eq!(result.rc, 53, "{name}: {result}");
        assert_eq!(who_am_i(&mut client).await, "");
    }
}

async fn passwords_need_tls_on_the_plain_port(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut plain = p.client(Transport::Plain).await;
    for who in [ANNV, MAILAPP] {
        let result = bind(&mut plain, &who.dn(), who.password()).await;
        assert_eq!(result.rc, 13, "{}: {result}", who.dn());
        assert_eq!(who_am_i(&mut plain).await, "");
    }
    // A wrong password gets the same answer: the server does not check it without TLS.
    let result = bind(&mut plain, &ANNV.dn(), "not-the-password").await;
    assert_eq!(result.rc, 13, "{result}");
    // Anonymous needs no secret, so it is fine in the clear.
    bind(&mut plain, "", "").await.success().unwrap();

    let mut raw = p.raw().await;
    assert_eq!(raw.bind(1, &ANNV.dn(), ANNV.password()).await, 13);
    // RFC 4511 §4.2: only LDAPv3 binds; an LDAPv2 bind is a protocol error.
    let answer = raw.call(2, ldap::bind_request_version(2, "", "")).await;
    assert_eq!(answer.result_code(), Some(2), "{answer:?}");
}

async fn plaintext_binds_on_loopback_when_allowed(backend: Backend) {
    let Some(p) = Province::start_with(backend, 0, |c| {
        c.ldap.allow_plaintext_bind_on_loopback = true;
    })
    .await
    else {
        return;
    };
    let mut plain = p.client(Transport::Plain).await;
    bind(&mut plain, &ANNV.dn(), ANNV.password())
        .await
        .success()
        .unwrap();
    assert_eq!(who_am_i(&mut plain).await.to_lowercase(), dn_identity(ANNV));
    let wrong = bind(&mut plain, &ANNV.dn(), "not-the-password").await;
    assert_eq!(wrong.rc, 49, "{wrong}");
}

async fn every_bad_credential_gets_the_same_answer(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let attempts = [
        ("wrong password", ANNV.dn(), "An-matkhau-2025".to_string()),
        ("unknown DN", person("khongco"), ANNV.password().to_string()),
        (
            "DN outside the tree",
            "uid=annv,dc=example,dc=com".to_string(),
            ANNV.password().to_string(),
        ),
        (
            "unknown login",
            "khongco".to_string(),
            ANNV.password().to_string(),
        ),
        (
            "unknown address",
            "khongco@vinhphuc.gov.vn".to_string(),
            ANNV.password().to_string(),
        ),
        (
            "disabled official, right password",
            TUAN.dn(),
            TUAN.password().to_string(),
        ),
        (
            "service, wrong secret",
            MAILAPP.dn(),
            "Mailapp-secret-2025".to_string(),
        ),
        (
            "official's password on a service",
            MAILAPP.dn(),
            ANNV.password().to_string(),
        ),
        (
            "a group's DN",
            "cn=lanhdao,ou=groups,dc=vinhphuc,dc=gov,dc=vn".to_string(),
            ANNV.password().to_string(),
        ),
        (
            "the base DN",
            "dc=vinhphuc,dc=gov,dc=vn".to_string(),
            ANNV.password().to_string(),
        ),
    ];
    let mut texts = Vec::new();
    for (what, dn, password) in &attempts {
        let mut client = p.anonymous().await;
        let result = bind(&mut client, dn, password).await;
        assert_eq!(result.rc, 49, "{what}: {result}");
        assert_eq!(result.matched, "", "{what}: {result}");
        assert!(
            result.text.contains("invalid credentials"),
            "{what}: {result}"
        );
        texts.push((*what, result.text));
    }
    let first = &texts[0].1;
    for (what, text) in &texts {
        assert_eq!(text, first, "{what} is told apart from a wrong password");
    }
}

async fn a_disabled_official_is_refused_at_once(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let admin = Actor::admin("it-snv");
    let mut client = p.anonymous().await;
    bind(&mut client, &ANNV.dn(), ANNV.password())
        .await
        .success()
        .unwrap();
    p.directory()
        .set_official_status(&admin, "annv", OfficialStatus::Disabled)
        .await
        .unwrap();
    let result = bind(&mut client, &ANNV.dn(), ANNV.password()).await;
    assert_eq!(result.rc, 49, "{result}");
    p.directory()
        .set_official_status(&admin, "tuanpq", OfficialStatus::Active)
        .await
        .unwrap();
    bind(&mut client, &TUAN.dn(), TUAN.password())
        .await
        .success()
        .unwrap();
}

async fn a_must_change_password_binds_with_a_warning(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.anonymous().await;
    let result = bind(&mut client, &HA.dn(), HA.password()).await;
    assert_eq!(result.rc, 0, "{result}");
    assert!(result.text.contains("must be changed"), "{result}");
    assert_eq!(who_am_i(&mut client).await.to_lowercase(), dn_identity(HA));

    let result = bind(&mut client, &ANNV.dn(), ANNV.password()).await;
    assert_eq!(result.rc, 0, "{result}");
    assert!(!result.text.contains("must be changed"), "{result}");
}

async fn sasl_is_not_supported(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for transport in [Transport::StartTls, Transport::Plain] {
        let mut client = p.client(transport).await;
        let result = refusal(
            client
                .sasl_external_bind()
                .await
                .and_then(ldap3::LdapResult::success),
        );
        assert_eq!(result.rc, 7, "{transport:?}: {result}");
        // The connection is still usable afterwards.
        assert_eq!(who_am_i(&mut client).await, "");
    }
}

async fn starttls_and_ldaps_both_carry_binds(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for transport in [Transport::StartTls, Transport::Ldaps] {
        let mut client = p.client(transport).await;
        bind(&mut client, &ANNV.dn(), ANNV.password())
            .await
            .success()
            .unwrap();
        assert_eq!(
            who_am_i(&mut client).await.to_lowercase(),
            dn_identity(ANNV),
            "{transport:?}"
        );
        // Already encrypted: another StartTLS is an operations error (RFC 4511 §4.14.1).
        let again = ldap::extended(&mut client, START_TLS, None).await;
        assert_eq!(again.rc, 1, "{transport:?}: {again}");
        assert_eq!(
            who_am_i(&mut client).await.to_lowercase(),
            dn_identity(ANNV),
            "{transport:?}: the session survives the refused StartTLS"
        );
    }
}

async fn starttls_discards_bytes_sent_before_the_handshake(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    // StartTLS and a Who am I? in one write. Answering the second in the clear, or feeding
    // it to the TLS handshake, is the STARTTLS command injection of CVE-2011-0411: the
    // server must either drop whatever arrived before the handshake or end the session.
    let mut raw = p.raw().await;
    let mut pipelined = encode_message(1, extended_request(START_TLS, None));
    pipelined.extend(encode_message(2, extended_request(WHO_AM_I, None)));
    raw.send_bytes(&pipelined).await.unwrap();
    let answer = raw.receive().await.expect("StartTLS is answered");
    assert_eq!(
        (answer.id, answer.op.id, answer.result_code()),
        (1, 24, Some(0)),
        "{answer:?}"
    );
    let name = rustls::pki_types::ServerName::try_from(HOSTNAME).unwrap();
    match p.tls_connector().connect(name, raw.into_stream()).await {
        Ok(tls) => {
            let mut secure = RawLdap::over(tls);
            // The first answer over TLS is to this request, not to the one sent in the clear.
            assert_eq!(secure.who_am_i(3).await, "");
        }
        // Closed without a byte more: nothing was answered in the clear. A close with the
        // pipelined request still unread reaches the client as a reset (Linux sends RST for
        // it), which carries no data either; cleartext would fail the handshake as corrupt.
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ),
            "the server sent something other than TLS after the StartTLS answer: {e}"
        ),
    }

    // Without pipelining, the same exchange upgrades and carries a bind.
    let mut raw = p.raw().await;
    let answer = raw.call(1, extended_request(START_TLS, None)).await;
    assert_eq!(answer.result_code(), Some(0), "{answer:?}");
    let name = rustls::pki_types::ServerName::try_from(HOSTNAME).unwrap();
    let tls = p
        .tls_connector()
        .connect(name, raw.into_stream())
        .await
        .expect("the TLS handshake after StartTLS");
    let mut secure = RawLdap::over(tls);
    assert_eq!(secure.who_am_i(2).await, "");
    assert_eq!(secure.bind(3, &ANNV.dn(), ANNV.password()).await, 0);
    assert_eq!(secure.who_am_i(4).await.to_lowercase(), dn_identity(ANNV));
}
