//! The first sign-in over IMAP, SMTP and LDAP: an initial password opens nothing but the
//! choice of a new one, names the portal where that choice is made, and after
//! `[auth] initial_password_days` opens nothing at all. IMAP and SMTP are spoken by hand over
//! implicit TLS; LDAP by the OpenLDAP tools (ldap-utils) and by `ldap3`; SMTP also by swaks.
//! The programs come from Debian packages that CI installs; a machine without them fails the
//! tests that need them and says so.

use std::path::PathBuf;

use congvu::mailstore::MailboxRole;
use congvu::net::ListenerKind;
use congvu::queue::Queue;
use congvu_tests::imap::RawImap;
use congvu_tests::ldap::{self, bind, who_am_i, Transport};
use congvu_tests::smtp::RawSmtp;
use congvu_tests::{server, Backend};
use ldap3::controls::RawControl;
use ldap3::exop::PasswordModify;
use ldap3::Scope;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::{Site, CHOSEN, PUBLIC_URL};
use crate::backend_tests;

backend_tests!(
    imap_login_with_the_initial_password_is_expired_and_authenticates_nothing,
    imap_authenticate_plain_with_the_initial_password_is_expired_and_authenticates_nothing,
    imap_login_with_a_chosen_password_succeeds,
    smtp_auth_with_the_initial_password_names_the_portal_and_sends_nothing,
    swaks_auth_with_the_initial_password_fails_with_535_naming_the_portal,
    ldapwhoami_binds_with_the_initial_password_and_shows_it_must_be_changed,
    ldapsearch_with_the_initial_password_is_unwilling_and_names_the_portal,
    ldappasswd_from_the_initial_password_sets_one_every_protocol_accepts,
    ldappasswd_refuses_a_weak_password_and_the_initial_one_stays_expired,
    an_ldap_connection_bound_with_the_initial_password_may_only_change_it,
    an_ldap_bind_asking_for_the_password_policy_gets_change_after_reset,
    an_initial_password_expires_after_fourteen_days_like_a_wrong_one,
    initial_password_days_sets_when_an_initial_password_expires,
    the_portal_takes_the_initial_password_to_choose_password_until_it_expires,
);

/// `annv`'s entry in the directory.
const ANNV_DN: &str = "uid=annv,ou=people,dc=vinhphuc,dc=gov,dc=vn";
const PEOPLE: &str = "ou=people,dc=vinhphuc,dc=gov,dc=vn";
/// A password `annv` may choose: long, not containing any part of the name or login.
const NEW: &str = "chè Tân Cương thơm ngát 2026";
const DAY: i64 = 86_400;

/// The refusal text IMAP and SMTP give a correct initial password.
fn must_change_text() -> String {
    format!("Password must be changed first: sign in at {PUBLIC_URL} to choose your own")
}

/// The LDAP bind's diagnostic for a correct initial password.
fn bind_notice() -> String {
    format!(
        "password must be changed: use Password Modify, or sign in at {PUBLIC_URL} to choose a new one"
    )
}

/// The LDAP diagnostic for any other operation on a connection bound with an initial password.
fn unwilling_notice() -> String {
    format!(
        "password must be changed first: use Password Modify, or sign in at {PUBLIC_URL} to choose a new one"
    )
}

// ---------------------------------------------------------------------------------------
// IMAP

/// A raw IMAP client on the implicit-TLS port, greeted.
async fn imap(site: &Site) -> RawImap {
    let (client, greeting) = RawImap::connect_tls(site.addr(ListenerKind::Imaps), &site.db).await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    client
}

/// `tag LOGIN` with the password as a LITERAL+ (RFC 7888), so spaces and UTF-8 travel as
/// they are; the tagged completion.
async fn imap_login_on(client: &mut RawImap, tag: &str, login: &str, password: &str) -> String {
    let line = format!("LOGIN {login} {{{}+}}\r\n{password}", password.len());
    client.command(tag, &line).await.pop().unwrap()
}

