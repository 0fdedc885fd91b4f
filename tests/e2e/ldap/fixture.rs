//! The province every LDAP test starts from, seeded through the directory before the server
//! starts: the primary domain, four agencies (the province, its Sở Nội vụ, a city and a ward
//! of that city), seven officials with Vietnamese names, one of them disabled and one who must
//! change their password, aliases, nested groups, a distribution list, a certificate, and
//! service accounts with and without a scope and the right to reset passwords.

use std::net::SocketAddr;

use congvu::clock::{Clock, UnixTime};
use congvu::config::Config;
use congvu::directory::{
    Actor, AgencyLevel, Argon2Cost, Directory, GroupKind, ImportField, ImportOptions, ImportRow,
    MemberName, NewAgency, NewCertificate, NewDomain, NewGroup, NewOfficial, NewServiceAccount,
    OfficialStatus, PasswordCost, PasswordHash, PasswordHasher, PersonName, StoredPassword,
};
use congvu::net::ListenerKind;
use congvu::server::RunningServer;
use congvu_tests::ldap::{self, RawLdap, Transport};
use congvu_tests::{server, Backend, TestDb};
use ldap3::Ldap;

/// The server's name, which its self-signed certificate carries.
pub const HOSTNAME: &str = "mail.vinhphuc.gov.vn";

pub const BASE: &str = "dc=vinhphuc,dc=gov,dc=vn";
pub const PEOPLE: &str = "ou=people,dc=vinhphuc,dc=gov,dc=vn";
pub const AGENCIES: &str = "ou=agencies,dc=vinhphuc,dc=gov,dc=vn";
pub const GROUPS: &str = "ou=groups,dc=vinhphuc,dc=gov,dc=vn";
pub const SERVICES: &str = "ou=services,dc=vinhphuc,dc=gov,dc=vn";

/// 2026-11-27 08:00 Hanoi time: the fixed clock of every LDAP test.
pub const START: UnixTime = UnixTime(1_795_741_200);
/// [`START`] as GeneralizedTime: when every seeded entry was created.
pub const START_GENERALIZED: &str = "20261127010000Z";

/// The DN of an official.
pub fn person(login: &str) -> String {
    format!("uid={login},{PEOPLE}")
}

/// The DN of a group or distribution list.
pub fn group(name: &str) -> String {
    format!("cn={name},{GROUPS}")
}

/// The DN of an agency.
pub fn agency(code: &str) -> String {
    format!("ou={code},{AGENCIES}")
}

/// The DN of a service account.
pub fn service(name: &str) -> String {
    format!("cn={name},{SERVICES}")
}

/// A seeded account and its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Official(&'static str, &'static str),
    Service(&'static str, &'static str),
}

impl Who {
    /// The login or service name.
    pub fn name(self) -> &'static str {
        match self {
            Who::Official(name, _) | Who::Service(name, _) => name,
        }
    }

    pub fn dn(self) -> String {
        match self {
            Who::Official(login, _) => person(login),
            Who::Service(name, _) => service(name),
        }
    }

    pub fn password(self) -> &'static str {
        match self {
            Who::Official(_, password) | Who::Service(_, password) => password,
        }
    }
}

/// Nguyễn Văn An, Giám đốc Sở Nội vụ: two groups, an alias, a certificate.
pub const ANNV: Who = Who::Official("annv", "An-matkhau-2026");
/// Lê Thị Hồng Nhung, Phó Giám đốc Sở Nội vụ: two aliases, her own display name.
pub const NHUNG: Who = Who::Official("nhunglth", "Nhung-matkhau-2026");
/// Đỗ Đức Anh, of the city of Vĩnh Yên: in a group nested in another.
pub const ANH: Who = Who::Official("anhdd", "Anh-matkhau-2026");
/// Đặng Thị Thu Hà, of Liên Bảo ward: must change her password.
pub const HA: Who = Who::Official("hadtt", "Ha-matkhau-2026");
/// Phạm Quốc Tuấn, Sở Nội vụ: disabled.
pub const TUAN: Who = Who::Official("tuanpq", "Tuan-matkhau-2026");
/// Trần Đặc Biệt, Sở Nội vụ: a title full of filter metacharacters.
pub const DACBIET: Who = Who::Official("dacbiet", "DacBiet-matkhau-2026");
/// Lý Thị Vân, Sở Nội vụ: an ordinary "Chuyên viên".
pub const VAN: Who = Who::Official("vanlt", "Van-matkhau-2026");

