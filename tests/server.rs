//! `ddsql server` driven over HTTP by a real client: the seed's three
//! pipelines created through `/ksql`, fed through INSERT VALUES and
//! `/inserts-stream`, read back with push and pull queries; ksqlDB-shaped
//! errors; a catalog that survives a restart; the shell against the server.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use ddsql::shell::{Client, Shell};
use ddsql_connectors::embedded::EmbeddedLog;
use ddsql_engine::io::Transport;
use serde_json::{json, Value as Json};

mod common;

use common::server::Server;
use common::{EVENT_JOIN, FIRST_ORDER, TOGGLE};

/// Topics the Debezium connector would have made (the seed's statements
/// declare streams over them without PARTITIONS).
fn debezium_topics(dir: &Path, topics: &[&str]) {
    let log = EmbeddedLog::open(dir).unwrap();
    for t in topics {
        log.create_topic(t, 1).unwrap();
    }
}

#[test]
fn first_order_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let created = server.ksql(FIRST_ORDER);
    assert_eq!(created.len(), 5);
    assert_eq!(
        created[2]["commandStatus"]["queryId"],
        "CTAS_TB_MIN_ORDER_0"
    );
    assert_eq!(created[2]["commandId"], "table/tb_min_order/create");
    let explained = server.ksql("explain CTAS_TB_MIN_ORDER_0;");
    let description = &explained[0]["queryDescription"];
    assert_eq!(explained[0]["@type"], "queryDescription");
    assert_eq!(description["id"], "CTAS_TB_MIN_ORDER_0");
    assert_eq!(description["sinks"], json!(["tb_min_order"]));
    assert_eq!(description["sources"], json!(["stm_order_candidate"]));
    let plan = description["executionPlan"].as_str().unwrap();
    assert!(
        plan.contains("Aggregate key=[#3] aggregates=[MIN(#4): BIGINT]")
            && plan.contains("Scan stm_order_candidate"),
        "{plan}"
    );

    // The seed's backfill loop: one INSERT VALUES per request...
    for (user, order) in [(1, 97), (2, 60)] {
        let done = server.ksql(&format!(
            "insert into `stm_order_candidate` (rowtime, user_id, order_id) values (1740787200000, {user}, {order});"
        ));
        assert!(done.is_empty(), "INSERT VALUES answers with no entity");
    }
    // ... and the rest in bulk.
    let backfill: Vec<Json> = (3..=200)
        .map(|u| json!({"ROWTIME": 1740787200000i64, "USER_ID": u, "ORDER_ID": u * 10}))
        .collect();
    let acks = server.insert("stm_order_candidate", &backfill);
    assert_eq!(acks.len(), 198);
    assert!(acks.iter().all(|a| a["status"] == "ok"), "{acks:?}");

    // Live Debezium orders: users 1..=200 order again (not first), users
    // 201..=250 order for the first time, twice each.
    let mut orders = Vec::new();
    for u in 1..=250i64 {
        for n in 0..2 {
            let order = 100_000 + u * 10 + n;
            orders.push(json!({"ROWTIME": 1741168800000i64 + u * 100 + n, "after": {"order_id": order, "user_id": u}, "op": "c", "ts_ms": 0}));
        }
    }
    let acks = server.insert("stg_order", &orders);
    assert!(acks.iter().all(|a| a["status"] == "ok"), "{acks:?}");

    // One first order per user, whatever raced in ksqlDB.
    let firsts = server.push("select * from `stm_min_order` emit changes", 250);
    let mut users: Vec<i64> = firsts.iter().map(|r| r[0].as_i64().unwrap()).collect();
    users.sort();
    assert_eq!(users, (1..=250).collect::<Vec<_>>());

    // The table: each user's minimum, by pull query (a key lookup).
    let rows = server.pull_until("select * from `tb_min_order` where user_id = 201;", 1);
    assert_eq!(rows, vec![json!([201, 102010])]);
    let all = server.pull_until("select * from `tb_min_order`;", 250);
    assert_eq!(all.len(), 250);
    assert!(all.contains(&json!([1, 97])) && all.contains(&json!([150, 1500])));
}

