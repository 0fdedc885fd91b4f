//! Roundcube, the webmail of docs/webmail.md, against congvu: contrib/roundcube/check.php
//! runs Roundcube's own code from Debian's packages with the shipped
//! contrib/roundcube/config.inc.php (host, ports, CA file and secrets substituted), signed in
//! as an official, the address book bound as a service account made with `congvu-admin`.
//! Each step is checked where it lands in congvu: the webmail login sees the official's
//! folders and INBOX, the message sent through `rcube_smtp` is in the colleague's INBOX and
//! its copy in Sent, the address book's search finds the colleague, the filter set saved
//! through the managesieve plugin is the official's active script and files mail into a
//! Vietnamese folder made from the webmail, and its out-of-office reply answers.

use congvu::net::ListenerKind;
use congvu::sieve::scripts::Scripts;
use congvu::sieve::{vacation, Filters};
use congvu_tests::roundcube::{self, Official, Target};
use congvu_tests::Backend;

use crate::admin::{json_of, AdminCli};
use crate::backend_tests;
use crate::smtp::fixture::{message, send, Province, ANNV, NHUNG};

backend_tests!(roundcube_reads_sends_searches_and_files_with_the_shipped_settings);

/// The folder the check makes from the webmail and files circulars into (check.php's
/// `CHECK_FILTER_NAME`).
const FOLDER: &str = "Công văn đến";

/// The script Roundcube wrote and congvu keeps: the filter the check saved, then the
/// out-of-office reply its vacation engine put first, in Roundcube's own form (it ends the
/// lines of the reply's text with a bare LF, whatever the form sent).
const ROUNDCUBE_SCRIPT: &str = "require [\"fileinto\",\"vacation\"];\r\n\
# rule:[Out-of-Office]\r\n\
if true\r\n\
{\r\n\
\tvacation :days 1 :subject \"Vắng mặt đến hết 15/12\" text:\r\n\
Tôi đi công tác đến hết 15/12.\n\
Việc gấp xin liên hệ chị Nhung.\r\n\
.\r\n\
;\r\n\
}\r\n\
# rule:[Công văn đến]\r\n\
if header :contains \"subject\" \"Công văn\"\r\n\
{\r\n\
\tfileinto \"Công văn đến\";\r\n\
}\r\n";

/// A service account for the address book, made as an admin makes it; its secret.
fn service_account(p: &Province) -> String {
    let cli = AdminCli::new(&p.db);
    let added = tokio::task::block_in_place(|| {
        cli.run(&[
            "service",
            "add",
            "webmail",
            "--description",
            "Thư điện tử trên web (Roundcube)",
            "--json",
        ])
        .ok()
    });
    json_of(&added)["secret"].as_str().unwrap().to_string()
}

/// The names and texts of `login`'s scripts, and the name of the active one.
async fn scripts(p: &Province, login: &str) -> (Vec<(String, String)>, Option<String>) {
    let services = p.server.services();
    let filters = Filters::new("mail.vinhphuc.gov.vn", Default::default());
    let scripts = Scripts::new(
        services.store.clone(),
        p.clock.clone(),
        std::sync::Arc::new(filters),
    );
    let official = p.directory().official(login).await.unwrap();
    let mut all = Vec::new();
    let mut active = None;
    for script in scripts.list(official.id).await.unwrap() {
        if script.active {
            active = Some(script.name.clone());
        }
        all.push((script.name, script.text));
    }
    (all, active)
}

/// The messages in `login`'s folder `name` (INBOX by role), as text.
async fn folder(p: &Province, login: &str, name: &str) -> Vec<String> {
    let found = p.folder(login, name).await;
    found.into_iter().map(|(_, _, text)| text).collect()
}

