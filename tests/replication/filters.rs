//! A replica with a replication filter (issue 16 item 7): `topology` shows it, a binlog-on plan
//! does not count the filtered replica as receiving the tables its filter drops (the action's
//! `propagates_to` leaves it out, a warning and the skipped list say why), apply leaves that
//! replica's copy as it was, and a filter changed after the plan is drift (exit 3). Tables its
//! filter lets through are planned as before. (It reconfigures replication on the chained
//! replica: the cluster to itself, the filter removed when it ends, even on failure.)

use crate::common::{apply, cli, cluster, plan_file, serial, target_args};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::plan::read_plan;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};

const LOW: [&str; 4] = ["--threshold-mb", "1", "--threshold-percent", "5"];

/// Sets `replicate_wild_ignore_table` on a replica; dropping it sets the filter back to none.
struct WildIgnore(Endpoint);

async fn set_wild_ignore(ep: &Endpoint, rule: &str) {
    use sqlx::Executor;
    let mut c = cluster().conn(ep).await;
    c.execute("STOP SLAVE").await.unwrap();
    sqlx::query("SET GLOBAL replicate_wild_ignore_table = ?")
        .bind(rule)
        .execute(&mut c)
        .await
        .unwrap();
    c.execute("START SLAVE").await.unwrap();
}

impl WildIgnore {
    async fn set(ep: &Endpoint, rule: &str) -> Self {
        set_wild_ignore(ep, rule).await;
        Self(ep.clone())
    }
}

impl Drop for WildIgnore {
    fn drop(&mut self) {
        let ep = self.0.clone();
        // Drop cannot await: a runtime of its own on another thread.
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(set_wild_ignore(&ep, ""))
        })
        .join()
        .expect("filter restored");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wild_ignore_filter_keeps_its_tables_out_of_the_binlog_on_reach() {
    let _g = serial().await;
    let c = cluster();
    let (mid, chained) = (c.replica(1), c.chained());
    // Every node has both tables, fragmented, before the filter is set.
    c.fragment(&[
        TableSpec::sized("bigflt", "t", 8, Pattern::RangeDelete { percent: 60 }),
        TableSpec::sized("fltok", "t", 8, Pattern::RangeDelete { percent: 60 }),
    ])
    .await;
    let filter = WildIgnore::set(&chained, "bigflt%.%").await;
    c.sync_from(&mid, &chained).await;

    // topology shows the filter under the chained replica.
    let work = tempfile::tempdir().unwrap();
    let o = cli(&work)
        .arg("topology")
        .args(target_args(&c.primary()))
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let at = tree
        .lines()
        .position(|l| l.contains(&format!("{chained}  slave")))
        .expect("chained replica in the tree");
    assert!(
        tree.lines().nth(at + 1).is_some_and(
            |l| l.trim_start_matches([' ', '|']) == "replicate_wild_ignore_table=bigflt%.%"
        ),
        "{tree}"
    );
    let o = cli(&work)
        .arg("topology")
        .args(target_args(&c.primary()))
        .args(["--output-format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r1 = &json["topology"]["master"]["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["port"] == mid.port)
        .unwrap()
        .clone();
    assert!(
        r1["replication"].get("filters").is_none(),
        "no filters: omitted"
    );
    assert_eq!(
        r1["slaves"][0]["replication"]["filters"]["wild_ignore_table"],
        serde_json::json!(["bigflt%.%"])
    );

    // A binlog-on plan on the intermediate replica.
    let mut args: Vec<&str> = LOW.to_vec();
    args.extend([
        "--scope",
        "node",
        "--mode",
        "binlog-on",
        "--database",
        "bigflt",
        "--database",
        "fltok",
    ]);
    let path = plan_file(&work, &mid, "flt.yaml", &args);
    let plan = read_plan(&path).unwrap();
    let node = &plan.nodes[0];
    assert_eq!(node.address, mid);
    assert_eq!(
        node.propagates_to,
        std::slice::from_ref(&chained),
        "reached for protection"
    );
    let action = |schema: &str| {
        node.actions
            .iter()
            .find(|a| a.schema == schema)
            .unwrap_or_else(|| panic!("{schema}.t planned: {plan:?}"))
    };
    let (big, ok) = (action("bigflt"), action("fltok"));
    assert_eq!(big.propagates_to, Some(vec![]), "{big:?}");
    assert!(
        big.warnings.iter().any(|w| w
            == &format!(
                "not replicated to {chained}: filtered by replicate_wild_ignore_table=bigflt%.% \
                 on {chained}; bigflt.t is not rebuilt there"
            )),
        "{:?}",
        big.warnings
    );
    assert_eq!(ok.propagates_to, None, "a table the filter lets through");
    assert!(
        !ok.warnings.iter().any(|w| w.contains("replicated")),
        "{:?}",
        ok.warnings
    );
    let skipped = plan
        .skipped
        .iter()
        .find(|s| s.address == chained.to_string() && s.schema.as_deref() == Some("bigflt"))
        .expect("the filtered replica's table is in the skipped list");
    assert!(
        skipped.reason.contains("does not reach it")
            && skipped.reason.contains("--mode binlog-off"),
        "{skipped:?}"
    );
    let shown = cli(&work).arg("show").arg(&path).output().unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains(&format!(
            "{chained}  bigflt.t: the binlog-on rebuild on {mid}"
        )),
        "{shown}"
    );

    // Apply: the intermediate rebuilds both; the chained replica gets only fltok.t.
    let before = (
        c.file_size(&chained, "bigflt", "t").await,
        c.file_size(&chained, "fltok", "t").await,
    );
    c.purged(&mid).await;
    let (code, out, err) = apply(&work, &path, &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    c.sync_from(&mid, &chained).await;
    assert_eq!(
        c.file_size(&chained, "bigflt", "t").await,
        before.0,
        "the filtered table is not rebuilt on {chained}"
    );
    assert!(
        c.file_size(&chained, "fltok", "t").await < before.1,
        "the other table's rebuild replicated to {chained}"
    );

    // The filter removed after the review: the plan no longer says what the rebuild reaches.
    drop(filter);
    let (code, out, err) = apply(&work, &path, &["--yes"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "{mid} bigflt.t: with the replicas' filters as they are now the rebuild reaches \
             [{chained}], the plan says []"
        )),
        "{err}"
    );
    c.exec(
        &c.primary(),
        &["DROP DATABASE bigflt", "DROP DATABASE fltok"],
    )
    .await;
}
