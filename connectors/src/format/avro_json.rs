//! Avro records as JSON, through `apache-avro`: what `ddsql topic produce`
//! and `ddsql topic consume` write and show with `--value-encoding avro`,
//! as Confluent's Avro console producer and consumer do, so a user can
//! look at a real Debezium topic from the shell.
//!
//! Records are in Confluent's wire format (a zero byte, the schema id, the
//! datum). A consumed record is read with its writer's schema, fetched
//! from the Schema Registry by id, and, given a reader schema, resolved
//! against it by the Avro specification's rules: `apache-avro` promotes
//! numbers, fills fields the writer lacks from their defaults, drops
//! fields the reader lacks, takes an enum's default for a symbol the
//! reader lacks and matches union branches in any order. A field the
//! reader renamed (listing the writer's name in its `aliases`) is renamed
//! here first, because `apache-avro` looks fields up by name only.
//!
//! JSON is the plain shape a ksqlDB user sees in PRINT: a union is its
//! value (for producing, Avro's own `{"branch": value}` form is accepted
//! too), an enum its symbol, `bytes` and `fixed` base64, a decimal its
//! exact digits with the schema's scale, as a string, dates, times and timestamps their numbers.
//!
//! The hot path of a pipeline does not come here: sources decode into
//! rows with [`super::avro`]'s own reader (see bench/NOTES.md for the
//! comparison with `apache-avro`).
//!
//! ```
//! use ddsql_connectors::format::avro_json::fingerprints;
//! let f = fingerprints(r#"{"type": "fixed", "name": "md5", "size": 16, "doc": "a hash"}"#).unwrap();
//! assert_eq!(f.canonical, r#"{"name":"md5","type":"fixed","size":16}"#);
//! assert_eq!(f.rabin.len(), 16);
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::schema::{Name, NamesRef, ResolvedSchema};
use apache_avro::types::Value;
use apache_avro::Schema;
use base64::Engine as _;
use serde_json::{json, Map, Value as Json};

use crate::schema_registry::{SchemaRegistry, SchemaType};

/// A schema's Parsing Canonical Form and its fingerprints (hex), as the
/// Avro specification defines them: CRC-64-AVRO (Rabin, little-endian
/// bytes as in single-object encoding), MD5 and SHA-256 of the canonical
/// form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprints {
    pub canonical: String,
    pub rabin: String,
    pub md5: String,
    pub sha256: String,
}

///
/// The form keeps only the attributes that parse data (the specification's
/// [STRIP] rule): `apache-avro` 0.21 keeps a decimal's `precision` and
/// `scale` in it, so logical-type attributes are taken out before it
/// prints the form; fastavro and Java's SchemaNormalization agree.
pub fn fingerprints(text: &str) -> Result<Fingerprints, String> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| format!("the Avro schema is not JSON: {e}"))?;
    let schema = parse(&strip_logical(json).to_string())?;
    Ok(Fingerprints {
        canonical: schema.canonical_form(),
        rabin: schema
            .fingerprint::<apache_avro::rabin::Rabin>()
            .to_string(),
        md5: schema.fingerprint::<md5::Md5>().to_string(),
        sha256: schema.fingerprint::<sha2::Sha256>().to_string(),
    })
}

/// `schema` (Avro's JSON) without logical types' attributes.
fn strip_logical(schema: Json) -> Json {
    match schema {
        Json::Object(o) => {
            let is_type = o.contains_key("type");
            Json::Object(
                o.into_iter()
                    .filter(|(k, _)| {
                        !(is_type && matches!(k.as_str(), "logicalType" | "precision" | "scale"))
                    })
                    .map(|(k, v)| (k, strip_logical(v)))
                    .collect(),
            )
        }
        Json::Array(a) => Json::Array(a.into_iter().map(strip_logical).collect()),
        other => other,
    }
}

fn parse(text: &str) -> Result<Schema, String> {
    Schema::parse_str(text).map_err(|e| format!("not a valid Avro schema: {e}"))
}

/// A writer's schema and the schemas it references.
type Writer = (Schema, Vec<Schema>);

