//! The clock: how every record of a partition gets its final time, for
//! every reader and writer of one process.
//!
//! [`crate::time::PartitionClock`] is the rule. This module keeps what the
//! rule needs beyond a partition's records, and makes everything ddsql
//! itself writes follow it:
//!
//! - **One ordered write path per partition.** Every write ddsql makes
//!   (a query's output, INSERT VALUES, `/inserts-stream`, `ddsql topic
//!   produce`) goes through [`Clock::append`], which stamps each record
//!   after the partition's last one under the partition's lock and writes
//!   the final time in the record's [`STAMP_HEADER`] (and a query output's
//!   own time, its cause's, and the query's id). So a partition's offset
//!   order and its time order are the same by construction, and rows
//!   already in a partition precede everything a query writes to it later.
//! - **Stamps at arrival, recorded.** A live reader that has caught up
//!   cannot wait for a partition's next record forever; like ksqlDB's
//!   `max.task.idle.ms` it moves on ([`Clock::release`]). A record that
//!   then arrives with an earlier own time is stamped at the released
//!   time, and that floor is appended to [`TIMES_TOPIC`] before anyone
//!   sees the record ([`Clock::arrival_floor`]), so a replay, a restart
//!   or a later query gives it the same time. Records ddsql writes carry
//!   their floor in their header; only other producers' records need one.
//! - **Writers' progress.** A reader of a topic that running queries write
//!   waits for them ([`Clock::written_bound`]): it passes time `t` only
//!   once every writer has appended everything before `t`.
//! - **Checkpoints.** A partition's final times depend on all its earlier
//!   records, so [`TIMES_TOPIC`] also keeps the stamp at an offset now and
//!   then: a reader that starts from the latest offsets, or a writer that
//!   opens a partition, resumes from the newest checkpoint instead of
//!   reading the partition from its start.
//!
//! The bindings topic holds JSON values `{"topic", "partition", "offset",
//! "floor"?, "time"?, "own"?}` (times in hexadecimal): a floor for the
//! records from `offset` on, or the stamp of the record before `offset`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use timely::scheduling::SyncActivator;

use serde_json::{json, Value as Json};

use crate::io::{Fetched, IoError, Record, Transport};
use crate::time::{event_time, PartitionClock, Stamp, Time};

/// The header of every record ddsql writes: its final logical time, 16
/// bytes big-endian; for a query's output also its own time (the time of
/// the input record that caused it), 16 more bytes, then the id of the
/// query that wrote it, so a query restarted over a topic others write
/// too finds where it stopped. One binary header, not three texts: a
/// record pays one allocation and no formatting for it.
pub const STAMP_HEADER: &str = "ddsql";
/// The topic of floors and checkpoints (see the module docs).
pub const TIMES_TOPIC: &str = "_ddsql_times";

fn stamp(record: &Record) -> Option<&[u8]> {
    record.header(STAMP_HEADER)
}

fn time_at(bytes: &[u8], at: usize) -> Option<Time> {
    Some(Time::from_be_bytes(
        bytes.get(at..at + 16)?.try_into().ok()?,
    ))
}

/// The final time in a record's [`STAMP_HEADER`], if ddsql wrote it.
pub fn written_time(record: &Record) -> Option<Time> {
    time_at(stamp(record)?, 0)
}

/// The own time of a query's output record (its cause's time).
pub fn cause_time(record: &Record) -> Option<Time> {
    time_at(stamp(record)?, 16)
}

/// The query that wrote an output record.
pub fn written_by(record: &Record) -> Option<&[u8]> {
    stamp(record)?.get(32..)
}

/// A stamp header's parts as text, for people (`ddsql topic consume`).
pub fn describe_stamp(bytes: &[u8]) -> String {
    let mut parts = Vec::new();
    if let Some(t) = time_at(bytes, 0) {
        parts.push(format!("time {t:x}"));
    }
    if let Some(t) = time_at(bytes, 16) {
        parts.push(format!("cause {t:x}"));
    }
    if let Some(q) = bytes.get(32..).filter(|q| !q.is_empty()) {
        parts.push(format!("query {}", String::from_utf8_lossy(q)));
    }
    parts.join(", ")
}

