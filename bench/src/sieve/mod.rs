//! V1: S1's delivery with every recipient's Sieve script active, against the same server
//! without scripts, and Postfix → Dovecot LMTP with Pigeonhole running the same script
//! against the same pair without it, in one run, on the same machine, with one message stream.
//!
//! - congvu, with and without scripts: the officials come from `congvu-admin user import`,
//!   and each of the first `--mailboxes` gets [`SCRIPT`] as `main` through the library's
//!   `Scripts::put` (stored only once it compiles, as ManageSieve, the portal and the admin
//!   CLI store it). Before each run, with the server stopped, the script is made active for
//!   every one of them (`Scripts::activate`) or none; the server then starts afresh, so each
//!   scripted run compiles every script once again.
//! - Postfix → Dovecot: S1's private Postfix with `virtual_transport = lmtp:unix:…` at a
//!   private Dovecot's LMTP socket, its `lmtp` carrying Pigeonhole's `sieve` plugin with
//!   `sieve = file:~/sieve;active=~/.dovecot.sieve`. Every recipient's home holds the same
//!   script as `sieve/main.sieve`; before each run the `.dovecot.sieve` link to it is made
//!   or removed, the same switch an official's client throws over ManageSieve.
//!
//! The messages are S1's with one `Subject:` line more (smtp-source's `-S`), a Vietnamese one
//! as RFC 2047 encodes it, so the script's subject tests read a real subject. Every rule but
//! the last misses them; the last files them into [`FOLDER`]. Afterwards every acknowledged
//! message is counted where it belongs: congvu's through the store (INBOX without scripts,
//! the folder with them), Dovecot's as files in each recipient's Maildir folder (the rate of
//! the Postfix side runs until the last one is there).
//!
//! This module owns its working directory, the congvu configuration it writes, the private
//! Postfix and Dovecot it configures and starts, and the `sieve` section of the report; it
//! never touches the system's Postfix or Dovecot.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::machine::{free_port, Machine, Pinning};
use crate::report::publish;
use crate::server::congvu_db_url;
use crate::smtp::{
    seed_postfix, smtp_source_head, write_congvu_config, Congvu, CongvuSettings, Postfix, Programs,
};

mod dovecot;
mod load;
mod report;
#[cfg(test)]
mod tests;

// The files split one workload: their items are shared within the folder and with its tests.
use dovecot::*;
use load::*;
use report::*;

