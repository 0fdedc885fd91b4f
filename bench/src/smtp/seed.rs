//! Seeding both servers with the same officials: congvu through `congvu-admin` (and, for S3,
//! a distribution list), a private Postfix with the same virtual mailboxes and alias.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;

use crate::admin::Official;
use crate::machine::{free_port, set_mode};
use crate::server::{Config, DOMAIN, HOSTNAME};

use super::*;

/// What differs between the congvu configurations the benchmarks start.
pub(crate) struct CongvuSettings<'a> {
    pub(crate) smtp_port: u16,
    /// The HTTP listener (`/metrics`); 0 for any free port.
    pub(crate) http_port: u16,
    /// Recipients one message may have.
    pub(crate) recipients: usize,
    /// `[inbound] authentication`: `"off"` or `"enforce"`.
    pub(crate) authentication: &'a str,
    /// Further sections, appended as they are (`[dns]`, `[filter.…]`).
    pub(crate) extra: &'a str,
}

/// Writes `name` under `dir`: a configuration whose data directory is `dir/congvu-data`,
/// shared by every configuration written under the same `dir`.
pub(crate) fn write_congvu_config(
    dir: &Path,
    name: &str,
    settings: &CongvuSettings<'_>,
) -> anyhow::Result<PathBuf> {
    let CongvuSettings {
        smtp_port,
        http_port,
        recipients,
        authentication,
        extra,
    } = settings;
    // Every listener but the MX one on a free port nobody uses. The log level stays at its
    // default, as Postfix logs every message to its maillog. Recipients per message and
    // connections per address are raised to what the workloads need, the same on Postfix.
    let extra = format!("[inbound]\nauthentication = \"{authentication}\"\n\n{extra}");
    Config {
        smtp: *smtp_port,
        max_recipients: Some(*recipients),
        http: *http_port,
        extra: &extra,
        ..Config::default()
    }
    .write(dir, name)
}

/// Recipients one message may have on both servers: the default 1000, or every official
/// when S3 names each of them.
pub(super) fn recipient_limit(args: &SmtpArgs) -> usize {
    args.officials.max(1000)
}

pub(super) fn seed_congvu(
    args: &SmtpArgs,
    config: &Path,
    dir: &Path,
) -> anyhow::Result<Vec<Official>> {
    let officials = crate::admin::import_province(
        &args.programs.congvu.admin,
        config,
        dir,
        args.officials,
        5321,
        "SMTP",
    )?;
    Ok(officials)
}

/// The distribution list of every official, as an administrator adds it: the list, then
/// one `group add-member` per official, a few at a time (each call spends most of its time
/// starting up and waiting for its commit, not on a core).
pub(super) fn seed_congvu_list(
    args: &SmtpArgs,
    config: &Path,
    officials: &[Official],
) -> anyhow::Result<()> {
    let address = format!("{LIST_NAME}@{DOMAIN}");
    crate::admin::run(
        &args.programs.congvu.admin,
        config,
        &[
            "group",
            "add",
            LIST_NAME,
            "--display-name",
            "Toàn thể cán bộ",
            "--list",
            "--address",
            &address,
        ],
        None,
    )?;
    let next = AtomicUsize::new(0);
    let added = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(official) = officials.get(i) else {
                        return anyhow::Ok(());
                    };
                    add_member(args, config, &official.login)?;
                    let n = added.fetch_add(1, Ordering::Relaxed) + 1;
                    if n % 1000 == 0 {
                        println!("  {n} members");
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a group add-member thread panicked"))?
        })
    })
}

