//! An official's folders over IMAP: LIST and LSUB with special-use attributes (RFC 6154) and
//! wildcards, folder names in modified UTF-7 (RFC 3501 §5.1.3) for Vietnamese names,
//! CREATE/RENAME/DELETE, SUBSCRIBE, STATUS, SELECT and EXAMINE, and the quota commands
//! (RFC 9208).

use congvu_tests::Backend;

use super::fixture::{Province, ANNV, DAYHOP, SMALL_QUOTA};
use super::{append, deliver, imap_tests, logged_in, mailbox, selected};

imap_tests!(
    list_shows_special_use_and_the_hierarchy,
    vietnamese_folder_names_round_trip,
    folder_commands_refuse_what_cannot_be,
    subscribe_and_lsub,
    status_select_and_examine,
    quota_root_and_usage,
);

/// `Công văn đến` in modified UTF-7.
const CONG_VAN_DEN: &str = "C&APQ-ng v&AQM-n &AREevw-n";
/// `Công văn đi`.
const CONG_VAN_DI: &str = "C&APQ-ng v&AQM-n &ARE-i";
/// `Hồ sơ`.
const HO_SO: &str = "H&HtM- s&AaE-";
/// `Lưu trữ`.
const LUU_TRU: &str = "L&AbA-u tr&Hu8-";

/// The LIST line for a mailbox with `attributes`.
fn listed(attributes: &str, name: &str) -> String {
    format!("* LIST ({attributes}) \"/\" {name}")
}

/// Every folder's LIST line for `LIST "" "*"`, in the order the server gives them.
async fn list_all(imap: &mut congvu_tests::imap::RawImap, tag: &str) -> Vec<String> {
    imap.command(tag, "LIST \"\" \"*\"").await
}

async fn list_shows_special_use_and_the_hierarchy(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    let defaults = [
        listed("\\HasNoChildren \\Drafts", "Drafts"),
        listed("\\HasNoChildren", "INBOX"),
        listed("\\HasNoChildren \\Junk", "Junk"),
        listed("\\HasNoChildren \\Sent", "Sent"),
        listed("\\HasNoChildren \\Trash", "Trash"),
    ];
    let mut expected = defaults.to_vec();
    expected.push("a OK Completed".into());
    assert_eq!(list_all(&mut imap, "a").await, expected);

    // RFC 3501 §6.3.8: an empty pattern asks for the separator and the root.
    assert_eq!(
        imap.command("b", "LIST \"\" \"\"").await,
        ["* LIST (\\Noselect) \"/\" \"\"", "b OK Completed"]
    );

    // RFC 6154 §5.2 (over RFC 5258): the SPECIAL-USE return option and selection option.
    let mut expected = defaults.to_vec();
    expected.push("c OK Completed".into());
    assert_eq!(
        imap.command("c", "LIST \"\" \"*\" RETURN (SPECIAL-USE)")
            .await,
        expected
    );
    let mut expected: Vec<String> = defaults
        .iter()
        .filter(|l| !l.ends_with("INBOX"))
        .cloned()
        .collect();
    expected.push("d OK Completed".into());
    assert_eq!(
        imap.command("d", "LIST (SPECIAL-USE) \"\" \"*\"").await,
        expected
    );

    // `%` stops at the separator, `*` does not.
    let create = imap.command("e", &format!("CREATE \"{HO_SO}/2024\"")).await;
    assert_eq!(create, ["e OK Completed"]);
    let top = [
        listed("\\HasNoChildren \\Drafts", "Drafts"),
        listed("\\HasChildren", &format!("\"{HO_SO}\"")),
        listed("\\HasNoChildren", "INBOX"),
    ];
    let mut expected = top.to_vec();
    expected.extend(defaults[2..].iter().cloned());
    expected.push("f OK Completed".into());
    assert_eq!(imap.command("f", "LIST \"\" \"%\"").await, expected);
    let mut expected = top.to_vec();
    expected.insert(2, listed("\\HasNoChildren", &format!("\"{HO_SO}/2024\"")));
    expected.extend(defaults[2..].iter().cloned());
    expected.push("g OK Completed".into());
    assert_eq!(list_all(&mut imap, "g").await, expected);
    // A reference names where the pattern starts.
    assert_eq!(
        imap.command("h", &format!("LIST \"{HO_SO}/\" \"%\"")).await,
        [
            listed("\\HasNoChildren", &format!("\"{HO_SO}/2024\"")),
            "h OK Completed".into()
        ]
    );
    // `inbox` names the inbox in any case (RFC 3501 §5.1).
    assert_eq!(
        imap.command("i", "LIST \"\" inbox").await,
        [listed("\\HasNoChildren", "INBOX"), "i OK Completed".into()]
    );
    assert_eq!(
        imap.command("j", "LIST \"\" \"Kh&APQ-ng c&APM-\"").await,
        ["j OK Completed"]
    );
}

