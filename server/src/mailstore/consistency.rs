//! The consistency check of the mail store: the invariants that deliveries, expunges and
//! imports keep in one transaction (body reference counts, UIDNEXT, HIGHESTMODSEQ, quota
//! usage, message sizes) checked against what the tables hold, and the repair of what can
//! be rebuilt from the database alone. Mail whose body is gone cannot be rebuilt: it is
//! reported for a restore from backup, never invented. The SQL lives in
//! `store::consistency`; printing the report is the caller's.

use serde_json::{json, Map, Value};

use super::{Mailstore, MailstoreError};
use crate::model::{Actor, AuditRecord, Examined, Finding, Inconsistency};
use crate::store::{Conn, StoreError};

/// How many offending rows of each kind a report names; the count covers all of them.
pub const EXAMPLES_PER_KIND: u32 = 5;

/// What a check found: one finding per kind, in [`Inconsistency::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyReport {
    pub examined: Examined,
    pub findings: Vec<Finding>,
}

impl ConsistencyReport {
    /// How many inconsistencies of `kind` there are.
    pub fn count(&self, kind: Inconsistency) -> u64 {
        self.findings
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.total)
            .sum()
    }

    /// Inconsistencies of every kind together.
    pub fn problems(&self) -> u64 {
        self.findings.iter().map(|f| f.total).sum()
    }

    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems() == 0
    }

    /// `{kind name: count}` for every kind.
    pub fn counts(&self) -> Map<String, Value> {
        self.findings
            .iter()
            .map(|f| (f.kind.name().to_string(), json!(f.total)))
            .collect()
    }
}

/// What a repair found, fixed and left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The database before the repair.
    pub found: ConsistencyReport,
    /// Rows changed per kind, for the kinds that changed any, in the order repaired.
    pub fixed: Vec<(Inconsistency, u64)>,
    /// The database after the repair: clean, or only what needs a restore from backup.
    pub left: ConsistencyReport,
}

impl Mailstore {
    /// Checks the mail store's invariants; changes nothing. Each kind is read in one
    /// statement, so a server delivering meanwhile causes no false finding.
    pub async fn check(&self) -> Result<ConsistencyReport, MailstoreError> {
        let mut conn = self.store.read().await?;
        Ok(examine(&mut conn).await?)
    }

    /// Repairs what can be rebuilt from the database, in one transaction with the audit
    /// row `store.repair` by `actor`; other writers wait while it runs. A clean database
    /// is left untouched and nothing is recorded.
    pub async fn repair(&self, actor: &Actor) -> Result<RepairReport, MailstoreError> {
        let mut tx = self.store.begin().await?;
        tx.hold_off_mail_writers().await?;
        let found = examine(&mut tx).await?;
        if found.is_clean() {
            return Ok(RepairReport {
                left: found.clone(),
                found,
                fixed: Vec::new(),
            });
        }
        // Every repair runs, not only those of kinds found: fixing sizes can make a usage
        // that agreed with the wrong sizes disagree with the right ones.
        let mut fixed = Vec::new();
        for kind in Inconsistency::REPAIR_ORDER {
            let changed = tx.repair_inconsistency(kind).await?;
            if changed > 0 {
                fixed.push((kind, changed));
            }
        }
        let left = examine(&mut tx).await?;
        if !fixed.is_empty() {
            let record = repair_record(actor, &found, &fixed, &left);
            tx.record_event(&record, self.clock.now()).await?;
            tx.commit().await?;
        }
        Ok(RepairReport { found, fixed, left })
    }
}

async fn examine(conn: &mut Conn) -> Result<ConsistencyReport, StoreError> {
    let examined = conn.consistency_examined().await?;
    let mut findings = Vec::with_capacity(Inconsistency::ALL.len());
    for kind in Inconsistency::ALL {
        findings.push(conn.find_inconsistency(kind, EXAMPLES_PER_KIND).await?);
    }
    Ok(ConsistencyReport { examined, findings })
}

/// The audit row of a repair: the counts found before, what was fixed and what is left.
fn repair_record(
    actor: &Actor,
    found: &ConsistencyReport,
    fixed: &[(Inconsistency, u64)],
    left: &ConsistencyReport,
) -> AuditRecord {
    let fixed: Map<String, Value> = fixed
        .iter()
        .map(|(kind, n)| (kind.name().to_string(), json!(n)))
        .collect();
    let nonzero = |report: &ConsistencyReport| -> Map<String, Value> {
        report
            .counts()
            .into_iter()
            .filter(|(_, n)| n.as_u64() != Some(0))
            .collect()
    };
    AuditRecord {
        actor: actor.0.clone(),
        action: "store.repair".to_string(),
        target: "store".to_string(),
        before: Some(json!({ "found": nonzero(found) }).to_string()),
        after: Some(json!({ "fixed": fixed, "left": nonzero(left) }).to_string()),
    }
}
