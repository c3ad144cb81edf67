//! mysql-tablespace-recycling: gives disk space back from fragmented InnoDB tables across
//! MySQL/MariaDB replication clusters, safely.
//!
//! Data flows one way (design §2): [`topology`] discovers the cluster, [`inspect`] scans each
//! node's catalog and estimates what a rebuild frees, [`plan`] turns that into a reviewable plan
//! file, [`apply`] runs a reviewed plan safely, [`jobs`] records applies as jobs (store, runner,
//! the server's job manager) and [`server`] serves it all over REST with live progress.
//! [`mysql`] holds every flavor-specific question, [`sandbox`] runs a real local cluster for
//! demos and tests, and [`cli`] is the thin command-line layer over all of it.

pub mod activity;
pub mod apply;
pub mod cli;
pub mod config;
pub mod error;
pub mod input;
pub mod inspect;
pub mod jobs;
pub mod logging;
pub mod monitor;
pub mod mysql;
pub mod output;
pub mod plan;
pub mod sandbox;
pub mod secret;
pub mod server;
pub mod settings;
pub mod topology;
