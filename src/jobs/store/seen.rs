//! The nodes each discovery of a cluster found (`nodes_seen`, migration 0004): the job store as
//! the topology's [`NodeMemory`], so a node seen before and missing now can be reported.

use super::rows::{Cols, named, time};
use super::{Store, db_err};
use crate::error::Result;
use crate::mysql::Endpoint;
use crate::topology::{NodeMemory, Role, SeenNode};
use chrono::{DateTime, SecondsFormat, Utc};

/// A time as stored: RFC 3339 UTC with nanoseconds (as a discovery's time has them) and `Z`,
/// one width, so that text order is time order (the forget rule compares them in SQL).
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

#[async_trait::async_trait]
impl NodeMemory for Store {
    async fn record_seen(
        &self,
        cluster: &str,
        found: &[SeenNode],
        forget_before: DateTime<Utc>,
    ) -> Result<Vec<SeenNode>> {
        // A write transaction from the start: two discoveries at once take turns.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM nodes_seen WHERE cluster = ? AND last_seen < ?")
            .bind(cluster)
            .bind(stamp(forget_before))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let rows = sqlx::query("SELECT * FROM nodes_seen WHERE cluster = ? ORDER BY address")
            .bind(cluster)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let before = rows
            .iter()
            .map(|r| {
                let c = Cols::named(r, "node seen", "address")?;
                Ok(SeenNode {
                    address: c.parse("address", Endpoint::parse)?,
                    server_id: c.count_opt("server_id")?,
                    server_uuid: c.get("server_uuid")?,
                    role: c.parse("role", |s| named(s, Role::parse, "a role"))?,
                    source: c.parse_opt("source", Endpoint::parse)?,
                    first_seen: c.parse("first_seen", time)?,
                    last_seen: c.parse("last_seen", time)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for n in found {
            sqlx::query(
                "INSERT INTO nodes_seen (cluster, address, server_id, server_uuid, role, source, \
                 first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (cluster, address) DO UPDATE SET \
                 server_id = COALESCE(excluded.server_id, nodes_seen.server_id), \
                 server_uuid = COALESCE(excluded.server_uuid, nodes_seen.server_uuid), \
                 role = excluded.role, source = excluded.source, last_seen = excluded.last_seen",
            )
            .bind(cluster)
            .bind(n.address.to_string())
            .bind(n.server_id.map(i64::from))
            .bind(&n.server_uuid)
            .bind(n.role.as_str())
            .bind(n.source.as_ref().map(Endpoint::to_string))
            .bind(stamp(n.first_seen))
            .bind(stamp(n.last_seen))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(before)
    }

    async fn forget(&self, cluster: &str, address: &Endpoint) -> Result<bool> {
        let r = sqlx::query("DELETE FROM nodes_seen WHERE cluster = ? AND address = ?")
            .bind(cluster)
            .bind(address.normalized().to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn seen(port: u16, id: Option<u32>, source: Option<u16>, t: &str) -> SeenNode {
        SeenNode {
            address: Endpoint::new("127.0.0.1", port),
            server_id: id,
            server_uuid: None,
            role: if source.is_some() {
                Role::Slave
            } else {
                Role::Master
            },
            source: source.map(|p| Endpoint::new("127.0.0.1", p)),
            first_seen: at(t),
            last_seen: at(t),
        }
    }

    #[tokio::test]
    async fn records_keeps_first_seen_and_known_ids_forgets_and_keeps_clusters_apart() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("jobs.db")).await.unwrap();
        let long_ago = at("2000-01-01T00:00:00Z");
        let t1 = "2026-12-02T06:10:11.123456789Z";
        let first = [
            seen(23306, Some(1), None, t1),
            seen(23308, Some(3), Some(23306), t1),
        ];
        assert!(
            s.record_seen("c", &first, long_ago)
                .await
                .unwrap()
                .is_empty()
        );
        let t2 = "2026-12-02T07:00:00Z";
        // 23308 again, unreachable now (its id unknown), under another source.
        let again = [
            seen(23306, Some(1), None, t2),
            seen(23308, None, Some(23307), t2),
        ];
        let before = s.record_seen("c", &again, long_ago).await.unwrap();
        assert_eq!(before, first, "read back as recorded, to the nanosecond");
        let now = s
            .record_seen("c", &[], long_ago)
            .await
            .unwrap()
            .into_iter()
            .find(|n| n.address.port == 23308)
            .unwrap();
        assert_eq!(
            (now.server_id, now.source, now.first_seen, now.last_seen),
            (
                Some(3),
                Some(Endpoint::new("127.0.0.1", 23307)),
                at(t1),
                at(t2)
            ),
            "the id known before is kept, the rest is the last discovery's"
        );
        // Another cluster remembers its own nodes.
        assert!(
            s.record_seen("other", &[], long_ago)
                .await
                .unwrap()
                .is_empty()
        );
        // Forgotten by address (any spelling of it) or by age.
        assert!(
            s.forget("c", &Endpoint::new("localhost", 23308))
                .await
                .unwrap()
        );
        assert!(
            !s.forget("c", &Endpoint::new("127.0.0.1", 23308))
                .await
                .unwrap()
        );
        let left = s.record_seen("c", &[], at(t2)).await.unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(
            s.record_seen("c", &[], at("2026-12-02T07:00:00.000000001Z"))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_row_that_cannot_be_read_is_an_error_naming_the_node_and_the_column() {
        for (column, value) in [
            ("role", "'captain'"),
            ("server_id", "-1"),
            ("last_seen", "'recently'"),
            ("source", "''"),
        ] {
            let s = Store::in_memory().await.unwrap();
            let t = "2026-12-02T06:00:00Z";
            s.record_seen("c", &[seen(23308, Some(3), Some(23306), t)], at(t))
                .await
                .unwrap();
            sqlx::query(&format!("UPDATE nodes_seen SET {column} = {value}"))
                .execute(&s.pool)
                .await
                .unwrap();
            let e = s.record_seen("c", &[], at(t)).await.unwrap_err();
            let msg = e.to_string();
            assert_eq!(e.code(), crate::error::ErrorCode::Internal, "{msg}");
            assert!(
                msg.contains("127.0.0.1:23308") && msg.contains(column),
                "{column}: {msg}"
            );
        }
    }
}
