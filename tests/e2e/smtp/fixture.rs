//! The small province every SMTP test starts from, seeded through the directory before the
//! server starts: the primary domain and a second one, the province and Sở Nội vụ (with its
//! own address `vanthu.snv@`), officials with aliases, one disabled, one with a tiny quota,
//! a security group nested in a distribution list, and the agency's mail-officer group.

use std::net::SocketAddr;

use congvu::clock::{Clock, UnixTime};
use congvu::config::Config;
use congvu::directory::{
    Actor, AgencyLevel, Argon2Cost, Directory, GroupKind, MemberName, NewAgency, NewDomain,
    NewGroup, NewOfficial, OfficialStatus, PasswordCost, PasswordHasher, PersonName,
    StoredPassword,
};
use congvu::mailstore::{MailboxRole, MessageFlags};
use congvu::net::ListenerKind;
use congvu::server::RunningServer;
use congvu_tests::smtp::{RawSmtp, SmtpReply};
use congvu_tests::{server, Backend, TestDb};

/// The server's name, which its self-signed certificate carries.
pub const HOSTNAME: &str = "mail.vinhphuc.gov.vn";
/// 2026-11-27 08:00 Hanoi time.
pub const START: UnixTime = UnixTime(1_795_741_200);

/// A seeded official: login and password.
pub type Who = (&'static str, &'static str);
pub const ANNV: Who = ("annv", "An-matkhau-2026");
pub const NHUNG: Who = ("nhunglth", "Nhung-matkhau-2026");
pub const VAN: Who = ("vanlt", "Van-matkhau-2026");
/// Disabled.
pub const TUAN: Who = ("tuanpq", "Tuan-matkhau-2026");
/// A 2,000-byte quota.
pub const DAYHOP: Who = ("dayhop", "Dayhop-matkhau-2026");
/// Quota of [`DAYHOP`].
pub const SMALL_QUOTA: i64 = 2_000;

/// argon2id parameters cheap enough for tests.
const CHEAP: Argon2Cost = Argon2Cost {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// A running server over the seeded province.
pub struct Province {
    pub server: RunningServer,
    pub clock: Clock,
    pub db: TestDb,
}

impl std::fmt::Debug for Province {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Province").finish_non_exhaustive()
    }
}

impl Province {
    /// The province on a server with the test configuration.
    pub async fn start(backend: Backend) -> Option<Province> {
        Self::start_with(backend, |_| {}).await
    }

    /// The province on a server whose configuration `configure` adjusts.
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
    ) -> Option<Province> {
        let db = TestDb::new(backend).await?;
        let clock = Clock::fixed(START);
        let store = db.open_store().await;
        seed(&Directory::new(store.clone(), clock.clone())).await;
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

    pub fn directory(&self) -> &Directory {
        &self.server.services().directory
    }

    /// The address of a listener.
    pub fn addr(&self, kind: ListenerKind) -> SocketAddr {
        self.server.local_addr(kind).unwrap()
    }

    /// A raw connection to the MX port, greeted with EHLO.
    pub async fn mx(&self) -> RawSmtp {
        let (mut smtp, greeting) = RawSmtp::connect(self.addr(ListenerKind::Smtp)).await;
        assert_eq!(greeting.code, 220);
        assert_eq!(smtp.command("EHLO relay.example.org").await.code, 250);
        smtp
    }

    /// The bytes of every message in `login`'s INBOX, by UID.
    pub async fn inbox(&self, login: &str) -> Vec<Vec<u8>> {
        self.mailbox(login, MailboxRole::Inbox).await
    }

    /// The bytes of every message in one of `login`'s mailboxes, by UID.
    pub async fn mailbox(&self, login: &str, role: MailboxRole) -> Vec<Vec<u8>> {
        let services = self.server.services();
        let official = self.directory().official(login).await.unwrap();
        let mailboxes = services.mailstore.mailboxes(official.id).await.unwrap();
        let mailbox = mailboxes.iter().find(|m| m.role == Some(role)).unwrap();
        let mut bodies = Vec::new();
        for message in services.mailstore.messages(mailbox.id).await.unwrap() {
            assert_eq!(message.flags, MessageFlags::default());
            bodies.push(
                services
                    .mailstore
                    .body(message.body_id)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        bodies
    }

    /// Every message in `login`'s folder `name` (INBOX by role): its flags, its keywords
    /// joined by spaces, and its bytes as text; empty when there is no such folder.
    pub async fn folder(&self, login: &str, name: &str) -> Vec<(MessageFlags, String, String)> {
        let services = self.server.services();
        let official = self.directory().official(login).await.unwrap();
        let mailboxes = services.mailstore.mailboxes(official.id).await.unwrap();
        let Some(mailbox) = mailboxes.iter().find(|m| match name {
            "INBOX" => m.role == Some(MailboxRole::Inbox),
            _ => m.name == name,
        }) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for m in services.mailstore.messages(mailbox.id).await.unwrap() {
            let body = services.mailstore.body(m.body_id).await.unwrap().unwrap();
            let text = String::from_utf8_lossy(&body).into_owned();
            found.push((m.flags, m.keywords.join(" "), text));
        }
        found
    }

    /// A TLS connector that trusts the server's self-signed certificate.
    pub fn tls_connector(&self) -> tokio_rustls::TlsConnector {
        server::tls_connector(&self.db)
    }

    /// A submission session (587) after STARTTLS and EHLO, not yet authenticated.
    pub async fn submission_tls(
        &self,
    ) -> RawSmtp<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let (mut smtp, _) = RawSmtp::connect(self.addr(ListenerKind::Submission)).await;
        assert_eq!(smtp.command("EHLO laptop").await.code, 250);
        assert_eq!(smtp.command("STARTTLS").await.code, 220);
        let (tcp, rest) = smtp.into_parts();
        assert!(rest.is_empty());
        let name = rustls::pki_types::ServerName::try_from(HOSTNAME).unwrap();
        let tls = self.tls_connector().connect(name, tcp).await.unwrap();
        let mut smtp = RawSmtp::over(tls);
        assert_eq!(smtp.command("EHLO laptop").await.code, 250);
        smtp
    }

    /// A submission session after STARTTLS, authenticated as `who` with AUTH PLAIN.
    pub async fn submission_as(
        &self,
        who: Who,
    ) -> RawSmtp<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let mut smtp = self.submission_tls().await;
        let reply = smtp.command(&auth_plain(who.0, who.1)).await;
        assert_eq!(reply.line(), "235 2.7.0 Authentication successful");
        smtp
    }
}

