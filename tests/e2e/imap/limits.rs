//! Every IMAP limit, just under and just over: command line length, synchronising and
//! non-synchronising literal size (RFC 7888), SEARCH nesting, sessions per official and
//! connections per address, the idle timeout (RFC 3501 §5.4) and IDLE keeping a session
//! alive past it, BAD replies and failed logins per session, the lockout failed logins
//! share with SMTP, commands pipelined behind STARTTLS, and the quota on APPEND and COPY.

use std::time::{Duration, Instant};

use congvu::net::ListenerKind;
use congvu_tests::imap::{Heard, RawImap};
use congvu_tests::Backend;

use super::fixture::{auth_plain, Province, ANNV, DAYHOP, NHUNG, SMALL_QUOTA};
use super::{append, imap_tests, logged_in, mailbox, selected, COMMON_CAPABILITIES};

imap_tests!(
    command_line_just_under_and_over_the_limit,
    synchronising_literal_over_the_limit_is_refused_without_continuation,
    non_synchronising_literal_over_the_limit_ends_the_connection,
    search_nesting_just_under_and_over_the_limit,
    sessions_per_official_are_limited,
    connections_per_address_are_limited,
    silence_ends_a_session_and_idle_keeps_it,
    bad_commands_end_the_session_at_the_limit,
    failed_logins_end_the_session_and_lock_the_account_everywhere,
    commands_pipelined_behind_starttls_are_dropped,
    append_and_copy_over_quota_are_refused,
);

/// The line limit the tests configure.
const MAX_LINE: usize = 1_024;
/// The literal limit the tests configure.
const MAX_LITERAL: usize = 1_000;

/// A message of exactly `size` bytes.
fn message_of(size: usize) -> Vec<u8> {
    let head = b"Subject: co dinh\r\n\r\n";
    let mut message = head.to_vec();
    message.resize(size - 2, b'x');
    message.extend_from_slice(b"\r\n");
    message
}

async fn command_line_just_under_and_over_the_limit(backend: Backend) {
    let Some(p) =
        Province::start_with(backend, |c| c.imap.max_command_bytes = MAX_LINE as u32).await
    else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    // A LIST pattern padded so the line, without its CRLF, is exactly the limit.
    let line = |length: usize| {
        let frame = "a LIST \"\" \"\"".len();
        format!("a LIST \"\" \"{}\"", "x".repeat(length - frame))
    };
    assert_eq!(line(MAX_LINE).len(), MAX_LINE);
    imap.send(format!("{}\r\n", line(MAX_LINE)).as_bytes())
        .await;
    assert_eq!(imap.until_tagged("a").await, ["a OK Completed"]);

    imap.send(format!("{}\r\n", line(MAX_LINE + 1)).as_bytes())
        .await;
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("* BYE [LIMIT] Command line too long, closing")
    );
    assert!(imap.closed().await, "the connection stayed open");

    // A line that never ends is cut off once it passes the limit, before any CRLF.
    let mut imap = logged_in(&p, ANNV).await;
    imap.send(format!("b NOOP {}", "y".repeat(4 * MAX_LINE)).as_bytes())
        .await;
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("* BYE [LIMIT] Command line too long, closing")
    );
    assert!(imap.closed().await, "the connection stayed open");
}

async fn synchronising_literal_over_the_limit_is_refused_without_continuation(backend: Backend) {
    let Some(p) =
        Province::start_with(backend, |c| c.imap.max_literal_bytes = MAX_LITERAL as u32).await
    else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    // Over: a tagged BAD instead of `+`, and the session goes on.
    imap.send(format!("a APPEND INBOX {{{}}}\r\n", MAX_LITERAL + 1).as_bytes())
        .await;
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("a BAD Literal too large")
    );
    assert_eq!(imap.command("b", "NOOP").await, ["b OK Completed"]);

    // Just under: invited, taken and stored.
    let message = message_of(MAX_LITERAL);
    imap.send(format!("c APPEND INBOX {{{}}}\r\n", message.len()).as_bytes())
        .await;
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("+ Ready for literal data")
    );
    imap.send(&message).await;
    imap.send(b"\r\n").await;
    let validity = mailbox(&p, ANNV.0, "INBOX").await.uidvalidity;
    assert_eq!(
        imap.until_tagged("c").await,
        [format!("c OK [APPENDUID {validity} 1] Completed")]
    );
    assert_eq!(super::stored(&p, ANNV.0, "INBOX").await, [message]);
}

