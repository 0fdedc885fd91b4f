//! What the ManageSieve server says (RFC 5804 §1.3, §4): `OK`, `NO` and `BYE` responses with
//! their response codes, strings as the client reads them, and every text in one place.

/// A completion: the status, an optional response code and a human-readable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Response {
    pub status: Status,
    pub code: Option<&'static str>,
    pub text: std::borrow::Cow<'static, str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Ok,
    No,
    Bye,
}

impl Response {
    pub(super) fn ok(text: &'static str) -> Response {
        Response::new(Status::Ok, None, text)
    }
    pub(super) fn no(code: Option<&'static str>, text: &'static str) -> Response {
        Response::new(Status::No, code, text)
    }
    /// A NO whose text is made at run time (a script's error, the portal's address).
    pub(super) fn no_with(code: Option<&'static str>, text: String) -> Response {
        Response {
            status: Status::No,
            code,
            text: text.into(),
        }
    }
    pub(super) fn bye(code: Option<&'static str>, text: &'static str) -> Response {
        Response::new(Status::Bye, code, text)
    }
    fn new(status: Status, code: Option<&'static str>, text: &'static str) -> Response {
        Response {
            status,
            code,
            text: text.into(),
        }
    }

    /// The response on the wire.
    pub(super) fn to_wire(&self) -> Vec<u8> {
        let mut out = match self.status {
            Status::Ok => b"OK".to_vec(),
            Status::No => b"NO".to_vec(),
            Status::Bye => b"BYE".to_vec(),
        };
        if let Some(code) = self.code {
            out.extend_from_slice(b" (");
            out.extend_from_slice(code.as_bytes());
            out.push(b')');
        }
        out.push(b' ');
        string(&mut out, self.text.as_bytes());
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Appends `text` as a string: quoted when it can be, else a literal (RFC 5804 §4).
pub(super) fn string(out: &mut Vec<u8>, text: &[u8]) {
    let quotable = text.len() <= 1024 && !text.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0));
    if quotable {
        out.push(b'"');
        for &b in text {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", text.len()).as_bytes());
        out.extend_from_slice(text);
    }
}

// Response codes (RFC 5804 §1.3).
pub(super) const ENCRYPT_NEEDED: &str = "ENCRYPT-NEEDED";
pub(super) const NONEXISTENT: &str = "NONEXISTENT";
pub(super) const ACTIVE: &str = "ACTIVE";
pub(super) const ALREADY_EXISTS: &str = "ALREADYEXISTS";
pub(super) const MAX_SCRIPTS: &str = "QUOTA/MAXSCRIPTS";
pub(super) const MAX_SIZE: &str = "QUOTA/MAXSIZE";
pub(super) const TRY_LATER: &str = "TRYLATER";

pub(super) const GREETING: &str = "congvu ManageSieve ready.";
pub(super) const DONE: &str = "Done.";
pub(super) const LOGOUT: &str = "Logout completed.";
pub(super) const TLS_GO: &str = "Begin TLS negotiation now.";
pub(super) const TLS_ACTIVE: &str = "TLS is already active.";
pub(super) const TLS_AFTER_LOGIN: &str = "STARTTLS is not allowed once authenticated.";
pub(super) const TLS_FIRST: &str = "Use STARTTLS before authenticating.";
pub(super) const NO_TLS: &str = "TLS is not available.";
pub(super) const AUTH_MECHANISM: &str = "Only the PLAIN mechanism is offered.";
pub(super) const AUTH_OK: &str = "Authenticated.";
pub(super) const AUTH_FAILED: &str = "Authentication failed.";
pub(super) const AUTH_CANCELLED: &str = "Authentication cancelled.";
pub(super) const AUTH_MALFORMED: &str = "The SASL response is not valid PLAIN credentials.";
pub(super) const AUTH_UNAVAILABLE: &str =
    "Authentication cannot be checked right now; try again later.";
pub(super) const ALREADY_AUTHENTICATED: &str = "Already authenticated.";
pub(super) const NOT_AUTHENTICATED: &str = "Authenticate first.";
pub(super) const UNAUTHENTICATED: &str = "Unauthenticated.";
pub(super) const UNKNOWN_COMMAND: &str = "Unknown command.";
pub(super) const BAD_ARGUMENTS: &str = "Wrong arguments for this command.";
pub(super) const NOT_UTF8: &str = "Script names and scripts must be UTF-8.";
pub(super) const TOO_LARGE: &str = "The script is larger than allowed.";
pub(super) const SPACE_OK: &str = "Putscript would succeed.";
pub(super) const STORED: &str = "Script stored.";
pub(super) const VALID: &str = "Script is valid.";
pub(super) const ACTIVATED: &str = "Script activated.";
pub(super) const DEACTIVATED: &str = "No script is active now.";
pub(super) const DELETED: &str = "Script deleted.";
pub(super) const RENAMED: &str = "Script renamed.";
pub(super) const LISTED: &str = "Listscripts completed.";
pub(super) const FETCHED: &str = "Getscript completed.";
pub(super) const STORE_FAILED: &str = "The scripts cannot be reached right now; try again later.";
pub(super) const BYE_SHUTDOWN: &str = "Server shutting down.";
pub(super) const BYE_IDLE: &str = "Disconnected for inactivity.";
pub(super) const BYE_LINE: &str = "Line too long.";
pub(super) const BYE_LITERAL: &str = "Literal too large.";
pub(super) const BYE_TOO_MANY_ERRORS: &str = "Too many errors.";
pub(super) const BYE_TOO_MANY_FAILURES: &str = "Too many failed authentications.";
pub(super) const BYE_BUSY: &str = "Server busy; try again later.";
pub(super) const BYE_TOO_MANY_FROM: &str = "Too many connections from your address.";

/// The NO an initial password earns: it must be changed in the portal first.
pub(super) fn must_change(portal_url: &str) -> String {
    format!("Choose a new password at {portal_url} before signing in here.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_quote_or_send_literals() {
        assert_eq!(Response::ok(DONE).to_wire(), b"OK \"Done.\"\r\n");
        let no = Response::no_with(Some(NONEXISTENT), "no \"x\" \\ here".into());
        assert_eq!(
            no.to_wire(),
            b"NO (NONEXISTENT) \"no \\\"x\\\" \\\\ here\"\r\n"
        );
        let multi = Response::no_with(None, "line 1\nline 2".into());
        assert_eq!(multi.to_wire(), b"NO {13}\r\nline 1\nline 2\r\n");
    }
}
