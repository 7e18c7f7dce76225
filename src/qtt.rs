//! A runner for ksqlDB's query-validation tests (QTT): JSON files of cases,
//! each with statements, input records and the output records ksqlDB
//! produces.
//!
//! Each case runs on a fresh embedded log. Inputs are encoded with the
//! formats of the source that reads their topic and fed in file order (each
//! record's logical time is its position in the file, as ksqlDB's test
//! driver pipes one record at a time). Outputs are decoded with the formats
//! of the sink and compared per topic, in order: values by JSON equality
//! (doubles within 1e-6, decimals given as strings by value, field names
//! exactly or upper-cased), timestamps
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
use ddsql_connectors::format::{avro, Formats};
use ddsql_connectors::schema_registry::{MemoryRegistry, SchemaReference, SchemaType};
use ddsql_engine::clock::written_time;
use ddsql_engine::io::{
    split_window_key, window_key_suffix, CodecFactory, Decoded, Fetched, Record,
};
use ddsql_engine::{RunOptions, PROCESSING_LOG_TOPIC};
use ddsql_sql::catalog::{Format, Source};
use ddsql_sql::types::{SqlType, Value};

use crate::session::{Connections, Session};

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
    /// Server properties the case sets (`ksql.functions...`), by name.
    properties: Vec<(String, String)>,
    statements: Vec<String>,
    inputs: Vec<Json>,
    outputs: Vec<Json>,
    expected_error: Option<String>,
    /// Schemas registered before the statements run (`topics[].keySchema` /
    /// `valueSchema`).
    schemas: Vec<TopicSchema>,
}

/// A schema a case registers in the Schema Registry before its statements
/// run: sources infer their columns from it and inputs are written with it.
#[derive(Clone, Debug)]
pub(crate) struct TopicSchema {
    /// `<topic>-key` or `<topic>-value`.
    pub subject: String,
    pub schema_type: SchemaType,
    /// Avro's or JSON Schema's JSON, or a `.proto` file.
    pub text: String,
    /// The id the case gives it (`keySchemaId`/`valueSchemaId`).
    pub id: Option<u32>,
    /// The schemas it imports (`keySchemaReferences`/`valueSchemaReferences`):
    /// `(name, text)`, each registered under the subject of its name.
    pub references: Vec<(String, String)>,
}

/// The Avro schemas a case registers, by subject, with their ids: inputs
/// to their topics are written with them.
pub(crate) type AvroWriters = HashMap<String, (avro::Schema, u32)>;

/// The schemas a QTT case's `topics` register.
fn topic_schemas(topics: &[Json]) -> Vec<TopicSchema> {
    let mut out = Vec::new();
    for topic in topics {
        let Some(name) = topic["name"].as_str() else {
            continue;
        };
        for (side, schema, format, id, refs) in [
            (
                "key",
                "keySchema",
                "keyFormat",
                "keySchemaId",
                "keySchemaReferences",
            ),
            (
                "value",
                "valueSchema",
                "valueFormat",
                "valueSchemaId",
                "valueSchemaReferences",
            ),
            // Older files give the value's schema and format alone.
            (
                "value",
                "schema",
                "format",
                "valueSchemaId",
                "valueSchemaReferences",
            ),
        ] {
            let format = topic[format].as_str().or(topic["format"].as_str());
            let schema_type = match format.map(str::to_ascii_uppercase).as_deref() {
                Some("PROTOBUF") => SchemaType::Protobuf,
                Some("JSON" | "JSON_SR") => SchemaType::Json,
                _ => SchemaType::Avro,
            };
            let text = match &topic[schema] {
                Json::Null => continue,
                // A .proto file, an Avro schema's JSON as text, or a bare
                // Avro type name (`"int"`), which is JSON once quoted.
                Json::String(text)
                    if schema_type != SchemaType::Avro
                        || serde_json::from_str::<Json>(text).is_ok() =>
                {
                    text.clone()
                }
                json => json.to_string(),
            };
            out.push(TopicSchema {
                subject: format!("{name}-{side}"),
                schema_type,
                text,
                id: topic[id].as_u64().map(|id| id as u32),
                references: topic[refs]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| {
                        Some((
                            r["name"].as_str()?.to_string(),
                            r["schema"].as_str()?.to_string(),
                        ))
                    })
                    .collect(),
            });
        }
    }
    out
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
                    .map(|p| {
                        p.iter()
                            .map(|(k, v)| {
                                (k.clone(), v.as_str().map_or(v.to_string(), String::from))
                            })
                            .collect()
                    })
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
                schemas: topic_schemas(t["topics"].as_array().map_or(&[], Vec::as_slice)),
            });
        }
    }
    out
}

