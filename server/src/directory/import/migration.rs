//! Bringing officials and groups over from another directory (`congvu-admin migrate ldif`):
//! the caller reads the export and hands over each official as the old directory held them
//! (login, addresses, names, agency, `userPassword` values) and each group with its members;
//! this module checks them against congvu's rules and the directory into a plan, and applies
//! the plan in one transaction, as an HR import does.
//!
//! Logins and addresses are kept as they were, never derived from names. A password hash in
//! a scheme `legacy_password` checks is carried over as it is; any other password (clear
//! text, an unknown scheme, a hash beyond the bounds, none at all) is replaced by a generated
//! initial password, and the plan says why for each official. An official already in the
//! directory with the same login and address is left as it is, so a second run of the same
//! export changes nothing (groups gain only the members they lack). Reading files is the
//! caller's business; this module sees entries and line numbers.

mod groups;

use std::collections::HashMap;

use serde_json::json;

use super::{changed_since_plan, Rejection};
use crate::directory::official_ops::{checked_name, initial_uidvalidity};
use crate::directory::{
    audit_record, normalize_login, optional_attribute, required_attribute, Actor, AddressEntry,
    AddressOwner, Agency, AgencyId, AuditRecord, Directory, DirectoryError, DomainId, LegacyHash,
    LegacyHashError, MailAddress, MailDomain, Official, OfficialId, OfficialStatus, PasswordCost,
    PasswordHash, PersonName, StoredPassword,
};
use crate::model::DEFAULT_MAILBOXES;
use crate::store::Conn;

pub use groups::{MigratedGroup, MigratedMember, PlannedGroup, PlannedMember};

/// An official as the old directory held them, read from its export.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MigratedOfficial {
    /// Where the entry starts in the export, for messages.
    pub line: u64,
    /// The old login (`uid`), kept.
    pub login: String,
    /// The old addresses (`mail`) in the export's order: the first is the primary address,
    /// the others become aliases.
    pub addresses: Vec<String>,
    /// Further aliases (`mailAlternateAddress`, `zimbraMailAlias`).
    pub aliases: Vec<String>,
    /// `cn`, `sn`, `givenName` and `displayName`.
    pub full_name: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub display_name: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    /// The congvu agency the caller mapped the entry to.
    pub agency_code: String,
    /// The `userPassword` values as exported; secret, never shown.
    pub passwords: Vec<String>,
}

impl std::fmt::Debug for MigratedOfficial {
    // The `userPassword` values are hashes or clear-text passwords: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigratedOfficial")
            .field("line", &self.line)
            .field("login", &self.login)
            .field("addresses", &self.addresses)
            .field("aliases", &self.aliases)
            .field("full_name", &self.full_name)
            .field("family_name", &self.family_name)
            .field("given_name", &self.given_name)
            .field("display_name", &self.display_name)
            .field("title", &self.title)
            .field("phone", &self.phone)
            .field("agency_code", &self.agency_code)
            .field(
                "passwords",
                &format_args!("[{} value(s) …]", self.passwords.len()),
            )
            .finish()
    }
}

/// The password a migrated official starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedPassword {
    /// The old directory's hash, carried over until the first sign-in replaces it.
    Carried {
        /// The scheme, as in `{SSHA}`: not secret, for the report.
        scheme: &'static str,
        hash: PasswordHash,
    },
    /// A generated initial password (the caller makes and hands it out), because of `why`.
    Initial { why: String },
}

/// An official the migration will create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOfficial {
    pub line: u64,
    pub login: String,
    pub address: String,
    pub aliases: Vec<String>,
    pub name: PersonName,
    pub display_name: String,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub agency: AgencyId,
    pub agency_code: String,
    pub password: PlannedPassword,
}

/// What a migration will do; nothing is written until [`Directory::apply_migration`].
#[derive(Debug, Clone, Default)]
pub struct MigrationPlan {
    pub officials: Vec<PlannedOfficial>,
    /// Officials already in the directory with the same login and address: (line, login).
    pub present: Vec<(u64, String)>,
    /// Groups to create, and groups already there that lack members.
    pub groups: Vec<PlannedGroup>,
    /// Groups already there with every member: (line, name).
    pub groups_present: Vec<(u64, String)>,
    /// Entries the migration will not apply, and why.
    pub rejected: Vec<Rejection>,
    /// What the migration does that the administrator should know of (a generated password
    /// and why, a member left out): applied all the same.
    pub notes: Vec<Rejection>,
}

