//! The rules for a password an official chooses for themselves (in the portal, or with LDAP
//! Password Modify): its length, that it does not spell the official's own login, address
//! or name, and that zxcvbn, given those same words, does not find it guessable.
//!
//! The refusal is a value ([`PasswordWeakness`]), not a sentence: the portal says it in
//! Vietnamese or English next to the field, LDAP in its diagnostic message.

use std::fmt;

use super::{DirectoryError, Official};

/// zxcvbn's score (0–4) a chosen password must reach: 3 is "safely unguessable: moderate
/// protection from offline slow-hash scenario" (at most 10^10 guesses otherwise).
pub const MIN_STRENGTH_SCORE: u8 = 3;

/// The whole name written together ("nguyenvanan") is refused inside other text from this
/// length on; shorter, it is inside too many ordinary words.
const MIN_JOINED_NAME_CHARS: usize = 6;

/// Only the start of a very long password is scored: zxcvbn's matching grows faster than
/// linearly, and 64 characters that pass are strong whatever follows.
const SCORED_PREFIX_CHARS: usize = 64;

/// Why a chosen password was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordWeakness {
    TooShort {
        min: usize,
    },
    TooLong {
        max: usize,
    },
    ControlCharacter,
    /// It contains the login or the local part of the official's address.
    ContainsLogin(String),
    /// It has a part of the official's name as one of its words, or the whole name written
    /// together (compared without diacritics).
    ContainsName(String),
    /// It is the password it replaces (the initial one, at first sign-in).
    SameAsCurrent,
    /// zxcvbn scored it below [`MIN_STRENGTH_SCORE`].
    Guessable {
        score: u8,
    },
}

impl fmt::Display for PasswordWeakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordWeakness::TooShort { min } => {
                write!(f, "the password is too short: use at least {min} characters")
            }
            PasswordWeakness::TooLong { max } => {
                write!(f, "the password is too long: use at most {max} characters")
            }
            PasswordWeakness::ControlCharacter => {
                f.write_str("the password contains a control character: use printable characters only")
            }
            PasswordWeakness::ContainsLogin(word) => {
                write!(f, "the password contains your login or address (\"{word}\")")
            }
            PasswordWeakness::ContainsName(word) => {
                write!(f, "the password contains your name (\"{word}\")")
            }
            PasswordWeakness::SameAsCurrent => {
                f.write_str("the new password must differ from the one it replaces")
            }
            PasswordWeakness::Guessable { score } => write!(
                f,
                "the password is too easy to guess (strength {score} of 4, at least {MIN_STRENGTH_SCORE} needed): use a longer phrase of unrelated words"
            ),
        }
    }
}

/// Folds text for comparison: lowercase, without diacritics (đ becomes d).
fn folded(text: &str) -> String {
    deunicode::deunicode(text).to_lowercase()
}

/// The official's own words: login, address local part, name parts, folded.
fn own_words(official: &Official) -> Vec<String> {
    let local = official
        .primary_address
        .split('@')
        .next()
        .unwrap_or_default();
    let mut words = vec![folded(&official.login), folded(local)];
    for part in official.name.full().split_whitespace() {
        words.push(folded(part));
    }
    words.retain(|w| !w.is_empty());
    words.dedup();
    words
}

/// Checks a password `official` chose against every rule but "differs from the current one"
/// (which needs the stored hash: see `Authenticator::choose_password`).
pub fn check_official_password(
    candidate: &str,
    official: &Official,
) -> Result<(), PasswordWeakness> {
    let chars = candidate.chars().count();
    if chars < MIN_CHOSEN_PASSWORD_CHARS {
        return Err(PasswordWeakness::TooShort {
            min: MIN_CHOSEN_PASSWORD_CHARS,
        });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordWeakness::TooLong {
            max: MAX_PASSWORD_CHARS,
        });
    }
    if candidate.chars().any(char::is_control) {
        return Err(PasswordWeakness::ControlCharacter);
    }
    let text = folded(candidate);
    let login = folded(&official.login);
    let local = folded(
        official
            .primary_address
            .split('@')
            .next()
            .unwrap_or_default(),
    );
    for word in [login, local] {
        if !word.is_empty() && text.contains(&word) {
            return Err(PasswordWeakness::ContainsLogin(word));
        }
    }
    // Vietnamese name parts are ordinary syllables ("Văn" is in "văn bản", "Thị" in "thị
    // trấn"), so a part is refused as a word of the password, not inside other words.
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let parts: Vec<String> = official
        .name
        .full()
        .split_whitespace()
        .map(folded)
        .collect();
    if let Some(part) = parts.iter().find(|p| words.contains(&p.as_str())) {
        return Err(PasswordWeakness::ContainsName(part.clone()));
    }
    let joined = parts.concat();
    let squeezed: String = words.concat();
    if joined.chars().count() >= MIN_JOINED_NAME_CHARS && squeezed.contains(&joined) {
        return Err(PasswordWeakness::ContainsName(joined));
    }
    let words = own_words(official);
    let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
    let scored: String = candidate.chars().take(SCORED_PREFIX_CHARS).collect();
    let score = zxcvbn::zxcvbn(&scored, &inputs).score() as u8;
    if score < MIN_STRENGTH_SCORE {
        return Err(PasswordWeakness::Guessable { score });
    }
    Ok(())
}

