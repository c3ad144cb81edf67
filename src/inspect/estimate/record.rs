//! How InnoDB lays a table's records out: column widths by type, the `ROW_FORMAT`'s headers and
//! NULL handling, and, row by row from a sample, which long columns go to BLOB pages
//! ([`Sample::measure`]) → the bytes per record of every index ([`TableShape::record_sizes`]).

use std::collections::HashMap;

/// How InnoDB lays out a table's records (`ROW_FORMAT`; COMPRESSED lays them out as DYNAMIC
/// and stores the pages compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowFormat {
    Redundant,
    Compact,
    #[default]
    Dynamic,
    Compressed,
}

impl RowFormat {
    /// `ROW_FORMAT` as `information_schema.TABLES` spells it; anything else is DYNAMIC, the
    /// default since MySQL 5.7 and MariaDB 10.2.
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "redundant" => Self::Redundant,
            "compact" => Self::Compact,
            "compressed" => Self::Compressed,
            _ => Self::Dynamic,
        }
    }

    /// Whether a column stored off-page keeps its first 768 bytes in the record (the Antelope
    /// formats) rather than only the 20-byte pointer.
    fn keeps_prefix(self) -> bool {
        matches!(self, Self::Redundant | Self::Compact)
    }
}

/// A column as the catalog describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// Lower-case `DATA_TYPE` (`int`, `varchar`, …).
    pub data_type: String,
    /// Full `COLUMN_TYPE` (`enum('a','b')`, `decimal(10,2)`, …).
    pub column_type: String,
    pub nullable: bool,
    pub char_max_length: Option<u64>,
    pub octet_length: Option<u64>,
    pub numeric_precision: Option<u64>,
    pub numeric_scale: Option<u64>,
    pub datetime_precision: Option<u64>,
}

/// Kind of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    BTree,
    FullText,
    Spatial,
}

/// An index: its columns (with prefix length in characters) and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    pub kind: IndexKind,
    pub columns: Vec<(String, Option<u64>)>,
}

/// Storage of a column inside a record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Width {
    /// Always this many bytes (when not NULL).
    Fixed(f64),
    /// Length varies; `max_octets` decides 1 or 2 length bytes.
    Variable { max_octets: u64 },
}

fn decimal_bytes(digits: u64) -> u64 {
    const LEFTOVER: [u64; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    (digits / 9) * 4 + LEFTOVER[(digits % 9) as usize]
}

fn fsp_bytes(fsp: u64) -> u64 {
    fsp.div_ceil(2)
}

impl Column {
    /// Whether the column holds integers (`TINYINT` to `BIGINT`).
    pub fn is_integer(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
        )
    }

    /// Whether the column is a BLOB, TEXT, JSON or spatial type, which may always be stored
    /// off-page.
    pub fn is_lob(&self) -> bool {
        self.data_type.ends_with("blob")
            || self.data_type.ends_with("text")
            || matches!(self.data_type.as_str(), "json" | "geometry")
    }

    /// How the column is stored in COMPACT/DYNAMIC records. `None` for a type whose storage
    /// the model does not know.
    pub fn width(&self) -> Option<Width> {
        let fsp = self.datetime_precision.unwrap_or(0);
        let fixed = |b: u64| Some(Width::Fixed(b as f64));
        let var = || {
            Some(Width::Variable {
                max_octets: self.octet_length.unwrap_or(u64::MAX),
            })
        };
        match self.data_type.as_str() {
            "tinyint" | "bool" | "boolean" | "year" => fixed(1),
            "smallint" => fixed(2),
            "mediumint" | "date" => fixed(3),
            "int" | "integer" | "float" | "inet4" => fixed(4),
            "bigint" | "double" | "real" => fixed(8),
            "decimal" | "numeric" => {
                let p = self.numeric_precision.unwrap_or(10);
                let s = self.numeric_scale.unwrap_or(0).min(p);
                fixed(decimal_bytes(p - s) + decimal_bytes(s))
            }
            "time" => fixed(3 + fsp_bytes(fsp)),
            "datetime" => fixed(5 + fsp_bytes(fsp)),
            "timestamp" => fixed(4 + fsp_bytes(fsp)),
            "bit" => fixed(self.numeric_precision.unwrap_or(1).div_ceil(8)),
            "enum" => fixed(if self.column_type.matches('\'').count() / 2 > 255 {
                2
            } else {
                1
            }),
            "set" => {
                let members = (self.column_type.matches('\'').count() / 2) as u64;
                fixed(match members.div_ceil(8) {
                    0..=1 => 1,
                    2 => 2,
                    3 => 3,
                    4 => 4,
                    _ => 8,
                })
            }
            "uuid" | "inet6" => fixed(16),
            "binary" => fixed(self.octet_length.unwrap_or(1)),
            // CHAR in a single-byte charset is fixed; in a multi-byte one (utf8mb4) InnoDB
            // stores it like a VARCHAR of at least n bytes.
            "char" => match (self.char_max_length, self.octet_length) {
                (Some(c), Some(o)) if c == o => fixed(o),
                _ => var(),
            },
            "varchar" | "varbinary" | "tinytext" | "text" | "mediumtext" | "longtext"
            | "tinyblob" | "blob" | "mediumblob" | "longblob" | "json" | "geometry" | "point"
            | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon"
            | "geometrycollection" | "geomcollection" | "vector" => var(),
            _ => None,
        }
    }
}

