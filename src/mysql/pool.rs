//! Read pools (`database.default.max_open_conns`, `max_idle_conns`, `conn_max_lifetime`, with
//! Go `database/sql` meanings): per node and login, at most `max_open` sessions at once for the
//! read-only work — discovery probes and catalog scans — of which up to `max_idle` are kept
//! open between uses, none older than `max_lifetime`. DDL, and the control session that can
//! `KILL QUERY` it, never come from here (design §6: pooled sessions carry settings from one
//! user to the next).
//!
//! A session goes back to the pool only when its user says it is done with it
//! ([`Pooled::release`]): one dropped on an error or in the middle of a statement (a request
//! past its deadline) is closed instead, so no one inherits a half-read result or a
//! statement still waiting on the server. A session taken from the pool is pinged first.

use super::{ConnectSpec, Endpoint};
use crate::error::{Error, Result};
use crate::secret::Secret;
use sqlx::Connection;
use sqlx::mysql::MySqlConnection;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits of every node's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Sessions open to one node at once (at least 1).
    pub max_open: u32,
    /// Sessions kept open while unused.
    pub max_idle: u32,
    /// A session is closed once this old.
    pub max_lifetime: Duration,
}

impl Default for PoolSettings {
    /// `database.default`'s defaults.
    fn default() -> Self {
        Self {
            max_open: 10,
            max_idle: 5,
            max_lifetime: Duration::from_secs(3600),
        }
    }
}

/// One pool per node and login; clones share them.
#[derive(Debug, Clone, Default)]
pub struct ReadPools(Arc<Pools>);

#[derive(Debug, Default)]
struct Pools {
    settings: PoolSettings,
    nodes: Mutex<HashMap<Key, Arc<NodePool>>>,
}

/// A node (as [`Endpoint::normalized`]), the login and the TLS used on it: a session opened
/// for one request is never handed to another that asked for other credentials or more TLS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    node: Endpoint,
    user: String,
    password: Secret,
    tls: super::tls::Tls,
}

#[derive(Debug)]
struct NodePool {
    open: Arc<Semaphore>,
    idle: Mutex<Vec<(MySqlConnection, Instant)>>,
}

impl ReadPools {
    pub fn new(settings: PoolSettings) -> Self {
        Self(Arc::new(Pools {
            settings: PoolSettings {
                max_open: settings.max_open.max(1),
                ..settings
            },
            nodes: Mutex::default(),
        }))
    }

    pub fn settings(&self) -> PoolSettings {
        self.0.settings
    }

    fn node(&self, ep: &Endpoint, spec: &ConnectSpec) -> Arc<NodePool> {
        let login = spec.credentials_for(ep);
        let key = Key {
            node: ep.normalized(),
            user: login.user.clone(),
            password: login.password.clone(),
            tls: spec.tls.clone(),
        };
        let mut nodes = self.0.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes
            .entry(key)
            .or_insert_with(|| {
                Arc::new(NodePool {
                    open: Arc::new(Semaphore::new(self.0.settings.max_open as usize)),
                    idle: Mutex::default(),
                })
            })
            .clone()
    }

    /// `n` sessions to `ep` at once (at most `max_open`: fewer when it is lower), taken
    /// together so two users of one node never each hold part of what they wait for. Waits
    /// while the node's sessions are all in use; a new session fails like
    /// [`super::connect`] (1002 after the connect timeout).
    pub async fn get_many(&self, ep: &Endpoint, spec: &ConnectSpec, n: u32) -> Result<Vec<Pooled>> {
        let n = n.clamp(1, self.0.settings.max_open);
        let pool = self.node(ep, spec);
        let mut all = pool
            .open
            .clone()
            .acquire_many_owned(n)
            .await
            .map_err(|_| Error::Internal("a read pool was closed".into()))?;
        let mut permits: Vec<OwnedSemaphorePermit> = (1..n).filter_map(|_| all.split(1)).collect();
        permits.push(all);
        let mut out = Vec::with_capacity(permits.len());
        for permit in permits {
            let (conn, born) = match self.take_idle(&pool).await {
                Some(c) => c,
                None => (super::connect(ep, spec).await?, Instant::now()),
            };
            out.push(Pooled {
                conn,
                born,
                pool: pool.clone(),
                settings: self.0.settings,
                _permit: permit,
            });
        }
        Ok(out)
    }

    /// One session to `ep` (see [`ReadPools::get_many`]).
    pub async fn get(&self, ep: &Endpoint, spec: &ConnectSpec) -> Result<Pooled> {
        Ok(self.get_many(ep, spec, 1).await?.remove(0))
    }

    /// A kept session young enough that still answers, if there is one.
    async fn take_idle(&self, pool: &NodePool) -> Option<(MySqlConnection, Instant)> {
        loop {
            let (mut conn, born) = pool.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
            if born.elapsed() >= self.0.settings.max_lifetime {
                continue;
            }
            if conn.ping().await.is_ok() {
                return Some((conn, born));
            }
        }
    }
}

/// A session of a node's read pool; derefs to the connection. Dropped without
/// [`Pooled::release`], it is closed.
#[derive(Debug)]
pub struct Pooled {
    conn: MySqlConnection,
    born: Instant,
    pool: Arc<NodePool>,
    settings: PoolSettings,
    _permit: OwnedSemaphorePermit,
}

impl Pooled {
    /// Done with it, between statements: the session is kept for the next user while the
    /// pool keeps fewer than `max_idle` and it is younger than `max_lifetime`, else closed.
    pub fn release(self) {
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if (idle.len() as u32) < self.settings.max_idle
            && self.born.elapsed() < self.settings.max_lifetime
        {
            idle.push((self.conn, self.born));
        }
    }
}

impl Deref for Pooled {
    type Target = MySqlConnection;
    fn deref(&self) -> &MySqlConnection {
        &self.conn
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut MySqlConnection {
        &mut self.conn
    }
}
