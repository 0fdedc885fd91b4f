use super::*;

fn finds(needle: &str, haystack: &str) -> bool {
    TextMatcher::new(needle).matches(haystack)
}

#[test]
fn case_is_ignored_for_vietnamese_letters() {
    assert!(finds("hà nội", "Công văn gửi HÀ NỘI hôm nay"));
    assert!(finds("HÀ NỘI", "ủy ban nhân dân thành phố hà nội"));
    assert!(finds("Hà Nội", "hà nội"));
    assert!(finds("ĐÀ NẴNG", "đà nẵng"));
}

#[test]
fn needle_without_diacritics_finds_marked_text() {
    assert!(finds("ha noi", "Sở Nội vụ Hà Nội"));
    assert!(finds("HA NOI", "hà nội"));
    assert!(finds(
        "nguyen van an",
        "Nguyễn Văn An <annv@vinhphuc.gov.vn>"
    ));
    assert!(finds("thu tuong", "Thủ tướng Chính phủ"));
    assert!(!finds("ha noi", "Hải Phòng"));
}

#[test]
fn d_folds_to_đ_both_cases() {
    assert!(finds("da nang", "Đà Nẵng"));
    assert!(finds("dong", "ĐỒNG NAI"));
    assert!(finds("d", "đ"));
    assert!(finds("D", "Đ"));
    assert!(finds("đ", "Đ"));
    // A marked needle asks for đ itself: a plain d is not it.
    assert!(!finds("đà", "Da"));
    assert!(!finds("đ", "d"));
}

#[test]
fn needle_with_diacritics_matches_only_the_same_letters() {
    assert!(finds("Hà", "Hà Nội"));
    assert!(!finds("Hà", "Hạ Long"));
    assert!(!finds("hà nội", "ha noi"));
    assert!(!finds("Nội", "Nổi bật"));
    assert!(finds("Hạ", "VỊNH HẠ LONG"));
}

#[test]
fn decomposed_input_matches_precomposed_on_either_side() {
    let nfd_haystack = "Ha\u{0300} No\u{0323}\u{0302}i";
    assert!(finds("Hà Nội", nfd_haystack));
    assert!(finds("ha noi", nfd_haystack));
    assert!(finds("HÀ NỘI", nfd_haystack));
    assert!(!finds("Hạ", nfd_haystack));
    let nfd_needle = "ha\u{0300} no\u{0323}\u{0302}i";
    assert!(finds(nfd_needle, "Thành phố Hà Nội"));
    assert!(!finds(nfd_needle, "ha noi"));
    // A second mark NFC cannot join is dropped when folding, kept when matching exactly.
    assert!(finds("ha noi", "Ha\u{0300}\u{0301} Nội"));
    assert!(!finds("hà noi", "Ha\u{0300}\u{0301} Noi"));
}

#[test]
fn whitespace_runs_match_a_single_space() {
    assert!(finds("ha noi", "Hà\r\n  Nội"));
    assert!(finds("kế hoạch  năm", "Kế hoạch\tnăm 2025"));
    assert!(!finds("hanoi", "Hà Nội"));
}

#[test]
fn empty_needle_matches_everything() {
    assert!(finds("", ""));
    assert!(finds("", "Hà Nội"));
}

#[test]
fn ascii_text_is_matched_case_insensitively() {
    assert!(finds("REPORT", "quarterly report.pdf"));
    assert!(finds("abab", "aabaabab"));
    assert!(!finds("abac", "aabaabab"));
    assert!(!finds("hà", "ha ha ha"));
}

#[test]
fn other_scripts_and_multi_letter_transliterations_are_not_folded() {
    // Folding removes marks; it does not turn ß into ss or Cyrillic into Latin.
    assert!(!finds("ss", "Straße"));
    assert!(finds("STRAßE", "Straße"));
    assert!(!finds("straße", "strasse"));
    assert!(!finds("privet", "привет"));
    assert!(!finds("2x3", "2×3"));
    assert!(finds("привет", "ПРИВЕТ"));
}

