//! Logical time: one distinct, totally ordered time per record, in offset
//! order within every partition.
//!
//! A record's *own* time comes from the record: its timestamp (`ROWTIME`),
//! then a fixed tie-break of topic, partition and offset, packed into a
//! `u128` (most significant first):
//!
//! | bits | field |
//! |------|-------|
//! | 44   | timestamp in ms, clamped to `0 ..= 2^44-1` (until year 2527) |
//! | 16   | the topic's index (stable, assigned by the transport) |
//! | 16   | partition |
//! | 52   | offset |
//!
//! A query's output record has the time of the input that caused it as
//! its own time, so a table derived from a stream changes at the stream
//! record's time and a stream-table join sees it inclusively.
//!
//! Its *final* time, the one every reader processes it at, keeps the
//! partition's offset order ([`PartitionClock`]): a record whose own time
//! is not after the previous record's final time is raised to the least
//! time after it in its own partition's layout. So the final time stays
//! distinct (it names this very partition and offset) and ordered, and a
//! record that had to be raised still says where it is.
//!
//! This is what the seed's first-order backfill relies on. The warehouse
//! minima are inserted now (2026); the CDC backlog that follows them in the
//! candidate topic carries its own, older times (2025). Read in offset
//! order, the backfill comes first:
//!
//! ```
//! use ddsql_engine::time::{event_time, parts, PartitionClock};
//! const CAND: u16 = 2;
//! let mut cand = PartitionClock::new(CAND, 0);
//! // Offset 0: an INSERT VALUES row, stamped now.
//! let backfill = cand.stamp(event_time(1_796_000_000_000, CAND, 0, 0), 0);
//! // Offset 1: a query's output for an order event of 2025 (topic 1).
//! let cause = event_time(1_741_132_800_000, 1, 0, 7);
//! let live = cand.stamp(cause, 1);
//! assert!(backfill < live && cause < live);
//! // Raised to the backfill's timestamp, it names its own place.
//! assert_eq!(parts(live), (1_796_000_000_000, CAND, 0, 1));
//! ```
//!
//! Logical time is not ROWTIME: ROWTIME is data (what windows and output
//! records carry); the logical time orders updates and may be raised above
//! ROWTIME to keep offset order.

use std::collections::BTreeMap;

/// A logical time (see the module docs for its layout).
pub type Time = u128;

/// The multiplicity of an update.
pub type Diff = isize;

const TS_BITS: u32 = 44;
const TOPIC_BITS: u32 = 16;
const PARTITION_BITS: u32 = 16;
const OFFSET_BITS: u32 = 52;
const MAX_TS: i64 = (1 << TS_BITS) - 1;

/// The largest topic index, partition and offset a time can carry.
pub const MAX_TOPIC_INDEX: u32 = (1 << TOPIC_BITS) - 1;
pub const MAX_PARTITION: u32 = (1 << PARTITION_BITS) - 1;
pub const MAX_OFFSET: u64 = (1 << OFFSET_BITS) - 1;

/// The time of the record at `offset` of `partition` of topic `topic`,
/// with timestamp `ts_ms`.
pub fn event_time(ts_ms: i64, topic: u16, partition: u32, offset: u64) -> Time {
    debug_assert!(partition <= MAX_PARTITION && offset <= MAX_OFFSET);
    let ts = ts_ms.clamp(0, MAX_TS) as u128;
    (ts << (TOPIC_BITS + PARTITION_BITS + OFFSET_BITS))
        | ((topic as u128) << (PARTITION_BITS + OFFSET_BITS))
        | (((partition & MAX_PARTITION) as u128) << OFFSET_BITS)
        | (offset & MAX_OFFSET) as u128
}

/// The parts of a time: timestamp, topic index, partition, offset.
pub fn parts(t: Time) -> (i64, u16, u32, u64) {
    (
        (t >> (TOPIC_BITS + PARTITION_BITS + OFFSET_BITS)) as i64,
        ((t >> (PARTITION_BITS + OFFSET_BITS)) & MAX_TOPIC_INDEX as u128) as u16,
        ((t >> OFFSET_BITS) & MAX_PARTITION as u128) as u32,
        (t & MAX_OFFSET as u128) as u64,
    )
}

