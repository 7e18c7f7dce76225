//! The long-lived runtime, through a real server and a real HTTP client:
//! one query installed or dropped without touching the others, shared
//! table arrangements, a join created late that still reads history as
//! of each record, pull queries from the arrangement.

use std::path::Path;
use std::time::{Duration, Instant};

use ddsql::Session;
use serde_json::{json, Value as Json};

mod common;

use common::server::Server;

/// `(key, value, timestamp)` of every record of a topic's partition 0,
/// read from the data directory once the server is gone.
fn topic(dir: &Path, topic: &str) -> Vec<(Json, Json, i64)> {
    let session = Session::open(dir).unwrap();
    common::records(&session, topic)
}

/// Polls `/info` until the runtime's dataflows satisfy `ok`.
fn info(server: &Server) -> Json {
    let r = server
        .agent
        .get(&format!("{}/info", server.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&r).unwrap()
}

fn wait_rows(server: &Server, sql: &str, n: usize) -> Vec<Json> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = server.pull(sql);
        if rows.len() >= n {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {} of {n} rows",
            rows.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rows(from: i64, to: i64) -> Vec<Json> {
    (from..=to)
        .map(|i| json!({"ROWTIME": 1_000 + i, "ID": i, "V": i % 7}))
        .collect()
}

/// Three queries over one stream; one is terminated between two batches:
/// the other two go on, their outputs without a gap or a duplicate, and
/// nothing else is rebuilt.
#[test]
fn terminating_one_query_leaves_the_others_running() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.ksql(
        "create stream src (id bigint key, v bigint) with (kafka_topic='src', key_format='JSON', value_format='JSON', partitions=1);
         create stream a with (kafka_topic='A', key_format='JSON', value_format='JSON') as select id, v from src;
         create stream b with (kafka_topic='B', key_format='JSON', value_format='JSON') as select id, v * 2 as v2 from src;
         create stream c with (kafka_topic='C', key_format='JSON', value_format='JSON') as select id, v from src where v >= 0;",
    );
    let dataflows = |s: &Server| info(s)["runtime"]["dataflows"].clone();
    assert_eq!(
        dataflows(&server),
        json!(["CSAS_A_0", "CSAS_B_1", "CSAS_C_2"])
    );
    let acks = server.insert("src", &rows(1, 100));
    assert!(acks.iter().all(|a| a["status"] == "ok"));
    wait_rows(&server, "select * from b;", 100);
    let done = server.ksql("terminate CSAS_B_1;");
    assert_eq!(done[0]["commandStatus"]["message"], "Query terminated.");
    assert_eq!(dataflows(&server), json!(["CSAS_A_0", "CSAS_C_2"]));
    let acks = server.insert("src", &rows(101, 200));
    assert!(acks.iter().all(|a| a["status"] == "ok"));
    wait_rows(&server, "select * from a;", 200);
    wait_rows(&server, "select * from c;", 200);
    drop(server);
    let ids = |t: &str| -> Vec<i64> {
        topic(dir.path(), t)
            .into_iter()
            .map(|(k, _, _)| k.as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids("A"), (1..=200).collect::<Vec<_>>());
    assert_eq!(ids("C"), (1..=200).collect::<Vec<_>>());
    assert_eq!(
        ids("B"),
        (1..=100).collect::<Vec<_>>(),
        "a terminated query writes nothing more"
    );
}

const PRICES: &str = "
create stream updates (id bigint key, price bigint) with (kafka_topic='updates', key_format='JSON', value_format='JSON');
create stream orders (id bigint key, qty bigint) with (kafka_topic='orders', key_format='JSON', value_format='JSON');
create table prices with (kafka_topic='PRICES', key_format='JSON', value_format='JSON') as
  select id, latest_by_offset(price) as price from updates group by id;";

const JOIN: &str = "select o.id as id, o.qty as qty, p.price as price
  from orders o left join prices p on o.id = p.id emit changes;";

/// Prices that go down and back up, interleaved with orders that read
/// them, already in their topics (as a CDC backlog is) before the server
/// starts: a join must see each order's own price, which a compacted
/// shared table (the latest price only) cannot tell.
fn price_backlog(dir: &Path) {
    let session = Session::open(dir).unwrap();
    let log = session.log();
    let record = |key: i64, value: Json, ts: i64| common::json_record(json!(key), Some(value), ts);
    let (mut updates, mut orders) = (Vec::new(), Vec::new());
    let mut ts = 10_000i64;
    for round in 0..60i64 {
        for id in 0..5i64 {
            ts += 10;
            // Down, then up again: not monotone.
            let price = 100 + ((round * 7 + id * 3) % 11) * if round % 2 == 0 { 1 } else { -1 };
            updates.push(record(id, json!({"PRICE": price}), ts));
            ts += 5;
            orders.push(record(id, json!({"QTY": round}), ts));
        }
    }
    for (topic, records) in [("updates", updates), ("orders", orders)] {
        log.create_topic(topic, 1).unwrap();
        log.append(topic, 0, &records).unwrap();
    }
    log.flush().unwrap();
}

/// A stream-table join created after the backlog, reading its stream from
/// the earliest offset, gives record for record what the same join gave
/// when it was created first; the table's pull query answers what its
/// topic holds.
#[test]
fn a_join_created_late_reads_the_table_as_of_each_record() {
    let dir = tempfile::tempdir().unwrap();
    price_backlog(dir.path());
    let server = Server::start(dir.path());
    server.ksql(PRICES);
    server.ksql(&format!(
        "create stream early with (kafka_topic='EARLY', key_format='JSON', value_format='JSON') as {JOIN}"
    ));
    wait_rows(&server, "select * from early;", 300);
    // The table, caught up: from its arrangement, all of it and by key.
    let all = wait_rows(&server, "select * from prices;", 5);
    let one = server.pull("select * from prices where id = 3;");
    server.ksql(&format!(
        "create stream late with (kafka_topic='LATE', key_format='JSON', value_format='JSON') as {JOIN}"
    ));
    wait_rows(&server, "select * from late;", 300);
    drop(server);
    let (early, late) = (topic(dir.path(), "EARLY"), topic(dir.path(), "LATE"));
    assert_eq!(early.len(), 300);
    assert_eq!(late, early, "the late join sees each order's own price");
    // Prices changed between orders: a join that read the latest price
    // only would see fewer distinct ones.
    let prices: std::collections::BTreeSet<String> = early
        .iter()
        .map(|(_, v, _)| v["PRICE"].to_string())
        .collect();
    assert!(prices.len() > 5, "{prices:?}");
    // The pull query's rows are the table's topic read to the end.
    let mut latest = std::collections::BTreeMap::new();
    for (k, v, _) in topic(dir.path(), "PRICES") {
        latest.insert(k.as_i64().unwrap(), v["PRICE"].clone());
    }
    let pulled: std::collections::BTreeMap<i64, Json> = all
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].clone()))
        .collect();
    assert_eq!(pulled, latest);
    assert_eq!(one, vec![json!([3, latest[&3]])]);
}

