//! Finding the tree's entries by a string they hold (a comparable DN, an indexed value)
//! without keeping a second copy of every such string: the tree holds every active
//! official, and maps keyed by copies of their DNs, logins, addresses and names made about
//! 4 MB of the heap's peak at a start over 10,000 officials.

use std::hash::{BuildHasher, RandomState};

/// Entry positions sorted by a hash of the string each is found by. A lookup yields every
/// entry whose string has the hash of the one asked for, and the caller compares the
/// entry's own string: two strings sharing a hash cost a comparison, never a wrong answer.
#[derive(Debug)]
pub(super) struct HashIndex {
    hasher: RandomState,
    slots: Box<[(u64, usize)]>,
}

impl HashIndex {
    /// An index of `(entry, string)` pairs; an entry listed twice under one string is kept
    /// once.
    pub(super) fn new<'a>(
        hasher: &RandomState,
        pairs: impl Iterator<Item = (usize, &'a str)>,
    ) -> HashIndex {
        let mut slots: Vec<(u64, usize)> = pairs
            .map(|(entry, key)| (hasher.hash_one(key), entry))
            .collect();
        slots.sort_unstable();
        slots.dedup();
        HashIndex {
            hasher: hasher.clone(),
            slots: slots.into_boxed_slice(),
        }
    }

    /// Entries that may hold `key`, ascending: every one that does, and rarely one whose
    /// string only shares its hash.
    pub(super) fn candidates(&self, key: &str) -> impl Iterator<Item = usize> + '_ {
        let hash = self.hasher.hash_one(key);
        let first = self.slots.partition_point(|&(h, _)| h < hash);
        self.slots[first..]
            .iter()
            .take_while(move |&&(h, _)| h == hash)
            .map(|&(_, entry)| entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_entry_holding_a_string_once_each_in_order() {
        let pairs = [
            (0, "annv"),
            (1, "binhtt"),
            (2, "annv"),
            (2, "annv"),
            (3, "chilt"),
        ];
        let index = HashIndex::new(&RandomState::new(), pairs.into_iter());
        assert_eq!(index.candidates("annv").collect::<Vec<_>>(), [0, 2]);
        assert_eq!(index.candidates("chilt").collect::<Vec<_>>(), [3]);
        assert_eq!(index.candidates("dunglv").count(), 0);
        assert_eq!(index.candidates("").count(), 0);
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let index = HashIndex::new(&RandomState::new(), std::iter::empty());
        assert_eq!(index.candidates("annv").count(), 0);
    }
}
