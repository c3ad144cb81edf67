//! The read pools (`database.default.max_open_conns`, `max_idle_conns`, `conn_max_lifetime`,
//! issue 13 item 2) on a real node: sessions are reused up to `max_idle`, none lives past its
//! lifetime, no more than `max_open` are open at once, one dropped unreleased is closed; and a
//! `plan` through the binary opens as many sessions to its node as the settings allow, counted
//! by the node itself (`Connections`).

use crate::common::{cli, cluster, serial, target_args};
use mysql_tablespace_recycling::mysql::pool::{PoolSettings, ReadPools};
use mysql_tablespace_recycling::mysql::{ConnectSpec, Endpoint};
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use std::time::Duration;

async fn id(c: &mut sqlx::MySqlConnection) -> u64 {
    sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(c)
        .await
        .unwrap()
}

#[tokio::test]
async fn sessions_are_reused_capped_and_retired() {
    let _g = serial().await;
    let c = cluster();
    let node = c.replica(2);
    let pools = ReadPools::new(PoolSettings {
        max_open: 2,
        max_idle: 1,
        max_lifetime: Duration::from_secs(2),
    });
    let spec: ConnectSpec = c.spec().with_pools(pools.clone());
    let mut two = pools.get_many(&node, &spec, 2).await.unwrap();
    let (a, b) = (id(&mut two[0]).await, id(&mut two[1]).await);
    assert_ne!(a, b);
    for s in two {
        s.release();
    }
    // One of the two was kept (max_idle 1), the other closed.
    let mut s = spec.read(&node).await.unwrap();
    let kept = id(&mut s).await;
    assert!(kept == a || kept == b, "{kept} is neither {a} nor {b}");
    let mut t = spec.read(&node).await.unwrap();
    let fresh = id(&mut t).await;
    assert!(![a, b].contains(&fresh), "a third session was opened");
    // max_open 2: a third waits until one is given back.
    let third = tokio::time::timeout(Duration::from_millis(300), spec.read(&node)).await;
    assert!(
        third.is_err(),
        "a third session opened beyond max_open_conns"
    );
    // Dropped without release (an error, a request past its deadline): closed, not kept.
    drop(t);
    let mut u = spec.read(&node).await.unwrap();
    assert_ne!(id(&mut u).await, fresh, "a dropped session came back");
    drop(u);
    s.release();
    // Past conn_max_lifetime, a kept session is not used again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut v = spec.read(&node).await.unwrap();
    assert_ne!(
        id(&mut v).await,
        kept,
        "a session older than its lifetime was reused"
    );
    v.release();
}

/// `Connections` of `node`: connection attempts since it started.
async fn connections(c: &mut sqlx::MySqlConnection) -> u64 {
    let (_, v): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Connections'")
        .fetch_one(c)
        .await
        .unwrap();
    v.parse().unwrap()
}

/// Sessions `plan` opens to `node` with `pool` as `database.default` (YAML lines).
async fn sessions_of_a_plan(node: &Endpoint, pool: &str) -> u64 {
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("config.yaml"),
        format!("database:\n  default:\n{pool}"),
    )
    .unwrap();
    let mut watch = c.conn(node).await;
    let before = connections(&mut watch).await;
    let out = cli(&work)
        .arg("plan")
        .args(target_args(node))
        .args(["--database", "pools", "--threshold-mb", "1"])
        .args(["--out", "p.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The watching session made no connection; every other one is the plan's.
    connections(&mut watch).await - before
}

#[tokio::test]
async fn a_plan_opens_as_many_sessions_as_the_pool_settings_allow() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "pools",
        "t",
        2,
        Pattern::RandomDelete { keep_every: 3 },
    )])
    .await;
    let node = c.replica(2);
    c.sync_from(&c.primary(), &node).await;
    // The probe's session is kept and reused by the scan, which takes two more for its
    // statements at once.
    assert_eq!(
        sessions_of_a_plan(&node, "    max_open_conns: 10\n").await,
        3
    );
    // One session at a time: the probe's, reused for every catalog statement.
    assert_eq!(
        sessions_of_a_plan(&node, "    max_open_conns: 1\n").await,
        1
    );
    // Nothing kept: the probe's session is closed and the scan opens its three.
    assert_eq!(
        sessions_of_a_plan(&node, "    max_idle_conns: 0\n").await,
        4
    );
}
