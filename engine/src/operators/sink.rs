//! Writing a collection of encoded records to a topic.
//!
//! Records are routed to the worker owning their partition and appended in
//! time order once their time is complete, through the partition's one
//! ordered write path ([`Clock::append`]), so a partition's contents are a
//! function of the inputs alone. Each record carries its final time and
//! its cause's time in headers: on a rerun over the same data, records
//! whose cause is already in the partition are not written again. After
//! each append the sink publishes how far it has written, which is what
//! readers of the topic wait for.

use std::collections::BTreeMap;
use std::sync::Arc;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::{complete_before, Pending};
use crate::clock::Writer;
use crate::io::Record;
use crate::time::{Diff, Time};
use crate::Stats;

/// An encoded output record, bound for a partition.
///
/// Records of one time are written in this type's order, tombstones
/// first: what one input record changes (a session merged into a larger
/// one, a row moved to another key) reads as Kafka Streams writes it, the
/// old gone before the new appears.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SinkRecord {
    pub partition: u32,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
}

impl SinkRecord {
    fn order(&self) -> impl Ord + '_ {
        (
            self.partition,
            self.value.is_some(),
            &self.key,
            &self.value,
            self.timestamp,
        )
    }
}

impl Ord for SinkRecord {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

impl PartialOrd for SinkRecord {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Appends `records` to `writer`'s topic, each marked as written by
/// `query`. `written[p]` is the latest cause time the query already wrote
/// to partition `p` (in an earlier run); records caused at or before it are
/// skipped. After each append the sink publishes how far it has written.
pub fn write_topic(
    records: VecCollection<'_, Time, SinkRecord, Diff>,
    query: String,
    writer: Arc<Writer>,
    written: Vec<Option<Time>>,
    stats: Arc<Stats>,
) {
    let worker = records.inner.scope().index();
    let mut pending = Pending::default();
    records.inner.sink(
        Exchange::new(|u: &(SinkRecord, Time, Diff)| u.0.partition as u64),
        "WriteTopic",
        move |(input, frontier)| {
            input.for_each(|_, data| pending.push(data));
            let bound = complete_before(&[frontier]);
            let ready = pending.take(bound);
            let mut by_partition: BTreeMap<u32, Vec<(Record, Time)>> = BTreeMap::new();
            for (rec, time, diff) in ready {
                if written
                    .get(rec.partition as usize)
                    .copied()
                    .flatten()
                    .is_some_and(|w| time <= w)
                {
                    continue;
                }
                let record = Record {
                    key: rec.key,
                    value: rec.value,
                    timestamp: rec.timestamp,
                    headers: Vec::new(),
                };
                let out = by_partition.entry(rec.partition).or_default();
                // Almost always one copy: move it, cloning only for the rest.
                if diff > 1 {
                    out.extend(std::iter::repeat_n(
                        (record.clone(), time),
                        diff as usize - 1,
                    ));
                }
                if diff > 0 {
                    out.push((record, time));
                }
            }
            match writer.write(worker, by_partition, bound) {
                Ok(n) => stats.add_written(n),
                Err(e) => stats.fail(format!("writing the results of {query}: {e}")),
            }
        },
    );
}
