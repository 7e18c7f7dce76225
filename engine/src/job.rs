//! What one dataflow of the runtime needs, prepared before it is built.
//!
//! The runtime ([`crate::runtime`]) runs every persistent query in a
//! dataflow of its own, and every transient (push or pull) query too. A
//! [`Job`] is everything such a dataflow needs that touches the outside
//! world: the readers of its sources (topics, partitions, offsets, codecs),
//! its sink (the topic's partitions, what the query already wrote there
//! in an earlier run, its [`Writer`] registered with the clock), its
//! processing log. It is prepared once, by the controller, and shared by
//! every worker, which only lowers the plan ([`crate::lower`]).
//!
//! A query reads every source from its topic, including topics other
//! queries write: their output reaches it through the log, at the times
//! their sinks stamped (see [`crate::clock`]). So when
//! `INSERT INTO candidates SELECT ... FROM orders` and
//! `CREATE TABLE firsts AS SELECT ... FROM candidates` both run, a
//! candidate reaches the table at the time its row holds in the candidate
//! topic, and a join of `candidates` with `firsts` sees the table as of
//! that time, whichever dataflow runs first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{mpsc, Arc, Mutex};

use ddsql_sql::catalog::{Catalog, Source, SourceKind};
use ddsql_sql::plan::{QueryPlan, Window};
use ddsql_sql::types::Row;

use crate::clock::{cause_time, written_by, Clock, Own, Writer};
use crate::io::{Codec, CodecFactory, IoError, Record, Transport, WindowedCodec};
use crate::operators::source::{Live, TopicReader};
use crate::time::Time;
use crate::Stats;

/// The topic that records processing errors, as JSON.
pub const PROCESSING_LOG_TOPIC: &str = "ddsql_processing_log";

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Timely worker threads.
    pub workers: usize,
    /// Records read per partition per step: a throughput knob that never
    /// changes a result.
    pub batch: usize,
    /// For test harnesses that order inputs themselves: take each record's
    /// logical time from this header (a decimal sequence number) instead of
    /// its timestamp. The QTT runner uses it to feed records in file order,
    /// as ksqlDB's test driver does.
    pub sequence_header: Option<String>,
    /// How far (ms of event time) a source may read ahead of what the
    /// sinks have completed: bounds memory when partitions are read at
    /// different speeds. Never changes a result.
    pub max_drift_ms: i64,
    /// Follow the topics past the backlog until stopped (a server's
    /// persistent queries, push queries); `None` stops once caught up.
    pub live: Option<Live>,
    /// Read sources from their current ends instead of their beginnings:
    /// `auto.offset.reset=latest`.
    pub from_end: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            workers: 1,
            batch: 1024,
            sequence_header: None,
            max_drift_ms: 10_000,
            live: None,
            from_end: false,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    pub records_read: u64,
    pub records_written: u64,
    pub processing_errors: u64,
}

