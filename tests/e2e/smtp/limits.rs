//! Every SMTP limit, just under and just over: command and text line lengths, message size
//! declared and streamed, recipients, errors, connections per address, the command and data
//! deadlines against clients that trickle bytes, VRFY/EXPN, and the failed-AUTH limits of the
//! session and of the source address (shared with LDAP).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use congvu::config::ListenAddr;
use congvu::net::ListenerKind;
use congvu_tests::ldap::{connect, Transport};
use congvu_tests::smtp::{RawSmtp, SmtpReply};
use congvu_tests::Backend;

use super::fixture::{auth_plain, message, send, Province, ANNV};
use super::smtp_tests;

smtp_tests!(
    command_lines_of_512_octets_pass_and_513_are_refused,
    a_line_past_the_auth_line_limit_closes_the_session,
    a_declared_size_over_the_limit_is_refused_at_mail,
    a_streamed_message_one_byte_over_the_limit_is_refused_after_its_end,
    text_lines_of_1000_octets_pass_and_1001_are_refused,
    the_recipient_past_the_limit_is_refused_with_452,
    the_error_that_reaches_the_limit_closes_the_session,
    a_connection_past_the_per_address_limit_is_refused,
    past_the_limit_implicit_tls_ports_refuse_inside_tls,
    refused_handshakes_are_few_at_a_time,
    a_client_trickling_one_command_is_cut_off_at_the_command_deadline,
    a_message_trickled_past_the_data_deadline_is_dropped,
    vrfy_and_expn_reveal_nothing,
    failed_auth_closes_the_session_at_the_limit,
    a_throttled_source_is_refused_even_the_right_password,
);

const SENDER: &str = "sender@example.org";
const ANNV_ADDRESS: &str = "annv@vinhphuc.gov.vn";
const LINE_TOO_LONG: &str = "500 5.5.2 Line too long";
const SIZE_EXCEEDED: &str = "552 5.3.4 Message size exceeds fixed maximum message size";
const TIMEOUT: &str = "421 4.4.2 Timeout; closing";
const AUTH_FAILED: &str = "535 5.7.8 Authentication credentials invalid";
const AUTH_OK: &str = "235 2.7.0 Authentication successful";

/// A message of exactly `len` bytes: [`message`]'s headers and text, then lines of `x`.
fn message_of_len(subject: &str, len: usize) -> String {
    let mut text = message(SENDER, ANNV_ADDRESS, subject);
    assert!(text.len() + 2 <= len, "{len} is too short for the headers");
    let mut left = len - text.len();
    while left > 0 {
        // 80-byte lines; one of 81 when a single byte would be left over.
        let line = match left {
            81 => 81,
            n if n > 80 => 80,
            n => n,
        };
        text.push_str(&"x".repeat(line - 2));
        text.push_str("\r\n");
        left -= line;
    }
    assert_eq!(text.len(), len);
    text
}

/// The last reply of [`send`]: the verdict on the message.
fn verdict(replies: &[SmtpReply]) -> String {
    replies.last().unwrap().line()
}

async fn command_lines_of_512_octets_pass_and_513_are_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    // `NOOP ` and CRLF around the argument: 512 octets, then 513.
    let at_limit = format!("NOOP {}", "a".repeat(512 - 7));
    assert_eq!(at_limit.len() + 2, 512);
    assert_eq!(smtp.command(&at_limit).await.line(), "250 2.0.0 Ok");
    let over = format!("NOOP {}", "a".repeat(513 - 7));
    assert_eq!(smtp.command(&over).await.line(), LINE_TOO_LONG);
    // So is a line at the AUTH limit that is not AUTH; the session goes on.
    let long = format!("NOOP {}", "a".repeat(12_288 - 7));
    assert_eq!(smtp.command(&long).await.line(), LINE_TOO_LONG);
    let address = format!("<{}@vinhphuc.gov.vn>", "a".repeat(490));
    let mail = format!("MAIL FROM:{address}");
    assert!(mail.len() + 2 > 512);
    assert_eq!(smtp.command(&mail).await.line(), LINE_TOO_LONG);
    assert_eq!(smtp.command("NOOP").await.line(), "250 2.0.0 Ok");
}

