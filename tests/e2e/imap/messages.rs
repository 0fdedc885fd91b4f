//! Messages over IMAP: mail delivered over SMTP and read back, APPEND (with APPENDUID, RFC
//! 4315), FETCH items and sections (RFC 3501 §6.4.5), STORE, COPY and MOVE (RFC 6851) with
//! COPYUID, EXPUNGE and UID EXPUNGE, CLOSE and UNSELECT (RFC 3691), and SEARCH, Vietnamese
//! text searches included.

use congvu::mailstore::MessageFlags;
use congvu_tests::imap::RawImap;
use congvu_tests::Backend;

use super::fixture::{Province, Who, ANNV, NHUNG};
use super::{append, deliver, imap_tests, logged_in, mailbox, selected, stored};

imap_tests!(
    smtp_delivery_is_read_over_imap,
    append_answers_appenduid_with_flags_and_date,
    fetch_items_sections_and_partials,
    store_changes_flags,
    copy_move_and_expunge,
    close_expunges_and_unselect_does_not,
    search_keys_and_sequence_sets,
    vietnamese_text_searches,
    a_damaged_stored_structure_is_worked_out_again,
    searches_find_the_same_when_kept_texts_are_missing_or_damaged,
);

/// A plan sent from An to Nhung: a text part in Vietnamese and a PDF attachment, with
/// encoded-word headers.
const PLAN: &str = "From: =?UTF-8?Q?Nguy=E1=BB=85n_V=C4=83n_An?= <annv@vinhphuc.gov.vn>\r\n\
To: =?UTF-8?Q?L=C3=AA_Th=E1=BB=8B_H=E1=BB=93ng_Nhung?= <nhunglth@vinhphuc.gov.vn>\r\n\
Subject: =?UTF-8?B?S+G6vyBob+G6oWNoIGPDtG5nIHTDoWMgbsSDbSAyMDI3?=\r\n\
Date: Fri, 27 Nov 2026 09:30:00 +0700\r\n\
Message-ID: <kehoach-2027@vinhphuc.gov.vn>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"ranh-gioi\"\r\n\
\r\n\
--ranh-gioi\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Kính gửi chị Nhung,\r\n\
Gửi chị kế hoạch công tác năm 2027.\r\n\
--ranh-gioi\r\n\
Content-Type: application/pdf; name=\"ke-hoach.pdf\"\r\n\
Content-Disposition: attachment; filename=\"ke-hoach.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKJcfsj6IK\r\n\
--ranh-gioi--\r\n";

/// A literal as the raw client gives it back: `{n}` and the bytes.
fn literal(bytes: &str) -> String {
    format!("{{{}}}{bytes}", bytes.len())
}

/// The part of `message` from `start` up to (not including) `end`.
fn between<'m>(message: &'m str, start: &str, end: &str) -> &'m str {
    let from = message.find(start).unwrap();
    let to = from + message[from..].find(end).unwrap();
    &message[from..to]
}

/// APPENDs `message` to `mailbox`, asserting the server took it.
async fn appended(imap: &mut RawImap, mailbox: &str, message: &str) {
    let lines = append(imap, "A", mailbox, "", message.as_bytes()).await;
    let done = lines.last().unwrap();
    assert!(done.starts_with("A OK [APPENDUID "), "{lines:?}");
}

/// A session of `who` with `messages` appended to the INBOX, then the INBOX selected: UIDs
/// and sequence numbers 1, 2…, none of them `\Recent` to this session.
async fn inbox_with(p: &Province, who: Who, messages: &[String]) -> RawImap {
    let mut imap = logged_in(p, who).await;
    for message in messages {
        appended(&mut imap, "INBOX", message).await;
    }
    let select = imap.command("S", "SELECT INBOX").await;
    assert_eq!(select.last().unwrap(), "S OK [READ-WRITE] Mailbox selected");
    imap
}

/// `count` short messages with subjects `so 1`, `so 2`…
fn numbered(count: usize) -> Vec<String> {
    (1..=count)
        .map(|n| format!("Subject: so {n}\r\n\r\nx\r\n"))
        .collect()
}

