//! Disk preflight: a rebuild writes the new tablespace beside the old one before it drops the
//! old, so it needs about the rebuilt table's size free in the datadir, plus room for the
//! online-alter log of the writes made meanwhile (at most `innodb_online_alter_log_max_size`).
//!
//! The free space comes from `--free-disk NODE=BYTES` when given, else from MariaDB's `DISKS`
//! information-schema plugin (`INSTALL SONAME 'disks'`; the filesystem holding `@@datadir`).
//! Where neither tells, the rebuild is not checked here (and `check` warns about large tables).

/// Where a free-space figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeSource {
    /// `--free-disk NODE=BYTES`.
    Given,
    /// `information_schema.DISKS`.
    Disks,
}

impl std::fmt::Display for FreeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Given => "--free-disk",
            Self::Disks => "information_schema.DISKS",
        })
    }
}

/// The `DISKS` query: every mounted filesystem's path and free KiB.
pub const DISKS_SQL: &str =
    "SELECT Path, CAST(Available AS UNSIGNED) FROM information_schema.DISKS";

/// Free bytes of the filesystem holding `datadir`: the mount whose path is the longest prefix
/// of it, from `DISKS` rows (path, free KiB).
pub fn free_of(datadir: &str, mounts: &[(String, u64)]) -> Option<u64> {
    let dir = datadir.trim_end_matches('/');
    mounts
        .iter()
        .filter(|(path, _)| {
            let p = path.trim_end_matches('/');
            p.is_empty() || dir == p || dir.starts_with(&format!("{p}/"))
        })
        .max_by_key(|(path, _)| path.trim_end_matches('/').len())
        .map(|(_, kib)| kib.saturating_mul(1024))
}

/// Bytes a rebuild needs free: the rebuilt file and the online-alter log at its largest.
pub fn needed(rebuilt_bytes: u64, online_log_max: u64) -> u64 {
    rebuilt_bytes.saturating_add(online_log_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_datadir_is_on_its_longest_mount() {
        let mounts = vec![
            ("/".to_string(), 100),
            ("/var".to_string(), 50),
            ("/var/lib/mysql-other".to_string(), 7),
        ];
        assert_eq!(free_of("/var/lib/mysql/", &mounts), Some(50 * 1024));
        assert_eq!(free_of("/srv/db", &mounts), Some(100 * 1024));
        assert_eq!(free_of("/srv/db", &mounts[1..]), None);
        assert_eq!(needed(10, 5), 15);
    }
}