async fn a_line_past_the_auth_line_limit_closes_the_session(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    // RFC 4954 §4: an AUTH line may reach 12,288 octets. It is read whole (and refused here
    // because the MX port offers no AUTH).
    let auth = format!("AUTH PLAIN {}", "A".repeat(12_288 - 2 - 11));
    assert_eq!(auth.len() + 2, 12_288);
    assert_eq!(
        smtp.command(&auth).await.line(),
        "503 5.5.1 AUTH not available on this port; use submission"
    );
    assert_eq!(smtp.command("NOOP").await.line(), "250 2.0.0 Ok");
    // One byte more without a line end: nothing can make that a line.
    smtp.send("A".repeat(12_289).as_bytes()).await;
    assert_eq!(smtp.reply().await.unwrap().line(), LINE_TOO_LONG);
    assert!(smtp.closed().await);
}

async fn a_declared_size_over_the_limit_is_refused_at_mail(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.smtp.max_message_bytes = 2048).await else {
        return;
    };
    let (mut smtp, _) = RawSmtp::connect(p.addr(ListenerKind::Smtp)).await;
    let ehlo = smtp.command("EHLO relay.example.org").await;
    assert!(ehlo.lines.iter().any(|l| l == "SIZE 2048"), "{ehlo:?}");
    let over = smtp
        .command(&format!("MAIL FROM:<{SENDER}> SIZE=2049"))
        .await;
    assert_eq!(over.line(), SIZE_EXCEEDED);
    let at_limit = smtp
        .command(&format!("MAIL FROM:<{SENDER}> SIZE=2048"))
        .await;
    assert_eq!(at_limit.line(), "250 2.1.0 Sender ok");
    let rcpt = smtp.command(&format!("RCPT TO:<{ANNV_ADDRESS}>")).await;
    assert_eq!(rcpt.line(), "250 2.1.5 Recipient ok");
    assert!(p.inbox("annv").await.is_empty());
}

async fn a_streamed_message_one_byte_over_the_limit_is_refused_after_its_end(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.smtp.max_message_bytes = 2048).await else {
        return;
    };
    let mut smtp = p.mx().await;
    let at_limit = message_of_len("vua-du", 2048);
    let over = message_of_len("qua-co", 2049);
    // No SIZE declared: the limit is found while streaming, and the whole message is still
    // read up to its end before the answer, so the session stays in step.
    let replies = send(&mut smtp, SENDER, &[ANNV_ADDRESS], &over).await;
    assert_eq!(verdict(&replies), SIZE_EXCEEDED);
    let replies = send(&mut smtp, SENDER, &[ANNV_ADDRESS], &at_limit).await;
    assert!(
        verdict(&replies).starts_with("250 2.0.0 Ok: queued as "),
        "{replies:?}"
    );
    let replies = send(&mut smtp, SENDER, &[ANNV_ADDRESS], &over).await;
    assert_eq!(verdict(&replies), SIZE_EXCEEDED);
    assert_eq!(smtp.command("NOOP").await.line(), "250 2.0.0 Ok");

    let inbox = p.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].ends_with(at_limit.as_bytes()));
}

async fn text_lines_of_1000_octets_pass_and_1001_are_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    let with_line = |subject: &str, octets: usize| {
        format!(
            "{}{}\r\nend\r\n",
            message(SENDER, ANNV_ADDRESS, subject),
            "y".repeat(octets - 2)
        )
    };
    let at_limit = with_line("dong-1000", 1000);
    let over = with_line("dong-1001", 1001);
    let replies = send(&mut smtp, SENDER, &[ANNV_ADDRESS], &over).await;
    assert_eq!(
        verdict(&replies),
        "554 5.6.0 Message refused: a line is longer than 1000 octets"
    );
    let replies = send(&mut smtp, SENDER, &[ANNV_ADDRESS], &at_limit).await;
    assert!(
        verdict(&replies).starts_with("250 2.0.0 Ok: queued as "),
        "{replies:?}"
    );
    let inbox = p.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].ends_with(at_limit.as_bytes()));
}

