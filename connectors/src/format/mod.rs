//! Formats: how a source's key columns and value columns become bytes.
//!
//! A source's [`Codec`] pairs a key serde and a value serde, each chosen by
//! the source's `KEY_FORMAT` / `VALUE_FORMAT`. Formats know nothing of
//! where bytes travel (that is the transport's business).

pub mod avro;
pub mod avro_json;
pub mod delimited;
pub mod json;
pub mod json_schema;
pub mod kafka;
pub mod proto_file;
pub mod protobuf;

use std::sync::Arc;

use crate::schema_registry::{SchemaRegistry, SchemaType};
use ddsql_engine::io::{Codec, CodecFactory, Decoded, KeyValue};
use ddsql_sql::catalog::{Envelope, Format, SchemaLookup, Source};
use ddsql_sql::types::{SqlType, Value};

/// One side (key or value) of a record.
pub trait Serde: Send + Sync {
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, String>;
    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, String>;
    /// Registers the schema this serde writes, for formats that keep
    /// theirs in a Schema Registry (a no-op for the others).
    fn register(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A column as a format sees it.
pub type Field = (String, SqlType);

/// Builds the serde for `format` over `fields`. `wrap` says whether a
/// single column is wrapped in an object/record (values by default) or
/// stands alone (keys). `registry` is the Schema Registry and the subject
/// of this side of the topic, when one is configured.
pub fn serde_for(
    format: Format,
    fields: Vec<Field>,
    wrap: bool,
    delimiter: char,
    side: &str,
    registry: Option<(&Arc<SchemaRegistry>, String)>,
) -> Result<Box<dyn Serde>, String> {
    match format {
        Format::Json => Ok(Box::new(json::JsonSerde::new(fields, wrap))),
        Format::Avro => {
            let serde = avro::AvroSerde::new(fields, wrap);
            Ok(Box::new(match registry {
                Some((registry, subject)) => serde.with_registry(registry.clone(), subject),
                None => serde,
            }))
        }
        Format::JsonSr => Ok(Box::new(json::JsonSrSerde::new(fields, wrap))),
        Format::Protobuf => Ok(Box::new(protobuf::ProtobufSerde::new(fields, true))),
        Format::ProtobufNoSr => Ok(Box::new(protobuf::ProtobufSerde::new(fields, false))),
        Format::Kafka => Ok(Box::new(kafka::KafkaSerde::new(fields, side)?)),
        Format::Delimited => Ok(Box::new(delimited::DelimitedSerde::new(
            fields, delimiter, side,
        )?)),
        Format::None if fields.is_empty() => Ok(Box::new(NoneSerde)),
        Format::None => Err(format!("{side} format NONE cannot carry columns")),
    }
}

/// A DECIMAL's unscaled value at scale `from`, rescaled exactly to `to`.
pub(crate) fn rescale(unscaled: i128, from: u8, to: u8) -> Result<i128, String> {
    if from <= to {
        10i128
            .checked_pow((to - from) as u32)
            .and_then(|f| unscaled.checked_mul(f))
            .ok_or_else(|| "the decimal overflows its type".to_string())
    } else {
        let f = 10i128.pow((from - to) as u32);
        if unscaled % f != 0 {
            return Err(format!("the decimal has more than {to} decimal places"));
        }
        Ok(unscaled / f)
    }
}

/// An unscaled decimal as big-endian two's complement, in the fewest bytes
/// (how Avro's and Confluent's Protobuf decimals carry it).
pub(crate) fn decimal_to_bytes(n: i128) -> Vec<u8> {
    let full = n.to_be_bytes();
    let sign = if n < 0 { 0xff } else { 0 };
    let mut start = 0;
    while start < 15 && full[start] == sign && (full[start + 1] & 0x80) == (sign & 0x80) {
        start += 1;
    }
    full[start..].to_vec()
}

/// The inverse of [`decimal_to_bytes`].
pub(crate) fn decimal_from_bytes(b: &[u8]) -> Result<i128, String> {
    if b.len() > 16 {
        return Err("a decimal wider than 128 bits".into());
    }
    let fill = if b.first().is_some_and(|x| x & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut full = [fill; 16];
    full[16 - b.len()..].copy_from_slice(b);
    Ok(i128::from_be_bytes(full))
}

struct NoneSerde;
impl Serde for NoneSerde {
    fn decode(&self, _: &[u8]) -> Result<Vec<Value>, String> {
        Ok(vec![])
    }
    fn encode(&self, _: &[Value]) -> Result<Vec<u8>, String> {
        Ok(vec![])
    }
}

/// A source's codec: key columns through the key serde, value columns
/// through the value serde.
pub struct SourceCodec {
    key: Box<dyn Serde>,
    value: Box<dyn Serde>,
    key_arity: usize,
    /// How many header columns end a row: the source reader fills them
    /// from the record's headers, and nothing writes them.
    headers: usize,
    /// Values are Debezium change events of the row (`ENVELOPE='DEBEZIUM'`):
    /// the value serde reads `BEFORE`, `AFTER` and `OP`.
    debezium: bool,
}

impl SourceCodec {
    pub fn new(
        source: &Source,
        registry: Option<&Arc<SchemaRegistry>>,
    ) -> Result<SourceCodec, String> {
        let keys: Vec<Field> = source
            .key_columns()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect();
        let values: Vec<Field> = source
            .value_columns()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect();
        let key_arity = keys.len();
        let debezium = source.envelope == Envelope::Debezium;
        // Multi-column keys are wrapped; single keys stand alone, but for
        // Debezium, whose key is a record of the primary key.
        let wrap_key = key_arity > 1 || debezium;
        let values = if debezium {
            let row = SqlType::Struct(
                source
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.ty.clone()))
                    .collect(),
            );
            vec![
                ("BEFORE".to_string(), row.clone()),
                ("AFTER".to_string(), row),
                ("OP".to_string(), SqlType::String),
            ]
        } else {
            values
        };
        Ok(SourceCodec {
            key: serde_for(
                source.key_format,
                keys,
                wrap_key,
                source.key_delimiter,
                "key",
                registry.map(|r| (r, format!("{}-key", source.topic))),
            )?,
            value: serde_for(
                source.value_format,
                values,
                source.wrap_single_value,
                source.value_delimiter,
                "value",
                registry.map(|r| (r, format!("{}-value", source.topic))),
            )?,
            key_arity,
            headers: source.header_columns().count(),
            debezium,
        })
    }
}

impl Codec for SourceCodec {
    fn decode(&self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Decoded, String> {
        let mut row = match key {
            Some(k) if self.key_arity > 0 => self.key.decode(k).map_err(|e| format!("key: {e}"))?,
            _ => vec![Value::Null; self.key_arity],
        };
        let Some(value) = value else {
            return Ok(Decoded::Tombstone(row));
        };
        if self.debezium {
            // [BEFORE, AFTER, OP]: the row after the change, or for a
            // delete the key of the row before it.
            let event = self
                .value
                .decode(value)
                .map_err(|e| format!("value: {e}"))?;
            let Ok([before, after, op]) = <[Value; 3]>::try_from(event) else {
                unreachable!("the envelope serde reads three columns")
            };
            let delete = matches!(&op, Value::String(op) if op == "d");
            return match (before, after) {
                (_, Value::Struct(after)) if !delete => Ok(Decoded::Row(after)),
                (Value::Struct(mut before), _) => {
                    before.truncate(self.key_arity);
                    Ok(Decoded::Tombstone(before))
                }
                _ => Err(format!(
                    "a Debezium event (op {op:?}) with neither a row after nor a row before"
                )),
            };
        }
        row.extend(
            self.value
                .decode(value)
                .map_err(|e| format!("value: {e}"))?,
        );
        row.resize(row.len() + self.headers, Value::Null);
        Ok(Decoded::Row(row))
    }

    fn encode(&self, columns: &[Value]) -> Result<KeyValue, String> {
        if self.debezium {
            return Err("a table with ENVELOPE='DEBEZIUM' is read-only: Debezium writes it".into());
        }
        let (keys, values) = columns.split_at(self.key_arity);
        let values = &values[..values.len().saturating_sub(self.headers)];
        Ok((self.encode_key(keys)?, Some(self.value.encode(values)?)))
    }

    fn encode_key(&self, key: &[Value]) -> Result<Option<Vec<u8>>, String> {
        if self.key_arity == 0 || key.iter().all(Value::is_null) {
            return Ok(None);
        }
        Ok(Some(self.key.encode(key)?))
    }
}

/// The formats this build supports, with the Schema Registry they use
/// when one is configured.
#[derive(Clone, Debug, Default)]
pub struct Formats {
    registry: Option<Arc<SchemaRegistry>>,
}

impl Formats {
    pub fn with_registry(registry: Arc<SchemaRegistry>) -> Formats {
        Formats {
            registry: Some(registry),
        }
    }

