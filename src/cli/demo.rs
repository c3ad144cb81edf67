//! `demo`: the whole tool end to end on a local sandbox — cluster, fragmentation, topology,
//! plan, review, apply in binlog-off mode with progress bars, bytes really freed per node — and
//! proof that nothing ran on the primary. Safe to run again: the sandbox is reused and the demo
//! tables are recreated.

use super::apply::run_plan;
use super::opts::{ApplyFormat, RunArgs, SandboxPassword};
use super::{Context, DEFAULT_PARALLEL};
use crate::error::{Error, Result};
use crate::inspect::TableFilter;
use crate::mysql::{Credentials, query_rows};
use crate::plan::{PlanRequest, make_plan, summary_table, write_plan};
use crate::sandbox::fragment::demo_tables;
use crate::sandbox::{Layout, Sandbox};
use crate::settings::{HumanDuration, Mode, Scope, Settings};
use crate::topology::{DiscoverOptions, OutputFormat, discover_remembered, render};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Sandbox directory (reused when it exists)
    #[arg(long, default_value = "./sandbox")]
    pub dir: PathBuf,
    /// Port of the sandbox primary (a new sandbox only)
    #[arg(long, default_value_t = 23306)]
    pub base_port: u16,
    /// Size of each large demo table before fragmentation, MiB
    #[arg(long, default_value_t = 40)]
    pub size_mb: u64,
    #[command(flatten)]
    pub login: SandboxPassword,
    /// Where the plan file is written
    #[arg(long, default_value = "plans")]
    pub plans_dir: PathBuf,
}

fn step(n: u32, what: &str) {
    println!("\n== {n}/6 {what}");
}

pub async fn run(ctx: &Context, a: DemoArgs) -> Result<i32> {
    if ctx.dry_run {
        return Err(Error::invalid(
            "the demo runs everything for real on a local sandbox; it has no --dry-run (try \
             `plan` and `apply --dry-run` against the sandbox)",
        ));
    }
    step(
        1,
        "sandbox: a primary, two replicas and a chained replica (MariaDB)",
    );
    let sandbox = match Sandbox::open(&a.dir) {
        Ok(sb) if sb.layout.replicas == 2 && sb.layout.chain => sb,
        Ok(sb) => {
            return Err(Error::invalid(format!(
                "the sandbox at {} has another layout; run `sandbox down --purge --dir {}` first",
                sb.dir.display(),
                sb.dir.display()
            )));
        }
        Err(_) => Sandbox::new(
            &a.dir,
            Layout {
                base_port: a.base_port,
                replicas: 2,
                chain: true,
                user: "recycler".into(),
                tls: None,
            },
        ),
    };
    let password = a.login.password;
    sandbox.up(&password).await?;
    let primary = sandbox.primary();
    println!("running in {}, primary {primary}", sandbox.dir.display());

    step(
        2,
        "fragmenting schema `shop` on the primary (bulk insert, then deletes and updates)",
    );
    let tables = demo_tables("shop", a.size_mb.max(1));
    sandbox.fragment(&tables).await?;
    for t in &tables {
        println!("  shop.{:<10} {:>7} rows  {:?}", t.table, t.rows, t.pattern);
    }

    step(3, "topology discovered from the primary");
    let spec = ctx.config.database.default.spec(Credentials {
        user: sandbox.layout.user.clone(),
        password,
    });
    // The job store remembers the nodes each discovery found (nodes seen before).
    let store = ctx.open_store().await?;
    let opts = DiscoverOptions {
        cluster_name: Some("sandbox".into()),
        ..Default::default()
    };
    let topo = discover_remembered(&primary, &spec, &opts, &store).await?;
    print!("{}", render(&topo, OutputFormat::Table)?);

    step(
        4,
        "plan: every eligible replica, binlog-off, tables with >= 10 MiB and >= 20% to gain",
    );
    let d = &ctx.config.recycling.defaults;
    let settings = Settings {
        mode: Mode::BinlogOff,
        scope: Scope::Cluster,
        threshold_mb: 10,
        threshold_percent: 20.0,
        exclude_primary: true,
        batch_size: d.batch_size,
        timeout: HumanDuration::secs(1800),
        parallel: ctx.parallel.unwrap_or(DEFAULT_PARALLEL),
        lock_wait_timeout: d.lock_wait_timeout,
        max_lag: d.max_lag,
        allow_blocking: false,
        check_interval: Some(d.check_interval),
        max_load: Some(d.max_load.clone()),
        critical_load: Some(d.critical_load.clone()),
        worker_timeout: ctx.config.recycling.concurrency.worker_timeout,
        heartbeat_table: None,
        order: Some(Default::default()),
    };
    let plan_id = super::plan::new_plan_id(ctx).await?;
    let req = PlanRequest {
        seed: primary.clone(),
        settings,
        filter: TableFilter {
            databases: vec!["shop".into()],
            ..Default::default()
        },
        analyze: true,
        max_depth: crate::topology::DEFAULT_MAX_DEPTH,
        cluster_name: Some("sandbox".into()),
        plan_id: plan_id.clone(),
        sample_rows: crate::inspect::DEFAULT_SAMPLE_ROWS,
        full_scan: false,
    };
    let (plan, _) = make_plan(&req, &spec, &store, &store).await?;
    let path = a.plans_dir.join(format!("demo-{plan_id}.yaml"));
    write_plan(&path, &plan)?;
    println!("wrote {}", path.display());

    step(5, &format!("review: show {}", path.display()));
    print!("{}", summary_table(&plan));

    step(
        6,
        "apply in binlog-off mode (each replica rebuilds locally, sql_log_bin=0)",
    );
    let mut admin = sandbox.admin(&sandbox.node(0)).await?;
    let position = |rows: Vec<crate::mysql::Row>| {
        rows.first()
            .map(|r| format!("{}:{}", r.text(&["File"]), r.text(&["Position"])))
            .unwrap_or_default()
    };
    let before = position(query_rows(&mut admin, &primary, "SHOW MASTER STATUS").await?);
    let run = RunArgs {
        yes: true,
        output_format: ApplyFormat::Table,
        pause_file: None,
        panic_file: None,
        free_disk: Vec::new(),
    };
    let code = run_plan(
        ctx,
        plan,
        spec,
        &run,
        super::apply::Run {
            resume: false,
            kind: crate::jobs::JobKind::Apply,
            pinned: None,
            order: None,
            timeout: None,
        },
    )
    .await?;
    let after = position(query_rows(&mut admin, &primary, "SHOW MASTER STATUS").await?);
    if before == after {
        println!("primary {primary}: binlog position {after} unchanged — nothing ran there");
    } else {
        println!("primary {primary}: binlog position moved {before} → {after} (other writes?)");
    }
    println!(
        "\nthe sandbox is still running; stop it with: mysql-tablespace-recycling sandbox down --dir {}",
        a.dir.display()
    );
    Ok(code)
}
