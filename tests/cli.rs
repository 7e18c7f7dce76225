//! The `ddsql` binary, driven as a user drives it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ddsql(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddsql"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("DDSQL_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/first-order");

#[test]
fn the_demo_pipeline_prints_one_first_order_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let orders = std::fs::read_to_string(format!("{EXAMPLE}/orders.jsonl")).unwrap();
    let out = ddsql(
        dir.path(),
        &["topic", "produce", "TRADE_MYSQL.TRADE.ORDER"],
        Some(&orders),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = ddsql(
        dir.path(),
        &["run", &format!("{EXAMPLE}/pipeline.sql"), "--workers", "2"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Created query with ID CSAS_STM_MIN_ORDER_2"),
        "{}",
        text(&out.stderr)
    );
    let out = ddsql(dir.path(), &["topic", "consume", "STREAM.MIN_ORDER"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys: Vec<i64> = lines.iter().map(|l| l["key"].as_i64().unwrap()).collect();
    let stamps: Vec<i64> = lines
        .iter()
        .map(|l| l["timestamp"].as_i64().unwrap())
        .collect();
    // Users 1 and 2 from the backfill, stamped now, and ahead of the older
    // CDC orders; 3 and 4 from their first live orders (102, 105), which
    // keep their own timestamps.
    assert_eq!(keys, vec![1, 2, 3, 4]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        stamps[..2].iter().all(|t| (now - t).abs() < 600_000),
        "{stamps:?}"
    );
    assert_eq!(stamps[2..], [1741168860000, 1741169040000]);
    assert!(lines
        .iter()
        .all(|l| l["value"] == serde_json::json!({"MIN_ORDER": true})));
}

#[test]
fn a_syntax_error_names_line_and_column_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let script = dir.path().join("bad.sql");
    std::fs::write(
        &script,
        "create stream s (id bigint key, v string)\n  with (kafka_topic='s', value_format='JSON', partitions=1);\ninsert into s (id, v) values (1, 'a');\nselect id v from s emit changes\n  wher v = 'a';\n",
    )
    .unwrap();
    let out = ddsql(&data, &["run", script.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("line 5, column 3: expected ';', found 'wher'"),
        "{err}"
    );
    assert!(
        !data.exists(),
        "a script with a syntax error must not touch the data directory"
    );
}

#[test]
fn a_binding_error_changes_nothing_either() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bad.sql");
    std::fs::write(
        &script,
        "create stream s (id bigint key, v string) with (kafka_topic='s', value_format='JSON', partitions=1);\ninsert into s (id, v) values (1, 'a');\ncreate stream t as select id, vv from s;\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = ddsql(&data, &["run", script.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("line 3, column 31: column VV cannot be resolved; did you mean V?"),
        "{err}"
    );
    let out = ddsql(&data, &["topic", "list"], None);
    assert_eq!(
        text(&out.stdout),
        "",
        "no topic may be created: {}",
        text(&out.stdout)
    );
}

#[test]
fn produce_and_consume_round_trip_keys_values_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let input = r#"{"key": 7, "value": {"a": 1}, "timestamp": 5, "headers": {"h": "x"}}
{"key": null, "value": "plain text", "timestamp": 6}
"#;
    let out = ddsql(
        dir.path(),
        &["topic", "produce", "t", "--partitions", "3"],
        Some(input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = ddsql(dir.path(), &["topic", "consume", "t", "--headers"], None);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let keyed = lines.iter().find(|l| l["key"] == 7).unwrap();
    assert_eq!(
        (
            keyed["value"].clone(),
            keyed["timestamp"].clone(),
            keyed["headers"]["h"].clone()
        ),
        (serde_json::json!({"a": 1}), 5.into(), "x".into())
    );
    let plain = lines.iter().find(|l| l["key"].is_null()).unwrap();
    assert_eq!(plain["value"], "plain text");
    // A bad line is rejected with its line number.
    let out = ddsql(
        dir.path(),
        &["topic", "produce", "t"],
        Some("{\"value\": 1}\n{\"valu\": 2}\n"),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("stdin line 2: unknown field \"valu\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn topics_produce_consume_and_print_avro_through_the_schema_registry() {
    let dir = tempfile::tempdir().unwrap();
    let registry = ddsql_connectors::schema_registry::MemoryRegistry::start().unwrap();
    let url = registry.url();
    let schema = dir.path().join("order.avsc");
    std::fs::write(
        &schema,
        r#"{"type": "record", "name": "Order", "fields": [
            {"name": "id", "type": "long"},
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
            {"name": "note", "type": ["null", "string"], "default": null}]}"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let with = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--schema-registry-url".to_string(), url.clone()];
        all.extend(args.iter().map(|a| a.to_string()));
        all
    };
    let run = |args: &[String], stdin: Option<&str>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ddsql(&data, &args, stdin)
    };
    let input = r#"{"key": 1, "value": {"id": 1, "amount": "12.50", "note": {"string": "a"}}}
{"key": 2, "value": {"id": 2, "amount": -0.01}}
"#;
    let produce = with(&[
        "topic",
        "produce",
        "orders",
        "--value-encoding",
        "avro",
        "--value-schema",
        schema.to_str().unwrap(),
    ]);
    let out = run(&produce, Some(input));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The schema is registered under the topic's value subject.
    assert_eq!(registry.version_of("orders-value", 1), Some(1));
    // A line that does not fit the schema is refused, naming it.
    let out = run(
        &produce,
        Some("{\"value\": {\"id\": \"x\", \"amount\": \"1\"}}\n"),
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("stdin line 1") && err.contains("field id"),
        "{err}"
    );
    // A record that is not Avro at all, written around the registry.
    let out = ddsql(
        &data,
        &["topic", "produce", "orders", "--value-encoding", "string"],
        Some("{\"value\": \"not avro\"}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let consumed = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec!["topic", "consume", "orders", "--value-encoding", "avro"];
        args.extend(extra);
        let out = run(&with(&args), None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let lines = consumed(&[]);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["value"],
        serde_json::json!({"id": 1, "amount": "12.50", "note": "a"})
    );
    assert_eq!(
        lines[1]["value"],
        serde_json::json!({"id": 2, "amount": "-0.01", "note": null})
    );
    // The bad record is shown as it is, with the reason, and reading goes on.
    assert_eq!(lines[2]["value"], "bm90IGF2cm8=");
    assert!(
        lines[2]["error"].as_str().unwrap().contains("offset 2"),
        "{}",
        lines[2]
    );
    // Read as a newer schema: a renamed field by its alias, an added one
    // by its default.
    let reader = r#"{"type": "record", "name": "Order", "fields": [
        {"name": "order_id", "type": "long", "aliases": ["id"]},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "status", "type": "string", "default": "NEW"}]}"#;
    let lines = consumed(&["--value-reader-schema", reader]);
    assert_eq!(
        lines[0]["value"],
        serde_json::json!({"order_id": 1, "amount": "12.50", "status": "NEW"})
    );

    // PRINT reads AVRO with the writer's schema, as ksqlDB's does.
    let script = dir.path().join("print.sql");
    std::fs::write(&script, "PRINT 'orders' FROM BEGINNING LIMIT 2;\n").unwrap();
    let out = run(&with(&["run", script.to_str().unwrap()]), None);
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(printed.contains("Value format: AVRO"), "{printed}");
    assert!(
        printed.contains(r#"value: {"id":1,"amount":"12.50","note":"a"}"#),
        "{printed}"
    );

    // Without a registry, the avro encoding says what it needs.
    let out = ddsql(
        &data,
        &["topic", "consume", "orders", "--value-encoding", "avro"],
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--schema-registry-url"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_explains_every_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_ddsql"))
        .arg("--help")
        .output()
        .unwrap();
    let help = text(&out.stdout);
    for word in ["run", "topic", "--data-dir"] {
        assert!(help.contains(word), "{help}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ddsql"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = text(&out.stdout);
    for word in ["--workers", "--batch", "nothing is executed"] {
        assert!(help.contains(word), "{help}");
    }
}

/// A table declared over another query's output topic reads its
/// changelog at the times the query wrote it, so a join with the stream
/// that query aggregates sees each count as of its own record, inclusive.
#[test]
fn a_table_over_a_querys_output_topic_reads_it_at_the_writers_times() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tables.sql");
    std::fs::write(
        &script,
        "create stream s (id bigint key, v string) with (kafka_topic='s', value_format='JSON', partitions=1);\n\
         create table t as select id, count(*) as c from s group by id;\n\
         create table t2 (id bigint primary key, c bigint) with (kafka_topic='T', value_format='JSON');\n\
         create stream j as select s.id, s.v, t2.c from s join t2 on s.id = t2.id;\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let input = "{\"key\": 1, \"value\": {\"V\": \"a\"}, \"timestamp\": 1}\n\
                 {\"key\": 1, \"value\": {\"V\": \"b\"}, \"timestamp\": 2}\n\
                 {\"key\": 2, \"value\": {\"V\": \"c\"}, \"timestamp\": 3}\n";
    let out = ddsql(
        &data,
        &["topic", "produce", "s", "--key-encoding", "bigint"],
        Some(input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = ddsql(
        &data,
        &["run", script.to_str().unwrap(), "--workers", "2"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = ddsql(
        &data,
        &["topic", "consume", "J", "--key-encoding", "bigint"],
        None,
    );
    let rows: Vec<(serde_json::Value, serde_json::Value)> = text(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["key"].clone(), v["value"].clone())
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (serde_json::json!(1), serde_json::json!({"V": "a", "C": 1})),
            (serde_json::json!(1), serde_json::json!({"V": "b", "C": 2})),
            (serde_json::json!(2), serde_json::json!({"V": "c", "C": 1})),
        ]
    );
}

#[test]
fn check_reports_every_error_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lint.sql");
    std::fs::write(
        &script,
        "create stream s (id bigint key, v string) with (kafka_topic='s', value_format='JSON');\n\
         select from s;\n\
         create stream t as select id, ucase(v) as u from s;\n\
         create stream u as select id, lenn(v) from s;\n\
         create stream w as select id, vv from t;\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = ddsql(&data, &["check", script.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    let path = script.display().to_string();
    assert!(
        err.contains(&format!("{path}:2:8: expected an expression, found 'from'")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{path}:4:31: unknown function LENN; did you mean LEN?"
        )),
        "{err}"
    );
    // T has ID and U: nothing is close enough to suggest.
    assert!(
        err.contains(&format!("{path}:5:31: column VV cannot be resolved\n")),
        "{err}"
    );
    assert!(err.contains("3 error(s)"), "{err}");
    assert!(!data.exists(), "check must not touch the data directory");

    let out = ddsql(&data, &["check", &format!("{EXAMPLE}/pipeline.sql")], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("7 statements, no errors"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn catalog_statements_and_variables() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("catalog.sql");
    std::fs::write(
        &script,
        "DEFINE topic = 'orders';\n\
         create stream `stg_order` (user_id bigint key, order_id bigint) with (kafka_topic='${topic}', value_format='JSON', partitions=1);\n\
         create table tb as select user_id, min(order_id) as m from `stg_order` group by user_id;\n\
         show streams;\n\
         describe tb;\n\
         describe function latest_by_offset;\n\
         describe function explode;\n\
         terminate CTAS_TB_0;\n\
         drop table tb;\n\
         show tables;\n\
         show variables;\n",
    )
    .unwrap();
    let out = ddsql(
        &dir.path().join("data"),
        &["run", script.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            " Stream Name | Kafka Topic | Key Format | Value Format | Windowed\n\
             ------------------------------------------------------------------\n \
             stg_order   | orders      | KAFKA      | JSON         | false\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("Name                 : TB\nType                 : TABLE"),
        "{stdout}"
    );
    assert!(
        stdout.contains(" USER_ID | BIGINT (primary key)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Queries that write   : CTAS_TB_0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("LATEST_BY_OFFSET(value, INT n, BOOLEAN ignore_nulls)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Name        : EXPLODE\nType        : TABLE\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(" Table Name | Kafka Topic | Key Format | Value Format | Windowed\n---"),
        "{stdout}"
    );
    assert!(stdout.contains(" TOPIC         | orders"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Query terminated.")
            && stderr.contains("Source TB (topic: TB) was dropped."),
        "{stderr}"
    );

    // Undefined variables and dropping what a query uses are errors.
    std::fs::write(&script, "create stream s (a int) with (kafka_topic='${nope}', value_format='JSON', partitions=1);\n").unwrap();
    let out = ddsql(
        &dir.path().join("data2"),
        &["run", script.to_str().unwrap()],
        None,
    );
    assert!(
        text(&out.stderr).contains("line 1, column 44: variable 'nope' is not defined"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        &script,
        "create stream s (k int key, a int) with (kafka_topic='s', value_format='JSON', partitions=1);\n\
         create table t as select k, count(*) as n from s group by k;\ndrop stream s;\n",
    )
    .unwrap();
    let out = ddsql(
        &dir.path().join("data3"),
        &["run", script.to_str().unwrap()],
        None,
    );
    assert!(
        text(&out.stderr).contains(
            "line 3, column 13: cannot drop S: queries CTAS_T_0 read from or write to it"
        ),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn qtt_runner_passes_fails_and_skips_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    let case = |name: &str, expected_count: i64| {
        serde_json::json!({
            "name": name,
            "statements": [
                "CREATE STREAM TEST (ID BIGINT KEY, VALUE INT) WITH (kafka_topic='test_topic', value_format='JSON');",
                "CREATE TABLE S2 AS SELECT ID, COUNT(*) AS C FROM TEST GROUP BY ID;"
            ],
            "inputs": [
                {"topic": "test_topic", "key": 1, "value": {"VALUE": 5}, "timestamp": 10},
                {"topic": "test_topic", "key": 1, "value": {"VALUE": 6}, "timestamp": 5}
            ],
            "outputs": [
                {"topic": "S2", "key": 1, "value": {"C": 1}, "timestamp": 10},
                {"topic": "S2", "key": 1, "value": {"C": expected_count}}
            ]
        })
    };
    let skipped = serde_json::json!({
        "name": "unsupported", "statements": ["CREATE TABLE T (ID INT PRIMARY KEY, V INT) WITH (kafka_topic='t', value_format='JSON', partitions=1); CREATE TABLE U AS SELECT V, LATEST_BY_OFFSET(ID) AS L FROM T GROUP BY V;"],
        "inputs": [], "outputs": []
    });
    let rejected = serde_json::json!({
        "name": "bad sql", "statements": ["CREATE STREAM T (ID INT KEY) WITH (kafka_topic='t', value_format='JSON', partitions=1); CREATE STREAM U AS SELECT nope FROM T;"],
        "expectedException": {"type": "KsqlStatementException", "message": "cannot be resolved"}
    });
    std::fs::write(
        &file,
        serde_json::json!({"tests": [case("right", 2), case("wrong", 3), skipped, rejected]})
            .to_string(),
    )
    .unwrap();
    let out = ddsql(dir.path(), &["qtt", file.to_str().unwrap()], None);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "a failing case fails the run");
    assert!(stdout.contains("PASS cases.json: right"), "{stdout}");
    assert!(stdout.contains("FAIL cases.json: wrong: topic S2, record 2: expected key 1 value {\"C\":3}, got key 1 value {\"C\":2}"), "{stdout}");
    assert!(
        stdout.contains("SKIP cases.json: unsupported: line 1, column"),
        "{stdout}"
    );
    assert!(stdout.contains("PASS cases.json: bad sql"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("2 passed, 1 failed, 1 skipped"),
        "{stdout}"
    );
}

#[test]
fn ksqldb_own_tests_pass_at_least_the_recorded_figure() {
    let qtt = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/qtt");
    let mut files: Vec<String> = std::fs::read_dir(qtt)
        .unwrap_or_else(|e| {
            panic!("{qtt}: {e}; the QTT files live in ../shared/qtt beside the project")
        })
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".json"))
        .collect();
    files.sort();
    let mut args = vec!["qtt", "--quiet"];
    args.extend(files.iter().map(String::as_str));
    let dir = tempfile::tempdir().unwrap();
    let out = ddsql(dir.path(), &args, None);
    let stdout = text(&out.stdout);
    let summary = stdout.lines().last().unwrap_or_default().to_string();
    println!("{stdout}");
    let counts: Vec<usize> = summary
        .split(", ")
        .map(|p| p.split(' ').next().unwrap().parse().unwrap())
        .collect();
    // The floor only rises; the README has the current figure.
    assert!(counts[0] >= 1084, "{summary}");
}

/// `--kafka-bootstrap`: the same commands against a Kafka cluster (here
/// librdkafka's mock cluster, listening on a local port). The mock has no
/// admin API, so the topics exist beforehand, as an operator would create
/// them; a missing one is an error that says what to do.
#[test]
fn run_produce_and_consume_against_a_kafka_cluster() {
    use ddsql_connectors::kafka::MockKafka;
    let kafka = MockKafka::start(1).unwrap();
    for (topic, partitions) in [
        ("orders", 2),
        ("BIG", 1),
        ("_ddsql_topic_indexes", 1),
        ("_ddsql_times", 1),
        ("ddsql_processing_log", 1),
    ] {
        kafka.create_topic(topic, partitions).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("big.sql");
    std::fs::write(
        &script,
        "create stream orders (id bigint key, amount int) with (kafka_topic='orders', key_format='JSON', value_format='JSON');
         create stream big with (kafka_topic='BIG', key_format='JSON', value_format='JSON') as
           select id, amount from orders where amount > 10;",
    )
    .unwrap();
    let on_kafka = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec![
            "--kafka-bootstrap",
            kafka.bootstrap(),
            "--kafka-timeout-ms",
            "2000",
        ];
        all.extend_from_slice(args);
        ddsql(dir.path(), &all, stdin)
    };
    let out = on_kafka(
        &["topic", "produce", "orders"],
        Some("{\"key\": 1, \"value\": {\"AMOUNT\": 5}, \"timestamp\": 1}\n{\"key\": 2, \"value\": {\"AMOUNT\": 50}, \"timestamp\": 2}\n{\"key\": 3, \"value\": {\"AMOUNT\": 70}, \"timestamp\": 3}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = on_kafka(&["run", script.to_str().unwrap(), "--workers", "2"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("read 3 records, wrote 2"),
        "{}",
        text(&out.stderr)
    );
    let out = on_kafka(&["topic", "consume", "BIG"], None);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(serde_json::Value, serde_json::Value)> = lines
        .iter()
        .map(|l| (l["key"].clone(), l["value"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (serde_json::json!(2), serde_json::json!({"AMOUNT": 50})),
            (serde_json::json!(3), serde_json::json!({"AMOUNT": 70})),
        ]
    );
    // Nothing was written to the data directory: the topics are on Kafka.
    assert!(!dir.path().join("topics").exists());

    // A sink topic the cluster lacks, on a cluster without the admin API.
    std::fs::write(
        &script,
        "create stream orders (id bigint key, amount int) with (kafka_topic='orders', key_format='JSON', value_format='JSON');
         create stream small with (kafka_topic='SMALL', partitions=1) as select id, amount from orders;",
    )
    .unwrap();
    let out = on_kafka(&["run", script.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("creating topic 'SMALL'")
            && err.contains("create the topic with 1 partition(s) first"),
        "{err}"
    );
}
