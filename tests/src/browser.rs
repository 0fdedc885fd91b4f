//! A private chromedriver and headless Chromium for one end-to-end test of the web portal,
//! driven over WebDriver with fantoccini.
//!
//! This module owns the two processes, the browser profile and the few page operations the
//! portal tests share (fill, click and wait for the next page, read text, cookies,
//! screenshots, console errors). It knows nothing of congvu's pages: the tests under
//! `tests/e2e/` hold the URLs, selectors and expectations. Each [`Browser`] has its own
//! chromedriver port and profile directory, so tests run in parallel.
//!
//! A missing program is a failure, not a skip: [`Browser::start`] panics and names the
//! Debian packages (`chromium`, `chromium-driver`) that `.ci/run` installs.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use reqwest::{Method, Url};
use serde_json::{json, Value};
use tempfile::TempDir;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL_HINT: &str = "install the Debian packages chromium and chromium-driver \
                            (.ci/run does: apt-get install chromium chromium-driver)";

/// How long chromedriver may take to answer `/status` with `ready: true`.
const CHROMEDRIVER_READY_WITHIN: Duration = Duration::from_secs(20);
/// How long a click may take to replace the page, and a page to load.
const PAGE_LOAD_WITHIN: Duration = Duration::from_secs(20);
/// Chromedriver exits at once when its port was taken between our probe and its bind;
/// it is then started again on another port.
const CHROMEDRIVER_ATTEMPTS: usize = 3;

