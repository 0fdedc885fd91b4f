//! Officials: the people who hold a login, a mailbox and possibly a signing certificate.

use std::str::FromStr;

use super::DirectoryError;
use crate::model::{OfficialStatus, PersonName, StoredPassword};

impl FromStr for OfficialStatus {
    type Err = DirectoryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(OfficialStatus::Active),
            "disabled" => Ok(OfficialStatus::Disabled),
            other => Err(DirectoryError::Invalid(format!(
                "\"{other}\" is not a status: use active or disabled"
            ))),
        }
    }
}

impl PersonName {
    /// Splits a full name written family-first. A single word is taken as the given name.
    pub fn from_full(full: &str) -> Result<PersonName, DirectoryError> {
        let words: Vec<&str> = full.split_whitespace().collect();
        match words.as_slice() {
            [] => Err(DirectoryError::Invalid("the full name is empty".into())),
            [given] => Ok(PersonName {
                family: String::new(),
                middle: String::new(),
                given: given.to_string(),
            }),
            [family, middle @ .., given] => Ok(PersonName {
                family: family.to_string(),
                middle: middle.join(" "),
                given: given.to_string(),
            }),
        }
    }

    /// Splits a full name read from an HR list, refusing what is no person's name: a name
    /// is 2 to 7 words of letters (Vietnamese or not; hyphens and apostrophes inside a word
    /// allowed), never a label ("Người lập biểu: Trần Văn Bình"), a number, or a title or
    /// heading that forms put where names go ("GIÁM ĐỐC", "Thủ trưởng đơn vị").
    pub fn from_listed(full: &str) -> Result<PersonName, DirectoryError> {
        let refuse = |why: String| Err(DirectoryError::Invalid(format!("\"{full}\" {why}")));
        if full.contains(':') {
            return refuse("has a colon: it reads as a label, not a name".into());
        }
        if full.chars().any(|c| c.is_numeric()) {
            return refuse("has digits: a name has letters only".into());
        }
        if let Some(c) = full
            .chars()
            .find(|&c| !(c.is_alphabetic() || c.is_whitespace() || is_name_mark(c)))
        {
            return refuse(format!(
                "has \"{c}\": a name has letters, hyphens and apostrophes only"
            ));
        }
        let words = full.split_whitespace().count();
        if !(2..=7).contains(&words) {
            return refuse(format!(
                "has {words} word(s): a full name (Họ và tên) has 2 to 7, family name first"
            ));
        }
        let key: Vec<String> = full.split_whitespace().map(super::ascii_word).collect();
        let key = format!(" {} ", key.join(" "));
        if let Some(phrase) = NOT_NAME_PHRASES
            .iter()
            .find(|p| key.contains(&format!(" {p} ")))
        {
            return refuse(format!(
                "has the words \"{phrase}\" of a title or heading, not of a person's name"
            ));
        }
        PersonName::from_full(full)
    }

    /// The name as Vietnamese write it: family, middle, given.
    pub fn full(&self) -> String {
        [&self.family, &self.middle, &self.given]
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Combining marks, hyphens and apostrophes, which names may carry between letters.
fn is_name_mark(c: char) -> bool {
    matches!(c, '-' | '\'' | '\u{2019}' | '\u{0300}'..='\u{036F}')
}

/// Words (without diacritics) that HR forms put in the name column and no Vietnamese name
/// holds: signature block roles and titles, headings, totals.
const NOT_NAME_PHRASES: [&str; 24] = [
    "nguoi lap",
    "nguoi ky",
    "lap bieu",
    "thu truong",
    "giam doc",
    "chu tich",
    "truong phong",
    "pho phong",
    "ke toan truong",
    "chanh van phong",
    "ho va ten",
    "ho ten",
    "danh sach",
    "tong cong",
    "tong so",
    "ky ten",
    "dong dau",
    "ghi ro",
    "xac nhan",
    "ban giam doc",
    "uy ban",
    "can bo",
    "cong chuc",
    "don vi",
];

/// What an administrator supplies to add an official.
#[derive(Debug, Clone)]
pub struct NewOfficial {
    pub login: String,
    pub name: PersonName,
    /// Defaults to the full name.
    pub display_name: Option<String>,
    pub primary_address: String,
    pub agency_code: String,
    pub unit: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub hr_id: Option<String>,
    /// Defaults to the domain's default quota.
    pub quota_bytes: Option<i64>,
    pub password: Option<StoredPassword>,
}

/// Attributes an update may change; `None` leaves the attribute as it is, `Some(None)`
/// clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct OfficialChanges {
    pub name: Option<PersonName>,
    pub display_name: Option<String>,
    pub agency_code: Option<String>,
    pub unit: Option<Option<String>>,
    pub title: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub hr_id: Option<Option<String>>,
    pub quota_bytes: Option<i64>,
}

/// Lowercases and checks a login: 1-64 ASCII letters, digits, `.`, `-`, `_`.
pub fn normalize_login(login: &str) -> Result<String, DirectoryError> {
    let lower = login.trim().to_ascii_lowercase();
    let valid = !lower.is_empty()
        && lower.len() <= 64
        && lower.as_bytes()[0].is_ascii_alphanumeric()
        && lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if valid {
        Ok(lower)
    } else {
        Err(DirectoryError::Invalid(format!(
            "\"{login}\" is not a login: use 1-64 letters, digits, '.', '-' or '_' starting with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_vietnamese_names() {
        let n = PersonName::from_full("  Lê Thị  Hồng Nhung ").unwrap();
        assert_eq!(
            (n.family.as_str(), n.middle.as_str(), n.given.as_str()),
            ("Lê", "Thị Hồng", "Nhung")
        );
        assert_eq!(n.full(), "Lê Thị Hồng Nhung");
        let n = PersonName::from_full("Đỗ Anh").unwrap();
        assert_eq!(
            (n.family.as_str(), n.middle.as_str(), n.given.as_str()),
            ("Đỗ", "", "Anh")
        );
        assert!(PersonName::from_full("   ").is_err());
    }

    #[test]
    fn a_listed_name_is_two_to_seven_words_of_letters() {
        for name in [
            "Nguyễn Văn An",
            "Đỗ Anh",
            "Hoàng Thị Thuỷ",
            "Tôn Nữ Thị Hồng Hạnh",
            "H'Hen Niê",
            "Nguyễn Trần Thị Minh Anh Thư Ngọc",
            "Ksor Y-Bông",
            "NGUYỄN VĂN AN",
        ] {
            let parsed = PersonName::from_listed(name);
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        }
        for (cell, why) in [
            ("Người lập biểu: Trần Văn Bình", "colon"),
            ("Người lập biểu", "nguoi lap"),
            ("GIÁM ĐỐC", "giam doc"),
            ("KT. GIÁM ĐỐC", "\".\""),
            ("Thủ trưởng đơn vị", "thu truong"),
            ("Nguyễn Văn An 2", "digits"),
            ("An", "1 word"),
            ("Một Hai Ba Bốn Năm Sáu Bảy Tám", "8 word"),
            ("Trần Văn (Bình)", "\"(\""),
            ("#N/A", "\"#\""),
            ("Tổng cộng", "tong cong"),
        ] {
            let err = PersonName::from_listed(cell).unwrap_err().to_string();
            assert!(err.contains(why), "{cell}: {err}");
        }
    }

    #[test]
    fn logins_are_lowercase_ascii() {
        assert_eq!(normalize_login("AnNV").unwrap(), "annv");
        assert!(normalize_login("ân").is_err());
        assert!(normalize_login(".annv").is_err());
        assert!(normalize_login("").is_err());
    }
}
