use std::path::Path;

use congvu_tests::dovecot::{Flag, MASTER_PASSWORD, MASTER_USER};

use super::*;
use crate::admin::Official;
use crate::report::place_section;

fn args(workloads: Vec<Workload>) -> MigrateArgs {
    MigrateArgs {
        messages: 10,
        accounts: 3,
        per_account: 4,
        concurrency: 2,
        runs: 2,
        workloads,
        admin: PathBuf::new(),
        doveadm: PathBuf::new(),
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

fn figure(workload: Workload, puller: Puller, secs: f64, failed: bool) -> Figure {
    Figure {
        workload,
        puller,
        elapsed: Duration::from_secs_f64(secs),
        failure: failed.then(|| "broken".to_string()),
    }
}

#[test]
fn every_run_pulls_into_logins_of_its_own() {
    let plan = Plan::new(&args(vec![Workload::G1, Workload::G2]));
    assert_eq!(plan.source_logins(Workload::G1), ["nguon-g1"]);
    assert_eq!(
        plan.source_logins(Workload::G2),
        ["nguon-g2-0000", "nguon-g2-0001", "nguon-g2-0002"]
    );
    assert_eq!(
        plan.target_logins(Workload::G2, 1),
        ["dich-g2-r1-0000", "dich-g2-r1-0001", "dich-g2-r1-0002"]
    );
    let mut targets = plan.targets();
    assert_eq!(targets.len(), 2 * (1 + 3));
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), 8, "no target login is used twice");
    assert_eq!(plan.sources().len(), 4);
}

#[test]
fn the_accounts_file_pairs_officials_with_old_mailboxes_without_passwords() {
    let officials = ["an", "binh"].map(|login| Official {
        login: login.into(),
        address: format!("{login}@vinhphuc.gov.vn"),
    });
    let sources = ["nguon-g2-0000".to_string(), "nguon-g2-0001".into()];
    assert_eq!(
        accounts_csv(&officials, &sources),
        "address,source_user\nan@vinhphuc.gov.vn,nguon-g2-0000\nbinh@vinhphuc.gov.vn,nguon-g2-0001\n"
    );
}

#[test]
fn both_pullers_sign_in_as_the_master_user_over_implicit_tls() {
    let migrate = migrate_arguments(
        "imaps://127.0.0.1:9993",
        Path::new("/w/tls/ca.pem"),
        Path::new("/w/master-password"),
        Path::new("/w/accounts.csv"),
        8,
    );
    assert_eq!(
        migrate.join(" "),
        format!(
            "migrate imap --source imaps://127.0.0.1:9993 --ca-file /w/tls/ca.pem \
             --accounts /w/accounts.csv --master-user {MASTER_USER} \
             --master-password-file /w/master-password --master-style authzid \
             --concurrency 8 --json"
        )
    );
    let config = imapc_config(9993, Path::new("/w/tls/ca.pem"));
    for line in [
        "imapc_host = 127.0.0.1".to_string(),
        "imapc_port = 9993".into(),
        "imapc_ssl = imaps".into(),
        "ssl_client_ca_file = /w/tls/ca.pem".into(),
        format!("imapc_master_user = {MASTER_USER}"),
        format!("imapc_password = {MASTER_PASSWORD}"),
    ] {
        assert!(config.lines().any(|l| l == line), "{line:?} in\n{config}");
    }
    assert_eq!(
        doveadm_arguments(Path::new("/d/dovecot.conf"), "nguon-g1", "dich-g1-r0-0000"),
        [
            "-c",
            "/d/dovecot.conf",
            "-o",
            "imapc_user=nguon-g1",
            "backup",
            "-R",
            "-u",
            "dich-g1-r0-0000",
            "imapc:"
        ]
    );
}

