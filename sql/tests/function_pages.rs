//! ksqlDB's three function pages (`../shared/reference/ksqldb-docs/`:
//! scalar, aggregate and table functions) read as the specification:
//!
//! - every function a page names is one the registry knows, so `SHOW
//!   FUNCTIONS` lists it and a script may call it;
//! - every example a page gives as `EXPR => RESULT` (or `->`), and the
//!   page's prose examples, evaluate to the documented result.
//!
//! An example is evaluated as a script would: `SELECT EXPR AS V FROM x`
//! is bound to learn the result's type, then `EXPR` and `RESULT` are each
//! inserted into a column of that type, and the two stored values must be
//! equal. So `RESULT` is read as ksqlDB reads a literal of the result's
//! type, and the comparison is the engine's equality, not a string match.
//!
//! The pages write their examples loosely. The test reads them through a
//! few rewrites, each stated in [`normalize`], and where an example itself
//! is wrong, [`PAGE_ERRORS`] gives the corrected text with the reason. A
//! function the registry lacks, or an example that evaluates otherwise,
//! fails the test with the page's line.

use std::path::PathBuf;

use ddsql_sql::binder::{bind, BoundStatement};
use ddsql_sql::catalog::{Catalog, NoTopics};
use ddsql_sql::functions::registry;
use ddsql_sql::parser::parse;
use ddsql_sql::types::Value;

const PAGES: &[&str] = &[
    "scalar-functions.md",
    "aggregate-functions.md",
    "table-functions.md",
];

/// Names the pages give a heading that are syntax, not registry entries,
/// with how the test checks them instead.
const SYNTAX: &[(&str, &str)] = &[
    ("CAST", "CAST('1' AS INT)"),
    ("ARRAY", "ARRAY[1, 2]"),
    ("MAP", "MAP('a' := 1)"),
];

/// Examples the pages get wrong: (the page's line, its text, the text the
/// test evaluates instead, why).
const PAGE_ERRORS: &[(&str, &str, &str)] = &[
    (
        "INSTR('CORPORATE FLOOR', 'OR', -3, 2) -> 2b",
        "INSTR('CORPORATE FLOOR', 'OR', -3, 2) -> 2",
        "a typo: INSTR returns an INT, and the second occurrence of 'OR' searching \
         back from position 13 starts at 2",
    ),
    (
        "INT_FROM_BYTES(b, 'BIG_ENDIAN') -> 2021",
        "INT_FROM_BYTES(TO_BYTES('AAAH5Q==', 'base64'), 'BIG_ENDIAN') -> 2021",
        "the prose names the value `b_big`, the example calls it `b`",
    ),
    (
        "URL_ENCODE_PARAM(\"url encoded\") => \"url%20encoded\"",
        "URL_ENCODE_PARAM('url encoded') => 'url+encoded'",
        "the page's own description says application/x-www-form-urlencoded, in which a space \
         is '+' (ksqlDB's implementation, Guava's urlFormParameterEscaper, writes '+')",
    ),
    (
        "URL_EXTRACT_PATH(\"http://test.com/path/to#a\") => \"path/to\"",
        "URL_EXTRACT_PATH('http://test.com/path/to#a') => '/path/to'",
        "a URL's path starts with its slash; ksqlDB returns java.net.URI's getPath, '/path/to'",
    ),
    (
        "URL_EXTRACT_PORT(\"http://localhost:8080/path\") => \"8080\"",
        "URL_EXTRACT_PORT('http://localhost:8080/path') => 8080",
        "the port is an INT, as the page's signature says; the example quotes it",
    ),
    (
        "JSON_ARRAY_LENGTH('abc') => returns NULL and logs an \"Invalid JSON format\" exception in server log",
        "JSON_ARRAY_LENGTH('abc') => NULL",
        "the result is given in prose",
    ),
    (
        "JSON_RECORDS('{\\\"a\\\": \\\"abc\\\", \\\"b\\\": { \\\"c\\\": \\\"a\\\" }, \\\"d\\\": 1}') => {d=1, a=\"abc\", b={\"c\":\"a\"}}",
        "JSON_RECORDS('{\"a\": \"abc\", \"b\": { \"c\": \"a\" }, \"d\": 1}') => MAP('a' := '\"abc\"', 'b' := '{\"c\":\"a\"}', 'd' := '1')",
        "the result is Java's Map.toString; the map's values are the JSON text of each field",
    ),
    (
        "SPLIT_TO_MAP('apple':='green'/'cherry':='red', '/', ':=')  => { 'apple':'green', 'cherry':'red'}",
        "SPLIT_TO_MAP('apple:=green/cherry:=red', '/', ':=')  => MAP('apple' := 'green', 'cherry' := 'red')",
        "the input is one string; the page quotes its parts as if they were literals",
    ),
    (
        "REGEXP_EXTRACT_ALL(\"(\\\\w+) (\\\\w+)\", \"hello there nice day\", 2) => [\"there\", \"day\"]",
        "REGEXP_EXTRACT_ALL('(\\w+) (\\w+)', 'hello there nice day', 2) => ['there', 'day']",
        "the pattern is written as a Java string literal; in ksqlDB's SQL a backslash is not an escape",
    ),
    (
        "TO_JSON_STRING(PARSE_TIMESTAMP('2021-06-31 12:18:39.446', 'yyyy-MM-dd HH:mm:ss.SSS')) => '\"2021-06-30T12:18:39.446\"'",
        "TO_JSON_STRING(PARSE_TIMESTAMP('2021-06-30 12:18:39.446', 'yyyy-MM-dd HH:mm:ss.SSS')) => '\"2021-06-30T12:18:39.446\"'",
        "June has 30 days: the input date does not exist (ksqlDB's parser resolves it strictly and fails)",
    ),
];

