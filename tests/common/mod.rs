//! Helpers shared by the end-to-end tests.

// Each test binary uses its own subset.
#![allow(dead_code)]

use ddsql::Session;
use ddsql_engine::io::{Record, Transport};
use serde_json::{json, Value as Json};

/// A record with JSON key and value (`None`: a tombstone).
pub fn json_record(key: Json, value: Option<Json>, timestamp: i64) -> Record {
    Record {
        key: Some(key.to_string().into_bytes()),
        value: value.map(|v| v.to_string().into_bytes()),
        timestamp,
        headers: vec![],
    }
}

/// `(key, value, timestamp)` of every record of a one-partition topic.
/// Keys that are not JSON are read as KAFKA-format BIGINTs.
pub fn records(session: &Session, topic: &str) -> Vec<(Json, Json, i64)> {
    let mut out = Vec::new();
    session
        .log()
        .read(topic, 0, 0, usize::MAX, &mut out)
        .unwrap();
    let parse = |b: Option<Vec<u8>>| match b {
        None => Json::Null,
        Some(b) => serde_json::from_slice(&b)
            .unwrap_or_else(|_| json!(i64::from_be_bytes(b.try_into().unwrap()))),
    };
    out.into_iter()
        .map(|f| {
            (
                parse(f.record.key),
                parse(f.record.value),
                f.record.timestamp,
            )
        })
        .collect()
}

/// A session on a fresh data directory, with `script` executed.
pub fn session_with(script: &str) -> (tempfile::TempDir, Session) {
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::open(dir.path()).unwrap();
    session
        .execute_script(script)
        .unwrap_or_else(|e| panic!("{e}"));
    (dir, session)
}
