//! Statements that change what exists: `CREATE OR REPLACE`, `IF NOT
//! EXISTS`, `DROP ... DELETE TOPIC`, and the read-only sources of `CREATE
//! SOURCE`, against the real embedded log (and the in-memory Schema
//! Registry for the subjects `DELETE TOPIC` removes).

mod common;

use common::{columns, json_record as rec, records, run_caught_up, session_with};
use ddsql::session::Connections;
use ddsql::Session;
use ddsql_connectors::schema_registry::{MemoryRegistry, SchemaRegistry};
use serde_json::json;

const ORDERS: &str = "
create stream orders (id int key, qty int, note string)
  with (kafka_topic='orders', key_format='JSON', value_format='JSON', partitions=1);
create stream big as select id, qty from orders where qty > 1;
";

fn order(id: i64, qty: i64, note: &str, ts: i64) -> ddsql_engine::io::Record {
    rec(json!(id), Some(json!({"QTY": qty, "NOTE": note})), ts)
}

/// The error text of a statement that must fail.
fn refused(session: &mut Session, sql: &str) -> String {
    match session.execute_script(sql) {
        Ok(_) => panic!("{sql} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn create_or_replace_keeps_the_query_id_and_goes_on_after_its_last_output() {
    for workers in [1, 2] {
        let (_dir, mut session) = session_with(ORDERS);
        let log = session.log().clone();
        log.append("orders", 0, &[order(1, 5, "a", 10), order(2, 0, "b", 20)])
            .unwrap();
        run_caught_up(&session, workers, 1);
        assert_eq!(
            records(&session, "BIG"),
            vec![(json!(1), json!({"QTY": 5}), 10)]
        );

        let done = session
            .execute_script(
                "create or replace stream big as select id, qty, note from orders where qty >= 0;",
            )
            .unwrap();
        assert_eq!(done[0].message, "Created query with ID CSAS_BIG_0");
        let ids: Vec<&str> = session
            .catalog()
            .queries()
            .iter()
            .map(|q| q.id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["CSAS_BIG_0"],
            "the replacement takes the old query's place"
        );
        assert_eq!(
            columns(&session, "BIG"),
            ["ID INTEGER", "QTY INTEGER", "NOTE STRING"]
        );

        log.append("orders", 0, &[order(3, 0, "c", 30)]).unwrap();
        run_caught_up(&session, workers, 1);
        // What the old query wrote stays as it is; the new query writes
        // from the first time after the last record written (10), so the
        // record at 20, which the old filter dropped, now passes.
        assert_eq!(
            records(&session, "BIG"),
            vec![
                (json!(1), json!({"QTY": 5}), 10),
                (json!(2), json!({"QTY": 0, "NOTE": "b"}), 20),
                (json!(3), json!({"QTY": 0, "NOTE": "c"}), 30),
            ],
            "{workers} worker(s)"
        );
    }
}

#[test]
fn create_or_replace_refuses_what_the_topic_or_running_queries_cannot_follow() {
    let (_dir, mut session) = session_with(ORDERS);
    let cases = [
        (
            "create or replace stream big as select id, note from orders;",
            "value column QTY INTEGER would be changed, dropped or moved",
        ),
        (
            "create or replace stream big as select id, cast(qty as bigint) as qty from orders;",
            "value column QTY INTEGER would be changed",
        ),
        (
            "create or replace stream big as select qty, id from orders partition by qty;",
            "a replacement must keep its key columns (ID INTEGER)",
        ),
        (
            "create or replace stream big with (kafka_topic='elsewhere') as select id, qty from orders;",
            "its topic is BIG, and a replacement cannot move it to elsewhere",
        ),
        (
            "create or replace stream big with (value_format='AVRO') as select id, qty from orders;",
            "a replacement must keep them",
        ),
        (
            "create or replace table big as select id, count(*) as n from orders group by id;",
            "Cannot add table 'BIG': BIG is a STREAM, and CREATE OR REPLACE cannot change a STREAM into a TABLE",
        ),
        (
            "create or replace stream big (id int key, qty int) with (kafka_topic='BIG', key_format='JSON', value_format='JSON');",
            "query CSAS_BIG_0 makes it",
        ),
        (
            "create or replace stream orders as select * from big;",
            "it was declared over its topic, not made by a query",
        ),
        (
            "create or replace stream orders (id int key, qty int) with (kafka_topic='orders', key_format='JSON', value_format='JSON');",
            "queries CSAS_BIG_0 read from or write to it",
        ),
        ("create stream big as select * from orders;", "CREATE OR REPLACE changes it"),
    ];
    for (sql, wanted) in cases {
        let e = refused(&mut session, sql);
        assert!(e.contains(wanted), "{sql}\n  said: {e}\n  wanted: {wanted}");
    }
    // A declared source nobody reads may gain value columns.
    session
        .execute_script(
            "create stream notes (id int key, text string) with (kafka_topic='notes', value_format='JSON', partitions=1);
             create or replace stream notes (id int key, text string, lang string) with (kafka_topic='notes', value_format='JSON');",
        )
        .unwrap();
    assert_eq!(
        columns(&session, "NOTES"),
        ["ID INTEGER", "TEXT STRING", "LANG STRING"]
    );
    // IF NOT EXISTS leaves an existing source as it is.
    let done = session
        .execute_script("create stream if not exists notes (id int key) with (kafka_topic='x', value_format='JSON', partitions=1);")
        .unwrap();
    assert!(
        done[0].message.contains("IF NOT EXISTS leaves it as it is"),
        "{}",
        done[0].message
    );
    assert_eq!(
        columns(&session, "NOTES"),
        ["ID INTEGER", "TEXT STRING", "LANG STRING"]
    );
    assert_eq!(
        session.log().partitions("x").unwrap(),
        None,
        "no topic was made"
    );
}

#[test]
fn drop_delete_topic_removes_the_records_and_the_subjects() {
    let registry = MemoryRegistry::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::connect(&Connections {
        schema_registry: Some(registry.url()),
        ..Connections::embedded(dir.path())
    })
    .unwrap();
    session
        .execute_script(
            "create stream s (id int key, v int) with (kafka_topic='s', key_format='JSON', value_format='JSON', partitions=1);
             create stream out with (value_format='AVRO') as select id, v from s;
             create stream out_again (id int key, v int) with (kafka_topic='OUT', key_format='JSON', value_format='AVRO');",
        )
        .unwrap();
    session
        .log()
        .append("s", 0, &[rec(json!(1), Some(json!({"V": 2})), 5)])
        .unwrap();
    run_caught_up(&session, 1, 1);
    assert_eq!(session.log().end_offset("OUT", 0).unwrap(), 1);
    let client = SchemaRegistry::new(&registry.url());
    assert!(client.latest("OUT-value").unwrap().is_some());

    let e = refused(&mut session, "drop stream out delete topic;");
    assert!(
        e.contains("queries CSAS_OUT_0 read from or write to it"),
        "{e}"
    );
    session.execute_script("terminate CSAS_OUT_0;").unwrap();
    let e = refused(&mut session, "drop stream out delete topic;");
    assert!(
        e.contains(
            "Refusing to delete topic. Found other data sources (OUT_AGAIN) using topic OUT"
        ),
        "{e}"
    );
    let done = session
        .execute_script("drop stream out_again; drop stream out delete topic;")
        .unwrap();
    assert_eq!(
        done[1].message,
        "Source OUT (topic: OUT) was dropped, and the topic deleted."
    );
    assert_eq!(session.log().partitions("OUT").unwrap(), None);
    assert!(
        client.latest("OUT-value").unwrap().is_none(),
        "the subject is gone"
    );
    // A new sink on the topic registers its schema again (the client's
    // cache of what it registered forgets the deleted subject).
    session
        .execute_script("create stream out with (value_format='AVRO') as select id, v from s;")
        .unwrap();
    assert!(client.latest("OUT-value").unwrap().is_some());
    session
        .execute_script("terminate all; drop stream out delete topic;")
        .unwrap();
    assert_eq!(
        session.log().partitions("s").unwrap(),
        Some(1),
        "other topics stay"
    );

    let done = session
        .execute_script("drop stream if exists out delete topic;")
        .unwrap();
    assert_eq!(done[0].message, "Source OUT does not exist.");
}

#[test]
fn source_streams_and_tables_are_read_only() {
    let (_dir, mut session) = session_with(
        "create source stream feed (id int key, v int) with (kafka_topic='feed', value_format='JSON', partitions=1);
         create source table dim (id int primary key, v int) with (kafka_topic='dim', value_format='JSON', partitions=1);
         create stream other (id int key, v int) with (kafka_topic='other', value_format='JSON', partitions=1);",
    );
    for (sql, wanted) in [
        ("insert into feed values (1, 2);", "Cannot insert values into read-only stream: FEED"),
        ("insert into dim values (1, 2);", "Cannot insert values into read-only table: DIM"),
        ("insert into feed select * from other;", "Cannot insert into read-only stream: FEED"),
        ("drop stream feed delete topic;", "Cannot delete topic for read-only source: FEED"),
        (
            "create or replace stream feed (id int key, v int) with (kafka_topic='feed', value_format='JSON');",
            "Cannot add stream 'FEED': CREATE OR REPLACE is not supported on source streams.",
        ),
        (
            "create or replace source stream other (id int key, v int) with (kafka_topic='other', value_format='JSON');",
            "Cannot add stream 'OTHER': CREATE OR REPLACE is not supported on source streams.",
        ),
    ] {
        let e = refused(&mut session, sql);
        assert!(e.contains(wanted), "{sql}\n  said: {e}");
    }
    assert!(session.inserter("FEED").is_err());
    // Reading is what they are for; dropping without DELETE TOPIC is allowed.
    session
        .execute_script(
            "create stream copy as select * from feed; terminate all; drop stream feed;",
        )
        .unwrap();
    assert_eq!(session.log().partitions("feed").unwrap(), Some(1));
}

/// `PAUSE` keeps a query but stops it; `RESUME` catches it up, writing
/// what it missed once. A running query never reads a paused one's sink.
#[test]
fn pause_and_resume_catch_a_query_up_and_keep_readers_consistent() {
    let script = format!(
        "{ORDERS}
         create stream bigger with (kafka_topic='bigger', key_format='JSON', value_format='JSON') as
           select id, qty * 10 as qty10 from big;"
    );
    for workers in [1, 2] {
        let (_dir, mut session) = session_with(&script);
        let log = session.log().clone();
        log.append("orders", 0, &[order(1, 5, "a", 10)]).unwrap();
        run_caught_up(&session, workers, 1);
        let count = |session: &Session, topic: &str| records(session, topic).len();
        assert_eq!((count(&session, "BIG"), count(&session, "bigger")), (1, 1));
        // BIGGER reads what BIG writes: it pauses first and resumes last.
        let e = refused(&mut session, "pause csas_big_0;");
        assert!(e.contains("PAUSE CSAS_BIGGER_1 first"), "{e}");
        session
            .execute_script("pause csas_bigger_1; pause csas_big_0;")
            .unwrap();
        assert!(session
            .catalog()
            .queries()
            .iter()
            .all(|q| q.state() == "PAUSED"));
        let e = refused(&mut session, "create stream more as select id from big;");
        assert!(e.contains("RESUME CSAS_BIG_0 first"), "{e}");
        log.append("orders", 0, &[order(2, 7, "b", 20)]).unwrap();
        run_caught_up(&session, workers, 1);
        assert_eq!((count(&session, "BIG"), count(&session, "bigger")), (1, 1));
        let e = refused(&mut session, "resume csas_bigger_1;");
        assert!(e.contains("RESUME CSAS_BIG_0 first"), "{e}");
        session.execute_script("resume all;").unwrap();
        run_caught_up(&session, workers, 1);
        let bigger: Vec<_> = records(&session, "bigger")
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect();
        assert_eq!(
            bigger,
            vec![
                (json!(1), json!({"QTY10": 50})),
                (json!(2), json!({"QTY10": 70}))
            ],
            "{workers} worker(s)"
        );
        assert_eq!(count(&session, "BIG"), 2);
    }
}

/// `ALTER STREAM ... ADD COLUMN` adds value columns to a declared source no
/// query uses; records written before read NULL for them. It is kept
/// across a restart as the command it is.
#[test]
fn alter_adds_value_columns_to_a_declared_source() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut session = Session::open_durable(dir.path()).unwrap();
        session
            .execute_script(
                "create stream s (id int key, a int) with (kafka_topic='s', key_format='JSON', value_format='JSON', partitions=1);
                 insert into s (id, a) values (1, 10);",
            )
            .unwrap();
        let done = session
            .execute_script("alter stream s add column b string, add c int;")
            .unwrap();
        assert_eq!(done[0].message, "Stream S altered.");
        assert_eq!(
            columns(&session, "S"),
            ["ID INTEGER", "A INTEGER", "B STRING", "C INTEGER"]
        );
        let sql = &session.catalog().source("S").unwrap().sql;
        assert!(sql.contains("a INTEGER, b STRING, c INTEGER)"), "{sql}");
        for (statement, expected) in [
            (
                "alter table s add column d int;",
                "Incompatible data source type is STREAM",
            ),
            (
                "alter stream s add column a int;",
                "Cannot add column `A` to schema",
            ),
        ] {
            let e = refused(&mut session, statement);
            assert!(e.contains(expected), "{statement}: {e}");
        }
        session
            .execute_script(
                "insert into s (id, a, b, c) values (2, 20, 'x', 3);
                 create stream t as select id, a, b, c from s;",
            )
            .unwrap();
        // Now a query binds its columns, and CREATE ... AS sources are
        // the query's.
        for (statement, expected) in [
            (
                "alter stream s add column d int;",
                "query CSAS_T_0 reads or writes it",
            ),
            (
                "alter stream t add column d int;",
                "not supported for CREATE ... AS",
            ),
        ] {
            let e = refused(&mut session, statement);
            assert!(e.contains(expected), "{statement}: {e}");
        }
    }
    let session = Session::open_durable(dir.path()).unwrap();
    assert_eq!(
        columns(&session, "S"),
        ["ID INTEGER", "A INTEGER", "B STRING", "C INTEGER"]
    );
    run_caught_up(&session, 1, 1);
    let t: Vec<_> = records(&session, "T")
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect();
    assert_eq!(
        t,
        vec![
            (json!(1), json!({"A": 10, "B": null, "C": null})),
            (json!(2), json!({"A": 20, "B": "x", "C": 3})),
        ]
    );
}
