//! The server's lifecycle: open the store, set up TLS, bind every configured listener
//! (failing fast and clearly if one cannot be bound), serve, and on shutdown stop accepting,
//! let sessions finish up to the grace period, and close the store.

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::config::Config;
use crate::directory::{follow_recipients, read_apart, Authenticator, Directory, DirectoryError};
use crate::dkim::{load_dkim_signers, DKIM_REFRESH};
use crate::ldap::{LdapService, LdapSettings};
use crate::mailstore::{Intake, Mailstore};
use crate::net::tls::{self, TlsError};
use crate::net::{
    self, AcceptContext, BindError, Connection, ConnectionHandler, ConnectionLimits, ListenerKind,
    Refusal, Stream,
};
use crate::smtp::{SmtpService, SmtpSettings};
use crate::store::{Store, StoreError, StoreOptions};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot load the directory: {0}")]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Dns(#[from] crate::dns::DnsSetupError),
}

/// The shared services every session reaches the domain through.
#[derive(Debug, Clone)]
pub struct Services {
    pub store: Store,
    pub directory: Directory,
    pub mailstore: Mailstore,
    pub clock: Clock,
    /// This node's outbound delivery workers.
    pub queue: crate::queue::QueueHandle,
    /// Certificate expiry notices (the server also sends them on its own schedule).
    pub expiry: crate::expiry::ExpiryNotices,
}

/// Routes each admitted connection to its protocol's session.
#[derive(Debug)]
struct Sessions {
    hostname: String,
    ldap: Arc<crate::ldap::LdapService>,
    smtp: Arc<SmtpService>,
    imap: Arc<crate::imap::ImapService>,
    http: Arc<crate::http::HttpService>,
    managesieve: Arc<crate::managesieve::ManageSieveService>,
}

impl ConnectionHandler for Sessions {
    async fn serve(&self, conn: Connection) {
        let kind = conn.kind;
        let peer = conn.peer;
        tracing::debug!(listener = %kind, %peer, "connection opened");
        metrics::gauge!("congvu_connections_open", "listener" => kind.as_str()).increment(1.0);
        match kind {
            ListenerKind::Smtp | ListenerKind::Submission | ListenerKind::Submissions => {
                self.smtp.serve(conn).await
            }
            ListenerKind::Imap | ListenerKind::Imaps => self.imap.serve(conn).await,
            ListenerKind::Ldap | ListenerKind::Ldaps => self.ldap.serve(conn).await,
            ListenerKind::Http | ListenerKind::Https => self.http.serve(conn).await,
            ListenerKind::ManageSieve => self.managesieve.serve(conn).await,
        }
        metrics::gauge!("congvu_connections_open", "listener" => kind.as_str()).decrement(1.0);
        tracing::debug!(listener = %kind, %peer, "connection closed");
    }

    async fn refuse(&self, kind: ListenerKind, stream: Stream, why: Refusal) {
        match kind {
            ListenerKind::Smtp | ListenerKind::Submission | ListenerKind::Submissions => {
                crate::smtp::refuse(stream, &self.hostname, why).await
            }
            ListenerKind::Imap | ListenerKind::Imaps => crate::imap::refuse(stream, why).await,
            ListenerKind::Ldap | ListenerKind::Ldaps => crate::ldap::refuse(stream, why).await,
            ListenerKind::Http | ListenerKind::Https => crate::http::refuse(stream, why).await,
            ListenerKind::ManageSieve => crate::managesieve::refuse(stream, why).await,
        }
    }
}

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    listeners: Vec<(ListenerKind, SocketAddr)>,
    services: Services,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    grace: Duration,
}

impl RunningServer {
    /// Opens the store, binds every listener `config` enables and starts serving.
    pub async fn start(config: &Config) -> Result<RunningServer, StartError> {
        Self::start_with_clock(config, Clock::system()).await
    }

    /// Like [`RunningServer::start`], with the clock tests control.
    pub async fn start_with_clock(
        config: &Config,
        clock: Clock,
    ) -> Result<RunningServer, StartError> {
        // The recorder first: a figure recorded before it is installed is lost, and the
        // queue's workers set their gauges as soon as they start.
        crate::telemetry::recorder();
        create_data_dir(&config.server.data_dir)?;
        let store = Store::open(&StoreOptions::from_config(&config.database)).await?;
        let tls = tls_acceptor(config)?;
        let bound = bind_all(config).await?;
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let directory = Directory::new(store.clone(), clock.clone());
        let mailstore = Mailstore::new(store.clone(), clock.clone());
        let expiry = crate::expiry::ExpiryNotices::new(
            directory.clone(),
            mailstore.clone(),
            config.certificates.expiry_warning_days,
            &config.server.primary_domain,
            &config.server.hostname,
        );
        tracker.spawn(expiry.clone().run(
            Duration::from_secs(config.certificates.expiry_check_seconds),
            shutdown.clone(),
        ));
        let queue = crate::queue::start(
            config,
            store.clone(),
            clock.clone(),
            shutdown.clone(),
            &tracker,
        );
        let services = Services {
            queue,
            directory,
            mailstore,
            store,
            clock,
            expiry,
        };
        let sessions = Arc::new(Sessions::new(config, &services, &tls).await?);
        spawn_maintenance(config, &services, &shutdown, &tracker);
        let ctx = AcceptContext {
            limits: ConnectionLimits::new(
                config.limits.max_connections,
                config.limits.max_connections_per_ip,
            ),
            tls: Some(tls),
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            handshake_timeout: Duration::from_secs(config.limits.request_timeout_seconds.min(60)),
        };
        let mut listeners = Vec::with_capacity(bound.len());
        for (kind, listener, address) in bound {
            tracing::info!(listener = %kind, %address, "listening");
            listeners.push((kind, address));
            tracker.spawn(net::accept_loop(
                kind,
                listener,
                Arc::clone(&sessions),
                ctx.clone(),
            ));
        }
        Ok(RunningServer {
            listeners,
            services,
            shutdown,
            tracker,
            grace: Duration::from_secs(config.server.shutdown_grace_seconds),
        })
    }

