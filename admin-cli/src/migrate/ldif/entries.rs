//! From the export's entries to what the directory plans with: officials (inetOrgPerson,
//! organizationalPerson, person, posixAccount, zimbraAccount) with their old login, addresses,
//! names and password hashes, groups (groupOfNames, groupOfUniqueNames, posixGroup,
//! zimbraDistributionList) with their members found by DN, by uid or by address, and each
//! entry's agency through the `--map` file. Other entries (the suffix, OUs, service accounts)
//! and operational attributes (entryUUID, entryCSN, modifyTimestamp, …) are left alone.

use std::collections::HashMap;
use std::path::Path;

use congvu::directory::{
    normalize_agency_code, MigratedGroup, MigratedMember, MigratedOfficial, Rejection,
};
use unicode_normalization::UnicodeNormalization;

use super::dn;
use super::parse::{Entry, Record, Value};

/// Object classes that make an entry an official.
const PERSON_CLASSES: [&str; 5] = [
    "inetorgperson",
    "organizationalperson",
    "person",
    "posixaccount",
    "zimbraaccount",
];
/// Object classes that make an entry a group.
const GROUP_CLASSES: [&str; 4] = [
    "groupofnames",
    "groupofuniquenames",
    "posixgroup",
    "zimbradistributionlist",
];

/// Where each entry's agency is read from (`--agency-from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgencySource {
    /// The nearest `ou=` above the entry.
    Ou,
    /// The first value of an attribute (lowercase name), e.g. `departmentnumber`.
    Attribute(String),
}

impl std::str::FromStr for AgencySource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("ou") {
            return Ok(AgencySource::Ou);
        }
        match s.split_once(':') {
            Some((kind, name)) if kind.eq_ignore_ascii_case("attribute") && !name.trim().is_empty() => {
                Ok(AgencySource::Attribute(name.trim().to_ascii_lowercase()))
            }
            _ => Err(format!(
                "\"{s}\" is not a source: use ou, or attribute:NAME (e.g. attribute:departmentNumber)"
            )),
        }
    }
}

impl AgencySource {
    fn describe(&self) -> String {
        match self {
            AgencySource::Ou => "its nearest ou".into(),
            AgencySource::Attribute(name) => format!("its {name} attribute"),
        }
    }
}

/// The `--map` file: old directory values (`source`) to congvu agency codes (`agency`).
#[derive(Debug, Clone)]
pub struct AgencyMap {
    /// The file as named on the command line, for messages.
    file: String,
    by_source: HashMap<String, String>,
}

impl AgencyMap {
    /// Reads a CSV with the columns `source` and `agency` (any order, other columns ignored).
    pub fn read(path: &Path) -> anyhow::Result<AgencyMap> {
        let file = path.display().to_string();
        let bytes =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("{file}: cannot read the map: {e}"))?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
        let headers = reader
            .headers()
            .map_err(|e| anyhow::anyhow!("{file}: {e}"))?
            .clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{file}: no \"{name}\" column: the map needs a header line with the columns source and agency"
                    )
                })
        };
        let (source, agency) = (column("source")?, column("agency")?);
        let mut by_source: HashMap<String, (String, u64)> = HashMap::new();
        for record in reader.records() {
            let record = record.map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
            let line = record.position().map_or(0, |p| p.line());
            let (Some(from), Some(to)) = (record.get(source), record.get(agency)) else {
                anyhow::bail!("{file}:{line}: the line lacks the source or the agency column");
            };
            if from.trim().is_empty() && to.trim().is_empty() {
                continue;
            }
            let code =
                normalize_agency_code(to).map_err(|e| anyhow::anyhow!("{file}:{line}: {e}"))?;
            let key = source_key(from);
            if key.is_empty() {
                anyhow::bail!("{file}:{line}: the source is empty");
            }
            if let Some((other, first)) = by_source.get(&key) {
                if *other != code {
                    anyhow::bail!(
                        "{file}:{line}: \"{}\" is already mapped to {other} on line {first}",
                        from.trim()
                    );
                }
            }
            by_source.insert(key, (code, line));
        }
        Ok(AgencyMap {
            file,
            by_source: by_source.into_iter().map(|(k, (c, _))| (k, c)).collect(),
        })
    }

    fn agency(&self, source: &str) -> Option<&str> {
        self.by_source.get(&source_key(source)).map(String::as_str)
    }
}

/// Sources match without regard to case, Unicode composition or surrounding spaces.
fn source_key(source: &str) -> String {
    source.trim().nfc().collect::<String>().to_lowercase()
}

