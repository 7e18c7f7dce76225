//! Outer joins: a stream-stream LEFT, RIGHT or FULL join emits a row that
//! matched nothing once its window has closed (stream time past its
//! ROWTIME, the window's far edge and the grace period); a FULL join of two
//! tables keeps both sides' unmatched rows, keyed by the synthetic ROWKEY.

mod common;

use common::{columns, json_record as rec, records, run_caught_up, session_with};
use serde_json::{json, Value as Json};

const STREAMS: &str = "
create stream l (k string key, v int) with (kafka_topic='l', key_format='JSON', value_format='JSON', partitions=1);
create stream r (k string key, v int) with (kafka_topic='r', key_format='JSON', value_format='JSON', partitions=1);
";

/// `(key, value, timestamp)` of each record the join wrote, in order.
type Out = Vec<(Json, Json, i64)>;

fn stream_join(kind: &str, key: &str, workers: usize) -> Out {
    // A right row pairs with a left row from 10 ms after it to 30 ms
    // before it: a left row closes 30 + 5 ms past its ROWTIME, a right one
    // 10 + 5 ms past.
    let script = format!(
        "{STREAMS}
create stream j with (kafka_topic='j', key_format='JSON', value_format='JSON') as
  select {key}, l.v as lv, r.v as rv from l {kind} join r
  within (10 milliseconds, 30 milliseconds) grace period 5 milliseconds on l.k = r.k;"
    );
    let (_dir, session) = session_with(&script);
    let row = |k: &str, v: i64, ts| rec(json!(k), Some(json!({ "V": v })), ts);
    let log = session.log();
    log.append(
        "l",
        0,
        &[row("a", 1, 100), row("b", 2, 110), row("c", 3, 300)],
    )
    .unwrap();
    log.append(
        "r",
        0,
        &[
            row("d", 40, 120),
            // 25 ms after `a`: within its 30.
            row("a", 10, 125),
            // Stream time reaches `b`'s close (145) but does not pass it.
            row("y", 50, 145),
            row("x", 60, 200),
        ],
    )
    .unwrap();
    run_caught_up(&session, workers, 1);
    records(&session, "j")
}

#[test]
fn outer_stream_joins_emit_unmatched_rows_once_their_window_closes() {
    let pair = (json!("a"), json!({"LV": 1, "RV": 10}), 125);
    let left = |k: &str, v: i64, ts| (json!(k), json!({"LV": v, "RV": null}), ts);
    let right = |k: &str, v: i64, ts| (json!(k), json!({"LV": null, "RV": v}), ts);
    for workers in [1, 2] {
        // `b` closes when `x` moves stream time to 200; `c` never does.
        assert_eq!(
            stream_join("left", "l.k", workers),
            vec![pair.clone(), left("b", 2, 110)],
            "LEFT, {workers} worker(s)"
        );
        // `d` closes when `y` moves stream time to 145, `y` at 200, `x` at
        // 300.
        assert_eq!(
            stream_join("right", "r.k", workers),
            vec![
                pair.clone(),
                right("d", 40, 120),
                right("y", 50, 145),
                right("x", 60, 200)
            ],
            "RIGHT, {workers} worker(s)"
        );
        assert_eq!(
            stream_join("full outer", "rowkey as k", workers),
            vec![
                pair.clone(),
                right("d", 40, 120),
                // Both close at 200, written in key order.
                left("b", 2, 110),
                right("y", 50, 145),
                right("x", 60, 200)
            ],
            "FULL, {workers} worker(s)"
        );
    }
}

#[test]
fn explain_shows_an_outer_joins_wait_and_the_default_grace() {
    let (_dir, mut session) = session_with(STREAMS);
    let explain = |session: &mut ddsql::Session, sql: &str| {
        session
            .execute_script(&format!("explain {sql}"))
            .unwrap()
            .iter()
            .map(|r| format!("{r:?}"))
            .collect::<String>()
    };
    let with_grace = explain(
        &mut session,
        "select l.k, l.v from l left join r within 1 second grace period 2 seconds on l.k = r.k emit changes;",
    );
    assert!(
        with_grace.contains("StreamJoin LEFT")
            && with_grace.contains("passes their window by 2000 ms"),
        "{with_grace}"
    );
    // Without GRACE PERIOD: eager, as the join page says.
    let default = explain(
        &mut session,
        "select l.k, l.v from l left join r within 1 second on l.k = r.k emit changes;",
    );
    assert!(
        default.contains("unmatched rows at once when nothing before them matches"),
        "{default}"
    );
}

