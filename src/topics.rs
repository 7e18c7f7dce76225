//! `ddsql topic produce|consume|list`: a topic's records as JSON lines,
//! the way a Kafka user feeds and reads topics with console producers and
//! consumers.
//!
//! Each line is `{"key": .., "value": .., "timestamp": .., "partition": ..,
//! "headers": {..}}`; an [`Encoding`] says how a key or value becomes bytes
//! and back. The commands work on the topics directly (the embedded log in
//! the data directory, or Kafka), or, while `ddsql server` holds the data
//! directory, through the server: it writes [`SERVER_FILE`] there, and its
//! `/topics` endpoints do the same work in its process ([`Remote`]).
//! Either way a produced record takes the ordered write path every ddsql
//! write takes ([`Clock::append`]), so it keeps the topic's offset order
//! in time.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use serde_json::{json, Value as Json};

use std::sync::Arc;

use ddsql_connectors::format::avro_json::AvroJson;
use ddsql_connectors::schema_registry::SchemaRegistry;
use ddsql_engine::clock::{Clock, Own};
use ddsql_engine::io::{Fetched, Record, Transport};

/// How bytes are shown as, or made from, a JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// Consume only: JSON if the bytes are JSON, else text, else base64.
    Auto,
    /// The JSON text of the value (the JSON format's bytes).
    Json,
    /// A JSON string's UTF-8 bytes, unquoted.
    String,
    /// A 64-bit big-endian integer (the KAFKA format's BIGINT).
    Bigint,
    /// A 32-bit big-endian integer (the KAFKA format's INT).
    Int,
    /// A 64-bit big-endian float (the KAFKA format's DOUBLE).
    Double,
    /// Raw bytes, base64 in the JSON line.
    Base64,
    /// Avro in Confluent's wire format, through the Schema Registry
    /// (`--schema-registry-url`): consumed records are read with their
    /// writer's schema, produced ones written with the given schema or
    /// the subject's latest ([`AvroLines`]).
    Avro,
}

impl Encoding {
    /// The name the command line and the `/topics` endpoints use.
    pub fn name(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .expect("no encoding is skipped")
            .get_name()
            .to_string()
    }

    pub fn parse(name: &str) -> anyhow::Result<Encoding> {
        use clap::ValueEnum;
        Encoding::from_str(name, true).map_err(|_| {
            anyhow!(
                "unknown encoding '{name}': use auto, json, string, bigint, int, double, base64 or avro"
            )
        })
    }
}

/// How a line's key and value are encoded.
#[derive(Clone, Copy, Debug)]
pub struct Encodings {
    pub key: Encoding,
    pub value: Encoding,
}

/// Appends JSON lines (from `what`: "stdin", "the request body") to
/// `topic` (created with `partitions` if missing), each through the
/// ordered write path; the count written. A bad line stops the run with an
/// error naming it and how many records before it were written.
pub fn produce(
    log: &dyn Transport,
    clock: &Clock,
    topic: &str,
    partitions: u32,
    (what, lines): (&str, impl BufRead),
    encodings: Encodings,
) -> anyhow::Result<u64> {
    if log.partitions(topic)?.is_none() {
        log.create_topic(topic, partitions)?;
    }
    let topic_partitions = log.partitions(topic)?.unwrap_or(1);
    let mut count = 0;
    for (n, line) in lines.lines().enumerate() {
        let written = |e: anyhow::Error| {
            anyhow!(
                "{what} line {}: {e:#} (the {count} record(s) before it were written)",
                n + 1
            )
        };
        let line = line.map_err(|e| written(e.into()))?;
        if line.trim().is_empty() {
            continue;
        }
        let (partition, record) = parse_line(&line, encodings).map_err(written)?;
        match partition {
            Some(p) if p >= topic_partitions => {
                return Err(written(anyhow!("topic '{topic}' has no partition {p}")))
            }
            Some(p) => {
                clock
                    .append(topic, p, vec![(record, Own::Arrival)])
                    .map_err(|e| written(e.into()))?;
            }
            None => {
                ddsql_engine::produce(clock, topic, record).map_err(|e| written(e.into()))?;
            }
        }
        count += 1;
    }
    log.flush()?;
    Ok(count)
}