async fn the_recipient_past_the_limit_is_refused_with_452(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.smtp.max_recipients = 3).await else {
        return;
    };
    let mut smtp = p.mx().await;
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{SENDER}>")).await.line(),
        "250 2.1.0 Sender ok"
    );
    // A refused recipient does not count against the limit.
    let unknown = smtp.command("RCPT TO:<nobody@vinhphuc.gov.vn>").await;
    assert_eq!(unknown.line(), "550 5.1.1 No such recipient here");
    for login in ["annv", "nhunglth", "vanlt"] {
        let reply = smtp
            .command(&format!("RCPT TO:<{login}@vinhphuc.gov.vn>"))
            .await;
        assert_eq!(reply.line(), "250 2.1.5 Recipient ok", "{login}");
    }
    let fourth = smtp.command("RCPT TO:<dayhop@vinhphuc.gov.vn>").await;
    assert_eq!(fourth.line(), "452 4.5.3 Too many recipients");
    assert_eq!(smtp.command("DATA").await.code, 354);
    smtp.send(message(SENDER, "annv@vinhphuc.gov.vn", "ba-nguoi").as_bytes())
        .await;
    smtp.send(b".\r\n").await;
    let stored = smtp.reply().await.unwrap();
    assert!(
        stored.line().starts_with("250 2.0.0 Ok: queued as "),
        "{stored:?}"
    );
    for login in ["annv", "nhunglth", "vanlt"] {
        assert_eq!(p.inbox(login).await.len(), 1, "{login}");
    }
    assert!(p.inbox("dayhop").await.is_empty());
}

async fn the_error_that_reaches_the_limit_closes_the_session(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.smtp.max_errors = 3).await else {
        return;
    };
    let mut smtp = p.mx().await;
    for _ in 0..2 {
        assert_eq!(
            smtp.command("XYZZY").await.line(),
            "500 5.5.1 Command unrecognized"
        );
    }
    // Two errors: the session still works, and a 4xx answer is not an error.
    assert_eq!(smtp.command("NOOP").await.line(), "250 2.0.0 Ok");
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{SENDER}>")).await.line(),
        "250 2.1.0 Sender ok"
    );
    assert_eq!(smtp.command("RSET").await.line(), "250 2.0.0 Reset");
    assert_eq!(
        smtp.command("XYZZY").await.line(),
        "500 5.5.1 Command unrecognized"
    );
    assert_eq!(
        smtp.reply().await.unwrap().line(),
        "421 4.7.0 Too many errors; closing"
    );
    assert!(smtp.closed().await);
}

async fn a_connection_past_the_per_address_limit_is_refused(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.limits.max_connections_per_ip = 2).await
    else {
        return;
    };
    let addr = p.addr(ListenerKind::Smtp);
    let (mut first, greeting) = RawSmtp::connect(addr).await;
    assert_eq!(greeting.line(), "220 mail.vinhphuc.gov.vn ESMTP congvu");
    // The limit is per address, across listeners.
    let (_second, greeting) = RawSmtp::connect(p.addr(ListenerKind::Submission)).await;
    assert_eq!(greeting.line(), "220 mail.vinhphuc.gov.vn ESMTP congvu");
    let (mut third, greeting) = RawSmtp::connect(addr).await;
    assert_eq!(
        greeting.line(),
        "421 4.7.0 mail.vinhphuc.gov.vn Too many connections from your address"
    );
    assert!(third.closed().await);

    // Once one closes, its place is free again.
    assert_eq!(first.command("QUIT").await.line(), "221 2.0.0 Bye");
    assert!(first.closed().await);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_again, greeting) = RawSmtp::connect(addr).await;
        if greeting.code == 220 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection's place stayed taken"
        );
        tokio::task::yield_now().await;
    }
}

/// On 465, 993, 636 and the HTTPS port the client speaks TLS first: a connection over the
/// limit completes the handshake and hears why inside TLS, in its protocol's words, as the
/// plaintext ports do.
async fn past_the_limit_implicit_tls_ports_refuse_inside_tls(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| {
        c.limits.max_connections_per_ip = 1;
        c.http.https_listen = vec![ListenAddr::from(SocketAddr::from(([127, 0, 0, 1], 0)))];
    })
    .await
    else {
        return;
    };
    let (_held, greeting) = RawSmtp::connect(p.addr(ListenerKind::Smtp)).await;
    assert_eq!(greeting.code, 220);
    for (kind, expected) in [
        (
            ListenerKind::Submissions,
            "421 4.7.0 mail.vinhphuc.gov.vn Too many connections from your address\r\n",
        ),
        (
            ListenerKind::Imaps,
            "* BYE [UNAVAILABLE] Too many connections from your address\r\n",
        ),
        (
            ListenerKind::Ldaps,
            "too many connections from your address; try again later",
        ),
        (ListenerKind::Https, "HTTP/1.1 503 Service Unavailable\r\n"),
    ] {
        let received = String::from_utf8_lossy(&refusal_over_tls(&p, kind).await).into_owned();
        assert!(received.contains(expected), "{kind}: {received:?}");
    }
    let (_refused, greeting) = RawSmtp::connect(p.addr(ListenerKind::Smtp)).await;
    assert_eq!(
        greeting.line(),
        "421 4.7.0 mail.vinhphuc.gov.vn Too many connections from your address"
    );
}

