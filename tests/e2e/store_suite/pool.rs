//! The store's connections when PostgreSQL ends them (a restart, a failover, an operator's
//! `pg_terminate_backend`): the pool hands out its connections without a round trip to test
//! each first, so a request may meet one that PostgreSQL has closed. That request fails, the
//! connection is dropped rather than pooled again, and the requests after it succeed.

use congvu::clock::Clock;
use congvu::directory::Directory;
use congvu::store::{Store, StoreOptions};
use congvu_tests::db::postgres_base_url;
use sqlx::Connection;

use super::START;

/// Connections the store may open; at most this many requests can meet a closed one.
const POOL: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    congvu_skip_postgres,
    ignore = "CONGVU_TEST_SKIP_POSTGRES=1: the PostgreSQL half is not run"
)]
async fn connections_postgresql_ended_fail_one_request_each_and_are_replaced() {
    // A database of its own, so that ending its connections touches no other test's.
    let base = postgres_base_url();
    let name = format!("congvu_ended_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    let drop_it = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::query(&drop_it).execute(&mut admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let store = Store::open(&StoreOptions {
        url: format!("{prefix}/{name}"),
        max_connections: POOL,
        busy_timeout: std::time::Duration::from_secs(10),
    })
    .await
    .unwrap();
    let directory = Directory::new(store, Clock::fixed(START));
    let before = directory.version().await.unwrap();
    // Several requests at once, so that the pool holds more than one connection.
    let at_once = futures_util::future::join_all((0..POOL).map(|_| directory.version())).await;
    assert!(at_once.iter().all(|v| v.as_ref().ok() == Some(&before)));

    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!ended.is_empty() && ended.iter().all(|&e| e), "{ended:?}");

    let mut failed = 0;
    while directory.version().await.is_err() {
        failed += 1;
        assert!(
            failed <= POOL,
            "more failures than connections: an ended connection went back to the pool"
        );
    }
    // Every connection PostgreSQL ended has been met and dropped by now: no more failures.
    for _ in 0..2 * POOL {
        assert_eq!(directory.version().await.unwrap(), before);
    }
    drop(directory);
    sqlx::query(&drop_it).execute(&mut admin).await.unwrap();
}