impl MigrationPlan {
    /// Whether applying the plan would change nothing.
    pub fn is_noop(&self) -> bool {
        self.officials.is_empty() && self.groups.is_empty()
    }

    /// How many new officials get a generated initial password.
    pub fn initial_passwords(&self) -> usize {
        self.officials
            .iter()
            .filter(|o| matches!(o.password, PlannedPassword::Initial { .. }))
            .count()
    }
}

/// What an applied migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationOutcome {
    pub officials: usize,
    pub carried_passwords: usize,
    pub groups_created: usize,
    pub members_added: usize,
}

/// What the planner knows about the directory outside the export.
struct Known {
    domains: HashMap<String, MailDomain>,
    agencies: HashMap<String, Agency>,
    /// Every official's login and primary address.
    logins: HashMap<String, (OfficialId, String)>,
    /// Every address in a served domain, with the login of the official holding it (none
    /// for a group's or an agency's).
    addresses: HashMap<String, Option<String>>,
}

impl Known {
    async fn load(conn: &mut Conn) -> Result<Known, DirectoryError> {
        let domains: HashMap<String, MailDomain> = conn
            .domains()
            .await?
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect();
        let agencies = conn
            .agencies()
            .await?
            .into_iter()
            .map(|a| (a.code.clone(), a))
            .collect();
        let logins = conn
            .all_officials()
            .await?
            .into_iter()
            .map(|o| (o.login, (o.id, o.primary_address)))
            .collect();
        let mut addresses = HashMap::new();
        for domain in domains.values() {
            for holder in conn.address_holders(domain.id).await? {
                addresses.insert(holder.address, holder.login);
            }
        }
        Ok(Known {
            domains,
            agencies,
            logins,
            addresses,
        })
    }
}

/// Where each official of the input went in the plan, for the groups' members.
#[derive(Debug, Clone)]
enum OfficialFate {
    New(usize),
    Present(OfficialId, String),
    Rejected,
}

impl Directory {
    /// Plans the migration of `officials` and `groups` (whose members index into the two
    /// slices). Reads only.
    pub async fn plan_migration(
        &self,
        officials: &[MigratedOfficial],
        groups: &[MigratedGroup],
    ) -> Result<MigrationPlan, DirectoryError> {
        let mut conn = self.read().await?;
        let known = Known::load(&mut conn).await?;
        let mut plan = MigrationPlan::default();
        let mut claimed = Claimed::default();
        let fates: Vec<OfficialFate> = officials
            .iter()
            .map(|o| match plan_official(o, &known, &mut claimed) {
                Ok(Planned::New(p, note)) => {
                    if let Some(why) = note {
                        plan.notes.push(Rejection {
                            line: o.line,
                            reason: format!(
                                "{}: {why}: gets a generated initial password",
                                p.login
                            ),
                        });
                    }
                    plan.officials.push(*p);
                    OfficialFate::New(plan.officials.len() - 1)
                }
                Ok(Planned::Present(id, login)) => {
                    plan.present.push((o.line, login.clone()));
                    OfficialFate::Present(id, login)
                }
                Err(reason) => {
                    plan.rejected.push(Rejection {
                        line: o.line,
                        reason,
                    });
                    OfficialFate::Rejected
                }
            })
            .collect();
        groups::plan_groups(
            &mut conn,
            officials,
            groups,
            &fates,
            &known,
            &mut claimed,
            &mut plan,
        )
        .await?;
        plan.rejected.sort_by_key(|r| r.line);
        plan.notes.sort_by_key(|r| r.line);
        Ok(plan)
    }

