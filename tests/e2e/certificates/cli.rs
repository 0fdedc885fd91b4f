//! `congvu-admin cert import`, `import-dir`, `list` and `revoke` through the real binary.

use congvu_tests::certificates::{pkcs7_bundle, CertificateRequest, IssuingCa};
use congvu_tests::{Backend, TestDb};
use serde_json::Value;

use super::{certificate_for, now, DAY};
use crate::admin::{fails, json_of, AdminCli};
use crate::store_suite::on_both_backends;

on_both_backends!(
    a_certificate_is_imported_from_every_file_form,
    a_certificate_for_another_official_is_refused,
    a_folder_is_matched_by_address_and_nothing_is_guessed,
    certificates_are_listed_by_agency_and_expiry_then_revoked,
);

/// The province with two officials in `stttt` and one in a district, `annv` with an alias.
fn province(db: &TestDb) -> AdminCli {
    let cli = AdminCli::new(db).with_province();
    cli.run(&[
        "agency",
        "add",
        "binhxuyen",
        "--name",
        "UBND huyện Bình Xuyên",
        "--level",
        "district",
        "--parent",
        "vinhphuc",
    ])
    .ok();
    for (login, name, agency) in [
        ("annv", "Nguyễn Văn An", "stttt"),
        ("vanlt", "Lý Thị Vân", "stttt"),
        ("hoapt", "Phạm Thị Hoà", "binhxuyen"),
    ] {
        cli.run(&["user", "add", login, "--name", name, "--agency", agency])
            .ok();
    }
    cli.run(&["alias", "add", "annv", "an.nguyen@vinhphuc.gov.vn"])
        .ok();
    cli
}

fn listing(cli: &AdminCli, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["cert", "list", "--json"];
    all.extend_from_slice(args);
    json_of(&cli.run(&all)).as_array().unwrap().clone()
}

fn field(rows: &[Value], name: &str) -> Vec<String> {
    rows.iter()
        .map(|r| r[name].as_str().unwrap().to_string())
        .collect()
}

async fn a_certificate_is_imported_from_every_file_form(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = province(&db);
    let ca = IssuingCa::new("VNPT-CA thử nghiệm");
    let dir = db.dir.path();
    let issued: Vec<_> = (0..4)
        .map(|i| certificate_for(&ca, "annv@vinhphuc.gov.vn", now(), 365 + i))
        .collect();
    let files = [
        ("annv.pem", issued[0].pem.clone().into_bytes()),
        ("annv.cer", issued[1].der.clone()),
        (
            "annv-chain.pem",
            format!("{}{}", issued[2].pem, ca.pem()).into_bytes(),
        ),
        ("annv.p7b", pkcs7_bundle(dir, &issued[3].pem, &ca.pem())),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
        let run = cli.run(&["cert", "import", "--user", "annv", name]);
        assert_eq!(run.code, Some(0), "{name}: {}", run.stderr);
        assert!(
            run.stdout.starts_with("imported certificate "),
            "{name}: {}",
            run.stdout
        );
        assert!(!run.stdout.contains("note:"), "{name}: {}", run.stdout);
    }
    let rows = listing(&cli, &[]);
    // Newest validity first; each file yielded the official's certificate, not the CA's.
    let fingerprints: Vec<String> = issued
        .iter()
        .rev()
        .map(|c| congvu::directory::fingerprint(&c.der))
        .collect();
    assert_eq!(field(&rows, "fingerprint"), fingerprints);
    assert_eq!(field(&rows, "login"), ["annv"; 4]);
    assert_eq!(field(&rows, "agency"), ["stttt"; 4]);
    assert_eq!(field(&rows, "standing"), ["valid"; 4]);
    assert_eq!(
        rows[0]["key_usage"],
        "digitalSignature,nonRepudiation,emailProtection"
    );
    assert!(rows[0]["issuer"]
        .as_str()
        .unwrap()
        .contains("CN=VNPT-CA thử nghiệm"));

    // The same certificate twice is refused with what to do.
    fails(
        cli.run(&["cert", "import", "--user", "annv", "annv.pem"]),
        1,
        &format!(
            "congvu-admin: annv.pem: certificate \"{}\" is already taken: nothing to do: it is \
             already in the directory; `congvu-admin cert list` shows who holds it\n",
            fingerprints[3]
        ),
    );
    // A file that is not a certificate names the file and the problem.
    std::fs::write(dir.join("notes.pem"), "ghi chú, không phải chứng thư").unwrap();
    fails(
        cli.run(&["cert", "import", "--user", "annv", "notes.pem"]),
        1,
        "congvu-admin: notes.pem: holds no certificate: expected PEM (BEGIN CERTIFICATE or BEGIN \
         PKCS7), DER, or a DER PKCS#7 bundle\n",
    );
    fails(
        cli.run(&["cert", "import", "--user", "nobody", "annv.pem"]),
        1,
        "congvu-admin: annv.pem: official \"nobody\" does not exist: check the login with \
         `congvu-admin user list`\n",
    );
}

