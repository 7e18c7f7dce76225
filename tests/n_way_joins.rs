//! Joins of more than two sources, as ksqlDB's join page defines them:
//! "semantically equivalent to joining N sources consecutively, and the
//! order of the joins is controlled by the order in which the joins are
//! written". `A JOIN B ... JOIN C` is `(A JOIN B) JOIN C`; each step keeps
//! its own rules (a stream-table step reads the table as of the stream
//! row's time; a stream-stream step needs WITHIN), and the result's key may
//! be selected as any of the join expressions equal to it.

mod common;

use common::{json_record as rec, records, run_caught_up, session_with};
use serde_json::{json, Value as Json};

const SOURCES: &str = "
create stream s1 (id int key, k int, v0 bigint) with (kafka_topic='left', format='JSON', partitions=1);
create table t2 (id int primary key, v0 bigint) with (kafka_topic='right', format='JSON', partitions=1);
create table t3 (id int primary key, v0 bigint) with (kafka_topic='right2', format='JSON', partitions=1);
create stream s3 (id int key, v0 bigint) with (kafka_topic='right3', format='JSON', partitions=1);
";

/// `(key, value, timestamp)` of each record written to `topic`.
type Out = Vec<(Json, Json, i64)>;

fn run(query: &str, inputs: &[(&str, i64, Json, i64)], workers: usize) -> Out {
    let (_dir, session) = session_with(&format!("{SOURCES}\n{query}"));
    let log = session.log();
    for (topic, key, value, ts) in inputs {
        log.append(topic, 0, &[rec(json!(key), Some(value.clone()), *ts)])
            .unwrap();
    }
    run_caught_up(&session, workers, 1);
    records(&session, "OUTPUT")
}

fn v0(v: i64) -> Json {
    json!({ "V0": v })
}

#[test]
fn a_stream_joins_two_tables_each_as_of_the_stream_rows_time() {
    let q = "create stream output as select s1.id, s1.v0, t2.v0, t3.v0 from s1 \
             {k1} join t2 on s1.id = t2.id {k2} join t3 on s1.id = t3.id;";
    // The stream row at 9 sees neither table, at 11 only T2, at 13 both.
    let inputs = [
        ("left", 0, json!({"K": 5, "V0": 1}), 9),
        ("right", 0, v0(2), 10),
        ("left", 0, json!({"K": 5, "V0": 1}), 11),
        ("right2", 0, v0(3), 12),
        ("left", 0, json!({"K": 5, "V0": 1}), 13),
    ];
    let row =
        |t2: Json, t3: Json, ts| (json!(0), json!({"S1_V0": 1, "T2_V0": t2, "T3_V0": t3}), ts);
    let n = Json::Null;
    for workers in [1, 2] {
        let out = |k1, k2| run(&q.replace("{k1}", k1).replace("{k2}", k2), &inputs, workers);
        assert_eq!(
            out("", ""),
            vec![row(json!(2), json!(3), 13)],
            "inner-inner"
        );
        assert_eq!(
            out("left", "left"),
            vec![
                row(n.clone(), n.clone(), 9),
                row(json!(2), n.clone(), 11),
                row(json!(2), json!(3), 13)
            ],
            "left-left"
        );
        assert_eq!(
            out("left", ""),
            vec![row(json!(2), json!(3), 13)],
            "left-inner"
        );
        assert_eq!(
            out("", "left"),
            vec![row(json!(2), n.clone(), 11), row(json!(2), json!(3), 13)],
            "inner-left"
        );
    }
}

