//! The script commands of the authenticated state (RFC 5804 §2.5–§2.12): HAVESPACE,
//! PUTSCRIPT, CHECKSCRIPT, LISTSCRIPTS, SETACTIVE, GETSCRIPT, DELETESCRIPT and RENAMESCRIPT,
//! answered from the official's scripts. What a script and its name may be, and how many an
//! official keeps, is [`Scripts`]'s to say; this module only turns its answers into responses.

use super::framing::{Command, Word};
use super::reply::{self, Response};
use super::ManageSieveService;
use crate::directory::Official;
use crate::sieve::scripts::{Scripts, ScriptsError};

/// Whether `name` is one of the script commands.
pub(super) fn handles(name: &str) -> bool {
    matches!(
        name,
        "HAVESPACE"
            | "PUTSCRIPT"
            | "CHECKSCRIPT"
            | "LISTSCRIPTS"
            | "SETACTIVE"
            | "GETSCRIPT"
            | "DELETESCRIPT"
            | "RENAMESCRIPT"
    )
}

/// Runs a script command for `official`, writing any data it returns to `out`: the
/// completion, or `Err` with the refusal when the command was misused (wrong arguments).
pub(super) async fn run(
    service: &ManageSieveService,
    official: &Official,
    command: &Command,
    out: &mut Vec<u8>,
) -> Result<Response, Response> {
    let scripts = &service.scripts;
    let id = official.id;
    let args = Args(&command.args);
    let outcome = match command.name.as_str() {
        "HAVESPACE" => {
            let (name, bytes) = (args.text(0, 2)?, args.number(1)?);
            scripts
                .has_space(id, &name, bytes)
                .await
                .map(|()| reply::SPACE_OK)
        }
        "PUTSCRIPT" => {
            let (name, text) = (args.text(0, 2)?, args.text(1, 2)?);
            scripts.put(id, &name, &text).await.map(|()| reply::STORED)
        }
        "CHECKSCRIPT" => scripts.check(&args.text(0, 1)?).map(|()| reply::VALID),
        "LISTSCRIPTS" => {
            args.count(0)?;
            list(scripts, official, out).await
        }
        "SETACTIVE" => {
            let name = args.text(0, 1)?;
            let name = (!name.is_empty()).then_some(name.as_str());
            let done = if name.is_some() {
                reply::ACTIVATED
            } else {
                reply::DEACTIVATED
            };
            scripts.activate(id, name).await.map(|()| done)
        }
        "GETSCRIPT" => {
            let name = args.text(0, 1)?;
            scripts.get(id, &name).await.map(|script| {
                out.extend_from_slice(format!("{{{}}}\r\n", script.text.len()).as_bytes());
                out.extend_from_slice(script.text.as_bytes());
                out.extend_from_slice(b"\r\n");
                reply::FETCHED
            })
        }
        "DELETESCRIPT" => {
            let name = args.text(0, 1)?;
            scripts.delete(id, &name).await.map(|()| reply::DELETED)
        }
        "RENAMESCRIPT" => {
            let (from, to) = (args.text(0, 2)?, args.text(1, 2)?);
            scripts
                .rename(id, &from, &to)
                .await
                .map(|()| reply::RENAMED)
        }
        _ => return Err(Response::no(None, reply::UNKNOWN_COMMAND)),
    };
    Ok(match outcome {
        Ok(done) => Response::ok(done),
        Err(error) => refusal(error, official),
    })
}

/// LISTSCRIPTS: one line per script, the active one marked.
async fn list(
    scripts: &Scripts,
    official: &Official,
    out: &mut Vec<u8>,
) -> Result<&'static str, ScriptsError> {
    for script in scripts.list(official.id).await? {
        reply::string(out, script.name.as_bytes());
        if script.active {
            out.extend_from_slice(b" ACTIVE");
        }
        out.extend_from_slice(b"\r\n");
    }
    Ok(reply::LISTED)
}

/// The NO each refusal earns, with its response code (RFC 5804 §1.3).
fn refusal(error: ScriptsError, official: &Official) -> Response {
    let code = match &error {
        ScriptsError::Invalid(_) | ScriptsError::BadName => None,
        ScriptsError::NoSuchScript(_) => Some(reply::NONEXISTENT),
        ScriptsError::Exists(_) => Some(reply::ALREADY_EXISTS),
        ScriptsError::Active(_) => Some(reply::ACTIVE),
        ScriptsError::TooMany => Some(reply::MAX_SCRIPTS),
        ScriptsError::TooLarge(_) => Some(reply::MAX_SIZE),
        ScriptsError::Store(store) => {
            tracing::error!(login = %official.login, error = %store,
                "a ManageSieve command failed in the store");
            return Response::no(Some(reply::TRY_LATER), reply::STORE_FAILED);
        }
    };
    // The interpreter's own words for a script that does not compile, after the line and
    // column; every other refusal is one sentence.
    let text = match error {
        ScriptsError::Invalid(invalid) => invalid.to_string(),
        other => upper_first(&other.to_string()),
    };
    Response::no_with(code, text)
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}

/// A command's arguments, read by position.
struct Args<'a>(&'a [Word]);

impl Args<'_> {
    /// The string at `index` of a command taking `count` arguments, as UTF-8 (RFC 5804 §4:
    /// names and scripts are UTF-8).
    fn text(&self, index: usize, count: usize) -> Result<String, Response> {
        self.count(count)?;
        match &self.0[index] {
            Word::Text(bytes) => {
                String::from_utf8(bytes.clone()).map_err(|_| Response::no(None, reply::NOT_UTF8))
            }
            Word::Atom(_) => Err(Response::no(None, reply::BAD_ARGUMENTS)),
        }
    }

    /// The number at `index`.
    fn number(&self, index: usize) -> Result<u64, Response> {
        match self.0.get(index) {
            Some(Word::Atom(digits)) => digits
                .parse()
                .map_err(|_| Response::no(None, reply::BAD_ARGUMENTS)),
            _ => Err(Response::no(None, reply::BAD_ARGUMENTS)),
        }
    }

    fn count(&self, count: usize) -> Result<(), Response> {
        match self.0.len() == count {
            true => Ok(()),
            false => Err(Response::no(None, reply::BAD_ARGUMENTS)),
        }
    }
}
