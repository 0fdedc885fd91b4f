//! Legacy Vietnamese font text in HR lists: detecting cells typed in TCVN3 (ABC, the ".Vn"
//! fonts) or VNI-Windows, and converting them to real Unicode in NFC.
//!
//! Such a cell holds the bytes of the legacy encoding as the Latin-1 characters of the same
//! value (U+00A0..U+00FF): "NguyÔn V¨n An" (TCVN3) and "Nguyeãn Vaên An" (VNI) both mean
//! "Nguyễn Văn An". Whether a conversion is right is judged by how many words of the result
//! are plausible Vietnamese syllables, compared with the cell as it is.

use unicode_normalization::UnicodeNormalization;

/// A legacy Vietnamese font encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyFont {
    /// TCVN3 (TCVN 5712 as used by the ABC keyboard and the ".Vn" fonts such as .VnTime).
    Tcvn3,
    /// VNI-Windows (VNI-Times and the other "VNI-" fonts).
    Vni,
}

impl LegacyFont {
    /// The name officials know the encoding by: "TCVN3" or "VNI".
    pub fn name(self) -> &'static str {
        match self {
            LegacyFont::Tcvn3 => "TCVN3",
            LegacyFont::Vni => "VNI",
        }
    }
}

/// Whether `text` could be legacy-font text: it has at least one char in U+00A0..=U+00FF
/// and no char above U+00FF (real Unicode Vietnamese uses U+0100+ letters such as ă đ ơ ư ạ).
pub fn is_candidate(text: &str) -> bool {
    let mut high_latin1 = false;
    for c in text.chars() {
        match u32::from(c) {
            0xA0..=0xFF => high_latin1 = true,
            0x100.. => return false,
            _ => {}
        }
    }
    high_latin1
}

/// `text` read through `font`, in NFC. Characters that the font does not map stay as they are.
pub fn convert(text: &str, font: LegacyFont) -> String {
    let decoded = match font {
        LegacyFont::Tcvn3 => convert_tcvn3(text),
        LegacyFont::Vni => convert_vni(text),
    };
    decoded.nfc().collect()
}

/// How Vietnamese `text` looks: the number of words that are plausible Vietnamese syllables
/// (an optional initial consonant, a vowel nucleus, an optional final consonant, at most one
/// tone mark, in the combinations Vietnamese spelling allows). Unaccented words ("Nguyen")
/// count, and so do foreign names with one acute accent ("José"). Used to compare a cell as
/// it is with its conversions.
pub fn vietnamese_words(text: &str) -> usize {
    let text: String = text.nfc().collect();
    text.split(is_word_separator)
        .filter(|word| is_vietnamese_word(word))
        .count()
}

/// The conversion of `text` through `font` when it reads as more Vietnamese than `text`
/// itself (vietnamese_words strictly greater), else None. Non-candidates give None.
pub fn improve(text: &str, font: LegacyFont) -> Option<String> {
    if !is_candidate(text) {
        return None;
    }
    let converted = convert(text, font);
    (vietnamese_words(&converted) > vietnamese_words(text)).then_some(converted)
}

/// The font that improves the most of these cells (sum over cells of the gain in
/// vietnamese_words of the better conversion), or None when neither improves any cell.
/// A cell that both fonts improve equally counts for neither, and an exact tie between the
/// fonts gives None too: the column is then ambiguous and is better left alone.
pub fn detect<'a>(cells: impl IntoIterator<Item = &'a str>) -> Option<LegacyFont> {
    let (mut tcvn3, mut vni) = (0usize, 0usize);
    for cell in cells {
        if !is_candidate(cell) {
            continue;
        }
        let before = vietnamese_words(cell);
        let gain = |font| vietnamese_words(&convert(cell, font)).saturating_sub(before);
        let (tcvn3_gain, vni_gain) = (gain(LegacyFont::Tcvn3), gain(LegacyFont::Vni));
        if tcvn3_gain > vni_gain {
            tcvn3 += tcvn3_gain;
        } else if vni_gain > tcvn3_gain {
            vni += vni_gain;
        }
    }
    match tcvn3.cmp(&vni) {
        std::cmp::Ordering::Greater => Some(LegacyFont::Tcvn3),
        std::cmp::Ordering::Less => Some(LegacyFont::Vni),
        std::cmp::Ordering::Equal => None,
    }
}

// ---------------------------------------------------------------------------------------
// Marks shared by the decoders and the syllable check.

const CIRCUMFLEX: char = '\u{302}';
const BREVE: char = '\u{306}';
const HORN: char = '\u{31B}';

/// The six Vietnamese tones; `Level` has no mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Level,
    Acute,
    Grave,
    Hook,
    Tilde,
    Dot,
}

impl Tone {
    /// The combining mark that writes the tone.
    fn mark(self) -> Option<char> {
        match self {
            Tone::Level => None,
            Tone::Acute => Some('\u{301}'),
            Tone::Grave => Some('\u{300}'),
            Tone::Hook => Some('\u{309}'),
            Tone::Tilde => Some('\u{303}'),
            Tone::Dot => Some('\u{323}'),
        }
    }

    fn from_mark(mark: char) -> Option<Tone> {
        [Tone::Acute, Tone::Grave, Tone::Hook, Tone::Tilde, Tone::Dot]
            .into_iter()
            .find(|tone| tone.mark() == Some(mark))
    }
}

/// `base` with an optional vowel-quality mark and a tone, in NFC.
fn compose(base: char, quality: Option<char>, tone: Tone) -> String {
    [Some(base), quality, tone.mark()]
        .into_iter()
        .flatten()
        .nfc()
        .collect()
}

// ---------------------------------------------------------------------------------------
// TCVN3

