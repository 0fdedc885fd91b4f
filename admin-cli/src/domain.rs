//! `congvu-admin domain …`

use anyhow::Context as _;
use clap::Subcommand;
use congvu::directory::{DkimKey, DkimRecord, NewDomain, DEFAULT_DKIM_KEY_BITS};
use serde_json::json;

use crate::{output, Context, UsageError};

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add a mail domain.
    Add {
        /// The domain, e.g. vinhphuc.gov.vn.
        name: String,
        /// Make it the primary domain (the LDAP base and the default for new agencies).
        #[arg(long)]
        primary: bool,
        /// Default mailbox quota for officials in this domain, in MiB.
        #[arg(long, default_value_t = 2048)]
        quota_mib: i64,
    },
    /// List the domains.
    List,
    /// Generate the domain's DKIM key, store it, and print the DNS record to publish.
    ///
    /// Mail that officials send from the domain is signed with the new key from then on.
    DkimKeygen {
        /// The domain, e.g. vinhphuc.gov.vn.
        domain: String,
        /// The DKIM selector (default: congvu and the year and month, e.g. congvu202611).
        #[arg(long)]
        selector: Option<String>,
        /// RSA key size in bits.
        #[arg(long, default_value_t = DEFAULT_DKIM_KEY_BITS as u32,
              value_parser = clap::value_parser!(u32).range(2048..=4096))]
        bits: u32,
        /// Replace the domain's current key (the new one needs a new selector).
        #[arg(long)]
        replace: bool,
    },
    /// Print the DNS record of the domain's current DKIM key again.
    DkimShow {
        /// The domain, e.g. vinhphuc.gov.vn.
        domain: String,
    },
}

pub async fn run(ctx: &Context, cmd: DomainCommand) -> anyhow::Result<()> {
    match cmd {
        DomainCommand::Add {
            name,
            primary,
            quota_mib,
        } => {
            let mut new = NewDomain::new(&name);
            new.is_primary = primary;
            new.default_quota_bytes = quota_mib.saturating_mul(1 << 20);
            let domain = ctx.directory.add_domain(&ctx.actor, new).await?;
            output::line(&format!(
                "added domain {}{}",
                domain.name,
                if domain.is_primary { " (primary)" } else { "" }
            ));
        }
        DomainCommand::List => {
            let domains = ctx.directory.domains().await?;
            if ctx.json {
                let list: Vec<_> = domains
                    .iter()
                    .map(|d| json!({ "name": d.name, "primary": d.is_primary, "default_quota_bytes": d.default_quota_bytes }))
                    .collect();
                output::json(&json!(list));
            } else {
                let rows: Vec<_> = domains
                    .iter()
                    .map(|d| {
                        vec![
                            d.name.clone(),
                            if d.is_primary {
                                "yes".into()
                            } else {
                                String::new()
                            },
                            format!("{} MiB", d.default_quota_bytes >> 20),
                        ]
                    })
                    .collect();
                output::table(&["DOMAIN", "PRIMARY", "DEFAULT QUOTA"], &rows);
            }
        }
        DomainCommand::DkimKeygen {
            domain,
            selector,
            bits,
            replace,
        } => dkim_keygen(ctx, &domain, selector.as_deref(), bits, replace).await?,
        DomainCommand::DkimShow { domain } => dkim_show(ctx, &domain).await?,
    }
    Ok(())
}

async fn dkim_keygen(
    ctx: &Context,
    domain: &str,
    selector: Option<&str>,
    bits: u32,
    replace: bool,
) -> anyhow::Result<()> {
    // Checked before generating, which takes a moment; the directory checks again when storing.
    let current = ctx.directory.dkim_key(domain).await?;
    if let (Some(current), false) = (&current, replace) {
        return Err(UsageError(format!(
            "{domain} already has a DKIM key (selector {selector}): pass --replace to replace it \
             with a new one; `congvu-admin domain dkim-show {domain}` prints its record",
            domain = current.domain,
            selector = current.selector,
        ))
        .into());
    }
    let key = tokio::task::spawn_blocking(move || DkimKey::generate(bits as usize))
        .await
        .context("while generating the DKIM key")??;
    let record = ctx
        .directory
        .set_dkim_key(&ctx.actor, domain, selector, &key, replace)
        .await?;
    let hint = match &current {
        Some(old) => format!(
            "; mail from {domain} is signed with this key from now on: publish this record at once, \
             and keep the record of selector {old} for a week, until mail signed with it has been checked",
            domain = record.domain,
            old = old.selector,
        ),
        None => format!(
            "; mail from {domain} is signed with this key from now on: publish this record in the \
             zone of {domain}, then check it with `dig +short TXT {name}`",
            domain = record.domain,
            name = record.name(),
        ),
    };
    print_record(ctx, &record, &hint);
    Ok(())
}

async fn dkim_show(ctx: &Context, domain: &str) -> anyhow::Result<()> {
    let Some(stored) = ctx.directory.dkim_key(domain).await? else {
        anyhow::bail!(
            "{domain} has no DKIM key: create one with `congvu-admin domain dkim-keygen {domain}`"
        );
    };
    let key = DkimKey::from_pem(&stored.private_key_pem)?;
    let record = key.record(&stored.domain, &stored.selector);
    let hint = format!(
        "; mail from {domain} is signed with selector {selector}",
        domain = record.domain,
        selector = record.selector,
    );
    print_record(ctx, &record, &hint);
    Ok(())
}

/// Prints `record` as a zone-file line followed by `hint` as a zone-file comment, so that
/// the output can go into a zone file as it is; or, with --json, its parts.
fn print_record(ctx: &Context, record: &DkimRecord, hint: &str) {
    if ctx.json {
        output::json(&json!({
            "domain": record.domain,
            "selector": record.selector,
            "record_name": record.name(),
            "record_value": record.value(),
        }));
    } else {
        output::line(&record.zone_entry());
        output::line(hint);
    }
}