/// A handshake costs the CPU the limits protect: while as many refused peers as
/// `REFUSAL_HANDSHAKES` stall in theirs, the next refused peer is closed without one; once
/// they are gone, refused peers hear why again.
async fn refused_handshakes_are_few_at_a_time(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(p) = Province::start_with(backend, |c| c.limits.max_connections_per_ip = 1).await
    else {
        return;
    };
    let (_held, _) = RawSmtp::connect(p.addr(ListenerKind::Smtp)).await;
    let mut stalled = Vec::new();
    for _ in 0..congvu::net::REFUSAL_HANDSHAKES {
        let mut raw = tokio::net::TcpStream::connect(p.addr(ListenerKind::Imaps))
            .await
            .unwrap();
        // The start of a ClientHello that never finishes.
        raw.write_all(&[0x16, 0x03, 0x01, 0x00, 0x40])
            .await
            .unwrap();
        stalled.push(raw);
    }
    // The server takes up the stalled peers in the order they came; a peer that arrives
    // after them finds no handshake left.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tcp = tokio::net::TcpStream::connect(p.addr(ListenerKind::Imaps))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("mail.vinhphuc.gov.vn").unwrap();
    assert!(
        p.tls_connector().connect(name, tcp).await.is_err(),
        "a refused peer got a handshake while every place was taken"
    );
    for mut raw in stalled {
        let mut rest = Vec::new();
        let _ = raw.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut rest)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let received = refusal_over_tls(&p, ListenerKind::Imaps).await;
        if received.starts_with(b"* BYE [UNAVAILABLE]") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled handshakes' places were not given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything a refused peer on the implicit-TLS port `kind` receives inside TLS until the
/// server closes (nothing when the handshake itself is refused).
async fn refusal_over_tls(p: &Province, kind: ListenerKind) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(p.addr(kind)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("mail.vinhphuc.gov.vn").unwrap();
    let Ok(mut tls) = p.tls_connector().connect(name, tcp).await else {
        return Vec::new();
    };
    if kind == ListenerKind::Https {
        // A browser asks first; the refusal was written whatever it asked.
        let _ = tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    }
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut received));
    let _ = read.await.expect("the refused connection was left open");
    received
}

/// Sends `bytes` one at a time, `gap` apart, until the server answers; returns the answer and
/// how long it took from the first byte.
async fn trickle(
    smtp: &mut RawSmtp,
    bytes: impl IntoIterator<Item = u8>,
    gap: Duration,
) -> (SmtpReply, Duration) {
    let start = Instant::now();
    for byte in bytes {
        smtp.send(&[byte]).await;
        // Reading is cancel-safe: a reply that arrives during the gap is kept whole.
        if let Ok(reply) = tokio::time::timeout(gap, smtp.reply()).await {
            return (reply.expect("closed without a reply"), start.elapsed());
        }
    }
    panic!("no answer while trickling for {:?}", start.elapsed());
}

async fn a_client_trickling_one_command_is_cut_off_at_the_command_deadline(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.limits.request_timeout_seconds = 2).await
    else {
        return;
    };
    let mut smtp = p.mx().await;
    // Bytes keep arriving, but never a whole line: the deadline is for the line, not for
    // each read.
    let bytes = b"NOOP "
        .iter()
        .copied()
        .chain(std::iter::repeat(b'z'))
        .take(40);
    let (reply, took) = trickle(&mut smtp, bytes, Duration::from_millis(300)).await;
    assert_eq!(reply.line(), TIMEOUT);
    assert!(
        took >= Duration::from_millis(1_500) && took < Duration::from_millis(8_000),
        "cut off after {took:?}"
    );
    assert!(smtp.closed().await);
}

async fn a_message_trickled_past_the_data_deadline_is_dropped(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.smtp.data_timeout_seconds = 10).await else {
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
    assert_eq!(smtp.command("DATA").await.code, 354);
    // Whole lines at a steady pace, each well within the command deadline: only the data
    // deadline can end this.
    let text = message(SENDER, ANNV_ADDRESS, "nho-giot");
    let bytes = text
        .bytes()
        .chain(b"tiep\r\n".iter().copied().cycle())
        .take(100);
    let (reply, took) = trickle(&mut smtp, bytes, Duration::from_millis(300)).await;
    assert_eq!(reply.line(), TIMEOUT);
    assert!(
        took >= Duration::from_millis(9_500) && took < Duration::from_millis(20_000),
        "cut off after {took:?}"
    );
    assert!(smtp.closed().await);
    assert!(p.inbox("annv").await.is_empty());
}

