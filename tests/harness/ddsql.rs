//! The system under test: a scenario's inputs on a fresh embedded log, its
//! script executed, its queries run until caught up, its outputs read back.

use std::collections::HashMap;

use ddsql::Session;
use ddsql_connectors::format::json::to_json;
use ddsql_connectors::format::Formats;
use ddsql_engine::io::{CodecFactory, Decoded, Record};
use ddsql_engine::operators::sink::written_time;
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
}

/// An output record: its logical time as an input's rank, key columns, and
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

pub fn run(scenario: &Scenario, inputs: &[Input], config: RunConfig) -> Result<Observed, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut session = Session::open(dir.path()).map_err(|e| e.to_string())?;
    let log = session.log().clone();
    for t in scenario.topics {
        log.create_topic(t.name, t.partitions)
            .map_err(|e| e.to_string())?;
    }
    session
        .execute_script(scenario.sql)
        .map_err(|e| format!("{}: {e}", scenario.name))?;

    // Append in the inputs' order; remember where each record landed.
    let mut placed = Vec::with_capacity(inputs.len());
    for input in inputs {
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
        let topic = log.topic_index(&input.topic).map_err(|e| e.to_string())?;
        placed.push((topic, input.partition, offset, input.timestamp));
    }
    let (seq, stamp) = logical_order(&placed);
    let by_place: HashMap<(u16, u32, u64), usize> = placed
        .iter()
        .enumerate()
        .map(|(i, &(t, p, o, _))| ((t, p, o), i))
        .collect();

    session
        .run_until_caught_up(&RunOptions {
            workers: config.workers,
            batch: config.batch,
            max_drift_ms: config.max_drift_ms,
            ..RunOptions::default()
        })
        .map_err(|e| format!("{}: the run failed: {e}", scenario.name))?;

    let mut problems = Vec::new();
    let mut outputs = Vec::new();
    for output in scenario.outputs {
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
                let (ts, topic, p, offset) = ddsql_engine::time::parts(time);
                let Some(&i) = by_place.get(&(topic, p, offset)) else {
                    problems.push(format!("{at}: its time {time:x} names no input record"));
                    continue;
                };
                if ts != stamp[i] {
                    problems.push(format!(
                        "{at}: written at timestamp {ts} for input #{i}, whose time by the contract has timestamp {}",
                        stamp[i]
                    ));
                }
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
                        records.push((seq[i], key, Some(object(&values, &source.columns))));
                    }
                    Decoded::Tombstone(key) => records.push((seq[i], object(&key, &keys), None)),
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
