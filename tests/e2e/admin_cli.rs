//! `congvu-admin` beyond bulk import, through the real binary on SQLite and PostgreSQL: the
//! agency tree, officials' lifecycle (update, disable, delete with their mail, passwords,
//! lockouts), aliases, groups, service accounts, export, the usage report, completions and
//! the manual. Each test checks what was printed, the exit status, and what the database
//! holds afterwards (read in-process through the domain layer and the store API).

use std::path::Path;
use std::process::Command;

use congvu::clock::{Clock, UnixTime};
use congvu::directory::{
    Actor, Argon2Cost, AuditEntry, Directory, Lockout, NewCertificate, PasswordCost, PasswordHasher,
};
use congvu::mailstore::{BodyId, MailboxId, MailboxRole, Mailstore, MessageFlags};
use congvu::store::Store;
use congvu_tests::program::output_with_stdin;
use congvu_tests::{Backend, TestDb};
use serde_json::{json, Value};

use crate::admin::{fails, json_of, run_admin, AdminCli, AdminRun};
use crate::store_suite::on_both_backends;

on_both_backends!(
    the_agency_tree_prints_shows_and_moves,
    officials_are_listed_updated_disabled_and_enabled,
    deleting_an_official_frees_their_mail_and_addresses,
    passwords_are_set_once_and_lockouts_cleared,
    aliases_and_groups_nest_and_refuse_cycles,
    service_accounts_get_a_secret_shown_once,
    export_writes_the_columns_import_reads,
    the_report_counts_per_agency_and_per_level,
    sieve_scripts_are_stored_only_when_they_compile,
);

/// A circular as officials receive it (RFC 2047 subject, UTF-8 body).
const CIRCULAR: &[u8] = include_bytes!("../fixtures/circular.eml");

const PRIVATE: &[u8] = b"From: giamdoc@vinhphuc.gov.vn\r\nTo: annv@vinhphuc.gov.vn\r\n\
Subject: Lich hop\r\n\r\nHop giao ban 8h thu Hai.\r\n";

/// The same database opened in this process: to deliver mail and read what the CLI wrote.
struct InProcess {
    store: Store,
    directory: Directory,
    mailstore: Mailstore,
}

impl InProcess {
    async fn open(db: &TestDb) -> InProcess {
        let store = db.open_store().await;
        InProcess {
            directory: Directory::new(store.clone(), Clock::system()),
            mailstore: Mailstore::new(store.clone(), Clock::system()),
            store,
        }
    }

    async fn mailbox(&self, login: &str, role: MailboxRole) -> MailboxId {
        let official = self.directory.official(login).await.unwrap();
        let boxes = self.mailstore.mailboxes(official.id).await.unwrap();
        boxes.into_iter().find(|m| m.role == Some(role)).unwrap().id
    }

    /// Delivers `message` to the INBOX of each of `logins`; returns its body.
    async fn deliver(&self, logins: &[&str], message: &[u8]) -> BodyId {
        let mut boxes = Vec::new();
        for login in logins {
            boxes.push(self.mailbox(login, MailboxRole::Inbox).await);
        }
        self.deliver_to(&boxes, message).await
    }

    async fn deliver_to(&self, boxes: &[MailboxId], message: &[u8]) -> BodyId {
        self.mailstore
            .deliver(boxes, message, MessageFlags::default())
            .await
            .unwrap();
        let messages = self.mailstore.messages(boxes[0]).await.unwrap();
        messages.last().unwrap().body_id
    }

    async fn refcount(&self, body: BodyId) -> Option<i64> {
        let mut conn = self.store.read().await.unwrap();
        conn.body_refcount(body).await.unwrap()
    }

    async fn audit(&self, target: &str) -> Vec<AuditEntry> {
        self.directory.audit_log(Some(target)).await.unwrap()
    }

    async fn actions(&self, target: &str) -> Vec<String> {
        let entries = self.audit(target).await;
        entries.into_iter().map(|e| e.record.action).collect()
    }
}

fn summary(text: &Option<String>) -> Value {
    serde_json::from_str(text.as_deref().unwrap()).unwrap()
}