async fn non_synchronising_literal_over_the_limit_ends_the_connection(backend: Backend) {
    let Some(p) =
        Province::start_with(backend, |c| c.imap.max_literal_bytes = MAX_LITERAL as u32).await
    else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    let message = message_of(MAX_LITERAL);
    let validity = mailbox(&p, ANNV.0, "INBOX").await.uidvalidity;
    assert_eq!(
        append(&mut imap, "a", "INBOX", "", &message).await,
        [format!("a OK [APPENDUID {validity} 1] Completed")]
    );
    // Over: its bytes are already on the way and cannot be told from commands, so the
    // server says why and closes (RFC 7888 §4).
    let message = message_of(MAX_LITERAL + 1);
    imap.send(format!("b APPEND INBOX {{{}+}}\r\n", message.len()).as_bytes())
        .await;
    imap.send(&message).await;
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("* BYE [TOOBIG] Literal too large, closing")
    );
    assert!(imap.closed().await, "the connection stayed open");
    assert_eq!(super::messages(&p, ANNV.0, "INBOX").await.len(), 1);
}

async fn search_nesting_just_under_and_over_the_limit(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut imap, _) = selected(&p, ANNV, "INBOX").await;
    append(&mut imap, "p", "INBOX", "", &message_of(100)).await;
    let nots = |n: usize| format!("SEARCH {}ALL", "NOT ".repeat(n));
    // Far deeper input is refused without harm to the server, and the session lives on.
    assert!(imap.command("g", &nots(5_000)).await[0].starts_with("g BAD "));
    assert_eq!(imap.command("h", "NOOP").await, ["h OK Completed"]);
    // 8 levels are the deepest allowed (the parser refuses a ninth before evaluation); an
    // even number of NOTs leaves ALL.
    assert_eq!(
        imap.command("a", &nots(8)).await,
        ["* SEARCH 1", "a OK Completed"]
    );
    let refused = |reply: Vec<String>, tag: &str| {
        assert_eq!(reply.len(), 1, "{reply:?}");
        assert!(reply[0].starts_with(&format!("{tag} BAD ")), "{reply:?}");
    };
    refused(imap.command("b", &nots(9)).await, "b");
    let parens = |n: usize| format!("SEARCH {}ALL{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(
        imap.command("c", &parens(8)).await,
        ["* SEARCH 1", "c OK Completed"]
    );
    refused(imap.command("d", &parens(9)).await, "d");
    let ors = |n: usize| format!("SEARCH {}ALL", "OR SEEN ".repeat(n));
    assert_eq!(
        imap.command("e", &ors(8)).await,
        ["* SEARCH 1", "e OK Completed"]
    );
    refused(imap.command("f", &ors(9)).await, "f");
    assert_eq!(imap.command("i", "NOOP").await, ["i OK Completed"]);
}