    /// Applies `plan` in one transaction: every new official with their addresses, default
    /// mailboxes and password, every new group with its address, every missing membership,
    /// each with its audit row. On any error nothing is applied. `initial` holds the hashed
    /// generated passwords of the officials planned with [`PlannedPassword::Initial`], in
    /// plan order.
    pub async fn apply_migration(
        &self,
        actor: &Actor,
        plan: &MigrationPlan,
        initial: Vec<StoredPassword>,
    ) -> Result<MigrationOutcome, DirectoryError> {
        if initial.len() != plan.initial_passwords() {
            return Err(DirectoryError::Internal(format!(
                "{} initial passwords for {} officials who need one",
                initial.len(),
                plan.initial_passwords()
            )));
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let domains: HashMap<String, MailDomain> = tx
            .domains()
            .await?
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect();
        let ids = self
            .create_migrated(&mut tx, plan, initial, &domains)
            .await?;
        let (groups_created, members_added) =
            groups::apply_groups(self, &mut tx, plan, &ids, &domains).await?;
        let mut records: Vec<AuditRecord> = plan
            .officials
            .iter()
            .map(|o| {
                let after = json!({
                    "login": o.login, "address": o.address, "aliases": o.aliases,
                    "agency": o.agency_code, "password": migrated_password_summary(&o.password),
                });
                audit_record(
                    actor,
                    "official.migrate",
                    format!("official:{}", o.login),
                    None,
                    Some(after),
                )
            })
            .collect();
        records.extend(groups::audit_records(actor, plan));
        let carried_passwords = plan.officials.len() - plan.initial_passwords();
        let summary = json!({
            "created": plan.officials.len(), "present": plan.present.len(),
            "carried_passwords": carried_passwords, "groups_created": groups_created,
            "members_added": members_added, "rejected": plan.rejected.len(),
        });
        records.push(audit_record(
            actor,
            "directory.migrate",
            "directory".into(),
            None,
            Some(summary),
        ));
        tx.record_changes(&records, now).await?;
        tx.commit().await?;
        Ok(MigrationOutcome {
            officials: plan.officials.len(),
            carried_passwords,
            groups_created,
            members_added,
        })
    }

    /// Writes the planned officials, their addresses and their default mailboxes; returns
    /// their ids in plan order.
    async fn create_migrated(
        &self,
        tx: &mut Conn,
        plan: &MigrationPlan,
        initial: Vec<StoredPassword>,
        domains: &HashMap<String, MailDomain>,
    ) -> Result<Vec<OfficialId>, DirectoryError> {
        let now = self.now();
        let mut initial = initial.into_iter();
        let mut officials = Vec::with_capacity(plan.officials.len());
        for planned in &plan.officials {
            let password = match &planned.password {
                PlannedPassword::Carried { hash, .. } => StoredPassword {
                    hash: hash.clone(),
                    cost: PasswordCost::Legacy,
                    must_change: false,
                },
                PlannedPassword::Initial { .. } => initial.next().ok_or_else(|| {
                    DirectoryError::Internal("fewer initial passwords than planned".into())
                })?,
            };
            let quota = domain_of(domains, &planned.address)?.default_quota_bytes;
            officials.push(migrated_official(self, planned, password, quota));
        }
        let ids = tx
            .insert_officials(&officials)
            .await
            .map_err(|e| changed_since_plan(e.into()))?;
        let mut by_domain: HashMap<DomainId, Vec<AddressEntry>> = HashMap::new();
        for (planned, id) in plan.officials.iter().zip(&ids) {
            let addresses = std::iter::once((&planned.address, true))
                .chain(planned.aliases.iter().map(|a| (a, false)));
            for (address, is_primary) in addresses {
                by_domain
                    .entry(domain_of(domains, address)?.id)
                    .or_default()
                    .push(AddressEntry {
                        address: address.clone(),
                        owner: AddressOwner::Official(*id),
                        is_primary,
                    });
            }
        }
        for (domain, entries) in &by_domain {
            tx.insert_addresses(entries, *domain, now)
                .await
                .map_err(|e| changed_since_plan(e.into()))?;
        }
        if let Some(first) = ids.iter().min() {
            let expected = (ids.len() * DEFAULT_MAILBOXES.len()) as u64;
            let created = tx
                .insert_missing_default_mailboxes(
                    *first,
                    &DEFAULT_MAILBOXES,
                    initial_uidvalidity(now),
                    now,
                )
                .await?;
            if created != expected {
                return Err(changed_since_plan(DirectoryError::Invalid(format!(
                    "{created} mailboxes created for {} officials",
                    ids.len()
                ))));
            }
        }
        Ok(ids)
    }
}

/// The official to insert for `planned`.
fn migrated_official(
    directory: &Directory,
    planned: &PlannedOfficial,
    password: StoredPassword,
    quota_bytes: i64,
) -> Official {
    let now = directory.now();
    Official {
        id: OfficialId(0),
        uuid: Directory::new_uuid(),
        login: planned.login.clone(),
        name: planned.name.clone(),
        display_name: planned.display_name.clone(),
        primary_address: planned.address.clone(),
        agency_id: planned.agency,
        unit: None,
        title: planned.title.clone(),
        phone: planned.phone.clone(),
        hr_id: None,
        status: OfficialStatus::Active,
        password: Some(password),
        password_set_at: Some(now),
        quota_bytes,
        created_at: now,
        updated_at: now,
    }
}

/// What the audit log keeps about a migrated password: its kind and scheme, never the hash.
fn migrated_password_summary(password: &PlannedPassword) -> serde_json::Value {
    match password {
        PlannedPassword::Carried { scheme, .. } => json!({ "carried": scheme }),
        PlannedPassword::Initial { why } => json!({ "initial": why }),
    }
}

/// The served domain of `address`, which the plan checked.
fn domain_of<'a>(
    domains: &'a HashMap<String, MailDomain>,
    address: &str,
) -> Result<&'a MailDomain, DirectoryError> {
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    domains.get(domain).ok_or_else(|| {
        changed_since_plan(DirectoryError::Invalid(format!(
            "the domain {domain} is no longer served"
        )))
    })
}

