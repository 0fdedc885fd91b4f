//! DKIM signatures and ARC seals made outside congvu, so that its verifier is checked against
//! another implementation: keys from the OpenSSL command line, signatures from dkimpy's
//! `dkimsign` and seals from its `arcsign` (Debian packages python3-dkim and, for arcsign,
//! python3-authres), and the TXT record each key is published under.
//!
//! It signs only; verification is congvu's (or mail-auth's) business.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const OPENSSL: &str = "openssl";
const DKIMSIGN: &str = "dkimsign";
const ARCSIGN: &str = "arcsign";

/// DER prefix of an Ed25519 private key in PKCS#8 (RFC 8410 §7): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): the 32-byte key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The kind of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA (RFC 6376 §3.3.1).
    Rsa,
    /// Ed25519 (RFC 8463).
    Ed25519,
}

/// A DKIM signing key and the record that publishes it.
#[derive(Debug, Clone)]
pub struct DkimKey {
    key_type: KeyType,
    /// The private key as `dkimsign` reads it: PEM (PKCS#8) for RSA, the base64 seed for
    /// Ed25519.
    private_key: String,
    txt: String,
}

impl DkimKey {
    /// A new RSA key of `bits` bits.
    pub fn generate(bits: u32) -> Self {
        let pem = run(
            Command::new(OPENSSL).args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{bits}"),
            ]),
            None,
        );
        let spki = public_key_der(&pem, "PEM");
        DkimKey {
            key_type: KeyType::Rsa,
            private_key: String::from_utf8(pem).unwrap(),
            txt: format!("v=DKIM1; k=rsa; p={}", STANDARD.encode(spki)),
        }
    }

    /// A new Ed25519 key. RFC 8463 §4 publishes the bare 32-byte public key, and dkimpy
    /// reads the bare 32-byte seed, base64-encoded.
    pub fn generate_ed25519() -> Self {
        let pkcs8 = run(
            Command::new(OPENSSL).args(["genpkey", "-algorithm", "ed25519", "-outform", "DER"]),
            None,
        );
        let seed = pkcs8
            .strip_prefix(&ED25519_PKCS8_PREFIX[..])
            .unwrap_or_else(|| panic!("not an Ed25519 PKCS#8 key: {pkcs8:02x?}"));
        let spki = public_key_der(&pkcs8, "DER");
        let public = spki
            .strip_prefix(&ED25519_SPKI_PREFIX[..])
            .unwrap_or_else(|| panic!("not an Ed25519 public key: {spki:02x?}"));
        DkimKey {
            key_type: KeyType::Ed25519,
            private_key: STANDARD.encode(seed),
            txt: format!("v=DKIM1; k=ed25519; p={}", STANDARD.encode(public)),
        }
    }

    /// The kind of key.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The private key as `dkimsign` reads it (PEM for RSA, base64 seed for Ed25519).
    pub fn private_key(&self) -> &str {
        &self.private_key
    }

    /// The value of the TXT record at `<selector>._domainkey.<domain>`:
    /// `v=DKIM1; k=…; p=<base64>`.
    pub fn txt_record(&self) -> &str {
        &self.txt
    }
}

/// Canonicalization of headers or body (RFC 6376 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canonicalization {
    /// `simple`: the bytes as they are.
    Simple,
    /// `relaxed`: whitespace folded, header names lowercase.
    Relaxed,
}

impl Canonicalization {
    fn as_str(self) -> &'static str {
        match self {
            Canonicalization::Simple => "simple",
            Canonicalization::Relaxed => "relaxed",
        }
    }
}

/// The `a=` tag of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// `rsa-sha256`.
    RsaSha256,
    /// `rsa-sha1`, which RFC 8301 §3.1 forbids verifiers to accept.
    RsaSha1,
    /// `ed25519-sha256` (RFC 8463).
    Ed25519Sha256,
}

impl SigningAlgorithm {
    fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::RsaSha256 => "rsa-sha256",
            SigningAlgorithm::RsaSha1 => "rsa-sha1",
            SigningAlgorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }
}