#[test]
fn a_run_counts_only_when_every_message_of_every_account_arrived() {
    let summary = |accounts: u64, failed: u64, copied: u64| {
        serde_json::json!({"totals": {"accounts": accounts, "failed_accounts": failed,
            "copied": copied}})
        .to_string()
    };
    assert!(check_summary(&summary(3, 0, 12), 3, 12).is_ok());
    assert!(check_summary(&summary(3, 1, 12), 3, 12).is_err());
    assert!(check_summary(&summary(3, 0, 11), 3, 12).is_err());
    assert!(check_summary(&summary(2, 0, 12), 3, 12).is_err());
    assert!(check_summary("migrated", 3, 12).is_err());
}

#[test]
fn seven_in_ten_messages_are_read_and_one_in_ten_flagged() {
    let seen = (0..100).filter(|&i| flags(i).contains(&Flag::Seen)).count();
    let flagged = (0..100)
        .filter(|&i| flags(i).contains(&Flag::Flagged))
        .count();
    assert_eq!((seen, flagged), (70, 10));
}

#[test]
fn g1_is_met_at_half_of_doveadms_time_and_failures_void_a_row() {
    let args = args(vec![Workload::G1, Workload::G2]);
    let machine = machine();
    let mailboxes = Mailboxes {
        g1: (10, 100_000),
        g2: (12, 120_000),
    };
    let figures = [
        figure(Workload::G1, Puller::Congvu, 4.0, false),
        figure(Workload::G1, Puller::Congvu, 6.0, false),
        figure(Workload::G1, Puller::Doveadm, 10.0, false),
        figure(Workload::G1, Puller::Doveadm, 12.0, false),
        figure(Workload::G2, Puller::Congvu, 3.0, false),
        figure(Workload::G2, Puller::Doveadm, 2.0, true),
    ];
    let report = Report {
        args: &args,
        machine: &machine,
        mailboxes: &mailboxes,
        figures: &figures,
    };
    assert_eq!(
        report.row(Workload::G1),
        "| G1 | one mailbox of 10 messages: wall time | 5.00 s [4.00 s–6.00 s] | \
         11.0 s [10.0 s–12.0 s] | 0.45× | ≤ 0.5× | met |\n"
    );
    assert_eq!(
        report.row(Workload::G2),
        "| G2 | 3 accounts, 12 messages, 2 at once: wall time | 3.00 s | — | — | — | \
         invalid: 1 failures |\n"
    );
    let slower = [
        figure(Workload::G1, Puller::Congvu, 6.0, false),
        figure(Workload::G1, Puller::Doveadm, 10.0, false),
    ];
    let report = Report {
        figures: &slower,
        ..report
    };
    assert!(report
        .row(Workload::G1)
        .ends_with("| 0.60× | ≤ 0.5× | NOT met |\n"));
    let section = report.render();
    assert!(section.starts_with("<!-- migrate:begin -->\n## G1, G2: migrating mailboxes"));
    assert!(section.ends_with("<!-- migrate:end -->\n"));
    assert!(section.contains("- G2: 3 accounts × 4 messages (12 in all, 0.1 MiB)"));
}

#[test]
fn the_section_goes_after_the_imap_section_and_is_replaced_in_place() {
    const SECTION: &str = "<!-- migrate:begin -->\n## G1\n\n| a |\n<!-- migrate:end -->\n";
    let document = "# title\n\n<!-- imap:begin -->\n## I1\n<!-- imap:end -->\n\n\
                    <!-- portal:begin -->\n## W1\n<!-- portal:end -->\n";
    let placed = place_section(document, MARKERS, SECTION);
    assert_eq!(
        placed,
        "# title\n\n<!-- imap:begin -->\n## I1\n<!-- imap:end -->\n\n\
         <!-- migrate:begin -->\n## G1\n\n| a |\n<!-- migrate:end -->\n\n\
         <!-- portal:begin -->\n## W1\n<!-- portal:end -->\n"
    );
    let again = place_section(&placed, MARKERS, &SECTION.replace("| a |", "| b |"));
    assert_eq!(again, placed.replace("| a |", "| b |"));
}
