//! `congvu-admin cert …`: officials' digital-signature certificates. Files are read here and
//! handed to the directory, which decides what each holds and whose it is.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use congvu::directory::{
    Certificate, CertificateFileOutcome, CertificateFilter, CertificateListing,
};
use serde_json::json;

use crate::{output, Context};

/// File names `cert import-dir` reads: what CAs and browsers export certificates as.
const CERTIFICATE_EXTENSIONS: [&str; 6] = ["pem", "crt", "cer", "der", "p7b", "p7c"];
/// A certificate file is a few KiB; anything this large is not one.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// `congvu-admin cert …`
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Attach a certificate file (PEM, DER, or a PKCS#7 bundle) to an official.
    Import {
        /// The official's login.
        #[arg(long)]
        user: String,
        /// The certificate file; in a bundle, the end-entity certificate is the official's.
        file: PathBuf,
    },
    /// Import every certificate file in a folder (.pem .crt .cer .der .p7b .p7c), each matched
    /// to its official by the e-mail address it names. Unmatched and ambiguous files are
    /// reported and left for `cert import --user`.
    ImportDir {
        /// The folder (not searched recursively).
        dir: PathBuf,
    },
    /// List certificates with their holders.
    List {
        /// Only holders in this agency or below it.
        #[arg(long)]
        agency: Option<String>,
        /// Only valid certificates that expire within this many days.
        #[arg(long, value_name = "DAYS")]
        expiring: Option<u32>,
    },
    /// Revoke a certificate: it leaves LDAP and no longer verifies the holder's mail.
    Revoke {
        /// The SHA-256 fingerprint in hex, or its first 8 or more digits, as `cert list` shows.
        fingerprint: String,
    },
}

/// Runs one `cert` command.
pub async fn run(ctx: &Context, cmd: CertCommand) -> anyhow::Result<()> {
    match cmd {
        CertCommand::Import { user, file } => import(ctx, &user, &file).await,
        CertCommand::ImportDir { dir } => import_dir(ctx, &dir).await,
        CertCommand::List { agency, expiring } => {
            let filter = CertificateFilter {
                agency,
                expiring_within: expiring.map(|days| i64::from(days) * 86_400),
            };
            list(ctx, &ctx.directory.certificate_listing(&filter).await?);
            Ok(())
        }
        CertCommand::Revoke { fingerprint } => {
            let revoked = ctx
                .directory
                .revoke_certificate_by_fingerprint(&ctx.actor, &fingerprint)
                .await?;
            if ctx.json {
                output::json(&certificate_json(&revoked));
            } else {
                output::line(&format!(
                    "revoked certificate {} (serial {})",
                    revoked.fingerprint_sha256, revoked.serial
                ));
            }
            Ok(())
        }
    }
}

async fn import(ctx: &Context, login: &str, file: &Path) -> anyhow::Result<()> {
    let bytes = read_file(file)?;
    let imported = ctx
        .directory
        .import_certificate(&ctx.actor, login, &bytes)
        .await
        .with_context(|| format!("{}", file.display()))?;
    let c = &imported.certificate;
    if ctx.json {
        let mut value = certificate_json(c);
        value["names_the_official"] = json!(imported.names_the_official);
        output::json(&value);
        return Ok(());
    }
    output::line(&format!(
        "imported certificate {} for {login}: serial {}, valid {} to {}",
        c.fingerprint_sha256,
        c.serial,
        output::time(c.not_before),
        output::time(c.not_after)
    ));
    if !imported.names_the_official {
        output::line(
            "note: the certificate names none of this official's addresses; mail clients \
             match certificates to senders by address",
        );
    }
    Ok(())
}

