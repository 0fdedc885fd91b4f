//! `congvu-admin migrate ldif` with exports from a real `slapcat`: a private OpenLDAP database
//! holding officials with Vietnamese names (base64 in the export), long folded values,
//! aliases, nested groups and password hashes made by slappasswd, mkpasswd and Python; then
//! every scheme signs in over IMAP and LDAP, is stored as argon2id afterwards, refuses a wrong
//! password in about the time a native account takes, and is never served or exported.
//! Broken exports are reported by line and write nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use congvu::config::Config;
use congvu::directory::{Directory, PasswordCost, PasswordHasher, StoredPassword};
use congvu::net::ListenerKind;
use congvu::server::RunningServer;
use congvu_tests::imap::{login_session, RawImap};
use congvu_tests::ldap::{self as ldap_kit, Transport};
use congvu_tests::slapd::{self, Slapd, SUFFIX};
use congvu_tests::{Backend, TestDb};
use ldap3::Scope;

use crate::admin::{json_of, AdminCli, AdminRun};
use crate::backend_tests;

backend_tests!(
    every_scheme_signs_in_over_imap_and_ldap_then_is_argon2id,
    a_wrong_password_costs_a_carried_hash_what_it_costs_argon2id,
    a_broken_export_is_reported_by_line_and_writes_nothing,
    passwords_that_cannot_be_carried_get_initial_ones,
);

/// The LDAP base of the test server, where migrated officials appear.
const PEOPLE: &str = "ou=people,dc=vinhphuc,dc=gov,dc=vn";
const STC: &str = "Sở Tài chính";
const SXD: &str = "Sở Xây dựng";

/// An official of the old directory: login, OU, full name (family first), password hash.
struct Old {
    login: String,
    ou: &'static str,
    name: &'static str,
    hash: String,
    extra: String,
}

impl Old {
    fn new(login: &str, ou: &'static str, name: &'static str, hash: String) -> Old {
        Old {
            login: login.into(),
            ou,
            name,
            hash,
            extra: String::new(),
        }
    }

    /// The entry as an administrator of the old directory wrote it.
    fn ldif(&self) -> String {
        let (family, given) = (
            self.name.split(' ').next().unwrap(),
            self.name.rsplit(' ').next().unwrap(),
        );
        format!(
            "dn: uid={login},ou={ou},{SUFFIX}\n\
             objectClass: inetOrgPerson\n\
             objectClass: mailRecipient\n\
             uid: {login}\n\
             cn: {name}\n\
             sn: {family}\n\
             givenName: {given}\n\
             mail: {login}@vinhphuc.gov.vn\n\
             title: Chuyên viên phòng Kế hoạch - Tài chính, phụ trách theo dõi ngân sách các xã\n\
             telephoneNumber: 0211 3862 {n:03}\n\
             userPassword: {hash}\n{extra}\n",
            login = self.login,
            ou = self.ou,
            name = self.name,
            n = self.login.len(),
            hash = self.hash,
            extra = self.extra,
        )
    }
}

/// The password of `login`: ASCII, so that IMAP LOGIN can carry it as a quoted string.
fn password(login: &str) -> String {
    format!("Mk-{login}-2024!")
}

const NAMES: [&str; 4] = [
    "Nguyễn Văn An",
    "Lê Thị Hồng Nhung",
    "Đỗ Đức Anh",
    "Đặng Thị Thu Hà",
];

/// Makes a password's hash with one of the real tools.
type HashMaker = fn(&str) -> String;

