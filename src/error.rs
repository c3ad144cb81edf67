//! The error type every layer returns, carrying the API spec's error codes (spec §6).
//!
//! The code is what scripts, CI and REST clients key on; the message is for people and always names
//! the object involved (node address, schema and table, config path). Messages never contain a
//! password: credentials travel as [`crate::secret::Secret`] and are never formatted.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The spec §6 error codes, plus [`ErrorCode::Internal`] for a fault the spec has no code for.
/// Serialized as their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1000 — not in the spec: a fault of the tool or of its job store that no request caused
    /// (a store read failed, a stored row cannot be decoded, the listener cannot bind, a query
    /// the server refused for a reason none of the other codes name). HTTP 500.
    Internal,
    /// 1001 — bad parameter, bad config, bad plan file.
    InvalidArgument,
    /// 1002 — a database could not be reached or refused the login.
    Connection,
    /// 1003 — topology discovery failed.
    Discovery,
    /// 1004 — the primary could not be determined, or an action would touch it.
    Primary,
    /// 1005 — a job could not be created.
    JobCreate,
    /// 1006 — no such job.
    JobNotFound,
    /// 1007 — the job is in the wrong state for the request.
    JobState,
    /// 1008 — missing privilege (database) or missing/invalid token (API).
    Permission,
    /// 1009 — an operation ran past its deadline.
    Timeout,
    /// 1010 — too many jobs queued.
    Busy,
}

impl ErrorCode {
    /// The numeric code of spec §6.
    pub fn as_u16(self) -> u16 {
        match self {
            Self::Internal => 1000,
            Self::InvalidArgument => 1001,
            Self::Connection => 1002,
            Self::Discovery => 1003,
            Self::Primary => 1004,
            Self::JobCreate => 1005,
            Self::JobNotFound => 1006,
            Self::JobState => 1007,
            Self::Permission => 1008,
            Self::Timeout => 1009,
            Self::Busy => 1010,
        }
    }

    /// The code numbered `n`, if there is one.
    pub fn from_u16(n: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_u16() == n)
    }

    /// Every code, in number order.
    pub const ALL: [Self; 11] = [
        Self::Internal,
        Self::InvalidArgument,
        Self::Connection,
        Self::Discovery,
        Self::Primary,
        Self::JobCreate,
        Self::JobNotFound,
        Self::JobState,
        Self::Permission,
        Self::Timeout,
        Self::Busy,
    ];
}

impl ErrorCode {
    /// The spec's meaning of the code: the message of a 5xx response, which never carries the
    /// underlying error's text (it may quote SQL).
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Internal => "internal error",
            Self::InvalidArgument => "invalid argument",
            Self::Connection => "database connection failed",
            Self::Discovery => "topology discovery failed",
            Self::Primary => "primary detection failed",
            Self::JobCreate => "job creation failed",
            Self::JobNotFound => "job not found",
            Self::JobState => "job state error",
            Self::Permission => "permission denied",
            Self::Timeout => "operation timed out",
            Self::Busy => "system busy",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u16())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u16::deserialize(d)?;
        Self::from_u16(n).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Unsigned(n.into()),
                &"an error code from 1000 to 1010",
            )
        })
    }
}

/// MariaDB's and MySQL's error numbers of a statement that ran past a server-side limit:
/// `innodb_lock_wait_timeout` / `lock_wait_timeout` (1205), `max_statement_time` (1969),
/// `MAX_EXECUTION_TIME` (3024).
const TIMEOUT_ERRNOS: [u16; 3] = [1205, 1969, 3024];

/// Why a connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The node is not there: refused, unreachable, no answer in time.
    Unreachable,
    /// The node answered and refused the login (wrong user or password, SQLSTATE 28000).
    LoginRefused,
    /// TLS could not be set up as `--ssl-mode` requires (a certificate not verified, no TLS
    /// offered).
    Tls,
}

