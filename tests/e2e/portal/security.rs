//! The portal under hostile input: CSRF, cookies, headers, throttling, sessions, plain HTTP, connection limits and deadlines.
//!
//! Spoken to over real HTTP: reqwest (redirects not followed) on the plain listener, HTTP/1.1
//! written by hand over tokio-rustls on the HTTPS listener (the workspace's reqwest has no
//! TLS), and raw TCP where the test is about bytes and connections. Cookies are kept by hand
//! from the `Set-Cookie` headers, so a test sees every attribute the server sets and can
//! replay or forge one at will.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use congvu::config::ListenAddr;
use congvu::directory::{Actor, OfficialStatus};
use congvu::net::ListenerKind;
use congvu_tests::imap::RawImap;
use congvu_tests::{server, Backend};
use rand::RngCore;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::redirect::Policy;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::{Site, CHOSEN};
use crate::backend_tests;

backend_tests!(
    sign_in_without_the_right_csrf_token_is_refused_and_opens_no_session,
    choosing_a_password_without_the_right_csrf_token_is_refused_and_changes_nothing,
    changing_a_password_without_the_right_csrf_token_is_refused_and_changes_nothing,
    ending_all_sessions_without_the_right_csrf_token_is_refused_and_ends_none,
    signing_out_without_the_right_csrf_token_is_refused_and_the_session_lives,
    saving_out_of_office_without_the_right_csrf_token_is_refused_and_stores_nothing,
    behind_an_https_public_url_a_loopback_peer_gets_strict_secure_cookies_and_hsts,
    on_the_https_listener_the_session_cookie_is_secure_and_hsts_is_sent,
    with_an_http_public_url_plain_http_sets_no_secure_flag_and_no_hsts,
    every_page_carries_the_security_headers_and_no_script,
    wrong_portal_sign_ins_lock_imap_and_the_portal_until_the_window_passes,
    wrong_imap_logins_lock_the_portal_sign_in,
    a_source_past_its_failure_limit_is_refused_even_the_right_password,
    behind_a_local_proxy_each_forwarded_client_is_its_own_source,
    unknown_user_wrong_password_and_disabled_account_get_the_same_answer,
    a_session_idle_for_just_under_thirty_minutes_still_works,
    a_session_idle_for_thirty_minutes_ends,
    a_busy_session_ends_eight_hours_after_sign_in,
    a_forged_session_cookie_is_sent_to_sign_in,
    a_session_cookie_replayed_after_sign_out_is_sent_to_sign_in,
    sign_out_everywhere_ends_the_other_sessions,
    over_plain_http_a_peer_on_another_address_cannot_sign_in,
    over_plain_http_a_peer_on_another_address_cannot_choose_a_password,
    over_https_a_peer_on_another_address_signs_in,
    the_sixth_connection_from_one_address_gets_503_and_is_closed,
    a_connection_stuck_in_its_header_is_closed_after_the_header_deadline,
    a_form_body_one_byte_over_16_kib_is_refused_with_413,
    a_sign_in_form_of_exactly_16_kib_is_read,
    an_out_of_office_reply_of_4000_vietnamese_characters_is_read_and_64_kib_is_the_limit,
    a_ten_thousand_character_login_gets_the_refusal_page,
    control_characters_in_the_login_get_the_refusal_page,
    broken_utf8_in_the_form_gets_the_refusal_page,
    no_page_shows_a_password_after_it_was_submitted,
    no_audit_row_holds_a_password_after_one_is_chosen,
    a_correct_sign_in_during_a_many_address_flood_is_answered_within_two_seconds,
);

/// A password `vanlt` or `annv` may choose: strong, and free of their logins and names.
const NEW_PASSWORD: &str = "Đầm Vạc mùa sen nở rộ 2026!";

/// Longest any one HTTP exchange may take before the test fails.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// The page texts the tests look for (Vietnamese, the default language).
const SIGN_IN_REFUSED: &str = "Tên đăng nhập hoặc mật khẩu không đúng, hoặc mật khẩu ban đầu đã hết hạn. Nếu quên mật khẩu, hãy liên hệ bộ phận công nghệ thông tin của cơ quan.";
const CSRF_REFUSED: &str = "Biểu mẫu đã cũ hoặc không đến từ trang này. Hãy mở lại trang và thử lại; không có gì bị thay đổi.";
const NEEDS_HTTPS: &str = "Mật khẩu chỉ được gửi qua kết nối an toàn (https). Hãy mở cổng thư bằng địa chỉ https; không có gì bị thay đổi.";
const TOO_LARGE: &str = "Biểu mẫu quá lớn. Không có gì bị thay đổi.";
const OUT_OF_OFFICE_ON: &str = "Trả lời tự động đang bật.";
const OUT_OF_OFFICE_OFF: &str = "Trả lời tự động đang tắt.";
const MESSAGE_TOO_LONG: &str = "Nội dung quá dài: tối đa 4.000 ký tự.";

const FORM_TYPE: &str = "application/x-www-form-urlencoded";
const SESSION_COOKIE: &str = "congvu_session";
const CSRF_COOKIE: &str = "congvu_csrf";
const HSTS: &str = "max-age=31536000";

// ---------------------------------------------------------------------------------------
// An HTTP answer, and a browser that keeps cookies by hand
// ---------------------------------------------------------------------------------------

