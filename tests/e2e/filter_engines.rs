//! congvu's rspamd and ClamAV clients (`congvu::filter`) against the real engines, started
//! privately on loopback by the test kit: GTUBE is rejected, a plain letter passes, EICAR is
//! found bare and as a mail attachment, learning works and may be repeated, and an engine
//! that is down, or a stream clamd will not take, is an error and never a verdict.
//! No database is involved, so these run once, not per backend.

use std::time::Duration;

use congvu::filter::{
    ClamAv, ClamVerdict, ClamavSettings, EngineFailure, Rspamd, RspamdAction, RspamdSettings,
    ScanFacts,
};
use congvu_tests::clamav::{
    letter_with_attachment, Clamd, EICAR, EICAR_SIGNATURE, STREAM_MAX_BYTES,
};

use congvu_tests::rspamd::Rspamd as RspamdDaemon;

/// The GTUBE line: every spam filter's test pattern, rejected by rspamd's default rules.
const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// A well-formed letter between two offices, with `body` as its UTF-8 text.
fn letter(message_id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: =?UTF-8?B?VHLhuqduIFbEg24gQW4=?= <an@sonv.vinhphuc.gov.vn>\r\n\
         To: binh@stttt.vinhphuc.gov.vn\r\n\
         Subject: {subject}\r\n\
         Date: Sat, 05 Dec 2026 08:00:00 +0700\r\n\
         Message-ID: <{message_id}@sonv.vinhphuc.gov.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {body}\r\n"
    )
    .into_bytes()
}

/// A letter of about forty Vietnamese words: enough tokens for Bayes to learn from.
fn meeting_notice(message_id: &str) -> Vec<u8> {
    letter(
        message_id,
        "=?UTF-8?B?TOG7i2NoIGjhu41wIGdpYW8gYmFuIHR14bqnbg==?=",
        "Kính gửi các đồng chí,\r\n\r\n\
         Sở Nội vụ thông báo lịch họp giao ban tuần vào 8 giờ sáng thứ Hai tại phòng họp \
         tầng 3. Đề nghị các phòng chuẩn bị báo cáo kết quả công tác tuần qua và kế hoạch \
         tuần tới, gửi về Văn phòng Sở trước 16 giờ chiều thứ Sáu.\r\n\r\nTrân trọng.",
    )
}

/// The envelope and connection of a message arriving on the MX from another server.
fn arriving() -> ScanFacts {
    ScanFacts {
        client_ip: Some("203.0.113.25".parse().unwrap()),
        client_hostname: Some("mail.sonv.vinhphuc.gov.vn".into()),
        helo: Some("mail.sonv.vinhphuc.gov.vn".into()),
        mail_from: "an@sonv.vinhphuc.gov.vn".into(),
        recipients: vec!["binh@stttt.vinhphuc.gov.vn".into()],
        authenticated_user: None,
        queue_id: Some("E2E1".into()),
        receiving_host: "mx.vinhphuc.gov.vn".into(),
    }
}

fn rspamd_client(daemon: &RspamdDaemon) -> Rspamd {
    Rspamd::new(&RspamdSettings {
        url: Some(daemon.url()),
        controller_url: Some(daemon.controller_url()),
        timeout_seconds: 30,
        ..RspamdSettings::default()
    })
    .unwrap()
}

fn clamav_client(address: String) -> ClamAv {
    ClamAv::new(&ClamavSettings {
        address: Some(address),
        timeout_seconds: 30,
        ..ClamavSettings::default()
    })
    .unwrap()
}

#[tokio::test]
async fn gtube_is_rejected_with_the_verdict_in_headers() {
    let daemon = RspamdDaemon::start().await;
    let message = letter("gtube", "Test", GTUBE);
    let verdict = rspamd_client(&daemon)
        .check(&message, &arriving())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log()));
    assert_eq!(verdict.action, RspamdAction::Reject, "{verdict:?}");
    assert!(verdict.symbols.iter().any(|s| s == "GTUBE"), "{verdict:?}");
    assert!(verdict.score >= verdict.required_score, "{verdict:?}");
    let status = verdict
        .headers
        .iter()
        .find(|(name, _)| name == "X-Spam-Status")
        .map(|(_, value)| value.as_str());
    assert!(
        status.is_some_and(|s| s.starts_with("Yes, score=")),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn a_plain_vietnamese_letter_gets_no_action() {
    let daemon = RspamdDaemon::start().await;
    let verdict = rspamd_client(&daemon)
        .check(&meeting_notice("hop-giao-ban"), &arriving())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log()));
    assert_eq!(verdict.action, RspamdAction::NoAction, "{verdict:?}");
    assert!(verdict.score < verdict.required_score, "{verdict:?}");
    assert!(!verdict.symbols.iter().any(|s| s == "GTUBE"));
}

