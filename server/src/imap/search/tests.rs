use std::collections::HashSet;

use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::IntoStatic;
use imap_codec::CommandCodec;

use super::*;
use crate::clock::Clock;
use crate::mailstore::{BodyHash, BodyId, MailboxId};
use crate::store::{Store, StoreOptions};

/// 2025-03-04 00:00:00 +07:00, as a Unix time.
const MARCH_4_VIETNAM: i64 = 1_741_021_200;

fn message(uid: u32, flags: MessageFlags, internal_date: i64, size: u64) -> MailboxMessage {
    MailboxMessage {
        mailbox_id: MailboxId(1),
        uid: Uid(uid),
        body_id: BodyId(i64::from(uid)),
        flags,
        keywords: Vec::new(),
        internal_date: UnixTime(internal_date),
        size,
        modseq: 1,
    }
}

/// Messages with UIDs 3, 7, 8, 20, 21 (sequence numbers 1..=5).
fn mailbox() -> Vec<MailboxMessage> {
    [3, 7, 8, 20, 21]
        .into_iter()
        .map(|uid| message(uid, MessageFlags::default(), MARCH_4_VIETNAM, 1000))
        .collect()
}

fn set(text: &str) -> SequenceSet {
    text.parse().unwrap()
}

/// `text` with each quoted string that holds non-ASCII sent as a non-synchronising
/// literal, as clients must (RFC 3501 quoted strings are 7-bit).
fn with_literals(text: &str) -> String {
    let mut out = String::new();
    for (i, piece) in text.split('"').enumerate() {
        if i % 2 == 0 {
            out.push_str(piece);
        } else if piece.is_ascii() {
            out.push_str(&format!("\"{piece}\""));
        } else {
            out.push_str(&format!("{{{}+}}\r\n{piece}", piece.len()));
        }
    }
    out
}

/// The criteria of `SEARCH <keys>` as a client would send them.
fn keys(text: &str) -> Vec<SearchKey<'static>> {
    let line = format!("A1 SEARCH CHARSET UTF-8 {}\r\n", with_literals(text));
    let (_, command) = CommandCodec::default().decode(line.as_bytes()).unwrap();
    match command.body {
        CommandBody::Search { criteria, .. } => criteria
            .into_inner()
            .into_iter()
            .map(IntoStatic::into_static)
            .collect(),
        other => panic!("not a search: {other:?}"),
    }
}

#[test]
fn resolves_sequence_numbers() {
    let messages = mailbox();
    assert_eq!(resolve(&set("1"), &messages, false), vec![0]);
    assert_eq!(resolve(&set("2:4"), &messages, false), vec![1, 2, 3]);
    assert_eq!(resolve(&set("4:2"), &messages, false), vec![1, 2, 3]);
    assert_eq!(resolve(&set("*"), &messages, false), vec![4]);
    assert_eq!(resolve(&set("3:*"), &messages, false), vec![2, 3, 4]);
    assert_eq!(resolve(&set("1:*"), &messages, false), vec![0, 1, 2, 3, 4]);
    assert_eq!(resolve(&set("5,1,3,1"), &messages, false), vec![0, 2, 4]);
    assert_eq!(
        resolve(&set("2:3,3:4,1"), &messages, false),
        vec![0, 1, 2, 3]
    );
}

#[test]
fn sequence_numbers_past_the_end_are_ignored() {
    let messages = mailbox();
    assert_eq!(resolve(&set("6"), &messages, false), Vec::<usize>::new());
    assert_eq!(resolve(&set("4:9"), &messages, false), vec![3, 4]);
    assert_eq!(resolve(&set("9:*"), &messages, false), vec![4]);
}

#[test]
fn resolves_uids() {
    let messages = mailbox();
    assert_eq!(resolve(&set("7"), &messages, true), vec![1]);
    assert_eq!(resolve(&set("4:20"), &messages, true), vec![1, 2, 3]);
    assert_eq!(resolve(&set("20:4"), &messages, true), vec![1, 2, 3]);
    assert_eq!(resolve(&set("*"), &messages, true), vec![4]);
    assert_eq!(resolve(&set("8:*"), &messages, true), vec![2, 3, 4]);
    assert_eq!(
        resolve(&set("1,2,4:6,9:19,22"), &messages, true),
        Vec::<usize>::new()
    );
    assert_eq!(resolve(&set("21,3"), &messages, true), vec![0, 4]);
}

