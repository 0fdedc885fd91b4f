//! The connection and the account (RFC 3501 §6.1–6.2 and the extensions for them): greeting
//! and capabilities before and after TLS, LOGINDISABLED on the STARTTLS port, LOGIN and
//! AUTHENTICATE PLAIN with and without SASL-IR (RFC 4959), refused credentials, NOOP,
//! LOGOUT, ID (RFC 2971), NAMESPACE (RFC 2342), ENABLE (RFC 5161), and BAD for unknown
//! commands and commands in the wrong state.

use base64::Engine;
use congvu::net::ListenerKind;
use congvu_tests::imap::RawImap;
use congvu_tests::Backend;

use super::fixture::{Province, ANNV, NHUNG, TUAN};
use super::{imap_tests, logged_in, COMMON_CAPABILITIES};

imap_tests!(
    capabilities_before_and_after_tls,
    login_needs_tls_on_the_starttls_port,
    implicit_tls_offers_login_at_once,
    authenticate_plain_with_and_without_initial_response,
    refused_credentials_answer_authenticationfailed,
    commands_valid_in_any_state,
    namespace_and_enable_after_login,
    unknown_and_misplaced_commands_are_bad,
);

/// The SASL PLAIN response for `login` and `password`, base64-encoded.
fn plain(login: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{login}\0{password}"))
}

async fn capabilities_before_and_after_tls(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut imap, greeting) = RawImap::connect(p.addr(ListenerKind::Imap)).await;
    let plaintext = format!("IMAP4REV1 STARTTLS LOGINDISABLED {COMMON_CAPABILITIES}");
    assert_eq!(
        greeting,
        format!("* OK [CAPABILITY {plaintext}] congvu IMAP ready")
    );
    assert_eq!(
        imap.command("a", "CAPABILITY").await,
        [format!("* CAPABILITY {plaintext}"), "a OK Completed".into()]
    );

    assert_eq!(
        imap.starttls("b", &p.db).await,
        ["b OK Begin TLS negotiation now"]
    );
    assert!(imap.is_tls());
    // RFC 3501 §6.2.1: the client must ask again; STARTTLS and LOGINDISABLED are gone,
    // AUTH=PLAIN and SASL-IR offered.
    assert_eq!(
        imap.command("c", "CAPABILITY").await,
        [
            format!("* CAPABILITY IMAP4REV1 AUTH=PLAIN SASL-IR {COMMON_CAPABILITIES}"),
            "c OK Completed".into()
        ]
    );
    assert_eq!(
        imap.command("d", "STARTTLS").await,
        ["d BAD TLS is already active"]
    );

    // Once logged in, no authentication mechanisms are offered any more.
    let login = imap
        .command("e", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
        .await;
    assert_eq!(
        login,
        [format!(
            "e OK [CAPABILITY IMAP4REV1 {COMMON_CAPABILITIES}] Logged in"
        )]
    );
    assert_eq!(
        imap.command("f", "CAPABILITY").await,
        [
            format!("* CAPABILITY IMAP4REV1 {COMMON_CAPABILITIES}"),
            "f OK Completed".into()
        ]
    );
}