/// What the export holds, ready for the directory's planner.
#[derive(Debug, Default)]
pub struct Export {
    pub officials: Vec<MigratedOfficial>,
    pub groups: Vec<MigratedGroup>,
    /// Entries that cannot be migrated, with their lines.
    pub rejected: Vec<Rejection>,
    /// What the reader left out, for the administrator to know.
    pub notes: Vec<Rejection>,
    /// Entries that are neither officials nor groups.
    pub ignored: usize,
    /// Records read, the broken ones included.
    pub records: usize,
}

/// A reference to a member, as the group's entry wrote it.
enum MemberRef {
    Dn(String),
    Uid(String),
    Address(String),
}

/// Where an entry of the export went.
#[derive(Debug, Clone, Copy)]
enum Placed {
    Official(usize),
    Group(usize),
    /// Rejected or ignored, on this line.
    Elsewhere(u64),
}

/// Reads the records into officials and groups, each with its agency.
pub fn read_export(records: Vec<Record>, from: &AgencySource, map: &AgencyMap) -> Export {
    let mut export = Export {
        records: records.len(),
        ..Export::default()
    };
    let mut by_dn: HashMap<String, (Placed, u64)> = HashMap::new();
    let mut pending: Vec<(usize, Vec<MemberRef>)> = Vec::new();
    for record in records {
        let entry = match record {
            Record::Entry(e) => e,
            Record::Broken { line, reason } => {
                export.rejected.push(Rejection { line, reason });
                continue;
            }
        };
        let Some(key) = dn::normalize(&entry.dn) else {
            export.rejected.push(Rejection {
                line: entry.line,
                reason: format!("\"{}\" is not a DN", entry.dn),
            });
            continue;
        };
        if let Some((_, first)) = by_dn.get(&key) {
            export.rejected.push(Rejection {
                line: entry.line,
                reason: format!("the entry {} is already on line {first}", entry.dn),
            });
            continue;
        }
        let placed = place(&entry, from, map, &mut export, &mut pending);
        by_dn.insert(key, (placed, entry.line));
    }
    resolve_members(&mut export, pending, &by_dn);
    export
}

