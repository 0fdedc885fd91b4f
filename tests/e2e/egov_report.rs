//! `congvu-admin report egov` through the real binary on SQLite and PostgreSQL: a small
//! province built with the CLI, certificates, submission counts and activity days written
//! through the store (with rows just outside the period on both ends), and every number
//! checked in JSON, CSV, the table and the HTML page; bad periods; and the page rendered by
//! headless Chromium.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use congvu::clock::{Clock, UnixTime};
use congvu::directory::{Certificate, CertificateId, Directory, UtcDay};
use congvu::mailstore::message::Signing;
use congvu::store::Store;
use congvu_tests::{Backend, TestDb};
use serde_json::{json, Value};

use crate::admin::{fails, json_of, AdminCli, AdminRun};
use crate::backend_tests;

backend_tests!(
    egov_report_counts_agencies_levels_and_total,
    egov_report_table_shows_every_level,
    egov_report_html_holds_the_tables_and_one_bar_per_row,
    egov_report_refuses_bad_periods,
);

/// 2026-03-01 00:00:00 UTC, the period's first second.
const START: i64 = 1_772_323_200;
/// 2026-03-31 23:59:59 UTC, the period's last second.
const END: i64 = 1_775_001_599;
const DAY: i64 = 86_400;
const PERIOD: [&str; 4] = ["--from", "2026-03-01", "--to", "2026-03-31"];

/// A department whose name needs escaping in HTML.
const SOTC_NAME: &str = r#"Sở Tài chính <Kế hoạch> & "Đầu tư""#;
const SOTC_ESCAPED: &str = "Sở Tài chính &lt;Kế hoạch&gt; &amp; &quot;Đầu tư&quot;";

/// The province as the CLI built it, and the same database opened in this process.
struct Province {
    cli: AdminCli,
    store: Store,
    directory: Directory,
    _db: TestDb,
}

impl Province {
    async fn official(&self, login: &str) -> congvu::directory::OfficialId {
        self.directory.official(login).await.unwrap().id
    }

    async fn agency(&self, code: &str) -> congvu::directory::AgencyId {
        self.directory.agency(code).await.unwrap().id
    }