/// Logins and addresses claimed by earlier entries of the export, with their lines.
#[derive(Debug, Default)]
struct Claimed {
    logins: HashMap<String, u64>,
    addresses: HashMap<String, u64>,
}

/// What became of one official of the export.
enum Planned {
    /// To create, with a note when the password is not carried over.
    New(Box<PlannedOfficial>, Option<String>),
    /// Already in the directory with the same login and address.
    Present(OfficialId, String),
}

/// Checks one official against the rules and the directory.
fn plan_official(
    o: &MigratedOfficial,
    known: &Known,
    claimed: &mut Claimed,
) -> Result<Planned, String> {
    let login = normalize_login(&o.login).map_err(|e| format!("uid: {e}"))?;
    let Some(primary) = o.addresses.first() else {
        return Err(format!(
            "{login} has no mail attribute: congvu keeps the old address, so add one to the entry"
        ));
    };
    let address = served_address(primary, known).map_err(|e| format!("{login}: {e}"))?;
    if let Some((id, held)) = known.logins.get(&login) {
        return if *held == address {
            Ok(Planned::Present(*id, login))
        } else {
            Err(format!(
                "login {login} already belongs to {held} in congvu, not to {address}"
            ))
        };
    }
    let mut aliases: Vec<String> = Vec::new();
    for alias in o.addresses.iter().skip(1).chain(&o.aliases) {
        let alias = served_address(alias, known).map_err(|e| format!("{login}: {e}"))?;
        if alias != address && !aliases.contains(&alias) {
            aliases.push(alias);
        }
    }
    claim(claimed, &login, &address, &aliases, o.line, known)?;
    let agency = known.agencies.get(&o.agency_code).ok_or_else(|| {
        format!(
            "{login}: the agency {} does not exist in congvu: add it with `congvu-admin agency add`, or map the entry to another",
            o.agency_code
        )
    })?;
    let name = migrated_name(o).map_err(|e| format!("{login}: {e}"))?;
    let name = checked_name(&name).map_err(|e| format!("{login}: {e}"))?;
    let display = o
        .display_name
        .as_deref()
        .or(o.full_name.as_deref())
        .map_or_else(|| name.full(), str::to_string);
    let text = |field: &str, value: &Option<String>| {
        optional_attribute(field, value.as_deref()).map_err(|e| format!("{login}: {e}"))
    };
    let (password, note) = carried_password(&o.passwords);
    Ok(Planned::New(
        Box::new(PlannedOfficial {
            line: o.line,
            display_name: required_attribute("display name", &display)
                .map_err(|e| format!("{login}: {e}"))?,
            title: text("title", &o.title)?,
            phone: text("phone", &o.phone)?,
            login,
            address,
            aliases,
            name,
            agency: agency.id,
            agency_code: agency.code.clone(),
            password,
        }),
        note,
    ))
}

