//! The data generator: the seed's Debezium change events at a chosen scale.
//!
//! Three workloads, one per seed pipeline, each a pure function of its
//! [`Shape`] (so a run can be repeated and every baseline reads the same
//! bytes):
//!
//! - **orders** (pipeline 2, first order): MySQL `trade.order`. Event `i`
//!   creates order `1000 + i` (auto-increment, so ids grow with time) for
//!   user [`Shape::user`]`(i)`; every tenth event instead deletes the order
//!   the previous event created (the order expired).
//! - **submits and names** (pipeline 1, event join): MySQL `event.name`
//!   holds one row per event (snapshot reads first, then a rename every
//!   hundred submits); `event.submit` one row per user's submission.
//! - **toggles** (pipeline 3): MongoDB `setting.option`, whose `after` is
//!   a JSON document in a string; a user's document is created, then its
//!   `toggle` flipped or re-saved unchanged.
//!
//! Records are written in JSON (the plain envelope, as Debezium's
//! JsonConverter with schemas disabled writes it) or AVRO (registered in a
//! Schema Registry, framed with its id, as Confluent's converter writes
//! it). Event `i` has timestamp `BASE_TS + i` ms and goes to partition
//! `i % partitions`.
//!
//! ```text
//! ddsql-bench gen --workload orders --events 1000000 --data-dir /tmp/d
//! ```

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;

use ddsql_connectors::debezium::{MongoCollection, MysqlTable};
use ddsql_connectors::format::avro::{encode_with_id, Schema};
use ddsql_connectors::schema_registry::{SchemaRegistry, SchemaType};
use ddsql_engine::io::{Record, Transport};
use ddsql_sql::types::Value;

/// The first event's timestamp (2025-03-05 10:00 UTC); event `i` is `i` ms later.
pub const BASE_TS: i64 = 1_741_168_800_000;

/// Record encodings the generator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    Json,
    Avro,
}

/// How much data, over how many keys, how unevenly.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub events: u64,
    pub users: u64,
    /// 0 spreads events evenly over users; towards 1, a few users place
    /// most of them (user `⌊users · u^(1/(1-skew))⌋` for uniform `u`).
    pub skew: f64,
    pub seed: u64,
}

impl Shape {
    /// The user of event `i`.
    pub fn user(&self, i: u64) -> i64 {
        let u = (splitmix(self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 11) as f64
            / (1u64 << 53) as f64;
        let u = if self.skew > 0.0 {
            u.powf(1.0 / (1.0 - self.skew.min(0.999)))
        } else {
            u
        };
        ((u * self.users.max(1) as f64) as u64).min(self.users.max(1) - 1) as i64
    }
}

/// A 64-bit mixer (splitmix64's finaliser): spreads and digests ids.
pub fn mix(z: u64) -> u64 {
    splitmix(z)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where generated records go, and the Schema Registry for AVRO.
pub struct Sink<'a> {
    pub transport: &'a dyn Transport,
    pub registry: Option<&'a Arc<SchemaRegistry>>,
    pub encoding: Encoding,
    pub partitions: u32,
}

impl Sink<'_> {
    /// For AVRO: registers `schema` as `<topic>-value` and returns it
    /// parsed, with its id.
    fn avro_schema(&self, topic: &str, schema: &str) -> anyhow::Result<Option<(Schema, u32)>> {
        if self.encoding == Encoding::Json {
            return Ok(None);
        }
        let registry = self
            .registry
            .context("AVRO needs a Schema Registry (--schema-registry-url)")?;
        let id = registry
            .register(&format!("{topic}-value"), SchemaType::Avro, schema)
            .map_err(anyhow::Error::msg)?;
        Ok(Some((
            Schema::parse(schema).map_err(anyhow::Error::msg)?,
            id,
        )))
    }
}

