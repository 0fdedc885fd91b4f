use super::*;

const LIMITS: ResponseLimits = ResponseLimits {
    max_line: 64,
    max_message: 90,
    room: 10,
};

/// Feeds `input` split at `at`; the outcome of the whole.
fn feed_split(input: &[u8], at: usize) -> Result<(), Violation> {
    let mut guard = ResponseGuard::new(LIMITS);
    guard.feed(&input[..at])?;
    guard.feed(&input[at..])
}

/// The same verdict whatever the split into reads.
fn verdict(input: &[u8]) -> Result<(), Violation> {
    let whole = ResponseGuard::new(LIMITS).feed(input);
    for at in 0..=input.len() {
        assert_eq!(feed_split(input, at), whole, "split at {at}");
    }
    // And one byte at a time.
    let mut guard = ResponseGuard::new(LIMITS);
    let bytewise = input.iter().try_for_each(|b| guard.feed(&[*b]));
    assert_eq!(bytewise, whole, "byte by byte");
    whole
}

#[test]
fn literals_up_to_the_limit_pass_at_every_split() {
    let mut input = b"* 1 FETCH (UID 7 BODY[] {100}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100));
    input.extend(b")\r\nA1 OK done\r\n");
    assert_eq!(verdict(&input), Ok(()));
}

#[test]
fn a_literal_over_the_limit_is_refused_before_its_bytes() {
    let input = b"* 1 FETCH (UID 7 BODY[] {101}\r\n";
    assert_eq!(
        verdict(input),
        Err(Violation::LiteralTooLarge {
            announced: 101,
            max_message: 90
        })
    );
    let huge = b"* 1 FETCH (UID 7 BODY[] {2147483648}\r\n";
    assert_eq!(
        verdict(huge),
        Err(Violation::LiteralTooLarge {
            announced: 2_147_483_648,
            max_message: 90
        })
    );
}

#[test]
fn literals_of_one_response_count_together_and_reset_after_it() {
    let mut two = b"* 1 FETCH (BODY[1] {60}\r\n".to_vec();
    two.extend([b'x'; 60]);
    two.extend(b" BODY[2] {41}\r\n");
    assert!(matches!(
        verdict(&two),
        Err(Violation::LiteralTooLarge { announced: 41, .. })
    ));
    // The same literals in two responses are fine.
    let mut apart = b"* 1 FETCH (BODY[1] {60}\r\n".to_vec();
    apart.extend([b'x'; 60]);
    apart.extend(b")\r\n* 2 FETCH (BODY[2] {41}\r\n");
    apart.extend([b'y'; 41]);
    apart.extend(b")\r\n");
    assert_eq!(verdict(&apart), Ok(()));
}

#[test]
fn a_literal_is_not_held_to_the_line_limit_but_lines_are() {
    let mut long_literal = b"* 1 FETCH (BODY[] {90}\r\n".to_vec();
    long_literal.extend([b'x'; 90]);
    long_literal.extend(b")\r\n");
    assert_eq!(verdict(&long_literal), Ok(()));

    let just_under = [b"* ".as_slice(), &[b'a'; 62], b"\r\n"].concat();
    assert_eq!(verdict(&just_under), Ok(()));
    let over = [b"* ".as_slice(), &[b'a'; 63], b"\r\n"].concat();
    assert_eq!(verdict(&over), Err(Violation::LineTooLong { limit: 64 }));
    // A line that never ends is refused once it is too long, not at its end.
    let endless = [b"* ".as_slice(), &[b'a'; 70]].concat();
    assert_eq!(verdict(&endless), Err(Violation::LineTooLong { limit: 64 }));
}

#[test]
fn limits_follow_the_message_size_setting() {
    let limits = ResponseLimits::for_messages(52_428_800);
    assert_eq!(limits.max_literals(), 52_428_800 + 65_536);
    assert_eq!(limits.max_line, MAX_LINE);
    let shown = Violation::LiteralTooLarge {
        announced: 2_147_483_648,
        max_message: 52_428_800,
    }
    .to_string();
    assert!(shown.contains("2147483648 bytes"), "{shown}");
    assert!(
        shown.contains("(52428800 bytes, smtp.max_message_bytes)"),
        "{shown}"
    );
}
