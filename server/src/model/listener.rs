//! What a listening socket serves, and why a connection to it was not admitted: the names
//! logs and metrics use for both.

/// What a listening socket serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenerKind {
    /// SMTP from other servers (MX, port 25).
    Smtp,
    /// Message submission with STARTTLS (port 587).
    Submission,
    /// Message submission over implicit TLS (port 465).
    Submissions,
    /// IMAP with STARTTLS (port 143).
    Imap,
    /// IMAP over implicit TLS (port 993).
    Imaps,
    /// LDAP with StartTLS (port 389).
    Ldap,
    /// LDAP over implicit TLS (port 636).
    Ldaps,
    /// The officials' portal, health, metrics and client autoconfiguration.
    Http,
    /// The same over implicit TLS (port 443).
    Https,
    /// ManageSieve with STARTTLS (port 4190): officials' filters from their mail clients.
    ManageSieve,
}

impl ListenerKind {
    /// The name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerKind::Smtp => "smtp",
            ListenerKind::Submission => "submission",
            ListenerKind::Submissions => "submissions",
            ListenerKind::Imap => "imap",
            ListenerKind::Imaps => "imaps",
            ListenerKind::Ldap => "ldap",
            ListenerKind::Ldaps => "ldaps",
            ListenerKind::Http => "http",
            ListenerKind::Https => "https",
            ListenerKind::ManageSieve => "managesieve",
        }
    }

    /// Whether the connection is TLS from its first byte.
    pub fn implicit_tls(self) -> bool {
        matches!(
            self,
            ListenerKind::Submissions
                | ListenerKind::Imaps
                | ListenerKind::Ldaps
                | ListenerKind::Https
        )
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds `limits.max_connections` already.
    ServerBusy,
    /// This address holds `limits.max_connections_per_ip` already.
    TooManyFromAddress,
}

impl Refusal {
    /// The label used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::ServerBusy => "server_busy",
            Refusal::TooManyFromAddress => "too_many_from_address",
        }
    }
}
