//! The catalog: the streams and tables that exist, and the persistent
//! queries that maintain them.
//!
//! A source's *scan layout* is the row a query sees when it reads the
//! source: the system columns `ROWTIME, ROWPARTITION, ROWOFFSET` followed by
//! the source's columns, keys first.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::ast::SourceKind;
use crate::plan::QueryPlan;
use crate::types::SqlType;

/// System columns at the front of every scan, in this order.
pub const SYSTEM_COLUMNS: [(&str, SqlType); 3] = [
    ("ROWTIME", SqlType::BigInt),
    ("ROWPARTITION", SqlType::Int),
    ("ROWOFFSET", SqlType::BigInt),
];

/// How keys or values are serialised in a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    Kafka,
    Json,
    JsonSr,
    Avro,
    Delimited,
    Protobuf,
    ProtobufNoSr,
    None,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Kafka,
        Format::Json,
        Format::JsonSr,
        Format::Avro,
        Format::Delimited,
        Format::Protobuf,
        Format::ProtobufNoSr,
        Format::None,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Format::Kafka => "KAFKA",
            Format::Json => "JSON",
            Format::JsonSr => "JSON_SR",
            Format::Avro => "AVRO",
            Format::Delimited => "DELIMITED",
            Format::Protobuf => "PROTOBUF",
            Format::ProtobufNoSr => "PROTOBUF_NOSR",
            Format::None => "NONE",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub ty: SqlType,
    /// Part of the record key (stream `KEY` or table `PRIMARY KEY`).
    pub key: bool,
    /// Filled from the record's headers rather than its key or value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
}

impl Column {
    /// A key or value column.
    pub fn new(name: impl Into<String>, ty: SqlType, key: bool) -> Column {
        Column {
            name: name.into(),
            ty,
            key,
            header: None,
        }
    }
}

/// Which headers a header column holds. Header columns come last in a
/// source's columns; readers fill them, and writers leave them out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Header {
    /// `HEADERS`: all of them, in order, as
    /// `ARRAY<STRUCT<KEY STRING, VALUE BYTES>>`.
    All,
    /// `HEADER('key')`: the BYTES of the last header named `key`, or NULL.
    Key(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    pub topic: String,
    pub key_format: Format,
    pub value_format: Format,
    pub partitions: u32,
    /// Keys first, then values.
    pub columns: Vec<Column>,
    /// Whether a single value column is wrapped in an object/record
    /// (`WRAP_SINGLE_VALUE`, true by default).
    pub wrap_single_value: bool,
    /// Field separators of the DELIMITED format (`KEY_DELIMITER`,
    /// `VALUE_DELIMITER`; `,` by default).
    pub key_delimiter: char,
    pub value_delimiter: char,
    /// The column that holds ROWTIME (`WITH (TIMESTAMP='col')`), instead of
    /// the record's timestamp: an index into `columns`.
    pub timestamp_column: Option<usize>,
    /// `WITH (TIMESTAMP_FORMAT='...')`: the TIMESTAMP column is a STRING
    /// in this Java `DateTimeFormatter` pattern, read as UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_format: Option<String>,
    /// The statement that created it.
    pub sql: String,
    /// A windowed table (a `WINDOW` aggregation): its rows carry
    /// `WINDOWSTART, WINDOWEND` after the columns, and its record keys end
    /// with the window start (a time window) or the end, then the start
    /// (a session), as Kafka Streams' windowed serdes write them.
    #[serde(default)]
    pub window: Option<crate::plan::Window>,
    /// How a record's value carries the row (`ENVELOPE`, a ddsql
    /// extension).
    #[serde(default)]
    pub envelope: Envelope,
    /// `CREATE SOURCE STREAM|TABLE`: other systems own the topic, so ddsql
    /// neither writes it (`INSERT`) nor deletes it, nor replaces the source.
    #[serde(default)]
    pub read_only: bool,
}

