//! Tables declared over topics: each record upserts its key, a tombstone
//! deletes it; a stream joins the table as of each stream record.

use ddsql::Session;
use ddsql_engine::RunOptions;
use serde_json::{json, Value as Json};

const SCRIPT: &str = "
create table users (id bigint primary key, name string, tier string)
  with (kafka_topic='users', key_format='JSON', value_format='JSON', partitions=1);
create stream clicks (user_id bigint, page string)
  with (kafka_topic='clicks', value_format='JSON', partitions=1);
create stream enriched as
  select c.user_id, u.name, c.page from clicks c left join users u on c.user_id = u.id;
create table gold with (kafka_topic='gold', key_format='JSON', value_format='JSON') as
  select id, name from users where tier = 'gold';
";

mod common;

use common::{json_record as rec, records, run_caught_up, session_with};

/// `(key, value)` of every record of a one-partition topic.
fn read(session: &Session, topic: &str) -> Vec<(Json, Json)> {
    records(session, topic)
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect()
}

#[test]
fn upserts_tombstones_and_as_of_joins() {
    for (workers, batch) in [(1, 1), (2, 2), (3, 1000)] {
        let (_dir, session) = session_with(SCRIPT);
        let user = |id: i64, name: Option<&str>, tier: &str, ts| {
            rec(
                json!(id),
                name.map(|n| json!({"NAME": n, "TIER": tier})),
                ts,
            )
        };
        let users = [
            user(1, Some("ann"), "gold", 10),
            user(2, Some("bob"), "silver", 11),
            user(1, Some("anne"), "gold", 30), // rename
            user(2, Some("bob"), "gold", 40),  // promoted
            user(1, None, "", 50),             // deleted
        ];
        let click = |id: i64, page: &str, ts| {
            rec(Json::Null, Some(json!({"USER_ID": id, "PAGE": page})), ts)
        };
        let clicks = [
            click(1, "a", 20),
            click(2, "b", 20),
            click(1, "c", 35),
            click(1, "d", 55),
            click(3, "e", 60),
        ];
        session.log().append("clicks", 0, &clicks).unwrap();
        session.log().append("users", 0, &users).unwrap();
        run_caught_up(&session, workers, batch);

        let enriched: Vec<Json> = read(&session, "ENRICHED")
            .into_iter()
            .map(|(k, v)| json!([k, v["NAME"], v["PAGE"]]))
            .collect();
        assert_eq!(
            enriched,
            vec![
                json!([1, "ann", "a"]),
                json!([2, "bob", "b"]),
                json!([1, "anne", "c"]),
                json!([1, null, "d"]),
                json!([3, null, "e"])
            ],
            "workers={workers} batch={batch}"
        );
        // The filtered table's changelog: upserts, and a tombstone when a
        // key leaves the table.
        assert_eq!(
            read(&session, "gold"),
            vec![
                (json!(1), json!({"NAME": "ann"})),
                (json!(1), json!({"NAME": "anne"})),
                (json!(2), json!({"NAME": "bob"})),
                (json!(1), Json::Null),
            ],
            "workers={workers} batch={batch}"
        );
    }
}

/// Records of one timestamp apply in offset order, a tombstone included.
#[test]
fn records_of_one_time_apply_in_offset_order() {
    for (workers, batch) in [(1, 1), (2, 1000)] {
        let (_dir, session) = session_with(SCRIPT);
        let user = |id: i64, name: Option<&str>| {
            rec(
                json!(id),
                name.map(|n| json!({"NAME": n, "TIER": "gold"})),
                10,
            )
        };
        let users = [
            user(1, Some("ann")),
            user(1, None), // deleted right after
            user(3, None),
            user(3, Some("cat")), // back right after
        ];
        let click = |id: i64| rec(Json::Null, Some(json!({"USER_ID": id, "PAGE": "p"})), 20);
        session.log().append("users", 0, &users).unwrap();
        session
            .log()
            .append("clicks", 0, &[click(1), click(3)])
            .unwrap();
        run_caught_up(&session, workers, batch);
        let enriched: Vec<Json> = read(&session, "ENRICHED")
            .into_iter()
            .map(|(k, v)| json!([k, v["NAME"]]))
            .collect();
        assert_eq!(
            enriched,
            vec![json!([1, null]), json!([3, "cat"])],
            "workers={workers} batch={batch}"
        );
        assert_eq!(
            read(&session, "gold"),
            vec![
                (json!(1), json!({"NAME": "ann"})),
                (json!(1), Json::Null),
                (json!(3), json!({"NAME": "cat"}))
            ],
            "workers={workers} batch={batch}"
        );
    }
}

