//! Submission (587 with STARTTLS, 465 with implicit TLS): AUTH only after TLS, sender
//! ownership of the envelope and of `From:`, mail to other domains queued, and the
//! per-agency submission counts. lettre is the client where a real client's behaviour is
//! the point.

use congvu::directory::{Actor, AgencyId, DkimKey, DEFAULT_DKIM_KEY_BITS};
use congvu::model::UtcDay;
use congvu::net::ListenerKind;
use congvu_tests::smtp::RawSmtp;
use congvu_tests::smtp_sink::SmtpSink;
use congvu_tests::Backend;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::fixture::{auth_plain, message, send, Province, ANNV, NHUNG, START, VAN};
use super::smtp_tests;

smtp_tests!(
    lettre_submits_over_starttls_and_implicit_tls,
    auth_is_offered_and_accepted_only_after_tls,
    mail_requires_auth_and_wrong_passwords_close_the_session,
    sender_and_from_must_be_owned,
    remote_recipients_are_queued_relayed_and_submissions_counted,
    submitted_mail_is_dkim_signed_for_its_domain,
);

fn transport(
    p: &Province,
    kind: ListenerKind,
    who: (&str, &str),
) -> AsyncSmtpTransport<Tokio1Executor> {
    let addr = p.addr(kind);
    let tls = TlsParameters::builder(super::fixture::HOSTNAME.into())
        .dangerous_accept_invalid_certs(true)
        .build_rustls()
        .unwrap();
    let tls = match kind {
        ListenerKind::Submissions => Tls::Wrapper(tls),
        _ => Tls::Required(tls),
    };
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .tls(tls)
        .credentials(Credentials::new(who.0.into(), who.1.into()))
        .build()
}

async fn lettre_submits_over_starttls_and_implicit_tls(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for (kind, subject) in [
        (ListenerKind::Submission, "qua-587"),
        (ListenerKind::Submissions, "qua-465"),
    ] {
        let email = lettre::Message::builder()
            .from("Nguyễn Văn An <annv@vinhphuc.gov.vn>".parse().unwrap())
            .to("Lý Thị Vân <vanlt@vinhphuc.gov.vn>".parse().unwrap())
            .subject(subject)
            .body("Kính gửi chị Vân,\r\nNội dung công văn.\r\n".to_string())
            .unwrap();
        let response = transport(&p, kind, ANNV).send(email).await.unwrap();
        assert_eq!(response.code().to_string(), "250");
    }
    let inbox = p.inbox("vanlt").await;
    assert_eq!(inbox.len(), 2);
    for (copy, subject) in inbox.iter().zip(["qua-587", "qua-465"]) {
        let text = String::from_utf8_lossy(copy);
        assert!(
            text.starts_with("Return-Path: <annv@vinhphuc.gov.vn>\r\nReceived: from "),
            "{text}"
        );
        assert!(text.contains(" with ESMTPSA id "), "{text}");
        assert!(text.contains(&format!("Subject: {subject}\r\n")), "{text}");
    }
}

