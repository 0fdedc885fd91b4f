//! One entry of the tree, packed. The tree holds every active official's entry for as long
//! as the server runs, so an entry keeps its DN, every value and every value's comparable
//! form in one text buffer, with tables of where each lies: three allocations an entry, where
//! an allocation per value, per comparable form and per attribute made about 45 for an
//! official. The attributes every tree entry answers with but need not store (entryDN,
//! subschemaSubentry, hasSubordinates) are made up when read.

use std::borrow::Cow;

use super::EntryKind;
use crate::ldap::attributes::{self as at, AttributeType, Matching};
use crate::ldap::dn;
use crate::ldap::schema::{SUBSCHEMA_DN, SUBSCHEMA_KEY};

/// An attribute as it is built, before its entry packs it.
#[derive(Debug, Clone)]
pub struct NewAttribute<'a> {
    pub kind: &'static AttributeType,
    values: Vec<Cow<'a, [u8]>>,
    /// Readable only by the entry's owner and by service accounts (the HR id).
    pub private: bool,
}

impl NewAttribute<'_> {
    /// The attribute, readable only by the entry's owner and by service accounts.
    pub fn private(self) -> Self {
        NewAttribute {
            private: true,
            ..self
        }
    }
}

/// An attribute from string values (empty ones dropped).
pub fn strings<'a>(
    kind: &'static AttributeType,
    vals: impl IntoIterator<Item = &'a str>,
) -> NewAttribute<'a> {
    attribute(kind, vals.into_iter().map(|v| Cow::Borrowed(v.as_bytes())))
}

/// An attribute from values that need not be text, borrowed or owned (empty ones dropped).
pub fn values<'a, V: Into<Cow<'a, [u8]>>>(
    kind: &'static AttributeType,
    vals: impl IntoIterator<Item = V>,
) -> NewAttribute<'a> {
    attribute(kind, vals.into_iter().map(Into::into))
}

fn attribute<'a>(
    kind: &'static AttributeType,
    vals: impl Iterator<Item = Cow<'a, [u8]>>,
) -> NewAttribute<'a> {
    NewAttribute {
        kind,
        values: vals.filter(|v| !v.is_empty()).collect(),
        private: false,
    }
}

/// Where a string lies in an entry's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }

    /// The span's text in `text`; empty past the offsets a span can hold (see [`offset`]).
    fn of(self, text: &str) -> &str {
        text.get(self.range()).unwrap_or_default()
    }

    /// The span's bytes in `bytes`, likewise.
    fn of_bytes(self, bytes: &[u8]) -> &[u8] {
        bytes.get(self.range()).unwrap_or_default()
    }
}

/// One value: where it lies as stored (in the binary buffer for an attribute matched as
/// octets, in the text otherwise), and where its comparable form lies (the same span where
/// the value is its own comparable form).
#[derive(Debug, Clone, Copy)]
struct Pair {
    stored: Span,
    comparable: Span,
}

/// One attribute: its type, and its values from pair `first` to the next slot's first.
#[derive(Debug, Clone, Copy)]
struct Slot {
    kind: &'static AttributeType,
    first: u32,
    private: bool,
}

/// Whether `kind`'s values are kept in the binary buffer.
fn binary(kind: &AttributeType) -> bool {
    kind.matching == Matching::Octets
}

/// One entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The DN, its comparable forms where they differ from it, every text value and every
    /// comparable form that differs from its value.
    text: Box<str>,
    /// The values of attributes matched as octets (certificates), which need not be text;
    /// empty, and so no allocation, for most entries.
    binary: Box<[u8]>,
    dn: Span,
    key: Span,
    /// The DN as entryDN's matching rule compares it (the key, for any DN that parses).
    entry_dn: Span,
    pub kind: EntryKind,
    slots: Box<[Slot]>,
    pairs: Box<[Pair]>,
    /// Whether the entry answers hasSubordinates, and with what: set for the tree's entries
    /// (not for the root DSE or the subschema entry).
    has_subordinates: Option<bool>,
    /// Whether entryDN and subschemaSubentry are made up when read: for the tree's entries
    /// that do not store their own.
    made_up_names: bool,
}

/// An attribute of an entry as read: a view of the entry's buffers.
#[derive(Debug, Clone, Copy)]
pub struct Attribute<'e> {
    pub kind: &'static AttributeType,
    pub private: bool,
    entry: &'e Entry,
    pairs: &'e [Pair],
    /// A value made up when read, as stored and in its comparable form.
    made_up: Option<(&'e str, &'e str)>,
}

