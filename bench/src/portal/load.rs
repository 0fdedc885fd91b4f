//! The load: portal users signing in and opening pages, the IMAP login probe beside them, and
//! the figures of one run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

use crate::figures::percentile;
use crate::figures::Window;

use super::*;

/// The server as the client sees it during one run.
#[derive(Clone)]
pub(super) struct Target {
    /// `http://127.0.0.1:port`, no trailing slash.
    pub(super) base: String,
    pub(super) imaps: SocketAddr,
    pub(super) tls: TlsConnector,
    /// The official the IMAP client logs in as; no portal user signs in as them.
    pub(super) probe_login: String,
    /// (login, password) of the officials the portal users sign in as.
    pub(super) accounts: Arc<Vec<(String, String)>>,
    pub(super) pid: u32,
    pub(super) ticks: f64,
}

/// What one user saw inside the window: latencies in µs of what completed correctly.
#[derive(Debug, Default)]
pub(super) struct UserTally {
    /// `/account`, `/setup`, `/sessions`, in the order of [`PAGES`].
    pub(super) pages: [Vec<u32>; 3],
    /// `POST /sign-in` with the right password: one argon2id verification each.
    pub(super) sign_ins: Vec<u32>,
    /// `GET /`: the sign-in form.
    pub(super) forms: Vec<u32>,
    /// `POST /sign-out`.
    pub(super) sign_outs: Vec<u32>,
    /// Sign-ins sent in the window still unanswered at its end.
    pub(super) waiting_at_end: u64,
    pub(super) wrong: u64,
    pub(super) first_wrong: Option<String>,
}

impl UserTally {
    pub(super) fn fail(&mut self, window: &Window, why: String) {
        if window.contains(Instant::now()) {
            self.wrong += 1;
            self.first_wrong.get_or_insert(why);
        }
    }

    pub(super) fn merge(&mut self, other: UserTally) {
        for (mine, theirs) in self.pages.iter_mut().zip(other.pages) {
            mine.extend(theirs);
        }
        self.sign_ins.extend(other.sign_ins);
        self.forms.extend(other.forms);
        self.sign_outs.extend(other.sign_outs);
        self.waiting_at_end += other.waiting_at_end;
        self.wrong += other.wrong;
        if self.first_wrong.is_none() {
            self.first_wrong = other.first_wrong;
        }
    }
}

pub(super) fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// One official's browser: its own connection and cookie jar, kept by hand.
pub(super) struct Browser {
    pub(super) client: reqwest::Client,
    pub(super) base: String,
    pub(super) csrf_cookie: Option<String>,
    pub(super) session: Option<String>,
}

/// What a request answered.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) location: Option<String>,
    pub(super) body: String,
}

impl Browser {
    pub(super) fn new(base: &str) -> anyhow::Result<Browser> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .build()?;
        Ok(Browser {
            client,
            base: base.to_string(),
            csrf_cookie: None,
            session: None,
        })
    }

    pub(super) fn cookie_header(&self) -> Option<String> {
        let cookies: Vec<String> = [
            ("congvu_csrf", &self.csrf_cookie),
            ("congvu_session", &self.session),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={v}")))
        .collect();
        (!cookies.is_empty()).then(|| cookies.join("; "))
    }

    /// Keeps what `Set-Cookie` says of the two cookies the portal uses.
    pub(super) fn take_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let first = text.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let cleared = value.is_empty() || text.contains("Max-Age=0");
            let slot = match name.trim() {
                "congvu_csrf" => &mut self.csrf_cookie,
                "congvu_session" => &mut self.session,
                _ => continue,
            };
            *slot = (!cleared).then(|| value.to_string());
        }
    }

    pub(super) async fn request(
        &mut self,
        builder: reqwest::RequestBuilder,
        deadline: Instant,
    ) -> Result<Answer, String> {
        let builder = match self.cookie_header() {
            Some(cookies) => builder.header(COOKIE, cookies),
            None => builder,
        };
        let exchange = async {
            let response = builder.send().await.map_err(|e| format!("{e}"))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.text().await.map_err(|e| format!("{e}"))?;
            Ok::<_, String>((status, headers, body))
        };
        let (status, headers, body) = tokio::time::timeout_at(deadline.into(), exchange)
            .await
            .map_err(|_| "no answer in time".to_string())??;
        self.take_cookies(&headers);
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Answer {
            status,
            location,
            body,
        })
    }

    pub(super) async fn get(&mut self, path: &str, deadline: Instant) -> Result<Answer, String> {
        let builder = self.client.get(format!("{}{path}", self.base));
        self.request(builder, deadline).await
    }

    pub(super) async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<Answer, String> {
        let builder = self.client.post(format!("{}{path}", self.base)).form(form);
        self.request(builder, deadline).await
    }
}

