//! The scenarios: each is a ddsql script, a generator of random inputs for
//! its topics, and for each output an oracle query in PostgreSQL's SQL over
//! the same inputs.
//!
//! Oracle queries see one table per input topic with the columns the
//! scenario declares plus `seq` (the record's position in ddsql's logical
//! time order, from 1) and `rowtime` (its timestamp). A table source's
//! history is a log of upserts with a `deleted` flag for tombstones; the
//! `*_at(t)` functions give its contents as of time `t`, which is how a
//! temporal (stream-table) join reads in batch SQL: `JOIN LATERAL
//! users_at(c.seq)`.
//!
//! ksqlDB semantics the oracles spell out: aggregations and joins drop rows
//! whose key is NULL; SUM starts at 0 and skips NULLs; LATEST_BY_OFFSET and
//! EARLIEST_BY_OFFSET skip NULLs unless told not to; a group of an
//! aggregation over a table, once it has had a row, is never deleted: with
//! its rows gone it shows its initial values (a COUNT of 0), so the oracle
//! outer-joins the groups ever seen with the current rows.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

#[path = "../common/mod.rs"]
mod common;

/// One input record, in the order it is appended to its partition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Input {
    pub topic: String,
    pub partition: u32,
    pub timestamp: i64,
    pub key: Option<Json>,
    /// `None`: a tombstone.
    pub value: Option<Json>,
    /// Bytes written instead of `value`: a record ddsql must skip and log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malformed: Option<String>,
    /// The oracle's row for this record (its table's columns, without
    /// `seq` and `rowtime`); `None`: the oracle never sees it.
    pub row: Option<Json>,
    /// Written by executing this statement (an INSERT VALUES) instead of
    /// appending the record: through ddsql's own write path, as a user's
    /// backfill is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert: Option<String>,
}

/// An input topic and the oracle table that holds its records.
pub struct Topic {
    pub name: &'static str,
    pub partitions: u32,
    pub table: &'static str,
    /// The oracle table's columns, as in CREATE TABLE.
    pub columns: &'static str,
}

