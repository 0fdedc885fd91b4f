//! ManageSieve (RFC 5804): a real client, `sieve-connect`, checks, uploads, lists, activates,
//! downloads and deletes an official's script over STARTTLS, and mail delivered over SMTP
//! then lands where the uploaded script says; and, in raw exchanges, what the protocol
//! refuses and how: authentication before TLS, initial passwords, wrong passwords, scripts
//! too large, too deeply nested or not valid, too many scripts, names taken or missing,
//! unknown commands, with the session going on or closing as it should.

use std::path::PathBuf;

use base64::Engine;
use congvu::directory::{Actor, Argon2Cost, PasswordCost, PasswordHasher, StoredPassword};
use congvu::net::ListenerKind;
use congvu_tests::sieve_connect::{self, Account};
use congvu_tests::Backend;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::fixture::{message, send, Province, Who, ANNV, HOSTNAME, NHUNG, VAN};
use super::smtp_tests;

smtp_tests!(
    sieve_connect_manages_scripts_and_delivery_follows_them,
    authentication_needs_tls_a_changed_password_and_few_failures,
    scripts_are_refused_with_their_reason_and_the_session_goes_on,
    names_and_the_active_script_follow_the_rules,
    a_connection_past_the_limit_hears_why,
);

/// The server's self-signed certificate, which the clients trust.
fn certificate(p: &Province) -> PathBuf {
    p.db.dir.path().join("data/tls/self-signed-cert.pem")
}

fn account<'a>(p: &Province, certificate: &'a std::path::Path, who: Who) -> Account<'a> {
    Account {
        addr: p.addr(ListenerKind::ManageSieve),
        hostname: HOSTNAME,
        certificate,
        user: who.0,
        password: who.1,
    }
}

const RULES: &str = "require [\"fileinto\", \"mailbox\"];\r\n\
# Công văn từ Văn phòng UBND vào thư mục riêng\r\n\
if header :contains \"Subject\" \"Công văn\" {\r\n\
  fileinto :create \"Công văn đến\";\r\n\
}\r\n";

async fn sieve_connect_manages_scripts_and_delivery_follows_them(backend: Backend) {
    sieve_connect::require();
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let dir = p.db.dir.path().to_path_buf();
    let certificate = certificate(&p);
    let annv = account(&p, &certificate, ANNV);
    std::fs::write(dir.join("rules.sieve"), RULES).unwrap();
    std::fs::write(
        dir.join("broken.sieve"),
        "require \"fileinto\";\nfileinto \"x\"\nkeep;\n",
    )
    .unwrap();

    let check = sieve_connect::run(
        annv,
        &dir,
        &["--checkscript", "--localsieve", "broken.sieve"],
    );
    let check = check.await;
    assert!(!check.success, "{check:?}");
    assert!(
        check.stderr.contains("line 3"),
        "the error names its line: {check:?}"
    );
    let check = sieve_connect::run(
        annv,
        &dir,
        &["--checkscript", "--localsieve", "rules.sieve"],
    );
    let check = check.await;
    assert!(check.success, "{check:?}");

    let upload = [
        "--upload",
        "--localsieve",
        "rules.sieve",
        "--remotesieve",
        "Quy tắc",
    ];
    let uploaded = sieve_connect::run(annv, &dir, &upload).await;
    assert!(uploaded.success, "{uploaded:?}");
    let listed = sieve_connect::run(annv, &dir, &["--list"]).await;
    assert!(listed.success, "{listed:?}");
    assert_eq!(listed.stdout.trim(), "\"Quy tắc\"", "{listed:?}");
    let activated = sieve_connect::run(annv, &dir, &["--activate", "--remotesieve", "Quy tắc"]);
    assert!(activated.await.success);
    let listed = sieve_connect::run(annv, &dir, &["--list"]).await;
    assert_eq!(listed.stdout.trim(), "\"Quy tắc\" ACTIVE", "{listed:?}");

    let to = "annv@vinhphuc.gov.vn";
    let circular = message("vanphong@example.org", to, "Công văn số 118/UBND");
    let mut mx = p.mx().await;
    let replies = send(&mut mx, "vanphong@example.org", &[to], &circular).await;
    assert_eq!(replies.last().unwrap().code, 250);
    assert_eq!(p.folder(ANNV.0, "Công văn đến").await.len(), 1);

    let download = [
        "--download",
        "--remotesieve",
        "Quy tắc",
        "--localsieve",
        "back.sieve",
    ];
    assert!(sieve_connect::run(annv, &dir, &download).await.success);
    assert_eq!(
        std::fs::read_to_string(dir.join("back.sieve")).unwrap(),
        RULES
    );

    let delete = ["--delete", "--remotesieve", "Quy tắc"];
    let refused = sieve_connect::run(annv, &dir, &delete).await;
    assert!(
        !refused.success,
        "the active script is not deleted: {refused:?}"
    );
    assert!(
        sieve_connect::run(annv, &dir, &["--deactivate"])
            .await
            .success
    );
    assert!(sieve_connect::run(annv, &dir, &delete).await.success);
    let listed = sieve_connect::run(annv, &dir, &["--list"]).await;
    assert_eq!(listed.stdout.trim(), "", "{listed:?}");
    // Another official's scripts were never touched.
    let nhung = account(&p, &certificate, NHUNG);
    let theirs = sieve_connect::run(nhung, &dir, &["--list"]).await;
    assert!(
        theirs.success && theirs.stdout.trim().is_empty(),
        "{theirs:?}"
    );
}

