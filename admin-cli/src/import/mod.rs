//! `congvu-admin user import` and `agency import`: reading HR lists (CSV or XLSX), turning
//! them into an import plan through the directory, and applying it in one transaction.

mod agencies;
mod columns;
mod credentials;
mod report;
mod table;

use std::path::PathBuf;

use congvu::directory::{
    generate_initial_password, ImportField, ImportOptions, ImportPlan, PasswordCost, StoredPassword,
};

use crate::Context;
use columns::ColumnMap;
use credentials::CredentialsFile;
use table::read_table;

/// `user import`: onboard an agency's officials from its HR list.
#[derive(Debug, clap::Args)]
pub struct UserImportArgs {
    /// Code of the agency the officials on the list belong to.
    #[arg(long)]
    pub agency: String,
    /// The HR list: a .csv (UTF-8, comma or semicolon) or .xlsx file.
    pub file: PathBuf,
    /// Map a column the tool does not recognise to a field: --map "Chức danh=title".
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    pub map: Vec<String>,
    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply the good rows and list every rejected row, instead of applying nothing.
    #[arg(long)]
    pub continue_on_error: bool,
    /// Disable officials of the agency who are no longer on the list.
    #[arg(long)]
    pub disable_missing: bool,
    /// Take passwords from the file's password column (hashed at full cost).
    #[arg(long)]
    pub passwords_from_file: bool,
    /// Where to write the generated initial passwords (CSV, mode 0600, never overwritten).
    #[arg(long, value_name = "FILE")]
    pub credentials_out: Option<PathBuf>,
    /// Address rule for this import, e.g. "{given}.{family}" (default: the domain's rule).
    #[arg(long)]
    pub address_rule: Option<String>,
    /// Worksheet of an .xlsx file (default: the first).
    #[arg(long)]
    pub sheet: Option<String>,
}

/// `agency import`: load the agency tree from a CSV file (code, name, level, parent).
#[derive(Debug, clap::Args)]
pub struct AgencyImportArgs {
    /// CSV with columns code, name, level, parent (Vietnamese headers accepted).
    pub file: PathBuf,
    /// Print what would be added and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `user import`.
pub async fn run_user_import(ctx: &Context, args: UserImportArgs) -> anyhow::Result<()> {
    let file = args.file.display().to_string();
    let table = read_table(&args.file, args.sheet.as_deref())?;
    let columns = ColumnMap::new(&table, &args.map).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    if columns.fields().contains(&ImportField::Password) && !args.passwords_from_file {
        anyhow::bail!(
            "{file}: the list has a password column; pass --passwords-from-file to use it, or remove the column"
        );
    }
    let rows: Vec<_> = table
        .rows
        .iter()
        .map(|r| columns.row(r.line, &r.cells))
        .collect();
    let options = ImportOptions {
        agency_code: args.agency.clone(),
        address_rule: args.address_rule.clone(),
        columns: columns.fields(),
        disable_missing: args.disable_missing,
    };
    let plan = ctx.directory.plan_import(&rows, &options).await?;
    if args.dry_run {
        report::plan(ctx, &file, &plan, &columns.unrecognised);
        return Ok(());
    }
    if !plan.rejected.is_empty() && !args.continue_on_error {
        report::rejections(&file, &plan.rejected);
        anyhow::bail!(
            "{file}: {} row(s) rejected, nothing was imported: fix them, or pass --continue-on-error to import the other rows",
            plan.rejected.len()
        );
    }
    if plan.is_noop() {
        report::outcome(ctx, &file, &plan, None);
        return Ok(());
    }
    let generated = plan.creates.iter().filter(|c| c.password.is_none()).count();
    let credentials = match (&args.credentials_out, generated) {
        (_, 0) => None,
        (Some(path), _) => Some(CredentialsFile::create(path)?),
        (None, n) => anyhow::bail!(
            "{n} new official(s) get generated initial passwords: pass --credentials-out FILE to receive them"
        ),
    };
    let (secrets, passwords) = hash_passwords(ctx, &plan).await?;
    if let Some(credentials) = &credentials {
        credentials.write(&plan, &secrets)?;
    }
    match ctx
        .directory
        .apply_import(&ctx.actor, &plan, passwords)
        .await
    {
        Ok(outcome) => {
            report::outcome(ctx, &file, &plan, Some(&outcome));
            Ok(())
        }
        Err(e) => {
            if let Some(credentials) = credentials {
                credentials.discard();
            }
            Err(e.into())
        }
    }
}

/// Generates an initial password for every new official without one from the file and
/// hashes them all (generated at the initial cost, given at the full cost) on every core.
/// Returns the plain generated secrets (for the credentials file) and the stored passwords.
async fn hash_passwords(
    ctx: &Context,
    plan: &ImportPlan,
) -> anyhow::Result<(Vec<Option<String>>, Vec<StoredPassword>)> {
    let secrets: Vec<(String, PasswordCost, bool)> = plan
        .creates
        .iter()
        .map(|c| match &c.password {
            Some(given) => (given.clone(), PasswordCost::Full, false),
            None => (generate_initial_password(), PasswordCost::Initial, true),
        })
        .collect();
    let hasher = ctx.hasher.clone();
    let to_hash: Vec<(String, PasswordCost)> =
        secrets.iter().map(|(s, c, _)| (s.clone(), *c)).collect();
    let progress = progress_bar(to_hash.len() as u64, "hashing initial passwords");
    let bar = progress.clone();
    let hashes =
        tokio::task::spawn_blocking(move || hasher.hash_all(&to_hash, &|n| bar.inc(n))).await??;
    progress.finish_and_clear();
    let stored = secrets
        .iter()
        .zip(hashes)
        .map(|((_, cost, _), hash)| StoredPassword {
            hash,
            cost: *cost,
            must_change: true,
        })
        .collect();
    let generated = secrets
        .into_iter()
        .map(|(s, _, generated)| generated.then_some(s))
        .collect();
    Ok((generated, stored))
}

/// A progress bar on a terminal; nothing when standard error is not one.
fn progress_bar(len: u64, message: &'static str) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar
}

/// Runs `agency import`.
pub async fn run_agency_import(ctx: &Context, args: AgencyImportArgs) -> anyhow::Result<()> {
    agencies::run(ctx, args).await
}
