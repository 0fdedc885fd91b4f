use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::*;
use crate::filter::canned;
use crate::filter::FailPolicy;

fn client(address: String, timeout: Duration, max_bytes: u64) -> ClamAv {
    let mut clamav = ClamAv::new(&ClamavSettings {
        address: Some(address),
        max_bytes,
        ..ClamavSettings::default()
    })
    .unwrap();
    clamav.timeout = timeout;
    clamav
}

/// A client of a canned clamd that answers `answer` (NUL included) to every request.
async fn answering(answer: &[u8]) -> (ClamAv, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let (address, requests) =
        canned::answering(answer.to_vec(), canned::clamd_request_complete).await;
    let clamav = client(format!("tcp:{address}"), Duration::from_secs(5), CLAMAV_MAX);
    (clamav, requests)
}

const CLAMAV_MAX: u64 = crate::filter::CLAMAV_DEFAULT_MAX_BYTES;

#[test]
fn answers_are_read_strictly() {
    assert_eq!(verdict("stream: OK").unwrap(), ClamVerdict::Clean);
    assert_eq!(
        verdict("stream: Eicar-Test-Signature.UNOFFICIAL FOUND").unwrap(),
        ClamVerdict::Infected("Eicar-Test-Signature.UNOFFICIAL".into())
    );
    let refused = verdict("INSTREAM size limit exceeded. ERROR").unwrap_err();
    assert!(
        matches!(&refused, EngineFailure::Refused(t) if t == "INSTREAM size limit exceeded. ERROR"),
        "{refused}"
    );
    for garbage in [
        "",
        "OK",
        "stream: ok",
        "stream:  FOUND",
        "stream: FOUND",
        "stream: Two Words FOUND",
        "stream: OK\u{0}",
        "PONG",
        "UNKNOWN COMMAND",
    ] {
        let failure = verdict(garbage).unwrap_err();
        assert!(
            matches!(failure, EngineFailure::BadAnswer(_)),
            "{garbage:?}: {failure}"
        );
    }
}

#[test]
fn addresses() {
    assert_eq!(
        ClamdAddress::parse("unix:/run/clamav/clamd.ctl").unwrap(),
        ClamdAddress::Unix("/run/clamav/clamd.ctl".into())
    );
    assert_eq!(
        ClamdAddress::parse("tcp:127.0.0.1:3310").unwrap(),
        ClamdAddress::Tcp("127.0.0.1".into(), 3310)
    );
    assert_eq!(
        ClamdAddress::parse("tcp:[::1]:3310").unwrap(),
        ClamdAddress::Tcp("::1".into(), 3310)
    );
    assert_eq!(
        ClamdAddress::parse("tcp:clamav.internal:65535").unwrap(),
        ClamdAddress::Tcp("clamav.internal".into(), 65535)
    );
    assert_eq!(
        ClamdAddress::parse("tcp:[::1]:3310").unwrap().to_string(),
        "tcp:[::1]:3310"
    );
    for bad in [
        "unix:run/clamd.ctl",
        "unix:",
        "127.0.0.1:3310",
        "tcp:127.0.0.1",
        "tcp::3310",
        "tcp:127.0.0.1:0",
        "tcp:127.0.0.1:65536",
        "tcp:127.0.0.1:x",
        "tcp:[::1:3310",
        "/run/clamav/clamd.ctl",
    ] {
        let why = ClamdAddress::parse(bad).unwrap_err();
        assert!(why.contains("tcp:HOST:PORT"), "{bad}: {why}");
    }
}

#[test]
fn settings_have_defaults_and_validation_names_the_key() {
    let settings: ClamavSettings = toml::from_str("address = \"tcp:127.0.0.1:3310\"").unwrap();
    assert_eq!(settings.timeout_seconds, 30);
    assert_eq!(settings.fail, FailPolicy::Tempfail);
    assert_eq!(settings.max_bytes, 25 * 1024 * 1024);
    assert!(settings.validate().is_ok());
    assert!(ClamAv::new(&ClamavSettings::default()).is_none());
    assert!(toml::from_str::<ClamavSettings>("socket = \"x\"").is_err());
    for (settings, key) in [
        (
            ClamavSettings {
                address: Some("clamd.ctl".into()),
                ..ClamavSettings::default()
            },
            "address",
        ),
        (
            ClamavSettings {
                max_bytes: 0,
                ..ClamavSettings::default()
            },
            "max_bytes",
        ),
        (
            ClamavSettings {
                max_bytes: u64::from(u32::MAX) + 1,
                ..ClamavSettings::default()
            },
            "max_bytes",
        ),
        (
            ClamavSettings {
                timeout_seconds: 0,
                ..ClamavSettings::default()
            },
            "timeout_seconds",
        ),
    ] {
        assert_eq!(settings.validate().unwrap_err().key, key);
    }
    let largest = ClamavSettings {
        max_bytes: u64::from(u32::MAX),
        ..ClamavSettings::default()
    };
    assert!(largest.validate().is_ok());
}

