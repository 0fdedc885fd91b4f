//! Loading and validation, asserting the exact `location: message` an operator sees.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;

use super::document::Locator;
use super::*;

const ORIGIN: &str = "test.toml";

/// Appended after a snippet (so its line numbers stay as written) to get past the TLS
/// check, which every file must otherwise answer.
const DEV_TLS: &str = "\n[tls]\nself_signed = true\n";

fn load_with_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::from_toml(&format!("{text}{DEV_TLS}"), ORIGIN, env)
}

fn load(text: &str) -> Result<Config, ConfigError> {
    load_with_env(text, &[])
}

/// The error as displayed, `location: message`.
fn error_with_env(text: &str, env: &[(&str, &str)]) -> String {
    match load_with_env(text, env) {
        Ok(config) => panic!("expected an error, loaded {config:?}"),
        Err(err) => err.to_string(),
    }
}

fn error(text: &str) -> String {
    error_with_env(text, &[])
}

fn addrs(list: &[&str]) -> Vec<ListenAddr> {
    list.iter()
        .map(|s| ListenAddr(s.parse::<SocketAddr>().unwrap()))
        .collect()
}

const SMTP_KEYS: &str = "listen, submission_listen, submissions_listen, max_message_bytes, \
     max_recipients, max_errors, max_auth_failures, data_timeout_seconds";
const SECTIONS: &str =
    "server, database, tls, smtp, imap, ldap, http, limits, auth, queue, certificates, inbound, dns, filter, backup, sieve";

// ---- unknown names -------------------------------------------------------------------

#[test]
fn unknown_key_reports_its_line_and_the_valid_keys() {
    let text =
        "[server]\nhostname = \"mail.example.gov.vn\"\n\n[smtp]\nlisen = [\"127.0.0.1:25\"]\n";
    assert_eq!(
        error(text),
        format!("test.toml:5: unknown key `lisen` in [smtp]; valid keys: {SMTP_KEYS}")
    );
}

#[test]
fn unknown_key_in_dotted_form_is_found_too() {
    assert_eq!(
        error("\nsmtp.lisen = []\n"),
        format!("test.toml:2: unknown key `lisen` in [smtp]; valid keys: {SMTP_KEYS}")
    );
}

#[test]
fn unknown_section_lists_the_valid_sections() {
    assert_eq!(
        error("[server]\n\n[smtpp]\nlisten = []\n"),
        format!("test.toml:3: unknown section [smtpp]; valid sections: {SECTIONS}")
    );
}

#[test]
fn key_outside_any_section_is_named_as_such() {
    assert_eq!(
        error("hostname = \"mail.example.gov.vn\"\n"),
        format!(
            "test.toml:1: unknown key `hostname` outside any section; keys belong in a section: {SECTIONS}"
        )
    );
}

#[test]
fn a_section_within_a_section_has_its_keys_checked_and_located() {
    assert_eq!(
        error("[filter]\ndnsbl = []\n\n[filter.rspamd]\nurl = \"http://127.0.0.1:11333\"\nscore = 5\n"),
        "test.toml:6: unknown key `score` in [filter.rspamd]; valid keys: url, controller_url, \
         controller_password, timeout_seconds, fail, learn"
    );
    let clamav = error("[filter.clamav]\naddress = \"smb://clamd\"\n");
    assert!(
        clamav.starts_with("test.toml:2: filter.clamav.address: "),
        "{clamav}"
    );
    assert_eq!(
        error("[filter.frobnicate]\nx = 1\n"),
        "test.toml:1: unknown key `frobnicate` in [filter]; valid keys: dnsbl, rspamd, clamav"
    );
    let config =
        load("[filter.rspamd]\nurl = \"http://127.0.0.1:11333\"\nfail = \"tempfail\"\n").unwrap();
    assert_eq!(
        config.filter.rspamd.url.as_deref(),
        Some("http://127.0.0.1:11333")
    );
    assert_eq!(config.filter.rspamd.fail, super::FailPolicy::Tempfail);
}

