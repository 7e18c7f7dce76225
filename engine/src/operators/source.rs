//! Reading a topic into a collection of rows.
//!
//! Each worker reads the partitions assigned to it, stamps each record with
//! its logical time ([`crate::time`]) and decodes it. A record that cannot
//! be decoded becomes a [`ProcessingError`] beside the rows; the query goes
//! on. Partitions are read in merged time order, a batch at a time, so the
//! frontier advances steadily however large the backlog.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{ProbeHandle, Scope};

use ddsql_sql::catalog::{Header, SYSTEM_COLUMNS};
use ddsql_sql::types::{Row, Value};

use super::sink::written_time;
use super::split_errors;
use crate::io::{Codec, Decoded, Fetched, Headers, Transport};
use crate::time::{event_time, parts, Diff, PartitionClock, Time};
use crate::{ProcessingError, Stats};

/// What a source operator needs to read one topic.
#[derive(Clone)]
pub struct TopicReader {
    /// The catalog source, for error messages.
    pub origin: String,
    pub topic: String,
    pub topic_index: u16,
    /// Offsets to start from, per partition.
    pub start_offsets: Vec<u64>,
    /// Offsets to stop at, per partition: the ends seen when the run began.
    /// A live source reads on past them.
    pub end_offsets: Vec<u64>,
    pub codec: Arc<dyn Codec>,
    /// Skip records written by this dataflow's own sinks (they are fed to
    /// the source directly, at their original times).
    pub skip_own: bool,
    /// At most this many records per partition per activation.
    pub batch: usize,
    /// Take logical times from this header instead of record timestamps
    /// (see `RunOptions::sequence_header`).
    pub sequence_header: Option<String>,
    /// The decoded column that holds ROWTIME (`WITH (TIMESTAMP=...)`).
    pub timestamp_column: Option<usize>,
    /// How many columns a decoded row has (a tombstone's are NULL after
    /// what it decodes).
    pub width: usize,
    /// The header columns' positions in a decoded row, and what they hold.
    pub headers: Vec<(usize, Header)>,
    /// Source alignment: pause while this source's next record is more
    /// than this many milliseconds of event time ahead of what the sinks
    /// have completed, so a fast partition cannot pile its records up in
    /// the operators waiting for a slow one. Results do not depend on it.
    pub max_drift_ms: i64,
    /// Keep following the topic after the backlog (see [`Live`]).
    pub live: Option<Live>,
}

/// How a source follows its topic once the backlog is read.
///
/// A live partition that is caught up cannot know the timestamp of its next
/// record, so it would hold every other partition back forever. As ksqlDB
/// does with `max.task.idle.ms`, it holds them back for a bounded wait
/// only: its bound trails the wall clock by `idle_ms`. A record that
/// arrives after the source has moved past its partition's clock is
/// stamped just after the source's frontier; that assignment depends on
/// arrival, which is why it is the one thing a restart cannot recompute.
#[derive(Clone, Debug)]
pub struct Live {
    /// Set to stop: every source then releases its frontier and the
    /// dataflow drains.
    pub stop: Arc<AtomicBool>,
    /// The bounded wait for idle partitions, in ms.
    pub idle_ms: i64,
    /// How often a caught-up source looks for new records.
    pub poll: Duration,
    /// Live arrivals are stamped after this time: the latest time a
    /// previous run over the same data wrote, so that what this run's
    /// sinks skip as already written (see `operators::sink`) is exactly
    /// the replayed backlog.
    pub floor: Time,
}

impl Live {
    pub fn new(idle_ms: i64) -> Live {
        Live {
            stop: Arc::new(AtomicBool::new(false)),
            idle_ms,
            poll: Duration::from_millis(5),
            floor: 0,
        }
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The least time a caught-up partition holds the others at.
    fn idle_bound(&self) -> Time {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        event_time(now - self.idle_ms, 0, 0, 0).max(self.floor + 1)
    }
}

struct PartitionState {
    partition: u32,
    next: u64,
    end: u64,
    clock: PartitionClock,
    buffer: std::collections::VecDeque<Fetched>,
}

/// A record read from a topic.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum SourceItem {
    /// A row in the source's scan layout
    /// (`ROWTIME, ROWPARTITION, ROWOFFSET, columns...`).
    Row(Row),
    /// A record without a value (a tombstone), in the scan layout with
    /// every value column NULL. Tables delete its key; streams forward it
    /// through projections, as ksqlDB does.
    Delete(Row),
}

