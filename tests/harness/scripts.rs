//! The scenarios' ddsql scripts (see `scenarios.rs`).

/// The seed's pipeline 2 statement by statement, as the article
/// deploys it: the declarations, then (after the backfill) the feed
/// and the join, in either order.
pub const FIRST_ORDER_DECLARE: &str = "
create stream `stg_order` (before struct<order_id bigint, user_id bigint>, after struct<order_id bigint, user_id bigint>, op string, ts_ms bigint)
  with (kafka_topic='TRADE_MYSQL.TRADE.ORDER', value_format='JSON', partitions=1);
create stream `stm_order_candidate` (user_id bigint key, order_id bigint)
  with (kafka_topic='STREAM.ORDER.CANDIDATE', key_format='JSON', value_format='JSON', partitions=1);
create table `tb_min_order` with (kafka_topic='TABLE.MIN_ORDER', key_format='JSON', value_format='JSON', partitions=1) as
  select user_id, min(order_id) as min_order_id from `stm_order_candidate` group by user_id;
";
macro_rules! first_order_feed {
    () => {
        "insert into `stm_order_candidate`
  select after->user_id as user_id, after->order_id as order_id from `stg_order`
  where op = 'c' and after->user_id is not null and after->order_id is not null
  partition by after->user_id emit changes;
"
    };
}
macro_rules! first_order_join {
    () => {
        "create stream `stm_min_order` with (kafka_topic='STREAM.MIN_ORDER', key_format='JSON', value_format='JSON', partitions=1) as
  select s.user_id as user_id, true as min_order from `stm_order_candidate` s
  left join `tb_min_order` t on s.user_id = t.user_id
  where (t.user_id is null or t.min_order_id = s.order_id) emit changes;
"
    };
}
pub(crate) use {first_order_feed, first_order_join};
pub const LEDGER: &str = "
CREATE STREAM orders_web (id BIGINT KEY, amount BIGINT) WITH (kafka_topic='orders_web', format='JSON');
CREATE STREAM orders_app (id BIGINT KEY, amount BIGINT) WITH (kafka_topic='orders_app', format='JSON');
CREATE STREAM ledger (id BIGINT KEY, amount BIGINT, channel STRING) WITH (kafka_topic='ledger', format='JSON', partitions=1);
INSERT INTO ledger SELECT id, amount, 'web' AS channel FROM orders_web;
INSERT INTO ledger SELECT id, amount, 'app' AS channel FROM orders_app;
CREATE TABLE ledger_totals AS SELECT channel, SUM(amount) AS total, COUNT(*) AS n FROM ledger GROUP BY channel;";
pub const PRICES: &str = "
CREATE STREAM price_feed (id BIGINT KEY, price BIGINT) WITH (kafka_topic='price_feed', format='JSON');
CREATE STREAM price_updates (id BIGINT KEY, price BIGINT) WITH (kafka_topic='prices', format='JSON');
CREATE TABLE prices_t (id BIGINT PRIMARY KEY, price BIGINT) WITH (kafka_topic='prices', format='JSON');
INSERT INTO price_updates SELECT id, price FROM price_feed;
CREATE TABLE doubled AS SELECT id, price * 2 AS double_price FROM prices_t;";
macro_rules! clicks {
    () => {
        "CREATE STREAM clicks (user_id BIGINT KEY, page STRING, amount BIGINT) \
         WITH (kafka_topic='clicks', format='JSON');\n"
    };
}
macro_rules! users {
    () => {
        "CREATE TABLE users (id BIGINT PRIMARY KEY, city STRING, age INT) \
         WITH (kafka_topic='users', format='JSON');\n"
    };
}
macro_rules! accounts {
    () => {
        "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT) \
         WITH (kafka_topic='accounts', format='JSON');\n"
    };
}

