use super::*;
use congvu::directory::{Argon2Cost, PasswordHasher};

use crate::admin::Official;
use crate::report::place_section;
use crate::server::{Binaries, Certificate, DOMAIN};

use super::text_search::fts::FTS_PLUGIN_SETTINGS;

/// A FETCH response with a literal holding CRLFs and a line that itself ends in `{3}`,
/// followed by the tagged completion.
const FETCH_WITH_LITERAL: &[u8] =
    b"* 7 FETCH (UID 7 BODY[] {22}\r\nSubject: a {3}\r\n\r\nhi\r\n)\r\nb4 OK FETCH done\r\n";
const FIRST_RESPONSE_LEN: usize = 55;

#[test]
fn a_response_ends_after_its_literals_whatever_the_split() {
    assert_eq!(
        &FETCH_WITH_LITERAL[FIRST_RESPONSE_LEN - 3..FIRST_RESPONSE_LEN],
        b")\r\n"
    );
    for cut in 0..FETCH_WITH_LITERAL.len() {
        let part = &FETCH_WITH_LITERAL[..cut];
        let expected = (cut >= FIRST_RESPONSE_LEN).then_some(FIRST_RESPONSE_LEN);
        assert_eq!(response_end(part), expected, "cut at {cut}");
    }
    let rest = &FETCH_WITH_LITERAL[FIRST_RESPONSE_LEN..];
    assert_eq!(response_end(rest), Some(rest.len()));
}

#[test]
fn a_literal_is_announced_only_by_digits_in_braces_at_the_line_end() {
    assert_eq!(literal_size(b"* 1 FETCH (BODY[] {4711}"), Some(4711));
    assert_eq!(literal_size(b"{0}"), Some(0));
    assert_eq!(literal_size(b"* OK {x}"), None);
    assert_eq!(literal_size(b"* OK {}"), None);
    assert_eq!(literal_size(b"* OK {12} done"), None);
    assert_eq!(literal_size(b"* OK done"), None);
}

#[test]
fn an_empty_literal_ends_a_response_at_the_next_line_end() {
    let response = b"* 1 FETCH (BODY[] {0}\r\n)\r\n";
    for cut in 0..response.len() {
        assert_eq!(response_end(&response[..cut]), None, "cut at {cut}");
    }
    assert_eq!(response_end(response), Some(response.len()));
}

#[test]
fn untagged_numbers_and_fetch_items_are_read() {
    assert_eq!(
        untagged_number(b"* 10000 EXISTS\r\n", b"EXISTS"),
        Some(10_000)
    );
    assert_eq!(
        untagged_number(b"* 3 FETCH (FLAGS ())\r\n", b"FETCH"),
        Some(3)
    );
    assert_eq!(untagged_number(b"* 3 RECENT\r\n", b"EXISTS"), None);
    assert_eq!(
        untagged_number(b"* OK [UIDVALIDITY 9] x\r\n", b"EXISTS"),
        None
    );
    assert_eq!(untagged_number(b"b1 OK\r\n", b"EXISTS"), None);
    let fetch = b"* 3 FETCH (UID 3 RFC822.SIZE 20480 FLAGS (\\Seen))\r\n";
    assert_eq!(number_after(fetch, b"RFC822.SIZE "), Some(20_480));
    assert_eq!(number_after(fetch, b"UID "), Some(3));
    assert_eq!(number_after(fetch, b"MODSEQ "), None);
}

#[test]
fn search_responses_give_their_numbers_or_say_what_is_wrong() {
    assert_eq!(search_numbers(b"* SEARCH\r\n"), Some(Ok(vec![])));
    assert_eq!(
        search_numbers(b"* SEARCH 2 10 7\r\n"),
        Some(Ok(vec![2, 10, 7]))
    );
    assert_eq!(search_numbers(b"* SEARCH 4  5 \r\n"), Some(Ok(vec![4, 5])));
    assert_eq!(
        search_numbers(b"* SEARCH 1 (MODSEQ 9)\r\n"),
        Some(Err("`(MODSEQ` in a SEARCH response".to_string()))
    );
    assert_eq!(
        search_numbers(b"* SEARCH 1 -2\r\n"),
        Some(Err("`-2` in a SEARCH response".to_string()))
    );
    assert_eq!(
        search_numbers(b"* SEARCH 4294967296\r\n"),
        Some(Err("`4294967296` in a SEARCH response".to_string()))
    );
    assert_eq!(search_numbers(b"* SEARCHRES 1\r\n"), None);
    assert_eq!(search_numbers(b"* 3 EXISTS\r\n"), None);
    assert_eq!(search_numbers(b"b3 OK SEARCH done\r\n"), None);
}