/// One hash per scheme congvu carries, each made by the tool that writes it, as (name of
/// the test's officials, scheme as the plan names it, maker).
fn schemes() -> Vec<(&'static str, &'static str, HashMaker)> {
    vec![
        ("ssha", "{SSHA}", |p| slapd::slappasswd("{SSHA}", None, p)),
        ("sha", "{SHA}", |p| slapd::slappasswd("{SHA}", None, p)),
        ("ssha256", "{SSHA256}", |p| {
            slapd::slappasswd("{SSHA256}", Some("pw-sha2"), p)
        }),
        ("ssha512", "{SSHA512}", |p| {
            slapd::slappasswd("{SSHA512}", Some("pw-sha2"), p)
        }),
        ("argon2", "{ARGON2}", |p| {
            slapd::slappasswd("{ARGON2}", Some("argon2"), p)
        }),
        ("crypt6", "{CRYPT} $6$", |p| {
            slapd::slappasswd("{CRYPT}$6$%.16s", None, p)
        }),
        ("sha512crypt", "{CRYPT} $6$", |p| {
            slapd::mkpasswd("sha-512", p)
        }),
        ("sha256crypt", "{CRYPT} $5$", |p| {
            slapd::mkpasswd("sha-256", p)
        }),
        ("md5crypt", "{CRYPT} $1$", |p| {
            slapd::mkpasswd("md5crypt", p)
        }),
        ("bcrypt", "{CRYPT} $2b$", |p| slapd::mkpasswd("bcrypt", p)),
        ("bcrypt2a", "{CRYPT} $2a$", |p| {
            slapd::mkpasswd("bcrypt-a", p)
        }),
        ("bcrypt2y", "{CRYPT} $2y$", slapd::python_bcrypt_2y),
        ("pbkdf2", "{PBKDF2-SHA1}", |p| {
            slapd::slappasswd("{PBKDF2-SHA1}", Some("pw-pbkdf2"), p)
        }),
        ("pbkdf2sha256", "{PBKDF2-SHA256}", |p| {
            slapd::slappasswd("{PBKDF2-SHA256}", Some("pw-pbkdf2"), p)
        }),
        ("pbkdf2sha512", "{PBKDF2-SHA512}", |p| {
            slapd::slappasswd("{PBKDF2-SHA512}", Some("pw-pbkdf2"), p)
        }),
        ("ds389sha256", "{PBKDF2_SHA256}", |p| {
            slapd::ds389_pbkdf2_sha256(2_048, p)
        }),
        ("ds389sha512", "{PBKDF2-SHA512}", |p| {
            slapd::ds389_pbkdf2_sha512(10_000, p)
        }),
    ]
}

/// The base of every export: the suffix, the two departments, and the groups' OU.
fn base_ldif() -> String {
    format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: UBND tỉnh Vĩnh Phúc\ndc: vinhphuc\n\n\
         dn: ou={STC},{SUFFIX}\nobjectClass: organizationalUnit\nou: {STC}\n\n\
         dn: ou={SXD},{SUFFIX}\nobjectClass: organizationalUnit\nou: {SXD}\n\n\
         dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n\n"
    )
}

/// A test database with the province, the two departments of the export, and a map.
async fn setup(backend: Backend) -> Option<(TestDb, AdminCli, PathBuf)> {
    let db = TestDb::new(backend).await?;
    let cli = AdminCli::new(&db).with_province();
    for (code, name) in [("stc", STC), ("sxd", SXD)] {
        cli.run(&[
            "agency",
            "add",
            code,
            "--name",
            name,
            "--level",
            "department",
            "--parent",
            "vinhphuc",
        ])
        .ok();
    }
    let map = cli.dir.join("map.csv");
    std::fs::write(&map, format!("source,agency\n{STC},stc\n{SXD},sxd\n")).unwrap();
    Some((db, cli, map))
}

/// Builds the old directory from `ldif` and exports it with slapcat to `export.ldif`.
fn export(cli: &AdminCli, ldif: &str) -> PathBuf {
    let old = Slapd::new();
    old.add(ldif);
    let path = cli.dir.join("export.ldif");
    old.export_to(&path);
    path
}

fn migrate(cli: &AdminCli, export: &Path, map: &Path, extra: &[&str]) -> AdminRun {
    run_migrate(cli, &[], export, map, extra)
}

fn migrate_json(cli: &AdminCli, export: &Path, map: &Path, extra: &[&str]) -> AdminRun {
    run_migrate(cli, &["--json"], export, map, extra)
}

