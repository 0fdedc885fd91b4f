//! Reading archives: mbox files (Thunderbird's, mutt's, any mboxrd/mboxo) and Maildirs with
//! their Maildir++ subfolders, with mail-parser's readers. Each message comes out with CRLF
//! line ends (as IMAP serves them; archives on Unix keep bare LF), its date, its flags and
//! keywords, and where it was found, for error messages.
//!
//! Dates: an mbox message's `From ` line, else its `Date:` field; a Maildir file's
//! modification time, which Dovecot and Courier keep as the received date. Flags: Thunderbird's
//! `X-Mozilla-Status` bits and `X-Mozilla-Keys`, else `Status:`/`X-Status:` (mutt, pine);
//! Maildir's `:2,` letters and, for its lowercase keyword letters, Dovecot's
//! `dovecot-keywords` file.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::Context as _;
use congvu::clock::UnixTime;
use congvu::mailstore::{MessageFlags, SEPARATOR};
use mail_parser::mailbox::{maildir, mbox};

/// A message read from an archive.
#[derive(Debug)]
pub struct ArchivedMessage {
    pub bytes: Vec<u8>,
    pub internal_date: UnixTime,
    pub flags: MessageFlags,
    pub keywords: Vec<String>,
    /// The archive folder (a Maildir++ subfolder), decoded; `None` for the archive itself.
    pub folder: Option<String>,
    /// Where it was found: `FILE, message N` or the Maildir file's path.
    pub place: String,
}

/// A message that could not be read.
#[derive(Debug)]
pub struct Unreadable {
    /// The archive folder it was in, as for [`ArchivedMessage::folder`] (for the tally).
    pub folder: Option<String>,
    message: String,
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// An archive's messages, in order.
pub struct Archive {
    messages: Box<dyn Iterator<Item = Result<ArchivedMessage, Unreadable>>>,
}

impl Archive {
    /// The messages of the mbox file at `path`.
    pub fn mbox(path: &Path) -> anyhow::Result<Archive> {
        let file = File::open(path)
            .with_context(|| format!("{}: cannot open the mbox file", path.display()))?;
        let shown = path.display().to_string();
        let messages = mbox::MessageIterator::new(BufReader::new(file))
            .enumerate()
            .map(move |(index, item)| {
                let place = format!("{shown}, message {}", index + 1);
                match item {
                    Ok(message) => Ok(from_mbox(message, place)),
                    Err(error) => Err(Unreadable {
                        folder: None,
                        message: format!("{place}: cannot read: {error}"),
                    }),
                }
            });
        Ok(Archive {
            messages: Box::new(messages),
        })
    }

    /// The messages of the Maildir at `dir` and of its Maildir++ subfolders.
    pub fn maildir(dir: &Path) -> anyhow::Result<Archive> {
        if !dir.join("cur").is_dir() && !dir.join("new").is_dir() {
            anyhow::bail!(
                "{}: not a Maildir (no cur/ or new/ directory in it); give the directory that \
                 holds cur/, new/ and tmp/",
                dir.display()
            );
        }
        let folders = maildir::FolderIterator::new(dir, Some("."))
            .with_context(|| format!("{}: cannot read the Maildir", dir.display()))?;
        let root = dir.to_path_buf();
        let messages = folders.flat_map(move |folder| -> Box<dyn Iterator<Item = _>> {
            match folder {
                Ok(folder) => {
                    let name = folder.name().map(decode_folder);
                    let folder_dir = match folder.name() {
                        Some(raw) => root.join(format!(".{raw}")),
                        None => root.clone(),
                    };
                    let keywords = dovecot_keywords(&folder_dir);
                    Box::new(folder.map(move |item| match item {
                        Ok(message) => Ok(from_maildir(message, name.clone(), &keywords)),
                        Err(error) => Err(Unreadable {
                            folder: name.clone(),
                            message: format!(
                                "{}: cannot read a message: {error}",
                                folder_dir.display()
                            ),
                        }),
                    }))
                }
                Err(error) => Box::new(std::iter::once(Err(Unreadable {
                    folder: None,
                    message: format!("{}: cannot read a folder: {error}", root.display()),
                }))),
            }
        });
        Ok(Archive {
            messages: Box::new(messages),
        })
    }
}

impl Iterator for Archive {
    type Item = Result<ArchivedMessage, Unreadable>;

    fn next(&mut self) -> Option<Self::Item> {
        self.messages.next()
    }
}

fn from_mbox(message: mbox::Message, place: String) -> ArchivedMessage {
    let from_line_date = message.internal_date() as i64;
    let bytes = with_crlf(message.unwrap_contents());
    let header = header_fields(&bytes);
    let (flags, keywords) = mbox_flags(&header);
    let internal_date = if from_line_date > 0 {
        UnixTime(from_line_date)
    } else {
        date_field(&bytes).unwrap_or(UnixTime(0))
    };
    ArchivedMessage {
        bytes,
        internal_date,
        flags,
        keywords,
        folder: None,
        place,
    }
}

fn from_maildir(
    message: maildir::Message,
    folder: Option<String>,
    keywords_file: &HashMap<char, String>,
) -> ArchivedMessage {
    let place = message.path().display().to_string();
    let mut flags = MessageFlags::default();
    for flag in message.flags() {
        flags = flags.with(match flag {
            maildir::Flag::Seen => MessageFlags::SEEN,
            maildir::Flag::Replied => MessageFlags::ANSWERED,
            maildir::Flag::Flagged => MessageFlags::FLAGGED,
            maildir::Flag::Draft => MessageFlags::DRAFT,
            maildir::Flag::Trashed => MessageFlags::DELETED,
            maildir::Flag::Passed => MessageFlags::default(),
        });
    }
    let keywords = maildir_keyword_letters(message.path())
        .filter_map(|letter| keywords_file.get(&letter).cloned())
        .collect();
    let internal_date = UnixTime(message.internal_date() as i64);
    ArchivedMessage {
        bytes: with_crlf(message.unwrap_contents()),
        internal_date,
        flags,
        keywords,
        folder,
        place,
    }
}

/// The lowercase letters of a Maildir file name's `:2,` info: Dovecot's keywords.
fn maildir_keyword_letters(path: &Path) -> impl Iterator<Item = char> + '_ {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let info = name.rsplit_once(":2,").map_or("", |(_, info)| info);
    info.chars().filter(char::is_ascii_lowercase)
}

