//! `congvu-admin user import` and `agency import`: reading HR lists as agencies send them
//! (Excel forms with title and signature blocks, .xls, .ods, CSV in any Windows encoding,
//! text in old Vietnamese fonts), turning them into an import plan through the directory,
//! and applying it in one transaction.

mod agencies;
mod columns;
pub(crate) mod credentials;
mod form;
mod legacy_font;
pub(crate) mod report;
mod table;

use std::path::PathBuf;

use congvu::directory::{
    generate_initial_password, ImportField, ImportOptions, ImportOutcome, ImportPlan, ImportRow,
    PasswordCost, StoredPassword, DEFAULT_RESET_LINK_HOURS,
};

use crate::user::{link_expiry, link_hours, reset_url, vietnam_time};
use crate::{output, Context};
use columns::{ColumnMap, OfficialsTable};
use credentials::CredentialsFile;
use form::{read_form, Form, FormOptions, LegacyChoice};
use table::Encoding;

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
    /// Where to write the new officials' initial passwords, or reset links (CSV, mode 0600,
    /// never overwritten).
    #[arg(long, value_name = "FILE")]
    pub credentials_out: Option<PathBuf>,
    /// Write a one-time reset link per new official into the credentials file instead of
    /// the initial password (which is then never shown).
    #[arg(long)]
    pub reset_links: bool,
    /// With --reset-links: how long the links work, in hours (1 to 720).
    #[arg(long, value_name = "HOURS", requires = "reset_links",
          default_value_t = DEFAULT_RESET_LINK_HOURS, value_parser = link_hours())]
    pub link_hours: u32,
    /// Address rule for this import, e.g. "{given}.{family}" (default: the domain's rule).
    #[arg(long)]
    pub address_rule: Option<String>,
    #[command(flatten)]
    pub reading: ReadingArgs,
}

/// How to read an HR file.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadingArgs {
    /// Worksheet of a workbook (default: the first that has a table).
    #[arg(long)]
    pub sheet: Option<String>,
    /// Encoding of a CSV file (default: UTF-8 when it is, else Windows-1258 or -1252).
    #[arg(long, value_enum, default_value_t = Encoding::Auto)]
    pub encoding: Encoding,
    /// Old Vietnamese font the cells are typed in, converted to Unicode.
    #[arg(long, value_enum, default_value_t = LegacyChoice::Auto)]
    pub legacy_font: LegacyChoice,
}

impl ReadingArgs {
    fn options(&self) -> FormOptions {
        FormOptions {
            sheet: self.sheet.clone(),
            encoding: self.encoding,
            legacy_font: self.legacy_font,
        }
    }
}

/// `agency import`: load the agency tree from a CSV file (code, name, level, parent).
#[derive(Debug, clap::Args)]
pub struct AgencyImportArgs {
    /// Workbook or CSV with columns code, name, level, parent (Vietnamese headers accepted).
    pub file: PathBuf,
    /// Print what would be added and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub reading: ReadingArgs,
}

/// Runs `user import`.
pub async fn run_user_import(ctx: &Context, args: UserImportArgs) -> anyhow::Result<()> {
    let file = args.file.display().to_string();
    let kind = OfficialsTable {
        overrides: &args.map,
    };
    let form = read_form(&args.file, &args.reading.options(), &kind)?;
    let columns =
        ColumnMap::new(&form.headers, &args.map).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    if columns.fields().contains(&ImportField::Password) && !args.passwords_from_file {
        anyhow::bail!(
            "{file}: the list has a password column; pass --passwords-from-file to use it, or remove the column"
        );
    }
    let (rows, fields) = import_rows(&form, &columns);
    let options = ImportOptions {
        agency_code: args.agency.clone(),
        address_rule: args.address_rule.clone(),
        columns: fields,
        disable_missing: args.disable_missing,
    };
    let plan = ctx.directory.plan_import(&rows, &options).await?;
    let read = report::Reading {
        file: &file,
        form: &form,
        name_column: columns.column(ImportField::FullName),
        unrecognised: &columns.unrecognised,
    };
    if args.dry_run {
        report::plan(ctx, &read, &plan);
        return Ok(());
    }
    apply_plan(ctx, &args, &read, &plan).await
}

