//! Scalar functions in a running query, on the embedded log: the date
//! functions over CDC-style text timestamps, and ksqlDB's rule for a call
//! that fails on a row (the call is NULL, the row goes on, and the error is
//! in the processing log), with one worker and with two.

use serde_json::json;

mod common;

use common::{json_record, records, run_caught_up, session_with};

const SCRIPT: &str = "
create stream orders (id bigint key, placed string, card string, day string)
  with (kafka_topic='orders', key_format='JSON', value_format='JSON', partitions=1);
create stream clean with (kafka_topic='clean', key_format='JSON', value_format='JSON') as
  select id,
         format_timestamp(parse_timestamp(placed, 'yyyy-MM-dd HH:mm:ss', 'Asia/Seoul'),
                          'yyyy-MM-dd''T''HH:mm:ssXXX', 'UTC') as placed_utc,
         timestampadd(hours, 1, parse_timestamp(placed, 'yyyy-MM-dd HH:mm:ss')) as due,
         mask_keep_right(card, 4) as card,
         coalesce(parse_date(day, 'yyyy-MM-dd'), parse_date(day, 'yyyyMMdd')) as day,
         to_json_string(struct(id := id, card := card)) as doc
  from orders;
";

#[test]
fn a_failing_call_is_null_and_logged_and_the_row_goes_on() {
    for workers in [1, 2] {
        let (_dir, session) = session_with(SCRIPT);
        let value = |placed: &str, day: &str| {
            Some(json!({"placed": placed, "card": "4000-1234", "day": day}))
        };
        session
            .log()
            .append(
                "orders",
                0,
                &[
                    json_record(json!(1), value("2021-03-04 09:00:00", "2021-03-04"), 10),
                    json_record(json!(2), value("not a time", "20210305"), 20),
                ],
            )
            .unwrap();
        run_caught_up(&session, workers, 1);
        let out = records(&session, "clean");
        assert_eq!(
            out,
            vec![
                (
                    json!(1),
                    json!({
                        "PLACED_UTC": "2021-03-04T00:00:00Z",
                        "DUE": 1_614_852_000_000i64,
                        "CARD": "nnnn-1234",
                        "DAY": 18_690,
                        "DOC": r#"{"ID":1,"CARD":"4000-1234"}"#,
                    }),
                    10
                ),
                (
                    json!(2),
                    json!({
                        "PLACED_UTC": null,
                        "DUE": null,
                        "CARD": "nnnn-1234",
                        "DAY": 18_691,
                        "DOC": r#"{"ID":2,"CARD":"4000-1234"}"#,
                    }),
                    20
                ),
            ],
            "workers={workers}"
        );
        // Each failed call is one entry, as in ksqlDB, where COALESCE's
        // arguments are all evaluated: row 1's fallback PARSE_DATE, row 2's
        // two PARSE_TIMESTAMPs and its first PARSE_DATE.
        let log = records(&session, ddsql_engine::PROCESSING_LOG_TOPIC);
        let entries: Vec<(i64, String)> = log
            .iter()
            .map(|(_, v, _)| {
                (
                    v["TIME"].as_i64().unwrap(),
                    common::logged_error(v).to_string(),
                )
            })
            .collect();
        let count = |rowtime: i64, text: &str| {
            entries
                .iter()
                .filter(|(t, m)| *t == rowtime && m.contains(text))
                .count()
        };
        assert_eq!(entries.len(), 4, "workers={workers}: {entries:?}");
        assert_eq!(
            count(
                10,
                "PARSE_DATE: '2021-03-04' does not match the pattern 'yyyyMMdd'"
            ),
            1
        );
        assert_eq!(count(20, "PARSE_TIMESTAMP: 'not a time' does not match"), 2);
        assert_eq!(
            count(
                20,
                "PARSE_DATE: '20210305' does not match the pattern 'yyyy-MM-dd'"
            ),
            1
        );
    }
}

