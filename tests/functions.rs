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
                    v["timestamp"].as_i64().unwrap(),
                    v["message"].as_str().unwrap().to_string(),
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
