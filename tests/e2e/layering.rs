//! The layering rules of docs/storage.md, checked over the server's source: sqlx and SQL
//! live in `store/` only, so the domain and protocol layers stay engine-neutral.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn server_sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 20,
        "server sources not found under {}",
        src.display()
    );
    files
        .into_iter()
        .map(|p| {
            let relative = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            (relative, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn only_the_store_uses_sqlx() {
    let offenders: Vec<_> = server_sources()
        .into_iter()
        .filter(|(path, text)| !path.starts_with("store/") && text.contains("sqlx::"))
        .map(|(path, _)| path)
        .collect();
    assert!(
        offenders.is_empty(),
        "sqlx used outside store/: {offenders:?}"
    );
}

#[test]
fn only_the_store_holds_sql() {
    const STATEMENTS: [&str; 6] = [
        "\"SELECT ",
        "\"INSERT INTO",
        "\"UPDATE ",
        "\"DELETE FROM",
        "\"CREATE ",
        "\"WITH RECURSIVE",
    ];
    let offenders: Vec<_> = server_sources()
        .into_iter()
        .filter(|(path, text)| {
            !path.starts_with("store/") && STATEMENTS.iter().any(|s| text.contains(s))
        })
        .map(|(path, _)| path)
        .collect();
    assert!(offenders.is_empty(), "SQL outside store/: {offenders:?}");
}