/// A QTT file's name and its cases.
fn read_file(path: &Path) -> anyhow::Result<(String, Vec<Case>)> {
    let text = std::fs::read_to_string(path)?;
    let json: Json = serde_json::from_str(&text)?;
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((file, cases(&json)))
}

/// Runs every case of a QTT file.
pub fn run_file(path: &Path) -> anyhow::Result<Vec<Outcome>> {
    let (file, cases) = read_file(path)?;
    Ok(cases
        .into_iter()
        .map(|case| Outcome {
            file: file.clone(),
            name: case.name.clone(),
            verdict: run_case(&case),
        })
        .collect())
}

/// How a case's statements went through the front end (parse and bind,
/// with the case's topics and registered schemas), without inputs or runs.
#[derive(Clone, Debug)]
pub struct FrontEnd {
    pub file: String,
    pub name: String,
    /// The case expects ksqlDB to reject a statement (or its run).
    pub expects_error: bool,
    /// The first statement error, with line and column.
    pub outcome: Result<(), String>,
}

/// Every case of a QTT file through the front end only: what
/// `ddsql check` would say of its statements.
pub fn check_file(path: &Path) -> anyhow::Result<Vec<FrontEnd>> {
    let (file, cases) = read_file(path)?;
    Ok(cases
        .into_iter()
        .map(|case| FrontEnd {
            file: file.clone(),
            name: case.name.clone(),
            expects_error: case.expected_error.is_some(),
            outcome: match prepare(&case.script(), &case.inputs, &case.schemas) {
                Ok(_) => Ok(()),
                Err(Stopped::Statement(e) | Stopped::Setup(e)) => Err(e),
                Err(Stopped::Input(_) | Stopped::Run(_)) => {
                    unreachable!("preparing writes no input and runs nothing")
                }
            },
        })
        .collect())
}

fn unsupported(message: &str) -> bool {
    message.contains("not supported yet")
}

/// Server properties that ddsql's session reads when `SET`: a case's
/// statements run after a `SET` of each.
const SESSION_PROPERTIES: &[&str] = &[
    ddsql_sql::binder::DEFAULT_KEY_FORMAT,
    ddsql_sql::binder::DEFAULT_VALUE_FORMAT,
];

/// Server properties that cannot change a case's results in ddsql: ksqlDB
/// runs some cases under both of its query planners and expects the same
/// records (ddsql has one planner); the emit interval of a windowed
/// aggregation is a throttle in wall-clock time, which QTT sets to 0 (no
/// throttle), the only behaviour ddsql has.
const NO_EFFECT_PROPERTIES: &[&str] = &[
    "ksql.new.query.planner.enabled",
    "ksql.streams.__emit.interval.ms.kstreams.windowed.aggregation__",
];

impl Case {
    /// The properties the case sets that ddsql does not read.
    fn unread_properties(&self) -> Vec<&str> {
        self.properties
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| {
                !SESSION_PROPERTIES.contains(name) && !NO_EFFECT_PROPERTIES.contains(name)
            })
            .collect()
    }

    /// The statements, after a `SET` of each session property the case
    /// sets.
    fn script(&self) -> Vec<String> {
        self.properties
            .iter()
            .filter(|(name, _)| SESSION_PROPERTIES.contains(&name.as_str()))
            .map(|(name, value)| format!("SET '{name}' = '{value}';"))
            .chain(self.statements.iter().cloned())
            .collect()
    }
}

