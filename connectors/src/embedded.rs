//! The embedded log: Kafka's record model in a data directory, so ddsql
//! runs with nothing else installed.
//!
//! ```text
//! <data-dir>/LOCK                     held while a process uses the directory
//! <data-dir>/topics.json              names, partition counts, stable indexes
//! <data-dir>/topics/<topic>/<p>.log   one append-only file per partition
//! ```
//!
//! A partition file is a sequence of frames:
//! `len: u32 | crc32(body): u32 | body`, where body is
//! `offset: u64 | timestamp: i64 | key | value | headers` and byte strings
//! are `len: i32 (-1 for null) | bytes`. On open, each file is scanned and
//! a torn or corrupt tail (a crash mid-write) is cut off, so a record is
//! either wholly present or absent. [`Transport::flush`] makes appended
//! records durable (fsync).
//!
//! ```
//! use ddsql_connectors::embedded::EmbeddedLog;
//! use ddsql_engine::io::{Record, Transport};
//! let dir = tempfile::tempdir().unwrap();
//! let log = EmbeddedLog::open(dir.path()).unwrap();
//! log.create_topic("orders", 2).unwrap();
//! let r = Record { key: Some(b"1".to_vec()), value: Some(b"{}".to_vec()), timestamp: 5, headers: vec![] };
//! assert_eq!(log.append("orders", 1, &[r.clone(), r.clone()]).unwrap(), 0);
//! let mut out = Vec::new();
//! log.read("orders", 1, 1, 10, &mut out).unwrap();
//! assert_eq!((out.len(), out[0].offset, &out[0].record), (1, 1, &r));
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use ddsql_engine::io::{Fetched, IoError, Record, Transport};
use ddsql_engine::time::{MAX_PARTITION, MAX_TOPIC_INDEX};

