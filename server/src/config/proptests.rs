//! Property tests of configuration error locations: a generated file (sections in any order,
//! header or dotted form, comments, blank lines, multi-line arrays and strings) with exactly
//! one bad value (out of range, wrong type, unknown key, not TOML, a bad listen address in a
//! multi-line array, or an environment variable) is refused at the line of that value,
//! naming its key.
#![allow(
    clippy::unreachable,
    clippy::too_many_lines,
    reason = "property tests: a strategy that cannot yield a case says so"
)]

use proptest::prelude::*;

use super::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure is kept as a plain regression test, not as a file beside the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const ORIGIN: &str = "test.toml";

/// What a key holds, and so how it can be written well or badly.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A whole number with its valid range.
    Number(u64, u64),
    /// The host name, which must not hold spaces.
    Hostname,
    /// A listener list.
    Listen,
    /// A boolean.
    Flag,
}

/// Keys that do not depend on each other, so one bad value makes exactly one error.
const KEYS: &[(&str, &str, Kind)] = &[
    ("server", "hostname", Kind::Hostname),
    ("server", "shutdown_grace_seconds", Kind::Number(1, 3600)),
    ("database", "max_connections", Kind::Number(1, 1000)),
    ("database", "busy_timeout_ms", Kind::Number(1, 600_000)),
    ("smtp", "listen", Kind::Listen),
    ("smtp", "max_recipients", Kind::Number(1, 100_000)),
    ("smtp", "max_errors", Kind::Number(1, 1000)),
    ("smtp", "data_timeout_seconds", Kind::Number(10, 3600)),
    ("imap", "listen", Kind::Listen),
    ("imap", "max_command_bytes", Kind::Number(1024, 1024 * 1024)),
    ("ldap", "allow_anonymous_read", Kind::Flag),
    ("limits", "request_timeout_seconds", Kind::Number(1, 86_400)),
    ("auth", "argon2_iterations", Kind::Number(1, 100)),
    ("auth", "lockout_failures", Kind::Number(1, 1000)),
    ("auth", "hash_workers", Kind::Number(0, 256)),
    ("certificates", "expiry_warning_days", Kind::Number(1, 365)),
    (
        "certificates",
        "expiry_check_seconds",
        Kind::Number(60, 86_400),
    ),
];

/// How the one bad value is bad.
#[derive(Debug, Clone, Copy)]
enum Fault {
    OutOfRange,
    WrongType,
    UnknownKey,
    NotToml,
    /// In the environment instead of the file.
    Environment,
}

/// One `key = value` as written: its lines, and the line (from its first) the error must
/// name, if it is the bad one.
struct Written {
    lines: Vec<String>,
    error_line: usize,
    message: String,
}

/// Writes `key` of `section` well, with `style` choosing among equivalent spellings; the
/// first line starts with the key, for the caller to indent or prefix.
fn good(section: &str, key: &str, kind: Kind, style: u8) -> Written {
    let name = key;
    let lines = match kind {
        Kind::Number(low, high) => {
            let value = low + u64::from(style) * (high - low) / 255;
            vec![format!("{name} = {value}")]
        }
        Kind::Hostname if style % 2 == 0 => vec![format!("{name} = 'mail.vinhphuc.gov.vn'")],
        // The line break right after the opening quotes is not part of the string.
        Kind::Hostname => vec![
            format!("{name} = \"\"\""),
            "mail.vinhphuc.gov.vn\"\"\"".into(),
        ],
        Kind::Listen if style % 2 == 0 => vec![format!("{name} = \"127.0.0.1:0\"")],
        Kind::Listen => vec![
            format!("{name} = ["),
            "  \"127.0.0.1:0\", # any free port".into(),
            "  \"[::1]:0\",".into(),
            "]".into(),
        ],
        Kind::Flag => vec![format!("{name} = {}", style % 2 == 0)],
    };
    Written {
        lines,
        error_line: 0,
        message: format!("{section}.{key}"),
    }
}

