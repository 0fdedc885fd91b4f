//! Delivery status notifications: one per failed message, in the local sender's INBOX, with
//! the structure and fields of RFC 3464; on expiry; one delay notice; from `<>` to a remote
//! sender; and never one about a notification.

use congvu_tests::smtp_sink::{SmtpSink, Stage};
use congvu_tests::Backend;
use mail_parser::{MessageParser, MimeHeaders};

use super::{QueueTest, ANNV, OUTBOUND, START};

crate::backend_tests!(
    refused_recipients_get_one_notification_in_the_senders_inbox,
    an_expired_message_returns_to_its_sender,
    a_delayed_message_brings_one_delay_notice,
    a_remote_sender_is_notified_from_the_null_sender,
    no_notification_is_sent_about_a_notification,
    a_local_sender_without_a_mailbox_gets_nothing,
);

fn recipients(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A notification as read by a mail client.
#[derive(Debug)]
struct Notification {
    from: String,
    to: String,
    subject: String,
    auto_submitted: String,
    /// `type/subtype` of the top level and of each part.
    content_type: String,
    report_type: String,
    parts: Vec<String>,
    human: String,
    /// The per-message block, then one block per recipient: `(field, value)` pairs.
    status: Vec<Vec<(String, String)>>,
    headers: Vec<u8>,
}

impl Notification {
    fn parse(bytes: &[u8]) -> Notification {
        let message = MessageParser::new().parse(bytes).unwrap();
        let type_of = |ct: &mail_parser::ContentType<'_>| {
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
        };
        let parts: Vec<_> = message.parts.iter().skip(1).collect();
        let status_text = String::from_utf8(parts[1].contents().to_vec()).unwrap();
        Notification {
            from: message
                .from()
                .unwrap()
                .first()
                .unwrap()
                .address()
                .unwrap()
                .to_string(),
            to: message
                .to()
                .unwrap()
                .first()
                .unwrap()
                .address()
                .unwrap()
                .to_string(),
            subject: message.subject().unwrap().to_string(),
            auto_submitted: message
                .header_raw("Auto-Submitted")
                .unwrap()
                .trim()
                .to_string(),
            content_type: type_of(message.content_type().unwrap()),
            report_type: message
                .content_type()
                .unwrap()
                .attribute("report-type")
                .unwrap()
                .to_string(),
            parts: parts
                .iter()
                .map(|p| type_of(p.content_type().unwrap()))
                .collect(),
            human: parts[0].text_contents().unwrap().to_string(),
            status: status_text
                .split("\r\n\r\n")
                .filter(|b| !b.trim().is_empty())
                .map(|block| {
                    block
                        .lines()
                        .filter_map(|l| l.split_once(": "))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .collect(),
            headers: parts[2].contents().to_vec(),
        }
    }

    /// `name` in block `index` (0 is the per-message block).
    fn field(&self, index: usize, name: &str) -> &str {
        self.status[index]
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in block {index}: {:#?}", self.status))
    }
}

/// The header section of [`OUTBOUND`], as a notification quotes it.
fn outbound_header() -> Vec<u8> {
    let end = OUTBOUND.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    OUTBOUND[..end + 2].to_vec()
}

/// [`START`] as notifications write dates (RFC 5322), and times after it.
const AT_START: &str = "Fri, 27 Nov 2026 01:00:00 +0000";
const AN_HOUR_LATER: &str = "Fri, 27 Nov 2026 02:00:00 +0000";
const FIVE_DAYS_LATER: &str = "Wed, 2 Dec 2026 01:00:00 +0000";

async fn refused_recipients_get_one_notification_in_the_senders_inbox(backend: Backend) {
    let sink = SmtpSink::builder()
        .rcpt_reply("khongco@hanoi.gov.vn", "550 5.1.1 No such user here")
        .rcpt_reply("daydu@hanoi.gov.vn", "552 5.2.2 Mailbox full");
    let Some(t) = QueueTest::start(backend, sink, |_, _| {}).await else {
        return;
    };
    t.queue
        .enqueue(
            ANNV,
            &recipients(&[
                "khongco@hanoi.gov.vn",
                "vanphong@hanoi.gov.vn",
                "daydu@hanoi.gov.vn",
            ]),
            OUTBOUND,
        )
        .await
        .unwrap();
    t.settle().await;

    let sent = t.sink.transactions();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].rcpt_to,
        ["vanphong@hanoi.gov.vn"],
        "only the refused fail"
    );
    assert_eq!(
        t.sink.rcpt_attempts(),
        [
            "khongco@hanoi.gov.vn",
            "vanphong@hanoi.gov.vn",
            "daydu@hanoi.gov.vn"
        ]
    );
    assert_eq!(t.entries().await, [], "permanent failures are not retried");
    assert_eq!(t.body_holders(OUTBOUND).await, None);

    let inbox = t.inbox("annv").await;
    assert_eq!(inbox.len(), 1, "exactly one notification for the message");
    let n = Notification::parse(&inbox[0]);
    assert_eq!(n.from, "MAILER-DAEMON@mail.vinhphuc.gov.vn");
    assert_eq!(n.to, ANNV);
    assert_eq!(
        n.subject,
        "Thư không gửi được / Undelivered Mail Returned to Sender"
    );
    assert_eq!(n.auto_submitted, "auto-replied");
    assert_eq!(
        (n.content_type.as_str(), n.report_type.as_str()),
        ("multipart/report", "delivery-status")
    );
    assert_eq!(
        n.parts,
        [
            "text/plain",
            "message/delivery-status",
            "text/rfc822-headers"
        ]
    );
    assert!(
        n.human
            .contains("<khongco@hanoi.gov.vn>: 127.0.0.1 said: 550 5.1.1 No such user here"),
        "{}",
        n.human
    );
    assert_eq!(n.status.len(), 3, "{:#?}", n.status);
    assert_eq!(n.field(0, "Reporting-MTA"), "dns; mail.vinhphuc.gov.vn");
    assert_eq!(n.field(0, "Arrival-Date"), AT_START);
    assert_eq!(
        n.field(1, "Final-Recipient"),
        "rfc822; khongco@hanoi.gov.vn"
    );
    assert_eq!(n.field(1, "Action"), "failed");
    assert_eq!(n.field(1, "Status"), "5.1.1");
    assert_eq!(n.field(1, "Remote-MTA"), "dns; 127.0.0.1");
    assert_eq!(
        n.field(1, "Diagnostic-Code"),
        "smtp; 550 5.1.1 No such user here"
    );
    assert_eq!(n.field(1, "Last-Attempt-Date"), AT_START);
    assert_eq!(n.field(2, "Final-Recipient"), "rfc822; daydu@hanoi.gov.vn");
    assert_eq!(n.field(2, "Action"), "failed");
    assert_eq!(n.field(2, "Status"), "5.2.2");
    assert_eq!(
        n.field(2, "Diagnostic-Code"),
        "smtp; 552 5.2.2 Mailbox full"
    );
    assert_eq!(n.headers, outbound_header());
    t.stop().await;
}

async fn an_expired_message_returns_to_its_sender(backend: Backend) {
    let sink = SmtpSink::builder().reply(Stage::Rcpt, "451 4.7.1 Greylisted, try again");
    let Some(t) = QueueTest::start(backend, sink, |config, _| {
        config.queue.expire_seconds = 3600;
        config.queue.delay_notice_seconds = 0;
    })
    .await
    else {
        return;
    };
    t.queue
        .enqueue(ANNV, &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    t.settle().await;
    // 300, 600, 1200 s after each failure; the fourth retry would be after expiry and is
    // moved onto it.
    for (wait, attempts) in [(300, 2), (600, 3), (1200, 4)] {
        t.advance(wait).await;
        assert_eq!(t.entries().await[0].attempts, attempts);
    }
    assert_eq!(t.entries().await[0].next_attempt_at, START.plus(3600));
    assert_eq!(t.inbox("annv").await.len(), 0);

    t.advance(1500).await;
    assert_eq!(t.sink.rcpt_attempts().len(), 5);
    assert_eq!(t.entries().await, [], "an expired entry leaves the queue");
    assert_eq!(t.body_holders(OUTBOUND).await, None);
    let inbox = t.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    let n = Notification::parse(&inbox[0]);
    assert_eq!(
        n.field(1, "Final-Recipient"),
        "rfc822; vanphong@hanoi.gov.vn"
    );
    assert_eq!(n.field(1, "Action"), "failed");
    assert_eq!(n.field(1, "Status"), "4.7.1");
    assert_eq!(
        n.field(1, "Diagnostic-Code"),
        "smtp; 451 4.7.1 Greylisted, try again"
    );
    assert_eq!(n.field(1, "Last-Attempt-Date"), AN_HOUR_LATER);
    assert!(
        n.human
            .contains("(given up after 5 attempts over 3600 seconds)"),
        "{}",
        n.human
    );
    t.stop().await;
}

async fn a_delayed_message_brings_one_delay_notice(backend: Backend) {
    let sink = SmtpSink::builder().reply(Stage::Mail, "421 4.4.2 Too busy");
    let Some(t) = QueueTest::start(backend, sink, |config, _| {
        config.queue.delay_notice_seconds = 600;
    })
    .await
    else {
        return;
    };
    t.queue
        .enqueue(ANNV, &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    t.settle().await;
    t.advance(300).await;
    assert_eq!(t.inbox("annv").await.len(), 0, "not yet 600 s old");

    // The third attempt, 900 s after queueing, is the first one past 600 s.
    t.advance(600).await;
    let entries = t.entries().await;
    assert_eq!(
        (entries[0].attempts, entries[0].delay_notice_at),
        (3, Some(START.plus(900)))
    );
    let inbox = t.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    let n = Notification::parse(&inbox[0]);
    assert_eq!(
        n.subject,
        "Thư đang chậm gửi / Delayed Mail (still being retried)"
    );
    assert_eq!(n.field(1, "Action"), "delayed");
    assert_eq!(n.field(1, "Status"), "4.4.2");
    assert_eq!(n.field(1, "Diagnostic-Code"), "smtp; 421 4.4.2 Too busy");
    assert_eq!(n.field(1, "Will-Retry-Until"), FIVE_DAYS_LATER);
    assert!(
        n.human.contains("Bạn không cần gửi lại thư này."),
        "{}",
        n.human
    );

    // Further failures bring no second notice.
    t.advance(1200).await;
    t.advance(2400).await;
    assert_eq!(t.entries().await[0].attempts, 5);
    assert_eq!(t.inbox("annv").await.len(), 1);
    t.stop().await;
}

async fn a_remote_sender_is_notified_from_the_null_sender(backend: Backend) {
    let sink = SmtpSink::builder().rcpt_reply("khongco@mic.gov.vn", "550 5.1.1 No such user");
    let Some(t) = QueueTest::start(backend, sink, |_, _| {}).await else {
        return;
    };
    t.queue
        .enqueue(
            "nguoigui@hanoi.gov.vn",
            &recipients(&["khongco@mic.gov.vn"]),
            OUTBOUND,
        )
        .await
        .unwrap();
    t.settle().await;

    let sent = t.sink.transactions();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].mail_from, "", "notifications come from <>");
    assert_eq!(sent[0].rcpt_to, ["nguoigui@hanoi.gov.vn"]);
    let n = Notification::parse(&sent[0].data);
    assert_eq!(n.to, "nguoigui@hanoi.gov.vn");
    assert_eq!(n.field(1, "Final-Recipient"), "rfc822; khongco@mic.gov.vn");
    assert_eq!(n.field(1, "Status"), "5.1.1");
    assert_eq!(t.entries().await, []);
    assert_eq!(t.body_holders(OUTBOUND).await, None);
    assert_eq!(
        t.body_holders(&sent[0].data).await,
        None,
        "the notification's body too"
    );
    t.stop().await;
}

async fn no_notification_is_sent_about_a_notification(backend: Backend) {
    let sink = SmtpSink::builder()
        .rcpt_reply("khongco@mic.gov.vn", "550 5.1.1 No such user")
        .rcpt_reply("nguoigui@hanoi.gov.vn", "550 5.1.1 No such user");
    let Some(t) = QueueTest::start(backend, sink, |config, _| {
        config.queue.delay_notice_seconds = 300;
    })
    .await
    else {
        return;
    };
    // A message whose notification is refused too: the notification is dropped.
    t.queue
        .enqueue(
            "nguoigui@hanoi.gov.vn",
            &recipients(&["khongco@mic.gov.vn"]),
            OUTBOUND,
        )
        .await
        .unwrap();
    t.settle().await;
    assert_eq!(
        t.sink.rcpt_attempts(),
        ["khongco@mic.gov.vn", "nguoigui@hanoi.gov.vn"]
    );
    assert_eq!(t.sink.transactions(), []);
    assert_eq!(t.entries().await, []);
    assert_eq!(t.queue.size().await.unwrap(), 0);

    t.stop().await;

    // A message from <> that cannot be delivered for long brings no delay notice either.
    let stuck = SmtpSink::builder().reply(Stage::Mail, "451 4.3.0 Try later");
    let Some(t) = QueueTest::start(backend, stuck, |config, _| {
        config.queue.delay_notice_seconds = 300;
    })
    .await
    else {
        return;
    };
    t.queue
        .enqueue("", &recipients(&["vanphong@hanoi.gov.vn"]), OUTBOUND)
        .await
        .unwrap();
    t.settle().await;
    t.advance(300).await;
    t.advance(600).await;
    let entries = t.entries().await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!((entries[0].attempts, entries[0].delay_notice_at), (3, None));
    assert_eq!(t.inbox("annv").await.len(), 0);
    assert_eq!(t.sink.connections(), 3);
    t.stop().await;
}

async fn a_local_sender_without_a_mailbox_gets_nothing(backend: Backend) {
    let sink = SmtpSink::builder().rcpt_reply("khongco@mic.gov.vn", "550 5.1.1 No such user");
    let Some(t) = QueueTest::start(backend, sink, |_, _| {}).await else {
        return;
    };
    t.queue
        .enqueue(
            "khongton@vinhphuc.gov.vn",
            &recipients(&["khongco@mic.gov.vn"]),
            OUTBOUND,
        )
        .await
        .unwrap();
    t.settle().await;
    assert_eq!(
        t.sink.rcpt_attempts(),
        ["khongco@mic.gov.vn"],
        "nothing sent outside"
    );
    assert_eq!(t.entries().await, []);
    assert_eq!(t.inbox("annv").await.len(), 0);
    t.stop().await;
}
