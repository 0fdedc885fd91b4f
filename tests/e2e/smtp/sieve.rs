//! Officials' Sieve filters at delivery over SMTP: mail lands where the script says with its
//! flags, out-of-office replies go once per sender and never to lists or automatic mail,
//! two officials on leave writing to each other get one reply each, a broken script keeps
//! the mail in INBOX, redirects follow `[sieve] redirect`, and a `reject` is said over SMTP
//! only when it can be.

use std::sync::Arc;

use congvu::config::RedirectPolicy;
use congvu::mailstore::{Mailstore, MessageFlags};
use congvu::sieve::scripts::Scripts;
use congvu::sieve::Filters;
use congvu_tests::smtp_sink::SmtpSink;
use congvu_tests::Backend;

use super::fixture::{message, send, Province, ANNV, NHUNG, VAN};
use super::smtp_tests;

smtp_tests!(
    mail_lands_where_the_script_files_it_with_its_flags,
    out_of_office_answers_each_sender_once_and_never_lists,
    two_officials_on_leave_writing_to_each_other_get_one_reply_each,
    a_script_that_fails_keeps_the_mail_in_inbox,
    redirects_follow_the_policy_and_never_lose_mail,
    a_reject_is_said_over_smtp_only_when_every_recipient_rejects,
    a_redirect_to_an_address_already_in_the_envelope_goes_out_once,
    administrators_scripts_run_before_the_officials_own,
    a_folder_made_renamed_or_made_on_another_node_is_seen_at_the_next_delivery,
);

/// Gives `login` the script `text`, active.
async fn activate(p: &Province, login: &str, text: &str) {
    let services = p.server.services();
    let filters = Filters::new("mail.vinhphuc.gov.vn", RedirectPolicy::default());
    let scripts = Scripts::new(services.store.clone(), p.clock.clone(), Arc::new(filters));
    let official = p.directory().official(login).await.unwrap();
    scripts.put(official.id, "main", text).await.unwrap();
    scripts.activate(official.id, Some("main")).await.unwrap();
}

fn address(who: (&str, &str)) -> String {
    format!("{}@vinhphuc.gov.vn", who.0)
}

/// Sends `body` from `from` to `to` over the MX; the final reply's code.
async fn deliver(p: &Province, from: &str, to: &[&str], body: &str) -> u16 {
    let mut smtp = p.mx().await;
    let replies = send(&mut smtp, from, to, body).await;
    replies.last().unwrap().code
}

const VACATION: &str = "require \"vacation\";\n\
vacation :days 7 :subject \"Nghỉ phép\" \"Tôi nghỉ phép đến 15/12.\";\n";

async fn mail_lands_where_the_script_files_it_with_its_flags(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    activate(
        &p,
        ANNV.0,
        "require [\"fileinto\", \"imap4flags\", \"mailbox\"];\n\
         if header :contains \"Subject\" \"Công văn\" {\n\
           fileinto :create :flags [\"\\\\Flagged\", \"$CongVan\"] \"Công văn đến\";\n\
         } elsif header :contains \"Subject\" \"quảng cáo\" { discard; }\n",
    )
    .await;
    let to = [address(ANNV), address(VAN)];
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let circular = message("vanphong@example.org", to[0], "Công văn số 2986");
    assert_eq!(
        deliver(&p, "vanphong@example.org", &to, &circular).await,
        250
    );
    let filed = p.folder(ANNV.0, "Công văn đến").await;
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert_eq!(filed[0].0, MessageFlags::FLAGGED);
    assert_eq!(filed[0].1, "$CongVan");
    assert!(filed[0].2.ends_with(&circular));
    assert!(p.folder(ANNV.0, "INBOX").await.is_empty());
    assert_eq!(
        p.folder(VAN.0, "INBOX").await.len(),
        1,
        "a recipient without a script"
    );
    let advert = message("shop@example.org", to[0], "quảng cáo");
    assert_eq!(
        deliver(&p, "shop@example.org", &to[..1], &advert).await,
        250
    );
    let plain = message("x@example.org", to[0], "Chào anh");
    assert_eq!(deliver(&p, "x@example.org", &to[..1], &plain).await, 250);
    let inbox = p.folder(ANNV.0, "INBOX").await;
    assert_eq!(inbox.len(), 1, "discarded, then kept");
    assert!(inbox[0].2.contains("Subject: Chào anh"));
}

