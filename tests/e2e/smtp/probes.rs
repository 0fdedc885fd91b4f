//! Hostile and out-of-order input: bare CR/LF in commands, the SMTP smuggling family in DATA
//! (CVE-2023-51764), pipelining where RFC 2920 forbids it, STARTTLS command injection
//! (CVE-2011-0411) and the state reset after STARTTLS, commands out of sequence, non-ASCII
//! addresses, mail loops, RSET, and address tricks on the submission port.

use congvu::net::ListenerKind;
use congvu_tests::smtp::RawSmtp;
use congvu_tests::Backend;

use super::fixture::{message, send, Province, ANNV, HOSTNAME};
use super::smtp_tests;

smtp_tests!(
    bare_cr_or_lf_in_a_command_closes_the_session,
    smuggled_end_of_data_forms_refuse_the_whole_message,
    mail_and_rcpts_pipelined_after_ehlo_are_answered_in_order,
    ehlo_pipelined_with_mail_is_refused,
    any_pipelining_after_helo_is_refused,
    data_sent_with_its_message_in_one_write_is_refused,
    starttls_with_injected_commands_is_refused_without_a_handshake,
    starttls_resets_the_session,
    commands_out_of_sequence_are_refused,
    non_ascii_addresses_need_smtputf8,
    a_message_past_50_hops_is_refused_as_a_loop,
    rset_ends_the_transaction,
    address_tricks_on_submission_never_reach_a_local_official,
);

const SENDER: &str = "sender@example.org";
const ANNV_ADDRESS: &str = "annv@vinhphuc.gov.vn";
const NHUNG_ADDRESS: &str = "nhunglth@vinhphuc.gov.vn";
const SYNC_ERROR: &str = "554 5.5.0 SMTP protocol synchronization error";
const BARE_NEWLINE: &str = "500 5.5.2 Bare CR or LF received; lines must end with CRLF";

fn is_accepted(line: &str) -> bool {
    line.starts_with("250 2.0.0 Ok: queued as ")
}

/// A raw connection to `kind` after the greeting, without EHLO.
async fn greeted(p: &Province, kind: ListenerKind) -> RawSmtp {
    let (smtp, greeting) = RawSmtp::connect(p.addr(kind)).await;
    assert_eq!(greeting.line(), "220 mail.vinhphuc.gov.vn ESMTP congvu");
    smtp
}

async fn bare_cr_or_lf_in_a_command_closes_the_session(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for (what, bytes) in [
        ("bare LF", &b"NOOP\n"[..]),
        ("bare CR inside", b"NO\rOP\r\n"),
        ("CR CR LF", b"NOOP\r\r\n"),
        (
            "bare LF between two commands",
            b"MAIL FROM:<sender@example.org>\nRCPT TO:<annv@vinhphuc.gov.vn>\r\n",
        ),
    ] {
        let mut smtp = p.mx().await;
        smtp.send(bytes).await;
        let reply = smtp
            .reply()
            .await
            .unwrap_or_else(|| panic!("{what}: no reply"));
        assert_eq!(reply.line(), BARE_NEWLINE, "{what}");
        assert!(smtp.closed().await, "{what}: still open");
    }
}

async fn smuggled_end_of_data_forms_refuse_the_whole_message(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    for (form, bytes) in [
        ("LF.CRLF", "\n.\r\n"),
        ("CRLF.LF", "\r\n.\n"),
        ("CR.CRLF", "\r.\r\n"),
        ("LF.LF", "\n.\n"),
    ] {
        let outer = message(SENDER, ANNV_ADDRESS, "ngoai");
        let smuggled = format!(
            "{outer}thu that{bytes}MAIL FROM:<giamdoc@vinhphuc.gov.vn>\r\nRCPT TO:<{NHUNG_ADDRESS}>\r\nDATA\r\n{}",
            message("giamdoc@vinhphuc.gov.vn", NHUNG_ADDRESS, "gia-mao")
        );
        assert_eq!(
            smtp.command(&format!("MAIL FROM:<{SENDER}>")).await.code,
            250
        );
        assert_eq!(
            smtp.command(&format!("RCPT TO:<{ANNV_ADDRESS}>"))
                .await
                .code,
            250
        );
        assert_eq!(smtp.command("DATA").await.code, 354);
        smtp.send(smuggled.as_bytes()).await;
        smtp.send(b".\r\n").await;
        let reply = smtp.reply().await.unwrap();
        assert_eq!(
            reply.line(),
            "554 5.6.0 Message refused: bare CR or LF found; lines must end with CRLF",
            "{form}"
        );
        // Exactly one answer: the next one is NOOP's, and the transaction is over.
        assert_eq!(smtp.command("NOOP").await.line(), "250 2.0.0 Ok", "{form}");
        assert_eq!(
            smtp.command("DATA").await.line(),
            "503 5.5.1 Send MAIL first",
            "{form}"
        );
    }
    for login in ["annv", "nhunglth"] {
        assert!(p.inbox(login).await.is_empty(), "{login} got a message");
    }
}