/// Asserts a usage error reported by clap: status 2, its `error:` line, nothing on stdout.
#[track_caller]
fn bad_usage(run: AdminRun) {
    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(
        run.stderr
            .ends_with("For more information, try '--help'.\n"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

fn agency(cli: &AdminCli, code: &str, name: &str, level: &str, parent: &str) {
    cli.run(&[
        "agency", "add", code, "--name", name, "--level", level, "--parent", parent,
    ])
    .ok();
}

fn official(cli: &AdminCli, login: &str, name: &str, agency: &str, extra: &[&str]) {
    let mut args = vec!["user", "add", login, "--name", name, "--agency", agency];
    args.extend_from_slice(extra);
    cli.run(&args).ok();
}

/// Runs `congvu-admin` with `input` on its standard input.
fn run_with_stdin(cli: &AdminCli, args: &[&str], input: &str) -> AdminRun {
    let output = output_with_stdin(
        Command::new(env!("CARGO_BIN_EXE_e2e-congvu-admin"))
            .arg("--config")
            .arg(cli.dir.join("admin.toml"))
            .args(args)
            .current_dir(&cli.dir)
            .env_remove("RUST_LOG"),
        input.as_bytes(),
    );
    AdminRun {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `congvu-admin` with a config file that does not exist.
fn run_without_config(dir: &Path, args: &[&str]) -> AdminRun {
    run_admin(Path::new("/nonexistent/congvu.toml"), dir, args)
}

fn lines(text: &[&str]) -> String {
    text.iter().map(|l| format!("{l}\n")).collect()
}

async fn the_agency_tree_prints_shows_and_moves(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db).with_province();
    cli.run(&[
        "agency",
        "add",
        "binhxuyen",
        "--name",
        "Huyện Bình Xuyên",
        "--level",
        "district",
        "--parent",
        "vinhphuc",
        "--address",
        "vanthu.binhxuyen@vinhphuc.gov.vn",
    ])
    .ok();
    agency(
        &cli,
        "vinhyen",
        "Thành phố Vĩnh Yên",
        "district",
        "vinhphuc",
    );
    agency(
        &cli,
        "huongcanh",
        "Thị trấn Hương Canh",
        "commune",
        "binhxuyen",
    );
    agency(&cli, "dongda", "Phường Đống Đa", "commune", "binhxuyen");
    agency(
        &cli,
        "ttcntt",
        "Trung tâm Công nghệ thông tin và Truyền thông",
        "department",
        "stttt",
    );
    official(&cli, "annv", "Nguyễn Văn An", "stttt", &[]);
    official(&cli, "nhunglth", "Lê Thị Hồng Nhung", "huongcanh", &[]);
    official(&cli, "anhdd", "Đỗ Đức Anh", "huongcanh", &[]);
    official(&cli, "hapt", "Phạm Thu Hà", "vinhyen", &[]);

    let tree = cli.run(&["agency", "list", "--tree"]).ok();
    assert_eq!(
        tree.stdout,
        lines(&[
            "vinhphuc  UBND tỉnh Vĩnh Phúc  (province, 0 mailboxes)",
            "  binhxuyen  Huyện Bình Xuyên  (district, 0 mailboxes)",
            "    dongda  Phường Đống Đa  (commune, 0 mailboxes)",
            "    huongcanh  Thị trấn Hương Canh  (commune, 2 mailboxes)",
            "  stttt  Sở Thông tin và Truyền thông  (department, 1 mailbox)",
            "    ttcntt  Trung tâm Công nghệ thông tin và Truyền thông  (department, 0 mailboxes)",
            "  vinhyen  Thành phố Vĩnh Yên  (district, 1 mailbox)",
        ])
    );

    let moved = cli
        .run(&["agency", "move", "dongda", "--parent", "vinhyen"])
        .ok();
    assert_eq!(
        moved.stdout,
        "moved dongda under vinhyen (was under binhxuyen)\n"
    );
    let tree = cli.run(&["agency", "list", "--tree"]).ok();
    assert_eq!(
        tree.stdout,
        lines(&[
            "vinhphuc  UBND tỉnh Vĩnh Phúc  (province, 0 mailboxes)",
            "  binhxuyen  Huyện Bình Xuyên  (district, 0 mailboxes)",
            "    huongcanh  Thị trấn Hương Canh  (commune, 2 mailboxes)",
            "  stttt  Sở Thông tin và Truyền thông  (department, 1 mailbox)",
            "    ttcntt  Trung tâm Công nghệ thông tin và Truyền thông  (department, 0 mailboxes)",
            "  vinhyen  Thành phố Vĩnh Yên  (district, 1 mailbox)",
            "    dongda  Phường Đống Đa  (commune, 0 mailboxes)",
        ])
    );

    // The tree as nested JSON, with each agency's own and subtree mailboxes.
    let tree = json_of(&cli.run(&["--json", "agency", "list", "--tree"]).ok());
    let codes = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codes(&tree), ["vinhphuc"]);
    let root = &tree[0];
    assert_eq!(codes(&root["children"]), ["binhxuyen", "stttt", "vinhyen"]);
    assert_eq!(codes(&root["children"][2]["children"]), ["dongda"]);
    assert_eq!(
        root["children"][0],
        json!({
            "code": "binhxuyen", "name": "Huyện Bình Xuyên", "level": "district",
            "officials": 0, "mailboxes": 0, "subtree_mailboxes": 2,
            "children": [{
                "code": "huongcanh", "name": "Thị trấn Hương Canh", "level": "commune",
                "officials": 2, "mailboxes": 2, "subtree_mailboxes": 2, "children": [],
            }],
        })
    );
    assert_eq!(root["subtree_mailboxes"], 4);

    // Moves that break the tree are refused, and say why.
    fails(
        cli.run(&["agency", "move", "vinhyen", "--parent", "dongda"]),
        1,
        "congvu-admin: a district cannot sit under the commune dongda\n",
    );
    fails(
        cli.run(&["agency", "move", "stttt", "--parent", "ttcntt"]),
        1,
        "congvu-admin: cannot move stttt under ttcntt: ttcntt is inside stttt's own subtree\n",
    );
    fails(
        cli.run(&["agency", "move", "nope", "--parent", "vinhyen"]),
        1,
        "congvu-admin: agency \"nope\" does not exist: check the code with `congvu-admin agency list`\n",
    );
    bad_usage(cli.run(&["agency", "move", "dongda"]));

    let show = cli.run(&["agency", "show", "binhxuyen"]).ok();
    assert_eq!(
        show.stdout,
        lines(&[
            "code       binhxuyen",
            "name       Huyện Bình Xuyên",
            "level      district",
            "domain     vinhphuc.gov.vn",
            "parent     vinhphuc (UBND tỉnh Vĩnh Phúc)",
            "children   huongcanh",
            "addresses  vanthu.binhxuyen@vinhphuc.gov.vn",
            "officials  0 (0 active, 0 disabled)",
            "mailboxes  0",
            "storage    0 B",
        ])
    );
    let mut show = json_of(&cli.run(&["agency", "show", "huongcanh", "--json"]).ok());
    assert_eq!(show["uuid"].as_str().map(str::len), Some(36));
    show.as_object_mut().unwrap().remove("uuid");
    assert_eq!(
        show,
        json!({
            "code": "huongcanh", "name": "Thị trấn Hương Canh", "level": "commune",
            "domain": "vinhphuc.gov.vn",
            "parent": { "code": "binhxuyen", "name": "Huyện Bình Xuyên" },
            "children": [], "addresses": [],
            "officials": 2, "active": 2, "disabled": 0, "mailboxes": 2, "storage_bytes": 0,
        })
    );
    fails(
        cli.run(&["agency", "show", "nope"]),
        1,
        "congvu-admin: agency \"nope\" does not exist: check the code with `congvu-admin agency list`\n",
    );

    // The move, and only the successful one, is in the audit log.
    let ip = InProcess::open(&db).await;
    let audit = ip.audit("agency:dongda").await;
    let actions: Vec<&str> = audit.iter().map(|e| e.record.action.as_str()).collect();
    assert_eq!(actions, ["agency.add", "agency.move"]);
    let moved = &audit[1].record;
    assert!(moved.actor.starts_with("admin:"), "{}", moved.actor);
    assert_eq!(summary(&moved.before)["parent"], "binhxuyen");
    assert_eq!(summary(&moved.after)["parent"], "vinhyen");
    assert_eq!(ip.actions("agency:vinhyen").await, ["agency.add"]);
}

async fn officials_are_listed_updated_disabled_and_enabled(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db).with_province();
    agency(
        &cli,
        "binhxuyen",
        "Huyện Bình Xuyên",
        "district",
        "vinhphuc",
    );
    official(
        &cli,
        "annv",
        "Nguyễn Văn An",
        "stttt",
        &[
            "--title",
            "Chuyên viên",
            "--phone",
            "0211 3862 555",
            "--unit",
            "Phòng Công nghệ thông tin",
            "--employee-id",
            "VP-0001",
        ],
    );
    official(
        &cli,
        "nhunglth",
        "Lê Thị Hồng Nhung",
        "stttt",
        &["--employee-id", "VP-0002"],
    );
    official(&cli, "dungpv", "Phạm Văn Dũng", "binhxuyen", &[]);

    let list = cli.run(&["user", "list"]).ok();
    assert_eq!(
        list.stdout,
        lines(&[
            "LOGIN     NAME               ADDRESS                   AGENCY     STATUS",
            "annv      Nguyễn Văn An      annv@vinhphuc.gov.vn      stttt      active",
            "dungpv    Phạm Văn Dũng      dungpv@vinhphuc.gov.vn    binhxuyen  active",
            "nhunglth  Lê Thị Hồng Nhung  nhunglth@vinhphuc.gov.vn  stttt      active",
        ])
    );
    let stttt = json_of(
        &cli.run(&["user", "list", "--agency", "stttt", "--json"])
            .ok(),
    );
    assert_eq!(
        stttt,
        json!([
            {
                "login": "annv", "name": "Nguyễn Văn An", "display_name": "Nguyễn Văn An",
                "address": "annv@vinhphuc.gov.vn", "agency": "stttt",
                "unit": "Phòng Công nghệ thông tin", "title": "Chuyên viên",
                "phone": "0211 3862 555", "employee_id": "VP-0001", "status": "active",
            },
            {
                "login": "nhunglth", "name": "Lê Thị Hồng Nhung",
                "display_name": "Lê Thị Hồng Nhung", "address": "nhunglth@vinhphuc.gov.vn",
                "agency": "stttt", "unit": null, "title": null, "phone": null,
                "employee_id": "VP-0002", "status": "active",
            },
        ])
    );
    fails(
        cli.run(&["user", "list", "--agency", "nope"]),
        1,
        "congvu-admin: agency \"nope\" does not exist: check the code with `congvu-admin agency list`\n",
    );

    // An update changes what is named, clears what is given as "", and keeps the rest.
    let updated = cli
        .run(&[
            "user",
            "update",
            "annv",
            "--title",
            "Trưởng phòng",
            "--phone",
            "",
            "--display-name",
            "Nguyễn Văn An (CNTT)",
            "--agency",
            "binhxuyen",
            "--quota-mib",
            "4096",
        ])
        .ok();
    assert_eq!(
        updated.stdout,
        "updated annv: display name, title, phone, agency, quota\n"
    );
    let show = json_of(&cli.run(&["user", "show", "annv", "--json"]).ok());
    assert_eq!(
        (
            &show["name"],
            &show["display_name"],
            &show["title"],
            &show["phone"],
            &show["unit"],
            &show["employee_id"],
            &show["agency"],
            &show["quota_bytes"],
            &show["addresses"],
        ),
        (
            &json!("Nguyễn Văn An"),
            &json!("Nguyễn Văn An (CNTT)"),
            &json!("Trưởng phòng"),
            &Value::Null,
            &json!("Phòng Công nghệ thông tin"),
            &json!("VP-0001"),
            &json!("binhxuyen"),
            &json!(4_294_967_296_i64),
            &json!(["annv@vinhphuc.gov.vn"]),
        )
    );
    let cleared = json_of(
        &cli.run(&["user", "update", "annv", "--unit", "", "--json"])
            .ok(),
    );
    assert_eq!(
        (&cleared["unit"], &cleared["title"]),
        (&Value::Null, &json!("Trưởng phòng"))
    );

    bad_usage(cli.run(&["user", "update", "annv"]));
    fails(
        cli.run(&["user", "update", "annv", "--name", ""]),
        1,
        "congvu-admin: the full name is empty\n",
    );
    fails(
        cli.run(&["user", "update", "annv", "--quota-mib", "0"]),
        1,
        "congvu-admin: the quota must be positive\n",
    );
    fails(
        cli.run(&["user", "update", "annv", "--title", "Trưởng\nphòng"]),
        1,
        "congvu-admin: title contains the control character U+000A: remove it\n",
    );
    fails(
        cli.run(&["user", "update", "nhunglth", "--employee-id", "VP-0001"]),
        1,
        "congvu-admin: employee id \"VP-0001\" is already taken: each employee id belongs to one \
         official: find them with `congvu-admin user list --json`\n",
    );
    fails(
        cli.run(&["user", "update", "nobody", "--title", "Chuyên viên"]),
        1,
        "congvu-admin: official \"nobody\" does not exist: check the login with `congvu-admin user list`\n",
    );

    // Disable, a second disable that changes nothing, enable.
    assert_eq!(
        cli.run(&["user", "disable", "annv"]).ok().stdout,
        "disabled annv\n"
    );
    assert_eq!(
        cli.run(&["user", "disable", "ANNV"]).ok().stdout,
        "annv is already disabled\n"
    );
    assert_eq!(
        cli.run(&["user", "list", "--status", "disabled"])
            .ok()
            .stdout,
        lines(&[
            "LOGIN  NAME           ADDRESS               AGENCY     STATUS",
            "annv   Nguyễn Văn An  annv@vinhphuc.gov.vn  binhxuyen  disabled",
        ])
    );
    let active = json_of(
        &cli.run(&["user", "list", "--status", "active", "--json"])
            .ok(),
    );
    let logins: Vec<&str> = active
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins, ["dungpv", "nhunglth"]);
    assert_eq!(
        json_of(&cli.run(&["user", "enable", "annv", "--json"]).ok()),
        json!({ "login": "annv", "status": "active", "changed": true })
    );
    bad_usage(cli.run(&["user", "list", "--status", "frozen"]));
    fails(
        cli.run(&["user", "disable", "nobody"]),
        1,
        "congvu-admin: official \"nobody\" does not exist: check the login with `congvu-admin user list`\n",
    );

    // One audit row per change; refused changes and the no-op disable wrote none.
    let ip = InProcess::open(&db).await;
    let audit = ip.audit("official:annv").await;
    let actions: Vec<&str> = audit.iter().map(|e| e.record.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "official.add",
            "official.update",
            "official.update",
            "official.disable",
            "official.enable"
        ]
    );
    let first_update = &audit[1].record;
    assert_eq!(
        (
            &summary(&first_update.before)["title"],
            &summary(&first_update.after)["title"],
            &summary(&first_update.after)["phone"],
        ),
        (&json!("Chuyên viên"), &json!("Trưởng phòng"), &Value::Null)
    );
    assert_eq!(ip.actions("official:nhunglth").await, ["official.add"]);
}