async fn smtp_delivery_is_read_over_imap(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let sent = "From: =?UTF-8?Q?Tr=E1=BA=A7n_Th=E1=BB=8B_H=C3=A0?= <ha@example.org>\r\n\
To: <annv@vinhphuc.gov.vn>\r\n\
Subject: =?UTF-8?B?Q8O0bmcgdsSDbiBz4buRIDE=?=\r\n\
Date: Fri, 27 Nov 2026 07:45:00 +0700\r\n\
Message-ID: <cv1@example.org>\r\n\
\r\n\
Kính gửi anh An.\r\n";
    deliver(&p, &[ANNV.0], sent).await;
    // What the store holds: the message behind the trace fields the server added.
    let copy = String::from_utf8(stored(&p, ANNV.0, "INBOX").await.remove(0)).unwrap();
    assert!(copy.starts_with("Return-Path: <sender@example.org>\r\nReceived: "));
    assert!(copy.ends_with(sent));

    const HA: &str = "=?utf-8?b?VHLhuqduIFRo4buLIEjDoA==?=";
    let (mut imap, select) = selected(&p, ANNV, "INBOX").await;
    assert!(select.contains(&"* 1 EXISTS".to_string()), "{select:#?}");
    let fetched = imap
        .command("a", "FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
        .await;
    // INTERNALDATE is when the server took the message (its clock is fixed at START),
    // in Vietnam's zone. The subject is the header's text; the display name comes back as
    // an encoded-word too, of the same words.
    assert_eq!(
        fetched,
        [
            format!(
                "* 1 FETCH (UID 1 FLAGS () INTERNALDATE \"27-Nov-2026 08:00:00 +0700\" \
                 RFC822.SIZE {} ENVELOPE (\"Fri, 27 Nov 2026 07:45:00 +0700\" \
                 \"=?UTF-8?B?Q8O0bmcgdsSDbiBz4buRIDE=?=\" \
                 ((\"{HA}\" NIL \"ha\" \"example.org\")) \
                 ((\"{HA}\" NIL \"ha\" \"example.org\")) \
                 ((\"{HA}\" NIL \"ha\" \"example.org\")) \
                 ((NIL NIL \"annv\" \"vinhphuc.gov.vn\")) NIL NIL NIL \"<cv1@example.org>\"))",
                copy.len()
            ),
            "a OK Completed".into()
        ]
    );
    // BODY[] gives the stored bytes exactly, and marks the message read.
    assert_eq!(
        imap.command("b", "FETCH 1 BODY[]").await,
        [
            format!("* 1 FETCH (BODY[] {} FLAGS (\\Seen))", literal(&copy)),
            "b OK Completed".into()
        ]
    );
    assert_eq!(
        imap.command("c", "FETCH 1 BODY[TEXT]").await,
        [
            format!("* 1 FETCH (BODY[TEXT] {})", literal("Kính gửi anh An.\r\n")),
            "c OK Completed".into()
        ]
    );
}

async fn append_answers_appenduid_with_flags_and_date(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = super::logged_in(&p, ANNV).await;
    let sent_validity = mailbox(&p, ANNV.0, "Sent").await.uidvalidity;
    let lines = append(
        &mut imap,
        "a",
        "Sent",
        "(\\Seen $Forwarded) \"27-Nov-2026 09:15:00 +0700\" ",
        PLAN.as_bytes(),
    )
    .await;
    assert_eq!(
        lines,
        [format!("a OK [APPENDUID {sent_validity} 1] Completed")]
    );
    // A synchronising literal: the server invites it with `+` first.
    let draft = "Subject: Du thao\r\n\r\nChua xong.\r\n";
    imap.send(format!("b APPEND Drafts (\\Draft) {{{}}}\r\n", draft.len()).as_bytes())
        .await;
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("+ Ready for literal data")
    );
    imap.send(format!("{draft}\r\n").as_bytes()).await;
    let drafts_validity = mailbox(&p, ANNV.0, "Drafts").await.uidvalidity;
    assert_eq!(
        imap.until_tagged("b").await,
        [format!("b OK [APPENDUID {drafts_validity} 1] Completed")]
    );
    let plain = "Subject: Thu ngan\r\n\r\nOK.\r\n";
    assert_eq!(
        append(&mut imap, "c", "Sent", "", plain.as_bytes()).await,
        [format!("c OK [APPENDUID {sent_validity} 2] Completed")]
    );
    assert_eq!(
        append(&mut imap, "d", "Khongco", "", plain.as_bytes()).await,
        ["d NO [TRYCREATE] No such mailbox"]
    );

    // The store holds the bytes as sent; the date and flags are as given, or now and none.
    assert_eq!(
        stored(&p, ANNV.0, "Sent").await,
        [PLAN.as_bytes(), plain.as_bytes()]
    );
    let select = imap.command("e", "SELECT Sent").await;
    assert_eq!(
        select[..2],
        [
            "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded)".to_string(),
            "* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded \\*)] Flags permitted"
                .into()
        ]
    );
    assert_eq!(
        imap.command("f", "FETCH 1:2 (FLAGS INTERNALDATE RFC822.SIZE)")
            .await,
        [
            format!(
                "* 1 FETCH (FLAGS (\\Seen $Forwarded) INTERNALDATE \"27-Nov-2026 09:15:00 +0700\" RFC822.SIZE {})",
                PLAN.len()
            ),
            format!(
                "* 2 FETCH (FLAGS () INTERNALDATE \"27-Nov-2026 08:00:00 +0700\" RFC822.SIZE {})",
                plain.len()
            ),
            "f OK Completed".into()
        ]
    );
    // A date in another zone is the same moment, shown in the server's.
    let lines = append(
        &mut imap,
        "g",
        "Sent",
        "\"26-Nov-2026 20:00:00 -0500\" ",
        plain.as_bytes(),
    )
    .await;
    assert_eq!(
        lines,
        [
            "* 3 EXISTS".to_string(),
            "* 1 RECENT".into(),
            format!("g OK [APPENDUID {sent_validity} 3] Completed")
        ]
    );
    assert_eq!(
        imap.command("h", "FETCH 3 INTERNALDATE").await,
        [
            "* 3 FETCH (INTERNALDATE \"27-Nov-2026 08:00:00 +0700\")".to_string(),
            "h OK Completed".into()
        ]
    );
}

