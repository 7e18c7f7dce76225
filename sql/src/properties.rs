//! Session properties: what `SET`, a `/ksql` request's `streamsProperties`
//! and a `/query-stream` request's `properties` may name, as ksqlDB's
//! `LocalPropertyParser` decides it.
//!
//! A name is one of ksqlDB's own (`ksql.*`), or a Kafka Streams, consumer
//! or producer config, bare or behind `ksql.streams.` (and `consumer.` /
//! `producer.` for a client's own). ksqlDB refuses any other name, and so
//! does ddsql, naming the closest known property; it refuses values a
//! config does not take and the properties a server fixes. Of the names
//! it accepts, ddsql reads few ([`READ`]); setting any other gets a
//! warning, since a user who sets one expects an effect.
//!
//! ```
//! use ddsql_sql::properties::{check, Checked};
//! assert_eq!(
//!     check("ksql.streams.auto.offset.reset", "latest"),
//!     Ok(Checked { name: "auto.offset.reset", warning: None })
//! );
//! let refused = check("auto.offset.rest", "earliest").unwrap_err();
//! assert!(refused.contains("did you mean 'auto.offset.reset'?"));
//! let ignored = check("ksql.streams.producer.linger.ms", "5").unwrap();
//! assert!(ignored.warning.unwrap().contains("linger.ms"));
//! ```

use std::collections::BTreeMap;

/// The properties ddsql reads, by the name [`check`] resolves them to.
pub const READ: &[&str] = &[
    "auto.offset.reset",
    "ksql.persistence.default.format.key",
    "ksql.persistence.default.format.value",
];

/// Properties a ksqlDB server fixes at start (`KsqlEngine`'s immutable
/// properties): a session cannot override them.
const FIXED: &[&str] = &[
    "ksql.service.id",
    "ksql.extension.dir",
    "ksql.udfs.enabled",
    "ksql.udf.enable.security.manager",
    "ksql.udf.collect.metrics",
    "ksql.connect.url",
    "bootstrap.servers",
];

/// ksqlDB's own configs (`KsqlConfig`) a session may name.
const KSQL: &[&str] = &[
    "ksql.service.id",
    "ksql.extension.dir",
    "ksql.udfs.enabled",
    "ksql.udf.enable.security.manager",
    "ksql.udf.collect.metrics",
    "ksql.connect.url",
    "ksql.persistence.default.format.key",
    "ksql.persistence.default.format.value",
    "ksql.persistence.wrap.single.values",
    "ksql.output.topic.name.prefix",
    "ksql.sink.replicas",
    "ksql.internal.topic.replicas",
    "ksql.internal.topic.min.insync.replicas",
    "ksql.schema.registry.url",
    "ksql.fail.on.deserialization.error",
    "ksql.fail.on.production.error",
    "ksql.logging.processing.topic.auto.create",
    "ksql.logging.processing.stream.auto.create",
    "ksql.logging.processing.topic.name",
    "ksql.logging.processing.topic.partitions",
    "ksql.logging.processing.topic.replication.factor",
    "ksql.logging.processing.rows.include",
    "ksql.timestamp.throw.on.invalid",
    "ksql.variable.substitution.enable",
    "ksql.query.persistent.active.limit",
    "ksql.query.pull.table.scan.enabled",
    "ksql.query.pull.max.allowed.offset.lag",
    "ksql.query.pull.max.qps",
    "ksql.query.pull.max.concurrent.requests",
    "ksql.query.pull.interpreter.enabled",
    "ksql.query.pull.enable.standby.reads",
    "ksql.query.push.v2.enabled",
    "ksql.query.push.v2.registry.installed",
    "ksql.query.push.v2.new.latest.delay.ms",
    "ksql.query.push.v2.continuation.tokens.enabled",
    "ksql.query.retry.backoff.initial.ms",
    "ksql.query.retry.backoff.max.ms",
    "ksql.query.error.max.queue.size",
    "ksql.query.status.running.threshold.seconds",
    "ksql.query.cleanup.shutdown.timeout.ms",
    "ksql.suppress.enabled",
    "ksql.suppress.buffer.size.bytes",
    "ksql.headers.columns.enabled",
    "ksql.rowpartition.rowoffset.enabled",
    "ksql.source.table.materialization.enabled",
    "ksql.runtime.feature.shared.enabled",
    "ksql.shared.runtimes.count",
    "ksql.new.query.planner.enabled",
    "ksql.nested.error.set.null",
    "ksql.cast.strings.preserve.nulls",
    "ksql.create.or.replace.enabled",
    "ksql.lambdas.enabled",
    "ksql.access.validator.enable",
    "ksql.error.classifier.regex",
    "ksql.metrics.tags.custom",
    "ksql.metrics.extension",
    "ksql.properties.overrides.denylist",
    "ksql.functions.substring.legacy.args",
    "ksql.functions.collect_list.limit",
    "ksql.functions.collect_set.limit",
    "ksql.string.case.config.toggle",
    "ksql.transient.prefix",
    "ksql.persistent.prefix",
    "ksql.statestore.suffix",
    "ksql.query.transient.max.bytes.buffering",
    "ksql.streams.shutdown.timeout.ms",
    "ksql.websocket.connection.max.timeout.ms",
    "ksql.authorization.cache.expiry.time.secs",
    "ksql.authorization.cache.max.entries",
    "ksql.security.extension.class",
    "ksql.assert.topic.default.timeout.ms",
    "ksql.assert.schema.default.timeout.ms",
    "ksql.endpoint.migrate.query",
    "ksql.deployment.type",
    "ksql.json_sr.converter.deserializer.enabled",
    "ksql.avro.maps.named",
];