#[test]
fn uid_range_to_star_includes_the_last_message_beyond_every_uid() {
    // RFC 3501 §6.4.8: 559:* includes the last message even when 559 > its UID.
    let messages = mailbox();
    assert_eq!(resolve(&set("559:*"), &messages, true), vec![4]);
    assert_eq!(resolve(&set("559"), &messages, true), Vec::<usize>::new());
}

#[test]
fn nothing_resolves_in_an_empty_mailbox() {
    assert!(resolve(&set("1:*"), &[], false).is_empty());
    assert!(resolve(&set("*"), &[], true).is_empty());
}

#[test]
fn depth_counts_not_or_and_lists() {
    assert_eq!(depth(&keys("ALL")), 0);
    assert_eq!(depth(&keys("SEEN FLAGGED 1:3")), 0);
    assert_eq!(depth(&keys("NOT SEEN")), 1);
    assert_eq!(depth(&keys("OR SEEN FLAGGED")), 1);
    assert_eq!(depth(&keys("(SEEN FLAGGED)")), 1);
    assert_eq!(depth(&keys("OR (SEEN FLAGGED) DRAFT")), 2);
    assert_eq!(
        depth(&keys("SEEN NOT (OR NOT DRAFT (NOT FLAGGED) ANSWERED)")),
        5
    );
}

/// `NOT NOT … SEEN`, `levels` deep.
fn nested(levels: usize) -> Vec<SearchKey<'static>> {
    let mut key = SearchKey::Seen;
    for _ in 0..levels {
        key = SearchKey::Not(Box::new(key));
    }
    vec![key]
}

#[test]
fn depth_of_deep_nesting_is_measured() {
    assert_eq!(depth(&nested(MAX_SEARCH_DEPTH)), MAX_SEARCH_DEPTH);
    assert_eq!(depth(&nested(1_000)), 1_000);
}

/// A mail store over a fresh SQLite database in `dir`.
async fn mailstore(dir: &tempfile::TempDir) -> (Mailstore, Store) {
    let store = Store::open(&StoreOptions::sqlite_in(dir.path()))
        .await
        .unwrap();
    (Mailstore::new(store.clone(), Clock::system()), store)
}

/// Runs `SEARCH <criteria>` over `messages` and returns the matching sequence numbers.
async fn found(
    mailstore: &Mailstore,
    messages: &[MailboxMessage],
    recent: &HashSet<Uid>,
    criteria: &str,
) -> Vec<usize> {
    let scope = SearchScope { messages, recent };
    search(mailstore, &scope, &keys(criteria))
        .await
        .unwrap()
        .into_iter()
        .map(|index| index + 1)
        .collect()
}

#[tokio::test]
async fn depth_limit_is_enforced_before_evaluating() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, _) = mailstore(&dir).await;
    let messages = mailbox();
    let recent = HashSet::new();
    let scope = SearchScope {
        messages: &messages,
        recent: &recent,
    };
    let at_limit = search(&mailstore, &scope, &nested(MAX_SEARCH_DEPTH)).await;
    // An even number of NOTs around SEEN: the unseen messages do not match.
    assert_eq!(at_limit.unwrap(), Vec::<usize>::new());
    let over = search(&mailstore, &scope, &nested(MAX_SEARCH_DEPTH + 1)).await;
    assert!(matches!(over, Err(SearchError::TooDeep)), "{over:?}");
    let far_over = search(&mailstore, &scope, &nested(1_000)).await;
    assert!(matches!(far_over, Err(SearchError::TooDeep)));
}