    pub fn registry(&self) -> Option<&Arc<SchemaRegistry>> {
        self.registry.as_ref()
    }

    /// The type of one side of a topic as its registered schema describes
    /// it (see [`SchemaLookup`]; a record or message is a STRUCT of its
    /// fields, upper-cased as ksqlDB names them): `None` when the format
    /// has no registered schemas, no registry is configured or the subject
    /// does not exist.
    pub fn registered_type(&self, lookup: &SchemaLookup) -> Result<Option<SqlType>, String> {
        let Some(registry) = &self.registry else {
            return Ok(None);
        };
        if !matches!(
            lookup.format,
            Format::Avro | Format::JsonSr | Format::Protobuf
        ) {
            return Ok(None);
        }
        let subject = lookup.subject();
        let schema = match lookup.id {
            Some(id) => (*registry.by_id(id)?).clone(),
            None => match registry.latest(&subject)? {
                Some(schema) => schema,
                None => return Ok(None),
            },
        };
        let in_subject = |e: String| format!("subject {subject} (schema id {}): {e}", schema.id);
        match (lookup.format, schema.schema_type) {
            (Format::Avro, SchemaType::Avro) => avro::Schema::parse(&schema.text)
                .and_then(|s| s.sql_type())
                .map(Some)
                .map_err(in_subject),
            (Format::JsonSr, SchemaType::Json) => json_schema::sql_type(&schema.text)
                .map(Some)
                .map_err(in_subject),
            (Format::Protobuf, SchemaType::Protobuf) => {
                let imports = registry.referenced(&schema).map_err(in_subject)?;
                proto_file::schema_type(&schema.text, lookup.full_name.as_deref(), &imports)
                    .map(Some)
                    .map_err(in_subject)
            }
            (format, ty) => Err(format!(
                "subject {subject} holds a {ty:?} schema, which {format} cannot read: declare the columns or use the schema's format"
            )),
        }
    }
}

impl Formats {
    /// Registers the schemas `source` writes (`<topic>-key`,
    /// `<topic>-value`) now rather than at its first record, as ksqlDB does
    /// when it creates a query's sink: a later `CREATE` over the same topic
    /// can then infer its columns before any data flows.
    pub fn register_schemas(&self, source: &Source) -> Result<(), String> {
        if self.registry.is_none() {
            return Ok(());
        }
        let codec = SourceCodec::new(source, self.registry.as_ref())?;
        codec.key.register()?;
        codec.value.register()
    }

