//! Several sessions and deliveries on one mailbox: unsolicited EXISTS, EXPUNGE and FETCH
//! FLAGS updates (RFC 3501 §7.3–7.4, with §7.4.1's rule against EXPUNGE during sequence
//! number commands), IDLE (RFC 2177) woken by SMTP delivery within a second, one stored
//! body for every copy of the same bytes, and UIDs that only ever ascend.

use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{MailboxDatum, Response};
use congvu::net::ListenerKind;
use congvu_tests::imap::{login_session, RawImap};
use congvu_tests::Backend;

use super::fixture::{self, Province, ANNV, NHUNG, VAN};
use super::{append, deliver, imap_tests, logged_in, mailbox, selected, stored};

imap_tests!(
    two_sessions_see_each_others_changes,
    expunges_wait_for_a_command_that_allows_them,
    idle_is_woken_by_smtp_delivery_within_a_second,
    idle_reports_flag_changes_and_ends_with_done,
    one_body_for_three_deliveries_and_the_sent_copy,
    uids_ascend_and_are_never_reused,
    concurrent_appends_get_distinct_ascending_uids,
);

/// The longest an IDLE session may wait to hear of new mail.
const WAKE_UP: Duration = Duration::from_secs(1);

/// The lines of a response without `\\Recent`, untagged or in flag lists: RFC 3501 leaves
/// undefined which session sees a new message as recent, and RFC 9051 drops it altogether.
fn without_recent(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|l| !(l.starts_with("* ") && l.ends_with(" RECENT")))
        .map(|l| l.replace(" \\Recent", "").replace("\\Recent", ""))
        .collect()
}

async fn two_sessions_see_each_others_changes(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut a, _) = selected(&p, ANNV, "INBOX").await;
    let (mut b, _) = selected(&p, ANNV, "INBOX").await;
    let lines = append(&mut a, "a1", "INBOX", "", b"Subject: mot\r\n\r\nx\r\n").await;
    let validity = mailbox(&p, ANNV.0, "INBOX").await.uidvalidity;
    assert_eq!(
        without_recent(lines),
        [
            "* 1 EXISTS".to_string(),
            format!("a1 OK [APPENDUID {validity} 1] Completed")
        ]
    );
    assert_eq!(
        without_recent(b.command("b1", "NOOP").await),
        ["* 1 EXISTS", "b1 OK Completed"]
    );
    // Mail delivered over SMTP reaches both.
    let message = fixture::message("so@example.org", "annv@vinhphuc.gov.vn", "Thu hai");
    deliver(&p, &[ANNV.0], &message).await;
    assert_eq!(
        without_recent(b.command("b2", "NOOP").await),
        ["* 2 EXISTS", "b2 OK Completed"]
    );
    assert_eq!(
        without_recent(a.command("a2", "CHECK").await),
        ["* 2 EXISTS", "a2 OK Completed"]
    );
    // A flag change by one is a FETCH for the other.
    assert_eq!(
        without_recent(a.command("a3", "STORE 2 +FLAGS (\\Flagged)").await),
        ["* 2 FETCH (FLAGS (\\Flagged))", "a3 OK Completed"]
    );
    assert_eq!(
        without_recent(b.command("b3", "NOOP").await),
        ["* 2 FETCH (FLAGS (\\Flagged) UID 2)", "b3 OK Completed"]
    );
    // An expunge by one is an EXPUNGE for the other.
    a.command("a4", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(
        a.command("a5", "EXPUNGE").await,
        ["* 1 EXPUNGE", "a5 OK Completed"]
    );
    assert_eq!(
        b.command("b4", "NOOP").await,
        ["* 1 EXPUNGE", "b4 OK Completed"]
    );
    // Both now agree: one message, sequence number 1, UID 2.
    for (session, tag) in [(&mut a, "a6"), (&mut b, "b5")] {
        assert_eq!(
            without_recent(session.command(tag, "FETCH 1:* (UID FLAGS)").await),
            [
                "* 1 FETCH (UID 2 FLAGS (\\Flagged))".to_string(),
                format!("{tag} OK Completed")
            ]
        );
    }
}