/// A query that starts from the latest offsets reads a table from its
/// shared arrangement, as it is now: the arrangement a pull query built is
/// reused, not built again.
#[test]
fn a_query_from_the_latest_offsets_reuses_the_tables_arrangement() {
    let dir = tempfile::tempdir().unwrap();
    price_backlog(dir.path());
    let server = Server::start(dir.path());
    server.ksql(PRICES);
    wait_rows(&server, "select * from prices;", 5);
    let built = |s: &Server| info(s)["runtime"]["arrangementsBuilt"].as_u64().unwrap();
    assert_eq!(
        built(&server),
        1,
        "the pull query built the table's arrangement"
    );
    let (status, body) = server.post(
        "/ksql",
        &json!({
            "ksql": format!("create stream fresh with (kafka_topic='FRESH', key_format='JSON', value_format='JSON') as {JOIN}"),
            "streamsProperties": {"auto.offset.reset": "latest"},
        }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(built(&server), 1, "the new query imported the arrangement");
    // New orders join the prices as they are now; the backlog is not read.
    let now = 1_000_000;
    let orders: Vec<Json> = (0..5)
        .map(|id| json!({"ROWTIME": now + id, "ID": id, "QTY": 1000 + id}))
        .collect();
    assert!(server
        .insert("orders", &orders)
        .iter()
        .all(|a| a["status"] == "ok"));
    let fresh = wait_rows(&server, "select * from fresh;", 5);
    let prices = server.pull("select * from prices;");
    drop(server);
    assert_eq!(fresh.len(), 5, "{fresh:?}");
    for row in &fresh {
        let id = row[0].as_i64().unwrap();
        assert_eq!(row[1], json!(1000 + id), "only the new orders: {fresh:?}");
        let price = prices.iter().find(|p| p[0] == json!(id)).unwrap()[1].clone();
        assert_eq!(row[2], price, "the price as it is now");
    }
    assert_eq!(topic(dir.path(), "FRESH").len(), 5);
}