#[test]
fn group_by_over_a_table_follows_updates_and_deletes() {
    for (workers, batch) in [(1, 1), (2, 3)] {
        let (_dir, session) = session_with(
            "create table users (id bigint primary key, name string, tier string)
                   with (kafka_topic='users', key_format='JSON', value_format='JSON', partitions=1);
                 create table tiers with (key_format='JSON') as
                   select tier, count(*) as n, max(name) as last_name from users group by tier;",
        );
        let user = |id: i64, v: Option<(&str, &str)>, ts| {
            rec(json!(id), v.map(|(n, t)| json!({"NAME": n, "TIER": t})), ts)
        };
        session
            .log()
            .append(
                "users",
                0,
                &[
                    user(1, Some(("ann", "gold")), 1),
                    user(2, Some(("bob", "gold")), 2),
                    user(1, Some(("ann", "silver")), 3), // moves between groups
                    user(2, None, 4),                    // deleted: gold empties
                ],
            )
            .unwrap();
        run_caught_up(&session, workers, batch);
        assert_eq!(
            read(&session, "TIERS"),
            vec![
                (json!("gold"), json!({"N": 1, "LAST_NAME": "ann"})),
                (json!("gold"), json!({"N": 2, "LAST_NAME": "bob"})),
                (json!("gold"), json!({"N": 1, "LAST_NAME": "bob"})),
                (json!("silver"), json!({"N": 1, "LAST_NAME": "ann"})),
                // As in ksqlDB, an emptied group stays, with a count of 0.
                (json!("gold"), json!({"N": 0, "LAST_NAME": null})),
            ],
            "workers={workers} batch={batch}"
        );
    }
}

#[test]
fn a_timestamp_column_orders_the_stream_and_becomes_rowtime() {
    let (_dir, session) = session_with("create stream s (id bigint key, v string, ts bigint)
               with (kafka_topic='s', key_format='JSON', value_format='JSON', timestamp='ts', partitions=3);
             create table t with (key_format='JSON', partitions=1) as select id, latest_by_offset(v) as v from s group by id;",);
    // Record timestamps are all 0: the TS column orders the partitions.
    let r = |v: &str, ts: Json| rec(json!(1), Some(json!({"V": v, "TS": ts})), 0);
    session.log().append("s", 0, &[r("c", json!(30))]).unwrap();
    session.log().append("s", 1, &[r("a", json!(10))]).unwrap();
    session
        .log()
        .append("s", 2, &[r("b", json!(20)), r("x", Json::Null)])
        .unwrap();
    let report = run_caught_up(&session, 2, 1);
    let got: Vec<(String, i64)> = records(&session, "T")
        .into_iter()
        .map(|(_, v, ts)| (v["V"].as_str().unwrap().to_string(), ts))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".to_string(), 10),
            ("b".to_string(), 20),
            ("c".to_string(), 30)
        ]
    );
    // A NULL time cannot be placed: the record goes to the processing log.
    assert_eq!(report.processing_errors, 1);
}

