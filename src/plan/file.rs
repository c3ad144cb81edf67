//! Reading and writing plan files: YAML (`.yaml`/`.yml`) or JSON (`.json`) by extension.
//!
//! Reading is strict, because a plan file is input a person may have edited: an unknown
//! `format_version`, an unknown field or an impossible value is error 1001 naming the path
//! (`nodes[0].actions[2].statement`). Every statement must equal what
//! [`super::rebuild_statement`] builds, no action may name a system schema, and a blocking
//! rebuild needs `allow_blocking`. An edited plan (digest no longer matching) is readable, for
//! `show` and `check`; `apply` runs it only with `--expect-digest` set to its new digest.

use super::{FORMAT_VERSION, Plan, rebuild_statement};
use crate::error::{Error, Result};
use crate::input;
use crate::mysql::Endpoint;
use crate::settings::Mode;
use std::collections::HashSet;
use std::path::Path;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
}

fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("yaml" | "yml") => Ok(Format::Yaml),
        Some("json") => Ok(Format::Json),
        _ => Err(Error::invalid(format!(
            "{}: a plan file must end in .yaml, .yml or .json",
            path.display()
        ))),
    }
}

/// Reads, version-checks and validates a plan file.
pub fn read_plan(path: &Path) -> Result<Plan> {
    let format = format_of(path)?;
    let bad = |msg: String| Error::invalid(format!("{}: {msg}", path.display()));
    let bad_at = |(field, msg): Bad| bad(format!("{field}: {msg}"));
    let text = read_capped(path).map_err(|e| match e {
        Capped::Io(e) => Error::file(path, e),
        Capped::NotAFile => bad("is not a regular file (a device, a pipe or a directory)".into()),
        Capped::TooLarge => bad(format!(
            "is larger than {} MiB; no plan is that large",
            MAX_PLAN_BYTES >> 20
        )),
    })?;
    // The version first, so a future format is reported as such and not as unknown fields.
    let generic: serde_json::Value = match format {
        Format::Yaml => serde_yaml::from_str(&text).map_err(|e| bad(e.to_string()))?,
        Format::Json => serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?,
    };
    check_version(&generic, "file").map_err(bad_at)?;
    let plan: Plan = input::from_value(generic).map_err(|e| bad(e.to_string()))?;
    validate(&plan).map_err(bad_at)?;
    Ok(plan)
}

/// The largest plan file read: far above any real plan, far below what exhausts memory.
pub const MAX_PLAN_BYTES: u64 = 256 << 20;

/// Why a plan file's text could not be had.
enum Capped {
    Io(std::io::Error),
    NotAFile,
    TooLarge,
}

/// The file's text, refusing anything but a regular file (a symlink to `/dev/zero` would be
/// read until memory runs out) and anything larger than [`MAX_PLAN_BYTES`].
fn read_capped(path: &Path) -> std::result::Result<String, Capped> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(Capped::Io)?;
    if !meta.is_file() {
        return Err(Capped::NotAFile);
    }
    if meta.len() > MAX_PLAN_BYTES {
        return Err(Capped::TooLarge);
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(Capped::Io)?
        // The size can change between the look and the read.
        .take(MAX_PLAN_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(Capped::Io)?;
    if text.len() as u64 > MAX_PLAN_BYTES {
        return Err(Capped::TooLarge);
    }
    Ok(text)
}

/// What is wrong, and at which key path of the plan.
type Bad = (String, String);

/// A [`Bad`] from a key path and a message, both `format!` strings.
macro_rules! bad {
    ($field:literal, $($msg:tt)+) => {
        (format!($field), format!($($msg)+))
    };
}

/// The `format_version` of a plan `what` (file, document), checked before anything else so a
/// future format is reported as such and not as unknown fields.
fn check_version(v: &serde_json::Value, what: &str) -> std::result::Result<(), Bad> {
    match v.get("format_version") {
        None => Err(bad!("format_version", "missing; is this a plan {what}?")),
        Some(x) if x.as_u64() == Some(u64::from(FORMAT_VERSION)) => Ok(()),
        Some(x) => Err(bad!(
            "format_version",
            "{x} is not supported (this version reads format_version \
             {FORMAT_VERSION})"
        )),
    }
}

/// A plan document received as JSON (a REST body): the same version check, strict field check
/// and validation as [`read_plan`]. `origin` prefixes the messages (`plan`).
pub fn plan_from_value(v: &serde_json::Value, origin: &str) -> Result<Plan> {
    let bad = |(field, message): Bad| Error::field(format!("{origin}.{field}"), message);
    check_version(v, "document").map_err(bad)?;
    let plan: Plan = input::from_value(v.clone()).map_err(|e| match e.field().as_str() {
        "" => Error::field(origin, e.problem.to_string()),
        f => Error::field(format!("{origin}.{f}"), e.problem.to_string()),
    })?;
    validate(&plan).map_err(bad)?;
    Ok(plan)
}

fn is_plan_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("plan-") else {
        return false;
    };
    let Some((date, seq)) = rest.split_once('-') else {
        return false;
    };
    date.len() == 8
        && date.chars().all(|c| c.is_ascii_digit())
        && seq.len() >= 3
        && seq.chars().all(|c| c.is_ascii_digit())
}