/// The letter a TCVN3 byte (seen as the Latin-1 char of the same value) stands for.
/// Only seven capitals exist (0xA1..=0xA7); toned capitals are written with the lower-case
/// codes in the ".VnTimeH" style fonts, which draw every letter as a capital.
fn tcvn3_letter(c: char) -> Option<char> {
    let letter = match c {
        '\u{A1}' => 'Ă',
        '\u{A2}' => 'Â',
        '\u{A3}' => 'Ê',
        '\u{A4}' => 'Ô',
        '\u{A5}' => 'Ơ',
        '\u{A6}' => 'Ư',
        '\u{A7}' => 'Đ',
        '\u{A8}' => 'ă',
        '\u{A9}' => 'â',
        '\u{AA}' => 'ê',
        '\u{AB}' => 'ô',
        '\u{AC}' => 'ơ',
        '\u{AD}' => 'ư',
        '\u{AE}' => 'đ',
        '\u{B5}' => 'à',
        '\u{B6}' => 'ả',
        '\u{B7}' => 'ã',
        '\u{B8}' => 'á',
        '\u{B9}' => 'ạ',
        '\u{BB}' => 'ằ',
        '\u{BC}' => 'ẳ',
        '\u{BD}' => 'ẵ',
        '\u{BE}' => 'ắ',
        '\u{C6}' => 'ặ',
        '\u{C7}' => 'ầ',
        '\u{C8}' => 'ẩ',
        '\u{C9}' => 'ẫ',
        '\u{CA}' => 'ấ',
        '\u{CB}' => 'ậ',
        '\u{CC}' => 'è',
        '\u{CE}' => 'ẻ',
        '\u{CF}' => 'ẽ',
        '\u{D0}' => 'é',
        '\u{D1}' => 'ẹ',
        '\u{D2}' => 'ề',
        '\u{D3}' => 'ể',
        '\u{D4}' => 'ễ',
        '\u{D5}' => 'ế',
        '\u{D6}' => 'ệ',
        '\u{D7}' => 'ì',
        '\u{D8}' => 'ỉ',
        '\u{DC}' => 'ĩ',
        '\u{DD}' => 'í',
        '\u{DE}' => 'ị',
        '\u{DF}' => 'ò',
        '\u{E1}' => 'ỏ',
        '\u{E2}' => 'õ',
        '\u{E3}' => 'ó',
        '\u{E4}' => 'ọ',
        '\u{E5}' => 'ồ',
        '\u{E6}' => 'ổ',
        '\u{E7}' => 'ỗ',
        '\u{E8}' => 'ố',
        '\u{E9}' => 'ộ',
        '\u{EA}' => 'ờ',
        '\u{EB}' => 'ở',
        '\u{EC}' => 'ỡ',
        '\u{ED}' => 'ớ',
        '\u{EE}' => 'ợ',
        '\u{EF}' => 'ù',
        '\u{F1}' => 'ủ',
        '\u{F2}' => 'ũ',
        '\u{F3}' => 'ú',
        '\u{F4}' => 'ụ',
        '\u{F5}' => 'ừ',
        '\u{F6}' => 'ử',
        '\u{F7}' => 'ữ',
        '\u{F8}' => 'ứ',
        '\u{F9}' => 'ự',
        '\u{FA}' => 'ỳ',
        '\u{FB}' => 'ỷ',
        '\u{FC}' => 'ỹ',
        '\u{FD}' => 'ý',
        '\u{FE}' => 'ỵ',
        _ => return None,
    };
    Some(letter)
}

/// How a TCVN3 word was capitalised, judged from its ASCII letters (the converted letters
/// carry no case: the same code is a small letter in .VnTime and a capital in .VnTimeH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordCase {
    /// At least one lower-case ASCII letter: converted letters stay lower case.
    Mixed,
    /// All-caps beyond doubt: two or more ASCII capitals, or one not at the start.
    Upper,
    /// No ASCII letter, or a single capital first letter ("Lª" is "Lê" or "LÊ"):
    /// decided by the neighbouring words.
    Unknown,
}

fn word_case(word: &str) -> WordCase {
    let mut capitals = 0;
    let mut first_is_capital = false;
    for (index, c) in word.chars().enumerate() {
        if c.is_ascii_lowercase() {
            return WordCase::Mixed;
        }
        if c.is_ascii_uppercase() {
            capitals += 1;
            first_is_capital |= index == 0;
        }
    }
    match capitals {
        0 => WordCase::Unknown,
        1 if first_is_capital => WordCase::Unknown,
        _ => WordCase::Upper,
    }
}

/// TCVN3 text decoded: every mapped char replaced, and the converted letters of all-caps
/// words (typed in .VnTimeH) upper-cased.
fn convert_tcvn3(text: &str) -> String {
    let runs = split_runs(text, |c| c.is_alphabetic() || tcvn3_letter(c).is_some());
    let cases: Vec<Option<WordCase>> = runs
        .iter()
        .map(|&(is_word, run)| is_word.then(|| word_case(run)))
        .collect();
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for (index, &(_, run)) in runs.iter().enumerate() {
        let upper = match cases[index] {
            None | Some(WordCase::Mixed) => false,
            Some(WordCase::Upper) => true,
            Some(WordCase::Unknown) => neighbours_are_upper(&cases, index),
        };
        for c in run.chars() {
            match tcvn3_letter(c) {
                Some(letter) if upper => out.extend(letter.to_uppercase()),
                Some(letter) => out.push(letter),
                None => out.push(c),
            }
        }
    }
    out
}