async fn fetch_items_sections_and_partials(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = inbox_with(&p, ANNV, &[PLAN.to_string()]).await;

    let header = &PLAN[..PLAN.find("\r\n\r\n").unwrap() + 4];
    let text = &PLAN[header.len()..];
    let part_one = between(
        PLAN,
        "Kính gửi",
        "\r\n--ranh-gioi\r\nContent-Type: application",
    );
    let part_one_mime = between(PLAN, "Content-Type: text/plain", "Kính gửi");
    let part_two = "JVBERi0xLjQKJcfsj6IK";

    assert_eq!(
        imap.command("a", "FETCH 1 (FLAGS RFC822.SIZE BODYSTRUCTURE)")
            .await,
        [
            format!(
                "* 1 FETCH (FLAGS () RFC822.SIZE {} BODYSTRUCTURE (\
                 (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\" {} 2 NIL NIL NIL NIL)\
                 (\"APPLICATION\" \"PDF\" (\"NAME\" \"ke-hoach.pdf\") NIL NIL \"BASE64\" {} NIL \
                 (\"ATTACHMENT\" (\"FILENAME\" \"ke-hoach.pdf\")) NIL NIL) \
                 \"MIXED\" (\"BOUNDARY\" \"ranh-gioi\") NIL NIL NIL))",
                PLAN.len(),
                part_one.len(),
                part_two.len()
            ),
            "a OK Completed".into()
        ]
    );
    // BODY: the structure without extension data.
    assert_eq!(
        imap.command("b", "FETCH 1 BODY").await,
        [
            format!(
                "* 1 FETCH (BODY (\
                 (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\" {} 2)\
                 (\"APPLICATION\" \"PDF\" (\"NAME\" \"ke-hoach.pdf\") NIL NIL \"BASE64\" {}) \
                 \"MIXED\"))",
                part_one.len(),
                part_two.len()
            ),
            "b OK Completed".into()
        ]
    );
    // Header fields, a part, its MIME header, the text and a partial: PEEK sets no flag.
    let subject = "Subject: =?UTF-8?B?S+G6vyBob+G6oWNoIGPDtG5nIHTDoWMgbsSDbSAyMDI3?=\r\n\r\n";
    assert_eq!(
        imap.command(
            "c",
            "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[1] BODY.PEEK[1.MIME] \
             BODY.PEEK[2] BODY.PEEK[TEXT] BODY.PEEK[]<0.10> BODY.PEEK[HEADER] FLAGS)"
        )
        .await,
        [
            format!(
                "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {} BODY[1] {} BODY[1.MIME] {} \
                 BODY[2] {} BODY[TEXT] {} BODY[]<0> {} BODY[HEADER] {} FLAGS ())",
                literal(subject),
                literal(part_one),
                literal(part_one_mime),
                literal(part_two),
                literal(text),
                literal(&PLAN[..10]),
                literal(header),
            ),
            "c OK Completed".into()
        ]
    );
    // A partial past the end is empty; one running over the end is cut at it.
    let tail_start = PLAN.len() - 5;
    assert_eq!(
        imap.command(
            "d",
            &format!(
                "FETCH 1 (BODY.PEEK[]<{}.10> BODY.PEEK[]<{}.10>)",
                PLAN.len() + 1,
                tail_start
            )
        )
        .await,
        [
            format!(
                "* 1 FETCH (BODY[]<{}> \"\" BODY[]<{tail_start}> {})",
                PLAN.len() + 1,
                literal(&PLAN[tail_start..])
            ),
            "d OK Completed".into()
        ]
    );
    assert_eq!(
        messages_flags(&p).await,
        [0],
        "BODY.PEEK must not set \\Seen"
    );
    // Without PEEK, \Seen is set and the new flags come with the answer.
    assert_eq!(
        imap.command("e", "FETCH 1 BODY[1]").await,
        [
            format!("* 1 FETCH (BODY[1] {} FLAGS (\\Seen))", literal(part_one)),
            "e OK Completed".into()
        ]
    );
    assert_eq!(messages_flags(&p).await, [MessageFlags::SEEN.0]);
    // UID FETCH answers the UID even when not asked; RFC822 items are the old names.
    assert_eq!(
        imap.command("f", "UID FETCH 1 (RFC822.SIZE RFC822.HEADER RFC822.TEXT)")
            .await,
        [
            format!(
                "* 1 FETCH (RFC822.SIZE {} RFC822.HEADER {} RFC822.TEXT {} UID 1)",
                PLAN.len(),
                literal(header),
                literal(text)
            ),
            "f OK Completed".into()
        ]
    );
    assert_eq!(
        imap.command("g", "FETCH 1 RFC822").await,
        [
            format!("* 1 FETCH (RFC822 {})", literal(PLAN)),
            "g OK Completed".into()
        ]
    );
    // A UID that names no message answers nothing, and is no error.
    assert_eq!(
        imap.command("h", "UID FETCH 9 FLAGS").await,
        ["h OK Completed"]
    );
}

