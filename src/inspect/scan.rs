//! The scan of a node: the catalog statements, their rows joined per table, and an estimate per
//! table → [`NodeScan`].
//!
//! A scan is set-based and has two phases. **Phase 1** reads every table from the InnoDB
//! dictionary alone (`INNODB_SYS_TABLES`/`INNODB_TABLES` and the tablespaces: where each table's
//! data lives and how big its files are), which opens no table. **Phase 2** reads the rest —
//! `TABLES`, `COLUMNS`, `STATISTICS` and the persistent statistics — only for the tables that
//! could qualify (a rebuild frees at most the file, so a file below the threshold cannot) and
//! those an obstacle skips ([`Phase2`]), in statements that name them (values bound), so the
//! server opens only those; once most tables would be named, it reads them all at once. The
//! statements of a phase are split over up to three sessions of the node's read pool. Then a
//! sample ([`sample`]) only for *candidate* tables — those whose upper-bound reclaim (all
//! variable-length columns assumed empty) the caller finds worth it (the planner: could pass
//! the plan's thresholds) — that have variable-length columns. Nodes are scanned concurrently.
//! `analyze` first refreshes the persistent statistics of the phase-2 tables with `ANALYZE
//! NO_WRITE_TO_BINLOG TABLE`, which is never replicated.

use super::catalog::{self, Named, Placement};
use super::estimate::{
    Column, Estimate, EstimateMethod, Index, IndexKind, ROWS_DISAGREE, RowFormat, RowsUncertain,
    Sample, TableShape, rebuilt_bytes, rebuilt_from_leaf_pages,
};
use super::sample::sample;
use super::{Blocking, NodeScan, Obstacle, TableFilter, TableStats};
use crate::error::Result;
use crate::mysql::flavor::{Flavor, server_info};
use crate::mysql::{self, ConnectSpec, Endpoint, Row, query_rows, quote_table};
use futures::StreamExt;
use sqlx::Executor;
use sqlx::mysql::MySqlConnection;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub filter: TableFilter,
    /// Refresh statistics first (`ANALYZE NO_WRITE_TO_BINLOG TABLE`), of the tables phase 2
    /// reads.
    pub analyze: bool,
    /// Rows read per sampled table (spread over up to four primary-key ranges).
    pub sample_rows: u64,
    /// Which tables phase 2 reads.
    pub phase2: Phase2,
}

/// Which tables phase 2 of a scan reads (columns, indexes, statistics, `TABLES`): phase 1 has
/// every table's files from the InnoDB dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase2 {
    /// Every table (the reference a two-phase scan must agree with).
    All,
    /// Tables whose files (partitions summed) are at least this many bytes — no table with
    /// less can free that much, since a rebuild frees at most its file — and every table an
    /// obstacle keeps from being rebuilt (the plan lists them as skipped).
    FilesOfAtLeast(u64),
}

/// Phase 2 reads every table once more than this share of them would be named (one
/// unrestricted statement is cheaper than many naming most tables).
const NAMED_SHARE: f64 = 0.5;

/// Tables a phase-2 statement names at most (its values are bound).
const NAMED_PER_STATEMENT: usize = 500;

/// What phase 2 reads, as decided from phase 1.
#[derive(Debug)]
struct Reading {
    statements: Statements,
    /// Only the tables phase 1 kept are read on (the others cannot qualify and their
    /// dictionary rows are gone); else every table of the statements' rows is.
    kept_only: bool,
}

/// Phase 2's statements.
#[derive(Debug)]
enum Statements {
    /// One unrestricted statement per catalog.
    All,
    /// Statements naming these tables, in chunks of [`NAMED_PER_STATEMENT`].
    Naming(Vec<Vec<Named>>),
}

/// Phase 1: the tables of the filter as the InnoDB dictionary has them — all of them for
/// [`Phase2::All`], else only those phase 2 is to read (a partitioned table is kept until all
/// its partitions are in).
struct Dictionary {
    phase2: Phase2,
    tables: BTreeMap<Key, DictEntry>,
    /// Tables of the filter seen.
    seen: usize,
    /// Their file-per-table files, in bytes.
    file_bytes: u64,
}

#[derive(Default)]
struct DictEntry {
    partitioned: bool,
    /// Each file-per-table part's or shared tablespace's placement (none: no tablespace row).
    placements: Vec<(bool, Placement)>,
}

impl DictEntry {
    fn file_bytes(&self) -> u64 {
        self.placements
            .iter()
            .map(|(_, p)| match p {
                Placement::FilePerTable { file_size, .. } => *file_size,
                _ => 0,
            })
            .sum()
    }

    /// Whether phase 2 reads this table under `phase2`.
    fn wanted(&self, phase2: Phase2) -> bool {
        match phase2 {
            Phase2::All => true,
            Phase2::FilesOfAtLeast(min) => self.obstructed() || self.file_bytes() >= min.max(1),
        }
    }

    /// A shared tablespace, or no tablespace row: the plan skips it with the reason.
    fn obstructed(&self) -> bool {
        self.placements.is_empty()
            || self
                .placements
                .iter()
                .any(|(_, p)| !matches!(p, Placement::FilePerTable { .. }))
    }
}

impl Dictionary {
    fn new(phase2: Phase2) -> Self {
        Self {
            phase2,
            tables: BTreeMap::new(),
            seen: 0,
            file_bytes: 0,
        }
    }