/// `a1 LOGIN` on a fresh connection; the tagged completion.
async fn imap_login(site: &Site, login: &str, password: &str) -> String {
    imap_login_on(&mut imap(site).await, "a1", login, password).await
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn imap_login_with_the_initial_password_is_expired_and_authenticates_nothing(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut client = imap(&site).await;
    assert_eq!(
        imap_login_on(&mut client, "a1", "annv", &site.initial).await,
        format!("a1 NO [EXPIRED] {}", must_change_text())
    );
    assert_eq!(
        client.command("a2", "SELECT INBOX").await,
        ["a2 BAD Command not valid in this state"]
    );
}

async fn imap_authenticate_plain_with_the_initial_password_is_expired_and_authenticates_nothing(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut client = imap(&site).await;
    let response = format!("\0annv\0{}", site.initial);
    assert_eq!(
        client
            .command("a1", &format!("AUTHENTICATE PLAIN {}", b64(&response)))
            .await,
        [format!("a1 NO [EXPIRED] {}", must_change_text())]
    );
    assert_eq!(
        client.command("a2", "SELECT INBOX").await,
        ["a2 BAD Command not valid in this state"]
    );
}

async fn imap_login_with_a_chosen_password_succeeds(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut client = imap(&site).await;
    let done = imap_login_on(&mut client, "a1", "vanlt", CHOSEN).await;
    assert!(done.starts_with("a1 OK [CAPABILITY "), "{done}");
    assert!(done.ends_with("] Logged in"), "{done}");
    let selected = client.command("a2", "SELECT INBOX").await;
    assert_eq!(
        selected.last().unwrap(),
        "a2 OK [READ-WRITE] Mailbox selected",
        "{selected:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// SMTP

/// A raw submission session on the implicit-TLS port, greeted and after EHLO.
async fn submission(site: &Site) -> RawSmtp<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(site.addr(ListenerKind::Submissions))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("mail.vinhphuc.gov.vn").unwrap();
    let tls = server::tls_connector(&site.db)
        .connect(name, tcp)
        .await
        .unwrap();
    let mut smtp = RawSmtp::over(tls);
    assert_eq!(smtp.reply().await.expect("no greeting").code, 220);
    assert_eq!(smtp.command("EHLO laptop").await.code, 250);
    smtp
}

/// `AUTH PLAIN` with an initial response; the reply line.
async fn smtp_auth(site: &Site, login: &str, password: &str) -> String {
    let mut smtp = submission(site).await;
    let line = format!("AUTH PLAIN {}", b64(&format!("\0{login}\0{password}")));
    smtp.command(&line).await.line()
}

/// How many messages `login`'s INBOX holds.
async fn inbox_len(site: &Site, login: &str) -> usize {
    let services = site.server.services();
    let official = site.directory().official(login).await.unwrap();
    let mailboxes = services.mailstore.mailboxes(official.id).await.unwrap();
    let inbox = mailboxes
        .iter()
        .find(|m| m.role == Some(MailboxRole::Inbox))
        .unwrap();
    services.mailstore.messages(inbox.id).await.unwrap().len()
}

/// How many entries the outbound queue holds.
async fn queued(site: &Site) -> usize {
    let services = site.server.services();
    Queue::new(services.store.clone(), site.clock.clone())
        .entries()
        .await
        .unwrap()
        .len()
}

async fn smtp_auth_with_the_initial_password_names_the_portal_and_sends_nothing(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut smtp = submission(&site).await;
    let auth = format!("AUTH PLAIN {}", b64(&format!("\0annv\0{}", site.initial)));
    assert_eq!(
        smtp.command(&auth).await.line(),
        format!("535 5.7.8 {}", must_change_text())
    );
    // The whole transaction, to a local and a remote recipient, as if AUTH had worked.
    let mut replies = Vec::new();
    for line in [
        "MAIL FROM:<annv@vinhphuc.gov.vn>",
        "RCPT TO:<vanlt@vinhphuc.gov.vn>",
        "RCPT TO:<partner@example.org>",
        "DATA",
    ] {
        replies.push(smtp.command(line).await.line());
    }
    assert_eq!(
        replies,
        [
            "530 5.7.0 Authentication required",
            "503 5.5.1 Send MAIL first",
            "503 5.5.1 Send MAIL first",
            "503 5.5.1 Send MAIL first",
        ]
    );
    assert_eq!(inbox_len(&site, "vanlt").await, 0);
    assert_eq!(queued(&site).await, 0);
}

/// The path of an installed program; fails the test with the Debian package to install.
fn program(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{name} is not installed: install {package} (Debian/Ubuntu: apt-get install {package}); CI installs it")
        })
}

