//! MySQL option files, read as the mysql client reads them: `~/.my.cnf` (or only
//! `--defaults-file`), then `--defaults-extra-file`, then the obfuscated `~/.mylogin.cnf` of
//! `mysql_config_editor` (`--login-path`). Later values win.
//!
//! Groups read: `[client]`, `[mysql-tablespace-recycling]`, and the login path's group when one
//! is given (`--login-path=prod` reads `[prod]` too; `~/.mylogin.cnf` is read for `[client]`
//! and that group). Options whose names differ only by `-`/`_` are one option, a `loose-`
//! prefix is dropped, `skip-NAME` and `disable-NAME` mean `NAME=0`. Values may be quoted
//! (`"…"`, `'…'`) and use `\n \t \r \b \s \\` escapes; an unquoted `#` starts a comment.
//! `!include FILE` and `!includedir DIR` (its `*.cnf`) are followed.
//!
//! Only the connection options are taken: `user`, `password`, `host`, `port`, `socket`,
//! `ssl-mode`, `ssl-ca`, `ssl-cert`, `ssl-key` (and MariaDB's `ssl`, `skip-ssl`,
//! `ssl-verify-server-cert`). Other options of `[client]` belong to other programs and are
//! ignored; an unknown option in the tool's own group is an error.

use super::tls::SslMode;
use crate::error::{Error, Result};
use crate::secret::Secret;
use std::path::{Path, PathBuf};

/// The tool's own group.
pub const GROUP: &str = "mysql-tablespace-recycling";

/// Options the tool takes from its own group.
const OWN_OPTIONS: [&str; 12] = [
    "user",
    "password",
    "host",
    "port",
    "socket",
    "ssl_mode",
    "ssl_ca",
    "ssl_cert",
    "ssl_key",
    "ssl",
    "ssl_verify_server_cert",
    "login_path",
];

/// Which option files are read (`--no-defaults`, `--defaults-file`, `--defaults-extra-file`,
/// `--login-path`).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Read no option file at all.
    pub no_defaults: bool,
    /// Read this file instead of `~/.my.cnf`.
    pub defaults_file: Option<PathBuf>,
    /// Read this file after `~/.my.cnf` (or `defaults_file`).
    pub defaults_extra_file: Option<PathBuf>,
    /// A group of `~/.mylogin.cnf` (and of every option file) to read over `[client]`.
    pub login_path: Option<String>,
    /// The home directory (`$HOME`): where `.my.cnf` and `.mylogin.cnf` are looked for.
    pub home: Option<PathBuf>,
    /// `MYSQL_TEST_LOGIN_FILE`: the login file instead of `~/.mylogin.cnf`, as the mysql
    /// client honours it.
    pub login_file: Option<PathBuf>,
}

/// The connection options the option files gave; `None` where none said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientOptions {
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub socket: Option<PathBuf>,
    pub ssl_mode: Option<SslMode>,
    pub ssl_ca: Option<PathBuf>,
    pub ssl_cert: Option<PathBuf>,
    pub ssl_key: Option<PathBuf>,
    /// The files that were read, in order (for `--help`-style diagnostics and tests).
    pub read: Vec<PathBuf>,
}

impl Sources {
    /// Reads the files these name. A file named explicitly must exist; `~/.my.cnf` and
    /// `~/.mylogin.cnf` may be missing.
    pub fn read(&self) -> Result<ClientOptions> {
        let mut out = ClientOptions::default();
        if self.no_defaults {
            return Ok(out);
        }
        let mut groups = vec!["client".to_string(), GROUP.to_string()];
        if let Some(l) = &self.login_path {
            groups.push(l.clone());
        }
        match &self.defaults_file {
            Some(f) => read_file(f, true, &groups, &mut out, 0)?,
            None => {
                if let Some(h) = &self.home {
                    read_file(&h.join(".my.cnf"), false, &groups, &mut out, 0)?;
                }
            }
        }
        if let Some(f) = &self.defaults_extra_file {
            read_file(f, true, &groups, &mut out, 0)?;
        }
        let login_file = self
            .login_file
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".mylogin.cnf")));
        if let Some(f) = login_file {
            match std::fs::read(&f) {
                Ok(bytes) => {
                    let text = decode_login_file(&bytes).map_err(|why| {
                        Error::invalid(format!(
                            "{}: not a mysql_config_editor file: {why}",
                            f.display()
                        ))
                    })?;
                    let mut lgroups = vec!["client".to_string()];
                    if let Some(l) = &self.login_path {
                        lgroups.push(l.clone());
                    }
                    parse(&text, &f, &lgroups, &mut out, 0)?;
                    out.read.push(f);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::file(&f, e)),
            }
        }
        Ok(out)
    }
}