/// The least time of the record at `offset` of `topic`/`partition` that is
/// later than `t`: same timestamp when its place sorts after `t`'s, else
/// one millisecond on.
pub fn after(t: Time, topic: u16, partition: u32, offset: u64) -> Time {
    at_or_after(t.saturating_add(1), topic, partition, offset)
}

/// The least time of the record at `offset` of `topic`/`partition` that is
/// not before `t`.
pub fn at_or_after(t: Time, topic: u16, partition: u32, offset: u64) -> Time {
    let ts = parts(t).0;
    let same = event_time(ts, topic, partition, offset);
    if same >= t {
        same
    } else {
        event_time(ts + 1, topic, partition, offset)
    }
}

/// The final time of a record read or written after `last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Its final time.
    pub time: Time,
    /// The own time it was stamped from.
    pub own: Time,
}

/// Final times for one partition's records, in offset order.
///
/// The rule, applied to each record in turn:
/// - records with the same own time one after another (what one input
///   record made a query write) share a final time;
/// - otherwise a record takes its own time, raised to after the previous
///   record's final time when it is not already later;
/// - and never below a *floor* recorded for its offset (see
///   [`crate::clock`]: a live record that arrived after readers had moved
///   on, or the first record after a restart).
///
/// The rule depends only on the partition's records and floors, so every
/// reader, writer, worker and restart computes the same times.
#[derive(Clone, Debug)]
pub struct PartitionClock {
    topic: u16,
    partition: u32,
    last: Option<Stamp>,
    floors: BTreeMap<u64, Time>,
}

impl PartitionClock {
    pub fn new(topic: u16, partition: u32) -> PartitionClock {
        PartitionClock {
            topic,
            partition,
            last: None,
            floors: BTreeMap::new(),
        }
    }

    /// A clock that continues after `last`, the stamp of the record before
    /// the first one it will see.
    pub fn resume(mut self, last: Option<Stamp>) -> PartitionClock {
        self.last = last;
        self
    }

    /// Records from `offset` on take times at or after `floor`.
    pub fn add_floor(&mut self, offset: u64, floor: Time) {
        let f = self.floors.entry(offset).or_insert(floor);
        *f = (*f).max(floor);
    }

    /// The floor that applies at `offset`, if any.
    fn floor(&self, offset: u64) -> Option<Time> {
        self.floors.range(..=offset).next_back().map(|(_, f)| *f)
    }

    /// The stamp the record at `offset` with own time `own` gets.
    pub fn peek(&self, own: Time, offset: u64) -> Stamp {
        let floor = self.floor(offset);
        let time = match self.last {
            Some(last) if last.own == own && floor.is_none_or(|f| f <= last.time) => last.time,
            Some(last) if own > last.time => own,
            Some(last) => after(last.time, self.topic, self.partition, offset),
            None => own,
        };
        let time = match floor {
            Some(f) if time < f => at_or_after(f, self.topic, self.partition, offset),
            _ => time,
        };
        Stamp { time, own }
    }

    /// Stamps the record at `offset`: [`PartitionClock::peek`], then moves on.
    pub fn stamp(&mut self, own: Time, offset: u64) -> Time {
        self.stamp_at_least(own, offset, 0)
    }

    /// Stamps a record whose writer already stamped it `written` (in its
    /// header): the writer applied this rule, so the two agree unless
    /// another producer appended in between, when the rule wins.
    pub fn stamp_at_least(&mut self, own: Time, offset: u64, written: Time) -> Time {
        let mut stamp = self.peek(own, offset);
        stamp.time = stamp.time.max(written);
        self.last = Some(stamp);
        if self.floors.keys().next().is_some_and(|&o| o <= offset) {
            let keep = self.floors.split_off(&(offset + 1));
            self.floors = keep;
        }
        stamp.time
    }

