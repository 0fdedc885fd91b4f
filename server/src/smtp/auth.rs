//! AUTH PLAIN (RFC 4616) and LOGIN on the submission ports, after TLS only. Officials log
//! in with their login or any of their addresses; the password check is the directory's, with
//! the same lockout and source throttling as LDAP and IMAP.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};

use super::reply::{self, Reply, PASSWORD_CHALLENGE, PLAIN_CHALLENGE, USERNAME_CHALLENGE};
use super::session::{End, Next, Session, MAX_AUTH_LINE};
use crate::directory::{plain_credentials, LoginName, LoginOutcome, PlainRefusal, Principal};

/// What a SASL exchange produced.
enum Credentials {
    Given { user: String, password: String },
    Refused(Reply),
}

/// AUTH: runs the exchange, then the password check.
pub async fn authenticate(
    session: &mut Session<'_>,
    mechanism: u64,
    initial: &str,
) -> Result<Next, End> {
    let credentials = if mechanism == AUTH_PLAIN {
        plain(session, initial).await?
    } else if mechanism == AUTH_LOGIN {
        login(session, initial).await?
    } else {
        Credentials::Refused(reply::AUTH_MECHANISM)
    };
    let (user, password) = match credentials {
        Credentials::Given { user, password } => (user, password),
        Credentials::Refused(refusal) => return Ok(session.respond(refusal)),
    };
    let outcome = session
        .service
        .authenticator
        .login_official(&LoginName::parse(&user), &password, session.peer.ip())
        .await;
    crate::directory::count_login("smtp", &outcome);
    match outcome {
        Ok(LoginOutcome::Accepted(principal)) => match *principal {
            Principal::Official(official) => {
                tracing::info!(login = %official.login, peer = %session.peer, "SMTP AUTH accepted");
                session.sign_in(official);
                Ok(session.respond(reply::AUTH_OK))
            }
            Principal::Service(_) => Ok(failed(session)),
        },
        Ok(LoginOutcome::MustChange(official)) => {
            tracing::info!(login = %official.login, peer = %session.peer, "SMTP AUTH with an initial password refused");
            let refusal = reply::auth_must_change(&session.service.settings.portal_url);
            Ok(session.respond(refusal))
        }
        Ok(LoginOutcome::Refused(_)) => Ok(failed(session)),
        Err(error) => {
            tracing::error!(%error, "SMTP AUTH could not be checked");
            Ok(session.respond(reply::TRY_LATER))
        }
    }
}

fn failed(session: &mut Session<'_>) -> Next {
    if session.auth_failures.add() {
        session.respond_raw(&reply::AUTH_TOO_MANY.to_wire());
        return Next::Close;
    }
    session.respond(reply::AUTH_FAILED)
}

/// PLAIN: `authzid NUL authcid NUL passwd`, in the initial response or after a challenge.
async fn plain(session: &mut Session<'_>, initial: &str) -> Result<Credentials, End> {
    let response = if initial.is_empty() {
        match response(session, PLAIN_CHALLENGE).await? {
            Ok(bytes) => bytes,
            Err(refusal) => return Ok(Credentials::Refused(refusal)),
        }
    } else {
        match decode(initial) {
            Ok(bytes) => bytes,
            Err(refusal) => return Ok(Credentials::Refused(refusal)),
        }
    };
    Ok(match plain_credentials(&response) {
        Ok((user, password)) => Credentials::Given { user, password },
        Err(PlainRefusal::Malformed) => Credentials::Refused(reply::AUTH_MALFORMED),
        Err(PlainRefusal::ActingForOther) => Credentials::Refused(reply::AUTH_FAILED),
    })
}

/// LOGIN: the user name (possibly in the initial response), then the password.
async fn login(session: &mut Session<'_>, initial: &str) -> Result<Credentials, End> {
    let user = if initial.is_empty() {
        response(session, USERNAME_CHALLENGE).await?
    } else {
        decode(initial)
    };
    let user = match user {
        Ok(user) => user,
        Err(refusal) => return Ok(Credentials::Refused(refusal)),
    };
    let password = match response(session, PASSWORD_CHALLENGE).await? {
        Ok(password) => password,
        Err(refusal) => return Ok(Credentials::Refused(refusal)),
    };
    Ok(
        match (String::from_utf8(user), String::from_utf8(password)) {
            (Ok(user), Ok(password)) => Credentials::Given { user, password },
            _ => Credentials::Refused(reply::AUTH_MALFORMED),
        },
    )
}

/// Sends a challenge and reads the client's base64 answer; `*` cancels (RFC 4954 §4).
async fn response(
    session: &mut Session<'_>,
    challenge: &str,
) -> Result<Result<Vec<u8>, Reply>, End> {
    session.respond_raw(challenge);
    let line = session.next_line(MAX_AUTH_LINE).await?;
    let text = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
    if text.trim() == "*" {
        return Ok(Err(reply::AUTH_CANCELLED));
    }
    Ok(decode(&text))
}

pub(crate) fn decode(text: &str) -> Result<Vec<u8>, Reply> {
    let text = text.trim();
    // RFC 4954 §4: "=" is an empty initial response.
    if text == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(text).map_err(|_| reply::AUTH_MALFORMED)
}
