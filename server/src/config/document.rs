//! The configuration as a document, before it is typed: the TOML file parsed with spans,
//! the `CONGVU_<SECTION>__<KEY>` environment variables merged into it, and the way back
//! from a span to where a value came from (`file:line` or `environment NAME`).
//! Knows nothing about which keys exist or what they mean; `schema` and `config` do.

use std::borrow::Cow;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::ConfigError;

const ENV_PREFIX: &str = "CONGVU_";
const ENV_SEPARATOR: &str = "__";

/// One `CONGVU_<SECTION>__<KEY>` variable, with section and key lower-cased.
#[derive(Debug)]
pub(super) struct EnvOverride {
    name: String,
    section: String,
    key: String,
    value: String,
}

/// Whether an environment variable name addresses a config key. Other `CONGVU_*` names
/// (no `__`, such as `CONGVU_TEST_DATABASE_URL`) belong to tests and tools.
pub(super) fn addresses_key(name: &str) -> bool {
    name.strip_prefix(ENV_PREFIX)
        .is_some_and(|rest| rest.contains(ENV_SEPARATOR))
}

/// Picks the variables that address a key, sorted by name so that the first error
/// reported does not depend on the order the environment happens to list them in.
pub(super) fn env_overrides(vars: impl IntoIterator<Item = (String, String)>) -> Vec<EnvOverride> {
    let mut overrides: Vec<EnvOverride> = vars
        .into_iter()
        .filter_map(|(name, value)| {
            let (section, key) = name.strip_prefix(ENV_PREFIX)?.split_once(ENV_SEPARATOR)?;
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            Some(EnvOverride {
                name,
                section,
                key,
                value,
            })
        })
        .collect();
    // Stable, so a name given twice keeps its order and the later value wins.
    overrides.sort_by(|a, b| a.name.cmp(&b.name));
    overrides
}

/// The merged document and the means to say where any part of it came from.
#[derive(Debug)]
pub(super) struct Document<'a> {
    pub(super) table: Spanned<DeTable<'a>>,
    pub(super) locator: Locator<'a>,
}

/// Parses the file and merges the environment into it, so that types are checked once,
/// by one deserialization, whatever the source of a value.
pub(super) fn parse<'a>(
    text: &'a str,
    origin: &'a str,
    env: &'a [EnvOverride],
) -> Result<Document<'a>, ConfigError> {
    let mut sources = Sources {
        origin,
        text,
        env: Vec::new(),
    };
    let mut table = DeTable::parse(text).map_err(|err| sources.syntax_error(&err))?;
    for var in env {
        let region = sources.reserve_env(&var.name, var.value.len());
        let value = env_value(&var.value, region.clone());
        overlay(table.get_mut(), var, value, region).map_err(|message| ConfigError {
            location: format!("environment {}", var.name),
            message,
        })?;
    }
    let placed = Placed::all(table.get_ref());
    Ok(Document {
        table,
        locator: Locator { sources, placed },
    })
}

/// An environment value is TOML if it parses as a TOML value (`30`, `true`,
/// `["a", "b"]`), else the plain string, so URLs and paths need no quoting.
fn env_value(text: &str, region: Range<usize>) -> Spanned<DeValue<'_>> {
    match DeValue::parse(text) {
        Ok(value) => shift(value, region.start),
        Err(_) => Spanned::new(region, DeValue::String(Cow::Borrowed(text))),
    }
}

/// Moves every span of a value parsed on its own into the region reserved for it.
fn shift(value: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = value.span();
    let value = match value.into_inner() {
        DeValue::Array(items) => DeValue::Array(items.into_iter().map(|v| shift(v, by)).collect()),
        DeValue::Table(table) => DeValue::Table(
            table
                .into_iter()
                .map(|(k, v)| {
                    let key_span = k.span();
                    let key = Spanned::new(key_span.start + by..key_span.end + by, k.into_inner());
                    (key, shift(v, by))
                })
                .collect(),
        ),
        scalar => scalar,
    };
    Spanned::new(span.start + by..span.end + by, value)
}

/// Sets `section.key` from one variable, creating the section if the file lacks it.
fn overlay<'a>(
    doc: &mut DeTable<'a>,
    var: &'a EnvOverride,
    value: Spanned<DeValue<'a>>,
    region: Range<usize>,
) -> Result<(), String> {
    let section = doc
        .entry(Spanned::new(
            region.clone(),
            Cow::Borrowed(var.section.as_str()),
        ))
        .or_insert_with(|| Spanned::new(region.clone(), DeValue::Table(DeTable::new())));
    let DeValue::Table(section) = section.get_mut() else {
        return Err(format!(
            "cannot set {}.{}: `{}` in the file is not a section; write it as [{}]",
            var.section, var.key, var.section, var.section
        ));
    };
    // Remove first: inserting over an existing key keeps the file's key and its span,
    // and messages about this key must point at the variable.
    section.remove(var.key.as_str());
    section.insert(Spanned::new(region, Cow::Borrowed(var.key.as_str())), value);
    Ok(())
}

/// Maps offsets back to sources. Offsets up to the file's length are in the file; each
/// environment value gets its own range after that, so a span alone says where a value
/// came from.
#[derive(Debug)]
struct Sources<'a> {
    origin: &'a str,
    text: &'a str,
    env: Vec<(Range<usize>, &'a str)>,
}

