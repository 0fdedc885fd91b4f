//! The mutation engine: turns one input into a nearby one, the way AFL's "havoc" stage does,
//! with a few mutations that know the formats fuzzed here (decimal numbers as IMAP literals
//! and BDAT sizes write them, BER length octets, CR and LF placement, tokens from each
//! target's dictionary). Deterministic for a given random generator state, so a run can be
//! replayed from its seed.

/// A small, fast random generator (SplitMix64); not for anything but choosing mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `items`; `None` when there are none.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// Bytes that often sit on a parser's boundaries: line ends, the DATA dot, NUL, quoting,
/// IMAP's literal braces and lists, XML and TOML punctuation, the top-bit and sign edges.
const INTERESTING_BYTES: &[u8] = b"\0\r\n. \t\"\\{}()[]<>=&;:,+*%~-#@\x7f\x80\xff\x01\x1b";

/// Integers at the edges of 8, 16 and 32-bit fields, written in binary by
/// [`Mutation::Integer`].
const INTERESTING_INTEGERS: &[u32] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// Decimal numbers at the edges of what the protocols' number fields hold: literal sizes,
/// BDAT chunk sizes, SIZE=, sequence sets, message ids, ports.
const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "255",
    "256",
    "1000",
    "1001",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
];

/// The ways one input is changed; [`Mutator::mutate`] stacks a few of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    FlipBit,
    RandomByte,
    InterestingByte,
    /// An integer from [`INTERESTING_INTEGERS`] over 1, 2 or 4 bytes, either byte order.
    Integer,
    /// A byte nudged up or down by a little.
    Arithmetic,
    InsertRandomBytes,
    DeleteRange,
    /// A range copied to another place, inserted.
    DuplicateRange,
    /// A range copied over another place.
    CopyRange,
    InsertToken,
    OverwriteToken,
    /// The start of this input, then the end of another from the pool.
    Splice,
    /// A piece of another input inserted.
    InsertOther,
    /// A decimal number replaced with one from [`INTERESTING_NUMBERS`].
    Number,
    /// A byte rewritten as a BER length: the real remaining length, off by one, indefinite,
    /// or a long form announcing far more.
    BerLength,
    /// A CR or LF removed, doubled, or the other one put in its place.
    LineEnd,
}

const MUTATIONS: &[Mutation] = &[
    Mutation::FlipBit,
    Mutation::RandomByte,
    Mutation::InterestingByte,
    Mutation::Integer,
    Mutation::Arithmetic,
    Mutation::InsertRandomBytes,
    Mutation::DeleteRange,
    Mutation::DuplicateRange,
    Mutation::CopyRange,
    Mutation::InsertToken,
    Mutation::OverwriteToken,
    Mutation::Splice,
    Mutation::InsertOther,
    Mutation::Number,
    Mutation::BerLength,
    Mutation::LineEnd,
];

/// Changes inputs for one target: its dictionary and the longest input it is given.
#[derive(Debug, Clone)]
pub struct Mutator {
    dictionary: &'static [&'static [u8]],
    max_len: usize,
}