/// What a record written through [`Clock::append`] is stamped from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Own {
    /// A query's output: the time of the input record that caused it, and
    /// the query's id.
    Cause(Time, Arc<str>),
    /// A row inserted now (INSERT VALUES, `/inserts-stream`, produce):
    /// its own time comes from its timestamp at the offset it lands at.
    Arrival,
}

/// The shared state of one partition.
struct Partition {
    topic_index: u16,
    partition: u32,
    /// Durable floors, by the offset they apply from.
    floors: BTreeMap<u64, Time>,
    /// Durable checkpoints: the stamp of the record before each offset.
    checkpoints: BTreeMap<u64, Stamp>,
    /// The clock after the partition's last record and the next offset,
    /// once someone needed it; kept current by every append.
    tail: Option<(u64, PartitionClock)>,
    /// Times readers have moved past while caught up at an offset, not yet
    /// met by a record there.
    released: BTreeMap<u64, Time>,
    /// The least offset at which a reader released a time in this process:
    /// records from there on are stamped through [`Clock::arrival_floor`].
    watch: Arc<AtomicU64>,
}

/// One registered writer of a topic (a query's sink): its frontier per
/// worker (the worker whose sink instance owns a partition publishes for
/// it). Dropping it unregisters it.
pub struct Writer {
    topic: String,
    id: u64,
    /// The query whose sink this is (its records carry the id).
    query: Arc<str>,
    /// Append as written, without waiting for the topic's other writers
    /// (the processing log, which no query reads in order).
    direct: bool,
    entry: Arc<Mutex<TopicWriters>>,
    clock: Arc<Clock>,
}

/// A record waiting for other writers: `(own time, writer, sequence)`.
type Pending = ((Time, u64, u64), Record);

/// A topic's writers, and what some wrote that waits for the others.
#[derive(Default)]
struct TopicWriters {
    next_id: u64,
    /// `(id, frontier per worker)`, in registration order.
    writers: Vec<(u64, Vec<Option<Time>>)>,
    /// Each writer's query, for its records waiting in `pending`.
    queries: BTreeMap<u64, Arc<str>>,
    /// Per partition: `(own time, writer, sequence)` and the record.
    pending: BTreeMap<u32, Vec<Pending>>,
    sequence: u64,
}

impl TopicWriters {
    /// The least own time any writer may still write to `partition`;
    /// `None` once all are done.
    fn bound(&self, partition: u32) -> Option<Time> {
        self.writers
            .iter()
            .filter_map(|(_, slots)| slots[partition as usize % slots.len()])
            .min()
    }
}

impl Writer {
    /// Writes what this writer's instance on `worker` completed: `records`
    /// per partition, each in own-time order with its own time. Then
    /// everything it will still write has an own time at or after
    /// `frontier` (`None`: it is done). Several writers of one topic are
    /// merged by own time (then by registration order): a record is
    /// appended once no writer can still write an earlier one, so the
    /// partition's order does not depend on which writer ran first.
    pub fn write(
        &self,
        worker: usize,
        records: BTreeMap<u32, Vec<(Record, Time)>>,
        frontier: Option<Time>,
    ) -> Result<u64, IoError> {
        let mut w = lock(&self.entry);
        if let Some((_, slots)) = w.writers.iter_mut().find(|(id, _)| *id == self.id) {
            if let Some(slot) = slots.get_mut(worker) {
                *slot = frontier;
            }
        }
        let mut written = 0;
        if self.direct || w.writers.len() <= 1 {
            for (partition, records) in records {
                written += records.len() as u64;
                let records = records
                    .into_iter()
                    .map(|(r, t)| (r, Own::Cause(t, self.query.clone())))
                    .collect();
                self.clock.append(&self.topic, partition, records)?;
            }
            drop(w);
            // Its frontier moved, if nothing else: readers may move on.
            self.clock.wake(&self.topic);
            return Ok(written);
        }
        for (partition, records) in records {
            written += records.len() as u64;
            for (record, own) in records {
                w.sequence += 1;
                let key = (own, self.id, w.sequence);
                w.pending.entry(partition).or_default().push((key, record));
            }
        }
        self.clock.flush_pending(&self.topic, &mut w)?;
        drop(w);
        self.clock.wake(&self.topic);
        Ok(written)
    }
}

