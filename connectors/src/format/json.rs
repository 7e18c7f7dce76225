//! The JSON format, as ksqlDB reads and writes it.
//!
//! Field names match case-insensitively (an exact match wins); numbers are
//! coerced to the column's type; TIMESTAMP is epoch milliseconds, DATE days,
//! TIME milliseconds of the day, BYTES base64. Several columns (or one,
//! wrapped) form an object; a single unwrapped column is the bare value.
//!
//! ```
//! use ddsql_connectors::format::{json::JsonSerde, Serde};
//! use ddsql_sql::types::{SqlType, Value};
//! let serde = JsonSerde::new(vec![("ORDER_ID".into(), SqlType::BigInt), ("NOTE".into(), SqlType::String)], true);
//! let row = serde.decode(br#"{"order_id": 97, "note": null}"#).unwrap();
//! assert_eq!(row, vec![Value::BigInt(97), Value::Null]);
//! assert_eq!(serde.encode(&row).unwrap(), br#"{"ORDER_ID":97,"NOTE":null}"#.to_vec());
//! ```

use base64::Engine as _;
use serde::de::DeserializeSeed as _;
use serde_json::{Map, Value as Json};

use ddsql_sql::types::{SqlType, Value, F64};

use super::{Field, Serde};

pub struct JsonSerde {
    fields: Vec<Field>,
    wrapped: bool,
}

impl JsonSerde {
    pub fn new(fields: Vec<Field>, wrap_single: bool) -> JsonSerde {
        let wrapped = fields.len() != 1 || wrap_single;
        JsonSerde { fields, wrapped }
    }
}

impl Serde for JsonSerde {
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, String> {
        // Straight from the text into the row: no JSON tree, no key
        // strings. A value that is not a plain scalar of its column's
        // type goes through `from_json`, so the rules stay one.
        let failure = std::cell::RefCell::new(None);
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let row = if self.wrapped {
            de::RowSeed {
                fields: &self.fields,
                failure: &failure,
            }
            .deserialize(&mut de)
        } else {
            let (name, ty) = &self.fields[0];
            de::ValueSeed {
                name,
                ty,
                failure: &failure,
            }
            .deserialize(&mut de)
            .map(|v| vec![v])
        };
        let row = row.and_then(|row| de.end().map(|()| row));
        match (row, failure.into_inner()) {
            (Ok(row), _) => Ok(row),
            (Err(_), Some(reason)) => Err(reason),
            (Err(e), None) => Err(format!("invalid JSON: {e}")),
        }
    }

    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(16 * values.len() + 2);
        if self.wrapped {
            out.push(b'{');
            for (i, ((name, ty), v)) in self.fields.iter().zip(values).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, name).expect("a string serialises");
                out.push(b':');
                write_value(&mut out, v, ty)?;
            }
            out.push(b'}');
        } else {
            write_value(&mut out, &values[0], &self.fields[0].1)?;
        }
        Ok(out)
    }
}

/// A value's JSON text, as `to_json` would give it, without building a
/// JSON tree for the common scalars.
fn write_value(out: &mut Vec<u8>, v: &Value, ty: &SqlType) -> Result<(), String> {
    use std::io::Write as _;
    match (v, ty) {
        (Value::Null, _) => out.extend_from_slice(b"null"),
        (Value::BigInt(i), SqlType::BigInt) => write!(out, "{i}").expect("into memory"),
        (Value::Int(i), SqlType::Int) => write!(out, "{i}").expect("into memory"),
        (Value::Boolean(b), SqlType::Boolean) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" })
        }
        (Value::String(s), SqlType::String) => {
            serde_json::to_writer(&mut *out, s).expect("a string serialises")
        }
        _ => serde_json::to_writer(&mut *out, &to_json(v, ty)?).expect("JSON values serialise"),
    }
    Ok(())
}

/// Reading a row straight from JSON text (see [`JsonSerde::decode`]).
mod de {
    use std::borrow::Cow;
    use std::cell::RefCell;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde::Deserialize as _;
    use serde_json::Value as Json;

    use ddsql_sql::types::{SqlType, Value};

    use super::{from_json, Field};

