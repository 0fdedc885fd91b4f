use super::cluster::database_url;
use super::submission::auth_plain;
use super::*;
use crate::machine::Machine;
use crate::report::place_section;

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_sink_counts_missing_duplicate_and_unexpected_messages() {
    let expected = ids(&["a@x", "b@x", "c@x", "d@x"]);
    let received = ids(&["b@x", "a@x", "b@x", "b@x", "zz@x", "c@x"]);
    let once = Once::account(&expected, &received);
    assert_eq!(
        once,
        Once {
            delivered: 3,
            missing: 1,
            duplicates: 2,
            unexpected: 1,
        }
    );
    assert!(!once.is_exact());
    let exact = Once::account(&expected, &ids(&["d@x", "c@x", "b@x", "a@x"]));
    assert_eq!(exact.delivered, 4);
    assert!(exact.is_exact());
    assert!(!Once::account(&expected, &ids(&["a@x", "b@x", "c@x", "d@x", "a@x"])).is_exact());
    assert!(!Once::account(&ids(&["a@x"]), &ids(&["a@x", "other@x"])).is_exact());
}

#[test]
fn message_ids_come_from_the_header_whatever_the_case_or_folding() {
    assert_eq!(
        message_id(b"From: <a@b>\r\nMessage-Id: <n1.0.7@bench.example.org>\r\n\r\nbody\r\n"),
        Some("n1.0.7@bench.example.org".to_string())
    );
    assert_eq!(
        message_id(b"Received: from x\r\nMESSAGE-ID:\r\n <folded@x>\r\nTo: <c@d>\r\n\r\n"),
        Some("folded@x".to_string())
    );
    // A Message-ID line in the body is not the message's.
    assert_eq!(
        message_id(b"From: <a@b>\r\n\r\nMessage-ID: <in-body@x>\r\n"),
        None
    );
    assert_eq!(message_id(b""), None);
}

#[test]
fn the_queue_check_finds_the_ids_it_submitted_in_what_it_sends() {
    let id = "n1.2.499@bench.example.org";
    let message = outbound("annv@vinhphuc.gov.vn", "vanthu3@tinh2.gov.vn", id, 499);
    assert_eq!(message_id(&message), Some(id.to_string()));
    let text = String::from_utf8(message).expect("ASCII");
    assert!(text.ends_with("\r\n"));
    assert!(text.split("\r\n").all(|line| !line.starts_with('.')));
}

#[test]
fn auth_plain_is_base64_of_the_nul_separated_login_and_password() {
    // RFC 4616 §4's example without an authorization identity.
    assert_eq!(
        auth_plain("tim", "tanstaaftanstaaf").as_deref(),
        Ok("AHRpbQB0YW5zdGFhZnRhbnN0YWFm")
    );
}

#[test]
fn a_run_database_replaces_only_the_database_of_the_url() {
    let name = "congvu_n1_42_0";
    assert_eq!(
        database_url("postgres://postgres@127.0.0.1:5432/test", name).ok(),
        Some("postgres://postgres@127.0.0.1:5432/congvu_n1_42_0".to_string())
    );
    assert_eq!(
        database_url("postgresql://u:p@db:5432/test?sslmode=disable", name).ok(),
        Some("postgresql://u:p@db:5432/congvu_n1_42_0?sslmode=disable".to_string())
    );
    assert_eq!(
        database_url("postgres://postgres@127.0.0.1", name).ok(),
        Some("postgres://postgres@127.0.0.1/congvu_n1_42_0".to_string())
    );
    assert!(database_url("127.0.0.1:5432", name).is_err());
}

#[test]
fn nodes_take_cores_zero_and_one_and_the_client_the_rest() {
    let two = Placement::for_cores(2);
    assert_eq!(two.nodes, [Some("0".to_string()), Some("1".to_string())]);
    assert!(two.client.is_none());
    assert_eq!(
        Placement::for_cores(3).client.map(|p| p.client).as_deref(),
        Some("2")
    );
    assert_eq!(
        Placement::for_cores(8).client.map(|p| p.client).as_deref(),
        Some("2-7")
    );
    assert_eq!(Placement::for_cores(1).nodes, [None, None]);
}

#[test]
fn the_placement_note_says_when_the_machine_falls_short() {
    let two = placement_note(&Placement::for_cores(2));
    assert!(
        two.contains("**This machine has 2 cores, fewer than N1 asks for"),
        "{two}"
    );
    assert!(two.contains("does not allow the pinning"));
    assert!(two.contains("Node A ran pinned to core 0 and node B to core 1"));
    assert!(two.contains("the client shared those two cores"));
    let eight = placement_note(&Placement::for_cores(8));
    assert!(!eight.contains("fewer than"), "{eight}");
    assert!(eight.contains("the client ran on cores 2-7"));
    assert!(placement_note(&Placement::for_cores(1)).contains("could not be pinned"));
}

