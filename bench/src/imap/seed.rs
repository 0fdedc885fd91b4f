//! Seeding both servers with the same officials: congvu through `congvu-admin`, with chosen
//! passwords for those who log in, and a private Dovecot configured with the same logins.

use std::path::{Path, PathBuf};
use std::time::Duration;

use congvu::directory::{Argon2Cost, PasswordCost, PasswordHasher};

use crate::admin::Official;
use crate::machine::{free_port, set_mode};
use crate::server::{Certificate, Config, Tls};

use super::text_search::fts::{fts_owner, FTS_PLUGIN_SETTINGS, FTS_USERDB_FIELD};
use super::*;

/// The password an official who logs in has chosen: long enough for congvu's policy,
/// and plain enough to sit unquoted in Dovecot's passwd-file and mbsync's configuration.
pub(crate) fn chosen_password(login: &str) -> String {
    format!("Bench-{login}-2026")
}

/// The loopback ports the servers listen on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ports {
    pub(super) congvu_imaps: u16,
    pub(super) congvu_ldap: u16,
    pub(super) dovecot_imaps: u16,
}

impl Ports {
    /// Ports free on loopback now.
    pub(super) fn free() -> anyhow::Result<Ports> {
        Ok(Ports {
            congvu_imaps: free_port()?,
            congvu_ldap: free_port()?,
            dovecot_imaps: free_port()?,
        })
    }
}

pub(super) fn write_congvu_config(
    args: &ImapArgs,
    dir: &Path,
    cert: &Certificate,
    ports: &Ports,
) -> anyhow::Result<PathBuf> {
    // Implicit TLS for IMAP and plaintext LDAP binds on loopback for M1; every other
    // listener on a free port nobody uses. The log level stays at its default, as Dovecot
    // logs every login by default. Connections per address and per official are raised to
    // what M1 and I1b open, the same on Dovecot.
    Config {
        tls: Tls::Certificate(cert),
        imaps: ports.congvu_imaps,
        sessions_per_official: Some(sessions_per_official(args)),
        ldap: ports.congvu_ldap,
        plaintext_ldap: true,
        connections_per_ip: connection_limit(args),
        extra: "[inbound]\nauthentication = \"off\"\n",
        ..Config::default()
    }
    .write(dir, "congvu.toml")
}

/// Connections one address may hold on both servers: everything M1 and I1 open, with room.
pub(super) fn connection_limit(args: &ImapArgs) -> usize {
    args.idle + args.ldap_idle + args.sessions + 100
}

/// IMAP sessions one official may hold on both servers: I1b's, and mbsync's, with room.
pub(super) fn sessions_per_official(args: &ImapArgs) -> usize {
    args.sessions + 10
}

pub(super) fn seed_congvu(
    args: &ImapArgs,
    config: &Path,
    dir: &Path,
) -> anyhow::Result<Vec<Official>> {
    let officials = crate::admin::import_province(
        &args.congvu.admin,
        config,
        dir,
        args.officials,
        3501,
        "IMAP",
    )?;
    Ok(officials)
}

/// Gives each official a [`chosen_password`] that need not be changed, as after their
/// first login: one congvu-admin per core at a time, each hashing once at the full cost.
pub(crate) fn set_passwords(
    admin: &Path,
    config: &Path,
    officials: &[Official],
    cores: usize,
) -> anyhow::Result<()> {
    let mut done = 0;
    for batch in officials.chunks(cores.max(1)) {
        std::thread::scope(|scope| {
            let children: Vec<_> = batch
                .iter()
                .map(|o| scope.spawn(move || admin_passwd(admin, config, &o.login)))
                .collect();
            children.into_iter().try_for_each(|child| {
                child
                    .join()
                    .map_err(|_| anyhow::anyhow!("a passwd thread panicked"))?
            })
        })?;
        let before = done;
        done += batch.len();
        if done / 200 > before / 200 {
            println!("  {done} passwords");
        }
    }
    Ok(())
}

/// `user passwd --no-must-change`, retried when SQLite answers "database is locked" to
/// one of several congvu-admin processes writing at once instead of waiting its turn.
pub(super) fn admin_passwd(admin: &Path, config: &Path, login: &str) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        let result = crate::admin::run(
            admin,
            config,
            &["user", "passwd", login, "--stdin", "--no-must-change"],
            Some(&format!("{}\n", chosen_password(login))),
        );
        match result {
            Err(e) if attempts < 20 && format!("{e}").contains("database is locked") => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20 * attempts));
            }
            other => return other.map(drop),
        }
    }
}

/// The private Dovecot's configuration when Dovecot is measured: see [`write_dovecot`].
pub(super) fn dovecot_if_asked(
    args: &ImapArgs,
    dir: &Path,
    cert: &Certificate,
    officials: &[Official],
    logins: usize,
    ports: &Ports,
) -> anyhow::Result<Option<PathBuf>> {
    if !args.servers.contains(&ServerKind::Dovecot) {
        return Ok(None);
    }
    println!("configuring a private Dovecot with the same logins");
    write_dovecot(args, dir, cert, officials, logins, ports.dovecot_imaps).map(Some)
}

