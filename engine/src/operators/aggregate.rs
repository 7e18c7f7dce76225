//! Aggregation over an append-only stream, with state per key.
//!
//! Differential dataflow's `reduce` keeps every input record so it can
//! retract; a stream never retracts, so `min(order_id) GROUP BY user_id`
//! over 100 million orders needs only one accumulator per user. Updates are
//! applied in time order once complete; each change of a key's result is
//! emitted as a retraction of the old row and an insertion of the new one
//! at the input record's time, so the output is an ordinary table
//! collection that passes through every state ksqlDB would show.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use differential_dataflow::{AsCollection, Hashable, VecCollection};
use timely::dataflow::operators::core::Filter;

use ddsql_sql::eval;
use ddsql_sql::plan::{AggregateCall, AggregateFunc, BinaryFunc};
use ddsql_sql::types::{Row, SqlType, Value, F64};

use super::in_time_order;
use crate::time::{Diff, Time};

/// Input rows are `(key, [rowtime, arg_0, arg_1, ...])`, one argument per
/// aggregate (NULL for `COUNT(*)`). Output rows are
/// `[rowtime, key..., result_0, result_1, ...]`, where rowtime is the
/// latest input's.
pub fn aggregate_append_only<'s>(
    input: VecCollection<'s, Time, (Row, Row), Diff>,
    aggregates: Arc<Vec<AggregateCall>>,
) -> VecCollection<'s, Time, Row, Diff> {
    let mut state: HashMap<Row, (i64, Vec<Accumulator>), ahash::RandomState> = HashMap::default();
    in_time_order(
        input,
        "AggregateAppendOnly",
        |(key, _): &(Row, Row)| key.hashed(),
        move |ready, out| {
            for ((key, args), time, diff) in ready {
                if diff <= 0 {
                    // Streams only append; the binder sends tables elsewhere.
                    tracing::error!("append-only aggregate got a retraction; ignored");
                    continue;
                }
                let rowtime = match args.first() {
                    Some(Value::BigInt(t)) => *t,
                    _ => 0,
                };
                let add = |(max_time, accs): &mut (i64, Vec<Accumulator>)| {
                    for _ in 0..diff {
                        for (acc, arg) in accs.iter_mut().zip(&args[1..]) {
                            acc.add(arg);
                        }
                    }
                    *max_time = (*max_time).max(rowtime);
                    output_row(*max_time, &key, accs)
                };
                // One lookup for a key seen before (the common case).
                let (old, new) = match state.get_mut(&key) {
                    Some(entry) => (Some(output_row(entry.0, &key, &entry.1)), add(entry)),
                    None => {
                        let mut entry =
                            (i64::MIN, aggregates.iter().map(Accumulator::new).collect());
                        let new = add(&mut entry);
                        state.insert(key, entry);
                        (None, new)
                    }
                };
                match old {
                    Some(old) if old == new => {}
                    Some(old) => {
                        out.push((old, time, -1));
                        out.push((new, time, 1));
                    }
                    None => out.push((new, time, 1)),
                }
            }
        },
    )
}

/// Aggregation over a table, whose rows come and go: differential
/// dataflow's `reduce` keeps the input rows arranged by group and recomputes
/// a group's result from its current rows whenever they change. Same input
/// and output layouts as [`aggregate_append_only`]; functions whose result
/// depends on arrival order (the binder refuses `*_BY_OFFSET` here) see the
/// rows in value order.
pub fn aggregate_retracting<'s>(
    input: VecCollection<'s, Time, (Row, Row), Diff>,
    aggregates: Arc<Vec<AggregateCall>>,
) -> VecCollection<'s, Time, Row, Diff> {
    // ksqlDB never deletes a group of a table aggregate: emptied by
    // retractions it shows its initial values (a COUNT of 0). An empty row,
    // added with every insertion and never retracted, marks a group that
    // has existed; it consolidates to one entry per group.
    let seen = input.clone().flat_map(|(key, _)| Some((key, Row::new())));
    let seen = seen
        .inner
        .filter(|(_, _, d): &(_, _, Diff)| *d > 0)
        .as_collection();
    input
        .concat(seen)
        .reduce(move |key, rows, output| {
            let mut accs: Vec<Accumulator> = aggregates.iter().map(Accumulator::new).collect();
            let mut max_time = 0;
            for (args, count) in rows {
                if *count <= 0 || args.is_empty() {
                    continue;
                }
                if let Some(Value::BigInt(t)) = args.first() {
                    max_time = max_time.max(*t);
                }
                for _ in 0..*count {
                    for (acc, arg) in accs.iter_mut().zip(&args[1..]) {
                        acc.add(arg);
                    }
                }
            }
            output.push((output_row(max_time, key, &accs), 1));
        })
        .map(|(_key, row)| row)
}

