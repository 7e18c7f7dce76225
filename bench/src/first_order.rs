//! Seed pipeline 2 (first order) at scale, side by side with its baselines.
//!
//! Every system reads the same generated Debezium order events from the
//! same embedded log, decodes them, keeps each user's minimum order id and
//! writes the pipeline's three outputs (the candidate stream, the
//! min-per-user table's changelog with one update per input as ksqlDB
//! emits it, and the first-order stream) back to the log as JSON:
//!
//! - **ddsql**: `bench/first-order.sql`, the workload as it was measured
//!   (its source statement is the seed's verbatim AVRO one when the input
//!   is AVRO);
//! - **handwritten**: one thread, one hash map: the practical limit;
//! - **dd**: the same dataflow as ddsql's lowering (source, filter,
//!   exchange, per-key min, as-of join, sinks), written directly on
//!   timely/differential with typed tuples: the SQL layer's overhead;
//! - **dbsp** (with the `dbsp` feature): Feldera's engine as the peer.
//!
//! Each runs in a child process of its own so its peak memory is its own.
//! After a run the first-order output is read back and compared: every
//! system must name the same users (a count and an order-independent
//! digest), or the figures are not comparable and the bench fails.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use ddsql_engine::io::{Record, Transport};
use ddsql_engine::RunOptions;

use crate::gen::Encoding;
use crate::sys;

pub const INPUT: &str = crate::gen::INPUT_ORDERS;

/// The pipeline's backfill (its two INSERT VALUES): user, order, ROWTIME.
/// The baselines hold them as data, as the SQL script does.
pub const BACKFILL: [(i64, i64, i64); 2] = [(1, 97, 1_740_787_200_000), (2, 60, 1_740_787_200_000)];

/// The systems compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum System {
    Ddsql,
    Handwritten,
    Dd,
    Dbsp,
}

impl System {
    /// The systems this build can run.
    pub fn available() -> Vec<System> {
        let mut all = vec![System::Ddsql, System::Handwritten, System::Dd];
        if cfg!(feature = "dbsp") {
            all.push(System::Dbsp);
        }
        all
    }

    /// The prefix of the topics a system writes; ddsql's are the pipeline's own.
    fn prefix(self) -> &'static str {
        match self {
            System::Ddsql => "",
            System::Handwritten => "HANDWRITTEN.",
            System::Dd => "DD.",
            System::Dbsp => "DBSP.",
        }
    }
}

/// What one system's run measured and wrote.
#[derive(Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub system: System,
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub peak_rss_mb: f64,
    /// Records in the first-order stream.
    pub first_orders: u64,
    /// Per output topic (candidates, the table's changelog, first orders):
    /// its records, and an order-independent digest of their keys and
    /// values. Every system must agree on all three.
    pub outputs: Vec<(String, u64, u64)>,
}

/// The pipeline's output topics, without a system's prefix.
const OUTPUTS: [&str; 3] = [
    "STREAM.ORDER.CANDIDATE",
    "TABLE.MIN_ORDER",
    "STREAM.MIN_ORDER",
];

/// The pipeline's SQL for an input encoding: AVRO reads the seed's own
/// source statement (columns from the Schema Registry).
pub fn pipeline_sql(encoding: Encoding) -> String {
    let sql = include_str!("../first-order.sql");
    match encoding {
        Encoding::Json => sql.to_string(),
        Encoding::Avro => {
            let start = sql
                .find("create stream `stg_order`")
                .expect("the source statement");
            let end = start + sql[start..].find(';').expect("its end") + 1;
            format!(
                "{}create stream `stg_order`\nwith (\n    kafka_topic='TRADE_MYSQL.TRADE.ORDER',\n    value_format='AVRO'\n);{}",
                &sql[..start],
                &sql[end..]
            )
        }
    }
}

/// How the systems run.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub workers: usize,
    pub batch: usize,
    pub max_drift_ms: i64,
}

