//! The error type every layer returns, carrying the API spec's error codes (spec §6).
//!
//! The code is what scripts, CI and REST clients key on; the message is for people and always names
//! the object involved (node address, schema and table, config path). Messages never contain a
//! password: credentials travel as [`crate::secret::Secret`] and are never formatted.

use serde::Serialize;
use std::fmt;

/// The spec §6 error codes. Serialized as their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
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
}

impl ErrorCode {
    /// The spec's meaning of the code: the message of a 5xx response, which never carries the
    /// underlying error's text (it may quote SQL).
    pub fn meaning(self) -> &'static str {
        match self {
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

/// Why a connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The node is not there: refused, unreachable, no answer in time.
    Unreachable,
    /// The node answered and refused the login (wrong user or password, SQLSTATE 28000).
    LoginRefused,
}

/// Every failure the tool reports. Each variant maps to exactly one [`ErrorCode`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad user input: flags, config file, plan file. The message names the offending path.
    #[error("{0}")]
    InvalidArgument(String),
    /// A node could not be reached or refused the login.
    #[error("cannot connect to {host}:{port}: {reason}")]
    Connection {
        host: String,
        port: u16,
        reason: String,
        /// What kind of failure, for code that must tell them apart (never the message).
        kind: ConnectFailure,
    },
    /// A query on a reachable node failed.
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
    /// A deadline passed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The live cluster no longer matches the plan (CLI exit 3, HTTP 409).
    #[error("plan is stale: {0}")]
    Stale(String),
    /// Reading or writing a local file failed.
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// Something the request names does not exist (a plan id). Not a job: see [`Error::JobNotFound`].
    #[error("{0}")]
    NotFound(String),
    /// A job could not be created (the store refused it).
    #[error("{0}")]
    JobCreate(String),
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
}

impl Error {
    /// The spec §6 code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument(_) | Self::File { .. } | Self::Stale(_) | Self::NotFound(_) => {
                ErrorCode::InvalidArgument
            }
            Self::Connection { .. } | Self::Query { .. } => ErrorCode::Connection,
            Self::Discovery(_) => ErrorCode::Discovery,
            Self::Primary(_) => ErrorCode::Primary,
            Self::Privilege { .. } => ErrorCode::Permission,
            Self::Timeout(_) => ErrorCode::Timeout,
            Self::JobCreate(_) => ErrorCode::JobCreate,
            Self::JobNotFound(_) => ErrorCode::JobNotFound,
            Self::JobState(_) => ErrorCode::JobState,
            Self::Busy(_) => ErrorCode::Busy,
            Self::Unauthorized(_) => ErrorCode::Permission,
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

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
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
    }
}
