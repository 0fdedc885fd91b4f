//! The out-of-office page in a real browser, with real mail over SMTP. An official whose mail
//! client keeps a filter turns the reply on in the portal: a colleague who writes twice gets
//! exactly one reply, and the message is still filed by the client's rule. Turned off, a new
//! sender gets no reply, the rule still files, and the client's script is back byte for byte.
//! Bad input is refused on the page, next to its field, and stores nothing.
//!
//! The officials are the SMTP tests' province (`smtp::fixture`), whose passwords are their own.
//! Replies are seen as the SMTP tests see them: in the sender's INBOX.

use std::sync::Arc;

use congvu::config::RedirectPolicy;
use congvu::net::ListenerKind;
use congvu::sieve::scripts::Scripts;
use congvu::sieve::vacation::{self, OutOfOffice};
use congvu::sieve::Filters;
use congvu_tests::browser::Browser;
use congvu_tests::Backend;
use fantoccini::Locator;
use mail_parser::MessageParser;
use serde_json::json;

use super::browser::{assert_clean, assert_status, location, UNPROCESSABLE};
use crate::backend_tests;
use crate::smtp::fixture::{message, send, Province, Who, ANNV, NHUNG, VAN};

backend_tests!(out_of_office_replies_once_keeps_the_client_rule_and_leaves_no_trace);

/// What An's mail client (Thunderbird, over ManageSieve) keeps as his active script.
const CLIENT: &str = "# Thunderbird: bộ lọc thư của An\n\
require [\"fileinto\", \"mailbox\"];\n\
if header :contains \"subject\" \"Báo cáo\" {\n    fileinto :create \"Báo cáo\";\n}\n";
const CLIENT_SCRIPT: &str = "thunderbird";
const FOLDER: &str = "Báo cáo";

/// What An types: a quote in the subject, a line of one dot in the text.
const SUBJECT: &str = "Nghỉ phép cuối năm \"2026\"";
const TEXT: &str = "Tôi nghỉ phép đến hết 03/01/2027.\n.\nViệc gấp xin liên hệ chị Nhung.";
/// Days around any day the test runs on: the interpreter reads the real clock.
const FIRST_DAY: &str = "2020-01-01";
const LAST_DAY: &str = "2099-12-31";

// The page's texts (server/src/http/portal/texts.rs).
const TITLE: &str = "Trả lời tự động khi vắng mặt";
const IS_ON: &str = "Trả lời tự động đang bật.";
const IS_OFF: &str = "Trả lời tự động đang tắt.";
const SAVED: &str = "Đã lưu cài đặt trả lời tự động.";
const ENDS_BEFORE_START: &str = "Ngày kết thúc phải là ngày bắt đầu hoặc sau đó.";
const BAD_FROM: &str = "Ngày bắt đầu không đúng: hãy chọn ngày trong lịch, hoặc viết theo dạng năm-tháng-ngày (ví dụ 2026-12-20).";
const SUBJECT_TOO_LONG: &str = "Tiêu đề quá dài: tối đa 200 ký tự.";
const MESSAGE_TOO_LONG: &str = "Nội dung quá dài: tối đa 4.000 ký tự.";
const NO_MESSAGE: &str = "Hãy viết nội dung thư trả lời.";

