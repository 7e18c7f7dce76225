//! The runtime: long-lived timely workers that install, drop and peek into
//! dataflows on command, after Materialize's compute layer.
//!
//! ```text
//!  Session / server ──install, terminate, subscribe, pull, barrier──▶ Runtime (controller)
//!                                                                    │ one ordered command
//!                                                                    │ sequence, sent to every
//!                                                                    ▼ worker under one lock
//!   worker 0 ─┬─ dataflow CTAS_TB_MIN_ORDER_0 ─ reads STREAM.ORDER.CANDIDATE, writes TABLE.MIN_ORDER
//!   worker 1 ─┤   dataflow INSERTQUERY_1 ───── reads TRADE_MYSQL.TRADE.ORDER, writes STREAM.ORDER.CANDIDATE
//!     ...     ├─ dataflow CSAS_STM_MIN_ORDER_2 ─ reads both topics above, writes STREAM.MIN_ORDER
//!             ├─ index tb_min_order ─────────── reads TABLE.MIN_ORDER into a shared arrangement
//!             └─ transient_3 (a push query) ─── imports the index, follows its changes
//! ```
//!
//! - **One dataflow per query.** Installing or dropping a query builds or
//!   drops its dataflow on every worker at the same point of the command
//!   sequence; no other query stops, pauses or replays. Queries feed each
//!   other through their topics, at the times their writers stamped
//!   ([`crate::clock`]), so a query created later reads each record at the
//!   time the running queries gave it.
//! - **Indexes.** A table's rows are arranged once by an index dataflow of
//!   their own ([`index`]) and shared: pull queries peek into it at the
//!   newest time complete on every worker; push queries over a table and
//!   queries that start from the latest offsets import it as it is now.
//!   A query that reads history (from the earliest offsets, the default)
//!   builds the state it needs from the topics itself: a shared, compacted
//!   arrangement no longer knows the table as of each past record.
//! - **Commands, not locks.** The controller prepares a job (what touches
//!   topics and the Schema Registry) on the caller's thread, then sends one
//!   command to every worker and returns once each has built it; no lock is
//!   held while a dataflow runs or drains. Only catalog changes are durable
//!   (the session's command log); peeks and subscriptions live in memory.
//!
//! The cluster work extends this to several processes: the same command
//! sequence, read by every process from the command log, builds the same
//! dataflows everywhere.

pub mod index;
mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ddsql_sql::catalog::{Catalog, SourceKind, SYSTEM_COLUMNS};
use ddsql_sql::plan::{BinaryFunc, Plan, QueryPlan, ScalarExpr};
use ddsql_sql::types::Row;

use crate::clock::Clock;
use crate::io::CodecFactory;
use crate::job::{
    self, Change, EngineError, Job, Progress, RunOptions, RunReport, Start, Transient,
};
use crate::operators::source::Live;
use crate::time::Time;

use index::{IndexJob, IndexState, Peek};

/// How the runtime runs its dataflows.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Timely worker threads.
    pub workers: usize,
    /// Records read per partition per step (a throughput knob).
    pub batch: usize,
    /// Source alignment (see [`RunOptions::max_drift_ms`]).
    pub max_drift_ms: i64,
    /// The bounded wait for an idle partition (ksqlDB's
    /// `max.task.idle.ms`); `None`: jobs are not live, they stop once they
    /// have read what their topics held when they started.
    pub idle_ms: Option<i64>,
    /// See [`RunOptions::sequence_header`].
    pub sequence_header: Option<String>,
}

impl RuntimeConfig {
    fn options(&self, live: bool, from_end: bool) -> RunOptions {
        RunOptions {
            workers: self.workers.max(1),
            batch: self.batch.max(1),
            sequence_header: self.sequence_header.clone(),
            max_drift_ms: self.max_drift_ms,
            live: match (live, self.idle_ms) {
                (true, Some(idle)) => Some(Live::new(idle)),
                _ => None,
            },
            from_end,
        }
    }
}

impl From<&RunOptions> for RuntimeConfig {
    fn from(o: &RunOptions) -> Self {
        RuntimeConfig {
            workers: o.workers.max(1),
            batch: o.batch,
            max_drift_ms: o.max_drift_ms,
            idle_ms: o.live.as_ref().map(|l| l.idle_ms),
            sequence_header: o.sequence_header.clone(),
        }
    }
}

