//! Authenticated-state commands on the official's folders: SELECT/EXAMINE, CREATE, DELETE,
//! RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST/LSUB with special-use attributes (RFC 6154), STATUS,
//! APPEND (with APPENDUID, RFC 4315) and the quota commands (RFC 9208). Folder names arrive
//! and leave in modified UTF-7 and are Unicode everywhere else.

use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::imap_types::command::SelectParameter;

use imap_codec::imap_types::core::{AString, Atom, QuotedChar};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::extensions::quota::{QuotaGet, Resource};
use imap_codec::imap_types::flag::{Flag, FlagNameAttribute};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox as WireMailbox};
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};

use super::extended_list::ListOptions;
use super::selected::Selected;
use super::session::{Done, Session};
use super::{flags, reply, utf7};
use crate::clock::UnixTime;
use crate::mailstore::{Mailbox, MailboxRole, MailstoreError, SEPARATOR};
use crate::model::Official;

/// The quota root every official's mailboxes share.
const QUOTA_ROOT: &str = "";

impl Session<'_> {
    pub(super) async fn select(
        &mut self,
        official: &Official,
        mailbox: WireMailbox<'static>,
        parameters: Vec<SelectParameter>,
        read_only: bool,
    ) -> Done {
        if parameters
            .iter()
            .any(|p| matches!(p, SelectParameter::QResync { .. }))
        {
            return Done::bad(reply::NOT_SUPPORTED);
        }
        if parameters.contains(&SelectParameter::CondStore) {
            self.condstore = true;
        }
        // Selecting anything, even a mailbox that fails to open, leaves the old one.
        self.unselect();
        let Some(name) = folder_name(&mailbox) else {
            return Done::no(Some(reply::code("NONEXISTENT")), reply::NO_SUCH_MAILBOX);
        };
        let mailstore = &self.service.mailstore;
        let opened = match mailstore.mailbox_named(official, &name).await {
            Ok(Some(mailbox)) => Selected::open(mailstore, mailbox, read_only).await,
            Ok(None) => Err(MailstoreError::NoSuchMailbox),
            Err(error) => Err(error),
        };
        let selected = match opened {
            Ok(selected) => selected,
            Err(error) => return Done::refused(&error),
        };
        let keywords = selected.keywords_in_use();
        self.data(Data::Flags(flags::defined(&keywords)));
        self.untagged_ok(
            Some(Code::PermanentFlags(if read_only {
                Vec::new()
            } else {
                flags::permanent(&keywords)
            })),
            "Flags permitted",
        );
        self.data(Data::Exists(selected.exists()));
        self.data(Data::Recent(0));
        if let Some(first) = selected.first_unseen() {
            self.untagged_ok(Some(Code::Unseen(first)), "First unseen");
        }
        if let Some(validity) = NonZeroU32::new(selected.mailbox.uidvalidity) {
            self.untagged_ok(Some(Code::UidValidity(validity)), "UIDs valid");
        }
        if let Some(next) = NonZeroU32::new(selected.mailbox.uidnext.0) {
            self.untagged_ok(Some(Code::UidNext(next)), "Predicted next UID");
        }
        if let Some(highest) = NonZeroU64::new(selected.highest_modseq()) {
            self.untagged_ok(Some(Code::HighestModSeq(highest)), "Highest");
        }
        self.select_view(selected);
        if read_only {
            Done::ok_code(Code::ReadOnly, reply::SELECTED_RO)
        } else {
            Done::ok_code(Code::ReadWrite, reply::SELECTED_RW)
        }
    }

    pub(super) async fn create(
        &mut self,
        official: &Official,
        mailbox: WireMailbox<'static>,
    ) -> Done {
        let Some(name) = folder_name(&mailbox) else {
            return Done::no(Some(reply::code("CANNOT")), reply::BAD_MAILBOX_NAME);
        };
        match self.service.mailstore.create_folder(official, &name).await {
            Ok(()) => Done::ok(reply::DONE),
            Err(error) => Done::refused(&error),
        }
    }

    pub(super) async fn delete(
        &mut self,
        official: &Official,
        mailbox: WireMailbox<'static>,
    ) -> Done {
        let Some(name) = folder_name(&mailbox) else {
            return Done::no(Some(reply::code("NONEXISTENT")), reply::NO_SUCH_MAILBOX);
        };
        match self.service.mailstore.delete_folder(official, &name).await {
            Ok(()) => Done::ok(reply::DONE),
            Err(error) => Done::refused(&error),
        }
    }

    pub(super) async fn rename(
        &mut self,
        official: &Official,
        from: WireMailbox<'static>,
        to: WireMailbox<'static>,
    ) -> Done {
        let (Some(from), Some(to)) = (folder_name(&from), folder_name(&to)) else {
            return Done::no(Some(reply::code("CANNOT")), reply::BAD_MAILBOX_NAME);
        };
        match self
            .service
            .mailstore
            .rename_folder(official, &from, &to)
            .await
        {
            Ok(()) => Done::ok(reply::DONE),
            Err(error) => Done::refused(&error),
        }
    }

    pub(super) async fn subscribe(
        &mut self,
        official: &Official,
        mailbox: WireMailbox<'static>,
        on: bool,
    ) -> Done {
        let Some(name) = folder_name(&mailbox) else {
            return Done::no(Some(reply::code("NONEXISTENT")), reply::NO_SUCH_MAILBOX);
        };
        match self.service.mailstore.subscribe(official, &name, on).await {
            Ok(()) => Done::ok(reply::DONE),
            Err(error) => Done::refused(&error),
        }
    }

    /// LSUB (RFC 3501 §6.3.9): the subscribed names LIST would give.
    pub(super) async fn lsub(
        &mut self,
        official: &Official,
        reference: WireMailbox<'static>,
        pattern: ListMailbox<'static>,
    ) -> Done {
        let options = ListOptions {
            subscribed_only: true,
            ..ListOptions::default()
        };
        self.list_matching(official, reference, pattern, options, true)
            .await
    }

    /// LIST (RFC 3501 §6.3.8, with RFC 5258 options as RFC 6154 uses them).
    pub(super) async fn list(
        &mut self,
        official: &Official,
        reference: WireMailbox<'static>,
        pattern: ListMailbox<'static>,
        options: ListOptions,
    ) -> Done {
        self.list_matching(official, reference, pattern, options, false)
            .await
    }

    /// Names matching `reference` + `pattern`, with `*` matching anything and `%` anything
    /// but the separator.
    async fn list_matching(
        &mut self,
        official: &Official,
        reference: WireMailbox<'static>,
        pattern: ListMailbox<'static>,
        options: ListOptions,
        as_lsub: bool,
    ) -> Done {
        let pattern = match &pattern {
            ListMailbox::Token(token) => String::from_utf8_lossy(token.as_ref()).into_owned(),
            ListMailbox::String(string) => String::from_utf8_lossy(string.as_ref()).into_owned(),
        };
        let reference = match &reference {
            WireMailbox::Inbox => "INBOX".to_owned(),
            WireMailbox::Other(other) => String::from_utf8_lossy(other.as_ref()).into_owned(),
        };
        let delimiter = QuotedChar::try_from(SEPARATOR).ok();
        if pattern.is_empty() {
            // The hierarchy delimiter and root (RFC 3501 §6.3.8).
            if let Ok(root) = WireMailbox::try_from("") {
                self.data(Data::List {
                    items: vec![FlagNameAttribute::Noselect],
                    delimiter,
                    mailbox: root,
                });
            }
            return Done::ok(reply::DONE);
        }
        let Some(full) = utf7::decode(&format!("{reference}{pattern}")) else {
            return Done::ok(reply::DONE);
        };
        let mailboxes = match self.service.mailstore.mailboxes(official.id).await {
            Ok(mailboxes) => mailboxes,
            Err(error) => return Done::refused(&error),
        };
        for mailbox in &mailboxes {
            if options.subscribed_only && !mailbox.subscribed
                || options.special_use_only && special_use(mailbox).is_none()
            {
                continue;
            }
            let shown = shown_name(mailbox);
            if !wildcard_match(&full, &shown) {
                continue;
            }
            let mut items = attributes(mailbox, &mailboxes);
            if options.return_subscribed && mailbox.subscribed {
                items.push(attribute("Subscribed"));
            }
            let entry = if as_lsub {
                Data::Lsub {
                    items,
                    delimiter,
                    mailbox: wire_name(mailbox),
                }
            } else {
                Data::List {
                    items,
                    delimiter,
                    mailbox: wire_name(mailbox),
                }
            };
            self.data(entry);
        }
        Done::ok(reply::DONE)
    }

    pub(super) async fn status_of(
        &mut self,
        official: &Official,
        mailbox: WireMailbox<'static>,
        wanted: &[StatusDataItemName],
    ) -> Done {
        let Some(name) = folder_name(&mailbox) else {
            return Done::no(Some(reply::code("NONEXISTENT")), reply::NO_SUCH_MAILBOX);
        };
        let mailstore = &self.service.mailstore;
        let found = match mailstore.mailbox_named(official, &name).await {
            Ok(Some(found)) => found,
            Ok(None) => return Done::refused(&MailstoreError::NoSuchMailbox),
            Err(error) => return Done::refused(&error),
        };
        let counts = match mailstore.counts(found.id).await {
            Ok(counts) => counts,
            Err(error) => return Done::refused(&error),
        };
        let items: Vec<StatusDataItem> = wanted
            .iter()
            .filter_map(|name| match name {
                StatusDataItemName::Messages => {
                    Some(StatusDataItem::Messages(counts.messages as u32))
                }
                StatusDataItemName::Recent => Some(StatusDataItem::Recent(0)),
                StatusDataItemName::Unseen => Some(StatusDataItem::Unseen(counts.unseen as u32)),
                StatusDataItemName::UidNext => {
                    NonZeroU32::new(found.uidnext.0).map(StatusDataItem::UidNext)
                }
                StatusDataItemName::UidValidity => {
                    NonZeroU32::new(found.uidvalidity).map(StatusDataItem::UidValidity)
                }
                StatusDataItemName::HighestModSeq => {
                    Some(StatusDataItem::HighestModSeq(found.highestmodseq))
                }
                _ => None,
            })
            .collect();
        self.data(Data::Status {
            mailbox: wire_name(&found),
            items: items.into(),
        });
        Done::ok(reply::DONE)
    }

    /// APPEND: durable before OK; answers APPENDUID (RFC 4315).
    pub(super) async fn append(
        &mut self,
        official: &Official,
        mailbox: WireMailbox<'static>,
        flag_list: Vec<Flag<'static>>,
        date: Option<DateTime>,
        message: LiteralOrLiteral8<'static>,
    ) -> Done {
        let Some(name) = folder_name(&mailbox) else {
            return Done::no(Some(Code::TryCreate), reply::NO_SUCH_MAILBOX);
        };
        let bytes: &[u8] = match &message {
            LiteralOrLiteral8::Literal(literal) => literal.as_ref(),
            LiteralOrLiteral8::Literal8(literal) => literal.data.as_ref(),
        };
        let mailstore = &self.service.mailstore;
        let target = match mailstore.mailbox_named(official, &name).await {
            Ok(Some(target)) => target,
            Ok(None) => return Done::no(Some(Code::TryCreate), reply::NO_SUCH_MAILBOX),
            Err(error) => return Done::refused(&error),
        };
        let (bits, keywords) = flags::split(&flag_list);
        let internal_date = date.map(|d| UnixTime(d.as_ref().timestamp()));
        match mailstore
            .append(official, target.id, bytes, bits, &keywords, internal_date)
            .await
        {
            Ok((validity, uid)) => match (NonZeroU32::new(validity), NonZeroU32::new(uid.0)) {
                (Some(uid_validity), Some(uid)) => {
                    Done::ok_code(Code::AppendUid { uid_validity, uid }, reply::DONE)
                }
                _ => Done::ok(reply::DONE),
            },
            Err(error) => Done::refused(&error),
        }
    }

    /// GETQUOTA "" (RFC 9208): the official's storage use and limit, in KiB.
    pub(super) async fn get_quota(&mut self, official: &Official, root: AString<'static>) -> Done {
        if root.as_ref() != QUOTA_ROOT.as_bytes() {
            return Done::no(None, reply::NO_SUCH_QUOTA_ROOT);
        }
        self.send_quota(official).await
    }

    /// GETQUOTAROOT: every mailbox is under the one root "".
    pub(super) async fn get_quota_root(
        &mut self,
        official: &Official,
        mailbox: WireMailbox<'static>,
    ) -> Done {
        let Some(name) = folder_name(&mailbox) else {
            return Done::no(Some(reply::code("NONEXISTENT")), reply::NO_SUCH_MAILBOX);
        };
        match self.service.mailstore.mailbox_named(official, &name).await {
            Ok(Some(_)) => {}
            Ok(None) => return Done::refused(&MailstoreError::NoSuchMailbox),
            Err(error) => return Done::refused(&error),
        }
        let roots = if official.quota_bytes > 0 {
            AString::try_from(QUOTA_ROOT).ok().into_iter().collect()
        } else {
            Vec::new()
        };
        self.data(Data::QuotaRoot { mailbox, roots });
        if official.quota_bytes > 0 {
            return self.send_quota(official).await;
        }
        Done::ok(reply::DONE)
    }

    async fn send_quota(&mut self, official: &Official) -> Done {
        if official.quota_bytes <= 0 {
            return Done::no(None, reply::NO_SUCH_QUOTA_ROOT);
        }
        let used = match self.service.mailstore.usage(official.id).await {
            Ok(used) => used,
            Err(error) => return Done::refused(&error),
        };
        let (Ok(root), Some(storage)) = (AString::try_from(QUOTA_ROOT), Some(Resource::Storage))
        else {
            return Done::ok(reply::DONE);
        };
        let usage = QuotaGet::new(
            storage,
            used.max(0) as u64 / 1024,
            official.quota_bytes as u64 / 1024,
        );
        self.data(Data::Quota {
            root,
            quotas: imap_codec::imap_types::core::Vec1::from(usage),
        });
        Done::ok(reply::DONE)
    }
}

