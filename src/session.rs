//! A session: a catalog and the topics it lives beside, on the embedded
//! log or a Kafka cluster ([`Connections`]).
//!
//! [`Session::execute_script`] checks a whole script before doing anything:
//! every statement is parsed and bound against a scratch copy of the
//! catalog (so later statements see the sources earlier ones create). Only
//! if all of them pass are topics created, records inserted and queries
//! registered; a script with an error changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ddsql_connectors::embedded::EmbeddedLog;
use ddsql_connectors::format::json::from_json;
use ddsql_connectors::format::Formats;
use ddsql_connectors::kafka::{KafkaConfig, KafkaTransport};
use ddsql_connectors::schema_registry::SchemaRegistry;
use ddsql_engine::clock::{Clock, Own};
use ddsql_engine::io::{CodecFactory, IoError, Record, Transport};
use ddsql_engine::{
    produce, Change, EngineError, RunOptions, RunReport, Runtime, RuntimeConfig, Subscription,
};
use ddsql_sql::ast::ShowKind;
use ddsql_sql::binder::{bind, BoundStatement};
use ddsql_sql::catalog::{Catalog, Format, Header, SchemaLookup, Source, SourceKind, Topics};
use ddsql_sql::functions;
use ddsql_sql::plan::QueryPlan;
use ddsql_sql::properties;
use ddsql_sql::types::{Row, SqlType, Value};

use crate::render;
use ddsql_sql::parser::parse;
use ddsql_sql::SqlError;

/// Why a script did not run.
#[derive(Debug)]
pub enum ScriptError {
    /// A statement is wrong; nothing was executed.
    Sql {
        error: SqlError,
        statement: Option<String>,
    },
    /// Executing failed part-way (a disk error, say).
    Io(IoError),
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::Sql {
                error,
                statement: Some(s),
            } => write!(f, "{error}\n  in statement: {}", first_line(s)),
            ScriptError::Sql {
                error,
                statement: None,
            } => write!(f, "{error}"),
            ScriptError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ScriptError {}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if s.lines().nth(1).is_some() {
        format!("{line} ...")
    } else {
        line.to_string()
    }
}

/// What one executed statement did, for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    pub message: String,
    /// What a SHOW or DESCRIBE prints.
    pub output: Option<String>,
    /// The statement's ksqlDB command id ([`command_id`]), if it is a
    /// command.
    pub command: Option<String>,
    /// Where a durable session recorded the command in [`COMMAND_TOPIC`]:
    /// ksqlDB's `commandSequenceNumber`, which only grows.
    pub sequence: Option<u64>,
}

/// ksqlDB's command id for a statement that changes the catalog:
/// `type/entity/action`, e.g. `stream/PAGEVIEWS/create`.
pub fn command_id(b: &BoundStatement) -> Option<String> {
    let kind = |k: SourceKind| match k {
        SourceKind::Stream => "stream",
        SourceKind::Table => "table",
    };
    match b {
        BoundStatement::CreateSource { source, .. } | BoundStatement::CreateAs { source, .. } => {
            Some(format!("{}/{}/create", kind(source.kind), source.name))
        }
        BoundStatement::InsertSelect { query } => Some(format!("stream/{}/create", query.sink)),
        BoundStatement::Drop { name, .. } => Some(format!("source/{name}/drop")),
        BoundStatement::CreateType { name, .. } => Some(format!("type/{name}/create")),
        BoundStatement::Alter { source } => {
            Some(format!("{}/{}/alter", kind(source.kind), source.name))
        }
        BoundStatement::Pause { query, paused } => Some(format!(
            "{}/{}/execute",
            if *paused { "pause" } else { "resume" },
            query.as_deref().unwrap_or("ALL")
        )),
        BoundStatement::DropType { name } => Some(format!("type/{name}/drop")),
        BoundStatement::Terminate { query } => Some(format!(
            "terminate/{}/execute",
            query.as_deref().unwrap_or("ALL")
        )),
        _ => None,
    }
}

/// Topics as the binder sees them mid-script: those that exist plus those
/// the script's earlier statements will create.
struct ScriptTopics<'a> {
    existing: &'a dyn Topics,
    created: HashMap<String, u32>,
    /// The AVRO schemas (as SQL types) that the script's queries register
    /// for their sinks' topics, by (topic, side): a later statement of the
    /// same script infers from them, as it would once the query runs.
    registering: HashMap<(String, &'static str), SqlType>,
}

impl ScriptTopics<'_> {
    /// Notes the schemas `sink` (a query's output) registers: a record of
    /// the side's columns, or its one column's type when unwrapped (keys
    /// always are).
    fn registers(&mut self, sink: &Source) {
        let side = |format: Format, columns: Vec<(String, SqlType)>, wrap: bool| {
            (format == Format::Avro && !columns.is_empty()).then(|| match columns.len() {
                1 if !wrap => columns[0].1.clone(),
                _ => SqlType::Struct(columns),
            })
        };
        let key = sink
            .key_columns()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect();
        let value = sink
            .value_columns()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect();
        for (name, ty) in [
            ("key", side(sink.key_format, key, false)),
            (
                "value",
                side(sink.value_format, value, sink.wrap_single_value),
            ),
        ] {
            if let Some(ty) = ty {
                self.registering.insert((sink.topic.clone(), name), ty);
            }
        }
    }
}

