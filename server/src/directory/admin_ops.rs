//! Directory operations for administrators beyond single-entity CRUD: deleting officials,
//! unlocking accounts, listings and the usage report.
