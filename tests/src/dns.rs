//! An authoritative DNS server for tests: it listens on one `127.0.0.1` port over UDP and
//! TCP, answers from the records a test sets (TXT, A, AAAA, MX, PTR), can be told to fail
//! (SERVFAIL) or to stay silent for a name, and records every question it is asked.
//!
//! Messages are parsed and built with hickory-proto; this module owns only the choice of
//! answer and the transport rules: UDP answers that do not fit the client's payload size go
//! out truncated with TC set (RFC 1035 §4.2.1, RFC 6891 §6.2.5), TCP answers are always
//! whole (RFC 7766). It serves every name as if it held the root zone, so a name with no
//! records is NXDOMAIN and negative answers carry an SOA (RFC 2308 §3).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, MX, PTR, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// The largest UDP answer a client without EDNS accepts (RFC 1035 §2.3.4).
const CLASSIC_UDP_PAYLOAD: usize = 512;

/// The UDP payload size this server announces in its own OPT record: the size DNS Flag Day
/// 2020 settled on, which avoids IP fragmentation.
const OWN_UDP_PAYLOAD: u16 = 1232;

/// Longest character-string in a TXT record (RFC 1035 §3.3: one length octet).
const CHARACTER_STRING_MAX: usize = 255;

/// TTL of the records served unless the builder sets another.
const DEFAULT_TTL: u32 = 300;

/// The records and failure modes the server answers from, by lowercase name without the
/// trailing dot.
#[derive(Debug, Default, Clone)]
struct Zone {
    records: HashMap<String, Vec<RData>>,
    servfail: HashSet<String>,
    silent: HashSet<String>,
}

impl Zone {
    fn add(&mut self, name: &str, rdata: RData) {
        self.records.entry(key(name)).or_default().push(rdata);
    }
}

/// What a test wants the server to hold when it starts.
#[derive(Debug, Clone)]
pub struct DnsBuilder {
    zone: Zone,
    ttl: u32,
}

impl DnsBuilder {
    /// One TXT record for `name`; call again for more records on the same name. A value
    /// longer than 255 bytes becomes one record made of several character-strings, as a
    /// DKIM key is published.
    pub fn txt(mut self, name: &str, value: &str) -> Self {
        self.zone.add(name, txt_rdata(value));
        self
    }

    /// An A record.
    pub fn a(mut self, name: &str, address: Ipv4Addr) -> Self {
        self.zone.add(name, RData::A(A(address)));
        self
    }

    /// An AAAA record.
    pub fn aaaa(mut self, name: &str, address: Ipv6Addr) -> Self {
        self.zone.add(name, RData::AAAA(AAAA(address)));
        self
    }

    /// An MX record pointing at `exchange`.
    pub fn mx(mut self, name: &str, preference: u16, exchange: &str) -> Self {
        self.zone
            .add(name, RData::MX(MX::new(preference, absolute(exchange))));
        self
    }

    /// A PTR record for `address` (under in-addr.arpa or ip6.arpa) naming `host`.
    /// hickory's resolver answers the reverse names of 127.0.0.0/8 and ::1 itself
    /// (`localhost.`, RFC 6761 §6.3) without asking any server, so a PTR for a loopback
    /// address set here is never seen through it.
    pub fn ptr(mut self, address: IpAddr, host: &str) -> Self {
        let reverse = Name::from(address).to_ascii();
        self.zone.add(&reverse, RData::PTR(PTR(absolute(host))));
        self
    }

    /// Answer SERVFAIL to every question about `name`, whatever its type.
    pub fn servfail(mut self, name: &str) -> Self {
        self.zone.servfail.insert(key(name));
        self
    }

    /// Never answer a question about `name`, so that the client times out.
    pub fn silent(mut self, name: &str) -> Self {
        self.zone.silent.insert(key(name));
        self
    }