/// The value of the first hidden `csrf` field of a page.
pub(super) fn csrf_field(body: &str) -> Option<&str> {
    const FIELD: &str = "name=\"csrf\" value=\"";
    let at = body.find(FIELD)? + FIELD.len();
    let len = body[at..].find('"')?;
    Some(&body[at..at + len])
}

/// One official after another, as user `index` of `users`: the sign-in form, signing in,
/// `--pages-per-sign-in` pages in turn without pause, signing out; until the window ends.
pub(super) async fn portal_user(
    target: Target,
    index: usize,
    users: usize,
    pages_per_sign_in: usize,
    window: Window,
) -> UserTally {
    let mut tally = UserTally::default();
    let mut browser = match Browser::new(&target.base) {
        Ok(browser) => browser,
        Err(e) => {
            tally.fail(&window, format!("client: {e}"));
            return tally;
        }
    };
    let deadline = window.end + GRACE;
    let mut turn = 0;
    while Instant::now() < window.end {
        let (login, password) = &target.accounts[(index + turn * users) % target.accounts.len()];
        turn += 1;
        if let Err(e) = visit(
            &mut browser,
            login,
            password,
            pages_per_sign_in,
            window,
            deadline,
            &mut tally,
        )
        .await
        {
            tally.fail(&window, format!("{login}: {e}"));
            browser.session = None;
            // A broken step is not retried at full speed.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tally
}

/// One visit: sign in, the pages, sign out.
pub(super) async fn visit(
    browser: &mut Browser,
    login: &str,
    password: &str,
    pages: usize,
    window: Window,
    deadline: Instant,
    tally: &mut UserTally,
) -> Result<(), String> {
    let record = |list: &mut Vec<u32>, started: Instant| {
        let done = Instant::now();
        if window.contains(done) {
            list.push(micros(done - started));
        }
    };
    let started = Instant::now();
    let form = browser.get("/", deadline).await?;
    if form.status != StatusCode::OK {
        return Err(format!("GET / answered {}", form.status));
    }
    let csrf = csrf_field(&form.body)
        .ok_or("the sign-in page has no csrf field")?
        .to_string();
    record(&mut tally.forms, started);
    if Instant::now() >= window.end {
        return Ok(());
    }

    let started = Instant::now();
    let signed_in = browser
        .post(
            "/sign-in",
            &[("csrf", &csrf), ("login", login), ("password", password)],
            deadline,
        )
        .await;
    if Instant::now() > window.end {
        // Answered after the window, or not at all: it waited through the window's end.
        if window.contains(started) {
            tally.waiting_at_end += 1;
        }
        return Ok(());
    }
    let signed_in = signed_in.map_err(|e| format!("POST /sign-in: {e}"))?;
    if signed_in.status != StatusCode::SEE_OTHER
        || signed_in.location.as_deref() != Some("/account")
        || browser.session.is_none()
    {
        return Err(format!(
            "POST /sign-in answered {} to {:?}",
            signed_in.status, signed_in.location
        ));
    }
    record(&mut tally.sign_ins, started);

    let mut session_csrf = None;
    for n in 0..pages {
        if Instant::now() >= window.end {
            return Ok(());
        }
        let (path, marker) = PAGES[n % PAGES.len()];
        let started = Instant::now();
        let page = browser.get(path, deadline).await?;
        check_page(path, marker, &page, login)?;
        record(&mut tally.pages[n % PAGES.len()], started);
        if session_csrf.is_none() {
            session_csrf = csrf_field(&page.body).map(str::to_string);
        }
    }

    let csrf = session_csrf.ok_or("no page had the sign-out form")?;
    let started = Instant::now();
    sign_out(browser, &csrf, deadline).await?;
    record(&mut tally.sign_outs, started);
    Ok(())
}

/// `POST /sign-out`, which must end the session with a redirect.
pub(super) async fn sign_out(
    browser: &mut Browser,
    csrf: &str,
    deadline: Instant,
) -> Result<(), String> {
    let out = browser
        .post("/sign-out", &[("csrf", csrf)], deadline)
        .await?;
    if out.status != StatusCode::SEE_OTHER || browser.session.is_some() {
        return Err(format!("POST /sign-out answered {}", out.status));
    }
    Ok(())
}

/// A page as it should be: 200, its marker in it, and the account page the official's own.
pub(super) fn check_page(
    path: &str,
    marker: &str,
    page: &Answer,
    login: &str,
) -> Result<(), String> {
    if page.status != StatusCode::OK || !page.body.contains(marker) {
        return Err(format!(
            "GET {path} answered {} {:?}",
            page.status, page.location
        ));
    }
    let own = format!("<dd id=\"login\">{login}</dd>");
    if path == "/account" && !page.body.contains(&own) {
        return Err(format!("GET /account is not {login}'s"));
    }
    Ok(())
}

/// IMAP logins, one every `--probe-interval-ms`, through the window.
#[derive(Debug, Clone, Default)]
pub(super) struct Probe {
    /// Time from sending LOGIN to its tagged OK, in µs.
    pub(super) logins_us: Vec<u32>,
    pub(super) failed: u64,
    pub(super) first_failure: Option<String>,
}

impl Probe {
    pub(super) fn p(&self, p: f64) -> f64 {
        let mut sorted: Vec<f64> = self
            .logins_us
            .iter()
            .map(|&us| f64::from(us) / 1000.0)
            .collect();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, p)
    }
}

pub(super) async fn imap_probe(target: Target, window: Window, interval: Duration) -> Probe {
    let mut probe = Probe::default();
    tokio::time::sleep_until(window.start.into()).await;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if Instant::now() >= window.end {
            break;
        }
        match imap_login(&target).await {
            Ok(took) => probe.logins_us.push(micros(took)),
            Err(e) => {
                probe.failed += 1;
                probe.first_failure.get_or_insert(e);
            }
        }
    }
    probe
}

