//! Debezium's change events, as its Avro converter writes them.
//!
//! A Debezium MySQL topic holds one *envelope* per row change: `before`
//! and `after` (the row, or null), `source` (where in the binlog),
//! `op` (`c` create, `r` snapshot read, `u` update, `d` delete), `ts_ms`
//! and `transaction`. ksqlDB reads it as a plain struct, and so does ddsql:
//! `CREATE STREAM s WITH (kafka_topic='db.schema.table',
//! value_format='AVRO')` infers `BEFORE`, `AFTER`, `SOURCE`, `OP`, `TS_MS`
//! and `TRANSACTION` from the registered schema, and queries say
//! `after->user_id`.
//!
//! This module writes such envelopes: [`MysqlTable::schema`] is the schema
//! Debezium registers for a table (the row record is defined once, in
//! `before`, and named again in `after`, as Avro requires) and
//! [`MysqlTable::event`] one change event of it. The benchmarks' data
//! generator and the tests use it to produce what a real connector would.
//!
//! ```
//! use ddsql_connectors::debezium::MysqlTable;
//! use ddsql_connectors::format::avro::Schema;
//! use ddsql_sql::types::Value;
//! let orders = MysqlTable::new("TRADE_MYSQL.TRADE.ORDER", &[("order_id", "long"), ("user_id", "long")]);
//! let schema = Schema::parse(&orders.schema()).unwrap();
//! let columns: Vec<String> = schema.columns("ROWVAL").unwrap().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(columns, ["BEFORE", "AFTER", "SOURCE", "OP", "TS_MS", "TRANSACTION"]);
//! let event = orders.event("c", None, Some(vec![Value::BigInt(7), Value::BigInt(1)]), 1_710_921_600_000);
//! assert!(ddsql_connectors::format::avro::encode_with_id(&schema, 1, &event).is_ok());
//! ```

use serde_json::{json, Value as Json};

use ddsql_sql::types::Value;

/// A MySQL table as Debezium's MySQL connector describes it.
#[derive(Clone, Debug)]
pub struct MysqlTable {
    /// The topic: `<server>.<database>.<table>`.
    pub topic: String,
    /// Columns and their Avro types (`"long"`, `"string"`, or any Avro
    /// schema as JSON text); every column but the first is nullable.
    pub columns: Vec<(String, String)>,
}

impl MysqlTable {
    pub fn new(topic: &str, columns: &[(&str, &str)]) -> MysqlTable {
        MysqlTable {
            topic: topic.to_string(),
            columns: columns
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
        }
    }

    /// The envelope's schema as Debezium registers it (Avro JSON text).
    pub fn schema(&self) -> String {
        let column_type = |t: &str| serde_json::from_str::<Json>(t).unwrap_or(json!(t));
        let fields: Vec<Json> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| {
                if i == 0 {
                    json!({"name": name, "type": column_type(ty)})
                } else {
                    json!({"name": name, "type": ["null", column_type(ty)], "default": null})
                }
            })
            .collect();
        json!({
            "type": "record",
            "name": "Envelope",
            "namespace": self.topic,
            "fields": [
                {"name": "before", "type": ["null", {
                    "type": "record", "name": "Value", "fields": fields,
                    "connect.name": format!("{}.Value", self.topic)
                }], "default": null},
                {"name": "after", "type": ["null", "Value"], "default": null},
                {"name": "source", "type": {
                    "type": "record", "name": "Source", "namespace": "io.debezium.connector.mysql",
                    "fields": [
                        {"name": "version", "type": "string"},
                        {"name": "connector", "type": "string"},
                        {"name": "name", "type": "string"},
                        {"name": "ts_ms", "type": "long"},
                        {"name": "snapshot", "type": [{"type": "string", "connect.version": 1,
                            "connect.parameters": {"allowed": "true,last,false,incremental"},
                            "connect.default": "false", "connect.name": "io.debezium.data.Enum"}, "null"],
                         "default": "false"},
                        {"name": "db", "type": "string"},
                        {"name": "table", "type": ["null", "string"], "default": null},
                        {"name": "file", "type": "string"},
                        {"name": "pos", "type": "long"}
                    ],
                    "connect.name": "io.debezium.connector.mysql.Source"
                }},
                {"name": "op", "type": "string"},
                {"name": "ts_ms", "type": ["null", "long"], "default": null},
                {"name": "transaction", "type": ["null", {
                    "type": "record", "name": "block", "namespace": "event",
                    "fields": [
                        {"name": "id", "type": "string"},
                        {"name": "total_order", "type": "long"},
                        {"name": "data_collection_order", "type": "long"}
                    ]
                }], "default": null}
            ],
            "connect.name": format!("{}.Envelope", self.topic)
        })
        .to_string()
    }

    /// One change event: `op` is `c`, `r`, `u` or `d`; rows are the
    /// columns' values in order.
    pub fn event(
        &self,
        op: &str,
        before: Option<Vec<Value>>,
        after: Option<Vec<Value>>,
        ts_ms: i64,
    ) -> Value {
        let mut parts = self.topic.splitn(3, '.');
        let (server, db, table) = (parts.next(), parts.next(), parts.next());
        let text = |s: Option<&str>| Value::String(s.unwrap_or_default().to_lowercase());
        let row = |r: Option<Vec<Value>>| r.map(Value::Struct).unwrap_or(Value::Null);
        Value::Struct(vec![
            row(before),
            row(after),
            Value::Struct(vec![
                Value::String("2.5.4.Final".into()),
                Value::String("mysql".into()),
                text(server),
                Value::BigInt(ts_ms),
                Value::String(if op == "r" { "true" } else { "false" }.into()),
                text(db),
                text(table),
                Value::String("mysql-bin.000003".into()),
                Value::BigInt(ts_ms.rem_euclid(1 << 30)),
            ]),
            Value::String(op.into()),
            Value::BigInt(ts_ms),
            Value::Null,
        ])
    }
}