    /// The TTL of every record served, and the negative-caching TTL of the SOA.
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = seconds;
        self
    }

    /// Binds one port on `127.0.0.1` for both UDP and TCP and starts answering.
    pub async fn start(self) -> DnsServer {
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().unwrap();
        let shared = Arc::new(Shared {
            zone: Mutex::new(self.zone),
            queries: Mutex::new(Vec::new()),
            ttl: self.ttl,
        });
        let udp_task = tokio::spawn(Arc::clone(&shared).serve_udp(udp));
        let tcp_task = tokio::spawn(Arc::clone(&shared).serve_tcp(tcp));
        DnsServer {
            addr,
            shared,
            udp_task,
            tcp_task,
        }
    }
}

/// A running server; it stops when dropped.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    udp_task: JoinHandle<()>,
    tcp_task: JoinHandle<()>,
}

impl DnsServer {
    /// A server holding no records: every name is NXDOMAIN.
    pub fn builder() -> DnsBuilder {
        DnsBuilder {
            zone: Zone::default(),
            ttl: DEFAULT_TTL,
        }
    }

    /// Where it listens, the same port for UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every question asked so far, over either transport, in order: the name lowercase
    /// without its trailing dot, and the record type (`"TXT"`, `"MX"`, …).
    pub fn queries(&self) -> Vec<(String, String)> {
        self.shared.queries.lock().unwrap().clone()
    }

    /// Replaces the TXT records of `name` with one record per value (none: no TXT left).
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        let mut zone = self.shared.zone.lock().unwrap();
        let records = zone.records.entry(key(name)).or_default();
        records.retain(|r| r.record_type() != RecordType::TXT);
        records.extend(values.iter().map(|v| txt_rdata(v)));
        if records.is_empty() {
            zone.records.remove(&key(name));
        }
    }

    /// Forgets `name` entirely: its records, and any SERVFAIL or silence set for it.
    pub fn remove(&self, name: &str) {
        let mut zone = self.shared.zone.lock().unwrap();
        let name = key(name);
        zone.records.remove(&name);
        zone.servfail.remove(&name);
        zone.silent.remove(&name);
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.udp_task.abort();
        self.tcp_task.abort();
    }
}

#[derive(Debug)]
struct Shared {
    zone: Mutex<Zone>,
    queries: Mutex<Vec<(String, String)>>,
    ttl: u32,
}