async fn expunges_wait_for_a_command_that_allows_them(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut a, _) = selected(&p, ANNV, "INBOX").await;
    for n in 1..=3 {
        append(
            &mut a,
            "ap",
            "INBOX",
            "",
            format!("Subject: {n}\r\n\r\nx\r\n").as_bytes(),
        )
        .await;
    }
    let (mut b, _) = selected(&p, ANNV, "INBOX").await;
    a.command("a1", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(
        a.command("a2", "EXPUNGE").await,
        ["* 1 EXPUNGE", "a2 OK Completed"]
    );
    // RFC 3501 §7.4.1: no EXPUNGE during FETCH, STORE or SEARCH by sequence number; the
    // numbers still mean what the client last heard.
    assert_eq!(
        b.command("b1", "FETCH 1:* UID").await,
        [
            "* 1 FETCH (UID 1)",
            "* 2 FETCH (UID 2)",
            "* 3 FETCH (UID 3)",
            "b1 OK Completed"
        ]
    );
    assert_eq!(
        b.command("b2", "SEARCH ALL").await,
        ["* SEARCH 1 2 3", "b2 OK Completed"]
    );
    // NOOP may say it; afterwards the numbers have moved down.
    assert_eq!(
        b.command("b3", "NOOP").await,
        ["* 1 EXPUNGE", "b3 OK Completed"]
    );
    assert_eq!(
        b.command("b4", "FETCH 1:* UID").await,
        ["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)", "b4 OK Completed"]
    );
    // UID commands may hear of expunges at once (RFC 3501 §7.4.1 allows it).
    a.command("a3", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    a.command("a4", "EXPUNGE").await;
    assert_eq!(
        b.command("b5", "UID FETCH 3 UID").await,
        ["* 2 FETCH (UID 3)", "* 1 EXPUNGE", "b5 OK Completed"]
    );
}

async fn idle_is_woken_by_smtp_delivery_within_a_second(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    // A library client and a raw one both idle on An's INBOX.
    let addr = p.addr(ListenerKind::Imaps);
    let mut session = login_session(addr, &p.db, ANNV.0, ANNV.1).await;
    assert_eq!(session.select("INBOX").await.unwrap().exists, 0);
    let mut idle = session.idle();
    idle.init().await.unwrap();
    let (mut raw, _) = selected(&p, ANNV, "INBOX").await;
    raw.send(b"i IDLE\r\n").await;
    assert_eq!(raw.read_line().await.as_deref(), Some("+ idling"));

    let message = fixture::message("vp@example.org", "annv@vinhphuc.gov.vn", "Hop khan");
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(30));
    let delivered = async {
        deliver(&p, &[ANNV.0], &message).await;
        Instant::now()
    };
    let raw_woken = async {
        let line = raw.read_line().await;
        (Instant::now(), line)
    };
    let woken = async {
        let response = wait.await.unwrap();
        (Instant::now(), response)
    };
    let (delivered_at, (woken_at, response), (raw_woken_at, raw_line)) =
        tokio::join!(delivered, woken, raw_woken);

    let IdleResponse::NewData(data) = response else {
        panic!("IDLE ended without news: {response:?}");
    };
    assert!(
        matches!(
            data.parsed(),
            Response::MailboxData(MailboxDatum::Exists(1))
        ),
        "{:?}",
        data.parsed()
    );
    assert_eq!(raw_line.as_deref(), Some("* 1 EXISTS"));
    // Measured from the SMTP server's 250: the mail was durable from then on.
    for at in [woken_at, raw_woken_at] {
        let waited = at.saturating_duration_since(delivered_at);
        assert!(waited < WAKE_UP, "IDLE woke {waited:?} after delivery");
    }

    let mut session = idle.done().await.unwrap();
    let recent_or_none = raw.listen(Duration::from_millis(200)).await;
    if let congvu_tests::imap::Heard::Line(line) = &recent_or_none {
        assert_eq!(line, "* 1 RECENT");
    }
    raw.send(b"DONE\r\n").await;
    assert_eq!(raw.until_tagged("i").await, ["i OK Completed"]);
    let inbox = session.select("INBOX").await.unwrap();
    assert_eq!(inbox.exists, 1);
    session.logout().await.unwrap();
}

async fn idle_reports_flag_changes_and_ends_with_done(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut a, _) = selected(&p, NHUNG, "INBOX").await;
    append(&mut a, "ap", "INBOX", "", b"Subject: mot\r\n\r\nx\r\n").await;
    let (mut idler, _) = selected(&p, NHUNG, "INBOX").await;
    idler.send(b"i IDLE\r\n").await;
    assert_eq!(idler.read_line().await.as_deref(), Some("+ idling"));
    a.command("a1", "STORE 1 +FLAGS.SILENT (\\Answered)").await;
    let started = Instant::now();
    assert_eq!(
        idler.read_line().await.as_deref(),
        Some("* 1 FETCH (FLAGS (\\Answered) UID 1)")
    );
    assert!(
        started.elapsed() < WAKE_UP,
        "woken after {:?}",
        started.elapsed()
    );
    // Anything but DONE ends IDLE with BAD (RFC 2177 §3).
    idler.send(b"j NOOP\r\n").await;
    assert_eq!(
        idler.until_tagged("i").await,
        ["i BAD Could not parse the command"]
    );
    idler.send(b"k IDLE\r\n").await;
    assert_eq!(idler.read_line().await.as_deref(), Some("+ idling"));
    idler.send(b"DONE\r\n").await;
    assert_eq!(idler.until_tagged("k").await, ["k OK Completed"]);
    // IDLE without a selected mailbox is allowed, and hears nothing.
    let mut unselected = logged_in(&p, VAN).await;
    unselected.send(b"l IDLE\r\n").await;
    assert_eq!(unselected.read_line().await.as_deref(), Some("+ idling"));
    unselected.send(b"DONE\r\n").await;
    assert_eq!(unselected.until_tagged("l").await, ["l OK Completed"]);
}

