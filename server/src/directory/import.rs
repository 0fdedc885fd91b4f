//! Bulk onboarding from an agency's HR list: rows are matched to existing officials (by
//! employee id, else by address), turned into a plan (create, update, unchanged, rejected,
//! missing), and the plan is applied in one transaction, with an audit row per official.
//! Reading files is the caller's business; this module sees rows. Officials and groups
//! brought over from another directory's export go through [`migration`], which shares the
//! same bulk writes, rejection reports and all-or-nothing transaction.

mod migration;

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::agency_ops::agency_in;
use super::official_ops::{apply_changes, initial_uidvalidity, official_in, official_summary};
use super::{
    ascii_word, attribute_value, audit_record, optional_attribute, Actor, AddressAllocator,
    AddressEntry, AddressOwner, AddressRule, Agency, AuditRecord, Directory, DirectoryError,
    MailAddress, MailDomain, Official, OfficialChanges, OfficialId, OfficialStatus, PersonName,
    StoredPassword,
};
use crate::model::DEFAULT_MAILBOXES;
use crate::store::Conn;

pub use migration::{
    MigratedGroup, MigratedMember, MigratedOfficial, MigrationOutcome, MigrationPlan, PlannedGroup,
    PlannedMember, PlannedOfficial, PlannedPassword,
};

/// A field an HR list may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportField {
    FullName,
    Title,
    Phone,
    Email,
    EmployeeId,
    Unit,
    Password,
}

impl ImportField {
    /// Every field, in the order they are reported.
    pub const ALL: [ImportField; 7] = [
        ImportField::FullName,
        ImportField::Title,
        ImportField::Phone,
        ImportField::Email,
        ImportField::EmployeeId,
        ImportField::Unit,
        ImportField::Password,
    ];

    /// The English field name, as used in `--map column=field`.
    pub fn name(self) -> &'static str {
        match self {
            ImportField::FullName => "full_name",
            ImportField::Title => "title",
            ImportField::Phone => "phone",
            ImportField::Email => "email",
            ImportField::EmployeeId => "employee_id",
            ImportField::Unit => "unit",
            ImportField::Password => "password",
        }
    }
}

/// One row of an HR list. Empty cells are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRow {
    /// Where the row is in the file, for messages (CSV line or spreadsheet row).
    pub line: u64,
    pub full_name: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub employee_id: Option<String>,
    pub unit: Option<String>,
    pub password: Option<String>,
    /// Why the file's reader could not read the row (a formula error in a cell, say): the
    /// planner rejects it with this reason.
    pub unreadable: Option<String>,
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub agency_code: String,
    /// The rule for new addresses; the agency's domain rule when `None`.
    pub address_rule: Option<String>,
    /// The fields the file has columns for: only those are compared and updated (a column
    /// that is present with an empty cell clears the attribute).
    pub columns: Vec<ImportField>,
    /// Disable the agency's active officials who are not on the list.
    pub disable_missing: bool,
}

/// An official the import will create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCreate {
    pub line: u64,
    pub login: String,
    pub address: String,
    pub name: PersonName,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub unit: Option<String>,
    pub employee_id: Option<String>,
    /// A password from the file, when the file carries one.
    pub password: Option<String>,
}

/// An existing official the import will change.
#[derive(Debug, Clone)]
pub struct PlannedUpdate {
    pub line: u64,
    pub login: String,
    /// Names of the changed attributes, for the report.
    pub fields: Vec<&'static str>,
    pub changes: OfficialChanges,
}

/// A row the import will not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

/// What an import will do; nothing is written until [`Directory::apply_import`].
#[derive(Debug, Clone)]
pub struct ImportPlan {
    pub agency: Agency,
    pub creates: Vec<PlannedCreate>,
    pub updates: Vec<PlannedUpdate>,
    /// Rows that match an official whose attributes already agree: (line, login).
    pub unchanged: Vec<(u64, String)>,
    pub rejected: Vec<Rejection>,
    /// Active officials of the agency who are not on the list (logins).
    pub missing: Vec<String>,
    /// Whether `missing` officials are disabled when the plan is applied.
    pub disable_missing: bool,
    /// Disabling was asked for but withheld because rows were rejected: a rejected row may
    /// be an official who is still there.
    pub disable_withheld: bool,
}

impl ImportPlan {
    /// Whether applying the plan would change nothing.
    pub fn is_noop(&self) -> bool {
        self.creates.is_empty()
            && self.updates.is_empty()
            && (self.missing.is_empty() || !self.disable_missing)
    }
}

