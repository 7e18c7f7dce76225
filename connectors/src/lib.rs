//! # ddsql-connectors: transports and formats
//!
//! Two independent axes, as in Feldera:
//! - transports move records, behind [`ddsql_engine::io::Transport`]:
//!   [`embedded::EmbeddedLog`], a durable log in a data directory (the
//!   default), and [`kafka::KafkaTransport`], a Kafka cluster through
//!   librdkafka;
//! - formats turn rows into bytes: [`format`] (JSON, JSON_SR, AVRO,
//!   PROTOBUF, KAFKA, DELIMITED, NONE), with schemas registered in and read
//!   from a Confluent Schema Registry ([`schema_registry`]) when one is
//!   configured.
//!
//! [`partitioner`] is Kafka's default partitioner, shared by every
//! transport so records land where Java clients would put them.

pub mod debezium;
pub mod embedded;
pub mod format;
pub mod kafka;
pub mod partitioner;
pub mod schema_registry;

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
