//! The seed's pipeline 1 (event join) end to end on Kafka: Debezium AVRO
//! change events on librdkafka's mock cluster (or the broker named by
//! `DDSQL_KAFKA_BOOTSTRAP`), their schemas in a Schema Registry speaking
//! Confluent's REST contract, the article's statements verbatim (columns
//! inferred from the registry), and the output read back by a plain
//! rdkafka consumer. Then corrupt records in a running pipeline.

use std::sync::Arc;
use std::time::Duration;

use ddsql::session::Session;
use ddsql_connectors::debezium::MysqlTable;
use ddsql_connectors::format::avro::{encode_with_id, Schema};
use ddsql_connectors::format::Formats;
use ddsql_connectors::kafka::{KafkaConfig, KafkaTransport, MockKafka};
use ddsql_connectors::schema_registry::{MemoryRegistry, SchemaRegistry, SchemaType};
use ddsql_engine::io::{Record, Transport};
use ddsql_engine::RunOptions;
use ddsql_sql::types::Value;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use serde_json::{json, Value as Json};

mod common;

use common::columns;

/// The article's statements for pipeline 1, as it prints them.
const SEED_EVENT_JOIN: &str = include_str!("../examples/event-join/pipeline.sql");

/// A consumed record's key, value and timestamp.
type Consumed = (Option<Vec<u8>>, Option<Vec<u8>>, i64);

/// A Kafka cluster for one test, its Schema Registry, and a topic-name
/// prefix (empty on the mock cluster, which is fresh for every test).
struct Env {
    _mock: Option<Arc<MockKafka>>,
    registry: MemoryRegistry,
    bootstrap: String,
    transport: Arc<dyn Transport>,
}

impl Env {
    fn start() -> Env {
        let registry = MemoryRegistry::start().unwrap();
        let (mock, transport, bootstrap) = match std::env::var("DDSQL_KAFKA_BOOTSTRAP") {
            Ok(b) => (
                None,
                KafkaTransport::connect(KafkaConfig::new(&b)).unwrap(),
                b,
            ),
            Err(_) => {
                let mock = Arc::new(MockKafka::start(1).unwrap());
                let t = mock.transport().unwrap();
                let b = mock.bootstrap().to_string();
                (Some(mock), t, b)
            }
        };
        Env {
            _mock: mock,
            registry,
            bootstrap,
            transport: Arc::new(transport),
        }
    }

    fn session(&self) -> Session {
        let formats = Formats::with_registry(Arc::new(SchemaRegistry::new(&self.registry.url())));
        Session::with_transport(self.transport.clone(), formats).unwrap()
    }

    /// Registers `table`'s envelope schema as Debezium's converter would
    /// and creates its topic.
    fn debezium_topic(&self, table: &MysqlTable) -> (Schema, u32) {
        let text = table.schema();
        let id = self
            .registry
            .register(&format!("{}-value", table.topic), SchemaType::Avro, &text);
        self.transport.create_topic(&table.topic, 1).unwrap();
        (Schema::parse(&text).unwrap(), id)
    }

    /// Every record of partition 0 of `topic`, read by a plain consumer.
    fn consume(&self, topic: &str, count: usize) -> Vec<Consumed> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", "test-reader")
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while out.len() < count && std::time::Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m.unwrap();
                out.push((
                    m.key().map(<[u8]>::to_vec),
                    m.payload().map(<[u8]>::to_vec),
                    m.timestamp().to_millis().unwrap(),
                ));
            }
        }
        // Nothing more than expected.
        assert!(consumer.poll(Duration::from_millis(500)).is_none());
        out
    }
}

fn record(schema: &Schema, id: u32, event: &Value, timestamp: i64) -> Record {
    Record {
        key: None,
        value: Some(encode_with_id(schema, id, event).unwrap()),
        timestamp,
        headers: vec![],
    }
}

fn json_of(bytes: &Option<Vec<u8>>) -> Json {
    serde_json::from_slice(bytes.as_deref().unwrap()).unwrap()
}

const T0: i64 = 1_710_921_600_000; // 2024-03-20 10:00:00, the article's records

fn submits() -> MysqlTable {
    MysqlTable::new(
        "EVENT_MYSQL.EVENT.SUBMIT",
        &[
            ("id", "long"),
            ("user_id", "long"),
            ("event_id", "long"),
            (
                "created_at",
                r#"{"type": "string", "connect.version": 1, "connect.name": "io.debezium.time.ZonedTimestamp"}"#,
            ),
        ],
    )
}

fn names() -> MysqlTable {
    MysqlTable::new(
        "EVENT_MYSQL.EVENT.NAME",
        &[("id", "long"), ("name", "string")],
    )
}