/// Reads one entry as an official, a group, or neither.
fn place(
    entry: &Entry,
    from: &AgencySource,
    map: &AgencyMap,
    export: &mut Export,
    pending: &mut Vec<(usize, Vec<MemberRef>)>,
) -> Placed {
    let classes: Vec<String> = entry
        .values("objectclass")
        .map(|v| {
            String::from_utf8_lossy(&v.bytes)
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let is = |set: &[&str]| classes.iter().any(|c| set.contains(&c.as_str()));
    let read = if is(&PERSON_CLASSES) {
        official(entry, from, map).map(|o| {
            export.officials.push(o);
            Placed::Official(export.officials.len() - 1)
        })
    } else if is(&GROUP_CLASSES) {
        group(entry, from, map).map(|(g, members)| {
            export.groups.push(g);
            pending.push((export.groups.len() - 1, members));
            Placed::Group(export.groups.len() - 1)
        })
    } else {
        export.ignored += 1;
        return Placed::Elsewhere(entry.line);
    };
    read.unwrap_or_else(|reason| {
        export.rejected.push(Rejection {
            line: entry.line,
            reason,
        });
        Placed::Elsewhere(entry.line)
    })
}

/// A value as text; a value that is not UTF-8 cannot be a name, an address or a login.
fn text(name: &str, value: &Value) -> Result<String, String> {
    String::from_utf8(value.bytes.clone())
        .map_err(|_| format!("the {name} value on line {} is not UTF-8 text", value.line))
}

fn first(entry: &Entry, name: &str) -> Result<Option<String>, String> {
    entry.values(name).next().map(|v| text(name, v)).transpose()
}

fn all(entry: &Entry, name: &str) -> Result<Vec<String>, String> {
    entry.values(name).map(|v| text(name, v)).collect()
}

/// The entry's agency code by `from` and the map; for an official, a missing one is an error.
fn agency_of(entry: &Entry, from: &AgencySource, map: &AgencyMap) -> Result<String, String> {
    let source = match from {
        AgencySource::Ou => dn::nearest_ou(&entry.dn),
        AgencySource::Attribute(name) => first(entry, name)?,
    };
    let Some(source) = source.filter(|s| !s.trim().is_empty()) else {
        return Err(format!(
            "{}: the agency is taken from {}, which the entry does not have: give it one, or choose another --agency-from",
            entry.dn,
            from.describe()
        ));
    };
    map.agency(&source).map(str::to_string).ok_or_else(|| {
        format!(
            "{}: the agency is taken from {} \"{}\", which {} does not list: add the line \"{},AGENCY_CODE\" to it",
            entry.dn,
            from.describe(),
            source.trim(),
            map.file,
            source.trim()
        )
    })
}

fn official(
    entry: &Entry,
    from: &AgencySource,
    map: &AgencyMap,
) -> Result<MigratedOfficial, String> {
    let login = match dn::own(&entry.dn, "uid") {
        Some(uid) => uid,
        None => first(entry, "uid")?.ok_or_else(|| {
            format!(
                "{}: the entry has no uid: congvu keeps the old login, so give it one",
                entry.dn
            )
        })?,
    };
    let phone = match first(entry, "telephonenumber")? {
        Some(p) => Some(p),
        None => first(entry, "mobile")?,
    };
    let mut aliases = all(entry, "mailalternateaddress")?;
    aliases.extend(all(entry, "zimbramailalias")?);
    Ok(MigratedOfficial {
        line: entry.line,
        agency_code: agency_of(entry, from, map)?,
        login,
        addresses: all(entry, "mail")?,
        aliases,
        full_name: first(entry, "cn")?,
        family_name: first(entry, "sn")?,
        given_name: first(entry, "givenname")?,
        display_name: first(entry, "displayname")?,
        title: first(entry, "title")?,
        phone,
        // A hash that is not UTF-8 is no scheme congvu reads; the planner says so.
        passwords: entry
            .values("userpassword")
            .map(|v| String::from_utf8_lossy(&v.bytes).into_owned())
            .collect(),
    })
}

fn group(
    entry: &Entry,
    from: &AgencySource,
    map: &AgencyMap,
) -> Result<(MigratedGroup, Vec<MemberRef>), String> {
    let name = match dn::own(&entry.dn, "cn") {
        Some(cn) => cn,
        None => first(entry, "cn")?
            .ok_or_else(|| format!("{}: the group has no cn to name it by", entry.dn))?,
    };
    let mut members = Vec::new();
    for attribute in ["member", "uniquemember"] {
        for value in all(entry, attribute)? {
            // groupOfUniqueNames may end a DN with an optional unique id: `#'0101'B`.
            let dn = match value.rsplit_once('#') {
                Some((dn, id)) if id.starts_with('\'') && id.ends_with("'B") => dn.to_string(),
                _ => value,
            };
            if !dn.trim().is_empty() {
                members.push(MemberRef::Dn(dn));
            }
        }
    }
    members.extend(all(entry, "memberuid")?.into_iter().map(MemberRef::Uid));
    members.extend(
        all(entry, "zimbramailforwardingaddress")?
            .into_iter()
            .map(MemberRef::Address),
    );
    let group = MigratedGroup {
        line: entry.line,
        name,
        description: first(entry, "description")?,
        address: first(entry, "mail")?,
        // A group outside the map belongs to no agency: unlike an official, it needs none.
        agency_code: agency_of(entry, from, map).ok(),
        members: Vec::new(),
    };
    Ok((group, members))
}

/// Finds every group member among the export's officials and groups; a member that is not
/// there is left out with a note.
fn resolve_members(
    export: &mut Export,
    pending: Vec<(usize, Vec<MemberRef>)>,
    by_dn: &HashMap<String, (Placed, u64)>,
) {
    let mut by_uid = HashMap::new();
    let mut by_address = HashMap::new();
    for (i, o) in export.officials.iter().enumerate() {
        by_uid
            .entry(o.login.trim().to_ascii_lowercase())
            .or_insert(i);
        for a in o.addresses.iter().chain(&o.aliases) {
            by_address.entry(a.trim().to_ascii_lowercase()).or_insert(i);
        }
    }
    for (g, refs) in pending {
        let mut members = Vec::new();
        for r in refs {
            let found = match &r {
                MemberRef::Dn(text) => match dn::normalize(text).and_then(|k| by_dn.get(&k)) {
                    Some((Placed::Official(i), _)) => Ok(MigratedMember::Official(*i)),
                    Some((Placed::Group(j), _)) => Ok(MigratedMember::Group(*j)),
                    Some((Placed::Elsewhere(line), _)) => Err(format!(
                        "its member {text} (line {line}) is not an official or a group that can be migrated"
                    )),
                    None => Err(format!("its member {text} is not in the export")),
                },
                MemberRef::Uid(uid) => by_uid
                    .get(&uid.trim().to_ascii_lowercase())
                    .map(|i| MigratedMember::Official(*i))
                    .ok_or_else(|| format!("its memberUid {uid} is not an official of the export")),
                MemberRef::Address(address) => by_address
                    .get(&address.trim().to_ascii_lowercase())
                    .map(|i| MigratedMember::Official(*i))
                    .ok_or_else(|| {
                        format!("its member address {address} is not an official of the export")
                    }),
            };
            match found {
                Ok(m) => members.push(m),
                Err(why) => export.notes.push(Rejection {
                    line: export.groups[g].line,
                    reason: format!("group {}: {why}: left out", export.groups[g].name),
                }),
            }
        }
        export.groups[g].members = members;
    }
}

#[cfg(test)]
mod tests;
