use imap_codec::encode::Encoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::flag::Flag;
use imap_codec::CommandCodec;

use super::*;
use crate::mailstore::{BodyId, MailboxId, MessageFlags, Uid};

/// The item names of `A1 FETCH 1 <items>`, as a client sends them.
pub(super) fn requested(items: &str) -> Vec<MessageDataItemName<'static>> {
    let line = format!("A1 FETCH 1 {items}\r\n");
    let (_, command) = CommandCodec::new()
        .decode(line.as_bytes())
        .expect("a valid FETCH command");
    match command.body {
        CommandBody::Fetch {
            macro_or_item_names,
            ..
        } => item_names(macro_or_item_names),
        other => panic!("not a FETCH: {other:?}"),
    }
}

pub(super) fn stored(raw: &[u8]) -> MailboxMessage {
    MailboxMessage {
        mailbox_id: MailboxId(1),
        uid: Uid(4827313),
        body_id: BodyId(9),
        flags: MessageFlags::SEEN,
        keywords: Vec::new(),
        // 17 Jul 1996 02:44:25 UTC.
        internal_date: UnixTime(837_571_465),
        size: raw.len() as u64,
        modseq: 3,
    }
}

/// The encoded untagged FETCH response answering `items` for `raw`, with its shape given or
/// worked out here.
fn answer_bytes(items: &str, raw: &[u8], shape: Option<&MessageShape>, body: bool) -> Vec<u8> {
    let message = stored(raw);
    let flags = [FlagFetch::Flag(Flag::Seen)];
    let fetched = FetchedMessage {
        message: &message,
        flags: &flags,
        shape,
        body: body.then_some(raw),
    };
    let data = message_items(&requested(items), &fetched);
    let response = Response::Data(Data::Fetch {
        seq: NonZeroU32::MIN,
        items: Vec1::try_from(data).expect("at least one item"),
    });
    ResponseCodec::new().encode(&response).dump()
}

fn answer(items: &str, raw: &[u8], shape: Option<&MessageShape>, body: bool) -> String {
    String::from_utf8(answer_bytes(items, raw, shape, body)).expect("a UTF-8 response")
}

/// The response with the shape worked out at delivery and the bytes loaded.
fn fetch(items: &str, raw: &[u8]) -> String {
    String::from_utf8(fetch_bytes(items, raw)).expect("a UTF-8 response")
}

fn fetch_bytes(items: &str, raw: &[u8]) -> Vec<u8> {
    let shape = MessageShape::of(raw);
    answer_bytes(items, raw, Some(&shape), true)
}

pub(super) const ALTERNATIVE: &[u8] = b"From: Fred Foobar <foobar@Blurdybloop.example>\r\n\
Subject: afternoon meeting\r\n\
Content-Type: multipart/alternative; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=US-ASCII\r\n\
\r\n\
Hello Joe\r\n\
--b1\r\n\
Content-Type: text/html; charset=US-ASCII\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
<p>Hello Joe</p>\r\n\
--b1--\r\n";

#[test]
fn fast_macro_gives_flags_date_and_size() {
    assert_eq!(
        fetch("FAST", ALTERNATIVE),
        format!(
            "* 1 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 09:44:25 +0700\" \
             RFC822.SIZE {})\r\n",
            ALTERNATIVE.len()
        )
    );
    assert_eq!(
        requested("FULL"),
        vec![
            MessageDataItemName::Flags,
            MessageDataItemName::InternalDate,
            MessageDataItemName::Rfc822Size,
            MessageDataItemName::Envelope,
            MessageDataItemName::Body,
        ]
    );
}

#[test]
fn internal_date_is_in_vietnam_time() {
    // 31 Dec 2023 20:00 UTC is already New Year's Day in Hanoi.
    let date = internal_date(UnixTime(1_704_052_800)).expect("in range");
    let response = Response::Data(Data::Fetch {
        seq: NonZeroU32::MIN,
        items: Vec1::from(MessageDataItem::InternalDate(date)),
    });
    assert_eq!(
        ResponseCodec::new().encode(&response).dump(),
        b"* 1 FETCH (INTERNALDATE \"01-Jan-2024 03:00:00 +0700\")\r\n"
    );
}