/// Fills the Debezium topics with the article's events: snapshot reads of
/// two event names and a rename, then submits, of which three pass.
fn seed_inputs(env: &Env) {
    let (submit_schema, submit_id) = env.debezium_topic(&submits());
    let (name_schema, name_id) = env.debezium_topic(&names());
    let name_row = |id: i64, name: &str| Some(vec![Value::BigInt(id), Value::String(name.into())]);
    let names_in = [
        names().event("r", None, name_row(101, "봄맞이 이벤트"), T0 - 60_000),
        names().event("r", None, name_row(102, "한여름 이벤트"), T0 - 50_000),
        names().event(
            "u",
            name_row(101, "봄맞이 이벤트"),
            name_row(101, "봄 맞이 이벤트"),
            T0 - 40_000,
        ),
    ];
    let submit_row = |id: i64, user: i64, event: Option<i64>, at: &str| {
        Some(vec![
            Value::BigInt(id),
            Value::BigInt(user),
            event.map(Value::BigInt).unwrap_or(Value::Null),
            Value::String(at.into()),
        ])
    };
    let submits_in = [
        (
            "c",
            None,
            submit_row(1, 1, Some(101), "2024-03-20T10:00:00Z"),
            T0,
        ),
        (
            "c",
            None,
            submit_row(2, 2, Some(101), "2024-03-20T10:00:05Z"),
            T0 + 5_000,
        ),
        (
            "c",
            None,
            submit_row(3, 3, Some(102), "2024-03-20T10:00:10Z"),
            T0 + 10_000,
        ),
        // Filtered out: a delete, an unknown event, a submit with no event.
        (
            "d",
            submit_row(1, 1, Some(101), "2024-03-20T10:00:00Z"),
            None,
            T0 + 11_000,
        ),
        (
            "c",
            None,
            submit_row(4, 4, Some(999), "2024-03-20T10:00:12Z"),
            T0 + 12_000,
        ),
        (
            "c",
            None,
            submit_row(5, 5, None, "2024-03-20T10:00:13Z"),
            T0 + 13_000,
        ),
    ];
    let submit_records: Vec<Record> = submits_in
        .into_iter()
        .map(|(op, before, after, ts)| {
            record(
                &submit_schema,
                submit_id,
                &submits().event(op, before, after, ts),
                ts,
            )
        })
        .collect();
    let name_records: Vec<Record> = names_in
        .iter()
        .map(|e| {
            let Value::Struct(f) = e else { unreachable!() };
            let Value::BigInt(ts) = f[4] else {
                unreachable!()
            };
            record(&name_schema, name_id, e, ts)
        })
        .collect();
    // The submits arrive first physically; event time puts the names first.
    env.transport
        .append("EVENT_MYSQL.EVENT.SUBMIT", 0, &submit_records)
        .unwrap();
    env.transport
        .append("EVENT_MYSQL.EVENT.NAME", 0, &name_records)
        .unwrap();
    env.transport.flush().unwrap();
}

/// The article's STREAM.EVENT.JOIN, as (key, value, timestamp).
fn expected_join() -> Vec<(Json, Json, i64)> {
    vec![
        (
            json!(1),
            json!({"event_name": "봄 맞이 이벤트", "event_time": "2024-03-20T10:00:00Z"}),
            T0,
        ),
        (
            json!(2),
            json!({"event_name": "봄 맞이 이벤트", "event_time": "2024-03-20T10:00:05Z"}),
            T0 + 5_000,
        ),
        (
            json!(3),
            json!({"event_name": "한여름 이벤트", "event_time": "2024-03-20T10:00:10Z"}),
            T0 + 10_000,
        ),
    ]
}

