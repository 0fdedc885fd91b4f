//! `congvu-admin user …`

use std::io::{BufRead, Read};

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use congvu::clock::UnixTime;
use congvu::directory::{
    check_chosen_password, NewOfficial, OfficialChanges, OfficialDetails, OfficialFilter,
    OfficialStatus, PasswordCost, PersonName, StoredPassword, DEFAULT_RESET_LINK_HOURS,
    MAX_PASSWORD_CHARS, MAX_RESET_LINK_HOURS,
};
use serde_json::json;

use crate::{output, Context, UsageError};

/// `congvu-admin user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an official with a generated initial password (shown once; must be changed).
    Add {
        /// Login, e.g. annv.
        login: String,
        /// Full name, family name first, e.g. "Nguyễn Văn An".
        #[arg(long)]
        name: String,
        /// Code of the official's agency.
        #[arg(long)]
        agency: String,
        /// Primary address (default: LOGIN@ the primary domain).
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// Unit inside the agency (phòng, ban).
        #[arg(long)]
        unit: Option<String>,
        /// Identifier in the HR records (Mã cán bộ).
        #[arg(long)]
        employee_id: Option<String>,
    },
    /// Show one official.
    Show { login: String },
    /// List officials, by login.
    List {
        /// Only the officials of this agency (not of the agencies below it).
        #[arg(long)]
        agency: Option<String>,
        /// Only active or only disabled officials.
        #[arg(long, value_enum)]
        status: Option<Status>,
    },
    /// Change an official's attributes; an empty value ("") clears an optional one.
    Update(UpdateArgs),
    /// Disable an official: no login, no mail delivered; mailboxes and data are kept.
    Disable { login: String },
    /// Enable a disabled official again.
    Enable { login: String },
    /// Delete an official for good, with their mailboxes, mail, certificates and addresses.
    Delete {
        login: String,
        /// Confirm the deletion (it cannot be undone).
        #[arg(long)]
        yes: bool,
    },
    /// Set a new password: generated (--generate) or read from standard input (--stdin).
    Passwd(PasswdArgs),
    /// Print a one-time link at which the official chooses a password, without knowing any.
    ResetLink {
        login: String,
        /// How long the link works, in hours (1 to 720).
        #[arg(long, default_value_t = DEFAULT_RESET_LINK_HOURS, value_parser = link_hours())]
        hours: u32,
    },
    /// Clear an official's failed logins and lockout.
    Unlock { login: String },
    /// Onboard an agency's officials from its HR list (CSV or XLSX).
    Import(crate::import::UserImportArgs),
    /// Write officials as CSV (the columns `user import` reads) or JSON.
    Export(crate::export::ExportArgs),
}

/// An official's status, as the CLI spells it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    Active,
    Disabled,
}

impl From<Status> for OfficialStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Active => OfficialStatus::Active,
            Status::Disabled => OfficialStatus::Disabled,
        }
    }
}

/// `user update`: the attributes to change; at least one is required.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("changes").required(true).multiple(true)))]
pub struct UpdateArgs {
    login: String,
    /// Full name, family name first.
    #[arg(long, group = "changes")]
    name: Option<String>,
    /// Name shown in address books (cannot be cleared).
    #[arg(long, group = "changes")]
    display_name: Option<String>,
    #[arg(long, group = "changes")]
    title: Option<String>,
    #[arg(long, group = "changes")]
    phone: Option<String>,
    /// Unit inside the agency (phòng, ban).
    #[arg(long, group = "changes")]
    unit: Option<String>,
    /// Identifier in the HR records (Mã cán bộ).
    #[arg(long, group = "changes")]
    employee_id: Option<String>,
    /// Move the official to this agency.
    #[arg(long, group = "changes")]
    agency: Option<String>,
    /// Mailbox quota in MiB.
    #[arg(long, group = "changes")]
    quota_mib: Option<i64>,
}

