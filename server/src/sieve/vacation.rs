//! The portal's out-of-office setting as Sieve: what an official ticks and types on the
//! "Trả lời tự động khi vắng mặt" page, written as one block of their active script between
//! two marker lines, and read back out of it.
//!
//! The block lives inside whatever script the official's mail client keeps, so this module
//! owns the rules that keep the client's rules whole: the block goes right after the leading
//! `require` commands (RFC 5228 §3.2: they must come before any other command), an old block
//! is replaced rather than added to, and taking the block out gives back the script byte for
//! byte. A small scanner that knows comments, quoted strings and `text:` strings finds those
//! places; it never rewrites the client's text.
//!
//! Pure text in, text out: no storage, no HTTP. `scripts::Scripts` stores what comes out, and
//! only once it compiles.

use time::{Date, Month};

/// The line that opens the block.
pub const BEGIN_MARKER: &str = "# BEGIN congvu out-of-office";
/// The line that opens a block which came with the line break before it: a script whose last
/// `require` shares its line with a rule (or ends the script) had no line to start on.
const JOINED_MARKER: &str = "# BEGIN congvu out-of-office (with the line break above)";
/// The line that closes the block.
pub const END_MARKER: &str = "# END congvu out-of-office";
/// Characters a reply's subject may have.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Characters a reply's text may have.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// The subject the form offers, and the one used when the official leaves it empty.
pub const DEFAULT_SUBJECT: &str = "Trả lời tự động: đang vắng mặt";
/// The text the form offers.
pub const DEFAULT_MESSAGE: &str = "Tôi đang vắng mặt và sẽ trả lời thư của anh/chị khi trở lại.";
/// One reply per sender per day: a colleague who writes again the next day is reminded.
const REPLY_DAYS: u32 = 1;
/// Vietnam's time zone, in which every official counts their days (RFC 5260 §4 `:zone`).
const ZONE: &str = "+0700";

/// The setting as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfOffice {
    pub enabled: bool,
    /// The first day replies go, in Vietnam; `None`: from now.
    pub from: Option<Date>,
    /// The last day replies go, in Vietnam; `None`: until turned off.
    pub to: Option<Date>,
    pub subject: String,
    /// The reply's text, lines separated by `\n`.
    pub message: String,
}

impl Default for OutOfOffice {
    /// Off, with the Vietnamese subject and text the form offers.
    fn default() -> OutOfOffice {
        OutOfOffice {
            enabled: false,
            from: None,
            to: None,
            subject: DEFAULT_SUBJECT.to_owned(),
            message: DEFAULT_MESSAGE.to_owned(),
        }
    }
}

/// Where a stored setting stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No replies are set.
    Off,
    /// Replies go today.
    On,
    /// Replies are set and start on this day.
    Starts(Date),
    /// Replies were set and stopped after this day.
    Ended(Date),
}

/// Why what the official typed cannot be saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutOfOfficeError {
    #[error("the first day must be a date written YYYY-MM-DD")]
    BadFrom,
    #[error("the last day must be a date written YYYY-MM-DD")]
    BadTo,
    #[error("the last day comes before the first")]
    EndsBeforeStart,
    #[error("the subject is longer than {MAX_SUBJECT_CHARS} characters")]
    SubjectTooLong,
    #[error("the reply is longer than {MAX_MESSAGE_CHARS} characters")]
    MessageTooLong,
    #[error("the reply has no text")]
    NoMessage,
}

