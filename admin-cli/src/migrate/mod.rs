//! `congvu-admin migrate`: bringing a province over from its old servers. `migrate imap`
//! copies officials' mailboxes from the old IMAP server, safe to repeat as the delta pass;
//! `migrate ldif` brings officials, aliases and groups over from an LDIF export of the old
//! directory, with the password hashes they already have.

mod imap;
mod ldif;

use clap::Subcommand;

use crate::Context;

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Copy mailboxes from the old IMAP server (every folder, flag and date); safe to re-run.
    Imap(imap::ImapArgs),
    /// Bring officials, aliases and groups over from an LDIF export, with their passwords.
    Ldif(ldif::LdifArgs),
}

pub async fn run(ctx: &Context, cmd: MigrateCommand) -> anyhow::Result<()> {
    match cmd {
        MigrateCommand::Imap(args) => imap::run(ctx, args).await,
        MigrateCommand::Ldif(args) => ldif::run(ctx, args).await,
    }
}
