//! The binder: resolves a parsed statement against the catalog into a
//! [`BoundStatement`], with names turned into column positions and every
//! expression typed. It is the only place that knows ksqlDB's rules for
//! keys, output names, formats and type coercion.

mod coercion;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::ast::{
    self, ColumnConstraint, Expr, ExprKind, Ident, JoinKind, Literal, Parsed, Relation, SelectItem,
    SourceKind, Statement,
};
use crate::catalog::{
    Catalog, Column, Envelope, Format, Header, PersistentQuery, SchemaLookup, Source, Topics,
    SYSTEM_COLUMNS,
};
use crate::error::{closest, Pos, Result, SqlError};
use crate::eval;
use crate::functions;
use crate::functions::ScalarFunc;
use crate::plan::{
    AggregateCall, AggregateFunc, BinaryFunc, Plan, QueryPlan, ScalarExpr, UnaryFunc,
};
use crate::plan::{LambdaFunc, Rendering, TableFunc, Window};
use crate::types::{Row, SqlType, Value, F64};
use coercion::{cast_struct, cast_to, coerced_type, holds_struct, numeric_rank, unify};

/// A statement ready to execute: everything it needs is resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum BoundStatement {
    /// A new source over a topic; `create_topic` when the topic must be made.
    /// Under `CREATE OR REPLACE`, `source` takes the place of the one of its
    /// name.
    CreateSource { source: Source, create_topic: bool },
    /// A new source and the persistent query that fills it. Under `CREATE
    /// OR REPLACE`, both take the place of the source and query they
    /// replace, and the query keeps its id.
    CreateAs {
        source: Source,
        query: PersistentQuery,
        create_topic: bool,
    },
    /// A persistent query writing into an existing stream.
    InsertSelect { query: PersistentQuery },
    /// One record to append to a source's topic. `row` holds the source's
    /// columns (keys first); `rowtime` the record timestamp, if given.
    InsertValues {
        source: String,
        rowtime: Option<i64>,
        row: Row,
    },
    /// `SHOW ...` / `LIST ...`
    Show { what: ast::ShowKind, extended: bool },
    /// `DESCRIBE source`
    DescribeSource { name: String, extended: bool },
    /// `DESCRIBE FUNCTION f`
    DescribeFunction { name: String },
    /// `DROP STREAM|TABLE`, and with `DELETE TOPIC` its topic (and the
    /// topic's registered schemas) too.
    Drop { name: String, delete_topic: bool },
    /// A statement that finds nothing to do: `DROP ... IF EXISTS` of a
    /// missing source, `CREATE ... IF NOT EXISTS` of an existing one.
    Unchanged { message: String },
    /// `TERMINATE id`, or `TERMINATE ALL` (`None`).
    Terminate { query: Option<String> },
    /// `ALTER STREAM|TABLE ... ADD COLUMN`: `source` takes the place of the
    /// one of its name, with the new value columns.
    Alter { source: Source },
    /// `PAUSE id` or `RESUME id` (`paused` false), or of all queries
    /// (`None`).
    Pause { query: Option<String>, paused: bool },
    /// `PRINT topic`: the records of a topic as text, from its end (or
    /// its beginning), every `interval`-th one, until `limit` are printed.
    Print {
        topic: String,
        from_beginning: bool,
        interval: u64,
        limit: Option<u64>,
    },
    /// `CREATE TYPE name AS ty`: `name` may stand for `ty` in later
    /// statements.
    CreateType { name: String, ty: SqlType },
    /// `DROP TYPE name`. What was declared with the type keeps it.
    DropType { name: String },
    /// `SET 'name'='value'`, `UNSET 'name'` (`value` `None`); `warning`
    /// if ddsql accepts the property but does not read it
    /// ([`crate::properties::check`]).
    Set {
        name: String,
        value: Option<String>,
        warning: Option<String>,
    },
    /// `DEFINE`, `UNDEFINE` (`value` `None`): the substitution itself
    /// happened before parsing ([`crate::variables`]).
    Define { name: String, value: Option<String> },
    /// `EXPLAIN`: the plan of a running query (`query` its id) or of a
    /// statement with a query, which is bound but not run.
    Explain {
        query: Option<String>,
        /// The explained statement.
        sql: String,
        plan: QueryPlan,
        /// The stream or table the query writes.
        sink: Option<String>,
    },
    /// A transient query: a push query (`EMIT CHANGES`) follows its
    /// sources; a pull query answers from what they hold now.
    Select {
        plan: QueryPlan,
        push: bool,
        limit: Option<u64>,
    },
}

impl Catalog {
    /// Records the effect of a bound statement.
    pub fn apply(&mut self, statement: &BoundStatement) {
        match statement {
            BoundStatement::CreateSource { source, .. } | BoundStatement::Alter { source } => {
                self.add_source(source.clone())
            }
            BoundStatement::CreateAs { source, query, .. } => {
                self.add_source(source.clone());
                self.add_query(query.clone());
            }
            BoundStatement::InsertSelect { query } => self.add_query(query.clone()),
            BoundStatement::Drop { name, .. } => self.remove_source(name),
            BoundStatement::Terminate { query: Some(id) } => self.remove_query(id),
            BoundStatement::Pause { query, paused } => {
                let ids: Vec<String> = match query {
                    Some(id) => vec![id.clone()],
                    None => self.queries().iter().map(|q| q.id.clone()).collect(),
                };
                for id in ids {
                    self.set_paused(&id, *paused);
                }
            }
            BoundStatement::CreateType { name, ty } => self.add_type(name, ty.clone()),
            BoundStatement::DropType { name } => self.remove_type(name),
            BoundStatement::Terminate { query: None } => {
                let ids: Vec<String> = self.queries().iter().map(|q| q.id.clone()).collect();
                for id in ids {
                    self.remove_query(&id);
                }
            }
            BoundStatement::InsertValues { .. }
            | BoundStatement::Show { .. }
            | BoundStatement::DescribeSource { .. }
            | BoundStatement::DescribeFunction { .. }
            | BoundStatement::Unchanged { .. }
            | BoundStatement::Explain { .. }
            | BoundStatement::Set { .. }
            | BoundStatement::Define { .. }
            | BoundStatement::Print { .. }
            | BoundStatement::Select { .. } => {}
        }
    }
}

/// The session properties (`SET`) that change how statements bind: the
/// formats a source gets when its WITH clause names none, as ksqlDB's
/// server configs of these names do.
pub const DEFAULT_KEY_FORMAT: &str = "ksql.persistence.default.format.key";
pub const DEFAULT_VALUE_FORMAT: &str = "ksql.persistence.default.format.value";

/// Binds one parsed statement; `properties` are the session's `SET`
/// properties.
pub fn bind(
    catalog: &Catalog,
    topics: &dyn Topics,
    properties: &BTreeMap<String, String>,
    parsed: &Parsed,
) -> Result<BoundStatement> {
    let b = Binder {
        catalog,
        topics,
        properties,
        sql: &parsed.text,
        table_calls: RefCell::new(None),
    };
    match &parsed.statement {
        Statement::CreateSource(c) => b.create_source(c),
        Statement::CreateAs(c) => b.create_as(c),
        Statement::InsertSelect { target, query } => b.insert_select(target, query),
        Statement::InsertValues {
            target,
            columns,
            values,
        } => b.insert_values(target, columns.as_deref(), values),
        Statement::Show { what, extended } => Ok(BoundStatement::Show {
            what: *what,
            extended: *extended,
        }),
        Statement::Describe { target, extended } => match target {
            ast::DescribeTarget::Source(name) => Ok(BoundStatement::DescribeSource {
                name: b.lookup(name)?.name.clone(),
                extended: *extended,
            }),
            ast::DescribeTarget::Streams => Ok(BoundStatement::Show {
                what: ast::ShowKind::Streams,
                extended: true,
            }),
            ast::DescribeTarget::Tables => Ok(BoundStatement::Show {
                what: ast::ShowKind::Tables,
                extended: true,
            }),
            ast::DescribeTarget::Function(f) => match functions::lookup(&f.value) {
                Some(info) => Ok(BoundStatement::DescribeFunction {
                    name: info.name.to_string(),
                }),
                None => Err(SqlError::new(
                    f.pos,
                    format!(
                        "unknown function {}{}",
                        f.value.to_uppercase(),
                        closest(&f.value, functions::registry().iter().map(|i| i.name))
                            .map(|c| format!("; did you mean {c}?"))
                            .unwrap_or_default()
                    ),
                )),
            },
        },
        Statement::Drop {
            kind,
            if_exists,
            name,
            delete_topic,
        } => b.drop(*kind, *if_exists, name, *delete_topic),
        Statement::Terminate(id) => match id {
            None => Ok(BoundStatement::Terminate { query: None }),
            Some(id) => Ok(BoundStatement::Terminate {
                query: Some(running_query(catalog, id)?.id.clone()),
            }),
        },
        Statement::Set { name, value } => {
            let checked = crate::properties::check(name, value)
                .map_err(|message| SqlError::new(parsed.pos, message))?;
            Ok(BoundStatement::Set {
                name: name.clone(),
                value: Some(value.clone()),
                warning: checked.warning,
            })
        }
        Statement::Unset(name) => Ok(BoundStatement::Set {
            name: name.clone(),
            value: None,
            warning: None,
        }),
        Statement::Define { name, value } => Ok(BoundStatement::Define {
            name: name.value.to_uppercase(),
            value: Some(value.clone()),
        }),
        Statement::Undefine(name) => Ok(BoundStatement::Define {
            name: name.value.to_uppercase(),
            value: None,
        }),
        Statement::Explain(ast::ExplainTarget::Query(id)) => {
            let q = running_query(catalog, id)?;
            Ok(BoundStatement::Explain {
                query: Some(q.id.clone()),
                sql: q.sql.clone(),
                plan: q.plan.clone(),
                sink: Some(q.sink.clone()),
            })
        }
        Statement::Explain(ast::ExplainTarget::Statement(inner)) => {
            if !matches!(
                **inner,
                Statement::CreateAs(_) | Statement::InsertSelect { .. } | Statement::Select(_)
            ) {
                return Err(SqlError::new(
                    parsed.pos,
                    format!("EXPLAIN shows the plan of a query: SELECT, CREATE ... AS SELECT or INSERT INTO ... SELECT, or a running query's id, not {}", statement_name(inner)),
                ));
            }
            let text = parsed.text.trim_start();
            let text = text[text.find(char::is_whitespace).unwrap_or(text.len())..].trim_start();
            let explained = Parsed {
                statement: (**inner).clone(),
                text: text.to_string(),
                ..parsed.clone()
            };
            let (plan, sink) = match bind(catalog, topics, properties, &explained)? {
                BoundStatement::CreateAs { query, .. } | BoundStatement::InsertSelect { query } => {
                    (query.plan, Some(query.sink))
                }
                BoundStatement::Select { plan, .. } => (plan, None),
                _ => unreachable!("a statement with a query binds to one"),
            };
            Ok(BoundStatement::Explain {
                query: None,
                sql: text.to_string(),
                plan,
                sink,
            })
        }
        Statement::CreateType {
            name,
            if_not_exists,
            data_type,
        } => {
            let n = name.normalized();
            if let Some(existing) = catalog.custom_type(&n) {
                let message = format!(
                    "Cannot register custom type '{n}' since it is already registered with type: {existing}"
                );
                return match if_not_exists {
                    true => Ok(BoundStatement::Unchanged { message }),
                    false => Err(SqlError::new(name.pos, message)),
                };
            }
            if BUILT_IN_TYPES.contains(&n.as_str()) {
                return Err(SqlError::new(
                    name.pos,
                    format!("Cannot register custom type '{n}': it is the name of a built-in type"),
                ));
            }
            Ok(BoundStatement::CreateType {
                name: n,
                ty: b.sql_type(data_type)?,
            })
        }
        Statement::DropType { name, if_exists } => {
            let n = name.normalized();
            match (catalog.custom_type(&n), if_exists) {
                (Some(_), _) => Ok(BoundStatement::DropType { name: n }),
                (None, true) => Ok(BoundStatement::Unchanged {
                    message: format!("Type '{n}' does not exist."),
                }),
                (None, false) => Err(SqlError::new(
                    name.pos,
                    format!("Type '{n}' does not exist{}", type_hint(catalog, &n)),
                )),
            }
        }
        Statement::Print {
            topic,
            from_beginning,
            interval,
            limit,
        } => {
            // As written, then (unquoted) upper-cased as other names are.
            let candidates = [
                Some(topic.value.clone()),
                (!topic.quoted).then(|| topic.normalized()),
            ];
            let found = candidates
                .iter()
                .flatten()
                .find(|t| topics.partitions(t).is_some());
            let topic_name = match (found, topics.complete()) {
                (Some(t), _) => t.clone(),
                (None, false) => topic.value.clone(),
                (None, true) => {
                    return Err(SqlError::new(
                        topic.pos,
                        format!("Could not find topic '{}', or the KSQL user does not have permissions to list the topic. Topic names are case-sensitive.", topic.value),
                    ))
                }
            };
            if *interval == Some(0) {
                return Err(SqlError::new(
                    topic.pos,
                    "INTERVAL must be at least 1: PRINT shows every n-th record",
                ));
            }
            Ok(BoundStatement::Print {
                topic: topic_name,
                from_beginning: *from_beginning,
                interval: interval.unwrap_or(1),
                limit: *limit,
            })
        }
        Statement::Alter {
            kind,
            name,
            columns,
        } => b.alter(*kind, name, columns),
        Statement::AlterSystem { .. } => Err(SqlError::new(
            parsed.pos,
            "ALTER SYSTEM is not supported: ddsql's server settings are its command-line flags (ddsql server --help)",
        )),
        Statement::Pause(id) => pause(catalog, id.as_ref(), true),
        Statement::Resume(id) => pause(catalog, id.as_ref(), false),
        other @ Statement::RunScript(_) => Err(SqlError::new(
            parsed.pos,
            format!("{} is not supported yet", statement_name(other)),
        )),
        Statement::Select(q) => Ok(BoundStatement::Select {
            plan: b.query(q)?.plan,
            push: q.emit.is_some(),
            limit: q.limit,
        }),
    }
}

/// Whether a declared column is a key column (`key`) or a value column.
fn declares(col: &ast::ColumnDef, key: bool) -> bool {
    match key {
        true => col.constraint.is_key(),
        false => col.constraint == ColumnConstraint::None,
    }
}

/// The words the parser reads as built-in types, which no custom type may
/// take.
const BUILT_IN_TYPES: [&str; 15] = [
    "BOOLEAN",
    "INT",
    "INTEGER",
    "BIGINT",
    "DOUBLE",
    "STRING",
    "VARCHAR",
    "BYTES",
    "DATE",
    "TIME",
    "TIMESTAMP",
    "DECIMAL",
    "ARRAY",
    "MAP",
    "STRUCT",
];

/// "; did you mean X?" for the custom type closest to `name`, if any.
fn type_hint(catalog: &Catalog, name: &str) -> String {
    closest(name, catalog.custom_types().map(|(n, _)| n))
        .map(|c| format!("; did you mean {c}?"))
        .unwrap_or_default()
}

/// `PAUSE` (`paused`) or `RESUME` of the query `id` names, or of all.
/// No running query may read what a paused one writes: it would miss the
/// rows the paused query writes once resumed, at times it has passed. So
/// a query pauses only after the queries that read its sink, and resumes
/// only after the queries that write what it reads.
fn pause(catalog: &Catalog, id: Option<&Ident>, paused: bool) -> Result<BoundStatement> {
    let Some(id) = id else {
        return Ok(BoundStatement::Pause {
            query: None,
            paused,
        });
    };
    let (q, pos) = (running_query(catalog, id)?, id.pos);
    let blocking: Vec<&str> = catalog
        .queries()
        .iter()
        .filter(|other| other.id != q.id && other.paused != paused)
        .filter(|other| match paused {
            // Running readers of what `q` writes.
            true => other.plan.plan.scans(&q.sink),
            // Paused writers of what `q` reads.
            false => q.plan.plan.scans(&other.sink),
        })
        .map(|other| other.id.as_str())
        .collect();
    if !blocking.is_empty() {
        let (others, id) = (blocking.join(", "), &q.id);
        let message = match paused {
            true => format!("PAUSE {others} first: they read what {id} writes, and would miss the rows it writes once resumed (or PAUSE ALL)"),
            false => format!("RESUME {others} first: they write what {id} reads, and it would miss their rows once they resume (or RESUME ALL)"),
        };
        return Err(SqlError::new(pos, message));
    }
    Ok(BoundStatement::Pause {
        query: Some(q.id.clone()),
        paused,
    })
}

/// The running query `id` names (`TERMINATE id`, `EXPLAIN id`).
fn running_query<'c>(catalog: &'c Catalog, id: &Ident) -> Result<&'c PersistentQuery> {
    let wanted = id.value.to_uppercase();
    catalog.query(&wanted).ok_or_else(|| {
        SqlError::new(
            id.pos,
            format!(
                "no running query has the id {wanted}{}",
                closest(&wanted, catalog.queries().iter().map(|q| q.id.as_str()))
                    .map(|c| format!("; did you mean {c}?"))
                    .unwrap_or_default()
            ),
        )
    })
}

/// The column `WITH (TIMESTAMP='col')` names among `columns` of `source`
/// (a BIGINT or TIMESTAMP that holds each record's time, or a STRING in the
/// pattern `TIMESTAMP_FORMAT` gives), and that pattern.
fn timestamp_column(
    props: &Properties,
    columns: &[Column],
    source: &Ident,
) -> Result<(Option<usize>, Option<String>)> {
    let format = props.string("TIMESTAMP_FORMAT")?;
    let Some((col, pos)) = props.string("TIMESTAMP")? else {
        if let Some((_, pos)) = format {
            return Err(SqlError::new(
                pos,
                "TIMESTAMP_FORMAT says how the TIMESTAMP column is written: name the column with TIMESTAMP='col' too",
            ));
        }
        return Ok((None, None));
    };
    let wanted = Ident {
        value: col.clone(),
        quoted: false,
        pos,
    }
    .normalized();
    let i = columns
        .iter()
        .position(|c| c.name == wanted || c.name == col)
        .ok_or_else(|| {
            SqlError::new(
                pos,
                format!(
                    "TIMESTAMP names column {col}, which {} does not have",
                    source.normalized()
                ),
            )
        })?;
    match (&columns[i].ty, format) {
        (SqlType::String, Some((format, fpos))) => {
            functions::datetime::Pattern::compile(&format).map_err(|e| {
                SqlError::new(fpos, format!("TIMESTAMP_FORMAT '{format}' is not a valid pattern: {e}"))
            })?;
            Ok((Some(i), Some(format)))
        }
        (ty, Some((_, fpos))) => Err(SqlError::new(
            fpos,
            format!("TIMESTAMP_FORMAT is for a STRING TIMESTAMP column; {} is {ty}", columns[i].name),
        )),
        (SqlType::BigInt | SqlType::Timestamp, None) => Ok((Some(i), None)),
        (ty, None) => Err(SqlError::new(
            pos,
            format!(
                "the TIMESTAMP column {} must be BIGINT or TIMESTAMP, not {ty}; for a STRING, give its pattern as TIMESTAMP_FORMAT",
                columns[i].name
            ),
        )),
    }
}

/// Where to point at a misplaced window bound: the HAVING clause, else
/// the GROUP BY.
fn pos_of_window_bound(q: &ast::Query) -> Pos {
    q.having
        .as_ref()
        .map(|h| h.pos)
        .or_else(|| q.group_by.first().map(|g| g.pos))
        .unwrap_or_default()
}

/// The words that name a statement's kind, for messages.
fn statement_name(s: &Statement) -> &'static str {
    match s {
        Statement::CreateSource(_) => "CREATE STREAM/TABLE",
        Statement::CreateAs(_) => "CREATE ... AS SELECT",
        Statement::InsertSelect { .. } => "INSERT INTO ... SELECT",
        Statement::InsertValues { .. } => "INSERT INTO ... VALUES",
        Statement::Select(_) => "SELECT",
        Statement::Show { .. } => "SHOW",
        Statement::Describe { .. } => "DESCRIBE",
        Statement::Explain(_) => "EXPLAIN",
        Statement::Drop { .. } => "DROP",
        Statement::Terminate(_) => "TERMINATE",
        Statement::Pause(_) => "PAUSE",
        Statement::Resume(_) => "RESUME",
        Statement::Set { .. } => "SET",
        Statement::Unset(_) => "UNSET",
        Statement::Define { .. } => "DEFINE",
        Statement::Undefine(_) => "UNDEFINE",
        Statement::Print { .. } => "PRINT",
        Statement::CreateType { .. } => "CREATE TYPE",
        Statement::DropType { .. } => "DROP TYPE",
        Statement::RunScript(_) => "RUN SCRIPT",
        Statement::Alter { .. } => "ALTER",
        Statement::AlterSystem { .. } => "ALTER SYSTEM",
    }
}

/// What a `CREATE` found under the name it makes.
enum Existing<'a> {
    None,
    /// `IF NOT EXISTS`, and it exists: the statement does nothing but say
    /// this.
    Kept(String),
    /// `OR REPLACE` of this source.
    Replaced(&'a Source),
}

struct Binder<'a> {
    catalog: &'a Catalog,
    topics: &'a dyn Topics,
    properties: &'a BTreeMap<String, String>,
    sql: &'a str,
    /// Set while a stream query's SELECT list is bound, the one place
    /// table functions may be called.
    table_calls: RefCell<Option<TableCalls>>,
}

/// The table function calls of a SELECT list: each becomes the column
/// `first + i` that [`Plan::FlatMap`] appends to the input's row.
struct TableCalls {
    first: usize,
    calls: Vec<(TableFunc, ScalarExpr)>,
}

impl Binder<'_> {
    /// The format a session property sets as the default, if any.
    fn default_format(&self, property: &str, pos: Pos) -> Result<Option<Format>> {
        let Some(name) = self.properties.get(property) else {
            return Ok(None);
        };
        Format::parse(name).map(Some).ok_or_else(|| {
            SqlError::new(
                pos,
                format!("unknown format '{name}' in property {property}: use UNSET '{property}' or set a known format"),
            )
        })
    }

    /// `statement` (this one, maybe with inferred columns written out) with
    /// `added` properties in its WITH clause (formats taken from defaults),
    /// as text: the catalog's record of it, which binds the same without
    /// the registry's later schemas or the session's properties.
    fn with_properties(&self, statement: ast::Statement, added: Vec<ast::Property>) -> String {
        let statement = match statement {
            ast::Statement::CreateSource(mut c) => {
                c.properties.extend(added);
                ast::Statement::CreateSource(c)
            }
            ast::Statement::CreateAs(mut c) => {
                c.properties.extend(added);
                ast::Statement::CreateAs(c)
            }
            other => other,
        };
        format!("{statement};")
    }
}

