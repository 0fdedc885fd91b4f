//! The planner's pure parts: names from `cn`, `sn` and `givenName`, and which
//! `userPassword` value is carried over.

use super::*;

fn official(cn: Option<&str>, sn: Option<&str>, given: Option<&str>) -> MigratedOfficial {
    MigratedOfficial {
        full_name: cn.map(str::to_string),
        family_name: sn.map(str::to_string),
        given_name: given.map(str::to_string),
        ..MigratedOfficial::default()
    }
}

fn parts(n: PersonName) -> (String, String, String) {
    (n.family, n.middle, n.given)
}

#[test]
fn names_are_read_family_first_unless_cn_ends_with_sn() {
    let vn = official(Some("Nguyễn  Văn An"), Some("Nguyễn"), Some("An"));
    assert_eq!(
        parts(migrated_name(&vn).unwrap()),
        ("Nguyễn".into(), "Văn".into(), "An".into())
    );
    let western = official(Some("An Văn Nguyễn"), Some("Nguyễn"), Some("An"));
    assert_eq!(
        parts(migrated_name(&western).unwrap()),
        ("Nguyễn".into(), "Văn".into(), "An".into())
    );
    let no_cn = official(None, Some("Lê"), Some("Thị Hồng Nhung"));
    assert_eq!(
        parts(migrated_name(&no_cn).unwrap()),
        ("Lê".into(), "Thị Hồng".into(), "Nhung".into())
    );
    assert!(migrated_name(&official(None, None, None)).is_err());
}

#[test]
fn the_first_usable_hash_is_carried_and_clear_text_is_never_repeated() {
    let values = vec![
        "matkhau-cu".to_string(),
        "{SSHA}pKqkNr1tq3wtQqk+UcPyA3HnA2NsU5NJ".to_string(),
    ];
    let (password, note) = carried_password(&values);
    assert_eq!(note, None);
    assert!(matches!(
        password,
        PlannedPassword::Carried {
            scheme: "{SSHA}",
            ..
        }
    ));

    let (password, note) = carried_password(&["matkhau-cu".to_string()]);
    let why = note.unwrap();
    assert_eq!(why, "its userPassword is clear text");
    assert!(!why.contains("matkhau"));
    assert_eq!(password, PlannedPassword::Initial { why });

    let (_, note) = carried_password(&["{MD4}abc".to_string()]);
    assert_eq!(
        note.as_deref(),
        Some("its userPassword cannot be carried over: the scheme {MD4} is not one congvu accepts")
    );
    let (_, note) = carried_password(&[]);
    assert_eq!(note.as_deref(), Some("it has no userPassword"));
}

#[test]
fn debug_output_leaves_the_passwords_out() {
    let official = MigratedOfficial {
        login: "annv".into(),
        passwords: vec![
            "matkhau-cu".into(),
            "{SSHA}pKqkNr1tq3wtQqk+UcPyA3HnA2NsU5NJ".into(),
        ],
        ..MigratedOfficial::default()
    };
    let shown = format!("{official:?}");
    assert!(
        shown.contains("annv") && shown.contains("2 value(s)"),
        "{shown}"
    );
    assert!(
        !shown.contains("matkhau") && !shown.contains("pKqk"),
        "{shown}"
    );
}
