//! The Kafka transport: topics on a Kafka cluster, through librdkafka.
//!
//! [`KafkaTransport`] implements the same [`Transport`] as the embedded log,
//! so the engine reads and writes Kafka without knowing it. Three things
//! the embedded log has for free need care here:
//!
//! - **Reads at an offset.** The engine asks for "up to `max` records of
//!   partition `p` from offset `o`". Each partition read gets a consumer of
//!   its own, assigned to that one partition (no group rebalancing: the
//!   engine decides which worker reads what). While the engine keeps asking
//!   for the next offset, the consumer just goes on with what librdkafka
//!   prefetched; any other offset reassigns it. After each read the
//!   position is committed to the consumer group (`group.id`, `ddsql` by
//!   default), so `kafka-consumer-groups` shows ddsql's lag like any other
//!   client's.
//! - **Stable topic indexes.** The consistency contract breaks timestamp
//!   ties by (topic index, partition, offset), and every process must
//!   agree on a topic's index forever. The indexes live in the topic
//!   [`TOPIC_INDEX_TOPIC`]: a topic's index is the rank of its first claim
//!   in that log, so every process that reads the log computes the same
//!   answer without a coordinator.
//! - **Creating topics.** Missing topics are created through the admin API
//!   (`CreateTopics`), with the broker's default replication. A cluster
//!   without that API (librdkafka's mock cluster) can be given a
//!   [`TopicCreator`] instead.
//!
//! Records are produced with idempotence on, so a retried batch neither
//! duplicates nor reorders records within a partition, and keys are
//! partitioned by [`crate::partitioner`], as Java clients do.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use ddsql_engine::io::{Fetched, IoError, Record, Transport};
use ddsql_engine::time::MAX_TOPIC_INDEX;

/// The topic that assigns stable topic indexes (see the module docs).
pub const TOPIC_INDEX_TOPIC: &str = "_ddsql_topic_indexes";

/// Creates a topic on a cluster that has no admin API.
pub type TopicCreator = Arc<dyn Fn(&str, u32) -> Result<(), String> + Send + Sync>;

/// How to reach a Kafka cluster.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: `HOST:PORT[,HOST:PORT...]`.
    pub bootstrap: String,
    /// librdkafka properties given to every client: security protocol,
    /// SASL, SSL, timeouts, `group.id`.
    pub properties: Vec<(String, String)>,
    /// How long a read waits for records the broker said exist, and how
    /// long metadata and admin requests may take.
    pub timeout: Duration,
}

impl KafkaConfig {
    pub fn new(bootstrap: &str) -> KafkaConfig {
        KafkaConfig {
            bootstrap: bootstrap.to_string(),
            properties: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Adds the properties of a Java-style properties file: `key=value`
    /// lines, `#` and `!` comments, as Kafka's own tools read
    /// `--command-config`.
    pub fn with_properties_file(mut self, path: &Path) -> Result<KafkaConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading Kafka properties {}: {e}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (k, v) = line.split_once(['=', ':']).ok_or_else(|| {
                format!(
                    "{} line {}: expected key=value, found '{line}'",
                    path.display(),
                    n + 1
                )
            })?;
            self.properties
                .push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(self)
    }

    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// A consumer's configuration: no auto-commit, in `group.id`.
    fn consumer(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        // A caught-up reader's fetch waits at most this long for new
        // records: librdkafka's 500 ms default would be the latency floor of
        // every live result. The properties file may set it back.
        c.set("fetch.wait.max.ms", "10");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c.set("group.id", self.group_id());
        c.set("enable.auto.commit", "false");
        c
    }

    fn group_id(&self) -> String {
        self.properties
            .iter()
            .find(|(k, _)| k == "group.id")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "ddsql".into())
    }
}

fn kafka_err(what: impl std::fmt::Display, e: KafkaError) -> IoError {
    IoError::Other(format!("{what}: {e}"))
}