async fn deleting_an_official_frees_their_mail_and_addresses(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db).with_province();
    official(&cli, "annv", "Nguyễn Văn An", "stttt", &[]);
    official(&cli, "binhtt", "Trần Thị Bình", "stttt", &[]);
    cli.run(&["alias", "add", "annv", "an.nguyen@vinhphuc.gov.vn"])
        .ok();
    cli.run(&[
        "group",
        "add",
        "toanso",
        "--display-name",
        "Toàn Sở",
        "--list",
        "--address",
        "toanso@vinhphuc.gov.vn",
    ])
    .ok();
    cli.run(&["group", "add-member", "toanso", "--user", "annv"])
        .ok();

    // A circular held by both, and a message annv alone holds twice (INBOX and Sent).
    let ip = InProcess::open(&db).await;
    let circular = ip.deliver(&["annv", "binhtt"], CIRCULAR).await;
    let private = ip
        .deliver_to(
            &[
                ip.mailbox("annv", MailboxRole::Inbox).await,
                ip.mailbox("annv", MailboxRole::Sent).await,
            ],
            PRIVATE,
        )
        .await;
    assert_ne!(circular, private);
    assert_eq!(ip.refcount(circular).await, Some(2));
    assert_eq!(ip.refcount(private).await, Some(2));
    ip.directory
        .add_certificate(
            &Actor::admin("test"),
            "annv",
            NewCertificate {
                der: b"DER bytes of annv's signing certificate".to_vec(),
                serial: "5A0C01".into(),
                issuer: "CN=Vietnam Government CA, O=Ban Co yeu Chinh phu, C=VN".into(),
                subject: "CN=Nguyễn Văn An, O=Sở Thông tin và Truyền thông, C=VN".into(),
                not_before: UnixTime(1_767_225_600),
                not_after: UnixTime(1_861_920_000),
                key_usage: Some("digitalSignature, nonRepudiation".into()),
            },
        )
        .await
        .unwrap();

    fails(
        cli.run(&["user", "delete", "annv"]),
        2,
        "congvu-admin: refusing to delete annv without --yes: their mailboxes, mail, certificates \
         and addresses go with them and cannot be restored; run `congvu-admin user delete annv --yes`, \
         or `congvu-admin user disable annv` to keep their mail\n",
    );
    assert_eq!(ip.refcount(private).await, Some(2), "nothing deleted");
    cli.run(&["user", "show", "annv"]).ok();

    let deleted = cli.run(&["user", "delete", "annv", "--yes"]).ok();
    assert_eq!(
        deleted.stdout,
        "deleted annv <annv@vinhphuc.gov.vn>: 5 mailboxes, 3 messages (1 body freed), \
         1 certificate, 2 addresses, 1 group membership\n"
    );
    assert_eq!(
        ip.refcount(circular).await,
        Some(1),
        "binhtt still holds it"
    );
    assert_eq!(
        ip.refcount(private).await,
        None,
        "freed with its last holder"
    );
    fails(
        cli.run(&["user", "show", "annv"]),
        1,
        "congvu-admin: official \"annv\" does not exist: check the login with `congvu-admin user list`\n",
    );
    assert_eq!(
        json_of(&cli.run(&["group", "members", "toanso", "--json"]).ok()),
        json!([])
    );

    let audit = ip.audit("official:annv").await;
    let last = &audit.last().unwrap().record;
    assert_eq!(
        (last.action.as_str(), &last.after),
        ("official.delete", &None)
    );
    let before = summary(&last.before);
    assert_eq!(
        (&before["login"], &before["agency"], &before["removed"]),
        (
            &json!("annv"),
            &json!("stttt"),
            &json!({
                "mailboxes": 5, "messages": 3, "certificates": 1, "addresses": 2,
                "memberships": 1,
            })
        )
    );

    // The login and both addresses are free again.
    cli.run(&["alias", "add", "binhtt", "an.nguyen@vinhphuc.gov.vn"])
        .ok();
    official(&cli, "annv", "Nguyễn Văn An", "stttt", &[]);

    let deleted = cli
        .run(&["user", "delete", "binhtt", "--yes", "--json"])
        .ok();
    assert_eq!(
        json_of(&deleted),
        json!({
            "login": "binhtt", "address": "binhtt@vinhphuc.gov.vn", "mailboxes": 5,
            "messages": 1, "bodies_freed": 1, "certificates": 0, "addresses": 2,
            "memberships": 0,
        })
    );
    assert_eq!(ip.refcount(circular).await, None);
    fails(
        cli.run(&["user", "delete", "binhtt", "--yes"]),
        1,
        "congvu-admin: official \"binhtt\" does not exist: check the login with `congvu-admin user list`\n",
    );
}

