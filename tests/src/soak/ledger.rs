//! What the soak's clients did, as the checks need it: every message sent or appended (the
//! SHA-256 of its bytes, who it went to, whether the server acknowledged it), every MOVE
//! (from where, to where, acknowledged or not), and where each message must now be. The
//! message bytes themselves are not kept: each one is generated from the seed and its number,
//! and a stored copy is recognised by its hash.

use std::collections::HashMap;

use congvu::mailstore::BodyHash;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The province's mail domain.
pub const DOMAIN: &str = "vinhphuc.gov.vn";

/// The officials seeded for the soak: login and full name.
pub const OFFICIALS: [(&str, &str); 6] = [
    ("annv", "Nguyễn Văn An"),
    ("nhunglth", "Lê Thị Hồng Nhung"),
    ("vanlt", "Lý Thị Vân"),
    ("hoangmt", "Mai Thế Hoàng"),
    ("thuydt", "Đỗ Thị Thủy"),
    ("longnh", "Nguyễn Hữu Long"),
];

/// Officials whose mailboxes an IMAP client works in (APPEND, MOVE), one client each, so
/// that no two clients ever move the same message.
pub const IMAP_OFFICIALS: [&str; 2] = ["annv", "vanlt"];

/// Officials who submit mail with AUTH PLAIN.
pub const SUBMITTERS: [&str; 3] = ["nhunglth", "hoangmt", "thuydt"];

/// Recipients in other domains: their copies go to the outbound queue and on to the sink.
pub const REMOTE: [&str; 3] = [
    "vanthu@sotttt.haiphong.gov.vn",
    "ketoan@ubnd.hanoi.gov.vn",
    "tonghop@snv.danang.gov.vn",
];

/// The second mailbox the IMAP clients move messages into and out of.
pub const ARCHIVE: &str = "Luu tru";

/// An official's password in the soak's province.
pub fn password(login: &str) -> String {
    format!("{login}-Soak-2026!")
}

/// What a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// SMTP on the MX port, message sent with DATA.
    MxData,
    /// SMTP on the MX port, message sent in BDAT chunks (RFC 3030).
    MxBdat,
    /// Authenticated submission over TLS, to local and remote recipients.
    Submission,
    /// IMAP APPEND.
    Append,
    /// IMAP UID MOVE (RFC 6851).
    Move,
}

/// One of the two mailboxes IMAP clients work in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Folder {
    Inbox,
    Archive,
}

impl Folder {
    /// The mailbox name as stored.
    pub fn name(self) -> &'static str {
        match self {
            Folder::Inbox => "INBOX",
            Folder::Archive => ARCHIVE,
        }
    }

    /// The name as an IMAP astring.
    pub fn quoted(self) -> String {
        format!("\"{}\"", self.name())
    }

    /// The folder a MOVE from this one goes to.
    pub fn other(self) -> Folder {
        match self {
            Folder::Inbox => Folder::Archive,
            Folder::Archive => Folder::Inbox,
        }
    }

    /// The folder stored under `name`, if it is one of the two.
    pub fn named(name: &str) -> Option<Folder> {
        match name {
            "INBOX" => Some(Folder::Inbox),
            ARCHIVE => Some(Folder::Archive),
            _ => None,
        }
    }
}

/// What the server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sent, no answer: the server died first.
    InFlight,
    /// `250` after the data, or a tagged `OK`.
    Acknowledged,
    /// A refusal (4xx/5xx, `NO`): the server says it stored nothing.
    Refused,
}

/// What the store must show of an SMTP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Not acknowledged and not yet checked: whole or absent.
    Unknown,
    /// Every local copy exactly once, every remote recipient queued or relayed.
    Whole,
    /// Found absent after the kill (or refused): must stay absent.
    Absent,
}

