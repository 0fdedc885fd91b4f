//! Writing a benchmark's section into docs/PERFORMANCE.md: each script owns the text
//! between its markers and replaces only that, and the command line it shows leaves out the
//! paths its shell wrapper fills in.

use std::path::Path;

/// Where one benchmark's section goes.
#[derive(Debug, Clone, Copy)]
pub struct Markers {
    pub begin: &'static str,
    pub end: &'static str,
    /// The end marker of a section this one follows when it is first placed, if any.
    pub after: Option<&'static str>,
}

/// Replaces the marked section of the report at `path` (see [`place_section`]).
pub fn write_section(path: &Path, markers: Markers, section: &str) -> anyhow::Result<()> {
    let document =
        std::fs::read_to_string(path).unwrap_or_else(|_| "# congvu performance\n".into());
    std::fs::write(path, place_section(&document, markers, section))?;
    Ok(())
}

/// Replaces the marked section of the report; a first one goes right after the section
/// named by `markers.after` if there is one, else before the first `## ` section, else at
/// the end. The import benchmark replaces its own section up to the next `## ` heading, so
/// nothing is ever placed right after that section's heading.
pub fn place_section(document: &str, markers: Markers, section: &str) -> String {
    let Markers { begin, end, after } = markers;
    let section = section.trim_end();
    if let (Some(at_begin), Some(at_end)) = (document.find(begin), document.find(end)) {
        if at_end > at_begin {
            return format!(
                "{}{section}{}",
                &document[..at_begin],
                &document[at_end + end.len()..]
            );
        }
    }
    if let Some(previous) = after.and_then(|marker| Some((marker, document.find(marker)?))) {
        let (marker, at) = previous;
        let after = at + marker.len();
        let rest = document[after..].trim_start_matches('\n');
        return format!("{}\n\n{section}\n\n{rest}", &document[..after])
            .trim_end()
            .to_string()
            + "\n";
    }
    match document.find("\n## ") {
        Some(at) => format!("{}{section}\n\n{}", &document[..=at], &document[at + 1..]),
        None => format!("{}\n\n{section}\n", document.trim_end()),
    }
}

/// The options this run was given, less the options in `paths` (and their values), which
/// the shell wrapper fills in.
pub fn user_arguments(paths: &[&str]) -> String {
    let mut shown = String::new();
    let mut arguments = std::env::args().skip(2);
    while let Some(argument) = arguments.next() {
        let name = argument.split('=').next().unwrap_or_default();
        if paths.contains(&name) {
            if !argument.contains('=') {
                arguments.next();
            }
            continue;
        }
        shown.push(' ');
        shown.push_str(&argument);
    }
    shown
}
