//! Header columns: `HEADERS` holds every header of a record, in order;
//! `HEADER('key')` the value of its last header of that key. Readers fill
//! them; nothing writes them.

mod common;

use common::{json_record, records, run_caught_up, session_with};
use serde_json::json;

const SCRIPT: &str = "
create stream s (id int key, v string, hs array<struct<key string, value bytes>> headers,
    trace bytes header('trace'))
  with (kafka_topic='s', key_format='JSON', value_format='JSON', partitions=1);
create stream out with (kafka_topic='out', key_format='JSON', value_format='JSON') as
  select id, v, hs, trace from s;
";

#[test]
fn header_columns_read_the_records_headers() {
    for workers in [1, 2] {
        let (_dir, mut session) = session_with(SCRIPT);
        let mut traced = json_record(json!(1), Some(json!({"V": "a"})), 10);
        traced.headers = vec![
            ("trace".into(), Some(b"t1".to_vec())),
            ("x".into(), None),
            ("trace".into(), Some(b"t2".to_vec())),
        ];
        session
            .log()
            .append(
                "s",
                0,
                &[traced, json_record(json!(2), Some(json!({"V": "b"})), 20)],
            )
            .unwrap();
        // INSERT VALUES sets the key and value columns; the record it
        // writes has no headers.
        session
            .execute_script("insert into s (id, v) values (3, 'c');")
            .unwrap();
        run_caught_up(&session, workers, 1);
        let values: Vec<_> = records(&session, "out")
            .into_iter()
            .map(|(_, v, _)| v)
            .collect();
        // BYTES are base64 in JSON: "dDE=" is "t1", "dDI=" is "t2".
        assert_eq!(
            values,
            vec![
                json!({"V": "a", "HS": [
                    {"KEY": "trace", "VALUE": "dDE="},
                    {"KEY": "x", "VALUE": null},
                    {"KEY": "trace", "VALUE": "dDI="}
                ], "TRACE": "dDI="}),
                json!({"V": "b", "HS": [], "TRACE": null}),
                json!({"V": "c", "HS": [], "TRACE": null}),
            ],
            "{workers} worker(s)"
        );
    }
}

#[test]
fn header_columns_refuse_what_would_write_them_or_mistype_them() {
    let (_dir, mut session) = session_with(SCRIPT);
    let refused = |session: &mut ddsql::Session, sql: &str| {
        session
            .execute_script(sql)
            .map(|_| ())
            .expect_err(sql)
            .to_string()
    };
    let cases = [
        (
            "insert into s (id, v, trace) values (1, 'a', to_bytes('x', 'utf8'));",
            "Cannot insert into HEADER columns: TRACE",
        ),
        (
            "create stream t (id int key, h bytes headers) with (kafka_topic='t', value_format='JSON', partitions=1);",
            "a HEADERS column is ARRAY<STRUCT<`KEY` STRING, `VALUE` BYTES>>, not BYTES",
        ),
        (
            "create stream t (id int key, h string header('k')) with (kafka_topic='t', value_format='JSON', partitions=1);",
            "a HEADER('k') column is BYTES, not STRING",
        ),
        (
            "create stream t (id int key, a bytes header('k'), b bytes header('k')) with (kafka_topic='t', value_format='JSON', partitions=1);",
            "column A already holds header 'k'",
        ),
        (
            "create stream w (id int key, h bytes header('k')) with (kafka_topic='w', value_format='JSON', partitions=1, window_type='tumbling', window_size='1 second');",
            "header columns of windowed sources are not supported yet",
        ),
        (
            "create table d (id int primary key, name string, h bytes header('k')) with (kafka_topic='d', value_format='JSON', partitions=1, envelope='DEBEZIUM');",
            "a Debezium table's columns come from the change event",
        ),
        (
            "insert into s select id, v, hs, trace from out;",
            "into a stream with header columns (HS) is not supported yet",
        ),
    ];
    for (sql, expected) in cases {
        let e = refused(&mut session, sql);
        assert!(e.contains(expected), "{sql}: {e}");
    }
    // So does /inserts-stream's row inserter, for that row alone.
    let row = |v: serde_json::Value| v.as_object().unwrap().clone();
    let acks = session
        .inserter("s")
        .unwrap()
        .insert(&[
            row(json!({"ID": 1, "TRACE": "dDE="})),
            row(json!({"ID": 2, "V": "b"})),
        ])
        .unwrap();
    assert!(
        acks[0]
            .as_ref()
            .unwrap_err()
            .contains("Cannot insert into HEADER columns: TRACE"),
        "{acks:?}"
    );
    assert!(acks[1].is_ok(), "{acks:?}");
    // DESCRIBE marks them, and the statement that declared them reads back.
    let described = format!("{:?}", session.execute_script("describe s;").unwrap());
    assert!(
        described.contains("(headers)") && described.contains("(header('trace'))"),
        "{described}"
    );
    let sql = &session.catalog().source("S").unwrap().sql;
    let reparsed = ddsql_sql::parser::parse(sql).unwrap();
    assert!(
        reparsed[0]
            .statement
            .to_string()
            .contains("HEADER('trace')"),
        "{sql}"
    );
}