/// Where an IMAP message must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Exactly once in this folder (with this UID once known), nowhere else.
    In { folder: Folder, uid: Option<u32> },
    /// An APPEND without an answer: at most once in this folder.
    MaybeIn(Folder),
    /// A MOVE without an answer: exactly once, in one of the two.
    Between { from: Folder, to: Folder },
    /// Never stored: must stay absent.
    Absent,
}

/// Who a message went to, and what the store must show of it.
#[derive(Debug, Clone)]
pub enum Target {
    /// SMTP: officials' INBOXes and recipients in other domains.
    Mail {
        local: Vec<&'static str>,
        remote: Vec<&'static str>,
        expect: Expect,
    },
    /// IMAP: one official's mailboxes.
    Stored { owner: &'static str, place: Place },
}

/// One message a client sent or appended.
#[derive(Debug, Clone)]
pub struct Letter {
    pub number: u64,
    pub kind: Kind,
    /// The round (kill number, from 1) in which it was sent.
    pub round: usize,
    pub size: usize,
    pub outcome: Outcome,
    pub target: Target,
    /// The last MOVE of this message, an index into [`Ledger::moves`].
    pub last_move: Option<usize>,
}

impl Letter {
    /// A line that identifies the message in a finding.
    pub fn describe(&self) -> String {
        let target = match &self.target {
            Target::Mail { local, remote, .. } => {
                format!("to {local:?} and {remote:?}")
            }
            Target::Stored { owner, .. } => format!("in {owner}'s mailboxes"),
        };
        format!(
            "message {} ({:?}, {} bytes, {target}, sent in round {}, {:?})",
            self.number, self.kind, self.size, self.round, self.outcome
        )
    }
}

/// One IMAP MOVE.
#[derive(Debug, Clone)]
pub struct MoveRecord {
    pub letter: u64,
    pub from: Folder,
    pub to: Folder,
    pub round: usize,
    pub outcome: Outcome,
}

/// Everything the clients did, shared by them and read by the checks.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Indexed by message number.
    pub letters: Vec<Letter>,
    pub moves: Vec<MoveRecord>,
    /// Message number by the SHA-256 of the bytes sent.
    by_hash: HashMap<[u8; 32], u64>,
    /// The IMAP messages of each official, by number.
    owned: HashMap<&'static str, Vec<u64>>,
}

impl Ledger {
    /// The next message number.
    pub fn next_number(&self) -> u64 {
        self.letters.len() as u64
    }

    /// Records an SMTP message about to be sent (after its recipients were accepted).
    pub fn add_mail(
        &mut self,
        kind: Kind,
        round: usize,
        content: &[u8],
        local: Vec<&'static str>,
        remote: Vec<&'static str>,
    ) -> u64 {
        let target = Target::Mail {
            local,
            remote,
            expect: Expect::Unknown,
        };
        self.add(kind, round, content, target)
    }

    /// Records an APPEND about to be sent.
    pub fn add_append(
        &mut self,
        round: usize,
        owner: &'static str,
        folder: Folder,
        content: &[u8],
    ) -> u64 {
        let target = Target::Stored {
            owner,
            place: Place::MaybeIn(folder),
        };
        let number = self.add(Kind::Append, round, content, target);
        self.owned.entry(owner).or_default().push(number);
        number
    }

    fn add(&mut self, kind: Kind, round: usize, content: &[u8], target: Target) -> u64 {
        let number = self.next_number();
        self.by_hash.insert(BodyHash::of(content).0, number);
        self.letters.push(Letter {
            number,
            kind,
            round,
            size: content.len(),
            outcome: Outcome::InFlight,
            target,
            last_move: None,
        });
        number
    }

    /// The message whose bytes hash to `hash`.
    pub fn by_hash(&self, hash: &[u8; 32]) -> Option<u64> {
        self.by_hash.get(hash).copied()
    }