/// Each record of `topic` as a JSON line, up to the end as it is now (on
/// Kafka a read at the end would wait for records that may never come),
/// at most `max`; `line` returns false to stop early.
pub fn consume(
    log: &dyn Transport,
    topic: &str,
    max: Option<u64>,
    encodings: Encodings,
    headers: bool,
    mut line: impl FnMut(Json) -> anyhow::Result<bool>,
) -> anyhow::Result<u64> {
    let partitions = log.partitions(topic)?.ok_or_else(|| {
        anyhow!("topic '{topic}' does not exist; `ddsql topic list` shows the topics")
    })?;
    let mut printed = 0;
    for p in 0..partitions {
        let end = log.end_offset(topic, p)?;
        let mut offset = 0;
        while offset < end {
            let mut batch: Vec<Fetched> = Vec::new();
            let next = log.read(topic, p, offset, 1024, &mut batch)?;
            if next <= offset {
                break;
            }
            offset = next;
            for f in batch {
                if max.is_some_and(|m| printed >= m) {
                    return Ok(printed);
                }
                let mut shown = json!({
                    "partition": p,
                    "offset": f.offset,
                    "timestamp": f.record.timestamp,
                    "key": show(f.record.key.as_deref(), encodings.key)?,
                    "value": show(f.record.value.as_deref(), encodings.value)?,
                });
                if headers {
                    shown["headers"] = show_headers(&f.record);
                }
                printed += 1;
                if !line(shown)? {
                    return Ok(printed);
                }
            }
        }
    }
    Ok(printed)
}

/// The topics, each with its partitions and its records.
pub fn list(log: &dyn Transport) -> anyhow::Result<Vec<(String, u32, u64)>> {
    Ok(log
        .topics()?
        .into_iter()
        .map(|(name, partitions)| {
            let records = (0..partitions)
                .map(|p| log.end_offset(&name, p).unwrap_or(0))
                .sum();
            (name, partitions, records)
        })
        .collect())
}

/// How `ddsql topic list` prints a topic.
pub fn list_line(name: &str, partitions: u32, records: u64) -> String {
    format!("{name}\t{partitions} partitions\t{records} records")
}

fn show_headers(record: &Record) -> Json {
    Json::Object(
        record
            .headers
            .iter()
            .map(|(k, v)| {
                let text = |b: &[u8]| match k.as_str() {
                    ddsql_engine::clock::STAMP_HEADER => ddsql_engine::clock::describe_stamp(b),
                    _ => String::from_utf8_lossy(b).into_owned(),
                };
                (
                    k.clone(),
                    v.as_deref()
                        .map(|b| Json::String(text(b)))
                        .unwrap_or(Json::Null),
                )
            })
            .collect(),
    )
}

/// One line to produce: its partition, if it names one, and its record.
pub fn parse_line(line: &str, encodings: Encodings) -> anyhow::Result<(Option<u32>, Record)> {
    let obj: Json = serde_json::from_str(line).context("not a JSON object")?;
    let Json::Object(obj) = obj else {
        bail!("expected a JSON object with \"key\", \"value\", \"timestamp\"")
    };
    for k in obj.keys() {
        if !["key", "value", "timestamp", "partition", "headers"].contains(&k.as_str()) {
            bail!("unknown field \"{k}\"; a line has \"key\", \"value\", \"timestamp\", \"partition\" and \"headers\"");
        }
    }
    let key = bytes(obj.get("key").unwrap_or(&Json::Null), encodings.key).context("\"key\"")?;
    let value =
        bytes(obj.get("value").unwrap_or(&Json::Null), encodings.value).context("\"value\"")?;
    let timestamp = match obj.get("timestamp") {
        None | Some(Json::Null) => crate::session::now_ms(),
        Some(t) => t
            .as_i64()
            .ok_or_else(|| anyhow!("\"timestamp\" must be milliseconds since the epoch"))?,
    };
    let partition = match obj.get("partition") {
        None | Some(Json::Null) => None,
        Some(p) => Some(
            p.as_u64()
                .and_then(|p| u32::try_from(p).ok())
                .ok_or_else(|| anyhow!("\"partition\" must be a partition number"))?,
        ),
    };
    let headers = match obj.get("headers") {
        None | Some(Json::Null) => vec![],
        Some(Json::Object(h)) => h
            .iter()
            .map(|(k, v)| match v {
                Json::Null => Ok((k.clone(), None)),
                Json::String(s) => Ok((k.clone(), Some(s.as_bytes().to_vec()))),
                _ => bail!("header \"{k}\" must be a string or null"),
            })
            .collect::<anyhow::Result<_>>()?,
        Some(_) => bail!("\"headers\" must be an object of strings"),
    };
    Ok((
        partition,
        Record {
            key,
            value,
            timestamp,
            headers,
        },
    ))
}

