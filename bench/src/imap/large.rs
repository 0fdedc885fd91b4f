//! I3: SELECT of a very large mailbox (`--large-messages`, 400,000 by default), the second
//! official's INBOX on both servers. The messages are written once as a Maildir, which
//! `congvu-admin mailbox import` brings into congvu before it starts and which Dovecot then
//! serves as that official's own mail (it builds its index at the first SELECT). The first
//! SELECT after start is timed apart; the warm ones, `--runs` of them, are the figure.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;
use crate::admin::Official;
use crate::figures::{per_second, seconds, spreads};
use crate::report::Row;

/// What I3 measured on one server.
#[derive(Debug, Clone)]
pub(super) struct LargeRun {
    /// The first SELECT after the server started.
    pub(super) first: Duration,
    /// Each SELECT after it.
    pub(super) warm: Vec<Duration>,
    /// congvu only: how long `congvu-admin mailbox import` took to bring the mailbox in.
    pub(super) import: Option<Duration>,
}

impl LargeRun {
    /// Every SELECT's time, for the report's details.
    pub(super) fn describe(&self) -> String {
        let warm: Vec<String> = self.warm.iter().map(|t| seconds(t.as_secs_f64())).collect();
        format!(
            "I3: first SELECT {}, then {}",
            seconds(self.first.as_secs_f64()),
            warm.join(", ")
        )
    }
}

/// The official whose INBOX is the large mailbox: the second, as the first holds I1's.
pub(super) fn large_owner(officials: &[Official]) -> &Official {
    &officials[1]
}

/// I3's mailbox on both servers when I3 is asked for; how long congvu's import took.
pub(super) fn prepare_if_asked(
    args: &ImapArgs,
    work: &Path,
    config: &Path,
    officials: &[Official],
) -> anyhow::Result<Option<Duration>> {
    if !args.workloads.contains(&Workload::I3) {
        return Ok(None);
    }
    prepare_large(args, work, config, large_owner(officials)).map(Some)
}

/// Writes the large mailbox as Dovecot's Maildir of its owner (owned by Dovecot's mail user),
/// imports it into congvu with `congvu-admin mailbox import`; returns how long the import
/// took.
fn prepare_large(
    args: &ImapArgs,
    work: &Path,
    config: &Path,
    owner: &Official,
) -> anyhow::Result<Duration> {
    let home = work.join("dovecot-mail").join(&owner.login);
    println!("I3: writing {} messages as a Maildir", args.large_messages);
    let started = Instant::now();
    write_maildir(&home, args.large_messages, owner)?;
    println!("  {:.1} s", started.elapsed().as_secs_f64());
    import_maildir(args, config, "I3", &owner.login, &home.join("Maildir"))
}

/// Brings `maildir` into `login`'s mailboxes with `congvu-admin mailbox import`, before
/// congvu starts; returns how long it took.
pub(super) fn import_maildir(
    args: &ImapArgs,
    config: &Path,
    workload: &str,
    login: &str,
    maildir: &Path,
) -> anyhow::Result<Duration> {
    println!("{workload}: congvu-admin mailbox import {login} --maildir …");
    let started = Instant::now();
    let maildir_arg = maildir.to_string_lossy().into_owned();
    crate::admin::run(
        &args.congvu.admin,
        config,
        &["mailbox", "import", login, "--maildir", &maildir_arg],
        None,
    )?;
    let import = started.elapsed();
    println!("  {:.1} s", import.as_secs_f64());
    Ok(import)
}

/// Hands `path` to Dovecot's mail user.
pub(super) fn give_to_vmail(path: &Path) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(VMAIL_ID), Some(VMAIL_ID))
}

/// An empty Maildir in `home` (`Maildir/{cur,new,tmp}`), all of it Dovecot's mail user's;
/// returns its `cur/`, where messages already seen by a client live.
pub(super) fn empty_maildir(home: &Path) -> anyhow::Result<std::path::PathBuf> {
    let maildir = home.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
        give_to_vmail(&maildir.join(sub))?;
    }
    give_to_vmail(&maildir)?;
    give_to_vmail(home)?;
    Ok(maildir.join("cur"))
}

