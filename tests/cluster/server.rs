//! The REST server against a real sandbox cluster, in process on port 0: the spec's endpoints
//! and shapes, a full discover → plan → job-from-plan flow with space freed measured and
//! watched over the WebSocket, job list filters and pagination, cancel of a running rebuild
//! (gone from the processlist within 2 s), pause / resume / PATCH of a running job, queue full,
//! stale plans, auth, OpenAPI, metrics, and the Alertmanager alert of a failed job.

use crate::common::{PASSWORD, USER, cluster, serial, shared};
use futures::{SinkExt, StreamExt};
use mysql_tablespace_recycling::config::Config;
use mysql_tablespace_recycling::jobs::Store;
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec, build};
use mysql_tablespace_recycling::server::{AppState, serve};
use mysql_tablespace_recycling::settings::{MAX_BATCH_SIZE, MAX_PARALLEL, MAX_THRESHOLD_MB};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Executor;
use std::time::{Duration, Instant};

pub(crate) struct App {
    pub(crate) base: String,
    http: reqwest::Client,
    token: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl App {
    pub(crate) async fn start(edit: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.server.host = "127.0.0.1".into();
        cfg.persistence.job_state.file = Some(dir.path().join("jobs.db"));
        edit(&mut cfg);
        let token = cfg
            .server
            .auth_token
            .as_ref()
            .map(|t| t.expose().to_string());
        let store = Store::open(&cfg.job_store_file()).await.unwrap();
        let state = AppState::new(cfg, store).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            serve(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            base,
            http: reqwest::Client::new(),
            token,
            stop: Some(stop),
            done: Some(done),
            _dir: dir,
        }
    }

    pub(crate) fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub(crate) async fn call(
        &self,
        m: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.req(m, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert!(
            !text.contains(PASSWORD),
            "a response leaks the password: {text}"
        );
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    pub(crate) async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// A POST without a body (pause, resume).
    pub(crate) async fn post_empty(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, None).await
    }

    /// Polls a job until `pred` holds (or panics after `secs`).
    pub(crate) async fn wait_job(
        &self,
        id: &str,
        secs: u64,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let (s, v) = self.get(&format!("/api/v1/recycle/jobs/{id}")).await;
            assert_eq!(s, 200, "{v}");
            if pred(&v["data"]) {
                return v["data"].clone();
            }
            assert!(Instant::now() < end, "job {id} never got there: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn wait_final(&self, id: &str) -> Value {
        self.wait_job(id, 300, |d| {
            matches!(
                d["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
        })
        .await
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            d.await.unwrap();
        }
    }
}

pub(crate) fn target(ep: &Endpoint) -> Value {
    json!({"host": ep.host, "port": ep.port, "username": USER, "password": PASSWORD})
}

pub(crate) fn creds() -> Value {
    json!({"username": USER, "password": PASSWORD})
}

pub(crate) fn assert_error(status: u16, v: &Value, want_status: u16, want_code: u64) {
    assert_eq!(status, want_status, "{v}");
    assert_eq!(v["code"], want_code, "{v}");
    assert!(v["message"].is_string() && v["details"].is_object(), "{v}");
    assert!(v["timestamp"].is_string(), "{v}");
}

/// Checks that `v` has every required property of `schema` and no undeclared one, through
/// objects and arrays; `$ref`s are resolved in `doc`.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str) {
    let mut s = schema;
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        s = &doc["components"]["schemas"][name];
    }
    // A schema that cannot be found (a wrong path, an unknown $ref) must not pass silently.
    assert!(
        s.as_object().is_some_and(|o| !o.is_empty()),
        "{at}: no schema in the OpenAPI document"
    );
    if v.is_null() {
        return;
    }
    // `allOf` (a `#[serde(flatten)]`ed struct): the object has the parts' properties together,
    // and, as JSON Schema validates every part on its own, a part that forbids additional
    // properties forbids the other parts' too.
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        let (mut props, mut required) = (serde_json::Map::new(), Vec::new());
        for part in parts {
            let mut p = part;
            while let Some(r) = p.get("$ref").and_then(Value::as_str) {
                p = &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")];
            }
            assert!(
                p.get("allOf").is_none(),
                "{at}: nested allOf is not checked here"
            );
            if let (Some(false), Some(obj)) = (
                p.get("additionalProperties").and_then(Value::as_bool),
                v.as_object(),
            ) {
                let own = p["properties"].as_object().cloned().unwrap_or_default();
                for k in obj.keys() {
                    assert!(
                        own.contains_key(k),
                        "{at}.{k}: a part of the allOf forbids properties it does not list"
                    );
                }
            }
            props.extend(p["properties"].as_object().cloned().unwrap_or_default());
            required.extend(p["required"].as_array().cloned().unwrap_or_default());
        }
        let merged = json!({"type": "object", "properties": props, "required": required});
        return conforms(doc, &merged, v, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            let alt = alts
                .iter()
                .find(|a| a.get("type") != Some(&json!("null")))
                .unwrap_or(&Value::Null);
            return conforms(doc, alt, v, at);
        }
    }
    if let (Some(props), Some(obj)) = (
        s.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for k in obj.keys() {
            assert!(
                props.contains_key(k),
                "{at}.{k} is not in the OpenAPI schema"
            );
        }
        for r in s["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            assert!(obj.contains_key(r), "{at}.{r} is required by the schema");
        }
        for (k, sub) in props {
            if let Some(x) = obj.get(k) {
                conforms(doc, sub, x, &format!("{at}.{k}"));
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            conforms(doc, items, x, &format!("{at}[{i}]"));
        }
    }
}

fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: &str) -> &'a Value {
    &doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
}

