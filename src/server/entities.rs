//! ksqlDB's REST entities: the JSON shapes `/ksql` answers with, built from
//! the catalog, so ksqlDB's clients and scripts read them unchanged.
//!
//! Every entity carries `@type`, `statementText` and `warnings`; see
//! `reference/ksqldb.md` (a) for the catalogue of shapes.

use serde_json::{json, Map, Value as Json};

use ddsql_sql::ast::ShowKind;
use ddsql_sql::binder::BoundStatement;
use ddsql_sql::catalog::{Header, Source, SourceKind};
use ddsql_sql::functions;
use ddsql_sql::types::SqlType;

use crate::session::{command_id, Executed, Session};

/// An error body: `generic_error`, or `statement_error` when a statement
/// failed (with the entities of the statements that ran before it).
pub fn error(code: u32, message: &str) -> Json {
    json!({"@type": "generic_error", "error_code": code, "message": message})
}

pub fn statement_error(code: u32, message: &str, statement: &str, entities: Vec<Json>) -> Json {
    json!({
        "@type": "statement_error",
        "error_code": code,
        "message": message,
        "statementText": statement,
        "entities": entities,
    })
}

/// The entity for one executed statement; `None` for statements ksqlDB
/// answers with nothing (INSERT VALUES, SET, DEFINE).
pub fn entity(
    session: &Session,
    text: &str,
    b: &BoundStatement,
    done: &Executed,
    sequence: i64,
) -> Option<Json> {
    let mut e = match b {
        BoundStatement::CreateSource { .. }
        | BoundStatement::CreateAs { .. }
        | BoundStatement::InsertSelect { .. }
        | BoundStatement::Drop { .. }
        | BoundStatement::Unchanged { .. }
        | BoundStatement::CreateType { .. }
        | BoundStatement::DropType { .. }
        | BoundStatement::Pause { .. }
        | BoundStatement::Alter { .. }
        | BoundStatement::Terminate { .. } => {
            let query_id = match b {
                BoundStatement::CreateAs { query, .. } | BoundStatement::InsertSelect { query } => {
                    Json::String(query.id.clone())
                }
                _ => Json::Null,
            };
            json!({
                "@type": "currentStatus",
                "commandId": command_id(b),
                "commandStatus": {"status": "SUCCESS", "message": done.message, "queryId": query_id},
                "commandSequenceNumber": sequence,
            })
        }
        BoundStatement::Show { what, extended } => show(session, *what, *extended),
        BoundStatement::DescribeSource { name, extended } => {
            let source = session.catalog().source(name)?;
            json!({"@type": "sourceDescription", "sourceDescription": describe(session, source, *extended)})
        }
        BoundStatement::DescribeFunction { name } => {
            let f = functions::lookup(name)?;
            json!({
                "@type": "describe_function",
                "name": f.name,
                "description": f.description,
                "author": "ddsql",
                "version": env!("CARGO_PKG_VERSION"),
                "path": "internal",
                "type": f.kind.name(),
                "functions": f.signatures.iter().map(|s| json!({"description": f.description, "signature": s})).collect::<Vec<_>>(),
            })
        }
        BoundStatement::Explain {
            query,
            sql,
            plan,
            sink,
        } => {
            let fields = fields(&plan.columns);
            json!({
                "@type": "queryDescription",
                "queryDescription": {
                    "id": query.as_deref().unwrap_or(""),
                    "statementText": sql,
                    "windowType": plan.window.map(|w| w.type_name()),
                    "fields": fields,
                    "sources": plan.plan.sources(),
                    "sinks": sink.iter().collect::<Vec<_>>(),
                    "topology": "",
                    "executionPlan": ddsql_sql::explain::explain(plan),
                    "overriddenProperties": {},
                    "queryType": "PERSISTENT",
                    "state": if query.is_some() { "RUNNING" } else { "" },
                }
            })
        }
        BoundStatement::Set {
            warning: Some(w), ..
        } => json!({"@type": "warning_entity", "message": w}),
        BoundStatement::InsertValues { .. }
        | BoundStatement::Set { .. }
        | BoundStatement::Define { .. }
        | BoundStatement::Print { .. }
        | BoundStatement::Select { .. } => return None,
    };
    let obj = e.as_object_mut().expect("entities are objects");
    obj.insert("statementText".into(), Json::String(text.to_string()));
    obj.insert("warnings".into(), json!([]));
    Some(e)
}