async fn passwords_are_set_once_and_lockouts_cleared(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db).with_province();
    official(&cli, "annv", "Nguyễn Văn An", "stttt", &[]);
    let ip = InProcess::open(&db).await;
    let hasher = PasswordHasher::new(Argon2Cost::INITIAL);
    let stored = || async {
        let official = ip.directory.official("annv").await.unwrap();
        official.password.unwrap()
    };

    let generated = cli.run(&["user", "passwd", "annv", "--generate"]).ok();
    let password = generated
        .stdout
        .strip_prefix(
            "new initial password for annv (shown once, must be changed at first login): ",
        )
        .and_then(|rest| {
            rest.strip_suffix("\nsign in at https://localhost/ to choose a password\n")
        })
        .unwrap()
        .to_string();
    assert_eq!(password.len(), 20);
    let p = stored().await;
    assert_eq!((p.cost, p.must_change), (PasswordCost::Initial, true));
    assert!(p.hash.0.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
    assert!(hasher.verify(&password, &p.hash));

    let chosen = run_with_stdin(
        &cli,
        &["user", "passwd", "annv", "--stdin"],
        "Mật khẩu mới 2026\n",
    )
    .ok();
    assert_eq!(
        chosen.stdout,
        "password of annv set; it must be changed at next login\n"
    );
    let p = stored().await;
    assert_eq!((p.cost, p.must_change), (PasswordCost::Full, true));
    assert!(
        p.hash.0.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
        "the configured full cost: {}",
        p.hash.0
    );
    assert!(hasher.verify("Mật khẩu mới 2026", &p.hash));

    let kept = run_with_stdin(
        &cli,
        &["user", "passwd", "annv", "--stdin", "--no-must-change"],
        "Đổi mật khẩu 2027\r\nsecond line ignored\n",
    )
    .ok();
    assert_eq!(kept.stdout, "password of annv set\n");
    let p = stored().await;
    assert_eq!((p.cost, p.must_change), (PasswordCost::Full, false));
    assert!(hasher.verify("Đổi mật khẩu 2027", &p.hash), "CRLF stripped");

    // Refused passwords leave the stored one as it was.
    fails(
        run_with_stdin(&cli, &["user", "passwd", "annv", "--stdin"], "Chín ký t\n"),
        1,
        "congvu-admin: the password has 9 characters: use at least 10\n",
    );
    fails(
        run_with_stdin(&cli, &["user", "passwd", "annv", "--stdin"], ""),
        1,
        "congvu-admin: no password on standard input: pipe one line, e.g. \
         `printf '%s\\n' \"$PW\" | congvu-admin user passwd LOGIN --stdin`\n",
    );
    fails(
        run_with_stdin(
            &cli,
            &["user", "passwd", "annv", "--stdin"],
            &format!("{}\n", "a".repeat(1100)),
        ),
        1,
        "congvu-admin: the password line is too long: use at most 256 characters\n",
    );
    assert!(hasher.verify("Đổi mật khẩu 2027", &stored().await.hash));
    bad_usage(cli.run(&["user", "passwd", "annv"]));
    bad_usage(cli.run(&["user", "passwd", "annv", "--generate", "--stdin"]));
    bad_usage(cli.run(&["user", "passwd", "annv", "--generate", "--no-must-change"]));
    fails(
        cli.run(&["user", "passwd", "nobody", "--generate"]),
        1,
        "congvu-admin: official \"nobody\" does not exist: check the login with `congvu-admin user list`\n",
    );

    let scripted = json_of(
        &cli.run(&["user", "passwd", "annv", "--generate", "--json"])
            .ok(),
    );
    let second = scripted["initial_password"].as_str().unwrap().to_string();
    assert_eq!(
        scripted,
        json!({
            "login": "annv", "initial_password": second, "must_change": true,
            "sign_in": "https://localhost/",
        })
    );
    assert!(hasher.verify(&second, &stored().await.hash));

    // The audit log records the cost class and the obligation, never a password.
    let audit = ip.audit("official:annv").await;
    let changes: Vec<Value> = audit
        .iter()
        .filter(|e| e.record.action == "official.password")
        .map(|e| summary(&e.record.after))
        .collect();
    assert_eq!(
        changes,
        [
            json!({ "cost": "initial", "must_change": true }),
            json!({ "cost": "full", "must_change": true }),
            json!({ "cost": "full", "must_change": false }),
            json!({ "cost": "initial", "must_change": true }),
        ]
    );
    for entry in ip.directory.audit_log(None).await.unwrap() {
        let text = format!("{:?}", entry.record);
        for secret in [
            password.as_str(),
            second.as_str(),
            "Mật khẩu mới",
            "Đổi mật khẩu",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    // Unlock: nothing to clear, then a lockout the login code would have set.
    assert_eq!(
        cli.run(&["user", "unlock", "annv"]).ok().stdout,
        "annv was not locked: nothing to clear\n"
    );
    let id = ip.directory.official("annv").await.unwrap().id;
    let mut tx = ip.store.begin().await.unwrap();
    tx.set_lockout(
        id,
        Lockout {
            failed_logins: 5,
            failing_since: Some(UnixTime(1_795_740_000)),
            locked_until: Some(UnixTime(1_795_741_200)),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let show = json_of(&cli.run(&["user", "show", "annv", "--json"]).ok());
    assert_eq!(
        (&show["failed_logins"], &show["locked_until"]),
        (&json!(5), &json!(1_795_741_200))
    );
    assert!(cli
        .run(&["user", "show", "annv"])
        .ok()
        .stdout
        .contains("\nlockout       locked until 2026-11-27 01:00:00 UTC after 5 failed logins\n"));
    assert_eq!(
        cli.run(&["user", "unlock", "annv"]).ok().stdout,
        "unlocked annv: cleared 5 failed logins and a lockout until 2026-11-27 01:00:00 UTC\n"
    );
    let show = json_of(&cli.run(&["user", "show", "annv", "--json"]).ok());
    assert_eq!(
        (&show["failed_logins"], &show["locked_until"]),
        (&json!(0), &Value::Null)
    );
    assert_eq!(
        json_of(&cli.run(&["user", "unlock", "annv", "--json"]).ok()),
        json!({ "login": "annv", "unlocked": false, "failed_logins": 0, "locked_until": null })
    );
    let unlocks: Vec<AuditEntry> = ip
        .audit("official:annv")
        .await
        .into_iter()
        .filter(|e| e.record.action == "official.unlock")
        .collect();
    assert_eq!(unlocks.len(), 1, "only the unlock that cleared something");
    assert_eq!(
        (
            summary(&unlocks[0].record.before),
            summary(&unlocks[0].record.after)
        ),
        (
            json!({ "failed_logins": 5, "locked_until": 1_795_741_200 }),
            json!({ "failed_logins": 0, "locked_until": null })
        )
    );
    fails(
        cli.run(&["user", "unlock", "nobody"]),
        1,
        "congvu-admin: official \"nobody\" does not exist: check the login with `congvu-admin user list`\n",
    );
}

async fn aliases_and_groups_nest_and_refuse_cycles(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db).with_province();
    official(&cli, "annv", "Nguyễn Văn An", "stttt", &[]);
    official(&cli, "binhtt", "Trần Thị Bình", "stttt", &[]);
    official(&cli, "cuongld", "Lê Đức Cường", "stttt", &[]);

    assert_eq!(
        cli.run(&["alias", "add", "annv", "An.Nguyen@VinhPhuc.gov.vn"])
            .ok()
            .stdout,
        "added alias an.nguyen@vinhphuc.gov.vn to annv\n"
    );
    let show = json_of(&cli.run(&["user", "show", "annv", "--json"]).ok());
    assert_eq!(
        show["addresses"],
        json!(["annv@vinhphuc.gov.vn", "an.nguyen@vinhphuc.gov.vn"])
    );
    fails(
        cli.run(&["alias", "add", "binhtt", "an.nguyen@vinhphuc.gov.vn"]),
        1,
        "congvu-admin: address \"an.nguyen@vinhphuc.gov.vn\" is already taken: choose another \
         address: an official, a group or an agency already receives mail there\n",
    );
    fails(
        cli.run(&["alias", "add", "binhtt", "binh@gmail.com"]),
        1,
        "congvu-admin: gmail.com is not a domain congvu serves: add it with `domain add` or use a served domain\n",
    );
    fails(
        cli.run(&["alias", "remove", "annv", "annv@vinhphuc.gov.vn"]),
        1,
        "congvu-admin: alias \"annv@vinhphuc.gov.vn\" does not exist: see the official's \
         addresses with `congvu-admin user show LOGIN`\n",
    );
    assert_eq!(
        json_of(
            &cli.run(&[
                "alias",
                "remove",
                "annv",
                "an.nguyen@vinhphuc.gov.vn",
                "--json"
            ])
            .ok()
        ),
        json!({ "login": "annv", "addresses": ["annv@vinhphuc.gov.vn"] })
    );

    assert_eq!(
        cli.run(&[
            "group",
            "add",
            "lanhdao",
            "--display-name",
            "Lãnh đạo Sở",
            "--agency",
            "stttt"
        ])
        .ok()
        .stdout,
        "added group lanhdao (Lãnh đạo Sở)\n"
    );
    assert_eq!(
        cli.run(&[
            "group",
            "add",
            "toanso",
            "--display-name",
            "Toàn thể Sở TT&TT",
            "--list",
            "--address",
            "toanso@vinhphuc.gov.vn",
            "--description",
            "Thư gửi toàn thể cán bộ Sở",
        ])
        .ok()
        .stdout,
        "added list toanso <toanso@vinhphuc.gov.vn> (Toàn thể Sở TT&TT)\n"
    );
    bad_usage(cli.run(&[
        "group",
        "add",
        "x",
        "--display-name",
        "X",
        "--address",
        "x@vinhphuc.gov.vn",
    ]));
    bad_usage(cli.run(&["group", "add", "x", "--display-name", "X", "--list"]));
    fails(
        cli.run(&[
            "group",
            "add",
            "x",
            "--display-name",
            "X",
            "--list",
            "--address",
            "annv@vinhphuc.gov.vn",
        ]),
        1,
        "congvu-admin: address \"annv@vinhphuc.gov.vn\" is already taken: choose another \
         address: an official, a group or an agency already receives mail there\n",
    );

    for (args, printed) in [
        (["lanhdao", "--user", "annv"], "added annv to lanhdao\n"),
        (
            ["toanso", "--group", "lanhdao"],
            "added group lanhdao to toanso\n",
        ),
        (["toanso", "--user", "binhtt"], "added binhtt to toanso\n"),
        (["toanso", "--user", "CuongLD"], "added cuongld to toanso\n"),
    ] {
        let mut full = vec!["group", "add-member"];
        full.extend(args);
        assert_eq!(cli.run(&full).ok().stdout, printed);
    }
    fails(
        cli.run(&["group", "add-member", "lanhdao", "--group", "toanso"]),
        1,
        "congvu-admin: cannot add group:toanso to lanhdao: it would contain itself\n",
    );
    fails(
        cli.run(&["group", "add-member", "toanso", "--group", "toanso"]),
        1,
        "congvu-admin: cannot add group:toanso to toanso: it would contain itself\n",
    );
    fails(
        cli.run(&["group", "add-member", "lanhdao", "--user", "annv"]),
        1,
        "congvu-admin: group membership \"official:annv\" is already taken: nothing to do: it is already a member\n",
    );
    bad_usage(cli.run(&["group", "add-member", "toanso"]));
    bad_usage(cli.run(&[
        "group",
        "add-member",
        "toanso",
        "--user",
        "annv",
        "--group",
        "lanhdao",
    ]));

    assert_eq!(
        cli.run(&["group", "members", "toanso"]).ok().stdout,
        lines(&[
            "KIND      NAME     ADDRESS                  DISPLAY NAME",
            "official  binhtt   binhtt@vinhphuc.gov.vn   Trần Thị Bình",
            "official  cuongld  cuongld@vinhphuc.gov.vn  Lê Đức Cường",
            "group     lanhdao                           Lãnh đạo Sở",
        ])
    );
    let expanded = json_of(
        &cli.run(&["group", "members", "toanso", "--expand", "--json"])
            .ok(),
    );
    let logins: Vec<&str> = expanded
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins, ["annv", "binhtt", "cuongld"]);
    assert_eq!(
        cli.run(&["group", "list"]).ok().stdout,
        lines(&[
            "NAME     KIND   ADDRESS                 AGENCY  MEMBERS  DISPLAY NAME",
            "lanhdao  group                          stttt   1        Lãnh đạo Sở",
            "toanso   list   toanso@vinhphuc.gov.vn          3        Toàn thể Sở TT&TT",
        ])
    );
    assert_eq!(
        json_of(&cli.run(&["group", "list", "--json"]).ok())[1],
        json!({
            "name": "toanso", "display_name": "Toàn thể Sở TT&TT", "kind": "list",
            "address": "toanso@vinhphuc.gov.vn", "agency": null,
            "description": "Thư gửi toàn thể cán bộ Sở", "members": 3,
        })
    );

    assert_eq!(
        cli.run(&["group", "remove-member", "toanso", "--user", "cuongld"])
            .ok()
            .stdout,
        "removed cuongld from toanso\n"
    );
    fails(
        cli.run(&["group", "remove-member", "toanso", "--user", "cuongld"]),
        1,
        "congvu-admin: member \"official:cuongld\" does not exist: see the members with \
         `congvu-admin group members NAME`\n",
    );
    fails(
        cli.run(&["group", "members", "nope"]),
        1,
        "congvu-admin: group \"nope\" does not exist: check the name with `congvu-admin group list`\n",
    );

    let ip = InProcess::open(&db).await;
    assert_eq!(
        ip.actions("group:toanso").await,
        [
            "group.add",
            "group.add_member",
            "group.add_member",
            "group.add_member",
            "group.remove_member"
        ]
    );
    assert_eq!(
        ip.actions("official:annv").await,
        ["official.add", "alias.add", "alias.remove"]
    );
}

async fn service_accounts_get_a_secret_shown_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db).with_province();

    let added = cli
        .run(&[
            "service",
            "add",
            "qlvb",
            "--scope-agency",
            "stttt",
            "--description",
            "Hệ thống quản lý văn bản",
        ])
        .ok();
    let (first, second) = added.stdout.split_once('\n').unwrap();
    assert_eq!(
        first,
        "added service account qlvb (reads agency stttt and below)"
    );
    let secret = second
        .strip_prefix("secret (shown once, put it in the system's LDAP settings): ")
        .and_then(|s| s.strip_suffix('\n'))
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 40);

    let keycloak = json_of(&cli.run(&["service", "add", "keycloak", "--json"]).ok());
    let keycloak_secret = keycloak["secret"].as_str().unwrap().to_string();
    assert_eq!(
        keycloak,
        json!({ "name": "keycloak", "scope": null, "secret": keycloak_secret })
    );
    assert_ne!(secret, keycloak_secret);

    let ip = InProcess::open(&db).await;
    let hasher = PasswordHasher::new(Argon2Cost::INITIAL);
    let stored = ip.directory.service_account("qlvb").await.unwrap().unwrap();
    assert!(
        stored
            .password_hash
            .0
            .starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
        "full (configured) cost"
    );
    assert!(hasher.verify(&secret, &stored.password_hash));
    assert!(!hasher.verify(&keycloak_secret, &stored.password_hash));

    fails(
        cli.run(&["service", "add", "qlvb"]),
        1,
        "congvu-admin: service account name \"qlvb\" is already taken: choose another name, or see \
         `congvu-admin service list`\n",
    );
    fails(
        cli.run(&["service", "add", "cong-dvc", "--scope-agency", "nope"]),
        1,
        "congvu-admin: agency \"nope\" does not exist: check the code with `congvu-admin agency list`\n",
    );
    assert_eq!(
        cli.run(&["service", "list"]).ok().stdout,
        lines(&[
            "NAME      SCOPE  STATUS  DESCRIPTION",
            "keycloak  (all)  active",
            "qlvb      stttt  active  Hệ thống quản lý văn bản",
        ])
    );
    assert_eq!(
        json_of(&cli.run(&["service", "list", "--json"]).ok()),
        json!([
            { "name": "keycloak", "scope": null, "status": "active", "description": null },
            { "name": "qlvb", "scope": "stttt", "status": "active",
              "description": "Hệ thống quản lý văn bản" },
        ])
    );

    assert_eq!(
        cli.run(&["service", "remove", "qlvb"]).ok().stdout,
        "removed service account qlvb\n"
    );
    fails(
        cli.run(&["service", "remove", "qlvb"]),
        1,
        "congvu-admin: service account \"qlvb\" does not exist: check the name with `congvu-admin service list`\n",
    );
    assert!(ip
        .directory
        .service_account("qlvb")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        ip.actions("service:qlvb").await,
        ["service.add", "service.remove"]
    );
    for entry in ip.directory.audit_log(None).await.unwrap() {
        let text = format!("{:?}", entry.record);
        assert!(
            !text.contains(&secret) && !text.contains(&keycloak_secret),
            "{text}"
        );
    }
}

