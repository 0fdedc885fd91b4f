//! `congvu-admin user import` and `agency import`, through the real binary on SQLite and
//! PostgreSQL: HR lists in CSV and XLSX with Vietnamese names, the addresses assigned,
//! idempotent re-runs, dry runs, atomic failure, skipped rows, and the credentials file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use congvu::directory::{Argon2Cost, PasswordHasher};
use congvu_tests::{Backend, TestDb};

use crate::admin::{AdminCli, AdminRun};
use crate::store_suite::on_both_backends;

on_both_backends!(
    a_csv_list_is_imported_with_the_assigned_addresses,
    an_xlsx_list_is_imported_like_csv,
    a_bad_row_rolls_the_whole_import_back,
    continue_on_error_reports_line_numbers,
    re_import_changes_only_what_changed,
    the_agency_tree_imports_from_a_file,
    passwords_from_the_file_need_the_flag_and_get_the_full_cost,
);

/// An HR list as Excel-on-Windows writes it: BOM, semicolons, CRLF, a blank row, and two
/// officials with the same name.
const HR_LIST: &str = "\u{feff}STT;Họ và tên;Chức vụ;Số điện thoại;Mã cán bộ;Phòng ban\r\n\
1;Nguyễn Văn An;Giám đốc;0211 3862 001;VP-001;Ban Giám đốc\r\n\
2;Lê Thị Hồng Nhung;Phó Giám đốc;0211 3862 002;VP-002;Ban Giám đốc\r\n\
;;;;;\r\n\
3;Đỗ Đức Anh;Trưởng phòng;0912 000 003;VP-003;Phòng Bưu chính, Viễn thông\r\n\
4;Nguyễn Văn An;Chuyên viên;0912 000 004;VP-004;Văn phòng Sở\r\n\
5;Đặng Thị Thu Hà;Chuyên viên;;VP-005;Phòng Công nghệ thông tin\r\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn credentials(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

async fn setup(backend: Backend) -> Option<(TestDb, AdminCli)> {
    let db = TestDb::new(backend).await?;
    let cli = AdminCli::new(&db).with_province();
    Some((db, cli))
}

/// (login, address, full name) of every official of `stttt`, by login.
async fn logins_and_addresses(db: &TestDb) -> Vec<(String, String, String)> {
    let officials = directory(db)
        .await
        .officials_in_agency("stttt")
        .await
        .unwrap();
    officials
        .into_iter()
        .map(|o| (o.login, o.primary_address, o.name.full()))
        .collect()
}

