//! The AVRO format: Avro's binary encoding in Confluent's wire format
//! (a zero magic byte, a 4-byte big-endian schema id, then the datum).
//!
//! The schema ddsql writes is derived from the columns as ksqlDB derives
//! it: a record `KsqlDataSourceSchema` of nullable fields (`["null", T]`),
//! DECIMAL as `bytes` with the `decimal` logical type, DATE/TIME/TIMESTAMP
//! as `date`/`time-millis`/`timestamp-millis`, maps with string keys. A
//! single unwrapped column (a key, or `WRAP_SINGLE_VALUE=false`) is the
//! bare nullable type.
//!
//! With a Schema Registry ([`crate::schema_registry`]), the written schema
//! is registered under the topic's subject and its id goes in each record;
//! a record written by anyone else (Debezium, say) is read with its
//! writer's schema, fetched by id once, and resolved against the columns by
//! name, case-insensitively, as Avro's schema resolution does: fields the
//! columns lack are skipped, columns the writer lacks are NULL, and ints
//! widen. [`Schema::parse`] reads a registered schema and
//! [`Schema::columns`] infers a source's columns from it, upper-casing
//! field names as ksqlDB does.
//!
//! Without a registry, records are read with the source's own schema and
//! schema ids are assigned in this process, one per distinct schema.
//! Schemas are parsed by the `apache-avro` crate ([`Schema::parse`]); the
//! encoding is written here because it goes straight between our values
//! and bytes with no intermediate tree: this is the hot path of every
//! Debezium pipeline, and `ddsql-bench avro-decode` measured it 2.34x
//! faster into rows than `apache-avro` into its own values (bench/NOTES.md).
//! [`super::avro_json`] is the path through `apache-avro`, for the topic
//! commands and PRINT.
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
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde_json::{json, Value as Json};

use ddsql_sql::types::{SqlType, Value, F64};

use super::{decimal_from_bytes, decimal_to_bytes, rescale, Field, Serde};
use crate::schema_registry::{SchemaRegistry, SchemaType};

/// An Avro schema, as far as ksqlDB's types need one.
#[derive(Clone, Debug, PartialEq)]
pub enum Schema {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    String,
    Bytes,
    /// Read as its symbol, a STRING.
    Enum(Vec<String>),
    /// Read as BYTES.
    Fixed(usize),
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    TimeMillis,
    /// Read as TIME, truncated to milliseconds.
    TimeMicros,
    TimestampMillis,
    /// Read as TIMESTAMP, truncated to milliseconds.
    TimestampMicros,
    Array(Box<Schema>),
    /// String keys.
    Map(Box<Schema>),
    Record {
        name: String,
        fields: Vec<(String, Schema)>,
    },
    /// `["null", T]`
    Nullable(Box<Schema>),
    /// Any other union.
    Union(Vec<Schema>),
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
            Schema::Float => json!("float"),
            Schema::Double => json!("double"),
            Schema::String => json!("string"),
            Schema::Bytes => json!("bytes"),
            Schema::Enum(symbols) => json!({"type": "enum", "name": "Enum", "symbols": symbols}),
            Schema::Fixed(size) => json!({"type": "fixed", "name": "Fixed", "size": size}),
            Schema::TimeMicros => json!({"type": "long", "logicalType": "time-micros"}),
            Schema::TimestampMicros => json!({"type": "long", "logicalType": "timestamp-micros"}),
            Schema::Union(branches) => Json::Array(branches.iter().map(Schema::to_json).collect()),
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

    /// Parses a schema in Avro's JSON form with `apache-avro` (names,
    /// namespaces, references and validity as every Avro implementation
    /// reads them), then keeps what ksqlDB's types need. Recursive types
    /// are refused: no SQL type could hold them.
    pub fn parse(text: &str) -> Result<Schema, String> {
        serde_json::from_str::<Json>(text)
            .map_err(|e| format!("the Avro schema is not JSON: {e}"))?;
        let parsed = apache_avro::Schema::parse_str(text)
            .map_err(|e| format!("not a valid Avro schema: {e}"))?;
        let resolved = apache_avro::schema::ResolvedSchema::try_from(&parsed)
            .map_err(|e| format!("not a valid Avro schema: {e}"))?;
        Schema::from_avro(&parsed, resolved.get_names(), &mut Vec::new())
    }