async fn out_of_office_answers_each_sender_once_and_never_lists(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    activate(&p, ANNV.0, VACATION).await;
    let (an, nhung, van) = (address(ANNV), address(NHUNG), address(VAN));
    for subject in ["hop-giao-ban-1", "hop-giao-ban-2"] {
        let body = message(&nhung, &an, subject);
        assert_eq!(deliver(&p, &nhung, &[&an], &body).await, 250);
    }
    let replies = p.folder(NHUNG.0, "INBOX").await;
    assert_eq!(
        replies.len(),
        1,
        "one reply per sender per period: {replies:?}"
    );
    let reply = &replies[0].2;
    assert!(reply.starts_with("Return-Path: <>\r\n"), "{reply}");
    assert!(reply.contains("Auto-Submitted: auto-replied"), "{reply}");
    assert!(
        reply.contains("In-Reply-To: <hop-giao-ban-1@test>"),
        "{reply}"
    );
    assert!(
        reply.contains("Subject: Nghỉ phép") || reply.contains("Subject: =?"),
        "{reply}"
    );
    assert!(reply.contains("Tôi nghỉ phép đến 15/12."), "{reply}");
    assert_eq!(
        p.folder(ANNV.0, "INBOX").await.len(),
        2,
        "the mail itself is kept"
    );

    let list = message(&van, &an, "Bản tin").replacen(
        "Subject:",
        "List-Id: <bantin.vinhphuc.gov.vn>\r\nSubject:",
        1,
    );
    assert_eq!(deliver(&p, &van, &[&an], &list).await, 250);
    let automatic = message(&van, &an, "Thông báo").replacen(
        "Subject:",
        "Auto-Submitted: auto-generated\r\nSubject:",
        1,
    );
    assert_eq!(deliver(&p, &van, &[&an], &automatic).await, 250);
    let own = message(&an, &an, "Ghi chú");
    assert_eq!(deliver(&p, &an, &[&an], &own).await, 250);
    assert!(
        p.folder(VAN.0, "INBOX").await.is_empty(),
        "no reply to lists or automatic mail"
    );
    assert_eq!(
        p.folder(ANNV.0, "INBOX").await.len(),
        5,
        "no reply to the official's own mail, and every message kept"
    );
}

async fn two_officials_on_leave_writing_to_each_other_get_one_reply_each(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    activate(&p, ANNV.0, VACATION).await;
    activate(&p, NHUNG.0, VACATION).await;
    let (an, nhung) = (address(ANNV), address(NHUNG));
    for round in 0..2 {
        let to_nhung = message(&an, &nhung, &format!("Gửi Nhung {round}"));
        assert_eq!(deliver(&p, &an, &[&nhung], &to_nhung).await, 250);
        let to_an = message(&nhung, &an, &format!("Gửi An {round}"));
        assert_eq!(deliver(&p, &nhung, &[&an], &to_an).await, 250);
    }
    let auto = |messages: Vec<(MessageFlags, String, String)>| {
        messages
            .iter()
            .filter(|m| m.2.contains("Auto-Submitted: auto-replied"))
            .count()
    };
    assert_eq!(auto(p.folder(ANNV.0, "INBOX").await), 1);
    assert_eq!(auto(p.folder(NHUNG.0, "INBOX").await), 1);
    assert_eq!(p.folder(ANNV.0, "INBOX").await.len(), 3);
    assert_eq!(p.folder(NHUNG.0, "INBOX").await.len(), 3);
}