/// Lengths measured by reading a bounded sample of rows ([`TableShape::sampled_columns`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Rows read.
    pub rows: u64,
    /// Per variable-length column: average bytes kept inside the record (NULL counts 0; a
    /// value stored off-page counts its pointer and prefix).
    pub in_record: HashMap<String, f64>,
    /// Per variable-length column: average bytes of BLOB pages per row (whole pages).
    pub off_page: HashMap<String, f64>,
    /// Per sampled column: fraction of NULLs.
    pub null_fraction: HashMap<String, f64>,
    /// The table's rows as the density of the sampled primary-key ranges says (a key that
    /// starts with an integer column), to check the statistics' count against.
    pub rows_by_key: Option<f64>,
}

/// The 20-byte reference a record keeps of a value stored off-page.
const EXTERN_REF: u64 = 20;
/// The prefix of an off-page value COMPACT and REDUNDANT keep in the record.
const ANTELOPE_PREFIX: u64 = 768;
/// A value no longer than this is never moved off-page (InnoDB's `BTR_EXTERN_LOCAL_STORED_MAX_SIZE`).
const EXTERN_MIN: u64 = 2 * EXTERN_REF;

/// The longest record a page keeps inside: half the free space of an empty page (8,126 bytes
/// at 16 KiB, as InnoDB's "Row size too large (> 8126)" says).
fn max_record(page_size: u64) -> u64 {
    (page_size - 132) / 2
}

/// Data bytes of one BLOB page: less the FIL header and trailer and the 8-byte BLOB header.
fn blob_page_data(page_size: u64) -> u64 {
    page_size - 38 - 8 - 8
}