async fn a_certificate_for_another_official_is_refused(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = province(&db);
    let ca = IssuingCa::new("Viettel-CA thử nghiệm");
    let dir = db.dir.path();
    let vanlt = certificate_for(&ca, "vanlt@vinhphuc.gov.vn", now(), 365);
    std::fs::write(dir.join("vanlt.pem"), &vanlt.pem).unwrap();
    fails(
        cli.run(&["cert", "import", "--user", "annv", "vanlt.pem"]),
        1,
        "congvu-admin: vanlt.pem: the certificate is for vanlt@vinhphuc.gov.vn, which is \
         vanlt's address, not annv's; import it for vanlt\n",
    );
    assert!(listing(&cli, &[]).is_empty());

    // A certificate naming an address outside the directory is imported with a note.
    let personal = certificate_for(&ca, "an.nguyen.1975@gmail.com", now(), 365);
    std::fs::write(dir.join("personal.pem"), &personal.pem).unwrap();
    let run = cli.run(&["cert", "import", "--user", "annv", "personal.pem"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout
            .ends_with("note: the certificate names none of this official's addresses; mail clients match certificates to senders by address\n"),
        "{}",
        run.stdout
    );
    // Through an alias, the certificate is the official's.
    let alias = certificate_for(&ca, "an.nguyen@vinhphuc.gov.vn", now(), 365);
    std::fs::write(dir.join("alias.pem"), &alias.pem).unwrap();
    let run = cli.run(&["--json", "cert", "import", "--user", "annv", "alias.pem"]);
    assert_eq!(json_of(&run)["names_the_official"], true);
    assert_eq!(field(&listing(&cli, &[]), "login"), ["annv", "annv"]);
}

async fn a_folder_is_matched_by_address_and_nothing_is_guessed(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = province(&db);
    let ca = IssuingCa::new("BKAV-CA thử nghiệm");
    let folder = db.dir.path().join("chung-thu");
    std::fs::create_dir(&folder).unwrap();
    let at = now();
    let annv = certificate_for(&ca, "annv@vinhphuc.gov.vn", at, 365);
    // Only the subject's emailAddress names the holder, and through an alias.
    let alias_only = ca.issue(&CertificateRequest {
        common_name: "Nguyễn Văn An",
        san_emails: vec![],
        subject_email: Some("An.Nguyen@vinhphuc.gov.vn"),
        not_before: at - DAY,
        not_after: at + 400 * DAY,
    });
    let hoapt = certificate_for(&ca, "hoapt@vinhphuc.gov.vn", at, 365);
    let stranger = certificate_for(&ca, "khach@example.org", at, 365);
    let two_people = ca.issue(&CertificateRequest {
        common_name: "Văn thư chung",
        san_emails: vec!["annv@vinhphuc.gov.vn", "vanlt@vinhphuc.gov.vn"],
        subject_email: None,
        not_before: at - DAY,
        not_after: at + 365 * DAY,
    });
    let nameless = ca.issue(&CertificateRequest {
        common_name: "Không địa chỉ",
        san_emails: vec![],
        subject_email: None,
        not_before: at - DAY,
        not_after: at + 365 * DAY,
    });
    for (name, bytes) in [
        ("01-annv.pem", annv.pem.as_bytes().to_vec()),
        ("02-an-alias.DER", alias_only.der.clone()),
        ("03-hoapt.crt", hoapt.pem.as_bytes().to_vec()),
        ("04-stranger.cer", stranger.der.clone()),
        ("05-two.pem", two_people.pem.as_bytes().to_vec()),
        ("06-nameless.pem", nameless.pem.as_bytes().to_vec()),
        (
            "07-broken.pem",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
        ),
        ("danh-sach.xlsx", b"not a certificate file".to_vec()),
    ] {
        std::fs::write(folder.join(name), bytes).unwrap();
    }
    let run = cli.run(&["--json", "cert", "import-dir", "chung-thu"]);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr,
        "congvu-admin: 4 files in chung-thu not imported; import each with `congvu-admin cert \
         import --user LOGIN FILE`\n"
    );
    let files = json_of(&run)["files"].as_array().unwrap().clone();
    let summary: Vec<(String, String, String)> = files
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
                f["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("01-annv.pem", "imported", "annv, valid to "),
        ("02-an-alias.DER", "imported", "annv, valid to "),
        ("03-hoapt.crt", "imported", "hoapt, valid to "),
        (
            "04-stranger.cer",
            "unmatched",
            "no official has khach@example.org",
        ),
        (
            "05-two.pem",
            "ambiguous",
            "its addresses belong to annv, vanlt",
        ),
        ("06-nameless.pem", "unmatched", "names no e-mail address"),
        (
            "07-broken.pem",
            "unreadable",
            "is not a valid X.509 certificate",
        ),
    ];
    assert_eq!(summary.len(), expected.len(), "{summary:?}");
    for ((file, status, detail), (want_file, want_status, want_detail)) in
        summary.iter().zip(expected)
    {
        assert_eq!((file.as_str(), status.as_str()), (want_file, want_status));
        assert!(detail.starts_with(want_detail), "{file}: {detail}");
    }
    assert_eq!(
        files[0]["fingerprint"],
        congvu::directory::fingerprint(&annv.der)
    );
    // By agency code: binhxuyen before stttt.
    assert_eq!(
        field(&listing(&cli, &[]), "login"),
        ["hoapt", "annv", "annv"]
    );

    // Run again: what is in is recognised, the rest is still reported; the table says so.
    let again = cli.run(&["cert", "import-dir", "chung-thu"]);
    assert_eq!(again.code, Some(1));
    assert!(
        again
            .stdout
            .ends_with("0 imported, 3 already held, 2 unmatched, 1 ambiguous, 1 unreadable\n"),
        "{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .contains("already in the directory, held by hoapt"),
        "{}",
        again.stdout
    );
    assert_eq!(listing(&cli, &[]).len(), 3);
    fails(
        cli.run(&["cert", "import-dir", "no-such-folder"]),
        1,
        "congvu-admin: cannot read the folder no-such-folder: No such file or directory (os error 2)\n",
    );
}