async fn sessions_per_official_are_limited(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.imap.max_connections_per_official = 2).await
    else {
        return;
    };
    let first = logged_in(&p, ANNV).await;
    let _second = logged_in(&p, ANNV).await;
    let (mut third, _) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
    assert_eq!(
        third
            .command("a", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
            .await,
        ["a NO [LIMIT] Too many sessions open for this account"]
    );
    // The limit is per official: the same connection may log in as someone else.
    assert_eq!(
        third
            .command("b", &format!("LOGIN {} {}", NHUNG.0, NHUNG.1))
            .await,
        [format!(
            "b OK [CAPABILITY IMAP4REV1 {COMMON_CAPABILITIES}] Logged in"
        )]
    );
    // A place comes free when a session ends.
    let mut first = first;
    first.command("z", "LOGOUT").await;
    assert!(first.closed().await);
    let mut again = None;
    for _ in 0..50 {
        let (mut imap, _) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
        let reply = imap
            .command("c", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
            .await;
        if reply[0].starts_with("c OK ") {
            again = Some(imap);
            break;
        }
        // The server may still be tearing the old session down.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "no place came free after LOGOUT");
}

async fn connections_per_address_are_limited(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.limits.max_connections_per_ip = 2).await
    else {
        return;
    };
    let (_first, _) = RawImap::connect(p.addr(ListenerKind::Imap)).await;
    let (_second, _) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
    let (mut third, greeting) = RawImap::connect(p.addr(ListenerKind::Imap)).await;
    assert_eq!(
        greeting,
        "* BYE [UNAVAILABLE] Too many connections from your address"
    );
    assert!(third.closed().await, "the connection stayed open");
}

async fn silence_ends_a_session_and_idle_keeps_it(backend: Backend) {
    const TIMEOUT: Duration = Duration::from_secs(10);
    let Some(p) = Province::start_with(backend, |c| {
        c.imap.idle_timeout_seconds = TIMEOUT.as_secs();
    })
    .await
    else {
        return;
    };
    let started = Instant::now();
    let silent = async {
        let (mut imap, _) = selected(&p, ANNV, "INBOX").await;
        let heard = imap.listen(TIMEOUT * 2).await;
        let at = started.elapsed();
        (heard, at, imap.closed().await)
    };
    // A NOOP just before the timeout restarts it.
    let chatty = async {
        let mut imap = logged_in(&p, NHUNG).await;
        tokio::time::sleep(TIMEOUT - Duration::from_secs(2)).await;
        let first = imap.command("a", "NOOP").await;
        tokio::time::sleep(TIMEOUT - Duration::from_secs(2)).await;
        (first, imap.command("b", "NOOP").await)
    };
    // IDLE keeps a session open past the timeout: the client is waiting, not gone.
    let idling = async {
        let (mut imap, _) = selected(&p, DAYHOP, "INBOX").await;
        imap.send(b"i IDLE\r\n").await;
        let invited = imap.read_line().await;
        let heard = imap.listen(TIMEOUT + Duration::from_secs(3)).await;
        imap.send(b"DONE\r\n").await;
        let done = imap.read_line().await;
        (invited, heard, done)
    };
    let ((heard, at, closed), (first, second), (invited, idle_heard, done)) =
        tokio::join!(silent, chatty, idling);

    assert_eq!(
        heard,
        Heard::Line("* BYE Idle for too long, closing".into())
    );
    assert!(
        at >= TIMEOUT - Duration::from_millis(500) && at < TIMEOUT + Duration::from_secs(5),
        "closed after {at:?}"
    );
    assert!(closed, "the connection stayed open after BYE");
    assert_eq!(first, ["a OK Completed"]);
    assert_eq!(second, ["b OK Completed"]);
    assert_eq!(invited.as_deref(), Some("+ idling"));
    assert_eq!(idle_heard, Heard::Nothing);
    assert_eq!(done.as_deref(), Some("i OK Completed"));
}

async fn bad_commands_end_the_session_at_the_limit(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.imap.max_errors = 3).await else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    assert_eq!(
        imap.command("a", "FROBNICATE").await,
        ["a BAD Could not parse the command"]
    );
    assert_eq!(
        imap.command("b", "FETCH 1 FLAGS").await,
        ["b BAD Command not valid in this state"]
    );
    // Good commands in between do not wipe the count.
    assert_eq!(imap.command("c", "NOOP").await, ["c OK Completed"]);
    imap.send(b"d FROBNICATE\r\n").await;
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("d BAD Could not parse the command")
    );
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("* BYE Too many errors, closing")
    );
    assert!(imap.closed().await, "the connection stayed open");
}

async fn failed_logins_end_the_session_and_lock_the_account_everywhere(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| {
        c.imap.max_auth_failures = 2;
        c.auth.lockout_failures = 3;
    })
    .await
    else {
        return;
    };
    let failed = "NO [AUTHENTICATIONFAILED] Authentication failed";
    let imaps = p.addr(ListenerKind::Imaps);
    // Just under the session's limit: one failure, then the right password.
    let (mut imap, _) = RawImap::connect_tls(imaps, &p.db).await;
    let wrong = |login: &str| format!("LOGIN {login} sai-mat-khau");
    assert_eq!(
        imap.command("a", &wrong(NHUNG.0)).await,
        [format!("a {failed}")]
    );
    let right = imap
        .command("b", &format!("LOGIN {} {}", NHUNG.0, NHUNG.1))
        .await;
    assert_eq!(
        right,
        [format!(
            "b OK [CAPABILITY IMAP4REV1 {COMMON_CAPABILITIES}] Logged in"
        )]
    );

    // At the limit: the second failure is answered, then BYE and close.
    let (mut imap, _) = RawImap::connect_tls(imaps, &p.db).await;
    assert_eq!(
        imap.command("c", &wrong(ANNV.0)).await,
        [format!("c {failed}")]
    );
    imap.send(format!("d {}\r\n", wrong(ANNV.0)).as_bytes())
        .await;
    assert_eq!(imap.read_line().await, Some(format!("d {failed}")));
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("* BYE Too many failed logins, closing")
    );
    assert!(imap.closed().await, "the connection stayed open");

    // A third failure in another session locks An out, shared with SMTP.
    let (mut imap, _) = RawImap::connect_tls(imaps, &p.db).await;
    assert_eq!(
        imap.command("e", &wrong(ANNV.0)).await,
        [format!("e {failed}")]
    );
    let (mut imap, _) = RawImap::connect_tls(imaps, &p.db).await;
    assert_eq!(
        imap.command("f", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
            .await,
        [format!("f {failed}")]
    );
    let mut smtp = p.submission_tls().await;
    assert_eq!(
        smtp.command(&auth_plain(ANNV.0, ANNV.1)).await.line(),
        "535 5.7.8 Authentication credentials invalid"
    );
    // Others are not affected.
    assert_eq!(
        smtp.command(&auth_plain(NHUNG.0, NHUNG.1)).await.line(),
        "235 2.7.0 Authentication successful"
    );
}