#[test]
fn the_target_is_met_only_when_every_run_clears_it() {
    assert_eq!(met_in_every_run(&[], TARGET), None);
    assert_eq!(met_in_every_run(&[1.8, 1.7, 2.0], TARGET), Some(true));
    assert_eq!(met_in_every_run(&[1.8, 1.69, 2.0], TARGET), Some(false));
    assert_eq!(met_in_every_run(&[f64::NAN], TARGET), Some(false));
}

/// A phase of `seconds` with these counts per node and cores busy.
fn phase(seconds: u64, smtp: &[usize], fetch: &[usize]) -> Phase {
    let tally = |per_node: &[usize]| Tally {
        per_node: per_node.to_vec(),
        ..Tally::default()
    };
    Phase {
        nodes: smtp.len(),
        window: Duration::from_secs(seconds),
        smtp: tally(smtp),
        fetch: tally(fetch),
        busy: Busy {
            nodes: vec![0.95; smtp.len()],
            postgres: 0.4,
            client: 0.3,
        },
    }
}

/// A run whose two nodes do `smtp` and `fetch` times the one node's 1,000 messages and
/// 4,000 fetches in 10 s, with the checks as given.
fn run_with(smtp: f64, fetch: f64, queue: Once, idle_missing: usize) -> RunFigures {
    let half = |total: f64| (total / 2.0) as usize;
    let wakes = IDLE_MESSAGES - idle_missing;
    RunFigures {
        one: phase(10, &[1000], &[4000]),
        two: phase(
            10,
            &[half(1000.0 * smtp), half(1000.0 * smtp)],
            &[half(4000.0 * fetch), half(4000.0 * fetch)],
        ),
        queue: QueueOnce {
            accepted: QUEUE_MESSAGES,
            refused: 0,
            first_refusal: None,
            once: queue,
            waited: Duration::from_millis(1200),
        },
        idle: IdleWakes {
            delivered: IDLE_MESSAGES,
            wakes: (1..=wakes as u64).map(Duration::from_millis).collect(),
            missing: idle_missing,
            failure: None,
        },
    }
}

fn exact() -> Once {
    Once {
        delivered: QUEUE_MESSAGES,
        ..Once::default()
    }
}

#[test]
fn ratios_are_two_nodes_over_one_and_combined_is_their_mean() {
    let run = run_with(1.6, 2.0, exact(), 0);
    assert!((run.smtp_ratio() - 1.6).abs() < 1e-9);
    assert!((run.fetch_ratio() - 2.0).abs() < 1e-9);
    assert!((run.combined_ratio() - 1.8).abs() < 1e-9);
    assert_eq!(run.two.smtp.total(), 1600);
}

fn args() -> NodesArgs {
    NodesArgs {
        postgres: "postgres://postgres@127.0.0.1:5432/test".into(),
        officials: 2000,
        seconds: 10,
        runs: 2,
        smtp_sessions: 16,
        imap_sessions: 8,
        congvu: crate::server::Binaries {
            server: "congvu-server".into(),
            admin: "congvu-admin".into(),
        },
        work_dir: None,
        report: "PERFORMANCE.md".into(),
    }
}

fn render(runs: &[RunFigures], cores: usize) -> String {
    let machine = Machine {
        cores,
        cpu: "Test CPU".into(),
        load: "0.10".into(),
        ticks: 100.0,
    };
    let args = args();
    let placement = Placement::for_cores(cores);
    Report {
        args: &args,
        machine: &machine,
        placement: &placement,
        postgres_version: "15.20",
        runs,
    }
    .render()
}