/// A command to every worker (see [`worker`]).
pub(crate) enum Command {
    Install {
        job: Arc<Job>,
        ack: mpsc::Sender<usize>,
    },
    Index {
        job: Arc<IndexJob>,
        ack: mpsc::Sender<usize>,
    },
    Drop {
        name: String,
        ack: mpsc::Sender<usize>,
    },
    Peek(Arc<Peek>),
    Compact {
        index: String,
        time: Time,
    },
}

/// What the workers share with the controller.
pub(crate) struct Shared {
    pub(crate) clock: Arc<Clock>,
    indexes: Mutex<BTreeMap<String, Arc<IndexState>>>,
}

impl Shared {
    pub(crate) fn index(&self, name: &str) -> Option<Arc<IndexState>> {
        lock(&self.indexes).get(name).cloned()
    }
}

/// The controller's state. Dropping the last [`Runtime`] handle stops the
/// jobs and waits for the workers, as [`Runtime::shutdown`] does.
pub(crate) struct Inner {
    config: RuntimeConfig,
    shared: Arc<Shared>,
    codecs: Arc<dyn CodecFactory>,
    /// One sender per worker; held under this lock while a command goes to
    /// all of them, so they receive the same sequence. `None` once shut down.
    senders: Mutex<Option<Vec<mpsc::Sender<Command>>>>,
    /// Each worker's thread, to wake it after a command.
    threads: Mutex<Vec<Option<std::thread::Thread>>>,
    guards: Mutex<Option<timely::communication::WorkerGuards<()>>>,
    /// The installed jobs, persistent and transient, by name.
    jobs: Mutex<BTreeMap<String, Arc<Job>>>,
    /// Held while an index is made, so two pull queries build one.
    making_index: Mutex<()>,
    /// Arrangements (indexes) built since the runtime started.
    built: AtomicU64,
    next_transient: AtomicU64,
    /// Stops the maintenance thread.
    stopped: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn index(&self, name: &str) -> Option<Arc<IndexState>> {
        self.shared.index(name)
    }

    /// Stops every job and index (a live one drains) and lets the workers
    /// leave once their dataflows are done; returns the jobs.
    fn stop(&self) -> Vec<Arc<Job>> {
        self.stopped.store(true, Ordering::Relaxed);
        let jobs: Vec<Arc<Job>> = lock(&self.jobs).values().cloned().collect();
        for job in &jobs {
            if let Some(live) = &job.live {
                live.stop.store(true, Ordering::Relaxed);
            }
        }
        for state in lock(&self.shared.indexes).values() {
            if let Some(live) = &state.job.reader.live {
                live.stop.store(true, Ordering::Relaxed);
            }
        }
        // Disconnected, the workers leave once their dataflows drain.
        lock(&self.senders).take();
        for t in lock(&self.threads).iter().flatten() {
            t.unpark();
        }
        jobs
    }

    /// Sends the command `make` builds to every worker, in one piece of the
    /// sequence, and wakes them.
    fn broadcast(&self, make: impl Fn() -> Command) -> Result<(), EngineError> {
        let senders = lock(&self.senders);
        let Some(senders) = senders.as_ref() else {
            return Err(EngineError::Failed("the runtime is shut down".into()));
        };
        for s in senders {
            s.send(make())
                .map_err(|_| EngineError::Failed("a worker of the runtime has stopped".into()))?;
        }
        for t in lock(&self.threads).iter().flatten() {
            t.unpark();
        }
        Ok(())
    }

    /// [`Inner::broadcast`], then waits until every worker acknowledged.
    fn command(&self, make: impl Fn(mpsc::Sender<usize>) -> Command) -> Result<(), EngineError> {
        let (ack, acks) = mpsc::channel();
        self.broadcast(|| make(ack.clone()))?;
        drop(ack);
        for _ in 0..self.config.workers.max(1) {
            acks.recv_timeout(Duration::from_secs(60)).map_err(|_| {
                EngineError::Failed("a worker of the runtime did not answer a command".into())
            })?;
        }
        Ok(())
    }
}

