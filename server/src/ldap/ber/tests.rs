//! The bytes written here against the bytes ldap3_lber writes for the same message, for
//! entries and messages of every size around the length forms' edges.

use ldap3_proto::proto::{
    LdapMsg, LdapOp, LdapPartialAttribute, LdapResult, LdapResultCode, LdapSearchResultEntry,
};
use ldap3_proto::LdapCodec;
use proptest::prelude::*;
use tokio_util::codec::Encoder;

use super::*;

fn by_ldap3(msg: LdapMsg) -> Vec<u8> {
    let mut buf = BytesMut::new();
    LdapCodec::default()
        .encode(msg, &mut buf)
        .expect("ldap3_proto encodes");
    buf.to_vec()
}

fn entry_msg(msgid: i32, dn: &str, attributes: &[(String, Vec<Vec<u8>>)]) -> LdapMsg {
    LdapMsg {
        msgid,
        op: LdapOp::SearchResultEntry(LdapSearchResultEntry {
            dn: dn.to_string(),
            attributes: attributes
                .iter()
                .map(|(name, vals)| LdapPartialAttribute {
                    atype: name.clone(),
                    vals: vals.clone(),
                })
                .collect(),
        }),
        ctrl: Vec::new(),
    }
}

fn by_us(msgid: i32, dn: &str, attributes: &[(String, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let sent = attributes
        .iter()
        .map(|(name, vals)| (name.as_str(), vals.iter().map(Vec::as_slice)));
    write_search_entry(&mut buf, msgid, dn, sent);
    buf.to_vec()
}

/// Message ids at the edges of INTEGER's octet counts and sign octet.
const EDGE_IDS: [i32; 9] = [0, 1, 127, 128, 255, 256, 32_767, 65_536, i32::MAX];

fn id() -> impl Strategy<Value = i32> {
    prop_oneof![proptest::sample::select(EDGE_IDS.to_vec()), 0..i32::MAX]
}

/// Values whose lengths cross the short form (127/128) and one- and two-octet long forms.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..4),
        proptest::collection::vec(any::<u8>(), 120..136),
        proptest::collection::vec(any::<u8>(), 250..260),
        proptest::collection::vec(any::<u8>(), 65_530..65_540),
    ]
}

fn attributes() -> impl Strategy<Value = Vec<(String, Vec<Vec<u8>>)>> {
    let attribute = ("[a-zA-Z;-]{1,20}", proptest::collection::vec(value(), 0..4));
    proptest::collection::vec(attribute, 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn entries_are_written_as_ldap3_writes_them(
        msgid in id(),
        dn in "[a-z=,]{0,40}|[a-z]{200,300}",
        attributes in attributes(),
    ) {
        prop_assert_eq!(
            by_us(msgid, &dn, &attributes),
            by_ldap3(entry_msg(msgid, &dn, &attributes))
        );
    }

    #[test]
    fn any_message_is_written_as_ldap3_writes_it(
        msgid in id(),
        code in 0usize..4,
        matched in "[a-z=,]{0,20}",
        message in "[ -~]{0,10}|[ -~]{125,131}|[ -~]{300,70000}",
    ) {
        let code = [
            LdapResultCode::Success,
            LdapResultCode::NoSuchObject,
            LdapResultCode::SizeLimitExceeded,
            LdapResultCode::Other,
        ][code].clone();
        let done = LdapMsg {
            msgid,
            op: LdapOp::SearchResultDone(LdapResult {
                code,
                matcheddn: matched,
                message,
                referral: Vec::new(),
            }),
            ctrl: Vec::new(),
        };
        let mut buf = BytesMut::new();
        write_tag(&mut buf, &StructureTag::from(done.clone()));
        prop_assert_eq!(buf.to_vec(), by_ldap3(done));
    }
}

#[test]
fn tags_past_thirty_take_the_long_identifier_form() {
    for id in [30u64, 31, 127, 128, 16_383, 16_384, 1 << 40] {
        let tag = StructureTag {
            class: TagClass::Context,
            id,
            payload: PL::P(vec![1, 2, 3]),
        };
        let mut ours = BytesMut::new();
        write_tag(&mut ours, &tag);
        let mut theirs = BytesMut::new();
        ldap3_lber::write::encode_into(&mut theirs, tag).expect("encodes");
        assert_eq!(ours, theirs, "tag {id}");
    }
}

#[test]
fn types_only_entries_carry_empty_sets() {
    let attributes = vec![
        ("cn".to_string(), Vec::new()),
        ("mail".to_string(), Vec::new()),
    ];
    let ours = by_us(7, "uid=an,ou=people,dc=vinhphuc,dc=gov,dc=vn", &attributes);
    assert_eq!(
        ours,
        by_ldap3(entry_msg(
            7,
            "uid=an,ou=people,dc=vinhphuc,dc=gov,dc=vn",
            &attributes
        ))
    );
    // ... SEQUENCE { OCTET STRING "cn", SET {} } ...
    let cn = [0x30, 0x06, 0x04, 0x02, b'c', b'n', 0x31, 0x00];
    assert!(ours.windows(cn.len()).any(|w| w == cn));
}