/// A raw ManageSieve connection.
struct Raw<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    async fn send(&mut self, line: &[u8]) -> String {
        self.stream.get_mut().write_all(line).await.unwrap();
        self.stream.get_mut().write_all(b"\r\n").await.unwrap();
        self.response().await
    }

    /// Everything up to and including the next OK, NO or BYE, literals read whole; empty
    /// when the server has closed the connection.
    async fn response(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            if self.stream.read_until(b'\n', &mut line).await.unwrap() == 0 {
                return String::from_utf8_lossy(&out).into_owned();
            }
            out.extend_from_slice(&line);
            if let Some(length) = literal(&line) {
                let mut bytes = vec![0; length];
                self.stream.read_exact(&mut bytes).await.unwrap();
                out.extend_from_slice(&bytes);
                let mut rest = Vec::new();
                self.stream.read_until(b'\n', &mut rest).await.unwrap();
                out.extend_from_slice(&rest);
            }
            if line.starts_with(b"OK") || line.starts_with(b"NO") || line.starts_with(b"BYE") {
                return String::from_utf8_lossy(&out).into_owned();
            }
        }
    }

    /// Sends `line` and reads the one line that answers it (a SASL challenge).
    async fn challenge(&mut self, line: &[u8]) -> String {
        self.stream.get_mut().write_all(line).await.unwrap();
        self.stream.get_mut().write_all(b"\r\n").await.unwrap();
        let mut answer = Vec::new();
        self.stream.read_until(b'\n', &mut answer).await.unwrap();
        String::from_utf8(answer).unwrap()
    }

    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest).await.is_ok() && rest.is_empty()
    }
}

/// The length of the literal `{n}` ending `line`.
fn literal(line: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let open = text.rfind('{')?;
    text.strip_suffix('}')?[open + 1..].parse().ok()
}

type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A connection after the greeting, in plain text.
async fn connect(p: &Province) -> (Raw<tokio::net::TcpStream>, String) {
    let tcp = tokio::net::TcpStream::connect(p.addr(ListenerKind::ManageSieve))
        .await
        .unwrap();
    let mut raw = Raw {
        stream: BufReader::new(tcp),
    };
    let greeting = raw.response().await;
    (raw, greeting)
}

/// A connection after STARTTLS, with the capabilities sent over TLS.
async fn connect_tls(p: &Province) -> (Raw<TlsStream>, String) {
    let (mut raw, _) = connect(p).await;
    let go = raw.send(b"STARTTLS").await;
    assert_eq!(go, "OK \"Begin TLS negotiation now.\"\r\n");
    let tcp = raw.stream.into_inner();
    let name = rustls::pki_types::ServerName::try_from(HOSTNAME).unwrap();
    let tls = p.tls_connector().connect(name, tcp).await.unwrap();
    let mut raw = Raw {
        stream: BufReader::new(tls),
    };
    let capabilities = raw.response().await;
    (raw, capabilities)
}