/// A WITH property naming a format, as a default supplies it.
fn format_property(name: &str, format: Format, pos: Pos) -> ast::Property {
    ast::Property {
        name: Ident {
            value: name.into(),
            quoted: false,
            pos,
        },
        value: Literal::String(format.name().into()),
    }
}

/// The WITH properties ksqlDB knows, for validation and suggestions.
const KNOWN_PROPERTIES: &[&str] = &[
    "KAFKA_TOPIC",
    "KEY_FORMAT",
    "VALUE_FORMAT",
    "FORMAT",
    "PARTITIONS",
    "REPLICAS",
    "RETENTION_MS",
    "CLEANUP_POLICY",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "WRAP_SINGLE_VALUE",
    "KEY_SCHEMA_ID",
    "VALUE_SCHEMA_ID",
    "KEY_SCHEMA_FULL_NAME",
    "VALUE_SCHEMA_FULL_NAME",
    "VALUE_AVRO_SCHEMA_FULL_NAME",
    "KEY_DELIMITER",
    "VALUE_DELIMITER",
    "WINDOW_TYPE",
    "WINDOW_SIZE",
    "ENVELOPE",
    "KEY_PROTOBUF_NULLABLE_REPRESENTATION",
    "VALUE_PROTOBUF_NULLABLE_REPRESENTATION",
    "SOURCE_CONNECTOR",
    "SOURCED_BY_CONNECTOR",
];

/// Properties that parse but whose behaviour is not built yet: refused
/// rather than silently ignored, because they would change results.
const UNSUPPORTED_PROPERTIES: &[&str] = &[];

struct Properties {
    values: BTreeMap<String, (Literal, Pos)>,
}

impl Properties {
    fn new(props: &[ast::Property]) -> Result<Properties> {
        let mut values = BTreeMap::new();
        for p in props {
            let name = p.name.value.to_uppercase();
            if !KNOWN_PROPERTIES.contains(&name.as_str()) {
                let hint = closest(&name, KNOWN_PROPERTIES.iter().copied())
                    .map(|c| format!("; did you mean {c}?"))
                    .unwrap_or_default();
                return Err(SqlError::new(
                    p.name.pos,
                    format!("unknown property {name}{hint}"),
                ));
            }
            if UNSUPPORTED_PROPERTIES.contains(&name.as_str()) {
                return Err(SqlError::new(
                    p.name.pos,
                    format!("property {name} is not supported yet"),
                ));
            }
            if values
                .insert(name.clone(), (p.value.clone(), p.name.pos))
                .is_some()
            {
                return Err(SqlError::new(
                    p.name.pos,
                    format!("property {name} is given twice"),
                ));
            }
        }
        Ok(Properties { values })
    }

    fn string(&self, name: &str) -> Result<Option<(String, Pos)>> {
        match self.values.get(name) {
            None => Ok(None),
            Some((Literal::String(s), pos)) => Ok(Some((s.clone(), *pos))),
            Some((_, pos)) => Err(SqlError::new(
                *pos,
                format!("property {name} takes a string in single quotes"),
            )),
        }
    }

    fn int(&self, name: &str) -> Result<Option<(i64, Pos)>> {
        match self.values.get(name) {
            None => Ok(None),
            Some((Literal::Number(n), pos)) => match n.parse() {
                Ok(v) => Ok(Some((v, *pos))),
                Err(_) => Err(SqlError::new(
                    *pos,
                    format!("property {name} takes a whole number, not {n}"),
                )),
            },
            Some((Literal::String(s), pos)) => match s.parse() {
                Ok(v) => Ok(Some((v, *pos))),
                Err(_) => Err(SqlError::new(
                    *pos,
                    format!("property {name} takes a whole number, not '{s}'"),
                )),
            },
            Some((_, pos)) => Err(SqlError::new(
                *pos,
                format!("property {name} takes a whole number"),
            )),
        }
    }

    /// The window of a windowed source's keys (`WINDOW_TYPE`, and
    /// `WINDOW_SIZE` for a time window: a key holds only its start).
    fn source_window(&self) -> Result<Option<Window>> {
        let size = match self.string("WINDOW_SIZE")? {
            None => None,
            Some((text, pos)) => {
                let mut words = text.split_whitespace();
                let value = words.next().and_then(|v| v.parse::<u64>().ok());
                let unit = words.next().and_then(crate::ast::TimeUnit::parse);
                match (value, unit, words.next()) {
                    (Some(value), Some(unit), None) if value > 0 => {
                        Some((ast::Duration { value, unit }.millis() as i64, pos))
                    }
                    _ => return Err(SqlError::new(pos, format!("WINDOW_SIZE '{text}' is not a window size: write a positive number and a unit, e.g. '30 SECONDS'"))),
                }
            }
        };
        let Some((kind, pos)) = self.string("WINDOW_TYPE")? else {
            return match size {
                Some((_, pos)) => Err(SqlError::new(
                    pos,
                    "WINDOW_SIZE needs WINDOW_TYPE='TUMBLING' or 'HOPPING'",
                )),
                None => Ok(None),
            };
        };
        // A source's keys carry their windows: only the kind (how a key
        // holds its window) and a time window's size (its end is the start
        // plus the size) matter; gap, advance and grace do not.
        match (kind.to_uppercase().as_str(), size) {
            ("SESSION", None) => Ok(Some(Window::Session { gap: 0, grace: 0 })),
            ("SESSION", Some((_, pos))) => Err(SqlError::new(
                pos,
                "'WINDOW_SIZE' should not be set for SESSION windows.",
            )),
            ("TUMBLING" | "HOPPING", Some((size, _))) => Ok(Some(Window::Time {
                size,
                advance: size,
                grace: 0,
            })),
            ("TUMBLING" | "HOPPING", None) => Err(SqlError::new(
                pos,
                format!("WINDOW_TYPE '{kind}' needs WINDOW_SIZE: the window's size, e.g. WINDOW_SIZE='30 SECONDS'"),
            )),
            _ => Err(SqlError::new(
                pos,
                format!("WINDOW_TYPE '{kind}' is not a window type: use SESSION, TUMBLING or HOPPING"),
            )),
        }
    }