    /// `within` holds the named types being converted, to find recursion.
    fn from_avro(
        s: &apache_avro::Schema,
        names: &apache_avro::schema::NamesRef,
        within: &mut Vec<apache_avro::schema::Name>,
    ) -> Result<Schema, String> {
        use apache_avro::Schema as A;
        Ok(match s {
            A::Null => Schema::Null,
            A::Boolean => Schema::Boolean,
            A::Int => Schema::Int,
            A::Long | A::TimestampNanos | A::LocalTimestampNanos => Schema::Long,
            A::Float => Schema::Float,
            A::Double => Schema::Double,
            A::String | A::Uuid => Schema::String,
            A::Bytes | A::BigDecimal => Schema::Bytes,
            A::Date => Schema::Date,
            A::TimeMillis => Schema::TimeMillis,
            A::TimeMicros => Schema::TimeMicros,
            A::TimestampMillis | A::LocalTimestampMillis => Schema::TimestampMillis,
            A::TimestampMicros | A::LocalTimestampMicros => Schema::TimestampMicros,
            A::Duration => Schema::Fixed(12),
            A::Decimal(d) => match *d.inner {
                A::Bytes => Schema::Decimal {
                    precision: u8::try_from(d.precision)
                        .map_err(|_| "a decimal precision over 255")?,
                    scale: u8::try_from(d.scale).map_err(|_| "a decimal scale over 255")?,
                },
                _ => return Err("fixed-size Avro decimals are not supported; use bytes".into()),
            },
            A::Enum(e) => Schema::Enum(e.symbols.clone()),
            A::Fixed(f) => Schema::Fixed(f.size),
            A::Array(a) => Schema::Array(Box::new(Schema::from_avro(&a.items, names, within)?)),
            A::Map(m) => Schema::Map(Box::new(Schema::from_avro(&m.types, names, within)?)),
            A::Union(u) => {
                let branches = u
                    .variants()
                    .iter()
                    .map(|b| Schema::from_avro(b, names, within))
                    .collect::<Result<Vec<_>, _>>()?;
                match branches.as_slice() {
                    [Schema::Null, t] => Schema::Nullable(Box::new(t.clone())),
                    _ => Schema::Union(branches),
                }
            }
            A::Record(r) => {
                within.push(r.name.clone());
                let fields = r
                    .fields
                    .iter()
                    .map(|f| {
                        Schema::from_avro(&f.schema, names, within)
                            .map(|t| (f.name.clone(), t))
                            .map_err(|e| format!("field {}: {e}", f.name))
                    })
                    .collect::<Result<Vec<_>, String>>();
                within.pop();
                Schema::Record {
                    name: r.name.name.clone(),
                    fields: fields?,
                }
            }
            A::Ref { name } => {
                let unknown = || {
                    format!(
                        "the Avro schema refers to an unknown (or recursive) type '{}'",
                        name.name
                    )
                };
                if within.contains(name) {
                    return Err(unknown());
                }
                Schema::from_avro(names.get(name).ok_or_else(unknown)?, names, within)?
            }
        })
    }