fn plain(who: (&str, &str)) -> String {
    let token = format!("\0{}\0{}", who.0, who.1);
    let token = base64::engine::general_purpose::STANDARD.encode(token);
    format!("AUTHENTICATE \"PLAIN\" \"{token}\"")
}

/// A session signed in as `who`.
async fn signed_in(p: &Province, who: Who) -> Raw<TlsStream> {
    let (mut raw, _) = connect_tls(p).await;
    assert_eq!(
        raw.send(plain(who).as_bytes()).await,
        "OK \"Authenticated.\"\r\n"
    );
    raw
}

async fn authentication_needs_tls_a_changed_password_and_few_failures(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (mut raw, greeting) = connect(&p).await;
    assert!(
        greeting.starts_with("\"IMPLEMENTATION\" \"congvu\"\r\n"),
        "{greeting}"
    );
    assert!(
        greeting.contains("\"SASL\" \"\"\r\n"),
        "no mechanism before TLS: {greeting}"
    );
    assert!(greeting.contains("\"STARTTLS\"\r\n"), "{greeting}");
    assert!(
        greeting.contains("\"SIEVE\" \"fileinto mailbox envelope"),
        "{greeting}"
    );
    assert!(!greeting.contains("enotify"), "{greeting}");
    assert!(greeting.ends_with("\"VERSION\" \"1.0\"\r\nOK \"congvu ManageSieve ready.\"\r\n"));
    assert_eq!(
        raw.send(plain(ANNV).as_bytes()).await,
        "NO (ENCRYPT-NEEDED) \"Use STARTTLS before authenticating.\"\r\n"
    );
    assert_eq!(
        raw.send(b"LISTSCRIPTS").await,
        "NO \"Authenticate first.\"\r\n"
    );

    let (mut raw, capabilities) = connect_tls(&p).await;
    assert!(
        capabilities.contains("\"SASL\" \"PLAIN\"\r\n"),
        "{capabilities}"
    );
    assert!(!capabilities.contains("STARTTLS"), "{capabilities}");
    assert!(capabilities.ends_with("OK \"Done.\"\r\n"), "{capabilities}");
    assert_eq!(
        raw.send(b"STARTTLS").await,
        "NO \"TLS is already active.\"\r\n"
    );
    // An initial password opens only the portal.
    let hasher = PasswordHasher::new(Argon2Cost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    });
    let initial = StoredPassword {
        hash: hasher.hash("Khoi-tao-2026", PasswordCost::Initial).unwrap(),
        cost: PasswordCost::Initial,
        must_change: true,
    };
    let it = Actor::admin("it-snv");
    p.directory()
        .set_password(&it, NHUNG.0, initial)
        .await
        .unwrap();
    let refused = raw.send(plain((NHUNG.0, "Khoi-tao-2026")).as_bytes()).await;
    assert!(
        refused.starts_with("NO \"Choose a new password at https://"),
        "{refused}"
    );
    // A mechanism not offered, then the empty challenge and a cancel.
    let other = raw.send(b"AUTHENTICATE \"LOGIN\"").await;
    assert_eq!(other, "NO \"Only the PLAIN mechanism is offered.\"\r\n");
    assert_eq!(raw.challenge(b"AUTHENTICATE \"PLAIN\"").await, "\"\"\r\n");
    assert_eq!(
        raw.send(b"\"*\"").await,
        "NO \"Authentication cancelled.\"\r\n"
    );
    // Wrong passwords: the session closes at the third.
    for _ in 0..2 {
        let failed = raw.send(plain((VAN.0, "sai-mat-khau")).as_bytes()).await;
        assert_eq!(failed, "NO \"Authentication failed.\"\r\n");
    }
    let last = raw.send(plain((VAN.0, "sai-mat-khau")).as_bytes()).await;
    assert_eq!(last, "NO \"Authentication failed.\"\r\n");
    assert_eq!(
        raw.response().await,
        "BYE \"Too many failed authentications.\"\r\n"
    );
    assert!(raw.closed().await);

    let mut raw = signed_in(&p, ANNV).await;
    let capabilities = raw.send(b"CAPABILITY").await;
    assert!(
        capabilities.contains("\"OWNER\" \"annv\"\r\n"),
        "{capabilities}"
    );
    let again = raw.send(plain(ANNV).as_bytes()).await;
    assert_eq!(again, "NO \"Already authenticated.\"\r\n");
    assert_eq!(
        raw.send(b"UNAUTHENTICATE").await,
        "OK \"Unauthenticated.\"\r\n"
    );
    assert_eq!(
        raw.send(b"LISTSCRIPTS").await,
        "NO \"Authenticate first.\"\r\n"
    );
    assert_eq!(raw.send(b"LOGOUT").await, "OK \"Logout completed.\"\r\n");
    assert!(raw.closed().await);
}