impl OutOfOffice {
    /// The setting from the form's fields. Turning replies off always succeeds and reads
    /// nothing else; turning them on checks every field. An empty subject is the default one;
    /// line breaks become `\n`, and the text loses control characters other than line breaks
    /// and tabs, and trailing white space.
    pub fn from_form(
        enabled: bool,
        from: &str,
        to: &str,
        subject: &str,
        message: &str,
    ) -> Result<OutOfOffice, OutOfOfficeError> {
        if !enabled {
            return Ok(OutOfOffice::default());
        }
        let from = optional_day(from).ok_or(OutOfOfficeError::BadFrom)?;
        let to = optional_day(to).ok_or(OutOfOfficeError::BadTo)?;
        if let (Some(first), Some(last)) = (from, to) {
            if last < first {
                return Err(OutOfOfficeError::EndsBeforeStart);
            }
        }
        let subject: String = subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let subject = match subject.trim() {
            "" => DEFAULT_SUBJECT.to_owned(),
            s => s.to_owned(),
        };
        if subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(OutOfOfficeError::SubjectTooLong);
        }
        let message: String = message
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .chars()
            .filter(|&c| !c.is_control() || c == '\n' || c == '\t')
            .collect();
        let message = message.trim_end().to_owned();
        if message.trim().is_empty() {
            return Err(OutOfOfficeError::NoMessage);
        }
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(OutOfOfficeError::MessageTooLong);
        }
        Ok(OutOfOffice {
            enabled,
            from,
            to,
            subject,
            message,
        })
    }

    /// Whether replies go on `today` (a day in Vietnam), or when they start or stopped: the
    /// block's `currentdate` tests decide the same way at delivery.
    pub fn standing(&self, today: Date) -> Standing {
        match (self.enabled, self.from, self.to) {
            (false, _, _) => Standing::Off,
            (true, Some(first), _) if today < first => Standing::Starts(first),
            (true, _, Some(last)) if last < today => Standing::Ended(last),
            (true, _, _) => Standing::On,
        }
    }

    /// The block, marker lines included, ending with a line break.
    ///
    /// The subject is a quoted string, the text a `text:` string (RFC 5228 §2.4.2), dot-stuffed.
    /// What the official typed must reach the reply as typed: a `"` is escaped, and a `\` or a
    /// `${` is written as an encoded character (RFC 5228 §2.4.2.4), since the interpreter
    /// reads a `\` before `n`, `r`, `t` or a closing quote otherwise than RFC 5228 does, and
    /// expands `${…}` in every string.
    pub fn to_sieve(&self) -> String {
        let mut block = format!(
            "{BEGIN_MARKER}\n\
             # Written by the portal's \"Out of office\" page, which replaces it on every save.\n\
             require [\"vacation\", \"date\", \"relational\", \"encoded-character\"];\n"
        );
        let dates: Vec<String> = [("ge", self.from), ("le", self.to)]
            .into_iter()
            .filter_map(|(relation, day)| {
                day.map(|day| {
                    format!(
                        "currentdate :zone \"{ZONE}\" :value \"{relation}\" \"date\" \"{}\"",
                        iso_day(day)
                    )
                })
            })
            .collect();
        let indent = if dates.is_empty() { "" } else { "    " };
        if !dates.is_empty() {
            block.push_str(&format!("if allof ({}) {{\n", dates.join(",\n          ")));
        }
        block.push_str(&format!(
            "{indent}vacation :days {REPLY_DAYS} :subject {} {};\n",
            quoted(&self.subject),
            multi_line(&self.message)
        ));
        if !dates.is_empty() {
            block.push_str("}\n");
        }
        block.push_str(END_MARKER);
        block.push('\n');
        block
    }
}

/// `script` with the setting in it: the block replaced or added when replies are on, taken
/// out when they are off. Every byte outside the block stays as it was.
pub fn merge(script: &str, setting: &OutOfOffice) -> String {
    let kept = without_block(script);
    if !setting.enabled {
        return kept;
    }
    let (at, joined) = insertion_point(&kept);
    let mut block = setting.to_sieve();
    if joined {
        block = format!("\n{}", block.replacen(BEGIN_MARKER, JOINED_MARKER, 1));
    }
    let mut merged = String::with_capacity(kept.len() + block.len());
    merged.push_str(&kept[..at]);
    merged.push_str(&block);
    merged.push_str(&kept[at..]);
    merged
}

