//! Message flags between the mail store's bits and keywords and IMAP's flag lists.

use imap_codec::imap_types::core::Atom;
use imap_codec::imap_types::flag::{Flag, FlagFetch, FlagPerm};

use crate::mailstore::MessageFlags;

/// The system flags and their bits.
const SYSTEM: [(MessageFlags, Flag<'static>); 5] = [
    (MessageFlags::SEEN, Flag::Seen),
    (MessageFlags::ANSWERED, Flag::Answered),
    (MessageFlags::FLAGGED, Flag::Flagged),
    (MessageFlags::DELETED, Flag::Deleted),
    (MessageFlags::DRAFT, Flag::Draft),
];

/// The flags a FETCH reports for a message.
pub(super) fn fetched(
    flags: MessageFlags,
    keywords: &[String],
    recent: bool,
) -> Vec<FlagFetch<'static>> {
    let mut list: Vec<FlagFetch<'static>> = SYSTEM
        .iter()
        .filter(|(bit, _)| flags.contains(*bit))
        .map(|(_, flag)| FlagFetch::Flag(flag.clone()))
        .collect();
    list.extend(
        keywords
            .iter()
            .filter_map(|k| keyword(k))
            .map(FlagFetch::Flag),
    );
    if recent {
        list.push(FlagFetch::Recent);
    }
    list
}

/// The FLAGS a SELECT announces: the system flags and the keywords in use.
pub(super) fn defined(keywords: &[String]) -> Vec<Flag<'static>> {
    let mut list: Vec<Flag<'static>> = SYSTEM.iter().map(|(_, f)| f.clone()).collect();
    list.extend(keywords.iter().filter_map(|k| keyword(k)));
    list
}

/// The PERMANENTFLAGS: the system flags, the keywords in use and `\*` (any new keyword).
pub(super) fn permanent(keywords: &[String]) -> Vec<FlagPerm<'static>> {
    let mut list: Vec<FlagPerm<'static>> =
        defined(keywords).into_iter().map(FlagPerm::Flag).collect();
    list.push(FlagPerm::Asterisk);
    list
}

/// Splits a client's flag list into system bits and keywords; `\Recent` and unknown system
/// flags are ignored (they cannot be stored).
pub(super) fn split(list: &[Flag<'_>]) -> (MessageFlags, Vec<String>) {
    let mut bits = MessageFlags::default();
    let mut keywords = Vec::new();
    for flag in list {
        match flag {
            Flag::Keyword(atom) => keywords.push(atom.as_ref().to_owned()),
            Flag::Extension(_) => {}
            system => {
                if let Some((bit, _)) = SYSTEM.iter().find(|(_, f)| f == system) {
                    bits = bits.with(*bit);
                }
            }
        }
    }
    (bits, keywords)
}

fn keyword(name: &str) -> Option<Flag<'static>> {
    Atom::try_from(name.to_owned()).ok().map(Flag::Keyword)
}
