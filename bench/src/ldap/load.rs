//! The phases and what they measure: L2's binds, L1's searches, and L3's searches under a
//! flood of wrong-password binds, with the LDAP wire encoding the search loops use.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ldap3::asn1::{
    parse_tag, parse_uint, ASNTag, Boolean, Enumerated, Integer, OctetString, Sequence,
    StructureTag, Tag, TagClass,
};
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

use crate::figures::Window;

use super::*;

/// One server as the client sees it.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) kind: ServerKind,
    pub(super) url: String,
    pub(super) addr: SocketAddr,
    pub(super) pid: u32,
    pub(super) ticks: f64,
    pub(super) reader_secret: String,
    pub(super) uids: Arc<Vec<String>>,
    /// (DN, password) of the L2 bind users.
    pub(super) bind_users: Arc<Vec<(String, String)>>,
    /// Officials the flood sends wrong passwords for: the bind users, the only accounts
    /// with a full-cost hash on both servers (a slapd entry without a password answers
    /// at once). L2 runs before any flood, and the flood walks all of them, so each
    /// gets a few failures per phase, under the per-account lockout.
    pub(super) flood_dns: Arc<Vec<String>>,
}

impl Target {
    pub(super) fn new(
        kind: ServerKind,
        server: &Server,
        directory: &Directory,
        ticks: f64,
    ) -> Target {
        let bind_users: Vec<(String, String)> = directory
            .bind_users
            .iter()
            .map(|&i| {
                let official = &directory.officials[i];
                (official.dn(), bind_password(&official.login))
            })
            .collect();
        Target {
            kind,
            url: server.url.clone(),
            addr: server.addr,
            pid: server.pid(),
            ticks,
            reader_secret: directory.reader_secret.clone(),
            uids: Arc::new(
                directory
                    .officials
                    .iter()
                    .map(|o| o.login.clone())
                    .collect(),
            ),
            flood_dns: Arc::new(bind_users.iter().map(|(dn, _)| dn.clone()).collect()),
            bind_users: Arc::new(bind_users),
        }
    }

    pub(super) fn cpu(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid, self.ticks)
    }

    /// Checks, with ldap3's ordinary client, the answers the measurements rely on, then
    /// that the lean client used for the hot loops reads the same search the same way.
    pub(super) async fn preflight(&self) -> anyhow::Result<()> {
        let name = self.kind.name();
        let mut ldap = connect(&self.url).await?;
        ldap.simple_bind(READER, &self.reader_secret)
            .await?
            .success()
            .with_context(|| format!("{name} refused the reader bind as {READER}"))?;
        let uid = &self.uids[self.uids.len() / 2];
        search_once(&mut ldap, uid)
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let (dn, password) = &self.bind_users[0];
        let right = ldap.simple_bind(dn, password).await?;
        anyhow::ensure!(
            right.rc == 0,
            "{name}: bind as {dn} with its password answered {} {:?}",
            right.rc,
            right.text
        );
        let wrong = ldap.simple_bind(dn, "not-the-password").await?;
        anyhow::ensure!(
            wrong.rc == 49,
            "{name}: bind as {dn} with a wrong password answered {} {:?}, not 49",
            wrong.rc,
            wrong.text
        );
        let _ = ldap.unbind().await;
        let mut wire = Wire::bound(self.addr, READER, &self.reader_secret).await?;
        wire.search_uid(uid)
            .await
            .map_err(|e| anyhow::anyhow!("{name}, lean client: {}", e.message()))?;
        Ok(())
    }
}

/// Opens a plaintext connection with ldap3's ordinary client.
pub(super) async fn connect(url: &str) -> anyhow::Result<Ldap> {
    let settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url).await?;
    tokio::spawn(async move {
        // Ends when the connection closes; an error here surfaces on the next operation.
        let _ = conn.drive().await;
    });
    Ok(ldap)
}

