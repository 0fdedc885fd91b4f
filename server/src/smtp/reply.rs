//! Every SMTP reply congvu sends, in one place: code, enhanced status (RFC 3463) and text,
//! and the one mapping from domain answers (recipient lookups, data faults) to replies.

use std::borrow::Cow;

use super::framing::DataFault;
use crate::directory::RecipientLookup;
use crate::net::Refusal;

/// One reply line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: &'static str,
    pub text: Cow<'static, str>,
}

const fn reply(code: u16, status: &'static str, text: &'static str) -> Reply {
    Reply {
        code,
        status,
        text: Cow::Borrowed(text),
    }
}

impl Reply {
    /// The reply as sent: `code status text CRLF` (`code text CRLF` without a status).
    pub fn to_wire(&self) -> String {
        if self.status.is_empty() {
            format!("{} {}\r\n", self.code, self.text)
        } else {
            format!("{} {} {}\r\n", self.code, self.status, self.text)
        }
    }

    /// Whether the reply counts as an error against the session's error budget.
    pub fn is_error(&self) -> bool {
        self.code >= 500
    }
}

pub const OK: Reply = reply(250, "2.0.0", "Ok");
pub const SENDER_OK: Reply = reply(250, "2.1.0", "Sender ok");
pub const RECIPIENT_OK: Reply = reply(250, "2.1.5", "Recipient ok");
pub const RESET: Reply = reply(250, "2.0.0", "Reset");
pub const BYE: Reply = reply(221, "2.0.0", "Bye");
pub const START_DATA: Reply = Reply {
    code: 354,
    status: "",
    text: Cow::Borrowed("End data with <CR><LF>.<CR><LF>"),
};
pub const READY_FOR_TLS: Reply = reply(220, "2.0.0", "Ready to start TLS");
pub const AUTH_OK: Reply = reply(235, "2.7.0", "Authentication successful");
/// RFC 5321 §3.5.3: VRFY answers 252 when it will not say; nothing is revealed.
pub const VRFY_NOTHING: Reply = reply(
    252,
    "2.5.2",
    "Cannot VRFY user, but will accept message and attempt delivery",
);
pub const EXPN_NOTHING: Reply = reply(502, "5.5.1", "EXPN not available");
pub const HELP: Reply = reply(214, "2.0.0", "See RFC 5321");

pub const NEED_HELO: Reply = reply(503, "5.5.1", "Send EHLO or HELO first");
pub const NESTED_MAIL: Reply = reply(503, "5.5.1", "Sender already given");
pub const NEED_MAIL: Reply = reply(503, "5.5.1", "Send MAIL first");
pub const NEED_RCPT: Reply = reply(554, "5.5.1", "No valid recipients");
pub const AUTH_REQUIRED: Reply = reply(530, "5.7.0", "Authentication required");
pub const TLS_REQUIRED_FOR_AUTH: Reply = reply(
    538,
    "5.7.11",
    "Encryption required for requested authentication mechanism",
);
pub const AUTH_NOT_HERE: Reply = reply(
    503,
    "5.5.1",
    "AUTH not available on this port; use submission",
);
pub const ALREADY_AUTHENTICATED: Reply = reply(503, "5.5.1", "Already authenticated");
pub const AUTH_MECHANISM: Reply = reply(
    504,
    "5.5.4",
    "Unrecognized authentication mechanism; use PLAIN or LOGIN",
);
pub const AUTH_FAILED: Reply = reply(535, "5.7.8", "Authentication credentials invalid");

/// The refusal of a correct initial password: it is good only for choosing a password, at
/// the portal. Nothing is sent with it.
pub fn auth_must_change(portal_url: &str) -> Reply {
    Reply {
        code: 535,
        status: "5.7.8",
        text: format!("Password must be changed first: sign in at {portal_url} to choose your own")
            .into(),
    }
}
pub const AUTH_CANCELLED: Reply = reply(501, "5.0.0", "Authentication cancelled");
pub const AUTH_MALFORMED: Reply = reply(501, "5.5.2", "Cannot decode the authentication response");
pub const AUTH_TOO_MANY: Reply = reply(421, "4.7.0", "Too many failed authentications; closing");
pub const TLS_ACTIVE: Reply = reply(503, "5.5.1", "TLS already active");
pub const TLS_UNAVAILABLE: Reply = reply(454, "4.7.0", "TLS not available");
pub const UNKNOWN_COMMAND: Reply = reply(500, "5.5.1", "Command unrecognized");
pub const NOT_IMPLEMENTED: Reply = reply(502, "5.5.1", "Command not implemented");
pub const BAD_SENDER: Reply = reply(501, "5.1.7", "Bad sender address syntax");
pub const BAD_RECIPIENT: Reply = reply(501, "5.1.3", "Bad recipient address syntax");
pub const NEEDS_SMTPUTF8: Reply = reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
pub const LINE_TOO_LONG: Reply = reply(500, "5.5.2", "Line too long");
pub const BARE_NEWLINE: Reply = reply(
    500,
    "5.5.2",
    "Bare CR or LF received; lines must end with CRLF",
);
/// RFC 2920 §3.1: only certain commands may be sent without waiting for the reply.
pub const PIPELINING_REFUSED: Reply = reply(554, "5.5.0", "SMTP protocol synchronization error");
pub const TOO_MANY_ERRORS: Reply = reply(421, "4.7.0", "Too many errors; closing");
pub const TIMEOUT: Reply = reply(421, "4.4.2", "Timeout; closing");
pub const SHUTTING_DOWN: Reply = reply(421, "4.3.2", "Server shutting down; try again later");
pub const TRY_LATER: Reply = reply(451, "4.3.0", "Local error; try again later");

