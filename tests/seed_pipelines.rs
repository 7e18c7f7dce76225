//! Seed pipelines 1 (event join) and 3 (toggle dedup) end to end on the
//! embedded log, with JSON-encoded Debezium inputs. The statements are the
//! article's, changed only where it relies on a Schema Registry: formats are
//! JSON instead of AVRO, and the Debezium streams declare their columns.
//! The expected outputs are the article's.

use ddsql::Session;
use ddsql_engine::io::Record;
use ddsql_engine::RunOptions;
use serde_json::{json, Value as Json};

mod common;

use common::{
    columns, json_record, records as topic, run_caught_up, session_with_registry, EVENT_JOIN,
    TOGGLE,
};

fn record(key: Json, value: Json, timestamp: i64) -> Record {
    json_record(key, Some(value), timestamp)
}

/// The Debezium topics exist (the article's statements give no
/// PARTITIONS), then the event-join statements run.
fn event_join() -> (tempfile::TempDir, Session) {
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::open(dir.path()).unwrap();
    session
        .log()
        .create_topic("EVENT_MYSQL.EVENT.SUBMIT", 1)
        .unwrap();
    session
        .log()
        .create_topic("EVENT_MYSQL.EVENT.NAME", 1)
        .unwrap();
    session.execute_script(EVENT_JOIN).unwrap();
    (dir, session)
}