/// Aggregation over SESSION windows of an append-only stream: a key's rows
/// at most `gap` ms apart share a session, from the first ROWTIME to the
/// last. Input as for [`aggregate_append_only`]; output rows are
/// `[end, key..., start, end, result_0, ...]`, the session's end being its
/// latest ROWTIME.
///
/// A row that bridges sessions merges them, as Kafka Streams does: each
/// old session's row is retracted (its tombstone in the changelog) and the
/// merged one inserted. A row whose merged session ends before the close
/// time (stream time less grace and gap) is late and dropped, and a session
/// that ended before it is forgotten, so later rows start a new one.
///
/// Stream time is one for the whole input (the rows meet on one worker, in
/// time order), so the sessions do not depend on the worker count.
///
/// Sessions keep their rows: merging two sessions' accumulators is
/// replaying both sessions' rows (earlier session first), which works for
/// every aggregate without a merge function of its own.
pub fn aggregate_sessions<'s>(
    input: VecCollection<'s, Time, (Row, Row), Diff>,
    aggregates: Arc<Vec<AggregateCall>>,
    gap: i64,
    grace: i64,
) -> VecCollection<'s, Time, Row, Diff> {
    struct Session {
        start: i64,
        end: i64,
        rows: Vec<Row>,
        accs: Vec<Accumulator>,
    }
    impl Session {
        fn output(&self, key: &Row) -> Row {
            let mut key = key.clone();
            key.extend([Value::BigInt(self.start), Value::BigInt(self.end)]);
            output_row(self.end, &key, &self.accs)
        }
        fn add(&mut self, args: Row) {
            for (acc, arg) in self.accs.iter_mut().zip(&args[1..]) {
                acc.add(arg);
            }
            self.rows.push(args);
        }
    }
    // Per key, its open sessions by start.
    let mut sessions: HashMap<Row, Vec<Session>, ahash::RandomState> = HashMap::default();
    let mut stream_time = i64::MIN;
    let mut since_sweep = 0usize;
    in_time_order(
        input,
        "AggregateSessions",
        |_| 0,
        move |ready, out| {
            for ((key, args), time, diff) in ready {
                if diff <= 0 {
                    tracing::error!("session aggregate got a retraction; ignored");
                    continue;
                }
                let ts = match args.first() {
                    Some(Value::BigInt(t)) => *t,
                    _ => 0,
                };
                stream_time = stream_time.max(ts);
                let close = stream_time.saturating_sub(grace).saturating_sub(gap);
                // Forgetting closed sessions: this key's now, every key's
                // once per as many rows as there are keys (amortised O(1)).
                since_sweep += 1;
                if since_sweep >= sessions.len() {
                    since_sweep = 0;
                    sessions.retain(|_, open| {
                        open.retain(|s| s.end >= close);
                        !open.is_empty()
                    });
                }
                let open = sessions.entry(key.clone()).or_default();
                open.retain(|s| s.end >= close);
                for _ in 0..diff {
                    let (merged, kept): (Vec<Session>, Vec<Session>) = std::mem::take(open)
                        .into_iter()
                        .partition(|s| s.end >= ts - gap && s.start <= ts + gap);
                    *open = kept;
                    let start = merged.iter().map(|s| s.start).fold(ts, i64::min);
                    let end = merged.iter().map(|s| s.end).fold(ts, i64::max);
                    if end < close {
                        // Late: Kafka Streams drops it (and the sessions stay).
                        open.extend(merged);
                        open.sort_by_key(|s| s.start);
                        continue;
                    }
                    for s in &merged {
                        out.push((s.output(&key), time, -1));
                    }
                    let mut session = if merged.len() == 1 {
                        merged.into_iter().next().expect("one")
                    } else {
                        let mut fresh = Session {
                            start,
                            end,
                            rows: Vec::new(),
                            accs: aggregates.iter().map(Accumulator::new).collect(),
                        };
                        for row in merged.into_iter().flat_map(|s| s.rows) {
                            fresh.add(row);
                        }
                        fresh
                    };
                    (session.start, session.end) = (start, end);
                    session.add(args.clone());
                    out.push((session.output(&key), time, 1));
                    let at = open.partition_point(|s| s.start < start);
                    open.insert(at, session);
                }
            }
        },
    )
}