fn run_migrate(
    cli: &AdminCli,
    global: &[&str],
    export: &Path,
    map: &Path,
    extra: &[&str],
) -> AdminRun {
    let mut args = global.to_vec();
    args.extend([
        "migrate",
        "ldif",
        export.to_str().unwrap(),
        "--agency-from",
        "ou",
        "--map",
        map.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    cli.run(&args)
}

async fn directory(db: &TestDb) -> Directory {
    crate::import::directory(db).await
}

async fn stored(directory: &Directory, login: &str) -> StoredPassword {
    directory.official(login).await.unwrap().password.unwrap()
}

/// The server for `db`, with the lockout set high enough for a test that fails on purpose.
async fn server(db: &TestDb) -> (RunningServer, Config) {
    let mut config = congvu_tests::server::test_config(db);
    config.auth.lockout_failures = 1000;
    config.auth.lockout_source_failures = 100_000;
    let server = RunningServer::start(&config).await.unwrap();
    (server, config)
}

/// A simple bind over StartTLS; the result code.
async fn ldap_bind(server: &RunningServer, login: &str, password: &str) -> u32 {
    let addr = server.local_addr(ListenerKind::Ldap).unwrap();
    let mut ldap = ldap_kit::connect(addr, Transport::StartTls).await;
    let dn = format!("uid={login},{PEOPLE}");
    let rc = ldap_kit::bind(&mut ldap, &dn, password).await.rc;
    let _ = ldap.unbind().await;
    rc
}

/// IMAP LOGIN over implicit TLS with a wrong password: the tagged answer.
async fn imap_refused(server: &RunningServer, db: &TestDb, login: &str) -> String {
    let addr = server.local_addr(ListenerKind::Imaps).unwrap();
    let (mut imap, _) = RawImap::connect_tls(addr, db).await;
    let lines = imap
        .command("a1", &format!("LOGIN {login} \"not-the-password\""))
        .await;
    lines.last().unwrap().clone()
}

async fn every_scheme_signs_in_over_imap_and_ldap_then_is_argon2id(backend: Backend) {
    let Some((db, cli, map)) = setup(backend).await else {
        return;
    };
    let old = scheme_officials();
    let export = export(&cli, &scheme_ldif(&old));
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(text.contains("dn:: ") && text.contains("\n ") && text.contains("entryCSN:"));
    let directory = directory(&db).await;
    dry_run_plans_every_scheme(&cli, &export, &map, &old, &directory).await;

    let run = migrate(&cli, &export, &map, &[]).ok();
    let migrated = format!("Migrated {}: {} officials", export.display(), old.len());
    assert!(run.stdout.contains(&migrated), "{}", run.stdout);
    for o in &old {
        assert!(!run.stdout.contains(&o.hash) && !run.stderr.contains(&o.hash));
        let p = stored(&directory, &o.login).await;
        assert_eq!(
            (p.cost, p.must_change, &p.hash.0),
            (PasswordCost::Legacy, false, &o.hash)
        );
    }
    kept_as_they_were(&directory).await;
    assert!(not_exported(&cli, &directory, &old).await);
    let again = migrate(&cli, &export, &map, &[]).ok();
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );

    let (server, config) = server(&db).await;
    sign_in_with_every_scheme(&server, &config, &db, &directory, &old).await;
    // Signed in again, over the other protocol, with the argon2id hash.
    assert_eq!(ldap_bind(&server, "ssha.i", &password("ssha.i")).await, 0);
    let imaps = server.local_addr(ListenerKind::Imaps).unwrap();
    let mut session = login_session(imaps, &db, "md5crypt.l", &password("md5crypt.l")).await;
    session.logout().await.unwrap();
    // Another run of the export after the sign-ins leaves their new hashes alone.
    migrate(&cli, &export, &map, &[]).ok();
    assert_eq!(stored(&directory, "ssha.i").await.cost, PasswordCost::Full);
    server.stop().await;
}

/// Two officials per scheme: `NAME.i` signs in first over IMAP, `NAME.l` over LDAP.
fn scheme_officials() -> Vec<Old> {
    let mut old = Vec::new();
    for (i, (name, _, make)) in schemes().iter().enumerate() {
        for (side, ou) in [("i", STC), ("l", SXD)] {
            let login = format!("{name}.{side}");
            let hash = make(&password(&login));
            old.push(Old::new(&login, ou, NAMES[i % NAMES.len()], hash));
        }
    }
    old[0].extra =
        "mail: ssha.second@vinhphuc.gov.vn\nmailAlternateAddress: an.nguyen@vinhphuc.gov.vn\n"
            .into();
    old
}

/// The old directory: the officials, a list nesting a group of unique names, and a POSIX
/// group.
fn scheme_ldif(old: &[Old]) -> String {
    let mut ldif = base_ldif();
    for o in old {
        ldif.push_str(&o.ldif());
    }
    ldif.push_str(&format!(
        "dn: cn=Ban Giám đốc,ou=groups,{SUFFIX}\nobjectClass: groupOfUniqueNames\ncn: Ban Giám đốc\n\
         uniqueMember: uid=ssha.i,ou={STC},{SUFFIX}#'0101'B\n\n\
         dn: cn=Lãnh đạo Sở Tài chính,ou={STC},{SUFFIX}\nobjectClass: groupOfNames\nobjectClass: mailRecipient\n\
         cn: Lãnh đạo Sở Tài chính\nmail: lanhdao.stc@vinhphuc.gov.vn\n\
         member: UID=SHA.I, OU={STC},{SUFFIX}\nmember: cn=Ban Giám đốc,ou=groups,{SUFFIX}\n\n\
         dn: cn=canbo,ou=groups,{SUFFIX}\nobjectClass: posixGroup\ncn: canbo\ngidNumber: 5000\n\
         memberUid: md5crypt.i\nmemberUid: argon2.l\n\n"
    ));
    ldif
}

/// The dry run shows every official with the scheme carried, never a hash, and writes
/// nothing.
async fn dry_run_plans_every_scheme(
    cli: &AdminCli,
    export: &Path,
    map: &Path,
    old: &[Old],
    directory: &Directory,
) {
    let dry = json_of(&migrate_json(cli, export, map, &["--dry-run"]).ok());
    let planned = dry["officials"].as_array().unwrap();
    assert_eq!(planned.len(), old.len(), "{dry:#}");
    let carried = schemes().into_iter().flat_map(|s| [s.1, s.1]);
    for (o, scheme) in old.iter().zip(carried) {
        let p = planned
            .iter()
            .find(|p| p["login"] == o.login.as_str())
            .unwrap();
        assert_eq!(p["password"]["carried"], scheme, "{}", o.login);
        assert!(!dry.to_string().contains(&o.hash));
    }
    assert_eq!(dry["rejected"], serde_json::json!([]));
    assert_eq!(dry["groups"].as_array().unwrap().len(), 3, "{dry:#}");
    assert!(directory
        .officials_in_agency("stc")
        .await
        .unwrap()
        .is_empty());
}

/// Names, long titles, aliases and nested groups as the old directory had them.
async fn kept_as_they_were(directory: &Directory) {
    let an = directory.official("ssha.i").await.unwrap();
    assert_eq!(an.name.full(), "Nguyễn Văn An");
    assert_eq!(
        an.title.as_deref(),
        Some("Chuyên viên phòng Kế hoạch - Tài chính, phụ trách theo dõi ngân sách các xã")
    );
    assert_eq!(
        directory.addresses_of_official("ssha.i").await.unwrap(),
        [
            "ssha.i@vinhphuc.gov.vn",
            "an.nguyen@vinhphuc.gov.vn",
            "ssha.second@vinhphuc.gov.vn"
        ]
    );
    let logins = |officials: Vec<congvu::directory::Official>| -> Vec<String> {
        officials.into_iter().map(|o| o.login).collect()
    };
    let lanhdao = directory
        .expand_group("lanh-dao-so-tai-chinh")
        .await
        .unwrap();
    assert_eq!(logins(lanhdao), ["ssha.i", "sha.i"]);
    let canbo = directory.expand_group("canbo").await.unwrap();
    assert_eq!(logins(canbo), ["argon2.l", "md5crypt.i"]);
    let list = directory
        .official_by_address("lanhdao.stc@vinhphuc.gov.vn")
        .await
        .unwrap();
    assert!(
        list.is_none(),
        "the list's address belongs to the list, not an official"
    );
}

/// Each official refuses a wrong password (keeping the old hash), then lets the right one
/// in, over IMAP or LDAP, after which the old hash is gone and an argon2id one at the
/// server's cost verifies the same password.
async fn sign_in_with_every_scheme(
    server: &RunningServer,
    config: &Config,
    db: &TestDb,
    directory: &Directory,
    old: &[Old],
) {
    let hasher = PasswordHasher::from_config(&config.auth);
    let imaps = server.local_addr(ListenerKind::Imaps).unwrap();
    for o in old {
        let (login, pw) = (o.login.as_str(), password(&o.login));
        if login.ends_with(".i") {
            let refused = imap_refused(server, db, login).await;
            assert!(refused.starts_with("a1 NO"), "{login}: {refused}");
            assert_eq!(stored(directory, login).await.cost, PasswordCost::Legacy);
            let mut session = login_session(imaps, db, login, &pw).await;
            session.logout().await.unwrap();
        } else {
            assert_eq!(
                ldap_bind(server, login, "not-the-password").await,
                49,
                "{login}"
            );
            assert_eq!(stored(directory, login).await.cost, PasswordCost::Legacy);
            assert_eq!(ldap_bind(server, login, &pw).await, 0, "{login}");
        }
        let p = stored(directory, login).await;
        assert_eq!(
            (p.cost, p.must_change),
            (PasswordCost::Full, false),
            "{login}"
        );
        assert!(
            p.hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{login}"
        );
        assert!(hasher.verify(&pw, &p.hash), "{login}");
    }
}

/// No userPassword over LDAP, in `user show`, `user export` or the audit log, while the
/// officials still have their carried hashes.
async fn not_exported(cli: &AdminCli, directory: &Directory, old: &[Old]) -> bool {
    let show = cli.run(&["--json", "user", "show", "ssha.i"]).ok();
    let export = cli.run(&["user", "export", "--agency", "stc"]).ok();
    let json_export = cli
        .run(&["--json", "user", "export", "--agency", "sxd"])
        .ok();
    let audit = directory.audit_log(None).await.unwrap();
    let audit_text = format!("{audit:?}");
    for o in old {
        for (what, text) in [
            ("user show", &show.stdout),
            ("user export", &export.stdout),
            ("user export --json", &json_export.stdout),
            ("the audit log", &audit_text),
        ] {
            assert!(!text.contains(&o.hash), "{what} shows {}'s hash", o.login);
        }
    }
    assert!(
        export.stdout.contains("ssha.i@vinhphuc.gov.vn"),
        "{}",
        export.stdout
    );
    let debug = format!("{:?}", directory.official("ssha.i").await.unwrap());
    assert!(!debug.contains(&old[0].hash), "{debug}");
    true
}

/// No `userPassword` comes back over LDAP, even to the official, asking for every attribute.
async fn user_password_is_not_served(server: &RunningServer, login: &str) {
    let addr = server.local_addr(ListenerKind::Ldap).unwrap();
    let mut ldap = ldap_kit::connect(addr, Transport::StartTls).await;
    let dn = format!("uid={login},{PEOPLE}");
    assert_eq!(ldap_kit::bind(&mut ldap, &dn, &password(login)).await.rc, 0);
    let (entries, result) = ldap_kit::search(
        &mut ldap,
        &dn,
        Scope::Base,
        "(objectClass=*)",
        &["*", "+", "userPassword"],
    )
    .await;
    assert_eq!(result.rc, 0);
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0].has("mail") && !entries[0].has("userPassword"),
        "{:?}",
        entries[0].names()
    );
    let (found, _) = ldap_kit::search(
        &mut ldap,
        PEOPLE,
        Scope::Subtree,
        "(userPassword=*)",
        &["uid"],
    )
    .await;
    assert!(found.is_empty(), "a filter on userPassword matched");
}