async fn export_writes_the_columns_import_reads(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db).with_province();
    agency(
        &cli,
        "binhxuyen",
        "Huyện Bình Xuyên",
        "district",
        "vinhphuc",
    );
    official(
        &cli,
        "annv",
        "Nguyễn Văn An",
        "stttt",
        &[
            "--title",
            "Phó Trưởng phòng, phụ trách CNTT",
            "--phone",
            "0211 3862 555",
            "--unit",
            "Phòng Công nghệ thông tin",
            "--employee-id",
            "VP-0001",
        ],
    );
    official(
        &cli,
        "nhunglth",
        "Lê Thị Hồng Nhung",
        "stttt",
        &["--title", "Chuyên viên", "--employee-id", "VP-0002"],
    );
    official(&cli, "dungpv", "Phạm Văn Dũng", "binhxuyen", &[]);
    cli.run(&["user", "disable", "nhunglth"]).ok();

    let all = cli.run(&["user", "export"]).ok();
    assert_eq!(
        all.stdout,
        lines(&[
            "login,full_name,email,agency,unit,title,phone,employee_id,status",
            "annv,Nguyễn Văn An,annv@vinhphuc.gov.vn,stttt,Phòng Công nghệ thông tin,\
             \"Phó Trưởng phòng, phụ trách CNTT\",0211 3862 555,VP-0001,active",
            "dungpv,Phạm Văn Dũng,dungpv@vinhphuc.gov.vn,binhxuyen,,,,,active",
            "nhunglth,Lê Thị Hồng Nhung,nhunglth@vinhphuc.gov.vn,stttt,,Chuyên viên,,VP-0002,disabled",
        ])
    );
    let mut reader = csv::Reader::from_reader(all.stdout.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "login",
            "full_name",
            "email",
            "agency",
            "unit",
            "title",
            "phone",
            "employee_id",
            "status"
        ]
    );
    let first: Vec<String> = reader
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        first[5], "Phó Trưởng phòng, phụ trách CNTT",
        "quoted, not split"
    );

    // What `user export --agency` writes, `user import` reads back as unchanged.
    let stttt = cli.run(&["user", "export", "--agency", "stttt"]).ok();
    assert_eq!(stttt.stdout.lines().count(), 3);
    let file = cli.dir.join("stttt-export.csv");
    std::fs::write(&file, &stttt.stdout).unwrap();
    let plan = json_of(
        &cli.run(&[
            "--json",
            "user",
            "import",
            "--agency",
            "stttt",
            "--dry-run",
            file.to_str().unwrap(),
        ])
        .ok(),
    );
    assert_eq!(
        (
            &plan["create"],
            &plan["update"],
            &plan["unchanged"],
            &plan["rejected"]
        ),
        (&json!([]), &json!([]), &json!(2), &json!([])),
        "{plan:#}"
    );

    let json_export = json_of(
        &cli.run(&[
            "user",
            "export",
            "--agency",
            "binhxuyen",
            "--format",
            "json",
        ])
        .ok(),
    );
    assert_eq!(
        json_export,
        json!([{
            "login": "dungpv", "full_name": "Phạm Văn Dũng", "email": "dungpv@vinhphuc.gov.vn",
            "agency": "binhxuyen", "unit": null, "title": null, "phone": null,
            "employee_id": null, "status": "active",
        }])
    );
    assert_eq!(
        json_of(
            &cli.run(&["--json", "user", "export", "--agency", "binhxuyen"])
                .ok()
        ),
        json_export
    );
    bad_usage(cli.run(&["user", "export", "--format", "xml"]));
    fails(
        cli.run(&["user", "export", "--agency", "nope"]),
        1,
        "congvu-admin: agency \"nope\" does not exist: check the code with `congvu-admin agency list`\n",
    );
}

