//! Text matching for mail search, independent of any protocol: a prepared search string
//! that matches Vietnamese text with or without diacritics, and the decoded header fields
//! and body text of a stored message that it is matched against. Reads message bytes only;
//! never touches the store.

use std::sync::LazyLock;

use mail_parser::decoders::html::html_to_text;
use mail_parser::{HeaderName, HeaderValue, Message, MessageParser, PartType};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// A search string, prepared once: matches case-insensitively; when the needle has no
/// diacritics it also matches text with them ("ha noi" finds "Hà Nội", "đ" folds to "d"),
/// when it has them it matches only the same letters (so "Hà" does not find "Hạ").
///
/// Both sides are compared in NFC, lowercase, with every run of whitespace read as one
/// space, so a phrase still matches where a mail client wrapped the line inside it.
#[derive(Debug, Clone)]
pub struct TextMatcher {
    needle: Vec<char>,
    /// For each prefix length `n + 1` of `needle`, the length of its longest proper prefix
    /// that is also a suffix (Knuth–Morris–Pratt), so a haystack is read once, without
    /// backtracking and without allocating.
    borders: Vec<usize>,
    /// Whether haystacks are folded to unmarked letters before comparing.
    fold: bool,
    /// An ASCII haystack can only hold an ASCII needle.
    ascii: bool,
    /// The needle's longest run of ASCII digits, when it has one of two or more: no other
    /// character lowercases or folds to a digit, so a haystack holding the needle holds the
    /// run as written, and one without it (a document number searched for) is passed over
    /// at memchr's speed.
    digits: Option<memchr::memmem::Finder<'static>>,
}

impl TextMatcher {
    /// Prepares `needle` for matching.
    pub fn new(needle: &str) -> TextMatcher {
        let exact = comparable_string(needle.chars().nfc(), false);
        let folded = comparable_string(exact.iter().copied(), true);
        // A needle that folding leaves alone was typed without marks: the official wants
        // every marked spelling too. One with marks asks for exactly those letters.
        let fold = folded == exact;
        let needle = if fold { folded } else { exact };
        TextMatcher {
            borders: borders(&needle),
            ascii: needle.iter().all(char::is_ascii),
            digits: longest_digit_run(&needle),
            needle,
            fold,
        }
    }

    /// Whether `haystack` contains the needle.
    pub fn matches(&self, haystack: &str) -> bool {
        if haystack.is_ascii() || self.needle.is_empty() {
            return self.matches_nfc(haystack);
        }
        match is_nfc_quick(haystack.chars()) {
            IsNormalized::Yes => self.matches_nfc(haystack),
            IsNormalized::No | IsNormalized::Maybe => {
                self.occurs_in(haystack.chars().nfc(), self.fold)
            }
        }
    }

    /// Whether `haystack`, known to be in NFC (a [`MessageText`]'s), contains the needle.
    pub fn matches_nfc(&self, haystack: &str) -> bool {
        if self.needle.is_empty() {
            return true;
        }
        if self.cannot_hold(haystack) {
            return false;
        }
        if haystack.is_ascii() {
            // ASCII has nothing to fold.
            return self.ascii && self.occurs_in(haystack.bytes().map(char::from), false);
        }
        self.occurs_in(haystack.chars(), self.fold)
    }

    /// Whether `haystack` surely lacks the needle, without reading it character by character:
    /// it lacks the needle's digits as written. Folding drops stray combining marks, which
    /// could sit between digits ("2\u{301}986" folds to "2986"), so a folded comparison
    /// trusts the shortcut only for a haystack without any (their UTF-8 starts 0xCC or 0xCD).
    fn cannot_hold(&self, haystack: &str) -> bool {
        let Some(digits) = &self.digits else {
            return false;
        };
        let bytes = haystack.as_bytes();
        digits.find(bytes).is_none() && !(self.fold && memchr::memchr2(0xCC, 0xCD, bytes).is_some())
    }

    /// Streams `text` (NFC) through the needle's automaton.
    fn occurs_in(&self, text: impl Iterator<Item = char>, fold: bool) -> bool {
        let mut matched = 0;
        for_each_comparable(text, fold, |c| {
            while matched > 0 && self.needle[matched] != c {
                matched = self.borders[matched - 1];
            }
            if self.needle[matched] == c {
                matched += 1;
            }
            matched == self.needle.len()
        })
    }
}

/// A finder of `needle`'s longest run of ASCII digits, if it is two or more long.
fn longest_digit_run(needle: &[char]) -> Option<memchr::memmem::Finder<'static>> {
    let longest = needle
        .split(|c| !c.is_ascii_digit())
        .max_by_key(|run| run.len())
        .filter(|run| run.len() >= 2)?;
    let digits: String = longest.iter().collect();
    Some(memchr::memmem::Finder::new(digits.as_bytes()).into_owned())
}