/// ksqlDB's join page: "If you don't specify a grace period, left/outer
/// join results are emitted eagerly." A kept row that finds no partner
/// among the other side's rows before it is written at once, and stays
/// when a partner comes later (the pair is written too).
fn eager_join(kind: &str, workers: usize) -> Out {
    let (_dir, session) = session_with(&format!(
        "{STREAMS}
create stream j with (kafka_topic='j', key_format='JSON', value_format='JSON') as
  select {key}, l.v as lv, r.v as rv from l {kind} join r within 11 seconds on l.k = r.k;",
        key = if kind == "full outer" {
            "rowkey as k"
        } else {
            "l.k"
        },
    ));
    let row = |k: &str, v: i64, ts| rec(json!(k), Some(json!({ "V": v })), ts);
    let log = session.log();
    log.append(
        "l",
        0,
        &[row("a", 0, 0), row("a", 1, 13_000), row("b", 2, 40_000)],
    )
    .unwrap();
    log.append(
        "r",
        0,
        &[
            row("a", 50, 10_000),
            row("a", 10, 15_000),
            row("c", 7, 16_000),
        ],
    )
    .unwrap();
    run_caught_up(&session, workers, 1);
    records(&session, "j")
}

#[test]
fn without_a_grace_period_outer_stream_joins_emit_unmatched_rows_eagerly() {
    let pair = |lv: i64, rv: i64, ts| (json!("a"), json!({"LV": lv, "RV": rv}), ts);
    let left = |k: &str, v: i64, ts| (json!(k), json!({"LV": v, "RV": null}), ts);
    let right = |k: &str, v: i64, ts| (json!(k), json!({"LV": null, "RV": v}), ts);
    for workers in [1, 2] {
        // `a`@0 finds nothing before it: written at once, then its pair
        // with the right row at 10 s; `a`@13 s finds that right row.
        assert_eq!(
            eager_join("left", workers),
            vec![
                left("a", 0, 0),
                pair(0, 50, 10_000),
                pair(1, 50, 13_000),
                pair(1, 10, 15_000),
                left("b", 2, 40_000),
            ],
            "LEFT, {workers} worker(s)"
        );
        // The right row at 16 s has no left partner before it.
        assert_eq!(
            eager_join("full outer", workers),
            vec![
                left("a", 0, 0),
                pair(0, 50, 10_000),
                pair(1, 50, 13_000),
                pair(1, 10, 15_000),
                right("c", 7, 16_000),
                left("b", 2, 40_000),
            ],
            "FULL, {workers} worker(s)"
        );
    }
}

const TABLES: &str = "
create table a (id bigint primary key, x string) with (kafka_topic='a', key_format='JSON', value_format='JSON', partitions=1);
create table b (id bigint primary key, y string) with (kafka_topic='b', key_format='JSON', value_format='JSON', partitions=1);
create table ab with (kafka_topic='ab', key_format='JSON', value_format='JSON') as
  select rowkey as id, a.id as a_id, b.id as b_id, x, y from a full outer join b on a.id = b.id;
create table star as select * from a full join b on b.id = a.id;
";

#[test]
fn a_full_join_of_tables_is_keyed_by_whichever_key_is_set() {
    for workers in [1, 2] {
        let (_dir, mut session) = session_with(TABLES);
        let log = session.log();
        let a = |id: i64, x: Option<&str>, ts| rec(json!(id), x.map(|x| json!({ "X": x })), ts);
        let b = |id: i64, y: Option<&str>, ts| rec(json!(id), y.map(|y| json!({ "Y": y })), ts);
        log.append("a", 0, &[a(1, Some("x1"), 100), a(3, Some("x3"), 130)])
            .unwrap();
        log.append("b", 0, &[b(2, Some("y2"), 110), b(1, Some("y1"), 120)])
            .unwrap();
        // Deleting a side leaves the other's row; deleting both, nothing.
        log.append("a", 0, &[a(1, None, 140)]).unwrap();
        log.append("b", 0, &[b(2, None, 150)]).unwrap();
        run_caught_up(&session, workers, 1);
        let got: Vec<(Json, Json)> = records(&session, "ab")
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect();
        let row =
            |a: Json, b: Json, x: Json, y: Json| json!({"A_ID": a, "B_ID": b, "X": x, "Y": y});
        let n = Json::Null;
        assert_eq!(
            got,
            vec![
                (json!(1), row(json!(1), n.clone(), json!("x1"), n.clone())),
                (json!(2), row(n.clone(), json!(2), n.clone(), json!("y2"))),
                (json!(1), row(json!(1), json!(1), json!("x1"), json!("y1"))),
                (json!(3), row(json!(3), n.clone(), json!("x3"), n.clone())),
                (json!(1), row(n.clone(), json!(1), n.clone(), json!("y1"))),
                (json!(2), n.clone()),
            ],
            "{workers} worker(s)"
        );
        // `SELECT *` starts with the synthetic key.
        assert_eq!(
            columns(&session, "STAR"),
            [
                "ROWKEY BIGINT",
                "A_ID BIGINT",
                "A_X STRING",
                "B_ID BIGINT",
                "B_Y STRING"
            ]
        );
        // The synthetic key must be selected, and the error says so.
        let e = session
            .execute_script(
                "create table bad as select a.id, x, y from a full join b on a.id = b.id;",
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("synthetic key column ROWKEY"), "{e}");
    }
}