/// EXPLODE and CUBE_EXPLODE: one input record, many rows, each at the
/// input record's time. Several table functions in one SELECT list run in
/// step, the shorter result padded with NULL; an empty or NULL array
/// gives no row. Rows of one input record share its time, so a sink
/// writes them in its order for one time (by key, then value), not in
/// element order.
#[test]
fn table_functions_turn_one_record_into_many_rows() {
    let script = "
        create stream readings (sensor int key, vals array<int>, tags array<string>)
          with (kafka_topic='readings', key_format='JSON', value_format='JSON', partitions=1);
        create stream exploded with (kafka_topic='exploded', key_format='JSON', value_format='JSON') as
          select sensor, explode(vals) as val, explode(tags) as tag, explode(vals) * 10 as times_ten
          from readings where sensor > 0;
        create stream cubed with (kafka_topic='cubed', key_format='JSON', value_format='JSON') as
          select sensor, cube_explode(tags) as combo from readings;
    ";
    for workers in [1, 2] {
        let (_dir, session) = session_with(script);
        let reading = |sensor: i64, vals: serde_json::Value, tags: serde_json::Value, ts| {
            json_record(json!(sensor), Some(json!({"VALS": vals, "TAGS": tags})), ts)
        };
        session
            .log()
            .append(
                "readings",
                0,
                &[
                    reading(1, json!([5, 7, 6]), json!(["a", "b"]), 10),
                    reading(2, json!([]), json!(null), 20),
                    reading(-3, json!([1]), json!(["x"]), 30),
                    reading(4, json!(null), json!([null, "z"]), 40),
                ],
            )
            .unwrap();
        run_caught_up(&session, workers, 1);
        let mut exploded = records(&session, "exploded");
        exploded.sort_by_key(|(k, v, t)| (*t, k.to_string(), v.to_string()));
        let row = |sensor: i64, val: serde_json::Value, tag: serde_json::Value, ts| {
            let times_ten = val.as_i64().map_or(json!(null), |v| json!(v * 10));
            (
                json!(sensor),
                json!({"VAL": val, "TAG": tag, "TIMES_TEN": times_ten}),
                ts,
            )
        };
        let mut expected = vec![
            row(1, json!(5), json!("a"), 10),
            row(1, json!(7), json!("b"), 10),
            row(1, json!(6), json!(null), 10),
            // Sensor 2: both arrays empty or NULL, no row; -3: filtered out.
            row(4, json!(null), json!(null), 40),
            row(4, json!(null), json!("z"), 40),
        ];
        expected.sort_by_key(|(k, v, t)| (*t, k.to_string(), v.to_string()));
        assert_eq!(exploded, expected, "{workers} worker(s)");

        let mut cubed: Vec<(serde_json::Value, serde_json::Value, i64)> =
            records(&session, "cubed");
        cubed.sort_by_key(|(k, v, t)| (*t, k.to_string(), v.to_string()));
        let combo =
            |sensor: i64, c: serde_json::Value, ts| (json!(sensor), json!({"COMBO": c}), ts);
        let mut expected = vec![
            combo(1, json!(["a", "b"]), 10),
            combo(1, json!(["a", null]), 10),
            combo(1, json!([null, "b"]), 10),
            combo(1, json!([null, null]), 10),
            combo(-3, json!(["x"]), 30),
            combo(-3, json!([null]), 30),
            // A NULL element stays NULL: two rows, not four.
            combo(4, json!([null, "z"]), 40),
            combo(4, json!([null, null]), 40),
        ];
        expected.sort_by_key(|(k, v, t)| (*t, k.to_string(), v.to_string()));
        assert_eq!(cubed, expected, "{workers} worker(s)");
    }
    let (_dir, mut session) = session_with(script);
    let explained = session
        .execute_script("explain select sensor, explode(vals) as val from readings emit changes;")
        .unwrap()
        .remove(0)
        .output
        .unwrap();
    assert!(explained.contains("FlatMap EXPLODE(#4)"), "{explained}");
}

