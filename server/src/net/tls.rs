//! TLS server configuration (rustls with the ring provider): certificates from PEM files,
//! or a self-signed development certificate generated into the data directory.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read TLS private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("cannot write the development certificate to {path}: {source}")]
    SelfSigned {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds an acceptor from a PEM certificate chain and private key.
pub fn acceptor_from_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| TlsError::Certificate {
            path: cert.to_path_buf(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.to_path_buf(),
            reason: "no PEM certificate in the file".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Returns the development certificate in `data_dir/tls/`, generating it for `hostname`,
/// `localhost` and the loopback addresses on first use (clients that check a connection to
/// 127.0.0.1 by its address, as OpenLDAP's library does, find it named). The key file is
/// readable by the owner only.
pub fn self_signed_files(data_dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("self-signed-cert.pem");
    let key_path = dir.join("self-signed-key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::SelfSigned { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(write_error(&dir))?;
    let names = vec![
        hostname.to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::SelfSigned {
            path: cert_path.clone(),
            source: std::io::Error::other(e),
        })?;
    write_file(
        &key_path,
        generated.key_pair.serialize_pem().as_bytes(),
        0o600,
    )
    .map_err(write_error(&key_path))?;
    write_file(&cert_path, generated.cert.pem().as_bytes(), 0o644)
        .map_err(write_error(&cert_path))?;
    Ok((cert_path, key_path))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reuses_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed_files(dir.path(), "mail.vinhphuc.gov.vn").unwrap();
        let first = std::fs::read(&cert).unwrap();
        self_signed_files(dir.path(), "mail.vinhphuc.gov.vn").unwrap();
        assert_eq!(
            std::fs::read(&cert).unwrap(),
            first,
            "certificate regenerated"
        );
        let mode = std::fs::metadata(&key).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert!(acceptor_from_files(&cert, &key).is_ok());
    }

    /// A client that checks the server's address rather than a name accepts the certificate.
    #[tokio::test]
    async fn the_development_certificate_names_the_loopback_address() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed_files(dir.path(), "mail.vinhphuc.gov.vn").unwrap();
        let acceptor = acceptor_from_files(&cert, &key).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(&cert).unwrap();
        for der in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            roots.add(der.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
        let (near, far) = tokio::io::duplex(64 * 1024);
        // The server's end is handed back, not dropped, so the client's handshake can finish.
        let server = tokio::spawn(async move { acceptor.accept(far).await });
        let address = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let client = connector.connect(address, near).await;
        let server = server.await.unwrap();
        assert!(client.is_ok() && server.is_ok(), "{client:?} {server:?}");
    }

    #[test]
    fn a_file_without_certificates_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem").unwrap();
        let err = acceptor_from_files(&empty, &empty)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("empty.pem"), "{err}");
    }
}
