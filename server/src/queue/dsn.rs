//! Delivery status notifications (RFC 3464): the message that tells a sender their mail
//! failed or is delayed. Built with mail-builder as a `multipart/report` (RFC 6522) with a
//! human-readable part (Vietnamese and English), a `message/delivery-status` part with one
//! block per recipient, and the original message's header as `text/rfc822-headers`.
//!
//! Building only: where a notification goes is decided in `settle`.

use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;

use super::transfer::Failure;
use crate::clock::UnixTime;

/// The longest text taken from a remote reply into a status field: a field line must stay
/// under the 998-octet limit of RFC 5322 §2.1.1.
const MAX_DIAGNOSTIC_CHARS: usize = 900;

/// What happened to one recipient (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    /// Given up: the message will not reach this recipient.
    Failed,
    /// Not delivered yet; still being retried.
    Delayed,
}

impl DsnAction {
    /// The `Action:` value.
    pub fn as_str(self) -> &'static str {
        match self {
            DsnAction::Failed => "failed",
            DsnAction::Delayed => "delayed",
        }
    }
}

/// One recipient's block of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    pub recipient: String,
    pub action: DsnAction,
    /// Why, with the enhanced status code and the remote server's reply, if any.
    pub failure: Failure,
    /// When the attempt that decided this ended.
    pub last_attempt: UnixTime,
    /// For delayed recipients: when the queue gives up.
    pub will_retry_until: Option<UnixTime>,
}

/// Everything one notification says.
#[derive(Debug, Clone)]
pub struct DsnReport<'a> {
    /// This host's name (`Reporting-MTA`, the `From:` domain).
    pub reporting_mta: &'a str,
    /// The envelope sender of the original message: who gets the notification.
    pub original_sender: &'a str,
    /// When the original message was queued.
    pub arrival: UnixTime,
    /// The `Date:` of the notification.
    pub now: UnixTime,
    /// A unique token for the notification's `Message-ID`.
    pub unique: &'a str,
    pub recipients: Vec<DsnRecipient>,
    /// The original message; only its header is included.
    pub original: &'a [u8],
}

/// The notification, as bytes ready to store or send (CRLF line ends).
pub fn build_dsn(report: &DsnReport<'_>) -> Vec<u8> {
    let any_failed = report
        .recipients
        .iter()
        .any(|r| r.action == DsnAction::Failed);
    let subject = if any_failed {
        "Thư không gửi được / Undelivered Mail Returned to Sender"
    } else {
        "Thư đang chậm gửi / Delayed Mail (still being retried)"
    };
    let mailer_daemon = format!("MAILER-DAEMON@{}", report.reporting_mta);
    let report_type =
        ContentType::new("multipart/report").attribute("report-type", "delivery-status");
    let headers = original_header(report.original);
    let headers_encoding = if headers.is_ascii() { "7bit" } else { "8bit" };
    let parts = vec![
        MimePart::new("text/plain", human_readable(report, any_failed)),
        MimePart::new(
            "message/delivery-status",
            delivery_status(report).into_bytes(),
        )
        .transfer_encoding("7bit"),
        MimePart::new("text/rfc822-headers", headers.to_vec()).transfer_encoding(headers_encoding),
    ];
    let message = MessageBuilder::new()
        .from(("Mail Delivery System", mailer_daemon.as_str()))
        .to(report.original_sender)
        .subject(subject)
        .date(Date::new(report.now.0))
        .message_id(format!("{}@{}", report.unique, report.reporting_mta))
        // RFC 3834 §5: automatic responses say so, and nobody auto-replies to them.
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(MimePart::new(report_type, parts));
    // Writing into a Vec cannot fail: the only error source is the writer.
    message.write_to_vec().unwrap_or_default()
}

