//! `congvu-bench egov-demo`: a province-shaped SQLite database for showing `congvu-admin report
//! egov` (scripts/egov-report-demo.sh renders it and takes docs/egov-report.png).
//!
//! Vĩnh Phúc's tree: the province, 20 departments, 9 districts and cities, 136 communes and
//! wards, about 8,300 officials, loaded through `congvu-admin agency import` and `user
//! import` as an administrator would. What only running mail produces (submission counts by
//! signing, activity days) and the signing certificates are then written through the store
//! API, from a seeded generator: departments sign 96.5–100% of their mail with signatures
//! that verify, districts 90–97%, communes 50–80%. Two communes are left without officials,
//! as if not yet onboarded.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::admin::hr_list;
use anyhow::Context as _;
use congvu::clock::{Clock, UnixTime};
use congvu::directory::{
    ascii_word, fingerprint, AgencyLevel, Certificate, CertificateId, Directory, Official,
    ReportPeriod, UtcDay,
};
use congvu::mailstore::message::Signing;
use congvu::store::{Store, StoreOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Seed a demo province for the e-government report.
#[derive(Debug, clap::Args)]
pub struct EgovDemoArgs {
    /// The congvu-admin binary that loads the agencies and officials.
    #[arg(long, default_value = "target/debug/congvu-admin")]
    admin: PathBuf,
    /// An empty directory for the config (congvu.toml) and the database (data/congvu.db).
    #[arg(long)]
    dir: PathBuf,
    /// First day with mail and activity.
    #[arg(long, default_value = "2026-01-01")]
    from: UtcDay,
    /// Last day with mail and activity.
    #[arg(long, default_value = "2026-06-30")]
    to: UtcDay,
    /// Seed of the generator: the same seed gives the same province.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

const DEPARTMENTS: [(&str, &str); 20] = [
    ("snv", "Sở Nội vụ"),
    ("stp", "Sở Tư pháp"),
    ("skhdt", "Sở Kế hoạch và Đầu tư"),
    ("stc", "Sở Tài chính"),
    ("sct", "Sở Công Thương"),
    ("snnptnt", "Sở Nông nghiệp và Phát triển nông thôn"),
    ("sgtvt", "Sở Giao thông vận tải"),
    ("sxd", "Sở Xây dựng"),
    ("stnmt", "Sở Tài nguyên và Môi trường"),
    ("stttt", "Sở Thông tin và Truyền thông"),
    ("sldtbxh", "Sở Lao động - Thương binh và Xã hội"),
    ("svhttdl", "Sở Văn hóa, Thể thao và Du lịch"),
    ("skhcn", "Sở Khoa học và Công nghệ"),
    ("sgddt", "Sở Giáo dục và Đào tạo"),
    ("syt", "Sở Y tế"),
    ("sngv", "Sở Ngoại vụ"),
    ("ttt", "Thanh tra tỉnh"),
    ("bdt", "Ban Dân tộc"),
    ("bqlkcn", "Ban Quản lý các khu công nghiệp"),
    ("vpdbqh", "Văn phòng Đoàn ĐBQH và HĐND tỉnh"),
];

/// Each district or city: code, name, the prefix of its communes' codes, and its communes
/// and wards.
const DISTRICTS: [(&str, &str, &str, &[&str]); 9] = [
    (
        "vinhyen",
        "Thành phố Vĩnh Yên",
        "vy",
        &[
            "Phường Đống Đa",
            "Phường Liên Bảo",
            "Phường Tích Sơn",
            "Phường Ngô Quyền",
            "Phường Khai Quang",
            "Phường Hội Hợp",
            "Phường Đồng Tâm",
            "Xã Định Trung",
            "Xã Thanh Trù",
        ],
    ),
    (
        "phucyen",
        "Thành phố Phúc Yên",
        "py",
        &[
            "Phường Hùng Vương",
            "Phường Trưng Trắc",
            "Phường Trưng Nhị",
            "Phường Phúc Thắng",
            "Phường Xuân Hòa",
            "Phường Đồng Xuân",
            "Phường Nam Viêm",
            "Phường Tiền Châu",
            "Xã Cao Minh",
            "Xã Ngọc Thanh",
        ],
    ),
    (
        "binhxuyen",
        "Huyện Bình Xuyên",
        "bx",
        &[
            "Thị trấn Hương Canh",
            "Thị trấn Thanh Lãng",
            "Thị trấn Gia Khánh",
            "Thị trấn Đạo Đức",
            "Xã Tân Phong",
            "Xã Phú Xuân",
            "Xã Sơn Lôi",
            "Xã Bá Hiến",
            "Xã Thiện Kế",
            "Xã Trung Mỹ",
            "Xã Tam Hợp",
            "Xã Quất Lưu",
            "Xã Hương Sơn",
        ],
    ),
    (
        "lapthach",
        "Huyện Lập Thạch",
        "lt",
        &[
            "Thị trấn Lập Thạch",
            "Thị trấn Hoa Sơn",
            "Xã Xuân Lôi",
            "Xã Tiên Lữ",
            "Xã Văn Quán",
            "Xã Đình Chu",
            "Xã Triệu Đề",
            "Xã Sơn Đông",
            "Xã Liễn Sơn",
            "Xã Thái Hòa",
            "Xã Bắc Bình",
            "Xã Hợp Lý",
            "Xã Quang Sơn",
            "Xã Ngọc Mỹ",
            "Xã Xuân Hòa",
            "Xã Vân Trục",
            "Xã Liên Hòa",
            "Xã Tử Du",
            "Xã Bàn Giản",
            "Xã Đồng Ích",
        ],
    ),
    (
        "songlo",
        "Huyện Sông Lô",
        "sl",
        &[
            "Thị trấn Tam Sơn",
            "Xã Đồng Thịnh",
            "Xã Đức Bác",
            "Xã Yên Thạch",
            "Xã Hải Lựu",
            "Xã Nhân Đạo",
            "Xã Đôn Nhân",
            "Xã Phương Khoan",
            "Xã Lãng Công",
            "Xã Quang Yên",
            "Xã Nhạo Sơn",
            "Xã Như Thụy",
            "Xã Tân Lập",
            "Xã Tứ Yên",
            "Xã Đồng Quế",
            "Xã Bạch Lưu",
            "Xã Cao Phong",
        ],
    ),
    (
        "tamdao",
        "Huyện Tam Đảo",
        "td",
        &[
            "Thị trấn Hợp Châu",
            "Thị trấn Tam Đảo",
            "Xã Đại Đình",
            "Xã Tam Quan",
            "Xã Hồ Sơn",
            "Xã Minh Quang",
            "Xã Đạo Trù",
            "Xã Bồ Lý",
            "Xã Yên Dương",
        ],
    ),
    (
        "tamduong",
        "Huyện Tam Dương",
        "tg",
        &[
            "Thị trấn Hợp Hòa",
            "Thị trấn Kim Long",
            "Xã Hướng Đạo",
            "Xã Đạo Tú",
            "Xã An Hòa",
            "Xã Thanh Vân",
            "Xã Duy Phiên",
            "Xã Hoàng Đan",
            "Xã Hoàng Lâu",
            "Xã Vân Hội",
            "Xã Hợp Thịnh",
            "Xã Đồng Tĩnh",
            "Xã Hoàng Hoa",
        ],
    ),
    (
        "vinhtuong",
        "Huyện Vĩnh Tường",
        "vt",
        &[
            "Thị trấn Vĩnh Tường",
            "Thị trấn Thổ Tang",
            "Thị trấn Tứ Trưng",
            "Xã Kim Xá",
            "Xã Yên Bình",
            "Xã Chấn Hưng",
            "Xã Nghĩa Hưng",
            "Xã Đại Đồng",
            "Xã Tân Phú",
            "Xã Vũ Di",
            "Xã Tuân Chính",
            "Xã Bình Dương",
            "Xã Lũng Hòa",
            "Xã Vĩnh Sơn",
            "Xã Tam Phúc",
            "Xã Ngũ Kiên",
            "Xã Phú Đa",
            "Xã Vĩnh Ninh",
            "Xã An Tường",
            "Xã Vĩnh Thịnh",
            "Xã Tân Tiến",
            "Xã Lý Nhân",
            "Xã Yên Lập",
            "Xã Bồ Sao",
            "Xã Cao Đại",
            "Xã Thượng Trưng",
            "Xã Phú Thịnh",
            "Xã Tân Cương",
        ],
    ),
    (
        "yenlac",
        "Huyện Yên Lạc",
        "yl",
        &[
            "Thị trấn Yên Lạc",
            "Xã Tam Hồng",
            "Xã Tề Lỗ",
            "Xã Đồng Văn",
            "Xã Trung Nguyên",
            "Xã Bình Định",
            "Xã Yên Đồng",
            "Xã Liên Châu",
            "Xã Đại Tự",
            "Xã Hồng Châu",
            "Xã Trung Kiên",
            "Xã Trung Hà",
            "Xã Nguyệt Đức",
            "Xã Văn Tiến",
            "Xã Hồng Phương",
            "Xã Đồng Cương",
            "Xã Yên Phương",
        ],
    ),
];

/// Communes whose officials are not loaded: no mailboxes there yet.
const NOT_ONBOARDED: [&str; 2] = ["sl-caophong", "vt-tancuong"];

/// One agency to create: code, name, level, parent code, officials to load.
struct Plan {
    code: String,
    name: String,
    level: AgencyLevel,
    parent: Option<String>,
    officials: usize,
}

/// What each level does, as the demo pretends.
struct Habits {
    /// Officials per agency.
    officials: (usize, usize),
    /// Chance an official who leads nothing holds a signing certificate (leaders, clerks
    /// and heads of units: 85%).
    certificate: f64,
    /// Chance an official was active in the period.
    active: f64,
    /// Messages per official per working day.
    mail: f64,
    /// Range of the share of mail signed with a signature that verifies.
    verified: (f64, f64),
}

fn habits(level: AgencyLevel) -> Habits {
    match level {
        AgencyLevel::Province => Habits {
            officials: (110, 111),
            certificate: 0.10,
            active: 0.96,
            mail: 0.12,
            verified: (0.985, 0.999),
        },
        AgencyLevel::Department => Habits {
            officials: (80, 160),
            certificate: 0.06,
            active: 0.93,
            mail: 0.10,
            verified: (0.965, 1.0),
        },
        AgencyLevel::District => Habits {
            officials: (200, 260),
            certificate: 0.05,
            active: 0.90,
            mail: 0.08,
            verified: (0.90, 0.97),
        },
        AgencyLevel::Commune => Habits {
            officials: (23, 35),
            certificate: 0.02,
            active: 0.80,
            mail: 0.08,
            verified: (0.50, 0.80),
        },
    }
}

fn plan(rng: &mut StdRng) -> Vec<Plan> {
    let mut plans = Vec::new();
    let mut add = |rng: &mut StdRng, code: String, name: &str, level, parent: Option<&str>| {
        let (low, high) = habits(level).officials;
        let officials = if NOT_ONBOARDED.contains(&code.as_str()) {
            0
        } else {
            rng.random_range(low..high)
        };
        plans.push(Plan {
            code,
            name: name.to_string(),
            level,
            parent: parent.map(str::to_string),
            officials,
        });
    };
    add(
        rng,
        "vinhphuc".into(),
        "UBND tỉnh Vĩnh Phúc",
        AgencyLevel::Province,
        None,
    );
    for (code, name) in DEPARTMENTS {
        add(
            rng,
            code.into(),
            name,
            AgencyLevel::Department,
            Some("vinhphuc"),
        );
    }
    for (code, name, prefix, communes) in DISTRICTS {
        add(
            rng,
            code.into(),
            name,
            AgencyLevel::District,
            Some("vinhphuc"),
        );
        for commune in communes {
            let place = commune
                .trim_start_matches("Thị trấn ")
                .trim_start_matches("Phường ")
                .trim_start_matches("Xã ");
            let code = format!("{prefix}-{}", ascii_word(place).to_ascii_lowercase());
            add(
                rng,
                code,
                commune,
                AgencyLevel::Commune,
                Some(code_of(name)),
            );
        }
    }
    plans
}

/// The district code whose name is `name`.
fn code_of(name: &str) -> &'static str {
    DISTRICTS
        .iter()
        .find(|d| d.1 == name)
        .map(|d| d.0)
        .unwrap_or("vinhphuc")
}

/// Runs `congvu-admin --config config args…`; fails with its output unless it exits 0.
fn admin(binary: &Path, config: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("while starting {}", binary.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "congvu-admin {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Builds the demo province and writes its report.
pub fn run(args: EgovDemoArgs) -> anyhow::Result<()> {
    let period = ReportPeriod::new(args.from, args.to)?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    std::fs::create_dir_all(&args.dir)?;
    let config = args.dir.join("congvu.toml");
    let url = format!("sqlite://{}", args.dir.join("data/congvu.db").display());
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = {:?}\n\n[database]\nurl = {url:?}\n\n[tls]\nself_signed = true\n\n[inbound]\nauthentication = \"off\"\n",
            args.dir.join("data").display().to_string()
        ),
    )?;

    let plans = plan(&mut rng);
    let mut agencies = String::from("code,name,level,parent\n");
    for p in &plans {
        agencies.push_str(&format!(
            "{},\"{}\",{},{}\n",
            p.code,
            p.name,
            p.level.as_str(),
            p.parent.as_deref().unwrap_or("")
        ));
    }
    let agencies_file = args.dir.join("agencies.csv");
    std::fs::write(&agencies_file, agencies)?;
    admin(
        &args.admin,
        &config,
        &["domain", "add", "vinhphuc.gov.vn", "--primary"],
    )?;
    admin(
        &args.admin,
        &config,
        &["agency", "import", &agencies_file.display().to_string()],
    )?;
    let mut loaded = 0;
    for p in plans.iter().filter(|p| p.officials > 0) {
        let list = args.dir.join(format!("hr-{}.csv", p.code));
        std::fs::write(&list, hr_list(p.officials, rng.random(), &p.code))?;
        let credentials = args.dir.join(format!("credentials-{}.csv", p.code));
        admin(
            &args.admin,
            &config,
            &[
                "user",
                "import",
                "--agency",
                &p.code,
                &list.display().to_string(),
                "--credentials-out",
                &credentials.display().to_string(),
            ],
        )?;
        loaded += p.officials;
    }
    println!("{} agencies, {loaded} officials", plans.len());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(seed_use(&url, &plans, period, &mut rng))
}

/// How long a demo certificate is valid.
const THREE_YEARS: i64 = 3 * 365 * 86_400;

/// Every day of `period`, with whether it is a working day (not Saturday or Sunday).
fn days_of(period: ReportPeriod) -> Vec<(UtcDay, bool)> {
    let mut days = Vec::new();
    let mut t = period.start();
    while t <= period.end() {
        // 1970-01-01 was a Thursday: day 0 is weekday 4, with Sunday 0.
        let weekday = (t.0.div_euclid(86_400) + 4).rem_euclid(7);
        days.push((UtcDay::of(t), weekday != 0 && weekday != 6));
        t = t.plus(86_400);
    }
    days
}

/// A three-year signing certificate of `official`, valid from `from`.
fn demo_certificate(
    official: &Official,
    serial: u64,
    from: i64,
    revoked_at: Option<UnixTime>,
) -> Certificate {
    let der = format!("demo certificate {} {serial}", official.login).into_bytes();
    Certificate {
        id: CertificateId(0),
        official_id: official.id,
        fingerprint_sha256: fingerprint(&der),
        der,
        serial: format!("{serial:X}"),
        issuer: "CN=Vietnam Government CA, O=Ban Co yeu Chinh phu, C=VN".into(),
        subject: format!("CN={}, C=VN", official.display_name),
        not_before: UnixTime(from),
        not_after: UnixTime(from + THREE_YEARS),
        key_usage: Some("digitalSignature, nonRepudiation".into()),
        revoked_at,
        created_at: UnixTime(from),
    }
}

/// Certificates, activity days and submission counts, through the store.
async fn seed_use(
    url: &str,
    plans: &[Plan],
    period: ReportPeriod,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let store = Store::open(&StoreOptions {
        url: url.to_string(),
        max_connections: 4,
        busy_timeout: Duration::from_secs(10),
    })
    .await?;
    let directory = Directory::new(store.clone(), Clock::system());
    let days = days_of(period);
    let working: Vec<&UtcDay> = days.iter().filter(|d| d.1).map(|d| &d.0).collect();
    let (mut certificates, mut sent_total) = (0, 0);
    for p in plans {
        let habits = habits(p.level);
        let officials = directory.officials_in_agency(&p.code).await?;
        let mut tx = store.begin().await?;
        for official in &officials {
            let leader = official
                .title
                .as_deref()
                .is_some_and(|t| t != "Chuyên viên");
            let chance = if leader { 0.85 } else { habits.certificate };
            if rng.random_bool(chance.min(1.0)) {
                // Three-year certificates, begun any time from September 2023 (when the
                // province started issuing them) to the period's end; some holders also keep
                // the expired one before it, and a few were revoked.
                let first = 1_693_526_400;
                let not_before = first + rng.random_range(0..period.end().0 - first);
                let revoked = rng
                    .random_bool(0.01)
                    .then(|| UnixTime(not_before + rng.random_range(86_400..30 * 86_400)));
                let certificate = demo_certificate(official, rng.random(), not_before, revoked);
                tx.insert_certificate(&certificate).await?;
                certificates += 1;
                if rng.random_bool(0.08) {
                    let from = not_before - THREE_YEARS;
                    let expired = demo_certificate(official, rng.random(), from, None);
                    tx.insert_certificate(&expired).await?;
                    certificates += 1;
                }
            }
            if rng.random_bool(habits.active) {
                for _ in 0..rng.random_range(1..8) {
                    let day = working[rng.random_range(0..working.len())];
                    tx.record_activity(official.id, &day.to_string()).await?;
                }
            }
        }
        if !officials.is_empty() {
            let agency = directory.agency(&p.code).await?.id;
            let verified = rng.random_range(habits.verified.0..=habits.verified.1);
            let per_day = habits.mail * officials.len() as f64;
            for day in &working {
                let sent = (per_day * rng.random_range(0.6..1.4)).round() as usize;
                for _ in 0..sent {
                    let signing = if rng.random_bool(verified) {
                        Signing::Verified
                    } else if rng.random_bool(0.3) {
                        Signing::Unverified
                    } else {
                        Signing::Unsigned
                    };
                    tx.count_submission(agency, &day.to_string(), signing)
                        .await?;
                }
                sent_total += sent;
            }
        }
        tx.commit().await?;
    }
    println!("{certificates} certificates, {sent_total} messages sent");
    store.close().await;
    Ok(())
}