/// Kafka Streams configs (`StreamsConfig`).
const STREAMS: &[&str] = &[
    "application.id",
    "application.server",
    "bootstrap.servers",
    "state.dir",
    "num.stream.threads",
    "processing.guarantee",
    "commit.interval.ms",
    "cache.max.bytes.buffering",
    "statestore.cache.max.bytes",
    "replication.factor",
    "num.standby.replicas",
    "default.timestamp.extractor",
    "default.key.serde",
    "default.value.serde",
    "default.deserialization.exception.handler",
    "default.production.exception.handler",
    "default.dsl.store",
    "topology.optimization",
    "max.task.idle.ms",
    "buffered.records.per.partition",
    "poll.ms",
    "metrics.recording.level",
    "metrics.num.samples",
    "metrics.sample.window.ms",
    "metric.reporters",
    "rocksdb.config.setter",
    "upgrade.from",
    "windowstore.changelog.additional.retention.ms",
    "state.cleanup.delay.ms",
    "task.timeout.ms",
    "acceptable.recovery.lag",
    "max.warmup.replicas",
    "probing.rebalance.interval.ms",
    "rack.aware.assignment.tags",
    "built.in.metrics.version",
    "repartition.purge.interval.ms",
    "window.size.ms",
    "auto.include.jmx.reporter",
    "enable.metrics.push",
];

/// Configs every Kafka client takes (`CommonClientConfigs`, SSL, SASL).
const CLIENT: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "client.dns.lookup",
    "client.rack",
    "connections.max.idle.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "request.timeout.ms",
    "default.api.timeout.ms",
    "metadata.max.age.ms",
    "send.buffer.bytes",
    "receive.buffer.bytes",
    "socket.connection.setup.timeout.ms",
    "socket.connection.setup.timeout.max.ms",
    "security.protocol",
    "interceptor.classes",
    "sasl.mechanism",
    "sasl.jaas.config",
    "sasl.kerberos.service.name",
    "sasl.client.callback.handler.class",
    "sasl.login.callback.handler.class",
    "ssl.protocol",
    "ssl.enabled.protocols",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.endpoint.identification.algorithm",
    "ssl.cipher.suites",
];