    /// The address a listener of `kind` is bound to (its first, if it has several).
    pub fn local_addr(&self, kind: ListenerKind) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, a)| *a)
    }

    /// Every bound listener.
    pub fn listeners(&self) -> &[(ListenerKind, SocketAddr)] {
        &self.listeners
    }

    /// The domain services, for in-process callers and tests.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// A token that starts the shutdown when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until shutdown is requested, then stops accepting, gives open sessions up to
    /// the grace period to finish, and closes the store. Returns whether every session
    /// finished in time.
    pub async fn run_until_shutdown(self) -> bool {
        self.shutdown.cancelled().await;
        self.stop().await
    }

    /// Shuts down now (see [`RunningServer::run_until_shutdown`]).
    pub async fn stop(self) -> bool {
        self.shutdown.cancel();
        self.tracker.close();
        let drained = tokio::time::timeout(self.grace, self.tracker.wait())
            .await
            .is_ok();
        if !drained {
            tracing::warn!(
                grace_seconds = self.grace.as_secs(),
                "sessions still open after the grace period; closing them"
            );
        }
        self.services.store.close().await;
        drained
    }
}

/// Creates the data directory, owner-only: it holds the database (password hashes) and TLS
/// keys.
fn create_data_dir(data_dir: &Path) -> Result<(), StartError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|source| StartError::DataDir {
            path: data_dir.to_owned(),
            source,
        })
}

/// The periodic work beside the protocols: ended portal sessions swept, scheduled backups,
/// and (on PostgreSQL) other nodes' mailbox changes followed to wake this node's IMAP
/// sessions.
fn spawn_maintenance(
    config: &Config,
    services: &Services,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) {
    tracker.spawn(sweep_portal(
        services.directory.clone(),
        crate::http::PortalSettings::from_config(config).sessions,
        shutdown.clone(),
    ));
    tracker.spawn(crate::backup::schedule::run(
        services.store.clone(),
        services.clock.clone(),
        config.backup.clone(),
        shutdown.clone(),
    ));
    let (store, token) = (services.store.clone(), shutdown.clone());
    tracker.spawn(async move { store.follow_other_nodes(token).await });
}

impl Sessions {
    /// Every protocol's service over the shared domain services, with one authenticator
    /// (one lockout and throttle for every way of signing in).
    async fn new(
        config: &Config,
        services: &Services,
        tls: &tokio_rustls::TlsAcceptor,
    ) -> Result<Sessions, StartError> {
        let Services {
            queue,
            directory,
            mailstore,
            store,
            clock,
            ..
        } = services;
        let authenticator = Authenticator::new(directory.clone(), &config.auth).await?;
        // Every view of the whole directory is built from one snapshot, read once and
        // dropped with this function's frame once they are all built.
        let snapshot = read_apart(directory.clone()).await?;
        let ldap = LdapService::new(
            LdapSettings::from_config(config),
            directory.clone(),
            &snapshot,
            Arc::clone(&authenticator),
            Some(tls.clone()),
        );
        let intake = {
            let queue = queue.clone();
            Intake::start(store.clone(), clock.clone(), Arc::new(move || queue.wake()))
        };
        let engines = crate::filter::Engines::new(&config.filter.rspamd, &config.filter.clamav);
        let imap = crate::imap::ImapService::new(
            crate::imap::ImapSettings::from_config(config),
            Arc::clone(&authenticator),
            mailstore.clone(),
            Some(tls.clone()),
        )
        .with_learner(engines.learner());
        let filters = crate::sieve::Filters::new(&config.server.hostname, config.sieve.redirect);
        let scripts =
            crate::sieve::scripts::Scripts::new(store.clone(), clock.clone(), Arc::new(filters));
        let managesieve = crate::managesieve::ManageSieveService::new(
            crate::managesieve::ManageSieveSettings::from_config(config),
            Arc::clone(&authenticator),
            scripts.clone(),
            Some(tls.clone()),
        );
        let http = http_service(
            config,
            store,
            directory,
            &authenticator,
            mailstore,
            &scripts,
        );
        let smtp = SmtpService::new(
            SmtpSettings::from_config(config),
            follow_recipients(directory.clone(), &snapshot),
            authenticator,
            intake,
            mailstore.clone(),
            Some(tls.clone()),
            load_dkim_signers(directory.clone(), DKIM_REFRESH).await?,
        );
        let smtp = inbound_checks(config, smtp.with_scripts(scripts), engines)?;
        Ok(Sessions {
            hostname: config.server.hostname.clone(),
            ldap: Arc::new(ldap),
            smtp: Arc::new(smtp),
            imap: Arc::new(imap),
            http: Arc::new(http),
            managesieve: Arc::new(managesieve),
        })
    }
}

