//! Limits that protect the server: account lockout and its clearing, the per-address bind
//! throttle, request sizes before and after bind, filter depth, malformed BER, idle
//! connections, connections per address and requests pending on one connection.

use std::collections::BTreeMap;
use std::time::Duration;

use congvu::directory::Actor;
use congvu_tests::ldap::{self, bind, encode_message, search_request, Message, RawLdap};
use congvu_tests::Backend;
use ldap3::Scope;

use super::fixture::{person, Province, ANNV, BASE, MAILAPP, NHUNG, PEOPLE};
use super::ldap_tests;
use crate::admin::AdminCli;

ldap_tests!(
    repeated_failures_lock_an_official_until_unlocked,
    the_admin_cli_unlocks_a_locked_official,
    one_address_failing_too_often_is_throttled,
    an_oversized_request_before_bind_ends_the_connection,
    a_bound_client_may_send_larger_requests,
    a_failed_bind_keeps_the_unbound_limit,
    filters_nested_too_deep_are_refused,
    malformed_ber_ends_the_connection,
    idle_connections_are_closed,
    connections_per_address_are_limited,
    requests_piled_up_on_a_connection_get_busy,
);

/// The result code of a fresh StartTLS bind as `dn`.
async fn bind_rc(p: &Province, dn: &str, password: &str) -> u32 {
    let mut client = p.anonymous().await;
    bind(&mut client, dn, password).await.rc
}

/// Reads until the server closes and checks that it said goodbye with a Notice of
/// Disconnection first (RFC 4511 §4.4.1). Returns the notice.
async fn expect_disconnection(raw: &mut RawLdap, context: &str) -> Message {
    let messages = raw.receive_until_closed().await;
    let notice = messages
        .iter()
        .find(|m| m.is_notice_of_disconnection())
        .unwrap_or_else(|| {
            panic!("{context}: no Notice of Disconnection before the close, got {messages:?}")
        })
        .clone();
    assert!(
        messages
            .last()
            .is_some_and(Message::is_notice_of_disconnection),
        "{context}: the notice is the last message: {messages:?}"
    );
    assert!(notice.result_code().is_some_and(|rc| rc != 0), "{notice:?}");
    notice
}

async fn repeated_failures_lock_an_official_until_unlocked(backend: Backend) {
    let Some(p) = Province::start_with(backend, 0, |c| {
        c.auth.lockout_failures = 3;
        c.auth.lockout_window_seconds = 900;
    })
    .await
    else {
        return;
    };
    let an = ANNV.dn();
    let wrong = "An-matkhau-2025";
    // Just under the limit, the right password still works.
    for _ in 0..2 {
        assert_eq!(bind_rc(&p, &an, wrong).await, 49);
    }
    assert_eq!(bind_rc(&p, &an, ANNV.password()).await, 0);

    for _ in 0..3 {
        assert_eq!(bind_rc(&p, &an, wrong).await, 49);
    }
    let mut client = p.anonymous().await;
    let locked = bind(&mut client, &an, ANNV.password()).await;
    assert_eq!(locked.rc, 49, "locked: {locked}");
    assert!(locked.text.contains("invalid credentials"), "{locked}");
    // Every bind name leads to the same locked account.
    assert_eq!(
        bind_rc(&p, "annv@vinhphuc.gov.vn", ANNV.password()).await,
        49
    );
    // Others are not affected.
    assert_eq!(bind_rc(&p, &NHUNG.dn(), NHUNG.password()).await, 0);

    let cleared = p
        .directory()
        .unlock_official(&Actor::admin("it-snv"), "annv")
        .await
        .unwrap();
    assert!(
        cleared.is_some_and(|l| l.locked_until.is_some()),
        "{cleared:?}"
    );
    assert_eq!(bind_rc(&p, &an, ANNV.password()).await, 0);

    // Locked again, through every name the official binds with; the lock ends with the
    // window.
    for name in [an.as_str(), "annv", "an.nguyen@vinhphuc.gov.vn"] {
        assert_eq!(bind_rc(&p, name, wrong).await, 49);
    }
    assert_eq!(bind_rc(&p, &an, ANNV.password()).await, 49);
    p.clock.advance(899);
    assert_eq!(
        bind_rc(&p, &an, ANNV.password()).await,
        49,
        "still in the window"
    );
    p.clock.advance(2);
    assert_eq!(
        bind_rc(&p, &an, ANNV.password()).await,
        0,
        "after the window"
    );
}