/// Every failure the tool reports. Each variant maps to exactly one [`ErrorCode`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad user input: flags, config file, plan file, a request. `field` is the path of the
    /// offending value when there is one (`settings.max_lag`, `plan.nodes[0].address`); the
    /// message says what is wrong with it.
    #[error("{}", field_message(field.as_deref(), message))]
    InvalidArgument {
        field: Option<String>,
        message: String,
    },
    /// A node could not be reached or refused the login.
    #[error("cannot connect to {host}:{port}: {reason}")]
    Connection {
        host: String,
        port: u16,
        reason: String,
        /// What kind of failure, for code that must tell them apart (never the message).
        kind: ConnectFailure,
    },
    /// A query on a reachable node failed: with the server's `errno` when the server refused
    /// it, without one when the connection failed under it.
    #[error("{node}: {message}")]
    Query {
        node: String,
        message: String,
        /// The server's error number, when the server answered with one.
        errno: Option<u16>,
    },
    /// Topology discovery could not produce a tree (unsupported clustering, nothing reachable).
    #[error("topology discovery failed: {0}")]
    Discovery(String),
    /// The primary is ambiguous, or an action would touch a protected node.
    #[error("{0}")]
    Primary(String),
    /// A node lacks a privilege the operation needs.
    #[error("{node}: missing privilege {privilege}: {message}")]
    Privilege {
        node: String,
        privilege: String,
        message: String,
    },
    /// Preflight: the account lacks privileges the plan needs, on each node named (all of
    /// them, found before anything ran).
    #[error(
        "missing privileges, nothing was executed (the README lists the GRANTs each mode needs): {}",
        missing.iter().map(|n| format!("{} lacks {}", n.node, n.privileges.join("; "))).collect::<Vec<_>>().join(" | ")
    )]
    Grants { missing: Vec<NodeGrants> },
    /// A deadline passed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A request ran past `server.request_timeout`; `running` is what it was still doing (its
    /// work was stopped).
    #[error(
        "the request did not finish within {} (server.request_timeout) and was stopped; still \
         running then: {}",
        humantime::format_duration(*limit),
        if running.is_empty() { "nothing reported".to_string() } else { running.join("; ") }
    )]
    RequestDeadline {
        limit: std::time::Duration,
        running: Vec<String>,
    },
    /// The live cluster no longer matches the plan (CLI exit 3, HTTP 409): every difference
    /// found, each naming its node. Nothing was executed.
    #[error("plan is stale: {}; nothing was executed, make a new plan", changes.join("; "))]
    Stale { changes: Vec<String> },
    /// Reading or writing a local file failed.
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// Something the request names does not exist (a plan id). Not a job: see [`Error::JobNotFound`].
    #[error("{0}")]
    NotFound(String),
    /// No job with this id.
    #[error("job {0} does not exist")]
    JobNotFound(String),
    /// The job is in the wrong state for the request (cancel of a finished job).
    #[error("{0}")]
    JobState(String),
    /// Too many jobs running and queued.
    #[error("{0}")]
    Busy(String),
    /// The API token is missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// The job store failed (`creating`: while it recorded a new job or plan, error 1005).
    #[error("job store: {message}")]
    Store { message: String, creating: bool },
    /// The metrics store (`persistence.metrics.file`) failed.
    #[error("metrics store: {0}")]
    MetricsStore(String),
    /// A fault of the tool itself: no request caused it (the runtime or the listener could not
    /// start, a value could not be encoded).
    #[error("{0}")]
    Internal(String),
}

/// The privileges one node lacks ([`Error::Grants`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeGrants {
    /// `host:port`.
    pub node: String,
    /// Each missing privilege with the step that needs it: `PROCESS (the control connection:
    /// …)`, `ALTER on shop.orders, shop.events (the rebuilds)`.
    pub privileges: Vec<String>,
}

fn field_message(field: Option<&str>, message: &str) -> String {
    match field {
        Some(f) => format!("{f}: {message}"),
        None => message.to_string(),
    }
}