async fn scripts_are_refused_with_their_reason_and_the_session_goes_on(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut raw = signed_in(&p, ANNV).await;
    let size = raw.send(b"HAVESPACE \"Quy t\xe1\xba\xafc\" 100000").await;
    assert!(
        size.starts_with("NO (QUOTA/MAXSIZE) \"The script is 100000 bytes;"),
        "{size}"
    );
    assert_eq!(
        raw.send(b"HAVESPACE \"x\" 2000").await,
        "OK \"Putscript would succeed.\"\r\n"
    );

    // Ten megabytes: read through, refused, and the session goes on.
    let mut huge = b"PUTSCRIPT \"huge\" {10485760+}\r\n".to_vec();
    huge.extend(std::iter::repeat_n(b'#', 10_485_760));
    let refused = raw.send(&huge).await;
    assert_eq!(
        refused,
        "NO (QUOTA/MAXSIZE) \"The script is larger than allowed.\"\r\n"
    );
    assert_eq!(
        raw.send(b"NOOP \"t1\"").await,
        "OK (TAG \"t1\") \"Done.\"\r\n"
    );

    // Nine thousand nested tests (ten thousand do not fit in the size limit), refused with
    // where.
    let depth = 9_000;
    let nested = format!(
        "if {}true{} {{ keep; }}\r\n",
        "allof(".repeat(depth),
        ")".repeat(depth)
    );
    let put = put_line("deep", &nested);
    let refused = raw.send(&put).await;
    assert!(refused.starts_with("NO \"line 1, column "), "{refused}");
    // A syntax error names its line and column.
    let broken = "require \"fileinto\";\r\nfileinto \"x\"\r\nkeep;\r\n";
    let refused = raw.send(&put_line("broken", broken)).await;
    assert!(refused.starts_with("NO \"line 3, column "), "{refused}");
    let check = raw.send(&check_line(broken)).await;
    assert_eq!(check, refused, "CHECKSCRIPT says the same");
    let notify = "require \"enotify\";\r\nnotify \"mailto:a@vinhphuc.gov.vn\";\r\n";
    let refused = raw.send(&put_line("notify", notify)).await;
    assert!(
        refused.starts_with("NO \"line 1, column 1: the extension \\\"enotify\\\" is not offered"),
        "{refused}"
    );
    assert_eq!(
        raw.send(&check_line("keep;\r\n")).await,
        "OK \"Script is valid.\"\r\n"
    );
    // None of them was stored.
    assert_eq!(
        raw.send(b"LISTSCRIPTS").await,
        "OK \"Listscripts completed.\"\r\n"
    );

    // Misused commands end the session at max_errors (20): the ten megabytes were the
    // first; refused scripts are not the client's errors.
    for _ in 0..18 {
        assert_eq!(raw.send(b"FROBNICATE").await, "NO \"Unknown command.\"\r\n");
    }
    assert_eq!(raw.send(b"FROBNICATE").await, "NO \"Unknown command.\"\r\n");
    assert_eq!(raw.response().await, "BYE \"Too many errors.\"\r\n");
    assert!(raw.closed().await);
}

fn put_line(name: &str, script: &str) -> Vec<u8> {
    format!("PUTSCRIPT \"{name}\" {{{}+}}\r\n{script}", script.len()).into_bytes()
}

fn check_line(script: &str) -> Vec<u8> {
    format!("CHECKSCRIPT {{{}+}}\r\n{script}", script.len()).into_bytes()
}