async fn a_script_that_fails_keeps_the_mail_in_inbox(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    // A hundred tests on each of 400 parts: past the instruction limit of one run.
    let tests = "if header :contains \"Content-Type\" \"zzz\" { discard; }\n".repeat(100);
    let script = format!("require \"foreverypart\";\nforeverypart {{\n{tests}}}\ndiscard;\n");
    activate(&p, ANNV.0, &script).await;
    let an = address(ANNV);
    let mut body = format!(
        "From: <x@example.org>\r\nTo: <{an}>\r\nSubject: nhiều phần\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    );
    for i in 0..400 {
        body.push_str(&format!(
            "--b\r\nContent-Type: text/plain\r\n\r\nphần {i}\r\n"
        ));
    }
    body.push_str("--b--\r\n");
    assert_eq!(deliver(&p, "x@example.org", &[&an], &body).await, 250);
    assert_eq!(p.folder(ANNV.0, "INBOX").await.len(), 1);
}

async fn redirects_follow_the_policy_and_never_lose_mail(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (an, van) = (address(ANNV), address(VAN));
    activate(
        &p,
        ANNV.0,
        &format!(
            "if header :contains \"Subject\" \"chuyển\" {{ redirect \"{van}\"; }}\n\
             if header :contains \"Subject\" \"ra ngoài\" {{ redirect \"an.private@gmail.com\"; }}\n"
        ),
    )
    .await;
    let inside = message("x@example.org", &an, "chuyển cho Vân");
    assert_eq!(deliver(&p, "x@example.org", &[&an], &inside).await, 250);
    assert_eq!(
        p.folder(VAN.0, "INBOX").await.len(),
        1,
        "redirected inside the province"
    );
    assert!(p.folder(ANNV.0, "INBOX").await.is_empty());
    let outside = message("x@example.org", &an, "gửi ra ngoài");
    assert_eq!(deliver(&p, "x@example.org", &[&an], &outside).await, 250);
    let kept = p.folder(ANNV.0, "INBOX").await;
    assert_eq!(kept.len(), 1, "a refused redirect keeps the mail");
    assert!(kept[0].2.contains("Subject: gửi ra ngoài"));
    let queue = congvu::queue::Queue::new(p.server.services().store.clone(), p.clock.clone());
    let queued = queue.entries().await.unwrap();
    assert!(queued.is_empty(), "nothing left for gmail.com: {queued:?}");
}

async fn a_reject_is_said_over_smtp_only_when_every_recipient_rejects(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let (an, van) = (address(ANNV), address(VAN));
    activate(
        &p,
        ANNV.0,
        "require \"reject\";\nif header :contains \"Subject\" \"quảng cáo\" { reject \"Không nhận quảng cáo.\"; }\n",
    )
    .await;
    let advert = message("shop@example.org", &an, "quảng cáo");
    let mut smtp = p.mx().await;
    let replies = send(&mut smtp, "shop@example.org", &[&an], &advert).await;
    let last = replies.last().unwrap();
    assert_eq!(last.code, 550, "{last:?}");
    assert!(last.line().contains("Không nhận quảng cáo."), "{last:?}");
    assert!(p.folder(ANNV.0, "INBOX").await.is_empty());
    // With a second recipient the message must be accepted; the rejecting one keeps it.
    assert_eq!(
        deliver(&p, "shop@example.org", &[&an, &van], &advert).await,
        250
    );
    assert_eq!(p.folder(ANNV.0, "INBOX").await.len(), 1);
    assert_eq!(p.folder(VAN.0, "INBOX").await.len(), 1);
    // Nor when a colleague's submission also goes to another domain.
    let nhung = address(NHUNG);
    let mut submission = p.submission_as(NHUNG).await;
    let both = message(&nhung, &an, "quảng cáo hội thảo");
    let replies = send(&mut submission, &nhung, &[&an, "doitac@example.org"], &both).await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
    assert_eq!(p.folder(ANNV.0, "INBOX").await.len(), 2);
}

async fn a_redirect_to_an_address_already_in_the_envelope_goes_out_once(backend: Backend) {
    let sink = SmtpSink::builder().start().await;
    let Some(p) = Province::start_with(backend, |c| {
        c.sieve.redirect = RedirectPolicy::Any;
        c.queue.smart_host = Some(sink.smart_host());
    })
    .await
    else {
        return;
    };
    activate(&p, ANNV.0, "redirect \"DoiTac@Example.org\";\n").await;
    let (an, nhung) = (address(ANNV), address(NHUNG));
    let mut submission = p.submission_as(NHUNG).await;
    let body = message(&nhung, &an, "hồ sơ dự án");
    let to = [an.as_str(), "doitac@example.org", "khac@example.org"];
    let replies = send(&mut submission, &nhung, &to, &body).await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let relayed = || -> Vec<String> {
        let transactions = sink.transactions();
        transactions
            .iter()
            .flat_map(|t| t.rcpt_to.clone())
            .collect()
    };
    while relayed().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "not relayed: {:?}",
            relayed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut recipients = relayed();
    recipients.sort();
    assert_eq!(recipients, ["doitac@example.org", "khac@example.org"]);
}

/// Runs `congvu-admin` against the province's database off the async runtime, so the server
/// in this process keeps serving.
async fn admin(cli: &crate::admin::AdminCli, args: &[&str]) -> crate::admin::AdminRun {
    let (cli, args) = (
        cli.clone(),
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli.run(&args)
    })
    .await
    .unwrap()
}