/// `group add-member`, retried when SQLite answers "database is locked" to one of several
/// congvu-admin processes writing at once instead of waiting its turn.
pub(super) fn add_member(args: &SmtpArgs, config: &Path, login: &str) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        let result = crate::admin::run(
            &args.programs.congvu.admin,
            config,
            &["group", "add-member", LIST_NAME, "--user", login],
            None,
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

/// Where the private Postfix instance keeps everything.
#[derive(Debug, Clone)]
pub(crate) struct PostfixSetup {
    /// `config_directory`: main.cf, master.cf and the lookup tables.
    pub(crate) config: PathBuf,
    pub(crate) queue: PathBuf,
    /// `virtual_mailbox_base`: one `LOGIN/Maildir/` per official.
    pub(crate) maildir: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) addr: SocketAddr,
    /// The Maildir `new/` folder of each official, in the order of the officials.
    pub(crate) inboxes: Vec<PathBuf>,
}

/// A private Postfix's configuration under `dir` with a virtual mailbox per official;
/// `extra` is appended to main.cf as it is (e.g. milters).
pub(crate) fn seed_postfix(
    postmap: &Path,
    dir: &Path,
    officials: &[Official],
    limit: usize,
    extra: &str,
) -> anyhow::Result<PostfixSetup> {
    let config = dir.join("postfix");
    let queue = dir.join("postfix-queue");
    let data = dir.join("postfix-data");
    let maildir = dir.join("maildir");
    let log = dir.join("postfix.log");
    for d in [&config, &queue, &data, &maildir] {
        std::fs::create_dir_all(d)?;
        set_mode(d, 0o755)?;
    }
    let postfix_user = nix::unistd::User::from_name("postfix")?
        .context("no `postfix` user: apt-get install postfix")?;
    std::os::unix::fs::chown(&data, Some(postfix_user.uid.as_raw()), None)?;
    std::os::unix::fs::chown(&maildir, Some(VMAIL_ID), Some(VMAIL_ID))?;
    let port = free_port()?;
    let paths = PostfixPaths {
        dir,
        config: &config,
        queue: &queue,
        data: &data,
        maildir: &maildir,
        log: &log,
    };
    std::fs::write(
        config.join("main.cf"),
        postfix_main_cf(&paths, limit, extra),
    )?;
    // Postfix's stock services with chroot off (a chroot would need copies of /etc files),
    // and smtpd on a loopback port of its own.
    std::fs::write(config.join("master.cf"), postfix_master_cf(port))?;
    let inboxes = postfix_mailboxes(postmap, &config, &maildir, officials)?;
    Ok(PostfixSetup {
        config,
        queue,
        maildir,
        log,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        inboxes,
    })
}

/// Where a private Postfix keeps its configuration, queue, data, mail and log.
pub(super) struct PostfixPaths<'a> {
    pub(super) dir: &'a Path,
    pub(super) config: &'a Path,
    pub(super) queue: &'a Path,
    pub(super) data: &'a Path,
    pub(super) maildir: &'a Path,
    pub(super) log: &'a Path,
}

/// main.cf: defaults everywhere durability and delivery are concerned; only paths, the
/// listener, the virtual domain and the limits the workloads need (the same on congvu) are
/// set.
pub(super) fn postfix_main_cf(paths: &PostfixPaths<'_>, limit: usize, extra: &str) -> String {
    format!(
        "compatibility_level = 3.6\n\
         queue_directory = {queue}\n\
         data_directory = {data}\n\
         mail_owner = postfix\n\
         setgid_group = postdrop\n\
         myhostname = {HOSTNAME}\n\
         mydestination =\n\
         inet_interfaces = loopback-only\n\
         inet_protocols = ipv4\n\
         mynetworks = 127.0.0.0/8\n\
         alias_maps =\n\
         alias_database =\n\
         biff = no\n\
         maillog_file = {log}\n\
         maillog_file_prefixes = {dir}\n\
         virtual_mailbox_domains = {DOMAIN}\n\
         virtual_mailbox_maps = hash:{config}/vmailbox\n\
         virtual_alias_maps = hash:{config}/valias\n\
         virtual_mailbox_base = {maildir}\n\
         virtual_uid_maps = static:{VMAIL_ID}\n\
         virtual_gid_maps = static:{VMAIL_ID}\n\
         smtpd_relay_restrictions = reject_unauth_destination\n\
         smtpd_recipient_restrictions = permit_auth_destination, reject\n\
         smtpd_client_connection_count_limit = 1000\n\
         smtpd_recipient_limit = {limit}\n\
         virtual_alias_expansion_limit = {limit}\n\
         message_size_limit = 52428800\n\
         virtual_mailbox_limit = 52428800\n\
         {extra}",
        queue = paths.queue.display(),
        data = paths.data.display(),
        log = paths.log.display(),
        dir = paths.dir.display(),
        config = paths.config.display(),
        maildir = paths.maildir.display(),
    )
}