#[test]
fn a_search_response_of_fifty_thousand_numbers_is_one_response() {
    let numbers: Vec<u32> = (1..=50_000).collect();
    let mut stream = b"* SEARCH".to_vec();
    for n in &numbers {
        stream.extend_from_slice(format!(" {n}").as_bytes());
    }
    stream.extend_from_slice(b"\r\n");
    let line = stream.len();
    stream.extend_from_slice(b"b9 OK SEARCH completed\r\n");
    assert_eq!(response_end(&stream[..line - 1]), None);
    assert_eq!(response_end(&stream), Some(line));
    assert_eq!(search_numbers(&stream[..line]), Some(Ok(numbers)));
}

#[test]
fn a_process_tree_holds_the_root_and_all_its_descendants_only() {
    let parents = [
        (1, 0),
        (10, 1),
        (11, 10),
        (12, 10),
        (13, 11),
        (20, 1),
        (21, 20),
    ];
    let mut tree = descendants(10, &parents);
    tree.sort_unstable();
    assert_eq!(tree, vec![10, 11, 12, 13]);
    assert_eq!(descendants(99, &parents), vec![99]);
}

#[test]
fn proc_memory_fields_are_read_in_kib() {
    let status = "Name:\tdovecot\nVmHWM:\t    9000 kB\nVmRSS:\t    4321 kB\nThreads:\t1\n";
    assert_eq!(kib_field(status, "VmRSS:"), Some(4321));
    let rollup =
        "00400000-7fff [rollup]\nRss:                5000 kB\nPss:                1234 kB\n";
    assert_eq!(kib_field(rollup, "Pss:"), Some(1234));
    assert_eq!(kib_field(rollup, "Swap:"), None);
}

#[test]
fn the_mailbox_mixes_shapes_in_every_twenty_messages() {
    let shapes: Vec<Shape> = (0..20).map(Shape::of).collect();
    let count = |s: Shape| shapes.iter().filter(|&&x| x == s).count();
    assert_eq!(count(Shape::Attachment), 1);
    assert_eq!(count(Shape::Alternative), 2);
    assert_eq!(count(Shape::English), 5);
    assert_eq!(count(Shape::VietnameseEightBit), 6);
    assert_eq!(count(Shape::VietnameseEncoded), 6);
}

#[test]
fn messages_are_in_size_and_well_formed_for_append() {
    let to = "an.nguyen@vinhphuc.gov.vn";
    for i in 0..60 {
        let message = corpus_message(i, to).expect("message");
        assert!(
            MESSAGE_BYTES.contains(&message.len()),
            "message {i} has {} bytes",
            message.len()
        );
        // Every line ends in CRLF and fits RFC 5322's 998 characters.
        let mut line = 0;
        for (at, &b) in message.iter().enumerate() {
            match b {
                b'\n' => {
                    assert!(at > 0 && message[at - 1] == b'\r', "bare LF in message {i}");
                    line = 0;
                }
                b'\r' => assert_eq!(message.get(at + 1), Some(&b'\n'), "bare CR in message {i}"),
                _ => {
                    line += 1;
                    assert!(line <= 998, "long line in message {i}");
                }
            }
        }
        let text = String::from_utf8_lossy(&message);
        assert!(text.contains(&format!("Message-ID: <{i}.")), "message {i}");
        match Shape::of(i) {
            Shape::Attachment => {
                assert!(text.contains("multipart/mixed"), "message {i}");
                assert!(
                    text.contains("Content-Disposition: attachment"),
                    "message {i}"
                );
            }
            Shape::Alternative => {
                assert!(text.contains("multipart/alternative"), "message {i}");
                assert!(text.contains("text/html"), "message {i}");
            }
            Shape::VietnameseEightBit => {
                assert!(
                    text.contains("Content-Transfer-Encoding: 8bit"),
                    "message {i}"
                );
                assert!(text.contains("Kính gửi đồng chí"), "message {i}");
            }
            Shape::VietnameseEncoded | Shape::English => {
                assert!(text.contains("Content-Type: text/plain"), "message {i}");
            }
        }
    }
}

#[test]
fn mbsync_pulls_inbox_over_implicit_tls_with_the_run_certificate() {
    let config = mbsync_config(
        loopback(2993),
        "an.nguyen",
        Path::new("/w/tls/cert.pem"),
        Path::new("/w/mail"),
    );
    for line in [
        "Host 127.0.0.1",
        "Port 2993",
        "User an.nguyen",
        "Pass Bench-an.nguyen-2026",
        "SSLType IMAPS",
        "CertificateFile /w/tls/cert.pem",
        "Inbox /w/mail/INBOX",
        "Far :far:INBOX",
        "Near :near:INBOX",
        "Sync Pull",
        "FSync no",
    ] {
        assert!(
            config.lines().any(|l| l == line),
            "missing {line:?} in\n{config}"
        );
    }
}