/// One partition's consumer and where it stands.
struct PartitionReader {
    consumer: BaseConsumer,
    /// The offset the consumer returns next, if assigned.
    next: Option<u64>,
    last_commit: Instant,
}

type SharedReader = Arc<Mutex<PartitionReader>>;

/// Topics on a Kafka cluster (see the module docs).
pub struct KafkaTransport {
    config: KafkaConfig,
    producer: FutureProducer,
    /// Metadata and watermarks.
    meta: BaseConsumer,
    admin: AdminClient<DefaultClientContext>,
    readers: Mutex<HashMap<(String, u32), SharedReader>>,
    indexes: Mutex<HashMap<String, u16>>,
    creator: Option<TopicCreator>,
}

impl KafkaTransport {
    /// Connects to the cluster and checks that it answers.
    pub fn connect(config: KafkaConfig) -> Result<KafkaTransport, IoError> {
        let connecting = |e| kafka_err(format!("connecting to Kafka at {}", config.bootstrap), e);
        let producer: FutureProducer = config
            .client()
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .map_err(connecting)?;
        let meta: BaseConsumer = config.consumer().create().map_err(connecting)?;
        let admin = config.client().create().map_err(connecting)?;
        meta.fetch_metadata(None, config.timeout).map_err(|e| {
            IoError::Other(format!(
                "no answer from Kafka at {} within {:?} ({e}): is the broker running, and does --kafka-bootstrap name it?",
                config.bootstrap, config.timeout
            ))
        })?;
        Ok(KafkaTransport {
            config,
            producer,
            meta,
            admin,
            readers: Mutex::default(),
            indexes: Mutex::default(),
            creator: None,
        })
    }

    /// Creates missing topics with `creator` instead of the admin API.
    pub fn with_topic_creator(mut self, creator: TopicCreator) -> KafkaTransport {
        self.creator = Some(creator);
        self
    }

    pub fn bootstrap(&self) -> &str {
        &self.config.bootstrap
    }

    fn reader(&self, topic: &str, partition: u32) -> Result<SharedReader, IoError> {
        let mut readers = self.readers.lock().unwrap();
        if let Some(r) = readers.get(&(topic.to_string(), partition)) {
            return Ok(r.clone());
        }
        let consumer: BaseConsumer = self
            .config
            .consumer()
            .set("enable.auto.offset.store", "false")
            // An offset deleted by retention: go on from the oldest kept.
            .set("auto.offset.reset", "earliest")
            .create()
            .map_err(|e| kafka_err(format!("creating a consumer for {topic}/{partition}"), e))?;
        let r = Arc::new(Mutex::new(PartitionReader {
            consumer,
            next: None,
            last_commit: Instant::now(),
        }));
        readers.insert((topic.to_string(), partition), r.clone());
        Ok(r)
    }

    /// Every claim in the index topic, in log order.
    fn claims(&self) -> Result<Vec<String>, IoError> {
        let end = self.end_offset(TOPIC_INDEX_TOPIC, 0)?;
        let mut out = Vec::new();
        self.read_range(TOPIC_INDEX_TOPIC, 0, 0, end, &mut out)?;
        Ok(out
            .into_iter()
            .filter_map(|f| f.record.key.and_then(|k| String::from_utf8(k).ok()))
            .collect())
    }

    /// The index of every topic claimed so far: the rank of its first claim.
    fn ranks(claims: &[String]) -> HashMap<String, u16> {
        let mut ranks = HashMap::new();
        for name in claims {
            let next = ranks.len() as u16;
            ranks.entry(name.clone()).or_insert(next);
        }
        ranks
    }
}