/// Consumer configs (`ConsumerConfig`) beyond the common ones.
const CONSUMER: &[&str] = &[
    "auto.offset.reset",
    "group.id",
    "group.instance.id",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.max.wait.ms",
    "max.partition.fetch.bytes",
    "max.poll.records",
    "max.poll.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "isolation.level",
    "partition.assignment.strategy",
    "check.crcs",
    "exclude.internal.topics",
    "allow.auto.create.topics",
    "key.deserializer",
    "value.deserializer",
];

/// Producer configs (`ProducerConfig`) beyond the common ones.
const PRODUCER: &[&str] = &[
    "acks",
    "linger.ms",
    "batch.size",
    "buffer.memory",
    "compression.type",
    "retries",
    "delivery.timeout.ms",
    "max.block.ms",
    "max.request.size",
    "max.in.flight.requests.per.connection",
    "enable.idempotence",
    "transactional.id",
    "transaction.timeout.ms",
    "partitioner.class",
    "partitioner.ignore.keys",
    "key.serializer",
    "value.serializer",
];

/// A property [`check`] accepts: the name ddsql knows it by (a Kafka
/// config without its `ksql.streams.`/`consumer.`/`producer.` prefix) and,
/// if ddsql does not read it, a warning to give the user.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked<'a> {
    pub name: &'a str,
    pub warning: Option<String>,
}

/// Whether a session may set `name` to `value`; the error says why not,
/// as ksqlDB words it, and names the closest known property.
pub fn check<'a>(name: &'a str, value: &str) -> Result<Checked<'a>, String> {
    let resolved = canonical(name).ok_or_else(|| {
        let mut message =
            format!("Not recognizable as ksql, streams, consumer, or producer property: '{name}'");
        if let Some(close) = closest(name) {
            message.push_str(&format!("; did you mean '{close}'?"));
        }
        message
    })?;
    if FIXED.contains(&resolved) {
        return Err(format!(
            "Cannot override property '{name}': the server fixes it at start"
        ));
    }
    if resolved == "auto.offset.reset" && !["earliest", "latest"].contains(&value) {
        return Err(format!(
            "Invalid value {value} for configuration {name}: String must be one of: latest, earliest"
        ));
    }
    let warning = (!READ.contains(&resolved)).then(|| {
        format!("ddsql accepts property '{name}' but does not read it: setting it changes nothing. ddsql reads {}", READ.join(", "))
    });
    Ok(Checked {
        name: resolved,
        warning,
    })
}

/// The name ddsql knows property `name` by, if it is known (see the
/// module docs): `ksql.streams.auto.offset.reset` is `auto.offset.reset`.
pub fn canonical(name: &str) -> Option<&str> {
    let client = |n: &str, own: &[&str]| CLIENT.contains(&n) || own.contains(&n);
    if let Some(rest) = name.strip_prefix("ksql.streams.") {
        return resolve_kafka(rest, client);
    }
    if name.starts_with("ksql.") {
        return KSQL.contains(&name).then_some(name);
    }
    resolve_kafka(name, client)
}

fn resolve_kafka(name: &str, client: impl Fn(&str, &[&str]) -> bool) -> Option<&str> {
    if let Some(rest) = name.strip_prefix("consumer.") {
        return client(rest, CONSUMER).then_some(rest);
    }
    if let Some(rest) = name.strip_prefix("producer.") {
        return client(rest, PRODUCER).then_some(rest);
    }
    let known = STREAMS.contains(&name) || client(name, CONSUMER) || client(name, PRODUCER);
    known.then_some(name)
}

/// The known property closest to `name` by edit distance, if any is close.
pub fn closest(name: &str) -> Option<String> {
    let prefix = ["ksql.streams.", ""]
        .into_iter()
        .find(|p| name.starts_with(p))
        .unwrap_or("");
    let bare = &name[prefix.len()..];
    let candidates: Vec<String> = if bare.starts_with("ksql.") {
        KSQL.iter().map(|k| k.to_string()).collect()
    } else {
        STREAMS
            .iter()
            .chain(CLIENT)
            .chain(CONSUMER)
            .chain(PRODUCER)
            .map(|k| format!("{prefix}{k}"))
            .chain(KSQL.iter().map(|k| k.to_string()))
            .collect()
    };
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(name, &c), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min()
        .map(|(_, c)| c)
}