fn io_err(what: impl std::fmt::Display, e: std::io::Error) -> IoError {
    IoError::Other(format!("{what}: {e}"))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TopicMeta {
    name: String,
    partitions: u32,
    index: u16,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    topics: Vec<TopicMeta>,
    /// The index the next topic gets: indexes of deleted topics are not
    /// reused, so a time recorded from one never names another.
    #[serde(default)]
    next_index: u32,
}

/// Every this many offsets, the index holds the frame's byte position; a
/// read seeks to the nearest one and skips the frames in between. Memory is
/// 8 bytes per 64 records rather than per record.
const INDEX_EVERY: u64 = 64;

/// Bytes read per `pread` when scanning frames.
const CHUNK: usize = 1 << 20;

struct PartitionLog {
    file: File,
    /// Byte position of the frame of every `INDEX_EVERY`-th offset.
    index: Vec<u64>,
    /// The number of records (the next offset).
    count: u64,
    /// The file's length: where the next frame goes.
    len: u64,
    dirty: bool,
}

struct Topic {
    meta: TopicMeta,
    partitions: Vec<Arc<Mutex<PartitionLog>>>,
}

/// A durable, multi-topic, multi-partition log in a directory.
pub struct EmbeddedLog {
    dir: PathBuf,
    _lock: File,
    topics: RwLock<BTreeMap<String, Topic>>,
    /// Serialises manifest rewrites; holds the next topic index.
    manifest: Mutex<u32>,
}

impl EmbeddedLog {
    /// Opens (creating if needed) the log in `dir`, taking its lock.
    pub fn open(dir: &Path) -> Result<EmbeddedLog, IoError> {
        fs::create_dir_all(dir.join("topics"))
            .map_err(|e| io_err(format!("creating data directory {}", dir.display()), e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(|e| io_err("opening the lock file", e))?;
        if lock.try_lock().is_err() {
            return Err(IoError::Other(format!(
                "data directory {} is in use by another ddsql process; stop it or choose another --data-dir",
                dir.display()
            )));
        }
        let manifest: Manifest = match fs::read(dir.join("topics.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                IoError::Other(format!(
                    "{} is damaged: {e}",
                    dir.join("topics.json").display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(io_err("reading topics.json", e)),
        };
        let next_index = manifest
            .topics
            .iter()
            .map(|t| t.index as u32 + 1)
            .chain([manifest.next_index])
            .max()
            .unwrap_or(0);
        let mut topics = BTreeMap::new();
        for meta in manifest.topics {
            let partitions = (0..meta.partitions)
                .map(|p| {
                    open_partition(&partition_path(dir, &meta.name, p))
                        .map(|l| Arc::new(Mutex::new(l)))
                })
                .collect::<Result<_, _>>()?;
            topics.insert(meta.name.clone(), Topic { meta, partitions });
        }
        Ok(EmbeddedLog {
            dir: dir.to_path_buf(),
            _lock: lock,
            topics: RwLock::new(topics),
            manifest: Mutex::new(next_index),
        })
    }

    fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Mutex<PartitionLog>>, IoError> {
        let topics = self.topics.read().unwrap();
        let t = topics
            .get(topic)
            .ok_or_else(|| IoError::UnknownTopic(topic.to_string()))?;
        t.partitions
            .get(partition as usize)
            .cloned()
            .ok_or_else(|| IoError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    fn write_manifest(
        &self,
        topics: &BTreeMap<String, Topic>,
        next_index: u32,
    ) -> Result<(), IoError> {
        let manifest = Manifest {
            topics: topics.values().map(|t| t.meta.clone()).collect(),
            next_index,
        };
        let tmp = self.dir.join("topics.json.tmp");
        let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        let mut f = File::create(&tmp).map_err(|e| io_err("writing topics.json", e))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| io_err("writing topics.json", e))?;
        fs::rename(&tmp, self.dir.join("topics.json")).map_err(|e| io_err("writing topics.json", e))
    }
}

fn partition_path(dir: &Path, topic: &str, partition: u32) -> PathBuf {
    dir.join("topics")
        .join(topic)
        .join(format!("{partition}.log"))
}

fn open_partition(path: &Path) -> Result<PartitionLog, IoError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| io_err(parent.display(), e))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .append(true)
        .open(path)
        .map_err(|e| io_err(path.display(), e))?;
    let file_len = file
        .metadata()
        .map_err(|e| io_err(path.display(), e))?
        .len();
    let mut log = PartitionLog {
        file,
        index: Vec::new(),
        count: 0,
        len: 0,
        dirty: false,
    };
    // Scan every frame, checking lengths, CRCs and offsets, a chunk at a time.
    let mut valid = true;
    while valid && log.len < file_len {
        let frames = read_frames(&log.file, log.len, file_len, log.count, |_, _| true)
            .map_err(|e| io_err(path.display(), e))?;
        if frames.is_empty() {
            valid = false;
        }
        for (pos, len, _) in frames {
            if log.count.is_multiple_of(INDEX_EVERY) {
                log.index.push(pos);
            }
            log.count += 1;
            log.len = pos + len as u64;
        }
    }
    if log.len < file_len {
        tracing::warn!(
            "{}: cutting off {} bytes of a torn or damaged tail",
            path.display(),
            file_len - log.len
        );
        log.file
            .set_len(log.len)
            .map_err(|e| io_err(path.display(), e))?;
    }
    Ok(log)
}

/// The valid frames from byte `pos` (holding offset `first`) up to `end`,
/// as `(position, length, offset)`: reads one chunk, or one whole frame if
/// a frame is larger than a chunk. Stops before the first invalid frame
/// (bad length, CRC or offset), or after the frame for which `more` says no.
fn read_frames(
    file: &File,
    pos: u64,
    end: u64,
    first: u64,
    mut more: impl FnMut(u64, &[u8]) -> bool,
) -> std::io::Result<Vec<(u64, usize, u64)>> {
    FRAMES.with(|buf| {
        let mut buf = buf.borrow_mut();
        let want = ((end - pos) as usize).min(CHUNK);
        fill(&mut buf, file, pos, want)?;
        if let Some(header) = buf.get(0..4) {
            let frame = 8 + u32::from_le_bytes(header.try_into().expect("4 bytes")) as usize;
            if frame > buf.len() && pos + frame as u64 <= end {
                fill(&mut buf, file, pos, frame)?;
            }
        }
        Ok(frames_in(&buf, pos, first, &mut more))
    })
}

thread_local! {
    /// The buffer frames are read into, one per thread and kept: a fresh
    /// zeroed 1 MiB buffer per read was most of a read's cost (new pages,
    /// zeroed by the kernel, for every 4,096 records).
    static FRAMES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads `len` bytes at `pos` into `buf` (its length becomes `len`).
fn fill(buf: &mut Vec<u8>, file: &File, pos: u64, len: usize) -> std::io::Result<()> {
    buf.resize(len, 0);
    file.read_exact_at(buf, pos)
}

/// The valid frames at the start of `buf` (read from `pos`), from offset
/// `first` on, each given to `more` until it says stop.
fn frames_in(
    buf: &[u8],
    pos: u64,
    first: u64,
    more: &mut impl FnMut(u64, &[u8]) -> bool,
) -> Vec<(u64, usize, u64)> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut offset = first;
    while let Some((len, o)) = check_frame(&buf[i..]) {
        if o != offset {
            break;
        }
        out.push((pos + i as u64, len, o));
        let go_on = more(offset, &buf[i..i + len]);
        i += len;
        offset += 1;
        if !go_on {
            break;
        }
    }
    out
}

/// The length of the valid frame at the start of `bytes`, and its offset.
fn check_frame(bytes: &[u8]) -> Option<(usize, u64)> {
    let len = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    let body = bytes.get(8..8 + len)?;
    if crc32fast::hash(body) != crc || len < 8 {
        return None;
    }
    Some((8 + len, u64::from_le_bytes(body[0..8].try_into().ok()?)))
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
        Some(b) => {
            out.extend_from_slice(&(b.len() as i32).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

fn encode_frame(out: &mut Vec<u8>, offset: u64, r: &Record) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&r.timestamp.to_le_bytes());
    put_bytes(out, r.key.as_deref());
    put_bytes(out, r.value.as_deref());
    out.extend_from_slice(&(r.headers.len() as u32).to_le_bytes());
    for (k, v) in &r.headers {
        put_bytes(out, Some(k.as_bytes()));
        put_bytes(out, v.as_deref());
    }
    let len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = tail;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<Option<&'a [u8]>> {
        let len = i32::from_le_bytes(self.take(4)?.try_into().ok()?);
        if len < 0 {
            Some(None)
        } else {
            Some(Some(self.take(len as usize)?))
        }
    }
}

/// Decodes one frame whose CRC was checked when the file was opened.
fn decode_frame(bytes: &[u8]) -> Option<(Fetched, usize)> {
    let (len, _) = check_frame(bytes)?;
    let mut c = Cursor(&bytes[8..len]);
    let offset = c.u64()?;
    let timestamp = c.u64()? as i64;
    let key = c.bytes()?.map(<[u8]>::to_vec);
    let value = c.bytes()?.map(<[u8]>::to_vec);
    let n = c.u32()?;
    let mut headers = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let k = String::from_utf8_lossy(c.bytes()??).into_owned();
        headers.push((k, c.bytes()?.map(<[u8]>::to_vec)));
    }
    Some((
        Fetched {
            offset,
            record: Record {
                key,
                value,
                timestamp,
                headers,
            },
        },
        len,
    ))
}

impl Transport for EmbeddedLog {
    fn topic_index(&self, topic: &str) -> Result<u16, IoError> {
        let topics = self.topics.read().unwrap();
        topics
            .get(topic)
            .map(|t| t.meta.index)
            .ok_or_else(|| IoError::UnknownTopic(topic.to_string()))
    }

    fn topics(&self) -> Result<Vec<(String, u32)>, IoError> {
        Ok(self
            .topics
            .read()
            .unwrap()
            .values()
            .map(|t| (t.meta.name.clone(), t.meta.partitions))
            .collect())
    }

    fn partitions(&self, topic: &str) -> Result<Option<u32>, IoError> {
        Ok(self
            .topics
            .read()
            .unwrap()
            .get(topic)
            .map(|t| t.meta.partitions))
    }

    fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), IoError> {
        if topic.is_empty()
            || topic == "."
            || topic == ".."
            || topic.len() > 249
            || !topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(IoError::Other(format!("invalid topic name '{topic}': use 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'")));
        }
        if partitions == 0 || partitions > MAX_PARTITION + 1 {
            return Err(IoError::Other(format!(
                "topic '{topic}': partitions must be between 1 and {}",
                MAX_PARTITION + 1
            )));
        }
        let mut next_index = self.manifest.lock().unwrap();
        let mut topics = self.topics.write().unwrap();
        if let Some(t) = topics.get(topic) {
            return if t.meta.partitions == partitions {
                Ok(())
            } else {
                Err(IoError::Other(format!(
                    "topic '{topic}' exists with {} partitions, not {partitions}",
                    t.meta.partitions
                )))
            };
        }
        let index = *next_index;
        if index > MAX_TOPIC_INDEX {
            return Err(IoError::Other(format!(
                "the embedded log holds at most {} topics",
                MAX_TOPIC_INDEX + 1
            )));
        }
        let parts = (0..partitions)
            .map(|p| {
                open_partition(&partition_path(&self.dir, topic, p))
                    .map(|l| Arc::new(Mutex::new(l)))
            })
            .collect::<Result<_, _>>()?;
        topics.insert(
            topic.to_string(),
            Topic {
                meta: TopicMeta {
                    name: topic.to_string(),
                    partitions,
                    index: index as u16,
                },
                partitions: parts,
            },
        );
        *next_index = index + 1;
        self.write_manifest(&topics, *next_index)
    }

    fn delete_topic(&self, topic: &str) -> Result<(), IoError> {
        let next_index = self.manifest.lock().unwrap();
        let mut topics = self.topics.write().unwrap();
        if topics.remove(topic).is_none() {
            return Err(IoError::UnknownTopic(topic.to_string()));
        }
        // The files go first: a crash before the manifest is rewritten
        // leaves the topic listed but empty, never a later topic of the
        // same name holding the old records.
        let dir = self.dir.join("topics").join(topic);
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("deleting {}", dir.display()), e)),
        }
        self.write_manifest(&topics, *next_index)
    }

    fn end_offset(&self, topic: &str, partition: u32) -> Result<u64, IoError> {
        let p = self.partition(topic, partition)?;
        let log = p.lock().unwrap();
        Ok(log.count)
    }

    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
        out: &mut Vec<Fetched>,
    ) -> Result<u64, IoError> {
        let p = self.partition(topic, partition)?;
        let (mut pos, mut current, end, count, file) = {
            let log = p.lock().unwrap();
            if offset >= log.count || max == 0 {
                return Ok(offset);
            }
            let slot = (offset / INDEX_EVERY) as usize;
            let file = log.file.try_clone().map_err(|e| io_err(topic, e))?;
            (
                log.index[slot],
                slot as u64 * INDEX_EVERY,
                log.len,
                log.count,
                file,
            )
        };
        let last = offset.saturating_add(max as u64).min(count);
        while current < last {
            // Decoded straight from the read buffer (check_frame passed).
            let mut damaged = false;
            let frames = read_frames(&file, pos, end, current, |o, bytes| {
                if o >= offset && o < last {
                    match decode_frame(bytes) {
                        Some((fetched, _)) => out.push(fetched),
                        None => damaged = true,
                    }
                }
                !damaged && o + 1 < last
            })
            .map_err(|e| io_err(format!("reading {topic}/{partition}"), e))?;
            let (Some(&(p, len, o)), false) = (frames.last(), damaged) else {
                return Err(IoError::Other(format!(
                    "{topic}/{partition}: damaged record near offset {current}"
                )));
            };
            current = o + 1;
            pos = p + len as u64;
        }
        Ok(last)
    }

    fn append(&self, topic: &str, partition: u32, records: &[Record]) -> Result<u64, IoError> {
        let p = self.partition(topic, partition)?;
        let mut log = p.lock().unwrap();
        let first = log.count;
        let mut buf = Vec::new();
        for r in records {
            if log.count.is_multiple_of(INDEX_EVERY) {
                let at = log.len + buf.len() as u64;
                log.index.push(at);
            }
            encode_frame(&mut buf, log.count, r);
            log.count += 1;
        }
        log.file
            .write_all(&buf)
            .map_err(|e| io_err(format!("appending to {topic}/{partition}"), e))?;
        log.len += buf.len() as u64;
        log.dirty = true;
        Ok(first)
    }

    fn flush(&self) -> Result<(), IoError> {
        let topics = self.topics.read().unwrap();
        for t in topics.values() {
            for p in &t.partitions {
                let mut log = p.lock().unwrap();
                if log.dirty {
                    log.file
                        .sync_data()
                        .map_err(|e| io_err(format!("syncing {}", t.meta.name), e))?;
                    log.dirty = false;
                }
            }
        }
        Ok(())
    }

    fn partition_for(&self, key: Option<&[u8]>, value: Option<&[u8]>, partitions: u32) -> u32 {
        crate::partitioner::partition_for(key, value, partitions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u8) -> Record {
        Record {
            key: i.is_multiple_of(2).then(|| vec![i]),
            value: Some(vec![i; i as usize]),
            timestamp: i as i64 * 10,
            headers: vec![("h".into(), Some(vec![i])), ("n".into(), None)],
        }
    }

    #[test]
    fn survives_reopen_and_cuts_torn_tails() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = EmbeddedLog::open(dir.path()).unwrap();
            log.create_topic("t", 1).unwrap();
            log.append("t", 0, &(0..5).map(rec).collect::<Vec<_>>())
                .unwrap();
            log.flush().unwrap();
        }
        // A crash mid-write leaves half a frame.
        let path = partition_path(dir.path(), "t", 0);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[42, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let log = EmbeddedLog::open(dir.path()).unwrap();
        assert_eq!(log.end_offset("t", 0).unwrap(), 5);
        let mut out = Vec::new();
        log.read("t", 0, 0, 100, &mut out).unwrap();
        assert_eq!(
            out.iter().map(|f| f.record.clone()).collect::<Vec<_>>(),
            (0..5).map(rec).collect::<Vec<_>>()
        );
        assert_eq!(log.append("t", 0, &[rec(9)]).unwrap(), 5);
    }

    #[test]
    fn one_process_per_directory() {
        let dir = tempfile::tempdir().unwrap();
        let _log = EmbeddedLog::open(dir.path()).unwrap();
        let err = EmbeddedLog::open(dir.path())
            .err()
            .expect("second open must fail");
        assert!(
            err.to_string().contains("in use by another ddsql process"),
            "{err}"
        );
    }

    #[test]
    fn topic_indexes_are_stable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = EmbeddedLog::open(dir.path()).unwrap();
            log.create_topic("b", 1).unwrap();
            log.create_topic("a", 3).unwrap();
        }
        let log = EmbeddedLog::open(dir.path()).unwrap();
        assert_eq!(
            (log.topic_index("b").unwrap(), log.topic_index("a").unwrap()),
            (0, 1)
        );
        assert_eq!(log.partitions("a").unwrap(), Some(3));
        assert!(log.create_topic("a", 2).is_err());
        assert!(log.create_topic("bad/name", 1).is_err());
    }

    #[test]
    fn deleted_topics_lose_their_records_but_not_their_index() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = EmbeddedLog::open(dir.path()).unwrap();
            log.create_topic("a", 1).unwrap();
            log.create_topic("b", 1).unwrap();
            log.append("b", 0, &[rec(1), rec(2)]).unwrap();
            log.delete_topic("b").unwrap();
            assert_eq!(log.partitions("b").unwrap(), None);
            assert!(matches!(
                log.delete_topic("b"),
                Err(IoError::UnknownTopic(_))
            ));
        }
        let log = EmbeddedLog::open(dir.path()).unwrap();
        assert_eq!(log.partitions("b").unwrap(), None);
        log.create_topic("b", 1).unwrap();
        assert_eq!(
            log.end_offset("b", 0).unwrap(),
            0,
            "the old records are gone"
        );
        assert_eq!(log.topic_index("b").unwrap(), 2, "index 1 stays retired");
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;

    /// Reads at every offset and length around the sparse index's slots,
    /// before and after a reopen, with frames larger than a read chunk.
    #[test]
    fn reads_anywhere_through_the_sparse_index() {
        let dir = tempfile::tempdir().unwrap();
        let rec = |i: u64| Record {
            key: Some(i.to_be_bytes().to_vec()),
            value: Some(if i == 70 {
                vec![7; CHUNK + 10]
            } else {
                vec![i as u8; (i % 13) as usize]
            }),
            timestamp: i as i64,
            headers: vec![],
        };
        let n = 3 * INDEX_EVERY + 5;
        {
            let log = EmbeddedLog::open(dir.path()).unwrap();
            log.create_topic("t", 1).unwrap();
            for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
                log.append("t", 0, &chunk.iter().map(|&i| rec(i)).collect::<Vec<_>>())
                    .unwrap();
            }
        }
        let log = EmbeddedLog::open(dir.path()).unwrap();
        assert_eq!(log.end_offset("t", 0).unwrap(), n);
        for offset in [0, 1, 63, 64, 65, 69, 70, 71, 127, 128, n - 1, n] {
            for max in [1, 2, 64, 1000] {
                let mut out = Vec::new();
                log.read("t", 0, offset, max, &mut out).unwrap();
                let want: Vec<u64> = (offset..(offset + max as u64).min(n)).collect();
                assert_eq!(
                    out.iter().map(|f| f.offset).collect::<Vec<_>>(),
                    want,
                    "offset {offset} max {max}"
                );
                assert!(out.iter().all(|f| f.record == rec(f.offset)));
            }
        }
    }
}