impl<'e> Attribute<'e> {
    /// The values as stored and returned.
    pub fn values(self) -> impl Iterator<Item = &'e [u8]> + Clone + 'e {
        let buffer = if binary(self.kind) {
            &self.entry.binary
        } else {
            self.entry.text.as_bytes()
        };
        self.pairs
            .iter()
            .map(move |p| p.stored.of_bytes(buffer))
            .chain(self.made_up.map(|(stored, _)| stored.as_bytes()))
    }

    /// Each value's comparable form, in the attribute's matching rule's normal form.
    pub fn normalized(self) -> impl Iterator<Item = &'e str> + Clone + 'e {
        let entry = self.entry;
        self.pairs
            .iter()
            .map(move |p| p.comparable.of(&entry.text))
            .chain(self.made_up.map(|(_, comparable)| comparable))
    }
}

impl Entry {
    /// An entry named `dn`, its values packed and their comparable forms worked out here.
    pub fn new(dn: &str, kind: EntryKind, attributes: Vec<NewAttribute<'_>>) -> Entry {
        Packer::default().entry(dn, kind, &attributes)
    }

    /// The DN as stored and returned.
    pub fn dn(&self) -> &str {
        self.dn.of(&self.text)
    }

    /// The DN's comparable form.
    pub fn key(&self) -> &str {
        self.key.of(&self.text)
    }

    /// Makes the entry answer as the tree's entries do: hasSubordinates with `has`, and
    /// entryDN and subschemaSubentry unless it stores its own.
    pub fn join_tree(&mut self, has_subordinates: bool) {
        self.has_subordinates = Some(has_subordinates);
        self.made_up_names = !self
            .slots
            .iter()
            .any(|s| std::ptr::eq(s.kind, &at::ENTRY_DN));
    }

    /// Every attribute, the stored ones first.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> + Clone + '_ {
        (0..self.slots.len())
            .map(|i| self.stored_attribute(i))
            .chain(self.made_up())
    }

    /// The attribute of type `kind`, if the entry has it.
    pub fn attribute(&self, kind: &AttributeType) -> Option<Attribute<'_>> {
        match self.slots.iter().position(|s| std::ptr::eq(s.kind, kind)) {
            Some(i) => Some(self.stored_attribute(i)),
            None => self.made_up().find(|a| std::ptr::eq(a.kind, kind)),
        }
    }

    /// The stored attribute of slot `i`.
    fn stored_attribute(&self, i: usize) -> Attribute<'_> {
        let slot = self.slots[i];
        // The next slot's first pair ends this one's.
        let end = self
            .slots
            .get(i + 1)
            .map_or(self.pairs.len(), |s| s.first as usize);
        Attribute {
            kind: slot.kind,
            private: slot.private,
            entry: self,
            pairs: &self.pairs[slot.first as usize..end],
            made_up: None,
        }
    }

    /// The attributes made up when read, after the stored ones.
    fn made_up(&self) -> impl Iterator<Item = Attribute<'_>> + Clone + '_ {
        let names = self.made_up_names.then(|| {
            [
                (&at::ENTRY_DN, self.dn(), self.entry_dn.of(&self.text)),
                (&at::SUBSCHEMA_SUBENTRY, SUBSCHEMA_DN, SUBSCHEMA_KEY),
            ]
        });
        let subordinates = self.has_subordinates.map(|has| {
            let (stored, comparable) = if has {
                ("TRUE", "true")
            } else {
                ("FALSE", "false")
            };
            (&at::HAS_SUBORDINATES, stored, comparable)
        });
        names
            .into_iter()
            .flatten()
            .chain(subordinates)
            .map(|(kind, stored, comparable)| Attribute {
                kind,
                private: false,
                entry: self,
                pairs: &[],
                made_up: Some((stored, comparable)),
            })
    }
}

/// An entry's buffers as they fill. One packer serves a whole tree's build: its buffers grow
/// once, and each entry gets allocations of exactly its size, so building leaves no trail of
/// outgrown buffers between the entries that stay.
#[derive(Debug, Default)]
pub struct Packer {
    text: String,
    binary: Vec<u8>,
    slots: Vec<Slot>,
    pairs: Vec<Pair>,
}

