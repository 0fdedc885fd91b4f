//! The soak's load: clients that run at the same time against one server until it is
//! killed. MX clients deliver from another domain with DATA or with BDAT chunks; submission
//! clients log in with AUTH PLAIN over STARTTLS or implicit TLS and send to officials and to
//! other domains; one IMAP client per IMAP official APPENDs to INBOX or the archive folder
//! and MOVEs acknowledged messages between the two. Each one writes in the ledger what it is
//! about to send before sending it, and the server's answer when it comes.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use super::ledger::{
    compose, password, Folder, Kind, Ledger, Outcome, DOMAIN, IMAP_OFFICIALS, OFFICIALS, REMOTE,
    SUBMITTERS,
};
use super::process::Listeners;
use super::wire::{is_ok, response_code, unexpected, Wire};
use super::Clients;

/// The envelope sender of mail arriving on the MX port.
const OUTSIDE_SENDER: &str = "congvan@example.org";
/// Longest the clients get to notice the kill and stop.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// What every client of one round shares.
pub struct RoundContext {
    /// The round, from 1.
    pub round: usize,
    pub seed: u64,
    pub listeners: Listeners,
    pub tls: TlsConnector,
    pub ledger: Arc<Mutex<Ledger>>,
    pub stop: AtomicBool,
}

impl std::fmt::Debug for RoundContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoundContext")
            .field("round", &self.round)
            .field("listeners", &self.listeners)
            .finish_non_exhaustive()
    }
}

impl RoundContext {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A client that panicked left the ledger as consistent as any other moment.
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Numbers, composes and records a message in one step; returns its number and bytes.
    fn record(
        &self,
        from: &str,
        to: &str,
        size: usize,
        add: impl FnOnce(&mut Ledger, &[u8]) -> u64,
    ) -> (u64, Vec<u8>) {
        let mut ledger = self.ledger();
        let content = compose(self.seed, ledger.next_number(), from, to, size);
        let number = add(&mut ledger, &content);
        (number, content)
    }
}

/// The clients of one round, running.
#[derive(Debug)]
pub struct Load {
    context: Arc<RoundContext>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts every client.
    pub fn start(context: RoundContext, clients: &Clients) -> Load {
        let context = Arc::new(context);
        let mut tasks = Vec::new();
        let mut spawn = |client: Client| {
            let index = tasks.len() as u64;
            let rng = StdRng::seed_from_u64(
                context.seed ^ ((context.round as u64) << 20) ^ (index << 8) ^ 0x50AC,
            );
            let context = Arc::clone(&context);
            tasks.push(tokio::spawn(run_client(context, client, rng)));
        };
        for _ in 0..clients.mx_data {
            spawn(Client::Mx(Kind::MxData));
        }
        for _ in 0..clients.mx_bdat {
            spawn(Client::Mx(Kind::MxBdat));
        }
        for _ in 0..clients.submission {
            spawn(Client::Submission);
        }
        if clients.imap {
            for owner in IMAP_OFFICIALS {
                spawn(Client::Imap(owner));
            }
        }
        Load { context, tasks }
    }

