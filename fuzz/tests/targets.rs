//! Every fuzz target, run for about two seconds from its committed corpus in the normal
//! suite, so that CI exercises the harness and the entry points on each change: a seed that
//! starts to crash, a parser that starts to hang, or a corpus directory that goes missing
//! fails here.

use std::time::Duration;

use congvu::fuzzing::TARGETS;
use congvu_fuzz::engine::{self, Options};

#[test]
fn every_target_survives_two_seconds_of_its_corpus_and_mutants() {
    let crashes = std::env::temp_dir().join(format!("congvu-fuzz-test-{}", std::process::id()));
    let mut failures = Vec::new();
    for target in TARGETS {
        let corpus = congvu_fuzz::default_corpus().join(target.name);
        let seeds = congvu_fuzz::corpus::load(&corpus).expect("the target's corpus is readable");
        assert!(
            seeds.len() >= 3,
            "{}: only {} seeds",
            target.name,
            seeds.len()
        );
        let mut options =
            Options::new(Duration::from_secs(2), corpus, crashes.clone(), 0x00c0_46b0);
        options.stack_size = congvu_fuzz::stack_size(target.name);
        // Unoptimized builds are several times slower than the release build the long
        // campaigns use.
        options.input_deadline = Duration::from_secs(5);
        let summary = engine::run(target, &options).expect("the run starts");
        eprintln!("{summary}");
        assert!(
            summary.executions >= seeds.len() as u64,
            "{}: {} executions for {} seeds",
            target.name,
            summary.executions,
            seeds.len()
        );
        failures.extend(
            summary
                .findings
                .iter()
                .map(|f| format!("{}: {f:?}", target.name)),
        );
    }
    assert!(
        failures.is_empty(),
        "findings (inputs kept in {}):\n{}",
        crashes.display(),
        failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(&crashes);
}
