//! congvu-fuzz: a fuzz harness for congvu's parsers of hostile input that runs on the stable
//! toolchain (no libFuzzer, no sanitizers). The entry points are the server's own
//! (`congvu::fuzzing`); this crate feeds them: seeds from `corpus/<target>/`, mutants from a
//! small havoc-style mutator with a dictionary per format, each input under `catch_unwind`
//! and a watchdog, findings written to `crashes/`.
//!
//! `engine` runs one target in this process; the `congvu-fuzz` binary adds a supervising
//! process around it, so that an input that aborts the process (a stack overflow) is found
//! again and saved too.

pub mod corpus;
pub mod dictionary;
pub mod engine;
pub mod memory;
pub mod mutate;
pub mod panics;
pub mod watchdog;

use std::path::PathBuf;

/// `fuzz/corpus`, where each target's seeds live in a directory named after it.
pub fn default_corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// `fuzz/crashes`, where findings are written.
pub fn default_crashes() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crashes")
}

/// The stack of the server thread that runs `target`'s parser: the configuration is read on
/// the main thread (8 MiB); everything else runs on Tokio workers (2 MiB).
pub fn stack_size(target: &str) -> usize {
    match target {
        "config_toml" => 8 << 20,
        _ => 2 << 20,
    }
}