impl RunReport {
    pub(crate) fn add(&mut self, stats: &Stats) {
        self.records_read += stats.read();
        self.records_written += stats.written();
        self.processing_errors += stats.errors();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{source_name}: {message}")]
    Codec {
        source_name: String,
        message: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Failed(String),
}

/// The topic a query writes.
pub(crate) struct SinkJob {
    /// The query's id, which its records carry.
    pub query: String,
    /// The query's index in the job's catalog.
    pub index: usize,
    /// Per partition, the latest cause time the query already wrote.
    pub written: Vec<Option<Time>>,
    /// Where the sink publishes its progress for the topic's readers.
    pub writer: Arc<Writer>,
}

/// How a query's output rows become records of its sink topic.
pub(crate) struct Encoding {
    pub codec: Arc<dyn Codec>,
    pub kind: SourceKind,
    pub key_arity: usize,
    pub partitions: u32,
    /// A windowed table: rows end with `WINDOWSTART, WINDOWEND`.
    pub window: Option<Window>,
}

/// A query whose results go to a subscriber rather than a topic.
pub(crate) struct Transient {
    pub plan: QueryPlan,
    pub key_arity: usize,
    /// Taken by worker 0's subscriber operator, so the channel closes when
    /// the dataflow ends.
    pub changes: Mutex<Option<mpsc::Sender<Vec<Change>>>>,
    /// Set when the subscriber hangs up, to stop a live query.
    pub stop: Arc<std::sync::atomic::AtomicBool>,
}

/// One change of a transient query's result, in time order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Change {
    /// A stream's new row, or a table's new row for its key:
    /// `[ROWTIME, columns...]`, keys first.
    Row(Row),
    /// The key left the table.
    Delete { key: Row },
}

/// How far a job's readers have read: per source and partition, the next
/// offset and the time of the last record stamped. The runtime's barrier
/// (`ddsql run`'s "caught up") reads it.
#[derive(Debug, Default)]
pub struct Progress {
    pub readers: Mutex<Positions>,
}

/// Per source and partition: the next offset to read and the time of the
/// last record stamped.
pub type Positions = BTreeMap<(String, u32), (u64, Option<Time>)>;

impl Progress {
    pub fn publish(&self, source: &str, partition: u32, next: u64, last: Option<Time>) {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        readers.insert((source.to_string(), partition), (next, last));
    }
}

/// Everything the workers need to build one dataflow.
pub(crate) struct Job {
    /// The query's id, or a transient query's name.
    pub name: String,
    /// The sources, and the queries this job runs (one, or none for a
    /// transient query).
    pub catalog: Catalog,
    /// Per query, by index.
    pub encodings: Vec<Encoding>,
    pub sources: BTreeMap<String, TopicReader>,
    /// Tables read from their shared arrangement as they are now, instead
    /// of from their topics (see [`crate::runtime`]).
    pub imports: BTreeSet<String>,
    pub sinks: Vec<SinkJob>,
    /// Where processing errors go: the log topic (with the latest time
    /// this job wrote there), or nowhere but the counters for a transient
    /// query, whose reruns would log the same errors again.
    pub log: Option<(Vec<Option<Time>>, Arc<Writer>)>,
    pub transient: Option<Transient>,
    pub clock: Arc<Clock>,
    pub stats: Arc<Stats>,
    pub progress: Arc<Progress>,
    pub live: Option<Live>,
}

impl Job {
    /// Records, for every external partition this job read, that records
    /// arriving there later come after everything it processed: what the
    /// next run (or the job's restart) stamps them at, had this one gone on.
    pub fn record_end(&self) -> Result<(), EngineError> {
        let Some(latest) = self.stats.latest() else {
            return Ok(());
        };
        if self.transient.is_some() {
            return Ok(());
        }
        let transport = self.clock.transport();
        for reader in self.sources.values().filter(|r| !r.written) {
            for p in 0..reader.end_offsets.len() as u32 {
                let end = transport.end_offset(&reader.topic, p)?;
                self.clock.bind_floor(&reader.topic, p, end, latest + 1)?;
            }
        }
        Ok(())
    }
}

/// The latest cause time `query` wrote to `topic`/`partition`: a sink
/// writes in time order, so it is the last record the query wrote
/// (scanning back over records others appended after it).
fn last_written(
    transport: &dyn Transport,
    topic: &str,
    partition: u32,
    query: &str,
) -> Result<Option<Time>, IoError> {
    let mut offset = transport.end_offset(topic, partition)?;
    let mut buf = Vec::new();
    while offset > 0 {
        let from = offset.saturating_sub(256);
        buf.clear();
        transport.read_range(topic, partition, from, offset, &mut buf)?;
        let mine = buf
            .iter()
            .rev()
            .filter(|f| written_by(&f.record).is_none_or(|q| q == query.as_bytes()))
            .find_map(|f| cause_time(&f.record));
        if let Some(t) = mine {
            return Ok(Some(t));
        }
        offset = from;
    }
    Ok(None)
}

fn written_times(
    transport: &dyn Transport,
    topic: &str,
    partitions: u32,
    query: &str,
) -> Result<Vec<Option<Time>>, IoError> {
    (0..partitions)
        .map(|p| last_written(transport, topic, p, query))
        .collect()
}

/// Whether a query of `catalog` (running or paused) writes `topic`.
pub(crate) fn writes_topic(catalog: &Catalog, topic: &str) -> bool {
    catalog
        .queries()
        .iter()
        .any(|q| catalog.source(&q.sink).is_some_and(|s| s.topic == topic))
}

/// How a job starts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Start {
    /// The query was just created: it has written nothing yet, so there is
    /// nothing to look for in its sink topic.
    pub fresh: bool,
}

