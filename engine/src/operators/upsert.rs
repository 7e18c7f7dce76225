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

use std::collections::HashMap;

use differential_dataflow::{Hashable, VecCollection};

use ddsql_sql::types::{Row, Value};

use super::in_time_order;
use crate::time::{Diff, Time};

/// `input` holds `(key, Some(row))` upserts and `(key, None)` deletions.
/// Records with a NULL in the key are ignored, as ksqlDB ignores them.
pub fn upsert<'s>(
    input: VecCollection<'s, Time, (Row, Option<Row>), Diff>,
) -> VecCollection<'s, Time, Row, Diff> {
    let mut state: HashMap<Row, Row, ahash::RandomState> = HashMap::default();
    in_time_order(
        input,
        "Upsert",
        |(key, _): &(Row, Option<Row>)| key.hashed(),
        move |ready, out| {
            for ((key, row), time, _) in ready {
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