async fn names_and_the_active_script_follow_the_rules(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut raw = signed_in(&p, ANNV).await;
    let stored = "OK \"Script stored.\"\r\n";
    assert_eq!(raw.send(&put_line("Công việc", "keep;\r\n")).await, stored);
    assert_eq!(raw.send(&put_line("b", "discard;\r\n")).await, stored);
    let taken = raw
        .send("RENAMESCRIPT \"Công việc\" \"b\"".as_bytes())
        .await;
    assert!(taken.starts_with("NO (ALREADYEXISTS) "), "{taken}");
    let missing = raw.send(b"GETSCRIPT \"nowhere\"").await;
    assert!(missing.starts_with("NO (NONEXISTENT) "), "{missing}");
    let missing = raw.send(b"SETACTIVE \"nowhere\"").await;
    assert!(missing.starts_with("NO (NONEXISTENT) "), "{missing}");
    let bad_name = raw.send(&put_line("a/b", "keep;\r\n")).await;
    assert!(
        bad_name.starts_with("NO \"A script name must be"),
        "{bad_name}"
    );
    let activated = raw.send("SETACTIVE \"Công việc\"".as_bytes()).await;
    assert_eq!(activated, "OK \"Script activated.\"\r\n");
    let active = raw.send("DELETESCRIPT \"Công việc\"".as_bytes()).await;
    assert!(active.starts_with("NO (ACTIVE) "), "{active}");
    // Replacing the active script keeps it active.
    assert_eq!(raw.send(&put_line("Công việc", "stop;\r\n")).await, stored);
    let listed = raw.send(b"LISTSCRIPTS").await;
    let mut lines: Vec<&str> = listed.split_inclusive("\r\n").collect();
    lines.sort_unstable();
    let expected = [
        "\"Công việc\" ACTIVE\r\n",
        "\"b\"\r\n",
        "OK \"Listscripts completed.\"\r\n",
    ];
    assert_eq!(lines, expected);
    let got = raw.send("GETSCRIPT \"Công việc\"".as_bytes()).await;
    assert_eq!(got, "{7}\r\nstop;\r\n\r\nOK \"Getscript completed.\"\r\n");
    let renamed = raw
        .send("RENAMESCRIPT \"Công việc\" \"Việc chung\"".as_bytes())
        .await;
    assert_eq!(renamed, "OK \"Script renamed.\"\r\n");
    assert_eq!(
        raw.send(b"SETACTIVE \"\"").await,
        "OK \"No script is active now.\"\r\n"
    );
    let listed = raw.send(b"LISTSCRIPTS").await;
    let mut lines: Vec<&str> = listed.split_inclusive("\r\n").collect();
    lines.sort_unstable();
    let expected = [
        "\"Việc chung\"\r\n",
        "\"b\"\r\n",
        "OK \"Listscripts completed.\"\r\n",
    ];
    assert_eq!(lines, expected);
    assert_eq!(
        raw.send(b"DELETESCRIPT \"b\"").await,
        "OK \"Script deleted.\"\r\n"
    );
    // Sixteen scripts at most.
    for n in 0..15 {
        assert_eq!(
            raw.send(&put_line(&format!("s{n:02}"), "keep;\r\n")).await,
            stored
        );
    }
    let full = raw.send(&put_line("one-more", "keep;\r\n")).await;
    assert!(full.starts_with("NO (QUOTA/MAXSCRIPTS) "), "{full}");
    let full = raw.send(b"HAVESPACE \"one-more\" 10").await;
    assert!(full.starts_with("NO (QUOTA/MAXSCRIPTS) "), "{full}");
    assert_eq!(
        raw.send(&put_line("s00", "discard;\r\n")).await,
        stored,
        "a replacement fits"
    );
}

async fn a_connection_past_the_limit_hears_why(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.limits.max_connections_per_ip = 1).await
    else {
        return;
    };
    let (_held, greeting) = connect(&p).await;
    assert!(
        greeting.ends_with("OK \"congvu ManageSieve ready.\"\r\n"),
        "{greeting}"
    );
    let (mut refused, bye) = connect(&p).await;
    assert_eq!(
        bye,
        "BYE (TRYLATER) \"Too many connections from your address.\"\r\n"
    );
    assert!(refused.closed().await);
}
