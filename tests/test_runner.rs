//! `ksql-test-runner` files: statements, inputs and expected outputs written
//! to a temporary directory and run on the embedded log.

use std::path::{Path, PathBuf};

use ddsql::test_runner::{run, Verdict};
use serde_json::{json, Value as Json};

const STATEMENTS: &str = "\
CREATE STREAM orders (id INT KEY, customer STRING, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON');
-- a stream filter
CREATE STREAM big_orders AS
  SELECT id, customer, amount FROM orders WHERE amount > 100;
-- an aggregation
CREATE TABLE totals AS
  SELECT customer, COUNT(*) AS n, SUM(amount) AS total FROM orders GROUP BY customer;
";

fn inputs() -> Json {
    let order = |id: i32, customer: &str, amount: f64, ts: i64| json!({"topic": "orders", "key": id, "value": {"customer": customer, "amount": amount}, "timestamp": ts});
    json!({"inputs": [
        order(1, "alice", 50.0, 1000),
        order(2, "bob", 150.0, 2000),
        order(3, "alice", 200.5, 3000),
    ]})
}

/// The outputs ksqlDB produces for [`STATEMENTS`] over [`inputs`].
fn outputs() -> Vec<Json> {
    vec![
        json!({"topic": "BIG_ORDERS", "key": 2, "value": {"CUSTOMER": "bob", "AMOUNT": 150.0}, "timestamp": 2000}),
        json!({"topic": "BIG_ORDERS", "key": 3, "value": {"CUSTOMER": "alice", "AMOUNT": 200.5}}),
        json!({"topic": "TOTALS", "key": "alice", "value": {"N": 1, "TOTAL": 50.0}, "timestamp": 1000}),
        json!({"topic": "TOTALS", "key": "bob", "value": {"N": 1, "TOTAL": 150.0}, "timestamp": 2000}),
        json!({"topic": "TOTALS", "key": "alice", "value": {"N": 2, "TOTAL": 250.5000000001}, "timestamp": 3000}),
    ]
}

/// Writes the three files to `dir`; returns their paths.
fn files(dir: &Path, statements: &str, inputs: &Json, outputs: &[Json]) -> [PathBuf; 3] {
    let paths = ["statements.sql", "input.json", "output.json"].map(|f| dir.join(f));
    std::fs::write(&paths[0], statements).unwrap();
    std::fs::write(&paths[1], inputs.to_string()).unwrap();
    std::fs::write(&paths[2], json!({ "outputs": outputs }).to_string()).unwrap();
    paths
}

fn run_with(statements: &str, inputs: &Json, outputs: &[Json]) -> anyhow::Result<Verdict> {
    let dir = tempfile::tempdir().unwrap();
    let [s, i, o] = files(dir.path(), statements, inputs, outputs);
    run(&s, &i, &o)
}

fn failure(outputs: &[Json]) -> String {
    match run_with(STATEMENTS, &inputs(), outputs).unwrap() {
        Verdict::Failed(why) => why,
        Verdict::Passed => panic!("passed with wrong outputs"),
    }
}

#[test]
fn filter_and_aggregation_pass() {
    assert_eq!(
        run_with(STATEMENTS, &inputs(), &outputs()).unwrap(),
        Verdict::Passed
    );
}

#[test]
fn a_wrong_record_names_topic_message_and_both_records() {
    let mut wrong = outputs();
    wrong[4]["value"]["TOTAL"] = json!(260.0);
    assert_eq!(
        failure(&wrong),
        "Topic 'TOTALS', message 2: Expected <\"alice\", {\"N\":2,\"TOTAL\":260.0}> with timestamp=3000 \
         but was <\"alice\", {\"N\":2,\"TOTAL\":250.5}> with timestamp=3000"
    );
    // A timestamp given in the expected record is compared.
    let mut wrong = outputs();
    wrong[0]["timestamp"] = json!(2001);
    assert!(failure(&wrong).starts_with("Topic 'BIG_ORDERS', message 0: Expected <2, "));
}

#[test]
fn a_missing_or_extra_record_is_named() {
    let mut more = outputs();
    more.push(json!({"topic": "TOTALS", "key": "carol", "value": {"N": 1, "TOTAL": 1.0}}));
    assert_eq!(
        failure(&more),
        "Topic 'TOTALS', message 3: Expected <\"carol\", {\"N\":1,\"TOTAL\":1.0}> but was no record \
         (4 records expected, 3 produced)"
    );
    let mut fewer = outputs();
    fewer.remove(1);
    assert_eq!(
        failure(&fewer),
        "Topic 'BIG_ORDERS', message 1: Expected no record but was \
         <3, {\"CUSTOMER\":\"alice\",\"AMOUNT\":200.5}> with timestamp=3000 (1 records expected, 2 produced)"
    );
}

#[test]
fn bad_sql_names_file_line_and_column() {
    // A syntax error.
    let bad = STATEMENTS.replace("FROM orders WHERE", "FROM orders WHER");
    let err = run_with(&bad, &inputs(), &outputs())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("statements.sql: line 5, column 48: expected ';', found 'amount'"),
        "{err}"
    );
    // A column that does not exist.
    let bad = STATEMENTS.replace("SUM(amount)", "SUM(amout)");
    let err = run_with(&bad, &inputs(), &outputs())
        .unwrap_err()
        .to_string();
    assert!(err.contains("statements.sql: line 8, column "), "{err}");
    assert!(err.contains("AMOUT"), "{err}");
}

#[test]
fn missing_files_and_bad_json_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let [s, i, o] = files(dir.path(), STATEMENTS, &inputs(), &outputs());
    let missing = dir.path().join("nothing.json");
    let err = run(&s, &missing, &o).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("reading {}", missing.display())),
        "{err}"
    );

    std::fs::write(&o, "{\"outputs\": [").unwrap();
    let err = run(&s, &i, &o).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: bad JSON", o.display())),
        "{err}"
    );

    std::fs::write(&o, "{\"records\": []}").unwrap();
    let err = run(&s, &i, &o).unwrap_err().to_string();
    assert!(
        err.contains("output.json: expected an object with an array \"outputs\""),
        "{err}"
    );
}

#[test]
fn the_binary_says_test_passed_or_shows_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let run_binary = |outputs: &[Json]| {
        let [s, i, o] = files(dir.path(), STATEMENTS, &inputs(), outputs);
        std::process::Command::new(env!("CARGO_BIN_EXE_ddsql"))
            .args(["test-runner", "-s"])
            .arg(&s)
            .arg("-i")
            .arg(&i)
            .arg("-o")
            .arg(&o)
            .output()
            .unwrap()
    };
    let passed = run_binary(&outputs());
    assert!(passed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&passed.stdout).trim(),
        "Test passed!"
    );
    let mut wrong = outputs();
    wrong[1]["value"]["AMOUNT"] = json!(1.0);
    let failed = run_binary(&wrong);
    assert_eq!(failed.status.code(), Some(1));
    let text = String::from_utf8_lossy(&failed.stdout);
    assert!(text.contains("Topic 'BIG_ORDERS', message 1"), "{text}");
}
