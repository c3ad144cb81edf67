//! The process arguments before and after clap: the mysql client's `-pSECRET` spelling, and
//! passwords wiped from `/proc/PID/cmdline` once read.
//!
//! The mysql client takes `-pSECRET` (attached) and a bare `-p` (ask on the terminal); a
//! separate `-p SECRET` is not a password there. [`normalize`] writes them `--password=SECRET`
//! and `--ask-pass` before parsing (`--password VALUE` with a space is the spec's spelling and
//! stays). After parsing, [`hide_passwords`] overwrites the
//! password in the process's own argument memory with `x`s, as the mysql client does, so `ps`
//! and `/proc/PID/cmdline` no longer show it. Until then it is visible: the README recommends
//! `RECYCLER_DB_PASSWORD` or an option file.

use std::ffi::OsString;

/// Flags whose value is a password (`--flag=VALUE`, or `--flag VALUE` for the sandbox's).
const PASSWORD_FLAGS: [&str; 2] = ["--password", "--replica-password"];

/// The arguments with `-pSECRET` as `--password=SECRET` and a bare `-p` as `--ask-pass` (so
/// `apply -p PLAN` does not take the plan's path for a password).
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut options = true;
    for a in args {
        if !options {
            out.push(a);
            continue;
        }
        if a == "--" {
            options = false;
            out.push(a);
            continue;
        }
        match a.to_str() {
            Some("-p") => out.push("--ask-pass".into()),
            Some(s) if s.starts_with("-p") => out.push(format!("--password={}", &s[2..]).into()),
            _ => out.push(a),
        }
    }
    out
}

/// The byte ranges of password values in the NUL-separated argument block `block`.
fn password_spans(block: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut value_next = false;
    for arg in block.split(|b| *b == 0) {
        let end = start + arg.len();
        if value_next && !arg.is_empty() && !arg.starts_with(b"-") {
            spans.push((start, end));
        }
        value_next = false;
        for f in PASSWORD_FLAGS {
            let f = f.as_bytes();
            if arg == f {
                // `--password VALUE`, the spec's spelling.
                value_next = true;
            } else if arg.len() > f.len() + 1 && arg.starts_with(f) && arg[f.len()] == b'=' {
                spans.push((start + f.len() + 1, end));
            }
        }
        if arg.len() > 2 && arg.starts_with(b"-p") && !arg.starts_with(b"--") {
            spans.push((start + 2, end));
        }
        start = end + 1;
    }
    spans
}

/// Overwrites every password in this process's arguments with `x`s (Linux: the block
/// `/proc/self/stat` places between `arg_start` and `arg_end`). Elsewhere, or when the kernel
/// does not say, nothing is changed.
pub fn hide_passwords() {
    #[cfg(target_os = "linux")]
    if let Some((start, end)) = arg_block() {
        let len = end - start;
        // SAFETY: [arg_start, arg_end) is this process's own argument block, mapped writable
        // on its stack since exec; nothing else reads it after clap copied the arguments.
        let block = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, len) };
        for (a, b) in password_spans(block) {
            block[a..b].fill(b'x');
        }
    }
}

/// `arg_start` and `arg_end` of `/proc/self/stat` (fields 48 and 49).
#[cfg(target_os = "linux")]
fn arg_block() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its last ')'.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let start: usize = fields.get(48 - 3)?.parse().ok()?;
    let end: usize = fields.get(49 - 3)?.parse().ok()?;
    (start != 0 && end > start).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn the_mysql_spellings_become_clap_s() {
        assert_eq!(
            norm(&[
                "tool", "topology", "-h", "db1", "-P3306", "-uroot", "-ps3cr3t", "-p"
            ]),
            [
                "tool",
                "topology",
                "-h",
                "db1",
                "-P3306",
                "-uroot",
                "--password=s3cr3t",
                "--ask-pass"
            ]
        );
        assert_eq!(norm(&["tool", "--", "-px"]), ["tool", "--", "-px"]);
    }

    #[test]
    fn password_values_are_found_in_the_argument_block() {
        let block = b"tool\0--password=abc\0-pdef\0--replica-password=gh\0--passwordx\0-P3306\0\
                      --password\0ijk\0--password\0--yes\0";
        let spans = password_spans(block);
        let values: Vec<&[u8]> = spans.iter().map(|(a, b)| &block[*a..*b]).collect();
        assert_eq!(values, [&b"abc"[..], b"def", b"gh", b"ijk"]);
    }
}
