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
use std::io::{Read, Write};
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
}

struct PartitionLog {
    file: File,
    /// Byte position of each offset's frame, and the end of the file last.
    positions: Vec<u64>,
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
    /// Serialises manifest rewrites.
    manifest: Mutex<()>,
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
            manifest: Mutex::new(()),
        })
    }

    /// The topics, with their partition counts.
    pub fn topics(&self) -> Vec<(String, u32)> {
        self.topics
            .read()
            .unwrap()
            .values()
            .map(|t| (t.meta.name.clone(), t.meta.partitions))
            .collect()
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

    fn write_manifest(&self, topics: &BTreeMap<String, Topic>) -> Result<(), IoError> {
        let manifest = Manifest {
            topics: topics.values().map(|t| t.meta.clone()).collect(),
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
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .append(true)
        .open(path)
        .map_err(|e| io_err(path.display(), e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| io_err(path.display(), e))?;
    let mut positions = Vec::new();
    let mut pos = 0usize;
    while let Some((len, record_offset)) = check_frame(&bytes[pos..]) {
        if record_offset != positions.len() as u64 {
            break;
        }
        positions.push(pos as u64);
        pos += len;
    }
    if pos < bytes.len() {
        tracing::warn!(
            "{}: cutting off {} bytes of a torn or damaged tail",
            path.display(),
            bytes.len() - pos
        );
        file.set_len(pos as u64)
            .map_err(|e| io_err(path.display(), e))?;
    }
    positions.push(pos as u64);
    Ok(PartitionLog {
        file,
        positions,
        dirty: false,
    })
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
        let _guard = self.manifest.lock().unwrap();
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
        let index = topics
            .values()
            .map(|t| t.meta.index as u32 + 1)
            .max()
            .unwrap_or(0);
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
        self.write_manifest(&topics)
    }

    fn end_offset(&self, topic: &str, partition: u32) -> Result<u64, IoError> {
        let p = self.partition(topic, partition)?;
        let log = p.lock().unwrap();
        Ok(log.positions.len() as u64 - 1)
    }

    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
        out: &mut Vec<Fetched>,
    ) -> Result<(), IoError> {
        let p = self.partition(topic, partition)?;
        let (start, end, file) = {
            let log = p.lock().unwrap();
            let count = log.positions.len() as u64 - 1;
            if offset >= count || max == 0 {
                return Ok(());
            }
            let last = (offset + max as u64).min(count);
            (
                log.positions[offset as usize],
                log.positions[last as usize],
                log.file.try_clone().map_err(|e| io_err(topic, e))?,
            )
        };
        let mut bytes = vec![0; (end - start) as usize];
        file.read_exact_at(&mut bytes, start)
            .map_err(|e| io_err(format!("reading {topic}/{partition}"), e))?;
        let mut pos = 0;
        while pos < bytes.len() {
            let (fetched, len) = decode_frame(&bytes[pos..]).ok_or_else(|| {
                IoError::Other(format!(
                    "{topic}/{partition}: damaged record near offset {offset}"
                ))
            })?;
            out.push(fetched);
            pos += len;
        }
        Ok(())
    }

    fn append(&self, topic: &str, partition: u32, records: &[Record]) -> Result<u64, IoError> {
        let p = self.partition(topic, partition)?;
        let mut log = p.lock().unwrap();
        let first = log.positions.len() as u64 - 1;
        let mut buf = Vec::new();
        let mut end = *log.positions.last().unwrap();
        let mut positions = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let before = buf.len();
            encode_frame(&mut buf, first + i as u64, r);
            end += (buf.len() - before) as u64;
            positions.push(end);
        }
        log.file
            .write_all(&buf)
            .map_err(|e| io_err(format!("appending to {topic}/{partition}"), e))?;
        log.positions.extend(positions);
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
}
