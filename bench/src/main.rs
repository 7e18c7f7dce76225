//! ddsql benchmarks. Each prints its figures; none asserts on time.
//!
//! `cargo run --release -p ddsql-bench -- first-order --events 1000000`

// Rows are vectors of values: the allocator is on the hot path, and the
// system allocator spent half the first-order benchmark in malloc/free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "dbsp")]
mod dbsp_baseline;
mod first_order;
mod gen;
mod latency;
mod pipelines;
mod runtime;
mod sys;

use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

use ddsql::Session;
use ddsql_engine::io::Record;
use ddsql_engine::RunOptions;

#[derive(Parser)]
#[command(about = "ddsql benchmarks: each prints its figures")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// `min`, `latest_by_offset` and `count` per key over an append-only
    /// stream: throughput and peak memory (state is per key, not per event).
    Aggregate {
        /// Events in the stream.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Distinct keys.
        #[arg(long, default_value_t = 100_000)]
        keys: u64,
        /// Dataflow worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Feeds the parser and binder mutated ksqlDB statements (from the QTT
    /// corpus) and random token soup; fails on the first panic, printing
    /// the input.
    ParserFuzz {
        /// How many inputs.
        #[arg(long, default_value_t = 1_000_000)]
        inputs: u64,
        /// Seed of the generator, so a run can be repeated.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Directory of QTT JSON files whose statements seed the mutations.
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/qtt"))]
        corpus: std::path::PathBuf,
    },
    /// Backfill through a server: rows per second into a stream over
    /// POST /inserts-stream (acks read back), against the seed's one
    /// INSERT VALUES request per row on POST /ksql.
    Inserts {
        /// Rows sent through /inserts-stream.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Rows sent one request each through /ksql, for comparison.
        #[arg(long, default_value_t = 2_000)]
        single_rows: u64,
    },
    /// Consume and decode Debezium AVRO order events from librdkafka's
    /// mock cluster through the Kafka transport, with their schema in a
    /// Schema Registry: records per second, and per CPU-second of this
    /// process (the in-process mock broker's work included).
    KafkaDecode {
        /// Order events produced, then consumed.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Partitions of the topic; one reading thread each.
        #[arg(long, default_value_t = 2)]
        partitions: u32,
    },
    /// Decode Debezium AVRO order events (the first-order source's schema)
    /// in one thread: ddsql's own reader (writer's schema resolved against
    /// the source's columns, into rows) against `apache-avro`'s
    /// `from_avro_datum` (into its value tree only, no rows: a lower bound
    /// for decoding through it). Records per second of each.
    AvroDecode {
        /// Events decoded by each.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
    },
    /// Seed pipeline 2 (first order) over generated Debezium order events
    /// on the embedded log: ddsql against the hand-written, differential
    /// and dbsp baselines on the same input, each in a process of its own.
    /// Ends with `first-order: E events/s, peak RSS M MB, vs-handwritten
    /// X.XXx, vs-dd Y.YYx, vs-dbsp Z.ZZx` (ddsql's time over each one's).
    FirstOrder {
        #[command(flatten)]
        scale: Scale,
        /// Dataflow worker threads (ddsql, dd, dbsp).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Records read per partition per step.
        #[arg(long, default_value_t = 4096)]
        batch: usize,
        /// How far (ms of event time) ddsql's sources may read ahead of
        /// what its sinks completed (RunOptions::max_drift_ms).
        #[arg(long, default_value_t = RunOptions::default().max_drift_ms)]
        max_drift_ms: i64,
        /// The systems to run, comma-separated; dbsp needs the bench's
        /// `dbsp` feature and is left out without it.
        #[arg(long, value_enum, value_delimiter = ',', default_values_t = first_order::System::available())]
        systems: Vec<first_order::System>,
        /// Keep the generated log here (an empty or new directory) instead
        /// of a temporary one.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
    },
    /// One system of `first-order` over an existing log (what the
    /// first-order bench runs in each child process); prints its outcome
    /// as a JSON line.
    #[command(hide = true)]
    FirstOrderSystem {
        #[arg(long, value_enum)]
        system: first_order::System,
        #[arg(long)]
        data_dir: std::path::PathBuf,
        #[arg(long)]
        schema_registry_url: Option<String>,
        #[arg(long, value_enum)]
        encoding: gen::Encoding,
        #[arg(long)]
        workers: usize,
        #[arg(long)]
        batch: usize,
        #[arg(long)]
        max_drift_ms: i64,
    },
    /// Seed pipeline 1 (event-join) or 3 (toggle) over a generated backlog
    /// on the embedded log: throughput and peak memory.
    Seed {
        /// Which pipeline.
        #[arg(value_enum)]
        pipeline: pipelines::Pipeline,
        #[command(flatten)]
        scale: Scale,
        /// Dataflow worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Records read per partition per step.
        #[arg(long, default_value_t = 4096)]
        batch: usize,
    },
    /// Seed pipeline 2 live: order events appended at a fixed rate, each
    /// stamped with the wall clock; prints p50 and p99 from append to
    /// output for each output topic.
    Latency {
        /// Events appended per second.
        #[arg(long, default_value = "50k", value_parser = count)]
        rate: u64,
        /// How long to append, in seconds (the first two are warm-up).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Distinct users.
        #[arg(long, default_value = "100k", value_parser = count)]
        users: u64,
        /// Encoding of the input records.
        #[arg(long, value_enum, default_value_t = gen::Encoding::Avro)]
        encoding: gen::Encoding,
        /// Partitions of the input topic.
        #[arg(long, default_value_t = 2)]
        partitions: u32,
        /// Dataflow worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// How long a caught-up partition holds the others back, in ms
        /// (the server's --idle-ms; ksqlDB's max.task.idle.ms).
        #[arg(long, default_value_t = 0)]
        idle_ms: i64,
    },
    /// The long-lived runtime: how long a new query takes to run while the
    /// first-order pipeline holds a caught-up backlog (and that nothing
    /// else replays), and pull-query latency on a large table while the
    /// pipeline runs live.
    Runtime {
        /// Order events in the first-order pipeline's backlog.
        #[arg(long, default_value = "1m", value_parser = count)]
        events: u64,
        /// Rows of the table pull queries look up.
        #[arg(long, default_value = "1m", value_parser = count)]
        keys: u64,
        /// Order events per second fed to the pipeline during the pulls.
        #[arg(long, default_value = "20k", value_parser = count)]
        rate: u64,
        /// Dataflow worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Writes a seed workload's Debezium change events to a data directory
    /// (the embedded log) or a Kafka cluster, for ddsql or anything else.
    Gen {
        /// Which seed pipeline's input.
        #[arg(long, value_enum)]
        workload: Workload,
        #[command(flatten)]
        scale: Scale,
        /// The embedded log's directory (without --kafka-bootstrap).
        #[arg(long, default_value = "ddsql-data")]
        data_dir: std::path::PathBuf,
        /// Write to this Kafka cluster instead.
        #[arg(long)]
        kafka_bootstrap: Option<String>,
        /// The Schema Registry that AVRO schemas are registered in.
        #[arg(long)]
        schema_registry_url: Option<String>,
    },
}

/// How much input a benchmark generates (see `gen.rs`).
#[derive(clap::Args, Clone, Debug)]
struct Scale {
    /// Events to generate; takes k, m and g suffixes (`--scale 100m`).
    #[arg(long = "events", visible_alias = "scale", default_value = "1m", value_parser = count)]
    events: u64,
    /// Distinct users (the grouping key); a tenth of the events by default.
    #[arg(long, value_parser = count)]
    users: Option<u64>,
    /// Key skew in [0, 1): 0 spreads events evenly over users, 0.9 gives a
    /// few users most of them.
    #[arg(long, default_value_t = 0.0)]
    skew: f64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Encoding of the input records (AVRO uses a Schema Registry).
    #[arg(long, value_enum, default_value_t = gen::Encoding::Avro)]
    encoding: gen::Encoding,
    /// Partitions of each input topic.
    #[arg(long, default_value_t = 2)]
    partitions: u32,
}

impl Scale {
    fn shape(&self) -> gen::Shape {
        gen::Shape {
            events: self.events,
            users: self.users.unwrap_or((self.events / 10).max(1)),
            skew: self.skew,
            seed: self.seed,
        }
    }
}

/// `1000`, `10k`, `1m`, `2g`.
fn count(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let (digits, factor) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1_000),
        Some('m') => (&lower[..lower.len() - 1], 1_000_000),
        Some('g') => (&lower[..lower.len() - 1], 1_000_000_000),
        _ => (&lower[..], 1),
    };
    digits
        .replace('_', "")
        .parse::<u64>()
        .map(|n| n * factor)
        .map_err(|_| format!("'{s}' is not a count (say 1000, 10k, 1m or 2g)"))
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Workload {
    /// MySQL trade.order (seed pipeline 2).
    Orders,
    /// MySQL event.submit and event.name (seed pipeline 1).
    EventJoin,
    /// MongoDB setting.option (seed pipeline 3).
    Toggles,
}