/// How one run of a program ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exited with {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `program` with `args` in the test's own home directory (no user `.swaksrc` or
/// `.ldaprc`), accepting the server's self-signed certificate for the LDAP tools.
async fn run(site: &Site, program: PathBuf, args: &[&str]) -> Run {
    let home = site.db.dir.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(&program)
            .args(&args)
            .env("HOME", &home)
            .env("LDAPTLS_REQCERT", "never")
            .env_remove("LDAPURI")
            .env_remove("LDAPBASE")
            .env_remove("LDAPBINDDN")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

async fn swaks_auth_with_the_initial_password_fails_with_535_naming_the_portal(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let addr = site.addr(ListenerKind::Submissions);
    let done = run(
        &site,
        program("swaks", "swaks libnet-ssleay-perl"),
        &[
            "--server",
            &addr.ip().to_string(),
            "--port",
            &addr.port().to_string(),
            "--timeout",
            "30",
            "--tls-on-connect",
            "--auth",
            "PLAIN",
            "--auth-user",
            "annv",
            "--auth-password",
            &site.initial,
            "--from",
            "annv@vinhphuc.gov.vn",
            "--to",
            "vanlt@vinhphuc.gov.vn",
        ],
    )
    .await;
    // 28: swaks's "AUTH failed"; it sends no MAIL after it.
    assert_eq!(done.code, Some(28), "{done}");
    assert!(
        done.stdout.contains(&format!(
            "\n ~> AUTH PLAIN {}\n<~* 535 5.7.8 {}\n ~> QUIT\n",
            b64(&format!("\0annv\0{}", site.initial)),
            must_change_text()
        )),
        "{done}"
    );
    assert_eq!(
        done.stderr, "*** No authentication type succeeded\n",
        "{done}"
    );
    assert_eq!(inbox_len(&site, "vanlt").await, 0);
    assert_eq!(queued(&site).await, 0);
}

// ---------------------------------------------------------------------------------------
// LDAP with the OpenLDAP tools

fn ldaps_url(site: &Site) -> String {
    format!("ldaps://{}", site.addr(ListenerKind::Ldaps))
}

async fn ldap_tool(site: &Site, name: &str, args: &[&str]) -> Run {
    run(site, program(name, "ldap-utils"), args).await
}

/// `ldapsearch` for `annv`'s entry, bound as `annv` with `password`.
async fn ldapsearch_as_annv(site: &Site, password: &str) -> Run {
    let url = ldaps_url(site);
    ldap_tool(
        site,
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-H",
            &url,
            "-D",
            "annv",
            "-w",
            password,
            "-b",
            PEOPLE,
            "(uid=annv)",
            "uid",
        ],
    )
    .await
}

/// `ldappasswd` changing `annv`'s own password from `old` to `new`, bound with `old`.
async fn ldappasswd(site: &Site, old: &str, new: &str) -> Run {
    let url = ldaps_url(site);
    ldap_tool(
        site,
        "ldappasswd",
        &[
            "-x", "-H", &url, "-D", "annv", "-w", old, "-a", old, "-s", new,
        ],
    )
    .await
}

async fn ldapwhoami_binds_with_the_initial_password_and_shows_it_must_be_changed(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let url = ldaps_url(&site);
    let done = ldap_tool(
        &site,
        "ldapwhoami",
        &[
            "-e",
            "ppolicy",
            "-x",
            "-H",
            &url,
            "-D",
            "annv",
            "-w",
            &site.initial,
        ],
    )
    .await;
    assert_eq!(done.code, Some(0), "{done}");
    assert_eq!(done.stdout, format!("dn:{ANNV_DN}\n"), "{done}");
    // "; Password must be changed" is ldapwhoami's reading of the ppolicy response control
    // (changeAfterReset); the additional info is the bind's diagnostic.
    assert_eq!(
        done.stderr,
        format!(
            "ldap_bind: Success (0); Password must be changed\n\tadditional info: {}\n",
            bind_notice()
        ),
        "{done}"
    );
}