/// A fresh embedded log (in a temporary directory unless one is given),
/// with an in-memory Schema Registry when the input is AVRO: what a bench
/// runs on.
pub struct Scratch {
    /// Held, not read: the log's directory and the registry's server live
    /// as long as the scratch does.
    _dir: tempfile::TempDir,
    _registry: Option<ddsql_connectors::schema_registry::MemoryRegistry>,
    pub connections: ddsql::session::Connections,
    /// A client of the registry, for the generator.
    pub client: Option<Arc<SchemaRegistry>>,
}

impl Scratch {
    pub fn new(encoding: Encoding) -> anyhow::Result<Scratch> {
        Scratch::in_dir(None, encoding)
    }

    /// In `dir`, which must be empty or new (the bench writes a fresh log).
    pub fn in_dir(dir: Option<std::path::PathBuf>, encoding: Encoding) -> anyhow::Result<Scratch> {
        let temp = tempfile::tempdir()?;
        let dir = dir.unwrap_or_else(|| temp.path().to_path_buf());
        anyhow::ensure!(
            !dir.exists() || std::fs::read_dir(&dir)?.next().is_none(),
            "{} is not empty: the bench writes a fresh log (give a new directory)",
            dir.display()
        );
        let registry = match encoding {
            Encoding::Avro => Some(ddsql_connectors::schema_registry::MemoryRegistry::start()?),
            Encoding::Json => None,
        };
        let connections = ddsql::session::Connections {
            schema_registry: registry.as_ref().map(|r| r.url()),
            ..ddsql::session::Connections::embedded(&dir)
        };
        let client = registry
            .as_ref()
            .map(|r| Arc::new(SchemaRegistry::new(&r.url())));
        Ok(Scratch {
            _dir: temp,
            _registry: registry,
            connections,
            client,
        })
    }
}

/// Buffers records per partition and appends them in chunks.
struct Writer<'a> {
    transport: &'a dyn Transport,
    topic: String,
    chunks: Vec<Vec<Record>>,
    bytes: u64,
}

impl<'a> Writer<'a> {
    fn new(transport: &'a dyn Transport, topic: &str, partitions: u32) -> anyhow::Result<Self> {
        transport
            .create_topic(topic, partitions)
            .with_context(|| format!("creating {topic}"))?;
        Ok(Writer {
            transport,
            topic: topic.to_string(),
            chunks: vec![Vec::with_capacity(8192); partitions as usize],
            bytes: 0,
        })
    }