fn bytes(v: &Json, encoding: Encoding) -> anyhow::Result<Option<Vec<u8>>> {
    if v.is_null() {
        return Ok(None);
    }
    let number = || {
        v.as_f64()
            .ok_or_else(|| anyhow!("expected a number for {encoding:?} encoding"))
    };
    Ok(Some(match encoding {
        Encoding::Json | Encoding::Auto => v.to_string().into_bytes(),
        Encoding::String => v
            .as_str()
            .ok_or_else(|| anyhow!("expected a string for string encoding"))?
            .as_bytes()
            .to_vec(),
        Encoding::Bigint => v
            .as_i64()
            .ok_or_else(|| anyhow!("expected an integer for bigint encoding"))?
            .to_be_bytes()
            .to_vec(),
        Encoding::Int => i32::try_from(
            v.as_i64()
                .ok_or_else(|| anyhow!("expected an integer for int encoding"))?,
        )?
        .to_be_bytes()
        .to_vec(),
        Encoding::Double => number()?.to_be_bytes().to_vec(),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.decode(
            v.as_str()
                .ok_or_else(|| anyhow!("expected a base64 string"))?,
        )?,
        Encoding::Avro => bail!(AVRO_HERE),
    }))
}

fn show(b: Option<&[u8]>, encoding: Encoding) -> anyhow::Result<Json> {
    let Some(b) = b else { return Ok(Json::Null) };
    let b64 = || Json::String(base64::engine::general_purpose::STANDARD.encode(b));
    Ok(match encoding {
        Encoding::Auto => match serde_json::from_slice::<Json>(b) {
            Ok(j) => j,
            Err(_) => match std::str::from_utf8(b) {
                Ok(s) => Json::String(s.to_string()),
                Err(_) => json!({ "base64": b64() }),
            },
        },
        Encoding::Json => serde_json::from_slice(b)
            .context("not JSON; try --key-encoding/--value-encoding auto")?,
        Encoding::String => Json::String(String::from_utf8_lossy(b).into_owned()),
        Encoding::Bigint => json!(i64::from_be_bytes(
            b.try_into()
                .map_err(|_| anyhow!("a bigint has 8 bytes, not {}", b.len()))?
        )),
        Encoding::Int => json!(i32::from_be_bytes(
            b.try_into()
                .map_err(|_| anyhow!("an int has 4 bytes, not {}", b.len()))?
        )),
        Encoding::Double => json!(f64::from_be_bytes(
            b.try_into()
                .map_err(|_| anyhow!("a double has 8 bytes, not {}", b.len()))?
        )),
        Encoding::Base64 => b64(),
        Encoding::Avro => bail!(AVRO_HERE),
    })
}

/// Avro is encoded by `ddsql topic` itself, which has the registry.
const AVRO_HERE: &str =
    "the avro encoding is done by `ddsql topic` with --schema-registry-url; send base64 here";

/// The Avro sides of `ddsql topic produce|consume`: each line's key or
/// value as Avro JSON ([`AvroJson`]) on one side, base64 of the record's
/// bytes on the other, so the topics and the server's `/topics` endpoints
/// see only bytes.
pub struct AvroLines {
    pub key: Option<AvroJson>,
    pub value: Option<AvroJson>,
}

