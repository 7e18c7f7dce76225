//! The boundary between the engine and the outside world.
//!
//! The engine reads and writes [`Record`]s, Kafka's record model, through a
//! [`Transport`] (the embedded log, Kafka), and turns record bytes into rows
//! through a [`Codec`] (JSON, KAFKA, AVRO, ...). Both are implemented in the
//! connectors crate; the engine knows neither files nor brokers.

use std::sync::Arc;

use ddsql_sql::catalog::Source;
use ddsql_sql::plan::Window;
use ddsql_sql::types::Value;

/// Record headers, in order; a header may have a null value.
pub type Headers = Vec<(String, Option<Vec<u8>>)>;

/// A Kafka-style record: what a topic partition holds at an offset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub headers: Headers,
}

impl Record {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// A record read back, with its offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub offset: u64,
    pub record: Record,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IoError {
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    #[error("topic '{topic}' has no partition {partition}")]
    UnknownPartition { topic: String, partition: u32 },
    #[error("{0}")]
    Other(String),
}

/// Where topics live: the embedded log or a Kafka cluster.
pub trait Transport: Send + Sync {
    /// A small integer naming `topic` that never changes for the life of the
    /// data: it breaks timestamp ties between topics (see [`crate::time`]).
    fn topic_index(&self, topic: &str) -> Result<u16, IoError>;
    /// Every topic, with its partition count.
    fn topics(&self) -> Result<Vec<(String, u32)>, IoError>;
    /// The partition count of `topic`, or `None` if it does not exist.
    fn partitions(&self, topic: &str) -> Result<Option<u32>, IoError>;
    fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), IoError>;
    /// Deletes `topic` and its records (`DROP ... DELETE TOPIC`). Its
    /// [`Transport::topic_index`] is not handed to another topic while
    /// records of the old one may still be read.
    fn delete_topic(&self, topic: &str) -> Result<(), IoError>;
    /// The offset the next appended record will get.
    fn end_offset(&self, topic: &str, partition: u32) -> Result<u64, IoError>;
    /// Appends to `out` up to `max` records from `offset` on, and returns
    /// the offset to read from next. Offsets may have gaps (a compacted
    /// topic, a Kafka transaction's markers), so the next offset is not
    /// always `offset + records read`; a read that returns no records and
    /// `offset` itself found nothing below the end.
    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
        out: &mut Vec<Fetched>,
    ) -> Result<u64, IoError>;
    /// Appends to `out` every record from `from` up to `end` (exclusive),
    /// however many reads it takes (a Kafka read returns what has arrived);
    /// stops early if the log ends first.
    fn read_range(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        end: u64,
        out: &mut Vec<Fetched>,
    ) -> Result<(), IoError> {
        let mut offset = from;
        while offset < end {
            let start = out.len();
            let next = self.read(topic, partition, offset, (end - offset) as usize, out)?;
            // Past a gap, a read of `end - offset` records may reach beyond `end`.
            let kept = out[start..].iter().take_while(|f| f.offset < end).count();
            out.truncate(start + kept);
            if next <= offset {
                break;
            }
            offset = next;
        }
        Ok(())
    }
    /// Appends records to a partition; returns the offset of the first.
    fn append(&self, topic: &str, partition: u32, records: &[Record]) -> Result<u64, IoError>;
    /// Makes everything appended so far durable.
    fn flush(&self) -> Result<(), IoError>;
    /// The partition a keyed record goes to, as Kafka's default
    /// partitioner picks it, so co-partitioning matches Java clients.
    fn partition_for(&self, key: Option<&[u8]>, value: Option<&[u8]>, partitions: u32) -> u32;
}

/// A record's key and value bytes; `None` is a null key or value.
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// A decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// The source's columns, keys first.
    Row(Vec<Value>),
    /// A record without a value: for a table, the deletion of this key; a
    /// stream ignores it. Its leading columns (at least the key columns);
    /// the others are NULL.
    Tombstone(Vec<Value>),
}

