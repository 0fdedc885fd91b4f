//! The sign-in page, signing in and signing out.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;

use super::{
    clear_cookie, forms, page, pages, redirect, session_cookie, unavailable, Answer, Portal, Visit,
    CSRF_COOKIE, SESSION_COOKIE,
};
use crate::directory::{LoginName, LoginOutcome, Principal, SessionPurpose};

/// Longest login read from the form; longer ones are cut, and refused like any unknown one.
const MAX_LOGIN_CHARS: usize = 320;

/// `/`: the sign-in page, or where a signed-in visitor belongs.
pub(super) async fn home(State(portal): State<Portal>, visit: Visit) -> Answer {
    Ok(match portal.session(&visit).await? {
        Some(session) if session.purpose == SessionPurpose::Account => redirect("/account", &[]),
        Some(_) => redirect("/choose-password", &[]),
        None => sign_in_page(&visit, StatusCode::OK, "", false),
    })
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

/// Refuses an anonymous form that does not carry the token its cookie holds.
pub(super) fn check_anonymous_csrf(visit: &Visit, given: Option<&str>) -> Result<(), Response> {
    visit.check_csrf(visit.csrf_cookie.as_deref().unwrap_or_default(), given)
}

/// `POST /sign-in`: an official's own password opens the portal; an initial one opens only
/// the choice of a new password; anything else is one refusal for every reason.
pub(super) async fn sign_in(
    State(portal): State<Portal>,
    visit: Visit,
    form: Result<Form<forms::SignIn>, FormRejection>,
) -> Answer {
    let form = forms::read(&visit, form)?;
    check_anonymous_csrf(&visit, form.csrf.as_deref())?;
    visit.check_password_transport()?;
    let login: String = form.login.chars().take(MAX_LOGIN_CHARS).collect();
    let outcome = portal
        .state
        .authenticator
        .login_official(&LoginName::parse(&login), &form.password, visit.source)
        .await;
    crate::directory::count_login("portal", &outcome);
    let outcome = outcome.map_err(|e| unavailable(&visit, &e))?;
    // Echoed into the page after a refusal: without control characters, however escaped.
    let shown: String = login.chars().filter(|c| !c.is_control()).collect();
    let refused = || sign_in_page(&visit, StatusCode::UNAUTHORIZED, &shown, true);
    Ok(match outcome {
        LoginOutcome::Accepted(principal) => match *principal {
            Principal::Official(official) => {
                tracing::info!(login = %official.login, source = %visit.source, "portal sign-in");
                portal
                    .open_session(&visit, official.id, SessionPurpose::Account, "/account")
                    .await
            }
            Principal::Service(_) => refused(),
        },
        LoginOutcome::MustChange(official) => {
            tracing::info!(login = %official.login, source = %visit.source, "portal sign-in with an initial password");
            portal
                .open_session(
                    &visit,
                    official.id,
                    SessionPurpose::ChoosePassword,
                    "/choose-password",
                )
                .await
        }
        LoginOutcome::Refused(_) => refused(),
    })
}

/// `POST /sign-out`: ends this session.
pub(super) async fn sign_out(
    State(portal): State<Portal>,
    visit: Visit,
    form: Result<Form<forms::Confirm>, FormRejection>,
) -> Answer {
    let form = forms::read(&visit, form)?;
    let signed_out = redirect("/", &[clear_cookie(SESSION_COOKIE, visit.https)]);
    let (Some(session), Some(token)) = (portal.session(&visit).await?, &visit.session_token) else {
        return Ok(signed_out);
    };
    visit.check_csrf(&session.csrf_token, form.csrf.as_deref())?;
    portal
        .directory()
        .end_portal_session(token)
        .await
        .map_err(|e| unavailable(&visit, &e))?;
    Ok(signed_out)
}
