//! Reading a topic into a collection of rows.
//!
//! Each worker reads the partitions assigned to it, stamps each record
//! with its final time by the partition's rule ([`crate::time`],
//! [`crate::clock`]) and decodes it. A record that cannot be decoded
//! becomes a [`ProcessingError`] beside the rows; the query goes on.
//! Partitions are read in merged time order, a batch at a time, so the
//! frontier advances steadily however large the backlog.
//!
//! A topic that running queries write is read like any other (a query's
//! output reaches its readers through the log, at the times its writer
//! stamped), except that a reader at its end waits for the writers'
//! progress instead of stopping: it passes a time only once no writer can
//! still append a record before it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{ProbeHandle, Scope};

use ddsql_sql::catalog::{rowtime_of, Header, SYSTEM_COLUMNS};
use ddsql_sql::types::{Row, Value};

use super::split_errors;
use crate::clock::{cause_time, written_time, Clock, STAMP_HEADER};
use crate::io::{Codec, Decoded, Fetched, Headers, IoError, Transport};
use crate::job::Progress;
use crate::time::{event_time, parts, Diff, PartitionClock, Time};
use crate::{ErrorKind, ProcessingError, Stats};

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
    /// A live source, or one whose topic queries of this run write, reads
    /// on past them.
    pub end_offsets: Vec<u64>,
    /// Queries of this run write the topic: at its end, wait for them.
    pub written: bool,
    pub codec: Arc<dyn Codec>,
    /// At most this many records per partition per activation.
    pub batch: usize,
    /// Take own times from this header instead of record timestamps
    /// (see `RunOptions::sequence_header`).
    pub sequence_header: Option<String>,
    /// The decoded column that holds ROWTIME (`WITH (TIMESTAMP=...)`).
    pub timestamp_column: Option<usize>,
    /// The pattern of a STRING TIMESTAMP column (`TIMESTAMP_FORMAT`).
    pub timestamp_format: Option<String>,
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
    pub clock: Arc<Clock>,
    /// Where the reader publishes how far it has read (see
    /// `job::Progress`).
    pub progress: Option<Arc<Progress>>,
}

/// How a source follows its topic once the backlog is read.
///
/// A live partition that is caught up cannot know the timestamp of its next
/// record, so it would hold every other partition back forever. As ksqlDB
/// does with `max.task.idle.ms`, it holds them back for a bounded wait
/// only: its bound trails the wall clock by `idle_ms`. Moving past a time
/// is recorded in the [`Clock`], so a record that arrives later is stamped
/// no earlier, and that stamp is kept durably.
#[derive(Clone, Debug)]
pub struct Live {
    /// Set to stop: every source then releases its frontier and the
    /// dataflow drains.
    pub stop: Arc<AtomicBool>,
    /// The bounded wait for idle partitions, in ms.
    pub idle_ms: i64,
    /// How often a caught-up source looks for new records.
    pub poll: Duration,
}

impl Live {
    pub fn new(idle_ms: i64) -> Live {
        Live {
            stop: Arc::new(AtomicBool::new(false)),
            idle_ms,
            poll: Duration::from_millis(5),
        }
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The least time a caught-up partition holds the others at.
    fn idle_bound(&self) -> Time {
        event_time(crate::now_ms() - self.idle_ms, 0, 0, 0)
    }
}

/// How often a caught-up live partition records a checkpoint.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

struct PartitionState {
    partition: u32,
    next: u64,
    end: u64,
    clock: PartitionClock,
    buffer: VecDeque<Fetched>,
    watch: Arc<AtomicU64>,
    /// What the topic's writers may still append, read just before `end`
    /// was last refreshed (see [`Clock::written_bound`]); `checked` says
    /// whether that happened since `end` was set otherwise (at the start).
    writers: Option<Option<Time>>,
    checked: bool,
    /// The time of the buffer's head, once asked (see `head_time`).
    head: Option<Time>,
    checkpointed: Option<(u64, Instant)>,
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

impl TopicReader {
    /// A record's own time as this source orders it: its timestamp, a
    /// harness's sequence number, or the TIMESTAMP column's value.
    fn own_time(&self, partition: u32, f: &Fetched, rowtime: Option<i64>) -> Time {
        let ts = match (&self.sequence_header, rowtime) {
            (Some(h), _) => f
                .record
                .header(h)
                .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                .unwrap_or(0),
            (None, Some(t)) => t,
            (None, None) => f.record.timestamp,
        };
        event_time(ts, self.topic_index, partition, f.offset)
    }