#[tokio::test]
async fn flag_keys_select_by_system_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, _) = mailstore(&dir).await;
    let flags = [
        MessageFlags::SEEN,
        MessageFlags::SEEN.with(MessageFlags::ANSWERED),
        MessageFlags::FLAGGED,
        MessageFlags::DELETED.with(MessageFlags::SEEN),
        MessageFlags::DRAFT,
    ];
    let messages: Vec<MailboxMessage> = flags
        .iter()
        .enumerate()
        .map(|(i, f)| message(i as u32 + 1, *f, MARCH_4_VIETNAM, 100))
        .collect();
    let none = HashSet::new();
    let search = |criteria: &'static str| found(&mailstore, &messages, &none, criteria);
    assert_eq!(search("ALL").await, vec![1, 2, 3, 4, 5]);
    assert_eq!(search("SEEN").await, vec![1, 2, 4]);
    assert_eq!(search("UNSEEN").await, vec![3, 5]);
    assert_eq!(search("ANSWERED").await, vec![2]);
    assert_eq!(search("UNANSWERED").await, vec![1, 3, 4, 5]);
    assert_eq!(search("FLAGGED").await, vec![3]);
    assert_eq!(search("UNFLAGGED").await, vec![1, 2, 4, 5]);
    assert_eq!(search("DELETED").await, vec![4]);
    assert_eq!(search("UNDELETED").await, vec![1, 2, 3, 5]);
    assert_eq!(search("DRAFT").await, vec![5]);
    assert_eq!(search("UNDRAFT").await, vec![1, 2, 3, 4]);
    assert_eq!(search("SEEN UNDELETED").await, vec![1, 2]);
    assert_eq!(search("OR FLAGGED DRAFT").await, vec![3, 5]);
    assert_eq!(search("NOT SEEN").await, vec![3, 5]);
    assert_eq!(search("(SEEN NOT ANSWERED) UNDELETED").await, vec![1]);
}

#[tokio::test]
async fn keywords_match_without_regard_to_case() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, _) = mailstore(&dir).await;
    let mut messages = mailbox();
    messages[0].keywords = vec!["$Forwarded".into()];
    messages[2].keywords = vec!["$Label1".into(), "$forwarded".into()];
    let none = HashSet::new();
    let search = |criteria: &'static str| found(&mailstore, &messages, &none, criteria);
    assert_eq!(search("KEYWORD $Forwarded").await, vec![1, 3]);
    assert_eq!(search("KEYWORD $LABEL1").await, vec![3]);
    assert_eq!(search("UNKEYWORD $Forwarded").await, vec![2, 4, 5]);
    assert_eq!(search("KEYWORD $Junk").await, Vec::<usize>::new());
}

#[tokio::test]
async fn recent_new_and_old_follow_the_session_recent_set() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, _) = mailstore(&dir).await;
    let mut messages = mailbox();
    messages[3].flags = MessageFlags::SEEN;
    let recent: HashSet<Uid> = [Uid(20), Uid(21)].into_iter().collect();
    let search = |criteria: &'static str| found(&mailstore, &messages, &recent, criteria);
    assert_eq!(search("RECENT").await, vec![4, 5]);
    assert_eq!(search("NEW").await, vec![5]);
    assert_eq!(search("OLD").await, vec![1, 2, 3]);
    assert_eq!(search("NOT NEW").await, vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn size_keys_are_strict_comparisons() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, _) = mailstore(&dir).await;
    let messages: Vec<MailboxMessage> = [999, 1000, 1001]
        .into_iter()
        .enumerate()
        .map(|(i, size)| message(i as u32 + 1, MessageFlags::default(), MARCH_4_VIETNAM, size))
        .collect();
    let none = HashSet::new();
    let search = |criteria: &'static str| found(&mailstore, &messages, &none, criteria);
    assert_eq!(search("LARGER 1000").await, vec![3]);
    assert_eq!(search("LARGER 999").await, vec![2, 3]);
    assert_eq!(search("SMALLER 1000").await, vec![1]);
    assert_eq!(search("SMALLER 1001").await, vec![1, 2]);
    assert_eq!(search("LARGER 998 SMALLER 1001").await, vec![1, 2]);
}

#[tokio::test]
async fn internal_date_keys_use_the_vietnam_day() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, _) = mailstore(&dir).await;
    // 3 March 23:59:59, 4 March 00:00:00 and 23:59:59, 5 March 00:00:00, Vietnam time.
    // The second is 3 March 17:00 UTC: a UTC day would put it on the 3rd.
    let dates = [
        MARCH_4_VIETNAM - 1,
        MARCH_4_VIETNAM,
        MARCH_4_VIETNAM + 86_399,
        MARCH_4_VIETNAM + 86_400,
    ];
    let messages: Vec<MailboxMessage> = dates
        .into_iter()
        .enumerate()
        .map(|(i, at)| message(i as u32 + 1, MessageFlags::default(), at, 100))
        .collect();
    let none = HashSet::new();
    let search = |criteria: &'static str| found(&mailstore, &messages, &none, criteria);
    assert_eq!(search("ON 4-Mar-2025").await, vec![2, 3]);
    assert_eq!(search("ON 3-Mar-2025").await, vec![1]);
    assert_eq!(search("BEFORE 4-Mar-2025").await, vec![1]);
    assert_eq!(search("SINCE 4-Mar-2025").await, vec![2, 3, 4]);
    assert_eq!(search("SINCE 5-Mar-2025").await, vec![4]);
    assert_eq!(
        search("SINCE 4-Mar-2025 BEFORE 5-Mar-2025").await,
        vec![2, 3]
    );
}

