//! Reading LDIF content records (RFC 2849) as `slapcat`, 389-DS's `db2ldif`, `ldapsearch -L`
//! and Zimbra's exports write them: `version:`, comments, folded lines, `::` base64 values
//! and DNs, attribute options, LF or CRLF line ends, with the line on which every entry and
//! value starts.
//!
//! Hand-written because no maintained Rust crate reads LDIF (the few on crates.io are young
//! and report no line numbers); the grammar read here is small, and the tests below and the
//! end-to-end tests against a real `slapcat` export hold it to the RFC.
//!
//! A fault inside an entry (broken base64, a line that is no `attribute: value`, a value that
//! points to a file) spoils that entry alone: it comes back as a [`Record::Broken`] with the
//! line and what is wrong, and the entries around it are read as usual.

use base64::Engine as _;

/// One value of an entry, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub line: u64,
    pub bytes: Vec<u8>,
}

/// One entry: its DN and its attributes, names lowercased and options (`;lang-vi`)
/// dropped, values in file order.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The line of its `dn:`.
    pub line: u64,
    pub dn: String,
    pub attributes: Vec<(String, Value)>,
}

impl std::fmt::Debug for Entry {
    // `userPassword` holds hashes or clear-text passwords: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let attributes: Vec<(&str, &dyn std::fmt::Debug)> = self
            .attributes
            .iter()
            .map(|(name, value)| {
                let shown: &dyn std::fmt::Debug = if name == "userpassword" {
                    &"…"
                } else {
                    value
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("Entry")
            .field("line", &self.line)
            .field("dn", &self.dn)
            .field("attributes", &attributes)
            .finish()
    }
}

impl Entry {
    /// Every value of `name` (lowercase), in file order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.attributes
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// What one record of the file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Entry(Entry),
    /// A record that could not be read: the line of the fault, and what is wrong.
    Broken {
        line: u64,
        reason: String,
    },
}

/// One logical line: its text after unfolding, and the physical line it starts on.
struct Logical {
    line: u64,
    text: Vec<u8>,
}

/// Reads every record of `bytes`.
pub fn records(bytes: &[u8]) -> Vec<Record> {
    let mut records = Vec::new();
    let mut current: Vec<Logical> = Vec::new();
    let mut first = true;
    for block in logical_lines(bytes) {
        match block {
            Some(line) => current.push(line),
            None => {
                if !current.is_empty() {
                    let lines = std::mem::take(&mut current);
                    if let Some(record) = record(lines, first) {
                        records.push(record);
                    }
                    first = false;
                }
            }
        }
    }
    if !current.is_empty() {
        if let Some(record) = record(current, first) {
            records.push(record);
        }
    }
    records
}

/// The file's logical lines, `None` for each blank line that separates records; comments
/// (with their continuation lines) are left out.
fn logical_lines(bytes: &[u8]) -> Vec<Option<Logical>> {
    let mut out: Vec<Option<Logical>> = Vec::new();
    let mut in_comment = false;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = n as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix(b" ") {
            // RFC 2849 note 2: a line starting with one space continues the previous one.
            if in_comment {
                continue;
            }
            match out.last_mut() {
                Some(Some(previous)) => previous.text.extend_from_slice(rest),
                _ => out.push(Some(Logical {
                    line,
                    text: raw.to_vec(),
                })),
            }
            continue;
        }
        in_comment = raw.starts_with(b"#");
        if in_comment {
            continue;
        }
        if raw.is_empty() {
            out.push(None);
        } else {
            out.push(Some(Logical {
                line,
                text: raw.to_vec(),
            }));
        }
    }
    out
}

/// One record from its logical lines; `None` for the `version:` line heading the file.
fn record(lines: Vec<Logical>, first: bool) -> Option<Record> {
    let mut lines = lines.into_iter().peekable();
    if first {
        if let Some(l) = lines.peek() {
            if l.text.to_ascii_lowercase().starts_with(b"version:") {
                lines.next();
                lines.peek()?;
            }
        }
    }
    let head = lines.next()?;
    let broken = |line: u64, reason: String| Some(Record::Broken { line, reason });
    let (name, dn) = match spec(&head) {
        Ok(pair) => pair,
        Err(reason) => return broken(head.line, reason),
    };
    if name != "dn" {
        return broken(
            head.line,
            format!("an entry must start with dn:, not {name}:"),
        );
    }
    let Ok(dn) = String::from_utf8(dn.bytes) else {
        return broken(head.line, "the DN is not UTF-8".into());
    };
    let mut attributes = Vec::new();
    for l in lines {
        match spec(&l) {
            Ok((name, _)) if name == "changetype" => {
                return broken(
                    l.line,
                    "a change record (changetype:), not an entry: export the directory with slapcat, db2ldif or ldapsearch".into(),
                )
            }
            Ok((name, value)) => attributes.push((name, value)),
            Err(reason) => return broken(l.line, reason),
        }
    }
    Some(Record::Entry(Entry {
        line: head.line,
        dn,
        attributes,
    }))
}

/// Splits `attribute: value`, `attribute:: base64` or `attribute:< url` (refused).
fn spec(l: &Logical) -> Result<(String, Value), String> {
    let Some(colon) = l.text.iter().position(|&b| b == b':') else {
        return Err(format!(
            "\"{}\" is not an attribute: value line",
            String::from_utf8_lossy(&l.text)
                .chars()
                .take(40)
                .collect::<String>()
        ));
    };
    let description = &l.text[..colon];
    let name = std::str::from_utf8(description)
        .ok()
        .and_then(|d| d.split(';').next())
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        })
        .ok_or_else(|| {
            format!(
                "\"{}\" is not an attribute name",
                String::from_utf8_lossy(description)
            )
        })?
        .to_ascii_lowercase();
    let rest = &l.text[colon + 1..];
    let bytes = match rest.first() {
        Some(b':') => {
            let encoded: Vec<u8> = rest[1..]
                .iter()
                .copied()
                .filter(|b| *b != b' ')
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&encoded)
                .map_err(|e| format!("the base64 value of {name} is broken ({e})"))?
        }
        Some(b'<') => {
            return Err(format!(
                "the value of {name} is a reference to a file (:<): export the values inline, as slapcat does"
            ))
        }
        _ => trim_fill(rest).to_vec(),
    };
    Ok((
        name,
        Value {
            line: l.line,
            bytes,
        },
    ))
}

/// Drops the spaces after the colon (RFC 2849 FILL).
fn trim_fill(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|&b| b != b' ').unwrap_or(value.len());
    &value[start..]
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
