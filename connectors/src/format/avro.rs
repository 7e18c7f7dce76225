//! The AVRO format: Avro's binary encoding in Confluent's wire format
//! (a zero magic byte, a 4-byte big-endian schema id, then the datum).
//!
//! The schema is derived from the columns as ksqlDB derives it: a record
//! `KsqlDataSourceSchema` of nullable fields (`["null", T]`), DECIMAL as
//! `bytes` with the `decimal` logical type, DATE/TIME/TIMESTAMP as
//! `date`/`time-millis`/`timestamp-millis`, maps with string keys. A single
//! unwrapped column (a key, or `WRAP_SINGLE_VALUE=false`) is the bare
//! nullable type.
//!
//! Until the Schema Registry client lands, a record is read with the
//! source's own schema (the writer's id is not looked up), and schema ids
//! are assigned in this process, one per distinct schema. The encoding is
//! written here rather than through the `apache-avro` crate because it goes
//! straight from our values to bytes with no intermediate tree: this is the
//! hot path of every Debezium pipeline.
//!
//! ```
//! use ddsql_connectors::format::{avro::AvroSerde, Serde};
//! use ddsql_sql::types::{SqlType, Value};
//! let serde = AvroSerde::new(vec![("ID".into(), SqlType::BigInt), ("NAME".into(), SqlType::String)], true);
//! let row = vec![Value::BigInt(-3), Value::String("a".into())];
//! let bytes = serde.encode(&row).unwrap();
//! // magic byte, schema id, then for each field: union branch 1 and the value
//! assert_eq!(bytes[0], 0);
//! assert_eq!(&bytes[5..], &[2, 5, 2, 2, b'a']);
//! assert_eq!(serde.decode(&bytes).unwrap(), row);
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value as Json};

use ddsql_sql::types::{SqlType, Value, F64};

use super::{decimal_from_bytes, decimal_to_bytes, rescale, Field, Serde};

/// An Avro schema, as far as ksqlDB's types need one.
#[derive(Clone, Debug, PartialEq)]
pub enum Schema {
    Null,
    Boolean,
    Int,
    Long,
    Double,
    String,
    Bytes,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    TimeMillis,
    TimestampMillis,
    Array(Box<Schema>),
    /// String keys.
    Map(Box<Schema>),
    Record {
        name: String,
        fields: Vec<(String, Schema)>,
    },
    /// `["null", T]`
    Nullable(Box<Schema>),
}

impl Schema {
    /// The nullable schema of a column of type `ty`; `name` names nested
    /// records.
    pub fn of(ty: &SqlType, name: &str) -> Schema {
        let inner = match ty {
            SqlType::Boolean => Schema::Boolean,
            SqlType::Int => Schema::Int,
            SqlType::BigInt => Schema::Long,
            SqlType::Double => Schema::Double,
            SqlType::Decimal { precision, scale } => Schema::Decimal {
                precision: *precision,
                scale: *scale,
            },
            SqlType::String => Schema::String,
            SqlType::Bytes => Schema::Bytes,
            SqlType::Date => Schema::Date,
            SqlType::Time => Schema::TimeMillis,
            SqlType::Timestamp => Schema::TimestampMillis,
            SqlType::Array(t) => Schema::Array(Box::new(Schema::of(t, name))),
            SqlType::Map(_, v) => Schema::Map(Box::new(Schema::of(v, name))),
            SqlType::Struct(fields) => Schema::Record {
                name: name.to_string(),
                fields: fields
                    .iter()
                    .map(|(n, t)| (n.clone(), Schema::of(t, &format!("{name}_{n}"))))
                    .collect(),
            },
        };
        Schema::Nullable(Box::new(inner))
    }

    /// The schema as Avro's JSON, for the registry.
    pub fn to_json(&self) -> Json {
        match self {
            Schema::Null => json!("null"),
            Schema::Boolean => json!("boolean"),
            Schema::Int => json!("int"),
            Schema::Long => json!("long"),
            Schema::Double => json!("double"),
            Schema::String => json!("string"),
            Schema::Bytes => json!("bytes"),
            Schema::Decimal { precision, scale } => {
                json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale})
            }
            Schema::Date => json!({"type": "int", "logicalType": "date"}),
            Schema::TimeMillis => json!({"type": "int", "logicalType": "time-millis"}),
            Schema::TimestampMillis => json!({"type": "long", "logicalType": "timestamp-millis"}),
            Schema::Array(items) => json!({"type": "array", "items": items.to_json()}),
            Schema::Map(values) => json!({"type": "map", "values": values.to_json()}),
            Schema::Record { name, fields } => json!({
                "type": "record",
                "name": name,
                "namespace": "io.confluent.ksql.avro_schemas",
                "fields": fields.iter().map(|(n, s)| json!({"name": n, "type": s.to_json(), "default": null})).collect::<Vec<_>>(),
            }),
            Schema::Nullable(inner) => json!(["null", inner.to_json()]),
        }
    }
}