    /// Gives `login` a certificate valid from `not_before` to `not_after`, maybe revoked.
    async fn certificate(
        &self,
        login: &str,
        serial: &str,
        not_before: i64,
        not_after: i64,
        revoked_at: Option<i64>,
    ) {
        let official_id = self.official(login).await;
        let der = format!("DER of {login}'s certificate {serial}").into_bytes();
        let mut tx = self.store.begin().await.unwrap();
        tx.insert_certificate(&Certificate {
            id: CertificateId(0),
            official_id,
            fingerprint_sha256: congvu::directory::fingerprint(&der),
            der,
            serial: serial.into(),
            issuer: "CN=Vietnam Government CA, O=Ban Co yeu Chinh phu, C=VN".into(),
            subject: format!("CN={login}, C=VN"),
            not_before: UnixTime(not_before),
            not_after: UnixTime(not_after),
            key_usage: Some("digitalSignature, nonRepudiation".into()),
            revoked_at: revoked_at.map(UnixTime),
            created_at: UnixTime(not_before),
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// Counts `n` submissions of `agency` on `day`, signed as `signing`.
    async fn submissions(&self, agency: &str, day: &str, signing: Signing, n: usize) {
        let agency = self.agency(agency).await;
        let mut tx = self.store.begin().await.unwrap();
        for _ in 0..n {
            tx.count_submission(agency, day, signing).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    async fn active(&self, login: &str, days: &[&str]) {
        let official = self.official(login).await;
        let mut tx = self.store.begin().await.unwrap();
        for day in days {
            tx.record_activity(official, day).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    fn report(&self, extra: &[&str]) -> AdminRun {
        let mut args = vec!["report", "egov"];
        args.extend_from_slice(&PERIOD);
        args.extend_from_slice(extra);
        self.cli.run(&args)
    }
}

fn agency(cli: &AdminCli, code: &str, name: &str, level: &str, parent: &str) {
    cli.run(&[
        "agency", "add", code, "--name", name, "--level", level, "--parent", parent,
    ])
    .ok();
}

fn official(cli: &AdminCli, login: &str, name: &str, agency: &str) {
    cli.run(&["user", "add", login, "--name", name, "--agency", agency])
        .ok();
}

/// The province, two departments, a district with two communes (one without anybody), and
/// the mail, certificates and activity of March 2026, with rows just outside it.
async fn province(backend: Backend) -> Option<Province> {
    let db = TestDb::new(backend).await?;
    let cli = AdminCli::new(&db).with_province();
    agency(&cli, "sotc", SOTC_NAME, "department", "vinhphuc");
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
    official(&cli, "annv", "Nguyễn Văn An", "stttt");
    official(&cli, "binhtt", "Trần Thị Bình", "stttt");
    official(&cli, "cuonglm", "Lê Mạnh Cường", "stttt");
    official(&cli, "dungpv", "Phạm Văn Dũng", "sotc");
    official(&cli, "hoanglv", "Lê Văn Hoàng", "binhxuyen");
    official(&cli, "nhunglth", "Lê Thị Hồng Nhung", "huongcanh");
    official(&cli, "anhdd", "Đỗ Đức Anh", "huongcanh");
    cli.run(&["user", "disable", "binhtt"]).ok();

    let store = db.open_store().await;
    let p = Province {
        directory: Directory::new(store.clone(), Clock::system()),
        store,
        cli,
        _db: db,
    };

    p.active("annv", &["2026-03-01", "2026-03-15"]).await;
    // Disabled now, but active in the period: counted.
    p.active("binhtt", &["2026-03-10"]).await;
    // The days either side of the period only.
    p.active("cuonglm", &["2026-02-28", "2026-04-01"]).await;
    p.active("nhunglth", &["2026-03-31"]).await;
    p.active("hoanglv", &["2026-03-01"]).await;

    let (y2025, y2027, y2028) = (1_735_689_600, 1_798_761_600, 1_830_297_600);
    // Valid, issued before the period.
    p.certificate("annv", "A1", y2025, y2027, None).await;
    // Valid, issued on the period's first second.
    p.certificate("annv", "A2", START, y2028, None).await;
    // The holder is disabled: the certificate still counts.
    p.certificate("binhtt", "B1", y2025, y2027, None).await;
    // Revoked inside the period: issued (cumulative) but not valid.
    p.certificate(
        "cuonglm",
        "C1",
        START - 50 * DAY,
        y2027,
        Some(START + 19 * DAY),
    )
    .await;
    // Begins one second after the period: nowhere.
    p.certificate("cuonglm", "C2", END + 1, y2028, None).await;
    // Revoked one second after the period: valid at its end.
    p.certificate("dungpv", "D1", START + 9 * DAY, y2027, Some(END + 1))
        .await;
    // Begins one second before the period: valid, not issued in it.
    p.certificate("hoanglv", "H1", START - 1, y2027, None).await;
    // Begins on the period's last second.
    p.certificate("nhunglth", "N1", END, y2028, None).await;
    // Expires on the period's last second: not valid at its end.
    p.certificate("anhdd", "E1", y2025, END, None).await;

    use Signing::{Unsigned, Unverified, Verified};
    p.submissions("stttt", "2026-03-01", Verified, 3).await;
    p.submissions("stttt", "2026-03-01", Unverified, 1).await;
    p.submissions("stttt", "2026-03-01", Unsigned, 1).await;
    p.submissions("stttt", "2026-03-31", Verified, 2).await;
    p.submissions("stttt", "2026-02-28", Verified, 4).await;
    p.submissions("stttt", "2026-04-01", Unsigned, 4).await;
    p.submissions("sotc", "2026-03-15", Verified, 1).await;
    p.submissions("binhxuyen", "2026-03-10", Verified, 19).await;
    p.submissions("binhxuyen", "2026-03-10", Unsigned, 1).await;
    p.submissions("huongcanh", "2026-03-20", Verified, 2).await;
    p.submissions("huongcanh", "2026-03-20", Unverified, 1)
        .await;
    p.submissions("vinhphuc", "2026-03-05", Verified, 1).await;
    p.submissions("vinhphuc", "2026-03-05", Unsigned, 1).await;
    Some(p)
}

/// One row's numbers, in the order of the CSV columns from `agencies` on.
#[derive(Clone, Copy)]
struct Row {
    agencies: i64,
    with_mailboxes: i64,
    mailboxes: i64,
    active: i64,
    holders: i64,
    issued: i64,
    cumulative: i64,
    sent: i64,
    signed: i64,
    verified: i64,
    share: Option<&'static str>,
    target: Option<u8>,
    met: Option<bool>,
}

#[allow(clippy::too_many_arguments)]
const fn row(
    agencies: i64,
    with_mailboxes: i64,
    mailboxes: i64,
    active: i64,
    holders: i64,
    issued: i64,
    cumulative: i64,
    (sent, signed, verified): (i64, i64, i64),
    share: Option<&'static str>,
    target: Option<u8>,
    met: Option<bool>,
) -> Row {
    Row {
        agencies,
        with_mailboxes,
        mailboxes,
        active,
        holders,
        issued,
        cumulative,
        sent,
        signed,
        verified,
        share,
        target,
        met,
    }
}

const PROVINCE: Row = row(1, 0, 0, 0, 0, 0, 0, (2, 1, 1), Some("50.0"), None, None);
const DEPARTMENTS: Row = row(
    2,
    2,
    3,
    2,
    3,
    2,
    5,
    (8, 7, 6),
    Some("75.0"),
    Some(99),
    Some(false),
);
const DISTRICTS: Row = row(
    1,
    1,
    1,
    1,
    1,
    0,
    1,
    (20, 19, 19),
    Some("95.0"),
    Some(95),
    Some(true),
);
/// 2 of 3 is 66.66…%: shown rounded down.
const COMMUNES: Row = row(
    2,
    1,
    2,
    1,
    1,
    1,
    2,
    (3, 3, 2),
    Some("66.6"),
    Some(70),
    Some(false),
);
/// 28 of 33 is 84.84…%.
const TOTAL: Row = row(6, 4, 6, 4, 5, 3, 8, (33, 30, 28), Some("84.8"), None, None);

/// Each agency, in report order: code, level, name, parent, numbers.
fn agencies() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Row,
)> {
    vec![
        (
            "vinhphuc",
            "province",
            "UBND tỉnh Vĩnh Phúc",
            None,
            PROVINCE,
        ),
        (
            "sotc",
            "department",
            SOTC_NAME,
            Some("vinhphuc"),
            row(
                1,
                1,
                1,
                0,
                1,
                1,
                1,
                (1, 1, 1),
                Some("100.0"),
                Some(99),
                Some(true),
            ),
        ),
        (
            "stttt",
            "department",
            "Sở Thông tin và Truyền thông",
            Some("vinhphuc"),
            // annv and cuonglm hold mailboxes; binhtt is disabled.
            row(
                1,
                1,
                2,
                2,
                2,
                1,
                4,
                (7, 6, 5),
                Some("71.4"),
                Some(99),
                Some(false),
            ),
        ),
        (
            "binhxuyen",
            "district",
            "Huyện Bình Xuyên",
            Some("vinhphuc"),
            DISTRICTS,
        ),
        (
            "huongcanh",
            "commune",
            "Thị trấn Hương Canh",
            Some("binhxuyen"),
            row(
                1,
                1,
                2,
                1,
                1,
                1,
                2,
                (3, 3, 2),
                Some("66.6"),
                Some(70),
                Some(false),
            ),
        ),
        (
            "thanhlang",
            "commune",
            "Thị trấn Thanh Lãng",
            Some("binhxuyen"),
            row(1, 0, 0, 0, 0, 0, 0, (0, 0, 0), None, Some(70), None),
        ),
    ]
}

fn levels() -> [(&'static str, Row); 4] {
    [
        ("province", PROVINCE),
        ("department", DEPARTMENTS),
        ("district", DISTRICTS),
        ("commune", COMMUNES),
    ]
}

fn row_json(r: Row) -> Value {
    json!({
        "agencies": r.agencies,
        "agencies_with_mailboxes": r.with_mailboxes,
        "mailboxes": r.mailboxes,
        "active": r.active,
        "valid_certificate_holders": r.holders,
        "certificates_issued": r.issued,
        "certificates_cumulative": r.cumulative,
        "sent": r.sent,
        "signed": r.signed,
        "verified": r.verified,
        "signed_share_percent": r.share.map(|s| s.parse::<f64>().unwrap()),
        "target_percent": r.target,
        "target_met": r.met,
    })
}

fn row_csv(r: Row) -> String {
    let met = r.met.map_or("", |m| if m { "yes" } else { "no" });
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{met}",
        r.agencies,
        r.with_mailboxes,
        r.mailboxes,
        r.active,
        r.holders,
        r.issued,
        r.cumulative,
        r.sent,
        r.signed,
        r.verified,
        r.share.unwrap_or(""),
        r.target.map(|t| t.to_string()).unwrap_or_default(),
    )
}

fn lines(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

async fn egov_report_counts_agencies_levels_and_total(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // Before there are districts and communes: every level is listed, empty ones too.
    let cli = AdminCli::new(&db).with_province();
    let empty = json_of(&cli.run(&["report", "egov", "--format", "json"]).ok());
    let today = UtcDay::of(Clock::system().now());
    assert_eq!(
        empty["period"],
        json!({ "from": today.first_of_year().to_string(), "to": today.to_string() }),
        "the year so far by default"
    );
    let none = |target| row_json(row(0, 0, 0, 0, 0, 0, 0, (0, 0, 0), None, target, None));
    let level = |name: &str, mut v: Value| {
        v["level"] = json!(name);
        v
    };
    assert_eq!(empty["levels"][2], level("district", none(Some(95))));
    assert_eq!(empty["levels"][3], level("commune", none(Some(70))));
    drop(cli);
    drop(db);

    let Some(p) = province(backend).await else {
        return;
    };
    let report = json_of(&p.report(&["--format", "json"]).ok());
    assert_eq!(
        report["period"],
        json!({ "from": "2026-03-01", "to": "2026-03-31" })
    );
    assert_eq!(
        report["levels"],
        Value::Array(
            levels()
                .into_iter()
                .map(|(name, r)| level(name, row_json(r)))
                .collect()
        )
    );
    assert_eq!(
        report["agencies"],
        Value::Array(
            agencies()
                .into_iter()
                .map(|(code, level, name, parent, r)| {
                    let mut v = row_json(r);
                    v["code"] = json!(code);
                    v["level"] = json!(level);
                    v["name"] = json!(name);
                    v["parent"] = json!(parent);
                    v
                })
                .collect()
        )
    );
    assert_eq!(report["total"], row_json(TOTAL));
    let mut args = vec!["--json", "report", "egov"];
    args.extend_from_slice(&PERIOD);
    assert_eq!(
        json_of(&p.cli.run(&args).ok()),
        report,
        "--json is --format json"
    );

    let csv = p.report(&["--format", "csv"]).ok();
    let mut expected = vec![
        "scope,code,level,name,parent,agencies,agencies_with_mailboxes,mailboxes,active,\
         valid_certificate_holders,certificates_issued,certificates_cumulative,sent,signed,\
         verified,signed_share_percent,target_percent,target_met"
            .to_string(),
    ];
    for (name, r) in levels() {
        expected.push(format!("level,,{name},,,{}", row_csv(r)));
    }
    for (code, level, name, parent, r) in agencies() {
        let name = if name.contains('"') {
            format!("\"{}\"", name.replace('"', "\"\""))
        } else {
            name.to_string()
        };
        expected.push(format!(
            "agency,{code},{level},{name},{},{}",
            parent.unwrap_or(""),
            row_csv(r)
        ));
    }
    expected.push(format!("total,,,,,{}", row_csv(TOTAL)));
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(csv.stdout, lines(&expected));

    // Written to a file instead: the same bytes.
    let file = p.cli.dir.join("egov.csv");
    let wrote = p
        .report(&["--format", "csv", "--output", file.to_str().unwrap()])
        .ok();
    assert_eq!(wrote.stdout, format!("wrote {}\n", file.display()));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), csv.stdout);
}

async fn egov_report_table_shows_every_level(backend: Backend) {
    let Some(p) = province(backend).await else {
        return;
    };
    let table = p.report(&[]).ok();
    let head: Vec<&str> = table.stdout.lines().take(9).collect();
    assert_eq!(
        head,
        [
            "E-government report, 2026-03-01 to 2026-03-31 (UTC days, both included)",
            "",
            "By level:",
            "LEVEL       WITH MAILBOXES  MAILBOXES  ACTIVE  CERT HOLDERS  CERTS ISSUED  CERTS TOTAL  SENT  SIGNED  VERIFIED  SIGNED %  TARGET  MET",
            "province    0/1             0          0       0             0             0            2     1       1         50.0%     –       –",
            "department  2/2             3          2       3             2             5            8     7       6         75.0%     99%     no",
            "district    1/1             1          1       1             0             1            20    19      19        95.0%     95%     yes",
            "commune     1/2             2          1       1             1             2            3     3       2         66.6%     70%     no",
            "total       4/6             6          4       5             3             8            33    30      28        84.8%     –       –",
        ]
    );
    let agency_lines: Vec<&str> = table.stdout.lines().skip(10).collect();
    assert_eq!(
        agency_lines[0],
        "By agency (its own officials), grouped by level:"
    );
    let codes: Vec<&str> = agency_lines[2..]
        .iter()
        .map(|l| l.split("  ").find(|c| !c.is_empty()).unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "vinhphuc",
            "sotc",
            "stttt",
            "binhxuyen",
            "huongcanh",
            "thanhlang"
        ]
    );
    assert!(
        agency_lines[7].ends_with("no              0          0       0             0             0            0     0       0         –         70%     –    Thị trấn Thanh Lãng"),
        "{}",
        agency_lines[7]
    );

    fails(
        p.report(&["--output", "egov.txt"]),
        2,
        "congvu-admin: --output writes csv, json or html; add --format csv, json or html, or \
         redirect the table\n",
    );
}

/// The text of each cell of the first `<tr>` whose opening tag holds `marker`.
fn cells(html: &str, marker: &str) -> Vec<String> {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no row {marker}"));
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    row.split("<td")
        .skip(1)
        .map(|cell| {
            let cell = &cell[cell.find('>').unwrap() + 1..];
            let mut text = String::new();
            let mut in_tag = false;
            for c in cell.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text
        })
        .collect()
}

/// The cells the HTML shows for `r` after its first two columns (Vietnamese decimal comma).
fn html_numbers(r: Row) -> Vec<String> {
    let mut cells: Vec<String> = [
        r.mailboxes,
        r.active,
        r.holders,
        r.issued,
        r.cumulative,
        r.sent,
        r.signed,
        r.verified,
    ]
    .iter()
    .map(i64::to_string)
    .collect();
    cells.push(
        r.share
            .map_or("–".into(), |s| format!("{}%", s.replace('.', ","))),
    );
    cells
}

fn verdict(met: Option<bool>) -> String {
    match met {
        Some(true) => "Đạt",
        Some(false) => "Chưa đạt",
        None => "–",
    }
    .to_string()
}

/// `name="value"` of the tag `tag`.
fn attribute<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let start = tag.find(&key).unwrap_or_else(|| panic!("{name} in {tag}")) + key.len();
    &tag[start..start + tag[start..].find('"').unwrap()]
}

async fn egov_report_html_holds_the_tables_and_one_bar_per_row(backend: Backend) {
    let Some(p) = province(backend).await else {
        return;
    };
    let file = p.cli.dir.join("egov.html");
    let wrote = p
        .report(&["--format", "html", "--output", file.to_str().unwrap()])
        .ok();
    assert_eq!(wrote.stdout, format!("wrote {}\n", file.display()));
    let html = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        p.report(&["--format", "html"]).ok().stdout,
        html,
        "the same page on standard output"
    );

    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">")
    );
    assert!(html.contains("Kỳ báo cáo: <strong>01/03/2026 – 31/03/2026</strong>"));
    for outside in [
        "http://", "https://", "<script", "<link", "<img", "src=", "url(", "@import",
    ] {
        assert!(
            !html.contains(outside),
            "the page refers outside: {outside}"
        );
    }
    assert!(html.contains(SOTC_ESCAPED));
    assert!(
        !html.contains("<Kế hoạch>"),
        "an agency name left unescaped"
    );