#[test]
fn within_a_partition_offsets_win_over_timestamps() {
    let (_dir, session) = session_with("create stream s (id bigint key, v string, ts bigint)
               with (kafka_topic='s', key_format='JSON', value_format='JSON', timestamp='ts', partitions=1);
             create table t with (key_format='JSON') as select id, latest_by_offset(v) as v from s group by id;",);
    let r = |v: &str, ts: i64| rec(json!(1), Some(json!({"V": v, "TS": ts})), 0);
    session
        .log()
        .append("s", 0, &[r("c", 30), r("a", 10), r("b", 20)])
        .unwrap();
    session.run_until_caught_up(&RunOptions::default()).unwrap();
    let latest: Vec<Json> = read(&session, "T")
        .into_iter()
        .map(|(_, v)| v["V"].clone())
        .collect();
    assert_eq!(latest, vec![json!("c"), json!("a"), json!("b")]);
}

#[test]
fn stream_tombstones_pass_projections_and_stop_at_filters() {
    let (_dir, session) = session_with("create stream s (id bigint key, v string) with (kafka_topic='s', key_format='JSON', value_format='JSON', partitions=1);
             create stream copy with (key_format='JSON') as select id, ucase(v) as v from s;
             create stream kept with (key_format='JSON') as select * from s where v is null;
             create table counts with (key_format='JSON') as select id, count(*) as n from s group by id;",);
    session
        .log()
        .append(
            "s",
            0,
            &[
                rec(json!(1), Some(json!({"V": "a"})), 1),
                rec(json!(1), None, 2),
                rec(json!(2), Some(json!({"V": null})), 3),
            ],
        )
        .unwrap();
    session.run_until_caught_up(&RunOptions::default()).unwrap();
    // A projection forwards the tombstone: the key, no value.
    assert_eq!(
        read(&session, "COPY"),
        vec![
            (json!(1), json!({"V": "A"})),
            (json!(1), Json::Null),
            (json!(2), json!({"V": null}))
        ]
    );
    // A filter drops it, even one that NULL columns would pass.
    assert_eq!(read(&session, "KEPT"), vec![(json!(2), json!({"V": null}))]);
    // An aggregation ignores it.
    assert_eq!(
        read(&session, "COUNTS"),
        vec![(json!(1), json!({"N": 1})), (json!(2), json!({"N": 1}))]
    );
}

#[test]
fn tables_join_on_their_keys() {
    for (workers, batch) in [(1, 1), (2, 2)] {
        let (_dir, session) = session_with("create table users (id bigint primary key, name string) with (kafka_topic='users', key_format='JSON', value_format='JSON', partitions=1);
                 create table tiers (id bigint primary key, tier string) with (kafka_topic='tiers', key_format='JSON', value_format='JSON', partitions=1);
                 create table l with (key_format='JSON') as select u.id, u.name, t.tier from users u left join tiers t on u.id = t.id;
                 create table i with (key_format='JSON') as select u.id, u.name, t.tier from users u join tiers t on u.id = t.id;
                 create table r with (key_format='JSON') as select t.id, u.name, t.tier from users u right join tiers t on u.id = t.id;",);
        let row = |id: i64, v: Option<Json>, ts| rec(json!(id), v, ts);
        session
            .log()
            .append(
                "users",
                0,
                &[
                    row(1, Some(json!({"NAME": "ann"})), 1),
                    row(2, Some(json!({"NAME": "bob"})), 3),
                    row(1, None, 5),
                ],
            )
            .unwrap();
        session
            .log()
            .append(
                "tiers",
                0,
                &[
                    row(1, Some(json!({"TIER": "gold"})), 2),
                    row(1, Some(json!({"TIER": "silver"})), 4),
                    row(2, Some(json!({"TIER": "bronze"})), 6),
                ],
            )
            .unwrap();
        run_caught_up(&session, workers, batch);
        let v = |name: Json, tier: Json| json!({"NAME": name, "TIER": tier});
        assert_eq!(
            read(&session, "L"),
            vec![
                (json!(1), v(json!("ann"), Json::Null)),
                (json!(1), v(json!("ann"), json!("gold"))),
                (json!(2), v(json!("bob"), Json::Null)),
                (json!(1), v(json!("ann"), json!("silver"))),
                (json!(1), Json::Null),
                (json!(2), v(json!("bob"), json!("bronze"))),
            ],
            "left join, workers={workers}"
        );
        assert_eq!(
            read(&session, "I"),
            vec![
                (json!(1), v(json!("ann"), json!("gold"))),
                (json!(1), v(json!("ann"), json!("silver"))),
                (json!(1), Json::Null),
                (json!(2), v(json!("bob"), json!("bronze"))),
            ],
            "inner join, workers={workers}"
        );
        assert_eq!(
            read(&session, "R"),
            vec![
                (json!(1), v(json!("ann"), json!("gold"))),
                (json!(1), v(json!("ann"), json!("silver"))),
                (json!(1), v(Json::Null, json!("silver"))),
                (json!(2), v(json!("bob"), json!("bronze"))),
            ],
            "right join, workers={workers}"
        );
    }
}

#[test]
fn streams_join_within_a_window() {
    for (workers, batch) in [(1, 1), (2, 3)] {
        let (_dir, session) = session_with("create stream impressions (ad_id bigint, campaign string) with (kafka_topic='impressions', value_format='JSON', partitions=1);
                 create stream clicks (ad_id bigint, user_id string) with (kafka_topic='clicks', value_format='JSON', partitions=1);
                 create stream matched with (key_format='JSON') as
                   select i.ad_id, i.campaign, c.user_id from impressions i join clicks c within 10 seconds on i.ad_id = c.ad_id;
                 create stream soon with (key_format='JSON') as
                   select i.ad_id, c.user_id from impressions i join clicks c within (1 second, 3 seconds) on i.ad_id = c.ad_id;",);
        let imp = |ad: i64, campaign: &str, ts| {
            rec(
                Json::Null,
                Some(json!({"AD_ID": ad, "CAMPAIGN": campaign})),
                ts,
            )
        };
        let click = |ad: i64, user: &str, ts| {
            rec(Json::Null, Some(json!({"AD_ID": ad, "USER_ID": user})), ts)
        };
        session
            .log()
            .append(
                "impressions",
                0,
                &[
                    imp(1, "spring", 1_000),
                    imp(2, "summer", 2_000),
                    imp(1, "autumn", 30_000),
                ],
            )
            .unwrap();
        session
            .log()
            .append(
                "clicks",
                0,
                &[
                    click(1, "u1", 5_000),
                    click(2, "u2", 20_000),
                    click(1, "u3", 29_500),
                    click(1, "u4", 35_000),
                ],
            )
            .unwrap();
        run_caught_up(&session, workers, batch);
        let got: Vec<(Json, Json, i64)> = records(&session, "MATCHED")
            .into_iter()
            .map(|(k, v, ts)| (k, json!([v["CAMPAIGN"], v["USER_ID"]]), ts))
            .collect();
        // Each pair once, when its later record arrives, stamped with the
        // later ROWTIME; u2 clicked 18 s after its impression: no match.
        assert_eq!(
            got,
            vec![
                (json!(1), json!(["spring", "u1"]), 5_000),
                (json!(1), json!(["autumn", "u3"]), 30_000),
                (json!(1), json!(["autumn", "u4"]), 35_000),
            ],
            "workers={workers} batch={batch}"
        );
        // WITHIN (1 SECOND, 3 SECONDS): a click at most 1 s before or 3 s after.
        let soon = read(&session, "SOON")
            .into_iter()
            .map(|(_, v)| v["USER_ID"].clone())
            .collect::<Vec<_>>();
        assert_eq!(soon, vec![json!("u3")], "workers={workers} batch={batch}");
    }
}

#[test]
fn a_pull_query_in_a_script_prints_the_table() {
    let (_dir, mut session) = session_with(SCRIPT);
    session
        .log()
        .append(
            "users",
            0,
            &[
                rec(json!(1), Some(json!({"NAME": "ann", "TIER": "gold"})), 10),
                rec(json!(2), Some(json!({"NAME": "bob", "TIER": "gold"})), 11),
                rec(json!(1), None, 12),
            ],
        )
        .unwrap();
    let done = session
        .execute_script("select * from users where tier = 'gold';")
        .unwrap();
    let table = done[0].output.as_deref().unwrap();
    assert_eq!(
        table,
        " ID | NAME | TIER\n------------------\n 2  | bob  | gold\n------------------"
    );
    // A push query runs until stopped: not in a script.
    let err = session
        .execute_script("select * from users emit changes;")
        .unwrap_err();
    assert!(err.to_string().contains("ddsql cli"), "{err}");
}

/// `ENVELOPE='DEBEZIUM'` (a ddsql extension): a Debezium topic read as the
/// database table it describes. Creates and snapshot reads insert, updates
/// replace the row (retraction and insertion downstream), deletes delete,
/// and the tombstone Debezium writes after a delete changes nothing.
#[test]
fn a_debezium_topic_read_directly_as_a_table() {
    let (_dir, session) = session_with(
        "create table users (id bigint primary key, name string, tier string)
           with (kafka_topic='app.db.users', value_format='JSON', envelope='debezium', partitions=1);
         create table tiers with (kafka_topic='tiers', key_format='JSON', value_format='JSON', partitions=1) as
           select tier, count(*) as n from users group by tier;",
    );
    let row = |id: i64, name: &str, tier: &str| json!({"id": id, "name": name, "tier": tier});
    let event = |op: &str, before: Json, after: Json, ts: i64| {
        rec(
            json!({"id": after.get("id").or(before.get("id")).cloned().unwrap()}),
            Some(
                json!({"before": before, "after": after, "op": op, "ts_ms": ts,
                        "source": {"connector": "mysql", "db": "db", "table": "users"}}),
            ),
            ts,
        )
    };
    let records = [
        event("r", Json::Null, row(1, "ann", "gold"), 10),
        event("c", Json::Null, row(2, "bob", "silver"), 20),
        event("u", row(2, "bob", "silver"), row(2, "bob", "gold"), 30),
        event("d", row(1, "ann", "gold"), Json::Null, 40),
        // Debezium's tombstone for compaction, after the delete.
        rec(json!({"id": 1}), None, 41),
        event("c", Json::Null, row(3, "cy", "silver"), 50),
    ];
    session.log().append("app.db.users", 0, &records).unwrap();
    let report = session.run_until_caught_up(&RunOptions::default()).unwrap();
    assert_eq!(report.processing_errors, 0);

    // The tier counts follow every change of the database table.
    assert_eq!(
        read(&session, "tiers"),
        vec![
            (json!("gold"), json!({"N": 1})),
            (json!("silver"), json!({"N": 1})),
            // One update, two groups: both at the update's time.
            (json!("gold"), json!({"N": 2})),
            (json!("silver"), json!({"N": 0})),
            (json!("gold"), json!({"N": 1})),
            (json!("silver"), json!({"N": 1})),
        ]
    );
    // The table itself, as a pull query sees it now.
    let (_, bound) = session
        .check("select * from users;", &Default::default())
        .bound
        .remove(0);
    let ddsql_sql::binder::BoundStatement::Select { plan, .. } = bound else {
        panic!("a pull query")
    };
    let mut rows: Vec<String> = session
        .pull(&plan, None)
        .unwrap()
        .into_iter()
        .map(|r| format!("{:?}", &r[1..]))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            r#"[BigInt(2), String("bob"), String("gold")]"#,
            r#"[BigInt(3), String("cy"), String("silver")]"#
        ]
    );
}

#[test]
fn the_debezium_envelope_is_for_tables_with_declared_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::open(dir.path()).unwrap();
    let mut err = |sql: &str| match session.execute_script(sql) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted: {sql}"),
    };
    let stream = err("create stream s (id bigint key, v string) with (kafka_topic='t', value_format='JSON', envelope='debezium', partitions=1);");
    assert!(stream.contains("use CREATE TABLE"), "{stream}");
    let unknown = err("create table t (id bigint primary key, v string) with (kafka_topic='t', value_format='JSON', envelope='maxwell', partitions=1);");
    assert!(unknown.contains("unknown ENVELOPE 'maxwell'"), "{unknown}");
}