/// How a record's value carries a source's row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Envelope {
    /// The value is the row's value columns (ksqlDB's only way).
    #[default]
    None,
    /// `ENVELOPE='DEBEZIUM'` (a ddsql extension, as in Materialize): the
    /// value is a Debezium change event, and the table is the database
    /// table it describes. `after` upserts the row (an update retracts the
    /// old row and inserts the new), a delete (`op` = `d`, only `before`)
    /// deletes it; the row's columns, keys included, come from the event.
    Debezium,
}

impl Source {
    pub fn key_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.key)
    }
    /// The columns the record's value holds.
    pub fn value_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| !c.key && c.header.is_none())
    }
    /// The columns filled from the record's headers, after all others.
    pub fn header_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.header.is_some())
    }
    pub fn key_arity(&self) -> usize {
        self.key_columns().count()
    }
    /// How many values a row of the source has after the system columns:
    /// its columns, then a windowed source's `WINDOWSTART, WINDOWEND`.
    pub fn width(&self) -> usize {
        self.columns.len() + if self.window.is_some() { 2 } else { 0 }
    }
}

/// A query that runs until terminated, writing into `sink`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistentQuery {
    /// ksqlDB-style id: `CSAS_NAME_0`, `CTAS_NAME_1`, `INSERTQUERY_2`.
    pub id: String,
    /// The source this query writes; its topic and formats are the output's.
    pub sink: String,
    pub plan: QueryPlan,
    pub sql: String,
    /// `PAUSE`d: kept, but not run until `RESUME`, which catches it up.
    #[serde(default)]
    pub paused: bool,
}

impl PersistentQuery {
    /// ksqlDB's name for the query's state.
    pub fn state(&self) -> &'static str {
        match self.paused {
            true => "PAUSED",
            false => "RUNNING",
        }
    }
}

/// What the binder needs to know of topics that exist outside the catalog.
pub trait Topics {
    /// The partition count of `topic`, or `None` if it does not exist.
    fn partitions(&self, topic: &str) -> Option<u32>;
    /// Whether [`Topics::partitions`] knows every topic. A checker without
    /// a broker says no, and a topic it does not know is taken to exist.
    fn complete(&self) -> bool {
        true
    }
    /// The type of one side of a topic as the schema a Schema Registry
    /// has for it describes it (a record or message is a STRUCT of its
    /// fields), for a source declared without columns: `None` when there is
    /// no registry, no schema or the format registers none.
    fn registered_type(
        &self,
        _lookup: &SchemaLookup,
    ) -> std::result::Result<Option<SqlType>, String> {
        Ok(None)
    }
}

/// Which registered schema describes one side of a topic: the latest under
/// subject `<topic>-<side>`, or the one `id` names (`KEY_SCHEMA_ID`,
/// `VALUE_SCHEMA_ID`); for Protobuf, the message `full_name` names
/// (`*_SCHEMA_FULL_NAME`) or else the file's first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaLookup {
    pub topic: String,
    /// `"key"` or `"value"`.
    pub side: &'static str,
    pub format: Format,
    pub id: Option<u32>,
    pub full_name: Option<String>,
}

impl SchemaLookup {
    /// The subject the topic name strategy registers the side under.
    pub fn subject(&self) -> String {
        format!("{}-{}", self.topic, self.side)
    }
}

/// No topics at all; for checking scripts that create everything they use.
pub struct NoTopics;
impl Topics for NoTopics {
    fn partitions(&self, _: &str) -> Option<u32> {
        None
    }
}

