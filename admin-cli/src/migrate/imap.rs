//! `congvu-admin migrate imap`: copies officials' mailboxes from the old IMAP server (every
//! folder with its hierarchy, every message byte for byte with its date, flags and keywords)
//! into congvu, several accounts at a time. Safe to repeat and to interrupt: what was copied
//! is recorded with each message, so a re-run (the delta pass after the MX moves) copies only
//! what is new and brings flags up to date. One account failing never stops the others; the
//! exit status is 1 when any did.
//!
//! The parts: `accounts` reads the accounts file, `source` talks to the old server behind
//! the limits of `guard`, `folders` maps its folders to congvu's, `copier` copies one
//! account, and `report` shows progress and the summary.

mod accounts;
mod copier;
mod folders;
mod guard;
mod report;
mod source;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use congvu::directory::{AgencyId, Official};
use tokio::task::JoinSet;

use self::accounts::{AccountLine, BadLine};
use self::copier::{Account, Migration, Pace};
use self::report::{AccountReport, Progress};
use self::source::{Connector, Credentials, SourceAddress};
use crate::{output, Context, UsageError};

#[derive(Debug, Args)]
pub struct ImapArgs {
    /// The old server: imaps://HOST[:993] (TLS from the start) or imap://HOST[:143] (STARTTLS,
    /// required).
    #[arg(long, value_name = "URL")]
    source: String,
    /// CSV file with a header row: address (the official in congvu), source_user, and
    /// source_password (not needed with --master-user).
    #[arg(long, value_name = "FILE")]
    accounts: PathBuf,
    /// Only the officials of this agency and of the agencies below it.
    #[arg(long, value_name = "CODE")]
    agency: Option<String>,
    /// Accounts copied at the same time; also the most connections opened to the source.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: u32,
    /// At most N messages fetched per second, over all accounts together.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_messages_per_second: Option<u32>,
    /// Connect, list and count what a run would copy; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Sign in as this administrator on behalf of each source_user (no passwords needed in
    /// the accounts file).
    #[arg(long, value_name = "NAME", requires = "master_password_file")]
    master_user: Option<String>,
    /// File whose first line is the master user's password.
    #[arg(long, value_name = "FILE", requires = "master_user")]
    master_password_file: Option<PathBuf>,
    /// How the master user signs in: authzid (SASL PLAIN with an authorization identity:
    /// Zimbra, Exchange, Cyrus) or dovecot (LOGIN as user*master).
    #[arg(long, value_enum, value_name = "STYLE", default_value_t = MasterStyle::Authzid)]
    master_style: MasterStyle,
    /// Also trust the CA certificates in this PEM file (a private CA).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Without TLS: only for an imap:// source on this machine (127.0.0.1, ::1, localhost).
    #[arg(long)]
    insecure_plain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MasterStyle {
    Authzid,
    Dovecot,
}

/// The master user's name and password, when given.
struct Master {
    user: String,
    password: String,
    style: MasterStyle,
}

pub async fn run(ctx: &Context, args: ImapArgs) -> anyhow::Result<()> {
    let address = SourceAddress::parse(&args.source, args.insecure_plain).map_err(UsageError)?;
    let master = match (&args.master_user, &args.master_password_file) {
        (Some(user), Some(file)) => Some(Master {
            user: user.clone(),
            password: read_password(file)?,
            style: args.master_style,
        }),
        _ => None,
    };
    let tls = source::tls_connector(args.ca_file.as_deref()).map_err(anyhow::Error::msg)?;
    let lines = accounts::read(&args.accounts, master.is_some())?;
    let agencies = match &args.agency {
        Some(code) => Some(agency_subtree(ctx, code).await?),
        None => None,
    };
    let mut reports = Vec::new();
    let mut jobs = Vec::new();
    for line in lines {
        match account(ctx, line, master.as_ref(), &args.accounts).await? {
            Ok(job)
                if agencies
                    .as_ref()
                    .is_some_and(|a| !a.contains(&job.official.agency_id)) => {}
            Ok(job) => jobs.push(job),
            Err(bad) => reports.push(bad),
        }
    }
    let migration = Arc::new(Migration {
        mailstore: ctx.mailstore.clone(),
        connector: Connector::new(
            address.clone(),
            tls,
            guard::ResponseLimits::for_messages(ctx.max_message_bytes),
        ),
        source_host: address.host,
        dry_run: args.dry_run,
        max_message: ctx.max_message_bytes,
        pace: args.max_messages_per_second.map(Pace::per_second),
    });
    let bulk = ctx.mailstore.begin_bulk_import().await?;
    let copied = copy_all(migration, jobs, args.concurrency as usize).await;
    // Everything copied is on disk before the summary says so.
    bulk.finish().await?;
    reports.extend(copied);
    reports.sort_by_key(|r| r.line);
    if ctx.json {
        output::json(&report::json(args.dry_run, &reports));
    } else {
        report::table(args.dry_run, &reports);
    }
    report::failures(&reports);
    let failed = reports.iter().filter(|r| !r.is_ok()).count();
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} failed (listed above)",
            output::count(reports.len() as i64, "account", "accounts")
        );
    }
    Ok(())
}

