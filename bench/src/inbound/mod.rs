//! S4, S5: congvu's MX with inbound protection on, measured with S1's client and sessions
//! (see smtp.rs) on the same machine, in one run.
//!
//! - S4 (sender authentication): the S1 workload on congvu twice per run, the order
//!   flipping every run: with `[inbound] authentication = "off"` and with `"enforce"`, which
//!   checks SPF (HELO and MAIL FROM), DKIM and DMARC of every message through `[dns]
//!   servers`. That server runs in this process (`congvu_tests::dns`) and serves, for
//!   `hanoi.gov.vn`, an SPF record passing 127.0.0.1, a DKIM key and `_dmarc` with
//!   `p=reject`. Every mailbox's message is signed once before the runs by dkimpy's
//!   `dkimsign` (`congvu_tests::dkim`); both modes send the same bytes. Afterwards every
//!   acknowledged message is counted in its INBOX through the store, and the messages of a
//!   few mailboxes are read to see that each enforce-run copy says `dkim=pass` and
//!   `dmarc=pass` in its `Authentication-Results:`.
//! - S5 (content filters): congvu with `[filter.clamav]` and `[filter.rspamd]` against a
//!   private Postfix with `smtpd_milters` at rspamd's milter proxy, the same rspamd whose
//!   `antivirus` module asks the same clamd; congvu's own requests skip that module, since
//!   congvu asks clamd itself. The same S1 messages, both servers taking turns. Scans are
//!   counted on every side: congvu's `congvu_filter_scans_total`, rspamd's `/stat`, and
//!   clamd's log of clean streams.
//!
//! This module owns its working directory, the congvu configurations it writes, the DNS
//! server, the rspamd and clamd it starts, and the `inbound` section of the report.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use congvu_tests::clamav::{Clamd, ClamdOptions};
use congvu_tests::dkim::{dkim_sign, DkimKey, SignOptions};
use congvu_tests::dns::DnsServer;
use congvu_tests::rspamd::{Rspamd, RspamdOptions};

use crate::admin::Official;
use crate::machine::{free_port, Machine, Pinning};
use crate::report::publish;
use crate::server::{congvu_db_url, HOSTNAME};
use crate::smtp::{
    payload, seed_postfix, write_congvu_config, Congvu, CongvuSettings, Envelope, Postfix, Programs,
};

#[derive(Debug, clap::Args)]
pub struct InboundArgs {
    /// Officials in congvu (and in Postfix for S5).
    #[arg(long, default_value_t = 1_000)]
    officials: usize,
    /// Mailboxes the messages are spread over (the first officials); S4 signs one message
    /// for each before the runs.
    #[arg(long, default_value_t = 100)]
    mailboxes: usize,
    /// Sessions at once (smtp-source -s).
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    /// Messages per run (smtp-source -m).
    #[arg(long, default_value_t = 5_000)]
    messages: usize,
    /// Payload bytes of each message after its headers (smtp-source -l).
    #[arg(long, default_value_t = 4096)]
    length: usize,
    /// Runs of each workload on each side; a target is met only when every run meets it.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, value_enum, value_delimiter = ',', default_value = "s4,s5")]
    workloads: Vec<Workload>,
    #[command(flatten)]
    programs: Programs,
    /// Working directory for the servers' data (default: a new temporary directory, removed
    /// at the end). It must be empty or absent, and reachable by the `postfix` user.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    S4,
    S5,
}

/// The sender's domain: not one congvu serves, so DMARC decides.
const SENDER_DOMAIN: &str = "hanoi.gov.vn";
/// Its mail server: the HELO name, with an SPF record of its own.
const SENDER_HOST: &str = "mail.hanoi.gov.vn";
const SELECTOR: &str = "mail2026";
const S4_ENVELOPE: Envelope = Envelope {
    helo: SENDER_HOST,
    sender: "vanthu@hanoi.gov.vn",
};

mod load;
mod report;

// The files split one workload: their items are shared within the folder and with its tests.
use load::*;
use report::*;

/// `p=reject`: a message failing DMARC would be refused, not filed.
const DMARC: &str = "v=DMARC1; p=reject";
const SPF: &str = "v=spf1 ip4:127.0.0.1 -all";
/// Mailboxes whose every message is read back for its `Authentication-Results:`.
const SAMPLED_MAILBOXES: usize = 5;
/// What Postfix calls itself to the milter (`{daemon_name}`), unlike congvu's `MTA-Name`.
const POSTFIX_MILTER_NAME: &str = "postfix-bench";

/// The sender's domain as S4 publishes it: SPF passing this host for the domain and its
/// HELO name, the DKIM key, and DMARC.
async fn sender_dns(key: &DkimKey) -> DnsServer {
    DnsServer::builder()
        .txt(SENDER_DOMAIN, SPF)
        .txt(SENDER_HOST, SPF)
        .txt(
            &format!("{SELECTOR}._domainkey.{SENDER_DOMAIN}"),
            key.txt_record(),
        )
        .txt(&format!("_dmarc.{SENDER_DOMAIN}"), DMARC)
        .start()
        .await
}