async fn login_needs_tls_on_the_starttls_port(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut imap, _) = RawImap::connect(p.addr(ListenerKind::Imap)).await;
    let refused = "NO [PRIVACYREQUIRED] Use STARTTLS (or port 993) before logging in";
    assert_eq!(
        imap.command("a", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
            .await,
        [format!("a {refused}")]
    );
    assert_eq!(
        imap.command(
            "b",
            &format!("AUTHENTICATE PLAIN {}", plain(ANNV.0, ANNV.1))
        )
        .await,
        [format!("b {refused}")]
    );
    // Still not logged in: SELECT is refused as out of state.
    assert_eq!(
        imap.command("c", "SELECT INBOX").await,
        ["c BAD Command not valid in this state"]
    );

    imap.starttls("d", &p.db).await;
    assert_eq!(
        imap.command("e", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
            .await,
        [format!(
            "e OK [CAPABILITY IMAP4REV1 {COMMON_CAPABILITIES}] Logged in"
        )]
    );
    let selected = imap.command("f", "SELECT INBOX").await;
    assert_eq!(
        selected.last().unwrap(),
        "f OK [READ-WRITE] Mailbox selected"
    );
}

async fn implicit_tls_offers_login_at_once(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut imap, greeting) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
    assert_eq!(
        greeting,
        format!(
            "* OK [CAPABILITY IMAP4REV1 AUTH=PLAIN SASL-IR {COMMON_CAPABILITIES}] congvu IMAP ready"
        )
    );
    assert_eq!(
        imap.command("a", "STARTTLS").await,
        ["a BAD TLS is already active"]
    );
    // Quoted strings are as good as atoms.
    assert_eq!(
        imap.command("b", &format!("LOGIN \"{}\" \"{}\"", NHUNG.0, NHUNG.1))
            .await,
        [format!(
            "b OK [CAPABILITY IMAP4REV1 {COMMON_CAPABILITIES}] Logged in"
        )]
    );
    // The async-imap client logs in the same way.
    let mut session =
        congvu_tests::imap::login_session(p.addr(ListenerKind::Imaps), &p.db, ANNV.0, ANNV.1).await;
    let inbox = session.select("INBOX").await.unwrap();
    assert_eq!(inbox.exists, 0);
    session.logout().await.unwrap();
}

