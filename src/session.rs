//! A session: a catalog and the embedded log it lives beside.
//!
//! [`Session::execute_script`] checks a whole script before doing anything:
//! every statement is parsed and bound against a scratch copy of the
//! catalog (so later statements see the sources earlier ones create). Only
//! if all of them pass are topics created, records inserted and queries
//! registered; a script with an error changes nothing.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use ddsql_connectors::embedded::EmbeddedLog;
use ddsql_connectors::format::Formats;
use ddsql_engine::dataflow::produce;
use ddsql_engine::io::{CodecFactory, IoError, Record, Transport};
use ddsql_engine::{EngineError, RunOptions, RunReport};
use ddsql_sql::binder::{bind, BoundStatement};
use ddsql_sql::catalog::{Catalog, Topics};
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
}

/// Topics as the binder sees them mid-script: those in the log plus those
/// the script's earlier statements will create.
struct ScriptTopics<'a> {
    log: &'a EmbeddedLog,
    created: HashMap<String, u32>,
}

impl Topics for ScriptTopics<'_> {
    fn partitions(&self, topic: &str) -> Option<u32> {
        self.created
            .get(topic)
            .copied()
            .or_else(|| self.log.partitions(topic).ok().flatten())
    }
}

pub struct Session {
    catalog: Catalog,
    log: Arc<EmbeddedLog>,
}

impl Session {
    /// Opens the embedded log in `data_dir` with an empty catalog.
    pub fn open(data_dir: &Path) -> Result<Session, IoError> {
        Ok(Session {
            catalog: Catalog::default(),
            log: Arc::new(EmbeddedLog::open(data_dir)?),
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn log(&self) -> &Arc<EmbeddedLog> {
        &self.log
    }

    /// Checks every statement of `sql`, then executes them in order.
    pub fn execute_script(&mut self, sql: &str) -> Result<Vec<Executed>, ScriptError> {
        let parsed = parse(sql).map_err(|error| ScriptError::Sql {
            error,
            statement: None,
        })?;
        let mut scratch = self.catalog.clone();
        let mut topics = ScriptTopics {
            log: &self.log,
            created: HashMap::new(),
        };
        let mut bound = Vec::new();
        for p in &parsed {
            let sql_err = |error: SqlError| ScriptError::Sql {
                error,
                statement: Some(p.text.clone()),
            };
            let b = bind(&scratch, &topics, p).map_err(sql_err)?;
            if let BoundStatement::CreateSource { source, .. }
            | BoundStatement::CreateAs { source, .. } = &b
            {
                Formats
                    .codec(source)
                    .map_err(|m| sql_err(SqlError::new(p.pos, format!("{}: {m}", source.name))))?;
                topics
                    .created
                    .entry(source.topic.clone())
                    .or_insert(source.partitions);
            }
            scratch.apply(&b);
            if matches!(
                b,
                BoundStatement::CreateAs { .. } | BoundStatement::InsertSelect { .. }
            ) {
                ddsql_engine::dataflow::check(&scratch)
                    .map_err(|e| sql_err(SqlError::new(p.pos, e.to_string())))?;
            }
            bound.push(b);
        }
        let mut done = Vec::new();
        for b in bound {
            done.push(self.execute(b).map_err(ScriptError::Io)?);
        }
        Ok(done)
    }

    fn execute(&mut self, b: BoundStatement) -> Result<Executed, IoError> {
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
                match &b {
                    BoundStatement::CreateAs { query, .. } => {
                        format!("Created query with ID {}", query.id)
                    }
                    _ => format!(
                        "{} created",
                        if source.kind == ddsql_sql::catalog::SourceKind::Stream {
                            "Stream"
                        } else {
                            "Table"
                        }
                    ),
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
                let codec = Formats.codec(source).map_err(IoError::Other)?;
                let (key, value) = codec
                    .encode(row)
                    .map_err(|e| IoError::Other(format!("INSERT INTO {}: {e}", source.name)))?;
                let timestamp = rowtime.unwrap_or_else(now_ms);
                produce(
                    self.log.as_ref(),
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
        };
        self.catalog.apply(&b);
        Ok(Executed { message })
    }

    /// Runs the persistent queries over everything in the log now.
    pub fn run_until_caught_up(&self, options: &RunOptions) -> Result<RunReport, EngineError> {
        let transport: Arc<dyn Transport> = self.log.clone();
        ddsql_engine::run_until_caught_up(&self.catalog, transport, &Formats, options)
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