/// The desktop window of [`Browser::start`].
const DESKTOP: (u32, u32) = (1280, 900);
/// A current Android phone's Chrome, so that pages that look at the user agent see a phone.
const PHONE_USER_AGENT: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                                (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
const PHONE_PIXEL_RATIO: u32 = 3;

/// A private chromedriver + headless Chromium for one test. Dropping it ends both (the
/// chromedriver child and the browser it launched); call [`Browser::close`] when possible so
/// the session ends cleanly first.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver session, for what the helpers below do not cover.
    pub client: Client,
    /// Started as the leader of its own process group, which Chromium joins.
    chromedriver: Child,
    /// Chromium's profile and chromedriver's log, removed after both have ended (fields drop
    /// after `Drop::drop`).
    _dir: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a session with headless Chromium in
    /// a 1280x900 desktop window. Panics if chromedriver or Chromium is missing or does not
    /// start.
    pub async fn start() -> Browser {
        Browser::with_window(DESKTOP.0, DESKTOP.1, false).await
    }

    /// Like [`Browser::start`], with a viewport of `width` x `height` CSS pixels. With `phone`
    /// the page sees a phone (Chrome's mobile emulation: touch, a device pixel ratio of 3 and
    /// a phone user agent), so its responsive CSS applies.
    pub async fn with_window(width: u32, height: u32, phone: bool) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: {INSTALL_HINT}"
        );
        let dir = tempfile::Builder::new()
            .prefix("congvu-browser-")
            .tempdir()
            .unwrap();
        let log = dir.path().join("chromedriver.log");
        let (mut chromedriver, port) = start_chromedriver(&log).await;
        // Chromedriver and Chromium end with the `Browser`; until it exists a failing
        // `connect` ends chromedriver itself.
        let client = connect(
            &mut chromedriver,
            port,
            capabilities(dir.path(), width, height, phone),
            &log,
        )
        .await;
        Browser {
            client,
            chromedriver,
            _dir: dir,
        }
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Types `text` into the `<input>` (or `<textarea>`) matching `css`, such as `#uid` or
    /// `input[name=uid]`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clearing {css:?}: {e}"));
        input
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css:?}: {e}"));
    }

    /// Clicks the element matching `css` and waits until the next page has loaded. Panics
    /// if no new page arrives within 20 s: use `client` for clicks that stay on the page.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        let old_page = self.find("html").await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css:?}: {e}"));
        // The old document's root goes stale once the browser has replaced the page, which
        // also holds when a form posts back to the same URL.
        self.poll(&format!("a new page after clicking {css:?}"), || async {
            match old_page.tag_name().await {
                Ok(_) => false,
                Err(e) if e.is_stale_element_reference() => true,
                // While Chromium swaps documents, chromedriver may answer that the node "does
                // not belong to the document" instead: the old page is gone either way.
                Err(e) if e.to_string().contains("does not belong to the document") => true,
                Err(e) => panic!("watching the page after clicking {css:?}: {e}"),
            }
        })
        .await;
        self.poll("the new page to finish loading", || async {
            let state = self
                .client
                .execute("return document.readyState", vec![])
                .await
                .unwrap_or_else(|e| panic!("reading document.readyState: {e}"));
            state == "complete"
        })
        .await;
    }

    /// The visible text of the first element matching `css`; panics if there is none.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading the text of {css:?}: {e}"))
    }

    /// Whether any element matches `css`.
    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("looking for {css:?}: {e}"))
            .is_empty()
    }

    /// The URL of the current page, after any redirects.
    pub async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .unwrap_or_else(|e| panic!("reading the current URL: {e}"))
            .to_string()
    }

    /// The current DOM serialized as HTML (not the bytes the server sent).
    pub async fn page_source(&self) -> String {
        self.client
            .source()
            .await
            .unwrap_or_else(|e| panic!("reading the page source: {e}"))
    }

    /// Writes a PNG of the whole page, beyond the viewport, to `path`, creating its parent
    /// directories. The image is in device pixels (three per CSS pixel on a phone).
    pub async fn screenshot(&self, path: &Path) {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let (Some(width), Some(height)) = (size["width"].as_f64(), size["height"].as_f64()) else {
            panic!("Page.getLayoutMetrics gave no cssContentSize: {metrics}");
        };
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
                }),
            )
            .await;
        let png = shot["data"]
            .as_str()
            .and_then(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
            .unwrap_or_else(|| panic!("Page.captureScreenshot gave no base64 data"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// The cookies the browser holds for the current page, with their flags (`http_only`,
    /// `secure`, `same_site`) as the browser understood the `Set-Cookie` headers.
    pub async fn cookies(&self) -> Vec<Cookie<'static>> {
        self.client
            .get_all_cookies()
            .await
            .unwrap_or_else(|e| panic!("reading cookies: {e}"))
    }

    /// The browser log's SEVERE entries (JavaScript errors, `console.error`, failed loads,
    /// CSP violations) since the previous call: chromedriver hands each entry out once.
    /// Empty if chromedriver does not offer the log.
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = match self
            .client
            .issue_cmd(Chromedriver::post("se/log", json!({ "type": "browser" })))
            .await
        {
            Ok(entries) => entries,
            Err(e) if e.is_unknown_command() || e.is_unknown_method() => return Vec::new(),
            Err(e) => panic!("reading the browser log: {e}"),
        };
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Ends the WebDriver session (chromedriver quits Chromium), then chromedriver.
    pub async fn close(self) {
        // `Client::close` consumes its handle; `self` keeps the process to end on drop.
        if let Err(e) = self.client.clone().close().await {
            panic!("ending the WebDriver session: {e}");
        }
    }

    async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!(
                "no element matches {css:?} on {}: {e}",
                self.current_url().await
            ),
        }
    }

    /// Sends a Chrome DevTools Protocol command through chromedriver's `goog/cdp/execute`.
    async fn cdp(&self, command: &str, params: Value) -> Value {
        self.client
            .issue_cmd(Chromedriver::post(
                "goog/cdp/execute",
                json!({ "cmd": command, "params": params }),
            ))
            .await
            .unwrap_or_else(|e| panic!("CDP {command}: {e}"))
    }

    /// Polls `done` with a short back-off until it holds; panics naming `what` after
    /// [`PAGE_LOAD_WITHIN`].
    async fn poll<F, Fut>(&self, what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + PAGE_LOAD_WITHIN;
        let mut pause = Duration::from_millis(10);
        while !done().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited {PAGE_LOAD_WITHIN:?} for {what} on {}",
                self.current_url().await
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium runs in chromedriver's process group, so this ends the browser too when a
        // test panicked before `close`.
        end_process_group(&mut self.chromedriver);
    }
}

/// The capabilities of a new session: headless Chromium as root in a sandbox without
/// network, a fresh profile under `dir`, and the browser log kept for `console_errors`.
fn capabilities(dir: &Path, width: u32, height: u32, phone: bool) -> Capabilities {
    let profile = dir.join("profile");
    let mut chrome = json!({
        "binary": CHROMIUM,
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            // Overlay-free pages: the viewport and screenshots are the full window width.
            "--hide-scrollbars",
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if phone {
        chrome["mobileEmulation"] = json!({
            "deviceMetrics": {
                "width": width,
                "height": height,
                "pixelRatio": PHONE_PIXEL_RATIO,
                "mobile": true,
            },
            "userAgent": PHONE_USER_AGENT,
        });
    }
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": chrome,
        "goog:loggingPrefs": { "browser": "ALL" },
        // Test servers present self-signed certificates.
        "acceptInsecureCerts": true,
        "timeouts": { "pageLoad": PAGE_LOAD_WITHIN.as_millis() as u64 },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("json!({{...}}) is an object"),
    }
}

/// Starts chromedriver on a free loopback port and waits until it is ready; returns it with
/// its port.
async fn start_chromedriver(log: &Path) -> (Child, u16) {
    let mut failures = Vec::new();
    for _ in 0..CHROMEDRIVER_ATTEMPTS {
        // The port is free now; another process may take it before chromedriver binds it,
        // in which case chromedriver exits and the loop tries another.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|probe| probe.local_addr())
            .unwrap()
            .port();
        let output = File::create(log.with_extension("out")).unwrap();
        let spawned = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            // Its own process group, which Chromium inherits: see `Drop for Browser`.
            .process_group(0)
            .spawn();
        let mut chromedriver = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                panic!("{CHROMEDRIVER} is missing: {INSTALL_HINT}")
            }
            Err(e) => panic!("starting {CHROMEDRIVER}: {e}"),
        };
        match wait_until_ready(&mut chromedriver, port).await {
            Ok(()) => return (chromedriver, port),
            Err(failure) => {
                end_process_group(&mut chromedriver);
                failures.push(format!(
                    "port {port}: {failure}\n{}",
                    tail(&log.with_extension("out"))
                ));
            }
        }
    }
    panic!(
        "chromedriver did not start in {CHROMEDRIVER_ATTEMPTS} attempts:\n{}",
        failures.join("\n")
    );
}