/// `user passwd`: exactly one of `--generate` and `--stdin`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["generate", "stdin"])))]
pub struct PasswdArgs {
    login: String,
    /// Generate a random initial password, print it once; it must be changed at first login.
    #[arg(long)]
    generate: bool,
    /// Read the new password from the first line of standard input.
    #[arg(long)]
    stdin: bool,
    /// With --stdin: do not make the official change the password at next login.
    #[arg(long, conflicts_with = "generate")]
    no_must_change: bool,
}

/// Runs one `user` command.
pub async fn run(ctx: &Context, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            login,
            name,
            agency,
            address,
            title,
            phone,
            unit,
            employee_id,
        } => {
            let primary_address = match address {
                Some(a) => a,
                None => ctx.directory.default_address(&login).await?.ok_or_else(|| {
                    anyhow::anyhow!("no primary domain: add one with `congvu-admin domain add NAME --primary`, or pass --address")
                })?,
            };
            let new = NewOfficial {
                login,
                name: PersonName::from_full(&name)?,
                display_name: None,
                primary_address,
                agency_code: agency,
                unit,
                title,
                phone,
                hr_id: employee_id,
                quota_bytes: None,
                password: None,
            };
            let (official, initial) = ctx
                .directory
                .onboard_official(&ctx.actor, new, &ctx.hasher)
                .await?;
            if ctx.json {
                output::json(&json!({
                    "login": official.login, "address": official.primary_address,
                    "initial_password": initial, "sign_in": ctx.portal_url,
                }));
            } else {
                output::line(&format!(
                    "added {} <{}>",
                    official.login, official.primary_address
                ));
                output::line(&format!(
                    "initial password (shown once, must be changed at first login): {initial}"
                ));
                output::line(&sign_in_hint(ctx));
            }
        }
        UserCommand::Show { login } => {
            let details = ctx.directory.official_details(&login).await?;
            show(ctx, &details);
        }
        UserCommand::List { agency, status } => list(ctx, agency, status).await?,
        UserCommand::Update(args) => update(ctx, args).await?,
        UserCommand::Disable { login } => set_status(ctx, &login, OfficialStatus::Disabled).await?,
        UserCommand::Enable { login } => set_status(ctx, &login, OfficialStatus::Active).await?,
        UserCommand::Delete { login, yes } => delete(ctx, &login, yes).await?,
        UserCommand::Passwd(args) => passwd(ctx, args).await?,
        UserCommand::ResetLink { login, hours } => reset_link(ctx, &login, hours).await?,
        UserCommand::Unlock { login } => unlock(ctx, &login).await?,
        UserCommand::Import(args) => crate::import::run_user_import(ctx, args).await?,
        UserCommand::Export(args) => crate::export::run(ctx, args).await?,
    }
    Ok(())
}

