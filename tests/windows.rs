//! Windowed aggregations: TUMBLING, HOPPING and SESSION windows over a
//! stream, with windowed keys (the key's bytes, then the window start, or a
//! session's end and start) and late records dropped once their window's
//! grace period has passed; EMIT FINAL.

use serde_json::{json, Value as Json};

mod common;

use common::{json_record, run_caught_up, session_with};

const SCRIPT: &str = "
create stream clicks (user_id bigint key, page string)
  with (kafka_topic='clicks', key_format='JSON', value_format='JSON', partitions=1);
create table per_minute with (kafka_topic='per_minute', key_format='JSON', value_format='JSON') as
  select user_id, windowstart as ws, count(*) as n from clicks
  window tumbling (size 1 minute, grace period 1 minute) group by user_id;
create table sliding with (kafka_topic='sliding', key_format='JSON', value_format='JSON') as
  select user_id, count(*) as n from clicks
  window hopping (size 2 minutes, advance by 1 minute) group by user_id;
";

/// `(key, window, value, timestamp)` of each record of a windowed topic,
/// whose keys are the key's bytes, then `longs` 8-byte big-endian numbers.
fn windowed_records(
    session: &ddsql::Session,
    topic: &str,
    longs: usize,
) -> Vec<(Json, Vec<i64>, Option<Json>, i64)> {
    let mut out = Vec::new();
    session
        .log()
        .read(topic, 0, 0, usize::MAX, &mut out)
        .unwrap();
    out.into_iter()
        .map(|f| {
            let key = f.record.key.unwrap();
            let (k, window) = key.split_at(key.len() - 8 * longs);
            (
                serde_json::from_slice(k).unwrap(),
                window
                    .chunks(8)
                    .map(|b| i64::from_be_bytes(b.try_into().unwrap()))
                    .collect(),
                f.record.value.map(|v| serde_json::from_slice(&v).unwrap()),
                f.record.timestamp,
            )
        })
        .collect()
}

/// `(key, window start, value)` of each record of a time-windowed topic.
fn windowed(session: &ddsql::Session, topic: &str) -> Vec<(Json, i64, Json)> {
    windowed_records(session, topic, 1)
        .into_iter()
        .map(|(k, w, v, _)| (k, w[0], v.unwrap()))
        .collect()
}

/// `(key, start, end, value, timestamp)` of each record of a session-windowed
/// topic, whose keys end with the end, then the start.
fn session_records(
    session: &ddsql::Session,
    topic: &str,
) -> Vec<(Json, i64, i64, Option<Json>, i64)> {
    windowed_records(session, topic, 2)
        .into_iter()
        .map(|(k, w, v, ts)| (k, w[1], w[0], v, ts))
        .collect()
}

#[test]
fn tumbling_and_hopping_windows_with_grace() {
    for (workers, batch) in [(1, 1), (2, 3)] {
        let (_dir, session) = session_with(SCRIPT);
        let click = |user: i64, ts: i64| json_record(json!(user), Some(json!({"PAGE": "p"})), ts);
        let minute = 60_000;
        session
            .log()
            .append(
                "clicks",
                0,
                &[
                    click(1, 10_000),
                    click(1, 70_000),
                    click(2, 75_000),
                    click(1, 100_000),
                    // Stream time reaches 250 s: the first minute's window
                    // (end 60 s + grace 60 s) has closed...
                    click(1, 250_000),
                    // ... so this late record is dropped from it, but still
                    // counts in the open hopping windows it falls into.
                    click(1, 50_000),
                ],
            )
            .unwrap();
        run_caught_up(&session, workers, batch);
        assert_eq!(
            windowed(&session, "per_minute"),
            vec![
                (json!(1), 0, json!({"WS": 0, "N": 1})),
                (json!(1), minute, json!({"WS": minute, "N": 1})),
                (json!(2), minute, json!({"WS": minute, "N": 1})),
                (json!(1), minute, json!({"WS": minute, "N": 2})),
                (json!(1), 4 * minute, json!({"WS": 4 * minute, "N": 1})),
            ],
            "workers {workers}, batch {batch}"
        );
        // Hopping: each click counts in the two windows that contain it;
        // the late click at 50 s counts in [0, 2 min), still open (the
        // default grace is 24 hours less the size); no window starts
        // before 0.
        let sliding = windowed(&session, "sliding");
        let last = |user: i64, start: i64| {
            sliding
                .iter()
                .rev()
                .find(|(k, s, _)| *k == json!(user) && *s == start)
                .map(|(_, _, v)| v["N"].clone())
        };
        assert_eq!(last(1, 0), Some(json!(4)));
        assert_eq!(last(1, minute), Some(json!(2)));
        assert_eq!(last(2, 0), Some(json!(1)));
        assert_eq!(last(1, 3 * minute), Some(json!(1)));
        assert_eq!(last(1, 4 * minute), Some(json!(1)));
    }
}

#[test]
fn window_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let mut session = ddsql::Session::open(dir.path()).unwrap();
    session
        .execute_script("create stream s (id int key, v int) with (kafka_topic='s', value_format='JSON', partitions=1);")
        .unwrap();
    let mut err = |sql: &str| session.execute_script(sql).unwrap_err().to_string();
    assert!(
        err("create table t as select id, count(*) from s group by id emit final;")
            .contains("EMIT FINAL is only supported for windowed aggregations")
    );
    assert!(err("create table t as select id, count(*) from s window tumbling (size 5 seconds) group by id having windowstart > 0;")
        .contains("can only be used in the SELECT clause"));
    assert!(
        err("create stream t as select id from s window tumbling (size 5 seconds);")
            .contains("WINDOW needs GROUP BY")
    );
}