/// `!include` depth beyond which a file is taken to include itself.
const MAX_INCLUDE_DEPTH: usize = 10;

fn read_file(
    path: &Path,
    must_exist: bool,
    groups: &[String],
    out: &mut ClientOptions,
    depth: usize,
) -> Result<()> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(Error::invalid(format!(
            "{}: !include nested more than {MAX_INCLUDE_DEPTH} deep",
            path.display()
        )));
    }
    match std::fs::read_to_string(path) {
        Ok(text) => {
            parse(&text, path, groups, out, depth)?;
            out.read.push(path.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::invalid(format!(
            "option file {} not found",
            path.display()
        ))),
        Err(e) => Err(Error::file(path, e)),
    }
}

/// Reads one file's text into `out`: the options of `groups`, in order.
fn parse(
    text: &str,
    path: &Path,
    groups: &[String],
    out: &mut ClientOptions,
    depth: usize,
) -> Result<()> {
    let at = |line: usize, why: &str| Error::invalid(format!("{}:{line}: {why}", path.display()));
    let mut group: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("!includedir") {
            let dir = PathBuf::from(rest.trim());
            let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
                Ok(d) => d
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "cnf"))
                    .collect(),
                Err(_) => Vec::new(),
            };
            files.sort();
            for f in files {
                read_file(&f, false, groups, out, depth + 1)?;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("!include") {
            read_file(Path::new(rest.trim()), false, groups, out, depth + 1)?;
            continue;
        }
        if let Some(g) = line.strip_prefix('[') {
            let g = g
                .split_once(']')
                .map(|(g, _)| g.trim().to_ascii_lowercase())
                .ok_or_else(|| at(n, "a group header without its closing ]"))?;
            group = Some(g);
            continue;
        }
        let Some(g) = &group else {
            return Err(at(n, "an option before any [group]"));
        };
        if !groups.iter().any(|w| w.eq_ignore_ascii_case(g)) {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(value_of(v).map_err(|w| at(n, w))?)),
            None => (strip_comment(line).trim(), None),
        };
        let name = name.to_ascii_lowercase().replace('-', "_");
        let name = name.strip_prefix("loose_").unwrap_or(&name);
        let (name, value) = match name
            .strip_prefix("skip_")
            .or_else(|| name.strip_prefix("disable_"))
        {
            Some(n) => (n.to_string(), Some("0".to_string())),
            None => (name.to_string(), value),
        };
        if g == GROUP && !OWN_OPTIONS.contains(&name.as_str()) {
            return Err(at(
                n,
                &format!(
                    "unknown option `{name}` in [{GROUP}] (expected one of {})",
                    OWN_OPTIONS.join(", ")
                ),
            ));
        }
        take(&name, value, out).map_err(|w| at(n, &w))?;
    }
    Ok(())
}

/// Sets one option; options of other programs are ignored.
fn take(
    name: &str,
    value: Option<String>,
    out: &mut ClientOptions,
) -> std::result::Result<(), String> {
    let need = |v: Option<String>| v.ok_or_else(|| format!("`{name}` needs a value"));
    let flag = |v: &Option<String>| v.as_deref().is_none_or(super::parse_flag);
    match name {
        "user" => out.user = Some(need(value)?),
        // A bare `password` asks on the terminal in the mysql client; here it is no password.
        "password" => out.password = Some(Secret::new(value.unwrap_or_default())),
        "host" => out.host = Some(need(value)?),
        "port" => {
            let v = need(value)?;
            out.port = Some(
                v.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| "`port` must be a number from 1 to 65535".to_string())?,
            );
        }
        "socket" => out.socket = Some(PathBuf::from(need(value)?)),
        "ssl_mode" => {
            let v = need(value)?;
            out.ssl_mode = Some(SslMode::parse(&v).ok_or_else(|| {
                "`ssl-mode` must be DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                    .to_string()
            })?);
        }
        "ssl_ca" => out.ssl_ca = Some(PathBuf::from(need(value)?)),
        "ssl_cert" => out.ssl_cert = Some(PathBuf::from(need(value)?)),
        "ssl_key" => out.ssl_key = Some(PathBuf::from(need(value)?)),
        // MariaDB's spellings.
        "ssl" => {
            out.ssl_mode = Some(if flag(&value) {
                out.ssl_mode
                    .filter(|m| *m > SslMode::Required)
                    .unwrap_or(SslMode::Required)
            } else {
                SslMode::Disabled
            })
        }
        "ssl_verify_server_cert" if flag(&value) => out.ssl_mode = Some(SslMode::VerifyIdentity),
        _ => {}
    }
    Ok(())
}