impl Packer {
    /// An entry named `dn`, its values packed and their comparable forms worked out here.
    pub fn entry(&mut self, dn: &str, kind: EntryKind, attributes: &[NewAttribute<'_>]) -> Entry {
        self.text.clear();
        self.binary.clear();
        self.slots.clear();
        self.pairs.clear();
        let dn_span = self.text(dn);
        // A DN that parses has one normal form, the key and entryDN's alike; one that does
        // not is compared lowercased as a key and case-folded as entryDN's value.
        let (key, entry_dn) = match dn::normalize(dn) {
            Some(normal) => {
                let key = self.comparable(&normal, dn.as_bytes(), dn_span);
                (key, key)
            }
            None => {
                let key = self.comparable(&dn.to_lowercase(), dn.as_bytes(), dn_span);
                let folded = at::normalize(Matching::Dn, dn.as_bytes());
                (key, self.comparable(&folded, dn.as_bytes(), dn_span))
            }
        };
        for attribute in attributes.iter().filter(|a| !a.values.is_empty()) {
            self.attribute(attribute);
        }
        Entry {
            text: self.text.as_str().into(),
            binary: self.binary.as_slice().into(),
            dn: dn_span,
            key,
            entry_dn,
            kind,
            slots: self.slots.as_slice().into(),
            pairs: self.pairs.as_slice().into(),
            has_subordinates: None,
            made_up_names: false,
        }
    }

    fn text(&mut self, s: &str) -> Span {
        let start = offset(self.text.len());
        self.text.push_str(s);
        Span {
            start,
            len: offset(s.len()),
        }
    }

    /// Keeps `normal`, the comparable form of `stored` (kept at `at`), unless it is the same.
    fn comparable(&mut self, normal: &str, stored: &[u8], at: Span) -> Span {
        if normal.as_bytes() == stored {
            at
        } else {
            self.text(normal)
        }
    }

    fn attribute(&mut self, attribute: &NewAttribute<'_>) {
        self.slots.push(Slot {
            kind: attribute.kind,
            first: offset(self.pairs.len()),
            private: attribute.private,
        });
        for value in &attribute.values {
            let normal = at::normalize(attribute.kind.matching, value);
            let pair = if binary(attribute.kind) {
                let start = offset(self.binary.len());
                self.binary.extend_from_slice(value);
                Pair {
                    stored: Span {
                        start,
                        len: offset(value.len()),
                    },
                    comparable: self.text(&normal),
                }
            } else {
                // Where values are read from follows the attribute's type alone, so a text
                // attribute's value is kept as text whatever it was given as.
                let text = String::from_utf8_lossy(value);
                let stored = self.text(&text);
                Pair {
                    stored,
                    comparable: self.comparable(&normal, text.as_bytes(), stored),
                }
            };
            self.pairs.push(pair);
        }
    }
}

/// An offset into an entry's buffers. An entry is a part of the directory held in memory,
/// far below 4 GiB; were one larger, what lies past 4 GiB would read as empty rather than
/// stop the server.
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structure(dn: &str, attributes: Vec<NewAttribute<'_>>) -> Entry {
        Entry::new(dn, EntryKind::Structure, attributes)
    }

    #[test]
    fn an_entry_is_named_as_given_and_compared_in_normal_form() {
        let mut entry = structure("uid=AnNV, ou=People,dc=vinhphuc,dc=gov,dc=vn", Vec::new());
        entry.join_tree(false);
        assert_eq!(entry.dn(), "uid=AnNV, ou=People,dc=vinhphuc,dc=gov,dc=vn");
        assert_eq!(entry.key(), "uid=annv,ou=people,dc=vinhphuc,dc=gov,dc=vn");
        let entry_dn = entry.attribute(&at::ENTRY_DN).unwrap();
        assert_eq!(
            entry_dn.values().collect::<Vec<_>>(),
            [entry.dn().as_bytes()]
        );
        assert_eq!(entry_dn.normalized().collect::<Vec<_>>(), [entry.key()]);

        // A DN already in normal form is kept once.
        let dn = "uid=annv,ou=people,dc=vinhphuc,dc=gov,dc=vn";
        let entry = structure(dn, Vec::new());
        assert_eq!((entry.dn(), entry.key()), (dn, dn));
        assert_eq!(entry.text.len(), dn.len());
    }