/// Functions whose result is JSON text: the pages space that text for
/// reading and ksqlDB writes it compact, so the test compares it as JSON.
const JSON_RESULTS: &[&str] = &["JSON_CONCAT", "TO_JSON_STRING", "JSON_ITEMS"];

fn page(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/ksqldb-docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the project must sit beside ../shared (a clone as a sibling of shared/)",
            path.display()
        )
    })
}

/// The function names a page gives headings to (`### **\`NAME\`**`).
fn named(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("## **`") || l.starts_with("### **`"))
        .filter_map(|l| l.split('`').nth(1))
        .map(str::to_string)
        .collect()
}

/// An example: the line it is on and its text.
struct Example {
    line: usize,
    text: String,
}

/// The `EXPR => RESULT` lines of every code block that is not a signature
/// (`title="Since: ..."`), and the prose examples "`EXPR` returns `RESULT`".
fn examples(text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut block: Option<&str> = None;
    let mut binding: Option<(String, String)> = None;
    let mut paragraph = String::new();
    for (i, l) in text.lines().enumerate() {
        if l.starts_with("```") {
            block = if block.is_some() { None } else { Some(l) };
            paragraph.clear();
            continue;
        }
        if l.starts_with("## ") || l.starts_with("### ") {
            binding = None;
        }
        match block {
            Some(title) if !title.contains("Since") && !title.contains("Applies to") => {
                if split_arrow(l).is_some() && !l.contains('…') {
                    let mut text = l.trim().to_string();
                    if let Some((name, value)) = &binding {
                        text = text.replace(&format!("({name},"), &format!("({value},"));
                    }
                    out.push(Example { line: i + 1, text });
                }
            }
            Some(_) => {}
            None => {
                // "Example, where `b` is a `BYTES` value represented as a
                // base64 string `AAAAASoF8gA=`:" binds `b` for the next
                // example; the sentence may wrap.
                if l.trim().is_empty() {
                    paragraph.clear();
                } else {
                    paragraph.push(' ');
                    paragraph.push_str(l.trim());
                }
                if let Some(rest) = paragraph.split_once("where `").map(|(_, r)| r) {
                    let parts: Vec<&str> = rest.split('`').collect();
                    if parts.len() >= 5 && parts[3].contains("base64 string") {
                        binding = Some((
                            parts[0].to_string(),
                            format!("TO_BYTES('{}', 'base64')", parts[4]),
                        ));
                    }
                }
                // "`TRUNC(12345.67, -3)` returns `12000`."
                let parts: Vec<&str> = l.split('`').collect();
                if parts.len() == 5 && parts[2].trim() == "returns" && parts[1].ends_with(')') {
                    out.push(Example {
                        line: i + 1,
                        text: format!("{} => {}", parts[1], parts[3]),
                    });
                }
            }
        }
    }
    out
}

/// Splits at the first `=>` or `->` outside quotes and brackets.
fn split_arrow(l: &str) -> Option<(&str, &str)> {
    let b = l.as_bytes();
    let (mut depth, mut quote) = (0i32, None::<u8>);
    for i in 0..b.len() {
        match (quote, b[i]) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, c @ (b'\'' | b'"')) => quote = Some(c),
            (None, b'(' | b'[' | b'{') => depth += 1,
            (None, b')' | b']' | b'}') => depth -= 1,
            (None, b'=' | b'-')
                if depth == 0 && b.get(i + 1) == Some(&b'>') && i > 0 && b[i - 1] == b' ' =>
            {
                return Some((l[..i].trim(), l[i + 2..].trim()));
            }
            _ => {}
        }
    }
    None
}

