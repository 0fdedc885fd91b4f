//! `congvu-admin user reset-link` and `user import --reset-links`: links as IT staff hand them out.
//! The real `congvu-admin` binary (see tests/Cargo.toml) runs against the site's database while
//! the site's server is running on it, with a config file that names the site's public URL;
//! every link it prints is then opened on the server's plain HTTP listener (loopback, so the
//! portal takes passwords there).
//!
//! The CLI stamps links with the system clock, the server judges them by its fixed clock:
//! tests about expiry first move the server's clock to the system's time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use congvu::clock::Clock;
use congvu::directory::{OfficialStatus, PasswordCost};
use congvu_tests::Backend;
use reqwest::StatusCode;
use serde_json::Value;

use super::{Site, PUBLIC_URL};
use crate::admin::{fails, json_of, run_admin, AdminRun};
use crate::backend_tests;

backend_tests!(
    reset_link_prints_a_url_under_the_public_url_that_opens_the_choose_page,
    reset_link_json_gives_an_expiry_the_portal_keeps_to,
    reset_link_hours_outside_1_to_720_are_refused_with_status_2,
    reset_link_for_an_unknown_login_fails_with_status_1,
    reset_link_for_a_disabled_official_is_refused_with_what_to_do,
    import_with_reset_links_writes_one_link_per_new_official_and_no_password,
    each_imported_link_chooses_a_password_once,
    links_that_cannot_be_issued_leave_the_officials_and_say_what_to_do,
    import_without_reset_links_gives_the_sign_in_address_in_each_row,
    import_link_hours_outside_1_to_720_are_refused_and_nothing_is_imported,
    user_add_and_passwd_generate_name_the_sign_in_address,
);

/// The HR list of two new officials of the seeded agency `snv`.
const HR_LIST: &str = "Họ và tên,Chức vụ\r\n\
Lê Thị Hồng Nhung,Chuyên viên\r\n\
Trần Thanh Bình,Trưởng phòng\r\n";

/// (name, address, login) of the officials on [`HR_LIST`], in file order.
const IMPORTED: [(&str, &str, &str); 2] = [
    ("Lê Thị Hồng Nhung", "nhunglth@vinhphuc.gov.vn", "nhunglth"),
    ("Trần Thanh Bình", "binhtt@vinhphuc.gov.vn", "binhtt"),
];

/// A password the policy accepts for every official here.
const GOOD: &str = "mây trắng bay qua đồi chè 77";

/// The reset page's introduction (server/src/http/portal/texts.rs).
const RESET_INTRO: &str =
    "Liên kết này cho phép bạn chọn mật khẩu mới một lần mà không cần mật khẩu cũ.";
/// The title of the page a used, expired or unknown link answers.
const LINK_INVALID_TITLE: &str = "Liên kết không còn hiệu lực";

/// `congvu-admin` on the site's database, with the site's public URL.
struct Admin {
    config: PathBuf,
    dir: PathBuf,
}

impl Admin {
    fn for_site(site: &Site) -> Admin {
        let dir = site.db.dir.path().to_path_buf();
        let config = dir.join("admin.toml");
        let text = format!(
            "[server]\nhostname = \"mail.vinhphuc.gov.vn\"\ndata_dir = {data:?}\n\n\
             [database]\nurl = {url:?}\n\n[tls]\nself_signed = true\n\n\
             [auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n\n\
             [http]\npublic_url = {PUBLIC_URL:?}\n",
            data = dir.join("data").display().to_string(),
            url = site.db.url,
        );
        std::fs::write(&config, text).unwrap();
        Admin { config, dir }
    }

    fn run(&self, args: &[&str]) -> AdminRun {
        run_admin(&self.config, &self.dir, args)
    }

