//! Shared arrangements of tables, and peeks into them.
//!
//! An *index* is a table's rows arranged by key (differential's trace),
//! built once by a dataflow of its own that reads the table's topic, and
//! shared: a pull query peeks into it, a push query and a query that starts
//! from the latest offsets import it as it is now (`import_frontier`), and
//! it stays up to date as the topic grows.
//!
//! Each worker holds its shard of the trace. A peek is a command every
//! worker serves at the same logical time `t`, the newest time complete
//! on all of them (the least of their published uppers, minus one): each
//! reads its shard as of `t` and replies; the controller gathers. The
//! trace's compaction is advanced only by commands too, never past a time
//! the controller could still peek at, so a peek at `t` always finds `t`.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{mpsc, Arc, Mutex};

use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::cursor::{cursor_list, Cursor};
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::TraceReader;
use timely::dataflow::Scope;
use timely::progress::frontier::{Antichain, AntichainRef};

use ddsql_sql::types::Row;

use crate::job::Progress;
use crate::operators::source::{read_topic, TopicReader};
use crate::operators::upsert::{upsert, upserts};
use crate::time::{Diff, Time};
use crate::Stats;

/// A table's rows by key: `(key columns, row in scan layout)`.
pub(crate) type RowTrace = TraceAgent<ValSpine<Row, Row, Time, Diff>>;

/// What every worker needs to build an index.
pub(crate) struct IndexJob {
    /// The table's catalog name.
    pub name: String,
    pub reader: TopicReader,
    /// The key columns' positions in the scan layout.
    pub keys: Range<usize>,
    pub stats: Arc<Stats>,
    pub progress: Arc<Progress>,
}

/// What the controller knows of an index, published by the workers.
#[derive(Debug)]
pub(crate) struct IndexState {
    pub job: Arc<IndexJob>,
    /// Per worker, the upper of its shard: every time before it is complete.
    pub uppers: Mutex<Vec<Option<Time>>>,
    /// The compaction the controller last asked for.
    pub since: Mutex<Time>,
}

impl std::fmt::Debug for IndexJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IndexJob({})", self.name)
    }
}

impl IndexState {
    /// The newest time complete on every worker, if there is one yet.
    pub fn complete(&self) -> Option<Time> {
        let uppers = self.uppers.lock().unwrap_or_else(|p| p.into_inner());
        let mut least = None;
        for u in uppers.iter() {
            // `None` before a worker first published: nothing is complete.
            let u = (*u)?;
            least = Some(least.map_or(u, |l: Time| l.min(u)));
        }
        least.and_then(|l| l.checked_sub(1))
    }
}

/// Builds `job`'s index in `scope`: the table's topic, upserted, arranged.
pub(crate) fn build(
    scope: Scope<'_, Time>,
    job: &IndexJob,
    transport: Arc<dyn crate::io::Transport>,
) -> RowTrace {
    let (items, errors) = read_topic(
        scope,
        job.reader.clone(),
        transport,
        job.stats.clone(),
        timely::dataflow::ProbeHandle::new(),
    );
    // The table's own queries log its bad records; here they are counted.
    let stats = job.stats.clone();
    errors.inspect(move |_| stats.add_errors(1));
    let keys = job.keys.clone();
    let rows = upsert(upserts(items, keys));
    let keys = job.keys.clone();
    rows.map(move |row| (row[keys.clone()].to_vec(), row))
        .arrange_by_key_named(&format!("Index {}", job.name))
        .trace
}

/// One peek: `keys` to look up (all rows when `None`), as of `time`.
pub(crate) struct Peek {
    pub index: String,
    pub time: Time,
    pub keys: Option<Vec<Row>>,
    pub reply: mpsc::Sender<Result<Vec<Row>, String>>,
}

/// A worker's shard of `trace` as of `time`: the rows with positive
/// counts, for `keys` (sorted: a cursor seeks forward only) or all.
pub(crate) fn read(
    trace: &mut RowTrace,
    time: Time,
    keys: Option<&[Row]>,
) -> Result<Vec<Row>, String> {
    let since = trace
        .get_logical_compaction()
        .iter()
        .next()
        .copied()
        .unwrap_or(0);
    if since > time {
        return Err(format!(
            "the table's arrangement no longer holds time {time:x} (compacted to {since:x})"
        ));
    }
    let batches = trace
        .batches_through(Antichain::new().borrow())
        .ok_or("the table's arrangement has no batches to read")?;
    let (mut cursor, storage) = cursor_list(batches);
    let mut rows = Vec::new();
    match keys {
        Some(keys) => {
            let mut keys = keys.to_vec();
            keys.sort();
            keys.dedup();
            for key in &keys {
                cursor.seek_key(&storage, key);
                if cursor.get_key(&storage) == Some(key) {
                    vals_at(&mut cursor, &storage, time, &mut rows);
                }
            }
        }
        None => {
            while cursor.key_valid(&storage) {
                vals_at(&mut cursor, &storage, time, &mut rows);
                cursor.step_key(&storage);
            }
        }
    }
    Ok(rows)
}

/// The rows of the cursor's current key as of `time`.
fn vals_at<C>(cursor: &mut C, storage: &C::Storage, time: Time, rows: &mut Vec<Row>)
where
    C: for<'a> Cursor<Val<'a> = &'a Row, TimeGat<'a> = &'a Time, DiffGat<'a> = &'a Diff>,
{
    while cursor.val_valid(storage) {
        let mut count: Diff = 0;
        cursor.map_times(storage, |t, d| {
            if *t <= time {
                count += *d;
            }
        });
        for _ in 0..count.max(0) {
            rows.push(cursor.val(storage).clone());
        }
        cursor.step_val(storage);
    }
}

/// Advances the compaction of a worker's shard to `time`.
pub(crate) fn compact(trace: &mut RowTrace, time: Time) {
    let frontier = [time];
    trace.set_logical_compaction(AntichainRef::new(&frontier));
    trace.set_physical_compaction(AntichainRef::new(&frontier));
}

/// The upper of a worker's shard.
pub(crate) fn upper(trace: &mut RowTrace) -> Option<Time> {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    upper.iter().next().copied()
}

/// A worker's indexes, by table name.
pub(crate) type Indexes = HashMap<String, RowTrace>;
