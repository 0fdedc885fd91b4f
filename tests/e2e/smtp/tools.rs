//! The real `swaks` program against the server: delivery on the MX port, submission over
//! STARTTLS with AUTH PLAIN and LOGIN (swaks does not verify the self-signed certificate
//! unless asked to), and pipelining. swaks comes from the Debian package of that name, which
//! CI installs; a machine without it fails these tests and says so.

use std::path::PathBuf;

use congvu::net::ListenerKind;
use congvu_tests::Backend;

use super::fixture::{Province, ANNV, NHUNG};
use super::smtp_tests;

smtp_tests!(
    swaks_delivers_on_the_mx_port,
    swaks_submits_over_starttls_with_plain_and_login,
    swaks_pipelines_its_envelope,
);

/// The path of the installed `swaks`; fails the test with what to install when missing.
fn swaks() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("swaks"))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "swaks is not installed: install it (Debian/Ubuntu: apt-get install swaks \
                 libnet-ssleay-perl, the latter for --tls); CI installs it"
            )
        })
}

/// How one run of swaks ended.
#[derive(Debug)]
struct SwaksRun {
    code: Option<i32>,
    /// The session transcript swaks prints.
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for SwaksRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "swaks exited with {:?}\n--- transcript ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs swaks against `kind` with `args`, in an empty home directory so that no user
/// `.swaksrc` changes the outcome.
async fn run(p: &Province, kind: ListenerKind, args: &[&str]) -> SwaksRun {
    let program = swaks();
    let home = p.db.dir.path().to_path_buf();
    let addr = p.addr(kind);
    let mut argv: Vec<String> = [
        "--server",
        &addr.ip().to_string(),
        "--port",
        &addr.port().to_string(),
        "--timeout",
        "30",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    argv.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(&program)
            .args(&argv)
            .env("HOME", &home)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        SwaksRun {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// The stored copies of `login`'s INBOX, as text.
async fn inbox_text(p: &Province, login: &str) -> Vec<String> {
    p.inbox(login)
        .await
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect()
}

async fn swaks_delivers_on_the_mx_port(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let done = run(
        &p,
        ListenerKind::Smtp,
        &[
            "--helo",
            "relay.example.org",
            "--from",
            "sender@example.org",
            "--to",
            "annv@vinhphuc.gov.vn",
            "--header",
            "Subject: swaks-mx",
            "--body",
            "Kinh gui anh An, thu qua cong 25.",
        ],
    )
    .await;
    assert_eq!(done.code, Some(0), "{done}");
    assert!(
        done.stdout.contains("<-  250 2.0.0 Ok: queued as "),
        "{done}"
    );
    let inbox = inbox_text(&p, "annv").await;
    assert_eq!(inbox.len(), 1);
    let stored = &inbox[0];
    assert!(
        stored.starts_with("Return-Path: <sender@example.org>\r\nReceived: from relay.example.org ([127.0.0.1])\r\n\tby mail.vinhphuc.gov.vn (congvu) with ESMTP id "),
        "{stored}"
    );
    assert!(stored.contains("\r\nSubject: swaks-mx\r\n"), "{stored}");
    assert!(
        stored.contains("\r\n\r\nKinh gui anh An, thu qua cong 25.\r\n"),
        "{stored}"
    );

    // A recipient nobody holds: swaks reports that no RCPT was accepted (24).
    let refused = run(
        &p,
        ListenerKind::Smtp,
        &[
            "--from",
            "sender@example.org",
            "--to",
            "nobody@vinhphuc.gov.vn",
        ],
    )
    .await;
    assert_eq!(refused.code, Some(24), "{refused}");
    assert!(
        refused
            .stdout
            .contains("<** 550 5.1.1 No such recipient here"),
        "{refused}"
    );
}

async fn swaks_submits_over_starttls_with_plain_and_login(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    for mechanism in ["PLAIN", "LOGIN"] {
        let subject = format!("Subject: swaks-{mechanism}");
        let done = run(
            &p,
            ListenerKind::Submission,
            &[
                "--tls",
                "--auth",
                mechanism,
                "--auth-user",
                ANNV.0,
                "--auth-password",
                ANNV.1,
                "--from",
                "annv@vinhphuc.gov.vn",
                "--to",
                "nhunglth@vinhphuc.gov.vn",
                "--header",
                &subject,
            ],
        )
        .await;
        assert_eq!(done.code, Some(0), "{mechanism}: {done}");
        assert!(
            done.stdout
                .contains("<~  235 2.7.0 Authentication successful"),
            "{mechanism}: {done}"
        );
    }
    // A wrong password: swaks's AUTH failure (28), and nothing is sent.
    let refused = run(
        &p,
        ListenerKind::Submission,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            NHUNG.0,
            "--auth-password",
            "sai-mat-khau",
            "--from",
            "nhunglth@vinhphuc.gov.vn",
            "--to",
            "annv@vinhphuc.gov.vn",
        ],
    )
    .await;
    assert_eq!(refused.code, Some(28), "{refused}");
    assert!(
        refused
            .stdout
            .contains("<~* 535 5.7.8 Authentication credentials invalid"),
        "{refused}"
    );
    assert!(p.inbox("annv").await.is_empty());

    let inbox = inbox_text(&p, "nhunglth").await;
    assert_eq!(inbox.len(), 2);
    for (stored, mechanism) in inbox.iter().zip(["PLAIN", "LOGIN"]) {
        assert!(
            stored.starts_with("Return-Path: <annv@vinhphuc.gov.vn>\r\nReceived: from "),
            "{stored}"
        );
        assert!(stored.contains(" with ESMTPSA id "), "{stored}");
        assert!(
            stored.contains(&format!("\r\nSubject: swaks-{mechanism}\r\n")),
            "{stored}"
        );
    }
}

async fn swaks_pipelines_its_envelope(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let done = run(
        &p,
        ListenerKind::Smtp,
        &[
            "--pipeline",
            "--helo",
            "relay.example.org",
            "--from",
            "sender@example.org",
            "--to",
            "annv@vinhphuc.gov.vn,nobody@vinhphuc.gov.vn,nhunglth@vinhphuc.gov.vn",
            "--header",
            "Subject: swaks-pipeline",
        ],
    )
    .await;
    assert_eq!(done.code, Some(0), "{done}");
    // The whole envelope went in one write, and each reply matched its command in order.
    let transcript = &done.stdout;
    let expected = [
        "<-  250 2.1.0 Sender ok",
        "<-  250 2.1.5 Recipient ok",
        "<** 550 5.1.1 No such recipient here",
        "<-  250 2.1.5 Recipient ok",
        "<-  354 End data with <CR><LF>.<CR><LF>",
    ];
    let mut from = 0;
    for line in expected {
        let at = transcript[from..]
            .find(line)
            .unwrap_or_else(|| panic!("no {line:?} in order in:\n{transcript}"));
        from += at + line.len();
    }
    for login in ["annv", "nhunglth"] {
        let inbox = inbox_text(&p, login).await;
        assert_eq!(inbox.len(), 1, "{login}");
        assert!(
            inbox[0].contains("\r\nSubject: swaks-pipeline\r\n"),
            "{}",
            inbox[0]
        );
    }
}
