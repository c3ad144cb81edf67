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

/// YAML.
pub fn yaml<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_yaml::to_string(v).map_err(|e| Error::Internal(format!("encoding YAML: {e}")))
}
