//! Which congvu folder each source folder becomes. INBOX is INBOX; Sent, Drafts, Trash, Junk
//! and Archive are found by their special-use attribute (RFC 6154), and the first four
//! failing that by the names Vietnamese and English mail systems give them
//! (`MailboxRole::from_usual_name`); they land in the official's folder of that role. Every
//! other folder keeps its name and hierarchy, decoded from modified UTF-7, its separator
//! turned into congvu's, and stored in NFC, so that two spellings of one Vietnamese name are
//! one folder. A listing that repeats or loops is bounded: names are taken once, and there
//! is a cap on the number of folders and on their depth.

use std::collections::HashSet;

use congvu::mailstore::{MailboxRole, SEPARATOR};
use unicode_normalization::UnicodeNormalization;

use super::source::{FolderAttribute, ListedFolder, Listing};

/// Folders copied per account at most.
pub const MAX_FOLDERS: usize = 2000;
/// Hierarchy levels a folder name may have.
pub const MAX_DEPTH: usize = 32;

/// A source folder and where its messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFolder {
    /// The name on the wire, for EXAMINE.
    pub wire: String,
    /// The source's name decoded, for people.
    pub shown: String,
    /// The congvu folder: for a special folder the name its folder gets if it has none yet.
    pub name: String,
    pub role: Option<MailboxRole>,
    pub subscribed: bool,
}

/// Every source folder to copy, INBOX and the special folders first, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderPlan {
    pub folders: Vec<PlannedFolder>,
    /// Folders that cannot be copied, and why.
    pub problems: Vec<String>,
}

/// Maps a listing to congvu folders.
pub fn plan(listing: &Listing) -> FolderPlan {
    let mut problems = Vec::new();
    let listed = distinct(&listing.folders, &mut problems);
    let namespace = personal_prefix(&listed);
    let subscribed: HashSet<&str> = listing.subscribed.iter().map(String::as_str).collect();
    let mut folders = Vec::new();
    let mut taken: HashSet<MailboxRole> = HashSet::new();
    for folder in &listed {
        if folder.attributes.contains(&FolderAttribute::Virtual)
            || folder.attributes.contains(&FolderAttribute::NoSelect)
        {
            continue;
        }
        let shown = decoded(&folder.wire);
        let Some(segments) = segments(&shown, folder, namespace.as_deref(), &mut problems) else {
            continue;
        };
        let role = if folder.wire.eq_ignore_ascii_case("INBOX") {
            Some(MailboxRole::Inbox)
        } else {
            special_use(folder).filter(|r| !taken.contains(r))
        };
        if let Some(role) = role {
            taken.insert(role);
        }
        folders.push(PlannedFolder {
            subscribed: subscribed.contains(folder.wire.as_str())
                || folder.attributes.contains(&FolderAttribute::Subscribed),
            wire: folder.wire.clone(),
            shown,
            name: segments.join(&SEPARATOR.to_string()),
            role,
        });
    }
    // Names are looked at only for the roles no attribute gave; of two folders with usual
    // names for one role, the one called as congvu calls it ("Sent" before "Sent Items"),
    // then the first listed.
    let mut by_name: Vec<(usize, MailboxRole)> = folders
        .iter()
        .enumerate()
        .filter(|(_, f)| f.role.is_none() && !f.name.contains(SEPARATOR))
        .filter_map(|(i, f)| Some((i, MailboxRole::from_usual_name(&f.name)?)))
        .filter(|(_, role)| *role != MailboxRole::Inbox)
        .collect();
    by_name.sort_by_key(|(i, role)| {
        let own_name = folders[*i]
            .name
            .eq_ignore_ascii_case(role_folder_name(*role));
        (!own_name, *i)
    });
    for (i, role) in by_name {
        if taken.insert(role) {
            folders[i].role = Some(role);
        }
    }
    for folder in &mut folders {
        if let Some(role) = folder.role {
            folder.name = role_folder_name(role).to_string();
        }
    }
    folders.sort_by(|a, b| (rank(a), &a.name).cmp(&(rank(b), &b.name)));
    if folders.len() > MAX_FOLDERS {
        problems.push(format!(
            "the source lists {} folders; only the first {MAX_FOLDERS} were copied",
            folders.len()
        ));
        folders.truncate(MAX_FOLDERS);
    }
    FolderPlan { folders, problems }
}

