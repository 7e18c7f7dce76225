//! Helpers shared by the end-to-end tests.

// Each test binary uses its own subset.
#![allow(dead_code)]

use ddsql::Session;
use ddsql_engine::io::Record;
use serde_json::{json, Value as Json};

/// A record with JSON key and value (`None`: a tombstone).
pub fn json_record(key: Json, value: Option<Json>, timestamp: i64) -> Record {
    Record {
        key: Some(key.to_string().into_bytes()),
        value: value.map(|v| v.to_string().into_bytes()),
        timestamp,
        headers: vec![],
    }
}

/// `(key, value, timestamp)` of every record of a one-partition topic.
/// Keys that are not JSON are read as KAFKA-format BIGINTs.
pub fn records(session: &Session, topic: &str) -> Vec<(Json, Json, i64)> {
    let mut out = Vec::new();
    session
        .log()
        .read(topic, 0, 0, usize::MAX, &mut out)
        .unwrap();
    let parse = |b: Option<Vec<u8>>| match b {
        None => Json::Null,
        Some(b) => serde_json::from_slice(&b)
            .unwrap_or_else(|_| json!(i64::from_be_bytes(b.try_into().unwrap()))),
    };
    out.into_iter()
        .map(|f| {
            (
                parse(f.record.key),
                parse(f.record.value),
                f.record.timestamp,
            )
        })
        .collect()
}

/// A session on a fresh data directory, with `script` executed.
pub fn session_with(script: &str) -> (tempfile::TempDir, Session) {
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::open(dir.path()).unwrap();
    session
        .execute_script(script)
        .unwrap_or_else(|e| panic!("{e}"));
    (dir, session)
}

/// Seed pipeline 1 (event join), as the article writes it but with JSON
/// formats and declared columns where it relies on a Schema Registry.
pub const EVENT_JOIN: &str = r#"
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
"#;

/// Seed pipeline 3 (toggle dedup), with JSON formats.
pub const TOGGLE: &str = r#"
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
"#;

/// Seed pipeline 2 (first order), every statement created before any data.
pub const FIRST_ORDER: &str = "
create stream `stg_order` (
    before struct<order_id bigint, user_id bigint>,
    after struct<order_id bigint, user_id bigint>,
    op string, ts_ms bigint
) with (kafka_topic='TRADE_MYSQL.TRADE.ORDER', value_format='JSON', partitions=1);

create stream `stm_order_candidate` (user_id bigint key, order_id bigint)
with (kafka_topic='STREAM.ORDER.CANDIDATE', key_format='JSON', value_format='JSON', partitions=1);

create table `tb_min_order`
with (kafka_topic='TABLE.MIN_ORDER', key_format='JSON', value_format='JSON', partitions=1) as
select user_id, min(order_id) as min_order_id from `stm_order_candidate` group by user_id;

insert into `stm_order_candidate`
select after->user_id as user_id, after->order_id as order_id
from `stg_order`
where op = 'c' and after->user_id is not null and after->order_id is not null
partition by after->user_id
emit changes;

create stream `stm_min_order`
with (kafka_topic='STREAM.MIN_ORDER', key_format='JSON', value_format='JSON', partitions=1) as
select s.user_id as user_id, true as min_order
from `stm_order_candidate` s
left join `tb_min_order` t on s.user_id = t.user_id
where (t.user_id is null or t.min_order_id = s.order_id)
emit changes;
";