async fn mail_and_rcpts_pipelined_after_ehlo_are_answered_in_order(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    // RFC 2920 §3.1: MAIL and RCPT may be sent without waiting; DATA ends the group.
    smtp.send(
        format!(
            "MAIL FROM:<{SENDER}>\r\nRCPT TO:<{ANNV_ADDRESS}>\r\nRCPT TO:<nobody@vinhphuc.gov.vn>\r\nRCPT TO:<{NHUNG_ADDRESS}>\r\nDATA\r\n"
        )
        .as_bytes(),
    )
    .await;
    let mut lines = Vec::new();
    for _ in 0..5 {
        lines.push(smtp.reply().await.unwrap().line());
    }
    assert_eq!(
        lines,
        [
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "550 5.1.1 No such recipient here",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
        ]
    );
    let body = message(SENDER, ANNV_ADDRESS, "pipelining");
    smtp.send(body.as_bytes()).await;
    smtp.send(b".\r\n").await;
    assert!(is_accepted(&smtp.reply().await.unwrap().line()));
    for login in ["annv", "nhunglth"] {
        let inbox = p.inbox(login).await;
        assert_eq!(inbox.len(), 1, "{login}");
        assert!(inbox[0].ends_with(body.as_bytes()));
    }
}

async fn ehlo_pipelined_with_mail_is_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = greeted(&p, ListenerKind::Smtp).await;
    smtp.send(format!("EHLO relay.example.org\r\nMAIL FROM:<{SENDER}>\r\n").as_bytes())
        .await;
    assert_eq!(smtp.reply().await.unwrap().line(), SYNC_ERROR);
    assert!(smtp.closed().await);
}

async fn any_pipelining_after_helo_is_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = greeted(&p, ListenerKind::Smtp).await;
    assert_eq!(
        smtp.command("HELO relay.example.org").await.line(),
        "250 mail.vinhphuc.gov.vn"
    );
    smtp.send(format!("MAIL FROM:<{SENDER}>\r\nRCPT TO:<{ANNV_ADDRESS}>\r\n").as_bytes())
        .await;
    assert_eq!(smtp.reply().await.unwrap().line(), SYNC_ERROR);
    assert!(smtp.closed().await);
}

async fn data_sent_with_its_message_in_one_write_is_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{SENDER}>")).await.code,
        250
    );
    assert_eq!(
        smtp.command(&format!("RCPT TO:<{ANNV_ADDRESS}>"))
            .await
            .code,
        250
    );
    let body = message(SENDER, ANNV_ADDRESS, "vo-van");
    smtp.send(format!("DATA\r\n{body}.\r\n").as_bytes()).await;
    assert_eq!(smtp.reply().await.unwrap().line(), SYNC_ERROR);
    assert!(smtp.closed().await);
    assert!(p.inbox("annv").await.is_empty());
}

async fn starttls_with_injected_commands_is_refused_without_a_handshake(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for kind in [ListenerKind::Submission, ListenerKind::Smtp] {
        let mut smtp = greeted(&p, kind).await;
        assert_eq!(smtp.command("EHLO laptop").await.code, 250);
        // CVE-2011-0411: bytes after STARTTLS in the same packet would be read as if they
        // had come over TLS. The server neither answers 220 nor starts a handshake.
        smtp.send(b"STARTTLS\r\nRSET\r\n").await;
        assert_eq!(smtp.reply().await.unwrap().line(), SYNC_ERROR, "{kind}");
        assert!(smtp.reply().await.is_none(), "{kind}: more than one answer");
    }
}

