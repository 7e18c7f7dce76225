//! # ddsql-connectors: transports and formats
//!
//! Two independent axes, as in Feldera:
//! - transports move records: [`embedded::EmbeddedLog`], a durable log in a
//!   data directory (the default); Kafka comes next, behind the same
//!   [`ddsql_engine::io::Transport`] trait;
//! - formats turn rows into bytes: [`format`] (JSON, KAFKA, NONE so far).
//!
//! [`partitioner`] is Kafka's default partitioner, shared by every
//! transport so records land where Java clients would put them.

pub mod embedded;
pub mod format;
pub mod partitioner;
