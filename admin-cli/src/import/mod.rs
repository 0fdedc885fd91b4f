//! `congvu-admin user import` and `agency import`: reading HR lists (CSV or XLSX), turning
//! them into an import plan through the directory, and applying it in one transaction.

mod agencies;
mod columns;
mod credentials;
mod report;
mod table;

use std::path::PathBuf;

use congvu::directory::{
    generate_initial_password, ImportField, ImportOptions, ImportOutcome, ImportPlan, PasswordCost,
    StoredPassword,
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
    let secrets = initial_secrets(&plan);
    if let Some(credentials) = &credentials {
        let generated: Vec<Option<String>> = secrets
            .iter()
            .map(|s| s.generated.then(|| s.secret.clone()))
            .collect();
        credentials.write(&plan, &generated)?;
    }
    match apply_while_hashing(ctx, &plan, secrets).await {
        Ok(outcome) => {
            report::outcome(ctx, &file, &plan, Some(&outcome));
            Ok(())
        }
        Err(e) => {
            if let Some(credentials) = credentials {
                credentials.discard();
            }
            Err(e)
        }
    }
}

/// The password of one new official, before hashing.
struct InitialSecret {
    secret: String,
    cost: PasswordCost,
    /// Generated here (and so written to the credentials file), not taken from the list.
    generated: bool,
}

/// A generated password for every new official without one from the file; generated ones
/// are stored at the initial cost, given ones (chosen by people) at the full cost.
fn initial_secrets(plan: &ImportPlan) -> Vec<InitialSecret> {
    plan.creates
        .iter()
        .map(|c| match &c.password {
            Some(given) => InitialSecret {
                secret: given.clone(),
                cost: PasswordCost::Full,
                generated: false,
            },
            None => InitialSecret {
                secret: generate_initial_password(),
                cost: PasswordCost::Initial,
                generated: true,
            },
        })
        .collect()
}

/// Hashes the passwords in batches on every core while the directory writes the batches
/// already hashed, all in the import's one transaction.
async fn apply_while_hashing(
    ctx: &Context,
    plan: &ImportPlan,
    secrets: Vec<InitialSecret>,
) -> anyhow::Result<ImportOutcome> {
    const BATCH: usize = 1000;
    let (batches, received) = tokio::sync::mpsc::channel(2);
    let hasher = ctx.hasher.clone();
    let progress = progress_bar(secrets.len() as u64, "hashing initial passwords");
    let bar = progress.clone();
    let hashing = tokio::task::spawn_blocking(move || {
        for chunk in secrets.chunks(BATCH) {
            let to_hash: Vec<(String, PasswordCost)> =
                chunk.iter().map(|s| (s.secret.clone(), s.cost)).collect();
            let hashes = hasher.hash_all(&to_hash, &|n| bar.inc(n))?;
            let stored = chunk
                .iter()
                .zip(hashes)
                .map(|(s, hash)| StoredPassword {
                    hash,
                    cost: s.cost,
                    must_change: true,
                })
                .collect();
            if batches.blocking_send(stored).is_err() {
                break; // the import failed and stopped listening
            }
        }
        Ok::<_, congvu::directory::DirectoryError>(())
    });
    let applied = ctx.directory.apply_import(&ctx.actor, plan, received).await;
    let hashed = hashing.await?;
    progress.finish_and_clear();
    // A hashing failure is the cause of the import's "passwords missing" error: report it.
    hashed?;
    Ok(applied?)
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