#[tokio::test]
async fn set_keys_select_by_sequence_number_and_uid() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, _) = mailstore(&dir).await;
    let messages = mailbox();
    let none = HashSet::new();
    let search = |criteria: &'static str| found(&mailstore, &messages, &none, criteria);
    assert_eq!(search("2:3").await, vec![2, 3]);
    assert_eq!(search("UID 7:20").await, vec![2, 3, 4]);
    assert_eq!(search("UID 559:*").await, vec![5]);
    assert_eq!(search("1:4 UID 8:*").await, vec![3, 4]);
    assert_eq!(search("NOT 1:3").await, vec![4, 5]);
}

/// Stores `bodies` and returns one message per body, UIDs from 1.
async fn stored(store: &Store, bodies: &[&str]) -> Vec<MailboxMessage> {
    let mut tx = store.begin().await.unwrap();
    let mut messages = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let bytes = body.as_bytes();
        let id = tx
            .put_body(&BodyHash::of(bytes), bytes, None, 1, UnixTime(0))
            .await
            .unwrap();
        let mut m = message(i as u32 + 1, MessageFlags::default(), MARCH_4_VIETNAM, 100);
        m.body_id = id;
        messages.push(m);
    }
    tx.commit().await.unwrap();
    messages
}

const CONG_VAN: &str = concat!(
    "From: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <annv@vinhphuc.gov.vn>\r\n",
    "To: so-noi-vu@vinhphuc.gov.vn\r\n",
    "Cc: van-phong@vinhphuc.gov.vn\r\n",
    "Subject: =?UTF-8?Q?C=C3=B4ng_v=C4=83n_H=C3=A0_N=E1=BB=99i?=\r\n",
    "Date: Tue, 4 Mar 2025 23:30:00 -0500\r\n",
    "X-Muc-Do: khan\r\n",
    "Content-Type: text/plain; charset=utf-8\r\n",
    "\r\n",
    "Kính gửi Sở Nội vụ: kế hoạch đào tạo năm 2025.\r\n"
);

const GIAY_MOI: &str = concat!(
    "From: Tran Thi Binh <binhtt@vinhphuc.gov.vn>\r\n",
    "To: annv@vinhphuc.gov.vn\r\n",
    "Bcc: luu-tru@vinhphuc.gov.vn\r\n",
    "Subject: =?UTF-8?Q?Gi=E1=BA=A5y_m=E1=BB=9Di_h=E1=BB=8Dp_t=E1=BA=A1i_H=E1=BA=A1_Long?=\r\n",
    "Date: 6 Mar 2025 08:00:00 +0700\r\n",
    "Content-Type: text/html; charset=utf-8\r\n",
    "\r\n",
    "<p>Mời đồng chí <b>dự họp</b> tại Đà Nẵng.</p>\r\n"
);

const NO_DATE: &str = "From: x@example.vn\r\nSubject: plain\r\n\r\nnothing here\r\n";

