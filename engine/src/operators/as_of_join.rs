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
//!
//! The table comes either as a collection of changes (any table plan) or,
//! when the join reads a table's topic directly, as the topic's
//! [`Upsert`]s: then the join's state is the table itself, one row per
//! key, and no upsert operator keeps a second copy of it upstream.

use std::collections::HashMap;

use differential_dataflow::{AsCollection, Hashable, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::ExchangeData;

use ddsql_sql::types::{Row, Value};

use super::upsert::Upsert;
use super::{advance, complete_before, Pending};
use crate::time::{Diff, Time};

/// The table side of an as-of join.
pub enum Table<'s> {
    /// `(key, row)` changes with their diffs.
    Changes(VecCollection<'s, Time, (Row, Row), Diff>),
    /// A table topic's records, in the table's scan layout.
    Upserts(VecCollection<'s, Time, Upsert, Diff>),
}

/// Joins `stream` (key, row) with `table`, emitting `stream row ++ table
/// row`; for a `left` join an unmatched stream row is padded with
/// `table_width` NULLs. Stream rows with a NULL in the key never match and
/// are dropped, as in ksqlDB.
pub fn as_of_join<'s>(
    stream: VecCollection<'s, Time, (Row, Row), Diff>,
    table: Table<'s>,
    left: bool,
    table_width: usize,
) -> VecCollection<'s, Time, Row, Diff> {
    match table {
        Table::Changes(t) => join::<Changes>(stream, t, left, table_width),
        Table::Upserts(t) => join::<Upserts>(stream, t, left, table_width),
    }
}

/// The table's contents as of the completed frontier, kept by the join.
trait State: Default + 'static {
    type Update: ExchangeData + Ord;
    fn key(update: &Self::Update) -> &Row;
    fn apply(&mut self, update: Self::Update, diff: Diff);
    /// The rows under `key`, with their counts (those not above zero
    /// are not rows of the table).
    fn rows(&self, key: &Row) -> &[(Row, Diff)];
}

fn join<'s, S: State>(
    stream: VecCollection<'s, Time, (Row, Row), Diff>,
    table: VecCollection<'s, Time, S::Update, Diff>,
    left: bool,
    table_width: usize,
) -> VecCollection<'s, Time, Row, Diff> {
    stream
        .inner
        .binary_frontier(
            table.inner,
            Exchange::new(|u: &((Row, Row), Time, Diff)| (u.0).0.hashed()),
            Exchange::new(|u: &(S::Update, Time, Diff)| S::key(&u.0).hashed()),
            "AsOfJoin",
            move |cap, _info| {
                let mut cap = Some(cap);
                let mut pending_stream = Pending::default();
                let mut pending_table = Pending::default();
                let mut state = S::default();
                move |(stream_in, stream_frontier), (table_in, table_frontier), output| {
                    stream_in.for_each(|_, data| pending_stream.push(data));
                    table_in.for_each(|_, data| pending_table.push(data));
                    let bound = complete_before(&[stream_frontier, table_frontier]);
                    let stream_ready = pending_stream.take(bound);
                    let table_ready = pending_table.take(bound);
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
                            while let Some((u, _, d)) =
                                table_updates.next_if(|u| u.1 < time || (inclusive && u.1 == time))
                            {
                                state.apply(u, d);
                            }
                            if key.iter().any(Value::is_null) {
                                continue;
                            }
                            let rows = state.rows(&key);
                            if rows.iter().any(|(_, c)| *c > 0) {
                                // A table has one row per key: the stream
                                // row is moved, not cloned, into the last match.
                                let mut matches = rows.iter().filter(|(_, c)| *c > 0).peekable();
                                let mut row = Some(row);
                                while let Some((trow, count)) = matches.next() {
                                    let mut out = match matches.peek() {
                                        Some(_) => {
                                            row.clone().expect("moved only at the last match")
                                        }
                                        None => row.take().expect("moved only at the last match"),
                                    };
                                    out.extend(trow.iter().cloned());
                                    session.give((out, time, diff * count));
                                }
                            } else if left {
                                let mut out = row;
                                out.resize(out.len() + table_width, Value::Null);
                                session.give((out, time, diff));
                            }
                        }
                        for (u, _, d) in table_updates {
                            state.apply(u, d);
                        }
                    }
                    advance(&mut cap, bound);
                }
            },
        )
        .as_collection()
}

/// The rows of a table given as changes, by key, with their counts.
#[derive(Default)]
struct Changes(HashMap<Row, Vec<(Row, Diff)>, ahash::RandomState>);

impl State for Changes {
    type Update = (Row, Row);

    fn key((key, _): &(Row, Row)) -> &Row {
        key
    }

    fn apply(&mut self, (key, row): (Row, Row), diff: Diff) {
        let Some(rows) = self.0.get_mut(&key) else {
            self.0.insert(key, vec![(row, diff)]);
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
            self.0.remove(&key);
        }
    }

    fn rows(&self, key: &Row) -> &[(Row, Diff)] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }
}

/// A table read from its topic: the latest row of each key. Records with a
/// NULL in the key are ignored, as [`super::upsert::upsert`] ignores them.
/// Each row is kept with its count (always 1), to be lent as a slice.
#[derive(Default)]
struct Upserts(HashMap<Row, (Row, Diff), ahash::RandomState>);

impl State for Upserts {
    type Update = Upsert;

    fn key((key, _, _): &Upsert) -> &Row {
        key
    }

    fn apply(&mut self, (key, _, row): Upsert, _diff: Diff) {
        if key.iter().any(Value::is_null) {
            return;
        }
        match row {
            Some(row) => {
                self.0.insert(key, (row, 1));
            }
            None => {
                self.0.remove(&key);
            }
        }
    }

    fn rows(&self, key: &Row) -> &[(Row, Diff)] {
        self.0.get(key).map_or(&[], std::slice::from_ref)
    }
}
