//! The accounts file: one line per mailbox to move, with a header row naming the columns
//! `address` (the official in congvu), `source_user` and `source_password` (left out or
//! empty when master credentials are given). A bad line fails that account alone, named by
//! its line number; a file that cannot be read at all fails the run.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;

/// One line of the accounts file.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountLine {
    /// The line number in the file (the header is line 1).
    pub line: u64,
    pub address: String,
    pub source_user: String,
    pub source_password: Option<String>,
}

impl std::fmt::Debug for AccountLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("AccountLine")
            .field("line", &self.line)
            .field("address", &self.address)
            .field("source_user", &self.source_user)
            .finish_non_exhaustive()
    }
}

/// A line that cannot be migrated, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: u64,
    /// What the line gave, for the report (possibly empty).
    pub address: String,
    pub source_user: String,
    pub error: String,
}

/// Reads `path`; `with_master` says whether passwords may be missing.
pub fn read(path: &Path, with_master: bool) -> anyhow::Result<Vec<Result<AccountLine, BadLine>>> {
    let shown = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot read the accounts file {shown}"))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{shown}: cannot read the header row"))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
    };
    let (Some(address), Some(user)) = (column("address"), column("source_user")) else {
        anyhow::bail!(
            "{shown}: the header row must name the columns address and source_user (and \
             source_password unless --master-user is given); it names: {}",
            headers.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let password = column("source_password");
    if password.is_none() && !with_master {
        anyhow::bail!(
            "{shown}: there is no source_password column; add one, or sign in with \
             --master-user and --master-password-file"
        );
    }
    let mut lines = Vec::new();
    let mut first_line: HashMap<(String, String), u64> = HashMap::new();
    for record in reader.records() {
        let parsed = match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let field = |i: usize| record.get(i).unwrap_or("").to_string();
                let account = AccountLine {
                    line,
                    address: field(address).to_lowercase(),
                    source_user: field(user),
                    source_password: password.map(field).filter(|p| !p.is_empty()),
                };
                checked(account, with_master, &mut first_line)
            }
            Err(e) => Err(BadLine {
                line: e.position().map_or(0, |p| p.line()),
                address: String::new(),
                source_user: String::new(),
                error: format!("{shown}: {e}"),
            }),
        };
        lines.push(parsed);
    }
    Ok(lines)
}

fn checked(
    account: AccountLine,
    with_master: bool,
    first_line: &mut HashMap<(String, String), u64>,
) -> Result<AccountLine, BadLine> {
    let bad = |error: String| BadLine {
        line: account.line,
        address: account.address.clone(),
        source_user: account.source_user.clone(),
        error: format!("line {}: {error}", account.line),
    };
    if account.address.is_empty() {
        return Err(bad(
            "no address; give the official's address in congvu".into()
        ));
    }
    if account.source_user.is_empty() {
        return Err(bad(
            "no source_user; give the account's name on the old server".into(),
        ));
    }
    if account.source_password.is_none() && !with_master {
        return Err(bad(
            "no source_password; give the account's password, or use --master-user".into(),
        ));
    }
    let controls = |s: &str| s.chars().any(|c| c.is_control());
    if controls(&account.source_user) || account.source_password.as_deref().is_some_and(controls) {
        return Err(bad(
            "source_user or source_password holds a control character (a line break?)".into(),
        ));
    }
    let key = (account.address.clone(), account.source_user.clone());
    if let Some(first) = first_line.get(&key) {
        return Err(bad(format!(
            "repeats line {first} ({} from {}); each account once",
            account.address, account.source_user
        )));
    }
    first_line.insert(key, account.line);
    Ok(account)
}

#[cfg(test)]
mod tests;