/// What a job is to run.
pub(crate) struct JobSpec<'a> {
    /// The job's name: its query's id, or a transient query's.
    pub name: &'a str,
    /// The sources, and the queries the job runs (one for the runtime).
    pub catalog: &'a Catalog,
    /// Whose writers a reader waits for: the queries of this catalog.
    pub writers: &'a Catalog,
    pub options: &'a RunOptions,
    /// A transient query over the sources, instead of persistent ones.
    pub transient: Option<Transient>,
    pub start: Start,
}

/// Prepares the job `spec` describes.
pub(crate) fn prepare(
    spec: JobSpec<'_>,
    clock: &Arc<Clock>,
    codecs: &dyn CodecFactory,
) -> Result<Job, EngineError> {
    let JobSpec {
        name,
        catalog,
        writers,
        options,
        transient,
        start,
    } = spec;
    let transport = clock.transport();
    let codec_for = |name: &str| -> Result<Arc<dyn Codec>, EngineError> {
        let source = catalog.source(name).expect("the binder checked the name");
        let codec = codecs.codec(source).map_err(|message| EngineError::Codec {
            source_name: name.to_string(),
            message,
        })?;
        Ok(match source.window {
            Some(window) => Arc::new(WindowedCodec::new(
                codec,
                window,
                source.value_columns().count(),
            )),
            None => codec,
        })
    };
    let workers = options.workers.max(1);
    let mut sinks = Vec::new();
    let mut encodings = Vec::new();
    for (qi, q) in catalog.queries().iter().enumerate() {
        let sink = catalog
            .source(&q.sink)
            .expect("queries write catalog sources");
        let partitions = match transport.partitions(&sink.topic)? {
            Some(p) => p,
            None => {
                transport.create_topic(&sink.topic, sink.partitions)?;
                sink.partitions
            }
        };
        encodings.push(Encoding {
            codec: codec_for(&sink.name)?,
            kind: q.plan.kind,
            key_arity: sink.key_arity(),
            partitions,
            window: sink.window,
        });
        let written = if start.fresh {
            vec![None; partitions as usize]
        } else {
            written_times(transport.as_ref(), &sink.topic, partitions, &q.id)?
        };
        sinks.push(SinkJob {
            query: q.id.clone(),
            index: qi,
            written,
            writer: Arc::new(clock.writer(&sink.topic, &q.id, workers, false)),
        });
    }
    // What an earlier run wrote was caused by records it read: every
    // record that arrives from now on comes after all of it.
    let restart_floor = sinks
        .iter()
        .flat_map(|s| s.written.iter().flatten())
        .copied()
        .max()
        .map(|t| t + 1);
    let mut needed = check(catalog)?;
    if let Some(t) = &transient {
        needed.extend(t.plan.plan.sources().into_iter().map(str::to_string));
    }
    let progress = Arc::new(Progress::default());
    let mut sources = BTreeMap::new();
    for name in needed {
        let source = catalog.source(&name).expect("checked");
        // Only other producers' records take floors: what queries write
        // keeps its causes' times, which their own inputs' floors order.
        let reader = reader(source, writers, clock, codecs, options, &progress)?;
        if let Some(floor) = restart_floor.filter(|_| options.live.is_some() && !reader.written) {
            for (p, end) in reader.end_offsets.iter().enumerate() {
                clock.bind_floor(&source.topic, p as u32, *end, floor)?;
            }
        }
        sources.insert(name, reader);
    }
    let log = match (&transient, catalog.queries().first()) {
        (None, Some(q)) => {
            if transport.partitions(PROCESSING_LOG_TOPIC)?.is_none() {
                transport.create_topic(PROCESSING_LOG_TOPIC, 1)?;
            }
            let written = if start.fresh {
                vec![None]
            } else {
                written_times(transport.as_ref(), PROCESSING_LOG_TOPIC, 1, &q.id)?
            };
            Some((
                written,
                Arc::new(clock.writer(PROCESSING_LOG_TOPIC, &q.id, workers, true)),
            ))
        }
        _ => None,
    };
    Ok(Job {
        name: name.to_string(),
        catalog: catalog.clone(),
        encodings,
        sources,
        imports: BTreeSet::new(),
        sinks,
        log,
        transient,
        clock: clock.clone(),
        stats: Arc::new(Stats::default()),
        progress,
        live: options.live.clone(),
    })
}