fn show(ctx: &Context, d: &OfficialDetails) {
    let o = &d.official;
    let summary = json!({
        "login": o.login, "name": o.name.full(), "display_name": o.display_name,
        "addresses": d.addresses, "agency": d.agency.code, "title": o.title, "phone": o.phone,
        "unit": o.unit, "employee_id": o.hr_id, "status": o.status.as_str(),
        "quota_bytes": o.quota_bytes,
        "must_change_password": o.password.as_ref().is_some_and(|p| p.must_change),
        "failed_logins": d.lockout.failed_logins,
        "locked_until": d.lockout.locked_until.map(|t| t.0), "uuid": o.uuid,
    });
    if ctx.json {
        output::json(&summary);
        return;
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    output::fields(&[
        ("login", o.login.clone()),
        ("name", o.name.full()),
        ("display name", o.display_name.clone()),
        ("addresses", d.addresses.join(", ")),
        ("agency", format!("{} ({})", d.agency.code, d.agency.name)),
        ("unit", text(&o.unit)),
        ("title", text(&o.title)),
        ("phone", text(&o.phone)),
        ("employee id", text(&o.hr_id)),
        ("status", o.status.to_string()),
        ("quota", output::bytes(o.quota_bytes)),
        (
            "password",
            match &o.password {
                None => "none".into(),
                Some(p) if p.must_change => "must be changed at next login".into(),
                Some(_) => "set".into(),
            },
        ),
        (
            "lockout",
            match d.lockout.locked_until {
                Some(t) => format!(
                    "locked until {} after {}",
                    output::time(t),
                    output::count(d.lockout.failed_logins, "failed login", "failed logins")
                ),
                None if d.lockout.failed_logins > 0 => {
                    output::count(d.lockout.failed_logins, "failed login", "failed logins")
                }
                None => "none".into(),
            },
        ),
        ("uuid", o.uuid.clone()),
    ]);
}

async fn list(ctx: &Context, agency: Option<String>, status: Option<Status>) -> anyhow::Result<()> {
    let filter = OfficialFilter {
        agency_code: agency,
        status: status.map(OfficialStatus::from),
    };
    let officials = ctx.directory.list_officials(&filter).await?;
    if ctx.json {
        let list: Vec<_> = officials
            .iter()
            .map(|o| {
                json!({
                    "login": o.login, "name": o.name.full(), "display_name": o.display_name,
                    "address": o.address, "agency": o.agency_code, "unit": o.unit,
                    "title": o.title, "phone": o.phone, "employee_id": o.hr_id,
                    "status": o.status.as_str(),
                })
            })
            .collect();
        output::json(&json!(list));
        return Ok(());
    }
    let rows: Vec<_> = officials
        .iter()
        .map(|o| {
            vec![
                o.login.clone(),
                o.name.full(),
                o.address.clone(),
                o.agency_code.clone(),
                o.status.to_string(),
            ]
        })
        .collect();
    output::table(&["LOGIN", "NAME", "ADDRESS", "AGENCY", "STATUS"], &rows);
    Ok(())
}

/// `Some("")` clears an optional attribute; `None` leaves it.
fn optional(value: Option<String>) -> Option<Option<String>> {
    value.map(|v| (!v.trim().is_empty()).then_some(v))
}

async fn update(ctx: &Context, args: UpdateArgs) -> anyhow::Result<()> {
    let mut changed = Vec::new();
    let mut note = |flag: &'static str, present: bool| {
        if present {
            changed.push(flag);
        }
    };
    note("name", args.name.is_some());
    note("display name", args.display_name.is_some());
    note("title", args.title.is_some());
    note("phone", args.phone.is_some());
    note("unit", args.unit.is_some());
    note("employee id", args.employee_id.is_some());
    note("agency", args.agency.is_some());
    note("quota", args.quota_mib.is_some());
    let changes = OfficialChanges {
        name: args
            .name
            .as_deref()
            .map(PersonName::from_full)
            .transpose()?,
        display_name: args.display_name,
        agency_code: args.agency,
        unit: optional(args.unit),
        title: optional(args.title),
        phone: optional(args.phone),
        hr_id: optional(args.employee_id),
        quota_bytes: args.quota_mib.map(|m| m.saturating_mul(1 << 20)),
    };
    let official = ctx
        .directory
        .update_official(&ctx.actor, &args.login, changes)
        .await?;
    if ctx.json {
        let details = ctx.directory.official_details(&official.login).await?;
        show(ctx, &details);
    } else {
        output::line(&format!(
            "updated {}: {}",
            official.login,
            changed.join(", ")
        ));
    }
    Ok(())
}

async fn set_status(ctx: &Context, login: &str, status: OfficialStatus) -> anyhow::Result<()> {
    let current = ctx.directory.official(login).await?;
    let changed = current.status != status;
    if changed {
        ctx.directory
            .set_official_status(&ctx.actor, login, status)
            .await?;
    }
    if ctx.json {
        output::json(
            &json!({ "login": current.login, "status": status.as_str(), "changed": changed }),
        );
    } else if changed {
        let verb = match status {
            OfficialStatus::Active => "enabled",
            OfficialStatus::Disabled => "disabled",
        };
        output::line(&format!("{verb} {}", current.login));
    } else {
        output::line(&format!("{} is already {status}", current.login));
    }
    Ok(())
}