/// `text` as an address in a domain congvu serves.
fn served_address(text: &str, known: &Known) -> Result<String, String> {
    let address = MailAddress::parse(text).map_err(|e| e.to_string())?;
    if !known.domains.contains_key(&address.domain) {
        return Err(format!(
            "{} is in {}, a domain congvu does not serve: add it with `congvu-admin domain add {}`, or remove the address from the entry",
            address.full(),
            address.domain,
            address.domain
        ));
    }
    Ok(address.full())
}

/// Claims the login and addresses of the entry on `line`, refusing any that an earlier entry
/// or someone in the directory holds.
fn claim(
    claimed: &mut Claimed,
    login: &str,
    address: &str,
    aliases: &[String],
    line: u64,
    known: &Known,
) -> Result<(), String> {
    if let Some(first) = claimed.logins.get(login) {
        return Err(format!("login {login} is already on line {first}"));
    }
    for a in std::iter::once(address).chain(aliases.iter().map(String::as_str)) {
        if let Some(first) = claimed.addresses.get(a) {
            return Err(format!("{login}: address {a} is already on line {first}"));
        }
        if let Some(holder) = known.addresses.get(a) {
            let whose = holder.as_ref().map_or_else(
                || "a group or an agency".to_string(),
                |l| format!("official {l}"),
            );
            return Err(format!(
                "{login}: address {a} already belongs to {whose} in congvu"
            ));
        }
    }
    claimed.logins.insert(login.to_string(), line);
    for a in std::iter::once(address).chain(aliases.iter().map(String::as_str)) {
        claimed.addresses.insert(a.to_string(), line);
    }
    Ok(())
}

/// The official's name from `cn`, `sn` and `givenName`. `cn` is read family name first, as
/// Vietnamese write it, unless it ends with `sn` (a name written given name first).
fn migrated_name(o: &MigratedOfficial) -> Result<PersonName, DirectoryError> {
    let words = |v: &Option<String>| {
        v.as_deref()
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|t| !t.is_empty())
    };
    let (full, family, given) = (
        words(&o.full_name),
        words(&o.family_name),
        words(&o.given_name),
    );
    match (full, family, given) {
        (Some(full), Some(family), given)
            if full.ends_with(&format!(" {family}"))
                && !full.starts_with(&format!("{family} ")) =>
        {
            // "An Nguyễn" with sn "Nguyễn": given name first.
            let rest = full[..full.len() - family.len()].trim().to_string();
            let (given, middle) = match given {
                Some(g) if rest.starts_with(&g) => (g.clone(), rest[g.len()..].trim().to_string()),
                _ => match rest.split_once(' ') {
                    Some((g, m)) => (g.to_string(), m.to_string()),
                    None => (rest.clone(), String::new()),
                },
            };
            Ok(PersonName {
                family,
                middle,
                given,
            })
        }
        (Some(full), _, _) => PersonName::from_full(&full),
        (None, Some(family), Some(given)) => PersonName::from_full(&format!("{family} {given}")),
        (None, Some(only), None) | (None, None, Some(only)) => PersonName::from_full(&only),
        (None, None, None) => Err(DirectoryError::Invalid(
            "the entry has no name: give it a cn, or sn and givenName".into(),
        )),
    }
}

/// The first `userPassword` value congvu can carry over; otherwise a generated initial
/// password and why (never the value itself, which may be a clear-text password).
fn carried_password(values: &[String]) -> (PlannedPassword, Option<String>) {
    let mut reasons = Vec::new();
    for value in values {
        match LegacyHash::parse(value) {
            Ok(hash) => {
                return (
                    PlannedPassword::Carried {
                        scheme: hash.scheme(),
                        hash: PasswordHash(value.clone()),
                    },
                    None,
                )
            }
            Err(e) => reasons.push(match e {
                LegacyHashError::ClearText => "its userPassword is clear text".to_string(),
                other => format!("its userPassword cannot be carried over: {other}"),
            }),
        }
    }
    let why = if reasons.is_empty() {
        "it has no userPassword".to_string()
    } else {
        reasons.join("; ")
    };
    (PlannedPassword::Initial { why: why.clone() }, Some(why))
}

#[cfg(test)]
mod tests;
