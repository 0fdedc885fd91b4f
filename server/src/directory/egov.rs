//! The e-government report: how far each agency, each level of the administration and the
//! province have come in mail and digital signatures over a period of UTC days. Mailboxes
//! issued, officials active, signing certificates, and the share of submitted mail that
//! carried a signature which verified, against the level's target.
//!
//! This module owns the report period (calendar days in UTC), the counts and their sums, the
//! signed-share targets, and the order rows come in. The counting itself is the store's, one
//! query per aggregate; printing (table, CSV, JSON, HTML) is the admin CLI's.

use std::collections::HashMap;
use std::fmt;

use super::{Agency, AgencyId, AgencyLevel, Directory, DirectoryError};
use crate::clock::UnixTime;
use crate::model::{PeriodError, UtcDay};

/// The days a report covers, first and last included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportPeriod {
    from: UtcDay,
    to: UtcDay,
}

impl ReportPeriod {
    /// From `from` to `to`, both included; refused when `from` comes after `to`.
    pub fn new(from: UtcDay, to: UtcDay) -> Result<ReportPeriod, PeriodError> {
        if from > to {
            return Err(PeriodError::Reversed { from, to });
        }
        Ok(ReportPeriod { from, to })
    }

    /// From 1 January of `today`'s year to `today`.
    pub fn year_to_date(today: UtcDay) -> ReportPeriod {
        ReportPeriod {
            from: today.first_of_year(),
            to: today,
        }
    }

    /// The first day.
    pub fn from(&self) -> UtcDay {
        self.from
    }

    /// The last day.
    pub fn to(&self) -> UtcDay {
        self.to
    }

    /// The first second of the first day.
    pub fn start(&self) -> UnixTime {
        self.from.start()
    }

    /// The last second of the last day: what "at the end of the period" means.
    pub fn end(&self) -> UnixTime {
        self.to.end()
    }
}

/// The share of submitted mail an agency of a level is expected to sign with a signature
/// that verifies, as a whole percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedShareTarget(pub u8);

impl SignedShareTarget {
    /// The province's targets: 99% for departments, 95% for districts, 70% for communes; none
    /// for the province office.
    pub fn for_level(level: AgencyLevel) -> Option<SignedShareTarget> {
        match level {
            AgencyLevel::Province => None,
            AgencyLevel::Department => Some(SignedShareTarget(99)),
            AgencyLevel::District => Some(SignedShareTarget(95)),
            AgencyLevel::Commune => Some(SignedShareTarget(70)),
        }
    }
}

/// Verified-signed messages out of those sent, when any were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedShare {
    pub verified: i64,
    pub sent: i64,
}

impl SignedShare {
    /// The share in tenths of a percent, rounded down: a share shown as meeting a
    /// whole-percent target always meets it (99.95% shows as 99.9, not 100.0).
    pub fn tenths_of_percent(self) -> i64 {
        // i128: verified × 1000 cannot overflow whatever the counts.
        let tenths = i128::from(self.verified) * 1000 / i128::from(self.sent.max(1));
        i64::try_from(tenths).unwrap_or(i64::MAX)
    }

    /// Whether the share reaches `target`, compared exactly (not after rounding).
    pub fn meets(self, target: SignedShareTarget) -> bool {
        i128::from(self.verified) * 100 >= i128::from(target.0) * i128::from(self.sent)
    }
}

impl fmt::Display for SignedShare {
    /// The percentage with one decimal, rounded down: `97.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = self.tenths_of_percent();
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

/// The report's numbers for one agency (its own officials only), a level, or the province.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EgovCounts {
    pub agencies: i64,
    /// Agencies where at least one official who is not disabled holds a mailbox.
    pub agencies_with_mailboxes: i64,
    /// Officials who are not disabled and hold a mailbox, at the time of the report.
    pub mailboxes: i64,
    /// Distinct officials with an activity day in the period.
    pub active: i64,
    /// Officials holding a certificate valid at the end of the period (begun by then, ending
    /// after it, not revoked by then).
    pub valid_certificate_holders: i64,
    /// Certificates whose validity began in the period.
    pub certificates_issued: i64,
    /// Certificates whose validity began by the end of the period, revoked ones included.
    pub certificates_cumulative: i64,
    /// Messages submitted in the period.
    pub sent: i64,
    /// Of those, S/MIME-signed.
    pub signed: i64,
    /// Of those, signed with a signature that verified against the sender's certificate.
    pub verified: i64,
}