/// Whether the nearest words on either side whose case is known are all-caps (and there is
/// at least one): a word like "Lª" in "Lª V¨N AN" is then "LÊ".
fn neighbours_are_upper(cases: &[Option<WordCase>], index: usize) -> bool {
    let known = |case: &&Option<WordCase>| matches!(case, Some(WordCase::Upper | WordCase::Mixed));
    let before = cases[..index].iter().rev().find(known);
    let after = cases[index + 1..].iter().find(known);
    let upper = |case: Option<&Option<WordCase>>| case.is_none_or(|c| *c == Some(WordCase::Upper));
    (before.is_some() || after.is_some()) && upper(before) && upper(after)
}

/// `text` cut into maximal runs of chars that are in a word or not, in order.
fn split_runs(text: &str, in_word: impl Fn(char) -> bool) -> Vec<(bool, &str)> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut current: Option<bool> = None;
    for (offset, c) in text.char_indices() {
        let kind = in_word(c);
        if let Some(previous) = current.filter(|&k| k != kind) {
            runs.push((previous, &text[start..offset]));
            start = offset;
        }
        current = Some(kind);
    }
    if let Some(kind) = current {
        runs.push((kind, &text[start..]));
    }
    runs
}

// ---------------------------------------------------------------------------------------
// VNI

/// What a VNI modifier char adds to the vowel before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VniModifier {
    /// A tone alone, after a e o u y ơ ư.
    ToneOnly(Tone),
    /// Circumflex and a tone, after a e o.
    Circumflex(Tone),
    /// Breve and a tone, after a only.
    Breve(Tone),
}

/// The modifier a char is, in either case ("eÃ" and "EÃ" are both ễ, in the base's case).
fn vni_modifier(c: char) -> Option<VniModifier> {
    use Tone::{Acute, Dot, Grave, Hook, Level, Tilde};
    use VniModifier::{Breve, Circumflex, ToneOnly};
    let modifier = match latin1_lowercase(c) {
        'ù' => ToneOnly(Acute),
        'ø' => ToneOnly(Grave),
        'û' => ToneOnly(Hook),
        'õ' => ToneOnly(Tilde),
        'ï' => ToneOnly(Dot),
        'â' => Circumflex(Level),
        'á' => Circumflex(Acute),
        'à' => Circumflex(Grave),
        'å' => Circumflex(Hook),
        'ã' => Circumflex(Tilde),
        'ä' => Circumflex(Dot),
        'ê' => Breve(Level),
        'é' => Breve(Acute),
        'è' => Breve(Grave),
        'ú' => Breve(Hook),
        'ü' => Breve(Tilde),
        'ë' => Breve(Dot),
        _ => return None,
    };
    Some(modifier)
}

/// The lower-case form of a Latin-1 capital (U+00C0..=U+00DE but ×), else `c`.
fn latin1_lowercase(c: char) -> char {
    match c {
        '\u{C0}'..='\u{DE}' if c != '×' => char::from_u32(u32::from(c) + 0x20).unwrap_or(c),
        _ => c,
    }
}

/// A VNI char that can take a modifier: the ASCII vowels a e o u y, and ô/ö, which are
/// VNI's ơ/ư. Returns the base letter and the horn it already carries.
fn vni_vowel(c: char) -> Option<(char, Option<char>)> {
    match c {
        'a' | 'e' | 'o' | 'u' | 'y' | 'A' | 'E' | 'O' | 'U' | 'Y' => Some((c, None)),
        'ô' => Some(('o', Some(HORN))),
        'Ô' => Some(('O', Some(HORN))),
        'ö' => Some(('u', Some(HORN))),
        'Ö' => Some(('U', Some(HORN))),
        _ => None,
    }
}

/// The VNI chars that are whole letters on their own: đ, and i and y with the tones VNI
/// gives a code of their own.
fn vni_letter(c: char) -> Option<char> {
    let letter = match c {
        'ñ' => 'đ',
        'Ñ' => 'Đ',
        'æ' => 'ỉ',
        'Æ' => 'Ỉ',
        'ó' => 'ĩ',
        'Ó' => 'Ĩ',
        'ò' => 'ị',
        'Ò' => 'Ị',
        'î' => 'ỵ',
        'Î' => 'Ỵ',
        // í and ì are the same letters in VNI and Unicode.
        _ => return None,
    };
    Some(letter)
}

/// The vowel `base` (with `horn`, if any) modified by `modifier`, when VNI allows the pair.
fn vni_apply(base: char, horn: Option<char>, modifier: VniModifier) -> Option<String> {
    let plain = horn.is_none();
    let lower = base.to_ascii_lowercase();
    match modifier {
        VniModifier::ToneOnly(tone) => Some(compose(base, horn, tone)),
        VniModifier::Circumflex(tone) if plain && matches!(lower, 'a' | 'e' | 'o') => {
            Some(compose(base, Some(CIRCUMFLEX), tone))
        }
        VniModifier::Breve(tone) if plain && lower == 'a' => Some(compose(base, Some(BREVE), tone)),
        _ => None,
    }
}