/// A handle on the runtime; clones share it.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    /// Starts the workers. Their dataflows write and read through `clock`;
    /// `codecs` turns a source's formats into its codec.
    pub fn start(
        config: RuntimeConfig,
        clock: Arc<Clock>,
        codecs: Arc<dyn CodecFactory>,
    ) -> Result<Runtime, EngineError> {
        let workers = config.workers.max(1);
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..workers).map(|_| mpsc::channel()).unzip();
        let shared = Arc::new(Shared {
            clock,
            indexes: Mutex::new(BTreeMap::new()),
        });
        let inner = Arc::new(Inner {
            config,
            shared: shared.clone(),
            codecs,
            senders: Mutex::new(Some(senders)),
            threads: Mutex::new(vec![None; workers]),
            guards: Mutex::new(None),
            jobs: Mutex::new(BTreeMap::new()),
            making_index: Mutex::new(()),
            built: AtomicU64::new(0),
            next_transient: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
        });
        let receivers: Arc<Mutex<Vec<Option<mpsc::Receiver<Command>>>>> =
            Arc::new(Mutex::new(receivers.into_iter().map(Some).collect()));
        let (ready, started) = mpsc::channel();
        let threads = Arc::new(Mutex::new(vec![None; workers]));
        let guards = {
            let threads = threads.clone();
            timely::execute(timely::Config::process(workers), move |worker| {
                let me = worker.index();
                let commands = lock(&receivers)[me]
                    .take()
                    .expect("one receiver per worker");
                lock(&threads)[me] = Some(std::thread::current());
                let _ = ready.send(me);
                worker::run(worker, commands, shared.clone());
            })
            .map_err(EngineError::Failed)?
        };
        for _ in 0..workers {
            started
                .recv_timeout(Duration::from_secs(30))
                .map_err(|_| EngineError::Failed("the runtime's workers did not start".into()))?;
        }
        *lock(&inner.threads) = std::mem::take(&mut *lock(&threads));
        *lock(&inner.guards) = Some(guards);
        let runtime = Runtime { inner };
        runtime.maintain();
        Ok(runtime)
    }

    /// Advances the indexes' compaction now and then, to the newest time
    /// complete everywhere: no later peek asks for an earlier one.
    fn maintain(&self) {
        let weak = Arc::downgrade(&self.inner);
        let _ = std::thread::Builder::new()
            .name("ddsql-maintenance".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(500));
                let Some(inner) = weak.upgrade() else { return };
                if inner.stopped.load(Ordering::Relaxed) {
                    return;
                }
                let indexes: Vec<_> = lock(&inner.shared.indexes).values().cloned().collect();
                for state in indexes {
                    let Some(t) = state.complete() else { continue };
                    let mut since = lock(&state.since);
                    if t > *since {
                        *since = t;
                        let name = state.job.name.clone();
                        let _ = inner.broadcast(|| Command::Compact {
                            index: name.clone(),
                            time: t,
                        });
                    }
                }
            });
    }

    /// How many arrangements (table indexes) the runtime has built.
    pub fn arrangements_built(&self) -> u64 {
        self.inner.built.load(Ordering::Relaxed)
    }

    /// The first failure of an installed job (an I/O error that makes its
    /// results unusable), if any: what `/healthcheck` reports.
    pub fn failure(&self) -> Option<String> {
        lock(&self.inner.jobs)
            .values()
            .find_map(|j| j.stats.failure().map(|f| format!("{}: {f}", j.name)))
    }

    /// The counters of installed job `name`: records read and written,
    /// processing errors.
    pub fn report(&self, name: &str) -> Option<RunReport> {
        let jobs = lock(&self.inner.jobs);
        let job = jobs.get(name)?;
        let mut report = RunReport::default();
        report.add(&job.stats);
        Some(report)
    }

    /// The names of the installed jobs.
    pub fn installed(&self) -> Vec<String> {
        lock(&self.inner.jobs).keys().cloned().collect()
    }

    fn prepare(&self, spec: job::JobSpec<'_>) -> Result<Job, EngineError> {
        job::prepare(spec, &self.inner.shared.clock, self.inner.codecs.as_ref())
    }

    /// Installs persistent query `id` of `catalog`. `fresh`: it was just
    /// created (it has written nothing); `from_end`: it reads its streams
    /// from their latest offsets and its tables as they are now, from
    /// their shared arrangements (`auto.offset.reset=latest`).
    pub fn install(
        &self,
        catalog: &Catalog,
        id: &str,
        fresh: bool,
        from_end: bool,
    ) -> Result<(), EngineError> {
        let job = self.prepare_query(catalog, id, fresh, from_end)?;
        self.install_jobs(vec![job])
    }

    fn prepare_query(
        &self,
        catalog: &Catalog,
        id: &str,
        fresh: bool,
        from_end: bool,
    ) -> Result<Job, EngineError> {
        let mut only = catalog.clone();
        for q in catalog.queries() {
            if q.id != id {
                only.remove_query(&q.id);
            }
        }
        if only.queries().is_empty() {
            return Err(EngineError::Failed(format!("no query {id} to run")));
        }
        let options = self.inner.config.options(true, from_end);
        let mut job = self.prepare(job::JobSpec {
            name: id,
            catalog: &only,
            writers: catalog,
            options: &options,
            transient: None,
            start: Start { fresh },
        })?;
        if from_end {
            self.import_tables(&only, &mut job)?;
        }
        Ok(job)
    }

    /// Reads the tables of `job` from their shared arrangements instead of
    /// their topics (building the arrangements first where needed).
    fn import_tables(&self, catalog: &Catalog, job: &mut Job) -> Result<(), EngineError> {
        let tables: Vec<String> = job
            .sources
            .keys()
            .filter(|name| {
                catalog
                    .source(name)
                    .is_some_and(|s| s.kind == SourceKind::Table)
            })
            .cloned()
            .collect();
        for name in tables {
            self.index(catalog, &name)?;
            job.sources.remove(&name);
            job.imports.insert(name);
        }
        Ok(())
    }

    fn install_jobs(&self, jobs: Vec<Job>) -> Result<(), EngineError> {
        for job in jobs {
            let job = Arc::new(job);
            lock(&self.inner.jobs).insert(job.name.clone(), job.clone());
            self.inner.command(|ack| Command::Install {
                job: job.clone(),
                ack,
            })?;
        }
        Ok(())
    }

    /// Installs every running query of `catalog` at once (their writers
    /// registered before any of them reads): how a runtime starts over a
    /// restored catalog, and how `engine::run` runs a script's queries.
    pub fn install_all(&self, catalog: &Catalog, fresh: bool) -> Result<(), EngineError> {
        let running = catalog.running();
        let jobs = running
            .queries()
            .iter()
            .map(|q| self.prepare_query(&running, &q.id, fresh, false))
            .collect::<Result<Vec<_>, _>>()?;
        self.install_jobs(jobs)
    }

    /// Drops job `name` (a query's id) on every worker. Its output so far
    /// stays in its topic; no other job notices.
    pub fn drop_job(&self, name: &str) -> Result<(), EngineError> {
        let Some(job) = lock(&self.inner.jobs).remove(name) else {
            return Ok(());
        };
        if let Some(live) = &job.live {
            live.stop.store(true, Ordering::Relaxed);
        }
        self.inner.command(|ack| Command::Drop {
            name: name.to_string(),
            ack,
        })
    }

    /// The index of table `name`, built first if it does not exist yet.
    fn index(&self, catalog: &Catalog, name: &str) -> Result<Arc<IndexState>, EngineError> {
        let _making = lock(&self.inner.making_index);
        if let Some(state) = self.inner.index(name) {
            return Ok(state);
        }
        let source = catalog
            .source(name)
            .ok_or_else(|| EngineError::Failed(format!("no table {name}")))?;
        let options = self.inner.config.options(true, false);
        let progress = Arc::new(Progress::default());
        let reader = job::reader(
            source,
            catalog,
            &self.inner.shared.clock,
            self.inner.codecs.as_ref(),
            &options,
            &progress,
        )?;
        let keys = SYSTEM_COLUMNS.len()..SYSTEM_COLUMNS.len() + source.key_arity();
        let job = Arc::new(IndexJob {
            name: name.to_string(),
            reader,
            keys,
            stats: Default::default(),
            progress,
        });
        let state = Arc::new(IndexState {
            job: job.clone(),
            uppers: Mutex::new(vec![None; self.inner.config.workers.max(1)]),
            since: Mutex::new(0),
        });
        lock(&self.inner.shared.indexes).insert(name.to_string(), state.clone());
        self.inner.command(|ack| Command::Index {
            job: job.clone(),
            ack,
        })?;
        self.inner.built.fetch_add(1, Ordering::Relaxed);
        Ok(state)
    }

    /// Drops the index of table `name`, if there is one (the table is
    /// dropped).
    pub fn drop_index(&self, name: &str) -> Result<(), EngineError> {
        let Some(state) = lock(&self.inner.shared.indexes).remove(name) else {
            return Ok(());
        };
        if let Some(live) = &state.job.reader.live {
            live.stop.store(true, Ordering::Relaxed);
        }
        self.inner.command(|ack| Command::Drop {
            name: format!("index:{name}"),
            ack,
        })
    }

    /// Starts a transient query of `plan` over `catalog`'s sources: a push
    /// query (`push`) follows them until the subscription is dropped, its
    /// tables from their shared arrangements as they are now; a pull query
    /// reads them to their current ends. Its changes arrive on the
    /// subscription in time order.
    pub fn subscribe(
        &self,
        catalog: &Catalog,
        plan: &QueryPlan,
        push: bool,
        from_end: bool,
    ) -> Result<Subscription, EngineError> {
        let mut sources_only = catalog.clone();
        for id in catalog.queries().iter().map(|q| q.id.clone()) {
            sources_only.remove_query(&id);
        }
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let name = format!(
            "transient_{}_{}",
            plan.plan.sources().first().copied().unwrap_or("query"),
            self.inner.next_transient.fetch_add(1, Ordering::Relaxed)
        );
        let mut options = self.inner.config.options(push, from_end && push);
        if let Some(live) = &mut options.live {
            live.stop = stop.clone();
        }
        let transient = Transient {
            plan: plan.clone(),
            key_arity: plan.columns.iter().filter(|c| c.key).count(),
            changes: Mutex::new(Some(tx)),
            stop: stop.clone(),
        };
        // A pull query reads what the topics hold now; a push query follows
        // the writers of the topics it reads.
        let writers = if push { catalog } else { &sources_only };
        let mut job = self.prepare(job::JobSpec {
            name: &name,
            catalog: &sources_only,
            writers,
            options: &options,
            transient: Some(transient),
            start: Start { fresh: true },
        })?;
        // Tables as they are now serve a push query whose streams start
        // now too (or that reads no stream); one that reads a stream's
        // history needs each table as of each record, from its topic.
        let reads_streams = plan.plan.sources().iter().any(|name| {
            sources_only
                .source(name)
                .is_some_and(|s| s.kind == SourceKind::Stream)
        });
        if push && (from_end || !reads_streams) {
            self.import_tables(&sources_only, &mut job)?;
        }
        let stats = job.stats.clone();
        self.install_jobs(vec![job])?;
        Ok(Subscription {
            changes: rx,
            stop,
            name,
            runtime: Some(self.clone()),
            stats,
            own: false,
        })
    }

    /// A pull query's answer straight from a table's shared arrangement,
    /// when the plan is a table's rows filtered and projected: the rows
    /// (`[ROWTIME, columns...]`) at the newest time complete on every
    /// worker. A key lookup (`WHERE key = ...`, `IN (...)`) seeks; any
    /// other filter scans. `None`: the plan needs a dataflow of its own.
    pub fn pull(
        &self,
        catalog: &Catalog,
        plan: &QueryPlan,
    ) -> Result<Option<Vec<Row>>, EngineError> {
        let (steps, below) = crate::lower::stateless_steps(&plan.plan);
        let Plan::Scan { source } = below else {
            return Ok(None);
        };
        if !matches!(steps.last(), Some(crate::lower::Step::Map(_))) {
            // Rows in the scan layout are not the answer's.
            return Ok(None);
        }
        let Some(table) = catalog
            .source(source)
            .filter(|s| s.kind == SourceKind::Table && s.window.is_none())
        else {
            return Ok(None);
        };
        let first = self.inner.index(source).is_none();
        let state = self.index(catalog, source)?;
        if first {
            // Built just now: let it read what the topic holds first.
            self.wait_caught_up(&state.job.progress, &[&state.job.reader], &|| {
                state.complete()
            })?;
        }
        let keys = lookup_keys(&steps, table.key_arity());
        let time = loop {
            if let Some(t) = state.complete() {
                break t;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let (reply, replies) = mpsc::channel();
        let peek = Arc::new(Peek {
            index: source.clone(),
            time,
            keys,
            reply,
        });
        self.inner.broadcast(|| Command::Peek(peek.clone()))?;
        drop(peek);
        let mut rows = Vec::new();
        for _ in 0..self.inner.config.workers.max(1) {
            let shard = replies
                .recv_timeout(Duration::from_secs(60))
                .map_err(|_| EngineError::Failed("a worker did not answer a peek".into()))?
                .map_err(EngineError::Failed)?;
            rows.extend(shard);
        }
        let mut out = Vec::with_capacity(rows.len());
        let mut logged = Vec::new();
        for row in rows {
            // A failed expression costs the row here as in a dataflow; the
            // error is the caller's to see only in the processing log of a
            // persistent query, so it is traced.
            match crate::lower::apply_steps(&steps, row, &mut logged) {
                Ok(Some(row)) => out.push(row),
                Ok(None) => {}
                Err((_, message)) => tracing::warn!("pull query: {message}"),
            }
        }
        for (_, message) in logged {
            tracing::warn!("pull query: {message}");
        }
        Ok(Some(out))
    }

    /// Waits until every persistent query has read everything its topics
    /// hold and written what it made of it: `ddsql run`'s "caught up",
    /// between statements and at the end. Rows one query writes move the
    /// ends its readers must reach, so it waits until the ends stop moving.
    pub fn barrier(&self) -> Result<(), EngineError> {
        loop {
            let jobs: Vec<Arc<Job>> = lock(&self.inner.jobs)
                .values()
                .filter(|j| j.transient.is_none())
                .cloned()
                .collect();
            let ends = self.ends(&jobs)?;
            for job in &jobs {
                let readers: Vec<_> = job.sources.values().collect();
                let sinks = || {
                    job.sinks
                        .iter()
                        .map(|s| s.writer.frontier())
                        .chain(job.log.iter().map(|(_, w)| w.frontier()))
                        .min()
                        .flatten()
                };
                self.wait_caught_up(&job.progress, &readers, &|| {
                    sinks().map(|t| t.saturating_sub(1)).or(Some(Time::MAX))
                })?;
                if let Some(failure) = job.stats.failure() {
                    return Err(EngineError::Failed(format!("{}: {failure}", job.name)));
                }
            }
            if self.ends(&jobs)? == ends {
                return Ok(());
            }
        }
    }

    fn ends(&self, jobs: &[Arc<Job>]) -> Result<Vec<u64>, EngineError> {
        let transport = self.inner.shared.clock.transport();
        let mut ends = Vec::new();
        for job in jobs {
            for reader in job.sources.values() {
                for p in 0..reader.end_offsets.len() as u32 {
                    ends.push(transport.end_offset(&reader.topic, p)?);
                }
            }
        }
        Ok(ends)
    }

    /// Waits until `readers` have read up to the ends their topics have now
    /// and `done()` (the newest time the job has completed) has passed the
    /// last record each read.
    fn wait_caught_up(
        &self,
        progress: &Progress,
        readers: &[&crate::operators::source::TopicReader],
        done: &dyn Fn() -> Option<Time>,
    ) -> Result<(), EngineError> {
        let transport = self.inner.shared.clock.transport();
        let mut ends = BTreeMap::new();
        for r in readers {
            for p in 0..r.end_offsets.len() as u32 {
                ends.insert((r.origin.clone(), p), transport.end_offset(&r.topic, p)?);
            }
        }
        let started = Instant::now();
        loop {
            let caught_up = {
                let read = lock(&progress.readers);
                let done = done();
                ends.iter().all(|(key, end)| match read.get(key) {
                    Some((next, last)) => {
                        *next >= *end && last.is_none_or(|l| done.is_some_and(|d| d >= l))
                    }
                    None => *end == 0,
                })
            };
            if caught_up {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(3600) {
                return Err(EngineError::Failed(
                    "the queries did not catch up within an hour".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops every job (a live one reads up to the ends its topics have
    /// now, then drains), waits for the workers, and records for every
    /// external partition read that later arrivals come after what was
    /// processed. The report sums every persistent query's counters.
    pub fn shutdown(&self) -> Result<RunReport, EngineError> {
        let jobs = self.inner.stop();
        if let Some(guards) = lock(&self.inner.guards).take() {
            for result in guards.join() {
                result.map_err(|e| EngineError::Failed(format!("a worker failed: {e}")))?;
            }
        }
        let mut report = RunReport::default();
        let mut failure = None;
        for job in jobs.iter().filter(|j| j.transient.is_none()) {
            job.record_end()?;
            report.add(&job.stats);
            failure = failure.or(job.stats.failure());
        }
        lock(&self.inner.jobs).clear();
        lock(&self.inner.shared.indexes).clear();
        self.inner.shared.clock.transport().flush()?;
        match failure {
            Some(f) => Err(EngineError::Failed(f)),
            None => Ok(report),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if lock(&self.guards).is_some() {
            self.stop();
            // The guards, dropped with `self`, wait for the workers.
        }
    }
}

/// The key values a pull query's filter pins, for a table with one key
/// column: `WHERE k = v`, `WHERE k = v OR k = w`, `WHERE k IN (...)`.
fn lookup_keys(steps: &[crate::lower::Step], key_arity: usize) -> Option<Vec<Row>> {
    if key_arity != 1 {
        return None;
    }
    let key = SYSTEM_COLUMNS.len();
    // Only the first step sees the scan layout.
    let crate::lower::Step::Filter(predicate) = steps.first()? else {
        return None;
    };
    fn keys(e: &ScalarExpr, key: usize, out: &mut Vec<Row>) -> bool {
        match e {
            ScalarExpr::Binary(BinaryFunc::Eq, a, b) => match (&**a, &**b) {
                (ScalarExpr::Column(c), ScalarExpr::Literal(v))
                | (ScalarExpr::Literal(v), ScalarExpr::Column(c))
                    if *c == key =>
                {
                    out.push(vec![v.clone()]);
                    true
                }
                _ => false,
            },
            ScalarExpr::Binary(BinaryFunc::Or, a, b) => keys(a, key, out) && keys(b, key, out),
            _ => false,
        }
    }
    let mut out = Vec::new();
    keys(predicate, key, &mut out).then_some(out)
}

/// A running transient query (see [`Runtime::subscribe`]).
pub struct Subscription {
    /// Batches of changes, in time order; closed when the query ends.
    pub changes: mpsc::Receiver<Vec<Change>>,
    stop: Arc<AtomicBool>,
    name: String,
    runtime: Option<Runtime>,
    stats: Arc<crate::Stats>,
    /// The runtime was started for this query alone: shut it down with it.
    own: bool,
}

impl Subscription {
    /// The flag that stops the query, for whoever else may stop it.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Stops the query (a live one runs until stopped or dropped).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the query to end (its changes closed) and reports.
    pub fn join(mut self) -> Result<RunReport, EngineError> {
        while self.changes.recv().is_ok() {}
        self.finish()?;
        if let Some(f) = self.stats.failure() {
            return Err(EngineError::Failed(f));
        }
        let mut report = RunReport::default();
        report.add(&self.stats);
        Ok(report)
    }

    fn finish(&mut self) -> Result<(), EngineError> {
        self.stop();
        let Some(runtime) = self.runtime.take() else {
            return Ok(());
        };
        runtime.drop_job(&self.name)?;
        if self.own {
            runtime.shutdown()?;
        }
        Ok(())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::warn!("stopping {}: {e}", self.name);
        }
    }
}

/// Runs every running persistent query of `catalog` over the records
/// present when it starts, writes their results, and returns once every
/// source is caught up and every result written; with `options.live`,
/// follows the topics until its stop flag is set. Each query runs in a
/// dataflow of its own on a runtime started for the purpose.
pub fn run(
    catalog: &Catalog,
    clock: &Arc<Clock>,
    codecs: Arc<dyn CodecFactory>,
    options: &RunOptions,
) -> Result<RunReport, EngineError> {
    let running = catalog.running();
    if running.queries().is_empty() {
        clock.transport().flush()?;
        return Ok(RunReport::default());
    }
    let runtime = Runtime::start(RuntimeConfig::from(options), clock.clone(), codecs)?;
    let installed = runtime.install_all(catalog, false);
    if installed.is_ok() {
        if let Some(live) = &options.live {
            while !live.stopped() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    let report = runtime.shutdown();
    installed?;
    report
}

/// A transient query on a runtime of its own (see [`Runtime::subscribe`]):
/// for callers without a long-lived runtime.
pub fn subscribe(
    catalog: &Catalog,
    plan: &QueryPlan,
    clock: &Arc<Clock>,
    codecs: Arc<dyn CodecFactory>,
    options: &RunOptions,
) -> Result<Subscription, EngineError> {
    let runtime = Runtime::start(RuntimeConfig::from(options), clock.clone(), codecs)?;
    let mut subscription =
        runtime.subscribe(catalog, plan, options.live.is_some(), options.from_end)?;
    subscription.own = true;
    Ok(subscription)
}
