use super::*;

#[test]
fn the_json_document_has_the_documented_shape() {
    let mut an = AccountReport::new(2, "an@x.gov.vn", "an");
    an.folders = 3;
    an.copied = 10;
    an.skipped = 1;
    an.bytes = 12345;
    an.over_quota = true;
    let mut binh = AccountReport::new(3, "binh@x.gov.vn", "binh");
    binh.errors
        .push("the source refused the sign-in (Authentication failed.)".into());
    let document = json(false, &[an, binh]);
    assert_eq!(
        document,
        serde_json::json!({
            "dry_run": false,
            "accounts": [
                {"address": "an@x.gov.vn", "source_user": "an", "status": "ok", "error": null,
                 "folders": 3, "copied": 10, "already_there": 0, "skipped": 1, "failed": 0,
                 "bytes": 12345, "over_quota": true},
                {"address": "binh@x.gov.vn", "source_user": "binh", "status": "failed",
                 "error": "the source refused the sign-in (Authentication failed.)",
                 "folders": 0, "copied": 0, "already_there": 0, "skipped": 0, "failed": 0,
                 "bytes": 0, "over_quota": false}
            ],
            "totals": {"accounts": 2, "failed_accounts": 1, "folders": 3, "copied": 10,
                       "already_there": 0, "skipped": 1, "failed": 0, "bytes": 12345},
            "over_quota": ["an@x.gov.vn"]
        })
    );
}

#[test]
fn failed_messages_fail_the_account_and_are_named() {
    let mut r = AccountReport::new(2, "an@x.gov.vn", "an");
    r.copied = 5;
    for uid in 1..=7 {
        r.message_failed(format!("INBOX UID {uid}: too large"));
    }
    assert!(!r.is_ok());
    assert_eq!(r.failed, 7);
    let error = r.error().unwrap();
    assert!(
        error.starts_with("7 messages could not be copied: INBOX UID 1: too large"),
        "{error}"
    );
    assert!(error.ends_with("; and 2 more"), "{error}");
    assert!(!error.contains("UID 6"), "{error}");
}
