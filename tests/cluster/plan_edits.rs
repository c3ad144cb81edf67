//! Hostile plan edits that must be refused before any DDL, even with their new digest pinned
//! (issue 11.2, 11.3): a binlog-on plan edited so a chained replica also rebuilds, as its own
//! action, a table the rebuild brings it through replication; and one server listed twice under
//! two spellings of its address.

use crate::common::{self, apply, cli, cluster, plan_file, serial};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::plan::Plan;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use std::path::{Path, PathBuf};

/// Reads a plan without the reader's checks, edits it, writes it back with its content's digest
/// in `digest` (as a hand edit that re-seals would); returns that digest.
fn edit(path: &Path, out: &str, f: impl FnOnce(&mut Plan)) -> (PathBuf, String) {
    let mut p: Plan = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut p);
    p.seal();
    let edited = path.with_file_name(out);
    std::fs::write(&edited, serde_yaml::to_string(&p).unwrap()).unwrap();
    (edited, p.digest)
}

async fn space(
    c: &common::TestCluster,
    ep: &mysql_tablespace_recycling::mysql::Endpoint,
    name: &str,
) -> i64 {
    let mut conn = c.conn(ep).await;
    sqlx::query_scalar(
        "SELECT CAST(SPACE AS SIGNED) FROM information_schema.INNODB_SYS_TABLES WHERE NAME = ?",
    )
    .bind(name)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_binlog_on_plan_edited_to_rebuild_a_table_twice_on_one_node_is_refused() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "twice",
        "t",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let (mid, chained) = (c.replica(1), c.chained());
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &mid,
        "twice.yaml",
        &[
            "--database",
            "twice",
            "--mode",
            "binlog-on",
            "--threshold-mb",
            "1",
        ],
    );
    // The chained replica gets its own copy of the action it already receives.
    let (edited, digest) = edit(&plan, "twice-edited.yaml", |p| {
        let mut n = p.nodes[0].clone();
        n.address = chained.clone();
        n.server_id = 4;
        n.source = Some(mid.clone());
        n.propagates_to = vec![];
        p.nodes.push(n);
    });
    let before = (
        space(c, &mid, "twice/t").await,
        space(c, &chained, "twice/t").await,
    );
    let o = cli(&work).arg("check").arg(&edited).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "check passed it: {err}");
    assert!(err.contains("would rebuild twice.t twice"), "{err}");
    let (code, _, err) = apply(&work, &edited, &["--yes", "--expect-digest", &digest]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error[1001]") && err.contains("would rebuild twice.t twice"),
        "{err}"
    );
    c.sync_from(&mid, &chained).await;
    assert_eq!(
        (
            space(c, &mid, "twice/t").await,
            space(c, &chained, "twice/t").await
        ),
        before,
        "nothing was rebuilt"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_server_under_two_spellings_is_refused() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "alias",
        "t",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let node = c.replica(2);
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &node,
        "alias.yaml",
        &["--database", "alias", "--threshold-mb", "1"],
    );
    let (edited, digest) = edit(&plan, "alias-edited.yaml", |p| {
        let mut n = p.nodes[0].clone();
        n.address = Endpoint::new("localhost", node.port);
        p.nodes.push(n);
    });
    let before = space(c, &node, "alias/t").await;
    let (code, _, err) = apply(&work, &edited, &["--yes", "--expect-digest", &digest]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error[1001]") && err.contains("are one server"),
        "{err}"
    );
    assert_eq!(
        space(c, &node, "alias/t").await,
        before,
        "nothing was rebuilt"
    );
}