    /// The row of `fields` from a JSON object; a field's error is kept in
    /// `failure` (it is the message, not the JSON parser's).
    pub struct RowSeed<'a> {
        pub fields: &'a [Field],
        pub failure: &'a RefCell<Option<String>>,
    }

    impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
        type Value = Vec<Value>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for RowSeed<'_> {
        type Value = Vec<Value>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Value>, A::Error> {
            let mut row = vec![Value::Null; self.fields.len()];
            // A field named exactly wins over one that matches in another case.
            let mut exact = vec![false; self.fields.len()];
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                let found = self
                    .fields
                    .iter()
                    .position(|(name, _)| *name == *key)
                    .map(|i| (i, true))
                    .or_else(|| {
                        self.fields
                            .iter()
                            .position(|(name, _)| name.eq_ignore_ascii_case(&key))
                            .map(|i| (i, false))
                    });
                match found {
                    Some((i, is_exact)) if is_exact || !exact[i] => {
                        let (name, ty) = &self.fields[i];
                        row[i] = map.next_value_seed(ValueSeed {
                            name,
                            ty,
                            failure: self.failure,
                        })?;
                        exact[i] |= is_exact;
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(row)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<Value>, A::Error> {
            let json = Json::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
            Err(self.fail(format!(
                "expected a JSON object, got {}",
                super::kind(&json)
            )))
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<Value>, E> {
            Err(self.fail("expected a JSON object, got a boolean".into()))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<Value>, E> {
            Err(self.fail("expected a JSON object, got a number".into()))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<Value>, E> {
            Err(self.fail("expected a JSON object, got a number".into()))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<Value>, E> {
            Err(self.fail("expected a JSON object, got a number".into()))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<Value>, E> {
            Err(self.fail("expected a JSON object, got a string".into()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<Value>, E> {
            Err(self.fail("expected a JSON object, got null".into()))
        }
    }

    impl RowSeed<'_> {
        fn fail<E: de::Error>(&self, reason: String) -> E {
            let e = E::custom(&reason);
            self.failure.borrow_mut().get_or_insert(reason);
            e
        }
    }

    /// One column's value: a plain scalar of its type directly, anything
    /// else through [`from_json`].
    pub struct ValueSeed<'a> {
        pub name: &'a str,
        pub ty: &'a SqlType,
        pub failure: &'a RefCell<Option<String>>,
    }

    impl ValueSeed<'_> {
        fn convert<E: de::Error>(&self, json: &Json) -> Result<Value, E> {
            from_json(json, self.ty).map_err(|e| {
                let reason = format!("{}: {e}", self.name);
                let err = E::custom(&reason);
                self.failure.borrow_mut().get_or_insert(reason);
                err
            })
        }
    }

    impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
        type Value = Value;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for ValueSeed<'_> {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a value of type {}", self.ty)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E: de::Error>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
            match self.ty {
                SqlType::Boolean => Ok(Value::Boolean(b)),
                _ => self.convert(&Json::Bool(b)),
            }
        }
        fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
            match self.ty {
                SqlType::BigInt => Ok(Value::BigInt(i)),
                _ => self.convert(&Json::from(i)),
            }
        }
        fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
            match (self.ty, i64::try_from(u)) {
                (SqlType::BigInt, Ok(i)) => Ok(Value::BigInt(i)),
                _ => self.convert(&Json::from(u)),
            }
        }
        fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
            match serde_json::Number::from_f64(f) {
                Some(n) => self.convert(&Json::Number(n)),
                None => self.convert(&Json::Null),
            }
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
            match self.ty {
                SqlType::String => Ok(Value::String(s.to_owned())),
                _ => self.convert(&Json::String(s.to_owned())),
            }
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
            let json = Json::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
            self.convert(&json)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
            let json = Json::deserialize(de::value::MapAccessDeserializer::new(map))?;
            self.convert(&json)
        }
    }
}

/// JSON_SR: JSON in Confluent's wire format (a zero magic byte and a
/// 4-byte schema id before the JSON text). Reading also accepts plain JSON,
/// as ksqlDB's JSON_SR reader tolerates. Until the Schema Registry client
/// lands, the id written is 0 and the id read is not looked up.
pub struct JsonSrSerde(JsonSerde);

impl JsonSrSerde {
    pub fn new(fields: Vec<Field>, wrap_single: bool) -> JsonSrSerde {
        JsonSrSerde(JsonSerde::new(fields, wrap_single))
    }
}

impl Serde for JsonSrSerde {
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, String> {
        match bytes {
            [0, _, _, _, _, rest @ ..] => self.0.decode(rest),
            plain => self.0.decode(plain),
        }
    }

    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, String> {
        let mut out = vec![0, 0, 0, 0, 0];
        out.extend(self.0.encode(values)?);
        Ok(out)
    }
}

fn field<'a>(obj: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A JSON value as a value of SQL type `ty`.
pub fn from_json(v: &Json, ty: &SqlType) -> Result<Value, String> {
    let mismatch = || format!("expected {ty}, got {}", kind(v));
    if v.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        SqlType::Boolean => match v {
            Json::Bool(b) => Value::Boolean(*b),
            Json::String(s)
                if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
            {
                Value::Boolean(s.eq_ignore_ascii_case("true"))
            }
            _ => return Err(mismatch()),
        },
        SqlType::Int => Value::Int(
            integer(v)
                .ok_or_else(mismatch)?
                .try_into()
                .map_err(|_| format!("{v} is out of range for INT"))?,
        ),
        SqlType::BigInt => Value::BigInt(integer(v).ok_or_else(mismatch)?),
        SqlType::Timestamp => Value::Timestamp(integer(v).ok_or_else(mismatch)?),
        SqlType::Date => Value::Date(
            integer(v)
                .ok_or_else(mismatch)?
                .try_into()
                .map_err(|_| format!("{v} is out of range for DATE"))?,
        ),
        SqlType::Time => Value::Time(
            integer(v)
                .ok_or_else(mismatch)?
                .try_into()
                .map_err(|_| format!("{v} is out of range for TIME"))?,
        ),
        SqlType::Double => match v {
            Json::Number(n) => Value::Double(F64(n.as_f64().ok_or_else(mismatch)?)),
            Json::String(s) => Value::Double(F64(s.trim().parse().map_err(|_| mismatch())?)),
            _ => return Err(mismatch()),
        },
        SqlType::Decimal { precision, scale } => {
            let text = match v {
                Json::Number(n) => n.to_string(),
                Json::String(s) => s.trim().to_string(),
                _ => return Err(mismatch()),
            };
            let parsed =
                ddsql_sql::eval::cast(&Value::String(text), ty).map_err(|e| e.to_string())?;
            if let Value::Decimal(u, _) = parsed {
                if u.unsigned_abs().to_string().len() > *precision as usize {
                    return Err(format!("{v} does not fit DECIMAL({precision}, {scale})"));
                }
            }
            parsed
        }
        SqlType::String => match v {
            Json::String(s) => Value::String(s.clone()),
            // ksqlDB keeps the JSON text of a non-string value.
            other => Value::String(other.to_string()),
        },
        SqlType::Bytes => match v {
            Json::String(s) => Value::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| format!("invalid base64: {e}"))?,
            ),
            _ => return Err(mismatch()),
        },
        SqlType::Array(elem) => match v {
            Json::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| from_json(i, elem))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(mismatch()),
        },
        SqlType::Map(k, val) => match v {
            Json::Object(obj) => Value::Map(
                obj.iter()
                    .map(|(key, item)| {
                        Ok((
                            from_json(&Json::String(key.clone()), k)?,
                            from_json(item, val)?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            _ => return Err(mismatch()),
        },
        SqlType::Struct(fields) => match v {
            Json::Object(obj) => Value::Struct(
                fields
                    .iter()
                    .map(|(name, t)| match field(obj, name) {
                        None => Ok(Value::Null),
                        Some(item) => from_json(item, t).map_err(|e| format!("{name}: {e}")),
                    })
                    .collect::<Result<_, String>>()?,
            ),
            _ => return Err(mismatch()),
        },
    })
}

fn integer(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub use ddsql_sql::eval::to_json;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nested_types() {
        let ty = SqlType::Struct(vec![
            ("A".into(), SqlType::Array(Box::new(SqlType::BigInt))),
            (
                "M".into(),
                SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Double)),
            ),
            ("B".into(), SqlType::Bytes),
            (
                "D".into(),
                SqlType::Decimal {
                    precision: 5,
                    scale: 2,
                },
            ),
        ]);
        let serde = JsonSerde::new(vec![("S".into(), ty)], true);
        let row = vec![Value::Struct(vec![
            Value::Array(vec![Value::BigInt(1), Value::Null]),
            Value::Map(vec![(Value::String("x".into()), Value::Double(F64(1.5)))]),
            Value::Bytes(vec![0, 255]),
            Value::Decimal(1234, 2),
        ])];
        let bytes = serde.encode(&row).unwrap();
        assert_eq!(serde.decode(&bytes).unwrap(), row);
    }

    #[test]
    fn unwrapped_single_keys_are_bare_values() {
        let serde = JsonSerde::new(vec![("USER_ID".into(), SqlType::BigInt)], false);
        assert_eq!(serde.encode(&[Value::BigInt(7)]).unwrap(), b"7".to_vec());
        assert_eq!(serde.decode(b"7").unwrap(), vec![Value::BigInt(7)]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let serde = JsonSerde::new(vec![("X".into(), SqlType::Int)], true);
        assert!(serde
            .decode(b"{\"x\": ")
            .unwrap_err()
            .contains("invalid JSON"));
        assert!(serde
            .decode(b"[1]")
            .unwrap_err()
            .contains("expected a JSON object"));
        assert!(serde
            .decode(b"{\"x\": \"abc\"}")
            .unwrap_err()
            .contains("expected INTEGER"));
        assert!(serde
            .decode(b"{\"x\": 99999999999}")
            .unwrap_err()
            .contains("out of range"));
    }
}