pub const NO_SUCH_USER: Reply = reply(550, "5.1.1", "No such recipient here");
pub const RELAY_DENIED: Reply = reply(554, "5.7.1", "Relay access denied");
pub const MAILBOX_FULL_RCPT: Reply = reply(452, "4.2.2", "Mailbox full");
pub const MAILBOX_FULL: Reply = reply(552, "5.2.2", "Mailbox full");
pub const TOO_MANY_RECIPIENTS: Reply = reply(452, "4.5.3", "Too many recipients");
pub const SENDER_NOT_OWNED: Reply = reply(
    553,
    "5.7.1",
    "Sender address not owned by the authenticated user",
);
pub const FROM_NOT_OWNED: Reply = reply(
    553,
    "5.7.1",
    "From: header address not owned by the authenticated user",
);
pub const SIZE_EXCEEDED: Reply = reply(
    552,
    "5.3.4",
    "Message size exceeds fixed maximum message size",
);
pub const BARE_NEWLINE_IN_DATA: Reply = reply(
    554,
    "5.6.0",
    "Message refused: bare CR or LF found; lines must end with CRLF",
);
pub const DATA_LINE_TOO_LONG: Reply = reply(
    554,
    "5.6.0",
    "Message refused: a line is longer than 1000 octets",
);
pub const TOO_MANY_HOPS: Reply = reply(554, "5.4.6", "Too many hops; mail loop suspected");
pub const BDAT_MIXED: Reply = reply(503, "5.5.1", "BDAT and DATA cannot be mixed in one message");

/// A syntax error, naming the expected form.
pub fn syntax(expected: &'static str) -> Reply {
    Reply {
        code: 501,
        status: "5.5.4",
        text: Cow::Owned(format!("Syntax: {expected}")),
    }
}

/// A message the MX could not judge because DNS did not answer: the sender retries
/// (RFC 7372's 4.7.x class for authentication trouble).
pub const AUTHENTICATION_DEFERRED: Reply = reply(
    451,
    "4.7.0",
    "Cannot check the sender's domain now (DNS did not answer); try again later",
);

/// rspamd judged the message spam and advises refusing it.
pub const SPAM: Reply = reply(550, "5.7.1", "Message refused as spam");

/// rspamd advises a later try (greylisting, a rate limit).
pub const SPAM_LATER: Reply = reply(451, "4.7.1", "Try again later");

/// A content filter the configuration requires could not be asked.
pub const FILTER_UNAVAILABLE: Reply =
    reply(451, "4.7.1", "Cannot scan the message now; try again later");

/// ClamAV found `signature` in the message.
pub fn malware(signature: &str) -> Reply {
    let signature: String = signature
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    Reply {
        code: 554,
        status: "5.7.1",
        text: Cow::Owned(format!(
            "Message refused: it contains malware ({signature})"
        )),
    }
}

/// The client's address is on a DNS blocklist.
pub fn blocklisted(ip: std::net::IpAddr, zone: &str) -> Reply {
    Reply {
        code: 554,
        status: "5.7.1",
        text: Cow::Owned(format!(
            "Service unavailable; client [{ip}] is listed by {zone}"
        )),
    }
}

/// A message from outside refused because its sender is not who it claims to be.
pub fn inbound_refusal(refusal: &crate::inbound::Refusal) -> Reply {
    use crate::inbound::Refusal;
    let text = match refusal {
        Refusal::DmarcReject { domain } => {
            format!("Message rejected by the DMARC policy of {domain}: it is not authenticated as theirs")
        }
        Refusal::ForgedOwnDomain { domain } => format!(
            "Mail from {domain} must come from its own servers; this message is not authenticated as theirs"
        ),
        Refusal::SpfFail { domain } => {
            format!("The SPF record of {domain} does not allow this host to send its mail")
        }
    };
    Reply {
        code: 550,
        status: if matches!(refusal, Refusal::SpfFail { .. }) {
            "5.7.23"
        } else {
            "5.7.1"
        },
        text: Cow::Owned(text),
    }
}