impl AvroLines {
    /// For the sides of `encodings` that are [`Encoding::Avro`], the
    /// subjects `<topic>-key` and `<topic>-value` of `registry`; `None`
    /// when neither side is Avro.
    pub fn new(
        topic: &str,
        encodings: Encodings,
        registry: Option<&str>,
    ) -> anyhow::Result<Option<AvroLines>> {
        if encodings.key != Encoding::Avro && encodings.value != Encoding::Avro {
            return Ok(None);
        }
        let registry = registry.ok_or_else(|| {
            anyhow!("the avro encoding reads and writes schemas in a Schema Registry: give its URL with --schema-registry-url (`ddsql schema-registry` serves one)")
        })?;
        let registry = Arc::new(SchemaRegistry::new(registry));
        let side = |e: Encoding, side: &str| {
            (e == Encoding::Avro)
                .then(|| AvroJson::new(registry.clone(), format!("{topic}-{side}")))
        };
        Ok(Some(AvroLines {
            key: side(encodings.key, "key"),
            value: side(encodings.value, "value"),
        }))
    }

    /// The encodings the topics see: base64 for the Avro sides.
    pub fn wire(encodings: Encodings) -> Encodings {
        let wire = |e| {
            if e == Encoding::Avro {
                Encoding::Base64
            } else {
                e
            }
        };
        Encodings {
            key: wire(encodings.key),
            value: wire(encodings.value),
        }
    }

