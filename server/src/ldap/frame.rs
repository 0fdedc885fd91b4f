//! Framing of LDAP messages on the wire: requests parsed by `ldap3_lber` behind a size cap
//! that is checked from the message's length header, before its body is buffered, so a
//! client announcing a huge request is turned away without the server allocating for it;
//! answers written by [`super::ber`].
//!
//! One rewrite happens between the BER and `ldap3_proto`'s message types: ldap3_proto keeps
//! filter assertion values as UTF-8 `String`s, which the DER of a certificate is not, so the
//! value of an equality or approximate match on an octet-string attribute (`userCertificate`,
//! `userPassword`) is carried as lowercase hex, and the filter compiler compares it as such.

use bytes::BytesMut;
use ldap3_lber::common::TagClass;
use ldap3_lber::parse::Parser;
use ldap3_lber::structure::{StructureTag, PL};
use ldap3_proto::proto::LdapMsg;
use tokio_util::codec::{Decoder, Encoder};

/// Why the stream cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("request of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("malformed BER")]
    Malformed,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// LDAP message framing with a changeable size cap.
pub struct LdapFrames {
    max_bytes: usize,
}

/// The deepest BER nesting accepted; the filter depth limit is enforced separately, after
/// decoding, with a protocol answer instead of a disconnect.
const MAX_BER_DEPTH: usize = 128;

impl std::fmt::Debug for LdapFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapFrames")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl LdapFrames {
    /// Framing that accepts messages up to `max_bytes` until [`LdapFrames::set_max_bytes`].
    pub fn new(max_bytes: usize) -> LdapFrames {
        LdapFrames { max_bytes }
    }

    /// Changes the cap (raised after a successful bind).
    pub fn set_max_bytes(&mut self, max_bytes: usize) {
        self.max_bytes = max_bytes;
    }
}