/// Generates the input, runs each system in a child process, checks they
/// agree and prints the figures.
pub fn bench(
    shape: &crate::gen::Shape,
    encoding: Encoding,
    partitions: u32,
    run: &Run,
    systems: &[System],
    data_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let scratch = crate::gen::Scratch::in_dir(data_dir, encoding)?;
    let connections = &scratch.connections;
    {
        let (transport, _) = connections.open()?;
        let sink = crate::gen::Sink {
            transport: transport.as_ref(),
            registry: scratch.client.as_ref(),
            encoding,
            partitions,
        };
        let started = Instant::now();
        let bytes = crate::gen::orders(&sink, shape, &|n| {
            eprintln!("  generated {n} of {} events", shape.events)
        })?;
        eprintln!(
            "generated {} {encoding:?} order events for {} users (skew {}) in {partitions} partitions: {:.0} MB in {:.1?}",
            shape.events,
            shape.users,
            shape.skew,
            bytes as f64 / 1e6,
            started.elapsed()
        );
    }
    let mut outcomes = Vec::new();
    for &system in systems {
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .arg("first-order-system")
            .args(["--system", &format!("{system:?}").to_lowercase()])
            .arg("--data-dir")
            .arg(&connections.data_dir)
            .args(["--encoding", &format!("{encoding:?}").to_lowercase()])
            .args(["--workers", &run.workers.to_string()])
            .args(["--batch", &run.batch.to_string()])
            .args(["--max-drift-ms", &run.max_drift_ms.to_string()]);
        if let Some(url) = &connections.schema_registry {
            command.args(["--schema-registry-url", url]);
        }
        eprintln!("running {system:?} ...");
        let output = command.stderr(std::process::Stdio::inherit()).output()?;
        anyhow::ensure!(
            output.status.success(),
            "{system:?} failed ({})",
            output.status
        );
        let outcome: Outcome = serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "{system:?}'s outcome: {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })?;
        eprintln!(
            "  {system:?}: {:.2}s ({:.2}s CPU), {:.0} events/s, peak RSS {:.0} MB, {} records written, {} first orders",
            outcome.seconds,
            outcome.cpu_seconds,
            shape.events as f64 / outcome.seconds,
            outcome.peak_rss_mb,
            outcome.outputs.iter().map(|(_, n, _)| n).sum::<u64>(),
            outcome.first_orders
        );
        outcomes.push(outcome);
    }
    // The figures compare only if the answers agree, topic by topic.
    if let Some(first) = outcomes.first() {
        for o in &outcomes[1..] {
            for (a, b) in first.outputs.iter().zip(&o.outputs) {
                anyhow::ensure!(
                    a == b,
                    "{:?} and {:?} disagree on {}: {} and {} records (digests {:x}, {:x})",
                    first.system,
                    o.system,
                    a.0,
                    a.1,
                    b.1,
                    a.2,
                    b.2
                );
            }
        }
    }
    let time = |s: System| outcomes.iter().find(|o| o.system == s).map(|o| o.seconds);
    let ratio = |s: System| match (time(System::Ddsql), time(s)) {
        (Some(a), Some(b)) => format!("{:.2}x", a / b),
        _ => "n/a".into(),
    };
    if let Some(ddsql) = outcomes.iter().find(|o| o.system == System::Ddsql) {
        println!(
            "first-order: {:.0} events/s, peak RSS {:.0} MB, vs-handwritten {}, vs-dd {}, vs-dbsp {}",
            shape.events as f64 / ddsql.seconds,
            ddsql.peak_rss_mb,
            ratio(System::Handwritten),
            ratio(System::Dd),
            ratio(System::Dbsp)
        );
    }
    Ok(())
}

/// Runs one system over the log in `connections`; the child process's work.
pub fn run_system(
    system: System,
    connections: &ddsql::session::Connections,
    encoding: Encoding,
    run: &Run,
) -> anyhow::Result<Outcome> {
    let Run {
        workers,
        batch,
        max_drift_ms,
    } = *run;
    let _sampler = sys::RssSampler::start(&format!("{system:?}"));
    let mut session = ddsql::Session::connect(connections)?;
    let log = session.log().clone();
    let (cpu0, started) = (sys::cpu_seconds(), Instant::now());
    match system {
        System::Ddsql => {
            session
                .execute_script(&pipeline_sql(encoding))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let (cpu0, started) = (sys::cpu_seconds(), Instant::now());
            let report = session.run_until_caught_up(&RunOptions {
                workers,
                batch,
                max_drift_ms,
                ..Default::default()
            })?;
            anyhow::ensure!(
                report.processing_errors == 0,
                "{} processing errors",
                report.processing_errors
            );
            return finish(system, log.as_ref(), started, cpu0);
        }
        System::Handwritten => {
            handwritten(log.as_ref(), encoding)?;
        }
        System::Dd => {
            dd::run(log.clone(), encoding, workers, batch)?;
        }
        #[cfg(feature = "dbsp")]
        System::Dbsp => {
            crate::dbsp_baseline::run(log.as_ref(), encoding, workers)?;
        }
        #[cfg(not(feature = "dbsp"))]
        System::Dbsp => anyhow::bail!(
            "the dbsp baseline is behind the bench's `dbsp` feature: cargo run --release -p ddsql-bench --features dbsp -- ..."
        ),
    };
    finish(system, log.as_ref(), started, cpu0)
}