/// A MongoDB collection as Debezium's MongoDB connector describes it: the
/// document is JSON text in `after` (null for a delete), so ksqlDB reads
/// its fields with `extractjsonfield(after, '$.field')`.
///
/// ```
/// use ddsql_connectors::debezium::MongoCollection;
/// use ddsql_connectors::format::avro::{encode_with_id, Schema};
/// let options = MongoCollection::new("SETTING_MONGO.SETTING.OPTION");
/// let schema = Schema::parse(&options.schema()).unwrap();
/// let columns: Vec<String> = schema.columns("ROWVAL").unwrap().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(columns, ["AFTER", "PATCH", "FILTER", "SOURCE", "OP", "TS_MS"]);
/// let event = options.event("c", Some(r#"{"user_id": 1, "toggle": true}"#), 1_747_120_515_000);
/// assert!(encode_with_id(&schema, 1, &event).is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct MongoCollection {
    /// The topic: `<server>.<database>.<collection>`.
    pub topic: String,
}

impl MongoCollection {
    pub fn new(topic: &str) -> MongoCollection {
        MongoCollection {
            topic: topic.to_string(),
        }
    }

    /// The envelope's schema as Debezium registers it (Avro JSON text).
    pub fn schema(&self) -> String {
        json!({
            "type": "record", "name": "Envelope", "namespace": self.topic,
            "fields": [
                {"name": "after", "type": ["null", {"type": "string", "connect.name": "io.debezium.data.Json"}], "default": null},
                {"name": "patch", "type": ["null", "string"], "default": null},
                {"name": "filter", "type": ["null", "string"], "default": null},
                {"name": "source", "type": {"type": "record", "name": "Source", "namespace": "io.debezium.connector.mongo", "fields": [
                    {"name": "version", "type": "string"},
                    {"name": "connector", "type": "string"},
                    {"name": "name", "type": "string"},
                    {"name": "ts_ms", "type": "long"},
                    {"name": "db", "type": "string"},
                    {"name": "collection", "type": "string"}
                ]}},
                {"name": "op", "type": ["null", "string"], "default": null},
                {"name": "ts_ms", "type": ["null", "long"], "default": null}
            ],
            "connect.name": format!("{}.Envelope", self.topic)
        })
        .to_string()
    }

    /// One change event: `op` is `c`, `r`, `u` or `d`; `after` the
    /// document as JSON text (`None` for a delete).
    pub fn event(&self, op: &str, after: Option<&str>, ts_ms: i64) -> Value {
        let mut parts = self.topic.splitn(3, '.');
        let (server, db, collection) = (parts.next(), parts.next(), parts.next());
        let text = |s: Option<&str>| Value::String(s.unwrap_or_default().to_lowercase());
        Value::Struct(vec![
            after.map_or(Value::Null, |a| Value::String(a.into())),
            Value::Null,
            Value::Null,
            Value::Struct(vec![
                Value::String("2.5.4.Final".into()),
                Value::String("mongodb".into()),
                text(server),
                Value::BigInt(ts_ms),
                text(db),
                text(collection),
            ]),
            Value::String(op.into()),
            Value::BigInt(ts_ms),
        ])
    }
}
