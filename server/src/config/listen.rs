//! [`ListenAddr`]: one socket address a listener binds, read from `"ip:port"` text with
//! messages that say what is wrong and what would be valid. Owns only the parsing; which
//! listeners exist, and binding them, belong to `config` and `net`.
//!
//! Host names are refused on purpose: a listener binds an address, and resolving a name
//! at startup would make the set of bound sockets depend on DNS.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::ops::Deref;
use std::str::FromStr;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// Shown after every complaint so the operator sees the accepted forms.
const EXAMPLES: &str = "\"127.0.0.1:25\", \"0.0.0.0:25\" or \"[::1]:25\"";

/// The address one listener binds. Port 0 asks the OS for any free port (tests do this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenAddr(pub SocketAddr);

/// Why a text is not a listen address; displays as
/// `"127.0.0.1:70000" is not a valid listen address: port must be 1-65535 (or 0 for any free port)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a valid listen address: {reason}")]
pub struct InvalidListenAddr {
    /// The text as written.
    pub input: String,
    /// What is wrong with it and what would be valid.
    pub reason: String,
}

impl Deref for ListenAddr {
    type Target = SocketAddr;

    fn deref(&self) -> &SocketAddr {
        &self.0
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr(addr)
    }
}

impl FromStr for ListenAddr {
    type Err = InvalidListenAddr;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse::<SocketAddr>()
            .map(ListenAddr)
            .map_err(|_| InvalidListenAddr {
                input: text.to_owned(),
                reason: diagnose(text),
            })
    }
}

/// Explains why `text` is not `ip:port`. Only called after std's parser refused it, so
/// it looks for the likely mistake rather than re-implementing the grammar.
fn diagnose(text: &str) -> String {
    let (host, port) = match split_host_port(text) {
        Ok(parts) => parts,
        Err(reason) => return reason,
    };
    if let Err(reason) = check_port(port) {
        return reason;
    }
    match host.parse::<IpAddr>() {
        Err(_) => format!(
            "{host:?} is not an IP address; listen on an IP address such as 127.0.0.1, \
             0.0.0.0 or [::] (host names are not resolved)"
        ),
        Ok(IpAddr::V4(_)) if text.starts_with('[') => {
            format!("brackets are only for IPv6 addresses; write \"{host}:{port}\"")
        }
        Ok(_) => format!("expected an IP address and port such as {EXAMPLES}"),
    }
}

/// Splits `host:port` / `[v6]:port`, or says which part is missing.
fn split_host_port(text: &str) -> Result<(&str, &str), String> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let Some((host, rest)) = bracketed.split_once(']') else {
            return Err(format!(
                "missing ']' after the IPv6 address; write it as {EXAMPLES}"
            ));
        };
        return match rest.strip_prefix(':') {
            Some(port) => Ok((host, port)),
            None if rest.is_empty() => Err(format!("missing port; write it as \"[{host}]:25\"")),
            None => Err(format!("expected ':' and a port after ']', got {rest:?}")),
        };
    }
    if text.parse::<Ipv6Addr>().is_ok() {
        return Err(format!(
            "missing port, and an IPv6 address needs brackets: write it as \"[{text}]:25\""
        ));
    }
    match text.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => {
            Err("an IPv6 address needs brackets before the port, as in \"[::1]:25\"".to_owned())
        }
        Some(parts) => Ok(parts),
        None if text.is_empty() => Err(format!("it is empty; write it as {EXAMPLES}")),
        None => Err(format!("missing port; write it as \"{text}:25\"")),
    }
}

fn check_port(port: &str) -> Result<(), String> {
    if port.is_empty() {
        return Err("missing port after ':'".to_owned());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {port:?} is not a number"));
    }
    match port.parse::<u16>() {
        Ok(_) => Ok(()),
        Err(_) => Err("port must be 1-65535 (or 0 for any free port)".to_owned()),
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ListenAddrVisitor)
    }
}

struct ListenAddrVisitor;

impl Visitor<'_> for ListenAddrVisitor {
    type Value = ListenAddr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a listen address such as {EXAMPLES}")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ListenAddr, E> {
        text.parse().map_err(E::custom)
    }
}

/// Reads a listener list. A single string is accepted as a one-element list, so that
/// `CONGVU_SMTP__LISTEN=127.0.0.1:2525` works without TOML array syntax.
pub(super) fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ListenAddr>, D::Error> {
    deserializer.deserialize_any(ListenListVisitor)
}

struct ListenListVisitor;

impl<'de> Visitor<'de> for ListenListVisitor {
    type Value = Vec<ListenAddr>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a list of listen addresses such as [\"127.0.0.1:25\", \"[::1]:25\"] \
             ([] disables the listener)"
        )
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        text.parse().map(|addr| vec![addr]).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut addrs = Vec::new();
        while let Some(addr) = seq.next_element::<ListenAddr>()? {
            addrs.push(addr);
        }
        Ok(addrs)
    }
}