/// `count` short official letters, every third one unread, as Maildir files in `home`'s
/// `Maildir/cur/`, all of it Dovecot's mail user's.
fn write_maildir(home: &Path, count: usize, owner: &Official) -> anyhow::Result<()> {
    let cur = empty_maildir(home)?;
    for n in 1..=count {
        let seen = if n % 3 == 0 { "" } else { "S" };
        let name = cur.join(format!(
            "{}.M{n}P1.congvu-bench:2,{seen}",
            1_700_000_000 + n
        ));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&name)?);
        write!(
            file,
            "From: =?utf-8?b?VsSDbiB0aMawIFPhu58=?= <vanthu@vinhphuc.gov.vn>\r\n\
             To: {to}\r\n\
             Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n_s=E1=BB=91?= {n}/UBND-VP\r\n\
             Date: Mon, 2 Nov 2026 08:{m:02}:{s:02} +0700\r\n\
             Message-ID: <cv-{n}@vinhphuc.gov.vn>\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\
             \r\n\
             Kính gửi các đơn vị: công văn số {n}/UBND-VP đính kèm.\r\n",
            to = owner.address,
            m = n / 60 % 60,
            s = n % 60,
        )?;
        file.flush()?;
        give_to_vmail(&name)?;
    }
    Ok(())
}

impl Bench<'_> {
    /// I3: on each server in turn, the first SELECT of the large INBOX and then `--runs`
    /// more, each checked to count every message.
    pub(super) fn measure_large(
        &self,
        servers: &[Server],
        figures: &mut [Figures],
    ) -> anyhow::Result<()> {
        let owner = large_owner(self.officials).login.clone();
        let expected = self.args.large_messages;
        for (server, f) in servers.iter().zip(figures.iter_mut()) {
            println!("I3: {}, SELECT of {expected} messages", server.kind.name());
            let run = self.runtime.block_on(async {
                let (mut session, greeting) = ImapSession::connect(server.imaps, self.tls).await?;
                if !greeting.starts_with("* OK") {
                    return Err(format!("greeting {greeting}"));
                }
                session.login(&owner, &chosen_password(&owner)).await?;
                let mut times = Vec::with_capacity(self.args.runs + 1);
                for _ in 0..=self.args.runs {
                    let started = Instant::now();
                    let exists = session.select_inbox().await?;
                    times.push(started.elapsed());
                    if exists != expected {
                        return Err(format!("INBOX holds {exists} messages, not {expected}"));
                    }
                }
                session.logout().await;
                Ok(LargeRun {
                    first: times[0],
                    warm: times[1..].to_vec(),
                    import: self
                        .large_import
                        .filter(|_| server.kind == ServerKind::Congvu),
                })
            });
            let run = run.map_err(|e| anyhow::anyhow!("{}: {e}", server.kind.name()))?;
            println!(
                "  first {:.3} s, then {}",
                run.first.as_secs_f64(),
                run.warm
                    .iter()
                    .map(|t| format!("{:.3} s", t.as_secs_f64()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            f.large = Some(run);
        }
        Ok(())
    }
}

impl Report<'_> {
    /// How I3 was measured.
    pub(super) fn large_method(&self) -> String {
        format!(
            "- I3: a second official's INBOX of {n} short letters (one text/plain part each, a\n  \
             third unread), written once as a Maildir: congvu's copy brought in by `congvu-admin\n  \
             mailbox import` before it started, Dovecot's the Maildir itself, indexed by Dovecot at\n  \
             the first SELECT. One session selects INBOX {k} more times; every SELECT must count\n  \
             every message. The first SELECT after start is its own row.\n",
            n = self.args.large_messages,
            k = self.args.runs,
        )
    }

    pub(super) fn large_rows(&self, c: Option<&Figures>, d: Option<&Figures>) -> Vec<Row> {
        let n = self.args.large_messages;
        let warm = spreads(c, d, |f| {
            f.large
                .iter()
                .flat_map(|r| r.warm.iter().map(Duration::as_secs_f64))
                .collect()
        });
        let first = spreads(c, d, |f| {
            f.large.iter().map(|r| r.first.as_secs_f64()).collect()
        });
        let slowest_warm = c
            .and_then(|f| f.large.as_ref())
            .and_then(|r| r.warm.iter().max())
            .map(Duration::as_secs_f64);
        let import = c
            .and_then(|f| f.large.as_ref())
            .and_then(|r| r.import)
            .map(|t| {
                let rate = per_second(n as f64 / t.as_secs_f64());
                format!("{} ({rate})", seconds(t.as_secs_f64()))
            });
        vec![
            Row::info(
                "I3 seed",
                format!("`congvu-admin mailbox import --maildir` of the {n} messages: wall time"),
                import,
            ),
            Row::compare(
                "I3",
                format!("SELECT of a {n}-message INBOX"),
                warm,
                seconds,
            )
            .target("< 0.3 s", slowest_warm.map(|s| s < 0.3)),
            Row::compare(
                "I3",
                "the first SELECT after the server started",
                first,
                seconds,
            ),
        ]
    }
}
