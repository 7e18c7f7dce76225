//! What a ksqlDB user's clients and habits expect of `ddsql server`, one
//! test per habit (issue 25): the answers ksqlDB gives, driven over HTTP
//! by a real client against the real server on the embedded log.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

mod common;

use common::server::Server;

fn get(server: &Server, path: &str) -> (u16, Json) {
    let mut r = server
        .agent
        .get(&format!("{}{path}", server.url))
        .call()
        .unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    (r.status().as_u16(), serde_json::from_str(&text).unwrap())
}

/// Item 8: the small answers clients check.
#[test]
fn close_query_of_an_unknown_id_is_a_bad_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    // ksqlDB's CloseQueryHandler fails with 400; ksql-python-ng expects it.
    let (status, body) = server.post("/close-query", &json!({"queryId": "nope"}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["@type"], "generic_error");
    assert_eq!(body["error_code"], 40000);
    assert!(body["message"].as_str().unwrap().contains("nope"), "{body}");
}

#[test]
fn info_reports_the_ksqldb_version_it_speaks() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (status, info) = get(&server, "/info");
    assert_eq!(status, 200);
    // Clients compare this with the ksqlDB versions they support; ddsql's
    // own version is a field of its own.
    assert_eq!(info["KsqlServerInfo"]["version"], "0.29.0");
    assert_eq!(
        info["KsqlServerInfo"]["ddsqlVersion"],
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    server.ksql(
        "create stream s (id int key, v int) with (kafka_topic='s', value_format='JSON', partitions=1);\n\
         create stream t as select * from s;",
    );
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    // A signal death has no exit code; a graceful stop exits 0.
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn a_redirected_log_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddsql"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["server", "--listen", "127.0.0.1:0", "--idle-ms", "20"])
        .env("DDSQL_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(!log.is_empty(), "the server logged nothing at info");
    assert!(!log.contains('\x1b'), "{log:?}");
}

#[test]
fn describe_extended_counts_messages_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream s (id int key, v int) with (kafka_topic='s', value_format='JSON', partitions=1);\n\
         create stream t as select id, v from s;",
    );
    server.insert("s", &[json!({"ID": 1, "V": 1}), json!({"ID": 2, "V": 2})]);
    server.ksql("insert into s (id, v) values (3, 3);");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = &server.ksql("describe t extended;")[0]["sourceDescription"];
        let stats = d["statistics"].as_str().unwrap().to_string();
        if stats.contains("total-messages: 3") {
            assert!(
                d["errorStats"]
                    .as_str()
                    .unwrap()
                    .contains("failed-messages: 0"),
                "{d}"
            );
            let s = &server.ksql("describe s extended;")[0]["sourceDescription"];
            assert!(
                s["statistics"]
                    .as_str()
                    .unwrap()
                    .contains("total-messages: 3"),
                "{s}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{d}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn show_streams_extended_describes_each_stream() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream a (id int key, v int) with (kafka_topic='a', value_format='JSON', partitions=1);\n\
         create stream b (id int key) with (kafka_topic='b', value_format='JSON', partitions=2);\n\
         create table c (id int primary key, v int) with (kafka_topic='c', value_format='JSON', partitions=1);",
    );
    let shown = server.ksql("show streams extended;");
    assert_eq!(shown[0]["@type"], "source_descriptions", "{shown:?}");
    let described = shown[0]["sourceDescriptions"].as_array().unwrap();
    let names: Vec<&str> = described
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    // The server declares KSQL_PROCESSING_LOG itself, as ksqlDB does.
    assert_eq!(names, ["A", "B", "KSQL_PROCESSING_LOG"]);
    assert_eq!(described[1]["partitions"], 2);
    assert_eq!(described[0]["extended"], true);
    assert_eq!(described[0]["fields"][2]["name"], "V");
    let tables = server.ksql("show tables extended;");
    assert_eq!(tables[0]["sourceDescriptions"][0]["name"], "C");
}

