//! LDAP clients for the end-to-end tests: `ldap3` connections to a test server over
//! StartTLS, LDAPS or plain LDAP, search entries with every value as bytes, and a raw client
//! that writes BER messages itself, for what a well-behaved client library will not send
//! (oversized, malformed or pipelined requests) and for reading exactly what comes back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use ldap3::asn1::{
    parse_tag, write, ASNTag, Boolean, Enumerated, Integer, Null, OctetString, Sequence,
    StructureTag, Tag, TagClass, PL,
};
use ldap3::exop::Exop;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope, SearchEntry};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// RFC 4511 §4.4.1: the responseName of a Notice of Disconnection.
pub const NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";
/// RFC 4511 §4.14.1: StartTLS.
pub const START_TLS: &str = "1.3.6.1.4.1.1466.20037";
/// RFC 4532: Who am I?
pub const WHO_AM_I: &str = "1.3.6.1.4.1.4203.1.11.3";
/// RFC 3062: Password Modify.
pub const PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";
/// RFC 2696: Simple Paged Results.
pub const PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";

/// Longest a raw read waits for the server before the test fails.
const ANSWER_DEADLINE: Duration = Duration::from_secs(15);

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The LDAP port, upgraded with StartTLS before the first operation.
    StartTls,
    /// The LDAPS port: TLS from the first byte.
    Ldaps,
    /// The LDAP port without TLS.
    Plain,
}

/// An `ldap3` handle on `addr` over `transport`. The server's self-signed certificate is
/// accepted without verification.
pub async fn connect(addr: SocketAddr, transport: Transport) -> Ldap {
    try_connect(addr, transport)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {addr} over {transport:?}: {e}"))
}

/// Like [`connect`], returning the error instead of failing the test.
pub async fn try_connect(addr: SocketAddr, transport: Transport) -> Result<Ldap, LdapError> {
    let settings = LdapConnSettings::new()
        .set_conn_timeout(Duration::from_secs(10))
        .set_no_tls_verify(true)
        .set_starttls(transport == Transport::StartTls);
    let scheme = match transport {
        Transport::Ldaps => "ldaps",
        Transport::StartTls | Transport::Plain => "ldap",
    };
    let (conn, ldap) =
        LdapConnAsync::with_settings(settings, &format!("{scheme}://{addr}")).await?;
    tokio::spawn(async move {
        let _ = conn.drive().await;
    });
    Ok(ldap)
}

/// The LDAP result of an operation the server answered with an error code. Fails the test
/// when the operation succeeded, or failed below LDAP (I/O, decoding, timeout).
#[track_caller]
pub fn refusal<T: Debug>(outcome: Result<T, LdapError>) -> LdapResult {
    match outcome {
        Err(LdapError::LdapResult { result }) => result,
        other => panic!("expected an LDAP result with an error code, got {other:?}"),
    }
}

/// A simple bind, answered with any result code. Fails the test only when no answer came.
pub async fn bind(ldap: &mut Ldap, dn: &str, password: &str) -> LdapResult {
    ldap.simple_bind(dn, password)
        .await
        .unwrap_or_else(|e| panic!("bind as {dn:?} got no answer: {e}"))
}

/// The authorization identity of the connection (RFC 4532), "" when anonymous.
pub async fn who_am_i(ldap: &mut Ldap) -> String {
    let (exop, _) = ldap
        .extended(ldap3::exop::WhoAmI)
        .await
        .unwrap()
        .success()
        .unwrap();
    String::from_utf8(exop.val.unwrap_or_default()).unwrap()
}

/// An extended operation by OID with an optional value, answered with any result code.
pub async fn extended(ldap: &mut Ldap, oid: &str, value: Option<Vec<u8>>) -> LdapResult {
    ldap.extended(Exop {
        name: Some(oid.to_string()),
        val: value,
    })
    .await
    .unwrap()
    .1
}

