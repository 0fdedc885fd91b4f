//! Receiving on the MX port: local delivery with trace headers, aliases, lists and agency
//! addresses expanded to one copy per official over one stored body, and each refusal.

use congvu_tests::Backend;

use super::fixture::{message, send, Province, DAYHOP, SMALL_QUOTA};
use super::smtp_tests;

smtp_tests!(
    delivers_with_return_path_and_received,
    lists_aliases_and_agency_addresses_give_one_copy_each_over_one_body,
    unknown_disabled_and_relay_recipients_are_refused,
    a_full_mailbox_is_refused_at_rcpt_and_after_data,
);

async fn delivers_with_return_path_and_received(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    let body = message("sender@example.org", "annv@vinhphuc.gov.vn", "hello");
    let replies = send(
        &mut smtp,
        "sender@example.org",
        &["annv@vinhphuc.gov.vn"],
        &body,
    )
    .await;
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert_eq!(codes, [250, 250, 354, 250]);
    assert!(
        replies[3].text().starts_with("2.0.0 Ok: queued as "),
        "{:?}",
        replies[3]
    );

    let inbox = p.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    let stored = String::from_utf8(inbox[0].clone()).unwrap();
    assert!(stored.starts_with("Return-Path: <sender@example.org>\r\nReceived: from relay.example.org ([127.0.0.1])\r\n\tby mail.vinhphuc.gov.vn (congvu) with ESMTP id "), "{stored}");
    assert!(
        stored.contains("\r\n\tfor <annv@vinhphuc.gov.vn>; "),
        "{stored}"
    );
    assert!(stored.ends_with(&body), "{stored}");
    assert!(p.inbox("nhunglth").await.is_empty());
}

async fn lists_aliases_and_agency_addresses_give_one_copy_each_over_one_body(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    let to = [
        "toanso@vinhphuc.gov.vn",
        "An.Nguyen@SNV.vinhphuc.gov.vn",
        "vanthu.snv@vinhphuc.gov.vn",
    ];
    let body = message("sender@example.org", "toanso@vinhphuc.gov.vn", "circular");
    let replies = send(&mut smtp, "sender@example.org", &to, &body).await;
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert_eq!(codes, [250, 250, 250, 250, 354, 250]);

    // toanso = lanhdao-snv (annv, nhunglth) + annv + vanlt + tuanpq (disabled); the alias is
    // annv's; the agency address goes to its mail officer vanlt.
    let mut bodies = Vec::new();
    for login in ["annv", "nhunglth", "vanlt"] {
        let inbox = p.inbox(login).await;
        assert_eq!(inbox.len(), 1, "{login} has one copy");
        assert!(inbox[0].ends_with(body.as_bytes()));
        bodies.push(inbox[0].clone());
    }
    assert!(
        p.inbox("tuanpq").await.is_empty(),
        "disabled members get nothing"
    );
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    // Several recipients: the trace header does not list them.
    assert!(!String::from_utf8_lossy(&bodies[0]).contains("\tfor <"));

    let services = p.server.services();
    let official = p.directory().official("annv").await.unwrap();
    let inbox = services.mailstore.mailboxes(official.id).await.unwrap();
    let inbox = inbox.iter().find(|m| m.name == "INBOX").unwrap();
    let copy = &services.mailstore.messages(inbox.id).await.unwrap()[0];
    let mut conn = services.store.read().await.unwrap();
    assert_eq!(conn.body_refcount(copy.body_id).await.unwrap(), Some(3));
}

async fn unknown_disabled_and_relay_recipients_are_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    assert_eq!(
        smtp.command("MAIL FROM:<sender@example.org>").await.code,
        250
    );
    for (rcpt, expected) in [
        (
            "<nobody@vinhphuc.gov.vn>",
            "550 5.1.1 No such recipient here",
        ),
        (
            "<tuanpq@vinhphuc.gov.vn>",
            "550 5.1.1 No such recipient here",
        ),
        ("<someone@example.net>", "554 5.7.1 Relay access denied"),
        (
            "<annv%example.net@vinhphuc.gov.vn>",
            "550 5.1.1 No such recipient here",
        ),
        (
            "<example.net!annv@vinhphuc.gov.vn>",
            "550 5.1.1 No such recipient here",
        ),
        (
            "<\"annv@example.net\"@vinhphuc.gov.vn>",
            "550 5.1.1 No such recipient here",
        ),
        (
            "<@vinhphuc.gov.vn:annv@example.net>",
            "554 5.7.1 Relay access denied",
        ),
        (
            "<annv@vinhphuc.gov.vn.example.net>",
            "554 5.7.1 Relay access denied",
        ),
    ] {
        let reply = smtp.command(&format!("RCPT TO:{rcpt}")).await;
        assert_eq!(reply.line(), expected, "RCPT TO:{rcpt}");
    }
    assert_eq!(
        smtp.command("DATA").await.line(),
        "554 5.5.1 No valid recipients"
    );
    let services = p.server.services();
    let mut conn = services.store.read().await.unwrap();
    assert!(
        conn.queue_entries().await.unwrap().is_empty(),
        "nothing relayed"
    );
}

async fn a_full_mailbox_is_refused_at_rcpt_and_after_data(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let to = "dayhop@vinhphuc.gov.vn";
    let filler = "x".repeat(70);
    let big = format!(
        "{}{}",
        message("sender@example.org", to, "big"),
        format!("{filler}\r\n").repeat(20)
    );
    assert!(big.len() < SMALL_QUOTA as usize && 2 * big.len() > SMALL_QUOTA as usize);
    let mut smtp = p.mx().await;
    let replies = send(&mut smtp, "sender@example.org", &[to], &big).await;
    assert_eq!(replies.last().unwrap().code, 250);
    // Room left at RCPT, but not for this message: refused whole after DATA.
    let replies = send(&mut smtp, "sender@example.org", &[to], &big).await;
    assert_eq!(replies.last().unwrap().line(), "552 5.2.2 Mailbox full");
    // A declared size that does not fit is refused at RCPT.
    assert_eq!(
        smtp.command(&format!(
            "MAIL FROM:<sender@example.org> SIZE={}",
            big.len()
        ))
        .await
        .code,
        250
    );
    assert_eq!(
        smtp.command(&format!("RCPT TO:<{to}>")).await.line(),
        "452 4.2.2 Mailbox full"
    );
    assert_eq!(p.inbox(DAYHOP.0).await.len(), 1);
}