impl EgovCounts {
    /// Verified-signed out of sent; `None` when nothing was sent.
    pub fn signed_share(&self) -> Option<SignedShare> {
        (self.sent > 0).then_some(SignedShare {
            verified: self.verified,
            sent: self.sent,
        })
    }

    /// Whether the signed share meets `target`; `None` without a target or without mail.
    pub fn meets(&self, target: Option<SignedShareTarget>) -> Option<bool> {
        Some(self.signed_share()?.meets(target?))
    }

    fn add(&mut self, other: &EgovCounts) {
        self.agencies += other.agencies;
        self.agencies_with_mailboxes += other.agencies_with_mailboxes;
        self.mailboxes += other.mailboxes;
        self.active += other.active;
        self.valid_certificate_holders += other.valid_certificate_holders;
        self.certificates_issued += other.certificates_issued;
        self.certificates_cumulative += other.certificates_cumulative;
        self.sent += other.sent;
        self.signed += other.signed;
        self.verified += other.verified;
    }
}

/// One agency's row: its own officials' counts, not those of the agencies below it.
#[derive(Debug, Clone)]
pub struct EgovAgency {
    pub agency: Agency,
    pub parent_code: Option<String>,
    /// 0 for the root, 1 for its children, and so on.
    pub depth: usize,
    /// `agencies` is 1; `agencies_with_mailboxes` is 0 or 1.
    pub counts: EgovCounts,
}

impl EgovAgency {
    /// Whether any of the agency's officials who is not disabled holds a mailbox.
    pub fn has_mailboxes(&self) -> bool {
        self.counts.agencies_with_mailboxes > 0
    }
}

/// One level of the administration: its agencies' counts summed, and the agencies.
#[derive(Debug, Clone)]
pub struct EgovLevel {
    pub level: AgencyLevel,
    pub target: Option<SignedShareTarget>,
    pub counts: EgovCounts,
    /// The level's agencies in tree order (depth-first from the province, children by code).
    pub agencies: Vec<EgovAgency>,
}

/// The e-government report over a period.
#[derive(Debug, Clone)]
pub struct EgovReport {
    pub period: ReportPeriod,
    /// When the report was made: what "mailboxes issued" is counted at.
    pub made_at: UnixTime,
    /// Every level from the province down, also those with no agency.
    pub levels: Vec<EgovLevel>,
    pub total: EgovCounts,
}

impl Directory {
    /// The e-government report for `period`: per agency, per level and in total.
    pub async fn egov_report(&self, period: ReportPeriod) -> Result<EgovReport, DirectoryError> {
        let mut conn = self.read().await?;
        let made_at = self.now();
        let agencies = conn.agencies().await?;
        let (from, to) = (period.from().to_string(), period.to().to_string());
        let mut own: HashMap<AgencyId, EgovCounts> = HashMap::new();
        for (agency, n) in conn.active_mailbox_holders_by_agency().await? {
            let counts = own.entry(agency).or_default();
            counts.mailboxes = n;
            counts.agencies_with_mailboxes = i64::from(n > 0);
        }
        for (agency, n) in conn.officials_active_by_agency(&from, &to).await? {
            own.entry(agency).or_default().active = n;
        }
        for (agency, n) in conn.certificate_holders_by_agency(period.end()).await? {
            own.entry(agency).or_default().valid_certificate_holders = n;
        }
        let issued = conn
            .certificates_issued_by_agency(period.start(), period.end())
            .await?;
        for (agency, in_period, cumulative) in issued {
            let counts = own.entry(agency).or_default();
            counts.certificates_issued = in_period;
            counts.certificates_cumulative = cumulative;
        }
        for (agency, sent, signed, verified) in conn.submissions_by_agency(&from, &to).await? {
            let counts = own.entry(agency).or_default();
            counts.sent = sent;
            counts.signed = signed;
            counts.verified = verified;
        }
        Ok(build_egov_report(period, made_at, &agencies, &own))
    }
}