/// How an output's expected contents are asked of the oracle.
pub enum Oracle {
    /// A stream: `seq, columns...`, one row per record ddsql must write at
    /// time `seq`. Equal sets mean equal streams at every time.
    Stream(&'static str),
    /// A table's contents as of time `$1` (a bigint), asked at every time.
    TableAt(&'static str),
    /// A table as `seq, columns...`: the row of each key as it is after
    /// time `seq`, for the keys that time touches; for tables too large to
    /// ask at every time.
    TableChanges(&'static str),
}

pub struct Output {
    /// The catalog name of the stream or table ddsql writes.
    pub source: &'static str,
    pub oracle: Oracle,
    /// The topic whose records are this output's events, when queries
    /// write that topic and the harness wrote rows to it too: those rows
    /// keep their labels and a query's row is `DERIVED` plus its cause's
    /// (see `ddsql::DERIVED`); `None`: the events are the inputs.
    pub via: Option<&'static str>,
}

pub struct Scenario {
    pub name: &'static str,
    pub topics: &'static [Topic],
    /// The ddsql script, run before any input exists.
    pub sql: &'static str,
    /// Statements run once the inputs are written, before the queries run.
    pub sql_after: &'static str,
    /// PostgreSQL statements run after the inputs are loaded.
    pub oracle_setup: &'static str,
    pub outputs: &'static [Output],
    pub generate: fn(&mut Rng, usize) -> Vec<Input>,
    /// How many inputs to generate.
    pub size: usize,
    /// Whether its queries may also be created one by one while earlier
    /// ones run (see `RunConfig::staggered`): not when two queries write
    /// one topic, whose order is then the order in which they wrote.
    pub staggered: bool,
}

impl Scenario {
    pub fn table_of(&self, topic: &str) -> Option<&'static str> {
        self.topics
            .iter()
            .find(|t| t.name == topic)
            .map(|t| t.table)
    }
}

/// xorshift64*: small, seedable, and the same on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Record timestamps: mostly rising by up to `step - 1` ms, with ties (two
/// records in one millisecond), bursts (up to 40 records in one
/// millisecond) and late records up to two seconds back.
struct Clock {
    now: i64,
    step: u64,
    burst: u64,
}

impl Clock {
    fn new(step: u64) -> Clock {
        Clock {
            now: EPOCH,
            step,
            burst: 0,
        }
    }

    fn tick(&mut self, rng: &mut Rng) -> i64 {
        if self.burst > 0 {
            self.burst -= 1;
            return self.now;
        }
        if rng.chance(2) {
            self.burst = 10 + rng.below(30);
        }
        self.now += rng.below(self.step) as i64;
        let ts = self.now;
        if rng.chance(10) {
            ts - rng.below(2_000) as i64
        } else {
            ts
        }
    }
}

const EPOCH: i64 = 1_700_000_000_000;

/// Kafka keeps a key in one partition; any fixed rule will do here.
fn partition_of(key: &Option<Json>, partitions: u32) -> u32 {
    let text = key.as_ref().map(Json::to_string).unwrap_or_default();
    let h = text
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    h % partitions
}

fn record(
    topic: &Topic,
    timestamp: i64,
    key: Option<Json>,
    value: Option<Json>,
    row: Json,
) -> Input {
    Input {
        topic: topic.name.to_string(),
        partition: partition_of(&key, topic.partitions),
        timestamp,
        key,
        value,
        malformed: None,
        row: Some(row),
        insert: None,
    }
}

fn malformed(topic: &Topic, timestamp: i64, key: Option<Json>) -> Input {
    Input {
        topic: topic.name.to_string(),
        partition: partition_of(&key, topic.partitions),
        timestamp,
        key,
        value: None,
        malformed: Some("{\"PAGE\": tru".to_string()),
        row: None,
        insert: None,
    }
}

fn maybe<T: Into<Json>>(rng: &mut Rng, null_percent: u64, v: impl FnOnce(&mut Rng) -> T) -> Json {
    if rng.chance(null_percent) {
        Json::Null
    } else {
        v(rng).into()
    }
}

// ---------------------------------------------------------------------------
// Generic topics: clicks (a stream), users and accounts (tables), orders from
// two channels and shipments (streams).

const CLICKS: Topic = Topic {
    name: "clicks",
    partitions: 2,
    table: "clicks",
    columns: "user_id bigint, page text, amount bigint",
};
const USERS: Topic = Topic {
    name: "users",
    partitions: 2,
    table: "users",
    columns: "id bigint, city text, age int, deleted boolean",
};
const ACCOUNTS: Topic = Topic {
    name: "accounts",
    partitions: 1,
    table: "accounts",
    columns: "id bigint, balance bigint, deleted boolean",
};
const WEB: Topic = Topic {
    name: "orders_web",
    partitions: 2,
    table: "web",
    columns: "id bigint, amount bigint",
};
const APP: Topic = Topic {
    name: "orders_app",
    partitions: 1,
    table: "app",
    columns: "id bigint, amount bigint",
};
const SHIPMENTS: Topic = Topic {
    name: "shipments",
    partitions: 1,
    table: "shipments",
    columns: "id bigint, carrier text",
};

fn click(rng: &mut Rng, ts: i64) -> Input {
    if rng.chance(2) {
        return malformed(&CLICKS, ts, Some(json!(rng.below(16))));
    }
    let user = if rng.chance(3) {
        Json::Null
    } else {
        json!(rng.below(16))
    };
    let page = maybe(rng, 8, |rng| rng.pick(&["home", "cart", "pay", "help"]));
    let amount = maybe(rng, 20, |rng| rng.below(100));
    let key = (!user.is_null()).then(|| user.clone());
    record(
        &CLICKS,
        ts,
        key,
        Some(json!({"PAGE": page, "AMOUNT": amount})),
        json!({"user_id": user, "page": page, "amount": amount}),
    )
}

fn user(rng: &mut Rng, ts: i64) -> Input {
    let id = rng.below(16);
    if rng.chance(15) {
        return record(
            &USERS,
            ts,
            Some(json!(id)),
            None,
            json!({"id": id, "deleted": true}),
        );
    }
    let city = maybe(rng, 10, |rng| rng.pick(&["Seoul", "Busan", "Jeju"]));
    let age = maybe(rng, 10, |rng| 10 + rng.below(40));
    record(
        &USERS,
        ts,
        Some(json!(id)),
        Some(json!({"CITY": city, "AGE": age})),
        json!({"id": id, "city": city, "age": age, "deleted": false}),
    )
}

fn account(rng: &mut Rng, ts: i64) -> Input {
    let id = rng.below(16);
    if rng.chance(15) {
        return record(
            &ACCOUNTS,
            ts,
            Some(json!(id)),
            None,
            json!({"id": id, "deleted": true}),
        );
    }
    let balance = rng.below(1000);
    record(
        &ACCOUNTS,
        ts,
        Some(json!(id)),
        Some(json!({"BALANCE": balance})),
        json!({"id": id, "balance": balance, "deleted": false}),
    )
}

fn channel_order(topic: &Topic, rng: &mut Rng, ts: i64) -> Input {
    let id = rng.below(50);
    let amount = maybe(rng, 10, |rng| rng.below(500));
    record(
        topic,
        ts,
        Some(json!(id)),
        Some(json!({"AMOUNT": amount})),
        json!({"id": id, "amount": amount}),
    )
}

fn shipment(rng: &mut Rng, ts: i64) -> Input {
    let id = rng.below(50);
    let carrier = rng.pick(&["post", "courier"]);
    record(
        &SHIPMENTS,
        ts,
        Some(json!(id)),
        Some(json!({"CARRIER": carrier})),
        json!({"id": id, "carrier": carrier}),
    )
}

type Make = fn(&mut Rng, i64) -> Input;

/// `n` records, each from one of `makers` (picked with their weights).
fn mix(rng: &mut Rng, n: usize, makers: &[(u64, Make)]) -> Vec<Input> {
    mix_at(rng, n, 3, makers)
}

/// [`mix`] with timestamps rising by up to `step - 1` ms per record.
fn mix_at(rng: &mut Rng, n: usize, step: u64, makers: &[(u64, Make)]) -> Vec<Input> {
    let total: u64 = makers.iter().map(|(w, _)| w).sum();
    let mut clock = Clock::new(step);
    (0..n)
        .map(|_| {
            let ts = clock.tick(rng);
            let mut r = rng.below(total);
            let make = makers
                .iter()
                .find(|(w, _)| {
                    let hit = r < *w;
                    r = r.saturating_sub(*w);
                    hit
                })
                .expect("weights cover the range")
                .1;
            make(rng, ts)
        })
        .collect()
}

fn clicks_only(rng: &mut Rng, n: usize) -> Vec<Input> {
    mix(rng, n, &[(1, click)])
}
fn users_only(rng: &mut Rng, n: usize) -> Vec<Input> {
    mix(rng, n, &[(1, user)])
}
fn clicks_and_users(rng: &mut Rng, n: usize) -> Vec<Input> {
    mix(rng, n, &[(3, click), (2, user)])
}
fn clicks_users_and_accounts(rng: &mut Rng, n: usize) -> Vec<Input> {
    mix(rng, n, &[(3, click), (2, user), (1, account)])
}
fn users_and_accounts(rng: &mut Rng, n: usize) -> Vec<Input> {
    mix(rng, n, &[(1, user), (1, account)])
}
fn two_channels(rng: &mut Rng, n: usize) -> Vec<Input> {
    mix(
        rng,
        n,
        &[
            (2, |r, t| channel_order(&WEB, r, t)),
            (1, |r, t| channel_order(&APP, r, t)),
        ],
    )
}
/// Spread over seconds, so that WITHIN 1 SECOND leaves pairs out.
fn orders_and_shipments(rng: &mut Rng, n: usize) -> Vec<Input> {
    mix_at(
        rng,
        n,
        20,
        &[(1, |r, t| channel_order(&WEB, r, t)), (1, shipment)],
    )
}

/// A table source's contents as of a time `t`, in the oracle: each key's
/// latest record up to `t`, unless it is a tombstone.
macro_rules! table_at {
    ($name:literal) => {
        concat!(
            "CREATE FUNCTION ",
            $name,
            "_at(t bigint) RETURNS SETOF ",
            $name,
            " LANGUAGE sql STABLE AS $$ SELECT x.* FROM (SELECT DISTINCT ON (id) * FROM ",
            $name,
            " WHERE seq <= t ORDER BY id, seq DESC) x WHERE NOT x.deleted $$;\n"
        )
    };
}
const USERS_AT: &str = table_at!("users");
const USERS_AND_ACCOUNTS_AT: &str = concat!(table_at!("users"), table_at!("accounts"));

/// `closer(t)`: the first record (by `seq`) of a stream-stream join's
/// inputs whose ROWTIME passes `t`, the one whose arrival moves stream time
/// past it; NULL if none does.
const SS_ARRIVALS: &str = "CREATE FUNCTION closer(t bigint) RETURNS bigint LANGUAGE sql STABLE AS $$ \
     SELECT min(seq) FROM (SELECT seq, rowtime FROM web UNION ALL SELECT seq, rowtime FROM shipments) a \
     WHERE a.rowtime > t $$;\n";

const SMALL: usize = 300;

// ---------------------------------------------------------------------------
// The seed's pipelines.

const SUBMIT: Topic = Topic {
    name: "EVENT_MYSQL.EVENT.SUBMIT",
    partitions: 1,
    table: "submit",
    columns: "op text, user_id bigint, event_id bigint, created_at text",
};
const NAME: Topic = Topic {
    name: "EVENT_MYSQL.EVENT.NAME",
    partitions: 1,
    table: "names",
    columns: "op text, id bigint, name text",
};

/// Debezium MySQL change events: `(op, before, after)`.
fn debezium_ops(rng: &mut Rng, row: Json) -> (&'static str, Json, Json) {
    match rng.below(10) {
        0 => ("d", row, Json::Null),
        1 | 2 => ("u", row.clone(), row),
        3 => ("r", Json::Null, row),
        _ => ("c", Json::Null, row),
    }
}

fn event_join_inputs(rng: &mut Rng, n: usize) -> Vec<Input> {
    let submit: Make = |rng, ts| {
        let after = json!({
            "user_id": maybe(rng, 5, |rng| rng.below(30)),
            "event_id": maybe(rng, 5, |rng| rng.below(8)),
            "created_at": format!("2024-03-{:02}", 1 + rng.below(28)),
        });
        let (op, before, after) = debezium_ops(rng, after);
        let flat = if after.is_null() { &before } else { &after };
        let row = json!({
            "op": op,
            "user_id": if after.is_null() { Json::Null } else { flat["user_id"].clone() },
            "event_id": if after.is_null() { Json::Null } else { flat["event_id"].clone() },
            "created_at": if after.is_null() { Json::Null } else { flat["created_at"].clone() },
        });
        record(
            &SUBMIT,
            ts,
            Some(json!({"id": rng.below(1000)})),
            Some(
                json!({"before": before, "after": after, "source": {"version": "2.5", "ts_ms": ts}, "op": op, "ts_ms": ts}),
            ),
            row,
        )
    };
    let name: Make = |rng, ts| {
        let after = json!({"id": maybe(rng, 5, |rng| rng.below(8)), "name": maybe(rng, 10, |rng| format!("event-{}", rng.below(100)))});
        let (op, before, after) = debezium_ops(rng, after);
        let row = if after.is_null() {
            json!({"op": op, "id": null, "name": null})
        } else {
            json!({"op": op, "id": after["id"], "name": after["name"]})
        };
        record(
            &NAME,
            ts,
            Some(json!({"id": rng.below(8)})),
            Some(json!({"before": before, "after": after, "op": op, "ts_ms": ts})),
            row,
        )
    };
    mix(rng, n, &[(3, submit), (1, name)])
}

const ORDER: Topic = Topic {
    name: "TRADE_MYSQL.TRADE.ORDER",
    partitions: 1,
    table: "orders",
    columns: "op text, order_id bigint, user_id bigint",
};
const CANDIDATE: Topic = Topic {
    name: "STREAM.ORDER.CANDIDATE",
    partitions: 1,
    table: "backfill",
    columns: "user_id bigint, order_id bigint",
};

/// The seed's first-order backlog: warehouse backfill rows (historical
/// orders, written straight to the candidate topic) interleaved with live
/// Debezium order events for the same users, updates, deletes and orders
/// without a user among them.
fn first_order_inputs(rng: &mut Rng, n: usize) -> Vec<Input> {
    let users = (n as u64 / 8).max(4);
    let mut clock = Clock::new(3);
    let mut next_order = 1_000_000u64;
    (0..n)
        .map(|_| {
            let ts = clock.tick(rng);
            let user = rng.below(users);
            if rng.chance(25) {
                // Historical ids are mostly below live ones, not always.
                let order = rng.below(next_order);
                return record(
                    &CANDIDATE,
                    ts,
                    Some(json!(user)),
                    Some(json!({"ORDER_ID": order})),
                    json!({"user_id": user, "order_id": order}),
                );
            }
            order_event(rng, ts, &mut next_order, user)
        })
        .collect()
}

/// A Debezium change event of the order topic for `user` (or, now and
/// then, for no user); mostly a new order id, now and then an id from the
/// past (so first orders change).
fn order_event(rng: &mut Rng, ts: i64, next_order: &mut u64, user: u64) -> Input {
    *next_order += 1 + rng.below(3);
    let order = if rng.chance(5) {
        rng.below(*next_order)
    } else {
        *next_order
    };
    let user = maybe(rng, 2, |_| user);
    let (op, before, after) = debezium_ops(rng, json!({"order_id": order, "user_id": user}));
    let flat = if after.is_null() {
        json!({"order_id": null, "user_id": null})
    } else {
        after.clone()
    };
    record(
        &ORDER,
        ts,
        Some(json!({"order_id": order})),
        Some(json!({"before": before, "after": after, "op": op, "ts_ms": ts})),
        json!({"op": op, "order_id": flat["order_id"], "user_id": flat["user_id"]}),
    )
}

/// The candidate topic as a user reads it: in offset order, which is the
/// backfill rows it held before the INSERT INTO ... SELECT wrote to it,
/// then what that query derives from the order events, in their order.
/// (Labels: a backfill row's `seq`; a derived row's `DERIVED` + the order
/// event's `seq`.)
const FIRST_ORDER_ORACLE_SETUP: &str = "
CREATE TABLE cand AS
  SELECT seq, user_id, order_id FROM backfill WHERE user_id IS NOT NULL
  UNION ALL
  SELECT (1::bigint << 32) + seq, user_id, order_id FROM orders
  WHERE op = 'c' AND user_id IS NOT NULL AND order_id IS NOT NULL;
CREATE INDEX ON cand (user_id, seq);
-- tb_min_order as of each candidate's own time, inclusive: a running min.
CREATE TABLE running AS
  SELECT seq, user_id, order_id,
         min(order_id) OVER (PARTITION BY user_id ORDER BY seq) AS min_order_id
  FROM cand;";

const FIRST_ORDER_OUTPUTS: &[Output] = &[
    Output {
        source: "tb_min_order",
        via: Some(CANDIDATE.name),
        oracle: Oracle::TableChanges("SELECT seq, user_id, min_order_id FROM running"),
    },
    Output {
        source: "stm_min_order",
        via: Some(CANDIDATE.name),
        // The LEFT JOIN's `t.user_id IS NULL` never holds: the table as of
        // the candidate's time already has the candidate's user.
        oracle: Oracle::Stream(
            "SELECT seq, user_id, true AS min_order FROM running WHERE min_order_id = order_id",
        ),
    },
];

const OPTION: Topic = Topic {
    name: "SETTING_MONGO.SETTING.OPTION",
    partitions: 1,
    table: "options",
    columns: "op text, after text, source_ts_ms bigint",
};

/// MongoDB Debezium events: `after` is a JSON document in a string.
fn toggle_inputs(rng: &mut Rng, n: usize) -> Vec<Input> {
    mix(
        rng,
        n,
        &[(1, |rng, ts| {
            let op = rng.pick(&["c", "u", "u", "u", "d", "r"]);
            let after = if op == "d" || rng.chance(3) {
                Json::Null
            } else {
                let toggle = if rng.chance(5) {
                    Json::Null
                } else {
                    json!(rng.chance(50))
                };
                json!(json!({"_id": {"$oid": "x"}, "user_id": format!("u-{:04}", rng.below(12)), "toggle": toggle}).to_string())
            };
            record(
                &OPTION,
                ts,
                Some(json!({"id": rng.below(12)})),
                Some(json!({"after": after, "op": op, "source": {"ts_ms": ts}})),
                json!({"op": op, "after": after, "source_ts_ms": ts}),
            )
        })],
    )
}

/// The seed's verbatim flow: the warehouse minima inserted first, one
/// INSERT VALUES each and without ROWTIME (so stamped now), then the CDC
/// backlog, three days of binlog older than the backfill, to be read by an
/// INSERT INTO ... SELECT created after the backfill.
fn first_order_verbatim_inputs(rng: &mut Rng, n: usize) -> Vec<Input> {
    let users = (n as u64 / 10).max(4);
    let mut inputs = Vec::new();
    for user in 0..users {
        if rng.chance(50) {
            // Historical ids are mostly below live ones, not always.
            let order = rng.below(1_200_000);
            inputs.push(Input {
                topic: CANDIDATE.name.to_string(),
                partition: 0,
                timestamp: 0,
                key: None,
                value: None,
                malformed: None,
                row: Some(json!({"user_id": user, "order_id": order})),
                insert: Some(format!(
                    "insert into `stm_order_candidate` (user_id, order_id) values ({user}, {order});"
                )),
            });
        }
    }
    let backlog = n.saturating_sub(inputs.len());
    let mut clock = Clock::new(3);
    let mut next_order = 1_000_000u64;
    for _ in 0..backlog {
        let ts = clock.tick(rng);
        let user = rng.below(users);
        inputs.push(order_event(rng, ts, &mut next_order, user));
    }
    inputs
}

const LEDGER: Topic = Topic {
    name: "ledger",
    partitions: 1,
    table: "manual",
    columns: "id bigint, amount bigint, channel text",
};

/// Orders of two channels, and rows inserted straight into the ledger both
/// channels' queries write, before they run.
fn ledger_inputs(rng: &mut Rng, n: usize) -> Vec<Input> {
    let mut inputs = two_channels(rng, n);
    for i in 0..(n / 5).max(3) {
        let (id, amount) = (rng.below(40), rng.below(1000));
        let channel = if i % 3 == 0 { "web" } else { "manual" };
        inputs.insert(
            rng.below(inputs.len() as u64 + 1) as usize,
            Input {
                topic: LEDGER.name.to_string(),
                partition: 0,
                timestamp: 0,
                key: None,
                value: None,
                malformed: None,
                row: Some(json!({"id": id, "amount": amount, "channel": channel})),
                insert: Some(format!(
                    "insert into ledger (id, amount, channel) values ({id}, {amount}, '{channel}');"
                )),
            },
        );
    }
    inputs
}

const FEED: Topic = Topic {
    name: "price_feed",
    partitions: 1,
    table: "feed",
    columns: "id bigint, price bigint, deleted boolean",
};
const PRICES: Topic = Topic {
    name: "prices",
    partitions: 1,
    table: "backfilled",
    columns: "id bigint, price bigint, deleted boolean",
};

/// A price table's topic holds backfilled prices, stamped later than the
/// feed a query copies into it; tombstones on both sides.
fn prices_inputs(rng: &mut Rng, n: usize) -> Vec<Input> {
    let mut clock = Clock::new(3);
    (0..n)
        .map(|_| {
            let ts = clock.tick(rng);
            let id = rng.below(30);
            let backfill = rng.chance(30);
            let (topic, ts) = if backfill {
                (&PRICES, ts + 3 * 86_400_000)
            } else {
                (&FEED, ts)
            };
            let value = (!rng.chance(8)).then(|| json!({"PRICE": maybe(rng, 5, |r| r.below(500))}));
            let row = match &value {
                Some(v) => json!({"id": id, "price": v["PRICE"], "deleted": false}),
                None => json!({"id": id, "price": null, "deleted": true}),
            };
            record(topic, ts, Some(json!(id)), value, row)
        })
        .collect()
}

pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "stream_count",
            topics: &[CLICKS],
            sql: scripts::CLICKS_COUNT,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "PAGE_COUNTS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT page, count(*) AS n, count(amount) AS with_amount FROM clicks \
                     WHERE seq <= $1::bigint AND page IS NOT NULL GROUP BY page",
                ),
            }],
            generate: clicks_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_sum_min_max",
            topics: &[CLICKS],
            sql: scripts::CLICKS_SUM_MIN_MAX,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "USER_AMOUNTS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT user_id, coalesce(sum(amount), 0) AS total, min(amount) AS lo, max(amount) AS hi \
                     FROM clicks WHERE seq <= $1::bigint AND user_id IS NOT NULL GROUP BY user_id",
                ),
            }],
            generate: clicks_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_latest_earliest",
            topics: &[CLICKS],
            sql: scripts::CLICKS_LATEST,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "USER_PAGES",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT user_id, \
                       (array_agg(page ORDER BY seq DESC) FILTER (WHERE page IS NOT NULL))[1] AS last_page, \
                       (array_agg(page ORDER BY seq) FILTER (WHERE page IS NOT NULL))[1] AS first_page, \
                       (array_agg(amount ORDER BY seq DESC))[1] AS last_amount \
                     FROM clicks WHERE seq <= $1::bigint AND user_id IS NOT NULL GROUP BY user_id",
                ),
            }],
            generate: clicks_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_avg",
            topics: &[CLICKS],
            sql: scripts::CLICKS_AVG,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "PAGE_MEANS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT page, avg(amount)::float8 AS mean FROM clicks \
                     WHERE seq <= $1::bigint AND amount IS NOT NULL AND page IS NOT NULL GROUP BY page",
                ),
            }],
            generate: clicks_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_two_key_group_having",
            topics: &[CLICKS],
            sql: scripts::CLICKS_TWO_KEYS,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "REPEAT_VISITS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT user_id, page, count(*) AS n FROM clicks \
                     WHERE seq <= $1::bigint AND user_id IS NOT NULL AND page IS NOT NULL \
                     GROUP BY user_id, page HAVING count(*) > 1",
                ),
            }],
            generate: clicks_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "tumbling_window",
            topics: &[CLICKS],
            sql: scripts::CLICKS_TUMBLING,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "PAGE_WINDOWS",
                via: None,
                // Windows follow ROWTIME, the record's own timestamp; the
                // default grace (a day) admits every late record here.
                oracle: Oracle::TableAt(
                    "SELECT page, rowtime / 50 * 50 AS windowstart, count(*) AS n, \
                       coalesce(sum(amount), 0) AS total \
                     FROM clicks WHERE seq <= $1::bigint AND page IS NOT NULL \
                     GROUP BY page, rowtime / 50",
                ),
            }],
            generate: clicks_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "hopping_window_grace",
            topics: &[CLICKS],
            sql: scripts::CLICKS_HOPPING,
            sql_after: "",
            // A record joins each window that holds its ROWTIME and is not
            // yet closed: closed once stream time (the greatest ROWTIME
            // so far) reaches the window's end plus the grace.
            oracle_setup: "
