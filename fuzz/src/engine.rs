//! One fuzzing run of one target: the corpus's seeds run as they are, then mutants of the
//! inputs kept so far, each under `catch_unwind` and the watchdog, until the time is up or
//! something is found. An input that shows a feature no earlier input showed is kept for
//! further mutation. A crash or a hang is written to the crashes directory and ends the run.
//!
//! Each worker's sequence of inputs depends only on the seed, the worker's number and the
//! corpus, so a run that killed the process (a stack overflow aborts it) can be replayed with
//! `trace` set to recover the input.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use congvu::fuzzing::Target;

use crate::corpus;
use crate::dictionary;
use crate::memory;
use crate::mutate::{Mutator, Rng};
use crate::panics;
use crate::watchdog::Slot;

/// Inputs kept per worker beyond the seeds; later finds replace random earlier ones.
const MAX_POOL: usize = 4096;
/// How often the watchdog looks at the workers.
const WATCH_INTERVAL: Duration = Duration::from_millis(20);
/// Exit status of a process the watchdog ended because an input never returned.
pub const STUCK_EXIT: i32 = 3;

/// How to run a target.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long to fuzz.
    pub duration: Duration,
    /// The target's seed directory.
    pub corpus: PathBuf,
    /// Where crashing and hanging inputs are written.
    pub crashes: PathBuf,
    /// The random seed; worker `n` uses a seed derived from it and `n`.
    pub seed: u64,
    /// Worker threads.
    pub jobs: usize,
    /// An input running longer than this is a hang.
    pub input_deadline: Duration,
    /// The longest input; by default twice the largest seed, and at least 8 KiB.
    pub max_len: Option<usize>,
    /// Each worker's stack size, as large as the server's thread that runs the parser.
    pub stack_size: usize,
    /// Write each input to `worker-<n>` in this directory before running it.
    pub trace: Option<PathBuf>,
    /// Print `progress executions=N` lines on stdout every second.
    pub progress: bool,
}

impl Options {
    /// Options for `duration` of fuzzing from `corpus`, findings written to `crashes`: one
    /// worker, a 1 s per-input deadline, a 2 MiB stack (a Tokio worker's).
    pub fn new(duration: Duration, corpus: PathBuf, crashes: PathBuf, seed: u64) -> Options {
        Options {
            duration,
            corpus,
            crashes,
            seed,
            jobs: 1,
            input_deadline: Duration::from_secs(1),
            max_len: None,
            stack_size: 2 << 20,
            trace: None,
            progress: false,
        }
    }
}

/// What was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    Crash,
    Hang,
}

/// One crashing or hanging input.
#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: FindingKind,
    /// Where the input was written.
    pub path: PathBuf,
    /// The panic's message and place, or how long the input ran.
    pub message: String,
}

/// The outcome of a run; its `Display` is the one summary line.
#[derive(Debug, Clone)]
pub struct Summary {
    pub target: &'static str,
    pub elapsed: Duration,
    pub executions: u64,
    pub findings: Vec<Finding>,
    /// Inputs kept for mutation beyond the seeds, over all workers.
    pub kept: usize,
    /// How many of the 64 feature bits some input showed.
    pub features: u32,
    /// The process's peak resident memory over the run, in KiB.
    pub peak_rss_kib: Option<u64>,
}

impl Summary {
    /// Crashes found.
    pub fn crashes(&self) -> usize {
        self.count(FindingKind::Crash)
    }

    /// Hangs found.
    pub fn hangs(&self) -> usize {
        self.count(FindingKind::Hang)
    }

    fn count(&self, kind: FindingKind) -> usize {
        self.findings.iter().filter(|f| f.kind == kind).count()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            self.executions as f64 / seconds
        } else {
            0.0
        };
        let rss = self
            .peak_rss_kib
            .map_or_else(|| "unknown".to_owned(), memory::human);
        write!(
            f,
            "target={} seconds={seconds:.1} executions={} exec/s={rate:.0} crashes={} hangs={} peak_rss={rss}",
            self.target,
            self.executions,
            self.crashes(),
            self.hangs()
        )
    }
}

/// What the workers and the watchdog share.
#[derive(Debug)]
struct Shared {
    target: &'static str,
    crashes: PathBuf,
    stop: AtomicBool,
    executions: AtomicU64,
    findings: Mutex<Vec<Finding>>,
}

impl Shared {
    /// Writes `input` to the crashes directory, reports it on stderr, stops the run.
    fn record(&self, kind: FindingKind, input: &[u8], message: String) {
        let path = self
            .crashes
            .join(format!("{}-{:016x}", self.target, fnv1a(input)));
        let saved =
            std::fs::create_dir_all(&self.crashes).and_then(|()| std::fs::write(&path, input));
        let what = match kind {
            FindingKind::Crash => "crash",
            FindingKind::Hang => "hang",
        };
        match saved {
            Ok(()) => eprintln!(
                "congvu-fuzz: {what} in {}: {message}\n  input: {}\n  replay: congvu-fuzz {} --replay {}",
                self.target,
                path.display(),
                self.target,
                path.display()
            ),
            Err(e) => eprintln!(
                "congvu-fuzz: {what} in {}: {message}\n  the input could not be written to {}: {e}",
                self.target,
                path.display()
            ),
        }
        self.stop.store(true, Ordering::SeqCst);
        self.findings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Finding {
                kind,
                path,
                message,
            });
    }
}

