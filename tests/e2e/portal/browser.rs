//! The portal in a real browser (headless Chromium through chromedriver), as an official
//! meets it: the first sign-in with the initial password from the credentials file, choosing
//! a password (and the reasons a weak one is refused), reset links, changing the password,
//! signing out everywhere, the iPhone configuration profile, the cookies, the English switch;
//! and the screenshots of every page in docs/portal/. The out-of-office page has its own file.
//!
//! Texts are asserted exactly as an official reads them, in Vietnamese unless the test is
//! about the switch. WebDriver does not give a page's status code; Chromium's log does, for
//! a page that is not 2xx ("Failed to load resource: ... 401"), so refusals are checked by
//! their heading, their ids, the URL the browser ends on and that log entry.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use congvu::config::RedirectPolicy;
use congvu::directory::{
    generate_initial_password, Actor, GroupKind, MemberName, NewGroup, PasswordCost,
    PasswordHasher, StoredPassword,
};
use congvu::mailstore::{MailboxRole, MessageFlags};
use congvu::model::{OfficialId, UtcDay};
use congvu::net::ListenerKind;
use congvu::sieve::scripts::Scripts;
use congvu::sieve::vacation::{self, OutOfOffice};
use congvu::sieve::Filters;
use congvu_tests::browser::Browser;
use congvu_tests::imap::RawImap;
use congvu_tests::smtp::RawSmtp;
use congvu_tests::{server, Backend};
use cookie::SameSite;
use fantoccini::Locator;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::{Site, CHEAP, CHOSEN, START};
use crate::backend_tests;

backend_tests!(
    first_sign_in_leads_to_choosing_a_password_and_the_new_one_works_everywhere,
    a_reset_link_works_once_and_not_after_expiry,
    changing_the_password_needs_the_current_one,
    sign_out_everywhere_ends_every_session,
    the_mobileconfig_is_a_property_list_with_the_hosts_and_ports,
    cookies_are_http_only_strict_and_secure,
    english_switch,
);

/// A password the policy accepts for both seeded officials.
const GOOD: &str = "mây trắng bay qua đồi chè 77";
/// Another one, for a second change.
const GOOD_TOO: &str = "gió mùa đông bắc thổi qua Tam Đảo 88";

// The pages' texts as an official reads them (server/src/http/portal/texts.rs).
const SIGN_IN_TITLE: &str = "Đăng nhập";
const SIGN_IN_REFUSED: &str = "Tên đăng nhập hoặc mật khẩu không đúng, hoặc mật khẩu ban đầu đã hết hạn. Nếu quên mật khẩu, hãy liên hệ bộ phận công nghệ thông tin của cơ quan.";
const CHOOSE_TITLE: &str = "Chọn mật khẩu của bạn";
const RESET_INTRO: &str =
    "Liên kết này cho phép bạn chọn mật khẩu mới một lần mà không cần mật khẩu cũ.";
const CHANGE_TITLE: &str = "Đổi mật khẩu";
const CURRENT_WRONG: &str = "Mật khẩu hiện tại không đúng.";
const ACCOUNT_TITLE: &str = "Tài khoản của tôi";
const PASSWORD_SAVED: &str = "Đã lưu mật khẩu mới. Các phiên đăng nhập khác đã được đăng xuất.";
const SETUP_TITLE: &str = "Cài đặt thư trên máy tính và điện thoại";
const SESSIONS_TITLE: &str = "Phiên đăng nhập cổng thư";
const OUT_OF_OFFICE_TITLE: &str = "Trả lời tự động khi vắng mặt";
const THIS_SESSION: &str = "(phiên này)";
const LINK_INVALID_TITLE: &str = "Liên kết không còn hiệu lực";
const LINK_INVALID: &str = "Liên kết đặt mật khẩu này đã được dùng, đã hết hạn hoặc không đúng. Hãy liên hệ bộ phận công nghệ thông tin của cơ quan để nhận liên kết mới.";

const IMAP_LOGGED_IN: &str = "Logged in";
const IMAP_LOGIN_FAILED: &str = "a NO [AUTHENTICATIONFAILED] Authentication failed";
const SMTP_AUTH_OK: &str = "235 2.7.0 Authentication successful";
const SMTP_AUTH_FAILED: &str = "535 5.7.8 Authentication credentials invalid";

/// The host name the test server's certificate is made for.
const SERVER_HOST: &str = "mail.vinhphuc.gov.vn";