/// The total length of the BER element starting `buf` (header included), once enough of
/// the header has arrived; `Err` when it cannot start an LDAP message.
fn element_length(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let (Some(&tag), Some(&first)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    // An LDAPMessage is a universal constructed SEQUENCE.
    if tag != 0x30 {
        return Err(FrameError::Malformed);
    }
    if first < 0x80 {
        return Ok(Some(2 + usize::from(first)));
    }
    let octets = usize::from(first & 0x7f);
    // 0x80 is the indefinite form, which LDAP forbids; more than 4 octets is no request.
    if octets == 0 || octets > 4 {
        return Err(FrameError::Malformed);
    }
    let Some(length) = buf.get(2..2 + octets) else {
        return Ok(None);
    };
    let body = length
        .iter()
        .fold(0usize, |n, &b| (n << 8) | usize::from(b));
    Ok(Some(2 + octets + body))
}

impl Decoder for LdapFrames {
    type Item = LdapMsg;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<LdapMsg>, FrameError> {
        let Some(total) = element_length(buf)? else {
            return Ok(None);
        };
        if total > self.max_bytes {
            return Err(FrameError::TooLarge(total));
        }
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let element = buf.split_to(total);
        // The whole element is here, so "incomplete" means its insides lie.
        let tag = match Parser::new(MAX_BER_DEPTH).parse(&element) {
            Ok(([], tag)) => tag,
            _ => return Err(FrameError::Malformed),
        };
        LdapMsg::try_from(octet_assertions_as_hex(tag))
            .map(Some)
            .map_err(|_| FrameError::Malformed)
    }
}

/// RFC 4511 §4.5.1: `searchRequest` is `[APPLICATION 3]`, its filter the seventh element.
const SEARCH_REQUEST: u64 = 3;
const SEARCH_FILTER_INDEX: usize = 6;
/// Filter choices (RFC 4511 §4.5.1.7): and, or, not, equalityMatch, approxMatch.
const FILTER_AND: u64 = 0;
const FILTER_OR: u64 = 1;
const FILTER_NOT: u64 = 2;
const FILTER_EQUALITY: u64 = 3;
const FILTER_APPROX: u64 = 8;

/// `message` with the values of equality and approximate matches on octet-string attributes
/// hex-encoded (see the module header).
fn octet_assertions_as_hex(mut message: StructureTag) -> StructureTag {
    if let PL::C(parts) = &mut message.payload {
        if let Some(op) = parts.get_mut(1) {
            if op.class == TagClass::Application && op.id == SEARCH_REQUEST {
                if let PL::C(fields) = &mut op.payload {
                    if let Some(filter) = fields.get_mut(SEARCH_FILTER_INDEX) {
                        rewrite_filter(filter);
                    }
                }
            }
        }
    }
    message
}

fn rewrite_filter(filter: &mut StructureTag) {
    if filter.class != TagClass::Context {
        return;
    }
    let PL::C(parts) = &mut filter.payload else {
        return;
    };
    match filter.id {
        FILTER_AND | FILTER_OR | FILTER_NOT => parts.iter_mut().for_each(rewrite_filter),
        FILTER_EQUALITY | FILTER_APPROX => {
            if let [attribute, value] = parts.as_mut_slice() {
                let octets = match &attribute.payload {
                    PL::P(name) => std::str::from_utf8(name)
                        .ok()
                        .and_then(super::attributes::lookup)
                        .is_some_and(|kind| {
                            matches!(kind.matching, super::attributes::Matching::Octets)
                        }),
                    PL::C(_) => false,
                };
                if let (true, PL::P(bytes)) = (octets, &mut value.payload) {
                    *bytes = hex::encode(&bytes).into_bytes();
                }
            }
        }
        _ => {}
    }
}

impl Encoder<LdapMsg> for LdapFrames {
    type Error = FrameError;

    fn encode(&mut self, msg: LdapMsg, buf: &mut BytesMut) -> Result<(), FrameError> {
        super::ber::write_tag(buf, &StructureTag::from(msg));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_by_the_header_alone() {
        let mut frames = LdapFrames::new(1024);
        // A SEQUENCE announcing 1 MiB, with no body sent.
        let mut buf = BytesMut::from(&[0x30, 0x83, 0x10, 0x00, 0x00][..]);
        assert!(matches!(
            frames.decode(&mut buf),
            Err(FrameError::TooLarge(1_048_581))
        ));
        frames.set_max_bytes(2_000_000);
        let mut buf = BytesMut::from(&[0x30, 0x83, 0x10, 0x00, 0x00][..]);
        assert!(matches!(frames.decode(&mut buf), Ok(None)));
    }

    #[test]
    fn octet_string_assertions_are_carried_as_hex() {
        use ldap3_proto::proto::{
            LdapDerefAliases, LdapFilter, LdapOp, LdapSearchRequest, LdapSearchScope,
        };
        let filter = LdapFilter::And(vec![
            LdapFilter::Equality("userCertificate;binary".into(), "0\u{1}".into()),
            LdapFilter::Not(Box::new(LdapFilter::Approx(
                "USERPASSWORD".into(),
                "ab".into(),
            ))),
            LdapFilter::Equality("cn".into(), "An".into()),
        ]);
        let request = LdapMsg {
            msgid: 7,
            op: LdapOp::SearchRequest(LdapSearchRequest {
                base: "dc=vinhphuc,dc=gov,dc=vn".into(),
                scope: LdapSearchScope::Subtree,
                aliases: LdapDerefAliases::Never,
                sizelimit: 0,
                timelimit: 0,
                typesonly: false,
                filter,
                attrs: vec![],
            }),
            ctrl: vec![],
        };
        let mut frames = LdapFrames::new(4096);
        let mut buf = BytesMut::new();
        frames.encode(request, &mut buf).unwrap();
        let Some(LdapMsg {
            op: LdapOp::SearchRequest(decoded),
            ..
        }) = frames.decode(&mut buf).unwrap()
        else {
            panic!("not a search request");
        };
        assert!(buf.is_empty());
        assert_eq!(
            decoded.filter,
            LdapFilter::And(vec![
                LdapFilter::Equality("userCertificate;binary".into(), "3001".into()),
                LdapFilter::Not(Box::new(LdapFilter::Approx(
                    "USERPASSWORD".into(),
                    "6162".into()
                ))),
                LdapFilter::Equality("cn".into(), "An".into()),
            ])
        );
    }

    #[test]
    fn refuses_what_is_not_a_message() {
        let mut frames = LdapFrames::new(1024);
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        assert!(matches!(
            frames.decode(&mut buf),
            Err(FrameError::Malformed)
        ));
        let mut buf = BytesMut::from(&[0x30, 0x03, 0x02, 0x01, 0xff][..]);
        assert!(matches!(
            frames.decode(&mut buf),
            Err(FrameError::Malformed)
        ));
    }
}

#[cfg(test)]
mod proptests;