impl Topics for ScriptTopics<'_> {
    fn partitions(&self, topic: &str) -> Option<u32> {
        self.created
            .get(topic)
            .copied()
            .or_else(|| self.existing.partitions(topic))
    }
    fn complete(&self) -> bool {
        self.existing.complete()
    }
    fn registered_type(&self, lookup: &SchemaLookup) -> Result<Option<SqlType>, String> {
        match self.registering.get(&(lookup.topic.clone(), lookup.side)) {
            Some(ty) if lookup.format == Format::Avro && lookup.id.is_none() => {
                Ok(Some(ty.clone()))
            }
            _ => self.existing.registered_type(lookup),
        }
    }
}

/// Topics and registered schemas as the binder sees them: a transport's
/// topics, or with none (`ddsql check`) every topic taken to exist; and
/// the columns the formats' Schema Registry has.
pub struct TransportTopics<'a> {
    pub transport: Option<&'a dyn Transport>,
    pub formats: &'a Formats,
}

impl Topics for TransportTopics<'_> {
    fn partitions(&self, topic: &str) -> Option<u32> {
        self.transport?.partitions(topic).ok().flatten()
    }
    fn complete(&self) -> bool {
        self.transport.is_some()
    }
    fn registered_type(&self, lookup: &SchemaLookup) -> Result<Option<SqlType>, String> {
        self.formats.registered_type(lookup)
    }
}

/// Where a session's topics live and which Schema Registry its formats
/// use: the embedded log in `data_dir` unless `kafka` names a cluster.
#[derive(Clone, Debug)]
pub struct Connections {
    pub data_dir: PathBuf,
    pub kafka: Option<KafkaConfig>,
    /// The Schema Registry's URL.
    pub schema_registry: Option<String>,
}

impl Connections {
    /// The embedded log in `data_dir`, without a Schema Registry.
    pub fn embedded(data_dir: &Path) -> Connections {
        Connections {
            data_dir: data_dir.to_path_buf(),
            kafka: None,
            schema_registry: None,
        }
    }

    /// Opens the transport and the formats.
    pub fn open(&self) -> Result<(Arc<dyn Transport>, Formats), IoError> {
        let transport: Arc<dyn Transport> = match &self.kafka {
            Some(kafka) => Arc::new(KafkaTransport::connect(kafka.clone())?),
            None => Arc::new(EmbeddedLog::open(&self.data_dir)?),
        };
        Ok((transport, self.formats()))
    }

    /// The formats alone, with the Schema Registry if one is configured
    /// (no transport is opened).
    pub fn formats(&self) -> Formats {
        match &self.schema_registry {
            Some(url) => Formats::with_registry(Arc::new(SchemaRegistry::new(url))),
            None => Formats::default(),
        }
    }

    /// Where the topics are, for messages.
    pub fn describe(&self) -> String {
        match &self.kafka {
            Some(k) => format!("Kafka at {}", k.bootstrap),
            None => format!("data directory {}", self.data_dir.display()),
        }
    }
}

/// A script checked against a catalog: what bound, in order (with each
/// statement's text after `${var}` substitution), and the errors.
pub struct Checked {
    pub bound: Vec<(String, BoundStatement)>,
    pub errors: Vec<ScriptError>,
}

/// Parses and binds every statement of `sql` against `catalog` (copied;
/// later statements see what earlier ones create), and checks that the
/// engine can run the queries. With `keep_going`, a statement with an error
/// is reported and skipped and checking goes on (a linter); without, the
/// first error ends the check.
pub fn check_script(
    catalog: &Catalog,
    existing: &dyn Topics,
    variables: &BTreeMap<String, String>,
    properties: &BTreeMap<String, String>,
    sql: &str,
    keep_going: bool,
) -> Checked {
    // A script's SETs apply to its later statements.
    let mut properties = properties.clone();
    // `${var}` substitution comes first: it is textual.
    let sql = match ddsql_sql::variables::substitute(sql, &mut variables.clone()) {
        Ok(s) => s,
        Err(error) => {
            return Checked {
                bound: vec![],
                errors: vec![ScriptError::Sql {
                    error,
                    statement: None,
                }],
            }
        }
    };
    let sql = sql.as_str();
    let (parsed, syntax) = if keep_going {
        ddsql_sql::parser::parse_all(sql)
    } else {
        match parse(sql) {
            Ok(p) => (p, vec![]),
            Err(e) => (vec![], vec![e]),
        }
    };
    let mut errors: Vec<ScriptError> = syntax
        .into_iter()
        .map(|error| ScriptError::Sql {
            error,
            statement: None,
        })
        .collect();
    let mut scratch = catalog.clone();
    let mut topics = ScriptTopics {
        existing,
        created: HashMap::new(),
        registering: HashMap::new(),
    };
    let mut bound = Vec::new();
    if !errors.is_empty() && !keep_going {
        return Checked { bound, errors };
    }
    for p in &parsed {
        let sql_err = |error: SqlError| ScriptError::Sql {
            error,
            statement: Some(p.text.clone()),
        };
        let result = bind(&scratch, &topics, &properties, p)
            .map_err(sql_err)
            .and_then(|b| {
                if let BoundStatement::CreateSource { source, .. }
                | BoundStatement::CreateAs { source, .. } = &b
                {
                    Formats::default().codec(source).map_err(|m| {
                        sql_err(SqlError::new(p.pos, format!("{}: {m}", source.name)))
                    })?;
                }
                if matches!(
                    b,
                    BoundStatement::CreateAs { .. } | BoundStatement::InsertSelect { .. }
                ) {
                    let mut with = scratch.clone();
                    with.apply(&b);
                    ddsql_engine::check(&with)
                        .map_err(|e| sql_err(SqlError::new(p.pos, e.to_string())))?;
                }
                Ok(b)
            });
        match result {
            Ok(b) => {
                if let BoundStatement::CreateSource { source, .. }
                | BoundStatement::CreateAs { source, .. } = &b
                {
                    topics
                        .created
                        .entry(source.topic.clone())
                        .or_insert(source.partitions);
                }
                if let BoundStatement::CreateAs { source, .. } = &b {
                    topics.registers(source);
                }
                if let BoundStatement::Set { name, value, .. } = &b {
                    properties::set(&mut properties, name, value.as_deref());
                }
                scratch.apply(&b);
                bound.push((p.text.clone(), b));
            }
            Err(e) => {
                errors.push(e);
                if !keep_going {
                    break;
                }
            }
        }
    }
    errors.sort_by_key(|e| match e {
        ScriptError::Sql { error, .. } => (error.pos.line, error.pos.column),
        ScriptError::Io(_) => (0, 0),
    });
    Checked { bound, errors }
}