    /// One dictionary row's table or partition, with its placement.
    fn add(&mut self, (schema, table, part, placement): (String, String, bool, Option<Placement>)) {
        let placements: Vec<(bool, Placement)> = placement.into_iter().map(|p| (part, p)).collect();
        if let Some((_, Placement::FilePerTable { file_size, .. })) = placements.first() {
            self.file_bytes += file_size;
        }
        if !part {
            self.seen += 1;
            let e = DictEntry {
                partitioned: false,
                placements,
            };
            if e.wanted(self.phase2) {
                self.tables.insert((schema, table), e);
            }
            return;
        }
        let e = self.tables.entry((schema, table)).or_insert_with(|| {
            self.seen += 1;
            DictEntry {
                partitioned: true,
                placements: Vec::new(),
            }
        });
        e.placements.extend(placements);
    }

    /// Phase 1 read every row: partitioned tables phase 2 is not to read go.
    fn finish(mut self) -> Self {
        let phase2 = self.phase2;
        self.tables.retain(|_, e| e.wanted(phase2));
        self
    }

    /// What phase 2 reads.
    fn reading(&self) -> Reading {
        let Phase2::FilesOfAtLeast(_) = self.phase2 else {
            return Reading {
                statements: Statements::All,
                kept_only: false,
            };
        };
        // Every table kept is one phase 2 reads.
        if self.tables.len() as f64 > self.seen as f64 * NAMED_SHARE {
            return Reading {
                statements: Statements::All,
                kept_only: true,
            };
        }
        let named: Vec<Named> = self
            .tables
            .iter()
            .map(|((s, t), e)| (s.clone(), t.clone(), e.partitioned))
            .collect();
        Reading {
            statements: Statements::Naming(
                named
                    .chunks(NAMED_PER_STATEMENT)
                    .map(<[Named]>::to_vec)
                    .collect(),
            ),
            kept_only: true,
        }
    }
}

/// Phase 1: the dictionary's table rows merged with its tablespace rows as both arrive, both
/// sorted by tablespace id (several tables can share one: the system or a general tablespace).
async fn phase1(
    tables: &mut futures::stream::BoxStream<'_, Result<Row>>,
    spaces: &mut futures::stream::BoxStream<'_, Result<Row>>,
    filter: &TableFilter,
    phase2: Phase2,
) -> Result<Dictionary> {
    let mut dict = Dictionary::new(phase2);
    let id = |r: &Row| r.u64(&["SPACE"]).unwrap_or(0);
    let mut space = spaces.next().await.transpose()?;
    while let Some(t) = tables.next().await.transpose()? {
        let want = id(&t);
        while let Some(s) = &space
            && id(s) < want
        {
            space = spaces.next().await.transpose()?;
        }
        let here = space.as_ref().filter(|s| id(s) == want);
        if let Some(entry) = catalog::placement_of(&t, here)
            && filter.matches(&entry.0, &entry.1)
        {
            dict.add(entry);
        }
    }
    Ok(dict.finish())
}

#[derive(Default)]
struct Partial {
    row_format: String,
    /// `KEY_BLOCK_SIZE` in KiB, when `CREATE_OPTIONS` gives one.
    key_block_kib: Option<u64>,
    table_rows: u64,
    data_free: u64,
    partitioned: bool,
    placements: Vec<(bool, Placement)>,
    columns: Vec<Column>,
    indexes: Vec<Index>,
    /// (partition or table name) → n_rows.
    n_rows: BTreeMap<String, u64>,
    /// index name → leaf pages in use (summed over partitions).
    leaf_pages: BTreeMap<String, u64>,
    /// (partition or table name, index name) → (longest prefix, its distinct keys): the
    /// index's count of the rows.
    index_rows: BTreeMap<(String, String), (u32, u64)>,
}

impl Partial {
    /// What the estimate model needs of the table.
    fn shape(&self, page_size: u64) -> TableShape<'_> {
        TableShape {
            columns: &self.columns,
            indexes: &self.indexes,
            page_size,
            row_format: RowFormat::parse(&self.row_format),
        }
    }
}

type Key = (String, String);

/// The tables of a scan by `schema␟table`, looked up without allocating (a scan of 20k tables
/// does several lookups per catalog row).
#[derive(Default)]
struct TableMap {
    map: HashMap<String, Partial>,
    buf: String,
}

impl TableMap {
    fn key(buf: &mut String, schema: &str, table: &str) {
        buf.clear();
        buf.push_str(schema);
        buf.push('\u{1f}');
        buf.push_str(table);
    }

    fn insert(&mut self, schema: &str, table: &str, p: Partial) {
        Self::key(&mut self.buf, schema, table);
        self.map.insert(self.buf.clone(), p);
    }

    /// The table named by two columns of `r`.
    fn of_row(&mut self, r: &Row, schema_col: &str, table_col: &str) -> Option<&mut Partial> {
        Self::key(&mut self.buf, r.get(&[schema_col])?, r.get(&[table_col])?);
        self.map.get_mut(self.buf.as_str())
    }