#[test]
fn event_join_over_http() {
    let dir = tempfile::tempdir().unwrap();
    debezium_topics(
        dir.path(),
        &["EVENT_MYSQL.EVENT.SUBMIT", "EVENT_MYSQL.EVENT.NAME"],
    );
    let server = Server::start(dir.path());
    server.ksql(EVENT_JOIN);
    let t0 = 1_710_921_600_000i64;
    let name = |id: i64, name: &str, ts: i64| json!({"ROWTIME": ts, "after": {"id": id, "name": name}, "op": "r", "ts_ms": ts});
    let acks = server.insert(
        "stg_name",
        &[
            name(101, "봄맞이 이벤트", t0 - 60_000),
            name(102, "한여름 이벤트", t0 - 50_000),
            name(101, "봄 맞이 이벤트", t0 - 40_000),
        ],
    );
    assert!(acks.iter().all(|a| a["status"] == "ok"), "{acks:?}");
    // The names are in the table before the submits arrive.
    server.pull_until(
        "select * from `tb_event_name` where name = '봄 맞이 이벤트';",
        1,
    );
    let submit = |op: &str, user: i64, event: Option<i64>, at: &str, ts: i64| json!({"ROWTIME": ts, "after": {"user_id": user, "event_id": event, "created_at": at}, "source": {"version": "3.0.8.Final", "ts_ms": ts}, "op": op, "ts_ms": ts});
    server.insert(
        "stg_submit",
        &[
            submit("c", 1, Some(101), "2024-03-20T10:00:00Z", t0),
            submit("c", 2, Some(101), "2024-03-20T10:00:05Z", t0 + 5_000),
            submit("c", 4, Some(999), "2024-03-20T10:00:12Z", t0 + 12_000),
            submit("c", 3, Some(102), "2024-03-20T10:00:10Z", t0 + 10_000),
        ],
    );
    let joined = server.push("select * from `stm_event_name_join` emit changes", 3);
    assert_eq!(
        joined,
        vec![
            json!([1, "봄 맞이 이벤트", "2024-03-20T10:00:00Z"]),
            json!([2, "봄 맞이 이벤트", "2024-03-20T10:00:05Z"]),
            json!([3, "한여름 이벤트", "2024-03-20T10:00:10Z"]),
        ]
    );
}

#[test]
fn toggle_dedup_over_http() {
    let dir = tempfile::tempdir().unwrap();
    debezium_topics(dir.path(), &["SETTING_MONGO.SETTING.OPTION"]);
    let server = Server::start(dir.path());
    server.ksql(TOGGLE);
    let event = |op: &str, user: i64, toggle: bool, ts: i64| {
        let doc = json!({"_id": {"$oid": format!("38vhxu2ffa{user}")}, "user_id": {"$numberLong": user.to_string()}, "toggle": toggle});
        json!({"ROWTIME": ts, "after": doc.to_string(), "op": op, "source": {"ts_ms": ts}})
    };
    server.insert(
        "stg_option",
        &[
            event("c", 1, false, 1747120515000),
            event("u", 1, false, 1747120567000),
            event("u", 1, true, 1747120590000),
            event("u", 1, true, 1747120600000),
            event("c", 2, false, 1747123415000),
            event("u", 2, true, 1747123416000),
            event("u", 2, false, 1747123417000),
        ],
    );
    // The article's output: the first value per user, then each change.
    let toggles = server.push("select * from `stm_toggle` emit changes", 5);
    assert_eq!(
        toggles,
        vec![
            json!([1, false]),
            json!([1, true]),
            json!([2, false]),
            json!([2, true]),
            json!([2, false]),
        ]
    );
}