fn run_case(case: &Case) -> Verdict {
    let unread = case.unread_properties();
    if !unread.is_empty() {
        return Verdict::Skip(format!(
            "sets properties ddsql does not read yet: {}",
            unread.join(", ")
        ));
    }
    let ran = match execute(&case.script(), &case.inputs, &case.schemas) {
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
        Err(why) => Verdict::Fail(match first_processing_error(&ran.session) {
            Some(error) => format!("{why} (processing log: {error})"),
            None => why.to_string(),
        }),
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

/// Runs a case on a fresh embedded log in a temporary directory, as
/// ksqlDB's test driver does: registers `schemas` (in a Schema Registry of
/// the case's own, when there are any), creates the input topics and those
/// the CREATE statements name, executes each of `statements` (a script),
/// writes `inputs` in file order and runs the queries until caught up.
pub(crate) fn execute(
    statements: &[String],
    inputs: &[Json],
    schemas: &[TopicSchema],
) -> Result<Ran, Stopped> {
    let ran = prepare(statements, inputs, schemas)?;
    write_inputs(&ran.session, inputs, &ran.writers).map_err(Stopped::Input)?;
    let options = RunOptions {
        workers: 1,
        batch: 64,
        sequence_header: Some(SEQUENCE_HEADER.into()),
        ..Default::default()
    };
    ran.session
        .run_until_caught_up(&options)
        .map_err(|e| Stopped::Run(e.to_string()))?;
    Ok(ran)
}

/// The first half of [`execute`]: the registry, the topics and the
/// statements, before any input.
fn prepare(
    statements: &[String],
    inputs: &[Json],
    schemas: &[TopicSchema],
) -> Result<Ran, Stopped> {
    let dir =
        tempfile::tempdir().map_err(|e| Stopped::Setup(format!("temporary directory: {e}")))?;
    let mut writers = AvroWriters::new();
    let registry = if schemas.is_empty() {
        None
    } else {
        let registry = MemoryRegistry::start()
            .map_err(|e| Stopped::Setup(format!("starting a Schema Registry: {e}")))?;
        for s in schemas {
            // As Confluent's clients do, an imported file is registered
            // under a subject of its own name, and referred to by version.
            let mut references = Vec::new();
            for (name, text) in &s.references {
                let id = registry
                    .import(name, s.schema_type, text, None, &[])
                    .map_err(|e| Stopped::Setup(format!("registering {name}: {e}")))?;
                references.push(SchemaReference {
                    name: name.clone(),
                    subject: name.clone(),
                    version: registry.version_of(name, id).expect("just registered"),
                });
            }
            let id = registry
                .import(&s.subject, s.schema_type, &s.text, s.id, &references)
                .map_err(|e| Stopped::Setup(format!("registering {}: {e}", s.subject)))?;
            if s.schema_type == SchemaType::Avro {
                let schema = avro::Schema::parse(&s.text)
                    .map_err(|e| Stopped::Setup(format!("the schema of {}: {e}", s.subject)))?;
                writers.insert(s.subject.clone(), (schema, id));
            }
        }
        Some(registry)
    };
    let connections = Connections {
        schema_registry: registry.as_ref().map(MemoryRegistry::url),
        ..Connections::embedded(dir.path())
    };
    let mut session = Session::connect(&connections)
        .map_err(|e| Stopped::Setup(format!("opening the log: {e}")))?;
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
    Ok(Ran {
        session,
        writers,
        _registry: registry,
        _dir: dir,
    })
}

/// A case's session, for [`compare_outputs`] once it ran: with the Avro
/// schemas its inputs are written with, its Schema Registry and the
/// temporary directory its log lives in (removed when this is dropped,
/// after the session).
pub(crate) struct Ran {
    pub session: Session,
    writers: AvroWriters,
    _registry: Option<MemoryRegistry>,
    _dir: tempfile::TempDir,
}

/// The first record of the processing log, which often says why an
/// output is missing.
fn first_processing_error(session: &Session) -> Option<String> {
    let mut out = Vec::new();
    session
        .log()
        .read(PROCESSING_LOG_TOPIC, 0, 0, 1, &mut out)
        .ok()?;
    let value = out.first()?.record.value.as_deref()?;
    Some(String::from_utf8_lossy(value).into_owned())
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
pub(crate) fn write_inputs(
    session: &Session,
    inputs: &[Json],
    writers: &AvroWriters,
) -> Result<(), Verdict> {
    for (seq, input) in inputs.iter().enumerate() {
        let topic = input["topic"]
            .as_str()
            .ok_or_else(|| Verdict::Fail("an input has no topic".into()))?;
        let Some(source) = reader_of(session, topic) else {
            continue;
        };
        let codec = session.formats().codec(source).map_err(Verdict::Skip)?;
        let keys: Vec<_> = source.key_columns().collect();
        // QTT writes DELIMITED keys as their text.
        let raw_key = match &input["key"] {
            Json::String(text) if source.key_format == Format::Delimited && !keys.is_empty() => {
                Some(text.clone().into_bytes())
            }
            _ => None,
        };
        let key_values: Vec<Value> = match (keys.len(), &input["key"]) {
            (0, _) => vec![],
            (n, _) if raw_key.is_some() => vec![Value::Null; n],
            (n, Json::Null) => vec![Value::Null; n],
            (1, k) => vec![from_json(protobuf_key(source, k), &keys[0].ty)
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
        // A registered Avro schema is the writer's, as the producer in
        // ksqlDB's test driver uses it; the source reads it by its id.
        let registered = |side: &str, json: &Json, encoded: Option<Vec<u8>>| match writers
            .get(&format!("{topic}-{side}"))
        {
            Some((schema, id)) if !json.is_null() => schema
                .sql_type()
                .and_then(|ty| from_json(json, &ty))
                .and_then(|v| avro::encode_with_id(schema, *id, &v))
                .map(Some)
                .map_err(|e| {
                    Verdict::Fail(format!("input {side} with its registered schema: {e}"))
                }),
            _ => Ok(encoded),
        };
        let mut key = registered("key", &input["key"], raw_key.or(key))?;
        // A windowed source's key ends with the input's window.
        if let (Some(window), Some(w)) = (source.window, input.get("window")) {
            let bound = |name: &str| w[name].as_i64().unwrap_or(0);
            key.get_or_insert_with(Vec::new).extend(window_key_suffix(
                window,
                bound("start"),
                bound("end"),
            ));
        }
        let value = registered("value", &input["value"], value)?;
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

/// A single-column PROTOBUF key as a case gives it: QTT writes the key of
/// a registered key schema as the message (`{"K": 1}`), ddsql compares the
/// column (`1`).
fn protobuf_key<'a>(source: &Source, key: &'a Json) -> &'a Json {
    let mut keys = source.key_columns();
    match (keys.next(), keys.next(), key) {
        (Some(c), None, Json::Object(fields))
            if source.key_format == Format::Protobuf
                && fields.len() == 1
                && !matches!(c.ty, SqlType::Struct(_)) =>
        {
            fields.values().next().expect("one field")
        }
        _ => key,
    }
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
        let key = f.record.key.as_deref().unwrap_or_default();
        let (key, start, end) = split_window_key(window, key)?;
        let mut inner = f.clone();
        inner.record.key = Some(key.to_vec());
        let mut plain = source.clone();
        plain.window = None;
        let (k, v, ts) = as_json(&plain, &inner)?;
        return Ok((windowed_key(k, start, end), v, ts));
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
                _ if protobuf_key(source, &e["key"]) != &e["key"] => {
                    let mut e = (*e).clone();
                    e["key"] = protobuf_key(source, &e["key"]).clone();
                    e
                }
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
            last_expected.insert(k.to_string(), e.unwrap()["value"].clone());
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
            if last_expected
                .get(&e["key"].to_string())
                .is_some_and(|last| json_eq(last, &e["value"]))
            {
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
/// fields matched exactly or upper-cased, decimals written as strings
/// compared by value.
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
        // QTT gives DECIMAL values as strings ("3.40"); they compare by value.
        (Json::String(e), Json::Number(a)) => match (e.parse::<f64>(), a.as_f64()) {
            (Ok(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
            _ => false,
        },
        (e, a) => e == a,
    }
}