    /// The table of a `mysql.innodb_*_stats` row. Its names are decoded, and a partition's is
    /// the table's and `#P#p0` (`#p#p0` on MySQL 8) — but a table's own name may hold `#P#`
    /// too. So the row is a non-partitioned table's under its whole name, or else a partitioned
    /// table's named by the longest part before a `#P#`.
    fn of_stats_row(&mut self, r: &Row) -> Option<&mut Partial> {
        let schema = r.get(&["database_name"])?;
        let name = r.get(&["table_name"])?;
        // ASCII lower-casing keeps byte offsets.
        let lower = name.to_ascii_lowercase();
        let candidates = std::iter::once((name, false)).chain(
            lower
                .rmatch_indices("#p#")
                .map(|(at, _)| (&name[..at], true)),
        );
        for (table, partition) in candidates {
            Self::key(&mut self.buf, schema, table);
            if self
                .map
                .get(self.buf.as_str())
                .is_some_and(|p| p.partitioned == partition)
            {
                return self.map.get_mut(self.buf.as_str());
            }
        }
        None
    }

    /// Every table, sorted by (schema, table).
    fn into_sorted(self) -> Vec<(Key, Partial)> {
        let mut v: Vec<(Key, Partial)> = self
            .map
            .into_iter()
            .map(|(k, p)| {
                let (s, t) = k.split_once('\u{1f}').unwrap_or((k.as_str(), ""));
                ((s.to_string(), t.to_string()), p)
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// Which tables a scan samples, asked of a table with variable-length columns and its
/// upper-bound estimate (those columns assumed empty): the caller's rule, not the scan's.
pub type WorthSampling<'a> = &'a (dyn Fn(&TableStats) -> bool + Sync);

/// Scans `node`, sampling the tables `worth_sampling` picks. Fails with 1008 naming the
/// privilege when a catalog is not readable.
// Not `#[instrument]`ed: a span entered on every poll of a 100k-row fetch costs more than the
// decoding. Log lines name the node instead.
pub async fn scan_node(
    node: &Endpoint,
    spec: &ConnectSpec,
    opts: &ScanOptions,
    worth_sampling: WorthSampling<'_>,
) -> Result<NodeScan> {
    let started = Instant::now();
    let _step = crate::activity::step(|| format!("scanning the catalog of {node}"));
    // Up to three sessions per node from its read pool (fewer when `max_open_conns` is
    // lower): the catalog statements are split between them and run at once (COLUMNS and
    // STATISTICS, the heaviest, each on its own).
    let mut sessions = spec.pools.get_many(node, spec, 3).await?;
    let info = server_info(&mut sessions[0], node).await?;
    if matches!(info.flavor, Flavor::MySql80 | Flavor::MySql84) {
        // MySQL 8 caches TABLES figures for a day by default.
        for conn in sessions.iter_mut() {
            conn.execute("SET SESSION information_schema_stats_expiry = 0")
                .await
                .map_err(|e| mysql::query_error(node, e))?;
        }
    }
    let flavor = info.flavor;
    let (a, rest) = sessions
        .split_first_mut()
        .ok_or_else(|| crate::error::Error::Internal("a read pool gave no session".into()))?;

    // Phase 1, every table: the InnoDB dictionary alone (no table is opened), its two
    // statements merged as their rows arrive (over one session: the tablespaces first).
    let (tables_sql, spaces_sql) = (
        catalog::innodb_tables_sql(flavor),
        catalog::tablespaces_sql(flavor),
    );
    let dictionary = match rest.first_mut() {
        Some(b) => {
            let mut spaces = mysql::stream_rows(b, node, spaces_sql);
            let mut dict = mysql::stream_rows(a, node, tables_sql);
            phase1(&mut dict, &mut spaces, &opts.filter, opts.phase2).await?
        }
        None => {
            let rows = query_rows(a, node, spaces_sql).await?;
            let mut spaces = futures::stream::iter(rows.into_iter().map(Ok)).boxed();
            let mut dict = mysql::stream_rows(a, node, tables_sql);
            phase1(&mut dict, &mut spaces, &opts.filter, opts.phase2).await?
        }
    };
    let reading = dictionary.reading();
    let (dictionary_tables, dictionary_file_bytes) = (dictionary.seen, dictionary.file_bytes);

    // Phase 2, the tables that could qualify or that the plan names as skipped: their rows,
    // columns, indexes and statistics.
    let mut analyzed = 0;
    if opts.analyze {
        // Statistics must be fresh before they are read; only those of phase 2 are.
        let keys: Vec<Key> = dictionary.tables.keys().cloned().collect();
        if !keys.is_empty() {
            analyzed = analyze(a, node, keys.iter()).await?;
        }
    }
    let (ra, rb, rc) = match rest {
        [b, c, ..] => tokio::join!(
            catalog_a(a, node, &reading),
            catalog_b(b, node, &reading),
            catalog_c(c, node, &reading)
        ),
        [b] => {
            let (ra, (rb, rc)) = tokio::join!(catalog_a(a, node, &reading), async {
                (
                    catalog_b(b, node, &reading).await,
                    catalog_c(b, node, &reading).await,
                )
            });
            (ra, rb, rc)
        }
        [] => (
            catalog_a(a, node, &reading).await,
            catalog_b(a, node, &reading).await,
            catalog_c(a, node, &reading).await,
        ),
    };
    let ((tables_rows, table_stats_rows), columns_rows, (indexes_rows, index_stats_rows)) =
        (ra?, rb?, rc?);
    let mut tables = TableMap::default();
    let mut dictionary = dictionary;
    for r in &tables_rows {
        let (s, t) = (r.text(&["TABLE_SCHEMA"]), r.text(&["TABLE_NAME"]));
        if !opts.filter.matches(&s, &t) {
            continue;
        }
        let placements = match dictionary.tables.remove(&(s.clone(), t.clone())) {
            Some(e) => e.placements,
            // Below the threshold: it cannot qualify.
            None if reading.kept_only => continue,
            // Not in the dictionary: no tablespace.
            None => Vec::new(),
        };
        let options = r.text(&["CREATE_OPTIONS"]).to_ascii_lowercase();
        tables.insert(
            &s,
            &t,
            Partial {
                row_format: r.text(&["ROW_FORMAT"]),
                key_block_kib: key_block_kib(&options),
                table_rows: r.u64(&["TABLE_ROWS"]).unwrap_or(0),
                data_free: r.u64(&["DATA_FREE"]).unwrap_or(0),
                partitioned: options.contains("partitioned"),
                placements,
                ..Default::default()
            },
        );
    }
    drop(dictionary);
    for r in &table_stats_rows {
        if let Some(p) = tables.of_stats_row(r) {
            p.n_rows
                .insert(r.text(&["table_name"]), r.u64(&["n_rows"]).unwrap_or(0));
        }
    }
    for r in &index_stats_rows {
        if let Some(p) = tables.of_stats_row(r) {
            let value = r.u64(&["stat_value"]).unwrap_or(0);
            let stat = r.text(&["stat_name"]);
            if stat == "n_leaf_pages" {
                *p.leaf_pages.entry(r.text(&["index_name"])).or_default() += value;
            } else if let Some(prefix) = stat
                .strip_prefix("n_diff_pfx")
                .and_then(|n| n.parse::<u32>().ok())
            {
                let key = (r.text(&["table_name"]), r.text(&["index_name"]));
                let e = p.index_rows.entry(key).or_default();
                if prefix >= e.0 {
                    *e = (prefix, value);
                }
            }
        }
    }
    for r in &columns_rows {
        if let Some(p) = tables.of_row(r, "TABLE_SCHEMA", "TABLE_NAME") {
            p.columns.push(Column {
                name: r.text(&["COLUMN_NAME"]),
                data_type: r.text(&["DATA_TYPE"]).to_ascii_lowercase(),
                column_type: r.text(&["COLUMN_TYPE"]).to_ascii_lowercase(),
                nullable: r.text(&["IS_NULLABLE"]) == "YES",
                char_max_length: r.u64(&["CHARACTER_MAXIMUM_LENGTH"]),
                octet_length: r.u64(&["CHARACTER_OCTET_LENGTH"]),
                numeric_precision: r.u64(&["NUMERIC_PRECISION"]),
                numeric_scale: r.u64(&["NUMERIC_SCALE"]),
                datetime_precision: r.u64(&["DATETIME_PRECISION"]),
            });
        }
    }
    for r in &indexes_rows {
        let Some(p) = tables.of_row(r, "TABLE_SCHEMA", "TABLE_NAME") else {
            continue;
        };
        let name = r.text(&["INDEX_NAME"]);
        let column = (r.text(&["COLUMN_NAME"]), r.u64(&["SUB_PART"]));
        match p.indexes.iter_mut().find(|i| i.name == name) {
            Some(i) => i.columns.push(column),
            None => p.indexes.push(Index {
                kind: match r.text(&["INDEX_TYPE"]).to_ascii_uppercase().as_str() {
                    "FULLTEXT" => IndexKind::FullText,
                    "SPATIAL" => IndexKind::Spatial,
                    _ => IndexKind::BTree,
                },
                unique: r.text(&["NON_UNIQUE"]) == "0",
                name,
                columns: vec![column],
            }),
        }
    }

    let page_size = info.innodb_page_size;
    let tables = tables.into_sorted();
    let mut out = Vec::with_capacity(tables.len());
    let mut sampled = 0;
    for ((schema, table), p) in tables {
        let mut stats = assemble(&schema, &table, &p, page_size);
        if stats.obstacle.is_none() {
            let shape = p.shape(page_size);
            // The upper bound: variable-length columns assumed empty, nullable ones NULL.
            let needs_sample = !shape.sampled_columns().is_empty()
                && stats
                    .estimate
                    .is_some_and(|e| e.method == EstimateMethod::RecordSize)
                && worth_sampling(&stats);
            if needs_sample {
                let _step =
                    crate::activity::step(|| format!("sampling {schema}.{table} on {node}"));
                match sample(a, node, &schema, &table, &shape, opts.sample_rows).await {
                    Ok(s) => {
                        sampled += 1;
                        stats.estimate =
                            Some(estimate_with(&p, &shape, Some(&s), stats.file_size_bytes));
                        stats.sampled = true;
                    }
                    Err(e) => {
                        tracing::warn!(table = %format!("{schema}.{table}"), error = %e, "sample failed; estimating from leaf pages");
                        let e = leaf_estimate(&p, page_size, stats.file_size_bytes);
                        stats.estimate = Some(physical(&p, page_size, stats.file_size_bytes, e));
                    }
                }
            }
        }
        out.push(stats);
    }
    for s in sessions {
        s.release();
    }
    Ok(NodeScan {
        node: node.clone(),
        info,
        tables: out,
        dictionary_tables,
        dictionary_file_bytes,
        analyzed,
        sampled,
        elapsed: started.elapsed(),
    })
}

/// `TABLES` and `mysql.innodb_table_stats`.
async fn catalog_a(
    c: &mut MySqlConnection,
    node: &Endpoint,
    reading: &Reading,
) -> Result<(Vec<Row>, Vec<Row>)> {
    let tables = read(c, node, reading, catalog::tables_sql, IS_COLUMNS, false).await?;
    let stats = read(
        c,
        node,
        reading,
        catalog::table_stats_sql,
        STATS_COLUMNS,
        true,
    )
    .await?;
    Ok((tables, stats))
}

/// `COLUMNS`.
async fn catalog_b(
    c: &mut MySqlConnection,
    node: &Endpoint,
    reading: &Reading,
) -> Result<Vec<Row>> {
    read(c, node, reading, catalog::columns_sql, IS_COLUMNS, false).await
}

/// `STATISTICS` and `mysql.innodb_index_stats`.
async fn catalog_c(
    c: &mut MySqlConnection,
    node: &Endpoint,
    reading: &Reading,
) -> Result<(Vec<Row>, Vec<Row>)> {
    let indexes = read(c, node, reading, catalog::indexes_sql, IS_COLUMNS, false).await?;
    let stats = read(
        c,
        node,
        reading,
        catalog::index_stats_sql,
        STATS_COLUMNS,
        true,
    )
    .await?;
    Ok((indexes, stats))
}

/// How `information_schema` and the statistics tables name a table.
const IS_COLUMNS: (&str, &str) = ("TABLE_SCHEMA", "TABLE_NAME");
const STATS_COLUMNS: (&str, &str) = ("database_name", "table_name");

/// The rows of the catalog statement `sql` for the tables of `reading`: one unrestricted
/// statement, or one per chunk naming its tables (values bound).
async fn read(
    c: &mut MySqlConnection,
    node: &Endpoint,
    reading: &Reading,
    sql: fn(Option<&str>) -> String,
    (schema_col, table_col): (&str, &str),
    partitions: bool,
) -> Result<Vec<Row>> {
    match &reading.statements {
        Statements::All => query_rows(c, node, &sql(None)).await,
        Statements::Naming(chunks) => {
            let mut out = Vec::new();
            for chunk in chunks {
                let (cond, binds) = catalog::naming(schema_col, table_col, chunk, partitions);
                out.extend(mysql::query_rows_bound(c, node, &sql(Some(&cond)), &binds).await?);
            }
            Ok(out)
        }
    }
}

/// Scans every node of `nodes`, at most `parallel` at once, keeping the order.
pub async fn scan_nodes(
    nodes: &[Endpoint],
    spec: &ConnectSpec,
    opts: &ScanOptions,
    worth_sampling: WorthSampling<'_>,
    parallel: usize,
) -> Vec<(Endpoint, Result<NodeScan>)> {
    futures::stream::iter(nodes.iter().cloned())
        .map(|n| async move {
            let r = scan_node(&n, spec, opts, worth_sampling).await;
            (n, r)
        })
        .buffered(parallel.max(1))
        .collect()
        .await
}

/// `ANALYZE NO_WRITE_TO_BINLOG TABLE` in statements of up to 50 tables.
async fn analyze<'a>(
    c: &mut MySqlConnection,
    node: &Endpoint,
    keys: impl Iterator<Item = &'a Key>,
) -> Result<usize> {
    let names: Vec<String> = keys.map(|(s, t)| quote_table(s, t)).collect();
    for chunk in names.chunks(50) {
        let sql = format!("ANALYZE NO_WRITE_TO_BINLOG TABLE {}", chunk.join(", "));
        c.fetch_all(sql.as_str())
            .await
            .map_err(|e| mysql::query_error(node, e))?;
    }
    Ok(names.len())
}

fn assemble(schema: &str, table: &str, p: &Partial, page_size: u64) -> TableStats {
    let blocking = p.indexes.iter().find_map(|i| match i.kind {
        IndexKind::FullText => Some(Blocking::FullText(i.name.clone())),
        IndexKind::Spatial => Some(Blocking::Spatial(i.name.clone())),
        IndexKind::BTree => None,
    });
    let mut stats = TableStats {
        schema: schema.to_string(),
        table: table.to_string(),
        row_format: p.row_format.clone(),
        rows: p.table_rows,
        secondary_indexes: p.indexes.iter().filter(|i| i.name != "PRIMARY").count() as u32,
        data_free_bytes: p.data_free,
        file_size_bytes: 0,
        partitions: p.placements.iter().filter(|(part, _)| *part).count(),
        blocking,
        obstacle: None,
        estimate: None,
        sampled: false,
    };
    if p.placements.is_empty() {
        stats.obstacle = Some(Obstacle::NoTablespace);
        return stats;
    }
    for (_, pl) in &p.placements {
        match pl {
            Placement::FilePerTable { file_size, .. } => stats.file_size_bytes += file_size,
            Placement::System => stats.obstacle = Some(Obstacle::SystemTablespace),
            Placement::General(name) => {
                stats.obstacle = Some(Obstacle::GeneralTablespace(name.clone()));
            }
        }
    }
    if p.partitioned && stats.partitions == 0 {
        stats.partitions = p.placements.len();
    }
    if stats.obstacle.is_some() {
        stats.file_size_bytes = 0;
        return stats;
    }
    stats.estimate = Some(estimate_with(
        p,
        &p.shape(page_size),
        None,
        stats.file_size_bytes,
    ));
    stats
}

/// Rows per physical part (partitions or the table itself) from persistent statistics — the
/// median of every index's count, each taken from its own sample of 20 or so pages (the
/// clustered index's alone was seen 10 % off on a table split by random keys, its secondary
/// index's 3 %) — else `TABLE_ROWS` spread evenly.
fn rows_per_part(p: &Partial) -> Vec<f64> {
    let parts = p.placements.len().max(1);
    if p.n_rows.len() == parts {
        return p
            .n_rows
            .iter()
            .map(|(part, &n)| {
                let counts: Vec<u64> = p
                    .index_rows
                    .range((part.clone(), String::new())..)
                    .take_while(|((pt, _), _)| pt == part)
                    .map(|(_, &(_, rows))| rows)
                    .collect();
                median(counts).unwrap_or(n as f64)
            })
            .collect();
    }
    vec![p.table_rows as f64 / parts as f64; parts]
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<u64>) -> Option<f64> {
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2] as f64),
        _ => Some((v[n / 2 - 1] + v[n / 2]) as f64 / 2.0),
    }
}

