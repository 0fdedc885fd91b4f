//! Directory operations on domains and the agency tree.

use serde_json::json;

use super::{
    audit_record, name_taken, normalize_agency_code, normalize_domain, not_found,
    required_attribute, Actor, AddressEntry, AddressOwner, Agency, AgencyId, Directory,
    DirectoryError, MailAddress, MailDomain, NewAgency, NewDomain,
};
use crate::model::EntityKind;
use crate::store::{Conn, UniqueKey};

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
    /// Adds a mail domain.
    pub async fn add_domain(
        &self,
        actor: &Actor,
        new: NewDomain,
    ) -> Result<MailDomain, DirectoryError> {
        let name = normalize_domain(&new.name)?;
        if new.default_quota_bytes <= 0 || new.max_message_bytes <= 0 {
            return Err(DirectoryError::Invalid(
                "the default quota and the message size limit must be positive".into(),
            ));
        }
        let now = self.now();
        let mut domain = MailDomain {
            id: super::DomainId(0),
            name,
            is_primary: new.is_primary,
            default_quota_bytes: new.default_quota_bytes,
            max_message_bytes: new.max_message_bytes,
            address_rule: required_attribute("address rule", &new.address_rule)?,
            dkim_selector: None,
            require_tls_outbound: false,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        domain.id = tx.insert_domain(&domain).await.map_err(|e| {
            name_taken(
                e.into(),
                &[
                    (UniqueKey::DomainName, &domain.name),
                    (UniqueKey::PrimaryDomain, &domain.name),
                ],
            )
        })?;
        let after = json!({ "name": domain.name, "primary": domain.is_primary });
        self.commit_change(
            tx,
            actor,
            "domain.add",
            format!("domain:{}", domain.name),
            None,
            Some(after),
        )
        .await?;
        Ok(domain)
    }

    /// Every domain, primary first.
    pub async fn domains(&self) -> Result<Vec<MailDomain>, DirectoryError> {
        Ok(self.read().await?.domains().await?)
    }

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