/// The KMP border table of `needle`.
fn borders(needle: &[char]) -> Vec<usize> {
    let mut table = vec![0; needle.len()];
    let mut border = 0;
    for i in 1..needle.len() {
        while border > 0 && needle[i] != needle[border] {
            border = table[border - 1];
        }
        if needle[i] == needle[border] {
            border += 1;
        }
        table[i] = border;
    }
    table
}

/// `chars` (NFC) as compared, collected.
fn comparable_string(chars: impl Iterator<Item = char>, fold: bool) -> Vec<char> {
    let mut out = Vec::new();
    for_each_comparable(chars, fold, |c| {
        out.push(c);
        false
    });
    out
}

/// Feeds `chars` (NFC) to `take` as compared: lowercase, optionally folded, each run of
/// whitespace as one space. Stops, returning `true`, as soon as `take` does.
fn for_each_comparable(
    chars: impl Iterator<Item = char>,
    fold: bool,
    mut take: impl FnMut(char) -> bool,
) -> bool {
    let table = &*COMPARED;
    let mut after_space = false;
    let mut feed = |c: char| {
        if c == ' ' {
            if after_space {
                return false;
            }
            after_space = true;
            return take(' ');
        }
        after_space = false;
        take(c)
    };
    for c in chars {
        // Everything Vietnamese mail is written in has one entry: a lookup, not Unicode's
        // general case mapping, per character.
        if let Some(&Compared::One { exact, folded }) = table.get(c as usize) {
            let compared = if fold { folded } else { Some(exact) };
            if compared.is_some_and(&mut feed) {
                return true;
            }
            continue;
        }
        for lower in c.to_lowercase() {
            if compared_char(lower, fold).is_some_and(&mut feed) {
                return true;
            }
        }
    }
    false
}

/// How a character below [`TABLE_END`] is compared, worked out once.
#[derive(Debug, Clone, Copy)]
enum Compared {
    /// Lowercase, whitespace as a space, and the same folded (`None`: a mark that folding
    /// drops).
    One { exact: char, folded: Option<char> },
    /// Lowercases to more than one character (`İ`): worked out each time.
    Many,
}

/// The table covers Latin with every mark Vietnamese uses, Greek, Cyrillic and General
/// Punctuation (where typographic quotes, dashes and most Unicode spaces are).
const TABLE_END: u32 = 0x2100;

static COMPARED: LazyLock<Box<[Compared]>> = LazyLock::new(|| {
    (0..TABLE_END)
        .map(|code| {
            let Some(c) = char::from_u32(code) else {
                return Compared::Many;
            };
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(one), None) => Compared::One {
                    exact: compared_char(one, false).unwrap_or(one),
                    folded: compared_char(one, true),
                },
                _ => Compared::Many,
            }
        })
        .collect()
});

/// A lowercase character as compared: whitespace as a space, folded when asked.
fn compared_char(lower: char, fold: bool) -> Option<char> {
    if lower.is_whitespace() {
        return Some(' ');
    }
    if fold {
        unmarked(lower)
    } else {
        Some(lower)
    }
}

/// `c` without its marks: `ộ` and `ọ` become `o`, `đ` becomes `d` (which Unicode
/// decomposition alone does not do), a stray combining mark disappears. Only Latin letters
/// are folded, and only to one letter: `ß` and `æ` stay, and so do other scripts (deunicode
/// would spell `п` as `p`), because folding removes marks, it does not transliterate.
fn unmarked(c: char) -> Option<char> {
    if c.is_ascii() {
        return Some(c);
    }
    if COMBINING_MARKS.contains(&c) {
        return None;
    }
    if !c.is_alphabetic() || !MARKED_LATIN.iter().any(|block| block.contains(&c)) {
        return Some(c);
    }
    match deunicode::deunicode_char(c).map(str::as_bytes) {
        Some(&[plain]) if plain.is_ascii_alphabetic() => {
            Some(char::from(plain.to_ascii_lowercase()))
        }
        _ => Some(c),
    }
}

/// Combining Diacritical Marks: what NFC could not join to a letter.
const COMBINING_MARKS: std::ops::RangeInclusive<char> = '\u{0300}'..='\u{036F}';

/// The blocks holding every marked Latin letter Vietnamese uses: Latin-1 Supplement (`à`),
/// Latin Extended-A (`đ`, `ĩ`), Latin Extended-B (`ơ`, `ư`) and Latin Extended Additional
/// (`ạ`, `ộ`, `ỹ`).
const MARKED_LATIN: [std::ops::RangeInclusive<char>; 2] =
    ['\u{00C0}'..='\u{024F}', '\u{1E00}'..='\u{1EFF}'];

