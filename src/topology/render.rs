//! Rendering a topology as JSON, YAML or a tree in the style of `pt-slave-find`.

use super::{ClusterTopology, DatabaseNode};
use crate::error::Result;

/// Output formats of `topology`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    Json,
    Yaml,
    #[default]
    Table,
}

/// Renders `t` in `format`. JSON is pretty-printed and ends with a newline.
pub fn render(t: &ClusterTopology, format: OutputFormat) -> Result<String> {
    match format {
        OutputFormat::Json => crate::output::json_pretty(t).map(|s| s + "\n"),
        OutputFormat::Yaml => crate::output::yaml(t),
        OutputFormat::Table => Ok(tree(t)),
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}

fn describe(n: &DatabaseNode) -> String {
    let addr = if n.port == 0 {
        format!("{}:?", n.host)
    } else {
        n.endpoint().to_string()
    };
    if let Some(err) = &n.error {
        let id = if n.server_id > 0 {
            format!("  server_id={}", n.server_id)
        } else {
            String::new()
        };
        return format!("{addr}  {}{id}  UNREACHABLE: {err}", n.role);
    }
    let mut parts = vec![
        addr,
        n.role.to_string(),
        format!("server_id={}", n.server_id),
        n.version.clone(),
        format!("read_only={}", on_off(n.read_only)),
    ];
    if let Some(s) = n.super_read_only {
        parts.push(format!("super_read_only={}", on_off(s)));
    }
    parts.push(format!("log_bin={}", on_off(n.log_bin)));
    if n.replication.is_some() {
        parts.push(format!("log_slave_updates={}", on_off(n.log_slave_updates)));
    }
    if let Some(r) = &n.replication {
        let lag = n
            .lag_seconds
            .map(|l| format!("{l}s"))
            .unwrap_or_else(|| "NULL".into());
        parts.push(format!(
            "io={} sql={} lag={lag}",
            r.io_running, r.sql_running
        ));
        if r.delay_seconds > 0 {
            parts.push(format!("delay={}s", r.delay_seconds));
        }
        if let Some(e) = &r.last_error {
            parts.push(format!("last_error={e:?}"));
        }
    }
    parts.join("  ")
}

fn tree(t: &ClusterTopology) -> String {
    let mut out = format!(
        "# cluster {} ({}), discovered {}\n",
        t.cluster_name,
        t.cluster_id,
        t.discover_time.format("%Y-%m-%dT%H:%M:%SZ")
    );
    if let Some(cut) = &t.truncated {
        for line in cut.describe(t.root()) {
            out.push_str(&format!("# {line}\n"));
        }
    }
    out.push_str(&describe(&t.topology.master));
    out.push('\n');
    children(&t.topology.master, "", &mut out);
    if !t.missing.is_empty() {
        out.push_str("# seen by earlier discoveries of this cluster, not found by this one:\n");
        for m in &t.missing {
            out.push_str(&m.describe());
            out.push('\n');
        }
    }
    out
}

fn children(n: &DatabaseNode, prefix: &str, out: &mut String) {
    let count = n.slaves.len();
    for (i, c) in n.slaves.iter().enumerate() {
        out.push_str(prefix);
        out.push_str("+- ");
        out.push_str(&describe(c));
        out.push('\n');
        let cont = if i + 1 < count { "|  " } else { "   " };
        // Like pt-slave-find, the filters go on lines of their own under the replica.
        if let Some(f) = c.filters() {
            let bar = if c.slaves.is_empty() { "   " } else { "|  " };
            for (name, rules) in f.options().iter().filter(|(_, r)| !r.is_empty()) {
                out.push_str(&format!("{prefix}{cont}{bar}{name}={}\n", rules.join(",")));
            }
        }
        children(c, &format!("{prefix}{cont}"), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Role, TopologyTree};

    fn node(port: u16, id: u32, role: Role, slaves: Vec<DatabaseNode>) -> DatabaseNode {
        DatabaseNode {
            server_id: id,
            slaves,
            ..DatabaseNode::fixture(port, role)
        }
    }

    #[test]
    fn tree_looks_like_pt_slave_find() {
        let t = ClusterTopology {
            cluster_id: "cluster-abc".into(),
            cluster_name: "sandbox".into(),
            discover_time: "2026-11-26T20:31:00Z".parse().unwrap(),
            topology: TopologyTree {
                master: node(
                    23306,
                    1,
                    Role::Master,
                    vec![
                        node(
                            23307,
                            2,
                            Role::Slave,
                            vec![node(23309, 4, Role::Slave, vec![])],
                        ),
                        node(23308, 3, Role::Slave, vec![]),
                    ],
                ),
            },
            truncated: None,
            missing: Vec::new(),
        };
        let text = render(&t, OutputFormat::Table).unwrap();
        let expected = "\
# cluster sandbox (cluster-abc), discovered 2026-11-26T20:31:00Z
127.0.0.1:23306  master  server_id=1  10.11.19-MariaDB  read_only=OFF  log_bin=ON
+- 127.0.0.1:23307  slave  server_id=2  10.11.19-MariaDB  read_only=ON  log_bin=ON  log_slave_updates=ON  io=Yes sql=Yes lag=0s
|  +- 127.0.0.1:23309  slave  server_id=4  10.11.19-MariaDB  read_only=ON  log_bin=ON  log_slave_updates=ON  io=Yes sql=Yes lag=0s
+- 127.0.0.1:23308  slave  server_id=3  10.11.19-MariaDB  read_only=ON  log_bin=ON  log_slave_updates=ON  io=Yes sql=Yes lag=0s
";
        assert_eq!(text, expected);
        let json: serde_json::Value =
            serde_json::from_str(&render(&t, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(
            json["topology"]["master"]["slaves"][0]["slaves"][0]["port"],
            23309
        );
        assert_eq!(json["topology"]["master"]["role"], "master");
    }
}
