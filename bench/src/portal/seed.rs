//! Seeding congvu: the configuration, the officials and their chosen passwords, and the
//! hashing floor's one verification.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::clock::Clock;
use congvu::directory::{
    Actor, Argon2Cost, Directory, PasswordCost, PasswordHasher, StoredPassword,
};
use congvu::store::{Store, StoreOptions};

use crate::admin::Official;
use crate::server::{Certificate, Config, Tls};

use super::*;

/// The loopback ports the server listens on for this benchmark.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ports {
    pub(super) http: u16,
    pub(super) imaps: u16,
}

pub(super) fn write_config(
    args: &PortalArgs,
    dir: &Path,
    cert: &Certificate,
    ports: Ports,
    hash_workers: usize,
) -> anyhow::Result<PathBuf> {
    // The portal on plain HTTP with a loopback public address, so passwords are taken over
    // it; IMAP over implicit TLS; every other listener on a free port nobody uses. The
    // argon2id cost, lockout and session settings keep their defaults (m=19456 KiB, t=2,
    // p=1), as does the log level; connections per address are raised for the users, who
    // all come from 127.0.0.1.
    let auth = format!("[auth]\nhash_workers = {hash_workers}\n");
    Config {
        tls: Tls::Certificate(cert),
        imaps: ports.imaps,
        http: ports.http,
        http_public: true,
        connections_per_ip: args.users + 100,
        extra: &auth,
        ..Config::default()
    }
    .write(dir, "congvu.toml")
}

/// Imports the officials with `congvu-admin`, then gives each a chosen password at the full
/// cost that need not be changed, hashed on every core and stored through the directory.
pub(super) fn seed(args: &PortalArgs, config: &Path, dir: &Path) -> anyhow::Result<Vec<Official>> {
    let officials = crate::admin::import_province(
        &args.congvu.admin,
        config,
        dir,
        args.officials,
        1401,
        "PORTAL",
    )?;

    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let secrets: Vec<(String, PasswordCost)> = officials
        .iter()
        .map(|o| (chosen_password(&o.login), PasswordCost::Full))
        .collect();
    let hashes = hasher.hash_all(&secrets, &|_| {})?;
    let url = format!("sqlite://{}", dir.join("congvu-data/congvu.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = Store::open(&StoreOptions {
            url,
            max_connections: 2,
            busy_timeout: Duration::from_secs(10),
        })
        .await?;
        let directory = Directory::new(store, Clock::system());
        let actor = Actor("bench".into());
        for (official, hash) in officials.iter().zip(hashes) {
            let password = StoredPassword {
                hash,
                cost: PasswordCost::Full,
                must_change: false,
            };
            directory
                .set_password(&actor, &official.login, password)
                .await
                .with_context(|| format!("while setting the password of {}", official.login))?;
        }
        anyhow::Ok(())
    })?;
    Ok(officials)
}

/// Milliseconds one argon2id verification at the full cost takes on one core here: the
/// median of `samples` timed one by one, so a moment when other work on the machine has the
/// core does not count.
pub(super) fn verify_ms(samples: u32) -> anyhow::Result<f64> {
    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let hash = hasher.hash("Bench-verify-2026", PasswordCost::Full)?;
    let mut times = Vec::new();
    for _ in 0..samples {
        let started = Instant::now();
        anyhow::ensure!(hasher.verify("Bench-verify-2026", &hash), "verify failed");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(crate::figures::median(&times))
}