/// A search result entry with every value as bytes, keyed by the attribute description
/// the server sent, lowercased (`usercertificate;binary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    pub attrs: BTreeMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    fn from_search(entry: SearchEntry) -> Entry {
        let mut attrs: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for (name, values) in entry.attrs {
            attrs
                .entry(name.to_lowercase())
                .or_default()
                .extend(values.into_iter().map(String::into_bytes));
        }
        for (name, values) in entry.bin_attrs {
            attrs.entry(name.to_lowercase()).or_default().extend(values);
        }
        Entry {
            dn: entry.dn,
            attrs,
        }
    }

    /// Whether the entry carries `attr` (with or without values).
    pub fn has(&self, attr: &str) -> bool {
        self.attrs.contains_key(&attr.to_lowercase())
    }

    /// The raw values of `attr`; empty when absent.
    pub fn bytes(&self, attr: &str) -> Vec<Vec<u8>> {
        self.attrs
            .get(&attr.to_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// The values of `attr` as text; empty when absent. Fails on values that are not UTF-8.
    #[track_caller]
    pub fn values(&self, attr: &str) -> Vec<String> {
        self.bytes(attr)
            .into_iter()
            .map(|v| {
                String::from_utf8(v)
                    .unwrap_or_else(|e| panic!("{attr} of {} is not UTF-8: {e}", self.dn))
            })
            .collect()
    }

    /// The values of `attr`, lowercased and as a set: for DNs and case-insensitive values.
    pub fn folded(&self, attr: &str) -> BTreeSet<String> {
        self.values(attr).iter().map(|v| v.to_lowercase()).collect()
    }

    /// The one value of `attr`; fails unless there is exactly one.
    #[track_caller]
    pub fn single(&self, attr: &str) -> String {
        let values = self.values(attr);
        assert_eq!(values.len(), 1, "{attr} of {}: {values:?}", self.dn);
        values.into_iter().next().unwrap_or_default()
    }

    /// The attribute descriptions the entry carries, lowercased.
    pub fn names(&self) -> BTreeSet<String> {
        self.attrs.keys().cloned().collect()
    }
}

/// A search answered with any result code: the entries received and the final result.
/// Fails the test only when the filter does not parse or no answer came.
pub async fn search(
    ldap: &mut Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: &[&str],
) -> (Vec<Entry>, LdapResult) {
    let result = ldap
        .search(base, scope, filter, attrs.to_vec())
        .await
        .unwrap_or_else(|e| panic!("search {base:?} {filter:?} got no answer: {e}"));
    let entries = result
        .0
        .into_iter()
        .map(|e| Entry::from_search(SearchEntry::construct(e)))
        .collect();
    (entries, result.1)
}

/// The DNs of `entries`, lowercased, as a set.
pub fn dns(entries: &[Entry]) -> BTreeSet<String> {
    entries.iter().map(|e| e.dn.to_lowercase()).collect()
}

/// One LDAP message as received on a raw connection.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: i64,
    /// The protocolOp; its `id` is the APPLICATION tag (1 BindResponse, 4 SearchResultEntry,
    /// 5 SearchResultDone, 24 ExtendedResponse…).
    pub op: StructureTag,
}

impl Message {
    fn from_tag(tag: StructureTag) -> Message {
        let mut parts = tag
            .expect_constructed()
            .expect("an LDAPMessage is a SEQUENCE")
            .into_iter();
        let id_bytes = parts
            .next()
            .and_then(StructureTag::expect_primitive)
            .expect("an LDAPMessage starts with its messageID");
        let id = id_bytes.iter().fold(0i64, |n, b| (n << 8) | i64::from(*b));
        let op = parts.next().expect("an LDAPMessage carries a protocolOp");
        Message { id, op }
    }

    fn components(&self) -> &[StructureTag] {
        match &self.op.payload {
            PL::C(parts) => parts,
            PL::P(_) => &[],
        }
    }

