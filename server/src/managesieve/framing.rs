//! Reading ManageSieve commands (RFC 5804 §4): a command is a line of words, atoms, quoted
//! strings and numbers, where a string may instead be a literal, `{n+}` (or `{n}`) at the end
//! of a line followed by `n` raw bytes, after which the line goes on.
//!
//! The byte stream is split into lines and literals by imap-codec's fragmentizer, whose
//! literal syntax is ManageSieve's, with a bound on what one command may hold; only the words
//! of a line are read here. A literal larger than a script may be is read through without
//! being kept and the command refused; one announced larger than anyone would send ends the
//! connection, as its bytes could not be told from commands without reading them all.

use std::time::Duration;

use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LineEnding};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Literal bytes one command may announce before the connection is closed rather than the
/// command refused.
const MAX_ANNOUNCED: u64 = 64 * 1024 * 1024;
/// Longest quoted string (RFC 5804 §4 limits them to 1024 octets).
const MAX_QUOTED: usize = 1024;

/// One word of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Word {
    /// An atom: the command's name, or a number.
    Atom(String),
    /// A quoted string or a literal, as bytes.
    Text(Vec<u8>),
}

/// A command as read: its name in upper case and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Command {
    pub name: String,
    pub args: Vec<Word>,
}

impl Command {
    /// The command a line's words make: its name first.
    pub(super) fn from_words(words: Vec<Word>) -> Result<Command, &'static str> {
        let mut words = words.into_iter();
        match words.next() {
            Some(Word::Atom(name)) => Ok(Command {
                name: name.to_ascii_uppercase(),
                args: words.collect(),
            }),
            Some(Word::Text(_)) => Err("a command begins with its name"),
            None => Err("empty command"),
        }
    }
}

/// What the client sent.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Received {
    /// A line's words, literals in their places: a command, or a SASL response.
    Words(Vec<Word>),
    /// A command holding more than a script may be; it was read through and is refused.
    TooLarge,
    /// Bytes that are not a command, with why.
    Malformed(&'static str),
}

/// Why nothing more can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadFault {
    Closed,
    TimedOut,
    LineTooLong,
    LiteralTooLarge,
}

/// Reads commands under a session's limits.
#[derive(Debug)]
pub(super) struct Reader {
    fragmentizer: Fragmentizer,
    max_line: usize,
    max_command: u32,
    /// Where the fragment being received starts within the current command.
    fragment_start: usize,
    in_literal: bool,
    announced: u64,
    /// The current command's fragments, in order.
    fragments: Vec<FragmentInfo>,
    chunk: Box<[u8]>,
}

impl Reader {
    /// A reader for lines of at most `max_line` bytes and commands of at most
    /// `max_command` bytes, literals included.
    pub(super) fn new(max_line: usize, max_command: u32) -> Reader {
        Reader {
            fragmentizer: Fragmentizer::new(max_command),
            max_line,
            max_command,
            fragment_start: 0,
            in_literal: false,
            announced: 0,
            fragments: Vec::new(),
            chunk: vec![0; 16 * 1024].into_boxed_slice(),
        }
    }

    /// Forgets what was received and not yet read: after STARTTLS, plaintext the client sent
    /// behind the command is not taken as commands.
    pub(super) fn discard_buffered(&mut self) {
        *self = Reader::new(self.max_line, self.max_command);
    }

    /// Reads the next command, waiting at most `idle` for each piece of it.
    pub(super) async fn next<S>(
        &mut self,
        stream: &mut S,
        idle: Duration,
    ) -> Result<Received, ReadFault>
    where
        S: AsyncRead + Unpin,
    {
        loop {
            while let Some(fragment) = self.fragmentizer.progress() {
                self.on_fragment(fragment)?;
                if self.fragmentizer.is_message_complete() {
                    let received = self.command();
                    self.fragment_start = 0;
                    self.announced = 0;
                    self.fragments.clear();
                    return Ok(received);
                }
            }
            // Past the command limit the fragmentizer keeps no more bytes, so the count may
            // be behind where the fragment started.
            let pending =
                (self.fragmentizer.message_bytes().len()).saturating_sub(self.fragment_start);
            if !self.in_literal && pending > self.max_line {
                return Err(ReadFault::LineTooLong);
            }
            match tokio::time::timeout(idle, stream.read(&mut self.chunk)).await {
                Err(_) => return Err(ReadFault::TimedOut),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(ReadFault::Closed),
                Ok(Ok(n)) => self.fragmentizer.enqueue_bytes(&self.chunk[..n]),
            }
        }
    }

