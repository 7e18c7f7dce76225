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
use std::collections::HashMap;
use std::sync::Arc;

use differential_dataflow::{AsCollection, Hashable, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use ddsql_sql::eval;
use ddsql_sql::plan::{AggregateCall, AggregateFunc, BinaryFunc};
use ddsql_sql::types::{Row, SqlType, Value, F64};

use super::{advance, complete_before, take_complete};
use crate::time::{Diff, Time};

/// Input rows are `(key, [rowtime, arg_0, arg_1, ...])`, one argument per
/// aggregate (NULL for `COUNT(*)`). Output rows are
/// `[rowtime, key..., result_0, result_1, ...]`, where rowtime is the
/// latest input's.
pub fn aggregate_append_only<'s>(
    input: VecCollection<'s, Time, (Row, Row), Diff>,
    aggregates: Arc<Vec<AggregateCall>>,
) -> VecCollection<'s, Time, Row, Diff> {
    input
        .inner
        .unary_frontier(
            Exchange::new(|u: &((Row, Row), Time, Diff)| (u.0).0.hashed()),
            "AggregateAppendOnly",
            move |cap, _info| {
                let mut cap = Some(cap);
                let mut pending = Vec::new();
                let mut state: HashMap<Row, (i64, Vec<Accumulator>)> = HashMap::new();
                move |(input, frontier), output| {
                    input.for_each(|_, data| pending.append(data));
                    let bound = complete_before(&[frontier]);
                    let ready = take_complete(&mut pending, bound);
                    if let Some(cap) = cap.as_ref() {
                        let mut session = output.session(cap);
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
                            let entry = state.entry(key.clone());
                            let (old, (max_time, accs)) = match entry {
                                std::collections::hash_map::Entry::Occupied(o) => {
                                    let (t, accs) = o.into_mut();
                                    (Some(output_row(*t, &key, accs)), (t, accs))
                                }
                                std::collections::hash_map::Entry::Vacant(v) => {
                                    let (t, accs) = v.insert((
                                        i64::MIN,
                                        aggregates.iter().map(Accumulator::new).collect(),
                                    ));
                                    (None, (t, accs))
                                }
                            };
                            for _ in 0..diff {
                                for (acc, arg) in accs.iter_mut().zip(&args[1..]) {
                                    acc.add(arg);
                                }
                            }
                            *max_time = (*max_time).max(rowtime);
                            let new = output_row(*max_time, &key, accs);
                            match old {
                                Some(old) if old == new => {}
                                Some(old) => {
                                    session.give((old, time, -1));
                                    session.give((new, time, 1));
                                }
                                None => session.give((new, time, 1)),
                            }
                        }
                    }
                    advance(&mut cap, bound);
                }
            },
        )
        .as_collection()
}

fn output_row(rowtime: i64, key: &Row, accs: &[Accumulator]) -> Row {
    let mut row = Vec::with_capacity(1 + key.len() + accs.len());
    row.push(Value::BigInt(rowtime));
    row.extend(key.iter().cloned());
    row.extend(accs.iter().map(Accumulator::value));
    row
}

/// The running state of one aggregate for one key.
#[derive(Clone, Debug)]
pub enum Accumulator {
    Count { count: i64, star: bool },
    Sum(Value),
    Min(Value),
    Max(Value),
    Latest(Value),
    Earliest(Value),
}

impl Accumulator {
    pub fn new(call: &AggregateCall) -> Accumulator {
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
            AggregateFunc::Min => Accumulator::Min(Value::Null),
            AggregateFunc::Max => Accumulator::Max(Value::Null),
            AggregateFunc::LatestByOffset => Accumulator::Latest(Value::Null),
            AggregateFunc::EarliestByOffset => Accumulator::Earliest(Value::Null),
        }
    }

    /// Folds in one input value (in time order). NULLs are ignored, as
    /// ksqlDB's aggregates ignore them.
    pub fn add(&mut self, v: &Value) {
        match self {
            Accumulator::Count { count, star } => {
                if *star || !v.is_null() {
                    *count += 1
                }
            }
            _ if v.is_null() => {}
            Accumulator::Sum(s) => match eval::binary(BinaryFunc::Add, s, v) {
                Ok(sum) => *s = sum,
                // ksqlDB's SUM wraps on overflow; we keep the last sum and say so.
                Err(e) => tracing::warn!("SUM: {e}; the sum keeps its previous value"),
            },
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
            Accumulator::Latest(l) => *l = v.clone(),
            Accumulator::Earliest(e) => {
                if e.is_null() {
                    *e = v.clone()
                }
            }
        }
    }

    pub fn value(&self) -> Value {
        match self {
            Accumulator::Count { count, .. } => Value::BigInt(*count),
            Accumulator::Sum(v)
            | Accumulator::Min(v)
            | Accumulator::Max(v)
            | Accumulator::Latest(v)
            | Accumulator::Earliest(v) => v.clone(),
        }
    }
}
