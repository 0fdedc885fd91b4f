//! Extended operations: StartTLS (RFC 4511 §4.14), Who am I? (RFC 4532) and Password Modify
//! (RFC 3062: officials change their own password; a service account allowed to reset
//! passwords sets one for an official in its scope).

use ldap3_proto::proto::{
    LdapExtendedRequest, LdapExtendedResponse, LdapMsg, LdapOp, LdapPasswordModifyRequest,
    LdapPasswordModifyResponse, LdapResultCode,
};

use super::access::Identity;
use super::bind::{resolve, BindName};
use super::reply::{self, NEEDS_TLS};
use super::schema::{OID_PASSWORD_MODIFY, OID_START_TLS, OID_WHO_AM_I};
use super::session::{result, Next, Reply, Session};
use crate::directory::{LoginName, PasswordChangeError};

/// Answers an extended request.
pub async fn extended(
    session: &mut Session<'_>,
    msgid: i32,
    request: LdapExtendedRequest,
) -> Reply {
    match request.name.as_str() {
        OID_START_TLS => start_tls(session, msgid),
        OID_WHO_AM_I => {
            let authzid = match session.identity.dn() {
                "" => String::new(),
                dn => format!("dn:{dn}"),
            };
            respond(
                msgid,
                LdapResultCode::Success,
                "",
                None,
                Some(authzid.into_bytes()),
            )
        }
        OID_PASSWORD_MODIFY => password_modify(session, msgid, &request).await,
        other => respond(
            msgid,
            LdapResultCode::ProtocolError,
            &reply::unsupported_extended(other),
            None,
            None,
        ),
    }
}

fn respond(
    msgid: i32,
    code: LdapResultCode,
    message: &str,
    name: Option<&str>,
    value: Option<Vec<u8>>,
) -> Reply {
    Reply::one(LdapMsg {
        msgid,
        op: LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: result(code, message),
            name: name.map(str::to_string),
            value,
        }),
        ctrl: Vec::new(),
    })
}

fn start_tls(session: &Session<'_>, msgid: i32) -> Reply {
    if session.tls {
        return respond(
            msgid,
            LdapResultCode::OperationsError,
            reply::TLS_IN_USE,
            Some(OID_START_TLS),
            None,
        );
    }
    if session.service.tls.is_none() {
        return respond(
            msgid,
            LdapResultCode::Unavailable,
            reply::TLS_NOT_CONFIGURED,
            Some(OID_START_TLS),
            None,
        );
    }
    let mut reply = respond(
        msgid,
        LdapResultCode::Success,
        "",
        Some(OID_START_TLS),
        None,
    );
    reply.next = Next::StartTls;
    reply
}

async fn password_modify(
    session: &mut Session<'_>,
    msgid: i32,
    request: &LdapExtendedRequest,
) -> Reply {
    let Ok(modify) = LdapPasswordModifyRequest::try_from(request) else {
        return respond(
            msgid,
            LdapResultCode::ProtocolError,
            reply::MALFORMED_PASSWORD_MODIFY,
            None,
            None,
        );
    };
    if !session.may_receive_password() {
        return respond(
            msgid,
            LdapResultCode::ConfidentialityRequired,
            NEEDS_TLS,
            None,
            None,
        );
    }
    let target = modify
        .user_identity
        .as_deref()
        .map(|name| resolve(name, &session.service.settings.base_dn));
    match &session.identity {
        Identity::Anonymous => respond(
            msgid,
            LdapResultCode::InsufficentAccessRights,
            reply::BIND_FIRST,
            None,
            None,
        ),
        Identity::Official { login, .. } => {
            let login = login.clone();
            change_own(session, msgid, &modify, target, &login).await
        }
        Identity::Service { name, .. } => {
            let name = name.clone();
            reset_for_service(session, msgid, &modify, target, &name).await
        }
    }
}

/// An official changes their own password, giving the old one.
async fn change_own(
    session: &mut Session<'_>,
    msgid: i32,
    modify: &LdapPasswordModifyRequest,
    target: Option<BindName>,
    login: &str,
) -> Reply {
    let fail = |code: LdapResultCode, message: &str| respond(msgid, code, message, None, None);
    let own = match &target {
        None => true,
        Some(BindName::Official(LoginName::Login(l))) => l == login,
        Some(_) => false,
    };
    if !own {
        return fail(
            LdapResultCode::InsufficentAccessRights,
            reply::OWN_PASSWORD_ONLY,
        );
    }
    let (Some(old), Some(new)) = (&modify.old_password, &modify.new_password) else {
        return fail(LdapResultCode::UnwillingToPerform, reply::OLD_AND_NEW);
    };
    let auth = &session.service.authenticator;
    let official = match auth.official_for_change(login).await {
        Ok(o) => o,
        Err(e) => return failed(msgid, e.into()),
    };
    let changed = auth
        .change_own_password(&official, old, new, session.peer.ip())
        .await;
    if changed.is_ok() {
        // The initial password is gone: the connection is a whole one again.
        session.must_change = false;
    }
    modified(msgid, changed.map(|()| None))
}

/// A service account allowed to reset passwords sets (or has generated) an official's.
async fn reset_for_service(
    session: &Session<'_>,
    msgid: i32,
    modify: &LdapPasswordModifyRequest,
    target: Option<BindName>,
    service_name: &str,
) -> Reply {
    let fail = |code: LdapResultCode, message: &str| respond(msgid, code, message, None, None);
    let Some(BindName::Official(LoginName::Login(login))) = &target else {
        return fail(LdapResultCode::UnwillingToPerform, reply::NAME_THE_OFFICIAL);
    };
    let auth = &session.service.authenticator;
    let service = match auth.service_for_reset(service_name).await {
        Ok(Some(s)) => s,
        Ok(None) | Err(_) => {
            return fail(LdapResultCode::InsufficentAccessRights, reply::NOT_ALLOWED)
        }
    };
    let outcome = auth
        .reset_password(&service, login, modify.new_password.as_deref())
        .await;
    modified(msgid, outcome)
}

/// The response to a Password Modify that was carried out or refused.
fn modified(msgid: i32, outcome: Result<Option<String>, PasswordChangeError>) -> Reply {
    match outcome {
        Ok(Some(generated)) => Reply::one(LdapMsg {
            msgid,
            op: LdapOp::ExtendedResponse(
                LdapPasswordModifyResponse {
                    res: result(LdapResultCode::Success, ""),
                    gen_password: Some(generated),
                }
                .into(),
            ),
            ctrl: Vec::new(),
        }),
        // RFC 3062 §2: without a generated password the response carries no value at all;
        // an empty value makes ldappasswd look for one and print a BER error.
        Ok(None) => respond(msgid, LdapResultCode::Success, "", None, None),
        Err(e) => failed(msgid, e),
    }
}

fn failed(msgid: i32, error: PasswordChangeError) -> Reply {
    let (code, message) = reply::password_change_refused(&error);
    respond(msgid, code, &message, None, None)
}