    fn format(&self, name: &str) -> Result<Option<Format>> {
        match self.string(name)? {
            None => Ok(None),
            Some((s, pos)) => match Format::parse(&s) {
                Some(f) => Ok(Some(f)),
                None => Err(SqlError::new(
                    pos,
                    format!(
                        "unknown format '{s}' for {name}; expected one of {}",
                        Format::ALL
                            .iter()
                            .map(|f| f.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            },
        }
    }

    /// A DELIMITED separator: one character, or `SPACE` or `TAB`.
    fn delimiter(&self, name: &str) -> Result<char> {
        match self.string(name)? {
            None => Ok(','),
            Some((s, pos)) => {
                let mut chars = s.chars();
                match (s.to_uppercase().as_str(), chars.next(), chars.next()) {
                    ("SPACE", _, _) => Ok(' '),
                    ("TAB", _, _) => Ok('\t'),
                    (_, Some(c), None) => Ok(c),
                    _ => Err(SqlError::new(
                        pos,
                        format!("{name} must be a single character, SPACE or TAB, not '{s}'"),
                    )),
                }
            }
        }
    }

    /// The properties that only some formats take: `WRAP_SINGLE_VALUE=true`
    /// (not KAFKA or DELIMITED, which hold one unwrapped value or fields),
    /// `*_SCHEMA_ID` (formats with registered schemas) and
    /// `VALUE_AVRO_SCHEMA_FULL_NAME` (AVRO, not empty).
    fn check_for_formats(&self, key: Format, value: Format) -> Result<()> {
        if let Some((Literal::Boolean(true), at)) = self.values.get("WRAP_SINGLE_VALUE") {
            if matches!(value, Format::Kafka | Format::Delimited) {
                return Err(SqlError::new(*at, format!(
                    "Format '{}' does not support 'WRAP_SINGLE_VALUE' set to 'true': its values are never wrapped",
                    value.name()
                )));
            }
        }
        let registers = |f: Format| matches!(f, Format::Avro | Format::JsonSr | Format::Protobuf);
        for (name, side, format) in [
            ("KEY_SCHEMA_ID", "KEY_FORMAT", key),
            ("VALUE_SCHEMA_ID", "VALUE_FORMAT", value),
        ] {
            if let (Some((_, at)), false) = (self.int(name)?, registers(format)) {
                return Err(SqlError::new(at, format!(
                    "{side} should support schema inference when {name} is provided. Current format is {}: use AVRO, JSON_SR or PROTOBUF",
                    format.name()
                )));
            }
        }
        if let Some((name, at)) = self.string("VALUE_AVRO_SCHEMA_FULL_NAME")? {
            if value != Format::Avro {
                return Err(SqlError::new(at, format!(
                    "{} does not support VALUE_AVRO_SCHEMA_FULL_NAME (fullSchemaName): it names an Avro schema",
                    value.name()
                )));
            }
            if name.trim().is_empty() {
                return Err(SqlError::new(
                    at,
                    "VALUE_AVRO_SCHEMA_FULL_NAME (fullSchemaName) cannot be empty",
                ));
            }
        }
        Ok(())
    }

    /// `WRAP_SINGLE_VALUE`, for a source with `values` value columns.
    fn wrap_single_value(&self, values: usize) -> Result<bool> {
        let Some((literal, pos)) = self.values.get("WRAP_SINGLE_VALUE") else {
            return Ok(true);
        };
        let wrap = match literal {
            Literal::Boolean(b) => *b,
            Literal::String(s) if s.eq_ignore_ascii_case("true") => true,
            Literal::String(s) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err(SqlError::new(*pos, "WRAP_SINGLE_VALUE takes true or false")),
        };
        if values != 1 {
            return Err(SqlError::new(
                *pos,
                format!("WRAP_SINGLE_VALUE is only valid for a single value column; this source has {values}"),
            ));
        }
        Ok(wrap)
    }

    /// KEY_FORMAT and VALUE_FORMAT, or FORMAT for both.
    fn formats(&self, pos: Pos) -> Result<(Option<Format>, Option<Format>)> {
        let both = self.format("FORMAT")?;
        let key = self.format("KEY_FORMAT")?;
        let value = self.format("VALUE_FORMAT")?;
        if both.is_some() && (key.is_some() || value.is_some()) {
            return Err(SqlError::new(
                pos,
                "FORMAT cannot be combined with KEY_FORMAT or VALUE_FORMAT",
            ));
        }
        Ok((key.or(both), value.or(both)))
    }
}

// ---- scopes -------------------------------------------------------------

#[derive(Clone, Debug)]
struct ScopeColumn {
    qualifier: String,
    name: String,
    ty: SqlType,
    system: bool,
}

/// The qualifier of a lambda's parameters in the scope of its body.
const LAMBDA_QUALIFIER: &str = "<lambda>";

/// The columns visible to expressions, by position in the input row.
#[derive(Clone, Debug, Default)]
struct Scope {
    columns: Vec<ScopeColumn>,
}

impl Scope {
    fn for_source(source: &Source, qualifier: &str) -> Scope {
        let mut columns: Vec<ScopeColumn> = SYSTEM_COLUMNS
            .iter()
            .map(|(n, t)| ScopeColumn {
                qualifier: qualifier.into(),
                name: n.to_string(),
                ty: t.clone(),
                system: true,
            })
            .collect();
        columns.extend(source.columns.iter().map(|c| ScopeColumn {
            qualifier: qualifier.into(),
            name: c.name.clone(),
            ty: c.ty.clone(),
            system: false,
        }));
        // A windowed source's rows end with their key's window.
        if source.window.is_some() {
            for name in ["WINDOWSTART", "WINDOWEND"] {
                columns.push(ScopeColumn {
                    qualifier: qualifier.into(),
                    name: name.into(),
                    ty: SqlType::BigInt,
                    system: true,
                });
            }
        }
        Scope { columns }
    }

    fn resolve(&self, qualifier: Option<&Ident>, name: &Ident) -> Result<(usize, SqlType)> {
        let n = name.normalized();
        let q = qualifier.map(|q| q.normalized());
        if let Some(q) = &q {
            if !self.columns.iter().any(|c| &c.qualifier == q) {
                let hint = closest(q, self.qualifiers())
                    .map(|c| format!("; did you mean {c}?"))
                    .unwrap_or_default();
                return Err(SqlError::new(
                    qualifier.unwrap().pos,
                    format!("unknown source or alias {q}{hint}"),
                ));
            }
        }
        let matches: Vec<usize> = (0..self.columns.len())
            .filter(|&i| {
                let c = &self.columns[i];
                c.name == n && q.as_ref().is_none_or(|q| &c.qualifier == q)
            })
            .collect();
        // A lambda's parameter shadows the row's columns of its name.
        if q.is_none() {
            if let Some(&i) = matches
                .iter()
                .rev()
                .find(|&&i| self.columns[i].qualifier == LAMBDA_QUALIFIER)
            {
                return Ok((i, self.columns[i].ty.clone()));
            }
        }
        match matches.as_slice() {
            [i] => Ok((*i, self.columns[*i].ty.clone())),
            [] => {
                let candidates = self
                    .columns
                    .iter()
                    .filter(|c| q.as_ref().is_none_or(|q| &c.qualifier == q))
                    .map(|c| c.name.as_str());
                let hint = closest(&n, candidates)
                    .map(|c| format!("; did you mean {c}?"))
                    .unwrap_or_default();
                let full = match &q {
                    Some(q) => format!("{q}.{n}"),
                    None => n.clone(),
                };
                Err(SqlError::new(
                    name.pos,
                    format!("column {full} cannot be resolved{hint}"),
                ))
            }
            _ => Err(SqlError::new(
                name.pos,
                format!(
                    "column {n} is ambiguous: it is in {}; qualify it",
                    matches
                        .iter()
                        .map(|&i| self.columns[i].qualifier.as_str())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            )),
        }
    }

    fn qualifiers(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<&str> = Vec::new();
        // A join's synthetic key belongs to no source.
        for c in self.columns.iter().filter(|c| !c.qualifier.is_empty()) {
            if !seen.contains(&c.qualifier.as_str()) {
                seen.push(&c.qualifier);
            }
        }
        seen.into_iter()
    }
}

/// A bound expression; `ty` is `None` for an untyped NULL literal.
#[derive(Clone, Debug)]
struct Typed {
    expr: ScalarExpr,
    ty: Option<SqlType>,
}

fn typed(expr: ScalarExpr, ty: SqlType) -> Typed {
    Typed { expr, ty: Some(ty) }
}

/// State of binding the projection of an aggregating query: expressions
/// equal to a GROUP BY expression become key columns, aggregate calls are
/// collected.
struct AggContext {
    input: Scope,
    group: Vec<Typed>,
    aggregates: Vec<AggregateCall>,
}

fn contains_aggregate(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Function { name, .. } if AggregateFunc::from_name(&name.value).is_some() => true,
        ExprKind::Function { args, .. } => args.iter().any(contains_aggregate),
        ExprKind::Column { .. } | ExprKind::Literal(_) => false,
        ExprKind::Binary { left, right, .. } => {
            contains_aggregate(left) || contains_aggregate(right)
        }
        ExprKind::Unary { expr, .. }
        | ExprKind::IsNull { expr, .. }
        | ExprKind::Deref { expr, .. }
        | ExprKind::Cast { expr, .. } => contains_aggregate(expr),
        ExprKind::Subscript { expr, index } => {
            contains_aggregate(expr) || contains_aggregate(index)
        }
        ExprKind::Case {
            operand,
            whens,
            else_,
        } => {
            operand.as_deref().is_some_and(contains_aggregate)
                || else_.as_deref().is_some_and(contains_aggregate)
                || whens
                    .iter()
                    .any(|(w, t)| contains_aggregate(w) || contains_aggregate(t))
        }
        ExprKind::InList { expr, list, .. } => {
            contains_aggregate(expr) || list.iter().any(contains_aggregate)
        }
        ExprKind::Between {
            expr, low, high, ..
        } => contains_aggregate(expr) || contains_aggregate(low) || contains_aggregate(high),
        ExprKind::Like { expr, pattern, .. } => {
            contains_aggregate(expr) || contains_aggregate(pattern)
        }
        ExprKind::IsDistinctFrom { left, right, .. } => {
            contains_aggregate(left) || contains_aggregate(right)
        }
        ExprKind::Array(items) => items.iter().any(contains_aggregate),
        ExprKind::Map(entries) => entries
            .iter()
            .any(|(k, v)| contains_aggregate(k) || contains_aggregate(v)),
        ExprKind::Struct(fields) => fields.iter().any(|(_, v)| contains_aggregate(v)),
        ExprKind::Lambda { body, .. } => contains_aggregate(body),
    }
}

fn literal_value(l: &Literal, pos: Pos) -> Result<Typed> {
    Ok(match l {
        Literal::Null => Typed {
            expr: ScalarExpr::Literal(Value::Null),
            ty: None,
        },
        Literal::Boolean(b) => typed(ScalarExpr::Literal(Value::Boolean(*b)), SqlType::Boolean),
        Literal::String(s) => typed(
            ScalarExpr::Literal(Value::String(s.clone())),
            SqlType::String,
        ),
        Literal::Number(n) => {
            if n.contains(['e', 'E']) {
                let v: f64 = n
                    .parse()
                    .map_err(|_| SqlError::new(pos, format!("invalid number {n}")))?;
                typed(ScalarExpr::Literal(Value::Double(F64(v))), SqlType::Double)
            } else if let Some((int, frac)) = n.split_once('.') {
                let digits = format!("{int}{frac}");
                let unscaled: i128 = digits
                    .parse()
                    .map_err(|_| SqlError::new(pos, format!("invalid number {n}")))?;
                let scale = frac.len() as u8;
                let precision = (digits.trim_start_matches(['-', '0']).len() as u8)
                    .max(scale)
                    .max(1);
                typed(
                    ScalarExpr::Literal(Value::Decimal(unscaled, scale)),
                    SqlType::Decimal { precision, scale },
                )
            } else if let Ok(v) = n.parse::<i32>() {
                typed(ScalarExpr::Literal(Value::Int(v)), SqlType::Int)
            } else if let Ok(v) = n.parse::<i64>() {
                typed(ScalarExpr::Literal(Value::BigInt(v)), SqlType::BigInt)
            } else {
                return Err(SqlError::new(
                    pos,
                    format!("number {n} is out of range for BIGINT"),
                ));
            }
        }
    })
}

impl Binder<'_> {
    fn lookup(&self, name: &Ident) -> Result<&Source> {
        let n = name.normalized();
        self.catalog.source(&n).ok_or_else(|| {
            let hint = closest(&n, self.catalog.sources().map(|s| s.name.as_str()))
                .map(|c| format!("; did you mean {}?", ast::quote_ident(c)))
                .unwrap_or_default();
            SqlError::new(name.pos, format!("{n} does not exist{hint}"))
        })
    }

    /// `ALTER ... ADD COLUMN`: the source with the new value columns after
    /// its others, if its topic's records still read (as for `CREATE OR
    /// REPLACE`) and no query binds its columns.
    fn alter(
        &self,
        kind: SourceKind,
        name: &Ident,
        added: &[(Ident, ast::DataType)],
    ) -> Result<BoundStatement> {
        let old = self.lookup(name)?;
        let fail = |why: String| Err(SqlError::new(name.pos, why));
        if old.kind != kind {
            return fail(format!(
                "Incompatible data source type is {}, but statement was ALTER {kind}",
                old.kind
            ));
        }
        if self.catalog.maker(&old.name).is_some() {
            return fail("ALTER command is not supported for CREATE ... AS statements.".into());
        }
        if old.read_only {
            return fail(format!(
                "Cannot alter read-only {}: {}",
                kind.to_string().to_lowercase(),
                old.name
            ));
        }
        if let Some(q) = self.catalog.queries_using(&old.name).next() {
            return fail(format!(
                "cannot alter {}: query {} reads or writes it with its current columns; TERMINATE it first",
                old.name, q.id
            ));
        }
        let mut source = old.clone();
        let mut defs = Vec::new();
        for (column, ty) in added {
            let n = column.normalized();
            if source.columns.iter().any(|c| c.name == n) {
                return Err(SqlError::new(
                    column.pos,
                    format!("Cannot add column `{n}` to schema. A column with the same name already exists."),
                ));
            }
            let ty = self.sql_type(ty)?;
            // Before the header columns, which end the row.
            let at = source
                .columns
                .iter()
                .take_while(|c| c.header.is_none())
                .count();
            source.columns.insert(at, Column::new(n, ty.clone(), false));
            defs.push(ast::ColumnDef {
                name: column.clone(),
                data_type: ty.into(),
                constraint: ColumnConstraint::None,
            });
        }
        // The statement as if the columns had been declared, for DESCRIBE
        // EXTENDED; the command log keeps the ALTER itself.
        if let Ok(mut parsed) = crate::parser::parse(&old.sql) {
            if let Some(ast::Statement::CreateSource(c)) = parsed.pop().map(|p| p.statement) {
                let mut c = c;
                let at = c
                    .columns
                    .iter()
                    .take_while(|d| {
                        !matches!(
                            d.constraint,
                            ColumnConstraint::Headers | ColumnConstraint::Header(_)
                        )
                    })
                    .count();
                c.columns.splice(at..at, defs);
                source.sql = ast::Statement::CreateSource(c).to_string();
            }
        }
        check_serializable(&source, name.pos)?;
        self.check_replacement(old, &source, false, name.pos)?;
        Ok(BoundStatement::Alter { source })
    }

    fn drop(
        &self,
        kind: SourceKind,
        if_exists: bool,
        name: &Ident,
        delete_topic: bool,
    ) -> Result<BoundStatement> {
        let source = match self.catalog.source(&name.normalized()) {
            None if if_exists => {
                return Ok(BoundStatement::Unchanged {
                    message: format!("Source {} does not exist.", name.normalized()),
                })
            }
            None => {
                return self
                    .lookup(name)
                    .map(|_| unreachable!("lookup fails for a missing source"))
            }
            Some(s) => s,
        };
        if source.kind != kind {
            return Err(SqlError::new(
                name.pos,
                format!(
                    "{} is a {}, not a {kind}: use DROP {}",
                    source.name, source.kind, source.kind
                ),
            ));
        }
        let users: Vec<&str> = self
            .catalog
            .queries_using(&source.name)
            .map(|q| q.id.as_str())
            .collect();
        if !users.is_empty() {
            return Err(SqlError::new(
                name.pos,
                format!(
                    "cannot drop {}: queries {} read from or write to it; TERMINATE them first",
                    source.name,
                    users.join(", ")
                ),
            ));
        }
        if delete_topic {
            if source.read_only {
                return Err(SqlError::new(
                    name.pos,
                    format!("Cannot delete topic for read-only source: {}", source.name),
                ));
            }
            let others: Vec<&str> = self
                .catalog
                .sources_on_topic(&source.topic)
                .filter(|s| s.name != source.name)
                .map(|s| s.name.as_str())
                .collect();
            if !others.is_empty() {
                return Err(SqlError::new(
                    name.pos,
                    format!(
                        "Refusing to delete topic. Found other data sources ({}) using topic {}: drop them first, or drop {} without DELETE TOPIC",
                        others.join(", "),
                        source.topic,
                        source.name
                    ),
                ));
            }
        }
        Ok(BoundStatement::Drop {
            name: source.name.clone(),
            delete_topic,
        })
    }

    /// What a `CREATE` of `name` does with a source already of that name:
    /// none is the usual case; `IF NOT EXISTS` makes the statement do
    /// nothing, `OR REPLACE` replaces it (see [`Binder::check_replacement`]).
    fn existing(
        &self,
        kind: SourceKind,
        name: &Ident,
        or_replace: bool,
        if_not_exists: bool,
        read_only: bool,
    ) -> Result<Existing<'_>> {
        let n = name.normalized();
        let existing = self.catalog.source(&n);
        let what = kind.to_string().to_lowercase();
        if or_replace && (read_only || existing.is_some_and(|s| s.read_only)) {
            return Err(SqlError::new(
                name.pos,
                format!("Cannot add {what} '{n}': CREATE OR REPLACE is not supported on source {what}s."),
            ));
        }
        match existing {
            None => Ok(Existing::None),
            Some(_) if if_not_exists => Ok(Existing::Kept(format!("Cannot add {what} {n}: a stream or table of that name already exists; IF NOT EXISTS leaves it as it is."))),
            Some(s) if or_replace && s.kind != kind => Err(SqlError::new(
                name.pos,
                format!(
                    "Cannot add {what} '{n}': {n} is a {}, and CREATE OR REPLACE cannot change a {} into a {kind}",
                    s.kind, s.kind
                ),
            )),
            Some(s) if or_replace => Ok(Existing::Replaced(s)),
            Some(_) => Err(SqlError::new(
                name.pos,
                format!("cannot add {n}: a stream or table of that name already exists; CREATE OR REPLACE changes it, DROP removes it"),
            )),
        }
    }

    /// ksqlDB replaces a source in place only if the records already in
    /// its topic still read under the new schema: the same topic, formats,
    /// key and window, and the old value columns, unchanged and in order,
    /// before any new ones. ddsql also requires that no other query reads
    /// or writes the source, because running queries were bound to the old
    /// columns. A `CREATE ... AS SELECT` replaces the query that made the
    /// source (`maker`); a plain `CREATE` replaces a declared source.
    fn check_replacement(
        &self,
        old: &Source,
        new: &Source,
        made_by_query: bool,
        pos: Pos,
    ) -> Result<()> {
        let n = &old.name;
        let fail = |why: String| Err(SqlError::new(pos, format!("cannot replace {n}: {why}")));
        let maker = self.catalog.maker(n);
        match (maker, made_by_query) {
            (Some(q), false) => {
                return fail(format!("query {} makes it; replace it with CREATE OR REPLACE ... AS SELECT, or TERMINATE {} and DROP it first", q.id, q.id))
            }
            (None, true) => {
                return fail("it was declared over its topic, not made by a query; DROP it first to make it from a query".into())
            }
            _ => {}
        }
        let others: Vec<&str> = self
            .catalog
            .queries_using(n)
            .filter(|q| Some(q.id.as_str()) != maker.map(|m| m.id.as_str()))
            .map(|q| q.id.as_str())
            .collect();
        if !others.is_empty() {
            return fail(format!("queries {} read from or write to it, and were bound to its present columns; TERMINATE them first", others.join(", ")));
        }
        if new.topic != old.topic {
            return fail(format!(
                "its topic is {}, and a replacement cannot move it to {}",
                old.topic, new.topic
            ));
        }
        if (new.key_format, new.value_format) != (old.key_format, old.value_format) {
            return fail(format!(
                "its formats are KEY_FORMAT '{}', VALUE_FORMAT '{}', and a replacement must keep them (the topic holds records in them)",
                old.key_format, old.value_format
            ));
        }
        if new.window != old.window {
            return fail("a replacement must keep its window".into());
        }
        let keys = |s: &Source| s.key_columns().cloned().collect::<Vec<_>>();
        if keys(new) != keys(old) {
            return fail(format!(
                "a replacement must keep its key columns ({})",
                old.key_columns()
                    .map(|c| format!("{} {}", c.name, c.ty))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let new_values: Vec<&crate::catalog::Column> = new.value_columns().collect();
        for (i, c) in old.value_columns().enumerate() {
            if new_values.get(i) != Some(&c) {
                return fail(format!("value column {} {} would be changed, dropped or moved; a replacement may only add value columns after the present ones", c.name, c.ty));
            }
        }
        Ok(())
    }

    /// Resolves the topic and its partition count, and whether it must be created.
    fn topic(
        &self,
        props: &Properties,
        default_topic: Option<String>,
        default_partitions: Option<u32>,
        pos: Pos,
    ) -> Result<(String, u32, bool)> {
        let topic = match (props.string("KAFKA_TOPIC")?, default_topic) {
            (Some((t, tpos)), _) => {
                if t.is_empty()
                    || t.len() > 249
                    || !t
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                {
                    return Err(SqlError::new(
                        tpos,
                        format!("invalid topic name '{t}': use 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'"),
                    ));
                }
                t
            }
            (None, Some(t)) => t,
            (None, None) => {
                return Err(SqlError::new(
                    pos,
                    "missing property KAFKA_TOPIC: name the topic with WITH (KAFKA_TOPIC='...')",
                ))
            }
        };
        let requested = match props.int("PARTITIONS")? {
            Some((p, ppos)) if !(1..=65535).contains(&p) => {
                return Err(SqlError::new(
                    ppos,
                    format!("PARTITIONS must be between 1 and 65535, not {p}"),
                ))
            }
            Some((p, _)) => Some(p as u32),
            None => None,
        };
        match (self.topics.partitions(&topic), requested) {
            (Some(existing), Some(req)) if existing != req => Err(SqlError::new(
                pos,
                format!("topic '{topic}' exists with {existing} partitions, but PARTITIONS={req} was given"),
            )),
            (Some(existing), _) => Ok((topic, existing, false)),
            (None, Some(req)) => Ok((topic, req, true)),
            (None, None) if !self.topics.complete() => Ok((topic, default_partitions.unwrap_or(1), false)),
            (None, None) => match default_partitions {
                Some(p) => Ok((topic, p, true)),
                None => Err(SqlError::new(
                    pos,
                    format!("topic '{topic}' does not exist: give PARTITIONS in the WITH clause to create it"),
                )),
            },
        }
    }

    /// The declared columns, plus those a Schema Registry has for a side
    /// (key or value) that declares none and whose format registers schemas.
    fn infer_columns(
        &self,
        c: &ast::CreateSource,
        props: &Properties,
        topic: &str,
        key_format: Format,
        explicit_key_format: bool,
        value_format: Format,
    ) -> Result<Vec<ast::ColumnDef>> {
        let unwrapped = !props.wrap_single_value(1)?;
        let registers = |f: Format| matches!(f, Format::Avro | Format::JsonSr | Format::Protobuf);
        let mut columns = c.columns.clone();
        let declared = |key: bool| c.columns.iter().any(|col| declares(col, key));
        // ksqlDB's inference: a key schema is the one key column ROWKEY; a
        // value record's fields are the value columns, and any other value
        // schema (or an unwrapped one) is the one value column ROWVAL.
        // ksqlDB's inference: a key schema is the one key column ROWKEY
        // (PROTOBUF, which wraps keys, gives a message of key columns); a
        // value record's fields are the value columns, and any other value
        // schema (or an unwrapped one) is the one value column ROWVAL.
        let registered = |side: &'static str, format: Format, single: Option<&str>| {
            let (id, full_name) = match side {
                "key" => ("KEY_SCHEMA_ID", "KEY_SCHEMA_FULL_NAME"),
                _ => ("VALUE_SCHEMA_ID", "VALUE_SCHEMA_FULL_NAME"),
            };
            let lookup = SchemaLookup {
                topic: topic.to_string(),
                side,
                format,
                id: props.int(id)?.map(|(id, _)| id as u32),
                full_name: props.string(full_name)?.map(|(name, _)| name),
            };
            let ty = self.topics.registered_type(&lookup).map_err(|e| {
                SqlError::new(
                    c.name.pos,
                    format!(
                        "inferring the {side} columns of {}: {e}",
                        c.name.normalized()
                    ),
                )
            })?;
            Ok::<_, SqlError>(ty.map(|ty| match (single, ty) {
                (None, SqlType::Struct(fields)) => fields,
                (single, ty) => vec![(single.unwrap_or("ROWVAL").to_string(), ty)],
            }))
        };
        let column = |name: String, ty: SqlType, constraint| ast::ColumnDef {
            name: Ident {
                value: name,
                quoted: true,
                pos: c.name.pos,
            },
            data_type: ty.into(),
            constraint,
        };
        if !declared(false) && registers(value_format) {
            match registered("value", value_format, unwrapped.then_some("ROWVAL"))? {
                Some(fields) => {
                    for (name, ty) in fields {
                        if !columns.iter().any(|d| d.name.normalized() == name) {
                            columns.push(column(name, ty, ColumnConstraint::None));
                        }
                    }
                }
                None if c.columns.is_empty() => {
                    return Err(SqlError::new(
                        c.name.pos,
                        format!(
                            "{} {} declares no columns and no {value_format} schema is registered under subject '{topic}-value': declare the columns, register the schema, or point --schema-registry-url at the registry that has it",
                            c.kind,
                            c.name.normalized()
                        ),
                    ))
                }
                None => {}
            }
        }
        if !declared(true) && explicit_key_format && registers(key_format) {
            let constraint = match c.kind {
                SourceKind::Stream => ColumnConstraint::Key,
                SourceKind::Table => ColumnConstraint::PrimaryKey,
            };
            let single = (key_format != Format::Protobuf).then_some("ROWKEY");
            if let Some(fields) = registered("key", key_format, single)? {
                let keys = fields
                    .into_iter()
                    .map(|(n, t)| column(n, t, constraint.clone()));
                columns.splice(0..0, keys);
            }
        }
        Ok(columns)
    }

    fn create_source(&self, c: &ast::CreateSource) -> Result<BoundStatement> {
        let replaced =
            match self.existing(c.kind, &c.name, c.or_replace, c.if_not_exists, c.source)? {
                Existing::Kept(message) => return Ok(BoundStatement::Unchanged { message }),
                Existing::Replaced(s) => Some(s),
                Existing::None => None,
            };
        let props = Properties::new(&c.properties)?;
        let (key_format, value_format) = props.formats(c.name.pos)?;
        let mut defaulted = Vec::new();
        let value_format = match value_format {
            Some(f) => f,
            None => {
                let f = self.default_format(DEFAULT_VALUE_FORMAT, c.name.pos)?.ok_or_else(|| {
                    SqlError::new(c.name.pos, format!("missing property VALUE_FORMAT: say how values are serialised, e.g. WITH (VALUE_FORMAT='JSON'), or set a default with SET '{DEFAULT_VALUE_FORMAT}'='JSON'"))
                })?;
                defaulted.push(format_property("VALUE_FORMAT", f, c.name.pos));
                f
            }
        };
        let envelope = match props.string("ENVELOPE")? {
            None => Envelope::None,
            Some((e, _)) if e.eq_ignore_ascii_case("NONE") => Envelope::None,
            Some((e, pos)) if e.eq_ignore_ascii_case("DEBEZIUM") => {
                if c.kind != SourceKind::Table {
                    return Err(SqlError::new(pos, "ENVELOPE='DEBEZIUM' reads a Debezium topic as the database table it describes: use CREATE TABLE"));
                }
                if !c
                    .columns
                    .iter()
                    .any(|col| col.constraint == ColumnConstraint::None)
                {
                    return Err(SqlError::new(pos, format!("ENVELOPE='DEBEZIUM': declare the columns of the database table, e.g. {} (ID BIGINT PRIMARY KEY, NAME STRING)", c.name.normalized())));
                }
                Envelope::Debezium
            }
            Some((e, pos)) => {
                return Err(SqlError::new(
                    pos,
                    format!("unknown ENVELOPE '{e}': ddsql knows 'NONE' and 'DEBEZIUM'"),
                ))
            }
        };
        for (side, id, declared) in [
            ("key", "KEY_SCHEMA_ID", true),
            ("value", "VALUE_SCHEMA_ID", false),
        ] {
            let declares = c.columns.iter().any(|col| declares(col, declared));
            if let (Some((_, pos)), true) = (props.int(id)?, declares) {
                return Err(SqlError::new(pos, format!(
                    "Table elements and {id} cannot both exist for create statement: declare the {side} columns or name the schema that has them, not both"
                )));
            }
        }
        let default_key = self.default_format(DEFAULT_KEY_FORMAT, c.name.pos)?;
        let explicit_key_format = key_format.is_some();
        // A Debezium key is a record of the primary key, in the value's format.
        let mut key_format = match (key_format, envelope, default_key) {
            (Some(f), _, _) => f,
            (None, Envelope::Debezium, _) => value_format,
            (None, Envelope::None, Some(f)) => {
                defaulted.push(format_property("KEY_FORMAT", f, c.name.pos));
                f
            }
            (None, Envelope::None, None) => Format::Kafka,
        };
        props.check_for_formats(key_format, value_format)?;
        let (topic, partitions, create_topic) = self.topic(&props, None, None, c.name.pos)?;
        let columns = self.infer_columns(
            c,
            &props,
            &topic,
            key_format,
            explicit_key_format,
            value_format,
        )?;
        if columns.is_empty() {
            return Err(SqlError::new(
                c.name.pos,
                format!(
                    "{} {} declares no columns: list them, e.g. (ID BIGINT KEY, NAME STRING), or use VALUE_FORMAT 'AVRO' with a schema registered under subject '{topic}-value' in the Schema Registry (--schema-registry-url)",
                    c.kind,
                    c.name.normalized()
                ),
            ));
        }
        let mut keys = Vec::new();
        let mut values = Vec::new();
        let mut headers: Vec<Column> = Vec::new();
        for col in &columns {
            let name = col.name.normalized();
            if SYSTEM_COLUMNS.iter().any(|(n, _)| *n == name) {
                return Err(SqlError::new(
                    col.name.pos,
                    format!("{name} is a reserved system column name"),
                ));
            }
            if keys
                .iter()
                .chain(values.iter())
                .chain(headers.iter())
                .any(|k: &Column| k.name == name)
            {
                return Err(SqlError::new(
                    col.name.pos,
                    format!("column {name} is declared twice"),
                ));
            }
            let ty = self.sql_type(&col.data_type)?;
            let header = match &col.constraint {
                ColumnConstraint::Headers => Some(Header::All),
                ColumnConstraint::Header(k) => Some(Header::Key(k.clone())),
                _ => None,
            };
            if let Some(header) = header {
                headers.push(self.header_column(name, ty, header, &headers, col.name.pos)?);
                continue;
            }
            let key = match (c.kind, &col.constraint) {
                (
                    _,
                    ColumnConstraint::None
                    | ColumnConstraint::Headers
                    | ColumnConstraint::Header(_),
                ) => false,
                (SourceKind::Stream, ColumnConstraint::Key)
                | (SourceKind::Table, ColumnConstraint::PrimaryKey) => true,
                (SourceKind::Stream, ColumnConstraint::PrimaryKey) => {
                    return Err(SqlError::new(
                        col.name.pos,
                        format!("column {name}: streams have KEY columns, not PRIMARY KEY"),
                    ))
                }
                (SourceKind::Table, ColumnConstraint::Key) => {
                    return Err(SqlError::new(
                        col.name.pos,
                        format!("column {name}: tables have PRIMARY KEY columns, not KEY"),
                    ))
                }
            };
            let column = Column::new(name, ty, key);
            if key {
                keys.push(column)
            } else {
                values.push(column)
            }
        }
        if c.kind == SourceKind::Table && keys.is_empty() {
            return Err(SqlError::new(
                c.name.pos,
                format!("table {} needs a PRIMARY KEY column", c.name.normalized()),
            ));
        }
        if keys.is_empty() && !explicit_key_format {
            // A key-less source has no key format unless one is named (its
            // queries' keyed results inherit it).
            key_format = Format::None;
        } else if !keys.is_empty() && key_format == Format::None {
            return Err(SqlError::new(
                c.name.pos,
                "KEY_FORMAT 'NONE' cannot be used with KEY columns",
            ));
        }
        let window = props.source_window()?;
        if window.is_some() && keys.is_empty() {
            return Err(SqlError::new(
                c.name.pos,
                "Windowed sources require a key column.",
            ));
        }
        let wrap_single_value = props.wrap_single_value(values.len())?;
        if let Some(h) = headers.first() {
            let refuse = |why: &str| {
                Err(SqlError::new(
                    c.name.pos,
                    format!("header column {}: {why}", h.name),
                ))
            };
            if envelope == Envelope::Debezium {
                return refuse(
                    "a Debezium table's columns come from the change event, not the headers",
                );
            }
            if window.is_some() {
                return refuse("header columns of windowed sources are not supported yet");
            }
        }
        keys.extend(values);
        // Header columns last: readers fill them after the value's.
        keys.extend(headers);
        let (timestamp_column, timestamp_format) = timestamp_column(&props, &keys, &c.name)?;
        let source = Source {
            name: c.name.normalized(),
            kind: c.kind,
            topic,
            key_format,
            value_format,
            partitions,
            columns: keys,
            wrap_single_value,
            key_delimiter: props.delimiter("KEY_DELIMITER")?,
            value_delimiter: props.delimiter("VALUE_DELIMITER")?,
            timestamp_column,
            timestamp_format,
            // With inferred columns, the statement as if they were declared,
            // so a restart does not infer again from a newer schema.
            sql: if columns.len() == c.columns.len() && defaulted.is_empty() {
                self.sql.to_string()
            } else {
                self.with_properties(
                    ast::Statement::CreateSource(ast::CreateSource {
                        columns: columns.clone(),
                        ..c.clone()
                    }),
                    defaulted,
                )
            },
            window,
            envelope,
            read_only: c.source,
        };
        check_serializable(&source, c.name.pos)?;
        if let Some(old) = replaced {
            self.check_replacement(old, &source, false, c.name.pos)?;
        }
        Ok(BoundStatement::CreateSource {
            source,
            create_topic,
        })
    }

    /// The query of a persistent statement.
    fn persistent_query(&self, q: &ast::Query) -> Result<BoundQuery<'_>> {
        if q.limit.is_some() {
            return Err(SqlError::new(
                q.from.pos(),
                "LIMIT is only allowed in transient queries",
            ));
        }
        let bound = self.query(q)?;
        // A new query runs, so what it reads must not wait on a paused one
        // (see `pause`).
        let paused: Vec<&str> = self
            .catalog
            .queries()
            .iter()
            .filter(|w| w.paused && bound.plan.plan.scans(&w.sink))
            .map(|w| w.id.as_str())
            .collect();
        if !paused.is_empty() {
            return Err(SqlError::new(
                q.from.pos(),
                format!(
                    "RESUME {} first: the query reads what it writes, and would miss the rows it writes once resumed",
                    paused.join(", ")
                ),
            ));
        }
        Ok(bound)
    }

    fn create_as(&self, c: &ast::CreateAs) -> Result<BoundStatement> {
        let replaced = match self.existing(c.kind, &c.name, c.or_replace, c.if_not_exists, false)? {
            Existing::Kept(message) => return Ok(BoundStatement::Unchanged { message }),
            Existing::Replaced(s) => Some(s),
            Existing::None => None,
        };
        let props = Properties::new(&c.properties)?;
        let mut bound = self.persistent_query(&c.query)?;
        if bound.plan.kind != c.kind {
            let (want, got) = (c.kind, bound.plan.kind);
            return Err(SqlError::new(
                c.name.pos,
                format!(
                    "CREATE {want} AS SELECT needs a query that produces a {want}, but this one produces a {got}{}",
                    if want == SourceKind::Table { " (a table comes from GROUP BY)" } else { " (use CREATE TABLE)" }
                ),
            ));
        }
        let left = bound.left_source;
        let (key_format, value_format) = props.formats(c.name.pos)?;
        let mut defaulted = Vec::new();
        let has_key = bound.plan.columns.iter().any(|col| col.key);
        // A format taken from the left source comes with its delimiter.
        let inherits = (key_format.is_none(), value_format.is_none());
        let key_format = match key_format {
            Some(Format::None) if has_key => {
                return Err(SqlError::new(
                    c.name.pos,
                    "KEY_FORMAT 'NONE' cannot be used: the query's result has key columns",
                ))
            }
            Some(f) if has_key => f,
            // As ksqlDB: a key format beside PARTITION BY NULL, which drops
            // the key, is a contradiction. (A keyless source's query may name
            // one, as the seed's pipeline 3 does.)
            Some(f)
                if f != Format::None
                    && c.query.partition_by.iter().any(|e| {
                        matches!(e.kind, ExprKind::Literal(Literal::Null))
                    }) =>
            {
                return Err(SqlError::new(
                    c.name.pos,
                    format!("Key format specified for stream without key columns: the result has no key, so drop KEY_FORMAT='{}'", f.name()),
                ))
            }
            _ if !has_key => Format::None,
            _ if left.key_format == Format::None => {
                match self.default_format(DEFAULT_KEY_FORMAT, c.name.pos)? {
                    Some(f) => {
                        defaulted.push(format_property("KEY_FORMAT", f, c.name.pos));
                        f
                    }
                    None => Format::Kafka,
                }
            }
            _ => left.key_format,
        };
        let value_format = value_format.unwrap_or(left.value_format);
        props.check_for_formats(key_format, value_format)?;
        let (topic, partitions, create_topic) = self.topic(
            &props,
            Some(c.name.normalized()),
            Some(left.partitions),
            c.name.pos,
        )?;
        let name = c.name.normalized();
        check_sink_columns(&bound.plan.columns, c.name.pos)?;
        let wrap_single_value =
            props.wrap_single_value(bound.plan.columns.iter().filter(|c| !c.key).count())?;
        // `WITH (TIMESTAMP='col')`: the sink's records take their time from
        // the column, and readers of the sink read it from there too.
        let (timestamp_column, timestamp_format) =
            timestamp_column(&props, &bound.plan.columns, &c.name)?;
        if let Some(i) = timestamp_column {
            let width =
                1 + bound.plan.columns.len() + if bound.plan.window.is_some() { 2 } else { 0 };
            let column = ScalarExpr::Column(1 + i);
            let time = match bound.plan.columns[i].ty {
                SqlType::Timestamp => {
                    ScalarExpr::Call(functions::ScalarFunc::UnixTimestamp, vec![column])
                }
                // A STRING in TIMESTAMP_FORMAT; one that does not parse is
                // NULL and logged, and its record left out.
                SqlType::String => ScalarExpr::Call(
                    functions::ScalarFunc::UnixTimestamp,
                    vec![ScalarExpr::Call(
                        functions::ScalarFunc::ParseTimestamp,
                        vec![
                            column,
                            ScalarExpr::Literal(Value::String(
                                timestamp_format
                                    .clone()
                                    .expect("a STRING TIMESTAMP has a format"),
                            )),
                        ],
                    )],
                ),
                _ => column,
            };
            let exprs = std::iter::once(time)
                .chain((1..width).map(ScalarExpr::Column))
                .collect();
            bound.plan.plan = Plan::Map {
                input: Box::new(bound.plan.plan),
                exprs,
            };
        }
        let source = Source {
            name: name.clone(),
            kind: c.kind,
            topic,
            key_format,
            value_format,
            partitions,
            columns: bound.plan.columns.clone(),
            wrap_single_value,
            key_delimiter: match (props.string("KEY_DELIMITER")?, inherits.0) {
                (None, true) if key_format == left.key_format => left.key_delimiter,
                _ => props.delimiter("KEY_DELIMITER")?,
            },
            value_delimiter: match (props.string("VALUE_DELIMITER")?, inherits.1) {
                (None, true) => left.value_delimiter,
                _ => props.delimiter("VALUE_DELIMITER")?,
            },
            timestamp_column,
            timestamp_format,
            sql: if defaulted.is_empty() {
                self.sql.to_string()
            } else {
                self.with_properties(ast::Statement::CreateAs(c.clone()), defaulted)
            },
            window: bound.plan.window,
            envelope: Envelope::None,
            read_only: false,
        };
        check_serializable(&source, c.name.pos)?;
        let prefix = match c.kind {
            SourceKind::Stream => "CSAS",
            SourceKind::Table => "CTAS",
        };
        let id = match replaced {
            Some(old) => {
                self.check_replacement(old, &source, true, c.name.pos)?;
                self.catalog.maker(&old.name).expect("checked").id.clone()
            }
            None => self
                .catalog
                .next_query_id(&format!("{prefix}_{}", name.to_uppercase())),
        };
        let query = PersistentQuery {
            id,
            sink: name,
            plan: bound.plan,
            sql: source.sql.clone(),
            paused: false,
        };
        Ok(BoundStatement::CreateAs {
            source,
            query,
            create_topic,
        })
    }

    fn insert_select(&self, target: &Ident, q: &ast::Query) -> Result<BoundStatement> {
        let sink = self.lookup(target)?;
        if sink.kind != SourceKind::Stream {
            return Err(SqlError::new(
                target.pos,
                format!("INSERT INTO needs a stream; {} is a table", sink.name),
            ));
        }
        if sink.read_only {
            return Err(SqlError::new(
                target.pos,
                format!("Cannot insert into read-only stream: {}", sink.name),
            ));
        }
        // The query's rows would reach the stream's readers without the
        // headers its topic's records carry.
        if let Some(h) = sink.header_columns().next() {
            return Err(SqlError::new(
                target.pos,
                format!("INSERT INTO ... SELECT into a stream with header columns ({}) is not supported yet", h.name),
            ));
        }
        let mut bound = self.persistent_query(q)?;
        if bound.plan.kind != SourceKind::Stream {
            return Err(SqlError::new(
                target.pos,
                "INSERT INTO ... SELECT needs a query that produces a stream, not a table",
            ));
        }
        // Numbers widen to the target's type, as ksqlDB casts them
        // implicitly (an INT into a DECIMAL column).
        let widens = |from: &SqlType, to: &SqlType| {
            use SqlType::*;
            match (from, to) {
                (Int, BigInt) | (Int | BigInt | Decimal { .. }, Double) => true,
                (Int | BigInt, Decimal { .. }) => true,
                (Decimal { scale: s1, .. }, Decimal { scale: s2, .. }) => s2 >= s1,
                _ => false,
            }
        };
        let same_shape = bound.plan.columns.len() == sink.columns.len()
            && bound.plan.columns.iter().zip(&sink.columns).all(|(q, t)| {
                q.name == t.name && q.key == t.key && (q.ty == t.ty || widens(&q.ty, &t.ty))
            });
        if same_shape && bound.plan.columns != sink.columns {
            let mut exprs = vec![ScalarExpr::Column(0)];
            for (i, (q, t)) in bound.plan.columns.iter().zip(&sink.columns).enumerate() {
                let column = ScalarExpr::Column(1 + i);
                exprs.push(if q.ty == t.ty {
                    column
                } else {
                    ScalarExpr::Cast(Box::new(column), t.ty.clone())
                });
            }
            bound.plan.plan = Plan::Map {
                input: Box::new(bound.plan.plan),
                exprs,
            };
            bound.plan.columns = sink.columns.clone();
        }
        if bound.plan.columns != sink.columns {
            let show = |cols: &[Column]| {
                cols.iter()
                    .map(|c| format!("{} {}{}", c.name, c.ty, if c.key { " KEY" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(SqlError::new(
                target.pos,
                format!(
                    "the query's result ({}) does not match the columns of {} ({})",
                    show(&bound.plan.columns),
                    sink.name,
                    show(&sink.columns)
                ),
            ));
        }
        let query = PersistentQuery {
            id: self.catalog.next_query_id("INSERTQUERY"),
            sink: sink.name.clone(),
            plan: bound.plan,
            sql: self.sql.to_string(),
            paused: false,
        };
        Ok(BoundStatement::InsertSelect { query })
    }

    fn insert_values(
        &self,
        target: &Ident,
        columns: Option<&[Ident]>,
        values: &[Expr],
    ) -> Result<BoundStatement> {
        let source = self.lookup(target)?;
        if source.read_only {
            return Err(SqlError::new(
                target.pos,
                format!(
                    "Cannot insert values into read-only {}: {}",
                    source.kind.to_string().to_lowercase(),
                    source.name
                ),
            ));
        }
        let names: Vec<(String, Pos)> = match columns {
            Some(cols) => cols.iter().map(|c| (c.normalized(), c.pos)).collect(),
            None => source
                .columns
                .iter()
                .filter(|c| c.header.is_none())
                .map(|c| (c.name.clone(), target.pos))
                .collect(),
        };
        if names.len() != values.len() {
            return Err(SqlError::new(
                target.pos,
                format!(
                    "expected {} values for the columns ({}), got {}",
                    names.len(),
                    names
                        .iter()
                        .map(|n| n.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    values.len()
                ),
            ));
        }
        let mut row = vec![Value::Null; source.columns.len()];
        let mut rowtime = None;
        let empty = Scope::default();
        for ((name, pos), expr) in names.iter().zip(values) {
            let bound = self.expr(&empty, expr)?;
            let (index, ty) = if name == "ROWTIME" {
                (None, SqlType::BigInt)
            } else if let Some(i) = source.columns.iter().position(|c| &c.name == name) {
                if source.columns[i].header.is_some() {
                    return Err(SqlError::new(
                        *pos,
                        format!("Cannot insert into HEADER columns: {name} is read from the record's headers"),
                    ));
                }
                (Some(i), source.columns[i].ty.clone())
            } else if name == "ROWPARTITION" || name == "ROWOFFSET" {
                return Err(SqlError::new(
                    *pos,
                    format!("inserting into column {name} is not allowed"),
                ));
            } else {
                let hint = closest(name, source.columns.iter().map(|c| c.name.as_str()))
                    .map(|c| format!("; did you mean {c}?"))
                    .unwrap_or_default();
                return Err(SqlError::new(
                    *pos,
                    format!("{} has no column {name}{hint}", source.name),
                ));
            };
            check_assignable(&bound, &ty, expr.pos)?;
            let value = eval::eval(&cast_struct(bound, &ty), &[])
                .map_err(|e| SqlError::new(expr.pos, e.to_string()))?;
            match index {
                Some(i) => row[i] = value,
                None => match value {
                    Value::BigInt(t) => rowtime = Some(t),
                    Value::Null => {}
                    _ => unreachable!("cast to BIGINT yields a BIGINT"),
                },
            }
        }
        Ok(BoundStatement::InsertValues {
            source: source.name.clone(),
            rowtime,
            row,
        })
    }

    // ---- queries --------------------------------------------------------

    fn query(&self, q: &ast::Query) -> Result<BoundQuery<'_>> {
        if q.emit == Some(ast::Emit::Final) && q.window.is_none() {
            return Err(SqlError::new(
                q.group_by.first().map(|g| g.pos).unwrap_or_default(),
                "EMIT FINAL is only supported for windowed aggregations: add WINDOW TUMBLING, HOPPING or SESSION and GROUP BY, or use EMIT CHANGES",
            ));
        }
        let pos = q.group_by.first().map(|g| g.pos).unwrap_or_default();
        // Without a GRACE PERIOD, a window that only emits once it closes
        // closes at its end, as in ksqlDB; others take Kafka Streams' default.
        let default_grace = |size| match q.emit {
            Some(ast::Emit::Final) => 0,
            _ => Window::default_grace(size),
        };
        let window = match q.window.map(|w| (w.kind, w.grace)) {
            None => None,
            Some(_) if q.group_by.is_empty() => {
                return Err(SqlError::new(
                    pos,
                    "WINDOW needs GROUP BY: a window groups an aggregation by time",
                ))
            }
            Some((ast::WindowKind::Session { gap }, grace)) => {
                let gap = gap.millis() as i64;
                if gap <= 0 {
                    return Err(SqlError::new(pos, "a SESSION window needs a positive gap"));
                }
                Some(Window::Session {
                    gap,
                    grace: grace.map_or(default_grace(gap), |g| g.millis() as i64),
                })
            }
            Some((kind, grace)) => {
                let (size, advance) = match kind {
                    ast::WindowKind::Tumbling { size } => (size.millis(), size.millis()),
                    ast::WindowKind::Hopping { size, advance } => (size.millis(), advance.millis()),
                    ast::WindowKind::Session { .. } => unreachable!("matched above"),
                };
                let (size, advance) = (size as i64, advance as i64);
                if size <= 0 || advance <= 0 || advance > size {
                    return Err(SqlError::new(
                        pos,
                        "a window needs a positive SIZE, and a HOPPING window an ADVANCE BY no larger than its SIZE",
                    ));
                }
                Some(Window::Time {
                    size,
                    advance,
                    grace: grace.map_or(default_grace(size), |g| g.millis() as i64),
                })
            }
        };
        let from = self.from(&q.from)?;
        if window.is_some() && from.kind == SourceKind::Table {
            return Err(SqlError::new(
                pos,
                "windowed aggregation needs a stream; a table has no event times to window",
            ));
        }
        if from.kind == SourceKind::Table && !q.partition_by.is_empty() {
            return Err(SqlError::new(
                q.partition_by[0].pos,
                "PARTITION BY is not allowed on a table: a table is keyed by its primary key",
            ));
        }
        let mut plan = from.plan;
        if let Some(w) = &q.selection {
            let pred = self.predicate(&from.scope, w, "WHERE")?;
            plan = Plan::Filter {
                input: Box::new(plan),
                predicate: pred,
            };
        }
        if !q.group_by.is_empty() && !q.partition_by.is_empty() {
            return Err(SqlError::new(
                q.partition_by[0].pos,
                "PARTITION BY cannot be combined with GROUP BY",
            ));
        }
        // ksqlDB's `SELECT *` beside PARTITION BY lists the old key
        // columns after the values, where the repartition moves them.
        let keys_last: Vec<usize> = match q.partition_by.is_empty() {
            true => Vec::new(),
            false => from
                .key
                .iter()
                .filter_map(|k| match k {
                    ScalarExpr::Column(c) => Some(*c),
                    _ => None,
                })
                .collect(),
        };
        let items = expand_projection(self, &q.projection, &from.scope, &keys_last)?;
        if !q.group_by.is_empty() && from.left_source.window.is_some() {
            return Err(SqlError::new(
                q.group_by[0].pos,
                "GROUP BY over a windowed source (WINDOW_TYPE) is not supported yet",
            ));
        }
        if !q.group_by.is_empty() {
            let retracting = from.kind == SourceKind::Table;
            return self.aggregate_query(
                q,
                plan,
                from.scope,
                items,
                from.left_source,
                retracting,
                window,
            );
        }
        if let Some(h) = &q.having {
            return Err(SqlError::new(h.pos, "HAVING needs GROUP BY"));
        }
        // The key of the output: PARTITION BY expressions, else the join
        // key, else the source's key columns.
        // `PARTITION BY NULL` leaves the result without a key.
        let partition_by: Vec<&Expr> = q
            .partition_by
            .iter()
            .filter(|e| !matches!(e.kind, ExprKind::Literal(Literal::Null)))
            .collect();
        if partition_by.len() < q.partition_by.len() && q.partition_by.len() > 1 {
            return Err(SqlError::new(
                q.partition_by[0].pos,
                "Cannot PARTITION BY multiple columns including NULL: PARTITION BY NULL alone removes the key",
            ));
        }
        let mut implicit_keys: Vec<Option<(String, SqlType)>> = Vec::new();
        let key_exprs: Vec<(ScalarExpr, Pos)> = if !q.partition_by.is_empty() {
            let mut out = Vec::new();
            for (i, e) in partition_by.iter().enumerate() {
                let t = self.expr(&from.scope, e)?;
                let ty = t.ty.clone().ok_or_else(|| {
                    SqlError::new(
                        e.pos,
                        "cannot PARTITION BY an untyped NULL inside an expression",
                    )
                })?;
                // The key column's name if the projection does not select the
                // expression: a column keeps its name, a field takes its name.
                let name = match &e.kind {
                    ExprKind::Column { name, .. } => name.normalized(),
                    ExprKind::Deref { field, .. } => field.normalized(),
                    _ => format!("KSQL_COL_{i}"),
                };
                implicit_keys.push(Some((name, ty)));
                out.push((t.expr, e.pos));
            }
            out
        } else {
            // A missing key belongs in the projection: point at its start.
            let pos = q
                .projection
                .first()
                .map_or_else(|| q.from.pos(), SelectItem::pos);
            from.key.iter().map(|k| (k.clone(), pos)).collect()
        };
        let mut keys: Vec<Option<(ScalarExpr, Column)>> = vec![None; key_exprs.len()];
        // The expression the projection named each key by.
        let mut named_by: Vec<Option<ScalarExpr>> = vec![None; key_exprs.len()];
        let mut values = Vec::new();
        let mut namer = Namer::new(&from.scope);
        if from.kind == SourceKind::Stream {
            *self.table_calls.borrow_mut() = Some(TableCalls {
                first: from.scope.columns.len(),
                calls: Vec::new(),
            });
        }
        for (item, alias) in items.iter() {
            let bound = self.expr(&from.scope, item)?;
            let ty = bound.ty.clone().ok_or_else(|| {
                SqlError::new(
                    item.pos,
                    "cannot infer the type of NULL here: use CAST(NULL AS <type>)",
                )
            })?;
            let name = namer.name(item, alias.as_ref());
            let key_slot = key_exprs
                .iter()
                .position(|(k, _)| *k == bound.expr)
                .or_else(|| from.alt_keys.contains(&bound.expr).then_some(0));
            match key_slot {
                // The same expression twice; a join's key from the other
                // side (`L.K, R.K`) is a value column.
                Some(k) if named_by[k].as_ref() == Some(&bound.expr) => {
                    return Err(key_twice(
                        keys[k].as_ref().map(|(_, c)| &c.name),
                        &name,
                        item.pos,
                    ))
                }
                // Any expression equal to the key names it, and the key's
                // value is the join key's: in a RIGHT join the left side's
                // column, selected as the key, holds the right key where
                // the left row is missing, as in ksqlDB.
                Some(k) if keys[k].is_none() => {
                    named_by[k] = Some(bound.expr);
                    keys[k] = Some((key_exprs[k].0.clone(), Column::new(name, ty, true)))
                }
                _ => values.push((bound.expr, Column::new(name, ty, false))),
            }
        }
        let star = q.projection.iter().any(|i| {
            matches!(
                i,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(_)
            )
        });
        let keys: Vec<(ScalarExpr, Column)> = keys
            .into_iter()
            .zip(&key_exprs)
            .enumerate()
            .map(|(i, (k, (expr, pos)))| match (k, implicit_keys.get(i).cloned().flatten()) {
                (Some(k), _) => Ok(k),
                // With `SELECT *`, PARTITION BY adds its expression as the key.
                (None, Some((name, ty))) if star => Ok((expr.clone(), Column::new(name, ty, true))),
                (None, Some(_)) => Err(SqlError::new(
                    *pos,
                    format!("the PARTITION BY expression {} is missing from the projection: select it so it becomes the key", q.partition_by[i]),
                )),
                (None, None) => Err(SqlError::new(
                    *pos,
                    match expr {
                        ScalarExpr::Column(c) if from.scope.columns[*c].qualifier.is_empty() => format!(
                            "the key of the result is missing from the projection: a FULL OUTER join is keyed by its synthetic key column {0}, whichever join key is not NULL; select it (SELECT {0}, ...)",
                            from.scope.columns[*c].name
                        ),
                        _ => {
                            // A join's key by every name equal to it, as
                            // ksqlDB lists them.
                            let named: Vec<String> = std::iter::once(expr)
                                .chain(&from.alt_keys)
                                .filter_map(|e| match e {
                                    ScalarExpr::Column(c) => {
                                        let c = &from.scope.columns[*c];
                                        Some(if c.qualifier.is_empty() { c.name.clone() } else { format!("{}.{}", c.qualifier, c.name) })
                                    }
                                    _ => None,
                                })
                                .collect();
                            match named.as_slice() {
                                [init @ .., last] if !init.is_empty() => format!("the key of the result is missing from the projection: select one of the join expressions {} or {last}", init.join(", ")),
                                _ => "the key of the result is missing from the projection: select the key column (for a join, the join expression)".to_string(),
                            }
                        }
                    },
                )),
            })
            .collect::<Result<_>>()?;
        let mut exprs = vec![ScalarExpr::Column(0)];
        let mut columns = Vec::new();
        for (e, c) in keys.into_iter().chain(values) {
            check_unique(&columns, &c, q)?;
            exprs.push(e);
            columns.push(c);
        }
        if let Some(TableCalls { calls, .. }) = self.table_calls.borrow_mut().take() {
            if !calls.is_empty() {
                plan = Plan::FlatMap {
                    input: Box::new(plan),
                    calls,
                };
            }
        }
        // A windowed source's rows keep their window, after the columns.
        let window = from.left_source.window;
        if window.is_some() {
            if let Some((item, name)) = items.iter().find_map(|(e, alias)| match (&e.kind, alias) {
                (ExprKind::Column { name, .. }, None)
                    if matches!(name.normalized().as_str(), "WINDOWSTART" | "WINDOWEND") =>
                {
                    Some((e, name.normalized()))
                }
                _ => None,
            }) {
                return Err(SqlError::new(
                    item.pos,
                    format!("Reserved column name in select: `{name}`. Please remove or alias the column."),
                ));
            }
            if !q.partition_by.is_empty() {
                return Err(SqlError::new(
                    q.partition_by[0].pos,
                    "PARTITION BY over a windowed source is not supported yet",
                ));
            }
            // The (left) source's window bounds.
            let at = from
                .scope
                .columns
                .iter()
                .position(|c| c.system && c.name == "WINDOWSTART")
                .expect("a windowed source's scope has its bounds");
            exprs.extend([ScalarExpr::Column(at), ScalarExpr::Column(at + 1)]);
        }
        let plan = Plan::Map {
            input: Box::new(plan),
            exprs,
        };
        // A projection of a table is a table with the same key.
        Ok(BoundQuery {
            plan: QueryPlan {
                plan,
                kind: from.kind,
                columns,
                window,
            },
            left_source: from.left_source,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn aggregate_query<'s>(
        &'s self,
        q: &ast::Query,
        mut input: Plan,
        mut scope: Scope,
        items: Vec<(Expr, Option<Ident>)>,
        left_source: &'s Source,
        retracting: bool,
        window: Option<Window>,
    ) -> Result<BoundQuery<'s>> {
        if left_source.value_format == Format::Kafka && !q.group_by.is_empty() {
            return Err(SqlError::new(
                q.group_by[0].pos,
                format!(
                    "Source(s) {} are using the 'KAFKA' value format. This format does not yet support GROUP BY: declare the source with another VALUE_FORMAT",
                    left_source.name
                ),
            ));
        }
        let mut group = Vec::new();
        for g in &q.group_by {
            if contains_aggregate(g) {
                return Err(SqlError::new(
                    g.pos,
                    "GROUP BY cannot contain an aggregate function",
                ));
            }
            let t = self.expr(&scope, g)?;
            if t.ty.is_none() {
                return Err(SqlError::new(g.pos, "cannot GROUP BY NULL"));
            }
            group.push(t);
        }
        // A window adds WINDOWSTART and WINDOWEND to the input rows and to
        // the grouping: state is per key and window.
        let user_keys = group.len();
        if let Some(w) = window {
            input = Plan::Window {
                input: Box::new(input),
                window: w,
            };
            // Qualified like the input's own pseudo-columns (`s.WINDOWSTART`).
            let qualifier = scope
                .columns
                .first()
                .map(|c| c.qualifier.clone())
                .unwrap_or_default();
            for name in ["WINDOWSTART", "WINDOWEND"] {
                let at = scope.columns.len();
                scope.columns.push(ScopeColumn {
                    qualifier: qualifier.clone(),
                    name: name.into(),
                    ty: SqlType::BigInt,
                    system: true,
                });
                group.push(typed(ScalarExpr::Column(at), SqlType::BigInt));
            }
        }
        let mut ctx = AggContext {
            input: scope,
            group,
            aggregates: Vec::new(),
        };
        let mut keys: Vec<Option<Column>> = vec![None; user_keys];
        let mut values = Vec::new();
        let mut namer = Namer::new(&ctx.input);
        for (item, alias) in items.iter() {
            let bound = self.agg_expr(&mut ctx, item)?;
            let ty = bound.ty.clone().ok_or_else(|| {
                SqlError::new(
                    item.pos,
                    "cannot infer the type of NULL here: use CAST(NULL AS <type>)",
                )
            })?;
            let name = namer.name(item, alias.as_ref());
            match bound.expr {
                ScalarExpr::Column(c) if (1..=keys.len()).contains(&c) && keys[c - 1].is_some() => {
                    return Err(key_twice(
                        keys[c - 1].as_ref().map(|k| &k.name),
                        &name,
                        item.pos,
                    ))
                }
                ScalarExpr::Column(c) if (1..=keys.len()).contains(&c) => {
                    keys[c - 1] = Some(Column::new(name, ty, true))
                }
                e => values.push((e, Column::new(name, ty, false))),
            }
        }
        let having = match &q.having {
            Some(h) => {
                let t = self.agg_expr(&mut ctx, h)?;
                match t.ty {
                    Some(SqlType::Boolean) | None => Some(t.expr),
                    Some(other) => {
                        return Err(SqlError::new(
                            h.pos,
                            format!("HAVING needs a BOOLEAN condition, not {other}"),
                        ))
                    }
                }
            }
            None => None,
        };
        if window.is_some() {
            // As in ksqlDB, the window bounds are results, not inputs.
            let bounds_in =
                |e: &ScalarExpr, first: usize| e.references(first) || e.references(first + 1);
            let ws_input = ctx.input.columns.len() - 2;
            let in_aggregate = ctx
                .aggregates
                .iter()
                .filter_map(|a| a.arg.as_ref())
                .any(|a| bounds_in(a, ws_input));
            if in_aggregate || having.as_ref().is_some_and(|h| bounds_in(h, 1 + user_keys)) {
                return Err(SqlError::new(
                    pos_of_window_bound(q),
                    "Window bounds column WINDOWSTART can only be used in the SELECT clause of windowed aggregations",
                ));
            }
        }
        let mut exprs = vec![ScalarExpr::Column(0)];
        let mut columns = Vec::new();
        for (i, k) in keys.into_iter().enumerate() {
            let k = k.ok_or_else(|| {
                SqlError::new(
                    q.group_by[i].pos,
                    format!("the GROUP BY expression {} is missing from the projection: select it so it becomes the key", q.group_by[i]),
                )
            })?;
            check_unique(&columns, &k, q)?;
            exprs.push(ScalarExpr::Column(1 + i));
            columns.push(k);
        }
        for (e, c) in values {
            check_unique(&columns, &c, q)?;
            exprs.push(e);
            columns.push(c);
        }
        if retracting {
            if let Some(a) = ctx.aggregates.iter().find(|a| {
                matches!(
                    a.func,
                    AggregateFunc::LatestByOffset | AggregateFunc::EarliestByOffset
                )
            }) {
                let pos = q.group_by[0].pos;
                return Err(SqlError::new(
                    pos,
                    format!("{} over a table is not supported yet: a table's rows have no offset order once they can be retracted", a.func.name()),
                ));
            }
        }
        let mut plan = Plan::Aggregate {
            input: Box::new(input),
            group_key: ctx.group.into_iter().map(|g| g.expr).collect(),
            aggregates: ctx.aggregates,
            retracting,
        };
        if q.emit == Some(ast::Emit::Final) {
            plan = Plan::EmitFinal {
                input: Box::new(plan),
            };
        }
        if let Some(h) = having {
            plan = Plan::Filter {
                input: Box::new(plan),
                predicate: h,
            };
        }
        if window.is_some() {
            // The window bounds ride after the columns.
            exprs.push(ScalarExpr::Column(1 + user_keys));
            exprs.push(ScalarExpr::Column(2 + user_keys));
        }
        let plan = Plan::Map {
            input: Box::new(plan),
            exprs,
        };
        Ok(BoundQuery {
            plan: QueryPlan {
                plan,
                kind: SourceKind::Table,
                columns,
                window,
            },
            left_source,
        })
    }

    /// The relation `r`: a source, or a join of relations. A synthetic key
    /// column (`ROWKEY`, unqualified) that a later join step re-keyed away
    /// from is no longer the key: hidden from `SELECT *`, as in ksqlDB.
    fn from<'s>(&'s self, r: &Relation) -> Result<From<'s>> {
        let mut from = self.relation_step(r)?;
        for (i, c) in from.scope.columns.iter_mut().enumerate() {
            if c.qualifier.is_empty() && !c.system && from.key != [ScalarExpr::Column(i)] {
                c.system = true;
            }
        }
        Ok(from)
    }

    fn relation_step<'s>(&'s self, r: &Relation) -> Result<From<'s>> {
        match r {
            Relation::Source { name, alias } => {
                let source = self.lookup(name)?;
                if source.window.is_some() && source.kind == SourceKind::Table {
                    return Err(SqlError::new(
                        name.pos,
                        format!(
                            "{} is a windowed table: ddsql does not support queries on windowed tables (ksqlDB does not support persistent queries on windowed tables); read its topic as a stream with WINDOW_TYPE instead",
                            source.name
                        ),
                    ));
                }
                let qualifier = alias.as_ref().unwrap_or(name).normalized();
                let scope = Scope::for_source(source, &qualifier);
                let key = (0..source.key_arity())
                    .map(|i| ScalarExpr::Column(SYSTEM_COLUMNS.len() + i))
                    .collect();
                Ok(From {
                    plan: Plan::Scan {
                        source: source.name.clone(),
                    },
                    scope,
                    kind: source.kind,
                    key,
                    alt_keys: Vec::new(),
                    full: false,
                    left_source: source,
                })
            }
            Relation::Join {
                left,
                right,
                kind,
                within,
                on,
            } => {
                // ksqlDB joins left to right: `A JOIN B ... JOIN C` is
                // `(A JOIN B) JOIN C`, each step under its own rules.
                if matches!(**right, Relation::Join { .. }) {
                    return Err(SqlError::new(
                        right.pos(),
                        "the right side of a join must be a stream or a table: joins of more than two sources are written left to right (FROM a JOIN b ON ... JOIN c ON ...)",
                    ));
                }
                let chained = matches!(**left, Relation::Join { .. });
                let l = self.from(left)?;
                let r = self.from(right)?;
                let windowed = |f: &From| {
                    f.scope
                        .columns
                        .iter()
                        .any(|c| c.system && c.name == "WINDOWSTART")
                };
                // Windowed sources join as Kafka Streams joins windowed keys:
                // on the key and the window, so both need the same windows.
                let both_windowed = windowed(&l) && windowed(&r);
                if windowed(&l) || windowed(&r) {
                    let same = l.left_source.window == r.left_source.window;
                    if !(both_windowed && same && within.is_some()) {
                        return Err(SqlError::new(
                            on.pos,
                            "joins of windowed sources (WINDOW_TYPE) are supported only between two streams with the same windows, with WITHIN; other joins of them are not supported yet",
                        ));
                    }
                }
                if let Some(w) = within {
                    return self.stream_join(l, r, *kind, w, on);
                }
                if l.kind == SourceKind::Stream && r.kind == SourceKind::Stream {
                    return Err(SqlError::new(
                        on.pos,
                        "a join of two streams needs a window: add WITHIN <n> <unit> before ON",
                    ));
                }
                if (l.kind, r.kind) == (SourceKind::Table, SourceKind::Table) {
                    if chained && (*kind == JoinKind::Full || l.full) {
                        return Err(SqlError::new(
                            on.pos,
                            "a join of more than two tables cannot have a FULL OUTER step (ksqlDB refuses it too): write each FULL OUTER table-table join as a query of its own and join their results",
                        ));
                    }
                    return self.table_join(l, r, *kind, on);
                }
                match (l.kind, r.kind, kind) {
                    (SourceKind::Stream, SourceKind::Table, JoinKind::Inner | JoinKind::Left) => {}
                    (SourceKind::Stream, SourceKind::Table, _) => {
                        return Err(SqlError::new(on.pos, "a stream-table join is INNER or LEFT; RIGHT and FULL joins need two tables or two streams"))
                    }
                    (lk, rk, _) => {
                        return Err(SqlError::new(
                            on.pos,
                            format!("Invalid join order: a {lk} cannot be joined with a {rk} on its right; ksqlDB joins a stream with a table, so put the stream first (FROM <stream> JOIN <table>)"),
                        ))
                    }
                }
                let (left_width, scope) = joined_scope(&l, &r);
                // The condition must be `stream expression = table key`.
                let (a, b) = match &on.kind {
                    ExprKind::Binary { op: ast::BinaryOp::Eq, left, right } => (left.as_ref(), right.as_ref()),
                    _ => return Err(SqlError::new(on.pos, "a join condition must be an equality: ON <stream expression> = <table key column>")),
                };
                let ta = self.expr(&scope, a)?;
                let tb = self.expr(&scope, b)?;
                let table_key_pos: Vec<usize> = r
                    .key
                    .iter()
                    .map(|k| match k {
                        ScalarExpr::Column(c) => left_width + c,
                        _ => unreachable!("a table's key is its key columns"),
                    })
                    .collect();
                let is_table_key = |t: &Typed| matches!(&t.expr, ScalarExpr::Column(c) if table_key_pos.len() == 1 && *c == table_key_pos[0]);
                let only_left =
                    |t: &Typed| (left_width..scope.columns.len()).all(|c| !t.expr.references(c));
                let (stream_side, table_side) = if is_table_key(&tb) && only_left(&ta) {
                    (ta, tb)
                } else if is_table_key(&ta) && only_left(&tb) {
                    (tb, ta)
                } else {
                    return Err(SqlError::new(
                        on.pos,
                        format!("a stream-table join must be on the table's key column ({}) = an expression over the stream", r.left_source.key_columns().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")),
                    ));
                };
                let (se, _, _) = unify(stream_side.clone(), table_side.clone(), on.pos, "join on")?;
                if stream_side.ty != table_side.ty {
                    return Err(SqlError::new(
                        on.pos,
                        format!(
                            "join key types differ: {} on the stream, {} on the table; CAST the stream side",
                            stream_side.ty.map(|t| t.to_string()).unwrap_or("NULL".into()),
                            table_side.ty.map(|t| t.to_string()).unwrap_or("NULL".into())
                        ),
                    ));
                }
                let table_key = r
                    .key
                    .iter()
                    .map(|k| match k {
                        ScalarExpr::Column(c) => *c,
                        _ => unreachable!(),
                    })
                    .collect();
                let plan = Plan::StreamTableJoin {
                    stream: Box::new(l.plan),
                    stream_key: vec![se.clone()],
                    table: Box::new(r.plan),
                    table_key,
                    table_width: r.scope.columns.len(),
                    left: *kind == JoinKind::Left,
                };
                let alt_keys = alt_keys_after(&l.key, &l.alt_keys, &se, table_side.expr);
                Ok(From {
                    plan,
                    scope,
                    kind: SourceKind::Stream,
                    key: vec![se],
                    alt_keys,
                    full: false,
                    left_source: l.left_source,
                })
            }
        }
    }

    /// A windowed join of two streams: `ON <left expr> = <right expr>`, pairs
    /// whose ROWTIMEs are within the window.
    fn stream_join<'s>(
        &'s self,
        l: From<'s>,
        r: From<'s>,
        kind: JoinKind,
        within: &ast::Within,
        on: &Expr,
    ) -> Result<From<'s>> {
        if (l.kind, r.kind) != (SourceKind::Stream, SourceKind::Stream) {
            return Err(SqlError::new(on.pos, "WITHIN is for joins of two streams"));
        }
        let (left_width, scope) = joined_scope(&l, &r);
        let (a, b) = match &on.kind {
            ExprKind::Binary {
                op: ast::BinaryOp::Eq,
                left,
                right,
            } => (self.expr(&scope, left)?, self.expr(&scope, right)?),
            _ => return Err(SqlError::new(
                on.pos,
                "a join condition must be an equality: ON <left expression> = <right expression>",
            )),
        };
        let only = |t: &Typed, range: std::ops::Range<usize>| {
            (0..scope.columns.len())
                .filter(|c| !range.contains(c))
                .all(|c| !t.expr.references(c))
        };
        let width = scope.columns.len();
        // Each side reads one source: a constant (`ON L.A = NULL`) reads none.
        if [&a, &b]
            .iter()
            .any(|t| (0..width).all(|c| !t.expr.references(c)))
        {
            return Err(SqlError::new(
                on.pos,
                format!("Invalid comparison expression in join '{on}': each side of the join condition must use columns of exactly one source"),
            ));
        }
        let (lt, rt) = if only(&a, 0..left_width) && only(&b, left_width..width) {
            (a, b)
        } else if only(&b, 0..left_width) && only(&a, left_width..width) {
            (b, a)
        } else {
            return Err(SqlError::new(
                on.pos,
                "each side of the join condition must use columns of one stream",
            ));
        };
        let (le, re, ty) = unify(lt, rt.clone(), on.pos, "join on")?;
        // The right side's expressions read the right row alone.
        let re_right = shift_columns(&re, left_width);
        let mut left_key = vec![le.clone()];
        let mut right_key = vec![re_right];
        // Windowed rows match only within one window: its bounds end each
        // row (see `Scope::for_source`).
        if l.left_source.window.is_some() {
            let (lw, rw) = (l.scope.columns.len(), r.scope.columns.len());
            left_key.extend([ScalarExpr::Column(lw - 2), ScalarExpr::Column(lw - 1)]);
            right_key.extend([ScalarExpr::Column(rw - 2), ScalarExpr::Column(rw - 1)]);
        }
        let before = within.before.millis() as i64;
        let after = within.after.unwrap_or(within.before).millis() as i64;
        // Without GRACE PERIOD an outer join is eager (`Plan::StreamJoin`'s
        // `eager`: Kafka Streams' `JoinWindows.of`); the grace then only
        // bounds how long rows are kept for pairs, a day as in Kafka Streams.
        let grace = within
            .grace
            .map_or(Window::default_grace(before.saturating_add(after)), |g| {
                g.millis() as i64
            });
        let plan = Plan::StreamJoin {
            left: Box::new(l.plan),
            right: Box::new(r.plan),
            left_key,
            right_key,
            before_ms: before,
            after_ms: after,
            grace_ms: grace,
            eager: within.grace.is_none(),
            left_width,
            right_width: r.scope.columns.len(),
            kind,
        };
        // An expression an earlier step made equal to a column (`ON S1.ID =
        // ABS(S2.ID) ... ON ABS(S2.ID) = ...`) stands for that column here:
        // the key stays a column, not a synthetic one.
        let le = match l
            .key
            .iter()
            .chain(&l.alt_keys)
            .find(|e| matches!(e, ScalarExpr::Column(_)))
        {
            Some(c)
                if !matches!(le, ScalarExpr::Column(_))
                    && (l.key == [le.clone()] || l.alt_keys.contains(&le)) =>
            {
                c.clone()
            }
            _ => le,
        };
        let (plan, scope, key, alt) = join_key(plan, with_left_rowtime(scope), kind, le, re, ty);
        let alt_keys = match alt {
            Some(alt) => alt_keys_after(&l.key, &l.alt_keys, &key, alt),
            None => Vec::new(),
        };
        Ok(From {
            plan,
            scope,
            kind: SourceKind::Stream,
            key: vec![key],
            alt_keys,
            full: kind == JoinKind::Full,
            left_source: l.left_source,
        })
    }

    /// A join of two tables on their primary keys: `ON l.key = r.key`.
    fn table_join<'s>(
        &'s self,
        l: From<'s>,
        r: From<'s>,
        kind: JoinKind,
        on: &Expr,
    ) -> Result<From<'s>> {
        let (left_width, scope) = joined_scope(&l, &r);
        let (a, b) = match &on.kind {
            ExprKind::Binary {
                op: ast::BinaryOp::Eq,
                left,
                right,
            } => (self.expr(&scope, left)?, self.expr(&scope, right)?),
            _ => {
                return Err(SqlError::new(
                    on.pos,
                    "a table-table join condition must be ON <left key> = <right key>",
                ))
            }
        };
        let single = |f: &From<'_>, offset: usize| match f.key.as_slice() {
            [ScalarExpr::Column(c)] => Some(offset + c),
            _ => None,
        };
        let (lk, rk) = match (single(&l, 0), single(&r, left_width)) {
            (Some(lk), Some(rk)) => (lk, rk),
            _ => {
                return Err(SqlError::new(
                    on.pos,
                    "joins of tables with multi-column keys are not supported yet",
                ))
            }
        };
        let is = |t: &Typed, c: usize| matches!(t.expr, ScalarExpr::Column(x) if x == c);
        // In a chain, the left's key is any expression equal to it.
        let is_left_key = |t: &Typed| is(t, lk) || l.alt_keys.contains(&t.expr);
        if !is(&a, rk) && !is(&b, rk) {
            return Err(SqlError::new(
                on.pos,
                format!(
                    "Invalid join condition: table-table joins require to join on the primary key of the right input table ({}.{}); got {on}",
                    scope.columns[rk].qualifier, scope.columns[rk].name
                ),
            ));
        }
        if !((is_left_key(&a) && is(&b, rk)) || (is(&a, rk) && is_left_key(&b))) {
            let fk = if is(&b, rk) { a } else { b };
            return self.foreign_key_join(l, r, kind, fk, rk - left_width, left_width, on);
        }
        if scope.columns[lk].ty != scope.columns[rk].ty {
            return Err(SqlError::new(
                on.pos,
                format!(
                    "join key types differ: {} and {}",
                    scope.columns[lk].ty, scope.columns[rk].ty
                ),
            ));
        }
        let ty = Some(scope.columns[lk].ty.clone());
        let plan = Plan::TableJoin {
            left: Box::new(l.plan),
            right: Box::new(r.plan),
            left_key: lk,
            right_key: rk - left_width,
            left_width,
            right_width: r.scope.columns.len(),
            kind,
        };
        let (plan, scope, key, alt) = join_key(
            plan,
            with_left_rowtime(scope),
            kind,
            ScalarExpr::Column(lk),
            ScalarExpr::Column(rk),
            ty,
        );
        let alt_keys = match alt {
            Some(alt) => alt_keys_after(&l.key, &l.alt_keys, &key, alt),
            None => Vec::new(),
        };
        Ok(From {
            plan,
            scope,
            kind: SourceKind::Table,
            key: vec![key],
            alt_keys,
            full: kind == JoinKind::Full,
            left_source: l.left_source,
        })
    }