    /// Records the server's answer to an SMTP message.
    pub fn settle_mail(&mut self, number: u64, outcome: Outcome) {
        let Some(letter) = self.letters.get_mut(number as usize) else {
            return;
        };
        letter.outcome = outcome;
        if let Target::Mail { expect, .. } = &mut letter.target {
            *expect = match outcome {
                Outcome::Acknowledged => Expect::Whole,
                Outcome::Refused => Expect::Absent,
                Outcome::InFlight => Expect::Unknown,
            };
        }
    }

    /// Records the answer to an APPEND: where the message must now be.
    pub fn settle_append(&mut self, number: u64, outcome: Outcome, uid: Option<u32>) {
        let Some(letter) = self.letters.get_mut(number as usize) else {
            return;
        };
        letter.outcome = outcome;
        if let Target::Stored { place, .. } = &mut letter.target {
            if let Place::MaybeIn(folder) = *place {
                *place = match outcome {
                    Outcome::Acknowledged => Place::In { folder, uid },
                    Outcome::Refused => Place::Absent,
                    Outcome::InFlight => Place::MaybeIn(folder),
                };
            }
        }
    }

    /// An acknowledged message of `owner`'s, with its folder and UID, to move next.
    pub fn movable(&self, owner: &str, rng: &mut StdRng) -> Option<(u64, Folder, u32)> {
        let owned = self.owned.get(owner)?;
        for _ in 0..8 {
            let number = owned[rng.random_range(0..owned.len())];
            if let Some(Letter {
                target:
                    Target::Stored {
                        place:
                            Place::In {
                                folder,
                                uid: Some(uid),
                            },
                        ..
                    },
                ..
            }) = self.letters.get(number as usize)
            {
                return Some((number, *folder, *uid));
            }
        }
        None
    }

    /// Records a MOVE about to be sent; returns its index.
    pub fn begin_move(&mut self, number: u64, from: Folder, round: usize) -> Option<usize> {
        let letter = self.letters.get_mut(number as usize)?;
        let Target::Stored { place, .. } = &mut letter.target else {
            return None;
        };
        let to = from.other();
        *place = Place::Between { from, to };
        let index = self.moves.len();
        letter.last_move = Some(index);
        self.moves.push(MoveRecord {
            letter: number,
            from,
            to,
            round,
            outcome: Outcome::InFlight,
        });
        Some(index)
    }

    /// Records the answer to a MOVE: acknowledged with the UID in the destination, or
    /// refused (the message stays where it was, under `source_uid`).
    pub fn settle_move(&mut self, index: usize, outcome: Outcome, uids: (u32, Option<u32>)) {
        let Some(record) = self.moves.get_mut(index) else {
            return;
        };
        record.outcome = outcome;
        let (from, to) = (record.from, record.to);
        let Some(letter) = self.letters.get_mut(record.letter as usize) else {
            return;
        };
        if let Target::Stored { place, .. } = &mut letter.target {
            *place = match outcome {
                Outcome::Acknowledged => Place::In {
                    folder: to,
                    uid: uids.1,
                },
                Outcome::Refused => Place::In {
                    folder: from,
                    uid: Some(uids.0),
                },
                Outcome::InFlight => Place::Between { from, to },
            };
        }
    }
}

/// The bytes of message `number`: headers naming it, then lines that all name it, so any
/// stored fragment is recognisable; `size` is roughly the body's length. The same seed and
/// number give the same bytes.
pub fn compose(seed: u64, number: u64, from: &str, to: &str, size: usize) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut text = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: Cong van so {number}\r\n\
         Date: Fri, 27 Nov 2026 08:00:00 +0700\r\n\
         Message-ID: <soak-{seed}-{number}@{DOMAIN}>\r\n\r\n"
    );
    let mut line = 0;
    while text.len() < size {
        // Lines of varying length, none starting with a dot, none over 1000 octets.
        let filler = rng.random_range(8..60);
        text.push_str(&format!("thu {number:08} dong {line:05} "));
        text.extend(std::iter::repeat_n('x', filler));
        text.push_str("\r\n");
        line += 1;
    }
    text.into_bytes()
}