// Statuses as Chromium's log names them.
const UNAUTHORIZED: &str = "401 (Unauthorized)";
const GONE: &str = "410 (Gone)";
pub(super) const UNPROCESSABLE: &str = "422 (Unprocessable Entity)";

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

async fn first_sign_in_leads_to_choosing_a_password_and_the_new_one_works_everywhere(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let browser = Browser::start().await;
    sign_in(&browser, &site, "annv", &site.initial).await;
    assert_eq!(location(&browser).await, "/choose-password");
    assert_eq!(browser.text("h1").await, CHOOSE_TITLE);
    assert_eq!(
        browser.text("p.who").await,
        "Nguyễn Văn An · annv@vinhphuc.gov.vn"
    );
    // With the initial password, choosing a new one is the only page there is.
    for elsewhere in ["/account", "/setup", "/password", "/"] {
        browser.goto(&site.url(elsewhere)).await;
        assert_eq!(location(&browser).await, "/choose-password", "{elsewhere}");
    }
    assert_clean(&browser).await;

    choose(&browser, "password123").await;
    assert_eq!(location(&browser).await, "/choose-password");
    assert_status(&browser, UNPROCESSABLE).await;
    let error = browser.text("#new-error").await;
    assert!(
        error.starts_with("Mật khẩu quá dễ đoán (độ mạnh ")
            && error.ends_with("/4, cần từ 3). Hãy dùng một câu dài gồm nhiều từ không liên quan."),
        "{error}"
    );
    assert!(!browser.page_source().await.contains("password123"));

    choose(&browser, "Nguyen-Van-An-2026").await;
    assert_eq!(location(&browser).await, "/choose-password");
    assert_status(&browser, UNPROCESSABLE).await;
    assert_eq!(
        browser.text("#new-error").await,
        "Mật khẩu chứa tên của bạn (\u{201c}nguyen\u{201d}); người khác dễ đoán được."
    );
    assert!(!browser.page_source().await.contains("Nguyen-Van-An-2026"));

    choose(&browser, GOOD).await;
    assert_eq!(location(&browser).await, "/account?saved=password");
    assert_clean(&browser).await;
    assert_eq!(browser.text("h1").await, ACCOUNT_TITLE);
    assert_eq!(browser.text("p.notice").await, PASSWORD_SAVED);
    assert_eq!(browser.text("#name").await, "Nguyễn Văn An");
    assert_eq!(
        texts(&browser, "#agency li").await,
        ["Sở Nội vụ", "UBND tỉnh Vĩnh Phúc"]
    );
    assert!(!browser.page_source().await.contains(GOOD));
    browser.close().await;

    let accepted = imap_login(&site, "annv", GOOD).await;
    assert!(
        accepted.starts_with("a OK ") && accepted.ends_with(IMAP_LOGGED_IN),
        "{accepted}"
    );
    assert_eq!(
        imap_login(&site, "annv", &site.initial).await,
        IMAP_LOGIN_FAILED
    );
    assert_eq!(smtp_auth(&site, "annv", GOOD).await, SMTP_AUTH_OK);
    assert_eq!(
        smtp_auth(&site, "annv", &site.initial).await,
        SMTP_AUTH_FAILED
    );
}

