//! Lowering one job's plans to timely/differential operators.
//!
//! Every catalog source a plan scans becomes a collection in its scan
//! layout (`ROWTIME, ROWPARTITION, ROWOFFSET, columns...`): the records of
//! its topic, decoded and stamped by the reader
//! ([`crate::operators::source`]), or for a table the runtime shares, the
//! rows of its arrangement. Stateful plan nodes get an operator of their
//! own ([`crate::operators`]); a run of stateless nodes (`Filter`, `Map`)
//! becomes one `flat_map`, so a row is copied and checked for errors once
//! per run, not once per node. Each query's output goes to one sink: stream
//! rows become one record each, table rows the table's changelog (upserts
//! and tombstones); a transient query's go to its subscriber.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use differential_dataflow::AsCollection;
use differential_dataflow::VecCollection;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator as _;
use timely::dataflow::{ProbeHandle, Scope};

use ddsql_sql::catalog::{SourceKind, SYSTEM_COLUMNS};
use ddsql_sql::eval;
use ddsql_sql::plan::{JoinKind, Plan, ScalarExpr, Window};
use ddsql_sql::types::{Row, Value};

use crate::io::{Codec, Transport};
use crate::job::{Change, Job, Transient};
use crate::operators::aggregate::{
    aggregate_append_only, aggregate_retracting, aggregate_sessions,
};
use crate::operators::as_of_join::{as_of_join, Table};
use crate::operators::changelog::{changelog, Entry};
use crate::operators::emit_final::emit_final;
use crate::operators::sink::{write_topic, SinkRecord};
use crate::operators::source::{read_topic, SourceItem};
use crate::operators::unmatched::{unmatched, JoinEvent, Side, Waits};
use crate::operators::upsert::{upsert, upserts, Upsert};
use crate::operators::{complete_before, in_time_order, split_errors, Pending};
use crate::time::{Diff, Time};
use crate::{ErrorKind, ProcessingError};

/// Builds `job`'s dataflow in `scope`. `imported` holds the rows of the
/// tables `job` reads from the runtime's shared arrangements.
pub(crate) fn build<'s>(scope: Scope<'s, Time>, job: &Job, imported: HashMap<String, Rows<'s>>) {
    Builder {
        scope,
        job,
        transport: job.clock.transport(),
        sources: imported
            .into_iter()
            .map(|(name, rows)| (name, Flow::rows(rows)))
            .collect(),
        upserts: HashMap::new(),
        outputs: HashMap::new(),
        encoded: HashMap::new(),
        completed: ProbeHandle::new(),
        errors: Vec::new(),
    }
    .build();
}

pub(crate) type Rows<'s> = VecCollection<'s, Time, Row, Diff>;

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

