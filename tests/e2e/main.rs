//! congvu end-to-end tests: one binary, real servers, real clients.
// This package is tests: a failed expectation panics, and a test reads top to bottom.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::too_many_lines
)]

mod admin;
mod admin_cli;
mod backup;
mod binary;
mod certificates;
mod dkim;
mod dns_kit;
mod egov_report;
mod filter_engines;
mod hr_forms;
mod http;
mod imap;
mod import;
mod layering;
mod ldap;
mod lifecycle;
mod migration;
mod observability;
mod portal;
mod queue;
mod smtp;
mod soak;
mod store_suite;
mod webmail;

/// Longest one server test may run: a server that stops answering fails the test instead of
/// hanging the suite.
pub const TEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs each named test function once per backend, within [`TEST_DEADLINE`].
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                tokio::time::timeout(
                    crate::TEST_DEADLINE,
                    super::$name(congvu_tests::Backend::Sqlite),
                )
                .await
                .expect("the test ran past its deadline")
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(congvu_skip_postgres, ignore = "CONGVU_TEST_SKIP_POSTGRES=1: the PostgreSQL half is not run")]
            async fn $name() {
                tokio::time::timeout(
                    crate::TEST_DEADLINE,
                    super::$name(congvu_tests::Backend::Postgres),
                )
                .await
                .expect("the test ran past its deadline")
            })*
        }
    };
}
pub(crate) use backend_tests;