/// One HTTP response as a test reads it.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    /// Header names in lower case, in the order received.
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn location(&self) -> Option<&str> {
        self.header("location")
    }

    fn set_cookies(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
    }

    /// The whole `Set-Cookie` line for cookie `name`, if one was set.
    fn set_cookie(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.set_cookies().find(|c| c.starts_with(&prefix))
    }

    /// Whether this answer gave the browser a session (a non-empty session cookie).
    fn opens_session(&self) -> bool {
        self.set_cookie(SESSION_COOKIE)
            .is_some_and(|c| !cookie_value(c).is_empty())
    }

    /// The value of the page's hidden `csrf` field.
    fn hidden_csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field in the page: {}", self.body))
            + marker.len();
        let end = self.body[at..].find('"').unwrap() + at;
        self.body[at..end].to_string()
    }

    /// The `<p class="error" …>…</p>` element of the page, if any.
    fn error_element(&self) -> Option<&str> {
        let start = self.body.find("<p class=\"error\"")?;
        let end = self.body[start..].find("</p>")? + start + "</p>".len();
        Some(&self.body[start..end])
    }

    /// Everything a browser shows or keeps: status line, headers and body.
    fn everything(&self) -> String {
        let mut all = format!("{}\n", self.status);
        for (n, v) in &self.headers {
            all.push_str(&format!("{n}: {v}\n"));
        }
        all.push_str(&self.body);
        all
    }

    async fn from_reqwest(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.bytes().await.unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

/// The value of a `Set-Cookie` line (`name=value; attributes`).
fn cookie_value(line: &str) -> &str {
    let pair = line.split(';').next().unwrap_or_default();
    pair.split_once('=').map_or("", |(_, v)| v)
}

/// The attributes of a `Set-Cookie` line, as written.
fn cookie_attributes(line: &str) -> BTreeSet<String> {
    line.split(';')
        .skip(1)
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

fn attributes(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|a| a.to_string()).collect()
}

/// How a browser reaches the server.
enum Via {
    /// reqwest to `base` (`http://host:port`) on the plain listener.
    Plain {
        client: reqwest::Client,
        base: String,
    },
    /// HTTP/1.1 by hand over TLS to the HTTPS listener at `server`.
    Tls {
        server: SocketAddr,
        local: Option<IpAddr>,
        connector: tokio_rustls::TlsConnector,
    },
}

/// A visitor: one way in and a cookie jar.
struct Browser {
    via: Via,
    jar: BTreeMap<String, String>,
    /// `X-Forwarded-For` on every request, as a reverse proxy in front of the portal adds it.
    forwarded_for: Option<String>,
}

impl Browser {
    /// A browser on the site's plain listener, from 127.0.0.1.
    fn new(site: &Site) -> Browser {
        Browser::plain(site.url(""), None)
    }

    /// A browser on the plain listener at `base`, from `local` when given.
    fn plain(base: String, local: Option<IpAddr>) -> Browser {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .local_address(local)
            .build()
            .unwrap();
        Browser {
            via: Via::Plain { client, base },
            jar: BTreeMap::new(),
            forwarded_for: None,
        }
    }

    /// A browser on the HTTPS listener at `server`, trusting the site's certificate.
    fn tls(site: &Site, server: SocketAddr, local: Option<IpAddr>) -> Browser {
        Browser {
            via: Via::Tls {
                server,
                local,
                connector: server::tls_connector(&site.db),
            },
            jar: BTreeMap::new(),
            forwarded_for: None,
        }
    }

    /// The same browser seen through a reverse proxy that forwards it for `client`.
    fn forwarded_for(mut self, client: &str) -> Browser {
        self.forwarded_for = Some(client.to_string());
        self
    }

    /// The same browser's cookies, taken along to another way in.
    fn with_cookies_of(mut self, other: &Browser) -> Browser {
        self.jar = other.jar.clone();
        self
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    /// Puts a cookie in the jar as a forger or a replayer would.
    fn set_cookie(&mut self, name: &str, value: &str) {
        self.jar.insert(name.to_string(), value.to_string());
    }

    async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.send("POST", path, Some(form(fields).into_bytes()))
            .await
    }

    async fn post_raw(&mut self, path: &str, body: Vec<u8>) -> Answer {
        self.send("POST", path, Some(body)).await
    }

    async fn send(&mut self, method: &str, path: &str, body: Option<Vec<u8>>) -> Answer {
        let cookies = (!self.jar.is_empty()).then(|| {
            self.jar
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
        let exchange = async {
            match &self.via {
                Via::Plain { client, base } => {
                    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                    let mut request = client.request(method, format!("{base}{path}"));
                    if let Some(cookies) = &cookies {
                        request = request.header(COOKIE, cookies);
                    }
                    if let Some(client) = &self.forwarded_for {
                        request = request.header("x-forwarded-for", client);
                    }
                    if let Some(body) = body {
                        request = request.header(CONTENT_TYPE, FORM_TYPE).body(body);
                    }
                    Answer::from_reqwest(request.send().await.unwrap()).await
                }
                Via::Tls {
                    server,
                    local,
                    connector,
                } => {
                    let request = http1_request(method, path, cookies.as_deref(), body.as_deref());
                    let tcp = connect_from(*local, *server).await;
                    let name = ServerName::try_from("localhost").unwrap();
                    let mut tls = connector.connect(name, tcp).await.unwrap();
                    tls.write_all(&request).await.unwrap();
                    tls.flush().await.unwrap();
                    read_answer(&mut tls).await
                }
            }
        };
        let answer = tokio::time::timeout(ANSWER_WITHIN, exchange)
            .await
            .unwrap_or_else(|_| panic!("no answer to {method} {path} within {ANSWER_WITHIN:?}"));
        for line in answer.set_cookies() {
            let (name, value) = line
                .split(';')
                .next()
                .and_then(|pair| pair.split_once('='))
                .unwrap();
            if value.is_empty() || line.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_string(), value.to_string());
            }
        }
        answer
    }

    /// The anonymous CSRF token, from the sign-in page.
    async fn anonymous_csrf(&mut self) -> String {
        let page = self.get("/").await;
        assert_eq!(page.status, 200, "{page:?}");
        page.hidden_csrf()
    }

    /// The session's CSRF token, from the form on `path`.
    async fn csrf_of(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "GET {path}: {page:?}");
        page.hidden_csrf()
    }

    /// Fills in and sends the sign-in form.
    async fn sign_in(&mut self, login: &str, password: &str) -> Answer {
        let csrf = self.anonymous_csrf().await;
        self.post(
            "/sign-in",
            &[("csrf", &csrf), ("login", login), ("password", password)],
        )
        .await
    }
}

/// A browser signed in on the plain listener with `login`'s own password.
async fn signed_in(site: &Site, login: &str, password: &str) -> Browser {
    let mut browser = Browser::new(site);
    let answer = browser.sign_in(login, password).await;
    assert_redirect(&answer, "/account");
    assert!(answer.opens_session(), "{answer:?}");
    browser
}

/// A browser signed in with `annv`'s initial password: it may only choose a password.
async fn choosing(site: &Site) -> Browser {
    let mut browser = Browser::new(site);
    let answer = browser.sign_in("annv", &site.initial).await;
    assert_redirect(&answer, "/choose-password");
    browser
}

#[track_caller]
fn assert_redirect(answer: &Answer, to: &str) {
    assert_eq!(
        (answer.status, answer.location()),
        (303, Some(to)),
        "{answer:?}"
    );
}

/// A 403 page saying the form's token was wrong, with no session given.
#[track_caller]
fn assert_csrf_refused(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 403, "{what}: {answer:?}");
    assert!(
        answer.body.contains(CSRF_REFUSED),
        "{what}: {}",
        answer.body
    );
    assert!(!answer.opens_session(), "{what}: {answer:?}");
}

/// The 401 sign-in page with the one refusal, and no session.
#[track_caller]
fn assert_sign_in_refused(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {answer:?}");
    assert!(
        answer.body.contains(SIGN_IN_REFUSED),
        "{what}: {}",
        answer.body
    );
    assert!(!answer.opens_session(), "{what}: {answer:?}");
}

/// A token of the right shape that nobody was given.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `application/x-www-form-urlencoded`, every byte but the unreserved ones escaped.
fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(n, v)| format!("{}={}", escape(n), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A TCP connection to `server`, from `local` when given.
async fn connect_from(local: Option<IpAddr>, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(ip) = local {
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
    }
    socket.connect(server).await.unwrap()
}

/// One HTTP/1.1 request that asks the server to close after answering.
fn http1_request(method: &str, path: &str, cookies: Option<&str>, body: Option<&[u8]>) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(cookies) = cookies {
        head.push_str(&format!("Cookie: {cookies}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: {FORM_TYPE}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    bytes
}

/// Reads one HTTP/1.1 response (Content-Length, chunked, or up to the close).
async fn read_answer<S: AsyncRead + Unpin>(stream: &mut S) -> Answer {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        assert!(
            n > 0,
            "the connection closed before a whole response head: {:?}",
            String::from_utf8_lossy(&buffer)
        );
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buffer[head_end + 4..].to_vec();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    match find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(length) => {
            while body.len() < length {
                let n = stream.read(&mut chunk).await.unwrap_or(0);
                assert!(n > 0, "the connection closed inside a response body");
                body.extend_from_slice(&chunk[..n]);
            }
            body.truncate(length);
        }
        None => {
            // Until the close; a TLS peer may close without close_notify.
            loop {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => body.extend_from_slice(&chunk[..n]),
                }
            }
            if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
                body = dechunk(&body);
            }
        }
    }
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The data of a chunked body.
fn dechunk(mut encoded: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(end) = encoded.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&encoded[..end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).unwrap();
        if size == 0 {
            break;
        }
        let start = end + 2;
        data.extend_from_slice(&encoded[start..start + size]);
        encoded = &encoded[start + size + 2..];
    }
    data
}

