//! Moving a province over: mailboxes copied from a real Dovecot with `congvu-admin migrate
//! imap`, and officials with their password hashes from a real `slapcat` export with
//! `congvu-admin migrate ldif`; archives officials kept, with `congvu-admin mailbox import`.

mod archive;
mod imap;
mod ldif;
