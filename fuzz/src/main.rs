//! `congvu-fuzz TARGET --seconds N [--corpus DIR] [--jobs J]`: fuzzes one of congvu's parsers
//! (or `all` of them in turn) and prints one summary line per target.
//!
//! Each target runs in a child process that this one supervises: a stack overflow aborts a
//! process, which `catch_unwind` cannot stop, so when the child dies of a signal the
//! supervisor runs the same seed again with every input traced to a file, then replays the
//! traced inputs one by one to find and save the one that kills.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use congvu::fuzzing::{self, Target, TARGETS};
use congvu_fuzz::engine::{self, Finding, FindingKind, Options, Summary, STUCK_EXIT};

/// Exit status when something was found.
const FOUND: u8 = 1;
/// Exit status when the run could not be made.
const FAILED: u8 = 2;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "congvu-fuzz",
    about = "Fuzzes congvu's parsers of hostile input on the stable toolchain",
    after_help = "Targets: smtp_command_line smtp_data imap_command ldap_frame smime_ber utf7 \
                  mime_shape sasl_plain autoconfig_xml config_toml (`congvu-fuzz list` describes them)"
)]
struct Cli {
    /// A target's name, `all` for every target in turn, or `list`.
    target: String,
    /// How long to fuzz each target, in seconds.
    #[arg(long)]
    seconds: Option<u64>,
    /// The corpus root: one directory of seed files per target [default: fuzz/corpus].
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// With one target, worker threads in its process; with `all`, targets fuzzed at a time
    /// (one process each).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// The random seed [default: from the clock]; a run is repeatable from its seed.
    #[arg(long)]
    seed: Option<u64>,
    /// An input running longer than this many milliseconds is a hang.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    deadline_ms: u64,
    /// The longest input tried [default: twice the largest seed, at least 8 KiB].
    #[arg(long, value_name = "BYTES")]
    max_len: Option<usize>,
    /// Where crashing and hanging inputs are written [default: fuzz/crashes].
    #[arg(long, value_name = "DIR")]
    crashes: Option<PathBuf>,
    /// Runs the target once on this file, with the usual panic message and backtrace.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Fuzz in this process, unsupervised (what the supervisor starts).
    #[arg(long, hide = true)]
    in_process: bool,
    /// Write each input to this directory before running it (abort recovery).
    #[arg(long, hide = true, value_name = "DIR")]
    trace: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("congvu-fuzz: {error}");
            ExitCode::from(FAILED)
        }
    }
}

fn dispatch(cli: &Cli) -> io::Result<u8> {
    if cli.target == "list" {
        for target in TARGETS {
            say(&format!("{:<18} {}", target.name, target.about))?;
        }
        return Ok(0);
    }
    let targets: Vec<&'static Target> = if cli.target == "all" {
        TARGETS.iter().collect()
    } else {
        vec![fuzzing::target(&cli.target).ok_or_else(|| {
            invalid(format!(
                "no target {:?}; `congvu-fuzz list` names them",
                cli.target
            ))
        })?]
    };
    if let Some(file) = &cli.replay {
        let [target] = targets[..] else {
            return Err(invalid("--replay takes one target".into()));
        };
        return replay(target, file);
    }
    let seconds = cli
        .seconds
        .ok_or_else(|| invalid("--seconds is required".into()))?;
    let seed = cli.seed.unwrap_or_else(clock_seed);
    if cli.in_process {
        let [target] = targets[..] else {
            return Err(invalid("--in-process takes one target".into()));
        };
        return in_process(target, cli, seconds, seed);
    }
    if targets.len() == 1 {
        return supervise(targets[0], cli, seconds, seed, cli.jobs);
    }
    supervise_all(&targets, cli, seconds, seed)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |t| t.as_nanos() as u64)
}

