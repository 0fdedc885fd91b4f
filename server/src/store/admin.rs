//! SQL for administrative operations beyond single-entity CRUD: deleting an official with
//! their mail, lockout state, and the aggregates behind `congvu-admin report`.
