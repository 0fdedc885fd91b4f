use super::*;
use crate::clock::Clock;
use crate::directory::{
    Actor, AgencyLevel, Directory, NewAgency, NewDomain, NewOfficial, PersonName,
};
use crate::store::{Store, StoreOptions};

/// 2019-03-04 09:30 UTC: an old internal date, as migrated mail has.
const OLD_DATE: UnixTime = UnixTime(1_551_691_800);

const HOST: &str = "old.vinhphuc.gov.vn";

struct Fixture {
    mailstore: Mailstore,
    official: Official,
    _dir: tempfile::TempDir,
}

/// A fresh SQLite store with one official (quota 1 KiB) and their default folders.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions::sqlite_in(dir.path()))
        .await
        .unwrap();
    let directory = Directory::new(store.clone(), Clock::system());
    let admin = Actor::admin("test");
    let mut domain = NewDomain::new("vinhphuc.gov.vn");
    domain.is_primary = true;
    directory.add_domain(&admin, domain).await.unwrap();
    let province = NewAgency {
        code: "vinhphuc".into(),
        name: "UBND tỉnh Vĩnh Phúc".into(),
        level: AgencyLevel::Province,
        parent_code: None,
        domain: None,
        mail_address: None,
    };
    directory.add_agency(&admin, province).await.unwrap();
    let official = NewOfficial {
        login: "annv".into(),
        name: PersonName::from_full("Nguyễn Văn An").unwrap(),
        display_name: None,
        primary_address: "annv@vinhphuc.gov.vn".into(),
        agency_code: "vinhphuc".into(),
        unit: None,
        title: None,
        phone: None,
        hr_id: None,
        quota_bytes: Some(1024),
        password: None,
    };
    let official = directory.add_official(&admin, official).await.unwrap();
    Fixture {
        mailstore: Mailstore::new(store, Clock::system()),
        official,
        _dir: dir,
    }
}

fn letter(subject: &str, filler: usize) -> Vec<u8> {
    format!(
        "Message-ID: <{subject}@old.vinhphuc.gov.vn>\r\nFrom: a@b.vn\r\nSubject: {subject}\r\n\r\n{}\r\n",
        "x".repeat(filler)
    )
    .into_bytes()
}

fn message<'a>(
    bytes: &'a [u8],
    keywords: &'a [String],
    origin: Option<Origin>,
) -> ImportMessage<'a> {
    ImportMessage {
        bytes,
        internal_date: OLD_DATE,
        flags: MessageFlags::SEEN.with(MessageFlags::FLAGGED),
        keywords,
        origin,
    }
}

fn source(folder: &str) -> SourceFolder<'_> {
    SourceFolder {
        host: HOST,
        user: "an",
        folder,
    }
}

fn added(outcome: &Result<Imported, MailstoreError>) -> CopiedMessage {
    match outcome {
        Ok(Imported::Added(copy)) => *copy,
        other => panic!("expected a new message, got {other:?}"),
    }
}

fn already(outcome: &Result<Imported, MailstoreError>) -> CopiedMessage {
    match outcome {
        Ok(Imported::AlreadyThere(copy)) => *copy,
        other => panic!("expected a message already there, got {other:?}"),
    }
}

async fn inbox(f: &Fixture) -> Mailbox {
    f.mailstore
        .import_folder(&f.official, "INBOX", Some(MailboxRole::Inbox))
        .await
        .unwrap()
        .mailbox
}

