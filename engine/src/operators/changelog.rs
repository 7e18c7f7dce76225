//! A table's changelog: what ksqlDB writes to a table's topic.
//!
//! For every completed time and every key whose row changed at it, one
//! record: the key's new row (an upsert) or, if the key left the table, a
//! tombstone.

use std::cmp::Ordering;

use differential_dataflow::{Hashable, VecCollection};

use ddsql_sql::types::{Row, Value};

use super::in_time_order;
use crate::time::{Diff, Time};

/// One record of a table's changelog.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    /// The key's new row.
    Upsert(Row),
    /// The key left the table. `rowtime` is, as Kafka Streams stamps it:
    /// for a windowed table, that of the row the key last had (a merged
    /// session's tombstone); otherwise the timestamp of the record that
    /// removed it (a source tombstone, a join's other side leaving). A
    /// deletion carries no ROWTIME of its own, so that is the timestamp the
    /// logical time carries, or the old row's where that is later: a
    /// record older than the row it removes, or times that are a test
    /// driver's sequence numbers (`RunOptions::sequence_header`).
    Tombstone { key: Row, rowtime: i64 },
}

/// `table` rows are `[rowtime, key..., values..., window...]` with
/// `key_arity` key columns and `window` trailing window columns (2 for a
/// windowed table, which are part of its key). The output is one entry per
/// changed key and time, with multiplicity one; a tombstone's key holds
/// the key columns, then the window's.
pub fn changelog<'s>(
    table: VecCollection<'s, Time, Row, Diff>,
    key_arity: usize,
    window: usize,
) -> VecCollection<'s, Time, Entry, Diff> {
    in_time_order(
        table,
        "Changelog",
        move |row: &Row| (&row[1..1 + key_arity]).hashed(),
        move |mut ready, out| {
            // By time, then key, then row: each (time, key)'s updates
            // together, equal rows next to each other.
            ready.sort_by(|a, b| {
                a.1.cmp(&b.1)
                    .then_with(|| {
                        key_of(&a.0, key_arity, window).cmp(key_of(&b.0, key_arity, window))
                    })
                    .then_with(|| a.0.cmp(&b.0))
            });
            let mut updates = ready.into_iter().peekable();
            while let Some((row, time, diff)) = updates.next() {
                // The net change of each distinct row of this (time, key):
                // the row inserted, else the row retracted.
                let (mut new, mut old) = (None, None);
                let (mut row, mut net) = (row, diff);
                loop {
                    match updates.next_if(|(r, t, _)| {
                        *t == time
                            && key_of(r, key_arity, window).eq(key_of(&row, key_arity, window))
                    }) {
                        Some((r, _, d)) if r == row => net += d,
                        next => {
                            match net.cmp(&0) {
                                Ordering::Greater => new = Some(row),
                                Ordering::Less => old = Some(row),
                                Ordering::Equal => {}
                            }
                            let Some((r, _, d)) = next else { break };
                            (row, net) = (r, d);
                        }
                    }
                }
                let entry = match (new, old) {
                    (Some(row), _) => Entry::Upsert(row),
                    (None, Some(old)) => Entry::Tombstone {
                        key: key_of(&old, key_arity, window).cloned().collect(),
                        rowtime: match old.first() {
                            Some(Value::BigInt(t)) if window > 0 => *t,
                            Some(Value::BigInt(t)) => (*t).max(crate::time::parts(time).0),
                            _ => crate::time::parts(time).0,
                        },
                    },
                    (None, None) => continue,
                };
                out.push((entry, time, 1));
            }
        },
    )
}

/// A row's key, in place: the key columns and the window's.
fn key_of(row: &Row, key_arity: usize, window: usize) -> impl Iterator<Item = &Value> {
    row[1..1 + key_arity]
        .iter()
        .chain(&row[row.len() - window..])
}
