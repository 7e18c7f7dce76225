//! Seed pipeline 2 ("first order") as the article runs it, purely over
//! HTTP, at the size that shows the backfill's point: the statements in
//! the article's order, one request each; the warehouse backfill as one
//! INSERT VALUES per `/ksql` request, without ROWTIME (so stamped now);
//! and a CDC backlog of 200,000 Debezium order events, all of it older
//! than the backfill, already in the topic. Every backfilled minimum is
//! below that user's backlog order ids, so the answer is plain: exactly one
//! first-order record per user, the backfilled id for a backfilled user,
//! the first backlog order for the others, and none for any later order.
//!
//! Release-only (`cargo test --release --test seed_over_http`, which
//! `scripts/test.sh` runs): a debug build takes minutes over this backlog.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ddsql::Session;
use ddsql_engine::io::Record;
use serde_json::{json, Value as Json};

mod common;

use common::server::Server;

const BACKLOG: usize = 200_000;
const USERS: i64 = 20_000;
/// The last event of the backlog: a new user's first order. Its
/// first-order record is the last the join writes, so once it is there the
/// backlog has been read through.
const SENTINEL: i64 = USERS;

const DECLARE: [&str; 3] = [
    "create stream `stg_order` (
    before struct<order_id bigint, user_id bigint>,
    after struct<order_id bigint, user_id bigint>,
    op string,
    ts_ms bigint
) with (
    kafka_topic='TRADE_MYSQL.TRADE.ORDER',
    value_format='JSON'
);",
    "create stream `stm_order_candidate`
(
  user_id bigint key,
  order_id bigint
)
with (
  kafka_topic='STREAM.ORDER.CANDIDATE',
  key_format='JSON',
  value_format='JSON',
  partitions=1
);",
    "create table `tb_min_order`
with (
  kafka_topic='TABLE.MIN_ORDER',
  key_format='JSON',
  value_format='JSON',
  partitions=1
) as
select
    user_id,
    min(order_id) as min_order_id
from `stm_order_candidate`
group by user_id;",
];

const FEED: &str = "insert into `stm_order_candidate`
select
    after->user_id as user_id,
    after->order_id as order_id
from `stg_order`
where op = 'c'
  and after->user_id is not null
  and after->order_id is not null
partition by after->user_id
emit changes;";

/// The article's `stm_min_order`, also selecting the candidate's order id
/// so records can be told apart.
const JOIN: &str = "create stream `stm_min_order`
with (
  kafka_topic='STREAM.MIN_ORDER',
  key_format='JSON',
  value_format='JSON',
  partitions=1
) as
select
    s.user_id as user_id,
    s.order_id as order_id,
    true as min_order
from `stm_order_candidate` s
left join `tb_min_order` t
  on s.user_id = t.user_id
where (t.user_id is null or t.min_order_id = s.order_id)
emit changes;";

/// The data: each backfilled user's historical minimum, the backlog, and
/// each user's expected first order.
struct Data {
    backfill: Vec<(i64, i64)>,
    backlog: Vec<Record>,
    expected: BTreeMap<i64, i64>,
}

fn data() -> Data {
    // xorshift: the same data every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut backfill = Vec::new();
    let mut expected = BTreeMap::new();
    for user in 0..USERS {
        if next(2) == 0 {
            let historical = 1 + next(900_000) as i64;
            backfill.push((user, historical));
            expected.insert(user, historical);
        }
    }
    // Three days of binlog, before the backfill was written (now).
    let mut ts = 1_740_787_200_000i64;
    let mut order = 1_000_000i64;
    let mut backlog = Vec::with_capacity(BACKLOG);
    let event = |op: &str, order: i64, user: i64, ts: i64| {
        let row = json!({"order_id": order, "user_id": user});
        let (before, after) = if op == "d" {
            (row, Json::Null)
        } else {
            (Json::Null, row)
        };
        Record {
            key: Some(json!({ "order_id": order }).to_string().into_bytes()),
            value: Some(
                json!({"before": before, "after": after, "op": op, "ts_ms": ts})
                    .to_string()
                    .into_bytes(),
            ),
            timestamp: ts,
            headers: vec![],
        }
    };
    while backlog.len() < BACKLOG - 1 {
        ts += 1 + next(1_200) as i64;
        order += 1;
        let user = next(USERS as u64) as i64;
        backlog.push(event("c", order, user, ts));
        expected.entry(user).or_insert(order);
        // Orders end (cancelled, completed): Debezium deletes.
        if next(4) == 0 && backlog.len() < BACKLOG - 1 {
            backlog.push(event("d", order, user, ts));
        }
    }
    order += 1;
    backlog.push(event("c", order, SENTINEL, ts + 1));
    expected.insert(SENTINEL, order);
    Data {
        backfill,
        backlog,
        expected,
    }
}

/// The CDC backlog, as Debezium left it in the topic before anything ran.
fn write_backlog(dir: &Path, data: &Data) {
    let session = Session::open(dir).unwrap();
    let log = session.log();
    log.create_topic("TRADE_MYSQL.TRADE.ORDER", 1).unwrap();
    for chunk in data.backlog.chunks(10_000) {
        log.append("TRADE_MYSQL.TRADE.ORDER", 0, chunk).unwrap();
    }
    log.flush().unwrap();
}

