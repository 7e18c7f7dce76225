//! Comparing ddsql's outputs with the oracle's, time by time.
//!
//! Both sides are brought to one form, a *timeline*: for every logical time,
//! the change that time makes to the output. For a stream that is the
//! records written at that time; for a table, the keys whose row changed
//! and their new rows (or their deletion). Two outputs are equal at every
//! time exactly when their timelines are equal time by time, so comparing
//! timelines compares "the stream so far" and "the table now" after every
//! step, at the cost of one pass.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value as Json};

use crate::ddsql::OutputRecord;
use crate::oracle::Answer;

pub enum Timeline {
    Stream(BTreeMap<u64, Vec<String>>),
    Table(BTreeMap<u64, Vec<(String, Option<String>)>>),
}

impl Timeline {
    /// How many records (streams) or row changes (tables) it holds.
    pub fn len(&self) -> usize {
        match self {
            Timeline::Stream(m) => m.values().map(Vec::len).sum(),
            Timeline::Table(m) => m.values().map(Vec::len).sum(),
        }
    }
    fn at(&self, t: u64) -> Vec<String> {
        match self {
            Timeline::Stream(m) => m.get(&t).cloned().unwrap_or_default(),
            Timeline::Table(m) => m
                .get(&t)
                .map(|changes| {
                    changes
                        .iter()
                        .map(|(k, v)| match v {
                            Some(row) => format!("{k} -> {row}"),
                            None => format!("{k} deleted"),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Lower-case object keys (ksqlDB upper-cases names, PostgreSQL lower-
/// cases them) and numbers to a form where integers are integers and other
/// numbers keep 9 significant digits (ksqlDB's doubles against
/// PostgreSQL's numerics, as QTT compares within 1e-6).
pub fn canonical(v: &Json) -> Json {
    match v {
        Json::Object(m) => {
            // Sorted: jsonb orders keys its own way.
            let mut entries: Vec<(String, Json)> = m
                .iter()
                .map(|(k, v)| (k.to_lowercase(), canonical(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(entries.into_iter().collect::<Map<_, _>>())
        }
        Json::Array(a) => Json::Array(a.iter().map(canonical).collect()),
        Json::Number(n) if n.is_f64() => {
            let f = n.as_f64().expect("a number");
            if f.fract() == 0.0 && f.abs() < 9e15 {
                Json::from(f as i64)
            } else {
                Json::String(format!("{f:.8e}"))
            }
        }
        other => other.clone(),
    }
}

fn key_of(row: &Json, keys: &[String]) -> String {
    let m: Map<String, Json> = keys
        .iter()
        .map(|k| (k.clone(), row.get(k).cloned().unwrap_or(Json::Null)))
        .collect();
    canonical(&Json::Object(m)).to_string()
}

/// Net changes per time from `(time, key, row)` updates in time order.
fn table_changes(
    updates: impl Iterator<Item = (u64, String, Option<String>)>,
) -> BTreeMap<u64, Vec<(String, Option<String>)>> {
    let mut state: HashMap<String, String> = HashMap::new();
    let mut out: BTreeMap<u64, Vec<(String, Option<String>)>> = BTreeMap::new();
    let mut group: Vec<(String, Option<String>)> = Vec::new();
    let mut group_time = None;
    let mut flush = |t: Option<u64>,
                     group: &mut Vec<(String, Option<String>)>,
                     state: &mut HashMap<String, String>| {
        let Some(t) = t else { return };
        // The last update of a key at a time wins; only real changes count.
        let mut last: BTreeMap<String, Option<String>> = BTreeMap::new();
        for (k, v) in group.drain(..) {
            last.insert(k, v);
        }
        let mut changes = Vec::new();
        for (k, v) in last {
            if state.get(&k) != v.as_ref() {
                match &v {
                    Some(row) => state.insert(k.clone(), row.clone()),
                    None => state.remove(&k),
                };
                changes.push((k, v));
            }
        }
        if !changes.is_empty() {
            out.insert(t, changes);
        }
    };
    for (t, k, v) in updates {
        if group_time != Some(t) {
            flush(group_time, &mut group, &mut state);
            group_time = Some(t);
        }
        group.push((k, v));
    }
    flush(group_time, &mut group, &mut state);
    out
}

pub fn from_oracle(answer: Answer, keys: &[String]) -> Timeline {
    match answer {
        Answer::Stream(rows) => {
            let mut m: BTreeMap<u64, Vec<String>> = BTreeMap::new();
            for (t, row) in rows {
                m.entry(t).or_default().push(canonical(&row).to_string());
            }
            m.values_mut().for_each(|v| v.sort());
            Timeline::Stream(m)
        }
        Answer::TableChanges(mut rows) => {
            rows.sort_by_key(|r| r.0);
            Timeline::Table(table_changes(rows.into_iter().map(|(t, row)| {
                let row = canonical(&row);
                (t, key_of(&row, keys), Some(row.to_string()))
            })))
        }
        Answer::TableAt(states) => {
            let mut before: BTreeMap<String, String> = BTreeMap::new();
            let mut out = BTreeMap::new();
            for (t, rows) in states {
                let now: BTreeMap<String, String> = rows
                    .iter()
                    .map(|r| {
                        let r = canonical(r);
                        (key_of(&r, keys), r.to_string())
                    })
                    .collect();
                let mut changes: Vec<(String, Option<String>)> = now
                    .iter()
                    .filter(|(k, v)| before.get(*k) != Some(v))
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect();
                changes.extend(
                    before
                        .keys()
                        .filter(|k| !now.contains_key(*k))
                        .map(|k| (k.clone(), None)),
                );
                changes.sort();
                if !changes.is_empty() {
                    out.insert(t, changes);
                }
                before = now;
            }
            Timeline::Table(out)
        }
    }
}

pub fn from_ddsql(records: &[OutputRecord], table: bool) -> Timeline {
    if !table {
        let mut m: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (t, key, row) in records {
            let row = match row {
                Some(row) => canonical(row).to_string(),
                None => format!("tombstone {}", canonical(key)),
            };
            m.entry(*t).or_default().push(row);
        }
        m.values_mut().for_each(|v| v.sort());
        return Timeline::Stream(m);
    }
    Timeline::Table(table_changes(records.iter().map(|(t, key, row)| {
        (
            *t,
            canonical(key).to_string(),
            row.as_ref().map(|r| canonical(r).to_string()),
        )
    })))
}

pub struct Difference {
    pub output: usize,
    pub time: u64,
    pub expected: Vec<String>,
    pub actual: Vec<String>,
}

impl Timeline {
    fn times(&self) -> Vec<u64> {
        match self {
            Timeline::Stream(m) => m.keys().copied().collect(),
            Timeline::Table(m) => m.keys().copied().collect(),
        }
    }
}

/// Compares every output at every time either side changes it; returns
/// the differences and how many times were compared.
pub fn compare(expected: &[Timeline], actual: &[Timeline]) -> (Vec<Difference>, u64) {
    let mut out = Vec::new();
    let mut compared = 0;
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        let times: std::collections::BTreeSet<u64> =
            e.times().into_iter().chain(a.times()).collect();
        compared += times.len() as u64;
        for t in times {
            let (e, a) = (e.at(t), a.at(t));
            if e != a {
                out.push(Difference {
                    output: i,
                    time: t,
                    expected: e,
                    actual: a,
                });
            }
        }
    }
    // In time order across outputs: the first difference is the earliest.
    out.sort_by_key(|d| d.time);
    (out, compared)
}