impl Writer {
    /// The least own time this writer may still write (`None`: done).
    pub fn frontier(&self) -> Option<Time> {
        let w = lock(&self.entry);
        w.writers
            .iter()
            .find(|(id, _)| *id == self.id)
            .and_then(|(_, slots)| slots.iter().copied().min().flatten())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let mut w = lock(&self.entry);
        w.writers.retain(|(id, _)| *id != self.id);
        let pending_mine = w
            .pending
            .values()
            .flatten()
            .any(|((_, writer, _), _)| *writer == self.id);
        if !pending_mine {
            w.queries.remove(&self.id);
        }
        // What others wrote may have waited only for this one.
        if let Err(e) = self.clock.flush_pending(&self.topic, &mut w) {
            tracing::error!("writing to topic '{}': {e}", self.topic);
        }
    }
}

/// A partition's shared state, by topic and partition.
type Partitions = HashMap<(String, u32), Arc<Mutex<Partition>>>;

/// The clock of one process (see the module docs).
pub struct Clock {
    transport: Arc<dyn Transport>,
    partitions: Mutex<Partitions>,
    /// Per topic, its registered writers.
    writers: Mutex<HashMap<String, Arc<Mutex<TopicWriters>>>>,
    /// Per topic, the readers to wake when ddsql writes to it or one of
    /// its writers moves on, so a query's output reaches the queries
    /// reading its topic without waiting for their next poll.
    readers: Mutex<HashMap<String, Vec<Weak<SyncActivator>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An entry of [`TIMES_TOPIC`].
#[derive(Debug, PartialEq)]
struct Binding {
    topic: String,
    partition: u32,
    offset: u64,
    floor: Option<Time>,
    stamp: Option<Stamp>,
}

impl Binding {
    fn to_json(&self) -> Json {
        let mut v =
            json!({"topic": self.topic, "partition": self.partition, "offset": self.offset});
        if let Some(f) = self.floor {
            v["floor"] = json!(format!("{f:x}"));
        }
        if let Some(s) = self.stamp {
            v["time"] = json!(format!("{:x}", s.time));
            v["own"] = json!(format!("{:x}", s.own));
        }
        v
    }

    fn from_json(v: &Json) -> Option<Binding> {
        let time = |k: &str| {
            v.get(k)
                .and_then(Json::as_str)
                .and_then(|h| Time::from_str_radix(h, 16).ok())
        };
        Some(Binding {
            topic: v.get("topic")?.as_str()?.to_string(),
            partition: v.get("partition")?.as_u64()? as u32,
            offset: v.get("offset")?.as_u64()?,
            floor: time("floor"),
            stamp: match (time("time"), time("own")) {
                (Some(time), Some(own)) => Some(Stamp { time, own }),
                _ => None,
            },
        })
    }
}

impl Clock {
    /// Opens the clock of `transport`'s topics, reading the floors and
    /// checkpoints recorded in [`TIMES_TOPIC`] (created when the first is
    /// recorded).
    pub fn open(transport: Arc<dyn Transport>) -> Result<Arc<Clock>, IoError> {
        let clock = Clock {
            transport: transport.clone(),
            partitions: Mutex::new(HashMap::new()),
            writers: Mutex::new(HashMap::new()),
            readers: Mutex::new(HashMap::new()),
        };
        if transport.partitions(TIMES_TOPIC)?.is_none() {
            return Ok(Arc::new(clock));
        }
        let end = transport.end_offset(TIMES_TOPIC, 0)?;
        let mut entries = Vec::new();
        transport.read_range(TIMES_TOPIC, 0, 0, end, &mut entries)?;
        for f in entries {
            let binding = f
                .record
                .value
                .as_deref()
                .and_then(|v| serde_json::from_slice(v).ok())
                .and_then(|v: Json| Binding::from_json(&v));
            let Some(b) = binding else {
                tracing::warn!(
                    offset = f.offset,
                    "an unreadable entry in {TIMES_TOPIC}: skipped"
                );
                continue;
            };
            let Ok(state) = clock.partition(&b.topic, b.partition) else {
                // A deleted topic's bindings.
                continue;
            };
            let mut state = lock(&state);
            if let Some(floor) = b.floor {
                let e = state.floors.entry(b.offset).or_insert(floor);
                *e = (*e).max(floor);
            }
            if let Some(stamp) = b.stamp {
                state.checkpoints.insert(b.offset, stamp);
            }
        }
        Ok(Arc::new(clock))
    }