/// Fewest characters a password chosen by a person may have.
pub const MIN_CHOSEN_PASSWORD_CHARS: usize = 10;

/// Most characters a password may have (argon2 hashes anything, but a bound keeps the
/// hashing cost of one request bounded).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Checks a password an administrator or official chose (not a generated one): long enough
/// and free of control characters, which no login form can type.
pub fn check_chosen_password(password: &str) -> Result<(), DirectoryError> {
    let chars = password.chars().count();
    if chars < MIN_CHOSEN_PASSWORD_CHARS {
        return Err(DirectoryError::Invalid(format!(
            "the password has {chars} characters: use at least {MIN_CHOSEN_PASSWORD_CHARS}"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(DirectoryError::Invalid(format!(
            "the password is longer than {MAX_PASSWORD_CHARS} characters"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(DirectoryError::Invalid(
            "the password contains a control character: use printable characters only".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::UnixTime;
    use crate::directory::{AgencyId, OfficialId, OfficialStatus, PersonName};

    fn official() -> Official {
        Official {
            id: OfficialId(1),
            uuid: String::new(),
            login: "nhunglth".into(),
            name: PersonName::from_full("Lê Thị Hồng Nhung").unwrap(),
            display_name: "Lê Thị Hồng Nhung".into(),
            primary_address: "nhung.lth@vinhphuc.gov.vn".into(),
            agency_id: AgencyId(1),
            unit: None,
            title: None,
            phone: None,
            hr_id: None,
            status: OfficialStatus::Active,
            password: None,
            password_set_at: None,
            quota_bytes: 1,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }

    #[test]
    fn length_is_bounded_on_both_sides() {
        let o = official();
        assert_eq!(
            check_official_password("Tr8#kq!zW", &o),
            Err(PasswordWeakness::TooShort { min: 10 })
        );
        assert_eq!(check_official_password("Tr8#kq!zWx", &o), Ok(()));
        let long = "sông Lô chảy qua Vĩnh Phúc ".repeat(10);
        assert_eq!(check_official_password(&long[..250], &o), Ok(()));
        let too_long = "x7#Qv".repeat(52);
        assert_eq!(too_long.chars().count(), 260);
        assert_eq!(
            check_official_password(&too_long, &o),
            Err(PasswordWeakness::TooLong { max: 256 })
        );
    }

    #[test]
    fn own_words_are_refused_with_or_without_diacritics() {
        let o = official();
        assert_eq!(
            check_official_password("NhungLTH-2026-quả-na", &o),
            Err(PasswordWeakness::ContainsLogin("nhunglth".into()))
        );
        assert_eq!(
            check_official_password("mây nhung.lth bay", &o),
            Err(PasswordWeakness::ContainsLogin("nhung.lth".into()))
        );
        assert_eq!(
            check_official_password("Hồng-hạc-bay-9-cánh", &o),
            Err(PasswordWeakness::ContainsName("hong".into()))
        );
        assert_eq!(
            check_official_password("Le-Thi-Hong-Nhung-1990!", &o),
            Err(PasswordWeakness::ContainsName("le".into()))
        );
        assert_eq!(
            check_official_password("xLeThiHongNhung1990", &o),
            Err(PasswordWeakness::ContainsName("lethihongnhung".into()))
        );
        assert_eq!(
            check_official_password("ông thị cá chép vàng", &o),
            Err(PasswordWeakness::ContainsName("thi".into()))
        );
        // A name part inside another word is an ordinary syllable, not the name.
        assert_eq!(
            check_official_password("thiên nga hồngkông lê-nin 7", &o),
            Err(PasswordWeakness::ContainsName("le".into()))
        );
        assert_eq!(
            check_official_password("cá chép vàng bơi qua thiên hà", &o),
            Ok(())
        );
    }

    #[test]
    fn guessable_passwords_are_scored_out() {
        let o = official();
        assert_eq!(
            check_official_password("password123", &o),
            Err(PasswordWeakness::Guessable { score: 0 })
        );
        assert!(matches!(
            check_official_password("1234567890", &o),
            Err(PasswordWeakness::Guessable { .. })
        ));
        assert_eq!(
            check_official_password("cá vàng bơi qua cầu tre", &o),
            Ok(())
        );
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(
            check_official_password("cá vàng\u{7}bơi qua cầu", &official()),
            Err(PasswordWeakness::ControlCharacter)
        );
    }

    #[test]
    fn chosen_passwords_have_a_floor_and_a_ceiling() {
        assert!(check_chosen_password("Ngắn-123").is_err());
        assert!(
            check_chosen_password("Mười ký tự").is_ok(),
            "10 characters, not bytes"
        );
        assert!(check_chosen_password("Chín ký t").is_err(), "9 characters");
        assert!(check_chosen_password(&"a".repeat(MAX_PASSWORD_CHARS)).is_ok());
        assert!(check_chosen_password(&"a".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
        assert!(check_chosen_password("mật khẩu\tdài quá").is_err());
    }
}