/// INBOX first, then the special folders, then the rest by name.
fn rank(folder: &PlannedFolder) -> u8 {
    match folder.role {
        Some(MailboxRole::Inbox) => 0,
        Some(_) => 1,
        None => 2,
    }
}

/// The name a special folder gets when the official has none of that role.
fn role_folder_name(role: MailboxRole) -> &'static str {
    match role {
        MailboxRole::Inbox => "INBOX",
        MailboxRole::Sent => "Sent",
        MailboxRole::Drafts => "Drafts",
        MailboxRole::Trash => "Trash",
        MailboxRole::Junk => "Junk",
        MailboxRole::Archive => "Archive",
    }
}

fn special_use(folder: &ListedFolder) -> Option<MailboxRole> {
    folder.attributes.iter().find_map(|a| match a {
        FolderAttribute::Special(role) => Some(*role),
        _ => None,
    })
}

/// Each wire name once (attributes of repeats merged); names that cannot be sent back in a
/// command are left out.
fn distinct(listed: &[ListedFolder], problems: &mut Vec<String>) -> Vec<ListedFolder> {
    let mut kept: Vec<ListedFolder> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for folder in listed {
        if folder.wire.is_empty() || folder.wire.chars().any(|c| c.is_control()) {
            problems.push(format!(
                "a folder named {:?} has control characters in its name and was left out",
                folder.wire
            ));
            continue;
        }
        if seen.insert(folder.wire.as_str()) {
            kept.push(folder.clone());
        } else if let Some(first) = kept.iter_mut().find(|k| k.wire == folder.wire) {
            first.attributes.extend(folder.attributes.iter().copied());
        }
    }
    kept
}

/// `INBOX.` (Courier, old Cyrus) when every folder but INBOX lives under INBOX: then that
/// prefix is the personal namespace, not a level of the official's hierarchy.
fn personal_prefix(listed: &[ListedFolder]) -> Option<String> {
    let others: Vec<&ListedFolder> = listed
        .iter()
        .filter(|f| !f.wire.eq_ignore_ascii_case("INBOX"))
        .collect();
    let delimiter = others.first()?.delimiter.clone()?;
    let prefix = format!("INBOX{delimiter}");
    let under_inbox = |f: &&ListedFolder| {
        f.delimiter.as_deref() == Some(delimiter.as_str())
            && f.wire.len() > prefix.len()
            && f.wire[..prefix.len()].eq_ignore_ascii_case(&prefix)
    };
    others.iter().all(under_inbox).then_some(prefix)
}

/// The wire name decoded from modified UTF-7; a server that sends UTF-8 (or an invalid
/// encoding) is taken at its word.
fn decoded(wire: &str) -> String {
    congvu::imap::utf7::decode(wire).unwrap_or_else(|| wire.to_string())
}

/// The congvu name's levels: split at the source's separator, the namespace prefix
/// removed, each level in NFC with characters congvu names cannot hold replaced.
fn segments(
    shown: &str,
    folder: &ListedFolder,
    namespace: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<Vec<String>> {
    let mut name = shown;
    if let Some(prefix) = namespace {
        if name.len() > prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix) {
            name = &name[prefix.len()..];
        }
    }
    let levels: Vec<&str> = match folder.delimiter.as_deref().filter(|d| !d.is_empty()) {
        Some(delimiter) => name.split(delimiter).collect(),
        None => vec![name],
    };
    let levels: Vec<String> = levels
        .into_iter()
        .map(clean_level)
        .filter(|l| !l.is_empty())
        .collect();
    if levels.is_empty() {
        problems.push(format!(
            "the folder {shown:?} has no usable name and was left out"
        ));
        return None;
    }
    if levels.len() > MAX_DEPTH {
        problems.push(format!(
            "the folder {shown:?} is {} levels deep (at most {MAX_DEPTH}) and was left out",
            levels.len()
        ));
        return None;
    }
    Some(levels)
}

/// One level of a name as congvu can store it: NFC, congvu's separator inside a level (the
/// source used another one) as `-`, control characters and IMAP wildcards as `_`.
fn clean_level(level: &str) -> String {
    level
        .nfc()
        .map(|c| match c {
            c if c == SEPARATOR => '-',
            c if c.is_control() || c == '*' || c == '%' => '_',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests;