/// S5's Postfix: S1's, with rspamd's milter worker in front of its queue.
fn postfix_with_milter(
    args: &InboundArgs,
    work: &Path,
    officials: &[Official],
    engines: &Engines,
) -> anyhow::Result<crate::smtp::PostfixSetup> {
    println!("configuring a private Postfix with rspamd's milter");
    let milter_port = engines
        .rspamd
        .milter_port()
        .context("rspamd has no milter worker")?;
    let milter = format!(
        "smtpd_milters = inet:127.0.0.1:{milter_port}\nmilter_default_action = tempfail\n\
         milter_macro_daemon_name = {POSTFIX_MILTER_NAME}\n"
    );
    seed_postfix(&args.programs.postmap, work, officials, 1000, &milter)
}

pub fn run(args: InboundArgs) -> anyhow::Result<()> {
    check(&args)?;
    let machine = Machine::probe();
    let (_owned, work) = crate::machine::work_dir(args.work_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let wants = |w| args.workloads.contains(&w);
    // rspamd and clamd serve both sides of S5 alike; started before this process is pinned,
    // they may run on every core.
    let engines = if wants(Workload::S5) {
        println!("starting clamd and rspamd (milter proxy, antivirus module)");
        Some(runtime.block_on(Engines::start()))
    } else {
        None
    };
    let key = DkimKey::generate(2048);
    let dns = runtime.block_on(sender_dns(&key));
    let (smtp_port, http_port) = (free_port()?, free_port()?);
    let configs = Configs::write(&work, smtp_port, http_port, &dns, engines.as_ref())?;

    println!("seeding congvu with {} officials", args.officials);
    let officials = crate::admin::import_province(
        &args.programs.congvu.admin,
        &configs.off,
        &work,
        args.officials,
        5321,
        "SMTP",
    )?;
    let postfix = match &engines {
        Some(engines) => Some(postfix_with_milter(&args, &work, &officials, engines)?),
        None => None,
    };
    let signed = signed_if_wanted(&args, &officials, &key)?;

    let pin = (!args.programs.no_pin && machine.cores >= 2).then(|| Pinning::split(machine.cores));
    if let Some(pin) = &pin {
        pin.pin_self()?;
    }
    let mut bench = Bench {
        args: &args,
        runtime: &runtime,
        officials: &officials,
        ticks: machine.ticks,
        congvu: Congvu::new(
            args.programs.congvu.server.clone(),
            (configs.off.clone(), &work),
            smtp_port,
            pin.as_ref().map(|p| p.server.clone()),
            machine.ticks,
        ),
        http_port,
        db: congvu_db_url(&work),
    };
    let mut results = Results::default();
    if wants(Workload::S4) {
        results.s4 = Some(
            bench
                .s4(&configs, &signed, &dns)
                .map_err(|e| bench.with_log(e))?,
        );
    }
    if let (Some(engines), Some(setup)) = (&engines, postfix) {
        let mut postfix = Postfix::new(
            args.programs.postfix.clone(),
            setup,
            pin.as_ref().map(|p| p.server.clone()),
            machine.ticks,
        );
        bench.congvu.config = configs.filters.clone();
        let s5 = bench.s5(&mut postfix, engines);
        drop(postfix);
        results.s5 = Some(s5.map_err(|e| bench.with_log(e))?);
    }
    bench.congvu.stop()?;
    drop(engines);

    write_report(&args, &machine, pin.is_some(), &results)
}

/// S4's messages, signed by dkimsign; none when S4 is not run.
fn signed_if_wanted(
    args: &InboundArgs,
    officials: &[Official],
    key: &DkimKey,
) -> anyhow::Result<Vec<Vec<u8>>> {
    if !args.workloads.contains(&Workload::S4) {
        return Ok(Vec::new());
    }
    println!("signing {} messages with dkimsign", args.mailboxes);
    sign_messages(args, officials, key)
}

/// Prints the report and writes it to the report file.
fn write_report(
    args: &InboundArgs,
    machine: &Machine,
    pinned: bool,
    results: &Results,
) -> anyhow::Result<()> {
    let report = Report {
        args,
        machine,
        load_after: Machine::probe().load,
        pinned,
        results,
    };
    publish(&args.report, MARKERS, &report.render(), None)
}

/// Refuses arguments and missing programs before any work starts.
fn check(args: &InboundArgs) -> anyhow::Result<()> {
    args.programs.congvu.check()?;
    if args.workloads.contains(&Workload::S5) {
        anyhow::ensure!(
            args.programs.postfix.exists() && args.programs.postmap.exists(),
            "{} not found: apt-get install postfix",
            args.programs.postfix.display()
        );
        anyhow::ensure!(
            nix::unistd::geteuid().is_root(),
            "a private Postfix instance must be started as root; run as root or with \
             --workloads s4"
        );
    }
    anyhow::ensure!(
        args.mailboxes >= 1 && args.mailboxes <= args.officials,
        "--mailboxes must be between 1 and --officials"
    );
    anyhow::ensure!(
        args.sessions >= 1 && args.messages >= 1 && args.runs >= 1 && args.length >= 80,
        "--sessions, --messages and --runs must be at least 1, --length at least 80"
    );
    Ok(())
}

/// The clamd and rspamd of S5.
struct Engines {
    clamd: Clamd,
    rspamd: Rspamd,
}

impl Engines {
    async fn start() -> Engines {
        let clamd = Clamd::start_with(ClamdOptions { log_clean: true }).await;
        let servers = clamd.address().trim_start_matches("tcp:").to_string();
        let rspamd = Rspamd::start_with(RspamdOptions {
            milter: true,
            clamav: Some(servers),
            antivirus_skip_mta: Some(format!("^{HOSTNAME}$")),
        })
        .await;
        Engines { clamd, rspamd }
    }

    /// Messages rspamd has scanned since it started, from its controller's `/stat`.
    async fn rspamd_scanned(&self) -> anyhow::Result<u64> {
        let url = format!("{}/stat", self.rspamd.controller_url());
        let text = reqwest::Client::builder()
            .no_proxy()
            .build()?
            .get(&url)
            .send()
            .await?
            .text()
            .await?;
        let at = text
            .find("\"scanned\":")
            .context("no `scanned` in rspamd's /stat")?;
        let digits: String = text[at + 10..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Ok(digits.parse()?)
    }
}

/// The three configurations of one congvu, sharing its data directory and ports.
struct Configs {
    off: PathBuf,
    enforce: PathBuf,
    filters: PathBuf,
}

impl Configs {
    fn write(
        work: &Path,
        smtp_port: u16,
        http_port: u16,
        dns: &DnsServer,
        engines: Option<&Engines>,
    ) -> anyhow::Result<Configs> {
        let config = |name: &str, authentication: &str, extra: &str| {
            let settings = CongvuSettings {
                smtp_port,
                http_port,
                recipients: 1000,
                authentication,
                extra,
            };
            write_congvu_config(work, name, &settings)
        };
        let resolver = format!("[dns]\nservers = [\"{}\"]\n", dns.addr());
        let filters = engines.map_or(String::new(), |e| {
            format!(
                "[filter.rspamd]\nurl = \"{}\"\ncontroller_url = \"{}\"\n\n\
                 [filter.clamav]\naddress = \"{}\"\n",
                e.rspamd.url(),
                e.rspamd.controller_url(),
                e.clamd.address()
            )
        });
        Ok(Configs {
            off: config("congvu-off.toml", "off", "")?,
            enforce: config("congvu-enforce.toml", "enforce", &resolver)?,
            filters: config("congvu-filters.toml", "off", &filters)?,
        })
    }
}

/// Each mailbox's S4 message, DKIM-signed for `hanoi.gov.vn`, without its final CRLF
/// (the terminator supplies it). Signed a few at a time: each is a `dkimsign` process.
fn sign_messages(
    args: &InboundArgs,
    officials: &[Official],
    key: &DkimKey,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let body = payload(args.length);
    let sign = |j: usize| {
        let head = format!(
            "From: <{}>\r\nTo: <{}>\r\nDate: Mon, 5 Jan 2026 08:00:00 +0700\r\n\
             Message-Id: <{j:08x}.s4@{SENDER_HOST}>\r\n\r\n",
            S4_ENVELOPE.sender, officials[j].address
        );
        let mut message = head.into_bytes();
        message.extend_from_slice(&body);
        message.extend_from_slice(b"\r\n");
        let signed = dkim_sign(
            &message,
            SENDER_DOMAIN,
            SELECTOR,
            key,
            &SignOptions::default(),
        );
        let mut signed = crlf(&signed);
        signed.truncate(signed.len() - 2);
        signed
    };
    let mut signed = vec![Vec::new(); args.mailboxes];
    std::thread::scope(|scope| {
        for (worker, chunk) in signed.chunks_mut(args.mailboxes.div_ceil(4)).enumerate() {
            let sign = &sign;
            let first = worker * args.mailboxes.div_ceil(4);
            scope.spawn(move || {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    *slot = sign(first + k);
                }
            });
        }
    });
    anyhow::ensure!(
        signed.iter().all(|m| m.ends_with(b"XX")),
        "a signed message does not end with the payload"
    );
    Ok(signed)
}

/// `bytes` with every bare LF made CRLF, as SMTP carries it.
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 64);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{crlf, verdict};

    #[test]
    fn bare_line_feeds_become_crlf_and_crlf_stays() {
        assert_eq!(crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn the_verdict_is_our_unfolded_field_only() {
        let message = b"Authentication-Results: other.example; dkim=fail\r\n\
            Authentication-Results: mail.vinhphuc.gov.vn;\r\n\tdkim=pass header.d=hanoi.gov.vn;\r\n\
            \tdmarc=pass\r\nFrom: a@b\r\n\r\nAuthentication-Results: mail.vinhphuc.gov.vn; x\r\n";
        let found = verdict(message).unwrap();
        assert!(
            found.contains("dkim=pass") && found.ends_with("dmarc=pass"),
            "{found}"
        );
        assert_eq!(verdict(b"From: a@b\r\n\r\nbody"), None);
    }
}
