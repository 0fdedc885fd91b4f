//! The old server's mailboxes: G1's corpus in one INBOX or G2's accounts over three folders,
//! written into the source Dovecot's Maildir, and what doveadm's imapc needs to reach it.

use std::path::Path;

use congvu_tests::dovecot::{Dovecot, Flag, MASTER_PASSWORD, MASTER_USER};

use super::*;

/// The logins of the run: the old mailboxes, and doveadm's fresh target users, one set per
/// run so that every run pulls into empty mailboxes.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) accounts: usize,
    pub(super) runs: usize,
}

impl Plan {
    pub(super) fn new(args: &MigrateArgs) -> Plan {
        Plan {
            accounts: args.accounts,
            runs: args.runs,
        }
    }

    /// The old mailbox (login) behind each account of `workload`.
    pub(super) fn source_logins(&self, workload: Workload) -> Vec<String> {
        match workload {
            Workload::G1 => vec!["nguon-g1".into()],
            Workload::G2 => (0..self.accounts)
                .map(|a| format!("nguon-g2-{a:04}"))
                .collect(),
        }
    }

    /// doveadm's target user for each account of `workload` in `run`.
    pub(super) fn target_logins(&self, workload: Workload, run: usize) -> Vec<String> {
        let id = workload.id().to_lowercase();
        (0..self.source_logins(workload).len())
            .map(|a| format!("dich-{id}-r{run}-{a:04}"))
            .collect()
    }

    pub(super) fn sources(&self) -> Vec<String> {
        [Workload::G1, Workload::G2]
            .iter()
            .flat_map(|w| self.source_logins(*w))
            .collect()
    }

    pub(super) fn targets(&self) -> Vec<String> {
        let mut all = Vec::new();
        for run in 0..self.runs {
            for workload in [Workload::G1, Workload::G2] {
                all.extend(self.target_logins(workload, run));
            }
        }
        all
    }
}

/// What the old server holds for each workload: messages and bytes.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Mailboxes {
    pub(super) g1: (usize, usize),
    pub(super) g2: (usize, usize),
}

impl Mailboxes {
    pub(super) fn of(&self, workload: Workload) -> (usize, usize) {
        match workload {
            Workload::G1 => self.g1,
            Workload::G2 => self.g2,
        }
    }
}

/// Writes the mailboxes of the workloads that run into the old server's Maildir: G1 the
/// I1 corpus in INBOX, G2 further corpus messages over [`G2_FOLDERS`]; 70% read, 10% also
/// flagged, received an hour apart.
pub(super) fn seed_source(
    args: &MigrateArgs,
    plan: &Plan,
    source: &Dovecot,
) -> anyhow::Result<Mailboxes> {
    let mut mailboxes = Mailboxes::default();
    let write = |login: &str, i: usize, folder: &str| -> anyhow::Result<usize> {
        let to = format!("{login}@vinhphuc.gov.vn");
        let message = crate::imap::corpus_message(i, &to)?;
        let received = 1_767_229_200 + i as i64 * 3_600;
        source
            .maildir(login)
            .put(folder, &message, flags(i), &[], received);
        Ok(message.len())
    };
    if args.workloads.contains(&Workload::G1) {
        let login = &plan.source_logins(Workload::G1)[0];
        println!("  G1: {} messages", args.messages);
        for i in 0..args.messages {
            mailboxes.g1.0 += 1;
            mailboxes.g1.1 += write(login, i, "INBOX")?;
        }
    }
    if args.workloads.contains(&Workload::G2) {
        println!("  G2: {} × {} messages", args.accounts, args.per_account);
        for (a, login) in plan.source_logins(Workload::G2).iter().enumerate() {
            for n in 0..args.per_account {
                // Corpus numbers after G1's, so every account's mail is its own.
                let i = args.messages + a * args.per_account + n;
                mailboxes.g2.0 += 1;
                mailboxes.g2.1 += write(login, i, G2_FOLDERS[n % G2_FOLDERS.len()])?;
            }
        }
    }
    Ok(mailboxes)
}

/// Flags of corpus message `i`.
pub(super) fn flags(i: usize) -> &'static [Flag] {
    match i % 10 {
        0..=5 => &[Flag::Seen],
        6 => &[Flag::Seen, Flag::Flagged],
        _ => &[],
    }
}

/// The settings with which the second Dovecot's `doveadm backup -R imapc:` reads the old
/// server: over implicit TLS trusting its CA, as the master user, with the features and
/// prefetch Dovecot's migration documentation advises.
pub(super) fn imapc_config(port: u16, ca: &Path) -> String {
    format!(
        "imapc_host = 127.0.0.1\n\
         imapc_port = {port}\n\
         imapc_ssl = imaps\n\
         ssl_client_ca_file = {ca}\n\
         imapc_master_user = {MASTER_USER}\n\
         imapc_password = {MASTER_PASSWORD}\n\
         imapc_features = rfc822.size fetch-headers\n\
         mail_prefetch_count = 20\n",
        ca = ca.display(),
    )
}