/// VNI text decoded: each vowel with the modifier after it becomes one letter.
fn convert_vni(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some((base, horn)) = vni_vowel(c) {
            let modified = chars
                .peek()
                .and_then(|&next| vni_modifier(next))
                .and_then(|modifier| vni_apply(base, horn, modifier));
            match modified {
                Some(letter) => {
                    chars.next();
                    out.push_str(&letter);
                }
                None => out.push_str(&compose(base, horn, Tone::Level)),
            }
        } else {
            out.push(vni_letter(c).unwrap_or(c));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Vietnamese syllables

/// Word boundaries: whitespace and punctuation. The Latin-1 symbols that legacy fonts use
/// as letters (¨ © « ¶ …) are deliberately not boundaries, so that a legacy word stays one
/// (non-Vietnamese) word instead of falling apart into pieces that might look Vietnamese.
fn is_word_separator(c: char) -> bool {
    c.is_whitespace() || c.is_ascii_punctuation() || ('\u{2010}'..='\u{206F}').contains(&c)
}

fn is_vowel(letter: char) -> bool {
    matches!(
        letter,
        'a' | 'ă' | 'â' | 'e' | 'ê' | 'i' | 'o' | 'ô' | 'ơ' | 'u' | 'ư' | 'y'
    )
}

/// `letter` without its vowel-quality mark: â ă → a, ê → e, ô ơ → o, ư → u.
fn strip_quality(letter: char) -> char {
    match letter {
        'ă' | 'â' => 'a',
        'ê' => 'e',
        'ô' | 'ơ' => 'o',
        'ư' => 'u',
        _ => letter,
    }
}

/// A word read as Vietnamese letters: lower case, vowel qualities kept, the tone apart.
#[derive(Debug)]
struct Spelling {
    letters: Vec<char>,
    tone: Tone,
    /// Index in `letters` of the vowel that carries the tone (0 for the level tone).
    tone_at: usize,
}

impl Spelling {
    /// The word's letters and tone, or None when it has a char that is no Vietnamese letter
    /// (ü, ñ, ç, ¨, digits …), a mark on the wrong letter, or more than one tone.
    fn parse(word: &str) -> Option<Spelling> {
        let mut letters: Vec<char> = Vec::with_capacity(word.len());
        let mut tone = Tone::Level;
        let mut tone_at = 0;
        for c in word.chars().flat_map(char::to_lowercase).nfd() {
            if c.is_ascii_lowercase() || c == 'đ' {
                letters.push(c);
            } else if let Some(mark_tone) = Tone::from_mark(c) {
                if tone != Tone::Level || !letters.last().is_some_and(|&l| is_vowel(l)) {
                    return None;
                }
                tone = mark_tone;
                tone_at = letters.len() - 1;
            } else {
                let last = letters.last_mut()?;
                *last = match (*last, c) {
                    ('a', CIRCUMFLEX) => 'â',
                    ('e', CIRCUMFLEX) => 'ê',
                    ('o', CIRCUMFLEX) => 'ô',
                    ('a', BREVE) => 'ă',
                    ('o', HORN) => 'ơ',
                    ('u', HORN) => 'ư',
                    _ => return None,
                };
            }
        }
        (!letters.is_empty()).then_some(Spelling {
            letters,
            tone,
            tone_at,
        })
    }
}

fn is_vietnamese_word(word: &str) -> bool {
    has_plain_casing(word)
        && Spelling::parse(word).is_some_and(|s| is_syllable(&s) || is_accented_foreign_name(&s))
}

/// Whether the word is lower case, upper case or capitalised. Legacy text read as Latin-1
/// often has a capital inside a word ("ThÕ" for "Thế", "NguyÔn"), which real words do not.
fn has_plain_casing(word: &str) -> bool {
    let mut rest = word.chars().skip(1);
    rest.clone().all(|c| !c.is_uppercase()) || rest.all(|c| !c.is_lowercase())
}

/// Foreign given names with one acute accent and two or more vowel groups ("José",
/// "René"): no Vietnamese syllable, but not a sign of a wrong encoding either.
fn is_accented_foreign_name(spelling: &Spelling) -> bool {
    let letters = &spelling.letters;
    let vowel_groups = letters
        .iter()
        .enumerate()
        .filter(|&(i, &l)| is_vowel(l) && (i == 0 || !is_vowel(letters[i - 1])))
        .count();
    spelling.tone == Tone::Acute
        && letters.len() >= 3
        && letters.iter().all(char::is_ascii_lowercase)
        && vowel_groups >= 2
}

/// Initial consonants, longest first ("gi" and "qu" are handled apart).
const INITIALS: [&str; 25] = [
    "ngh", "ng", "nh", "ch", "gh", "kh", "ph", "th", "tr", "b", "c", "d", "đ", "g", "h", "k", "l",
    "m", "n", "p", "r", "s", "t", "v", "x",
];

const FINALS: [&str; 9] = ["", "c", "ch", "m", "n", "ng", "nh", "p", "t"];

/// Whether a nucleus stands at the end of a syllable, needs a final consonant, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coda {
    Open,
    Closed,
    Either,
    /// Only these finals ("" for none).
    Only(&'static [&'static str]),
}

/// The vowel sequences of Vietnamese syllables (after the initial consonant; the u of "qu"
/// belongs to the initial), with whether they take a final consonant.
const NUCLEI: &[(&str, Coda)] = &[
    ("a", Coda::Either),
    ("ă", Coda::Closed),
    ("â", Coda::Closed),
    ("e", Coda::Either),
    ("ê", Coda::Either),
    ("i", Coda::Either),
    ("o", Coda::Either),
    ("ô", Coda::Either),
    ("ơ", Coda::Either),
    ("u", Coda::Either),
    ("ư", Coda::Either),
    ("y", Coda::Either),
    ("ai", Coda::Open),
    ("ao", Coda::Open),
    ("au", Coda::Open),
    ("ay", Coda::Open),
    ("âu", Coda::Open),
    ("ây", Coda::Open),
    ("eo", Coda::Open),
    ("êu", Coda::Open),
    ("ia", Coda::Open),
    ("iê", Coda::Closed),
    ("iu", Coda::Open),
    ("oa", Coda::Either),
    ("oă", Coda::Closed),
    ("oe", Coda::Only(&["", "n", "t"])),
    ("oi", Coda::Open),
    ("ôi", Coda::Open),
    ("ơi", Coda::Open),
    ("ua", Coda::Open),
    ("uâ", Coda::Closed),
    ("uê", Coda::Either),
    ("ui", Coda::Open),
    ("uô", Coda::Closed),
    ("uơ", Coda::Open),
    ("uy", Coda::Only(&["", "ch", "nh", "p", "t"])),
    ("ưa", Coda::Open),
    ("ươ", Coda::Closed),
    ("ưi", Coda::Open),
    ("ưu", Coda::Open),
    ("yê", Coda::Closed),
    ("iêu", Coda::Open),
    ("yêu", Coda::Open),
    ("oai", Coda::Open),
    ("oay", Coda::Open),
    ("oeo", Coda::Open),
    ("uây", Coda::Open),
    ("uôi", Coda::Open),
    ("uya", Coda::Open),
    ("uyê", Coda::Closed),
    ("uyu", Coda::Open),
    ("ươi", Coda::Open),
    ("ươu", Coda::Open),
];

