//! The bytes written here against imap-codec's for the same answer, over the fixtures and
//! over generated structures with every kind of string IMAP must quote, escape or send as a
//! literal.

use std::num::NonZeroU32;

use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::{Atom, Vec1};
use imap_codec::imap_types::flag::{Flag, FlagFetch};
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::ResponseCodec;
use proptest::prelude::*;

use super::super::tests::{requested, stored, ALTERNATIVE, ATTACHMENT, NESTED};
use super::super::{message_items, FetchedMessage};
use super::*;
use crate::mailstore::shape::{Address, Envelope, MessageShape, Part};

/// imap-codec's bytes for the answer, or none when it has no item to give.
fn through_imap_codec(items: &[MessageDataItemName<'_>], m: &FetchedMessage<'_>) -> Vec<u8> {
    let data = message_items(items, m);
    match Vec1::try_from(data) {
        Ok(items) => ResponseCodec::new()
            .encode(&Response::Data(Data::Fetch {
                seq: NonZeroU32::new(7).expect("non-zero"),
                items,
            }))
            .dump(),
        Err(_) => Vec::new(),
    }
}

fn written(items: &[MessageDataItemName<'_>], m: &FetchedMessage<'_>) -> (bool, Vec<u8>) {
    let mut out = b"queued before".to_vec();
    let answered = write_fetch(&mut out, NonZeroU32::new(7).expect("non-zero"), items, m);
    (answered, out.split_off(b"queued before".len()))
}

/// What clients list mailboxes with (Thunderbird, mbsync, Apple Mail, the benchmark).
const LISTINGS: [&str; 5] = [
    "(FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE UID)",
    "(UID FLAGS BODY)",
    "(ENVELOPE MODSEQ)",
    "(UID RFC822.SIZE FLAGS)",
    "FLAGS",
];

#[test]
fn fixtures_are_written_as_imap_codec_writes_them() {
    let flags = [
        FlagFetch::Flag(Flag::Seen),
        FlagFetch::Recent,
        FlagFetch::Flag(Flag::Keyword(Atom::try_from("$Junk").expect("an atom"))),
    ];
    for raw in [ALTERNATIVE, ATTACHMENT, NESTED] {
        let shape = MessageShape::of(raw);
        let message = stored(raw);
        let m = FetchedMessage {
            message: &message,
            flags: &flags,
            shape: Some(&shape),
            body: None,
        };
        for listing in LISTINGS {
            let items = requested(listing);
            assert!(writes_all(&items), "{listing}");
            let (answered, bytes) = written(&items, &m);
            assert!(answered, "{listing}");
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&through_imap_codec(&items, &m)),
                "{listing}"
            );
        }
    }
}

#[test]
fn only_listing_items_are_written_here() {
    for other in [
        "(FLAGS INTERNALDATE)",
        "(UID BODY.PEEK[HEADER])",
        "(BODYSTRUCTURE RFC822.HEADER)",
        "(BINARY.SIZE[1])",
        "FAST",
        "ALL",
    ] {
        assert!(!writes_all(&requested(other)), "{other}");
    }
}

#[test]
fn without_a_structure_only_what_needs_none_is_answered() {
    let message = stored(ALTERNATIVE);
    let m = FetchedMessage {
        message: &message,
        flags: &[],
        shape: None,
        body: None,
    };
    let items = requested("(ENVELOPE BODYSTRUCTURE RFC822.SIZE)");
    let (answered, bytes) = written(&items, &m);
    assert!(answered);
    assert_eq!(bytes, b"* 7 FETCH (RFC822.SIZE 315)\r\n");
    let (answered, bytes) = written(&requested("(ENVELOPE BODY)"), &m);
    assert!(!answered);
    assert!(
        bytes.is_empty(),
        "nothing is queued for an answer with no item"
    );
}

// ---- generated structures ----