/// Looks `uid` up with ldap3's ordinary client and checks the one entry that comes back:
/// the pre-flight check that [`Wire::search_uid`] reads answers the same way.
pub(super) async fn search_once(ldap: &mut Ldap, uid: &str) -> Result<(), String> {
    let filter = format!("(uid={})", ldap_escape(uid));
    let ldap3::SearchResult(entries, result) = ldap
        .with_timeout(OP_TIMEOUT)
        .search(PEOPLE, Scope::Subtree, &filter, ATTRIBUTES)
        .await
        .map_err(|e| format!("{filter}: {e}"))?;
    if result.rc != 0 {
        return Err(format!(
            "{filter}: result code {} {:?}",
            result.rc, result.text
        ));
    }
    let count = entries.len();
    let Some(entry) = entries.into_iter().next().filter(|_| count == 1) else {
        return Err(format!("{filter}: {count} entries, expected 1"));
    };
    let entry = SearchEntry::construct(entry);
    check_entry(uid, &entry.dn)?;
    if entry.attrs.get("mail").is_none_or(|m| m.is_empty()) {
        return Err(format!("{filter}: entry {} has no mail", entry.dn));
    }
    Ok(())
}

pub(super) fn check_entry(uid: &str, dn: &str) -> Result<(), String> {
    let expected = format!("uid={uid},{PEOPLE}");
    if dn.eq_ignore_ascii_case(&expected) {
        Ok(())
    } else {
        Err(format!("(uid={uid}): entry {dn}, expected {expected}"))
    }
}

/// Why an operation on a [`Wire`] did not give the expected answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// The server answered, wrongly: the connection is still usable.
    Wrong(String),
    /// The connection broke, timed out or was closed by the server.
    Broken(String),
}

impl Failure {
    pub(super) fn message(self) -> String {
        match self {
            Failure::Wrong(m) | Failure::Broken(m) => m,
        }
    }
}

/// A lean LDAP connection for the hot loops (searches and the flood): requests encoded and
/// responses decoded with ldap3's own BER layer (`ldap3::asn1`), one request in flight, no
/// tasks or channels. ldap3's `Ldap` handle spends about as much client CPU per search (a
/// driver task, channels, a result stream and a timer per operation) as a server spends
/// answering it, so on 2 cores it would cap the very figure L1 measures. L2's binds, where
/// argon2 dominates, and the pre-flight checks use `Ldap`.
#[derive(Debug)]
pub(super) struct Wire {
    pub(super) stream: BufReader<TcpStream>,
    pub(super) last_id: i64,
    /// How long an answer may take before the connection counts as broken.
    pub(super) timeout: Duration,
}

/// RFC 4511 §4.2, §4.5.1: application tags of the operations used here.
pub(super) const BIND_REQUEST: u64 = 0;
pub(super) const BIND_RESPONSE: u64 = 1;
pub(super) const SEARCH_REQUEST: u64 = 3;
pub(super) const SEARCH_RESULT_ENTRY: u64 = 4;
pub(super) const SEARCH_RESULT_DONE: u64 = 5;
pub(super) const SEARCH_RESULT_REFERENCE: u64 = 19;

impl Wire {
    /// Connects to `server`, from `source` when given (every 127/8 address is local).
    pub(super) async fn open(
        server: SocketAddr,
        source: Option<Ipv4Addr>,
        timeout: Duration,
    ) -> std::io::Result<Wire> {
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = source {
            socket.bind(SocketAddr::from((source, 0)))?;
        }
        let stream = tokio::time::timeout(OP_TIMEOUT, socket.connect(server))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        stream.set_nodelay(true)?;
        Ok(Wire {
            stream: BufReader::new(stream),
            last_id: 0,
            timeout,
        })
    }

    /// A connection bound as `dn`.
    pub(super) async fn bound(
        server: SocketAddr,
        dn: &str,
        password: &str,
    ) -> anyhow::Result<Wire> {
        let mut wire = Wire::open(server, None, OP_TIMEOUT).await?;
        match wire.bind(dn, password).await {
            Ok(0) => Ok(wire),
            Ok(rc) => anyhow::bail!("bind as {dn} answered result code {rc}"),
            Err(e) => anyhow::bail!("bind as {dn}: {}", e.message()),
        }
    }

    /// A simple bind; returns the result code.
    pub(super) async fn bind(&mut self, dn: &str, password: &str) -> Result<u64, Failure> {
        let request = Tag::Sequence(Sequence {
            id: BIND_REQUEST,
            class: TagClass::Application,
            inner: vec![
                Tag::Integer(Integer {
                    inner: 3,
                    ..Default::default()
                }),
                Tag::OctetString(OctetString {
                    inner: dn.as_bytes().to_vec(),
                    ..Default::default()
                }),
                Tag::OctetString(OctetString {
                    id: 0,
                    class: TagClass::Context,
                    inner: password.as_bytes().to_vec(),
                }),
            ],
        });
        let timeout = self.timeout;
        let exchange = async {
            let id = self.send(request).await?;
            let (op, parts) = self.receive(id).await?;
            if op != BIND_RESPONSE {
                return Err(Failure::Wrong(format!("bind answered with operation {op}")));
            }
            result_code(&parts)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(Failure::Broken("bind timed out".into())))
    }