async fn out_of_office_replies_once_keeps_the_client_rule_and_leaves_no_trace(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let scripts = scripts(&p);
    let an = p.directory().official(ANNV.0).await.unwrap().id;
    scripts.put(an, CLIENT_SCRIPT, CLIENT).await.unwrap();
    scripts.activate(an, Some(CLIENT_SCRIPT)).await.unwrap();

    let browser = Browser::start().await;
    let page = format!("http://{}/out-of-office", p.addr(ListenerKind::Http));
    browser.goto(&page).await;
    assert_eq!(
        location(&browser).await,
        "/",
        "signed out, the page is not shown"
    );
    browser.fill("#login", ANNV.0).await;
    browser.fill("#password", ANNV.1).await;
    browser.click("#sign-in").await;
    assert_eq!(location(&browser).await, "/account");
    browser.click("nav a[href='/out-of-office']").await;
    assert_eq!(location(&browser).await, "/out-of-office");
    assert_clean(&browser).await;
    assert_shows(
        &browser,
        false,
        ("", ""),
        vacation::DEFAULT_SUBJECT,
        vacation::DEFAULT_MESSAGE,
    )
    .await;

    browser.click("a.lang").await;
    assert_eq!(browser.text("h1").await, "Out of office");
    assert_eq!(
        browser.text("label[for=enabled]").await,
        "Send automatic replies"
    );
    browser.click("a.lang").await;
    assert_eq!(browser.text("h1").await, TITLE);

    refusals_store_nothing(&browser, &scripts, an).await;

    // On: the days, a subject and a text of An's own.
    set(&browser, "#from", FIRST_DAY).await;
    set(&browser, "#to", LAST_DAY).await;
    browser.fill("#subject", SUBJECT).await;
    browser.fill("#message", TEXT).await;
    browser.click("#save").await;
    assert_eq!(
        location(&browser).await,
        "/out-of-office?saved=out-of-office"
    );
    assert_clean(&browser).await;
    assert_eq!(browser.text("p.notice").await, SAVED);
    assert_shows(&browser, true, (FIRST_DAY, LAST_DAY), SUBJECT, TEXT).await;
    let on = OutOfOffice::from_form(true, FIRST_DAY, LAST_DAY, SUBJECT, TEXT).unwrap();
    assert_eq!(active(&scripts, an).await, vacation::merge(CLIENT, &on));

    // A colleague writes twice: one reply, and both messages filed by An's own rule.
    for subject in ["Báo cáo quý 4", "Báo cáo quý 4 (bản sửa)"] {
        assert_eq!(deliver(&p, NHUNG, ANNV, subject).await, 250);
    }
    assert_eq!(folder(&p, ANNV.0, FOLDER).await.len(), 2);
    assert!(folder(&p, ANNV.0, "INBOX").await.is_empty());
    let replies = folder(&p, NHUNG.0, "INBOX").await;
    assert_eq!(replies.len(), 1, "one reply per sender: {replies:?}");
    let reply = MessageParser::new().parse(replies[0].as_bytes()).unwrap();
    assert_eq!(
        reply.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    assert_eq!(reply.subject(), Some(SUBJECT));
    let text = reply.body_text(0).unwrap().replace("\r\n", "\n");
    assert_eq!(text.trim_end(), TEXT);

    // Off: the client's script is back as it was, and still files.
    browser.goto(&page).await;
    assert_shows(&browser, true, (FIRST_DAY, LAST_DAY), SUBJECT, TEXT).await;
    tick(&browser).await;
    browser.click("#save").await;
    assert_eq!(
        location(&browser).await,
        "/out-of-office?saved=out-of-office"
    );
    assert_eq!(browser.text("p.notice").await, SAVED);
    assert_shows(
        &browser,
        false,
        ("", ""),
        vacation::DEFAULT_SUBJECT,
        vacation::DEFAULT_MESSAGE,
    )
    .await;
    assert_clean(&browser).await;
    status_follows_the_days(&browser).await;
    browser.close().await;
    let kept = scripts.list(an).await.unwrap();
    assert_eq!(kept.len(), 1, "no script was added: {kept:?}");
    assert_eq!(
        (kept[0].name.as_str(), kept[0].active),
        (CLIENT_SCRIPT, true)
    );
    assert_eq!(kept[0].text, CLIENT, "byte for byte");

    assert_eq!(deliver(&p, VAN, ANNV, "Báo cáo tuần").await, 250);
    assert!(
        folder(&p, VAN.0, "INBOX").await.is_empty(),
        "no reply once off"
    );
    assert_eq!(folder(&p, ANNV.0, FOLDER).await.len(), 3);
    assert_eq!(folder(&p, NHUNG.0, "INBOX").await.len(), 1);
}

/// The status line says when replies set for days to come start, and when replies set for
/// days gone by ended; the setting is left off again.
async fn status_follows_the_days(browser: &Browser) {
    let cases = [
        (
            "2099-12-01",
            "",
            "starts",
            "Trả lời tự động đã đặt, sẽ bắt đầu từ ngày 01/12/2099.",
        ),
        (
            "2020-01-01",
            "2020-01-31",
            "ended",
            "Trả lời tự động đã hết hạn sau ngày 31/01/2020: thư đến không còn được trả lời.",
        ),
    ];
    for (from, to, class, status) in cases {
        if !checked(browser).await {
            tick(browser).await;
        }
        set(browser, "#from", from).await;
        set(browser, "#to", to).await;
        browser.click("#save").await;
        assert_eq!(browser.text("p.notice").await, SAVED);
        assert_eq!(browser.text("#status").await, status);
        let found = browser
            .client
            .find(Locator::Css(&format!("#status.{class}")))
            .await;
        assert!(found.is_ok(), "the status line is marked {class}");
        assert!(checked(browser).await, "still set");
    }
    tick(browser).await;
    browser.click("#save").await;
    assert_eq!(browser.text("#status").await, IS_OFF);
}

/// Ticks or unticks "send automatic replies" (no page load follows).
async fn tick(browser: &Browser) {
    let enabled = browser.client.find(Locator::Css("#enabled")).await;
    enabled.unwrap().click().await.unwrap();
}

/// Each kind of bad input, with replies ticked on: the form comes back (422) with the reason
/// next to the field and what was typed, and the script is untouched.
async fn refusals_store_nothing(
    browser: &Browser,
    scripts: &Scripts,
    an: congvu::model::OfficialId,
) {
    tick(browser).await;
    let long_subject = "Đ".repeat(201);
    let long_text = "ệ".repeat(4001);
    // (field, value, where the reason shows, the reason); fields not named are left empty
    // but for the text, which stays as typed.
    let cases = [
        ("#to", "2026-12-19", "#to-error", ENDS_BEFORE_START),
        ("#from", "20/12/2026", "#from-error", BAD_FROM),
        (
            "#subject",
            long_subject.as_str(),
            "#subject-error",
            SUBJECT_TOO_LONG,
        ),
        (
            "#message",
            long_text.as_str(),
            "#message-error",
            MESSAGE_TOO_LONG,
        ),
        ("#message", "  \n ", "#message-error", NO_MESSAGE),
    ];
    for (field, value, error, reason) in cases {
        set(
            browser,
            "#from",
            if field == "#to" { "2026-12-20" } else { "" },
        )
        .await;
        set(browser, "#to", "").await;
        set(browser, "#subject", "").await;
        set(browser, "#message", vacation::DEFAULT_MESSAGE).await;
        set(browser, field, value).await;
        browser.click("#save").await;
        assert_eq!(location(browser).await, "/out-of-office", "{reason}");
        assert_status(browser, UNPROCESSABLE).await;
        assert_eq!(browser.text(error).await, reason);
        assert_eq!(browser.text("#status").await, IS_OFF, "{reason}");
        assert_eq!(
            value_of(browser, field).await,
            value,
            "what was typed is shown again"
        );
        assert!(checked(browser).await, "{reason}");
        assert_eq!(
            active(scripts, an).await,
            CLIENT,
            "{reason}: nothing stored"
        );
    }
}

/// The page shows the setting: on or off (the status line and the box), the days, the subject
/// and the text.
async fn assert_shows(browser: &Browser, on: bool, days: (&str, &str), subject: &str, text: &str) {
    assert_eq!(browser.text("h1").await, TITLE);
    assert_eq!(
        browser.text("#status").await,
        if on { IS_ON } else { IS_OFF }
    );
    assert_eq!(checked(browser).await, on);
    assert_eq!(value_of(browser, "#from").await, days.0);
    assert_eq!(value_of(browser, "#to").await, days.1);
    assert_eq!(value_of(browser, "#subject").await, subject);
    assert_eq!(
        value_of(browser, "#message").await.replace("\r\n", "\n"),
        text
    );
}

/// Sets a field's value as a script would, past what the browser's own controls allow (a
/// date typed the Vietnamese way, more than `maxlength` characters): the server must refuse
/// it by itself. A date field becomes a text field to take a value that is not a date.
async fn set(browser: &Browser, css: &str, value: &str) {
    browser
        .client
        .execute(
            "const field = document.querySelector(arguments[0]);\
             if (field.type === 'date' && arguments[1] !== '' && !/^\\d{4}-\\d{2}-\\d{2}$/.test(arguments[1])) { field.type = 'text'; }\
             field.value = arguments[1];",
            vec![json!(css), json!(value)],
        )
        .await
        .unwrap_or_else(|e| panic!("setting {css}: {e}"));
}

/// The value the page came with in the field `css` (what the server wrote in it).
async fn value_of(browser: &Browser, css: &str) -> String {
    let value = browser
        .client
        .execute(
            "return document.querySelector(arguments[0]).defaultValue;",
            vec![json!(css)],
        )
        .await
        .unwrap();
    value.as_str().unwrap_or_default().to_owned()
}

/// Whether the page came with the box ticked.
async fn checked(browser: &Browser) -> bool {
    browser
        .client
        .execute(
            "return document.querySelector('#enabled').defaultChecked;",
            vec![],
        )
        .await
        .unwrap()
        == json!(true)
}

fn scripts(p: &Province) -> Scripts {
    let filters = Filters::new("mail.vinhphuc.gov.vn", RedirectPolicy::default());
    Scripts::new(
        p.server.services().store.clone(),
        p.clock.clone(),
        Arc::new(filters),
    )
}

/// The text of the official's active script.
async fn active(scripts: &Scripts, official: congvu::model::OfficialId) -> String {
    let all = scripts.list(official).await.unwrap();
    let active: Vec<_> = all.into_iter().filter(|s| s.active).collect();
    assert_eq!(active.len(), 1, "{active:?}");
    active[0].text.clone()
}

/// Sends a message from `from` to `to` over the MX; the final reply's code.
async fn deliver(p: &Province, from: Who, to: Who, subject: &str) -> u16 {
    let (from, to) = (address(from), address(to));
    let mut smtp = p.mx().await;
    let replies = send(&mut smtp, &from, &[&to], &message(&from, &to, subject)).await;
    replies.last().unwrap().code
}

fn address(who: Who) -> String {
    format!("{}@vinhphuc.gov.vn", who.0)
}

/// The messages in `login`'s folder `name` (INBOX by role), as text.
async fn folder(p: &Province, login: &str, name: &str) -> Vec<String> {
    let found = p.folder(login, name).await;
    found.into_iter().map(|(_, _, text)| text).collect()
}
