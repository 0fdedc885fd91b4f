//! Choosing a password (after an initial one, or from a reset link) and changing it.
//!
//! Whatever the way in, a password that is set ends every session and link of the official
//! (the directory does that), and the visitor continues in a fresh session of their own.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;

use super::sign_in::{anonymous_csrf, anonymous_csrf_matches};
use super::texts::{weakness, MIN_LENGTH};
use super::{
    csrf_refused, forms, message, needs_https, page, pages, redirect, same_token, unavailable,
    Portal, Visit,
};
use crate::directory::{Official, PasswordChangeError, PortalSession, SessionPurpose};

/// Where the account page goes after a password was saved (it shows a notice).
const SAVED: &str = "/account?saved=password";

/// `GET /choose-password`.
pub(super) async fn choose_form(State(portal): State<Portal>, visit: Visit) -> Response {
    match choosing(&portal, &visit).await {
        Ok((session, official)) => {
            let intro = visit.texts().choose_intro;
            choose_page(
                &visit,
                &session.csrf_token,
                "/choose-password",
                intro,
                &official,
                StatusCode::OK,
                None,
            )
        }
        Err(response) => response,
    }
}

/// `POST /choose-password`: the official signed in with an initial password chooses theirs.
pub(super) async fn choose(
    State(portal): State<Portal>,
    visit: Visit,
    form: Result<Form<forms::Choose>, FormRejection>,
) -> Response {
    let form = match forms::read(&visit, form) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let (session, official) = match choosing(&portal, &visit).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !same_token(&session.csrf_token, form.csrf.as_deref()) {
        return csrf_refused(&visit);
    }
    if !visit.may_send_password() {
        return needs_https(&visit);
    }
    let refused = |why: String| {
        let intro = visit.texts().choose_intro;
        choose_page(
            &visit,
            &session.csrf_token,
            "/choose-password",
            intro,
            &official,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(why),
        )
    };
    save_choice(&portal, &visit, &official, &form, refused).await
}

/// The choose-password session and its official; an account session has nothing to
/// choose (it changes its password instead).
async fn choosing(portal: &Portal, visit: &Visit) -> Result<(PortalSession, Official), Response> {
    let Some(session) = portal.session(visit).await? else {
        return Err(redirect("/", &[]));
    };
    if session.purpose == SessionPurpose::Account {
        return Err(redirect("/password", &[]));
    }
    let official = portal.live_official(visit, session.official).await?;
    Ok((session, official))
}

/// `GET /reset/{token}`: the form behind a reset link, while the link is good.
pub(super) async fn reset_form(
    State(portal): State<Portal>,
    visit: Visit,
    Path(token): Path<String>,
) -> Response {
    let official = match linked_official(&portal, &visit, &token).await {
        Ok(official) => official,
        Err(response) => return response,
    };
    let (csrf, cookie) = anonymous_csrf(&visit);
    let action = format!("/reset/{token}");
    let mut response = choose_page(
        &visit,
        &csrf,
        &action,
        visit.texts().reset_intro,
        &official,
        StatusCode::OK,
        None,
    );
    for value in cookie {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .append(axum::http::header::SET_COOKIE, value);
        }
    }
    response
}

/// `POST /reset/{token}`: chooses a password without knowing one; the link dies with it.
pub(super) async fn reset(
    State(portal): State<Portal>,
    visit: Visit,
    Path(token): Path<String>,
    form: Result<Form<forms::Choose>, FormRejection>,
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
    let official = match linked_official(&portal, &visit, &token).await {
        Ok(official) => official,
        Err(response) => return response,
    };
    let csrf = visit.csrf_cookie.clone().unwrap_or_default();
    let action = format!("/reset/{token}");
    let refused = |why: String| {
        choose_page(
            &visit,
            &csrf,
            &action,
            visit.texts().reset_intro,
            &official,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(why),
        )
    };
    save_choice(&portal, &visit, &official, &form, refused).await
}