/// Applies the plan of `user import`: refuses it with rejected rows (unless asked to go
/// on), writes the credentials file, creates and updates, then issues reset links.
async fn apply_plan(
    ctx: &Context,
    args: &UserImportArgs,
    read: &report::Reading<'_>,
    plan: &ImportPlan,
) -> anyhow::Result<()> {
    let file = read.file;
    if !plan.rejected.is_empty() && !args.continue_on_error {
        report::rejections(file, &plan.rejected);
        report::form(ctx, read);
        anyhow::bail!(
            "{file}: {} row(s) rejected, nothing was imported: fix them, or pass --continue-on-error to import the other rows",
            plan.rejected.len()
        );
    }
    if plan.is_noop() {
        report::outcome(ctx, read, plan, None);
        report::form(ctx, read);
        return Ok(());
    }
    let generated = plan.creates.iter().filter(|c| c.password.is_none()).count();
    let credentials = match (&args.credentials_out, generated) {
        (_, 0) => None,
        (Some(path), _) => Some(CredentialsFile::create(path)?),
        (None, n) if args.reset_links => anyhow::bail!(
            "{n} new official(s) get reset links: pass --credentials-out FILE to receive them"
        ),
        (None, n) => anyhow::bail!(
            "{n} new official(s) get generated initial passwords: pass --credentials-out FILE to receive them"
        ),
    };
    let secrets = initial_secrets(plan);
    let linked: Vec<bool> = secrets.iter().map(|s| s.generated).collect();
    // Passwords go to the file before the import: if they cannot be written, nobody gets
    // an account whose password is lost. Links can only be issued once the officials exist.
    let written = match (&credentials, args.reset_links) {
        (Some(file), false) => {
            let generated: Vec<Option<String>> = secrets
                .iter()
                .map(|s| s.generated.then(|| s.secret.clone()))
                .collect();
            file.write_passwords(plan, &generated, &ctx.portal_url)
        }
        _ => Ok(()),
    };
    if let Err(e) = written {
        if let Some(credentials) = credentials {
            credentials.discard();
        }
        return Err(e);
    }
    let outcome = match apply_while_hashing(ctx, plan, secrets).await {
        Ok(outcome) => outcome,
        Err(e) => {
            if let Some(credentials) = credentials {
                credentials.discard();
            }
            return Err(e);
        }
    };
    report::outcome(ctx, read, plan, Some(&outcome));
    report::form(ctx, read);
    match credentials {
        Some(credentials) if args.reset_links => {
            write_reset_links(ctx, plan, &linked, args.link_hours, credentials).await
        }
        _ => Ok(()),
    }
}

/// The form's table rows as import rows, and the fields they carry: a row without a unit
/// of its own takes its section's, so sections add the unit field.
fn import_rows(form: &Form, columns: &ColumnMap) -> (Vec<ImportRow>, Vec<ImportField>) {
    let rows: Vec<ImportRow> = form
        .rows
        .iter()
        .map(|r| {
            let mut row = columns.row(r.line, &r.cells, &r.errors, &form.headers);
            if row.unit.is_none() {
                row.unit = r.section.clone();
            }
            row
        })
        .collect();
    let mut fields = columns.fields();
    if form.sections().next().is_some() && !fields.contains(&ImportField::Unit) {
        fields.push(ImportField::Unit);
    }
    (rows, fields)
}

/// Issues a link for every new official with a generated password, all in one transaction,
/// and fills the credentials file with them. The officials exist by now: if this fails,
/// the administrator issues their links one by one.
async fn write_reset_links(
    ctx: &Context,
    plan: &ImportPlan,
    linked: &[bool],
    hours: u32,
    credentials: CredentialsFile,
) -> anyhow::Result<()> {
    let logins: Vec<String> = plan
        .creates
        .iter()
        .zip(linked)
        .filter(|(_, linked)| **linked)
        .map(|(c, _)| c.login.clone())
        .collect();
    let path = credentials.path().display().to_string();
    let not_written = |why: String| {
        anyhow::anyhow!(
            "{} new official(s) were created, but {why}, so {path} was removed: give each a \
             link with `congvu-admin user reset-link LOGIN`, for: {}",
            logins.len(),
            logins.join(", ")
        )
    };
    let valid_until = link_expiry(ctx, hours);
    let issued = match ctx
        .directory
        .issue_reset_links(&ctx.actor, &logins, hours)
        .await
    {
        Ok(issued) => issued,
        Err(e) => {
            credentials.discard();
            return Err(not_written(format!(
                "their reset links could not be issued: {e}"
            )));
        }
    };
    // `issued` follows the order of `logins`, which follows `plan.creates`.
    let mut urls = issued
        .into_iter()
        .map(|(_, token)| reset_url(&ctx.portal_url, &token));
    let links: Vec<Option<String>> = linked
        .iter()
        .map(|&linked| if linked { urls.next() } else { None })
        .collect();
    let until = vietnam_time(valid_until);
    if let Err(e) = credentials.write_links(plan, &links, &until) {
        credentials.discard();
        return Err(not_written(format!("the links could not be written: {e}")));
    }
    if !ctx.json {
        output::line(&format!(
            "wrote {} to {path}, valid until {until} ({})",
            output::count(
                logins.len() as i64,
                "one-time reset link",
                "one-time reset links"
            ),
            output::time(valid_until)
        ));
    }
    Ok(())
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
pub(crate) fn progress_bar(len: u64, message: &'static str) -> indicatif::ProgressBar {
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