/// What an applied import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    pub created: usize,
    pub updated: usize,
    pub disabled: usize,
}

/// What the planner knows about the directory outside the file.
struct Known {
    domain: MailDomain,
    agency_officials: HashMap<String, Official>,
    hr_holders: HashMap<String, (String, bool)>,
    address_holders: HashMap<String, Option<String>>,
    allocator: AddressAllocator,
}

impl Directory {
    /// Plans the import of `rows` into the agency `options.agency_code`. Reads only.
    pub async fn plan_import(
        &self,
        rows: &[ImportRow],
        options: &ImportOptions,
    ) -> Result<ImportPlan, DirectoryError> {
        if rows.is_empty() && options.disable_missing {
            return Err(DirectoryError::Invalid(format!(
                "the list has no officials: refusing to disable everyone in {}; check the file",
                options.agency_code
            )));
        }
        let mut conn = self.read().await?;
        let agency = agency_in(&mut conn, &options.agency_code).await?;
        let mut known = load_known(&mut conn, &agency).await?;
        let rule = AddressRule::parse(
            options
                .address_rule
                .as_deref()
                .unwrap_or(&known.domain.address_rule),
        )?;
        let mut plan = ImportPlan {
            agency,
            creates: Vec::new(),
            updates: Vec::new(),
            unchanged: Vec::new(),
            rejected: Vec::new(),
            missing: Vec::new(),
            disable_missing: options.disable_missing,
            disable_withheld: false,
        };
        let mut planner = Planner {
            rule,
            options,
            known: &mut known,
            matched: HashSet::new(),
            seen_ids: HashMap::new(),
            seen_emails: HashMap::new(),
        };
        for row in rows {
            if let Err(reason) = planner.plan_row(row, &mut plan) {
                plan.rejected.push(Rejection {
                    line: row.line,
                    reason,
                });
            }
        }
        let matched = std::mem::take(&mut planner.matched);
        let mut missing: Vec<String> = known
            .agency_officials
            .values()
            .filter(|o| o.status == OfficialStatus::Active && !matched.contains(&o.login))
            .map(|o| o.login.clone())
            .collect();
        missing.sort();
        plan.missing = missing;
        if plan.disable_missing && !plan.rejected.is_empty() {
            plan.disable_missing = false;
            plan.disable_withheld = true;
        }
        Ok(plan)
    }