#[test]
fn errors_are_ksqldb_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--max-request-bytes", "1000"]);
    let agent = &server.agent;
    // Malformed JSON.
    let mut r = agent
        .post(&format!("{}/ksql", server.url))
        .send("{\"ksql\": ")
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Json = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["@type"], "generic_error");
    assert_eq!(body["error_code"], 40000);
    assert!(body["message"].as_str().unwrap().contains("malformed JSON"));
    // An unknown endpoint.
    let mut r = agent.get(&format!("{}/nope", server.url)).call().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: Json = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error_code"], 40400);
    assert!(body["message"].as_str().unwrap().contains("GET /nope"));
    // A body over the limit.
    let (status, body) = server.post("/ksql", &json!({"ksql": "x".repeat(5000)}));
    assert_eq!(status, 413);
    assert_eq!(body["error_code"], 41300);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("--max-request-bytes"));
    // Invalid SQL: a statement error naming line and column.
    let (status, body) = server.post(
        "/ksql",
        &json!({"ksql": "create stream s (id int key, v string)\n  with (kafka_topic='s', value_format='JSON', partitions=1);\nselect * fron s;"}),
    );
    assert_eq!(status, 400);
    assert_eq!(body["@type"], "statement_error");
    assert_eq!(body["error_code"], 40001);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("line 3, column 10"),
        "{body}"
    );
    // Nothing of a failing request was executed.
    // (The server declares KSQL_PROCESSING_LOG itself, as ksqlDB does.)
    let streams = server.ksql("show streams;");
    assert_eq!(streams[0]["streams"].as_array().unwrap().len(), 1);
    assert_eq!(streams[0]["streams"][0]["name"], "KSQL_PROCESSING_LOG");
    // SELECT belongs on /query.
    server.ksql("create stream s (id int key, v string) with (kafka_topic='s', value_format='JSON', partitions=1);");
    let (status, body) = server.post("/ksql", &json!({"ksql": "select * from s;"}));
    assert_eq!(status, 400);
    assert_eq!(body["error_code"], 40002);
    // An unknown name gets a suggestion.
    let (_, body) = server.post("/query", &json!({"ksql": "select * from ss;"}));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `S`"),
        "{body}"
    );
    // Bad rows in /inserts-stream are acked as errors; the good ones land.
    let acks = server.insert(
        "s",
        &[
            json!({"ID": 1, "V": "a"}),
            json!({"ID": "x"}),
            json!({"ID": 2, "W": 1}),
        ],
    );
    assert_eq!(acks[0], json!({"status": "ok", "seq": 0}));
    assert_eq!(acks[1]["status"], "error");
    assert_eq!(acks[1]["seq"], 1);
    assert!(acks[2]["message"].as_str().unwrap().contains("no column W"));
    assert_eq!(server.pull("select * from s;"), vec![json!([1, "a"])]);
}

#[test]
fn persistent_queries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = Server::start(dir.path());
        server.ksql(
            "create stream s (id int key, v int) with (kafka_topic='s', value_format='JSON', partitions=2);
             create table t as select id, sum(v) as total from s group by id;",
        );
        server.insert("s", &[json!({"ID": 1, "V": 1}), json!({"ID": 2, "V": 5})]);
        server.pull_until("select * from t where total = 5;", 1);
    }
    let server = Server::start(dir.path());
    let queries = server.ksql("show queries;");
    assert_eq!(queries[0]["queries"][0]["id"], "CTAS_T_0");
    server.insert("s", &[json!({"ID": 1, "V": 10})]);
    let rows = server.pull_until("select * from t where id = 1 and total = 11;", 1);
    assert_eq!(rows, vec![json!([1, 11])]);
    // The table's changelog holds each update once: the restart replayed
    // the topic without writing its results again.
    drop(server);
    let log = EmbeddedLog::open(dir.path()).unwrap();
    let count: u64 = (0..2).map(|p| log.end_offset("T", p).unwrap()).sum();
    assert_eq!(count, 3);
}

/// `CREATE TYPE` over REST: the status ksqlDB answers, `SHOW TYPES`'s
/// `type_list`, and the type kept across a restart like any command.
#[test]
fn custom_types_over_http_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = Server::start(dir.path());
        let created = server.ksql("create type address as struct<street string, zip int>;");
        assert_eq!(created[0]["commandId"], "type/ADDRESS/create");
        assert_eq!(
            created[0]["commandStatus"]["message"],
            "Registered custom type with name 'ADDRESS' and SQL type STRUCT<`STREET` STRING, `ZIP` INTEGER>"
        );
    }
    let server = Server::start(dir.path());
    let types = server.ksql("show types;");
    assert_eq!(types[0]["@type"], "type_list");
    assert_eq!(types[0]["types"]["ADDRESS"]["type"], "STRUCT");
    assert_eq!(types[0]["types"]["ADDRESS"]["fields"][1]["name"], "ZIP");
    assert_eq!(
        types[0]["types"]["ADDRESS"]["fields"][1]["schema"]["type"],
        "INTEGER"
    );
    server.ksql(
        "create stream people (id int key, home address) with (kafka_topic='people', value_format='JSON', partitions=1);",
    );
    server.insert(
        "people",
        &[json!({"ID": 1, "HOME": {"STREET": "Main", "ZIP": 7}})],
    );
    let rows = server.pull_until("select id, home->zip from people;", 1);
    assert_eq!(rows, vec![json!([1, 7])]);
    let dropped = server.ksql("drop type address;");
    assert_eq!(
        dropped[0]["commandStatus"]["message"],
        "Dropped type 'ADDRESS'"
    );
    assert_eq!(server.ksql("show types;")[0]["types"], json!({}));
}