impl<'a> Sources<'a> {
    /// Never empty, so that even `CONGVU_X__Y=` has an offset that finds it.
    fn reserve_env(&mut self, name: &'a str, len: usize) -> Range<usize> {
        let start = self
            .env
            .last()
            .map_or(self.text.len() + 1, |(range, _)| range.end + 1);
        let range = start..start + len.max(1);
        self.env.push((range.clone(), name));
        range
    }

    fn locate(&self, offset: usize) -> String {
        if offset <= self.text.len() {
            return format!("{}:{}", self.origin, line_of(self.text, offset));
        }
        match self.env.iter().find(|(range, _)| range.contains(&offset)) {
            Some((_, name)) => format!("environment {name}"),
            None => self.origin.to_owned(),
        }
    }

    fn syntax_error(&self, err: &toml::de::Error) -> ConfigError {
        ConfigError {
            location: err
                .span()
                .map_or_else(|| self.origin.to_owned(), |span| self.locate(span.start)),
            message: format!("invalid TOML: {}", err.message().trim_end()),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// One section (`path` = "smtp") or key (`path` = "smtp.listen") as it stands in the
/// merged document.
#[derive(Debug)]
pub(super) struct Placed {
    pub(super) path: String,
    pub(super) is_table: bool,
    key: Range<usize>,
    value: Range<usize>,
}

impl Placed {
    /// Every section and key, in the order they appear (file first, then environment).
    fn all(doc: &DeTable<'_>) -> Vec<Placed> {
        let mut placed = Vec::new();
        for (name, value) in doc {
            placed.push(Placed::new(name.get_ref().to_string(), name, value));
            if let DeValue::Table(keys) = value.get_ref() {
                for (key, value) in keys {
                    let path = format!("{}.{}", name.get_ref(), key.get_ref());
                    // A section within a section (`[filter.rspamd]`) has keys of its own.
                    if let DeValue::Table(inner) = value.get_ref() {
                        for (inner_key, inner_value) in inner {
                            let inner_path = format!("{path}.{}", inner_key.get_ref());
                            placed.push(Placed::new(inner_path, inner_key, inner_value));
                        }
                    }
                    placed.push(Placed::new(path, key, value));
                }
            }
        }
        placed.sort_by_key(|p| p.key.start);
        placed
    }

    fn new(path: String, key: &Spanned<Cow<'_, str>>, value: &Spanned<DeValue<'_>>) -> Placed {
        Placed {
            path,
            is_table: matches!(value.get_ref(), DeValue::Table(_)),
            key: key.span(),
            value: value.span(),
        }
    }

    fn contains(&self, offset: usize) -> bool {
        self.key.contains(&offset) || self.value.contains(&offset)
    }
}

/// Answers "where was this set?" for messages, by key path or by span.
#[derive(Debug)]
pub(super) struct Locator<'a> {
    sources: Sources<'a>,
    placed: Vec<Placed>,
}

impl<'a> Locator<'a> {
    /// For a configuration that came from no file (`Config::default()`): every location
    /// is `origin`.
    #[cfg(test)]
    pub(super) fn without_file(origin: &'a str) -> Locator<'a> {
        Locator {
            sources: Sources {
                origin,
                text: "",
                env: Vec::new(),
            },
            placed: Vec::new(),
        }
    }

    /// Every section and key, in document order.
    pub(super) fn placed(&self) -> &[Placed] {
        &self.placed
    }

    /// Where a section or key was set: `file:line` of the key, `environment NAME`, or,
    /// when it was left to its default, its section's line, else just the file.
    pub(super) fn at(&self, path: &str) -> String {
        // The key itself, else the nearest enclosing section that was written.
        let mut candidates = vec![path];
        let mut rest = path;
        while let Some((parent, _)) = rest.rsplit_once('.') {
            candidates.push(parent);
            rest = parent;
        }
        candidates
            .iter()
            .find_map(|p| self.placed.iter().find(|placed| placed.path == *p))
            .map_or_else(
                || self.sources.origin.to_owned(),
                |placed| self.sources.locate(placed.key.start),
            )
    }

    /// The location of an entry found by [`Locator::placed`].
    pub(super) fn of(&self, placed: &Placed) -> String {
        self.sources.locate(placed.key.start)
    }

    /// An error about the key at `path`.
    pub(super) fn error(&self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: self.at(path),
            message: message.into(),
        }
    }

    /// Turns a deserialization error into `location: section.key: message`, with the
    /// line of the offending value.
    pub(super) fn type_error(&self, err: &toml::de::Error) -> ConfigError {
        let message = plain_type_names(err.message());
        let Some(offset) = err.span().map(|span| span.start) else {
            return ConfigError {
                location: self.sources.origin.to_owned(),
                message,
            };
        };
        // Keys before sections: a key's span lies inside its section's.
        let path = self
            .placed
            .iter()
            .filter(|p| p.contains(offset))
            .max_by_key(|p| p.path.contains('.'));
        ConfigError {
            location: self.sources.locate(offset),
            message: match path {
                Some(placed) => format!("{}: {message}", placed.path),
                None => message,
            },
        }
    }
}

/// serde names Rust types ("expected u32"); an operator needs the TOML kind and bounds.
fn plain_type_names(message: &str) -> String {
    let types = [
        ("u16", u64::from(u16::MAX)),
        ("u32", u64::from(u32::MAX)),
        ("u64", u64::MAX),
    ];
    types
        .iter()
        .fold(message.trim_end().to_owned(), |text, (ty, max)| {
            text.replace(
                &format!("expected {ty}"),
                &format!("expected a whole number from 0 to {max}"),
            )
        })
}
