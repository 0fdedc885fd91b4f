//! One PostgreSQL server as the benchmarks that run on it use it: a statement or a text
//! value on a connection of its own, and databases of their own created and dropped by name
//! (names the benchmark makes up, never user input).

use anyhow::Context as _;
use sqlx::Connection as _;

async fn connect(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    sqlx::PgConnection::connect(url)
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {url}"))
}

/// Runs `sql` on the database `url` names.
pub(crate) async fn execute(url: &str, sql: &str) -> anyhow::Result<()> {
    let mut conn = connect(url).await?;
    sqlx::query(sql)
        .execute(&mut conn)
        .await
        .with_context(|| format!("while running `{sql}`"))?;
    conn.close().await?;
    Ok(())
}

/// The one text value `sql` gives on the database `url` names.
pub(crate) async fn query_text(url: &str, sql: &str) -> anyhow::Result<String> {
    let mut conn = connect(url).await?;
    let value: String = sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .with_context(|| format!("while running `{sql}`"))?;
    conn.close().await?;
    Ok(value)
}

/// Creates the database `name`, connected through `url`.
pub(crate) async fn create_database(url: &str, name: &str) -> anyhow::Result<()> {
    execute(url, &format!("CREATE DATABASE {name}")).await
}

/// Drops the database `name` if it is there, closing whatever connections are left on it.
pub(crate) async fn drop_database(url: &str, name: &str) -> anyhow::Result<()> {
    execute(url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
}