/// The topic a durable session keeps its catalog in: the text of every
/// statement that changed the catalog, in order (ksqlDB's command topic).
/// Replaying it rebuilds the catalog, query ids included.
pub const COMMAND_TOPIC: &str = "_ddsql_commands";

/// The topic in which [`Session::execute_script_once`] records the INSERT
/// VALUES statements it executed: a key per statement (its text's hash
/// and which occurrence of that text in the script it is).
pub const SCRIPT_INSERTS_TOPIC: &str = "_ddsql_script_inserts";

pub struct Session {
    catalog: Catalog,
    log: Arc<dyn Transport>,
    /// How records of `log` get their times; every write goes through it.
    clock: Arc<Clock>,
    formats: Formats,
    /// `DEFINE`d variables.
    variables: BTreeMap<String, String>,
    /// `SET` properties.
    properties: BTreeMap<String, String>,
    /// Whether catalog changes are appended to [`COMMAND_TOPIC`].
    durable: bool,
    /// The message of every command executed, by command id, those that
    /// restored the catalog too: what `/status` answers.
    commands: BTreeMap<String, String>,
    /// The long-lived runtime the persistent queries run on, once started
    /// ([`Session::start_runtime`]); without one, they run only in
    /// [`Session::run_until_caught_up`].
    runtime: Option<Runtime>,
    /// After a statement installs queries, wait until they are caught up
    /// (`ddsql run`: statements in order, each on a settled state).
    settle: bool,
}

impl Session {
    /// Opens the embedded log in `data_dir` with an empty catalog.
    pub fn open(data_dir: &Path) -> Result<Session, IoError> {
        Session::connect(&Connections::embedded(data_dir))
    }

    /// A session on `connections`' topics with an empty catalog.
    pub fn connect(connections: &Connections) -> Result<Session, IoError> {
        let (log, formats) = connections.open()?;
        Session::with_transport(log, formats)
    }

    /// A session on a transport opened by the caller.
    pub fn with_transport(log: Arc<dyn Transport>, formats: Formats) -> Result<Session, IoError> {
        Ok(Session {
            catalog: Catalog::default(),
            clock: Clock::open(log.clone())?,
            log,
            formats,
            variables: BTreeMap::new(),
            properties: BTreeMap::new(),
            durable: false,
            commands: BTreeMap::new(),
            runtime: None,
            settle: false,
        })
    }

    /// Opens `data_dir` and restores the catalog its earlier sessions
    /// built; from now on every catalog change is recorded there too.
    pub fn open_durable(data_dir: &Path) -> Result<Session, ScriptError> {
        Session::connect_durable(&Connections::embedded(data_dir))
    }

    /// [`Session::open_durable`] on any transport: the catalog lives in
    /// [`COMMAND_TOPIC`] beside the data, on Kafka as ksqlDB keeps its
    /// command topic.
    pub fn connect_durable(connections: &Connections) -> Result<Session, ScriptError> {
        Session::connect(connections)
            .map_err(ScriptError::Io)?
            .into_durable()
    }

    /// Restores the catalog recorded in [`COMMAND_TOPIC`] of this session's
    /// transport (creating the topic if needed) and records every catalog
    /// change there from now on.
    pub fn into_durable(mut self) -> Result<Session, ScriptError> {
        let session = &mut self;
        let log = session.log.clone();
        if log
            .partitions(COMMAND_TOPIC)
            .map_err(ScriptError::Io)?
            .is_none()
        {
            log.create_topic(COMMAND_TOPIC, 1)
                .map_err(ScriptError::Io)?;
        }
        let end = log.end_offset(COMMAND_TOPIC, 0).map_err(ScriptError::Io)?;
        let mut commands = Vec::new();
        log.read_range(COMMAND_TOPIC, 0, 0, end, &mut commands)
            .map_err(ScriptError::Io)?;
        for f in commands {
            let text = String::from_utf8_lossy(f.record.value.as_deref().unwrap_or_default());
            session.execute_script(&text).map_err(|e| match e {
                ScriptError::Sql { error, statement } => ScriptError::Sql {
                    error: SqlError::new(
                        error.pos,
                        format!(
                            "restoring the catalog from {} (offset {}): {}",
                            COMMAND_TOPIC, f.offset, error.message
                        ),
                    ),
                    statement,
                },
                io => io,
            })?;
        }
        session.durable = true;
        Ok(self)
    }

    /// Declares the `KSQL_PROCESSING_LOG` stream over the processing log
    /// unless the catalog has it: a server does at start, as ksqlDB does
    /// with `ksql.logging.processing.stream.auto.create`.
    pub fn declare_processing_log(&mut self) -> Result<(), ScriptError> {
        if self.catalog.source("KSQL_PROCESSING_LOG").is_none() {
            self.execute_script(&ddsql_engine::processing_log_stream())?;
        }
        Ok(())
    }