/// The page's notation read as ksqlDB's SQL:
/// - a trailing `-- comment` is dropped;
/// - `"text"` is a string (the pages quote strings either way; in SQL
///   double quotes name identifiers) and `\"` inside a string is `"` (the
///   pages copy strings from Java sources);
/// - `[a, b]` is `ARRAY[a, b]`, and `F[a, b]` is `F(ARRAY[a, b])`;
/// - `['k': v, ...]` and `{'k': v, ...}` are `MAP('k' := v, ...)`.
fn normalize(s: &str) -> String {
    let s = match s.find(" -- ") {
        Some(i) => &s[..i],
        None => s,
    };
    let s = s.replace("\\\"", "\u{1}");
    let c: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    // For each open bracket: the text that closes it.
    let mut closers: Vec<&str> = Vec::new();
    while i < c.len() {
        match c[i] {
            '\'' | '"' => {
                let q = c[i];
                let end = (i + 1..c.len()).find(|&j| c[j] == q).unwrap_or(c.len() - 1);
                let body: String = c[i + 1..end].iter().collect();
                out.push('\'');
                out.push_str(&body.replace('\'', "''"));
                out.push('\'');
                i = end + 1;
                continue;
            }
            '[' | '{' => {
                let before = out.trim_end();
                let is_map = map_literal(&c[i + 1..]);
                let call = before.ends_with(|ch: char| ch.is_ascii_alphanumeric() || ch == '_')
                    && !before.to_ascii_uppercase().ends_with("ARRAY");
                let plain_array = before.to_ascii_uppercase().ends_with("ARRAY");
                if is_map {
                    out.push_str(if call { "(MAP(" } else { "MAP(" });
                    closers.push(if call { "))" } else { ")" });
                } else if plain_array {
                    out.push('[');
                    closers.push("]");
                } else if call {
                    out.push_str("(ARRAY[");
                    closers.push("])");
                } else {
                    out.push_str("ARRAY[");
                    closers.push("]");
                }
            }
            ']' | '}' => out.push_str(closers.pop().unwrap_or("]")),
            ':' if !closers.is_empty()
                && closers.last() != Some(&"]")
                && c.get(i + 1) != Some(&'=') =>
            {
                out.push_str(" :=")
            }
            ch => out.push(ch),
        }
        i += 1;
    }
    out.replace('\u{1}', "\"")
}

/// Whether the bracket's contents are `'key': value` pairs.
fn map_literal(rest: &[char]) -> bool {
    let rest: String = rest.iter().collect();
    let t = rest.trim_start();
    if let Some(q) = t.chars().next().filter(|c| *c == '\'' || *c == '"') {
        if let Some(end) = t[1..].find(q) {
            return t[1 + end + 1..].trim_start().starts_with(':')
                && !t[1 + end + 1..].trim_start().starts_with(":=");
        }
    }
    t.starts_with('}')
}

fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    run(
        &mut catalog,
        "CREATE STREAM x (id INT KEY, i INT) WITH (kafka_topic='x', value_format='JSON', partitions=1);",
    )
    .unwrap();
    catalog
}

fn run(catalog: &mut Catalog, sql: &str) -> Result<Option<Vec<Value>>, String> {
    let mut last = None;
    for p in parse(sql).map_err(|e| e.to_string())? {
        let b = bind(catalog, &NoTopics, &Default::default(), &p).map_err(|e| e.to_string())?;
        if let BoundStatement::InsertValues { row, .. } = &b {
            last = Some(row.clone());
        }
        catalog.apply(&b);
    }
    Ok(last)
}

/// The value `expr` stores into a column of its own type, and that type.
fn evaluate(expr: &str, result: &str) -> Result<(Value, Value, String), String> {
    let mut catalog = catalog();
    run(
        &mut catalog,
        &format!("CREATE STREAM probe AS SELECT id, {expr} AS v FROM x EMIT CHANGES;"),
    )
    .map_err(|e| format!("SELECT {expr}: {e}"))?;
    let ty = catalog
        .source("PROBE")
        .and_then(|s| s.columns.iter().find(|c| c.name == "V"))
        .map(|c| c.ty.to_string())
        .ok_or("the probe stream has no column V")?;
    run(
        &mut catalog,
        &format!(
            "CREATE STREAM y (id INT KEY, v {ty}) WITH (kafka_topic='y', value_format='JSON', partitions=1);"
        ),
    )?;
    let insert = |catalog: &mut Catalog, e: &str| -> Result<Value, String> {
        run(catalog, &format!("INSERT INTO y (id, v) VALUES (1, {e});"))
            .map_err(|err| format!("{e} as {ty}: {err}"))?
            .map(|row| row[1].clone())
            .ok_or_else(|| "no row".to_string())
    };
    let got = insert(&mut catalog, expr)?;
    let want = insert(&mut catalog, result)?;
    Ok((got, want, ty))
}

