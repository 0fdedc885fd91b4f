//! The OpenLDAP command-line tools against the server: `ldapsearch` over StartTLS (`-ZZ`) and
//! LDAPS, with paged results over a few hundred officials, `ldapwhoami`, and `ldappasswd`
//! changing an official's own password. The tools come from ldap-utils, which CI installs;
//! a machine without them fails these tests and says so.

use std::path::PathBuf;

use base64::Engine as _;
use congvu_tests::Backend;

use super::fixture::{bulk_login, person, Province, ACTIVE, ANNV, BASE, MAILAPP, NHUNG, PEOPLE};
use super::ldap_tests;

ldap_tests!(
    ldapsearch_reads_over_starttls_and_ldaps,
    ldapsearch_pages_through_every_official,
    ldapwhoami_names_the_bound_official,
    ldappasswd_changes_an_officials_own_password,
);

/// The path of an installed program; fails the test with what to install when missing.
fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: install ldap-utils (Debian/Ubuntu: apt-get install \
                 ldap-utils), which provides ldapsearch, ldapwhoami and ldappasswd; CI installs it"
            )
        })
}

/// How one run of a tool ended.
#[derive(Debug)]
struct ToolRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl ToolRun {
    #[track_caller]
    fn ok(self) -> ToolRun {
        assert_eq!(self.code, Some(0), "{self:?}");
        self
    }
}

/// Runs `name` with `args`, accepting the server's self-signed certificate, in an empty
/// home directory so that no user `.ldaprc` changes the outcome.
async fn run(p: &Province, name: &str, args: &[&str]) -> ToolRun {
    let program = tool(name);
    let home = p.db.dir.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(&program)
            .args(&args)
            .env("HOME", &home)
            .env("LDAPTLS_REQCERT", "never")
            .env_remove("LDAPURI")
            .env_remove("LDAPBASE")
            .env_remove("LDAPBINDDN")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        ToolRun {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// An LDIF entry: its DN and its (attribute, value) pairs, attribute names lowercased.
type LdifEntry = (String, Vec<(String, Vec<u8>)>);

/// The entries of an unwrapped LDIF text (`-LLL -o ldif_wrap=no`), base64 values decoded.
fn ldif(text: &str) -> Vec<LdifEntry> {
    let mut entries: Vec<LdifEntry> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("not an LDIF line: {line:?}"));
        let value = match value.strip_prefix(':') {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .unwrap_or_else(|e| panic!("{line:?}: {e}")),
            None => value.trim_start().as_bytes().to_vec(),
        };
        if name.eq_ignore_ascii_case("dn") {
            entries.push((String::from_utf8(value).unwrap(), Vec::new()));
        } else {
            entries
                .last_mut()
                .unwrap_or_else(|| panic!("an attribute before any dn: {line:?}"))
                .1
                .push((name.to_lowercase(), value));
        }
    }
    entries
}

fn value<'a>(attrs: &'a [(String, Vec<u8>)], name: &str) -> Vec<&'a [u8]> {
    attrs
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
        .collect()
}

async fn ldapsearch_reads_over_starttls_and_ldaps(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let plain = format!("ldap://{}", p.ldap_addr());
    let ldaps = format!("ldaps://{}", p.ldaps_addr());
    let dn = ANNV.dn();
    for (url, tls) in [(&plain, Some("-ZZ")), (&ldaps, None)] {
        let mut args = vec!["-x", "-LLL", "-o", "ldif_wrap=no", "-o", "nettimeout=10"];
        args.extend(tls);
        args.extend([
            "-H",
            url.as_str(),
            "-D",
            &dn,
            "-w",
            ANNV.password(),
            "-b",
            PEOPLE,
            "(cn=lê thị hồng nhung)",
            "cn",
            "mail",
            "title",
            "employeeNumber",
        ]);
        let found = run(&p, "ldapsearch", &args).await.ok();
        let entries = ldif(&found.stdout);
        assert_eq!(entries.len(), 1, "{url}: {found:?}");
        let (entry_dn, attrs) = &entries[0];
        assert_eq!(entry_dn.to_lowercase(), NHUNG.dn());
        assert_eq!(value(attrs, "cn"), ["Lê Thị Hồng Nhung".as_bytes()]);
        assert_eq!(
            value(attrs, "mail"),
            [b"nhunglth@vinhphuc.gov.vn".as_slice()]
        );
        assert_eq!(value(attrs, "title"), ["Phó Giám đốc".as_bytes()]);
        assert!(value(attrs, "employeenumber").is_empty(), "{attrs:?}");
    }

    // Without -ZZ the password is refused before it is checked.
    let clear = run(
        &p,
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-H",
            &plain,
            "-D",
            &dn,
            "-w",
            ANNV.password(),
            "-b",
            BASE,
            "(uid=annv)",
        ],
    )
    .await;
    assert_eq!(clear.code, Some(13), "{clear:?}");
    assert!(
        clear.stderr.contains("Confidentiality required"),
        "{clear:?}"
    );

    // The root DSE, anonymously and in the clear, as clients discover a server.
    let dse = run(
        &p,
        "ldapsearch",
        &["-x", "-LLL", "-H", &plain, "-s", "base", "-b", "", "+", "*"],
    )
    .await
    .ok();
    let entries = ldif(&dse.stdout);
    assert_eq!(entries.len(), 1, "{dse:?}");
    let naming: Vec<String> = value(&entries[0].1, "namingcontexts")
        .iter()
        .map(|v| String::from_utf8_lossy(v).to_lowercase())
        .collect();
    assert_eq!(naming, [BASE]);
}

