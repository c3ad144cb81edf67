//! [`HumanDuration`]: durations written the human way (`30s`, `1h30m`, `7d`) in config files,
//! flags, plan files and REST bodies, refused without a unit and past [`MAX_DURATION`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::str::FromStr;
use std::time::Duration;

/// A duration written the human way (`30s`, `1h`, `1h30m`, `7d`) in files, flags and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Whole seconds.
    pub const fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
}

/// The longest duration any setting takes (a year and a day): past it, a deadline computed from
/// now would overflow, and no apply, timeout or interval means that.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

impl FromStr for HumanDuration {
    type Err = String;
    /// A number with a unit (`30s`, `5m`, `1h30m`, `7d`, `500ms`). A bare number is refused: it
    /// could mean seconds or milliseconds.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let t = s.trim();
        if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
            return Err("has no unit; write a duration like 30s, 5m, 1h or 7d".into());
        }
        // humantime's message quotes the text; a value in the wrong place may be a password.
        let d = humantime::parse_duration(t)
            .map_err(|_| "is not a duration; write it like 30s, 5m, 1h or 7d".to_string())?;
        if d > MAX_DURATION {
            return Err(format!(
                "is longer than the longest duration taken ({})",
                HumanDuration(MAX_DURATION)
            ));
        }
        Ok(Self(d))
    }
}

impl std::fmt::Display for HumanDuration {
    /// Compact Go-style rendering: `1h`, `1h30m`, `45s`, `1500ms`, `7d`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        if d.subsec_nanos() != 0 {
            return write!(f, "{}ms", d.as_millis());
        }
        let mut s = d.as_secs();
        if s == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if s >= len {
                write!(f, "{}{unit}", s / len)?;
                s %= len;
            }
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    /// Only a string with a unit: a bare number (`timeout: 30`) is an error naming the key.
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration with a unit, like \"30s\", \"5m\", \"1h\" or \"7d\"")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
                Err(E::custom(
                    "has no unit; write a duration like \"30s\", \"5m\", \"1h\" or \"7d\"",
                ))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
                Err(E::custom(
                    "a negative number is not a duration; write it like \"30s\", \"5m\", \"1h\" \
                     or \"7d\"",
                ))
            }
        }
        d.deserialize_any(V)
    }
}