/// What SEARCH reads of a message: its header fields decoded and its body's text, in NFC.
/// Worked out once, when the body is stored, and kept as JSON beside it, so a search over a
/// mailbox reads text instead of parsing every message again, and matches it without
/// normalizing it again ([`TextMatcher::matches_nfc`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageText {
    /// Each header field, name lowercase, value decoded ([`decoded_headers`]).
    pub headers: Vec<(String, String)>,
    /// The body's text ([`body_text`]).
    pub body: String,
}

impl MessageText {
    /// The text of a message's bytes.
    pub fn of(message: &[u8]) -> MessageText {
        MessageText {
            headers: decoded_headers(message)
                .into_iter()
                .map(|(name, value)| (name, nfc(value)))
                .collect(),
            body: nfc(body_text(message)),
        }
    }

    /// The JSON it is stored as.
    pub fn to_json(&self) -> String {
        #[allow(
            clippy::expect_used,
            reason = "strings in plain structs always serialise"
        )]
        serde_json::to_string(self).expect("a message text serialises to JSON")
    }

    /// Texts stored as a JSON array of `[body id, text]` pairs; `None` if it is not one.
    ///
    /// The bytes are checked as UTF-8 in one vectorised pass (simdutf8) and then parsed as
    /// text, which serde_json does not check again: a search reads every text of a mailbox,
    /// and the usual character-by-character check cost a third of it.
    pub fn pairs_from_json(bytes: &[u8]) -> Option<Vec<(i64, MessageText)>> {
        let json = simdutf8::basic::from_utf8(bytes).ok()?;
        serde_json::from_str(json).ok()
    }
}

/// `text` in NFC, unchanged (not copied) when it is already.
fn nfc(text: String) -> String {
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => text,
        IsNormalized::No | IsNormalized::Maybe => text.nfc().collect(),
    }
}

/// Reads every header field as unstructured text, so encoded-words are decoded in address
/// fields too and nothing is dropped for not fitting a structured grammar.
static HEADER_TEXT: LazyLock<MessageParser> = LazyLock::new(|| {
    // An empty map would select mail-parser's built-in per-field parsers; one entry makes
    // it consult the map and fall back to the text default for every other field.
    MessageParser::new()
        .header_text(HeaderName::Subject)
        .default_header_text()
});

/// Decoded header fields of a message (name lowercase, value with encoded-words decoded).
pub fn decoded_headers(message: &[u8]) -> Vec<(String, String)> {
    let Some(parsed) = HEADER_TEXT.parse_headers(message) else {
        return Vec::new();
    };
    parsed
        .headers()
        .iter()
        .map(|header| {
            let value = match header.value() {
                HeaderValue::Text(text) => text.trim().to_string(),
                HeaderValue::TextList(list) => list.join(", "),
                HeaderValue::Empty => String::new(),
                _ => raw_value(message, header.offset_start(), header.offset_end()),
            };
            (header.name().to_ascii_lowercase(), value)
        })
        .collect()
}

/// The undecoded value between two offsets, for a field the text parser did not return as
/// text.
fn raw_value(message: &[u8], start: u32, end: u32) -> String {
    message
        .get(start as usize..end as usize)
        .map(|raw| String::from_utf8_lossy(raw).trim().to_string())
        .unwrap_or_default()
}

/// The decoded text of the message's body parts (text/plain and text/html stripped to text), for BODY/TEXT search.
pub fn body_text(message: &[u8]) -> String {
    let mut text = String::new();
    if let Some(parsed) = MessageParser::new().parse(message) {
        collect_text(&parsed, &mut text);
    }
    text
}

/// Appends the readable text of `message`: its body (the plain alternative where there is
/// one, so a multipart/alternative is not read twice), its text attachments, and attached
/// messages' headers and text.
fn collect_text(message: &Message<'_>, out: &mut String) {
    for pos in 0..message.text_body_count() {
        if let Some(text) = message.body_text(pos) {
            push_part(out, &text);
        }
    }
    for part in message.attachments() {
        match &part.body {
            PartType::Text(text) => push_part(out, text),
            PartType::Html(html) => push_part(out, &html_to_text(html)),
            PartType::Message(attached) => {
                for (_, value) in decoded_headers(attached.raw_message()) {
                    push_part(out, &value);
                }
                collect_text(attached, out);
            }
            PartType::Binary(_) | PartType::InlineBinary(_) | PartType::Multipart(_) => {}
        }
    }
}

/// Appends one part, kept apart from the previous so words do not run together.
fn push_part(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text);
}

#[cfg(test)]
mod tests;