    fn sides(&self) -> [(&'static str, Option<&AvroJson>); 2] {
        [("key", self.key.as_ref()), ("value", self.value.as_ref())]
    }

    /// A line to produce, its Avro sides encoded (base64 of the bytes).
    pub fn encode_line(&self, line: &str) -> anyhow::Result<String> {
        if line.trim().is_empty() {
            return Ok(String::new());
        }
        let mut obj: Json = serde_json::from_str(line).context("not a JSON object")?;
        for (name, codec) in self.sides() {
            if let (Some(codec), Some(v)) = (codec, obj.get_mut(name)) {
                if !v.is_null() {
                    let bytes = codec.encode(v).map_err(|e| anyhow!("\"{name}\": {e}"))?;
                    *v = Json::String(base64::engine::general_purpose::STANDARD.encode(bytes));
                }
            }
        }
        Ok(obj.to_string())
    }

    /// A consumed line (base64 on the Avro sides), those sides decoded; a
    /// side that does not decode stays base64, with an `"error"` saying
    /// why.
    pub fn decode_line(&self, mut line: Json) -> anyhow::Result<Json> {
        let place = format!(
            "partition {} offset {}",
            line_place(&line, "partition"),
            line_place(&line, "offset")
        );
        for (name, codec) in self.sides() {
            if let (Some(codec), Some(v)) = (codec, line.get_mut(name)) {
                if let Some(text) = v.as_str() {
                    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
                    match codec.decode(&bytes) {
                        Ok(decoded) => *v = decoded,
                        // A record that is not Avro stays as base64 beside
                        // the reason, and the reading goes on.
                        Err(e) => {
                            let error = format!("{name} of {place} is not readable as Avro: {e}");
                            line["error"] = Json::String(error);
                        }
                    }
                }
            }
        }
        Ok(line)
    }
}

fn line_place(line: &Json, field: &str) -> String {
    line.get(field).map(Json::to_string).unwrap_or_default()
}

/// Lines read from `inner`, each passed through `map` (an error ends the
/// reading with it, as a read error of that line).
pub struct MappedLines<R, F> {
    inner: R,
    map: F,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: BufRead, F: FnMut(&str) -> anyhow::Result<String>> MappedLines<R, F> {
    pub fn new(inner: R, map: F) -> MappedLines<R, F> {
        MappedLines {
            inner,
            map,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl<R: BufRead, F: FnMut(&str) -> anyhow::Result<String>> std::io::Read for MappedLines<R, F> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead, F: FnMut(&str) -> anyhow::Result<String>> BufRead for MappedLines<R, F> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                return Ok(&[]);
            }
            let mapped = (self.map)(line.trim_end_matches(['\n', '\r']))
                .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
            self.buf = mapped.into_bytes();
            self.buf.push(b'\n');
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

/// The file in a data directory naming the server that holds it.
pub const SERVER_FILE: &str = "server.url";

/// Writes [`SERVER_FILE`] for the server at `url`; removed when dropped
/// (a server killed with SIGKILL leaves it, but then the directory is no
/// longer locked and the commands open it themselves).
pub struct ServerFile(PathBuf);

impl ServerFile {
    pub fn write(data_dir: &Path, url: &str) -> std::io::Result<ServerFile> {
        let path = data_dir.join(SERVER_FILE);
        std::fs::write(&path, format!("{url}\n"))?;
        Ok(ServerFile(path))
    }
}

impl Drop for ServerFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The topic commands against the server named in a data directory's
/// [`SERVER_FILE`], through its `/topics` endpoints.
pub struct Remote {
    url: String,
    agent: ureq::Agent,
}

impl Remote {
    /// The server holding `data_dir`, if one said so.
    pub fn of(data_dir: &Path) -> Option<Remote> {
        let url = std::fs::read_to_string(data_dir.join(SERVER_FILE)).ok()?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Some(Remote {
            url: url.trim().to_string(),
            agent,
        })
    }

    fn failed(&self, mut response: ureq::http::Response<ureq::Body>) -> anyhow::Error {
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let message = serde_json::from_str::<Json>(&text)
            .ok()
            .and_then(|j| j["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        anyhow!("{message}")
    }

    fn unreachable(&self, e: ureq::Error) -> anyhow::Error {
        anyhow!(
            "the server at {} that holds the data directory does not answer: {e}",
            self.url
        )
    }

    /// [`produce`] in the server: the count written.
    pub fn produce(
        &self,
        topic: &str,
        partitions: u32,
        mut lines: impl std::io::Read,
        encodings: Encodings,
    ) -> anyhow::Result<u64> {
        let response = self
            .agent
            .post(&format!("{}/topics/{}/records", self.url, encode(topic)))
            .query("partitions", partitions.to_string())
            .query("key_encoding", encodings.key.name())
            .query("value_encoding", encodings.value.name())
            .send(ureq::SendBody::from_reader(&mut lines))
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.failed(response));
        }
        let body: Json = response.into_body().read_json()?;
        body["produced"]
            .as_u64()
            .ok_or_else(|| anyhow!("the server answered {body}"))
    }

    /// [`consume`] in the server, each line given to `line`.
    pub fn consume(
        &self,
        topic: &str,
        max: Option<u64>,
        encodings: Encodings,
        headers: bool,
        mut line: impl FnMut(Json) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let mut request = self
            .agent
            .get(&format!("{}/topics/{}/records", self.url, encode(topic)))
            .query("key_encoding", encodings.key.name())
            .query("value_encoding", encodings.value.name())
            .query("headers", headers.to_string());
        if let Some(max) = max {
            request = request.query("max", max.to_string());
        }
        let response = request.call().map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.failed(response));
        }
        for text in std::io::BufReader::new(response.into_body().into_reader()).lines() {
            let text = text?;
            let shown: Json = serde_json::from_str(&text)?;
            // An error after the first lines comes as a JSON error object.
            if shown.get("@type").is_some() {
                bail!("{}", shown["message"].as_str().unwrap_or(&text));
            }
            if !line(shown)? {
                break;
            }
        }
        Ok(())
    }

    /// [`list`] in the server.
    pub fn list(&self) -> anyhow::Result<Vec<(String, u32, u64)>> {
        let response = self
            .agent
            .get(&format!("{}/topics", self.url))
            .call()
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.failed(response));
        }
        let body: Json = response.into_body().read_json()?;
        Ok(body
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    t["name"].as_str().unwrap_or_default().to_string(),
                    t["partitions"].as_u64().unwrap_or(0) as u32,
                    t["records"].as_u64().unwrap_or(0),
                )
            })
            .collect())
    }
}

/// A topic name as a URL path segment.
fn encode(topic: &str) -> String {
    percent_encoding::utf8_percent_encode(topic, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A URL path segment as the topic name it encodes.
pub fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}