/// The impossible values a well-formed document can still hold.
fn validate(p: &Plan) -> std::result::Result<(), Bad> {
    if !is_plan_id(&p.plan_id) {
        return Err(bad!(
            "plan_id",
            "{:?} is not of the form plan-YYYYMMDD-NNN",
            p.plan_id
        ));
    }
    let hex = p.digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad!(
            "digest",
            "{:?} is not sha256:<64 hex digits>",
            p.digest
        ));
    }
    let s = &p.settings;
    s.validate()
        .map_err(|b| (format!("settings.{}", b.name), b.reason.to_string()))?;
    let mut addresses = HashSet::new();
    for (i, n) in p.nodes.iter().enumerate() {
        let at = format!("nodes[{i}]");
        if !addresses.insert(&n.address) {
            return Err(bad!("{at}.address", "{} appears twice", n.address));
        }
        if s.mode == Mode::BinlogOff && !n.propagates_to.is_empty() {
            return Err(bad!(
                "{at}.propagates_to",
                "must be empty in binlog-off mode (nothing replicates)"
            ));
        }
        let mut tables = HashSet::new();
        for (j, a) in n.actions.iter().enumerate() {
            let at = format!("{at}.actions[{j}]");
            if a.schema.is_empty() || a.table.is_empty() {
                return Err(bad!("{at}", "schema and table must not be empty"));
            }
            // A table's reach is a part of its node's, and exists only where rebuilds replicate.
            if let Some(reach) = &a.propagates_to
                && (s.mode == Mode::BinlogOff || reach.iter().any(|e| !n.propagates_to.contains(e)))
            {
                return Err(bad!(
                    "{at}.propagates_to",
                    "must list only nodes of the node's propagates_to, and only in binlog-on mode"
                ));
            }
            if !tables.insert((a.schema.as_str(), a.table.as_str())) {
                return Err(bad!(
                    "{at}",
                    "{}.{} appears twice on {}; a table is never rebuilt twice on one node",
                    a.schema,
                    a.table,
                    n.address
                ));
            }
            if !(0.0..=100.0).contains(&a.reclaim_percent) {
                return Err(bad!(
                    "{at}.reclaim_percent",
                    "{} is not between 0 and 100",
                    a.reclaim_percent
                ));
            }
            if a.estimated_reclaim_bytes > a.file_size_bytes {
                return Err(bad!(
                    "{at}.estimated_reclaim_bytes",
                    "{} is more than the file ({} bytes)",
                    a.estimated_reclaim_bytes,
                    a.file_size_bytes
                ));
            }
            if crate::inspect::catalog::SYSTEM_SCHEMAS
                .iter()
                .any(|sys| sys.eq_ignore_ascii_case(&a.schema))
            {
                return Err(bad!(
                    "{at}.schema",
                    "{} is a system schema; its tables are never rebuilt",
                    a.schema
                ));
            }
            if !a.online && !s.allow_blocking {
                return Err(bad!(
                    "{at}.online",
                    "a blocking rebuild (online: false) needs \
                     settings.allow_blocking: true"
                ));
            }
            let built = rebuild_statement(&a.schema, &a.table, a.online);
            if a.statement != built {
                return Err(bad!(
                    "{at}.statement",
                    "differs from the statement apply builds for this table \
                     ({built}); SQL text from a plan file is never executed"
                ));
            }
        }
    }
    once_per_server(p)
}

/// No table is rebuilt twice on one server, whatever the plan spells: two nodes with actions are
/// two servers (by server id and uuid, and by address once loopback spellings are normalized),
/// and a node never has its own action on a table that a binlog-on rebuild of another node
/// already brings it through replication.
fn once_per_server(p: &Plan) -> std::result::Result<(), Bad> {
    let working: Vec<(usize, &crate::plan::PlanNode)> = p
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.actions.is_empty())
        .collect();
    for (k, (i, a)) in working.iter().enumerate() {
        for (j, b) in &working[k + 1..] {
            let same_id = a.server_id == b.server_id && a.server_uuid == b.server_uuid;
            if same_id || a.address.same_node(&b.address) {
                return Err(bad!(
                    "nodes[{j}]",
                    "{} and nodes[{i}]: {} are one server (server_id {}); its \
                     tables would be rebuilt twice at once",
                    b.address,
                    a.address,
                    b.server_id
                ));
            }
        }
    }
    for (i, a) in &working {
        let reached: HashSet<Endpoint> = a.propagates_to.iter().map(Endpoint::normalized).collect();
        for (j, b) in &working {
            if i == j || !reached.contains(&b.address.normalized()) {
                continue;
            }
            let theirs: HashSet<(&str, &str)> = a
                .actions
                .iter()
                .map(|x| (x.schema.as_str(), x.table.as_str()))
                .collect();
            if let Some(t) = b
                .actions
                .iter()
                .find(|x| theirs.contains(&(x.schema.as_str(), x.table.as_str())))
            {
                return Err(bad!(
                    "nodes[{j}]",
                    "{} would rebuild {}.{} twice: as its own action and through \
                     the binlog-on rebuild of nodes[{i}]: {} (propagates_to)",
                    b.address,
                    t.schema,
                    t.table,
                    a.address
                ));
            }
        }
    }
    Ok(())
}