/// `SET 'ksql.persistence.default.format.value'` (and `.key`) give the
/// formats a CREATE names none of, and the catalog records the statement
/// with them: a restart without the property binds it the same.
#[test]
fn default_formats_come_from_set_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut session = Session::open_durable(dir.path()).unwrap();
        let missing = session
            .execute_script(
                "create stream s (id bigint key, v string) with (kafka_topic='s', partitions=1);",
            )
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("SET 'ksql.persistence.default.format.value'"),
            "{missing}"
        );
        session
            .execute_script(
                "SET 'ksql.persistence.default.format.value' = 'JSON';
                 SET 'ksql.persistence.default.format.key' = 'JSON';
                 create stream s (id bigint key, v string) with (kafka_topic='s', partitions=1);
                 create stream t as select id, v from s;",
            )
            .unwrap();
    }
    let session = Session::open_durable(dir.path()).unwrap();
    assert!(session.properties().is_empty());
    for name in ["S", "T"] {
        let source = session.catalog().source(name).unwrap();
        assert_eq!(
            (source.key_format.name(), source.value_format.name()),
            ("JSON", "JSON"),
            "{name}"
        );
    }
}

/// `WITH (TIMESTAMP='col')` on CREATE ... AS SELECT: the sink's records take
/// their timestamps from the column, whatever the input's; a result whose
/// column is NULL has no timestamp, so it goes to the processing log. In a
/// table-table join, `l.ROWTIME` is the left row's own time.
#[test]
fn a_sinks_timestamp_column_and_a_joins_left_rowtime() {
    let script = "
        create stream events (id bigint key, at bigint, name string)
          with (kafka_topic='events', key_format='JSON', value_format='JSON', partitions=1);
        create stream stamped with (kafka_topic='stamped', key_format='JSON', value_format='JSON', timestamp='AT') as
          select id, at, name from events;
        create table a (id bigint primary key, x string)
          with (kafka_topic='a', key_format='JSON', value_format='JSON', partitions=1);
        create table b (id bigint primary key, y string)
          with (kafka_topic='b', key_format='JSON', value_format='JSON', partitions=1);
        create table ab with (kafka_topic='ab', key_format='JSON', value_format='JSON') as
          select a.id, a.rowtime as a_time, b.rowtime as b_time, x, y from a join b on a.id = b.id;
        create table ba with (kafka_topic='ba', key_format='JSON', value_format='JSON') as
          select b.id, a.rowtime as a_time, b.rowtime as b_time, y from a right join b on a.id = b.id;
    ";
    for workers in [1, 2] {
        let (_dir, session) = session_with(script);
        let event =
            |id: i64, at: Json, ts| rec(json!(id), Some(json!({"AT": at, "NAME": "n"})), ts);
        session
            .log()
            .append(
                "events",
                0,
                &[
                    event(1, json!(5_000), 10),
                    event(2, json!(null), 20),
                    event(3, json!(7), 30),
                ],
            )
            .unwrap();
        session
            .log()
            .append("a", 0, &[rec(json!(1), Some(json!({"X": "x"})), 100)])
            .unwrap();
        session
            .log()
            .append(
                "b",
                0,
                &[
                    rec(json!(1), Some(json!({"Y": "y"})), 150),
                    rec(json!(2), Some(json!({"Y": "z"})), 160),
                ],
            )
            .unwrap();
        run_caught_up(&session, workers, 1);
        let stamped: Vec<(Json, i64)> = records(&session, "stamped")
            .into_iter()
            .map(|(k, _, t)| (k, t))
            .collect();
        assert_eq!(
            stamped,
            vec![(json!(1), 5_000), (json!(3), 7)],
            "{workers} worker(s)"
        );
        let log = records(&session, ddsql_engine::PROCESSING_LOG_TOPIC);
        assert_eq!(log.len(), 1, "{log:?}");
        assert!(
            common::logged_error(&log[0].1).contains("the TIMESTAMP column of the result is NULL"),
            "{log:?}"
        );
        assert_eq!(
            records(&session, "ab"),
            vec![(
                json!(1),
                json!({"A_TIME": 100, "B_TIME": 150, "X": "x", "Y": "y"}),
                150
            )],
            "{workers} worker(s)"
        );
        // A right row without a left one has no left ROWTIME.
        let mut ba = records(&session, "ba");
        ba.sort_by_key(|(k, _, t)| (k.to_string(), *t));
        assert_eq!(
            ba,
            vec![
                (
                    json!(1),
                    json!({"A_TIME": 100, "B_TIME": 150, "Y": "y"}),
                    150
                ),
                (
                    json!(2),
                    json!({"A_TIME": null, "B_TIME": 160, "Y": "z"}),
                    160
                ),
            ],
            "{workers} worker(s)"
        );
        assert_eq!(
            session
                .catalog()
                .source("STAMPED")
                .unwrap()
                .timestamp_column,
            Some(1),
            "readers of the sink take ROWTIME from AT too"
        );
    }
}