    /// The time the buffered head record of `p` will get, or a lower bound
    /// when only decoding can tell (a TIMESTAMP column); kept until the
    /// head is taken, since the merge asks for it once per record emitted.
    fn head_time(&self, p: &mut PartitionState) -> Option<Time> {
        if p.head.is_none() {
            let f = p.buffer.front()?;
            let t = if self.timestamp_column.is_some()
                && self.sequence_header.is_none()
                && written_time(&f.record).is_none()
            {
                p.clock.lower_bound(f.offset)
            } else {
                self.peek(p, f)
            };
            p.head = Some(t);
        }
        p.head
    }

    fn peek(&self, p: &PartitionState, f: &Fetched) -> Time {
        let own = self.own_time(p.partition, f, None);
        match written_time(&f.record) {
            #[cfg(feature = "mutation")]
            Some(w) if crate::mutation::active(crate::mutation::Mutation::FeedAtCauseTime) => w,
            Some(w) => p
                .clock
                .peek(cause_time(&f.record).unwrap_or(own), f.offset)
                .time
                .max(w),
            None => p.clock.peek(own, f.offset).time,
        }
    }

    /// Stamps `f`, the next record of `p`, with its final time.
    fn stamp(
        &self,
        p: &mut PartitionState,
        f: &Fetched,
        rowtime: Option<i64>,
    ) -> Result<Time, IoError> {
        let own = self.own_time(p.partition, f, rowtime);
        if let Some(written) = written_time(&f.record) {
            let own = cause_time(&f.record).unwrap_or(own);
            #[cfg(feature = "mutation")]
            if crate::mutation::active(crate::mutation::Mutation::FeedAtCauseTime) {
                p.clock.force(crate::time::Stamp { time: written, own });
                return Ok(written);
            }
            return Ok(p.clock.stamp_at_least(own, f.offset, written));
        }
        if f.offset >= p.watch.load(Ordering::Relaxed) {
            let time = p.clock.peek(own, f.offset).time;
            if let Some(floor) =
                self.clock
                    .arrival_floor(&self.topic, p.partition, f.offset, time)?
            {
                p.clock.add_floor(f.offset, floor);
            }
        }
        Ok(p.clock.stamp(own, f.offset))
    }

