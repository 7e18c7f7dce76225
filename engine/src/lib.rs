//! # ddsql-engine: SQL plans on differential dataflow
//!
//! The engine runs the catalog's persistent queries (logical plans from
//! `ddsql-sql`) on long-lived timely workers ([`runtime`]), one dataflow
//! per query, reading and writing topics.
//!
//! The consistency contract (see `docs/architecture.md`) is kept by four
//! pieces:
//! - [`time`]: every record of a partition gets a final time by one rule,
//!   in offset order: its own time (timestamp, topic, partition, offset;
//!   a query's output: its cause's), raised past the previous record's
//!   when needed;
//! - [`clock`]: everything ddsql writes goes through one ordered write path
//!   per partition, which stamps it by that rule; what readers decide at
//!   arrival is recorded, so every reader, restart and later query agrees;
//! - [`operators`]: every stateful operator processes only *complete*
//!   times, in time order, so results do not depend on batching or worker
//!   count; the stream-table join reads the table as of the stream record's
//!   time, inclusive;
//! - [`job`] and [`runtime`]: a query reads the topics other queries write
//!   at the times their writers stamped, waiting for them, so queries in
//!   different dataflows feed each other without a race.
//!
//! The outside world is reached through the traits of [`io`].

pub mod clock;
pub mod io;
pub mod job;
pub(crate) mod lower;
#[cfg(feature = "mutation")]
pub mod mutation;
pub mod operators;
pub mod runtime;
pub mod time;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

pub use job::{check, produce, Change, EngineError, RunOptions, RunReport, PROCESSING_LOG_TOPIC};
pub use operators::source::Live;
pub use runtime::{run, subscribe, Runtime, RuntimeConfig, Subscription};

/// A record or row the engine could not process: it is left out of the
/// results, counted, and written to the processing log; the query goes on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProcessingError {
    /// What failed, as ksqlDB's processing log classifies it.
    pub kind: ErrorKind,
    /// The source or query that met the error.
    pub origin: String,
    pub topic: Option<String>,
    pub partition: Option<u32>,
    pub offset: Option<u64>,
    /// The record's timestamp.
    pub timestamp: i64,
    pub message: String,
}

/// ksqlDB's processing-log message types (`MESSAGE->TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// A source record no decoder reads (type 0).
    Deserialization = 0,
    /// A row an expression or a timestamp could not be computed for (1).
    RecordProcessing = 1,
    /// A result row the sink's format cannot encode (3).
    Serialization = 3,
}

impl ProcessingError {
    /// The processing-log entry, in ksqlDB's layout: `LOGGER`, `LEVEL`,
    /// `TIME`, and `MESSAGE` with one error struct per type (the others
    /// null); then ddsql's `QUERY_ID` and where the record was. `TIME` is
    /// the record's timestamp, not the wall clock as in ksqlDB, so a query
    /// that replays after a restart writes the same entry again.
    pub fn entry(&self, query: &str) -> serde_json::Value {
        let error = serde_json::json!({"ERRORMESSAGE": self.message, "CAUSE": []});
        let with = |mut e: serde_json::Value, extra: serde_json::Value| {
            if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
                e.extend(extra.clone());
            }
            e
        };
        let (mut deserialization, mut processing, mut serialization) = (
            serde_json::Value::Null,
            serde_json::Value::Null,
            serde_json::Value::Null,
        );
        match self.kind {
            ErrorKind::Deserialization => {
                deserialization = with(
                    error,
                    serde_json::json!({"TARGET": "value", "RECORDB64": null, "topic": self.topic}),
                )
            }
            ErrorKind::RecordProcessing => {
                processing = with(error, serde_json::json!({"RECORD": null}))
            }
            ErrorKind::Serialization => {
                serialization = with(
                    error,
                    serde_json::json!({"TARGET": "value", "RECORD": null, "topic": self.topic}),
                )
            }
        }
        serde_json::json!({
            "LOGGER": format!("processing.{query}.{}", self.origin),
            "LEVEL": "ERROR",
            "TIME": self.timestamp,
            "MESSAGE": {
                "TYPE": self.kind as i32,
                "DESERIALIZATIONERROR": deserialization,
                "RECORDPROCESSINGERROR": processing,
                "PRODUCTIONERROR": null,
                "SERIALIZATIONERROR": serialization,
                "KAFKASTREAMSTHREADERROR": null,
            },
            "QUERY_ID": query,
            "RECORD_TOPIC": self.topic,
            "RECORD_PARTITION": self.partition,
            "RECORD_OFFSET": self.offset,
        })
    }
}

/// The statement declaring the `KSQL_PROCESSING_LOG` stream over
/// [`PROCESSING_LOG_TOPIC`]: the columns of [`ProcessingError::entry`].
pub fn processing_log_stream() -> String {
    format!(
        "CREATE STREAM KSQL_PROCESSING_LOG (\
         LOGGER STRING, LEVEL STRING, `TIME` BIGINT, \
         MESSAGE STRUCT<`TYPE` INT, \
         DESERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORDB64 STRING, CAUSE ARRAY<STRING>, `topic` STRING>, \
         RECORDPROCESSINGERROR STRUCT<ERRORMESSAGE STRING, RECORD STRING, CAUSE ARRAY<STRING>>, \
         PRODUCTIONERROR STRUCT<ERRORMESSAGE STRING>, \
         SERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORD STRING, CAUSE ARRAY<STRING>, `topic` STRING>, \
         KAFKASTREAMSTHREADERROR STRUCT<ERRORMESSAGE STRING, THREADNAME STRING, CAUSE ARRAY<STRING>>>, \
         QUERY_ID STRING, RECORD_TOPIC STRING, RECORD_PARTITION INT, RECORD_OFFSET BIGINT\
         ) WITH (KAFKA_TOPIC='{PROCESSING_LOG_TOPIC}', VALUE_FORMAT='JSON', PARTITIONS=1);"
    )
}

/// Milliseconds since the epoch, by the wall clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Counters shared by the workers of one run.
#[derive(Debug, Default)]
pub struct Stats {
    read: AtomicU64,
    written: AtomicU64,
    errors: AtomicU64,
    failure: Mutex<Option<String>>,
    /// The latest time a source stamped.
    latest: Mutex<Option<time::Time>>,
}

impl Stats {
    /// A source stamped a record at `t`.
    pub fn saw_time(&self, t: time::Time) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        *latest = Some(latest.map_or(t, |l| l.max(t)));
    }
    /// The latest time any source stamped.
    pub fn latest(&self) -> Option<time::Time> {
        *self.latest.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn add_read(&self, n: u64) {
        self.read.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_written(&self, n: u64) {
        self.written.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_errors(&self, n: u64) {
        self.errors.fetch_add(n, Ordering::Relaxed);
    }
    /// Records a failure that makes the run's result unusable (an I/O error).
    pub fn fail(&self, message: String) {
        tracing::error!("{message}");
        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(message);
    }
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