async fn delete(ctx: &Context, login: &str, yes: bool) -> anyhow::Result<()> {
    let official = ctx.directory.official(login).await?;
    if !yes {
        return Err(UsageError(format!(
            "refusing to delete {login} without --yes: their mailboxes, mail, certificates and \
             addresses go with them and cannot be restored; run `congvu-admin user delete {login} --yes`, \
             or `congvu-admin user disable {login}` to keep their mail",
            login = official.login
        ))
        .into());
    }
    let r = ctx.directory.delete_official(&ctx.actor, login).await?;
    if ctx.json {
        output::json(&json!({
            "login": r.login, "address": r.address, "mailboxes": r.mailboxes,
            "messages": r.messages, "bodies_freed": r.bodies_freed,
            "certificates": r.certificates, "addresses": r.addresses,
            "memberships": r.memberships,
        }));
    } else {
        output::line(&format!(
            "deleted {} <{}>: {}, {} ({} freed), {}, {}, {}",
            r.login,
            r.address,
            output::count(r.mailboxes as i64, "mailbox", "mailboxes"),
            output::count(r.messages as i64, "message", "messages"),
            output::count(r.bodies_freed as i64, "body", "bodies"),
            output::count(r.certificates as i64, "certificate", "certificates"),
            output::count(r.addresses as i64, "address", "addresses"),
            output::count(
                r.memberships as i64,
                "group membership",
                "group memberships"
            ),
        ));
    }
    Ok(())
}

async fn passwd(ctx: &Context, args: PasswdArgs) -> anyhow::Result<()> {
    // Fail on an unknown login before asking for (or hashing) anything.
    let official = ctx.directory.official(&args.login).await?;
    let (password, must_change) = if args.generate {
        let initial = ctx
            .directory
            .issue_initial_password(&ctx.actor, &official.login, &ctx.hasher)
            .await?;
        (initial, true)
    } else {
        let password = read_password_line().await?;
        check_chosen_password(&password)?;
        let must_change = !args.no_must_change;
        let stored = StoredPassword {
            hash: ctx
                .hasher
                .hash_off_thread(password.clone(), PasswordCost::Full)
                .await?,
            cost: PasswordCost::Full,
            must_change,
        };
        ctx.directory
            .set_password(&ctx.actor, &official.login, stored)
            .await?;
        (password, must_change)
    };
    let login = &official.login;
    match (ctx.json, args.generate) {
        (true, true) => output::json(&json!({
            "login": login, "initial_password": password, "must_change": true,
            "sign_in": ctx.portal_url,
        })),
        (true, false) => output::json(&json!({ "login": login, "must_change": must_change })),
        (false, true) => {
            output::line(&format!(
                "new initial password for {login} (shown once, must be changed at first login): {password}"
            ));
            output::line(&sign_in_hint(ctx));
        }
        (false, false) if must_change => output::line(&format!(
            "password of {login} set; it must be changed at next login"
        )),
        (false, false) => output::line(&format!("password of {login} set")),
    }
    Ok(())
}

/// Where an official takes an initial password: it is good for choosing one's own and
/// nothing else.
fn sign_in_hint(ctx: &Context) -> String {
    format!("sign in at {} to choose a password", ctx.portal_url)
}

/// The accepted lifetimes of a reset link, in hours: `--hours`, and `user import
/// --link-hours`.
pub fn link_hours() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(MAX_RESET_LINK_HOURS))
}

/// The address of the portal page behind a reset link's token.
pub fn reset_url(portal_url: &str, token: &str) -> String {
    format!("{portal_url}reset/{token}")
}

/// When a link issued now for `hours` stops working. Read before issuing: the directory
/// stamps the link at most a moment later, so the link never dies before the time printed.
pub fn link_expiry(ctx: &Context, hours: u32) -> UnixTime {
    ctx.directory.now().plus(i64::from(hours) * 3600)
}