#[test]
fn seed_pipeline_1_event_join() {
    let (_dir, session) = event_join();

    let t0 = 1_710_921_600_000i64; // 2024-03-20 10:00:00 in the article's records
    let name = |op: &str, id: i64, name: &str, ts: i64| {
        let row = json!({"id": id, "name": name});
        record(
            json!({"id": id}),
            json!({"before": if op == "u" { row.clone() } else { Json::Null }, "after": row, "op": op, "ts_ms": ts}),
            ts,
        )
    };
    let names = [
        name("r", 101, "봄맞이 이벤트", t0 - 60_000),
        name("r", 102, "한여름 이벤트", t0 - 50_000),
        // A later rename: latest_by_offset keeps the newest name.
        name("u", 101, "봄 맞이 이벤트", t0 - 40_000),
    ];
    let submit = |op: &str, user: i64, event: Option<i64>, at: &str, ts: i64| {
        let row = json!({"user_id": user, "event_id": event, "created_at": at});
        let (before, after) = if op == "d" {
            (row, Json::Null)
        } else {
            (Json::Null, row)
        };
        record(
            json!({"user_id": user}),
            json!({"before": before, "after": after, "source": {"version": "3.0.8.Final", "ts_ms": ts}, "op": op, "ts_ms": ts}),
            ts,
        )
    };
    let submits = [
        submit("c", 1, Some(101), "2024-03-20T10:00:00Z", t0),
        submit("c", 2, Some(101), "2024-03-20T10:00:05Z", t0 + 5_000),
        submit("c", 3, Some(102), "2024-03-20T10:00:10Z", t0 + 10_000),
        // Filtered out: a delete, an unknown event, a submit with no event.
        submit("d", 1, Some(101), "2024-03-20T10:00:00Z", t0 + 11_000),
        submit("c", 4, Some(999), "2024-03-20T10:00:12Z", t0 + 12_000),
        submit("c", 5, None, "2024-03-20T10:00:13Z", t0 + 13_000),
    ];
    // The submits arrive first physically; event time puts the names first.
    session
        .log()
        .append("EVENT_MYSQL.EVENT.SUBMIT", 0, &submits)
        .unwrap();
    session
        .log()
        .append("EVENT_MYSQL.EVENT.NAME", 0, &names)
        .unwrap();
    run_caught_up(&session, 2, 1);

    // The article's STREAM.EVENT.JOIN.
    assert_eq!(
        topic(&session, "STREAM.EVENT.JOIN"),
        vec![
            (
                json!(1),
                json!({"event_name": "봄 맞이 이벤트", "event_time": "2024-03-20T10:00:00Z"}),
                t0
            ),
            (
                json!(2),
                json!({"event_name": "봄 맞이 이벤트", "event_time": "2024-03-20T10:00:05Z"}),
                t0 + 5_000
            ),
            (
                json!(3),
                json!({"event_name": "한여름 이벤트", "event_time": "2024-03-20T10:00:10Z"}),
                t0 + 10_000
            ),
        ]
    );
    // The article's `select * from tb_event_name`: the latest of each key.
    let table = topic(&session, "TABLE.EVENT.NAME");
    let last = |k: i64| {
        table
            .iter()
            .rev()
            .find(|(key, _, _)| *key == json!(k))
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(last(101), json!({"NAME": "봄 맞이 이벤트"}));
    assert_eq!(last(102), json!({"NAME": "한여름 이벤트"}));
}

#[test]
fn the_event_join_reads_the_table_as_of_each_submit() {
    // A rename between two submits: each submit sees the name of its time.
    let (_dir, session) = event_join();
    let name = |n: &str, ts: i64| {
        record(
            json!({"id": 7}),
            json!({"after": {"id": 7, "name": n}, "op": "c", "ts_ms": ts}),
            ts,
        )
    };
    let submit = |user: i64, ts: i64| {
        record(
            json!({"user_id": user}),
            json!({"after": {"user_id": user, "event_id": 7, "created_at": "x"}, "op": "c", "ts_ms": ts}),
            ts,
        )
    };
    session
        .log()
        .append(
            "EVENT_MYSQL.EVENT.NAME",
            0,
            &[name("old", 10), name("new", 30)],
        )
        .unwrap();
    session
        .log()
        .append(
            "EVENT_MYSQL.EVENT.SUBMIT",
            0,
            &[submit(1, 5), submit(2, 20), submit(3, 30), submit(4, 40)],
        )
        .unwrap();
    session.run_until_caught_up(&RunOptions::default()).unwrap();
    let got: Vec<(Json, Json)> = topic(&session, "STREAM.EVENT.JOIN")
        .into_iter()
        .map(|(k, v, _)| (k, v["event_name"].clone()))
        .collect();
    // User 1 came before any name (filtered by `e.event_id is not null`);
    // user 3 shares the rename's timestamp, and the topic tie-break (name
    // topic created second) puts it before the rename.
    assert_eq!(
        got,
        vec![
            (json!(2), json!("old")),
            (json!(3), json!("old")),
            (json!(4), json!("new"))
        ]
    );
}

/// The article's MongoDB changes: `(op, user, toggle, timestamp)`. The last
/// two are filtered out: a delete, and a change without the toggle field.
const TOGGLE_EVENTS: [(&str, i64, Option<bool>, i64); 10] = [
    ("c", 1, Some(false), 1747120515000),
    ("u", 1, Some(false), 1747120567000),
    ("u", 1, Some(true), 1747120590000),
    ("u", 1, Some(true), 1747120600000),
    ("c", 2, Some(false), 1747123415000),
    ("u", 2, Some(true), 1747123416000),
    ("u", 2, Some(false), 1747123417000),
    ("c", 3, Some(false), 1747123420000),
    ("d", 3, None, 1747123421000),
    ("u", 3, None, 1747123422000),
];

/// The article's `select * from stm_toggle emit changes` for them.
fn article_toggles() -> Vec<(Json, Json)> {
    vec![
        (json!(1), json!({"toggle": false})),
        (json!(1), json!({"toggle": true})),
        (json!(2), json!({"toggle": false})),
        (json!(2), json!({"toggle": true})),
        (json!(2), json!({"toggle": false})),
        (json!(3), json!({"toggle": false})),
    ]
}

#[test]
fn seed_pipeline_3_toggle_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::open(dir.path()).unwrap();
    session
        .log()
        .create_topic("SETTING_MONGO.SETTING.OPTION", 1)
        .unwrap();
    session.execute_script(TOGGLE).unwrap();

    // MongoDB Debezium events: `after` is a JSON document in a string.
    let event = |op: &str, user: i64, toggle: Option<bool>, ts: i64| {
        let mut doc = json!({"_id": {"$oid": format!("38vhxu2ffa{user}")}, "user_id": {"$numberLong": user.to_string()}, "toggle2": false});
        if let Some(t) = toggle {
            doc["toggle"] = json!(t);
        }
        let after = if op == "d" {
            Json::Null
        } else {
            Json::String(doc.to_string())
        };
        record(
            json!({"id": format!("{{\"$oid\": \"38vhxu2ffa{user}\"}}")}),
            json!({"after": after, "op": op, "source": {"ts_ms": ts}}),
            ts,
        )
    };
    let events: Vec<Record> = TOGGLE_EVENTS
        .iter()
        .map(|&(op, user, toggle, ts)| event(op, user, toggle, ts))
        .collect();
    session
        .log()
        .append("SETTING_MONGO.SETTING.OPTION", 0, &events)
        .unwrap();
    run_caught_up(&session, 2, 3);

    // The article's `select * from stm_toggle_candidate emit changes`.
    let candidates: Vec<(Json, Json, Json)> = topic(&session, "STREAM.TOGGLE.CANDIDATE")
        .into_iter()
        .map(|(_, v, _)| {
            (
                v["USER_ID"].clone(),
                v["TOGGLE"].clone(),
                v["UPDATED_AT"].clone(),
            )
        })
        .collect();
    let expected: Vec<(Json, Json, Json)> = [
        (1, false, 1747120515000i64),
        (1, false, 1747120567000),
        (1, true, 1747120590000),
        (1, true, 1747120600000),
        (2, false, 1747123415000),
        (2, true, 1747123416000),
        (2, false, 1747123417000),
        (3, false, 1747123420000),
    ]
    .iter()
    .map(|(u, t, at)| (json!(u), json!(t), json!(at)))
    .collect();
    assert_eq!(candidates, expected);

    // The article's `select * from stm_toggle emit changes`.
    let toggles: Vec<(Json, Json)> = topic(&session, "STREAM.TOGGLE")
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect();
    assert_eq!(toggles, article_toggles());

    // tb_toggle_changes ends as the article's table shows it.
    let table = topic(&session, "TABLE.TOGGLE.CHANGES");
    let last = |k: i64| {
        table
            .iter()
            .rev()
            .find(|(key, _, _)| *key == json!(k))
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(
        last(1),
        json!({"BEFORE_TOGGLE": true, "AFTER_TOGGLE": true})
    );
    assert_eq!(
        last(2),
        json!({"BEFORE_TOGGLE": true, "AFTER_TOGGLE": false})
    );
    assert_eq!(
        last(3),
        json!({"BEFORE_TOGGLE": false, "AFTER_TOGGLE": null})
    );
}

/// Seed pipeline 3 exactly as the article prints it: AVRO everywhere and no
/// declared columns, so `stm_toggle_changes` infers its columns from the
/// schemas that `tb_toggle_changes` registers for its topic. They are known
/// when the script is checked and registered when the table is created,
/// before any record flows, as ksqlDB does.
#[test]
fn seed_pipeline_3_verbatim_avro_reads_the_table_topic_through_the_registry() {
    use ddsql_connectors::debezium::MongoCollection;
    use ddsql_connectors::format::avro::{encode_with_id, Schema};
    use ddsql_connectors::schema_registry::SchemaType;

    let (registry, _dir, mut session) = session_with_registry();
    let options = MongoCollection::new("SETTING_MONGO.SETTING.OPTION");
    let id = registry.register(
        "SETTING_MONGO.SETTING.OPTION-value",
        SchemaType::Avro,
        &options.schema(),
    );
    let schema = Schema::parse(&options.schema()).unwrap();
    let event = |op: &str, user: i64, toggle: Option<bool>, ts: i64| {
        let doc = toggle.map(|t| {
            format!(r#"{{"_id": {{"$oid": "38vhxu2ffa{user}"}}, "user_id": {{"$numberLong": "{user}"}}, "toggle": {t}, "toggle2": false}}"#)
        });
        let doc = match (op, doc) {
            ("d", _) => None,
            (_, Some(d)) => Some(d),
            (_, None) => Some(format!(r#"{{"user_id": {{"$numberLong": "{user}"}}}}"#)),
        };
        Record {
            key: Some(
                json!({"id": format!("{{\"$oid\": \"38vhxu2ffa{user}\"}}")})
                    .to_string()
                    .into_bytes(),
            ),
            value: Some(
                encode_with_id(&schema, id, &options.event(op, doc.as_deref(), ts)).unwrap(),
            ),
            timestamp: ts,
            headers: vec![],
        }
    };
    session
        .log()
        .create_topic("SETTING_MONGO.SETTING.OPTION", 1)
        .unwrap();
    let events: Vec<Record> = TOGGLE_EVENTS
        .iter()
        .map(|&(op, user, toggle, ts)| event(op, user, toggle, ts))
        .collect();
    session
        .log()
        .append("SETTING_MONGO.SETTING.OPTION", 0, &events)
        .unwrap();
    session
        .execute_script(include_str!("../examples/toggle/pipeline.sql"))
        .unwrap_or_else(|e| panic!("{e}"));
    let columns = columns(&session, "stm_toggle_changes");
    assert_eq!(
        columns,
        [
            "ROWKEY BIGINT",
            "BEFORE_TOGGLE BOOLEAN",
            "AFTER_TOGGLE BOOLEAN"
        ]
    );
    let report = session
        .run_until_caught_up(&RunOptions {
            workers: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(report.processing_errors, 0);
    // The article's `select * from stm_toggle emit changes`.
    let toggles: Vec<(Json, Json)> = topic(&session, "STREAM.TOGGLE")
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect();
    assert_eq!(toggles, article_toggles());
}

/// A query's sink schemas are in the registry once its CREATE ... AS SELECT
/// has run, before any record: a statement sent later (another request, as
/// the seed does over REST) infers its columns from them.
#[test]
fn a_query_registers_its_sink_schemas_when_created() {
    use ddsql_connectors::schema_registry::SchemaRegistry;

    let (registry, _dir, mut session) = session_with_registry();
    session
        .execute_script(
            "create stream s (k bigint key, v boolean) with (kafka_topic='s', key_format='AVRO', value_format='AVRO', partitions=1);
             create table t with (kafka_topic='T', key_format='AVRO', value_format='AVRO') as
               select k, latest_by_offset(v) as v from s group by k;",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let client = SchemaRegistry::new(&registry.url());
    for subject in ["T-key", "T-value"] {
        assert!(
            client.latest(subject).unwrap().is_some(),
            "{subject} is registered"
        );
    }
    session
        .execute_script(
            "create stream tc with (kafka_topic='T', key_format='AVRO', value_format='AVRO');",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let columns = columns(&session, "TC");
    assert_eq!(columns, ["ROWKEY BIGINT", "V BOOLEAN"]);
}