/// Schema ids handed out in this process, by schema text.
fn schema_id(schema: &Schema) -> u32 {
    static IDS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);
    let mut ids = IDS.lock().unwrap_or_else(|p| p.into_inner());
    let ids = ids.get_or_insert_with(HashMap::new);
    let next = ids.len() as u32 + 1;
    *ids.entry(schema.to_json().to_string()).or_insert(next)
}

pub struct AvroSerde {
    schema: Schema,
    wrapped: bool,
    id: u32,
}

impl AvroSerde {
    pub fn new(fields: Vec<Field>, wrap_single: bool) -> AvroSerde {
        let wrapped = fields.len() != 1 || wrap_single;
        let schema = if wrapped {
            Schema::Record {
                name: "KsqlDataSourceSchema".into(),
                fields: fields
                    .iter()
                    .map(|(n, t)| {
                        (
                            n.clone(),
                            Schema::of(t, &format!("KsqlDataSourceSchema_{n}")),
                        )
                    })
                    .collect(),
            }
        } else {
            Schema::of(&fields[0].1, "KsqlDataSourceSchema")
        };
        let id = schema_id(&schema);
        AvroSerde {
            schema,
            wrapped,
            id,
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

impl Serde for AvroSerde {
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, String> {
        let datum = match bytes {
            [0, _, _, _, _, rest @ ..] => rest,
            _ => {
                return Err("not in Confluent's wire format (no magic byte 0 and schema id)".into())
            }
        };
        let mut reader = Reader { bytes: datum };
        let value = reader.value(&self.schema)?;
        if !reader.bytes.is_empty() {
            return Err(format!(
                "{} bytes left after the record",
                reader.bytes.len()
            ));
        }
        Ok(match (self.wrapped, value) {
            (true, Value::Struct(fields)) => fields,
            (true, Value::Null) => return Err("a null record".into()),
            (_, v) => vec![v],
        })
    }

    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(64);
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        match &self.schema {
            Schema::Record { fields, .. } if self.wrapped => {
                for ((name, schema), v) in fields.iter().zip(values) {
                    write(&mut out, schema, v).map_err(|e| format!("{name}: {e}"))?;
                }
            }
            schema => write(&mut out, schema, &values[0])?,
        }
        Ok(out)
    }
}

fn write_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

fn write(out: &mut Vec<u8>, schema: &Schema, v: &Value) -> Result<(), String> {
    match (schema, v) {
        (Schema::Nullable(_), Value::Null) => write_long(out, 0),
        (Schema::Nullable(inner), v) => {
            write_long(out, 1);
            write(out, inner, v)?;
        }
        (Schema::Null, Value::Null) => {}
        (Schema::Boolean, Value::Boolean(b)) => out.push(*b as u8),
        (Schema::Int, Value::Int(i)) | (Schema::Date, Value::Date(i)) => write_long(out, *i as i64),
        (Schema::TimeMillis, Value::Time(i)) => write_long(out, *i as i64),
        (Schema::Long, Value::BigInt(i)) | (Schema::TimestampMillis, Value::Timestamp(i)) => {
            write_long(out, *i)
        }
        (Schema::Long, Value::Int(i)) => write_long(out, *i as i64),
        (Schema::Double, Value::Double(d)) => out.extend_from_slice(&d.0.to_le_bytes()),
        (Schema::String, Value::String(s)) => write_bytes(out, s.as_bytes()),
        (Schema::Bytes, Value::Bytes(b)) => write_bytes(out, b),
        (Schema::Decimal { scale, .. }, Value::Decimal(unscaled, s)) => {
            write_bytes(out, &decimal_to_bytes(rescale(*unscaled, *s, *scale)?));
        }
        (Schema::Array(items), Value::Array(vs)) => {
            if !vs.is_empty() {
                write_long(out, vs.len() as i64);
                for v in vs {
                    write(out, items, v)?;
                }
            }
            write_long(out, 0);
        }
        (Schema::Map(values), Value::Map(entries)) => {
            if !entries.is_empty() {
                write_long(out, entries.len() as i64);
                for (k, v) in entries {
                    let Value::String(k) = k else {
                        return Err("AVRO maps need STRING keys".into());
                    };
                    write_bytes(out, k.as_bytes());
                    write(out, values, v)?;
                }
            }
            write_long(out, 0);
        }
        (Schema::Record { fields, .. }, Value::Struct(vs)) => {
            for ((name, schema), v) in fields.iter().zip(vs) {
                write(out, schema, v).map_err(|e| format!("{name}: {e}"))?;
            }
        }
        (schema, v) => return Err(format!("cannot write {v:?} as Avro {}", schema.to_json())),
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.bytes.len() < n {
            return Err("the record ends early".into());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn long(&mut self) -> Result<i64, String> {
        let (mut z, mut shift) = (0u64, 0);
        loop {
            let b = self.take(1)?[0];
            if shift > 63 {
                return Err("a malformed variable-length integer".into());
            }
            z |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok((z >> 1) as i64 ^ -((z & 1) as i64))
    }

    fn int(&mut self) -> Result<i32, String> {
        i32::try_from(self.long()?).map_err(|_| "an int out of range".to_string())
    }

    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.long()?;
        let n = usize::try_from(n).map_err(|_| "a negative length".to_string())?;
        Ok(self.take(n)?.to_vec())
    }

    /// Reads Avro's blocked arrays and maps: `item` once per element.
    fn blocks(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        loop {
            let mut n = self.long()?;
            if n == 0 {
                return Ok(());
            }
            if n < 0 {
                n = -n;
                self.long()?; // the block's size in bytes
            }
            for _ in 0..n {
                item(self)?;
            }
        }
    }

    fn value(&mut self, schema: &Schema) -> Result<Value, String> {
        Ok(match schema {
            Schema::Nullable(inner) => match self.long()? {
                0 => Value::Null,
                1 => self.value(inner)?,
                b => return Err(format!("union branch {b} of a nullable type")),
            },
            Schema::Null => Value::Null,
            Schema::Boolean => Value::Boolean(self.take(1)?[0] != 0),
            Schema::Int => Value::Int(self.int()?),
            Schema::Date => Value::Date(self.int()?),
            Schema::TimeMillis => Value::Time(self.int()?),
            Schema::Long => Value::BigInt(self.long()?),
            Schema::TimestampMillis => Value::Timestamp(self.long()?),
            Schema::Double => {
                let b: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
                Value::Double(F64(f64::from_le_bytes(b)))
            }
            Schema::String => Value::String(
                String::from_utf8(self.bytes()?).map_err(|_| "a string that is not UTF-8")?,
            ),
            Schema::Bytes => Value::Bytes(self.bytes()?),
            Schema::Decimal { scale, .. } => {
                Value::Decimal(decimal_from_bytes(&self.bytes()?)?, *scale)
            }
            Schema::Array(items) => {
                let mut out = Vec::new();
                self.blocks(|r| {
                    out.push(r.value(items)?);
                    Ok(())
                })?;
                Value::Array(out)
            }
            Schema::Map(values) => {
                let mut out = Vec::new();
                self.blocks(|r| {
                    let k = String::from_utf8(r.bytes()?).map_err(|_| "a key that is not UTF-8")?;
                    out.push((Value::String(k), r.value(values)?));
                    Ok(())
                })?;
                Value::Map(out)
            }
            Schema::Record { fields, .. } => Value::Struct(
                fields
                    .iter()
                    .map(|(name, s)| self.value(s).map_err(|e| format!("{name}: {e}")))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(ty: SqlType, v: Value) {
        let serde = AvroSerde::new(vec![("C".into(), ty)], true);
        let bytes = serde.encode(std::slice::from_ref(&v)).unwrap();
        assert_eq!(serde.decode(&bytes).unwrap(), vec![v]);
    }

    #[test]
    fn arrays_hold_nulls() {
        round_trip(
            SqlType::Array(Box::new(SqlType::Int)),
            Value::Array(vec![Value::Int(1), Value::Null]),
        );
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        let serde = AvroSerde::new(vec![("C".into(), SqlType::String)], true);
        assert!(serde.decode(b"{}").is_err());
        assert!(serde.decode(&[0, 0, 0, 0, 1, 2, 40]).is_err());
        assert!(serde.decode(&[0, 0, 0, 0, 1, 9]).is_err());
    }

    proptest! {
        #[test]
        fn longs_and_decimals_round_trip(n in any::<i64>(), d in any::<i64>()) {
            round_trip(SqlType::BigInt, Value::BigInt(n));
            round_trip(SqlType::Decimal { precision: 38, scale: 3 }, Value::Decimal(d as i128 * 1000 + 7, 3));
        }

        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let serde = AvroSerde::new(vec![("A".into(), SqlType::Array(Box::new(SqlType::String))), ("B".into(), SqlType::Decimal { precision: 5, scale: 1 })], true);
            let _ = serde.decode(&bytes);
        }
    }
}