/// `WITH (TIMESTAMP='col', TIMESTAMP_FORMAT='pattern')`: a STRING column,
/// in a Java `DateTimeFormatter` pattern (UTC), is ROWTIME; a record whose
/// text does not match is logged and skipped, the rest go on. A CREATE ...
/// AS SELECT with the same properties stamps its sink's records from the
/// column.
#[test]
fn a_string_timestamp_column_is_read_through_timestamp_format() {
    let (_dir, session) = session_with(
        "create stream s (id bigint key, at string) with (kafka_topic='s', format='JSON',
           timestamp='at', timestamp_format='yyyy-MM-dd HH:mm:ss', partitions=1);
         create stream copy with (format='JSON') as select id, at, rowtime as rt from s;
         create stream restamped with (format='JSON', timestamp='later',
           timestamp_format='yyyy-MM-dd''T''HH:mm') as
           select id, '2021-01-02T00:00' as later from s;",
    );
    let r = |id: i64, at: &str| rec(json!(id), Some(json!({ "AT": at })), 5);
    session
        .log()
        .append(
            "s",
            0,
            &[
                r(1, "2021-01-01 00:00:01"),
                r(2, "yesterday"),
                r(3, "2021-01-01 00:00:03"),
            ],
        )
        .unwrap();
    let report = session.run_until_caught_up(&RunOptions::default()).unwrap();
    let base = 1_609_459_200_000; // 2021-01-01T00:00:00Z
    let stamps: Vec<(Json, Json, i64)> = common::records(&session, "COPY");
    assert_eq!(
        stamps,
        vec![
            (
                json!(1),
                json!({"AT": "2021-01-01 00:00:01", "RT": base + 1000}),
                base + 1000
            ),
            (
                json!(3),
                json!({"AT": "2021-01-01 00:00:03", "RT": base + 3000}),
                base + 3000
            ),
        ]
    );
    // Logged once by each of the two queries that read it.
    assert_eq!(report.processing_errors, 2);
    let later = base + 86_400_000;
    let restamped: Vec<i64> = common::records(&session, "RESTAMPED")
        .iter()
        .map(|(_, _, ts)| *ts)
        .collect();
    assert_eq!(restamped, vec![later, later]);
    // Refused with the reason: a format for a non-STRING column, or no TIMESTAMP.
    let (_dir, mut session) = session_with("");
    let e = session
        .execute_script(
            "create stream x (id bigint key, at bigint) with (kafka_topic='x', format='JSON',
               timestamp='at', timestamp_format='yyyy', partitions=1);",
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("STRING TIMESTAMP column"), "{e}");
    let e = session
        .execute_script(
            "create stream x (id bigint key, at string) with (kafka_topic='x', format='JSON',
               timestamp_format='yyyy', partitions=1);",
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("TIMESTAMP='col'"), "{e}");
}