fn finish(
    system: System,
    log: &dyn Transport,
    started: Instant,
    cpu0: f64,
) -> anyhow::Result<Outcome> {
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = sys::cpu_seconds() - cpu0;
    let outputs = OUTPUTS
        .iter()
        .map(|t| {
            let (n, digest) = digest_topic(log, &format!("{}{t}", system.prefix()))?;
            Ok((t.to_string(), n, digest))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Outcome {
        system,
        seconds,
        cpu_seconds,
        peak_rss_mb: sys::peak_rss_mb(),
        first_orders: outputs[2].1,
        outputs,
    })
}

/// JSON with object keys sorted, so that two writers of the same value
/// write the same text.
fn canonical(bytes: Option<&[u8]>) -> String {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: std::collections::BTreeMap<String, serde_json::Value> =
                    m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    match bytes {
        None => "null".into(),
        Some(b) => match serde_json::from_slice::<serde_json::Value>(b) {
            Ok(v) => sort(v).to_string(),
            Err(_) => format!("{b:?}"),
        },
    }
}

/// The count of a topic's records (every partition) and an
/// order-independent digest of their keys and values.
fn digest_topic(log: &dyn Transport, topic: &str) -> anyhow::Result<(u64, u64)> {
    let (mut count, mut digest) = (0u64, 0u64);
    let mut batch = Vec::new();
    for p in 0..log.partitions(topic)?.unwrap_or(0) {
        let (mut next, end) = (0, log.end_offset(topic, p)?);
        while next < end {
            batch.clear();
            next = log.read(topic, p, next, 65_536, &mut batch)?;
            for f in &batch {
                let text = format!(
                    "{}\u{0}{}",
                    canonical(f.record.key.as_deref()),
                    canonical(f.record.value.as_deref())
                );
                let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
                });
                count += 1;
                digest = digest.wrapping_add(crate::gen::mix(h));
            }
        }
    }
    Ok((count, digest))
}

/// One decoded order event: `(user, order)` of a creation with both set.
pub type Candidate = (i64, i64);

/// Decodes the JSON envelope into a candidate, as `op = 'c' and
/// after->user_id is not null and after->order_id is not null` selects.
pub fn decode_json(value: &[u8]) -> Option<Candidate> {
    #[derive(Deserialize)]
    struct Row {
        order_id: Option<i64>,
        user_id: Option<i64>,
    }
    #[derive(Deserialize)]
    struct Envelope<'a> {
        after: Option<Row>,
        #[serde(borrow)]
        op: &'a str,
    }
    let e: Envelope = serde_json::from_slice(value).ok()?;
    let after = e.after?;
    (e.op == "c").then_some((after.user_id?, after.order_id?))
}

