//! Driving `congvu-admin` from the benchmarks: every workload seeds congvu the way an
//! administrator would, through the CLI, never through the database.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context as _;
use rand::{Rng, SeedableRng};

/// Runs `binary --config config args…`, feeding it `stdin`, and returns its standard output;
/// fails with everything it printed unless it exits 0.
pub fn run(
    binary: &Path,
    config: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<String> {
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("while starting {}", binary.display()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "congvu-admin {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The province ([`add_province`]) with `n` officials imported into `snv` from a generated HR
/// list ([`hr_list`] with `seed` and `prefix`), as `user export` lists them. Their generated
/// initial passwords go to a credentials file in `dir`.
pub fn import_province(
    binary: &Path,
    config: &Path,
    dir: &Path,
    n: usize,
    seed: u64,
    prefix: &str,
) -> anyhow::Result<Vec<Official>> {
    let run_admin = |a: &[&str]| run(binary, config, a, None);
    add_province(binary, config)?;
    let list = dir.join("officials.csv");
    std::fs::write(&list, hr_list(n, seed, prefix))?;
    let credentials = dir.join("credentials.csv");
    run_admin(&[
        "user",
        "import",
        "--agency",
        "snv",
        &list.display().to_string(),
        "--credentials-out",
        &credentials.display().to_string(),
    ])?;
    let officials = read_export(&run_admin(&["user", "export", "--format", "csv"])?)?;
    anyhow::ensure!(
        officials.len() == n,
        "congvu holds {} officials, expected {n}",
        officials.len()
    );
    Ok(officials)
}

/// The primary domain, the province and its Department of Home Affairs (`snv`), which the
/// benchmarks import their officials into.
pub fn add_province(binary: &Path, config: &Path) -> anyhow::Result<()> {
    let steps: [&[&str]; 3] = [
        &["domain", "add", "vinhphuc.gov.vn", "--primary"],
        &[
            "agency",
            "add",
            "vinhphuc",
            "--name",
            "UBND tỉnh Vĩnh Phúc",
            "--level",
            "province",
        ],
        &[
            "agency",
            "add",
            "snv",
            "--name",
            "Sở Nội vụ",
            "--level",
            "department",
            "--parent",
            "vinhphuc",
        ],
    ];
    for step in steps {
        run(binary, config, step, None)?;
    }
    Ok(())
}

pub(crate) const FAMILY: [&str; 12] = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
];

pub(crate) const MIDDLE: [&str; 8] = ["Văn", "Thị", "Đức", "Minh", "Hồng", "Quốc", "Ngọc", "Thanh"];

pub(crate) const GIVEN: [&str; 20] = [
    "An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hùng", "Hương", "Lan", "Linh", "Mai", "Nam",
    "Phúc", "Quang", "Sơn", "Thảo", "Trang", "Tuấn", "Yến", "Đạt",
];

pub(crate) const UNITS: [&str; 3] = ["Văn phòng", "Phòng Tổ chức cán bộ", "Thanh tra"];

/// An official as congvu stored them.
#[derive(Debug, Clone)]
pub(crate) struct Official {
    pub(crate) login: String,
    pub(crate) address: String,
}

/// A deterministic HR list of `n` officials, as `user import` reads it: the same `seed`
/// gives the same names; HR ids are `{prefix}-000001` onwards.
pub(crate) fn hr_list(n: usize, seed: u64, prefix: &str) -> String {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = String::from("Họ và tên;Chức vụ;Mã cán bộ;Phòng ban\n");
    for i in 0..n {
        out.push_str(&format!(
            "{} {} {};{};{prefix}-{:06};{}\n",
            FAMILY[rng.random_range(0..FAMILY.len())],
            MIDDLE[rng.random_range(0..MIDDLE.len())],
            GIVEN[rng.random_range(0..GIVEN.len())],
            if i % 10 == 0 {
                "Trưởng phòng"
            } else {
                "Chuyên viên"
            },
            i + 1,
            UNITS[i % UNITS.len()]
        ));
    }
    out
}

/// Reads the login and address columns of `congvu-admin user export --format csv`.
pub(crate) fn read_export(csv: &str) -> anyhow::Result<Vec<Official>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().context("empty export")?.split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("export has no `{name}` column: {header:?}"))
    };
    let (login, email) = (column("login")?, column("email")?);
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
                address: cells[email].to_ascii_lowercase(),
            })
        })
        .collect()
}