/// Item 3: `/inserts-stream` answers in the type the client accepts; with
/// `application/json`, one JSON array of acks (ksqlDB's
/// JsonInsertsStreamResponseWriter), which npm's ksqldb-client parses.
#[test]
fn inserts_stream_answers_a_json_array_to_a_json_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream s (id int key, v int) with (kafka_topic='s', value_format='JSON', partitions=1);",
    );
    let post = |accept: &str, body: &str| -> (String, String) {
        let mut r = server
            .agent
            .post(&format!("{}/inserts-stream", server.url))
            .header("Accept", accept)
            .send(body.as_bytes())
            .unwrap();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (content_type, r.body_mut().read_to_string().unwrap())
    };
    let body = "{\"target\": \"s\"}\n{\"ID\": 1, \"V\": 1}\n{\"ID\": 2, \"V\": 2}\n";
    let (content_type, text) = post("application/json", body);
    assert_eq!(content_type, "application/json");
    let acks: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(
        acks,
        json!([{"status": "ok", "seq": 0}, {"status": "ok", "seq": 1}])
    );
    // An error is an element of the array too, and ends it.
    let (_, text) = post(
        "application/json",
        "{\"target\": \"s\"}\n{\"ID\": 3}\nnot json\n",
    );
    let acks: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(acks[0], json!({"status": "ok", "seq": 0}));
    assert_eq!(acks[1]["status"], "error", "{acks}");
    assert_eq!(acks[1]["seq"], 1, "{acks}");
    // No rows: an empty array.
    let (_, text) = post("application/json", "{\"target\": \"s\"}\n");
    assert_eq!(text, "[]");
    // The delimited type stays the default.
    let (content_type, text) = post("*/*", "{\"target\": \"s\"}\n{\"ID\": 4}\n");
    assert_eq!(content_type, "application/vnd.ksqlapi.delimited.v1");
    assert_eq!(text.trim(), "{\"status\":\"ok\",\"seq\":0}");
    assert_eq!(server.pull_until("select * from s;", 4).len(), 4);
}

/// Item 4: a warehouse backfill sent as many INSERT VALUES in one `/ksql`
/// request: every row lands, in the statements' order, each once. (The
/// rate, which must not fall as requests grow, is `ddsql-bench inserts`.)
#[test]
fn twenty_thousand_insert_values_in_one_request_land_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream s (id int key, n int) with (kafka_topic='s', value_format='JSON', partitions=1);\n\
         create table last_n as select id, latest_by_offset(n) as n, count(*) as c from s group by id;",
    );
    let sql: String = (0..20_000)
        .map(|n| format!("insert into s (id, n) values ({}, {n});\n", n % 7))
        .collect();
    let (status, body) = server.post("/ksql", &json!({"ksql": sql}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!([]), "INSERT VALUES answers with no entity");
    let rows = server.pull_until("select * from last_n;", 7);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rows = rows;
    while rows.iter().map(|r| r[2].as_i64().unwrap()).sum::<i64>() < 20_000 {
        assert!(Instant::now() < deadline, "{rows:?}");
        std::thread::sleep(Duration::from_millis(50));
        rows = server.pull("select * from last_n;");
    }
    rows.sort_by_key(|r| r[0].as_i64());
    // Key k's last statement is the largest n below 20,000 with n % 7 == k.
    let expected: Vec<Json> = (0..7i64)
        .map(|k| {
            let last = (0..20_000i64).rev().find(|n| n % 7 == k).unwrap();
            let count = (0..20_000i64).filter(|n| n % 7 == k).count();
            json!([k, last, count])
        })
        .collect();
    assert_eq!(rows, expected);
}

/// The ids in topic `t`'s stream `name`, once `n` arrived (a push query
/// from the earliest offsets, ended by LIMIT).
fn ids(server: &Server, name: &str, n: usize) -> Vec<i64> {
    let mut ids: Vec<i64> = server
        .push(&format!("select id from {name} emit changes"), n)
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

/// Item 1: `auto.offset.reset` is honoured for persistent queries, from a
/// request's streamsProperties or a SET, with or without ksqlDB's
/// `ksql.streams.` prefix; earliest is the default.
#[test]
fn persistent_queries_honour_auto_offset_reset() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream s (id int key, v int) with (kafka_topic='s', value_format='JSON', partitions=1);\n\
         insert into s (id, v) values (1, 1);",
    );
    // The default: the backlog is read.
    server.ksql("create stream from_start as select * from s;");
    let (status, body) = server.post(
        "/ksql",
        &json!({"ksql": "create stream latest1 as select * from s;",
                "streamsProperties": {"auto.offset.reset": "latest"}}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post(
        "/ksql",
        &json!({"ksql": "create stream latest2 as select * from s;",
                "streamsProperties": {"ksql.streams.auto.offset.reset": "latest"}}),
    );
    assert_eq!(status, 200, "{body}");
    server.ksql(
        "SET 'auto.offset.reset'='latest';\ncreate stream latest3 as select * from s;\n\
         SET 'auto.offset.reset'='earliest';\ncreate stream from_start2 as select * from s;",
    );
    // Each query above is installed and reading before this row is written.
    server.ksql("insert into s (id, v) values (2, 2);");
    assert_eq!(ids(&server, "from_start", 2), [1, 2]);
    assert_eq!(ids(&server, "from_start2", 2), [1, 2]);
    for latest in ["latest1", "latest2", "latest3"] {
        assert_eq!(ids(&server, latest, 1), [2], "{latest}");
    }
}

/// Item 1: a push query given `ksql.streams.auto.offset.reset` (the name
/// ksqlDB's docs use) reads from where it says.
#[test]
fn push_queries_read_the_prefixed_offset_reset() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream s (id int key) with (kafka_topic='s', value_format='JSON', partitions=1);\n\
         insert into s (id) values (1);",
    );
    let r = server
        .agent
        .post(&format!("{}/query-stream", server.url))
        .config()
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .send_json(json!({"sql": "select * from s emit changes limit 1;",
                          "properties": {"ksql.streams.auto.offset.reset": "earliest"}}))
        .unwrap();
    let lines: Vec<String> = BufReader::new(r.into_body().into_reader())
        .lines()
        .map(|l| l.unwrap())
        .collect();
    assert_eq!(lines.get(1).map(String::as_str), Some("[1]"), "{lines:?}");
}