async fn a_reset_link_works_once_and_not_after_expiry(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let it = Actor::admin("it");
    let browser = Browser::start().await;

    // Used once: the official chooses a password without knowing the old one.
    let once = site
        .directory()
        .issue_reset_link(&it, "vanlt", 72)
        .await
        .unwrap();
    let link = site.url(&format!("/reset/{once}"));
    browser.goto(&link).await;
    assert_eq!(browser.text("h1").await, CHOOSE_TITLE);
    assert_eq!(browser.text("main p").await, RESET_INTRO);
    assert_eq!(
        browser.text("p.who").await,
        "Lê Thị Vân · vanlt@vinhphuc.gov.vn"
    );
    choose(&browser, GOOD).await;
    assert_eq!(location(&browser).await, "/account?saved=password");
    assert_eq!(browser.text("p.notice").await, PASSWORD_SAVED);
    assert_eq!(browser.text("#name").await, "Lê Thị Vân");
    assert!(imap_login(&site, "vanlt", GOOD)
        .await
        .ends_with(IMAP_LOGGED_IN));
    assert_eq!(imap_login(&site, "vanlt", CHOSEN).await, IMAP_LOGIN_FAILED);
    browser.goto(&link).await;
    assert_link_refused(&browser).await;

    // Good until its 72nd hour ends; a form opened before then is refused after.
    let expiring = site
        .directory()
        .issue_reset_link(&it, "vanlt", 72)
        .await
        .unwrap();
    let link = site.url(&format!("/reset/{expiring}"));
    site.clock.advance(72 * 3600 - 1);
    browser.goto(&link).await;
    assert_eq!(browser.text("h1").await, CHOOSE_TITLE);
    site.clock.advance(1);
    choose(&browser, GOOD_TOO).await;
    assert_link_refused(&browser).await;
    browser.goto(&link).await;
    assert_link_refused(&browser).await;
    assert!(imap_login(&site, "vanlt", GOOD)
        .await
        .ends_with(IMAP_LOGGED_IN));

    // Dead once a password is set another way: the IT staff generate a new initial one.
    let superseded = site
        .directory()
        .issue_reset_link(&it, "vanlt", 72)
        .await
        .unwrap();
    let link = site.url(&format!("/reset/{superseded}"));
    browser.goto(&link).await;
    assert_eq!(browser.text("h1").await, CHOOSE_TITLE);
    let generated = generate_initial_password();
    let stored = StoredPassword {
        hash: PasswordHasher::new(CHEAP)
            .hash(&generated, PasswordCost::Initial)
            .unwrap(),
        cost: PasswordCost::Initial,
        must_change: true,
    };
    site.directory()
        .set_password(&it, "vanlt", stored)
        .await
        .unwrap();
    choose(&browser, GOOD_TOO).await;
    assert_link_refused(&browser).await;
    browser.goto(&link).await;
    assert_link_refused(&browser).await;
    browser.close().await;
    // The refused form set nothing: the generated password is still the one to change.
    assert_eq!(
        imap_login(&site, "vanlt", GOOD_TOO).await,
        IMAP_LOGIN_FAILED
    );
    assert!(imap_login(&site, "vanlt", &generated)
        .await
        .starts_with("a NO [EXPIRED] "));
}

async fn changing_the_password_needs_the_current_one(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let browser = Browser::start().await;
    sign_in(&browser, &site, "vanlt", CHOSEN).await;
    assert_eq!(location(&browser).await, "/account");
    browser.goto(&site.url("/password")).await;
    assert_eq!(browser.text("h1").await, CHANGE_TITLE);
    assert!(!browser.exists("#current-error").await);

    assert_clean(&browser).await;
    change(&browser, "không phải mật khẩu này", GOOD).await;
    assert_eq!(location(&browser).await, "/password");
    assert_status(&browser, UNAUTHORIZED).await;
    assert_eq!(browser.text("#current-error").await, CURRENT_WRONG);
    assert!(!browser.exists("#new-error").await);
    assert!(!browser.page_source().await.contains(GOOD));
    assert!(imap_login(&site, "vanlt", CHOSEN)
        .await
        .ends_with(IMAP_LOGGED_IN));

    change(&browser, CHOSEN, GOOD).await;
    assert_eq!(location(&browser).await, "/account?saved=password");
    assert_clean(&browser).await;
    assert_eq!(browser.text("p.notice").await, PASSWORD_SAVED);
    browser.close().await;
    assert!(imap_login(&site, "vanlt", GOOD)
        .await
        .ends_with(IMAP_LOGGED_IN));
    assert_eq!(imap_login(&site, "vanlt", CHOSEN).await, IMAP_LOGIN_FAILED);
}

async fn sign_out_everywhere_ends_every_session(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let (office, phone) = tokio::join!(Browser::start(), Browser::with_window(390, 844, true));
    sign_in(&office, &site, "vanlt", CHOSEN).await;
    sign_in(&phone, &site, "vanlt", CHOSEN).await;
    assert_eq!(location(&phone).await, "/account");

    office.goto(&site.url("/sessions")).await;
    assert_eq!(office.text("h1").await, SESSIONS_TITLE);
    assert_eq!(texts(&office, "#sessions > li").await.len(), 2);
    assert_eq!(texts(&office, "#sessions strong").await, [THIS_SESSION]);
    let this = office.text("#sessions > li.this").await;
    assert!(this.contains(THIS_SESSION), "{this}");
    assert!(this.contains("Chrome trên Linux"), "{this}");
    let other = office.text("#sessions > li:not(.this)").await;
    assert!(other.contains("Chrome trên Android"), "{other}");
    office.click("#end-all").await;
    assert_eq!(location(&office).await, "/");
    assert_eq!(office.text("h1").await, SIGN_IN_TITLE);

    for browser in [&office, &phone] {
        browser.goto(&site.url("/account")).await;
        assert_eq!(location(browser).await, "/");
        assert_eq!(browser.text("h1").await, SIGN_IN_TITLE);
    }
    office.close().await;
    phone.close().await;
}

