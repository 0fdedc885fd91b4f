//! `congvu-bench`: the load generator for the side-by-side benchmarks against slapd,
//! Postfix and Dovecot described in docs/PERFORMANCE.md. Each protocol's workload joins
//! this binary together with that protocol's server side; until then it only says so.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use clap::Parser;

/// congvu load generator.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The workload to run.
    workload: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.workload {
        None => {
            println!(
                "workloads: none yet (LDAP, SMTP and IMAP workloads arrive with their servers)"
            );
            ExitCode::SUCCESS
        }
        Some(name) => {
            eprintln!(
                "congvu-bench: unknown workload {name:?}; run without arguments to list them"
            );
            ExitCode::from(2)
        }
    }
}