fn leaf_estimate(p: &Partial, page_size: u64, file_size: u64) -> Estimate {
    let leaves: Vec<u64> = p.leaf_pages.values().copied().collect();
    Estimate::new(
        file_size,
        rebuilt_from_leaf_pages(&leaves, page_size),
        EstimateMethod::LeafPages,
    )
}

/// The best estimate available: without persistent statistics only DATA_FREE; with them, record
/// size (types + sample) when every column type is modelled, else leaf pages. Without a sample, variable-length columns count as empty (an upper bound of the reclaim).
/// `key_block_size=8` of lower-cased `CREATE_OPTIONS`, in KiB.
fn key_block_kib(options: &str) -> Option<u64> {
    let (_, rest) = options.split_once("key_block_size=")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
        .filter(|&k| k > 0)
}

impl Partial {
    /// A `ROW_FORMAT=COMPRESSED` table's physical page size: `KEY_BLOCK_SIZE`, by default half
    /// the page (InnoDB's default of 8 KiB on 16 KiB pages).
    fn compressed_page(&self, page_size: u64) -> Option<u64> {
        self.row_format
            .eq_ignore_ascii_case("compressed")
            .then(|| self.key_block_kib.map_or(page_size / 2, |k| k * 1024))
            .filter(|&z| z > 0 && z < page_size)
    }
}

