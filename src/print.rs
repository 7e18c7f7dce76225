//! `PRINT topic`: a topic's records as text, as ksqlDB's PRINT shows them.
//!
//! PRINT reads the topic itself, not a source over it, so it knows no
//! formats: it guesses each key and value from its bytes. The first lines
//! name the formats the first record's key and value could be, then one
//! line per record:
//!
//! ```text
//! Key format: KAFKA_STRING
//! Value format: JSON or KAFKA_STRING
//! rowtime: 2026/11/25 10:00:00.000 Z, key: user-1, value: {"ID":1}, partition: 0
//! ```
//!
//! With a Schema Registry, a key or value in its wire format whose schema
//! is AVRO is shown as the record's JSON (format `AVRO`), read with its
//! writer's schema as ksqlDB's PRINT does; other schema types keep the
//! schema id and the bytes.
//!
//! Records come partition by partition in offset order, each partition's
//! batch in turn; without `FROM BEGINNING` only records appended after
//! PRINT started are shown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::sync::Arc;

use ddsql_connectors::format::avro_json::AvroJson;
use ddsql_connectors::schema_registry::SchemaRegistry;
use ddsql_engine::io::{Fetched, IoError, Transport};

/// What PRINT is asked to show (see [`ddsql_sql::binder::BoundStatement::Print`]).
#[derive(Clone, Debug)]
pub struct Print {
    pub topic: String,
    pub from_beginning: bool,
    /// Every `interval`-th record is shown.
    pub interval: u64,
    pub limit: Option<u64>,
}

/// Calls `line` with each line of `print`'s output, until `limit` records
/// are shown, `line` returns false or `stop` is set. With `follow`, PRINT
/// waits for new records at the end of the topic; without, it ends there.
/// `registry` reads AVRO keys and values (see the module docs).
pub fn print(
    log: &dyn Transport,
    print: &Print,
    registry: Option<&Arc<SchemaRegistry>>,
    follow: bool,
    stop: &AtomicBool,
    mut line: impl FnMut(String) -> bool,
) -> Result<(), IoError> {
    let partitions = log
        .partitions(&print.topic)?
        .ok_or_else(|| IoError::UnknownTopic(print.topic.clone()))?;
    let mut next: Vec<u64> = (0..partitions)
        .map(|p| match print.from_beginning {
            true => Ok(0),
            false => log.end_offset(&print.topic, p),
        })
        .collect::<Result<_, _>>()?;
    let (mut seen, mut shown) = (0u64, 0u64);
    let mut first = true;
    let mut batch: Vec<Fetched> = Vec::new();
    // Any subject: reading needs only the writers' schemas, by id.
    let avro = registry.map(|r| AvroJson::new(r.clone(), format!("{}-value", print.topic)));
    while !stop.load(Ordering::Relaxed) {
        let mut read_any = false;
        for p in 0..partitions {
            batch.clear();
            let after = log.read(&print.topic, p, next[p as usize], 500, &mut batch)?;
            read_any |= !batch.is_empty();
            next[p as usize] = after.max(next[p as usize]);
            for f in &batch {
                seen += 1;
                if (seen - 1) % print.interval != 0 {
                    continue;
                }
                let (key_formats, key) = guess(f.record.key.as_deref(), avro.as_ref());
                let (value_formats, value) = guess(f.record.value.as_deref(), avro.as_ref());
                if std::mem::take(&mut first)
                    && !(line(format!("Key format: {key_formats}"))
                        && line(format!("Value format: {value_formats}")))
                {
                    return Ok(());
                }
                let text = format!(
                    "rowtime: {}, key: {key}, value: {value}, partition: {p}",
                    rowtime(f.record.timestamp)
                );
                if !line(text) {
                    return Ok(());
                }
                shown += 1;
                if print.limit.is_some_and(|l| shown >= l) {
                    return Ok(());
                }
            }
        }
        if !read_any {
            if !follow {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// ksqlDB's PRINT timestamp: `yyyy/MM/dd HH:mm:ss.SSS Z`, in UTC.
fn rowtime(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y/%m/%d %H:%M:%S%.3f Z").to_string(),
        None => format!("{ms} ms"),
    }
}

/// The formats `bytes` could be written in, and the text PRINT shows for
/// them: JSON as it is, a Schema Registry format's bytes by schema id,
/// 4 and 8 bytes that are not text as the integer they encode, other text
/// as is, anything else in hex.
fn guess(bytes: Option<&[u8]>, avro: Option<&AvroJson>) -> (&'static str, String) {
    let Some(bytes) = bytes else {
        return ("none (no bytes)", "<null>".to_string());
    };
    if let (Some(avro), [0, _, _, _, _, _, ..]) = (avro, bytes) {
        if let Ok(json) = avro.decode(bytes) {
            return ("AVRO", json.to_string());
        }
    }
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| !t.chars().any(|c| c.is_control() && !c.is_whitespace()));
    if let Some(t) = text {
        if serde_json::from_str::<serde_json::Value>(t).is_ok() {
            return ("JSON or KAFKA_STRING", t.to_string());
        }
        return ("KAFKA_STRING", t.to_string());
    }
    match bytes {
        [a, b, c, d] => (
            "KAFKA_INT",
            i32::from_be_bytes([*a, *b, *c, *d]).to_string(),
        ),
        [a, b, c, d, e, f, g, h] => (
            "KAFKA_BIGINT or KAFKA_DOUBLE",
            i64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h]).to_string(),
        ),
        [0, a, b, c, d, rest @ ..] if !rest.is_empty() => {
            let id = u32::from_be_bytes([*a, *b, *c, *d]);
            (
                "AVRO, PROTOBUF or JSON_SR (Schema Registry wire format)",
                format!("<schema id {id}, {} bytes: {}>", rest.len(), hex(rest)),
            )
        }
        _ => ("UNRECOGNISED_BYTES", hex(bytes)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_what_the_bytes_hold() {
        assert_eq!(guess(None, None).1, "<null>");
        assert_eq!(
            guess(Some(b"{\"A\":1}"), None),
            ("JSON or KAFKA_STRING", "{\"A\":1}".into())
        );
        assert_eq!(
            guess(Some(b"user-1"), None),
            ("KAFKA_STRING", "user-1".into())
        );
        assert_eq!(
            guess(Some(&7i32.to_be_bytes()), None),
            ("KAFKA_INT", "7".into())
        );
        assert_eq!(
            guess(Some(&(-2i64).to_be_bytes()), None),
            ("KAFKA_BIGINT or KAFKA_DOUBLE", "-2".into())
        );
        assert_eq!(
            guess(Some(&[0, 0, 0, 0, 3, 2, 0xff]), None).1,
            "<schema id 3, 2 bytes: 02ff>"
        );
        assert_eq!(rowtime(1_764_064_800_123), "2025/11/25 10:00:00.123 Z");
    }
}