#[tokio::test]
async fn header_and_text_keys_match_vietnamese_with_or_without_marks() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, store) = mailstore(&dir).await;
    let messages = stored(&store, &[CONG_VAN, GIAY_MOI, NO_DATE]).await;
    let none = HashSet::new();
    let search = |criteria: &'static str| found(&mailstore, &messages, &none, criteria);
    assert_eq!(search("FROM \"nguyen van an\"").await, vec![1]);
    assert_eq!(search("FROM \"Nguyễn Văn\"").await, vec![1]);
    assert_eq!(search("FROM binhtt@vinhphuc.gov.vn").await, vec![2]);
    assert_eq!(search("TO annv").await, vec![2]);
    assert_eq!(search("CC van-phong").await, vec![1]);
    assert_eq!(search("BCC luu-tru").await, vec![2]);
    assert_eq!(search("SUBJECT \"ha noi\"").await, vec![1]);
    assert_eq!(search("SUBJECT \"HÀ NỘI\"").await, vec![1]);
    assert_eq!(search("SUBJECT \"Hà\"").await, vec![1]);
    assert_eq!(search("SUBJECT \"Hạ\"").await, vec![2]);
    assert_eq!(search("SUBJECT \"ha\"").await, vec![1, 2]);
    assert_eq!(search("HEADER X-Muc-Do KHAN").await, vec![1]);
    assert_eq!(search("HEADER x-muc-do \"\"").await, vec![1]);
    assert_eq!(search("HEADER Bcc \"\"").await, vec![2]);
    assert_eq!(search("NOT HEADER Date \"\"").await, vec![3]);
    assert_eq!(search("BODY \"dao tao\"").await, vec![1]);
    assert_eq!(search("BODY \"đà nẵng\"").await, vec![2]);
    assert_eq!(search("BODY \"<b>\"").await, Vec::<usize>::new());
    assert_eq!(search("BODY \"ha noi\"").await, Vec::<usize>::new());
    assert_eq!(search("TEXT \"ha noi\"").await, vec![1]);
    assert_eq!(search("TEXT \"du hop\"").await, vec![2]);
    assert_eq!(search("TEXT nothing").await, vec![3]);
    assert_eq!(search("OR SUBJECT plain BODY \"du hop\"").await, vec![2, 3]);
    assert_eq!(search("SEEN BODY \"dao tao\"").await, Vec::<usize>::new());
}

#[tokio::test]
async fn sent_date_keys_use_the_date_header_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, store) = mailstore(&dir).await;
    let messages = stored(&store, &[CONG_VAN, GIAY_MOI, NO_DATE]).await;
    let none = HashSet::new();
    let search = |criteria: &'static str| found(&mailstore, &messages, &none, criteria);
    // CONG_VAN was written on 4 March at -05:00 (5 March in Vietnam): its own date counts.
    assert_eq!(search("SENTON 4-Mar-2025").await, vec![1, 3]);
    assert_eq!(search("SENTON 6-Mar-2025").await, vec![2]);
    assert_eq!(search("SENTBEFORE 6-Mar-2025").await, vec![1, 3]);
    assert_eq!(search("SENTSINCE 5-Mar-2025").await, vec![2]);
    assert_eq!(
        search("SENTSINCE 4-Mar-2025 SENTBEFORE 5-Mar-2025").await,
        vec![1, 3]
    );
}

#[tokio::test]
async fn a_missing_body_matches_no_text() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, _) = mailstore(&dir).await;
    let messages = mailbox();
    let none = HashSet::new();
    let search = |criteria: &'static str| found(&mailstore, &messages, &none, criteria);
    assert_eq!(search("BODY x").await, Vec::<usize>::new());
    assert_eq!(search("NOT SUBJECT x").await, vec![1, 2, 3, 4, 5]);
}

/// Texts are read and matched [`TEXTS_PER_READ`] messages at a time: matches on either side
/// of each seam are all found, in order, and a flag key beside the text key still narrows
/// them.
#[tokio::test]
async fn a_search_over_more_messages_than_one_read_finds_every_match_across_the_seams() {
    let dir = tempfile::tempdir().unwrap();
    let (mailstore, store) = mailstore(&dir).await;
    let count = TEXTS_PER_READ * 2 + 44;
    let hits = [
        0,
        TEXTS_PER_READ - 1,
        TEXTS_PER_READ,
        2 * TEXTS_PER_READ - 1,
        2 * TEXTS_PER_READ,
        count - 1,
    ];
    let bodies: Vec<String> = (0..count)
        .map(|i| {
            let word = if hits.contains(&i) {
                "Hà Nội"
            } else {
                "Hà Nam"
            };
            format!("Subject: so {i}\r\n\r\nCông văn gửi {word}, số {i}.\r\n")
        })
        .collect();
    let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
    let mut messages = stored(&store, &refs).await;
    // The last match is \Seen: `UNSEEN BODY` leaves it out.
    messages[count - 1].flags = MessageFlags::SEEN;
    let none = HashSet::new();
    let expected: Vec<usize> = hits.iter().map(|i| i + 1).collect();
    assert_eq!(
        found(&mailstore, &messages, &none, "BODY \"ha noi\"").await,
        expected
    );
    assert_eq!(
        found(&mailstore, &messages, &none, "UNSEEN BODY \"ha noi\"").await,
        expected[..expected.len() - 1]
    );
}
