//! The credentials file: what an agency's IT officer hands each new official to make their
//! first password, and the only place generated initial passwords and reset links are ever
//! written. Created with mode 0600 and never over an existing file; removed again if the
//! import that it belongs to fails.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use congvu::directory::ImportPlan;

/// An open, new, owner-only credentials file.
#[derive(Debug)]
pub struct CredentialsFile {
    path: PathBuf,
    file: File,
}

impl CredentialsFile {
    /// Creates `path` (mode 0600), refusing to overwrite anything.
    pub fn create(path: &Path) -> anyhow::Result<CredentialsFile> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                    "{}: already exists; the credentials file is never overwritten: choose a new name",
                    path.display()
                ),
                _ => anyhow::anyhow!("{}: cannot create the credentials file: {e}", path.display()),
            })?;
        Ok(CredentialsFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line per new official with a generated password (`generated[i]` belongs to
    /// `plan.creates[i]`), each with the portal address `sign_in` where the password is
    /// exchanged for the official's own, and syncs the file to disk.
    pub fn write_passwords(
        &self,
        plan: &ImportPlan,
        generated: &[Option<String>],
        sign_in: &str,
    ) -> anyhow::Result<()> {
        let rows = plan
            .creates
            .iter()
            .zip(generated)
            .filter_map(|(create, secret)| {
                let secret = secret.as_deref()?;
                Some([
                    create.name.full(),
                    create.address.clone(),
                    create.login.clone(),
                    secret.to_string(),
                ])
            });
        self.write_initial_passwords(rows, sign_in)
    }

    /// Writes one line per official given as (name, address, login, initial password),
    /// each with the portal address `sign_in`, and syncs the file to disk.
    pub fn write_initial_passwords(
        &self,
        officials: impl Iterator<Item = [String; 4]>,
        sign_in: &str,
    ) -> anyhow::Result<()> {
        let rows = officials.map(|[name, address, login, secret]| {
            [name, address, login, secret, sign_in.to_string()]
        });
        self.write(
            ["name", "address", "login", "initial_password", "sign_in"],
            rows,
        )
    }

    /// Writes one line per new official with a reset link (`links[i]` belongs to
    /// `plan.creates[i]`), each link good once until `valid_until`, and syncs the file.
    pub fn write_links(
        &self,
        plan: &ImportPlan,
        links: &[Option<String>],
        valid_until: &str,
    ) -> anyhow::Result<()> {
        let rows = plan.creates.iter().zip(links).filter_map(|(create, link)| {
            let link = link.as_deref()?;
            Some([
                create.name.full(),
                create.address.clone(),
                create.login.clone(),
                link.to_string(),
                valid_until.to_string(),
            ])
        });
        self.write(
            ["name", "address", "login", "reset_link", "valid_until"],
            rows,
        )
    }

    fn write(
        &self,
        header: [&str; 5],
        rows: impl Iterator<Item = [String; 5]>,
    ) -> anyhow::Result<()> {
        let mut out = csv::Writer::from_writer(&self.file);
        out.write_record(header)?;
        for row in rows {
            out.write_record(&row)?;
        }
        out.flush()?;
        drop(out);
        (&self.file).flush()?;
        self.file.sync_all()?;
        Ok(())
    }

    /// Removes the file: what it holds (or would hold) belongs to accounts that were not
    /// created, or it could not be filled.
    pub fn discard(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.path);
    }
}
