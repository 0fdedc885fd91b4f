//! Keeping what a province has: backups taken while mail flows and restored on either
//! engine, one official's mail exported for a client to read, and the consistency check.

mod archive;
mod check;
mod export;
mod faults;