/// Reads the whole directory.
pub const MAILAPP: Who = Who::Service("mailapp", "Mailapp-secret-2026");
/// Reads the city of Vĩnh Yên and the ward below it.
pub const PORTAL: Who = Who::Service("vinhyen-portal", "Portal-secret-2026");
/// Reads the whole directory and may reset passwords.
pub const HRSYNC: Who = Who::Service("hrsync", "Hrsync-secret-2026");
/// May reset passwords in the city of Vĩnh Yên only.
pub const VINHYEN_HR: Who = Who::Service("vinhyen-hr", "VinhyenHr-secret-2026");

/// The title with every character a filter or SQL `LIKE` treats specially.
pub const SPECIAL_TITLE: &str = "50% (tạm) \\ _x_ 'a' *b";

/// Every active official's login, sorted.
pub const ACTIVE: [&str; 6] = ["anhdd", "annv", "dacbiet", "hadtt", "nhunglth", "vanlt"];

/// The certificate attached to `annv`.
pub fn annv_certificate() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/leaf-annv.der"
    ))
    .unwrap()
}

/// The password given to every official of a bulk import.
pub const BULK_PASSWORD: &str = "Canbo-matkhau-2026";

/// The login of the `i`th official of a bulk import.
pub fn bulk_login(i: usize) -> String {
    format!("canbo{i:05}")
}

/// argon2id parameters cheap enough for tests; the server verifies whatever a hash names.
const CHEAP: Argon2Cost = Argon2Cost {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// A running server over a seeded province, with the clock the test moves.
pub struct Province {
    pub server: RunningServer,
    pub clock: Clock,
    pub db: TestDb,
}

impl std::fmt::Debug for Province {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Province")
            .field("listeners", &self.server.listeners())
            .finish()
    }
}

impl Province {
    /// The province on a server with the test configuration. `None` only when PostgreSQL
    /// is explicitly skipped.
    pub async fn start(backend: Backend) -> Option<Province> {
        Self::start_with(backend, 0, |_| {}).await
    }

    /// The province plus `bulk` more officials of Sở Nội vụ ([`bulk_login`]), on a server
    /// whose configuration `configure` adjusts.
    pub async fn start_with(
        backend: Backend,
        bulk: usize,
        configure: impl FnOnce(&mut Config),
    ) -> Option<Province> {
        let db = TestDb::new(backend).await?;
        let clock = Clock::fixed(START);
        let store = db.open_store().await;
        let directory = Directory::new(store.clone(), clock.clone());
        seed(&directory).await;
        if bulk > 0 {
            seed_bulk(&directory, bulk).await;
        }
        store.close().await;

        let mut config = server::test_config(&db);
        config.auth.argon2_memory_kib = CHEAP.memory_kib;
        config.auth.argon2_iterations = CHEAP.iterations;
        configure(&mut config);
        let server = RunningServer::start_with_clock(&config, clock.clone())
            .await
            .unwrap();
        Some(Province { server, clock, db })
    }

    /// The server's own directory, for changes made while it runs.
    pub fn directory(&self) -> &Directory {
        &self.server.services().directory
    }

    /// The LDAP (StartTLS) port.
    pub fn ldap_addr(&self) -> SocketAddr {
        self.server.local_addr(ListenerKind::Ldap).unwrap()
    }

