//! Seed pipeline 2 ("first order") against the real embedded log and engine.
//!
//! All statements are created before any data exists. Then a backlog
//! arrives in which warehouse backfill rows (written to the candidate
//! topic) and live Debezium rows (written to the order topic) for the same
//! users interleave in a scrambled physical order, before the queries run.
//! The candidate topic is read in offset order, and the backfill rows are
//! in it before anything the query writes there: so whatever the workers,
//! the batching or the physical order, each user gets exactly one
//! first-order record, the backfilled one first, then those of users with
//! no backfill, in the order of their orders.

use std::path::Path;

use ddsql::Session;
use ddsql_engine::io::{Fetched, Record};
use ddsql_engine::RunOptions;
use serde_json::{json, Value as Json};

mod common;

use common::{run_caught_up, FIRST_ORDER};

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Where a generated record goes.
enum Target {
    Candidate,
    Order,
}

struct Backlog {
    /// Records in physical append order.
    records: Vec<(Target, Record)>,
    /// The expected first-order records: (user, timestamp) in time order.
    expected: Vec<(i64, i64)>,
}

fn debezium(op: &str, order: i64, user: Option<i64>, ts: i64) -> Record {
    let row = json!({"order_id": order, "user_id": user});
    let (before, after) = match op {
        "d" => (row, Json::Null),
        "u" => (row.clone(), row),
        _ => (Json::Null, row),
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
}

/// Users 0..n. Some have a backfilled historical first order; every user
/// then places live orders with increasing ids; noise events (updates,
/// deletes, null users, a malformed record) are mixed in. Timestamps are
/// distinct, so event-time order is unambiguous.
fn backlog(users: i64, seed: u64) -> Backlog {
    let mut rng = Rng(seed);
    let mut events: Vec<(i64, Target, Record, Option<i64>)> = Vec::new(); // (ts, target, record, first-order user)
    let mut ts = 1_740_000_000_000i64;
    let mut next_order = 1_000i64;
    let mut tick = |rng: &mut Rng| {
        ts += 1 + rng.below(1000) as i64;
        ts
    };
    for user in 0..users {
        let backfilled = rng.below(2) == 0;
        if backfilled {
            let t = tick(&mut rng);
            let rec = Record {
                key: Some(user.to_string().into_bytes()),
                value: Some(json!({"ORDER_ID": user}).to_string().into_bytes()), // historical ids are below every live id
                timestamp: t,
                headers: vec![],
            };
            events.push((t, Target::Candidate, rec, Some(user)));
        }
        let live = 1 + rng.below(4);
        for i in 0..live {
            let t = tick(&mut rng);
            next_order += 1;
            let first = !backfilled && i == 0;
            events.push((
                t,
                Target::Order,
                debezium("c", next_order, Some(user), t),
                first.then_some(user),
            ));
            if rng.below(3) == 0 {
                let t = tick(&mut rng);
                events.push((
                    t,
                    Target::Order,
                    debezium(
                        if rng.below(2) == 0 { "u" } else { "d" },
                        next_order,
                        Some(user),
                        t,
                    ),
                    None,
                ));
            }
        }
    }
    // Noise: a create with no user, and a record that is not JSON at all.
    let t = tick(&mut rng);
    events.push((t, Target::Order, debezium("c", 1, None, t), None));
    let t = tick(&mut rng);
    events.push((
        t,
        Target::Order,
        Record {
            key: None,
            value: Some(b"{not json".to_vec()),
            timestamp: t,
            headers: vec![],
        },
        None,
    ));
    // Backfilled first orders first (they precede the query's output in
    // the candidate partition), then first live orders, each in order.
    let mut expected: Vec<(bool, i64, i64)> = events
        .iter()
        .filter_map(|(t, target, _, first)| first.map(|u| (matches!(target, Target::Order), *t, u)))
        .collect();
    expected.sort();
    let expected = expected.into_iter().map(|(_, t, u)| (u, t)).collect();
    // Scramble the physical order across topics while keeping each topic's
    // own order (a topic partition is append-only): a random interleaving.
    let (mut cands, mut orders): (Vec<_>, Vec<_>) = events
        .into_iter()
        .partition(|e| matches!(e.1, Target::Candidate));
    cands.reverse();
    orders.reverse();
    let mut records = Vec::new();
    while !cands.is_empty() || !orders.is_empty() {
        let take_cand = !cands.is_empty() && (orders.is_empty() || rng.below(5) == 0);
        let (_, target, rec, _) = if take_cand {
            cands.pop().unwrap()
        } else {
            orders.pop().unwrap()
        };
        records.push((target, rec));
    }
    // Backfill often lands after live rows of the same users: the race.
    Backlog { records, expected }
}

fn read_all(session: &Session, topic: &str) -> Vec<Fetched> {
    let mut out = Vec::new();
    session
        .log()
        .read(topic, 0, 0, usize::MAX, &mut out)
        .unwrap();
    out
}

fn run_pipeline(dir: &Path, backlog: &Backlog, options: &RunOptions) -> (Vec<(i64, i64)>, usize) {
    let mut session = Session::open(dir).unwrap();
    session.execute_script(FIRST_ORDER).unwrap();
    for (target, rec) in &backlog.records {
        let topic = match target {
            Target::Candidate => "STREAM.ORDER.CANDIDATE",
            Target::Order => "TRADE_MYSQL.TRADE.ORDER",
        };
        session
            .log()
            .append(topic, 0, std::slice::from_ref(rec))
            .unwrap();
    }
    let report = session.run_until_caught_up(options).unwrap();
    let firsts = read_all(&session, "STREAM.MIN_ORDER")
        .into_iter()
        .map(|f| {
            let key: i64 = serde_json::from_slice::<Json>(f.record.key.as_deref().unwrap())
                .unwrap()
                .as_i64()
                .unwrap();
            let value: Json = serde_json::from_slice(f.record.value.as_deref().unwrap()).unwrap();
            assert_eq!(value, json!({"MIN_ORDER": true}));
            (key, f.record.timestamp)
        })
        .collect();
    let log = read_all(&session, ddsql_engine::PROCESSING_LOG_TOPIC);
    assert_eq!(report.processing_errors as usize, log.len());
    (firsts, log.len())
}

#[test]
fn exactly_one_first_order_per_user_whatever_the_workers_and_batching() {
    let backlog = backlog(300, 0x5eed);
    assert!(
        backlog.expected.len() == 300,
        "every user has a first order"
    );
    // Source alignment (max_drift_ms) bounds memory; even at 0 it may
    // neither stall the run nor change its answer.
    for (workers, batch, max_drift_ms) in [
        (1, 1, 10_000),
        (1, 1024, 10_000),
        (2, 7, 10_000),
        (4, 64, 10_000),
        (2, 16, 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (firsts, errors) = run_pipeline(
            dir.path(),
            &backlog,
            &RunOptions {
                workers,
                batch,
                max_drift_ms,
                ..Default::default()
            },
        );
        assert_eq!(
            firsts, backlog.expected,
            "workers={workers} batch={batch} drift={max_drift_ms}"
        );
        // The malformed record is in the processing log; nothing else is.
        assert_eq!(errors, 1, "workers={workers} batch={batch}");
    }
}

#[test]
fn processing_log_names_the_bad_record() {
    let backlog = backlog(5, 7);
    let dir = tempfile::tempdir().unwrap();
    run_pipeline(dir.path(), &backlog, &RunOptions::default());
    let session = Session::open(dir.path()).unwrap();
    let log = read_all(&session, ddsql_engine::PROCESSING_LOG_TOPIC);
    let entry: Json = serde_json::from_slice(log[0].record.value.as_deref().unwrap()).unwrap();
    assert!(
        entry["LOGGER"].as_str().unwrap().ends_with(".stg_order"),
        "{entry}"
    );
    assert_eq!(entry["MESSAGE"]["TYPE"], 0, "a deserialization error");
    assert_eq!(entry["RECORD_TOPIC"], "TRADE_MYSQL.TRADE.ORDER");
    assert_eq!(entry["RECORD_PARTITION"], 0);
    let offset = entry["RECORD_OFFSET"].as_u64().unwrap();
    let mut bad = Vec::new();
    session
        .log()
        .read("TRADE_MYSQL.TRADE.ORDER", 0, offset, 1, &mut bad)
        .unwrap();
    assert_eq!(bad[0].record.value.as_deref(), Some(&b"{not json"[..]));
    assert!(
        common::logged_error(&entry).contains("invalid JSON"),
        "{entry}"
    );
}

#[test]
fn a_rerun_over_the_same_log_writes_nothing_twice() {
    let backlog = backlog(50, 99);
    let dir = tempfile::tempdir().unwrap();
    let (first_run, _) = run_pipeline(
        dir.path(),
        &backlog,
        &RunOptions {
            workers: 2,
            batch: 16,
            ..Default::default()
        },
    );
    // A restart: a new process with the same statements over the same log.
    let mut session = Session::open(dir.path()).unwrap();
    session.execute_script(FIRST_ORDER).unwrap();
    let report = run_caught_up(&session, 1, 1000);
    assert_eq!(report.records_written, 0, "everything was already written");
    let again: Vec<i64> = read_all(&session, "STREAM.MIN_ORDER")
        .iter()
        .map(|f| f.record.timestamp)
        .collect();
    assert_eq!(again, first_run.iter().map(|(_, t)| *t).collect::<Vec<_>>());
    // New input after the restart produces exactly the new results.
    let late = debezium("c", 1, Some(10_000), 1_900_000_000_000);
    session
        .log()
        .append("TRADE_MYSQL.TRADE.ORDER", 0, &[late])
        .unwrap();
    drop(session);
    let mut session = Session::open(dir.path()).unwrap();
    session.execute_script(FIRST_ORDER).unwrap();
    session.run_until_caught_up(&RunOptions::default()).unwrap();
    let firsts = read_all(&session, "STREAM.MIN_ORDER");
    assert_eq!(firsts.len(), first_run.len() + 1);
    assert_eq!(
        firsts.last().unwrap().record.key.as_deref(),
        Some(&b"10000"[..])
    );
}