/// Strings with what quoting must escape (`"`, `\`), what only a literal carries (CR, LF,
/// 8-bit), what no string carries (NUL), and lower case for the upper-cased fields.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::range('a', 'z'),
            1 => Just('"'),
            1 => Just('\\'),
            1 => Just('\0'),
            1 => Just('\r'),
            1 => Just('\n'),
            1 => Just('ệ'),
            1 => Just(' '),
        ],
        0..8,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn address() -> impl Strategy<Value = Address> {
    (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(|(name, mailbox, host)| Address {
            name,
            mailbox,
            host,
        })
}

fn addresses() -> impl Strategy<Value = Vec<Address>> {
    proptest::collection::vec(address(), 0..3)
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
        ),
        (
            addresses(),
            addresses(),
            addresses(),
            addresses(),
            addresses(),
            addresses(),
        ),
    )
        .prop_map(
            |((date, subject, in_reply_to, message_id), (from, sender, reply_to, to, cc, bcc))| {
                Envelope {
                    date,
                    subject,
                    from,
                    sender,
                    reply_to,
                    to,
                    cc,
                    bcc,
                    in_reply_to,
                    message_id,
                }
            },
        )
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((text(), text()), 0..3)
}

fn media_type() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        Just(("text".to_owned(), "plain".to_owned())),
        Just(("message".to_owned(), "rfc822".to_owned())),
        Just(("application".to_owned(), "pdf".to_owned())),
        Just(("multipart".to_owned(), "mixed".to_owned())),
        (text(), text()),
    ]
}

/// A part with no children and no message inside: the leaves of the trees below.
fn leaf() -> impl Strategy<Value = Part> {
    (
        media_type(),
        params(),
        (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
        ),
        proptest::option::of((text(), params())),
        proptest::collection::vec(text(), 0..3),
        (0usize..5_000, 0u32..400),
    )
        .prop_map(
            |(
                (media_type, subtype),
                params,
                (id, description, encoding, md5, location),
                disposition,
                language,
                (size, lines),
            )| Part {
                media_type,
                subtype,
                params,
                id,
                description,
                encoding,
                md5,
                disposition,
                language,
                location,
                header: 0..0,
                body: 100..100 + size,
                lines,
                children: Vec::new(),
                message: None,
            },
        )
}

/// Parts two levels deep: multiparts of leaves, and message/rfc822 parts holding a message.
fn part() -> impl Strategy<Value = Part> {
    leaf().prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            (leaf(), proptest::collection::vec(inner.clone(), 1..4)).prop_map(
                |(mut multipart, children)| {
                    multipart.children = children;
                    multipart
                }
            ),
            (leaf(), envelope(), inner).prop_map(|(mut holder, envelope, root)| {
                holder.media_type = "message".into();
                holder.subtype = "rfc822".into();
                holder.message = Some(Box::new(MessageShape { envelope, root }));
                holder
            }),
        ]
    })
}

fn listing_items() -> impl Strategy<Value = Vec<MessageDataItemName<'static>>> {
    proptest::sample::subsequence(
        vec![
            MessageDataItemName::Flags,
            MessageDataItemName::Envelope,
            MessageDataItemName::Uid,
            MessageDataItemName::BodyStructure,
            MessageDataItemName::Rfc822Size,
            MessageDataItemName::Body,
            MessageDataItemName::ModSeq,
        ],
        1..=7,
    )
    .prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_structures_are_written_as_imap_codec_writes_them(
        envelope in envelope(),
        root in part(),
        items in listing_items(),
        size in 0u64..100_000,
        modseq in 0u64..3,
    ) {
        let shape = MessageShape { envelope, root };
        let message = crate::mailstore::MailboxMessage {
            size,
            modseq,
            ..stored(b"")
        };
        let flags = [FlagFetch::Flag(Flag::Answered), FlagFetch::Recent];
        let m = FetchedMessage {
            message: &message,
            flags: &flags,
            shape: Some(&shape),
            body: None,
        };
        let expected = through_imap_codec(&items, &m);
        let (answered, bytes) = written(&items, &m);
        prop_assert_eq!(answered, !expected.is_empty());
        prop_assert_eq!(
            String::from_utf8_lossy(&bytes),
            String::from_utf8_lossy(&expected)
        );
    }
}