    /// The message of every command executed (all succeeded: a failed
    /// statement changes nothing), by ksqlDB command id.
    pub fn commands(&self) -> &BTreeMap<String, String> {
        &self.commands
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The transport the session's topics live on.
    pub fn log(&self) -> &Arc<dyn Transport> {
        &self.log
    }

    /// The clock every write of this session goes through (see
    /// [`ddsql_engine::clock`]).
    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    pub fn formats(&self) -> &Formats {
        &self.formats
    }

    /// `SET` properties.
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    /// Sets `overrides` as properties for a while (a request's streams
    /// properties, checked by [`properties::check`]); returns what
    /// [`Session::restore_properties`] puts back. A request's SETs, like
    /// its streams properties, hold for the request only, as in ksqlDB.
    pub fn override_properties(
        &mut self,
        overrides: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let saved = self.properties.clone();
        for (k, v) in overrides {
            properties::set(&mut self.properties, k, Some(v));
        }
        saved
    }

    /// Undoes [`Session::override_properties`].
    pub fn restore_properties(&mut self, saved: BTreeMap<String, String>) {
        self.properties = saved;
    }

    /// `DEFINE`d variables.
    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.variables
    }

    /// Checks every statement of `sql`, then executes them in order.
    pub fn execute_script(&mut self, sql: &str) -> Result<Vec<Executed>, ScriptError> {
        let checked = self.check(sql, &self.variables.clone());
        if let Some(e) = checked.errors.into_iter().next() {
            return Err(e);
        }
        let mut done = Vec::new();
        for (text, b) in checked.bound {
            done.push(self.execute_statement(&text, b).map_err(ScriptError::Io)?);
        }
        Ok(done)
    }