#[test]
fn bodystructure_of_multipart_alternative() {
    assert_eq!(
        fetch("(UID BODYSTRUCTURE)", ALTERNATIVE),
        "* 1 FETCH (UID 4827313 BODYSTRUCTURE (\
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL)\
         (\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"QUOTED-PRINTABLE\" 16 1 \
         NIL NIL NIL NIL) \
         \"ALTERNATIVE\" (\"BOUNDARY\" \"b1\") NIL NIL NIL))\r\n"
    );
    // BODY is the same without extension data, as in RFC 3501 §7.4.2's example.
    assert_eq!(
        fetch("BODY", ALTERNATIVE),
        "* 1 FETCH (BODY (\
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 1)\
         (\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"QUOTED-PRINTABLE\" 16 1) \
         \"ALTERNATIVE\"))\r\n"
    );
}

pub(super) const ATTACHMENT: &[u8] = b"From: an@hanoi.gov.vn\r\n\
Subject: =?utf-8?q?B=C3=A1o_c=C3=A1o?=\r\n\
Content-Type: multipart/mixed; boundary=outer\r\n\
\r\n\
--outer\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
S8OtbmggZ+G7rWk=\r\n\
--outer\r\n\
Content-Type: application/pdf; name*=utf-8''B%C3%A1o.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=report.pdf\r\n\
Content-ID: <att1@hanoi.gov.vn>\r\n\
Content-Language: vi\r\n\
\r\n\
JVBERgA=\r\n\
--outer--\r\n";

#[test]
fn bodystructure_with_attachment_extension_data() {
    assert_eq!(
        fetch("BODYSTRUCTURE", ATTACHMENT),
        "* 1 FETCH (BODYSTRUCTURE (\
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"BASE64\" 16 1 NIL NIL NIL NIL)\
         (\"APPLICATION\" \"PDF\" (\"NAME*\" \"utf-8''B%C3%A1o.pdf\") \"<att1@hanoi.gov.vn>\" NIL \
         \"BASE64\" 8 NIL (\"ATTACHMENT\" (\"FILENAME\" \"report.pdf\")) (\"vi\") NIL) \
         \"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL))\r\n"
    );
}

pub(super) const NESTED: &[u8] = b"From: an@hanoi.gov.vn\r\n\
Subject: Fwd: plan\r\n\
Content-Type: multipart/mixed; boundary=\"A\"\r\n\
\r\n\
--A\r\n\
Content-Type: text/plain\r\n\
\r\n\
See below.\r\n\
--A\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: Binh <binh@hue.gov.vn>\r\n\
Subject: plan\r\n\
\r\n\
The plan.\r\n\
--A--\r\n";

#[test]
fn bodystructure_of_a_forwarded_message() {
    assert_eq!(
        fetch("BODY", NESTED),
        "* 1 FETCH (BODY (\
         (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 1)\
         (\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 56 \
         (NIL \"plan\" ((\"Binh\" NIL \"binh\" \"hue.gov.vn\")) ((\"Binh\" NIL \"binh\" \"hue.gov.vn\")) \
         ((\"Binh\" NIL \"binh\" \"hue.gov.vn\")) NIL NIL NIL NIL NIL) \
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 9 1) 4) \
         \"MIXED\"))\r\n"
    );
}

#[test]
fn envelope_defaults_sender_and_reply_to_to_from() {
    let raw = "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
From: =?utf-8?b?VHLhuqduIFRo4buL?= <thi@hue.gov.vn>\r\n\
Reply-To: office@hue.gov.vn\r\n\
To: Board: an@hanoi.gov.vn;\r\n\
Subject: Họp giao ban\r\n\
Message-ID: <m1@hue.gov.vn>\r\n\
\r\n\
body\r\n";
    let expected = "* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \
         {14}\r\nHọp giao ban \
         ((\"=?utf-8?b?VHLhuqduIFRo4buL?=\" NIL \"thi\" \"hue.gov.vn\")) \
         ((\"=?utf-8?b?VHLhuqduIFRo4buL?=\" NIL \"thi\" \"hue.gov.vn\")) \
         ((NIL NIL \"office\" \"hue.gov.vn\")) \
         ((NIL NIL \"Board\" NIL)(NIL NIL \"an\" \"hanoi.gov.vn\")(NIL NIL NIL NIL)) \
         NIL NIL NIL \"<m1@hue.gov.vn>\"))\r\n";
    assert_eq!(fetch("ENVELOPE", raw.as_bytes()), expected);
}