async fn vietnamese_folder_names_round_trip(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    assert_eq!(
        imap.command("a", &format!("CREATE \"{CONG_VAN_DEN}\""))
            .await,
        ["a OK Completed"]
    );
    // The store holds the Unicode name; LIST gives back the very same wire name.
    assert_eq!(mailbox(&p, ANNV.0, "Công văn đến").await.role, None);
    assert_eq!(
        imap.command("b", &format!("LIST \"\" \"{CONG_VAN_DEN}\""))
            .await,
        [
            listed("\\HasNoChildren", &format!("\"{CONG_VAN_DEN}\"")),
            "b OK Completed".into()
        ]
    );
    // Parents are created with their child (RFC 3501 §6.3.3).
    assert_eq!(
        imap.command("c", &format!("CREATE \"{HO_SO}/2024\"")).await,
        ["c OK Completed"]
    );
    mailbox(&p, ANNV.0, "Hồ sơ").await;
    mailbox(&p, ANNV.0, "Hồ sơ/2024").await;

    // A message filed into the Vietnamese folder stays with it through a rename.
    let message = b"Subject: =?UTF-8?B?Q8O0bmcgdsSDbiBz4buRIDE=?=\r\n\r\nThu.\r\n";
    let appended = append(&mut imap, "d", &format!("\"{CONG_VAN_DEN}\""), "", message).await;
    let uidvalidity = mailbox(&p, ANNV.0, "Công văn đến").await.uidvalidity;
    assert_eq!(
        appended,
        [format!("d OK [APPENDUID {uidvalidity} 1] Completed")]
    );
    assert_eq!(
        imap.command("e", &format!("RENAME \"{CONG_VAN_DEN}\" \"{CONG_VAN_DI}\""))
            .await,
        ["e OK Completed"]
    );
    let renamed = mailbox(&p, ANNV.0, "Công văn đi").await;
    assert_eq!(renamed.uidvalidity, uidvalidity);
    let status = imap
        .command(
            "f",
            &format!("STATUS \"{CONG_VAN_DI}\" (MESSAGES UIDVALIDITY)"),
        )
        .await;
    assert_eq!(
        status,
        [
            format!("* STATUS \"{CONG_VAN_DI}\" (MESSAGES 1 UIDVALIDITY {uidvalidity})"),
            "f OK Completed".into()
        ]
    );
    assert_eq!(
        imap.command("g", &format!("STATUS \"{CONG_VAN_DEN}\" (MESSAGES)"))
            .await,
        ["g NO [NONEXISTENT] No such mailbox"]
    );

    // Renaming a parent renames its children.
    assert_eq!(
        imap.command("h", &format!("RENAME \"{HO_SO}\" \"{LUU_TRU}\""))
            .await,
        ["h OK Completed"]
    );
    let listing = imap
        .command("i", &format!("LIST \"\" \"{LUU_TRU}*\""))
        .await;
    assert_eq!(
        listing,
        [
            listed("\\HasChildren", &format!("\"{LUU_TRU}\"")),
            listed("\\HasNoChildren", &format!("\"{LUU_TRU}/2024\"")),
            "i OK Completed".into()
        ]
    );
    mailbox(&p, ANNV.0, "Lưu trữ/2024").await;

    // Selecting by the wire name opens the Unicode-named folder.
    let select = imap
        .command("j", &format!("SELECT \"{CONG_VAN_DI}\""))
        .await;
    assert!(select.contains(&"* 1 EXISTS".to_string()), "{select:#?}");
    assert_eq!(imap.command("k", "UNSELECT").await, ["k OK Completed"]);

    let doomed = [
        ("l", CONG_VAN_DI.to_string()),
        ("m", format!("{LUU_TRU}/2024")),
        ("n", LUU_TRU.to_string()),
    ];
    for (tag, wire) in doomed {
        assert_eq!(
            imap.command(tag, &format!("DELETE \"{wire}\"")).await,
            [format!("{tag} OK Completed")]
        );
    }
    let names: Vec<String> = p
        .server
        .services()
        .mailstore
        .mailboxes(p.directory().official(ANNV.0).await.unwrap().id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["Drafts", "INBOX", "Junk", "Sent", "Trash"]);
}

