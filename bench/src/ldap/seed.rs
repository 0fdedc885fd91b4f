//! Seeding both directories with the same officials: congvu through `congvu-admin`, slapd
//! with `slapadd` from what congvu exported, with the same full-cost passwords.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::directory::{Argon2Cost, PasswordCost, PasswordHash, PasswordHasher};
use rand::{Rng, SeedableRng};

use crate::server::Config;

use super::*;

pub(super) const FAMILY: [&str; 10] = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô",
];
pub(super) const MIDDLE: [&str; 8] = ["Văn", "Thị", "Đức", "Minh", "Hồng", "Quốc", "Ngọc", "Thanh"];
pub(super) const GIVEN: [&str; 16] = [
    "An", "Bình", "Dũng", "Hà", "Hùng", "Hương", "Lan", "Linh", "Nam", "Phúc", "Sơn", "Thảo",
    "Trang", "Tuấn", "Yến", "Đạt",
];
pub(super) const UNITS: [&str; 3] = ["Văn phòng", "Phòng Tổ chức cán bộ", "Thanh tra"];

/// A deterministic HR list of `n` officials, as the import reads it. Values hold no comma
/// or quote, so the CSV export read back by [`read_export`] needs no quoting rules.
pub(super) fn hr_list(n: usize) -> String {
    let mut rng = rand::rngs::StdRng::seed_from_u64(389);
    let mut out = String::from("Họ và tên;Chức vụ;Số điện thoại;Mã cán bộ;Phòng ban\n");
    for i in 0..n {
        let name = format!(
            "{} {} {}",
            FAMILY[rng.random_range(0..FAMILY.len())],
            MIDDLE[rng.random_range(0..MIDDLE.len())],
            GIVEN[rng.random_range(0..GIVEN.len())]
        );
        let title = if i % 10 == 0 {
            "Trưởng phòng"
        } else {
            "Chuyên viên"
        };
        out.push_str(&format!(
            "{name};{title};0211 {:07};LDAP-{:06};{}\n",
            rng.random_range(0..10_000_000),
            i + 1,
            UNITS[i % UNITS.len()]
        ));
    }
    out
}

pub(super) fn write_congvu_config(dir: &Path, ldap_port: u16) -> anyhow::Result<PathBuf> {
    // Every listener but LDAP on a free port nobody uses; logs at warn like slapd's
    // `loglevel 0`; connections per IP raised for flood + searchers from one address; the
    // [auth] lockout settings stay at their defaults on purpose (see L3).
    Config {
        log_level: Some("warn"),
        ldap: ldap_port,
        plaintext_ldap: true,
        ..Config::default()
    }
    .write(dir, "congvu.toml")
}

pub(super) fn seed_congvu(
    args: &LdapArgs,
    config: &Path,
    dir: &Path,
    cores: usize,
) -> anyhow::Result<Directory> {
    let run = |a: &[&str]| crate::admin::run(&args.congvu.admin, config, a, None);
    crate::admin::add_province(&args.congvu.admin, config)?;
    let list = dir.join("snv.csv");
    std::fs::write(&list, hr_list(args.officials))?;
    let credentials = dir.join("snv-credentials.csv");
    run(&[
        "user",
        "import",
        "--agency",
        "snv",
        &list.display().to_string(),
        "--credentials-out",
        &credentials.display().to_string(),
    ])?;
    let added = run(&[
        "service",
        "add",
        "bench",
        "--description",
        "LDAP benchmark reader",
    ])?;
    let reader_secret = added
        .lines()
        .find(|l| l.starts_with("secret"))
        .and_then(|l| l.rsplit(": ").next())
        .map(str::trim)
        .context("`service add` printed no secret")?
        .to_string();
    let officials = read_export(&run(&["user", "export", "--format", "csv"])?)?;
    anyhow::ensure!(
        officials.len() == args.officials,
        "congvu holds {} officials, expected {}",
        officials.len(),
        args.officials
    );

    // Spread over the list so the bind users are not all from one corner of an index.
    let step = officials.len() / args.bind_users;
    let bind_users: Vec<usize> = (0..args.bind_users).map(|i| i * step).collect();
    let logins: Vec<&str> = bind_users
        .iter()
        .map(|&i| officials[i].login.as_str())
        .collect();
    set_bind_passwords(&args.congvu.admin, config, &logins, cores)?;
    Ok(Directory {
        officials,
        bind_users,
        reader_secret,
    })
}

/// Gives each of `logins` its [`bind_password`], one congvu-admin per core at a time
/// (each hashes once at the full cost).
pub(super) fn set_bind_passwords(
    admin: &Path,
    config: &Path,
    logins: &[&str],
    cores: usize,
) -> anyhow::Result<()> {
    for batch in logins.chunks(cores.max(1)) {
        std::thread::scope(|scope| {
            let children: Vec<_> = batch
                .iter()
                .map(|login| {
                    scope.spawn(move || admin_passwd(admin, config, login, &bind_password(login)))
                })
                .collect();
            children.into_iter().try_for_each(|child| {
                child
                    .join()
                    .map_err(|_| anyhow::anyhow!("a passwd thread panicked"))?
            })
        })?;
    }
    Ok(())
}

/// Sets a full-cost password that need not be changed. Two of these at once can fail with
/// SQLite's "database is locked" instead of waiting for the other (seen with congvu-admin
/// on a 10,000-official database), so that one failure is retried.
pub(super) fn admin_passwd(
    admin_bin: &Path,
    config: &Path,
    login: &str,
    password: &str,
) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        let result = crate::admin::run(
            admin_bin,
            config,
            &["user", "passwd", login, "--stdin", "--no-must-change"],
            Some(&format!("{password}\n")),
        );
        match result {
            Err(e) if attempts < 20 && format!("{e}").contains("database is locked") => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20 * attempts));
            }
            other => return other.map(drop),
        }
    }
}