/// Decodes the Avro envelope of [`crate::gen::order_table`] straight from
/// the bytes, reading only what the query needs: the least work possible.
pub fn decode_avro(value: &[u8]) -> Option<Candidate> {
    struct Cursor<'a>(&'a [u8]);
    impl Cursor<'_> {
        fn long(&mut self) -> Option<i64> {
            let (mut n, mut shift) = (0u64, 0);
            loop {
                let (&b, rest) = self.0.split_first()?;
                self.0 = rest;
                n |= ((b & 0x7f) as u64) << shift;
                if b & 0x80 == 0 {
                    return Some((n >> 1) as i64 ^ -((n & 1) as i64));
                }
                shift += 7;
            }
        }
        fn bytes(&mut self) -> Option<&[u8]> {
            let n = self.long()? as usize;
            let (b, rest) = (self.0.get(..n)?, self.0.get(n..)?);
            self.0 = rest;
            Some(b)
        }
        fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
            match self.long()? {
                0 => Some(None),
                _ => read(self).map(Some),
            }
        }
        /// order_id long, user_id, status and created_at nullable.
        fn row(&mut self) -> Option<(i64, Option<i64>)> {
            let order = self.long()?;
            let user = self.nullable(Self::long)?;
            self.nullable(|c| c.bytes().map(drop))?;
            self.nullable(|c| c.bytes().map(drop))?;
            Some((order, user))
        }
    }
    if value.first() != Some(&0) {
        return None;
    }
    let mut c = Cursor(value.get(5..)?);
    c.nullable(Cursor::row)?; // before
    let after = c.nullable(Cursor::row)?;
    // source: version, connector, name, ts_ms, snapshot (string first),
    // db, table (null first), file, pos.
    for _ in 0..3 {
        c.bytes()?;
    }
    c.long()?;
    if c.long()? == 0 {
        c.bytes()?;
    }
    c.bytes()?;
    if c.long()? == 1 {
        c.bytes()?;
    }
    c.bytes()?;
    c.long()?;
    let op = c.bytes()?;
    let (order, user) = after?;
    (op == b"c").then_some((user?, order))
}

pub fn decoder(encoding: Encoding) -> fn(&[u8]) -> Option<Candidate> {
    match encoding {
        Encoding::Json => decode_json,
        Encoding::Avro => decode_avro,
    }
}

/// The three outputs' records, JSON-encoded as ddsql writes them.
pub struct Emitter {
    prefix: &'static str,
    candidates: Vec<Record>,
    table: Vec<Record>,
    first: Vec<Record>,
    pub written: u64,
}

impl Emitter {
    pub fn new(log: &dyn Transport, system: System) -> anyhow::Result<Emitter> {
        let prefix = system.prefix();
        for t in [
            "STREAM.ORDER.CANDIDATE",
            "TABLE.MIN_ORDER",
            "STREAM.MIN_ORDER",
        ] {
            log.create_topic(&format!("{prefix}{t}"), 1)?;
        }
        Ok(Emitter {
            prefix,
            candidates: Vec::new(),
            table: Vec::new(),
            first: Vec::new(),
            written: 0,
        })
    }

    fn record(key: i64, value: std::fmt::Arguments, timestamp: i64) -> Record {
        let mut v = Vec::with_capacity(24);
        let _ = v.write_fmt(value);
        Record {
            key: Some(key.to_string().into_bytes()),
            value: Some(v),
            timestamp,
            headers: vec![],
        }
    }

