//! The names mail systems give their special folders, in English and Vietnamese: how a
//! folder copied from another server or archive without a special-use mark (RFC 6154) is
//! recognised as the official's Sent, Drafts, Trash or Junk folder. An archive folder is
//! recognised only by its `\Archive` mark: officials name folders "Lưu trữ" for filing of
//! their own, and such a folder keeps its name.

use unicode_normalization::UnicodeNormalization;

use super::MailboxRole;

/// The usual names, lowercase NFC, most usual first: Outlook/Exchange, Zimbra, MDaemon,
/// Thunderbird and Dovecot defaults, in English and Vietnamese.
const USUAL_NAMES: [(MailboxRole, &[&str]); 4] = [
    (
        MailboxRole::Sent,
        &[
            "sent",
            "sent items",
            "sent messages",
            "sent mail",
            "sent-mail",
            "thư đã gửi",
            "đã gửi",
            "thư gửi",
        ],
    ),
    (
        MailboxRole::Drafts,
        &["drafts", "draft", "thư nháp", "bản nháp", "nháp"],
    ),
    (
        MailboxRole::Trash,
        &[
            "trash",
            "deleted items",
            "deleted messages",
            "deleted",
            "bin",
            "thùng rác",
            "thư đã xóa",
            "thư đã xoá",
            "đã xóa",
            "đã xoá",
        ],
    ),
    (
        MailboxRole::Junk,
        &[
            "junk",
            "junk e-mail",
            "junk email",
            "junk mail",
            "spam",
            "bulk mail",
            "thư rác",
            "thư spam",
        ],
    ),
];

impl MailboxRole {
    /// The special folder a top-level folder called `name` usually is, compared without
    /// case and in NFC; INBOX is INBOX in any case.
    pub fn from_usual_name(name: &str) -> Option<MailboxRole> {
        let name: String = name.trim().nfc().collect::<String>().to_lowercase();
        if name == "inbox" {
            return Some(MailboxRole::Inbox);
        }
        USUAL_NAMES
            .iter()
            .find(|(_, names)| names.contains(&name.as_str()))
            .map(|(role, _)| *role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_vietnamese_names_in_either_normal_form() {
        assert_eq!(
            MailboxRole::from_usual_name("Sent Items"),
            Some(MailboxRole::Sent)
        );
        let nfd: String = "Thư đã gửi".nfd().collect();
        assert_eq!(MailboxRole::from_usual_name(&nfd), Some(MailboxRole::Sent));
        assert_eq!(
            MailboxRole::from_usual_name("THÙNG RÁC"),
            Some(MailboxRole::Trash)
        );
        assert_eq!(
            MailboxRole::from_usual_name("Junk E-mail"),
            Some(MailboxRole::Junk)
        );
        assert_eq!(
            MailboxRole::from_usual_name("inbox"),
            Some(MailboxRole::Inbox)
        );
        assert_eq!(MailboxRole::from_usual_name("Công văn đến"), None);
        assert_eq!(MailboxRole::from_usual_name("Lưu trữ"), None);
    }
}
