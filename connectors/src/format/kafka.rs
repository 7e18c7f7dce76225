//! The KAFKA format: one column, serialised as Kafka's own serializers do
//! (`IntegerSerializer`, `LongSerializer`, `DoubleSerializer`,
//! `StringSerializer`, `BytesSerializer`): big-endian numbers, UTF-8 text.

use ddsql_sql::types::{SqlType, Value, F64};

use super::{Field, Serde};

pub struct KafkaSerde {
    ty: Option<SqlType>,
}

impl KafkaSerde {
    pub fn new(fields: Vec<Field>, side: &str) -> Result<KafkaSerde, String> {
        match fields.as_slice() {
            [] => Ok(KafkaSerde { ty: None }),
            [(_, ty @ (SqlType::Int | SqlType::BigInt | SqlType::Double | SqlType::String | SqlType::Bytes))] => {
                Ok(KafkaSerde { ty: Some(ty.clone()) })
            }
            [(name, ty)] => Err(format!("{side} format KAFKA cannot carry column {name} of type {ty}; it supports INT, BIGINT, DOUBLE, STRING and BYTES")),
            _ => Err(format!("{side} format KAFKA carries one column, not {}; use JSON for several", fields.len())),
        }
    }
}

fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], String> {
    bytes.try_into().map_err(|_| {
        format!(
            "a KAFKA-format {what} has {N} bytes, this one {}",
            bytes.len()
        )
    })
}

impl Serde for KafkaSerde {
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, String> {
        let Some(ty) = &self.ty else {
            return Ok(vec![]);
        };
        Ok(vec![match ty {
            SqlType::Int => Value::Int(i32::from_be_bytes(fixed(bytes, "INT")?)),
            SqlType::BigInt => Value::BigInt(i64::from_be_bytes(fixed(bytes, "BIGINT")?)),
            SqlType::Double => Value::Double(F64(f64::from_be_bytes(fixed(bytes, "DOUBLE")?))),
            SqlType::String => Value::String(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| "a STRING is not valid UTF-8".to_string())?,
            ),
            SqlType::Bytes => Value::Bytes(bytes.to_vec()),
            _ => unreachable!("checked in new"),
        }])
    }

    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, String> {
        Ok(match values.first() {
            None | Some(Value::Null) => vec![],
            Some(Value::Int(i)) => i.to_be_bytes().to_vec(),
            Some(Value::BigInt(i)) => i.to_be_bytes().to_vec(),
            Some(Value::Double(d)) => d.0.to_be_bytes().to_vec(),
            Some(Value::String(s)) => s.as_bytes().to_vec(),
            Some(Value::Bytes(b)) => b.clone(),
            Some(other) => return Err(format!("KAFKA format cannot write {other:?}")),
        })
    }
}
