//! A fresh, empty database for one test: a temporary SQLite file, or a new PostgreSQL
//! schema reached through the URL's `search_path`.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    /// The URL to give `database.url`.
    pub url: String,
    /// A temporary directory for the test's files (SQLite database, TLS, data dir).
    pub dir: tempfile::TempDir,
    schema: Option<(String, String)>,
}

/// The PostgreSQL server tests use.
pub fn postgres_base_url() -> String {
    std::env::var("CONGVU_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Whether PostgreSQL tests were explicitly switched off.
pub fn postgres_skipped() -> bool {
    std::env::var("CONGVU_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

impl TestDb {
    /// A new empty database on `backend`, always `Some`. With `CONGVU_TEST_SKIP_POSTGRES=1`
    /// the PostgreSQL cases are built as ignored tests (see tests/build.rs), so the runner
    /// counts them as not run; a PostgreSQL case that gets here anyway is a test missing its
    /// `cfg_attr(congvu_skip_postgres, ignore)` and fails rather than pass untested.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("data/congvu.db").display());
                Some(TestDb {
                    url,
                    dir,
                    schema: None,
                })
            }
            Backend::Postgres => {
                assert!(
                    !postgres_skipped(),
                    "CONGVU_TEST_SKIP_POSTGRES=1, yet this PostgreSQL case ran: mark it \
                     #[cfg_attr(congvu_skip_postgres, ignore = \"…\")] as backend_tests! does"
                );
                let base = postgres_base_url();
                let schema = unique_schema_name();
                let mut conn = sqlx::PgConnection::connect(&base).await.unwrap_or_else(|e| {
                    panic!(
                        "cannot reach PostgreSQL at {base}: {e}\n\
                         set CONGVU_TEST_DATABASE_URL, or CONGVU_TEST_SKIP_POSTGRES=1 to skip PostgreSQL tests"
                    )
                });
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let _ = conn.close().await;
                let separator = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
                Some(TestDb {
                    url,
                    dir,
                    schema: Some((base, schema)),
                })
            }
        }
    }
}

impl TestDb {
    /// The test's database opened in this process, migrated: to set up data, deliver mail,
    /// and read back what a server or the CLI wrote.
    pub async fn open_store(&self) -> congvu::store::Store {
        congvu::store::Store::open(&self.store_options())
            .await
            .unwrap()
    }

    /// How a test opens this database in its own process: `Store::open_unmigrated` with
    /// these, for a test that brings the schema up step by step.
    pub fn store_options(&self) -> congvu::store::StoreOptions {
        congvu::store::StoreOptions {
            url: self.url.clone(),
            max_connections: 4,
            busy_timeout: std::time::Duration::from_secs(10),
        }
    }
}

impl TestDb {
    /// The one integer `sql` answers (a `COUNT(*)`), read outside congvu's store: to see
    /// what the server kept without going through the code under test.
    pub async fn count_unchecked(&self, sql: &str) -> i64 {
        match &self.schema {
            None => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
                let _ = conn.close().await;
                n
            }
            Some(_) => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
                let _ = conn.close().await;
                n
            }
        }
    }

    /// The rows PostgreSQL's planner believes `table` holds, from its gathered statistics:
    /// -1 until they are first gathered.
    pub async fn planner_rows(&self, table: &str) -> i64 {
        assert!(self.schema.is_some(), "planner statistics are PostgreSQL's");
        let sql = format!("SELECT reltuples::bigint FROM pg_class WHERE oid = '{table}'::regclass");
        self.count_unchecked(&sql).await
    }

    /// Runs `sql` with foreign keys unenforced (SQLite's `foreign_keys` off, PostgreSQL's
    /// replication role): to plant what the server itself never writes, such as a message
    /// whose body is gone.
    pub async fn execute_unchecked(&self, sql: &str) {
        match &self.schema {
            None => {
                use std::str::FromStr;
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)
                    .unwrap()
                    .foreign_keys(false)
                    .busy_timeout(std::time::Duration::from_secs(10));
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                sqlx::query(sql).execute(&mut conn).await.unwrap();
                let _ = conn.close().await;
            }
            Some(_) => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query("SET session_replication_role = replica")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                sqlx::query(sql).execute(&mut conn).await.unwrap();
                let _ = conn.close().await;
            }
        }
    }
}

fn unique_schema_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "congvu_t{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        rand::random::<u32>()
    )
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, schema)) = self.schema.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a separate thread with its own runtime can block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
                    let _ = sqlx::query("SET lock_timeout = '5s'")
                        .execute(&mut conn)
                        .await;
                    let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}