async fn administrators_scripts_run_before_the_officials_own(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let cli = crate::admin::AdminCli::new(&p.db);
    let file = |name: &str, text: &str| {
        let path = cli.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let spam = file(
        "thu-rac.sieve",
        "require \"fileinto\";\nif header :is \"X-Spam\" \"Yes\" { fileinto \"Junk\"; stop; }\n",
    );
    let flag = file(
        "snv.sieve",
        "require \"imap4flags\";\naddflag \"$SoNoiVu\";\n",
    );
    let other = file(
        "ubnd.sieve",
        "require \"imap4flags\";\naddflag \"$UBND\";\n",
    );
    let broken = file("hong.sieve", "require \"fileinto\";\nfileinto \"Junk\"\n");
    let put = admin(&cli, &["sieve", "before", "put", &spam]).await.ok();
    assert_eq!(
        put.stdout,
        "stored the script run before the filters of the province\n"
    );
    admin(&cli, &["sieve", "before", "put", &flag, "--agency", "snv"])
        .await
        .ok();
    admin(
        &cli,
        &["sieve", "before", "put", &other, "--agency", "vinhphuc"],
    )
    .await
    .ok();
    let refused = admin(
        &cli,
        &["sieve", "before", "put", &broken, "--agency", "snv"],
    )
    .await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(&format!("{broken}: line 3, column ")),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("nothing was stored"), "{refused:?}");
    let listed = admin(&cli, &["sieve", "before", "list"]).await.ok().stdout;
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(listed.starts_with("province ("), "{listed}");
    let shown = admin(&cli, &["sieve", "before", "show", "--agency", "snv"])
        .await
        .ok();
    assert_eq!(
        shown.stdout,
        "require \"imap4flags\";\naddflag \"$SoNoiVu\";\n"
    );
    activate(
        &p,
        ANNV.0,
        "require [\"fileinto\", \"mailbox\"];\n\
         if header :contains \"Subject\" \"Công văn\" { fileinto :create \"Công văn đến\"; }\n",
    )
    .await;

    let (an, van) = (address(ANNV), address(VAN));
    let tagged = message("x@example.org", &an, "Công văn giả mạo").replacen(
        "Subject:",
        "X-Spam: Yes\r\nSubject:",
        1,
    );
    assert_eq!(deliver(&p, "x@example.org", &[&an], &tagged).await, 250);
    let junk = p.folder(ANNV.0, "Junk").await;
    assert_eq!(
        junk.len(),
        1,
        "the province's stop ends the chain: {junk:?}"
    );
    assert!(p.folder(ANNV.0, "Công văn đến").await.is_empty());

    let circular = message("vanphong@example.org", &an, "Công văn số 45");
    assert_eq!(
        deliver(&p, "vanphong@example.org", &[&an, &van], &circular).await,
        250
    );
    let filed = p.folder(ANNV.0, "Công văn đến").await;
    assert_eq!(
        filed.len(),
        1,
        "the official's own rule ran after: {filed:?}"
    );
    assert_eq!(
        filed[0].1, "$SoNoiVu",
        "the agency's flag, not another agency's"
    );
    let kept = p.folder(VAN.0, "INBOX").await;
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0].1, "$SoNoiVu",
        "an official without a script of her own"
    );

    let removed = admin(&cli, &["sieve", "before", "delete", "--agency", "snv"])
        .await
        .ok();
    assert_eq!(
        removed.stdout,
        "removed the script run before the filters of agency snv\n"
    );
    let again = admin(&cli, &["sieve", "before", "delete", "--agency", "snv"]).await;
    assert_eq!(again.code, Some(1), "{again:?}");
    // Another process changed them: the server reads them again within BEFORE_FRESH.
    tokio::time::sleep(congvu::sieve::scripts::BEFORE_FRESH).await;
    let next = message("vanphong@example.org", &van, "Thông báo");
    assert_eq!(
        deliver(&p, "vanphong@example.org", &[&van], &next).await,
        250
    );
    let kept = p.folder(VAN.0, "INBOX").await;
    assert_eq!(kept.len(), 2);
    assert!(
        kept.iter().any(|(_, keywords, _)| keywords.is_empty()),
        "{kept:?}"
    );
}