    /// The L1 search: `(uid=…)` under ou=people, which must return exactly that entry.
    pub(super) async fn search_uid(&mut self, uid: &str) -> Result<(), Failure> {
        let filter = format!("(uid={})", ldap_escape(uid));
        let request = Tag::Sequence(Sequence {
            id: SEARCH_REQUEST,
            class: TagClass::Application,
            inner: vec![
                Tag::OctetString(OctetString {
                    inner: PEOPLE.as_bytes().to_vec(),
                    ..Default::default()
                }),
                Tag::Enumerated(Enumerated {
                    inner: Scope::Subtree as i64,
                    ..Default::default()
                }),
                // neverDerefAliases, no size or time limit, not types only.
                Tag::Enumerated(Enumerated::default()),
                Tag::Integer(Integer::default()),
                Tag::Integer(Integer::default()),
                Tag::Boolean(Boolean::default()),
                ldap3::parse_filter(&filter)
                    .map_err(|()| Failure::Wrong(format!("bad filter {filter}")))?,
                Tag::Sequence(Sequence {
                    inner: ATTRIBUTES
                        .iter()
                        .map(|a| {
                            Tag::OctetString(OctetString {
                                inner: a.as_bytes().to_vec(),
                                ..Default::default()
                            })
                        })
                        .collect(),
                    ..Default::default()
                }),
            ],
        });
        let timeout = self.timeout;
        let exchange = async {
            let id = self.send(request).await?;
            let mut dns = Vec::new();
            loop {
                let (op, parts) = self.receive(id).await?;
                match op {
                    SEARCH_RESULT_ENTRY => dns.push(octets(parts.first())),
                    SEARCH_RESULT_REFERENCE => {}
                    SEARCH_RESULT_DONE => {
                        let rc = result_code(&parts)?;
                        return Ok((rc, dns));
                    }
                    other => {
                        return Err(Failure::Wrong(format!(
                            "{filter}: answered with operation {other}"
                        )))
                    }
                }
            }
        };
        let (rc, dns) = tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(Failure::Broken(format!("{filter} timed out"))))?;
        match (rc, dns.as_slice()) {
            (0, [dn]) => check_entry(uid, dn).map_err(Failure::Wrong),
            (0, dns) => Err(Failure::Wrong(format!(
                "{filter}: {} entries, expected 1",
                dns.len()
            ))),
            (rc, _) => Err(Failure::Wrong(format!("{filter}: result code {rc}"))),
        }
    }

    /// Sends `op` in an LDAPMessage with the next message ID, which it returns.
    pub(super) async fn send(&mut self, op: Tag) -> Result<i64, Failure> {
        self.last_id += 1;
        let message = Tag::Sequence(Sequence {
            inner: vec![
                Tag::Integer(Integer {
                    inner: self.last_id,
                    ..Default::default()
                }),
                op,
            ],
            ..Default::default()
        });
        // The buffer type is the one `encode_into` names; only its bytes are used here.
        let mut bytes = Default::default();
        ldap3::asn1::write::encode_into(&mut bytes, message.into_structure())
            .map_err(|e| Failure::Broken(format!("encoding: {e}")))?;
        self.stream
            .get_mut()
            .write_all(&bytes)
            .await
            .map_err(|e| Failure::Broken(format!("send: {e}")))?;
        Ok(self.last_id)
    }

    /// Reads the next LDAPMessage, which must answer `id`; returns the protocol operation's
    /// tag number and its parts. A Notice of Disconnection (ID 0) ends the connection.
    pub(super) async fn receive(&mut self, id: i64) -> Result<(u64, Vec<StructureTag>), Failure> {
        let frame = self
            .read_frame()
            .await
            .map_err(|e| Failure::Broken(format!("receive: {e}")))?;
        let (_, message) = parse_tag(&frame)
            .map_err(|_| Failure::Broken("malformed BER from the server".into()))?;
        let mut parts = message.expect_constructed().unwrap_or_default().into_iter();
        let (Some(message_id), Some(op)) = (parts.next(), parts.next()) else {
            return Err(Failure::Broken("LDAPMessage without an operation".into()));
        };
        let answered = message_id
            .expect_primitive()
            .map_or(0, |v| parse_uint(&v).map_or(0, |(_, n)| n));
        if answered == 0 {
            return Err(Failure::Broken("notice of disconnection".into()));
        }
        if i64::try_from(answered) != Ok(id) {
            return Err(Failure::Broken(format!(
                "answer to message {answered}, expected {id}"
            )));
        }
        let tag = op.id;
        Ok((tag, op.expect_constructed().unwrap_or_default()))
    }

    /// One BER element: the tag byte, the length (short or long form), the contents.
    pub(super) async fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).await?;
        let mut frame = head.to_vec();
        let length = if head[1] & 0x80 == 0 {
            usize::from(head[1])
        } else {
            let octets = usize::from(head[1] & 0x7f);
            if octets == 0 || octets > 4 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "unsupported BER length",
                ));
            }
            let mut length = [0u8; 4];
            self.stream.read_exact(&mut length[..octets]).await?;
            frame.extend_from_slice(&length[..octets]);
            length[..octets]
                .iter()
                .fold(0usize, |n, &b| (n << 8) | usize::from(b))
        };
        let start = frame.len();
        frame.resize(start + length, 0);
        self.stream.read_exact(&mut frame[start..]).await?;
        Ok(frame)
    }
}