    /// The resultCode of a response shaped as LDAPResult; `None` for other messages.
    pub fn result_code(&self) -> Option<u32> {
        let first = self.components().first()?;
        match (&first.class, first.id, &first.payload) {
            (TagClass::Universal, 10, PL::P(bytes)) => {
                Some(bytes.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)))
            }
            _ => None,
        }
    }

    /// The diagnosticMessage of an LDAPResult.
    pub fn diagnostic(&self) -> Option<String> {
        match &self.components().get(2)?.payload {
            PL::P(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            PL::C(_) => None,
        }
    }

    /// The responseName of an ExtendedResponse.
    pub fn response_name(&self) -> Option<String> {
        self.components()
            .iter()
            .find_map(|c| match (&c.class, c.id, &c.payload) {
                (TagClass::Context, 10, PL::P(bytes)) => {
                    Some(String::from_utf8_lossy(bytes).into_owned())
                }
                _ => None,
            })
    }

    /// The responseValue of an ExtendedResponse.
    pub fn response_value(&self) -> Option<Vec<u8>> {
        self.components()
            .iter()
            .find_map(|c| match (&c.class, c.id, &c.payload) {
                (TagClass::Context, 11, PL::P(bytes)) => Some(bytes.clone()),
                _ => None,
            })
    }

    /// RFC 4511 §4.4.1: an unsolicited ExtendedResponse with messageID 0 and the notice OID.
    pub fn is_notice_of_disconnection(&self) -> bool {
        self.id == 0
            && self.op.class == TagClass::Application
            && self.op.id == 24
            && self.response_name().as_deref() == Some(NOTICE_OF_DISCONNECTION)
    }
}

/// Encodes one LDAPMessage.
pub fn encode_message(id: i32, op: Tag) -> Vec<u8> {
    let message = Tag::Sequence(Sequence {
        inner: vec![
            Tag::Integer(Integer {
                inner: i64::from(id),
                ..Default::default()
            }),
            op,
        ],
        ..Default::default()
    });
    let mut buf = BytesMut::new();
    write::encode_into(&mut buf, message.into_structure()).unwrap();
    buf.to_vec()
}

fn octets(value: &[u8]) -> Tag {
    Tag::OctetString(OctetString {
        inner: value.to_vec(),
        ..Default::default()
    })
}

/// A simple BindRequest (LDAPv3).
pub fn bind_request(dn: &str, password: &str) -> Tag {
    bind_request_version(3, dn, password)
}

/// A simple BindRequest claiming protocol `version`.
pub fn bind_request_version(version: i64, dn: &str, password: &str) -> Tag {
    Tag::Sequence(Sequence {
        id: 0,
        class: TagClass::Application,
        inner: vec![
            Tag::Integer(Integer {
                inner: version,
                ..Default::default()
            }),
            octets(dn.as_bytes()),
            Tag::OctetString(OctetString {
                id: 0,
                class: TagClass::Context,
                inner: password.as_bytes().to_vec(),
            }),
        ],
    })
}

/// A SearchRequest without size or time limit. `filter` is in RFC 4515 text form.
pub fn search_request(base: &str, scope: Scope, filter: &str, attrs: &[&str]) -> Tag {
    let filter = ldap3::parse_filter(filter)
        .unwrap_or_else(|()| panic!("{filter:?} is not an RFC 4515 filter"));
    Tag::Sequence(Sequence {
        id: 3,
        class: TagClass::Application,
        inner: vec![
            octets(base.as_bytes()),
            Tag::Enumerated(Enumerated {
                inner: scope as i64,
                ..Default::default()
            }),
            Tag::Enumerated(Enumerated {
                inner: 0,
                ..Default::default()
            }),
            Tag::Integer(Integer {
                inner: 0,
                ..Default::default()
            }),
            Tag::Integer(Integer {
                inner: 0,
                ..Default::default()
            }),
            Tag::Boolean(Boolean {
                inner: false,
                ..Default::default()
            }),
            filter,
            Tag::Sequence(Sequence {
                inner: attrs.iter().map(|a| octets(a.as_bytes())).collect(),
                ..Default::default()
            }),
        ],
    })
}

/// An ExtendedRequest.
pub fn extended_request(oid: &str, value: Option<&[u8]>) -> Tag {
    let mut inner = vec![Tag::OctetString(OctetString {
        id: 0,
        class: TagClass::Context,
        inner: oid.as_bytes().to_vec(),
    })];
    if let Some(value) = value {
        inner.push(Tag::OctetString(OctetString {
            id: 1,
            class: TagClass::Context,
            inner: value.to_vec(),
        }));
    }
    Tag::Sequence(Sequence {
        id: 23,
        class: TagClass::Application,
        inner,
    })
}

/// An AbandonRequest for message `id`.
pub fn abandon_request(id: i32) -> Tag {
    Tag::Integer(Integer {
        id: 16,
        class: TagClass::Application,
        inner: i64::from(id),
    })
}