/// The original message's header section, up to and including the line break that ends
/// its last field (the whole message when it has no body).
fn original_header(message: &[u8]) -> &[u8] {
    if let Some(end) = find(message, b"\r\n\r\n") {
        return &message[..end + 2];
    }
    if let Some(end) = find(message, b"\n\n") {
        return &message[..end + 1];
    }
    message
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfc5322_date(t: UnixTime) -> String {
    Date::new(t.0).to_rfc822()
}

/// A value fit for a status field: printable ASCII on one line, bounded in length.
fn field_value(text: &str) -> String {
    let mut value: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if value.len() > MAX_DIAGNOSTIC_CHARS {
        value.truncate(MAX_DIAGNOSTIC_CHARS);
    }
    value
}

fn human_readable(report: &DsnReport<'_>, any_failed: bool) -> String {
    let mut text = format!(
        "Đây là hệ thống thư điện tử tại {host}.\r\nThis is the mail system at {host}.\r\n\r\n",
        host = report.reporting_mta
    );
    if any_failed {
        text.push_str(
            "Thư của bạn không gửi được đến người nhận dưới đây.\r\n\
             Your message could not be delivered to the recipients below.\r\n\r\n",
        );
    } else {
        text.push_str(
            "Thư của bạn chưa gửi được đến người nhận dưới đây; hệ thống vẫn đang gửi lại.\r\n\
             Bạn không cần gửi lại thư này.\r\n\
             Your message has not yet been delivered to the recipients below; the mail\r\n\
             system keeps trying. You do not need to send it again.\r\n\r\n",
        );
    }
    for r in &report.recipients {
        text.push_str(&format!(
            "<{}>: {}\r\n",
            r.recipient,
            field_value(&r.failure.explanation())
        ));
        if let Some(until) = r.will_retry_until {
            text.push_str(&format!(
                "    Hệ thống sẽ gửi lại đến / retrying until: {}\r\n",
                rfc5322_date(until)
            ));
        }
    }
    text
}

fn delivery_status(report: &DsnReport<'_>) -> String {
    let mut text = format!(
        "Reporting-MTA: dns; {}\r\nArrival-Date: {}\r\n",
        report.reporting_mta,
        rfc5322_date(report.arrival)
    );
    for r in &report.recipients {
        text.push_str("\r\n");
        text.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
            field_value(&r.recipient),
            r.action.as_str(),
            r.failure.status
        ));
        if let Some(remote) = &r.failure.remote {
            text.push_str(&format!("Remote-MTA: dns; {}\r\n", field_value(remote)));
        }
        match &r.failure.reply {
            Some(reply) => text.push_str(&format!(
                "Diagnostic-Code: smtp; {}\r\n",
                field_value(reply)
            )),
            None => text.push_str(&format!(
                "Diagnostic-Code: X-congvu; {}\r\n",
                field_value(&r.failure.detail)
            )),
        }
        text.push_str(&format!(
            "Last-Attempt-Date: {}\r\n",
            rfc5322_date(r.last_attempt)
        ));
        if let Some(until) = r.will_retry_until {
            text.push_str(&format!("Will-Retry-Until: {}\r\n", rfc5322_date(until)));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use mail_parser::MimeHeaders;

    use super::*;

    const ORIGINAL: &[u8] = b"From: annv@vinhphuc.gov.vn\r\nTo: vanphong@hanoi.gov.vn\r\n\
Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\nMessage-ID: <cv-1@vinhphuc.gov.vn>\r\n\r\n\
Noi dung cong van.\r\n";

    fn rejected(reply: &str, status: &str) -> Failure {
        Failure {
            status: status.to_string(),
            reply: Some(reply.to_string()),
            detail: format!("mx.hanoi.gov.vn said: {reply}"),
            remote: Some("mx.hanoi.gov.vn".to_string()),
        }
    }

    fn report(recipients: Vec<DsnRecipient>) -> Vec<u8> {
        build_dsn(&DsnReport {
            reporting_mta: "mail.vinhphuc.gov.vn",
            original_sender: "annv@vinhphuc.gov.vn",
            arrival: UnixTime(1_795_741_200),
            now: UnixTime(1_795_741_500),
            unique: "dsn-1",
            recipients,
            original: ORIGINAL,
        })
    }

    /// The value of `name:` in the `index`-th block of a delivery-status part.
    fn field<'a>(blocks: &'a [Vec<(String, String)>], index: usize, name: &str) -> &'a str {
        blocks[index]
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in block {index}: {blocks:?}"))
    }

    fn status_blocks(text: &str) -> Vec<Vec<(String, String)>> {
        text.split("\r\n\r\n")
            .filter(|b| !b.trim().is_empty())
            .map(|block| {
                block
                    .lines()
                    .filter_map(|l| l.split_once(": "))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    #[allow(clippy::too_many_lines, reason = "one case, read top to bottom")]
    #[test]
    fn a_failure_report_has_the_three_parts_of_rfc_3464() {
        let bytes = report(vec![
            DsnRecipient {
                recipient: "vanphong@hanoi.gov.vn".into(),
                action: DsnAction::Failed,
                failure: rejected("550 5.1.1 No such user", "5.1.1"),
                last_attempt: UnixTime(1_795_741_500),
                will_retry_until: None,
            },
            DsnRecipient {
                recipient: "thuky@hanoi.gov.vn".into(),
                action: DsnAction::Failed,
                failure: rejected("552 5.2.2 Mailbox full", "5.2.2"),
                last_attempt: UnixTime(1_795_741_500),
                will_retry_until: None,
            },
        ]);
        let message = mail_parser::MessageParser::new().parse(&bytes).unwrap();
        assert_eq!(
            message.from().unwrap().first().unwrap().address(),
            Some("MAILER-DAEMON@mail.vinhphuc.gov.vn")
        );
        assert_eq!(
            message.to().unwrap().first().unwrap().address(),
            Some("annv@vinhphuc.gov.vn")
        );
        assert_eq!(
            message.subject(),
            Some("Thư không gửi được / Undelivered Mail Returned to Sender")
        );
        assert_eq!(message.message_id(), Some("dsn-1@mail.vinhphuc.gov.vn"));
        assert_eq!(
            message.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        let ct = message.content_type().unwrap();
        assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));

        let parts: Vec<_> = message.parts.iter().skip(1).collect();
        let types: Vec<String> = parts
            .iter()
            .map(|p| {
                let ct = p.content_type().unwrap();
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
            })
            .collect();
        assert_eq!(
            types,
            [
                "text/plain",
                "message/delivery-status",
                "text/rfc822-headers"
            ]
        );
        let human = parts[0].text_contents().unwrap();
        assert!(human.contains("Thư của bạn không gửi được"), "{human}");
        assert!(
            human.contains("<vanphong@hanoi.gov.vn>: mx.hanoi.gov.vn said: 550 5.1.1 No such user"),
            "{human}"
        );

        let status = std::str::from_utf8(parts[1].contents()).unwrap();
        let blocks = status_blocks(status);
        assert_eq!(blocks.len(), 3, "{status}");
        assert_eq!(
            field(&blocks, 0, "Reporting-MTA"),
            "dns; mail.vinhphuc.gov.vn"
        );
        assert_eq!(
            field(&blocks, 0, "Arrival-Date"),
            "Fri, 27 Nov 2026 01:00:00 +0000"
        );
        assert_eq!(
            field(&blocks, 1, "Final-Recipient"),
            "rfc822; vanphong@hanoi.gov.vn"
        );
        assert_eq!(field(&blocks, 1, "Action"), "failed");
        assert_eq!(field(&blocks, 1, "Status"), "5.1.1");
        assert_eq!(field(&blocks, 1, "Remote-MTA"), "dns; mx.hanoi.gov.vn");
        assert_eq!(
            field(&blocks, 1, "Diagnostic-Code"),
            "smtp; 550 5.1.1 No such user"
        );
        assert_eq!(
            field(&blocks, 2, "Final-Recipient"),
            "rfc822; thuky@hanoi.gov.vn"
        );
        assert_eq!(field(&blocks, 2, "Status"), "5.2.2");

        let headers = parts[2].contents();
        assert_eq!(
            headers,
            &ORIGINAL[..ORIGINAL.len() - "\r\nNoi dung cong van.\r\n".len()]
        );
    }

    #[test]
    fn a_delay_notice_says_until_when_it_retries() {
        let bytes = report(vec![DsnRecipient {
            recipient: "vanphong@hanoi.gov.vn".into(),
            action: DsnAction::Delayed,
            failure: Failure {
                status: "4.4.1".into(),
                reply: None,
                detail: "cannot connect to 127.0.0.1:25: connection refused".into(),
                remote: None,
            },
            last_attempt: UnixTime(1_795_741_500),
            will_retry_until: Some(UnixTime(1_796_173_200)),
        }]);
        let message = mail_parser::MessageParser::new().parse(&bytes).unwrap();
        assert_eq!(
            message.subject(),
            Some("Thư đang chậm gửi / Delayed Mail (still being retried)")
        );
        let status = std::str::from_utf8(message.parts[2].contents()).unwrap();
        let blocks = status_blocks(status);
        assert_eq!(field(&blocks, 1, "Action"), "delayed");
        assert_eq!(field(&blocks, 1, "Status"), "4.4.1");
        assert_eq!(
            field(&blocks, 1, "Diagnostic-Code"),
            "X-congvu; cannot connect to 127.0.0.1:25: connection refused"
        );
        assert_eq!(
            field(&blocks, 1, "Will-Retry-Until"),
            "Wed, 2 Dec 2026 01:00:00 +0000"
        );
        assert!(blocks[1].iter().all(|(k, _)| k != "Remote-MTA"));
    }

    #[test]
    fn remote_text_cannot_break_the_status_fields() {
        assert_eq!(
            field_value("550 5.7.1 bad\r\nInjected: yes\tand ünïcode"),
            "550 5.7.1 bad Injected: yes and n code"
        );
        assert_eq!(field_value(&"x".repeat(5000)).len(), MAX_DIAGNOSTIC_CHARS);
    }

    #[test]
    fn the_header_section_ends_at_the_blank_line() {
        assert_eq!(
            original_header(b"A: 1\r\nB: 2\r\n\r\nbody"),
            b"A: 1\r\nB: 2\r\n"
        );
        assert_eq!(original_header(b"A: 1\n\nbody"), b"A: 1\n");
        assert_eq!(original_header(b"A: 1\r\n"), b"A: 1\r\n");
    }
}