    /// Writes [`HR_LIST`] and imports it into `snv` with `extra` options.
    fn import(&self, extra: &[&str]) -> AdminRun {
        let list = self.dir.join("snv.csv");
        std::fs::write(&list, HR_LIST).unwrap();
        let mut args = vec!["user", "import", "--agency", "snv", list.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn credentials_path(&self) -> PathBuf {
        self.dir.join("snv-credentials.csv")
    }
}

/// The portal as a browser without JavaScript meets it, redirects not followed.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The path of a link the CLI printed, on the test server: the link must be under the
/// public URL.
#[track_caller]
fn reset_path(link: &str) -> String {
    let token = link
        .strip_prefix(PUBLIC_URL)
        .and_then(|rest| rest.strip_prefix("reset/"))
        .unwrap_or_else(|| panic!("{link} is not a reset link under {PUBLIC_URL}"));
    assert_eq!(token.len(), 43, "256 bits in base64url: {link}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{link}"
    );
    format!("/reset/{token}")
}

/// Opens a link's page: its status and its HTML.
async fn open(site: &Site, path: &str) -> (StatusCode, String) {
    let response = client().get(site.url(path)).send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// Chooses [`GOOD`] through the link's form, as the browser posts it: the anonymous CSRF
/// cookie from the page, and its token in the form. Returns the answer's status and
/// `Location`.
async fn choose_through(site: &Site, path: &str) -> (StatusCode, Option<String>) {
    let page = client().get(site.url(path)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = page
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("congvu_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("the reset page sets the anonymous CSRF cookie")
        .to_string();
    let answer = client()
        .post(site.url(path))
        .header(reqwest::header::COOKIE, format!("congvu_csrf={csrf}"))
        .form(&[("csrf", csrf.as_str()), ("new", GOOD), ("confirm", GOOD)])
        .send()
        .await
        .unwrap();
    let location = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    (answer.status(), location)
}

/// Moves the server's fixed clock to the system's time, which the CLI stamps links with.
fn server_clock_to_system_time(site: &Site) {
    let behind = Clock::system().now().0 - site.clock.now().0;
    assert!(behind >= 0, "the fixture's clock is in the past");
    site.clock.advance(behind);
}

/// `YYYY-MM-DD HH:MM:SS` of `t` at `hours` east of UTC.
fn civil(t: i64, hours: i8) -> String {
    let offset = time::UtcOffset::from_hms(hours, 0, 0).unwrap();
    let at = time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap()
        .to_offset(offset);
    format!(
        "{} {:02}:{:02}:{:02}",
        at.date(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The expiry the CLI prints, in Vietnam time: `2026-12-09 00:38:50 +07:00`.
fn vietnam(t: i64) -> String {
    format!("{} +07:00", civil(t, 7))
}

/// `f` run between two readings of the system clock: what it stamps lies between them.
fn timed<T>(f: impl FnOnce() -> T) -> (T, std::ops::RangeInclusive<i64>) {
    let before = Clock::system().now().0;
    let result = f();
    let after = Clock::system().now().0;
    (result, before..=after)
}

fn read_credentials(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn reset_link_prints_a_url_under_the_public_url_that_opens_the_choose_page(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let admin = Admin::for_site(&site);
    let (run, stamped) = timed(|| admin.run(&["user", "reset-link", "annv"]));
    let run = run.ok();
    assert_eq!(run.stderr, "");
    let (first, link) = run
        .stdout
        .strip_suffix('\n')
        .and_then(|text| text.split_once('\n'))
        .unwrap_or_else(|| panic!("two lines expected:\n{}", run.stdout));
    // Valid 72 hours by default, from when it was made.
    let expected: Vec<String> = stamped
        .map(|now| {
            let until = now + 72 * 3600;
            format!(
                "one-time link for annv <annv@vinhphuc.gov.vn> to choose a password, valid until {} ({} UTC):",
                vietnam(until),
                civil(until, 0)
            )
        })
        .collect();
    assert!(
        expected.iter().any(|e| e == first),
        "{first}\nexpected one of {expected:#?}"
    );

    let (status, page) = open(&site, &reset_path(link)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(RESET_INTRO), "{page}");
    assert!(
        page.contains("Nguyễn Văn An · annv@vinhphuc.gov.vn"),
        "{page}"
    );

    // Issued and audited under the administrator, without the token.
    let audit = site
        .directory()
        .audit_log(Some("official:annv"))
        .await
        .unwrap();
    let issued: Vec<_> = audit
        .iter()
        .filter(|e| e.record.action == "official.reset_link")
        .collect();
    assert_eq!(issued.len(), 1);
    let token = link.rsplit('/').next().unwrap();
    assert!(!format!("{:?}", issued[0].record).contains(token));
}

async fn reset_link_json_gives_an_expiry_the_portal_keeps_to(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let admin = Admin::for_site(&site);
    let (run, stamped) =
        timed(|| admin.run(&["user", "reset-link", "annv", "--hours", "1", "--json"]));
    let printed = json_of(&run.ok());
    let url = printed["url"].as_str().unwrap().to_string();
    let expires_at = printed["expires_at"].as_i64().unwrap();
    assert_eq!(
        printed,
        serde_json::json!({ "login": "annv", "url": url, "expires_at": expires_at })
    );
    assert!(
        stamped.contains(&(expires_at - 3600)),
        "expires_at {expires_at} is not an hour after {stamped:?}"
    );
    let path = reset_path(&url);

    server_clock_to_system_time(&site);
    site.clock.advance(expires_at - 1 - site.clock.now().0);
    let (status, page) = open(&site, &path).await;
    assert_eq!(status, StatusCode::OK, "a second before expiry: {page}");
    // The directory stamps the link at most a second after the CLI reads the clock.
    site.clock.advance(2);
    let (status, page) = open(&site, &path).await;
    assert_eq!(status, StatusCode::GONE, "a second after expiry");
    assert!(page.contains(LINK_INVALID_TITLE), "{page}");
}

async fn reset_link_hours_outside_1_to_720_are_refused_with_status_2(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let admin = Admin::for_site(&site);
    for hours in ["0", "721"] {
        fails(
            admin.run(&["user", "reset-link", "annv", "--hours", hours]),
            2,
            &format!(
                "error: invalid value '{hours}' for '--hours <HOURS>': {hours} is not in 1..=720\n\n\
                 For more information, try '--help'.\n"
            ),
        );
    }
    let issued = || async {
        let audit = site
            .directory()
            .audit_log(Some("official:annv"))
            .await
            .unwrap();
        audit
            .iter()
            .filter(|e| e.record.action == "official.reset_link")
            .count()
    };
    assert_eq!(issued().await, 0, "a refused command issues nothing");
    for hours in ["1", "720"] {
        let printed = json_of(
            &admin
                .run(&["user", "reset-link", "annv", "--hours", hours, "--json"])
                .ok(),
        );
        let (status, _) = open(&site, &reset_path(printed["url"].as_str().unwrap())).await;
        assert_eq!(status, StatusCode::OK, "--hours {hours}");
    }
    assert_eq!(issued().await, 2);
}

async fn reset_link_for_an_unknown_login_fails_with_status_1(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let admin = Admin::for_site(&site);
    fails(
        admin.run(&["user", "reset-link", "nobody"]),
        1,
        "congvu-admin: official \"nobody\" does not exist: check the login with `congvu-admin user list`\n",
    );
}

async fn reset_link_for_a_disabled_official_is_refused_with_what_to_do(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let admin = Admin::for_site(&site);
    admin.run(&["user", "disable", "annv"]).ok();
    fails(
        admin.run(&["user", "reset-link", "annv"]),
        1,
        "congvu-admin: annv is disabled: enable the official first (congvu-admin user enable annv), then issue the link\n",
    );
    let issued = site
        .directory()
        .audit_log(Some("official:annv"))
        .await
        .unwrap();
    assert!(
        issued
            .iter()
            .all(|e| e.record.action != "official.reset_link"),
        "{issued:?}"
    );
    admin.run(&["user", "enable", "annv"]).ok();
    admin.run(&["user", "reset-link", "annv"]).ok();
}

async fn import_with_reset_links_writes_one_link_per_new_official_and_no_password(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let admin = Admin::for_site(&site);
    let creds = admin.credentials_path();
    let (run, stamped) = timed(|| {
        admin.import(&[
            "--reset-links",
            "--link-hours",
            "24",
            "--credentials-out",
            creds.to_str().unwrap(),
        ])
    });
    let run = run.ok();

    assert_eq!(mode(&creds), 0o600);
    let (header, rows) = read_credentials(&creds);
    assert_eq!(
        header,
        ["name", "address", "login", "reset_link", "valid_until"]
    );
    assert_eq!(rows.len(), IMPORTED.len());
    let valid_until = &rows[0][4];
    assert!(
        stamped
            .clone()
            .any(|now| *valid_until == vietnam(now + 24 * 3600)),
        "{valid_until} is not 24 hours after {stamped:?}"
    );
    let last_line = format!(
        "wrote 2 one-time reset links to {}, valid until {valid_until} ({} UTC)\n",
        creds.display(),
        // The same instant, in UTC.
        stamped
            .clone()
            .find(|now| vietnam(now + 24 * 3600) == *valid_until)
            .map(|now| civil(now + 24 * 3600, 0))
            .unwrap()
    );
    assert!(run.stdout.ends_with(&last_line), "{}", run.stdout);
    for (row, (name, address, login)) in rows.iter().zip(IMPORTED) {
        assert_eq!(
            row[..3],
            [name.to_string(), address.to_string(), login.to_string()]
        );
        assert_eq!(row[4], *valid_until, "one expiry for the whole import");
        assert!(!run.stdout.contains(&row[3]), "a link on the terminal");
        let (status, page) = open(&site, &reset_path(&row[3])).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains(&format!("{name} · {address}")), "{page}");
        // The official exists with a generated initial password nobody has seen.
        let official = site.directory().official(login).await.unwrap();
        assert_eq!(official.status, OfficialStatus::Active);
        let password = official.password.unwrap();
        assert_eq!(
            (password.cost, password.must_change),
            (PasswordCost::Initial, true)
        );
    }
    assert_ne!(rows[0][3], rows[1][3]);
}

async fn each_imported_link_chooses_a_password_once(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let admin = Admin::for_site(&site);
    let creds = admin.credentials_path();
    admin
        .import(&[
            "--reset-links",
            "--credentials-out",
            creds.to_str().unwrap(),
        ])
        .ok();
    let (_, rows) = read_credentials(&creds);
    let first = reset_path(&rows[0][3]);
    let second = reset_path(&rows[1][3]);

    assert_eq!(
        choose_through(&site, &first).await,
        (
            StatusCode::SEE_OTHER,
            Some("/account?saved=password".into())
        )
    );
    let nhung = site.directory().official("nhunglth").await.unwrap();
    let password = nhung.password.unwrap();
    assert_eq!(
        (password.cost, password.must_change),
        (PasswordCost::Full, false)
    );

    let (status, page) = open(&site, &first).await;
    assert_eq!(status, StatusCode::GONE, "the used link");
    assert!(page.contains(LINK_INVALID_TITLE), "{page}");
    let (status, _) = open(&site, &second).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the other official's link still works"
    );
    assert_eq!(
        choose_through(&site, &second).await,
        (
            StatusCode::SEE_OTHER,
            Some("/account?saved=password".into())
        )
    );
    let (status, _) = open(&site, &second).await;
    assert_eq!(status, StatusCode::GONE);
}

/// Makes the database refuse every new reset link, as a failing store would.
async fn refuse_reset_links(site: &Site, backend: Backend) {
    use sqlx::{Connection, Executor};
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&site.db.url).await.unwrap();
            conn.execute(
                "CREATE TRIGGER refuse_reset_links BEFORE INSERT ON reset_links \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            )
            .await
            .unwrap();
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&site.db.url).await.unwrap();
            conn.execute(
                "CREATE FUNCTION refuse_reset_links() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
                 CREATE TRIGGER refuse_reset_links BEFORE INSERT ON reset_links \
                 FOR EACH ROW EXECUTE FUNCTION refuse_reset_links()",
            )
            .await
            .unwrap();
            conn.close().await.unwrap();
        }
    }
}

async fn links_that_cannot_be_issued_leave_the_officials_and_say_what_to_do(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    refuse_reset_links(&site, backend).await;
    let admin = Admin::for_site(&site);
    let creds = admin.credentials_path();
    let run = admin.import(&[
        "--reset-links",
        "--credentials-out",
        creds.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    // The import itself happened, and says so.
    assert!(run.stdout.starts_with("Imported "), "{}", run.stdout);
    assert!(
        run.stderr.starts_with(
            "congvu-admin: 2 new official(s) were created, but their reset links could not be issued: "
        ) && run.stderr.contains("refused by the test")
            && run.stderr.ends_with(&format!(
                ", so {} was removed: give each a link with `congvu-admin user reset-link LOGIN`, \
                 for: nhunglth, binhtt\n",
                creds.display()
            )),
        "{}",
        run.stderr
    );
    assert!(!creds.exists(), "an empty credentials file left behind");
    for (_, _, login) in IMPORTED {
        let official = site.directory().official(login).await.unwrap();
        assert_eq!(official.status, OfficialStatus::Active);
    }
}

async fn import_without_reset_links_gives_the_sign_in_address_in_each_row(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let admin = Admin::for_site(&site);
    let creds = admin.credentials_path();
    admin
        .import(&["--credentials-out", creds.to_str().unwrap()])
        .ok();
    assert_eq!(mode(&creds), 0o600);
    let (header, rows) = read_credentials(&creds);
    assert_eq!(
        header,
        ["name", "address", "login", "initial_password", "sign_in"]
    );
    assert_eq!(rows.len(), IMPORTED.len());
    for (row, (name, address, login)) in rows.iter().zip(IMPORTED) {
        assert_eq!(
            row[..3],
            [name.to_string(), address.to_string(), login.to_string()]
        );
        assert_eq!(row[3].len(), 20, "a generated initial password");
        assert_eq!(row[4], PUBLIC_URL);
    }
}

async fn import_link_hours_outside_1_to_720_are_refused_and_nothing_is_imported(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let admin = Admin::for_site(&site);
    let creds = admin.credentials_path();
    let path = creds.to_str().unwrap();
    for hours in ["0", "721"] {
        fails(
            admin.import(&["--reset-links", "--link-hours", hours, "--credentials-out", path]),
            2,
            &format!(
                "error: invalid value '{hours}' for '--link-hours <HOURS>': {hours} is not in 1..=720\n\n\
                 For more information, try '--help'.\n"
            ),
        );
    }
    // --link-hours means nothing without links.
    let alone = admin.import(&["--link-hours", "24", "--credentials-out", path]);
    assert_eq!(alone.code, Some(2), "{}", alone.stderr);
    assert!(
        alone.stderr.starts_with(
            "error: the following required arguments were not provided:\n  --reset-links\n"
        ),
        "{}",
        alone.stderr
    );
    assert!(!creds.exists(), "no credentials file for a refused command");
    let officials = site.directory().officials_in_agency("snv").await.unwrap();
    assert_eq!(officials.len(), 2, "only the seeded officials");
}

async fn user_add_and_passwd_generate_name_the_sign_in_address(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let admin = Admin::for_site(&site);
    let sign_in = format!("sign in at {PUBLIC_URL} to choose a password");

    let added = admin
        .run(&[
            "user",
            "add",
            "hoapt",
            "--name",
            "Phạm Thị Hoà",
            "--agency",
            "snv",
        ])
        .ok();
    let lines: Vec<&str> = added.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", added.stdout);
    assert_eq!(lines[0], "added hoapt <hoapt@vinhphuc.gov.vn>");
    assert!(lines[1].starts_with("initial password (shown once, must be changed at first login): "));
    assert_eq!(lines[2], sign_in);

    let added = json_of(
        &admin
            .run(&[
                "--json",
                "user",
                "add",
                "cuongpv",
                "--name",
                "Phạm Văn Cường",
                "--agency",
                "snv",
            ])
            .ok(),
    );
    let initial = added["initial_password"].as_str().unwrap().to_string();
    assert_eq!(
        added,
        serde_json::json!({
            "login": "cuongpv", "address": "cuongpv@vinhphuc.gov.vn",
            "initial_password": initial, "sign_in": PUBLIC_URL,
        })
    );

    let generated = admin.run(&["user", "passwd", "hoapt", "--generate"]).ok();
    let lines: Vec<&str> = generated.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", generated.stdout);
    assert!(lines[0].starts_with(
        "new initial password for hoapt (shown once, must be changed at first login): "
    ));
    assert_eq!(lines[1], sign_in);

    let generated = json_of(
        &admin
            .run(&["--json", "user", "passwd", "hoapt", "--generate"])
            .ok(),
    );
    assert_eq!(generated["sign_in"], Value::from(PUBLIC_URL));
}
