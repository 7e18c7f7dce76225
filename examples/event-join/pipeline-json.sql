-- Seed pipeline 1 (event join) with JSON Debezium topics: as the article
-- writes it, but with declared columns where it relies on a Schema Registry.
create stream `stg_submit` (
    before struct<user_id bigint, event_id bigint, created_at string>,
    after struct<user_id bigint, event_id bigint, created_at string>,
    source struct<version string, ts_ms bigint>,
    op string,
    ts_ms bigint
)
with (
    kafka_topic='EVENT_MYSQL.EVENT.SUBMIT',
    value_format='JSON'
);

create stream `stg_name` (
    before struct<id bigint, name string>,
    after struct<id bigint, name string>,
    op string,
    ts_ms bigint
)
with (
    kafka_topic='EVENT_MYSQL.EVENT.NAME',
    value_format='JSON'
);

create table `tb_event_name`
with (
    kafka_topic='TABLE.EVENT.NAME',
    key_format='JSON',
    value_format='JSON',
    partitions=1
) as
select
    after->id as event_id,
    latest_by_offset(after->name) as name
from `stg_name`
where
    after->id is not null
group by after->id
emit changes;

create stream `stm_event_name_join`
with (
    kafka_topic='STREAM.EVENT.JOIN',
    key_format='JSON',
    value_format='JSON',
    partitions=1
) as
select
    s.after->user_id as `user_id`,
    e.name as `event_name`,
    s.after->created_at as `event_time`,
from `stg_submit` s
left join `tb_event_name` e
    on s.after->event_id = e.event_id
where
    (s.op = 'r' or s.op = 'c')
    and s.after->event_id is not null
    and e.event_id is not null
partition by s.after->user_id
emit changes;