/// Orders the agencies, groups them by level and sums each level and the province.
fn build_egov_report(
    period: ReportPeriod,
    made_at: UnixTime,
    agencies: &[Agency],
    own: &HashMap<AgencyId, EgovCounts>,
) -> EgovReport {
    let code_of: HashMap<AgencyId, &str> =
        agencies.iter().map(|a| (a.id, a.code.as_str())).collect();
    let mut levels: Vec<EgovLevel> = AgencyLevel::ALL
        .into_iter()
        .map(|level| EgovLevel {
            level,
            target: SignedShareTarget::for_level(level),
            counts: EgovCounts::default(),
            agencies: Vec::new(),
        })
        .collect();
    let mut total = EgovCounts::default();
    for (agency, depth) in super::agency::tree_order(agencies) {
        let counts = EgovCounts {
            agencies: 1,
            ..own.get(&agency.id).copied().unwrap_or_default()
        };
        total.add(&counts);
        if let Some(level) = levels.iter_mut().find(|l| l.level == agency.level) {
            level.counts.add(&counts);
            level.agencies.push(EgovAgency {
                parent_code: agency
                    .parent_id
                    .and_then(|p| code_of.get(&p).map(|c| c.to_string())),
                depth,
                counts,
                agency: agency.clone(),
            });
        }
    }
    EgovReport {
        period,
        made_at,
        levels,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::DomainId;

    fn day(s: &str) -> UtcDay {
        s.parse().unwrap()
    }

    fn agency(id: i64, code: &str, level: AgencyLevel, parent: Option<i64>) -> Agency {
        Agency {
            id: AgencyId(id),
            uuid: String::new(),
            code: code.into(),
            name: code.into(),
            level,
            parent_id: parent.map(AgencyId),
            domain_id: DomainId(1),
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }

    #[test]
    fn days_are_read_strictly_as_yyyy_mm_dd() {
        assert_eq!(day("2026-01-31").to_string(), "2026-01-31");
        assert_eq!(day("2024-02-29").to_string(), "2024-02-29");
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-01-00",
            "2026-1-31",
            "26-01-31",
            "2026/01/31",
            "+026-01-31",
            "2026-01-31 ",
            "",
            "31/01/2026",
        ] {
            assert_eq!(
                bad.parse::<UtcDay>(),
                Err(PeriodError::NotADay(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn days_span_their_utc_seconds() {
        // 2026-01-01T00:00:00Z
        let d = day("2026-01-01");
        assert_eq!(d.start(), UnixTime(1_767_225_600));
        assert_eq!(d.end(), UnixTime(1_767_225_600 + 86_399));
        assert_eq!(UtcDay::of(UnixTime(1_767_225_599)), day("2025-12-31"));
        assert_eq!(UtcDay::of(d.end()), d);
        assert_eq!(day("2026-07-14").first_of_year(), d);
    }

    #[test]
    fn a_period_runs_forward_or_not_at_all() {
        let p = ReportPeriod::new(day("2026-03-01"), day("2026-03-01")).unwrap();
        assert_eq!(p.end().0 - p.start().0, 86_399, "one day");
        assert_eq!(
            ReportPeriod::new(day("2026-03-02"), day("2026-03-01")),
            Err(PeriodError::Reversed {
                from: day("2026-03-02"),
                to: day("2026-03-01")
            })
        );
        let ytd = ReportPeriod::year_to_date(day("2026-11-27"));
        assert_eq!(
            (ytd.from(), ytd.to()),
            (day("2026-01-01"), day("2026-11-27"))
        );
    }

    #[test]
    fn shares_round_down_and_targets_compare_exactly() {
        let share = |verified, sent| SignedShare { verified, sent };
        assert_eq!(share(1999, 2000).to_string(), "99.9");
        assert!(!share(1979, 2000).meets(SignedShareTarget(99)), "98.95%");
        assert_eq!(share(1979, 2000).to_string(), "98.9");
        assert!(share(99, 100).meets(SignedShareTarget(99)));
        assert!(!share(98, 100).meets(SignedShareTarget(99)));
        assert_eq!(share(0, 7).to_string(), "0.0");
        assert_eq!(share(7, 7).to_string(), "100.0");
        assert_eq!(share(2, 3).tenths_of_percent(), 666);
        let none = EgovCounts::default();
        assert_eq!(none.signed_share(), None);
        assert_eq!(none.meets(Some(SignedShareTarget(70))), None);
        let some = EgovCounts {
            sent: 10,
            verified: 7,
            ..EgovCounts::default()
        };
        assert_eq!(some.meets(Some(SignedShareTarget(70))), Some(true));
        assert_eq!(some.meets(None), None);
    }

    #[allow(clippy::too_many_lines, reason = "one case, read top to bottom")]
    #[test]
    fn agencies_are_grouped_by_level_in_tree_order_and_summed() {
        let agencies = vec![
            agency(1, "vinhphuc", AgencyLevel::Province, None),
            agency(2, "vinhyen", AgencyLevel::District, Some(1)),
            agency(3, "stttt", AgencyLevel::Department, Some(1)),
            agency(4, "dongda", AgencyLevel::Commune, Some(2)),
            agency(5, "binhxuyen", AgencyLevel::District, Some(1)),
            agency(6, "huongcanh", AgencyLevel::Commune, Some(5)),
            agency(7, "sonv", AgencyLevel::Department, Some(1)),
        ];
        let mut own = HashMap::new();
        own.insert(
            AgencyId(2),
            EgovCounts {
                agencies_with_mailboxes: 1,
                mailboxes: 3,
                sent: 100,
                signed: 97,
                verified: 96,
                ..EgovCounts::default()
            },
        );
        own.insert(
            AgencyId(6),
            EgovCounts {
                agencies_with_mailboxes: 1,
                mailboxes: 2,
                active: 1,
                sent: 10,
                signed: 8,
                verified: 6,
                ..EgovCounts::default()
            },
        );
        let period = ReportPeriod::year_to_date(day("2026-06-30"));
        let report = build_egov_report(period, UnixTime(0), &agencies, &own);

        type Row<'a> = (&'a str, usize, Option<&'a str>);
        let rows: Vec<(AgencyLevel, Vec<Row>)> = report
            .levels
            .iter()
            .map(|l| {
                (
                    l.level,
                    l.agencies
                        .iter()
                        .map(|a| (a.agency.code.as_str(), a.depth, a.parent_code.as_deref()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (AgencyLevel::Province, vec![("vinhphuc", 0, None)]),
                (
                    AgencyLevel::Department,
                    vec![
                        ("sonv", 1, Some("vinhphuc")),
                        ("stttt", 1, Some("vinhphuc"))
                    ]
                ),
                (
                    AgencyLevel::District,
                    vec![
                        ("binhxuyen", 1, Some("vinhphuc")),
                        ("vinhyen", 1, Some("vinhphuc"))
                    ]
                ),
                (
                    AgencyLevel::Commune,
                    vec![
                        ("huongcanh", 2, Some("binhxuyen")),
                        ("dongda", 2, Some("vinhyen"))
                    ]
                ),
            ]
        );
        let district = &report.levels[2];
        assert_eq!(district.target, Some(SignedShareTarget(95)));
        assert_eq!(
            district.counts,
            EgovCounts {
                agencies: 2,
                agencies_with_mailboxes: 1,
                mailboxes: 3,
                sent: 100,
                signed: 97,
                verified: 96,
                ..EgovCounts::default()
            }
        );
        assert_eq!(district.counts.meets(district.target), Some(true));
        assert_eq!(report.levels[0].target, None);
        assert_eq!(report.levels[1].counts.agencies, 2);
        assert_eq!(report.levels[1].counts.signed_share(), None);
        assert_eq!(
            report.total,
            EgovCounts {
                agencies: 7,
                agencies_with_mailboxes: 2,
                mailboxes: 5,
                active: 1,
                sent: 110,
                signed: 105,
                verified: 102,
                ..EgovCounts::default()
            }
        );
    }

    #[test]
    fn every_level_is_listed_even_without_agencies() {
        let period = ReportPeriod::year_to_date(day("2026-06-30"));
        let report = build_egov_report(period, UnixTime(0), &[], &HashMap::new());
        let levels: Vec<AgencyLevel> = report.levels.iter().map(|l| l.level).collect();
        assert_eq!(levels, AgencyLevel::ALL);
        assert!(report.levels.iter().all(|l| l.agencies.is_empty()));
        assert_eq!(report.total, EgovCounts::default());
    }
}
