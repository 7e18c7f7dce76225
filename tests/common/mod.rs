//! Helpers shared by the end-to-end tests.

// Each test binary uses its own subset.
#![allow(dead_code)]

pub mod server;

use ddsql::session::Connections;
use ddsql::Session;
use ddsql_connectors::schema_registry::MemoryRegistry;
use ddsql_engine::io::Record;
use ddsql_engine::{RunOptions, RunReport};
use serde_json::{json, Value as Json};

/// The error message of a processing-log entry (ksqlDB's layout: the
/// message is in the one non-null error struct of `MESSAGE`).
pub fn logged_error(entry: &Json) -> &str {
    [
        "DESERIALIZATIONERROR",
        "RECORDPROCESSINGERROR",
        "SERIALIZATIONERROR",
    ]
    .iter()
    .find_map(|k| entry["MESSAGE"][*k]["ERRORMESSAGE"].as_str())
    .unwrap_or_else(|| panic!("no error message in {entry}"))
}

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

/// Runs `session`'s queries over everything in its log, with `workers`
/// workers reading `batch` records at a time.
pub fn run_caught_up(session: &Session, workers: usize, batch: usize) -> RunReport {
    session
        .run_until_caught_up(&RunOptions {
            workers,
            batch,
            ..Default::default()
        })
        .unwrap()
}

/// `NAME TYPE` of each column of a catalog source, as DESCRIBE lists them.
pub fn columns(session: &Session, source: &str) -> Vec<String> {
    session
        .catalog()
        .source(source)
        .unwrap_or_else(|| panic!("no source {source}"))
        .columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.ty))
        .collect()
}

/// The binder's error for the statement `sql` over the sources `ddl`
/// declares, nothing run; panics if `sql` is accepted.
pub fn refused(ddl: &str, sql: &str) -> String {
    use ddsql_sql::binder::bind;
    use ddsql_sql::catalog::{Catalog, NoTopics};
    use ddsql_sql::parser::parse;
    let mut catalog = Catalog::default();
    for p in parse(ddl).unwrap() {
        let b = bind(&catalog, &NoTopics, &Default::default(), &p).unwrap();
        catalog.apply(&b);
    }
    let p = parse(sql).unwrap().remove(0);
    match bind(&catalog, &NoTopics, &Default::default(), &p) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{sql} was accepted"),
    }
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

/// A session on a fresh data directory with a Schema Registry of its own
/// (empty).
pub fn session_with_registry() -> (MemoryRegistry, tempfile::TempDir, Session) {
    let registry = MemoryRegistry::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let connections = Connections {
        schema_registry: Some(registry.url()),
        ..Connections::embedded(dir.path())
    };
    let session = Session::connect(&connections).unwrap();
    (registry, dir, session)
}

/// Seed pipeline 1 (event join), as the article writes it but with JSON
/// formats and declared columns where it relies on a Schema Registry.
pub const EVENT_JOIN: &str = include_str!("../../examples/event-join/pipeline-json.sql");

/// Seed pipeline 3 (toggle dedup), with JSON formats.
pub const TOGGLE: &str = include_str!("../../examples/toggle/pipeline-json.sql");

/// Seed pipeline 2 (first order), every statement created before any data.
pub const FIRST_ORDER: &str = "
create stream `stg_order` (
    before struct<order_id bigint, user_id bigint>,
    after struct<order_id bigint, user_id bigint>,
    op string, ts_ms bigint
) with (kafka_topic='TRADE_MYSQL.TRADE.ORDER', value_format='JSON', partitions=1);

create stream `stm_order_candidate` (user_id bigint key, order_id bigint)
with (kafka_topic='STREAM.ORDER.CANDIDATE', key_format='JSON', value_format='JSON', partitions=1);

create table `tb_min_order`
with (kafka_topic='TABLE.MIN_ORDER', key_format='JSON', value_format='JSON', partitions=1) as
select user_id, min(order_id) as min_order_id from `stm_order_candidate` group by user_id;

insert into `stm_order_candidate`
select after->user_id as user_id, after->order_id as order_id
from `stg_order`
where op = 'c' and after->user_id is not null and after->order_id is not null
partition by after->user_id
emit changes;

create stream `stm_min_order`
with (kafka_topic='STREAM.MIN_ORDER', key_format='JSON', value_format='JSON', partitions=1) as
select s.user_id as user_id, true as min_order
from `stm_order_candidate` s
left join `tb_min_order` t on s.user_id = t.user_id
where (t.user_id is null or t.min_order_id = s.order_id)
emit changes;
";
