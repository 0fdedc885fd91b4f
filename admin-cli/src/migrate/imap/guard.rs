//! Limits on what the old server may send, applied to the raw bytes before the IMAP client
//! buffers them. imap-codec's fragmentizer splits the stream into lines and literals; a line
//! longer than the line limit, or a literal (or the literals of one response together) larger
//! than the largest message congvu accepts, ends the connection before any memory is taken
//! for it. A source that says nothing for the idle timeout ends it too.
//!
//! The IMAP client (async-imap) would otherwise allocate a literal's announced size at once,
//! up to 512 MiB per connection, whatever the message size setting says.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Longest response line accepted, literals aside: far above any FETCH or LIST line.
pub const MAX_LINE: u64 = 1024 * 1024;

/// What a response may not exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLimits {
    pub max_line: u64,
    /// The largest message accepted: a FETCH response carries one body.
    pub max_message: u64,
    /// Literal bytes a response may carry beside its message: a literal mailbox name or two.
    pub room: u64,
}

impl ResponseLimits {
    /// Limits for messages of at most `max_message` bytes.
    pub fn for_messages(max_message: u64) -> ResponseLimits {
        ResponseLimits {
            max_line: MAX_LINE,
            max_message,
            room: 64 * 1024,
        }
    }

    fn max_literals(&self) -> u64 {
        self.max_message.saturating_add(self.room)
    }
}

/// Why a response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A response line grew past the limit.
    LineTooLong { limit: u64 },
    /// A literal announced `announced` bytes, taking one response past what a message of
    /// at most `max_message` bytes needs.
    LiteralTooLarge { announced: u64, max_message: u64 },
    /// Nothing arrived for this long while an answer was awaited.
    Silent { after: Duration },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::LineTooLong { limit } => {
                write!(
                    f,
                    "the source sent a response line longer than {limit} bytes"
                )
            }
            Violation::LiteralTooLarge {
                announced,
                max_message,
            } => write!(
                f,
                "the source announced {announced} bytes of data, more than the largest message \
                 congvu accepts ({max_message} bytes, smtp.max_message_bytes)"
            ),
            Violation::Silent { after } => {
                write!(f, "the source sent nothing for {} seconds", after.as_secs())
            }
        }
    }
}

/// Follows the framing of the server's responses (no I/O: bytes in, verdict out).
#[derive(Debug)]
pub struct ResponseGuard {
    fragmentizer: Fragmentizer,
    limits: ResponseLimits,
    /// Bytes fed so far.
    fed: u64,
    /// Where (in bytes fed) the current response started and the last whole fragment ended.
    response_start: u64,
    fragment_end: u64,
    /// Whether a literal is being received (not held to the line limit).
    in_literal: bool,
    /// Literal bytes the current response has announced.
    literal_total: u64,
}

impl ResponseGuard {
    pub fn new(limits: ResponseLimits) -> ResponseGuard {
        ResponseGuard {
            // Only the fragment boundaries are needed, never the bytes: keep none of them.
            fragmentizer: Fragmentizer::new(0),
            limits,
            fed: 0,
            response_start: 0,
            fragment_end: 0,
            in_literal: false,
            literal_total: 0,
        }
    }

    /// Takes the next bytes received; an error once they break a limit.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Violation> {
        self.fragmentizer.enqueue_bytes(bytes);
        self.fed += bytes.len() as u64;
        while let Some(fragment) = self.fragmentizer.progress() {
            self.fragment_end = self.response_start + fragment.range().end as u64;
            self.on_fragment(fragment)?;
            if self.fragmentizer.is_message_complete() {
                self.response_start = self.fragment_end;
                self.literal_total = 0;
            }
        }
        // A line still arriving counts its CRLF as a whole line does.
        let pending = self.fed - self.fragment_end;
        if !self.in_literal && pending > self.limits.max_line + 2 {
            return Err(Violation::LineTooLong {
                limit: self.limits.max_line,
            });
        }
        Ok(())
    }

    fn on_fragment(&mut self, fragment: FragmentInfo) -> Result<(), Violation> {
        match fragment {
            FragmentInfo::Literal { .. } => self.in_literal = false,
            FragmentInfo::Line {
                start,
                end,
                announcement,
                ..
            } => {
                // The line's own CRLF does not count against it.
                if (end - start) as u64 > self.limits.max_line + 2 {
                    return Err(Violation::LineTooLong {
                        limit: self.limits.max_line,
                    });
                }
                if let Some(LiteralAnnouncement { length, .. }) = announcement {
                    self.literal_total += u64::from(length);
                    if self.literal_total > self.limits.max_literals() {
                        return Err(Violation::LiteralTooLarge {
                            announced: u64::from(length),
                            max_message: self.limits.max_message,
                        });
                    }
                    self.in_literal = true;
                }
            }
        }
        Ok(())
    }
}

/// Where a guarded connection leaves the reason it was cut, for the error report.
pub type ViolationSlot = Arc<Mutex<Option<Violation>>>;

/// A connection whose incoming bytes pass a [`ResponseGuard`] and an idle timeout.
#[derive(Debug)]
pub struct Guarded<S> {
    inner: S,
    guard: ResponseGuard,
    violation: ViolationSlot,
    idle: Duration,
    silence: Option<Pin<Box<Sleep>>>,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, limits: ResponseLimits, idle: Duration) -> (Guarded<S>, ViolationSlot) {
        let violation = ViolationSlot::default();
        let guarded = Guarded {
            inner,
            guard: ResponseGuard::new(limits),
            violation: Arc::clone(&violation),
            idle,
            silence: None,
        };
        (guarded, violation)
    }

    /// The connection under the guard (to start TLS on it after STARTTLS).
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn refuse(&mut self, violation: Violation) -> io::Error {
        if let Ok(mut slot) = self.violation.lock() {
            *slot = Some(violation);
        }
        io::Error::new(io::ErrorKind::InvalidData, violation.to_string())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.silence = None;
                if let Err(violation) = this.guard.feed(&buf.filled()[before..]) {
                    // The refused bytes are never handed on.
                    buf.set_filled(before);
                    return Poll::Ready(Err(this.refuse(violation)));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let idle = this.idle;
                let silence = this
                    .silence
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match silence.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.silence = None;
                        Poll::Ready(Err(this.refuse(Violation::Silent { after: idle })))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A command going out starts a new wait for an answer.
        this.silence = None;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
