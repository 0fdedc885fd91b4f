//! Choosing a password (after an initial one, or from a reset link) and changing it.
//!
//! Whatever the way in, a password that is set ends every session and link of the official
//! (the directory does that), and the visitor continues in a fresh session of their own.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;

use super::sign_in::{anonymous_csrf, check_anonymous_csrf};
use super::texts::{weakness, MIN_LENGTH};
use super::{forms, message, page, pages, redirect, unavailable, Answer, Portal, Visit};
use crate::directory::{Official, PasswordChangeError, PortalSession, SessionPurpose};

/// Where the account page goes after a password was saved (it shows a notice).
const SAVED: &str = "/account?saved=password";

/// The choose-password form as one page fills it: where it posts, and for whom.
struct ChooseForm<'a> {
    visit: &'a Visit,
    /// The reset link the form came from, used up by the choice.
    link: Option<&'a str>,
    csrf: &'a str,
    action: &'a str,
    intro: &'a str,
    official: &'a Official,
    /// Set when the anonymous CSRF cookie is new.
    cookies: &'a [String],
}

impl ChooseForm<'_> {
    fn page(&self, status: StatusCode, error: Option<String>) -> Response {
        let html = pages::render(&pages::ChoosePage {
            t: self.visit.texts(),
            csrf: self.csrf,
            action: self.action,
            intro: self.intro,
            name: &self.official.display_name,
            address: &self.official.primary_address,
            min_length: MIN_LENGTH,
            error,
        });
        page(self.visit, status, html, self.cookies)
    }

    /// The form again, with the reason the choice was refused next to the field.
    fn refused(&self, why: String) -> Response {
        self.page(StatusCode::UNPROCESSABLE_ENTITY, Some(why))
    }
}

/// `GET /choose-password`.
pub(super) async fn choose_form(State(portal): State<Portal>, visit: Visit) -> Answer {
    let (session, official) = choosing(&portal, &visit).await?;
    let form = ChooseForm {
        visit: &visit,
        link: None,
        csrf: &session.csrf_token,
        action: "/choose-password",
        intro: visit.texts().choose_intro,
        official: &official,
        cookies: &[],
    };
    Ok(form.page(StatusCode::OK, None))
}

/// `POST /choose-password`: the official signed in with an initial password chooses theirs.
pub(super) async fn choose(
    State(portal): State<Portal>,
    visit: Visit,
    posted: Result<Form<forms::Choose>, FormRejection>,
) -> Answer {
    let posted = forms::read(&visit, posted)?;
    let (session, official) = choosing(&portal, &visit).await?;
    visit.check_csrf(&session.csrf_token, posted.csrf.as_deref())?;
    visit.check_password_transport()?;
    let form = ChooseForm {
        visit: &visit,
        link: None,
        csrf: &session.csrf_token,
        action: "/choose-password",
        intro: visit.texts().choose_intro,
        official: &official,
        cookies: &[],
    };
    Ok(save_choice(&portal, &form, &posted).await)
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
) -> Answer {
    let official = linked_official(&portal, &visit, &token).await?;
    let (csrf, cookies) = anonymous_csrf(&visit);
    let action = format!("/reset/{token}");
    let form = ChooseForm {
        visit: &visit,
        link: Some(&token),
        csrf: &csrf,
        action: &action,
        intro: visit.texts().reset_intro,
        official: &official,
        cookies: &cookies,
    };
    Ok(form.page(StatusCode::OK, None))
}

/// `POST /reset/{token}`: chooses a password without knowing one; the link dies with it.
pub(super) async fn reset(
    State(portal): State<Portal>,
    visit: Visit,
    Path(token): Path<String>,
    posted: Result<Form<forms::Choose>, FormRejection>,
) -> Answer {
    let posted = forms::read(&visit, posted)?;
    check_anonymous_csrf(&visit, posted.csrf.as_deref())?;
    visit.check_password_transport()?;
    let official = linked_official(&portal, &visit, &token).await?;
    let action = format!("/reset/{token}");
    let form = ChooseForm {
        visit: &visit,
        link: Some(&token),
        csrf: visit.csrf_cookie.as_deref().unwrap_or_default(),
        action: &action,
        intro: visit.texts().reset_intro,
        official: &official,
        cookies: &[],
    };
    Ok(save_choice(&portal, &form, &posted).await)
}

