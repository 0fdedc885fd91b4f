//! Every text congvu's LDAP answers carry, in one place, and the one mapping from the
//! domain's refusal of a password change to an LDAP result. The texts are what `ldapsearch`,
//! SSSD's logs and a Keycloak admin see; the result codes are what their programs act on.

use ldap3_proto::proto::LdapResultCode;

use crate::directory::{DirectoryError, PasswordChangeError};

/// The words for every refused password, whatever the reason: a client must not learn
/// whether the name exists.
pub const REFUSED: &str = "invalid credentials";
/// A password sent where it could be read on the wire.
pub const NEEDS_TLS: &str = "use StartTLS or LDAPS before sending a password";
/// The store failed; the client may retry.
pub const UNAVAILABLE: &str = "the directory is unavailable; try again";
/// The named entry does not exist or is not visible to the client.
pub const NO_SUCH_ENTRY: &str = "no such entry";
pub const VERSION_3_ONLY: &str = "only LDAP version 3 is supported";
pub const SIMPLE_BINDS_ONLY: &str = "only simple binds are supported (over TLS)";
/// RFC 4513 §5.1.2: a name with an empty password would bind as anonymous unnoticed.
pub const UNAUTHENTICATED_BIND: &str =
    "unauthenticated bind (a name with an empty password) is not allowed";
pub const TLS_IN_USE: &str = "TLS is already in use";
pub const TLS_NOT_CONFIGURED: &str = "TLS is not configured";
pub const MALFORMED_PASSWORD_MODIFY: &str = "malformed Password Modify request";
pub const BIND_FIRST: &str = "bind first to change a password";
pub const OWN_PASSWORD_ONLY: &str = "an official may change only their own password";
pub const OLD_AND_NEW: &str = "give both the old and the new password";
pub const NAME_THE_OFFICIAL: &str = "name the official whose password to reset (their DN)";
pub const NOT_ALLOWED: &str = "not allowed";
pub const NO_SUCH_OFFICIAL: &str = "no such official";
pub const BAD_COOKIE: &str = "paged results cookie is invalid or expired";
pub const BASE_NOT_A_DN: &str = "the search base is not a DN";
pub const TIME_LIMIT: &str = "time limit exceeded";
pub const SIZE_LIMIT: &str = "size limit exceeded";
pub const FILTER_TOO_DEEP: &str = "the filter is nested too deeply";
pub const NO_SUCH_ATTRIBUTE_TYPE: &str = "no such attribute type";
pub const NO_PASSWORD_COMPARE: &str = "passwords cannot be compared";
pub const NO_SUCH_ATTRIBUTE: &str = "the entry has no such attribute";
pub const TOO_MANY_WAITING: &str = "too many requests waiting on this connection";
pub const READ_ONLY: &str =
    "the directory is read-only over LDAP: changes are made with congvu-admin";
pub const UNEXPECTED_MESSAGE: &str = "unexpected message";
pub const SHUTTING_DOWN: &str = "the server is shutting down";
pub const IDLE: &str = "idle for too long";

/// An extended operation congvu does not implement.
pub fn unsupported_extended(oid: &str) -> String {
    format!("extended operation {oid} is not supported")
}

/// The result a refused password change answers with: a wrong or spent password looks like
/// any refused password, rules broken say which, a store failure is logged and retryable.
pub fn password_change_refused(error: &PasswordChangeError) -> (LdapResultCode, String) {
    match error {
        PasswordChangeError::WrongPassword | PasswordChangeError::LinkSpent => {
            (LdapResultCode::InvalidCredentials, REFUSED.to_string())
        }
        PasswordChangeError::NotAllowed(m) => (LdapResultCode::InsufficentAccessRights, m.clone()),
        PasswordChangeError::Policy(m) => (LdapResultCode::ConstraintViolation, m.clone()),
        PasswordChangeError::Weak(why) => (LdapResultCode::ConstraintViolation, why.to_string()),
        PasswordChangeError::Directory(DirectoryError::NotFound { .. }) => {
            (LdapResultCode::NoSuchObject, NO_SUCH_OFFICIAL.to_string())
        }
        PasswordChangeError::Directory(e) => {
            tracing::error!(error = %e, "password change failed");
            (LdapResultCode::Unavailable, UNAVAILABLE.to_string())
        }
    }
}