#[tokio::test]
async fn learning_spam_and_ham_succeeds_and_may_be_repeated() {
    let daemon = RspamdDaemon::start_learnable().await;
    let rspamd = rspamd_client(&daemon);
    let spam = letter(
        "khuyen-mai",
        "=?UTF-8?B?VHLDum5nIHRoxrDhu59uZyBs4bubbg==?=",
        "Chúc mừng quý khách đã trúng thưởng một chiếc điện thoại đời mới nhất. \
         Vui lòng nhấn vào đường dẫn bên dưới và cung cấp số tài khoản ngân hàng cùng \
         mật khẩu để nhận quà ngay hôm nay, chương trình chỉ kéo dài đến hết tuần này.",
    );
    let ham = meeting_notice("hop-giao-ban-2");
    for round in ["first", "again"] {
        rspamd
            .learn(&spam, true)
            .await
            .unwrap_or_else(|e| panic!("{round} learnspam: {e}\n{}", daemon.log()));
        rspamd
            .learn(&ham, false)
            .await
            .unwrap_or_else(|e| panic!("{round} learnham: {e}\n{}", daemon.log()));
    }
    // Changing its mind about a message is learning too.
    rspamd
        .learn(&spam, false)
        .await
        .unwrap_or_else(|e| panic!("relearning as ham: {e}\n{}", daemon.log()));
}

#[tokio::test]
async fn learning_needs_the_controller_not_the_normal_worker() {
    let daemon = RspamdDaemon::start().await;
    let misdirected = Rspamd::new(&RspamdSettings {
        url: Some(daemon.url()),
        controller_url: Some(daemon.url()),
        ..RspamdSettings::default()
    })
    .unwrap();
    let error = misdirected
        .learn(&meeting_notice("lac-duong"), true)
        .await
        .unwrap_err();
    assert!(
        matches!(&error.failure, EngineFailure::Refused(t) if t.contains("invalid command")),
        "{error}"
    );
}

#[tokio::test]
async fn rspamd_down_is_an_error() {
    let daemon = RspamdDaemon::start().await;
    let rspamd = rspamd_client(&daemon);
    drop(daemon);
    let error = rspamd
        .check(&meeting_notice("khi-tat"), &arriving())
        .await
        .unwrap_err();
    assert!(
        matches!(error.failure, EngineFailure::Connection { .. }),
        "{error}"
    );
    let error = rspamd
        .learn(&meeting_notice("khi-tat"), true)
        .await
        .unwrap_err();
    assert!(
        matches!(error.failure, EngineFailure::Connection { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn eicar_is_found_bare_and_as_an_attachment() {
    let daemon = Clamd::start().await;
    let clamav = clamav_client(daemon.address());
    clamav
        .ping()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log()));
    let infected = ClamVerdict::Infected(EICAR_SIGNATURE.into());
    for (what, message) in [
        ("the bare file", EICAR.to_vec()),
        ("an attachment", with_attachment("eicar.com", EICAR)),
    ] {
        let verdict = clamav
            .scan(&message)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", daemon.log()));
        assert_eq!(verdict, infected, "{what}");
    }
}

#[tokio::test]
async fn clean_mail_is_clean() {
    let daemon = Clamd::start().await;
    let clamav = clamav_client(daemon.address());
    // An attachment that is EICAR but for its last byte is a different file.
    let mut almost = EICAR.to_vec();
    almost.pop();
    for (what, message) in [
        ("a letter", meeting_notice("sach")),
        ("an attachment", with_attachment("bao-cao.txt", &almost)),
        ("nothing", Vec::new()),
    ] {
        let verdict = clamav
            .scan(&message)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", daemon.log()));
        assert_eq!(verdict, ClamVerdict::Clean, "{what}");
    }
}

#[tokio::test]
async fn a_stream_past_clamds_limit_is_an_error_not_clean() {
    let daemon = Clamd::start().await;
    let clamav = clamav_client(daemon.address());
    let at_limit = vec![b'a'; STREAM_MAX_BYTES];
    assert_eq!(
        clamav.scan(&at_limit).await.unwrap(),
        ClamVerdict::Clean,
        "{}",
        daemon.log()
    );
    let over = vec![b'a'; STREAM_MAX_BYTES + 1];
    let error = clamav.scan(&over).await.unwrap_err();
    assert!(
        matches!(&error.failure, EngineFailure::Refused(t) if t.contains("size limit exceeded")),
        "{error}"
    );
}

#[tokio::test]
async fn clamd_stopped_is_an_error() {
    let daemon = Clamd::start().await;
    let clamav = clamav_client(daemon.address());
    assert_eq!(clamav.scan(b"hello").await.unwrap(), ClamVerdict::Clean);
    drop(daemon);
    let error = clamav
        .scan(&with_attachment("eicar.com", EICAR))
        .await
        .unwrap_err();
    assert!(
        matches!(error.failure, EngineFailure::Connection { .. }),
        "{error}"
    );
    assert!(clamav.ping().await.is_err());
    // Within the timeout: a refused connection fails at once.
    let started = std::time::Instant::now();
    let _ = clamav.scan(b"hello").await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A letter between two officials with `attachment` as a base64 file named `name`.
fn with_attachment(name: &str, attachment: &[u8]) -> Vec<u8> {
    letter_with_attachment(
        "an@sonv.vinhphuc.gov.vn",
        "binh@stttt.vinhphuc.gov.vn",
        name,
        attachment,
    )
    .into_bytes()
}