async fn one_body_for_three_deliveries_and_the_sent_copy(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let to = [
        "annv@vinhphuc.gov.vn",
        "nhunglth@vinhphuc.gov.vn",
        "vanlt@vinhphuc.gov.vn",
    ];
    let message = "From: <annv@vinhphuc.gov.vn>\r\n\
To: <nhunglth@vinhphuc.gov.vn>, <vanlt@vinhphuc.gov.vn>\r\n\
Cc: <annv@vinhphuc.gov.vn>\r\n\
Subject: =?UTF-8?B?VGjDtG5nIGLDoW8gbmdo4buJIFThur90?=\r\n\
Message-ID: <tet-2027@vinhphuc.gov.vn>\r\n\
\r\n\
Toàn thể cán bộ nghỉ Tết từ ngày 5/2.\r\n";
    let mut smtp = p.submission_as(ANNV).await;
    let replies = fixture::send(&mut smtp, "annv@vinhphuc.gov.vn", &to, message).await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");

    // The copy as delivered, read over IMAP, filed into An's Sent as a client does.
    let (mut nhung, _) = selected(&p, NHUNG, "INBOX").await;
    let fetched = nhung.command("f", "FETCH 1 BODY.PEEK[]").await;
    let delivered = stored(&p, NHUNG.0, "INBOX").await.remove(0);
    let delivered_text = String::from_utf8(delivered.clone()).unwrap();
    assert_eq!(
        fetched,
        [
            format!("* 1 FETCH (BODY[] {{{}}}{delivered_text})", delivered.len()),
            "f OK Completed".into()
        ]
    );
    let mut an = logged_in(&p, ANNV).await;
    let lines = append(&mut an, "a", "Sent", "(\\Seen) ", &delivered).await;
    let sent = mailbox(&p, ANNV.0, "Sent").await.uidvalidity;
    assert_eq!(lines, [format!("a OK [APPENDUID {sent} 1] Completed")]);

    let mut bodies = Vec::new();
    for (login, folder) in [
        (ANNV.0, "INBOX"),
        (NHUNG.0, "INBOX"),
        (VAN.0, "INBOX"),
        (ANNV.0, "Sent"),
    ] {
        let copies = super::messages(&p, login, folder).await;
        assert_eq!(copies.len(), 1, "{login} {folder}");
        bodies.push(copies[0].body_id);
    }
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "one body expected: {bodies:?}"
    );
    for (login, folder) in [(ANNV.0, "Sent"), (VAN.0, "INBOX")] {
        assert_eq!(
            stored(&p, login, folder).await,
            std::slice::from_ref(&delivered)
        );
    }
}

async fn uids_ascend_and_are_never_reused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    imap.command("c", "CREATE \"D&HvE- th&HqM-o\"").await;
    let folder = "\"D&HvE- th&HqM-o\"";
    let validity = mailbox(&p, ANNV.0, "Dự thảo").await.uidvalidity;
    let appenduid = |tag: &str, validity: u32, uid: u32| {
        vec![format!("{tag} OK [APPENDUID {validity} {uid}] Completed")]
    };
    for uid in 1..=3 {
        let tag = format!("a{uid}");
        let lines = append(
            &mut imap,
            &tag,
            folder,
            "",
            format!("Subject: {uid}\r\n\r\nx\r\n").as_bytes(),
        )
        .await;
        assert_eq!(lines, appenduid(&tag, validity, uid));
    }
    imap.command("s", &format!("SELECT {folder}")).await;
    imap.command("d", "STORE 2:3 +FLAGS.SILENT (\\Deleted)")
        .await;
    assert_eq!(
        imap.command("e", "EXPUNGE").await,
        ["* 3 EXPUNGE", "* 2 EXPUNGE", "e OK Completed"]
    );
    imap.command("u", "UNSELECT").await;
    // The next UID is 4, not 2 or 3 again.
    let lines = append(&mut imap, "f", folder, "", b"Subject: 4\r\n\r\nx\r\n").await;
    assert_eq!(lines, appenduid("f", validity, 4));
    assert_eq!(
        imap.command("g", &format!("STATUS {folder} (UIDNEXT MESSAGES)"))
            .await,
        [
            format!("* STATUS {folder} (UIDNEXT 5 MESSAGES 2)"),
            "g OK Completed".into()
        ]
    );
    let uids: Vec<u32> = super::messages(&p, ANNV.0, "Dự thảo")
        .await
        .iter()
        .map(|m| m.uid.0)
        .collect();
    assert_eq!(uids, [1, 4]);
    // A folder deleted and created again under the same name gets a new UIDVALIDITY, so
    // clients cannot mistake its UIDs for the old ones.
    assert_eq!(
        imap.command("h", &format!("DELETE {folder}")).await,
        ["h OK Completed"]
    );
    assert_eq!(
        imap.command("i", &format!("CREATE {folder}")).await,
        ["i OK Completed"]
    );
    let renewed = mailbox(&p, ANNV.0, "Dự thảo").await.uidvalidity;
    assert!(renewed > validity, "{renewed} after {validity}");
    let lines = append(&mut imap, "j", folder, "", b"Subject: moi\r\n\r\nx\r\n").await;
    assert_eq!(lines, appenduid("j", renewed, 1));
}