    /// The LDAPS port.
    pub fn ldaps_addr(&self) -> SocketAddr {
        self.server.local_addr(ListenerKind::Ldaps).unwrap()
    }

    /// An unbound client over `transport`.
    pub async fn client(&self, transport: Transport) -> Ldap {
        match transport {
            Transport::Ldaps => ldap::connect(self.ldaps_addr(), transport).await,
            Transport::StartTls | Transport::Plain => {
                ldap::connect(self.ldap_addr(), transport).await
            }
        }
    }

    /// An unbound client over StartTLS.
    pub async fn anonymous(&self) -> Ldap {
        self.client(Transport::StartTls).await
    }

    /// A client over StartTLS, bound as `who`.
    pub async fn bound(&self, who: Who) -> Ldap {
        let mut client = self.anonymous().await;
        ldap::bind(&mut client, &who.dn(), who.password())
            .await
            .success()
            .unwrap_or_else(|e| panic!("bind as {} refused: {e}", who.dn()));
        client
    }

    /// A raw connection to the plain LDAP port.
    pub async fn raw(&self) -> RawLdap {
        RawLdap::connect(self.ldap_addr()).await
    }

    /// A TLS connector that trusts the server's generated self-signed certificate, for
    /// server name [`HOSTNAME`].
    pub fn tls_connector(&self) -> tokio_rustls::TlsConnector {
        server::tls_connector(&self.db)
    }
}

fn hasher() -> PasswordHasher {
    PasswordHasher::new(CHEAP)
}

fn stored(password: &str, must_change: bool) -> StoredPassword {
    StoredPassword {
        hash: hasher().hash(password, PasswordCost::Full).unwrap(),
        cost: PasswordCost::Full,
        must_change,
    }
}

fn secret(password: &str) -> PasswordHash {
    hasher().hash(password, PasswordCost::Full).unwrap()
}

/// One seeded official.
struct SeedOfficial {
    who: Who,
    full_name: &'static str,
    display_name: Option<&'static str>,
    agency: &'static str,
    unit: Option<&'static str>,
    title: Option<&'static str>,
    phone: Option<&'static str>,
    hr_id: &'static str,
    must_change: bool,
}

const OFFICIALS: [SeedOfficial; 7] = [
    SeedOfficial {
        who: ANNV,
        full_name: "Nguyễn Văn An",
        display_name: None,
        agency: "snv",
        unit: Some("Ban Giám đốc"),
        title: Some("Giám đốc"),
        phone: Some("0211 3862 001"),
        hr_id: "SNV-001",
        must_change: false,
    },
    SeedOfficial {
        who: NHUNG,
        full_name: "Lê Thị Hồng Nhung",
        display_name: Some("Lê Thị Hồng Nhung – Sở Nội vụ"),
        agency: "snv",
        unit: Some("Ban Giám đốc"),
        title: Some("Phó Giám đốc"),
        phone: Some("0211 3862 002"),
        hr_id: "SNV-002",
        must_change: false,
    },
    SeedOfficial {
        who: ANH,
        full_name: "Đỗ Đức Anh",
        display_name: None,
        agency: "vinhyen",
        unit: Some("Văn phòng HĐND và UBND"),
        title: Some("Chánh Văn phòng"),
        phone: Some("0912-000-003"),
        hr_id: "VY-003",
        must_change: false,
    },
    SeedOfficial {
        who: HA,
        full_name: "Đặng Thị Thu Hà",
        display_name: None,
        agency: "lienbao",
        unit: None,
        title: Some("Chủ tịch UBND phường"),
        phone: Some("0912 000 004"),
        hr_id: "LB-004",
        must_change: true,
    },
    SeedOfficial {
        who: TUAN,
        full_name: "Phạm Quốc Tuấn",
        display_name: None,
        agency: "snv",
        unit: Some("Phòng Tổ chức"),
        title: Some("Chuyên viên"),
        phone: Some("0211 3862 005"),
        hr_id: "SNV-005",
        must_change: false,
    },
    SeedOfficial {
        who: DACBIET,
        full_name: "Trần Đặc Biệt",
        display_name: None,
        agency: "snv",
        unit: Some("Phòng Tổ chức"),
        title: Some(SPECIAL_TITLE),
        phone: None,
        hr_id: "SNV-006",
        must_change: false,
    },
    SeedOfficial {
        who: VAN,
        full_name: "Lý Thị Vân",
        display_name: None,
        agency: "snv",
        unit: Some("Phòng Tổ chức"),
        title: Some("Chuyên viên"),
        phone: None,
        hr_id: "SNV-007",
        must_change: false,
    },
];

