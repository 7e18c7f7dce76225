//! A table's changelog: what ksqlDB writes to a table's topic.
//!
//! For every completed time and every key whose row changed at it, one
//! record: the key's new row (an upsert) or, if the key left the table, a
//! tombstone.

use std::collections::BTreeMap;

use differential_dataflow::{Hashable, VecCollection};

use ddsql_sql::types::Row;

use super::in_time_order;
use crate::time::{Diff, Time};

/// `table` rows are `[rowtime, key..., values..., window...]` with
/// `key_arity` key columns and `window` trailing window columns (2 for a
/// windowed table, which are part of its key). The output is
/// `(key, Some(row))` for an upsert and `(key, None)` for a deletion, each
/// with multiplicity one; the key holds the key columns, then the window's.
pub fn changelog<'s>(
    table: VecCollection<'s, Time, Row, Diff>,
    key_arity: usize,
    window: usize,
) -> VecCollection<'s, Time, (Row, Option<Row>), Diff> {
    let key_of = move |row: &Row| -> Row {
        let mut key = row[1..1 + key_arity].to_vec();
        key.extend_from_slice(&row[row.len() - window..]);
        key
    };
    in_time_order(
        table,
        "Changelog",
        move |row: &Row| (&row[1..1 + key_arity]).hashed(),
        move |ready, out| {
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
                            out.push(((k, new), t, 1));
                        }
                        current = Some((time, key, (diff > 0).then_some(row)));
                    }
                }
            }
            if let Some((t, k, new)) = current {
                out.push(((k, new), t, 1));
            }
        },
    )
}
