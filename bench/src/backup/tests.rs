use std::time::{Duration, Instant};

use super::latency::{measure, timeline, Sent};
use super::steps::{floor_script, sides};
use super::*;
use crate::report::place_section;

fn args(workloads: Vec<Workload>) -> BackupArgs {
    BackupArgs {
        officials: 10,
        messages: 100,
        runs: 2,
        workloads,
        admin: PathBuf::new(),
        server: PathBuf::new(),
        sqlite3: PathBuf::new(),
        zstd: PathBuf::new(),
        postgres: String::new(),
        pg_bin: None,
        rate: 200.0,
        load_seconds: 20,
        backup_after: 2,
        length: 4096,
        backup_nice: 0,
        work_dir: None,
        report: PathBuf::new(),
    }
}

fn machine() -> Machine {
    Machine {
        cores: 2,
        cpu: "test".into(),
        load: "0".into(),
        ticks: 100.0,
    }
}

fn timing(step: Step, side: Side, run: usize, seconds: f64) -> Timing {
    Timing {
        step,
        side,
        run,
        seconds,
        sync: 0.5,
    }
}

/// The report of B1 timings alone, with what the runs observed.
fn render_b1(args: &BackupArgs, observed: &Observed, timings: &[Timing]) -> String {
    Report {
        args,
        machine: &machine(),
        load_after: "1.5".into(),
        seeded: &Seeded::default(),
        observed,
        timings,
        loads: &[],
        verify: None,
    }
    .render()
}

fn load(run: usize, p99: f64, backup: Option<f64>) -> LoadRun {
    LoadRun {
        run,
        measured_ms: vec![1.0, p99],
        backup_seconds: backup,
        sent: 2,
        failures: 0,
        first_failure: None,
        timeline: "3 4".into(),
    }
}

#[test]
fn a_target_is_met_only_when_every_run_clears_it() {
    assert_eq!(verdict(&[1.2, 1.5, 0.9], 1.5), "met");
    assert_eq!(
        verdict(&[1.2, 1.8, 0.9], 1.5),
        "NOT met: worst run 1.80× (20% over)"
    );
    assert_eq!(verdict(&[], 1.5), "—");
}

#[test]
fn congvu_and_the_reference_take_turns_run_by_run() {
    assert_eq!(sides(0), [Side::Congvu, Side::Reference]);
    assert_eq!(sides(1), [Side::Reference, Side::Congvu]);
}

/// Messages due `ms` after `t0`, each with its DATA→250 in ms or why it failed.
fn sends(t0: Instant, messages: &[(u64, Result<u64, &str>)]) -> Vec<Sent> {
    messages
        .iter()
        .map(|(due, outcome)| {
            let outcome = outcome.map(Duration::from_millis).map_err(str::to_string);
            (t0 + Duration::from_millis(*due), outcome)
        })
        .collect()
}

#[test]
fn latencies_count_while_the_backup_runs_or_after_the_warm_up() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let sent = sends(
        t0,
        &[
            (0, Ok(50)),
            (2_000, Ok(3)),
            (2_500, Ok(9)),
            (3_000, Err("end of DATA → 451")),
            (9_000, Ok(4)),
        ],
    );
    let quiet = measure(0, &sent, at(2_000), None);
    assert_eq!(quiet.measured_ms, [3.0, 4.0, 9.0]);
    assert_eq!((quiet.sent, quiet.failures), (5, 1));
    assert_eq!(quiet.first_failure.as_deref(), Some("end of DATA → 451"));
    assert_eq!(quiet.backup_seconds, None);
    let loaded = measure(0, &sent, at(2_000), Some((at(2_400), at(4_000))));
    assert_eq!(loaded.measured_ms, [9.0]);
    assert_eq!(loaded.backup_seconds, Some(1.6));
}