#[test]
fn seed_pipeline_1_from_debezium_avro_on_kafka_with_a_schema_registry() {
    let env = Env::start();
    seed_inputs(&env);
    let mut session = env.session();
    session.execute_script(SEED_EVENT_JOIN).unwrap();

    // The columns came from the registered Debezium schema, upper-cased.
    let columns = columns(&session, "stg_submit");
    assert_eq!(
        columns,
        [
            "BEFORE STRUCT<`ID` BIGINT, `USER_ID` BIGINT, `EVENT_ID` BIGINT, `CREATED_AT` STRING>",
            "AFTER STRUCT<`ID` BIGINT, `USER_ID` BIGINT, `EVENT_ID` BIGINT, `CREATED_AT` STRING>",
            "SOURCE STRUCT<`VERSION` STRING, `CONNECTOR` STRING, `NAME` STRING, `TS_MS` BIGINT, `SNAPSHOT` STRING, `DB` STRING, `TABLE` STRING, `FILE` STRING, `POS` BIGINT>",
            "OP STRING",
            "TS_MS BIGINT",
            "TRANSACTION STRUCT<`ID` STRING, `TOTAL_ORDER` BIGINT, `DATA_COLLECTION_ORDER` BIGINT>",
        ]
    );

    let report = session
        .run_until_caught_up(&RunOptions {
            workers: 2,
            batch: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(report.processing_errors, 0);

    let joined: Vec<(Json, Json, i64)> = env
        .consume("STREAM.EVENT.JOIN", 3)
        .iter()
        .map(|(k, v, ts)| (json_of(k), json_of(v), *ts))
        .collect();
    assert_eq!(joined, expected_join());

    // The table's changelog is AVRO, its schemas registered under the
    // topic's subjects: read it back with them.
    let registry = SchemaRegistry::new(&env.registry.url());
    let value_schema = registry
        .latest("TABLE.EVENT.NAME-value")
        .unwrap()
        .expect("a value schema");
    let key_schema = registry
        .latest("TABLE.EVENT.NAME-key")
        .unwrap()
        .expect("a key schema");
    let value_fields = Schema::parse(&value_schema.text)
        .unwrap()
        .columns("ROWVAL")
        .unwrap();
    assert_eq!(
        value_fields,
        vec![("NAME".into(), ddsql_sql::types::SqlType::String)]
    );
    let table = env.consume("TABLE.EVENT.NAME", 3);
    let last = table.last().unwrap();
    assert_eq!(
        &last.0.as_ref().unwrap()[1..5],
        &key_schema.id.to_be_bytes()
    );
    assert_eq!(
        &last.1.as_ref().unwrap()[1..5],
        &value_schema.id.to_be_bytes()
    );
}

#[test]
fn corrupt_records_go_to_the_processing_log_and_the_query_goes_on() {
    let env = Env::start();
    seed_inputs(&env);
    // Bad records between the good ones: a truncated Avro datum, a record
    // in JSON (no magic byte), a schema id the registry does not know.
    let (schema, id) = (Schema::parse(&submits().schema()).unwrap(), 1);
    let good = encode_with_id(
        &schema,
        id,
        &submits().event(
            "c",
            None,
            Some(vec![
                Value::BigInt(9),
                Value::BigInt(9),
                Value::BigInt(102),
                Value::String("2024-03-20T10:00:20Z".into()),
            ]),
            T0 + 20_000,
        ),
    )
    .unwrap();
    let truncated = good[..good.len() - 7].to_vec();
    let mut unknown_id = good.clone();
    unknown_id[1..5].copy_from_slice(&999u32.to_be_bytes());
    let bad = |value: Vec<u8>, ts: i64| Record {
        key: None,
        value: Some(value),
        timestamp: ts,
        headers: vec![],
    };
    env.transport
        .append(
            "EVENT_MYSQL.EVENT.SUBMIT",
            0,
            &[
                bad(truncated, T0 + 14_000),
                bad(br#"{"after": {"user_id": 7"#.to_vec(), T0 + 15_000),
                bad(unknown_id, T0 + 16_000),
                bad(good, T0 + 20_000),
            ],
        )
        .unwrap();

    let mut session = env.session();
    session.execute_script(SEED_EVENT_JOIN).unwrap();
    let report = session.run_until_caught_up(&RunOptions::default()).unwrap();
    assert_eq!(report.processing_errors, 3);

    // Every good record came out, the one after the bad ones included.
    let joined: Vec<Json> = env
        .consume("STREAM.EVENT.JOIN", 4)
        .iter()
        .map(|(k, _, _)| json_of(k))
        .collect();
    assert_eq!(joined, vec![json!(1), json!(2), json!(3), json!(9)]);

    // Each bad record is in the processing log with where it was and why.
    let log = env.consume(ddsql_engine::PROCESSING_LOG_TOPIC, 3);
    let entries: Vec<Json> = log.iter().map(|(_, v, _)| json_of(v)).collect();
    let at: Vec<(Json, Json, Json)> = entries
        .iter()
        .map(|e| {
            (
                e["RECORD_TOPIC"].clone(),
                e["RECORD_PARTITION"].clone(),
                e["RECORD_OFFSET"].clone(),
            )
        })
        .collect();
    assert_eq!(
        at,
        (6..9)
            .map(|o| (json!("EVENT_MYSQL.EVENT.SUBMIT"), json!(0), json!(o)))
            .collect::<Vec<_>>()
    );
    let messages: Vec<&str> = entries.iter().map(common::logged_error).collect();
    assert!(messages[0].contains("ends early"), "{}", messages[0]);
    assert!(messages[1].contains("magic byte"), "{}", messages[1]);
    assert!(messages[2].contains("999"), "{}", messages[2]);
}

/// A restarted server session finds its catalog in Kafka's command topic,
/// with the inferred columns recorded (not inferred again).
#[test]
fn a_durable_catalog_lives_in_the_command_topic_on_kafka() {
    let env = Env::start();
    seed_inputs(&env);
    let formats = || Formats::with_registry(Arc::new(SchemaRegistry::new(&env.registry.url())));
    {
        let session = Session::with_transport(env.transport.clone(), formats()).unwrap();
        let mut session = session.into_durable().unwrap();
        session.execute_script(SEED_EVENT_JOIN).unwrap();
    }
    // A newer schema version adds a column; the restored source keeps the
    // columns it was created with.
    let mut table = submits();
    table.columns.push(("note".into(), "string".into()));
    env.registry.register(
        "EVENT_MYSQL.EVENT.SUBMIT-value",
        SchemaType::Avro,
        &table.schema(),
    );
    let session = Session::with_transport(env.transport.clone(), formats())
        .unwrap()
        .into_durable()
        .unwrap();
    assert_eq!(session.catalog().queries().len(), 2);
    let after = session.catalog().source("stg_submit").unwrap().columns[1]
        .ty
        .to_string();
    assert_eq!(
        after,
        "STRUCT<`ID` BIGINT, `USER_ID` BIGINT, `EVENT_ID` BIGINT, `CREATED_AT` STRING>"
    );
}

/// Retention deletes a partition's oldest records (the mock broker keeps
/// 5 MB of each), so reading from offset 0 starts at a later offset: reads
/// follow the offsets the broker returns, and a pipeline reads each kept
/// record once.
#[test]
fn offsets_deleted_by_retention_are_skipped_and_each_record_read_once() {
    let env = Env::start();
    env.transport.create_topic("blobs", 1).unwrap();
    let padding = "x".repeat(100_000);
    for chunk in (0..70i64).collect::<Vec<_>>().chunks(5) {
        let records: Vec<Record> = chunk
            .iter()
            .map(|id| Record {
                key: Some(id.to_string().into_bytes()),
                value: Some(json!({"PAD": padding}).to_string().into_bytes()),
                timestamp: 1_000 + id,
                headers: vec![],
            })
            .collect();
        env.transport.append("blobs", 0, &records).unwrap();
    }
    let end = env.transport.end_offset("blobs", 0).unwrap();
    assert_eq!(end, 70);
    let mut out = Vec::new();
    env.transport
        .read_range("blobs", 0, 0, end, &mut out)
        .unwrap();
    let first = out[0].offset;
    assert!(
        first > 0,
        "retention deleted nothing: the test proves nothing"
    );
    assert_eq!(
        out.iter().map(|f| f.offset).collect::<Vec<_>>(),
        (first..70).collect::<Vec<_>>()
    );

    let mut session = env.session();
    session
        .execute_script(
            "create stream blobs (id bigint key, pad string) with (kafka_topic='blobs', key_format='JSON', value_format='JSON');
             create stream ids with (kafka_topic='IDS', key_format='JSON', value_format='JSON', partitions=1) as
               select id, len(pad) as n from blobs;",
        )
        .unwrap();
    let report = session
        .run_until_caught_up(&RunOptions {
            batch: 4,
            ..Default::default()
        })
        .unwrap();
    let kept = 70 - first;
    assert_eq!((report.records_read, report.records_written), (kept, kept));
    let keys: Vec<Json> = env
        .consume("IDS", kept as usize)
        .iter()
        .map(|(k, _, _)| json_of(k))
        .collect();
    assert_eq!(keys, (first..70).map(|i| json!(i)).collect::<Vec<_>>());
}

/// librdkafka's mock cluster has no admin API (topics are made through its
/// own call), so a deletion there fails: the error names the topic and the
/// way out, and the source stays, so nothing is lost. (Deletion itself
/// needs a real broker: the planned end-to-end suite.)
#[test]
fn drop_delete_topic_on_a_cluster_without_admin_api_keeps_the_source() {
    let env = Env::start();
    let mut session = env.session();
    session
        .execute_script(
            "create stream doomed (id int key, v int) with (kafka_topic='doomed', value_format='JSON', partitions=2);",
        )
        .unwrap();
    assert_eq!(env.transport.partitions("doomed").unwrap(), Some(2));
    let e = session
        .execute_script("drop stream doomed delete topic;")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("deleting topic 'doomed' at")
            && e.contains("delete the topic with the cluster's own tools"),
        "{e}"
    );
    assert!(
        session.catalog().source("DOOMED").is_some(),
        "the source stays"
    );
    assert_eq!(env.transport.partitions("doomed").unwrap(), Some(2));
}