/// The answer to DATA or the last BDAT once the message is stored.
/// A message the recipient's own filter rejected (RFC 5429 §2.1), with the filter's reason.
pub fn rejected_by_filter(reason: &str) -> Reply {
    let reason: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    Reply {
        code: 550,
        status: "5.7.1",
        text: Cow::Owned(format!("Rejected by the recipient's filter: {reason}")),
    }
}

pub fn accepted(id: &str) -> Reply {
    Reply {
        code: 250,
        status: "2.0.0",
        text: Cow::Owned(format!("Ok: queued as {id}")),
    }
}

/// The answer to a BDAT chunk that is not the last.
pub fn chunk_received(octets: usize) -> Reply {
    Reply {
        code: 250,
        status: "2.0.0",
        text: Cow::Owned(format!("{octets} octets received")),
    }
}

/// The answer to a connection over the limits, before closing it (RFC 5321 §3.8).
pub fn refused_connection(hostname: &str, why: Refusal) -> String {
    match why {
        Refusal::ServerBusy => format!("421 4.3.2 {hostname} Too busy, try again later\r\n"),
        Refusal::TooManyFromAddress => {
            format!("421 4.7.0 {hostname} Too many connections from your address\r\n")
        }
    }
}

/// What an EHLO reply offers beside the extensions every session has.
#[derive(Debug, Clone, Copy)]
pub struct Offered {
    pub max_message_bytes: usize,
    pub starttls: bool,
    pub auth: bool,
}

/// The EHLO reply (RFC 5321 §4.1.1.1): the host name, then one extension a line.
pub fn ehlo(hostname: &str, offered: &Offered) -> String {
    let mut lines = vec![
        hostname.to_string(),
        "PIPELINING".into(),
        format!("SIZE {}", offered.max_message_bytes),
        "8BITMIME".into(),
        "SMTPUTF8".into(),
        "ENHANCEDSTATUSCODES".into(),
        "CHUNKING".into(),
    ];
    if offered.starttls {
        lines.push("STARTTLS".into());
    }
    if offered.auth {
        lines.push("AUTH PLAIN LOGIN".into());
    }
    let last = lines.len() - 1;
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| format!("250{}{line}\r\n", if i == last { ' ' } else { '-' }))
        .collect()
}

/// The HELO reply: the host name alone.
pub fn helo(hostname: &str) -> String {
    format!("250 {hostname}\r\n")
}

/// SASL challenges (RFC 4954 §4): "334 " and base64; LOGIN's are "Username:" and
/// "Password:".
pub const PLAIN_CHALLENGE: &str = "334 \r\n";
pub const USERNAME_CHALLENGE: &str = "334 VXNlcm5hbWU6\r\n";
pub const PASSWORD_CHALLENGE: &str = "334 UGFzc3dvcmQ6\r\n";

/// The greeting (RFC 5321 §4.2: 220 with the host name).
pub fn greeting(hostname: &str) -> String {
    format!("220 {hostname} ESMTP congvu\r\n")
}

/// Why RCPT is refused, or `None` when the lookup accepts the address. Unknown and disabled
/// addresses get the same answer, so RCPT reveals nothing about which exist.
pub fn for_recipient(lookup: &RecipientLookup) -> Option<Reply> {
    match lookup {
        RecipientLookup::Unknown | RecipientLookup::Disabled => Some(NO_SUCH_USER),
        RecipientLookup::Members(members) if members.is_empty() => Some(NO_SUCH_USER),
        RecipientLookup::Remote => Some(RELAY_DENIED),
        RecipientLookup::Official { .. } | RecipientLookup::Members(_) => None,
    }
}

/// Why a message read with DATA is refused.
pub fn for_data_fault(fault: DataFault) -> Reply {
    match fault {
        DataFault::TooLarge => SIZE_EXCEEDED,
        DataFault::BareNewline => BARE_NEWLINE_IN_DATA,
        DataFault::LineTooLong => DATA_LINE_TOO_LONG,
    }
}

/// The reply for a command smtp-proto could not parse.
pub fn for_parse_error(error: &smtp_proto::Error) -> Reply {
    use smtp_proto::Error;
    match error {
        Error::UnknownCommand => UNKNOWN_COMMAND,
        Error::InvalidSenderAddress => BAD_SENDER,
        Error::InvalidRecipientAddress => BAD_RECIPIENT,
        Error::SyntaxError { syntax: expected } => syntax(expected),
        Error::InvalidParameter { .. } | Error::UnsupportedParameter { .. } => Reply {
            code: 555,
            status: "5.5.4",
            text: Cow::Borrowed("Unsupported or invalid parameter"),
        },
        Error::ResponseTooLong | Error::NeedsMoreData { .. } => LINE_TOO_LONG,
        _ => syntax("see RFC 5321"),
    }
}
