//! `host:port` of a relay that takes all outbound mail: the value `[queue] smart_host` holds,
//! read by the configuration and used by the queue.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// `host:port` of a relay that takes all outbound mail (`[queue] smart_host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartHost {
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

/// Why a `smart_host` value is not `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not host:port: use a host name or IP address and a port, e.g. \"relay.gov.vn:587\" or \"[2001:db8::1]:25\"")]
pub struct SmartHostError(pub String);

impl FromStr for SmartHost {
    type Err = SmartHostError;

    fn from_str(s: &str) -> Result<SmartHost, SmartHostError> {
        let bad = || SmartHostError(s.to_string());
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().ok().filter(|&p| p != 0).ok_or_else(bad)?;
        let host = match host.strip_prefix('[') {
            Some(inner) => {
                let inner = inner.strip_suffix(']').ok_or_else(bad)?;
                inner.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
                inner
            }
            None => host,
        };
        let valid_name = |h: &str| {
            !h.is_empty()
                && h.len() <= 253
                && h.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        if host.parse::<IpAddr>().is_err() && !valid_name(host) {
            return Err(bad());
        }
        Ok(SmartHost {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for SmartHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_hosts_are_host_and_port() {
        assert_eq!(
            "relay.gov.vn:587".parse(),
            Ok(SmartHost {
                host: "relay.gov.vn".into(),
                port: 587
            })
        );
        assert_eq!(
            "127.0.0.1:2525".parse(),
            Ok(SmartHost {
                host: "127.0.0.1".into(),
                port: 2525
            })
        );
        let v6: SmartHost = "[2001:db8::1]:25".parse().unwrap();
        assert_eq!(v6.host, "2001:db8::1");
        assert_eq!(v6.to_string(), "[2001:db8::1]:25");
        for bad in [
            "relay.gov.vn",
            "relay.gov.vn:0",
            ":25",
            "relay gov:25",
            "[::1:25",
            "a..b:25",
            "host:99999",
        ] {
            assert!(bad.parse::<SmartHost>().is_err(), "{bad} was accepted");
        }
    }
}