async fn auth_is_offered_and_accepted_only_after_tls(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut plain, _) = RawSmtp::connect(p.addr(ListenerKind::Submission)).await;
    let ehlo = plain.command("EHLO laptop").await;
    assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"));
    assert!(
        !ehlo.lines.iter().any(|l| l.starts_with("AUTH")),
        "{ehlo:?}"
    );
    let reply = plain.command(&auth_plain(ANNV.0, ANNV.1)).await;
    assert_eq!(
        reply.line(),
        "538 5.7.11 Encryption required for requested authentication mechanism"
    );

    let mut tls = p.submission_tls().await;
    let ehlo = tls.command("EHLO laptop").await;
    assert!(
        ehlo.lines.iter().any(|l| l == "AUTH PLAIN LOGIN"),
        "{ehlo:?}"
    );
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"));
    // LOGIN, with the address instead of the login.
    assert_eq!(tls.command("AUTH LOGIN").await.line(), "334 VXNlcm5hbWU6");
    assert_eq!(
        tls.command(&b64("nhunglth@vinhphuc.gov.vn")).await.line(),
        "334 UGFzc3dvcmQ6"
    );
    assert_eq!(
        tls.command(&b64(NHUNG.1)).await.line(),
        "235 2.7.0 Authentication successful"
    );
    assert_eq!(
        tls.command("AUTH PLAIN").await.line(),
        "503 5.5.1 Already authenticated"
    );

    // The MX port does not offer AUTH at all.
    let mut mx = p.mx().await;
    assert_eq!(
        mx.command(&auth_plain(ANNV.0, ANNV.1)).await.line(),
        "503 5.5.1 AUTH not available on this port; use submission"
    );
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn mail_requires_auth_and_wrong_passwords_close_the_session(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.submission_tls().await;
    assert_eq!(
        smtp.command("MAIL FROM:<annv@vinhphuc.gov.vn>")
            .await
            .line(),
        "530 5.7.0 Authentication required"
    );
    for _ in 0..2 {
        let reply = smtp.command(&auth_plain(ANNV.0, "wrong-password")).await;
        assert_eq!(reply.line(), "535 5.7.8 Authentication credentials invalid");
    }
    let reply = smtp.command(&auth_plain("nobody", "wrong-password")).await;
    assert_eq!(
        reply.line(),
        "421 4.7.0 Too many failed authentications; closing"
    );
    assert!(smtp.closed().await);
}

async fn sender_and_from_must_be_owned(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.submission_as(ANNV).await;
    for (sender, expected) in [
        ("nhunglth@vinhphuc.gov.vn", 553),
        ("", 553),
        ("someone@example.org", 553),
        ("vanthu.snv@vinhphuc.gov.vn", 553),
    ] {
        let reply = smtp.command(&format!("MAIL FROM:<{sender}>")).await;
        assert_eq!(reply.code, expected, "MAIL FROM:<{sender}>");
        assert_eq!(
            reply.text(),
            "5.7.1 Sender address not owned by the authenticated user"
        );
    }
    // Own alias and a list annv belongs to are his to send as.
    for sender in ["an.nguyen@snv.vinhphuc.gov.vn", "toanso@vinhphuc.gov.vn"] {
        let body = message(sender, "vanlt@vinhphuc.gov.vn", "owned");
        let replies = send(&mut smtp, sender, &["vanlt@vinhphuc.gov.vn"], &body).await;
        assert_eq!(replies.last().unwrap().code, 250, "{sender}: {replies:?}");
    }
    // The envelope is his, the From: header is not.
    let forged = message(
        "nhunglth@vinhphuc.gov.vn",
        "vanlt@vinhphuc.gov.vn",
        "forged",
    );
    let replies = send(
        &mut smtp,
        "annv@vinhphuc.gov.vn",
        &["vanlt@vinhphuc.gov.vn"],
        &forged,
    )
    .await;
    assert_eq!(
        replies.last().unwrap().line(),
        "553 5.7.1 From: header address not owned by the authenticated user"
    );
    assert_eq!(p.inbox("vanlt").await.len(), 2);

    // vanlt is the agency's mail officer: she may send as vanthu.snv@.
    let mut officer = p.submission_as(VAN).await;
    let body = message(
        "vanthu.snv@vinhphuc.gov.vn",
        "annv@vinhphuc.gov.vn",
        "vanthu",
    );
    let replies = send(
        &mut officer,
        "vanthu.snv@vinhphuc.gov.vn",
        &["annv@vinhphuc.gov.vn"],
        &body,
    )
    .await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
}