async fn ldapsearch_pages_through_every_official(backend: Backend) {
    const BULK: usize = 300;
    let Some(p) = Province::start_with(backend, BULK, |c| c.ldap.size_limit = 100).await else {
        return;
    };
    let url = format!("ldap://{}", p.ldap_addr());
    let dn = MAILAPP.dn();
    let common = [
        "-x",
        "-ZZ",
        "-LLL",
        "-o",
        "ldif_wrap=no",
        "-H",
        &url,
        "-D",
        &dn,
        "-w",
        MAILAPP.password(),
        "-b",
        PEOPLE,
        "(objectClass=inetOrgPerson)",
        "uid",
    ];
    let paged = run(
        &p,
        "ldapsearch",
        &[&["-E", "pr=100/noprompt"][..], &common[..]].concat(),
    )
    .await
    .ok();
    let entries = ldif(&paged.stdout);
    assert_eq!(entries.len(), BULK + ACTIVE.len(), "{}", paged.stderr);
    let unique: std::collections::BTreeSet<String> =
        entries.iter().map(|(dn, _)| dn.to_lowercase()).collect();
    assert_eq!(unique.len(), entries.len(), "an entry came twice");
    assert!(unique.contains(&person(&bulk_login(0))));
    assert!(unique.contains(&person(&bulk_login(BULK - 1))));

    // Unpaged, the server's limit of 100 applies: exit status 4, sizeLimitExceeded.
    let unpaged = run(&p, "ldapsearch", &common).await;
    assert_eq!(unpaged.code, Some(4), "{unpaged:?}");
    assert_eq!(ldif(&unpaged.stdout).len(), 100);
}

async fn ldapwhoami_names_the_bound_official(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let url = format!("ldap://{}", p.ldap_addr());
    let dn = ANNV.dn();
    let bound = run(
        &p,
        "ldapwhoami",
        &["-x", "-ZZ", "-H", &url, "-D", &dn, "-w", ANNV.password()],
    )
    .await
    .ok();
    assert_eq!(bound.stdout.trim().to_lowercase(), format!("dn:{dn}"));
    let by_address = run(
        &p,
        "ldapwhoami",
        &[
            "-x",
            "-ZZ",
            "-H",
            &url,
            "-D",
            "an.nguyen@vinhphuc.gov.vn",
            "-w",
            ANNV.password(),
        ],
    )
    .await
    .ok();
    assert_eq!(by_address.stdout.trim().to_lowercase(), format!("dn:{dn}"));
    let anonymous = run(&p, "ldapwhoami", &["-x", "-ZZ", "-H", &url]).await.ok();
    assert_eq!(anonymous.stdout.trim(), "anonymous");
    let wrong = run(
        &p,
        "ldapwhoami",
        &["-x", "-ZZ", "-H", &url, "-D", &dn, "-w", "An-matkhau-2025"],
    )
    .await;
    assert_eq!(wrong.code, Some(49), "{wrong:?}");
    assert!(wrong.stderr.contains("Invalid credentials"), "{wrong:?}");
}

async fn ldappasswd_changes_an_officials_own_password(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let url = format!("ldap://{}", p.ldap_addr());
    let dn = ANNV.dn();
    let new = "Mat-khau-moi-thang-Chap-2027";
    let short = run(
        &p,
        "ldappasswd",
        &[
            "-x",
            "-ZZ",
            "-H",
            &url,
            "-D",
            &dn,
            "-w",
            ANNV.password(),
            "-a",
            ANNV.password(),
            "-s",
            "ngan",
        ],
    )
    .await;
    assert_ne!(short.code, Some(0), "{short:?}");
    assert!(
        short.stdout.contains("Constraint violation (19)"),
        "{short:?}"
    );
    run(
        &p,
        "ldappasswd",
        &[
            "-x",
            "-ZZ",
            "-H",
            &url,
            "-D",
            &dn,
            "-w",
            ANNV.password(),
            "-a",
            ANNV.password(),
            "-s",
            new,
        ],
    )
    .await
    .ok();
    let whoami = |password: &'static str| {
        let (url, dn) = (url.clone(), dn.clone());
        let p = &p;
        async move {
            run(
                p,
                "ldapwhoami",
                &["-x", "-ZZ", "-H", &url, "-D", &dn, "-w", password],
            )
            .await
        }
    };
    let with_new = whoami(new).await.ok();
    assert_eq!(with_new.stdout.trim().to_lowercase(), format!("dn:{dn}"));
    let with_old = whoami(ANNV.password()).await;
    assert_eq!(with_old.code, Some(49), "{with_old:?}");
}