#[tokio::test]
async fn messages_arrive_with_date_flags_keywords_past_quota_and_once() {
    let f = fixture().await;
    let inbox = inbox(&f).await;
    let state = f
        .mailstore
        .begin_source_folder(f.official.id, &source("INBOX"), 7)
        .await
        .unwrap();
    assert!(state.copied.is_empty());
    let folder = state.id.unwrap();
    let big = letter("big", 4096);
    let keywords = vec![
        "$Forwarded".to_string(),
        "$label1".into(),
        "$LABEL1".into(),
        "bad word".into(),
    ];
    let batch = [
        message(&big, &keywords, Some(Origin { folder, uid: 10 })),
        message(&big, &keywords, Some(Origin { folder, uid: 11 })),
    ];
    let outcomes = f.mailstore.import(inbox.id, &batch).await.unwrap();
    let first = added(&outcomes[0]);
    // Identical bytes under two source UIDs stay two messages.
    let second = added(&outcomes[1]);
    assert_ne!(first.uid, second.uid);
    let stored = f.mailstore.messages(inbox.id).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].internal_date, OLD_DATE);
    assert_eq!(
        stored[0].flags,
        MessageFlags::SEEN.with(MessageFlags::FLAGGED)
    );
    assert_eq!(stored[0].keywords, vec!["$Forwarded", "$label1"]);
    // One body, shared by both copies.
    assert_eq!(stored[0].body_id, stored[1].body_id);
    assert_eq!(
        f.mailstore.body(stored[0].body_id).await.unwrap().unwrap(),
        big
    );
    // Past the 1 KiB quota: imported anyway, and the usage shows it.
    assert_eq!(
        f.mailstore.usage(f.official.id).await.unwrap(),
        2 * big.len() as i64
    );

    // A re-run finds both recorded and imports them again as "already there".
    let state = f
        .mailstore
        .begin_source_folder(f.official.id, &source("INBOX"), 7)
        .await
        .unwrap();
    assert_eq!(state.copied.get(&10), Some(&first));
    assert_eq!(state.copied.get(&11), Some(&second));
    assert!(!state.uidvalidity_changed);
    let again = f.mailstore.import(inbox.id, &batch).await.unwrap();
    assert_eq!(already(&again[0]), first);
    assert_eq!(already(&again[1]), second);
    assert_eq!(f.mailstore.messages(inbox.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_changed_uidvalidity_matches_by_body_without_duplicating() {
    let f = fixture().await;
    let inbox = inbox(&f).await;
    let folder = f
        .mailstore
        .begin_source_folder(f.official.id, &source("INBOX"), 7)
        .await
        .unwrap()
        .id
        .unwrap();
    let (a, b) = (letter("a", 10), letter("b", 10));
    let none: Vec<String> = Vec::new();
    let first = f
        .mailstore
        .import(
            inbox.id,
            &[
                message(&a, &none, Some(Origin { folder, uid: 1 })),
                message(&b, &none, Some(Origin { folder, uid: 2 })),
            ],
        )
        .await
        .unwrap();
    let (copy_a, copy_b) = (added(&first[0]), added(&first[1]));

    // The old server rebuilt its index: new UIDVALIDITY, new UIDs, same messages, one new,
    // and `a` now unread.
    let state = f
        .mailstore
        .begin_source_folder(f.official.id, &source("INBOX"), 8)
        .await
        .unwrap();
    assert!(state.uidvalidity_changed);
    assert!(state.copied.is_empty());
    let c = letter("c", 10);
    let mut unread = message(&a, &none, Some(Origin { folder, uid: 101 }));
    unread.flags = MessageFlags::default();
    let outcomes = f
        .mailstore
        .import(
            inbox.id,
            &[
                unread,
                message(&b, &none, Some(Origin { folder, uid: 102 })),
                message(&c, &none, Some(Origin { folder, uid: 103 })),
            ],
        )
        .await
        .unwrap();
    assert_eq!(already(&outcomes[0]), copy_a);
    assert_eq!(already(&outcomes[1]), copy_b);
    added(&outcomes[2]);
    let stored = f.mailstore.messages(inbox.id).await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored[0].flags,
        MessageFlags::default(),
        "flags follow the source"
    );
    // The matches are recorded under the new UIDs.
    let state = f
        .mailstore
        .begin_source_folder(f.official.id, &source("INBOX"), 8)
        .await
        .unwrap();
    let mut recorded: Vec<u32> = state.copied.keys().copied().collect();
    recorded.sort_unstable();
    assert_eq!(recorded, vec![101, 102, 103]);
}

#[tokio::test]
async fn flags_are_refreshed_keeping_congvus_deleted_and_skipping_gone_messages() {
    let f = fixture().await;
    let inbox = inbox(&f).await;
    let folder = f
        .mailstore
        .begin_source_folder(f.official.id, &source("INBOX"), 7)
        .await
        .unwrap()
        .id
        .unwrap();
    let (a, b) = (letter("a", 10), letter("b", 10));
    let none: Vec<String> = Vec::new();
    let outcomes = f
        .mailstore
        .import(
            inbox.id,
            &[
                message(&a, &none, Some(Origin { folder, uid: 1 })),
                message(&b, &none, Some(Origin { folder, uid: 2 })),
            ],
        )
        .await
        .unwrap();
    let (copy_a, copy_b) = (added(&outcomes[0]), added(&outcomes[1]));
    // The official marked `a` for deletion in congvu and expunged `b`.
    f.mailstore
        .change_flags(
            inbox.id,
            &[copy_a.uid],
            &super::super::FlagUpdate {
                change: super::super::FlagChange::Add,
                flags: MessageFlags::DELETED,
                keywords: &[],
                unchanged_since: None,
            },
        )
        .await
        .unwrap();
    f.mailstore.expunge(inbox.id, &[copy_b.uid]).await.unwrap();
    let unchanged = FlagRefresh {
        message: copy_a,
        flags: MessageFlags::SEEN.with(MessageFlags::FLAGGED),
        keywords: vec![],
    };
    assert_eq!(f.mailstore.refresh_flags(&[unchanged]).await.unwrap(), 0);
    let answered = FlagRefresh {
        message: copy_a,
        flags: MessageFlags::SEEN.with(MessageFlags::ANSWERED),
        keywords: vec!["$Forwarded".into()],
    };
    let gone = FlagRefresh {
        message: copy_b,
        flags: MessageFlags::SEEN,
        keywords: vec![],
    };
    assert_eq!(
        f.mailstore.refresh_flags(&[answered, gone]).await.unwrap(),
        1
    );
    let stored = f.mailstore.messages(inbox.id).await.unwrap();
    assert_eq!(stored.len(), 1, "an expunged message is not brought back");
    assert_eq!(
        stored[0].flags,
        MessageFlags::SEEN
            .with(MessageFlags::ANSWERED)
            .with(MessageFlags::DELETED)
    );
    assert_eq!(stored[0].keywords, vec!["$Forwarded"]);
    // Re-importing the expunged one from the same source UID does not bring it back either.
    let again = f
        .mailstore
        .import(
            inbox.id,
            &[message(&b, &none, Some(Origin { folder, uid: 2 }))],
        )
        .await
        .unwrap();
    assert_eq!(already(&again[0]), copy_b);
    assert_eq!(f.mailstore.messages(inbox.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn archives_without_origin_are_matched_by_their_bytes() {
    let f = fixture().await;
    let inbox = inbox(&f).await;
    let a = letter("a", 10);
    let none: Vec<String> = Vec::new();
    let first = f
        .mailstore
        .import(inbox.id, &[message(&a, &none, None)])
        .await
        .unwrap();
    let copy = added(&first[0]);
    let again = f
        .mailstore
        .import(inbox.id, &[message(&a, &none, None)])
        .await
        .unwrap();
    assert_eq!(already(&again[0]), copy);
    assert_eq!(f.mailstore.messages(inbox.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn import_folders_are_found_by_role_then_name_and_made_with_parents() {
    let f = fixture().await;
    let sent = f
        .mailstore
        .import_folder(&f.official, "Thư đã gửi", Some(MailboxRole::Sent))
        .await
        .unwrap();
    assert_eq!(sent.mailbox.name, "Sent");
    assert!(!sent.created);
    // No Archive folder by default: made, and given the role.
    let archive = f
        .mailstore
        .import_folder(&f.official, "Archive", Some(MailboxRole::Archive))
        .await
        .unwrap();
    assert!(archive.created);
    assert_eq!(archive.mailbox.role, Some(MailboxRole::Archive));
    // NFD and NFC spellings are one folder; parents are made too.
    let nfd = "Co\u{302}ng va\u{306}n đe\u{302}\u{301}n/2023";
    let made = f
        .mailstore
        .import_folder(&f.official, nfd, None)
        .await
        .unwrap();
    assert!(made.created);
    assert_eq!(made.mailbox.name, "Công văn đến/2023");
    let nfc = f
        .mailstore
        .import_folder(&f.official, "Công văn đến/2023", None)
        .await
        .unwrap();
    assert!(!nfc.created);
    assert_eq!(nfc.mailbox.id, made.mailbox.id);
    let names: Vec<String> = f
        .mailstore
        .mailboxes(f.official.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(names.contains(&"Công văn đến".to_string()), "{names:?}");
}

#[tokio::test]
async fn a_dry_run_reads_the_state_without_recording_anything() {
    let f = fixture().await;
    let state = f
        .mailstore
        .source_folder_state(f.official.id, &source("INBOX"), 7)
        .await
        .unwrap();
    assert_eq!(state, SourceFolderState::default());
    let again = f
        .mailstore
        .source_folder_state(f.official.id, &source("INBOX"), 7)
        .await
        .unwrap();
    assert_eq!(again.id, None, "nothing was recorded");
}

#[test]
fn keywords_are_stored_as_atoms_once() {
    let given: Vec<String> = ["$Label1", "$label1", "", "a b", "ok", "(x", "Nonjunk"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(stored_keywords(&given), vec!["$Label1", "ok", "Nonjunk"]);
    assert_eq!(
        merged_flags(MessageFlags::DELETED, MessageFlags::SEEN),
        MessageFlags::SEEN.with(MessageFlags::DELETED)
    );
    assert_eq!(
        merged_flags(MessageFlags::SEEN, MessageFlags::DELETED),
        MessageFlags::default()
    );
}

#[tokio::test]
async fn the_same_source_under_another_name_duplicates_nothing() {
    let f = fixture().await;
    let inbox = inbox(&f).await;
    let by_name = f
        .mailstore
        .begin_source_folder(f.official.id, &source("INBOX"), 7)
        .await
        .unwrap()
        .id
        .unwrap();
    let a = letter("a", 10);
    let none: Vec<String> = Vec::new();
    let twice = [
        message(
            &a,
            &none,
            Some(Origin {
                folder: by_name,
                uid: 1,
            }),
        ),
        message(
            &a,
            &none,
            Some(Origin {
                folder: by_name,
                uid: 2,
            }),
        ),
    ];
    let first = f.mailstore.import(inbox.id, &twice).await.unwrap();
    let (one, two) = (added(&first[0]), added(&first[1]));
    // The delta pass names the old server by its address instead of its host name.
    let by_address = SourceFolder {
        host: "10.0.0.5",
        ..source("INBOX")
    };
    let other = f
        .mailstore
        .begin_source_folder(f.official.id, &by_address, 7)
        .await
        .unwrap();
    assert!(other.copied.is_empty());
    let folder = other.id.unwrap();
    assert_ne!(folder, by_name);
    let again = [
        message(&a, &none, Some(Origin { folder, uid: 1 })),
        message(&a, &none, Some(Origin { folder, uid: 2 })),
    ];
    let outcomes = f.mailstore.import(inbox.id, &again).await.unwrap();
    // Each of the two identical messages is matched to one of the two copies.
    assert_eq!(already(&outcomes[0]), one);
    assert_eq!(already(&outcomes[1]), two);
    assert_eq!(f.mailstore.messages(inbox.id).await.unwrap().len(), 2);
}