/// The reader of `source`'s topic, from its start or (`from_end`) its
/// current end; it waits for the topic's writers if `writers` has queries
/// that write it.
pub(crate) fn reader(
    source: &Source,
    writers: &Catalog,
    clock: &Arc<Clock>,
    codecs: &dyn CodecFactory,
    options: &RunOptions,
    progress: &Arc<Progress>,
) -> Result<TopicReader, EngineError> {
    let transport = clock.transport();
    let partitions = transport
        .partitions(&source.topic)?
        .ok_or_else(|| IoError::UnknownTopic(source.topic.clone()))?;
    let end_offsets: Vec<u64> = (0..partitions)
        .map(|p| transport.end_offset(&source.topic, p))
        .collect::<Result<_, _>>()?;
    let start_offsets = if options.from_end {
        end_offsets.clone()
    } else {
        vec![0; end_offsets.len()]
    };
    let codec = codecs.codec(source).map_err(|message| EngineError::Codec {
        source_name: source.name.clone(),
        message,
    })?;
    let codec = match source.window {
        Some(window) => Arc::new(WindowedCodec::new(
            codec,
            window,
            source.value_columns().count(),
        )),
        None => codec,
    };
    Ok(TopicReader {
        start_offsets,
        origin: source.name.clone(),
        topic: source.topic.clone(),
        topic_index: transport.topic_index(&source.topic)?,
        end_offsets,
        written: writes_topic(writers, &source.topic),
        codec,
        batch: options.batch.max(1),
        sequence_header: options.sequence_header.clone(),
        timestamp_column: source.timestamp_column,
        timestamp_format: source.timestamp_format.clone(),
        width: source.width(),
        headers: source
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((i, c.header.clone()?)))
            .collect(),
        max_drift_ms: options.max_drift_ms,
        live: options.live.clone(),
        clock: clock.clone(),
        progress: Some(progress.clone()),
    })
}

/// Checks that the engine can run the catalog's queries, without touching
/// any topic: returns every source they read. A query may not read,
/// through the topics of other queries, what it writes: its reader would
/// wait for its own writer.
pub fn check(catalog: &Catalog) -> Result<BTreeSet<String>, EngineError> {
    let queries = catalog.queries();
    let mut sources = BTreeSet::new();
    for q in queries {
        sources.extend(q.plan.plan.sources().into_iter().map(str::to_string));
    }
    // The topic each query writes, and the topics each reads.
    let topic = |name: &str| {
        &catalog
            .source(name)
            .expect("plans name catalog sources")
            .topic
    };
    let reads: Vec<BTreeSet<&String>> = queries
        .iter()
        .map(|q| q.plan.plan.sources().into_iter().map(topic).collect())
        .collect();
    let writes: Vec<&String> = queries.iter().map(|q| topic(&q.sink)).collect();
    fn visit(
        qi: usize,
        reads: &[BTreeSet<&String>],
        writes: &[&String],
        path: &mut Vec<usize>,
        names: &dyn Fn(usize) -> String,
    ) -> Result<(), EngineError> {
        if let Some(at) = path.iter().position(|&q| q == qi) {
            let cycle: Vec<String> = path[at..].iter().chain([&qi]).map(|&q| names(q)).collect();
            return Err(EngineError::Unsupported(format!(
                "queries form a cycle: {}",
                cycle.join(" <- ")
            )));
        }
        path.push(qi);
        for (writer, written) in writes.iter().enumerate() {
            if reads[qi].contains(written) {
                visit(writer, reads, writes, path, names)?;
            }
        }
        path.pop();
        Ok(())
    }
    let names = |q: usize| format!("{} ({})", queries[q].sink, queries[q].id);
    for qi in 0..queries.len() {
        visit(qi, &reads, &writes, &mut Vec::new(), &names)?;
    }
    Ok(sources)
}

/// Appends `record` to `topic` through the clock's write path, choosing
/// the partition as a producer would; the record is stamped at arrival.
pub fn produce(clock: &Clock, topic: &str, record: Record) -> Result<(u32, u64), IoError> {
    let transport = clock.transport();
    let partitions = transport
        .partitions(topic)?
        .ok_or_else(|| IoError::UnknownTopic(topic.to_string()))?;
    let p = transport.partition_for(record.key.as_deref(), record.value.as_deref(), partitions);
    let offset = clock.append(topic, p, vec![(record, Own::Arrival)])?;
    Ok((p, offset))
}