async fn starttls_resets_the_session(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{SENDER}>")).await.code,
        250
    );
    assert_eq!(
        smtp.command("STARTTLS").await.line(),
        "220 2.0.0 Ready to start TLS"
    );
    let (tcp, rest) = smtp.into_parts();
    assert!(rest.is_empty());
    let name = rustls::pki_types::ServerName::try_from(HOSTNAME).unwrap();
    let tls = p.tls_connector().connect(name, tcp).await.unwrap();
    let mut smtp = RawSmtp::over(tls);
    // RFC 3207 §4.2: the greeting and the transaction begun before TLS are forgotten.
    assert_eq!(
        smtp.command(&format!("RCPT TO:<{ANNV_ADDRESS}>"))
            .await
            .line(),
        "503 5.5.1 Send MAIL first"
    );
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{SENDER}>")).await.line(),
        "503 5.5.1 Send EHLO or HELO first"
    );
    let ehlo = smtp.command("EHLO relay.example.org").await;
    assert_eq!(ehlo.code, 250);
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    assert_eq!(
        smtp.command("STARTTLS").await.line(),
        "503 5.5.1 TLS already active"
    );
    let body = message(SENDER, ANNV_ADDRESS, "sau-tls");
    let replies = send(&mut smtp, SENDER, &[ANNV_ADDRESS], &body).await;
    assert!(is_accepted(&replies.last().unwrap().line()), "{replies:?}");
    let inbox = p.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    let stored = String::from_utf8_lossy(&inbox[0]);
    assert!(stored.contains(" with ESMTPS id "), "{stored}");
}

async fn commands_out_of_sequence_are_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = greeted(&p, ListenerKind::Smtp).await;
    let mail = format!("MAIL FROM:<{SENDER}>");
    let rcpt = format!("RCPT TO:<{ANNV_ADDRESS}>");
    for (command, expected) in [
        (mail.as_str(), "503 5.5.1 Send EHLO or HELO first"),
        ("EHLO relay.example.org", ""),
        (rcpt.as_str(), "503 5.5.1 Send MAIL first"),
        ("DATA", "503 5.5.1 Send MAIL first"),
        (mail.as_str(), "250 2.1.0 Sender ok"),
        (mail.as_str(), "503 5.5.1 Sender already given"),
        ("DATA", "554 5.5.1 No valid recipients"),
        (rcpt.as_str(), "250 2.1.5 Recipient ok"),
        ("EHLO relay.example.org", ""),
        // A new greeting ends the transaction (RFC 5321 §4.1.4).
        ("DATA", "503 5.5.1 Send MAIL first"),
    ] {
        let reply = smtp.command(command).await;
        if expected.is_empty() {
            assert_eq!(reply.code, 250, "{command}");
        } else {
            assert_eq!(reply.line(), expected, "{command}");
        }
    }
    assert!(p.inbox("annv").await.is_empty());
}

async fn non_ascii_addresses_need_smtputf8(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    let ehlo = smtp.command("EHLO relay.example.org").await;
    assert!(ehlo.lines.iter().any(|l| l == "SMTPUTF8"), "{ehlo:?}");
    let sender = "nguyễn.văn.bình@ví-dụ.vn";
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{sender}>")).await.line(),
        "553 5.6.7 Non-ASCII address requires SMTPUTF8"
    );
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{SENDER}>")).await.code,
        250
    );
    assert_eq!(
        smtp.command("RCPT TO:<vân@vinhphuc.gov.vn>").await.line(),
        "553 5.6.7 Non-ASCII address requires SMTPUTF8"
    );
    assert_eq!(smtp.command("RSET").await.code, 250);

    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{sender}> SMTPUTF8"))
            .await
            .line(),
        "250 2.1.0 Sender ok"
    );
    assert_eq!(
        smtp.command(&format!("RCPT TO:<{ANNV_ADDRESS}>"))
            .await
            .line(),
        "250 2.1.5 Recipient ok"
    );
    assert_eq!(smtp.command("DATA").await.code, 354);
    let body = message(sender, ANNV_ADDRESS, "utf8");
    smtp.send(body.as_bytes()).await;
    smtp.send(b".\r\n").await;
    assert!(is_accepted(&smtp.reply().await.unwrap().line()));
    let inbox = p.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    let stored = String::from_utf8(inbox[0].clone()).unwrap();
    assert!(
        stored.starts_with(&format!("Return-Path: <{sender}>\r\n")),
        "{stored}"
    );
    assert!(stored.ends_with(&body));
}