/// The official a reset link is for, or the page saying it no longer works (used, expired
/// or never issued: one page for all, which tells a guesser nothing).
async fn linked_official(
    portal: &Portal,
    visit: &Visit,
    token: &str,
) -> Result<Official, Response> {
    match portal.directory().official_for_reset_link(token).await {
        Ok(Some(official)) => Ok(official),
        Ok(None) => {
            let t = visit.texts();
            Err(message(
                visit,
                StatusCode::GONE,
                t.link_invalid_title,
                t.link_invalid,
            ))
        }
        Err(e) => Err(unavailable(visit, &e)),
    }
}

/// Checks the two entries, stores the choice, and continues in a new account session.
async fn save_choice(
    portal: &Portal,
    visit: &Visit,
    official: &Official,
    form: &forms::Choose,
    refused: impl FnOnce(String) -> Response,
) -> Response {
    if form.new != form.confirm {
        return refused(visit.texts().mismatch.to_string());
    }
    let chosen = portal
        .state
        .authenticator
        .choose_password(official, &form.new, visit.peer.address.ip())
        .await;
    match chosen {
        Ok(()) => {
            tracing::info!(login = %official.login, peer = %visit.peer.address, "password chosen in the portal");
            portal
                .open_session(visit, official.id, SessionPurpose::Account, SAVED)
                .await
        }
        Err(PasswordChangeError::Weak(why)) => refused(weakness(visit.lang, &why)),
        Err(e) => unavailable(visit, &e),
    }
}

#[allow(clippy::too_many_arguments)]
fn choose_page(
    visit: &Visit,
    csrf: &str,
    action: &str,
    intro: &str,
    official: &Official,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let html = pages::render(&pages::ChoosePage {
        t: visit.texts(),
        csrf,
        action,
        intro,
        name: &official.display_name,
        address: &official.primary_address,
        min_length: MIN_LENGTH,
        error,
    });
    page(visit, status, html, &[])
}

/// `GET /password`.
pub(super) async fn change_form(State(portal): State<Portal>, visit: Visit) -> Response {
    match portal.account_session(&visit).await {
        Ok((session, official)) => {
            change_page(&visit, &session, &official, StatusCode::OK, false, None)
        }
        Err(response) => response,
    }
}

/// `POST /password`: the official changes their password, proving the current one.
pub(super) async fn change(
    State(portal): State<Portal>,
    visit: Visit,
    form: Result<Form<forms::Change>, FormRejection>,
) -> Response {
    let form = match forms::read(&visit, form) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let (session, official) = match portal.account_session(&visit).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !same_token(&session.csrf_token, form.csrf.as_deref()) {
        return csrf_refused(&visit);
    }
    if !visit.may_send_password() {
        return needs_https(&visit);
    }
    if form.new != form.confirm {
        let why = visit.texts().mismatch.to_string();
        return change_page(
            &visit,
            &session,
            &official,
            StatusCode::UNPROCESSABLE_ENTITY,
            false,
            Some(why),
        );
    }
    let changed = portal
        .state
        .authenticator
        .change_own_password(&official, &form.current, &form.new, visit.peer.address.ip())
        .await;
    match changed {
        Ok(()) => {
            tracing::info!(login = %official.login, peer = %visit.peer.address, "password changed in the portal");
            portal
                .open_session(&visit, official.id, SessionPurpose::Account, SAVED)
                .await
        }
        Err(PasswordChangeError::WrongPassword) => change_page(
            &visit,
            &session,
            &official,
            StatusCode::UNAUTHORIZED,
            true,
            None,
        ),
        Err(PasswordChangeError::Weak(why)) => {
            let why = weakness(visit.lang, &why);
            change_page(
                &visit,
                &session,
                &official,
                StatusCode::UNPROCESSABLE_ENTITY,
                false,
                Some(why),
            )
        }
        Err(e) => unavailable(&visit, &e),
    }
}

fn change_page(
    visit: &Visit,
    session: &PortalSession,
    official: &Official,
    status: StatusCode,
    current_wrong: bool,
    error: Option<String>,
) -> Response {
    let html = pages::render(&pages::ChangePage {
        t: visit.texts(),
        csrf: &session.csrf_token,
        current: "password",
        address: &official.primary_address,
        min_length: MIN_LENGTH,
        current_wrong,
        error,
    });
    page(visit, status, html, &[])
}
