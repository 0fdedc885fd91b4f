//! Writing a benchmark's section into docs/PERFORMANCE.md: each script owns the text
//! between its markers and replaces only that, and the command line it shows leaves out the
//! paths its shell wrapper fills in.

use std::path::Path;

use crate::figures::{ratio, times, Spread};

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

/// One row of a table that sets congvu against its reference; a figure that is `None`
/// prints as a dash.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) id: &'static str,
    pub(crate) what: String,
    pub(crate) ours: Option<String>,
    pub(crate) reference: Option<String>,
    pub(crate) ratio: Option<String>,
    pub(crate) target: &'static str,
    pub(crate) met: Option<bool>,
    /// Failures or wrong answers behind the figures: the row is then no measurement at all.
    pub(crate) invalid: u64,
}

impl Row {
    /// A row that explains the others: congvu's figure alone, with no ratio and no target.
    pub(crate) fn info(id: &'static str, what: impl Into<String>, ours: Option<String>) -> Row {
        Row {
            id,
            what: what.into(),
            ours,
            reference: None,
            ratio: None,
            target: "—",
            met: None,
            invalid: 0,
        }
    }

    /// congvu's figure against the reference's, both in `unit`, with the ratio of their
    /// medians.
    pub(crate) fn compare(
        id: &'static str,
        what: impl Into<String>,
        [ours, reference]: [Option<Spread>; 2],
        unit: fn(f64) -> String,
    ) -> Row {
        Row {
            reference: reference.map(|s| s.show(unit)),
            ratio: ratio(ours, reference).map(times),
            ..Row::info(id, what, ours.map(|s| s.show(unit)))
        }
    }

    /// The same row held to `target`, which `met` says it met or not (`None`: not measured).
    pub(crate) fn target(self, target: &'static str, met: Option<bool>) -> Row {
        Row {
            target,
            met,
            ..self
        }
    }

    /// The same row held to at most `limit` in every run: its ratio cell shows each run's
    /// ratio after their median.
    pub(crate) fn every_run_at_most(self, target: &'static str, ratios: &[f64], limit: f64) -> Row {
        let met = (!ratios.is_empty()).then(|| ratios.iter().all(|r| *r <= limit));
        Row {
            ratio: (!ratios.is_empty()).then(|| crate::figures::ratio_cell(ratios)),
            ..self
        }
        .target(target, met)
    }

    /// The same row with `count` failures behind its figures.
    pub(crate) fn invalid(self, count: u64) -> Row {
        Row {
            invalid: count,
            ..self
        }
    }

    /// The row's line of the markdown table; `invalid` names what made a row invalid
    /// ("failed messages", "wrong answers").
    pub(crate) fn render(&self, invalid: &str) -> String {
        let dash = || "—".to_string();
        let met = match (self.invalid, self.met) {
            (0, Some(true)) => "met".to_string(),
            (0, Some(false)) => "NOT met".to_string(),
            (0, None) => dash(),
            (n, _) => format!("invalid: {n} {invalid}"),
        };
        format!(
            "| {} | {} | {} | {} | {} | {} | {met} |\n",
            self.id,
            self.what,
            self.ours.clone().unwrap_or_else(dash),
            self.reference.clone().unwrap_or_else(dash),
            self.ratio.clone().unwrap_or_else(dash),
            self.target,
        )
    }
}

/// The lines of `rows`, each with the words for what made it invalid.
pub(crate) fn render_rows(rows: &[Row], invalid: &str) -> String {
    rows.iter().map(|row| row.render(invalid)).collect()
}

/// How the servers and the client shared the machine, as the report's opening says it:
/// `pinned` to the last of the machine's `cores`, `servers` and `clients` naming each side.
pub(crate) fn placement(pinned: bool, cores: usize, servers: [&str; 2], clients: &str) -> String {
    let [one, all] = servers;
    if pinned {
        format!(
            "{one} pinned to core {} and the {clients} to the others (`taskset`)",
            cores - 1
        )
    } else {
        format!("{all} and {clients} sharing every core")
    }
}

/// Prints `section` and writes it into the report at `path`, unless the run is `withheld`
/// from it for the reason given (a comparison with a side missing, say).
pub(crate) fn publish(
    path: &Path,
    markers: Markers,
    section: &str,
    withheld: Option<&str>,
) -> anyhow::Result<()> {
    println!("{section}");
    match withheld {
        None => {
            write_section(path, markers, section)?;
            println!("written to {}", path.display());
        }
        Some(reason) => println!("(not written to {}: {reason})", path.display()),
    }
    Ok(())
}

/// The table's heading, congvu's column named `ours` and the reference's `reference`, and its
/// rows, each with the words for what made it invalid.
pub(crate) fn table(ours: &str, reference: &str, rows: &[Row], invalid: &str) -> String {
    format!(
        "| id | what | {ours} | {reference} | ratio | target | met? |\n\
         |---|---|---|---|---|---|---|\n{}",
        render_rows(rows, invalid)
    )
}

/// The note on a server that refused every connection of `protocol`, greeting with `text`.
pub(crate) fn unavailable(server: &str, protocol: &str, text: &str) -> String {
    format!(
        "**{server}: {protocol} not available** (it greeted with `{}`): its column is empty.\n\n",
        text.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::Row;

    #[test]
    fn a_row_held_in_every_run_misses_when_one_run_does() {
        let row = |ratios: &[f64]| {
            Row::info("I1a", "sync", None).every_run_at_most("≤ 0.7×", ratios, 0.7)
        };
        let missed = row(&[0.6, 0.72, 0.5]);
        assert_eq!(missed.met, Some(false));
        assert_eq!(missed.ratio.as_deref(), Some("0.60× (0.60×, 0.72×, 0.50×)"));
        assert_eq!(row(&[0.6, 0.7]).met, Some(true));
        let unmeasured = row(&[]);
        assert_eq!((unmeasured.met, unmeasured.ratio), (None, None));
    }
}