fn json_equal(a: &Value, b: &Value) -> bool {
    let parse = |v: &Value| match v {
        Value::String(s) => serde_json::from_str::<serde_json::Value>(s).ok(),
        _ => None,
    };
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        _ => a == b || (parse(a).is_some() && parse(a) == parse(b)),
    }
}

#[test]
fn every_function_the_pages_name_is_in_the_registry() {
    let known: Vec<&str> = registry().iter().map(|f| f.name).collect();
    let mut missing = Vec::new();
    for name in PAGES {
        for f in named(&page(name)) {
            if let Some((_, call)) = SYNTAX.iter().find(|(n, _)| *n == f) {
                evaluate(call, call).unwrap_or_else(|e| panic!("{f} is syntax: {e}"));
            } else if !known.contains(&f.as_str()) {
                missing.push(format!("{f} ({name})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "functions the pages document that the registry lacks: {missing:?}"
    );
}

#[test]
fn every_example_on_the_pages_evaluates_to_its_documented_result() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in PAGES {
        for ex in examples(&page(name)) {
            let text = match PAGE_ERRORS.iter().find(|(page, _, _)| *page == ex.text) {
                Some((_, fixed, _)) => fixed.to_string(),
                None => ex.text.clone(),
            };
            let (expr, result) = split_arrow(&text).expect("an example has an arrow");
            let (expr, result) = (normalize(expr), normalize(result));
            checked += 1;
            let function = expr.split('(').next().unwrap_or("").trim().to_uppercase();
            match evaluate(&expr, &result) {
                Ok((got, want, _)) if got == want => {}
                // A call that fails is NULL where it stands in a query, its
                // error written to the processing log ("returns NULL and
                // logs"); INSERT VALUES, which the test evaluates with,
                // refuses it instead. The error must be the function's own.
                Err(e) if result == "NULL" && e.contains(&format!("{function}:")) => {}
                Err(e)
                    if e.contains("cannot infer") && (result == "ARRAY[]" || result == "MAP()") =>
                {
                    match evaluate(&expr, &expr) {
                        Ok((Value::Array(v), _, _)) if v.is_empty() && result == "ARRAY[]" => {}
                        Ok((Value::Map(m), _, _)) if m.is_empty() && result == "MAP()" => {}
                        other => failures.push(format!(
                            "{name}:{}: {}\n    evaluated {expr}: {other:?}, documented empty",
                            ex.line, ex.text
                        )),
                    }
                }
                Ok((got, want, _))
                    if JSON_RESULTS.contains(&function.as_str()) && json_equal(&got, &want) => {}
                Ok((got, want, ty)) => failures.push(format!(
                    "{name}:{}: {}\n    evaluated {expr}: {got:?}, documented {want:?} ({ty})",
                    ex.line, ex.text
                )),
                Err(e) => failures.push(format!("{name}:{}: {}\n    {e}", ex.line, ex.text)),
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} examples found: did a page change its layout?"
    );
    // Every correction is of a line a page really has.
    for (line, _, why) in PAGE_ERRORS {
        assert!(
            PAGES
                .iter()
                .any(|p| examples(&page(p)).iter().any(|e| e.text == *line)),
            "PAGE_ERRORS names a line no page has: {line} ({why})"
        );
    }
    println!(
        "{checked} documented examples, {} corrected",
        PAGE_ERRORS.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} documented examples differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_page_notation_reads_as_sql() {
    assert_eq!(
        normalize("ARRAY_MAX[-1, 2, NULL, 0]"),
        "ARRAY_MAX(ARRAY[-1, 2, NULL, 0])"
    );
    assert_eq!(normalize("[1, [2]]"), "ARRAY[1, ARRAY[2]]");
    assert_eq!(
        normalize("['apple': 10, 'banana': 20]"),
        "MAP('apple' := 10, 'banana' := 20)"
    );
    assert_eq!(normalize("\"stre\" -- note"), "'stre'");
    assert_eq!(normalize("'{\\\"a\\\": 1}'"), "'{\"a\": 1}'");
    assert_eq!(normalize("MAP('a' := 1)"), "MAP('a' := 1)");
    assert_eq!(
        split_arrow("CHR(75)        => 'K'"),
        Some(("CHR(75)", "'K'"))
    );
}