/// Item 1: a property ksqlDB does not know is refused, naming the closest
/// known one; a known one ddsql does not read is accepted with a warning.
#[test]
fn unknown_properties_are_refused_and_ignored_ones_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream s (id int key, v int) with (kafka_topic='s', value_format='JSON', partitions=1);",
    );
    let (status, body) = server.post(
        "/ksql",
        &json!({"ksql": "SET 'auto.offset.rest'='earliest';\ncreate stream t as select * from s;"}),
    );
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("'auto.offset.rest'") && message.contains("auto.offset.reset"),
        "{message}"
    );
    assert!(message.contains("line 1"), "{message}");
    // Nothing of the request ran.
    assert!(
        !server.ksql("show streams;")[0]["streams"]
            .to_string()
            .contains("\"T\""),
        "nothing of the request ran"
    );
    let (status, body) = server.post(
        "/ksql",
        &json!({"ksql": "create stream t as select * from s;",
                "streamsProperties": {"ksql.streams.auto.ofset.reset": "earliest"}}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("auto.offset.reset"),
        "{body}"
    );
    // Refused as ksqlDB refuses: a value out of range, a fixed property.
    let (status, body) = server.post(
        "/ksql",
        &json!({"ksql": "SET 'auto.offset.reset'='sometimes';"}),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.post("/ksql", &json!({"ksql": "SET 'ksql.service.id'='other';"}));
    assert_eq!(status, 400, "{body}");
    // Known to ksqlDB (a producer config), not read by ddsql: a warning.
    let (status, body) = server.post(
        "/ksql",
        &json!({"ksql": "create stream t as select * from s;",
                "streamsProperties": {"ksql.streams.producer.linger.ms": "5"}}),
    );
    assert_eq!(status, 200, "{body}");
    let warnings = body[0]["warnings"].to_string();
    assert!(warnings.contains("linger.ms"), "{body}");
}

/// Item 7: the shell's own commands, as ksqlDB's CLI has them.
#[test]
fn the_shell_knows_exit_quit_help_and_version() {
    use ddsql::shell::{Client, Shell};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for word in ["exit", "quit", "EXIT;", "  quit  "] {
        let mut shell = Shell::new(Client::new(&server.url));
        let mut out = Vec::new();
        assert!(!shell.done());
        shell.line(word, &mut out).unwrap();
        assert!(shell.done(), "{word:?}");
    }
    let mut shell = Shell::new(Client::new(&server.url));
    let mut out = Vec::new();
    shell.line("help", &mut out).unwrap();
    shell.line("version", &mut out).unwrap();
    assert!(!shell.done());
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("exit") && text.contains("RUN SCRIPT") && text.contains("SHOW STREAMS"),
        "{text}"
    );
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    assert!(
        text.contains("0.29.0"),
        "the server's ksqlDB version: {text}"
    );
}

/// Item 7: SHOW PROPERTIES shows what SET set, beside the defaults.
#[test]
fn show_properties_shows_set_properties() {
    use ddsql::shell::{Client, Shell};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut shell = Shell::new(Client::new(&server.url));
    let mut out = Vec::new();
    shell
        .line("SET 'auto.offset.reset'='latest';", &mut out)
        .unwrap();
    shell.line("show properties;", &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("auto.offset.reset") && l.contains("latest")),
        "{text}"
    );
    assert!(
        text.contains("ksql.persistence.default.format.key"),
        "defaults are listed too: {text}"
    );
    // Over HTTP, a request's properties are its overrides.
    let shown = server.ksql("show properties;");
    let listed = shown[0]["properties"].to_string();
    assert!(listed.contains("auto.offset.reset"), "{shown:?}");
}

