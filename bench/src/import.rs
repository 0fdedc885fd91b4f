//! P1 and P2: importing an agency's HR list of N officials with `congvu-admin user import`
//! (release build), everything included — reading the file, planning, generating and
//! hashing initial passwords, writing officials, addresses, mailboxes, audit rows and the
//! credentials file — into SQLite, then into PostgreSQL. The reference is the hashing
//! floor N × t_hash / cores, measured on the same machine in the same run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use congvu::directory::{Argon2Cost, PasswordCost, PasswordHasher};
use rand::{Rng, SeedableRng};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Officials in the generated HR list.
    #[arg(long, default_value_t = 10_000)]
    officials: usize,
    /// The congvu-admin binary to time (build it with --release).
    #[arg(long, default_value = "target/release/congvu-admin")]
    admin: PathBuf,
    /// PostgreSQL server for P2; a fresh schema is created and dropped.
    #[arg(
        long,
        env = "CONGVU_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Skip P2.
    #[arg(long)]
    no_postgres: bool,
    /// Runs of each import; the report gives medians and ranges.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

const FAMILY: [&str; 16] = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
];
const MIDDLE: [&str; 12] = [
    "Văn", "Thị", "Đức", "Minh", "Thu", "Hồng", "Quốc", "Ngọc", "Thanh", "Hữu", "Xuân", "Kim",
];
const GIVEN: [&str; 30] = [
    "An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hùng", "Hương", "Lan", "Linh", "Long",
    "Mai", "Nam", "Nga", "Ngọc", "Phúc", "Quang", "Sơn", "Thảo", "Trang", "Tuấn", "Việt", "Yến",
    "Đạt", "Đông", "Ánh", "Uyên", "Ước", "Ly",
];
const TITLES: [&str; 5] = [
    "Chuyên viên",
    "Phó Trưởng phòng",
    "Trưởng phòng",
    "Văn thư",
    "Kế toán",
];
const UNITS: [&str; 4] = [
    "Văn phòng",
    "Phòng Tổ chức cán bộ",
    "Phòng Kế hoạch - Tài chính",
    "Thanh tra",
];

/// A deterministic HR list of `n` officials (semicolon CSV with BOM, as Excel writes it).
fn hr_list(n: usize) -> String {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let mut out =
        String::from("\u{feff}STT;Họ và tên;Chức vụ;Số điện thoại;Mã cán bộ;Phòng ban\r\n");
    for i in 0..n {
        let middle = if rng.random_bool(0.3) {
            format!(
                "{} {}",
                MIDDLE[rng.random_range(0..MIDDLE.len())],
                MIDDLE[rng.random_range(0..MIDDLE.len())]
            )
        } else {
            MIDDLE[rng.random_range(0..MIDDLE.len())].to_string()
        };
        let name = format!(
            "{} {middle} {}",
            FAMILY[rng.random_range(0..FAMILY.len())],
            GIVEN[rng.random_range(0..GIVEN.len())]
        );
        out.push_str(&format!(
            "{};{name};{};0211 {:07};VP-{:06};{}\r\n",
            i + 1,
            TITLES[i % TITLES.len()],
            rng.random_range(0..10_000_000),
            i + 1,
            UNITS[i % UNITS.len()]
        ));
    }
    out
}

/// Prepares a database at `url` with the province and one department, then times the import.
fn timed_import(
    args: &ImportArgs,
    dir: &Path,
    url: &str,
    list: &Path,
    label: &str,
) -> anyhow::Result<Duration> {
    let config = dir.join(format!("{label}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = {:?}\n\n[database]\nurl = {url:?}\n\n[tls]\nself_signed = true\n",
            dir.join("data").display().to_string()
        ),
    )?;
    crate::admin::add_province(&args.admin, &config)?;
    let credentials = dir.join(format!("{label}-credentials.csv"));
    let started = Instant::now();
    crate::admin::run(
        &args.admin,
        &config,
        &[
            "user",
            "import",
            "--agency",
            "snv",
            &list.display().to_string(),
            "--credentials-out",
            &credentials.display().to_string(),
        ],
        None,
    )?;
    let elapsed = started.elapsed();
    let written = std::fs::read_to_string(&credentials)?.lines().count() - 1;
    anyhow::ensure!(
        written == args.officials,
        "{label}: {written} credentials for {} officials",
        args.officials
    );
    Ok(elapsed)
}