/// A wrong password against a carried hash is checked against the decoy argon2id hash as
/// well, so it takes about as long as against an argon2id hash or for a name nobody has:
/// timing does not tell which accounts still have an old hash. (A scheme dearer than the
/// argon2id check adds its own cost on top, which `migrate ldif` bounds.)
async fn a_wrong_password_costs_a_carried_hash_what_it_costs_argon2id(backend: Backend) {
    let Some((db, cli, map)) = setup(backend).await else {
        return;
    };
    let accounts = [
        Old::new(
            "native",
            STC,
            NAMES[0],
            slapd::slappasswd("{SSHA}", None, &password("native")),
        ),
        Old::new(
            "ssha",
            STC,
            NAMES[1],
            slapd::slappasswd("{SSHA}", None, &password("ssha")),
        ),
        Old::new(
            "pbkdf2",
            SXD,
            NAMES[2],
            // Few iterations: in this unoptimized test build PBKDF2 itself is slow, and what
            // is measured is that the decoy check runs, not how fast PBKDF2 is.
            slapd::openldap_pbkdf2("sha256", 1_000, &password("pbkdf2")),
        ),
        Old::new(
            "crypt",
            SXD,
            NAMES[3],
            slapd::mkpasswd("sha-512", &password("crypt")),
        ),
    ];
    let mut ldif = base_ldif();
    for a in &accounts {
        ldif.push_str(&a.ldif());
    }
    let export = export(&cli, &ldif);
    migrate(&cli, &export, &map, &[]).ok();
    let (server, _) = server(&db).await;
    // `native` signs in once: from then on it has an argon2id hash at the server's cost.
    assert_eq!(ldap_bind(&server, "native", &password("native")).await, 0);
    let directory = directory(&db).await;
    assert_eq!(stored(&directory, "native").await.cost, PasswordCost::Full);
    user_password_is_not_served(&server, "native").await;

    let logins = ["native", "ssha", "pbkdf2", "crypt", "nobody"];
    let quickest = quickest_wrong_binds(&server, &logins, 12).await;
    let native = quickest[0].as_secs_f64();
    for (login, m) in logins.iter().zip(&quickest).skip(1) {
        let ratio = m.as_secs_f64() / native;
        // Without the decoy check the ratio is about 0.05; the band is wide so that a loaded
        // CI machine cannot push an honest answer out of it.
        assert!(
            (0.3..=3.0).contains(&ratio),
            "a wrong password for {login} took {m:?}, for native {:?} (ratio {ratio:.2}); all: {quickest:?}",
            quickest[0]
        );
    }
    // Wrong passwords replaced nothing.
    for login in ["ssha", "pbkdf2", "crypt"] {
        assert_eq!(stored(&directory, login).await.cost, PasswordCost::Legacy);
    }
    server.stop().await;
}

