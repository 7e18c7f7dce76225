//! The rows an outer stream-stream join keeps although they match nothing.
//!
//! A batch engine answers `l LEFT JOIN r WITHIN ...` with the matched pairs
//! plus each left row that has no partner. A stream cannot know a row has
//! no partner until no partner can come: until the row's window has
//! closed. As in Kafka Streams' outer joins (with a grace period), a row
//! waits until *stream time*, the largest ROWTIME either side has brought,
//! passes its ROWTIME plus the window's far edge plus the grace period. If
//! no pair with it has appeared by then it is emitted, once, at the time of
//! the record that moved stream time past it. Since times order records by
//! their timestamps, a partner in the window can only come after that if
//! its own partition brought it late (out of timestamp order) by more than
//! the grace period.
//!
//! The input is a stream of [`JoinEvent`]s: every row that enters the join
//! (`Arrived`, which moves stream time; only the ROWTIME of a side the join
//! does not keep) and every row of a kept side that is part of a pair
//! (`Matched`, at the pair's time, never before the row's own).
//!
//! For example, `WITHIN 10 MILLISECONDS GRACE PERIOD 5 MILLISECONDS`, a LEFT
//! join: a left row at ROWTIME 100 waits until stream time passes 115. A
//! right row at 108 with its key pairs with it, and it is forgotten; if
//! none comes, the first record of either side with a ROWTIME above 115
//! emits it.
//!
//! All events meet on one worker, so stream time is one for the whole join
//! and what is emitted does not depend on the worker count.

use std::collections::BTreeMap;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};

use ddsql_sql::types::{Row, Value};

use super::in_time_order;
use crate::time::{Diff, Time};

/// A side of a join.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    Left,
    Right,
}

/// What the operator learns about a row (see the module docs). `Arrived`
/// sorts first, so a row arriving at the time of its first pair is known
/// before the pair is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum JoinEvent {
    Arrived(Side),
    Matched(Side),
}

/// How long after its ROWTIME a row of each side waits for a partner:
/// `None` for a side whose unmatched rows the join does not keep.
#[derive(Clone, Copy, Debug)]
pub struct Waits {
    pub left: Option<i64>,
    pub right: Option<i64>,
}

impl Waits {
    fn of(&self, side: Side) -> Option<i64> {
        match side {
            Side::Left => self.left,
            Side::Right => self.right,
        }
    }
}

/// The rows of kept sides that no `Matched` event named before stream time
/// passed their ROWTIME plus their side's wait, each with its side.
pub fn unmatched<'s>(
    events: VecCollection<'s, Time, (JoinEvent, Row), Diff>,
    waits: Waits,
) -> VecCollection<'s, Time, (Side, Row), Diff> {
    let rowtime = |row: &Row| match row.first() {
        Some(Value::BigInt(t)) => *t,
        _ => 0,
    };
    // Waiting rows by the stream time that closes them, with their count
    // (identical rows match identically, so they wait and leave together).
    let mut waiting: BTreeMap<(i64, Side, Row), Diff> = BTreeMap::new();
    let mut stream_time = i64::MIN;
    in_time_order(
        events,
        "Unmatched",
        |_| 0,
        move |ready, out| {
            let mut ready = ready.into_iter().peekable();
            while let Some(((event, row), time, diff)) = ready.next() {
                match event {
                    JoinEvent::Arrived(side) => {
                        stream_time = stream_time.max(rowtime(&row));
                        if let (Some(wait), true) = (waits.of(side), diff > 0) {
                            let close = rowtime(&row).saturating_add(wait);
                            *waiting.entry((close, side, row)).or_default() += diff;
                        }
                    }
                    JoinEvent::Matched(side) => {
                        if let Some(wait) = waits.of(side) {
                            let close = rowtime(&row).saturating_add(wait);
                            waiting.remove(&(close, side, row));
                        }
                    }
                }
                // All of this time's events are in: emit what it closes.
                if ready.peek().is_some_and(|(_, t, _)| *t == time) {
                    continue;
                }
                while waiting
                    .first_key_value()
                    .is_some_and(|((close, ..), _)| *close < stream_time)
                {
                    let ((_, side, row), count) = waiting.pop_first().expect("a first entry");
                    out.push(((side, row), time, count));
                }
            }
        },
    )
}