/// Seconds to hash `n` secrets at `cost` on every core, measured on `sample` of them.
fn hashing_floor(n: usize, cost: PasswordCost, sample: usize) -> anyhow::Result<f64> {
    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let secrets: Vec<_> = (0..sample)
        .map(|i| (format!("initial-secret-{i:08}"), cost))
        .collect();
    let started = Instant::now();
    hasher.hash_all(&secrets, &|_| {})?;
    Ok(started.elapsed().as_secs_f64() * n as f64 / sample as f64)
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.admin.exists(),
        "{} not found: run `cargo build --release -p congvu-admin` first",
        args.admin.display()
    );
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    let dir = tempfile::tempdir()?;
    let list = dir.path().join("snv.csv");
    std::fs::write(&list, hr_list(args.officials))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let initial_floor = hashing_floor(
        args.officials,
        PasswordCost::Initial,
        2000.min(args.officials),
    )?;
    let full_floor = hashing_floor(args.officials, PasswordCost::Full, 100)?;

    // SQLite and PostgreSQL runs alternate, so drift on a shared machine hits both alike.
    let mut sqlite = Vec::new();
    let mut postgres = Vec::new();
    for run in 0..args.runs {
        let run_dir = dir.path().join(format!("run-{run}"));
        std::fs::create_dir_all(&run_dir)?;
        let url = format!("sqlite://{}", run_dir.join("data/congvu.db").display());
        let elapsed = timed_import(&args, &run_dir, &url, &list, "sqlite")?;
        println!(
            "run {run}: P1 SQLite {:.2} s for {} officials",
            elapsed.as_secs_f64(),
            args.officials
        );
        sqlite.push(elapsed.as_secs_f64());
        if !args.no_postgres {
            let elapsed = postgres_import(&args, &run_dir, &list, run)?;
            println!("run {run}: P2 PostgreSQL {:.2} s", elapsed.as_secs_f64());
            postgres.push(elapsed.as_secs_f64());
        }
    }
    let figures = Figures {
        cores,
        initial_floor,
        full_floor,
        sqlite,
        postgres,
    };
    write_report(&args, &figures)
}

/// Times one import into a fresh PostgreSQL schema, dropped afterwards.
fn postgres_import(
    args: &ImportArgs,
    dir: &Path,
    list: &Path,
    run: usize,
) -> anyhow::Result<Duration> {
    let schema = format!("congvu_bench_{}_{run}", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let exec = |sql: String| -> anyhow::Result<()> {
        runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&args.postgres).await?;
            sqlx::query(&sql).execute(&mut conn).await?;
            Ok(())
        })
    };
    exec(format!("CREATE SCHEMA {schema}"))?;
    let separator = if args.postgres.contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!(
        "{}{separator}options=-c%20search_path%3D{schema}",
        args.postgres
    );
    let result = timed_import(args, dir, &url, list, "postgres");
    exec(format!("DROP SCHEMA {schema} CASCADE"))?;
    result
}

/// What one benchmark run measured.
struct Figures {
    cores: usize,
    initial_floor: f64,
    full_floor: f64,
    /// Seconds per run.
    sqlite: Vec<f64>,
    postgres: Vec<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn range(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{min:.2}–{max:.2}")
}

fn write_report(args: &ImportArgs, f: &Figures) -> anyhow::Result<()> {
    let n = args.officials;
    let runs = f.sqlite.len();
    let s = median(&f.sqlite);
    let mut table = format!(
        "## P1/P2: importing {n} officials with `congvu-admin user import`\n\n\
         Measured by `bench/import.sh` (`congvu-bench import --officials {n} --runs {runs}`), release build,\n\
         {cores} cores; SQLite and PostgreSQL runs alternate; medians of {runs} runs, range in brackets.\n\
         Everything included: reading the CSV, planning, generating and hashing {n} initial passwords,\n\
         writing officials, addresses, 5 mailboxes each, audit rows, and the credentials file.\n\n\
         | id | what | measured | reference | ratio | target |\n|---|---|---|---|---|---|\n",
        cores = f.cores
    );
    table.push_str(&format!(
        "| P1 | import into SQLite | {s:.2} s [{}] | hashing floor at the initial cost: {:.2} s | {:.1}× the floor | ≤ 20 s wall: {} |\n",
        range(&f.sqlite),
        f.initial_floor,
        s / f.initial_floor,
        if s <= 20.0 { "met" } else { "NOT met" }
    ));
    if !f.postgres.is_empty() {
        let p = median(&f.postgres);
        let ratios: Vec<f64> = f
            .postgres
            .iter()
            .zip(&f.sqlite)
            .map(|(p, s)| p / s)
            .collect();
        table.push_str(&format!(
            "| P2 | import into PostgreSQL | {p:.2} s [{}] | P1 (SQLite) {s:.2} s | {:.2}× [per run {}] | ≤ 1.5×: {} |\n",
            range(&f.postgres),
            p / s,
            range(&ratios),
            if p / s <= 1.5 { "met" } else { "NOT met" }
        ));
    }
    table.push_str(&format!(
        "\nFor scale: hashing the same {n} passwords at the full cost (argon2id m=19 MiB, t=2, p=1) would take {:.0} s\n\
         on these cores; generated initial secrets (≥ 96 random bits) are stored at the initial cost\n\
         (m=1 MiB, t=1) and flagged must-change, so the password each official chooses gets the full cost.\n",
        f.full_floor
    ));
    let report =
        std::fs::read_to_string(&args.report).unwrap_or_else(|_| "# congvu performance\n\n".into());
    let updated = replace_section(&report, "## P1/P2:", &table);
    std::fs::File::create(&args.report)?.write_all(updated.as_bytes())?;
    println!("{table}");
    Ok(())
}

/// Replaces the section starting with `heading` (up to the next `## `) with `section`.
fn replace_section(document: &str, heading: &str, section: &str) -> String {
    match document.find(heading) {
        Some(start) => {
            let end = document[start + heading.len()..]
                .find("\n## ")
                .map_or(document.len(), |e| start + heading.len() + e + 1);
            format!("{}{section}{}", &document[..start], &document[end..])
        }
        None => format!("{}\n\n{section}", document.trim_end()),
    }
}