impl Sample {
    /// Measures sampled rows as `shape` stores them: each row gives the byte length (`LENGTH`)
    /// of each of [`TableShape::sampled_columns`], in that order, `None` for NULL. A row whose
    /// record would be longer than [`max_record`] has its longest long columns moved off-page
    /// one at a time until it fits, as InnoDB's `dtuple_convert_big_rec` does.
    pub fn measure<R: AsRef<[Option<u64>]>>(shape: &TableShape<'_>, rows: &[R]) -> Sample {
        let cols = shape.sampled_columns();
        let format = shape.row_format;
        let limit = max_record(shape.page_size);
        let blob = blob_page_data(shape.page_size);
        let key: Vec<&str> = shape
            .clustered()
            .map(|i| i.columns.iter().map(|(c, _)| c.as_str()).collect())
            .unwrap_or_default();
        // The record without its sampled columns: header, NULL bitmap, hidden columns and the
        // fixed-width columns that are never NULL.
        let redundant = format == RowFormat::Redundant;
        let nullable = shape.columns.iter().filter(|c| c.nullable).count() as u64;
        let n_fields = shape.columns.len() as u64 + 2 + u64::from(shape.clustered().is_none());
        let mut base = if redundant {
            6 + 2 * n_fields
        } else {
            5 + nullable.div_ceil(8)
        } + 13
            + if shape.clustered().is_none() { 6 } else { 0 };
        for c in shape.columns {
            if let (Some(Width::Fixed(b)), false) = (shape.width_of(c), cols.contains(&c)) {
                base += b as u64;
            }
        }
        let n = cols.len();
        let (mut local, mut off, mut nulls) = (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
        // Per row: (stored length, whether it may go off-page, moved off-page).
        let mut fields: Vec<(u64, bool, bool)> = Vec::with_capacity(n);
        for row in rows {
            let row = row.as_ref();
            fields.clear();
            let mut size = base;
            for (i, c) in cols.iter().enumerate() {
                let len = row.get(i).copied().flatten();
                nulls[i] += u64::from(len.is_none());
                match shape.width_of(c) {
                    Some(Width::Fixed(b)) => {
                        // Only nullable fixed-width columns are sampled (for their NULLs).
                        let stored = if len.is_some() || redundant {
                            b as u64
                        } else {
                            0
                        };
                        size += stored;
                        fields.push((stored, false, false));
                    }
                    Some(Width::Variable { max_octets }) => {
                        let mut stored = len.unwrap_or(0);
                        if c.data_type == "char" && len.is_some() {
                            // Padded to at least one byte per character.
                            stored = stored.max(c.char_max_length.unwrap_or(0));
                        }
                        let header = match (redundant, len) {
                            (true, _) | (false, None) => 0,
                            (false, Some(_)) if max_octets <= 255 || stored < 128 => 1,
                            _ => 2,
                        };
                        size += stored + header;
                        let long = max_octets > 255 || c.is_lob();
                        let movable = long && !key.iter().any(|k| k.eq_ignore_ascii_case(&c.name));
                        fields.push((stored, movable, false));
                    }
                    None => fields.push((0, false, false)),
                }
            }
            let kept = if format.keeps_prefix() {
                ANTELOPE_PREFIX + EXTERN_REF
            } else {
                EXTERN_REF
            };
            while size > limit {
                let longest = fields
                    .iter()
                    .enumerate()
                    .filter(|(_, (len, movable, moved))| {
                        *movable && !moved && *len > EXTERN_MIN && *len > kept
                    })
                    .max_by_key(|(_, (len, ..))| *len)
                    .map(|(i, _)| i);
                let Some(i) = longest else { break };
                let len = fields[i].0;
                size -= len - kept;
                fields[i] = (kept, true, true);
                let outside = len - (kept - EXTERN_REF);
                off[i] += outside.div_ceil(blob) * shape.page_size;
            }
            for (i, (len, ..)) in fields.iter().enumerate() {
                local[i] += len;
            }
        }
        let count = rows.len() as u64;
        let mut out = Sample {
            rows: count,
            ..Default::default()
        };
        if count == 0 {
            return out;
        }
        let avg = |x: u64| x as f64 / count as f64;
        for (i, c) in cols.iter().enumerate() {
            out.null_fraction.insert(c.name.clone(), avg(nulls[i]));
            if matches!(shape.width_of(c), Some(Width::Variable { .. })) {
                out.in_record.insert(c.name.clone(), avg(local[i]));
                out.off_page.insert(c.name.clone(), avg(off[i]));
            }
        }
        out
    }
}

/// What the model needs of one table.
#[derive(Debug, Clone)]
pub struct TableShape<'a> {
    pub columns: &'a [Column],
    pub indexes: &'a [Index],
    pub page_size: u64,
    pub row_format: RowFormat,
}

/// Per-row bytes of each index: leaf record size and (for the clustered index) off-page bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSizes {
    /// (index name, bytes per leaf record); the clustered index first.
    pub indexes: Vec<(String, f64)>,
    /// Off-page bytes per row.
    pub off_page: f64,
}

const RECORD_HEADER: f64 = 5.0;
const TRX_ID_ROLL_PTR: f64 = 13.0;
const ROW_ID: f64 = 6.0;
/// One 2-byte page-directory slot per 4–8 records.
const DIRECTORY_PER_RECORD: f64 = 2.0 / 6.0;