impl Mutator {
    /// A mutator using `dictionary` that keeps inputs within `max_len` bytes.
    pub fn new(dictionary: &'static [&'static [u8]], max_len: usize) -> Mutator {
        Mutator {
            dictionary,
            max_len: max_len.max(1),
        }
    }

    /// Replaces `input` with a mutant: one to eight mutations stacked, `other` (another
    /// input from the pool) lending bytes to the splicing ones.
    pub fn mutate(&self, rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
        let rounds = 1 << rng.below(4);
        for _ in 0..rounds {
            let mutation = MUTATIONS[rng.below(MUTATIONS.len())];
            self.apply(mutation, rng, input, other);
        }
        input.truncate(self.max_len);
    }

    fn apply(&self, mutation: Mutation, rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
        // Mutations that change bytes in place need some; an empty input grows instead.
        if input.is_empty() && !matches!(mutation, Mutation::Splice | Mutation::InsertOther) {
            insert_token_or_bytes(self.dictionary, rng, input);
            return;
        }
        match mutation {
            Mutation::FlipBit => {
                let at = rng.below(input.len());
                input[at] ^= 1 << rng.below(8);
            }
            Mutation::RandomByte => {
                let at = rng.below(input.len());
                input[at] = rng.next_u64() as u8;
            }
            Mutation::InterestingByte => {
                let at = rng.below(input.len());
                input[at] = *rng.pick(INTERESTING_BYTES).unwrap_or(&0);
            }
            Mutation::Integer => write_integer(rng, input),
            Mutation::Arithmetic => {
                let at = rng.below(input.len());
                let delta = 1 + rng.below(16) as u8;
                input[at] = if rng.one_in(2) {
                    input[at].wrapping_add(delta)
                } else {
                    input[at].wrapping_sub(delta)
                };
            }
            Mutation::InsertRandomBytes => {
                let at = rng.below(input.len() + 1);
                let bytes: Vec<u8> = (0..1 + rng.below(32))
                    .map(|_| rng.next_u64() as u8)
                    .collect();
                input.splice(at..at, bytes);
            }
            Mutation::DeleteRange => {
                let (start, end) = range(rng, input.len());
                input.drain(start..end);
            }
            Mutation::DuplicateRange => {
                let (start, end) = range(rng, input.len());
                let piece = input[start..end].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, piece);
            }
            Mutation::CopyRange => {
                let (start, end) = range(rng, input.len());
                let piece = input[start..end].to_vec();
                let at = rng.below(input.len());
                let end = (at + piece.len()).min(input.len());
                input.splice(at..end, piece);
            }
            Mutation::InsertToken => insert_token_or_bytes(self.dictionary, rng, input),
            Mutation::OverwriteToken => {
                if let Some(token) = rng.pick(self.dictionary) {
                    let at = rng.below(input.len());
                    let end = (at + token.len()).min(input.len());
                    input.splice(at..end, token.iter().copied());
                }
            }
            Mutation::Splice => splice(rng, input, other),
            Mutation::InsertOther => {
                if !other.is_empty() {
                    let (start, end) = range(rng, other.len());
                    let at = rng.below(input.len() + 1);
                    input.splice(at..at, other[start..end].iter().copied());
                }
            }
            Mutation::Number => replace_number(rng, input),
            Mutation::BerLength => write_ber_length(rng, input),
            Mutation::LineEnd => mangle_line_end(rng, input),
        }
    }
}

/// A non-empty range within `len` bytes (`len` > 0), short more often than long.
fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let start = rng.below(len);
    let longest = len - start;
    let size = if rng.one_in(4) {
        1 + rng.below(longest)
    } else {
        1 + rng.below(longest.min(16))
    };
    (start, start + size)
}

fn insert_token_or_bytes(dictionary: &[&[u8]], rng: &mut Rng, input: &mut Vec<u8>) {
    let at = rng.below(input.len() + 1);
    match rng.pick(dictionary) {
        Some(token) => {
            input.splice(at..at, token.iter().copied());
        }
        None => input.insert(at, rng.next_u64() as u8),
    }
}

fn write_integer(rng: &mut Rng, input: &mut [u8]) {
    let value = *rng.pick(INTERESTING_INTEGERS).unwrap_or(&0);
    let width = [1, 2, 4][rng.below(3)].min(input.len());
    // The low-order bytes of the value: an edge value of that width either way round.
    let big_endian = value.to_be_bytes();
    let little_endian = value.to_le_bytes();
    let bytes = if rng.one_in(2) {
        &big_endian[4 - width..]
    } else {
        &little_endian[..width]
    };
    let at = rng.below(input.len() - width + 1);
    input[at..at + width].copy_from_slice(bytes);
}

fn splice(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    if other.is_empty() {
        return;
    }
    let keep = rng.below(input.len() + 1);
    let from = rng.below(other.len());
    input.truncate(keep);
    input.extend_from_slice(&other[from..]);
}

/// Replaces a run of ASCII digits (or inserts a number where there is none).
fn replace_number(rng: &mut Rng, input: &mut Vec<u8>) {
    let number = rng.pick(INTERESTING_NUMBERS).copied().unwrap_or("0");
    let runs: Vec<(usize, usize)> = digit_runs(input).take(64).collect();
    match rng.pick(&runs) {
        Some(&(start, end)) => {
            input.splice(start..end, number.bytes());
        }
        None => {
            let at = rng.below(input.len() + 1);
            input.splice(at..at, number.bytes());
        }
    }
}