/// A 64-bit FNV-1a hash: names a finding by its bytes.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Fuzzes `target` as `options` say.
pub fn run(target: &'static Target, options: &Options) -> io::Result<Summary> {
    panics::install_hook();
    let seeds: Vec<Vec<u8>> = corpus::load(&options.corpus)?
        .into_iter()
        .map(|seed| seed.bytes)
        .collect();
    let largest = seeds.iter().map(Vec::len).max().unwrap_or(0);
    let max_len = options.max_len.unwrap_or((largest * 2).max(8192));
    memory::reset_peak_rss();
    let shared = Arc::new(Shared {
        target: target.name,
        crashes: options.crashes.clone(),
        stop: AtomicBool::new(false),
        executions: AtomicU64::new(0),
        findings: Mutex::new(Vec::new()),
    });
    let jobs = options.jobs.max(1);
    let slots: Arc<Vec<Slot>> = Arc::new((0..jobs).map(|_| Slot::default()).collect());
    let started = Instant::now();
    let end = started + options.duration;
    let watchdog = {
        let (shared, slots, options) = (shared.clone(), slots.clone(), options.clone());
        std::thread::Builder::new()
            .name("fuzz-watchdog".into())
            .spawn(move || watch(&shared, &slots, &options))?
    };
    let mut workers = Vec::with_capacity(jobs);
    for index in 0..jobs {
        let worker = Worker {
            index,
            target,
            rng: Rng::new(options.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            mutator: Mutator::new(dictionary::for_target(target.name), max_len),
            pool: seeds.clone(),
            seeds: seeds.len(),
            seen: 0,
            shared: shared.clone(),
            slots: slots.clone(),
            trace: trace_file(options.trace.as_deref(), index)?,
        };
        workers.push(
            std::thread::Builder::new()
                .name(format!("fuzz-worker-{index}"))
                .stack_size(options.stack_size)
                .spawn(move || worker.work(end))?,
        );
    }
    let (mut executions, mut kept, mut seen) = (0, 0, 0u64);
    for worker in workers {
        match worker.join() {
            Ok(result) => {
                let report = result?;
                executions += report.executions;
                kept += report.kept;
                seen |= report.seen;
            }
            Err(_) => return Err(io::Error::other("a fuzz worker panicked outside an input")),
        }
    }
    shared.stop.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    let findings = std::mem::take(
        &mut *shared
            .findings
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    Ok(Summary {
        target: target.name,
        elapsed: started.elapsed(),
        executions,
        findings,
        kept,
        features: seen.count_ones(),
        peak_rss_kib: memory::peak_rss_kib(),
    })
}

fn trace_file(dir: Option<&Path>, index: usize) -> io::Result<Option<File>> {
    dir.map(|dir| {
        std::fs::create_dir_all(dir)?;
        File::create(dir.join(format!("worker-{index}")))
    })
    .transpose()
}

/// The watchdog's loop: flags hangs, ends the process if one never returns, prints progress.
fn watch(shared: &Shared, slots: &[Slot], options: &Options) {
    let stuck_limit = options.input_deadline * 10;
    let mut last_progress = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        std::thread::sleep(WATCH_INTERVAL);
        for slot in slots {
            if let Some((input, running)) = slot.newly_overdue(options.input_deadline) {
                let message = format!(
                    "an input ran for more than {:.1} s (deadline {:.1} s)",
                    running.as_secs_f64(),
                    options.input_deadline.as_secs_f64()
                );
                shared.record(FindingKind::Hang, &input, message);
            }
            if slot.running_for().is_some_and(|t| t > stuck_limit) {
                eprintln!(
                    "congvu-fuzz: an input of {} has not returned after {:.0} s; ending the process",
                    shared.target,
                    stuck_limit.as_secs_f64()
                );
                std::process::exit(STUCK_EXIT);
            }
        }
        if options.progress && last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            let executions = shared.executions.load(Ordering::Relaxed);
            // Read by the supervising process. If it is gone, stop: a dependency printing to
            // the closed stdout would panic (ldap3_proto prints unknown operations), and
            // that would be reported as a crash of the parser.
            if writeln_stdout(&format!("progress executions={executions}")).is_err() {
                eprintln!("congvu-fuzz: the supervising process is gone; stopping");
                shared.stop.store(true, Ordering::SeqCst);
            }
        }
    }
}

