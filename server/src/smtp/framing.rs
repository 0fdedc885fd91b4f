//! SMTP framing, sans-IO: command lines and the DATA stream. Both take whatever bytes have
//! arrived and answer "need more" on a partial frame, so the result never depends on how the
//! input was split into reads (the tests feed every split).
//!
//! Only CRLF ends a line, and only `CRLF . CRLF` ends DATA (RFC 5321 §4.1.1.4): a bare CR or
//! LF anywhere is reported, never taken as a line end, which is what defeats SMTP smuggling
//! (a second message hidden behind `LF . CRLF` or `CR . CR` in the first).

/// The outcome of looking for one command line at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStatus {
    /// A whole line of this many bytes, CRLF included.
    Line(usize),
    /// No line end yet and still under the limit.
    NeedMore,
    /// No line end within the limit.
    TooLong,
    /// A line of this many bytes (LF included) holding a CR or LF that is not part of CRLF.
    BareNewline(usize),
}

/// Finds the first line in `buf`, at most `max` bytes long including CRLF.
pub fn command_line(buf: &[u8], max: usize) -> LineStatus {
    let window = &buf[..buf.len().min(max)];
    match memchr(b'\n', window) {
        Some(lf) => {
            let line = &buf[..=lf];
            let crlf = lf > 0 && buf[lf - 1] == b'\r';
            let inner = &line[..if crlf { lf - 1 } else { lf }];
            if !crlf || inner.contains(&b'\r') {
                LineStatus::BareNewline(lf + 1)
            } else {
                LineStatus::Line(lf + 1)
            }
        }
        None if buf.len() >= max => LineStatus::TooLong,
        None => LineStatus::NeedMore,
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// What was wrong with a message, found while reading it; the message is refused whole.
/// The refusal names the fault of the first faulty line; when that line has several, the
/// first of them in this order. So it never depends on how the stream was cut into reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFault {
    /// Larger than the limit; reading went on without keeping the bytes.
    TooLarge,
    /// A CR or LF not part of CRLF.
    BareNewline,
    /// A line longer than the limit (RFC 5321 §4.5.3.1.6: 1000 octets with CRLF).
    LineTooLong,
}

impl DataFault {
    /// Which fault a refusal names, first first.
    const PRIORITY: [DataFault; 3] = [
        DataFault::BareNewline,
        DataFault::LineTooLong,
        DataFault::TooLarge,
    ];

    fn bit(self) -> u8 {
        match self {
            DataFault::TooLarge => 1,
            DataFault::BareNewline => 2,
            DataFault::LineTooLong => 4,
        }
    }
}

/// Reads a DATA stream: removes dot-stuffing, stops at `CRLF . CRLF`, keeps at most
/// `max_size` bytes and checks every line.
#[derive(Debug)]
pub struct DataReader {
    max_size: usize,
    max_line: usize,
    message: Vec<u8>,
    /// The bytes of the message after unstuffing, counted on after a fault.
    size: usize,
    /// The fault of the first faulty line, once that line is complete.
    fault: Option<DataFault>,
    /// The kinds of fault found in the line being read ([`DataFault::bit`]).
    line_faults: u8,
    /// The line being read: its first bytes (enough to recognise `.CRLF`), its length so far
    /// and its last byte.
    line_head: [u8; 3],
    line_len: usize,
    last: u8,
    /// Bytes of the current line held back because it may yet turn out to be `.CRLF` split
    /// across reads (they are in `line_head`).
    held: usize,
    /// Whether the previous line ended with CRLF: only then may `.CRLF` end the data.
    after_crlf: bool,
}

impl DataReader {
    /// A reader for one message.
    pub fn new(max_size: usize, max_line: usize) -> DataReader {
        DataReader {
            max_size,
            max_line,
            message: Vec::new(),
            size: 0,
            fault: None,
            line_faults: 0,
            line_head: [0; 3],
            line_len: 0,
            last: 0,
            held: 0,
            // DATA's own line ended with CRLF.
            after_crlf: true,
        }
    }

    /// Takes bytes from `input`. Returns `Some(n)` when the end of data was found after `n`
    /// bytes (the rest belongs to the next command), `None` when all of `input` was taken
    /// and more is needed.
    pub fn feed(&mut self, input: &[u8]) -> Option<usize> {
        let mut at = 0;
        while at < input.len() {
            let rest = &input[at..];
            let (piece, ends_line) = match memchr(b'\n', rest) {
                Some(lf) => (&rest[..=lf], true),
                None => (rest, false),
            };
            at += piece.len();
            if self.take(piece, ends_line) {
                return Some(at);
            }
        }
        None
    }

    /// The message read, or why it is refused. Call after [`DataReader::feed`] found the end.
    pub fn finish(mut self) -> Result<Vec<u8>, DataFault> {
        self.settle_line();
        match self.fault {
            Some(fault) => Err(fault),
            None => Ok(self.message),
        }
    }

    /// Fixes the fault of the line just read, if it is the first faulty line.
    fn settle_line(&mut self) {
        if self.fault.is_none() {
            self.fault = DataFault::PRIORITY
                .into_iter()
                .find(|f| self.line_faults & f.bit() != 0);
        }
        self.line_faults = 0;
    }

    /// Takes one piece of a line; returns true at the end-of-data line.
    fn take(&mut self, piece: &[u8], ends_line: bool) -> bool {
        let start = self.line_len;
        for (i, &b) in piece.iter().enumerate().take(3usize.saturating_sub(start)) {
            self.line_head[start + i] = b;
        }
        // A CR inside the line (not the one before its LF) is bare.
        let body_end = if ends_line {
            piece.len() - 1
        } else {
            piece.len()
        };
        let mut prev = self.last;
        for &b in &piece[..body_end] {
            if prev == b'\r' {
                self.fault(DataFault::BareNewline);
            }
            prev = b;
        }
        self.line_len += piece.len();
        if let Some(&b) = piece.last() {
            self.last = b;
        }
        if !ends_line {
            if self.line_len > self.max_line {
                self.fault(DataFault::LineTooLong);
            }
            let may_end = self.after_crlf
                && self.line_head[0] == b'.'
                && (self.line_len == 1 || (self.line_len == 2 && self.line_head[1] == b'\r'));
            if may_end {
                self.held = self.line_len;
            } else {
                self.keep_held();
                self.keep(piece, start);
            }
            return false;
        }
        let crlf = prev == b'\r';
        if !crlf {
            self.fault(DataFault::BareNewline);
        }
        let is_end = crlf && self.after_crlf && self.line_len == 3 && self.line_head[0] == b'.';
        if !is_end {
            if self.line_len > self.max_line {
                self.fault(DataFault::LineTooLong);
            }
            self.keep_held();
            self.keep(piece, start);
        }
        self.settle_line();
        self.held = 0;
        self.after_crlf = crlf;
        self.line_len = 0;
        self.last = 0;
        is_end
    }

    /// Appends the bytes held back at the start of this line: it is not the end after all.
    fn keep_held(&mut self) {
        if self.held > 0 {
            let head = self.line_head;
            let held = std::mem::take(&mut self.held);
            self.keep(&head[..held], 0);
        }
    }

    /// Appends a piece of a line that began `start` bytes earlier, removing the stuffed dot
    /// (RFC 5321 §4.5.2); once the message is refused, only counts it.
    fn keep(&mut self, piece: &[u8], start: usize) {
        let piece = if start == 0 && piece.first() == Some(&b'.') {
            &piece[1..]
        } else {
            piece
        };
        self.size = self.size.saturating_add(piece.len());
        if self.size > self.max_size {
            self.fault(DataFault::TooLarge);
        }
        if self.fault.is_none() && self.line_faults == 0 {
            self.message.extend_from_slice(piece);
        }
    }

    fn fault(&mut self, fault: DataFault) {
        // The message is refused: its bytes are not needed any more, free them now.
        self.message = Vec::new();
        self.line_faults |= fault.bit();
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