/// PRINT in the shell (over `/query-stream`), in a script, and where
/// ksqlDB refuses it.
#[test]
fn print_shows_a_topics_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream pv (id int key, page string) with (kafka_topic='pv_topic', key_format='KAFKA', value_format='JSON', partitions=1);",
    );
    server.insert(
        "pv",
        &[
            json!({"ID": 1, "PAGE": "home", "ROWTIME": 1_764_064_800_000i64}),
            json!({"ID": 2, "PAGE": "cart", "ROWTIME": 1_764_064_801_000i64}),
            json!({"ID": 3, "PAGE": "pay", "ROWTIME": 1_764_064_802_000i64}),
        ],
    );
    let mut shell = Shell::new(Client::new(&server.url));
    let mut out = Vec::new();
    // Every second record, two of them: records 1 and 3.
    shell
        .line(
            "print 'pv_topic' from beginning interval 2 limit 2;",
            &mut out,
        )
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "Key format: KAFKA_INT\n\
         Value format: JSON or KAFKA_STRING\n\
         rowtime: 2025/11/25 10:00:00.000 Z, key: 1, value: {\"PAGE\":\"home\"}, partition: 0\n\
         rowtime: 2025/11/25 10:00:02.000 Z, key: 3, value: {\"PAGE\":\"pay\"}, partition: 0\n"
    );
    // An unquoted name is tried as written, then upper-cased; a missing
    // topic is named.
    let (status, body) = server.post("/ksql", &json!({"ksql": "print nope;"}));
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Could not find topic 'nope'"),
        "{body}"
    );
    let (status, body) = server.post("/ksql", &json!({"ksql": "print 'pv_topic' interval 0;"}));
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("INTERVAL must be at least 1"),
        "{body}"
    );
    // /ksql sends PRINT to /query, and /query-stream wants it delimited.
    let (status, body) = server.post("/ksql", &json!({"ksql": "print 'pv_topic';"}));
    assert_eq!(
        (status, body["error_code"].as_u64()),
        (400, Some(40002)),
        "{body}"
    );
    let status = server
        .agent
        .post(&format!("{}/query-stream", server.url))
        .header("Accept", "application/json")
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(json!({"sql": "print 'pv_topic';"}))
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 406);
    // A script shows what the topic holds when it runs.
    drop(server);
    let mut session = ddsql::Session::open(dir.path()).unwrap();
    let done = session
        .execute_script("print pv_topic from beginning limit 1;")
        .unwrap();
    assert!(
        done[0]
            .output
            .as_deref()
            .unwrap()
            .ends_with("key: 1, value: {\"PAGE\":\"home\"}, partition: 0"),
        "{:?}",
        done[0].output
    );
}

#[test]
fn the_shell_renders_show_streams() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut shell = Shell::new(Client::new(&server.url));
    let mut out = Vec::new();
    // A statement over several lines runs once its `;` arrives.
    shell
        .line(
            "create stream pageviews (id int key, page string)",
            &mut out,
        )
        .unwrap();
    assert!(out.is_empty());
    assert_eq!(shell.prompt(), ">     ");
    shell
        .line(
            "  with (kafka_topic='pv', value_format='JSON', partitions=1);",
            &mut out,
        )
        .unwrap();
    shell.line("show streams;", &mut out).unwrap();
    shell
        .line(
            "insert into pageviews (id, page) values (1, 'home');",
            &mut out,
        )
        .unwrap();
    shell.line("select * from pageviews;", &mut out).unwrap();
    shell
        .line(
            "explain select id, ucase(page) from pageviews emit changes;",
            &mut out,
        )
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let explained = "\
ID           : - (not running)
SQL          : select id, ucase(page) from pageviews emit changes
Reads        : PAGEVIEWS
Writes       : -

Output (STREAM):
  #0 ROWTIME BIGINT
  #1 ID INTEGER KEY
  #2 KSQL_COL_0 STRING

Plan:
  Map #0, #3, UCASE(#4)
    Scan PAGEVIEWS
";
    assert!(text.contains(explained), "{text}");
    // KSQL_PROCESSING_LOG: the server declares it, as ksqlDB does.
    let expected = "\
 Stream Name         | Kafka Topic          | Key Format | Value Format | Windowed
