//! The sign-in page, signing in and signing out.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;

use super::{
    clear_cookie, csrf_refused, forms, needs_https, page, pages, redirect, same_token,
    session_cookie, unavailable, Portal, Visit, CSRF_COOKIE, SESSION_COOKIE,
};
use crate::directory::{LoginName, LoginOutcome, Principal, SessionPurpose};

/// `/`: the sign-in page, or where a signed-in visitor belongs.
pub(super) async fn home(State(portal): State<Portal>, visit: Visit) -> Response {
    match portal.session(&visit).await {
        Err(response) => response,
        Ok(Some(session)) if session.purpose == SessionPurpose::Account => {
            redirect("/account", &[])
        }
        Ok(Some(_)) => redirect("/choose-password", &[]),
        Ok(None) => sign_in_page(&visit, StatusCode::OK, "", false),
    }
}

/// The sign-in form, with the anonymous CSRF token (a double-submit cookie).
fn sign_in_page(visit: &Visit, status: StatusCode, login: &str, refused: bool) -> Response {
    let (csrf, cookie) = anonymous_csrf(visit);
    let html = pages::render(&pages::SignInPage {
        t: visit.texts(),
        csrf: &csrf,
        login,
        refused,
    });
    page(visit, status, html, &cookie)
}

/// The visitor's anonymous CSRF token, and the cookie that sets it when it is new.
pub(super) fn anonymous_csrf(visit: &Visit) -> (String, Vec<String>) {
    match &visit.csrf_cookie {
        Some(token) if token.len() == 43 => (token.clone(), Vec::new()),
        _ => {
            let token = crate::directory::new_csrf_token();
            let cookie = session_cookie(CSRF_COOKIE, &token, visit.https);
            (token, vec![cookie])
        }
    }
}

/// Whether an anonymous form carries the token its cookie holds.
pub(super) fn anonymous_csrf_matches(visit: &Visit, given: Option<&str>) -> bool {
    visit
        .csrf_cookie
        .as_deref()
        .is_some_and(|expected| same_token(expected, given))
}

/// `POST /sign-in`: an official's own password opens the portal; an initial one opens only
/// the choice of a new password; anything else is one refusal for every reason.
pub(super) async fn sign_in(
    State(portal): State<Portal>,
    visit: Visit,
    form: Result<Form<forms::SignIn>, FormRejection>,
) -> Response {
    let form = match forms::read(&visit, form) {
        Ok(form) => form,
        Err(response) => return response,
    };
    if !anonymous_csrf_matches(&visit, form.csrf.as_deref()) {
        return csrf_refused(&visit);
    }
    if !visit.may_send_password() {
        return needs_https(&visit);
    }
    let login: String = form.login.chars().take(320).collect();
    let outcome = portal
        .state
        .authenticator
        .login_official(
            &LoginName::parse(&login),
            &form.password,
            visit.peer.address.ip(),
        )
        .await;
    match outcome {
        Ok(LoginOutcome::Accepted(principal)) => match *principal {
            Principal::Official(official) => {
                tracing::info!(login = %official.login, peer = %visit.peer.address, "portal sign-in");
                portal
                    .open_session(&visit, official.id, SessionPurpose::Account, "/account")
                    .await
            }
            Principal::Service(_) => sign_in_page(&visit, StatusCode::UNAUTHORIZED, &login, true),
        },
        Ok(LoginOutcome::MustChange(official)) => {
            tracing::info!(login = %official.login, peer = %visit.peer.address, "portal sign-in with an initial password");
            portal
                .open_session(
                    &visit,
                    official.id,
                    SessionPurpose::ChoosePassword,
                    "/choose-password",
                )
                .await
        }
        Ok(LoginOutcome::Refused) => sign_in_page(&visit, StatusCode::UNAUTHORIZED, &login, true),
        Err(e) => unavailable(&visit, &e),
    }
}

/// `POST /sign-out`: ends this session.
pub(super) async fn sign_out(
    State(portal): State<Portal>,
    visit: Visit,
    form: Result<Form<forms::Confirm>, FormRejection>,
) -> Response {
    let form = match forms::read(&visit, form) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let session = match portal.session(&visit).await {
        Ok(Some(session)) => session,
        Ok(None) => return redirect("/", &[clear_cookie(SESSION_COOKIE, visit.https)]),
        Err(response) => return response,
    };
    if !same_token(&session.csrf_token, form.csrf.as_deref()) {
        return csrf_refused(&visit);
    }
    if let Some(token) = &visit.session_token {
        if let Err(e) = portal.directory().end_portal_session(token).await {
            return unavailable(&visit, &e);
        }
    }
    redirect("/", &[clear_cookie(SESSION_COOKIE, visit.https)])
}