    /// The SQL type of values of this schema, as ksqlDB maps Avro: record
    /// fields upper-cased, nullable unions as their type, enums as STRING.
    pub fn sql_type(&self) -> Result<SqlType, String> {
        Ok(match self {
            Schema::Null => return Err("a field that is always null has no SQL type".into()),
            Schema::Boolean => SqlType::Boolean,
            Schema::Int => SqlType::Int,
            Schema::Long => SqlType::BigInt,
            Schema::Float | Schema::Double => SqlType::Double,
            Schema::String | Schema::Enum(_) => SqlType::String,
            Schema::Bytes | Schema::Fixed(_) => SqlType::Bytes,
            Schema::Decimal { precision, scale } => SqlType::Decimal {
                precision: *precision,
                scale: *scale,
            },
            Schema::Date => SqlType::Date,
            Schema::TimeMillis | Schema::TimeMicros => SqlType::Time,
            Schema::TimestampMillis | Schema::TimestampMicros => SqlType::Timestamp,
            Schema::Array(items) => SqlType::Array(Box::new(items.sql_type()?)),
            Schema::Map(values) => {
                SqlType::Map(Box::new(SqlType::String), Box::new(values.sql_type()?))
            }
            Schema::Record { fields, .. } => SqlType::Struct(
                fields
                    .iter()
                    .map(|(n, f)| {
                        Ok((
                            n.to_uppercase(),
                            f.sql_type().map_err(|e| format!("{n}: {e}"))?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            Schema::Nullable(t) => t.sql_type()?,
            Schema::Union(branches) => {
                let mut types = branches.iter().filter(|b| **b != Schema::Null);
                match (types.next(), types.next()) {
                    (Some(t), None) => t.sql_type()?,
                    _ => {
                        return Err(format!(
                            "the union {} has no SQL type: declare the columns instead",
                            self.to_json()
                        ))
                    }
                }
            }
        })
    }

    /// A source's columns from its registered schema: a record's fields,
    /// or one column named `single` for any other schema (ksqlDB's
    /// `ROWKEY`/`ROWVAL`).
    pub fn columns(&self, single: &str) -> Result<Vec<Field>, String> {
        match self {
            Schema::Record { fields, .. } => fields
                .iter()
                .map(|(n, f)| {
                    Ok((
                        n.to_uppercase(),
                        f.sql_type().map_err(|e| format!("field {n}: {e}"))?,
                    ))
                })
                .collect(),
            Schema::Nullable(inner) if matches!(**inner, Schema::Record { .. }) => {
                inner.columns(single)
            }
            other => Ok(vec![(single.to_string(), other.sql_type()?)]),
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
    /// Where the written schema is registered, and the writers' schemas
    /// looked up.
    registry: Option<(Arc<SchemaRegistry>, String)>,
    /// The written schema's id, once known (read on every record, so not
    /// behind a lock).
    id: OnceLock<u32>,
    /// The first foreign writer schema met (a topic usually has one), read
    /// without a lock; any others by id. Each resolved against the columns.
    first_writer: OnceLock<(u32, Plan)>,
    writers: RwLock<HashMap<u32, Arc<Plan>>>,
    /// The columns, to resolve a writer's record against.
    fields: Vec<Field>,
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
        AvroSerde {
            schema,
            wrapped,
            registry: None,
            id: OnceLock::new(),
            first_writer: OnceLock::new(),
            writers: RwLock::default(),
            fields,
        }
    }

    /// Registers the written schema under `subject` and reads records
    /// with their writers' schemas.
    pub fn with_registry(mut self, registry: Arc<SchemaRegistry>, subject: String) -> AvroSerde {
        self.registry = Some((registry, subject));
        self
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The written schema's id: registered on first use, or without a
    /// registry assigned in this process.
    fn id(&self) -> Result<u32, String> {
        if let Some(id) = self.id.get() {
            return Ok(*id);
        }
        let text = self.schema.to_json().to_string();
        let assigned = match &self.registry {
            // Two threads may both register: the registry gives both the
            // same id.
            Some((registry, subject)) => registry.register(subject, SchemaType::Avro, &text)?,
            None => schema_id(&self.schema),
        };
        Ok(*self.id.get_or_init(|| assigned))
    }

    /// How to read a record written under schema id `id`: `None` when it
    /// is the serde's own schema.
    fn writer(&self, id: u32) -> Result<Option<Writer<'_>>, String> {
        let Some((registry, _)) = &self.registry else {
            return Ok(None);
        };
        if self.id.get() == Some(&id) {
            return Ok(None);
        }
        if let Some((first, plan)) = self.first_writer.get() {
            if *first == id {
                return Ok(Some(Writer::First(plan)));
            }
        }
        if let Some(plan) = self.writers.read().unwrap().get(&id) {
            return Ok(Some(Writer::Other(plan.clone())));
        }
        let registered = registry.by_id(id)?;
        if registered.schema_type != SchemaType::Avro {
            return Err(format!(
                "schema id {id} is a {:?} schema, not Avro",
                registered.schema_type
            ));
        }
        let schema = Schema::parse(&registered.text).map_err(|e| format!("schema id {id}: {e}"))?;
        if schema == self.schema && self.id.set(id).is_ok() {
            return Ok(None);
        }
        let plan = Plan::new(&schema, &self.row_type());
        if self.first_writer.set((id, plan)).is_ok() {
            return self.writer(id);
        }
        let plan = Arc::new(Plan::new(&schema, &self.row_type()));
        self.writers.write().unwrap().insert(id, plan.clone());
        Ok(Some(Writer::Other(plan)))
    }

    /// What a record holds: the row as a struct of the columns, or the
    /// single unwrapped column.
    fn row_type(&self) -> SqlType {
        if self.wrapped {
            SqlType::Struct(self.fields.clone())
        } else {
            self.fields[0].1.clone()
        }
    }
}

/// A foreign writer's resolution plan.
enum Writer<'a> {
    First(&'a Plan),
    Other(Arc<Plan>),
}

impl Writer<'_> {
    fn plan(&self) -> &Plan {
        match self {
            Writer::First(p) => p,
            Writer::Other(p) => p,
        }
    }
}

impl Serde for AvroSerde {
    fn register(&self) -> Result<(), String> {
        self.id().map(drop)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, String> {
        let (id, datum) = match bytes {
            [0, a, b, c, d, rest @ ..] => (u32::from_be_bytes([*a, *b, *c, *d]), rest),
            _ => {
                return Err("not in Confluent's wire format (no magic byte 0 and schema id)".into())
            }
        };
        let mut reader = Reader { bytes: datum };
        let values = match self.writer(id)? {
            // The writer's record resolved against the columns by name.
            Some(writer) => match (reader.resolved(writer.plan())?, self.wrapped) {
                (Value::Struct(row), true) => row,
                (Value::Null, true) => return Err("a null record".into()),
                (v, false) => vec![v],
                (v, true) => {
                    return Err(format!(
                        "the writer's schema (id {id}) holds {v:?}, not a record of the columns"
                    ))
                }
            },
            None => match (self.wrapped, reader.value(&self.schema)?) {
                (true, Value::Struct(fields)) => fields,
                (true, Value::Null) => return Err("a null record".into()),
                (_, v) => vec![v],
            },
        };
        if !reader.bytes.is_empty() {
            return Err(format!(
                "{} bytes left after the record",
                reader.bytes.len()
            ));
        }
        Ok(values)
    }

    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(64);
        out.push(0);
        out.extend_from_slice(&self.id()?.to_be_bytes());
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

/// A datum of `schema` in Confluent's wire format under schema id `id`:
/// how a producer such as Debezium's converter writes a record. `value`
/// follows the schema's shape (a record is a `Value::Struct` of its fields
/// in order).
pub fn encode_with_id(schema: &Schema, id: u32, value: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64);
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    write(&mut out, schema, value)?;
    Ok(out)
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
        (Schema::Union(branches), v) => {
            // The first branch that takes the value.
            for (i, b) in branches.iter().enumerate() {
                let mut datum = Vec::new();
                if write(&mut datum, b, v).is_ok() {
                    write_long(out, i as i64);
                    out.extend_from_slice(&datum);
                    return Ok(());
                }
            }
            return Err(format!(
                "no branch of the union {} takes {v:?}",
                schema.to_json()
            ));
        }
        (Schema::Float, Value::Double(d)) => out.extend_from_slice(&(d.0 as f32).to_le_bytes()),
        (Schema::Enum(symbols), Value::String(s)) => match symbols.iter().position(|x| x == s) {
            Some(i) => write_long(out, i as i64),
            None => return Err(format!("'{s}' is not a symbol of the enum")),
        },
        (Schema::Fixed(n), Value::Bytes(b)) if b.len() == *n => out.extend_from_slice(b),
        (Schema::TimeMicros, Value::Time(t)) => write_long(out, *t as i64 * 1000),
        (Schema::TimestampMicros, Value::Timestamp(t)) => write_long(out, t * 1000),
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
            Schema::TimeMicros => Value::Time(
                i32::try_from(self.long()?.div_euclid(1000)).map_err(|_| "a time out of range")?,
            ),
            Schema::TimestampMicros => Value::Timestamp(self.long()?.div_euclid(1000)),
            Schema::Float => {
                let b: [u8; 4] = self.take(4)?.try_into().expect("4 bytes");
                Value::Double(F64(f32::from_le_bytes(b) as f64))
            }
            Schema::Enum(symbols) => {
                let i = self.long()?;
                Value::String(
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| symbols.get(i))
                        .ok_or_else(|| format!("enum symbol {i} of {}", symbols.len()))?
                        .clone(),
                )
            }
            Schema::Fixed(n) => Value::Bytes(self.take(*n)?.to_vec()),
            Schema::Union(branches) => {
                let b = self.long()?;
                let branch = usize::try_from(b)
                    .ok()
                    .and_then(|b| branches.get(b))
                    .ok_or_else(|| format!("union branch {b} of {}", branches.len()))?;
                self.value(branch)?
            }
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

/// A writer's schema resolved against the SQL type it is read as: Avro's
/// schema resolution, done once per writer schema id so that reading a
/// record compares no names.
#[derive(Debug)]
enum Plan {
    /// Read with the writer's schema, then convert to the type.
    Leaf(Schema, SqlType),
    /// A field no column wants: read past it.
    Skip(Schema),
    Nullable(Box<Plan>),
    Union(Vec<Plan>),
    /// Per writer field, the column (struct field) it fills, if any; then
    /// the number of columns.
    Record(Vec<(String, Option<usize>, Plan)>, usize),
    Array(Box<Plan>),
    Map(Box<Plan>),
}

impl Plan {
    fn new(writer: &Schema, ty: &SqlType) -> Plan {
        match (writer, ty) {
            (Schema::Nullable(inner), _) => Plan::Nullable(Box::new(Plan::new(inner, ty))),
            (Schema::Union(branches), _) => {
                Plan::Union(branches.iter().map(|b| Plan::new(b, ty)).collect())
            }
            (Schema::Record { fields, .. }, SqlType::Struct(wanted)) => Plan::Record(
                fields
                    .iter()
                    .map(|(name, schema)| {
                        match wanted
                            .iter()
                            .position(|(n, _)| n.eq_ignore_ascii_case(name))
                        {
                            Some(i) => (name.clone(), Some(i), Plan::new(schema, &wanted[i].1)),
                            None => (name.clone(), None, Plan::Skip(schema.clone())),
                        }
                    })
                    .collect(),
                wanted.len(),
            ),
            (Schema::Array(items), SqlType::Array(t)) => Plan::Array(Box::new(Plan::new(items, t))),
            (Schema::Map(values), SqlType::Map(_, t)) => Plan::Map(Box::new(Plan::new(values, t))),
            (writer, ty) => Plan::Leaf(writer.clone(), ty.clone()),
        }
    }
}

impl Reader<'_> {
    /// Reads a value by a resolution [`Plan`].
    fn resolved(&mut self, plan: &Plan) -> Result<Value, String> {
        match plan {
            Plan::Nullable(inner) => match self.long()? {
                0 => Ok(Value::Null),
                1 => self.resolved(inner),
                b => Err(format!("union branch {b} of a nullable type")),
            },
            Plan::Union(branches) => {
                let b = self.long()?;
                let branch = usize::try_from(b)
                    .ok()
                    .and_then(|b| branches.get(b))
                    .ok_or_else(|| format!("union branch {b} of {}", branches.len()))?;
                self.resolved(branch)
            }
            Plan::Record(fields, width) => {
                let mut out = vec![Value::Null; *width];
                for (name, target, plan) in fields {
                    let v = self.resolved(plan).map_err(|e| format!("{name}: {e}"))?;
                    if let Some(i) = target {
                        out[*i] = v;
                    }
                }
                Ok(Value::Struct(out))
            }
            Plan::Array(items) => {
                let mut out = Vec::new();
                self.blocks(|r| {
                    out.push(r.resolved(items)?);
                    Ok(())
                })?;
                Ok(Value::Array(out))
            }
            Plan::Map(values) => {
                let mut out = Vec::new();
                self.blocks(|r| {
                    let k = String::from_utf8(r.bytes()?).map_err(|_| "a key that is not UTF-8")?;
                    out.push((Value::String(k), r.resolved(values)?));
                    Ok(())
                })?;
                Ok(Value::Map(out))
            }
            Plan::Skip(writer) => {
                self.value(writer)?;
                Ok(Value::Null)
            }
            Plan::Leaf(writer, ty) => {
                let v = self.value(writer)?;
                Ok(match (v, ty) {
                    (v @ Value::Null, _) => v,
                    (Value::Int(i), SqlType::BigInt) => Value::BigInt(i as i64),
                    (Value::Int(i), SqlType::Double) => Value::Double(F64(i as f64)),
                    (Value::BigInt(i), SqlType::Double) => Value::Double(F64(i as f64)),
                    (Value::BigInt(i), SqlType::Timestamp) => Value::Timestamp(i),
                    (Value::Timestamp(i), SqlType::BigInt) => Value::BigInt(i),
                    (Value::Bytes(b), SqlType::String) => {
                        Value::String(String::from_utf8(b).map_err(|_| "bytes that are not UTF-8")?)
                    }
                    (Value::String(s), SqlType::Bytes) => Value::Bytes(s.into_bytes()),
                    // ksqlDB reads a writer's number or boolean declared as
                    // STRING as its text.
                    (
                        v @ (Value::Boolean(_)
                        | Value::Int(_)
                        | Value::BigInt(_)
                        | Value::Double(_)),
                        SqlType::String,
                    ) => ddsql_sql::eval::cast(&v, ty).map_err(|e| e.to_string())?,
                    (Value::Decimal(u, s), SqlType::Decimal { scale, .. }) => {
                        Value::Decimal(rescale(u, s, *scale)?, *scale)
                    }
                    (v, ty)
                        if matches!(
                            (&v, ty),
                            (Value::Boolean(_), SqlType::Boolean)
                                | (Value::Int(_), SqlType::Int)
                                | (Value::BigInt(_), SqlType::BigInt)
                                | (Value::Double(_), SqlType::Double)
                                | (Value::String(_), SqlType::String)
                                | (Value::Bytes(_), SqlType::Bytes)
                                | (Value::Date(_), SqlType::Date)
                                | (Value::Time(_), SqlType::Time)
                                | (Value::Timestamp(_), SqlType::Timestamp)
                        ) =>
                    {
                        v
                    }
                    (v, ty) => {
                        return Err(format!(
                            "the writer's {} cannot be read as {ty} ({v:?})",
                            writer.to_json()
                        ))
                    }
                })
            }
        }
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

#[cfg(test)]
mod resolution {
    //! Reading records written with another schema (a Debezium connector's)
    //! through the Schema Registry.
    use super::*;
    use crate::schema_registry::MemoryRegistry;

    const WRITER: &str = r#"{"type": "record", "name": "Row", "namespace": "db.t", "fields": [
        {"name": "extra", "type": {"type": "array", "items": "string"}},
        {"name": "amount", "type": "float"},
        {"name": "id", "type": "int"},
        {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["NEW", "DONE"]}},
        {"name": "note", "type": ["string", "null"]},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "tags", "type": {"type": "map", "values": "State"}},
        {"name": "nested", "type": ["null", {"type": "record", "name": "N", "fields": [
            {"name": "b", "type": "long"}, {"name": "a", "type": "string"}]}]}
    ]}"#;

    #[test]
    fn records_are_read_with_the_writers_schema_and_resolved_by_name() {
        let registry = MemoryRegistry::start().unwrap();
        let writer = Schema::parse(WRITER).unwrap();
        let id = registry.register("t-value", SchemaType::Avro, WRITER);
        let columns = writer.columns("ROWVAL").unwrap();
        assert_eq!(
            columns
                .iter()
                .map(|(n, t)| format!("{n} {t}"))
                .collect::<Vec<_>>(),
            [
                "EXTRA ARRAY<STRING>",
                "AMOUNT DOUBLE",
                "ID INTEGER",
                "STATE STRING",
                "NOTE STRING",
                "AT TIMESTAMP",
                "TAGS MAP<STRING, STRING>",
                "NESTED STRUCT<`B` BIGINT, `A` STRING>",
            ]
        );
        // A reader that declares fewer columns, in another order, wider.
        let reader = AvroSerde::new(
            vec![
                ("ID".into(), SqlType::BigInt),
                (
                    "NESTED".into(),
                    SqlType::Struct(vec![
                        ("A".into(), SqlType::String),
                        ("C".into(), SqlType::Int),
                    ]),
                ),
                ("NOTE".into(), SqlType::String),
                ("STATE".into(), SqlType::String),
                ("AT".into(), SqlType::Timestamp),
                (
                    "TAGS".into(),
                    SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::String)),
                ),
                ("MISSING".into(), SqlType::Int),
            ],
            true,
        )
        .with_registry(
            Arc::new(SchemaRegistry::new(&registry.url())),
            "t-value".into(),
        );
        let datum = Value::Struct(vec![
            Value::Array(vec![Value::String("x".into())]),
            Value::Double(F64(1.5)),
            Value::Int(7),
            Value::String("DONE".into()),
            Value::Null,
            Value::Timestamp(1_710_921_600_123),
            Value::Map(vec![(
                Value::String("k".into()),
                Value::String("NEW".into()),
            )]),
            Value::Struct(vec![Value::BigInt(2), Value::String("a".into())]),
        ]);
        let bytes = encode_with_id(&writer, id, &datum).unwrap();
        assert_eq!(
            reader.decode(&bytes).unwrap(),
            vec![
                Value::BigInt(7),
                Value::Struct(vec![Value::String("a".into()), Value::Null]),
                Value::Null,
                Value::String("DONE".into()),
                Value::Timestamp(1_710_921_600_123),
                Value::Map(vec![(
                    Value::String("k".into()),
                    Value::String("NEW".into())
                )]),
                Value::Null,
            ]
        );
        // A schema id the registry does not know is an error naming it.
        let mut unknown = bytes.clone();
        unknown[1..5].copy_from_slice(&77u32.to_be_bytes());
        let err = reader.decode(&unknown).unwrap_err();
        assert!(err.contains("77"), "{err}");
        // The reader's own records still round-trip, under a registered id.
        let own = vec![
            Value::BigInt(1),
            Value::Null,
            Value::String("n".into()),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Int(3),
        ];
        let encoded = reader.encode(&own).unwrap();
        assert_eq!(reader.decode(&encoded).unwrap(), own);
        assert_ne!(&encoded[1..5], &id.to_be_bytes());
    }

    #[test]
    fn schemas_that_no_sql_type_holds_are_clear_errors() {
        let union = Schema::parse(r#"{"type": "record", "name": "R", "fields": [{"name": "u", "type": ["int", "string"]}]}"#).unwrap();
        let err = union.columns("ROWVAL").unwrap_err();
        assert!(
            err.contains("field u") && err.contains("declare the columns"),
            "{err}"
        );
        let err = Schema::parse(r#"{"type": "record", "name": "L", "fields": [{"name": "next", "type": ["null", "L"]}]}"#).unwrap_err();
        assert!(err.contains("unknown (or recursive) type 'L'"), "{err}");
        assert!(Schema::parse("{").unwrap_err().contains("not JSON"));
    }
}