async fn commands_pipelined_behind_starttls_are_dropped(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut imap, _) = RawImap::connect(p.addr(ListenerKind::Imap)).await;
    imap.send(b"a STARTTLS\r\nb CAPABILITY\r\n").await;
    assert_eq!(
        imap.until_tagged("a").await,
        ["a OK Begin TLS negotiation now"]
    );
    imap.upgrade_tls(&p.db).await;
    // RFC 3501 §6.2.1: what came in plaintext after STARTTLS is never answered.
    assert_eq!(imap.listen(Duration::from_secs(2)).await, Heard::Nothing);
    assert_eq!(
        imap.command("c", "CAPABILITY").await,
        [
            format!("* CAPABILITY IMAP4REV1 AUTH=PLAIN SASL-IR {COMMON_CAPABILITIES}"),
            "c OK Completed".into()
        ]
    );

    // An injected LOGIN does not log the session in either.
    let (mut imap, _) = RawImap::connect(p.addr(ListenerKind::Imap)).await;
    imap.send(format!("d STARTTLS\r\ne LOGIN {} {}\r\n", ANNV.0, ANNV.1).as_bytes())
        .await;
    assert_eq!(
        imap.until_tagged("d").await,
        ["d OK Begin TLS negotiation now"]
    );
    imap.upgrade_tls(&p.db).await;
    assert_eq!(
        imap.command("f", "SELECT INBOX").await,
        ["f BAD Command not valid in this state"]
    );
}

async fn append_and_copy_over_quota_are_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let quota = SMALL_QUOTA as usize;
    let (mut imap, _) = selected(&p, DAYHOP, "INBOX").await;
    let validity = mailbox(&p, DAYHOP.0, "INBOX").await.uidvalidity;
    // Up to the quota exactly: taken.
    let lines = append(&mut imap, "a", "INBOX", "", &message_of(quota / 2)).await;
    assert_eq!(
        lines.last().unwrap(),
        &format!("a OK [APPENDUID {validity} 1] Completed")
    );
    let lines = append(&mut imap, "b", "INBOX", "", &message_of(quota / 2)).await;
    assert_eq!(
        lines.last().unwrap(),
        &format!("b OK [APPENDUID {validity} 2] Completed")
    );
    // One byte over: refused (RFC 9208 §4.3), and nothing stored.
    let over = "NO [OVERQUOTA] Quota exceeded";
    assert_eq!(
        append(&mut imap, "c", "Drafts", "", b"x").await,
        [format!("c {over}")]
    );
    assert_eq!(
        imap.command("d", "COPY 1 Drafts").await,
        [format!("d {over}")]
    );
    assert!(super::messages(&p, DAYHOP.0, "Drafts").await.is_empty());
    // MOVE takes no more room, so it is allowed.
    let drafts = mailbox(&p, DAYHOP.0, "Drafts").await.uidvalidity;
    assert_eq!(
        imap.command("e", "MOVE 2 Drafts").await,
        [
            format!("* OK [COPYUID {drafts} 2 1] Completed"),
            "* 2 EXPUNGE".into(),
            "e OK Completed".into()
        ]
    );
    // Room made by expunging is room again.
    imap.command("f", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    imap.command("g", "EXPUNGE").await;
    let lines = append(&mut imap, "h", "INBOX", "", &message_of(quota / 2)).await;
    assert_eq!(
        lines.last().unwrap(),
        &format!("h OK [APPENDUID {validity} 3] Completed")
    );
}
