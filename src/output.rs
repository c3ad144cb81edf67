//! Encoding values for output — stdout, plan files, the job store — as JSON or YAML. A value
//! this crate built always encodes; a failure is a fault of the tool ([`Error::Internal`]),
//! never the user's input.

use crate::error::{Error, Result};
use serde::Serialize;

/// Compact JSON.
pub fn json<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("encoding JSON: {e}")))
}

/// Indented JSON, as the CLI prints it.
pub fn json_pretty<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Internal(format!("encoding JSON: {e}")))
}

/// YAML, readable as the same values by YAML 1.1 readers too (PyYAML, Ruby): see
/// [`quote_yaml11_words`].
pub fn yaml<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_yaml::to_string(v)
        .map(|text| quote_yaml11_words(&text))
        .map_err(|e| Error::Internal(format!("encoding YAML: {e}")))
}

/// Words YAML 1.1 reads as booleans (`Yes`, `ON`, …) that YAML 1.2 — and so the emitter —
/// leaves plain. The emitter writes `true`/`false` for booleans, so such a plain word is always
/// a string (`io_running: Yes`, `gtid_mode: ON`).
const YAML11_BOOLS: [&str; 18] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF", "~", "Null",
];

/// YAML 1.1's base-60 numbers (`10:15:30` is 36930 there): `[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+`,
/// optionally with a fraction. An `HH:MM:SS` of ten hours or more is one.
fn sexagesimal(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    let v = v.split_once('.').map_or(v, |(whole, frac)| {
        if frac.chars().all(|c| c.is_ascii_digit() || c == '_') {
            whole
        } else {
            ""
        }
    });
    let mut parts = v.split(':');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    first.starts_with(|c: char| ('1'..='9').contains(&c))
        && first.chars().all(|c| c.is_ascii_digit() || c == '_')
        && !rest.is_empty()
        && rest.iter().all(|p| {
            (1..=2).contains(&p.len())
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5')
        })
}

/// Quotes every plain scalar of `text` (a mapping value or a list item) that a YAML 1.1 reader
/// would take for a boolean or null, so it reads back as the string it is. Lines of a block
/// scalar (`|`, `>`) are text and left alone.
fn quote_yaml11_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    // Indentation of the line that opened a block scalar: deeper lines are its text.
    let mut block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let indent = body.len() - body.trim_start().len();
        if let Some(b) = block {
            if body.trim().is_empty() || indent > b {
                out.push_str(line);
                continue;
            }
            block = None;
        }
        let (head, value) = match body.split_once(": ") {
            Some((h, v)) => (format!("{h}: "), v),
            None => match body.trim_start().strip_prefix("- ") {
                Some(v) => (body[..body.len() - v.len()].to_string(), v),
                None => (String::new(), body),
            },
        };
        if !head.is_empty() && (YAML11_BOOLS.contains(&value) || sexagesimal(value)) {
            out.push_str(&format!("{head}'{value}'"));
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
        let opener = body.trim_end();
        if ["|", "|-", "|+", ">", ">-", ">+"]
            .iter()
            .any(|b| opener.ends_with(&format!(" {b}")) || opener.ends_with(&format!(":{b}")))
        {
            block = Some(indent);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_11_booleans_are_quoted_and_read_back_as_strings() {
        let v = json!({
            "io_running": "Yes", "sql_running": "No", "gtid_mode": "ON", "flag": true,
            "list": ["Off", "y", "fine"], "note": "line one\nio_running: Yes\n",
            "nested": {"state": "OFF", "n": 1},
            "time_elapsed": "10:15:30", "short": "00:15:30", "address": "127.0.0.1:3306"
        });
        let text = yaml(&v).unwrap();
        for quoted in [
            "io_running: 'Yes'",
            "sql_running: 'No'",
            "gtid_mode: 'ON'",
            "- 'Off'",
            "- 'y'",
            "state: 'OFF'",
            "time_elapsed: '10:15:30'",
        ] {
            assert!(text.contains(quoted), "{quoted} in:\n{text}");
        }
        assert!(
            text.contains("flag: true") && text.contains("- fine"),
            "{text}"
        );
        assert!(text.contains("address: 127.0.0.1:3306"), "{text}");
        assert!(sexagesimal("190:20:30") && sexagesimal("-1:20.5") && !sexagesimal("1:60"));
        assert!(!sexagesimal("00:15:30") && !sexagesimal("h:1") && !sexagesimal("12"));
        // The block scalar's text is the string's, untouched.
        assert!(text.contains("  io_running: Yes\n"), "{text}");
        let back: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
