//! Printing results: aligned tables for people, JSON and CSV for scripts. Everything the
//! CLI writes to standard output goes through here.

use std::io::Write;

use congvu::clock::UnixTime;

/// Writes `bytes` to standard output. When the reader has gone (`congvu-admin user list |
/// head`), the tool stops quietly as other Unix tools do; any other write error (a full
/// disk behind a redirection) is reported and exits 1, since output was lost.
pub fn raw(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("congvu-admin: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

fn println(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    raw(line.as_bytes());
}

/// Prints `rows` under `headers`, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println(padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints `key value` lines with the values aligned, `-` for an empty value.
pub fn fields(pairs: &[(&str, String)]) {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    for (key, value) in pairs {
        let value = if value.is_empty() { "-" } else { value };
        println(&format!("{key:<width$}{value}"));
    }
}

/// Prints a JSON value, pretty.
pub fn json(value: &serde_json::Value) {
    println(&format!("{value:#}"));
}

/// Prints one line of plain text.
pub fn line(text: &str) {
    println(text);
}

/// Writes `headers` and `rows` as CSV (RFC 4180 quoting, by the `csv` crate).
pub fn csv(headers: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(headers)?;
    for row in rows {
        writer.write_record(row)?;
    }
    raw(&writer.into_inner()?);
    Ok(())
}

/// An optional attribute as a cell: empty when absent.
pub fn cell(value: Option<&str>) -> String {
    value.unwrap_or_default().to_string()
}

/// A byte count for people: `512 B`, `1.5 KiB`, `2.0 GiB`.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `n thing` or `n things`.
pub fn count(n: impl Into<i64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
pub fn time(t: UnixTime) -> String {
    let days = t.0.div_euclid(86_400);
    let secs = t.0.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_civil_utc() {
        assert_eq!(time(UnixTime(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(time(UnixTime(1_795_741_200)), "2026-11-27 01:00:00 UTC");
        assert_eq!(time(UnixTime(951_782_400)), "2000-02-29 00:00:00 UTC");
        assert_eq!(time(UnixTime(-1)), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn byte_counts_for_people() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
