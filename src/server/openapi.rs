//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the route table (which
//! also builds the router and says which routes need the token), the handlers'
//! `#[utoipa::path]` annotations, the request/response types and the bounds the server checks,
//! so it cannot drift from what the server accepts and answers.

use super::AppState;
use super::api::MAX_LIMIT;
use super::api::{
    CredentialsBody, DiscoverRequest, Envelope, Health, JobCancelled, JobConfig, JobControl,
    JobCreated, JobList, JobPatch, JobRequest, TargetBody,
};
use super::error::ErrorBody;
use crate::jobs::view::{JobProgress, JobStatistics, JobSummary, JobUpdate, JobView, TableResult};
use crate::settings::{MAX_BATCH_SIZE, MAX_PARALLEL, MAX_THRESHOLD_MB};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa::OpenApi;

/// The schemas and the bearer scheme; the operations come from the route table
/// ([`super::RouteDocs`]), and [`document`] finishes the document for a server.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mysql-tablespace-recycling",
        description = "Reclaims disk space from fragmented InnoDB tables across MySQL/MariaDB \
                       replication clusters: discover, plan, apply as jobs, watch."
    ),
    components(schemas(
        ErrorBody, DiscoverRequest, TargetBody, CredentialsBody, JobConfig, JobRequest,
        JobCreated, JobCancelled, JobList, Health, JobView, JobSummary, JobProgress,
        JobStatistics, TableResult, JobUpdate, Envelope<JobView>, JobPatch, JobControl,
        crate::apply::RunState,
        super::clusters::ClusterList, super::clusters::ClusterView,
        super::clusters::Fragmentation,
        super::plans::PlanList, super::plans::PlanReview, super::plans::PlanDiffView,
    )),
)]
pub struct ApiDoc;

/// Bounds the server enforces that a field's type does not say, from the constants the checks
/// use: (component schema, property, minimum, maximum).
fn bounds() -> [(&'static str, &'static str, Value, Value); 5] {
    [
        ("JobConfig", "batch_size", json!(1), json!(MAX_BATCH_SIZE)),
        ("JobConfig", "parallel", json!(1), json!(MAX_PARALLEL)),
        (
            "JobConfig",
            "threshold_mb",
            json!(0),
            json!(MAX_THRESHOLD_MB),
        ),
        ("JobConfig", "threshold_percent", json!(0.0), json!(100.0)),
        ("JobPatch", "batch_size", json!(1), json!(MAX_BATCH_SIZE)),
    ]
}

/// The document of a server with (`token`) or without an API token: every operation of the
/// route table, each declaring what calling it takes — with a token, the bearer scheme and its
/// 401 on every route but the public ones (which declare `security: []`); without one, nothing
/// — and the bounds of [`bounds`] and of the job and plan lists' `limit` and `offset`.
pub fn document(token: bool) -> Value {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::RouteDocs::openapi());
    let mut v = serde_json::to_value(&doc).expect("the document serializes");
    v.as_object_mut().expect("an object").remove("security");
    if token {
        v["components"]["securitySchemes"] = json!({
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "`server.auth_token` or `RECYCLER_API_TOKEN` of the server",
            }
        });
    }
    let unauthorized = json!({
        "description": "No token, or not this server's (1008)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    });
    for (path, item) in v["paths"].as_object_mut().expect("paths").iter_mut() {
        for (method, op) in item.as_object_mut().expect("a path item").iter_mut() {
            // An operation missing from the table is treated as protected (the test of the
            // route table finds it).
            let open =
                super::Route::find(method, path).is_some_and(|r| r.access == super::Access::Public);
            if token && !open {
                op["security"] = json!([{"bearer": []}]);
                op["responses"]["401"] = unauthorized.clone();
            } else {
                op["security"] = json!([]);
            }
        }
    }
    merge_flattened(&mut v);
    for (schema, prop, min, max) in bounds() {
        let p = &mut v["components"]["schemas"][schema]["properties"][prop];
        assert!(p.is_object(), "{schema}.{prop} is not in the document");
        p["minimum"] = min;
        p["maximum"] = max;
    }
    for list in ["/api/v1/recycle/jobs", "/api/v1/plans"] {
        for p in v["paths"][list]["get"]["parameters"]
            .as_array_mut()
            .expect("a list's parameters")
        {
            if p["name"] == "limit" {
                p["schema"]["minimum"] = json!(1);
                p["schema"]["maximum"] = json!(MAX_LIMIT);
            }
            if p["name"] == "offset" {
                // A u32, which utoipa calls int32.
                p["schema"]["format"] = json!("int64");
                p["schema"]["minimum"] = json!(0);
                p["schema"]["maximum"] = json!(u32::MAX);
            }
        }
    }
    v
}

/// A struct with a `#[serde(flatten)]`ed part is generated as `allOf` of the parts; JSON Schema
/// validates each part on its own, so a part that forbids properties it does not list (a
/// `deny_unknown_fields` struct such as `Settings`) would reject the others'. Such a schema is
/// made one object with the parts' properties and requirements together, closed as its parts.
fn merge_flattened(v: &mut Value) {
    let schemas = v["components"]["schemas"].clone();
    let resolve = |part: &Value| -> Value {
        match part.get("$ref").and_then(Value::as_str) {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
            None => part.clone(),
        }
    };
    for (_, schema) in v["components"]["schemas"]
        .as_object_mut()
        .expect("schemas")
        .iter_mut()
    {
        let Some(parts) = schema.get("allOf").and_then(Value::as_array).cloned() else {
            continue;
        };
        let (mut properties, mut required) = (serde_json::Map::new(), Vec::<Value>::new());
        for part in parts.iter().map(resolve) {
            assert!(
                part.get("allOf").is_none() && part["type"] == "object",
                "a flattened part is an object of properties: {part}"
            );
            properties.extend(part["properties"].as_object().cloned().unwrap_or_default());
            required.extend(part["required"].as_array().cloned().unwrap_or_default());
        }
        let mut merged = json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        });
        if let Some(d) = schema.get("description") {
            merged["description"] = d.clone();
        }
        *schema = merged;
    }
}