#[test]
fn blocklists_and_resolvers_are_checked() {
    assert_eq!(
        error("[filter]\ndnsbl = [\"zen.spamhaus.org\", \"not a zone\"]\n"),
        "test.toml:2: filter.dnsbl: \"not a zone\" is not a DNS zone (e.g. \"zen.spamhaus.org\")"
    );
    assert_eq!(
        error("[dns]\nservers = [\"10.0.0.53\"]\n"),
        "test.toml:2: dns.servers: \"10.0.0.53\" is not IP:PORT (e.g. \"10.0.0.53:53\")"
    );
    assert_eq!(
        error("[inbound]\nauthentication = \"strict\"\n")
            .split(':')
            .take(2)
            .collect::<Vec<_>>(),
        ["test.toml", "2"]
    );
    let config =
        load("[inbound]\nauthentication = \"report\"\n\n[dns]\nservers = [\"127.0.0.1:5353\"]\n")
            .unwrap();
    assert_eq!(config.inbound.authentication, AuthenticationMode::Report);
    assert_eq!(
        config.dns.server_addrs(),
        ["127.0.0.1:5353".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        Config::default().inbound.authentication,
        AuthenticationMode::Enforce,
        "the built-in default enforces"
    );
}

// ---- syntax and types ----------------------------------------------------------------

#[test]
fn toml_syntax_error_reports_the_line_toml_points_at() {
    assert_eq!(
        error("[server]\nhostname = \"a\"\nlog_level = debug\n"),
        "test.toml:3: invalid TOML: string values must be quoted, expected literal string"
    );
}

#[test]
fn duplicate_key_is_a_syntax_error() {
    assert_eq!(
        error("[database]\nmax_connections = 1\nmax_connections = 2\n"),
        "test.toml:3: invalid TOML: duplicate key"
    );
}

#[test]
fn wrong_type_reports_the_key_and_the_line_of_the_value() {
    assert_eq!(
        error("[database]\nmax_connections = \"many\"\n"),
        "test.toml:2: database.max_connections: invalid type: string \"many\", expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn number_too_large_for_its_type_is_a_type_error() {
    assert_eq!(
        error("[database]\nmax_connections = 5000000000\n"),
        "test.toml:2: database.max_connections: invalid value: integer `5000000000`, expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn negative_number_is_a_type_error() {
    assert_eq!(
        error("[auth]\nhash_workers = -1\n"),
        "test.toml:2: auth.hash_workers: invalid value: integer `-1`, expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn unknown_enum_value_lists_the_valid_ones() {
    assert_eq!(
        error("[server]\nlog_format = \"xml\"\n"),
        "test.toml:2: server.log_format: unknown variant `xml`, expected `text` or `json`"
    );
}

#[test]
fn section_that_is_not_a_table_is_a_type_error() {
    assert_eq!(
        error("smtp = 25\n"),
        "test.toml:1: smtp: invalid type: integer `25`, expected struct SmtpConfig"
    );
}

// ---- listen addresses ----------------------------------------------------------------

#[test]
fn port_out_of_range_is_reported_on_the_line_of_the_element() {
    let text = "[smtp]\nlisten = [\n  \"127.0.0.1:25\",\n  \"127.0.0.1:70000\",\n]\n";
    assert_eq!(
        error(text),
        "test.toml:4: smtp.listen: \"127.0.0.1:70000\" is not a valid listen address: port must be 1-65535 (or 0 for any free port)"
    );
}

#[test]
fn missing_port_shows_how_to_write_it() {
    assert_eq!(
        error("[imap]\nlisten = [\"127.0.0.1\"]\n"),
        "test.toml:2: imap.listen: \"127.0.0.1\" is not a valid listen address: missing port; write it as \"127.0.0.1:25\""
    );
}

#[test]
fn listen_addr_messages_name_the_mistake() {
    let cases = [
        ("::1", "missing port, and an IPv6 address needs brackets: write it as \"[::1]:25\""),
        ("::1:25", "missing port, and an IPv6 address needs brackets: write it as \"[::1:25]:25\""),
        ("fe80::1%eth0:25", "an IPv6 address needs brackets before the port, as in \"[::1]:25\""),
        ("[::1]", "missing port; write it as \"[::1]:25\""),
        ("[::1", "missing ']' after the IPv6 address; write it as \"127.0.0.1:25\", \"0.0.0.0:25\" or \"[::1]:25\""),
        ("[::1]25", "expected ':' and a port after ']', got \"25\""),
        ("[127.0.0.1]:25", "brackets are only for IPv6 addresses; write \"127.0.0.1:25\""),
        ("127.0.0.1:", "missing port after ':'"),
        ("127.0.0.1:smtp", "port \"smtp\" is not a number"),
        ("127.0.0.1:-1", "port \"-1\" is not a number"),
        ("127.0.0.1:65536", "port must be 1-65535 (or 0 for any free port)"),
        ("127.0.0.1:99999999999999999999", "port must be 1-65535 (or 0 for any free port)"),
        ("localhost:25", "\"localhost\" is not an IP address; listen on an IP address such as 127.0.0.1, 0.0.0.0 or [::] (host names are not resolved)"),
        ("", "it is empty; write it as \"127.0.0.1:25\", \"0.0.0.0:25\" or \"[::1]:25\""),
    ];
    for (input, reason) in cases {
        let err = input.parse::<ListenAddr>().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{input:?} is not a valid listen address: {reason}"),
            "input {input:?}"
        );
    }
}

#[test]
fn listen_addr_accepts_ipv4_ipv6_and_port_0_and_65535() {
    for input in [
        "127.0.0.1:25",
        "0.0.0.0:0",
        "[::1]:143",
        "[::]:65535",
        "10.0.0.5:1",
    ] {
        let addr: ListenAddr = input.parse().unwrap();
        assert_eq!(addr.to_string(), input);
        assert_eq!(addr.0, input.parse::<SocketAddr>().unwrap());
    }
}

#[test]
fn listen_list_accepts_a_single_string_and_an_empty_list() {
    let config = load("[smtp]\nlisten = \"[::1]:25\"\nsubmission_listen = []\n").unwrap();
    assert_eq!(config.smtp.listen, addrs(&["[::1]:25"]));
    assert!(config.smtp.submission_listen.is_empty());
}

#[test]
fn listen_list_of_wrong_type_says_what_is_expected() {
    assert_eq!(
        error("[http]\nlisten = 8025\n"),
        "test.toml:2: http.listen: invalid type: integer `8025`, expected a list of listen addresses such as [\"127.0.0.1:25\", \"[::1]:25\"] ([] disables the listener)"
    );
    assert_eq!(
        error("[http]\nlisten = [8025]\n"),
        "test.toml:2: http.listen: invalid type: integer `8025`, expected a listen address such as \"127.0.0.1:25\", \"0.0.0.0:25\" or \"[::1]:25\""
    );
}

#[test]
fn two_listeners_on_one_address_are_refused_but_port_0_may_repeat() {
    let text = "[smtp]\nlisten = [\"127.0.0.1:2525\"]\nsubmission_listen = [\"127.0.0.1:2525\"]\n";
    assert_eq!(
        error(text),
        "test.toml:3: smtp.submission_listen: 127.0.0.1:2525 is already used by smtp.listen; each listener needs its own address"
    );
    let config =
        load("[smtp]\nlisten = [\"127.0.0.1:0\"]\nsubmission_listen = [\"127.0.0.1:0\"]\n")
            .unwrap();
    assert_eq!(config.smtp.submission_listen, addrs(&["127.0.0.1:0"]));
}

// ---- ranges --------------------------------------------------------------------------

#[test]
fn out_of_range_number_names_the_range() {
    assert_eq!(
        error("[database]\nurl = \"sqlite://data/congvu.db\"\nmax_connections = 0\n"),
        "test.toml:3: database.max_connections must be between 1 and 1000, got 0"
    );
}

/// Each limit just inside (accepted) and just outside (refused) both ends.
#[test]
fn every_range_is_enforced_at_both_ends() {
    // (section, key, low, high, other keys the bounds depend on)
    let limits: [(&str, &str, u64, u64, &str); 17] = [
        ("server", "shutdown_grace_seconds", 1, 3600, ""),
        ("database", "max_connections", 1, 1000, ""),
        ("database", "busy_timeout_ms", 1, 600_000, ""),
        ("smtp", "max_message_bytes", 1024, 2_147_483_648, ""),
        ("smtp", "max_recipients", 1, 100_000, ""),
        (
            "limits",
            "max_connections",
            1,
            1_000_000,
            "max_connections_per_ip = 1",
        ),
        ("limits", "max_connections_per_ip", 1, 10_000, ""),
        ("limits", "request_timeout_seconds", 1, 86_400, ""),
        ("auth", "argon2_memory_kib", 8, 4_194_304, ""),
        ("auth", "argon2_iterations", 1, 100, ""),
        ("auth", "argon2_parallelism", 1, 64, ""),
        ("auth", "lockout_failures", 1, 1000, ""),
        ("auth", "lockout_window_seconds", 1, 86_400, ""),
        ("auth", "hash_workers", 0, 256, ""),
        ("certificates", "expiry_warning_days", 1, 365, ""),
        ("certificates", "expiry_check_seconds", 60, 86_400, ""),
        (
            "limits",
            "max_connections_per_ip",
            1,
            50,
            "max_connections = 50",
        ),
    ];
    for (section, key, low, high, extra) in limits {
        let text = |value: u64| format!("[{section}]\n{extra}\n{key} = {value}\n");
        for ok in [low, high] {
            assert!(load(&text(ok)).is_ok(), "{section}.{key} = {ok} refused");
        }
        let refused = [low.checked_sub(1), Some(high + 1)];
        for bad in refused.into_iter().flatten() {
            let detail = if (section, key) == ("limits", "max_connections_per_ip") {
                " (limits.max_connections)"
            } else {
                ""
            };
            assert_eq!(
                error(&text(bad)),
                format!("test.toml:3: {section}.{key} must be between {low} and {high}{detail}, got {bad}")
            );
        }
    }
}

// ---- server, database, ldap ----------------------------------------------------------

#[test]
fn primary_domain_must_be_a_lowercase_domain() {
    for bad in [
        "localhost",
        "VinhPhuc.gov.vn",
        "vinhphuc..vn",
        "-a.vn",
        "a_b.vn",
        "",
    ] {
        assert_eq!(
            error(&format!("[server]\nprimary_domain = {bad:?}\n")),
            format!(
                "test.toml:2: server.primary_domain: {bad:?} is not a domain name: use lowercase labels of a-z, 0-9 and '-' joined by at least one dot, such as \"vinhphuc.gov.vn\""
            )
        );
    }
}

#[test]
fn hostname_with_a_space_is_refused() {
    assert_eq!(
        error("[server]\nhostname = \"mail server\"\n"),
        "test.toml:2: server.hostname must be a host name without spaces, such as \"mail.vinhphuc.gov.vn\", got \"mail server\""
    );
}

#[test]
fn empty_log_level_and_data_dir_are_refused() {
    assert_eq!(
        error("[server]\nlog_level = \" \"\n"),
        "test.toml:2: server.log_level must not be empty; use a tracing filter such as \"info\" or \"info,congvu::smtp=debug\""
    );
    assert_eq!(
        error("[server]\ndata_dir = \"\"\n"),
        "test.toml:2: server.data_dir must not be empty; use a directory such as \"data\" or \"/var/lib/congvu\""
    );
}

#[test]
fn database_url_scheme_is_checked_without_echoing_the_url() {
    assert_eq!(
        error("[database]\nurl = \"mysql://root:hunter2@db/congvu\"\n"),
        "test.toml:2: database.url must start with sqlite: (e.g. \"sqlite://data/congvu.db\") or postgres:/postgresql: (e.g. \"postgres://congvu@db.internal/congvu\"), got scheme \"mysql\""
    );
}

#[test]
fn backend_follows_the_url_scheme() {
    let backend = |url: &str| {
        load(&format!("[database]\nurl = {url:?}\n"))
            .unwrap()
            .database
            .backend()
    };
    assert_eq!(backend("sqlite://data/congvu.db"), Backend::Sqlite);
    assert_eq!(backend("sqlite::memory:"), Backend::Sqlite);
    assert_eq!(
        backend("postgres://congvu@db.internal/congvu"),
        Backend::Postgres
    );
    assert_eq!(
        backend("postgresql://congvu@db.internal/congvu"),
        Backend::Postgres
    );
}

#[test]
fn debug_output_hides_the_database_password() {
    let config =
        load("[database]\nurl = \"postgres://congvu:hunter2@db.internal/congvu\"\n").unwrap();
    let debug = format!("{:?}", config.database);
    assert!(
        debug.contains("postgres://congvu:***@db.internal/congvu"),
        "{debug}"
    );
    assert!(!debug.contains("hunter2"), "{debug}");
    assert_eq!(
        redact_password("postgres://congvu@db/congvu"),
        "postgres://congvu@db/congvu"
    );
    assert_eq!(
        redact_password("sqlite://data/congvu.db"),
        "sqlite://data/congvu.db"
    );
}

#[test]
fn ldap_base_dn_is_derived_from_the_primary_domain() {
    let config = load("[server]\nprimary_domain = \"vinhphuc.gov.vn\"\n").unwrap();
    assert_eq!(config.ldap_base_dn(), "dc=vinhphuc,dc=gov,dc=vn");
    assert_eq!(Config::default().ldap_base_dn(), "dc=example,dc=gov,dc=vn");
}

#[test]
fn configured_ldap_base_dn_is_used_as_written() {
    let config = load("[ldap]\nbase_dn = \"o=UBND Vinh Phuc,c=VN\"\n").unwrap();
    assert_eq!(config.ldap_base_dn(), "o=UBND Vinh Phuc,c=VN");
}

#[test]
fn malformed_ldap_base_dn_is_refused() {
    for bad in [
        "vinhphuc.gov.vn",
        "dc=vinhphuc,,dc=vn",
        "cn=admin,dc=vn",
        "dc=",
        "dc=a+b",
    ] {
        assert_eq!(
            error(&format!("[ldap]\nbase_dn = {bad:?}\n")),
            format!(
                "test.toml:2: ldap.base_dn: {bad:?} is not a base DN: use comma-separated attr=value pairs with attr one of dc, ou, o, c, such as \"dc=vinhphuc,dc=gov,dc=vn\", or leave it unset to derive it from server.primary_domain"
            )
        );
    }
}

// ---- tls -----------------------------------------------------------------------------

fn tls_error(text: &str) -> String {
    match Config::from_toml(text, ORIGIN, Vec::new()) {
        Ok(config) => panic!("expected an error, loaded {config:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn tls_cert_that_does_not_exist_is_named() {
    let text = "[tls]\ncert = \"/nonexistent/congvu/fullchain.pem\"\nkey = \"/nonexistent/congvu/privkey.pem\"\n";
    assert_eq!(
        tls_error(text),
        "test.toml:2: tls.cert: file \"/nonexistent/congvu/fullchain.pem\" does not exist"
    );
}

#[test]
fn tls_key_that_does_not_exist_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("fullchain.pem");
    std::fs::write(&cert, "PEM").unwrap();
    let text = format!(
        "[tls]\nkey = \"/nonexistent/privkey.pem\"\ncert = {:?}\n",
        cert.display().to_string()
    );
    assert_eq!(
        tls_error(&text),
        "test.toml:2: tls.key: file \"/nonexistent/privkey.pem\" does not exist"
    );
}

#[test]
fn tls_cert_that_is_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().display().to_string();
    let text = format!("[tls]\ncert = {path:?}\nkey = {path:?}\n");
    assert_eq!(
        tls_error(&text),
        format!("test.toml:2: tls.cert: file {path:?} is not a regular file; expected a PEM file")
    );
}

#[test]
fn tls_files_that_exist_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (
        dir.path().join("fullchain.pem"),
        dir.path().join("privkey.pem"),
    );
    std::fs::write(&cert, "PEM").unwrap();
    std::fs::write(&key, "PEM").unwrap();
    let text = format!(
        "[tls]\ncert = {:?}\nkey = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let config = Config::from_toml(&text, ORIGIN, Vec::new()).unwrap();
    assert_eq!(config.tls.cert.as_deref(), Some(cert.as_path()));
    assert_eq!(config.tls.key.as_deref(), Some(key.as_path()));
    assert!(!config.tls.self_signed);
}

#[test]
fn tls_cert_without_key_is_refused() {
    assert_eq!(
        tls_error("[tls]\ncert = \"/etc/congvu/tls/fullchain.pem\"\n"),
        "test.toml:2: tls.cert is set but tls.key is not: set both to PEM files, or neither"
    );
    assert_eq!(
        tls_error("[tls]\n\nkey = \"/etc/congvu/tls/privkey.pem\"\n"),
        "test.toml:3: tls.key is set but tls.cert is not: set both to PEM files, or neither"
    );
}

#[test]
fn tls_unset_without_self_signed_explains_both_choices() {
    let message = "tls.cert and tls.key are not set: set both to PEM files, or set tls.self_signed = true to generate a development certificate in the data directory";
    assert_eq!(tls_error("[server]\n"), format!("test.toml: {message}"));
    assert_eq!(tls_error("[tls]\n"), format!("test.toml:1: {message}"));
    assert_eq!(
        tls_error("[tls]\nself_signed = false\n"),
        format!("test.toml:2: {message}")
    );
}

#[test]
fn tls_files_and_self_signed_together_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("both.pem");
    std::fs::write(&pem, "PEM").unwrap();
    let pem = pem.display().to_string();
    let text = format!("[tls]\ncert = {pem:?}\nkey = {pem:?}\nself_signed = true\n");
    assert_eq!(
        tls_error(&text),
        "test.toml:4: tls.self_signed = true conflicts with tls.cert and tls.key: remove tls.self_signed to use the files, or remove tls.cert and tls.key to generate a development certificate"
    );
}

// ---- environment ---------------------------------------------------------------------

#[test]
fn env_overrides_win_over_the_file() {
    let text = "[smtp]\nlisten = [\"127.0.0.1:2525\"]\n\n[database]\nmax_connections = 4\n";
    let config = load_with_env(
        text,
        &[
            ("CONGVU_SMTP__LISTEN", r#"["127.0.0.1:25", "[::1]:25"]"#),
            ("CONGVU_DATABASE__MAX_CONNECTIONS", "50"),
            (
                "CONGVU_DATABASE__URL",
                "postgres://congvu@db.internal/congvu",
            ),
            ("CONGVU_SERVER__LOG_FORMAT", "json"),
            ("CONGVU_IMAP__LISTEN", "127.0.0.1:1143"),
            ("CONGVU_LDAP__ALLOW_ANONYMOUS_READ", "true"),
        ],
    )
    .unwrap();
    assert_eq!(config.smtp.listen, addrs(&["127.0.0.1:25", "[::1]:25"]));
    assert_eq!(config.database.max_connections, 50);
    assert_eq!(config.database.backend(), Backend::Postgres);
    assert_eq!(config.server.log_format, LogFormat::Json);
    assert_eq!(config.imap.listen, addrs(&["127.0.0.1:1143"]));
    assert!(config.ldap.allow_anonymous_read);
}

#[test]
fn env_names_without_double_underscore_are_ignored() {
    let config = load_with_env(
        "",
        &[
            ("CONGVU_TEST_DATABASE_URL", "postgres://x@y/z"),
            ("CONGVU_CONFIG", "/etc/congvu/congvu.toml"),
            ("DATABASE__URL", "mysql://nope"),
        ],
    )
    .unwrap();
    assert_eq!(config.database.url, "sqlite://data/congvu.db");
}

#[test]
fn env_value_with_a_bad_address_reports_the_variable() {
    assert_eq!(
        error_with_env("[smtp]\nlisten = [\"127.0.0.1:2525\"]\n", &[("CONGVU_SMTP__LISTEN", "127.0.0.1:70000")]),
        "environment CONGVU_SMTP__LISTEN: smtp.listen: \"127.0.0.1:70000\" is not a valid listen address: port must be 1-65535 (or 0 for any free port)"
    );
}

#[test]
fn env_value_of_wrong_type_inside_an_array_reports_the_variable() {
    assert_eq!(
        error_with_env("", &[("CONGVU_SMTP__LISTEN", r#"["127.0.0.1:25", 25]"#)]),
        "environment CONGVU_SMTP__LISTEN: smtp.listen: invalid type: integer `25`, expected a listen address such as \"127.0.0.1:25\", \"0.0.0.0:25\" or \"[::1]:25\""
    );
}

#[test]
fn env_value_out_of_range_reports_the_variable_not_the_file_line() {
    assert_eq!(
        error_with_env(
            "[database]\nmax_connections = 16\n",
            &[("CONGVU_DATABASE__MAX_CONNECTIONS", "0")]
        ),
        "environment CONGVU_DATABASE__MAX_CONNECTIONS: database.max_connections must be between 1 and 1000, got 0"
    );
}

#[test]
fn env_value_that_is_not_toml_is_a_string() {
    assert_eq!(
        error_with_env("", &[("CONGVU_DATABASE__MAX_CONNECTIONS", "lots")]),
        "environment CONGVU_DATABASE__MAX_CONNECTIONS: database.max_connections: invalid type: string \"lots\", expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn empty_env_value_is_an_empty_string() {
    assert_eq!(
        error_with_env("", &[("CONGVU_SERVER__LOG_LEVEL", "")]),
        "environment CONGVU_SERVER__LOG_LEVEL: server.log_level must not be empty; use a tracing filter such as \"info\" or \"info,congvu::smtp=debug\""
    );
}

#[test]
fn unknown_env_key_is_refused_with_the_valid_keys() {
    assert_eq!(
        error_with_env("", &[("CONGVU_SMTP__LISEN", "127.0.0.1:25")]),
        format!("environment CONGVU_SMTP__LISEN: unknown key `lisen` in [smtp]; valid keys: {SMTP_KEYS}")
    );
    assert_eq!(
        error_with_env("", &[("CONGVU_SMTPP__LISTEN", "127.0.0.1:25")]),
        format!(
            "environment CONGVU_SMTPP__LISTEN: unknown section [smtpp]; valid sections: {SECTIONS}"
        )
    );
}

#[test]
fn env_key_for_a_section_that_is_not_a_table_is_refused() {
    assert_eq!(
        error_with_env("smtp = 25\n", &[("CONGVU_SMTP__LISTEN", "127.0.0.1:25")]),
        "environment CONGVU_SMTP__LISTEN: cannot set smtp.listen: `smtp` in the file is not a section; write it as [smtp]"
    );
}

#[test]
fn env_can_complete_the_tls_settings() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("both.pem");
    std::fs::write(&pem, "PEM").unwrap();
    let pem = pem.display().to_string();
    let env = vec![
        ("CONGVU_TLS__CERT".to_owned(), pem.clone()),
        ("CONGVU_TLS__KEY".to_owned(), pem.clone()),
    ];
    let config = Config::from_toml("", ORIGIN, env).unwrap();
    assert_eq!(config.tls.cert, Some(pem.into()));
}

// ---- defaults and shipped files ------------------------------------------------------

#[test]
fn default_config_validates() {
    let config = Config::default();
    assert_eq!(
        config.validate(&Locator::without_file("built-in defaults")),
        Ok(())
    );
    assert!(config.tls.self_signed);
}

#[test]
fn file_defaults_match_config_default_apart_from_tls() {
    assert_eq!(load("").unwrap(), Config::default());
    assert!(!TlsConfig::default().self_signed);
}

#[test]
fn default_values_are_the_documented_ones() {
    let config = Config::default();
    assert_eq!(config.server.hostname, "localhost");
    assert_eq!(config.server.primary_domain, "example.gov.vn");
    assert_eq!(config.server.data_dir, Path::new("data"));
    assert_eq!(config.server.shutdown_grace_seconds, 30);
    assert_eq!(config.database.url, "sqlite://data/congvu.db");
    assert_eq!(config.smtp.max_message_bytes, 52_428_800);
    assert_eq!(config.limits.max_connections_per_ip, 100);
    assert_eq!(config.auth.argon2_memory_kib, 19_456);
    let ports: Vec<(&str, Vec<ListenAddr>)> = config
        .listeners()
        .iter()
        .map(|(path, list)| (*path, list.to_vec()))
        .collect();
    assert_eq!(
        ports,
        [
            ("smtp.listen", addrs(&["127.0.0.1:2525"])),
            ("smtp.submission_listen", addrs(&["127.0.0.1:2587"])),
            ("smtp.submissions_listen", addrs(&["127.0.0.1:2465"])),
            ("imap.listen", addrs(&["127.0.0.1:2143"])),
            ("imap.imaps_listen", addrs(&["127.0.0.1:2993"])),
            ("ldap.listen", addrs(&["127.0.0.1:3389"])),
            ("ldap.ldaps_listen", addrs(&["127.0.0.1:3636"])),
            ("http.listen", addrs(&["127.0.0.1:8025"])),
            ("http.https_listen", addrs(&[])),
            ("sieve.managesieve_listen", addrs(&["127.0.0.1:24190"])),
        ]
    );
    assert_eq!(config.auth.initial_password_days, 14);
    assert_eq!(
        config.http.portal_url("mail.vinhphuc.gov.vn"),
        "https://mail.vinhphuc.gov.vn/"
    );
}

#[test]
fn every_section_has_its_key_list() {
    assert_eq!(schema::sections().join(", "), SECTIONS);
    for section in schema::sections() {
        assert!(
            schema::section_keys(section).is_some_and(|keys| !keys.is_empty()),
            "{section}"
        );
    }
}

const DEV_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/congvu.toml");
const PRODUCTION_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/production.toml");

#[test]
fn development_config_loads_with_the_development_ports() {
    let text = std::fs::read_to_string(DEV_CONFIG).unwrap();
    let config = Config::from_toml(&text, "config/congvu.toml", Vec::new()).unwrap();
    // Every key in the file, so its values are the defaults except where a
    // development value is chosen.
    let expected = Config {
        server: ServerConfig {
            hostname: "mail.vinhphuc.gov.vn".to_owned(),
            primary_domain: "vinhphuc.gov.vn".to_owned(),
            ..ServerConfig::default()
        },
        // Autoconfiguration offers the development listeners' ports.
        http: HttpConfig {
            imaps_port: 2993,
            imap_port: 2143,
            submissions_port: 2465,
            submission_port: 2587,
            public_url: Some("http://127.0.0.1:8025/".to_owned()),
            ..HttpConfig::default()
        },
        // A laptop has no DNS to check senders with.
        inbound: InboundConfig {
            authentication: AuthenticationMode::Off,
            ..InboundConfig::default()
        },
        ..Config::default()
    };
    assert_eq!(config, expected);
    assert_eq!(config.smtp.listen, addrs(&["127.0.0.1:2525"]));
    assert_eq!(config.smtp.submission_listen, addrs(&["127.0.0.1:2587"]));
    assert_eq!(config.smtp.submissions_listen, addrs(&["127.0.0.1:2465"]));
    assert_eq!(config.imap.listen, addrs(&["127.0.0.1:2143"]));
    assert_eq!(config.imap.imaps_listen, addrs(&["127.0.0.1:2993"]));
    assert_eq!(config.ldap.listen, addrs(&["127.0.0.1:3389"]));
    assert_eq!(config.ldap.ldaps_listen, addrs(&["127.0.0.1:3636"]));
    assert_eq!(config.http.listen, addrs(&["127.0.0.1:8025"]));
    assert_eq!(config.database.backend(), Backend::Sqlite);
    assert!(config.tls.self_signed);
    assert_eq!(config.ldap_base_dn(), "dc=vinhphuc,dc=gov,dc=vn");
}

#[test]
fn development_config_lists_every_key() {
    let text = std::fs::read_to_string(DEV_CONFIG).unwrap();
    for section in schema::sections() {
        assert!(
            text.contains(&format!("\n[{section}]\n")),
            "[{section}] missing"
        );
        for key in schema::section_keys(section).unwrap() {
            let nested = format!("{section}.{key}");
            let shown = match schema::section_keys(&nested) {
                // A section within the section, e.g. [filter.rspamd], and its own keys.
                Some(keys) => {
                    (text.contains(&format!("\n[{nested}]\n"))
                        || text.contains(&format!("\n# [{nested}]\n")))
                        && keys.iter().all(|k| {
                            text.contains(&format!("\n{k} = "))
                                || text.contains(&format!("\n# {k} = "))
                        })
                }
                None => {
                    text.contains(&format!("\n{key} = ")) || text.contains(&format!("\n# {key} = "))
                }
            };
            assert!(
                shown,
                "{section}.{key} not documented in config/congvu.toml"
            );
        }
    }
}

#[test]
fn production_config_fails_only_on_the_missing_certificate() {
    let text = std::fs::read_to_string(PRODUCTION_CONFIG).unwrap();
    let line = text.lines().position(|l| l.starts_with("cert = ")).unwrap() + 1;
    let err = Config::from_toml(&text, "config/production.toml", Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("config/production.toml:{line}: tls.cert: file \"/etc/congvu/tls/fullchain.pem\" does not exist")
    );
}

#[test]
fn production_config_loads_once_certificates_exist() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (
        dir.path().join("fullchain.pem"),
        dir.path().join("privkey.pem"),
    );
    std::fs::write(&cert, "PEM").unwrap();
    std::fs::write(&key, "PEM").unwrap();
    let text = std::fs::read_to_string(PRODUCTION_CONFIG).unwrap();
    let env = vec![
        ("CONGVU_TLS__CERT".to_owned(), cert.display().to_string()),
        ("CONGVU_TLS__KEY".to_owned(), key.display().to_string()),
    ];
    let config = Config::from_toml(&text, "config/production.toml", env).unwrap();
    assert_eq!(config.database.backend(), Backend::Postgres);
    assert_eq!(config.server.log_format, LogFormat::Json);
    assert_eq!(config.server.data_dir, Path::new("/var/lib/congvu"));
    assert_eq!(config.smtp.listen, addrs(&["[::]:25"]));
    assert_eq!(config.smtp.submission_listen, addrs(&["[::]:587"]));
    assert_eq!(config.smtp.submissions_listen, addrs(&["[::]:465"]));
    assert_eq!(config.imap.listen, addrs(&["[::]:143"]));
    assert_eq!(config.imap.imaps_listen, addrs(&["[::]:993"]));
    assert_eq!(config.ldap.listen, addrs(&["[::]:389"]));
    assert_eq!(config.ldap.ldaps_listen, addrs(&["[::]:636"]));
    assert_eq!(config.http.listen, addrs(&["127.0.0.1:8080"]));
    assert_eq!(
        config.http.mail_hostname.as_deref(),
        Some("mail.vinhphuc.gov.vn")
    );
    assert_eq!(
        config.http.display_name.as_deref(),
        Some("Thư công vụ tỉnh Vĩnh Phúc")
    );
}

// ---- [http] autoconfiguration --------------------------------------------------------

#[test]
fn autoconfig_defaults_are_the_standard_ports() {
    let http = HttpConfig::default();
    assert_eq!(http.mail_hostname, None);
    assert_eq!(http.display_name, None);
    assert_eq!(
        (
            http.imaps_port,
            http.imap_port,
            http.submissions_port,
            http.submission_port
        ),
        (993, 143, 465, 587)
    );
}

#[test]
fn autoconfig_ports_and_names_are_read_from_file_and_environment() {
    let config = load_with_env(
        "[http]\nmail_hostname = \"imap.vinhphuc.gov.vn\"\nimap_port = 0\ndisplay_name = \"Sở Nội vụ\"\n",
        &[("CONGVU_HTTP__SUBMISSIONS_PORT", "10465")],
    )
    .unwrap();
    assert_eq!(
        config.http.mail_hostname.as_deref(),
        Some("imap.vinhphuc.gov.vn")
    );
    assert_eq!(config.http.imap_port, 0);
    assert_eq!(config.http.imaps_port, 993);
    assert_eq!(config.http.submissions_port, 10465);
    assert_eq!(config.http.display_name.as_deref(), Some("Sở Nội vụ"));
}

#[test]
fn autoconfig_port_beyond_65535_is_refused() {
    assert_eq!(
        error("[http]\nimaps_port = 65536\n"),
        "test.toml:2: http.imaps_port: invalid value: integer `65536`, expected a whole number from 0 to 65535"
    );
    assert_eq!(
        error("[http]\nsubmission_port = -1\n"),
        "test.toml:2: http.submission_port: invalid value: integer `-1`, expected a whole number from 0 to 65535"
    );
}

#[test]
fn autoconfig_mail_hostname_must_be_a_host_name() {
    for bad in [
        "",
        "mail server.gov.vn",
        "mail..gov.vn",
        "-mail.gov.vn",
        "mail.gov.vn/x",
    ] {
        assert_eq!(
            error(&format!("[http]\nmail_hostname = {bad:?}\n")),
            format!(
                "test.toml:2: http.mail_hostname must be the host name mail clients connect to, of letters, digits, '-' and '.', such as \"mail.vinhphuc.gov.vn\", or unset to use server.hostname; got {bad:?}"
            )
        );
    }
    for good in [
        "mail.vinhphuc.gov.vn",
        "Mail-1.VinhPhuc.gov.vn",
        "203.0.113.25",
    ] {
        let config = load(&format!("[http]\nmail_hostname = {good:?}\n")).unwrap();
        assert_eq!(config.http.mail_hostname.as_deref(), Some(good));
    }
}

#[test]
fn autoconfig_display_name_must_be_printable() {
    // Each value as written in TOML, and the string it stands for.
    for (toml, value) in [
        (r#""""#, ""),
        (r#""  ""#, "  "),
        (r#""Sở\u0001Nội vụ""#, "Sở\u{1}Nội vụ"),
        (r#""Sở\nNội vụ""#, "Sở\nNội vụ"),
    ] {
        assert_eq!(
            error(&format!("[http]\ndisplay_name = {toml}\n")),
            format!(
                "test.toml:2: http.display_name must be a non-empty name without control characters, such as \"Thư công vụ tỉnh Vĩnh Phúc\", or unset to use server.primary_domain; got {value:?}"
            )
        );
    }
}

// ---- reading files -------------------------------------------------------------------

#[test]
fn load_reports_a_missing_file_by_path() {
    let err = Config::load(Path::new("/nonexistent/congvu.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/congvu.toml: cannot read: No such file or directory"
    );
}

#[test]
fn load_reads_the_file_and_names_it_in_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("congvu.toml");
    std::fs::write(
        &path,
        "[tls]\nself_signed = true\n[limits]\nmax_connections = 0\n",
    )
    .unwrap();
    let err = Config::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4: limits.max_connections must be between 1 and 1000000, got 0",
            path.display()
        )
    );
}

#[test]
fn the_portal_address_is_a_plain_http_or_https_url() {
    for good in [
        "https://mail.vinhphuc.gov.vn/",
        "https://mail.vinhphuc.gov.vn",
        "http://127.0.0.1:8025/",
        "https://portal.vinhphuc.gov.vn:8443/thu-cong-vu/",
    ] {
        let config = load(&format!("[http]\npublic_url = {good:?}\n")).unwrap();
        assert!(config.http.portal_url("x").ends_with('/'), "{good}");
    }
    for bad in [
        "mail.vinhphuc.gov.vn",
        "ftp://mail.vinhphuc.gov.vn/",
        "https://mail vinhphuc.gov.vn/",
        "https://mail.vinhphuc.gov.vn/?next=x",
        "https://mail.vinhphuc.gov.vn:0/",
        "https://mail.vinhphuc.gov.vn/\"><script>",
    ] {
        assert_eq!(
            error(&format!("[http]\npublic_url = {bad:?}\n")),
            format!(
                "test.toml:2: http.public_url must be the portal's address as officials type it, http:// or https:// and a host name, with an optional port and path and no query, such as \"https://mail.vinhphuc.gov.vn/\"; got {bad:?}"
            )
        );
    }
}

#[test]
fn portal_session_limits_and_deadlines_are_bounded() {
    assert_eq!(
        error("[http]\nsession_idle_minutes = 0\n"),
        "test.toml:2: http.session_idle_minutes must be between 1 and 1440, got 0"
    );
    assert_eq!(
        error("[http]\nsession_lifetime_hours = 169\n"),
        "test.toml:2: http.session_lifetime_hours must be between 1 and 168, got 169"
    );
    assert_eq!(
        error("[http]\nheader_timeout_seconds = 0\n"),
        "test.toml:2: http.header_timeout_seconds must be between 1 and 3600, got 0"
    );
    assert!(error("[auth]\ninitial_password_days = 0\n")
        .starts_with("test.toml:2: auth.initial_password_days"));
    assert_eq!(
        load("[auth]\ninitial_password_days = 365\n")
            .unwrap()
            .auth
            .initial_password_days,
        365
    );
}

#[test]
fn backups_are_off_until_a_directory_is_set_and_hours_may_be_fractions() {
    let config = load("").unwrap();
    assert_eq!(config.backup.dir, None);
    assert_eq!(
        config.backup.every_hours,
        std::time::Duration::from_secs(24 * 3600)
    );
    assert_eq!(config.backup.keep, 7);
    let config =
        load("[backup]\ndir = \"/var/backups/congvu\"\nevery_hours = 0.5\nkeep = 3\n").unwrap();
    assert_eq!(
        config.backup.dir.as_deref(),
        Some(Path::new("/var/backups/congvu"))
    );
    assert_eq!(
        config.backup.every_hours,
        std::time::Duration::from_secs(1800)
    );
    assert_eq!(config.backup.keep, 3);
    assert!(error("[backup]\nevery_hours = 0\n").contains("must be a number of hours above 0"));
    assert!(error("[backup]\nkeep = 0\n").contains("backup.keep"));
}
