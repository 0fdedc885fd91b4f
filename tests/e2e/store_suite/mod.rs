//! The store suite: every directory and mail store entity created, read and updated through
//! the domain layer, on SQLite and on PostgreSQL alike.

mod directory;
mod mail;
mod pool;
mod sieve;

use congvu::clock::{Clock, UnixTime};
use congvu::directory::{
    Actor, AgencyLevel, Directory, NewAgency, NewDomain, NewOfficial, Official, PersonName,
};
use congvu::mailstore::Mailstore;
use congvu::queue::Queue;
use congvu::store::Store;
use congvu_tests::{Backend, TestDb};

/// Runs each named test function once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(congvu_tests::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(congvu_skip_postgres, ignore = "CONGVU_TEST_SKIP_POSTGRES=1: the PostgreSQL half is not run")]
            async fn $name() {
                super::$name(congvu_tests::Backend::Postgres).await
            })*
        }
    };
}
pub(crate) use on_both_backends;

/// A fresh store with its domain services, and a clock the test moves.
pub struct Fixture {
    pub store: Store,
    pub directory: Directory,
    pub mailstore: Mailstore,
    pub queue: Queue,
    pub clock: Clock,
    pub admin: Actor,
    /// Kept so the database lives as long as the fixture; a second node opens it again.
    db: TestDb,
}

/// 2026-11-27 08:00 Hanoi time.
pub const START: UnixTime = UnixTime(1_795_741_200);

impl Fixture {
    /// `None` when PostgreSQL is explicitly skipped.
    pub async fn new(backend: Backend) -> Option<Fixture> {
        let db = TestDb::new(backend).await?;
        let store = db.open_store().await;
        let clock = Clock::fixed(START);
        Some(Fixture {
            directory: Directory::new(store.clone(), clock.clone()),
            mailstore: Mailstore::new(store.clone(), clock.clone()),
            queue: Queue::new(store.clone(), clock.clone()),
            store,
            clock,
            admin: Actor::admin("it-stttt"),
            db,
        })
    }

    /// The province's primary domain, the province and one department (`stttt`).
    pub async fn with_province(backend: Backend) -> Option<Fixture> {
        let f = Fixture::new(backend).await?;
        let mut domain = NewDomain::new("vinhphuc.gov.vn");
        domain.is_primary = true;
        f.directory.add_domain(&f.admin, domain).await.unwrap();
        f.directory
            .add_agency(
                &f.admin,
                agency(
                    "vinhphuc",
                    "UBND tỉnh Vĩnh Phúc",
                    AgencyLevel::Province,
                    None,
                ),
            )
            .await
            .unwrap();
        f.directory
            .add_agency(
                &f.admin,
                agency(
                    "stttt",
                    "Sở Thông tin và Truyền thông",
                    AgencyLevel::Department,
                    Some("vinhphuc"),
                ),
            )
            .await
            .unwrap();
        Some(f)
    }

    /// Adds an official in `stttt` with login `login` and address `login@vinhphuc.gov.vn`.
    pub async fn official(&self, login: &str, full_name: &str) -> Official {
        self.directory
            .add_official(&self.admin, new_official(login, full_name, "stttt"))
            .await
            .unwrap()
    }
}

/// A new agency without its own address.
pub fn agency(code: &str, name: &str, level: AgencyLevel, parent: Option<&str>) -> NewAgency {
    NewAgency {
        code: code.into(),
        name: name.into(),
        level,
        parent_code: parent.map(str::to_string),
        domain: None,
        mail_address: None,
    }
}

/// A new official with only the required attributes.
pub fn new_official(login: &str, full_name: &str, agency: &str) -> NewOfficial {
    NewOfficial {
        login: login.into(),
        name: PersonName::from_full(full_name).unwrap(),
        display_name: None,
        primary_address: format!("{login}@vinhphuc.gov.vn"),
        agency_code: agency.into(),
        unit: None,
        title: None,
        phone: None,
        hr_id: None,
        quota_bytes: None,
        password: None,
    }
}