/// Writes one line on stdout (the summary lines are the program's output).
fn say(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

fn corpus_root(cli: &Cli) -> PathBuf {
    cli.corpus
        .clone()
        .unwrap_or_else(congvu_fuzz::default_corpus)
}

fn crashes_dir(cli: &Cli) -> PathBuf {
    cli.crashes
        .clone()
        .unwrap_or_else(congvu_fuzz::default_crashes)
}

/// Runs one input on a thread with the target's stack; a panic prints as usual.
fn replay(target: &'static Target, file: &Path) -> io::Result<u8> {
    let input = std::fs::read(file)?;
    let worker = std::thread::Builder::new()
        .stack_size(congvu_fuzz::stack_size(target.name))
        .spawn(move || (target.run)(&input))?;
    match worker.join() {
        Ok(features) => {
            say(&format!(
                "{}: returned (features {:#018x})",
                target.name,
                features.bits()
            ))?;
            Ok(0)
        }
        Err(_) => Ok(FOUND),
    }
}

/// Fuzzes in this process and prints the summary line.
fn in_process(target: &'static Target, cli: &Cli, seconds: u64, seed: u64) -> io::Result<u8> {
    let mut options = Options::new(
        Duration::from_secs(seconds),
        corpus_root(cli).join(target.name),
        crashes_dir(cli),
        seed,
    );
    options.jobs = cli.jobs.max(1);
    options.input_deadline = Duration::from_millis(cli.deadline_ms.max(1));
    options.max_len = cli.max_len;
    options.stack_size = congvu_fuzz::stack_size(target.name);
    options.trace = cli.trace.clone();
    options.progress = true;
    eprintln!(
        "congvu-fuzz: {} for {seconds} s, seed {seed}, {} worker(s), seeds from {}",
        target.name,
        options.jobs,
        options.corpus.display()
    );
    let summary = engine::run(target, &options)?;
    eprintln!(
        "congvu-fuzz: {}: {} of 64 features seen, {} inputs kept beyond the seeds",
        target.name, summary.features, summary.kept
    );
    say(&summary.to_string())?;
    Ok(if summary.findings.is_empty() {
        0
    } else {
        FOUND
    })
}

/// The arguments that make a child fuzz `target` as `cli` asks, with `jobs` workers.
fn child_args(target: &Target, cli: &Cli, seconds: u64, seed: u64, jobs: usize) -> Vec<String> {
    let mut args = vec![
        target.name.to_owned(),
        "--in-process".into(),
        format!("--seconds={seconds}"),
        format!("--seed={seed}"),
        format!("--jobs={jobs}"),
        format!("--deadline-ms={}", cli.deadline_ms),
        format!("--corpus={}", corpus_root(cli).display()),
        format!("--crashes={}", crashes_dir(cli).display()),
    ];
    if let Some(max_len) = cli.max_len {
        args.push(format!("--max-len={max_len}"));
    }
    args
}

/// Runs `target` in a child process and prints its summary line; recovers the input when
/// the child dies of a signal.
fn supervise(
    target: &'static Target,
    cli: &Cli,
    seconds: u64,
    seed: u64,
    jobs: usize,
) -> io::Result<u8> {
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args(child_args(target, cli, seconds, seed, jobs))
        .stdout(Stdio::piped())
        .spawn()?;
    let mut executions = 0;
    let mut summary = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(n) = line.strip_prefix("progress executions=") {
                executions = n.parse().unwrap_or(executions);
            } else if line.starts_with("target=") {
                summary = Some(line);
            }
            // Anything else on the child's stdout was printed by a dependency (ldap3_proto
            // prints unknown LDAP operations): not part of the summary.
        }
    }
    let status = child.wait()?;
    if let (Some(code), Some(line)) = (status.code(), &summary) {
        say(line)?;
        return Ok(u8::try_from(code).unwrap_or(FAILED));
    }
    let finding = match status.code() {
        Some(STUCK_EXIT) => Finding {
            kind: FindingKind::Hang,
            path: crashes_dir(cli),
            message: "an input never returned; it was saved when it passed the deadline".into(),
        },
        Some(code) => {
            return Err(io::Error::other(format!(
                "the fuzzing process ended with status {code}"
            )))
        }
        None => {
            eprintln!(
                "congvu-fuzz: the {} process was killed by a signal; finding the input",
                target.name
            );
            recover_abort(target, cli, seconds, seed, jobs)?
        }
    };
    let summary = Summary {
        target: target.name,
        elapsed: started.elapsed(),
        executions,
        findings: vec![finding],
        kept: 0,
        features: 0,
        peak_rss_kib: None,
    };
    say(&summary.to_string())?;
    Ok(FOUND)
}

/// Replays the run that died with every input traced, then tries each worker's last input
/// alone until one kills its process; that one is saved with the crashes.
fn recover_abort(
    target: &'static Target,
    cli: &Cli,
    seconds: u64,
    seed: u64,
    jobs: usize,
) -> io::Result<Finding> {
    let crashes = crashes_dir(cli);
    let trace = crashes.join(format!(".trace-{}-{}", target.name, std::process::id()));
    // Tracing slows the run down; the same inputs come in the same order, so a longer run
    // reaches the one that killed the first.
    let mut args = child_args(target, cli, seconds.saturating_mul(4).max(10), seed, jobs);
    args.push(format!("--trace={}", trace.display()));
    Command::new(std::env::current_exe()?)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&trace)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    candidates.sort();
    let mut found = None;
    for candidate in candidates {
        let output = Command::new(std::env::current_exe()?)
            .args([target.name, "--replay"])
            .arg(&candidate)
            .stdout(Stdio::null())
            .output()?;
        if output.status.code().is_none() {
            let input = std::fs::read(&candidate)?;
            let path = crashes.join(format!("{}-{:016x}", target.name, engine::fnv1a(&input)));
            std::fs::write(&path, &input)?;
            let stderr = String::from_utf8_lossy(&output.stderr);
            let message = stderr
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("killed by a signal");
            eprintln!(
                "congvu-fuzz: crash in {}: {message}\n  input: {}\n  replay: congvu-fuzz {} --replay {}",
                target.name,
                path.display(),
                target.name,
                path.display()
            );
            found = Some(Finding {
                kind: FindingKind::Crash,
                path,
                message: message.to_owned(),
            });
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&trace);
    found.ok_or_else(|| {
        io::Error::other("the process died, but replaying its inputs did not kill one")
    })
}

/// Every target, `--jobs` at a time, each in its own supervised process.
fn supervise_all(
    targets: &[&'static Target],
    cli: &Cli,
    seconds: u64,
    seed: u64,
) -> io::Result<u8> {
    let queue = Mutex::new(targets.iter().copied().collect::<VecDeque<_>>());
    let worst = Mutex::new(0u8);
    std::thread::scope(|scope| {
        for _ in 0..cli.jobs.clamp(1, targets.len()) {
            scope.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(target) = next else { break };
                let code = supervise(target, cli, seconds, seed, 1).unwrap_or_else(|error| {
                    eprintln!("congvu-fuzz: {}: {error}", target.name);
                    FAILED
                });
                if let Ok(mut worst) = worst.lock() {
                    *worst = (*worst).max(code);
                }
            });
        }
    });
    Ok(worst.into_inner().unwrap_or(FAILED))
}