/// The tagged answer to `LOGIN login password` over IMAPS (the password as a LITERAL+, so
/// it may hold spaces and Vietnamese letters).
async fn imap_login(site: &Site, login: &str, password: &str) -> String {
    let (mut imap, _) = RawImap::connect_tls(site.addr(ListenerKind::Imaps), &site.db).await;
    imap.send(format!("a LOGIN {login} {{{}+}}\r\n{password}\r\n", password.len()).as_bytes())
        .await;
    imap.until_tagged("a").await.pop().unwrap()
}

/// This machine's own IPv4 address that is not loopback.
fn own_ipv4() -> Ipv4Addr {
    let routed = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|socket| {
        socket.connect("10.255.255.255:9")?;
        socket.local_addr()
    });
    if let Ok(SocketAddr::V4(address)) = routed {
        let ip = *address.ip();
        if !ip.is_loopback() && !ip.is_unspecified() {
            return ip;
        }
    }
    let listed = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut words = listed.split_whitespace();
    while let Some(word) = words.next() {
        if word != "inet" {
            continue;
        }
        let ip = words
            .next()
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse::<Ipv4Addr>().ok());
        if let Some(ip) = ip.filter(|ip| !ip.is_loopback()) {
            return ip;
        }
    }
    panic!(
        "this machine has no IPv4 address other than loopback: the plain-HTTP rule needs a \
         peer that is not loopback (`ip -4 -o addr show` listed: {listed:?})"
    );
}

fn loopback_any_port() -> Vec<ListenAddr> {
    vec![ListenAddr::from(SocketAddr::from(([127, 0, 0, 1], 0)))]
}

fn all_addresses_any_port() -> Vec<ListenAddr> {
    vec![ListenAddr::from(SocketAddr::from(([0, 0, 0, 0], 0)))]
}

// ---------------------------------------------------------------------------------------
// 1. CSRF
// ---------------------------------------------------------------------------------------

async fn sign_in_without_the_right_csrf_token_is_refused_and_opens_no_session(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = Browser::new(&site);
    let token = browser.anonymous_csrf().await;
    assert_eq!(browser.cookie(CSRF_COOKIE), Some(token.as_str()));

    let without = browser
        .post("/sign-in", &[("login", "vanlt"), ("password", CHOSEN)])
        .await;
    assert_csrf_refused(&without, "no csrf field");
    let wrong = random_token();
    let with_wrong = browser
        .post(
            "/sign-in",
            &[("csrf", &wrong), ("login", "vanlt"), ("password", CHOSEN)],
        )
        .await;
    assert_csrf_refused(&with_wrong, "a csrf field that is not the cookie's");
    let mut cookieless = Browser::new(&site);
    let without_cookie = cookieless
        .post(
            "/sign-in",
            &[("csrf", &token), ("login", "vanlt"), ("password", CHOSEN)],
        )
        .await;
    assert_csrf_refused(&without_cookie, "a token without its cookie");

    // The same form with its token is what signs in.
    let right = browser
        .post(
            "/sign-in",
            &[("csrf", &token), ("login", "vanlt"), ("password", CHOSEN)],
        )
        .await;
    assert_redirect(&right, "/account");
    assert!(right.opens_session(), "{right:?}");
}