    /// Checks every statement of `sql`, then executes them in order, as
    /// `ddsql run` does: a script is a deployment, so running it again
    /// over the same data inserts nothing twice. An INSERT VALUES that an
    /// earlier run over these topics executed (the same text, the same
    /// occurrence of it in the script) is skipped and says so; everything
    /// else runs as [`Session::execute_script`] runs it.
    pub fn execute_script_once(&mut self, sql: &str) -> Result<Vec<Executed>, ScriptError> {
        let checked = self.check(sql, &self.variables.clone());
        if let Some(e) = checked.errors.into_iter().next() {
            return Err(e);
        }
        let mut done_before = std::collections::HashSet::new();
        if self
            .log
            .partitions(SCRIPT_INSERTS_TOPIC)
            .map_err(ScriptError::Io)?
            .is_some()
        {
            let end = self
                .log
                .end_offset(SCRIPT_INSERTS_TOPIC, 0)
                .map_err(ScriptError::Io)?;
            let mut records = Vec::new();
            self.log
                .read_range(SCRIPT_INSERTS_TOPIC, 0, 0, end, &mut records)
                .map_err(ScriptError::Io)?;
            done_before.extend(records.into_iter().filter_map(|f| f.record.key));
        }
        let mut seen: BTreeMap<String, u64> = BTreeMap::new();
        let mut done = Vec::new();
        for (text, b) in checked.bound {
            if !matches!(b, BoundStatement::InsertValues { .. }) {
                done.push(self.execute_statement(&text, b).map_err(ScriptError::Io)?);
                continue;
            }
            let n = seen.entry(text.clone()).or_default();
            *n += 1;
            let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            });
            let key = format!("{hash:016x}/{n}").into_bytes();
            if done_before.contains(&key) {
                done.push(Executed {
                    message: "0 rows inserted: an earlier run of this script inserted this row"
                        .into(),
                    output: None,
                    command: None,
                    sequence: None,
                });
                continue;
            }
            done.push(self.execute_statement(&text, b).map_err(ScriptError::Io)?);
            if self
                .log
                .partitions(SCRIPT_INSERTS_TOPIC)
                .map_err(ScriptError::Io)?
                .is_none()
            {
                self.log
                    .create_topic(SCRIPT_INSERTS_TOPIC, 1)
                    .map_err(ScriptError::Io)?;
            }
            let record = Record {
                key: Some(key),
                value: Some(text.into_bytes()),
                timestamp: now_ms(),
                headers: vec![],
            };
            self.log
                .append(SCRIPT_INSERTS_TOPIC, 0, &[record])
                .map_err(ScriptError::Io)?;
        }
        self.log.flush().map_err(ScriptError::Io)?;
        Ok(done)
    }

    /// Parses and binds every statement of `sql` against the catalog
    /// without executing anything (see [`check_script`]).
    pub fn check(&self, sql: &str, variables: &BTreeMap<String, String>) -> Checked {
        check_script(
            &self.catalog,
            &TransportTopics {
                transport: Some(self.log.as_ref()),
                formats: &self.formats,
            },
            variables,
            &self.properties,
            sql,
            false,
        )
    }

    /// Executes one statement checked by [`Session::check`]; `text` is
    /// what the command log records if it changes the catalog.
    pub fn execute_statement(
        &mut self,
        text: &str,
        b: BoundStatement,
    ) -> Result<Executed, IoError> {
        let changes_catalog = matches!(
            b,
            BoundStatement::CreateSource { .. }
                | BoundStatement::CreateAs { .. }
                | BoundStatement::InsertSelect { .. }
                | BoundStatement::Drop { .. }
                | BoundStatement::Terminate { .. }
                | BoundStatement::CreateType { .. }
                | BoundStatement::DropType { .. }
                | BoundStatement::Pause { .. }
                | BoundStatement::Alter { .. }
        );
        // A source whose columns were inferred, or whose formats came from
        // session defaults, records them, so a restart binds it the same.
        let recorded = match &b {
            BoundStatement::CreateSource { source, .. }
            | BoundStatement::CreateAs { source, .. } => source.sql.clone(),
            _ => text.to_string(),
        };
        let before = self.catalog.clone();
        let command = command_id(&b);
        let mut done = self.execute(b)?;
        // Durable first, then installed: a restart runs what was recorded.
        if self.durable && changes_catalog {
            let record = Record {
                key: None,
                value: Some(recorded.into_bytes()),
                timestamp: now_ms(),
                headers: vec![],
            };
            done.sequence = Some(self.log.append(COMMAND_TOPIC, 0, &[record])?);
            self.log.flush()?;
        }
        if let Some(id) = &command {
            self.commands.insert(id.clone(), done.message.clone());
        }
        done.command = command;
        self.sync_runtime(&before)
            .map_err(|e| IoError::Other(format!("running the queries: {e}")))?;
        Ok(done)
    }

    /// Starts the long-lived runtime and installs the catalog's running
    /// queries (a restored catalog's: they resume where they stopped).
    /// From now on a statement that creates, replaces, terminates, pauses
    /// or resumes a query installs or drops its dataflow alone; with
    /// `settle`, each statement that installs one waits until every query
    /// is caught up (`ddsql run`).
    pub fn start_runtime(
        &mut self,
        config: RuntimeConfig,
        settle: bool,
    ) -> Result<(), EngineError> {
        let runtime = Runtime::start(config, self.clock.clone(), Arc::new(self.formats.clone()))?;
        runtime.install_all(&self.catalog, false)?;
        self.runtime = Some(runtime);
        self.settle = settle;
        if settle {
            self.runtime.as_ref().expect("just started").barrier()?;
        }
        Ok(())
    }

    /// The runtime, once started.
    pub fn runtime(&self) -> Option<&Runtime> {
        self.runtime.as_ref()
    }

    /// Waits until every query is caught up, stops the runtime (each query
    /// drains) and reports.
    pub fn stop_runtime(&mut self) -> Result<RunReport, EngineError> {
        match self.runtime.take() {
            Some(runtime) => {
                runtime.barrier()?;
                runtime.shutdown()
            }
            None => Ok(RunReport::default()),
        }
    }

    /// Brings the runtime in line with the catalog after a statement:
    /// installs the queries that now run (fresh ones from their sources'
    /// start, or their latest offsets with `auto.offset.reset=latest`),
    /// drops those that stopped, replaces those a CREATE OR REPLACE
    /// changed, and drops the shared state of dropped tables.
    fn sync_runtime(&mut self, before: &Catalog) -> Result<(), EngineError> {
        let Some(runtime) = self.runtime.clone() else {
            return Ok(());
        };
        let (was, now) = (before.running(), self.catalog.running());
        let plan_of = |c: &Catalog, id: &str| c.query(id).map(|q| q.plan.clone());
        let mut installed = false;
        for q in was.queries() {
            let replaced = plan_of(&now, &q.id).is_some_and(|p| p != q.plan);
            if now.query(&q.id).is_none() || replaced {
                runtime.drop_job(&q.id)?;
            }
        }
        // Earliest by default: a CDC backlog is what a persistent query is for.
        let from_end = properties::from_latest(&self.properties).unwrap_or(false);
        for q in now.queries() {
            let replaced = plan_of(&was, &q.id).is_some_and(|p| p != q.plan);
            if was.query(&q.id).is_none() || replaced {
                // A query the durable catalog never had has written nothing
                // yet (ids are never reused); without the command log, an
                // earlier run of the same script may have run it.
                let fresh = self.durable && before.query(&q.id).is_none();
                runtime.install(&self.catalog, &q.id, fresh, from_end && fresh)?;
                installed = true;
            }
        }
        for source in before.sources() {
            if source.kind == SourceKind::Table && self.catalog.source(&source.name).is_none() {
                runtime.drop_index(&source.name)?;
            }
        }
        if installed && self.settle {
            runtime.barrier()?;
        }
        Ok(())
    }

    /// Starts a transient query: a push query follows its sources until
    /// the subscription is dropped; a pull query ends once caught up.
    pub fn query(
        &self,
        plan: &QueryPlan,
        options: &RunOptions,
    ) -> Result<Subscription, EngineError> {
        match &self.runtime {
            Some(runtime) => runtime.subscribe(
                &self.catalog,
                plan,
                options.live.is_some(),
                options.from_end,
            ),
            None => ddsql_engine::subscribe(
                &self.catalog,
                plan,
                &self.clock,
                Arc::new(self.formats.clone()),
                options,
            ),
        }
    }

    /// A pull query's answer: a table's current rows by key, or every row
    /// of a stream, as `[ROWTIME, columns...]`. With a runtime, a table's
    /// rows come from its shared arrangement.
    pub fn pull(&self, plan: &QueryPlan, limit: Option<u64>) -> Result<Vec<Row>, EngineError> {
        pull(self.runtime.as_ref(), &self.catalog, plan, limit, || {
            self.query(plan, &RunOptions::default())
        })
    }

    /// Prepares appending rows to the stream `target` (named as written,
    /// or upper-cased), as `/inserts-stream` does.
    pub fn inserter(&self, target: &str) -> Result<RowInserter, String> {
        let source = self.insert_target(target)?.clone();
        let codec = self.formats.codec(&source)?;
        let partitions = self
            .log
            .partitions(&source.topic)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("topic '{}' does not exist", source.topic))?;
        Ok(RowInserter {
            source,
            codec,
            partitions,
            clock: self.clock.clone(),
        })
    }

    /// The stream `target` names, for inserts.
    fn insert_target(&self, target: &str) -> Result<&Source, String> {
        let source = self
            .catalog
            .source(target)
            .or_else(|| self.catalog.source(&target.to_uppercase()))
            .ok_or_else(|| format!("cannot insert into {target}: no such stream"))?;
        if source.kind != SourceKind::Stream {
            return Err(format!(
                "cannot insert into {}: it is a table; inserts go to streams",
                source.name
            ));
        }
        if source.read_only {
            return Err(format!(
                "Cannot insert values into read-only stream: {}",
                source.name
            ));
        }
        Ok(source)
    }

    fn execute(&mut self, b: BoundStatement) -> Result<Executed, IoError> {
        let mut output = None;
        let message = match &b {
            BoundStatement::CreateSource {
                source,
                create_topic,
            }
            | BoundStatement::CreateAs {
                source,
                create_topic,
                ..
            } => {
                if *create_topic {
                    self.log.create_topic(&source.topic, source.partitions)?;
                }
                if matches!(b, BoundStatement::CreateAs { .. }) {
                    self.formats.register_schemas(source).map_err(IoError::Other)?;
                }
                match &b {
                    BoundStatement::CreateAs { query, .. } => {
                        format!("Created query with ID {}", query.id)
                    }
                    _ if source.kind == SourceKind::Stream => "Stream created".to_string(),
                    _ => "Table created".to_string(),
                }
            }
            BoundStatement::InsertSelect { query } => format!("Created query with ID {}", query.id),
            BoundStatement::InsertValues {
                source,
                rowtime,
                row,
            } => {
                let source = self
                    .catalog
                    .source(source)
                    .expect("bound against this catalog");
                let codec = self.formats.codec(source).map_err(IoError::Other)?;
                let (key, value) = codec
                    .encode(row)
                    .map_err(|e| IoError::Other(format!("INSERT INTO {}: {e}", source.name)))?;
                let timestamp = rowtime.unwrap_or_else(now_ms);
                produce(
                    &self.clock,
                    &source.topic,
                    Record {
                        key,
                        value,
                        timestamp,
                        headers: vec![],
                    },
                )?;
                "1 row inserted".to_string()
            }
            BoundStatement::Show { what, .. } => {
                output = Some(self.show(*what));
                String::new()
            }
            BoundStatement::DescribeSource { name, .. } => {
                output = Some(self.describe(name));
                String::new()
            }
            BoundStatement::DescribeFunction { name } => {
                let f = functions::lookup(name).expect("bound against the registry");
                let rows: Vec<Vec<String>> =
                    f.signatures.iter().map(|s| vec![s.to_string()]).collect();
                output = Some(format!(
                    "Name        : {}\nType        : {}\nDescription : {}\n\n{}",
                    f.name,
                    f.kind.name(),
                    f.description,
                    render::table(&["Signatures"], &rows)
                ));
                String::new()
            }
            BoundStatement::Drop { name, delete_topic } => {
                let source = self.catalog.source(name).expect("bound against this catalog");
                if *delete_topic {
                    // A topic another process deleted first is no reason to
                    // keep the source.
                    match self.log.delete_topic(&source.topic) {
                        Ok(()) | Err(IoError::UnknownTopic(_)) => {}
                        Err(e) => return Err(e),
                    }
                    self.clock.forget(&source.topic);
                    self.formats.delete_schemas(source).map_err(IoError::Other)?;
                    format!("Source {name} (topic: {}) was dropped, and the topic deleted.", source.topic)
                } else {
                    format!("Source {name} (topic: {}) was dropped.", source.topic)
                }
            }
            BoundStatement::Unchanged { message } => message.clone(),
            BoundStatement::CreateType { name, ty } => {
                format!("Registered custom type with name '{name}' and SQL type {ty}")
            }
            BoundStatement::DropType { name } => format!("Dropped type '{name}'"),
            BoundStatement::Explain {
                query,
                sql,
                plan,
                sink,
            } => {
                let reads: Vec<String> = plan.plan.sources().iter().map(|s| s.to_string()).collect();
                output = Some(render::explanation(
                    query.as_deref().unwrap_or(""),
                    sql,
                    &reads,
                    &sink.iter().cloned().collect::<Vec<_>>(),
                    &ddsql_sql::explain::explain(plan),
                ));
                String::new()
            }
            BoundStatement::Terminate { .. } => "Query terminated.".to_string(),
            BoundStatement::Alter { source } => {
                let kind = match source.kind {
                    SourceKind::Stream => "Stream",
                    SourceKind::Table => "Table",
                };
                format!("{kind} {} altered.", source.name)
            }
            BoundStatement::Pause { paused: true, .. } => "Query paused.".to_string(),
            BoundStatement::Pause { paused: false, .. } => "Query resumed.".to_string(),
            BoundStatement::Set {
                name,
                value: Some(v),
                ..
            } => {
                properties::set(&mut self.properties, name, Some(v));
                format!("Successfully changed local property '{name}' to '{v}'.")
            }
            BoundStatement::Set {
                name, value: None, ..
            } => {
                properties::set(&mut self.properties, name, None);
                format!("Successfully unset local property '{name}'.")
            }
            BoundStatement::Define {
                name,
                value: Some(v),
            } => {
                self.variables.insert(name.clone(), v.clone());
                format!("Defined variable {name}.")
            }
            BoundStatement::Define { name, value: None } => {
                self.variables.remove(name);
                format!("Undefined variable {name}.")
            }
            // In a script, PRINT shows what the topic holds now.
            BoundStatement::Print {
                topic,
                from_beginning,
                interval,
                limit,
            } => {
                let print = crate::print::Print {
                    topic: topic.clone(),
                    from_beginning: *from_beginning,
                    interval: *interval,
                    limit: *limit,
                };
                let mut lines = Vec::new();
                let stop = std::sync::atomic::AtomicBool::new(false);
                let registry = self.formats.registry();
                crate::print::print(&*self.log, &print, registry, false, &stop, |line| {
                    lines.push(line);
                    true
                })?;
                output = Some(lines.join("\n"));
                String::new()
            }
            BoundStatement::Select { push: true, .. } => {
                return Err(IoError::Other(
                    "a push query (EMIT CHANGES) runs until stopped: run it in `ddsql cli` or post it to a server's /query-stream endpoint".into(),
                ))
            }
            BoundStatement::Select {
                plan,
                push: false,
                limit,
            } => {
                let rows = self
                    .pull(plan, *limit)
                    .map_err(|e| IoError::Other(e.to_string()))?;
                output = Some(render::rows(plan, &rows));
                String::new()
            }
        };
        self.catalog.apply(&b);
        Ok(Executed {
            message,
            output,
            command: None,
            sequence: None,
        })
    }

    fn show(&self, what: ShowKind) -> String {
        let sources = |kind: SourceKind| -> Vec<Vec<String>> {
            self.catalog
                .sources()
                .filter(|s| s.kind == kind)
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.topic.clone(),
                        s.key_format.to_string(),
                        s.value_format.to_string(),
                        "false".into(),
                    ]
                })
                .collect()
        };
        match what {
            ShowKind::Streams => render::table(
                &[
                    "Stream Name",
                    "Kafka Topic",
                    "Key Format",
                    "Value Format",
                    "Windowed",
                ],
                &sources(SourceKind::Stream),
            ),
            ShowKind::Tables => render::table(
                &[
                    "Table Name",
                    "Kafka Topic",
                    "Key Format",
                    "Value Format",
                    "Windowed",
                ],
                &sources(SourceKind::Table),
            ),
            ShowKind::Topics { .. } => {
                let topics = match self.log.topics() {
                    Ok(topics) => topics,
                    Err(e) => return format!("cannot list the topics: {e}"),
                };
                let rows: Vec<Vec<String>> = topics
                    .into_iter()
                    // Internal topics (the command log) are not the user's.
                    .filter(|(t, _)| !t.starts_with('_'))
                    .map(|(t, p)| vec![t, p.to_string(), "1".into()])
                    .collect();
                render::table(&["Kafka Topic", "Partitions", "Partition Replicas"], &rows)
            }
            ShowKind::Queries => {
                let rows: Vec<Vec<String>> = self
                    .catalog
                    .queries()
                    .iter()
                    .map(|q| {
                        let topic = self
                            .catalog
                            .source(&q.sink)
                            .map(|s| s.topic.clone())
                            .unwrap_or_default();
                        vec![
                            q.id.clone(),
                            "PERSISTENT".into(),
                            format!("{}:1", q.state()),
                            q.sink.clone(),
                            topic,
                            q.sql.replace('\n', " "),
                        ]
                    })
                    .collect();
                render::table(
                    &[
                        "Query ID",
                        "Query Type",
                        "Status",
                        "Sink Name",
                        "Sink Kafka Topic",
                        "Query String",
                    ],
                    &rows,
                )
            }
            ShowKind::Functions => {
                let rows: Vec<Vec<String>> = functions::registry()
                    .iter()
                    .map(|f| vec![f.name.to_string(), format!("{:?}", f.kind).to_uppercase()])
                    .collect();
                render::table(&["Function Name", "Type"], &rows)
            }
            ShowKind::Properties => {
                let rows: Vec<Vec<String>> = properties::listing(&self.properties)
                    .into_iter()
                    .map(|(k, scope, v)| vec![k, scope.into(), v])
                    .collect();
                render::table(&["Property", "Scope", "Value"], &rows)
            }
            ShowKind::Variables => {
                let rows: Vec<Vec<String>> = self
                    .variables
                    .iter()
                    .map(|(k, v)| vec![k.clone(), v.clone()])
                    .collect();
                render::table(&["Variable Name", "Value"], &rows)
            }
            ShowKind::Types => {
                let rows: Vec<Vec<String>> = self
                    .catalog
                    .custom_types()
                    .map(|(name, ty)| vec![name.to_string(), ty.to_string()])
                    .collect();
                render::table(&["Type Name", "Schema"], &rows)
            }
        }
    }

    fn describe(&self, name: &str) -> String {
        let s = self
            .catalog
            .source(name)
            .expect("bound against this catalog");
        let mut rows = vec![vec!["ROWTIME".to_string(), "BIGINT (system)".to_string()]];
        for c in &s.columns {
            let note = match (c.key, s.kind, &c.header) {
                (true, SourceKind::Table, _) => " (primary key)".to_string(),
                (true, SourceKind::Stream, _) => " (key)".to_string(),
                (_, _, Some(Header::All)) => " (headers)".to_string(),
                (_, _, Some(Header::Key(k))) => format!(" (header('{k}'))"),
                _ => String::new(),
            };
            rows.push(vec![c.name.clone(), format!("{}{note}", c.ty)]);
        }
        let readers: Vec<&str> = self
            .catalog
            .queries()
            .iter()
            .filter(|q| q.plan.plan.scans(&s.name))
            .map(|q| q.id.as_str())
            .collect();
        let writers: Vec<&str> = self
            .catalog
            .queries()
            .iter()
            .filter(|q| q.sink == s.name)
            .map(|q| q.id.as_str())
            .collect();
        format!(
            "Name                 : {}\nType                 : {}\nKafka topic          : {} (partitions: {})\nKey format           : {}\nValue format         : {}\nQueries that read    : {}\nQueries that write   : {}\n\n{}",
            s.name,
            s.kind,
            s.topic,
            s.partitions,
            s.key_format,
            s.value_format,
            if readers.is_empty() { "-".to_string() } else { readers.join(", ") },
            if writers.is_empty() { "-".to_string() } else { writers.join(", ") },
            render::table(&["Field", "Type"], &rows)
        )
    }

    /// Runs the persistent queries over everything in the log now.
    pub fn run_until_caught_up(&self, options: &RunOptions) -> Result<RunReport, EngineError> {
        ddsql_engine::run(
            &self.catalog,
            &self.clock,
            Arc::new(self.formats.clone()),
            options,
        )
    }
}

