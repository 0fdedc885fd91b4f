//! Reading client messages: imap-codec's fragmentizer splits the byte stream into lines and
//! literals, and the limits are applied as fragments arrive, before anything is allocated
//! for them. A synchronising literal over the limit is refused with a tagged BAD and never
//! invited (no `+`); a non-synchronising one (LITERAL+, RFC 7888) ends the connection, since
//! its bytes are already on the way and could not be told apart from commands.

use std::time::Duration;

use imap_codec::decode::Decoder;
use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};
use imap_codec::imap_types::auth::AuthenticateData;
use imap_codec::imap_types::command::Command;
use imap_codec::imap_types::core::{LiteralMode, Tag};
use imap_codec::imap_types::IntoStatic;
use imap_codec::{AuthenticateDataCodec, CommandCodec, IdleDoneCodec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::extended_list::{self, ListOptions};

/// The continuation that invites a synchronising literal.
const GO_AHEAD: &[u8] = b"+ Ready for literal data\r\n";

/// What the session expects next from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    Command,
    /// A SASL response line during AUTHENTICATE.
    AuthenticateData,
    /// `DONE` ending IDLE.
    IdleDone,
}

/// One message from the client.
#[derive(Debug)]
pub(crate) enum Received {
    /// A command, with the LIST options it carried (see `extended_list`).
    Command(Command<'static>, ListOptions),
    AuthenticateData(AuthenticateData<'static>),
    IdleDone,
    /// Bytes that do not parse as what was expected; the tag if one could be read.
    Malformed(Option<Tag<'static>>),
    /// A synchronising literal over the limit, refused; the rest of its command is skipped.
    LiteralRefused(Option<Tag<'static>>),
}

/// Why no further message can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFault {
    /// The client closed the connection (or it broke).
    Closed,
    /// Nothing arrived within the idle timeout.
    TimedOut,
    /// A command line grew past the line limit.
    LineTooLong,
    /// A non-synchronising literal over the limit was announced.
    LiteralTooLarge,
}

/// Reads client messages under the session's limits.
#[derive(Debug)]
pub(crate) struct Reader {
    fragmentizer: Fragmentizer,
    max_line: usize,
    max_literal: u32,
    /// Where the fragment being received starts within the current message.
    fragment_start: usize,
    /// Whether the fragment being received is a literal (not held to the line limit).
    in_literal: bool,
    /// Literal bytes the current message has announced so far.
    literal_total: u64,
    chunk: Box<[u8]>,
}

impl Reader {
    pub(crate) fn new(max_line: u32, max_literal: u32) -> Reader {
        Reader {
            fragmentizer: new_fragmentizer(max_line, max_literal),
            max_line: max_line as usize,
            max_literal,
            fragment_start: 0,
            in_literal: false,
            literal_total: 0,
            chunk: vec![0; 16 * 1024].into_boxed_slice(),
        }
    }

    /// Forgets everything received and not yet read: after STARTTLS, bytes the client sent
    /// in plaintext behind the command must not be taken as commands (RFC 3501 §6.2.1).
    pub(super) fn discard_buffered(&mut self) {
        self.fragmentizer = new_fragmentizer(self.max_line as u32, self.max_literal);
        self.fragment_start = 0;
        self.in_literal = false;
        self.literal_total = 0;
    }

    /// Reads the next message, inviting synchronising literals as they are announced.
    pub(crate) async fn next<S>(
        &mut self,
        stream: &mut S,
        expect: Expect,
        idle_timeout: Duration,
    ) -> Result<Received, ReadFault>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            while let Some(fragment) = self.fragmentizer.progress() {
                if let Some(refused) = self.on_fragment(fragment, stream).await? {
                    return Ok(refused);
                }
                if self.fragmentizer.is_message_complete() {
                    let received = self.decode(expect);
                    self.fragment_start = 0;
                    self.literal_total = 0;
                    return Ok(received);
                }
            }
            let pending = self.fragmentizer.message_bytes().len() - self.fragment_start;
            if !self.in_literal && pending > self.max_line {
                return Err(ReadFault::LineTooLong);
            }
            let read = tokio::time::timeout(idle_timeout, stream.read(&mut self.chunk)).await;
            match read {
                Err(_) => return Err(ReadFault::TimedOut),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(ReadFault::Closed),
                Ok(Ok(n)) => self.fragmentizer.enqueue_bytes(&self.chunk[..n]),
            }
        }
    }

    /// Applies the limits to a finished fragment; `Some` when it ends the message early.
    async fn on_fragment<S>(
        &mut self,
        fragment: FragmentInfo,
        stream: &mut S,
    ) -> Result<Option<Received>, ReadFault>
    where
        S: AsyncWrite + Unpin,
    {
        self.fragment_start = fragment.range().end;
        match fragment {
            FragmentInfo::Literal { .. } => self.in_literal = false,
            FragmentInfo::Line { end, start, .. } if end - start > self.max_line + 2 => {
                return Err(ReadFault::LineTooLong);
            }
            FragmentInfo::Line {
                announcement: None, ..
            } => {}
            FragmentInfo::Line {
                announcement: Some(LiteralAnnouncement { mode, length }),
                ..
            } => {
                self.literal_total += u64::from(length);
                if self.literal_total > u64::from(self.max_literal) {
                    return match mode {
                        LiteralMode::NonSync => Err(ReadFault::LiteralTooLarge),
                        LiteralMode::Sync => {
                            let tag = self.fragmentizer.decode_tag().map(IntoStatic::into_static);
                            self.fragmentizer.skip_message();
                            self.fragment_start = 0;
                            self.literal_total = 0;
                            Ok(Some(Received::LiteralRefused(tag)))
                        }
                    };
                }
                self.in_literal = true;
                if mode == LiteralMode::Sync {
                    stream
                        .write_all(GO_AHEAD)
                        .await
                        .map_err(|_| ReadFault::Closed)?;
                    stream.flush().await.map_err(|_| ReadFault::Closed)?;
                }
            }
        }
        Ok(None)
    }

    fn decode(&self, expect: Expect) -> Received {
        let malformed =
            || Received::Malformed(self.fragmentizer.decode_tag().map(IntoStatic::into_static));
        match expect {
            Expect::Command => match self.fragmentizer.decode_message(&CommandCodec::default()) {
                Ok(command) => Received::Command(command.into_static(), ListOptions::default()),
                Err(_) => {
                    let message = self.fragmentizer.message_bytes();
                    let Some((list, options)) = extended_list::rewrite(message) else {
                        return malformed();
                    };
                    match CommandCodec::default().decode(&list) {
                        Ok((b"", command)) => Received::Command(command.into_static(), options),
                        _ => malformed(),
                    }
                }
            },
            Expect::AuthenticateData => {
                match self
                    .fragmentizer
                    .decode_message(&AuthenticateDataCodec::default())
                {
                    Ok(data) => Received::AuthenticateData(data.into_static()),
                    Err(_) => malformed(),
                }
            }
            Expect::IdleDone => match self.fragmentizer.decode_message(&IdleDoneCodec::default()) {
                Ok(_) => Received::IdleDone,
                Err(_) => malformed(),
            },
        }
    }
}

/// A fragmentizer whose message buffer holds one command at its largest: the literals'
/// limit plus room for the lines around them.
fn new_fragmentizer(max_line: u32, max_literal: u32) -> Fragmentizer {
    Fragmentizer::new(max_literal.saturating_add(max_line.saturating_mul(4)))
}