async fn folder_commands_refuse_what_cannot_be(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    for (tag, command, reply) in [
        (
            "a",
            "CREATE Trash",
            "NO [ALREADYEXISTS] Mailbox already exists",
        ),
        ("b", "CREATE inbox", "NO [CANNOT] Invalid mailbox name"),
        (
            "c",
            "DELETE INBOX",
            "NO [CANNOT] INBOX cannot be deleted or renamed",
        ),
        (
            "d",
            "RENAME INBOX Cu",
            "NO [CANNOT] INBOX cannot be deleted or renamed",
        ),
        ("e", "DELETE Khongco", "NO [NONEXISTENT] No such mailbox"),
        (
            "f",
            "RENAME Khongco Moi",
            "NO [NONEXISTENT] No such mailbox",
        ),
        (
            "g",
            "RENAME Sent Trash",
            "NO [ALREADYEXISTS] Mailbox already exists",
        ),
        ("h", "CREATE \"a//b\"", "NO [CANNOT] Invalid mailbox name"),
        ("i", "SELECT Khongco", "NO [NONEXISTENT] No such mailbox"),
        ("j", "EXAMINE Khongco", "NO [NONEXISTENT] No such mailbox"),
        ("k", "SUBSCRIBE Khongco", "NO [NONEXISTENT] No such mailbox"),
        (
            "l",
            "STATUS Khongco (MESSAGES)",
            "NO [NONEXISTENT] No such mailbox",
        ),
    ] {
        assert_eq!(
            imap.command(tag, command).await,
            [format!("{tag} {reply}")],
            "{command}"
        );
    }
    // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
    assert_eq!(
        imap.command("m", "SELECT INBOX").await.last().unwrap(),
        "m OK [READ-WRITE] Mailbox selected"
    );
    imap.command("n", "SELECT Khongco").await;
    assert_eq!(
        imap.command("o", "FETCH 1 FLAGS").await,
        ["o BAD Command not valid in this state"]
    );
}

