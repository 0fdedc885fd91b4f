use std::time::Duration;

use super::*;
use crate::filter::canned::{self, HttpRequest};
use crate::filter::FailPolicy;

const MESSAGE: &[u8] =
    b"From: an@sonv.example.vn\r\nTo: binh@example.vn\r\nSubject: Lich hop\r\n\r\nHop luc 8h.\r\n";

/// rspamd 3.4's answer to GTUBE, as it sends it.
const GTUBE_ANSWER: &str = r#"{"is_skipped":true,"score":15.0,"required_score":15.0,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":0.0,"metric_score":0.0}},"messages":{"smtp_message":"Gtube pattern"},"message-id":"x1@example.org","time_real":0.132950}"#;

/// An answer with `action` and two symbols, and no milter section.
fn answer(action: &str) -> String {
    format!(
        r#"{{"is_skipped":false,"score":7.3,"required_score":15.0,"action":"{action}","symbols":{{"RDNS_NONE":{{"name":"RDNS_NONE","score":1.0}},"HFILTER_HOSTNAME_UNKNOWN":{{"name":"HFILTER_HOSTNAME_UNKNOWN","score":2.5}}}},"messages":{{}}}}"#
    )
}

fn settings(url: String) -> RspamdSettings {
    RspamdSettings {
        url: Some(url),
        ..RspamdSettings::default()
    }
}

fn client(url: String, timeout: Duration) -> Rspamd {
    let mut rspamd = Rspamd::new(&settings(url)).unwrap();
    rspamd.timeout = timeout;
    rspamd
}

fn facts() -> ScanFacts {
    ScanFacts {
        client_ip: Some("203.0.113.9".parse().unwrap()),
        client_hostname: Some("mail.example.com".into()),
        helo: Some("mail.example.com".into()),
        mail_from: "an@sonv.example.vn".into(),
        recipients: vec!["binh@example.vn".into(), "chi@example.vn".into()],
        authenticated_user: Some("an.nguyen".into()),
        queue_id: Some("Q42".into()),
        receiving_host: "mx.congvu.test".into(),
    }
}

#[test]
fn every_action_is_read() {
    for (action, expected) in [
        ("reject", RspamdAction::Reject),
        ("soft reject", RspamdAction::SoftReject),
        ("add header", RspamdAction::AddHeader),
        ("greylist", RspamdAction::Greylist),
        ("no action", RspamdAction::NoAction),
    ] {
        let verdict = parse_check(answer(action).as_bytes(), MESSAGE).unwrap();
        assert_eq!(verdict.action, expected, "{action}");
        assert_eq!(verdict.score, 7.3);
        assert_eq!(verdict.required_score, 15.0);
        assert_eq!(
            verdict.symbols,
            ["HFILTER_HOSTNAME_UNKNOWN", "RDNS_NONE"],
            "sorted by name"
        );
    }
}

#[test]
fn gtube_is_a_reject() {
    let verdict = parse_check(GTUBE_ANSWER.as_bytes(), MESSAGE).unwrap();
    assert_eq!(verdict.action, RspamdAction::Reject);
    assert_eq!(verdict.score, 15.0);
    assert_eq!(verdict.symbols, ["GTUBE"]);
}

#[test]
fn rewrite_subject_carries_rspamds_subject() {
    let body = r#"{"score":9.0,"required_score":15.0,"action":"rewrite subject","subject":"*** SPAM *** Lich hop","symbols":{}}"#;
    let verdict = parse_check(body.as_bytes(), MESSAGE).unwrap();
    assert_eq!(
        verdict.action,
        RspamdAction::RewriteSubject("*** SPAM *** Lich hop".into())
    );
}

#[test]
fn rewrite_subject_without_one_prefixes_the_messages_own() {
    let body = r#"{"score":9.0,"required_score":15.0,"action":"rewrite subject"}"#;
    let verdict = parse_check(body.as_bytes(), MESSAGE).unwrap();
    assert_eq!(
        verdict.action,
        RspamdAction::RewriteSubject("***SPAM*** Lich hop".into())
    );
    let verdict = parse_check(body.as_bytes(), b"From: a@b.vn\r\n\r\nno subject\r\n").unwrap();
    assert_eq!(
        verdict.action,
        RspamdAction::RewriteSubject("***SPAM***".into())
    );
}

#[test]
fn an_unknown_action_is_an_error_not_clean() {
    for action in ["discard", "quarantine", "", "NO ACTION"] {
        let failure = parse_check(answer(action).as_bytes(), MESSAGE).unwrap_err();
        assert!(
            matches!(&failure, EngineFailure::BadAnswer(t) if t.contains("unknown action")),
            "{action:?}: {failure}"
        );
    }
}