async fn the_mobileconfig_is_a_property_list_with_the_hosts_and_ports(backend: Backend) {
    const MAIL_HOST: &str = "thu.vinhphuc.gov.vn";
    let Some(site) = Site::start_with(backend, |c| {
        c.http.mail_hostname = Some(MAIL_HOST.into());
        c.http.imaps_port = 10993;
        c.http.submissions_port = 10465;
    })
    .await
    else {
        return;
    };
    let browser = Browser::start().await;
    sign_in(&browser, &site, "vanlt", CHOSEN).await;
    browser.goto(&site.url("/setup")).await;
    assert_eq!(browser.text("h1").await, SETUP_TITLE);
    let mut rows = Vec::new();
    for row in browser
        .client
        .find_all(Locator::Css("#settings tbody tr"))
        .await
        .unwrap()
    {
        let setting = row.find(Locator::Css("th")).await.unwrap();
        let value = row.find(Locator::Css("td")).await.unwrap();
        rows.push((setting.text().await.unwrap(), value.text().await.unwrap()));
    }
    let expected = [
        ("Tên người dùng", "vanlt"),
        ("Địa chỉ thư", "vanlt@vinhphuc.gov.vn"),
        ("Thư đến (IMAP): Máy chủ", MAIL_HOST),
        ("Thư đến (IMAP): Cổng", "10993"),
        ("Thư đến (IMAP): Bảo mật", "SSL/TLS"),
        ("Thư đi (SMTP): Máy chủ", MAIL_HOST),
        ("Thư đi (SMTP): Cổng", "10465"),
        ("Thư đi (SMTP): Bảo mật", "SSL/TLS"),
    ]
    .map(|(s, v)| (s.to_string(), v.to_string()));
    assert_eq!(rows, expected);
    let href = browser
        .client
        .find(Locator::Css("#mobileconfig"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert_eq!(href.as_deref(), Some("/setup/apple.mobileconfig"));

    // Downloads are awkward in WebDriver: the browser's session cookie goes to reqwest.
    let session = browser
        .cookies()
        .await
        .into_iter()
        .find(|c| c.name() == "congvu_session")
        .expect("signed in, the browser holds congvu_session")
        .value()
        .to_string();
    browser.close().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = site.url("/setup/apple.mobileconfig");
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/");

    let response = client
        .get(&url)
        .header("cookie", format!("congvu_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-apple-aspen-config"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"vanlt.mobileconfig\""
    );
    let body = response.bytes().await.unwrap();
    let profile = plist::Value::from_reader_xml(Cursor::new(&body[..])).unwrap();
    let profile = profile
        .as_dictionary()
        .expect("the profile is a dictionary");
    assert_eq!(
        profile.get("PayloadType").and_then(|v| v.as_string()),
        Some("Configuration")
    );
    let content = profile
        .get("PayloadContent")
        .and_then(|v| v.as_array())
        .expect("PayloadContent is an array");
    assert_eq!(content.len(), 1);
    let account = content[0].as_dictionary().expect("an account dictionary");
    let text = |key: &str| account.get(key).and_then(|v| v.as_string());
    let number = |key: &str| account.get(key).and_then(|v| v.as_signed_integer());
    let flag = |key: &str| account.get(key).and_then(|v| v.as_boolean());
    assert_eq!(text("PayloadType"), Some("com.apple.mail.managed"));
    assert_eq!(text("EmailAccountType"), Some("EmailTypeIMAP"));
    assert_eq!(text("EmailAddress"), Some("vanlt@vinhphuc.gov.vn"));
    assert_eq!(text("EmailAccountName"), Some("Lê Thị Vân"));
    assert_eq!(text("IncomingMailServerHostName"), Some(MAIL_HOST));
    assert_eq!(number("IncomingMailServerPortNumber"), Some(10993));
    assert_eq!(flag("IncomingMailServerUseSSL"), Some(true));
    assert_eq!(text("IncomingMailServerUsername"), Some("vanlt"));
    assert_eq!(text("OutgoingMailServerHostName"), Some(MAIL_HOST));
    assert_eq!(number("OutgoingMailServerPortNumber"), Some(10465));
    assert_eq!(flag("OutgoingMailServerUseSSL"), Some(true));
    assert_eq!(text("OutgoingMailServerUsername"), Some("vanlt"));
    // The device asks for the password; the profile never carries one.
    assert!(!String::from_utf8_lossy(&body).contains(CHOSEN));
}

async fn cookies_are_http_only_strict_and_secure(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let browser = Browser::start().await;
    sign_in(&browser, &site, "vanlt", CHOSEN).await;
    assert_eq!(location(&browser).await, "/account");
    let mut cookies: Vec<_> = browser
        .cookies()
        .await
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                c.http_only(),
                c.secure(),
                c.same_site(),
                c.path().map(str::to_string),
            )
        })
        .collect();
    cookies.sort_by(|a, b| a.0.cmp(&b.0));
    let strict = |name: &str| {
        (
            name.to_string(),
            Some(true),
            Some(true),
            Some(SameSite::Strict),
            Some("/".to_string()),
        )
    };
    assert_eq!(cookies, [strict("congvu_csrf"), strict("congvu_session")]);
    browser.close().await;
}

