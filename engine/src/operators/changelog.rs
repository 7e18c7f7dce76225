//! A table's changelog: what ksqlDB writes to a table's topic.
//!
//! For every completed time and every key whose row changed at it, one
//! record: the key's new row (an upsert) or, if the key left the table, a
//! tombstone.

use std::collections::BTreeMap;

use differential_dataflow::{AsCollection, Hashable, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use ddsql_sql::types::Row;

use super::{advance, complete_before, take_complete};
use crate::time::{Diff, Time};

/// `table` rows are `[rowtime, key..., values...]` with `key_arity` key
/// columns. The output is `(key, Some(row))` for an upsert and
/// `(key, None)` for a deletion, each with multiplicity one.
pub fn changelog<'s>(
    table: VecCollection<'s, Time, Row, Diff>,
    key_arity: usize,
) -> VecCollection<'s, Time, (Row, Option<Row>), Diff> {
    let key_of = move |row: &Row| -> Row { row[1..1 + key_arity].to_vec() };
    table
        .inner
        .unary_frontier(
            Exchange::new(move |u: &(Row, Time, Diff)| key_of(&u.0).hashed()),
            "Changelog",
            move |cap, _info| {
                let mut cap = Some(cap);
                let mut pending = Vec::new();
                move |(input, frontier), output| {
                    input.for_each(|_, data| pending.append(data));
                    let bound = complete_before(&[frontier]);
                    let ready = take_complete(&mut pending, bound);
                    if let Some(cap) = cap.as_ref() {
                        let mut session = output.session(cap);
                        // Net change per (time, key, row); BTreeMap keeps the output order fixed.
                        let mut net: BTreeMap<(Time, Row, Row), Diff> = BTreeMap::new();
                        for (row, time, diff) in ready {
                            *net.entry((time, key_of(&row), row)).or_default() += diff;
                        }
                        let mut current: Option<(Time, Row, Option<Row>)> = None;
                        for ((time, key, row), diff) in net {
                            if diff == 0 {
                                continue;
                            }
                            match &mut current {
                                Some((t, k, new)) if *t == time && *k == key => {
                                    if diff > 0 {
                                        *new = Some(row);
                                    }
                                }
                                _ => {
                                    if let Some((t, k, new)) = current.take() {
                                        session.give(((k, new), t, 1));
                                    }
                                    current = Some((time, key, (diff > 0).then_some(row)));
                                }
                            }
                        }
                        if let Some((t, k, new)) = current {
                            session.give(((k, new), t, 1));
                        }
                    }
                    advance(&mut cap, bound);
                }
            },
        )
        .as_collection()
}
