//! The crash soak, short: the real server killed with SIGKILL a few dozen times under mixed
//! load (MX DATA and BDAT, submission to local and remote recipients, IMAP APPEND and MOVE),
//! and after every kill the database checked against what each client saw acknowledged (see
//! `congvu_tests::soak`). `bench/soak.sh` runs the same engine with 1,000 kills.
//!
//! The seed is random and printed with the report; `CONGVU_SOAK_SEED=N` replays a run's load.

use std::time::Duration;

use congvu_tests::db::postgres_base_url;
use congvu_tests::soak::{self, SoakDatabase, SoakOptions, SoakReport};
use congvu_tests::Backend;

use crate::backend_tests;
use crate::binary::server_binary;

backend_tests!(acknowledged_mail_survives_repeated_sigkill_under_mixed_load);

/// The seed from `CONGVU_SOAK_SEED`, or a new one.
fn seed() -> u64 {
    std::env::var("CONGVU_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

async fn acknowledged_mail_survives_repeated_sigkill_under_mixed_load(backend: Backend) {
    let (database, kills) = match backend {
        Backend::Sqlite => (SoakDatabase::Sqlite, 24),
        Backend::Postgres => (
            SoakDatabase::Postgres {
                url: postgres_base_url(),
            },
            12,
        ),
    };
    let mut options = SoakOptions::new(server_binary(), database);
    options.kills = kills;
    options.seed = seed();
    // Short rounds keep the test near half a minute; the bench uses the full 50–1500 ms.
    options.kill_after = (Duration::from_millis(50), Duration::from_millis(900));
    options.drain = Duration::from_secs(20);
    let report = soak::run(options).await.unwrap();
    eprintln!("{report}");
    assert_clean(&report, kills);
}

fn assert_clean(report: &SoakReport, kills: usize) {
    assert_eq!(report.kills, kills, "{report}");
    let acknowledged = report.acknowledged;
    for (kind, n) in [
        ("MX DATA", acknowledged.mx_data),
        ("MX BDAT", acknowledged.mx_bdat),
        ("submission", acknowledged.submission),
        ("IMAP APPEND", acknowledged.append),
        ("IMAP MOVE", acknowledged.moves),
    ] {
        assert!(n > 0, "no {kind} acknowledged:\n{report}");
    }
    assert_eq!(report.lost, 0, "{report}");
    assert_eq!(report.duplicated, 0, "{report}");
    assert_eq!(report.half_present, 0, "{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert!(report.expected > 0, "{report}");
    assert_eq!(report.found, report.expected, "{report}");
    assert!(
        report.relayed > 0,
        "nothing reached the smart host:\n{report}"
    );
}