async fn english_switch(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let browser = Browser::start().await;
    browser.goto(&site.url("/")).await;
    assert_eq!(browser.text("h1").await, SIGN_IN_TITLE);
    assert_eq!(html_lang(&browser).await, "vi");
    assert_eq!(browser.text("a.lang").await, "English");

    browser.click("a.lang").await;
    assert_eq!(location(&browser).await, "/?lang=en");
    assert_eq!(browser.text("h1").await, "Sign in");
    assert_eq!(html_lang(&browser).await, "en");
    assert_eq!(
        browser.text("label[for=login]").await,
        "Login or mail address"
    );
    assert_eq!(browser.text("a.lang").await, "Tiếng Việt");

    // The choice is remembered on the next pages, without the query.
    sign_in_from_page(&browser, "vanlt", CHOSEN).await;
    assert_eq!(location(&browser).await, "/account");
    assert_eq!(browser.text("h1").await, "My account");
    assert_eq!(html_lang(&browser).await, "en");
    browser.goto(&site.url("/setup")).await;
    assert_eq!(
        browser.text("h1").await,
        "Set up mail on your computer and phone"
    );

    browser.click("a.lang").await;
    assert_eq!(location(&browser).await, "/setup?lang=vi");
    assert_eq!(browser.text("h1").await, SETUP_TITLE);
    browser.goto(&site.url("/account")).await;
    assert_eq!(browser.text("h1").await, ACCOUNT_TITLE);
    assert_eq!(html_lang(&browser).await, "vi");
    browser.close().await;
}

/// Screenshots of every page into docs/portal/, once (SQLite: the pages are the same on both
/// backends), in Vietnamese at desktop and phone widths.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn screenshots_of_every_page() {
    tokio::time::timeout(crate::TEST_DEADLINE, take_screenshots())
        .await
        .expect("the test ran past its deadline");
}