async fn the_admin_cli_unlocks_a_locked_official(backend: Backend) {
    let Some(p) = Province::start_with(backend, 0, |c| c.auth.lockout_failures = 3).await else {
        return;
    };
    for _ in 0..3 {
        assert_eq!(bind_rc(&p, "annv", "An-matkhau-2025").await, 49);
    }
    assert_eq!(bind_rc(&p, "annv", ANNV.password()).await, 49);
    let cli = AdminCli::new(&p.db);
    let run = tokio::task::spawn_blocking(move || cli.run(&["user", "unlock", "annv"]))
        .await
        .unwrap()
        .ok();
    assert!(
        run.stdout.starts_with("unlocked annv: cleared ") && run.stdout.contains("lockout"),
        "{}",
        run.stdout
    );
    assert_eq!(bind_rc(&p, "annv", ANNV.password()).await, 0);
}

async fn one_address_failing_too_often_is_throttled(backend: Backend) {
    let Some(p) = Province::start_with(backend, 0, |c| {
        c.auth.lockout_failures = 100;
        c.auth.lockout_source_failures = 4;
        c.auth.lockout_window_seconds = 900;
    })
    .await
    else {
        return;
    };
    // Three failures, each for a different name: no account is locked, the address is not
    // throttled yet.
    for i in 0..3 {
        assert_eq!(
            bind_rc(&p, &person(&format!("khongco{i}")), "x-matkhau-2026").await,
            49
        );
    }
    assert_eq!(bind_rc(&p, &ANNV.dn(), ANNV.password()).await, 0);

    p.clock.advance(901);
    for i in 0..4 {
        assert_eq!(
            bind_rc(&p, &person(&format!("khongco{i}")), "x-matkhau-2026").await,
            49
        );
    }
    // Now every bind from this address is refused, right password or not, same answer.
    let mut client = p.anonymous().await;
    let throttled = bind(&mut client, &ANNV.dn(), ANNV.password()).await;
    assert_eq!(throttled.rc, 49, "{throttled}");
    assert!(
        throttled.text.contains("invalid credentials"),
        "{throttled}"
    );
    assert_eq!(bind_rc(&p, &NHUNG.dn(), NHUNG.password()).await, 49);
    assert_eq!(bind_rc(&p, &MAILAPP.dn(), MAILAPP.password()).await, 49);
    // The officials themselves are not locked: the window passing lifts the throttle.
    p.clock.advance(901);
    assert_eq!(bind_rc(&p, &ANNV.dn(), ANNV.password()).await, 0);
    assert_eq!(bind_rc(&p, &NHUNG.dn(), NHUNG.password()).await, 0);
}

/// A BER SEQUENCE header announcing `length` content bytes, in the long form.
fn sequence_header(length: u32) -> Vec<u8> {
    let mut header = vec![0x30, 0x84];
    header.extend_from_slice(&length.to_be_bytes());
    header
}

/// A search whose filter value is `n` letters long.
fn long_search(id: i32, n: usize) -> Vec<u8> {
    encode_message(
        id,
        search_request(
            PEOPLE,
            Scope::Subtree,
            &format!("(cn={})", "a".repeat(n)),
            &["1.1"],
        ),
    )
}

async fn an_oversized_request_before_bind_ends_the_connection(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    // Under the default 16 KiB: answered.
    let mut raw = p.raw().await;
    let under = long_search(1, 16_000);
    assert!(under.len() < 16 * 1024);
    raw.send_bytes(&under).await.unwrap();
    let answer = raw
        .receive()
        .await
        .expect("an answer to a request under the limit");
    assert_eq!((answer.id, answer.op.id), (1, 5), "{answer:?}");
    assert_eq!(raw.who_am_i(2).await, "");

    // Over it: the header alone is enough for the server to hang up.
    let mut raw = p.raw().await;
    raw.send_bytes(&sequence_header(16 * 1024 + 64))
        .await
        .unwrap();
    expect_disconnection(&mut raw, "16 KiB + 64 announced before bind").await;

    // A declared length of 4 GiB is not an allocation.
    let mut raw = p.raw().await;
    raw.send_bytes(&sequence_header(u32::MAX)).await.unwrap();
    expect_disconnection(&mut raw, "4 GiB announced").await;

    // The whole oversized request sent, not just its header.
    let mut raw = p.raw().await;
    let over = long_search(1, 17_000);
    let _ = raw.send_bytes(&over).await;
    expect_disconnection(&mut raw, "a 17 KB search before bind").await;
}