#[test]
fn the_report_pairs_runs_and_judges_every_run() {
    let args = args(vec![Workload::B1, Workload::B3]);
    let timings = [
        timing(Step::SqliteCreate, Side::Congvu, 0, 6.0),
        timing(Step::SqliteCreate, Side::Reference, 0, 5.0),
        timing(Step::SqliteCreate, Side::Reference, 1, 4.0),
        timing(Step::SqliteCreate, Side::Congvu, 1, 8.0),
        timing(Step::SqliteRestore, Side::Congvu, 0, 3.0),
        timing(Step::SqliteRestore, Side::Reference, 0, 3.0),
    ];
    let loads = [
        load(0, 4.0, None),
        load(0, 6.0, Some(7.0)),
        load(1, 5.0, Some(8.0)),
        load(1, 5.0, None),
    ];
    let report = Report {
        args: &args,
        machine: &machine(),
        load_after: "1.5".into(),
        seeded: &Seeded::default(),
        observed: &Observed {
            sqlite_archive: 3 << 29,
            sqlite_zstd: 1 << 30,
            phases: vec![RestorePhases {
                start: 1.0,
                rows: 2.0,
                finish: 0.5,
                file_bytes: 2 << 30,
            }],
            ..Observed::default()
        },
        timings: &timings,
        loads: &loads,
        verify: Some(2.0),
    };
    assert_eq!(report.step_ratios(Step::SqliteCreate), [1.2, 2.0]);
    let text = report.render();
    assert!(text.starts_with(MARKERS.begin) && text.ends_with(&format!("{}\n", MARKERS.end)));
    assert!(text.contains(
        "| 7.00 s [6.00 s–8.00 s] | 4.50 s [4.00 s–5.00 s] | 1.60× (1.20×, 2.00×) | ≤ 1.5× | NOT met: worst run 2.00× (33% over) |"
    ), "{text}");
    assert!(
        text.contains("| 3.00 s | 3.00 s | 1.00× | ≤ 1.5× | met |"),
        "{text}"
    );
    assert!(text.contains("| 5.50 ms [5.00 ms–6.00 ms] | 4.50 ms [4.00 ms–5.00 ms] | 1.25× (1.50×, 1.00×) | ≤ 2× | met |"), "{text}");
    assert!(text.contains("congvu's archive of the SQLite database 1.50 GiB against 1.00 GiB"));
    assert!(text.contains(
        "starting 1.00 s, reading, checking and writing the rows 2.00 s, the whole-archive checks,\n  \
         the switch to WAL, the sync and the rename 0.500 s. The database grows to 2.00 GiB, written once."
    ), "{text}");
    assert!(
        text.contains("p99 of each\n    second in ms: 3 4\n"),
        "{text}"
    );
    assert!(!text.contains("| B2 |"));
    assert!(!text.contains("page cache"), "{text}");
}

#[test]
fn the_report_sets_the_restore_against_sqlites_own_floor_counting_each_sync() {
    let args = args(vec![Workload::B1]);
    // Each timing's fsync took 0.5 s.
    let timings = [
        timing(Step::SqliteRestore, Side::Congvu, 0, 6.5),
        timing(Step::SqliteRestore, Side::Reference, 0, 3.5),
        timing(Step::SqliteFloor, Side::Reference, 0, 5.5),
        timing(Step::SqliteRestore, Side::Reference, 1, 2.5),
        timing(Step::SqliteRestore, Side::Congvu, 1, 5.5),
        timing(Step::SqliteFloor, Side::Reference, 1, 4.5),
    ];
    let render = |timings: &[Timing]| render_b1(&args, &Observed::default(), timings);
    let text = render(&timings);
    // The floor is a reference, not a row with a target of its own.
    assert!(!text.contains("| SQLite writing"), "{text}");
    // Floors 5.5 and 4.5 s against zstd 3.5 and 2.5 s unsynced: 1.57x and 1.80x.
    assert!(
        text.contains("took 5.00 s [4.50 s–5.50 s] (1.69× (1.57×, 1.80×) of"),
        "{text}"
    );
    assert!(
        text.contains("and 5.50 s [5.00 s–6.00 s] with the fsync after it"),
        "{text}"
    );
    // Restores 7.0 and 6.0 s synced against floors 6.0 and 5.0 s, and zstd's 4.0 and 3.0 s.
    assert!(
        text.contains("took 1.18× (1.17×, 1.20×) of the\n  latter"),
        "{text}"
    );
    assert!(
        text.contains("and 1.88× (1.75×, 2.00×) of `zstd -d`'s time with"),
        "{text}"
    );
    assert!(!render(&timings[..2]).contains("costs SQLite itself"));
}