/// One side (key or value) of a topic's records as Avro JSON.
pub struct AvroJson {
    registry: Arc<SchemaRegistry>,
    subject: String,
    /// The schema produced records are written with, and its id.
    writes: Option<(Schema, u32)>,
    /// The schema consumed records are resolved against, if not their
    /// writer's own.
    reader: Option<Schema>,
    /// Writers' schemas by id, with the schemas they reference.
    writers: Mutex<HashMap<u32, Arc<Writer>>>,
}

impl AvroJson {
    /// For the subject `subject` (`<topic>-value`, say) of `registry`.
    pub fn new(registry: Arc<SchemaRegistry>, subject: String) -> AvroJson {
        AvroJson {
            registry,
            subject,
            writes: None,
            reader: None,
            writers: Mutex::default(),
        }
    }

    /// Produces with the schema `text`, registered under the subject (the
    /// registry gives an equal schema its existing id).
    pub fn writing(mut self, text: &str) -> Result<AvroJson, String> {
        let schema = parse(text)?;
        let id = self
            .registry
            .register(&self.subject, SchemaType::Avro, text)?;
        self.writes = Some((schema, id));
        Ok(self)
    }

    /// Produces with the subject's latest registered schema.
    pub fn writing_latest(self) -> Result<AvroJson, String> {
        let latest = self.registry.latest(&self.subject)?.ok_or_else(|| {
            format!(
                "subject {} has no schema: give one to write with (--value-schema)",
                self.subject
            )
        })?;
        self.writing(&latest.text)
    }

    /// Consumes records resolved against the reader schema `text`.
    pub fn reading_as(mut self, text: &str) -> Result<AvroJson, String> {
        self.reader = Some(parse(text)?);
        Ok(self)
    }

    /// `value` (JSON in the shape the module docs describe) as a record in
    /// Confluent's wire format.
    pub fn encode(&self, value: &Json) -> Result<Vec<u8>, String> {
        let (schema, id) = self.writes.as_ref().ok_or_else(|| {
            format!(
                "no Avro schema to write subject {} with: give one (--value-schema)",
                self.subject
            )
        })?;
        let resolved = ResolvedSchema::try_from(schema).map_err(|e| e.to_string())?;
        let datum = from_json(value, schema, resolved.get_names(), &None)?;
        let mut out = vec![0];
        out.extend_from_slice(&id.to_be_bytes());
        out.extend(apache_avro::to_avro_datum(schema, datum).map_err(|e| e.to_string())?);
        Ok(out)
    }

    /// A record in Confluent's wire format as JSON, read with its writer's
    /// schema and resolved against the reader schema, if any.
    pub fn decode(&self, bytes: &[u8]) -> Result<Json, String> {
        let (id, mut datum) = match bytes {
            [0, a, b, c, d, rest @ ..] => (u32::from_be_bytes([*a, *b, *c, *d]), rest),
            _ => {
                return Err("not in Confluent's wire format (no magic byte 0 and schema id)".into())
            }
        };
        let writer = self.writer(id)?;
        let (schema, referenced) = &*writer;
        let mut schemata = vec![schema];
        schemata.extend(referenced);
        let value = apache_avro::from_avro_datum_schemata(schema, schemata, &mut datum, None)
            .map_err(|e| format!("schema id {id}: {e}"))?;
        if !datum.is_empty() {
            return Err(format!("{} bytes left after the record", datum.len()));
        }
        match &self.reader {
            None => {
                let mut all = vec![schema];
                all.extend(referenced);
                let resolved = ResolvedSchema::try_from(all).map_err(|e| e.to_string())?;
                to_json(value, schema, resolved.get_names())
            }
            Some(reader) => {
                let resolved = ResolvedSchema::try_from(reader).map_err(|e| e.to_string())?;
                let names = resolved.get_names();
                let mut all = vec![schema];
                all.extend(referenced);
                let writer_names = ResolvedSchema::try_from(all).map_err(|e| e.to_string())?;
                readable(schema, reader, writer_names.get_names(), names).map_err(|e| {
                    format!("the writer's schema (id {id}) cannot be read with the reader's: {e}")
                })?;
                let value = prepare(value, reader, names).resolve(reader).map_err(|e| {
                    format!(
                        "the writer's schema (id {id}) does not resolve against the reader's: {e}"
                    )
                })?;
                to_json(value, reader, names)
            }
        }
    }

