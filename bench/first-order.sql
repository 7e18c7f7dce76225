-- The first-order benchmark's workload (bench/src/first_order.rs), kept as
-- it was when the figures in bench/NOTES.md were measured, so they stay
-- comparable: seed pipeline 2 with JSON Debezium input and declared
-- columns, and a backfill whose rows carry the time of the historical
-- orders they stand for (ROWTIME). The example users run is
-- examples/first-order/pipeline.sql, the seed's own statements.

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

-- Backfill from the warehouse: each user's first order before CDC began.
insert into `stm_order_candidate` (rowtime, user_id, order_id) values (1740787200000, 1, 97);
insert into `stm_order_candidate` (rowtime, user_id, order_id) values (1740787200000, 2, 60);

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