/// The flag bits of each message in An's INBOX, as stored.
async fn messages_flags(p: &Province) -> Vec<u8> {
    super::messages(p, ANNV.0, "INBOX")
        .await
        .iter()
        .map(|m| m.flags.0)
        .collect()
}

async fn store_changes_flags(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = inbox_with(&p, ANNV, &numbered(3)).await;
    assert_eq!(
        imap.command("a", "STORE 1:2 +FLAGS (\\Flagged $Label1)")
            .await,
        [
            "* 1 FETCH (FLAGS (\\Flagged $Label1))",
            "* 2 FETCH (FLAGS (\\Flagged $Label1))",
            "a OK Completed"
        ]
    );
    assert_eq!(
        imap.command("b", "STORE 2 -FLAGS (\\Flagged)").await,
        ["* 2 FETCH (FLAGS ($Label1))", "b OK Completed"]
    );
    assert_eq!(
        imap.command("c", "STORE 3 FLAGS (\\Seen \\Answered)").await,
        ["* 3 FETCH (FLAGS (\\Seen \\Answered))", "c OK Completed"]
    );
    // .SILENT: no FETCH back for the session that asked.
    assert_eq!(
        imap.command("d", "STORE 1:* +FLAGS.SILENT (\\Seen)").await,
        ["d OK Completed"]
    );
    assert_eq!(
        imap.command("e", "UID STORE 2,3 FLAGS (\\Deleted)").await,
        [
            "* 2 FETCH (FLAGS (\\Deleted) UID 2)",
            "* 3 FETCH (FLAGS (\\Deleted) UID 3)",
            "e OK Completed"
        ]
    );
    assert_eq!(
        imap.command("f", "UID STORE 1 -FLAGS.SILENT ($Label1)")
            .await,
        ["f OK Completed"]
    );
    assert_eq!(
        imap.command("g", "FETCH 1:* FLAGS").await,
        [
            "* 1 FETCH (FLAGS (\\Seen \\Flagged))",
            "* 2 FETCH (FLAGS (\\Deleted))",
            "* 3 FETCH (FLAGS (\\Deleted))",
            "g OK Completed"
        ]
    );
    let stored: Vec<(u8, Vec<String>)> = super::messages(&p, ANNV.0, "INBOX")
        .await
        .into_iter()
        .map(|m| (m.flags.0, m.keywords))
        .collect();
    assert_eq!(
        stored,
        [
            (MessageFlags::SEEN.with(MessageFlags::FLAGGED).0, vec![]),
            (MessageFlags::DELETED.0, vec![]),
            (MessageFlags::DELETED.0, vec![]),
        ]
    );
}