async fn alters_running(ep: &Endpoint, schema: &str) -> i64 {
    let mut conn = cluster().conn(ep).await;
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE INFO LIKE CONCAT('ALTER TABLE `', ?, '`%')",
    )
    .bind(schema)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_plan_job_from_plan_completes_and_is_watched_live() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[
        TableSpec::sized("sflow", "a", 12, Pattern::RandomDelete { keep_every: 10 }),
        TableSpec::sized("sflow", "b", 12, Pattern::RangeDelete { percent: 70 }),
    ])
    .await;
    let r1 = c.replica(1);
    let before = c.file_size(&r1, "sflow", "a").await + c.file_size(&r1, "sflow", "b").await;
    let app = App::start(|_| {}).await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;

    // Discover (spec §3.2.1 body and shape).
    let body = json!({"host": r1.host, "port": r1.port, "username": USER, "password": PASSWORD, "max_depth": 10});
    let (s, v) = app.post("/api/v1/topology/discover", body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["code"].clone(), v["message"].clone()),
        (json!(0), json!("success"))
    );
    let master = &v["data"]["topology"]["master"];
    assert_eq!(master["port"], c.primary().port);
    assert_eq!(master["read_only"], false);
    assert!(master["server_id"].is_u64() && v["data"]["cluster_id"].is_string());
    assert!(v["data"]["discover_time"].is_string());
    assert_eq!(master["slaves"].as_array().unwrap().len(), 2);
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/topology/discover", "post", "200"),
        &v,
        "discover",
    );

    // Plan over REST, then read it back.
    let cfg = json!({"mode": "binlog-off", "databases": ["sflow"], "threshold_mb": 1, "threshold_percent": 5.0});
    let (s, v) = app
        .post(
            "/api/v1/plans",
            json!({"target": target(&r1), "config": cfg}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/plans", "post", "201"),
        &v,
        "plan",
    );
    let plan = v["data"].clone();
    let plan_id = plan["plan_id"].as_str().unwrap().to_string();
    assert_eq!(plan["summary"]["actions"], 2, "{plan}");
    let (s, v) = app.get(&format!("/api/v1/plans/{plan_id}")).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"], plan);

    // Watch, then run a job from the plan.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{}/api/v1/ws/monitor",
        app.base.replace("http://", "ws://")
    ))
    .await
    .unwrap();
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"plan_id": plan_id, "credentials": creds()}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["message"], "job created successfully");
    assert_eq!(v["data"]["status"], "pending");
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/recycle/jobs", "post", "201"),
        &v,
        "created",
    );
    let id = v["data"]["job_id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with("job-") && id.len() == "job-20261126-001".len(),
        "{id}"
    );

    let mut progress = Vec::new();
    let mut statuses = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(m) = ws.next().await {
            let m = m.unwrap();
            if !m.is_text() {
                continue;
            }
            let u: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
            assert_eq!(u["type"], "job_update");
            assert!(
                u["timestamp"].is_string() && u["progress"].is_number(),
                "{u}"
            );
            if u["job_id"] != json!(id) {
                continue;
            }
            progress.push(u["progress"].as_f64().unwrap());
            statuses.push(u["status"].as_str().unwrap().to_string());
            if u["status"] == "completed" || u["status"] == "failed" {
                break;
            }
        }
    })
    .await
    .expect("the job finished within 2 minutes");
    let _ = ws
        .send(tokio_tungstenite::tungstenite::Message::Close(None))
        .await;
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("completed"),
        "{statuses:?}"
    );
    assert!(statuses.contains(&"running".to_string()), "{statuses:?}");
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress rises: {progress:?}"
    );
    assert!(
        progress.contains(&50.0),
        "a message per table: {progress:?}"
    );
    assert_eq!(progress.last(), Some(&100.0));

    let (s, v) = app.get(&format!("/api/v1/recycle/jobs/{id}")).await;
    assert_eq!(s, 200);
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/recycle/jobs/{job_id}", "get", "200"),
        &v,
        "job",
    );
    let d = &v["data"];
    assert_eq!(d["status"], "completed");
    assert_eq!(d["phase"], "applying");
    assert_eq!(d["plan_id"], json!(plan_id));
    assert_eq!(d["progress"]["total_tables"], 2);
    assert_eq!(d["progress"]["processed_tables"], 2);
    assert_eq!(d["progress"]["percentage"], 100.0);
    let after = c.file_size(&r1, "sflow", "a").await + c.file_size(&r1, "sflow", "b").await;
    let freed = d["statistics"]["space_freed_bytes"].as_u64().unwrap();
    assert_eq!(freed, before - after, "space freed is measured on the node");
    assert!(freed > 10 * 1024 * 1024, "{freed}");
    assert_eq!(d["statistics"]["space_freed_mb"], freed / 1024 / 1024);
    let tables = d["statistics"]["tables_processed"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    assert!(
        tables
            .iter()
            .all(|t| t["status"] == "done" && t["node"] == json!(r1.to_string()))
    );
    // The job shows the settings it ran with (spec §5.1 RecycleConfig): the plan's seed and the
    // login's user, never the password; the plan's settings; which plan.
    let jc = &d["config"];
    assert_eq!(
        jc["target"],
        json!({"host": r1.host, "port": r1.port, "username": USER, "ssl_mode": "PREFERRED"}),
        "{jc}"
    );
    assert_eq!(jc["plan_id"], json!(plan_id), "{jc}");
    for key in [
        "mode",
        "threshold_mb",
        "threshold_percent",
        "exclude_primary",
        "batch_size",
        "timeout",
    ] {
        assert_eq!(jc[key], plan["settings"][key], "{key} in {jc}");
    }
    assert!(
        !d["config"].to_string().contains("password"),
        "{}",
        d["config"]
    );
    println!("job {id} freed {freed} bytes: {progress:?}");

    // A finished job cannot be cancelled; an unknown one does not exist.
    let (s, v) = app.delete(&format!("/api/v1/recycle/jobs/{id}")).await;
    assert_error(s, &v, 400, 1007);
    let (s, v) = app.delete("/api/v1/recycle/jobs/job-20000101-999").await;
    assert_error(s, &v, 404, 1006);
    let (s, v) = app.get("/api/v1/recycle/jobs/job-20000101-999").await;
    assert_error(s, &v, 404, 1006);

    // Health and metrics see it.
    let (s, v) = app.get("/api/v1/health").await;
    assert_eq!((s, v["message"].clone()), (200, json!("healthy")));
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/health", "get", "200"),
        &v,
        "health",
    );
    let m = app
        .req(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("recycler_jobs{status=\"completed\"} 1"), "{m}");
    assert!(
        m.contains(&format!("recycler_reclaimed_bytes_total {freed}")),
        "{m}"
    );
    assert!(
        m.contains("recycler_tables_processed_total{outcome=\"done\"} 2"),
        "{m}"
    );
    assert!(m.contains("recycler_job_duration_seconds_count 1"), "{m}");
    assert!(m.contains("recycler_active_jobs 0"), "{m}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn job_list_filters_and_pages_and_every_path_is_documented() {
    let _g = shared().await;
    let c = cluster();
    let r2 = c.replica(2);
    let app = App::start(|_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (s, v) = app
            .post(
                "/api/v1/recycle/jobs",
                json!({"target": target(&r2), "dry_run": true,
                       "config": {"databases": ["nothing_here"], "threshold_mb": 1}}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        ids.push(v["data"]["job_id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let d = app.wait_final(id).await;
        assert_eq!(d["status"], "completed", "{d}");
        assert_eq!(d["kind"], "plan");
        assert!(
            d["plan_id"].as_str().unwrap().starts_with("plan-"),
            "dry run plans: {d}"
        );
    }
    let (s, v) = app
        .get("/api/v1/recycle/jobs?status=completed&limit=2&offset=0")
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["total"], 3);
    let page1: Vec<&str> = v["data"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        page1,
        vec![ids[2].as_str(), ids[1].as_str()],
        "newest first"
    );
    let j = &v["data"]["jobs"][0];
    assert!(
        j["created_at"].is_string() && j["progress"].as_f64() == Some(100.0),
        "{j}"
    );
    let (_, v) = app
        .get("/api/v1/recycle/jobs?status=completed&limit=2&offset=2")
        .await;
    let page2: Vec<&str> = v["data"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(page2, vec![ids[0].as_str()]);
    let (_, v) = app.get("/api/v1/recycle/jobs?status=running").await;
    assert_eq!(v["data"]["total"], 0);
    let (s, v) = app.get("/api/v1/recycle/jobs?status=sleeping").await;
    assert_error(s, &v, 400, 1001);
    assert_eq!(v["details"]["field"], "status");
    let (s, v) = app.get("/api/v1/recycle/jobs?limit=abc").await;
    assert_error(s, &v, 400, 1001);
    assert_eq!(v["details"]["field"], "limit");
    let (s, v) = app.get("/api/v1/recycle/jobs?limit=0").await;
    assert_error(s, &v, 400, 1001);

    // Invalid bodies name the field and never echo a value.
    for (body, field) in [
        (
            json!({"target": {"host": "h", "username": "u", "password": PASSWORD, "port": PASSWORD}}),
            "target.port",
        ),
        (
            json!({"target": target(&r2), "config": {"threshold_percent": 150}}),
            "config.threshold_percent",
        ),
        (
            json!({"target": target(&r2), "config": {"treshold_mb": 1}}),
            "config.treshold_mb",
        ),
        (json!({"config": {}}), "target"),
        (json!({"plan_id": "plan-20000101-001"}), "credentials"),
        (
            json!({"plan_id": "plan-20000101-001", "credentials": creds()}),
            "plan_id",
        ),
        (
            json!({"plan": {"format_version": 1}, "credentials": creds()}),
            "plan.plan_id",
        ),
        (json!({"target": target(&r2), "timeout": "1h"}), "timeout"),
    ] {
        let (s, v) = app.post("/api/v1/recycle/jobs", body.clone()).await;
        assert_error(s, &v, 400, 1001);
        assert_eq!(v["details"]["field"], field, "{body} → {v}");
    }
    let (s, v) = app
        .req(reqwest::Method::POST, "/api/v1/recycle/jobs")
        .body("{not json")
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map(|s| (s, ()))
        .unwrap();
    assert_eq!((s, v), (400, ()));
    let (s, v) = app.get("/api/v1/nope").await;
    assert_eq!(s, 404, "{v}");

    // Every route is in the OpenAPI document.
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    for (path, method) in [
        ("/api/v1/topology/discover", "post"),
        ("/api/v1/recycle/jobs", "post"),
        ("/api/v1/recycle/jobs", "get"),
        ("/api/v1/recycle/jobs/{job_id}", "get"),
        ("/api/v1/recycle/jobs/{job_id}", "delete"),
        ("/api/v1/health", "get"),
        ("/api/v1/plans", "post"),
        ("/api/v1/plans/{plan_id}", "get"),
        ("/api/v1/ws/monitor", "get"),
        ("/api/v1/openapi.json", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} undocumented"
        );
    }
    let (_, v) = app.get("/api/v1/recycle/jobs?limit=3").await;
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/recycle/jobs", "get", "200"),
        &v,
        "list",
    );
    let (s, v) = app.get("/api/v1/recycle/jobs/job-x").await;
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/recycle/jobs/{job_id}", "get", "404"),
        &v,
        "error",
    );
    assert_eq!(s, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_plan_is_refused_with_409_naming_the_change() {
    let _g = shared().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "sstale",
        "t",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let r2 = c.replica(2);
    let app = App::start(|_| {}).await;
    let cfg = json!({"databases": ["sstale"], "threshold_mb": 1});
    let (s, v) = app
        .post(
            "/api/v1/plans",
            json!({"target": target(&r2), "config": cfg}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let size = c.file_size(&r2, "sstale", "t").await;
    // The reviewed plan, edited as if the node had been replaced by another server.
    let mut plan = v["data"].clone();
    plan["plan_id"] = json!("plan-20990101-001");
    plan["nodes"][0]["server_id"] = json!(999);
    // An edited plan is refused unless its new digest is pinned…
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"plan": plan.clone(), "credentials": creds()}),
        )
        .await;
    assert_error(s, &v, 400, 1001);
    assert_eq!(v["details"]["field"], "plan.digest");
    let edited: mysql_tablespace_recycling::plan::Plan =
        serde_json::from_value(plan.clone()).unwrap();
    // …and with it pinned, the same preflight as `apply` finds the drift: 409.
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"plan": plan.clone(), "credentials": creds(),
                   "expect_digest": edited.computed_digest()}),
        )
        .await;
    assert_error(s, &v, 409, 1001);
    assert_eq!(v["details"]["error"], "plan_stale");
    assert!(
        v["message"].as_str().unwrap().contains("server_id 999"),
        "{v}"
    );
    // Issue 11.6: neither refusal stored the edited plan under its id.
    let (s, v) = app.get("/api/v1/plans/plan-20990101-001").await;
    assert_eq!(s, 404, "a refused plan was stored: {v}");
    // A digest that does not match is refused the same way.
    let (s, v) = app
        .post("/api/v1/recycle/jobs", json!({"plan_id": v_plan_id(&app).await, "credentials": creds(), "expect_digest": format!("sha256:{}", "0".repeat(64))}))
        .await;
    assert_error(s, &v, 409, 1001);
    // The id of a stored plan with other content is not accepted, before anything connects.
    // (Its new digest pinned, so that it is the id, not the edit, that is refused.)
    let id = v_plan_id(&app).await;
    let (_, stored) = app.get(&format!("/api/v1/plans/{id}")).await;
    let mut plan = stored["data"].clone();
    plan["created_at"] = json!("2026-01-01T00:00:00Z");
    let other: mysql_tablespace_recycling::plan::Plan =
        serde_json::from_value(plan.clone()).unwrap();
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"plan": plan, "credentials": creds(),
                   "expect_digest": other.computed_digest()}),
        )
        .await;
    assert_error(s, &v, 400, 1001);
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("already names another plan")),
        "{v}"
    );
    assert_eq!(v["details"]["field"], "plan.plan_id", "{v}");
    assert_eq!(c.file_size(&r2, "sstale", "t").await, size, "nothing ran");
    app.stop().await;
}