#[tokio::test]
async fn a_message_is_streamed_in_chunks_of_at_most_64_kib() {
    let (clamav, mut requests) = answering(b"stream: OK\0").await;
    let message: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(clamav.scan(&message).await.unwrap(), ClamVerdict::Clean);
    let request = requests.recv().await.unwrap();
    let (chunks, ended) = canned::instream_chunks(&request).unwrap();
    assert!(ended);
    let lengths: Vec<usize> = chunks.iter().map(Vec::len).collect();
    assert_eq!(lengths, [65536, 65536, 150_000 - 2 * 65536]);
    assert_eq!(chunks.concat(), message);
    // Nothing after the zero-length chunk.
    assert!(request.ends_with(&[0, 0, 0, 0]));
}

#[tokio::test]
async fn an_empty_message_is_only_the_end_of_the_stream() {
    let (clamav, mut requests) = answering(b"stream: OK\0").await;
    assert_eq!(clamav.scan(b"").await.unwrap(), ClamVerdict::Clean);
    assert_eq!(requests.recv().await.unwrap(), b"zINSTREAM\0\0\0\0\0");
}

#[tokio::test]
async fn found_is_infected_and_error_is_not_clean() {
    let (clamav, _requests) = answering(b"stream: Win.Test.EICAR_HDB-1 FOUND\0").await;
    assert_eq!(
        clamav.scan(b"X5O!P%@AP").await.unwrap(),
        ClamVerdict::Infected("Win.Test.EICAR_HDB-1".into())
    );
    let (clamav, _requests) = answering(b"INSTREAM size limit exceeded. ERROR\0").await;
    let error = clamav.scan(b"big").await.unwrap_err();
    assert_eq!(error.engine, Engine::Clamav);
    assert!(
        matches!(error.failure, EngineFailure::Refused(_)),
        "{error}"
    );
    let (clamav, _requests) = answering(b"\x16\x03\x01garbage\0").await;
    let error = clamav.scan(b"x").await.unwrap_err();
    assert!(
        matches!(error.failure, EngineFailure::BadAnswer(_)),
        "{error}"
    );
}

#[tokio::test]
async fn an_answer_closed_without_its_nul_still_counts() {
    let (clamav, _requests) = answering(b"stream: OK\n").await;
    assert_eq!(clamav.scan(b"x").await.unwrap(), ClamVerdict::Clean);
    let (clamav, _requests) = answering(b"").await;
    let error = clamav.scan(b"x").await.unwrap_err();
    assert!(
        matches!(error.failure, EngineFailure::BadAnswer(_)),
        "{error}"
    );
}

#[tokio::test]
async fn an_answer_is_read_up_to_4_kib() {
    let long = |n: usize| {
        let mut answer = b"stream: ".to_vec();
        answer.resize(n - b" FOUND".len(), b'A');
        answer.extend_from_slice(b" FOUND");
        answer
    };
    for (size, fits) in [(MAX_ANSWER_BYTES, true), (MAX_ANSWER_BYTES + 1, false)] {
        // No NUL: the length alone decides.
        let (clamav, _requests) = answering(&long(size)).await;
        let result = clamav.scan(b"x").await;
        if fits {
            assert!(matches!(result, Ok(ClamVerdict::Infected(_))), "{result:?}");
        } else {
            let error = result.unwrap_err();
            assert!(
                matches!(&error.failure, EngineFailure::BadAnswer(t) if t.contains("4096")),
                "{error}"
            );
        }
    }
}