#[test]
fn the_report_holds_every_row_with_ranges_ratios_and_verdicts() {
    let runs = [
        run_with(1.6, 2.0, exact(), 0),
        run_with(1.8, 1.8, exact(), 0),
    ];
    let text = render(&runs, 2);
    assert!(text.starts_with("<!-- nodes:begin -->\n## N1: two congvu nodes on one PostgreSQL\n"));
    assert!(text.ends_with("<!-- nodes:end -->\n"));
    assert!(text.contains("| id | what | two nodes | one node | ratio | target | met? |\n"));
    assert!(
        text.contains(
            "| N1 | SMTP intake: messages/s answered 250, 16 sessions round-robin over the nodes \
         | 170/s [160/s–180/s] | 100/s | 1.70× [1.60×–1.80×] | — | — |\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "| N1 | IMAP `FETCH n BODY.PEEK[]`/s, 8 sessions spread over the nodes \
         | 760/s [720/s–800/s] | 400/s | 1.90× [1.80×–2.00×] | — | — |\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "| N1 | combined: mean of the SMTP and FETCH ratios | — | — | 1.80× | \
         ≥ 1.7× in every run | met |\n"
        ),
        "{text}"
    );
    assert!(text.contains("| N1 | server CPU per node, cores busy | A 0.95 + B 0.95 | A 0.95 |"));
    assert!(
        text.contains(
            "| N1 | queue: 500 messages to other domains submitted through both nodes, delivered \
         to the sink | 1000 of 1000 acknowledged arrived; 0 missing, 0 duplicate copies | — | — \
         | each exactly once | met |\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("| p50 25.00 ms, slowest 50.00 ms | — | — | every wake, within 10 s | met |"),
        "{text}"
    );
    assert!(text.contains(SQLITE_NOTE));
    assert!(text.contains("**This machine has 2 cores, fewer than N1 asks for"));
    assert!(text.contains("- Run 2: one node: SMTP 100/s, FETCH 400/s; cores busy: node A 0.95"));
}

#[test]
fn a_run_below_the_target_or_a_failed_check_shows_as_not_met() {
    let duplicated = Once {
        delivered: QUEUE_MESSAGES,
        duplicates: 3,
        ..Once::default()
    };
    let runs = [
        run_with(2.0, 2.0, exact(), 0),
        run_with(1.5, 1.8, duplicated, 2),
    ];
    let text = render(&runs, 2);
    assert!(text.contains("≥ 1.7× in every run | NOT met |"), "{text}");
    assert!(
        text.contains(
            "1000 of 1000 acknowledged arrived; 0 missing, 3 duplicate copies | — | — \
         | each exactly once | NOT met |"
        ),
        "{text}"
    );
    assert!(
        text.contains(", 2 missing | — | — | every wake, within 10 s | NOT met |"),
        "{text}"
    );
}

#[test]
fn failed_load_makes_the_throughput_rows_invalid() {
    let mut run = run_with(1.8, 1.8, exact(), 0);
    run.two
        .smtp
        .fail("node B: end of DATA → 451 4.3.0 Try again".into());
    let text = render(&[run], 2);
    assert!(text.contains("| — | invalid: 1 failures |\n"), "{text}");
    assert!(text.contains("- Run 1 two nodes, SMTP: node B: end of DATA → 451 4.3.0 Try again\n"));
}

#[test]
fn the_section_goes_after_the_backup_section() {
    let document = "# t\n\n<!-- backup:begin -->\n## B1\n<!-- backup:end -->\n\n## P1/P2: import\n";
    let placed = place_section(
        document,
        MARKERS,
        "<!-- nodes:begin -->\nN1\n<!-- nodes:end -->\n",
    );
    assert_eq!(
        placed,
        "# t\n\n<!-- backup:begin -->\n## B1\n<!-- backup:end -->\n\n\
         <!-- nodes:begin -->\nN1\n<!-- nodes:end -->\n\n## P1/P2: import\n"
    );
}

#[test]
fn a_fetch_answer_counts_only_with_the_message_as_a_literal() {
    assert!(has_body(b"* 7 FETCH (BODY[] {2310}\r\nFrom: ...)\r\n"));
    assert!(!has_body(b"* 7 FETCH (FLAGS (\\Seen))\r\n"));
}

#[test]
fn failed_checks_are_named_so_the_run_can_fail() {
    assert_eq!(
        broken_promises(&[run_with(1.8, 1.8, exact(), 0)]),
        Vec::<String>::new()
    );
    let lost = Once {
        delivered: QUEUE_MESSAGES - 1,
        missing: 1,
        ..Once::default()
    };
    let mut idle_broken = run_with(1.8, 1.8, exact(), 0);
    idle_broken.idle.failure = Some("node B: read: connection reset".into());
    let runs = [
        run_with(1.8, 1.8, lost, 0),
        run_with(1.8, 1.8, exact(), 1),
        idle_broken,
    ];
    assert_eq!(
        broken_promises(&runs),
        [
            "run 1: queue: 499 of 500 acknowledged arrived, 1 missing, 0 duplicate copies, \
             0 unexpected, 0 refused at submission",
            "run 2: IDLE across nodes: 50 of 50 messages acknowledged, 49 woke node B, \
             1 missing after 10 s",
            "run 3: IDLE across nodes: 50 of 50 messages acknowledged, 50 woke node B, \
             0 missing after 10 s; node B: read: connection reset",
        ]
    );
}