/// Writes `key` of `section` with `fault` in it; the message is what the error must start
/// with.
fn bad(section: &str, key: &str, kind: Kind, fault: Fault, style: u8) -> Written {
    let path = format!("{section}.{key}");
    let name = key;
    let one = |line: String, message: String| Written {
        lines: vec![line],
        error_line: 0,
        message,
    };
    match (fault, kind) {
        (Fault::OutOfRange, Kind::Number(low, high)) => {
            let value = if low > 0 && style % 2 == 0 {
                low - 1
            } else {
                high + 1 + u64::from(style)
            };
            one(
                format!("{name} = {value}"),
                format!("{path} must be between {low} and {high}, got {value}"),
            )
        }
        (Fault::OutOfRange, Kind::Hostname) => one(
            format!("{name} = \"mail vinhphuc\""),
            format!("{path} must be a host name without spaces"),
        ),
        (Fault::OutOfRange, Kind::Listen) => Written {
            lines: vec![
                format!("{name} = ["),
                "  \"127.0.0.1:0\",".into(),
                "  \"127.0.0.1:70000\",".into(),
                "]".into(),
            ],
            error_line: 2,
            message: format!("{path}: \"127.0.0.1:70000\" is not a valid listen address"),
        },
        (Fault::OutOfRange | Fault::WrongType, Kind::Flag) => one(
            format!("{name} = \"yes\""),
            format!("{path}: invalid type: string \"yes\", expected a boolean"),
        ),
        (Fault::WrongType, Kind::Listen) => one(format!("{name} = 25"), format!("{path}: ")),
        (Fault::WrongType, Kind::Hostname) => one(
            format!("{name} = 25"),
            format!("{path}: invalid type: integer `25`"),
        ),
        (Fault::WrongType, _) => one(
            format!("{name} = \"many\""),
            format!("{path}: invalid type: string \"many\""),
        ),
        (Fault::UnknownKey, _) => {
            let good = good(section, key, kind, style);
            let mut lines = good.lines;
            lines[0] = lines[0].replacen(key, &format!("{key}x"), 1);
            Written {
                lines,
                error_line: 0,
                message: format!("unknown key `{key}x` in [{section}]; valid keys: "),
            }
        }
        (Fault::NotToml, _) => one(format!("{name} = many things"), "invalid TOML: ".into()),
        (Fault::Environment, _) => unreachable!("written into the environment"),
    }
}

/// A generated file and the error it must be refused with.
#[derive(Debug)]
struct Case {
    text: String,
    env: Vec<(String, String)>,
    location: String,
    message: String,
}

/// Filler before a line: nothing, blank lines, comments.
const FILLER: &[&str] = &[
    "",
    "",
    "\n",
    "# comment\n",
    "\n# Vietnamese: cấu hình\n\n",
    "   \n",
];

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::subsequence((0..KEYS.len()).collect::<Vec<_>>(), 1..8).prop_shuffle(),
        any::<prop::sample::Index>(),
        prop::sample::select(
            &[
                Fault::OutOfRange,
                Fault::WrongType,
                Fault::UnknownKey,
                Fault::NotToml,
                Fault::Environment,
            ][..],
        ),
        prop::collection::vec(
            (any::<u8>(), prop::sample::select(FILLER), any::<bool>()),
            8,
        ),
        any::<u64>(),
    )
        .prop_map(|(keys, bad_at, fault, styles, section_choice)| {
            build(
                &keys,
                bad_at.index(keys.len()),
                fault,
                &styles,
                section_choice,
            )
        })
}

/// A value for `section.key` that breaks its rule, set through the environment: the
/// variable, its value and the message expected.
fn bad_environment(section: &str, key: &str, kind: Kind) -> (String, String, String) {
    let name = format!("CONGVU_{}__{}", section.to_uppercase(), key.to_uppercase());
    let (value, expected) = match kind {
        Kind::Number(low, high) => (
            format!("{}", high + 1),
            format!(
                "{section}.{key} must be between {low} and {high}, got {}",
                high + 1
            ),
        ),
        Kind::Hostname => (
            "mail vinhphuc".into(),
            format!("{section}.{key} must be a host name without spaces"),
        ),
        Kind::Listen => (
            "127.0.0.1".into(),
            format!("{section}.{key}: \"127.0.0.1\" is not a valid listen address"),
        ),
        Kind::Flag => (
            "yes".into(),
            format!("{section}.{key}: invalid type: string \"yes\", expected a boolean"),
        ),
    };
    (name, value, expected)
}