/// An UnbindRequest.
pub fn unbind_request() -> Tag {
    Tag::Null(Null {
        id: 2,
        class: TagClass::Application,
        inner: (),
    })
}

/// A connection to an LDAP port that speaks BER by hand: plain TCP, or any stream a test
/// wraps (TLS after a StartTLS it sent itself).
pub struct RawLdap<S = TcpStream> {
    stream: S,
    received: Vec<u8>,
    closed: bool,
}

impl<S> std::fmt::Debug for RawLdap<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLdap")
            .field("received", &self.received.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl RawLdap<TcpStream> {
    /// Connects to `addr` (no TLS).
    pub async fn connect(addr: SocketAddr) -> RawLdap {
        RawLdap::over(TcpStream::connect(addr).await.unwrap())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawLdap<S> {
    /// Speaks LDAP over `stream`.
    pub fn over(stream: S) -> RawLdap<S> {
        RawLdap {
            stream,
            received: Vec::new(),
            closed: false,
        }
    }

    /// The stream, to wrap it in TLS. Fails the test if bytes were received but not read.
    pub fn into_stream(self) -> S {
        assert!(
            self.received.is_empty(),
            "unread bytes: {:02x?}",
            self.received
        );
        self.stream
    }

    /// Sends one message.
    pub async fn send(&mut self, id: i32, op: Tag) {
        self.stream
            .write_all(&encode_message(id, op))
            .await
            .unwrap();
    }

    /// Sends bytes as they are. A server that closes the connection while they are being
    /// written makes this fail, which some tests expect.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// The next message, or `None` once the server has closed the connection. Fails the
    /// test when nothing arrives within the deadline or the bytes are not BER.
    pub async fn receive(&mut self) -> Option<Message> {
        loop {
            if !self.received.is_empty() {
                match parse_tag(&self.received) {
                    Ok((rest, tag)) => {
                        let used = self.received.len() - rest.len();
                        self.received.drain(..used);
                        return Some(Message::from_tag(tag));
                    }
                    Err(e) if e.is_incomplete() => {}
                    Err(e) => panic!(
                        "the server sent bytes that are not BER ({e:?}): {:02x?}",
                        self.received
                    ),
                }
            }
            if self.closed {
                assert!(
                    self.received.is_empty(),
                    "the connection closed inside a message: {:02x?}",
                    self.received
                );
                return None;
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let read = tokio::time::timeout(ANSWER_DEADLINE, self.stream.read(&mut chunk))
                .await
                .unwrap_or_else(|_| {
                    panic!("the server neither answered nor closed within {ANSWER_DEADLINE:?}")
                });
            match read {
                Ok(0) => self.closed = true,
                Ok(n) => self.received.extend_from_slice(&chunk[..n]),
                // A reset after the server closed with our bytes unread is a close too.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => self.closed = true,
                Err(e) => panic!("reading from the server: {e}"),
            }
        }
    }

    /// Every message until the server closes the connection.
    pub async fn receive_until_closed(&mut self) -> Vec<Message> {
        let mut messages = Vec::new();
        while let Some(message) = self.receive().await {
            messages.push(message);
        }
        messages
    }

    /// Sends a request and returns the next message, which must answer it.
    pub async fn call(&mut self, id: i32, op: Tag) -> Message {
        self.send(id, op).await;
        let answer = self.receive().await.unwrap_or_else(|| {
            panic!("the server closed the connection instead of answering message {id}")
        });
        assert_eq!(
            answer.id,
            i64::from(id),
            "answer to another message: {answer:?}"
        );
        answer
    }

    /// A simple bind; returns its result code.
    pub async fn bind(&mut self, id: i32, dn: &str, password: &str) -> u32 {
        let answer = self.call(id, bind_request(dn, password)).await;
        answer.result_code().unwrap()
    }

    /// Who am I?; returns the authorization identity.
    pub async fn who_am_i(&mut self, id: i32) -> String {
        let answer = self.call(id, extended_request(WHO_AM_I, None)).await;
        assert_eq!(answer.result_code(), Some(0), "{answer:?}");
        String::from_utf8(answer.response_value().unwrap_or_default()).unwrap()
    }
}
