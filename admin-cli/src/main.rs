//! `congvu-admin`: the administrators' tool. It works on the same database as the server
//! (same `--config`), runs pending migrations first, and enters at the domain layer, so
//! every change it makes is validated and written with its audit row.
//!
//! Exit status: 0 on success, 1 when the operation failed, 2 for bad usage or a bad config.

mod agency;
mod domain;
mod import;
mod output;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use congvu::clock::Clock;
use congvu::config::Config;
use congvu::directory::{Actor, Argon2Cost, Directory, PasswordHasher};
use congvu::store::{Store, StoreOptions};

/// Administer congvu: domains, agencies and officials.
#[derive(Debug, Parser)]
#[command(name = "congvu-admin", version, about)]
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
}

/// What every command needs: the directory, who is acting, and how to print.
#[derive(Debug)]
pub struct Context {
    pub directory: Directory,
    pub hasher: PasswordHasher,
    pub actor: Actor,
    pub json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("congvu-admin: {e}");
            return ExitCode::from(2);
        }
    };
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
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("congvu-admin: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    let store = Store::open(&StoreOptions::from_config(&config.database))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctx = Context {
        directory: Directory::new(store.clone(), Clock::system()),
        hasher: PasswordHasher::new(Argon2Cost {
            memory_kib: config.auth.argon2_memory_kib,
            iterations: config.auth.argon2_iterations,
            parallelism: config.auth.argon2_parallelism,
        }),
        actor: Actor::admin(&std::env::var("USER").unwrap_or_else(|_| "unknown".into())),
        json: cli.json,
    };
    let result = match cli.command {
        Command::Domain(cmd) => domain::run(&ctx, cmd).await,
        Command::Agency(cmd) => agency::run(&ctx, cmd).await,
        Command::User(cmd) => user::run(&ctx, cmd).await,
    };
    store.close().await;
    result
}