    // The level table.
    for (name, r) in levels() {
        let mut expected = vec![
            cells(&html, &format!("<tr class=\"level\" data-level=\"{name}\""))[0].clone(),
            format!("{}/{}", r.with_mailboxes, r.agencies),
        ];
        expected.extend(html_numbers(r));
        expected.push(r.target.map_or("–".into(), |t| format!("{t}%")));
        expected.push(verdict(r.met));
        assert_eq!(
            cells(&html, &format!("<tr class=\"level\" data-level=\"{name}\"")),
            expected,
            "{name}"
        );
    }
    let mut total = vec!["Toàn tỉnh Total".to_string(), "4/6".to_string()];
    total.extend(html_numbers(TOTAL));
    total.extend(["–".to_string(), "–".to_string()]);
    assert_eq!(cells(&html, "<tr class=\"total\""), total);
    assert_eq!(
        cells(&html, "<tr class=\"level\" data-level=\"department\"")[0],
        "Sở, ban, ngành Departments"
    );

    // The agency table: each agency's own row, grouped under its level.
    for (code, _, name, _, r) in agencies() {
        let mut expected = vec![
            format!(
                "{} ({code})",
                if code == "sotc" { SOTC_ESCAPED } else { name }
            ),
            if r.with_mailboxes > 0 {
                "Có"
            } else {
                "Không"
            }
            .to_string(),
        ];
        expected.extend(html_numbers(r));
        expected.push(verdict(r.met));
        let got = cells(&html, &format!("<tr class=\"agency\" data-code=\"{code}\""));
        assert_eq!(got, expected, "{code}");
    }
    let groups: Vec<&str> = html
        .match_indices("<tr class=\"group\" data-level=\"")
        .map(|(i, m)| &html[i + m.len()..i + m.len() + html[i + m.len()..].find('"').unwrap()])
        .collect();
    assert_eq!(groups, ["province", "department", "district", "commune"]);
    let order: Vec<usize> = [
        "vinhphuc",
        "sotc",
        "stttt",
        "binhxuyen",
        "huongcanh",
        "thanhlang",
    ]
    .iter()
    .map(|c| {
        html.find(&format!("<tr class=\"agency\" data-code=\"{c}\""))
            .unwrap()
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "tree order by level");

    // The charts: one bar per level and per agency, 5 units per percent.
    let bars: Vec<(String, String, String)> = html
        .match_indices("<rect class=\"bar")
        .map(|(i, _)| {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            (
                attribute(tag, "data-scope").to_string(),
                attribute(tag, "data-key").to_string(),
                attribute(tag, "width").to_string(),
            )
        })
        .collect();
    let bar = |scope: &str, key: &str, width: &str| {
        (scope.to_string(), key.to_string(), width.to_string())
    };
    assert_eq!(
        bars,
        [
            bar("level", "province", "250.0"),
            bar("level", "department", "375.0"),
            bar("level", "district", "475.0"),
            bar("level", "commune", "333.0"),
            bar("agency", "vinhphuc", "250.0"),
            bar("agency", "sotc", "500.0"),
            bar("agency", "stttt", "357.0"),
            bar("agency", "binhxuyen", "475.0"),
            bar("agency", "huongcanh", "333.0"),
            bar("agency", "thanhlang", "0"),
        ]
    );
    // The level chart marks each target on its own row; each agency panel once.
    let targets: Vec<&str> = html
        .match_indices("<line class=\"target\"")
        .map(|(i, _)| attribute(&html[i..i + html[i..].find('>').unwrap()], "x1"))
        .collect();
    assert_eq!(
        targets,
        ["745.0", "725.0", "600.0", "745.0", "725.0", "600.0"]
    );
    for tick in ["0%", "20%", "40%", "60%", "80%", "100%"] {
        assert_eq!(
            html.matches(&format!("text-anchor=\"middle\">{tick}</text>"))
                .count(),
            5,
            "the tick {tick} on each of the five charts"
        );
    }
    assert!(html.contains(">75,0%</text>"), "the value beside the bar");
    assert!(html.contains("@media print"));
}

async fn egov_report_refuses_bad_periods(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let cli = AdminCli::new(&db).with_province();
    for (option, value) in [
        ("--from", "2026-02-30"),
        ("--to", "2026-13-01"),
        ("--from", "1/3/2026"),
        ("--to", "2026-3-31"),
    ] {
        fails(
            cli.run(&["report", "egov", option, value]),
            2,
            &format!(
                "error: invalid value '{value}' for '{option} <YYYY-MM-DD>': not a calendar date \
                 written YYYY-MM-DD, e.g. 2026-01-31\n\nFor more information, try '--help'.\n"
            ),
        );
    }
    fails(
        cli.run(&[
            "report",
            "egov",
            "--from",
            "2026-04-01",
            "--to",
            "2026-03-31",
        ]),
        2,
        "congvu-admin: --from 2026-04-01 is after --to 2026-03-31: the period runs from --from \
         to --to, both days included\n",
    );
    let tomorrow = UtcDay::of(Clock::system().now().plus(DAY));
    let today = UtcDay::of(Clock::system().now());
    fails(
        cli.run(&["report", "egov", "--from", &tomorrow.to_string()]),
        2,
        &format!(
            "congvu-admin: --from {tomorrow} is after --to {today} (today, the default): the \
             period runs from --from to --to, both days included\n"
        ),
    );
    // One day is a period.
    cli.run(&[
        "report",
        "egov",
        "--from",
        "2026-03-31",
        "--to",
        "2026-03-31",
    ])
    .ok();
    // The usage report is unchanged, and takes no egov options.
    let usage = cli.run(&["report", "--format", "csv"]).ok();
    assert!(usage.stdout.starts_with(
        "scope,code,level,name,parent,agencies,officials,active,disabled,mailboxes,storage_bytes\n"
    ));
    let run = cli.run(&["report", "--from", "2026-03-01"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run
        .stderr
        .starts_with("error: unexpected argument '--from'"));
}

/// Longest one Chromium run may take.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(60);

/// Runs headless Chromium on `page` with `args`; returns its standard output and error. The
/// test fails, never skips, when Chromium is missing: .ci/run installs it.
fn chromium(dir: &Path, page: &Path, args: &[&str]) -> (String, String) {
    let program = Path::new("/usr/bin/chromium");
    assert!(
        program.exists(),
        "/usr/bin/chromium is not installed (Debian package chromium); .ci/run installs it"
    );
    let stdout = dir.join("chromium.out");
    let stderr = dir.join("chromium.err");
    // Output goes to files, not pipes: a page's DOM is more than a pipe holds while we wait.
    let mut child = Command::new(program)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1240,1754",
            // Console messages and every file the page loads, on standard error.
            "--enable-logging=stderr",
            "--log-level=0",
            "--vmodule=file_url_loader_factory=1",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + CHROMIUM_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium ran past {CHROMIUM_DEADLINE:?}:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (
        std::fs::read_to_string(&stdout).unwrap(),
        std::fs::read_to_string(&stderr).unwrap(),
    );
    assert!(status.success(), "chromium failed ({status}):\n{err}");
    (out, err)
}

/// Lines of Chromium's standard error about the page: console messages, and any file it
/// loaded besides the page itself.
fn page_complaints(stderr: &str, page: &Path) -> Vec<String> {
    let url = format!("file://{}", page.display());
    stderr
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || (l.contains("FileURLLoader::Start:") && !l.ends_with(&format!(": {url}")))
                || (l.contains(&url) && !l.contains("FileURLLoader::Start:"))
        })
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egov_report_html_renders_in_chromium() {
    let p = province(Backend::Sqlite).await.unwrap();
    let page = p.cli.dir.join("egov.html");
    p.report(&["--format", "html", "--output", page.to_str().unwrap()])
        .ok();
    let dir = p.cli.dir.clone();
    tokio::task::spawn_blocking(move || {
        let png = dir.join("egov.png");
        let (_, stderr) = chromium(&dir, &page, &[&format!("--screenshot={}", png.display())]);
        assert_eq!(
            page_complaints(&stderr, &page),
            Vec::<String>::new(),
            "{stderr}"
        );
        let image = std::fs::read(&png).unwrap();
        assert!(image.len() > 10_000, "{} bytes", image.len());
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height of the window.
        assert_eq!(&image[16..24], &[0, 0, 0x04, 0xd8, 0, 0, 0x06, 0xda]);

        let (dom, stderr) = chromium(&dir, &page, &["--dump-dom"]);
        assert_eq!(
            page_complaints(&stderr, &page),
            Vec::<String>::new(),
            "{stderr}"
        );
        assert_eq!(
            dom.matches("<svg class=\"chart\"").count(),
            5,
            "level chart and 4 panels"
        );
        assert_eq!(dom.matches("<rect class=\"bar").count(), 10);
        assert_eq!(dom.matches("<table class=").count(), 2);
        // Serialized text escapes <, > and & but not quotes.
        assert!(
            dom.contains("Sở Tài chính &lt;Kế hoạch&gt; &amp; \"Đầu tư\" <span"),
            "the name is text, not markup"
        );
    })
    .await
    .unwrap();
}