async fn a_bound_client_may_send_larger_requests(backend: Backend) {
    let Some(p) = Province::start_with(backend, 0, |c| {
        c.ldap.allow_plaintext_bind_on_loopback = true;
    })
    .await
    else {
        return;
    };
    let mut raw = p.raw().await;
    assert_eq!(raw.bind(1, &ANNV.dn(), ANNV.password()).await, 0);
    let large = long_search(2, 100_000);
    assert!(large.len() > 16 * 1024 && large.len() < 256 * 1024);
    raw.send_bytes(&large).await.unwrap();
    let answer = raw
        .receive()
        .await
        .expect("an answer to a bound 100 KB request");
    assert_eq!((answer.id, answer.op.id), (2, 5), "{answer:?}");
    assert_eq!(answer.result_code(), Some(0), "{answer:?}");

    raw.send_bytes(&sequence_header(256 * 1024 + 64))
        .await
        .unwrap();
    expect_disconnection(&mut raw, "256 KiB + 64 announced after bind").await;
}

async fn a_failed_bind_keeps_the_unbound_limit(backend: Backend) {
    let Some(p) = Province::start_with(backend, 0, |c| {
        c.ldap.allow_plaintext_bind_on_loopback = true;
    })
    .await
    else {
        return;
    };
    let mut raw = p.raw().await;
    assert_eq!(raw.bind(1, &ANNV.dn(), "An-matkhau-2025").await, 49);
    raw.send_bytes(&sequence_header(100_000)).await.unwrap();
    expect_disconnection(&mut raw, "100 KB announced after a failed bind").await;
}

/// `leaf` wrapped in `depth` single-child and/or/not operators, cycling through `ops`.
fn nested(depth: usize, ops: &[&str], leaf: &str) -> String {
    let mut filter = leaf.to_string();
    for level in 0..depth {
        filter = format!("({}{filter})", ops[level % ops.len()]);
    }
    filter
}

async fn filters_nested_too_deep_are_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    for ops in [&["&"][..], &["|", "&"][..], &["!"][..]] {
        // An even number of negations keeps the leaf's meaning.
        let at_limit = nested(16, ops, "(uid=annv)");
        let (entries, result) =
            ldap::search(&mut client, PEOPLE, Scope::Subtree, &at_limit, &["1.1"]).await;
        assert_eq!(result.rc, 0, "{at_limit}: {result}");
        assert_eq!(ldap::dns(&entries), [ANNV.dn()].into(), "{at_limit}");

        for depth in [17, 18, 40] {
            let too_deep = nested(depth, ops, "(uid=annv)");
            let (entries, result) =
                ldap::search(&mut client, PEOPLE, Scope::Subtree, &too_deep, &["1.1"]).await;
            assert_eq!(result.rc, 11, "depth {depth} {ops:?}: {result}");
            assert!(entries.is_empty(), "{entries:?}");
        }
    }
    // Depth counts nesting, not width: many siblings at one level are fine.
    let wide = format!(
        "(|{})",
        (0..200).map(|i| format!("(uid=x{i})")).collect::<String>() + "(uid=annv)"
    );
    let (entries, result) =
        ldap::search(&mut client, PEOPLE, Scope::Subtree, &wide, &["1.1"]).await;
    assert_eq!(result.rc, 0, "{result}");
    assert_eq!(entries.len(), 1);
    // The session goes on after a refused filter.
    assert_eq!(
        ldap::who_am_i(&mut client).await.to_lowercase(),
        format!("dn:{}", MAILAPP.dn())
    );
}

async fn malformed_ber_ends_the_connection(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "a message without a protocolOp",
            [&[0x30, 0x03, 0x02, 0x01, 0xff][..], b"garbage"].concat(),
        ),
        (
            "HTTP on the LDAP port",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "a SEQUENCE whose content is not BER",
            vec![0x30, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            "an unknown protocolOp",
            vec![0x30, 0x05, 0x02, 0x01, 0x01, 0x7e, 0x00],
        ),
    ];
    for (what, bytes) in cases {
        let mut raw = p.raw().await;
        assert_eq!(raw.who_am_i(1).await, "", "{what}: the session works first");
        raw.send_bytes(&bytes).await.unwrap();
        let notice = expect_disconnection(&mut raw, what).await;
        assert_eq!(
            notice.result_code(),
            Some(2),
            "{what}: protocolError: {notice:?}"
        );
    }
}