async fn vrfy_and_expn_reveal_nothing(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    for target in [
        "annv@vinhphuc.gov.vn",
        "annv",
        "nobody@vinhphuc.gov.vn",
        "tuanpq",
    ] {
        assert_eq!(
            smtp.command(&format!("VRFY {target}")).await.line(),
            "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery",
            "VRFY {target}"
        );
    }
    for target in ["toanso@vinhphuc.gov.vn", "toanso", "nolist@vinhphuc.gov.vn"] {
        assert_eq!(
            smtp.command(&format!("EXPN {target}")).await.line(),
            "502 5.5.1 EXPN not available",
            "EXPN {target}"
        );
    }
}

async fn failed_auth_closes_the_session_at_the_limit(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.smtp.max_auth_failures = 2).await else {
        return;
    };
    // One failure under the limit: the right password is still taken in the same session.
    let mut smtp = p.submission_tls().await;
    let wrong = smtp.command(&auth_plain(ANNV.0, "sai-mat-khau")).await;
    assert_eq!(wrong.line(), AUTH_FAILED);
    assert_eq!(
        smtp.command(&auth_plain(ANNV.0, ANNV.1)).await.line(),
        AUTH_OK
    );

    // The second failure closes the session, whatever the mechanism.
    let mut smtp = p.submission_tls().await;
    let wrong = smtp.command(&auth_plain("nobody", "sai-mat-khau")).await;
    assert_eq!(wrong.line(), AUTH_FAILED);
    assert_eq!(smtp.command("AUTH LOGIN").await.line(), "334 VXNlcm5hbWU6");
    assert_eq!(smtp.command(&b64("annv")).await.line(), "334 UGFzc3dvcmQ6");
    assert_eq!(
        smtp.command(&b64("sai-mat-khau")).await.line(),
        "421 4.7.0 Too many failed authentications; closing"
    );
    assert!(smtp.closed().await);
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn a_throttled_source_is_refused_even_the_right_password(backend: Backend) {
    const WINDOW: i64 = 900;
    let Some(p) = Province::start_with(backend, |c| {
        c.auth.lockout_source_failures = 3;
        c.auth.lockout_window_seconds = WINDOW as u64;
        c.smtp.max_auth_failures = 10;
    })
    .await
    else {
        return;
    };
    let mut smtp = p.submission_tls().await;
    // Failures for a name nobody holds: no account is locked, only the source counts them.
    for _ in 0..2 {
        let reply = smtp.command(&auth_plain("nobody", "sai-mat-khau")).await;
        assert_eq!(reply.line(), AUTH_FAILED);
    }
    // Two failures, under the limit of three: the right password is taken.
    let mut other = p.submission_tls().await;
    assert_eq!(
        other.command(&auth_plain(ANNV.0, ANNV.1)).await.line(),
        AUTH_OK
    );
    let reply = smtp.command(&auth_plain("nobody", "sai-mat-khau")).await;
    assert_eq!(reply.line(), AUTH_FAILED);

    // The third failure throttles 127.0.0.1 for the rest of the window, on every protocol:
    // the right password is refused with the same answer as a wrong one.
    assert_eq!(
        smtp.command(&auth_plain(ANNV.0, ANNV.1)).await.line(),
        AUTH_FAILED
    );
    let ldap_bind = |password: &'static str| {
        let addr = p.addr(ListenerKind::Ldaps);
        async move {
            let mut ldap = connect(addr, Transport::Ldaps).await;
            let result = ldap.simple_bind(ANNV_ADDRESS, password).await.unwrap();
            let _ = ldap.unbind().await;
            result.rc
        }
    };
    assert_eq!(
        ldap_bind(ANNV.1).await,
        49,
        "invalidCredentials over LDAP too"
    );
    p.clock.advance(WINDOW - 1);
    assert_eq!(
        smtp.command(&auth_plain(ANNV.0, ANNV.1)).await.line(),
        AUTH_FAILED
    );

    // The window counts from the first failure; once it has passed, the source is heard again.
    p.clock.advance(1);
    assert_eq!(ldap_bind(ANNV.1).await, 0);
    assert_eq!(
        smtp.command(&auth_plain(ANNV.0, ANNV.1)).await.line(),
        AUTH_OK
    );
}