impl Error {
    /// The spec §6 code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument { .. }
            | Self::File { .. }
            | Self::Stale { .. }
            | Self::NotFound(_) => ErrorCode::InvalidArgument,
            Self::Connection { .. } => ErrorCode::Connection,
            Self::Query { errno: None, .. } => ErrorCode::Connection,
            Self::Query { errno: Some(n), .. } if TIMEOUT_ERRNOS.contains(n) => ErrorCode::Timeout,
            Self::Query { .. } => ErrorCode::Internal,
            Self::Discovery(_) => ErrorCode::Discovery,
            Self::Primary(_) => ErrorCode::Primary,
            Self::Privilege { .. } | Self::Grants { .. } => ErrorCode::Permission,
            Self::Timeout(_) | Self::RequestDeadline { .. } => ErrorCode::Timeout,
            Self::JobNotFound(_) => ErrorCode::JobNotFound,
            Self::JobState(_) => ErrorCode::JobState,
            Self::Busy(_) => ErrorCode::Busy,
            Self::Unauthorized(_) => ErrorCode::Permission,
            Self::Store { creating: true, .. } => ErrorCode::JobCreate,
            Self::Store { .. } | Self::MetricsStore(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The node refused the login (as opposed to not answering).
    pub fn is_login_refused(&self) -> bool {
        matches!(
            self,
            Self::Connection {
                kind: ConnectFailure::LoginRefused,
                ..
            }
        )
    }

    /// Bad input that no single field carries (a whole file, a combination of flags).
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: None,
            message: msg.into(),
        }
    }

    /// Bad input at `field` (a key path), with what is wrong with it.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The live cluster differs from the plan in each of `changes`.
    pub fn stale(changes: Vec<String>) -> Self {
        Self::Stale { changes }
    }

    /// A local file error naming the path.
    pub fn file(path: impl AsRef<std::path::Path>, err: impl fmt::Display) -> Self {
        Self::File {
            path: path.as_ref().display().to_string(),
            message: err.to_string(),
        }
    }
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_spec() {
        let e = Error::Connection {
            host: "10.0.0.1".into(),
            port: 3306,
            reason: "connection refused".into(),
            kind: ConnectFailure::Unreachable,
        };
        assert_eq!(e.code().as_u16(), 1002);
        assert_eq!(
            e.to_string(),
            "cannot connect to 10.0.0.1:3306: connection refused"
        );
        assert_eq!(Error::invalid("x").code().as_u16(), 1001);
        assert_eq!(serde_json::to_string(&ErrorCode::Busy).unwrap(), "1010");
        assert_eq!(
            serde_json::from_str::<ErrorCode>("1009").unwrap(),
            ErrorCode::Timeout
        );
        assert!(serde_json::from_str::<ErrorCode>("999").is_err());
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_u16(c.as_u16()), Some(c));
        }
    }

    #[test]
    fn a_query_is_coded_by_what_the_server_said() {
        let q = |errno| Error::Query {
            node: "h:1".into(),
            message: "m".into(),
            errno,
        };
        assert_eq!(q(None).code(), ErrorCode::Connection);
        assert_eq!(q(Some(1205)).code(), ErrorCode::Timeout);
        assert_eq!(q(Some(1969)).code(), ErrorCode::Timeout);
        assert_eq!(q(Some(1064)).code(), ErrorCode::Internal);
    }

    #[test]
    fn fields_and_changes_are_data() {
        let e = Error::field("settings.max_lag", "must be at least 1s");
        assert_eq!(e.to_string(), "settings.max_lag: must be at least 1s");
        assert!(
            matches!(&e, Error::InvalidArgument { field: Some(f), .. } if f == "settings.max_lag")
        );
        let s = Error::stale(vec!["a moved".into(), "b left".into()]);
        assert_eq!(
            s.to_string(),
            "plan is stale: a moved; b left; nothing was executed, make a new plan"
        );
        let store = |creating| Error::Store {
            message: "disk I/O error".into(),
            creating,
        };
        assert_eq!(store(true).code(), ErrorCode::JobCreate);
        assert_eq!(store(false).code(), ErrorCode::Internal);
    }
}
