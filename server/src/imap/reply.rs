//! What the IMAP server says: greeting, capability lists, response codes and every reply
//! text, in one place, and the mapping from mail store answers to tagged replies.

use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::core::{Atom, Vec1};
use imap_codec::imap_types::response::{Capability, Code, CodeOther};

use crate::mailstore::MailstoreError;
use crate::net::Refusal;

pub(super) const GREETING: &str = "congvu IMAP ready";
pub(super) const BYE_LOGOUT: &str = "Logging out";
pub(super) const BYE_SHUTDOWN: &str = "Server shutting down, reconnect shortly";
pub(super) const BYE_IDLE: &str = "Idle for too long, closing";
pub(super) const BYE_LINE_TOO_LONG: &str = "Command line too long, closing";
pub(super) const BYE_LITERAL_TOO_LARGE: &str = "Literal too large, closing";
pub(super) const BYE_TOO_MANY_ERRORS: &str = "Too many errors, closing";
pub(super) const BYE_TOO_MANY_FAILURES: &str = "Too many failed logins, closing";
pub(super) const BYE_MAILBOX_GONE: &str = "The selected mailbox was deleted";

pub(super) const DONE: &str = "Completed";
pub(super) const PARSE_ERROR: &str = "Could not parse the command";
pub(super) const LITERAL_TOO_LARGE: &str = "Literal too large";
pub(super) const WRONG_STATE: &str = "Command not valid in this state";
pub(super) const NOT_SUPPORTED: &str = "Command not supported";
pub(super) const TLS_FIRST: &str = "Use STARTTLS (or port 993) before logging in";
pub(super) const TLS_ACTIVE: &str = "TLS is already active";
pub(super) const TLS_GO: &str = "Begin TLS negotiation now";
pub(super) const LOGIN_OK: &str = "Logged in";
pub(super) const LOGIN_FAILED: &str = "Authentication failed";

/// The refusal of a correct initial password (RFC 5530 `EXPIRED`): it is good only for
/// choosing a password, at the portal.
pub(super) fn login_must_change(portal_url: &str) -> String {
    format!("Password must be changed first: sign in at {portal_url} to choose your own")
}
pub(super) const LOGIN_UNAVAILABLE: &str = "Authentication is unavailable, try again later";
pub(super) const TOO_MANY_SESSIONS: &str = "Too many sessions open for this account";
pub(super) const AUTH_CANCELLED: &str = "Authentication cancelled";
pub(super) const AUTH_MECHANISM: &str = "Unsupported authentication mechanism";
pub(super) const AUTH_MALFORMED: &str = "Malformed SASL response";
pub(super) const SELECTED_RW: &str = "Mailbox selected";
pub(super) const SELECTED_RO: &str = "Mailbox opened read-only";
pub(super) const NO_SUCH_MAILBOX: &str = "No such mailbox";
pub(super) const MAILBOX_EXISTS: &str = "Mailbox already exists";
pub(super) const MAILBOX_PROTECTED: &str = "INBOX cannot be deleted or renamed";
pub(super) const BAD_MAILBOX_NAME: &str = "Invalid mailbox name";
pub(super) const OVER_QUOTA: &str = "Quota exceeded";
pub(super) const READ_ONLY: &str = "Mailbox is read-only";
pub(super) const BAD_CHARSET: &str = "Only UTF-8 and US-ASCII searches are supported";
pub(super) const SEARCH_TOO_DEEP: &str = "Search criteria nested too deeply";
pub(super) const TRY_LATER: &str = "Temporary server failure, try again";
pub(super) const IDLING: &str = "idling";
pub(super) const STILL_HERE: &str = "Still here";
pub(super) const NO_SUCH_QUOTA_ROOT: &str = "No such quota root";
pub(super) const QUOTA_READ_ONLY: &str = "Quotas are set by the administrators";
pub(super) const CONDITIONAL_STORE_FAILED: &str = "Conditional STORE failed for some messages";
pub(super) const SOME_EXPUNGED: &str = "Some messages were expunged meanwhile";

/// The untagged BYE for a connection turned away at accept.
pub(super) fn refused_connection(why: Refusal) -> String {
    let text = match why {
        Refusal::ServerBusy => "Server busy, try again later",
        Refusal::TooManyFromAddress => "Too many connections from your address",
    };
    format!("* BYE [UNAVAILABLE] {text}\r\n")
}

/// The capabilities offered: before TLS on the STARTTLS port, logins are disabled.
pub(super) fn capabilities(tls: bool, logged_in: bool) -> Vec1<Capability<'static>> {
    let mut list = vec![Capability::Imap4Rev1];
    if !logged_in {
        if tls {
            list.push(Capability::Auth(AuthMechanism::Plain));
            list.push(Capability::SaslIr);
        } else {
            list.push(Capability::StartTls);
            list.push(Capability::LoginDisabled);
        }
    }
    list.extend([
        Capability::LiteralPlus,
        Capability::Idle,
        Capability::Id,
        Capability::Namespace,
        Capability::Enable,
        Capability::Unselect,
        Capability::UidPlus,
        Capability::Move,
        Capability::Quota,
        Capability::CondStore,
        Capability::from(Atom::unvalidated("SPECIAL-USE")),
    ]);
    Vec1::unvalidated(list)
}

/// A response code outside imap-types' list (RFC 5530 and friends).
pub(super) fn code(name: &'static str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(name.as_bytes()))
}

/// How a mail store answer reads as a tagged NO (or BAD for our own misuse).
pub(super) fn store_refusal(error: &MailstoreError) -> (Option<Code<'static>>, &'static str) {
    match error {
        MailstoreError::NoSuchMailbox => (Some(code("NONEXISTENT")), NO_SUCH_MAILBOX),
        MailstoreError::AlreadyExists => (Some(code("ALREADYEXISTS")), MAILBOX_EXISTS),
        MailstoreError::Protected => (Some(code("CANNOT")), MAILBOX_PROTECTED),
        MailstoreError::InvalidName => (Some(code("CANNOT")), BAD_MAILBOX_NAME),
        MailstoreError::OverQuota => (Some(Code::OverQuota), OVER_QUOTA),
        MailstoreError::NoSuchMessage => (Some(code("EXPUNGEISSUED")), SOME_EXPUNGED),
        MailstoreError::Stopped | MailstoreError::Store(_) => {
            (Some(code("UNAVAILABLE")), TRY_LATER)
        }
    }
}
