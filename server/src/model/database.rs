//! The database a store runs on, as named by its URL: which engine, and the URL as it may be
//! shown (without its password).

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreBackend {
    /// `sqlite:` URLs.
    Sqlite,
    /// `postgres:` and `postgresql:` URLs.
    Postgres,
}

impl StoreBackend {
    /// The engine a database URL names, if it names one congvu runs on.
    pub fn from_url(url: &str) -> Option<StoreBackend> {
        if url.starts_with("sqlite:") {
            Some(StoreBackend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(StoreBackend::Postgres)
        } else {
            None
        }
    }
}

/// A database URL with its password replaced, for error messages and logs:
/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // Only the authority holds credentials; an '@' later (a path or query) is not one.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}
