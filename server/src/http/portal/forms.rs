//! The portal's forms as posted, and the one place an unreadable form is answered. Every
//! field defaults to empty, so a form without its CSRF token is refused as such (403), not as
//! a malformed one.

use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::{message, Visit};

/// The sign-in form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct SignIn {
    pub csrf: Option<String>,
    pub login: String,
    pub password: String,
}

/// Choosing a password: after an initial password, or from a reset link.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Choose {
    pub csrf: Option<String>,
    pub new: String,
    pub confirm: String,
}

/// Changing a password, proving the current one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Change {
    pub csrf: Option<String>,
    pub current: String,
    pub new: String,
    pub confirm: String,
}

/// The out-of-office form. An unticked box is not sent at all.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct OutOfOffice {
    pub csrf: Option<String>,
    pub enabled: Option<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message: String,
}

/// A form that only confirms an action (sign out, sign out everywhere).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Confirm {
    pub csrf: Option<String>,
}

/// The form, or the page saying why it could not be read (nothing is changed).
pub(super) fn read<T>(visit: &Visit, form: Result<Form<T>, FormRejection>) -> Result<T, Response> {
    match form {
        Ok(Form(form)) => Ok(form),
        Err(rejection) => {
            let t = visit.texts();
            let status = rejection.status();
            let text = if status == StatusCode::PAYLOAD_TOO_LARGE {
                t.too_large
            } else {
                t.bad_request
            };
            tracing::info!(source = %visit.source, %status, "portal form refused");
            let status = if status == StatusCode::PAYLOAD_TOO_LARGE {
                status
            } else {
                StatusCode::BAD_REQUEST
            };
            Err(message(visit, status, t.bad_request_title, text))
        }
    }
}