async fn remote_recipients_are_queued_relayed_and_submissions_counted(backend: Backend) {
    let sink = SmtpSink::builder().start().await;
    let Some(p) =
        Province::start_with(backend, |c| c.queue.smart_host = Some(sink.smart_host())).await
    else {
        return;
    };
    let mut smtp = p.submission_as(ANNV).await;
    let body = message("annv@vinhphuc.gov.vn", "partner@example.org", "ra-ngoai");
    let replies = send(
        &mut smtp,
        "annv@vinhphuc.gov.vn",
        &[
            "partner@example.org",
            "Other@Example.org",
            "vanlt@vinhphuc.gov.vn",
        ],
        &body,
    )
    .await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
    let signed = "From: <annv@vinhphuc.gov.vn>\r\nTo: <vanlt@vinhphuc.gov.vn>\r\nSubject: ky-so\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n\r\nMIIB\r\n--b--\r\n";
    let replies = send(
        &mut smtp,
        "annv@vinhphuc.gov.vn",
        &["vanlt@vinhphuc.gov.vn"],
        signed,
    )
    .await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");

    // The queue is woken by the commit: the relay sees one transaction for example.org.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sink.transactions().is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing relayed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let relayed = &sink.transactions()[0];
    assert_eq!(relayed.mail_from, "annv@vinhphuc.gov.vn");
    let mut recipients = relayed.rcpt_to.clone();
    recipients.sort();
    assert_eq!(recipients, ["other@example.org", "partner@example.org"]);
    let text = String::from_utf8_lossy(&relayed.data);
    assert!(
        text.starts_with("Received: from laptop"),
        "no Return-Path on the relayed copy: {text}"
    );
    assert!(text.ends_with(&body));
    assert_eq!(p.inbox("vanlt").await.len(), 2);

    let services = p.server.services();
    let mut conn = services.store.read().await.unwrap();
    let agency: AgencyId = p.directory().official("annv").await.unwrap().agency_id;
    assert_eq!(
        conn.submission_count(agency, &UtcDay::of(START).to_string())
            .await
            .unwrap(),
        // The signature is not one the directory can verify: signed, not verified.
        (2, 1, 0)
    );
}

async fn submitted_mail_is_dkim_signed_for_its_domain(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let key = DkimKey::generate(DEFAULT_DKIM_KEY_BITS).unwrap();
    let record = p
        .directory()
        .set_dkim_key(
            &Actor::admin("it-snv"),
            "vinhphuc.gov.vn",
            Some("thu2026"),
            &key,
            false,
        )
        .await
        .unwrap();
    let mut smtp = p.submission_as(ANNV).await;
    let body = message("annv@vinhphuc.gov.vn", "vanlt@vinhphuc.gov.vn", "co-chu-ky");
    let replies = send(
        &mut smtp,
        "annv@vinhphuc.gov.vn",
        &["vanlt@vinhphuc.gov.vn"],
        &body,
    )
    .await;
    assert_eq!(replies.last().unwrap().code, 250);
    // From the alias's domain, which has no key: not signed.
    let other = message(
        "an.nguyen@snv.vinhphuc.gov.vn",
        "vanlt@vinhphuc.gov.vn",
        "khong-ky",
    );
    let replies = send(
        &mut smtp,
        "an.nguyen@snv.vinhphuc.gov.vn",
        &["vanlt@vinhphuc.gov.vn"],
        &other,
    )
    .await;
    assert_eq!(replies.last().unwrap().code, 250);

    let inbox = p.inbox("vanlt").await;
    let signed = String::from_utf8_lossy(&inbox[0]);
    assert!(
        signed.contains("\r\nDKIM-Signature: v=1; a=rsa-sha256;"),
        "{signed}"
    );
    assert!(signed.contains("d=vinhphuc.gov.vn"));
    assert!(signed.contains("s=thu2026"));
    let results =
        crate::dkim::verify(&inbox[0], &format!("{}.", record.name()), &record.value()).await;
    assert_eq!(results, [mail_auth::DkimResult::Pass]);
    assert!(!String::from_utf8_lossy(&inbox[1]).contains("DKIM-Signature:"));

    // Mail from outside is never signed here.
    let mut mx = p.mx().await;
    let external = message("sender@example.org", "vanlt@vinhphuc.gov.vn", "ngoai");
    send(
        &mut mx,
        "sender@example.org",
        &["vanlt@vinhphuc.gov.vn"],
        &external,
    )
    .await;
    assert!(!String::from_utf8_lossy(&p.inbox("vanlt").await[2]).contains("DKIM-Signature:"));
}