async fn idle_connections_are_closed(backend: Backend) {
    let Some(p) = Province::start_with(backend, 0, |c| c.ldap.idle_timeout_seconds = 1).await
    else {
        return;
    };
    // Requests every 400 ms keep a connection alive past the one-second limit.
    let mut busy = p.raw().await;
    for id in 1..=5 {
        assert_eq!(busy.who_am_i(id).await, "");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(busy.who_am_i(6).await, "");

    let started = std::time::Instant::now();
    let mut idle = p.raw().await;
    assert_eq!(idle.who_am_i(1).await, "");
    expect_disconnection(&mut idle, "idle for the timeout").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "closed after {waited:?}"
    );
    // ldap3 sees the closed connection as an error, not a hang.
    let mut client = p.anonymous().await;
    assert_eq!(ldap::who_am_i(&mut client).await, "");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        client.extended(ldap3::exop::WhoAmI).await.is_err(),
        "an operation on a connection idle for 2.5 s"
    );
}

async fn connections_per_address_are_limited(backend: Backend) {
    let Some(p) = Province::start_with(backend, 0, |c| c.limits.max_connections_per_ip = 3).await
    else {
        return;
    };
    let mut admitted = Vec::new();
    for id in 1..=3 {
        let mut raw = p.raw().await;
        assert_eq!(raw.who_am_i(id).await, "", "connection {id} is admitted");
        admitted.push(raw);
    }
    let mut refused = p.raw().await;
    let notice = expect_disconnection(&mut refused, "a fourth connection from 127.0.0.1").await;
    let rc = notice.result_code();
    assert!(
        rc == Some(51) || rc == Some(52),
        "busy or unavailable: {notice:?}"
    );
    // The admitted ones carry on.
    for (i, raw) in admitted.iter_mut().enumerate() {
        assert_eq!(raw.who_am_i(10 + i as i32).await, "");
    }
    // One leaving makes room: once the server has seen it go, a new connection is admitted.
    let mut leaving = admitted.pop().unwrap();
    leaving.send(20, ldap::unbind_request()).await;
    assert!(leaving.receive_until_closed().await.is_empty());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut raw = p.raw().await;
        raw.send(1, ldap::extended_request(ldap::WHO_AM_I, None))
            .await;
        match raw.receive().await {
            Some(answer) if answer.id == 1 => {
                assert_eq!(answer.result_code(), Some(0), "{answer:?}");
                break;
            }
            other => {
                assert!(
                    other
                        .as_ref()
                        .is_some_and(Message::is_notice_of_disconnection),
                    "{other:?}"
                );
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still refused 10 s after a connection left"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn requests_piled_up_on_a_connection_get_busy(backend: Backend) {
    const REQUESTS: i32 = 300;
    let Some(p) = Province::start_with(backend, 0, |c| {
        c.ldap.max_pending_requests = 2;
        c.ldap.allow_plaintext_bind_on_loopback = true;
    })
    .await
    else {
        return;
    };
    let mut raw = p.raw().await;
    assert_eq!(raw.bind(1, &MAILAPP.dn(), MAILAPP.password()).await, 0);
    // Every request written before any answer is read: the server answers the whole tree,
    // certificate included, to each, so requests queue up behind the answers being written.
    let mut pipeline = Vec::new();
    for id in 2..2 + REQUESTS {
        pipeline.extend(encode_message(
            id,
            search_request(BASE, Scope::Subtree, "(objectClass=*)", &["*", "+"]),
        ));
    }
    raw.send_bytes(&pipeline).await.unwrap();

    let mut done: BTreeMap<i64, u32> = BTreeMap::new();
    while done.len() < REQUESTS as usize {
        let message = raw
            .receive()
            .await
            .unwrap_or_else(|| panic!("closed after {} answers", done.len()));
        match message.op.id {
            4 => {}
            5 => {
                let rc = message.result_code().unwrap();
                assert!(
                    done.insert(message.id, rc).is_none(),
                    "message {} answered twice",
                    message.id
                );
            }
            other => panic!("unexpected protocolOp {other}: {message:?}"),
        }
    }
    assert_eq!(
        done.keys().copied().collect::<Vec<_>>(),
        (2..2 + i64::from(REQUESTS)).collect::<Vec<_>>()
    );
    let busy = done.values().filter(|rc| **rc == 51).count();
    let ok = done.values().filter(|rc| **rc == 0).count();
    assert_eq!(
        busy + ok,
        REQUESTS as usize,
        "only success or busy: {done:?}"
    );
    assert!(
        busy > 0,
        "no request was answered busy with at most 2 pending"
    );
    assert!(ok >= 1, "at least the first request is served");
    assert_eq!(
        raw.who_am_i(1000).await.to_lowercase(),
        format!("dn:{}", MAILAPP.dn())
    );
}