async fn a_message_past_50_hops_is_refused_as_a_loop(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let with_hops = |hops: usize| {
        let received: String = (0..hops)
            .map(|i| format!("Received: from hop{i}.example.org by hop{}.example.org; Fri, 27 Nov 2026 07:00:00 +0700\r\n", i + 1))
            .collect();
        format!(
            "{received}{}",
            message(SENDER, ANNV_ADDRESS, &format!("hops-{hops}"))
        )
    };
    let mut smtp = p.mx().await;
    let fifty = with_hops(50);
    let replies = send(&mut smtp, SENDER, &[ANNV_ADDRESS], &with_hops(51)).await;
    assert_eq!(
        replies.last().unwrap().line(),
        "554 5.4.6 Too many hops; mail loop suspected"
    );
    let replies = send(&mut smtp, SENDER, &[ANNV_ADDRESS], &fifty).await;
    assert!(is_accepted(&replies.last().unwrap().line()), "{replies:?}");
    let inbox = p.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].ends_with(fifty.as_bytes()));
}

async fn rset_ends_the_transaction(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    assert_eq!(
        smtp.command("MAIL FROM:<first@example.org>").await.code,
        250
    );
    assert_eq!(
        smtp.command(&format!("RCPT TO:<{ANNV_ADDRESS}>"))
            .await
            .code,
        250
    );
    assert_eq!(smtp.command("RSET").await.line(), "250 2.0.0 Reset");
    assert_eq!(
        smtp.command("DATA").await.line(),
        "503 5.5.1 Send MAIL first"
    );
    let body = message(SENDER, NHUNG_ADDRESS, "sau-rset");
    let replies = send(&mut smtp, SENDER, &[NHUNG_ADDRESS], &body).await;
    assert!(is_accepted(&replies.last().unwrap().line()), "{replies:?}");
    assert!(
        p.inbox("annv").await.is_empty(),
        "the reset recipient got mail"
    );
    let inbox = p.inbox("nhunglth").await;
    assert_eq!(inbox.len(), 1);
    let stored = String::from_utf8_lossy(&inbox[0]);
    assert!(
        stored.starts_with(&format!("Return-Path: <{SENDER}>\r\n")),
        "{stored}"
    );
}

async fn address_tricks_on_submission_never_reach_a_local_official(backend: Backend) {
    // The queue relays through a host that refuses connections, so every entry stays
    // queued (deferred) for the test to read instead of being routed by DNS meanwhile.
    let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let smart_host = refusing.local_addr().unwrap().to_string();
    drop(refusing);
    let Some(p) = Province::start_with(backend, |c| c.queue.smart_host = Some(smart_host)).await
    else {
        return;
    };
    let mut smtp = p.submission_as(ANNV).await;
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{ANNV_ADDRESS}>"))
            .await
            .code,
        250
    );
    // Each names a local official and a remote domain; none may reach the official, and
    // what is accepted is queued as the literal remote address.
    for (rcpt, expected) in [
        (
            "<vanlt%example.org@vinhphuc.gov.vn>",
            "550 5.1.1 No such recipient here",
        ),
        (
            "<example.org!vanlt@vinhphuc.gov.vn>",
            "550 5.1.1 No such recipient here",
        ),
        (
            "<\"vanlt@example.org\"@vinhphuc.gov.vn>",
            "550 5.1.1 No such recipient here",
        ),
        (
            "<vanlt%vinhphuc.gov.vn@example.org>",
            "250 2.1.5 Recipient ok",
        ),
        (
            "<@vinhphuc.gov.vn:partner@example.org>",
            "250 2.1.5 Recipient ok",
        ),
        (
            "<vanlt@vinhphuc.gov.vn.example.org>",
            "250 2.1.5 Recipient ok",
        ),
    ] {
        let reply = smtp.command(&format!("RCPT TO:{rcpt}")).await;
        assert_eq!(reply.line(), expected, "RCPT TO:{rcpt}");
    }
    assert_eq!(smtp.command("DATA").await.code, 354);
    smtp.send(message(ANNV_ADDRESS, "partner@example.org", "meo-dia-chi").as_bytes())
        .await;
    smtp.send(b".\r\n").await;
    assert!(is_accepted(&smtp.reply().await.unwrap().line()));

    assert!(
        p.inbox("vanlt").await.is_empty(),
        "a trick reached a local official"
    );
    let services = p.server.services();
    let mut conn = services.store.read().await.unwrap();
    let mut queued: Vec<String> = conn
        .queue_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.recipient)
        .collect();
    queued.sort();
    assert_eq!(
        queued,
        [
            "partner@example.org",
            "vanlt%vinhphuc.gov.vn@example.org",
            "vanlt@vinhphuc.gov.vn.example.org",
        ]
    );
}
