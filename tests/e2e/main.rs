//! congvu end-to-end tests: one binary, real servers, real clients.
#![allow(clippy::unwrap_used)]

mod admin;
mod admin_cli;
mod binary;
mod import;
mod layering;
mod ldap;
mod lifecycle;
mod store_suite;
