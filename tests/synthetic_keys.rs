//! ksqlDB's synthetic-keys page (`../shared/reference/ksqldb-docs/
//! synthetic-keys.md`): a join whose key matches no source column (a FULL
//! OUTER join, or a join on expressions that are not column references)
//! has a synthetic key column, `ROWKEY`, or `ROWKEY_1`, `ROWKEY_2`, ... when
//! a source already has a column of that name; it must be selected, and
//! may be aliased.

mod common;

use common::{columns, json_record as rec, records, run_caught_up, session_with};
use serde_json::json;

#[test]
fn the_pages_example_names_its_synthetic_key_rowkey_2() {
    // The page's statements, with the WITH clauses it elides.
    let (_dir, session) = session_with(
        "CREATE STREAM S1 (ROWKEY INT KEY, V0 STRING) WITH (kafka_topic='s1', format='JSON', partitions=1);
         CREATE STREAM S2 (ID INT KEY, ROWKEY_1 INT) WITH (kafka_topic='s2', format='JSON', partitions=1);
         CREATE STREAM OUTPUT AS
           SELECT *
           FROM S1 JOIN S2
           WITHIN 30 SECONDS
           ON ABS(S1.ROWKEY) = ABS(S2.ID);",
    );
    // The key column first (DESCRIBE order), then the values.
    assert!(session.catalog().source("OUTPUT").unwrap().columns[0].key);
    assert_eq!(
        columns(&session, "OUTPUT"),
        vec![
            "ROWKEY_2 INTEGER",
            "S1_ROWKEY INTEGER",
            "S1_V0 STRING",
            "S2_ID INTEGER",
            "S2_ROWKEY_1 INTEGER"
        ]
    );
    let log = session.log();
    log.append("s1", 0, &[rec(json!(-3), Some(json!({"V0": "a"})), 10)])
        .unwrap();
    log.append("s2", 0, &[rec(json!(3), Some(json!({"ROWKEY_1": 7})), 20)])
        .unwrap();
    run_caught_up(&session, 2, 1);
    // The key is the join expression's value, ABS(-3).
    assert_eq!(
        records(&session, "OUTPUT"),
        vec![(
            json!(3),
            json!({"S1_ROWKEY": -3, "S1_V0": "a", "S2_ID": 3, "S2_ROWKEY_1": 7}),
            20
        )]
    );
}

#[test]
fn a_synthetic_key_must_be_selected_and_may_be_aliased() {
    let sources =
        "CREATE STREAM L (ID INT KEY, C0 INT) WITH (kafka_topic='l', format='JSON', partitions=1);
         CREATE STREAM R (ID INT KEY, C1 INT) WITH (kafka_topic='r', format='JSON', partitions=1);";
    let (_dir, session) = session_with(&format!(
        "{sources}
         CREATE STREAM OUTPUT AS
           SELECT ROWKEY AS ID, L.C0, R.C1 FROM L FULL OUTER JOIN R WITHIN 1 SECOND ON L.ID = R.ID;"
    ));
    assert_eq!(
        columns(&session, "OUTPUT"),
        vec!["ID INTEGER", "C0 INTEGER", "C1 INTEGER"]
    );
    let (_dir, mut session) = session_with(sources);
    let e = session
        .execute_script(
            "CREATE STREAM OUTPUT AS SELECT L.C0, R.C1 FROM L JOIN R WITHIN 1 SECOND ON ABS(L.ID) = ABS(R.ID);",
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("ROWKEY"), "{e}");
}
