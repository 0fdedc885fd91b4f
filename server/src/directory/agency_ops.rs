//! Directory operations on agencies: the tree (adding, importing, moving), an agency's
//! details, and the usage report that sums officials and storage up the tree.

use serde_json::json;

use super::{
    audit_record, name_taken, normalize_agency_code, normalize_domain, not_found,
    required_attribute, Actor, AddressEntry, AddressOwner, Agency, AgencyId, AgencyLevel,
    Directory, DirectoryError, MailAddress, NewAgency,
};
use crate::model::EntityKind;
use crate::store::{Conn, UniqueKey};
use std::collections::HashMap;

/// What an agency import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgencyImportOutcome {
    /// Codes of the agencies added, in file order.
    pub added: Vec<String>,
    /// Rows naming agencies already present as described.
    pub unchanged: usize,
}

fn agency_summary(a: &Agency, parent: Option<&str>) -> serde_json::Value {
    json!({ "code": a.code, "name": a.name, "level": a.level.as_str(), "parent": parent })
}

impl Directory {
    /// Adds an agency under its parent, checking the tree's level rules.
    pub async fn add_agency(
        &self,
        actor: &Actor,
        new: NewAgency,
    ) -> Result<Agency, DirectoryError> {
        let mut tx = self.store.begin().await?;
        let (agency, after) = self.insert_agency(&mut tx, &new).await?;
        let target = format!("agency:{}", agency.code);
        self.commit_change(tx, actor, "agency.add", target, None, Some(after))
            .await?;
        Ok(agency)
    }

