//! Tables whose names the server writes in its filename encoding with compact codes (`café` is
//! the file `caf@0p`, `Ωmega` is `@7Pmega`) are found by `plan` with their own file sizes and
//! rebuilt by `apply`; a table literally named like another table's encoded form (`caf@0p`,
//! written `caf@00400p`) keeps its own size. Sizes are measured on the server by the file names
//! it reports, never through the tool's decoder.

use crate::common::{apply, cluster, plan_file, serial, shared};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::plan::{Plan, read_plan};
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use serde_json::Value;

/// (schema, table, the InnoDB name MariaDB 10.11 gives it, MiB, pattern).
fn tables() -> Vec<(&'static str, &'static str, &'static str, u64, Pattern)> {
    vec![
        (
            "fnq",
            "café",
            "fnq/caf@0p",
            12,
            Pattern::RandomDelete { keep_every: 10 },
        ),
        // Literally what `café` is on disk: the server writes its `@` as `@0040`.
        (
            "fnq",
            "caf@0p",
            "fnq/caf@00400p",
            6,
            Pattern::RangeDelete { percent: 60 },
        ),
        (
            "fnq",
            "Ωmega",
            "fnq/@7Pmega",
            8,
            Pattern::RangeDelete { percent: 70 },
        ),
        (
            "fnq",
            "таблица",
            "fnq/@y0@g0@h0@r0@o0@i1@g0",
            8,
            Pattern::RandomDelete { keep_every: 5 },
        ),
        // A literal name that looks like the hex encoding of `@x`.
        (
            "fnq",
            "@0040x",
            "fnq/@00400040x",
            4,
            Pattern::RangeDelete { percent: 80 },
        ),
        // A non-ASCII schema too.
        (
            "fnλ",
            "ŝtraße",
            "fn@6v/@3ztra@1je",
            6,
            Pattern::RangeDelete { percent: 70 },
        ),
    ]
}