/// [`estimate_from_pages`], with a compressed table's pages at their physical size ([`physical`]): a rebuild
/// fills each logical page as it would uncompressed and stores it in one `KEY_BLOCK_SIZE`
/// block (data that does not compress that far is split into more pages, so for it this
/// overstates the reclaim). Measured on MariaDB 10.11, `KEY_BLOCK_SIZE=8`, 80 % of the rows
/// deleted: a 25 MiB file rebuilt to 5 MiB; this model says 5.75 MiB, the uncompressed one
/// 11.5 MiB.
fn estimate_with(
    p: &Partial,
    shape: &TableShape,
    sample: Option<&Sample>,
    file_size: u64,
) -> Estimate {
    physical(
        p,
        shape.page_size,
        file_size,
        estimate_from_pages(p, shape, sample, file_size),
    )
}

/// `e`, made with pages of `page_size`, with a compressed table's pages at their physical size.
fn physical(p: &Partial, page_size: u64, file_size: u64, e: Estimate) -> Estimate {
    match (e.method, p.compressed_page(page_size)) {
        (EstimateMethod::RecordSize | EstimateMethod::LeafPages, Some(zip)) => {
            let scale = |b: u64| (b as u128 * zip as u128 / page_size as u128) as u64;
            Estimate {
                uncertain: e.uncertain.map(|u| RowsUncertain {
                    reclaim_with_statistics: file_size
                        .saturating_sub(scale(file_size.saturating_sub(u.reclaim_with_statistics))),
                    ..u
                }),
                ..Estimate::new(file_size, scale(e.rebuilt_bytes), e.method)
            }
        }
        _ => e,
    }
}

