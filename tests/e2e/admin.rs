//! The real `congvu-admin` binary (see tests/Cargo.toml) run against a test database, with
//! a config file written for it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use congvu_tests::TestDb;

/// How one `congvu-admin` run ended.
#[derive(Debug)]
pub struct AdminRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl AdminRun {
    /// Panics with the output unless the run exited 0.
    #[track_caller]
    pub fn ok(self) -> AdminRun {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// `congvu-admin` bound to one test database.
#[derive(Debug, Clone)]
pub struct AdminCli {
    config: PathBuf,
    /// Working directory of each run (the test's temporary directory).
    pub dir: PathBuf,
}

impl AdminCli {
    /// Writes a config for `db` (cheap argon2 parameters: these tests are not about cost).
    pub fn new(db: &TestDb) -> AdminCli {
        let dir = db.dir.path().to_path_buf();
        let config = dir.join("admin.toml");
        let text = format!(
            "[server]\ndata_dir = {data:?}\n\n[database]\nurl = {url:?}\n\n[tls]\nself_signed = true\n\n\
             [auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n",
            data = dir.join("data").display().to_string(),
            url = db.url,
        );
        std::fs::write(&config, text).unwrap();
        AdminCli { config, dir }
    }

    /// Runs `congvu-admin --config … args…` and collects its output.
    pub fn run(&self, args: &[&str]) -> AdminRun {
        self.run_in(&self.dir, args)
    }

    /// Like [`AdminCli::run`], in working directory `dir`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> AdminRun {
        run_admin(&self.config, dir, args)
    }

    /// The province, its primary domain and a department `stttt`: the usual starting point.
    pub fn with_province(self) -> AdminCli {
        self.run(&["domain", "add", "vinhphuc.gov.vn", "--primary"])
            .ok();
        self.run(&[
            "agency",
            "add",
            "vinhphuc",
            "--name",
            "UBND tỉnh Vĩnh Phúc",
            "--level",
            "province",
        ])
        .ok();
        self.run(&[
            "agency",
            "add",
            "stttt",
            "--name",
            "Sở Thông tin và Truyền thông",
            "--level",
            "department",
            "--parent",
            "vinhphuc",
        ])
        .ok();
        self
    }
}

/// Runs `congvu-admin --config CONFIG args…` in `dir` and collects its output.
pub fn run_admin(config: &Path, dir: &Path, args: &[&str]) -> AdminRun {
    let output = Command::new(env!("CARGO_BIN_EXE_e2e-congvu-admin"))
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    AdminRun {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The run's standard output as JSON; panics with both outputs if it is not JSON.
pub fn json_of(run: &AdminRun) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", run.stdout, run.stderr))
}

/// Asserts a failed run: its exit status, its exact message, and nothing on stdout.
#[track_caller]
pub fn fails(run: AdminRun, code: i32, stderr: &str) {
    assert_eq!(
        (run.code, run.stderr.as_str(), run.stdout.as_str()),
        (Some(code), stderr, ""),
    );
}