#[test]
fn one_matcher_serves_many_haystacks() {
    let matcher = TextMatcher::new("ha noi");
    let hits = ["Hà Nội", "ha noi", "HÀ NỘI", "Hải Phòng", "Hà Nam"]
        .iter()
        .filter(|h| matcher.matches(h))
        .count();
    assert_eq!(hits, 3);
}

#[test]
fn headers_are_decoded_with_lowercase_names() {
    let message = concat!(
        "From: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <annv@vinhphuc.gov.vn>\r\n",
        "To: so-noi-vu@vinhphuc.gov.vn\r\n",
        "Subject: =?UTF-8?Q?K=E1=BA=BF_ho=E1=BA=A1ch_n=C4=83m?= 2025\r\n",
        "X-Phong-Ban: V\u{0103}n ph\u{00f2}ng\r\n",
        "Date: Tue, 4 Mar 2025 09:15:00 +0700\r\n",
        "\r\n",
        "body\r\n"
    );
    let headers = decoded_headers(message.as_bytes());
    let value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(value("from"), Some("Nguyễn Văn An <annv@vinhphuc.gov.vn>"));
    assert_eq!(value("to"), Some("so-noi-vu@vinhphuc.gov.vn"));
    assert_eq!(value("subject"), Some("Kế hoạch năm 2025"));
    assert_eq!(value("x-phong-ban"), Some("Văn phòng"));
    assert_eq!(value("date"), Some("Tue, 4 Mar 2025 09:15:00 +0700"));
    assert_eq!(headers.len(), 5);
}

#[test]
fn repeated_fields_are_kept_in_order() {
    let message = b"Received: from a\r\nReceived: from b\r\nSubject: x\r\n\r\n";
    let names: Vec<(String, String)> = decoded_headers(message);
    assert_eq!(
        names,
        vec![
            ("received".to_string(), "from a".to_string()),
            ("received".to_string(), "from b".to_string()),
            ("subject".to_string(), "x".to_string()),
        ]
    );
}

#[test]
fn body_text_decodes_plain_parts() {
    let message = concat!(
        "Subject: x\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n",
        "\r\n",
        "K=E1=BA=BF ho=E1=BA=A1ch c=C3=B4ng t=C3=A1c\r\n"
    );
    let text = body_text(message.as_bytes());
    assert!(text.contains("Kế hoạch công tác"), "{text:?}");
    assert!(!text.contains("Subject"));
}

#[test]
fn body_text_reads_one_alternative_and_strips_html() {
    let message = concat!(
        "Subject: x\r\n",
        "Content-Type: multipart/mixed; boundary=outer\r\n",
        "\r\n",
        "--outer\r\n",
        "Content-Type: multipart/alternative; boundary=alt\r\n",
        "\r\n",
        "--alt\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "\r\n",
        "Giấy mời họp\r\n",
        "--alt\r\n",
        "Content-Type: text/html; charset=utf-8\r\n",
        "\r\n",
        "<p>Giấy <b>mời</b> họp HTML</p>\r\n",
        "--alt--\r\n",
        "--outer\r\n",
        "Content-Type: text/html; charset=utf-8\r\n",
        "Content-Disposition: attachment; filename=\"phu-luc.html\"\r\n",
        "\r\n",
        "<html><body><h1>Phụ lục</h1></body></html>\r\n",
        "--outer\r\n",
        "Content-Type: application/pdf\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "\r\n",
        "JVBERi0xLjQK\r\n",
        "--outer--\r\n"
    );
    let text = body_text(message.as_bytes());
    assert!(text.contains("Giấy mời họp"), "{text:?}");
    assert!(
        !text.contains("HTML"),
        "the html alternative is read too: {text:?}"
    );
    assert!(text.contains("Phụ lục"), "{text:?}");
    assert!(!text.contains("<h1>"), "{text:?}");
    assert!(!text.contains("%PDF"), "{text:?}");
}

#[test]
fn html_only_body_is_stripped_to_text() {
    let message = concat!(
        "Content-Type: text/html; charset=utf-8\r\n",
        "\r\n",
        "<div>Th&ocirc;ng b&aacute;o <i>kh\u{1ea9}n</i></div>\r\n"
    );
    let text = body_text(message.as_bytes());
    assert!(
        TextMatcher::new("thông báo khẩn").matches(&text),
        "{text:?}"
    );
    assert!(!text.contains("<div>"));
}

