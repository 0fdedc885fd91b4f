//! Certificate expiry notices: an official whose signing certificate ends within the warning
//! window (and who holds no later one) finds one notice in their INBOX, once per
//! certificate. A periodic task looks for them; the claim and the delivery share one
//! transaction (see [`Mailstore::deliver_expiry_notice`]), so several nodes never send two.

use std::time::Duration;

use mail_builder::headers::raw::Raw;
use mail_builder::MessageBuilder;
use tokio_util::sync::CancellationToken;

use crate::clock::UnixTime;
use crate::directory::{Directory, DirectoryError, ExpiryNoticeDue};
use crate::mailstore::{MailboxRole, Mailstore, MailstoreError};

/// Why a round of notices stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Mailstore(#[from] MailstoreError),
}

/// Sends the expiry notices that are due.
#[derive(Debug, Clone)]
pub struct ExpiryNotices {
    directory: Directory,
    mailstore: Mailstore,
    /// How long before a certificate ends its holder is told, in seconds.
    window: i64,
    /// The sender's domain (`postmaster@…`) and the host named in `Message-ID`s.
    primary_domain: String,
    hostname: String,
}

impl ExpiryNotices {
    /// Notices for certificates ending within `warning_days`.
    pub fn new(
        directory: Directory,
        mailstore: Mailstore,
        warning_days: u32,
        primary_domain: &str,
        hostname: &str,
    ) -> ExpiryNotices {
        ExpiryNotices {
            directory,
            mailstore,
            window: i64::from(warning_days) * 86_400,
            primary_domain: primary_domain.to_string(),
            hostname: hostname.to_string(),
        }
    }

    /// Delivers every notice now due; returns how many this call delivered. A round that
    /// stops on an error counts as one failure in `/metrics`; the notices it did not send
    /// are due again next round.
    pub async fn send_due(&self) -> Result<usize, ExpiryError> {
        let round = self.deliver_due().await;
        if round.is_err() {
            crate::telemetry::certificate_expiry_notice_failed();
        }
        round
    }

    async fn deliver_due(&self) -> Result<usize, ExpiryError> {
        let mut sent = 0;
        for due in self.directory.expiry_notices_due(self.window).await? {
            let inbox = self
                .mailstore
                .mailboxes(due.official.id)
                .await?
                .into_iter()
                .find(|m| m.role == Some(MailboxRole::Inbox));
            let Some(inbox) = inbox else {
                tracing::warn!(login = %due.official.login, "no INBOX for the certificate expiry notice");
                crate::telemetry::certificate_expiry_notice_failed();
                continue;
            };
            let message = self.notice(&due);
            if self
                .mailstore
                .deliver_expiry_notice(inbox.id, due.certificate.id, &message)
                .await?
            {
                tracing::info!(
                    login = %due.official.login,
                    serial = %due.certificate.serial,
                    "certificate expiry notice delivered"
                );
                crate::telemetry::certificate_expiry_notice_sent();
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Runs [`ExpiryNotices::send_due`] at start and every `interval` until `shutdown`.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.send_due().await {
                tracing::error!(%error, "certificate expiry notices failed; retrying next round");
            }
        }
    }

    /// The notice, in Vietnamese then English (CRLF line ends).
    fn notice(&self, due: &ExpiryNoticeDue) -> Vec<u8> {
        let c = &due.certificate;
        let o = &due.official;
        let now = self.directory.now();
        let (vn_date, utc_date) = (vietnam_time(c.not_after), utc_time(c.not_after));
        let text = format!(
            "Kính gửi {name},\r\n\r\n\
             Chứng thư số của ông/bà sẽ hết hạn lúc {vn_date} (giờ Việt Nam).\r\n\
             Sau thời điểm đó, thư ký số bằng chứng thư này không còn được xác thực.\r\n\
             Vui lòng liên hệ tổ chức cung cấp dịch vụ chứng thực chữ ký số hoặc bộ phận\r\n\
             công nghệ thông tin của cơ quan để gia hạn hoặc cấp chứng thư mới.\r\n\r\n\
             Dear {name},\r\n\r\n\
             Your signing certificate expires on {utc_date}. Mail signed with it will no\r\n\
             longer verify after that. Ask your certification authority or your agency's IT\r\n\
             staff to renew it.\r\n\r\n\
             Số hiệu / Serial: {serial}\r\n\
             Chủ thể / Subject: {subject}\r\n\
             Tổ chức cấp / Issuer: {issuer}\r\n\
             Có hiệu lực đến / Valid until: {utc_date}\r\n\
             Dấu vân tay SHA-256 / Fingerprint: {fingerprint}\r\n",
            name = o.display_name,
            serial = c.serial,
            subject = c.subject,
            issuer = c.issuer,
            fingerprint = c.fingerprint_sha256,
        );
        let postmaster = format!("postmaster@{}", self.primary_domain);
        let message = MessageBuilder::new()
            .from(("Hệ thống thư điện tử công vụ", postmaster.as_str()))
            .to((o.display_name.as_str(), o.primary_address.as_str()))
            .subject(format!(
                "Chứng thư số sắp hết hạn / Your signing certificate expires on {}",
                crate::model::UtcDay::of(c.not_after)
            ))
            .date(mail_builder::headers::date::Date::new(now.0))
            .message_id(format!(
                "certificate-expiry.{}.{}@{}",
                c.id.0, now.0, self.hostname
            ))
            // RFC 3834 §5: an automatic message says so, and nobody auto-replies to it.
            .header("Auto-Submitted", Raw::new("auto-generated"))
            .text_body(text);
        // Writing into a Vec cannot fail: the only error source is the writer.
        message.write_to_vec().unwrap_or_default()
    }
}

/// `HH:MM ngày DD/MM/YYYY` in Vietnam's time zone (UTC+7, no daylight saving).
fn vietnam_time(t: UnixTime) -> String {
    let local = t.in_vietnam();
    format!(
        "{:02}:{:02} ngày {:02}/{:02}/{}",
        local.hour(),
        local.minute(),
        local.day(),
        u8::from(local.month()),
        local.year()
    )
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc_time(t: UnixTime) -> String {
    let at =
        time::OffsetDateTime::from_unix_timestamp(t.0).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_vietnam_and_in_utc() {
        // 2027-01-31 20:30:00 UTC is 03:30 on 1 February in Hà Nội.
        let t = UnixTime(1_801_427_400);
        assert_eq!(vietnam_time(t), "03:30 ngày 01/02/2027");
        assert_eq!(utc_time(t), "2027-01-31 20:30 UTC");
    }
}