pub const CLICKS_COUNT: &str = concat!(
    clicks!(),
    "CREATE TABLE page_counts AS SELECT page, COUNT(*) AS n, COUNT(amount) AS with_amount \
     FROM clicks GROUP BY page;"
);
pub const CLICKS_SUM_MIN_MAX: &str = concat!(
    clicks!(),
    "CREATE TABLE user_amounts AS SELECT user_id, SUM(amount) AS total, MIN(amount) AS lo, \
     MAX(amount) AS hi FROM clicks GROUP BY user_id;"
);
pub const CLICKS_LATEST: &str = concat!(
    clicks!(),
    "CREATE TABLE user_pages AS SELECT user_id, LATEST_BY_OFFSET(page) AS last_page, \
     EARLIEST_BY_OFFSET(page) AS first_page, LATEST_BY_OFFSET(amount, false) AS last_amount \
     FROM clicks GROUP BY user_id;"
);
pub const CLICKS_AVG: &str = concat!(
    clicks!(),
    "CREATE TABLE page_means AS SELECT page, AVG(amount) AS mean FROM clicks \
     WHERE amount IS NOT NULL GROUP BY page;"
);
pub const CLICKS_TWO_KEYS: &str = concat!(
    clicks!(),
    "CREATE TABLE repeat_visits AS SELECT user_id, page, COUNT(*) AS n FROM clicks \
     GROUP BY user_id, page HAVING COUNT(*) > 1;"
);
pub const CLICKS_TUMBLING: &str = concat!(
    clicks!(),
    "CREATE TABLE page_windows AS SELECT page, COUNT(*) AS n, SUM(amount) AS total FROM clicks \
     WINDOW TUMBLING (SIZE 50 MILLISECONDS) GROUP BY page;"
);
pub const CLICKS_HOPPING: &str = concat!(
    clicks!(),
    "CREATE TABLE page_hops AS SELECT page, COUNT(*) AS n, SUM(amount) AS total FROM clicks \
     WINDOW HOPPING (SIZE 100 MILLISECONDS, ADVANCE BY 50 MILLISECONDS, \
     GRACE PERIOD 300 MILLISECONDS) GROUP BY page;"
);
pub const CLICKS_FILTER: &str = concat!(
    clicks!(),
    "CREATE STREAM big_or_unknown AS SELECT user_id, page, amount FROM clicks \
     WHERE amount > 50 OR page IS NULL;"
);
pub const CLICKS_PROJECT: &str = concat!(
    clicks!(),
    "CREATE STREAM shaped AS SELECT user_id, \
       CASE WHEN amount IS NULL THEN 'none' WHEN amount < 10 THEN 'small' ELSE 'large' END AS size, \
       COALESCE(amount, -1) * 2 + 1 AS x, UCASE(page) AS up, LEN(page) AS l, \
       amount BETWEEN 20 AND 40 AS mid, page IN ('home', 'cart') AS shop \
     FROM clicks;"
);
pub const CLICKS_PARTITION: &str = concat!(
    clicks!(),
    "CREATE STREAM clicks_by_page AS SELECT page, user_id, amount FROM clicks PARTITION BY page;"
);
pub const UNION: &str = "
CREATE STREAM orders_web (id BIGINT KEY, amount BIGINT) WITH (kafka_topic='orders_web', format='JSON');
CREATE STREAM orders_app (id BIGINT KEY, amount BIGINT) WITH (kafka_topic='orders_app', format='JSON');
CREATE STREAM all_orders (id BIGINT KEY, amount BIGINT, channel STRING)
WITH (kafka_topic='all_orders', format='JSON', partitions=2);
INSERT INTO all_orders SELECT id, amount, 'web' AS channel FROM orders_web;
INSERT INTO all_orders SELECT id, amount, 'app' AS channel FROM orders_app;
CREATE TABLE totals AS SELECT channel, SUM(amount) AS total, COUNT(*) AS n FROM all_orders GROUP BY channel;";
pub const USERS_PER_CITY: &str = concat!(
    users!(),
    "CREATE TABLE per_city AS SELECT city, COUNT(*) AS n, SUM(age) AS total_age, \
     MIN(age) AS youngest, MAX(age) AS oldest FROM users GROUP BY city;"
);
pub const USERS_ADULTS: &str = concat!(
    users!(),
    "CREATE TABLE adults AS SELECT id, city, age * 2 AS double_age FROM users WHERE age >= 18;"
);
pub const ENRICH_INNER: &str = concat!(
    clicks!(),
    users!(),
    "CREATE STREAM enriched AS SELECT c.user_id AS user_id, c.page AS page, u.city AS city \
     FROM clicks c JOIN users u ON c.user_id = u.id;"
);
pub const ENRICH_LEFT: &str = concat!(
    clicks!(),
    users!(),
    "CREATE STREAM enriched AS SELECT c.user_id AS user_id, c.page AS page, u.city AS city, \
     u.age AS age FROM clicks c LEFT JOIN users u ON c.user_id = u.id;"
);
/// A stream joined with two tables on one key; the key is selected from
/// the last table, as ksqlDB allows any of the equal join expressions.
pub const ENRICH_TWO_TABLES: &str = concat!(
    clicks!(),
    users!(),
    accounts!(),
    "CREATE STREAM enriched AS SELECT a.id AS user_id, c.page AS page, u.city AS city, \
     a.balance AS balance FROM clicks c JOIN users u ON c.user_id = u.id \
     JOIN accounts a ON c.user_id = a.id;"
);
/// The second step re-keys the stream by another column; both LEFT.
pub const ENRICH_TWO_TABLES_REKEYED: &str = concat!(
    clicks!(),
    users!(),
    accounts!(),
    "CREATE STREAM enriched AS SELECT c.amount AS amount, c.user_id AS user_id, \
     u.city AS city, a.balance AS balance FROM clicks c LEFT JOIN users u ON c.user_id = u.id \
     LEFT JOIN accounts a ON c.amount = a.id;"
);
/// A foreign-key join: each account references the user its balance
/// picks (`balance % 16`), so a balance update moves the account to
/// another user and a user's update reaches every account on it.
pub const FK_INNER: &str = concat!(
    users!(),
    accounts!(),
    "CREATE TABLE account_users AS SELECT a.id AS id, a.balance AS balance, u.city AS city \
     FROM accounts a JOIN users u ON a.balance % 16 = u.id;"
);
pub const FK_LEFT: &str = concat!(
    users!(),
    accounts!(),
    "CREATE TABLE account_users AS SELECT a.id AS id, a.balance AS balance, u.city AS city, \
     u.age AS age FROM accounts a LEFT JOIN users u ON a.balance % 16 = u.id;"
);
pub const CITY_CLICKS: &str = concat!(
    clicks!(),
    users!(),
    "CREATE TABLE city_clicks AS SELECT u.city AS city, COUNT(*) AS n \
     FROM clicks c JOIN users u ON c.user_id = u.id GROUP BY u.city;"
);
pub const CITY_CLICKS_SETUP: &str = concat!(
    table_at!("users"),
    "CREATE TABLE joined AS \
       SELECT c.seq, u.city FROM clicks c JOIN LATERAL users_at(c.seq) u ON u.id = c.user_id;"
);
pub const TT_INNER: &str = concat!(
    users!(),
    accounts!(),
    "CREATE TABLE user_accounts AS SELECT u.id AS id, u.city AS city, a.balance AS balance \
     FROM users u JOIN accounts a ON u.id = a.id;"
);
pub const TT_LEFT: &str = concat!(
    users!(),
    accounts!(),
    "CREATE TABLE user_accounts AS SELECT u.id AS id, u.city AS city, a.balance AS balance \
     FROM users u LEFT JOIN accounts a ON u.id = a.id;"
);
pub const TT_RIGHT: &str = concat!(
    users!(),
    accounts!(),
    "CREATE TABLE account_users AS SELECT a.id AS id, u.city AS city, a.balance AS balance \
     FROM users u RIGHT JOIN accounts a ON u.id = a.id;"
);
pub const TT_FULL: &str = concat!(
    users!(),
    accounts!(),
    "CREATE TABLE user_accounts AS SELECT ROWKEY AS id, u.city AS city, a.balance AS balance \
     FROM users u FULL OUTER JOIN accounts a ON u.id = a.id;"
);
pub const SS_LEFT: &str = "
CREATE STREAM orders_web (id BIGINT KEY, amount BIGINT) WITH (kafka_topic='orders_web', format='JSON');
CREATE STREAM shipments (id BIGINT KEY, carrier STRING) WITH (kafka_topic='shipments', format='JSON');
CREATE STREAM shipped AS SELECT o.id AS id, o.amount AS amount, s.carrier AS carrier
FROM orders_web o LEFT JOIN shipments s WITHIN 300 MILLISECONDS GRACE PERIOD 100 MILLISECONDS ON o.id = s.id;";
/// Without GRACE PERIOD: unmatched orders are written eagerly.
pub const SS_LEFT_EAGER: &str = "
CREATE STREAM orders_web (id BIGINT KEY, amount BIGINT) WITH (kafka_topic='orders_web', format='JSON');
CREATE STREAM shipments (id BIGINT KEY, carrier STRING) WITH (kafka_topic='shipments', format='JSON');
CREATE STREAM shipped AS SELECT o.id AS id, o.amount AS amount, s.carrier AS carrier
FROM orders_web o LEFT JOIN shipments s WITHIN 300 MILLISECONDS ON o.id = s.id;";
pub const SS_FULL: &str = "
CREATE STREAM orders_web (id BIGINT KEY, amount BIGINT) WITH (kafka_topic='orders_web', format='JSON');
CREATE STREAM shipments (id BIGINT KEY, carrier STRING) WITH (kafka_topic='shipments', format='JSON');
CREATE STREAM shipped AS SELECT ROWKEY AS id, o.amount AS amount, s.carrier AS carrier
FROM orders_web o FULL OUTER JOIN shipments s WITHIN (100 MILLISECONDS, 300 MILLISECONDS)
GRACE PERIOD 50 MILLISECONDS ON o.id = s.id;";
pub const SS_JOIN: &str = "
CREATE STREAM orders_web (id BIGINT KEY, amount BIGINT) WITH (kafka_topic='orders_web', format='JSON');
CREATE STREAM shipments (id BIGINT KEY, carrier STRING) WITH (kafka_topic='shipments', format='JSON');
CREATE STREAM shipped AS SELECT o.id AS id, o.amount AS amount, s.carrier AS carrier
FROM orders_web o JOIN shipments s WITHIN 1 SECOND ON o.id = s.id;";