/// Topics unknown: every topic is taken to exist (for `ddsql check`).
pub struct UnknownTopics;
impl Topics for UnknownTopics {
    fn partitions(&self, _: &str) -> Option<u32> {
        None
    }
    fn complete(&self) -> bool {
        false
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    sources: BTreeMap<String, Source>,
    queries: Vec<PersistentQuery>,
    next_query: u64,
    /// The types `CREATE TYPE` named.
    #[serde(default)]
    types: BTreeMap<String, SqlType>,
}

impl Catalog {
    /// The type `CREATE TYPE` registered under `name`.
    pub fn custom_type(&self, name: &str) -> Option<&SqlType> {
        self.types.get(name)
    }
    /// Every type `CREATE TYPE` registered, by name.
    pub fn custom_types(&self) -> impl Iterator<Item = (&str, &SqlType)> {
        self.types.iter().map(|(n, t)| (n.as_str(), t))
    }
    pub fn add_type(&mut self, name: &str, ty: SqlType) {
        self.types.insert(name.to_string(), ty);
    }
    pub fn remove_type(&mut self, name: &str) {
        self.types.remove(name);
    }
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.get(name)
    }
    pub fn sources(&self) -> impl Iterator<Item = &Source> {
        self.sources.values()
    }
    pub fn queries(&self) -> &[PersistentQuery] {
        &self.queries
    }
    /// Sources reading `topic`.
    pub fn sources_on_topic<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a Source> + 'a {
        self.sources.values().filter(move |s| s.topic == topic)
    }
    /// A fresh query id with the given prefix, ksqlDB style.
    pub fn next_query_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}", self.next_query)
    }
    pub fn add_source(&mut self, source: Source) {
        self.sources.insert(source.name.clone(), source);
    }
    pub fn remove_source(&mut self, name: &str) {
        self.sources.remove(name);
    }
    pub fn remove_query(&mut self, id: &str) {
        self.queries.retain(|q| q.id != id);
    }
    /// Adds `query`, or puts it in the place of the query with its id
    /// (`CREATE OR REPLACE ... AS SELECT` keeps the id, as ksqlDB does).
    pub fn add_query(&mut self, query: PersistentQuery) {
        match self.queries.iter_mut().find(|q| q.id == query.id) {
            Some(q) => *q = query,
            None => {
                self.next_query += 1;
                self.queries.push(query);
            }
        }
    }
    /// Pauses (or resumes) query `id`.
    pub fn set_paused(&mut self, id: &str, paused: bool) {
        if let Some(q) = self.queries.iter_mut().find(|q| q.id == id) {
            q.paused = paused;
        }
    }
    /// This catalog with only the queries that run: without the paused.
    pub fn running(&self) -> Catalog {
        let mut running = self.clone();
        running.queries.retain(|q| !q.paused);
        running
    }
    /// The queries that read `source` or write into it.
    pub fn queries_using<'a>(
        &'a self,
        source: &'a str,
    ) -> impl Iterator<Item = &'a PersistentQuery> + 'a {
        self.queries
            .iter()
            .filter(move |q| q.sink == source || q.plan.plan.scans(source))
    }
    /// The running query `id` names, in any case.
    pub fn query(&self, id: &str) -> Option<&PersistentQuery> {
        self.queries.iter().find(|q| q.id.eq_ignore_ascii_case(id))
    }
    /// The query `CREATE ... AS SELECT` started to fill `source`, if it
    /// was made that way (queries of `INSERT INTO` only add to it).
    pub fn maker(&self, source: &str) -> Option<&PersistentQuery> {
        self.queries
            .iter()
            .find(|q| q.sink == source && (q.id.starts_with("CSAS_") || q.id.starts_with("CTAS_")))
    }
}

/// ROWTIME from a TIMESTAMP column's value `v`: a BIGINT or TIMESTAMP as
/// it is, a STRING through the source's `timestamp_format` (a Java pattern,
/// read as UTC).
pub fn rowtime_of(v: &crate::types::Value, format: Option<&str>) -> Result<i64, String> {
    use crate::functions::datetime::{Pattern, Zone};
    use crate::types::Value;
    match (v, format) {
        (Value::BigInt(t) | Value::Timestamp(t), _) => Ok(*t),
        (Value::String(s), Some(format)) => Pattern::cached(format)?
            .parse_timestamp(s, &Zone::utc())
            .map_err(|e| {
                format!(
                    "the TIMESTAMP column's '{s}' does not match TIMESTAMP_FORMAT '{format}': {e}"
                )
            }),
        (Value::Null, _) => Err("the TIMESTAMP column is NULL".into()),
        (other, _) => Err(format!("the TIMESTAMP column holds {other:?}, not a time")),
    }
}