/// master.cf: Postfix's stock services with chroot off, and smtpd on `port`.
pub(super) fn postfix_master_cf(port: u16) -> String {
    format!(
        "127.0.0.1:{port} inet n - n - - smtpd\n\
         pickup     unix  n - n 60 1 pickup\n\
         cleanup    unix  n - n - 0 cleanup\n\
         qmgr       unix  n - n 300 1 qmgr\n\
         tlsmgr     unix  - - n 1000? 1 tlsmgr\n\
         rewrite    unix  - - n - - trivial-rewrite\n\
         bounce     unix  - - n - 0 bounce\n\
         defer      unix  - - n - 0 bounce\n\
         trace      unix  - - n - 0 bounce\n\
         verify     unix  - - n - 1 verify\n\
         flush      unix  n - n 1000? 0 flush\n\
         proxymap   unix  - - n - - proxymap\n\
         proxywrite unix  - - n - 1 proxymap\n\
         smtp       unix  - - n - - smtp\n\
         relay      unix  - - n - - smtp\n\
         showq      unix  n - n - - showq\n\
         error      unix  - - n - - error\n\
         retry      unix  - - n - - error\n\
         discard    unix  - - n - - discard\n\
         local      unix  - n n - - local\n\
         virtual    unix  - n n - - virtual\n\
         lmtp       unix  - - n - - lmtp\n\
         anvil      unix  - - n - 1 anvil\n\
         scache     unix  - - n - 1 scache\n\
         postlog    unix-dgram n - n - 1 postlogd\n"
    )
}

/// A Maildir per official, the virtual mailbox and alias maps, compiled with `postmap`;
/// returns each official's `new/` folder.
pub(super) fn postfix_mailboxes(
    postmap: &Path,
    config: &Path,
    maildir: &Path,
    officials: &[Official],
) -> anyhow::Result<Vec<PathBuf>> {
    let mut vmailbox = String::new();
    let mut members = Vec::with_capacity(officials.len());
    let mut inboxes = Vec::with_capacity(officials.len());
    for official in officials {
        vmailbox.push_str(&format!(
            "{} {}/Maildir/\n",
            official.address, official.login
        ));
        members.push(official.address.as_str());
        // congvu creates every official's mailboxes at import; Postfix's Maildirs are
        // created up front too, so neither pays for it during a run.
        let home = maildir.join(&official.login).join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            let d = home.join(sub);
            std::fs::create_dir_all(&d)?;
            std::os::unix::fs::chown(&d, Some(VMAIL_ID), Some(VMAIL_ID))?;
        }
        for d in [&home, &maildir.join(&official.login)] {
            std::os::unix::fs::chown(d, Some(VMAIL_ID), Some(VMAIL_ID))?;
            set_mode(d, 0o700)?;
        }
        inboxes.push(home.join("new"));
    }
    std::fs::write(config.join("vmailbox"), vmailbox)?;
    std::fs::write(
        config.join("valias"),
        format!("{LIST_NAME}@{DOMAIN} {}\n", members.join(",")),
    )?;
    for table in ["vmailbox", "valias"] {
        let out = Command::new(postmap)
            .arg("-c")
            .arg(config)
            .arg(format!("hash:{}", config.join(table).display()))
            .output()
            .context("while running postmap")?;
        anyhow::ensure!(
            out.status.success(),
            "postmap {table} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(inboxes)
}
