//! Framing of LDAP messages on the wire: `ldap3_proto`'s BER codec behind a size cap that is
//! checked from the message's length header, before its body is buffered, so a client
//! announcing a huge request is turned away without the server allocating for it.

use bytes::BytesMut;
use ldap3_proto::proto::LdapMsg;
use ldap3_proto::LdapCodec;
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
    /// The codec's own cap is the largest this connection may ever allow; ours is tighter
    /// until the client binds.
    inner: LdapCodec,
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
    /// Framing that accepts messages up to `max_bytes` now and up to `ceiling` after
    /// [`LdapFrames::set_max_bytes`].
    pub fn new(max_bytes: usize, ceiling: usize) -> LdapFrames {
        LdapFrames {
            max_bytes,
            inner: LdapCodec::new(Some(ceiling.max(max_bytes)), Some(MAX_BER_DEPTH)),
        }
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
        match self.inner.decode(buf) {
            Ok(Some(msg)) => Ok(Some(msg)),
            // The whole element is here, so "incomplete" means its insides lie.
            Ok(None) | Err(_) => Err(FrameError::Malformed),
        }
    }
}

impl Encoder<LdapMsg> for LdapFrames {
    type Error = FrameError;

    fn encode(&mut self, msg: LdapMsg, buf: &mut BytesMut) -> Result<(), FrameError> {
        Ok(self.inner.encode(msg, buf)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_by_the_header_alone() {
        let mut frames = LdapFrames::new(1024, 4096);
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
    fn refuses_what_is_not_a_message() {
        let mut frames = LdapFrames::new(1024, 4096);
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