    pub fn candidate(&mut self, user: i64, order: i64, ts: i64) {
        self.candidates.push(Self::record(
            user,
            format_args!(r#"{{"ORDER_ID":{order}}}"#),
            ts,
        ));
    }

    pub fn table(&mut self, user: i64, min: i64, ts: i64) {
        self.table.push(Self::record(
            user,
            format_args!(r#"{{"MIN_ORDER_ID":{min}}}"#),
            ts,
        ));
    }

    pub fn first(&mut self, user: i64, ts: i64) {
        self.first.push(Self::record(
            user,
            format_args!(r#"{{"MIN_ORDER":true}}"#),
            ts,
        ));
    }

    /// Appends what is buffered, in the order it was emitted.
    pub fn flush(&mut self, log: &dyn Transport) -> anyhow::Result<()> {
        for (topic, records) in [
            ("STREAM.ORDER.CANDIDATE", &mut self.candidates),
            ("TABLE.MIN_ORDER", &mut self.table),
            ("STREAM.MIN_ORDER", &mut self.first),
        ] {
            if !records.is_empty() {
                log.append(&format!("{}{topic}", self.prefix), 0, records)?;
                self.written += records.len() as u64;
                records.clear();
            }
        }
        Ok(())
    }
}

/// Reads a topic's partitions merged in (timestamp, partition, offset)
/// order, as ddsql's logical time orders them, calling `f` per record.
pub fn merged(
    log: &dyn Transport,
    topic: &str,
    mut f: impl FnMut(&Record) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use std::collections::VecDeque;
    let partitions = log.partitions(topic)?.context("no input topic")?;
    let mut parts: Vec<(u64, u64, VecDeque<ddsql_engine::io::Fetched>)> = (0..partitions)
        .map(|p| Ok((0, log.end_offset(topic, p)?, VecDeque::new())))
        .collect::<anyhow::Result<_>>()?;
    let mut fetched = Vec::new();
    loop {
        for (p, (next, end, buf)) in parts.iter_mut().enumerate() {
            if buf.is_empty() && *next < *end {
                fetched.clear();
                *next = log.read(topic, p as u32, *next, 16_384, &mut fetched)?;
                buf.extend(fetched.drain(..));
            }
        }
        let Some(p) = (0..parts.len())
            .filter(|&p| !parts[p].2.is_empty())
            .min_by_key(|&p| parts[p].2[0].record.timestamp)
        else {
            return Ok(());
        };
        // Take every record of `p` up to the next partition's head.
        let bound = (0..parts.len())
            .filter(|&q| q != p && !parts[q].2.is_empty())
            .map(|q| (parts[q].2[0].record.timestamp, q))
            .min();
        let buf = &mut parts[p].2;
        while let Some(head) = buf.front() {
            if bound.is_some_and(|b| (head.record.timestamp, p) > b) {
                break;
            }
            f(&head.record)?;
            buf.pop_front();
        }
    }
}

/// Baseline (a): decode, one hash map, emit.
fn handwritten(log: &dyn Transport, encoding: Encoding) -> anyhow::Result<u64> {
    let decode = decoder(encoding);
    let mut out = Emitter::new(log, System::Handwritten)?;
    let mut min: HashMap<i64, i64> = HashMap::new();
    let mut step = |out: &mut Emitter, user: i64, order: i64, ts: i64| {
        out.candidate(user, order, ts);
        let m = min.entry(user).or_insert(order);
        let first = *m == order;
        if order < *m {
            *m = order;
        }
        out.table(user, *m, ts);
        // The join sees the table after this candidate: first iff it is the min.
        if first || *m == order {
            out.first(user, ts);
        }
    };
    for (user, order, ts) in BACKFILL {
        step(&mut out, user, order, ts);
    }
    let mut n = 0u64;
    merged(log, INPUT, |r| {
        if let Some((user, order)) = r.value.as_deref().and_then(decode) {
            step(&mut out, user, order, r.timestamp);
        }
        n += 1;
        if n.is_multiple_of(65_536) {
            out.flush(log)?;
        }
        Ok(())
    })?;
    out.flush(log)?;
    log.flush()?;
    Ok(out.written)
}

/// Baseline (b): the same dataflow on timely/differential, typed.
pub mod dd {
    use super::*;
    use differential_dataflow::{AsCollection, Hashable, VecCollection};
    use timely::dataflow::channels::pact::{Exchange, Pipeline};
    use timely::dataflow::operators::generic::operator::source;
    use timely::dataflow::operators::generic::Operator;
    use timely::dataflow::operators::Capability;
    use timely::progress::frontier::MutableAntichain;

    use ddsql_engine::time::{event_time, Diff, Time};

    type Item<D> = (D, Time, Diff);

    /// Everything strictly before the least of `frontiers` is complete.
    fn bound(frontiers: &[&MutableAntichain<Time>]) -> Option<Time> {
        frontiers
            .iter()
            .filter_map(|f| f.frontier().iter().min().copied())
            .min()
    }

    /// Moves the complete items out of `pending`, in time order.
    fn complete<D>(pending: &mut Vec<Item<D>>, bound: Option<Time>) -> Vec<Item<D>> {
        pending.sort_unstable_by_key(|u| u.1);
        let split = bound.map_or(pending.len(), |b| pending.partition_point(|u| u.1 < b));
        let rest = pending.split_off(split);
        std::mem::replace(pending, rest)
    }

    fn hold(cap: &mut Option<Capability<Time>>, bound: Option<Time>) {
        match (bound, cap.as_mut()) {
            (Some(b), Some(c)) if *c.time() < b => c.downgrade(&b),
            (None, _) => *cap = None,
            _ => {}
        }
    }

    /// The candidates `(user, order, ts)`: the backfill, then the decoded
    /// input, each worker reading its partitions in merged time order.
    fn candidates<'s>(
        scope: timely::dataflow::Scope<'s, Time>,
        log: Arc<dyn Transport>,
        decode: fn(&[u8]) -> Option<Candidate>,
        batch: usize,
    ) -> anyhow::Result<VecCollection<'s, Time, (i64, i64, i64), Diff>> {
        let (index, peers) = (scope.index(), scope.peers());
        let topic = log.topic_index(INPUT)?;
        let backfill_topic = log.topic_index("DD.STREAM.ORDER.CANDIDATE")?;
        let partitions = log.partitions(INPUT)?.context("no input topic")?;
        let mut parts: Vec<(u32, u64, u64, i64)> = (0..partitions)
            .filter(|p| *p as usize % peers == index)
            .map(|p| Ok((p, 0, log.end_offset(INPUT, p)?, 0)))
            .collect::<anyhow::Result<_>>()?;
        let mut backfill = index == 0;
        Ok(source(scope, "Read orders", move |cap, info| {
            let activator = scope.activator_for(info.address);
            let mut cap = Some(cap);
            let mut fetched = Vec::with_capacity(batch);
            move |output| {
                let Some(c) = cap.as_mut() else { return };
                let mut session = output.session(c);
                if std::mem::take(&mut backfill) {
                    for (i, (user, order, ts)) in BACKFILL.into_iter().enumerate() {
                        session.give((
                            (user, order, ts),
                            event_time(ts, backfill_topic, 0, i as u64),
                            1,
                        ));
                    }
                }
                // One batch from the partition that is furthest behind.
                if let Some((p, next, _, last_ts)) =
                    parts.iter_mut().filter(|p| p.1 < p.2).min_by_key(|p| p.3)
                {
                    fetched.clear();
                    *next = log
                        .read(INPUT, *p, *next, batch, &mut fetched)
                        .expect("reading the log");
                    for f in &fetched {
                        let ts = f.record.timestamp.max(*last_ts);
                        *last_ts = ts;
                        if let Some((user, order)) = f.record.value.as_deref().and_then(decode) {
                            session.give((
                                (user, order, ts),
                                event_time(ts, topic, *p, f.offset),
                                1,
                            ));
                        }
                    }
                }
                drop(session);
                // What a partition with unread records could still produce.
                let least = parts
                    .iter()
                    .filter(|p| p.1 < p.2)
                    .map(|p| event_time(p.3, topic, p.0, p.1))
                    .min();
                match least {
                    Some(t) => {
                        cap.as_mut().expect("held").downgrade(&t);
                        activator.activate();
                    }
                    None => cap = None,
                }
            }
        })
        .as_collection())
    }

    /// Appends a collection's records to one partition, in time order.
    fn sink<'s, D: timely::ExchangeData + Ord>(
        records: VecCollection<'s, Time, D, Diff>,
        log: Arc<dyn Transport>,
        encode: impl Fn(&D, &mut Emitter) + 'static,
        written: Arc<std::sync::atomic::AtomicU64>,
    ) {
        let mut pending = Vec::new();
        let mut out = Emitter::new(log.as_ref(), System::Dd).expect("topics");
        records
            .inner
            .sink(Exchange::new(|_| 0), "Write", move |(input, frontier)| {
                input.for_each(|_, data| pending.append(data));
                for (d, _, _) in complete(&mut pending, bound(&[frontier])) {
                    encode(&d, &mut out);
                }
                let before = out.written;
                out.flush(log.as_ref()).expect("writing the log");
                written.fetch_add(out.written - before, std::sync::atomic::Ordering::Relaxed);
            });
    }