fn cli(args: &[&str], stdin: Stdio) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ddsql"))
        .arg("cli")
        .args(args)
        .stdin(stdin)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Item 7: `ddsql cli --file` fails (non-zero) on a statement error and
/// when the server cannot be reached; the banner says "connected" only
/// once it is; `cli --help` lists only the flags the shell uses.
#[test]
fn the_cli_fails_loudly_and_connects_honestly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let bad = dir.path().join("bad.sql");
    std::fs::write(&bad, "show streams;\ncreate stream oops (;\nshow tables;\n").unwrap();
    let (code, out, err) = cli(
        &["--server", &server.url, "--file", bad.to_str().unwrap()],
        Stdio::null(),
    );
    assert_ne!(code, Some(0), "{out}{err}");
    assert!(format!("{out}{err}").contains("line 2"), "{out}{err}");

    let good = dir.path().join("good.sql");
    std::fs::write(&good, "show streams;\n").unwrap();
    let (code, out, err) = cli(
        &[
            "--server",
            "http://127.0.0.1:9",
            "--file",
            good.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    assert_ne!(code, Some(0), "{out}{err}");
    assert!(format!("{out}{err}").contains("cannot reach"), "{out}{err}");

    // Interactive, with no terminal: the banner, then Ctrl-D (end of input).
    let (_, out, err) = cli(&["--server", "http://127.0.0.1:9"], Stdio::null());
    assert!(!out.contains("connected"), "{out}");
    assert!(format!("{out}{err}").contains("cannot reach"), "{out}{err}");
    let (_, out, _) = cli(&["--server", &server.url], Stdio::null());
    assert!(out.contains("connected"), "{out}");

    let (code, help, _) = cli(&["--help"], Stdio::null());
    assert_eq!(code, Some(0));
    assert!(
        help.contains("--server") && help.contains("--file"),
        "{help}"
    );
    for unused in ["--data-dir", "--kafka-bootstrap", "--schema-registry-url"] {
        assert!(!help.contains(unused), "{unused} in {help}");
    }
}

/// Item 6: command sequence numbers only grow, across a restart too, and
/// `/status` remembers the commands from before it.
#[test]
fn command_sequence_numbers_and_statuses_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let server = Server::start(dir.path());
        let done = server.ksql(
            "create stream s (id int key, v int) with (kafka_topic='s', value_format='JSON', partitions=1);\n\
             create stream t as select * from s;",
        );
        let numbers: Vec<i64> = done
            .iter()
            .map(|e| e["commandSequenceNumber"].as_i64().unwrap())
            .collect();
        assert!(numbers[0] < numbers[1], "{numbers:?}");
        numbers[1]
    };
    let server = Server::start(dir.path());
    let done = server.ksql("create stream u as select * from s;");
    let after = done[0]["commandSequenceNumber"].as_i64().unwrap();
    assert!(after > first, "{first} then {after} after the restart");
    let (status, all) = get(&server, "/status");
    assert_eq!(status, 200);
    assert_eq!(
        all["commandStatuses"],
        json!({"stream/KSQL_PROCESSING_LOG/create": "SUCCESS", "stream/S/create": "SUCCESS",
               "stream/T/create": "SUCCESS", "stream/U/create": "SUCCESS"})
    );
    let (status, one) = get(&server, "/status/stream/T/create");
    assert_eq!(status, 200);
    assert_eq!(
        one,
        json!({"status": "SUCCESS", "message": "Created query with ID CSAS_T_0"})
    );
}