    /// Takes `stamp` as the record at `offset`'s, whatever the rule says
    /// (the harness's deliberate bug: a query's output at its cause's time).
    #[cfg(feature = "mutation")]
    pub fn force(&mut self, stamp: Stamp) {
        self.last = Some(stamp);
    }

    /// The stamp of the last record seen, if any.
    pub fn last(&self) -> Option<Stamp> {
        self.last
    }

    /// The least time the record at `next_offset`, not yet seen, can get:
    /// the last record's own, since the next may share its cause.
    pub fn lower_bound(&self, next_offset: u64) -> Time {
        let last = self.last.map_or(0, |l| l.time);
        self.floor(next_offset).map_or(last, |f| f.max(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip() {
        let t = event_time(1_710_921_600_000, 513, 7, 123_456_789);
        assert_eq!(parts(t), (1_710_921_600_000, 513, 7, 123_456_789));
    }

    #[test]
    fn negative_and_huge_timestamps_clamp() {
        assert_eq!(parts(event_time(-5, 0, 0, 0)).0, 0);
        assert_eq!(parts(event_time(i64::MAX, 0, 0, 0)).0, MAX_TS);
    }

    #[test]
    fn a_late_record_keeps_offset_order_in_its_own_partition() {
        let mut clock = PartitionClock::new(7, 0);
        let a = clock.stamp(event_time(1_000, 7, 0, 0), 0);
        let b = clock.stamp(event_time(500, 7, 0, 1), 1);
        assert!(a < b);
        // As the contract states it: the partition's latest timestamp.
        assert_eq!(b, event_time(1_000, 7, 0, 1));
    }

    #[test]
    fn raised_records_stay_in_cause_order_and_distinct() {
        // A partition of topic 5 holds a record at 2000; then a query
        // writes outputs caused by records of topic 9 at 100, 100, 300.
        let mut clock = PartitionClock::new(5, 0);
        let first = clock.stamp(event_time(2_000, 5, 0, 0), 0);
        let c1 = event_time(100, 9, 0, 0);
        let c2 = event_time(300, 9, 0, 1);
        let t1 = clock.stamp(c1, 1);
        let t1b = clock.stamp(c1, 2); // the same cause: the same time
        let t2 = clock.stamp(c2, 3);
        assert!(first < t1 && t1 < t2);
        assert_eq!(t1, t1b);
        assert_eq!(parts(t1), (2_000, 5, 0, 1));
        assert_eq!(parts(t2), (2_000, 5, 0, 3));
    }

    #[test]
    fn a_place_that_sorts_first_moves_a_millisecond_on() {
        // The previous record's time came from topic 9; topic 5 sorts
        // before it at the same millisecond.
        let mut clock = PartitionClock::new(5, 0);
        let kept = clock.stamp(event_time(2_000, 9, 3, 40), 0);
        let raised = clock.stamp(event_time(1_000, 9, 3, 41), 1);
        assert!(kept < raised);
        assert_eq!(parts(raised), (2_001, 5, 0, 1));
    }

    #[test]
    fn a_cause_later_than_the_partition_keeps_its_time() {
        let mut clock = PartitionClock::new(5, 0);
        clock.stamp(event_time(1_000, 5, 0, 0), 0);
        let cause = event_time(3_000, 9, 0, 0);
        assert_eq!(clock.stamp(cause, 1), cause);
    }

    #[test]
    fn floors_raise_the_record_at_their_offset() {
        let mut clock = PartitionClock::new(5, 0);
        clock.stamp(event_time(1_000, 5, 0, 0), 0);
        let floor = event_time(9_000, 0, 0, 0);
        clock.add_floor(1, floor);
        assert_eq!(clock.lower_bound(1), floor);
        let late = clock.stamp(event_time(1_500, 5, 0, 1), 1);
        // The floor's millisecond, in this record's own place.
        assert_eq!(late, event_time(9_000, 5, 0, 1));
        let next = clock.stamp(event_time(1_600, 5, 0, 2), 2);
        assert!(next > late);
        assert_eq!(parts(next), (9_000, 5, 0, 2));
    }
}