#[tokio::test]
async fn a_message_over_max_bytes_is_not_scanned_and_not_clean() {
    let (address, mut requests) =
        canned::answering(b"stream: OK\0".to_vec(), canned::clamd_request_complete).await;
    let clamav = client(format!("tcp:{address}"), Duration::from_secs(5), 100);
    assert_eq!(clamav.scan(&[b'a'; 100]).await.unwrap(), ClamVerdict::Clean);
    let error = clamav.scan(&[b'a'; 101]).await.unwrap_err();
    assert!(
        matches!(
            error.failure,
            EngineFailure::TooLarge {
                bytes: 101,
                max: 100
            }
        ),
        "{error}"
    );
    requests.recv().await.unwrap();
    assert!(requests.try_recv().is_err(), "the large one was sent");
}

#[tokio::test]
async fn the_answer_to_a_stream_clamd_stopped_reading_is_still_read() {
    // clamd past its StreamMaxLength: it answers after the first chunk, then reads the rest
    // and closes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let first_chunk = |r: &[u8]| r.len() >= 10 + 4 + 65536;
        canned::read_request(&mut stream, first_chunk).await;
        stream
            .write_all(b"INSTREAM size limit exceeded. ERROR\0")
            .await
            .unwrap();
        canned::read_request(&mut stream, |_| false).await;
    });
    let clamav = client(format!("tcp:{address}"), Duration::from_secs(5), CLAMAV_MAX);
    let error = clamav.scan(&vec![b'x'; 1 << 20]).await.unwrap_err();
    assert!(
        matches!(&error.failure, EngineFailure::Refused(t) if t.contains("size limit")),
        "{error}"
    );
}

#[tokio::test]
async fn a_clamd_that_never_answers_times_out() {
    let address = canned::silent().await;
    let timeout = Duration::from_millis(300);
    let clamav = client(format!("tcp:{address}"), timeout, CLAMAV_MAX);
    let started = std::time::Instant::now();
    let error = clamav.scan(b"x").await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    let error = clamav.ping().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < timeout * 6, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_clamd_that_is_down_is_a_connection_error() {
    let address = canned::refusing().await;
    let clamav = client(format!("tcp:{address}"), Duration::from_secs(5), CLAMAV_MAX);
    let error = clamav.scan(b"x").await.unwrap_err();
    assert!(
        matches!(&error.failure, EngineFailure::Connection { address: a, .. } if *a == format!("tcp:{address}")),
        "{error}"
    );
    let unusable = client("clamd".into(), Duration::from_secs(5), CLAMAV_MAX);
    let error = unusable.scan(b"x").await.unwrap_err();
    assert!(
        matches!(error.failure, EngineFailure::Misconfigured(_)),
        "{error}"
    );
}

#[tokio::test]
async fn ping_and_scan_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clamd.ctl");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            while !canned::clamd_request_complete(&request) {
                match tokio::io::AsyncReadExt::read(&mut stream, &mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let answer: &[u8] = if request == b"zPING\0" {
                b"PONG\0"
            } else {
                b"stream: OK\0"
            };
            let _ = stream.write_all(answer).await;
        }
    });
    let clamav = client(
        format!("unix:{}", path.display()),
        Duration::from_secs(5),
        CLAMAV_MAX,
    );
    clamav.ping().await.unwrap();
    assert_eq!(clamav.scan(b"hello").await.unwrap(), ClamVerdict::Clean);
}

#[tokio::test]
async fn ping_wants_pong() {
    let (clamav, mut requests) = answering(b"PONG\0").await;
    clamav.ping().await.unwrap();
    assert_eq!(requests.recv().await.unwrap(), b"zPING\0");
    let (clamav, _requests) = answering(b"stream: OK\0").await;
    assert!(clamav.ping().await.is_err());
}

#[tokio::test]
async fn scans_are_counted_by_outcome() {
    let handle = crate::telemetry::recorder();
    let series = "congvu_filter_scans_total{engine=\"clamav\",outcome=\"infected\"}";
    let count = || {
        crate::telemetry::render(&handle)
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = count();
    let (clamav, _requests) = answering(b"stream: Eicar FOUND\0").await;
    clamav.scan(b"x").await.unwrap();
    // Other tests of this process scan too; this one counts at least once.
    assert!(count() - before >= 1.0);
}
