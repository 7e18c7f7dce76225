//! The stream-table join, evaluated as of each stream record's own time.
//!
//! A stream record at time `t` meets the table as it is after every table
//! update at times `<= t` and before any later one, the way a batch engine
//! would answer `stream LEFT JOIN LATERAL (table as of t)`. Later table
//! changes never rewrite emitted rows. This is the half-join of
//! differential dataflow's `dogsdogsdogs`, specialised: instead of reading a
//! shared arrangement it keeps the table's state as of the completed
//! frontier (one entry per key), which is all a temporal join needs and
//! keeps memory proportional to the table, not its history.
//!
//! Worked example (times in order): the table gets `k -> a` at 1; stream
//! records for `k` arrive at 1 and 2; the table changes to `k -> b` at 2.
//! The record at 1 sees `a` (inclusive); the one at 2 sees `b`.

use std::collections::HashMap;

use differential_dataflow::{AsCollection, Hashable, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use ddsql_sql::types::{Row, Value};

use super::{advance, complete_before, take_complete};
use crate::time::{Diff, Time};

/// Joins `stream` (key, row) with `table` (key, row), emitting
/// `stream row ++ table row`; for a `left` join an unmatched stream row is
/// padded with `table_width` NULLs. Stream rows with a NULL in the key
/// never match and are dropped, as in ksqlDB.
pub fn as_of_join<'s>(
    stream: VecCollection<'s, Time, (Row, Row), Diff>,
    table: VecCollection<'s, Time, (Row, Row), Diff>,
    left: bool,
    table_width: usize,
) -> VecCollection<'s, Time, Row, Diff> {
    let by_key = |u: &((Row, Row), Time, Diff)| (u.0).0.hashed();
    stream
        .inner
        .binary_frontier(
            table.inner,
            Exchange::new(by_key),
            Exchange::new(by_key),
            "AsOfJoin",
            move |cap, _info| {
                let mut cap = Some(cap);
                let mut pending_stream = Vec::new();
                let mut pending_table = Vec::new();
                // Table contents as of every completed time: key -> rows with counts.
                let mut state: TableState = HashMap::default();
                move |(stream_in, stream_frontier), (table_in, table_frontier), output| {
                    stream_in.for_each(|_, data| pending_stream.append(data));
                    table_in.for_each(|_, data| pending_table.append(data));
                    let bound = complete_before(&[stream_frontier, table_frontier]);
                    let stream_ready = take_complete(&mut pending_stream, bound);
                    let table_ready = take_complete(&mut pending_table, bound);
                    if let Some(cap) = cap.as_ref() {
                        let mut session = output.session(cap);
                        let mut table_updates = table_ready.into_iter().peekable();
                        // Always inclusive, but for the harness's deliberate bug.
                        #[cfg(feature = "mutation")]
                        let inclusive =
                            !crate::mutation::active(crate::mutation::Mutation::AsOfJoinExclusive);
                        #[cfg(not(feature = "mutation"))]
                        let inclusive = true;
                        for ((key, row), time, diff) in stream_ready {
                            // Table updates up to and including this time first.
                            while let Some(((k, r), _, d)) =
                                table_updates.next_if(|u| u.1 < time || (inclusive && u.1 == time))
                            {
                                apply(&mut state, k, r, d);
                            }
                            if key.iter().any(Value::is_null) {
                                continue;
                            }
                            match state.get(&key) {
                                Some(rows) if rows.iter().any(|(_, c)| *c > 0) => {
                                    // A table has one row per key: the stream
                                    // row is moved, not cloned, into the last match.
                                    let mut matches =
                                        rows.iter().filter(|(_, c)| *c > 0).peekable();
                                    let mut row = Some(row);
                                    while let Some((trow, count)) = matches.next() {
                                        let mut out = match matches.peek() {
                                            Some(_) => {
                                                row.clone().expect("moved only at the last match")
                                            }
                                            None => {
                                                row.take().expect("moved only at the last match")
                                            }
                                        };
                                        out.extend(trow.iter().cloned());
                                        session.give((out, time, diff * count));
                                    }
                                }
                                _ if left => {
                                    let mut out = row;
                                    out.resize(out.len() + table_width, Value::Null);
                                    session.give((out, time, diff));
                                }
                                _ => {}
                            }
                        }
                        for ((k, r), _, d) in table_updates {
                            apply(&mut state, k, r, d);
                        }
                    }
                    advance(&mut cap, bound);
                }
            },
        )
        .as_collection()
}

/// The table's rows by key, with their counts.
type TableState = HashMap<Row, Vec<(Row, Diff)>, ahash::RandomState>;

fn apply(state: &mut TableState, key: Row, row: Row, diff: Diff) {
    let Some(rows) = state.get_mut(&key) else {
        state.insert(key, vec![(row, diff)]);
        return;
    };
    match rows.iter().position(|(x, _)| *x == row) {
        Some(i) => {
            rows[i].1 += diff;
            if rows[i].1 == 0 {
                rows.swap_remove(i);
            }
        }
        None => rows.push((row, diff)),
    }
    if rows.is_empty() {
        state.remove(&key);
    }
}
