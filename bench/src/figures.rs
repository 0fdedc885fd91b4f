//! Figures as the benchmark reports print them: the median and range of a figure over
//! runs, and the units each is shown in, and the window of time a measurement counts.
//! Shared by every workload.

use std::time::{Duration, Instant};

/// The stretch of time a measurement counts, after its warm-up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) start: Instant,
    pub(crate) end: Instant,
}

impl Window {
    /// `seconds` long, starting after `warmup` seconds from now.
    pub(crate) fn after(warmup: u64, seconds: u64) -> Window {
        let start = Instant::now() + Duration::from_secs(warmup);
        Window {
            start,
            end: start + Duration::from_secs(seconds),
        }
    }

    pub(crate) fn contains(&self, at: Instant) -> bool {
        at >= self.start && at <= self.end
    }

    pub(crate) fn seconds(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}

/// The nearest-rank percentile `p` (0–1) of values sorted ascending.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median of values in any order.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Median and range of one figure over the runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    pub(crate) fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        Some(Spread {
            median: median(values),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// [`Spread::show`] of `values`, or "—" when there are none: a table's cell.
    pub(crate) fn cell(values: &[f64], unit: fn(f64) -> String) -> String {
        Spread::of(values).map_or_else(|| "—".into(), |s| s.show(unit))
    }

    /// `median [min–max]` in `unit`, the range left out for a single run.
    pub(crate) fn show(&self, unit: fn(f64) -> String) -> String {
        if self.min == self.max {
            unit(self.median)
        } else {
            format!(
                "{} [{}–{}]",
                unit(self.median),
                unit(self.min),
                unit(self.max)
            )
        }
    }
}

pub(crate) fn per_second(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}/s")
    } else {
        format!("{v:.1}/s")
    }
}

pub(crate) fn milliseconds(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.2} ms")
    }
}

pub(crate) fn seconds(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3} s")
    } else if v < 10.0 {
        format!("{v:.2} s")
    } else {
        format!("{v:.1} s")
    }
}

pub(crate) fn microseconds(v: f64) -> String {
    format!("{v:.0} µs")
}

pub(crate) fn times(r: f64) -> String {
    if !r.is_finite() {
        "—".into()
    } else if r < 0.01 {
        "< 0.01×".into()
    } else {
        format!("{r:.2}×")
    }
}

/// Each run's ratio, with their median first: `0.63× (0.58×, 0.64×, 0.70×)`; one run's alone.
/// `a[i] / b[i]` run by run.
pub(crate) fn per_run_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

pub(crate) fn ratio_cell(ratios: &[f64]) -> String {
    match ratios {
        [] => "—".into(),
        [only] => times(*only),
        _ => {
            let each: Vec<String> = ratios.iter().map(|r| times(*r)).collect();
            format!("{} ({})", times(median(ratios)), each.join(", "))
        }
    }
}

/// Bytes in binary units with two decimals: `1.50 MiB`.
pub(crate) fn bytes(v: f64) -> String {
    binary_units(v, 2)
}

/// Bytes in binary units with one decimal, for figures that vary more than that: `1.5 MiB`.
pub(crate) fn bytes_roughly(v: f64) -> String {
    binary_units(v, 1)
}

fn binary_units(v: f64, decimals: usize) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if v.abs() < 1024.0 {
        return format!("{v:.0} B");
    }
    let mut value = v / 1024.0;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.decimals$} {}", UNITS[unit])
}

/// One figure over the runs of congvu (`ours`) and of its reference.
pub(crate) fn spreads<F>(
    ours: Option<&F>,
    reference: Option<&F>,
    get: impl Fn(&F) -> Vec<f64>,
) -> [Option<Spread>; 2] {
    [ours, reference].map(|f| f.and_then(|f| Spread::of(&get(f))))
}

/// Each run's figure of congvu over the reference's in the same run, in run order (runs
/// that only one side has are left out).
pub(crate) fn paired_ratios<F>(
    ours: Option<&F>,
    reference: Option<&F>,
    get: impl Fn(&F) -> Vec<f64>,
) -> Vec<f64> {
    match (ours, reference) {
        (Some(o), Some(r)) => get(o).into_iter().zip(get(r)).map(|(o, r)| o / r).collect(),
        _ => Vec::new(),
    }
}

/// congvu's median over the reference's.
pub(crate) fn ratio(ours: Option<Spread>, reference: Option<Spread>) -> Option<f64> {
    Some(ours?.median / reference?.median)
}

/// The order the servers take in run `run`: as given, then reversed, and so on.
pub(crate) fn turns(run: usize, servers: usize) -> Vec<usize> {
    if run % 2 == 0 {
        (0..servers).collect()
    } else {
        (0..servers).rev().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{bytes, bytes_roughly, median, paired_ratios, percentile, ratio_cell};

    #[test]
    fn runs_are_paired_in_order() {
        let ours = vec![1.0, 3.0, 2.0];
        let reference = vec![2.0, 2.0];
        let ratios = paired_ratios(Some(&ours), Some(&reference), Clone::clone);
        assert_eq!(ratios, [0.5, 1.5]);
        assert!(paired_ratios(Some(&ours), None, Clone::clone).is_empty());
        assert_eq!(ratio_cell(&ratios), "1.00× (0.50×, 1.50×)");
        assert_eq!(ratio_cell(&[1.0, 3.0, 2.0]), "2.00× (1.00×, 3.00×, 2.00×)");
        assert_eq!(ratio_cell(&[0.5]), "0.50×");
        assert_eq!(ratio_cell(&[]), "—");
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
    }

    #[test]
    fn bytes_take_the_largest_binary_unit_below_them() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.50 KiB");
        assert_eq!(bytes_roughly(3.0 * 1024.0 * 1024.0), "3.0 MiB");
    }
}