/// A time as officials read it, in Vietnam's zone (UTC+7 all year, no daylight saving):
/// `YYYY-MM-DD HH:MM:SS +07:00`.
pub fn vietnam_time(t: UnixTime) -> String {
    const OFFSET_SECONDS: i64 = 7 * 3600;
    let shifted = output::time(UnixTime(t.0 + OFFSET_SECONDS));
    let civil = shifted.strip_suffix(" UTC").unwrap_or(&shifted);
    format!("{civil} +07:00")
}

/// `user reset-link`: one link, printed once; only its hash is stored.
async fn reset_link(ctx: &Context, login: &str, hours: u32) -> anyhow::Result<()> {
    let official = ctx.directory.official(login).await?;
    let expires_at = link_expiry(ctx, hours);
    let token = ctx
        .directory
        .issue_reset_link(&ctx.actor, &official.login, hours)
        .await?;
    let url = reset_url(&ctx.portal_url, &token);
    if ctx.json {
        output::json(&json!({ "login": official.login, "url": url, "expires_at": expires_at.0 }));
        return Ok(());
    }
    output::line(&format!(
        "one-time link for {} <{}> to choose a password, valid until {} ({}):",
        official.login,
        official.primary_address,
        vietnam_time(expires_at),
        output::time(expires_at)
    ));
    output::line(&url);
    Ok(())
}

/// The first line of standard input without its line ending, bounded in length.
async fn read_password_line() -> anyhow::Result<String> {
    // Room for the longest password in UTF-8 plus CRLF; anything longer is refused below.
    let limit = (MAX_PASSWORD_CHARS * 4 + 2) as u64;
    let mut bytes = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_until(b'\n', &mut bytes)
            .map(|_| bytes)
    })
    .await??;
    if bytes.len() as u64 > limit {
        anyhow::bail!("the password line is too long: use at most {MAX_PASSWORD_CHARS} characters");
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        anyhow::bail!(
            "no password on standard input: pipe one line, e.g. `printf '%s\\n' \"$PW\" | congvu-admin user passwd LOGIN --stdin`"
        );
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("the password is not valid UTF-8"))
}

async fn unlock(ctx: &Context, login: &str) -> anyhow::Result<()> {
    let cleared = ctx.directory.unlock_official(&ctx.actor, login).await?;
    let login = congvu::directory::normalize_login(login)?;
    if ctx.json {
        output::json(&json!({
            "login": login, "unlocked": cleared.is_some(),
            "failed_logins": cleared.map_or(0, |l| l.failed_logins),
            "locked_until": cleared.and_then(|l| l.locked_until).map(|t| t.0),
        }));
        return Ok(());
    }
    match cleared {
        None => output::line(&format!("{login} was not locked: nothing to clear")),
        Some(l) => output::line(&format!(
            "unlocked {login}: cleared {}{}",
            output::count(l.failed_logins, "failed login", "failed logins"),
            l.locked_until
                .map(|t| format!(" and a lockout until {}", output::time(t)))
                .unwrap_or_default()
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnam_time_is_seven_hours_ahead_across_midnight() {
        assert_eq!(
            vietnam_time(UnixTime(1_773_626_400)),
            "2026-03-16 09:00:00 +07:00"
        );
        // 2026-12-08 17:43:23 UTC is already the 9th in Vietnam.
        assert_eq!(
            vietnam_time(UnixTime(1_796_751_803)),
            "2026-12-09 00:43:23 +07:00"
        );
        assert_eq!(
            output::time(UnixTime(1_796_751_803)),
            "2026-12-08 17:43:23 UTC"
        );
    }

    #[test]
    fn reset_urls_hang_under_the_portal() {
        assert_eq!(
            reset_url("https://mail.vinhphuc.gov.vn/", "abc"),
            "https://mail.vinhphuc.gov.vn/reset/abc"
        );
    }
}