fn new_agency(code: &str, name: &str, level: AgencyLevel, parent: Option<&str>) -> NewAgency {
    NewAgency {
        code: code.into(),
        name: name.into(),
        level,
        parent_code: parent.map(str::to_string),
        domain: None,
        mail_address: None,
    }
}

async fn seed(directory: &Directory) {
    let admin = Actor::admin("it-snv");
    let mut domain = NewDomain::new("vinhphuc.gov.vn");
    domain.is_primary = true;
    directory.add_domain(&admin, domain).await.unwrap();
    for agency in [
        new_agency(
            "vinhphuc",
            "UBND tỉnh Vĩnh Phúc",
            AgencyLevel::Province,
            None,
        ),
        new_agency(
            "snv",
            "Sở Nội vụ",
            AgencyLevel::Department,
            Some("vinhphuc"),
        ),
        new_agency(
            "vinhyen",
            "UBND thành phố Vĩnh Yên",
            AgencyLevel::District,
            Some("vinhphuc"),
        ),
        new_agency(
            "lienbao",
            "UBND phường Liên Bảo",
            AgencyLevel::Commune,
            Some("vinhyen"),
        ),
    ] {
        directory.add_agency(&admin, agency).await.unwrap();
    }

    for o in &OFFICIALS {
        let login = o.who.name();
        directory
            .add_official(
                &admin,
                NewOfficial {
                    login: login.into(),
                    name: PersonName::from_full(o.full_name).unwrap(),
                    display_name: o.display_name.map(str::to_string),
                    primary_address: format!("{login}@vinhphuc.gov.vn"),
                    agency_code: o.agency.into(),
                    unit: o.unit.map(str::to_string),
                    title: o.title.map(str::to_string),
                    phone: o.phone.map(str::to_string),
                    hr_id: Some(o.hr_id.into()),
                    quota_bytes: None,
                    password: Some(stored(o.who.password(), o.must_change)),
                },
            )
            .await
            .unwrap();
    }
    for (login, alias) in [
        ("annv", "an.nguyen@vinhphuc.gov.vn"),
        ("nhunglth", "nhung.le@vinhphuc.gov.vn"),
        ("nhunglth", "hongnhung@vinhphuc.gov.vn"),
    ] {
        directory.add_alias(&admin, login, alias).await.unwrap();
    }
    directory
        .set_official_status(&admin, TUAN.name(), OfficialStatus::Disabled)
        .await
        .unwrap();
    directory
        .add_certificate(
            &admin,
            ANNV.name(),
            NewCertificate {
                der: annv_certificate(),
                serial: "2A63125E8F3B7C318575D9064E931CAB320EAEC8".into(),
                issuer: "CN=Nguyen Van An,O=So Thong tin va Truyen thong".into(),
                subject: "CN=Nguyen Van An,O=So Thong tin va Truyen thong".into(),
                not_before: START.plus(-86_400),
                not_after: START.plus(3 * 365 * 86_400),
                key_usage: Some("digitalSignature".into()),
            },
        )
        .await
        .unwrap();

    seed_groups(directory, &admin).await;
    seed_services(directory, &admin).await;
}