-----------------------------------------------------------------------------------
 KSQL_PROCESSING_LOG | ddsql_processing_log | NONE       | JSON         | false
 PAGEVIEWS           | pv                   | KAFKA      | JSON         | false
-----------------------------------------------------------------------------------";
    assert!(text.contains(" Message\n"), "{text}");
    assert!(text.contains("Stream created"), "{text}");
    assert!(text.contains(expected), "{text}");
    assert!(text.contains("| 1            | home         |"), "{text}");
    assert!(text.contains("1 row returned"), "{text}");
}

#[test]
fn info_health_status_and_session_variables() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let get = |path: &str| -> (u16, Json) {
        let mut r = server
            .agent
            .get(&format!("{}{path}", server.url))
            .call()
            .unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        (r.status().as_u16(), serde_json::from_str(&text).unwrap())
    };
    let (status, info) = get("/info");
    assert_eq!(status, 200);
    assert_eq!(info["KsqlServerInfo"]["serverStatus"], "RUNNING");
    // Variables are substituted for the request only.
    let (status, body) = server.post(
        "/ksql",
        &json!({
            "ksql": "create stream s (id int key, v int) with (kafka_topic='${t}', value_format='JSON', partitions=1);\n\
                     create table c as select id, count(*) as n from s group by id;",
            "sessionVariables": {"t": "events"},
        }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["commandStatus"]["message"], "Stream created");
    // The command's offset in the command topic, as in ksqlDB (offset 0
    // declared KSQL_PROCESSING_LOG).
    assert_eq!(body[1]["commandSequenceNumber"], 2);
    let streams = server.ksql("show streams;");
    let s = streams[0]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "S")
        .unwrap();
    assert_eq!(s["topic"], "events");
    let (_, statuses) = get("/status");
    assert_eq!(
        statuses["commandStatuses"],
        json!({"stream/KSQL_PROCESSING_LOG/create": "SUCCESS", "stream/S/create": "SUCCESS", "table/C/create": "SUCCESS"})
    );
    let (status, one) = get("/status/table/C/create");
    assert_eq!(status, 200);
    assert_eq!(
        one,
        json!({"status": "SUCCESS", "message": "Created query with ID CTAS_C_0"})
    );
    let (status, _) = get("/status/table/NOPE/create");
    assert_eq!(status, 404);
    // The persistent query runs: the health check says so.
    let (status, health) = get("/healthcheck");
    assert_eq!(status, 200);
    assert_eq!(health["isHealthy"], true);
    assert_eq!(health["details"]["commandRunner"]["isHealthy"], true);
}

#[test]
fn close_query_ends_a_push_query() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream s (id int key) with (kafka_topic='s', value_format='JSON', partitions=1);",
    );
    let r = server
        .agent
        .post(&format!("{}/query-stream", server.url))
        .send_json(json!({"sql": "select * from s emit changes;"}))
        .unwrap();
    let mut lines = BufReader::new(r.into_body().into_reader()).lines();
    let header: Json = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let id = header["queryId"].as_str().unwrap().to_string();
    // Rows inserted after the query started arrive (auto.offset.reset=latest).
    server.insert("s", &[json!({"ID": 7})]);
    let row: Json = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(row, json!([7]));
    let (status, _) = server.post("/close-query", &json!({"queryId": id}));
    assert_eq!(status, 200);
    // The response ends.
    assert!(lines.next().is_none());
    let (status, body) = server.post("/close-query", &json!({"queryId": "nope"}));
    assert_eq!((status, body["error_code"].clone()), (400, json!(40000)));
}

#[test]
fn the_cli_binary_runs_a_file_against_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let script = dir.path().join("s.sql");
    let ddl = dir.path().join("ddl.sql");
    std::fs::write(
        &ddl,
        "create stream a (id int key) with (kafka_topic='a', value_format='JSON', partitions=1);\n",
    )
    .unwrap();
    std::fs::write(
        &script,
        format!("run script '{}';\nshow streams;\n", ddl.display()),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddsql"))
        .args(["cli", "--server", &server.url, "--file"])
        .arg(&script)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let row = |l: &str| -> Vec<String> { l.split('|').map(|c| c.trim().to_string()).collect() };
    assert!(
        out.lines()
            .any(|l| row(l) == ["A", "a", "KAFKA", "JSON", "false"]),
        "{out}"
    );
}