/// The setting a script holds: `None` when it has no block. A block edited by hand reads as
/// on, with what could still be read of it.
pub fn read(script: &str) -> Option<OutOfOffice> {
    let (start, end) = find_block(script)?;
    Some(parse_block(&script[start..end]))
}

/// Whether `script` holds a block.
pub fn has_block(script: &str) -> bool {
    find_block(script).is_some()
}

/// `YYYY-MM-DD`, as forms send dates and Sieve's `date` part is written.
pub fn iso_day(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// A calendar date written exactly `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    let month: u8 = text[5..7].parse().ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// An empty field is no date (`Some(None)`); a bad one is `None`.
fn optional_day(text: &str) -> Option<Option<Date>> {
    match text.trim() {
        "" => Some(None),
        day => parse_day(day).map(Some),
    }
}

/// `text` as a quoted string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for (i, c) in text.char_indices() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str(ENCODED_BACKSLASH),
            '$' if text[i + 1..].starts_with('{') => out.push_str(ENCODED_DOLLAR),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` as a `text:` string: every line that starts with a dot gets another (RFC 5228
/// §2.4.2), and the line of one dot ends it.
fn multi_line(text: &str) -> String {
    let mut out = String::from("text:\n");
    for line in text.split('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        for (i, c) in line.char_indices() {
            match c {
                '$' if line[i + 1..].starts_with('{') => out.push_str(ENCODED_DOLLAR),
                c => out.push(c),
            }
        }
        out.push('\n');
    }
    out.push_str(".\n");
    out
}

const ENCODED_BACKSLASH: &str = "${hex:5C}";
const ENCODED_DOLLAR: &str = "${hex:24}";

/// The encoded characters [`quoted`] and [`multi_line`] write, decoded.
fn decoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let code = tail.get(..ENCODED_DOLLAR.len());
        if code.is_some_and(|c| c.eq_ignore_ascii_case(ENCODED_DOLLAR)) {
            out.push('$');
            rest = &tail[ENCODED_DOLLAR.len()..];
        } else if code.is_some_and(|c| c.eq_ignore_ascii_case(ENCODED_BACKSLASH)) {
            out.push('\\');
            rest = &tail[ENCODED_BACKSLASH.len()..];
        } else {
            out.push_str("${");
            rest = &tail[2..];
        }
    }
    out.push_str(rest);
    out
}

/// `script` without its block; itself when it has none.
fn without_block(script: &str) -> String {
    match find_block(script) {
        Some((start, end)) => format!("{}{}", &script[..start], &script[end..]),
        None => script.to_owned(),
    }
}

/// Where the block is: from the start of its first marker line (or the line break a joined
/// block came with) to just after its last. Markers count only as comments that start a line,
/// so a string that holds their words is not taken for them.
fn find_block(script: &str) -> Option<(usize, usize)> {
    let bytes = script.as_bytes();
    let mut begin = None;
    let mut at = 0;
    while at < bytes.len() {
        let (piece, end) = piece_at(bytes, at);
        if piece == Piece::HashComment && (at == 0 || bytes[at - 1] == b'\n') {
            let line = script[at..end].trim_end();
            if begin.is_none() && line == BEGIN_MARKER {
                begin = Some(at);
            } else if begin.is_none() && line == JOINED_MARKER {
                begin = Some(at.saturating_sub(1));
            } else if line == END_MARKER {
                if let Some(start) = begin {
                    return Some((start, end));
                }
            }
        }
        at = end;
    }
    None
}

/// Where the block goes: at the start of the line after the last leading `require` (comments
/// and white space may come between them), or at the very start when there is none. `true`
/// when the block must bring a line break: the `require` ends the script, or a rule follows it
/// on its line.
fn insertion_point(script: &str) -> (usize, bool) {
    let bytes = script.as_bytes();
    let mut at = 0;
    let mut after_require = None;
    while at < bytes.len() {
        let (piece, end) = piece_at(bytes, at);
        match piece {
            Piece::Space | Piece::HashComment | Piece::BracketComment => at = end,
            Piece::Word if script[at..end].eq_ignore_ascii_case("require") => {
                at = command_end(bytes, end);
                after_require = Some(at);
            }
            _ => break,
        }
    }
    let Some(after) = after_require else {
        return (0, false);
    };
    let mut i = after;
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    match bytes.get(i) {
        Some(b'\n') => (i + 1, false),
        Some(b'#') => {
            let (_, end) = piece_at(bytes, i);
            (end, bytes[end - 1] != b'\n')
        }
        None => (bytes.len(), true),
        Some(_) => (after, true),
    }
}

/// Just after the `;` that ends the command going on at `at`.
fn command_end(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() {
        let (piece, end) = piece_at(bytes, at);
        if piece == Piece::Other && bytes[at] == b';' {
            return end;
        }
        at = end;
    }
    bytes.len()
}

/// What starts at one place of a script, as Sieve's lexical rules see it (RFC 5228 §2.2–2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Space,
    /// `#` to the end of the line, its line break included.
    HashComment,
    /// `/* … */`.
    BracketComment,
    /// `"…"`, with `\` escapes.
    Quoted,
    /// `text:` to the line of one dot, that line included.
    MultiLine,
    /// An identifier or a number.
    Word,
    /// One byte of anything else: `;`, `:`, brackets, commas.
    Other,
}