impl Transport for KafkaTransport {
    fn topic_index(&self, topic: &str) -> Result<u16, IoError> {
        let mut indexes = self.indexes.lock().unwrap();
        if let Some(i) = indexes.get(topic) {
            return Ok(*i);
        }
        if self.partitions(TOPIC_INDEX_TOPIC)?.is_none() {
            self.create_topic(TOPIC_INDEX_TOPIC, 1)?;
        }
        let mut ranks = Self::ranks(&self.claims()?);
        if !ranks.contains_key(topic) {
            let claim = Record {
                key: Some(topic.as_bytes().to_vec()),
                value: None,
                timestamp: crate::now_ms(),
                headers: vec![],
            };
            self.append(TOPIC_INDEX_TOPIC, 0, &[claim])?;
            // Another process may have claimed it first: the log decides.
            ranks = Self::ranks(&self.claims()?);
        }
        if ranks.len() > MAX_TOPIC_INDEX as usize + 1 {
            return Err(IoError::Other(format!(
                "{TOPIC_INDEX_TOPIC} holds more than {} topics",
                MAX_TOPIC_INDEX + 1
            )));
        }
        indexes.extend(ranks);
        indexes.get(topic).copied().ok_or_else(|| {
            IoError::Other(format!("{TOPIC_INDEX_TOPIC} lost the claim for {topic}"))
        })
    }