async fn ldapsearch_with_the_initial_password_is_unwilling_and_names_the_portal(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let done = ldapsearch_as_annv(&site, &site.initial).await;
    assert_eq!(done.code, Some(53), "{done}");
    assert_eq!(done.stdout, "", "{done}");
    assert_eq!(
        done.stderr,
        format!(
            "ldap_bind: Success (0)\n\tadditional info: {}\n\
             Server is unwilling to perform (53)\n\
             Additional information: {}\n",
            bind_notice(),
            unwilling_notice()
        ),
        "{done}"
    );
}

async fn ldappasswd_from_the_initial_password_sets_one_every_protocol_accepts(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let changed = ldappasswd(&site, &site.initial, NEW).await;
    assert_eq!(changed.code, Some(0), "{changed}");
    assert_eq!(changed.stdout, "", "no password was generated: {changed}");

    let done = imap_login(&site, "annv", NEW).await;
    assert!(done.starts_with("a1 OK [CAPABILITY "), "{done}");
    assert_eq!(
        imap_login(&site, "annv", &site.initial).await,
        "a1 NO [AUTHENTICATIONFAILED] Authentication failed"
    );
    let found = ldapsearch_as_annv(&site, NEW).await;
    assert_eq!(found.code, Some(0), "{found}");
    assert_eq!(
        found.stdout,
        format!("dn: {ANNV_DN}\nuid: annv\n\n"),
        "{found}"
    );
}

async fn ldappasswd_refuses_a_weak_password_and_the_initial_one_stays_expired(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let refused = ldappasswd(&site, &site.initial, "password123").await;
    // ldappasswd exits 1 for any LDAP error and prints the result code.
    assert_eq!(refused.code, Some(1), "{refused}");
    assert_eq!(
        refused.stdout,
        "Result: Constraint violation (19)\n\
         Additional info: the password is too easy to guess (strength 0 of 4, at least 3 \
         needed): use a longer phrase of unrelated words\n",
        "{refused}"
    );
    assert_eq!(
        imap_login(&site, "annv", &site.initial).await,
        format!("a1 NO [EXPIRED] {}", must_change_text())
    );
}

// ---------------------------------------------------------------------------------------
// LDAP with ldap3

/// An `ldap3` search for `annv`'s entry; the result code and diagnostic.
async fn search_annv(client: &mut ldap3::Ldap) -> (usize, u32, String) {
    let (entries, result) =
        ldap::search(client, PEOPLE, Scope::Subtree, "(uid=annv)", &["uid"]).await;
    (entries.len(), result.rc, result.text)
}

async fn an_ldap_connection_bound_with_the_initial_password_may_only_change_it(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut client = ldap::connect(site.addr(ListenerKind::Ldaps), Transport::Ldaps).await;
    let bound = bind(&mut client, ANNV_DN, &site.initial).await;
    assert_eq!((bound.rc, bound.text.as_str()), (0, bind_notice().as_str()));
    assert_eq!(search_annv(&mut client).await, (0, 53, unwilling_notice()));
    assert_eq!(who_am_i(&mut client).await, format!("dn:{ANNV_DN}"));

    let changed = client
        .extended(PasswordModify {
            user_id: None,
            old_pass: Some(&site.initial),
            new_pass: Some(NEW),
        })
        .await
        .unwrap()
        .1;
    assert_eq!(changed.rc, 0, "{changed}");
    assert_eq!(search_annv(&mut client).await, (1, 0, String::new()));
}

/// The password policy request control (draft-behera-ldap-password-policy §6.1).
const PPOLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

