//! The integration tests that share one sandbox cluster (a module per area). Each test works in
//! schemas of its own and holds `common::shared`, or has the cluster to itself for a while with
//! `common::serial` (binlog positions, read-only flags, load, global variables). Tests that stop
//! or reconfigure replication are in `tests/replication`, on a cluster of their own.

#[path = "../common/mod.rs"]
mod common;

mod apply;
mod apply_limits;
mod conformance;
mod estimates;
mod filenames;
mod logins;
mod ops;
mod plan;
mod plan_edits;
mod plan_obstacles;
mod pools;
mod scan;
mod secrets;
mod server;
mod server_process;
mod topology;
mod windows;