/// The Unicode folder name a client named; `None` if it is not valid modified UTF-7.
pub(crate) fn folder_name(mailbox: &WireMailbox<'_>) -> Option<String> {
    match mailbox {
        WireMailbox::Inbox => Some("INBOX".to_owned()),
        WireMailbox::Other(other) => {
            let raw = std::str::from_utf8(other.as_ref()).ok()?;
            // Some older clients send UTF-8 as-is; take it rather than refuse the folder.
            utf7::decode(raw).or_else(|| (!raw.is_ascii()).then(|| raw.to_owned()))
        }
    }
}

/// How a mailbox is named to clients: the inbox is always `INBOX`.
fn shown_name(mailbox: &Mailbox) -> String {
    if mailbox.role == Some(MailboxRole::Inbox) {
        "INBOX".to_owned()
    } else {
        mailbox.name.clone()
    }
}

/// A mailbox's name on the wire.
pub(super) fn wire_name(mailbox: &Mailbox) -> WireMailbox<'static> {
    if mailbox.role == Some(MailboxRole::Inbox) {
        return WireMailbox::Inbox;
    }
    WireMailbox::try_from(utf7::encode(&mailbox.name).into_bytes()).unwrap_or(WireMailbox::Inbox)
}

/// LIST attributes: children and the special use (RFC 6154).
fn attributes(mailbox: &Mailbox, all: &[Mailbox]) -> Vec<FlagNameAttribute<'static>> {
    let prefix = format!("{}{SEPARATOR}", mailbox.name);
    let has_children = all.iter().any(|m| m.name.starts_with(&prefix));
    let mut items = vec![attribute(if has_children {
        "HasChildren"
    } else {
        "HasNoChildren"
    })];
    items.extend(special_use(mailbox).map(attribute));
    items
}