    fn writer(&self, id: u32) -> Result<Arc<Writer>, String> {
        if let Some(w) = self.writers.lock().unwrap().get(&id) {
            return Ok(w.clone());
        }
        let registered = self.registry.by_id(id)?;
        if registered.schema_type != SchemaType::Avro {
            return Err(format!(
                "schema id {id} is a {:?} schema, not Avro",
                registered.schema_type
            ));
        }
        let texts: Vec<String> = self
            .registry
            .referenced(&registered)?
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        let parsed = Schema::parse_str_with_list(&registered.text, texts)
            .map_err(|e| format!("schema id {id}: {e}"))?;
        let w = Arc::new(parsed);
        self.writers.lock().unwrap().insert(id, w.clone());
        Ok(w)
    }
}

/// Whether data of `writer` can be read as `reader`, by the
/// specification's rules for what must match before any datum is read.
/// `apache-avro` 0.21's own check (`SchemaCompatibility::can_read`) refuses
/// equal decimals, enum defaults and a reader that is one branch of the
/// writer's union, and its value resolution lets a long become an int;
/// this is the check it does not do right. Union branches and enum
/// symbols are checked per datum, by the resolution.
fn readable(writer: &Schema, reader: &Schema, wn: &NamesRef, rn: &NamesRef) -> Result<(), String> {
    let (w, r) = (deref(writer, wn), deref(reader, rn));
    match (w, r) {
        (Schema::Union(_), _) => Ok(()),
        (_, Schema::Union(u)) => {
            if u.variants().iter().any(|b| readable(w, b, wn, rn).is_ok()) {
                Ok(())
            } else {
                Err(format!(
                    "no branch of the reader's union reads the writer's {}",
                    kind(w)
                ))
            }
        }
        (Schema::Record(wr), Schema::Record(rr)) => {
            for field in &rr.fields {
                let names = std::iter::once(&field.name).chain(field.aliases.iter().flatten());
                let written = names
                    .clone()
                    .find_map(|n| wr.fields.iter().find(|f| f.name == *n));
                match (written, &field.default) {
                    (Some(f), _) => readable(&f.schema, &field.schema, wn, rn)
                        .map_err(|e| format!("field {}: {e}", field.name))?,
                    (None, Some(_)) => {}
                    (None, None) => {
                        return Err(format!(
                            "the reader's field {} has no default and the writer has no such field",
                            field.name
                        ))
                    }
                }
            }
            Ok(())
        }
        (Schema::Array(wa), Schema::Array(ra)) => readable(&wa.items, &ra.items, wn, rn),
        (Schema::Map(wm), Schema::Map(rm)) => readable(&wm.types, &rm.types, wn, rn),
        (Schema::Enum(_), Schema::Enum(_)) => Ok(()),
        (Schema::Fixed(wf), Schema::Fixed(rf)) if wf.size == rf.size => Ok(()),
        (Schema::Decimal(wd), Schema::Decimal(rd))
            if wd.precision == rd.precision && wd.scale == rd.scale =>
        {
            Ok(())
        }
        (Schema::Decimal(_), Schema::Decimal(_)) => {
            Err("decimals of another precision or scale".into())
        }
        (w, r) => {
            let promotes = matches!(
                (kind(w).as_str(), kind(r).as_str()),
                ("int", "long" | "float" | "double")
                    | ("long", "float" | "double")
                    | ("float", "double")
                    | ("string", "bytes")
                    | ("bytes", "string")
            );
            if kind(w) == kind(r) || promotes {
                Ok(())
            } else {
                Err(format!(
                    "the writer's {} cannot be read as {}",
                    kind(w),
                    kind(r)
                ))
            }
        }
    }
}