/// The resultCode of an LDAPResult's parts (RFC 4511 §4.1.9).
pub(super) fn result_code(parts: &[StructureTag]) -> Result<u64, Failure> {
    parts
        .first()
        .and_then(|t| t.clone().expect_primitive())
        .map(|v| parse_uint(&v).map_or(u64::MAX, |(_, n)| n))
        .ok_or_else(|| Failure::Broken("LDAPResult without a result code".into()))
}

/// An OCTET STRING as text.
pub(super) fn octets(tag: Option<&StructureTag>) -> String {
    tag.and_then(|t| t.clone().expect_primitive())
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

/// What one worker saw inside the window.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Latency of each operation that completed correctly in the window, in µs.
    pub(super) latencies_us: Vec<u32>,
    pub(super) wrong: u64,
    pub(super) first_wrong: Option<String>,
}

impl Tally {
    pub(super) fn record(
        &mut self,
        window: &Window,
        started: Instant,
        outcome: Result<(), String>,
    ) {
        let done = Instant::now();
        if !window.contains(done) {
            return;
        }
        match outcome {
            Ok(()) => self
                .latencies_us
                .push(u32::try_from((done - started).as_micros()).unwrap_or(u32::MAX)),
            Err(e) => {
                self.wrong += 1;
                self.first_wrong.get_or_insert(e);
            }
        }
    }

    pub(super) fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.wrong += other.wrong;
        if self.first_wrong.is_none() {
            self.first_wrong = other.first_wrong;
        }
    }
}

/// Throughput, server CPU and latency of one measured stretch.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub(super) per_second: f64,
    pub(super) cpu_us_per_op: f64,
    pub(super) client_cpu_us_per_op: f64,
    /// Cores the server kept busy over the window.
    pub(super) server_cores: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) wrong: u64,
    pub(super) first_wrong: Option<String>,
}

impl Run {
    pub(super) fn from(mut tally: Tally, window: &Window, cpu: CpuUse) -> Run {
        tally.latencies_us.sort_unstable();
        let ops = tally.latencies_us.len();
        let percentile = |p: f64| {
            if ops == 0 {
                return f64::NAN;
            }
            let rank = ((p * ops as f64).ceil() as usize).clamp(1, ops);
            f64::from(tally.latencies_us[rank - 1]) / 1000.0
        };
        Run {
            per_second: ops as f64 / window.seconds(),
            cpu_us_per_op: cpu.server.as_secs_f64() * 1e6 / ops.max(1) as f64,
            client_cpu_us_per_op: cpu.client.as_secs_f64() * 1e6 / ops.max(1) as f64,
            server_cores: cpu.server.as_secs_f64() / window.seconds(),
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            wrong: tally.wrong,
            first_wrong: tally.first_wrong,
        }
    }
}

/// Wrong-password binds the flood got answered in the window, by outcome.
#[derive(Debug, Default)]
pub(super) struct FloodCounters {
    pub(super) invalid_credentials: AtomicU64,
    pub(super) other: AtomicU64,
    /// Connections that broke (closed by the server, or no answer within
    /// [`FLOOD_TIMEOUT`]) and were opened again, and why the first one did.
    pub(super) reconnects: AtomicU64,
    pub(super) first_break: std::sync::Mutex<Option<String>>,
}