/// What TOPK ranks a value by: the value, or a struct's first field.
fn topk_rank(v: &Value, by_first_field: bool) -> &Value {
    match v {
        Value::Struct(fields) if by_first_field => fields.first().unwrap_or(&Value::Null),
        v => v,
    }
}

fn output_row(rowtime: i64, key: &Row, accs: &[Accumulator]) -> Row {
    let mut row = Vec::with_capacity(1 + key.len() + accs.len());
    row.push(Value::BigInt(rowtime));
    row.extend(key.iter().cloned());
    row.extend(accs.iter().map(Accumulator::value));
    row
}

/// The running state of one aggregate for one key. State is per key, not
/// per event, except where the result itself grows (`COLLECT_LIST`).
#[derive(Clone, Debug)]
pub enum Accumulator {
    Count {
        count: i64,
        star: bool,
    },
    Sum(Value),
    Avg {
        sum: f64,
        count: i64,
    },
    Min(Value),
    Max(Value),
    /// The latest values, oldest first; `keep` values at most, and the
    /// result is a scalar when `array` is false.
    Latest {
        values: VecDeque<Value>,
        keep: usize,
        array: bool,
        ignore_nulls: bool,
    },
    Earliest {
        values: Vec<Value>,
        keep: usize,
        array: bool,
        ignore_nulls: bool,
    },
    CollectList(Vec<Value>),
    CollectSet {
        order: Vec<Value>,
        seen: BTreeSet<Value>,
    },
    /// The largest values, largest first; ties keep arrival order.
    TopK {
        values: Vec<Value>,
        k: usize,
        distinct: bool,
        /// `TOPK(value, col0, ..., k)`: the values are structs ranked by
        /// their first field (`sort_col`), and a NULL there is skipped.
        by_first_field: bool,
    },
    CountDistinct(BTreeSet<Value>),
    /// Welford's running mean and sum of squared deviations.
    Stddev {
        count: i64,
        mean: f64,
        m2: f64,
    },
    /// Each distinct string's count.
    Histogram(BTreeMap<Value, i64>),
    /// The first value (NULL included), and whether another has differed.
    Attr {
        first: Option<Value>,
        mixed: bool,
    },
    SumList(Value),
    /// The sums of CORRELATION's single-pass formula, over the rows where
    /// both numbers are non-NULL.
    Correlation {
        n: f64,
        x: f64,
        y: f64,
        xx: f64,
        yy: f64,
        xy: f64,
    },
}

/// ksqlDB's HISTOGRAM counts at most this many distinct strings.
const HISTOGRAM_LIMIT: usize = 1000;

impl Accumulator {
    pub fn new(call: &AggregateCall) -> Accumulator {
        let keep = call.n.unwrap_or(1);
        let array = call.n.is_some();
        match call.func {
            AggregateFunc::Count => Accumulator::Count {
                count: 0,
                star: call.arg.is_none(),
            },
            AggregateFunc::Sum => Accumulator::Sum(match &call.ty {
                SqlType::Int => Value::Int(0),
                SqlType::BigInt => Value::BigInt(0),
                SqlType::Double => Value::Double(F64(0.0)),
                SqlType::Decimal { scale, .. } => Value::Decimal(0, *scale),
                _ => Value::Null,
            }),
            AggregateFunc::Avg => Accumulator::Avg { sum: 0.0, count: 0 },
            AggregateFunc::Min => Accumulator::Min(Value::Null),
            AggregateFunc::Max => Accumulator::Max(Value::Null),
            AggregateFunc::LatestByOffset => Accumulator::Latest {
                values: VecDeque::new(),
                keep,
                array,
                ignore_nulls: call.ignore_nulls,
            },
            AggregateFunc::EarliestByOffset => Accumulator::Earliest {
                values: Vec::new(),
                keep,
                array,
                ignore_nulls: call.ignore_nulls,
            },
            AggregateFunc::CollectList => Accumulator::CollectList(Vec::new()),
            AggregateFunc::CollectSet => Accumulator::CollectSet {
                order: Vec::new(),
                seen: BTreeSet::new(),
            },
            AggregateFunc::TopK | AggregateFunc::TopKDistinct => Accumulator::TopK {
                values: Vec::new(),
                k: keep,
                distinct: call.func == AggregateFunc::TopKDistinct,
                // Only TOPK's multi-column form ranks structs: the binder
                // refuses a STRUCT as the ranked value.
                by_first_field: matches!(&call.ty, SqlType::Array(t) if matches!(**t, SqlType::Struct(_))),
            },
            AggregateFunc::CountDistinct => Accumulator::CountDistinct(BTreeSet::new()),
            AggregateFunc::StddevSamp => Accumulator::Stddev {
                count: 0,
                mean: 0.0,
                m2: 0.0,
            },
            AggregateFunc::Histogram => Accumulator::Histogram(BTreeMap::new()),
            AggregateFunc::Correlation => Accumulator::Correlation {
                n: 0.0,
                x: 0.0,
                y: 0.0,
                xx: 0.0,
                yy: 0.0,
                xy: 0.0,
            },
            AggregateFunc::Attr => Accumulator::Attr {
                first: None,
                mixed: false,
            },
            AggregateFunc::SumList => Accumulator::SumList(match &call.ty {
                SqlType::Int => Value::Int(0),
                SqlType::BigInt => Value::BigInt(0),
                _ => Value::Double(F64(0.0)),
            }),
        }
    }