#[test]
fn table_functions_are_refused_where_ksqldb_refuses_them() {
    let (_dir, mut session) = session_with(
        "create stream s (k int key, a array<int>, n int) with (kafka_topic='s', value_format='JSON', partitions=1);
         create table t (k int primary key, a array<int>) with (kafka_topic='t', value_format='JSON', partitions=1);",
    );
    for (sql, wanted) in [
        ("create stream x as select k, explode(a) from t;", "EXPLODE is a table function: Table functions are supported only in the SELECT list of a query over a stream"),
        ("create stream x as select k, n from s where explode(a) > 1;", "only in the SELECT list"),
        ("create table x as select k, count(explode(a)) from s group by k;", "EXPLODE is a table function"),
        ("create stream x as select k, explode(n) from s;", "EXPLODE is a table function: it takes an ARRAY, not INTEGER"),
        ("create stream x as select k, explode(explode(a)) from s;", "not inside another table function's argument"),
        ("create stream x as select k, transform(a, v => explode(a)) from s;", "it cannot be called inside a lambda"),
        ("create stream x as select k, explode(a, a) from s;", "it takes one ARRAY argument, not 2"),
    ] {
        let e = match session.execute_script(sql) {
            Ok(_) => panic!("{sql} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(wanted), "{sql}\n  said: {e}\n  wanted: {wanted}");
    }
}

/// STDDEV_SAMP (and its other name STDDEV_SAMPLE), HISTOGRAM, ATTR,
/// SUM_LIST and CORRELATION over a stream, and over a table, whose updates retract.
#[test]
fn the_statistical_and_collection_aggregates() {
    let script = "
        create stream m (k int key, v int, s string, xs array<bigint>)
          with (kafka_topic='m', key_format='JSON', value_format='JSON', partitions=1);
        create table stats with (kafka_topic='stats', key_format='JSON', value_format='JSON') as
          select k, stddev_samp(v) as sd, stddev_sample(v) as sd2, histogram(s) as h,
                 attr(s) as a, sum_list(xs) as total, correlation(v, v * -2) as r
          from m group by k;
        create table dims (id int primary key, g int, v double)
          with (kafka_topic='dims', key_format='JSON', value_format='JSON', partitions=1);
        create table by_g with (kafka_topic='by_g', key_format='JSON', value_format='JSON') as
          select g, stddev_samp(v) as sd, attr(v) as a from dims group by g;
    ";
    for workers in [1, 2] {
        let (_dir, session) = session_with(script);
        let m = |k: i64, v: i64, s: &str, xs: serde_json::Value, ts| {
            json_record(json!(k), Some(json!({"V": v, "S": s, "XS": xs})), ts)
        };
        session
            .log()
            .append(
                "m",
                0,
                &[
                    m(1, 2, "a", json!([1, 2]), 10),
                    m(1, 4, "a", json!(null), 20),
                    m(1, 9, "b", json!([null, 10]), 30),
                    m(2, 5, "z", json!([]), 40),
                ],
            )
            .unwrap();
        let dim = |id: i64, g: i64, v: Option<f64>, ts| {
            json_record(json!(id), v.map(|v| json!({"G": g, "V": v})), ts)
        };
        session
            .log()
            .append(
                "dims",
                0,
                &[
                    dim(1, 7, Some(1.0), 10),
                    dim(2, 7, Some(3.0), 20),
                    dim(2, 7, None, 30), // deleted: one row left in group 7
                ],
            )
            .unwrap();
        run_caught_up(&session, workers, 1);
        let last = |topic: &str, key: serde_json::Value| {
            records(&session, topic)
                .into_iter()
                .rev()
                .find(|(k, _, _)| *k == key)
                .map(|(_, v, _)| v)
                .unwrap()
        };
        // 2, 4, 9: mean 5, squared deviations 9 + 1 + 16 = 26, / 2 = 13.
        let sd = 13f64.sqrt();
        assert_eq!(
            last("stats", json!(1)),
            json!({"SD": sd, "SD2": sd, "H": {"a": 2, "b": 1}, "A": null, "TOTAL": 13, "R": -1.0}),
            "{workers} worker(s)"
        );
        assert_eq!(
            last("stats", json!(2)),
            json!({"SD": 0.0, "SD2": 0.0, "H": {"z": 1}, "A": "z", "TOTAL": 0, "R": null}),
            "{workers} worker(s)"
        );
        let by_g: Vec<serde_json::Value> = records(&session, "by_g")
            .into_iter()
            .map(|(_, v, _)| v)
            .collect();
        assert_eq!(
            by_g,
            [
                json!({"SD": 0.0, "A": 1.0}),
                json!({"SD": 2f64.sqrt(), "A": null}),
                json!({"SD": 0.0, "A": 1.0}),
            ],
            "{workers} worker(s): the deletion is retracted from both"
        );
    }
    let (_dir, mut session) = session_with(script);
    for (sql, wanted) in [
        (
            "create table x as select k, stddev_samp(s) from m group by k;",
            "STDDEV_SAMP needs an INT, BIGINT or DOUBLE, not STRING",
        ),
        (
            "create table x as select k, histogram(v) from m group by k;",
            "HISTOGRAM needs a STRING, not INTEGER",
        ),
        (
            "create table x as select k, sum_list(v) from m group by k;",
            "SUM_LIST needs an ARRAY of INT, BIGINT or DOUBLE, not INTEGER",
        ),
        (
            "create stream x as select k, attr(v) from m;",
            "aggregate function ATTR needs GROUP BY",
        ),
    ] {
        let e = session
            .execute_script(sql)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(wanted), "{sql}\n  said: {e}");
    }
}
