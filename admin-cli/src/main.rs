//! `congvu-admin`: the administrators' tool. It works on the same database as the server
//! (same `--config`), runs pending migrations first, and enters at the domain layer, so
//! every change it makes is validated and written with its audit row.
//!
//! Exit status: 0 on success, 1 when the operation failed, 2 for bad usage or a bad config.

mod agency;
mod alias;
mod backup;
mod cert;
mod check;
mod completions;
mod domain;
mod egov;
mod export;
mod group;
mod guidance;
mod import;
mod mailbox;
mod migrate;
mod output;
mod queue;
mod report;
mod service;
mod sieve;
mod user;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use congvu::clock::Clock;
use congvu::config::Config;
use congvu::directory::{Actor, Directory, PasswordHasher};
use congvu::mailstore::Mailstore;
use congvu::queue::Queue;
use congvu::store::{Store, StoreOptions};

/// A restore allocates each message body on one thread and frees it on SQLite's; glibc's
/// allocator makes those threads wait on each other's arena locks, mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Administer congvu: domains, agencies, officials, groups, service accounts and the mail queue.
#[derive(Debug, Parser)]
#[command(name = "congvu-admin", bin_name = "congvu-admin", version)]
#[command(after_help = "Exit status: 0 success, 1 the operation failed, 2 bad usage or config.")]
struct Cli {
    /// The server's configuration file; the CLI uses its database and password settings.
    #[arg(
        long,
        short,
        global = true,
        env = "CONGVU_CONFIG",
        default_value = "config/congvu.toml"
    )]
    config: PathBuf,
    /// Print JSON instead of tables, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mail domains served by congvu.
    #[command(subcommand)]
    Domain(domain::DomainCommand),
    /// The agency tree.
    #[command(subcommand)]
    Agency(agency::AgencyCommand),
    /// Officials.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Officials' additional addresses.
    #[command(subcommand)]
    Alias(alias::AliasCommand),
    /// Groups and distribution lists.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Accounts for other systems that bind to LDAP.
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Officials' digital-signature certificates.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Officials' Sieve filters (sorting rules and out-of-office replies).
    #[command(subcommand)]
    Sieve(sieve::SieveCommand),
    /// Mail waiting for delivery to other domains.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// Officials' mailboxes: importing archives.
    #[command(subcommand)]
    Mailbox(mailbox::MailboxCommand),
    /// Moving over from the old mail server and directory.
    #[command(subcommand)]
    Migrate(migrate::MigrateCommand),
    /// Backups of the whole database: create, verify, restore, list.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Check the database's consistency; `--repair` fixes what is safe to fix.
    Check(check::CheckArgs),
    /// Officials, mailboxes and storage per agency and per level; `report egov`: the
    /// e-government report.
    Report(report::ReportArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff), or write every page to a directory.
    Man(completions::ManArgs),
}

/// What every command needs: the directory, who is acting, and how to print.
#[derive(Debug)]
pub struct Context {
    pub directory: Directory,
    pub mailstore: Mailstore,
    pub queue: Queue,
    pub hasher: PasswordHasher,
    pub actor: Actor,
    pub json: bool,
    /// Where officials sign in to the portal (`[http] public_url`), ending in `/`: printed
    /// next to initial passwords, and the base of reset links.
    pub portal_url: String,
    /// The largest message congvu accepts (`[smtp] max_message_bytes`): bigger ones are not
    /// imported.
    pub max_message_bytes: u64,
    /// Officials' Sieve scripts.
    pub scripts: congvu::sieve::scripts::Scripts,
}

/// A command invoked in a way it cannot run, found after parsing (for example a deletion
/// without `--yes`): exit status 2, like clap's own usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let Cli {
        config,
        json,
        command,
    } = Cli::parse();
    // Completions and the manual come from the clap definitions alone: no config, no database.
    let command = match command {
        Command::Completions(args) => {
            return finish(completions::print_completions(args, Cli::command()))
        }
        Command::Man(args) => return finish(completions::print_man(args, Cli::command())),
        other => other,
    };
    let config = match Config::load(&config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("congvu-admin: {e}");
            return ExitCode::from(2);
        }
    };
    if matches!(
        command,
        Command::Backup(backup::BackupCommand::Create { .. })
    ) {
        // Before the runtime's threads start, so that they inherit it.
        congvu::backup::yield_to_the_server();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("congvu-admin: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    finish(runtime.block_on(run(command, json, config)))
}

/// Prints a failure with what to do next, and maps it to the exit status.
fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match guidance::next_step(&e) {
                Some(next) => eprintln!("congvu-admin: {e:#}: {next}"),
                None => eprintln!("congvu-admin: {e:#}"),
            }
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

async fn run(command: Command, json: bool, config: Config) -> anyhow::Result<()> {
    // Backups open the database themselves: a restore must find it unmigrated.
    let command = match command {
        Command::Backup(cmd) => return backup::run(&config, json, cmd).await,
        other => other,
    };
    let store = Store::open(&StoreOptions::from_config(&config.database))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctx = Context {
        directory: Directory::new(store.clone(), Clock::system()),
        mailstore: Mailstore::new(store.clone(), Clock::system()),
        queue: Queue::new(store.clone(), Clock::system()),
        hasher: PasswordHasher::from_config(&config.auth),
        actor: Actor::admin(&std::env::var("USER").unwrap_or_else(|_| "unknown".into())),
        json,
        portal_url: config.http.portal_url(&config.server.hostname),
        max_message_bytes: config.smtp.max_message_bytes,
        scripts: congvu::sieve::scripts::Scripts::new(
            store.clone(),
            Clock::system(),
            std::sync::Arc::new(congvu::sieve::Filters::new(
                &config.server.hostname,
                config.sieve.redirect,
            )),
        ),
    };
    let result = match command {
        Command::Domain(cmd) => domain::run(&ctx, cmd).await,
        Command::Agency(cmd) => agency::run(&ctx, cmd).await,
        Command::User(cmd) => user::run(&ctx, cmd).await,
        Command::Alias(cmd) => alias::run(&ctx, cmd).await,
        Command::Group(cmd) => group::run(&ctx, cmd).await,
        Command::Service(cmd) => service::run(&ctx, cmd).await,
        Command::Cert(cmd) => cert::run(&ctx, cmd).await,
        Command::Sieve(cmd) => sieve::run(&ctx, cmd).await,
        Command::Queue(cmd) => queue::run(&ctx, cmd).await,
        Command::Mailbox(cmd) => mailbox::run(&ctx, cmd).await,
        Command::Migrate(cmd) => migrate::run(&ctx, cmd).await,
        Command::Report(args) => report::run(&ctx, args).await,
        Command::Check(args) => check::run(&ctx, args).await,
        Command::Completions(_) | Command::Man(_) | Command::Backup(_) => Ok(()),
    };
    store.close().await;
    result
}