#[test]
fn body_sections() {
    assert_eq!(
        fetch("BODY[1.MIME]", ALTERNATIVE),
        "* 1 FETCH (BODY[1.MIME] {46}\r\nContent-Type: text/plain; charset=US-ASCII\r\n\r\n)\r\n"
    );
    assert_eq!(
        fetch("BODY.PEEK[HEADER.FIELDS (SUBJECT)]", ALTERNATIVE),
        "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {30}\r\nSubject: afternoon meeting\r\n\r\n)\r\n"
    );
    assert_eq!(
        fetch(
            "BODY.PEEK[HEADER.FIELDS.NOT (from content-type)]",
            ALTERNATIVE
        ),
        "* 1 FETCH (BODY[HEADER.FIELDS.NOT (from content-type)] {30}\r\n\
         Subject: afternoon meeting\r\n\r\n)\r\n"
    );
    assert_eq!(
        fetch("BODY[2]", ALTERNATIVE),
        "* 1 FETCH (BODY[2] {16}\r\n<p>Hello Joe</p>)\r\n"
    );
    assert_eq!(
        fetch("BODY[3]", ALTERNATIVE),
        "* 1 FETCH (BODY[3] \"\")\r\n"
    );
    assert_eq!(
        fetch("BODY[1.1]", ALTERNATIVE),
        "* 1 FETCH (BODY[1.1] \"\")\r\n"
    );
}

#[test]
fn partial_body_fetches() {
    assert_eq!(
        fetch("BODY.PEEK[]<0.10>", ALTERNATIVE),
        "* 1 FETCH (BODY[]<0> {10}\r\nFrom: Fred)\r\n"
    );
    assert_eq!(
        fetch("BODY[2]<4.100>", ALTERNATIVE),
        "* 1 FETCH (BODY[2]<4> {12}\r\nello Joe</p>)\r\n"
    );
    assert_eq!(
        fetch("BODY[]<100000.10>", ALTERNATIVE),
        "* 1 FETCH (BODY[]<100000> \"\")\r\n"
    );
    // A partial of a header subset is taken after subsetting (RFC 3501 §6.4.5).
    assert_eq!(
        fetch("BODY[HEADER.FIELDS (Subject)]<9.9>", ALTERNATIVE),
        "* 1 FETCH (BODY[HEADER.FIELDS (Subject)]<9> {9}\r\nafternoon)\r\n"
    );
}

#[test]
fn sections_inside_a_forwarded_message() {
    assert_eq!(
        fetch("BODY[2.HEADER]", NESTED),
        "* 1 FETCH (BODY[2.HEADER] {47}\r\nFrom: Binh <binh@hue.gov.vn>\r\nSubject: plan\r\n\r\n)\r\n"
    );
    assert_eq!(
        fetch("BODY[2.HEADER.FIELDS (SUBJECT)]", NESTED),
        "* 1 FETCH (BODY[2.HEADER.FIELDS (SUBJECT)] {17}\r\nSubject: plan\r\n\r\n)\r\n"
    );
    assert_eq!(
        fetch("BODY[2.TEXT]", NESTED),
        "* 1 FETCH (BODY[2.TEXT] {9}\r\nThe plan.)\r\n"
    );
    assert_eq!(
        fetch("BODY[2.1]", NESTED),
        "* 1 FETCH (BODY[2.1] {9}\r\nThe plan.)\r\n"
    );
    assert_eq!(
        fetch("BODY[2.MIME]", NESTED),
        "* 1 FETCH (BODY[2.MIME] {32}\r\nContent-Type: message/rfc822\r\n\r\n)\r\n"
    );
    // HEADER of a part that carries no message names nothing.
    assert_eq!(
        fetch("BODY[1.HEADER]", NESTED),
        "* 1 FETCH (BODY[1.HEADER] \"\")\r\n"
    );
}

#[test]
fn rfc822_items() {
    let raw = b"Subject: x\r\n\r\nhi\r\n";
    assert_eq!(
        fetch("(RFC822.HEADER RFC822.TEXT RFC822)", raw),
        "* 1 FETCH (RFC822.HEADER {14}\r\nSubject: x\r\n\r\n RFC822.TEXT {4}\r\nhi\r\n \
         RFC822 {18}\r\nSubject: x\r\n\r\nhi\r\n)\r\n"
    );
}

