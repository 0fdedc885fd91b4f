//! `congvu-bench`: the workloads behind docs/PERFORMANCE.md, each measured side by side with
//! its reference in one run (see ../shared/PERFORMANCE.md for the targets).
#![allow(clippy::print_stdout)]

mod admin;
mod backup;
mod egov_demo;
mod figures;
mod imap;
mod import;
mod inbound;
mod ldap;
mod machine;
mod migrate;
mod nodes;
mod portal;
mod postgres;
mod process;
mod report;
mod server;
mod sieve;
mod smtp;
mod soak;

use clap::{Parser, Subcommand};

/// congvu benchmarks.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// B1–B3: `congvu-admin backup create`/`restore` against `sqlite3 .backup` + zstd and
    /// `pg_dump`/`pg_restore` on the same seeded data, and SMTP latency while a backup runs.
    Backup(backup::BackupArgs),
    /// I1, M1: mbsync sync and FETCH throughput of one mailbox, and memory with idle
    /// connections, against a private Dovecot seeded with the same officials and messages.
    Imap(imap::ImapArgs),
    /// P1/P2: `congvu-admin user import` of N officials into SQLite and PostgreSQL, against
    /// the hashing floor measured in the same run.
    Import(import::ImportArgs),
    /// S4, S5: the S1 workload with sender authentication enforced against a DNS server in
    /// this process, and with rspamd and ClamAV on, against Postfix with rspamd's milter.
    Inbound(inbound::InboundArgs),
    /// G1, G2: `congvu-admin migrate imap` pulling mailboxes from a private Dovecot, against
    /// `doveadm backup -R imapc:` pulling the same mailboxes into a second Dovecot.
    Migrate(migrate::MigrateArgs),
    /// L1–L3: LDAP searches, binds and searches under a bind flood, against OpenLDAP slapd
    /// started and seeded with the same officials in the same run.
    Ldap(ldap::LdapArgs),
    /// N1: SMTP intake and IMAP FETCH on two congvu nodes over one PostgreSQL database
    /// against one node, with each queue entry delivered once and IDLE woken across nodes.
    Nodes(nodes::NodesArgs),
    /// W1: the officials' portal under concurrent sign-ins and page views, against the
    /// hashing floor and the same server's IMAP login unloaded, measured in the same run.
    Portal(portal::PortalArgs),
    /// V1: S1's delivery with every recipient's 20-rule Sieve script active, against no
    /// scripts, and Postfix → Dovecot LMTP with Pigeonhole running the same script.
    Sieve(sieve::SieveArgs),
    /// S1–S3: SMTP throughput into mailboxes, latency at a fixed rate and a circular to
    /// every official, against a private Postfix delivering to Maildir in the same run.
    Smtp(smtp::SmtpArgs),
    /// The crash soak: the server killed with SIGKILL `--kills` times under mixed SMTP and
    /// IMAP load, every acknowledged message checked in the database after each kill.
    Soak(soak::SoakArgs),
    /// A province-shaped database with certificates and signed-mail counts, for showing
    /// `congvu-admin report egov` (scripts/egov-report-demo.sh).
    EgovDemo(egov_demo::EgovDemoArgs),
}

fn main() -> anyhow::Result<()> {
    match Args::parse().workload {
        Workload::Backup(args) => backup::run(args),
        Workload::Imap(args) => imap::run(args),
        Workload::Import(args) => import::run(args),
        Workload::Inbound(args) => inbound::run(args),
        Workload::Ldap(args) => ldap::run(args),
        Workload::Migrate(args) => migrate::run(args),
        Workload::Nodes(args) => nodes::run(args),
        Workload::Portal(args) => portal::run(args),
        Workload::Sieve(args) => sieve::run(args),
        Workload::Smtp(args) => smtp::run(args),
        Workload::Soak(args) => soak::run(args),
        Workload::EgovDemo(args) => egov_demo::run(args),
    }
}
