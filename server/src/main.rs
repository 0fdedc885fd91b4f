//! `congvu-server`: loads the configuration, starts every configured listener, and runs
//! until SIGTERM or SIGINT, then shuts down gracefully.
//!
//! Exit status: 0 after a clean shutdown, 1 if the server could not start (port taken,
//! database unreachable, unreadable certificate), 2 for a bad configuration or bad usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use congvu::config::Config;
use congvu::server::RunningServer;

/// The congvu mail and directory server.
#[derive(Debug, Parser)]
#[command(name = "congvu-server", version, about)]
struct Args {
    /// Configuration file (TOML). CONGVU_<SECTION>__<KEY> variables override its values.
    #[arg(
        long,
        short,
        env = "CONGVU_CONFIG",
        default_value = "config/congvu.toml"
    )]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("congvu-server: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        eprintln!("congvu-server: {} is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    congvu::telemetry::init_logging(config.server.log_format, &config.server.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("congvu-server: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    let server = match RunningServer::start(&config).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    // Watching the signals starts before "ready": a supervisor that stops the server the
    // moment it is ready must get a clean shutdown, not the signal's default death.
    let signals = ShutdownSignals::watch();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), hostname = %config.server.hostname, "congvu ready");
    let token = server.shutdown_token();
    tokio::spawn(async move {
        let signal = signals.received().await;
        tracing::info!(
            signal,
            "shutting down: no new connections, open sessions may finish"
        );
        token.cancel();
    });
    let drained = server.run_until_shutdown().await;
    tracing::info!(drained, "stopped");
    ExitCode::SUCCESS
}

/// SIGTERM (systemd stop) and SIGINT (Ctrl-C), watched from creation on.
struct ShutdownSignals {
    term: Option<tokio::signal::unix::Signal>,
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn watch() -> ShutdownSignals {
        use tokio::signal::unix::{signal, SignalKind};
        let watch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch {name}");
                None
            }
        };
        ShutdownSignals {
            term: watch(SignalKind::terminate(), "SIGTERM"),
            interrupt: watch(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// Waits for either signal and names it.
    async fn received(mut self) -> &'static str {
        async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(&mut self.term) => "SIGTERM",
            () = next(&mut self.interrupt) => "SIGINT",
        }
    }
}