/// The estimate with every page of `shape.page_size` bytes.
fn estimate_from_pages(
    p: &Partial,
    shape: &TableShape,
    sample: Option<&Sample>,
    file_size: u64,
) -> Estimate {
    if p.leaf_pages.is_empty() {
        // No persistent statistics: DATA_FREE is all there is.
        return Estimate::new(
            file_size,
            file_size.saturating_sub(p.data_free.min(file_size)),
            EstimateMethod::DataFree,
        );
    }
    match shape.record_sizes(sample) {
        Some(sizes) => {
            let parts = rows_per_part(p);
            let rebuilt = |rows: &[f64]| -> u64 {
                rows.iter()
                    .map(|&r| rebuilt_bytes(&sizes, r, shape.page_size))
                    .sum()
            };
            let by_statistics =
                Estimate::new(file_size, rebuilt(&parts), EstimateMethod::RecordSize);
            let counted: f64 = parts.iter().sum();
            match sample.and_then(|s| s.rows_by_key) {
                Some(by_key) if by_key > counted.max(1.0) * ROWS_DISAGREE => {
                    // No more rows than the clustered index's leaf pages could hold full.
                    let leaf = p.leaf_pages.get(&sizes.indexes[0].0).copied().unwrap_or(0);
                    let most = leaf as f64 * (shape.page_size - 128) as f64 / sizes.indexes[0].1;
                    let rows = by_key.min(most.max(counted));
                    // Spread over the parts as the statistics do, or evenly without any.
                    let spread: Vec<f64> = if counted >= 1.0 {
                        parts.iter().map(|r| r * rows / counted).collect()
                    } else {
                        vec![rows / parts.len() as f64; parts.len()]
                    };
                    let mut e =
                        Estimate::new(file_size, rebuilt(&spread), EstimateMethod::RecordSize);
                    if e.reclaim_bytes < by_statistics.reclaim_bytes {
                        e.uncertain = Some(RowsUncertain {
                            statistics_rows: counted.round() as u64,
                            sampled_rows: rows.round() as u64,
                            reclaim_with_statistics: by_statistics.reclaim_bytes,
                        });
                    }
                    e
                }
                _ => by_statistics,
            }
        }
        None => leaf_estimate(p, shape.page_size, file_size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_scan_is_seven_statements_whatever_the_table_count() {
        let s = catalog::scan_statements(Flavor::MariaDb);
        assert_eq!(s.len(), 7);
        assert!(
            s.iter().all(|q| !q.contains('?')),
            "no per-table parameters"
        );
    }

    fn rows(
        rs: Vec<Vec<(&'static str, &'static str)>>,
    ) -> futures::stream::BoxStream<'static, Result<Row>> {
        let rows: Vec<Result<Row>> = rs
            .into_iter()
            .map(|r| Ok(Row::from_pairs(r.into_iter().map(|(k, v)| (k, Some(v))))))
            .collect();
        futures::stream::iter(rows).boxed()
    }

    /// Phase 1 merges the dictionary's two row sets by tablespace id and keeps what phase 2 is
    /// to read: tables whose files (partitions summed) reach the threshold, and obstacles.
    #[tokio::test]
    async fn phase_one_keeps_what_could_qualify_and_what_the_plan_skips() {
        const MIB: &str = "1048576";
        let mut tables = rows(vec![
            vec![("NAME", "s/sys"), ("SPACE", "0")],
            vec![("NAME", "s/shared_too"), ("SPACE", "0")],
            vec![("NAME", "s/small"), ("SPACE", "3")],
            vec![("NAME", "s/big"), ("SPACE", "4")],
            vec![("NAME", "s/p#P#p0"), ("SPACE", "5")],
            vec![("NAME", "s/p#P#p1"), ("SPACE", "6")],
            vec![("NAME", "s/gone"), ("SPACE", "7")],
            vec![("NAME", "other/big"), ("SPACE", "8")],
        ]);
        let space = |id: &'static str, name: &'static str, size: &'static str| {
            vec![
                ("SPACE", id),
                ("SPACE_NAME", name),
                ("FILE_SIZE", size),
                ("ALLOCATED_SIZE", size),
            ]
        };
        let spaces_of = || {
            rows(vec![
                space("0", "innodb_system", "79691776"),
                space("3", "s/small", MIB),
                space("4", "s/big", "8388608"),
                space("5", "s/p#P#p0", "3145728"),
                space("6", "s/p#P#p1", "3145728"),
                space("8", "other/big", "8388608"),
            ])
        };
        let filter = TableFilter {
            databases: vec!["s".into()],
            ..Default::default()
        };
        let d = phase1(
            &mut tables,
            &mut spaces_of(),
            &filter,
            Phase2::FilesOfAtLeast(5 << 20),
        )
        .await
        .unwrap();
        assert_eq!(
            d.seen, 6,
            "six tables of the filter (the partitioned one once)"
        );
        // small 1 MiB + big 8 MiB + p 2 × 3 MiB; the shared tablespace is not theirs.
        assert_eq!(d.file_bytes, 15 << 20);
        let kept: Vec<&str> = d.tables.keys().map(|(_, t)| t.as_str()).collect();
        assert_eq!(kept, ["big", "gone", "p", "shared_too", "sys"]);
        assert_eq!(d.tables[&("s".into(), "p".into())].file_bytes(), 6 << 20);
        assert!(d.tables[&("s".into(), "gone".into())].placements.is_empty());
        // Five of six would be named: one unrestricted statement instead, keeping those five.
        let r = d.reading();
        assert!(matches!(r.statements, Statements::All) && r.kept_only);

        let mut tables = rows(vec![vec![("NAME", "s/small"), ("SPACE", "3")]]);
        let d = phase1(
            &mut tables,
            &mut spaces_of(),
            &filter,
            Phase2::FilesOfAtLeast(5 << 20),
        )
        .await
        .unwrap();
        assert!(d.tables.is_empty());
        let r = d.reading();
        assert!(matches!(&r.statements, Statements::Naming(c) if c.is_empty()));
    }

    #[test]
    fn a_compressed_table_is_stored_in_its_key_block_size() {
        assert_eq!(
            key_block_kib("row_format=compressed key_block_size=4"),
            Some(4)
        );
        assert_eq!(key_block_kib("partitioned"), None);
        let p = |row_format: &str, kib| Partial {
            row_format: row_format.into(),
            key_block_kib: kib,
            ..Default::default()
        };
        assert_eq!(p("Compressed", Some(4)).compressed_page(16384), Some(4096));
        assert_eq!(p("Compressed", None).compressed_page(16384), Some(8192));
        assert_eq!(p("Dynamic", Some(8)).compressed_page(16384), None);
        let e = Estimate::new(1 << 24, 1 << 23, EstimateMethod::RecordSize);
        let z = physical(&p("Compressed", Some(8)), 16384, 1 << 24, e);
        assert_eq!(
            (z.rebuilt_bytes, z.reclaim_bytes),
            (1 << 22, (1 << 24) - (1 << 22))
        );
        let d = Estimate::new(1 << 24, 1 << 23, EstimateMethod::DataFree);
        assert_eq!(physical(&p("Compressed", Some(8)), 16384, 1 << 24, d), d);
    }

    /// A table of (INT pk, TEXT) whose statistics count 1,000 rows.
    fn counted_table(index_rows: &[(&str, u64)]) -> (Partial, Vec<Column>, Vec<Index>) {
        let columns = vec![
            Column {
                name: "id".into(),
                data_type: "int".into(),
                column_type: "int".into(),
                nullable: false,
                char_max_length: None,
                octet_length: None,
                numeric_precision: None,
                numeric_scale: None,
                datetime_precision: None,
            },
            Column {
                name: "b".into(),
                data_type: "text".into(),
                column_type: "text".into(),
                nullable: true,
                char_max_length: Some(65535),
                octet_length: Some(65535),
                numeric_precision: None,
                numeric_scale: None,
                datetime_precision: None,
            },
        ];
        let indexes = vec![Index {
            name: "PRIMARY".into(),
            unique: true,
            kind: IndexKind::BTree,
            columns: vec![("id".into(), None)],
        }];
        let p = Partial {
            row_format: "Dynamic".into(),
            table_rows: 1000,
            placements: vec![(
                false,
                Placement::FilePerTable {
                    file_size: 1 << 30,
                    allocated_size: 1 << 30,
                },
            )],
            n_rows: BTreeMap::from([("t".to_string(), 1000)]),
            leaf_pages: BTreeMap::from([("PRIMARY".to_string(), 60_000)]),
            index_rows: index_rows
                .iter()
                .map(|(i, n)| (("t".to_string(), i.to_string()), (1, *n)))
                .collect(),
            ..Default::default()
        };
        (p, columns, indexes)
    }

    /// Every index counts the rows from its own sample of pages; the median is used.
    #[test]
    fn rows_are_the_median_of_every_index_count() {
        let (p, ..) = counted_table(&[("PRIMARY", 1300), ("k1", 1000), ("k2", 1100)]);
        assert_eq!(rows_per_part(&p), vec![1100.0]);
        let (p, ..) = counted_table(&[]);
        assert_eq!(rows_per_part(&p), vec![1000.0]);
    }

    /// The statistics count 1,000 rows, the sample's key density 4,000 (deletes not purged
    /// yet, or BLOB pages taken for leaves): the estimate uses 4,000 and says what 1,000 would
    /// have given; a count that agrees within 25 % is taken as it is.
    #[test]
    fn statistics_counting_fewer_rows_than_the_sample_make_the_estimate_uncertain() {
        let (p, columns, indexes) = counted_table(&[]);
        let shape = TableShape {
            columns: &columns,
            indexes: &indexes,
            page_size: 16384,
            row_format: RowFormat::Dynamic,
        };
        let sample = |rows_by_key| Sample {
            rows: 100,
            in_record: HashMap::from([("b".to_string(), 20.0)]),
            off_page: HashMap::from([("b".to_string(), 16384.0)]),
            null_fraction: HashMap::from([("b".to_string(), 0.0)]),
            rows_by_key,
        };
        let sure = estimate_from_pages(&p, &shape, Some(&sample(Some(1200.0))), 1 << 30);
        assert_eq!(sure.uncertain, None);
        let e = estimate_from_pages(&p, &shape, Some(&sample(Some(4000.0))), 1 << 30);
        let u = e.uncertain.expect("uncertain");
        assert_eq!((u.statistics_rows, u.sampled_rows), (1000, 4000));
        assert_eq!(u.reclaim_with_statistics, sure.reclaim_bytes);
        assert!(e.reclaim_bytes < sure.reclaim_bytes, "{e:?} {sure:?}");
    }

    /// Statistics rows hold decoded names, a partition's as `t#P#p0`; a table literally named
    /// `t#P#x` (MariaDB writes its row as `t#P#x`) keeps its own rows, and a partitioned table
    /// whose name holds `#P#` gets its partitions' rows.
    #[test]
    fn statistics_rows_go_to_the_table_they_name() {
        let mut m = TableMap::default();
        // Each table is told by its row_format here.
        for (name, partitioned) in [
            ("t", true),
            ("t#P#x", false),
            ("u#P#y", true),
            ("café", false),
        ] {
            let p = Partial {
                row_format: name.into(),
                partitioned,
                ..Default::default()
            };
            m.insert("s", name, p);
        }
        let mut owner = |t: &str| {
            let r = Row::from_pairs([("database_name", Some("s")), ("table_name", Some(t))]);
            m.of_stats_row(&r).map(|p| p.row_format.clone())
        };
        assert_eq!(owner("t#P#p0").as_deref(), Some("t"));
        assert_eq!(owner("t#p#p1#sp#s0").as_deref(), Some("t"));
        assert_eq!(owner("t#P#x").as_deref(), Some("t#P#x"));
        assert_eq!(owner("u#P#y#P#p0").as_deref(), Some("u#P#y"));
        assert_eq!(owner("café").as_deref(), Some("café"));
        assert_eq!(
            owner("t"),
            None,
            "a partitioned table has rows per partition only"
        );
        assert_eq!(owner("gone#P#p0"), None);
    }
}