/// The id of a new plan made and saved by `app` (of the `sstale` schema on replica 2).
async fn v_plan_id(app: &App) -> String {
    let (_, v) = app
        .post("/api/v1/plans", json!({"target": target(&cluster().replica(2)), "config": {"databases": ["sstale"], "threshold_mb": 1}}))
        .await;
    v["data"]["plan_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_kills_the_running_rebuild_and_a_full_queue_is_503() {
    let _g = serial().await;
    let c = cluster();
    let node = c.replica(2);
    // A large table on this replica only (binlog off), slow to rebuild.
    let mut spec = TableSpec::sized("scancel", "big", 300, Pattern::RangeDelete { percent: 20 });
    spec.secondary_indexes = 4;
    {
        let mut conn = c.conn(&node).await;
        conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
        build(&mut conn, &node, &spec).await.unwrap();
    }
    let before = c.file_size(&node, "scancel", "big").await;
    let app = App::start(|cfg| {
        cfg.recycling.concurrency.max_workers = 1;
        cfg.recycling.concurrency.queue_size = 1;
    })
    .await;
    let cfg = json!({"databases": ["scancel"], "threshold_mb": 1, "threshold_percent": 1});
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"target": target(&node), "config": cfg}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let a = v["data"]["job_id"].as_str().unwrap().to_string();
    let d = app
        .wait_job(&a, 120, |d| d["progress"]["current_table"] == "scancel.big")
        .await;
    assert_eq!(
        (d["status"].clone(), d["phase"].clone()),
        (json!("running"), json!("applying"))
    );
    let end = Instant::now() + Duration::from_secs(30);
    while alters_running(&node, "scancel").await == 0 {
        assert!(Instant::now() < end, "the ALTER never showed up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // One waits, the next is refused.
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"target": target(&node), "dry_run": true, "config": {"databases": ["nothing"]}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let b = v["data"]["job_id"].as_str().unwrap().to_string();
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"target": target(&node), "dry_run": true}),
        )
        .await;
    assert_error(s, &v, 503, 1010);
    assert_eq!(
        app.get(&format!("/api/v1/recycle/jobs/{b}")).await.1["data"]["status"],
        "pending"
    );

    let t = Instant::now();
    let (s, v) = app.delete(&format!("/api/v1/recycle/jobs/{a}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["message"], "job cancelled successfully");
    assert_eq!(v["data"]["status"], "cancelled");
    while alters_running(&node, "scancel").await > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "the ALTER still runs after 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "the ALTER was gone only after {:?}",
        t.elapsed()
    );
    println!("cancel → ALTER gone in {:?}", t.elapsed());
    let d = app.wait_final(&a).await;
    assert_eq!(d["status"], "cancelled");
    let o = &d["statistics"]["tables_processed"][0];
    assert_eq!(o["status"], "skipped", "{o}");
    assert!(o["error"].as_str().unwrap().contains("KILL QUERY"), "{o}");
    assert_eq!(
        c.file_size(&node, "scancel", "big").await,
        before,
        "the table is as it was"
    );
    // The queued job ran once the worker was free; a cancelled job cannot be cancelled again.
    assert_eq!(app.wait_final(&b).await["status"], "completed");
    let (s, v) = app.delete(&format!("/api/v1/recycle/jobs/{a}")).await;
    assert_error(s, &v, 400, 1007);
    app.stop().await;
    let mut conn = c.conn(&node).await;
    conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
    conn.execute("DROP DATABASE scancel").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_every_endpoint_but_health_needs_it() {
    let app = App::start(|cfg| {
        cfg.server.auth_token = Some(mysql_tablespace_recycling::secret::Secret::new("tok-123"));
    })
    .await;
    let anon = |m: reqwest::Method, p: &str| app.http.request(m, format!("{}{p}", app.base));
    let r = anon(reqwest::Method::GET, "/api/v1/health")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for (m, p) in [
        (reqwest::Method::GET, "/api/v1/recycle/jobs"),
        (reqwest::Method::POST, "/api/v1/recycle/jobs"),
        (reqwest::Method::GET, "/api/v1/recycle/jobs/job-1"),
        (reqwest::Method::DELETE, "/api/v1/recycle/jobs/job-1"),
        (reqwest::Method::POST, "/api/v1/topology/discover"),
        (reqwest::Method::POST, "/api/v1/plans"),
        (reqwest::Method::GET, "/api/v1/plans/plan-1"),
        (reqwest::Method::GET, "/api/v1/ws/monitor"),
        (reqwest::Method::GET, "/api/v1/openapi.json"),
        (reqwest::Method::GET, "/metrics"),
    ] {
        for auth in [None, Some("Bearer nope"), Some("tok-123")] {
            let mut r = anon(m.clone(), p);
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            let res = r.send().await.unwrap();
            let status = res.status().as_u16();
            let v: Value = res.json().await.unwrap();
            assert_error(status, &v, 401, 1008);
        }
    }
    let (s, v) = app.get("/api/v1/recycle/jobs").await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = app.get("/metrics").await;
    assert_eq!(s, 200);
    let (s, v) = app.get("/api/v1/recycle/jobs/job-1").await;
    assert_error(s, &v, 404, 1006);
    app.stop().await;
}

/// A job that fails posts an Alertmanager v2 alert to `monitoring.alerts.webhook_url`, retried
/// when the receiver refuses the first try; the alert carries no password.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_job_posts_an_alertmanager_alert_with_retries() {
    let _g = shared().await;
    let c = cluster();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u32, String)>();
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let receiver = axum::Router::new().route(
        "/api/v2/alerts",
        axum::routing::post(move |body: String| {
            let (tx, tries) = (tx.clone(), tries.clone());
            async move {
                let n = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                let _ = tx.send((n, body));
                if n == 1 {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v2/alerts", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let app = App::start(|cfg| {
        cfg.monitoring.alerts.enabled = true;
        cfg.monitoring.alerts.webhook_url = Some(url);
    })
    .await;

    // A wrong password: the job is accepted, then fails when it logs in to discover.
    let wrong = "not-the-Password-7741";
    let primary = c.primary();
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"target": {"host": primary.host, "port": primary.port, "username": USER,
                              "password": wrong},
                   "dry_run": true}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["data"]["job_id"].as_str().unwrap().to_string();
    let d = app.wait_final(&id).await;
    assert_eq!(d["status"], "failed", "{d}");

    let mut bodies = Vec::new();
    while bodies.len() < 2 {
        let (n, body) = tokio::time::timeout(Duration::from_secs(15), rx.recv())
            .await
            .expect("the alert was not retried after a 503")
            .unwrap();
        assert!(!body.contains(wrong) && !body.contains(PASSWORD), "{body}");
        bodies.push((n, body));
    }
    assert_eq!(bodies[0].1, bodies[1].1, "the retry sends the same alert");
    let alerts: Value = serde_json::from_str(&bodies[1].1).unwrap();
    let a = &alerts.as_array().expect("Alertmanager v2 takes an array")[0];
    assert_eq!(
        a["labels"]["alertname"], "TablespaceRecyclingJobFailed",
        "{a}"
    );
    assert_eq!(a["labels"]["job_id"], id.as_str(), "{a}");
    assert!(a["annotations"]["summary"].is_string(), "{a}");
    assert!(
        a["annotations"]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{a}"
    );
    for k in ["startsAt", "endsAt"] {
        chrono::DateTime::parse_from_rfc3339(a[k].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{k}: {e}: {a}"));
    }
    // Delivered: no third try.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        rx.try_recv().is_err(),
        "a delivered alert is not sent again"
    );
    app.stop().await;
}

/// Pause, resume and live settings of a running job over REST: a paused job starts no new
/// rebuild (none in the processlist), its `run_state` says so, PATCH changes its settings and
/// refuses bad ones, resume lets it complete; a finished or unknown job cannot be paused.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_is_paused_retuned_and_resumed_over_rest() {
    let _g = serial().await;
    let c = cluster();
    let node = c.replica(2);
    // Four fragmented tables on this replica only (binlog off).
    let tables = ["t1", "t2", "t3", "t4"];
    {
        let mut conn = c.conn(&node).await;
        conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
        for t in tables {
            let spec = TableSpec::sized("spause", t, 6, Pattern::RandomDelete { keep_every: 10 });
            build(&mut conn, &node, &spec).await.unwrap();
        }
    }
    let app = App::start(|_| {}).await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let cfg = json!({"databases": ["spause"], "threshold_mb": 1, "threshold_percent": 1});
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"target": target(&node), "config": cfg}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["data"]["job_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/recycle/jobs/{id}");
    let (pause, resume) = (format!("{path}/pause"), format!("{path}/resume"));

    // Paused as soon as it applies (before that: not applying yet, 1007).
    let end = Instant::now() + Duration::from_secs(30);
    let v = loop {
        let (s, v) = app.post_empty(&pause).await;
        if s == 200 {
            break v;
        }
        assert_error(s, &v, 400, 1007);
        assert!(!v["message"].as_str().unwrap().contains("  "), "{v}");
        assert!(Instant::now() < end, "the job never applied: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(v["data"]["job_id"], json!(id), "{v}");
    assert_eq!(v["data"]["state"], "paused", "{v}");
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/recycle/jobs/{job_id}/pause", "post", "200"),
        &v,
        "pause",
    );
    let (s, v) = app.post_empty(&pause).await;
    assert_eq!(
        (s, v["data"]["state"].clone()),
        (200, json!("paused")),
        "{v}"
    );
    let d = app
        .wait_job(&id, 15, |d| d["run_state"]["state"] == "paused")
        .await;
    assert_eq!(d["status"], "running", "{d}");
    assert_eq!(d["run_state"]["reason"], "paused through the API", "{d}");
    assert!(d["run_state"]["since"].is_string(), "{d}");

    // A rebuild that started before the pause may finish; none starts after it.
    let end = Instant::now() + Duration::from_secs(30);
    while alters_running(&node, "spause").await > 0 {
        assert!(Instant::now() < end, "the running ALTER never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let processed = app.get(&path).await.1["data"]["progress"]["processed_tables"].clone();
    println!("paused after {processed} table(s)");
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(2) {
        assert_eq!(
            alters_running(&node, "spause").await,
            0,
            "an ALTER started while the job was paused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = app.get(&path).await.1["data"].clone();
    assert_eq!(d["progress"]["processed_tables"], processed, "{d}");
    assert!(processed.as_u64().unwrap() < tables.len() as u64, "{d}");
    assert_eq!(d["run_state"]["state"], "paused", "{d}");

    // Live settings: changed, and bad ones refused naming the field.
    let (s, v) = app
        .patch(&path, json!({"max_lag": "30s", "batch_size": 2}))
        .await;
    assert_eq!(s, 200, "{v}");
    let ctl = &v["data"];
    assert_eq!(
        (
            ctl["state"].clone(),
            ctl["max_lag"].clone(),
            ctl["batch_size"].clone(),
            ctl["max_load"].clone()
        ),
        (
            json!("paused"),
            json!("30s"),
            json!(2),
            json!("Threads_running=25")
        ),
        "{v}"
    );
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/recycle/jobs/{job_id}", "patch", "200"),
        &v,
        "patch",
    );
    let (s, v) = app.patch(&path, json!({"bogus": 1})).await;
    assert_error(s, &v, 400, 1001);
    assert_eq!(v["details"]["field"], "bogus", "{v}");
    let (s, v) = app.patch(&path, json!({"batch_size": 0})).await;
    assert_error(s, &v, 400, 1001);
    assert_eq!(v["details"]["field"], "batch_size", "{v}");
    let (s, v) = app
        .patch(&path, json!({"max_load": "Threads_running"}))
        .await;
    assert_error(s, &v, 400, 1001);
    assert_eq!(v["details"]["field"], "max_load", "{v}");
    let (s, v) = app.patch(&path, json!({})).await;
    assert_eq!((s, v["data"]["batch_size"].clone()), (200, json!(2)), "{v}");

    // Resumed, it completes every table.
    let (s, v) = app.post_empty(&resume).await;
    assert_eq!(
        (s, v["data"]["state"].clone()),
        (200, json!("running")),
        "{v}"
    );
    let d = app.wait_final(&id).await;
    assert_eq!(d["status"], "completed", "{d}");
    assert!(d["run_state"].is_null(), "{d}");
    let done = d["statistics"]["tables_processed"].as_array().unwrap();
    assert_eq!(done.len(), tables.len(), "{d}");
    assert!(done.iter().all(|t| t["status"] == "done"), "{d}");

    // A finished job is not applying: 1007; an unknown one does not exist: 1006.
    for p in [&pause, &resume] {
        let (s, v) = app.post_empty(p).await;
        assert_error(s, &v, 400, 1007);
        let m = v["message"].as_str().unwrap();
        assert!(m.contains("is completed") && !m.contains("  "), "{v}");
    }
    let (s, v) = app.patch(&path, json!({"batch_size": 3})).await;
    assert_error(s, &v, 400, 1007);
    let unknown = "/api/v1/recycle/jobs/job-20000101-999";
    let (s, v) = app.post_empty(&format!("{unknown}/pause")).await;
    assert_error(s, &v, 404, 1006);
    let (s, v) = app.patch(unknown, json!({"batch_size": 3})).await;
    assert_error(s, &v, 404, 1006);
    app.stop().await;
    let mut conn = c.conn(&node).await;
    conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
    conn.execute("DROP DATABASE spause").await.unwrap();
}

/// A plan of replica 2 with no action (made over REST): its document.
async fn empty_plan(app: &App) -> Value {
    let (s, v) = app
        .post(
            "/api/v1/plans",
            json!({"target": target(&cluster().replica(2)),
                   "config": {"databases": ["nothing_here"], "threshold_mb": 1}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["data"].clone()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Issue 11.7: a body with port 0, or a host or user name that is empty or holds a NUL or
/// another control character (or is no host name at all) is 400/1001 naming the field — in
/// every body that takes an address or a login (discover, jobs, plans, an inline plan's nodes)
/// — and the message does not echo it; a well-formed address that refuses stays 500/1002.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_addresses_are_400_naming_the_field() {
    let _g = shared().await;
    let r2 = cluster().replica(2);
    let app = App::start(|_| {}).await;
    let bad_hosts = [
        "",
        " ",
        "127.0.0.1\u{0}",
        "db\u{0}evil",
        "db\nexample",
        "db\u{7f}",
        "\t127.0.0.1",
        "db host",
        "db..example",
        "-db",
    ];
    let long = "a".repeat(300);
    let mut cases: Vec<(&str, Value, String)> = Vec::new();
    let login = |host: &str, port: Value, user: &str| json!({"host": host, "port": port, "username": user, "password": PASSWORD});
    for h in bad_hosts.iter().copied().chain([long.as_str()]) {
        cases.push((
            "/api/v1/topology/discover",
            login(h, json!(r2.port), USER),
            "host".into(),
        ));
        for ep in ["/api/v1/recycle/jobs", "/api/v1/plans"] {
            cases.push((
                ep,
                json!({"target": login(h, json!(r2.port), USER)}),
                "target.host".into(),
            ));
        }
    }
    cases.push((
        "/api/v1/topology/discover",
        login(&r2.host, json!(0), USER),
        "port".into(),
    ));
    for u in ["", "recy\u{0}cler", "recycler\n"] {
        cases.push((
            "/api/v1/topology/discover",
            login(&r2.host, json!(r2.port), u),
            "username".into(),
        ));
    }
    for ep in ["/api/v1/recycle/jobs", "/api/v1/plans"] {
        cases.push((
            ep,
            json!({"target": login(&r2.host, json!(0), USER), "dry_run": ep.ends_with("jobs")}),
            "target.port".into(),
        ));
        cases.push((
            ep,
            json!({"target": login(&r2.host, json!(r2.port), "a\u{1b}b")}),
            "target.username".into(),
        ));
    }
    // A plan's login, and the addresses of a plan sent inline (its new digest pinned, so that
    // it is the address that is refused, not the edit).
    let plan = empty_plan(&app).await;
    let id = plan["plan_id"].as_str().unwrap().to_string();
    cases.push((
        "/api/v1/recycle/jobs",
        json!({"plan_id": id, "credentials": {"username": "x\u{0}", "password": PASSWORD}}),
        "credentials.username".into(),
    ));
    assert!(plan["nodes"][0]["address"].is_string(), "{plan}");
    for addr in [
        format!("{}:0", r2.host),
        format!("{}\u{0}:{}", r2.host, r2.port),
        format!("db\nhost:{}", r2.port),
    ] {
        let mut p = plan.clone();
        p["plan_id"] = json!("plan-20990101-007");
        p["nodes"][0]["address"] = json!(addr);
        // As `Plan::computed_digest` hashes it: the document no longer reads as a plan.
        let mut content = p.clone();
        content.as_object_mut().unwrap().remove("digest");
        let canonical = serde_json::to_string(&content).unwrap();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(canonical)));
        cases.push((
            "/api/v1/recycle/jobs",
            json!({"plan": p, "credentials": creds(), "expect_digest": digest}),
            "plan.nodes[0].address".into(),
        ));
    }
    for (ep, body, field) in cases {
        let (s, v) = app.post(ep, body.clone()).await;
        assert_eq!(
            (s, v["code"].clone(), v["details"]["field"].clone()),
            (400, json!(1001), json!(field)),
            "{ep} {body} → {v}"
        );
        let msg = v["message"].as_str().unwrap();
        assert!(
            !msg.chars().any(char::is_control) && !msg.contains("evil") && !msg.contains("aaaa"),
            "the value is echoed: {v}"
        );
    }
    // Well-formed, but nothing answers there: a connection failure, as before.
    let port = closed_port();
    let (s, v) = app
        .post(
            "/api/v1/topology/discover",
            login("127.0.0.1", json!(port), USER),
        )
        .await;
    assert_error(s, &v, 500, 1002);
    let (s, v) = app
        .post(
            "/api/v1/plans",
            json!({"target": login("localhost", json!(port), USER)}),
        )
        .await;
    assert_error(s, &v, 500, 1002);
    app.stop().await;
}

/// Issue 11.9: an unknown enum value names the allowed values (without echoing the one sent);
/// an `expect_digest` that is not `sha256:<64 hex>` is 400/1001 naming it, and only a
/// well-formed digest that does not match is 409.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_values_name_the_allowed_ones_and_a_malformed_digest_is_400() {
    let _g = shared().await;
    let r2 = cluster().replica(2);
    let app = App::start(|_| {}).await;
    for (config, field, allowed) in [
        (
            json!({"mode": "binlog-sideways"}),
            "config.mode",
            ["binlog-off", "binlog-on"],
        ),
        (
            json!({"scope": "galaxy-wide"}),
            "config.scope",
            ["node", "cluster"],
        ),
    ] {
        let (s, v) = app
            .post(
                "/api/v1/recycle/jobs",
                json!({"target": target(&r2), "config": config}),
            )
            .await;
        assert_error(s, &v, 400, 1001);
        assert_eq!(v["details"]["field"], field, "{v}");
        let msg = v["message"].as_str().unwrap();
        for a in allowed {
            assert!(msg.contains(a), "{a} is not named: {v}");
        }
        assert!(
            !msg.contains("sideways") && !msg.contains("galaxy"),
            "the value is echoed: {v}"
        );
    }
    // Malformed JSON names where it breaks, never echoing the text.
    let r = app
        .req(reqwest::Method::POST, "/api/v1/recycle/jobs")
        .header("content-type", "application/json")
        .body("{\"target\": {\"host\": \"h\",\n  \"password\": Pw-s3cr3t}}")
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_error(s, &v, 400, 1001);
    assert_eq!(v["details"]["field"], "body", "{v}");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("line 2 column"), "no line and column: {v}");
    assert!(!msg.contains("Pw-s3cr3t"), "the value is echoed: {v}");
    let (s, v) = app.get("/api/v1/recycle/jobs?status=sleeping").await;
    assert_error(s, &v, 400, 1001);
    assert_eq!(v["details"]["field"], "status", "{v}");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("completed") && !msg.contains("sleeping"),
        "{v}"
    );

    let plan = empty_plan(&app).await;
    let id = plan["plan_id"].as_str().unwrap();
    let digest = plan["digest"].as_str().unwrap();
    for bad in [
        "md5:x".to_string(),
        "sha256:00".to_string(),
        format!("sha1:{}", &digest["sha256:".len()..]),
        format!("{}z", &digest[..digest.len() - 1]),
        format!("{digest}0"),
        String::new(),
    ] {
        let (s, v) = app
            .post(
                "/api/v1/recycle/jobs",
                json!({"plan_id": id, "credentials": creds(), "expect_digest": bad}),
            )
            .await;
        assert_error(s, &v, 400, 1001);
        assert_eq!(v["details"]["field"], "expect_digest", "{bad:?} → {v}");
    }
    let zeros = format!("sha256:{}", "0".repeat(64));
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"plan_id": id, "credentials": creds(), "expect_digest": zeros}),
        )
        .await;
    assert_error(s, &v, 409, 1001);
    assert_eq!(v["details"]["error"], "plan_stale", "{v}");
    app.stop().await;
}

