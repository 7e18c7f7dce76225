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

use differential_dataflow::{AsCollection, Hashable, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use ddsql_sql::types::{Row, Value};

use super::{advance, complete_before, take_complete};
use crate::time::{Diff, Time};

/// `input` holds `(key, Some(row))` upserts and `(key, None)` deletions.
/// Records with a NULL in the key are ignored, as ksqlDB ignores them.
pub fn upsert<'s>(
    input: VecCollection<'s, Time, (Row, Option<Row>), Diff>,
) -> VecCollection<'s, Time, Row, Diff> {
    input
        .inner
        .unary_frontier(
            Exchange::new(|u: &((Row, Option<Row>), Time, Diff)| (u.0).0.hashed()),
            "Upsert",
            move |cap, _info| {
                let mut cap = Some(cap);
                let mut pending = Vec::new();
                let mut state: HashMap<Row, Row> = HashMap::new();
                move |(input, frontier), output| {
                    input.for_each(|_, data| pending.append(data));
                    let bound = complete_before(&[frontier]);
                    let ready = take_complete(&mut pending, bound);
                    if let Some(cap) = cap.as_ref() {
                        let mut session = output.session(cap);
                        for ((key, row), time, _) in ready {
                            if key.iter().any(Value::is_null) {
                                continue;
                            }
                            let old = match row {
                                Some(row) => {
                                    session.give((row.clone(), time, 1));
                                    state.insert(key, row)
                                }
                                None => state.remove(&key),
                            };
                            if let Some(old) = old {
                                session.give((old, time, -1));
                            }
                        }
                    }
                    advance(&mut cap, bound);
                }
            },
        )
        .as_collection()
}