async fn copy_move_and_expunge(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = inbox_with(&p, ANNV, &numbered(4)).await;
    imap.command("o", "CREATE \"L&AbA-u tr&Hu8-\"").await;
    let archive = mailbox(&p, ANNV.0, "Lưu trữ").await.uidvalidity;
    let trash = mailbox(&p, ANNV.0, "Trash").await.uidvalidity;

    // COPY answers COPYUID (RFC 4315 §3) and leaves the source alone.
    assert_eq!(
        imap.command("a", "COPY 1:2 \"L&AbA-u tr&Hu8-\"").await,
        [format!("a OK [COPYUID {archive} 1:2 1:2] Completed")]
    );
    assert_eq!(
        imap.command("b", "UID COPY 4 \"L&AbA-u tr&Hu8-\"").await,
        [format!("b OK [COPYUID {archive} 4 3] Completed")]
    );
    assert_eq!(
        imap.command("c", "COPY 1 Khongco").await,
        ["c NO [TRYCREATE] No such mailbox"]
    );
    // MOVE (RFC 6851 §4.3): COPYUID in an untagged OK, then the EXPUNGEs.
    assert_eq!(
        imap.command("d", "MOVE 2:3 Trash").await,
        [
            format!("* OK [COPYUID {trash} 2:3 1:2] Completed"),
            "* 3 EXPUNGE".into(),
            "* 2 EXPUNGE".into(),
            "d OK Completed".into()
        ]
    );
    assert_eq!(
        imap.command("e", "UID MOVE 4 Trash").await,
        [
            format!("* OK [COPYUID {trash} 4 3] Completed"),
            "* 2 EXPUNGE".into(),
            "e OK Completed".into()
        ]
    );
    let subjects = |bodies: Vec<Vec<u8>>| -> Vec<String> {
        bodies
            .iter()
            .map(|b| String::from_utf8_lossy(&b[..13]).into_owned())
            .collect()
    };
    assert_eq!(
        subjects(stored(&p, ANNV.0, "INBOX").await),
        ["Subject: so 1"]
    );
    assert_eq!(
        subjects(stored(&p, ANNV.0, "Trash").await),
        ["Subject: so 2", "Subject: so 3", "Subject: so 4"]
    );
    assert_eq!(
        subjects(stored(&p, ANNV.0, "Lưu trữ").await),
        ["Subject: so 1", "Subject: so 2", "Subject: so 4"]
    );
    // A copy shares its body with the original.
    let inbox = super::messages(&p, ANNV.0, "INBOX").await;
    let archived = super::messages(&p, ANNV.0, "Lưu trữ").await;
    assert_eq!(inbox[0].body_id, archived[0].body_id);

    // EXPUNGE removes \Deleted messages, highest sequence number first.
    let select = imap.command("f", "SELECT Trash").await;
    assert_eq!(select.last().unwrap(), "f OK [READ-WRITE] Mailbox selected");
    imap.command("g", "STORE 1,3 +FLAGS.SILENT (\\Deleted)")
        .await;
    assert_eq!(
        imap.command("h", "EXPUNGE").await,
        ["* 3 EXPUNGE", "* 1 EXPUNGE", "h OK Completed"]
    );
    assert_eq!(
        subjects(stored(&p, ANNV.0, "Trash").await),
        ["Subject: so 3"]
    );
    // UID EXPUNGE removes only the \Deleted messages it names.
    imap.command("i", "SELECT \"L&AbA-u tr&Hu8-\"").await;
    imap.command("j", "STORE 1:* +FLAGS.SILENT (\\Deleted)")
        .await;
    assert_eq!(
        imap.command("k", "UID EXPUNGE 2:3").await,
        ["* 3 EXPUNGE", "* 2 EXPUNGE", "k OK Completed"]
    );
    assert_eq!(
        imap.command("l", "UID FETCH 1:* FLAGS").await,
        ["* 1 FETCH (FLAGS (\\Deleted) UID 1)", "l OK Completed"]
    );
}