async fn concurrent_appends_get_distinct_ascending_uids(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    const EACH: u32 = 10;
    let validity = mailbox(&p, VAN.0, "INBOX").await.uidvalidity;
    let appender = |session: u32| {
        let p = &p;
        async move {
            let mut imap: RawImap = logged_in(p, VAN).await;
            let mut uids = Vec::new();
            for n in 0..EACH {
                let message = format!("Subject: phien {session} thu {n}\r\n\r\nx\r\n");
                let lines = append(&mut imap, "a", "INBOX", "", message.as_bytes()).await;
                let prefix = format!("a OK [APPENDUID {validity} ");
                let uid: u32 = lines[0]
                    .strip_prefix(&prefix)
                    .and_then(|rest| rest.strip_suffix("] Completed"))
                    .unwrap_or_else(|| panic!("{lines:?}"))
                    .parse()
                    .unwrap();
                uids.push(uid);
            }
            uids
        }
    };
    let (first, second, third) = tokio::join!(appender(1), appender(2), appender(3));
    for uids in [&first, &second, &third] {
        assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");
    }
    let mut all: Vec<u32> = [first, second, third].concat();
    all.sort_unstable();
    assert_eq!(all, (1..=3 * EACH).collect::<Vec<_>>());
    let stored_uids: Vec<u32> = super::messages(&p, VAN.0, "INBOX")
        .await
        .iter()
        .map(|m| m.uid.0)
        .collect();
    assert_eq!(stored_uids, all);
}

/// Two nodes on one PostgreSQL database: a client in IDLE on one hears of mail that the
/// other delivered, within a second (the change travels with NOTIFY). SQLite has one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    congvu_skip_postgres,
    ignore = "CONGVU_TEST_SKIP_POSTGRES=1: the PostgreSQL half is not run"
)]
async fn idle_on_one_node_hears_mail_delivered_by_another() {
    let test = async {
        let Some(p) = Province::start(Backend::Postgres).await else {
            return;
        };
        let config = congvu_tests::server::test_config(&p.db);
        let other = congvu::server::RunningServer::start_with_clock(&config, p.clock.clone())
            .await
            .unwrap();
        let (mut idler, _) = selected(&p, ANNV, "INBOX").await;
        idler.send(b"i IDLE\r\n").await;
        assert_eq!(idler.read_line().await.as_deref(), Some("+ idling"));

        let (mut smtp, greeting) =
            congvu_tests::smtp::RawSmtp::connect(other.local_addr(ListenerKind::Smtp).unwrap())
                .await;
        assert_eq!(greeting.code, 220);
        assert_eq!(smtp.command("EHLO relay.example.org").await.code, 250);
        let message = fixture::message("vp@example.org", "annv@vinhphuc.gov.vn", "Lien nut");
        let replies = fixture::send(
            &mut smtp,
            "vp@example.org",
            &["annv@vinhphuc.gov.vn"],
            &message,
        )
        .await;
        assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
        let delivered_at = Instant::now();
        assert_eq!(idler.read_line().await.as_deref(), Some("* 1 EXISTS"));
        let waited = delivered_at.elapsed();
        assert!(
            waited < WAKE_UP,
            "IDLE on the other node woke {waited:?} after delivery"
        );
        idler.send(b"DONE\r\n").await;
        let rest = idler.until_tagged("i").await;
        assert_eq!(
            rest.last().map(String::as_str),
            Some("i OK Completed"),
            "{rest:?}"
        );
        assert!(other.stop().await);
    };
    tokio::time::timeout(crate::TEST_DEADLINE, test)
        .await
        .expect("the test ran past its deadline");
}
