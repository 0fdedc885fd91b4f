//! What the MX decides about a message from outside before it is stored: who really sent it
//! (SPF, DKIM, ARC and DMARC, through the `mail-auth` crate), recorded in one
//! `Authentication-Results:` header, and what the sender's domain asks for when the check
//! fails: refuse, file into Junk, or deliver.
//!
//! The verdict is plain data: the SMTP session turns it into a reply, intake into a folder.
//! Nothing here knows SMTP replies or SQL.

mod authentication;
mod dnsbl;
mod headers;

pub use authentication::{SenderCheck, SenderFacts};
pub use dnsbl::{Blocklists, Listing};
pub use headers::{prepend_header, remove_forged_results};

use crate::mailstore::MailboxRole;

/// Where an accepted message goes, and the headers it gets on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// INBOX, or Junk for a message its sender's domain asked to quarantine.
    pub folder: MailboxRole,
    /// Header fields to put on top of the message (each ending in CRLF).
    pub headers: String,
}

/// Why a message is refused for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The domain of `From:` publishes DMARC `p=reject` and the message fails it.
    DmarcReject { domain: String },
    /// The message claims one of our own domains and does not come from our servers.
    ForgedOwnDomain { domain: String },
    /// The envelope sender's SPF fails it outright and `[inbound] spf_fail = "reject"`.
    SpfFail { domain: String },
}

/// Why a message is refused for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferral {
    /// A DNS answer the decision needs was not to be had.
    Dns,
}

/// The MX's decision about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Deliver(Delivery),
    /// Refused for good.
    Refuse(Refusal),
    /// Refused for now: the sender retries.
    Defer(Deferral),
}

impl Verdict {
    /// Delivery to INBOX with nothing added: what a message gets when nothing is checked.
    pub fn inbox() -> Verdict {
        Verdict::Deliver(Delivery {
            folder: MailboxRole::Inbox,
            headers: String::new(),
        })
    }
}
