//! The layering rules of docs/storage.md and docs/architecture.md, checked over the server's
//! source: sqlx and SQL live in `store/` only, so the domain and protocol layers stay
//! engine-neutral; no module imports from a layer above it beyond the crossings still known;
//! no protocol codec below the protocols.

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

/// The layers of the library, bottom first: a module imports only from its own layer or
/// below (docs/architecture.md). `telemetry` is called from every layer and sits at the
/// bottom with the values it labels.
const LAYERS: [(&str, u8); 27] = [
    ("model", 0),
    ("clock", 0),
    ("config", 0),
    ("telemetry", 0),
    ("task", 0),
    ("store", 1),
    ("directory", 2),
    ("mailstore", 2),
    ("queue", 2),
    ("inbound", 2),
    ("filter", 2),
    ("dkim", 2),
    ("smime", 2),
    ("backup", 2),
    ("expiry", 2),
    ("sieve", 2),
    ("dns", 2),
    ("net", 3),
    ("ldap", 4),
    ("smtp", 4),
    ("imap", 4),
    ("http", 4),
    ("managesieve", 4),
    ("server", 5),
    ("main", 5),
    ("lib", 5),
    ("fuzzing", 5),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// Which top-level modules each module names through `crate::`, outside its tests and
/// comments.
fn imports() -> std::collections::BTreeSet<(String, String)> {
    let mut found = std::collections::BTreeSet::new();
    for (path, text) in server_sources() {
        let parts: Vec<&str> = path.split('/').collect();
        let file = parts[parts.len() - 1];
        let in_tests = parts[..parts.len() - 1].contains(&"tests");
        if in_tests || file == "tests.rs" || file == "proptests.rs" {
            continue;
        }
        let from = parts[0].trim_end_matches(".rs").to_string();
        let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let to: String = line[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if to != from && layer(&to).is_some() {
                    found.insert((from.clone(), to));
                }
            }
        }
    }
    found
}

#[test]
fn every_module_is_in_a_layer() {
    let unplaced: Vec<_> = server_sources()
        .into_iter()
        .map(|(path, _)| {
            path.split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string()
        })
        .filter(|module| layer(module).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules in no layer (add them to LAYERS and docs/architecture.md): {unplaced:?}"
    );
}

/// A module imports only from its own layer or below, and two modules of one layer never
/// import each other (docs/architecture.md, "Where the layers are crossed").
#[test]
fn no_module_imports_from_a_layer_above() {
    let imports = imports();
    let crossings: std::collections::BTreeSet<(String, String)> = imports
        .iter()
        .filter(|(from, to)| {
            let (a, b) = (layer(from), layer(to));
            b > a || (a == b && imports.contains(&(to.clone(), from.clone())) && from < to)
        })
        .cloned()
        .collect();
    assert!(
        crossings.is_empty(),
        "imports across the layers (model <- store <- domain <- net <- protocols <- server), \
         or between two modules of one layer both ways: {crossings:?}"
    );
}

#[test]
fn no_protocol_codec_below_the_protocols() {
    const CODECS: [&str; 6] = [
        "ldap3_proto",
        "imap_codec",
        "imap_types",
        "smtp_proto",
        "axum",
        "hyper",
    ];
    let offenders: Vec<_> = server_sources()
        .into_iter()
        .filter(|(path, _)| {
            ["model/", "store/", "directory/", "mailstore/", "queue/"]
                .iter()
                .any(|dir| path.starts_with(dir))
        })
        .filter(|(_, text)| CODECS.iter().any(|c| text.contains(&format!("{c}::"))))
        .map(|(path, _)| path)
        .collect();
    assert!(
        offenders.is_empty(),
        "protocol codec types below the protocols: {offenders:?}"
    );
}
