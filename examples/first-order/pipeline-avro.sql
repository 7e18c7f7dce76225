-- Seed pipeline 2, "first order", as the article prints it: the Debezium
-- MySQL topic in AVRO, columns inferred from the Schema Registry; the
-- derived streams and table keyed and written in AVRO. Run it with
--   ddsql --kafka-bootstrap HOST:PORT --schema-registry-url URL run examples/first-order/pipeline-avro.sql
-- (or on the embedded log with --schema-registry-url alone).
create stream `stg_order`
with (
    kafka_topic='TRADE_MYSQL.TRADE.ORDER',
    value_format='AVRO'
);

create stream `stm_order_candidate`
(
  user_id bigint key,
  order_id bigint
)
with (
  kafka_topic='STREAM.ORDER.CANDIDATE',
  key_format='AVRO',
  value_format='AVRO',
  partitions=1
);

create table `tb_min_order`
with (
  kafka_topic='TABLE.MIN_ORDER',
  key_format='AVRO',
  value_format='AVRO',
  partitions=1
) as
select
    user_id,
    min(order_id) as min_order_id
from `stm_order_candidate`
group by user_id;

-- The article posts one of these per user, from BigQuery's minima.
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