/// An option's value: trimmed, unquoted, escapes read; an unquoted `#` ends it.
fn value_of(v: &str) -> std::result::Result<String, &'static str> {
    let v = v.trim();
    let quote = v.chars().next().filter(|c| *c == '"' || *c == '\'');
    let body = match quote {
        Some(q) => {
            let inner = &v[1..];
            let end = inner
                .rfind(q)
                .ok_or("a quoted value without its closing quote")?;
            &inner[..end]
        }
        None => strip_comment(v).trim_end(),
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Ok(out)
}

fn strip_comment(v: &str) -> &str {
    v.split_once('#').map_or(v, |(a, _)| a)
}

/// The login file's text. Its layout (mysql_config_editor): 4 unused bytes, a 20-byte key,
/// then for each line a 4-byte little-endian length and that many bytes of the line encrypted
/// with AES-128-ECB (PKCS#7 padding) under the key folded to 16 bytes (byte `i` XORed into
/// byte `i % 16`).
pub fn decode_login_file(bytes: &[u8]) -> std::result::Result<String, String> {
    use aes::cipher::{BlockDecrypt, KeyInit};
    const KEY_LEN: usize = 20;
    if bytes.len() < 4 + KEY_LEN {
        return Err("shorter than its header".into());
    }
    let cipher = aes::Aes128::new(&fold_key(&bytes[4..4 + KEY_LEN]).into());
    let mut rest = &bytes[4 + KEY_LEN..];
    let mut text = String::new();
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err("a truncated line length".into());
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if len == 0 || !len.is_multiple_of(16) || len > rest.len() {
            return Err(format!("a line of {len} bytes"));
        }
        let mut line = rest[..len].to_vec();
        rest = &rest[len..];
        for block in line.chunks_mut(16) {
            cipher.decrypt_block(block.into());
        }
        let pad = *line.last().unwrap_or(&0) as usize;
        if pad == 0 || pad > 16 || line[line.len() - pad..].iter().any(|b| *b as usize != pad) {
            return Err("a line with bad padding (not this file's key)".into());
        }
        line.truncate(line.len() - pad);
        text.push_str(&String::from_utf8(line).map_err(|_| "a line that is not text".to_string())?);
    }
    Ok(text)
}

/// mysql_config_editor's key: the 20 stored bytes XORed into 16.
fn fold_key(key: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 16];
    for (i, b) in key.iter().enumerate() {
        k[i % 16] ^= b;
    }
    k
}