impl FloodCounters {
    pub(super) fn broke(&self, why: String) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_break.lock() {
            first.get_or_insert(why);
        }
    }
}

/// Where the flood comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FloodSource {
    /// Every connection from 127.0.0.1, like one misbehaving host.
    OneAddress,
    /// Connection i from its own loopback address: a distributed guessing attack.
    ManyAddresses,
}

#[derive(Debug, Clone)]
pub(super) struct FloodRun {
    /// Searches once the flood is steady.
    pub(super) searches: Run,
    /// Searches over the flood's first `--flood-warmup` seconds.
    pub(super) onset: Run,
    /// How long the server stayed busy after the flood's connections closed.
    pub(super) drain: Duration,
    /// Correct binds from another address during the steady flood.
    pub(super) bystander: Bystander,
    pub(super) binds_per_second: f64,
    pub(super) invalid_credentials: u64,
    pub(super) other: u64,
    pub(super) reconnects: u64,
    pub(super) first_break: Option<String>,
}

#[derive(Debug)]
pub(super) struct Figures {
    pub(super) binds: Run,
    pub(super) searches: Run,
    pub(super) flood_one: FloodRun,
    pub(super) flood_many: Option<FloodRun>,
}

/// Runs every phase against every server, phase by phase; an error names its server.
pub(super) async fn measure(
    args: &LdapArgs,
    servers: &mut [(Server, Target)],
) -> Result<Vec<(ServerKind, Figures)>, (ServerKind, anyhow::Error)> {
    for (server, target) in servers.iter_mut() {
        let ready = async {
            server.wait_ready().await?;
            target.preflight().await
        };
        ready.await.map_err(|e| (target.kind, e))?;
    }
    let targets: Vec<&Target> = servers.iter().map(|(_, t)| t).collect();
    let on = |t: &Target| {
        let kind = t.kind;
        move |e: anyhow::Error| (kind, e)
    };

    let mut binds = Vec::new();
    for &target in &targets {
        let run = bind_phase(args, target).await.map_err(on(target))?;
        print_binds(target.kind, &run);
        binds.push(run);
        settle(target).await;
    }
    let mut searches = Vec::new();
    for &target in &targets {
        let run = search_phase(args, target, None)
            .await
            .map_err(on(target))?
            .steady;
        print_searches(target.kind, &run);
        searches.push(run);
        settle(target).await;
    }
    // congvu treats sources differently, so it is flooded both ways; slapd is not. The
    // one-address flood comes last: it leaves 127.0.0.1 throttled for the lockout window.
    let mut floods_many = Vec::new();
    for &target in &targets {
        floods_many.push(if target.kind == ServerKind::Congvu {
            Some(
                flood_phase(args, target, FloodSource::ManyAddresses)
                    .await
                    .map_err(on(target))?,
            )
        } else {
            None
        });
    }
    let mut floods_one = Vec::new();
    for &target in &targets {
        floods_one.push(
            flood_phase(args, target, FloodSource::OneAddress)
                .await
                .map_err(on(target))?,
        );
    }
    Ok(targets
        .iter()
        .zip(binds)
        .zip(searches)
        .zip(floods_many)
        .zip(floods_one)
        .map(|((((target, binds), searches), flood_many), flood_one)| {
            (
                target.kind,
                Figures {
                    binds,
                    searches,
                    flood_one,
                    flood_many,
                },
            )
        })
        .collect())
}

/// L2's line for one server.
pub(super) fn print_binds(kind: ServerKind, run: &Run) {
    println!(
        "  {} L2 {:.1} binds/s ({} wrong), server {:.2} cores",
        kind.name(),
        run.per_second,
        run.wrong,
        run.server_cores
    );
}

/// L1's line for one server.
pub(super) fn print_searches(kind: ServerKind, run: &Run) {
    println!(
        "  {} L1 {:.0} searches/s, {:.0} µs server CPU each ({:.2} cores; client {:.0} µs), \
         p99 {:.2} ms ({} wrong)",
        kind.name(),
        run.per_second,
        run.cpu_us_per_op,
        run.server_cores,
        run.client_cpu_us_per_op,
        run.p99_ms,
        run.wrong
    );
}

