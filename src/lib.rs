//! mysql-tablespace-recycling: gives disk space back from fragmented InnoDB tables across
//! MySQL/MariaDB replication clusters, safely.
//!
//! Data flows one way (design §2): [`topology`] discovers the cluster, [`mysql`] holds every
//! flavor-specific question, [`sandbox`] runs a real local cluster for demos and tests, and
//! [`cli`] is the thin command-line layer over all of it.

pub mod cli;
pub mod config;
pub mod error;
pub mod logging;
pub mod mysql;
pub mod sandbox;
pub mod secret;
pub mod topology;
