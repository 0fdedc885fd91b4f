//! Bind: anonymous, or simple with a password for an official (by DN, login or address) or
//! a service account (by DN). SASL is not offered.
//!
//! An official's initial password binds as OpenLDAP's ppolicy binds a `pwdReset` entry: the
//! bind succeeds, carries the password policy response control with `changeAfterReset` when
//! the client asked for it, and the connection may do nothing but change the password
//! ([`Session::must_change`]).

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapBindResponse, LdapMsg, LdapOp, LdapResultCode,
};

use super::access::Identity;
use super::dn;
use super::reply::{self, NEEDS_TLS, REFUSED, UNAVAILABLE};
use super::schema::OID_PASSWORD_POLICY;
use super::session::{result, Reply, Session};
use crate::directory::{DirectoryError, LoginName, LoginOutcome, Principal};

/// Who a bind name refers to, before checking the password.
#[derive(Debug, PartialEq, Eq)]
pub enum BindName {
    Official(LoginName),
    Service(String),
    /// Not a name congvu knows how to resolve; checked against nothing, refused like a
    /// wrong password.
    Unknown,
}

/// The password policy response control's value (draft-behera-ldap-password-policy §6.2):
/// `SEQUENCE { error [1] ENUMERATED changeAfterReset(2) }`.
const PPOLICY_CHANGE_AFTER_RESET: [u8; 5] = [0x30, 0x03, 0x81, 0x01, 0x02];