/// The quickest refusal of a wrong password for each login over `rounds` LDAP binds,
/// interleaved so that load from other tests falls on all alike. Such load only ever adds
/// time, so the minimum is the answer's own cost; without the decoy check, a carried hash
/// would answer in a small fraction of the argon2id time.
async fn quickest_wrong_binds(
    server: &RunningServer,
    logins: &[&str],
    rounds: usize,
) -> Vec<Duration> {
    let mut quickest = vec![Duration::MAX; logins.len()];
    let addr = server.local_addr(ListenerKind::Ldap).unwrap();
    for _ in 0..rounds {
        for (login, best) in logins.iter().zip(&mut quickest) {
            let mut ldap = ldap_kit::connect(addr, Transport::StartTls).await;
            let dn = format!("uid={login},{PEOPLE}");
            let started = Instant::now();
            let rc = ldap_kit::bind(&mut ldap, &dn, "wrong-password").await.rc;
            *best = (*best).min(started.elapsed());
            assert_eq!(rc, 49, "{login}");
            let _ = ldap.unbind().await;
        }
    }
    quickest
}

async fn a_broken_export_is_reported_by_line_and_writes_nothing(backend: Backend) {
    let Some((db, cli, map)) = setup(backend).await else {
        return;
    };
    let (path, lines, title) = broken_export(&cli);
    let dns = entry_lines(&lines);
    let line_of = |needle: &str| {
        dns.iter()
            .find(|(_, dn)| dn.contains(needle))
            .map(|(line, _)| *line)
            .unwrap_or_else(|| panic!("no entry {needle}"))
    };
    let run = migrate(&cli, &path, &map, &[]);
    let file = path.display().to_string();
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let cycle = format!(
        "the groups nhom-a (line {}), nhom-b (line {}) contain each other",
        line_of("cn=nhom-a"),
        line_of("cn=nhom-b")
    );
    let expected = [
        (title, "the base64 value of title is broken"),
        (line_of("uid=binhtt"), "\"Phòng Nội vụ\", which"),
        (
            line_of("uid=thuy"),
            "old-mail.vinhphuc.vn, a domain congvu does not serve",
        ),
        (line_of("cn=nhom-a"), cycle.as_str()),
        (line_of("cn=nhom-b"), cycle.as_str()),
    ];
    let rejected: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains(": rejected: "))
        .collect();
    assert_eq!(rejected.len(), expected.len(), "{}", run.stdout);
    for (line, reason) in expected {
        let prefix = format!("{file}:{line}: rejected: ");
        assert!(
            rejected
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(reason)),
            "no {prefix}…{reason}… in:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stderr
            .contains("5 entries rejected, nothing was migrated"),
        "{}",
        run.stderr
    );
    let directory = directory(&db).await;
    assert!(directory
        .officials_in_agency("stc")
        .await
        .unwrap()
        .is_empty());
    assert!(directory.groups().await.unwrap().is_empty());

    // Asked to go on, it migrates the rest: nhom-c without nhom-a, which it notes.
    let run = migrate(&cli, &path, &map, &["--continue-on-error"]).ok();
    let logins = |officials: Vec<congvu::directory::Official>| -> Vec<String> {
        officials.into_iter().map(|o| o.login).collect()
    };
    assert_eq!(
        logins(directory.officials_in_agency("stc").await.unwrap()),
        ["annv", "hanh"]
    );
    let groups: Vec<String> = directory
        .groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(groups, ["nhom-c"]);
    assert_eq!(
        logins(directory.expand_group("nhom-c").await.unwrap()),
        ["hanh"]
    );
    let note = format!(
        "{file}:{}: note: group nhom-c: its member nhom-a (line {}) was not migrated",
        line_of("cn=nhom-c"),
        line_of("cn=nhom-a")
    );
    assert!(run.stdout.contains(&note), "{}", run.stdout);
}