#[test]
fn the_floor_copies_every_table_into_the_seeded_schema_unjournaled() {
    let schema = "CREATE TABLE officials (id INTEGER PRIMARY KEY, login TEXT);\n\
                  CREATE TABLE sqlite_sequence(name,seq);\n\
                  CREATE INDEX officials_login ON officials (login);\n";
    let tables = ["officials".to_string(), "agencies".to_string()];
    let script = floor_script(schema, Path::new("/seed/congvu.db"), &tables);
    assert!(script.starts_with("PRAGMA journal_mode = OFF;\nPRAGMA synchronous = OFF;\n"));
    assert!(script.contains("PRAGMA foreign_keys = OFF;"));
    assert!(!script.contains("sqlite_sequence"), "{script}");
    assert!(script.contains("CREATE INDEX officials_login ON officials (login);\n"));
    assert!(
        script.ends_with(
            "ATTACH '/seed/congvu.db' AS seed;\nBEGIN;\n\
         INSERT INTO main.officials SELECT * FROM seed.officials;\n\
         INSERT INTO main.agencies SELECT * FROM seed.agencies;\nCOMMIT;\n"
        ),
        "{script}"
    );
}

#[test]
fn the_report_says_whether_every_step_started_with_the_page_cache_emptied() {
    let args = args(vec![Workload::B1]);
    let timings = [
        timing(Step::SqliteRestore, Side::Congvu, 0, 3.0),
        timing(Step::SqliteRestore, Side::Reference, 0, 2.0),
    ];
    let render = |settled, unsettled| {
        let observed = Observed {
            settled,
            unsettled,
            ..Observed::default()
        };
        render_b1(&args, &observed, &timings)
    };
    let every = render(4, 0);
    assert!(
        every.contains("written to /proc/sys/vm/drop_caches"),
        "{every}"
    );
    let some = render(3, 1);
    assert!(
        some.contains("could not be emptied before 1 of 4 timed steps"),
        "{some}"
    );
    assert!(!some.contains("drop_caches), so"), "{some}");
}

#[test]
fn the_section_follows_the_portal_section_and_is_replaced_in_place() {
    let document =
        "# t\n\n<!-- portal:begin -->\nP\n<!-- portal:end -->\n\n## P1/P2: import\n\nrows\n";
    let (begin, end) = (MARKERS.begin, MARKERS.end);
    let first = place_section(document, MARKERS, &format!("{begin}\nold\n{end}\n"));
    assert_eq!(
        first,
        format!("# t\n\n<!-- portal:begin -->\nP\n<!-- portal:end -->\n\n{begin}\nold\n{end}\n\n## P1/P2: import\n\nrows\n")
    );
    let second = place_section(&first, MARKERS, &format!("{begin}\nnew\n{end}\n"));
    assert_eq!(second, first.replace("old", "new"));
}

#[test]
fn the_timeline_gives_each_second_its_p99() {
    let t0 = Instant::now();
    let sent = sends(
        t0,
        &[
            (200, Ok(5)),
            (1_500, Ok(9)),
            (1_600, Ok(7)),
            (1_700, Err("refused")),
            (3_100, Ok(2)),
        ],
    );
    assert_eq!(timeline(&sent, t0), "5 9 - 2");
}

#[test]
fn a_restore_is_split_by_its_files_growth() {
    const MIB: u64 = 1 << 20;
    // The migrations write a little, the rows grow the file, the end leaves it still (and
    // the renamed file is sampled under its own name, the same size).
    let samples = [
        (0.1, 0),
        (0.2, 100_000),
        (0.5, 100_000),
        (0.6, 2 * MIB),
        (3.0, 900 * MIB),
        (4.0, 1000 * MIB),
        (4.5, 1000 * MIB),
    ];
    let phases = RestorePhases::of(&samples, 4.75).expect("phases");
    assert_eq!(
        phases,
        RestorePhases {
            start: 0.6,
            rows: 4.0 - 0.6,
            finish: 4.75 - 4.0,
            file_bytes: 1000 * MIB,
        }
    );
    assert_eq!(RestorePhases::of(&samples[..3], 0.5), None);
}