/// Copies the accounts, `concurrency` at a time.
async fn copy_all(
    migration: Arc<Migration>,
    jobs: Vec<Account>,
    concurrency: usize,
) -> Vec<AccountReport> {
    let progress = Arc::new(Progress::new(jobs.len() as u64));
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut running = JoinSet::new();
    for job in jobs {
        let (migration, progress, slots) = (migration.clone(), progress.clone(), slots.clone());
        running.spawn(async move {
            // Held while the account is copied: at most `concurrency` connections.
            let _slot = slots.acquire_owned().await;
            let bar = progress.account(&job.address);
            let report = copier::copy_account(&migration, &job, &bar).await;
            progress.account_done(&bar);
            report
        });
    }
    let mut reports = Vec::new();
    while let Some(done) = running.join_next().await {
        match done {
            Ok(report) => reports.push(report),
            // A copy that panicked is a bug; its account is reported by the JoinError.
            Err(e) => {
                let mut report = AccountReport::new(0, "?", "?");
                report.errors.push(format!("internal error: {e}"));
                reports.push(report);
            }
        }
    }
    progress.finish();
    reports
}

/// The first line of `file`, trimmed.
fn read_password(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the master password file {}", file.display()))?;
    let password = text.lines().next().unwrap_or("").trim().to_string();
    if password.is_empty() {
        anyhow::bail!(
            "the master password file {} is empty; put the password on its first line",
            file.display()
        );
    }
    Ok(password)
}

/// The ids of agency `code` and every agency below it.
async fn agency_subtree(ctx: &Context, code: &str) -> anyhow::Result<HashSet<AgencyId>> {
    let subtree = ctx
        .directory
        .agency_subtree(code)
        .await
        .with_context(|| format!("--agency {code}"))?;
    Ok(subtree.into_iter().map(|a| a.id).collect())
}

/// The account a line describes, or its report as a failed account.
async fn account(
    ctx: &Context,
    line: Result<AccountLine, BadLine>,
    master: Option<&Master>,
    file: &Path,
) -> anyhow::Result<Result<Account, AccountReport>> {
    let line = match line {
        Ok(line) => line,
        Err(bad) => {
            let mut report = AccountReport::new(bad.line, &bad.address, &bad.source_user);
            report
                .errors
                .push(format!("{}: {}", file.display(), bad.error));
            return Ok(Err(report));
        }
    };
    let official: Option<Official> = ctx
        .directory
        .official_by_address(&line.address)
        .await
        .context("while looking up the officials of the accounts file")?;
    let Some(official) = official else {
        let mut report = AccountReport::new(line.line, &line.address, &line.source_user);
        report.errors.push(format!(
            "{} line {}: no official in congvu has the address {}; add the official first \
             (congvu-admin user add or import) or correct the address",
            file.display(),
            line.line,
            line.address
        ));
        return Ok(Err(report));
    };
    let credentials = match (master, line.source_password) {
        (Some(m), _) if m.style == MasterStyle::Authzid => Credentials::MasterAuthzid {
            user: line.source_user.clone(),
            master: m.user.clone(),
            password: m.password.clone(),
        },
        (Some(m), _) => Credentials::MasterDovecot {
            user: line.source_user.clone(),
            master: m.user.clone(),
            password: m.password.clone(),
        },
        (None, password) => Credentials::Password {
            user: line.source_user.clone(),
            password: password.unwrap_or_default(),
        },
    };
    Ok(Ok(Account {
        line: line.line,
        address: line.address,
        source_user: line.source_user,
        official,
        credentials,
    }))
}
