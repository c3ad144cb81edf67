//! Discovery with a replica whose replication is stopped: it stays in the tree with its state.
//! (It stops replication: the cluster to itself, running again when it ends.)

use crate::common::{cluster, serial};
use mysql_tablespace_recycling::topology::{DiscoverOptions, discover};
use sqlx::Executor;

#[tokio::test]
async fn a_stopped_replica_is_shown_with_its_state() {
    let _g = serial().await;
    let c = cluster();
    let r2 = c.replica(2);
    c.conn(&r2).await.execute("STOP SLAVE").await.unwrap();
    for seed in [c.primary(), r2.clone()] {
        let t = discover(&seed, &c.spec(), &DiscoverOptions::default())
            .await
            .unwrap();
        assert_eq!(t.root().endpoint(), c.primary(), "seed {seed}");
        let n = t.find(&r2).expect("stopped replica still in the tree");
        let rep = n.replication.as_ref().expect("replication state");
        assert_eq!(
            (rep.io_running.as_str(), rep.sql_running.as_str()),
            ("No", "No")
        );
        assert_eq!(
            n.lag_seconds, None,
            "lag of a stopped replica is unknown, not 0"
        );
        assert!(!n.replicating());
    }
    c.conn(&r2).await.execute("START SLAVE").await.unwrap();
    c.sync_from(&c.primary(), &r2).await;
}