struct Builder<'s, 'j> {
    scope: Scope<'s, Time>,
    job: &'j Job,
    transport: Arc<dyn Transport>,
    /// Every source's flow, the imported tables' from the start.
    sources: HashMap<String, Flow<'s>>,
    /// The records of the tables read from their topics, as upserts.
    upserts: HashMap<String, VecCollection<'s, Time, Upsert, Diff>>,
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
            let records = self.encoded(sink.index).probe_with(&self.completed);
            write_topic(
                records,
                sink.query.clone(),
                sink.writer.clone(),
                sink.written.clone(),
                self.job.stats.clone(),
            );
        }
        self.processing_log();
    }

    fn source(&mut self, name: &str) -> Flow<'s> {
        if let Some(flow) = self.sources.get(name) {
            return flow.clone();
        }
        let flow = match self.job.catalog.source(name).expect("checked").kind {
            SourceKind::Stream => {
                // Rows and tombstones part in one pass, neither copied.
                let (rows, tombstones) = self.read(name).inner.ok_err(|(item, t, d)| match item {
                    SourceItem::Row(row) => Ok((row, t, d)),
                    SourceItem::Delete(row) => Err((row, t, d)),
                });
                Flow {
                    rows: rows.as_collection(),
                    tombstones: Some(tombstones.as_collection()),
                }
            }
            SourceKind::Table => Flow::rows(upsert(self.upserts(name))),
        };
        self.sources.insert(name.to_string(), flow.clone());
        flow
    }

    /// The records of a table read from its topic, as upserts (memoised:
    /// the table's flow and the as-of joins reading it share them).
    fn upserts(&mut self, name: &str) -> VecCollection<'s, Time, Upsert, Diff> {
        if let Some(upserts) = self.upserts.get(name) {
            return upserts.clone();
        }
        let source = self.job.catalog.source(name).expect("checked");
        let keys = SYSTEM_COLUMNS.len()..SYSTEM_COLUMNS.len() + source.key_arity();
        let upserts = upserts(self.read(name), keys);
        self.upserts.insert(name.to_string(), upserts.clone());
        upserts
    }

    /// A source's records, decoded, from its topic.
    fn read(&mut self, name: &str) -> VecCollection<'s, Time, SourceItem, Diff> {
        let (items, errors) = read_topic(
            self.scope,
            self.job.sources[name].clone(),
            self.transport.clone(),
            self.job.stats.clone(),
            self.completed.clone(),
        );
        self.errors.push(errors);
        items
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
        self.map_rows(rows, origin, move |row, _| {
            match key
                .iter()
                .map(|e| eval::eval(e, &row))
                .collect::<Result<Row, _>>()
            {
                Ok(k) if k.iter().any(Value::is_null) => Ok(None),
                Ok(k) => Ok(Some((k, row))),
                Err(e) => Err((rowtime(&row), format!("evaluating the join key: {e}"))),
            }
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
    fn map_rows<F, I, D>(
        &mut self,
        input: Rows<'s>,
        origin: &str,
        f: F,
    ) -> VecCollection<'s, Time, D, Diff>
    where
        F: Fn(Row, &mut Vec<(i64, String)>) -> Result<I, (i64, String)> + 'static,
        I: IntoIterator<Item = D> + 'static,
        D: Clone + 'static,
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
            query_error(ErrorKind::RecordProcessing, &origin, timestamp, message)
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
                let keyed = self.map_rows(input, origin, move |mut row, _| {
                    if session.is_some() {
                        // Placeholders where the window columns would be, so
                        // the bound column numbers hold.
                        row.extend([Value::Null, Value::Null]);
                    }
                    let eval_all = || -> Result<(Row, Row), eval::EvalError> {
                        let key = group_key
                            .iter()
                            .map(|e| eval::eval(e, &row))
                            .collect::<Result<Row, _>>()?;
                        let mut rest = Vec::with_capacity(args.len() + 1);
                        rest.push(row[0].clone());
                        for a in &args {
                            rest.push(match a {
                                Some(e) => eval::eval(e, &row)?,
                                None => Value::Null,
                            });
                        }
                        Ok((key, rest))
                    };
                    let out = eval_all()
                        .map_err(|e| (rowtime(&row), format!("evaluating the aggregation: {e}")))?;
                    // ksqlDB drops rows whose grouping key is NULL.
                    if out.0.iter().any(Value::is_null) {
                        return Ok(None);
                    }
                    Ok(Some(out))
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
                eager,
                left_width,
                right_width,
                kind,
            } => {
                let (before, after, lw, rw) = (*before_ms, *after_ms, *left_width, *right_width);
                if *eager && *kind != JoinKind::Inner {
                    let left = self.plan(left, origin);
                    let right = self.plan(right, origin);
                    let left = self.keyed(left, left_key, origin);
                    let right = self.keyed(right, right_key, origin);
                    return eager_outer_join(left, right, (before, after), (lw, rw), *kind);
                }
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
                // Stream rows with a NULL key never match, not even in a
                // LEFT join: ksqlDB drops them.
                let stream = self.keyed(stream, stream_key, origin);
                let table = match &**table {
                    // A table read from its topic, joined on its key: the
                    // join keeps the table itself.
                    Plan::Scan { source }
                        if !self.sources.contains_key(source)
                            && table_key.iter().copied().eq(SYSTEM_COLUMNS.len()
                                ..SYSTEM_COLUMNS.len()
                                    + self
                                        .job
                                        .catalog
                                        .source(source)
                                        .expect("checked")
                                        .key_arity()) =>
                    {
                        Table::Upserts(self.upserts(source))
                    }
                    table => {
                        let table = self.plan(table, origin);
                        let table_key = table_key.clone();
                        Table::Changes(table.map(move |row| {
                            (
                                table_key.iter().map(|&i| row[i].clone()).collect::<Row>(),
                                row,
                            )
                        }))
                    }
                };
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
                    changelog(rows, key_arity, window).map(move |entry| match entry {
                        Entry::Upsert(row) => {
                            let timestamp = record_timestamp(&row)?;
                            codec
                                .encode(&row[1..])
                                .map(|(k, v)| route(k, v, timestamp))
                                .map_err(|e| (timestamp, format!("encoding the result: {e}")))
                        }
                        Entry::Tombstone { key, rowtime } => codec
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
            query_error(ErrorKind::Serialization, &origin, timestamp, message)
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
            .map(|entry| match entry {
                Entry::Upsert(row) => Change::Row(row),
                Entry::Tombstone { key, .. } => Change::Delete { key },
            }),
        };
        // Every change goes to worker 0, whose operator alone holds the
        // channel: it closes when the dataflow ends.
        let sender = match self.scope.index() {
            0 => t.changes.lock().unwrap_or_else(|p| p.into_inner()).take(),
            _ => None,
        };
        let stop = t.stop.clone();
        let mut pending = Pending::default();
        changes.probe_with(&self.completed).inner.sink(
            timely::dataflow::channels::pact::Exchange::new(|_: &(Change, Time, Diff)| 0),
            "Subscriber",
            move |(input, frontier)| {
                input.for_each(|_, data| pending.push(data));
                let ready = pending.take(complete_before(&[frontier]));
                if ready.is_empty() {
                    return;
                }
                let mut batch = Vec::with_capacity(ready.len());
                for (change, _, diff) in ready {
                    batch.extend(std::iter::repeat_n(change, diff.max(0) as usize));
                }
                if sender.as_ref().is_none_or(|s| s.send(batch).is_err()) {
                    stop.store(true, Ordering::Relaxed);
                }
            },
        );
    }

    fn processing_log(&mut self) {
        let stats = self.job.stats.clone();
        let errors = differential_dataflow::collection::concatenate(
            self.scope,
            std::mem::take(&mut self.errors),
        );
        let Some((log_written, log_writer)) = self.job.log.clone() else {
            // A transient query's errors are counted and traced only.
            errors.inspect(move |(e, _, _)| {
                stats.add_errors(1);
                tracing::warn!(origin = %e.origin, topic = ?e.topic, partition = ?e.partition, offset = ?e.offset, "{}", e.message);
            });
            return;
        };
        let query = self.job.name.clone();
        let records = errors.map(move |e| {
            stats.add_errors(1);
            tracing::warn!(origin = %e.origin, topic = ?e.topic, partition = ?e.partition, offset = ?e.offset, "{}", e.message);
            let value = e.entry(&query);
            SinkRecord { partition: 0, key: None, value: Some(value.to_string().into_bytes()), timestamp: e.timestamp }
        });
        let records = records.probe_with(&self.completed);
        write_topic(
            records,
            self.job.name.clone(),
            log_writer,
            log_written,
            self.job.stats.clone(),
        );
    }
}

fn query_error(kind: ErrorKind, origin: &str, timestamp: i64, message: String) -> ProcessingError {
    ProcessingError {
        kind,
        origin: origin.to_string(),
        topic: None,
        partition: None,
        offset: None,
        timestamp,
        message,
    }
}

/// A filter or a projection: what [`apply_steps`] runs.
pub(crate) enum Step {
    Filter(ScalarExpr),
    Map(Vec<ScalarExpr>),
}

/// The filters and projections at the top of `plan`, innermost first, and
/// the plan below them.
pub(crate) fn stateless_steps(mut plan: &Plan) -> (Vec<Step>, &Plan) {
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
pub(crate) fn apply_steps(
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

/// An outer stream-stream join without GRACE PERIOD, as ksqlDB runs it
/// ("left/outer join results are emitted eagerly", its join page says):
/// every pair once, at the later record's time, as in the inner join; and
/// each kept side's row that found no partner among the other side's rows
/// before it, at once, the other side NULL, never withdrawn. A stream only
/// grows, so each row's logical time can travel as data: a pair was found
/// on arrival by whichever of its two records came second.
fn eager_outer_join<'s>(
    left: VecCollection<'s, Time, (Row, Row), Diff>,
    right: VecCollection<'s, Time, (Row, Row), Diff>,
    (before, after): (i64, i64),
    (left_width, right_width): (usize, usize),
    kind: JoinKind,
) -> VecCollection<'s, Time, Row, Diff> {
    use timely::dataflow::operators::vec::Map as _;
    let stamp = |rows: VecCollection<'s, Time, (Row, Row), Diff>| {
        rows.inner
            .map(|((key, row), t, d)| ((key, (row, t)), t, d))
            .as_collection()
    };
    let (left, right) = (stamp(left), stamp(right));
    let pairs = left
        .clone()
        .join(right.clone())
        .flat_map(move |(_, ((l, lt), (r, rt)))| {
            let (a, b) = (rowtime(&l), rowtime(&r));
            (a.saturating_sub(before) <= b && b <= a.saturating_add(after))
                .then_some(((l, lt), (r, rt)))
        });
    let mut out = pairs.clone().map(|((mut l, _), (r, _))| {
        let lt = rowtime(&l);
        l[0] = Value::BigInt(lt.max(rowtime(&r)));
        l.extend(r);
        l.push(Value::BigInt(lt));
        l
    });
    if kind.keeps_left() {
        let found = pairs
            .clone()
            .flat_map(|((l, lt), (_, rt))| (rt <= lt).then_some((l, lt)))
            .distinct();
        let alone = left
            .map(|(_, row)| (row, ()))
            .antijoin(found)
            .map(move |((l, _), ())| left_alone(l, right_width))
            // An antijoin is its input less a semijoin: the row and its
            // cancellation arrive at one time, which sinks must not see.
            .consolidate();
        out = out.concat(alone);
    }
    if kind.keeps_right() {
        let found = pairs
            .flat_map(|((_, lt), (r, rt))| (lt <= rt).then_some((r, rt)))
            .distinct();
        let alone = right
            .map(|(_, row)| (row, ()))
            .antijoin(found)
            .map(move |((r, _), ())| right_alone(r, left_width))
            .consolidate();
        out = out.concat(alone);
    }
    out
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