async fn take_screenshots() {
    let site = Site::start(Backend::Sqlite)
        .await
        .expect("SQLite is always available");
    furnish_vanlt(&site).await;
    let reset = site
        .directory()
        .issue_reset_link(&Actor::admin("it-snv"), "annv", 72)
        .await
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/portal");
    for (width, height, phone, suffix) in [(1280, 900, false, "desktop"), (390, 844, true, "phone")]
    {
        let shots = Shots {
            browser: Browser::with_window(width, height, phone).await,
            dir: dir.clone(),
            suffix,
            png_width: if phone { width * 3 } else { width },
        };
        let browser = &shots.browser;

        browser.goto(&site.url("/")).await;
        shots.take("sign-in", SIGN_IN_TITLE).await;

        browser.fill("#login", "vanlt").await;
        browser.fill("#password", "mật khẩu gõ nhầm").await;
        browser.click("#sign-in").await;
        assert_eq!(browser.text("#sign-in-error").await, SIGN_IN_REFUSED);
        shots
            .take_refusal("sign-in-refused", SIGN_IN_TITLE, Some(UNAUTHORIZED))
            .await;

        browser.goto(&site.url(&format!("/reset/{reset}"))).await;
        assert_eq!(browser.text("main p").await, RESET_INTRO);
        shots.take("reset-link", CHOOSE_TITLE).await;

        browser
            .goto(&site.url("/reset/lien-ket-da-dung-hoac-het-han"))
            .await;
        assert_eq!(browser.text("#message").await, LINK_INVALID);
        shots
            .take_refusal("link-invalid", LINK_INVALID_TITLE, Some(GONE))
            .await;

        sign_in(browser, &site, "vanlt", CHOSEN).await;
        assert_eq!(
            texts(browser, "#addresses li").await,
            ["vanlt@vinhphuc.gov.vn", "van.lethi@vinhphuc.gov.vn"]
        );
        assert_eq!(
            texts(browser, "#groups li").await,
            ["Tổ cải cách hành chính"]
        );
        assert_eq!(
            browser.text("#quota").await,
            "1.5 MB đã dùng trên tổng số 2.0 GB"
        );
        assert_eq!(
            texts(browser, "#certificate dd").await,
            [
                "09:00 15/03/2028 (giờ Việt Nam)",
                "54012603160000000000000000000215",
                "CN=CA thử nghiệm cổng thư",
            ]
        );
        shots.take("account", ACCOUNT_TITLE).await;

        browser.goto(&site.url("/password")).await;
        shots.take("change-password", CHANGE_TITLE).await;

        browser.goto(&site.url("/setup")).await;
        shots.take("setup", SETUP_TITLE).await;

        browser.goto(&site.url("/sessions")).await;
        assert_eq!(texts(browser, "#sessions strong").await, [THIS_SESSION]);
        shots.take("sessions", SESSIONS_TITLE).await;

        browser.goto(&site.url("/out-of-office")).await;
        assert_eq!(
            browser.text("#status").await,
            "Trả lời tự động đã đặt, sẽ bắt đầu từ ngày 20/12/2026."
        );
        shots.take("out-of-office", OUT_OF_OFFICE_TITLE).await;

        browser.click(".sign-out button").await;
        assert_eq!(location(browser).await, "/");
        sign_in(browser, &site, "annv", &site.initial).await;
        choose(browser, "password123").await;
        assert!(browser.text("#new-error").await.contains("quá dễ đoán"));
        shots
            .take_refusal("choose-password", CHOOSE_TITLE, Some(UNPROCESSABLE))
            .await;

        shots.browser.close().await;
    }
}

/// One browser's screenshots, checked as they are written.
struct Shots {
    browser: Browser,
    dir: PathBuf,
    suffix: &'static str,
    /// Device pixels: three per CSS pixel on a phone.
    png_width: u32,
}

impl Shots {
    /// Checks the page (its heading, a clean console, no sideways scrolling) and writes
    /// `<name>-<suffix>.png`.
    async fn take(&self, name: &str, h1: &str) {
        self.take_refusal(name, h1, None).await;
    }

    /// Like [`Shots::take`], for a page sent with a non-2xx `status`.
    async fn take_refusal(&self, name: &str, h1: &str, status: Option<&str>) {
        let label = format!("{name}-{}", self.suffix);
        assert_eq!(self.browser.text("h1").await, h1, "{label}");
        let errors = self.browser.console_errors().await;
        let expected = match status {
            Some(status) => vec![failed_load(&self.browser.current_url().await, status)],
            None => Vec::new(),
        };
        assert_eq!(errors, expected, "{label}");
        let widths = self
            .browser
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth]",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(widths[0], widths[1], "{label} scrolls sideways: {widths}");
        let path = self.dir.join(format!("{label}.png"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("removing the old {}: {e}", path.display()),
        }
        self.browser.screenshot(&path).await;
        let png = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(png.starts_with(PNG_SIGNATURE), "{label} is not a PNG");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert_eq!(width, self.png_width, "{label}");
    }
}

/// vanlt as the account page shows a colleague's: an alias, a group, a signing certificate,
/// some mail, sign-ins on earlier days; and an out-of-office reply over the new year.
async fn furnish_vanlt(site: &Site) {
    let admin = Actor::admin("it-snv");
    let directory = site.directory();
    directory
        .add_alias(&admin, "vanlt", "van.lethi@vinhphuc.gov.vn")
        .await
        .unwrap();
    let group = NewGroup {
        name: "to-cchc".into(),
        display_name: "Tổ cải cách hành chính".into(),
        description: None,
        kind: GroupKind::Group,
        agency_code: Some("snv".into()),
        address: None,
    };
    directory.add_group(&admin, group).await.unwrap();
    directory
        .add_group_member(&admin, "to-cchc", &MemberName::Official("vanlt".into()))
        .await
        .unwrap();
    directory
        .import_certificate(&admin, "vanlt", signing_certificate().as_bytes())
        .await
        .unwrap();
    let vanlt = directory.official("vanlt").await.unwrap();
    for days_ago in [4, 3, 1] {
        let day = UtcDay::of(START.plus(-days_ago * 86_400)).to_string();
        directory.record_activity(vanlt.id, &day).await.unwrap();
    }
    set_out_of_office(site, vanlt.id).await;
    let mailstore = &site.server.services().mailstore;
    let inbox = mailstore
        .mailboxes(vanlt.id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.role == Some(MailboxRole::Inbox))
        .expect("every official has an INBOX");
    mailstore
        .deliver(&[inbox.id], &circular(3 << 19), MessageFlags::default())
        .await
        .unwrap();
}