/// This document, as this server answers.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "server",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json(State(st): State<AppState>) -> Json<Value> {
    Json(document(st.token().is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_a_route_and_every_route_an_operation() {
        let doc = document(true);
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    super::super::Route::find(method, path).is_some(),
                    "{method} {path} is documented but not routed"
                );
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
        assert_eq!(ops.len(), super::super::ROUTES.len(), "{ops:?}");
    }

    /// A plan action's `estimate_range` (optional) is in the plan's schema.
    #[test]
    fn the_plan_schema_lists_the_estimate_range() {
        let doc = document(false);
        let a = &doc["components"]["schemas"]["Action"];
        assert!(a["properties"].get("estimate_range").is_some(), "{a}");
        let required = a["required"].as_array().unwrap();
        assert!(!required.contains(&json!("estimate_range")), "{a}");
    }

    /// The discover answer and a plan list the nodes seen before and not found now (`missing`,
    /// optional: omitted when there are none), each a `SeenNode`.
    #[test]
    fn the_topology_and_plan_schemas_list_the_missing_nodes() {
        let doc = document(false);
        for schema in ["ClusterTopology", "Plan"] {
            let s = &doc["components"]["schemas"][schema];
            let m = &s["properties"]["missing"];
            assert_eq!(m["items"]["$ref"], "#/components/schemas/SeenNode", "{s}");
            let required = s["required"].as_array().unwrap();
            assert!(!required.contains(&json!("missing")), "{s}");
        }
        let n = &doc["components"]["schemas"]["SeenNode"];
        for p in ["address", "role", "source", "first_seen", "last_seen"] {
            assert!(n["properties"].get(p).is_some(), "{p}: {n}");
        }
    }

    #[test]
    fn filters_are_optional_in_the_topology_and_the_plan() {
        let doc = document(false);
        let schemas = &doc["components"]["schemas"];
        let r = &schemas["ReplicationState"];
        assert!(r["properties"].get("filters").is_some(), "{r}");
        let f = &schemas["ReplicationFilters"];
        assert!(f["properties"].get("wild_ignore_table").is_some(), "{f}");
        let a = &schemas["Action"];
        assert!(a["properties"].get("propagates_to").is_some(), "{a}");
        for (s, field) in [(r, "filters"), (a, "propagates_to")] {
            let required = s["required"].as_array().unwrap();
            assert!(!required.contains(&json!(field)), "{s}");
        }
    }

    /// A job's `config` flattens `Settings`, which forbids unlisted properties: as `allOf` the
    /// schema rejected every job (Schemathesis found it); merged, it lists them all.
    #[test]
    fn a_flattened_schema_is_one_object_with_all_its_properties() {
        let doc = document(false);
        let c = &doc["components"]["schemas"]["RecycleConfig"];
        assert!(c.get("allOf").is_none(), "{c}");
        for p in [
            "target",
            "mode",
            "batch_size",
            "timeout",
            "dry_run",
            "plan_id",
        ] {
            assert!(c["properties"].get(p).is_some(), "{p} missing: {c}");
        }
        assert_eq!(c["additionalProperties"], false);
        let required: Vec<&str> = c["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert!(
            required.contains(&"target") && required.contains(&"mode"),
            "{required:?}"
        );
    }
}