    fn topics(&self) -> Result<Vec<(String, u32)>, IoError> {
        let md = self
            .meta
            .fetch_metadata(None, self.config.timeout)
            .map_err(|e| kafka_err("listing topics", e))?;
        let mut out: Vec<(String, u32)> = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len() as u32))
            .collect();
        out.sort();
        Ok(out)
    }

    fn partitions(&self, topic: &str) -> Result<Option<u32>, IoError> {
        let md = self
            .meta
            .fetch_metadata(Some(topic), self.config.timeout)
            .map_err(|e| kafka_err(format!("reading the metadata of topic '{topic}'"), e))?;
        let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
            return Ok(None);
        };
        match t.error() {
            None if t.partitions().is_empty() => Ok(None),
            None => Ok(Some(t.partitions().len() as u32)),
            Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => Ok(None),
            Some(e) => Err(IoError::Other(format!(
                "reading the metadata of topic '{topic}': {}",
                RDKafkaErrorCode::from(e)
            ))),
        }
    }

    fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), IoError> {
        if let Some(create) = &self.creator {
            create(topic, partitions)
                .map_err(|e| IoError::Other(format!("creating topic '{topic}': {e}")))?;
        } else {
            let new = NewTopic::new(topic, partitions as i32, TopicReplication::Fixed(-1));
            let options = AdminOptions::new()
                .operation_timeout(Some(self.config.timeout))
                .request_timeout(Some(self.config.timeout));
            let results = futures_executor::block_on(self.admin.create_topics([&new], &options))
                .map_err(|e| {
                    IoError::Other(format!(
                        "creating topic '{topic}' at {}: {e}; if the cluster has no admin API, create the topic with {partitions} partition(s) first",
                        self.config.bootstrap
                    ))
                })?;
            for r in results {
                match r {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((_, code)) => {
                        return Err(IoError::Other(format!(
                            "creating topic '{topic}' with {partitions} partition(s): {code}"
                        )))
                    }
                }
            }
        }
        // Metadata lags creation for a moment.
        let deadline = Instant::now() + self.config.timeout;
        while self.partitions(topic)?.is_none() {
            if Instant::now() > deadline {
                return Err(IoError::Other(format!(
                    "topic '{topic}' was created but does not show in the metadata"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn delete_topic(&self, topic: &str) -> Result<(), IoError> {
        let options = AdminOptions::new()
            .operation_timeout(Some(self.config.timeout))
            .request_timeout(Some(self.config.timeout));
        let results = futures_executor::block_on(self.admin.delete_topics(&[topic], &options))
            .map_err(|e| {
                IoError::Other(format!(
                    "deleting topic '{topic}' at {}: {e}; if the cluster has no admin API, delete the topic with the cluster's own tools, then DROP without DELETE TOPIC",
                    self.config.bootstrap
                ))
            })?;
        for r in results {
            if let Err((_, code)) = r {
                return Err(IoError::Other(format!("deleting topic '{topic}': {code}")));
            }
        }
        // Metadata lags deletion for a moment.
        let deadline = Instant::now() + self.config.timeout;
        while self.partitions(topic)?.is_some() {
            if Instant::now() > deadline {
                return Err(IoError::Other(format!(
                    "topic '{topic}' was deleted but still shows in the metadata"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.readers.lock().unwrap().retain(|(t, _), _| t != topic);
        Ok(())
    }

    fn end_offset(&self, topic: &str, partition: u32) -> Result<u64, IoError> {
        let (_, high) = self
            .meta
            .fetch_watermarks(topic, partition as i32, self.config.timeout)
            .map_err(|e| kafka_err(format!("reading the end of {topic}/{partition}"), e))?;
        Ok(high.max(0) as u64)
    }

    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
        out: &mut Vec<Fetched>,
    ) -> Result<u64, IoError> {
        if max == 0 {
            return Ok(offset);
        }
        let reader = self.reader(topic, partition)?;
        let mut r = reader.lock().unwrap();
        if r.next != Some(offset) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, partition as i32, Offset::Offset(offset as i64))
                .map_err(|e| kafka_err(format!("assigning {topic}/{partition}"), e))?;
            r.consumer
                .assign(&tpl)
                .map_err(|e| kafka_err(format!("assigning {topic}/{partition}"), e))?;
            r.next = Some(offset);
        }
        let deadline = Instant::now() + self.config.timeout;
        let mut next = offset;
        let mut got = 0;
        while got < max {
            // Wait for the first record; then take what is prefetched.
            let wait = if got > 0 {
                Duration::ZERO
            } else {
                deadline.saturating_duration_since(Instant::now())
            };
            let Some(polled) = r.consumer.poll(wait) else {
                break;
            };
            let m = polled.map_err(|e| kafka_err(format!("reading {topic}/{partition}"), e))?;
            let at = m.offset().max(0) as u64;
            if at < offset {
                continue;
            }
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Fetched {
                offset: at,
                record: Record {
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    timestamp: m.timestamp().to_millis().unwrap_or(0),
                    headers,
                },
            });
            next = at + 1;
            got += 1;
        }
        if got == 0 {
            // Nothing came: past a gap (transaction markers) the position
            // still moves on.
            if let Ok(tpl) = r.consumer.position() {
                if let Some(Offset::Offset(p)) = tpl
                    .find_partition(topic, partition as i32)
                    .map(|e| e.offset())
                {
                    next = next.max(p.max(0) as u64);
                }
            }
        }
        r.next = Some(next);
        if next > offset && r.last_commit.elapsed() > Duration::from_secs(1) {
            r.last_commit = Instant::now();
            let mut tpl = TopicPartitionList::new();
            if tpl
                .add_partition_offset(topic, partition as i32, Offset::Offset(next as i64))
                .is_ok()
            {
                // Progress reporting only: ddsql never resumes from it.
                let _ = r.consumer.commit(&tpl, CommitMode::Async);
            }
        }
        Ok(next)
    }

    fn append(&self, topic: &str, partition: u32, records: &[Record]) -> Result<u64, IoError> {
        let mut deliveries = Vec::with_capacity(records.len());
        for r in records {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (key, value) in &r.headers {
                headers = headers.insert(Header {
                    key,
                    value: value.as_deref(),
                });
            }
            let mut record = FutureRecord::<[u8], [u8]>::to(topic)
                .partition(partition as i32)
                .timestamp(r.timestamp)
                .headers(headers);
            if let Some(k) = &r.key {
                record = record.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                record = record.payload(v.as_slice());
            }
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The producer's own thread drains the queue.
                        record = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((e, _)) => {
                        return Err(kafka_err(format!("producing to {topic}/{partition}"), e))
                    }
                }
            }
        }
        let mut first = None;
        for d in deliveries {
            let delivered = futures_executor::block_on(d)
                .map_err(|_| {
                    IoError::Other(format!(
                        "producing to {topic}/{partition}: the producer went away"
                    ))
                })?
                .map_err(|(e, _)| kafka_err(format!("producing to {topic}/{partition}"), e))?;
            first.get_or_insert(delivered.offset.max(0) as u64);
        }
        match first {
            Some(f) => Ok(f),
            None => self.end_offset(topic, partition),
        }
    }

    fn flush(&self) -> Result<(), IoError> {
        self.producer
            .flush(self.config.timeout)
            .map_err(|e| kafka_err("flushing the producer", e))
    }

    fn partition_for(&self, key: Option<&[u8]>, value: Option<&[u8]>, partitions: u32) -> u32 {
        crate::partitioner::partition_for(key, value, partitions)
    }
}

/// librdkafka's in-process mock cluster, on a thread of its own (its
/// handle cannot cross threads), answering topic creation for the
/// transport: tests, benchmarks and demos run against a real Kafka
/// protocol without a broker. It stops when dropped.
///
/// ```no_run
/// use ddsql_connectors::kafka::MockKafka;
/// use ddsql_engine::io::Transport;
/// let kafka = std::sync::Arc::new(MockKafka::start(1).unwrap());
/// let transport = kafka.transport().unwrap();
/// transport.create_topic("orders", 2).unwrap();
/// assert_eq!(transport.partitions("orders").unwrap(), Some(2));
/// ```
pub struct MockKafka {
    bootstrap: String,
    requests: Mutex<std::sync::mpsc::Sender<TopicRequest>>,
}

type TopicRequest = (String, u32, std::sync::mpsc::Sender<Result<(), String>>);

impl MockKafka {
    /// Starts a mock cluster of `brokers` brokers.
    pub fn start(brokers: i32) -> Result<MockKafka, String> {
        let (requests, incoming) = std::sync::mpsc::channel::<TopicRequest>();
        let (ready, bootstrap) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("mock-kafka".into())
            .spawn(move || {
                let cluster = match rdkafka::mocking::MockCluster::new(brokers) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready.send(Err(format!("starting librdkafka's mock cluster: {e}")));
                        return;
                    }
                };
                let _ = ready.send(Ok(cluster.bootstrap_servers()));
                for (topic, partitions, reply) in incoming {
                    let result = cluster
                        .create_topic(&topic, partitions as i32, 1)
                        .map_err(|e| e.to_string());
                    let _ = reply.send(result);
                }
            })
            .map_err(|e| e.to_string())?;
        let bootstrap = bootstrap
            .recv()
            .map_err(|_| "the mock cluster's thread died".to_string())??;
        Ok(MockKafka {
            bootstrap,
            requests: Mutex::new(requests),
        })
    }

    /// The cluster's `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Creates a topic, as `kafka-topics --create` would.
    pub fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), String> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.requests
            .lock()
            .unwrap()
            .send((topic.to_string(), partitions, reply))
            .map_err(|_| "the mock cluster is gone".to_string())?;
        answer
            .recv()
            .map_err(|_| "the mock cluster is gone".to_string())?
    }

    /// Creates topics through this cluster (it has no admin API).
    pub fn topic_creator(self: &Arc<Self>) -> TopicCreator {
        let me = Arc::downgrade(self);
        Arc::new(move |topic, partitions| match me.upgrade() {
            Some(kafka) => kafka.create_topic(topic, partitions),
            None => Err("the mock cluster is gone".into()),
        })
    }

    /// A transport on this cluster that creates topics through it.
    pub fn transport(self: &Arc<Self>) -> Result<KafkaTransport, IoError> {
        Ok(KafkaTransport::connect(KafkaConfig::new(&self.bootstrap))?
            .with_topic_creator(self.topic_creator()))
    }
}