async fn import_dir(ctx: &Context, dir: &Path) -> anyhow::Result<()> {
    let paths = certificate_files(dir)?;
    let mut files = Vec::with_capacity(paths.len());
    for path in &paths {
        files.push(read_file(path)?);
    }
    let outcomes = ctx
        .directory
        .import_certificate_files(&ctx.actor, &files)
        .await?;
    let mut not_imported = 0;
    let mut rows = Vec::with_capacity(outcomes.len());
    for (path, outcome) in paths.iter().zip(&outcomes) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (status, detail) = describe(outcome);
        if !matches!(
            outcome,
            CertificateFileOutcome::Imported { .. } | CertificateFileOutcome::AlreadyHeld { .. }
        ) {
            not_imported += 1;
        }
        rows.push((name, status, detail, outcome));
    }
    if ctx.json {
        let files: Vec<_> = rows
            .iter()
            .map(|(name, status, detail, outcome)| {
                let mut v = json!({ "file": name, "status": status, "detail": detail });
                if let CertificateFileOutcome::Imported { login, certificate } = outcome {
                    v["login"] = json!(login);
                    v["fingerprint"] = json!(certificate.fingerprint_sha256);
                }
                v
            })
            .collect();
        output::json(&json!({ "files": files }));
    } else {
        output::table(
            &["FILE", "STATUS", "DETAIL"],
            &rows
                .iter()
                .map(|(name, status, detail, _)| {
                    vec![name.clone(), status.to_string(), detail.clone()]
                })
                .collect::<Vec<_>>(),
        );
        let count = |status: &str| rows.iter().filter(|r| r.1 == status).count() as i64;
        output::line(&format!(
            "{} imported, {} already held, {} unmatched, {} ambiguous, {} unreadable",
            count("imported"),
            count("held"),
            count("unmatched"),
            count("ambiguous"),
            count("unreadable"),
        ));
    }
    if not_imported > 0 {
        anyhow::bail!(
            "{} in {} not imported; import each with `congvu-admin cert import --user LOGIN FILE`",
            output::count(not_imported, "file", "files"),
            dir.display()
        );
    }
    Ok(())
}

/// The status word and the explanation of one file's outcome.
fn describe(outcome: &CertificateFileOutcome) -> (&'static str, String) {
    match outcome {
        CertificateFileOutcome::Imported { login, certificate } => (
            "imported",
            format!("{login}, valid to {}", output::time(certificate.not_after)),
        ),
        CertificateFileOutcome::AlreadyHeld { login } => {
            ("held", format!("already in the directory, held by {login}"))
        }
        CertificateFileOutcome::Unmatched { emails } if emails.is_empty() => {
            ("unmatched", "names no e-mail address".to_string())
        }
        CertificateFileOutcome::Unmatched { emails } => (
            "unmatched",
            format!("no official has {}", emails.join(", ")),
        ),
        CertificateFileOutcome::Ambiguous { logins } => (
            "ambiguous",
            format!("its addresses belong to {}", logins.join(", ")),
        ),
        CertificateFileOutcome::Unreadable(e) => ("unreadable", e.to_string()),
    }
}

/// The certificate files directly in `dir`, by name.
fn certificate_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read the folder {}", dir.display()))?
            .path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| CERTIFICATE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if wanted && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        anyhow::bail!(
            "{} holds no certificate files (.{})",
            dir.display(),
            CERTIFICATE_EXTENSIONS.join(" .")
        );
    }
    Ok(paths)
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > MAX_FILE_BYTES {
        anyhow::bail!(
            "{}: {} is too large for a certificate file",
            path.display(),
            output::bytes(size as i64)
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn list(ctx: &Context, listing: &[CertificateListing]) {
    if ctx.json {
        let rows: Vec<_> = listing
            .iter()
            .map(|l| {
                let mut v = certificate_json(&l.certificate);
                v["login"] = json!(l.login);
                v["name"] = json!(l.display_name);
                v["agency"] = json!(l.agency_code);
                v["standing"] = json!(l.standing.as_str());
                v
            })
            .collect();
        output::json(&json!(rows));
        return;
    }
    let rows: Vec<Vec<String>> = listing
        .iter()
        .map(|l| {
            vec![
                l.login.clone(),
                l.agency_code.clone(),
                l.standing.as_str().to_string(),
                output::time(l.certificate.not_after),
                l.certificate.serial.clone(),
                l.certificate
                    .fingerprint_sha256
                    .get(..16)
                    .unwrap_or(&l.certificate.fingerprint_sha256)
                    .to_string(),
                l.display_name.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "LOGIN",
            "AGENCY",
            "STANDING",
            "NOT AFTER",
            "SERIAL",
            "FINGERPRINT",
            "NAME",
        ],
        &rows,
    );
}

fn certificate_json(c: &Certificate) -> serde_json::Value {
    json!({
        "fingerprint": c.fingerprint_sha256,
        "serial": c.serial,
        "issuer": c.issuer,
        "subject": c.subject,
        "not_before": output::time(c.not_before),
        "not_after": output::time(c.not_after),
        "key_usage": c.key_usage,
        "revoked_at": c.revoked_at.map(output::time),
    })
}
