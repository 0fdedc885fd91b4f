use super::*;

fn address(full: &str) -> String {
    let rule = AddressRule::parse("{given}{initials}").unwrap();
    rule.local_part(&PersonName::from_full(full).unwrap())
        .unwrap()
}

#[test]
fn the_default_rule_on_real_shaped_names() {
    let cases = [
        ("Nguyễn Văn An", "annv"),
        ("Lê Thị Hồng Nhung", "nhunglth"),
        ("Đỗ Đức Anh", "anhdd"),
        ("Đặng Thị Thu Hà", "hadtt"),
        ("Ưng Hoàng Phúc", "phucuh"),
        ("Ông Văn Đạt", "datov"),
        ("Trần Quốc Toản", "toantq"),
        ("Phạm Minh Chính", "chinhpm"),
        ("Hoàng Thị Ánh Tuyết", "tuyethta"),
        ("Vũ Đình Đức", "ducvd"),
        ("Võ Nguyên Giáp", "giapvn"),
        ("Bùi Thị Xuân", "xuanbt"),
        ("Đinh Bộ Lĩnh", "linhdb"),
        ("Lý Thường Kiệt", "kietlt"),
        ("Ngô Bảo Châu", "chaunb"),
        ("Dương Văn Minh", "minhdv"),
        ("Huỳnh Tấn Phát", "phatht"),
        ("Phan Bội Châu", "chaupb"),
        ("Trịnh Công Sơn", "sontc"),
        ("Hồ Xuân Hương", "huonghx"),
        ("Lương Thế Vinh", "vinhlt"),
        ("Tạ Quang Bửu", "buutq"),
        ("Châu Văn Liêm", "liemcv"),
        ("Quách Thị Ngọc Ánh", "anhqtn"),
        ("Mạc Đăng Dung", "dungmd"),
        ("Kiều Thị Thanh Hương", "huongktt"),
        ("Nguyễn Thị Minh Khai", "khaintm"),
        ("Tôn Nữ Thị Ninh", "ninhtnt"),
        ("Lê Văn Việt Đức Anh", "anhlvvd"),
        ("Thái", "thai"),
        ("Ðỗ Anh", "anhd"),
        ("Nguyễn Ngọc  Ngạn", "ngannn"),
        ("Âu Dương Phong", "phongad"),
        ("Ứng Văn Ước", "uocuv"),
    ];
    for (full, expected) in cases {
        assert_eq!(address(full), expected, "{full}");
    }
    assert!(cases.len() >= 30);
}

#[test]
fn decomposed_input_gives_the_same_address() {
    // "Đặng Thị Thu Hà" with combining marks (NFD), as some HR exports produce.
    let nfd = "\u{110}a\u{323}\u{306}ng Thi\u{323} Thu Ha\u{300}";
    assert_eq!(address(nfd), "hadtt");
}

#[test]
fn other_rules() {
    let name = PersonName::from_full("Lê Thị Hồng Nhung").unwrap();
    let rule = |t: &str| AddressRule::parse(t).unwrap().local_part(&name).unwrap();
    assert_eq!(rule("{given}.{family}"), "nhung.le");
    assert_eq!(rule("{family}{given}"), "lenhung");
    assert_eq!(rule("{given}.{family}{middle_initials}"), "nhung.leth");
    assert_eq!(rule("{given_initial}{middle}{family}"), "nthihongle");
    assert_eq!(rule("CB-{given}{initials}"), "cb-nhunglth");
    let single = PersonName::from_full("Thái").unwrap();
    assert_eq!(
        AddressRule::parse("{given}.{family}")
            .unwrap()
            .local_part(&single)
            .unwrap(),
        "thai"
    );
}

#[test]
fn bad_rules_are_refused_with_the_placeholders_listed() {
    for bad in [
        "{given",
        "{surname}",
        "{initials}",
        "an@{given}",
        "{given} {family}",
    ] {
        let err = AddressRule::parse(bad).unwrap_err().to_string();
        assert!(err.contains("placeholders are {given}"), "{bad}: {err}");
    }
}

#[test]
fn names_without_letters_give_no_address() {
    let rule = AddressRule::parse("{given}{initials}").unwrap();
    let name = PersonName {
        family: String::new(),
        middle: String::new(),
        given: "…".into(),
    };
    assert!(rule.local_part(&name).is_err());
}

#[test]
fn collisions_are_numbered_in_order() {
    let mut allocator = AddressAllocator::new(["annv".to_string(), "annv3".to_string()]);
    assert_eq!(allocator.allocate("annv"), "annv2");
    assert_eq!(allocator.allocate("annv"), "annv4");
    assert_eq!(allocator.allocate("nhunglth"), "nhunglth");
    assert_eq!(allocator.allocate("nhunglth"), "nhunglth2");
    assert!(allocator.is_taken("annv4"));
}