async fn close_expunges_and_unselect_does_not(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = inbox_with(&p, ANNV, &numbered(3)).await;
    imap.command("a", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    // UNSELECT leaves the mailbox without expunging (RFC 3691).
    assert_eq!(imap.command("b", "UNSELECT").await, ["b OK Completed"]);
    assert_eq!(super::messages(&p, ANNV.0, "INBOX").await.len(), 3);
    assert_eq!(
        imap.command("c", "FETCH 1 FLAGS").await,
        ["c BAD Command not valid in this state"]
    );
    // CLOSE expunges silently, in read-write mode only.
    imap.command("d", "EXAMINE INBOX").await;
    assert_eq!(imap.command("e", "CLOSE").await, ["e OK Completed"]);
    assert_eq!(super::messages(&p, ANNV.0, "INBOX").await.len(), 3);
    imap.command("f", "SELECT INBOX").await;
    imap.command("g", "STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(imap.command("h", "CLOSE").await, ["h OK Completed"]);
    let left: Vec<u32> = super::messages(&p, ANNV.0, "INBOX")
        .await
        .iter()
        .map(|m| m.uid.0)
        .collect();
    assert_eq!(left, [2]);
    assert_eq!(
        imap.command("i", "CLOSE").await,
        ["i BAD Command not valid in this state"]
    );
}

/// Three messages in Nhung's INBOX for the searches: UIDs 1–3, sequence numbers 1–3.
async fn search_fixture(p: &Province) -> (RawImap, Vec<usize>) {
    let messages = [
        // Encoded-word subject and sender, base64 UTF-8 body.
        "From: =?UTF-8?Q?Nguy=E1=BB=85n_V=C4=83n_B=C3=ACnh?= <binh@example.org>\r\n\
To: <nhunglth@vinhphuc.gov.vn>\r\n\
Subject: =?UTF-8?B?Q8O0bmcgdsSDbiBz4buRIDEyIHbhu4EgaOG7jXAgZ2lhbyBiYW4=?=\r\n\
Date: Thu, 26 Nov 2026 16:00:00 +0700\r\n\
Message-ID: <m1@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
S8OtbmggZ+G7rWkgY8OhYyDEkcahbiB24buLOiDEkeG7gSBuZ2jhu4sgY+G7rSBjw6FuIGLhu5kgZOG7sSBo4buNcCBnaWFvIGJhbi4=\r\n"
            .to_string(),
        // Raw UTF-8 headers (RFC 6532) and an 8-bit body.
        "From: Trần Thị Hà <ha@example.org>\r\n\
To: <nhunglth@vinhphuc.gov.vn>\r\n\
Subject: Báo cáo tháng 11\r\n\
Date: Fri, 27 Nov 2026 08:00:00 +0700\r\n\
Message-ID: <m2@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Đính kèm báo cáo tổng hợp.\r\n"
            .to_string(),
        // Plain ASCII, and larger.
        format!(
            "From: Le Van Nam <nam@example.org>\r\n\
To: <nhunglth@vinhphuc.gov.vn>\r\n\
Cc: <annv@vinhphuc.gov.vn>\r\n\
Subject: Lich cong tac tuan\r\n\
Date: Fri, 27 Nov 2026 10:00:00 +0700\r\n\
Message-ID: <m3@example.org>\r\n\
\r\n\
Hop giao ban chieu thu Sau.\r\n{}",
            "Chi tiet kem theo.\r\n".repeat(40)
        ),
    ];
    let imap = inbox_with(p, NHUNG, &messages).await;
    let sizes = stored(p, NHUNG.0, "INBOX")
        .await
        .iter()
        .map(Vec::len)
        .collect();
    (imap, sizes)
}

/// Runs a SEARCH (or UID SEARCH) and returns the numbers it found.
async fn search(imap: &mut RawImap, tag: &str, command: &str) -> Vec<u32> {
    let lines = imap.command(tag, command).await;
    assert_eq!(lines.len(), 2, "{command}: {lines:#?}");
    assert_eq!(lines[1], format!("{tag} OK Completed"), "{command}");
    let found = lines[0]
        .strip_prefix("* SEARCH")
        .unwrap_or_else(|| panic!("{command}: {lines:#?}"));
    found
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// SEARCH with a UTF-8 search string sent as a literal (LITERAL+).
async fn search_utf8(imap: &mut RawImap, tag: &str, key: &str, text: &str) -> Vec<u32> {
    let command = format!("SEARCH CHARSET UTF-8 {key} {{{}+}}\r\n{text}", text.len());
    search(imap, tag, &command).await
}

async fn search_keys_and_sequence_sets(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut imap, sizes) = search_fixture(&p).await;
    imap.command("a", "STORE 2 +FLAGS.SILENT (\\Seen \\Flagged $Label1)")
        .await;
    imap.command("b", "STORE 3 +FLAGS.SILENT (\\Answered \\Deleted)")
        .await;
    let cases: &[(&str, &[u32])] = &[
        ("SEARCH ALL", &[1, 2, 3]),
        ("SEARCH 2:*", &[2, 3]),
        ("SEARCH 1,3", &[1, 3]),
        ("SEARCH 3:1", &[1, 2, 3]),
        ("SEARCH *", &[3]),
        ("SEARCH NOT 2", &[1, 3]),
        ("SEARCH SEEN", &[2]),
        ("SEARCH UNSEEN", &[1, 3]),
        ("SEARCH FLAGGED", &[2]),
        ("SEARCH UNFLAGGED", &[1, 3]),
        ("SEARCH ANSWERED", &[3]),
        ("SEARCH DELETED", &[3]),
        ("SEARCH UNDELETED", &[1, 2]),
        ("SEARCH DRAFT", &[]),
        ("SEARCH KEYWORD $Label1", &[2]),
        ("SEARCH UNKEYWORD $Label1", &[1, 3]),
        ("SEARCH SEEN FLAGGED", &[2]),
        ("SEARCH OR SEEN ANSWERED", &[2, 3]),
        ("SEARCH (SEEN) (NOT FLAGGED)", &[]),
        ("SEARCH SUBJECT cong", &[1, 3]),
        ("SEARCH FROM nam@example.org", &[3]),
        ("SEARCH TO nhunglth", &[1, 2, 3]),
        ("SEARCH CC annv", &[3]),
        ("SEARCH BCC annv", &[]),
        ("SEARCH HEADER Message-ID <m2@", &[2]),
        ("SEARCH HEADER Cc \"\"", &[3]),
        ("SEARCH BODY \"kem theo\"", &[3]),
        ("SEARCH TEXT m3@example", &[3]),
        // Dates: INTERNALDATE is the server's clock (27 Nov); the sent dates differ.
        ("SEARCH ON 27-Nov-2026", &[1, 2, 3]),
        ("SEARCH SINCE 28-Nov-2026", &[]),
        ("SEARCH BEFORE 27-Nov-2026", &[]),
        ("SEARCH SENTON 26-Nov-2026", &[1]),
        ("SEARCH SENTSINCE 27-Nov-2026", &[2, 3]),
        ("SEARCH SENTBEFORE 27-Nov-2026", &[1]),
        ("SEARCH NEW", &[]),
        ("SEARCH OLD", &[1, 2, 3]),
        ("SEARCH RECENT", &[]),
        ("UID SEARCH 2:3", &[2, 3]),
        ("UID SEARCH UID 2:*", &[2, 3]),
        ("UID SEARCH UID 9:*", &[3]),
        ("UID SEARCH NOT UID 1", &[2, 3]),
        ("UID SEARCH SUBJECT lich", &[3]),
    ];
    for (i, (command, expected)) in cases.iter().enumerate() {
        let found = search(&mut imap, &format!("s{i}"), command).await;
        assert_eq!(found, *expected, "{command}");
    }
    // Sizes: LARGER and SMALLER are strict (RFC 3501 §6.4.4).
    let largest = sizes[2] as u32;
    let at_size = |key: &str, n: u32| format!("SEARCH {key} {n}");
    let found = search(&mut imap, "z1", &at_size("LARGER", largest - 1)).await;
    assert_eq!(found, [3]);
    let found = search(&mut imap, "z2", &at_size("LARGER", largest)).await;
    assert_eq!(found, Vec::<u32>::new());
    let found = search(&mut imap, "z3", &at_size("SMALLER", largest)).await;
    assert_eq!(found, [1, 2]);
    // An unknown charset is refused with BADCHARSET (RFC 3501 §6.4.4).
    let refused = imap.command("z4", "SEARCH CHARSET KOI8-R SUBJECT a").await;
    assert_eq!(
        refused,
        ["z4 NO [BADCHARSET] Only UTF-8 and US-ASCII searches are supported"]
    );
    // Sequence sets drive FETCH, COPY and STORE as they drive SEARCH.
    assert_eq!(
        imap.command("z5", "FETCH 3:2 UID").await,
        ["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)", "z5 OK Completed"]
    );
    assert_eq!(
        imap.command("z6", "UID FETCH 1,3:* (FLAGS)").await,
        [
            "* 1 FETCH (FLAGS () UID 1)",
            "* 3 FETCH (FLAGS (\\Answered \\Deleted) UID 3)",
            "z6 OK Completed"
        ]
    );
}

async fn vietnamese_text_searches(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut imap, _) = search_fixture(&p).await;
    let cases: &[(&str, &str, &[u32])] = &[
        // Encoded-word subjects are decoded; case does not matter, Vietnamese letters
        // included; a string without diacritics matches with or without them.
        ("SUBJECT", "công văn", &[1]),
        ("SUBJECT", "CÔNG VĂN SỐ 12", &[1]),
        ("SUBJECT", "cong van", &[1]),
        ("SUBJECT", "họp giao ban", &[1]),
        ("SUBJECT", "báo cáo", &[2]),
        ("SUBJECT", "BAO CAO THANG", &[2]),
        // With diacritics, only those letters: "hộp" is not "họp".
        ("SUBJECT", "hộp", &[]),
        ("FROM", "Nguyễn Văn Bình", &[1]),
        ("FROM", "nguyen van binh", &[1]),
        ("FROM", "trần thị hà", &[2]),
        ("FROM", "tran thi ha", &[2]),
        // Bodies are decoded from base64 and 8-bit alike.
        ("BODY", "đề nghị", &[1]),
        ("BODY", "de nghi", &[1]),
        ("BODY", "ĐÍNH KÈM", &[2]),
        ("BODY", "dinh kem", &[2]),
        // "hop" without marks finds "họp", "hợp" (in "tổng hợp") and the unmarked "Hop".
        ("BODY", "hop", &[1, 2, 3]),
        ("BODY", "họp", &[1]),
        ("TEXT", "bình", &[1]),
        ("TEXT", "tổng hợp", &[2]),
    ];
    for (i, (key, text, expected)) in cases.iter().enumerate() {
        let found = search_utf8(&mut imap, &format!("v{i}"), key, text).await;
        assert_eq!(found, *expected, "{key} {text}");
    }
    // UID SEARCH with a Vietnamese string, in a synchronising literal.
    let text = "tháng";
    imap.send(format!("u UID SEARCH CHARSET UTF-8 SUBJECT {{{}}}\r\n", text.len()).as_bytes())
        .await;
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("+ Ready for literal data")
    );
    imap.send(format!("{text}\r\n").as_bytes()).await;
    assert_eq!(
        imap.until_tagged("u").await,
        ["* SEARCH 2", "u OK Completed"]
    );
}