    #[test]
    fn values_are_returned_as_stored_and_compared_in_normal_form() {
        let der = vec![0x30, 0x82, 0xff, 0x00];
        let entry = structure(
            "cn=x",
            vec![
                strings(&at::CN, ["Nguyễn Văn An", "", "an"]),
                strings(&at::UID, Vec::<&str>::new()),
                strings(&at::OBJECT_CLASS, ["top", "inetOrgPerson"]),
                values(&at::CERTIFICATE, [der.clone()]),
                strings(&at::EMPLOYEE_NUMBER, ["SNV-001"]).private(),
            ],
        );
        let cn = entry.attribute(&at::CN).unwrap();
        assert_eq!(
            cn.values().collect::<Vec<_>>(),
            ["Nguyễn Văn An".as_bytes(), b"an"],
            "empty values dropped"
        );
        assert_eq!(
            cn.normalized().collect::<Vec<_>>(),
            [
                at::normalize(Matching::CaseIgnore, "Nguyễn Văn An".as_bytes()).as_str(),
                "an"
            ]
        );
        assert!(
            entry.attribute(&at::UID).is_none(),
            "no values, no attribute"
        );
        let classes = entry.attribute(&at::OBJECT_CLASS).unwrap();
        assert_eq!(
            classes.normalized().collect::<Vec<_>>(),
            ["top", "inetorgperson"]
        );
        // A value already in normal form keeps no second copy: "an" and "top" once each.
        assert_eq!(entry.text.matches("top").count(), 1);

        // A certificate is bytes, not text, and compares by its hex form.
        let certificate = entry.attribute(&at::CERTIFICATE).unwrap();
        assert_eq!(certificate.values().collect::<Vec<_>>(), [der.as_slice()]);
        assert_eq!(
            certificate.normalized().collect::<Vec<_>>(),
            [at::normalize(Matching::Octets, &der).as_str()]
        );
        assert!(entry.attribute(&at::EMPLOYEE_NUMBER).unwrap().private);
        assert!(!cn.private);

        // A text attribute given bytes that are not UTF-8 keeps them as text, replaced.
        let odd = structure("cn=x", vec![values(&at::DESCRIPTION, [vec![0xff, b'a']])]);
        let description = odd.attribute(&at::DESCRIPTION).unwrap();
        assert_eq!(
            description.values().collect::<Vec<_>>(),
            ["\u{fffd}a".as_bytes()]
        );
        assert_eq!(description.normalized().collect::<Vec<_>>(), ["\u{fffd}a"]);
    }

    #[test]
    fn names_and_subordinates_are_made_up_after_the_stored_attributes() {
        let mut entry = structure("ou=People,dc=x", vec![strings(&at::OU, ["People"])]);
        let names = |e: &Entry| e.attributes().map(|a| a.kind.name).collect::<Vec<_>>();
        assert_eq!(names(&entry), ["ou"], "nothing made up outside the tree");
        entry.join_tree(true);
        assert_eq!(
            names(&entry),
            ["ou", "entryDN", "subschemaSubentry", "hasSubordinates"]
        );
        let has = entry.attribute(&at::HAS_SUBORDINATES).unwrap();
        assert_eq!(has.values().collect::<Vec<_>>(), [b"TRUE".as_slice()]);
        assert_eq!(
            has.normalized().collect::<Vec<_>>(),
            [at::normalize(at::HAS_SUBORDINATES.matching, b"TRUE").as_str()]
        );
        entry.join_tree(false);
        let has = entry.attribute(&at::HAS_SUBORDINATES).unwrap();
        assert_eq!(
            has.normalized().collect::<Vec<_>>(),
            [at::normalize(at::HAS_SUBORDINATES.matching, b"FALSE").as_str()]
        );
        let subschema = entry.attribute(&at::SUBSCHEMA_SUBENTRY).unwrap();
        assert_eq!(
            subschema.normalized().collect::<Vec<_>>(),
            [at::normalize(Matching::Dn, SUBSCHEMA_DN.as_bytes()).as_str()]
        );

        // An entry storing its own entryDN gets neither name made up.
        let mut own = structure(
            SUBSCHEMA_DN,
            vec![
                strings(&at::ENTRY_DN, [SUBSCHEMA_DN]),
                strings(&at::SUBSCHEMA_SUBENTRY, [SUBSCHEMA_DN]),
            ],
        );
        own.join_tree(false);
        assert_eq!(
            names(&own),
            ["entryDN", "subschemaSubentry", "hasSubordinates"]
        );
    }
}