/// A slapcat export with an official in an OU the map lacks, one whose address is in a
/// domain congvu does not serve, two groups containing each other and a third containing
/// one of them, and then broken by hand: the base64 of hongnt's title is cut, as a hand edit
/// or a truncated copy does. Returns the file, its lines, and the broken line's number.
fn broken_export(cli: &AdminCli) -> (PathBuf, Vec<String>, usize) {
    let good = |login: &str, ou| {
        let hash = slapd::slappasswd("{SSHA}", None, &password(login));
        Old::new(login, ou, NAMES[0], hash)
    };
    let mut ldif = base_ldif();
    ldif.push_str(&format!(
        "dn: ou=Phòng Nội vụ,{SUFFIX}\nobjectClass: organizationalUnit\nou: Phòng Nội vụ\n\n"
    ));
    let mut foreign = good("thuy", STC);
    foreign.extra = "mail: thuy@old-mail.vinhphuc.vn\n".into();
    for o in [
        good("annv", STC),
        good("hongnt", SXD),
        good("binhtt", "Phòng Nội vụ"),
        good("hanh", STC),
    ] {
        ldif.push_str(&o.ldif());
    }
    ldif.push_str(&foreign.ldif().replace("mail: thuy@vinhphuc.gov.vn\n", ""));
    ldif.push_str(&format!(
        "dn: cn=nhom-a,ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: nhom-a\n\
         member: cn=nhom-b,ou=groups,{SUFFIX}\nmember: uid=annv,ou={STC},{SUFFIX}\n\n\
         dn: cn=nhom-b,ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: nhom-b\n\
         member: cn=nhom-a,ou=groups,{SUFFIX}\n\n\
         dn: cn=nhom-c,ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: nhom-c\n\
         member: cn=nhom-a,ou=groups,{SUFFIX}\nmember: uid=hanh,ou={STC},{SUFFIX}\n\n"
    ));
    let path = export(cli, &ldif);
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let uid = lines.iter().position(|l| l == "uid: hongnt").unwrap();
    let title = uid
        + lines[uid..]
            .iter()
            .position(|l| l.starts_with("title:: "))
            .unwrap();
    lines[title] = "title:: Q2h1e*ID4gdmnDqm4=".into();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (path, lines, title + 1)
}