    /// Tells the clients to stop (the server is dead by now) and waits for them.
    pub async fn stop(self) {
        self.context.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_DEADLINE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// One client's protocol.
#[derive(Debug, Clone, Copy)]
enum Client {
    Mx(Kind),
    Submission,
    Imap(&'static str),
}

/// Runs sessions one after another until told to stop. A failed session (the server died
/// under it, or refused a connection as it went down) is followed by a short pause.
async fn run_client(context: Arc<RoundContext>, client: Client, mut rng: StdRng) {
    while !context.stopped() {
        let session = match client {
            Client::Mx(kind) => mx_session(&context, kind, &mut rng).await,
            Client::Submission => submission_session(&context, &mut rng).await,
            Client::Imap(owner) => imap_session(&context, owner, &mut rng).await,
        };
        if session.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Delivers one to four messages from another domain to officials, in one session.
async fn mx_session(context: &RoundContext, kind: Kind, rng: &mut StdRng) -> io::Result<()> {
    let mut wire = Wire::connect(context.listeners.mx).await?;
    expect(wire.reply().await?, 220, "greeting")?;
    expect(wire.command("EHLO relay.example.org").await?, 250, "EHLO")?;
    for _ in 0..rng.random_range(1..=4) {
        if context.stopped() {
            break;
        }
        let count = rng.random_range(1..=3);
        let local: Vec<&'static str> = OFFICIALS
            .choose_multiple(rng, count)
            .map(|(login, _)| *login)
            .collect();
        transaction(
            &mut wire,
            context,
            rng,
            kind,
            OUTSIDE_SENDER,
            local,
            Vec::new(),
        )
        .await?;
    }
    let _ = wire.command("QUIT").await;
    Ok(())
}

/// Logs in as a submitter over STARTTLS or implicit TLS and sends one to three messages to
/// officials, to other domains, or both.
async fn submission_session(context: &RoundContext, rng: &mut StdRng) -> io::Result<()> {
    let listeners = &context.listeners;
    let mut wire = if rng.random_bool(0.5) {
        let mut wire = Wire::connect_tls(listeners.submissions, &context.tls).await?;
        expect(wire.reply().await?, 220, "greeting")?;
        wire
    } else {
        let mut wire = Wire::connect(listeners.submission).await?;
        expect(wire.reply().await?, 220, "greeting")?;
        expect(wire.command("EHLO laptop.snv").await?, 250, "EHLO")?;
        expect(wire.command("STARTTLS").await?, 220, "STARTTLS")?;
        wire.start_tls(&context.tls).await?
    };
    expect(wire.command("EHLO laptop.snv").await?, 250, "EHLO")?;
    let login = *SUBMITTERS.choose(rng).unwrap_or(&SUBMITTERS[0]);
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{login}\0{}", password(login)));
    expect(
        wire.command(&format!("AUTH PLAIN {token}")).await?,
        235,
        "AUTH",
    )?;
    let sender = format!("{login}@{DOMAIN}");
    for _ in 0..rng.random_range(1..=3) {
        if context.stopped() {
            break;
        }
        let (locals, remotes) = match rng.random_range(0..3) {
            0 => (rng.random_range(1..=2), 0),
            1 => (0, rng.random_range(1..=2)),
            _ => (1, rng.random_range(1..=2)),
        };
        let local = OFFICIALS
            .choose_multiple(rng, locals)
            .map(|(l, _)| *l)
            .collect();
        let remote = REMOTE.choose_multiple(rng, remotes).copied().collect();
        transaction(
            &mut wire,
            context,
            rng,
            Kind::Submission,
            &sender,
            local,
            remote,
        )
        .await?;
    }
    let _ = wire.command("QUIT").await;
    Ok(())
}

/// One SMTP transaction: the envelope, then the message recorded in the ledger, then DATA or
/// BDAT. A refusal resets the transaction; a broken connection leaves the message in flight.
async fn transaction(
    wire: &mut Wire,
    context: &RoundContext,
    rng: &mut StdRng,
    kind: Kind,
    from: &str,
    local: Vec<&'static str>,
    remote: Vec<&'static str>,
) -> io::Result<()> {
    if wire.command(&format!("MAIL FROM:<{from}>")).await? != 250 {
        return reset(wire).await;
    }
    let mut accepted_local = Vec::new();
    for login in local {
        if wire.command(&format!("RCPT TO:<{login}@{DOMAIN}>")).await? == 250 {
            accepted_local.push(login);
        }
    }
    let mut accepted_remote = Vec::new();
    for address in remote {
        if wire.command(&format!("RCPT TO:<{address}>")).await? == 250 {
            accepted_remote.push(address);
        }
    }
    let to = match (accepted_local.first(), accepted_remote.first()) {
        (Some(login), _) => format!("{login}@{DOMAIN}"),
        (None, Some(address)) => address.to_string(),
        (None, None) => return reset(wire).await,
    };
    let size = match kind {
        Kind::Submission => rng.random_range(400..6_000),
        _ => rng.random_range(600..24_000),
    };
    let (number, content) = context.record(from, &to, size, |ledger, content| {
        ledger.add_mail(
            kind,
            context.round,
            content,
            accepted_local,
            accepted_remote,
        )
    });
    let outcome = if kind == Kind::MxBdat {
        bdat(wire, &content, rng).await?
    } else {
        data(wire, &content).await?
    };
    context.ledger().settle_mail(number, outcome);
    if outcome == Outcome::Refused {
        reset(wire).await?;
    }
    Ok(())
}

async fn data(wire: &mut Wire, content: &[u8]) -> io::Result<Outcome> {
    if wire.command("DATA").await? != 354 {
        return Ok(Outcome::Refused);
    }
    let mut bytes = Vec::with_capacity(content.len() + 3);
    bytes.extend_from_slice(content);
    bytes.extend_from_slice(b".\r\n");
    wire.send(&bytes).await?;
    Ok(verdict(wire.reply().await?))
}

/// The message in one to three BDAT chunks cut at random points, each sent with its command
/// in one write.
async fn bdat(wire: &mut Wire, content: &[u8], rng: &mut StdRng) -> io::Result<Outcome> {
    let mut cuts: Vec<usize> = (0..rng.random_range(0..=2))
        .map(|_| rng.random_range(1..content.len()))
        .collect();
    cuts.push(content.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut start = 0;
    for (i, &end) in cuts.iter().enumerate() {
        let last = i + 1 == cuts.len();
        let chunk = &content[start..end];
        let mut bytes = format!(
            "BDAT {}{}\r\n",
            chunk.len(),
            if last { " LAST" } else { "" }
        )
        .into_bytes();
        bytes.extend_from_slice(chunk);
        wire.send(&bytes).await?;
        if wire.reply().await? != 250 {
            return Ok(Outcome::Refused);
        }
        start = end;
    }
    Ok(Outcome::Acknowledged)
}

fn verdict(code: u16) -> Outcome {
    if code == 250 {
        Outcome::Acknowledged
    } else {
        Outcome::Refused
    }
}

async fn reset(wire: &mut Wire) -> io::Result<()> {
    expect(wire.command("RSET").await?, 250, "RSET")
}

fn expect(code: u16, wanted: u16, what: &str) -> io::Result<()> {
    if code == wanted {
        Ok(())
    } else {
        Err(unexpected(format!("{what}: {code}, not {wanted}")))
    }
}

/// IMAP command tags, `s1`, `s2`…
struct Tags(u32);

impl Tags {
    fn next(&mut self) -> String {
        self.0 += 1;
        format!("s{}", self.0)
    }
}

/// Logs in as `owner` over IMAPS, then APPENDs and MOVEs until told to stop.
async fn imap_session(
    context: &RoundContext,
    owner: &'static str,
    rng: &mut StdRng,
) -> io::Result<()> {
    let mut wire = Wire::connect_tls(context.listeners.imaps, &context.tls).await?;
    let greeting = wire.line().await?;
    if !greeting.starts_with("* OK") {
        return Err(unexpected(format!("IMAP greeting {greeting:?}")));
    }
    let mut tags = Tags(0);
    let tag = tags.next();
    let login = format!("{tag} LOGIN {owner} \"{}\"\r\n", password(owner));
    let lines = wire.tagged(&tag, login.as_bytes()).await?;
    if !is_ok(&lines, &tag) {
        return Err(unexpected(format!("LOGIN: {lines:?}")));
    }
    let mut selected = None;
    while !context.stopped() {
        let candidate = if rng.random_bool(0.45) {
            context.ledger().movable(owner, rng)
        } else {
            None
        };
        match candidate {
            Some(message) => {
                move_one(&mut wire, context, &mut tags, &mut selected, message).await?;
            }
            None => append_one(&mut wire, context, &mut tags, owner, rng).await?,
        }
    }
    let tag = tags.next();
    let _ = wire
        .tagged(&tag, format!("{tag} LOGOUT\r\n").as_bytes())
        .await;
    Ok(())
}

/// APPENDs a new message to INBOX (mostly) or the archive folder.
async fn append_one(
    wire: &mut Wire,
    context: &RoundContext,
    tags: &mut Tags,
    owner: &'static str,
    rng: &mut StdRng,
) -> io::Result<()> {
    let folder = if rng.random_bool(0.75) {
        Folder::Inbox
    } else {
        Folder::Archive
    };
    let address = format!("{owner}@{DOMAIN}");
    let size = rng.random_range(500..12_000);
    let (number, content) = context.record(&address, &address, size, |ledger, content| {
        ledger.add_append(context.round, owner, folder, content)
    });
    let tag = tags.next();
    let mut command = format!(
        "{tag} APPEND {} {{{}+}}\r\n",
        folder.quoted(),
        content.len()
    )
    .into_bytes();
    command.extend_from_slice(&content);
    command.extend_from_slice(b"\r\n");
    let lines = wire.tagged(&tag, &command).await?;
    if is_ok(&lines, &tag) {
        let uid = lines
            .last()
            .and_then(|l| response_code(l, "APPENDUID"))
            .and_then(|numbers| numbers.get(1).copied());
        context
            .ledger()
            .settle_append(number, Outcome::Acknowledged, uid);
    } else {
        context
            .ledger()
            .settle_append(number, Outcome::Refused, None);
    }
    Ok(())
}

/// MOVEs one acknowledged message to the other folder, by UID, after selecting its folder.
async fn move_one(
    wire: &mut Wire,
    context: &RoundContext,
    tags: &mut Tags,
    selected: &mut Option<Folder>,
    (number, from, uid): (u64, Folder, u32),
) -> io::Result<()> {
    if *selected != Some(from) {
        let tag = tags.next();
        let select = format!("{tag} SELECT {}\r\n", from.quoted());
        let lines = wire.tagged(&tag, select.as_bytes()).await?;
        if !is_ok(&lines, &tag) {
            return Err(unexpected(format!("SELECT: {lines:?}")));
        }
        *selected = Some(from);
    }
    let Some(index) = context.ledger().begin_move(number, from, context.round) else {
        return Ok(());
    };
    let tag = tags.next();
    let command = format!("{tag} UID MOVE {uid} {}\r\n", from.other().quoted());
    let lines = wire.tagged(&tag, command.as_bytes()).await?;
    let copied = lines.iter().find_map(|l| response_code(l, "COPYUID"));
    let (outcome, new_uid) = if is_ok(&lines, &tag) {
        match copied.as_deref() {
            Some([_, source, target]) if *source == uid => (Outcome::Acknowledged, Some(*target)),
            // OK without COPYUID for this UID: the session's view lacked it. The checks find
            // where it is; the next MOVE selects afresh.
            _ => {
                *selected = None;
                (Outcome::InFlight, None)
            }
        }
    } else {
        (Outcome::Refused, None)
    };
    context.ledger().settle_move(index, outcome, (uid, new_uid));
    Ok(())
}

/// One message on the MX port to two officials, DATA: the probe that a restarted server
/// takes mail. Returns the answer, recorded in the ledger like any other.
pub async fn probe(context: &RoundContext) -> io::Result<Outcome> {
    let mut wire = Wire::connect(context.listeners.mx).await?;
    expect(wire.reply().await?, 220, "greeting")?;
    expect(wire.command("EHLO relay.example.org").await?, 250, "EHLO")?;
    let before = context.ledger().next_number();
    let local = vec![OFFICIALS[0].0, OFFICIALS[1].0];
    let mut rng = StdRng::seed_from_u64(context.seed);
    let kind = Kind::MxData;
    transaction(
        &mut wire,
        context,
        &mut rng,
        kind,
        OUTSIDE_SENDER,
        local,
        Vec::new(),
    )
    .await?;
    let _ = wire.command("QUIT").await;
    let ledger = context.ledger();
    Ok(ledger
        .letters
        .get(before as usize)
        .map_or(Outcome::Refused, |l| l.outcome))
}
