//! An in-process congvu server on `127.0.0.1:0` ports over a test database.

use std::net::SocketAddr;

use congvu::config::{Config, ListenAddr};
use congvu::server::RunningServer;

use crate::TestDb;

/// A configuration for `db` with every listener on a free loopback port, the data
/// directory inside the test's temporary directory, and a self-signed certificate.
pub fn test_config(db: &TestDb) -> Config {
    let any_port = || vec![ListenAddr::from(SocketAddr::from(([127, 0, 0, 1], 0)))];
    let mut config = Config::default();
    config.server.hostname = "mail.vinhphuc.gov.vn".into();
    config.server.primary_domain = "vinhphuc.gov.vn".into();
    config.server.data_dir = db.dir.path().join("data");
    config.server.shutdown_grace_seconds = 5;
    config.database.url = db.url.clone();
    config.tls.self_signed = true;
    // Sender authentication needs DNS; the tests of it turn it on with their own server.
    config.inbound.authentication = congvu::config::AuthenticationMode::Off;
    config.smtp.listen = any_port();
    config.smtp.submission_listen = any_port();
    config.smtp.submissions_listen = any_port();
    config.imap.listen = any_port();
    config.imap.imaps_listen = any_port();
    config.ldap.listen = any_port();
    config.ldap.ldaps_listen = any_port();
    config.http.listen = any_port();
    config.sieve.managesieve_listen = any_port();
    config
}

/// Starts a server for `db` with [`test_config`].
pub async fn start(db: &TestDb) -> RunningServer {
    RunningServer::start(&test_config(db)).await.unwrap()
}

/// A TLS connector that trusts only the self-signed certificate a test server generated in
/// the data directory of `db` (see [`test_config`]).
pub fn tls_connector(db: &TestDb) -> tokio_rustls::TlsConnector {
    let pem = std::fs::read(db.dir.path().join("data/tls/self-signed-cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(client))
}