/// How to sign. The default is `c=relaxed/relaxed` with the key's usual algorithm
/// (`rsa-sha256` or `ed25519-sha256`) and no `i=` of our choosing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// Header canonicalization.
    pub header: Canonicalization,
    /// Body canonicalization.
    pub body: Canonicalization,
    /// The algorithm; `None` follows the key.
    pub algorithm: Option<SigningAlgorithm>,
    /// The `i=` tag (the signing identity), when it is to differ from `@domain`.
    pub identity: Option<String>,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            header: Canonicalization::Relaxed,
            body: Canonicalization::Relaxed,
            algorithm: None,
            identity: None,
        }
    }
}

/// `message` with a `DKIM-Signature:` header prepended, made by `dkimsign` for `d=domain`
/// and `s=selector`. Panics when `dkimsign` is missing or refuses, rather than returning an
/// unsigned message.
pub fn dkim_sign(
    message: &[u8],
    domain: &str,
    selector: &str,
    key: &DkimKey,
    options: &SignOptions,
) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("private.key");
    std::fs::write(&key_path, &key.private_key).unwrap();
    let algorithm = options.algorithm.unwrap_or(match key.key_type {
        KeyType::Rsa => SigningAlgorithm::RsaSha256,
        KeyType::Ed25519 => SigningAlgorithm::Ed25519Sha256,
    });
    let mut command = Command::new(DKIMSIGN);
    command
        .args([selector, domain])
        .arg(&key_path)
        .args(["--hcanon", options.header.as_str()])
        .args(["--bcanon", options.body.as_str()])
        .args(["--signalg", algorithm.as_str()]);
    if let Some(identity) = &options.identity {
        command.args(["--identity", identity]);
    }
    let output = output_of(&mut command, Some((dir.path(), message)));
    // dkimsign reports a failure on stderr, exits 0 and prints the message unsigned.
    assert!(
        output.stderr.is_empty() && output.stdout.starts_with(b"DKIM-Signature:"),
        "{command:?} did not sign: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `message` with an ARC set prepended (RFC 8617: `ARC-Seal`, `ARC-Message-Signature`,
/// `ARC-Authentication-Results`), made by `arcsign` as the forwarder `d=domain`, `s=selector`.
/// `message` must carry the forwarder's own `Authentication-Results: authserv_id; …`, which
/// the set records. Panics when `arcsign` is missing or does not seal.
pub fn arc_seal(
    message: &[u8],
    domain: &str,
    selector: &str,
    key: &DkimKey,
    authserv_id: &str,
) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("private.key");
    std::fs::write(&key_path, &key.private_key).unwrap();
    let mut command = Command::new(ARCSIGN);
    command
        .args([selector, domain])
        .arg(&key_path)
        .arg(authserv_id);
    let output = output_of(&mut command, Some((dir.path(), message)));
    assert!(
        output.status.success() && output.stdout.starts_with(b"ARC-Seal:"),
        "{command:?} did not seal: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The DER SubjectPublicKeyInfo of a private key given in `form` (`PEM` or `DER`).
fn public_key_der(private_key: &[u8], form: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    run(
        Command::new(OPENSSL).args(["pkey", "-inform", form, "-pubout", "-outform", "DER"]),
        Some((dir.path(), private_key)),
    )
}

/// Standard output of `command`, which must succeed.
fn run(command: &mut Command, stdin: Option<(&Path, &[u8])>) -> Vec<u8> {
    let output = output_of(command, stdin);
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Runs `command` with `stdin` (written to a file in the given directory first, so that a
/// large input cannot block on a full pipe) as its standard input.
fn output_of(command: &mut Command, stdin: Option<(&Path, &[u8])>) -> Output {
    match stdin {
        Some((dir, bytes)) => {
            let path = dir.join("stdin");
            std::fs::write(&path, bytes).unwrap();
            command.stdin(std::fs::File::open(&path).unwrap());
        }
        None => {
            command.stdin(Stdio::null());
        }
    }
    match command.output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let program = command.get_program().to_string_lossy().into_owned();
            let package = if program == DKIMSIGN {
                "python3-dkim"
            } else if program == ARCSIGN {
                "python3-dkim and python3-authres"
            } else {
                "openssl"
            };
            panic!("{program} not found: install the Debian package {package}, as .ci/run does")
        }
        Err(e) => panic!("{command:?}: {e}"),
    }
}