    /// The transport whose topics this clock stamps.
    pub fn transport(&self) -> Arc<dyn Transport> {
        self.transport.clone()
    }

    fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Mutex<Partition>>, IoError> {
        let key = (topic.to_string(), partition);
        if let Some(p) = lock(&self.partitions).get(&key) {
            return Ok(p.clone());
        }
        let topic_index = self.transport.topic_index(topic)?;
        let state = Arc::new(Mutex::new(Partition {
            topic_index,
            partition,
            floors: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            tail: None,
            released: BTreeMap::new(),
            watch: Arc::new(AtomicU64::new(u64::MAX)),
        }));
        Ok(lock(&self.partitions).entry(key).or_insert(state).clone())
    }

    /// Wakes `activator` (a reader of `topic`) whenever ddsql appends to
    /// the topic or a writer of it moves on, while the returned handle
    /// lives.
    pub fn wake_on(&self, topic: &str, activator: SyncActivator) -> Arc<SyncActivator> {
        let activator = Arc::new(activator);
        lock(&self.readers)
            .entry(topic.to_string())
            .or_default()
            .push(Arc::downgrade(&activator));
        activator
    }

    fn wake(&self, topic: &str) {
        let mut readers = lock(&self.readers);
        if let Some(list) = readers.get_mut(topic) {
            list.retain(|r| match r.upgrade() {
                Some(a) => a.activate().is_ok(),
                None => false,
            });
        }
    }

    /// Forgets a deleted topic (its index is never reused, so recorded
    /// bindings cannot name a later topic).
    pub fn forget(&self, topic: &str) {
        lock(&self.partitions).retain(|(t, _), _| t != topic);
    }

    fn record(&self, binding: &Binding) -> Result<(), IoError> {
        let record = Record {
            key: Some(format!("{}/{}", binding.topic, binding.partition).into_bytes()),
            value: Some(binding.to_json().to_string().into_bytes()),
            timestamp: crate::now_ms(),
            headers: vec![],
        };
        if self.transport.partitions(TIMES_TOPIC)?.is_none() {
            self.transport.create_topic(TIMES_TOPIC, 1)?;
        }
        self.transport.append(TIMES_TOPIC, 0, &[record])?;
        self.transport.flush()
    }