    /// Whether checkpoints from this reader hold for every reader: its own
    /// times are the records' timestamps.
    fn checkpoints(&self) -> bool {
        self.sequence_header.is_none() && self.timestamp_column.is_none()
    }
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
            // Woken by ddsql's own writes to the topic, and its writers'
            // progress; the poll is for other producers.
            let woken = reader.clock.wake_on(
                &reader.topic,
                scope.worker().sync_activator_for(info.address.to_vec()),
            );
            let activator = scope.activator_for(info.address);
            let mut cap = Some(cap);
            let mut draining = false;
            let topic = reader.topic.clone();
            let fail = move |stats: &Stats, p: u32, e: IoError| {
                stats.fail(format!("reading topic '{topic}' partition {p}: {e}"))
            };
            let mut partitions: Vec<PartitionState> = Vec::new();
            for p in (0..reader.end_offsets.len() as u32)
                .filter(|p| (reader.topic_index as usize + *p as usize) % peers == index)
            {
                let start = reader.start_offsets[p as usize];
                let state = reader
                    .clock
                    .reader_clock(&reader.topic, p, start)
                    .and_then(|clock| Ok((clock, reader.clock.watch(&reader.topic, p)?)));
                match state {
                    Ok((clock, watch)) => partitions.push(PartitionState {
                        partition: p,
                        next: start,
                        end: reader.end_offsets[p as usize],
                        clock,
                        buffer: Default::default(),
                        watch,
                        writers: None,
                        checked: false,
                        head: None,
                        checkpointed: None,
                    }),
                    Err(e) => fail(&stats, p, e),
                }
            }
            move |output| {
                // Held as long as the operator lives.
                let _ = &woken;
                let Some(c) = cap.as_mut() else { return };
                if !draining && reader.live.as_ref().is_some_and(Live::stopped) {
                    // Stopping: read up to the ends as they are now, so a
                    // record appended before the stop is never left to a
                    // later run (which would stamp it after the stop).
                    draining = true;
                    for p in partitions.iter_mut() {
                        match transport.end_offset(&reader.topic, p.partition) {
                            Ok(end) => p.end = end,
                            Err(e) => fail(&stats, p.partition, e),
                        }
                    }
                }
                let live = reader.live.as_ref().filter(|_| !draining);
                let follow = live.is_some() || reader.written;
                let frontier = *c.time();
                // Source alignment: wait while far ahead of what is done.
                if let Some(done) = completed.with_frontier(|f| f.first().copied()) {
                    if parts(frontier).0 > parts(done).0.saturating_add(reader.max_drift_ms) {
                        activator.activate();
                        return;
                    }
                }
                // Refill buffers. At the end of a followed partition, what
                // the writers may still append is read before the end is
                // refreshed: a writer appends, then publishes.
                for p in partitions.iter_mut() {
                    if follow && p.buffer.is_empty() && p.next >= p.end {
                        p.writers = reader.clock.written_bound(&reader.topic, p.partition);
                        match transport.end_offset(&reader.topic, p.partition) {
                            Ok(end) => {
                                p.end = end;
                                p.checked = true;
                            }
                            Err(e) => fail(&stats, p.partition, e),
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
                                fail(&stats, p.partition, e);
                                p.end = p.next;
                            }
                        }
                        p.buffer
                            .extend(fetched.into_iter().filter(|f| f.offset < p.end));
                    }
                }
                // Emit in merged time order up to the least time a partition
                // with unread records could still produce.
                let mut session = output.session(c);
                let mut read = 0;
                let mut latest = None;
                loop {
                    let head = partitions
                        .iter_mut()
                        .filter_map(|p| Some((reader.head_time(p)?, p)))
                        .min_by_key(|(t, p)| (*t, p.partition))
                        .map(|(_, p)| p);
                    let Some(p) = head else { break };
                    let fetched = p.buffer.pop_front().unwrap();
                    p.head = None;
                    read += 1;
                    let decoded = reader.codec.decode(
                        fetched.record.key.as_deref(),
                        fetched.record.value.as_deref(),
                    );
                    let partition = p.partition;
                    let error = |kind, message: String| ProcessingError {
                        kind,
                        origin: reader.origin.clone(),
                        topic: Some(reader.topic.clone()),
                        partition: Some(partition),
                        offset: Some(fetched.offset),
                        timestamp: fetched.record.timestamp,
                        message,
                    };
                    // ROWTIME: the record's timestamp, or the TIMESTAMP column.
                    let rowtime = match (&decoded, reader.timestamp_column) {
                        (Ok(Decoded::Row(columns)), Some(i)) => match columns.get(i) {
                            Some(v) => {
                                rowtime_of(v, reader.timestamp_format.as_deref()).map_err(|e| {
                                    error(
                                        ErrorKind::RecordProcessing,
                                        format!("{e}; the record is skipped"),
                                    )
                                })
                            }
                            None => Err(error(
                                ErrorKind::RecordProcessing,
                                "the TIMESTAMP column is missing".into(),
                            )),
                        },
                        _ => Ok(fetched.record.timestamp),
                    };
                    let ordering = reader.timestamp_column.and(rowtime.as_ref().ok().copied());
                    let time = match reader.stamp(p, &fetched, ordering) {
                        Ok(t) => t,
                        Err(e) => {
                            fail(&stats, p.partition, e);
                            p.clock.lower_bound(fetched.offset)
                        }
                    };
                    debug_assert!(
                        time >= frontier,
                        "a record stamped before the source's frontier"
                    );
                    let time = time.max(frontier);
                    latest = Some(time);
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
                        (Err(message), _) => Err(error(
                            ErrorKind::Deserialization,
                            format!("cannot decode the record: {message}"),
                        )),
                    };
                    session.give((item, time, 1 as Diff));
                    if p.buffer.is_empty() && p.next < p.end {
                        // Its next record may come before the others' heads.
                        break;
                    }
                }
                drop(session);
                stats.add_read(read);
                if let Some(t) = latest {
                    stats.saw_time(t);
                }
                if let Some(progress) = &reader.progress {
                    for p in &partitions {
                        let next = p.buffer.front().map_or(p.next, |f| f.offset);
                        progress.publish(
                            &reader.origin,
                            p.partition,
                            next,
                            p.clock.last().map(|l| l.time),
                        );
                    }
                }
                // The least time this source may still produce: a buffered
                // head's own time, for an unread partition the bound of its
                // clock; at the end of a followed partition, what its
                // writers and (live) the bounded wait allow, recorded in
                // the clock before the frontier moves past it.
                let idle = live.map(Live::idle_bound);
                let mut lower: Option<Time> = None;
                for p in partitions.iter_mut() {
                    let bound = if let Some(t) = reader.head_time(p) {
                        Some(t)
                    } else if p.next < p.end {
                        Some(p.clock.lower_bound(p.next))
                    } else if !follow {
                        None
                    } else {
                        caught_up_bound(&reader, p, idle).unwrap_or_else(|e| {
                            fail(&stats, p.partition, e);
                            None
                        })
                    };
                    #[cfg(feature = "mutation")]
                    let bound = match (bound, p.writers) {
                        // Today's bug: outputs fed at their causes' times,
                        // which may be before what the partition holds.
                        (Some(b), Some(Some(w)))
                            if crate::mutation::active(
                                crate::mutation::Mutation::FeedAtCauseTime,
                            ) =>
                        {
                            Some(b.min(w))
                        }
                        (b, _) => b,
                    };
                    if let Some(b) = bound {
                        lower = Some(lower.map_or(b, |l| l.min(b)));
                    } else if reader.checkpoints() && p.checkpointed.is_none() {
                        // Done: leave the next run a place to resume from.
                        if let Some(last) = p.clock.last() {
                            if let Err(e) =
                                reader
                                    .clock
                                    .checkpoint(&reader.topic, p.partition, p.next, last)
                            {
                                fail(&stats, p.partition, e);
                            }
                        }
                        p.checkpointed = Some((p.next, Instant::now()));
                    }
                }
                // A worker without partitions of a live topic.
                let lower = lower.or(idle);
                match lower {
                    Some(t) => {
                        if *c.time() < t {
                            c.downgrade(&t);
                        }
                        let caught_up = partitions.iter().all(|p| {
                            p.buffer.is_empty() && p.next >= p.end && (p.checked || !follow)
                        });
                        match live {
                            Some(live) if caught_up => activator.activate_after(live.poll),
                            _ if caught_up => activator.activate_after(Duration::from_millis(1)),
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

/// The bound of a followed partition that has nothing unread: after its
/// last record, and as far as its writers (and for a live reader, the
/// bounded wait) allow; `None` once nothing more can come. Moving past
/// what the log itself implies is recorded in the clock first.
fn caught_up_bound(
    reader: &TopicReader,
    p: &mut PartitionState,
    idle: Option<Time>,
) -> Result<Option<Time>, IoError> {
    let base = p.clock.lower_bound(p.next);
    if !p.checked {
        // Caught up with the end seen at the start: look again first.
        return Ok(Some(base));
    }
    let target = match (p.writers, idle) {
        (Some(Some(w)), Some(idle)) => Some(w.min(idle)),
        (Some(Some(w)), None) => Some(w),
        (_, Some(idle)) => Some(idle),
        (_, None) => None,
    };
    let Some(target) = target else {
        return Ok(None);
    };
    if target <= base {
        return Ok(Some(base));
    }
    if !reader
        .clock
        .release(&reader.topic, p.partition, p.next, target)?
    {
        // A record just arrived: read it first.
        return Ok(Some(base));
    }
    if reader.live.is_some() && reader.checkpoints() {
        if let Some(last) = p.clock.last() {
            let due = p
                .checkpointed
                .is_none_or(|(at, when)| at != p.next && when.elapsed() >= CHECKPOINT_EVERY);
            if due {
                reader
                    .clock
                    .checkpoint(&reader.topic, p.partition, p.next, last)?;
                p.checkpointed = Some((p.next, Instant::now()));
            }
        }
    }
    Ok(Some(target))
}

/// A header column's value from a record's headers: all of them as
/// `ARRAY<STRUCT<KEY, VALUE>>`, or the last value of one key. ddsql's own
/// stamp header is bookkeeping, not the record's: it is left out.
fn header_value(header: &Header, headers: &Headers) -> Value {
    let bytes = |v: &Option<Vec<u8>>| v.clone().map_or(Value::Null, Value::Bytes);
    let ours = |k: &str| k == STAMP_HEADER;
    match header {
        Header::All => Value::Array(
            headers
                .iter()
                .filter(|(k, _)| !ours(k))
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
