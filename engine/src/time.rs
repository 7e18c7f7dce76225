//! Logical time: one distinct, totally ordered time per source record.
//!
//! A record's time is derived from the record itself: its timestamp
//! (`ROWTIME`), then a fixed tie-break of source topic, partition and
//! offset. Packed into a `u128` (most significant first):
//!
//! | bits | field |
//! |------|-------|
//! | 44   | timestamp in ms, clamped to `0 ..= 2^44-1` (until year 2527) |
//! | 16   | the topic's index (stable, assigned by the transport) |
//! | 16   | partition |
//! | 52   | offset |
//!
//! Because the time is a function of the record, every worker, process and
//! restart computes the same time for the same record, with no coordinator;
//! a backlog replays in event-time order whatever the read speed. Within a
//! partition offsets must stay ordered, so a record whose timestamp is below
//! what its partition already produced takes the partition's last timestamp
//! ([`PartitionClock`]).
//!
//! ```
//! use ddsql_engine::time::{event_time, PartitionClock};
//! let mut clock = PartitionClock::default();
//! let a = clock.stamp(1_000, 7, 0, 0);
//! let b = clock.stamp(500, 7, 0, 1); // late: keeps offset order
//! assert!(a < b);
//! assert_eq!(b, event_time(1_000, 7, 0, 1));
//! // Across topics, the earlier timestamp goes first whatever the offsets.
//! assert!(event_time(999, 9, 3, 1 << 40) < event_time(1_000, 0, 0, 0));
//! ```

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

/// Stamps the records of one partition, in offset order, keeping times
/// increasing even when timestamps go backwards.
#[derive(Clone, Debug, Default)]
pub struct PartitionClock {
    last_ts: i64,
}

impl PartitionClock {
    pub fn stamp(&mut self, ts_ms: i64, topic: u16, partition: u32, offset: u64) -> Time {
        self.last_ts = self.last_ts.max(ts_ms.clamp(0, MAX_TS));
        event_time(self.last_ts, topic, partition, offset)
    }

    /// Makes later records of this partition stamp at `ts_ms` or after: a
    /// live source uses it when a record arrives after the source's
    /// frontier has moved past the partition's clock.
    pub fn advance_to(&mut self, ts_ms: i64) {
        self.last_ts = self.last_ts.max(ts_ms.clamp(0, MAX_TS));
    }

    /// A lower bound on the time of this partition's record at `next_offset`.
    pub fn lower_bound(&self, topic: u16, partition: u32, next_offset: u64) -> Time {
        event_time(self.last_ts, topic, partition, next_offset)
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
}
