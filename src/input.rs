//! Reading typed input — a config file, a plan file, a policy file, a REST body — with errors
//! that are data.
//!
//! Every document is first parsed into a `serde_json::Value` (YAML and JSON alike; a syntax
//! error is reported by its parser), then deserialized into its type by [`from_value`], whose
//! error is an [`InputError`]: the key path of the offending value and a [`Problem`] saying what
//! is wrong with it. Code that must tell an unknown field from a bad value matches on the
//! problem, never on a message, and no problem holds the offending value itself: a password
//! typed into the wrong field is never echoed back.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde_json::Value;
use std::fmt;

/// What is wrong with one value of a document. Never holds the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A key the type does not have.
    UnknownField {
        name: String,
        expected: &'static [&'static str],
    },
    /// A key the type needs and the document lacks.
    MissingField(&'static str),
    /// The same key twice.
    DuplicateField(&'static str),
    /// A name that is none of an enum's values.
    UnknownVariant { expected: &'static [&'static str] },
    /// A value of the wrong kind (`found`: string, integer, map …).
    InvalidType {
        found: &'static str,
        expected: String,
    },
    /// A value of the right kind that is out of range or malformed.
    InvalidValue {
        found: &'static str,
        expected: String,
    },
    /// A list or tuple of the wrong length.
    InvalidLength { len: usize, expected: String },
    /// A type's own check failed (a duration without a unit); the message is the type's, written
    /// in this crate without the value.
    Custom(String),
}

/// The kind of an unexpected value, without the value.
fn kind(u: &de::Unexpected<'_>) -> &'static str {
    use de::Unexpected::*;
    match u {
        Bool(_) => "boolean",
        Unsigned(_) | Signed(_) => "integer",
        Float(_) => "floating point number",
        Char(_) => "character",
        Str(_) => "string",
        Bytes(_) => "bytes",
        Unit => "null",
        Option => "option",
        NewtypeStruct => "newtype struct",
        Seq => "list",
        Map => "map",
        Enum => "enum",
        UnitVariant | NewtypeVariant | TupleVariant | StructVariant => "enum variant",
        Other(_) => "value",
    }
}

/// `a`, `a` or `b`, one of `a`, `b`, `c`: the names a value may take.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".into(),
        [one] => format!("`{one}`"),
        [a, b] => format!("`{a}` or `{b}`"),
        more => format!(
            "one of {}",
            more.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownField { expected, .. } => {
                write!(f, "unknown field, expected {}", one_of(expected))
            }
            Self::MissingField(_) => write!(f, "is required"),
            Self::DuplicateField(_) => write!(f, "is given twice"),
            Self::UnknownVariant { expected } => {
                write!(f, "unknown value, expected {}", one_of(expected))
            }
            Self::InvalidType { found, expected } => {
                write!(f, "invalid type: {found}, expected {expected}")
            }
            Self::InvalidValue { found, expected } => {
                write!(f, "invalid value: {found}, expected {expected}")
            }
            Self::InvalidLength { len, expected } => {
                write!(f, "invalid length {len}, expected {expected}")
            }
            Self::Custom(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Problem {}

impl de::Error for Problem {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::InvalidType {
            found: kind(&unexp),
            expected: exp.to_string(),
        }
    }
    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::InvalidValue {
            found: kind(&unexp),
            expected: exp.to_string(),
        }
    }
    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Self::InvalidLength {
            len,
            expected: exp.to_string(),
        }
    }
    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        Self::UnknownVariant { expected }
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::UnknownField {
            name: field.to_string(),
            expected,
        }
    }
    fn missing_field(field: &'static str) -> Self {
        Self::MissingField(field)
    }
    fn duplicate_field(field: &'static str) -> Self {
        Self::DuplicateField(field)
    }
}

/// A problem at a key path of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Where the problem is: `nodes[0].address`; empty for the document itself.
    pub path: String,
    pub problem: Problem,
}