/// Appends rows to one stream's topic (see [`Session::inserter`]).
pub struct RowInserter {
    source: Source,
    codec: Arc<dyn ddsql_engine::io::Codec>,
    partitions: u32,
    clock: Arc<Clock>,
}

impl RowInserter {
    /// Appends rows given as JSON objects (column name to value, names
    /// matched case-insensitively, `ROWTIME` optional), one append per
    /// partition. One result per row, in order; an I/O error fails all.
    pub fn insert(
        &self,
        rows: &[serde_json::Map<String, serde_json::Value>],
    ) -> Result<Vec<Result<(), String>>, IoError> {
        let mut results = Vec::with_capacity(rows.len());
        let mut by_partition: BTreeMap<u32, Vec<(Record, Own)>> = BTreeMap::new();
        let now = now_ms();
        let log = self.clock.transport();
        for row in rows {
            let record = json_row(&self.source, row).and_then(|(timestamp, columns)| {
                let (key, value) = self.codec.encode(&columns)?;
                Ok(Record {
                    key,
                    value,
                    timestamp: timestamp.unwrap_or(now),
                    headers: vec![],
                })
            });
            results.push(record.map(|record| {
                let p = log.partition_for(
                    record.key.as_deref(),
                    record.value.as_deref(),
                    self.partitions,
                );
                by_partition
                    .entry(p)
                    .or_default()
                    .push((record, Own::Arrival));
            }));
        }
        for (p, records) in by_partition {
            self.clock.append(&self.source.topic, p, records)?;
        }
        Ok(results)
    }
}