fn source_info(s: &Source) -> Json {
    json!({
        "type": s.kind.to_string(),
        "name": s.name,
        "topic": s.topic,
        "keyFormat": s.key_format.to_string(),
        "valueFormat": s.value_format.to_string(),
        "isWindowed": false,
    })
}

fn show(session: &Session, what: ShowKind, extended: bool) -> Json {
    let catalog = session.catalog();
    let sources = |kind: SourceKind| -> Vec<Json> {
        catalog
            .sources()
            .filter(|s| s.kind == kind)
            .map(source_info)
            .collect()
    };
    // SHOW STREAMS|TABLES EXTENDED (and DESCRIBE STREAMS|TABLES): each
    // source described, as ksqlDB's `source_descriptions` entity.
    let described = |kind: SourceKind| -> Json {
        let all: Vec<Json> = catalog
            .sources()
            .filter(|s| s.kind == kind)
            .map(|s| describe(session, s, true))
            .collect();
        json!({"@type": "source_descriptions", "sourceDescriptions": all})
    };
    match what {
        ShowKind::Streams if extended => described(SourceKind::Stream),
        ShowKind::Tables if extended => described(SourceKind::Table),
        ShowKind::Streams => json!({"@type": "streams", "streams": sources(SourceKind::Stream)}),
        ShowKind::Tables => json!({"@type": "tables", "tables": sources(SourceKind::Table)}),
        ShowKind::Topics { .. } => {
            let topics: Vec<Json> = session
                .log()
                .topics()
                .unwrap_or_default()
                .into_iter()
                .filter(|(t, _)| !t.starts_with('_'))
                .map(|(name, p)| json!({"name": name, "replicaInfo": vec![1; p as usize]}))
                .collect();
            json!({"@type": "kafka_topics", "topics": topics})
        }
        ShowKind::Queries => {
            let queries: Vec<Json> = catalog
                .queries()
                .iter()
                .map(|q| {
                    let topic = catalog.source(&q.sink).map(|s| s.topic.clone());
                    json!({
                        "queryString": q.sql,
                        "sinks": [q.sink],
                        "sinkKafkaTopics": topic.into_iter().collect::<Vec<_>>(),
                        "id": q.id,
                        "statusCount": {q.state(): 1},
                        "queryType": "PERSISTENT",
                        "state": q.state(),
                    })
                })
                .collect();
            json!({"@type": "queries", "queries": queries})
        }
        ShowKind::Functions => {
            let functions: Vec<Json> = functions::registry()
                .iter()
                .map(|f| json!({"name": f.name, "type": f.kind.name(), "category": ""}))
                .collect();
            json!({"@type": "function_names", "functions": functions})
        }
        ShowKind::Properties => {
            let listing = ddsql_sql::properties::listing(session.properties());
            let names = |scope: &str| -> Vec<&str> {
                listing
                    .iter()
                    .filter(|(_, s, _)| *s == scope)
                    .map(|(k, _, _)| k.as_str())
                    .collect()
            };
            let properties: Vec<Json> = listing
                .iter()
                .map(|(k, scope, v)| json!({"name": k, "scope": scope, "value": v, "editable": true, "level": "SERVER"}))
                .collect();
            json!({"@type": "properties", "properties": properties,
                   "overwrittenProperties": names("SESSION"), "defaultProperties": names("SERVER")})
        }
        ShowKind::Variables => {
            let variables: Vec<Json> = session
                .variables()
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect();
            json!({"@type": "variables", "variables": variables})
        }
        ShowKind::Types => {
            let types: serde_json::Map<String, Json> = session
                .catalog()
                .custom_types()
                .map(|(name, ty)| (name.to_string(), schema(ty)))
                .collect();
            json!({"@type": "type_list", "types": types})
        }
    }
}