impl InputError {
    /// The full path of the offending key: for an unknown, missing or repeated field the path
    /// down to that field's name (`settings.max_lagg`), else the value's path.
    pub fn field(&self) -> String {
        let name = match &self.problem {
            Problem::UnknownField { name, .. } => Some(name.as_str()),
            Problem::MissingField(n) | Problem::DuplicateField(n) => Some(*n),
            _ => None,
        };
        match (self.path.as_str(), name) {
            ("", Some(n)) => n.to_string(),
            // The path tracker has stepped into an unknown key already.
            (p, Some(n)) if p == n || p.ends_with(&format!(".{n}")) => p.to_string(),
            (p, Some(n)) => format!("{p}.{n}"),
            (p, None) => p.to_string(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field().as_str() {
            "" => write!(f, "{}", self.problem),
            field => write!(f, "{field}: {}", self.problem),
        }
    }
}

/// Deserializes `v` into `T`, naming the key path and the problem on failure.
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, InputError> {
    serde_path_to_error::deserialize(ValueDe(v)).map_err(|e| {
        let path = e.path().to_string();
        InputError {
            path: if path == "." { String::new() } else { path },
            problem: e.into_inner(),
        }
    })
}

/// A JSON value as a deserializer whose error is a [`Problem`].
struct ValueDe(Value);

impl<'de> IntoDeserializer<'de, Problem> for ValueDe {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for ValueDe {
    type Error = Problem;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => v.visit_u64(u),
                (None, Some(i), _) => v.visit_i64(i),
                (None, None, Some(x)) => v.visit_f64(x),
                (None, None, None) => {
                    Err(de::Error::invalid_type(de::Unexpected::Other("number"), &v))
                }
            },
            Value::String(s) => v.visit_string(s),
            Value::Array(a) => {
                let mut seq = SeqDeserializer::new(a.into_iter().map(ValueDe));
                let out = v.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Object(m) => {
                let mut map = MapDeserializer::new(m.into_iter().map(|(k, x)| (k, ValueDe(x))));
                let out = v.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Problem> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Problem> {
        match self.0 {
            Value::String(s) => v.visit_enum(s.into_deserializer()),
            Value::Object(m) if m.len() == 1 => {
                let (variant, value) = m.into_iter().next().expect("one entry");
                v.visit_enum(Tagged { variant, value })
            }
            other => Err(de::Error::invalid_type(unexpected(&other), &v)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'static> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(_) => de::Unexpected::Bool(false),
        Value::Number(_) => de::Unexpected::Unsigned(0),
        Value::String(_) => de::Unexpected::Str(""),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

/// An externally tagged enum value: `{"variant": value}`.
struct Tagged {
    variant: String,
    value: Value,
}

impl<'de> de::EnumAccess<'de> for Tagged {
    type Error = Problem;
    type Variant = ValueDe;
    fn variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, ValueDe), Problem> {
        let name = seed.deserialize(self.variant.into_deserializer())?;
        Ok((name, ValueDe(self.value)))
    }
}

impl<'de> de::VariantAccess<'de> for ValueDe {
    type Error = Problem;
    fn unit_variant(self) -> Result<(), Problem> {
        match self.0 {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a variant without a value",
            )),
        }
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, Problem> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, Problem> {
        de::Deserializer::deserialize_any(self, v)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Problem> {
        de::Deserializer::deserialize_any(self, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        port: u16,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        mode: Option<Mode>,
        #[serde(default)]
        list: Vec<Inner>,
        #[serde(default)]
        tagged: Option<Tag>,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        name: String,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        BinlogOff,
        BinlogOn,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Tag {
        Limit(u32),
        Range { lo: u8, hi: u8 },
    }

    fn err(v: Value) -> InputError {
        from_value::<Doc>(v).unwrap_err()
    }

    #[test]
    fn values_deserialize() {
        let d: Doc = from_value(json!({
            "port": 3306, "inner": {"name": "x"}, "mode": "binlog-on",
            "list": [{"name": "a"}], "tagged": {"range": {"lo": 1, "hi": 2}}
        }))
        .unwrap();
        assert_eq!(d.port, 3306);
        assert_eq!(d.mode, Some(Mode::BinlogOn));
        assert_eq!(d.tagged, Some(Tag::Range { lo: 1, hi: 2 }));
        let d: Doc = from_value(json!({"port": 1, "inner": null, "tagged": {"limit": 7}})).unwrap();
        assert_eq!((d.inner, d.tagged), (None, Some(Tag::Limit(7))));
    }

    #[test]
    fn problems_are_data_and_name_their_path() {
        let e = err(json!({"port": 1, "inner": {"name": "x", "pasword": "Pw-s3cr3t"}}));
        assert_eq!(e.field(), "inner.pasword");
        assert!(matches!(&e.problem, Problem::UnknownField { name, .. } if name == "pasword"));
        assert_eq!(
            e.to_string(),
            "inner.pasword: unknown field, expected `name`"
        );

        let e = err(json!({"port": 1, "pasword": 1}));
        assert_eq!(e.field(), "pasword");
        let e = err(json!({"port": 1, "inner": {}}));
        assert_eq!(e.field(), "inner.name");

        let e = err(json!({"inner": {"name": "x"}}));
        assert_eq!(
            (e.field(), e.problem),
            ("port".into(), Problem::MissingField("port"))
        );

        let e = err(json!({"port": 70000}));
        assert_eq!(e.field(), "port");
        assert_eq!(e.to_string(), "port: invalid value: integer, expected u16");

        let e = err(json!({"port": "Pw-s3cr3t"}));
        assert_eq!(e.to_string(), "port: invalid type: string, expected u16");

        let e = err(json!({"port": 1, "mode": "Pw-s3cr3t"}));
        assert_eq!(
            e.to_string(),
            "mode: unknown value, expected `binlog-off` or `binlog-on`"
        );

        let e = err(json!({"port": 1, "list": [{"name": "a"}, {"name": 5}]}));
        assert_eq!(e.field(), "list[1].name");

        let e = err(json!("Pw-s3cr3t"));
        assert_eq!(e.field(), "");
        assert!(matches!(
            e.problem,
            Problem::InvalidType {
                found: "string",
                ..
            }
        ));
    }

    #[test]
    fn no_problem_echoes_the_value() {
        for v in [
            json!({"port": "Pw-s3cr3t"}),
            json!({"port": 1, "mode": "Pw-s3cr3t"}),
            json!({"port": 1, "inner": {"name": ["Pw-s3cr3t"]}}),
            json!({"port": 1, "tagged": {"Pw-s3cr3t": 1}}),
            json!({"port": 1, "tagged": "Pw-s3cr3t"}),
        ] {
            let e = err(v.clone());
            assert!(!e.to_string().contains("Pw-s3cr3t"), "{v}: {e}");
        }
    }
}