/// Writes `text` as mysql_config_editor would, with `key` (tests; the tool never writes one).
pub fn encode_login_file(text: &str, key: [u8; 20]) -> Vec<u8> {
    use aes::cipher::{BlockEncrypt, KeyInit};
    let cipher = aes::Aes128::new(&fold_key(&key).into());
    let mut out = vec![0u8; 4];
    out.extend_from_slice(&key);
    for line in text.split_inclusive('\n') {
        let mut b = line.as_bytes().to_vec();
        let pad = 16 - b.len() % 16;
        b.extend(std::iter::repeat_n(pad as u8, pad));
        for block in b.chunks_mut(16) {
            cipher.encrypt_block(block.into());
        }
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(&b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str, groups: &[&str]) -> Result<ClientOptions> {
        let mut out = ClientOptions::default();
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        parse(text, Path::new("my.cnf"), &groups, &mut out, 0)?;
        Ok(out)
    }

    #[test]
    fn client_and_own_group_are_read_later_values_winning() {
        let o = read_text(
            "# comment\n[mysqld]\nport=1\n[client]\nuser = dba\npassword=\"p#ss w\\\\d\"\n\
             port=3307 # a comment\nloose-default-character-set=utf8mb4\n\
             [mysql-tablespace-recycling]\nport=23306\nssl_mode=verify_ca\nssl-ca='/etc/ca.pem'\n",
            &["client", GROUP],
        )
        .unwrap();
        assert_eq!(o.user.as_deref(), Some("dba"));
        assert_eq!(o.password.as_ref().map(Secret::expose), Some("p#ss w\\d"));
        assert_eq!(o.port, Some(23306));
        assert_eq!(o.ssl_mode, Some(SslMode::VerifyCa));
        assert_eq!(o.ssl_ca, Some(PathBuf::from("/etc/ca.pem")));
    }

    #[test]
    fn mariadb_spellings_set_the_mode() {
        let o = read_text("[client]\nssl-verify-server-cert\n", &["client"]).unwrap();
        assert_eq!(o.ssl_mode, Some(SslMode::VerifyIdentity));
        let o = read_text("[client]\nskip-ssl\n", &["client"]).unwrap();
        assert_eq!(o.ssl_mode, Some(SslMode::Disabled));
        let o = read_text("[client]\nssl\n", &["client"]).unwrap();
        assert_eq!(o.ssl_mode, Some(SslMode::Required));
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        let e = read_text("user=x\n", &["client"]).unwrap_err().to_string();
        assert_eq!(e, "my.cnf:1: an option before any [group]");
        let e = read_text("[client]\nport=http\n", &["client"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("my.cnf:2: `port` must be a number"), "{e}");
        let e = read_text(
            "[mysql-tablespace-recycling]\nthreshold=1\n",
            &["client", GROUP],
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("my.cnf:2: unknown option `threshold`"), "{e}");
        // Another program's option in [client] is not ours to refuse.
        assert!(read_text("[client]\nprompt=x\n", &["client"]).is_ok());
    }

    #[test]
    fn the_login_file_round_trips_and_a_wrong_key_is_refused() {
        let text = "[client]\nuser = \"dba\"\npassword = \"s3cr3t\"\n[prod]\nhost = \"db1\"\n";
        let key: [u8; 20] = *b"0123456789abcdefghij";
        let bytes = encode_login_file(text, key);
        assert_eq!(decode_login_file(&bytes).unwrap(), text);
        // Each line is its own cipher text: 4 + 20 header, then length-prefixed blocks.
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 16);
        let mut bad = bytes.clone();
        bad[5] ^= 1;
        assert!(decode_login_file(&bad).is_err());
        assert!(decode_login_file(b"short").is_err());
    }

    #[test]
    fn defaults_file_replaces_my_cnf_and_the_login_path_group_is_read() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path();
        std::fs::write(
            home.join(".my.cnf"),
            "[client]\nuser=from_my_cnf\nport=1111\n",
        )
        .unwrap();
        std::fs::write(
            home.join(".mylogin.cnf"),
            encode_login_file("[prod]\npassword = \"lp\"\nhost = \"db9\"\n", [7; 20]),
        )
        .unwrap();
        let only = home.join("only.cnf");
        std::fs::write(&only, "[client]\nuser=from_only\n").unwrap();
        let extra = home.join("extra.cnf");
        std::fs::write(&extra, "[mysql-tablespace-recycling]\nport=2222\n").unwrap();
        let src = |f: Option<&Path>, x: Option<&Path>, lp: Option<&str>| Sources {
            defaults_file: f.map(Path::to_path_buf),
            defaults_extra_file: x.map(Path::to_path_buf),
            login_path: lp.map(str::to_string),
            home: Some(home.to_path_buf()),
            ..Sources::default()
        };
        let o = src(None, None, None).read().unwrap();
        assert_eq!(
            (o.user.as_deref(), o.port),
            (Some("from_my_cnf"), Some(1111))
        );
        let o = src(Some(&only), Some(&extra), Some("prod")).read().unwrap();
        assert_eq!(o.user.as_deref(), Some("from_only"));
        assert_eq!(o.port, Some(2222));
        assert_eq!(o.host.as_deref(), Some("db9"));
        assert_eq!(o.password.as_ref().map(Secret::expose), Some("lp"));
        let missing = Sources {
            defaults_file: Some(home.join("nope.cnf")),
            ..Sources::default()
        };
        assert!(
            missing
                .read()
                .unwrap_err()
                .to_string()
                .contains("nope.cnf not found")
        );
        let none = Sources {
            no_defaults: true,
            home: Some(home.to_path_buf()),
            ..Sources::default()
        };
        assert_eq!(none.read().unwrap(), ClientOptions::default());
    }
}