/// Delivery keeps each official's folder list in memory; a folder made or renamed, on this
/// node or (PostgreSQL) on another, is seen by the next delivery all the same.
async fn a_folder_made_renamed_or_made_on_another_node_is_seen_at_the_next_delivery(
    backend: Backend,
) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    const PROJECT: &str = "Dự án";
    activate(&p, ANNV.0, "require \"fileinto\";\nfileinto \"Dự án\";\n").await;
    let an = p.directory().official(ANNV.0).await.unwrap();
    let to = address(ANNV);
    let mut n = 0;
    let mut deliver_one = async || {
        n += 1;
        let letter = message("x@example.org", &to, &format!("Thư {n}"));
        assert_eq!(deliver(&p, "x@example.org", &[&to], &letter).await, 250);
    };
    deliver_one().await;
    assert_eq!(
        p.folder(ANNV.0, "INBOX").await.len(),
        1,
        "no such folder yet"
    );

    let mailstore = &p.server.services().mailstore;
    mailstore.create_folder(&an, PROJECT).await.unwrap();
    deliver_one().await;
    assert_eq!(
        p.folder(ANNV.0, PROJECT).await.len(),
        1,
        "the folder just made"
    );

    mailstore
        .rename_folder(&an, PROJECT, "Dự án 2025")
        .await
        .unwrap();
    deliver_one().await;
    assert_eq!(p.folder(ANNV.0, "INBOX").await.len(), 2, "renamed away");
    assert_eq!(p.folder(ANNV.0, "Dự án 2025").await.len(), 1);

    if backend != Backend::Postgres {
        return;
    }
    // Another node on the same database makes the folder again; once its NOTIFY has
    // reached this one, delivery here files into it.
    let changes = p.server.services().store.mailbox_changes();
    let before = changes.folders_version(an.id);
    let other = p.db.open_store().await;
    let other_node = Mailstore::new(other.clone(), p.clock.clone());
    other_node.create_folder(&an, PROJECT).await.unwrap();
    let waited = std::time::Instant::now();
    while changes.folders_version(an.id) == before {
        assert!(
            waited.elapsed().as_secs() < 10,
            "the other node's change never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    deliver_one().await;
    assert_eq!(
        p.folder(ANNV.0, PROJECT).await.len(),
        1,
        "made on the other node"
    );
    other.close().await;
}