/// A mailbox's special-use attribute (RFC 6154), without the backslash.
fn special_use(mailbox: &Mailbox) -> Option<&'static str> {
    match mailbox.role {
        Some(MailboxRole::Sent) => Some("Sent"),
        Some(MailboxRole::Drafts) => Some("Drafts"),
        Some(MailboxRole::Trash) => Some("Trash"),
        Some(MailboxRole::Junk) => Some("Junk"),
        Some(MailboxRole::Archive) => Some("Archive"),
        Some(MailboxRole::Inbox) | None => None,
    }
}

fn attribute(name: &'static str) -> FlagNameAttribute<'static> {
    FlagNameAttribute::from(Atom::unvalidated(name))
}

/// RFC 3501 §6.3.8 wildcards: `*` matches any run of characters, `%` any run without the
/// hierarchy separator. `INBOX` at the start of the pattern matches case-insensitively.
pub(super) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = if pattern.len() >= 5 && pattern[..5].eq_ignore_ascii_case("INBOX") {
        "INBOX".chars().chain(pattern[5..].chars()).collect()
    } else {
        pattern.chars().collect()
    };
    let name: Vec<char> = name.chars().collect();
    matches_from(&pattern, &name)
}

fn matches_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| matches_from(rest, &name[i..])),
        Some(('%', rest)) => {
            let limit = name
                .iter()
                .position(|&c| c == SEPARATOR)
                .unwrap_or(name.len());
            (0..=limit).any(|i| matches_from(rest, &name[i..]))
        }
        Some((c, rest)) => name.first() == Some(c) && matches_from(rest, &name[1..]),
    }
}
