-- Seed pipeline 3 (toggle dedup) with JSON formats and declared source
-- columns where the article relies on a Schema Registry.
create stream `stg_option` (
    after string,
    op string,
    source struct<ts_ms bigint>
)
with (
    kafka_topic='SETTING_MONGO.SETTING.OPTION',
    value_format='JSON'
);

create stream `stm_toggle_candidate`
with (
    kafka_topic='STREAM.TOGGLE.CANDIDATE',
    key_format='JSON',
    value_format='JSON',
    partitions=1
) as
select
    cast(regexp_replace(extractjsonfield(AFTER, '$.user_id'), '[^0-9]', '') as bigint) as user_id,
    cast(extractjsonfield(AFTER, '$.toggle') as boolean) as toggle,
    source->ts_ms as updated_at
from `stg_option`
where
    after is not null
    and (op = 'u' or op = 'c')
    and extractjsonfield(AFTER, '$.toggle') is not null;

create table `tb_toggle_changes`
with (
    kafka_topic='TABLE.TOGGLE.CHANGES',
    key_format='JSON',
    value_format='JSON',
    partitions=1
) as
select
    user_id,
    latest_by_offset(toggle, 2)[1] as before_toggle,
    latest_by_offset(toggle, 2)[2] as after_toggle
from `stm_toggle_candidate`
group by user_id
emit changes;

create stream `stm_toggle_changes` (
    rowkey bigint key,
    before_toggle boolean,
    after_toggle boolean
)
with (
    kafka_topic='TABLE.TOGGLE.CHANGES',
    key_format='JSON',
    value_format='JSON'
);

create stream `stm_toggle`
with (
    kafka_topic='STREAM.TOGGLE',
    key_format='JSON',
    value_format='JSON'
)
as
select
    ROWKEY as `user_id`,
    case
        when after_toggle is null then before_toggle
        when before_toggle != after_toggle then after_toggle
    end as `toggle`
from `stm_toggle_changes`
where
    after_toggle is null
    or before_toggle != after_toggle
emit changes;