    /// A foreign-key join of two tables: `ON <expression over the left
    /// table> = <right table's primary key>`. The left table's rows are
    /// joined on the expression (computed into a hidden column after the
    /// left's own), so one right row meets every left row that references
    /// it; the result is keyed by the left table's key, as in ksqlDB. An
    /// update on either side changes exactly the rows it takes part in:
    /// a right row's update every left row referencing it, a left row's
    /// new foreign key its one row (differential's join, incremental both
    /// ways).
    #[allow(clippy::too_many_arguments)]
    fn foreign_key_join<'s>(
        &'s self,
        l: From<'s>,
        r: From<'s>,
        kind: JoinKind,
        fk: Typed,
        right_key: usize,
        left_width: usize,
        on: &Expr,
    ) -> Result<From<'s>> {
        let right_columns = left_width..left_width + r.scope.columns.len();
        if right_columns.clone().any(|c| fk.expr.references(c)) {
            return Err(SqlError::new(
                on.pos,
                format!("Invalid join condition: a table-table join is on the right table's primary key ({}) = the left table's primary key, or an expression over the left table's columns (a foreign-key join); got {on}", r.scope.columns[right_key].name),
            ));
        }
        if (0..left_width).all(|c| !fk.expr.references(c)) {
            return Err(SqlError::new(
                on.pos,
                format!("Invalid join condition: the left side of a foreign-key join must use the left table's columns; got {on}"),
            ));
        }
        if !matches!(kind, JoinKind::Inner | JoinKind::Left) {
            return Err(SqlError::new(
                on.pos,
                format!("a foreign-key table-table join is INNER or LEFT (ksqlDB supports no {} foreign-key join)", kind.name()),
            ));
        }
        let key_ty = r.scope.columns[right_key].ty.clone();
        if fk.ty.as_ref() != Some(&key_ty) {
            return Err(SqlError::new(
                on.pos,
                format!(
                    "join key types differ: {} on the left, {key_ty} as the right table's primary key; CAST the left side",
                    fk.ty.map(|t| t.to_string()).unwrap_or("NULL".into()),
                ),
            ));
        }
        let mut exprs: Vec<ScalarExpr> = (0..left_width).map(ScalarExpr::Column).collect();
        exprs.push(fk.expr);
        let mut left_scope = l.scope.clone();
        left_scope.columns.push(ScopeColumn {
            qualifier: String::new(),
            name: String::new(),
            ty: key_ty,
            system: true,
        });
        let left = From {
            plan: Plan::Map {
                input: Box::new(l.plan),
                exprs,
            },
            scope: left_scope,
            ..l
        };
        let (width, scope) = joined_scope(&left, &r);
        let plan = Plan::TableJoin {
            left: Box::new(left.plan),
            right: Box::new(r.plan),
            left_key: left_width,
            right_key,
            left_width: width,
            right_width: r.scope.columns.len(),
            kind,
        };
        Ok(From {
            plan,
            scope: with_left_rowtime(scope),
            kind: SourceKind::Table,
            key: left.key,
            alt_keys: left.alt_keys,
            full: false,
            left_source: left.left_source,
        })
    }

    /// A `HEADERS` or `HEADER('key')` column, of the type ksqlDB gives it,
    /// after the header columns `before`.
    fn header_column(
        &self,
        name: String,
        ty: SqlType,
        header: Header,
        before: &[Column],
        pos: Pos,
    ) -> Result<Column> {
        let (expected, what) = match &header {
            Header::All => (
                SqlType::Array(Box::new(SqlType::Struct(vec![
                    ("KEY".into(), SqlType::String),
                    ("VALUE".into(), SqlType::Bytes),
                ]))),
                "HEADERS".to_string(),
            ),
            Header::Key(k) => (SqlType::Bytes, format!("HEADER('{k}')")),
        };
        if ty != expected {
            return Err(SqlError::new(
                pos,
                format!("column {name}: a {what} column is {expected}, not {ty}"),
            ));
        }
        let clash = before.iter().find(|c| c.header.as_ref() == Some(&header));
        if let Some(other) = clash {
            return Err(SqlError::new(
                pos,
                format!(
                    "column {name}: column {} already holds {}; a source has at most one HEADERS column and one HEADER column per key",
                    other.name,
                    match &other.header {
                        Some(Header::Key(k)) => format!("header '{k}'"),
                        _ => "the headers".to_string(),
                    }
                ),
            ));
        }
        Ok(Column {
            header: Some(header),
            ..Column::new(name, ty, false)
        })
    }

    /// The SQL type `t` names, with the names `CREATE TYPE` registered
    /// replaced by their types.
    fn sql_type(&self, t: &ast::DataType) -> Result<SqlType> {
        use ast::DataType as D;
        Ok(match t {
            D::Scalar(t) => t.clone(),
            D::Array(t) => SqlType::Array(Box::new(self.sql_type(t)?)),
            D::Map(k, v) => SqlType::Map(Box::new(self.sql_type(k)?), Box::new(self.sql_type(v)?)),
            D::Struct(fields) => SqlType::Struct(
                fields
                    .iter()
                    .map(|(n, t)| Ok((n.clone(), self.sql_type(t)?)))
                    .collect::<Result<_>>()?,
            ),
            D::Named(name) => {
                let n = name.normalized();
                self.catalog.custom_type(&n).cloned().ok_or_else(|| {
                    SqlError::new(
                        name.pos,
                        format!(
                            "unknown type {n}: a type is BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL, STRING, BYTES, DATE, TIME, TIMESTAMP, ARRAY, MAP, STRUCT or a name CREATE TYPE registered{}",
                            type_hint(self.catalog, &n)
                        ),
                    )
                })?
            }
        })
    }

    fn predicate(&self, scope: &Scope, e: &Expr, clause: &str) -> Result<ScalarExpr> {
        if contains_aggregate(e) {
            return Err(SqlError::new(
                e.pos,
                format!("{clause} cannot contain an aggregate function; use HAVING"),
            ));
        }
        let t = self.expr(scope, e)?;
        match t.ty {
            Some(SqlType::Boolean) | None => Ok(t.expr),
            Some(other) => Err(SqlError::new(
                e.pos,
                format!("{clause} needs a BOOLEAN condition, not {other}"),
            )),
        }
    }

    // ---- expressions ----------------------------------------------------

    fn expr(&self, scope: &Scope, e: &Expr) -> Result<Typed> {
        self.expr_in(scope, None, e)
    }

    fn agg_expr(&self, ctx: &mut AggContext, e: &Expr) -> Result<Typed> {
        let scope = ctx.input.clone();
        self.expr_in(&scope, Some(ctx), e)
    }

    /// `EXPLODE(array)` or `CUBE_EXPLODE(array)` in a stream query's SELECT
    /// list: the call joins [`TableCalls`], and its value is the column the
    /// query's [`Plan::FlatMap`] fills.
    fn table_call(&self, scope: &Scope, func: TableFunc, args: &[Expr], pos: Pos) -> Result<Typed> {
        let name = func.name();
        let refuse = |why: String| SqlError::new(pos, format!("{name} is a table function: {why}"));
        // Taken while the argument binds, so a table function inside it is refused.
        let Some(mut ctx) = self.table_calls.borrow_mut().take() else {
            return Err(refuse("Table functions are supported only in the SELECT list of a query over a stream, without GROUP BY, and not inside another table function's argument".into()));
        };
        if scope.columns.len() != ctx.first {
            *self.table_calls.borrow_mut() = Some(ctx);
            return Err(refuse("it cannot be called inside a lambda".into()));
        }
        let bound = match args {
            [arg] => self.expr(scope, arg),
            _ => Err(refuse(format!(
                "it takes one ARRAY argument, not {}",
                args.len()
            ))),
        };
        let result = bound.and_then(|t| match t.ty {
            Some(SqlType::Array(element)) => {
                let ty = match func {
                    TableFunc::Explode => *element,
                    TableFunc::CubeExplode => SqlType::Array(element),
                };
                ctx.calls.push((func, t.expr));
                Ok(typed(
                    ScalarExpr::Column(ctx.first + ctx.calls.len() - 1),
                    ty,
                ))
            }
            Some(other) => Err(refuse(format!("it takes an ARRAY, not {other}"))),
            None => Err(refuse("it takes an ARRAY, not an untyped NULL".into())),
        });
        *self.table_calls.borrow_mut() = Some(ctx);
        result
    }

    /// Binds `e` over `scope`; inside an aggregating projection (`agg`),
    /// over the aggregate's output instead.
    fn expr_in(&self, scope: &Scope, mut agg: Option<&mut AggContext>, e: &Expr) -> Result<Typed> {
        if let Some(ctx) = agg.as_deref_mut() {
            if !contains_aggregate(e) {
                if let Ok(plain) = self.expr_in(scope, None, e) {
                    if let Some(j) = ctx.group.iter().position(|g| g.expr == plain.expr) {
                        return Ok(Typed {
                            expr: ScalarExpr::Column(1 + j),
                            ty: plain.ty,
                        });
                    }
                    if !(0..scope.columns.len()).any(|c| plain.expr.references(c)) {
                        return Ok(plain);
                    }
                }
            }
        }
        let pos = e.pos;
        match &e.kind {
            ExprKind::Column { qualifier, name } => {
                if agg.is_some() {
                    let full = match qualifier {
                        Some(q) => format!("{}.{}", q.normalized(), name.normalized()),
                        None => name.normalized(),
                    };
                    // Resolve first so unknown names get the better error.
                    scope.resolve(qualifier.as_ref(), name)?;
                    return Err(SqlError::new(
                        pos,
                        format!(
                            "column {full} must be in GROUP BY or inside an aggregate function"
                        ),
                    ));
                }
                let (i, ty) = scope.resolve(qualifier.as_ref(), name)?;
                Ok(typed(ScalarExpr::Column(i), ty))
            }
            ExprKind::Literal(l) => literal_value(l, pos),
            ExprKind::Binary { op, left, right } => {
                let l = self.expr_in(scope, agg.as_deref_mut(), left)?;
                let r = self.expr_in(scope, agg, right)?;
                self.binary(*op, l, r, pos)
            }
            ExprKind::Unary { op, expr } => {
                let t = self.expr_in(scope, agg, expr)?;
                match op {
                    ast::UnaryOp::Not => {
                        expect_type(&t, &SqlType::Boolean, expr.pos, "NOT")?;
                        Ok(typed(
                            ScalarExpr::Unary(UnaryFunc::Not, Box::new(t.expr)),
                            SqlType::Boolean,
                        ))
                    }
                    ast::UnaryOp::Minus | ast::UnaryOp::Plus => {
                        let ty = t.ty.clone().unwrap_or(SqlType::Int);
                        if !ty.is_numeric() {
                            return Err(SqlError::new(
                                expr.pos,
                                format!("unary minus needs a number, not {ty}"),
                            ));
                        }
                        if *op == ast::UnaryOp::Plus {
                            return Ok(t);
                        }
                        if let ScalarExpr::Literal(v) = &t.expr {
                            let v = eval::negate(v)
                                .map_err(|err| SqlError::new(pos, err.to_string()))?;
                            return Ok(typed(ScalarExpr::Literal(v), ty));
                        }
                        Ok(typed(
                            ScalarExpr::Unary(UnaryFunc::Negate, Box::new(t.expr)),
                            ty,
                        ))
                    }
                }
            }
            ExprKind::IsNull { expr, negated } => {
                let t = self.expr_in(scope, agg, expr)?;
                let f = if *negated {
                    UnaryFunc::IsNotNull
                } else {
                    UnaryFunc::IsNull
                };
                Ok(typed(
                    ScalarExpr::Unary(f, Box::new(t.expr)),
                    SqlType::Boolean,
                ))
            }
            ExprKind::Deref { expr, field } => {
                let t = self.expr_in(scope, agg, expr)?;
                let fields = match &t.ty {
                    Some(SqlType::Struct(fields)) => fields,
                    Some(other) => {
                        return Err(SqlError::new(
                            field.pos,
                            format!("-> needs a STRUCT on its left, not {other}"),
                        ))
                    }
                    None => {
                        return Err(SqlError::new(
                            field.pos,
                            "-> needs a STRUCT on its left, not NULL",
                        ))
                    }
                };
                let name = field.normalized();
                let index = fields
                    .iter()
                    .position(|(n, _)| *n == name)
                    .or_else(|| {
                        let mut ci = fields
                            .iter()
                            .enumerate()
                            .filter(|(_, (n, _))| n.eq_ignore_ascii_case(&name));
                        match (ci.next(), ci.next()) {
                            (Some((i, _)), None) => Some(i),
                            _ => None,
                        }
                    })
                    .ok_or_else(|| {
                        let hint = closest(&name, fields.iter().map(|(n, _)| n.as_str()))
                            .map(|c| format!("; did you mean {c}?"))
                            .unwrap_or_default();
                        SqlError::new(field.pos, format!("the struct has no field {name}{hint}"))
                    })?;
                let ty = fields[index].1.clone();
                Ok(typed(ScalarExpr::Field(Box::new(t.expr), index), ty))
            }
            ExprKind::Subscript { expr, index } => {
                let base = self.expr_in(scope, agg.as_deref_mut(), expr)?;
                let idx = self.expr_in(scope, agg, index)?;
                match base.ty.clone() {
                    Some(SqlType::Array(elem)) => {
                        expect_type(&idx, &SqlType::Int, index.pos, "an array index")?;
                        Ok(typed(
                            ScalarExpr::Subscript(Box::new(base.expr), Box::new(idx.expr)),
                            *elem,
                        ))
                    }
                    Some(SqlType::Map(k, v)) => {
                        let key = cast_to(idx, &k);
                        Ok(typed(
                            ScalarExpr::Subscript(Box::new(base.expr), Box::new(key)),
                            *v,
                        ))
                    }
                    other => Err(SqlError::new(
                        expr.pos,
                        format!(
                            "[] needs an ARRAY or MAP, not {}",
                            other.map(|t| t.to_string()).unwrap_or("NULL".into())
                        ),
                    )),
                }
            }
            ExprKind::Function { name, args, star } => {
                let fname = name.value.to_uppercase();
                if let Some(func) = TableFunc::from_name(&fname) {
                    return self.table_call(scope, func, args, pos);
                }
                if let Some(func) = LambdaFunc::from_name(&fname) {
                    if agg.is_some() {
                        return Err(SqlError::new(pos, format!("{fname} in an aggregate query is not supported yet, except as a GROUP BY expression")));
                    }
                    return self.lambda_call(scope, func, args, pos);
                }
                if let Some(func) = AggregateFunc::from_name(&fname) {
                    let ctx = agg.ok_or_else(|| {
                        SqlError::new(pos, format!("aggregate function {fname} needs GROUP BY"))
                    })?;
                    return self.aggregate_call(ctx, func, &fname, args, *star, pos);
                }
                let mut bound = Vec::new();
                for (i, a) in args.iter().enumerate() {
                    // `TIMESTAMPADD(SECONDS, ...)`: the unit is a keyword.
                    if i == 0 && functions::TIME_UNIT_FUNCTIONS.contains(&fname.as_str()) {
                        if let ExprKind::Column {
                            qualifier: None,
                            name,
                        } = &a.kind
                        {
                            if functions::datetime::time_unit_ms(&name.value).is_none() {
                                return Err(SqlError::new(
                                    name.pos,
                                    format!(
                                        "{fname}: unknown time unit {}; use MILLISECONDS, SECONDS, MINUTES, HOURS or DAYS",
                                        name.value
                                    ),
                                ));
                            }
                            bound.push(typed(
                                ScalarExpr::Literal(Value::String(name.value.to_uppercase())),
                                SqlType::String,
                            ));
                            continue;
                        }
                    }
                    bound.push(self.expr_in(scope, agg.as_deref_mut(), a)?);
                }
                if fname == "TO_JSON_STRING" {
                    let [arg] = bound.as_slice() else {
                        return Err(SqlError::new(
                            name.pos,
                            "TO_JSON_STRING takes one argument",
                        ));
                    };
                    let ty = arg.ty.clone().unwrap_or(SqlType::String);
                    return Ok(typed(
                        ScalarExpr::Render(Box::new(arg.expr.clone()), ty, Rendering::Json),
                        SqlType::String,
                    ));
                }
                let types: Vec<Option<SqlType>> = bound.iter().map(|t| t.ty.clone()).collect();
                let resolved = functions::resolve(&fname, &types).map_err(|m| {
                    if functions::lookup(&fname).is_none() {
                        let hint = closest(&fname, functions::registry().iter().map(|f| f.name))
                            .map(|c| format!("; did you mean {c}?"))
                            .unwrap_or_default();
                        SqlError::new(name.pos, format!("{m}{hint}"))
                    } else {
                        SqlError::new(name.pos, m)
                    }
                })?;
                let args: Vec<ScalarExpr> = bound
                    .into_iter()
                    .zip(&resolved.casts)
                    .map(|(t, c)| match c {
                        Some(ty) => cast_to(t, ty),
                        None => t.expr,
                    })
                    .collect();
                let args = if matches!(resolved.func, ScalarFunc::Random | ScalarFunc::Uuid)
                    && args.is_empty()
                {
                    // Seeded by the whole input row (see the functions'
                    // docs), so the value is the same on every evaluation.
                    if agg.is_some() {
                        return Err(SqlError::new(
                            pos,
                            format!("{fname}() in an aggregate query is not supported yet"),
                        ));
                    }
                    (0..scope.columns.len()).map(ScalarExpr::Column).collect()
                } else {
                    args
                };
                Ok(typed(ScalarExpr::Call(resolved.func, args), resolved.ty))
            }
            ExprKind::Case {
                operand,
                whens,
                else_,
            } => {
                let operand = match operand {
                    Some(o) => Some((self.expr_in(scope, agg.as_deref_mut(), o)?, o.pos)),
                    None => None,
                };
                let mut conds = Vec::new();
                let mut results: Vec<(Typed, Pos)> = Vec::new();
                for (w, t) in whens {
                    let wt = self.expr_in(scope, agg.as_deref_mut(), w)?;
                    let cond = match &operand {
                        Some((o, opos)) => {
                            self.binary(ast::BinaryOp::Eq, o.clone(), wt, *opos)?.expr
                        }
                        None => {
                            expect_type(&wt, &SqlType::Boolean, w.pos, "WHEN")?;
                            wt.expr
                        }
                    };
                    conds.push(cond);
                    results.push((self.expr_in(scope, agg.as_deref_mut(), t)?, t.pos));
                }
                let else_t = match else_ {
                    Some(e) => (self.expr_in(scope, agg, e)?, e.pos),
                    None => (
                        Typed {
                            expr: ScalarExpr::Literal(Value::Null),
                            ty: None,
                        },
                        pos,
                    ),
                };
                results.push(else_t);
                let ty = common_type(&results, "mix the CASE results")?;
                let cast = |t: Typed| match &ty {
                    Some(ty) => cast_to(t, ty),
                    None => t.expr,
                };
                let else_ = Box::new(cast(results.pop().unwrap().0));
                let whens = conds
                    .into_iter()
                    .zip(results.into_iter().map(|(r, _)| cast(r)))
                    .collect();
                Ok(Typed {
                    expr: ScalarExpr::Case { whens, else_ },
                    ty,
                })
            }
            ExprKind::Cast { expr, data_type } => {
                let data_type = &self.sql_type(data_type)?;
                let t = self.expr_in(scope, agg, expr)?;
                if let Some(from) = &t.ty {
                    if !eval::can_cast(from, data_type) {
                        return Err(SqlError::new(
                            pos,
                            format!("cannot cast {from} to {data_type}"),
                        ));
                    }
                }
                if *data_type == SqlType::String && t.ty.as_ref().is_some_and(holds_struct) {
                    let ty = t.ty.clone().expect("checked");
                    return Ok(typed(
                        ScalarExpr::Render(Box::new(t.expr), ty, Rendering::Cast),
                        SqlType::String,
                    ));
                }
                Ok(typed(cast_struct(t, data_type), data_type.clone()))
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                let t = self.expr_in(scope, agg.as_deref_mut(), expr)?;
                let mut acc: Option<ScalarExpr> = None;
                for item in list {
                    let it = self.expr_in(scope, agg.as_deref_mut(), item)?;
                    let eq = self
                        .binary(ast::BinaryOp::Eq, t.clone(), it, item.pos)?
                        .expr;
                    acc = Some(match acc {
                        None => eq,
                        Some(a) => ScalarExpr::Binary(BinaryFunc::Or, Box::new(a), Box::new(eq)),
                    });
                }
                let e = acc.expect("IN lists are non-empty");
                let e = if *negated {
                    ScalarExpr::Unary(UnaryFunc::Not, Box::new(e))
                } else {
                    e
                };
                Ok(typed(e, SqlType::Boolean))
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let t = self.expr_in(scope, agg.as_deref_mut(), expr)?;
                let lo = self.expr_in(scope, agg.as_deref_mut(), low)?;
                let hi = self.expr_in(scope, agg, high)?;
                let ge = self
                    .binary(ast::BinaryOp::GtEq, t.clone(), lo, low.pos)?
                    .expr;
                let le = self.binary(ast::BinaryOp::LtEq, t, hi, high.pos)?.expr;
                let e = ScalarExpr::Binary(BinaryFunc::And, Box::new(ge), Box::new(le));
                let e = if *negated {
                    ScalarExpr::Unary(UnaryFunc::Not, Box::new(e))
                } else {
                    e
                };
                Ok(typed(e, SqlType::Boolean))
            }
            ExprKind::Like { expr, pattern, escape, negated } => {
                let t = self.expr_in(scope, agg.as_deref_mut(), expr)?;
                let p = self.expr_in(scope, agg, pattern)?;
                expect_type(&t, &SqlType::String, expr.pos, "LIKE")?;
                expect_type(&p, &SqlType::String, pattern.pos, "a LIKE pattern")?;
                let escape = match escape.as_deref().map(|e| e.chars().collect::<Vec<_>>()) {
                    None => None,
                    Some(chars) if chars.len() == 1 => Some(chars[0]),
                    Some(_) => return Err(SqlError::new(pattern.pos, "ESCAPE takes a single character")),
                };
                let e = ScalarExpr::Like(Box::new(t.expr), Box::new(p.expr), escape);
                let e = if *negated { ScalarExpr::Unary(UnaryFunc::Not, Box::new(e)) } else { e };
                Ok(typed(e, SqlType::Boolean))
            }
            ExprKind::IsDistinctFrom { left, right, negated } => {
                let l = self.expr_in(scope, agg.as_deref_mut(), left)?;
                let r = self.expr_in(scope, agg, right)?;
                let (a, b, _) = unify(l, r, pos, "compare")?;
                let e = ScalarExpr::Binary(BinaryFunc::IsDistinct, Box::new(a), Box::new(b));
                let e = if *negated { ScalarExpr::Unary(UnaryFunc::Not, Box::new(e)) } else { e };
                Ok(typed(e, SqlType::Boolean))
            }
            ExprKind::Array(items) => {
                let mut bound = Vec::new();
                for item in items {
                    bound.push((self.expr_in(scope, agg.as_deref_mut(), item)?, item.pos));
                }
                coerce_elements(&mut bound);
                let ty = common_type(&bound, "mix the ARRAY elements")?.ok_or_else(|| {
                    SqlError::new(pos, "cannot infer the element type of ARRAY[] or an array of NULLs; CAST an element")
                })?;
                let items = bound.into_iter().map(|(t, _)| cast_to(t, &ty)).collect();
                Ok(typed(ScalarExpr::MakeArray(items), SqlType::Array(Box::new(ty))))
            }
            ExprKind::Map(entries) => {
                let (mut keys, mut values) = (Vec::new(), Vec::new());
                for (k, v) in entries {
                    keys.push((self.expr_in(scope, agg.as_deref_mut(), k)?, k.pos));
                    values.push((self.expr_in(scope, agg.as_deref_mut(), v)?, v.pos));
                }
                coerce_elements(&mut keys);
                coerce_elements(&mut values);
                let kt = common_type(&keys, "mix the MAP keys")?.ok_or_else(|| SqlError::new(pos, "cannot infer the key type of an empty MAP(); CAST it"))?;
                let vt = common_type(&values, "mix the MAP values")?.ok_or_else(|| SqlError::new(pos, "cannot infer the value type of MAP(); CAST a value"))?;
                let entries = keys
                    .into_iter()
                    .zip(values)
                    .map(|((k, _), (v, _))| (cast_to(k, &kt), cast_to(v, &vt)))
                    .collect();
                Ok(typed(ScalarExpr::MakeMap(entries), SqlType::Map(Box::new(kt), Box::new(vt))))
            }
            ExprKind::Struct(fields) => {
                let mut types = Vec::new();
                let mut exprs = Vec::new();
                for (name, v) in fields {
                    let t = self.expr_in(scope, agg.as_deref_mut(), v)?;
                    let ty = t.ty.clone().ok_or_else(|| {
                        SqlError::new(v.pos, format!("cannot infer the type of field {}: CAST the NULL", name.normalized()))
                    })?;
                    if types.iter().any(|(n, _)| *n == name.normalized()) {
                        return Err(SqlError::new(name.pos, format!("field {} appears twice", name.normalized())));
                    }
                    types.push((name.normalized(), ty));
                    exprs.push(t.expr);
                }
                Ok(typed(ScalarExpr::MakeStruct(exprs), SqlType::Struct(types)))
            }
            ExprKind::Lambda { .. } => Err(SqlError::new(pos, "a lambda can only be an argument of a function such as TRANSFORM, FILTER or REDUCE")),
        }
    }

    /// `TRANSFORM(c, x => ...)`, `TRANSFORM(map, (k, v) => ..., (k, v) => ...)`,
    /// `FILTER(c, x => ...)`, `REDUCE(c, init, (acc, x) => ...)` over an
    /// array or map `c` (a map's lambdas take its key and value).
    fn lambda_call(
        &self,
        scope: &Scope,
        func: LambdaFunc,
        args: &[Expr],
        pos: Pos,
    ) -> Result<Typed> {
        let name = func.name();
        let usage = || {
            SqlError::new(
                pos,
                format!(
                    "{name} takes {}",
                    match func {
                        LambdaFunc::Transform => "an array and x => ..., or a map and (k, v) => <key>, (k, v) => <value>",
                        LambdaFunc::Filter => "an array and x => <condition>, or a map and (k, v) => <condition>",
                        LambdaFunc::Reduce => "an array or map, an initial state and (state, x) => ... or (state, k, v) => ...",
                    }
                ),
            )
        };
        let Some(first) = args.first() else {
            return Err(usage());
        };
        let input = self.expr(scope, first)?;
        let elements = match &input.ty {
            Some(SqlType::Array(t)) => vec![(**t).clone()],
            Some(SqlType::Map(k, v)) => vec![(**k).clone(), (**v).clone()],
            Some(other) => {
                return Err(SqlError::new(
                    first.pos,
                    format!("{name} needs an ARRAY or MAP, not {other}"),
                ))
            }
            None => {
                return Err(SqlError::new(
                    first.pos,
                    format!("{name} of an untyped NULL: CAST it"),
                ))
            }
        };
        let (init, lambdas) = match func {
            LambdaFunc::Reduce if args.len() == 3 => {
                let init = self.expr(scope, &args[1])?;
                if init.ty.is_none() {
                    return Err(SqlError::new(
                        args[1].pos,
                        "REDUCE's initial state is an untyped NULL: CAST it",
                    ));
                }
                (Some(init), &args[2..])
            }
            LambdaFunc::Transform if elements.len() == 2 && args.len() == 3 => (None, &args[1..]),
            LambdaFunc::Transform | LambdaFunc::Filter if args.len() == 2 => (None, &args[1..]),
            _ => return Err(usage()),
        };
        let mut param_types: Vec<SqlType> = init.iter().filter_map(|i| i.ty.clone()).collect();
        param_types.extend(elements.iter().cloned());
        let params_at = scope.columns.len();
        let mut bodies = Vec::new();
        for l in lambdas {
            let ExprKind::Lambda { params, body } = &l.kind else {
                return Err(usage());
            };
            if params.len() != param_types.len() {
                return Err(SqlError::new(
                    l.pos,
                    format!(
                        "this lambda of {name} takes {} parameter(s), not {}",
                        param_types.len(),
                        params.len()
                    ),
                ));
            }
            let mut inner = scope.clone();
            for (p, ty) in params.iter().zip(&param_types) {
                inner.columns.push(ScopeColumn {
                    qualifier: LAMBDA_QUALIFIER.into(),
                    name: p.normalized(),
                    ty: ty.clone(),
                    system: false,
                });
            }
            bodies.push(self.expr(&inner, body)?);
        }
        let ty = match func {
            LambdaFunc::Filter => {
                expect_type(
                    &bodies[0],
                    &SqlType::Boolean,
                    lambdas[0].pos,
                    "FILTER's lambda",
                )?;
                input.ty.clone().expect("typed above")
            }
            LambdaFunc::Transform => {
                let typed_body = |b: &Typed, at: &Expr| {
                    b.ty.clone().ok_or_else(|| {
                        SqlError::new(at.pos, "the lambda returns an untyped NULL: CAST it")
                    })
                };
                match elements.len() {
                    1 => SqlType::Array(Box::new(typed_body(&bodies[0], &lambdas[0])?)),
                    _ => SqlType::Map(
                        Box::new(typed_body(&bodies[0], &lambdas[0])?),
                        Box::new(typed_body(&bodies[1], &lambdas[1])?),
                    ),
                }
            }
            LambdaFunc::Reduce => {
                let state = param_types[0].clone();
                check_assignable(&bodies[0], &state, lambdas[0].pos)?;
                let body = bodies.pop().expect("one body");
                bodies.push(typed(cast_struct(body, &state), state.clone()));
                state
            }
        };
        Ok(typed(
            ScalarExpr::Lambda {
                func,
                input: Box::new(input.expr),
                init: init.map(|i| Box::new(i.expr)),
                params_at,
                bodies: bodies.into_iter().map(|b| b.expr).collect(),
            },
            ty,
        ))
    }

    fn aggregate_call(
        &self,
        ctx: &mut AggContext,
        func: AggregateFunc,
        fname: &str,
        args: &[Expr],
        star: bool,
        pos: Pos,
    ) -> Result<Typed> {
        use AggregateFunc as A;
        if let Some(nested) = args.iter().find(|a| contains_aggregate(a)) {
            return Err(SqlError::new(
                nested.pos,
                "aggregate functions cannot be nested",
            ));
        }
        let signatures = || {
            functions::lookup(fname)
                .map(|f| f.signatures.join(" or "))
                .unwrap_or_default()
        };
        let wrong =
            |what: String| SqlError::new(pos, format!("{fname} {what}; it takes {}", signatures()));
        // COUNT(*) and COUNT() count rows.
        if star || (func == A::Count && args.is_empty()) {
            if func != A::Count {
                return Err(SqlError::new(
                    pos,
                    format!("{fname}(*) is not allowed; only COUNT(*)"),
                ));
            }
            let call = AggregateCall {
                func,
                arg: None,
                ty: SqlType::BigInt,
                n: None,
                ignore_nulls: true,
            };
            return Ok(self.push_aggregate(ctx, call));
        }
        let Some(first) = args.first() else {
            return Err(wrong("needs an argument".into()));
        };
        let mut arg = self.expr(&ctx.input, first)?;
        // CORRELATION(x, y) carries both numbers in one STRUCT argument.
        if func == A::Correlation {
            let [_, second] = args else {
                return Err(wrong(format!("takes two arguments, not {}", args.len())));
            };
            let y = self.expr(&ctx.input, second)?;
            let mut fields = Vec::new();
            for t in [arg, y] {
                if !t.ty.as_ref().is_some_and(SqlType::is_numeric) {
                    return Err(wrong(format!("needs numbers, not {}", show_ty(&t.ty))));
                }
                fields.push(cast_to(t, &SqlType::Double));
            }
            let call = AggregateCall {
                func,
                arg: Some(ScalarExpr::MakeStruct(fields)),
                ty: SqlType::Double,
                n: None,
                ignore_nulls: true,
            };
            return Ok(self.push_aggregate(ctx, call));
        }
        let arg_ty = arg.ty.clone();
        // TOPK(value, col0, col1, ..., k) ranks by `value` and carries the
        // other columns along: each kept item is a STRUCT<sort_col, col0, ...>.
        let mut literals = &args[1..];
        let mut carried = Vec::new();
        if func == A::TopK && args.len() > 2 {
            let (middle, last) = args[1..].split_at(args.len() - 2);
            for c in middle {
                carried.push(self.expr(&ctx.input, c)?);
            }
            literals = last;
        }
        // Literal parameters after the value: an INT count and/or a BOOLEAN.
        let mut n = None;
        let mut ignore_nulls = true;
        for extra in literals {
            match literal_value_of(extra) {
                Some(Value::Int(k))
                    if n.is_none()
                        && k > 0
                        && matches!(
                            func,
                            A::LatestByOffset | A::EarliestByOffset | A::TopK | A::TopKDistinct
                        ) =>
                {
                    n = Some(k as usize)
                }
                Some(Value::Boolean(b))
                    if matches!(func, A::LatestByOffset | A::EarliestByOffset) =>
                {
                    ignore_nulls = b
                }
                _ => return Err(wrong(format!("does not take {extra} there"))),
            }
        }
        if matches!(func, A::TopK | A::TopKDistinct) && n.is_none() {
            return Err(wrong("needs the number of values to keep".into()));
        }
        let orderable = |t: &Option<SqlType>| {
            matches!(
                t,
                Some(
                    SqlType::Int
                        | SqlType::BigInt
                        | SqlType::Double
                        | SqlType::Decimal { .. }
                        | SqlType::String
                        | SqlType::Date
                        | SqlType::Time
                        | SqlType::Timestamp
                        | SqlType::Bytes
                )
            )
        };
        let known = |t: &Option<SqlType>| {
            t.clone().ok_or_else(|| {
                SqlError::new(pos, format!("cannot infer the type of {fname}(NULL)"))
            })
        };
        let array = |t: SqlType| SqlType::Array(Box::new(t));
        let ty = match func {
            A::Count | A::CountDistinct => SqlType::BigInt,
            A::Sum => match &arg_ty {
                Some(t) if t.is_numeric() => t.clone(),
                other => return Err(wrong(format!("needs a number, not {}", show_ty(other)))),
            },
            A::Avg => match &arg_ty {
                Some(t) if t.is_numeric() => SqlType::Double,
                other => return Err(wrong(format!("needs a number, not {}", show_ty(other)))),
            },
            A::Min | A::Max | A::TopK | A::TopKDistinct if !orderable(&arg_ty) => {
                return Err(wrong(format!("does not accept {}", show_ty(&arg_ty))))
            }
            A::Min | A::Max => known(&arg_ty)?,
            A::TopK if !carried.is_empty() => {
                let mut fields = vec![("sort_col".to_string(), known(&arg_ty)?)];
                let mut exprs = vec![arg.expr];
                for (i, c) in carried.into_iter().enumerate() {
                    fields.push((format!("col{i}"), known(&c.ty)?));
                    exprs.push(c.expr);
                }
                arg = typed(
                    ScalarExpr::MakeStruct(exprs),
                    SqlType::Struct(fields.clone()),
                );
                array(SqlType::Struct(fields))
            }
            A::TopK | A::TopKDistinct | A::CollectList | A::CollectSet => array(known(&arg_ty)?),
            A::LatestByOffset | A::EarliestByOffset if n.is_some() => array(known(&arg_ty)?),
            A::LatestByOffset | A::EarliestByOffset | A::Attr => known(&arg_ty)?,
            A::StddevSamp => match &arg_ty {
                Some(SqlType::Int | SqlType::BigInt | SqlType::Double) => SqlType::Double,
                other => {
                    return Err(wrong(format!(
                        "needs an INT, BIGINT or DOUBLE, not {}",
                        show_ty(other)
                    )))
                }
            },
            A::Histogram => match &arg_ty {
                Some(SqlType::String) => {
                    SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::BigInt))
                }
                other => return Err(wrong(format!("needs a STRING, not {}", show_ty(other)))),
            },
            A::Correlation => unreachable!("bound above"),
            A::SumList => match &arg_ty {
                Some(SqlType::Array(e))
                    if matches!(**e, SqlType::Int | SqlType::BigInt | SqlType::Double) =>
                {
                    (**e).clone()
                }
                other => {
                    return Err(wrong(format!(
                        "needs an ARRAY of INT, BIGINT or DOUBLE, not {}",
                        show_ty(other)
                    )))
                }
            },
        };
        let call = AggregateCall {
            func,
            arg: Some(arg.expr),
            ty,
            n,
            ignore_nulls,
        };
        Ok(self.push_aggregate(ctx, call))
    }

    fn push_aggregate(&self, ctx: &mut AggContext, call: AggregateCall) -> Typed {
        let ty = call.ty.clone();
        let index = match ctx.aggregates.iter().position(|c| *c == call) {
            Some(i) => i,
            None => {
                ctx.aggregates.push(call);
                ctx.aggregates.len() - 1
            }
        };
        typed(ScalarExpr::Column(1 + ctx.group.len() + index), ty)
    }

    fn binary(&self, op: ast::BinaryOp, l: Typed, r: Typed, pos: Pos) -> Result<Typed> {
        use ast::BinaryOp as B;
        let func = match op {
            B::And => BinaryFunc::And,
            B::Or => BinaryFunc::Or,
            B::Eq => BinaryFunc::Eq,
            B::NotEq => BinaryFunc::NotEq,
            B::Lt => BinaryFunc::Lt,
            B::LtEq => BinaryFunc::LtEq,
            B::Gt => BinaryFunc::Gt,
            B::GtEq => BinaryFunc::GtEq,
            B::Plus => BinaryFunc::Add,
            B::Minus => BinaryFunc::Sub,
            B::Multiply => BinaryFunc::Mul,
            B::Divide => BinaryFunc::Div,
            B::Modulo => BinaryFunc::Mod,
            B::Concat => BinaryFunc::Concat,
        };
        // ksqlDB concatenates strings with + as with ||.
        let func = match (func, &l.ty, &r.ty) {
            (BinaryFunc::Add, Some(SqlType::String), Some(SqlType::String)) => BinaryFunc::Concat,
            (f, _, _) => f,
        };
        let literal_null = |t: &Typed| t.ty.is_none();
        match func {
            BinaryFunc::Eq
            | BinaryFunc::NotEq
            | BinaryFunc::Lt
            | BinaryFunc::LtEq
            | BinaryFunc::Gt
            | BinaryFunc::GtEq
                if literal_null(&l) && literal_null(&r) =>
            {
                Err(SqlError::new(
                    pos,
                    format!("Comparison with NULL not supported: NULL {} NULL is always NULL; use IS NULL", op.symbol()),
                ))
            }
            BinaryFunc::And | BinaryFunc::Or => {
                expect_type(&l, &SqlType::Boolean, pos, op.symbol())?;
                expect_type(&r, &SqlType::Boolean, pos, op.symbol())?;
                Ok(typed(
                    ScalarExpr::Binary(func, Box::new(l.expr), Box::new(r.expr)),
                    SqlType::Boolean,
                ))
            }
            BinaryFunc::Eq
            | BinaryFunc::NotEq
            | BinaryFunc::Lt
            | BinaryFunc::LtEq
            | BinaryFunc::Gt
            | BinaryFunc::GtEq => {
                let (a, b, ty) = unify(l, r, pos, "compare")?;
                if let Some(SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)) = ty {
                    if !matches!(func, BinaryFunc::Eq | BinaryFunc::NotEq) {
                        return Err(SqlError::new(
                            pos,
                            format!("cannot order values of type {}", show_ty(&ty)),
                        ));
                    }
                }
                Ok(typed(
                    ScalarExpr::Binary(func, Box::new(a), Box::new(b)),
                    SqlType::Boolean,
                ))
            }
            BinaryFunc::Concat => {
                expect_type(&l, &SqlType::String, pos, "||")?;
                expect_type(&r, &SqlType::String, pos, "||")?;
                Ok(typed(
                    ScalarExpr::Binary(func, Box::new(l.expr), Box::new(r.expr)),
                    SqlType::String,
                ))
            }
            _ => {
                let (a, b, ty) = unify(l, r, pos, &format!("apply {} to", op.symbol()))?;
                let ty = ty.unwrap_or(SqlType::Int);
                match ty {
                    SqlType::Int | SqlType::BigInt | SqlType::Double => {}
                    SqlType::Decimal { .. }
                        if func != BinaryFunc::Div && func != BinaryFunc::Mod => {}
                    other => {
                        return Err(SqlError::new(
                            pos,
                            format!("cannot apply {} to {other}", op.symbol()),
                        ))
                    }
                }
                Ok(typed(
                    ScalarExpr::Binary(func, Box::new(a), Box::new(b)),
                    ty,
                ))
            }
        }
    }
}

