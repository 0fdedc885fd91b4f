//! The officials' portal: first sign-in with an initial password, choosing a password (also
//! from a one-time reset link), changing it, the account page, mail client setup, the
//! out-of-office reply and the sessions list. Server-rendered pages (askama templates under
//! `server/templates/portal/`), one stylesheet, no script; Vietnamese by default with an
//! English switch.
//!
//! Owns the web side only: cookies, CSRF tokens, forms and pages. Who may sign in, what a
//! password must be and what a session is are the directory's (`Authenticator`,
//! `directory::portal`); every sign-in goes through the same authenticator, lockout and
//! source throttle as LDAP, IMAP and SMTP.
//!
//! Cookies are `HttpOnly` and `SameSite=Strict`, `Secure` whenever the browser reaches the
//! portal over HTTPS. Every form carries a CSRF token: the session's own once signed in, a
//! double-submit cookie before. Passwords are taken only over HTTPS or from a loopback peer
//! (a TLS-terminating proxy on the same machine).

// Helpers return the page that ends the request as their error: a `Response` is made once
// per request, and boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod account;
mod forms;
mod out_of_office;
mod pages;
mod password;
mod setup;
mod sign_in;
mod texts;

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cookie::{Cookie, SameSite};

use super::{AutoconfigSettings, Peer};
use crate::config::Config;
use crate::directory::{
    Authenticator, Directory, Official, OfficialId, PortalSession, SessionPolicy, SessionPurpose,
};
use crate::mailstore::Mailstore;
use crate::sieve::scripts::Scripts;

pub use texts::Lang;

/// Largest form body read; the portal's forms are a few hundred bytes.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// Largest out-of-office form read: its text, up to 4,000 characters of Vietnamese, is
/// percent-encoded (up to 12 bytes a character), as is the subject.
pub const MAX_OUT_OF_OFFICE_FORM_BYTES: usize = 64 * 1024;

const SESSION_COOKIE: &str = "congvu_session";
const CSRF_COOKIE: &str = "congvu_csrf";
const LANG_COOKIE: &str = "congvu_lang";

/// What the portal needs from the configuration.
#[derive(Debug, Clone)]
pub struct PortalSettings {
    /// The portal's public address, ending in `/`.
    pub public_url: String,
    pub sessions: SessionPolicy,
    /// Host names and ports for the setup page and the configuration profile.
    pub mail: AutoconfigSettings,
}

impl PortalSettings {
    /// `[http]` with its defaults filled in from `[server]`.
    pub fn from_config(config: &Config) -> PortalSettings {
        PortalSettings {
            public_url: config.http.portal_url(&config.server.hostname),
            sessions: SessionPolicy {
                idle_seconds: i64::from(config.http.session_idle_minutes) * 60,
                lifetime_seconds: i64::from(config.http.session_lifetime_hours) * 3600,
            },
            mail: AutoconfigSettings::from_config(config),
        }
    }

    /// Whether officials reach the portal at an `https://` address.
    pub fn public_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// The portal's routes and what they share.
#[derive(Debug, Clone)]
pub struct Portal {
    state: Arc<PortalState>,
}

#[derive(Debug)]
struct PortalState {
    settings: PortalSettings,
    authenticator: Arc<Authenticator>,
    mailstore: Mailstore,
    /// The officials' Sieve scripts, shared with SMTP delivery.
    scripts: Scripts,
}

impl Portal {
    pub fn new(
        settings: PortalSettings,
        authenticator: Arc<Authenticator>,
        mailstore: Mailstore,
        scripts: Scripts,
    ) -> Portal {
        Portal {
            state: Arc::new(PortalState {
                settings,
                authenticator,
                mailstore,
                scripts,
            }),
        }
    }

    fn directory(&self) -> &Directory {
        self.state.authenticator.directory()
    }

    /// Every page of the portal, with the form body limit.
    pub(super) fn router<S>(self) -> Router<S> {
        Router::new()
            .route("/", get(sign_in::home))
            .route("/sign-in", get(back_home).post(sign_in::sign_in))
            .route("/sign-out", get(back_home).post(sign_in::sign_out))
            .route(
                "/choose-password",
                get(password::choose_form).post(password::choose),
            )
            .route(
                "/reset/{token}",
                get(password::reset_form).post(password::reset),
            )
            .route(
                "/password",
                get(password::change_form).post(password::change),
            )
            .route("/account", get(account::account))
            .route("/sessions", get(account::sessions))
            .route("/sessions/end-all", get(back_home).post(account::end_all))
            .route(
                "/out-of-office",
                get(out_of_office::form)
                    .post(out_of_office::save)
                    .layer(DefaultBodyLimit::max(MAX_OUT_OF_OFFICE_FORM_BYTES)),
            )
            .route("/setup", get(setup::setup))
            .route("/setup/apple.mobileconfig", get(setup::mobileconfig))
            .route("/static/portal.css", get(stylesheet))
            .route("/favicon.ico", get(no_icon))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
            .with_state(self)
    }

