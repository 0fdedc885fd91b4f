//! The officials' portal and the first sign-in, as officials and their mail clients meet
//! them: a real server on `127.0.0.1:0` with a fixed clock, a province with one official who
//! still holds the initial password from the credentials file and one who chose their own.

use std::net::SocketAddr;

use congvu::clock::{Clock, UnixTime};
use congvu::config::Config;
use congvu::directory::{
    generate_initial_password, Actor, AgencyLevel, Argon2Cost, Directory, NewAgency, NewDomain,
    NewOfficial, PasswordCost, PasswordHasher, PersonName, StoredPassword,
};
use congvu::net::ListenerKind;
use congvu::server::RunningServer;
use congvu_tests::{server, Backend, TestDb};

/// Where the server's clock stands when a test starts: 2026-03-16 02:00 UTC.
pub const START: UnixTime = UnixTime(1_773_626_400);

/// The portal's public address in every test: the texts of refusals name it.
pub const PUBLIC_URL: &str = "https://mail.vinhphuc.gov.vn/";

/// A password the seeded official `vanlt` chose, strong enough for the policy.
pub const CHOSEN: &str = "sông Lô chảy qua cầu Việt Trì 1956";

/// argon2id parameters cheap enough for tests; the server verifies whatever a hash names.
pub const CHEAP: Argon2Cost = Argon2Cost {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// A server with the province seeded.
pub struct Site {
    pub server: RunningServer,
    pub clock: Clock,
    pub db: TestDb,
    /// `annv`'s initial password, as the credentials file carries it (must be changed).
    pub initial: String,
}

impl Site {
    /// The site with the test configuration. `None` only when PostgreSQL is explicitly
    /// skipped.
    pub async fn start(backend: Backend) -> Option<Site> {
        Self::start_with(backend, |_| {}).await
    }

    /// The site on a server whose configuration `configure` adjusts.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Option<Site> {
        let db = TestDb::new(backend).await?;
        let clock = Clock::fixed(START);
        let store = db.open_store().await;
        let directory = Directory::new(store.clone(), clock.clone());
        let initial = seed(&directory).await;
        store.close().await;
        let mut config = server::test_config(&db);
        config.auth.argon2_memory_kib = CHEAP.memory_kib;
        config.auth.argon2_iterations = CHEAP.iterations;
        config.http.public_url = Some(PUBLIC_URL.into());
        configure(&mut config);
        let server = RunningServer::start_with_clock(&config, clock.clone())
            .await
            .unwrap();
        Some(Site {
            server,
            clock,
            db,
            initial,
        })
    }

    /// The server's own directory.
    pub fn directory(&self) -> &Directory {
        &self.server.services().directory
    }

    /// The first listener of `kind`.
    pub fn addr(&self, kind: ListenerKind) -> SocketAddr {
        self.server.local_addr(kind).unwrap()
    }

    /// `http://127.0.0.1:<port><path>` on the plain HTTP listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr(ListenerKind::Http))
    }
}

/// Sở Nội vụ under the province, with `annv` (initial password, returned) and `vanlt`
/// (password [`CHOSEN`]).
async fn seed(directory: &Directory) -> String {
    let admin = Actor::admin("it-snv");
    let mut domain = NewDomain::new("vinhphuc.gov.vn");
    domain.is_primary = true;
    directory.add_domain(&admin, domain).await.unwrap();
    for (code, name, level, parent) in [
        (
            "vinhphuc",
            "UBND tỉnh Vĩnh Phúc",
            AgencyLevel::Province,
            None,
        ),
        (
            "snv",
            "Sở Nội vụ",
            AgencyLevel::Department,
            Some("vinhphuc"),
        ),
    ] {
        let agency = NewAgency {
            code: code.into(),
            name: name.into(),
            level,
            parent_code: parent.map(Into::into),
            domain: None,
            mail_address: None,
        };
        directory.add_agency(&admin, agency).await.unwrap();
    }
    let hasher = PasswordHasher::new(CHEAP);
    let initial = generate_initial_password();
    for (login, name, password, cost, must_change) in [
        (
            "annv",
            "Nguyễn Văn An",
            initial.as_str(),
            PasswordCost::Initial,
            true,
        ),
        ("vanlt", "Lê Thị Vân", CHOSEN, PasswordCost::Full, false),
    ] {
        let official = NewOfficial {
            login: login.into(),
            name: PersonName::from_full(name).unwrap(),
            display_name: None,
            primary_address: format!("{login}@vinhphuc.gov.vn"),
            agency_code: "snv".into(),
            unit: Some("Phòng Tổ chức".into()),
            title: Some("Chuyên viên".into()),
            phone: None,
            hr_id: None,
            quota_bytes: None,
            password: Some(StoredPassword {
                hash: hasher.hash(password, cost).unwrap(),
                cost,
                must_change,
            }),
        };
        directory.add_official(&admin, official).await.unwrap();
    }
    initial
}

mod browser;
mod cli;
mod out_of_office;
mod protocols;
mod security;