/// The documented statuses of `method path`.
fn documented(doc: &Value, path: &str, method: &str) -> Vec<String> {
    doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
        .keys()
        .cloned()
        .collect()
}

/// The property `prop` of the component schema `schema`.
fn property<'a>(doc: &'a Value, schema: &str, prop: &str) -> &'a Value {
    let p = &doc["components"]["schemas"][schema]["properties"][prop];
    assert!(p.is_object(), "{schema}.{prop} is not in the document");
    p
}

/// Issue 11.10: the OpenAPI document says what the server does. With a token, every operation
/// but health declares the bearer scheme and documents its 401, health declares none; without
/// a token none does. The integers the server refuses at 0 say so (and their maximum), and the
/// server refuses just past each documented bound, naming the field. The 400 of /ws/monitor
/// without an upgrade and of DELETE of a finished job are documented, and are error bodies.
#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_is_the_truth() {
    let _g = shared().await;
    let r2 = cluster().replica(2);
    let app = App::start(|cfg| {
        cfg.server.auth_token = Some(mysql_tablespace_recycling::secret::Secret::new("tok-123"));
    })
    .await;
    let (s, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(s, 200, "{doc}");
    let bearer = json!([{"bearer": []}]);
    let mut ops = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops += 1;
            let statuses = documented(&doc, path, method);
            if OPEN.contains(&path.as_str()) {
                assert_eq!(op["security"], json!([]), "{method} {path}: {op}");
                assert!(!statuses.contains(&"401".to_string()), "{method} {path}");
            } else {
                assert_eq!(op["security"], bearer, "{method} {path} needs the token");
                assert!(
                    statuses.contains(&"401".to_string()),
                    "{method} {path}: 401 undocumented"
                );
                assert_eq!(
                    response_schema(&doc, path, method, "401")["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path}"
                );
            }
        }
    }
    assert!(ops >= 13, "{ops} operations");
    assert!(
        doc["security"].is_null() || doc["security"] == json!([]),
        "a global requirement would cover health: {}",
        doc["security"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // Bounds: as documented, and as enforced.
    let bounds = |p: &Value| (p["minimum"].clone(), p["maximum"].clone());
    for (schema, prop, min, max) in [
        ("JobConfig", "batch_size", 1, MAX_BATCH_SIZE as u64),
        ("JobConfig", "parallel", 1, MAX_PARALLEL as u64),
        ("JobConfig", "threshold_mb", 0, MAX_THRESHOLD_MB),
        ("JobPatch", "batch_size", 1, MAX_BATCH_SIZE as u64),
        ("TargetBody", "port", 1, 65535),
        ("DiscoverRequest", "port", 1, 65535),
    ] {
        assert_eq!(
            bounds(property(&doc, schema, prop)),
            (json!(min), json!(max)),
            "{schema}.{prop}"
        );
    }
    let pct = property(&doc, "JobConfig", "threshold_percent");
    assert_eq!(
        (pct["minimum"].as_f64(), pct["maximum"].as_f64()),
        (Some(0.0), Some(100.0))
    );
    let params = doc["paths"]["/api/v1/recycle/jobs"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(bounds(&limit["schema"]), (json!(1), json!(1000)), "{limit}");
    for (config, field) in [
        (json!({"batch_size": 0}), "config.batch_size"),
        (
            json!({"batch_size": MAX_BATCH_SIZE + 1}),
            "config.batch_size",
        ),
        (json!({"parallel": 0}), "config.parallel"),
        (json!({"parallel": MAX_PARALLEL + 1}), "config.parallel"),
        (
            json!({"threshold_mb": MAX_THRESHOLD_MB + 1}),
            "config.threshold_mb",
        ),
        (
            json!({"threshold_percent": 100.5}),
            "config.threshold_percent",
        ),
        (
            json!({"threshold_percent": -0.5}),
            "config.threshold_percent",
        ),
    ] {
        let (s, v) = app
            .post(
                "/api/v1/recycle/jobs",
                json!({"target": target(&r2), "dry_run": true, "config": config}),
            )
            .await;
        assert_error(s, &v, 400, 1001);
        assert_eq!(v["details"]["field"], field, "{config} → {v}");
    }
    let offset = params.iter().find(|p| p["name"] == "offset").unwrap();
    assert_eq!(
        bounds(&offset["schema"]),
        (json!(0), json!(u32::MAX)),
        "{offset}"
    );
    assert_ne!(offset["schema"]["format"], "int32", "{offset}");
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=4294967296", "offset"),
        ("offset=-1", "offset"),
    ] {
        let (s, v) = app.get(&format!("/api/v1/recycle/jobs?{q}")).await;
        assert_error(s, &v, 400, 1001);
        assert_eq!(v["details"]["field"], field, "{v}");
    }
    let (s, v) = app.get("/api/v1/recycle/jobs?offset=4294967295").await;
    assert_eq!(s, 200, "{v}");
    // The documented bounds themselves are taken.
    let (s, v) = app.get("/api/v1/recycle/jobs?limit=1000").await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"target": target(&r2), "dry_run": true,
                   "config": {"databases": ["nothing_here"], "batch_size": MAX_BATCH_SIZE,
                              "parallel": MAX_PARALLEL, "threshold_percent": 100.0}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let job = v["data"]["job_id"].as_str().unwrap().to_string();
    let d = app.wait_final(&job).await;
    assert_eq!(d["status"], "completed", "{d}");

    // A finished job: DELETE and PATCH are documented 400s; a batch size past the bound is
    // refused before the job is even looked at.
    let path = format!("/api/v1/recycle/jobs/{job}");
    let (s, v) = app.delete(&path).await;
    assert_error(s, &v, 400, 1007);
    assert!(documented(&doc, "/api/v1/recycle/jobs/{job_id}", "delete").contains(&"400".into()));
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/recycle/jobs/{job_id}", "delete", "400"),
        &v,
        "delete",
    );
    for n in [0, MAX_BATCH_SIZE + 1] {
        let (s, v) = app.patch(&path, json!({"batch_size": n})).await;
        assert_error(s, &v, 400, 1001);
        assert_eq!(v["details"]["field"], "batch_size", "{v}");
    }

    // /ws/monitor without an upgrade: a documented 400 with an error body.
    let (s, v) = app.get("/api/v1/ws/monitor").await;
    assert_error(s, &v, 400, 1001);
    assert!(documented(&doc, "/api/v1/ws/monitor", "get").contains(&"400".into()));
    conforms(
        &doc,
        response_schema(&doc, "/api/v1/ws/monitor", "get", "400"),
        &v,
        "monitor",
    );
    // A job id that is not UTF-8 once decoded is an error body too, not plain text.
    let (s, v) = app.get("/api/v1/recycle/jobs/%FF%FE").await;
    assert_eq!(
        v["code"],
        json!(if s == 404 { 1006 } else { 1001 }),
        "{s} {v}"
    );
    assert!(
        documented(&doc, "/api/v1/recycle/jobs/{job_id}", "get").contains(&s.to_string()),
        "{s} undocumented"
    );
    app.stop().await;

    // Without a token nothing is declared as needing one.
    let app = App::start(|_| {}).await;
    let (s, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(s, 200, "{doc}");
    let mut open_ops = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            open_ops += 1;
            assert_eq!(op["security"], json!([]), "{method} {path}");
            assert!(
                !documented(&doc, path, method).contains(&"401".into()),
                "{method} {path}"
            );
        }
    }
    assert_eq!(open_ops, ops, "the same operations without a token");
    app.stop().await;
}

