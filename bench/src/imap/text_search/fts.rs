//! I2 against Dovecot's full-text search: Debian's fts-xapian plugin, loaded for a fourth
//! official alone, whose INBOX holds hard links to the files of I2's Maildir. This module
//! owns the plugin's settings and that official's passwd-file field, the index `doveadm
//! index` builds before the searches, the check that only that official searched with the
//! plugin, and the rows of the report that set congvu against it.
//!
//! It writes only into the FTS official's Maildir; the plain official's is only looked at.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::*;
use crate::figures::{bytes_roughly, per_second, seconds, Spread};
use crate::machine::pinned;
use crate::process::version;

/// Debian's fts-xapian plugin for Dovecot 2.3 (package dovecot-fts-xapian).
pub(in crate::imap) const FTS_XAPIAN_PLUGIN: &str =
    "/usr/lib/dovecot/modules/lib21_fts_xapian_plugin.so";

/// The passwd-file extra field that loads FTS for one official alone. Dovecot takes a
/// passwd-file's `userdb_`-prefixed extra fields as userdb fields (the prefix is required
/// when the file is the userdb), and a userdb field overrides the setting of its name; extra
/// fields are split at spaces, `mail_plugins` at spaces and commas.
pub(in crate::imap) const FTS_USERDB_FIELD: &str = "userdb_mail_plugins=fts,fts_xapian";

/// fts-xapian's settings as its README gives them for Dovecot 2.3: n-grams of 3 to 20
/// characters, quiet, and a search that fails rather than falling back to reading every
/// message. Only the plugins read them, so they are inert for officials who do not load
/// them; they sit in dovecot.conf rather than in the passwd-file because `fts_xapian`'s
/// value holds spaces. No `fts_autoindex`: nothing is delivered, `doveadm index` builds the
/// index.
pub(in crate::imap) const FTS_PLUGIN_SETTINGS: &str = "plugin {\n  \
     fts = xapian\n  \
     fts_xapian = partial=3 full=20 verbose=0\n  \
     fts_enforced = yes\n\
     }\n";

/// Where fts-xapian keeps a user's index: `xapian-indexes` in the root of the mail index,
/// here the Maildir; made as soon as the plugin is loaded for the user.
const INDEX_DIR: &str = "xapian-indexes";

/// The official whose INBOX is I2's searched through fts-xapian: the fourth, as the third
/// holds I2's own.
pub(in crate::imap) fn fts_owner(officials: &[Official]) -> &Official {
    &officials[3]
}

/// Gives `home` a Maildir whose `cur/` holds a hard link to every file of `maildir`'s
/// `cur/`: the same messages under the same names, its own index beside them; returns how
/// many.
pub(super) fn link_maildir(maildir: &Path, home: &Path) -> anyhow::Result<usize> {
    let cur = super::super::large::empty_maildir(home)?;
    let mut linked = 0;
    for entry in std::fs::read_dir(maildir.join("cur"))? {
        let entry = entry?;
        std::fs::hard_link(entry.path(), cur.join(entry.file_name()))?;
        linked += 1;
    }
    Ok(linked)
}

/// What `doveadm index` did for the FTS official before the searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::imap) struct FtsIndex {
    pub(in crate::imap) wall: Duration,
    /// Bytes of the official's fts-xapian index after the searches.
    pub(in crate::imap) bytes: u64,
}

impl FtsIndex {
    /// The index as the details give it.
    pub(super) fn describe(&self) -> String {
        format!(
            "`doveadm index` took {}, leaving an index of {}",
            seconds(self.wall.as_secs_f64()),
            bytes_roughly(self.bytes as f64)
        )
    }
}

/// The size of `fts_home`'s fts-xapian index; an error unless it has one and `plain_home`,
/// which must have searched without the plugin, has none.
pub(super) fn fts_index_bytes(plain_home: &Path, fts_home: &Path) -> Result<u64, String> {
    let plain = plain_home.join("Maildir").join(INDEX_DIR);
    if plain.exists() {
        return Err(format!(
            "{} exists: the official without FTS loaded fts-xapian",
            plain.display()
        ));
    }
    let index = fts_home.join("Maildir").join(INDEX_DIR);
    if !index.is_dir() {
        return Err(format!(
            "{} is missing: the FTS official searched without fts-xapian",
            index.display()
        ));
    }
    tree_bytes(&index).map_err(|e| format!("while sizing {}: {e}", index.display()))
}

/// The bytes of every file under `dir`.
fn tree_bytes(dir: &Path) -> io::Result<u64> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        bytes += if kind.is_dir() {
            tree_bytes(&entry.path())?
        } else {
            entry.metadata()?.len()
        };
    }
    Ok(bytes)
}

/// `doveadm index` of `login`'s INBOX through the instance configured at `config`.
pub(super) fn doveadm_index_arguments(config: &Path, login: &str) -> Vec<String> {
    [
        "-c",
        &config.display().to_string(),
        "index",
        "-u",
        login,
        "INBOX",
    ]
    .map(str::to_string)
    .to_vec()
}

/// The plugin's package version, as dpkg knows it.
fn fts_xapian_version() -> String {
    let mut command = Command::new("dpkg-query");
    command.args(["-W", "-f", "${Version}", "dovecot-fts-xapian"]);
    version(command, "(version unknown)")
}