/// The file size of InnoDB name `name` on `ep`, read by that exact name.
async fn size_by_file_name(ep: &Endpoint, name: &str) -> u64 {
    let c = cluster();
    let mut conn = c.conn(ep).await;
    let size: Option<u64> = sqlx::query_scalar(
        "SELECT FILE_SIZE FROM information_schema.INNODB_SYS_TABLESPACES WHERE \
         CAST(NAME AS BINARY) = CAST(? AS BINARY)",
    )
    .bind(name)
    .fetch_optional(&mut conn)
    .await
    .expect("tablespace row");
    size.unwrap_or_else(|| panic!("{ep}: no tablespace named {name}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn compactly_encoded_names_are_planned_with_their_own_sizes_and_rebuilt() {
    let _g = serial().await;
    let c = cluster();
    let specs: Vec<TableSpec> = tables()
        .iter()
        .map(|(s, t, _, mib, pattern)| TableSpec::sized(s, t, *mib, *pattern))
        .collect();
    c.fragment(&specs).await;
    let node = c.replica(1);
    let mut before = Vec::new();
    for (_, _, file, _, _) in tables() {
        before.push(size_by_file_name(&node, file).await);
    }
    let work = tempfile::tempdir().unwrap();
    let path = plan_file(
        &work,
        &node,
        "fn.json",
        &[
            "--database",
            "fnq",
            "--database",
            "fnλ",
            "--threshold-mb",
            "1",
            "--threshold-percent",
            "1",
        ],
    );
    let plan: Plan = read_plan(&path).expect("plan reads back");
    // Every problem at once, so a failure shows all of them.
    let mut wrong = Vec::new();
    for (i, (schema, table, file, _, _)) in tables().iter().enumerate() {
        match plan
            .actions()
            .map(|(_, a)| a)
            .find(|a| a.schema == *schema && a.table == *table)
        {
            None => wrong.push(format!("{schema}.{table} ({file}) is not planned")),
            Some(a) if a.file_size_bytes != before[i] => wrong.push(format!(
                "{schema}.{table} is planned with {} bytes, its file {file} has {}",
                a.file_size_bytes, before[i]
            )),
            Some(_) => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\nskipped: {:#?}",
        wrong.join("\n"),
        plan.skipped
    );
    assert_eq!(
        plan.actions().count(),
        tables().len(),
        "nothing else planned"
    );

    let (code, out, err) = apply(&work, &path, &["--yes", "--output-format", "json"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let rep: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let outcomes = rep["outcomes"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), tables().len(), "{out}");
    for (i, (schema, table, file, _, _)) in tables().iter().enumerate() {
        let o = outcomes
            .iter()
            .find(|o| o["schema"] == *schema && o["table"] == *table)
            .unwrap_or_else(|| panic!("{schema}.{table} has an outcome: {out}"));
        assert_eq!(o["status"], "done", "{o}");
        let after = size_by_file_name(&node, file).await;
        assert!(
            after < before[i],
            "{schema}.{table}: {file} shrank ({} → {after})",
            before[i]
        );
        assert_eq!(o["size_before"].as_u64(), Some(before[i]), "{o}");
        assert_eq!(o["size_after"].as_u64(), Some(after), "{o}");
        assert_eq!(o["bytes_freed"].as_u64(), Some(before[i] - after), "{o}");
    }
}

/// The tool writes every character of the BMP as this server does (`CONVERT(… USING
/// filename)` is the server's own encoder, the one it names files with).
#[tokio::test(flavor = "multi_thread")]
async fn the_encoding_is_the_servers_for_every_bmp_character() {
    use mysql_tablespace_recycling::inspect::catalog::encode_filename;
    let _g = shared().await;
    let c = cluster();
    let mut conn = c.conn(&c.primary()).await;
    sqlx::query("SET SESSION max_recursive_iterations = 70000")
        .execute(&mut conn)
        .await
        .expect("set");
    let rows: Vec<(u32, Vec<u8>)> = sqlx::query_as(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 65535) \
         SELECT CAST(n AS UNSIGNED), CAST(CONVERT(CONVERT(CHAR(n USING utf32) USING utf8mb4) \
         USING filename) AS BINARY) FROM seq WHERE n NOT BETWEEN 55296 AND 57343",
    )
    .fetch_all(&mut conn)
    .await
    .expect("server encoding");
    assert_eq!(rows.len(), 65535 - 2048);
    let mut wrong = Vec::new();
    for (cp, server) in rows {
        let ch = char::from_u32(cp).expect("scalar");
        let ours = encode_filename(&ch.to_string()).expect("BMP");
        if ours.as_bytes() != server.as_slice() {
            wrong.push(format!(
                "U+{cp:04X}: ours {ours}, server {}",
                String::from_utf8_lossy(&server)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// What the tool decodes, the server reads the same; what the server reads and would write
/// the same way, the tool decodes. Every `@` and two printable characters, every code next to
/// hex-looking text, and generated strings of the encoding's alphabet.
#[tokio::test(flavor = "multi_thread")]
async fn decoding_agrees_with_the_server() {
    use mysql_tablespace_recycling::inspect::catalog::{decode_filename, encode_filename};
    let _g = shared().await;
    let mut inputs: Vec<String> = Vec::new();
    for a in 0x21u8..0x7f {
        for b in 0x21u8..0x7f {
            inputs.push(format!("@{}{}", char::from(a), char::from(b)));
            inputs.push(format!("x@{}{}0f", char::from(a), char::from(b)));
        }
    }
    let alphabet = b"@@@0fa9AzZ_gGy#-";
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..4000 {
        let mut s = String::new();
        // xorshift: a fixed sequence, no dependency.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = 1 + (x % 9) as usize;
        for k in 0..len {
            s.push(char::from(alphabet[((x >> (4 * k)) & 15) as usize]));
        }
        inputs.push(s);
    }
    let c = cluster();
    let mut conn = c.conn(&c.primary()).await;
    let mut checked = 0;
    for chunk in inputs.chunks(500) {
        let sql = vec![
            "SELECT CAST(CONVERT(CONVERT(CAST(? AS BINARY) USING filename) USING utf8mb4) AS BINARY)";
            chunk.len()
        ]
        .join(" UNION ALL ");
        let mut q = sqlx::query_scalar::<_, Vec<u8>>(&sql);
        for s in chunk {
            q = q.bind(s);
        }
        let read = q.fetch_all(&mut conn).await.expect("server decoding");
        assert_eq!(read.len(), chunk.len());
        for (s, server) in chunk.iter().zip(read) {
            let ours = decode_filename(s);
            // `@d800`…`@dfff` read as surrogates, which no name holds.
            let Ok(server) = String::from_utf8(server) else {
                assert_eq!(ours, None, "{s}: the server reads a surrogate");
                continue;
            };
            if let Some(name) = &ours {
                assert_eq!(name, &server, "{s}: the server reads {server:?}");
                checked += 1;
            }
            if encode_filename(&server).as_deref() == Some(s.as_str()) {
                assert_eq!(ours.as_deref(), Some(server.as_str()), "{s}");
            }
        }
    }
    assert!(checked > 1500, "{checked} decoded");
}