    fn push(&mut self, i: u64, key: Vec<u8>, value: Vec<u8>, timestamp: i64) -> anyhow::Result<()> {
        let p = (i % self.chunks.len() as u64) as usize;
        self.bytes += (key.len() + value.len()) as u64;
        self.chunks[p].push(Record {
            key: Some(key),
            value: Some(value),
            timestamp,
            headers: vec![],
        });
        if self.chunks[p].len() == 8192 {
            self.transport
                .append(&self.topic, p as u32, &self.chunks[p])?;
            self.chunks[p].clear();
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<u64> {
        for (p, chunk) in self.chunks.iter_mut().enumerate() {
            self.transport.append(&self.topic, p as u32, chunk)?;
            chunk.clear();
        }
        self.transport.flush()?;
        Ok(self.bytes)
    }
}

/// A MySQL table's change events in either encoding.
pub struct MysqlEncoder {
    table: MysqlTable,
    avro: Option<(Schema, u32)>,
}

impl MysqlEncoder {
    fn new(table: MysqlTable, sink: &Sink) -> anyhow::Result<Self> {
        let avro = sink.avro_schema(&table.topic, &table.schema())?;
        Ok(MysqlEncoder { table, avro })
    }

    /// Key and value of one change; `row` is the columns' values.
    fn encode(
        &self,
        op: &str,
        key: &serde_json::Value,
        row: Vec<Value>,
        ts: i64,
    ) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let deleted = op == "d";
        let value = match &self.avro {
            Some((schema, id)) => {
                let (before, after) = if deleted {
                    (Some(row), None)
                } else {
                    (None, Some(row))
                };
                let event = self.table.event(op, before, after, ts);
                encode_with_id(schema, *id, &event).map_err(anyhow::Error::msg)?
            }
            None => {
                let fields: serde_json::Map<String, serde_json::Value> = self
                    .table
                    .columns
                    .iter()
                    .zip(row)
                    .map(|((name, _), v)| (name.clone(), value_json(v)))
                    .collect();
                let row = serde_json::Value::Object(fields);
                let (before, after) = if deleted {
                    (row, json!(null))
                } else {
                    (json!(null), row)
                };
                serde_json::to_vec(
                    &json!({"before": before, "after": after, "op": op, "ts_ms": ts}),
                )?
            }
        };
        Ok((key.to_string().into_bytes(), value))
    }
}

fn value_json(v: Value) -> serde_json::Value {
    match v {
        Value::BigInt(n) => json!(n),
        Value::String(s) => json!(s),
        Value::Null => json!(null),
        other => json!(format!("{other:?}")),
    }
}

/// The orders workload's topic.
pub const INPUT_ORDERS: &str = "TRADE_MYSQL.TRADE.ORDER";

/// The MySQL `trade.order` table of pipeline 2.
pub fn order_table() -> MysqlTable {
    MysqlTable::new(
        INPUT_ORDERS,
        &[
            ("order_id", "long"),
            ("user_id", "long"),
            ("status", "string"),
            (
                "created_at",
                r#"{"type": "string", "connect.name": "io.debezium.time.ZonedTimestamp"}"#,
            ),
        ],
    )
}

/// Order id, user and op of event `i` of the orders workload.
pub fn order_event(shape: &Shape, i: u64) -> (i64, i64, &'static str) {
    if i % 10 == 9 {
        (1000 + i as i64 - 1, shape.user(i - 1), "d")
    } else {
        (1000 + i as i64, shape.user(i), "c")
    }
}

/// Encodes events of the orders workload.
pub struct Orders(MysqlEncoder);

impl Orders {
    /// Registers the schema for AVRO.
    pub fn new(sink: &Sink) -> anyhow::Result<Orders> {
        Ok(Orders(MysqlEncoder::new(order_table(), sink)?))
    }

    /// Event `i`'s key and value.
    pub fn encode(&self, shape: &Shape, i: u64, ts: i64) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let (order, user, op) = order_event(shape, i);
        let row = vec![
            Value::BigInt(order),
            Value::BigInt(user),
            Value::String(if op == "d" { "EXPIRED" } else { "CREATED" }.into()),
            Value::String("2025-03-05T10:00:00Z".into()),
        ];
        self.0.encode(op, &json!({ "order_id": order }), row, ts)
    }
}

/// Writes the orders workload; returns the bytes written.
pub fn orders(sink: &Sink, shape: &Shape, progress: &dyn Fn(u64)) -> anyhow::Result<u64> {
    let orders = Orders::new(sink)?;
    let mut out = Writer::new(sink.transport, INPUT_ORDERS, sink.partitions)?;
    for i in 0..shape.events {
        let ts = BASE_TS + i as i64;
        let (key, value) = orders.encode(shape, i, ts)?;
        out.push(i, key, value, ts)?;
        if i % 1_000_000 == 999_999 {
            progress(i + 1);
        }
    }
    out.finish()
}

/// Event ids (and names) of the submits-and-names workload.
pub fn event_ids(shape: &Shape) -> i64 {
    (shape.users / 100).max(10) as i64
}