/// A pull query's answer (see [`Session::pull`]): from a table's shared
/// arrangement when `runtime` has one to offer, else from the transient
/// query `subscribe` starts.
pub fn pull(
    runtime: Option<&Runtime>,
    catalog: &Catalog,
    plan: &QueryPlan,
    limit: Option<u64>,
    subscribe: impl FnOnce() -> Result<Subscription, EngineError>,
) -> Result<Vec<Row>, EngineError> {
    if let Some(runtime) = runtime {
        if let Some(mut rows) = runtime.pull(catalog, plan)? {
            // As a dataflow would order them: by key.
            let key_arity = plan.columns.iter().filter(|c| c.key).count();
            rows.sort_unstable_by(|a, b| a[1..1 + key_arity].cmp(&b[1..1 + key_arity]));
            if let Some(n) = limit {
                rows.truncate(n as usize);
            }
            return Ok(rows);
        }
    }
    collect_pull(subscribe()?, plan, limit)
}

/// Collects a pull query's answer from its subscription (see
/// [`Session::pull`]); blocks until the query is caught up.
pub fn collect_pull(
    subscription: Subscription,
    plan: &QueryPlan,
    limit: Option<u64>,
) -> Result<Vec<Row>, EngineError> {
    let mut table: BTreeMap<Row, Row> = BTreeMap::new();
    let mut rows = Vec::new();
    let key_arity = plan.columns.iter().filter(|c| c.key).count();
    // A windowed table's key includes the window (its rows end with it).
    let window = if plan.window.is_some() { 2 } else { 0 };
    for batch in subscription.changes.iter() {
        for change in batch {
            match (plan.kind, change) {
                (SourceKind::Stream, Change::Row(row)) => rows.push(row),
                (SourceKind::Table, Change::Row(row)) => {
                    let mut key = row[1..1 + key_arity].to_vec();
                    key.extend_from_slice(&row[row.len() - window..]);
                    table.insert(key, row);
                }
                (_, Change::Delete { key }) => {
                    table.remove(&key);
                }
            }
        }
    }
    subscription.join()?;
    if plan.kind == SourceKind::Table {
        rows = table.into_values().collect();
    }
    if let Some(n) = limit {
        rows.truncate(n as usize);
    }
    Ok(rows)
}

/// A JSON object's values for `source`'s columns (keys first), and its
/// `ROWTIME` if given.
fn json_row(
    source: &Source,
    row: &serde_json::Map<String, serde_json::Value>,
) -> Result<(Option<i64>, Row), String> {
    let mut columns = vec![Value::Null; source.columns.len()];
    let mut rowtime = None;
    for (name, json) in row {
        let upper = name.to_uppercase();
        if upper == "ROWTIME" {
            rowtime = Some(json.as_i64().ok_or_else(|| {
                format!("ROWTIME must be a whole number of milliseconds, not {json}")
            })?);
            continue;
        }
        let i = source
            .columns
            .iter()
            .position(|c| c.name == *name)
            .or_else(|| source.columns.iter().position(|c| c.name == upper))
            .ok_or_else(|| format!("{} has no column {name}", source.name))?;
        if source.columns[i].header.is_some() {
            return Err(format!(
                "Cannot insert into HEADER columns: {} is read from the record's headers",
                source.columns[i].name
            ));
        }
        columns[i] = from_json(json, &source.columns[i].ty)
            .map_err(|e| format!("column {}: {e}", source.columns[i].name))?;
    }
    Ok((rowtime, columns))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
