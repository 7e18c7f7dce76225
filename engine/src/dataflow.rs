//! Lowering the catalog's queries to one dataflow, and running it.
//!
//! Every catalog source a query reads becomes a collection in its scan
//! layout: the records of its topic, decoded, at their final times (see
//! [`crate::clock`]). A query's output reaches the queries that read its
//! topic through the log too, at the times its sink stamped: so when
//! `INSERT INTO candidates SELECT ... FROM orders` and
//! `CREATE TABLE firsts AS SELECT ... FROM candidates` both run, a
//! candidate reaches the table at the time its row holds in the candidate
//! topic, which is the order event's time unless rows written before it
//! (a backfill) are later; and a join of `candidates` with `firsts` sees
//! the table as of that time: there is no race between a topic and its
//! readers, and a partition's offset order is its time order.
//!
//! Each topic a query fills gets one sink: stream rows become one record
//! each, table rows become the table's changelog (upserts and tombstones).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use differential_dataflow::VecCollection;
use timely::dataflow::{ProbeHandle, Scope};

use ddsql_sql::catalog::{Catalog, SourceKind, SYSTEM_COLUMNS};
use ddsql_sql::eval;
use ddsql_sql::plan::{JoinKind, Plan, QueryPlan, ScalarExpr, Window};
use ddsql_sql::types::{Row, Value};

use crate::clock::{cause_time, Clock, Own, Writer};
use crate::io::{Codec, CodecFactory, IoError, Record, Transport, WindowedCodec};
use crate::operators::aggregate::{
    aggregate_append_only, aggregate_retracting, aggregate_sessions,
};
use crate::operators::as_of_join::as_of_join;
use crate::operators::changelog::{changelog, Entry};
use crate::operators::emit_final::emit_final;
use crate::operators::sink::{write_topic, SinkRecord};
use crate::operators::source::{read_topic, Live, SourceItem, TopicReader};
use crate::operators::unmatched::{unmatched, JoinEvent, Side, Waits};
use crate::operators::upsert::upsert;
use crate::operators::{complete_before, in_time_order, split_errors, take_complete};
use crate::time::{Diff, Time};
use crate::{ProcessingError, Stats};
use timely::dataflow::operators::generic::Operator as _;

/// The topic that records processing errors, as JSON.
pub const PROCESSING_LOG_TOPIC: &str = "ddsql_processing_log";

type Rows<'s> = VecCollection<'s, Time, Row, Diff>;

/// A relation's rows, and for a stream the records without a value
/// (tombstones). ksqlDB forwards those through projections (a key, no
/// value) and drops them at filters, aggregations and joins; they travel
/// apart, in the same layout with value columns NULL, so no operator
/// mistakes one for a row of NULLs.
#[derive(Clone)]
struct Flow<'s> {
    rows: Rows<'s>,
    tombstones: Option<Rows<'s>>,
}

impl<'s> Flow<'s> {
    fn rows(rows: Rows<'s>) -> Flow<'s> {
        Flow {
            rows,
            tombstones: None,
        }
    }
}
type Errors<'s> = VecCollection<'s, Time, ProcessingError, Diff>;

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
    /// a push query's `auto.offset.reset=latest`.
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

/// One topic the dataflow writes.
struct SinkJob {
    topic: String,
    /// Indexes of the queries writing the topic.
    queries: Vec<usize>,
    written: Vec<Option<Time>>,
    /// Where the sink publishes its progress for the topic's readers.
    writer: Arc<Writer>,
}

/// How a query's output rows become records of its sink topic.
struct Encoding {
    codec: Arc<dyn Codec>,
    kind: SourceKind,
    key_arity: usize,
    partitions: u32,
    /// A windowed table: rows end with `WINDOWSTART, WINDOWEND`.
    window: Option<Window>,
}

/// Everything the workers need, built once before the dataflow starts.
struct Job {
    catalog: Catalog,
    /// Per query, by index.
    encodings: Vec<Encoding>,
    sources: BTreeMap<String, TopicReader>,
    sinks: Vec<SinkJob>,
    /// Where processing errors go: the log topic (with the latest time it
    /// holds from this dataflow), or nowhere but the counters for a
    /// transient query, whose reruns would log the same errors again.
    log_written: Option<(Vec<Option<Time>>, Arc<Writer>)>,
    transient: Option<Transient>,
    clock: Arc<Clock>,
}

/// A query whose results go to a subscriber rather than a topic.
struct Transient {
    plan: QueryPlan,
    key_arity: usize,
    changes: mpsc::Sender<Vec<Change>>,
    /// Set when the subscriber hangs up, to stop a live query.
    stop: Arc<std::sync::atomic::AtomicBool>,
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

/// A running transient query (see [`subscribe`]).
pub struct Subscription {
    /// Batches of changes, in time order; closed when the query ends.
    pub changes: mpsc::Receiver<Vec<Change>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<RunReport, EngineError>>>,
}

impl Subscription {
    /// The flag that stops the query, for whoever else may stop it.
    pub fn stop_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.stop.clone()
    }