async fn subscribe_and_lsub(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    imap.command("a", &format!("CREATE \"{LUU_TRU}\"")).await;
    let lsub = |tag: &str, names: &[&str]| {
        let mut lines: Vec<String> = names
            .iter()
            .map(|n| format!("* LSUB (\\HasNoChildren{n}"))
            .collect();
        lines.push(format!("{tag} OK Completed"));
        lines
    };
    let defaults = [
        " \\Drafts) \"/\" Drafts",
        ") \"/\" INBOX",
        " \\Junk) \"/\" Junk",
        " \\Sent) \"/\" Sent",
        " \\Trash) \"/\" Trash",
    ];
    // The default folders are subscribed, and so is a folder once created, so that
    // clients showing only subscribed folders show it.
    let with_new = format!(") \"/\" \"{LUU_TRU}\"");
    let mut expected = defaults.to_vec();
    expected.insert(3, &with_new);
    assert_eq!(
        imap.command("b", "LSUB \"\" \"*\"").await,
        lsub("b", &expected)
    );
    assert!(mailbox(&p, ANNV.0, "Lưu trữ").await.subscribed);
    assert_eq!(
        imap.command("c", &format!("UNSUBSCRIBE \"{LUU_TRU}\""))
            .await,
        ["c OK Completed"]
    );
    assert!(!mailbox(&p, ANNV.0, "Lưu trữ").await.subscribed);
    assert_eq!(
        imap.command("d", "LSUB \"\" \"*\"").await,
        lsub("d", &defaults)
    );
    assert_eq!(
        imap.command("e", &format!("SUBSCRIBE \"{LUU_TRU}\"")).await,
        ["e OK Completed"]
    );
    assert_eq!(
        imap.command("f", "UNSUBSCRIBE Junk").await,
        ["f OK Completed"]
    );
    expected.remove(2);
    assert_eq!(
        imap.command("g", "LSUB \"\" \"*\"").await,
        lsub("g", &expected)
    );
    assert_eq!(
        imap.command("h", "LSUB \"\" \"L*\"").await,
        lsub("h", &[&with_new])
    );
    // LIST still shows the unsubscribed folder.
    let listing = imap.command("i", "LIST \"\" Junk").await;
    assert_eq!(
        listing,
        [
            listed("\\HasNoChildren \\Junk", "Junk"),
            "i OK Completed".into()
        ]
    );
}

async fn status_select_and_examine(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for subject in ["Thu moi hop", "Bao cao tuan"] {
        let message = super::fixture::message("vp@example.org", "annv@vinhphuc.gov.vn", subject);
        deliver(&p, &[ANNV.0], &message).await;
    }
    let inbox = mailbox(&p, ANNV.0, "INBOX").await;
    let validity = inbox.uidvalidity;
    assert_ne!(validity, 0);
    // RFC 7162 §3.1.2.1: with CONDSTORE offered, every SELECT and EXAMINE says it.
    let modseq = format!("* OK [HIGHESTMODSEQ {}] Highest", inbox.highestmodseq);
    let mut imap = logged_in(&p, ANNV).await;
    assert_eq!(
        imap.command(
            "a",
            "STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"
        )
        .await,
        [
            format!(
                "* STATUS INBOX (MESSAGES 2 RECENT 0 UIDNEXT 3 UIDVALIDITY {validity} UNSEEN 2)"
            ),
            "a OK Completed".into()
        ]
    );
    let system_flags = "\\Seen \\Answered \\Flagged \\Deleted \\Draft";
    let select = imap.command("b", "SELECT INBOX").await;
    assert_eq!(
        select,
        [
            format!("* FLAGS ({system_flags})"),
            format!("* OK [PERMANENTFLAGS ({system_flags} \\*)] Flags permitted"),
            "* 2 EXISTS".into(),
            "* 0 RECENT".into(),
            "* OK [UNSEEN 1] First unseen".into(),
            format!("* OK [UIDVALIDITY {validity}] UIDs valid"),
            "* OK [UIDNEXT 3] Predicted next UID".into(),
            modseq.clone(),
            "b OK [READ-WRITE] Mailbox selected".into(),
        ]
    );
    // Reading the first message moves the first unseen one along.
    let fetched = imap.command("c", "FETCH 1 BODY[TEXT]").await;
    assert_eq!(fetched.last().unwrap(), "c OK Completed");
    assert_eq!(
        imap.command("d", "STATUS INBOX (UNSEEN MESSAGES)").await,
        [
            "* STATUS INBOX (UNSEEN 1 MESSAGES 2)".to_string(),
            "d OK Completed".into()
        ]
    );
    // EXAMINE: the same mailbox, read-only, with no permanent flags. Setting \Seen was a
    // change, so the mod-sequence has moved on.
    let after = mailbox(&p, ANNV.0, "INBOX").await.highestmodseq;
    assert!(after > inbox.highestmodseq, "{after}");
    let modseq = format!("* OK [HIGHESTMODSEQ {after}] Highest");
    let examine = imap.command("e", "EXAMINE INBOX").await;
    assert_eq!(
        examine,
        [
            format!("* FLAGS ({system_flags})"),
            "* OK [PERMANENTFLAGS ()] Flags permitted".into(),
            "* 2 EXISTS".into(),
            "* 0 RECENT".into(),
            "* OK [UNSEEN 2] First unseen".into(),
            format!("* OK [UIDVALIDITY {validity}] UIDs valid"),
            "* OK [UIDNEXT 3] Predicted next UID".into(),
            modseq,
            "e OK [READ-ONLY] Mailbox opened read-only".into(),
        ]
    );
    // Reading in a read-only mailbox sets no flag.
    let fetched = imap.command("f", "FETCH 2 (BODY[TEXT] FLAGS)").await;
    assert!(fetched[0].ends_with(" FLAGS ())"), "{fetched:#?}");
    assert_eq!(
        imap.command("g", "STORE 2 +FLAGS (\\Seen)").await,
        ["g NO [READ-ONLY] Mailbox is read-only"]
    );
    // An empty mailbox: no UNSEEN line, UIDNEXT 1.
    let (_, drafts) = selected(&p, ANNV, "Drafts").await;
    let empty = mailbox(&p, ANNV.0, "Drafts").await;
    assert_eq!(
        drafts[2..],
        [
            "* 0 EXISTS".to_string(),
            "* 0 RECENT".into(),
            format!("* OK [UIDVALIDITY {}] UIDs valid", empty.uidvalidity),
            "* OK [UIDNEXT 1] Predicted next UID".into(),
            format!("* OK [HIGHESTMODSEQ {}] Highest", empty.highestmodseq),
            "S OK [READ-WRITE] Mailbox selected".into(),
        ]
    );
}