/// The initial consonant of `letters` and the rest.
fn split_initial(letters: &[char]) -> (String, &[char]) {
    let followed_by_vowel = |n: usize| letters.get(n).is_some_and(|&l| is_vowel(l));
    let starts_with = |prefix: &str| prefix.chars().zip(letters).all(|(p, &l)| p == l);
    // "gi" is an initial only before another vowel: "gia", "giữ" but "gì", "gìn".
    if (starts_with("gi") || starts_with("qu")) && letters.len() > 2 && followed_by_vowel(2) {
        return (letters[..2].iter().collect(), &letters[2..]);
    }
    for initial in INITIALS {
        let len = initial.chars().count();
        if letters.len() >= len && starts_with(initial) {
            return (initial.to_string(), &letters[len..]);
        }
    }
    (String::new(), letters)
}

/// Whether the spelling is one Vietnamese syllable (unaccented spellings included).
fn is_syllable(spelling: &Spelling) -> bool {
    let (initial, rest) = split_initial(&spelling.letters);
    let vowels = rest.iter().take_while(|&&l| is_vowel(l)).count();
    let initial_len = spelling.letters.len() - rest.len();
    if spelling.tone != Tone::Level {
        let toned = spelling.tone_at.checked_sub(initial_len);
        if !toned.is_some_and(|at| tone_position_fits(&rest[..vowels], vowels == rest.len(), at)) {
            return false;
        }
    }
    let nucleus: String = rest[..vowels].iter().collect();
    let coda: String = rest[vowels..].iter().collect();
    let Some(first) = nucleus.chars().next() else {
        return false;
    };
    if !FINALS.contains(&coda.as_str()) || !initial_fits(&initial, first) {
        return false;
    }
    // A lone y is closed only after qu ("quýt", "quỳnh"); elsewhere the rhyme is "uy".
    if nucleus == "y" && !coda.is_empty() && initial != "qu" {
        return false;
    }
    // Syllables closed by a stop (c ch p t) take only the acute or the dot-below tone.
    let stop = matches!(coda.as_str(), "c" | "ch" | "p" | "t");
    if stop && !matches!(spelling.tone, Tone::Level | Tone::Acute | Tone::Dot) {
        return false;
    }
    rhyme_fits(&nucleus, &coda)
}

/// Whether the tone sits on the vowel of `nucleus` that Vietnamese spelling puts it on
/// (index `at`): on the last vowel with a quality mark if there is one ("người"), else on
/// the only or last vowel of a closed syllable ("hoàn"), the first of an open pair ("lẽo",
/// but "hòa" and "hoà", "thủy" and "thuỷ" alike), the middle of an open triple ("hoài").
fn tone_position_fits(nucleus: &[char], open: bool, at: usize) -> bool {
    let last = nucleus.len().saturating_sub(1);
    if let Some(marked) = nucleus.iter().rposition(|&l| strip_quality(l) != l) {
        return at == marked;
    }
    match nucleus {
        [_] => at == 0,
        _ if !open => at == last,
        ['o', 'a'] | ['o', 'e'] | ['u', 'y'] => at <= 1,
        [_, _] => at == 0,
        _ => at == 1,
    }
}

/// The spelling rules between an initial and the first vowel after it.
fn initial_fits(initial: &str, first_vowel: char) -> bool {
    let front = matches!(first_vowel, 'e' | 'ê' | 'i' | 'y');
    match initial {
        "k" => front,
        "c" => !front,
        "gh" | "ngh" => matches!(first_vowel, 'e' | 'ê' | 'i'),
        "g" => !matches!(first_vowel, 'e' | 'ê'),
        "ng" => !matches!(first_vowel, 'e' | 'ê' | 'i'),
        // The u of "qu" is the medial: no second one ("quoa" is no spelling).
        "qu" => !matches!(first_vowel, 'o' | 'u' | 'ư'),
        _ => true,
    }
}