async fn roundcube_reads_sends_searches_and_files_with_the_shipped_settings(backend: Backend) {
    roundcube::require();
    // The development certificate names 127.0.0.1, where the check connects: libldap,
    // under Roundcube's address book, checks a connection to `localhost` against the
    // machine's own name instead.
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let annv = format!("{}@vinhphuc.gov.vn", ANNV.0);
    let nhung = format!("{}@vinhphuc.gov.vn", NHUNG.0);
    let invitation = message(&nhung, &annv, "Giấy mời họp giao ban");
    let replies = send(&mut p.mx().await, &nhung, &[&annv], &invitation).await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");

    let target = Target {
        host: "127.0.0.1".into(),
        imap_port: p.addr(ListenerKind::Imaps).port(),
        smtp_port: p.addr(ListenerKind::Submissions).port(),
        ldap_port: p.addr(ListenerKind::Ldaps).port(),
        sieve_port: p.addr(ListenerKind::ManageSieve).port(),
        cafile: p.db.dir.path().join("data/tls/self-signed-cert.pem"),
        ldap_secret: service_account(&p),
    };
    let official = Official {
        user: ANNV.0,
        password: ANNV.1,
        to: &nhung,
        search: "Nhung",
    };
    let workdir = p.db.dir.path().join("roundcube");
    let run = roundcube::run(&target, official, &workdir).await;
    assert!(run.success, "{run:?}");

    // IMAP: the webmail login, the folders with the one made from the webmail, INBOX.
    let imaps = p.addr(ListenerKind::Imaps);
    assert_eq!(
        run.step("imap-login"),
        format!("annv at {imaps} (ssl)"),
        "{run:?}"
    );
    assert_eq!(
        run.step("imap-folders"),
        format!("{FOLDER} | Drafts | INBOX | Junk | Sent | Trash"),
        "{run:?}"
    );
    assert_eq!(
        run.step("imap-inbox"),
        "1 message(s): Giấy mời họp giao ban",
        "{run:?}"
    );

    sent_mail_landed(&p, &run, &annv, &nhung).await;

    // LDAP: the colleague, found by a part of her name through the service account.
    assert_eq!(
        run.step("ldap-search"),
        "\"Nhung\": Lê Thị Hồng Nhung <nhunglth@vinhphuc.gov.vn>",
        "{run:?}"
    );

    filters_are_the_active_script(&p, &run).await;
    mail_follows_the_script(&p, &annv, &nhung).await;
}

/// SMTP: what rcube_smtp sent is in the colleague's INBOX, its copy in the sender's Sent.
async fn sent_mail_landed(p: &Province, run: &roundcube::Run, annv: &str, nhung: &str) {
    let sent = run.step("smtp-send");
    let message_id = sent
        .strip_prefix(&format!("{annv} -> {nhung} "))
        .unwrap_or_else(|| panic!("{run:?}"));
    let inbox = folder(p, NHUNG.0, "INBOX").await;
    let delivered: Vec<&String> = inbox
        .iter()
        .filter(|m| m.contains(&format!("Message-ID: {message_id}")))
        .collect();
    assert_eq!(delivered.len(), 1, "{inbox:?}");
    assert!(
        delivered[0].contains(&format!("From: {annv}\r\n")),
        "{delivered:?}"
    );
    assert!(
        delivered[0].contains("User-Agent: Roundcube Webmail/"),
        "{delivered:?}"
    );
    let copies = folder(p, ANNV.0, "Sent").await;
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(copies[0].contains(message_id), "{copies:?}");
}

/// ManageSieve: the filter set saved through the plugin is annv's active script, with the
/// out-of-office reply the vacation engine added to it.
async fn filters_are_the_active_script(p: &Province, run: &roundcube::Run) {
    assert_eq!(
        run.step("sieve-connect"),
        "scripts before: (none)",
        "{run:?}"
    );
    assert_eq!(
        run.step("sieve-read"),
        format!("roundcube active, rules: {FOLDER}"),
        "{run:?}"
    );
    let (all, active) = scripts(p, ANNV.0).await;
    assert_eq!(active.as_deref(), Some("roundcube"), "{all:?}");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].1, ROUNDCUBE_SCRIPT, "{:?}", all[0].1);
    assert!(!vacation::has_block(&all[0].1), "no portal block");
    assert_eq!(
        run.step("vacation"),
        "on, \"Vắng mặt đến hết 15/12\", every 1d",
        "{run:?}"
    );
}

/// What the script says happens to mail: a circular from the colleague is filed into the
/// Vietnamese folder, and she gets the out-of-office reply.
async fn mail_follows_the_script(p: &Province, annv: &str, nhung: &str) {
    let circular = message(nhung, annv, "Công văn số 118/UBND");
    let replies = send(&mut p.mx().await, nhung, &[annv], &circular).await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
    let filed = folder(p, ANNV.0, FOLDER).await;
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert!(filed[0].contains("Công văn số 118/UBND"), "{filed:?}");
    let inbox = folder(p, NHUNG.0, "INBOX").await;
    assert!(
        inbox
            .iter()
            .any(|m| m.contains("Tôi đi công tác đến hết 15/12.")),
        "{inbox:?}"
    );
}