    /// Deletes the subjects `<topic>-key` and `<topic>-value` of a source
    /// whose formats register schemas, as `DROP ... DELETE TOPIC` does in
    /// ksqlDB.
    pub fn delete_schemas(&self, source: &Source) -> Result<(), String> {
        let Some(registry) = &self.registry else {
            return Ok(());
        };
        let registers = |f: Format| matches!(f, Format::Avro | Format::JsonSr | Format::Protobuf);
        for (side, format) in [("key", source.key_format), ("value", source.value_format)] {
            if registers(format) {
                registry.delete_subject(&format!("{}-{side}", source.topic))?;
            }
        }
        Ok(())
    }
}

impl CodecFactory for Formats {
    fn codec(&self, source: &Source) -> Result<Arc<dyn Codec>, String> {
        Ok(Arc::new(SourceCodec::new(source, self.registry.as_ref())?))
    }
}

/// Sample values of every SQL type, for the formats' round-trip tests.
#[cfg(test)]
pub(crate) fn every_type() -> Vec<(SqlType, Value)> {
    use ddsql_sql::types::F64;
    vec![
        (SqlType::Boolean, Value::Boolean(true)),
        (SqlType::Int, Value::Int(i32::MIN)),
        (SqlType::Int, Value::Int(-7)),
        (SqlType::BigInt, Value::BigInt(i64::MAX)),
        (SqlType::BigInt, Value::BigInt(i64::MIN)),
        (SqlType::Double, Value::Double(F64(-1.5))),
        (
            SqlType::Decimal {
                precision: 10,
                scale: 2,
            },
            Value::Decimal(-12345, 2),
        ),
        (SqlType::String, Value::String("봄".into())),
        (SqlType::Bytes, Value::Bytes(vec![0, 255])),
        (SqlType::Date, Value::Date(19_800)),
        (SqlType::Date, Value::Date(-1)),
        (SqlType::Time, Value::Time(45_296_789)),
        (SqlType::Timestamp, Value::Timestamp(1_710_921_600_123)),
        (
            SqlType::Array(Box::new(SqlType::BigInt)),
            Value::Array(vec![Value::BigInt(0), Value::BigInt(3)]),
        ),
        (
            SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Int)),
            Value::Map(vec![(Value::String("k".into()), Value::Int(2))]),
        ),
        (
            SqlType::Struct(vec![
                ("A".into(), SqlType::String),
                ("B".into(), SqlType::Int),
            ]),
            Value::Struct(vec![Value::Null, Value::Int(4)]),
        ),
        (SqlType::String, Value::Null),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value as Protocol Buffers gives it back: a proto3 scalar has no
    /// presence, so a NULL one, at any depth, reads as its default.
    fn proto3_view(v: &Value, ty: &SqlType) -> Value {
        match (v, ty) {
            (Value::Null, ty) => protobuf::absent(ty),
            (Value::Struct(values), SqlType::Struct(fields)) => Value::Struct(
                values
                    .iter()
                    .zip(fields)
                    .map(|(v, (_, t))| proto3_view(v, t))
                    .collect(),
            ),
            (v, _) => v.clone(),
        }
    }

    /// Every value of [`every_type`] through every format that carries
    /// any type, wrapped in a record or object.
    #[test]
    fn every_type_round_trips_through_every_format() {
        for format in [
            Format::Json,
            Format::JsonSr,
            Format::Avro,
            Format::Protobuf,
            Format::ProtobufNoSr,
        ] {
            for (ty, v) in every_type() {
                let serde = serde_for(
                    format,
                    vec![("C".into(), ty.clone())],
                    true,
                    ',',
                    "value",
                    None,
                )
                .unwrap();
                let bytes = serde.encode(std::slice::from_ref(&v)).unwrap();
                let expected = match format {
                    Format::Protobuf | Format::ProtobufNoSr => proto3_view(&v, &ty),
                    _ => v.clone(),
                };
                assert_eq!(
                    serde.decode(&bytes).unwrap(),
                    vec![expected],
                    "{format} {ty}"
                );
            }
        }
    }
}