/// Whether `nucleus` followed by `coda` is a Vietnamese rhyme. A nucleus typed without
/// vowel-quality marks ("uye" in "Nguyen") matches the nuclei it is the bare form of.
fn rhyme_fits(nucleus: &str, coda: &str) -> bool {
    let unaccented = nucleus.chars().all(|l| strip_quality(l) == l);
    NUCLEI.iter().any(|&(known, kind)| {
        let matches = known == nucleus
            || (unaccented && known.chars().map(strip_quality).eq(nucleus.chars()));
        let coda_fits = match kind {
            Coda::Open => coda.is_empty(),
            Coda::Closed => !coda.is_empty(),
            Coda::Either => true,
            Coda::Only(finals) => finals.contains(&coda),
        };
        // ch and nh close only a, ê, i, y (and oa, uê, uy); after i, ê, y they replace
        // c and ng ("ích", "ênh", never "ic", "êng").
        let palatal_fits = match coda {
            "ch" | "nh" => known.ends_with(['a', 'ê', 'i', 'y']),
            "c" | "ng" => !matches!(known, "i" | "ê" | "y" | "uê" | "uy"),
            _ => true,
        };
        matches && coda_fits && palatal_fits
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TONES: [Tone; 6] = [
        Tone::Level,
        Tone::Acute,
        Tone::Grave,
        Tone::Hook,
        Tone::Tilde,
        Tone::Dot,
    ];

    /// The twelve vowel letters as base + quality mark, with their TCVN3 codes and VNI
    /// spellings by tone (level, acute, grave, hook, tilde, dot), written out per letter
    /// as the published charts give them, independently of the decoder's tables.
    struct Vowel {
        base: char,
        quality: Option<char>,
        tcvn3: [u8; 6],
        vni: [&'static str; 6],
    }

    const VOWELS: [Vowel; 12] = [
        Vowel {
            base: 'a',
            quality: None,
            tcvn3: [b'a', 0xB8, 0xB5, 0xB6, 0xB7, 0xB9],
            vni: ["a", "aù", "aø", "aû", "aõ", "aï"],
        },
        Vowel {
            base: 'a',
            quality: Some(BREVE),
            tcvn3: [0xA8, 0xBE, 0xBB, 0xBC, 0xBD, 0xC6],
            vni: ["aê", "aé", "aè", "aú", "aü", "aë"],
        },
        Vowel {
            base: 'a',
            quality: Some(CIRCUMFLEX),
            tcvn3: [0xA9, 0xCA, 0xC7, 0xC8, 0xC9, 0xCB],
            vni: ["aâ", "aá", "aà", "aå", "aã", "aä"],
        },
        Vowel {
            base: 'e',
            quality: None,
            tcvn3: [b'e', 0xD0, 0xCC, 0xCE, 0xCF, 0xD1],
            vni: ["e", "eù", "eø", "eû", "eõ", "eï"],
        },
        Vowel {
            base: 'e',
            quality: Some(CIRCUMFLEX),
            tcvn3: [0xAA, 0xD5, 0xD2, 0xD3, 0xD4, 0xD6],
            vni: ["eâ", "eá", "eà", "eå", "eã", "eä"],
        },
        Vowel {
            base: 'i',
            quality: None,
            tcvn3: [b'i', 0xDD, 0xD7, 0xD8, 0xDC, 0xDE],
            vni: ["i", "í", "ì", "æ", "ó", "ò"],
        },
        Vowel {
            base: 'o',
            quality: None,
            tcvn3: [b'o', 0xE3, 0xDF, 0xE1, 0xE2, 0xE4],
            vni: ["o", "où", "oø", "oû", "oõ", "oï"],
        },
        Vowel {
            base: 'o',
            quality: Some(CIRCUMFLEX),
            tcvn3: [0xAB, 0xE8, 0xE5, 0xE6, 0xE7, 0xE9],
            vni: ["oâ", "oá", "oà", "oå", "oã", "oä"],
        },
        Vowel {
            base: 'o',
            quality: Some(HORN),
            tcvn3: [0xAC, 0xED, 0xEA, 0xEB, 0xEC, 0xEE],
            vni: ["ô", "ôù", "ôø", "ôû", "ôõ", "ôï"],
        },
        Vowel {
            base: 'u',
            quality: None,
            tcvn3: [b'u', 0xF3, 0xEF, 0xF1, 0xF2, 0xF4],
            vni: ["u", "uù", "uø", "uû", "uõ", "uï"],
        },
        Vowel {
            base: 'u',
            quality: Some(HORN),
            tcvn3: [0xAD, 0xF8, 0xF5, 0xF6, 0xF7, 0xF9],
            vni: ["ö", "öù", "öø", "öû", "öõ", "öï"],
        },
        Vowel {
            base: 'y',
            quality: None,
            tcvn3: [b'y', 0xFD, 0xFA, 0xFB, 0xFC, 0xFE],
            vni: ["y", "yù", "yø", "yû", "yõ", "î"],
        },
    ];

    /// TCVN3 capitals of the untoned letters with a quality mark.
    const TCVN3_CAPITALS: [(char, u8); 7] = [
        ('Ă', 0xA1),
        ('Â', 0xA2),
        ('Ê', 0xA3),
        ('Ô', 0xA4),
        ('Ơ', 0xA5),
        ('Ư', 0xA6),
        ('Đ', 0xA7),
    ];

    fn latin1(byte: u8) -> char {
        char::from(byte)
    }

    fn letter(vowel: &Vowel, tone: Tone) -> String {
        let marks = [vowel.quality, tone.mark()].into_iter().flatten();
        std::iter::once(vowel.base).chain(marks).nfc().collect()
    }

    /// Finds the vowel and tone of a Vietnamese letter (lower case).
    fn analyse(letter: char) -> Option<(&'static Vowel, Tone)> {
        VOWELS.iter().find_map(|vowel| {
            TONES
                .into_iter()
                .find(|&tone| self::letter(vowel, tone) == letter.to_string())
                .map(|tone| (vowel, tone))
        })
    }

    /// Unicode → TCVN3 as typed with .VnTime, toned capitals with the small-letter codes
    /// (.VnTimeH), capitals of untoned ă â ê ô ơ ư đ with their own codes.
    fn to_tcvn3(text: &str) -> String {
        text.chars()
            .map(|c| {
                if let Some(&(_, code)) = TCVN3_CAPITALS.iter().find(|(cap, _)| *cap == c) {
                    return latin1(code);
                }
                if c == 'đ' {
                    return latin1(0xAE);
                }
                let lower = c.to_lowercase().next().unwrap_or(c);
                match analyse(lower) {
                    Some((vowel, tone)) => {
                        let index = TONES.iter().position(|&t| t == tone).unwrap();
                        let code = vowel.tcvn3[index];
                        if c.is_uppercase() && code.is_ascii() {
                            latin1(code).to_ascii_uppercase()
                        } else {
                            latin1(code)
                        }
                    }
                    None => c,
                }
            })
            .collect()
    }

    /// Unicode → VNI-Windows.
    fn to_vni(text: &str) -> String {
        text.chars()
            .map(|c| {
                let lower = c.to_lowercase().next().unwrap_or(c);
                let spelled = match lower {
                    'đ' => "ñ".to_string(),
                    _ => match analyse(lower) {
                        Some((vowel, tone)) => {
                            let index = TONES.iter().position(|&t| t == tone).unwrap();
                            vowel.vni[index].to_string()
                        }
                        None => return c.to_string(),
                    },
                };
                if c.is_uppercase() {
                    spelled.to_uppercase()
                } else {
                    spelled
                }
            })
            .collect()
    }

    const NAMES: [&str; 9] = [
        "Nguyễn Văn An",
        "Lê Thị Hồng Nhung",
        "Đỗ Đức Anh",
        "Trần Thị Thu Hương",
        "Phạm Quốc Việt",
        "Ưng Hoàng Phúc",
        "Dương Ngọc Quỳnh",
        "Hoàng Thị Thuỷ",
        "NGUYỄN VĂN AN",
    ];

    #[test]
    fn font_names() {
        assert_eq!(LegacyFont::Tcvn3.name(), "TCVN3");
        assert_eq!(LegacyFont::Vni.name(), "VNI");
    }

    #[test]
    fn encoders_match_the_published_examples() {
        assert_eq!(to_tcvn3("Nguyễn Văn An"), "NguyÔn V¨n An");
        assert_eq!(to_vni("Nguyễn Văn An"), "Nguyeãn Vaên An");
        assert_eq!(to_vni("Dương"), "Döông");
        assert_eq!(to_vni("Đỗ Đức Anh"), "Ñoã Ñöùc Anh");
        assert_eq!(to_vni("Lê Thị Hồng Nhung"), "Leâ Thò Hoàng Nhung");
        assert_eq!(to_vni("NGUYỄN"), "NGUYEÃN");
    }

    #[test]
    fn tcvn3_every_lower_case_letter() {
        for vowel in &VOWELS {
            for (index, tone) in TONES.into_iter().enumerate() {
                let code = latin1(vowel.tcvn3[index]);
                let expected = letter(vowel, tone);
                assert_eq!(convert(&code.to_string(), LegacyFont::Tcvn3), expected);
                let word = format!("Ng{code}n");
                assert_eq!(
                    convert(&word, LegacyFont::Tcvn3),
                    format!("Ng{expected}n"),
                    "{word}"
                );
            }
        }
        assert_eq!(convert("\u{AE}i", LegacyFont::Tcvn3), "đi");
    }

    #[test]
    fn tcvn3_every_capital_letter_in_an_all_caps_word() {
        for vowel in &VOWELS {
            for (index, tone) in TONES.into_iter().enumerate() {
                let code = latin1(vowel.tcvn3[index]).to_ascii_uppercase();
                let expected = letter(vowel, tone).to_uppercase();
                let word = format!("NG{code}N");
                assert_eq!(
                    convert(&word, LegacyFont::Tcvn3),
                    format!("NG{expected}N"),
                    "{word}"
                );
            }
        }
        for (capital, code) in TCVN3_CAPITALS {
            let word = format!("{}N", latin1(code));
            assert_eq!(convert(&word, LegacyFont::Tcvn3), format!("{capital}N"));
            // A capital code stays a capital in a mixed-case word too.
            let word = format!("{}ng", latin1(code));
            assert_eq!(convert(&word, LegacyFont::Tcvn3), format!("{capital}ng"));
        }
        assert_eq!(convert("\u{AE}ANG", LegacyFont::Tcvn3), "ĐANG");
    }

    #[test]
    fn tcvn3_case_of_words_follows_the_ascii_letters() {
        let tcvn3 = |text| convert(text, LegacyFont::Tcvn3);
        assert_eq!(tcvn3("NGUYÔN"), "NGUYỄN");
        assert_eq!(tcvn3("NguyÔn"), "Nguyễn");
        assert_eq!(tcvn3("V¡N"), "VĂN");
        assert_eq!(tcvn3("V¨N"), "VĂN");
        // One capital first letter is the usual title case of a name…
        assert_eq!(tcvn3("Lª"), "Lê");
        assert_eq!(tcvn3("Lª V¨n An"), "Lê Văn An");
        // …unless the words around it are all-caps.
        assert_eq!(tcvn3("Lª V¨N AN"), "LÊ VĂN AN");
        assert_eq!(tcvn3("§ç §øc Anh"), "Đỗ Đức Anh");
        assert_eq!(tcvn3("§ç §øC ANH"), "ĐỖ ĐỨC ANH");
        assert_eq!(tcvn3("TRUNG T¢M Y TÕ"), "TRUNG TÂM Y TẾ");
    }

    #[test]
    fn vni_every_letter_both_cases() {
        for vowel in &VOWELS {
            for (index, tone) in TONES.into_iter().enumerate() {
                let spelled = vowel.vni[index];
                let expected = letter(vowel, tone);
                assert_eq!(convert(spelled, LegacyFont::Vni), expected, "{spelled}");
                let word = format!("Ng{spelled}n");
                assert_eq!(convert(&word, LegacyFont::Vni), format!("Ng{expected}n"));
                let upper = spelled.to_uppercase();
                assert_eq!(
                    convert(&format!("NG{upper}N"), LegacyFont::Vni),
                    format!("NG{}N", expected.to_uppercase()),
                    "{upper}"
                );
            }
        }
        assert_eq!(convert("ñi", LegacyFont::Vni), "đi");
        assert_eq!(convert("ÑI", LegacyFont::Vni), "ĐI");
    }

    #[test]
    fn vni_modifier_case_follows_the_base_letter() {
        assert_eq!(convert("NGUYEãN", LegacyFont::Vni), "NGUYỄN");
        assert_eq!(convert("NguyeÃn", LegacyFont::Vni), "Nguyễn");
        // A breve is only for a, a circumflex only for a e o.
        assert_eq!(convert("uê", LegacyFont::Vni), "uê");
        assert_eq!(convert("iâ", LegacyFont::Vni), "iâ");
    }

    #[test]
    fn whole_names_through_both_fonts() {
        for name in NAMES {
            for (font, encoded) in [
                (LegacyFont::Tcvn3, to_tcvn3(name)),
                (LegacyFont::Vni, to_vni(name)),
            ] {
                assert!(is_candidate(&encoded), "{encoded}");
                assert_eq!(convert(&encoded, font), name, "{encoded}");
                assert_eq!(improve(&encoded, font).as_deref(), Some(name), "{encoded}");
            }
        }
    }

    #[test]
    fn a_name_reads_best_through_its_own_font() {
        let gain = |text: &str, font| {
            vietnamese_words(&convert(text, font)).saturating_sub(vietnamese_words(text))
        };
        for name in NAMES {
            for (font, other, encoded) in [
                (LegacyFont::Tcvn3, LegacyFont::Vni, to_tcvn3(name)),
                (LegacyFont::Vni, LegacyFont::Tcvn3, to_vni(name)),
            ] {
                assert!(gain(&encoded, other) < gain(&encoded, font), "{encoded}");
                assert_ne!(improve(&encoded, other).as_deref(), Some(name));
                assert_eq!(detect([encoded.as_str()]), Some(font), "{encoded}");
            }
        }
        // Mostly the wrong font does not help at all; "Thuû" (TCVN3 "Thuỷ") is a real VNI
        // word ("Thủ"), so that name is the exception.
        for name in NAMES.iter().filter(|name| !name.contains("Thuỷ")) {
            assert_eq!(improve(&to_tcvn3(name), LegacyFont::Vni), None, "{name}");
            assert_eq!(improve(&to_vni(name), LegacyFont::Tcvn3), None, "{name}");
        }
    }

    #[test]
    fn candidates_are_latin1_only_text_with_a_high_char() {
        assert!(is_candidate("NguyÔn V¨n An"));
        assert!(is_candidate("Lê Hà"));
        assert!(!is_candidate("Nguyen Van An"));
        assert!(!is_candidate("Nguyễn Văn An"));
        assert!(!is_candidate(""));
    }

    #[test]
    fn syllables_are_counted() {
        assert_eq!(vietnamese_words("Nguyễn Văn An"), 3);
        assert_eq!(vietnamese_words("Nguyen Van An"), 3);
        assert_eq!(vietnamese_words("Dương Ngọc Quỳnh"), 3);
        assert_eq!(vietnamese_words("NGUYỄN VĂN AN"), 3);
        assert_eq!(vietnamese_words("Trần Thị Thu Hương, Hà Nội"), 6);
        assert_eq!(vietnamese_words("Khuya khoắt quyết gì giữa nghiêng"), 6);
        assert_eq!(vietnamese_words("José"), 1);
        assert_eq!(vietnamese_words("Müller"), 0);
        assert_eq!(vietnamese_words("NguyÔn V¨n An"), 1);
        assert_eq!(vietnamese_words("Nguyeãn Vaên An"), 1);
        assert_eq!(vietnamese_words("0912345678"), 0);
        // A capital inside a word is a sign of legacy text: TCVN3 "ThÕ" is "Thế".
        assert_eq!(vietnamese_words("Thõ THÕ thÕ ThÕ"), 2);
        // Stops take only the acute or dot tone; two tones make no syllable.
        assert_eq!(vietnamese_words("quốc quồc"), 1);
        assert_eq!(vietnamese_words("hoà hóà"), 1);
        // The tone sits where Vietnamese spelling puts it.
        assert_eq!(vietnamese_words("lẽo leõ"), 1);
        assert_eq!(
            vietnamese_words("hòa hoà thủy thuỷ người ngưòi hoài hòai"),
            6
        );
        // Spelling rules between initial and vowel.
        assert_eq!(vietnamese_words("kim cim ghe gha"), 2);
        assert_eq!(vietnamese_words("ích ic ênh êng tiếng"), 3);
        assert_eq!(
            vietnamese_words("quỳnh huỳnh ỹn khuỹn xoèn troẽng coõng"),
            3
        );
    }

    #[test]
    fn plain_unicode_and_foreign_text_is_left_alone() {
        let cells = [
            "Nguyen Van An",
            "GIAM DOC",
            "0912345678",
            "Nguyễn Văn An",
            "Lê Hà",
            "Hà Nội",
            "José Müller",
            "Café",
            "12,5%",
            "25°C",
            "",
        ];
        for cell in cells {
            for font in [LegacyFont::Tcvn3, LegacyFont::Vni] {
                assert_eq!(improve(cell, font), None, "{cell} {font:?}");
            }
        }
        assert_eq!(detect(cells), None);
    }

    #[test]
    fn detect_picks_the_font_of_the_column() {
        let unicode = ["Nguyễn Thị Lan", "Lê Hà", "Bùi Minh Tú"];
        for font in [LegacyFont::Tcvn3, LegacyFont::Vni] {
            let encode = match font {
                LegacyFont::Tcvn3 => to_tcvn3,
                LegacyFont::Vni => to_vni,
            };
            let mut cells: Vec<String> = NAMES.iter().map(|name| encode(name)).collect();
            assert_eq!(detect(cells.iter().map(String::as_str)), Some(font));
            cells.extend(unicode.iter().map(|name| name.to_string()));
            assert_eq!(detect(cells.iter().map(String::as_str)), Some(font));
            // A short column decides as well.
            assert_eq!(detect([encode("Phạm Quốc Việt").as_str()]), Some(font));
        }
        assert_eq!(detect(unicode), None);
    }
}
