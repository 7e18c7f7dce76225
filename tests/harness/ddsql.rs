//! The system under test: a scenario's inputs on a fresh embedded log, its
//! script executed, its queries run until caught up, its outputs read back.

use std::collections::HashMap;

use ddsql::Session;
use ddsql_connectors::format::json::to_json;
use ddsql_connectors::format::Formats;
use ddsql_engine::clock::{cause_time, written_time};
use ddsql_engine::io::{CodecFactory, Decoded, Record};
use ddsql_engine::time::{event_time, Time};
use ddsql_engine::RunOptions;
use serde_json::{Map, Value as Json};

use crate::scenarios::{Input, Scenario};

/// The physical knobs of one run; none may change a result.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunConfig {
    pub workers: usize,
    /// Records read per partition per step.
    pub batch: usize,
    pub max_drift_ms: i64,
    /// Run on the live runtime, creating the queries one after another at
    /// random points while the earlier ones run, once the inputs are
    /// written (the scenario's `sql_after`, or its own queries if it has
    /// none); the seed of the pauses between them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staggered: Option<u64>,
}

/// An output record: its logical time as the label of the event that
/// caused it (an input's rank, or [`DERIVED`] plus one), key columns, and
/// all columns (`None` for a tombstone).
pub type OutputRecord = (u64, Json, Option<Json>);

pub struct Observed {
    /// Each input's rank in the contract's logical time order, from 1.
    pub seq: Vec<u64>,
    /// Per output of the scenario: its key columns (lower case) and records
    /// ordered by time.
    pub outputs: Vec<(Vec<String>, Vec<OutputRecord>)>,
    /// Breaches of the contract that are not about values.
    pub problems: Vec<String>,
}

/// The label of a row a query wrote into a topic that holds rows the
/// harness put there too: it comes after every one of those (they were in
/// the partition before the query's output), in the order of its cause.
/// Oracles write it as `(1::bigint << 32) + seq`.
pub const DERIVED: u64 = 1 << 32;