async fn an_ldap_bind_asking_for_the_password_policy_gets_change_after_reset(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut client = ldap::connect(site.addr(ListenerKind::Ldaps), Transport::Ldaps).await;
    let asked = client
        .with_controls(vec![RawControl {
            ctype: PPOLICY.into(),
            crit: false,
            val: None,
        }])
        .simple_bind(ANNV_DN, &site.initial)
        .await
        .unwrap();
    assert_eq!(asked.rc, 0, "{asked}");
    let controls: Vec<(String, Option<Vec<u8>>)> = asked
        .ctrls
        .iter()
        .map(|c| (c.1.ctype.clone(), c.1.val.clone()))
        .collect();
    // SEQUENCE { error [1] ENUMERATED changeAfterReset(2) }
    assert_eq!(
        controls,
        [(
            PPOLICY.to_string(),
            Some(vec![0x30, 0x03, 0x81, 0x01, 0x02])
        )]
    );
    // Not asked, not sent.
    let plain = bind(&mut client, ANNV_DN, &site.initial).await;
    assert_eq!(plain.rc, 0, "{plain}");
    assert!(plain.ctrls.is_empty(), "{plain:?}");
}

// ---------------------------------------------------------------------------------------
// Expiry

/// The LDAP bind result code and diagnostic for `annv` with `password`.
async fn ldap_bind_annv(site: &Site, password: &str) -> (u32, String) {
    let mut client = ldap::connect(site.addr(ListenerKind::Ldaps), Transport::Ldaps).await;
    let result = bind(&mut client, ANNV_DN, password).await;
    (result.rc, result.text)
}

async fn an_initial_password_expires_after_fourteen_days_like_a_wrong_one(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    site.clock.advance(14 * DAY - 1);
    let expired = format!("a1 NO [EXPIRED] {}", must_change_text());
    assert_eq!(imap_login(&site, "annv", &site.initial).await, expired);
    assert_eq!(
        smtp_auth(&site, "annv", &site.initial).await,
        format!("535 5.7.8 {}", must_change_text())
    );
    assert_eq!(
        ldap_bind_annv(&site, &site.initial).await,
        (0, bind_notice())
    );

    site.clock.advance(1);
    let wrong = "a1 NO [AUTHENTICATIONFAILED] Authentication failed";
    assert_eq!(imap_login(&site, "annv", "not-the-password").await, wrong);
    assert_eq!(imap_login(&site, "annv", &site.initial).await, wrong);
    assert_eq!(
        smtp_auth(&site, "annv", &site.initial).await,
        "535 5.7.8 Authentication credentials invalid"
    );
    assert_eq!(
        ldap_bind_annv(&site, &site.initial).await,
        (49, "invalid credentials".to_string())
    );
}

async fn initial_password_days_sets_when_an_initial_password_expires(backend: Backend) {
    let Some(site) = Site::start_with(backend, |c| c.auth.initial_password_days = 2).await else {
        return;
    };
    site.clock.advance(2 * DAY - 1);
    assert_eq!(
        imap_login(&site, "annv", &site.initial).await,
        format!("a1 NO [EXPIRED] {}", must_change_text())
    );
    site.clock.advance(1);
    assert_eq!(
        imap_login(&site, "annv", &site.initial).await,
        "a1 NO [AUTHENTICATIONFAILED] Authentication failed"
    );
}

// ---------------------------------------------------------------------------------------
// The portal

/// GET `/` then POST `/sign-in` as `annv` with `password`, carrying the anonymous CSRF
/// token and its cookie; the response, redirects not followed.
async fn portal_sign_in(site: &Site, password: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(site.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("congvu_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("no congvu_csrf cookie")
        .to_string();
    let html = page.text().await.unwrap();
    let csrf = html
        .split_once(r#"name="csrf" value=""#)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(value, _)| value.to_string())
        .expect("no csrf field on the sign-in page");
    client
        .post(site.url("/sign-in"))
        .header(reqwest::header::COOKIE, format!("congvu_csrf={cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", "annv"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

async fn the_portal_takes_the_initial_password_to_choose_password_until_it_expires(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let signed_in = portal_sign_in(&site, &site.initial).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(
        signed_in.headers().get(reqwest::header::LOCATION).unwrap(),
        "/choose-password"
    );
    assert!(opens_a_session(&signed_in), "{:?}", signed_in.headers());
    site.clock.advance(14 * DAY);
    let refused = portal_sign_in(&site, &site.initial).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get(reqwest::header::LOCATION).is_none());
    assert!(!opens_a_session(&refused), "{:?}", refused.headers());
}

/// Whether a response sets the portal's session cookie.
fn opens_a_session(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(b"congvu_session="))
}
