//! A table's changelog: what ksqlDB writes to a table's topic.
//!
//! For every completed time and every key whose row changed at it, one
//! record: the key's new row (an upsert) or, if the key left the table, a
//! tombstone.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use differential_dataflow::{Hashable, VecCollection};

use ddsql_sql::types::{Row, Value};

use super::in_time_order;
use crate::time::{Diff, Time};

/// One record of a table's changelog.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    /// The key's new row.
    Upsert(Row),
    /// The key left the table; `rowtime` is that of the row it last had,
    /// which is the timestamp Kafka Streams gives a session's tombstone.
    Tombstone { rowtime: i64 },
}

/// `table` rows are `[rowtime, key..., values..., window...]` with
/// `key_arity` key columns and `window` trailing window columns (2 for a
/// windowed table, which are part of its key). The output is one
/// `(key, entry)` per changed key, with multiplicity one; the key holds
/// the key columns, then the window's.
pub fn changelog<'s>(
    table: VecCollection<'s, Time, Row, Diff>,
    key_arity: usize,
    window: usize,
) -> VecCollection<'s, Time, (Row, Entry), Diff> {
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
            // Per (time, key): the row inserted, else the row retracted.
            let mut changed: BTreeMap<(Time, Row), (Option<Row>, Option<Row>)> = BTreeMap::new();
            for ((time, key, row), diff) in net {
                let (new, old) = changed.entry((time, key)).or_default();
                match diff.cmp(&0) {
                    Ordering::Greater => *new = Some(row),
                    Ordering::Less => *old = Some(row),
                    Ordering::Equal => {}
                }
            }
            for ((time, key), (new, old)) in changed {
                let entry = match (new, old) {
                    (Some(row), _) => Entry::Upsert(row),
                    (None, Some(old)) => Entry::Tombstone {
                        rowtime: match old.first() {
                            Some(Value::BigInt(t)) => *t,
                            _ => 0,
                        },
                    },
                    (None, None) => continue,
                };
                out.push(((key, entry), time, 1));
            }
        },
    )
}
