//! A table read from a topic: each record upserts its key, a tombstone
//! deletes it.
//!
//! Kept as one row per key (the table's current contents as of the
//! completed frontier); each change is emitted as the retraction of the old
//! row and the insertion of the new one at the record's time, so the output
//! is an ordinary table collection.
//!
//! Worked example, for key `k`: `k -> a` at 1, `k -> b` at 2, tombstone at
//! 3 give `+a@1`, `-a@2 +b@2`, `-b@3`.
//!
//! Records share a final time only when one input caused them all (a
//! query's outputs, see [`crate::time`]); the later offset must still win,
//! so an [`Upsert`] carries its offset and sorts by it before its row.

use std::collections::HashMap;
use std::ops::Range;

use differential_dataflow::{Hashable, VecCollection};

use ddsql_sql::types::{Row, Value};

use super::in_time_order;
use super::source::SourceItem;
use crate::time::{Diff, Time};

/// One record of a table's topic: its key, its offset, and its row in the
/// scan layout (`None` for a tombstone).
pub type Upsert = (Row, i64, Option<Row>);

/// The records of a table's topic as upserts; `keys` are the key columns'
/// positions in the scan layout.
pub fn upserts<'s>(
    items: VecCollection<'s, Time, SourceItem, Diff>,
    keys: Range<usize>,
) -> VecCollection<'s, Time, Upsert, Diff> {
    items.map(move |item| {
        let (row, live) = match item {
            SourceItem::Row(row) => (row, true),
            SourceItem::Delete(row) => (row, false),
        };
        let offset = match row[2] {
            Value::BigInt(o) => o,
            _ => 0,
        };
        (row[keys.clone()].to_vec(), offset, live.then_some(row))
    })
}

/// The table the upserts make, as a collection of rows. Records with a
/// NULL in the key are ignored, as ksqlDB ignores them.
pub fn upsert<'s>(
    input: VecCollection<'s, Time, Upsert, Diff>,
) -> VecCollection<'s, Time, Row, Diff> {
    let mut state: HashMap<Row, Row, ahash::RandomState> = HashMap::default();
    in_time_order(
        input,
        "Upsert",
        |(key, _, _): &Upsert| key.hashed(),
        move |ready, out| {
            for ((key, _, row), time, _) in ready {
                if key.iter().any(Value::is_null) {
                    continue;
                }
                let old = match row {
                    Some(row) => {
                        out.push((row.clone(), time, 1));
                        state.insert(key, row)
                    }
                    None => state.remove(&key),
                };
                if let Some(old) = old {
                    out.push((old, time, -1));
                }
            }
        },
    )
}