/// How a bind ends before any password is checked: its result code and message.
type Early = (LdapResultCode, &'static str);

/// Answers a bind request.
pub async fn bind(
    session: &mut Session<'_>,
    msgid: i32,
    request: LdapBindRequest,
    controls: &[LdapControl],
) -> Reply {
    // Any bind attempt drops the previous identity (RFC 4513 §5.1).
    session.identity = Identity::Anonymous;
    session.must_change = false;
    let asked_policy = controls
        .iter()
        .any(|c| matches!(c, LdapControl::PasswordPolicyRequest { .. }));
    let (code, message, ctrl) = match check_credentials(session, request).await {
        Err((code, message)) => (code, message.to_string(), Vec::new()),
        Ok(outcome) => settle(session, outcome, asked_policy),
    };
    Reply::one(LdapMsg {
        msgid,
        op: LdapOp::BindResponse(LdapBindResponse {
            res: result(code, message),
            saslcreds: None,
        }),
        ctrl,
    })
}

/// Checks the request's form, then its name and password.
async fn check_credentials(
    session: &Session<'_>,
    request: LdapBindRequest,
) -> Result<Result<LoginOutcome, DirectoryError>, Early> {
    if request.version != 3 {
        return Err((LdapResultCode::ProtocolError, reply::VERSION_3_ONLY));
    }
    let LdapBindCred::Simple(password) = request.cred else {
        return Err((
            LdapResultCode::AuthMethodNotSupported,
            reply::SIMPLE_BINDS_ONLY,
        ));
    };
    match (request.dn.is_empty(), password.is_empty()) {
        (true, true) => return Err((LdapResultCode::Success, "")),
        // RFC 4513 §5.1.2: a name without a password is an unauthenticated bind, which too
        // many applications mistake for success.
        (false, true) => {
            return Err((
                LdapResultCode::UnwillingToPerform,
                reply::UNAUTHENTICATED_BIND,
            ))
        }
        _ => {}
    }
    if !session.may_receive_password() {
        return Err((LdapResultCode::ConfidentialityRequired, NEEDS_TLS));
    }
    let auth = &session.service.authenticator;
    let source = session.peer.ip();
    Ok(
        match resolve(&request.dn, &session.service.settings.base_dn) {
            BindName::Official(login) => auth.login_official(&login, &password, source).await,
            BindName::Service(service) => auth.login_service(&service, &password, source).await,
            BindName::Unknown => {
                auth.login_official(&LoginName::Login(String::new()), &password, source)
                    .await
            }
        },
    )
}

/// Takes on the identity a login outcome names, and says how the bind ended.
fn settle(
    session: &mut Session<'_>,
    outcome: Result<LoginOutcome, DirectoryError>,
    asked_policy: bool,
) -> (LdapResultCode, String, Vec<LdapControl>) {
    let settings = &session.service.settings;
    crate::directory::count_login("ldap", &outcome);
    let principal = match outcome {
        Ok(LoginOutcome::Accepted(principal)) => *principal,
        Ok(LoginOutcome::MustChange(official)) => {
            session.must_change = true;
            Principal::Official(*official)
        }
        Ok(LoginOutcome::Refused(_)) => {
            metrics::counter!("congvu_ldap_binds_total", "result" => "refused").increment(1);
            return (
                LdapResultCode::InvalidCredentials,
                REFUSED.into(),
                Vec::new(),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "LDAP bind failed");
            return (LdapResultCode::Unavailable, UNAVAILABLE.into(), Vec::new());
        }
    };
    metrics::counter!("congvu_ldap_binds_total", "result" => "success").increment(1);
    session.identity = match principal {
        Principal::Official(official) => Identity::Official {
            id: official.id,
            dn: dn::official(&official.login, &settings.base_dn),
            login: official.login,
        },
        Principal::Service(account) => Identity::Service {
            id: account.id,
            dn: dn::service(&account.name, &settings.base_dn),
            name: account.name,
            scope: account.scope_agency_id,
            may_reset_passwords: account.may_reset_passwords,
        },
    };
    if !session.must_change {
        return (LdapResultCode::Success, String::new(), Vec::new());
    }
    let message = format!(
        "password must be changed: use Password Modify, or sign in at {} to choose a new one",
        settings.portal_url
    );
    let control = LdapControl::Unknown {
        oid: OID_PASSWORD_POLICY.to_string(),
        criticality: false,
        value: Some(PPOLICY_CHANGE_AFTER_RESET.to_vec()),
    };
    let controls = if asked_policy {
        vec![control]
    } else {
        Vec::new()
    };
    (LdapResultCode::Success, message, controls)
}

/// Reads a bind name: `uid=…,ou=people,<base>`, `cn=…,ou=services,<base>`, or (as clients
/// configured with "username only" send) a bare login or mail address.
pub fn resolve(name: &str, base_dn: &str) -> BindName {
    if !name.contains('=') {
        return BindName::Official(LoginName::parse(name));
    }
    let (Some(key), Some(base)) = (dn::normalize(name), dn::normalize(base_dn)) else {
        return BindName::Unknown;
    };
    let leaf = |container: &str, attribute: &str| -> Option<String> {
        let rdn = key.strip_suffix(&format!(",{container},{base}"))?;
        let value = rdn.strip_prefix(attribute)?;
        // A single RDN: no unescaped separator left in it.
        (!value.contains([',', '+', '\\'])).then(|| value.to_string())
    };
    if let Some(login) = leaf("ou=people", "uid=") {
        return BindName::Official(LoginName::Login(login));
    }
    if let Some(address) = leaf("ou=people", "mail=") {
        return BindName::Official(LoginName::Address(address));
    }
    if let Some(service) = leaf("ou=services", "cn=") {
        return BindName::Service(service);
    }
    BindName::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "dc=vinhphuc,dc=gov,dc=vn";

    #[test]
    fn resolves_the_names_clients_send() {
        assert_eq!(
            resolve("UID=AnNV, ou=People,dc=VinhPhuc,dc=gov,dc=vn", BASE),
            BindName::Official(LoginName::Login("annv".into()))
        );
        assert_eq!(
            resolve("annv@vinhphuc.gov.vn", BASE),
            BindName::Official(LoginName::Address("annv@vinhphuc.gov.vn".into()))
        );
        assert_eq!(
            resolve("annv", BASE),
            BindName::Official(LoginName::Login("annv".into()))
        );
        assert_eq!(
            resolve("cn=qlvb,ou=services,dc=vinhphuc,dc=gov,dc=vn", BASE),
            BindName::Service("qlvb".into())
        );
        assert_eq!(
            resolve("uid=annv,ou=people,dc=other,dc=vn", BASE),
            BindName::Unknown
        );
        assert_eq!(
            resolve("uid=a\\,b,ou=people,dc=vinhphuc,dc=gov,dc=vn", BASE),
            BindName::Unknown
        );
    }
}