#[test]
fn sessions_merge_and_emit_final_waits_for_the_window_to_close() {
    const SCRIPT: &str = "
create stream clicks (user_id bigint key, page string)
  with (kafka_topic='clicks', key_format='JSON', value_format='JSON', partitions=1);
create table sessions with (kafka_topic='sessions', key_format='JSON', value_format='JSON') as
  select user_id, count(*) as n from clicks window session (30 seconds) group by user_id;
create table final_minutes with (kafka_topic='final_minutes', key_format='JSON', value_format='JSON') as
  select user_id, count(*) as n from clicks window tumbling (size 1 minute) group by user_id emit final;
create stream session_changes (user_id bigint key, n bigint)
  with (kafka_topic='sessions', key_format='JSON', value_format='JSON', window_type='session');
create stream session_starts with (kafka_topic='session_starts', key_format='JSON', value_format='JSON') as
  select user_id, n, windowend as we from session_changes where windowstart = windowend;
";
    for (workers, batch) in [(1, 1), (2, 3)] {
        let (_dir, session) = session_with(SCRIPT);
        let click = |user: i64, ts: i64| json_record(json!(user), Some(json!({"PAGE": "p"})), ts);
        session
            .log()
            .append(
                "clicks",
                0,
                &[
                    click(1, 0),
                    click(1, 20_000),
                    click(1, 100_000),
                    // Within 30 s of neither session: a third one.
                    click(1, 60_000),
                    // Bridges [60 s] and [100 s]: one session of three.
                    click(1, 80_000),
                    click(2, 130_000),
                ],
            )
            .unwrap();
        run_caught_up(&session, workers, batch);
        let sessions = session_records(&session, "sessions");
        let n = |n: i64| Some(json!({ "N": n }));
        assert_eq!(
            sessions,
            vec![
                (json!(1), 0, 0, n(1), 0),
                // A session that grows: the old window's tombstone first.
                (json!(1), 0, 0, None, 0),
                (json!(1), 0, 20_000, n(2), 20_000),
                (json!(1), 100_000, 100_000, n(1), 100_000),
                (json!(1), 60_000, 60_000, n(1), 60_000),
                (json!(1), 60_000, 60_000, None, 60_000),
                (json!(1), 100_000, 100_000, None, 100_000),
                (json!(1), 60_000, 100_000, n(3), 100_000),
                (json!(2), 130_000, 130_000, n(1), 130_000),
            ],
            "workers {workers}, batch {batch}"
        );
        // A stream over the sessions' topic (WINDOW_TYPE='SESSION') reads
        // the windows back; its results keep them.
        let start = |user: i64, at: i64| {
            let value = Some(json!({"N": 1, "WE": at}));
            (json!(user), at, at, value, at)
        };
        assert_eq!(
            session_records(&session, "session_starts"),
            vec![
                start(1, 0),
                start(1, 100_000),
                start(1, 60_000),
                start(2, 130_000)
            ],
            "workers {workers}, batch {batch}"
        );
        // EMIT FINAL (no grace): [0, 1 min) once stream time reaches
        // 100 s, [1 min, 2 min) once it reaches 130 s; [2 min, 3 min) is
        // still open.
        let finals: Vec<(Json, i64, Json)> = windowed(&session, "final_minutes");
        assert_eq!(
            finals,
            vec![
                (json!(1), 0, json!({"N": 2})),
                (json!(1), 60_000, json!({"N": 3})),
            ],
            "workers {workers}, batch {batch}"
        );
    }
}

/// Windowed streams join on key and window, as Kafka Streams joins
/// windowed keys; the result keeps the window, and `l.ROWTIME` is the left
/// record's own time while the result's is the later one.
#[test]
fn windowed_streams_join_within_one_window() {
    const SCRIPT: &str = "
create stream l (k string key, f0 int) with (kafka_topic='left', key_format='JSON', value_format='JSON',
  partitions=1, window_type='tumbling', window_size='1 second');
create stream r (k string key, f1 int) with (kafka_topic='right', key_format='JSON', value_format='JSON',
  partitions=1, window_type='tumbling', window_size='1 second');
create stream joined with (kafka_topic='joined', key_format='JSON', value_format='JSON') as
  select l.k, l.rowtime as time, l.windowstart as wstart, f0, f1
  from l join r within 10 seconds on l.k = r.k;
";
    for workers in [1, 2] {
        let (_dir, mut session) = session_with(SCRIPT);
        let at = |k: &str, start: i64, value: Json, ts: i64| {
            let mut record = json_record(json!(k), Some(value), ts);
            let key = record.key.as_mut().unwrap();
            key.extend_from_slice(&start.to_be_bytes());
            record
        };
        session
            .log()
            .append("left", 0, &[at("a", 0, json!({"F0": 4}), 1)])
            .unwrap();
        session
            .log()
            .append(
                "right",
                0,
                &[
                    at("a", 0, json!({"F1": 6}), 2),
                    // Same key, another window: no match.
                    at("a", 1_000, json!({"F1": 7}), 3),
                ],
            )
            .unwrap();
        run_caught_up(&session, workers, 1);
        assert_eq!(
            windowed_records(&session, "joined", 1),
            vec![(
                json!("a"),
                vec![0],
                Some(json!({"TIME": 1, "WSTART": 0, "F0": 4, "F1": 6})),
                2
            )],
            "{workers} worker(s)"
        );
        // A windowed source joins only another of the same windows.
        let e = session
            .execute_script(
                "create stream other (k string key, f2 int) with (kafka_topic='other', value_format='JSON', partitions=1);
                 create stream bad as select l.k, f0, f2 from l join other o within 1 second on l.k = o.k;",
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("supported only between two streams with the same windows"),
            "{e}"
        );
    }
}