async fn authenticate_plain_with_and_without_initial_response(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let logged_in = format!("OK [CAPABILITY IMAP4REV1 {COMMON_CAPABILITIES}] Logged in");

    // SASL-IR (RFC 4959): the response on the command line.
    let (mut imap, _) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
    assert_eq!(
        imap.command(
            "a",
            &format!("AUTHENTICATE PLAIN {}", plain(ANNV.0, ANNV.1))
        )
        .await,
        [format!("a {logged_in}")]
    );
    assert_eq!(
        imap.command(
            "b",
            &format!("AUTHENTICATE PLAIN {}", plain(ANNV.0, ANNV.1))
        )
        .await,
        ["b BAD Command not valid in this state"]
    );

    // Without it: an empty challenge, then the response on its own line.
    let (mut imap, _) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
    imap.send(b"c AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(imap.read_line().await.as_deref(), Some("+ "));
    imap.send(format!("{}\r\n", plain(NHUNG.0, NHUNG.1)).as_bytes())
        .await;
    assert_eq!(imap.until_tagged("c").await, [format!("c {logged_in}")]);

    // RFC 3501 §6.2.2: `*` cancels the exchange, answered with BAD.
    let (mut imap, _) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
    imap.send(b"d AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(imap.read_line().await.as_deref(), Some("+ "));
    imap.send(b"*\r\n").await;
    assert_eq!(
        imap.until_tagged("d").await,
        ["d BAD Authentication cancelled"]
    );
    assert_eq!(
        imap.command("e", "AUTHENTICATE CRAM-MD5").await,
        ["e NO Unsupported authentication mechanism"]
    );
    // The session is still usable after both.
    assert_eq!(
        imap.command(
            "f",
            &format!("AUTHENTICATE PLAIN {}", plain(ANNV.0, ANNV.1))
        )
        .await,
        [format!("f {logged_in}")]
    );
}

async fn refused_credentials_answer_authenticationfailed(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let failed = "NO [AUTHENTICATIONFAILED] Authentication failed";
    // A wrong password, an unknown login and a disabled official read the same.
    let (mut imap, _) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
    assert_eq!(
        imap.command("a", &format!("LOGIN {} sai-mat-khau", ANNV.0))
            .await,
        [format!("a {failed}")]
    );
    assert_eq!(
        imap.command(
            "b",
            &format!("AUTHENTICATE PLAIN {}", plain("khongco", "x"))
        )
        .await,
        [format!("b {failed}")]
    );
    let (mut other, _) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
    assert_eq!(
        other
            .command("c", &format!("LOGIN {} {}", TUAN.0, TUAN.1))
            .await,
        [format!("c {failed}")]
    );
    // A malformed PLAIN response is a failed login too, not a crash.
    assert_eq!(
        other.command("d", "AUTHENTICATE PLAIN AAAA").await,
        [format!("d {failed}")]
    );
    // Two failures stay under the session's limit: the right password still works.
    assert_eq!(
        imap.command("e", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
            .await,
        [format!(
            "e OK [CAPABILITY IMAP4REV1 {COMMON_CAPABILITIES}] Logged in"
        )]
    );
}

async fn commands_valid_in_any_state(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut imap, _) = RawImap::connect(p.addr(ListenerKind::Imap)).await;
    assert_eq!(imap.command("a", "NOOP").await, ["a OK Completed"]);
    let id = "* ID (\"name\" \"congvu\" \"vendor\" \"congvu\")";
    assert_eq!(
        imap.command("b", "ID (\"name\" \"Thunderbird\" \"version\" \"128.5\")")
            .await,
        [id, "b OK Completed"]
    );
    assert_eq!(imap.command("c", "ID NIL").await, [id, "c OK Completed"]);
    assert_eq!(
        imap.command("d", "LOGOUT").await,
        ["* BYE Logging out", "d OK Completed"]
    );
    assert!(imap.closed().await, "the server kept the connection open");

    // LOGOUT from the selected state too.
    let (mut imap, _) = super::selected(&p, ANNV, "INBOX").await;
    assert_eq!(imap.command("e", "NOOP").await, ["e OK Completed"]);
    assert_eq!(imap.command("f", "ID NIL").await, [id, "f OK Completed"]);
    assert_eq!(
        imap.command("g", "LOGOUT").await,
        ["* BYE Logging out", "g OK Completed"]
    );
    assert!(imap.closed().await, "the server kept the connection open");
}

async fn namespace_and_enable_after_login(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    // One personal namespace with no prefix and `/` as the separator; no others.
    assert_eq!(
        imap.command("a", "NAMESPACE").await,
        ["* NAMESPACE ((\"\" \"/\")) NIL NIL", "a OK Completed"]
    );
    // ENABLE turns on what is offered and names it; the rest it leaves out (RFC 5161 §3.1).
    assert_eq!(
        imap.command("b", "ENABLE CONDSTORE").await,
        ["* ENABLED CONDSTORE", "b OK Completed"]
    );
    assert_eq!(
        imap.command("c", "ENABLE UTF8=ACCEPT").await,
        ["* ENABLED", "c OK Completed"]
    );
}

async fn unknown_and_misplaced_commands_are_bad(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let wrong_state = "BAD Command not valid in this state";
    let (mut imap, _) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
    assert_eq!(
        imap.command("a", "FROBNICATE").await,
        ["a BAD Could not parse the command"]
    );
    // Not authenticated: authenticated-state commands are refused.
    for (tag, command) in [
        ("b", "SELECT INBOX"),
        ("c", "LIST \"\" \"*\""),
        ("d", "NAMESPACE"),
        ("e", "ENABLE CONDSTORE"),
        ("f", "STATUS INBOX (MESSAGES)"),
    ] {
        assert_eq!(
            imap.command(tag, command).await,
            [format!("{tag} {wrong_state}")],
            "{command}"
        );
    }
    assert_eq!(
        imap.command("g", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
            .await,
        [format!(
            "g OK [CAPABILITY IMAP4REV1 {COMMON_CAPABILITIES}] Logged in"
        )]
    );
    // Authenticated, nothing selected: selected-state commands are refused.
    for (tag, command) in [
        ("h", "FETCH 1 FLAGS"),
        ("i", "STORE 1 +FLAGS (\\Seen)"),
        ("j", "SEARCH ALL"),
        ("k", "EXPUNGE"),
        ("l", "CLOSE"),
        ("m", "UNSELECT"),
        ("n", "COPY 1 Trash"),
        ("o", "UID MOVE 1 Trash"),
        ("p", &format!("LOGIN {} {}", ANNV.0, ANNV.1)),
    ] {
        assert_eq!(
            imap.command(tag, command).await,
            [format!("{tag} {wrong_state}")],
            "{command}"
        );
    }
    // A line with no tag at all earns an untagged BAD.
    imap.send(b"\r\n").await;
    assert_eq!(
        imap.read_line().await.as_deref(),
        Some("* BAD Could not parse the command")
    );
    assert_eq!(imap.command("q", "NOOP").await, ["q OK Completed"]);
}