/// Waits until the server is idle again, so one phase's backlog (a queue of argon2
/// verifications, say) is not billed to the next; returns how long that took.
pub(super) async fn settle(target: &Target) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let interval = Duration::from_millis(250);
    let Ok(mut before) = target.cpu() else {
        return Duration::ZERO;
    };
    while Instant::now() < deadline {
        tokio::time::sleep(interval).await;
        let Ok(now) = target.cpu() else { break };
        if now - before < interval / 10 {
            break;
        }
        before = now;
    }
    started.elapsed()
}

pub(super) async fn bind_phase(args: &LdapArgs, target: &Target) -> anyhow::Result<Run> {
    let mut connections = Vec::new();
    for _ in 0..args.connections {
        connections.push(connect(&target.url).await?);
    }
    let window = Window::after(args.warmup, args.seconds);
    let workers: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(worker, mut ldap)| {
            let users = target.bind_users.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut next = worker;
                while Instant::now() < window.end {
                    let (dn, password) = &users[next % users.len()];
                    next += 1;
                    let started = Instant::now();
                    let outcome = match ldap
                        .with_timeout(OP_TIMEOUT)
                        .simple_bind(dn, password)
                        .await
                    {
                        Ok(r) if r.rc == 0 => Ok(()),
                        Ok(r) => Err(format!("bind {dn}: result code {} {:?}", r.rc, r.text)),
                        Err(e) => Err(format!("bind {dn}: {e}")),
                    };
                    tally.record(&window, started, outcome);
                }
                tally
            })
        })
        .collect();
    let cpu = cpu_over(target, &window).await?;
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await?);
    }
    Ok(Run::from(tally, &window, cpu))
}

/// CPU time used over a window.
#[derive(Debug, Clone, Copy)]
pub(super) struct CpuUse {
    pub(super) server: Duration,
    /// This process: a client that uses its cores up caps what the server can show.
    pub(super) client: Duration,
}

/// The server's and this client's CPU time over `window`, sampled at its start and end.
pub(super) async fn cpu_over(target: &Target, window: &Window) -> anyhow::Result<CpuUse> {
    let mut spans = cpu_between(target, &[window.start, window.end]).await?;
    spans.pop().context("no CPU span")
}

/// The CPU time used between each pair of consecutive `instants`.
pub(super) async fn cpu_between(
    target: &Target,
    instants: &[Instant],
) -> anyhow::Result<Vec<CpuUse>> {
    let client = || cpu_time(std::process::id(), target.ticks);
    let mut samples = Vec::new();
    for &at in instants {
        tokio::time::sleep_until(at.into()).await;
        samples.push((target.cpu()?, client()?));
    }
    Ok(samples
        .windows(2)
        .map(|pair| CpuUse {
            server: pair[1].0 - pair[0].0,
            client: pair[1].1 - pair[0].1,
        })
        .collect())
}

/// What one search phase measured.
#[derive(Debug)]
pub(super) struct SearchFigures {
    pub(super) steady: Run,
    /// With a flood: the searches during its warm-up.
    pub(super) onset: Option<Run>,
    /// With a flood: the correct binds a bystander made during the window.
    pub(super) bystander: Option<Bystander>,
    pub(super) window: Window,
}

/// The flood's workers, each binding with wrong passwords through `window`: from one
/// address, or each from its own loopback address.
pub(super) fn start_flood(
    args: &LdapArgs,
    target: &Target,
    source: FloodSource,
    counters: &Arc<FloodCounters>,
    window: Window,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..args.flood)
        .map(|i| {
            tokio::spawn(flood_worker(
                target.addr,
                target.flood_dns.clone(),
                (i, args.flood),
                (source == FloodSource::ManyAddresses).then(|| flood_address(i)),
                window,
                counters.clone(),
            ))
        })
        .collect()
}

