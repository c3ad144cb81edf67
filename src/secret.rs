//! A password wrapper that cannot leak by accident.
//!
//! `Debug`, `Display` and `Serialize` all print `****`, so a password inside a config struct, a log
//! line's fields or an API response is redacted without anyone having to remember. The only way to
//! the clear text is [`Secret::expose`], which is called where a connection is opened.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A secret string (a database password, an API token).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret(String);

/// What every rendering of a secret prints.
pub const REDACTED: &str = "****";

impl Secret {
    /// Wraps a clear-text secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The clear text, for handing to a database driver. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parsing never fails: any text is a secret (for clap flags such as `--password`).
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rendering_redacts() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"****\"");
        assert_eq!(s.expose(), "hunter2");
    }
}