    /// Stops the query (a live one runs until stopped or dropped).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the query to end.
    pub fn join(mut self) -> Result<RunReport, EngineError> {
        self.thread
            .take()
            .expect("joined once")
            .join()
            .unwrap_or_else(|_| Err(EngineError::Failed("the query's thread panicked".into())))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The latest cause time queries wrote to `topic`/`partition`: a sink
/// writes in time order, so it is the last record with a cause header
/// (scanning back over records others appended after it).
fn last_written(
    transport: &dyn Transport,
    topic: &str,
    partition: u32,
) -> Result<Option<Time>, IoError> {
    let mut offset = transport.end_offset(topic, partition)?;
    let mut buf = Vec::new();
    while offset > 0 {
        let from = offset.saturating_sub(256);
        buf.clear();
        transport.read_range(topic, partition, from, offset, &mut buf)?;
        if let Some(t) = buf.iter().rev().find_map(|f| cause_time(&f.record)) {
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
) -> Result<Vec<Option<Time>>, IoError> {
    (0..partitions)
        .map(|p| last_written(transport, topic, p))
        .collect()
}

fn prepare(
    catalog: &Catalog,
    clock: &Arc<Clock>,
    codecs: &dyn CodecFactory,
    options: &RunOptions,
    transient: Option<Transient>,
) -> Result<Job, EngineError> {
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
    let queries = catalog.queries();
    // Sinks: one per topic written.
    let mut sinks: BTreeMap<String, SinkJob> = BTreeMap::new();
    let mut encodings = Vec::new();
    for (qi, q) in queries.iter().enumerate() {
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
        let job = sinks.entry(sink.topic.clone()).or_insert_with(|| SinkJob {
            topic: sink.topic.clone(),
            queries: Vec::new(),
            written: Vec::new(),
            writer: Arc::new(clock.writer(&sink.topic, workers)),
        });
        job.queries.push(qi);
    }
    for job in sinks.values_mut() {
        let partitions = encodings[job.queries[0]].partitions;
        job.written = written_times(transport.as_ref(), &job.topic, partitions)?;
    }
    // What earlier runs wrote was caused by records they read: every
    // record that arrives from now on comes after all of it.
    let restart_floor = sinks
        .values()
        .flat_map(|s| s.written.iter().flatten())
        .copied()
        .max()
        .map(|t| t + 1);
    let mut needed = check(catalog)?;
    if let Some(t) = &transient {
        needed.extend(t.plan.plan.sources().into_iter().map(str::to_string));
    }
    let mut sources = BTreeMap::new();
    for name in needed {
        let source = catalog.source(&name).expect("checked");
        let partitions = transport
            .partitions(&source.topic)?
            .ok_or_else(|| IoError::UnknownTopic(source.topic.clone()))?;
        let end_offsets: Vec<u64> = (0..partitions)
            .map(|p| transport.end_offset(&source.topic, p))
            .collect::<Result<_, _>>()?;
        // Only other producers' records take floors: what queries write
        // keeps its causes' times, which their own inputs' floors order.
        let external = !writes_topic(catalog, &source.topic);
        if let Some(floor) = restart_floor.filter(|_| options.live.is_some() && external) {
            for (p, end) in end_offsets.iter().enumerate() {
                clock.bind_floor(&source.topic, p as u32, *end, floor)?;
            }
        }
        let start_offsets = if options.from_end {
            end_offsets.clone()
        } else {
            vec![0; end_offsets.len()]
        };
        let reader = TopicReader {
            start_offsets,
            origin: source.name.clone(),
            topic: source.topic.clone(),
            topic_index: transport.topic_index(&source.topic)?,
            end_offsets,
            written: sinks.contains_key(&source.topic),
            codec: codec_for(&source.name)?,
            batch: options.batch.max(1),
            sequence_header: options.sequence_header.clone(),
            timestamp_column: source.timestamp_column,
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
        };
        sources.insert(name, reader);
    }
    let log_written = if transient.is_some() {
        None
    } else {
        if transport.partitions(PROCESSING_LOG_TOPIC)?.is_none() {
            transport.create_topic(PROCESSING_LOG_TOPIC, 1)?;
        }
        Some((
            written_times(transport.as_ref(), PROCESSING_LOG_TOPIC, 1)?,
            Arc::new(clock.writer(PROCESSING_LOG_TOPIC, workers)),
        ))
    };
    Ok(Job {
        catalog: catalog.clone(),
        encodings,
        sources,
        sinks: sinks.into_values().collect(),
        log_written,
        transient,
        clock: clock.clone(),
    })
}

/// Whether a query of `catalog` (running or paused) writes `topic`.
fn writes_topic(catalog: &Catalog, topic: &str) -> bool {
    catalog
        .queries()
        .iter()
        .any(|q| catalog.source(&q.sink).is_some_and(|s| s.topic == topic))
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
    // The queries each topic is written by, and the topics each reads.
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
    fn visit<'a>(
        qi: usize,
        reads: &[BTreeSet<&'a String>],
        writes: &[&'a String],
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

/// Runs every persistent query of `catalog` over the records present when
/// it starts, writes their results, and returns once every source is
/// caught up and every result written; with `options.live`, follows the
/// topics until stopped.
pub fn run(
    catalog: &Catalog,
    clock: &Arc<Clock>,
    codecs: &dyn CodecFactory,
    options: &RunOptions,
) -> Result<RunReport, EngineError> {
    // A paused query is not run; RESUME reruns it, and its sink writes
    // what it has not yet written.
    let job = prepare(&catalog.running(), clock, codecs, options, None)?;
    if job.sinks.is_empty() {
        clock.transport().flush()?;
        return Ok(RunReport::default());
    }
    execute(job, options)
}

/// Starts a transient query: `plan` (bound against `catalog`) over the
/// records of the topics it reads, its changes sent to the returned
/// subscription. `catalog`'s persistent queries are not run: every source
/// is read from its topic, as a ksqlDB push or pull query reads it.
/// Without `options.live` the query ends once caught up (a pull query).
pub fn subscribe(
    catalog: &Catalog,
    plan: &QueryPlan,
    clock: &Arc<Clock>,
    codecs: &dyn CodecFactory,
    options: &RunOptions,
) -> Result<Subscription, EngineError> {
    let mut sources_only = catalog.clone();
    for id in catalog.queries().iter().map(|q| q.id.clone()) {
        sources_only.remove_query(&id);
    }
    let (tx, rx) = mpsc::channel();
    let stop = options
        .live
        .as_ref()
        .map(|live| live.stop.clone())
        .unwrap_or_default();
    let transient = Transient {
        plan: plan.clone(),
        key_arity: plan.columns.iter().filter(|c| c.key).count(),
        changes: tx,
        stop: stop.clone(),
    };
    let options = options.clone();
    let job = prepare(&sources_only, clock, codecs, &options, Some(transient))?;
    let thread = std::thread::Builder::new()
        .name("ddsql-query".into())
        .spawn(move || execute(job, &options))
        .map_err(|e| EngineError::Failed(format!("starting a query thread: {e}")))?;
    Ok(Subscription {
        changes: rx,
        stop,
        thread: Some(thread),
    })
}

fn execute(job: Job, options: &RunOptions) -> Result<RunReport, EngineError> {
    let job = Arc::new(job);
    let stats = Arc::new(Stats::default());
    let transport = job.clock.transport();
    {
        let (job, stats, transport) = (job.clone(), stats.clone(), transport.clone());
        let guards = timely::execute(
            timely::Config::process(options.workers.max(1)),
            move |worker| {
                worker.dataflow::<Time, _, _>(|scope| {
                    Builder {
                        scope,
                        job: &job,
                        transport: transport.clone(),
                        stats: stats.clone(),
                        sources: HashMap::new(),
                        outputs: HashMap::new(),
                        encoded: HashMap::new(),
                        completed: ProbeHandle::new(),
                        errors: Vec::new(),
                    }
                    .build();
                });
            },
        )
        .map_err(EngineError::Failed)?;
        for result in guards.join() {
            result.map_err(|e| EngineError::Failed(format!("a worker failed: {e}")))?;
        }
    }
    // Records that arrive after this run come after everything it read:
    // the next run stamps them after its latest time, as this run would
    // have, had it gone on.
    if let (Some(latest), None) = (stats.latest(), &job.transient) {
        for reader in job
            .sources
            .values()
            .filter(|r| !writes_topic(&job.catalog, &r.topic))
        {
            for p in 0..reader.end_offsets.len() as u32 {
                let end = transport.end_offset(&reader.topic, p)?;
                job.clock.bind_floor(&reader.topic, p, end, latest + 1)?;
            }
        }
    }
    transport.flush()?;
    if let Some(failure) = stats.failure() {
        return Err(EngineError::Failed(failure));
    }
    Ok(RunReport {
        records_read: stats.read(),
        records_written: stats.written(),
        processing_errors: stats.errors(),
    })
}

struct Builder<'s, 'j> {
    scope: Scope<'s, Time>,
    job: &'j Job,
    transport: Arc<dyn Transport>,
    stats: Arc<Stats>,
    sources: HashMap<String, Flow<'s>>,
    outputs: HashMap<usize, Flow<'s>>,
    encoded: HashMap<usize, VecCollection<'s, Time, SinkRecord, Diff>>,
    errors: Vec<Errors<'s>>,
    /// What the sinks have completed, for source alignment.
    completed: ProbeHandle<Time>,
}

impl<'s> Builder<'s, '_> {
    fn build(mut self) {
        if let Some(t) = &self.job.transient {
            self.subscriber(t);
        }
        for sink in &self.job.sinks {
            let encoded: Vec<_> = sink.queries.iter().map(|&qi| self.encoded(qi)).collect();
            let records = differential_dataflow::collection::concatenate(self.scope, encoded)
                .probe_with(&self.completed);
            write_topic(
                records,
                sink.topic.clone(),
                self.job.clock.clone(),
                sink.writer.clone(),
                sink.written.clone(),
                self.stats.clone(),
            );
        }
        self.processing_log();
    }

    fn source(&mut self, name: &str) -> Flow<'s> {
        if let Some(flow) = self.sources.get(name) {
            return flow.clone();
        }
        let reader = &self.job.sources[name];
        let source = self.job.catalog.source(name).expect("checked");
        let (items, errors) = read_topic(
            self.scope,
            reader.clone(),
            self.transport.clone(),
            self.stats.clone(),
            self.completed.clone(),
        );
        self.errors.push(errors);
        let flow = match source.kind {
            SourceKind::Stream => Flow {
                rows: items.clone().flat_map(|item| match item {
                    SourceItem::Row(row) => Some(row),
                    SourceItem::Delete(_) => None,
                }),
                tombstones: Some(items.flat_map(|item| match item {
                    SourceItem::Row(_) => None,
                    SourceItem::Delete(row) => Some(row),
                })),
            },
            SourceKind::Table => {
                let keys = SYSTEM_COLUMNS.len()..SYSTEM_COLUMNS.len() + source.key_arity();
                Flow::rows(upsert(items.map(move |item| match item {
                    SourceItem::Row(row) => (row[keys.clone()].to_vec(), Some(row)),
                    SourceItem::Delete(row) => (row[keys.clone()].to_vec(), None),
                })))
            }
        };
        self.sources.insert(name.to_string(), flow.clone());
        flow
    }

    /// A query's output as records of its sink topic (memoised: the sink
    /// and any source reading the topic share it).
    fn encoded(&mut self, qi: usize) -> VecCollection<'s, Time, SinkRecord, Diff> {
        if let Some(records) = self.encoded.get(&qi) {
            return records.clone();
        }
        let flow = self.query(qi);
        let e = &self.job.encodings[qi];
        let id = self.job.catalog.queries()[qi].id.clone();
        let records = self.encode(
            flow,
            e.codec.clone(),
            e.kind,
            (e.key_arity, e.window),
            e.partitions,
            id,
        );
        self.encoded.insert(qi, records.clone());
        records
    }

    fn query(&mut self, qi: usize) -> Flow<'s> {
        if let Some(flow) = self.outputs.get(&qi) {
            return flow.clone();
        }
        let q = &self.job.catalog.queries()[qi];
        let flow = self.flow(&q.plan.plan, &q.id);
        self.outputs.insert(qi, flow.clone());
        flow
    }

    /// A plan's rows and tombstones: only scans and projections carry
    /// tombstones; every other operator drops them (see [`Flow`]).
    fn flow(&mut self, plan: &Plan, origin: &str) -> Flow<'s> {
        match plan {
            Plan::Scan { source } => self.source(source),
            Plan::Map { input, exprs } => {
                let input = self.flow(input, origin);
                let rows = self.project(input.rows, exprs, origin);
                let tombstones = input.tombstones.map(|t| self.project(t, exprs, origin));
                Flow { rows, tombstones }
            }
            _ => Flow::rows(self.plan(plan, origin)),
        }
    }

    /// `(key, row)` pairs: the key from `key` over each row; rows with a
    /// NULL in the key never join and are dropped.
    fn keyed(
        &mut self,
        rows: Rows<'s>,
        key: &[ScalarExpr],
        origin: &str,
    ) -> VecCollection<'s, Time, (Row, Row), Diff> {
        let key = key.to_vec();
        let arity = key.len();
        let keyed = self.map_rows(rows, origin, move |row, _| {
            match key
                .iter()
                .map(|e| eval::eval(e, &row))
                .collect::<Result<Row, _>>()
            {
                Ok(k) if k.iter().any(Value::is_null) => Ok(None),
                Ok(mut k) => {
                    k.extend(row);
                    Ok(Some(k))
                }
                Err(e) => Err((rowtime(&row), format!("evaluating the join key: {e}"))),
            }
        });
        keyed.map(move |mut r| {
            let row = r.split_off(arity);
            (r, row)
        })
    }

    fn project(&mut self, input: Rows<'s>, exprs: &[ScalarExpr], origin: &str) -> Rows<'s> {
        let exprs = exprs.to_vec();
        self.map_rows(input, origin, move |row, logged| {
            project_row(&exprs, &row, logged).map(Some)
        })
    }

    /// Applies `f` to every row, keeping the rows it returns (none drops
    /// the row; a table function may return many); `Err` sends the row to
    /// the processing log, and so does every entry `f` pushes onto its
    /// second argument (errors that did not cost the row, as a function
    /// call that failed and became NULL).
    fn map_rows<F, I>(&mut self, input: Rows<'s>, origin: &str, f: F) -> Rows<'s>
    where
        F: Fn(Row, &mut Vec<(i64, String)>) -> Result<I, (i64, String)> + 'static,
        I: IntoIterator<Item = Row> + 'static,
    {
        let origin = origin.to_string();
        let results = input.flat_map(move |row| {
            let mut logged = Vec::new();
            let (rows, failed) = match f(row, &mut logged) {
                Ok(rows) => (Some(rows.into_iter().map(Ok)), None),
                Err(e) => (None, Some(Err(e))),
            };
            logged
                .into_iter()
                .map(Err)
                .chain(failed)
                .chain(rows.into_iter().flatten())
        });
        let (ok, err) = split_errors(results, move |(timestamp, message)| {
            query_error(&origin, timestamp, message)
        });
        self.errors.push(err);
        ok
    }

    fn plan(&mut self, plan: &Plan, origin: &str) -> Rows<'s> {
        match plan {
            Plan::Scan { source } => self.source(source).rows,
            Plan::Filter { .. } | Plan::Map { .. } => {
                // A run of filters and projections is one pass over each
                // row: one operator, not two per step (each a copy of
                // every row and its own error split).
                let (steps, below) = stateless_steps(plan);
                let input = self.plan(below, origin);
                self.map_rows(input, origin, move |row, logged| {
                    apply_steps(&steps, row, logged)
                })
            }
            Plan::FlatMap { input, calls } => {
                let input = self.plan(input, origin);
                let calls = calls.clone();
                self.map_rows(input, origin, move |row, _| flat_map_row(&calls, row))
            }
            Plan::Window { input, window } => {
                let input = self.plan(input, origin);
                let window = *window;
                let Window::Time { size, grace, .. } = window else {
                    unreachable!("the aggregation over a session window assigns the sessions");
                };
                // Stream time is one for the whole input: the rows meet on
                // one worker, in time order, so which rows are late does
                // not depend on the worker count.
                let mut stream_time = i64::MIN;
                in_time_order(
                    input,
                    "Window",
                    |_| 0,
                    move |ready, out| {
                        for (row, time, diff) in ready {
                            let ts = rowtime(&row);
                            stream_time = stream_time.max(ts);
                            let open: Vec<i64> = window
                                .starts(ts)
                                .into_iter()
                                // Closed: its end plus the grace has passed.
                                .filter(|s| (s + size).saturating_add(grace) > stream_time)
                                .collect();
                            // The row itself goes to the last open window;
                            // copies to the others (hopping windows only).
                            let mut row = Some(row);
                            for (i, &start) in open.iter().enumerate() {
                                let mut r = if i + 1 == open.len() {
                                    row.take().expect("moved once")
                                } else {
                                    row.clone().expect("not moved yet")
                                };
                                r.push(Value::BigInt(start));
                                r.push(Value::BigInt(start + size));
                                out.push((r, time, diff));
                            }
                        }
                    },
                )
            }
            Plan::Aggregate {
                input,
                group_key,
                aggregates,
                retracting,
            } => {
                // Over a session window the rows have no window columns
                // yet: the group key's last two (WINDOWSTART, WINDOWEND)
                // are the session's, which the aggregation assigns.
                let (input, group_key, session) = match &**input {
                    Plan::Window {
                        input,
                        window: Window::Session { gap, grace },
                    } => (
                        &**input,
                        group_key[..group_key.len() - 2].to_vec(),
                        Some((*gap, *grace)),
                    ),
                    input => (input, group_key.clone(), None),
                };
                let input = self.plan(input, origin);
                let args: Vec<Option<ScalarExpr>> =
                    aggregates.iter().map(|a| a.arg.clone()).collect();
                let arity = group_key.len();
                let keyed = self.map_rows(input, origin, move |mut row, _| {
                    if session.is_some() {
                        // Placeholders where the window columns would be, so
                        // the bound column numbers hold.
                        row.extend([Value::Null, Value::Null]);
                    }
                    let eval_all = || -> Result<Row, eval::EvalError> {
                        let mut out = group_key
                            .iter()
                            .map(|e| eval::eval(e, &row))
                            .collect::<Result<Row, _>>()?;
                        out.push(row[0].clone());
                        for a in &args {
                            out.push(match a {
                                Some(e) => eval::eval(e, &row)?,
                                None => Value::Null,
                            });
                        }
                        Ok(out)
                    };
                    let out = eval_all()
                        .map_err(|e| (rowtime(&row), format!("evaluating the aggregation: {e}")))?;
                    // ksqlDB drops rows whose grouping key is NULL.
                    if out[..group_key.len()].iter().any(Value::is_null) {
                        return Ok(None);
                    }
                    Ok(Some(out))
                });
                let keyed = keyed.map(move |mut row| {
                    let rest = row.split_off(arity);
                    (row, rest)
                });
                let aggregates = Arc::new(aggregates.clone());
                match session {
                    Some((gap, grace)) => aggregate_sessions(keyed, aggregates, gap, grace),
                    None if *retracting => aggregate_retracting(keyed, aggregates),
                    None => aggregate_append_only(keyed, aggregates),
                }
            }
            Plan::EmitFinal { input } => {
                let (Plan::Aggregate { group_key, .. }, Some(window)) = (&**input, input.window())
                else {
                    unreachable!("the binder puts EMIT FINAL over a windowed aggregation");
                };
                let key_arity = group_key.len() - 2;
                let rows = self.plan(input, origin);
                emit_final(rows, key_arity, window)
            }
            Plan::StreamJoin {
                left,
                right,
                left_key,
                right_key,
                before_ms,
                after_ms,
                grace_ms,
                left_width,
                right_width,
                kind,
            } => {
                let (before, after, lw, rw) = (*before_ms, *after_ms, *left_width, *right_width);
                let left = self.plan(left, origin);
                let right = self.plan(right, origin);
                let left = self.keyed(left, left_key, origin);
                let right = self.keyed(right, right_key, origin);
                let pairs = left
                    .clone()
                    .join(right.clone())
                    .flat_map(move |(_, (l, r))| {
                        let (lt, rt) = (rowtime(&l), rowtime(&r));
                        (lt.saturating_sub(before) <= rt && rt <= lt.saturating_add(after))
                            .then_some((l, r))
                    });
                let joined = pairs.clone().map(|(mut l, r)| {
                    let lt = rowtime(&l);
                    l[0] = Value::BigInt(lt.max(rowtime(&r)));
                    l.extend(r);
                    l.push(Value::BigInt(lt));
                    l
                });
                if *kind == JoinKind::Inner {
                    return joined;
                }
                // A left row closes `after` past its ROWTIME, when no right
                // row can still pair with it, a right row `before` past.
                let waits = Waits {
                    left: kind.keeps_left().then(|| after.saturating_add(*grace_ms)),
                    right: kind.keeps_right().then(|| before.saturating_add(*grace_ms)),
                };
                // Rows of a side the join does not keep only move stream time.
                let arrived = move |side: Side, keep: bool| {
                    move |(_, row): (Row, Row)| {
                        let row = if keep { row } else { vec![row[0].clone()] };
                        (JoinEvent::Arrived(side), row)
                    }
                };
                let (keep_left, keep_right) = (kind.keeps_left(), kind.keeps_right());
                let matched = pairs.flat_map(move |(l, r)| {
                    [
                        keep_left.then_some((JoinEvent::Matched(Side::Left), l)),
                        keep_right.then_some((JoinEvent::Matched(Side::Right), r)),
                    ]
                    .into_iter()
                    .flatten()
                });
                let events = differential_dataflow::collection::concatenate(
                    self.scope,
                    [
                        left.map(arrived(Side::Left, keep_left)),
                        right.map(arrived(Side::Right, keep_right)),
                        matched,
                    ],
                );
                let alone = unmatched(events, waits).map(move |(side, row)| match side {
                    Side::Left => left_alone(row, rw),
                    Side::Right => right_alone(row, lw),
                });
                joined.concat(alone)
            }
            Plan::TableJoin {
                left,
                right,
                left_key,
                right_key,
                left_width,
                right_width,
                kind,
            } => {
                let (lk, rk, lw, rw) = (*left_key, *right_key, *left_width, *right_width);
                let left = self
                    .plan(left, origin)
                    .map(move |row| (row[lk].clone(), row));
                let right = self
                    .plan(right, origin)
                    .map(move |row| (row[rk].clone(), row));
                // Column 0 carries the join's ROWTIME, the later side's;
                // the left row's own goes at the end.
                let later = |a: &Value, b: &Value| match (a, b) {
                    (Value::BigInt(x), Value::BigInt(y)) => Value::BigInt(*x.max(y)),
                    (Value::Null, b) => b.clone(),
                    (a, _) => a.clone(),
                };
                let mut parts =
                    vec![left
                        .clone()
                        .join(right.clone())
                        .map(move |(_, (mut l, r))| {
                            let time = later(&l[0], &r[0]);
                            let left_rowtime = std::mem::replace(&mut l[0], time);
                            l.extend(r);
                            l.push(left_rowtime);
                            l
                        })];
                if kind.keeps_left() {
                    let matched = right.clone().map(|(k, _)| k).distinct();
                    parts.push(
                        left.clone()
                            .antijoin(matched)
                            .map(move |(_, l)| left_alone(l, rw)),
                    );
                }
                if kind.keeps_right() {
                    let matched = left.map(|(k, _)| k).distinct();
                    parts.push(
                        right
                            .antijoin(matched)
                            .map(move |(_, r)| right_alone(r, lw)),
                    );
                }
                differential_dataflow::collection::concatenate(self.scope, parts)
            }
            Plan::StreamTableJoin {
                stream,
                stream_key,
                table,
                table_key,
                table_width,
                left,
            } => {
                let stream = self.plan(stream, origin);
                let table = self.plan(table, origin);
                // Stream rows with a NULL key never match, not even in a
                // LEFT join: ksqlDB drops them.
                let stream = self.keyed(stream, stream_key, origin);
                let table_key = table_key.clone();
                let table = table.map(move |row| {
                    (
                        table_key.iter().map(|&i| row[i].clone()).collect::<Row>(),
                        row,
                    )
                });
                as_of_join(stream, table, *left, *table_width)
            }
        }
    }

    /// Encodes a query's output rows for its sink topic.
    fn encode(
        &mut self,
        flow: Flow<'s>,
        codec: Arc<dyn Codec>,
        kind: SourceKind,
        (key_arity, window): (usize, Option<Window>),
        partitions: u32,
        origin: String,
    ) -> VecCollection<'s, Time, SinkRecord, Diff> {
        let transport = self.transport.clone();
        let route =
            move |key: Option<Vec<u8>>, value: Option<Vec<u8>>, timestamp: i64| SinkRecord {
                partition: transport.partition_for(key.as_deref(), value.as_deref(), partitions),
                key,
                value,
                timestamp,
            };
        let rows = flow.rows;
        let mut encoded: VecCollection<'s, Time, Result<SinkRecord, (i64, String)>, Diff> =
            match kind {
                SourceKind::Stream => {
                    let (codec, route) = (codec.clone(), route.clone());
                    rows.map(move |row| {
                        let timestamp = record_timestamp(&row)?;
                        codec
                            .encode(&row[1..])
                            .map(|(k, v)| route(k, v, timestamp))
                            .map_err(|e| (timestamp, format!("encoding the result: {e}")))
                    })
                }
                SourceKind::Table => {
                    let (codec, route) = (codec.clone(), route.clone());
                    let window = if window.is_some() { 2 } else { 0 };
                    changelog(rows, key_arity, window).map(move |(key, entry)| match entry {
                        Entry::Upsert(row) => {
                            let timestamp = record_timestamp(&row)?;
                            codec
                                .encode(&row[1..])
                                .map(|(k, v)| route(k, v, timestamp))
                                .map_err(|e| (timestamp, format!("encoding the result: {e}")))
                        }
                        Entry::Tombstone { rowtime } => codec
                            .encode_key(&key)
                            .map(|k| route(k, None, rowtime))
                            .map_err(|e| (rowtime, format!("encoding a tombstone key: {e}"))),
                    })
                }
            };
        // A stream's tombstones: the key (and window), and no value.
        if let (SourceKind::Stream, Some(tombstones)) = (kind, flow.tombstones) {
            let window = if window.is_some() { 2 } else { 0 };
            encoded = encoded.concat(tombstones.map(move |row| {
                let mut key = row[1..1 + key_arity].to_vec();
                key.extend_from_slice(&row[row.len() - window..]);
                codec
                    .encode_key(&key)
                    .map(|k| route(k, None, rowtime(&row)))
                    .map_err(|e| (rowtime(&row), format!("encoding a tombstone key: {e}")))
            }));
        }
        let (ok, err) = split_errors(encoded, move |(timestamp, message)| {
            query_error(&origin, timestamp, message)
        });
        self.errors.push(err);
        ok
    }

    /// Sends a transient query's changes, in time order, from worker 0.
    fn subscriber(&mut self, t: &Transient) {
        let flow = self.flow(&t.plan.plan, "transient query");
        let changes = match t.plan.kind {
            SourceKind::Stream => flow.rows.map(Change::Row),
            SourceKind::Table => changelog(
                flow.rows,
                t.key_arity,
                if t.plan.window.is_some() { 2 } else { 0 },
            )
            .map(|(key, entry)| match entry {
                Entry::Upsert(row) => Change::Row(row),
                Entry::Tombstone { .. } => Change::Delete { key },
            }),
        };
        let (sender, stop) = (t.changes.clone(), t.stop.clone());
        let mut pending = Vec::new();
        changes.probe_with(&self.completed).inner.sink(
            timely::dataflow::channels::pact::Exchange::new(|_: &(Change, Time, Diff)| 0),
            "Subscriber",
            move |(input, frontier)| {
                input.for_each(|_, data| pending.append(data));
                let ready = take_complete(&mut pending, complete_before(&[frontier]));
                if ready.is_empty() {
                    return;
                }
                let mut batch = Vec::with_capacity(ready.len());
                for (change, _, diff) in ready {
                    batch.extend(std::iter::repeat_n(change, diff.max(0) as usize));
                }
                if sender.send(batch).is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
            },
        );
    }

    fn processing_log(&mut self) {
        let stats = self.stats.clone();
        let errors = differential_dataflow::collection::concatenate(
            self.scope,
            std::mem::take(&mut self.errors),
        );
        let Some((log_written, log_writer)) = self.job.log_written.clone() else {
            // A transient query's errors are counted and traced only.
            errors.inspect(move |(e, _, _)| {
                stats.add_errors(1);
                tracing::warn!(origin = %e.origin, topic = ?e.topic, partition = ?e.partition, offset = ?e.offset, "{}", e.message);
            });
            return;
        };
        let records = errors.map(move |e| {
            stats.add_errors(1);
            tracing::warn!(origin = %e.origin, topic = ?e.topic, partition = ?e.partition, offset = ?e.offset, "{}", e.message);
            let value = serde_json::json!({
                "origin": e.origin, "topic": e.topic, "partition": e.partition,
                "offset": e.offset, "timestamp": e.timestamp, "message": e.message,
            });
            SinkRecord { partition: 0, key: None, value: Some(value.to_string().into_bytes()), timestamp: e.timestamp }
        });
        let records = records.probe_with(&self.completed);
        write_topic(
            records,
            PROCESSING_LOG_TOPIC.to_string(),
            self.job.clock.clone(),
            log_writer,
            log_written,
            self.stats.clone(),
        );
    }
}

fn query_error(origin: &str, timestamp: i64, message: String) -> ProcessingError {
    ProcessingError {
        origin: origin.to_string(),
        topic: None,
        partition: None,
        offset: None,
        timestamp,
        message,
    }
}

/// A filter or a projection: what [`apply_steps`] runs.
enum Step {
    Filter(ScalarExpr),
    Map(Vec<ScalarExpr>),
}

/// The filters and projections at the top of `plan`, innermost first, and
/// the plan below them.
fn stateless_steps(mut plan: &Plan) -> (Vec<Step>, &Plan) {
    let mut steps = Vec::new();
    loop {
        match plan {
            Plan::Filter { input, predicate } => {
                steps.push(Step::Filter(predicate.clone()));
                plan = input;
            }
            Plan::Map { input, exprs } => {
                steps.push(Step::Map(exprs.clone()));
                plan = input;
            }
            _ => break,
        }
    }
    steps.reverse();
    (steps, plan)
}

/// Runs `steps` over `row`: `Ok(None)` when a filter drops it; an error
/// carries the rowtime of the row the failing step read.
fn apply_steps(
    steps: &[Step],
    mut row: Row,
    logged: &mut Vec<(i64, String)>,
) -> Result<Option<Row>, (i64, String)> {
    for step in steps {
        match step {
            Step::Filter(predicate) => match eval::eval(predicate, &row) {
                Ok(Value::Boolean(true)) => {}
                Ok(_) => return Ok(None),
                Err(e) => return Err((rowtime(&row), format!("evaluating the condition: {e}"))),
            },
            Step::Map(exprs) => row = project_row(exprs, &row, logged)?,
        }
    }
    Ok(Some(row))
}

/// Evaluates a projection as ksqlDB does: a failed function call is NULL
/// and logged, and the row goes on; any other error costs the row.
fn project_row(
    exprs: &[ScalarExpr],
    row: &Row,
    logged: &mut Vec<(i64, String)>,
) -> Result<Row, (i64, String)> {
    let message = |e: eval::EvalError| (rowtime(row), format!("evaluating the projection: {e}"));
    let mut out = Vec::with_capacity(exprs.len());
    for e in exprs {
        let (value, failed) = eval::eval_lenient(e, row);
        logged.extend(failed.into_iter().map(message));
        out.push(value.map_err(message)?);
    }
    Ok(out)
}

/// The rows [`Plan::FlatMap`] makes of `row`. A call whose argument
/// cannot be computed costs the row, as a filter's condition does.
fn flat_map_row(
    calls: &[(ddsql_sql::plan::TableFunc, ScalarExpr)],
    row: Row,
) -> Result<Vec<Row>, (i64, String)> {
    let mut results = Vec::with_capacity(calls.len());
    for (func, arg) in calls {
        let value = eval::eval(arg, &row).map_err(|e| {
            (
                rowtime(&row),
                format!("evaluating {}'s argument: {e}", func.name()),
            )
        })?;
        results.push(eval::table_function(*func, &value));
    }
    let n = results.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..n)
        .map(|i| {
            let mut out = row.clone();
            out.extend(
                results
                    .iter()
                    .map(|r| r.get(i).cloned().unwrap_or(Value::Null)),
            );
            out
        })
        .collect())
}

/// The timestamp of the record a result row becomes: its ROWTIME, which a
/// sink's `TIMESTAMP` column may have made NULL.
fn record_timestamp(row: &Row) -> Result<i64, (i64, String)> {
    match row.first() {
        Some(Value::Null) => Err((
            0,
            "the TIMESTAMP column of the result is NULL, so the record has no timestamp; it is left out".into(),
        )),
        _ => Ok(rowtime(row)),
    }
}

/// A left row no right row matched, in a join's layout: the right side all
/// NULL, the left ROWTIME kept at the end.
fn left_alone(mut l: Row, right_width: usize) -> Row {
    let left_rowtime = l[0].clone();
    l.resize(l.len() + right_width, Value::Null);
    l.push(left_rowtime);
    l
}

/// A right row no left row matched, in a join's layout: its ROWTIME is the
/// row's, the left side all NULL, with no left ROWTIME.
fn right_alone(r: Row, left_width: usize) -> Row {
    let mut row = vec![Value::Null; left_width];
    row[0] = r[0].clone();
    row.extend(r);
    row.push(Value::Null);
    row
}

fn rowtime(row: &Row) -> i64 {
    match row.first() {
        Some(Value::BigInt(t)) => *t,
        _ => 0,
    }
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