/// Polls chromedriver's `/status` with a short back-off until it reports `ready`.
async fn wait_until_ready(chromedriver: &mut Child, port: u16) -> Result<(), String> {
    let status_url = format!("http://127.0.0.1:{port}/status");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + CHROMEDRIVER_READY_WITHIN;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(status) = chromedriver.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("chromedriver exited ({status})"));
        }
        if let Ok(response) = http.get(&status_url).send().await {
            let body = response.bytes().await.unwrap_or_default();
            let status: Value = serde_json::from_slice(&body).unwrap_or_default();
            if status["value"]["ready"] == true {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{status_url} not ready after {CHROMEDRIVER_READY_WITHIN:?}"
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// Opens the WebDriver session; if Chromium does not start, ends `chromedriver` and panics
/// with the end of its log.
async fn connect(
    chromedriver: &mut Child,
    port: u16,
    capabilities: Capabilities,
    log: &Path,
) -> Client {
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(capabilities);
    match builder.connect(&format!("http://127.0.0.1:{port}")).await {
        Ok(client) => client,
        Err(e) => {
            end_process_group(chromedriver);
            panic!(
                "chromedriver could not start {CHROMIUM} ({INSTALL_HINT} if it is missing): \
                 {e}\nchromedriver log:\n{}",
                tail(log)
            )
        }
    }
}

/// Kills `leader` and its process group (chromedriver and the Chromium it started) and
/// reaps it. The group id is the leader's pid, which stays reserved until the `wait`.
fn end_process_group(leader: &mut Child) {
    if let Ok(pid) = i32::try_from(leader.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = leader.wait();
}

/// The last lines of a log file, for a panic message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A chromedriver command outside the W3C set (the browser log, CDP), on the current
/// session.
#[derive(Debug)]
struct Chromedriver {
    path: &'static str,
    body: Value,
}

impl Chromedriver {
    fn post(path: &'static str, body: Value) -> Chromedriver {
        Chromedriver { path, body }
    }
}

// `reqwest::{Method, Url}` are the `http` and `url` types fantoccini's trait names; the
// tests crate does not depend on those crates directly.
impl WebDriverCompatibleCommand for Chromedriver {
    fn endpoint(
        &self,
        base_url: &Url,
        session_id: Option<&str>,
    ) -> Result<Url, <Url as FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &Url) -> (Method, Option<String>) {
        (Method::POST, Some(self.body.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cookie::SameSite;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

    /// A form page taller than any window, so a full-page screenshot must reach past the
    /// viewport.
    const FORM_PAGE: &str = "<!doctype html>\
        <html lang=\"vi\"><head><meta charset=\"utf-8\">\
        <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
        <title>Thử</title></head>\
        <body style=\"margin:0\"><h1 id=\"greeting\">Xin chào</h1>\
        <form method=\"post\" action=\"/submit\">\
        <label for=\"name\">Họ tên</label><input id=\"name\" name=\"name\" value=\"cũ\">\
        <button id=\"send\" type=\"submit\">Gửi</button></form>\
        <div style=\"height:2000px\"></div></body></html>";

    /// Serves `FORM_PAGE` on `GET /` with two cookies, on `POST /submit` a page that shows
    /// the form body exactly as the browser sent it, and an empty favicon.
    async fn serve_form() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                // One task per connection: Chromium opens speculative connections that may
                // never send a request.
                tokio::spawn(answer(stream));
            }
        });
        format!("http://{address}")
    }

    async fn answer(mut stream: TcpStream) {
        let mut request = Vec::new();
        let mut buffer = [0; 4096];
        let head_end = loop {
            if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buffer[..n]),
            }
        };
        let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
        let content_length: usize = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .map(|(_, value)| value.trim().parse().unwrap())
            .unwrap_or(0);
        while request.len() < head_end + content_length {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buffer[..n]),
            }
        }
        let body = String::from_utf8_lossy(&request[head_end..]).into_owned();
        let (status, cookies, page) = if head.starts_with("GET / ") {
            (
                "200 OK",
                "Set-Cookie: session=abc123; Path=/; Secure; HttpOnly; SameSite=Strict\r\n\
                 Set-Cookie: lang=vi; Path=/; SameSite=Lax\r\n",
                FORM_PAGE.to_owned(),
            )
        } else if head.starts_with("POST /submit ") {
            (
                "200 OK",
                "",
                format!(
                    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Đã gửi</title>\
                     </head><body><p id=\"echo\">{body}</p></body></html>"
                ),
            )
        } else if head.starts_with("GET /favicon.ico ") {
            // Chromium logs a 404 for the icon it asks for as a SEVERE console entry.
            ("204 No Content", "", String::new())
        } else {
            ("404 Not Found", "", String::new())
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n{cookies}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    /// Width and height from a PNG's IHDR chunk.
    fn png_size(png: &[u8]) -> (u32, u32) {
        assert!(png.starts_with(PNG_SIGNATURE), "not a PNG");
        let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        (word(16), word(20))
    }

    async fn inner_width(browser: &Browser) -> Value {
        browser
            .client
            .execute("return window.innerWidth", vec![])
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn desktop_browser_fills_a_form_and_reports_cookies_screenshots_and_errors() {
        let site = serve_form().await;
        let shots = tempfile::tempdir().unwrap();
        let browser = Browser::start().await;

        browser.goto(&format!("{site}/")).await;
        assert_eq!(browser.text("#greeting").await, "Xin chào");
        assert!(browser.exists("#name").await);
        assert!(!browser.exists("#absent").await);
        assert_eq!(inner_width(&browser).await, 1280);

        // Chromium counts http://127.0.0.1 as a secure context, so it keeps `Secure` cookies.
        let mut cookies = browser.cookies().await;
        cookies.sort_by(|a, b| a.name().cmp(b.name()));
        let flags: Vec<_> = cookies
            .iter()
            .map(|c| {
                (
                    c.name(),
                    c.value(),
                    c.http_only(),
                    c.secure(),
                    c.same_site(),
                )
            })
            .collect();
        assert_eq!(
            flags,
            [
                ("lang", "vi", Some(false), Some(false), Some(SameSite::Lax)),
                (
                    "session",
                    "abc123",
                    Some(true),
                    Some(true),
                    Some(SameSite::Strict)
                ),
            ]
        );

        let png_path = shots.path().join("desktop/form.png");
        browser.screenshot(&png_path).await;
        let (width, height) = png_size(&std::fs::read(&png_path).unwrap());
        assert_eq!(width, 1280);
        assert!(height >= 2000, "only the viewport was captured: {height}px");

        // `fill` replaces the input's value ("cũ"), and the form posts back what was typed.
        browser.fill("#name", "Nguyễn Văn A").await;
        browser.click("#send").await;
        assert_eq!(browser.current_url().await, format!("{site}/submit"));
        assert_eq!(
            browser.text("#echo").await,
            "name=Nguy%E1%BB%85n+V%C4%83n+A"
        );
        assert!(browser
            .page_source()
            .await
            .contains("<p id=\"echo\">name=Nguy%E1%BB%85n+V%C4%83n+A</p>"));

        browser
            .client
            .execute("console.error('bản ghi lỗi')", vec![])
            .await
            .unwrap();
        let errors = browser.console_errors().await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("bản ghi lỗi"), "{errors:?}");
        assert_eq!(browser.console_errors().await, Vec::<String>::new());

        browser.close().await;
    }

    #[tokio::test]
    async fn phone_browser_has_a_390_pixel_viewport_and_a_phone_user_agent() {
        let site = serve_form().await;
        let shots = tempfile::tempdir().unwrap();
        let browser = Browser::with_window(390, 844, true).await;

        browser.goto(&format!("{site}/")).await;
        assert_eq!(inner_width(&browser).await, 390);
        let agent = browser
            .client
            .execute("return navigator.userAgent", vec![])
            .await
            .unwrap();
        assert_eq!(agent, PHONE_USER_AGENT);

        let png_path = shots.path().join("phone.png");
        browser.screenshot(&png_path).await;
        let (width, height) = png_size(&std::fs::read(&png_path).unwrap());
        assert_eq!(width, 390 * PHONE_PIXEL_RATIO);
        assert!(height >= 2000 * PHONE_PIXEL_RATIO, "{height}px");

        browser.close().await;
    }
}