    /// The session the visitor's cookie opens, if it is live.
    async fn session(&self, visit: &Visit) -> Result<Option<PortalSession>, Response> {
        let Some(token) = &visit.session_token else {
            return Ok(None);
        };
        self.directory()
            .portal_session(token, self.state.settings.sessions)
            .await
            .map_err(|e| unavailable(visit, &e))
    }

    /// A signed-in session for the whole portal, with its official. Without a session the
    /// visitor goes to the sign-in page; with one for choosing a password, to that page and
    /// nowhere else.
    async fn account_session(&self, visit: &Visit) -> Result<(PortalSession, Official), Response> {
        let Some(session) = self.session(visit).await? else {
            return Err(redirect("/", &[]));
        };
        if session.purpose == SessionPurpose::ChoosePassword {
            return Err(redirect("/choose-password", &[]));
        }
        let official = self.live_official(visit, session.official).await?;
        Ok((session, official))
    }

    /// The official a session belongs to, while they may still sign in.
    async fn live_official(&self, visit: &Visit, id: OfficialId) -> Result<Official, Response> {
        match self.directory().official_by_id(id).await {
            Ok(Some(o)) if o.status == crate::directory::OfficialStatus::Active => Ok(o),
            Ok(_) => Err(redirect("/", &[clear_cookie(SESSION_COOKIE, visit.https)])),
            Err(e) => Err(unavailable(visit, &e)),
        }
    }

    /// Opens a session and sends the visitor to `to` with its cookie.
    async fn open_session(
        &self,
        visit: &Visit,
        official: OfficialId,
        purpose: SessionPurpose,
        to: &str,
    ) -> Response {
        match self
            .directory()
            .open_portal_session(official, purpose, visit.source, &visit.user_agent)
            .await
        {
            Ok(opened) => redirect(
                to,
                &[session_cookie(SESSION_COOKIE, &opened.token, visit.https)],
            ),
            Err(e) => unavailable(visit, &e),
        }
    }
}

/// What a page that follows a saved form says was saved (`?saved=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Saved {
    Password,
    OutOfOffice,
}

impl Saved {
    fn parse(value: &str) -> Option<Saved> {
        match value {
            "password" => Some(Saved::Password),
            "out-of-office" => Some(Saved::OutOfOffice),
            _ => None,
        }
    }
}

/// What a handler answers: its page, or the page that ended it early (`?`).
type Answer = Result<Response, Response>;

/// What every handler knows about the request: who sent it, over what, in which language,
/// with which cookies.
#[derive(Debug, Clone)]
pub(super) struct Visit {
    pub peer: Peer,
    /// Who the visitor is for throttling, lockout and the sessions list: the peer, or, when
    /// the peer is a proxy on this machine, the client it names in `X-Forwarded-For`.
    pub source: IpAddr,
    pub lang: Lang,
    /// The visitor picked the language with the switch: it is remembered in a cookie.
    pub chose_lang: bool,
    /// The visitor arrives from saving a form (`?saved=password`, `?saved=out-of-office`):
    /// the page says so.
    pub saved: Option<Saved>,
    pub session_token: Option<String>,
    pub csrf_cookie: Option<String>,
    pub user_agent: String,
    /// The browser reached the portal over HTTPS (cookies are `Secure`, HSTS is sent).
    pub https: bool,
}

impl Visit {
    /// Whether a password may be taken from this request.
    fn may_send_password(&self) -> bool {
        self.https || self.peer.address.ip().is_loopback()
    }

    fn texts(&self) -> &'static texts::Texts {
        self.lang.texts()
    }

    /// Refuses a form that does not carry `expected`, its CSRF token (403, nothing changed).
    fn check_csrf(&self, expected: &str, given: Option<&str>) -> Result<(), Response> {
        if same_token(expected, given) {
            Ok(())
        } else {
            Err(csrf_refused(self))
        }
    }

    /// Refuses a password sent over plain HTTP from another machine (403, nothing read).
    fn check_password_transport(&self) -> Result<(), Response> {
        if self.may_send_password() {
            Ok(())
        } else {
            Err(needs_https(self))
        }
    }
}

impl FromRequestParts<Portal> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Response> {
        let Some(peer) = parts.extensions.get::<Peer>().copied() else {
            // Every connection is served with its peer; a request without one did not come
            // through the listener.
            return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
        };
        let cookies = cookies(&parts.headers);
        let query = parts.uri.query().unwrap_or_default();
        let chosen = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("lang="))
            .and_then(Lang::parse);
        let saved = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("saved="))
            .and_then(Saved::parse);
        let remembered = cookies.get(LANG_COOKIE).and_then(|v| Lang::parse(v));
        let source = forwarded_for(&parts.headers, peer.address.ip());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok(Visit {
            peer,
            source,
            lang: chosen.or(remembered).unwrap_or(Lang::Vi),
            chose_lang: chosen.is_some(),
            saved,
            session_token: cookies.get(SESSION_COOKIE).cloned(),
            csrf_cookie: cookies.get(CSRF_COOKIE).cloned(),
            user_agent,
            https: peer.browser_uses_https(portal.state.settings.public_https()),
        })
    }
}