    /// Applies `plan` in one transaction: every created official (with address, mailboxes
    /// and its password), every update and, when asked, every disabling, each with its audit
    /// row. On any error nothing is applied.
    ///
    /// The passwords of `plan.creates`, in order, arrive on `passwords` in batches, so that
    /// each batch is written while the next one is still being hashed.
    pub async fn apply_import(
        &self,
        actor: &Actor,
        plan: &ImportPlan,
        passwords: tokio::sync::mpsc::Receiver<Vec<StoredPassword>>,
    ) -> Result<ImportOutcome, DirectoryError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let domain = tx
            .domain_by_id(plan.agency.domain_id)
            .await?
            .ok_or_else(|| {
                DirectoryError::Invalid("the agency's domain no longer exists".into())
            })?;
        let mut records = Vec::with_capacity(plan.updates.len() + plan.missing.len() + 1);
        let created = self
            .create_planned(&mut tx, actor, plan, &domain, passwords)
            .await?;
        for update in &plan.updates {
            let mut official = official_in(&mut tx, &update.login).await?;
            let before = official_summary(&official);
            apply_changes(&mut tx, &mut official, &update.changes).await?;
            official.updated_at = now;
            tx.update_official(&official)
                .await
                .map_err(|e| line_error(update.line, e.into()))?;
            let target = format!("official:{}", official.login);
            records.push(audit_record(
                actor,
                "official.update",
                target,
                Some(before),
                Some(official_summary(&official)),
            ));
        }
        let mut disabled = 0;
        if plan.disable_missing {
            for login in &plan.missing {
                let official = official_in(&mut tx, login).await?;
                tx.set_official_status(official.id, OfficialStatus::Disabled, now)
                    .await?;
                let before = json!({"status": "active"});
                let after = json!({"status": "disabled", "reason": "not on the HR list"});
                records.push(audit_record(
                    actor,
                    "official.disable",
                    format!("official:{login}"),
                    Some(before),
                    Some(after),
                ));
                disabled += 1;
            }
        }
        let summary = json!({
            "agency": plan.agency.code, "created": plan.creates.len(), "updated": plan.updates.len(),
            "unchanged": plan.unchanged.len(), "rejected": plan.rejected.len(), "disabled": disabled,
        });
        records.push(audit_record(
            actor,
            "agency.import",
            format!("agency:{}", plan.agency.code),
            None,
            Some(summary),
        ));
        tx.record_changes(&records, now).await?;
        tx.commit().await?;
        Ok(ImportOutcome {
            created: created.len(),
            updated: plan.updates.len(),
            disabled,
        })
    }

    /// Writes the planned officials with their primary addresses, mailboxes and audit rows,
    /// a few multi-row statements per batch of passwords received, so that the writing of
    /// one batch overlaps the hashing of the next.
    async fn create_planned(
        &self,
        tx: &mut Conn,
        actor: &Actor,
        plan: &ImportPlan,
        domain: &MailDomain,
        mut passwords: tokio::sync::mpsc::Receiver<Vec<StoredPassword>>,
    ) -> Result<Vec<Official>, DirectoryError> {
        let now = self.now();
        let mut officials: Vec<Official> = Vec::with_capacity(plan.creates.len());
        while officials.len() < plan.creates.len() {
            let batch = passwords.recv().await.ok_or_else(|| {
                DirectoryError::Internal(format!(
                    "passwords for {} of {} new officials arrived",
                    officials.len(),
                    plan.creates.len()
                ))
            })?;
            let start = officials.len();
            let creates = plan
                .creates
                .get(start..start + batch.len())
                .ok_or_else(|| {
                    DirectoryError::Internal("more passwords than new officials".into())
                })?;
            let mut chunk: Vec<Official> = creates
                .iter()
                .zip(batch)
                .map(|(create, password)| self.planned_official(plan, domain, create, password))
                .collect();
            let ids = tx
                .insert_officials(&chunk)
                .await
                .map_err(|e| changed_since_plan(e.into()))?;
            for (official, id) in chunk.iter_mut().zip(ids) {
                official.id = id;
            }
            let addresses: Vec<AddressEntry> = chunk
                .iter()
                .map(|o| AddressEntry {
                    address: o.primary_address.clone(),
                    owner: AddressOwner::Official(o.id),
                    is_primary: true,
                })
                .collect();
            tx.insert_addresses(&addresses, domain.id, now)
                .await
                .map_err(|e| changed_since_plan(e.into()))?;
            if let Some(first) = chunk.iter().map(|o| o.id).min() {
                let uidvalidity = initial_uidvalidity(now);
                let created = tx
                    .insert_missing_default_mailboxes(first, &DEFAULT_MAILBOXES, uidvalidity, now)
                    .await?;
                if created != (chunk.len() * DEFAULT_MAILBOXES.len()) as u64 {
                    return Err(changed_since_plan(DirectoryError::Invalid(format!(
                        "{created} mailboxes created for {} officials",
                        chunk.len()
                    ))));
                }
            }
            let records: Vec<AuditRecord> = chunk
                .iter()
                .map(|o| {
                    let target = format!("official:{}", o.login);
                    audit_record(
                        actor,
                        "official.import",
                        target,
                        None,
                        Some(official_summary(o)),
                    )
                })
                .collect();
            tx.record_changes(&records, now).await?;
            officials.extend(chunk);
        }
        Ok(officials)
    }
}

