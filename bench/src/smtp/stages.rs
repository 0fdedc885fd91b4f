//! S2's breakdown of congvu's wait from a message's end of DATA to its 250, stage by stage,
//! read off the server's own `congvu_smtp_data_stage_seconds` histogram before and after the
//! measured part of a run. Quantiles come from the histogram's buckets (steps of √2), so a
//! p99 is shown as the upper bound of the bucket it falls in; means are exact.

use congvu::telemetry::DataStage;

use crate::figures::milliseconds;

/// The histogram the server records each stage in.
const FAMILY: &str = "congvu_smtp_data_stage_seconds";

/// One stage's histogram: cumulative counts by upper bound, with the sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Histogram {
    /// `(le, cumulative count)`, in the order the server lists them (ascending, `+Inf` last).
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Histogram {
    /// The upper bound of the bucket holding quantile `q`; `None` without samples.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let wanted = q * self.count;
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= wanted)
            .map(|(le, _)| *le)
    }

    /// A quantile as the bucket bound it is: `≤ 2.00 ms`, or `> 819 ms` past the last bound.
    fn bound(&self, le: f64) -> String {
        if le.is_finite() {
            return format!("≤ {}", milliseconds(le * 1000.0));
        }
        let last = self
            .buckets
            .iter()
            .rev()
            .map(|(le, _)| *le)
            .find(|le| le.is_finite());
        format!("> {}", milliseconds(last.unwrap_or(0.0) * 1000.0))
    }

    pub(crate) fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    fn minus(&self, before: &Histogram) -> Histogram {
        let earlier = |le: f64| {
            before
                .buckets
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, c)| *c)
        };
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, c)| (le, c - earlier(le)))
                .collect(),
            sum: self.sum - before.sum,
            count: self.count - before.count,
        }
    }
}

/// Every stage's histogram, in the order the server lists the stages.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Stages(Vec<(String, Histogram)>);

impl Stages {
    /// The stages in a `/metrics` text.
    pub(crate) fn parse(metrics: &str) -> anyhow::Result<Stages> {
        let mut stages = Stages::default();
        for line in metrics.lines() {
            let Some(rest) = line.strip_prefix(FAMILY) else {
                continue;
            };
            let (series, rest) = rest.split_once('{').unwrap_or((rest, ""));
            let (labels, value) = rest
                .rsplit_once("} ")
                .ok_or_else(|| anyhow::anyhow!("a malformed series: {line}"))?;
            let value: f64 = value.trim().parse()?;
            let label = |name| crate::server::metric_label(labels, name);
            let Some(stage) = label("stage") else {
                continue;
            };
            let histogram = stages.entry(stage);
            match series {
                "_bucket" => {
                    let le = match label("le") {
                        Some("+Inf") => f64::INFINITY,
                        Some(le) => le.parse()?,
                        None => anyhow::bail!("a bucket without le: {line}"),
                    };
                    histogram.buckets.push((le, value));
                }
                "_sum" => histogram.sum = value,
                "_count" => histogram.count = value,
                _ => {}
            }
        }
        // In the order a message passes the stages; the exporter lists them in its own.
        let order = DataStage::ALL;
        let place = |stage: &str| {
            order
                .iter()
                .position(|s| s.as_str() == stage)
                .unwrap_or(order.len())
        };
        stages.0.sort_by_key(|(stage, _)| place(stage));
        Ok(stages)
    }

    fn entry(&mut self, stage: &str) -> &mut Histogram {
        let at = match self.0.iter().position(|(s, _)| s == stage) {
            Some(at) => at,
            None => {
                self.0.push((stage.to_string(), Histogram::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }

    /// What was recorded between `before` and these.
    pub(crate) fn since(&self, before: &Stages) -> Stages {
        let none = Histogram::default();
        Stages(
            self.0
                .iter()
                .map(|(stage, h)| {
                    let earlier = before.0.iter().find(|(s, _)| s == stage).map(|(_, h)| h);
                    (stage.clone(), h.minus(earlier.unwrap_or(&none)))
                })
                .collect(),
        )
    }

    #[cfg(test)]
    fn get(&self, stage: &str) -> Option<&Histogram> {
        self.0.iter().find(|(s, _)| s == stage).map(|(_, h)| h)
    }

    /// `stage mean / p50 / p99` for every stage with samples, p50 and p99 as bucket bounds.
    pub(crate) fn show(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .filter_map(|(stage, h)| {
                let (mean, p50, p99) = (h.mean()?, h.quantile(0.5)?, h.quantile(0.99)?);
                Some(format!(
                    "{stage} {} / {} / {}",
                    milliseconds(mean * 1000.0),
                    h.bound(p50),
                    h.bound(p99)
                ))
            })
            .collect();
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(commit: [f64; 4], sum: f64) -> String {
        format!(
            "# TYPE {FAMILY} histogram\n\
             {FAMILY}_bucket{{stage=\"commit\",le=\"0.001\"}} {}\n\
             {FAMILY}_bucket{{stage=\"commit\",le=\"0.002\"}} {}\n\
             {FAMILY}_bucket{{stage=\"commit\",le=\"0.004\"}} {}\n\
             {FAMILY}_bucket{{stage=\"commit\",le=\"+Inf\"}} {}\n\
             {FAMILY}_sum{{stage=\"commit\"}} {sum}\n\
             {FAMILY}_count{{stage=\"commit\"}} {}\n\
             {FAMILY}_bucket{{stage=\"queued\",le=\"0.001\"}} 3\n\
             {FAMILY}_bucket{{stage=\"queued\",le=\"+Inf\"}} 4\n\
             {FAMILY}_sum{{stage=\"queued\"}} 0.004\n\
             {FAMILY}_count{{stage=\"queued\"}} 4\n\
             congvu_other_seconds_count{{stage=\"commit\"}} 99\n",
            commit[0], commit[1], commit[2], commit[3], commit[3]
        )
    }

    #[test]
    fn quantiles_are_bucket_bounds_of_what_happened_in_between() {
        let before = Stages::parse(&scrape([10.0, 10.0, 10.0, 10.0], 0.005)).unwrap();
        let after = Stages::parse(&scrape([10.0, 100.0, 109.0, 110.0], 0.205)).unwrap();
        let run = after.since(&before);
        let commit = run.get("commit").unwrap();
        // 100 samples in between: 90 at ≤ 2 ms, 9 more at ≤ 4 ms, one beyond.
        assert_eq!(commit.quantile(0.5), Some(0.002));
        assert_eq!(commit.quantile(0.9), Some(0.002));
        assert_eq!(commit.quantile(0.99), Some(0.004));
        assert_eq!(commit.quantile(1.0), Some(f64::INFINITY));
        assert!((commit.mean().unwrap() - 0.002).abs() < 1e-12);
        // Nothing queued in between: no figure rather than a zero.
        assert_eq!(run.get("queued").unwrap().quantile(0.5), None);
        assert_eq!(run.show(), "commit 2.00 ms / ≤ 2.00 ms / ≤ 4.00 ms");
        // Listed in the order a message passes the stages, whatever the exporter's order.
        let order: Vec<&str> = after.0.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(order, ["queued", "commit"]);
        assert_eq!(commit.bound(f64::INFINITY), "> 4.00 ms");
    }

    #[test]
    fn a_malformed_series_is_an_error() {
        assert!(Stages::parse(&format!("{FAMILY}_count{{stage=\"commit\" 4\n")).is_err());
        assert!(Stages::parse(&format!("{FAMILY}_bucket{{stage=\"commit\"}} 4\n")).is_err());
    }
}
