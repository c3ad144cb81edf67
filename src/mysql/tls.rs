//! TLS to the nodes, as the mysql client's `--ssl-mode`, `--ssl-ca`, `--ssl-cert` and
//! `--ssl-key` set it: one [`Tls`] for every node discovery finds.
//!
//! The modes mean what they mean to the mysql client (and to sqlx, which implements them):
//! `DISABLED` plain text; `PREFERRED` (the default) TLS when the server offers it, the
//! certificate not checked; `REQUIRED` TLS or no connection, the certificate not checked;
//! `VERIFY_CA` the certificate must chain to `--ssl-ca`; `VERIFY_IDENTITY` that too, and it
//! must name the host connected to.

use serde::{Deserialize, Serialize};
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use std::fmt;
use std::path::PathBuf;

/// How much TLS a connection insists on (`--ssl-mode`, config `ssl_mode`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[clap(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SslMode {
    /// Plain text.
    Disabled,
    /// TLS when the server offers it; the certificate is not checked.
    #[default]
    Preferred,
    /// TLS or no connection; the certificate is not checked.
    Required,
    /// TLS with a certificate that chains to `ssl_ca`.
    VerifyCa,
    /// `VERIFY_CA`, and the certificate names the host connected to.
    VerifyIdentity,
}

impl SslMode {
    /// The mode's name as the mysql client spells it (`VERIFY_IDENTITY`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "DISABLED",
            Self::Preferred => "PREFERRED",
            Self::Required => "REQUIRED",
            Self::VerifyCa => "VERIFY_CA",
            Self::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }

    /// Reads a mode in any case (`verify_ca`, `VERIFY_CA`), as option files write it.
    pub fn parse(s: &str) -> Option<Self> {
        <Self as clap::ValueEnum>::from_str(s.trim(), true).ok()
    }

    /// Whether a certificate is checked against a CA.
    pub fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyIdentity)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// TLS settings of every connection to a cluster's nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    pub ssl_mode: SslMode,
    /// PEM file of the CA certificates a server's certificate must chain to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_ca: Option<PathBuf>,
    /// PEM file of this client's certificate (servers that require X509).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_cert: Option<PathBuf>,
    /// PEM file of the client certificate's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_key: Option<PathBuf>,
}

impl Tls {
    /// Why these settings cannot work, or `None`: a client certificate without its key (or the
    /// reverse), or a file that cannot be read. Checked before anything connects.
    pub fn problem(&self) -> Option<String> {
        match (&self.ssl_cert, &self.ssl_key) {
            (Some(_), None) => return Some("--ssl-cert needs --ssl-key".into()),
            (None, Some(_)) => return Some("--ssl-key needs --ssl-cert".into()),
            _ => {}
        }
        for (flag, path) in [
            ("--ssl-ca", &self.ssl_ca),
            ("--ssl-cert", &self.ssl_cert),
            ("--ssl-key", &self.ssl_key),
        ] {
            if let Some(p) = path
                && let Err(e) = std::fs::metadata(p)
            {
                return Some(format!("{flag} {}: {e}", p.display()));
            }
        }
        None
    }

    /// Sets these on a connection's options.
    pub(super) fn apply(&self, mut o: MySqlConnectOptions) -> MySqlConnectOptions {
        o = o.ssl_mode(match self.ssl_mode {
            SslMode::Disabled => MySqlSslMode::Disabled,
            SslMode::Preferred => MySqlSslMode::Preferred,
            SslMode::Required => MySqlSslMode::Required,
            SslMode::VerifyCa => MySqlSslMode::VerifyCa,
            SslMode::VerifyIdentity => MySqlSslMode::VerifyIdentity,
        });
        if let Some(ca) = &self.ssl_ca {
            o = o.ssl_ca(ca);
        }
        if let Some(c) = &self.ssl_cert {
            o = o.ssl_client_cert(c);
        }
        if let Some(k) = &self.ssl_key {
            o = o.ssl_client_key(k);
        }
        o
    }

    /// The reason for a failed TLS handshake, in words a DBA acts on.
    pub(super) fn explain(&self, detail: &str) -> String {
        let d = detail.to_ascii_lowercase();
        let why = if d.contains("unknownissuer") || d.contains("unknown issuer") {
            match &self.ssl_ca {
                Some(ca) => format!(
                    "the server's certificate is not signed by a CA in --ssl-ca {}",
                    ca.display()
                ),
                None => "the server's certificate is not signed by a known CA (give --ssl-ca)"
                    .to_string(),
            }
        } else if d.contains("notvalidforname") || d.contains("not valid for name") {
            "the server's certificate does not name the host connected to (VERIFY_IDENTITY)"
                .to_string()
        } else if d.contains("expired") {
            "the server's certificate has expired".to_string()
        } else if d.contains("does not support tls") {
            format!(
                "the server does not offer TLS (--ssl-mode {})",
                self.ssl_mode
            )
        } else {
            "the TLS handshake failed".to_string()
        };
        format!("TLS ({}): {why}: {detail}", self.ssl_mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_in_any_case_and_print_as_the_mysql_client_writes_them() {
        assert_eq!(
            SslMode::parse("verify_identity"),
            Some(SslMode::VerifyIdentity)
        );
        assert_eq!(SslMode::parse("REQUIRED"), Some(SslMode::Required));
        assert_eq!(SslMode::parse("maybe"), None);
        assert_eq!(SslMode::VerifyCa.to_string(), "VERIFY_CA");
        assert_eq!(
            serde_json::to_string(&SslMode::VerifyIdentity).unwrap(),
            "\"VERIFY_IDENTITY\""
        );
        assert_eq!(SslMode::default(), SslMode::Preferred);
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let t = Tls {
            ssl_cert: Some("/nonexistent/c.pem".into()),
            ..Tls::default()
        };
        assert_eq!(t.problem().unwrap(), "--ssl-cert needs --ssl-key");
        let t = Tls {
            ssl_ca: Some("/nonexistent/ca.pem".into()),
            ..Tls::default()
        };
        assert!(
            t.problem()
                .unwrap()
                .starts_with("--ssl-ca /nonexistent/ca.pem: ")
        );
        assert_eq!(Tls::default().problem(), None);
    }

    #[test]
    fn an_unknown_issuer_names_the_ca_file() {
        let t = Tls {
            ssl_mode: SslMode::VerifyIdentity,
            ssl_ca: Some("/etc/wrong-ca.pem".into()),
            ..Tls::default()
        };
        let m = t.explain("invalid peer certificate: UnknownIssuer");
        assert!(
            m.contains("not signed by a CA in --ssl-ca /etc/wrong-ca.pem"),
            "{m}"
        );
        assert!(m.starts_with("TLS (VERIFY_IDENTITY): "), "{m}");
    }
}