/// The scope of a join: the left relation's columns, then the right's; and
/// where the right ones start.
/// The scope of a stream-stream or table-table join's rows: column 0 holds
/// the later of the two rows' ROWTIMEs (the result's time), so it gets no
/// name, and the left row's own ROWTIME, which the join appends to each row,
/// is what `left.ROWTIME` names.
/// The key of a join's rows, and the other expression equal to it, from
/// the join's two sides `l = r` (over the joined row): a side an outer join
/// keeps is never NULL, so its expression is the key (the left one when
/// both are). A FULL join keeps both, so neither is; like ksqlDB, it keys
/// its rows by a new column, `ROWKEY` (`ROWKEY_1`, ... when a source has a
/// `ROWKEY`), whichever of the two is not NULL, appended to the plan's
/// rows and visible unqualified.
fn join_key(
    plan: Plan,
    scope: Scope,
    kind: JoinKind,
    l: ScalarExpr,
    r: ScalarExpr,
    ty: Option<SqlType>,
) -> (Plan, Scope, ScalarExpr, Option<ScalarExpr>) {
    let column = |e: &ScalarExpr| matches!(e, ScalarExpr::Column(_));
    match kind {
        // Either key may be missing: the synthetic key is whichever is set.
        JoinKind::Full => {
            let key = ScalarExpr::Call(ScalarFunc::Coalesce, vec![l, r]);
            synthetic_key(plan, scope, key, ty)
        }
        // "Any join where all expressions used in the join ON criteria are
        // not simple column references" has a synthetic key too (ksqlDB's
        // synthetic-keys page): the join key's value, from the side whose
        // rows the join keeps.
        JoinKind::Right if !column(&l) && !column(&r) => synthetic_key(plan, scope, r, ty),
        _ if !column(&l) && !column(&r) => synthetic_key(plan, scope, l, ty),
        JoinKind::Inner | JoinKind::Left => (plan, scope, l, Some(r)),
        JoinKind::Right => (plan, scope, r, Some(l)),
    }
}