    /// Folds in one input value (in time order). NULLs are ignored, as
    /// ksqlDB's aggregates ignore them, unless told otherwise.
    pub fn add(&mut self, v: &Value) {
        match self {
            Accumulator::Count { count, star } => {
                if *star || !v.is_null() {
                    *count += 1
                }
            }
            Accumulator::Latest {
                values,
                keep,
                ignore_nulls: false,
                ..
            } => {
                values.push_back(v.clone());
                if values.len() > *keep {
                    values.pop_front();
                }
            }
            Accumulator::Earliest {
                values,
                keep,
                ignore_nulls: false,
                ..
            } => {
                if values.len() < *keep {
                    values.push(v.clone())
                }
            }
            // Unlike the others, the collections (and ATTR) keep NULLs.
            Accumulator::Attr { first, mixed } => match first {
                None => *first = Some(v.clone()),
                Some(f) => *mixed |= f != v,
            },
            Accumulator::CollectList(items) => items.push(v.clone()),
            Accumulator::CollectSet { order, seen } => {
                if seen.insert(v.clone()) {
                    order.push(v.clone());
                }
            }
            _ if v.is_null() => {}
            Accumulator::Sum(s) => match eval::binary(BinaryFunc::Add, s, v) {
                Ok(sum) => *s = sum,
                // ksqlDB's SUM wraps on overflow; we keep the last sum and say so.
                Err(e) => tracing::warn!("SUM: {e}; the sum keeps its previous value"),
            },
            Accumulator::Avg { sum, count } => {
                if let Ok(Value::Double(d)) = eval::cast(v, &SqlType::Double) {
                    *sum += d.0;
                    *count += 1;
                }
            }
            Accumulator::Min(m) => {
                if m.is_null() || eval::compare(v, m) == Some(Ordering::Less) {
                    *m = v.clone()
                }
            }
            Accumulator::Max(m) => {
                if m.is_null() || eval::compare(v, m) == Some(Ordering::Greater) {
                    *m = v.clone()
                }
            }
            Accumulator::Latest { values, keep, .. } => {
                values.push_back(v.clone());
                if values.len() > *keep {
                    values.pop_front();
                }
            }
            Accumulator::Earliest { values, keep, .. } => {
                if values.len() < *keep {
                    values.push(v.clone())
                }
            }
            Accumulator::TopK {
                values,
                k,
                distinct,
                by_first_field,
            } => {
                if *distinct && values.contains(v) {
                    return;
                }
                let by_first = *by_first_field;
                let key = topk_rank(v, by_first);
                if key.is_null() {
                    return;
                }
                let at = values.partition_point(|x| {
                    eval::compare(topk_rank(x, by_first), key) != Some(Ordering::Less)
                });
                if at < *k {
                    values.insert(at, v.clone());
                    values.truncate(*k);
                }
            }
            Accumulator::CountDistinct(seen) => {
                seen.insert(v.clone());
            }
            Accumulator::Stddev { count, mean, m2 } => {
                if let Ok(Value::Double(x)) = eval::cast(v, &SqlType::Double) {
                    *count += 1;
                    let delta = x.0 - *mean;
                    *mean += delta / *count as f64;
                    *m2 += delta * (x.0 - *mean);
                }
            }
            Accumulator::Histogram(counts) => {
                if let Some(n) = counts.get_mut(v) {
                    *n += 1;
                } else if counts.len() < HISTOGRAM_LIMIT {
                    counts.insert(v.clone(), 1);
                }
            }
            Accumulator::Correlation {
                n,
                x,
                y,
                xx,
                yy,
                xy,
            } => {
                if let Value::Struct(pair) = v {
                    if let [Value::Double(a), Value::Double(b)] = pair.as_slice() {
                        let (a, b) = (a.0, b.0);
                        *n += 1.0;
                        *x += a;
                        *y += b;
                        *xx += a * a;
                        *yy += b * b;
                        *xy += a * b;
                    }
                }
            }
            Accumulator::SumList(sum) => {
                let Value::Array(items) = v else { return };
                for item in items.iter().filter(|i| !i.is_null()) {
                    match eval::binary(BinaryFunc::Add, sum, item) {
                        Ok(s) => *sum = s,
                        Err(e) => tracing::warn!("SUM_LIST: {e}; the sum keeps its previous value"),
                    }
                }
            }
        }
    }