async fn certificates_are_listed_by_agency_and_expiry_then_revoked(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = province(&db);
    let ca = IssuingCa::new("VNPT-CA thử nghiệm");
    let dir = db.dir.path();
    let at = now();
    let soon = certificate_for(&ca, "annv@vinhphuc.gov.vn", at, 10);
    let later = certificate_for(&ca, "vanlt@vinhphuc.gov.vn", at, 60);
    let expired = ca.issue(&CertificateRequest::for_address(
        "hoapt@vinhphuc.gov.vn",
        at - 400 * DAY,
        at - DAY,
    ));
    for (login, cert) in [("annv", &soon), ("vanlt", &later), ("hoapt", &expired)] {
        let file = dir.join(format!("{login}.pem"));
        std::fs::write(&file, &cert.pem).unwrap();
        cli.run(&["cert", "import", "--user", login, file.to_str().unwrap()])
            .ok();
    }
    let all = listing(&cli, &[]);
    assert_eq!(field(&all, "login"), ["hoapt", "annv", "vanlt"]);
    assert_eq!(field(&all, "standing"), ["expired", "valid", "valid"]);
    assert_eq!(
        field(&listing(&cli, &["--expiring", "30"]), "login"),
        ["annv"]
    );
    assert_eq!(
        field(&listing(&cli, &["--expiring", "90"]), "login"),
        ["annv", "vanlt"]
    );
    assert_eq!(
        field(&listing(&cli, &["--agency", "binhxuyen"]), "login"),
        ["hoapt"]
    );
    assert_eq!(
        field(&listing(&cli, &["--agency", "vinhphuc"]), "login"),
        ["hoapt", "annv", "vanlt"]
    );
    let table = cli.run(&["cert", "list", "--expiring", "30"]);
    let fp = congvu::directory::fingerprint(&soon.der);
    assert!(table.stdout.starts_with("LOGIN"), "{}", table.stdout);
    assert!(table.stdout.contains(&fp[..16]), "{}", table.stdout);
    assert!(table.stdout.contains("Nguyễn Văn An"), "{}", table.stdout);

    // Revoked by a prefix of its fingerprint; then it is listed as revoked, and not expiring.
    let run = cli.run(&["cert", "revoke", &fp[..12]]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!("revoked certificate {fp}")),
        "{}",
        run.stdout
    );
    let rows = listing(&cli, &[]);
    assert_eq!(field(&rows, "standing"), ["expired", "revoked", "valid"]);
    assert!(rows[1]["revoked_at"].is_string());
    assert!(listing(&cli, &["--expiring", "30"]).is_empty());
    fails(
        cli.run(&["cert", "revoke", &fp]),
        1,
        &format!("congvu-admin: certificate {fp} is already revoked\n"),
    );
    fails(
        cli.run(&["cert", "revoke", "abc"]),
        1,
        "congvu-admin: \"abc\" is not a certificate fingerprint: give its SHA-256 in hex (at least \
         8 digits), as `cert list` shows it\n",
    );
    fails(
        cli.run(&["cert", "revoke", "0000000000"]),
        1,
        "congvu-admin: certificate \"0000000000\" does not exist: see the certificates with \
         `congvu-admin cert list`\n",
    );
    fails(
        cli.run(&["cert", "list", "--agency", "khong-co"]),
        1,
        "congvu-admin: agency \"khong-co\" does not exist: check the code with `congvu-admin agency list`\n",
    );
}