async fn the_report_counts_per_agency_and_per_level(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db).with_province();
    agency(
        &cli,
        "binhxuyen",
        "Huyện Bình Xuyên",
        "district",
        "vinhphuc",
    );
    agency(
        &cli,
        "huongcanh",
        "Thị trấn Hương Canh",
        "commune",
        "binhxuyen",
    );
    agency(
        &cli,
        "thanhlang",
        "Thị trấn Thanh Lãng",
        "commune",
        "binhxuyen",
    );
    official(&cli, "annv", "Nguyễn Văn An", "stttt", &[]);
    official(&cli, "binhtt", "Trần Thị Bình", "stttt", &[]);
    official(&cli, "nhunglth", "Lê Thị Hồng Nhung", "huongcanh", &[]);
    official(&cli, "anhdd", "Đỗ Đức Anh", "huongcanh", &[]);
    official(&cli, "dungpv", "Phạm Văn Dũng", "binhxuyen", &[]);
    cli.run(&["user", "disable", "binhtt"]).ok();
    let ip = InProcess::open(&db).await;
    ip.deliver(&["annv", "nhunglth"], CIRCULAR).await;
    ip.deliver(&["anhdd"], PRIVATE).await;
    let c = CIRCULAR.len() as i64;
    let p = PRIVATE.len() as i64;

    let report = json_of(&cli.run(&["report", "--format", "json"]).ok());
    let usage = |agencies, officials, active, disabled, mailboxes, storage_bytes| {
        json!({
            "agencies": agencies, "officials": officials, "active": active,
            "disabled": disabled, "mailboxes": mailboxes, "storage_bytes": storage_bytes,
        })
    };
    let level = |name: &str, mut u: Value| {
        u["level"] = json!(name);
        u
    };
    assert_eq!(
        report["levels"],
        json!([
            level("province", usage(1, 0, 0, 0, 0, 0)),
            level("department", usage(1, 2, 1, 1, 2, c)),
            level("district", usage(1, 1, 1, 0, 1, 0)),
            level("commune", usage(2, 2, 2, 0, 2, c + p)),
        ])
    );
    assert_eq!(report["total"], usage(5, 5, 4, 1, 5, 2 * c + p));
    let agency_line = |code: &str, name: &str, level: &str, parent: Value, own, subtree| json!({ "code": code, "name": name, "level": level, "parent": parent, "own": own, "subtree": subtree });
    assert_eq!(
        report["agencies"],
        json!([
            agency_line(
                "vinhphuc",
                "UBND tỉnh Vĩnh Phúc",
                "province",
                Value::Null,
                usage(1, 0, 0, 0, 0, 0),
                usage(5, 5, 4, 1, 5, 2 * c + p)
            ),
            agency_line(
                "binhxuyen",
                "Huyện Bình Xuyên",
                "district",
                json!("vinhphuc"),
                usage(1, 1, 1, 0, 1, 0),
                usage(3, 3, 3, 0, 3, c + p)
            ),
            agency_line(
                "huongcanh",
                "Thị trấn Hương Canh",
                "commune",
                json!("binhxuyen"),
                usage(1, 2, 2, 0, 2, c + p),
                usage(1, 2, 2, 0, 2, c + p)
            ),
            agency_line(
                "thanhlang",
                "Thị trấn Thanh Lãng",
                "commune",
                json!("binhxuyen"),
                usage(1, 0, 0, 0, 0, 0),
                usage(1, 0, 0, 0, 0, 0)
            ),
            agency_line(
                "stttt",
                "Sở Thông tin và Truyền thông",
                "department",
                json!("vinhphuc"),
                usage(1, 2, 1, 1, 2, c),
                usage(1, 2, 1, 1, 2, c)
            ),
        ])
    );
    assert_eq!(
        json_of(&cli.run(&["--json", "report"]).ok()),
        report,
        "--json is --format json"
    );

    let (cb, cpb, ccpb) = (
        format!("{c} B"),
        format!("{} B", c + p),
        format!("{} B", 2 * c + p),
    );
    let table = cli.run(&["report"]).ok();
    assert_eq!(
        table.stdout,
        lines(&[
            "By level:",
            "LEVEL       AGENCIES  OFFICIALS  ACTIVE  DISABLED  MAILBOXES  STORAGE",
            "province    1         0          0       0         0          0 B",
            &format!("department  1         2          1       1         2          {cb}"),
            "district    1         1          1       0         1          0 B",
            &format!("commune     2         2          2       0         2          {cpb}"),
            &format!("total       5         5          4       1         5          {ccpb}"),
            "",
            "By agency (each with the agencies below it):",
            "CODE           LEVEL       AGENCIES  OFFICIALS  ACTIVE  DISABLED  MAILBOXES  STORAGE  NAME",
            &format!("vinhphuc       province    5         5          4       1         5          {ccpb}    UBND tỉnh Vĩnh Phúc"),
            &format!("  binhxuyen    district    3         3          3       0         3          {cpb}    Huyện Bình Xuyên"),
            &format!("    huongcanh  commune     1         2          2       0         2          {cpb}    Thị trấn Hương Canh"),
            "    thanhlang  commune     1         0          0       0         0          0 B      Thị trấn Thanh Lãng",
            &format!("  stttt        department  1         2          1       1         2          {cb}    Sở Thông tin và Truyền thông"),
        ])
    );

    let csv = cli.run(&["report", "--format", "csv"]).ok();
    assert_eq!(
        csv.stdout,
        lines(&[
            "scope,code,level,name,parent,agencies,officials,active,disabled,mailboxes,storage_bytes",
            "level,,province,,,1,0,0,0,0,0",
            &format!("level,,department,,,1,2,1,1,2,{c}"),
            "level,,district,,,1,1,1,0,1,0",
            &format!("level,,commune,,,2,2,2,0,2,{}", c + p),
            &format!("agency,vinhphuc,province,UBND tỉnh Vĩnh Phúc,,5,5,4,1,5,{}", 2 * c + p),
            &format!("agency,binhxuyen,district,Huyện Bình Xuyên,vinhphuc,3,3,3,0,3,{}", c + p),
            &format!("agency,huongcanh,commune,Thị trấn Hương Canh,binhxuyen,1,2,2,0,2,{}", c + p),
            "agency,thanhlang,commune,Thị trấn Thanh Lãng,binhxuyen,1,0,0,0,0,0",
            &format!("agency,stttt,department,Sở Thông tin và Truyền thông,vinhphuc,1,2,1,1,2,{c}"),
            &format!("total,,,,,5,5,4,1,5,{}", 2 * c + p),
        ])
    );
    bad_usage(cli.run(&["report", "--format", "pdf"]));

    // agency show counts the agency's own officials and storage.
    let show = json_of(&cli.run(&["agency", "show", "stttt", "--json"]).ok());
    assert_eq!(
        (
            &show["officials"],
            &show["active"],
            &show["disabled"],
            &show["mailboxes"],
            &show["storage_bytes"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(2), &json!(c))
    );
}