async fn quota_root_and_usage(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let limit_kib = SMALL_QUOTA / 1024;
    let mut imap = logged_in(&p, DAYHOP).await;
    assert_eq!(
        imap.command("a", "GETQUOTAROOT INBOX").await,
        [
            "* QUOTAROOT INBOX \"\"".to_string(),
            format!("* QUOTA \"\" (STORAGE 0 {limit_kib})"),
            "a OK Completed".into()
        ]
    );
    // 1,100 bytes in Sent count against the same root: 1 KiB used.
    let message = format!("Subject: Du thao\r\n\r\n{}\r\n", "x".repeat(1_100 - 22));
    assert_eq!(message.len(), 1_100);
    let appended = append(&mut imap, "b", "Sent", "", message.as_bytes()).await;
    let sent = mailbox(&p, DAYHOP.0, "Sent").await.uidvalidity;
    assert_eq!(appended, [format!("b OK [APPENDUID {sent} 1] Completed")]);
    assert_eq!(
        imap.command("c", "GETQUOTA \"\"").await,
        [
            format!("* QUOTA \"\" (STORAGE 1 {limit_kib})"),
            "c OK Completed".into()
        ]
    );
    assert_eq!(
        imap.command("d", "GETQUOTAROOT Sent").await,
        [
            "* QUOTAROOT Sent \"\"".to_string(),
            format!("* QUOTA \"\" (STORAGE 1 {limit_kib})"),
            "d OK Completed".into()
        ]
    );
    assert_eq!(
        imap.command("e", "GETQUOTA \"khac\"").await,
        ["e NO No such quota root"]
    );
    assert_eq!(
        imap.command("f", "SETQUOTA \"\" (STORAGE 99999)").await,
        ["f NO Quotas are set by the administrators"]
    );
    assert_eq!(
        imap.command("g", "GETQUOTAROOT Khongco").await,
        ["g NO [NONEXISTENT] No such mailbox"]
    );
}
