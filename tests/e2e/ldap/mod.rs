//! The LDAP service as clients see it: the real server on `127.0.0.1:0` over a province
//! seeded through the directory, spoken to with `ldap3`, with raw BER where a client library
//! would not send what a test needs, and with the OpenLDAP command-line tools.
//!
//! Every test runs on SQLite and on PostgreSQL, each with its own database and server.

mod access;
mod bind;
mod filters;
mod fixture;
mod limits;
mod operations;
mod paging;
mod search;
mod tools;

/// Longest one LDAP test may run: a server that stops answering fails the test instead of
/// hanging the suite.
pub const TEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs each named test function once per backend, within [`TEST_DEADLINE`].
macro_rules! ldap_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                tokio::time::timeout(
                    crate::ldap::TEST_DEADLINE,
                    super::$name(congvu_tests::Backend::Sqlite),
                )
                .await
                .expect("the test ran past its deadline")
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                tokio::time::timeout(
                    crate::ldap::TEST_DEADLINE,
                    super::$name(congvu_tests::Backend::Postgres),
                )
                .await
                .expect("the test ran past its deadline")
            })*
        }
    };
}
pub(crate) use ldap_tests;