#[derive(Debug, clap::Args)]
pub struct SieveArgs {
    /// Officials in congvu and in Postfix.
    #[arg(long, default_value_t = 1_000)]
    officials: usize,
    /// Mailboxes the messages are spread over (the first officials), each with the script.
    #[arg(long, default_value_t = 1_000)]
    mailboxes: usize,
    /// Sessions at once (smtp-source -s).
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    /// Messages per run on each side (smtp-source -m).
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Payload bytes of each message after its headers (smtp-source -l).
    #[arg(long, default_value_t = 4096)]
    length: usize,
    /// Runs on each side; the target is met only when every run meets it.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[command(flatten)]
    programs: Programs,
    #[arg(long, default_value = "/usr/sbin/dovecot")]
    dovecot: PathBuf,
    /// Pigeonhole's compiler, which checks the script before the runs.
    #[arg(long, default_value = "/usr/bin/sievec")]
    sievec: PathBuf,
    /// Working directory for the servers' data (default: a new temporary directory, removed
    /// at the end). It must be empty or absent, and reachable by the `postfix` user.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

/// Every recipient's script: an official's 20 rules, all but the last missing the
/// benchmark's messages.
pub(crate) const SCRIPT: &str = include_str!("official.sieve");
/// The folder the script's last rule files mail from outside the state's domains into.
pub(crate) const FOLDER: &str = "Thư bên ngoài";
/// The script's name on both servers.
const SCRIPT_NAME: &str = "main";
/// "Trao đổi về hồ sơ dự án" (about the project's files), as RFC 2047 encodes it.
const SUBJECT: &str = "=?UTF-8?B?VHJhbyDEkeG7lWkgduG7gSBo4buTIHPGoSBk4buxIMOhbg==?=";

/// smtp-source's headers for message `id` to `recipient`, with [`SUBJECT`] as its `-S`
/// would add it.
pub(crate) fn head(recipient: &str, id: usize) -> Vec<u8> {
    let head = smtp_source_head(recipient, id);
    let fields = head.strip_suffix("\r\n").unwrap_or(&head);
    format!("{fields}Subject: {SUBJECT}\r\n\r\n").into_bytes()
}

pub fn run(args: SieveArgs) -> anyhow::Result<()> {
    check(&args)?;
    let machine = Machine::probe();
    let (_owned, work) = crate::machine::work_dir(args.work_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let smtp_port = free_port()?;
    let settings = CongvuSettings {
        smtp_port,
        http_port: 0,
        recipients: 1000,
        authentication: "off",
        extra: "",
    };
    let config = write_congvu_config(&work, "congvu.toml", &settings)?;
    println!("seeding congvu with {} officials", args.officials);
    let officials = crate::admin::import_province(
        &args.programs.congvu.admin,
        &config,
        &work,
        args.officials,
        5321,
        "SMTP",
    )?;
    let recipients = &officials[..args.mailboxes];
    let db = congvu_db_url(&work);
    println!("storing the script for {} officials", recipients.len());
    let seeded = runtime.block_on(put_scripts(&db, recipients))?;
    println!("  {:.1} s", seeded.as_secs_f64());

    println!("configuring a private Dovecot (LMTP, Pigeonhole) and Postfix in front of it");
    let dovecot_setup = write_dovecot(&work, recipients)?;
    check_with_sievec(&args.sievec, &dovecot_setup)?;
    let transport = format!(
        "virtual_transport = lmtp:unix:{}\n",
        dovecot_setup.socket.display()
    );
    let postfix_setup = seed_postfix(&args.programs.postmap, &work, &officials, 1000, &transport)?;

    let pin = (!args.programs.no_pin && machine.cores >= 2).then(|| Pinning::split(machine.cores));
    if let Some(pin) = &pin {
        pin.pin_self()?;
    }
    let core = || pin.as_ref().map(|p| p.server.clone());
    let mut bench = Bench {
        args: &args,
        runtime: &runtime,
        recipients,
        ticks: machine.ticks,
        db,
        congvu: Congvu::new(
            args.programs.congvu.server.clone(),
            (config, &work),
            smtp_port,
            core(),
            machine.ticks,
        ),
        postfix: Postfix::new(
            args.programs.postfix.clone(),
            postfix_setup,
            core(),
            machine.ticks,
        ),
        dovecot: Dovecot::new(args.dovecot.clone(), dovecot_setup, core(), machine.ticks),
    };
    let results = bench.measure().map_err(|e| bench.with_logs(e))?;
    drop(bench);
    let report = Report {
        args: &args,
        machine: &machine,
        load_after: Machine::probe().load,
        pinned: pin.is_some(),
        seeded,
        results: &results,
    };
    publish(&args.report, MARKERS, &report.render(), None)
}

/// Refuses arguments and missing programs before any work starts.
fn check(args: &SieveArgs) -> anyhow::Result<()> {
    args.programs.congvu.check()?;
    for (path, package) in [
        (&args.programs.postfix, "postfix"),
        (&args.programs.postmap, "postfix"),
        (&args.dovecot, "dovecot-lmtpd"),
        (&args.sievec, "dovecot-sieve"),
    ] {
        anyhow::ensure!(
            path.exists(),
            "{} not found: apt-get install {package}",
            path.display()
        );
    }
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "private Postfix and Dovecot instances must be started as root (their daemons switch \
         users); run as root"
    );
    anyhow::ensure!(
        args.mailboxes >= 1 && args.mailboxes <= args.officials.min(1000),
        "--mailboxes must be between 1 and --officials, and at most 1000"
    );
    anyhow::ensure!(
        args.sessions >= 1 && args.messages >= 1 && args.runs >= 1 && args.length >= 80,
        "--sessions, --messages and --runs must be at least 1, --length at least 80"
    );
    Ok(())
}

/// Pigeonhole's verdict on [`SCRIPT`] under the private Dovecot's configuration, compiled
/// to a file of its own: the recipients' homes get no compiled binary ahead of the runs.
fn check_with_sievec(sievec: &std::path::Path, setup: &DovecotSetup) -> anyhow::Result<()> {
    let binary = setup.dir.join("sievec-check.svbin");
    let out = std::process::Command::new(sievec)
        .arg("-c")
        .arg(&setup.config)
        .arg(&setup.script)
        .arg(&binary)
        .output()
        .context("while running sievec")?;
    anyhow::ensure!(
        out.status.success(),
        "Pigeonhole does not compile the script:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&binary).ok();
    Ok(())
}