#[test]
fn dovecot_users_get_the_chosen_passwords_hash_or_the_initial_one() {
    let officials = three_officials();
    let file = passwd_file(&officials, 1, None).expect("passwd-file");
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 3);
    // user:password:uid:gid:gecos:home:shell:extra fields, all but the first two empty.
    assert!(lines
        .iter()
        .all(|line| line.split(':').count() == 8 && line.ends_with("::::::")));
    let hash_of = |line: &str| line.split(':').nth(1).unwrap_or_default().to_string();
    assert!(lines[0].starts_with("an:{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(lines[1].starts_with("binh:{ARGON2ID}$argon2id$"));
    assert_ne!(hash_of(lines[0]), hash_of(lines[1]));
    assert_eq!(hash_of(lines[1]), hash_of(lines[2]));
    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let stored = congvu::directory::PasswordHash(
        hash_of(lines[0])
            .trim_start_matches("{ARGON2ID}")
            .to_string(),
    );
    assert!(hasher.verify(&chosen_password("an"), &stored));
}

#[test]
fn only_the_fts_official_loads_the_fts_plugins() {
    let officials = three_officials();
    let file = passwd_file(&officials, 2, Some("binh")).expect("passwd-file");
    let extra: Vec<&str> = file
        .lines()
        .map(|line| line.split(':').nth(7).expect("eight fields"))
        .collect();
    assert_eq!(extra, ["", "userdb_mail_plugins=fts,fts_xapian", ""]);
    assert!(file.lines().all(|line| line.split(':').count() == 8));
}

#[test]
fn dovecot_conf_gains_fts_xapians_settings_and_nothing_else_with_i2() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cert = Certificate::create(dir.path()).expect("certificate");
    let args = test_args(vec![Workload::I2]);
    let work = Path::new("/w");
    let plain = dovecot_conf(&args, work, &cert, 2993, false);
    let fts = dovecot_conf(&args, work, &cert, 2993, true);
    assert_eq!(fts.strip_suffix(FTS_PLUGIN_SETTINGS), Some(plain.as_str()));
    assert!(!plain.contains("fts"), "{plain}");
    let block: Vec<&str> = fts.lines().skip(plain.lines().count()).collect();
    assert_eq!(
        block,
        [
            "plugin {",
            "  fts = xapian",
            "  fts_xapian = partial=3 full=20 verbose=0",
            "  fts_enforced = yes",
            "}",
        ]
    );
    // Plugins are loaded per user, from the passwd-file, never for everyone.
    assert!(!fts
        .lines()
        .any(|l| l.trim_start().starts_with("mail_plugins")));
    for line in [
        "userdb {",
        "  driver = passwd-file",
        "  args = /w/dovecot-users",
        "  default_fields = uid=5000 gid=5000 home=/w/dovecot-mail/%u",
        "    port = 2993",
    ] {
        assert!(fts.lines().any(|l| l == line), "missing {line:?} in\n{fts}");
    }
}

#[test]
fn i2_logs_in_its_owner_and_the_fts_official() {
    let logins = |workloads| login_count(&test_args(workloads));
    assert_eq!(logins(vec![Workload::I1]), 1);
    assert_eq!(logins(vec![Workload::I3]), 2);
    assert_eq!(logins(vec![Workload::I2]), 4);
    assert_eq!(logins(vec![Workload::I2, Workload::I3]), 4);
    // test_args idles one connection: the owners still log in.
    assert_eq!(logins(vec![Workload::M1, Workload::I2]), 4);
}

/// The arguments of a run of `workloads` with small figures, for the report's tests.
pub(super) fn test_args(workloads: Vec<Workload>) -> ImapArgs {
    ImapArgs {
        officials: 10,
        messages: 10,
        runs: 1,
        sessions: 8,
        seconds: 1,
        idle: 1,
        ldap_idle: 1,
        workloads,
        servers: vec![ServerKind::Congvu, ServerKind::Dovecot],
        no_pin: false,
        congvu: Binaries {
            server: PathBuf::new(),
            admin: PathBuf::new(),
        },
        dovecot: PathBuf::new(),
        doveadm: PathBuf::new(),
        mbsync: PathBuf::new(),
        large_messages: 400_000,
        search_messages: 50_000,
        work_dir: None,
        report: PathBuf::new(),
    }
}

pub(super) fn test_machine() -> Machine {
    Machine {
        cores: 2,
        cpu: "test".into(),
        load: "0".into(),
        ticks: 100.0,
    }
}