    fn on_fragment(&mut self, fragment: FragmentInfo) -> Result<(), ReadFault> {
        self.fragment_start = fragment.range().end;
        self.fragments.push(fragment);
        match fragment {
            FragmentInfo::Literal { .. } => self.in_literal = false,
            FragmentInfo::Line { start, end, .. } if end - start > self.max_line + 2 => {
                return Err(ReadFault::LineTooLong)
            }
            FragmentInfo::Line {
                announcement: Some(announcement),
                ..
            } => {
                self.announced += u64::from(announcement.length);
                if self.announced > MAX_ANNOUNCED {
                    return Err(ReadFault::LiteralTooLarge);
                }
                self.in_literal = true;
            }
            FragmentInfo::Line { .. } => {}
        }
        Ok(())
    }

    /// The complete command just read.
    fn command(&self) -> Received {
        if self.fragmentizer.is_max_message_size_exceeded() {
            return Received::TooLarge;
        }
        let mut words = Vec::new();
        for fragment in &self.fragments {
            let bytes = self.fragmentizer.fragment_bytes(*fragment);
            match fragment {
                FragmentInfo::Literal { .. } => words.push(Word::Text(bytes.to_vec())),
                FragmentInfo::Line {
                    announcement,
                    ending,
                    ..
                } => {
                    let line = strip_line(bytes, *ending, announcement.is_some());
                    if let Err(why) = split_words(line, &mut words) {
                        return Received::Malformed(why);
                    }
                }
            }
        }
        Received::Words(words)
    }
}

/// A line without its ending and, when a literal follows, without the `{n+}` announcing it.
fn strip_line(bytes: &[u8], ending: LineEnding, announces: bool) -> &[u8] {
    let ending = match ending {
        LineEnding::CrLf => 2,
        LineEnding::Lf => 1,
    };
    let line = &bytes[..bytes.len().saturating_sub(ending)];
    if !announces {
        return line;
    }
    match line.iter().rposition(|&b| b == b'{') {
        Some(brace) => &line[..brace],
        None => line,
    }
}

/// Appends the words of `line` to `words`: atoms and quoted strings separated by spaces.
pub(super) fn split_words(line: &[u8], words: &mut Vec<Word>) -> Result<(), &'static str> {
    let mut rest = line;
    loop {
        while let [b' ', tail @ ..] = rest {
            rest = tail;
        }
        match rest {
            [] => return Ok(()),
            [b'"', tail @ ..] => {
                let (text, after) = quoted(tail)?;
                words.push(Word::Text(text));
                rest = after;
            }
            _ => {
                let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                let atom = &rest[..end];
                if !atom.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-') {
                    return Err("unexpected characters; strings are quoted");
                }
                words.push(Word::Atom(String::from_utf8_lossy(atom).into_owned()));
                rest = &rest[end..];
            }
        }
    }
}