async fn a_csv_list_is_imported_with_the_assigned_addresses(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let list = write(&cli.dir, "stttt.csv", HR_LIST);
    let creds = cli.dir.join("stttt-credentials.csv");

    let dry = import(&cli, &list, &["--dry-run"]).ok();
    assert!(
        dry.stdout.contains("dry run, nothing written"),
        "{}",
        dry.stdout
    );
    for address in [
        "annv@vinhphuc.gov.vn",
        "nhunglth@vinhphuc.gov.vn",
        "anhdd@vinhphuc.gov.vn",
        "annv2@vinhphuc.gov.vn",
        "hadtt@vinhphuc.gov.vn",
    ] {
        assert!(
            dry.stdout.contains(address),
            "{address} not in plan:\n{}",
            dry.stdout
        );
    }
    assert!(
        logins_and_addresses(&db).await.is_empty(),
        "a dry run wrote officials"
    );
    assert!(!creds.exists());

    let run = import(&cli, &list, &["--credentials-out", creds.to_str().unwrap()]).ok();
    assert!(run.stdout.contains("created"), "{}", run.stdout);
    let officials = logins_and_addresses(&db).await;
    let expected = [
        ("anhdd", "anhdd@vinhphuc.gov.vn", "Đỗ Đức Anh"),
        ("annv", "annv@vinhphuc.gov.vn", "Nguyễn Văn An"),
        ("annv2", "annv2@vinhphuc.gov.vn", "Nguyễn Văn An"),
        ("hadtt", "hadtt@vinhphuc.gov.vn", "Đặng Thị Thu Hà"),
        ("nhunglth", "nhunglth@vinhphuc.gov.vn", "Lê Thị Hồng Nhung"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(l, a, n)| (l.to_string(), a.to_string(), n.to_string()))
        .collect();
    assert_eq!(officials, expected);

    // The second Nguyễn Văn An (line 6) is annv2, with his own title and unit.
    let an2: serde_json::Value =
        serde_json::from_str(&cli.run(&["--json", "user", "show", "annv2"]).ok().stdout).unwrap();
    assert_eq!(an2["title"], "Chuyên viên");
    assert_eq!(an2["unit"], "Văn phòng Sở");
    assert_eq!(an2["employee_id"], "VP-004");
    assert_eq!(an2["must_change_password"], true);

    // The credentials file: 0600, one row per official, passwords that verify.
    let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let rows = credentials(&creds);
    assert_eq!(rows.len(), 5);
    let directory = crate::import::directory(&db).await;
    let hasher = PasswordHasher::new(Argon2Cost::INITIAL);
    for row in &rows {
        let (login, password) = (&row[2], &row[3]);
        assert!(password.len() >= 20, "{password}");
        let stored = directory.official(login).await.unwrap().password.unwrap();
        assert!(
            hasher.verify(password, &stored.hash),
            "{login}'s password does not verify"
        );
        assert!(
            !run.stdout.contains(password.as_str()) && !run.stderr.contains(password.as_str()),
            "password printed"
        );
        for entry in directory.audit_log(None).await.unwrap() {
            let text = format!("{:?}", entry.record);
            assert!(
                !text.contains(password.as_str()),
                "password in the audit log"
            );
        }
    }
    // Mailboxes exist for everyone created.
    let nhung = directory.official("nhunglth").await.unwrap();
    let mailstore =
        congvu::mailstore::Mailstore::new(db.open_store().await, congvu::clock::Clock::system());
    assert_eq!(mailstore.mailboxes(nhung.id).await.unwrap().len(), 5);

    // The credentials file is never overwritten.
    let again = import(&cli, &list, &["--credentials-out", creds.to_str().unwrap()]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(
        again.stdout.contains("nothing to change"),
        "re-import is a no-op: {}",
        again.stdout
    );
    let fresh = write(
        &cli.dir,
        "new.csv",
        "Họ và tên;Mã cán bộ\r\nTrần Thị Bình;VP-009\r\n",
    );
    let refused = import(
        &cli,
        &fresh,
        &["--credentials-out", creds.to_str().unwrap()],
    );
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.contains("already exists") && refused.stderr.contains("never overwritten"),
        "{}",
        refused.stderr
    );
    assert_eq!(credentials(&creds).len(), 5, "the old file is intact");
    assert!(
        directory.official("binhtt").await.is_err(),
        "imported without a credentials file"
    );
}

async fn an_xlsx_list_is_imported_like_csv(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let path = cli.dir.join("stttt.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Danh sách").unwrap();
    let rows: [[&str; 4]; 4] = [
        ["Họ và tên", "Chức vụ", "Email", "Mã cán bộ"],
        ["Ưng Hoàng Phúc", "Chánh Văn phòng", "", "1001"],
        ["Ông Văn Đạt", "Kế toán", "ketoan@vinhphuc.gov.vn", "1002"],
        ["", "", "", ""],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if !cell.is_empty() {
                sheet.write_string(r as u32, c as u16, *cell).unwrap();
            }
        }
    }
    sheet.write_string(4, 0, "Âu Dương Phong").unwrap();
    sheet.write_number(4, 3, 1003.0).unwrap();
    book.save(&path).unwrap();
    let creds = cli.dir.join("creds.csv");

    import(&cli, &path, &["--credentials-out", creds.to_str().unwrap()]).ok();
    let officials: Vec<_> = logins_and_addresses(&db)
        .await
        .into_iter()
        .map(|(l, a, _)| (l, a))
        .collect();
    assert_eq!(
        officials,
        [
            ("ketoan".to_string(), "ketoan@vinhphuc.gov.vn".to_string()),
            ("phongad".to_string(), "phongad@vinhphuc.gov.vn".to_string()),
            ("phucuh".to_string(), "phucuh@vinhphuc.gov.vn".to_string()),
        ]
    );
    let phong: serde_json::Value =
        serde_json::from_str(&cli.run(&["--json", "user", "show", "phongad"]).ok().stdout).unwrap();
    assert_eq!(
        phong["employee_id"], "1003",
        "a numeric cell keeps no decimal point"
    );

    let broken = write(&cli.dir, "broken.xlsx", "this is not a workbook");
    let out = import(&cli, &broken, &["--dry-run"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("broken.xlsx: cannot open as a workbook"),
        "{}",
        out.stderr
    );
}

async fn a_bad_row_rolls_the_whole_import_back(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let text = "Họ và tên,Chức vụ,Email,Mã cán bộ\n\
Nguyễn Văn An,Chuyên viên,,A1\n\
Trần Văn Bình,\"Chuyên viên\u{1b}Bcc: all@vinhphuc.gov.vn\",,A2\n\
,Chuyên viên,,A3\n\
Lê Văn Cường,Chuyên viên,cuong@gmail.com,A4\n\
Phạm Thị Dung,Chuyên viên,,A1\n";
    let list = write(&cli.dir, "bad.csv", text);
    let creds = cli.dir.join("creds.csv");
    let out = import(&cli, &list, &["--credentials-out", creds.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let listed = format!("{}{}", out.stdout, out.stderr);
    assert!(
        listed.contains("bad.csv:3: rejected: title contains the control character U+001B"),
        "{listed}"
    );
    assert!(
        listed.contains("4     no name  Chuyên viên | A3"),
        "a row without a name is not an official, and is listed: {listed}"
    );
    assert!(
        listed
            .contains("bad.csv:5: rejected: address cuong@gmail.com is not in the agency's domain"),
        "{listed}"
    );
    assert!(
        listed.contains("bad.csv:6: rejected: employee id A1 is already on line 2"),
        "{listed}"
    );
    assert!(
        out.stderr
            .contains("3 row(s) rejected, nothing was imported"),
        "{}",
        out.stderr
    );
    assert!(
        logins_and_addresses(&db).await.is_empty(),
        "a failing import wrote officials"
    );
    assert!(
        !creds.exists(),
        "credentials written for an import that did not happen"
    );
}

async fn continue_on_error_reports_line_numbers(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let text = "Họ và tên;Số điện thoại\nNguyễn Văn An;0211 1\nLê\u{7}Văn Bình;0211 2\nĐỗ Đức Anh;0211 3\n";
    let list = write(&cli.dir, "mixed.csv", text);
    let creds = cli.dir.join("creds.csv");
    let out = import(
        &cli,
        &list,
        &[
            "--continue-on-error",
            "--credentials-out",
            creds.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(
        out.stdout
            .contains("mixed.csv:3: rejected: full name contains the control character U+0007"),
        "{}",
        out.stdout
    );
    let logins: Vec<_> = logins_and_addresses(&db)
        .await
        .into_iter()
        .map(|(l, _, _)| l)
        .collect();
    assert_eq!(logins, ["anhdd", "annv"]);
    assert_eq!(credentials(&creds).len(), 2);

    // The realistic list (BOM, semicolons, CRLF, a blank row) with an empty line and a bad
    // row appended: the reported line is the one a spreadsheet or editor shows.
    let realistic =
        format!("{HR_LIST}\r\n6;Trần Thị\u{1b}[31m Bình;Chuyên viên;;VP-006;Văn phòng\r\n");
    let list = write(&cli.dir, "realistic.csv", &realistic);
    let creds = cli.dir.join("creds2.csv");
    let out = import(
        &cli,
        &list,
        &[
            "--continue-on-error",
            "--credentials-out",
            creds.to_str().unwrap(),
        ],
    )
    .ok();
    let expected = "realistic.csv:9: rejected: full name contains the control character U+001B";
    assert!(out.stdout.contains(expected), "{}", out.stdout);
    assert_eq!(
        credentials(&creds).len(),
        3,
        "annv2, nhunglth and hadtt are new; annv and anhdd exist"
    );
}

async fn re_import_changes_only_what_changed(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let list = write(&cli.dir, "v1.csv", HR_LIST);
    let creds = cli.dir.join("c1.csv");
    import(&cli, &list, &["--credentials-out", creds.to_str().unwrap()]).ok();
    let directory = crate::import::directory(&db).await;
    let audit_rows = directory.audit_log(None).await.unwrap().len();

    // Same file again: nothing changes, nothing is written, not even an audit row.
    let again = import(&cli, &list, &[]).ok();
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    assert_eq!(directory.audit_log(None).await.unwrap().len(), audit_rows);

    // Nhung is promoted, Hà has left, everyone else is as before.
    let v2 = HR_LIST
        .replace(
            "Lê Thị Hồng Nhung;Phó Giám đốc",
            "Lê Thị Hồng Nhung;Giám đốc Trung tâm",
        )
        .replace(
            "5;Đặng Thị Thu Hà;Chuyên viên;;VP-005;Phòng Công nghệ thông tin\r\n",
            "",
        );
    let list2 = write(&cli.dir, "v2.csv", &v2);
    let dry = import(&cli, &list2, &["--dry-run", "--json"]).ok();
    let plan: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(plan["create"].as_array().unwrap().len(), 0);
    assert_eq!(plan["update"][0]["login"], "nhunglth");
    assert_eq!(plan["update"][0]["fields"], serde_json::json!(["title"]));
    assert_eq!(plan["unchanged"], 3);
    assert_eq!(plan["missing"], serde_json::json!(["hadtt"]));

    let applied = import(&cli, &list2, &["--json"]).ok();
    let outcome: serde_json::Value = serde_json::from_str(&applied.stdout).unwrap();
    assert_eq!(
        (
            outcome["created"].as_u64(),
            outcome["updated"].as_u64(),
            outcome["disabled"].as_u64()
        ),
        (Some(0), Some(1), Some(0))
    );
    assert_eq!(
        directory
            .official("nhunglth")
            .await
            .unwrap()
            .title
            .as_deref(),
        Some("Giám đốc Trung tâm")
    );
    assert_eq!(
        directory.official("hadtt").await.unwrap().status,
        congvu::directory::OfficialStatus::Active,
        "kept without --disable-missing"
    );

    // A list that lost its rows must not disable the whole agency.
    let empty = write(&cli.dir, "empty.csv", "Họ và tên;Chức vụ\r\n");
    let refused = import(&cli, &empty, &["--disable-missing"]);
    assert_eq!(refused.code, Some(1));
    assert!(
        refused
            .stderr
            .contains("refusing to disable everyone in stttt"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        directory.official("annv").await.unwrap().status,
        congvu::directory::OfficialStatus::Active
    );

    import(&cli, &list2, &["--disable-missing"]).ok();
    assert_eq!(
        directory.official("hadtt").await.unwrap().status,
        congvu::directory::OfficialStatus::Disabled
    );
    assert_eq!(
        directory.official("annv").await.unwrap().status,
        congvu::directory::OfficialStatus::Active
    );
}

async fn the_agency_tree_imports_from_a_file(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let tree = "Mã,Tên đơn vị,Cấp,Cấp trên\n\
sgddt,Sở Giáo dục và Đào tạo,Sở,vinhphuc\n\
vinhyen,Thành phố Vĩnh Yên,Thành phố,vinhphuc\n\
dongda,Phường Đống Đa,Phường,vinhyen\n\
tamdao,Huyện Tam Đảo,Huyện,vinhphuc\n\
hopchau,Xã Hợp Châu,Xã,tamdao\n";
    let path = write(&cli.dir, "tree.csv", tree);
    let dry = cli
        .run(&["agency", "import", path.to_str().unwrap(), "--dry-run"])
        .ok();
    assert!(
        dry.stdout.contains("would add 5 agencies"),
        "{}",
        dry.stdout
    );
    let directory = crate::import::directory(&db).await;
    assert!(
        directory.agency("dongda").await.is_err(),
        "a dry run added agencies"
    );

    let out = cli.run(&["agency", "import", path.to_str().unwrap()]).ok();
    assert!(
        out.stdout.contains("added 5 agencies, 0 already present"),
        "{}",
        out.stdout
    );
    let subtree: Vec<_> = directory
        .agency_subtree("vinhyen")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.code)
        .collect();
    assert_eq!(subtree, ["vinhyen", "dongda"]);
    assert_eq!(
        directory.agency("hopchau").await.unwrap().level,
        congvu::directory::AgencyLevel::Commune
    );
    assert_eq!(
        directory.agency("sgddt").await.unwrap().name,
        "Sở Giáo dục và Đào tạo"
    );
    let again = cli.run(&["agency", "import", path.to_str().unwrap()]).ok();
    assert!(
        again.stdout.contains("added 0 agencies, 5 already present"),
        "{}",
        again.stdout
    );

    let bad = write(
        &cli.dir,
        "bad-tree.csv",
        "code,name,level,parent\nxa1,Xã Một,Xã,vinhphuc\nxa2,Xã Hai,Xã,tamdao\n",
    );
    let out = cli.run(&["agency", "import", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("line 2: a commune cannot sit under the province vinhphuc"),
        "{}",
        out.stderr
    );
    assert!(
        directory.agency("xa2").await.is_err(),
        "a failing tree import is not rolled back"
    );
}

async fn passwords_from_the_file_need_the_flag_and_get_the_full_cost(backend: Backend) {
    let Some((db, cli)) = setup(backend).await else {
        return;
    };
    let list = write(
        &cli.dir,
        "with-passwords.csv",
        "Họ và tên,Mật khẩu\nLê Thị Hồng Nhung,Hoa-sen-2026!\n",
    );
    let refused = import(&cli, &list, &[]);
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.contains("pass --passwords-from-file"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("Hoa-sen-2026!"));

    let out = import(
        &cli,
        &list,
        &[
            "--passwords-from-file",
            "--address-rule",
            "{given}.{family}",
        ],
    )
    .ok();
    assert!(!out.stdout.contains("Hoa-sen-2026!") && !out.stderr.contains("Hoa-sen-2026!"));
    let nhung = directory(&db).await.official("nhung.le").await.unwrap();
    assert_eq!(nhung.primary_address, "nhung.le@vinhphuc.gov.vn");
    let password = nhung.password.unwrap();
    assert_eq!(password.cost, congvu::directory::PasswordCost::Full);
    // The CLI's config sets the full cost to m=64 KiB, t=1 (tests/e2e/admin.rs).
    assert!(
        password.hash.0.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
        "{:?}",
        password.hash.0
    );
    assert!(PasswordHasher::new(Argon2Cost::INITIAL).verify("Hoa-sen-2026!", &password.hash));
}

/// Runs `congvu-admin user import --agency stttt FILE ARGS…`.
fn import(cli: &AdminCli, file: &Path, args: &[&str]) -> AdminRun {
    let mut all = vec![
        "user",
        "import",
        "--agency",
        "stttt",
        file.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    cli.run(&all)
}

/// The directory of `db`, opened in-process next to the CLI's runs.
pub async fn directory(db: &TestDb) -> congvu::directory::Directory {
    congvu::directory::Directory::new(db.open_store().await, congvu::clock::Clock::system())
}