/// `value` made ready for `apache-avro`'s resolution against `reader`:
/// fields the reader knows by an alias renamed (see the module docs), and
/// decimals sign-extended to the width of the reader's precision, because
/// its resolution refuses a `bytes` decimal shorter than that (the
/// specification's minimal two's complement: `0.0005` at precision 4 is
/// one byte).
fn prepare(value: Value, reader: &Schema, names: &NamesRef) -> Value {
    match (value, reader) {
        (v, Schema::Ref { name }) => match names.get(name) {
            Some(s) => prepare(v, s, names),
            None => v,
        },
        (Value::Union(i, inner), reader) => {
            Value::Union(i, Box::new(prepare(*inner, reader, names)))
        }
        (v, Schema::Union(u)) => {
            let same_kind = u.variants().iter().find(|s| {
                let s = match s {
                    Schema::Ref { name } => names.get(name).copied().unwrap_or(s),
                    s => s,
                };
                matches!(
                    (&v, s),
                    (Value::Record(_), Schema::Record(_))
                        | (Value::Array(_), Schema::Array(_))
                        | (Value::Map(_), Schema::Map(_))
                )
            });
            match same_kind {
                Some(s) => prepare(v, s, names),
                None => v,
            }
        }
        (Value::Record(mut fields), Schema::Record(r)) => {
            for field in &r.fields {
                if fields.iter().any(|(n, _)| *n == field.name) {
                    continue;
                }
                let aliases = field.aliases.iter().flatten();
                if let Some(slot) = fields
                    .iter_mut()
                    .find(|(n, _)| aliases.clone().any(|a| a == n))
                {
                    slot.0 = field.name.clone();
                }
            }
            Value::Record(
                fields
                    .into_iter()
                    .map(|(n, v)| match r.fields.iter().find(|f| f.name == n) {
                        Some(f) => {
                            let v = prepare(v, &f.schema, names);
                            (n, v)
                        }
                        None => (n, v),
                    })
                    .collect(),
            )
        }
        (Value::Array(items), Schema::Array(a)) => Value::Array(
            items
                .into_iter()
                .map(|v| prepare(v, &a.items, names))
                .collect(),
        ),
        (Value::Map(m), Schema::Map(t)) => Value::Map(
            m.into_iter()
                .map(|(k, v)| (k, prepare(v, &t.types, names)))
                .collect(),
        ),
        (Value::Decimal(d), Schema::Decimal(ds)) => {
            let Ok(mut bytes) = Vec::<u8>::try_from(&d) else {
                return Value::Decimal(d);
            };
            // Bytes enough for `precision` digits: 2^(8n-1) > 10^precision.
            let width = ((ds.precision as f64 * 10f64.log2() + 1.0) / 8.0).ceil() as usize;
            if bytes.len() < width {
                let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                    0xff
                } else {
                    0
                };
                bytes.splice(0..0, std::iter::repeat_n(fill, width - bytes.len()));
            }
            Value::Decimal(apache_avro::Decimal::from(bytes))
        }
        (v, _) => v,
    }
}

fn base64(b: &[u8]) -> Json {
    Json::String(base64::engine::general_purpose::STANDARD.encode(b))
}

/// `schema`, or the type it refers to.
fn deref<'a>(schema: &'a Schema, names: &'a NamesRef) -> &'a Schema {
    match schema {
        Schema::Ref { name } => names.get(name).copied().unwrap_or(schema),
        s => s,
    }
}

/// An Avro value of `schema` as JSON (the module docs' shape).
fn to_json(v: Value, schema: &Schema, names: &NamesRef) -> Result<Json, String> {
    Ok(match (v, deref(schema, names)) {
        (Value::Union(i, v), Schema::Union(u)) => {
            let branch = u
                .variants()
                .get(i as usize)
                .ok_or("a union branch out of range")?;
            to_json(*v, branch, names)?
        }
        (Value::Array(items), Schema::Array(a)) => Json::Array(
            items
                .into_iter()
                .map(|v| to_json(v, &a.items, names))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Map(m), Schema::Map(t)) => {
            let mut m: Vec<_> = m.into_iter().collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(
                m.into_iter()
                    .map(|(k, v)| Ok((k, to_json(v, &t.types, names)?)))
                    .collect::<Result<Map<_, _>, String>>()?,
            )
        }
        (Value::Record(fields), Schema::Record(r)) => Json::Object(
            fields
                .into_iter()
                .map(|(k, v)| {
                    let field = r
                        .fields
                        .iter()
                        .find(|f| f.name == k)
                        .ok_or_else(|| format!("record {} has no field {k}", r.name.name))?;
                    Ok((k, to_json(v, &field.schema, names)?))
                })
                .collect::<Result<Map<_, _>, String>>()?,
        ),
        (Value::Decimal(d), Schema::Decimal(ds)) => {
            let bytes: Vec<u8> = Vec::try_from(&d).map_err(|e| e.to_string())?;
            let unscaled = super::decimal_from_bytes(&bytes)?;
            Json::String(decimal_text(unscaled, ds.scale))
        }
        (v, _) => scalar(v)?,
    })
}