/// L1 (no flood) and L3 (with one): searches on `--connections` bound connections.
pub(super) async fn search_phase(
    args: &LdapArgs,
    target: &Target,
    flood: Option<(FloodSource, Arc<FloodCounters>)>,
) -> anyhow::Result<SearchFigures> {
    // Searchers bind before any flood starts, so a throttled address cannot refuse them.
    let mut searchers = Vec::new();
    for _ in 0..args.connections {
        searchers.push(Wire::bound(target.addr, READER, &target.reader_secret).await?);
    }
    // A flood is measured once it is steady: a server that admits a burst of binds for
    // hashing before it throttles their source works that backlog off first. The onset
    // is measured too.
    let (onset, window) = match flood {
        Some(_) => (
            Some(Window::after(0, args.flood_warmup)),
            Window::after(args.flood_warmup, args.seconds),
        ),
        None => (None, Window::after(args.warmup, args.seconds)),
    };
    let flooders = match &flood {
        Some((source, counters)) => start_flood(args, target, *source, counters, window),
        None => Vec::new(),
    };
    let workers: Vec<_> = searchers
        .into_iter()
        .enumerate()
        .map(|(worker, wire)| {
            tokio::spawn(searcher(
                wire,
                target.addr,
                target.reader_secret.clone(),
                target.uids.clone(),
                worker as u64,
                [onset, Some(window)],
            ))
        })
        .collect();
    let bystander = flood.is_some().then(|| {
        tokio::spawn(bystander_binds(
            target.addr,
            target.reader_secret.clone(),
            window,
        ))
    });
    let instants: Vec<Instant> = onset
        .map(|o| o.start)
        .into_iter()
        .chain([window.start, window.end])
        .collect();
    let mut cpu = cpu_between(target, &instants).await?;
    let steady_cpu = cpu.pop().context("no CPU span")?;
    let mut tallies = [Tally::default(), Tally::default()];
    for worker in workers {
        for (total, part) in tallies.iter_mut().zip(worker.await?) {
            total.merge(part);
        }
    }
    let bystander = match bystander {
        Some(task) => Some(task.await?),
        None => None,
    };
    for flooder in flooders {
        flooder.abort();
    }
    let [onset_tally, steady_tally] = tallies;
    Ok(SearchFigures {
        bystander,
        steady: Run::from(steady_tally, &window, steady_cpu),
        onset: onset
            .zip(cpu.pop())
            .map(|(o, c)| Run::from(onset_tally, &o, c)),
        window,
    })
}

/// How a bystander's correct binds fared during a flood.
#[derive(Debug, Clone, Default)]
pub(super) struct Bystander {
    /// Latency of each bind answered, in order.
    pub(super) answered: Vec<Duration>,
    /// A bind still unanswered when the bystander gave up, and how long it had waited.
    pub(super) gave_up_after: Option<Duration>,
    /// Answers other than success.
    pub(super) refused: u64,
}

impl Bystander {
    pub(super) fn summary(&self) -> String {
        let mut sorted = self.answered.clone();
        sorted.sort_unstable();
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        let mut out = match (sorted.get(sorted.len() / 2), sorted.last()) {
            (Some(median), Some(slowest)) => format!(
                "{} answered, median {:.0} ms, slowest {:.0} ms",
                sorted.len(),
                ms(median),
                ms(slowest)
            ),
            _ => "none answered".to_string(),
        };
        if let Some(waited) = self.gave_up_after {
            out.push_str(&format!(
                ", one still unanswered after {:.1} s",
                waited.as_secs_f64()
            ));
        }
        if self.refused > 0 {
            out.push_str(&format!(", {} refused", self.refused));
        }
        out
    }
}

/// How long after the window a bystander's bind may still be answered.
pub(super) const BYSTANDER_GRACE: Duration = Duration::from_secs(20);

/// Binds as the service account with its right secret, one bind after another through the
/// window, from an address of its own (another client of the directory, which no
/// throttle aimed at the flood should touch): what a real login waits during the flood.
pub(super) async fn bystander_binds(
    server: SocketAddr,
    secret: String,
    window: Window,
) -> Bystander {
    let mut seen = Bystander::default();
    tokio::time::sleep_until(window.start.into()).await;
    let source = Some(Ipv4Addr::new(127, 0, 200, 1));
    let patience = window.end + BYSTANDER_GRACE - Instant::now();
    let Ok(mut wire) = Wire::open(server, source, patience).await else {
        seen.refused += 1;
        return seen;
    };
    while Instant::now() < window.end {
        let started = Instant::now();
        wire.timeout = (window.end + BYSTANDER_GRACE).saturating_duration_since(started);
        match wire.bind(READER, &secret).await {
            Ok(0) => seen.answered.push(started.elapsed()),
            Ok(_) | Err(Failure::Wrong(_)) => seen.refused += 1,
            Err(Failure::Broken(_)) => {
                seen.gave_up_after = Some(started.elapsed());
                break;
            }
        }
    }
    seen
}