/// `auto.offset.reset` as `properties` set it, by any of its names
/// (`ksql.streams.auto.offset.reset` too): whether reading starts at the
/// latest offsets, or `None` if it is not set. (A session keeps one name
/// per property: setting one removes its other names.)
pub fn from_latest(properties: &BTreeMap<String, String>) -> Option<bool> {
    properties
        .iter()
        .rev()
        .find(|(k, _)| canonical(k) == Some("auto.offset.reset"))
        .map(|(_, v)| v.eq_ignore_ascii_case("latest"))
}

/// The defaults of the properties ddsql reads, as SHOW PROPERTIES lists
/// them when a session has not set them.
const DEFAULTS: &[(&str, &str)] = &[
    (
        "auto.offset.reset",
        "earliest (persistent queries), latest (push queries)",
    ),
    ("ksql.persistence.default.format.key", "KAFKA"),
    (
        "ksql.persistence.default.format.value",
        "(none: VALUE_FORMAT is required)",
    ),
];

/// What SHOW PROPERTIES lists: `(name, scope, value)`, the properties the
/// session set (`SESSION`), then the defaults of those ddsql reads that it
/// did not set (`SERVER`).
pub fn listing(set: &BTreeMap<String, String>) -> Vec<(String, &'static str, String)> {
    let mut rows: Vec<_> = set
        .iter()
        .map(|(k, v)| (k.clone(), "SESSION", v.clone()))
        .collect();
    for (name, default) in DEFAULTS {
        if !set.keys().any(|k| canonical(k) == Some(name)) {
            rows.push((name.to_string(), "SERVER", default.to_string()));
        }
    }
    rows
}

/// Sets (`Some`) or unsets property `name` in `properties`, removing its
/// other names first, so `ksql.streams.auto.offset.reset` set after
/// `auto.offset.reset` replaces it.
pub fn set(properties: &mut BTreeMap<String, String>, name: &str, value: Option<&str>) {
    if let Some(canonical) = canonical(name) {
        properties.retain(|k, _| self::canonical(k) != Some(canonical));
    }
    match value {
        Some(v) => properties.insert(name.to_string(), v.to_string()),
        None => properties.remove(name),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_resolve_to_the_kafka_config() {
        for name in [
            "auto.offset.reset",
            "ksql.streams.auto.offset.reset",
            "consumer.auto.offset.reset",
            "ksql.streams.consumer.auto.offset.reset",
        ] {
            assert_eq!(check(name, "earliest").unwrap().name, "auto.offset.reset");
        }
        // A producer config is not a consumer's.
        assert!(check("consumer.linger.ms", "5").is_err());
        assert!(check("ksql.no.such.thing", "1").is_err());
    }

    #[test]
    fn refusals_name_the_closest_property() {
        let e = check("ksql.streams.auto.ofset.reset", "earliest").unwrap_err();
        assert!(e.contains("'ksql.streams.auto.offset.reset'"), "{e}");
        let e = check("ksql.persistence.default.format.vale", "JSON").unwrap_err();
        assert!(e.contains("'ksql.persistence.default.format.value'"), "{e}");
        assert_eq!(closest("zzzzzzzzzzzzzz"), None);
        assert!(check("auto.offset.reset", "none").is_err());
        assert!(check("ksql.service.id", "x").is_err());
    }

    #[test]
    fn the_last_offset_reset_set_wins_whatever_its_name() {
        let mut p = BTreeMap::new();
        assert_eq!(from_latest(&p), None);
        set(&mut p, "ksql.streams.auto.offset.reset", Some("latest"));
        assert_eq!(from_latest(&p), Some(true));
        set(&mut p, "auto.offset.reset", Some("earliest"));
        assert_eq!(p.len(), 1);
        assert_eq!(from_latest(&p), Some(false));
        set(&mut p, "ksql.streams.auto.offset.reset", None);
        assert_eq!(from_latest(&p), None);
    }
}