/// The line and DN of every entry of an export, its folded and base64 `dn::` lines read.
fn entry_lines(lines: &[String]) -> Vec<(usize, String)> {
    use base64::Engine as _;
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with("dn:") {
            continue;
        }
        let mut text = line.clone();
        for next in &lines[i + 1..] {
            match next.strip_prefix(' ') {
                Some(rest) => text.push_str(rest),
                None => break,
            }
        }
        let dn = match text.strip_prefix("dn:: ") {
            Some(b64) => String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            )
            .unwrap(),
            None => text.trim_start_matches("dn: ").to_string(),
        };
        out.push((i + 1, dn));
    }
    out
}

async fn passwords_that_cannot_be_carried_get_initial_ones(backend: Backend) {
    let Some((db, cli, map)) = setup(backend).await else {
        return;
    };
    let export = export(&cli, &uncarried_ldif());
    let refused = migrate(&cli, &export, &map, &[]);
    assert_eq!(refused.code, Some(1));
    let needed = "4 official(s) get generated initial passwords";
    assert!(refused.stderr.contains(needed), "{}", refused.stderr);
    let directory = directory(&db).await;
    assert!(directory
        .officials_in_agency("stc")
        .await
        .unwrap()
        .is_empty());

    let creds = cli.dir.join("credentials.csv");
    let run = migrate(
        &cli,
        &export,
        &map,
        &["--credentials-out", creds.to_str().unwrap()],
    )
    .ok();
    for (login, why) in [
        ("clear", "its userPassword is clear text"),
        (
            "yescrypt",
            "the scheme {CRYPT} $y$ (yescrypt) is not one congvu accepts",
        ),
        (
            "costly",
            "asks for cost 14, above the cost 13 congvu accepts",
        ),
        ("none", "it has no userPassword"),
    ] {
        let note = format!("note: {login}: ");
        assert!(
            run.stdout
                .lines()
                .any(|l| l.contains(&note) && l.contains(why)),
            "no note for {login}: {why}\n{}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains(CLEAR) && !run.stderr.contains(CLEAR));
    let rows: Vec<Vec<String>> = csv::Reader::from_path(&creds)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 4);
    let initial = PasswordHasher::new(congvu::directory::Argon2Cost::INITIAL);
    for row in &rows {
        let p = stored(&directory, &row[2]).await;
        assert_eq!(
            (p.cost, p.must_change),
            (PasswordCost::Initial, true),
            "{}",
            row[2]
        );
        assert!(initial.verify(&row[3], &p.hash), "{}", row[2]);
    }
    assert_eq!(
        stored(&directory, "carried").await.cost,
        PasswordCost::Legacy
    );

    // The generated password opens only the choice of a new one: IMAP refuses it.
    let (server, _) = server(&db).await;
    let addr = server.local_addr(ListenerKind::Imaps).unwrap();
    let (mut imap, _) = RawImap::connect_tls(addr, &db).await;
    let secret = &rows.iter().find(|r| r[2] == "clear").unwrap()[3];
    let answer = imap
        .command("a1", &format!("LOGIN clear \"{secret}\""))
        .await;
    assert!(answer.last().unwrap().starts_with("a1 NO"), "{answer:?}");
    server.stop().await;
}

/// The clear-text password an old directory kept: it must never be printed.
const CLEAR: &str = "matkhau-cu-2020";

/// Officials whose passwords congvu does not carry (clear text, yescrypt, a bcrypt cost
/// above the bound, none at all) beside one it does.
fn uncarried_ldif() -> String {
    let too_costly = format!("{{CRYPT}}$2b$14${}", "K".repeat(53));
    let carried = slapd::slappasswd("{SSHA}", None, &password("carried"));
    let olds = [
        Old::new("clear", STC, NAMES[0], CLEAR.into()),
        Old::new(
            "yescrypt",
            STC,
            NAMES[1],
            slapd::mkpasswd("yescrypt", "matkhau"),
        ),
        Old::new("costly", SXD, NAMES[2], too_costly),
        Old::new("carried", SXD, NAMES[3], carried),
    ];
    let mut ldif = base_ldif();
    for o in &olds {
        ldif.push_str(&o.ldif());
    }
    ldif.push_str(&format!(
        "dn: uid=none,ou={SXD},{SUFFIX}\nobjectClass: inetOrgPerson\nuid: none\n\
         cn: Trần Văn Bình\nsn: Trần\nmail: none@vinhphuc.gov.vn\n\n"
    ));
    ldif
}