#[test]
fn completions_and_manual_need_no_config() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _congvu__admin"),
        ("zsh", "#compdef congvu-admin"),
        ("fish", "complete -c congvu-admin"),
        (
            "powershell",
            "Register-ArgumentCompleter -Native -CommandName 'congvu-admin'",
        ),
        ("elvish", "edit:completion:arg-completer[congvu-admin]"),
    ] {
        let run = run_without_config(dir.path(), &["completions", shell]);
        assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{shell}");
        assert!(run.stdout.contains(marker), "{shell}:\n{}", run.stdout);
        for command in ["add-member", "unlock", "export", "report"] {
            assert!(run.stdout.contains(command), "{shell} lacks {command}");
        }
    }
    bad_usage(run_without_config(dir.path(), &["completions", "tcsh"]));

    let man = run_without_config(dir.path(), &["man"]);
    assert_eq!((man.code, man.stderr.as_str()), (Some(0), ""));
    assert!(
        man.stdout.starts_with(".TH congvu-admin 1 "),
        "{}",
        man.stdout
    );
    assert!(man
        .stdout
        .contains("\n.SH NAME\ncongvu\\-admin \\- Administer congvu"));
    assert!(man.stdout.contains("\n.SH SUBCOMMANDS\n"));
    let page = run_without_config(dir.path(), &["man", "user", "passwd"]);
    assert_eq!(page.code, Some(0));
    assert!(page.stdout.starts_with(".TH congvu-admin-user-passwd 1 "));
    assert!(page.stdout.contains("\\-\\-generate"));
    fails(
        run_without_config(dir.path(), &["man", "user", "nope"]),
        2,
        "congvu-admin: no command \"user nope\": see `congvu-admin --help`\n",
    );

    let pages = dir.path().join("man1");
    std::fs::create_dir(&pages).unwrap();
    let written = run_without_config(dir.path(), &["man", "--out-dir", pages.to_str().unwrap()]);
    assert_eq!((written.code, written.stdout.as_str()), (Some(0), ""));
    for name in [
        "congvu-admin.1",
        "congvu-admin-user.1",
        "congvu-admin-user-passwd.1",
        "congvu-admin-group-add-member.1",
        "congvu-admin-report.1",
    ] {
        assert!(pages.join(name).is_file(), "{name} not written");
    }
}

