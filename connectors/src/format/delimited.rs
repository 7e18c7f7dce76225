//! The DELIMITED format: one field per column, separated by a single
//! character (`,` by default; `KEY_DELIMITER`/`VALUE_DELIMITER` may name
//! another, or `SPACE`/`TAB`). Fields holding the delimiter, a quote or a
//! line break are double-quoted with `""` escaping, as in CSV; an empty
//! field is NULL. TIMESTAMP is epoch milliseconds, DATE days, TIME
//! milliseconds of the day, BYTES base64. ARRAY, MAP and STRUCT cannot be
//! written.
//!
//! ```
//! use ddsql_connectors::format::{delimited::DelimitedSerde, Serde};
//! use ddsql_sql::types::{SqlType, Value};
//! let serde = DelimitedSerde::new(vec![("ID".into(), SqlType::Int), ("NAME".into(), SqlType::String)], ',', "value").unwrap();
//! assert_eq!(serde.decode(b"7,\"a, b\"").unwrap(), vec![Value::Int(7), Value::String("a, b".into())]);
//! assert_eq!(serde.encode(&[Value::Int(7), Value::Null]).unwrap(), b"7,".to_vec());
//! ```

use base64::Engine as _;

use ddsql_sql::eval;
use ddsql_sql::types::{SqlType, Value};

use super::{Field, Serde};

pub struct DelimitedSerde {
    fields: Vec<Field>,
    delimiter: char,
}

impl DelimitedSerde {
    pub fn new(fields: Vec<Field>, delimiter: char, side: &str) -> Result<DelimitedSerde, String> {
        for (name, ty) in &fields {
            if matches!(
                ty,
                SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)
            ) {
                return Err(format!(
                    "{side} format DELIMITED cannot carry column {name} of type {ty}; use JSON"
                ));
            }
        }
        Ok(DelimitedSerde { fields, delimiter })
    }
}

/// Splits a line into fields, honouring double quotes.
fn split(line: &str, delimiter: char) -> Vec<Option<String>> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' if quoted => quoted = false,
            '"' if current.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            c if c == delimiter && !quoted => {
                fields.push(if current.is_empty() && !was_quoted {
                    None
                } else {
                    Some(std::mem::take(&mut current))
                });
                was_quoted = false;
            }
            c => current.push(c),
        }
    }
    fields.push(if current.is_empty() && !was_quoted {
        None
    } else {
        Some(current)
    });
    fields
}

fn parse_field(text: &str, ty: &SqlType) -> Result<Value, String> {
    let bad = || format!("'{text}' is not a valid {ty}");
    let int = || text.trim().parse::<i64>().map_err(|_| bad());
    Ok(match ty {
        SqlType::Timestamp => Value::Timestamp(int()?),
        SqlType::Date => Value::Date(int()?.try_into().map_err(|_| bad())?),
        SqlType::Time => Value::Time(int()?.try_into().map_err(|_| bad())?),
        SqlType::Bytes => Value::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| bad())?,
        ),
        SqlType::Boolean => match text.trim().to_lowercase().as_str() {
            "true" => Value::Boolean(true),
            "false" => Value::Boolean(false),
            _ => return Err(bad()),
        },
        _ => eval::cast(&Value::String(text.to_string()), ty).map_err(|_| bad())?,
    })
}

fn format_field(v: &Value, delimiter: char) -> Result<String, String> {
    let text = match v {
        Value::Null => return Ok(String::new()),
        Value::String(s) => s.clone(),
        Value::Timestamp(t) => t.to_string(),
        Value::Date(d) | Value::Time(d) => d.to_string(),
        Value::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b),
        Value::Array(_) | Value::Map(_) | Value::Struct(_) => {
            return Err("DELIMITED cannot write ARRAY, MAP or STRUCT values".into())
        }
        other => match eval::cast(other, &SqlType::String) {
            Ok(Value::String(s)) => s,
            _ => return Err(format!("cannot write {other:?} as DELIMITED")),
        },
    };
    Ok(
        if text.contains(delimiter) || text.contains('"') || text.contains('\n') || text.is_empty()
        {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        },
    )
}

impl Serde for DelimitedSerde {
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, String> {
        let line = std::str::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_string())?;
        let fields = split(line, self.delimiter);
        if fields.len() != self.fields.len() {
            return Err(format!(
                "expected {} fields, got {}",
                self.fields.len(),
                fields.len()
            ));
        }
        self.fields
            .iter()
            .zip(fields)
            .map(|((name, ty), f)| match f {
                None => Ok(Value::Null),
                Some(text) => parse_field(&text, ty).map_err(|e| format!("{name}: {e}")),
            })
            .collect()
    }

    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, String> {
        let fields = values
            .iter()
            .map(|v| format_field(v, self.delimiter))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(fields.join(&self.delimiter.to_string()).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_nulls_and_types_round_trip() {
        let fields = vec![
            ("A".into(), SqlType::String),
            ("B".into(), SqlType::BigInt),
            (
                "C".into(),
                SqlType::Decimal {
                    precision: 4,
                    scale: 2,
                },
            ),
            ("D".into(), SqlType::Boolean),
            ("E".into(), SqlType::Bytes),
        ];
        let serde = DelimitedSerde::new(fields, '|', "value").unwrap();
        let row = vec![
            Value::String("x|\"y\"".into()),
            Value::Null,
            Value::Decimal(1050, 2),
            Value::Boolean(true),
            Value::Bytes(vec![1, 2]),
        ];
        let bytes = serde.encode(&row).unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "\"x|\"\"y\"\"\"||10.50|true|AQI="
        );
        assert_eq!(serde.decode(&bytes).unwrap(), row);
        assert!(serde
            .decode(b"a|b")
            .unwrap_err()
            .contains("expected 5 fields, got 2"));
        assert!(DelimitedSerde::new(
            vec![("S".into(), SqlType::Array(Box::new(SqlType::Int)))],
            ',',
            "value"
        )
        .is_err());
    }
}
