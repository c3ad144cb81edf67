//! [`LoadLimits`]: the status-variable limits of the load gates (`Threads_running=25`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::str::FromStr;

/// Status-variable limits of the load gates, written like pt-online-schema-change's
/// `--max-load`: `Threads_running=25,Threads_connected=400`. Names are status variables
/// (letters, digits, `_`); values are whole numbers. Order is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadLimits(pub Vec<(String, u64)>);

impl LoadLimits {
    /// One variable's limit.
    pub fn one(name: &str, limit: u64) -> Self {
        Self(vec![(name.to_string(), limit)])
    }

    /// The variables whose value in `now` is above their limit, as `(name, value, limit)`.
    /// A variable missing from `now` is not judged here (the gate reports it as unknown).
    pub fn exceeded<'a>(&'a self, now: &[(String, u64)]) -> Vec<(&'a str, u64, u64)> {
        self.0
            .iter()
            .filter_map(|(name, limit)| {
                now.iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .filter(|(_, v)| v > limit)
                    .map(|(_, v)| (name.as_str(), *v, *limit))
            })
            .collect()
    }
}

impl FromStr for LoadLimits {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                "an entry is not VAR=N (write it like Threads_running=25)".to_string()
            })?;
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(
                    "a name is not a status variable name (letters, digits and _)".to_string(),
                );
            }
            let value = value
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{name}: the limit must be a whole number"))?;
            out.push((name.to_string(), value));
        }
        if out.is_empty() {
            return Err("no VAR=N given (write it like Threads_running=25)".into());
        }
        Ok(Self(out))
    }
}

impl std::fmt::Display for LoadLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        f.write_str(&parts.join(","))
    }
}

impl Serialize for LoadLimits {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LoadLimits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
