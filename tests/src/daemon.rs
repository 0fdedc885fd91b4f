//! How the tests' private daemons (Dovecot, rspamd, clamd) are brought up and put down: on
//! ports free on loopback, started again on other ports when one was taken meanwhile,
//! polled with a short back-off until ready, ended on drop together with the processes they
//! started, and the end of their logs shown when they fail.
//!
//! Each kit keeps what is its own: the configuration it writes, the command line, what
//! "ready" means (an IMAP greeting, `pong` on every worker, clamd's `PONG`) and how its
//! daemon is best ended (Dovecot's master asked first, rspamd's group killed outright, clamd
//! alone in the foreground killed as one process). Nothing here starts a program itself.

use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// A daemon exits at once when a port was taken between our probe and its bind; it is then
/// started again on other ports, at most this many times in all.
const ATTEMPTS: usize = 3;
/// The first pause between two readiness probes; each pause doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_millis(250);
/// How many lines of each log [`log_tail`] shows.
const TAIL_LINES: usize = 40;

/// A port free on loopback now. The daemon binds it a moment later, so another process may
/// take it first: see [`start_on_free_ports`].
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .unwrap()
        .port()
}

/// Runs `attempt` (pick ports with [`free_port`], write the configuration, start the daemon,
/// wait until it is ready; on failure stop it and say why) until one succeeds, at most
/// [`ATTEMPTS`] times. Panics with every attempt's failure when none did.
pub async fn start_on_free_ports<T>(
    name: &str,
    mut attempt: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let mut failures = Vec::new();
    for _ in 0..ATTEMPTS {
        match attempt().await {
            Ok(started) => return started,
            Err(failure) => failures.push(failure),
        }
    }
    panic!(
        "{name} did not start in {ATTEMPTS} attempts:\n{}",
        failures.join("\n")
    );
}

/// Probes with `ready` until it answers yes, pausing a little longer each time. Fails when
/// `daemon` exits first (`name exited (status)`) or when `within` has passed
/// (`no AWAITED after …`).
pub async fn wait_until_ready(
    daemon: &mut Child,
    name: &str,
    within: Duration,
    awaited: &str,
    mut ready: impl AsyncFnMut() -> bool,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(status) = daemon.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("{name} exited ({status})"));
        }
        if ready().await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("no {awaited} after {within:?}"));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Kills `leader` and every process in its group, and reaps the leader. The leader must have
/// been spawned as the leader of its own group (`process_group(0)`); the group's id is its
/// pid, which stays reserved until the `wait`.
pub fn kill_process_group(leader: &mut Child) {
    if let Ok(pid) = i32::try_from(leader.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = leader.wait();
}

/// Asks `leader` to stop with SIGTERM and gives it `within` to end, then kills whatever is
/// left of its group as [`kill_process_group`] does. For a daemon whose master ends its own
/// children and reaps them when asked: killed outright, they would be left to init, which in
/// a container may never reap them. The leader is only watched, not reaped, meanwhile, so its
/// pid, the group's id, cannot have been reused by the time of the kill.
pub fn stop_process_group(leader: &mut Child, within: Duration) {
    if let Ok(pid) = i32::try_from(leader.id()) {
        let pid = Pid::from_raw(pid);
        if kill(pid, Signal::SIGTERM).is_ok() {
            let deadline = std::time::Instant::now() + within;
            let exited = || {
                let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
                !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive))
            };
            while !exited() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    kill_process_group(leader);
}

/// The last lines of each of `logs`, each under its path, for a failing test's message. A
/// log not written yet shows as empty.
pub fn log_tail(logs: &[PathBuf]) -> String {
    let tails: Vec<String> = logs
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            format!(
                "--- {}:\n{}",
                path.display(),
                lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
            )
        })
        .collect();
    tails.join("\n")
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    use super::*;

    /// A shell running `script` as the leader of its own group, and the first line it printed.
    fn group_leader(script: &str) -> (Child, String) {
        let mut leader = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(leader.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        (leader, line.trim().to_string())
    }

    fn alive(pid: i32) -> bool {
        // A reaped process has no entry at all, and a killed one nobody has reaped yet is a
        // zombie ('Z') or dead ('X'). The state is read from `stat` rather than judged from an
        // empty `cmdline`, which a live process also shows for a moment while it execs.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        !matches!(state, None | Some('Z' | 'X'))
    }

    #[test]
    fn killing_the_group_ends_the_leaders_children() {
        let (mut leader, child) = group_leader("sleep 600 & echo $!; wait");
        let child: i32 = child.parse().unwrap();
        assert!(alive(child));
        kill_process_group(&mut leader);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(child) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive(child), "pid {child} outlived its group's kill");
        assert!(leader.try_wait().unwrap().is_some());
    }

    #[test]
    fn stopping_the_group_kills_what_ignores_sigterm() {
        // The shell says when its trap is in place.
        let (mut leader, _) = group_leader("trap '' TERM; echo trapped; while :; do sleep 1; done");
        let started = std::time::Instant::now();
        stop_process_group(&mut leader, Duration::from_millis(300));
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(leader.try_wait().unwrap().is_some());
    }

    #[tokio::test]
    async fn readiness_is_polled_until_yes_and_a_daemon_that_exits_fails() {
        let mut sleeper = Command::new("sleep").arg("600").spawn().unwrap();
        let mut probes = 0;
        let ready = wait_until_ready(
            &mut sleeper,
            "sleep",
            Duration::from_secs(5),
            "answer",
            async || {
                probes += 1;
                probes == 3
            },
        )
        .await;
        assert_eq!((ready, probes), (Ok(()), 3));
        let never = wait_until_ready(
            &mut sleeper,
            "sleep",
            Duration::from_millis(50),
            "answer",
            async || false,
        )
        .await;
        assert_eq!(never, Err("no answer after 50ms".to_string()));
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        let gone = wait_until_ready(
            &mut sleeper,
            "sleep",
            Duration::from_secs(5),
            "answer",
            async || true,
        )
        .await;
        assert_eq!(gone, Err("sleep exited (signal: 9 (SIGKILL))".to_string()));
    }

    #[tokio::test]
    async fn attempts_stop_at_the_first_success() {
        let mut tries = 0;
        let started = start_on_free_ports("daemon", async || {
            tries += 1;
            if tries < 3 {
                Err(format!("try {tries}"))
            } else {
                Ok(tries)
            }
        })
        .await;
        assert_eq!(started, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "daemon did not start in 3 attempts:\nport 1\nport 2\nport 3")]
    async fn every_failed_attempt_is_reported() {
        let mut tries = 0;
        start_on_free_ports("daemon", async || -> Result<(), String> {
            tries += 1;
            Err(format!("port {tries}"))
        })
        .await;
    }
}