/// The codec of a windowed source (a windowed aggregation's result, or a
/// source declared with `WINDOW_TYPE`): a record's key is the inner
/// codec's key bytes, then the window as Kafka Streams' windowed serdes
/// write it: the start (a time window), or the end and the start (a
/// session), 8 bytes big-endian each. Rows carry the window after the
/// columns, as `WINDOWSTART, WINDOWEND`.
///
/// ```
/// # use std::sync::Arc;
/// # use ddsql_engine::io::{Codec, Decoded, KeyValue, WindowedCodec};
/// # use ddsql_sql::plan::Window;
/// # use ddsql_sql::types::Value;
/// // A codec of one BIGINT key and no value columns, the key as 8 bytes.
/// struct Key;
/// impl Codec for Key {
///     fn decode(&self, key: Option<&[u8]>, _: Option<&[u8]>) -> Result<Decoded, String> {
///         let k = key.ok_or("no key")?.try_into().map_err(|_| "not 8 bytes")?;
///         Ok(Decoded::Row(vec![Value::BigInt(i64::from_be_bytes(k))]))
///     }
///     fn encode(&self, columns: &[Value]) -> Result<KeyValue, String> {
///         Ok((self.encode_key(columns)?, Some(Vec::new())))
///     }
///     fn encode_key(&self, key: &[Value]) -> Result<Option<Vec<u8>>, String> {
///         match key.first() {
///             Some(Value::BigInt(k)) => Ok(Some(k.to_be_bytes().to_vec())),
///             _ => Err("not a BIGINT".into()),
///         }
///     }
/// }
/// let session = WindowedCodec::new(Arc::new(Key), Window::Session { gap: 0, grace: 0 }, 0);
/// let row = vec![Value::BigInt(7), Value::BigInt(100), Value::BigInt(250)];
/// let (key, _) = session.encode(&row).unwrap();
/// let key = key.unwrap();
/// assert_eq!(key.len(), 8 + 16);
/// assert_eq!(&key[8..16], &250i64.to_be_bytes()); // the end first
/// assert_eq!(session.decode(Some(&key), Some(&[])).unwrap(), Decoded::Row(row));
/// ```
pub struct WindowedCodec {
    inner: Arc<dyn Codec>,
    window: Window,
    /// The source's value columns, NULL in a tombstone's row.
    value_arity: usize,
}

impl WindowedCodec {
    pub fn new(inner: Arc<dyn Codec>, window: Window, value_arity: usize) -> WindowedCodec {
        WindowedCodec {
            inner,
            window,
            value_arity,
        }
    }

    fn window_bytes(&self, bounds: &[Value]) -> Result<Vec<u8>, String> {
        match bounds {
            [Value::BigInt(start), Value::BigInt(end)] => {
                Ok(window_key_suffix(self.window, *start, *end))
            }
            _ => Err("a windowed row without its window".into()),
        }
    }
}

/// The bytes a windowed key ends with (see [`WindowedCodec`]).
pub fn window_key_suffix(window: Window, start: i64, end: i64) -> Vec<u8> {
    match window {
        Window::Time { .. } => start.to_be_bytes().to_vec(),
        Window::Session { .. } => [end.to_be_bytes(), start.to_be_bytes()].concat(),
    }
}

/// A windowed key's inner key bytes and its window's start and end.
pub fn split_window_key(window: Window, key: &[u8]) -> Result<(&[u8], i64, i64), String> {
    let suffix = match window {
        Window::Time { .. } => 8,
        Window::Session { .. } => 16,
    };
    let Some(split) = key.len().checked_sub(suffix) else {
        return Err(format!(
            "a {} windowed key needs {suffix} bytes of window after the key; this one has {} bytes in all",
            window.type_name(),
            key.len()
        ));
    };
    let long = |at: usize| i64::from_be_bytes(key[at..at + 8].try_into().expect("8 bytes"));
    let (start, end) = match window {
        Window::Time { size, .. } => (long(split), long(split).saturating_add(size)),
        Window::Session { .. } => (long(split + 8), long(split)),
    };
    Ok((&key[..split], start, end))
}

impl Codec for WindowedCodec {
    fn decode(&self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Decoded, String> {
        let (key, start, end) = split_window_key(self.window, key.unwrap_or_default())?;
        let bounds = [Value::BigInt(start), Value::BigInt(end)];
        Ok(match self.inner.decode(Some(key), value)? {
            Decoded::Row(mut columns) => {
                columns.extend(bounds);
                Decoded::Row(columns)
            }
            Decoded::Tombstone(mut columns) => {
                columns.resize(columns.len() + self.value_arity, Value::Null);
                columns.extend(bounds);
                Decoded::Tombstone(columns)
            }
        })
    }

    fn encode(&self, columns: &[Value]) -> Result<KeyValue, String> {
        let split = columns.len().saturating_sub(2);
        let (key, value) = self.inner.encode(&columns[..split])?;
        let mut key = key.unwrap_or_default();
        key.extend(self.window_bytes(&columns[split..])?);
        Ok((Some(key), value))
    }

    /// `key`: the key columns, then the window's bounds.
    fn encode_key(&self, key: &[Value]) -> Result<Option<Vec<u8>>, String> {
        let split = key.len().saturating_sub(2);
        let mut bytes = self.inner.encode_key(&key[..split])?.unwrap_or_default();
        bytes.extend(self.window_bytes(&key[split..])?);
        Ok(Some(bytes))
    }
}

/// Turns a source's records into rows of its columns and back.
pub trait Codec: Send + Sync {
    /// The source's columns from a record's key and value.
    fn decode(&self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Decoded, String>;
    /// Key and value bytes for a row of the source's columns.
    fn encode(&self, columns: &[Value]) -> Result<KeyValue, String>;
    /// Key bytes alone, for a tombstone.
    fn encode_key(&self, key: &[Value]) -> Result<Option<Vec<u8>>, String>;
}

/// Builds the codec for a source's formats.
pub trait CodecFactory: Send + Sync {
    fn codec(&self, source: &Source) -> Result<Arc<dyn Codec>, String>;
}