/// A join's synthetic key: `key` computed into a column after the joined
/// row's, unqualified, named ROWKEY (ROWKEY_1, ... if a source has a column
/// of that name). An earlier step's synthetic key is superseded by it.
fn synthetic_key(
    plan: Plan,
    mut scope: Scope,
    key: ScalarExpr,
    ty: Option<SqlType>,
) -> (Plan, Scope, ScalarExpr, Option<ScalarExpr>) {
    for c in scope.columns.iter_mut() {
        if c.qualifier.is_empty() && !c.name.is_empty() {
            c.name = String::new();
            c.system = true;
        }
    }
    let name = std::iter::once("ROWKEY".to_string())
        .chain((1..).map(|i| format!("ROWKEY_{i}")))
        .find(|n| scope.columns.iter().all(|c| &c.name != n))
        .expect("an unused name");
    let width = scope.columns.len();
    let mut exprs: Vec<ScalarExpr> = (0..width).map(ScalarExpr::Column).collect();
    exprs.push(key);
    scope.columns.push(ScopeColumn {
        qualifier: String::new(),
        name,
        ty: ty.unwrap_or(SqlType::String),
        system: false,
    });
    let plan = Plan::Map {
        input: Box::new(plan),
        exprs,
    };
    (plan, scope, ScalarExpr::Column(width), None)
}

