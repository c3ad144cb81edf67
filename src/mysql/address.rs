//! What an address and a login must be before anything connects to them: one rule for the
//! plan reader (every address of a plan is read through [`as_text`], which parses it with
//! [`super::Endpoint::parse`]), the command line and the REST API. A bad value is an input error
//! naming the field, never a connection failure; the reasons never quote the value (a password
//! pasted in the wrong field stays unseen).

/// The longest host taken: a DNS name is at most 253 characters (255 leaves room for a trailing
/// dot and the brackets of an IPv6 address).
const MAX_HOST_LEN: usize = 255;

/// Why `host` cannot be a MySQL host to connect to, or `None`: it must be an IP address (IPv6
/// bare or in brackets) or a DNS name — dot-separated labels of 1 to 63 letters, digits, `-`
/// and `_`, not starting or ending with `-`, the last one not all digits, an optional trailing
/// dot. The reason never quotes the host (a password pasted in the wrong field stays unseen).
pub fn host_problem(host: &str) -> Option<&'static str> {
    if host.is_empty() {
        return Some("is empty");
    }
    if host.chars().count() > MAX_HOST_LEN {
        return Some("is longer than 255 characters");
    }
    if host.chars().any(char::is_control) {
        return Some("contains a control character");
    }
    if host.chars().any(char::is_whitespace) {
        return Some("contains a space");
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    const NOT_A_HOST: &str = "is neither an IP address nor a host name (dot-separated labels of \
                              letters, digits, '-' and '_')";
    let name = host.strip_suffix('.').unwrap_or(host);
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !labels.iter().all(label_ok) {
        return Some(NOT_A_HOST);
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        // `2` or `10.1.2`: the resolver would read it as an abbreviated IPv4 address.
        return Some("is not a complete IP address, nor a host name (its last label is a number)");
    }
    None
}

/// Why `port` cannot be connected to, or `None`.
pub fn port_problem(port: u16) -> Option<&'static str> {
    (port == 0).then_some("must be between 1 and 65535")
}

/// Why `user` cannot be a MySQL account name, or `None`: empty, or a control character (a
/// NUL would end the name in the protocol).
pub fn user_problem(user: &str) -> Option<&'static str> {
    if user.is_empty() {
        Some("is empty")
    } else if user.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

/// Why a `host:port` address (of a plan) cannot be connected to, or `None`. Split as
/// [`super::Endpoint::parse`] splits it, which is how apply connects to it.
pub fn address_problem(address: &str) -> Option<String> {
    let (host, port) = match address.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()),
        None => (address, Some(3306)),
    };
    if let Some(r) = host_problem(host) {
        return Some(format!("host {r}"));
    }
    match port {
        Some(p) => port_problem(p).map(|r| format!("port {r}")),
        None => Some("port is not a number from 1 to 65535".into()),
    }
}

/// `a:3306, b:3306`: addresses as a message lists them.
pub fn joined<'a>(eps: impl IntoIterator<Item = &'a super::Endpoint>) -> String {
    eps.into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An [`Endpoint`](super::Endpoint) written as its `host:port` text, for
/// `#[serde(with = "crate::mysql::address::as_text")]`: how a plan stores its addresses (an
/// `Endpoint` itself serializes as `{host, port}`). Reading parses the text with
/// [`super::Endpoint::parse`], so a malformed address fails the deserialization, at its key path
/// (`nodes[0].address`), with the parser's reason; [`option`] and [`list`] do the same for
/// `Option<Endpoint>` and `Vec<Endpoint>`.
pub mod as_text {
    use super::super::Endpoint;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

    /// An endpoint to write as text.
    struct Shown<'a>(&'a Endpoint);

    impl Serialize for Shown<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self.0)
        }
    }

    /// An endpoint read from text.
    struct Parsed(Endpoint);

    impl<'de> Deserialize<'de> for Parsed {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let text = String::deserialize(d)?;
            Endpoint::parse(&text)
                .map(Parsed)
                .map_err(de::Error::custom)
        }
    }

    pub fn serialize<S: Serializer>(ep: &Endpoint, s: S) -> Result<S::Ok, S::Error> {
        Shown(ep).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Endpoint, D::Error> {
        Parsed::deserialize(d).map(|p| p.0)
    }

    /// `Option<Endpoint>`: `null` or the text.
    pub mod option {
        use super::{Endpoint, Parsed, Shown};
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(ep: &Option<Endpoint>, s: S) -> Result<S::Ok, S::Error> {
            ep.as_ref().map(Shown).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Endpoint>, D::Error> {
            Ok(Option::<Parsed>::deserialize(d)?.map(|p| p.0))
        }
    }

    /// `Vec<Endpoint>`: a list of texts (a bad one is named by its index).
    pub mod list {
        use super::{Endpoint, Parsed, Shown};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(eps: &[Endpoint], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(eps.iter().map(Shown))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Endpoint>, D::Error> {
            Ok(Vec::<Parsed>::deserialize(d)?
                .into_iter()
                .map(|p| p.0)
                .collect())
        }
    }

    /// `Option<Vec<Endpoint>>`: `null` or a list of texts.
    pub mod option_list {
        use super::{Endpoint, Parsed, Shown};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            eps: &Option<Vec<Endpoint>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match eps {
                None => s.serialize_none(),
                Some(eps) => s.collect_seq(eps.iter().map(Shown)),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Vec<Endpoint>>, D::Error> {
            Ok(
                Option::<Vec<Parsed>>::deserialize(d)?
                    .map(|v| v.into_iter().map(|p| p.0).collect()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_ports_and_users() {
        for ok in [
            "127.0.0.1",
            "localhost",
            "db-1.example.com",
            "db_1",
            "example.com.",
            "::1",
            "[::1]",
            "fe80::1",
            "a1",
        ] {
            assert_eq!(host_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            " ",
            "db host",
            "db\0",
            "\tdb",
            "db\u{7f}",
            "db\u{85}",
            "db..x",
            ".db",
            "-db",
            "db-",
            "2",
            "10.1.2",
            "300.1.1.1",
            "db:3306",
            "[db]",
            "dé.example",
            &"a".repeat(64),
            &["a"; 130].join("."),
        ] {
            assert!(host_problem(bad).is_some(), "{bad:?}");
        }
        assert!(port_problem(0).is_some() && port_problem(1).is_none());
        assert!(user_problem("").is_some() && user_problem("a\0").is_some());
        assert_eq!(user_problem("recycler"), None);
        assert_eq!(address_problem("127.0.0.1:3306"), None);
        assert_eq!(address_problem("::1:3306"), None);
        assert!(address_problem("127.0.0.1:0").unwrap().starts_with("port"));
        assert!(
            address_problem("127.0.0.1\0:3306")
                .unwrap()
                .starts_with("host")
        );
        assert!(address_problem("h:x").unwrap().starts_with("port"));
    }
}
