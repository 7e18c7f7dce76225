//! A runner for ksqlDB's query-validation tests (QTT): JSON files of cases,
//! each with statements, input records and the output records ksqlDB
//! produces.
//!
//! Each case runs on a fresh embedded log. Inputs are encoded with the
//! formats of the source that reads their topic and fed in file order (each
//! record's logical time is its position in the file, as ksqlDB's test
//! driver pipes one record at a time). Outputs are decoded with the formats
//! of the sink and compared per topic, in order: values by JSON equality
//! (doubles within 1e-6, field names exactly or upper-cased), timestamps
//! when the case gives them. A table update that repeats the key's previous
//! value may be elided on either side.
//!
//! A case that needs a feature ddsql does not have yet is a SKIP with the
//! reason; a wrong answer is a FAIL with the first difference.
//!
//! Running ([`execute`]) and comparing ([`compare_outputs`]) are shared with
//! `ksql-test-runner`'s files (`crate::test_runner`).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value as Json};

use ddsql_connectors::format::json::{from_json, to_json};
use ddsql_connectors::format::Formats;
use ddsql_engine::io::{CodecFactory, Decoded, Fetched, Record};
use ddsql_engine::operators::sink::written_time;
use ddsql_engine::RunOptions;
use ddsql_sql::catalog::{Format, Source};
use ddsql_sql::types::Value;

use crate::session::Session;

/// The header carrying an input's position in the file.
const SEQUENCE_HEADER: &str = "ddsql-qtt-seq";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub file: String,
    pub name: String,
    pub verdict: Verdict,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Verdict::Pass => write!(f, "PASS {}: {}", self.file, self.name),
            Verdict::Fail(why) => write!(f, "FAIL {}: {}: {why}", self.file, self.name),
            Verdict::Skip(why) => write!(f, "SKIP {}: {}: {why}", self.file, self.name),
        }
    }
}

struct Case {
    name: String,
    /// Server properties the case sets (`ksql.functions...`).
    properties: Vec<String>,
    statements: Vec<String>,
    inputs: Vec<Json>,
    outputs: Vec<Json>,
    expected_error: Option<String>,
    /// Topics with schemas registered up front (`topics[].keySchema` /
    /// `valueSchema`): the Schema Registry decides their columns and shapes.
    registered_schemas: Vec<String>,
}

fn cases(json: &Json) -> Vec<Case> {
    let mut out = Vec::new();
    for t in json["tests"].as_array().into_iter().flatten() {
        let name = t["name"].as_str().unwrap_or("?").to_string();
        let statements: Vec<String> = t["statements"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
        let formats: Vec<String> = match t.get("format") {
            Some(Json::Array(f)) => f
                .iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect(),
            _ => vec![String::new()],
        };
        for format in formats {
            out.push(Case {
                properties: t
                    .get("properties")
                    .and_then(Json::as_object)
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default(),
                name: if format.is_empty() {
                    name.clone()
                } else {
                    format!("{name} - {format}")
                },
                statements: statements
                    .iter()
                    .map(|s| s.replace("{FORMAT}", &format))
                    .collect(),
                inputs: t["inputs"].as_array().cloned().unwrap_or_default(),
                outputs: t["outputs"].as_array().cloned().unwrap_or_default(),
                expected_error: t
                    .get("expectedException")
                    .map(|e| e["message"].as_str().unwrap_or("an error").to_string()),
                registered_schemas: t["topics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|topic| {
                        ["keySchema", "valueSchema", "schema"]
                            .iter()
                            .any(|k| topic.get(*k).is_some_and(|s| !s.is_null()))
                    })
                    .filter_map(|topic| topic["name"].as_str().map(String::from))
                    .collect(),
            });
        }
    }
    out
}

/// Runs every case of a QTT file.
pub fn run_file(path: &Path) -> anyhow::Result<Vec<Outcome>> {
    let text = std::fs::read_to_string(path)?;
    let json: Json = serde_json::from_str(&text)?;
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(cases(&json)
        .into_iter()
        .map(|case| Outcome {
            file: file.clone(),
            name: case.name.clone(),
            verdict: run_case(&case),
        })
        .collect())
}

