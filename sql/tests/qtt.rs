//! ksqlDB's own query-validation tests (../shared/qtt) through the parser:
//! every statement that parses prints to SQL that parses back to the same
//! tree. (Binding them, which needs the cases' topics and registered
//! schemas, is `tests/qtt_front_end.rs` in the root crate.)

use std::path::PathBuf;

use ddsql_sql::parser::parse;
use serde_json::Value as Json;

fn qtt_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/qtt"))
}

struct Case {
    file: String,
    name: String,
    statements: Vec<String>,
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
                });
            }
        }
    }
    out
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
