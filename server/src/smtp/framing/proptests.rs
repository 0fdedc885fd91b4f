//! Property tests of the DATA reader against a model of RFC 5321 §4.5.2 written here: the
//! client doubles a leading dot on every line and ends with `CRLF . CRLF`; the server removes
//! one leading dot and stops at the first `.` line that follows a CRLF. Inputs are biased
//! towards the bytes that matter (dots, CR, LF) so that smuggling shapes come up often.

use proptest::prelude::*;

use super::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure is kept as a plain regression test, not as a file beside the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes that make line structure: mostly dots and line ends, some text and 8-bit.
fn line_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => Just(b'.'),
        3 => Just(b'\r'),
        3 => Just(b'\n'),
        2 => Just(b'a'),
        1 => Just(b' '),
        1 => Just(0xC3u8),
        1 => any::<u8>(),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(line_byte(), 0..max)
}

/// Lines made of CRLF-terminated pieces, many of them dot lines: bodies with no bare line end.
fn clean_body() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just(b".".to_vec()),
        Just(b"..".to_vec()),
        Just(Vec::new()),
        prop::collection::vec(
            prop_oneof![Just(b'.'), Just(b'a'), Just(b' '), Just(0xE1u8)],
            0..12
        ),
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| {
        lines
            .into_iter()
            .flat_map(|mut line| {
                line.extend_from_slice(b"\r\n");
                line
            })
            .collect()
    })
}

/// What a client sends for `body`: a CRLF added if the body does not end with one, every
/// line starting with a dot given another, then the end-of-data line.
fn stuff_and_frame(body: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut message = body.to_vec();
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        message.extend_from_slice(b"\r\n");
    }
    let mut wire = Vec::with_capacity(message.len() + 8);
    let mut line_start = true;
    for (i, &b) in message.iter().enumerate() {
        if line_start && b == b'.' {
            wire.push(b'.');
        }
        wire.push(b);
        line_start = b == b'\n' && i > 0 && message[i - 1] == b'\r';
    }
    wire.extend_from_slice(b".\r\n");
    (message, wire)
}

/// Whether `bytes` holds a CR or LF that is not part of a CRLF pair.
fn has_bare_line_end(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || bytes[i - 1] != b'\r',
        _ => false,
    })
}

/// Where the data ends in `input` by RFC 5321 §4.1.1.4: after the first `.CRLF` that starts
/// the input or follows a CRLF (DATA's own line ended with one).
fn model_end(input: &[u8]) -> Option<usize> {
    (0..input.len())
        .find(|&i| {
            (i == 0 || (i >= 2 && &input[i - 2..i] == b"\r\n")) && input[i..].starts_with(b".\r\n")
        })
        .map(|i| i + 3)
}

/// Feeds `input` whole, then returns the outcome and how many bytes the data took.
fn read_whole(
    input: &[u8],
    max_size: usize,
    max_line: usize,
) -> (Result<Vec<u8>, DataFault>, Option<usize>) {
    let mut reader = DataReader::new(max_size, max_line);
    let used = reader.feed(input);
    (reader.finish(), used)
}

/// Feeds `input` cut at `cuts` (positions, any order, repeats allowed), as reads arrive.
fn read_in_pieces(
    input: &[u8],
    cuts: &[usize],
    max_size: usize,
    max_line: usize,
) -> (Result<Vec<u8>, DataFault>, Option<usize>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut reader = DataReader::new(max_size, max_line);
    let mut from = 0;
    for cut in cuts {
        if let Some(n) = reader.feed(&input[from..cut]) {
            return (reader.finish(), Some(from + n));
        }
        from = cut;
    }
    (reader.finish(), None)
}

