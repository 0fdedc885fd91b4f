//! Connection admission: a global cap and a per-source-address cap, held for the life of
//! each connection by an RAII [`Admission`]; and the few TLS handshakes a refused peer on an
//! implicit-TLS port may have, so that it hears why inside TLS.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::model::Refusal;

/// How many refused peers may be in a TLS handshake at once, over every implicit-TLS port.
/// A client on 465, 993 or 636 speaks TLS first, so the reason it is refused must travel
/// inside TLS; but each handshake costs the CPU the limits protect, so past these few a
/// refused peer is closed without one.
pub const REFUSAL_HANDSHAKES: usize = 16;

/// Counts open connections, in total and per source address.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: u32,
    max_per_ip: u32,
    open: Mutex<Counts>,
    refusal_handshakes: Arc<Semaphore>,
}

#[derive(Debug, Default)]
struct Counts {
    total: u32,
    per_ip: HashMap<IpAddr, u32>,
}

/// A connection's place under the limits; dropping it frees the place.
#[derive(Debug)]
pub struct Admission {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections, `max_per_ip` from one address.
    pub fn new(max_total: u32, max_per_ip: u32) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            max_total,
            max_per_ip,
            open: Mutex::new(Counts::default()),
            refusal_handshakes: Arc::new(Semaphore::new(REFUSAL_HANDSHAKES)),
        })
    }

    /// A place for one refused peer's TLS handshake, held until its refusal is written;
    /// `None` when [`REFUSAL_HANDSHAKES`] are under way already.
    pub fn refusal_handshake(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.refusal_handshakes)
            .try_acquire_owned()
            .ok()
    }

    /// Admits a connection from `ip`, or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, Refusal> {
        let mut open = self.lock();
        if open.total >= self.max_total {
            return Err(Refusal::ServerBusy);
        }
        let from_ip = open.per_ip.entry(ip).or_insert(0);
        if *from_ip >= self.max_per_ip {
            return Err(Refusal::TooManyFromAddress);
        }
        *from_ip += 1;
        open.total += 1;
        Ok(Admission {
            limits: Arc::clone(self),
            ip,
        })
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u32 {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: every update is one step.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

/// A session's failures of one kind (commands answered with an error, failed sign-ins)
/// against the limit after which it closes: the one count every protocol keeps.
#[derive(Debug)]
pub struct Strikes {
    count: u32,
    limit: u32,
}

impl Strikes {
    pub fn new(limit: u32) -> Strikes {
        Strikes { count: 0, limit }
    }

    /// Counts one more failure; `true` once the limit is reached and the session must close.
    pub fn add(&mut self) -> bool {
        self.count = self.count.saturating_add(1);
        self.count >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_and_total_caps_and_release() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refusal::TooManyFromAddress);
        let _b1 = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Refusal::ServerBusy);
        drop(a1);
        assert_eq!(limits.open_connections(), 2);
        assert!(limits.admit(a).is_ok());
    }

    #[test]
    fn strikes_close_at_the_limit() {
        let mut strikes = Strikes::new(3);
        assert!(!strikes.add());
        assert!(!strikes.add());
        assert!(strikes.add(), "the third of three closes");
        assert!(Strikes::new(0).add(), "a limit of 0 closes at the first");
    }
}
