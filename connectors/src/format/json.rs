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
        let json: Json = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
        if !self.wrapped {
            let (name, ty) = &self.fields[0];
            return Ok(vec![
                from_json(&json, ty).map_err(|e| format!("{name}: {e}"))?
            ]);
        }
        let Json::Object(obj) = &json else {
            return Err(format!("expected a JSON object, got {}", kind(&json)));
        };
        self.fields
            .iter()
            .map(|(name, ty)| match field(obj, name) {
                None => Ok(Value::Null),
                Some(v) => from_json(v, ty).map_err(|e| format!("{name}: {e}")),
            })
            .collect()
    }

    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, String> {
        let json = if self.wrapped {
            let mut obj = Map::new();
            for ((name, ty), v) in self.fields.iter().zip(values) {
                obj.insert(name.clone(), to_json(v, ty)?);
            }
            Json::Object(obj)
        } else {
            to_json(&values[0], &self.fields[0].1)?
        };
        Ok(serde_json::to_vec(&json).expect("JSON values serialise"))
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