/// A report of `args` whose rows the test computes from figures of its own.
pub(super) fn test_report<'a>(
    args: &'a ImapArgs,
    machine: &'a Machine,
    corpus: &'a Corpus,
) -> Report<'a> {
    Report {
        args,
        machine,
        pinned: true,
        corpus,
        figures: &[],
        unavailable: &[],
    }
}

#[test]
fn rates_become_time_ratios_against_the_target() {
    let run = |bodies: usize| FetchRun {
        listing: vec![Duration::from_millis(500)],
        listing_wall: Duration::from_secs(1),
        listing_cpu: Duration::ZERO,
        listed: 1000,
        bodies: vec![Duration::from_millis(1); bodies],
        bodies_wall: Duration::from_secs(1),
        bodies_cpu: Duration::ZERO,
        body_bytes: 0,
        failures: 0,
        first_failure: None,
    };
    let figures = |kind, bodies| Figures {
        kind,
        seed: None,
        sync: Vec::new(),
        fetch: vec![run(bodies)],
        memory: None,
        large: None,
        text_search: None,
        text_search_fts: None,
    };
    let (c, d) = (
        figures(ServerKind::Congvu, 2000),
        figures(ServerKind::Dovecot, 1000),
    );
    let args = test_args(vec![Workload::I1]);
    let (machine, corpus) = (test_machine(), Corpus::default());
    let report = test_report(&args, &machine, &corpus);
    let rows = report.fetch_rows(Some(&c), Some(&d));
    let bodies = rows
        .iter()
        .find(|r| r.what.contains("BODY.PEEK[]`, random n"))
        .expect("body row");
    assert_eq!(bodies.ratio, Some("0.50×".to_string()));
    assert_eq!(bodies.met, Some(true));
    let listing = &rows[0];
    assert_eq!(listing.ratio, Some("1.00×".to_string()));
    assert_eq!(listing.met, Some(false));
    assert!(bodies
        .render("failures")
        .ends_with("| 0.50× | ≤ 0.7× in every run | met |\n"));
}

#[test]
fn a_listing_is_met_only_when_every_run_meets_it() {
    let run = |listing_ms: u64| FetchRun {
        listing: vec![Duration::from_millis(listing_ms)],
        listing_wall: Duration::from_millis(listing_ms),
        listing_cpu: Duration::ZERO,
        listed: 1000,
        bodies: Vec::new(),
        bodies_wall: Duration::from_secs(1),
        bodies_cpu: Duration::ZERO,
        body_bytes: 0,
        failures: 0,
        first_failure: None,
    };
    let figures = |kind, walls: &[u64]| Figures {
        kind,
        seed: None,
        sync: Vec::new(),
        fetch: walls.iter().map(|&ms| run(ms)).collect(),
        memory: None,
        large: None,
        text_search: None,
        text_search_fts: None,
    };
    // Paired in run order: 0.50×, 0.80×, 0.40×; the median, 0.50×, would pass.
    let c = figures(ServerKind::Congvu, &[500, 800, 400]);
    let d = figures(ServerKind::Dovecot, &[1000, 1000, 1000]);
    let args = test_args(vec![Workload::I1]);
    let (machine, corpus) = (test_machine(), Corpus::default());
    let report = test_report(&args, &machine, &corpus);
    let listing = &report.fetch_rows(Some(&c), Some(&d))[0];
    assert_eq!(
        listing.ratio.as_deref(),
        Some("0.50× (0.50×, 0.80×, 0.40×)")
    );
    assert_eq!(listing.met, Some(false));
}

#[test]
fn section_goes_after_the_smtp_section_and_is_replaced_in_place() {
    const SECTION: &str = "<!-- imap:begin -->\n## I1\n\n| a |\n<!-- imap:end -->\n";
    let document = "# title\n\n<!-- smtp:begin -->\n## S1\n<!-- smtp:end -->\n\n\
                    ## P1/P2: import\n";
    let placed = place_section(document, MARKERS, SECTION);
    assert_eq!(
        placed,
        "# title\n\n<!-- smtp:begin -->\n## S1\n<!-- smtp:end -->\n\n\
         <!-- imap:begin -->\n## I1\n\n| a |\n<!-- imap:end -->\n\n## P1/P2: import\n"
    );
    let again = place_section(&placed, MARKERS, &SECTION.replace("| a |", "| b |"));
    assert_eq!(again, placed.replace("| a |", "| b |"));
}

/// Officials `an`, `binh` and `cuong` of the bench's domain.
fn three_officials() -> Vec<Official> {
    ["an", "binh", "cuong"]
        .iter()
        .map(|login| Official {
            login: login.to_string(),
            address: format!("{login}@{DOMAIN}"),
        })
        .collect()
}
