//! A Confluent Schema Registry client, and a small in-memory registry that
//! speaks the same REST contract.
//!
//! Records in AVRO, JSON_SR and PROTOBUF carry Confluent's wire format: a
//! zero magic byte, then the 4-byte big-endian id under which the writer
//! registered its schema. ddsql uses the registry three ways:
//!
//! - **inference**: `CREATE STREAM s WITH (kafka_topic='t',
//!   value_format='AVRO')` without columns takes them from the latest
//!   schema of subject `t-value` (and `t-key` for the key), as ksqlDB does;
//! - **reading**: a record's schema id names the writer's schema, fetched
//!   once by id and cached, and the record is read with it (Avro needs the
//!   writer's schema to read anything);
//! - **writing**: a sink registers the schema of its rows under
//!   `<topic>-value` / `<topic>-key` (the topic name strategy) and writes
//!   the id it gets.
//!
//! [`MemoryRegistry`] is a registry of the calls the client makes, kept in
//! memory and served over HTTP on a local port: tests and demos use it as
//! they would use Confluent's.
//!
//! ```
//! use ddsql_connectors::schema_registry::{MemoryRegistry, SchemaRegistry, SchemaType};
//! let server = MemoryRegistry::start().unwrap();
//! let client = SchemaRegistry::new(&server.url());
//! let id = client.register("orders-value", SchemaType::Avro, r#""long""#).unwrap();
//! assert_eq!(client.by_id(id).unwrap().text, r#""long""#);
//! assert_eq!(client.latest("orders-value").unwrap().unwrap().id, id);
//! assert!(client.latest("users-value").unwrap().is_none());
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{json, Value as Json};

/// The kind of a registered schema (`schemaType`; AVRO when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchemaType {
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }

    fn parse(name: Option<&str>) -> SchemaType {
        match name {
            Some("JSON") => SchemaType::Json,
            Some("PROTOBUF") => SchemaType::Protobuf,
            _ => SchemaType::Avro,
        }
    }
}

/// A schema as the registry holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredSchema {
    pub id: u32,
    pub schema_type: SchemaType,
    /// The schema's text (for Avro, its JSON).
    pub text: String,
    /// The schemas it imports (a `.proto` file's `import "event.proto"`).
    pub references: Vec<SchemaReference>,
}

/// A schema another one refers to by `name` (for Protobuf, the imported
/// file's name): version `version` of `subject`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

impl SchemaReference {
    fn to_json(&self) -> Json {
        json!({"name": self.name, "subject": self.subject, "version": self.version})
    }
}

/// The `references` of a registry answer or request.
fn references(body: &Json) -> Vec<SchemaReference> {
    body["references"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(SchemaReference {
                name: r["name"].as_str()?.to_string(),
                subject: r["subject"].as_str()?.to_string(),
                version: r["version"].as_u64()? as u32,
            })
        })
        .collect()
}

/// A client of a Confluent Schema Registry, with ids cached.
pub struct SchemaRegistry {
    url: String,
    agent: ureq::Agent,
    by_id: RwLock<HashMap<u32, Arc<RegisteredSchema>>>,
    registered: Mutex<HashMap<(String, String), u32>>,
}

impl std::fmt::Debug for SchemaRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SchemaRegistry({})", self.url)
    }
}