/// Writes the private Dovecot's configuration, passwd-file and mail directory; returns the
/// configuration's path. With I2, the official [`fts_owner`] searches through fts-xapian.
pub(super) fn write_dovecot(
    args: &ImapArgs,
    dir: &Path,
    cert: &Certificate,
    officials: &[Official],
    logins: usize,
    port: u16,
) -> anyhow::Result<PathBuf> {
    let mail = dir.join("dovecot-mail");
    std::fs::create_dir_all(&mail)?;
    std::os::unix::fs::chown(&mail, Some(VMAIL_ID), Some(VMAIL_ID))?;
    let users = dir.join("dovecot-users");
    let fts = args
        .workloads
        .contains(&Workload::I2)
        .then(|| fts_owner(officials).login.as_str());
    std::fs::write(&users, passwd_file(officials, logins, fts)?)?;
    set_mode(&users, 0o644)?;
    let config = dir.join("dovecot.conf");
    std::fs::write(&config, dovecot_conf(args, dir, cert, port, fts.is_some()))?;
    Ok(config)
}

/// The private Dovecot's dovecot.conf for a run of `args` in `dir`, serving IMAP over
/// implicit TLS on `port`; with `fts`, fts-xapian's settings for whoever loads its plugins.
pub(super) fn dovecot_conf(
    args: &ImapArgs,
    dir: &Path,
    cert: &Certificate,
    port: u16,
    fts: bool,
) -> String {
    // Never below Dovecot's stock default_client_limit of 1000.
    let clients = connection_limit(args).max(1000);
    // The stock settings wherever durability, caching and logging are concerned (auth cache
    // off, as congvu has none; mail_fsync = optimized). The login service runs in Dovecot's
    // high-performance mode, one process per core for every client, which is how Dovecot
    // advises serving many connections; each session keeps its own imap process.
    let dh = Path::new("/usr/share/dovecot/dh.pem");
    let dh_line = if dh.exists() {
        format!("ssl_dh = <{}\n", dh.display())
    } else {
        String::new()
    };
    let plugin = if fts { FTS_PLUGIN_SETTINGS } else { "" };
    format!(
        "base_dir = {base}\n\
         state_dir = {state}\n\
         instance_name = congvu-bench-dovecot\n\
         protocols = imap\n\
         listen = 127.0.0.1\n\
         log_path = {log}\n\
         ssl = required\n\
         ssl_cert = <{cert}\n\
         ssl_key = <{key}\n\
         {dh_line}\
         auth_mechanisms = plain login\n\
         mail_location = maildir:~/Maildir\n\
         first_valid_uid = {VMAIL_ID}\n\
         default_client_limit = {clients}\n\
         passdb {{\n  driver = passwd-file\n  args = {users}\n}}\n\
         userdb {{\n  driver = passwd-file\n  args = {users}\n  \
           default_fields = uid={VMAIL_ID} gid={VMAIL_ID} home={mail}/%u\n}}\n\
         service imap-login {{\n  \
           inet_listener imap {{\n    port = 0\n  }}\n  \
           inet_listener imaps {{\n    port = {port}\n    ssl = yes\n  }}\n  \
           service_count = 0\n  process_min_avail = 1\n  client_limit = {clients}\n  \
           vsz_limit = 1G\n}}\n\
         service imap {{\n  process_limit = {clients}\n}}\n\
         protocol imap {{\n  mail_max_userip_connections = {per_user}\n}}\n\
         {plugin}",
        base = dir.join("dovecot-run").display(),
        state = dir.join("dovecot-state").display(),
        log = dir.join("dovecot.log").display(),
        cert = cert.cert.display(),
        key = cert.key.display(),
        users = dir.join("dovecot-users").display(),
        mail = dir.join("dovecot-mail").display(),
        per_user = sessions_per_official(args),
    )
}

/// Dovecot's passwd-file: the first `logins` officials with argon2id hashes of their
/// chosen passwords at congvu's full cost (libsodium reads the parameters from the PHC
/// string); everyone else with one hash at congvu's initial cost, as their generated
/// passwords are stored there.
///
/// The line of `fts`, when given, ends with the extra field that loads the FTS plugins for
/// that official alone.
pub(super) fn passwd_file(
    officials: &[Official],
    logins: usize,
    fts: Option<&str>,
) -> anyhow::Result<String> {
    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let secrets: Vec<(String, PasswordCost)> = officials[..logins]
        .iter()
        .map(|o| (chosen_password(&o.login), PasswordCost::Full))
        .collect();
    let hashes = hasher.hash_all(&secrets, &|_| {})?;
    let initial = hasher.hash("generated-initial-secret", PasswordCost::Initial)?;
    let mut out = String::new();
    for (i, official) in officials.iter().enumerate() {
        let hash = hashes.get(i).unwrap_or(&initial);
        let extra = if fts == Some(official.login.as_str()) {
            FTS_USERDB_FIELD
        } else {
            ""
        };
        out.push_str(&format!(
            "{}:{{ARGON2ID}}{}::::::{extra}\n",
            official.login, hash.0
        ));
    }
    Ok(out)
}
