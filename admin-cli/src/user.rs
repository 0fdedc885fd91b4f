//! `congvu-admin user …`

use clap::Subcommand;
use congvu::directory::{
    generate_initial_password, NewOfficial, Official, PasswordCost, PersonName, StoredPassword,
};
use serde_json::json;

use crate::{output, Context};

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
    /// Onboard an agency's officials from its HR list (CSV or XLSX).
    Import(crate::import::UserImportArgs),
}

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
                None => {
                    let domains = ctx.directory.domains().await?;
                    let primary = domains.iter().find(|d| d.is_primary).ok_or_else(|| {
                        anyhow::anyhow!("no primary domain: add one with `congvu-admin domain add NAME --primary`, or pass --address")
                    })?;
                    format!("{}@{}", login.trim().to_ascii_lowercase(), primary.name)
                }
            };
            let initial = generate_initial_password();
            let hasher = ctx.hasher.clone();
            let to_hash = initial.clone();
            let hash =
                tokio::task::spawn_blocking(move || hasher.hash(&to_hash, PasswordCost::Initial))
                    .await??;
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
                password: Some(StoredPassword {
                    hash,
                    cost: PasswordCost::Initial,
                    must_change: true,
                }),
            };
            let official = ctx.directory.add_official(&ctx.actor, new).await?;
            if ctx.json {
                output::json(
                    &json!({ "login": official.login, "address": official.primary_address, "initial_password": initial }),
                );
            } else {
                output::line(&format!(
                    "added {} <{}>",
                    official.login, official.primary_address
                ));
                output::line(&format!(
                    "initial password (shown once, must be changed at first login): {initial}"
                ));
            }
        }
        UserCommand::Import(args) => crate::import::run_user_import(ctx, args).await?,
        UserCommand::Show { login } => {
            let official = ctx.directory.official(&login).await?;
            let aliases = ctx.directory.addresses_of_official(&official.login).await?;
            show(ctx, &official, &aliases);
        }
    }
    Ok(())
}

fn show(ctx: &Context, o: &Official, addresses: &[String]) {
    let summary = json!({
        "login": o.login, "name": o.name.full(), "display_name": o.display_name,
        "addresses": addresses, "title": o.title, "phone": o.phone, "unit": o.unit,
        "employee_id": o.hr_id, "status": o.status.as_str(), "quota_bytes": o.quota_bytes,
        "must_change_password": o.password.as_ref().is_some_and(|p| p.must_change), "uuid": o.uuid,
    });
    if ctx.json {
        output::json(&summary);
        return;
    }
    if let serde_json::Value::Object(fields) = summary {
        for (key, value) in fields {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            output::line(&format!("{key:<22}{text}"));
        }
    }
}