#[test]
fn attached_message_headers_and_text_are_body_text() {
    let message = concat!(
        "Subject: Fwd\r\n",
        "Content-Type: multipart/mixed; boundary=b\r\n",
        "\r\n",
        "--b\r\n",
        "Content-Type: text/plain\r\n",
        "\r\n",
        "see below\r\n",
        "--b\r\n",
        "Content-Type: message/rfc822\r\n",
        "\r\n",
        "Subject: =?UTF-8?Q?B=C3=A1o_c=C3=A1o?=\r\n",
        "\r\n",
        "noi dung goc\r\n",
        "--b--\r\n"
    );
    let text = body_text(message.as_bytes());
    assert!(text.contains("see below"), "{text:?}");
    assert!(text.contains("Báo cáo"), "{text:?}");
    assert!(text.contains("noi dung goc"), "{text:?}");
}

#[test]
fn unparseable_input_gives_nothing() {
    assert!(decoded_headers(b"").is_empty());
    assert_eq!(body_text(b""), "");
}

/// The table every character below its end is compared by says what Unicode's own case
/// mapping, the whitespace rule and folding say, for every one of those characters.
#[test]
fn the_comparison_table_agrees_with_the_general_rules() {
    for code in 0..TABLE_END {
        let Some(c) = char::from_u32(code) else {
            continue;
        };
        for fold in [false, true] {
            let mut general = Vec::new();
            for lower in c.to_lowercase() {
                let compared = match (lower.is_whitespace(), fold) {
                    (true, _) => Some(' '),
                    (false, true) => unmarked(lower),
                    (false, false) => Some(lower),
                };
                general.extend(compared);
            }
            let mut tabled = Vec::new();
            for_each_comparable(std::iter::once(c), fold, |x| {
                tabled.push(x);
                false
            });
            assert_eq!(tabled, general, "U+{code:04X} fold={fold}");
        }
    }
}

/// A message's text is kept in NFC whatever form it came in, so it is matched without being
/// normalized again: decomposed `Hà Nội` in the body and in a header is found both ways.
#[test]
fn a_message_text_is_kept_in_nfc() {
    let decomposed = "Ha\u{0300} No\u{0323}\u{0302}i";
    let raw = format!(
        "Subject: {decomposed}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{decomposed}\r\n"
    );
    let text = MessageText::of(raw.as_bytes());
    assert_eq!(text.body.trim_end(), "Hà Nội");
    let subject = text.headers.iter().find(|(n, _)| n == "subject").unwrap();
    assert_eq!(subject.1, "Hà Nội");
    for needle in ["hà nội", "ha noi", "HÀ NỘI"] {
        let matcher = TextMatcher::new(needle);
        assert!(matcher.matches_nfc(&text.body), "{needle}");
        assert!(matcher.matches_nfc(&subject.1), "{needle}");
    }
    assert!(!TextMatcher::new("hạ nội").matches_nfc(&text.body));
}

/// A needle with a number is looked for by its digits first: text without them is passed
/// over, text with them is still matched in full, and a stray combining mark between the
/// digits, which folding drops, does not hide a match.
#[test]
fn a_number_in_the_needle_is_looked_for_first() {
    assert!(finds("công văn 2986", "Kính gửi: CÔNG VĂN 2986/UBND-VP"));
    assert!(finds(
        "cong van 2986",
        "Kính gửi: Công văn\r\n  2986/UBND-VP"
    ));
    assert!(!finds("công văn 2986", "công văn 2987, công văn số 2986"));
    assert!(!finds("cong van 2986", "cong van 298 6"));
    // NFC keeps a mark that no precomposed character takes; folding drops it.
    let stray = "cong van 2\u{0301}986";
    assert!(TextMatcher::new("cong van 2986").matches_nfc(stray));
    assert!(!TextMatcher::new("công văn 2986").matches_nfc("công văn 2\u{0301}986"));
    // One digit is no shortcut, and a needle of digits alone works as well.
    assert!(finds("quý 3", "Báo cáo QUÝ 3 năm 2026"));
    assert!(finds("2986", "số 2986/UBND"));
}