    /// The stamp of the record before `offset` (`None` before the first),
    /// by the rule, from the newest checkpoint at or before `offset`.
    fn stamp_before(
        &self,
        state: &mut Partition,
        topic: &str,
        offset: u64,
    ) -> Result<Option<Stamp>, IoError> {
        if offset == 0 {
            return Ok(None);
        }
        if let Some((next, clock)) = &state.tail {
            if *next == offset {
                return Ok(clock.last());
            }
        }
        let (from, last) = match state.checkpoints.range(..=offset).next_back() {
            Some((&o, &s)) => (o, Some(s)),
            None => (0, None),
        };
        let mut clock = PartitionClock::new(state.topic_index, state.partition).resume(last);
        for (&o, &f) in state.floors.range(from..offset) {
            clock.add_floor(o, f);
        }
        let mut at = from;
        let mut batch = Vec::new();
        while at < offset {
            batch.clear();
            let want = ((offset - at) as usize).min(4096);
            let next = self
                .transport
                .read(topic, state.partition, at, want, &mut batch)?;
            for f in batch.iter().filter(|f| f.offset < offset) {
                stamp_stored(&mut clock, state.topic_index, state.partition, f);
            }
            if next <= at {
                break;
            }
            at = next;
        }
        let last = clock.last();
        if offset - from > 100_000 {
            // A long way: save the next reader (or restart) the walk.
            if let Some(stamp) = last {
                self.checkpoint_locked(state, topic, offset, stamp)?;
            }
        }
        Ok(last)
    }

    fn checkpoint_locked(
        &self,
        state: &mut Partition,
        topic: &str,
        offset: u64,
        stamp: Stamp,
    ) -> Result<(), IoError> {
        if state.checkpoints.get(&offset) == Some(&stamp) {
            return Ok(());
        }
        self.record(&Binding {
            topic: topic.to_string(),
            partition: state.partition,
            offset,
            floor: None,
            stamp: Some(stamp),
        })?;
        state.checkpoints.insert(offset, stamp);
        Ok(())
    }

    /// Records the stamp of the record before `offset`, so readers and
    /// writers starting there need not read what comes before.
    pub fn checkpoint(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        stamp: Stamp,
    ) -> Result<(), IoError> {
        let state = self.partition(topic, partition)?;
        let mut state = lock(&state);
        self.checkpoint_locked(&mut state, topic, offset, stamp)
    }