/// Reads `congvu-admin user export --format csv`.
pub(super) fn read_export(csv: &str) -> anyhow::Result<Vec<Official>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().context("empty export")?.split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("export has no `{name}` column: {header:?}"))
    };
    let (login, name, email, agency, unit, title, phone, employee) = (
        column("login")?,
        column("full_name")?,
        column("email")?,
        column("agency")?,
        column("unit")?,
        column("title")?,
        column("phone")?,
        column("employee_id")?,
    );
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            anyhow::ensure!(
                !line.contains('"'),
                "quoted export line (the generated list has no commas): {line}"
            );
            let cells: Vec<&str> = line.split(',').collect();
            anyhow::ensure!(cells.len() == header.len(), "short export line: {line}");
            Ok(Official {
                login: cells[login].into(),
                full_name: cells[name].into(),
                email: cells[email].into(),
                agency: cells[agency].into(),
                unit: cells[unit].into(),
                title: cells[title].into(),
                phone: cells[phone].into(),
                employee_id: cells[employee].into(),
            })
        })
        .collect()
}

/// Writes slapd.conf and loads the same entries with slapadd; returns the config path.
pub(super) fn seed_slapd(
    args: &LdapArgs,
    dir: &Path,
    directory: &Directory,
) -> anyhow::Result<PathBuf> {
    let db = dir.join("slapd-db");
    std::fs::create_dir_all(&db)?;
    let conf = dir.join("slapd.conf");
    // The ACLs give slapd the same work congvu does on every request: passwords usable
    // for binds only, entries readable by bound identities only.
    std::fs::write(
        &conf,
        format!(
            r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload argon2 m=19456 t=2 p=1
pidfile {pid}
loglevel 0

database mdb
suffix "{BASE}"
directory {db}
maxsize 4294967296
index objectClass eq
index uid,mail,cn eq
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
"#,
            pid = dir.join("slapd.pid").display(),
            db = db.display()
        ),
    )?;

    // slapd verifies {ARGON2} values with libargon2, which reads the variant and the
    // parameters from the PHC string: the same argon2id m=19456,t=2,p=1 congvu stores.
    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let mut secrets: Vec<(String, PasswordCost)> = directory
        .bind_users
        .iter()
        .map(|&i| {
            (
                bind_password(&directory.officials[i].login),
                PasswordCost::Full,
            )
        })
        .collect();
    secrets.push((directory.reader_secret.clone(), PasswordCost::Full));
    let mut hashes = hasher.hash_all(&secrets, &|_| {})?;
    let reader_hash = hashes.pop().context("no hash for the reader")?;
    let mut password_of = vec![None; directory.officials.len()];
    for (&i, hash) in directory.bind_users.iter().zip(hashes) {
        password_of[i] = Some(hash);
    }

    let ldif = dir.join("slapd.ldif");
    std::fs::write(&ldif, slapd_ldif(directory, &password_of, &reader_hash))?;
    let out = Command::new(&args.slapadd)
        .arg("-q")
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(&ldif)
        .output()
        .context("while running slapadd")?;
    anyhow::ensure!(
        out.status.success(),
        "slapadd failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(conf)
}

/// The LDIF of the whole tree. Values are raw UTF-8, which slapadd takes as is; the
/// attributes are those congvu publishes for an official (spec: docs/ldap.md).
pub(super) fn slapd_ldif(
    directory: &Directory,
    password_of: &[Option<PasswordHash>],
    reader_hash: &PasswordHash,
) -> String {
    let mut out = format!(
        "dn: {BASE}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n\
         dc: vinhphuc\no: UBND tỉnh Vĩnh Phúc\n\n\
         dn: {PEOPLE}\nobjectClass: top\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=services,{BASE}\nobjectClass: top\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: {READER}\nobjectClass: top\nobjectClass: applicationProcess\n\
         objectClass: simpleSecurityObject\ncn: bench\nuserPassword: {{ARGON2}}{}\n\n",
        reader_hash.0
    );
    for (official, password) in directory.officials.iter().zip(password_of) {
        let words: Vec<&str> = official.full_name.split_whitespace().collect();
        let family = words.first().copied().unwrap_or(&official.login);
        let given = words.last().copied().unwrap_or(&official.login);
        out.push_str(&format!(
            "dn: {dn}\nobjectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n\
             objectClass: inetOrgPerson\nuid: {login}\ncn: {name}\nsn: {family}\ngivenName: {given}\n\
             displayName: {name}\nmail: {mail}\nou: {agency}\n",
            dn = official.dn(),
            login = official.login,
            name = official.full_name,
            mail = official.email,
            agency = official.agency.to_uppercase(),
        ));
        for (attribute, value) in [
            ("title", &official.title),
            ("telephoneNumber", &official.phone),
            ("departmentNumber", &official.unit),
            ("employeeNumber", &official.employee_id),
        ] {
            if !value.is_empty() {
                out.push_str(&format!("{attribute}: {value}\n"));
            }
        }
        if let Some(hash) = password {
            out.push_str(&format!("userPassword: {{ARGON2}}{}\n", hash.0));
        }
        out.push('\n');
    }
    out
}

/// Milliseconds one argon2id verification at the full cost takes on one core here.
pub(super) fn argon2_verify_ms() -> anyhow::Result<f64> {
    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let hash = hasher.hash("Bench-verify-2026", PasswordCost::Full)?;
    const SAMPLES: u32 = 10;
    let started = Instant::now();
    for _ in 0..SAMPLES {
        anyhow::ensure!(hasher.verify("Bench-verify-2026", &hash), "verify failed");
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0 / f64::from(SAMPLES))
}