/// Writes the plan as YAML or JSON (by extension), creating the directory, atomically.
pub fn write_plan(path: &Path, plan: &Plan) -> Result<()> {
    let text = match format_of(path)? {
        Format::Yaml => crate::output::yaml(plan)?,
        Format::Json => crate::output::json_pretty(plan)? + "\n",
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
    }
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).map_err(|e| Error::file(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::file(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actions_reach_is_part_of_its_nodes_in_binlog_on() {
        let mut p = crate::plan::example_plan();
        p.settings.mode = Mode::BinlogOn;
        p.nodes[0].propagates_to = vec![Endpoint::new("127.0.0.1", 23309)];
        p.nodes[0].actions[0].propagates_to = Some(vec![]);
        assert_eq!(validate(&p), Ok(()));
        p.nodes[0].actions[0].propagates_to = Some(vec![Endpoint::new("127.0.0.1", 23310)]);
        let (field, _) = validate(&p).unwrap_err();
        assert_eq!(field, "nodes[0].actions[0].propagates_to");
        p.settings.mode = Mode::BinlogOff;
        p.nodes[0].propagates_to.clear();
        p.nodes[0].actions[0].propagates_to = Some(vec![]);
        let (field, e) = validate(&p).unwrap_err();
        assert_eq!(field, "nodes[0].actions[0].propagates_to", "{e}");
    }

    #[test]
    fn a_server_never_gets_a_table_twice_whatever_the_plan_spells() {
        let p = crate::plan::example_plan();
        assert_eq!(validate(&p), Ok(()));
        // The same server under a second spelling.
        let mut alias = p.clone();
        let mut twin = alias.nodes[1].clone();
        twin.address = Endpoint::new("localhost", 23308);
        alias.nodes.push(twin);
        let (field, e) = validate(&alias).unwrap_err();
        assert_eq!(field, "nodes[2]");
        assert!(e.contains("are one server (server_id 3)"), "{e}");
        // Another id, but the same address once normalized.
        alias.nodes[2].server_id = 9;
        assert!(validate(&alias).unwrap_err().1.contains("one server"));
        // binlog-on: a node that receives orders through replication has its own orders too.
        let mut twice = p.clone();
        twice.settings.mode = Mode::BinlogOn;
        twice.nodes[0].propagates_to = vec![Endpoint::new("LOCALHOST", 23308)];
        let (field, e) = validate(&twice).unwrap_err();
        assert_eq!(field, "nodes[1]");
        assert!(
            e.contains("127.0.0.1:23308 would rebuild shop.orders twice")
                && e.contains("nodes[0]: 127.0.0.1:23307"),
            "{e}"
        );
        // Another table on the reached node is fine.
        twice.nodes[1].actions[0].table = "other".into();
        twice.nodes[1].actions[0].statement = rebuild_statement("shop", "other", true);
        assert_eq!(validate(&twice), Ok(()));
    }

    #[test]
    fn a_malformed_address_is_named_by_its_path() {
        let refused = |v: &serde_json::Value| match plan_from_value(v, "plan") {
            Err(Error::InvalidArgument {
                field: Some(f),
                message,
            }) => (f, message),
            other => panic!("{other:?}"),
        };
        let good = serde_json::to_value(crate::plan::example_plan()).unwrap();
        assert!(plan_from_value(&good, "plan").is_ok());
        for (at, field) in [
            ("/cluster/seed", "plan.cluster.seed"),
            ("/nodes/0/address", "plan.nodes[0].address"),
            ("/nodes/1/source", "plan.nodes[1].source"),
        ] {
            let mut v = good.clone();
            *v.pointer_mut(at).unwrap() = "db\0evil:3306".into();
            let (f, message) = refused(&v);
            assert_eq!(f, field);
            assert!(message.starts_with("the address's host"), "{message}");
            assert!(!message.contains("evil"), "{message}");
        }
        let mut v = good.clone();
        v["nodes"][0]["propagates_to"] = serde_json::json!(["127.0.0.1:1", "127.0.0.1:0"]);
        let (f, message) = refused(&v);
        assert_eq!(f, "plan.nodes[0].propagates_to[1]");
        assert!(message.starts_with("the address's port"), "{message}");
    }

    #[test]
    fn devices_and_directories_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("zero.yaml");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read_plan(&link).unwrap_err().to_string();
        assert!(e.contains("is not a regular file"), "{e}");
        let sub = dir.path().join("d.yaml");
        std::fs::create_dir(&sub).unwrap();
        assert!(
            read_plan(&sub)
                .unwrap_err()
                .to_string()
                .contains("not a regular file")
        );
    }

    #[test]
    fn plan_ids() {
        assert!(is_plan_id("plan-20261126-001"));
        assert!(is_plan_id("plan-20261126-1234"));
        assert!(!is_plan_id("plan-2026112-001"));
        assert!(!is_plan_id("job-20261126-001"));
    }
}