/// Every route of the router — the OpenAPI document's operations, which must be the router's
/// — answers 401/1008 without the token or with a wrong one, except health, the only open
/// route; with the token none answers 401.
#[tokio::test(flavor = "multi_thread")]
async fn every_route_but_health_needs_the_token() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = App::start(|cfg| {
        cfg.server.auth_token = Some(mysql_tablespace_recycling::secret::Secret::new("tok-123"));
    })
    .await;
    let (s, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(s, 200, "{doc}");
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    documented.sort();
    let mut routed: Vec<(String, String)> = mysql_tablespace_recycling::server::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    routed.sort();
    assert_eq!(
        documented, routed,
        "the document's operations are the router's"
    );
    let open: Vec<_> = mysql_tablespace_recycling::server::ROUTES
        .iter()
        .filter(|r| r.access == mysql_tablespace_recycling::server::Access::Public)
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        open.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
        OPEN,
        "only health and the dashboard's files are open"
    );
    for (method, path) in &documented {
        // Path parameters filled with something plausible.
        let url = path
            .replace("{job_id}", "job-20000101-001")
            .replace("{plan_id}", "plan-20000101-001")
            .replace("{file}", "app.js");
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for auth in [
            None,
            Some("Bearer nope"),
            Some("Bearer tok-1234"),
            Some("tok-123"),
            Some("Basic dG9rLTEyMw=="),
        ] {
            let mut r = app
                .http
                .request(m.clone(), format!("{}{url}", app.base))
                .json(&json!({}));
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            let res = r.send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            if OPEN.contains(&path.as_str()) {
                assert_eq!(status, 200, "{method} {path} with {auth:?}: {text}");
                continue;
            }
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path} with {auth:?}: {status} {text}"));
            assert_error(status, &v, 401, 1008);
        }
        let (s, v) = app.call(m.clone(), &url, Some(json!({}))).await;
        assert_ne!(s, 401, "{method} {path} refuses the token: {v}");
    }
    // The dashboard's files answer without the token and hold no data.
    let page = app.http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/assets/app.js") && !html.contains("tok-123"));
    let (s, v) = app.get("/assets/nope.js").await;
    assert_error(s, &v, 404, 1001);
    // Only the monitor reads the token from a subprotocol.
    let r = app
        .http
        .get(format!("{}/api/v1/recycle/jobs", app.base))
        .header("upgrade", "websocket")
        .header(
            "sec-websocket-protocol",
            format!("recycler.v1, recycler.bearer.{}", hex("tok-123")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the job list took a subprotocol token");
    // A browser's WebSocket carries the token as a subprotocol; the server selects
    // `recycler.v1` and never echoes the token.
    let ws_url = format!("{}/api/v1/ws/monitor", app.base.replace("http://", "ws://"));
    for (offer, ok) in [
        (
            format!("recycler.v1, recycler.bearer.{}", hex("tok-123")),
            true,
        ),
        (
            format!("recycler.v1, recycler.bearer.{}", hex("tok-124")),
            false,
        ),
        ("recycler.v1".to_string(), false),
    ] {
        let mut req = ws_url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("sec-websocket-protocol", offer.parse().unwrap());
        match tokio_tungstenite::connect_async(req).await {
            Ok((_, res)) => {
                assert!(ok, "{offer}: connected without the right token");
                assert_eq!(res.headers()["sec-websocket-protocol"], "recycler.v1");
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert!(!ok, "{offer}: refused: {}", res.status());
                assert_eq!(res.status(), 401);
            }
            Err(e) => panic!("{offer}: {e}"),
        }
    }
    app.stop().await;
}

/// Routes anyone may call: health and the dashboard's static files.
const OPEN: [&str; 3] = ["/api/v1/health", "/", "/assets/{file}"];

/// `text` hex-encoded, as the dashboard sends its token in a WebSocket subprotocol.
fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The plan list, a plan's review (its rendering and `check` findings) and the diff of two saved
/// plans, as the dashboard reads them; bad parameters are 400 naming them, unknown plans 404.
#[tokio::test(flavor = "multi_thread")]
async fn saved_plans_are_listed_reviewed_and_diffed() {
    let _g = shared().await;
    let app = App::start(|_| {}).await;
    let (a, b) = (empty_plan(&app).await, empty_plan(&app).await);
    let (a, b) = (
        a["plan_id"].as_str().unwrap(),
        b["plan_id"].as_str().unwrap(),
    );
    let (s, v) = app.get("/api/v1/plans?limit=1").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["total"], 2);
    assert_eq!(v["data"]["plans"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"]["plans"][0]["plan_id"], b, "newest first");
    assert_eq!(v["data"]["plans"][0]["summary"]["actions"], 0);
    assert_eq!(
        v["data"]["plans"][0]["seed"],
        cluster().replica(2).to_string()
    );
    let (s, v) = app.get("/api/v1/plans?offset=1").await;
    assert_eq!(
        (s, v["data"]["plans"][0]["plan_id"].as_str()),
        (200, Some(a))
    );

    let (s, v) = app.get(&format!("/api/v1/plans/{a}/review")).await;
    assert_eq!(s, 200, "{v}");
    let r = &v["data"];
    assert!(r["text"].as_str().unwrap().contains(a), "{r}");
    let names: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"empty_plan"), "{names:?}");
    assert_eq!(r["errors"], 0);

    let (s, v) = app.get(&format!("/api/v1/plans/{b}/diff?from={a}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["data"]["from"].as_str(), v["data"]["to"].as_str()),
        (Some(a), Some(b))
    );
    assert_eq!(v["data"]["changes"], false, "the same work: {v}");
    assert!(v["data"]["unified"].as_str().unwrap().contains(a), "{v}");

    for (path, status, field) in [
        (format!("/api/v1/plans/{b}/diff"), 400, "from"),
        (format!("/api/v1/plans/{b}/diff?from={a}&to=x"), 400, "to"),
        (
            format!("/api/v1/plans/{b}/diff?from=plan-20000101-001"),
            404,
            "",
        ),
        (
            "/api/v1/plans/plan-20000101-001/review".to_string(),
            404,
            "",
        ),
        ("/api/v1/plans?limit=0".to_string(), 400, "limit"),
        ("/api/v1/plans?limit=x".to_string(), 400, "limit"),
        ("/api/v1/plans?status=running".to_string(), 400, "status"),
    ] {
        let (s, v) = app.get(&path).await;
        assert_error(s, &v, status, 1001);
        if !field.is_empty() {
            assert_eq!(v["details"]["field"], field, "{path}: {v}");
        }
    }
    app.stop().await;
}