impl SchemaRegistry {
    pub fn new(url: &str) -> SchemaRegistry {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        SchemaRegistry {
            url: url.trim_end_matches('/').to_string(),
            agent,
            by_id: RwLock::default(),
            registered: Mutex::default(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn call(&self, method: &str, path: &str, body: Option<Json>) -> Result<(u16, Json), String> {
        let url = format!("{}{path}", self.url);
        let unreachable = |e: ureq::Error| {
            format!(
                "cannot reach the Schema Registry at {}: {e} (check --schema-registry-url)",
                self.url
            )
        };
        let mut response = match body {
            Some(body) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .send_json(body)
                .map_err(unreachable)?,
            None if method == "DELETE" => self.agent.delete(&url).call().map_err(unreachable)?,
            None => self.agent.get(&url).call().map_err(unreachable)?,
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading the Schema Registry's answer to {method} {path}: {e}"))?;
        let json = serde_json::from_str(&text).unwrap_or(Json::String(text));
        Ok((status, json))
    }

    fn failure(method: &str, path: &str, status: u16, body: &Json) -> String {
        let message = body["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        format!("the Schema Registry answered {method} {path} with {status}: {message}")
    }

    /// The schema registered under `id`, fetched once.
    pub fn by_id(&self, id: u32) -> Result<Arc<RegisteredSchema>, String> {
        if let Some(s) = self.by_id.read().unwrap().get(&id) {
            return Ok(s.clone());
        }
        let path = format!("/schemas/ids/{id}");
        let (status, body) = self.call("GET", &path, None)?;
        if status != 200 {
            return Err(Self::failure("GET", &path, status, &body));
        }
        let schema = Arc::new(RegisteredSchema {
            id,
            schema_type: SchemaType::parse(body["schemaType"].as_str()),
            text: body["schema"]
                .as_str()
                .ok_or_else(|| format!("GET {path}: the answer has no schema"))?
                .to_string(),
            references: references(&body),
        });
        self.by_id.write().unwrap().insert(id, schema.clone());
        Ok(schema)
    }

    /// The latest schema of `subject`, or `None` if there is no such subject.
    pub fn latest(&self, subject: &str) -> Result<Option<RegisteredSchema>, String> {
        self.version(subject, "latest")
    }

    /// Version `version` (a number or `latest`) of `subject`, or `None`.
    fn version(&self, subject: &str, version: &str) -> Result<Option<RegisteredSchema>, String> {
        let path = format!("/subjects/{subject}/versions/{version}");
        let (status, body) = self.call("GET", &path, None)?;
        match status {
            200 => Ok(Some(RegisteredSchema {
                id: body["id"]
                    .as_u64()
                    .ok_or_else(|| format!("GET {path}: the answer has no id"))?
                    as u32,
                schema_type: SchemaType::parse(body["schemaType"].as_str()),
                text: body["schema"]
                    .as_str()
                    .ok_or_else(|| format!("GET {path}: the answer has no schema"))?
                    .to_string(),
                references: references(&body),
            })),
            404 => Ok(None),
            _ => Err(Self::failure("GET", &path, status, &body)),
        }
    }

    /// Registers `text` under `subject` (a no-op if it is already there)
    /// and returns its id.
    pub fn register(&self, subject: &str, ty: SchemaType, text: &str) -> Result<u32, String> {
        let key = (subject.to_string(), text.to_string());
        if let Some(id) = self.registered.lock().unwrap().get(&key) {
            return Ok(*id);
        }
        let path = format!("/subjects/{subject}/versions");
        let mut body = json!({ "schema": text });
        if ty != SchemaType::Avro {
            body["schemaType"] = json!(ty.name());
        }
        let (status, answer) = self.call("POST", &path, Some(body))?;
        if status != 200 {
            return Err(Self::failure("POST", &path, status, &answer));
        }
        let id = answer["id"]
            .as_u64()
            .ok_or_else(|| format!("POST {path}: the answer has no id"))? as u32;
        self.registered.lock().unwrap().insert(key, id);
        Ok(id)
    }
}

impl SchemaRegistry {
    /// Every schema `schema` refers to, directly or through another, as
    /// `(name, text)`: what a `.proto` file's imports resolve to.
    pub fn referenced(&self, schema: &RegisteredSchema) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut pending = schema.references.clone();
        while let Some(r) = pending.pop() {
            if out.iter().any(|(name, _)| *name == r.name) {
                continue;
            }
            let held = self
                .version(&r.subject, &r.version.to_string())?
                .ok_or_else(|| {
                    format!(
                        "schema {} refers to {} (version {} of subject {}), which the registry does not have",
                        schema.id, r.name, r.version, r.subject
                    )
                })?;
            pending.extend(held.references);
            out.push((r.name, held.text));
        }
        Ok(out)
    }

    /// Deletes `subject` and its versions (`DROP ... DELETE TOPIC`); a
    /// missing subject is not an error. The schemas keep their ids, as in
    /// Confluent's registry, for records that still name them.
    pub fn delete_subject(&self, subject: &str) -> Result<(), String> {
        let path = format!("/subjects/{subject}");
        let (status, body) = self.call("DELETE", &path, None)?;
        if status != 200 && status != 404 {
            return Err(Self::failure("DELETE", &path, status, &body));
        }
        self.registered
            .lock()
            .unwrap()
            .retain(|(s, _), _| s != subject);
        Ok(())
    }
}

/// The registry's state: schemas by id, and each subject's versions.
#[derive(Default)]
struct Store {
    schemas: BTreeMap<u32, (SchemaType, String)>,
    references: HashMap<u32, Vec<SchemaReference>>,
    subjects: HashMap<String, Vec<u32>>,
}

impl Store {
    fn references_json(&self, id: u32) -> Json {
        Json::Array(
            self.references
                .get(&id)
                .into_iter()
                .flatten()
                .map(SchemaReference::to_json)
                .collect(),
        )
    }

    fn handle(&mut self, method: &str, path: &str, body: &[u8]) -> (u16, Json) {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let not_found =
            |code: u32, message: String| (404, json!({"error_code": code, "message": message}));
        match (method, parts.as_slice()) {
            ("GET", ["subjects"]) => {
                let mut names: Vec<&String> = self.subjects.keys().collect();
                names.sort();
                (200, json!(names))
            }
            ("GET", ["schemas", "ids", id]) => {
                match id.parse::<u32>().ok().and_then(|i| self.schemas.get(&i)) {
                    Some((ty, text)) => (
                        200,
                        json!({"schema": text, "schemaType": ty.name(), "references": self.references_json(id.parse().unwrap_or_default())}),
                    ),
                    None => not_found(40403, format!("Schema {id} not found")),
                }
            }
            ("GET", ["subjects", subject, "versions", version]) => {
                let Some(versions) = self.subjects.get(*subject) else {
                    return not_found(40401, format!("Subject '{subject}' not found."));
                };
                let index = match *version {
                    "latest" => versions.len().checked_sub(1),
                    v => v.parse::<usize>().ok().and_then(|v| v.checked_sub(1)),
                };
                match index.and_then(|i| versions.get(i).map(|id| (i, *id))) {
                    Some((i, id)) => {
                        let (ty, text) = &self.schemas[&id];
                        (
                            200,
                            json!({"subject": subject, "version": i + 1, "id": id, "schema": text, "schemaType": ty.name(), "references": self.references_json(id)}),
                        )
                    }
                    None => not_found(40402, format!("Version {version} not found.")),
                }
            }
            ("DELETE", ["subjects", subject]) => match self.subjects.remove(*subject) {
                Some(versions) => (200, json!((1..=versions.len()).collect::<Vec<_>>())),
                None => not_found(40401, format!("Subject '{subject}' not found.")),
            },
            ("POST", ["subjects", subject, "versions"]) => {
                let Ok(request) = serde_json::from_slice::<Json>(body) else {
                    return (
                        422,
                        json!({"error_code": 42201, "message": "the body is not JSON"}),
                    );
                };
                let Some(text) = request["schema"].as_str() else {
                    return (
                        422,
                        json!({"error_code": 42201, "message": "the body has no schema"}),
                    );
                };
                let ty = SchemaType::parse(request["schemaType"].as_str());
                let same = |(_, (t, s)): &(&u32, &(SchemaType, String))| {
                    *t == ty && same_schema(ty, s, text)
                };
                // An `id` in the body imports the schema under that id, as
                // Confluent's registry does in IMPORT mode.
                let id = match request["id"].as_u64() {
                    Some(id) => match self.schemas.get(&(id as u32)) {
                        Some((t, s)) if *t != ty || !same_schema(ty, s, text) => {
                            return (
                                422,
                                json!({"error_code": 42205, "message": format!("schema id {id} already holds another schema")}),
                            )
                        }
                        _ => id as u32,
                    },
                    None => match self.schemas.iter().find(same) {
                        Some((id, _)) => *id,
                        None => self.schemas.keys().next_back().map_or(1, |last| last + 1),
                    },
                };
                self.schemas.insert(id, (ty, text.to_string()));
                let refs = references(&request);
                if !refs.is_empty() {
                    self.references.insert(id, refs);
                }
                let versions = self.subjects.entry(subject.to_string()).or_default();
                if !versions.contains(&id) {
                    versions.push(id);
                }
                (200, json!({"id": id}))
            }
            _ => not_found(404, format!("no route for {method} {path}")),
        }
    }
}

/// Whether two registrations are the same schema: for AVRO, the same
/// Parsing Canonical Form (apache-avro's), so a schema a serializer
/// re-prints (fastavro, the Java client) keeps its id, as in Confluent's
/// registry; otherwise the same text.
fn same_schema(ty: SchemaType, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if ty != SchemaType::Avro {
        return false;
    }
    match (
        apache_avro::Schema::parse_str(a),
        apache_avro::Schema::parse_str(b),
    ) {
        (Ok(a), Ok(b)) => a.canonical_form() == b.canonical_form(),
        _ => false,
    }
}

/// An in-memory Schema Registry on a local port (see the module docs).
/// It stops when dropped.
pub struct MemoryRegistry {
    port: u16,
    store: Arc<Mutex<Store>>,
}

impl MemoryRegistry {
    /// Starts one on a free local port.
    pub fn start() -> std::io::Result<MemoryRegistry> {
        MemoryRegistry::start_on("127.0.0.1:0")
    }

    /// Starts one listening on `addr` (`ddsql schema-registry --listen`).
    pub fn start_on(addr: &str) -> std::io::Result<MemoryRegistry> {
        let listener = TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        let store = Arc::new(Mutex::new(Store::default()));
        let weak = Arc::downgrade(&store);
        std::thread::Builder::new()
            .name("schema-registry".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    let Some(store) = weak.upgrade() else { break };
                    let Ok(conn) = conn else { continue };
                    std::thread::spawn(move || serve(conn, store));
                }
            })?;
        Ok(MemoryRegistry { port, store })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Registers a schema directly, as a producer such as Debezium would.
    pub fn register(&self, subject: &str, ty: SchemaType, text: &str) -> u32 {
        self.import(subject, ty, text, None, &[])
            .expect("a registration without an id succeeds")
    }

    /// Which version of `subject` schema `id` is (the first is 1).
    pub fn version_of(&self, subject: &str, id: u32) -> Option<u32> {
        let store = self.store.lock().unwrap();
        let at = store.subjects.get(subject)?.iter().position(|v| *v == id)?;
        Some(at as u32 + 1)
    }

    /// Registers a schema under a chosen id (Confluent's IMPORT mode), as a
    /// test that names schema ids in its statements needs; `None` lets
    /// the registry choose; `references` name the schemas it imports.
    /// Fails if the id holds another schema.
    pub fn import(
        &self,
        subject: &str,
        ty: SchemaType,
        text: &str,
        id: Option<u32>,
        references: &[SchemaReference],
    ) -> Result<u32, String> {
        let mut body = json!({"schema": text, "schemaType": ty.name()});
        if let Some(id) = id {
            body["id"] = json!(id);
        }
        if !references.is_empty() {
            body["references"] =
                Json::Array(references.iter().map(SchemaReference::to_json).collect());
        }
        let body = body.to_string();
        let (_, answer) = self.store.lock().unwrap().handle(
            "POST",
            &format!("/subjects/{subject}/versions"),
            body.as_bytes(),
        );
        answer["id"]
            .as_u64()
            .map(|id| id as u32)
            .ok_or_else(|| answer["message"].to_string())
    }
}

impl Drop for MemoryRegistry {
    fn drop(&mut self) {
        // Wake the accept loop so it sees the store is gone.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves one connection's requests (HTTP/1.1 with keep-alive).
fn serve(conn: TcpStream, store: Arc<Mutex<Store>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut words = line.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return;
        };
        let (method, path) = (
            method.to_string(),
            target.split('?').next().unwrap_or("").to_string(),
        );
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, answer) = store.lock().unwrap().handle(&method, &path, &body);
        let answer = answer.to_string();
        let response = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{answer}",
            if status == 200 { "OK" } else { "Error" },
            answer.len()
        );
        if out.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IMPORT mode: a schema under the id the caller names, which the
    /// registry's own numbering then continues past; an id holding another
    /// schema is refused.
    #[test]
    fn import_keeps_the_given_id_and_refuses_a_taken_one() {
        let server = MemoryRegistry::start().unwrap();
        let client = SchemaRegistry::new(&server.url());
        assert_eq!(
            server
                .import("t-value", SchemaType::Avro, r#""long""#, Some(7), &[])
                .unwrap(),
            7
        );
        assert_eq!(client.by_id(7).unwrap().text, r#""long""#);
        assert_eq!(client.latest("t-value").unwrap().unwrap().id, 7);
        assert_eq!(server.register("u-value", SchemaType::Avro, r#""int""#), 8);
        let taken = server
            .import("v-value", SchemaType::Avro, r#""string""#, Some(7), &[])
            .unwrap_err();
        assert!(
            taken.contains("schema id 7 already holds another schema"),
            "{taken}"
        );
        // The same schema again under its own id is not a conflict.
        assert_eq!(
            server
                .import("v-value", SchemaType::Avro, r#""long""#, Some(7), &[])
                .unwrap(),
            7
        );
    }

    /// A serializer re-prints the schema it registers; the same schema in
    /// another spelling keeps its id, a different one gets a new id.
    #[test]
    fn an_avro_schema_respelled_keeps_its_id() {
        let server = MemoryRegistry::start().unwrap();
        let spaced =
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}"#;
        let tight = r#"{"name":"R","type":"record","fields":[{"type":"long","name":"a"}]}"#;
        let other = r#"{"type":"record","name":"R","fields":[{"name":"b","type":"long"}]}"#;
        let id = server.register("t-value", SchemaType::Avro, spaced);
        assert_eq!(server.register("t-value", SchemaType::Avro, tight), id);
        assert_ne!(server.register("t-value", SchemaType::Avro, other), id);
        assert_eq!(
            server
                .import("u-value", SchemaType::Avro, tight, Some(id), &[])
                .unwrap(),
            id
        );
    }

    #[test]
    fn references_come_back_with_the_schema_and_resolve_transitively() {
        let server = MemoryRegistry::start().unwrap();
        let reference = |name: &str| SchemaReference {
            name: name.into(),
            subject: name.into(),
            version: 1,
        };
        server
            .import(
                "base.proto",
                SchemaType::Protobuf,
                "message Base { int32 a = 1; }",
                None,
                &[],
            )
            .unwrap();
        server
            .import(
                "event.proto",
                SchemaType::Protobuf,
                "import \"base.proto\"; message Event { Base b = 1; }",
                None,
                &[reference("base.proto")],
            )
            .unwrap();
        let id = server
            .import(
                "t-value",
                SchemaType::Protobuf,
                "import \"event.proto\"; message M { Event e = 1; }",
                Some(5),
                &[reference("event.proto")],
            )
            .unwrap();
        assert_eq!(server.version_of("t-value", id), Some(1));
        assert_eq!(server.version_of("t-value", id + 1), None);
        let client = SchemaRegistry::new(&server.url());
        let schema = client.by_id(id).unwrap();
        assert_eq!(schema.references, vec![reference("event.proto")]);
        assert_eq!(
            client.latest("t-value").unwrap().unwrap().references,
            schema.references
        );
        let mut names: Vec<String> = client
            .referenced(&schema)
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        names.sort();
        assert_eq!(names, ["base.proto", "event.proto"]);
        let dangling = RegisteredSchema {
            references: vec![reference("gone.proto")],
            ..(*schema).clone()
        };
        let e = client.referenced(&dangling).unwrap_err();
        assert!(
            e.contains("refers to gone.proto (version 1 of subject gone.proto)"),
            "{e}"
        );
    }
}