    /// A clock for a reader that starts at `offset`: it knows the floors
    /// from there on and resumes after the record before it.
    pub fn reader_clock(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<PartitionClock, IoError> {
        let state = self.partition(topic, partition)?;
        let mut state = lock(&state);
        let last = self.stamp_before(&mut state, topic, offset)?;
        let mut clock = PartitionClock::new(state.topic_index, partition).resume(last);
        for (&o, &f) in state.floors.range(offset..) {
            clock.add_floor(o, f);
        }
        Ok(clock)
    }

    /// The floors from `offset` on, for a reader already past the start.
    pub fn floors_from(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<Vec<(u64, Time)>, IoError> {
        let state = self.partition(topic, partition)?;
        let state = lock(&state);
        Ok(state
            .floors
            .range(offset..)
            .map(|(o, f)| (*o, *f))
            .collect())
    }

    /// Records durably that records of `topic`/`partition` from `offset`
    /// on take times at or after `floor` (a restart's: what earlier runs
    /// wrote is behind every new arrival).
    pub fn bind_floor(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        floor: Time,
    ) -> Result<(), IoError> {
        let state = self.partition(topic, partition)?;
        let mut state = lock(&state);
        if state
            .floors
            .range(..=offset)
            .next_back()
            .is_some_and(|(_, f)| *f >= floor)
        {
            return Ok(());
        }
        self.record(&Binding {
            topic: topic.to_string(),
            partition,
            offset,
            floor: Some(floor),
            stamp: None,
        })?;
        state.floors.insert(offset, floor);
        if let Some((_, clock)) = &mut state.tail {
            clock.add_floor(offset, floor);
        }
        Ok(())
    }

    /// Appends `records` to `topic`/`partition` through its one ordered
    /// write path: each is stamped after the partition's last record (see
    /// [`PartitionClock`]), never below a time a reader moved past while
    /// waiting at that offset, and carries its final time in
    /// [`STAMP_HEADER`]. Returns the first record's offset.
    pub fn append(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<(Record, Own)>,
    ) -> Result<u64, IoError> {
        if records.is_empty() {
            return self.transport.end_offset(topic, partition);
        }
        let state = self.partition(topic, partition)?;
        let mut state = lock(&state);
        let end = self.transport.end_offset(topic, partition)?;
        let mut clock = match state.tail.take() {
            Some((next, clock)) if next == end => clock,
            // Unknown, or someone else appended: work the tail out.
            _ => {
                let last = self.stamp_before(&mut state, topic, end)?;
                let mut clock = PartitionClock::new(state.topic_index, partition).resume(last);
                for (&o, &f) in state.floors.range(end..) {
                    clock.add_floor(o, f);
                }
                clock
            }
        };
        // A reader moved past these times waiting at `end`: the first
        // record there arrives after them.
        if let Some(f) = std::mem::take(&mut state.released).into_values().max() {
            clock.add_floor(end, f);
        }
        let mut out = Vec::with_capacity(records.len());
        for (i, (mut record, own)) in records.into_iter().enumerate() {
            let offset = end + i as u64;
            let own_time = match &own {
                Own::Cause(t, _) => *t,
                Own::Arrival => event_time(record.timestamp, state.topic_index, partition, offset),
            };
            #[cfg(feature = "mutation")]
            let time = if crate::mutation::active(crate::mutation::Mutation::FeedAtCauseTime)
                && matches!(own, Own::Cause(..))
            {
                own_time
            } else {
                clock.stamp(own_time, offset)
            };
            #[cfg(not(feature = "mutation"))]
            let time = clock.stamp(own_time, offset);
            let mut value = Vec::with_capacity(32 + 24);
            value.extend_from_slice(&time.to_be_bytes());
            if let Own::Cause(cause, query) = &own {
                value.extend_from_slice(&cause.to_be_bytes());
                value.extend_from_slice(query.as_bytes());
            }
            record.headers.push((STAMP_HEADER.to_string(), Some(value)));
            out.push(record);
        }
        let first = self.transport.append(topic, partition, &out)?;
        if first == end {
            state.tail = Some((end + out.len() as u64, clock));
        }
        drop(state);
        self.wake(topic);
        Ok(first)
    }

    /// A live reader of `topic`/`partition`, caught up with `next_offset`
    /// the next offset to read, wants to move its frontier to `time`.
    /// Allowed (and remembered, so the record that arrives there is
    /// stamped no earlier) unless a record already sits at `next_offset`.
    pub fn release(
        &self,
        topic: &str,
        partition: u32,
        next_offset: u64,
        time: Time,
    ) -> Result<bool, IoError> {
        let state = self.partition(topic, partition)?;
        let mut state = lock(&state);
        if self.transport.end_offset(topic, partition)? != next_offset {
            return Ok(false);
        }
        let r = state.released.entry(next_offset).or_insert(time);
        *r = (*r).max(time);
        state.watch.fetch_min(next_offset, Ordering::Relaxed);
        Ok(true)
    }

    /// For a live reader about to stamp a record another producer wrote at
    /// `offset` with `time` by the rule: the floor it must take instead,
    /// because a reader moved past `time` while waiting for it. The floor
    /// is recorded durably first.
    ///
    /// Takes the partition's lock: callers need it only for offsets at or
    /// after [`Clock::watch`].
    pub fn arrival_floor(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        time: Time,
    ) -> Result<Option<Time>, IoError> {
        let state = self.partition(topic, partition)?;
        let mut state = lock(&state);
        if let Some((_, &f)) = state.floors.range(..=offset).next_back() {
            if f > time {
                return Ok(Some(f));
            }
        }
        let floor = state.released.range(..=offset).map(|(_, f)| *f).max();
        let rest = state.released.split_off(&(offset + 1));
        state.released = rest;
        match floor {
            Some(f) if f > time => {
                self.record(&Binding {
                    topic: topic.to_string(),
                    partition,
                    offset,
                    floor: Some(f),
                    stamp: None,
                })?;
                state.floors.insert(offset, f);
                if let Some((_, clock)) = &mut state.tail {
                    clock.add_floor(offset, f);
                }
                Ok(Some(f))
            }
            _ => Ok(None),
        }
    }

    /// The least offset of `topic`/`partition` at which a reader of this
    /// process moved past a time while waiting (`u64::MAX`: none yet);
    /// records from there on may need [`Clock::arrival_floor`].
    pub fn watch(&self, topic: &str, partition: u32) -> Result<Arc<AtomicU64>, IoError> {
        let state = self.partition(topic, partition)?;
        let watch = lock(&state).watch.clone();
        Ok(watch)
    }

    /// Registers a writer of `topic` whose instances run on `workers`
    /// workers; dropping the returned handle unregisters it. A `direct`
    /// writer appends as it writes (see [`Writer::write`]).
    pub fn writer(
        self: &Arc<Self>,
        topic: &str,
        query: &str,
        workers: usize,
        direct: bool,
    ) -> Writer {
        let entry = lock(&self.writers)
            .entry(topic.to_string())
            .or_default()
            .clone();
        let mut w = lock(&entry);
        w.next_id += 1;
        let id = w.next_id;
        w.writers.push((id, vec![Some(0); workers.max(1)]));
        let query: Arc<str> = Arc::from(query);
        w.queries.insert(id, query.clone());
        drop(w);
        Writer {
            topic: topic.to_string(),
            id,
            query,
            direct,
            entry,
            clock: self.clone(),
        }
    }

    /// Appends the pending records of `topic` that no writer can still
    /// precede, in order.
    fn flush_pending(&self, topic: &str, w: &mut TopicWriters) -> Result<(), IoError> {
        let partitions: Vec<u32> = w.pending.keys().copied().collect();
        for partition in partitions {
            let bound = w.bound(partition);
            let pending = w.pending.get_mut(&partition).expect("listed");
            pending.sort_by_key(|(key, _)| *key);
            let ready = match bound {
                Some(b) => pending.partition_point(|((own, _, _), _)| *own < b),
                None => pending.len(),
            };
            if ready == 0 {
                continue;
            }
            let rest = pending.split_off(ready);
            let records: Vec<(Record, Own)> = std::mem::replace(pending, rest)
                .into_iter()
                .map(|((own, writer, _), r)| {
                    let query = w
                        .queries
                        .get(&writer)
                        .cloned()
                        .unwrap_or_else(|| Arc::from(""));
                    (r, Own::Cause(own, query))
                })
                .collect();
            if w.pending[&partition].is_empty() {
                w.pending.remove(&partition);
            }
            self.append(topic, partition, records)?;
        }
        Ok(())
    }

    /// What running queries may still append to `topic`/`partition`:
    /// `None` if no query writes it; `Some(None)` if every writer is done;
    /// `Some(Some(t))`: no writer will append a record whose own time is
    /// before `t`.
    pub fn written_bound(&self, topic: &str, partition: u32) -> Option<Option<Time>> {
        let entry = lock(&self.writers).get(topic)?.clone();
        let w = lock(&entry);
        if w.writers.is_empty() {
            return None;
        }
        Some(w.bound(partition))
    }
}

/// Stamps a record read back from a partition: a record ddsql wrote keeps
/// the final time in its header (unless someone appended out of band
/// before it, when the rule raises it); another producer's record is
/// stamped from its timestamp.
pub fn stamp_stored(
    clock: &mut PartitionClock,
    topic_index: u16,
    partition: u32,
    f: &Fetched,
) -> Time {
    let natural = event_time(f.record.timestamp, topic_index, partition, f.offset);
    match written_time(&f.record) {
        Some(written) => {
            let own = cause_time(&f.record).unwrap_or(natural);
            clock.stamp_at_least(own, f.offset, written)
        }
        None => clock.stamp(natural, f.offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_round_trip_as_json() {
        let b = Binding {
            topic: "t".into(),
            partition: 2,
            offset: 9,
            floor: Some(0xabc),
            stamp: Some(Stamp { time: 5, own: 3 }),
        };
        assert_eq!(Binding::from_json(&b.to_json()), Some(b));
    }
}