fn digit_runs(input: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + input.get(at..)?.iter().position(u8::is_ascii_digit)?;
        let len = input[start..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(input.len() - start);
        at = start + len;
        Some((start, start + len))
    })
}

/// Rewrites the byte at a random place as a BER length for what follows it.
fn write_ber_length(rng: &mut Rng, input: &mut Vec<u8>) {
    let at = rng.below(input.len());
    let remaining = input.len() - at - 1;
    let length: Vec<u8> = match rng.below(6) {
        0 if remaining < 0x80 => vec![remaining as u8],
        0 | 1 => {
            let n = (remaining as u32).to_be_bytes();
            vec![0x84, n[0], n[1], n[2], n[3]]
        }
        2 => vec![(remaining as u8 & 0x7f).wrapping_add(1) & 0x7f],
        3 => vec![0x80],
        4 => vec![0x84, 0xff, 0xff, 0xff, 0xff],
        // A long form whose length octets are the bytes that follow.
        _ => vec![0x81 + rng.below(4) as u8],
    };
    input.splice(at..at + 1, length);
}

fn mangle_line_end(rng: &mut Rng, input: &mut Vec<u8>) {
    let ends: Vec<usize> = input
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\r' || b == b'\n')
        .map(|(i, _)| i)
        .take(256)
        .collect();
    let Some(&at) = rng.pick(&ends) else {
        let end: &[u8] = [&b"\r\n"[..], b"\n", b"\r"][rng.below(3)];
        let at = rng.below(input.len() + 1);
        input.splice(at..at, end.iter().copied());
        return;
    };
    match rng.below(4) {
        0 => {
            input.remove(at);
        }
        1 => input.insert(at, input[at]),
        2 => input[at] = if input[at] == b'\r' { b'\n' } else { b'\r' },
        _ => input.insert(at + 1, b'.'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutants() {
        let mutator = Mutator::new(&[b"MAIL FROM:<", b"\r\n.\r\n"], 4096);
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut input = b"EHLO example.vn\r\n".to_vec();
            for _ in 0..200 {
                mutator.mutate(&mut rng, &mut input, b"a1 LOGIN annv {5}\r\n");
            }
            input
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn mutants_stay_within_the_length_limit() {
        let mutator = Mutator::new(&[b"0123456789abcdef0123456789abcdef"], 64);
        let mut rng = Rng::new(1);
        let mut input = vec![b'x'; 60];
        for _ in 0..10_000 {
            mutator.mutate(&mut rng, &mut input, &[b'y'; 100]);
            assert!(input.len() <= 64, "{}", input.len());
        }
    }

    #[test]
    fn every_mutation_changes_or_grows_inputs_without_panicking() {
        let mutator = Mutator::new(&[b"{5}\r\n"], 1 << 16);
        let mut rng = Rng::new(3);
        for &mutation in MUTATIONS {
            let mut changed = 0;
            for _ in 0..200 {
                let mut input = b"a1 APPEND INBOX {12}\r\n0\x30\x82\x01".to_vec();
                let before = input.clone();
                mutator.apply(mutation, &mut rng, &mut input, b"other input");
                changed += usize::from(input != before);
                let mut empty = Vec::new();
                mutator.apply(mutation, &mut rng, &mut empty, b"");
            }
            assert!(changed > 0, "{mutation:?} never changed an input");
        }
    }

    #[test]
    fn numbers_are_found_and_replaced() {
        let runs: Vec<_> = digit_runs(b"BDAT 1000 LAST {42}").collect();
        assert_eq!(runs, vec![(5, 9), (16, 18)]);
        let mut rng = Rng::new(11);
        let mut seen_other = false;
        for _ in 0..50 {
            let mut input = b"BDAT 1000 LAST".to_vec();
            replace_number(&mut rng, &mut input);
            let text = String::from_utf8_lossy(&input).into_owned();
            assert!(
                text.starts_with("BDAT ") && text.ends_with(" LAST"),
                "{text}"
            );
            seen_other |= text != "BDAT 1000 LAST";
        }
        assert!(seen_other);
    }
}
