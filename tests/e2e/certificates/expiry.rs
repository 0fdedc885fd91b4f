//! The expiry notice: one message in the holder's INBOX when their latest certificate enters
//! the warning window, never a second, none for a holder who already renewed or is disabled.
//! Time is the server's fixed clock, moved by the test.

use congvu::directory::{fingerprint, Actor};
use congvu::mailstore::MailboxRole;
use congvu_tests::certificates::{CertificateRequest, IssuedCertificate, IssuingCa};
use congvu_tests::Backend;
use mail_parser::MessageParser;

use super::DAY;
use crate::backend_tests;
use crate::ldap::fixture::{Province, START};

backend_tests!(one_notice_reaches_each_holder_whose_certificate_expires_soon);

/// The INBOX messages of `login`, as bytes.
async fn inbox(p: &Province, login: &str) -> Vec<Vec<u8>> {
    let services = p.server.services();
    let official = services.directory.official(login).await.unwrap();
    let boxes = services.mailstore.mailboxes(official.id).await.unwrap();
    let inbox = boxes
        .iter()
        .find(|m| m.role == Some(MailboxRole::Inbox))
        .unwrap();
    let mut bodies = Vec::new();
    for m in services.mailstore.messages(inbox.id).await.unwrap() {
        bodies.push(services.mailstore.body(m.body_id).await.unwrap().unwrap());
    }
    bodies
}

async fn import(p: &Province, login: &str, cert: &IssuedCertificate) {
    p.directory()
        .import_certificate(&Actor::admin("it-snv"), login, cert.pem.as_bytes())
        .await
        .unwrap();
}

async fn one_notice_reaches_each_holder_whose_certificate_expires_soon(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let ca = IssuingCa::new("VNPT-CA thử nghiệm");
    let start = START.0;
    let issue = |login: &str, from: i64, days: i64| {
        let email = format!("{login}@vinhphuc.gov.vn");
        ca.issue(&CertificateRequest::for_address(
            &email,
            from,
            start + days * DAY,
        ))
    };
    // Ends in 25 days: inside the 30-day window now.
    let hadtt = issue("hadtt", start - 300 * DAY, 25);
    // Ends in 40 days: enters the window after 10 days.
    let vanlt = issue("vanlt", start - 300 * DAY, 40);
    // Ends in 20 days, but already renewed for a year.
    let nhung_old = issue("nhunglth", start - 300 * DAY, 20);
    let nhung_new = issue("nhunglth", start - DAY, 400);
    // Disabled officials are not written to.
    let tuanpq = issue("tuanpq", start - 300 * DAY, 5);
    import(&p, "hadtt", &hadtt).await;
    import(&p, "vanlt", &vanlt).await;
    import(&p, "nhunglth", &nhung_old).await;
    import(&p, "nhunglth", &nhung_new).await;
    import(&p, "tuanpq", &tuanpq).await;

    let expiry = &p.server.services().expiry;
    // The server also runs its own rounds; the claim makes any number of rounds send once.
    for _ in 0..3 {
        expiry.send_due().await.unwrap();
    }
    assert_eq!(inbox(&p, "hadtt").await.len(), 1);
    for login in ["vanlt", "nhunglth", "tuanpq"] {
        assert!(inbox(&p, login).await.is_empty(), "{login}");
    }

    let notice = &inbox(&p, "hadtt").await[0];
    let parsed = MessageParser::new().parse(notice).unwrap();
    assert_eq!(
        parsed.subject(),
        Some("Chứng thư số sắp hết hạn / Your signing certificate expires on 2026-12-22")
    );
    assert_eq!(
        parsed.from().unwrap().first().unwrap().address(),
        Some("postmaster@vinhphuc.gov.vn")
    );
    assert_eq!(
        parsed.to().unwrap().first().unwrap().address(),
        Some("hadtt@vinhphuc.gov.vn")
    );
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    let text = parsed.body_text(0).unwrap();
    // START is 01:00 UTC on 27 November 2026; 25 days later is 08:00 on 22 December in Hà Nội.
    assert!(
        text.contains("sẽ hết hạn lúc 08:00 ngày 22/12/2026 (giờ Việt Nam)"),
        "{text}"
    );
    assert!(text.contains("Valid until: 2026-12-22 01:00 UTC"), "{text}");
    assert!(text.contains(&fingerprint(&hadtt.der)), "{text}");

    // Ten days on, vanlt's certificate enters the window; hadtt is not told twice.
    p.clock.advance(10 * DAY + 1);
    expiry.send_due().await.unwrap();
    expiry.send_due().await.unwrap();
    assert_eq!(inbox(&p, "vanlt").await.len(), 1);
    assert_eq!(inbox(&p, "hadtt").await.len(), 1);
    assert!(inbox(&p, "nhunglth").await.is_empty());
    assert!(inbox(&p, "tuanpq").await.is_empty());
}
