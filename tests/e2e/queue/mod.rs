//! The outbound queue as other servers see it: a real congvu server (fixed clock) whose
//! queue relays through a test SMTP sink (`[queue] smart_host`), on SQLite and PostgreSQL.
//! Mail is queued through `congvu::queue::Queue::enqueue`; the tests move the clock and wait
//! for the workers to be idle ([`congvu::queue::QueueHandle::wait_idle`]) instead of sleeping,
//! then check what the sink received, what the queue holds and what landed in INBOXes.

mod cli;
mod delivery;
mod nodes;
mod notices;

use congvu::clock::{Clock, UnixTime};
use congvu::config::Config;
use congvu::directory::{Actor, Directory, NewDomain};
use congvu::mailstore::{BodyHash, MailboxRole, Mailstore};
use congvu::queue::{Queue, QueueEntry, QueueHandle};
use congvu::server::RunningServer;
use congvu::store::Store;
use congvu_tests::smtp_sink::{SinkBuilder, SmtpSink};
use congvu_tests::{server, Backend, TestDb};

use crate::store_suite::{agency, new_official};

/// 2026-11-27 08:00 Hanoi time.
pub const START: UnixTime = UnixTime(1_795_741_200);

/// A letter to another province (8-bit body, a lone `.` line and a `..` line).
pub const OUTBOUND: &[u8] = include_bytes!("../../fixtures/outbound.eml");

/// The official whose INBOX receives notifications about their mail.
pub const ANNV: &str = "annv@vinhphuc.gov.vn";

/// A server whose queue relays to a sink.
pub struct QueueTest {
    pub server: RunningServer,
    pub sink: SmtpSink,
    pub clock: Clock,
    pub queue: Queue,
    /// Kept for the test's life: dropping it removes the database.
    _db: TestDb,
}

/// Seeds the province's domain, two agencies and the official `annv`.
pub async fn seed(store: &Store, clock: &Clock) {
    let directory = Directory::new(store.clone(), clock.clone());
    let admin = Actor::admin("it-stttt");
    let mut domain = NewDomain::new("vinhphuc.gov.vn");
    domain.is_primary = true;
    directory.add_domain(&admin, domain).await.unwrap();
    directory
        .add_agency(
            &admin,
            agency(
                "vinhphuc",
                "UBND tỉnh Vĩnh Phúc",
                congvu::directory::AgencyLevel::Province,
                None,
            ),
        )
        .await
        .unwrap();
    directory
        .add_agency(
            &admin,
            agency(
                "stttt",
                "Sở Thông tin và Truyền thông",
                congvu::directory::AgencyLevel::Department,
                Some("vinhphuc"),
            ),
        )
        .await
        .unwrap();
    directory
        .add_official(&admin, new_official("annv", "Nguyễn Văn An", "stttt"))
        .await
        .unwrap();
}

/// The test configuration with the queue relaying to `sink`, polling rarely (the tests
/// wake the workers themselves).
pub fn queue_config(db: &TestDb, sink: &SmtpSink) -> Config {
    let mut config = server::test_config(db);
    config.queue.smart_host = Some(sink.smart_host());
    config.queue.poll_seconds = 3600;
    config.queue.connect_timeout_seconds = 10;
    config.queue.command_timeout_seconds = 30;
    config
}

impl QueueTest {
    /// A seeded database, a sink built by `sink`, and a server at [`START`] whose
    /// configuration `configure` may adjust. `None` when PostgreSQL is skipped.
    pub async fn start(
        backend: Backend,
        sink: SinkBuilder,
        configure: impl FnOnce(&mut Config, &SmtpSink),
    ) -> Option<QueueTest> {
        let db = TestDb::new(backend).await?;
        let clock = Clock::fixed(START);
        let store = db.open_store().await;
        seed(&store, &clock).await;
        store.close().await;
        let sink = sink.start().await;
        let mut config = queue_config(&db, &sink);
        configure(&mut config, &sink);
        let server = RunningServer::start_with_clock(&config, clock.clone())
            .await
            .unwrap();
        let queue = Queue::new(server.services().store.clone(), clock.clone());
        let test = QueueTest {
            server,
            sink,
            clock,
            queue,
            _db: db,
        };
        // The workers' first pass runs when the server starts; on a loaded machine it can
        // come after the test has queued mail, and deliver an entry the test meant to hold
        // first. Waiting for it here leaves the workers asleep until the test wakes them.
        test.settle().await;
        Some(test)
    }

    /// This server's delivery workers.
    pub fn workers(&self) -> &QueueHandle {
        &self.server.services().queue
    }

    /// Lets the workers do everything that is due now.
    pub async fn settle(&self) {
        self.workers().wait_idle().await;
    }

    /// Moves the clock by `seconds`, then lets the workers do what became due.
    pub async fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
        self.settle().await;
    }

    pub async fn entries(&self) -> Vec<QueueEntry> {
        self.queue.entries().await.unwrap()
    }

    /// How many holders the stored copy of `message` has; `None` once it is gone.
    pub async fn body_holders(&self, message: &[u8]) -> Option<i64> {
        let mut conn = self.server.services().store.read().await.unwrap();
        let body = conn.body_by_hash(&BodyHash::of(message)).await.unwrap()?;
        conn.body_refcount(body).await.unwrap()
    }

    /// The messages in `login`'s INBOX, oldest first.
    pub async fn inbox(&self, login: &str) -> Vec<Vec<u8>> {
        let services = self.server.services();
        let official = services.directory.official(login).await.unwrap();
        let mailstore = Mailstore::new(services.store.clone(), self.clock.clone());
        let inbox = mailstore
            .mailboxes(official.id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.role == Some(MailboxRole::Inbox))
            .unwrap();
        let mut messages = Vec::new();
        for m in mailstore.messages(inbox.id).await.unwrap() {
            messages.push(mailstore.body(m.body_id).await.unwrap().unwrap());
        }
        messages
    }

    pub async fn stop(self) {
        assert!(self.server.stop().await, "the server did not stop in time");
    }
}
