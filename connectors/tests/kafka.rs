//! The Kafka transport against librdkafka's mock cluster, or the broker
//! named by `DDSQL_KAFKA_BOOTSTRAP` (the tests then use fresh topic names
//! and the admin API).

use std::sync::Arc;

use ddsql_connectors::kafka::{KafkaConfig, KafkaTransport, MockKafka};
use ddsql_engine::io::{Fetched, Record, Transport};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

/// A cluster for one test: `(keep-alive, transport, bootstrap, prefix)`.
fn cluster() -> (Option<Arc<MockKafka>>, KafkaTransport, String, String) {
    let prefix = format!("t{}-", std::process::id() as u64 * 1000 + rand_suffix());
    match std::env::var("DDSQL_KAFKA_BOOTSTRAP") {
        Ok(bootstrap) => {
            let t = KafkaTransport::connect(KafkaConfig::new(&bootstrap)).unwrap();
            (None, t, bootstrap, prefix)
        }
        Err(_) => {
            let mock = Arc::new(MockKafka::start(1).unwrap());
            let t = mock.transport().unwrap();
            let bootstrap = mock.bootstrap().to_string();
            (Some(mock), t, bootstrap, prefix)
        }
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        % 1000
}

fn record(key: &str, value: Option<&str>, timestamp: i64) -> Record {
    Record {
        key: Some(key.as_bytes().to_vec()),
        value: value.map(|v| v.as_bytes().to_vec()),
        timestamp,
        headers: vec![("h".into(), Some(b"x".to_vec())), ("n".into(), None)],
    }
}

#[test]
fn records_round_trip_with_keys_tombstones_headers_and_offsets() {
    let (_mock, t, _, prefix) = cluster();
    let topic = format!("{prefix}orders");
    assert_eq!(t.partitions(&topic).unwrap(), None);
    t.create_topic(&topic, 3).unwrap();
    assert_eq!(t.partitions(&topic).unwrap(), Some(3));
    assert!(t.topics().unwrap().contains(&(topic.clone(), 3)));

    let records: Vec<Record> = (0..10)
        .map(|i| {
            record(
                &format!("k{i}"),
                (i != 4).then_some("v").map(|_| "v"),
                1_000 + i,
            )
        })
        .collect();
    assert_eq!(t.append(&topic, 2, &records).unwrap(), 0);
    assert_eq!(t.append(&topic, 2, &records[..2]).unwrap(), 10);
    t.flush().unwrap();
    assert_eq!(t.end_offset(&topic, 2).unwrap(), 12);
    assert_eq!(t.end_offset(&topic, 0).unwrap(), 0);

    // From the start, in two reads that continue where the first stopped.
    let mut out: Vec<Fetched> = Vec::new();
    let next = t.read(&topic, 2, 0, 7, &mut out).unwrap();
    assert_eq!((out.len(), next), (7, 7));
    t.read_range(&topic, 2, next, 12, &mut out).unwrap();
    assert_eq!(
        out.iter().map(|f| f.offset).collect::<Vec<_>>(),
        (0..12).collect::<Vec<_>>()
    );
    for (f, r) in out.iter().zip(records.iter().chain(&records[..2])) {
        assert_eq!(&f.record, r, "offset {}", f.offset);
    }
    // A seek back to the middle.
    let mut again = Vec::new();
    assert_eq!(t.read(&topic, 2, 4, 2, &mut again).unwrap(), 6);
    assert_eq!(again[0].record.value, None, "the tombstone at offset 4");
    assert_eq!(again[1].offset, 5);
}

#[test]
fn topic_indexes_are_stable_across_clients() {
    let (_mock, t, bootstrap, prefix) = cluster();
    let names: Vec<String> = (0..3).map(|i| format!("{prefix}i{i}")).collect();
    let first: Vec<u16> = names.iter().map(|n| t.topic_index(n).unwrap()).collect();
    assert_eq!(
        first
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3,
        "distinct indexes"
    );
    // A second client, in the order reversed, reads the same claims.
    let other = KafkaTransport::connect(KafkaConfig::new(&bootstrap)).unwrap();
    let second: Vec<u16> = names
        .iter()
        .rev()
        .map(|n| other.topic_index(n).unwrap())
        .collect();
    assert_eq!(second.into_iter().rev().collect::<Vec<_>>(), first);
}

/// Records a Java-style client produces (here librdkafka's own producer)
/// read back through the transport, and the transport's records read by a
/// plain consumer: the bytes, timestamps and headers are Kafka's.
#[test]
fn interoperates_with_plain_kafka_clients() {
    let (_mock, t, bootstrap, prefix) = cluster();
    let topic = format!("{prefix}plain");
    t.create_topic(&topic, 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    producer
        .send(
            BaseRecord::to(&topic)
                .partition(0)
                .key("a")
                .payload("1")
                .timestamp(42),
        )
        .unwrap();
    producer.flush(std::time::Duration::from_secs(10)).unwrap();
    t.append(&topic, 0, &[record("b", Some("2"), 43)]).unwrap();
    t.flush().unwrap();

    let mut out = Vec::new();
    t.read_range(&topic, 0, 0, 2, &mut out).unwrap();
    assert_eq!(out[0].record.key.as_deref(), Some(&b"a"[..]));
    assert_eq!(out[0].record.timestamp, 42);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "plain-reader")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, rdkafka::Offset::Offset(1))
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let m = consumer
        .poll(std::time::Duration::from_secs(10))
        .expect("a record")
        .unwrap();
    assert_eq!(
        (m.key(), m.payload(), m.timestamp().to_millis()),
        (Some(&b"b"[..]), Some(&b"2"[..]), Some(43))
    );
    let headers = m.headers().expect("headers");
    assert_eq!(headers.get(0).key, "h");
    assert_eq!(headers.get(0).value, Some(&b"x"[..]));
    assert_eq!(headers.get(1).value, None);
}

#[test]
fn a_cluster_without_the_admin_api_is_a_clear_error() {
    let mock = MockKafka::start(1).unwrap();
    let mut config = KafkaConfig::new(mock.bootstrap());
    config.timeout = std::time::Duration::from_secs(1);
    let t = KafkaTransport::connect(config).unwrap();
    let started = std::time::Instant::now();
    let err = t.create_topic("x", 3).unwrap_err().to_string();
    assert!(
        err.contains("creating topic 'x'")
            && err.contains("create the topic with 3 partition(s) first"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_unreachable_cluster_is_a_clear_error() {
    let mut config = KafkaConfig::new("127.0.0.1:1");
    config.timeout = std::time::Duration::from_millis(500);
    let err = KafkaTransport::connect(config).err().expect("no broker");
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1:1") && text.contains("--kafka-bootstrap"),
        "{text}"
    );
}