/// `unscaled` at `scale` as its digits with a point: `1234, 2` is `12.34`.
fn decimal_text(unscaled: i128, scale: usize) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

fn scalar(v: Value) -> Result<Json, String> {
    Ok(match v {
        Value::Null => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => json!(i),
        Value::Long(i)
        | Value::TimeMicros(i)
        | Value::TimestampMillis(i)
        | Value::TimestampMicros(i)
        | Value::TimestampNanos(i)
        | Value::LocalTimestampMillis(i)
        | Value::LocalTimestampMicros(i)
        | Value::LocalTimestampNanos(i) => json!(i),
        Value::Float(f) => json!(f as f64),
        Value::Double(f) => json!(f),
        Value::Bytes(b) | Value::Fixed(_, b) => base64(&b),
        Value::String(s) | Value::Enum(_, s) => Json::String(s),
        Value::Uuid(u) => Json::String(u.to_string()),
        Value::BigDecimal(d) => Json::String(d.to_string()),
        Value::Duration(d) => {
            let bytes: [u8; 12] = d.into();
            base64(&bytes)
        }
        v => return Err(format!("an Avro value that does not fit its schema: {v:?}")),
    })
}

/// `j` as a value of `schema`; `namespace` is the enclosing one, for
/// references by short name.
fn from_json(
    j: &Json,
    schema: &Schema,
    names: &NamesRef,
    namespace: &Option<String>,
) -> Result<Value, String> {
    let wrong = || format!("{j} is not a {}", kind(schema));
    let int = || j.as_i64().ok_or_else(wrong);
    Ok(match schema {
        Schema::Ref { name } => {
            let s = names
                .get(name)
                .or_else(|| {
                    names.get(&Name {
                        name: name.name.clone(),
                        namespace: namespace.clone(),
                    })
                })
                .ok_or_else(|| format!("unknown type '{}'", name.name))?;
            return from_json(j, s, names, namespace);
        }
        Schema::Null if j.is_null() => Value::Null,
        Schema::Null => return Err(wrong()),
        Schema::Boolean => Value::Boolean(j.as_bool().ok_or_else(wrong)?),
        Schema::Int => Value::Int(i32::try_from(int()?).map_err(|_| wrong())?),
        Schema::Date => Value::Date(i32::try_from(int()?).map_err(|_| wrong())?),
        Schema::TimeMillis => Value::TimeMillis(i32::try_from(int()?).map_err(|_| wrong())?),
        Schema::Long => Value::Long(int()?),
        Schema::TimeMicros => Value::TimeMicros(int()?),
        Schema::TimestampMillis => Value::TimestampMillis(int()?),
        Schema::TimestampMicros => Value::TimestampMicros(int()?),
        Schema::TimestampNanos => Value::TimestampNanos(int()?),
        Schema::LocalTimestampMillis => Value::LocalTimestampMillis(int()?),
        Schema::LocalTimestampMicros => Value::LocalTimestampMicros(int()?),
        Schema::LocalTimestampNanos => Value::LocalTimestampNanos(int()?),
        Schema::Float => Value::Float(j.as_f64().ok_or_else(wrong)? as f32),
        Schema::Double => Value::Double(j.as_f64().ok_or_else(wrong)?),
        Schema::String => Value::String(j.as_str().ok_or_else(wrong)?.to_string()),
        Schema::Uuid => Value::Uuid(j.as_str().and_then(|s| s.parse().ok()).ok_or_else(wrong)?),
        Schema::Bytes => Value::Bytes(from_base64(j).ok_or_else(wrong)?),
        Schema::Fixed(f) => {
            let b = from_base64(j).ok_or_else(wrong)?;
            if b.len() != f.size {
                return Err(format!(
                    "{j} has {} bytes, not the fixed {}",
                    b.len(),
                    f.size
                ));
            }
            Value::Fixed(f.size, b)
        }
        Schema::Duration => {
            let b: [u8; 12] = from_base64(j)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(wrong)?;
            Value::Duration(b.into())
        }
        Schema::Decimal(d) => {
            let text = match j {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                _ => return Err(wrong()),
            };
            let scale = u8::try_from(d.scale).map_err(|_| "a decimal scale over 255")?;
            let unscaled = ddsql_sql::eval::parse_decimal(&text)
                .ok_or_else(wrong)
                .and_then(|(u, s)| super::rescale(u, s, scale))
                .map_err(|e| format!("{j}: {e}"))?;
            Value::Decimal(apache_avro::Decimal::from(super::decimal_to_bytes(
                unscaled,
            )))
        }
        Schema::BigDecimal => {
            let text = match j {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                _ => return Err(wrong()),
            };
            Value::BigDecimal(text.parse().map_err(|_| wrong())?)
        }
        Schema::Enum(e) => {
            let s = j.as_str().ok_or_else(wrong)?;
            let i = e
                .symbols
                .iter()
                .position(|x| x == s)
                .ok_or_else(|| format!("{j} is not a symbol of enum {}", e.name.name))?;
            Value::Enum(i as u32, s.to_string())
        }
        Schema::Array(a) => Value::Array(
            j.as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(|v| from_json(v, &a.items, names, namespace))
                .collect::<Result<_, _>>()?,
        ),
        Schema::Map(m) => Value::Map(
            j.as_object()
                .ok_or_else(wrong)?
                .iter()
                .map(|(k, v)| Ok((k.clone(), from_json(v, &m.types, names, namespace)?)))
                .collect::<Result<_, String>>()?,
        ),
        Schema::Record(r) => {
            let o = j.as_object().ok_or_else(wrong)?;
            if let Some(k) = o.keys().find(|k| !r.fields.iter().any(|f| &f.name == *k)) {
                return Err(format!("record {} has no field \"{k}\"", r.name.name));
            }
            let ns = r.name.namespace.clone().or_else(|| namespace.clone());
            Value::Record(
                r.fields
                    .iter()
                    .map(|f| {
                        let v = match (o.get(&f.name), &f.default) {
                            (Some(v), _) => v,
                            (None, Some(default)) => default,
                            (None, None) => {
                                return Err(format!(
                                    "record {} needs field \"{}\" (it has no default)",
                                    r.name.name, f.name
                                ))
                            }
                        };
                        let v = from_json(v, &f.schema, names, &ns)
                            .map_err(|e| format!("field {}: {e}", f.name))?;
                        Ok((f.name.clone(), v))
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        Schema::Union(u) => {
            // Avro's JSON encoding names the branch: {"string": "a"}.
            if let Json::Object(o) = j {
                if let [(branch, v)] = o.iter().collect::<Vec<_>>().as_slice() {
                    if let Some(i) = u
                        .variants()
                        .iter()
                        .position(|s| kind(s) == **branch || named(s) == Some(branch))
                    {
                        let inner = from_json(v, &u.variants()[i], names, namespace)?;
                        return Ok(Value::Union(i as u32, Box::new(inner)));
                    }
                }
            }
            let branches = u.variants();
            let found = branches.iter().enumerate().find_map(|(i, s)| {
                from_json(j, s, names, namespace)
                    .ok()
                    .map(|v| Value::Union(i as u32, Box::new(v)))
            });
            found.ok_or_else(|| {
                format!(
                    "{j} fits no branch of the union [{}]",
                    branches.iter().map(kind).collect::<Vec<_>>().join(", ")
                )
            })?
        }
    })
}

fn from_base64(j: &Json) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(j.as_str()?)
        .ok()
}

/// A named type's full name.
fn named(s: &Schema) -> Option<&str> {
    match s {
        Schema::Record(r) => Some(&r.name.name),
        Schema::Enum(e) => Some(&e.name.name),
        Schema::Fixed(f) => Some(&f.name.name),
        Schema::Ref { name } => Some(&name.name),
        _ => None,
    }
}

/// A schema's type name, as Avro's JSON encoding names a union branch.
fn kind(s: &Schema) -> String {
    match s {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int | Schema::Date | Schema::TimeMillis => "int".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::String | Schema::Uuid => "string".into(),
        Schema::Bytes | Schema::BigDecimal => "bytes".into(),
        Schema::Decimal(d) => kind(&d.inner),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        Schema::Union(_) => "union".into(),
        Schema::Record(r) => r.name.fullname(None),
        Schema::Enum(e) => e.name.fullname(None),
        Schema::Fixed(f) => f.name.fullname(None),
        Schema::Ref { name } => name.fullname(None),
        Schema::Duration => "fixed".into(),
        _ => "long".into(),
    }
}
