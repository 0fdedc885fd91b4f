//! `congvu-admin migrate ldif`: officials, their aliases, groups and memberships from an LDIF
//! export of the old directory (`slapcat`, 389-DS `db2ldif`, Zimbra), with the password
//! hashes officials already have. The export is read here ([`parse`], [`entries`]); the
//! directory checks it into a plan and applies the plan in one transaction, as `user import`
//! does: a dry run writes nothing, any rejected entry stops the whole migration unless
//! `--continue-on-error`, and every problem is reported as `file:line`.

mod dn;
mod entries;
mod parse;
mod report;

use std::path::PathBuf;

use clap::Args;
use congvu::directory::{
    generate_initial_password, MigrationOutcome, MigrationPlan, PasswordCost, PlannedPassword,
    Rejection, StoredPassword,
};

use crate::import::credentials::CredentialsFile;
use crate::Context;
use entries::{AgencyMap, AgencySource};
use report::Migration;

#[derive(Debug, Args)]
pub struct LdifArgs {
    /// The export: an LDIF file from slapcat, db2ldif, ldapsearch -L or Zimbra.
    pub file: PathBuf,
    /// Where each entry's agency is read: `ou` (the nearest ou= above it) or
    /// `attribute:NAME` (e.g. attribute:departmentNumber).
    #[arg(long, value_name = "ou|attribute:NAME")]
    pub agency_from: AgencySource,
    /// CSV with the columns source (an ou or attribute value of the export) and agency (the
    /// congvu agency code it becomes).
    #[arg(long = "map", value_name = "FILE")]
    pub map: PathBuf,
    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Migrate the good entries and list every rejected one, instead of migrating nothing.
    #[arg(long)]
    pub continue_on_error: bool,
    /// Where to write the initial passwords generated for officials whose password cannot be
    /// carried over (CSV, mode 0600, never overwritten).
    #[arg(long, value_name = "FILE")]
    pub credentials_out: Option<PathBuf>,
}

pub async fn run(ctx: &Context, args: LdifArgs) -> anyhow::Result<()> {
    let file = args.file.display().to_string();
    let bytes = std::fs::read(&args.file)
        .map_err(|e| anyhow::anyhow!("{file}: cannot read the export: {e}"))?;
    let map = AgencyMap::read(&args.map)?;
    let records = parse::records(&bytes);
    if records.is_empty() {
        anyhow::bail!("{file}: no entries: give an LDIF export of the old directory");
    }
    let mut export = entries::read_export(records, &args.agency_from, &map);
    let plan = ctx
        .directory
        .plan_migration(&export.officials, &export.groups)
        .await?;
    let rejected = by_line(std::mem::take(&mut export.rejected), &plan.rejected);
    let notes = by_line(std::mem::take(&mut export.notes), &plan.notes);
    let m = Migration {
        file: &file,
        export: &export,
        plan: &plan,
        rejected: &rejected,
        notes: &notes,
    };
    if args.dry_run {
        report::plan(ctx, &m);
        return Ok(());
    }
    if !rejected.is_empty() && !args.continue_on_error {
        report::rejections(&m);
        anyhow::bail!(
            "{file}: {} entr{} rejected, nothing was migrated: fix them, or pass --continue-on-error to migrate the others",
            rejected.len(),
            if rejected.len() == 1 { "y" } else { "ies" }
        );
    }
    if plan.is_noop() {
        report::outcome(ctx, &m, None, None);
        return Ok(());
    }
    let (outcome, credentials) = apply(ctx, &args, &plan).await?;
    report::outcome(ctx, &m, Some(&outcome), credentials.as_deref());
    Ok(())
}

/// The reader's lines and the planner's, in file order.
fn by_line(mut read: Vec<Rejection>, planned: &[Rejection]) -> Vec<Rejection> {
    read.extend_from_slice(planned);
    read.sort_by_key(|r| r.line);
    read
}

/// Writes the credentials file (when some officials get initial passwords), hashes those
/// passwords, and applies the plan; the file is removed again if the migration fails.
async fn apply(
    ctx: &Context,
    args: &LdifArgs,
    plan: &MigrationPlan,
) -> anyhow::Result<(MigrationOutcome, Option<String>)> {
    let generated: Vec<(&congvu::directory::PlannedOfficial, String)> = plan
        .officials
        .iter()
        .filter(|o| matches!(o.password, PlannedPassword::Initial { .. }))
        .map(|o| (o, generate_initial_password()))
        .collect();
    let credentials = match (&args.credentials_out, generated.len()) {
        (_, 0) => None,
        (Some(path), _) => Some(CredentialsFile::create(path)?),
        (None, n) => anyhow::bail!(
            "{n} official(s) get generated initial passwords, as their old password cannot be carried over (see the notes of --dry-run): pass --credentials-out FILE to receive them"
        ),
    };
    // Passwords go to the file before the migration: if they cannot be written, nobody gets
    // an account whose password is lost.
    if let Some(file) = &credentials {
        let rows = generated.iter().map(|(o, secret)| {
            [
                o.name.full(),
                o.address.clone(),
                o.login.clone(),
                secret.clone(),
            ]
        });
        if let Err(e) = file.write_initial_passwords(rows, &ctx.portal_url) {
            if let Some(file) = credentials {
                file.discard();
            }
            return Err(e);
        }
    }
    let secrets: Vec<(String, PasswordCost)> = generated
        .into_iter()
        .map(|(_, secret)| (secret, PasswordCost::Initial))
        .collect();
    let applied = hash_and_apply(ctx, plan, secrets).await;
    match (applied, credentials) {
        (Ok(outcome), file) => Ok((outcome, file.map(|f| f.path().display().to_string()))),
        (Err(e), Some(file)) => {
            file.discard();
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

/// Hashes the generated initial passwords off the async threads, then applies the plan.
async fn hash_and_apply(
    ctx: &Context,
    plan: &MigrationPlan,
    secrets: Vec<(String, PasswordCost)>,
) -> anyhow::Result<MigrationOutcome> {
    let hasher = ctx.hasher.clone();
    let progress = crate::import::progress_bar(secrets.len() as u64, "hashing initial passwords");
    let bar = progress.clone();
    let hashes =
        tokio::task::spawn_blocking(move || hasher.hash_all(&secrets, &|n| bar.inc(n))).await??;
    progress.finish_and_clear();
    let initial = hashes
        .into_iter()
        .map(|hash| StoredPassword {
            hash,
            cost: PasswordCost::Initial,
            must_change: true,
        })
        .collect();
    Ok(ctx
        .directory
        .apply_migration(&ctx.actor, plan, initial)
        .await?)
}