/// Connects over TLS from [`PROBE_SOURCE`], logs in and out; returns how long LOGIN took.
pub(super) async fn imap_login(target: &Target) -> Result<Duration, String> {
    let exchange = async {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        socket
            .bind(SocketAddr::from((PROBE_SOURCE, 0)))
            .map_err(|e| format!("bind {PROBE_SOURCE}: {e}"))?;
        let tcp = socket
            .connect(target.imaps)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::IpAddress(IpAddr::from(Ipv4Addr::LOCALHOST).into());
        let stream = target
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        stream
            .read_line(&mut line)
            .await
            .map_err(|e| format!("greeting: {e}"))?;
        if !line.starts_with("* OK") {
            return Err(format!("greeting {}", line.trim_end()));
        }
        let login = &target.probe_login;
        let command = format!("a1 LOGIN \"{login}\" \"{}\"\r\n", chosen_password(login));
        let started = Instant::now();
        stream
            .get_mut()
            .write_all(command.as_bytes())
            .await
            .map_err(|e| format!("LOGIN: {e}"))?;
        let answer = tagged(&mut stream, "a1").await?;
        let took = started.elapsed();
        if !answer.starts_with("a1 OK") {
            return Err(format!("LOGIN → {}", answer.trim_end()));
        }
        stream
            .get_mut()
            .write_all(b"a2 LOGOUT\r\n")
            .await
            .map_err(|e| format!("LOGOUT: {e}"))?;
        tagged(&mut stream, "a2").await?;
        Ok(took)
    };
    tokio::time::timeout(STEP_TIMEOUT, exchange)
        .await
        .map_err(|_| "no answer within 30 s".to_string())?
}