fn describe(session: &Session, s: &Source, extended: bool) -> Json {
    let catalog = session.catalog();
    let ids = |f: &dyn Fn(&ddsql_sql::catalog::PersistentQuery) -> bool| -> Vec<Json> {
        catalog
            .queries()
            .iter()
            .filter(|q| f(q))
            .map(|q| json!({"id": q.id, "queryString": q.sql, "sinks": [q.sink], "state": q.state()}))
            .collect()
    };
    let fields = fields(&s.columns);
    json!({
        "name": s.name,
        "windowType": null,
        "readQueries": ids(&|q| q.plan.plan.scans(&s.name)),
        "writeQueries": ids(&|q| q.sink == s.name),
        "fields": fields,
        "type": s.kind.to_string(),
        "timestamp": s.timestamp_column.map(|i| s.columns[i].name.clone()).unwrap_or_default(),
        "statistics": if extended { statistics(session, s) } else { String::new() },
        "errorStats": if extended { error_stats(session, s) } else { String::new() },
        "extended": extended,
        "keyFormat": s.key_format.to_string(),
        "valueFormat": s.value_format.to_string(),
        "topic": s.topic,
        "partitions": s.partitions,
        "replication": 1,
        "statement": s.sql,
        "queryOffsetSummaries": [],
        "sourceConstraints": [],
    })
}

/// DESCRIBE EXTENDED's `statistics`, in ksqlDB's `name: value` layout:
/// the records in the source's topic and those its writing queries wrote.
fn statistics(session: &Session, s: &Source) -> String {
    let log = session.log();
    let total: u64 = (0..log.partitions(&s.topic).ok().flatten().unwrap_or(0))
        .map(|p| log.end_offset(&s.topic, p).unwrap_or(0))
        .sum();
    let written: u64 = writers(session, s)
        .filter_map(|id| session.runtime()?.report(&id))
        .map(|r| r.records_written)
        .sum();
    format!("total-messages: {total}  producer-total-messages: {written}")
}

/// DESCRIBE EXTENDED's `errorStats`: the processing errors (records that
/// went to the processing log) of the queries that read the source.
fn error_stats(session: &Session, s: &Source) -> String {
    let readers = session
        .catalog()
        .queries()
        .iter()
        .filter(|q| q.plan.plan.scans(&s.name))
        .filter_map(|q| session.runtime()?.report(&q.id));
    let failed: u64 = readers.map(|r| r.processing_errors).sum();
    format!("consumer-failed-messages: {failed}")
}

fn writers<'a>(session: &'a Session, s: &'a Source) -> impl Iterator<Item = String> + 'a {
    session
        .catalog()
        .queries()
        .iter()
        .filter(move |q| q.sink == s.name)
        .map(|q| q.id.clone())
}

/// ksqlDB's `fields` of a source or query: `ROWTIME`, then the columns,
/// keys marked `KEY`.
fn fields(columns: &[ddsql_sql::catalog::Column]) -> Vec<Json> {
    let mut fields = vec![json!({"name": "ROWTIME", "schema": schema(&SqlType::BigInt)})];
    fields.extend(columns.iter().map(|c| {
        let mut f = json!({"name": c.name, "schema": schema(&c.ty)});
        if c.key {
            f["type"] = json!("KEY");
        }
        match &c.header {
            Some(Header::All) => f["type"] = json!("HEADER"),
            Some(Header::Key(k)) => {
                f["type"] = json!("HEADER");
                f["headerKey"] = json!(k);
            }
            None => {}
        }
        f
    }));
    fields
}

/// ksqlDB's `SchemaInfo`: `{type, fields, memberSchema}`.
pub fn schema(ty: &SqlType) -> Json {
    let mut out = Map::new();
    let name = match ty {
        SqlType::Boolean => "BOOLEAN",
        SqlType::Int => "INTEGER",
        SqlType::BigInt => "BIGINT",
        SqlType::Double => "DOUBLE",
        SqlType::Decimal { precision, scale } => {
            out.insert(
                "parameters".into(),
                json!({"precision": precision, "scale": scale}),
            );
            "DECIMAL"
        }
        SqlType::String => "STRING",
        SqlType::Bytes => "BYTES",
        SqlType::Date => "DATE",
        SqlType::Time => "TIME",
        SqlType::Timestamp => "TIMESTAMP",
        SqlType::Array(m) => {
            out.insert("memberSchema".into(), schema(m));
            "ARRAY"
        }
        SqlType::Map(_, v) => {
            out.insert("memberSchema".into(), schema(v));
            "MAP"
        }
        SqlType::Struct(fields) => {
            let f: Vec<Json> = fields
                .iter()
                .map(|(n, t)| json!({"name": n, "schema": schema(t)}))
                .collect();
            out.insert("fields".into(), Json::Array(f));
            "STRUCT"
        }
    };
    out.insert("type".into(), json!(name));
    out.entry("fields").or_insert(Json::Null);
    out.entry("memberSchema").or_insert(Json::Null);
    Json::Object(out)
}
