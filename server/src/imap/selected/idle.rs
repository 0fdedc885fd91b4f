//! IDLE (RFC 2177): the session waits for changes to the selected mailbox and tells the client
//! of them until DONE.

use imap_codec::imap_types::core::Tag;
use tokio::sync::watch;

use crate::imap::framing::{Expect, ReadFault, Received};
use crate::imap::reply;
use crate::imap::session::{Done, End, Session};

impl Session<'_> {
    /// IDLE (RFC 2177): updates as they commit, until DONE. A client in IDLE is waiting,
    /// not gone, so it is not closed for silence; instead it hears `* OK Still here` every
    /// [`IDLE_KEEPALIVE`], which keeps NAT mappings open and finds dead peers (the write
    /// fails).
    pub(in crate::imap) async fn idle(&mut self, tag: Tag<'static>) -> Result<bool, End> {
        let _idling = crate::telemetry::imap_idle_started();
        self.send_updates(true).await;
        self.raw(b"+ ");
        self.raw(reply::IDLING.as_bytes());
        self.raw(b"\r\n");
        self.flush().await?;
        let mut changes = self.view().map(|s| s.changes.clone());
        loop {
            let mut stream = self.take_stream().ok_or(End)?;
            let shutdown = self.shutdown().clone();
            let event = tokio::select! {
                received = self.reader.next(&mut stream, Expect::IdleDone, IDLE_KEEPALIVE) => Some(received),
                _ = wait_for(&mut changes) => None,
                () = shutdown.cancelled() => {
                    self.put_stream(stream);
                    self.bye(None, reply::BYE_SHUTDOWN);
                    return Ok(true);
                }
            };
            self.put_stream(stream);
            match event {
                None => {
                    self.send_updates(true).await;
                    self.flush().await?;
                }
                Some(Ok(Received::IdleDone)) => break,
                Some(Err(ReadFault::TimedOut)) => {
                    self.untagged_ok(None, reply::STILL_HERE);
                    self.flush().await?;
                }
                Some(Ok(_)) => {
                    crate::telemetry::imap_idle_completed("bad");
                    return Ok(self.complete(tag, Done::bad(reply::PARSE_ERROR)));
                }
                Some(Err(fault)) => {
                    self.read_fault(fault);
                    return Ok(true);
                }
            }
        }
        crate::telemetry::imap_idle_completed("ok");
        Ok(self.complete(tag, Done::ok(reply::DONE)))
    }
}

/// How often a client in IDLE hears that the server is still there.
const IDLE_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(120);

/// Waits for the next committed change; forever when there is nothing to watch.
async fn wait_for(changes: &mut Option<watch::Receiver<u64>>) {
    match changes {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}