/// Reads lines until the one tagged `tag`, which it returns.
pub(super) async fn tagged<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut BufReader<S>,
    tag: &str,
) -> Result<String, String> {
    let prefix = format!("{tag} ");
    loop {
        let mut line = String::new();
        let read = stream
            .read_line(&mut line)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err("the server closed the connection".into());
        }
        if line.starts_with(&prefix) {
            return Ok(line);
        }
    }
}

/// What one run measured.
#[derive(Debug)]
pub(super) struct RunFigures {
    pub(super) window_seconds: f64,
    /// Per page, sorted, in ms.
    pub(super) pages: [Vec<f64>; 3],
    /// All three pages together, sorted, in ms.
    pub(super) all_pages: Vec<f64>,
    pub(super) sign_ins: Vec<f64>,
    pub(super) forms: Vec<f64>,
    pub(super) sign_outs: Vec<f64>,
    pub(super) waiting_at_end: u64,
    pub(super) wrong: u64,
    pub(super) first_wrong: Option<String>,
    pub(super) unloaded: Probe,
    pub(super) loaded: Probe,
    pub(super) server: ServerCpu,
    pub(super) client: Duration,
    /// One verification on one core, and the sign-ins/s the hashing threads allow at it.
    pub(super) t_hash_ms: f64,
    pub(super) floor: f64,
}

