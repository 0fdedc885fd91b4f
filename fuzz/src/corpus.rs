//! The seed inputs of a target: every file in its corpus directory, in name order so that a
//! run's sequence of inputs depends only on its seed.

use std::io;
use std::path::Path;

/// One seed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// The file's name, for messages.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The seeds in `dir`: its regular files, hidden ones (`.gitkeep`) left out.
pub fn load(dir: &Path) -> io::Result<Vec<Seed>> {
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("corpus {}: {e}", dir.display())))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        seeds.push(Seed {
            name,
            bytes: std::fs::read(entry.path())?,
        });
    }
    seeds.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_read_in_name_order_without_hidden_files() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("congvu-fuzz-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("b-second"), b"2")?;
        std::fs::write(dir.join("a-first"), b"1")?;
        std::fs::write(dir.join(".gitkeep"), b"")?;
        let seeds = load(&dir);
        std::fs::remove_dir_all(&dir)?;
        let names: Vec<_> = seeds?.into_iter().map(|s| (s.name, s.bytes)).collect();
        assert_eq!(
            names,
            vec![
                ("a-first".into(), b"1".to_vec()),
                ("b-second".into(), b"2".to_vec())
            ]
        );
        Ok(())
    }

    #[test]
    fn a_missing_directory_is_named_in_the_error() {
        let error = load(Path::new("/nonexistent/congvu-corpus")).expect_err("no such directory");
        assert!(
            error.to_string().contains("/nonexistent/congvu-corpus"),
            "{error}"
        );
    }
}