/// Looks random officials up until the last window ends, tallying each window apart; a
/// broken connection is opened and bound again (which a throttled address may refuse:
/// that counts as wrong too).
pub(super) async fn searcher(
    mut wire: Wire,
    server: SocketAddr,
    secret: String,
    uids: Arc<Vec<String>>,
    seed: u64,
    windows: [Option<Window>; 2],
) -> [Tally; 2] {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut tallies = [Tally::default(), Tally::default()];
    let end = windows.iter().flatten().map(|w| w.end).max();
    let Some(end) = end else { return tallies };
    let record = |tallies: &mut [Tally; 2], started: Instant, outcome: Result<(), String>| {
        for (tally, window) in tallies.iter_mut().zip(&windows) {
            if let Some(window) = window {
                tally.record(window, started, outcome.clone());
            }
        }
    };
    while Instant::now() < end {
        let uid = &uids[rng.random_range(0..uids.len())];
        let started = Instant::now();
        let outcome = wire.search_uid(uid).await;
        let broken = matches!(outcome, Err(Failure::Broken(_)));
        record(&mut tallies, started, outcome.map_err(Failure::message));
        if broken {
            match Wire::bound(server, READER, &secret).await {
                Ok(fresh) => wire = fresh,
                Err(e) => {
                    record(&mut tallies, Instant::now(), Err(format!("{e:#}")));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    tallies
}

/// The loopback address of flood connection `i` when the flood is spread over addresses.
pub(super) fn flood_address(i: usize) -> Ipv4Addr {
    // 127.0.0.1 stays the searchers' own address.
    Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 2 + (i % 250) as u8)
}

/// Sends wrong-password binds, each for another official, until the window ends, and
/// counts the answers that arrive within it. Worker `index` of `workers` takes every
/// `workers`-th official from `index` on, so the flood walks the whole list.
pub(super) async fn flood_worker(
    server: SocketAddr,
    dns: Arc<Vec<String>>,
    (index, workers): (usize, usize),
    source: Option<Ipv4Addr>,
    counted: Window,
    counters: Arc<FloodCounters>,
) {
    let mut next = index;
    while Instant::now() < counted.end {
        let mut wire = match Wire::open(server, source, FLOOD_TIMEOUT).await {
            Ok(wire) => wire,
            Err(e) => {
                counters.broke(format!("connect: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while Instant::now() < counted.end {
            let dn = &dns[next % dns.len()];
            next += workers;
            let answer = wire.bind(dn, "wrong-password-2026").await;
            let counter = match answer {
                Ok(49) => &counters.invalid_credentials,
                Ok(_) | Err(Failure::Wrong(_)) => &counters.other,
                Err(Failure::Broken(why)) => {
                    counters.broke(why);
                    break;
                }
            };
            if counted.contains(Instant::now()) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// L3: searches while the flood runs.
pub(super) async fn flood_phase(
    args: &LdapArgs,
    target: &Target,
    source: FloodSource,
) -> anyhow::Result<FloodRun> {
    let counters = Arc::new(FloodCounters::default());
    let searches = search_phase(args, target, Some((source, counters.clone()))).await?;
    let drain = settle(target).await;
    let invalid_credentials = counters.invalid_credentials.load(Ordering::Relaxed);
    let other = counters.other.load(Ordering::Relaxed);
    let run = FloodRun {
        binds_per_second: (invalid_credentials + other) as f64 / searches.window.seconds(),
        invalid_credentials,
        other,
        reconnects: counters.reconnects.load(Ordering::Relaxed),
        first_break: counters
            .first_break
            .lock()
            .ok()
            .and_then(|mut first| first.take()),
        onset: searches.onset.context("a flood phase has an onset")?,
        bystander: searches.bystander.unwrap_or_default(),
        searches: searches.steady,
        drain,
    };
    println!(
        "  {} L3 {source:?}: {:.0} searches/s, p99 {:.2} ms ({} wrong), server {:.2} cores; \
         bystander binds: {}; \
         first {} s: {:.0} searches/s, p99 {:.2} ms; flood answered {:.0}/s ({} other codes, \
         {} reconnects{}); busy {:.1} s after it",
        target.kind.name(),
        run.searches.per_second,
        run.searches.p99_ms,
        run.searches.wrong,
        run.searches.server_cores,
        run.bystander.summary(),
        args.flood_warmup,
        run.onset.per_second,
        run.onset.p99_ms,
        run.binds_per_second,
        run.other,
        run.reconnects,
        run.first_break
            .as_deref()
            .map(|why| format!(", the first: {why}"))
            .unwrap_or_default(),
        run.drain.as_secs_f64()
    );
    Ok(run)
}