#[test]
fn malformed_answers_are_errors() {
    for body in [
        "",
        "not json",
        "{",
        r#"{"action":"no action"}"#,
        r#"{"score":"1","required_score":15,"action":"no action"}"#,
        r#"{"error":"bad request"}"#,
        "[]",
    ] {
        let failure = parse_check(body.as_bytes(), MESSAGE).unwrap_err();
        assert!(
            matches!(failure, EngineFailure::BadAnswer(_)),
            "{body:?}: {failure}"
        );
    }
}

#[test]
fn without_milter_headers_the_verdict_is_summarised_in_headers() {
    let verdict = parse_check(answer("add header").as_bytes(), MESSAGE).unwrap();
    assert_eq!(
        verdict.headers,
        [
            ("X-Spam".to_owned(), "Yes".to_owned()),
            (
                "X-Spam-Status".to_owned(),
                "Yes, score=7.30 required=15.00".to_owned()
            ),
            (
                "X-Spamd-Result".to_owned(),
                "default: True [7.30 / 15.00];\r\n\tHFILTER_HOSTNAME_UNKNOWN(2.50);\r\n\tRDNS_NONE(1.00)"
                    .to_owned()
            ),
        ]
    );
    let clean = parse_check(answer("no action").as_bytes(), MESSAGE).unwrap();
    assert_eq!(clean.headers[0].0, "X-Spam-Status");
    assert_eq!(clean.headers[0].1, "No, score=7.30 required=15.00");
    assert!(clean.headers.iter().all(|(name, _)| name != "X-Spam"));
}

#[test]
fn milter_headers_are_taken_in_each_form_rspamd_writes() {
    let body = r#"{"score":7.0,"required_score":15.0,"action":"add header","symbols":{},
        "milter":{"add_headers":{
            "X-Spam":"Yes",
            "X-Rspamd-Server":{"value":"filter1","order":0},
            "X-Spamd-Bar":[{"value":"+++++++","order":0},"x"],
            "X-Spamd-Result":"default: True [7.00 / 15.00];\n\tR_SPF_FAIL(1.00)[-all]",
            "Bad Name":"dropped",
            "X-Number":7
        },"remove_headers":{"X-Spam":0}}}"#;
    let verdict = parse_check(body.as_bytes(), MESSAGE).unwrap();
    assert_eq!(
        verdict.headers,
        [
            ("X-Rspamd-Server".to_owned(), "filter1".to_owned()),
            ("X-Spam".to_owned(), "Yes".to_owned()),
            ("X-Spamd-Bar".to_owned(), "+++++++".to_owned()),
            ("X-Spamd-Bar".to_owned(), "x".to_owned()),
            (
                "X-Spamd-Result".to_owned(),
                "default: True [7.00 / 15.00];\r\n\tR_SPF_FAIL(1.00)[-all]".to_owned()
            ),
        ]
    );
}