fn unsupported(message: &str) -> bool {
    message.contains("not supported yet")
}

fn run_case(case: &Case) -> Verdict {
    if !case.properties.is_empty() {
        return Verdict::Skip(format!(
            "sets properties ddsql does not read yet: {}",
            case.properties.join(", ")
        ));
    }
    if let Some(why) = unsupported_records(case.inputs.iter().chain(&case.outputs)) {
        return Verdict::Skip(why);
    }
    let ran = match execute(&case.statements, &case.inputs) {
        Ok(done) => done,
        Err(Stopped::Setup(why)) => return Verdict::Fail(why),
        Err(Stopped::Statement(message)) => {
            return match (&case.expected_error, unsupported(&message)) {
                (_, true) => Verdict::Skip(first_line(&message)),
                (Some(_), false) => Verdict::Pass,
                (None, false) => {
                    Verdict::Fail(format!("statement failed: {}", first_line(&message)))
                }
            };
        }
        Err(Stopped::Input(why)) => return why,
        Err(Stopped::Run(message)) => {
            return if unsupported(&message) {
                Verdict::Skip(first_line(&message))
            } else {
                Verdict::Fail(format!("run failed: {}", first_line(&message)))
            };
        }
    };
    if let Some(expected) = &case.expected_error {
        return Verdict::Skip(format!(
            "ksqlDB fails at run time ({}); ddsql ran the case",
            first_line(expected)
        ));
    }
    match compare_outputs(&ran.session, &case.outputs) {
        Ok(()) => Verdict::Pass,
        // Registered schemas decide columns and record shapes, and ddsql
        // has no Schema Registry yet: the difference is reported, as a skip.
        Err(why) if !case.registered_schemas.is_empty() => Verdict::Skip(format!(
            "registers schemas for {} in a Schema Registry, which is not supported yet; the case ran and differed: {why}",
            case.registered_schemas.join(", ")
        )),
        Err(why) => Verdict::Fail(why.to_string()),
    }
}

/// Why a run stopped before its outputs could be compared.
pub(crate) enum Stopped {
    /// The temporary directory or the log could not be made.
    Setup(String),
    /// A statement failed: the whole message (for SQL, with line and column).
    Statement(String),
    /// An input could not be written: a `Skip` (ddsql cannot encode it yet)
    /// or a `Fail`.
    Input(Verdict),
    /// Running the queries failed: the whole message.
    Run(String),
}

/// What a case or test needs that ddsql does not have yet, from its input
/// and output records.
pub(crate) fn unsupported_records<'a>(
    mut records: impl Iterator<Item = &'a Json>,
) -> Option<String> {
    records
        .any(|r| r.get("window").is_some_and(|w| w["type"] != "time"))
        .then(|| "session-windowed keys are not supported yet".to_string())
}

/// Runs a case on a fresh embedded log in a temporary directory, as
/// ksqlDB's test driver does: creates the input topics and those the CREATE
/// statements name, executes each of `statements` (a script), writes
/// `inputs` in file order and runs the queries until caught up.
pub(crate) fn execute(statements: &[String], inputs: &[Json]) -> Result<Ran, Stopped> {
    let dir =
        tempfile::tempdir().map_err(|e| Stopped::Setup(format!("temporary directory: {e}")))?;
    let mut session =
        Session::open(dir.path()).map_err(|e| Stopped::Setup(format!("opening the log: {e}")))?;
    // QTT creates the input topics, and those its CREATE statements name,
    // before the statements run.
    let mut topics: Vec<(String, u32)> = inputs
        .iter()
        .filter_map(|i| i["topic"].as_str().map(|t| (t.to_string(), 1)))
        .collect();
    for sql in statements {
        for p in ddsql_sql::parser::parse(sql).unwrap_or_default() {
            if let ddsql_sql::ast::Statement::CreateSource(c) = &p.statement {
                let prop = |name: &str| {
                    c.properties
                        .iter()
                        .find(|p| p.name.value.eq_ignore_ascii_case(name))
                        .map(|p| p.value.clone())
                };
                if let Some(ddsql_sql::ast::Literal::String(topic)) = prop("KAFKA_TOPIC") {
                    let partitions = match prop("PARTITIONS") {
                        Some(ddsql_sql::ast::Literal::Number(n)) => n.parse().unwrap_or(1),
                        _ => 1,
                    };
                    topics.insert(0, (topic, partitions));
                }
            }
        }
    }
    for (topic, partitions) in topics {
        if session.log().partitions(&topic).ok().flatten().is_none() {
            let _ = session.log().create_topic(&topic, partitions);
        }
    }
    for sql in statements {
        session
            .execute_script(sql)
            .map_err(|e| Stopped::Statement(e.to_string()))?;
    }
    write_inputs(&session, inputs).map_err(Stopped::Input)?;
    let options = RunOptions {
        workers: 1,
        batch: 64,
        sequence_header: Some(SEQUENCE_HEADER.into()),
        ..Default::default()
    };
    session
        .run_until_caught_up(&options)
        .map_err(|e| Stopped::Run(e.to_string()))?;
    Ok(Ran { session, _dir: dir })
}

