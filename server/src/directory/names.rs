//! Vietnamese personal names to mail addresses: the address rule (`{given}{initials}` turns
//! `Nguyễn Văn An` into `annv`), transliteration without diacritics (`đ` becomes `d`, which
//! Unicode decomposition alone does not do), and numbering on collision (`annv2`, `annv3`).

use std::collections::HashSet;

use super::{DirectoryError, PersonName};

/// A parsed address rule: literal text and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRule {
    parts: Vec<RulePart>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    /// The given name: `an`.
    Given,
    /// The family name: `nguyen`.
    Family,
    /// The middle names run together: `vanhong`.
    Middle,
    /// Initials of the family and middle names: `nv` for Nguyễn Văn.
    Initials,
    /// Initial of the family name: `n`.
    FamilyInitial,
    /// Initials of the middle names: `v`.
    MiddleInitials,
    /// Initial of the given name: `a`.
    GivenInitial,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RulePart {
    Literal(String),
    Name(Placeholder),
}

const PLACEHOLDERS: [(&str, Placeholder); 7] = [
    ("given", Placeholder::Given),
    ("family", Placeholder::Family),
    ("middle", Placeholder::Middle),
    ("initials", Placeholder::Initials),
    ("family_initial", Placeholder::FamilyInitial),
    ("middle_initials", Placeholder::MiddleInitials),
    ("given_initial", Placeholder::GivenInitial),
];

impl AddressRule {
    /// Parses a rule such as `{given}{initials}` or `{given}.{family}`. Literal text may be
    /// ASCII letters, digits, `.`, `-` and `_`.
    pub fn parse(template: &str) -> Result<AddressRule, DirectoryError> {
        let invalid = |why: String| {
            DirectoryError::Invalid(format!(
                "address rule \"{template}\": {why}; placeholders are {}",
                PLACEHOLDERS
                    .iter()
                    .map(|(n, _)| format!("{{{n}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
        let mut parts = Vec::new();
        let mut rest = template.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let (name, tail) = after
                    .split_once('}')
                    .ok_or_else(|| invalid("a '{' is not closed".into()))?;
                let placeholder = PLACEHOLDERS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, p)| *p)
                    .ok_or_else(|| invalid(format!("unknown placeholder {{{name}}}")))?;
                parts.push(RulePart::Name(placeholder));
                rest = tail;
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let literal = &rest[..end];
                if !literal
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
                {
                    return Err(invalid(format!(
                        "\"{literal}\" may only hold letters, digits, '.', '-' or '_'"
                    )));
                }
                parts.push(RulePart::Literal(literal.to_ascii_lowercase()));
                rest = &rest[end..];
            }
        }
        if !parts
            .iter()
            .any(|p| matches!(p, RulePart::Name(Placeholder::Given | Placeholder::Family)))
        {
            return Err(invalid("it must use {given} or {family}".into()));
        }
        Ok(AddressRule { parts })
    }

    /// The local part this rule gives `name`, before any collision number.
    pub fn local_part(&self, name: &PersonName) -> Result<String, DirectoryError> {
        let family = ascii_word(&name.family);
        let middles: Vec<String> = name.middle.split_whitespace().map(ascii_word).collect();
        let given = ascii_word(&name.given);
        let initial = |w: &str| w.chars().next().map(String::from).unwrap_or_default();
        let middle_initials: String = middles.iter().map(|m| initial(m)).collect();
        let mut out = String::new();
        for part in &self.parts {
            match part {
                RulePart::Literal(text) => out.push_str(text),
                RulePart::Name(Placeholder::Given) => out.push_str(&given),
                RulePart::Name(Placeholder::Family) => out.push_str(&family),
                RulePart::Name(Placeholder::Middle) => out.push_str(&middles.concat()),
                RulePart::Name(Placeholder::Initials) => {
                    out.push_str(&initial(&family));
                    out.push_str(&middle_initials);
                }
                RulePart::Name(Placeholder::FamilyInitial) => out.push_str(&initial(&family)),
                RulePart::Name(Placeholder::MiddleInitials) => out.push_str(&middle_initials),
                RulePart::Name(Placeholder::GivenInitial) => out.push_str(&initial(&given)),
            }
        }
        let tidy = tidy_local_part(&out);
        if tidy.is_empty() || !tidy.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(DirectoryError::Invalid(format!(
                "the name \"{}\" gives no usable address: give the address in the email column",
                name.full()
            )));
        }
        Ok(tidy)
    }
}

/// One word of a name in lowercase ASCII: diacritics removed, `đ` as `d`, anything that is
/// not a letter or digit dropped.
pub fn ascii_word(word: &str) -> String {
    // deunicode maps đ/Đ to d/D and strips the tone and vowel marks of precomposed and
    // decomposed Vietnamese letters alike.
    deunicode::deunicode(word)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Collapses runs of separators and trims them from the ends.
fn tidy_local_part(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let separator = matches!(c, '.' | '-' | '_');
        if separator && (out.is_empty() || out.ends_with(['.', '-', '_'])) {
            continue;
        }
        out.push(c);
    }
    out.trim_end_matches(['.', '-', '_']).to_string()
}

/// Hands out local parts that are not taken yet, numbering collisions deterministically:
/// the first `annv` stays `annv`, the next `annv2`, then `annv3`.
#[derive(Debug, Default)]
pub struct AddressAllocator {
    taken: HashSet<String>,
}

impl AddressAllocator {
    /// An allocator that treats every name in `taken` (lowercase) as used.
    pub fn new(taken: impl IntoIterator<Item = String>) -> AddressAllocator {
        AddressAllocator {
            taken: taken.into_iter().collect(),
        }
    }

    /// The candidates for `base` in order: `annv`, `annv2`, `annv3`, …
    pub fn candidates(base: &str) -> impl Iterator<Item = String> + '_ {
        std::iter::once(base.to_string()).chain((2u32..).map(move |n| format!("{base}{n}")))
    }

    /// Whether `local` is taken.
    pub fn is_taken(&self, local: &str) -> bool {
        self.taken.contains(local)
    }

    /// Marks `local` as taken.
    pub fn take(&mut self, local: &str) {
        self.taken.insert(local.to_string());
    }

    /// The first free candidate for `base`, now taken.
    pub fn allocate(&mut self, base: &str) -> String {
        let free = Self::candidates(base)
            .find(|c| !self.taken.contains(c))
            .unwrap_or_else(|| base.to_string());
        self.taken.insert(free.clone());
        free
    }
}

#[cfg(test)]
mod tests;
