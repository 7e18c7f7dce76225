//! `EMIT FINAL`: a windowed aggregation's result, once per window, when
//! the window closes.
//!
//! The input is a windowed aggregation's table: rows
//! `[rowtime, key..., WINDOWSTART, WINDOWEND, results...]`, one per key and
//! window, updated as rows arrive. Stream time is the largest ROWTIME
//! among them. A window closes when stream time passes its end by the
//! grace period (and, for a session, the gap too, as Kafka Streams'
//! `suppress(untilWindowCloses)` waits for it); its row at that moment is
//! emitted, once, and never retracted. A time window arriving at its close
//! after the store that held it dropped it (its start more than size plus
//! grace behind the latest window's start, which happens when stream time
//! jumps) is not emitted at all, as in ksqlDB.
//!
//! For example, with `WINDOW TUMBLING (SIZE 2 MILLISECONDS, GRACE PERIOD 0
//! MILLISECONDS)` and `COUNT(*)`: rows at 0 and 1 update window `[0, 2)`
//! to a count of 2; nothing is emitted until a row at 2 moves stream time
//! to 2, which closes `[0, 2)`: then its row (count 2, ROWTIME 1) is
//! emitted. Stream time is one for the whole input (the rows meet on one
//! worker, in time order), so what is emitted does not depend on the
//! worker count.

use std::collections::{BTreeMap, BTreeSet};

use differential_dataflow::VecCollection;

use ddsql_sql::plan::Window;
use ddsql_sql::types::{Row, Value};

use super::in_time_order;
use crate::time::{Diff, Time};

/// `rows` as described in the module docs, with `key_arity` key columns
/// before the window's two; the output holds each window's final row.
pub fn emit_final<'s>(
    rows: VecCollection<'s, Time, Row, Diff>,
    key_arity: usize,
    window: Window,
) -> VecCollection<'s, Time, Row, Diff> {
    let bound = move |row: &Row, at: usize| match row.get(1 + key_arity + at) {
        Some(Value::BigInt(t)) => *t,
        _ => 0,
    };
    // How far stream time must pass a window's end to close it.
    let wait = match window {
        Window::Time { grace, .. } => grace,
        Window::Session { gap, grace } => grace.saturating_add(gap),
    };
    // The oldest start a store keeps, behind the latest window's start.
    let kept = match window {
        Window::Time { size, grace, .. } => Some(size.saturating_add(grace)),
        Window::Session { .. } => None,
    };
    // Open windows: the latest row of each key and window, and the windows
    // by end, to find the ones that close.
    let mut open: BTreeMap<Row, Row> = BTreeMap::new();
    let mut by_end: BTreeSet<(i64, Row)> = BTreeSet::new();
    let mut stream_time = i64::MIN;
    let mut latest_start = i64::MIN;
    in_time_order(
        rows,
        "EmitFinal",
        |_| 0,
        move |ready, out| {
            let mut ready = ready.into_iter().peekable();
            while let Some((row, time, diff)) = ready.next() {
                let key: Row = row[1..1 + key_arity + 2].to_vec();
                let end = bound(&row, 1);
                if diff > 0 {
                    stream_time = stream_time.max(match row.first() {
                        Some(Value::BigInt(t)) => *t,
                        _ => 0,
                    });
                    latest_start = latest_start.max(bound(&row, 0));
                    by_end.insert((end, key.clone()));
                    open.insert(key, row);
                } else if open.get(&key) == Some(&row) {
                    open.remove(&key);
                    by_end.remove(&(end, key));
                }
                // All of this time's updates are in: close what it closes.
                if ready.peek().is_some_and(|(_, t, _)| *t == time) {
                    continue;
                }
                let close = stream_time.saturating_sub(wait);
                while let Some((end, key)) = by_end.first().cloned() {
                    if end > close {
                        break;
                    }
                    by_end.pop_first();
                    let Some(row) = open.remove(&key) else {
                        continue;
                    };
                    let dropped =
                        kept.is_some_and(|kept| bound(&row, 0) < latest_start.saturating_sub(kept));
                    if !dropped {
                        out.push((row, time, 1));
                    }
                }
            }
        },
    )
}