/// The first-order source's Debezium MySQL table (`kafka-decode`,
/// `avro-decode`).
fn order_table() -> ddsql_connectors::debezium::MysqlTable {
    ddsql_connectors::debezium::MysqlTable::new(
        "TRADE_MYSQL.TRADE.ORDER",
        &[
            ("order_id", "long"),
            ("user_id", "long"),
            ("status", "string"),
            (
                "amount",
                r#"{"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}"#,
            ),
            (
                "created_at",
                r#"{"type": "string", "connect.name": "io.debezium.time.ZonedTimestamp"}"#,
            ),
        ],
    )
}

/// Order `i`'s row in [`order_table`].
fn order_row(i: u64) -> Vec<ddsql_sql::types::Value> {
    use ddsql_sql::types::Value;
    vec![
        Value::BigInt(i as i64),
        Value::BigInt((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as i64 % 100_000),
        Value::String(
            if i.is_multiple_of(7) {
                "CANCELLED"
            } else {
                "PAID"
            }
            .into(),
        ),
        Value::Decimal((i % 100_000) as i128 * 10, 2),
        Value::String("2025-03-05T10:00:00Z".into()),
    ]
}

fn avro_decode(events: u64) -> anyhow::Result<()> {
    use ddsql_connectors::format::avro::{encode_with_id, AvroSerde, Schema};
    use ddsql_connectors::format::Serde;
    use ddsql_connectors::schema_registry::{MemoryRegistry, SchemaRegistry, SchemaType};
    use std::sync::Arc;

    let registry = MemoryRegistry::start()?;
    let orders = order_table();
    let text = orders.schema();
    let id = registry.register("TRADE_MYSQL.TRADE.ORDER-value", SchemaType::Avro, &text);
    let schema = Schema::parse(&text).map_err(anyhow::Error::msg)?;
    let datums: Vec<Vec<u8>> = (0..events)
        .map(|i| {
            let event = orders.event(
                if i % 5 == 0 { "r" } else { "c" },
                None,
                Some(order_row(i)),
                i as i64,
            );
            encode_with_id(&schema, id, &event).map_err(anyhow::Error::msg)
        })
        .collect::<Result<_, _>>()?;
    // The columns the seed's source infers from the registered schema.
    let columns = schema.columns("ROWVAL").map_err(anyhow::Error::msg)?;
    let width = columns.len();
    let ours = AvroSerde::new(columns, true).with_registry(
        Arc::new(SchemaRegistry::new(&registry.url())),
        "TRADE_MYSQL.TRADE.ORDER-value".into(),
    );
    let theirs = apache_avro::Schema::parse_str(&text)?;
    let mut figures = Vec::new();
    for run in 0..3 {
        let started = Instant::now();
        let mut fields = 0usize;
        for d in &datums {
            fields += ours.decode(d).map_err(anyhow::Error::msg)?.len();
        }
        let ddsql = events as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut read = 0usize;
        for d in &datums {
            let value = apache_avro::from_avro_datum(&theirs, &mut &d[5..], None)?;
            read += matches!(value, apache_avro::types::Value::Record(_)) as usize;
        }
        let apache = events as f64 / started.elapsed().as_secs_f64();
        anyhow::ensure!(
            fields == width * events as usize && read == events as usize,
            "every event decoded"
        );
        eprintln!(
            "run {}: ddsql {ddsql:.0} records/s, apache-avro {apache:.0} records/s",
            run + 1
        );
        figures.push((ddsql, apache));
    }
    figures.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (ddsql, _) = figures[1];
    let mut apache: Vec<f64> = figures.iter().map(|f| f.1).collect();
    apache.sort_by(f64::total_cmp);
    println!(
        "avro-decode: ddsql {ddsql:.0} records/s into rows, apache-avro {:.0} records/s into its value tree ({:.2}x; {events} Debezium order events, one thread, median of 3)",
        apache[1],
        ddsql / apache[1]
    );
    Ok(())
}

fn kafka_decode(events: u64, partitions: u32) -> anyhow::Result<()> {
    use ddsql_connectors::format::avro::{encode_with_id, Schema};
    use ddsql_connectors::format::Formats;
    use ddsql_connectors::kafka::MockKafka;
    use ddsql_connectors::schema_registry::{MemoryRegistry, SchemaRegistry, SchemaType};
    use ddsql_engine::io::{CodecFactory, Decoded, Transport};
    use std::sync::Arc;

    let kafka = Arc::new(MockKafka::start(1).map_err(anyhow::Error::msg)?);
    let transport: Arc<dyn Transport> = Arc::new(kafka.transport()?);
    let registry = MemoryRegistry::start()?;
    let orders = order_table();
    let text = orders.schema();
    let id = registry.register("TRADE_MYSQL.TRADE.ORDER-value", SchemaType::Avro, &text);
    let schema = Schema::parse(&text).map_err(anyhow::Error::msg)?;
    transport.create_topic(&orders.topic, partitions)?;

    // The source as the seed declares it: columns inferred from the registry.
    let mut session = ddsql::Session::with_transport(
        transport.clone(),
        Formats::with_registry(Arc::new(SchemaRegistry::new(&registry.url()))),
    )?;
    session
        .execute_script("create stream `stg_order` with (kafka_topic='TRADE_MYSQL.TRADE.ORDER', value_format='AVRO');")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let source = session
        .catalog()
        .source("stg_order")
        .expect("created")
        .clone();
    let codec = session
        .formats()
        .codec(&source)
        .map_err(anyhow::Error::msg)?;

    // The mock broker keeps only the newest 100,000 records or 5 MB of a
    // partition, so the events go in rounds: produce a round (not timed),
    // then consume it, once without decoding and once with (timed).
    const ROUND: u64 = 20_000;
    let base_ts = 1_741_168_800_000i64;
    let mut produced = 0u64;
    let mut produce_time = std::time::Duration::ZERO;
    // (records, wall seconds, CPU seconds) for consume alone, then consume + decode.
    let mut totals = [(0u64, 0f64, 0f64); 2];
    while produced < events {
        let started = Instant::now();
        let starts: Vec<u64> = (0..partitions)
            .map(|p| transport.end_offset(&orders.topic, p))
            .collect::<Result<_, _>>()?;
        let n = (ROUND * partitions as u64).min(events - produced);
        let mut chunks: Vec<Vec<Record>> = vec![Vec::new(); partitions as usize];
        for i in produced..produced + n {
            let ts = base_ts + i as i64;
            let row = order_row(i);
            let event = orders.event(if i % 5 == 0 { "r" } else { "c" }, None, Some(row), ts);
            chunks[(i % partitions as u64) as usize].push(Record {
                key: None,
                value: Some(encode_with_id(&schema, id, &event).map_err(anyhow::Error::msg)?),
                timestamp: ts,
                headers: vec![],
            });
        }
        for (p, chunk) in chunks.iter().enumerate() {
            transport.append(&orders.topic, p as u32, chunk)?;
        }
        transport.flush()?;
        produced += n;
        produce_time += started.elapsed();
        for (decode, total) in totals.iter_mut().enumerate() {
            let decode = decode == 1;
            let (cpu0, started) = (sys::cpu_seconds(), Instant::now());
            let threads: Vec<_> = (0..partitions)
                .map(|p| {
                    let (transport, codec, topic) =
                        (transport.clone(), codec.clone(), orders.topic.clone());
                    let start = starts[p as usize];
                    std::thread::spawn(move || -> anyhow::Result<u64> {
                        let end = transport.end_offset(&topic, p)?;
                        let (mut next, mut rows) = (start, 0u64);
                        let mut batch = Vec::with_capacity(10_000);
                        while next < end {
                            batch.clear();
                            next = transport.read(&topic, p, next, 10_000, &mut batch)?;
                            for f in &batch {
                                let ok = !decode
                                    || matches!(
                                        codec.decode(
                                            f.record.key.as_deref(),
                                            f.record.value.as_deref()
                                        ),
                                        Ok(Decoded::Row(_))
                                    );
                                rows += ok as u64;
                            }
                        }
                        Ok(rows)
                    })
                })
                .collect();
            let mut rows = 0;
            for t in threads {
                rows += t.join().expect("reader thread")?;
            }
            anyhow::ensure!(
                rows == n,
                "read {rows} of a round's {n} records (decode: {decode})"
            );
            *total = (
                total.0 + rows,
                total.1 + started.elapsed().as_secs_f64(),
                total.2 + sys::cpu_seconds() - cpu0,
            );
        }
    }
    eprintln!("produced {events} Debezium AVRO events to the mock cluster in {produce_time:.2?}");
    let [(_, cw, cc), (n, wall, cpu)] = totals;
    println!(
        "kafka-decode: {:.0} records/s, {:.0} records/s per core ({events} Debezium AVRO events, {partitions} partitions, {wall:.2}s wall, {cpu:.2}s CPU); consume alone {:.0} records/s, {:.0} per core",
        n as f64 / wall,
        n as f64 / cpu,
        n as f64 / cw,
        n as f64 / cc,
    );
    Ok(())
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "PARTITION BY",
    "EMIT CHANGES",
    "JOIN",
    "LEFT JOIN",
    "ON",
    "WITHIN",
    "WINDOW TUMBLING (SIZE 1 SECOND)",
    "CREATE STREAM",
    "CREATE TABLE",
    "AS",
    "WITH (",
    ")",
    "(",
    ",",
    ";",
    "->",
    "->*",
    "[",
    "]",
    "'",
    "`",
    "\"",
    "=",
    "!=",
    "<",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    ":=",
    "=>",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST(",
    "AS BIGINT",
    "NULL",
    "TRUE",
    "1",
    "-2",
    "3.5",
    "1e9",
    "99999999999999999999999",
    "'x'",
    "`Q`",
    "a",
    "ROWTIME",
    "STRUCT<",
    "ARRAY<",
    "MAP<",
    ">",
    ">>",
    "x => x",
    "IS NOT NULL",
    "IS DISTINCT FROM",
    "LIKE",
    "BETWEEN",
    "IN (",
    "--c\n",
    "/*",
    "*/",
    "${v}",
    "LATEST_BY_OFFSET(",
    "COUNT(*)",
    "EXTRACTJSONFIELD(",
    "INSERT INTO",
    "VALUES (",
    "DROP STREAM",
    "SHOW",
    "DESCRIBE",
    "\n",
    " ",
];

/// A mutation of a corpus statement, or token soup.
fn mutate(rng: &mut Rng, corpus: &[String]) -> String {
    let mut s: Vec<char> = if corpus.is_empty() || rng.below(8) == 0 {
        Vec::new()
    } else {
        corpus[rng.below(corpus.len())].chars().collect()
    };
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(s.len() + 1);
        match rng.below(6) {
            0 if !s.is_empty() => {
                let end = (at + 1 + rng.below(12)).min(s.len());
                s.drain(at.min(end)..end);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                s.splice(at..at, format!(" {t} ").chars());
            }
            2 if !s.is_empty() => s.truncate(at),
            3 => s.insert(at, char::from_u32(rng.below(0x3000) as u32).unwrap_or('?')),
            4 if s.len() > 2 => {
                let (a, b) = (rng.below(s.len()), rng.below(s.len()));
                s.swap(a, b);
            }
            _ => {
                for _ in 0..1 + rng.below(6) {
                    s.extend(format!(" {}", TOKENS[rng.below(TOKENS.len())]).chars());
                }
            }
        }
    }
    s.into_iter().collect()
}

fn parser_fuzz(inputs: u64, seed: u64, corpus_dir: &std::path::Path) -> anyhow::Result<()> {
    use ddsql_sql::{
        binder::bind,
        catalog::{Catalog, UnknownTopics},
        parser,
    };
    let mut corpus = Vec::new();
    for entry in std::fs::read_dir(corpus_dir)
        .with_context(|| format!("reading the corpus {}", corpus_dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
            for t in json["tests"].as_array().into_iter().flatten() {
                for s in t["statements"].as_array().into_iter().flatten() {
                    corpus.push(s.as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    // Bind against a catalog that has the usual QTT sources.
    let mut catalog = Catalog::default();
    for p in parser::parse(
        "create stream test (k string key, id bigint, name string, value bigint, f0 int, s struct<a int, b string>, arr array<int>, m map<string, int>) with (kafka_topic='t', value_format='JSON');
         create stream input (k string key, v1 struct<a int, b string>) with (kafka_topic='i', value_format='JSON');",
    )? {
        let b = bind(&catalog, &UnknownTopics, &Default::default(), &p)?;
        catalog.apply(&b);
    }
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(seed.max(1));
    let started = Instant::now();
    let (mut parsed, mut bound) = (0u64, 0u64);
    for i in 0..inputs {
        let input = mutate(&mut rng, &corpus);
        let outcome = std::panic::catch_unwind(|| {
            let (statements, _) = parser::parse_all(&input);
            let mut ok = 0;
            for p in &statements {
                if bind(&catalog, &UnknownTopics, &Default::default(), p).is_ok() {
                    ok += 1;
                }
                // Printing must always give SQL that parses again.
                let printed = p.statement.to_string();
                if parser::parse(&printed).is_err() {
                    panic!("printed form does not parse: {printed}");
                }
            }
            (statements.len() as u64, ok)
        });
        match outcome {
            Ok((p, b)) => {
                parsed += p;
                bound += b;
            }
            Err(_) => {
                let _ = std::panic::take_hook();
                anyhow::bail!("input {i} (seed {seed}) panicked the front end:\n{input}");
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "parser-fuzz: {inputs} inputs in {elapsed:.1}s ({:.0}/s), {parsed} statements parsed, {bound} bound, 0 panics",
        inputs as f64 / elapsed
    );
    Ok(())
}

fn aggregate(events: u64, keys: u64, workers: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut session = Session::open(dir.path())?;
    session
        .execute_script(
            "create stream orders (user_id bigint key, order_id bigint, status string)
               with (kafka_topic='orders', key_format='KAFKA', value_format='JSON', partitions=2);
             create table per_user with (key_format='KAFKA', value_format='JSON') as
               select user_id, min(order_id) as first_order, latest_by_offset(status) as status, count(*) as orders
               from orders group by user_id;",
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let mut chunks: Vec<Vec<Record>> = vec![Vec::with_capacity(10_000), Vec::with_capacity(10_000)];
    for i in 0..events {
        let user = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % keys.max(1);
        let p = (user % 2) as usize;
        chunks[p].push(Record {
            key: Some((user as i64).to_be_bytes().to_vec()),
            value: Some(format!(r#"{{"ORDER_ID":{i},"STATUS":"s{}"}}"#, i % 7).into_bytes()),
            timestamp: 1_700_000_000_000 + i as i64,
            headers: vec![],
        });
        if chunks[p].len() == 10_000 {
            session.log().append("orders", p as u32, &chunks[p])?;
            chunks[p].clear();
        }
    }
    for (p, chunk) in chunks.iter().enumerate() {
        session.log().append("orders", p as u32, chunk)?;
    }
    session.log().flush()?;
    let generated = started.elapsed();
    let rss_before = sys::peak_rss_mb();
    let started = Instant::now();
    let report = session.run_until_caught_up(&RunOptions {
        workers,
        batch: 4096,
        ..Default::default()
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "generated {events} events over {keys} keys in {generated:.2?} (peak RSS {rss_before:.0} MB by then); ran in {elapsed:.2}s, read {}, wrote {}",
        report.records_read, report.records_written
    );
    println!(
        "aggregate: {:.0} events/s, peak RSS {:.0} MB ({events} events, {keys} keys, {workers} workers)",
        events as f64 / elapsed,
        sys::peak_rss_mb()
    );
    Ok(())
}

fn generate(
    workload: Workload,
    scale: &Scale,
    data_dir: &std::path::Path,
    kafka_bootstrap: Option<String>,
    schema_registry_url: Option<String>,
) -> anyhow::Result<()> {
    let connections = ddsql::session::Connections {
        data_dir: data_dir.to_path_buf(),
        kafka: kafka_bootstrap.map(|b| ddsql_connectors::kafka::KafkaConfig::new(&b)),
        schema_registry: schema_registry_url.clone(),
    };
    let (transport, _) = connections.open()?;
    let registry = schema_registry_url
        .map(|u| std::sync::Arc::new(ddsql_connectors::schema_registry::SchemaRegistry::new(&u)));
    let sink = gen::Sink {
        transport: transport.as_ref(),
        registry: registry.as_ref(),
        encoding: scale.encoding,
        partitions: scale.partitions,
    };
    let shape = scale.shape();
    let started = Instant::now();
    let progress = |n: u64| eprintln!("  {n} of {} events", shape.events);
    let bytes = match workload {
        Workload::Orders => gen::orders(&sink, &shape, &progress)?,
        Workload::EventJoin => gen::submits_and_names(&sink, &shape, &progress)?,
        Workload::Toggles => gen::toggles(&sink, &shape, &progress)?,
    };
    println!(
        "gen: {} {workload:?} events ({} users, skew {}, {:?}) to {}: {:.1} MB in {:.1?}",
        shape.events,
        shape.users,
        shape.skew,
        scale.encoding,
        connections.describe(),
        bytes as f64 / 1e6,
        started.elapsed()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    ddsql::tune_allocator();
    match Cli::parse().bench {
        Bench::Aggregate {
            events,
            keys,
            workers,
        } => aggregate(events, keys, workers),
        Bench::ParserFuzz {
            inputs,
            seed,
            corpus,
        } => parser_fuzz(inputs, seed, &corpus),
        Bench::Inserts { rows, single_rows } => inserts(rows, single_rows),
        Bench::Runtime {
            events,
            keys,
            rate,
            workers,
        } => runtime::run(events, keys, rate, workers),
        Bench::KafkaDecode { events, partitions } => kafka_decode(events, partitions),
        Bench::AvroDecode { events } => avro_decode(events),
        Bench::FirstOrder {
            scale,
            workers,
            batch,
            max_drift_ms,
            systems,
            data_dir,
        } => first_order::bench(
            &scale.shape(),
            scale.encoding,
            scale.partitions,
            &first_order::Run {
                workers,
                batch,
                max_drift_ms,
            },
            &systems,
            data_dir,
        ),
        Bench::FirstOrderSystem {
            system,
            data_dir,
            schema_registry_url,
            encoding,
            workers,
            batch,
            max_drift_ms,
        } => {
            let connections = ddsql::session::Connections {
                schema_registry: schema_registry_url,
                ..ddsql::session::Connections::embedded(&data_dir)
            };
            let run = first_order::Run {
                workers,
                batch,
                max_drift_ms,
            };
            let outcome = first_order::run_system(system, &connections, encoding, &run)?;
            println!("{}", serde_json::to_string(&outcome)?);
            Ok(())
        }
        Bench::Seed {
            pipeline,
            scale,
            workers,
            batch,
        } => pipelines::run(
            pipeline,
            &scale.shape(),
            scale.encoding,
            scale.partitions,
            workers,
            batch,
        ),
        Bench::Latency {
            rate,
            seconds,
            users,
            encoding,
            partitions,
            workers,
            idle_ms,
        } => latency::run(rate, seconds, users, encoding, partitions, workers, idle_ms),
        Bench::Gen {
            workload,
            scale,
            data_dir,
            kafka_bootstrap,
            schema_registry_url,
        } => generate(
            workload,
            &scale,
            &data_dir,
            kafka_bootstrap,
            schema_registry_url,
        ),
    }
}

/// Starts a server on a scratch data directory; returns its URL.
fn start_server(dir: &std::path::Path) -> anyhow::Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let config = ddsql::server::Config {
        listen: "127.0.0.1:0".parse()?,
        connections: ddsql::session::Connections::embedded(dir),
        workers: 1,
        idle_ms: 500,
        max_request_bytes: 16 << 20,
    };
    std::thread::spawn(move || {
        if let Err(e) = ddsql::server::serve(config, |addr| {
            let _ = tx.send(addr);
        }) {
            eprintln!("server: {e:#}");
        }
    });
    let addr = rx.recv().context("the server did not start")?;
    Ok(format!("http://{addr}"))
}

fn inserts(rows: u64, single_rows: u64) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir()?;
    let url = start_server(dir.path())?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let ddl = "create stream `stm_order_candidate` (user_id bigint key, order_id bigint) \
               with (kafka_topic='STREAM.ORDER.CANDIDATE', key_format='JSON', value_format='JSON', partitions=1);";
    let r = agent
        .post(&format!("{url}/ksql"))
        .send_json(serde_json::json!({"ksql": ddl}))?;
    anyhow::ensure!(r.status() == 200, "creating the stream failed");

    // The request body is generated as it is sent: a reader of lines.
    struct Rows {
        next: u64,
        end: u64,
        line: Vec<u8>,
        pos: usize,
    }
    impl Read for Rows {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pos == self.line.len() {
                if self.next == self.end {
                    return Ok(0);
                }
                self.line.clear();
                let n = self.next;
                self.line.extend_from_slice(
                    format!(
                        "{{\"ROWTIME\":1740787200000,\"USER_ID\":{},\"ORDER_ID\":{n}}}\n",
                        n % 100_000
                    )
                    .as_bytes(),
                );
                self.next += 1;
                self.pos = 0;
            }
            let k = buf.len().min(self.line.len() - self.pos);
            buf[..k].copy_from_slice(&self.line[self.pos..self.pos + k]);
            self.pos += k;
            Ok(k)
        }
    }
    let body =
        std::io::Cursor::new(b"{\"target\":\"stm_order_candidate\"}\n".to_vec()).chain(Rows {
            next: 0,
            end: rows,
            line: Vec::new(),
            pos: 0,
        });
    let started = Instant::now();
    let response = agent
        .post(&format!("{url}/inserts-stream"))
        .send(ureq::SendBody::from_owned_reader(body))?;
    let (mut ok, mut errors) = (0u64, 0u64);
    for line in BufReader::new(response.into_body().into_reader()).lines() {
        if line?.contains("\"ok\"") {
            ok += 1;
        } else {
            errors += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let stream_rate = rows as f64 / secs;
    println!(
        "inserts-stream: {rows} rows in {secs:.2} s: {stream_rate:.0} rows/s ({ok} acked ok, {errors} errors)"
    );
    anyhow::ensure!(ok == rows, "only {ok} of {rows} rows were acked ok");

    // INSERT VALUES over /ksql, `per_request` statements per request:
    // rows per second.
    let insert_values = |rows: u64, per_request: u64| -> anyhow::Result<f64> {
        let started = Instant::now();
        for chunk in 0..rows.div_ceil(per_request) {
            let mut sql = String::new();
            for n in chunk * per_request..((chunk + 1) * per_request).min(rows) {
                sql.push_str(&format!(
                    "insert into `stm_order_candidate` (rowtime, user_id, order_id) values (1740787200000, {}, {n});\n",
                    n % 100_000
                ));
            }
            let r = agent
                .post(&format!("{url}/ksql"))
                .send_json(serde_json::json!({"ksql": sql}))?;
            anyhow::ensure!(r.status() == 200, "INSERT VALUES failed");
        }
        Ok(rows as f64 / started.elapsed().as_secs_f64())
    };
    let single = insert_values(single_rows, 1)?;
    println!("insert-values (one request per row): {single_rows} rows: {single:.0} rows/s");
    // The same rows in requests of 1,000, 4,000 and 20,000 statements (a
    // warehouse backfill sent in batches): the rate should not fall as
    // the requests grow.
    let mut batched = 0.0;
    for per_request in [1_000, 4_000, 20_000] {
        let rate = insert_values(20_000, per_request)?;
        println!(
            "insert-values ({per_request} statements per request): 20000 rows: {rate:.0} rows/s"
        );
        if per_request == 20_000 {
            batched = rate;
        }
    }
    println!(
        "inserts: {stream_rate:.0} rows/s over /inserts-stream, {batched:.0} rows/s INSERT VALUES 20,000 per request, {single:.0} rows/s one INSERT VALUES per request, peak RSS {:.0} MB",
        sys::peak_rss_mb()
    );
    Ok(())
}
