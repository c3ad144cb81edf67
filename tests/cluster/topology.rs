//! Topology discovery against a real sandbox cluster with a chained replica.

use crate::common::{self, PASSWORD, cli, cluster, shared, target_args};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::topology::{
    ClusterTopology, DatabaseNode, DiscoverOptions, Role, discover,
};
use std::collections::BTreeSet;

/// (node, parent) address pairs; the root's parent is empty.
fn edges(t: &ClusterTopology) -> BTreeSet<(String, String)> {
    t.nodes()
        .into_iter()
        .map(|(n, p)| {
            (
                n.endpoint().to_string(),
                p.map(|p| p.endpoint().to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

/// What must not depend on the seed: addresses, ids, roles, read-only, shape.
fn shape(n: &DatabaseNode) -> String {
    let kids: Vec<String> = n.slaves.iter().map(shape).collect();
    format!(
        "{}#{}:{}:{}[{}]",
        n.endpoint(),
        n.server_id,
        n.role,
        n.read_only,
        kids.join(",")
    )
}

#[tokio::test]
async fn the_same_tree_from_primary_replica_and_chained_replica() {
    let _g = shared().await;
    let c = cluster();
    let opts = DiscoverOptions::default();
    let mut trees = Vec::new();
    for seed in [c.primary(), c.replica(1), c.replica(2), c.chained()] {
        trees.push(discover(&seed, &c.spec(), &opts).await.expect("discover"));
    }
    let first = &trees[0];
    assert_eq!(first.root().endpoint(), c.primary());
    assert_eq!(first.root().role, Role::Master);
    assert!(!first.root().read_only);
    assert_eq!(first.nodes().len(), 4);
    for (n, parent) in first.nodes() {
        if parent.is_some() {
            assert_eq!(n.role, Role::Slave, "{}", n.endpoint());
            assert!(n.read_only, "{} must be read-only", n.endpoint());
            assert!(n.replicating());
            assert!(n.lag_seconds.is_some(), "running replica has a lag");
        }
    }
    let chained = first.find(&c.chained()).expect("chained replica present");
    assert_eq!(chained.source, Some(c.replica(1)));
    let r1 = first.find(&c.replica(1)).unwrap();
    assert_eq!(
        r1.slaves.len(),
        1,
        "the chained replica hangs under replica 1"
    );
    for t in &trees[1..] {
        assert_eq!(shape(t.root()), shape(first.root()));
        assert_eq!(t.cluster_id, first.cluster_id);
    }
}

/// Parses `pt-slave-find --report-format=hostname` output into (node, parent) pairs.
fn pt_edges(text: &str) -> BTreeSet<(String, String)> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let indent = line.find(|c: char| c.is_ascii_alphanumeric()).unwrap_or(0);
        let addr = line[indent..].trim().to_string();
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let parent = stack.last().map(|(_, a)| a.clone()).unwrap_or_default();
        out.insert((addr.clone(), parent));
        stack.push((indent, addr));
    }
    out
}

#[tokio::test]
async fn agrees_with_pt_slave_find() {
    let _g = shared().await;
    let c = cluster();
    let p = c.primary();
    let out = std::process::Command::new("pt-slave-find")
        .args([
            "--recursion-method=hosts",
            "--report-format=hostname",
            &format!("h={},P={},u={},p={PASSWORD}", p.host, p.port, common::USER),
        ])
        .output()
        .expect("pt-slave-find must be installed (apt-get install percona-toolkit)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = pt_edges(&String::from_utf8_lossy(&out.stdout));
    let ours = edges(
        &discover(&p, &c.spec(), &DiscoverOptions::default())
            .await
            .unwrap(),
    );
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 4);
}

#[tokio::test]
async fn max_depth_1_stops_after_the_first_level() {
    let _g = shared().await;
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    let out = cli(&work)
        .arg("topology")
        .args(target_args(&c.primary()))
        .args(["--output-format", "json", "--max-depth", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let master = &v["topology"]["master"];
    assert_eq!(master["role"], "master");
    let slaves = master["slaves"].as_array().unwrap();
    assert_eq!(slaves.len(), 2);
    for s in slaves {
        assert_eq!(s["role"], "slave");
        assert_eq!(s["read_only"], true);
        // A leaf's `slaves` is omitted (spec §5.1 `omitempty`), in JSON as in YAML (below).
        assert!(s.get("slaves").is_none(), "no second level: {s}");
    }
    // The walk stopped with a replica below replica 1 not probed: the output says so.
    assert_eq!(
        v["truncated"],
        serde_json::json!({"max_depth": 1, "source_not_reached": null, "replicas_below": 1,
                           "not_probed_below": [c.replica(1).to_string()]}),
        "{v}"
    );
    // The spec's fields are all there.
    for key in [
        "host",
        "port",
        "server_id",
        "role",
        "read_only",
        "lag_seconds",
        "version",
        "slaves",
    ] {
        assert!(master.get(key).is_some(), "missing {key}");
    }
    for key in ["cluster_id", "cluster_name", "discover_time"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
}

#[tokio::test]
async fn yaml_table_and_output_file() {
    let _g = shared().await;
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("out/topo.yaml");
    cli(&work)
        .arg("topology")
        .args(target_args(&c.replica(2)))
        .args(["--output-format", "yaml", "--output-file"])
        .arg(&file)
        .assert()
        .success();
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        yaml["topology"]["master"]["port"].as_u64(),
        Some(u64::from(c.primary().port))
    );
    // `slaves` only where there are some (spec §5.1 `omitempty`), and no `truncated` key.
    let master = &yaml["topology"]["master"];
    let ports = |v: &serde_yaml::Value| {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|n| n["port"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    let r1 = u64::from(c.replica(1).port);
    assert_eq!(
        ports(&master["slaves"]),
        vec![r1, u64::from(c.replica(2).port)]
    );
    let r1_node = &master["slaves"][0];
    assert_eq!(ports(&r1_node["slaves"]), vec![u64::from(c.chained().port)]);
    for leaf in [&master["slaves"][1], &r1_node["slaves"][0]] {
        let keys = leaf.as_mapping().unwrap();
        assert!(!keys.contains_key("slaves"), "{leaf:?}");
        assert!(keys.contains_key("server_id"), "{leaf:?}");
    }
    assert!(!yaml.as_mapping().unwrap().contains_key("truncated"));

    let out = cli(&work)
        .arg("topology")
        .args(target_args(&c.chained()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        lines[0].starts_with(&format!("{}  master", c.primary())),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("+- {}  slave", c.replica(1))),
        "{text}"
    );
    assert!(
        lines[2].starts_with(&format!("|  +- {}  slave", c.chained())),
        "{text}"
    );
    assert!(
        lines[3].starts_with(&format!("+- {}  slave", c.replica(2))),
        "{text}"
    );
}

#[test]
fn refused_host_is_error_1002_naming_host_and_port() {
    let work = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = cli(&work)
        .arg("topology")
        .args(target_args(&Endpoint::new("127.0.0.1", port)))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error[1002]"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test]
async fn bad_password_is_a_clear_error_without_the_password() {
    let _g = shared().await;
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    let wrong = "Wr0ng-Pa55-d81e";
    let out = cli(&work)
        .arg("topology")
        .args([
            "--host",
            &c.primary().host,
            "--port",
            &c.primary().port.to_string(),
        ])
        .args(["--user", common::USER, "--password", wrong])
        .args(["--log-level", "debug"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error[1002]") && err.contains("access denied"),
        "{err}"
    );
    assert!(!err.contains(wrong), "password leaked: {err}");
    let log = std::fs::read_to_string(work.path().join("logs/recycling.log")).unwrap();
    assert!(
        log.contains("ERROR") && log.contains("access denied"),
        "the failure is in the log file: {log}"
    );
    assert!(
        !log.contains(wrong) && !log.contains(PASSWORD),
        "password in log"
    );
}

#[tokio::test]
async fn password_from_the_environment() {
    let _g = shared().await;
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    cli(&work)
        .arg("topology")
        .args([
            "--host",
            &c.primary().host,
            "--port",
            &c.primary().port.to_string(),
        ])
        .args(["--user", common::USER])
        .env("RECYCLER_DB_PASSWORD", PASSWORD)
        .assert()
        .success();
}

/// `--max-depth` that stops the walk up below the primary (issue 13 item 9): the highest node
/// reached is still a `slave`, the output says the primary was not reached, and a plan refuses
/// with that reason (1004) instead of calling the replica "the writable end of a loop".
#[tokio::test]
async fn a_walk_up_cut_short_by_max_depth_never_labels_a_replica_master() {
    let _g = shared().await;
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        cli(&work)
            .args(args)
            .args(target_args(&c.chained()))
            .args(["--max-depth", "1"])
            .output()
            .unwrap()
    };
    let out = run(&["topology", "--output-format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let top = &v["topology"]["master"];
    assert_eq!(top["port"], c.replica(1).port, "{v}");
    assert_eq!(top["role"], "slave", "{v}");
    assert_eq!(
        v["truncated"],
        serde_json::json!({
            "max_depth": 1,
            "source_not_reached": c.primary().to_string(),
            "replicas_below": 0,
            "not_probed_below": []
        }),
        "{v}"
    );
    let out = run(&["topology"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "# truncated at --max-depth 1: {} replicates from {}, which was not probed; the \
             primary is not known",
            c.replica(1),
            c.primary()
        )),
        "{text}"
    );
    assert!(!text.contains("master"), "{text}");

    let out = run(&["plan", "--scope", "cluster", "--out", "p.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error[1004]"), "{err}");
    assert!(err.contains("truncated at --max-depth 1"), "{err}");
    assert!(!err.contains("loop"), "{err}");
    assert!(!work.path().join("p.yaml").exists());
}

/// `--max-depth` that leaves replicas below the last level unprobed: a plan refuses (1003),
/// since a binlogged rebuild would reach nodes nobody checked.
#[tokio::test]
async fn a_plan_on_a_tree_cut_short_below_refuses() {
    let _g = shared().await;
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    let out = cli(&work)
        .arg("plan")
        .args(target_args(&c.primary()))
        .args(["--max-depth", "1", "--scope", "cluster", "--out", "p.yaml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error[1003]"), "{err}");
    assert!(
        err.contains(&format!(
            "truncated at --max-depth 1: 1 replica(s) below {} were not probed",
            c.replica(1)
        )),
        "{err}"
    );
}

/// A node the store remembers of this cluster and no discovery finds (here one recorded in the
/// job store by hand: a former replica) is reported by `topology` until `--forget` forgets it;
/// a node forgotten that way is not reported by that run already, and the nodes found are
/// remembered by the runs before and after.
#[tokio::test]
async fn a_node_seen_before_is_reported_until_forgotten() {
    use mysql_tablespace_recycling::jobs::Store;
    use mysql_tablespace_recycling::topology::{NodeMemory, SeenNode};
    let _g = shared().await;
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    let topology = |extra: &[&str]| {
        let o = cli(&work)
            .arg("topology")
            .args(target_args(&c.primary()))
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (
            String::from_utf8(o.stdout).unwrap(),
            String::from_utf8(o.stderr).unwrap(),
        )
    };
    // Records the cluster in the default store, ./data/jobs.db of the work dir.
    let (first, _) = topology(&[]);
    assert!(!first.contains("not found now"), "{first}");
    let gone = Endpoint::new("127.0.0.1", 1);
    let then: chrono::DateTime<chrono::Utc> = chrono::Utc::now() - chrono::Duration::hours(1);
    let store = Store::open(&work.path().join("data/jobs.db"))
        .await
        .unwrap();
    let key = c.primary().to_string();
    let before = store
        .record_seen(
            &key,
            &[SeenNode {
                address: gone.clone(),
                server_id: Some(99),
                server_uuid: None,
                role: Role::Slave,
                source: Some(c.replica(1)),
                first_seen: then,
                last_seen: then,
            }],
            then - chrono::Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(
        before.len(),
        4,
        "the first run remembered every node: {before:?}"
    );

    let (tree, _) = topology(&[]);
    let want = format!(
        "127.0.0.1:1  last seen {} as replica of {}, not found now",
        then.format("%Y-%m-%d %H:%M:%S UTC"),
        c.replica(1)
    );
    assert!(tree.lines().any(|l| l == want), "{want}:\n{tree}");
    let (json, _) = topology(&["--output-format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["missing"][0]["server_id"], 99, "{v}");

    let (tree, err) = topology(&["--forget", "127.0.0.1:1"]);
    assert!(err.contains("forgot 127.0.0.1:1"), "{err}");
    assert!(!tree.contains("not found now"), "{tree}");
    let (_, err) = topology(&["--forget", "127.0.0.1:1"]);
    assert!(err.contains("no node seen before at 127.0.0.1:1"), "{err}");
    let o = cli(&work)
        .arg("topology")
        .args(target_args(&c.primary()))
        .args(["--forget", "no:such:address"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error[1001]"));
}