/// The HTTP listeners' service: health, metrics, autoconfiguration and the portal.
fn http_service(
    config: &Config,
    store: &Store,
    directory: &Directory,
    authenticator: &Arc<Authenticator>,
    mailstore: &Mailstore,
    scripts: &crate::sieve::scripts::Scripts,
) -> crate::http::HttpService {
    let autoconfig = crate::http::Autoconfig::new(
        crate::http::AutoconfigSettings::from_config(config),
        directory.clone(),
    );
    let portal_settings = crate::http::PortalSettings::from_config(config);
    let settings = crate::http::HttpSettings {
        header_timeout: Duration::from_secs(config.http.header_timeout_seconds),
        request_timeout: Duration::from_secs(config.http.request_timeout_seconds),
        public_https: portal_settings.public_https(),
    };
    let portal = crate::http::Portal::new(
        portal_settings,
        Arc::clone(authenticator),
        mailstore.clone(),
        scripts.clone(),
    );
    crate::http::HttpService::new(store.clone(), autoconfig, portal, settings)
}

/// How often ended portal sessions and expired reset links are forgotten.
const PORTAL_SWEEP: Duration = Duration::from_secs(600);

/// Forgets ended portal sessions and expired reset links now and then. They are refused
/// when used whether or not they were swept; this only keeps the tables small.
async fn sweep_portal(
    directory: Directory,
    policy: crate::directory::SessionPolicy,
    shutdown: CancellationToken,
) {
    loop {
        if let Err(error) = directory.sweep_portal(policy).await {
            tracing::warn!(%error, "cannot sweep ended portal sessions");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(PORTAL_SWEEP) => {}
        }
    }
}

fn tls_acceptor(config: &Config) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let (cert, key) = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let files = tls::self_signed_files(&config.server.data_dir, &config.server.hostname)?;
            tracing::warn!(
                cert = %files.0.display(),
                "no TLS certificate configured: using a self-signed development certificate; clients will warn"
            );
            files
        }
    };
    tls::acceptor_from_files(&cert, &key)
}

async fn bind_all(
    config: &Config,
) -> Result<Vec<(ListenerKind, TcpListener, SocketAddr)>, BindError> {
    let wanted = [
        (ListenerKind::Smtp, &config.smtp.listen),
        (ListenerKind::Submission, &config.smtp.submission_listen),
        (ListenerKind::Submissions, &config.smtp.submissions_listen),
        (ListenerKind::Imap, &config.imap.listen),
        (ListenerKind::Imaps, &config.imap.imaps_listen),
        (ListenerKind::Ldap, &config.ldap.listen),
        (ListenerKind::Ldaps, &config.ldap.ldaps_listen),
        (ListenerKind::Http, &config.http.listen),
        (ListenerKind::Https, &config.http.https_listen),
        (ListenerKind::ManageSieve, &config.sieve.managesieve_listen),
    ];
    let mut bound = Vec::new();
    for (kind, addresses) in wanted {
        for address in addresses.iter() {
            let (listener, local) = net::bind(kind, address.0).await?;
            bound.push((kind, listener, local));
        }
    }
    Ok(bound)
}

/// `smtp` with the MX's checks: sender authentication (unless `[inbound] authentication =
/// "off"`), blocklists and the content filters. The resolver is made only when something
/// asks DNS.
fn inbound_checks(
    config: &Config,
    smtp: SmtpService,
    engines: crate::filter::Engines,
) -> Result<SmtpService, StartError> {
    let authenticating = config.inbound.authentication != crate::config::AuthenticationMode::Off;
    if !authenticating && config.filter.dnsbl.is_empty() {
        return Ok(smtp.with_filters(engines, None));
    }
    let resolver = crate::dns::authenticator(&config.dns)?;
    let blocklists = crate::inbound::Blocklists::new(resolver.clone(), &config.filter.dnsbl);
    let smtp = smtp.with_filters(engines, blocklists);
    if !authenticating {
        return Ok(smtp);
    }
    let records = std::sync::Arc::new(crate::dns::RecordCaches::new(&config.dns));
    let check = crate::inbound::SenderCheck::new(
        resolver,
        records,
        &config.server.hostname,
        config.inbound.clone(),
    );
    Ok(smtp.with_sender_check(check))
}
