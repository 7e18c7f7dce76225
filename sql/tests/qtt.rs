//! ksqlDB's own query-validation tests (../shared/qtt) through the front end.
//!
//! - Round trip: every statement that parses prints to SQL that parses back
//!   to the same tree.
//! - Parse and bind: each case's statements, in order, against the catalog
//!   they build. Cases without `expectedException` should bind; cases with
//!   one should fail at parse or bind time (or at run time, which is the
//!   engine's to check). Counts are printed; the floors below only ever
//!   rise, and the README lists the gaps.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ddsql_sql::binder::bind;
use ddsql_sql::catalog::{Catalog, Topics};
use ddsql_sql::parser::parse;
use serde_json::Value as Json;

fn qtt_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/qtt"))
}

struct Case {
    file: String,
    name: String,
    statements: Vec<String>,
    expects_error: bool,
    /// Topics the case's harness creates before running.
    topics: BTreeMap<String, u32>,
}

/// Every case, with QTT's `format` lists expanded (`{FORMAT}` in the
/// statements stands for each listed format in turn).
fn cases() -> Vec<Case> {
    let dir = qtt_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; the QTT files live in ../shared/qtt beside the project",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let json: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for t in json["tests"].as_array().unwrap() {
            let statements: Vec<String> = t["statements"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            let formats: Vec<String> = match t.get("format") {
                Some(Json::Array(f)) => f.iter().map(|f| f.as_str().unwrap().to_string()).collect(),
                _ => vec![String::new()],
            };
            let mut topics = BTreeMap::new();
            for topic in t
                .get("topics")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let partitions = topic
                    .get("numPartitions")
                    .and_then(Json::as_u64)
                    .unwrap_or(1) as u32;
                topics.insert(topic["name"].as_str().unwrap().to_string(), partitions);
            }
            for input in t
                .get("inputs")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                topics
                    .entry(input["topic"].as_str().unwrap().to_string())
                    .or_insert(1);
            }
            for format in formats {
                out.push(Case {
                    file: path.file_name().unwrap().to_string_lossy().into_owned(),
                    name: if format.is_empty() {
                        t["name"].as_str().unwrap().to_string()
                    } else {
                        format!("{} - {format}", t["name"].as_str().unwrap())
                    },
                    statements: statements
                        .iter()
                        .map(|s| s.replace("{FORMAT}", &format))
                        .collect(),
                    expects_error: t.get("expectedException").is_some(),
                    topics: topics.clone(),
                });
            }
        }
    }
    out
}

/// Topics the harness made, plus those earlier statements created.
struct CaseTopics<'a>(&'a BTreeMap<String, u32>);
impl Topics for CaseTopics<'_> {
    fn partitions(&self, topic: &str) -> Option<u32> {
        self.0.get(topic).copied()
    }
}

/// Parses and binds a case; the first error, if any.
fn run_case(case: &Case) -> Result<(), String> {
    let mut catalog = Catalog::default();
    let mut topics = case.topics.clone();
    for sql in &case.statements {
        for parsed in parse(sql).map_err(|e| format!("parse: {e}"))? {
            let bound = bind(&catalog, &CaseTopics(&topics), &Default::default(), &parsed)
                .map_err(|e| format!("bind: {e}"))?;
            if let ddsql_sql::binder::BoundStatement::CreateSource { source, .. }
            | ddsql_sql::binder::BoundStatement::CreateAs { source, .. } = &bound
            {
                topics
                    .entry(source.topic.clone())
                    .or_insert(source.partitions);
            }
            catalog.apply(&bound);
        }
    }
    Ok(())
}

#[test]
fn every_qtt_statement_round_trips() {
    let (mut parsed, mut total) = (0, 0);
    for case in cases() {
        for sql in &case.statements {
            total += 1;
            let Ok(statements) = parse(sql) else { continue };
            parsed += 1;
            for s in statements {
                let printed = s.statement.to_string();
                let again = parse(&printed).unwrap_or_else(|e| {
                    panic!(
                        "{}: {}: printed `{printed}` does not parse: {e}",
                        case.file, case.name
                    )
                });
                assert_eq!(again.len(), 1, "{printed}");
                assert_eq!(
                    again[0].statement, s.statement,
                    "{}: {}: round trip changed `{sql}` (printed `{printed}`)",
                    case.file, case.name
                );
            }
        }
    }
    println!("round trip: {parsed} of {total} QTT statements parse, and all of those round-trip");
    assert!(
        parsed * 100 >= total * 95,
        "only {parsed} of {total} statements parse"
    );
}

#[test]
fn qtt_cases_parse_and_bind() {
    let cases = cases();
    let (mut good, mut good_ok, mut bad, mut bad_rejected) = (0, 0, 0, 0);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases {
        let result = run_case(case);
        if case.expects_error {
            bad += 1;
            if result.is_err() {
                bad_rejected += 1;
            }
        } else {
            good += 1;
            match result {
                Ok(()) => good_ok += 1,
                Err(e) => {
                    // Group by the message with names and positions stripped.
                    let key: String = e
                        .split(": ")
                        .skip(2)
                        .collect::<Vec<_>>()
                        .join(": ")
                        .chars()
                        .take(60)
                        .collect();
                    *reasons.entry(key).or_default() += 1;
                }
            }
        }
    }
    println!("qtt front end: {good_ok} of {good} cases without expectedException bind; {bad_rejected} of {bad} cases with one are rejected before running");
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    println!("most common reasons a good case does not bind yet:");
    for (reason, n) in reasons.iter().take(15) {
        println!("  {n:4}  {reason}");
    }
    // Floors: raise them as the front end grows; never lower them.
    assert!(
        good_ok >= FLOOR_GOOD_BIND,
        "{good_ok} good cases bind, fewer than the floor {FLOOR_GOOD_BIND}"
    );
    assert!(
        bad_rejected >= FLOOR_BAD_REJECTED,
        "{bad_rejected} bad cases rejected, fewer than the floor {FLOOR_BAD_REJECTED}"
    );
}

const FLOOR_GOOD_BIND: usize = 750;
const FLOOR_BAD_REJECTED: usize = 263;
