//! Integration tests of `integrations-sqlx`, on SQLite files and on PostgreSQL (a fresh
//! schema per test; set `DATABASE_URL`, for example with `eval "$(scripts/postgres start)"`).

mod conformance;
mod connect;
mod errors;
mod input;
mod secrets;
mod sink;
mod storm;
mod support;
mod tracker;