fn with_left_rowtime(mut scope: Scope) -> Scope {
    let left = scope.columns[0].clone();
    scope.columns[0].name = String::new();
    scope.columns.push(left);
    scope
}

fn joined_scope(l: &From<'_>, r: &From<'_>) -> (usize, Scope) {
    let mut scope = l.scope.clone();
    scope.columns.extend(r.scope.columns.iter().cloned());
    (l.scope.columns.len(), scope)
}

/// `e` with every column reference moved down by `by` (to evaluate an
/// expression over the right half of a joined row on the right row alone).
fn shift_columns(e: &ScalarExpr, by: usize) -> ScalarExpr {
    let s = |e: &ScalarExpr| Box::new(shift_columns(e, by));
    match e {
        ScalarExpr::Column(c) => ScalarExpr::Column(c - by),
        ScalarExpr::Literal(v) => ScalarExpr::Literal(v.clone()),
        ScalarExpr::Unary(f, x) => ScalarExpr::Unary(*f, s(x)),
        ScalarExpr::Binary(f, a, b) => ScalarExpr::Binary(*f, s(a), s(b)),
        ScalarExpr::Field(x, i) => ScalarExpr::Field(s(x), *i),
        ScalarExpr::Subscript(a, b) => ScalarExpr::Subscript(s(a), s(b)),
        ScalarExpr::Case { whens, else_ } => ScalarExpr::Case {
            whens: whens
                .iter()
                .map(|(w, t)| (shift_columns(w, by), shift_columns(t, by)))
                .collect(),
            else_: s(else_),
        },
        ScalarExpr::Cast(x, t) => ScalarExpr::Cast(s(x), t.clone()),
        ScalarExpr::Render(x, t, r) => ScalarExpr::Render(s(x), t.clone(), *r),
        ScalarExpr::Call(f, args) => {
            ScalarExpr::Call(*f, args.iter().map(|a| shift_columns(a, by)).collect())
        }
        ScalarExpr::Like(a, b, c) => ScalarExpr::Like(s(a), s(b), *c),
        ScalarExpr::MakeArray(items) => {
            ScalarExpr::MakeArray(items.iter().map(|a| shift_columns(a, by)).collect())
        }
        ScalarExpr::MakeMap(entries) => ScalarExpr::MakeMap(
            entries
                .iter()
                .map(|(k, v)| (shift_columns(k, by), shift_columns(v, by)))
                .collect(),
        ),
        ScalarExpr::MakeStruct(items) => {
            ScalarExpr::MakeStruct(items.iter().map(|a| shift_columns(a, by)).collect())
        }
        // Parameters are columns after the row's, so they move with it.
        ScalarExpr::Lambda {
            func,
            input,
            init,
            params_at,
            bodies,
        } => ScalarExpr::Lambda {
            func: *func,
            input: s(input),
            init: init.as_ref().map(|i| s(i)),
            params_at: params_at - by,
            bodies: bodies.iter().map(|b| shift_columns(b, by)).collect(),
        },
    }
}