#[test]
fn usage_and_config_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    bad_usage(run_without_config(dir.path(), &[]));
    bad_usage(run_without_config(dir.path(), &["frobnicate"]));
    bad_usage(run_without_config(dir.path(), &["user", "delete"]));
    let missing = run_without_config(dir.path(), &["user", "list"]);
    assert_eq!(
        (missing.code, missing.stdout.as_str()),
        (Some(2), ""),
        "{}",
        missing.stderr
    );
    assert!(
        missing
            .stderr
            .starts_with("congvu-admin: /nonexistent/congvu.toml: cannot read"),
        "{}",
        missing.stderr
    );
    // The import commands are wired in (their behaviour is tested in import.rs).
    let help = run_without_config(dir.path(), &["user", "import", "--help"]);
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.contains("--credentials-out"));
    let help = run_without_config(dir.path(), &["agency", "import", "--help"]);
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.contains("--dry-run"));
}

async fn sieve_scripts_are_stored_only_when_they_compile(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db).with_province();
    official(&cli, "annv", "Nguyễn Văn An", "stttt", &[]);
    let good = cli.dir.join("phan-loai.sieve");
    std::fs::write(
        &good,
        "require \"fileinto\";\nif header :contains \"Subject\" \"Công văn\" { fileinto \"Công văn\"; }\n",
    )
    .unwrap();
    let broken = cli.dir.join("hong.sieve");
    std::fs::write(&broken, "require \"fileinto\";\n\nfileinto \"A\"\nkeep;\n").unwrap();
    let good_path = good.display().to_string();
    let broken_path = broken.display().to_string();
    assert_eq!(
        cli.run(&[
            "sieve",
            "put",
            "annv",
            "Phân loại",
            &good_path,
            "--activate"
        ])
        .ok()
        .stdout,
        "stored \"Phân loại\" for annv\n"
    );
    let refused = cli.run(&["sieve", "put", "annv", "hỏng", &broken_path]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused
            .stderr
            .starts_with(&format!("congvu-admin: {broken_path}: line 4, column ")),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("nothing was stored"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        cli.run(&["sieve", "list", "annv"]).ok().stdout,
        "Phân loại (active)\n"
    );
    assert!(cli
        .run(&["sieve", "show", "annv", "Phân loại"])
        .ok()
        .stdout
        .contains("fileinto \"Công văn\""));
    let active = cli.run(&["sieve", "delete", "annv", "Phân loại"]);
    assert_eq!(active.code, Some(1));
    assert!(
        active.stderr.contains("is the active script"),
        "{}",
        active.stderr
    );
    cli.run(&["sieve", "deactivate", "annv"]).ok();
    cli.run(&["sieve", "delete", "annv", "Phân loại"]).ok();
    assert_eq!(cli.run(&["sieve", "list", "annv"]).ok().stdout, "");
}