/// A case that ran, for [`compare_outputs`]: the session and the temporary
/// directory its log lives in (removed when this is dropped, after the
/// session).
pub(crate) struct Ran {
    pub session: Session,
    _dir: tempfile::TempDir,
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// The source that reads `topic`, preferring one declared over it.
fn reader_of<'a>(session: &'a Session, topic: &'a str) -> Option<&'a Source> {
    let catalog = session.catalog();
    let made_by_query = |s: &Source| catalog.queries().iter().any(|q| q.sink == s.name);
    catalog
        .sources_on_topic(topic)
        .find(|s| !made_by_query(s))
        .or_else(|| catalog.sources_on_topic(topic).next())
}

/// Writes `inputs` (records with `topic`, `key`, `value`, maybe `timestamp`
/// and `partition`) to their topics, encoded with the formats of the source
/// that reads each topic, each with its position in the file in the
/// sequence header. Inputs to a topic no source reads are left out.
pub(crate) fn write_inputs(session: &Session, inputs: &[Json]) -> Result<(), Verdict> {
    for (seq, input) in inputs.iter().enumerate() {
        let topic = input["topic"]
            .as_str()
            .ok_or_else(|| Verdict::Fail("an input has no topic".into()))?;
        let Some(source) = reader_of(session, topic) else {
            continue;
        };
        let codec = Formats::default().codec(source).map_err(Verdict::Skip)?;
        let keys: Vec<_> = source.key_columns().collect();
        let key_values: Vec<Value> =
            match (keys.len(), &input["key"]) {
                (0, _) => vec![],
                (1, k) => vec![from_json(k, &keys[0].ty)
                    .map_err(|e| Verdict::Skip(format!("input key: {e}")))?],
                (_, Json::Object(obj)) => keys
                    .iter()
                    .map(|c| {
                        field(obj, &c.name)
                            .map(|v| from_json(v, &c.ty))
                            .unwrap_or(Ok(Value::Null))
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| Verdict::Skip(format!("input key: {e}")))?,
                (_, other) => {
                    return Err(Verdict::Skip(format!(
                        "input key {other} for a multi-column key"
                    )))
                }
            };
        let bare_value = !source.wrap_single_value || source.value_format == Format::Kafka;
        let (key, value) = match &input["value"] {
            // QTT writes DELIMITED values as their text.
            Json::String(text) if source.value_format == Format::Delimited => {
                let (k, _) = codec
                    .encode(
                        &[
                            key_values.clone(),
                            vec![Value::Null; source.value_columns().count()],
                        ]
                        .concat(),
                    )
                    .map_err(|e| Verdict::Fail(format!("input key: {e}")))?;
                (k, Some(text.clone().into_bytes()))
            }
            Json::Null => (
                codec
                    .encode_key(&key_values)
                    .map_err(|e| Verdict::Fail(format!("input key: {e}")))?,
                None,
            ),
            Json::Object(obj) => {
                let mut row = key_values;
                for c in source.value_columns() {
                    row.push(match field(obj, &c.name) {
                        None => Value::Null,
                        Some(v) => from_json(v, &c.ty)
                            .map_err(|e| Verdict::Skip(format!("input value {}: {e}", c.name)))?,
                    });
                }
                codec
                    .encode(&row)
                    .map_err(|e| Verdict::Fail(format!("input: {e}")))?
            }
            bare if bare_value && source.value_columns().count() == 1 => {
                let c = source.value_columns().next().expect("one value column");
                let mut row = key_values;
                row.push(
                    from_json(bare, &c.ty)
                        .map_err(|e| Verdict::Skip(format!("input value: {e}")))?,
                );
                codec
                    .encode(&row)
                    .map_err(|e| Verdict::Fail(format!("input: {e}")))?
            }
            other => return Err(Verdict::Skip(format!("unwrapped input value {other}"))),
        };
        let record = Record {
            key,
            value,
            timestamp: input["timestamp"].as_i64().unwrap_or(0),
            headers: vec![(SEQUENCE_HEADER.into(), Some(seq.to_string().into_bytes()))],
        };
        let partitions = session.log().partitions(topic).ok().flatten().unwrap_or(1);
        let p = match input["partition"].as_u64() {
            Some(p) => p as u32,
            None => session.log().partition_for(
                record.key.as_deref(),
                record.value.as_deref(),
                partitions,
            ),
        };
        session
            .log()
            .append(topic, p.min(partitions - 1), &[record])
            .map_err(|e| Verdict::Fail(format!("writing input: {e}")))?;
    }
    Ok(())
}

fn field<'a>(obj: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Every record of `topic`, across partitions, in the order the dataflow
/// produced them.
fn produced(session: &Session, topic: &str) -> Vec<Fetched> {
    let partitions = session.log().partitions(topic).ok().flatten().unwrap_or(0);
    let mut all = Vec::new();
    for p in 0..partitions {
        let mut out = Vec::new();
        let _ = session.log().read(topic, p, 0, usize::MAX, &mut out);
        all.extend(out.into_iter().map(|f| (written_time(&f.record), p, f)));
    }
    all.sort_by_key(|(t, p, f)| (*t, *p, f.offset));
    all.into_iter().map(|(_, _, f)| f).collect()
}

/// A produced record as QTT writes it.
fn as_json(source: &Source, f: &Fetched) -> Result<Produced, String> {
    if let Some(window) = source.window {
        // A windowed key: the key's bytes, then the window start (8 bytes).
        let key = f.record.key.as_deref().unwrap_or_default();
        let Some(split) = key.len().checked_sub(8) else {
            return Err("a windowed key shorter than its window start".into());
        };
        let start = i64::from_be_bytes(key[split..].try_into().expect("8 bytes"));
        let mut inner = f.clone();
        inner.record.key = Some(key[..split].to_vec());
        let mut plain = source.clone();
        plain.window = None;
        let (k, v, ts) = as_json(&plain, &inner)?;
        return Ok((windowed_key(k, start, start + window.size), v, ts));
    }
    let codec = Formats::default().codec(source)?;
    let keys: Vec<_> = source.key_columns().collect();
    let delimited_key = source.key_format == Format::Delimited;
    let raw_key = || {
        Json::String(
            String::from_utf8_lossy(f.record.key.as_deref().unwrap_or_default()).into_owned(),
        )
    };
    let key_json = |vals: &[Value]| -> Result<Json, String> {
        Ok(match keys.len() {
            0 => Json::Null,
            // QTT writes DELIMITED keys as their text.
            _ if delimited_key => {
                if f.record.key.is_some() {
                    raw_key()
                } else {
                    Json::Null
                }
            }
            1 => to_json(&vals[0], &keys[0].ty)?,
            _ => Json::Object(
                keys.iter()
                    .zip(vals)
                    .map(|(c, v)| Ok((c.name.clone(), to_json(v, &c.ty)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    };
    let bare = !source.wrap_single_value || source.value_format == Format::Kafka;
    Ok(
        match codec.decode(f.record.key.as_deref(), f.record.value.as_deref())? {
            Decoded::Tombstone(k) => (key_json(&k)?, Json::Null, f.record.timestamp),
            // QTT writes DELIMITED values as their text.
            Decoded::Row(row) if source.value_format == Format::Delimited => {
                let text = String::from_utf8_lossy(f.record.value.as_deref().unwrap_or_default())
                    .into_owned();
                (
                    key_json(&row[..keys.len()])?,
                    Json::String(text),
                    f.record.timestamp,
                )
            }
            Decoded::Row(row) if bare && row.len() == keys.len() + 1 => {
                let c = source.value_columns().next().expect("one value column");
                (
                    key_json(&row[..keys.len()])?,
                    to_json(&row[keys.len()], &c.ty)?,
                    f.record.timestamp,
                )
            }
            Decoded::Row(row) => {
                let (k, v) = row.split_at(keys.len());
                let value = Json::Object(
                    source
                        .value_columns()
                        .zip(v)
                        .map(|(c, v)| Ok((c.name.clone(), to_json(v, &c.ty)?)))
                        .collect::<Result<_, String>>()?,
                );
                (key_json(k)?, value, f.record.timestamp)
            }
        },
    )
}

/// A windowed record's key, as compared: the key with its window.
fn windowed_key(key: Json, start: i64, end: i64) -> Json {
    serde_json::json!({"key": key, "window": {"start": start, "end": end}})
}

/// A produced record as QTT writes it: `(key, value, timestamp)`.
pub(crate) type Produced = (Json, Json, i64);

/// The first difference between the expected outputs and the produced ones.
#[derive(Clone, Debug)]
pub(crate) enum Difference {
    /// No stream or table writes the topic.
    NoWriter { topic: String },
    /// A produced record could not be decoded with the topic's formats.
    Undecodable { topic: String, error: String },
    /// The records differ.
    Records {
        topic: String,
        /// How many records were expected on the topic and how many came.
        expected_count: usize,
        actual_count: usize,
        /// The position, from 0, of the differing expected record among
        /// the topic's (for an extra record, how many were expected).
        index: usize,
        mismatch: Box<Mismatch>,
    },
}

/// How a topic's records differ: an expected record (as the file gives it,
/// with `key`, `value` and maybe `timestamp`) and what was produced in its
/// place.
#[derive(Clone, Debug)]
pub(crate) enum Mismatch {
    Differs { expected: Json, actual: Produced },
    Missing { expected: Json },
    Extra { actual: Produced },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::NoWriter { topic } => {
                write!(f, "no stream or table writes topic '{topic}'")
            }
            Difference::Undecodable { topic, error } => {
                write!(f, "decoding output of '{topic}': {error}")
            }
            Difference::Records {
                topic,
                expected_count,
                actual_count,
                index,
                mismatch,
            } => match &**mismatch {
                Mismatch::Differs {
                    expected: e,
                    actual: (k, v, ts),
                } => write!(
                    f,
                    "topic {topic}, record {}: expected key {} value {}{}, got key {k} value {v} timestamp {ts}",
                    index + 1,
                    e["key"],
                    e["value"],
                    e.get("timestamp").map(|t| format!(" timestamp {t}")).unwrap_or_default()
                ),
                Mismatch::Missing { expected: e } => write!(
                    f,
                    "topic {topic}: expected {expected_count} records, got {actual_count}; missing key {} value {}",
                    e["key"], e["value"]
                ),
                Mismatch::Extra { actual: (k, v, _) } => write!(
                    f,
                    "topic {topic}: expected {expected_count} records, got more: key {k} value {v}"
                ),
            },
        }
    }
}

/// Compares what the queries wrote with `outputs` (records with `topic`,
/// `key`, `value` and maybe `timestamp`), topic by topic in the order the
/// topics first appear.
pub(crate) fn compare_outputs(session: &Session, outputs: &[Json]) -> Result<(), Difference> {
    // Expected records per topic, in file order.
    let mut topics: Vec<&str> = Vec::new();
    let mut expected: HashMap<&str, Vec<&Json>> = HashMap::new();
    for o in outputs {
        let t = o["topic"].as_str().unwrap_or("");
        if !topics.contains(&t) {
            topics.push(t);
        }
        expected.entry(t).or_default().push(o);
    }
    for topic in topics {
        let Some(source) = session.catalog().sources_on_topic(topic).next() else {
            return Err(Difference::NoWriter {
                topic: topic.into(),
            });
        };
        let actual: Result<Vec<Produced>, String> = produced(session, topic)
            .iter()
            .map(|f| as_json(source, f))
            .collect();
        let actual = actual.map_err(|error| Difference::Undecodable {
            topic: topic.into(),
            error,
        })?;
        // Expected windowed records carry their window beside the key.
        let windowed: Vec<Json> = expected[topic]
            .iter()
            .map(|e| match e.get("window") {
                Some(w) if source.window.is_some() => {
                    let mut e = (*e).clone();
                    e["key"] = windowed_key(
                        e["key"].clone(),
                        w["start"].as_i64().unwrap_or(0),
                        w["end"].as_i64().unwrap_or(0),
                    );
                    e
                }
                _ => (*e).clone(),
            })
            .collect();
        let windowed: Vec<&Json> = windowed.iter().collect();
        compare_topic(topic, &windowed, &actual)?;
    }
    Ok(())
}

fn compare_topic(topic: &str, expected: &[&Json], actual: &[Produced]) -> Result<(), Difference> {
    let (mut i, mut j) = (0, 0);
    let mut last_actual: HashMap<String, Json> = HashMap::new();
    let mut last_expected: HashMap<String, Json> = HashMap::new();
    while i < expected.len() || j < actual.len() {
        let e = expected.get(i);
        let a = actual.get(j);
        let matches = match (e, a) {
            (Some(e), Some((k, v, ts))) => {
                json_eq(&e["key"], k)
                    && json_eq(&e["value"], v)
                    && e.get("timestamp")
                        .and_then(Json::as_i64)
                        .is_none_or(|t| t == *ts)
            }
            _ => false,
        };
        if matches {
            let (k, v, _) = a.unwrap();
            last_actual.insert(k.to_string(), v.clone());
            last_expected.insert(k.to_string(), v.clone());
            i += 1;
            j += 1;
            continue;
        }
        // A repeated table value may be elided on either side.
        if let Some((k, v, _)) = a {
            if last_actual.get(&k.to_string()) == Some(v) {
                j += 1;
                continue;
            }
        }
        if let Some(e) = e {
            if last_expected.get(&e["key"].to_string()) == Some(&e["value"]) {
                i += 1;
                continue;
            }
        }
        let mismatch = match (e, a) {
            (Some(e), Some(a)) => Mismatch::Differs {
                expected: (*e).clone(),
                actual: a.clone(),
            },
            (Some(e), None) => Mismatch::Missing {
                expected: (*e).clone(),
            },
            (None, Some(a)) => Mismatch::Extra { actual: a.clone() },
            (None, None) => unreachable!(),
        };
        return Err(Difference::Records {
            topic: topic.into(),
            expected_count: expected.len(),
            actual_count: actual.len(),
            index: i,
            mismatch: Box::new(mismatch),
        });
    }
    Ok(())
}

/// JSON equality with ksqlDB's test tolerances: doubles within 1e-6, object
/// fields matched exactly or upper-cased.
fn json_eq(expected: &Json, actual: &Json) -> bool {
    match (expected, actual) {
        (Json::Number(a), Json::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-6 * x.abs().max(1.0),
                _ => false,
            },
        },
        (Json::Object(e), Json::Object(a)) => {
            e.len() == a.len()
                && e.iter().all(|(k, v)| {
                    a.get(k)
                        .or_else(|| a.get(&k.to_uppercase()))
                        .is_some_and(|av| json_eq(v, av))
                })
        }
        (Json::Array(e), Json::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| json_eq(x, y))
        }
        (e, a) => e == a,
    }
}