    /// Adds the agencies of an imported tree in file order (parents before children, or
    /// already present), in one transaction; agencies already present with the same name,
    /// level and parent are left alone. With `dry_run` nothing is committed.
    pub async fn import_agencies(
        &self,
        actor: &Actor,
        agencies: Vec<(u64, NewAgency)>,
        dry_run: bool,
    ) -> Result<AgencyImportOutcome, DirectoryError> {
        let mut tx = self.store.begin().await?;
        let mut outcome = AgencyImportOutcome::default();
        for (line, new) in agencies {
            let at_line = |e: DirectoryError| DirectoryError::Invalid(format!("line {line}: {e}"));
            let code = normalize_agency_code(&new.code).map_err(at_line)?;
            if let Some(existing) = tx.agency_by_code(&code).await? {
                let parent = match existing.parent_id {
                    Some(id) => tx.agency_by_id(id).await?.map(|p| p.code),
                    None => None,
                };
                let wanted_parent = new.parent_code.as_deref().map(str::to_ascii_lowercase);
                if existing.name != new.name.trim()
                    || existing.level != new.level
                    || parent != wanted_parent
                {
                    return Err(at_line(DirectoryError::Invalid(format!(
                        "agency {code} exists with another name, level or parent: change it with `agency move` or fix the file"
                    ))));
                }
                outcome.unchanged += 1;
                continue;
            }
            let (agency, after) = self.insert_agency(&mut tx, &new).await.map_err(at_line)?;
            let record = audit_record(
                actor,
                "agency.add",
                format!("agency:{}", agency.code),
                None,
                Some(after),
            );
            tx.record_change(&record, self.now()).await?;
            outcome.added.push(agency.code);
        }
        if !dry_run {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    /// Inserts one agency in `tx`, checking codes, names, the parent and the level rules;
    /// returns it with its audit summary.
    async fn insert_agency(
        &self,
        tx: &mut Conn,
        new: &NewAgency,
    ) -> Result<(Agency, serde_json::Value), DirectoryError> {
        let code = normalize_agency_code(&new.code)?;
        let name = required_attribute("agency name", &new.name)?;
        let parent = match &new.parent_code {
            Some(p) => Some(agency_in(tx, p).await?),
            None => None,
        };
        check_level(new.level, parent.as_ref())?;
        let domain = match &new.domain {
            Some(d) => {
                let d = normalize_domain(d)?;
                tx.domain_by_name(&d)
                    .await?
                    .ok_or_else(|| not_found(EntityKind::Domain, &d))?
            }
            None => tx.primary_domain().await?.ok_or_else(|| {
                DirectoryError::Invalid(
                    "no primary domain yet: add one with `domain add --primary` first".into(),
                )
            })?,
        };
        let now = self.now();
        let mut agency = Agency {
            id: AgencyId(0),
            uuid: Self::new_uuid(),
            code,
            name,
            level: new.level,
            parent_id: parent.as_ref().map(|p| p.id),
            domain_id: domain.id,
            created_at: now,
            updated_at: now,
        };
        agency.id = tx
            .insert_agency(&agency)
            .await
            .map_err(|e| name_taken(e.into(), &[(UniqueKey::AgencyCode, &agency.code)]))?;
        if let Some(address) = &new.mail_address {
            self.claim_address(tx, address, AddressOwner::Agency(agency.id), false)
                .await?;
        }
        let summary = agency_summary(&agency, parent.as_ref().map(|p| p.code.as_str()));
        Ok((agency, summary))
    }

    /// The agency with `code`.
    pub async fn agency(&self, code: &str) -> Result<Agency, DirectoryError> {
        agency_in(&mut self.read().await?, code).await
    }

    /// Every agency, in creation order.
    pub async fn agencies(&self) -> Result<Vec<Agency>, DirectoryError> {
        Ok(self.read().await?.agencies().await?)
    }

    /// The agencies directly under `code`.
    pub async fn agency_children(&self, code: &str) -> Result<Vec<Agency>, DirectoryError> {
        let mut conn = self.read().await?;
        let parent = agency_in(&mut conn, code).await?;
        Ok(conn.agency_children(parent.id).await?)
    }

    /// The agency `code` and everything below it, parents first.
    pub async fn agency_subtree(&self, code: &str) -> Result<Vec<Agency>, DirectoryError> {
        let mut conn = self.read().await?;
        let root = agency_in(&mut conn, code).await?;
        Ok(conn.agency_subtree(root.id).await?)
    }

    /// Moves agency `code` under `new_parent`, refusing moves that break the level rules or
    /// would put an agency below itself.
    pub async fn move_agency(
        &self,
        actor: &Actor,
        code: &str,
        new_parent: &str,
    ) -> Result<Agency, DirectoryError> {
        let mut tx = self.store.begin().await?;
        let mut agency = agency_in(&mut tx, code).await?;
        let parent = agency_in(&mut tx, new_parent).await?;
        check_level(agency.level, Some(&parent))?;
        if tx
            .agency_subtree(agency.id)
            .await?
            .iter()
            .any(|a| a.id == parent.id)
        {
            return Err(DirectoryError::Invalid(format!(
                "cannot move {} under {}: {} is inside {}'s own subtree",
                agency.code, parent.code, parent.code, agency.code
            )));
        }
        let old_parent = match agency.parent_id {
            Some(id) => tx.agency_by_id(id).await?.map(|p| p.code),
            None => None,
        };
        let before = agency_summary(&agency, old_parent.as_deref());
        agency.parent_id = Some(parent.id);
        agency.updated_at = self.now();
        tx.set_agency_parent(agency.id, agency.parent_id, agency.updated_at)
            .await?;
        let after = agency_summary(&agency, Some(&parent.code));
        self.commit_change(
            tx,
            actor,
            "agency.move",
            format!("agency:{}", agency.code),
            Some(before),
            Some(after),
        )
        .await?;
        Ok(agency)
    }

    /// Claims `address` for `owner` in `tx`, checking it is well-formed and in a served domain.
    pub(super) async fn claim_address(
        &self,
        tx: &mut Conn,
        address: &str,
        owner: AddressOwner,
        is_primary: bool,
    ) -> Result<String, DirectoryError> {
        let parsed = MailAddress::parse(address)?;
        let domain = tx.domain_by_name(&parsed.domain).await?.ok_or_else(|| {
            DirectoryError::Invalid(format!(
                "{} is not a domain congvu serves: add it with `domain add` or use a served domain",
                parsed.domain
            ))
        })?;
        let entry = AddressEntry {
            address: parsed.full(),
            owner,
            is_primary,
        };
        tx.insert_address(&entry, domain.id, self.now())
            .await
            .map_err(|e| name_taken(e.into(), &[(UniqueKey::Address, &entry.address)]))?;
        Ok(entry.address)
    }

    /// The agency `code` with its parent, children, addresses and own counts.
    pub async fn agency_details(&self, code: &str) -> Result<AgencyDetails, DirectoryError> {
        let mut conn = self.read().await?;
        let agency = agency_in(&mut conn, code).await?;
        let parent = match agency.parent_id {
            Some(id) => conn.agency_by_id(id).await?,
            None => None,
        };
        let children = conn.agency_children(agency.id).await?;
        let domain = conn
            .domain_by_id(agency.domain_id)
            .await?
            .map(|d| d.name)
            .unwrap_or_default();
        let addresses = conn
            .addresses_of(AddressOwner::Agency(agency.id))
            .await?
            .into_iter()
            .map(|e| e.address)
            .collect();
        let mut usage = own_usage(&mut conn, Some(agency.id))
            .await?
            .remove(&agency.id)
            .unwrap_or_default();
        usage.agencies = 1;
        Ok(AgencyDetails {
            agency,
            domain,
            parent,
            children,
            addresses,
            usage,
        })
    }

    /// Officials, mailboxes and storage per agency, per level and in total.
    pub async fn usage_report(&self) -> Result<UsageReport, DirectoryError> {
        let mut conn = self.read().await?;
        let agencies = conn.agencies().await?;
        let own = own_usage(&mut conn, None).await?;
        Ok(build_report(agencies, &own))
    }
}

/// The agency with `code` as seen by `conn`.
pub(super) async fn agency_in(conn: &mut Conn, code: &str) -> Result<Agency, DirectoryError> {
    let code = normalize_agency_code(code)?;
    conn.agency_by_code(&code)
        .await?
        .ok_or_else(|| not_found(EntityKind::Agency, &code))
}

fn check_level(level: super::AgencyLevel, parent: Option<&Agency>) -> Result<(), DirectoryError> {
    if level.may_have_parent(parent.map(|p| p.level)) {
        return Ok(());
    }
    Err(DirectoryError::Invalid(match parent {
        None => format!("a {level} needs a parent agency: only the province stands at the root"),
        Some(p) => format!("a {level} cannot sit under the {} {}", p.level, p.code),
    }))
}

/// Counts for one agency, a subtree, a level or the whole province.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub agencies: i64,
    pub officials: i64,
    pub active: i64,
    pub disabled: i64,
    /// Officials holding mailboxes, i.e. mail accounts (each has INBOX, Sent, …).
    pub mailboxes: i64,
    /// Sum of the sizes of the messages in those mailboxes.
    pub storage_bytes: i64,
}

impl Usage {
    fn add(&mut self, other: &Usage) {
        self.agencies += other.agencies;
        self.officials += other.officials;
        self.active += other.active;
        self.disabled += other.disabled;
        self.mailboxes += other.mailboxes;
        self.storage_bytes += other.storage_bytes;
    }
}

/// One agency's line in the usage report.
#[derive(Debug, Clone)]
pub struct AgencyUsage {
    pub agency: Agency,
    pub parent_code: Option<String>,
    /// 0 for the root, 1 for its children, and so on.
    pub depth: usize,
    /// The agency's own officials (`agencies` is 1).
    pub own: Usage,
    /// The agency and every agency below it.
    pub subtree: Usage,
}

/// The agencies of one level, their own counts summed.
#[derive(Debug, Clone, Copy)]
pub struct LevelUsage {
    pub level: AgencyLevel,
    pub usage: Usage,
}

/// The usage report: every agency in tree order, every level, and the total.
#[derive(Debug, Clone)]
pub struct UsageReport {
    /// Depth-first from the root, children by code.
    pub agencies: Vec<AgencyUsage>,
    /// Every level from the province down, also those with no agency.
    pub levels: Vec<LevelUsage>,
    pub total: Usage,
}

/// An agency with its place in the tree and its own counts.
#[derive(Debug, Clone)]
pub struct AgencyDetails {
    pub agency: Agency,
    pub domain: String,
    pub parent: Option<Agency>,
    /// Direct children, by code.
    pub children: Vec<Agency>,
    /// The agency's own addresses (vanthu@…).
    pub addresses: Vec<String>,
    pub usage: Usage,
}

/// Each agency's own counts (`agencies` left 0), from one query per aggregate.
async fn own_usage(
    conn: &mut Conn,
    only: Option<AgencyId>,
) -> Result<HashMap<AgencyId, Usage>, DirectoryError> {
    let mut usage: HashMap<AgencyId, Usage> = HashMap::new();
    for (agency, active, disabled) in conn.official_counts_by_agency(only).await? {
        let u = usage.entry(agency).or_default();
        u.active = active;
        u.disabled = disabled;
        u.officials = active + disabled;
    }
    for (agency, n) in conn.mailbox_holders_by_agency(only).await? {
        usage.entry(agency).or_default().mailboxes = n;
    }
    for (agency, bytes) in conn.storage_by_agency(only).await? {
        usage.entry(agency).or_default().storage_bytes = bytes;
    }
    Ok(usage)
}

/// Orders the agencies depth-first and sums own counts into subtrees, levels and the total.
fn build_report(agencies: Vec<Agency>, own: &HashMap<AgencyId, Usage>) -> UsageReport {
    let own_of = |id: AgencyId| Usage {
        agencies: 1,
        ..own.get(&id).copied().unwrap_or_default()
    };
    let code_of: HashMap<AgencyId, String> =
        agencies.iter().map(|a| (a.id, a.code.clone())).collect();
    let ordered = super::agency::tree_order(&agencies);
    // Children come after their parent in depth-first order: walked backwards, each agency's
    // subtree is complete when it is reached, and is then added to its parent's.
    let mut subtree: HashMap<AgencyId, Usage> = HashMap::new();
    let mut below: HashMap<AgencyId, Usage> = HashMap::new();
    for (agency, _) in ordered.iter().rev() {
        let mut sum = own_of(agency.id);
        if let Some(kids) = below.remove(&agency.id) {
            sum.add(&kids);
        }
        if let Some(parent) = agency.parent_id {
            below.entry(parent).or_default().add(&sum);
        }
        subtree.insert(agency.id, sum);
    }

    let mut levels: Vec<LevelUsage> = AgencyLevel::ALL
        .into_iter()
        .map(|level| LevelUsage {
            level,
            usage: Usage::default(),
        })
        .collect();
    let mut total = Usage::default();
    for (agency, _) in &ordered {
        let own = own_of(agency.id);
        if let Some(l) = levels.iter_mut().find(|l| l.level == agency.level) {
            l.usage.add(&own);
        }
        total.add(&own);
    }

    UsageReport {
        agencies: ordered
            .into_iter()
            .map(|(agency, depth)| AgencyUsage {
                parent_code: agency.parent_id.and_then(|p| code_of.get(&p).cloned()),
                depth,
                own: own_of(agency.id),
                subtree: subtree.get(&agency.id).copied().unwrap_or_default(),
                agency: agency.clone(),
            })
            .collect(),
        levels,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;

    use crate::clock::UnixTime;
    use crate::directory::DomainId;

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
    fn report_sums_subtrees_levels_and_total() {
        let agencies = vec![
            agency(1, "vinhphuc", AgencyLevel::Province, None),
            agency(2, "vinhyen", AgencyLevel::District, Some(1)),
            agency(3, "stttt", AgencyLevel::Department, Some(1)),
            agency(4, "dongda", AgencyLevel::Commune, Some(2)),
        ];
        let mut own = HashMap::new();
        let counts = |active, disabled, storage_bytes| Usage {
            agencies: 0,
            officials: active + disabled,
            active,
            disabled,
            mailboxes: active + disabled,
            storage_bytes,
        };
        own.insert(AgencyId(2), counts(1, 1, 100));
        own.insert(AgencyId(3), counts(2, 0, 10));
        own.insert(AgencyId(4), counts(3, 0, 1));
        let report = build_report(agencies, &own);

        let order: Vec<(&str, usize)> = report
            .agencies
            .iter()
            .map(|a| (a.agency.code.as_str(), a.depth))
            .collect();
        assert_eq!(
            order,
            [("vinhphuc", 0), ("stttt", 1), ("vinhyen", 1), ("dongda", 2)]
        );
        let root = &report.agencies[0];
        assert_eq!(
            root.own,
            Usage {
                agencies: 1,
                ..Usage::default()
            }
        );
        assert_eq!(
            root.subtree,
            Usage {
                agencies: 4,
                officials: 7,
                active: 6,
                disabled: 1,
                mailboxes: 7,
                storage_bytes: 111
            }
        );
        let vinhyen = &report.agencies[2];
        assert_eq!(vinhyen.subtree.officials, 5);
        assert_eq!(vinhyen.parent_code.as_deref(), Some("vinhphuc"));
        let levels: Vec<(AgencyLevel, i64, i64)> = report
            .levels
            .iter()
            .map(|l| (l.level, l.usage.agencies, l.usage.officials))
            .collect();
        assert_eq!(
            levels,
            [
                (AgencyLevel::Province, 1, 0),
                (AgencyLevel::Department, 1, 2),
                (AgencyLevel::District, 1, 2),
                (AgencyLevel::Commune, 1, 3),
            ]
        );
        assert_eq!(report.total, root.subtree);
    }
}