impl TableShape<'_> {
    fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The clustered index: PRIMARY, else the first UNIQUE index on NOT NULL columns.
    pub fn clustered(&self) -> Option<&Index> {
        self.indexes
            .iter()
            .find(|i| i.name == "PRIMARY")
            .or_else(|| {
                self.indexes.iter().find(|i| {
                    i.unique
                        && i.kind == IndexKind::BTree
                        && i.columns
                            .iter()
                            .all(|(c, _)| self.column(c).is_some_and(|c| !c.nullable))
                })
            })
    }

    /// How a column is stored in this table's records: as [`Column::width`] says, except that
    /// REDUNDANT stores a CHAR in a multi-byte charset in its full width.
    pub fn width_of(&self, c: &Column) -> Option<Width> {
        match (self.row_format, c.data_type.as_str(), c.width()) {
            (RowFormat::Redundant, "char", Some(Width::Variable { max_octets })) => {
                Some(Width::Fixed(max_octets as f64))
            }
            (_, _, w) => w,
        }
    }

    /// The columns a sample measures: the variable-length ones (their lengths) and the
    /// nullable fixed-width ones (how often they are NULL).
    pub fn sampled_columns(&self) -> Vec<&Column> {
        self.columns
            .iter()
            .filter(|c| match self.width_of(c) {
                Some(Width::Variable { .. }) => true,
                Some(Width::Fixed(_)) => c.nullable,
                None => false,
            })
            .collect()
    }

    /// Whether every column has a known storage width.
    pub fn types_known(&self) -> bool {
        self.columns.iter().all(|c| c.width().is_some())
    }

    /// Average (in-record bytes, length-header bytes) of a column. Without a sample a
    /// variable-length column counts as empty and a nullable one as NULL (the estimate is then
    /// an upper bound of the reclaim).
    fn stored(&self, c: &Column, sample: Option<&Sample>) -> (f64, f64) {
        let redundant = self.row_format == RowFormat::Redundant;
        let nulls = match sample {
            Some(s) => s.null_fraction.get(&c.name).copied().unwrap_or(0.0),
            None if c.nullable => 1.0,
            None => 0.0,
        };
        match self.width_of(c) {
            // REDUNDANT keeps a fixed-width column's bytes even when it is NULL.
            Some(Width::Fixed(b)) if redundant => (b, 0.0),
            Some(Width::Fixed(b)) => (b * (1.0 - nulls), 0.0),
            Some(Width::Variable { max_octets }) => {
                let len = sample
                    .and_then(|s| s.in_record.get(&c.name))
                    .copied()
                    .unwrap_or(0.0);
                let header = if redundant {
                    0.0
                } else if max_octets <= 255 || len < 128.0 {
                    1.0
                } else {
                    2.0
                };
                (len, header * (1.0 - nulls))
            }
            None => (0.0, 0.0),
        }
    }

    /// Bytes of a record of `cols` plus `extra` bytes in `hidden` hidden fields.
    fn record_bytes(
        &self,
        cols: &[(&Column, Option<u64>)],
        (extra, hidden): (f64, usize),
        sample: Option<&Sample>,
    ) -> f64 {
        let mut data = extra;
        let mut headers = 0.0;
        for (c, prefix_chars) in cols {
            let (mut len, header) = self.stored(c, sample);
            if let Some(p) = prefix_chars {
                let per_char = match (c.octet_length, c.char_max_length) {
                    (Some(o), Some(ch)) if ch > 0 => o as f64 / ch as f64,
                    _ => 1.0,
                };
                len = len.min(*p as f64 * per_char);
            }
            data += len;
            headers += header;
        }
        let header = if self.row_format == RowFormat::Redundant {
            // 6 bytes and a field-end offset per field, one byte each in short records.
            let offset = if data <= 127.0 { 1.0 } else { 2.0 };
            6.0 + offset * (cols.len() + hidden) as f64
        } else {
            let nullable = cols.iter().filter(|(c, _)| c.nullable).count();
            RECORD_HEADER + (nullable as f64 / 8.0).ceil() + headers
        };
        header + data + DIRECTORY_PER_RECORD
    }

    /// Record sizes of every index; variable-length columns the sample does not cover count as
    /// empty (a lower bound of the size). `None` when a column type is unknown.
    pub fn record_sizes(&self, sample: Option<&Sample>) -> Option<RecordSizes> {
        if !self.types_known() {
            return None;
        }
        let clustered = self.clustered();
        let key_cols: Vec<&Column> = clustered
            .map(|i| {
                i.columns
                    .iter()
                    .filter_map(|(c, _)| self.column(c))
                    .collect()
            })
            .unwrap_or_default();
        let all: Vec<(&Column, Option<u64>)> = self.columns.iter().map(|c| (c, None)).collect();
        let has_fulltext = self.indexes.iter().any(|i| i.kind == IndexKind::FullText);
        let hidden = (
            TRX_ID_ROLL_PTR
                + if clustered.is_none() { ROW_ID } else { 0.0 }
                + if has_fulltext { 8.0 } else { 0.0 },
            2 + usize::from(clustered.is_none()) + usize::from(has_fulltext),
        );
        let mut out = vec![(
            clustered.map_or("GEN_CLUST_INDEX".to_string(), |i| i.name.clone()),
            self.record_bytes(&all, hidden, sample),
        )];
        let pk_bytes = if clustered.is_none() { ROW_ID } else { 0.0 };
        for idx in self.indexes.iter().filter(|i| Some(*i) != clustered) {
            match idx.kind {
                // FULLTEXT lives in its own FTS_* tablespaces; the main file keeps only
                // FTS_DOC_ID_INDEX (8-byte doc id + 8-byte key).
                IndexKind::FullText => {
                    if !out.iter().any(|(n, _)| n == "FTS_DOC_ID_INDEX") {
                        out.push((
                            "FTS_DOC_ID_INDEX".into(),
                            RECORD_HEADER + 16.0 + DIRECTORY_PER_RECORD,
                        ));
                    }
                }
                kind => {
                    let mut cols: Vec<(&Column, Option<u64>)> = idx
                        .columns
                        .iter()
                        .filter_map(|(c, p)| self.column(c).map(|c| (c, *p)))
                        .collect();
                    if kind == IndexKind::Spatial {
                        // An R-tree leaf keeps the 32-byte MBR and the primary key.
                        cols.clear();
                    }
                    for k in &key_cols {
                        if !cols.iter().any(|(c, _)| c.name == k.name) {
                            cols.push((k, None));
                        }
                    }
                    let mbr = if kind == IndexKind::Spatial {
                        32.0
                    } else {
                        0.0
                    };
                    let hidden = usize::from(clustered.is_none()) + usize::from(mbr > 0.0);
                    out.push((
                        idx.name.clone(),
                        self.record_bytes(&cols, (pk_bytes + mbr, hidden), sample),
                    ));
                }
            }
        }
        let off_page = sample.map(|s| s.off_page.values().sum()).unwrap_or(0.0);
        Some(RecordSizes {
            indexes: out,
            off_page,
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn col(name: &str, ty: &str, nullable: bool) -> Column {
        let (octets, chars) = match ty {
            "varchar" => (Some(1600), Some(400)),
            "char" => (Some(10), Some(10)),
            _ => (None, None),
        };
        Column {
            name: name.into(),
            data_type: ty.into(),
            column_type: ty.into(),
            nullable,
            char_max_length: chars,
            octet_length: octets,
            numeric_precision: None,
            numeric_scale: None,
            datetime_precision: None,
        }
    }

    pub(crate) fn idx(name: &str, cols: &[&str], unique: bool) -> Index {
        Index {
            name: name.into(),
            unique,
            kind: IndexKind::BTree,
            columns: cols.iter().map(|c| (c.to_string(), None)).collect(),
        }
    }

    #[test]
    fn decimal_and_temporal_widths() {
        let mut d = col("d", "decimal", false);
        d.numeric_precision = Some(10);
        d.numeric_scale = Some(2);
        assert_eq!(d.width(), Some(Width::Fixed(5.0))); // 8 int digits: 4 bytes, 2 frac: 1
        let mut t = col("t", "datetime", false);
        t.datetime_precision = Some(6);
        assert_eq!(t.width(), Some(Width::Fixed(8.0)));
        assert_eq!(col("c", "char", false).width(), Some(Width::Fixed(10.0)));
        assert!(matches!(
            col("v", "varchar", false).width(),
            Some(Width::Variable { .. })
        ));
        assert_eq!(col("x", "mystery", false).width(), None);
    }

    #[test]
    fn no_primary_key_uses_a_unique_not_null_key_or_the_row_id() {
        let columns = vec![col("a", "int", false), col("b", "int", true)];
        let with_unique = vec![idx("ua", &["a"], true)];
        let shape = TableShape {
            columns: &columns,
            indexes: &with_unique,
            page_size: 16_384,
            row_format: RowFormat::Dynamic,
        };
        assert_eq!(shape.clustered().unwrap().name, "ua");
        let none: Vec<Index> = vec![];
        let shape = TableShape {
            columns: &columns,
            indexes: &none,
            page_size: 16_384,
            row_format: RowFormat::Dynamic,
        };
        let s = shape.record_sizes(None).unwrap();
        assert_eq!(s.indexes[0].0, "GEN_CLUST_INDEX");
    }

    fn text(name: &str) -> Column {
        Column {
            octet_length: Some(65_535),
            char_max_length: Some(65_535),
            ..col(name, "text", true)
        }
    }

    fn shape_of<'a>(columns: &'a [Column], indexes: &'a [Index], f: RowFormat) -> TableShape<'a> {
        TableShape {
            columns,
            indexes,
            page_size: 16_384,
            row_format: f,
        }
    }

    /// Three 3,000-byte TEXT values make a row longer than half a page although none is long:
    /// DYNAMIC moves one off-page (a whole BLOB page for it, 20 bytes left in the record);
    /// with a 22,400-byte value too, that one goes first and then one more.
    #[test]
    fn a_row_longer_than_half_a_page_moves_its_longest_columns_off_page() {
        let columns = vec![
            col("id", "int", false),
            text("a"),
            text("b"),
            text("c"),
            text("d"),
        ];
        let indexes = vec![idx("PRIMARY", &["id"], true)];
        let shape = shape_of(&columns, &indexes, RowFormat::Dynamic);
        let s = Sample::measure(&shape, &[[Some(3000), Some(3000), Some(3000), None]]);
        let local: f64 = s.in_record.values().sum();
        let off: f64 = s.off_page.values().sum();
        assert_eq!((local, off), (6020.0, 16_384.0), "{s:?}");
        let s = Sample::measure(
            &shape,
            &[[Some(3000), Some(3000), Some(3000), Some(22_400)]],
        );
        let local: f64 = s.in_record.values().sum();
        let off: f64 = s.off_page.values().sum();
        assert_eq!((local, off), (6040.0, 3.0 * 16_384.0), "{s:?}");
        assert_eq!(s.null_fraction["d"], 0.0);
        // A row that fits stays in the record.
        let s = Sample::measure(&shape, &[[Some(100), Some(100), None, None]]);
        assert_eq!(s.off_page.values().sum::<f64>(), 0.0);
    }

    /// COMPACT and REDUNDANT keep the first 768 bytes of an off-page value in the record.
    #[test]
    fn the_antelope_formats_keep_a_prefix_of_an_off_page_value() {
        let columns = vec![col("id", "int", false), text("body")];
        let indexes = vec![idx("PRIMARY", &["id"], true)];
        let shape = shape_of(&columns, &indexes, RowFormat::Compact);
        let s = Sample::measure(&shape, &[[Some(12_800)]]);
        assert_eq!(s.in_record["body"], 788.0);
        assert_eq!(s.off_page["body"], 16_384.0);
    }

    /// CHAR(n) in a multi-byte charset: COMPACT/DYNAMIC store at least n bytes, REDUNDANT its
    /// full width even when NULL, and a NULL fixed-width column takes nothing in COMPACT.
    #[test]
    fn char_and_null_storage_follow_the_row_format() {
        let code = Column {
            char_max_length: Some(40),
            octet_length: Some(160),
            ..col("code", "char", true)
        };
        let columns = vec![col("id", "int", false), code, col("n", "bigint", true)];
        let indexes = vec![idx("PRIMARY", &["id"], true)];
        let dynamic = shape_of(&columns, &indexes, RowFormat::Dynamic);
        assert_eq!(dynamic.sampled_columns().len(), 2);
        let s = Sample::measure(&dynamic, &[[Some(4), None], [Some(60), Some(8)]]);
        assert_eq!(s.in_record["code"], 50.0);
        assert_eq!(s.null_fraction["n"], 0.5);
        let sizes = dynamic.record_sizes(Some(&s)).unwrap();
        let redundant = shape_of(&columns, &indexes, RowFormat::Redundant);
        assert_eq!(redundant.width_of(&columns[1]), Some(Width::Fixed(160.0)));
        let r = redundant.record_sizes(Some(&s)).unwrap();
        // 4 + 160 + 8 bytes of data, 6 of header, 2 per field (5 fields with the hidden two).
        assert!(
            (r.indexes[0].1 - (13.0 + 172.0 + 6.0 + 10.0)).abs() < 1.0,
            "{r:?}"
        );
        assert!(sizes.indexes[0].1 < r.indexes[0].1, "{sizes:?} {r:?}");
    }
}