    pub fn value(&self) -> Value {
        match self {
            Accumulator::Count { count, .. } => Value::BigInt(*count),
            Accumulator::Sum(v) | Accumulator::Min(v) | Accumulator::Max(v) => v.clone(),
            Accumulator::Avg { sum, count } => {
                if *count == 0 {
                    Value::Null
                } else {
                    Value::Double(F64(sum / *count as f64))
                }
            }
            Accumulator::Latest {
                values,
                array: true,
                ..
            } => Value::Array(values.iter().cloned().collect()),
            Accumulator::Latest { values, .. } => values.back().cloned().unwrap_or(Value::Null),
            Accumulator::Earliest {
                values,
                array: true,
                ..
            } => Value::Array(values.clone()),
            Accumulator::Earliest { values, .. } => values.first().cloned().unwrap_or(Value::Null),
            Accumulator::CollectList(items) => Value::Array(items.clone()),
            Accumulator::CollectSet { order, .. } => Value::Array(order.clone()),
            Accumulator::TopK { values, .. } => Value::Array(values.clone()),
            Accumulator::CountDistinct(seen) => Value::BigInt(seen.len() as i64),
            // As ksqlDB: 0.0, not NULL, for fewer than two values.
            Accumulator::Stddev { count, .. } if *count < 2 => Value::Double(F64(0.0)),
            Accumulator::Stddev { count, m2, .. } => {
                Value::Double(F64((m2 / (*count - 1) as f64).sqrt()))
            }
            Accumulator::Histogram(counts) => Value::Map(
                counts
                    .iter()
                    .map(|(v, n)| (v.clone(), Value::BigInt(*n)))
                    .collect(),
            ),
            Accumulator::Attr { first, mixed } => match (first, mixed) {
                (Some(v), false) => v.clone(),
                _ => Value::Null,
            },
            Accumulator::SumList(sum) => sum.clone(),
            Accumulator::Correlation {
                n,
                x,
                y,
                xx,
                yy,
                xy,
            } => {
                let r = (n * xy - x * y) / ((n * xx - x * x) * (n * yy - y * y)).sqrt();
                // ksqlDB's NaN (fewer than two rows, or a constant column)
                // has no JSON or Avro form; NULL says "undefined".
                if r.is_finite() {
                    Value::Double(F64(r))
                } else {
                    Value::Null
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddsql_sql::plan::ScalarExpr;

    fn item(sort: Option<i64>, name: &str) -> Value {
        Value::Struct(vec![
            sort.map_or(Value::Null, Value::BigInt),
            Value::String(name.into()),
        ])
    }

    /// `TOPK(value, name, 2)`: ranked by the value alone, ties in arrival
    /// order, a NULL value skipped, the carried column along for the ride.
    #[test]
    fn topk_with_carried_columns_ranks_by_the_first_field() {
        let ty = SqlType::Array(Box::new(SqlType::Struct(vec![
            ("sort_col".into(), SqlType::BigInt),
            ("col0".into(), SqlType::String),
        ])));
        let call = AggregateCall {
            func: AggregateFunc::TopK,
            arg: Some(ScalarExpr::Column(0)),
            ty,
            n: Some(2),
            ignore_nulls: true,
        };
        let mut acc = Accumulator::new(&call);
        // "z" would rank first if whole structs were compared.
        for v in [
            item(Some(5), "a"),
            item(None, "z"),
            item(Some(7), "b"),
            item(Some(5), "c"),
        ] {
            acc.add(&v);
        }
        assert_eq!(
            acc.value(),
            Value::Array(vec![item(Some(7), "b"), item(Some(5), "a")])
        );
    }
}