/// Lays out `keys` (indices into [`KEYS`]) by section, the one at `bad_at` bad.
fn build(
    keys: &[usize],
    bad_at: usize,
    fault: Fault,
    styles: &[(u8, &str, bool)],
    choice: u64,
) -> Case {
    // Sections in the order their first key was drawn; some written as dotted keys at the
    // top, before any header (TOML allows them nowhere else).
    let mut sections: Vec<&str> = Vec::new();
    for &k in keys {
        if !sections.contains(&KEYS[k].0) {
            sections.push(KEYS[k].0);
        }
    }
    sections.push("tls");
    let dotted = |i: usize| choice >> i & 1 == 1 && sections[i] != "tls";
    let order: Vec<usize> = (0..sections.len())
        .filter(|&i| dotted(i))
        .chain((0..sections.len()).filter(|&i| !dotted(i)))
        .collect();
    let mut text = String::new();
    let mut env = Vec::new();
    let mut location = String::new();
    let mut message = String::new();
    for (n, &i) in order.iter().enumerate() {
        let section = sections[i];
        let (_, filler, indented) = styles[n % styles.len()];
        text.push_str(filler);
        if !dotted(i) {
            text.push_str(&format!("[{section}]\n"));
        }
        if section == "tls" {
            text.push_str("self_signed = true # development\n");
        }
        for (j, &k) in keys
            .iter()
            .enumerate()
            .filter(|(_, &k)| KEYS[k].0 == section)
        {
            let (_, key, kind) = KEYS[k];
            let (style, filler, _) = styles[j % styles.len()];
            text.push_str(filler);
            let indent = if indented { "  " } else { "" };
            let prefix = if dotted(i) {
                format!("{section}.")
            } else {
                String::new()
            };
            let written = if j == bad_at && !matches!(fault, Fault::Environment) {
                let written = bad(section, key, kind, fault, style);
                let line = text.matches('\n').count() + 1 + written.error_line;
                location = format!("{ORIGIN}:{line}");
                message = written.message.clone();
                written
            } else {
                if j == bad_at {
                    let (name, value, expected) = bad_environment(section, key, kind);
                    location = format!("environment {name}");
                    message = expected;
                    env.push((name, value));
                }
                good(section, key, kind, style)
            };
            let mut lines = written.lines.into_iter();
            if let Some(first) = lines.next() {
                text.push_str(&format!("{indent}{prefix}{first}\n"));
            }
            for line in lines {
                text.push_str(&format!("{line}\n"));
            }
        }
    }
    Case {
        text,
        env,
        location,
        message,
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The error names the line of the bad value (or the variable that set it) and its key.
    #[test]
    fn the_error_points_at_the_bad_value(case in case()) {
        let result = Config::from_toml(&case.text, ORIGIN, case.env.clone());
        let err = match result {
            Ok(_) => {
                prop_assert!(false, "accepted:\n{}", case.text);
                unreachable!()
            }
            Err(err) => err,
        };
        prop_assert_eq!(&err.location, &case.location, "{}\n{}", err, case.text);
        prop_assert!(err.message.starts_with(&case.message), "{}\nexpected {}\n{}", err, case.message, case.text);
    }

    /// The same file without its fault loads.
    #[test]
    fn the_file_without_its_fault_loads(
        keys in prop::sample::subsequence((0..KEYS.len()).collect::<Vec<_>>(), 1..8).prop_shuffle(),
        styles in prop::collection::vec((any::<u8>(), prop::sample::select(FILLER), any::<bool>()), 8),
        choice in any::<u64>(),
    ) {
        // A fault in the environment, with the environment left out, is a file without one.
        let case = build(&keys, 0, Fault::Environment, &styles, choice);
        let result = Config::from_toml(&case.text, ORIGIN, Vec::new());
        prop_assert!(result.is_ok(), "{:?}\n{}", result, case.text);
    }
}