/// The type all of `items` widen to; `None` when all are NULL.
/// ksqlDB's implicit coercions among the elements of an ARRAY or MAP
/// constructor, applied before their common type is taken:
///
/// * numbers mixed with string literals that read as numbers
///   (`ARRAY[10, '2e1', b]`) all become one DECIMAL wide enough for each,
///   or DOUBLE when a DOUBLE is among them;
/// * structs with different fields become one struct with every field
///   (`STRUCT(x := 1)` and `STRUCT(y := 2)` make `STRUCT<X, Y>`), the
///   fields a value lacks being NULL.
///
/// Anything else is left for [`common_type`] to accept or refuse.
fn coerce_elements(items: &mut [(Typed, Pos)]) {
    let types: Vec<&SqlType> = items.iter().filter_map(|(t, _)| t.ty.as_ref()).collect();
    if types.is_empty() {
        return;
    }
    if types.iter().all(|t| matches!(t, SqlType::Struct(_))) {
        let mut union: Vec<(String, SqlType)> = Vec::new();
        for t in &types {
            let SqlType::Struct(fields) = t else { continue };
            for (name, ty) in fields {
                match union.iter_mut().find(|(n, _)| n == name) {
                    None => union.push((name.clone(), ty.clone())),
                    Some((_, have)) if have == ty => {}
                    Some((_, have)) => match (numeric_rank(have), numeric_rank(ty)) {
                        (Some(a), Some(b)) if b > a => *have = ty.clone(),
                        (Some(_), Some(_)) => {}
                        // Not coercible: leave it to common_type's error.
                        _ => return,
                    },
                }
            }
        }
        let union = SqlType::Struct(union);
        for (t, _) in items.iter_mut() {
            if t.ty.is_some() && t.ty.as_ref() != Some(&union) {
                *t = typed(cast_struct(t.clone(), &union), union.clone());
            }
        }
        return;
    }
    let literal_number = |t: &Typed| match &t.expr {
        ScalarExpr::Literal(Value::String(s)) => eval::parse_decimal(s),
        _ => None,
    };
    let has_literals = items.iter().any(|(t, _)| literal_number(t).is_some());
    let all_numbers = items
        .iter()
        .all(|(t, _)| t.ty.as_ref().is_none_or(SqlType::is_numeric) || literal_number(t).is_some());
    if !has_literals || !all_numbers || !types.iter().any(|t| t.is_numeric()) {
        return;
    }
    // Digits before and after the point that the DECIMAL must hold.
    let (mut whole, mut scale, mut double) = (0u8, 0u8, false);
    for (t, _) in items.iter() {
        let (w, s) = match (&t.ty, literal_number(t)) {
            (_, Some((u, s))) => (
                (u.unsigned_abs().to_string().len() as u8)
                    .saturating_sub(s)
                    .max(1),
                s,
            ),
            (Some(SqlType::Int), _) => (10, 0),
            (Some(SqlType::BigInt), _) => (19, 0),
            (Some(SqlType::Decimal { precision, scale }), _) => (precision - scale, *scale),
            (Some(SqlType::Double), _) => {
                double = true;
                (0, 0)
            }
            _ => (0, 0),
        };
        whole = whole.max(w);
        scale = scale.max(s);
    }
    let target = if double {
        SqlType::Double
    } else {
        SqlType::Decimal {
            precision: (whole + scale).min(38),
            scale,
        }
    };
    for (t, _) in items.iter_mut() {
        if let Some((u, s)) = literal_number(t) {
            let v = eval::cast(&Value::Decimal(u, s), &target).unwrap_or(Value::Null);
            *t = typed(ScalarExpr::Literal(v), target.clone());
        }
    }
}

fn common_type(items: &[(Typed, Pos)], what: &str) -> Result<Option<SqlType>> {
    let mut acc: Option<SqlType> = None;
    for (t, pos) in items {
        acc = match (&acc, &t.ty) {
            (None, ty) => ty.clone(),
            (Some(a), Some(b)) if a != b => {
                let (_, _, u) = unify(
                    typed(ScalarExpr::Literal(Value::Null), a.clone()),
                    t.clone(),
                    *pos,
                    what,
                )?;
                u
            }
            (a, _) => a.clone(),
        };
    }
    Ok(acc)
}

/// The value of a literal argument, such as the `2` of `LATEST_BY_OFFSET(x, 2)`.
fn literal_value_of(e: &Expr) -> Option<Value> {
    match &e.kind {
        ExprKind::Literal(l) => match literal_value(l, e.pos).ok()?.expr {
            ScalarExpr::Literal(v) => Some(v),
            _ => None,
        },
        _ => None,
    }
}

fn show_ty(t: &Option<SqlType>) -> String {
    t.as_ref()
        .map(|t| t.to_string())
        .unwrap_or_else(|| "NULL".into())
}

fn expect_type(t: &Typed, want: &SqlType, pos: Pos, what: &str) -> Result<()> {
    match &t.ty {
        None => Ok(()),
        Some(ty) if ty == want => Ok(()),
        Some(ty) => Err(SqlError::new(pos, format!("{what} needs {want}, not {ty}"))),
    }
}

fn check_assignable(t: &Typed, to: &SqlType, pos: Pos) -> Result<()> {
    match &t.ty {
        None => Ok(()),
        Some(from) if from == to => Ok(()),
        Some(from)
            if numeric_rank(from).is_some()
                && numeric_rank(to).is_some()
                && numeric_rank(from) <= numeric_rank(to) =>
        {
            Ok(())
        }
        // Arrays, maps and structs whose parts widen to the column's
        // (`STRUCT(order_id := 1)` into a STRUCT<order_id BIGINT>).
        Some(from)
            if coerced_type(from, to).as_ref() == Some(to)
                && (matches!(to, SqlType::Struct(_)) || !holds_struct(to)) =>
        {
            Ok(())
        }
        Some(from) => Err(SqlError::new(
            pos,
            format!("a {from} value cannot be stored in a {to} column"),
        )),
    }
}

fn check_unique(columns: &[Column], c: &Column, q: &ast::Query) -> Result<()> {
    if columns.iter().any(|o| o.name == c.name) {
        let pos = q.projection.iter().find_map(|i| match i {
            SelectItem::Expr { expr, .. } => Some(expr.pos),
            _ => None,
        });
        return Err(SqlError::new(
            pos.unwrap_or_default(),
            format!(
                "the result has two columns named {}: give one a different name with AS",
                c.name
            ),
        ));
    }
    Ok(())
}

/// The error for a key selected twice (`SELECT K, K AS K2`): a key is one
/// column of the result.
fn key_twice(first: Option<&String>, second: &str, pos: Pos) -> SqlError {
    SqlError::new(
        pos,
        format!(
            "The projection contains a key column more than once: `{}` and `{second}`; select it once",
            first.map_or("?", |f| f.as_str())
        ),
    )
}

/// What a query's sink must have, as ksqlDB requires: a value column, and
/// no value column named like a pseudo-column (it would be shadowed when
/// read; `PARTITION BY ROWTIME` makes a key column of that name).
fn check_sink_columns(columns: &[Column], pos: Pos) -> Result<()> {
    if columns.iter().all(|c| c.key) {
        return Err(SqlError::new(
            pos,
            "The projection contains no value columns: select at least one column that is not the key",
        ));
    }
    if let Some(c) = columns.iter().find(|c| {
        !c.key
            && [
                "ROWTIME",
                "ROWPARTITION",
                "ROWOFFSET",
                "WINDOWSTART",
                "WINDOWEND",
            ]
            .contains(&c.name.as_str())
    }) {
        return Err(SqlError::new(
            pos,
            format!(
                "`{}` is a reserved column name (a pseudo-column's): remove the column or give it another name with AS",
                c.name
            ),
        ));
    }
    Ok(())
}

/// What ksqlDB refuses to write, refused when the source is created
/// rather than at its first record: MAPs in keys (their serialisation is
/// not canonical, so equal keys could differ in bytes), MAPs with non-STRING
/// keys in AVRO or JSON, and AVRO field names Avro does not allow.
fn check_serializable(source: &Source, pos: Pos) -> Result<()> {
    fn has_map(ty: &SqlType) -> bool {
        match ty {
            SqlType::Map(..) => true,
            SqlType::Array(t) => has_map(t),
            SqlType::Struct(fields) => fields.iter().any(|(_, t)| has_map(t)),
            _ => false,
        }
    }
    fn non_string_map_key(ty: &SqlType) -> bool {
        match ty {
            SqlType::Map(k, v) => **k != SqlType::String || non_string_map_key(v),
            SqlType::Array(t) => non_string_map_key(t),
            SqlType::Struct(fields) => fields.iter().any(|(_, t)| non_string_map_key(t)),
            _ => false,
        }
    }
    fn bad_avro_name(name: &str, ty: &SqlType) -> Option<String> {
        let mut chars = name.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Some(name.to_string());
        }
        match ty {
            SqlType::Struct(fields) => fields.iter().find_map(|(n, t)| bad_avro_name(n, t)),
            SqlType::Array(t) | SqlType::Map(_, t) => bad_avro_name("ITEM", t),
            _ => None,
        }
    }
    for c in &source.columns {
        let format = if c.key {
            source.key_format
        } else {
            source.value_format
        };
        if c.key && has_map(&c.ty) {
            return Err(SqlError::new(pos, format!(
                "Map keys, including types that contain maps, are not supported as they may lead to unexpected behavior due to inconsistent serialization. Key column name: `{}`. Column type: {}",
                c.name, c.ty
            )));
        }
        let named = match format {
            Format::Avro => Some("Avro"),
            Format::Json | Format::JsonSr => Some("JSON"),
            _ => None,
        };
        if let Some(named) = named.filter(|_| non_string_map_key(&c.ty)) {
            return Err(SqlError::new(
                pos,
                format!(
                    "{named} only supports MAP types with STRING keys: column {} is {}",
                    c.name, c.ty
                ),
            ));
        }
        if format == Format::Avro {
            if let Some(bad) = bad_avro_name(&c.name, &c.ty) {
                return Err(SqlError::new(pos, format!(
                    "Schema is not compatible with Avro: the name '{bad}' (in column {}) must start with a letter or _ and hold only letters, digits and _",
                    c.name
                )));
            }
        }
    }
    Ok(())
}

/// ksqlDB's names for projection items without an alias (its
/// `AstSanitizer`): a column keeps its name, except that in a join a name
/// more than one source has becomes `SOURCE_NAME`; a dereference takes its
/// field's name, made unique with `_1`, `_2`, ... against the sources'
/// columns and the names given so far; anything else is the next
/// `KSQL_COL_<n>` that no source column has.
///
/// For `SELECT B, A->B, C->B, ABS(B)` over columns `B, A, C, KSQL_COL_0`
/// the names are `B, B_1, B_2, KSQL_COL_1`.
struct Namer {
    used: HashSet<String>,
    sources: HashSet<String>,
    /// In a join, the names of columns that more than one source has.
    clashing: HashSet<String>,
    generated: usize,
}

impl Namer {
    fn new(scope: &Scope) -> Namer {
        let mut owners: HashMap<&str, HashSet<&str>> = HashMap::new();
        for c in scope.columns.iter().filter(|c| !c.system) {
            owners.entry(&c.name).or_default().insert(&c.qualifier);
        }
        let sources: HashSet<String> = owners.keys().map(|n| n.to_string()).collect();
        // Every source of a join has its own ROWTIME: `S1.ROWTIME` is
        // named S1_ROWTIME there, as any column two sources share.
        for c in scope
            .columns
            .iter()
            .filter(|c| c.system && !c.qualifier.is_empty())
        {
            owners.entry(&c.name).or_default().insert(&c.qualifier);
        }
        Namer {
            used: sources.clone(),
            clashing: owners
                .iter()
                .filter(|(_, q)| q.len() > 1)
                .map(|(n, _)| n.to_string())
                .collect(),
            sources,
            generated: 0,
        }
    }

    fn name(&mut self, e: &Expr, alias: Option<&Ident>) -> String {
        let name = match (alias, &e.kind) {
            (Some(a), _) => a.normalized(),
            (None, ExprKind::Column { qualifier, name }) => {
                let name = name.normalized();
                match qualifier {
                    Some(q) if self.clashing.contains(&name) => {
                        format!("{}_{name}", q.normalized())
                    }
                    _ => name,
                }
            }
            (None, ExprKind::Deref { field, .. }) => {
                let field = field.normalized();
                let mut name = field.clone();
                let mut n = 0;
                while self.used.contains(&name) {
                    n += 1;
                    name = format!("{field}_{n}");
                }
                name
            }
            (None, _) => loop {
                let name = format!("KSQL_COL_{}", self.generated);
                self.generated += 1;
                if !self.sources.contains(&name) {
                    break name;
                }
            },
        };
        self.used.insert(name.clone());
        name
    }
}

/// `*` and `x.*` expand to the non-system columns, as columns, those at
/// positions `keys_last` after the others.
fn expand_projection(
    binder: &Binder<'_>,
    items: &[SelectItem],
    scope: &Scope,
    keys_last: &[usize],
) -> Result<Vec<(Expr, Option<Ident>)>> {
    let mut out = Vec::new();
    for item in items {
        match item {
            SelectItem::Expr { expr, alias } => out.push((expr.clone(), alias.clone())),
            SelectItem::StructAll(expr) => {
                let fields = match binder.expr(scope, expr)?.ty {
                    Some(SqlType::Struct(fields)) => fields,
                    other => {
                        return Err(SqlError::new(
                            expr.pos,
                            format!("->* needs a STRUCT, not {}", show_ty(&other)),
                        ))
                    }
                };
                for (name, _) in fields {
                    let field = Ident {
                        value: name,
                        quoted: true,
                        pos: expr.pos,
                    };
                    let deref = ExprKind::Deref {
                        expr: Box::new(expr.clone()),
                        field,
                    };
                    out.push((Expr::new(deref, expr.pos), None));
                }
            }
            SelectItem::Wildcard(pos) | SelectItem::QualifiedWildcard(Ident { pos, .. }) => {
                let q = match item {
                    SelectItem::QualifiedWildcard(q) => Some(q.normalized()),
                    _ => None,
                };
                let before = out.len();
                // A join's synthetic key (unqualified) comes first, as the
                // key does in ksqlDB's `SELECT *`.
                let (synthetic, sourced): (Vec<&ScopeColumn>, Vec<&ScopeColumn>) = scope
                    .columns
                    .iter()
                    .filter(|c| !c.system)
                    .partition(|c| c.qualifier.is_empty());
                let columns: Vec<&ScopeColumn> = match &q {
                    Some(q) => sourced.into_iter().filter(|c| &c.qualifier == q).collect(),
                    None => [synthetic, sourced].concat(),
                };
                let last = |c: &ScopeColumn| {
                    keys_last
                        .iter()
                        .any(|&i| std::ptr::eq(&scope.columns[i], c))
                };
                let (mut columns, keys): (Vec<&ScopeColumn>, Vec<&ScopeColumn>) =
                    columns.into_iter().partition(|c| !last(c));
                columns.extend(keys);
                for c in columns {
                    let mk = |v: &str| Ident {
                        value: v.to_string(),
                        quoted: true,
                        pos: *pos,
                    };
                    let expr = Expr::new(
                        ExprKind::Column {
                            qualifier: (!c.qualifier.is_empty()).then(|| mk(&c.qualifier)),
                            name: mk(&c.name),
                        },
                        *pos,
                    );
                    // In a join, ksqlDB names starred columns ALIAS_COLUMN.
                    let alias = if scope.qualifiers().count() > 1 && !c.qualifier.is_empty() {
                        Some(mk(&format!("{}_{}", c.qualifier, c.name)))
                    } else {
                        None
                    };
                    out.push((expr, alias));
                }
                if out.len() == before {
                    return Err(SqlError::new(
                        *pos,
                        format!(
                            "{} matches no columns",
                            q.map(|q| format!("{q}.*")).unwrap_or("*".into())
                        ),
                    ));
                }
            }
        }
    }
    Ok(out)
}

struct From<'a> {
    plan: Plan,
    scope: Scope,
    kind: SourceKind,
    /// The key of rows coming out of this relation.
    key: Vec<ScalarExpr>,
    /// Other expressions equal to the key: in a join, the other sides of
    /// each step that joined on it (`A.ID = B.ID ... = C.ID`: B.ID, C.ID),
    /// any of which the projection may select as the key.
    alt_keys: Vec<ScalarExpr>,
    /// Whether a step of this relation is a FULL OUTER join.
    full: bool,
    /// The left-most source: the defaults of CREATE ... AS come from it.
    left_source: &'a Source,
}

/// The expressions equal to `key`, the key of a join step over a relation
/// keyed by `left_key` (and `left_alts`, equal to it) whose other side is
/// `other`: if the step joined on the relation's key (or one equal to it),
/// all of those stay equal to the new key.
fn alt_keys_after(
    left_key: &[ScalarExpr],
    left_alts: &[ScalarExpr],
    key: &ScalarExpr,
    other: ScalarExpr,
) -> Vec<ScalarExpr> {
    let mut out = Vec::new();
    if left_key.len() == 1 && (left_key[0] == *key || left_alts.contains(key)) {
        out.extend(
            left_key
                .iter()
                .chain(left_alts)
                .filter(|e| *e != key)
                .cloned(),
        );
    }
    if other != *key && !out.contains(&other) {
        out.push(other);
    }
    out
}

struct BoundQuery<'a> {
    plan: QueryPlan,
    left_source: &'a Source,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binds the one statement `sql` against `catalog`, with no topics.
    fn bind_one(catalog: &Catalog, sql: &str) -> Result<BoundStatement> {
        let parsed = crate::parser::parse(sql).unwrap().remove(0);
        bind(
            catalog,
            &crate::catalog::NoTopics,
            &BTreeMap::new(),
            &parsed,
        )
    }

    #[test]
    fn explain_binds_what_has_a_query_and_names_what_has_none() {
        let mut catalog = Catalog::default();
        for sql in [
            "create stream s (k int key, v int) with (kafka_topic='s', value_format='JSON', partitions=1)",
            "create stream t as select k, v + 1 as w from s",
        ] {
            let b = bind_one(&catalog, sql).unwrap();
            catalog.apply(&b);
        }
        match bind_one(&catalog, "explain csas_t_0").unwrap() {
            BoundStatement::Explain {
                query, sink, sql, ..
            } => {
                assert_eq!(query.as_deref(), Some("CSAS_T_0"));
                assert_eq!(sink.as_deref(), Some("T"));
                assert_eq!(sql, "create stream t as select k, v + 1 as w from s");
            }
            other => panic!("{other:?}"),
        }
        match bind_one(
            &catalog,
            "explain\n  select k, v from s where v > 2 emit changes",
        )
        .unwrap()
        {
            BoundStatement::Explain {
                query: None,
                sink: None,
                sql,
                plan,
            } => {
                assert_eq!(sql, "select k, v from s where v > 2 emit changes");
                assert_eq!(
                    crate::explain::tree(&plan.plan),
                    "Map #0, #3, #4\n  Filter (#4 > 2)\n    Scan S\n"
                );
            }
            other => panic!("{other:?}"),
        }
        let e = bind_one(&catalog, "explain select v from s emit changes").unwrap_err();
        assert_eq!((e.pos.line, e.pos.column), (1, 16), "the projection: {e}");
        let e = bind_one(&catalog, "explain drop stream t").unwrap_err();
        assert!(
            e.message.contains("EXPLAIN shows the plan of a query")
                && e.message.contains("not DROP"),
            "{e}"
        );
        let e = bind_one(&catalog, "explain csas_t_9").unwrap_err();
        assert!(
            e.message
                .contains("no running query has the id CSAS_T_9; did you mean CSAS_T_0?"),
            "{e}"
        );
        // Nothing is created by explaining a CREATE ... AS SELECT.
        let b = bind_one(&catalog, "explain create stream u as select * from s").unwrap();
        catalog.apply(&b);
        assert!(catalog.source("U").is_none());
    }

    #[test]
    fn decimals_of_different_scales_compare_exactly() {
        let a = typed(
            ScalarExpr::Column(0),
            SqlType::Decimal {
                precision: 3,
                scale: 1,
            },
        );
        let b = typed(
            ScalarExpr::Column(1),
            SqlType::Decimal {
                precision: 4,
                scale: 2,
            },
        );
        let (x, y, ty) = unify(a, b, Pos::default(), "compare").unwrap();
        let eq = ScalarExpr::Binary(BinaryFunc::Eq, Box::new(x), Box::new(y));
        // 1.3 and 1.25: rounding 1.25 to one decimal place would make them equal.
        assert_eq!(
            eval::eval(&eq, &[Value::Decimal(13, 1), Value::Decimal(125, 2)]).unwrap(),
            Value::Boolean(false)
        );
        assert_eq!(
            eval::eval(&eq, &[Value::Decimal(13, 1), Value::Decimal(130, 2)]).unwrap(),
            Value::Boolean(true)
        );
        assert_eq!(
            ty,
            Some(SqlType::Decimal {
                precision: 4,
                scale: 2
            })
        );
    }

    #[test]
    fn custom_types_stand_for_their_types_wherever_a_type_goes() {
        let mut catalog = Catalog::default();
        let run = |catalog: &mut Catalog, sql: &str| {
            let b = bind_one(catalog, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            catalog.apply(&b);
            b
        };
        run(
            &mut catalog,
            "create type address as struct<street string, `zip` int>",
        );
        // A type may name another; both resolve when registered.
        run(
            &mut catalog,
            "create type `Book` as map<string, array<ADDRESS>>",
        );
        let address = SqlType::Struct(vec![
            ("STREET".into(), SqlType::String),
            ("zip".into(), SqlType::Int),
        ]);
        assert_eq!(catalog.custom_type("ADDRESS"), Some(&address));
        run(
            &mut catalog,
            "create stream s (k int key, home address, book `Book`) with (kafka_topic='s', value_format='JSON', partitions=1)",
        );
        let columns: Vec<String> = catalog
            .source("S")
            .unwrap()
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.ty))
            .collect();
        assert_eq!(
            columns,
            [
                "K INTEGER",
                "HOME STRUCT<`STREET` STRING, `zip` INTEGER>",
                "BOOK MAP<STRING, ARRAY<STRUCT<`STREET` STRING, `zip` INTEGER>>>"
            ]
        );
        match run(
            &mut catalog,
            "select k, cast(null as address) as a from s emit changes",
        ) {
            BoundStatement::Select { plan, .. } => assert_eq!(plan.columns[1].ty, address),
            other => panic!("{other:?}"),
        }
        // Registering a name twice, a built-in name or an unknown name fails
        // where the name is.
        let error = |catalog: &Catalog, sql: &str| bind_one(catalog, sql).unwrap_err();
        let e = error(&catalog, "create type address as int");
        assert!(
            e.message.contains("already registered with type: STRUCT<"),
            "{e}"
        );
        assert!(matches!(
            bind_one(&catalog, "create type if not exists address as int"),
            Ok(BoundStatement::Unchanged { .. })
        ));
        let e = error(&catalog, "create type varchar as int");
        assert!(e.message.contains("name of a built-in type"), "{e}");
        let e = error(&catalog, "create stream t (k int key, a adress) with (kafka_topic='t', value_format='JSON', partitions=1)");
        assert!(
            e.message.contains("unknown type ADRESS")
                && e.message.contains("did you mean ADDRESS?"),
            "{e}"
        );
        assert_eq!((e.pos.line, e.pos.column), (1, 31));
        // Dropping a type leaves what was declared with it.
        run(&mut catalog, "drop type address");
        assert_eq!(catalog.custom_type("ADDRESS"), None);
        assert_eq!(catalog.source("S").unwrap().columns[1].ty, address);
        let e = error(&catalog, "drop type address");
        assert!(e.message.contains("Type 'ADDRESS' does not exist"), "{e}");
        assert!(matches!(
            bind_one(&catalog, "drop type if exists address"),
            Ok(BoundStatement::Unchanged { .. })
        ));
    }
}