impl Bench<'_> {
    /// I2 through fts-xapian on Dovecot: `doveadm index` of the FTS official's INBOX, as an
    /// administrator indexes mail already stored, on the server's core; then the same session
    /// of searches as the plain official's, checked to find the phrase and to have used an
    /// index only that official has.
    pub(super) fn measure_fts(&self, server: &Server) -> anyhow::Result<SearchRun> {
        let n = self.args.search_messages;
        let login = &fts_owner(self.officials).login;
        println!("I2: Dovecot with fts-xapian, `doveadm index` of {login}'s INBOX");
        let wall = self.doveadm_index(server, login)?;
        println!("  {:.1} s", wall.as_secs_f64());
        println!("I2: Dovecot with fts-xapian, SEARCH in {n} messages");
        let mail = self.work.join("dovecot-mail");
        let plain = &search_owner(self.officials).login;
        let run = self
            .runtime
            .block_on(self.search_session(server, login))
            .and_then(|searches| {
                let bytes = fts_index_bytes(&mail.join(plain), &mail.join(login))?;
                Ok(SearchRun {
                    searches,
                    import: None,
                    index: Some(FtsIndex { wall, bytes }),
                })
            })
            .and_then(|run| check_found(ServerKind::Dovecot, n, &run).map(|()| run))
            .map_err(|e| anyhow::anyhow!("Dovecot with fts-xapian: I2: {e}"))?;
        print_run(n, &run);
        Ok(run)
    }

    fn doveadm_index(&self, server: &Server, login: &str) -> anyhow::Result<Duration> {
        let config = self.dovecot_config.context("Dovecot was not configured")?;
        let mut command = pinned(&self.args.doveadm, server.pin.as_deref());
        command
            .args(doveadm_index_arguments(config, login))
            .stdin(Stdio::null());
        let started = Instant::now();
        let out = command
            .output()
            .with_context(|| format!("while starting {}", self.args.doveadm.display()))?;
        let wall = started.elapsed();
        anyhow::ensure!(
            out.status.success(),
            "doveadm index -u {login} INBOX failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(wall)
    }
}

impl Report<'_> {
    /// How I2 was measured against fts-xapian.
    pub(super) fn fts_method(&self) -> String {
        format!(
            "  **Dovecot with fts-xapian** (Debian's dovecot-fts-xapian {version}): a fourth official of\n  \
             the same instance holds hard links to the same Maildir files, and that official's line of\n  \
             the passwd-file alone ends in `{FTS_USERDB_FIELD}`; dovecot.conf carries the\n  \
             plugin's settings from its README (`fts = xapian`, `fts_xapian = partial=3 full=20\n  \
             verbose=0`, `fts_enforced = yes`), which only the loaded plugin reads. `doveadm index` builds\n  \
             the index before that official's session, on the server's core; its wall time is its own\n  \
             row. The run checks that the index exists for that official and none for the other.\n  \
             fts-xapian lowercases and strips diacritics from both the text and the search string,\n  \
             looks each word of 3 characters or more up on its own (`ha` is dropped) as a substring\n  \
             anywhere in the part searched, not as a phrase, and Dovecot takes its answer without\n  \
             reading the messages: its counts are in the details, checked only to find `công văn 2986`\n  \
             at all. Its rows carry no target.\n",
            version = fts_xapian_version(),
        )
    }

    /// congvu against Dovecot with fts-xapian: the index, each search's warm times, and the
    /// first search.
    pub(super) fn fts_rows(&self, c: Option<&Figures>, d: Option<&Figures>) -> Vec<Row> {
        let n = self.args.search_messages;
        let ours = c.and_then(|f| f.text_search.as_ref());
        let fts = d.and_then(|f| f.text_search_fts.as_ref());
        let index = fts.and_then(|r| r.index).map(|i| {
            let rate = per_second(n as f64 / i.wall.as_secs_f64());
            format!("{} ({rate})", seconds(i.wall.as_secs_f64()))
        });
        let what = format!(
            "`doveadm index` of the {n} messages by Dovecot with fts-xapian, before its \
             searches: wall time"
        );
        let mut rows = vec![Row {
            reference: index,
            ..Row::info("I2 FTS index", what, None)
        }];
        let spread = |run: Option<&SearchRun>, search, get: fn(&SearchTimes) -> Vec<f64>| {
            run.and_then(|r| r.times(search))
                .and_then(|t| Spread::of(&get(t)))
        };
        let warm = |t: &SearchTimes| t.warm.iter().map(Duration::as_secs_f64).collect();
        let first = |t: &SearchTimes| vec![t.first.as_secs_f64()];
        for search in SEARCHES {
            let what = format!(
                "`{}` in a {n}-message INBOX, against Dovecot with fts-xapian",
                search.command()
            );
            let figures = [spread(ours, search, warm), spread(fts, search, warm)];
            rows.push(Row::compare("I2", what, figures, seconds));
        }
        let what = format!(
            "the first SEARCH (`{}`) after the server started, against Dovecot with fts-xapian's \
             first after `doveadm index`",
            SEARCHES[0].command()
        );
        let figures = [
            spread(ours, SEARCHES[0], first),
            spread(fts, SEARCHES[0], first),
        ];
        rows.push(Row::compare("I2", what, figures, seconds));
        rows
    }
}