#[test]
fn the_key_may_be_any_join_expression_equal_to_it_and_a_later_step_rekeys() {
    let inputs = [
        ("right", 0, v0(2), 10),
        ("right2", 7, v0(3), 11),
        ("left", 0, json!({"K": 7, "V0": 1}), 12),
    ];
    // Keyed by T3's ID, equal to S1.ID and T2.ID.
    let out = run(
        "create stream output as select t3.id as id, s1.v0 as a, t2.v0 as b, t3.v0 as c from s1 \
         join t2 on s1.id = t2.id join t3 on t2.id = t3.id;",
        &[
            ("right", 0, v0(2), 10),
            ("right2", 0, v0(3), 11),
            ("left", 0, json!({"K": 7, "V0": 1}), 12),
        ],
        2,
    );
    assert_eq!(out, vec![(json!(0), json!({"A": 1, "B": 2, "C": 3}), 12)]);
    // The second step joins on S1.K: the result is keyed by it.
    let out = run(
        "create stream output as select s1.k as k, s1.id as sid, t2.v0 as b, t3.v0 as c from s1 \
         join t2 on s1.id = t2.id join t3 on s1.k = t3.id;",
        &inputs,
        2,
    );
    assert_eq!(out, vec![(json!(7), json!({"SID": 0, "B": 2, "C": 3}), 12)]);
}

#[test]
fn a_stream_stream_step_then_a_table() {
    let out = run(
        "create stream output as select s1.id as id, s1.v0 as a, s3.v0 as b, t2.v0 as c from s1 \
         join s3 within 10 milliseconds on s1.id = s3.id join t2 on s1.id = t2.id;",
        &[
            ("right", 0, v0(2), 10),
            ("left", 0, json!({"K": 1, "V0": 1}), 12),
            ("right3", 0, v0(30), 15),
            // Outside the window of the first left row.
            ("right3", 0, v0(31), 40),
        ],
        1,
    );
    assert_eq!(out, vec![(json!(0), json!({"A": 1, "B": 30, "C": 2}), 15)]);
}

#[test]
fn three_tables_join_on_their_keys() {
    let q = "create table output as select t2.id as id, t2.v0 as a, t3.v0 as b, u.v0 as c from t2 \
             join t3 on t2.id = t3.id left join t4 u on t3.id = u.id;";
    let (_dir, session) = session_with(&format!(
        "{SOURCES}
create table t4 (id int primary key, v0 bigint) with (kafka_topic='right4', format='JSON', partitions=1);
{q}"
    ));
    let log = session.log();
    for (topic, key, value, ts) in [
        ("right", 1, Some(v0(10)), 1),
        ("right2", 1, Some(v0(20)), 2),
        ("right4", 1, Some(v0(40)), 3),
        ("right2", 1, None, 4),
    ] {
        log.append(topic, 0, &[rec(json!(key), value, ts)]).unwrap();
    }
    run_caught_up(&session, 2, 1);
    assert_eq!(
        records(&session, "OUTPUT"),
        vec![
            (json!(1), json!({"A": 10, "B": 20, "C": null}), 2),
            (json!(1), json!({"A": 10, "B": 20, "C": 40}), 3),
            // T3's tombstone deletes the inner step's row.
            (json!(1), Json::Null, 4),
        ]
    );
}

fn refused(sql: &str) -> String {
    common::refused(SOURCES, sql)
}

#[test]
fn what_ksqldb_refuses_in_a_chain_is_refused_with_the_step_named() {
    // The key must be selected; every equal join expression is offered.
    let e = refused(
        "create stream output as select s1.v0, t2.v0, t3.v0 from s1 \
         join t2 on s1.id = t2.id join t3 on s1.id = t3.id;",
    );
    assert!(e.contains("S1.ID, T2.ID or T3.ID"), "{e}");
    // A FULL OUTER step between a stream and a table fails the whole chain.
    let e = refused(
        "create stream output as select s1.id, s1.v0 from s1 \
         join s3 within 10 seconds on s1.id = s3.id full outer join t2 on s1.id = t2.id;",
    );
    assert!(e.contains("stream-table join is INNER or LEFT"), "{e}");
    // No FULL OUTER step in a join of more than two tables.
    let e = refused(
        "create table output as select rowkey as id, t2.v0 from t2 \
         full outer join t3 on t2.id = t3.id join t3 x on t2.id = x.id;",
    );
    assert!(
        e.contains("more than two tables cannot have a FULL OUTER step"),
        "{e}"
    );
    // A later stream-stream step still needs WITHIN.
    let e = refused(
        "create stream output as select s1.id, s1.v0 from s1 \
         join t2 on s1.id = t2.id join s3 on s1.id = s3.id;",
    );
    assert!(e.contains("needs a window"), "{e}");
}