/// An out-of-office reply for `official` from 20/12/2026 to 03/01/2027, stored as the page
/// stores it: in a script of their own, active.
async fn set_out_of_office(site: &Site, official: OfficialId) {
    let filters = Filters::new("mail.vinhphuc.gov.vn", RedirectPolicy::default());
    let scripts = Scripts::new(
        site.server.services().store.clone(),
        site.clock.clone(),
        Arc::new(filters),
    );
    let leave = OutOfOffice::from_form(
        true,
        "2026-12-20",
        "2027-01-03",
        vacation::DEFAULT_SUBJECT,
        "Tôi nghỉ phép đến hết ngày 03/01/2027 và sẽ trả lời thư của anh/chị khi trở lại.\n\
         Việc gấp xin liên hệ chị Nhung, Phòng Tổ chức (nhunglth@vinhphuc.gov.vn).",
    )
    .unwrap();
    scripts
        .put(official, "congvu", &vacation::merge("", &leave))
        .await
        .unwrap();
    scripts.activate(official, Some("congvu")).await.unwrap();
}

/// vanlt's signing certificate (PEM), with a fixed serial so that the account page, and its
/// screenshot, are the same on every run.
fn signing_certificate() -> String {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType, SerialNumber,
    };
    let validity = |t: i64| time::OffsetDateTime::from_unix_timestamp(t).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "CA thử nghiệm cổng thư");
    let ca = ca.self_signed(&ca_key).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Lê Thị Vân");
    params.subject_alt_names = vec![SanType::Rfc822Name(
        "vanlt@vinhphuc.gov.vn".try_into().unwrap(),
    )];
    params.not_before = validity(START.0 - 30 * 86_400);
    params.not_after = validity(START.0 + 2 * 365 * 86_400);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    params.serial_number = Some(SerialNumber::from_slice(&[
        0x54, 0x01, 0x26, 0x03, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x15,
    ]));
    params
        .signed_by(&KeyPair::generate().unwrap(), &ca, &ca_key)
        .unwrap()
        .pem()
}

/// A circular with a PDF attachment, exactly `size` bytes long.
fn circular(size: usize) -> Vec<u8> {
    let head = "From: =?utf-8?q?Nguy=E1=BB=85n_V=C4=83n_An?= <annv@vinhphuc.gov.vn>\r\n\
                To: vanlt@vinhphuc.gov.vn\r\n\
                Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n_s=E1=BB=91_215?=\r\n\
                Date: Mon, 16 Mar 2026 08:30:00 +0700\r\n\
                Message-ID: <cv-215@vinhphuc.gov.vn>\r\n\
                MIME-Version: 1.0\r\n\
                Content-Type: multipart/mixed; boundary=\"ranh-gioi\"\r\n\
                \r\n\
                --ranh-gioi\r\n\
                Content-Type: text/plain; charset=utf-8\r\n\
                \r\n\
                Kính gửi chị Vân, xin gửi công văn đính kèm.\r\n\
                --ranh-gioi\r\n\
                Content-Type: application/pdf; name=\"cong-van-215.pdf\"\r\n\
                Content-Transfer-Encoding: base64\r\n\
                \r\n";
    let tail = "\r\n--ranh-gioi--\r\n";
    let mut message = head.as_bytes().to_vec();
    let end = size - tail.len();
    while end - message.len() >= 78 {
        message.extend_from_slice(&[b'A'; 76]);
        message.extend_from_slice(b"\r\n");
    }
    message.resize(end, b'A');
    message.extend_from_slice(tail.as_bytes());
    assert_eq!(message.len(), size);
    message
}