#[test]
fn message_data_counts_only_the_message_strings() {
    let raw = b"Subject: x\r\n\r\nhi\r\n";
    let shape = MessageShape::of(raw);
    let message = stored(raw);
    let flags = [FlagFetch::Flag(Flag::Seen)];
    let fetched = FetchedMessage {
        message: &message,
        flags: &flags,
        shape: Some(&shape),
        body: Some(raw),
    };
    let items = "(FLAGS UID RFC822.SIZE ENVELOPE RFC822.HEADER BODY.PEEK[]<0.5> BINARY.PEEK[1])";
    let data = message_items(&requested(items), &fetched);
    // 14 octets of header, 5 of the partial body, 4 of part 1; flags and sizes are not data.
    assert_eq!(message_data_bytes(&data), 14 + 5 + 4);
    let without_body = FetchedMessage {
        body: None,
        ..fetched
    };
    let data = message_items(&requested("(BODY[] RFC822)"), &without_body);
    assert_eq!(message_data_bytes(&data), 0, "NIL carries nothing");
}

#[test]
fn without_a_stored_shape_sections_are_still_answered() {
    assert_eq!(
        answer("BODY.PEEK[1.MIME]", ALTERNATIVE, None, true),
        "* 1 FETCH (BODY[1.MIME] {46}\r\nContent-Type: text/plain; charset=US-ASCII\r\n\r\n)\r\n"
    );
    assert_eq!(
        answer("(UID BODY[] ENVELOPE)", ALTERNATIVE, None, false),
        "* 1 FETCH (UID 4827313 BODY[] NIL)\r\n"
    );
}

#[test]
fn nul_octets_are_replaced_in_body_strings() {
    let raw = b"Subject: x\r\n\r\na\0b\r\n";
    assert_eq!(
        fetch_bytes("BODY[TEXT]", raw),
        b"* 1 FETCH (BODY[TEXT] {5}\r\na\x80b\r\n)\r\n".to_vec()
    );
}

#[test]
fn binary_undoes_transfer_encodings() {
    assert_eq!(
        fetch("(BINARY.PEEK[1] BINARY.SIZE[1])", ATTACHMENT),
        "* 1 FETCH (BINARY[1] {11}\r\nKính gửi BINARY.SIZE[1] 11)\r\n"
    );
    // The PDF's decoded bytes hold a NUL, so they go as literal8 (RFC 3516 §4.2).
    assert_eq!(
        fetch_bytes("BINARY[2]", ATTACHMENT),
        b"* 1 FETCH (BINARY[2] ~{5}\r\n%PDF\0)\r\n".to_vec()
    );
    assert_eq!(
        fetch("BINARY[2]", ALTERNATIVE),
        "* 1 FETCH (BINARY[2] {16}\r\n<p>Hello Joe</p>)\r\n"
    );
    assert_eq!(
        fetch("BINARY.SIZE[7]", ATTACHMENT),
        "* 1 FETCH (BINARY.SIZE[7] 0)\r\n"
    );
}

#[test]
fn what_items_need_and_whether_they_mark_seen() {
    let needs_of = |items: &str| needs(&requested(items));
    assert_eq!(needs_of("FAST"), Needs::default());
    assert_eq!(needs_of("(UID FLAGS)"), Needs::default());
    assert_eq!(
        needs_of("ENVELOPE"),
        Needs {
            shape: true,
            body: false
        }
    );
    assert_eq!(
        needs_of("BODY.PEEK[]"),
        Needs {
            shape: false,
            body: true
        }
    );
    assert_eq!(
        needs_of("BODY.PEEK[HEADER]"),
        Needs {
            shape: true,
            body: true
        }
    );
    assert_eq!(
        needs_of("RFC822.HEADER"),
        Needs {
            shape: true,
            body: true
        }
    );

    let seen = |items: &str| marks_seen(&requested(items));
    assert!(seen("BODY[]"));
    assert!(seen("(UID BODY[TEXT])"));
    assert!(seen("RFC822"));
    assert!(seen("RFC822.TEXT"));
    assert!(seen("BINARY[1]"));
    assert!(!seen("BODY.PEEK[]"));
    assert!(!seen("RFC822.HEADER"));
    assert!(!seen("BINARY.PEEK[1]"));
    assert!(!seen("ALL"));
}