async fn choosing_a_password_without_the_right_csrf_token_is_refused_and_changes_nothing(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = choosing(&site).await;
    let token = browser.csrf_of("/choose-password").await;
    let anonymous = browser.cookie(CSRF_COOKIE).unwrap().to_string();
    let without = browser
        .post(
            "/choose-password",
            &[("new", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
        )
        .await;
    assert_csrf_refused(&without, "no csrf field");
    for wrong in [random_token(), anonymous] {
        let answer = browser
            .post(
                "/choose-password",
                &[
                    ("csrf", &wrong),
                    ("new", NEW_PASSWORD),
                    ("confirm", NEW_PASSWORD),
                ],
            )
            .await;
        assert_csrf_refused(&answer, &format!("csrf {wrong}"));
    }

    let annv = site.directory().official("annv").await.unwrap();
    assert!(
        annv.password.as_ref().unwrap().must_change,
        "the initial password was replaced"
    );
    assert_eq!(browser.get("/choose-password").await.status, 200);
    let audit = site
        .directory()
        .audit_log(Some("official:annv"))
        .await
        .unwrap();
    assert!(
        audit.iter().all(|e| e.record.action != "official.password"),
        "{audit:#?}"
    );

    let right = browser
        .post(
            "/choose-password",
            &[
                ("csrf", &token),
                ("new", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_redirect(&right, "/account?saved=password");
}

async fn changing_a_password_without_the_right_csrf_token_is_refused_and_changes_nothing(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = signed_in(&site, "vanlt", CHOSEN).await;
    let token = browser.csrf_of("/password").await;
    let anonymous = browser.cookie(CSRF_COOKIE).unwrap().to_string();
    let change = [
        ("current", CHOSEN),
        ("new", NEW_PASSWORD),
        ("confirm", NEW_PASSWORD),
    ];
    let without = browser.post("/password", &change).await;
    assert_csrf_refused(&without, "no csrf field");
    for wrong in [random_token(), anonymous] {
        let mut fields = change.to_vec();
        fields.push(("csrf", &wrong));
        let answer = browser.post("/password", &fields).await;
        assert_csrf_refused(&answer, &format!("csrf {wrong}"));
    }

    // A change would have ended this session and made the old password useless.
    assert_eq!(browser.get("/account").await.status, 200);
    signed_in(&site, "vanlt", CHOSEN).await;
    let imap = imap_login(&site, "vanlt", NEW_PASSWORD).await;
    assert!(imap.starts_with("a NO [AUTHENTICATIONFAILED]"), "{imap}");

    let mut fields = change.to_vec();
    fields.push(("csrf", &token));
    let right = browser.post("/password", &fields).await;
    assert_redirect(&right, "/account?saved=password");
}

async fn ending_all_sessions_without_the_right_csrf_token_is_refused_and_ends_none(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut here = signed_in(&site, "vanlt", CHOSEN).await;
    let mut elsewhere = signed_in(&site, "vanlt", CHOSEN).await;
    let token = here.csrf_of("/sessions").await;
    let anonymous = here.cookie(CSRF_COOKIE).unwrap().to_string();
    let other_session = elsewhere.csrf_of("/sessions").await;

    let without = here.post("/sessions/end-all", &[]).await;
    assert_csrf_refused(&without, "no csrf field");
    for wrong in [random_token(), anonymous, other_session] {
        let answer = here.post("/sessions/end-all", &[("csrf", &wrong)]).await;
        assert_csrf_refused(&answer, &format!("csrf {wrong}"));
    }
    assert_eq!(here.get("/account").await.status, 200);
    assert_eq!(elsewhere.get("/account").await.status, 200);

    let right = here.post("/sessions/end-all", &[("csrf", &token)]).await;
    assert_redirect(&right, "/");
    assert_redirect(&elsewhere.get("/account").await, "/");
}

async fn signing_out_without_the_right_csrf_token_is_refused_and_the_session_lives(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = signed_in(&site, "vanlt", CHOSEN).await;
    let token = browser.csrf_of("/account").await;
    let anonymous = browser.cookie(CSRF_COOKIE).unwrap().to_string();
    let session = browser.cookie(SESSION_COOKIE).unwrap().to_string();

    let without = browser.post("/sign-out", &[]).await;
    assert_csrf_refused(&without, "no csrf field");
    for wrong in [random_token(), anonymous] {
        let answer = browser.post("/sign-out", &[("csrf", &wrong)]).await;
        assert_csrf_refused(&answer, &format!("csrf {wrong}"));
    }
    assert_eq!(browser.cookie(SESSION_COOKIE), Some(session.as_str()));
    assert_eq!(browser.get("/account").await.status, 200);

    let right = browser.post("/sign-out", &[("csrf", &token)]).await;
    assert_redirect(&right, "/");
    assert_eq!(browser.cookie(SESSION_COOKIE), None, "{right:?}");
}

async fn saving_out_of_office_without_the_right_csrf_token_is_refused_and_stores_nothing(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = signed_in(&site, "vanlt", CHOSEN).await;
    let token = browser.csrf_of("/out-of-office").await;
    let anonymous = browser.cookie(CSRF_COOKIE).unwrap().to_string();
    let on = [("enabled", "on"), ("message", "Tôi đi công tác.")];
    let without = browser.post("/out-of-office", &on).await;
    assert_csrf_refused(&without, "no csrf field");
    for wrong in [random_token(), anonymous] {
        let mut fields = on.to_vec();
        fields.push(("csrf", &wrong));
        let answer = browser.post("/out-of-office", &fields).await;
        assert_csrf_refused(&answer, &format!("csrf {wrong}"));
    }
    let vanlt = site.directory().official("vanlt").await.unwrap();
    assert_eq!(
        scripts_of(&site, vanlt.id).await,
        Vec::<(String, bool)>::new()
    );
    assert!(browser
        .get("/out-of-office")
        .await
        .body
        .contains(OUT_OF_OFFICE_OFF));

    let mut fields = on.to_vec();
    fields.push(("csrf", &token));
    let right = browser.post("/out-of-office", &fields).await;
    assert_redirect(&right, "/out-of-office?saved=out-of-office");
    assert_eq!(
        scripts_of(&site, vanlt.id).await,
        [("congvu".to_string(), true)]
    );
}

/// The official's scripts: name, and whether it is the active one.
async fn scripts_of(site: &Site, official: congvu::model::OfficialId) -> Vec<(String, bool)> {
    let filters = congvu::sieve::Filters::new("mail.vinhphuc.gov.vn", Default::default());
    let scripts = congvu::sieve::scripts::Scripts::new(
        site.server.services().store.clone(),
        site.clock.clone(),
        std::sync::Arc::new(filters),
    );
    let all = scripts.list(official).await.unwrap();
    all.into_iter().map(|s| (s.name, s.active)).collect()
}

// ---------------------------------------------------------------------------------------
// 2. Cookie flags and HSTS
// ---------------------------------------------------------------------------------------

async fn behind_an_https_public_url_a_loopback_peer_gets_strict_secure_cookies_and_hsts(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = Browser::new(&site);
    let home = browser.get("/").await;
    let csrf = home
        .set_cookie(CSRF_COOKIE)
        .expect("an anonymous csrf cookie");
    let strict_secure = attributes(&["HttpOnly", "SameSite=Strict", "Path=/", "Secure"]);
    assert_eq!(cookie_attributes(csrf), strict_secure, "{csrf}");
    assert_eq!(home.header("strict-transport-security"), Some(HSTS));

    let token = home.hidden_csrf();
    let answer = browser
        .post(
            "/sign-in",
            &[("csrf", &token), ("login", "vanlt"), ("password", CHOSEN)],
        )
        .await;
    assert_redirect(&answer, "/account");
    let session = answer.set_cookie(SESSION_COOKIE).expect("a session cookie");
    assert_eq!(cookie_attributes(session), strict_secure, "{session}");
    assert_eq!(cookie_value(session).len(), 43, "{session}");
    assert_eq!(answer.header("strict-transport-security"), Some(HSTS));
}

async fn on_the_https_listener_the_session_cookie_is_secure_and_hsts_is_sent(backend: Backend) {
    let Some(site) = Site::start_with(backend, |c| c.http.https_listen = loopback_any_port()).await
    else {
        return;
    };
    let mut browser = Browser::tls(&site, site.addr(ListenerKind::Https), None);
    let home = browser.get("/").await;
    assert_eq!(home.status, 200, "{home:?}");
    assert_eq!(home.header("strict-transport-security"), Some(HSTS));

    let answer = browser.sign_in("vanlt", CHOSEN).await;
    assert_redirect(&answer, "/account");
    let session = answer.set_cookie(SESSION_COOKIE).expect("a session cookie");
    assert_eq!(
        cookie_attributes(session),
        attributes(&["HttpOnly", "SameSite=Strict", "Path=/", "Secure"]),
        "{session}"
    );
    assert_eq!(answer.header("strict-transport-security"), Some(HSTS));
    let account = browser.get("/account").await;
    assert_eq!(account.status, 200);
    assert_eq!(account.header("strict-transport-security"), Some(HSTS));
}

async fn with_an_http_public_url_plain_http_sets_no_secure_flag_and_no_hsts(backend: Backend) {
    let Some(site) = Site::start_with(backend, |c| {
        c.http.public_url = Some("http://127.0.0.1:8025/".into());
    })
    .await
    else {
        return;
    };
    let mut browser = Browser::new(&site);
    let home = browser.get("/").await;
    let plain = attributes(&["HttpOnly", "SameSite=Strict", "Path=/"]);
    let csrf = home
        .set_cookie(CSRF_COOKIE)
        .expect("an anonymous csrf cookie");
    assert_eq!(cookie_attributes(csrf), plain, "{csrf}");
    assert_eq!(home.header("strict-transport-security"), None);

    let token = home.hidden_csrf();
    let answer = browser
        .post(
            "/sign-in",
            &[("csrf", &token), ("login", "vanlt"), ("password", CHOSEN)],
        )
        .await;
    assert_redirect(&answer, "/account");
    let session = answer.set_cookie(SESSION_COOKIE).expect("a session cookie");
    assert_eq!(cookie_attributes(session), plain, "{session}");
    assert_eq!(answer.header("strict-transport-security"), None);
    assert_eq!(
        browser
            .get("/account")
            .await
            .header("strict-transport-security"),
        None
    );
}

// ---------------------------------------------------------------------------------------
// 3. Security headers
// ---------------------------------------------------------------------------------------

async fn every_page_carries_the_security_headers_and_no_script(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut anonymous = Browser::new(&site);
    let mut vanlt = signed_in(&site, "vanlt", CHOSEN).await;
    let mut annv = choosing(&site).await;

    let mut pages: Vec<(String, u16, Answer)> = Vec::new();
    for (path, status) in [
        ("/".to_string(), 200),
        (format!("/reset/{}", random_token()), 410),
        ("/reset/not-a-token".to_string(), 410),
        ("/no-such-page".to_string(), 404),
        ("/static/portal.css".to_string(), 200),
        ("/healthz".to_string(), 200),
    ] {
        pages.push((path.clone(), status, anonymous.get(&path).await));
    }
    let refused = anonymous.sign_in("vanlt", "sai mật khẩu rồi").await;
    pages.push(("POST /sign-in (wrong password)".into(), 401, refused));
    let forbidden = anonymous
        .post("/sign-in", &[("login", "vanlt"), ("password", CHOSEN)])
        .await;
    pages.push(("POST /sign-in (no csrf)".into(), 403, forbidden));
    for path in [
        "/account",
        "/setup",
        "/sessions",
        "/password",
        "/out-of-office",
        "/setup/apple.mobileconfig",
    ] {
        pages.push((path.into(), 200, vanlt.get(path).await));
    }
    pages.push((
        "/choose-password".into(),
        200,
        annv.get("/choose-password").await,
    ));

    let mut wrong = Vec::new();
    for (page, status, answer) in &pages {
        let csp = answer.header("content-security-policy").unwrap_or_default();
        let checks = [
            ("status", answer.status == *status),
            ("CSP default-src 'none'", csp.contains("default-src 'none'")),
            (
                "CSP without 'unsafe-inline'",
                !csp.contains("unsafe-inline"),
            ),
            ("CSP without 'unsafe-eval'", !csp.contains("unsafe-eval")),
            (
                "X-Frame-Options DENY",
                answer.header("x-frame-options") == Some("DENY"),
            ),
            (
                "Referrer-Policy no-referrer",
                answer.header("referrer-policy") == Some("no-referrer"),
            ),
            (
                "X-Content-Type-Options nosniff",
                answer.header("x-content-type-options") == Some("nosniff"),
            ),
            (
                "no <script",
                !answer.body.to_ascii_lowercase().contains("<script"),
            ),
        ];
        for (check, passed) in checks {
            if !passed {
                wrong.push(format!("{page}: {check} fails: {answer:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ---------------------------------------------------------------------------------------
// 4. Lockout and throttle, shared with IMAP
// ---------------------------------------------------------------------------------------

async fn wrong_portal_sign_ins_lock_imap_and_the_portal_until_the_window_passes(backend: Backend) {
    let Some(site) = Site::start_with(backend, |c| c.auth.lockout_failures = 3).await else {
        return;
    };
    for n in 1..=3 {
        let answer = Browser::new(&site)
            .sign_in("vanlt", &format!("không phải mật khẩu {n}"))
            .await;
        assert_sign_in_refused(&answer, &format!("wrong password {n}"));
    }
    let imap = imap_login(&site, "vanlt", CHOSEN).await;
    assert!(imap.starts_with("a NO [AUTHENTICATIONFAILED]"), "{imap}");
    let portal = Browser::new(&site).sign_in("vanlt", CHOSEN).await;
    assert_sign_in_refused(&portal, "the right password while locked");

    // The lock lasts the whole window (900 s by default), and not a second longer.
    site.clock.advance(899);
    let imap = imap_login(&site, "vanlt", CHOSEN).await;
    assert!(imap.starts_with("a NO [AUTHENTICATIONFAILED]"), "{imap}");
    site.clock.advance(1);
    let imap = imap_login(&site, "vanlt", CHOSEN).await;
    assert!(imap.starts_with("a OK"), "{imap}");
    signed_in(&site, "vanlt", CHOSEN).await;
}

async fn wrong_imap_logins_lock_the_portal_sign_in(backend: Backend) {
    let Some(site) = Site::start_with(backend, |c| c.auth.lockout_failures = 3).await else {
        return;
    };
    for n in 1..=3 {
        let imap = imap_login(&site, "vanlt", &format!("không phải mật khẩu {n}")).await;
        assert!(imap.starts_with("a NO [AUTHENTICATIONFAILED]"), "{imap}");
    }
    let portal = Browser::new(&site).sign_in("vanlt", CHOSEN).await;
    assert_sign_in_refused(&portal, "the right password after three wrong IMAP logins");

    site.clock.advance(900);
    signed_in(&site, "vanlt", CHOSEN).await;
}

async fn a_source_past_its_failure_limit_is_refused_even_the_right_password(backend: Backend) {
    let Some(site) = Site::start_with(backend, |c| c.auth.lockout_source_failures = 5).await else {
        return;
    };
    // Unknown names, so that no account is locked: only the address is.
    for n in 1..=5 {
        let answer = Browser::new(&site)
            .sign_in(&format!("khongco{n}"), "không phải mật khẩu")
            .await;
        assert_sign_in_refused(&answer, &format!("unknown official {n}"));
    }
    let answer = Browser::new(&site).sign_in("vanlt", CHOSEN).await;
    assert_sign_in_refused(&answer, "the right password from a throttled address");

    let mut elsewhere = Browser::plain(site.url(""), Some(IpAddr::from([127, 0, 0, 2])));
    let answer = elsewhere.sign_in("vanlt", CHOSEN).await;
    assert_redirect(&answer, "/account");
}

async fn behind_a_local_proxy_each_forwarded_client_is_its_own_source(backend: Backend) {
    let Some(site) = Site::start_with(backend, |c| c.auth.lockout_source_failures = 3).await else {
        return;
    };
    // The proxy appends the client it serves last; what the client wrote comes before.
    let guesser = "198.51.100.1, 203.0.113.5";
    for n in 1..=3 {
        let answer = Browser::new(&site)
            .forwarded_for(guesser)
            .sign_in(&format!("khongco{n}"), "không phải mật khẩu")
            .await;
        assert_sign_in_refused(&answer, &format!("unknown official {n}"));
    }
    let answer = Browser::new(&site)
        .forwarded_for(guesser)
        .sign_in("vanlt", CHOSEN)
        .await;
    assert_sign_in_refused(&answer, "the right password from the throttled client");
    // Another client of the same proxy, and the proxy's own address, are not throttled.
    let other = Browser::new(&site)
        .forwarded_for("198.51.100.1, 203.0.113.6")
        .sign_in("vanlt", CHOSEN)
        .await;
    assert_redirect(&other, "/account");
    let direct = Browser::new(&site).sign_in("vanlt", CHOSEN).await;
    assert_redirect(&direct, "/account");
    // The sessions list names the client, not the proxy.
    let mut signed_in = Browser::new(&site).forwarded_for("203.0.113.6");
    assert_redirect(&signed_in.sign_in("vanlt", CHOSEN).await, "/account");
    let sessions = signed_in.get("/sessions").await;
    assert!(sessions.body.contains("203.0.113.6"), "{}", sessions.body);
}

// ---------------------------------------------------------------------------------------
// 5. One answer for every refusal
// ---------------------------------------------------------------------------------------

async fn unknown_user_wrong_password_and_disabled_account_get_the_same_answer(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = Browser::new(&site);
    let unknown = browser.sign_in("khongco", CHOSEN).await;
    let wrong = browser.sign_in("vanlt", "không phải mật khẩu").await;
    site.directory()
        .set_official_status(&Actor::admin("it-snv"), "vanlt", OfficialStatus::Disabled)
        .await
        .unwrap();
    let disabled = browser.sign_in("vanlt", CHOSEN).await;

    let answers = [
        ("khongco", &unknown),
        ("vanlt", &wrong),
        ("vanlt", &disabled),
    ];
    for (login, answer) in answers {
        assert_sign_in_refused(answer, login);
    }
    let error = unknown.error_element().expect("an error element");
    assert!(error.contains(SIGN_IN_REFUSED), "{error}");
    let shown = |(login, answer): (&str, &Answer)| {
        (
            answer.status,
            answer.error_element().map(str::to_string),
            answer
                .body
                .replace(&format!("value=\"{login}\""), "value=\"…\""),
        )
    };
    assert_eq!(shown(answers[0]), shown(answers[1]));
    assert_eq!(shown(answers[1]), shown(answers[2]));
}

// ---------------------------------------------------------------------------------------
// 6. Session expiry and dead cookies
// ---------------------------------------------------------------------------------------

async fn a_session_idle_for_just_under_thirty_minutes_still_works(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = signed_in(&site, "vanlt", CHOSEN).await;
    site.clock.advance(30 * 60 - 1);
    let account = browser.get("/account").await;
    assert_eq!(account.status, 200, "{account:?}");
}

async fn a_session_idle_for_thirty_minutes_ends(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = signed_in(&site, "vanlt", CHOSEN).await;
    site.clock.advance(30 * 60);
    assert_redirect(&browser.get("/account").await, "/");
    // Ended, not just hidden: coming back at once does not revive it.
    assert_redirect(&browser.get("/account").await, "/");
}

async fn a_busy_session_ends_eight_hours_after_sign_in(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = signed_in(&site, "vanlt", CHOSEN).await;
    // A page every 20 minutes up to 7 h 40 min: never idle.
    for step in 1..=23 {
        site.clock.advance(20 * 60);
        let account = browser.get("/account").await;
        assert_eq!(account.status, 200, "after {} min: {account:?}", step * 20);
    }
    site.clock.advance(20 * 60);
    assert_redirect(&browser.get("/account").await, "/");
}

async fn a_forged_session_cookie_is_sent_to_sign_in(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    // Someone is signed in, so the store is not empty.
    signed_in(&site, "vanlt", CHOSEN).await;
    let mut forger = Browser::new(&site);
    forger.set_cookie(SESSION_COOKIE, &random_token());
    for path in ["/account", "/sessions", "/password", "/setup"] {
        assert_redirect(&forger.get(path).await, "/");
    }
    let home = forger.get("/").await;
    assert_eq!(home.status, 200, "{home:?}");
    assert!(home.body.contains("id=\"sign-in\""), "{}", home.body);
}

async fn a_session_cookie_replayed_after_sign_out_is_sent_to_sign_in(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = signed_in(&site, "vanlt", CHOSEN).await;
    let session = browser.cookie(SESSION_COOKIE).unwrap().to_string();
    let token = browser.csrf_of("/account").await;
    let out = browser.post("/sign-out", &[("csrf", &token)]).await;
    assert_redirect(&out, "/");
    let cleared = out.set_cookie(SESSION_COOKIE).expect("the cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    let mut replayer = Browser::new(&site);
    replayer.set_cookie(SESSION_COOKIE, &session);
    assert_redirect(&replayer.get("/account").await, "/");
}

async fn sign_out_everywhere_ends_the_other_sessions(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut here = signed_in(&site, "vanlt", CHOSEN).await;
    let mut elsewhere = signed_in(&site, "vanlt", CHOSEN).await;
    let here_session = here.cookie(SESSION_COOKIE).unwrap().to_string();
    let token = here.csrf_of("/sessions").await;
    assert_redirect(
        &here.post("/sessions/end-all", &[("csrf", &token)]).await,
        "/",
    );
    assert_redirect(&elsewhere.get("/account").await, "/");
    let mut replayer = Browser::new(&site);
    replayer.set_cookie(SESSION_COOKIE, &here_session);
    assert_redirect(&replayer.get("/account").await, "/");
}

// ---------------------------------------------------------------------------------------
// 7. Passwords over plain HTTP only from loopback
// ---------------------------------------------------------------------------------------

/// A site listening on every address, plain and TLS, and this machine's own address.
async fn site_on_every_address(backend: Backend) -> Option<(Site, Ipv4Addr)> {
    let own = own_ipv4();
    let site = Site::start_with(backend, |c| {
        c.http.listen = all_addresses_any_port();
        c.http.https_listen = all_addresses_any_port();
    })
    .await?;
    Some((site, own))
}

/// A browser on the plain listener from this machine's own (non-loopback) address.
fn plain_from(site: &Site, own: Ipv4Addr) -> Browser {
    let port = site.addr(ListenerKind::Http).port();
    Browser::plain(format!("http://{own}:{port}"), Some(IpAddr::V4(own)))
}

async fn over_plain_http_a_peer_on_another_address_cannot_sign_in(backend: Backend) {
    let Some((site, own)) = site_on_every_address(backend).await else {
        return;
    };
    let mut browser = plain_from(&site, own);
    let home = browser.get("/").await;
    assert_eq!(home.status, 200, "the page itself is served: {home:?}");
    let token = home.hidden_csrf();
    let answer = browser
        .post(
            "/sign-in",
            &[("csrf", &token), ("login", "vanlt"), ("password", CHOSEN)],
        )
        .await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(answer.body.contains(NEEDS_HTTPS), "{}", answer.body);
    assert!(!answer.opens_session(), "{answer:?}");

    // The same form from loopback on the same listener signs in.
    let port = site.addr(ListenerKind::Http).port();
    let mut local = Browser::plain(format!("http://127.0.0.1:{port}"), None);
    assert_redirect(&local.sign_in("vanlt", CHOSEN).await, "/account");
}

async fn over_plain_http_a_peer_on_another_address_cannot_choose_a_password(backend: Backend) {
    let Some((site, own)) = site_on_every_address(backend).await else {
        return;
    };
    let https = SocketAddr::new(IpAddr::V4(own), site.addr(ListenerKind::Https).port());
    let mut secure = Browser::tls(&site, https, Some(IpAddr::V4(own)));
    assert_redirect(
        &secure.sign_in("annv", &site.initial).await,
        "/choose-password",
    );

    // The session's cookie taken to plain HTTP: the form is shown, the password refused.
    let mut plain = plain_from(&site, own).with_cookies_of(&secure);
    let token = plain.csrf_of("/choose-password").await;
    let answer = plain
        .post(
            "/choose-password",
            &[
                ("csrf", &token),
                ("new", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(answer.body.contains(NEEDS_HTTPS), "{}", answer.body);
    let annv = site.directory().official("annv").await.unwrap();
    assert!(annv.password.unwrap().must_change, "the password was taken");
}

async fn over_https_a_peer_on_another_address_signs_in(backend: Backend) {
    let Some((site, own)) = site_on_every_address(backend).await else {
        return;
    };
    let https = SocketAddr::new(IpAddr::V4(own), site.addr(ListenerKind::Https).port());
    let mut browser = Browser::tls(&site, https, Some(IpAddr::V4(own)));
    let answer = browser.sign_in("vanlt", CHOSEN).await;
    assert_redirect(&answer, "/account");
    assert!(answer.opens_session(), "{answer:?}");
    assert_eq!(browser.get("/account").await.status, 200);
}

// ---------------------------------------------------------------------------------------
// 8. Connection limits, deadlines and body size
// ---------------------------------------------------------------------------------------

const HALF_A_HEADER: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n";

async fn the_sixth_connection_from_one_address_gets_503_and_is_closed(backend: Backend) {
    let Some(site) = Site::start_with(backend, |c| c.limits.max_connections_per_ip = 5).await
    else {
        return;
    };
    let http = site.addr(ListenerKind::Http);
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut stream = TcpStream::connect(http).await.unwrap();
        stream.write_all(HALF_A_HEADER).await.unwrap();
        held.push(stream);
    }
    let mut sixth = TcpStream::connect(http).await.unwrap();
    let mut heard = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sixth.read_to_end(&mut heard))
        .await
        .expect("the sixth connection was not closed within 10 s")
        .unwrap();
    let heard = String::from_utf8_lossy(&heard);
    assert!(heard.starts_with("HTTP/1.1 503 "), "{heard}");

    // Another address is not counted with these.
    let mut other = connect_from(Some(IpAddr::from([127, 0, 0, 2])), http).await;
    other
        .write_all(&http1_request("GET", "/healthz", None, None))
        .await
        .unwrap();
    assert_eq!(read_answer(&mut other).await.status, 200);
    drop(held);
}

async fn a_connection_stuck_in_its_header_is_closed_after_the_header_deadline(backend: Backend) {
    let Some(site) = Site::start_with(backend, |c| c.http.header_timeout_seconds = 1).await else {
        return;
    };
    let http = site.addr(ListenerKind::Http);
    let mut stuck = TcpStream::connect(http).await.unwrap();
    stuck.write_all(HALF_A_HEADER).await.unwrap();
    let sent = Instant::now();
    let mut heard = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        loop {
            match stuck.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => heard.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let waited = sent.elapsed();
    assert!(closed.is_ok(), "still open 10 s after half a header");
    eprintln!(
        "half a header: closed after {waited:?}, having heard {:?}",
        String::from_utf8_lossy(&heard)
    );
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "closed after {waited:?}, the deadline is 1 s"
    );

    let mut fresh = TcpStream::connect(http).await.unwrap();
    fresh
        .write_all(&http1_request("GET", "/", None, None))
        .await
        .unwrap();
    assert_eq!(read_answer(&mut fresh).await.status, 200);
}

/// A sign-in form for `vanlt` padded with an extra field to exactly `size` bytes.
fn padded_sign_in(csrf: &str, size: usize) -> Vec<u8> {
    let mut body = form(&[("csrf", csrf), ("login", "vanlt"), ("password", CHOSEN)]);
    body.push_str("&pad=");
    assert!(body.len() < size);
    body.push_str(&"x".repeat(size - body.len()));
    body.into_bytes()
}

async fn an_out_of_office_reply_of_4000_vietnamese_characters_is_read_and_64_kib_is_the_limit(
    backend: Backend,
) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = signed_in(&site, "vanlt", CHOSEN).await;
    let csrf = browser.csrf_of("/out-of-office").await;
    let vanlt = site.directory().official("vanlt").await.unwrap();
    // Every character three bytes, nine once percent-encoded: well over the 16 KiB of the
    // other forms.
    let longest = "ệ".repeat(4000);
    let fields = [
        ("csrf", csrf.as_str()),
        ("enabled", "on"),
        ("message", &longest),
    ];
    assert!(form(&fields).len() > 32 * 1024);
    let saved = browser.post("/out-of-office", &fields).await;
    assert_redirect(&saved, "/out-of-office?saved=out-of-office");
    let page = browser.get("/out-of-office").await;
    assert!(
        page.body.contains(&longest),
        "the whole text is stored and shown"
    );

    let longer = format!("{longest}ệ");
    let fields = [
        ("csrf", csrf.as_str()),
        ("enabled", "on"),
        ("message", &longer),
    ];
    let refused = browser.post("/out-of-office", &fields).await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(refused.body.contains(MESSAGE_TOO_LONG), "{}", refused.body);
    assert!(
        refused.body.contains(OUT_OF_OFFICE_ON),
        "the stored reply stays on"
    );

    let mut body = form(&[("csrf", &csrf), ("enabled", "on"), ("message", "x")]);
    body.push_str("&pad=");
    body.push_str(&"x".repeat(64 * 1024 + 1 - body.len()));
    let too_large = browser.post_raw("/out-of-office", body.into_bytes()).await;
    assert_eq!(too_large.status, 413, "{too_large:?}");
    assert!(too_large.body.contains(TOO_LARGE), "{}", too_large.body);
    assert_eq!(
        scripts_of(&site, vanlt.id).await,
        [("congvu".to_string(), true)]
    );
    let page = browser.get("/out-of-office").await;
    assert!(page.body.contains(&longest), "nothing refused was stored");
}

async fn a_form_body_one_byte_over_16_kib_is_refused_with_413(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = Browser::new(&site);
    let csrf = browser.anonymous_csrf().await;
    let answer = browser
        .post_raw("/sign-in", padded_sign_in(&csrf, 16 * 1024 + 1))
        .await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(answer.body.contains(TOO_LARGE), "{}", answer.body);
    assert!(!answer.opens_session(), "{answer:?}");

    // The same body sent chunked, without a length to refuse it by.
    let body = padded_sign_in(&csrf, 16 * 1024 + 1);
    let mut request = format!(
        "POST /sign-in HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {CSRF_COOKIE}={csrf}\r\n\
         Content-Type: {FORM_TYPE}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for piece in body.chunks(4096) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let mut stream = TcpStream::connect(site.addr(ListenerKind::Http))
        .await
        .unwrap();
    stream.write_all(&request).await.unwrap();
    let answer = tokio::time::timeout(ANSWER_WITHIN, read_answer(&mut stream))
        .await
        .expect("no answer to a chunked body");
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(!answer.opens_session(), "{answer:?}");
}

async fn a_sign_in_form_of_exactly_16_kib_is_read(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = Browser::new(&site);
    let csrf = browser.anonymous_csrf().await;
    let answer = browser
        .post_raw("/sign-in", padded_sign_in(&csrf, 16 * 1024))
        .await;
    assert_redirect(&answer, "/account");
    assert!(answer.opens_session(), "{answer:?}");
}

// ---------------------------------------------------------------------------------------
// 9. Bad input, and passwords kept out of pages and the audit log
// ---------------------------------------------------------------------------------------

/// Sends a sign-in whose login and password are given already encoded, as bytes.
async fn raw_sign_in(browser: &mut Browser, login: &str, password: &str) -> Answer {
    let csrf = browser.anonymous_csrf().await;
    let body = format!("csrf={csrf}&login={login}&password={password}");
    browser.post_raw("/sign-in", body.into_bytes()).await
}

async fn a_ten_thousand_character_login_gets_the_refusal_page(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = Browser::new(&site);
    let long = "a".repeat(10_000);
    let answer = browser.sign_in(&long, CHOSEN).await;
    assert_sign_in_refused(&answer, "a 10,000-character login");
    // The form field's limit: 320 characters are echoed back, not 10,000.
    let echoed = format!("value=\"{}\"", "a".repeat(320));
    assert!(answer.body.contains(&echoed), "{}", answer.body);
    assert!(!answer.body.contains(&"a".repeat(321)));
    let long_address = format!("{}@vinhphuc.gov.vn", "a".repeat(10_000));
    let answer = browser.sign_in(&long_address, CHOSEN).await;
    assert_sign_in_refused(&answer, "a 10,000-character address");
}

async fn control_characters_in_the_login_get_the_refusal_page(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = Browser::new(&site);
    let escaped = escape(CHOSEN);
    for login in [
        "van%00lt",
        "vanlt%00",
        "van%1blt",
        "vanlt%00@vinhphuc.gov.vn",
        "vanlt%1b@vinhphuc.gov.vn",
    ] {
        let answer = raw_sign_in(&mut browser, login, &escaped).await;
        assert_sign_in_refused(&answer, login);
        // The login is shown again without its control characters.
        assert!(
            !answer.body.contains(['\u{0}', '\u{1b}']),
            "{login}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("value=\"vanlt"),
            "{login}: {}",
            answer.body
        );
    }
}

async fn broken_utf8_in_the_form_gets_the_refusal_page(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut browser = Browser::new(&site);
    let escaped = escape(CHOSEN);
    for (login, password) in [
        ("%ff%fe", escaped.as_str()),
        ("vanlt%c3", escaped.as_str()),
        ("vanlt", "%ff%fe%fd"),
    ] {
        let answer = raw_sign_in(&mut browser, login, password).await;
        assert_sign_in_refused(&answer, &format!("login={login}&password={password}"));
    }
    // Raw 8-bit bytes, not even escaped.
    let csrf = browser.anonymous_csrf().await;
    let mut body = format!("csrf={csrf}&login=").into_bytes();
    body.extend_from_slice(&[0xff, 0xfe, b'v', 0xc3]);
    body.extend_from_slice(format!("&password={escaped}").as_bytes());
    let answer = browser.post_raw("/sign-in", body).await;
    assert_sign_in_refused(&answer, "raw 8-bit bytes in the login");
}

/// Fails when `password`, in any form a page or header could carry it, is in `answer`.
#[track_caller]
fn assert_not_shown(answer: &Answer, password: &str, what: &str) {
    let all = answer.everything();
    for form in [
        password.to_string(),
        escape(password),
        password.replace(' ', "+"),
    ] {
        assert!(!all.contains(&form), "{what} shows {form:?}: {all}");
    }
}

async fn no_page_shows_a_password_after_it_was_submitted(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let weak = "aaaaaaaaaaaa";
    let wrong = "Mật khẩu sai bí mật 7391";

    let mut browser = Browser::new(&site);
    let answer = browser.sign_in("vanlt", wrong).await;
    assert_eq!(answer.status, 401);
    assert_not_shown(&answer, wrong, "the refused sign-in");

    let mut annv = choosing(&site).await;
    let choose = annv.get("/choose-password").await;
    assert_not_shown(&choose, &site.initial, "the choose-password page");
    let token = choose.hidden_csrf();
    for (new, confirm, status) in [(weak, weak, 422), (NEW_PASSWORD, wrong, 422)] {
        let answer = annv
            .post(
                "/choose-password",
                &[("csrf", &token), ("new", new), ("confirm", confirm)],
            )
            .await;
        assert_eq!(answer.status, status, "{answer:?}");
        assert_not_shown(&answer, new, "a refused choice");
        assert_not_shown(&answer, confirm, "a refused choice");
    }
    let saved = annv
        .post(
            "/choose-password",
            &[
                ("csrf", &token),
                ("new", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_redirect(&saved, "/account?saved=password");
    assert_not_shown(&saved, NEW_PASSWORD, "the redirect after saving");
    let account = annv.get("/account?saved=password").await;
    assert_eq!(account.status, 200);
    assert_not_shown(&account, NEW_PASSWORD, "the account page");

    let mut vanlt = signed_in(&site, "vanlt", CHOSEN).await;
    let token = vanlt.csrf_of("/password").await;
    for (current, new, confirm, status) in [
        (wrong, NEW_PASSWORD, NEW_PASSWORD, 401),
        (CHOSEN, weak, weak, 422),
        (CHOSEN, NEW_PASSWORD, wrong, 422),
    ] {
        let answer = vanlt
            .post(
                "/password",
                &[
                    ("csrf", &token),
                    ("current", current),
                    ("new", new),
                    ("confirm", confirm),
                ],
            )
            .await;
        assert_eq!(answer.status, status, "{answer:?}");
        for password in [current, new, confirm] {
            assert_not_shown(&answer, password, "a refused change");
        }
    }
}

async fn no_audit_row_holds_a_password_after_one_is_chosen(backend: Backend) {
    let Some(site) = Site::start(backend).await else {
        return;
    };
    let mut annv = choosing(&site).await;
    let token = annv.csrf_of("/choose-password").await;
    let saved = annv
        .post(
            "/choose-password",
            &[
                ("csrf", &token),
                ("new", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_redirect(&saved, "/account?saved=password");

    let audit = site.directory().audit_log(None).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.record.action == "official.password" && e.record.target == "official:annv"),
        "no audit row for the choice: {audit:#?}"
    );
    for entry in &audit {
        let r = &entry.record;
        let fields = [
            Some(&r.actor),
            Some(&r.action),
            Some(&r.target),
            r.before.as_ref(),
            r.after.as_ref(),
        ];
        for field in fields.into_iter().flatten() {
            for secret in [NEW_PASSWORD, site.initial.as_str(), CHOSEN] {
                assert!(!field.contains(secret), "{entry:#?} holds a password");
            }
            assert!(!field.contains("$argon2"), "{entry:#?} holds a hash");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 10. Fairness of the hashing queue
// ---------------------------------------------------------------------------------------

async fn a_correct_sign_in_during_a_many_address_flood_is_answered_within_two_seconds(
    backend: Backend,
) {
    // 200 sign-ins in flight from 10 addresses: served fairly, a newcomer waits for about
    // ten checks (0.4-0.9 s on this kind of machine), served first-come for all 200.
    const SOURCES: u8 = 10;
    const PER_SOURCE: usize = 20;
    let Some(site) = Site::start_with(backend, |c| {
        c.auth.hash_workers = 1;
        // The default, expensive cost: every refused unknown name is checked against the
        // decoy hash at this cost. vanlt's own hash stays at the fixture's cheap cost.
        c.auth.argon2_memory_kib = 19_456;
        c.auth.argon2_iterations = 2;
        c.auth.lockout_source_failures = 1_000_000;
    })
    .await
    else {
        return;
    };
    let mut probe = Browser::new(&site);
    let csrf = probe.anonymous_csrf().await;
    let started = Instant::now();
    let one = probe
        .post(
            "/sign-in",
            &[("csrf", &csrf), ("login", "khongco"), ("password", "sai")],
        )
        .await;
    let one_check = started.elapsed();
    assert_eq!(one.status, 401, "{one:?}");

    // The refused sign-ins in flight from 127.0.0.2 onwards.
    let url = site.url("/sign-in");
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let mut flood = tokio::task::JoinSet::new();
    let flood_started = Instant::now();
    for n in 2..2 + SOURCES {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .local_address(IpAddr::from([127, 0, 0, n]))
            .build()
            .unwrap();
        for k in 0..PER_SOURCE {
            let request = client
                .post(&url)
                .header(COOKIE, format!("{CSRF_COOKIE}={csrf}"))
                .header(CONTENT_TYPE, FORM_TYPE)
                .body(form(&[
                    ("csrf", &csrf),
                    ("login", &format!("khongco{n}x{k}")),
                    ("password", "không phải mật khẩu"),
                ]));
            let answered = answered.clone();
            flood.spawn(async move {
                let status = request.send().await.map(|r| r.status().as_u16());
                let _ = answered.send(status.map_err(|e| e.to_string()));
            });
        }
    }
    // One round over the sources answered: the rest wait in the queue.
    let mut statuses = Vec::new();
    while statuses.len() < usize::from(SOURCES) {
        let status = tokio::time::timeout(Duration::from_secs(120), answers.recv())
            .await
            .expect("the flood was not answered")
            .unwrap();
        statuses.push(status);
    }
    let round = flood_started.elapsed();

    let mut official = Browser::new(&site);
    let csrf = official.anonymous_csrf().await;
    while let Ok(status) = answers.try_recv() {
        statuses.push(status);
    }
    let answered_before = statuses.len();
    let started = Instant::now();
    let answer = official
        .post(
            "/sign-in",
            &[("csrf", &csrf), ("login", "vanlt"), ("password", CHOSEN)],
        )
        .await;
    let waited = started.elapsed();
    while let Ok(status) = answers.try_recv() {
        statuses.push(status);
    }
    let flood_answered = statuses.len();
    let overtaken = flood_answered - answered_before;
    flood.abort_all();
    eprintln!(
        "hashing fairness ({backend:?}): one full-cost check alone {one_check:?}; first round \
         of {SOURCES} flood answers after {round:?}; vanlt's sign-in answered in {waited:?}, \
         during which {overtaken} flood sign-ins were answered ({flood_answered} of {} by then)",
        usize::from(SOURCES) * PER_SOURCE
    );
    assert!(
        statuses.iter().all(|s| s == &Ok(401)),
        "the flood was not refused as wrong passwords: {statuses:?}"
    );
    assert_redirect(&answer, "/account");
    assert!(
        flood_answered < usize::from(SOURCES) * PER_SOURCE,
        "the flood was over before vanlt's sign-in was answered: nothing was measured"
    );
    // Served fairly, vanlt waits for about one check per flooding source (answers still in
    // transit add a few), not for the backlog of 190 checks as in one first-come queue.
    assert!(
        overtaken <= 3 * usize::from(SOURCES),
        "{overtaken} flood sign-ins were answered while vanlt's waited: the queue is not fair"
    );
    // The 2 s target holds where a full-cost check takes what it takes on a free core
    // (50-90 ms here): about ten checks, then ours. When the machine itself is slower (other
    // work at normal priority starves the niced hashing thread), the bound is twice the
    // first round of ten checks as this test timed it; served first-come, the wait would be
    // some nineteen rounds. So only unfairness fails it, not a busy machine.
    let bound = Duration::from_secs(2).max(round * 2);
    assert!(
        waited < bound,
        "vanlt's sign-in waited {waited:?} (bound {bound:?}) behind the flood ({overtaken} flood \
         checks answered meanwhile; one check alone took {one_check:?}, the first round {round:?})"
    );
}