/// The piece that starts at `at` (inside `bytes`) and where it ends. An unterminated comment
/// or string runs to the end.
fn piece_at(bytes: &[u8], at: usize) -> (Piece, usize) {
    let len = bytes.len();
    let from = |start: usize, pred: &dyn Fn(u8) -> bool| {
        (start..len).find(|&i| !pred(bytes[i])).unwrap_or(len)
    };
    match bytes[at] {
        b' ' | b'\t' | b'\r' | b'\n' => (
            Piece::Space,
            from(at, &|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')),
        ),
        b'#' => (Piece::HashComment, line_end(bytes, at)),
        b'/' if bytes.get(at + 1) == Some(&b'*') => {
            let end = (at + 2..len.saturating_sub(1))
                .find(|&i| bytes[i] == b'*' && bytes[i + 1] == b'/')
                .map_or(len, |i| i + 2);
            (Piece::BracketComment, end)
        }
        b'"' => {
            let mut i = at + 1;
            while i < len && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            (Piece::Quoted, (i + 1).min(len))
        }
        b if is_word_byte(b) => {
            let end = from(at, &|b| is_word_byte(b));
            if bytes[at..end].eq_ignore_ascii_case(b"text") && bytes.get(end) == Some(&b':') {
                (Piece::MultiLine, multi_line_end(bytes, end + 1))
            } else {
                (Piece::Word, end)
            }
        }
        _ => (Piece::Other, at + 1),
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Just after the line break of the line `at` is on, or the end.
fn line_end(bytes: &[u8], at: usize) -> usize {
    (at..bytes.len())
        .find(|&i| bytes[i] == b'\n')
        .map_or(bytes.len(), |i| i + 1)
}

/// The end of a `text:` string whose first line (the rest of the `text:` line) starts at `at`.
fn multi_line_end(bytes: &[u8], at: usize) -> usize {
    let mut line = line_end(bytes, at);
    while line < bytes.len() {
        let next = line_end(bytes, line);
        let text = &bytes[line..next];
        if matches!(text, b".\n" | b".\r\n" | b".") {
            return next;
        }
        line = next;
    }
    bytes.len()
}

/// A string's value as Sieve reads it, our encoded characters decoded.
fn string_value(bytes: &[u8], piece: Piece) -> String {
    let text = String::from_utf8_lossy(bytes);
    match piece {
        Piece::Quoted => {
            let inner = text.strip_prefix('"').unwrap_or(&text);
            let inner = inner.strip_suffix('"').unwrap_or(inner);
            let mut unescaped = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                unescaped.push(if c == '\\' {
                    chars.next().unwrap_or('\\')
                } else {
                    c
                });
            }
            decoded(&unescaped)
        }
        _ => {
            // The first line is the rest of the `text:` line; the last, the single dot.
            let mut value = String::new();
            for line in text.split_inclusive('\n').skip(1) {
                let bare = line.trim_end_matches(['\r', '\n']);
                if bare == "." {
                    break;
                }
                value.push_str(
                    line.strip_prefix('.')
                        .filter(|_| bare.starts_with(".."))
                        .unwrap_or(line),
                );
            }
            decoded(&value)
        }
    }
}

/// The setting a block says, read from its words and strings.
fn parse_block(block: &str) -> OutOfOffice {
    let bytes = block.as_bytes();
    let mut setting = OutOfOffice {
        enabled: true,
        subject: String::new(),
        message: String::new(),
        ..OutOfOffice::default()
    };
    // Words, tags (`:subject`), strings and `;`, in order; comments and space dropped.
    let mut tokens: Vec<(Piece, String)> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (piece, end) = piece_at(bytes, at);
        match piece {
            Piece::Word => tokens.push((piece, block[at..end].to_ascii_lowercase())),
            Piece::Quoted | Piece::MultiLine => {
                tokens.push((Piece::Quoted, string_value(&bytes[at..end], piece)))
            }
            Piece::Other if matches!(bytes[at], b';' | b':' | b',' | b')') => {
                tokens.push((piece, block[at..end].to_owned()))
            }
            _ => {}
        }
        at = end;
    }
    for (i, (piece, word)) in tokens.iter().enumerate() {
        if *piece != Piece::Word {
            continue;
        }
        let args = arguments(&tokens[i + 1..]);
        match word.as_str() {
            "currentdate" => read_date(&mut setting, &args),
            "vacation" => read_vacation(&mut setting, &args),
            _ => {}
        }
    }
    setting
}

/// The tokens of one test or command's arguments: up to the `,`, `)` or `;` that ends them.
fn arguments(tokens: &[(Piece, String)]) -> Vec<(Piece, String)> {
    tokens
        .iter()
        .take_while(|(piece, text)| {
            !(*piece == Piece::Other && matches!(text.as_str(), ";" | "," | ")"))
        })
        .cloned()
        .collect()
}

/// `currentdate … :value "ge"|"le" "date" "YYYY-MM-DD"`: the first or last day.
fn read_date(setting: &mut OutOfOffice, args: &[(Piece, String)]) {
    let strings: Vec<&str> = args
        .iter()
        .filter(|(piece, _)| *piece == Piece::Quoted)
        .map(|(_, text)| text.as_str())
        .collect();
    if let [.., relation, part, day] = strings.as_slice() {
        if !part.eq_ignore_ascii_case("date") {
            return;
        }
        match relation.to_ascii_lowercase().as_str() {
            "ge" => setting.from = parse_day(day),
            "le" => setting.to = parse_day(day),
            _ => {}
        }
    }
}

/// `vacation … :subject "…" "reason"`: the subject and the text.
fn read_vacation(setting: &mut OutOfOffice, args: &[(Piece, String)]) {
    let mut tokens = args.iter();
    while let Some((piece, text)) = tokens.next() {
        match (piece, text.as_str()) {
            (Piece::Other, ":") => {
                let tag = tokens.next().map(|(_, t)| t.as_str());
                // RFC 5230 §4 and RFC 6131: the tags that take a value; `:mime` takes none.
                let takes_value = matches!(
                    tag,
                    Some("days" | "seconds" | "subject" | "from" | "addresses" | "handle")
                );
                let value = if takes_value { tokens.next() } else { None };
                if let (Some("subject"), Some((Piece::Quoted, subject))) = (tag, value) {
                    setting.subject = subject.clone();
                }
            }
            (Piece::Quoted, reason) => {
                setting.message = reason.strip_suffix('\n').unwrap_or(reason).to_owned()
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