/// Dovecot's `dovecot-keywords` file of a Maildir folder: `0 Name` lines, letter `a` for 0.
fn dovecot_keywords(folder_dir: &Path) -> HashMap<char, String> {
    let Ok(text) = std::fs::read_to_string(folder_dir.join("dovecot-keywords")) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|line| {
            let (index, name) = line.split_once(' ')?;
            let index: u8 = index.trim().parse().ok().filter(|i| *i < 26)?;
            Some(((b'a' + index) as char, name.trim().to_string()))
        })
        .filter(|(_, name)| !name.is_empty())
        .collect()
}

/// A Maildir++ folder name (`Công văn.2023`, in modified UTF-7 as Dovecot writes it) as a
/// congvu folder name: decoded, levels joined by congvu's separator.
fn decode_folder(raw: &str) -> String {
    raw.split('.')
        .map(|level| congvu::imap::utf7::decode(level).unwrap_or_else(|| level.to_string()))
        .collect::<Vec<_>>()
        .join(&SEPARATOR.to_string())
}

/// `bytes` with every bare LF turned into CRLF.
fn with_crlf(bytes: Vec<u8>) -> Vec<u8> {
    let bare = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
        .count();
    if bare == 0 {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len() + bare);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// The header block's fields, names lowercase, values unfolded and trimmed.
fn header_fields(bytes: &[u8]) -> Vec<(String, String)> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |p| p + 2);
    let text = String::from_utf8_lossy(&bytes[..end]);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    fields
}

/// Flags and keywords from Thunderbird's `X-Mozilla-Status`/`X-Mozilla-Keys`, else from
/// `Status:`/`X-Status:`.
fn mbox_flags(fields: &[(String, String)]) -> (MessageFlags, Vec<String>) {
    let value = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let keywords = value("x-mozilla-keys")
        .map(|keys| keys.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    if let Some(bits) = value("x-mozilla-status").and_then(|v| u32::from_str_radix(v, 16).ok()) {
        let mut flags = MessageFlags::default();
        for (bit, flag) in [
            (0x0001, MessageFlags::SEEN),
            (0x0002, MessageFlags::ANSWERED),
            (0x0004, MessageFlags::FLAGGED),
            (0x0008, MessageFlags::DELETED),
        ] {
            if bits & bit != 0 {
                flags = flags.with(flag);
            }
        }
        return (flags, keywords);
    }
    let mut flags = MessageFlags::default();
    let letters = format!(
        "{}{}",
        value("status").unwrap_or(""),
        value("x-status").unwrap_or("")
    );
    for letter in letters.chars() {
        flags = flags.with(match letter {
            'R' => MessageFlags::SEEN,
            'A' => MessageFlags::ANSWERED,
            'F' => MessageFlags::FLAGGED,
            'D' => MessageFlags::DELETED,
            'T' => MessageFlags::DRAFT,
            _ => MessageFlags::default(),
        });
    }
    (flags, keywords)
}

/// The message's `Date:` field, when it has a readable one.
fn date_field(bytes: &[u8]) -> Option<UnixTime> {
    let parsed = mail_parser::MessageParser::new()
        .with_minimal_headers()
        .parse_headers(bytes)?;
    parsed.date().map(|d| UnixTime(d.to_timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_line_feeds_become_crlf_and_crlf_stays() {
        assert_eq!(with_crlf(b"a\nb\r\nc\n".to_vec()), b"a\r\nb\r\nc\r\n");
        assert_eq!(with_crlf(b"a\r\n".to_vec()), b"a\r\n");
        assert_eq!(with_crlf(b"\n".to_vec()), b"\r\n");
    }

    #[test]
    fn thunderbird_status_bits_and_keys_are_read() {
        let fields = header_fields(
            b"X-Mozilla-Status: 0005\r\nX-Mozilla-Keys: $label1 important\r\nSubject: x\r\n\r\nbody",
        );
        let (flags, keywords) = mbox_flags(&fields);
        assert_eq!(flags, MessageFlags::SEEN.with(MessageFlags::FLAGGED));
        assert_eq!(keywords, ["$label1", "important"]);
    }

    #[test]
    fn mutt_status_letters_are_read() {
        let fields = header_fields(b"Status: RO\r\nX-Status: AF\r\n\r\n");
        let (flags, _) = mbox_flags(&fields);
        assert_eq!(
            flags,
            MessageFlags::SEEN
                .with(MessageFlags::ANSWERED)
                .with(MessageFlags::FLAGGED)
        );
    }

    #[test]
    fn maildir_keyword_letters_follow_the_info() {
        let path = Path::new("/m/cur/1700000000.M1P2.host,S=10:2,FSab");
        assert_eq!(maildir_keyword_letters(path).collect::<String>(), "ab");
    }

    #[test]
    fn maildir_plus_plus_names_are_decoded_into_levels() {
        assert_eq!(decode_folder("C&APQ-ng v&AQM-n.2023"), "Công văn/2023");
    }
}