pub(super) fn sorted_ms(us: Vec<u32>) -> Vec<f64> {
    let mut ms: Vec<f64> = us.into_iter().map(|v| f64::from(v) / 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    ms
}

impl RunFigures {
    pub(super) fn pages_per_second(&self) -> f64 {
        self.all_pages.len() as f64 / self.window_seconds
    }

    pub(super) fn sign_ins_per_second(&self) -> f64 {
        self.sign_ins.len() as f64 / self.window_seconds
    }

    pub(super) fn floor_ratio(&self) -> f64 {
        self.sign_ins_per_second() / self.floor
    }

    pub(super) fn page_p(&self, p: f64) -> f64 {
        percentile(&self.all_pages, p)
    }

    pub(super) fn cores(&self, d: Duration) -> f64 {
        d.as_secs_f64() / self.window_seconds
    }

    /// Server CPU outside the hashing threads per HTTP request that does not hash
    /// (pages, sign-in forms, sign-outs; the sign-in requests' own work is in it too).
    /// Users waiting for a sign-in's answer, on average (Little's law: sign-ins/s × mean
    /// sign-in time).
    pub(super) fn users_signing_in(&self) -> f64 {
        self.sign_ins.iter().sum::<f64>() / 1000.0 / self.window_seconds
    }

    /// Page requests in flight, on average, likewise.
    pub(super) fn users_on_pages(&self) -> f64 {
        self.all_pages.iter().sum::<f64>() / 1000.0 / self.window_seconds
    }

    /// CPU the hashing threads spent per password they were asked to check in the window
    /// (sign-ins and IMAP logins answered): about one verification each when they verify
    /// nothing else.
    pub(super) fn hashing_ms_per_login(&self) -> f64 {
        let logins = self.sign_ins.len() + self.loaded.logins_us.len();
        self.server.hashing.as_secs_f64() * 1000.0 / logins.max(1) as f64
    }

    /// The share of the hashing floor the IMAP logins used.
    pub(super) fn imap_floor_share(&self) -> f64 {
        self.loaded.logins_us.len() as f64 / self.window_seconds / self.floor
    }

    pub(super) fn cpu_per_request_us(&self) -> f64 {
        let requests = self.all_pages.len() + self.forms.len() + self.sign_outs.len();
        (self.server.total.saturating_sub(self.server.hashing)).as_secs_f64() * 1e6
            / requests.max(1) as f64
    }

    pub(super) fn summary(&self) -> String {
        format!(
            "{:.0} pages/s, p50 {:.2} ms, p99 {:.2} ms ({} wrong); {:.1} sign-ins/s (floor {:.1}/s, \
             {:.2}×), sign-in p99 {:.0} ms; IMAP LOGIN p99 {:.1} ms loaded, {:.1} ms unloaded; \
             server {:.2} cores ({:.2} hashing), client {:.2} cores",
            self.pages_per_second(),
            self.page_p(0.5),
            self.page_p(0.99),
            self.wrong,
            self.sign_ins_per_second(),
            self.floor,
            self.floor_ratio(),
            percentile(&self.sign_ins, 0.99),
            self.loaded.p(0.99),
            self.unloaded.p(0.99),
            self.cores(self.server.total),
            self.cores(self.server.hashing),
            self.cores(self.client),
        )
    }
}

/// One run: IMAP logins unloaded, then the portal load with IMAP logins beside it.
pub(super) async fn measure(args: &PortalArgs, target: &Target) -> anyhow::Result<RunFigures> {
    let interval = Duration::from_millis(args.probe_interval_ms);
    let unloaded = imap_probe(
        target.clone(),
        Window::after(0, args.unloaded_seconds),
        interval,
    )
    .await;
    anyhow::ensure!(
        unloaded.failed == 0,
        "unloaded IMAP logins failed: {}",
        unloaded.first_failure.unwrap_or_default()
    );

    let window = Window::after(args.warmup, args.seconds);
    let users: Vec<_> = (0..args.users)
        .map(|i| {
            tokio::spawn(portal_user(
                target.clone(),
                i,
                args.users,
                args.pages_per_sign_in,
                window,
            ))
        })
        .collect();
    let probe = tokio::spawn(imap_probe(target.clone(), window, interval));
    tokio::time::sleep_until(window.start.into()).await;
    let (server_before, client_before) =
        (server_cpu(target.pid, target.ticks), own_cpu(target.ticks));
    tokio::time::sleep_until(window.end.into()).await;
    let (server_after, client_after) =
        (server_cpu(target.pid, target.ticks), own_cpu(target.ticks));
    let mut tally = UserTally::default();
    for user in users {
        tally.merge(user.await?);
    }
    let loaded = probe.await?;
    let [account, setup, sessions] = tally.pages;
    let mut all_pages: Vec<u32> = Vec::new();
    for list in [&account, &setup, &sessions] {
        all_pages.extend(list);
    }
    Ok(RunFigures {
        window_seconds: window.seconds(),
        pages: [sorted_ms(account), sorted_ms(setup), sorted_ms(sessions)],
        all_pages: sorted_ms(all_pages),
        sign_ins: sorted_ms(tally.sign_ins),
        forms: sorted_ms(tally.forms),
        sign_outs: sorted_ms(tally.sign_outs),
        waiting_at_end: tally.waiting_at_end,
        wrong: tally.wrong + loaded.failed,
        first_wrong: tally.first_wrong.or(loaded.first_failure.clone()),
        unloaded,
        loaded,
        server: ServerCpu {
            total: server_after.total.saturating_sub(server_before.total),
            hashing: server_after.hashing.saturating_sub(server_before.hashing),
        },
        client: client_after.saturating_sub(client_before),
        t_hash_ms: 0.0,
        floor: 0.0,
    })
}