    pub fn run(
        log: Arc<dyn Transport>,
        encoding: Encoding,
        workers: usize,
        batch: usize,
    ) -> anyhow::Result<u64> {
        let decode = decoder(encoding);
        Emitter::new(log.as_ref(), System::Dd)?;
        let written: Vec<Arc<std::sync::atomic::AtomicU64>> =
            (0..3).map(|_| Default::default()).collect();
        let counters = written.clone();
        let shared = log.clone();
        let guards = timely::execute(timely::Config::process(workers.max(1)), move |worker| {
            let (log, written) = (shared.clone(), counters.clone());
            worker.dataflow::<Time, _, _>(|scope| {
                let candidates = candidates(scope, log.clone(), decode, batch).expect("the input");
                sink(
                    candidates.clone(),
                    log.clone(),
                    |&(u, o, ts), out| out.candidate(u, o, ts),
                    written[0].clone(),
                );
                let by_user = |u: &((i64, i64, i64), Time, Diff)| (u.0).0.hashed();
                // Min per user, one table update per input (state per key).
                let table = candidates
                    .inner
                    .clone()
                    .unary_frontier(Exchange::new(by_user), "Min", |cap, _| {
                        let mut cap = Some(cap);
                        let mut pending = Vec::new();
                        let mut min: HashMap<i64, i64> = HashMap::new();
                        move |(input, frontier), output| {
                            input.for_each(|_, data| pending.append(data));
                            let b = bound(&[frontier]);
                            if let Some(c) = cap.as_ref() {
                                let mut session = output.session(c);
                                for ((user, order, ts), t, d) in complete(&mut pending, b) {
                                    let m = min.entry(user).or_insert(order);
                                    *m = (*m).min(order);
                                    session.give(((user, *m, ts), t, d));
                                }
                            }
                            hold(&mut cap, b);
                        }
                    })
                    .as_collection();
                sink(
                    table.clone(),
                    log.clone(),
                    |&(u, m, ts), out| out.table(u, m, ts),
                    written[1].clone(),
                );
                // The stream-table join as of each candidate's time
                // (inclusive: the table already has the candidate).
                let firsts = candidates
                    .inner
                    .binary_frontier(
                        table.inner.clone(),
                        Exchange::new(by_user),
                        Pipeline,
                        "AsOfJoin",
                        |cap, _| {
                            let mut cap = Some(cap);
                            let (mut stream, mut updates) = (Vec::new(), Vec::new());
                            let mut state: HashMap<i64, i64> = HashMap::new();
                            move |(s_in, s_frontier), (t_in, t_frontier), output| {
                                s_in.for_each(|_, data| stream.append(data));
                                t_in.for_each(|_, data| updates.append(data));
                                let b = bound(&[s_frontier, t_frontier]);
                                let mut updates_ready =
                                    complete(&mut updates, b).into_iter().peekable();
                                if let Some(c) = cap.as_ref() {
                                    let mut session = output.session(c);
                                    for ((user, order, ts), t, d) in complete(&mut stream, b) {
                                        while let Some(((u, m, _), _, _)) =
                                            updates_ready.next_if(|u| u.1 <= t)
                                        {
                                            state.insert(u, m);
                                        }
                                        if state.get(&user).is_none_or(|&m| m == order) {
                                            session.give(((user, ts), t, d));
                                        }
                                    }
                                }
                                for ((u, m, _), _, _) in updates_ready {
                                    state.insert(u, m);
                                }
                                hold(&mut cap, b);
                            }
                        },
                    )
                    .as_collection();
                sink(
                    firsts,
                    log.clone(),
                    |&(u, ts), out| out.first(u, ts),
                    written[2].clone(),
                );
            });
        })
        .map_err(anyhow::Error::msg)?;
        for r in guards.join() {
            r.map_err(anyhow::Error::msg)?;
        }
        log.flush()?;
        Ok(written
            .iter()
            .map(|w| w.load(std::sync::atomic::Ordering::Relaxed))
            .sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{order_event, Orders, Shape, Sink};

    /// The baselines' decoders read exactly what the generator wrote:
    /// creates as (user, order), deletes as nothing.
    #[test]
    fn the_baselines_decode_the_generated_orders() {
        let registry = ddsql_connectors::schema_registry::MemoryRegistry::start().unwrap();
        let client = Arc::new(ddsql_connectors::schema_registry::SchemaRegistry::new(
            &registry.url(),
        ));
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = ddsql::session::Connections::embedded(dir.path())
            .open()
            .unwrap();
        let shape = Shape {
            events: 100,
            users: 7,
            skew: 0.5,
            seed: 3,
        };
        for encoding in [Encoding::Json, Encoding::Avro] {
            let sink = Sink {
                transport: log.as_ref(),
                registry: Some(&client),
                encoding,
                partitions: 1,
            };
            let orders = Orders::new(&sink).unwrap();
            for i in 0..shape.events {
                let (_, value) = orders.encode(&shape, i, 0).unwrap();
                let (order, user, op) = order_event(&shape, i);
                let expected = (op == "c").then_some((user, order));
                assert_eq!(
                    decoder(encoding)(&value),
                    expected,
                    "{encoding:?} event {i}"
                );
            }
        }
    }
}