async fn seed_groups(directory: &Directory, admin: &Actor) {
    for (name, display, description, kind, address) in [
        (
            "lanhdao",
            "Lãnh đạo",
            "Lãnh đạo Sở Nội vụ và Văn phòng",
            GroupKind::Group,
            None,
        ),
        (
            "vanphong",
            "Văn phòng",
            "Văn phòng HĐND và UBND thành phố Vĩnh Yên",
            GroupKind::Group,
            None,
        ),
        (
            "toanso",
            "Toàn Sở Nội vụ",
            "Danh sách thư toàn Sở Nội vụ",
            GroupKind::List,
            Some("toanso@vinhphuc.gov.vn"),
        ),
    ] {
        directory
            .add_group(
                admin,
                NewGroup {
                    name: name.into(),
                    display_name: display.into(),
                    description: Some(description.into()),
                    kind,
                    agency_code: None,
                    address: address.map(str::to_string),
                },
            )
            .await
            .unwrap();
    }
    for (group, member) in [
        ("lanhdao", MemberName::Official("annv".into())),
        ("lanhdao", MemberName::Group("vanphong".into())),
        ("vanphong", MemberName::Official("anhdd".into())),
        ("toanso", MemberName::Official("annv".into())),
        ("toanso", MemberName::Official("nhunglth".into())),
        ("toanso", MemberName::Official("vanlt".into())),
    ] {
        directory
            .add_group_member(admin, group, &member)
            .await
            .unwrap();
    }
}

async fn seed_services(directory: &Directory, admin: &Actor) {
    for (who, description, scope, may_reset_passwords) in [
        (MAILAPP, "Cổng thư điện tử", None, false),
        (
            PORTAL,
            "Cổng dịch vụ công thành phố Vĩnh Yên",
            Some("vinhyen"),
            false,
        ),
        (HRSYNC, "Đồng bộ nhân sự", None, true),
        (
            VINHYEN_HR,
            "Phòng Nội vụ thành phố Vĩnh Yên",
            Some("vinhyen"),
            true,
        ),
    ] {
        directory
            .add_service_account(
                admin,
                NewServiceAccount {
                    name: who.name().into(),
                    description: Some(description.into()),
                    scope_agency_code: scope.map(str::to_string),
                    may_reset_passwords,
                },
                secret(who.password()),
            )
            .await
            .unwrap();
    }
}

/// Adds `count` officials to Sở Nội vụ through the bulk import path, all with
/// [`BULK_PASSWORD`] (hashed once).
async fn seed_bulk(directory: &Directory, count: usize) {
    const BATCH: usize = 1000;
    let rows: Vec<ImportRow> = (0..count)
        .map(|i| ImportRow {
            line: i as u64 + 2,
            full_name: Some("Nguyễn Thị Thử".into()),
            email: Some(format!("{}@vinhphuc.gov.vn", bulk_login(i))),
            employee_id: Some(format!("BULK-{i:05}")),
            ..ImportRow::default()
        })
        .collect();
    let options = ImportOptions {
        agency_code: "snv".into(),
        address_rule: None,
        columns: vec![
            ImportField::FullName,
            ImportField::Email,
            ImportField::EmployeeId,
        ],
        disable_missing: false,
    };
    let plan = directory.plan_import(&rows, &options).await.unwrap();
    assert_eq!(plan.creates.len(), count, "{:?}", plan.rejected);
    let password = stored(BULK_PASSWORD, false);
    let (batches, received) = tokio::sync::mpsc::channel(count.div_ceil(BATCH));
    for start in (0..count).step_by(BATCH) {
        let size = BATCH.min(count - start);
        batches.send(vec![password.clone(); size]).await.unwrap();
    }
    drop(batches);
    let outcome = directory
        .apply_import(&Actor::admin("it-snv"), &plan, received)
        .await
        .unwrap();
    assert_eq!(outcome.created, count);
}