/// Reads `reader.topic`: its records, and decoding errors.
pub fn read_topic<'s>(
    scope: Scope<'s, Time>,
    reader: TopicReader,
    transport: Arc<dyn Transport>,
    stats: Arc<Stats>,
    completed: ProbeHandle<Time>,
) -> (
    VecCollection<'s, Time, SourceItem, Diff>,
    VecCollection<'s, Time, ProcessingError, Diff>,
) {
    let (index, peers) = (scope.index(), scope.peers());
    type Item = (Result<SourceItem, ProcessingError>, Time, Diff);
    let stream = source::<_, timely::container::CapacityContainerBuilder<Vec<Item>>, _, _>(
        scope,
        &format!("Read {}", reader.topic),
        move |cap, info| {
            let activator = scope.activator_for(info.address);
            let mut cap = Some(cap);
            let mut draining = false;
            let mut partitions: Vec<PartitionState> = (0..reader.end_offsets.len() as u32)
                .filter(|p| (reader.topic_index as usize + *p as usize) % peers == index)
                .map(|p| PartitionState {
                    partition: p,
                    next: reader.start_offsets[p as usize],
                    end: reader.end_offsets[p as usize],
                    clock: PartitionClock::default(),
                    buffer: Default::default(),
                })
                .collect();
            move |output| {
                let Some(c) = cap.as_mut() else { return };
                if !draining && reader.live.as_ref().is_some_and(Live::stopped) {
                    // Stopping: read up to the ends as they are now, so a
                    // record appended before the stop is never left to a
                    // later run (which would replay it at its natural time).
                    draining = true;
                    for p in partitions.iter_mut() {
                        match transport.end_offset(&reader.topic, p.partition) {
                            Ok(end) => p.end = end,
                            Err(e) => stats.fail(format!(
                                "reading topic '{}' partition {}: {e}",
                                reader.topic, p.partition
                            )),
                        }
                    }
                }
                let live = reader.live.as_ref().filter(|_| !draining);
                let frontier = *c.time();
                // Source alignment: wait while far ahead of what is done.
                if let Some(done) = completed.with_frontier(|f| f.first().copied()) {
                    if parts(*c.time()).0 > parts(done).0.saturating_add(reader.max_drift_ms) {
                        activator.activate();
                        return;
                    }
                }
                // Refill buffers, then emit in merged time order up to the
                // least time a partition with unread records could still produce.
                for p in partitions.iter_mut() {
                    if live.is_some() && p.buffer.is_empty() && p.next >= p.end {
                        match transport.end_offset(&reader.topic, p.partition) {
                            Ok(end) => p.end = end,
                            Err(e) => stats.fail(format!(
                                "reading topic '{}' partition {}: {e}",
                                reader.topic, p.partition
                            )),
                        }
                    }
                    if p.buffer.is_empty() && p.next < p.end {
                        let mut fetched = Vec::new();
                        let want = reader.batch.min((p.end - p.next) as usize);
                        match transport.read(&reader.topic, p.partition, p.next, want, &mut fetched)
                        {
                            Ok(next) if next > p.next => p.next = next,
                            // The log ended early (truncated); stop here.
                            Ok(_) => p.end = p.next,
                            Err(e) => {
                                stats.fail(format!(
                                    "reading topic '{}' partition {}: {e}",
                                    reader.topic, p.partition
                                ));
                                p.end = p.next;
                            }
                        }
                        p.buffer
                            .extend(fetched.into_iter().filter(|f| f.offset < p.end));
                    }
                }
                let mut session = output.session(c);
                let mut read = 0;
                loop {
                    // The partition whose head record has the least time.
                    let head = partitions
                        .iter_mut()
                        .filter(|p| !p.buffer.is_empty())
                        .min_by_key(|p| {
                            let f = p.buffer.front().unwrap();
                            (order_ts(&reader, f).max(0), p.partition, f.offset)
                        });
                    let Some(p) = head else { break };
                    let fetched = p.buffer.pop_front().unwrap();
                    read += 1;
                    if reader.skip_own && written_time(&fetched.record).is_some() {
                        continue;
                    }
                    let decoded = reader.codec.decode(
                        fetched.record.key.as_deref(),
                        fetched.record.value.as_deref(),
                    );
                    let error = |message: String| ProcessingError {
                        origin: reader.origin.clone(),
                        topic: Some(reader.topic.clone()),
                        partition: Some(p.partition),
                        offset: Some(fetched.offset),
                        timestamp: fetched.record.timestamp,
                        message,
                    };
                    // ROWTIME: the record's timestamp, or the TIMESTAMP column.
                    let rowtime = match (&decoded, reader.timestamp_column) {
                        (Ok(Decoded::Row(columns)), Some(i)) => match columns.get(i) {
                            Some(Value::BigInt(t)) | Some(Value::Timestamp(t)) => Ok(*t),
                            Some(other) => Err(error(format!("the TIMESTAMP column holds {other:?}, not a time; the record is skipped"))),
                            None => Err(error("the TIMESTAMP column is missing".into())),
                        },
                        _ => Ok(fetched.record.timestamp),
                    };
                    let ordering = match &reader.sequence_header {
                        Some(_) => order_ts(&reader, &fetched),
                        None => *rowtime.as_ref().unwrap_or(&fetched.record.timestamp),
                    };
                    let mut time =
                        p.clock
                            .stamp(ordering, reader.topic_index, p.partition, fetched.offset);
                    if time < frontier {
                        // Only a live source gets here: a late arrival.
                        p.clock.advance_to(parts(frontier).0 + 1);
                        time = p
                            .clock
                            .lower_bound(reader.topic_index, p.partition, fetched.offset);
                    }
                    let item = match (decoded, rowtime) {
                        (_, Err(e)) => Err(e),
                        (Ok(Decoded::Row(columns)), Ok(rowtime)) => {
                            let mut row = Vec::with_capacity(SYSTEM_COLUMNS.len() + columns.len());
                            row.push(Value::BigInt(rowtime));
                            row.push(Value::Int(p.partition as i32));
                            row.push(Value::BigInt(fetched.offset as i64));
                            row.extend(columns);
                            for (i, header) in &reader.headers {
                                row[SYSTEM_COLUMNS.len() + i] =
                                    header_value(header, &fetched.record.headers);
                            }
                            Ok(SourceItem::Row(row))
                        }
                        (Ok(Decoded::Tombstone(key)), _) => {
                            let mut row = Vec::with_capacity(SYSTEM_COLUMNS.len() + reader.width);
                            row.push(Value::BigInt(fetched.record.timestamp));
                            row.push(Value::Int(p.partition as i32));
                            row.push(Value::BigInt(fetched.offset as i64));
                            row.extend(key);
                            row.resize(SYSTEM_COLUMNS.len() + reader.width, Value::Null);
                            Ok(SourceItem::Delete(row))
                        }
                        (Err(message), _) => {
                            Err(error(format!("cannot decode the record: {message}")))
                        }
                    };
                    session.give((item, time, 1 as Diff));
                    if p.buffer.is_empty() && p.next < p.end {
                        // Its next record may come before the others' heads.
                        break;
                    }
                }
                drop(session);
                stats.add_read(read);
                // The least time this source may still produce: a buffered head's
                // own time, or for an unread partition the bound of its clock.
                // In live mode a caught-up partition holds the others back
                // for the bounded wait only (see [`Live`]).
                let idle = live.map(Live::idle_bound);
                let lower = partitions
                    .iter()
                    .filter_map(|p| match p.buffer.front() {
                        // With a TIMESTAMP column the time is known only once
                        // decoded; the clock's bound is safe either way.
                        Some(f)
                            if reader.timestamp_column.is_some()
                                && reader.sequence_header.is_none() =>
                        {
                            Some(
                                p.clock
                                    .lower_bound(reader.topic_index, p.partition, f.offset),
                            )
                        }
                        Some(f) => Some(p.clock.clone().stamp(
                            order_ts(&reader, f),
                            reader.topic_index,
                            p.partition,
                            f.offset,
                        )),
                        None => {
                            let bound =
                                p.clock.lower_bound(reader.topic_index, p.partition, p.next);
                            match idle {
                                _ if p.next < p.end => Some(bound),
                                Some(idle) => Some(bound.max(idle)),
                                None => None,
                            }
                        }
                    })
                    .min()
                    // A worker without partitions of a live topic.
                    .or(idle);
                match lower {
                    Some(t) => {
                        if *c.time() < t {
                            c.downgrade(&t);
                        }
                        let caught_up = partitions
                            .iter()
                            .all(|p| p.buffer.is_empty() && p.next >= p.end);
                        match live {
                            Some(live) if caught_up => activator.activate_after(live.poll),
                            _ => activator.activate(),
                        }
                    }
                    None => cap = None,
                }
            }
        },
    );
    split_errors(stream.as_collection(), |e| e)
}

/// What orders a record: its timestamp, or a harness's sequence number.
fn order_ts(reader: &TopicReader, f: &Fetched) -> i64 {
    match &reader.sequence_header {
        Some(h) => f
            .record
            .header(h)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0),
        None => f.record.timestamp,
    }
}

/// A header column's value from a record's headers: all of them as
/// `ARRAY<STRUCT<KEY, VALUE>>`, or the last value of one key.
fn header_value(header: &Header, headers: &Headers) -> Value {
    let bytes = |v: &Option<Vec<u8>>| v.clone().map_or(Value::Null, Value::Bytes);
    match header {
        Header::All => Value::Array(
            headers
                .iter()
                .map(|(k, v)| Value::Struct(vec![Value::String(k.clone()), bytes(v)]))
                .collect(),
        ),
        Header::Key(key) => headers
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map_or(Value::Null, |(_, v)| bytes(v)),
    }
}