fn writeln_stdout(line: &str) -> io::Result<()> {
    use std::io::Write;
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// What one worker did.
#[derive(Debug, Clone, Copy)]
struct WorkerReport {
    executions: u64,
    /// Inputs kept beyond the seeds.
    kept: usize,
    /// Features seen.
    seen: u64,
}

/// One worker thread's state.
struct Worker {
    index: usize,
    target: &'static Target,
    rng: Rng,
    mutator: Mutator,
    /// The seeds, then the inputs kept.
    pool: Vec<Vec<u8>>,
    seeds: usize,
    /// Every feature seen so far.
    seen: u64,
    shared: Arc<Shared>,
    slots: Arc<Vec<Slot>>,
    trace: Option<File>,
}

impl Worker {
    /// Runs inputs until `end` or a finding.
    fn work(mut self, end: Instant) -> io::Result<WorkerReport> {
        let slot = &self.slots.clone()[self.index];
        let mut input = Vec::new();
        let mut executions: u64 = 0;
        while !self.shared.stop.load(Ordering::Relaxed) && Instant::now() < end {
            self.next_input(executions, &mut input);
            if let Some(trace) = &self.trace {
                trace.write_all_at(&input, 0)?;
                trace.set_len(input.len() as u64)?;
            }
            slot.begin(&input);
            let outcome = panics::catch(|| (self.target.run)(&input));
            let hung = slot.end();
            let seed = executions < self.seeds as u64;
            executions += 1;
            if executions % 256 == 0 {
                self.shared.executions.fetch_add(256, Ordering::Relaxed);
            }
            match outcome {
                Ok(features) => self.keep_if_new(&input, features.bits(), seed),
                Err(message) => self.shared.record(FindingKind::Crash, &input, message),
            }
            // A hang was recorded by the watchdog when it flagged the input.
            if hung {
                self.shared.stop.store(true, Ordering::SeqCst);
            }
        }
        Ok(WorkerReport {
            executions,
            kept: self.pool.len() - self.seeds,
            seen: self.seen,
        })
    }

    /// The seeds first, as they are (an empty corpus gives the empty input), then mutants
    /// of the pool.
    fn next_input(&mut self, executions: u64, input: &mut Vec<u8>) {
        if self.pool.is_empty() {
            self.pool.push(Vec::new());
            self.seeds = 1;
        }
        if let Some(seed) = usize::try_from(executions).ok().filter(|&n| n < self.seeds) {
            input.clone_from(&self.pool[seed]);
            return;
        }
        let parent = self.rng.below(self.pool.len());
        let other = self.rng.below(self.pool.len());
        input.clone_from(&self.pool[parent]);
        self.mutator.mutate(&mut self.rng, input, &self.pool[other]);
    }

    /// Keeps `input` if it showed a feature not seen before (a seed is in the pool already).
    fn keep_if_new(&mut self, input: &[u8], features: u64, seed: bool) {
        if features & !self.seen == 0 {
            return;
        }
        self.seen |= features;
        if seed {
            return;
        }
        if self.pool.len() < self.seeds + MAX_POOL {
            self.pool.push(input.to_vec());
        } else {
            let replaced = self.seeds + self.rng.below(MAX_POOL);
            self.pool[replaced] = input.to_vec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_one_line_with_every_figure() {
        let summary = Summary {
            target: "smtp_data",
            elapsed: Duration::from_secs(60),
            executions: 6_000_000,
            findings: vec![Finding {
                kind: FindingKind::Hang,
                path: PathBuf::from("crashes/smtp_data-0"),
                message: String::new(),
            }],
            kept: 12,
            features: 9,
            peak_rss_kib: Some(4915),
        };
        assert_eq!(
            summary.to_string(),
            "target=smtp_data seconds=60.0 executions=6000000 exec/s=100000 crashes=0 hangs=1 peak_rss=4.8MiB"
        );
    }

    #[test]
    fn a_crashing_input_is_saved_and_ends_the_run() -> io::Result<()> {
        let base = std::env::temp_dir().join(format!("congvu-fuzz-engine-{}", std::process::id()));
        let corpus = base.join("corpus");
        std::fs::create_dir_all(&corpus)?;
        std::fs::write(corpus.join("seed"), b"AB")?;
        // No parser of congvu panics on purpose, so this target stands in for one that does.
        static CRASHES_ON_EMPTY: Target = Target {
            name: "crashes_on_empty",
            about: "panics when a mutant empties its input",
            run: |input| {
                assert!(!input.is_empty(), "empty input");
                congvu::fuzzing::Features::default()
            },
        };
        let mut options = Options::new(Duration::from_secs(20), corpus, base.join("crashes"), 5);
        options.max_len = Some(2);
        let summary = run(&CRASHES_ON_EMPTY, &options)?;
        let saved = std::fs::read_dir(base.join("crashes"))?.count();
        std::fs::remove_dir_all(&base)?;
        assert_eq!(summary.crashes(), 1, "{summary}");
        assert!(
            summary.elapsed < Duration::from_secs(20),
            "the run went on after the crash"
        );
        assert!(
            summary.findings[0].message.starts_with("empty input at "),
            "{:?}",
            summary.findings
        );
        assert_eq!(saved, 1);
        Ok(())
    }
}