/// A quoted string's text up to its closing quote, and what follows it.
fn quoted(bytes: &[u8]) -> Result<(Vec<u8>, &[u8]), &'static str> {
    let mut text = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let after = &bytes[i + 1..];
                if !matches!(after, [] | [b' ', ..]) {
                    return Err("a quoted string must be followed by a space");
                }
                return Ok((text, after));
            }
            b'\\' => match bytes.get(i + 1) {
                Some(&c @ (b'"' | b'\\')) => {
                    text.push(c);
                    i += 1;
                }
                _ => return Err("only \\\" and \\\\ may be escaped in a quoted string"),
            },
            b'\r' | b'\n' | 0 => return Err("a quoted string may not hold line breaks"),
            c => text.push(c),
        }
        if text.len() > MAX_QUOTED {
            return Err("a quoted string is at most 1024 bytes; send a literal");
        }
        i += 1;
    }
    Err("a quoted string is not closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], max_command: u32) -> Vec<Result<Received, ReadFault>> {
        let mut reader = Reader::new(1024, max_command);
        let mut stream = input;
        let mut out = Vec::new();
        loop {
            let next = reader.next(&mut stream, Duration::from_secs(1)).await;
            let end = next.is_err();
            out.push(next);
            if end {
                return out;
            }
        }
    }

    fn command(name: &str, args: Vec<Word>) -> Result<Received, ReadFault> {
        let mut words = vec![Word::Atom(name.into())];
        words.extend(args);
        Ok(Received::Words(words))
    }

    fn text(s: &str) -> Word {
        Word::Text(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn atoms_quoted_strings_and_literals_make_one_command() {
        let input = b"putscript \"Lo\\\"c\" {11+}\r\nkeep;\r\nstop\r\nnoop\r\n";
        let read = read_all(input, 4096).await;
        let put = vec![text("Lo\"c"), text("keep;\r\nstop")];
        let Ok(Received::Words(words)) = &read[0] else {
            panic!("{read:?}")
        };
        let parsed = Command::from_words(words.clone()).unwrap();
        assert_eq!((parsed.name.as_str(), &parsed.args), ("PUTSCRIPT", &put));
        assert_eq!(read[1], command("noop", vec![]));
        assert_eq!(read[2], Err(ReadFault::Closed));
    }

    #[tokio::test]
    async fn a_synchronising_literal_and_words_after_a_literal_are_read() {
        let input = b"RENAMESCRIPT {3}\r\nold \"new\"\r\nHAVESPACE \"s\" 100\r\n";
        let read = read_all(input, 4096).await;
        assert_eq!(
            read[0],
            command("RENAMESCRIPT", vec![text("old"), text("new")])
        );
        let number = Word::Atom("100".into());
        assert_eq!(read[1], command("HAVESPACE", vec![text("s"), number]));
    }

    #[tokio::test]
    async fn a_literal_over_the_command_limit_is_read_through_and_refused() {
        let mut input = b"PUTSCRIPT \"big\" {5000+}\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'#', 5000));
        input.extend_from_slice(b"\r\nLOGOUT\r\n");
        let read = read_all(&input, 1024).await;
        assert_eq!(read[0], Ok(Received::TooLarge));
        assert_eq!(read[1], command("LOGOUT", vec![]));
        let mut input = b"PUTSCRIPT \"huge\" {10485760+}\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'#', 10_485_760));
        input.extend_from_slice(b"\r\nLOGOUT\r\n");
        let read = read_all(&input, 72 * 1024).await;
        assert_eq!(read[0], Ok(Received::TooLarge));
        assert_eq!(read[1], command("LOGOUT", vec![]));
    }

    #[tokio::test]
    async fn a_literal_announced_past_all_reason_ends_the_connection() {
        let read = read_all(b"PUTSCRIPT \"x\" {4000000000+}\r\n", 1024).await;
        assert_eq!(read[0], Err(ReadFault::LiteralTooLarge));
    }

    #[tokio::test]
    async fn a_long_line_ends_the_connection() {
        let mut input = b"NOOP \"".to_vec();
        input.extend(std::iter::repeat_n(b'a', 3000));
        let read = read_all(&input, 8192).await;
        assert_eq!(read[0], Err(ReadFault::LineTooLong));
    }

    #[test]
    fn malformed_words_are_named() {
        let mut words = Vec::new();
        assert!(split_words(b"GETSCRIPT \"open", &mut words).is_err());
        assert!(split_words(b"GETSCRIPT \"a\"b", &mut words).is_err());
        assert!(split_words(b"GETSCRIPT (x)", &mut words).is_err());
        assert!(split_words(b"GETSCRIPT \"a\\n\"", &mut words).is_err());
        words.clear();
        split_words("SETACTIVE \"Thư đến\"".as_bytes(), &mut words).unwrap();
        assert_eq!(words[1], text("Thư đến"));
    }
}