impl Directory {
    fn planned_official(
        &self,
        plan: &ImportPlan,
        domain: &MailDomain,
        create: &PlannedCreate,
        password: StoredPassword,
    ) -> Official {
        let now = self.now();
        Official {
            id: OfficialId(0),
            uuid: Self::new_uuid(),
            login: create.login.clone(),
            display_name: create.name.full(),
            name: create.name.clone(),
            primary_address: create.address.clone(),
            agency_id: plan.agency.id,
            unit: create.unit.clone(),
            title: create.title.clone(),
            phone: create.phone.clone(),
            hr_id: create.employee_id.clone(),
            status: OfficialStatus::Active,
            password: Some(password),
            password_set_at: Some(now),
            quota_bytes: domain.default_quota_bytes,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A conflict found while writing: someone changed the directory after the plan was made.
fn changed_since_plan(e: DirectoryError) -> DirectoryError {
    DirectoryError::Invalid(format!(
        "{e} (the directory changed since the plan was made: run the import again)"
    ))
}

/// Prefixes an error with the row it came from.
fn line_error(line: u64, e: DirectoryError) -> DirectoryError {
    DirectoryError::Invalid(format!(
        "line {line}: {e} (the directory changed since the plan was made: run the import again)"
    ))
}

async fn load_known(conn: &mut Conn, agency: &Agency) -> Result<Known, DirectoryError> {
    let domain = conn
        .domain_by_id(agency.domain_id)
        .await?
        .ok_or_else(|| DirectoryError::Invalid(format!("agency {} has no domain", agency.code)))?;
    let agency_officials = conn
        .officials_in_agency(agency.id)
        .await?
        .into_iter()
        .map(|o| (o.login.clone(), o))
        .collect();
    let hr_holders = conn
        .hr_id_holders()
        .await?
        .into_iter()
        .map(|h| (h.hr_id.clone(), (h.login.clone(), h.agency() == agency.id)))
        .collect();
    let holders = conn.address_holders(domain.id).await?;
    let suffix = format!("@{}", domain.name);
    let mut taken: Vec<String> = conn.all_logins().await?;
    taken.extend(
        holders
            .iter()
            .filter_map(|h| h.address.strip_suffix(&suffix).map(str::to_string)),
    );
    let address_holders = holders.into_iter().map(|h| (h.address, h.login)).collect();
    Ok(Known {
        domain,
        agency_officials,
        hr_holders,
        address_holders,
        allocator: AddressAllocator::new(taken),
    })
}

/// The planner's state while it walks the file in order.
struct Planner<'a> {
    rule: AddressRule,
    options: &'a ImportOptions,
    known: &'a mut Known,
    /// Logins already matched by an earlier row.
    matched: HashSet<String>,
    /// Employee ids and addresses seen on earlier rows, with their line.
    seen_ids: HashMap<String, u64>,
    seen_emails: HashMap<String, u64>,
}

/// A row's values after checking.
struct CheckedRow {
    name: PersonName,
    title: Option<String>,
    phone: Option<String>,
    unit: Option<String>,
    employee_id: Option<String>,
    email: Option<MailAddress>,
}

impl Planner<'_> {
    fn plan_row(&mut self, row: &ImportRow, plan: &mut ImportPlan) -> Result<(), String> {
        let checked = self.check_row(row)?;
        match self.find_existing(row, &checked)? {
            Some(login) => self.plan_existing(row.line, login, &checked, plan),
            None => self.plan_create(row, checked, plan),
        }
    }

    fn check_row(&mut self, row: &ImportRow) -> Result<CheckedRow, String> {
        if let Some(why) = &row.unreadable {
            return Err(why.clone());
        }
        let full_name = row.full_name.as_deref().map(str::trim).unwrap_or("");
        if full_name.is_empty() {
            return Err("the full name (Họ và tên) is missing".into());
        }
        let text = |field: &str, value: &Option<String>| {
            optional_attribute(field, value.as_deref()).map_err(|e| e.to_string())
        };
        attribute_value("full name", full_name).map_err(|e| e.to_string())?;
        text("password", &row.password)?;
        let name = PersonName::from_listed(full_name).map_err(|e| e.to_string())?;
        let employee_id = text("employee id", &row.employee_id)?;
        let email = match text("email", &row.email)? {
            Some(e) => Some(self.local_address(&e)?),
            None => None,
        };
        if let Some(id) = &employee_id {
            if let Some(first) = self.seen_ids.get(id) {
                return Err(format!("employee id {id} is already on line {first}"));
            }
            self.seen_ids.insert(id.clone(), row.line);
        }
        if let Some(address) = &email {
            if let Some(first) = self.seen_emails.get(&address.full()) {
                return Err(format!(
                    "address {} is already on line {first}",
                    address.full()
                ));
            }
            self.seen_emails.insert(address.full(), row.line);
        }
        Ok(CheckedRow {
            name,
            title: text("title", &row.title)?,
            phone: text("phone", &row.phone)?,
            unit: text("unit", &row.unit)?,
            employee_id,
            email,
        })
    }

    fn local_address(&self, text: &str) -> Result<MailAddress, String> {
        let address = MailAddress::parse(text).map_err(|e| e.to_string())?;
        if address.domain != self.known.domain.name {
            return Err(format!(
                "address {} is not in the agency's domain {}",
                address.full(),
                self.known.domain.name
            ));
        }
        Ok(address)
    }

    /// The login of the existing official this row stands for, if any.
    fn find_existing(
        &mut self,
        row: &ImportRow,
        checked: &CheckedRow,
    ) -> Result<Option<String>, String> {
        if let Some(id) = &checked.employee_id {
            if let Some((login, same_agency)) = self.known.hr_holders.get(id) {
                if !same_agency {
                    return Err(format!("employee id {id} belongs to {login} of another agency: move them first with `user update {login} --agency {}`", self.options.agency_code));
                }
                return self.claim(login.clone(), row).map(Some);
            }
        }
        if let Some(address) = &checked.email {
            return match self.known.address_holders.get(&address.full()) {
                None => Ok(None),
                Some(Some(login)) if self.known.agency_officials.contains_key(login) => {
                    self.claim(login.clone(), row).map(Some)
                }
                Some(_) => Err(format!(
                    "address {} belongs to someone outside this agency",
                    address.full()
                )),
            };
        }
        // No address, and an id nobody holds or no id: the rule's candidates in order (annv,
        // annv2, …) name the officials an earlier import, or an administrator, created for
        // the same name. A row with an id only matches an official who has none yet (the
        // update then records it); one with another id is someone else.
        let base = self
            .rule
            .local_part(&checked.name)
            .map_err(|e| e.to_string())?;
        let wanted = ascii_word(&checked.name.full());
        for candidate in AddressAllocator::candidates(&base).take(1000) {
            if !self.known.allocator.is_taken(&candidate) {
                return Ok(None);
            }
            let same_person = self
                .known
                .agency_officials
                .get(&candidate)
                .is_some_and(|o| {
                    ascii_word(&o.name.full()) == wanted
                        && (checked.employee_id.is_none() || o.hr_id.is_none())
                });
            if same_person && !self.matched.contains(&candidate) {
                return self.claim(candidate, row).map(Some);
            }
        }
        Ok(None)
    }

    fn claim(&mut self, login: String, row: &ImportRow) -> Result<String, String> {
        if !self.matched.insert(login.clone()) {
            return Err(format!(
                "row {} matches {login}, whom an earlier row already matched",
                row.line
            ));
        }
        Ok(login)
    }

    fn plan_existing(
        &mut self,
        line: u64,
        login: String,
        row: &CheckedRow,
        plan: &mut ImportPlan,
    ) -> Result<(), String> {
        let official = self
            .known
            .agency_officials
            .get(&login)
            .ok_or_else(|| format!("{login} is not in this agency"))?;
        let has = |f: ImportField| self.options.columns.contains(&f);
        let mut changes = OfficialChanges::default();
        let mut fields = Vec::new();
        if official.name.full() != row.name.full() {
            changes.name = Some(row.name.clone());
            changes.display_name = Some(row.name.full());
            fields.push("name");
        }
        let mut compare = |field: ImportField,
                           label: &'static str,
                           current: &Option<String>,
                           new: &Option<String>,
                           slot: &mut Option<Option<String>>| {
            if has(field) && current != new {
                *slot = Some(new.clone());
                fields.push(label);
            }
        };
        compare(
            ImportField::Title,
            "title",
            &official.title,
            &row.title,
            &mut changes.title,
        );
        compare(
            ImportField::Phone,
            "phone",
            &official.phone,
            &row.phone,
            &mut changes.phone,
        );
        compare(
            ImportField::Unit,
            "unit",
            &official.unit,
            &row.unit,
            &mut changes.unit,
        );
        if row.employee_id.is_some() && official.hr_id != row.employee_id {
            changes.hr_id = Some(row.employee_id.clone());
            fields.push("employee_id");
        }
        if fields.is_empty() {
            plan.unchanged.push((line, login));
        } else {
            plan.updates.push(PlannedUpdate {
                line,
                login,
                fields,
                changes,
            });
        }
        Ok(())
    }

    fn plan_create(
        &mut self,
        row: &ImportRow,
        checked: CheckedRow,
        plan: &mut ImportPlan,
    ) -> Result<(), String> {
        let (login, address) = match &checked.email {
            Some(address) => {
                let login = self.known.allocator.allocate(&address.local);
                self.known.allocator.take(&address.local);
                (login, address.full())
            }
            None => {
                let base = self
                    .rule
                    .local_part(&checked.name)
                    .map_err(|e| e.to_string())?;
                let local = self.known.allocator.allocate(&base);
                (local.clone(), format!("{local}@{}", self.known.domain.name))
            }
        };
        plan.creates.push(PlannedCreate {
            line: row.line,
            login,
            address,
            name: checked.name,
            title: checked.title,
            phone: checked.phone,
            unit: checked.unit,
            employee_id: checked.employee_id,
            password: row.password.clone(),
        });
        Ok(())
    }
}
