//! Mail officials submit is classified by its signature: verified against the sender's
//! directory certificate, signed but not verified, or not signed; the counts per agency and
//! day are exact, and the e-government report shows them. Messages are signed in the test with
//! certificates made in the test.

use congvu::directory::{fingerprint, Actor};
use congvu::mailstore::message::Signing;
use congvu::model::UtcDay;
use congvu_tests::smime::{
    opaque_signed_message, plain_message, signed_message, tampered, TestCertificate,
};
use congvu_tests::Backend;

use serde_json::json;

use super::DAY;
use crate::admin::{json_of, AdminCli};
use crate::backend_tests;
use crate::smtp::fixture::{send, Province, ANNV, NHUNG, START};

backend_tests!(submitted_mail_is_counted_by_how_it_is_signed);

const TO: &str = "vanlt@vinhphuc.gov.vn";

async fn submitted_mail_is_counted_by_how_it_is_signed(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let admin = Actor::admin("it-snv");
    let start = START.0;
    let annv_cert =
        TestCertificate::rsa("annv@vinhphuc.gov.vn", start - DAY, start + 365 * DAY, None);
    let nhung_cert = TestCertificate::ecdsa(
        "nhunglth@vinhphuc.gov.vn",
        start - DAY,
        start + 365 * DAY,
        None,
    );
    // A certificate naming annv's address that was never imported: not his, as far as the
    // directory knows.
    let stray = TestCertificate::rsa("annv@vinhphuc.gov.vn", start - DAY, start + 365 * DAY, None);
    for (login, cert) in [("annv", &annv_cert), ("nhunglth", &nhung_cert)] {
        p.directory()
            .import_certificate(&admin, login, cert.cert_pem.as_bytes())
            .await
            .unwrap();
    }

    let from = "annv@vinhphuc.gov.vn";
    let body = "Kính gửi các phòng,\r\nĐề nghị báo cáo trước ngày 30/11.\r\n";
    let annv_mail = [
        (
            signed_message(from, TO, "ky-so-1", body, &annv_cert),
            Signing::Verified,
        ),
        (
            opaque_signed_message(from, TO, "ky-so-2", body, &annv_cert),
            Signing::Verified,
        ),
        (
            signed_message(from, TO, "ky-nham", body, &stray),
            Signing::Unverified,
        ),
        (
            tampered(&signed_message(from, TO, "sua", body, &annv_cert)),
            Signing::Unverified,
        ),
        (plain_message(from, TO, "thuong", body), Signing::Unsigned),
    ];
    let mut smtp = p.submission_as(ANNV).await;
    for (message, _) in &annv_mail {
        let replies = send(&mut smtp, from, &[TO], &String::from_utf8_lossy(message)).await;
        assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
    }
    let nhung = "nhunglth@vinhphuc.gov.vn";
    let mut smtp = p.submission_as(NHUNG).await;
    let replies = send(
        &mut smtp,
        nhung,
        &[TO],
        &String::from_utf8_lossy(&signed_message(nhung, TO, "ecdsa", body, &nhung_cert)),
    )
    .await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");

    let services = p.server.services();
    let agency = p.directory().official("annv").await.unwrap().agency_id;
    let mut conn = services.store.read().await.unwrap();
    // sent, signed, verified: six sent, five signed, three verified.
    assert_eq!(
        conn.submission_count(agency, &UtcDay::of(START).to_string())
            .await
            .unwrap(),
        (6, 5, 3)
    );
    drop(conn);

    // What the recipient holds still verifies: trace headers sit above the signed part.
    let inbox = p.inbox("vanlt").await;
    assert_eq!(inbox.len(), 6);
    let certificates = [annv_cert.der.as_slice()];
    for ((_, class), stored) in annv_mail.iter().zip(&inbox) {
        assert_eq!(congvu::smime::classify(stored, &certificates), *class);
    }

    // Revoked, the same certificate no longer verifies what annv sends next.
    p.directory()
        .revoke_certificate_by_fingerprint(&admin, &fingerprint(&annv_cert.der))
        .await
        .unwrap();
    let mut smtp = p.submission_as(ANNV).await;
    let message = signed_message(from, TO, "sau-thu-hoi", body, &annv_cert);
    let replies = send(&mut smtp, from, &[TO], &String::from_utf8_lossy(&message)).await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
    let mut conn = services.store.read().await.unwrap();
    assert_eq!(
        conn.submission_count(agency, &UtcDay::of(START).to_string())
            .await
            .unwrap(),
        (7, 6, 3)
    );

    drop(conn);

    // The e-government report for that day shows the same numbers for Sở Nội vụ.
    let day = UtcDay::of(START).to_string();
    let cli = AdminCli::new(&p.db);
    let run = cli.run(&["--json", "report", "egov", "--from", &day, "--to", &day]);
    let report = json_of(&run);
    let snv = report["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "snv")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        (
            &snv["sent"],
            &snv["signed"],
            &snv["verified"],
            &snv["signed_share_percent"]
        ),
        // 3 of 7 is 42.857…%: shares are shown rounded down, so none looks met when it is not.
        (&json!(7), &json!(6), &json!(3), &json!(42.8))
    );
    // annv and nhunglth signed in to submit; four officials hold mailboxes (tuanpq is
    // disabled); only nhunglth's certificate is still valid; both were issued the day before.
    assert_eq!(
        (
            &snv["active"],
            &snv["mailboxes"],
            &snv["valid_certificate_holders"],
            &snv["certificates_issued"],
            &snv["certificates_cumulative"]
        ),
        (&json!(2), &json!(4), &json!(1), &json!(0), &json!(2))
    );
    assert_eq!(report["levels"][1]["level"], "department");
    assert_eq!(report["levels"][1]["verified"], 3);
    assert_eq!(report["total"]["sent"], 7);
}