#[test]
fn a_header_value_cannot_start_a_field_of_its_own() {
    let body = r#"{"score":7.0,"required_score":15.0,"action":"add header",
        "milter":{"add_headers":{"X-Spam":"Yes\r\nBcc: victim@example.vn\r\n\r\nbody"}}}"#;
    let verdict = parse_check(body.as_bytes(), MESSAGE).unwrap();
    assert_eq!(
        verdict.headers,
        [(
            "X-Spam".to_owned(),
            "Yes\r\n\tBcc: victim@example.vn\r\n\tbody".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_check_posts_the_message_with_the_envelope() {
    let (address, mut requests) = canned::answering(
        canned::http_response("200 OK", GTUBE_ANSWER),
        canned::http_request_complete,
    )
    .await;
    let rspamd = client(format!("http://{address}/"), Duration::from_secs(5));
    let verdict = rspamd.check(MESSAGE, &facts()).await.unwrap();
    assert_eq!(verdict.action, RspamdAction::Reject);

    let request = HttpRequest::parse(&requests.recv().await.unwrap());
    assert_eq!(request.request_line, "POST /checkv2 HTTP/1.1");
    assert_eq!(request.body, MESSAGE);
    for (name, expected) in [
        ("ip", vec!["203.0.113.9"]),
        ("helo", vec!["mail.example.com"]),
        ("hostname", vec!["mail.example.com"]),
        ("from", vec!["an@sonv.example.vn"]),
        ("rcpt", vec!["binh@example.vn", "chi@example.vn"]),
        ("user", vec!["an.nguyen"]),
        ("queue-id", vec!["Q42"]),
        ("mta-name", vec!["mx.congvu.test"]),
    ] {
        assert_eq!(request.all(name), expected, "{name}");
    }
}

#[tokio::test]
async fn the_null_sender_and_unknown_facts_are_sent_as_rspamd_expects() {
    let (address, mut requests) = canned::answering(
        canned::http_response("200 OK", &answer("no action")),
        canned::http_request_complete,
    )
    .await;
    let rspamd = client(format!("http://{address}"), Duration::from_secs(5));
    let facts = ScanFacts {
        client_ip: Some("::ffff:192.0.2.7".parse().unwrap()),
        helo: Some("evil\r\nX-Injected: yes".into()),
        recipients: vec!["binh@example.vn".into()],
        ..ScanFacts::default()
    };
    rspamd.check(MESSAGE, &facts).await.unwrap();
    let request = HttpRequest::parse(&requests.recv().await.unwrap());
    assert_eq!(request.all("from"), ["<>"]);
    assert_eq!(request.all("ip"), ["192.0.2.7"]);
    // A HELO that cannot be a header value is left out; the check still runs.
    assert!(request.all("helo").is_empty());
    assert!(request.all("x-injected").is_empty());
    for absent in ["hostname", "user", "queue-id", "mta-name"] {
        assert!(request.all(absent).is_empty(), "{absent}");
    }
}

#[tokio::test]
async fn an_error_status_is_an_error() {
    let (address, _requests) = canned::answering(
        canned::http_response("500 Internal Server Error", r#"{"error":"task timeout"}"#),
        canned::http_request_complete,
    )
    .await;
    let rspamd = client(format!("http://{address}"), Duration::from_secs(5));
    let error = rspamd.check(MESSAGE, &facts()).await.unwrap_err();
    assert_eq!(error.engine, Engine::Rspamd);
    assert!(
        matches!(&error.failure, EngineFailure::Refused(t) if t.starts_with("500") && t.contains("task timeout")),
        "{error}"
    );
}

#[tokio::test]
async fn an_answer_over_one_mebibyte_is_an_error() {
    let limit = MAX_ANSWER_BYTES;
    // Padding inside a valid answer: only its size is wrong.
    let padded = |size: usize| {
        let base = answer("no action");
        let open = &base[..base.len() - 1];
        let padding = size - open.len() - r#","pad":""}"#.len();
        format!(r#"{open},"pad":"{}"}}"#, "x".repeat(padding))
    };
    for (size, fits) in [(limit, true), (limit + 1, false)] {
        let body = padded(size);
        assert_eq!(body.len(), size);
        for response in [
            canned::http_response("200 OK", &body),
            // No length announced: the limit holds while reading.
            format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{body}").into_bytes(),
        ] {
            let (address, _requests) =
                canned::answering(response, canned::http_request_complete).await;
            let rspamd = client(format!("http://{address}"), Duration::from_secs(10));
            let result = rspamd.check(MESSAGE, &facts()).await;
            if fits {
                assert_eq!(result.unwrap().action, RspamdAction::NoAction);
            } else {
                let error = result.unwrap_err();
                assert!(
                    matches!(&error.failure, EngineFailure::BadAnswer(t) if t.contains("over")),
                    "{error}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_engine_that_never_answers_times_out() {
    let address = canned::silent().await;
    let timeout = Duration::from_millis(300);
    let rspamd = client(format!("http://{address}"), timeout);
    let started = std::time::Instant::now();
    let error = rspamd.check(MESSAGE, &facts()).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < timeout * 5, "{:?}", started.elapsed());

    let mut learner = Rspamd::new(&RspamdSettings {
        controller_url: Some(format!("http://{address}")),
        ..settings(format!("http://{address}"))
    })
    .unwrap();
    learner.timeout = timeout;
    let error = learner.learn(MESSAGE, true).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
}

#[tokio::test]
async fn an_engine_that_is_down_is_a_connection_error() {
    let address = canned::refusing().await;
    let rspamd = client(format!("http://{address}"), Duration::from_secs(5));
    let error = rspamd.check(MESSAGE, &facts()).await.unwrap_err();
    assert!(
        matches!(&error.failure, EngineFailure::Connection { address: a, .. } if a.contains(&address.to_string())),
        "{error}"
    );
}

#[tokio::test]
async fn learning_posts_to_the_controller_with_its_password() {
    let (address, mut requests) = canned::answering(
        canned::http_response("200 OK", r#"{"success":true}"#),
        canned::http_request_complete,
    )
    .await;
    let rspamd = Rspamd::new(&RspamdSettings {
        url: Some("http://127.0.0.1:1".into()),
        controller_url: Some(format!("http://{address}")),
        controller_password: Some("bí mật".into()),
        ..RspamdSettings::default()
    })
    .unwrap();
    rspamd.learn(MESSAGE, true).await.unwrap();
    rspamd.learn(MESSAGE, false).await.unwrap();
    let spam = HttpRequest::parse(&requests.recv().await.unwrap());
    assert_eq!(spam.request_line, "POST /learnspam HTTP/1.1");
    assert_eq!(spam.body, MESSAGE);
    assert_eq!(spam.all("password").len(), 1);
    let ham = HttpRequest::parse(&requests.recv().await.unwrap());
    assert_eq!(ham.request_line, "POST /learnham HTTP/1.1");
}

#[test]
fn learn_answers() {
    let ok = |status: u16, body: &str| {
        learn_answer(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    };
    assert!(ok(200, r#"{"success":true}"#).is_ok());
    // rspamd 3.4 answers a repeated learn with 404 and this text.
    assert!(ok(
        404,
        r#"{"error":"<x2@sonv.vinhphuc.gov.vn> has been already learned as spam, ignore it"}"#
    )
    .is_ok());
    assert!(ok(208, "").is_ok());
    for (status, body) in [
        (200, r#"{"success":false}"#),
        (200, "garbage"),
        (403, r#"{"error":"Unauthorized"}"#),
        (500, r#"{"error":"invalid command"}"#),
        (404, r#"{"error":"no such command"}"#),
    ] {
        assert!(ok(status, body).is_err(), "{status} {body}");
    }
}

#[test]
fn the_controller_defaults_to_port_11334_of_the_same_host() {
    assert_eq!(
        default_controller("http://127.0.0.1:11333").unwrap(),
        "http://127.0.0.1:11334/"
    );
    assert_eq!(
        default_controller("http://rspamd.internal/").unwrap(),
        "http://rspamd.internal:11334/"
    );
    assert_eq!(join("http://h:1/", "checkv2"), "http://h:1/checkv2");
    assert_eq!(
        join("http://h:1/rspamd", "learnham"),
        "http://h:1/rspamd/learnham"
    );
}

#[test]
fn settings_have_defaults_and_refuse_unknown_keys() {
    let settings: RspamdSettings = toml::from_str("url = \"http://127.0.0.1:11333\"").unwrap();
    assert_eq!(settings.timeout_seconds, 15);
    assert_eq!(settings.fail, FailPolicy::Accept);
    assert!(settings.learn);
    assert!(settings.validate().is_ok());
    let off = RspamdSettings::default();
    assert!(Rspamd::new(&off).is_none());
    assert!(toml::from_str::<RspamdSettings>("urls = \"http://x\"").is_err());
    let tempfail: RspamdSettings = toml::from_str("fail = \"tempfail\"").unwrap();
    assert_eq!(tempfail.fail, FailPolicy::Tempfail);
    assert!(toml::from_str::<RspamdSettings>("fail = \"drop\"").is_err());
}

#[test]
fn validation_names_the_key() {
    for (settings, key) in [
        (settings("https://127.0.0.1:11333".into()), "url"),
        (settings("127.0.0.1:11333".into()), "url"),
        (settings("http://user:pw@127.0.0.1:11333".into()), "url"),
        (settings("http://127.0.0.1:11333/?x=1".into()), "url"),
        (
            RspamdSettings {
                controller_url: Some("ftp://127.0.0.1".into()),
                ..RspamdSettings::default()
            },
            "controller_url",
        ),
        (
            RspamdSettings {
                controller_password: Some("a\r\nb".into()),
                ..RspamdSettings::default()
            },
            "controller_password",
        ),
        (
            RspamdSettings {
                timeout_seconds: 0,
                ..RspamdSettings::default()
            },
            "timeout_seconds",
        ),
        (
            RspamdSettings {
                timeout_seconds: 601,
                ..RspamdSettings::default()
            },
            "timeout_seconds",
        ),
    ] {
        let error = settings.validate().unwrap_err();
        assert_eq!(error.key, key, "{error}");
    }
    let edge = RspamdSettings {
        timeout_seconds: 600,
        ..settings("http://[::1]:11333/rspamd".into())
    };
    assert!(edge.validate().is_ok());
}

#[test]
fn the_password_stays_out_of_debug_output() {
    let settings = RspamdSettings {
        controller_password: Some("s3cret".into()),
        ..RspamdSettings::default()
    };
    assert!(!format!("{settings:?}").contains("s3cret"));
}

#[test]
fn the_filter_families_are_present_from_the_first_scrape() {
    let text = crate::telemetry::render(&crate::telemetry::recorder());
    for (family, kind) in [
        ("congvu_filter_scans_total", "counter"),
        ("congvu_filter_scan_duration_seconds", "histogram"),
        ("congvu_filter_learn_total", "counter"),
        ("congvu_rspamd_score", "histogram"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} {kind}\n")),
            "no {kind} {family}"
        );
    }
    for series in [
        "congvu_filter_scans_total{engine=\"rspamd\",outcome=\"soft_reject\"}",
        "congvu_filter_scans_total{engine=\"clamav\",outcome=\"timeout\"}",
        "congvu_filter_learn_total{engine=\"rspamd\",kind=\"ham\",outcome=\"error\"}",
        "congvu_rspamd_score_bucket{le=\"15\"}",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(series)),
            "{series} missing"
        );
    }
}