/// Writes the submits-and-names workload: a snapshot of every event's
/// name, then `shape.events` submissions with a rename every hundredth.
pub fn submits_and_names(
    sink: &Sink,
    shape: &Shape,
    progress: &dyn Fn(u64),
) -> anyhow::Result<u64> {
    let names = MysqlEncoder::new(
        MysqlTable::new(
            "EVENT_MYSQL.EVENT.NAME",
            &[("id", "long"), ("name", "string")],
        ),
        sink,
    )?;
    let submits = MysqlEncoder::new(
        MysqlTable::new(
            "EVENT_MYSQL.EVENT.SUBMIT",
            &[
                ("user_id", "long"),
                ("event_id", "long"),
                ("created_at", "string"),
            ],
        ),
        sink,
    )?;
    let ids = event_ids(shape);
    let mut name_out = Writer::new(sink.transport, &names.table.topic, sink.partitions)?;
    let mut submit_out = Writer::new(sink.transport, &submits.table.topic, sink.partitions)?;
    // The snapshot: every event's name, before any submission.
    for id in 1..=ids {
        let ts = BASE_TS - 1_000_000 + id;
        let row = vec![Value::BigInt(id), Value::String(format!("event {id}"))];
        let (k, v) = names.encode("r", &json!({ "id": id }), row, ts)?;
        name_out.push(id as u64, k, v, ts)?;
    }
    for i in 0..shape.events {
        let ts = BASE_TS + i as i64;
        let event = 1 + (splitmix(shape.seed ^ i) % ids as u64) as i64;
        if i % 100 == 99 {
            let row = vec![
                Value::BigInt(event),
                Value::String(format!("event {event} (rev {i})")),
            ];
            let (k, v) = names.encode("u", &json!({ "id": event }), row, ts)?;
            name_out.push(i, k, v, ts)?;
        } else {
            let user = shape.user(i);
            let row = vec![
                Value::BigInt(user),
                Value::BigInt(event),
                Value::String("2025-03-05 10:00:00".into()),
            ];
            let (k, v) =
                submits.encode("c", &json!({ "user_id": user, "event_id": event }), row, ts)?;
            submit_out.push(i, k, v, ts)?;
        }
        if i % 1_000_000 == 999_999 {
            progress(i + 1);
        }
    }
    Ok(name_out.finish()? + submit_out.finish()?)
}

/// Writes the toggles workload: each user's document is created, then
/// saved again with `toggle` flipped (one save in three) or unchanged.
pub fn toggles(sink: &Sink, shape: &Shape, progress: &dyn Fn(u64)) -> anyhow::Result<u64> {
    const TOPIC: &str = "SETTING_MONGO.SETTING.OPTION";
    let collection = MongoCollection::new(TOPIC);
    let avro = sink.avro_schema(TOPIC, &collection.schema())?;
    let mut out = Writer::new(sink.transport, TOPIC, sink.partitions)?;
    // A user's toggle is a function of how many saves flipped it, which
    // the generator does not need to remember: flip on every third save.
    let mut saves: std::collections::HashMap<i64, u32> = std::collections::HashMap::new();
    for i in 0..shape.events {
        let ts = BASE_TS + i as i64;
        let user = shape.user(i);
        let n = saves.entry(user).or_insert(0);
        let op = if *n == 0 { "c" } else { "u" };
        let toggle = (*n / 3) % 2 == 1;
        *n += 1;
        let doc = format!(
            r#"{{"_id": {{"$oid": "38vhxu2ffa{user:014x}"}}, "user_id": {{"$numberLong": "{user}"}}, "toggle": {toggle}, "toggle2": false}}"#
        );
        let key = json!({ "id": format!(r#"{{"$oid": "38vhxu2ffa{user:014x}"}}"#) });
        let value = match &avro {
            Some((schema, id)) => {
                let event = collection.event(op, Some(&doc), ts);
                encode_with_id(schema, *id, &event).map_err(anyhow::Error::msg)?
            }
            None => serde_json::to_vec(
                &json!({"after": doc, "op": op, "source": {"ts_ms": ts}, "ts_ms": ts}),
            )?,
        };
        out.push(i, key.to_string().into_bytes(), value, ts)?;
        if i % 1_000_000 == 999_999 {
            progress(i + 1);
        }
    }
    out.finish()
}