/// `AUTH PLAIN` with an initial response.
pub fn auth_plain(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    format!("AUTH PLAIN {token}")
}

/// Sends one message through an open session: MAIL, each RCPT, DATA; returns every reply.
pub async fn send<S>(
    smtp: &mut RawSmtp<S>,
    from: &str,
    to: &[&str],
    message: &str,
) -> Vec<SmtpReply>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut replies = vec![smtp.command(&format!("MAIL FROM:<{from}>")).await];
    for rcpt in to {
        replies.push(smtp.command(&format!("RCPT TO:<{rcpt}>")).await);
    }
    let data = smtp.command("DATA").await;
    let started = data.code == 354;
    replies.push(data);
    if started {
        smtp.send(message.as_bytes()).await;
        smtp.send(b".\r\n").await;
        replies.push(smtp.reply().await.unwrap());
    }
    replies
}

/// A plain message from `from` to `to`.
pub fn message(from: &str, to: &str, subject: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Fri, 27 Nov 2026 08:00:00 +0700\r\nMessage-ID: <{subject}@test>\r\n\r\nNội dung thư.\r\n"
    )
}

fn stored(password: &str) -> StoredPassword {
    StoredPassword {
        hash: PasswordHasher::new(CHEAP)
            .hash(password, PasswordCost::Full)
            .unwrap(),
        cost: PasswordCost::Full,
        must_change: false,
    }
}

async fn seed(directory: &Directory) {
    let admin = Actor::admin("it-snv");
    let mut domain = NewDomain::new("vinhphuc.gov.vn");
    domain.is_primary = true;
    directory.add_domain(&admin, domain).await.unwrap();
    directory
        .add_domain(&admin, NewDomain::new("snv.vinhphuc.gov.vn"))
        .await
        .unwrap();
    for (code, name, level, parent, address) in [
        (
            "vinhphuc",
            "UBND tỉnh Vĩnh Phúc",
            AgencyLevel::Province,
            None,
            None,
        ),
        (
            "snv",
            "Sở Nội vụ",
            AgencyLevel::Department,
            Some("vinhphuc"),
            Some("vanthu.snv@vinhphuc.gov.vn"),
        ),
    ] {
        let agency = NewAgency {
            code: code.into(),
            name: name.into(),
            level,
            parent_code: parent.map(str::to_string),
            domain: None,
            mail_address: address.map(str::to_string),
        };
        directory.add_agency(&admin, agency).await.unwrap();
    }
    for ((login, password), full_name, quota) in [
        (ANNV, "Nguyễn Văn An", None),
        (NHUNG, "Lê Thị Hồng Nhung", None),
        (VAN, "Lý Thị Vân", None),
        (TUAN, "Phạm Quốc Tuấn", None),
        (DAYHOP, "Hộp Thư Đầy", Some(SMALL_QUOTA)),
    ] {
        let official = NewOfficial {
            login: login.into(),
            name: PersonName::from_full(full_name).unwrap(),
            display_name: None,
            primary_address: format!("{login}@vinhphuc.gov.vn"),
            agency_code: "snv".into(),
            unit: None,
            title: None,
            phone: None,
            hr_id: None,
            quota_bytes: quota,
            password: Some(stored(password)),
        };
        directory.add_official(&admin, official).await.unwrap();
    }
    directory
        .add_alias(&admin, "annv", "an.nguyen@snv.vinhphuc.gov.vn")
        .await
        .unwrap();
    directory
        .set_official_status(&admin, TUAN.0, OfficialStatus::Disabled)
        .await
        .unwrap();
    for (name, kind, address) in [
        ("lanhdao-snv", GroupKind::Group, None),
        (
            "toanso-snv",
            GroupKind::List,
            Some("toanso@vinhphuc.gov.vn"),
        ),
        ("vanthu-snv", GroupKind::Group, None),
    ] {
        let group = NewGroup {
            name: name.into(),
            display_name: name.into(),
            description: None,
            kind,
            agency_code: Some("snv".into()),
            address: address.map(str::to_string),
        };
        directory.add_group(&admin, group).await.unwrap();
    }
    for (group, member) in [
        ("lanhdao-snv", MemberName::Official("annv".into())),
        ("lanhdao-snv", MemberName::Official("nhunglth".into())),
        ("toanso-snv", MemberName::Group("lanhdao-snv".into())),
        ("toanso-snv", MemberName::Official("annv".into())),
        ("toanso-snv", MemberName::Official("vanlt".into())),
        ("toanso-snv", MemberName::Official("tuanpq".into())),
        ("vanthu-snv", MemberName::Official("vanlt".into())),
    ] {
        directory
            .add_group_member(&admin, group, &member)
            .await
            .unwrap();
    }
}