/// `(user, order id)` of every first-order record, in the topic's order.
fn first_orders(dir: &Path) -> Vec<(i64, i64)> {
    let session = Session::open(dir).unwrap();
    let mut out = Vec::new();
    session
        .log()
        .read("STREAM.MIN_ORDER", 0, 0, usize::MAX, &mut out)
        .unwrap();
    out.into_iter()
        .map(|f| {
            let key: Json = serde_json::from_slice(f.record.key.as_deref().unwrap()).unwrap();
            let value: Json = serde_json::from_slice(f.record.value.as_deref().unwrap()).unwrap();
            assert_eq!(value["MIN_ORDER"], json!(true), "{value}");
            (key.as_i64().unwrap(), value["ORDER_ID"].as_i64().unwrap())
        })
        .collect()
}

fn end_offset(dir: &Path, topic: &str) -> u64 {
    Session::open(dir)
        .unwrap()
        .log()
        .end_offset(topic, 0)
        .unwrap()
}

/// Exactly one first order per user, the expected one.
fn check(firsts: &[(i64, i64)], data: &Data, what: &str) {
    let mut seen = BTreeMap::new();
    for &(user, order) in firsts {
        if let Some(earlier) = seen.insert(user, order) {
            panic!("{what}: user {user} has two first orders, {earlier} and {order}");
        }
    }
    for (user, order) in &data.expected {
        assert_eq!(
            seen.get(user),
            Some(order),
            "{what}: user {user}'s first order (a backfilled user's is the backfilled id)"
        );
    }
    assert_eq!(
        seen.len(),
        data.expected.len(),
        "{what}: users with a first order"
    );
}

/// Waits until a pull query answers at least one row.
fn wait_for(server: &Server, sql: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while server.pull(sql).is_empty() {
        assert!(Instant::now() < deadline, "{what}: not within 300 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The article's deployment over HTTP; `join_last`: `stm_min_order` only
/// once `tb_min_order` has consumed the backlog, as the article did.
fn over_http(dir: &Path, data: &Data, workers: usize, join_last: bool) {
    write_backlog(dir, data);
    let server = Server::start_with(dir, &["--workers", &workers.to_string()]);
    for statement in DECLARE {
        server.ksql(statement);
    }
    // The article's loop: one request per user, no ROWTIME.
    for (user, order) in &data.backfill {
        let done = server.ksql(&format!(
            "insert into `stm_order_candidate`\n            (user_id, order_id)\n            values ({user}, {order});"
        ));
        assert!(done.is_empty(), "INSERT VALUES answers with no entity");
    }
    server.ksql(FEED);
    if join_last {
        wait_for(
            &server,
            &format!("select * from `tb_min_order` where user_id = {SENTINEL};"),
            "tb_min_order consuming the backlog",
        );
    }
    server.ksql(JOIN);
    wait_for(
        &server,
        &format!("select * from `stm_min_order` where user_id = {SENTINEL};"),
        "stm_min_order reaching the end of the backlog",
    );
    drop(server);
}

#[test]
fn seed_first_order_over_http_then_as_a_script() {
    let data = data();
    let mut reference = None;
    for workers in [1, 2, 4] {
        for join_last in [false, true] {
            let what = format!(
                "{workers} worker(s), stm_min_order created {}",
                if join_last {
                    "after the backlog"
                } else {
                    "with the others"
                }
            );
            let started = Instant::now();
            let dir = tempfile::tempdir().unwrap();
            over_http(dir.path(), &data, workers, join_last);
            let firsts = first_orders(dir.path());
            check(&firsts, &data, &what);
            // The records themselves, in order, whatever the deployment.
            match &reference {
                None => reference = Some(firsts),
                Some(r) => assert_eq!(&firsts, r, "{what}: other records than the first run's"),
            }
            eprintln!(
                "{what}: {} first orders in {:.1?}",
                data.expected.len(),
                started.elapsed()
            );
        }
    }

    // The same statements as a script, run twice over one data directory.
    let dir = tempfile::tempdir().unwrap();
    write_backlog(dir.path(), &data);
    let mut script = DECLARE.join("\n");
    for (user, order) in &data.backfill {
        script.push_str(&format!(
            "\ninsert into `stm_order_candidate` (user_id, order_id) values ({user}, {order});"
        ));
    }
    script = format!("{script}\n{FEED}\n{JOIN}\n");
    let file = dir.path().join("first-order.sql");
    std::fs::write(&file, script).unwrap();
    let run = |what: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ddsql"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["run", file.to_str().unwrap(), "--workers", "2"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run("ddsql run");
    let firsts = first_orders(dir.path());
    check(&firsts, &data, "ddsql run");
    assert_eq!(
        Some(&firsts),
        reference.as_ref(),
        "ddsql run: other records than over HTTP"
    );
    let ends = |dir: &Path| {
        [
            "STREAM.ORDER.CANDIDATE",
            "TABLE.MIN_ORDER",
            "STREAM.MIN_ORDER",
        ]
        .map(|t| end_offset(dir, t))
    };
    let before = ends(dir.path());
    run("a second ddsql run");
    assert_eq!(ends(dir.path()), before, "a second run wrote something");
}
