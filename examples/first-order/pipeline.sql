-- Seed pipeline 2, "first order" (생애 최초 주문), statement for statement
-- as the article deploys it, on the embedded log.
--
-- As in the seed, except that the Debezium topic is JSON with declared
-- columns (the seed reads AVRO through a Schema Registry:
-- pipeline-avro.sql is its text). The backfill is the article's: one
-- INSERT VALUES per user, without ROWTIME, so the rows are stamped now,
-- later than the CDC backlog they precede. They still come first: the
-- candidate stream is read in offset order, and rows already in a topic
-- precede everything a query writes to it afterwards.

create stream `stg_order` (
    before struct<order_id bigint, user_id bigint>,
    after struct<order_id bigint, user_id bigint>,
    op string,
    ts_ms bigint
) with (
    kafka_topic='TRADE_MYSQL.TRADE.ORDER',
    value_format='JSON'
);

create stream `stm_order_candidate`
(
  user_id bigint key,
  order_id bigint
)
with (
  kafka_topic='STREAM.ORDER.CANDIDATE',
  key_format='JSON',
  value_format='JSON',
  partitions=1
);

create table `tb_min_order`
with (
  kafka_topic='TABLE.MIN_ORDER',
  key_format='JSON',
  value_format='JSON',
  partitions=1
) as
select
    user_id,
    min(order_id) as min_order_id
from `stm_order_candidate`
group by user_id;

-- Backfill from the warehouse: each user's first order before CDC began,
-- as the article's Python loop posts them to /ksql.
insert into `stm_order_candidate` (user_id, order_id) values (1, 97);
insert into `stm_order_candidate` (user_id, order_id) values (2, 60);

insert into `stm_order_candidate`
select
    after->user_id as user_id,
    after->order_id as order_id
from `stg_order`
where op = 'c'
  and after->user_id is not null
  and after->order_id is not null
partition by after->user_id
emit changes;

create stream `stm_min_order`
with (
  kafka_topic='STREAM.MIN_ORDER',
  key_format='JSON',
  value_format='JSON',
  partitions=1
) as
select
    s.user_id as user_id,
    true as min_order
from `stm_order_candidate` s
left join `tb_min_order` t
  on s.user_id = t.user_id
where (t.user_id is null or t.min_order_id = s.order_id)
emit changes;