/// Opens the sign-in page and signs in.
async fn sign_in(browser: &Browser, site: &Site, login: &str, password: &str) {
    browser.goto(&site.url("/")).await;
    sign_in_from_page(browser, login, password).await;
}

/// Signs in on the sign-in page the browser shows.
async fn sign_in_from_page(browser: &Browser, login: &str, password: &str) {
    browser.fill("#login", login).await;
    browser.fill("#password", password).await;
    browser.click("#sign-in").await;
}

/// Submits the choose-password form (first sign-in or reset link), the same password twice.
async fn choose(browser: &Browser, password: &str) {
    browser.fill("#new", password).await;
    browser.fill("#confirm", password).await;
    browser.click("#save").await;
}

/// Submits the change-password form.
async fn change(browser: &Browser, current: &str, new: &str) {
    browser.fill("#current", current).await;
    browser.fill("#new", new).await;
    browser.fill("#confirm", new).await;
    browser.click("#save").await;
}

/// The page that says a reset link no longer works (410, which WebDriver does not show).
async fn assert_link_refused(browser: &Browser) {
    assert_status(browser, GONE).await;
    assert_eq!(browser.text("h1").await, LINK_INVALID_TITLE);
    assert_eq!(browser.text("#message").await, LINK_INVALID);
    assert!(!browser.exists("#new").await);
}

/// The path and query of the current page.
pub(super) async fn location(browser: &Browser) -> String {
    let url = reqwest::Url::parse(&browser.current_url().await).unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

/// The visible text of every element matching `css`, in document order.
async fn texts(browser: &Browser, css: &str) -> Vec<String> {
    let mut found = Vec::new();
    for element in browser.client.find_all(Locator::Css(css)).await.unwrap() {
        found.push(element.text().await.unwrap());
    }
    found
}

/// The `lang` attribute of the page.
async fn html_lang(browser: &Browser) -> String {
    browser
        .client
        .find(Locator::Css("html"))
        .await
        .unwrap()
        .attr("lang")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Chromium's log entry for a page or resource that came with a non-2xx `status`.
fn failed_load(url: &str, status: &str) -> String {
    format!("{url} - Failed to load resource: the server responded with a status of {status}")
}

/// The page the browser shows came with `status`, and nothing else went wrong since the
/// last look at the log.
pub(super) async fn assert_status(browser: &Browser, status: &str) {
    let url = browser.current_url().await;
    assert_eq!(
        browser.console_errors().await,
        [failed_load(&url, status)],
        "{url}"
    );
}

/// Nothing went wrong since the last look at the log: the page the browser shows came
/// with a 2xx status, its stylesheet loaded, no CSP violation.
pub(super) async fn assert_clean(browser: &Browser) {
    let url = browser.current_url().await;
    assert_eq!(
        browser.console_errors().await,
        Vec::<String>::new(),
        "{url}"
    );
}

/// `a LOGIN` over implicit TLS with the password as a literal (it may hold any UTF-8);
/// returns the tagged response line.
async fn imap_login(site: &Site, login: &str, password: &str) -> String {
    let (mut imap, greeting) = RawImap::connect_tls(site.addr(ListenerKind::Imaps), &site.db).await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    imap.send(format!("a LOGIN {login} {{{}}}\r\n", password.len()).as_bytes())
        .await;
    let go_ahead = imap.read_line().await.expect("closed after LOGIN");
    assert!(go_ahead.starts_with("+ "), "{go_ahead}");
    imap.send(format!("{password}\r\n").as_bytes()).await;
    imap.until_tagged("a").await.pop().unwrap()
}

/// `AUTH PLAIN` on the submissions port (implicit TLS); returns the reply line.
async fn smtp_auth(site: &Site, login: &str, password: &str) -> String {
    use base64::Engine;
    let tcp = TcpStream::connect(site.addr(ListenerKind::Submissions))
        .await
        .unwrap();
    let tls = server::tls_connector(&site.db)
        .connect(ServerName::try_from(SERVER_HOST).unwrap(), tcp)
        .await
        .unwrap();
    let mut smtp = RawSmtp::over(tls);
    let greeting = smtp.reply().await.expect("no greeting");
    assert_eq!(greeting.code, 220, "{greeting:?}");
    let ehlo = smtp.command("EHLO laptop").await;
    assert_eq!(ehlo.code, 250, "{ehlo:?}");
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{login}\0{password}"));
    smtp.command(&format!("AUTH PLAIN {credentials}"))
        .await
        .line()
}
