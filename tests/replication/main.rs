//! The integration tests that stop or reconfigure replication (a stopped or delayed replica, a
//! replica made writable mid-apply) or depend on a quiet node's load: on a cluster of their own,
//! each holding it alone (`common::serial`), so a test that leaves replication disturbed cannot
//! break the `cluster` binary's tests.

#[path = "../common/mod.rs"]
mod common;

mod apply_gates;
mod dashboard;
mod filters;
mod monitoring;
mod nodes_seen;
mod topology_stopped;
