//! The server's own backups (`[backup] dir, every_hours, keep`): one archive every
//! `every_hours`, named by its time so that names sort by age, the oldest removed beyond
//! `keep`. When the next is due is judged from the newest archive in the directory, so a
//! restart neither skips a backup nor takes one early. Success and size go to `/metrics`; a
//! failure is logged as an error and retried at the next interval.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{create, list, BackupError};
use crate::clock::{Clock, UnixTime};
use crate::config::BackupConfig;
use crate::store::Store;

/// How often whether a backup is due is judged again: the clock may jump (NTP, a resumed
/// virtual machine), and reading a directory costs nothing.
const RECHECK: Duration = Duration::from_secs(1);

/// The file extension of congvu backups.
pub const EXTENSION: &str = "cvbak";

/// Writes backups into `config.dir` on schedule until `shutdown`; returns at once when no
/// directory is set.
pub async fn run(store: Store, clock: Clock, config: BackupConfig, shutdown: CancellationToken) {
    let Some(dir) = config.dir.clone() else {
        return;
    };
    loop {
        let wait = match newest(&dir) {
            Some(at) => {
                // Names are to the second, so backups are at least a second apart.
                let every = config.every_hours.as_secs().max(1) as i64;
                let left = at.0.saturating_add(every) - clock.now().0;
                Duration::from_secs(left.max(0) as u64)
            }
            None => Duration::ZERO,
        };
        if !wait.is_zero() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait.min(RECHECK)) => {}
            }
            continue;
        }
        // A backup under way when the server stops is abandoned: its partial file removed.
        let written = tokio::select! {
            () = shutdown.cancelled() => return,
            written = back_up(&store, &clock, &dir, config.keep) => written,
        };
        match written {
            Ok((path, bytes)) => {
                crate::telemetry::backup_written(clock.now(), bytes);
                tracing::info!(path = %path.display(), bytes, "backup written");
            }
            Err(error) => {
                crate::telemetry::backup_failed();
                tracing::error!(dir = %dir.display(), %error, "BACKUP FAILED; retrying at the next interval");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(config.every_hours.max(Duration::from_secs(1))) => {}
                }
            }
        }
    }
}

/// Writes one archive into `dir` and removes the oldest beyond `keep`.
async fn back_up(
    store: &Store,
    clock: &Clock,
    dir: &Path,
    keep: u32,
) -> Result<(PathBuf, u64), BackupError> {
    std::fs::create_dir_all(dir).map_err(|source| BackupError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(file_name(clock.now()));
    let created = create(store, &path, clock, &|_| {}).await?;
    let archives = list(dir)?;
    let excess = archives.len().saturating_sub(keep as usize);
    for old in &archives[..excess] {
        if let Err(error) = std::fs::remove_file(&old.path) {
            tracing::warn!(path = %old.path.display(), %error, "cannot remove an old backup");
        }
    }
    Ok((path, created.file_bytes))
}

/// `congvu-20261206T051500Z.cvbak`: UTC, sorting by age.
fn file_name(at: UnixTime) -> String {
    let time =
        time::OffsetDateTime::from_unix_timestamp(at.0).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "congvu-{:04}{:02}{:02}T{:02}{:02}{:02}Z.{EXTENSION}",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// When the newest archive in `dir` was taken, by its name.
fn newest(dir: &Path) -> Option<UnixTime> {
    let names = std::fs::read_dir(dir).ok()?;
    names
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| taken_at(&name))
        .max()
}

fn taken_at(name: &str) -> Option<UnixTime> {
    let stamp = name
        .strip_prefix("congvu-")?
        .strip_suffix(&format!(".{EXTENSION}"))?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(stamp, &format).ok()?;
    Some(UnixTime(at.assume_utc().unix_timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_carry_their_time() {
        let at = UnixTime(1_796_534_100);
        let name = file_name(at);
        assert_eq!(name, "congvu-20261206T051500Z.cvbak");
        assert_eq!(taken_at(&name), Some(at));
        assert_eq!(taken_at("congvu-2026.cvbak"), None);
    }
}