/// Item 5: the processing log is ksqlDB's `KSQL_PROCESSING_LOG` stream,
/// in ksqlDB's layout (LOGGER, LEVEL, TIME, MESSAGE with its error
/// structs) plus where the record was and which query met it.
#[test]
fn the_processing_log_is_the_ksql_processing_log_stream() {
    use ddsql_connectors::embedded::EmbeddedLog;
    use ddsql_engine::io::{Record, Transport};
    let dir = tempfile::tempdir().unwrap();
    {
        // A record no JSON decoder reads, written before the server runs.
        let log = EmbeddedLog::open(dir.path()).unwrap();
        log.create_topic("raw", 1).unwrap();
        let record = |v: &str| Record {
            key: None,
            value: Some(v.as_bytes().to_vec()),
            timestamp: 1_000,
            headers: vec![],
        };
        log.append(
            "raw",
            0,
            &[record("{not json"), record("{\"V\": \"2024-01-02\"}")],
        )
        .unwrap();
        log.flush().unwrap();
    }
    let server = Server::start(dir.path());
    let streams = server.ksql("show streams;");
    assert!(
        streams[0]["streams"]
            .to_string()
            .contains("KSQL_PROCESSING_LOG"),
        "{streams:?}"
    );
    server.ksql(
        "create stream raw (v string) with (kafka_topic='raw', value_format='JSON');\n\
         create stream parsed as select parse_date(v, 'yyyy-MM-dd') as d from raw;",
    );
    // A value PARSE_DATE cannot read: a record processing error.
    server.insert("raw", &[json!({"V": "nope"})]);
    let rows = server.push(
        "select query_id, record_topic, record_partition, record_offset, message->type, \
         message->deserializationerror->errormessage, message->recordprocessingerror->errormessage, \
         level, logger from KSQL_PROCESSING_LOG emit changes",
        2,
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (bad, failed) = (&rows[0], &rows[1]);
    assert_eq!(bad[0], "CSAS_PARSED_0");
    assert_eq!(
        (&bad[1], &bad[2], &bad[3]),
        (&json!("raw"), &json!(0), &json!(0))
    );
    assert_eq!(bad[4], 0, "DESERIALIZATION_ERROR: {bad}");
    assert!(bad[5].as_str().unwrap().contains("JSON"), "{bad}");
    assert_eq!(bad[6], Json::Null);
    assert_eq!(failed[4], 1, "RECORD_PROCESSING_ERROR: {failed}");
    assert!(failed[6].as_str().unwrap().contains("nope"), "{failed}");
    assert_eq!(failed[7], "ERROR");
    assert!(
        failed[8]
            .as_str()
            .unwrap()
            .starts_with("processing.CSAS_PARSED_0"),
        "{failed}"
    );
    // A restart finds the stream there and does not declare it twice.
    drop(server);
    let server = Server::start(dir.path());
    let streams = server.ksql("show streams;")[0]["streams"].clone();
    let named: Vec<&Json> = streams
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "KSQL_PROCESSING_LOG")
        .collect();
    assert_eq!(named.len(), 1, "{streams}");
}

fn ddsql_topic(dir: &std::path::Path, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddsql"))
        .arg("--data-dir")
        .arg(dir)
        .arg("topic")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Item 2: `ddsql topic produce|consume|list` work while `ddsql server`
/// holds the data directory, through the server (its `/topics`
/// endpoints), and their writes take the server's ordered write path.
#[test]
fn topic_commands_reach_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream s (id int key, v int) with (kafka_topic='s', value_format='JSON', partitions=1);\n\
         create table totals as select id, sum(v) as total from s group by id;",
    );
    let (code, out, err) = ddsql_topic(
        dir.path(),
        &["produce", "s", "--key-encoding", "int"],
        "{\"key\": 1, \"value\": {\"V\": 5}}\n{\"key\": 1, \"value\": {\"V\": 6}}\n",
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("produced 2 records"), "{err}");
    // The running query read them.
    let rows = server.pull_until("select * from totals where id = 1;", 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rows = rows;
    while rows != [json!([1, 11])] {
        assert!(Instant::now() < deadline, "{rows:?}");
        std::thread::sleep(Duration::from_millis(50));
        rows = server.pull("select * from totals where id = 1;");
    }
    let (code, out, err) = ddsql_topic(
        dir.path(),
        &[
            "consume",
            "s",
            "--max",
            "2",
            "--key-encoding",
            "int",
            "--headers",
        ],
        "",
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<Json> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        (&lines[1]["key"], &lines[1]["value"]),
        (&json!(1), &json!({"V": 6}))
    );
    // Stamped by the ordered write path, as every ddsql write is.
    assert!(lines[0]["headers"]["ddsql"].is_string(), "{}", lines[0]);
    let (code, out, err) = ddsql_topic(dir.path(), &["list"], "");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("s\t1 partitions\t2 records")),
        "{out}"
    );
    // A malformed line is refused by name, and nothing of the batch is lost
    // silently: the lines before it were written, and it says how many.
    let (code, _, err) = ddsql_topic(
        dir.path(),
        &["produce", "s"],
        "{\"value\": {\"V\": 1}}\nnot json\n",
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("line 2"), "{err}");
}