CREATE TABLE hops AS
  SELECT c.seq, c.page, c.amount, w AS windowstart
  FROM (SELECT *, max(rowtime) OVER (ORDER BY seq) AS stream_time FROM clicks) c,
       generate_series(c.rowtime / 50 * 50 - 50, c.rowtime / 50 * 50, 50) w
  WHERE w <= c.rowtime AND c.rowtime < w + 100 AND w + 100 + 300 > c.stream_time;",
            outputs: &[Output {
                source: "PAGE_HOPS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT page, windowstart, count(*) AS n, coalesce(sum(amount), 0) AS total \
                     FROM hops WHERE seq <= $1::bigint AND page IS NOT NULL GROUP BY page, windowstart",
                ),
            }],
            generate: clicks_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_filter_nulls",
            topics: &[CLICKS],
            sql: scripts::CLICKS_FILTER,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "BIG_OR_UNKNOWN",
                via: None,
                oracle: Oracle::Stream(
                    "SELECT seq, user_id, page, amount FROM clicks WHERE amount > 50 OR page IS NULL",
                ),
            }],
            generate: clicks_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_expressions",
            topics: &[CLICKS],
            sql: scripts::CLICKS_PROJECT,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "SHAPED",
                via: None,
                // A comparison (and so BETWEEN and IN) with NULL is FALSE
                // in ksqlDB, NULL in PostgreSQL.
                oracle: Oracle::Stream(
                    "SELECT seq, user_id, \
                       CASE WHEN amount IS NULL THEN 'none' WHEN amount < 10 THEN 'small' ELSE 'large' END AS size, \
                       coalesce(amount, -1) * 2 + 1 AS x, upper(page) AS up, length(page) AS l, \
                       coalesce(amount BETWEEN 20 AND 40, false) AS mid, \
                       coalesce(page IN ('home', 'cart'), false) AS shop \
                     FROM clicks",
                ),
            }],
            generate: clicks_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "partition_by",
            topics: &[CLICKS],
            sql: scripts::CLICKS_PARTITION,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "CLICKS_BY_PAGE",
                via: None,
                oracle: Oracle::Stream("SELECT seq, page, user_id, amount FROM clicks"),
            }],
            generate: clicks_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "insert_into_from_two_queries",
            topics: &[WEB, APP],
            sql: scripts::UNION,
            sql_after: "",
            oracle_setup: "CREATE VIEW all_orders AS \
                SELECT seq, id, amount, 'web' AS channel FROM web \
                UNION ALL SELECT seq, id, amount, 'app' AS channel FROM app",
            outputs: &[
                Output {
                    source: "ALL_ORDERS",
                    via: None,
                    oracle: Oracle::Stream("SELECT seq, id, amount, channel FROM all_orders"),
                },
                Output {
                    source: "TOTALS",
                    via: None,
                    oracle: Oracle::TableAt(
                        "SELECT channel, coalesce(sum(amount), 0) AS total, count(*) AS n \
                         FROM all_orders WHERE seq <= $1::bigint GROUP BY channel",
                    ),
                },
            ],
            generate: two_channels,
            size: SMALL,
            staggered: false,
        },
        Scenario {
            name: "table_aggregate_regroup",
            topics: &[USERS],
            sql: scripts::USERS_PER_CITY,
            sql_after: "",
            oracle_setup: USERS_AT,
            outputs: &[Output {
                source: "PER_CITY",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT s.city, count(u.id) AS n, coalesce(sum(u.age), 0) AS total_age, \
                       min(u.age) AS youngest, max(u.age) AS oldest \
                     FROM (SELECT DISTINCT city FROM users \
                           WHERE seq <= $1::bigint AND NOT deleted AND city IS NOT NULL) s \
                     LEFT JOIN users_at($1::bigint) u ON u.city = s.city GROUP BY s.city",
                ),
            }],
            generate: users_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "table_filter_project",
            topics: &[USERS],
            sql: scripts::USERS_ADULTS,
            sql_after: "",
            oracle_setup: USERS_AT,
            outputs: &[Output {
                source: "ADULTS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT id, city, age * 2 AS double_age FROM users_at($1::bigint) WHERE age >= 18",
                ),
            }],
            generate: users_only,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_table_inner_join",
            topics: &[CLICKS, USERS],
            sql: scripts::ENRICH_INNER,
            sql_after: "",
            oracle_setup: USERS_AT,
            outputs: &[Output {
                source: "ENRICHED",
                via: None,
                oracle: Oracle::Stream(
                    "SELECT c.seq, c.user_id, c.page, u.city FROM clicks c \
                     JOIN LATERAL users_at(c.seq) u ON u.id = c.user_id",
                ),
            }],
            generate: clicks_and_users,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_table_left_join",
            topics: &[CLICKS, USERS],
            sql: scripts::ENRICH_LEFT,
            sql_after: "",
            oracle_setup: USERS_AT,
            outputs: &[Output {
                source: "ENRICHED",
                via: None,
                oracle: Oracle::Stream(
                    "SELECT c.seq, c.user_id, c.page, u.city, u.age FROM clicks c \
                     LEFT JOIN LATERAL (SELECT * FROM users_at(c.seq) WHERE id = c.user_id) u ON true \
                     WHERE c.user_id IS NOT NULL",
                ),
            }],
            generate: clicks_and_users,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_table_table_join",
            topics: &[CLICKS, USERS, ACCOUNTS],
            sql: scripts::ENRICH_TWO_TABLES,
            sql_after: "",
            oracle_setup: USERS_AND_ACCOUNTS_AT,
            outputs: &[Output {
                source: "ENRICHED",
                via: None,
                // Each step reads its table as of the click's time.
                oracle: Oracle::Stream(
                    "SELECT c.seq, c.user_id, c.page, u.city, a.balance FROM clicks c \
                     JOIN LATERAL users_at(c.seq) u ON u.id = c.user_id \
                     JOIN LATERAL accounts_at(c.seq) a ON a.id = c.user_id",
                ),
            }],
            generate: clicks_users_and_accounts,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_table_table_left_join_rekeyed",
            topics: &[CLICKS, USERS, ACCOUNTS],
            sql: scripts::ENRICH_TWO_TABLES_REKEYED,
            sql_after: "",
            oracle_setup: USERS_AND_ACCOUNTS_AT,
            outputs: &[Output {
                source: "ENRICHED",
                via: None,
                // A click with a NULL key for a step is dropped at that
                // step, LEFT or not, as ksqlDB drops it.
                oracle: Oracle::Stream(
                    "SELECT c.seq, c.amount, c.user_id, u.city, a.balance FROM clicks c \
                     LEFT JOIN LATERAL (SELECT * FROM users_at(c.seq) WHERE id = c.user_id) u ON true \
                     LEFT JOIN LATERAL (SELECT * FROM accounts_at(c.seq) WHERE id = c.amount) a ON true \
                     WHERE c.user_id IS NOT NULL AND c.amount IS NOT NULL",
                ),
            }],
            generate: clicks_users_and_accounts,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_table_join_then_aggregate",
            topics: &[CLICKS, USERS],
            sql: scripts::CITY_CLICKS,
            sql_after: "",
            oracle_setup: scripts::CITY_CLICKS_SETUP,
            outputs: &[Output {
                source: "CITY_CLICKS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT city, count(*) AS n FROM joined WHERE seq <= $1::bigint AND city IS NOT NULL GROUP BY city",
                ),
            }],
            generate: clicks_and_users,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "table_table_inner_join",
            topics: &[USERS, ACCOUNTS],
            sql: scripts::TT_INNER,
            sql_after: "",
            oracle_setup: USERS_AND_ACCOUNTS_AT,
            outputs: &[Output {
                source: "USER_ACCOUNTS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT u.id, u.city, a.balance FROM users_at($1::bigint) u \
                     JOIN accounts_at($1::bigint) a ON u.id = a.id",
                ),
            }],
            generate: users_and_accounts,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "foreign_key_table_join",
            topics: &[USERS, ACCOUNTS],
            sql: scripts::FK_INNER,
            sql_after: "",
            oracle_setup: USERS_AND_ACCOUNTS_AT,
            outputs: &[Output {
                source: "ACCOUNT_USERS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT a.id, a.balance, u.city FROM accounts_at($1::bigint) a \
                     JOIN users_at($1::bigint) u ON u.id = a.balance % 16",
                ),
            }],
            generate: users_and_accounts,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "foreign_key_table_left_join",
            topics: &[USERS, ACCOUNTS],
            sql: scripts::FK_LEFT,
            sql_after: "",
            oracle_setup: USERS_AND_ACCOUNTS_AT,
            outputs: &[Output {
                source: "ACCOUNT_USERS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT a.id, a.balance, u.city, u.age FROM accounts_at($1::bigint) a \
                     LEFT JOIN users_at($1::bigint) u ON u.id = a.balance % 16",
                ),
            }],
            generate: users_and_accounts,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "table_table_left_join",
            topics: &[USERS, ACCOUNTS],
            sql: scripts::TT_LEFT,
            sql_after: "",
            oracle_setup: USERS_AND_ACCOUNTS_AT,
            outputs: &[Output {
                source: "USER_ACCOUNTS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT u.id, u.city, a.balance FROM users_at($1::bigint) u \
                     LEFT JOIN accounts_at($1::bigint) a ON u.id = a.id",
                ),
            }],
            generate: users_and_accounts,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "table_table_right_join",
            topics: &[USERS, ACCOUNTS],
            sql: scripts::TT_RIGHT,
            sql_after: "",
            oracle_setup: USERS_AND_ACCOUNTS_AT,
            outputs: &[Output {
                source: "ACCOUNT_USERS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT a.id, u.city, a.balance FROM users_at($1::bigint) u \
                     RIGHT JOIN accounts_at($1::bigint) a ON u.id = a.id",
                ),
            }],
            generate: users_and_accounts,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_stream_join_within",
            topics: &[WEB, SHIPMENTS],
            sql: scripts::SS_JOIN,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "SHIPPED",
                via: None,
                // Emitted when the later of the two records arrives.
                oracle: Oracle::Stream(
                    "SELECT greatest(o.seq, s.seq) AS seq, o.id, o.amount, s.carrier \
                     FROM web o JOIN shipments s ON o.id = s.id AND abs(o.rowtime - s.rowtime) <= 1000",
                ),
            }],
            generate: orders_and_shipments,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_stream_left_join",
            topics: &[WEB, SHIPMENTS],
            sql: scripts::SS_LEFT,
            sql_after: "",
            oracle_setup: SS_ARRIVALS,
            outputs: &[Output {
                source: "SHIPPED",
                via: None,
                // An order no shipment matched comes out when the first
                // record past its window (300 ms) and grace (100 ms) arrives.
                oracle: Oracle::Stream(
                    "WITH pairs AS (SELECT o.seq AS lseq, s.seq AS rseq, o.id, o.amount, s.carrier \
                       FROM web o JOIN shipments s ON o.id = s.id AND abs(o.rowtime - s.rowtime) <= 300), \
                     lefts AS (SELECT o.*, greatest(o.seq, closer(o.rowtime + 400)) AS at FROM web o) \
                     SELECT greatest(lseq, rseq) AS seq, id, amount, carrier FROM pairs \
                     UNION ALL SELECT at, id, amount, NULL::text FROM lefts l \
                     WHERE closer(l.rowtime + 400) IS NOT NULL AND NOT EXISTS \
                       (SELECT 1 FROM pairs p WHERE p.lseq = l.seq AND greatest(p.lseq, p.rseq) <= l.at)",
                ),
            }],
            generate: orders_and_shipments,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_stream_left_join_eager",
            topics: &[WEB, SHIPMENTS],
            sql: scripts::SS_LEFT_EAGER,
            sql_after: "",
            oracle_setup: "",
            outputs: &[Output {
                source: "SHIPPED",
                via: None,
                // No GRACE PERIOD: every pair when its later record
                // arrives, and an order no shipment before it matched at
                // once ("emitted eagerly", the join page says).
                oracle: Oracle::Stream(
                    "SELECT greatest(o.seq, s.seq) AS seq, o.id, o.amount, s.carrier \
                       FROM web o JOIN shipments s ON o.id = s.id AND abs(o.rowtime - s.rowtime) <= 300 \
                     UNION ALL SELECT o.seq, o.id, o.amount, NULL::text FROM web o \
                     WHERE o.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.id = o.id \
                       AND s.seq < o.seq AND abs(o.rowtime - s.rowtime) <= 300)",
                ),
            }],
            generate: orders_and_shipments,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "stream_stream_full_join",
            topics: &[WEB, SHIPMENTS],
            sql: scripts::SS_FULL,
            sql_after: "",
            oracle_setup: SS_ARRIVALS,
            outputs: &[Output {
                source: "SHIPPED",
                via: None,
                // A shipment pairs with orders from 300 ms before it to
                // 100 ms after; grace 50 ms. Unmatched orders close 350 ms
                // after their ROWTIME, unmatched shipments 150 ms after.
                oracle: Oracle::Stream(
                    "WITH pairs AS (SELECT o.seq AS lseq, s.seq AS rseq, o.id, o.amount, s.carrier \
                       FROM web o JOIN shipments s ON o.id = s.id \
                       AND s.rowtime BETWEEN o.rowtime - 100 AND o.rowtime + 300), \
                     lefts AS (SELECT o.*, greatest(o.seq, closer(o.rowtime + 350)) AS at, \
                       closer(o.rowtime + 350) IS NOT NULL AS closed FROM web o), \
                     rights AS (SELECT s.*, greatest(s.seq, closer(s.rowtime + 150)) AS at, \
                       closer(s.rowtime + 150) IS NOT NULL AS closed FROM shipments s) \
                     SELECT greatest(lseq, rseq) AS seq, id, amount, carrier FROM pairs \
                     UNION ALL SELECT at, id, amount, NULL::text FROM lefts l WHERE closed AND NOT EXISTS \
                       (SELECT 1 FROM pairs p WHERE p.lseq = l.seq AND greatest(p.lseq, p.rseq) <= l.at) \
                     UNION ALL SELECT at, id, NULL::bigint, carrier FROM rights r WHERE closed AND NOT EXISTS \
                       (SELECT 1 FROM pairs p WHERE p.rseq = r.seq AND greatest(p.lseq, p.rseq) <= r.at)",
                ),
            }],
            generate: orders_and_shipments,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "table_table_full_join",
            topics: &[USERS, ACCOUNTS],
            sql: scripts::TT_FULL,
            sql_after: "",
            oracle_setup: USERS_AND_ACCOUNTS_AT,
            outputs: &[Output {
                source: "USER_ACCOUNTS",
                via: None,
                oracle: Oracle::TableAt(
                    "SELECT coalesce(u.id, a.id) AS id, u.city, a.balance FROM users_at($1::bigint) u \
                     FULL JOIN accounts_at($1::bigint) a ON u.id = a.id",
                ),
            }],
            generate: users_and_accounts,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "seed_event_join",
            topics: &[SUBMIT, NAME],
            sql: common::EVENT_JOIN,
            sql_after: "",
            oracle_setup: "",
            outputs: &[
                Output {
                    source: "tb_event_name",
                    via: None,
                    oracle: Oracle::TableAt(
                        "SELECT id AS event_id, \
                           (array_agg(name ORDER BY seq DESC) FILTER (WHERE name IS NOT NULL))[1] AS name \
                         FROM names WHERE seq <= $1::bigint AND id IS NOT NULL GROUP BY id",
                    ),
                },
                Output {
                    source: "stm_event_name_join",
                    via: None,
                    oracle: Oracle::Stream(
                        "SELECT s.seq, s.user_id, e.name AS event_name, s.created_at AS event_time \
                         FROM submit s JOIN LATERAL ( \
                           SELECT (array_agg(n.name ORDER BY n.seq DESC) FILTER (WHERE n.name IS NOT NULL))[1] AS name \
                           FROM names n WHERE n.id = s.event_id AND n.seq <= s.seq HAVING count(*) > 0) e ON true \
                         WHERE s.op IN ('r', 'c') AND s.event_id IS NOT NULL",
                    ),
                },
            ],
            generate: event_join_inputs,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "seed_first_order",
            topics: &[ORDER, CANDIDATE],
            sql: common::FIRST_ORDER,
            sql_after: "",
            oracle_setup: FIRST_ORDER_ORACLE_SETUP,
            outputs: FIRST_ORDER_OUTPUTS,
            generate: first_order_inputs,
            size: 120_000,
            staggered: true,
        },
        Scenario {
            name: "seed_first_order_verbatim",
            topics: &[ORDER, CANDIDATE],
            sql: scripts::FIRST_ORDER_DECLARE,
            sql_after: concat!(scripts::first_order_feed!(), scripts::first_order_join!()),
            oracle_setup: FIRST_ORDER_ORACLE_SETUP,
            outputs: FIRST_ORDER_OUTPUTS,
            generate: first_order_verbatim_inputs,
            size: 100_000,
            staggered: true,
        },
        Scenario {
            // The join created before the feed, as ksqlDB also allows.
            name: "seed_first_order_verbatim_join_first",
            topics: &[ORDER, CANDIDATE],
            sql: scripts::FIRST_ORDER_DECLARE,
            sql_after: concat!(scripts::first_order_join!(), scripts::first_order_feed!()),
            oracle_setup: FIRST_ORDER_ORACLE_SETUP,
            outputs: FIRST_ORDER_OUTPUTS,
            generate: first_order_verbatim_inputs,
            size: 100_000,
            staggered: true,
        },
        Scenario {
            name: "stream_fed_by_inserts_and_two_queries",
            topics: &[WEB, APP, LEDGER],
            sql: scripts::LEDGER,
            sql_after: "",
            oracle_setup: "CREATE TABLE ledger_log AS \
                SELECT seq, id, amount, channel FROM manual \
                UNION ALL SELECT (1::bigint << 32) + seq, id, amount, 'web' FROM web \
                UNION ALL SELECT (1::bigint << 32) + seq, id, amount, 'app' FROM app",
            outputs: &[
                Output {
                    source: "LEDGER",
                    via: Some(LEDGER.name),
                    oracle: Oracle::Stream("SELECT seq, id, amount, channel FROM ledger_log"),
                },
                Output {
                    source: "LEDGER_TOTALS",
                    via: Some(LEDGER.name),
                    oracle: Oracle::TableChanges(
                        "SELECT seq, channel, coalesce(sum(amount) OVER w, 0) AS total, \
                         count(*) OVER w AS n FROM ledger_log \
                         WINDOW w AS (PARTITION BY channel ORDER BY seq)",
                    ),
                },
            ],
            generate: ledger_inputs,
            size: SMALL,
            staggered: false,
        },
        Scenario {
            name: "table_over_backfill_and_query_output",
            topics: &[FEED, PRICES],
            sql: scripts::PRICES,
            sql_after: "",
            oracle_setup: "CREATE TABLE price_log AS \
                SELECT seq, id, price, deleted FROM backfilled \
                UNION ALL SELECT (1::bigint << 32) + seq, id, price, deleted FROM feed; \
                CREATE FUNCTION prices_at(t bigint) RETURNS SETOF price_log LANGUAGE sql STABLE AS \
                $$ SELECT x.* FROM (SELECT DISTINCT ON (id) * FROM price_log WHERE seq <= t \
                ORDER BY id, seq DESC) x WHERE NOT x.deleted $$;",
            outputs: &[Output {
                source: "DOUBLED",
                via: Some(PRICES.name),
                oracle: Oracle::TableAt(
                    "SELECT id, price * 2 AS double_price FROM prices_at($1::bigint)",
                ),
            }],
            generate: prices_inputs,
            size: SMALL,
            staggered: true,
        },
        Scenario {
            name: "seed_toggle",
            topics: &[OPTION],
            sql: common::TOGGLE,
            sql_after: "",
            oracle_setup: "
CREATE TABLE cand AS
  SELECT seq, CAST(regexp_replace(after::json->>'user_id', '[^0-9]', '', 'g') AS bigint) AS user_id,
         CAST(after::json->>'toggle' AS boolean) AS toggle
  FROM options
  WHERE after IS NOT NULL AND (op = 'u' OR op = 'c') AND after::json->>'toggle' IS NOT NULL;
CREATE TABLE latest_two AS
  SELECT seq, user_id, toggle,
         lag(toggle) OVER w AS prev, row_number() OVER w AS n
  FROM cand WINDOW w AS (PARTITION BY user_id ORDER BY seq);",
            outputs: &[
                Output {
                    source: "tb_toggle_changes",
                    via: None,
                    // latest_by_offset(toggle, 2): [1] the older, [2] the newer.
                    oracle: Oracle::TableChanges(
                        "SELECT seq, user_id, \
                           CASE WHEN n = 1 THEN toggle ELSE prev END AS before_toggle, \
                           CASE WHEN n = 1 THEN NULL ELSE toggle END AS after_toggle \
                         FROM latest_two",
                    ),
                },
                Output {
                    source: "stm_toggle",
                    via: None,
                    oracle: Oracle::Stream(
                        "SELECT seq, user_id, toggle FROM latest_two WHERE n = 1 OR prev <> toggle",
                    ),
                },
            ],
            generate: toggle_inputs,
            size: SMALL,
            staggered: true,
        },
    ]
}

/// The first-order scenario on a small backlog, for the harness's
/// self-check and for shrinking fast.
pub fn first_order_small() -> Scenario {
    let mut s = all()
        .into_iter()
        .find(|s| s.name == "seed_first_order")
        .expect("the seed's first-order scenario");
    s.name = "seed_first_order_small";
    s.size = 200;
    s
}

/// The verbatim first-order flow, small enough to shrink quickly.
pub fn first_order_verbatim_small() -> Scenario {
    let mut s = all()
        .into_iter()
        .find(|s| s.name == "seed_first_order_verbatim")
        .expect("the seed's verbatim first-order scenario");
    s.name = "seed_first_order_verbatim_small";
    s.size = 300;
    s
}

/// The ddsql scripts, next to each other so their shared DDL is visible.
#[path = "scripts.rs"]
mod scripts;