/// The client a proxy on this machine forwarded the request for: the last address in
/// `X-Forwarded-For` (the one the proxy itself appended). From any other peer the header
/// is ignored, since anyone can write it.
fn forwarded_for(headers: &HeaderMap, peer: IpAddr) -> IpAddr {
    if !peer.is_loopback() {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
}

/// The request's cookies by name (the first of each name).
fn cookies(headers: &HeaderMap) -> std::collections::HashMap<String, String> {
    let mut found = std::collections::HashMap::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for cookie in Cookie::split_parse(text).flatten() {
            found
                .entry(cookie.name().to_string())
                .or_insert_with(|| cookie.value().to_string());
        }
    }
    found
}

/// A cookie that lives as long as the browser session, for this site only.
fn session_cookie(name: &'static str, value: &str, https: bool) -> String {
    Cookie::build((name, value.to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https)
        .build()
        .to_string()
}

/// A cookie that tells the browser to forget `name`.
fn clear_cookie(name: &'static str, https: bool) -> String {
    Cookie::build((name, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https)
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// A page: HTML, never cached, with the language cookie when the visitor switched.
fn page(visit: &Visit, status: StatusCode, html: String, cookies: &[String]) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let lang = visit.chose_lang.then(|| {
        Cookie::build((LANG_COOKIE, visit.lang.code()))
            .path("/")
            .same_site(SameSite::Strict)
            .secure(visit.https)
            .max_age(cookie::time::Duration::days(365))
            .build()
            .to_string()
    });
    for cookie in cookies.iter().chain(lang.iter()) {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// 303 See Other to `to`, setting `cookies`.
fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A page with a title and one message.
fn message(visit: &Visit, status: StatusCode, title: &str, text: &str) -> Response {
    page(
        visit,
        status,
        pages::render(&pages::MessagePage {
            t: visit.texts(),
            title,
            message: text,
        }),
        &[],
    )
}

/// The store failed: the visitor may retry.
fn unavailable(visit: &Visit, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "portal request failed");
    let t = visit.texts();
    message(
        visit,
        StatusCode::SERVICE_UNAVAILABLE,
        t.unavailable_title,
        t.unavailable,
    )
}

/// A form that did not carry the token it must: refused, nothing changed.
fn csrf_refused(visit: &Visit) -> Response {
    let t = visit.texts();
    message(
        visit,
        StatusCode::FORBIDDEN,
        t.forbidden_title,
        t.csrf_refused,
    )
}

/// A password sent over plain HTTP from another machine: refused unread.
fn needs_https(visit: &Visit) -> Response {
    let t = visit.texts();
    message(
        visit,
        StatusCode::FORBIDDEN,
        t.needs_https_title,
        t.needs_https,
    )
}

/// Whether `given` is `expected`, in time independent of where they differ.
fn same_token(expected: &str, given: Option<&str>) -> bool {
    let Some(given) = given else {
        return false;
    };
    if expected.is_empty() || expected.len() != given.len() {
        return false;
    }
    expected
        .bytes()
        .zip(given.bytes())
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("portal.css"),
    )
        .into_response()
}

/// A page reached by GET at an address that only takes forms (the language switch on a page
/// a form answered): the portal's home, in the language asked for.
async fn back_home(uri: axum::http::Uri) -> Response {
    let lang = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("lang="))
        .and_then(Lang::parse);
    match lang {
        Some(lang) => redirect(&format!("/?lang={}", lang.code()), &[]),
        None => redirect("/", &[]),
    }
}

/// Browsers ask for an icon whatever the page says; the portal has none.
async fn no_icon() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "max-age=86400")],
    )
        .into_response()
}

async fn not_found(visit: Visit) -> Response {
    let t = visit.texts();
    message(
        &visit,
        StatusCode::NOT_FOUND,
        t.not_found_title,
        t.not_found,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_proxy_names_the_client_and_nobody_else_does() {
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.7, 203.0.113.5"),
        );
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(
            forwarded_for(&headers, loopback),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        assert_eq!(forwarded_for(&headers, remote), remote);
        assert_eq!(forwarded_for(&HeaderMap::new(), loopback), loopback);
        let junk = HeaderMap::from_iter([(
            header::HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_static("unknown"),
        )]);
        assert_eq!(forwarded_for(&junk, loopback), loopback);
    }

    #[test]
    fn tokens_compare_only_when_equal_and_present() {
        assert!(same_token("abc", Some("abc")));
        assert!(!same_token("abc", Some("abd")));
        assert!(!same_token("abc", Some("ab")));
        assert!(!same_token("abc", None));
        assert!(!same_token("", Some("")));
    }

    #[test]
    fn cookies_are_strict_http_only_and_secure_on_https() {
        let plain = session_cookie(SESSION_COOKIE, "t0k", false);
        assert_eq!(
            plain,
            "congvu_session=t0k; HttpOnly; SameSite=Strict; Path=/"
        );
        let tls = session_cookie(SESSION_COOKIE, "t0k", true);
        assert!(tls.contains("; Secure"), "{tls}");
        assert!(clear_cookie(SESSION_COOKIE, false).contains("Max-Age=0"));
    }
}