/// The official a reset link is for, or the page saying it no longer works.
async fn linked_official(
    portal: &Portal,
    visit: &Visit,
    token: &str,
) -> Result<Official, Response> {
    match portal.directory().official_for_reset_link(token).await {
        Ok(Some(official)) => Ok(official),
        Ok(None) => Err(link_gone(visit)),
        Err(e) => Err(unavailable(visit, &e)),
    }
}

/// A link used, expired or never issued: one page for all, which tells a guesser nothing.
fn link_gone(visit: &Visit) -> Response {
    let t = visit.texts();
    message(
        visit,
        StatusCode::GONE,
        t.link_invalid_title,
        t.link_invalid,
    )
}

/// Checks the two entries, stores the choice, and continues in a new account session.
async fn save_choice(portal: &Portal, form: &ChooseForm<'_>, posted: &forms::Choose) -> Response {
    let (visit, official) = (form.visit, form.official);
    if posted.new != posted.confirm {
        return form.refused(visit.texts().mismatch.to_string());
    }
    let chosen = portal
        .state
        .authenticator
        .choose_password(official, &posted.new, visit.source, form.link)
        .await;
    match chosen {
        Ok(()) => {
            tracing::info!(login = %official.login, source = %visit.source, "password chosen in the portal");
            portal
                .open_session(visit, official.id, SessionPurpose::Account, SAVED)
                .await
        }
        Err(PasswordChangeError::Weak(why)) => form.refused(weakness(visit.lang, &why)),
        Err(PasswordChangeError::LinkSpent) => link_gone(visit),
        Err(e) => unavailable(visit, &e),
    }
}

/// `GET /password`.
pub(super) async fn change_form(State(portal): State<Portal>, visit: Visit) -> Answer {
    let (session, official) = portal.account_session(&visit).await?;
    Ok(change_page(
        &visit,
        &session,
        &official,
        StatusCode::OK,
        false,
        None,
    ))
}

/// `POST /password`: the official changes their password, proving the current one.
pub(super) async fn change(
    State(portal): State<Portal>,
    visit: Visit,
    posted: Result<Form<forms::Change>, FormRejection>,
) -> Answer {
    let posted = forms::read(&visit, posted)?;
    let (session, official) = portal.account_session(&visit).await?;
    visit.check_csrf(&session.csrf_token, posted.csrf.as_deref())?;
    visit.check_password_transport()?;
    let refused = |status, current_wrong, why| {
        change_page(&visit, &session, &official, status, current_wrong, why)
    };
    if posted.new != posted.confirm {
        let why = visit.texts().mismatch.to_string();
        return Ok(refused(StatusCode::UNPROCESSABLE_ENTITY, false, Some(why)));
    }
    let changed = portal
        .state
        .authenticator
        .change_own_password(&official, &posted.current, &posted.new, visit.source)
        .await;
    Ok(match changed {
        Ok(()) => {
            tracing::info!(login = %official.login, source = %visit.source, "password changed in the portal");
            portal
                .open_session(&visit, official.id, SessionPurpose::Account, SAVED)
                .await
        }
        Err(PasswordChangeError::WrongPassword) => refused(StatusCode::UNAUTHORIZED, true, None),
        Err(PasswordChangeError::Weak(why)) => {
            let why = weakness(visit.lang, &why);
            refused(StatusCode::UNPROCESSABLE_ENTITY, false, Some(why))
        }
        Err(e) => unavailable(&visit, &e),
    })
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