/// A listing reads the stored structures of a whole batch of messages in one statement. One
/// that no longer reads (damaged in the database) is worked out again from its message, and
/// the listing, that message's entry included, is what it was.
async fn a_damaged_stored_structure_is_worked_out_again(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut messages = numbered(3);
    messages.insert(1, PLAN.to_string());
    let mut imap = inbox_with(&p, ANNV, &messages).await;
    let listing = "UID FETCH 1:* (RFC822.SIZE ENVELOPE BODYSTRUCTURE)";
    let before = imap.command("a", listing).await;
    assert_eq!(before.len(), 5, "{before:#?}");
    assert!(
        before[1].contains("\"MIXED\" (\"BOUNDARY\" \"ranh-gioi\")"),
        "{before:#?}"
    );

    p.db.execute_unchecked(&format!(
        "UPDATE message_shapes SET shape = '{{\"envelope\":' WHERE body_id = {}",
        inbox_body("annv", 2)
    ))
    .await;
    let after = imap.command("a", listing).await;
    assert_eq!(after, before);
}

/// SEARCH reads each message's text as kept when it was stored. Messages stored before texts
/// were kept have theirs worked out at the first search and kept; a kept text that no longer
/// reads is worked out again. Either way every search finds what it found before.
async fn searches_find_the_same_when_kept_texts_are_missing_or_damaged(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut imap, _) = search_fixture(&p).await;
    let expected: Vec<Vec<u32>> = vec![
        vec![2],
        vec![1],
        vec![2],
        vec![2],
        vec![3],
        vec![3],
        vec![2, 3],
    ];
    assert_eq!(text_searches(&mut imap, "a").await, expected);

    let inbox_texts = "SELECT COUNT(*) FROM message_texts t \
         JOIN mailbox_messages m ON m.body_id = t.body_id \
         JOIN mailboxes b ON b.id = m.mailbox_id \
         JOIN officials o ON o.id = b.official_id \
         WHERE o.login = 'nhunglth' AND b.name = 'INBOX'";
    assert_eq!(p.db.count_unchecked(inbox_texts).await, 3);
    p.db.execute_unchecked("DELETE FROM message_texts").await;
    assert_eq!(
        text_searches(&mut imap, "b").await,
        expected,
        "texts worked out from the messages"
    );
    assert_eq!(p.db.count_unchecked(inbox_texts).await, 3, "and kept");

    p.db.execute_unchecked(&format!(
        "UPDATE message_texts SET text = '{{\"headers\":' WHERE body_id = {}",
        inbox_body("nhunglth", 2)
    ))
    .await;
    assert_eq!(
        text_searches(&mut imap, "c").await,
        expected,
        "a damaged text worked out again"
    );
}

/// Searches of `search_fixture`'s INBOX by every kind of key that reads a message's text.
async fn text_searches(imap: &mut RawImap, tag: &str) -> Vec<Vec<u32>> {
    let cases = [
        ("BODY", "dinh kem"),
        ("TEXT", "bình"),
        ("SUBJECT", "báo cáo"),
        ("FROM", "tran thi ha"),
        ("HEADER Message-ID", "m3@example"),
        ("BODY", "chi tiet kem theo"),
    ];
    let mut found = Vec::new();
    for (i, (key, text)) in cases.iter().enumerate() {
        found.push(search_utf8(imap, &format!("{tag}{i}"), key, text).await);
    }
    found.push(search(imap, &format!("{tag}d"), "SEARCH SENTON 27-Nov-2026").await);
    found
}

/// SQL for the body of message `uid` in `login`'s INBOX, to damage what is kept beside it.
fn inbox_body(login: &str, uid: u32) -> String {
    format!(
        "(SELECT m.body_id FROM mailbox_messages m \
          JOIN mailboxes b ON b.id = m.mailbox_id \
          JOIN officials o ON o.id = b.official_id \
          WHERE o.login = '{login}' AND b.name = 'INBOX' AND m.uid = {uid})"
    )
}
