use super::*;

/// Feeds `input` to a fresh reader split into two reads at every position, and checks every
/// split gives the same outcome and leaves the same bytes for the next command.
fn read_every_split(input: &[u8], max_size: usize) -> (Result<Vec<u8>, DataFault>, usize) {
    let mut outcome = None;
    for split in 0..=input.len() {
        let mut reader = DataReader::new(max_size, 1000);
        let (first, second) = input.split_at(split);
        let used = match reader.feed(first) {
            Some(n) => n,
            None => split + reader.feed(second).expect("end of data not found"),
        };
        let result = (reader.finish(), used);
        match &outcome {
            None => outcome = Some(result),
            Some(seen) => assert_eq!(seen, &result, "split at {split} differs"),
        }
    }
    outcome.expect("at least one split")
}

#[test]
fn data_ends_only_at_crlf_dot_crlf_and_unstuffs() {
    let input = b"Subject: x\r\n\r\n..leading dot\r\nline\r\n.\r\nQUIT\r\n";
    let (message, used) = read_every_split(input, 1 << 20);
    assert_eq!(
        message.unwrap(),
        b"Subject: x\r\n\r\n.leading dot\r\nline\r\n"
    );
    assert_eq!(&input[used..], b"QUIT\r\n");
}

#[test]
fn empty_message_ends_at_first_dot_line() {
    let (message, used) = read_every_split(b".\r\nRSET\r\n", 100);
    assert_eq!(message.unwrap(), b"");
    assert_eq!(used, 3);
}

#[test]
fn smuggling_forms_are_not_ends_and_refuse_the_message() {
    for smuggled in [
        &b"a\r\n\n.\r\nMAIL FROM:<x@y>\r\n.\r\n"[..],
        b"a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n",
        b"a\r\n.\nMAIL FROM:<x@y>\r\n.\r\n",
        b"a\r.\r\nMAIL FROM:<x@y>\r\n.\r\n",
        b"a\r\n.\r\rMAIL FROM:<x@y>\r\n.\r\n",
        b"bare\rcr\r\n.\r\n",
    ] {
        let (message, used) = read_every_split(smuggled, 1 << 20);
        assert_eq!(message, Err(DataFault::BareNewline), "{smuggled:?}");
        assert_eq!(
            used,
            smuggled.len(),
            "only the final CRLF.CRLF ends {smuggled:?}"
        );
    }
}

#[test]
fn oversize_is_read_to_the_end_without_keeping_it() {
    let mut input = b"x".repeat(50);
    input.extend_from_slice(b"\r\n.\r\nNOOP\r\n");
    let (message, used) = read_every_split(&input, 40);
    assert_eq!(message, Err(DataFault::TooLarge));
    assert_eq!(&input[used..], b"NOOP\r\n");
    let (exact, _) = read_every_split(&input, 52);
    assert_eq!(exact.unwrap().len(), 52);
}

#[test]
fn lines_over_1000_octets_are_refused_and_1000_pass() {
    let mut at_limit = b"y".repeat(998);
    at_limit.extend_from_slice(b"\r\n.\r\n");
    assert_eq!(read_every_split(&at_limit, 1 << 20).0.unwrap().len(), 1000);
    let mut over = b"y".repeat(999);
    over.extend_from_slice(b"\r\n.\r\n");
    assert_eq!(
        read_every_split(&over, 1 << 20).0,
        Err(DataFault::LineTooLong)
    );
}

#[test]
fn command_lines() {
    assert_eq!(command_line(b"NOOP\r\nQUIT", 512), LineStatus::Line(6));
    assert_eq!(command_line(b"NOOP\r", 512), LineStatus::NeedMore);
    assert_eq!(
        command_line(b"NOOP\nQUIT\r\n", 512),
        LineStatus::BareNewline(5)
    );
    assert_eq!(command_line(b"NO\rOP\r\n", 512), LineStatus::BareNewline(7));
    assert_eq!(command_line(&[b'a'; 512], 512), LineStatus::TooLong);
    let mut exact = vec![b'a'; 510];
    exact.extend_from_slice(b"\r\n");
    assert_eq!(command_line(&exact, 512), LineStatus::Line(512));
    let mut over = vec![b'a'; 511];
    over.extend_from_slice(b"\r\n");
    assert_eq!(command_line(&over, 512), LineStatus::TooLong);
}

/// Random inputs over the bytes that matter to framing: whatever the split into two reads,
/// the reader finds the same end, the same message and the same fault, and a message it
/// accepts never holds a bare CR or LF.
#[test]
fn random_inputs_frame_the_same_whatever_the_split() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5_17_79);
    let alphabet = [b'a', b'.', b'\r', b'\n', b'\r', b'\n'];
    for _ in 0..3000 {
        let len = rng.random_range(0..40);
        let mut input: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
            .collect();
        input.extend_from_slice(b"\r\n.\r\n");
        let (message, used) = read_every_split(&input, 1 << 20);
        assert!(used <= input.len());
        assert!(
            input[..used].ends_with(b"\r\n.\r\n") || used == 3,
            "{input:?}"
        );
        if let Ok(message) = message {
            for (i, &b) in message.iter().enumerate() {
                if b == b'\n' {
                    assert!(i > 0 && message[i - 1] == b'\r', "bare LF kept: {input:?}");
                }
                if b == b'\r' {
                    assert_eq!(message.get(i + 1), Some(&b'\n'), "bare CR kept: {input:?}");
                }
            }
        }
    }
}

#[test]
fn command_lines_frame_the_same_whatever_arrives_first() {
    let input = b"EHLO x\r\nMAIL FROM:<a@b>\r\n";
    for cut in 0..=input.len() {
        let status = command_line(&input[..cut], 512);
        let expected = if cut >= 8 {
            LineStatus::Line(8)
        } else {
            LineStatus::NeedMore
        };
        assert_eq!(status, expected, "after {cut} bytes");
    }
}