impl Shared {
    async fn serve_udp(self: Arc<Self>, socket: UdpSocket) {
        let mut buf = vec![0u8; usize::from(u16::MAX)];
        loop {
            // A receive error on a UDP socket (an ICMP unreachable for an earlier answer)
            // concerns one peer, not the socket.
            let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                tokio::task::yield_now().await;
                continue;
            };
            let Some((response, limit)) = self.respond(&buf[..len]) else {
                continue;
            };
            let _ = socket.send_to(&encode(response, limit), peer).await;
        }
    }

    async fn serve_tcp(self: Arc<Self>, listener: TcpListener) {
        // Connection tasks live in this set, so aborting the accept task ends them too.
        let mut connections = JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::task::yield_now().await;
                continue;
            };
            while connections.try_join_next().is_some() {}
            connections.spawn(Arc::clone(&self).serve_connection(stream));
        }
    }

    /// Answers length-prefixed messages (RFC 1035 §4.2.2) until the client closes.
    async fn serve_connection(self: Arc<Self>, mut stream: TcpStream) {
        loop {
            let mut prefix = [0u8; 2];
            if stream.read_exact(&mut prefix).await.is_err() {
                return;
            }
            let mut request = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            if stream.read_exact(&mut request).await.is_err() {
                return;
            }
            let Some((response, _)) = self.respond(&request) else {
                continue;
            };
            let bytes = encode(response, usize::from(u16::MAX));
            let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            if stream.write_all(&framed).await.is_err() {
                return;
            }
        }
    }

    /// The response to one request and the largest UDP answer its sender accepts, or `None`
    /// when the server is to stay silent.
    fn respond(&self, request: &[u8]) -> Option<(Message, usize)> {
        let Ok(request) = Message::from_vec(request) else {
            // RFC 1035 §4.1.1: FORMERR, when at least the ID could be read.
            let id = u16::from_be_bytes([*request.first()?, *request.get(1)?]);
            let response = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
            return Some((response, CLASSIC_UDP_PAYLOAD));
        };
        // Answering a response could start a loop between two servers.
        if request.message_type() == MessageType::Response {
            return None;
        }
        let limit = match request.extensions() {
            Some(_) => usize::from(request.max_payload()),
            None => CLASSIC_UDP_PAYLOAD,
        };
        let mut response = Message::new(request.id(), MessageType::Response, request.op_code());
        response.set_header(Header::response_from_request(request.header()));
        response.add_queries(request.queries().iter().cloned());
        if request.extensions().is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(OWN_UDP_PAYLOAD);
            response.set_edns(edns);
        }
        let [query] = request.queries() else {
            response.set_response_code(ResponseCode::FormErr);
            return Some((response, limit));
        };
        if request.op_code() != OpCode::Query {
            response.set_response_code(ResponseCode::NotImp);
            return Some((response, limit));
        }
        self.queries.lock().unwrap().push((
            key(&query.name().to_ascii()),
            query.query_type().to_string(),
        ));
        self.answer(query, &mut response)?;
        Some((response, limit))
    }

    /// Fills the answer to `query` into `response`; `None` when the name is silent.
    fn answer(&self, query: &Query, response: &mut Message) -> Option<()> {
        let zone = self.zone.lock().unwrap();
        let name = key(&query.name().to_ascii());
        if zone.silent.contains(&name) {
            return None;
        }
        response.set_authoritative(true);
        if zone.servfail.contains(&name) {
            response.set_response_code(ResponseCode::ServFail);
            return Some(());
        }
        let Some(records) = zone.records.get(&name) else {
            response.set_response_code(ResponseCode::NXDomain);
            response.add_name_server(self.soa());
            return Some(());
        };
        // Owner names are given back as the client spelt them, which a resolver that
        // randomises case (draft-vixie-dnsext-dns0x20) checks.
        let answers: Vec<Record> = records
            .iter()
            .filter(|r| {
                query.query_type() == RecordType::ANY || r.record_type() == query.query_type()
            })
            .map(|r| Record::from_rdata(query.name().clone(), self.ttl, r.clone()))
            .collect();
        if answers.is_empty() {
            response.add_name_server(self.soa());
        }
        response.add_answers(answers);
        Some(())
    }

    /// The SOA of the root zone this server pretends to hold; its minimum is the negative
    /// TTL (RFC 2308 §4).
    fn soa(&self) -> Record {
        let ttl = i32::try_from(self.ttl).unwrap_or(i32::MAX);
        let soa = SOA::new(
            absolute("ns.test"),
            absolute("hostmaster.test"),
            1,
            ttl,
            ttl,
            ttl,
            self.ttl,
        );
        Record::from_rdata(Name::root(), self.ttl, RData::SOA(soa))
    }
}

/// The wire form of `response`, or of its truncated form (header, question and OPT, TC set)
/// when the whole does not fit in `limit` bytes.
fn encode(response: Message, limit: usize) -> Vec<u8> {
    // A message built from parsed queries and our own records always encodes; failing here
    // would be a bug in this module.
    let whole = response.to_vec().unwrap();
    if whole.len() <= limit {
        return whole;
    }
    response.truncate().to_vec().unwrap()
}

/// Binds a UDP socket on an ephemeral port and a TCP listener on the same port, retrying
/// when another process holds that port for TCP.
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
    panic!("no port on 127.0.0.1 was free for both UDP and TCP");
}

/// One TXT record; RFC 7208 §3.3 and RFC 6376 §3.6.2.2 have the reader join the strings.
fn txt_rdata(value: &str) -> RData {
    let strings: Vec<&[u8]> = if value.is_empty() {
        vec![b""]
    } else {
        value.as_bytes().chunks(CHARACTER_STRING_MAX).collect()
    };
    RData::TXT(TXT::from_bytes(strings))
}

/// How names are compared: lowercase, without the trailing dot (RFC 4343).
fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `name` as an absolute domain name.
fn absolute(name: &str) -> Name {
    let mut name = Name::from_ascii(name).unwrap_or_else(|e| panic!("{name:?}: {e}"));
    name.set_fqdn(true);
    name
}