pub fn run(scenario: &Scenario, inputs: &[Input], config: RunConfig) -> Result<Observed, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut session = Session::open(dir.path()).map_err(|e| e.to_string())?;
    let log = session.log().clone();
    for t in scenario.topics {
        log.create_topic(t.name, t.partitions)
            .map_err(|e| e.to_string())?;
    }
    // Staggered: the runtime is live from the start; the statements that
    // run once the inputs are written go one at a time, with pauses.
    let mut later: Vec<String> = Vec::new();
    if let Some(seed) = config.staggered {
        session
            .start_runtime(
                ddsql_engine::RuntimeConfig {
                    workers: config.workers,
                    batch: config.batch,
                    max_drift_ms: config.max_drift_ms,
                    idle_ms: Some(5),
                    sequence_header: None,
                },
                false,
            )
            .map_err(|e| format!("{}: starting the runtime: {e}", scenario.name))?;
        let deferred = if scenario.sql_after.is_empty() {
            scenario.sql
        } else {
            session
                .execute_script(scenario.sql)
                .map_err(|e| format!("{}: {e}", scenario.name))?;
            scenario.sql_after
        };
        let checked = session.check(deferred, &Default::default());
        if let Some(e) = checked.errors.first() {
            return Err(format!("{}: {e}", scenario.name));
        }
        // Declarations first: the inputs need their streams.
        for (text, b) in checked.bound {
            let query = matches!(
                b,
                ddsql_sql::binder::BoundStatement::CreateAs { .. }
                    | ddsql_sql::binder::BoundStatement::InsertSelect { .. }
            );
            if query || !later.is_empty() {
                later.push(text);
            } else {
                session
                    .execute_statement(&text, b)
                    .map_err(|e| format!("{}: {text}: {e}", scenario.name))?;
            }
        }
        let _ = seed;
    } else {
        session
            .execute_script(scenario.sql)
            .map_err(|e| format!("{}: {e}", scenario.name))?;
    }

    // Append in the inputs' order, or insert them as the scenario says;
    // remember where each record landed.
    let mut placed = Vec::with_capacity(inputs.len());
    for input in inputs {
        let topic = log.topic_index(&input.topic).map_err(|e| e.to_string())?;
        if let Some(sql) = &input.insert {
            let partitions = log
                .partitions(&input.topic)
                .map_err(|e| e.to_string())?
                .unwrap_or(0);
            let ends = |log: &dyn ddsql_engine::io::Transport| -> Result<Vec<u64>, String> {
                (0..partitions)
                    .map(|p| log.end_offset(&input.topic, p).map_err(|e| e.to_string()))
                    .collect()
            };
            let before = ends(log.as_ref())?;
            session
                .execute_script(sql)
                .map_err(|e| format!("{}: {sql}: {e}", scenario.name))?;
            let after = ends(log.as_ref())?;
            let Some(p) = (0..partitions as usize).find(|&p| after[p] > before[p]) else {
                return Err(format!("{}: {sql} wrote nothing", scenario.name));
            };
            let mut fetched = Vec::new();
            log.read(&input.topic, p as u32, before[p], 1, &mut fetched)
                .map_err(|e| e.to_string())?;
            let timestamp = fetched.first().map_or(0, |f| f.record.timestamp);
            placed.push((topic, p as u32, before[p], timestamp));
            continue;
        }
        let value = match (&input.malformed, &input.value) {
            (Some(bytes), _) => Some(bytes.clone().into_bytes()),
            (None, v) => v.as_ref().map(|v| v.to_string().into_bytes()),
        };
        let record = Record {
            key: input.key.as_ref().map(|k| k.to_string().into_bytes()),
            value,
            timestamp: input.timestamp,
            headers: vec![],
        };
        let offset = log
            .append(&input.topic, input.partition, &[record])
            .map_err(|e| e.to_string())?;
        placed.push((topic, input.partition, offset, input.timestamp));
    }
    match config.staggered {
        Some(seed) => {
            let mut rng = crate::scenarios::Rng(seed | 1);
            for text in &later {
                std::thread::sleep(std::time::Duration::from_millis(rng.below(30)));
                session
                    .execute_script(text)
                    .map_err(|e| format!("{}: {text}: {e}", scenario.name))?;
            }
        }
        None => {
            session
                .execute_script(scenario.sql_after)
                .map_err(|e| format!("{}: {e}", scenario.name))?;
        }
    }
    let (seq, stamp) = logical_order(&placed);
    // Each input's time by the contract, and the label it has there.
    let by_place: HashMap<(u16, u32, u64), usize> = placed
        .iter()
        .enumerate()
        .map(|(i, &(t, p, o, _))| ((t, p, o), i))
        .collect();
    let input_at: HashMap<Time, u64> = placed
        .iter()
        .enumerate()
        .map(|(i, &(t, p, o, _))| (event_time(stamp[i], t, p, o), seq[i]))
        .collect();

    match config.staggered {
        Some(_) => session.stop_runtime().map(|_| ()),
        None => session
            .run_until_caught_up(&RunOptions {
                workers: config.workers,
                batch: config.batch,
                max_drift_ms: config.max_drift_ms,
                ..RunOptions::default()
            })
            .map(|_| ()),
    }
    .map_err(|e| format!("{}: the run failed: {e}", scenario.name))?;

    let mut problems = Vec::new();
    // The topics whose records are the events of some output: inputs
    // there keep their label; a row a query wrote is `DERIVED` plus its
    // cause's label.
    let mut events: HashMap<&str, HashMap<Time, u64>> = HashMap::new();
    for via in scenario.outputs.iter().filter_map(|o| o.via) {
        let index = log.topic_index(via).map_err(|e| e.to_string())?;
        let partitions = log.partitions(via).map_err(|e| e.to_string())?.unwrap_or(0);
        let mut labels = HashMap::new();
        for partition in 0..partitions {
            let mut fetched = Vec::new();
            log.read(via, partition, 0, usize::MAX, &mut fetched)
                .map_err(|e| e.to_string())?;
            let mut last: Option<Time> = None;
            for f in fetched {
                let at = format!("{via} partition {partition} offset {}", f.offset);
                let (time, label) = match by_place.get(&(index, partition, f.offset)) {
                    Some(&i) => {
                        let time = event_time(stamp[i], index, partition, f.offset);
                        if written_time(&f.record).is_some_and(|w| w != time) {
                            problems.push(format!("{at}: input #{i} was stamped {:x}, not {time:x} as the contract says", written_time(&f.record).unwrap_or(0)));
                        }
                        (time, seq[i])
                    }
                    None => {
                        let (Some(time), Some(cause)) =
                            (written_time(&f.record), cause_time(&f.record))
                        else {
                            problems.push(format!("{at}: a query's record without its times"));
                            continue;
                        };
                        let Some(&root) = input_at.get(&cause) else {
                            problems.push(format!("{at}: its cause {cause:x} names no input"));
                            continue;
                        };
                        (time, DERIVED + root)
                    }
                };
                if last.is_some_and(|l| time < l) {
                    problems.push(format!("{at}: times go backwards in the partition"));
                }
                last = Some(time);
                labels.insert(time, label);
            }
        }
        events.insert(via, labels);
    }
    let mut outputs = Vec::new();
    for output in scenario.outputs {
        let labels = match output.via {
            Some(via) => &events[via],
            None => &input_at,
        };
        let source = session
            .catalog()
            .source(output.source)
            .ok_or_else(|| format!("{}: no source {}", scenario.name, output.source))?;
        // A windowed table's record key is the key, then the window start
        // in 8 bytes: it becomes a WINDOWSTART key column here.
        let mut plain = source.clone();
        plain.window = None;
        let codec = Formats::default().codec(&plain)?;
        let mut key_names: Vec<String> = source
            .key_columns()
            .map(|c| c.name.to_lowercase())
            .collect();
        if source.window.is_some() {
            key_names.push("windowstart".into());
        }
        let partitions = log
            .partitions(&source.topic)
            .map_err(|e| e.to_string())?
            .unwrap_or(0);
        let keys: Vec<_> = source.key_columns().cloned().collect();
        let mut records = Vec::new();
        for partition in 0..partitions {
            let mut fetched = Vec::new();
            log.read(&source.topic, partition, 0, usize::MAX, &mut fetched)
                .map_err(|e| e.to_string())?;
            let mut last = None;
            for f in fetched {
                let at = format!("{} partition {partition} offset {}", source.topic, f.offset);
                let Some(time) = written_time(&f.record) else {
                    problems.push(format!("{at}: a record without its logical time"));
                    continue;
                };
                if last.is_some_and(|l| time < l) {
                    problems.push(format!("{at}: times go backwards, so a reader that stopped here saw a state that never was"));
                }
                last = Some(time);
                let Some(&label) = labels.get(&time) else {
                    problems.push(format!(
                        "{at}: its time {time:x} is no input's{}",
                        output
                            .via
                            .map_or(String::new(), |v| format!(" nor any record's of {v}"))
                    ));
                    continue;
                };
                let mut key_bytes = f.record.key.as_deref();
                let mut window_start = None;
                if source.window.is_some() {
                    let k = key_bytes.unwrap_or_default();
                    let Some(split) = k.len().checked_sub(8) else {
                        problems.push(format!("{at}: a windowed key without its window start"));
                        continue;
                    };
                    let start = i64::from_be_bytes(k[split..].try_into().expect("8 bytes"));
                    window_start = Some(Json::from(start));
                    key_bytes = Some(&k[..split]);
                }
                let decoded = codec
                    .decode(key_bytes, f.record.value.as_deref())
                    .map_err(|e| format!("{at}: ddsql wrote a record it cannot read back: {e}"))?;
                let object = |values: &[ddsql_sql::types::Value],
                              cols: &[ddsql_sql::catalog::Column]| {
                    let mut m = Map::new();
                    for (v, c) in values.iter().zip(cols) {
                        m.insert(
                            c.name.to_lowercase(),
                            to_json(v, &c.ty).unwrap_or(Json::Null),
                        );
                    }
                    if let Some(start) = &window_start {
                        m.insert("windowstart".into(), start.clone());
                    }
                    Json::Object(m)
                };
                match decoded {
                    Decoded::Row(values) => {
                        let key = object(&values[..keys.len()], &keys);
                        records.push((label, key, Some(object(&values, &source.columns))));
                    }
                    Decoded::Tombstone(key) => records.push((label, object(&key, &keys), None)),
                }
            }
        }
        records.sort_by_key(|r| r.0);
        outputs.push((key_names, records));
    }
    Ok(Observed {
        seq,
        outputs,
        problems,
    })
}

/// The logical order of the inputs by the contract (design.md), worked
/// out here from the records alone rather than asked of the engine: within
/// a partition a record's timestamp is raised to the partition's latest,
/// then records order by (timestamp, topic, partition, offset). Returns
/// each input's rank from 1, and its raised timestamp.
fn logical_order(placed: &[(u16, u32, u64, i64)]) -> (Vec<u64>, Vec<i64>) {
    let mut latest: HashMap<(u16, u32), i64> = HashMap::new();
    let stamp: Vec<i64> = placed
        .iter()
        .map(|&(t, p, _, ts)| {
            let l = latest.entry((t, p)).or_insert(0);
            *l = (*l).max(ts);
            *l
        })
        .collect();
    let mut order: Vec<usize> = (0..placed.len()).collect();
    order.sort_by_key(|&i| (stamp[i], placed[i].0, placed[i].1, placed[i].2));
    let mut seq = vec![0; placed.len()];
    for (rank, i) in order.into_iter().enumerate() {
        seq[i] = rank as u64 + 1;
    }
    (seq, stamp)
}