proptest! {
    #![proptest_config(config(1024))]

    /// Any body, stuffed and framed, comes back as it was sent (or is refused for a bare line
    /// end), and the data ends exactly where the client ended it: not at a dot line hidden
    /// behind a bare CR or LF.
    #[test]
    fn stuffed_bodies_come_back_and_end_where_the_client_ended_them(
        body in bytes(64),
        next in bytes(8),
    ) {
        let (message, mut input) = stuff_and_frame(&body);
        let end = input.len();
        input.extend_from_slice(&next);
        let (result, used) = read_whole(&input, 1 << 20, 1 << 20);
        prop_assert_eq!(used, Some(end));
        if has_bare_line_end(&message) {
            prop_assert_eq!(result, Err(DataFault::BareNewline));
        } else {
            prop_assert_eq!(result, Ok(message));
        }
    }

    /// For arbitrary bytes (not made by a client that stuffs), the end is the first `.CRLF`
    /// line after a CRLF, and nothing else.
    #[test]
    fn the_end_is_the_first_dot_line_after_crlf(input in bytes(80)) {
        let (_, used) = read_whole(&input, 1 << 20, 1 << 20);
        prop_assert_eq!(used, model_end(&input));
    }

    /// However the input is cut into reads, the outcome (the message, or the very fault it
    /// is refused for) and the end are those of one read.
    #[test]
    fn reads_cut_anywhere_give_the_same_outcome(
        input in bytes(80),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        max_size in 0usize..64,
        max_line in 2usize..24,
    ) {
        let whole = read_whole(&input, max_size, max_line);
        prop_assert_eq!(read_in_pieces(&input, &cuts, max_size, max_line), whole);
    }

    /// With one kind of fault possible at a time, the fault itself does not depend on the cuts.
    #[test]
    fn reads_cut_anywhere_give_the_same_fault_of_one_kind(
        input in bytes(80),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        limit in 0usize..64,
        kind in 0u8..3,
    ) {
        let (max_size, max_line) = match kind {
            0 => (1 << 20, 1 << 20),
            1 => (limit, 1 << 20),
            _ => (1 << 20, limit.max(3)),
        };
        let mut input = input;
        if kind != 0 {
            // Only the limit can be broken: every line end a CRLF.
            input.retain(|&b| b != b'\r' && b != b'\n');
            input = input.split(|&b| b == b'a').collect::<Vec<_>>().join(&b"\r\n"[..]);
        }
        let whole = read_whole(&input, max_size, max_line);
        prop_assert_eq!(read_in_pieces(&input, &cuts, max_size, max_line), whole);
    }

    /// The same for what a client sends: a stuffed body cut anywhere.
    #[test]
    fn stuffed_bodies_cut_anywhere_give_the_same_outcome(
        body in clean_body(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let (message, input) = stuff_and_frame(&body);
        let pieces = read_in_pieces(&input, &cuts, 1 << 20, 1 << 20);
        prop_assert_eq!(pieces, (Ok(message), Some(input.len())));
    }

    /// With limits, a clean body is refused for the first line (on the wire) over
    /// `max_line`, or for the first line that takes the message past `max_size`, whichever
    /// line comes first; a line's length is checked before its bytes are counted.
    #[test]
    fn limits_refuse_at_the_first_line_past_them(
        body in clean_body(),
        max_size in 0usize..48,
        max_line in 3usize..10,
    ) {
        let (message, input) = stuff_and_frame(&body);
        let mut expected = Ok(message.clone());
        let mut kept = 0;
        for line in message.split_inclusive(|&b| b == b'\n') {
            let wire_len = line.len() + usize::from(line.first() == Some(&b'.'));
            if wire_len > max_line {
                expected = Err(DataFault::LineTooLong);
                break;
            }
            kept += line.len();
            if kept > max_size {
                expected = Err(DataFault::TooLarge);
                break;
            }
        }
        prop_assert_eq!(read_whole(&input, max_size, max_line), (expected, Some(input.len())));
    }

    /// A command line is what comes before the first LF within the limit; more input never
    /// changes a decision already made.
    #[test]
    fn command_lines_are_decided_by_their_first_line_end(
        buf in bytes(40),
        more in bytes(8),
        max in 1usize..48,
    ) {
        let status = command_line(&buf, max);
        let window = &buf[..buf.len().min(max)];
        let expected = match window.iter().position(|&b| b == b'\n') {
            Some(lf) if lf > 0 && !buf[..lf - 1].contains(&b'\r') && buf[lf - 1] == b'\r' => {
                LineStatus::Line(lf + 1)
            }
            Some(lf) => LineStatus::BareNewline(lf + 1),
            None if buf.len() >= max => LineStatus::TooLong,
            None => LineStatus::NeedMore,
        };
        prop_assert_eq!(status, expected);
        if status != LineStatus::NeedMore {
            let mut longer = buf.clone();
            longer.extend_from_slice(&more);
            prop_assert_eq!(command_line(&longer, max), status);
        }
    }
}

// ---- regressions found by the properties above (fixed) ---------------------------------

/// The refusal must not depend on where TCP cut the stream (the module's promise): here a
/// bare LF in a message over the size limit. Read whole, the line `ab LF` is refused for its
/// bare LF before its bytes are counted; cut after `ab`, those two bytes are counted first
/// and the message is refused as too large. The client gets 552 or 550 by chance.
#[test]
fn bare_lf_past_the_size_limit_is_refused_the_same_however_it_is_cut() {
    let input = b"ab\nc\r\n.\r\n";
    let whole = read_whole(input, 1, 1000);
    assert_eq!(whole, (Err(DataFault::BareNewline), Some(input.len())));
    assert_eq!(read_in_pieces(input, &[2], 1, 1000), whole);
}

/// The same between a bare CR and an overlong line: whole, the bare CR is seen first; cut
/// just after the CR, the first piece is already longer than the line limit.
#[test]
fn bare_cr_in_an_overlong_line_is_refused_the_same_however_it_is_cut() {
    let input = b"abcd\rx\r\n.\r\n";
    let whole = read_whole(input, 1000, 4);
    assert_eq!(whole, (Err(DataFault::BareNewline), Some(input.len())));
    assert_eq!(read_in_pieces(input, &[5], 1000, 4), whole);
}

/// And between an overlong line and the size limit: whole, the line's length is checked
/// before its bytes are counted; cut inside the line, the first piece is counted first.
#[test]
fn overlong_line_past_the_size_limit_is_refused_the_same_however_it_is_cut() {
    let input = b"abcdef\r\n.\r\n";
    let whole = read_whole(input, 2, 4);
    assert_eq!(whole, (Err(DataFault::LineTooLong), Some(input.len())));
    assert_eq!(read_in_pieces(input, &[3], 2, 4), whole);
}
