//! The credentials file: the only place generated initial passwords are ever written.
//! Created with mode 0600 and never over an existing file; removed again if the import
//! that it belongs to fails.

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

    /// Writes one line per new official with a generated password (`generated[i]` belongs to
    /// `plan.creates[i]`) and syncs the file to disk.
    pub fn write(&self, plan: &ImportPlan, generated: &[Option<String>]) -> anyhow::Result<()> {
        let mut out = csv::Writer::from_writer(&self.file);
        out.write_record(["name", "address", "login", "initial_password"])?;
        for (create, secret) in plan.creates.iter().zip(generated) {
            if let Some(secret) = secret {
                out.write_record([
                    create.name.full().as_str(),
                    &create.address,
                    &create.login,
                    secret,
                ])?;
            }
        }
        out.flush()?;
        drop(out);
        (&self.file).flush()?;
        self.file.sync_all()?;
        Ok(())
    }

    /// Removes the file: its passwords belong to accounts that were not created.
    pub fn discard(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.path);
    }
}
