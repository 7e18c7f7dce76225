//! `ddsql server`: ksqlDB's REST API over a durable session.
//!
//! The server owns one [`Session`] (its catalog restored from the data
//! directory's command log) and its long-lived runtime
//! ([`ddsql_engine::runtime`]): every persistent query runs in a dataflow
//! of its own. A statement that creates, replaces, terminates, pauses or
//! resumes a query installs or drops that query's dataflow alone, and
//! returns once it is installed; no other query stops or replays.
//!
//! Transient queries (`/query`, `/query-stream`) run on the same runtime:
//! a push query follows its topics until the client leaves, LIMIT is
//! reached or `/close-query` names it (over a table, from the table's
//! shared arrangement as it is now); a pull query over a table peeks into
//! the table's arrangement at the newest complete time, and any other pull
//! query answers from everything the topics hold now.
//!
//! Every error is a ksqlDB error body (`generic_error` or
//! `statement_error`); no request can panic the server.

pub mod entities;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use tokio::sync::mpsc;

use ddsql_engine::io::Transport;
use ddsql_engine::{Change, Live, RunOptions};
use ddsql_sql::binder::BoundStatement;
use ddsql_sql::plan::QueryPlan;

use crate::print::Print;
use crate::render::row_json;
use crate::session::{ScriptError, Session};
use entities::{error, statement_error};

/// How the server is set up (the flags of `ddsql server`).
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where the topics live (the embedded log or Kafka) and the Schema
    /// Registry.
    pub connections: crate::session::Connections,
    /// Timely workers for the persistent queries' dataflow.
    pub workers: usize,
    /// The bounded wait for idle partitions (ksqlDB's `max.task.idle.ms`).
    pub idle_ms: i64,
    /// The largest request body accepted, except `/inserts-stream`, whose
    /// limit applies to each row.
    pub max_request_bytes: usize,
}

/// The server's shared state.
struct State {
    config: Config,
    session: Mutex<Session>,
    /// The session's runtime, reachable without the session's lock.
    runtime: ddsql_engine::Runtime,
    /// Running push queries, by id: the flag that stops each.
    push_queries: Mutex<HashMap<String, Arc<AtomicBool>>>,
    next_push: AtomicU64,
    /// `/status`: command id to message (every command recorded succeeded),
    /// the restored catalog's too; kept here so `/status` does not wait
    /// for a long request's hold on the session.
    statuses: Mutex<BTreeMap<String, String>>,
}

/// A response body.
type Body_ = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A body fed from a channel: streamed responses (push queries, acks).
/// The receiver's drop, when the client leaves, is what stops the sender.
///
/// Query rows use a bounded channel: a slow client slows its query down.
/// Insert acks use an unbounded one: a client that reads acks only after
/// sending its whole body (most HTTP/1.1 clients) must never stop the
/// server from reading that body.
enum ChannelBody {
    Bounded(mpsc::Receiver<Bytes>),
    Unbounded(mpsc::UnboundedReceiver<Bytes>),
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match &mut *self {
            ChannelBody::Bounded(rx) => rx.poll_recv(cx),
            ChannelBody::Unbounded(rx) => rx.poll_recv(cx),
        };
        next.map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body_> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("a valid content type"),
    );
    r
}

fn json_response(status: StatusCode, body: &Json) -> Response<Body_> {
    full(status, "application/json", body.to_string())
}

/// An error response; the HTTP status is `code / 100`, as in ksqlDB.
fn error_response(code: u32, message: &str) -> Response<Body_> {
    json_response(status_of(code), &error(code, message))
}

fn status_of(code: u32) -> StatusCode {
    StatusCode::from_u16((code / 100) as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn streamed(content_type: &str) -> (mpsc::Sender<Bytes>, Response<Body_>) {
    let (tx, rx) = mpsc::channel(64);
    (tx, body_response(ChannelBody::Bounded(rx), content_type))
}

fn body_response(body: ChannelBody, content_type: &str) -> Response<Body_> {
    let mut r = Response::new(body.boxed());
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("a valid content type"),
    );
    r
}

/// Runs the server until Ctrl-C; `ready` gets the bound address (useful
/// with port 0) once requests are accepted.
pub fn serve(config: Config, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let mut session =
        Session::connect_durable(&config.connections).map_err(|e| anyhow::anyhow!("{e}"))?;
    session
        .declare_processing_log()
        .map_err(|e| anyhow::anyhow!("declaring KSQL_PROCESSING_LOG: {e}"))?;
    session
        .start_runtime(
            ddsql_engine::RuntimeConfig {
                workers: config.workers.max(1),
                batch: RunOptions::default().batch,
                max_drift_ms: RunOptions::default().max_drift_ms,
                idle_ms: Some(config.idle_ms),
                sequence_header: None,
            },
            false,
        )
        .map_err(|e| anyhow::anyhow!("starting the persistent queries: {e}"))?;
    let statuses = session.commands().clone();
    let state = Arc::new(State {
        config: config.clone(),
        runtime: session.runtime().expect("just started").clone(),
        session: Mutex::new(session),
        push_queries: Mutex::new(HashMap::new()),
        next_push: AtomicU64::new(0),
        statuses: Mutex::new(statuses),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}: is another server running there? choose another address with --listen", config.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!("listening on http://{addr}");
        // `ddsql topic ...` finds the server holding the data directory here.
        let _server_file = match &config.connections.kafka {
            None => Some(
                crate::topics::ServerFile::write(&config.connections.data_dir, &format!("http://{addr}"))
                    .context("writing the server's address into the data directory")?,
            ),
            Some(_) => None,
        };
        ready(addr);
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("listening for SIGTERM")?;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!("accepting a connection: {e}");
                            continue;
                        }
                    };
                    // Responses go out in several small frames (a header,
                    // rows, a last line): Nagle's algorithm would hold each
                    // back for the client's delayed acknowledgement.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!("TCP_NODELAY: {e}");
                    }
                    let state = state.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(state.handle(req).await) }
                        });
                        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                        if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                            tracing::debug!("connection ended: {e}");
                        }
                    });
                }
                // SIGINT (Ctrl-C) or SIGTERM (kill, systemd, Kubernetes).
                _ = tokio::signal::ctrl_c() => break,
                _ = terminate.recv() => break,
            }
        }
        anyhow::Ok(())
    })?;
    tracing::info!("stopping: finishing the persistent queries' writes");
    if let Err(e) = state.runtime.shutdown() {
        tracing::error!("the persistent queries failed: {e}");
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KsqlRequest {
    ksql: String,
    /// `auto.offset.reset` here makes the request's persistent queries
    /// start from the latest offsets; other streams properties are not
    /// read yet.
    #[serde(default)]
    streams_properties: Map<String, Json>,
    #[serde(default)]
    session_variables: Map<String, Json>,
}

#[derive(Deserialize)]
struct QueryStreamRequest {
    sql: String,
    #[serde(default)]
    properties: Map<String, Json>,
    /// `/ksql`'s name for them, which clients also send here (npm's
    /// ksqldb-client's streamQuery does); read as `properties`.
    #[serde(default, rename = "streamsProperties")]
    streams_properties: Map<String, Json>,
    #[serde(default, rename = "sessionVariables")]
    session_variables: Map<String, Json>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CloseQueryRequest {
    query_id: String,
}

/// A request body parsed as `T`, or the error response.
#[allow(clippy::result_large_err)]
async fn read_json<T: for<'de> Deserialize<'de>>(
    body: Incoming,
    limit: usize,
) -> Result<T, Response<Body_>> {
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(error_response(
                41300,
                &format!("the request body is larger than the server's limit of {limit} bytes (--max-request-bytes)"),
            ))
        }
        Err(e) => return Err(error_response(40000, &format!("reading the request body: {e}"))),
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| error_response(40000, &format!("malformed JSON in the request body: {e}")))
}

/// A request's `sessionVariables`, named as DEFINE names them (variable
/// names are case-insensitive).
fn variables(m: &Map<String, Json>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| {
            let v = match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.to_uppercase(), v)
        })
        .collect()
}

/// A URL query's `name=value` pairs, decoded.
fn query_pairs(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (crate::topics::decode(k), crate::topics::decode(v))
        })
        .collect()
}

/// The key and value encodings a `/topics` request names.
fn encodings(
    query: &HashMap<String, String>,
    default: crate::topics::Encoding,
) -> anyhow::Result<crate::topics::Encodings> {
    let get = |name: &str| match query.get(name) {
        Some(e) => crate::topics::Encoding::parse(e),
        None => Ok(default),
    };
    Ok(crate::topics::Encodings {
        key: get("key_encoding")?,
        value: get("value_encoding")?,
    })
}

/// A request's properties (`streamsProperties`, `properties`) as text,
/// each checked as SET checks it, with the warnings for those ddsql does
/// not read; or the refusal of the first it cannot take.
fn request_properties(
    properties: &Map<String, Json>,
) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    let mut checked = BTreeMap::new();
    let mut warnings = Vec::new();
    for (name, value) in properties {
        let value = match value {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        warnings.extend(ddsql_sql::properties::check(name, &value)?.warning);
        ddsql_sql::properties::set(&mut checked, name, Some(&value));
    }
    Ok((checked, warnings))
}

/// Whether a streaming endpoint answers in one JSON array
/// (`Accept: application/json`) rather than its delimited lines.
fn accepts_json(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

/// How a query's rows are written on the wire.
#[derive(Clone, Copy, PartialEq)]
enum Wire {
    /// `/query`: a JSON array of StreamedRow objects.
    StreamedRows,
    /// `/query-stream` delimited: metadata line, then one array per line.
    Delimited,
    /// `/query-stream` with `application/json`: one JSON array.
    JsonArray,
}

impl State {
    async fn handle(self: &Arc<Self>, req: Request<Incoming>) -> Response<Body_> {
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let limit = self.config.max_request_bytes;
        match (&method, path.as_str()) {
            (&Method::GET, "/") => {
                let mut r = full(StatusCode::TEMPORARY_REDIRECT, "text/plain", "");
                r.headers_mut().insert(LOCATION, HeaderValue::from_static("/info"));
                r
            }
            (&Method::GET, "/info") => json_response(
                StatusCode::OK,
                &json!({"KsqlServerInfo": {
                    // The ksqlDB release whose API this server speaks:
                    // clients compare it with the versions they support.
                    "version": KSQLDB_VERSION,
                    "ddsqlVersion": env!("CARGO_PKG_VERSION"),
                    "kafkaClusterId": "embedded",
                    "ksqlServiceId": "default_",
                    "serverStatus": "RUNNING",
                },
                // ddsql's own: what the runtime runs.
                "runtime": {
                    "dataflows": self.runtime.installed(),
                    "arrangementsBuilt": self.runtime.arrangements_built(),
                }}),
            ),
            (&Method::GET, "/healthcheck") => {
                let runner_ok = self.runtime.failure().is_none();
                json_response(
                    if runner_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE },
                    &json!({
                        "isHealthy": runner_ok,
                        "details": {
                            "metastore": {"isHealthy": true},
                            "kafka": {"isHealthy": true},
                            "commandRunner": {"isHealthy": runner_ok},
                        },
                        "serverState": "RUNNING",
                    }),
                )
            }
            (&Method::GET, "/status") => {
                let statuses = self.statuses.lock().unwrap();
                let all: Map<String, Json> = statuses
                    .keys()
                    .map(|id| (id.clone(), json!("SUCCESS")))
                    .collect();
                json_response(StatusCode::OK, &json!({"commandStatuses": all}))
            }
            (&Method::GET, p) if p.starts_with("/status/") => {
                let id = &p["/status/".len()..];
                match self.statuses.lock().unwrap().get(id) {
                    Some(message) => json_response(
                        StatusCode::OK,
                        &json!({"status": "SUCCESS", "message": message}),
                    ),
                    None => error_response(40400, &format!("no command has the id {id}")),
                }
            }
            (&Method::POST, "/ksql") => match read_json::<KsqlRequest>(req.into_body(), limit).await {
                Ok(request) => {
                    let state = self.clone();
                    tokio::task::spawn_blocking(move || state.ksql(request))
                        .await
                        .unwrap_or_else(|e| error_response(50000, &format!("the statement failed: {e}")))
                }
                Err(r) => r,
            },
            (&Method::POST, "/query") => match read_json::<KsqlRequest>(req.into_body(), limit).await {
                Ok(r) => self.query(r.ksql, r.streams_properties, r.session_variables, Wire::StreamedRows),
                Err(r) => r,
            },
            (&Method::POST, "/query-stream") => {
                let accept = req
                    .headers()
                    .get(ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let wire = if accepts_json(&req) {
                    Wire::JsonArray
                } else if accept.contains("application/vnd.ksql.v1+json") {
                    Wire::StreamedRows
                } else {
                    Wire::Delimited
                };
                match read_json::<QueryStreamRequest>(req.into_body(), limit).await {
                    Ok(mut r) => {
                        r.properties.extend(r.streams_properties);
                        self.query(r.sql, r.properties, r.session_variables, wire)
                    }
                    Err(r) => r,
                }
            }
            (&Method::POST, "/close-query") => {
                match read_json::<CloseQueryRequest>(req.into_body(), limit).await {
                    Ok(r) => match self.push_queries.lock().unwrap().get(&r.query_id) {
                        Some(stop) => {
                            stop.store(true, Ordering::Relaxed);
                            full(StatusCode::OK, "application/json", "")
                        }
                        // ksqlDB's CloseQueryHandler: 400, not 404.
                        None => error_response(
                            40000,
                            &format!(
                                "No query with id {}: it ended, or was never started (the id is the push query's queryId header field)",
                                r.query_id
                            ),
                        ),
                    },
                    Err(r) => r,
                }
            }
            (&Method::GET, "/topics") => self.topics_list(),
            (_, p) if p.starts_with("/topics/") && p.ends_with("/records") => {
                let topic = crate::topics::decode(&p["/topics/".len()..p.len() - "/records".len()]);
                let query = query_pairs(req.uri().query().unwrap_or(""));
                match method {
                    Method::GET => self.topic_consume(topic, &query),
                    Method::POST => self.topic_produce(topic, &query, req.into_body(), limit).await,
                    _ => error_response(40500, "use GET (consume) or POST (produce) on /topics/TOPIC/records"),
                }
            }
            (&Method::POST, "/inserts-stream") => {
                let json = accepts_json(&req);
                self.inserts_stream(req.into_body(), json)
            }
            _ => error_response(
                40400,
                &format!(
                    "there is no endpoint {method} {path}; ddsql serves POST /ksql, /query, /query-stream, /inserts-stream, /close-query, GET /info, /healthcheck, /status, /topics and GET or POST /topics/TOPIC/records"
                ),
            ),
        }
    }

    /// `GET /topics`: ddsql's own, for `ddsql topic list` while the server
    /// holds the data directory: each topic's name, partitions, records.
    fn topics_list(&self) -> Response<Body_> {
        let log = self.session.lock().unwrap().log().clone();
        match crate::topics::list(log.as_ref()) {
            Ok(topics) => json_response(
                StatusCode::OK,
                &Json::Array(
                    topics
                        .into_iter()
                        .map(|(name, partitions, records)| {
                            json!({"name": name, "partitions": partitions, "records": records})
                        })
                        .collect(),
                ),
            ),
            Err(e) => error_response(50000, &format!("{e:#}")),
        }
    }

    /// `POST /topics/TOPIC/records`: `ddsql topic produce` in the server,
    /// through its ordered write path; the body is the command's JSON lines.
    async fn topic_produce(
        self: &Arc<Self>,
        topic: String,
        query: &HashMap<String, String>,
        body: Incoming,
        limit: usize,
    ) -> Response<Body_> {
        let encodings = match encodings(query, crate::topics::Encoding::Json) {
            Ok(e) => e,
            Err(e) => return error_response(40000, &e.to_string()),
        };
        let partitions = match query.get("partitions").map(|p| p.parse::<u32>()) {
            None => 1,
            Some(Ok(p)) if p > 0 => p,
            Some(_) => return error_response(40000, "partitions must be a positive number"),
        };
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => return error_response(40000, &format!("reading the request body: {e}")),
        };
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let (log, clock) = {
                let session = state.session.lock().unwrap();
                (session.log().clone(), session.clock().clone())
            };
            match crate::topics::produce(
                log.as_ref(),
                &clock,
                &topic,
                partitions,
                ("stdin", &bytes[..]),
                encodings,
            ) {
                Ok(n) => json_response(StatusCode::OK, &json!({"produced": n})),
                Err(e) => error_response(40000, &format!("{e:#}")),
            }
        })
        .await
        .unwrap_or_else(|e| error_response(50000, &format!("producing failed: {e}")))
    }

    /// `GET /topics/TOPIC/records`: `ddsql topic consume` in the server,
    /// its JSON lines streamed as they are read.
    fn topic_consume(
        self: &Arc<Self>,
        topic: String,
        query: &HashMap<String, String>,
    ) -> Response<Body_> {
        let encodings = match encodings(query, crate::topics::Encoding::Auto) {
            Ok(e) => e,
            Err(e) => return error_response(40000, &e.to_string()),
        };
        let max = match query.get("max").map(|m| m.parse::<u64>()) {
            None => None,
            Some(Ok(m)) => Some(m),
            Some(Err(_)) => return error_response(40000, "max must be a number"),
        };
        let headers = query.get("headers").is_some_and(|h| h == "true");
        let log = self.session.lock().unwrap().log().clone();
        if let Err(e) = log
            .partitions(&topic)
            .map_err(anyhow::Error::from)
            .and_then(|p| {
                p.map(|_| ()).ok_or_else(|| {
                    anyhow::anyhow!(
                        "topic '{topic}' does not exist; `ddsql topic list` shows the topics"
                    )
                })
            })
        {
            return error_response(40400, &e.to_string());
        }
        let (tx, response) = streamed("application/x-ndjson");
        tokio::task::spawn_blocking(move || {
            let mut chunk = String::new();
            let result =
                crate::topics::consume(log.as_ref(), &topic, max, encodings, headers, |line| {
                    chunk.push_str(&line.to_string());
                    chunk.push('\n');
                    if chunk.len() >= CHUNK {
                        let sent = tx.blocking_send(Bytes::from(std::mem::take(&mut chunk)));
                        return Ok(sent.is_ok());
                    }
                    Ok(true)
                });
            if let Err(e) = result {
                chunk.push_str(&format!("{}\n", error(50000, &format!("{e:#}"))));
            }
            let _ = tx.blocking_send(Bytes::from(chunk));
        });
        response
    }

    /// `POST /ksql`: checks every statement, then executes them in order,
    /// with the request's streams properties, which hold for its
    /// statements only.
    fn ksql(self: &Arc<Self>, request: KsqlRequest) -> Response<Body_> {
        let (overrides, warnings) = match request_properties(&request.streams_properties) {
            Ok(checked) => checked,
            Err(message) => return error_response(40000, &message),
        };
        let mut session = self.session.lock().unwrap();
        let saved = session.override_properties(&overrides);
        let response = self.ksql_in(&mut session, &request, &warnings);
        session.restore_properties(saved);
        response
    }

    fn ksql_in(
        &self,
        session: &mut Session,
        request: &KsqlRequest,
        warnings: &[String],
    ) -> Response<Body_> {
        let variables = variables(&request.session_variables);
        let checked = session.check(&request.ksql, &variables);
        if let Some(e) = checked.errors.first() {
            let statement = match e {
                ScriptError::Sql {
                    statement: Some(s), ..
                } => s.clone(),
                _ => request.ksql.clone(),
            };
            return json_response(
                StatusCode::BAD_REQUEST,
                &statement_error(40001, &e.to_string(), &statement, vec![]),
            );
        }
        if let Some((text, _)) = checked.bound.iter().find(|(_, b)| {
            matches!(
                b,
                BoundStatement::Select { .. } | BoundStatement::Print { .. }
            )
        }) {
            return json_response(
                StatusCode::BAD_REQUEST,
                &statement_error(
                    40002,
                    "The following statement types should be issued to the websocket endpoint '/query':\n\t* PRINT\n\t* SELECT",
                    text,
                    vec![],
                ),
            );
        }
        let mut entities = Vec::new();
        let answer = self.execute_all(session, checked.bound, &mut entities);
        // Each entity carries the request's warnings, as ksqlDB's do.
        for e in &mut entities {
            if let Some(Json::Array(list)) = e.get_mut("warnings") {
                list.extend(warnings.iter().map(|w| json!({"message": w})));
            }
        }
        match answer {
            Err((text, e)) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &statement_error(50000, &e, &text, entities),
            ),
            Ok(()) => json_response(StatusCode::OK, &Json::Array(entities)),
        }
    }

    /// Executes checked statements in order, collecting their entities;
    /// stops at the first that fails, with its text and error.
    fn execute_all(
        &self,
        session: &mut Session,
        bound: Vec<(String, BoundStatement)>,
        entities: &mut Vec<Json>,
    ) -> Result<(), (String, String)> {
        for (text, b) in bound {
            match session.execute_statement(&text, b.clone()) {
                Ok(done) => {
                    // ksqlDB's commandSequenceNumber: the command's offset
                    // in the command topic; -1 for what is not a command.
                    let sequence = done.sequence.map_or(-1, |s| s as i64);
                    if let Some(id) = &done.command {
                        self.statuses
                            .lock()
                            .unwrap()
                            .insert(id.clone(), done.message.clone());
                    }
                    entities.extend(entities::entity(session, &text, &b, &done, sequence));
                }
                Err(e) => return Err((text, e.to_string())),
            }
        }
        Ok(())
    }

    /// `/query` and `/query-stream`: runs one SELECT, streaming its rows.
    fn query(
        self: &Arc<Self>,
        sql: String,
        properties: Map<String, Json>,
        session_variables: Map<String, Json>,
        wire: Wire,
    ) -> Response<Body_> {
        let properties = match request_properties(&properties) {
            Ok((checked, _)) => checked,
            Err(message) => return error_response(40000, &message),
        };
        let session = self.session.lock().unwrap();
        let checked = session.check(&sql, &variables(&session_variables));
        if let Some(e) = checked.errors.first() {
            return json_response(
                StatusCode::BAD_REQUEST,
                &statement_error(40001, &e.to_string(), &sql, vec![]),
            );
        }
        let (plan, push, limit) = match <[_; 1]>::try_from(checked.bound) {
            Ok([(_, BoundStatement::Select { plan, push, limit })]) => (plan, push, limit),
            Ok(
                [(
                    _,
                    BoundStatement::Print {
                        topic,
                        from_beginning,
                        interval,
                        limit,
                    },
                )],
            ) => {
                let log = session.log().clone();
                drop(session);
                return self.print(
                    log,
                    Print {
                        topic,
                        from_beginning,
                        interval,
                        limit,
                    },
                    wire,
                );
            }
            _ => return json_response(
                StatusCode::BAD_REQUEST,
                &statement_error(
                    40000,
                    "this endpoint runs exactly one SELECT statement; other statements go to /ksql",
                    &sql,
                    vec![],
                ),
            ),
        };
        let options = RunOptions {
            live: push.then(|| Live::new(self.config.idle_ms)),
            // Latest by default for a push query, as in ksqlDB.
            from_end: push && ddsql_sql::properties::from_latest(&properties).unwrap_or(true),
            ..RunOptions::default()
        };
        // A pull query runs off the session's lock: it may scan a table.
        let catalog = session.catalog().clone();
        let subscription = match push.then(|| session.query(&plan, &options)).transpose() {
            Ok(s) => s,
            Err(e) => return error_response(50000, &format!("starting the query: {e}")),
        };
        drop(session);
        let id = format!(
            "transient_{}_{}",
            plan.plan.sources().first().copied().unwrap_or("query"),
            self.next_push.fetch_add(1, Ordering::Relaxed)
        );
        if let Some(subscription) = &subscription {
            self.push_queries
                .lock()
                .unwrap()
                .insert(id.clone(), subscription.stop_flag());
        }
        let content_type = match wire {
            Wire::StreamedRows => "application/vnd.ksql.v1+json",
            Wire::Delimited => "application/vnd.ksqlapi.delimited.v1",
            Wire::JsonArray => "application/json",
        };
        let (tx, response) = streamed(content_type);
        let state = self.clone();
        std::thread::spawn(move || {
            let writer = RowWriter {
                wire,
                plan: &plan,
                tx: &tx,
                first: std::cell::Cell::new(true),
                pending: Default::default(),
                line_per_frame: push && wire == Wire::Delimited,
            };
            let open = writer.header(push.then_some(id.as_str())) && writer.flush();
            let final_message = if !open {
                None
            } else if let Some(subscription) = subscription {
                let mut sent = 0u64;
                let mut reached = false;
                'rows: for batch in subscription.changes.iter() {
                    for change in batch {
                        if limit.is_some_and(|l| sent >= l) {
                            reached = true;
                            break 'rows;
                        }
                        if !writer.change(&change) {
                            break 'rows;
                        }
                        sent += 1;
                    }
                    // A push query's rows go out as they come.
                    if !writer.flush() {
                        break;
                    }
                    if limit.is_some_and(|l| sent >= l) {
                        reached = true;
                        break;
                    }
                }
                subscription.stop();
                reached.then_some("Limit Reached")
            } else {
                let runtime = &state.runtime;
                let answer = crate::session::pull(Some(runtime), &catalog, &plan, limit, || {
                    runtime.subscribe(&catalog, &plan, false, false)
                });
                match answer {
                    Ok(rows) => {
                        for row in rows {
                            if !writer.change(&Change::Row(row)) {
                                break;
                            }
                        }
                        Some("Query Completed")
                    }
                    Err(e) => {
                        writer.error(&e.to_string());
                        None
                    }
                }
            };
            writer.finish(final_message);
            writer.flush();
            state.push_queries.lock().unwrap().remove(&id);
        });
        response
    }

    /// `PRINT` on `/query` or `/query-stream`: the lines of
    /// [`crate::print`], one per chunk, following the topic until the
    /// limit or until the client goes. As in ksqlDB, `/query-stream` takes
    /// PRINT only with the delimited content type.
    fn print(&self, log: Arc<dyn Transport>, print: Print, wire: Wire) -> Response<Body_> {
        if wire == Wire::JsonArray {
            return json_response(
                StatusCode::NOT_ACCEPTABLE,
                &error(
                    40600,
                    "PRINT streams text: ask /query-stream for application/vnd.ksqlapi.delimited.v1",
                ),
            );
        }
        let (tx, response) = streamed("text/plain");
        let registry = self.config.connections.formats().registry().cloned();
        std::thread::spawn(move || {
            let stop = AtomicBool::new(false);
            let sent = crate::print::print(&*log, &print, registry.as_ref(), true, &stop, |line| {
                tx.blocking_send(Bytes::from(line + "\n")).is_ok()
            });
            if let Err(e) = sent {
                let _ =
                    tx.blocking_send(Bytes::from(format!("{}\n", error(50000, &e.to_string()))));
            }
        });
        response
    }

    /// `/inserts-stream`: a target line, then one JSON row per line; one
    /// ack per row, streamed back as rows are appended: a line each, or
    /// (`json`) the elements of one JSON array.
    fn inserts_stream(self: &Arc<Self>, mut body: Incoming, json: bool) -> Response<Body_> {
        let (tx, rx) = mpsc::unbounded_channel();
        let content_type = if json {
            "application/json"
        } else {
            "application/vnd.ksqlapi.delimited.v1"
        };
        let response = body_response(ChannelBody::Unbounded(rx), content_type);
        let state = self.clone();
        tokio::spawn(async move {
            let limit = state.config.max_request_bytes;
            let mut inserter = Inserter {
                state: &state,
                target: None,
                seq: 0,
                out: Vec::new(),
                json,
                acked: false,
            };
            let mut buf: Vec<u8> = Vec::new();
            loop {
                // Wait for a frame, then take whatever else has already
                // arrived (up to a bound), so rows are appended in batches.
                let mut done = false;
                let mut waited = false;
                while !done && buf.len() < (1 << 20) {
                    let frame = if waited {
                        match tokio::time::timeout(std::time::Duration::ZERO, body.frame()).await {
                            Ok(frame) => frame,
                            Err(_) => break,
                        }
                    } else {
                        body.frame().await
                    };
                    waited = true;
                    match frame {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                buf.extend_from_slice(&data);
                            }
                        }
                        Some(Err(e)) => {
                            inserter.fail(&format!("reading the request: {e}"));
                            done = true;
                        }
                        None => done = true,
                    }
                }
                let complete = if done {
                    buf.len()
                } else {
                    buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
                };
                if !done && complete == 0 && buf.len() > limit {
                    inserter.fail(&format!(
                        "a row is larger than the server's limit of {limit} bytes (--max-request-bytes)"
                    ));
                }
                let lines: Vec<u8> = buf.drain(..complete).collect();
                let ok = tokio::task::block_in_place(|| inserter.lines(&lines));
                if done || !ok {
                    inserter.end();
                }
                if !inserter.out.is_empty() {
                    let acks = Bytes::from(inserter.out.concat());
                    inserter.out.clear();
                    if tx.send(acks).is_err() {
                        return;
                    }
                }
                if done || !ok {
                    return;
                }
            }
        });
        response
    }
}

/// Parses and appends `/inserts-stream` lines, collecting acks in `out`.
struct Inserter<'a> {
    state: &'a State,
    target: Option<crate::session::RowInserter>,
    seq: u64,
    out: Vec<String>,
    /// Acks as the elements of one JSON array, not delimited lines.
    json: bool,
    /// Whether an ack (or error) was written: the array is open.
    acked: bool,
}

impl Inserter<'_> {
    /// Handles complete lines; false once the stream cannot go on.
    fn lines(&mut self, bytes: &[u8]) -> bool {
        let mut rows = Vec::new();
        let mut seqs = Vec::new();
        // A malformed row ends the stream after the rows before it, as in
        // ksqlDB (InsertsStreamHandler), so acks stay in the rows' order.
        let mut malformed = None;
        for line in bytes.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed: Result<Map<String, Json>, _> = serde_json::from_slice(line);
            if self.target.is_none() {
                match parsed
                    .ok()
                    .and_then(|m| m.get("target").and_then(Json::as_str).map(str::to_string))
                {
                    Some(t) => match self.state.session.lock().unwrap().inserter(&t) {
                        Ok(inserter) => {
                            self.target = Some(inserter);
                            continue;
                        }
                        Err(message) => {
                            self.fail(&message);
                            return false;
                        }
                    },
                    None => {
                        self.fail("the first line must be a JSON object naming the stream: {\"target\": \"STREAM_NAME\"}");
                        return false;
                    }
                }
            }
            let seq = self.seq;
            self.seq += 1;
            match parsed {
                Ok(row) => {
                    rows.push(row);
                    seqs.push(seq);
                }
                Err(e) => {
                    malformed = Some((seq, format!("malformed JSON row: {e}")));
                    break;
                }
            }
        }
        let (Some(target), false) = (&self.target, rows.is_empty()) else {
            return self.malformed(malformed);
        };
        match target.insert(&rows) {
            Ok(results) => {
                for (seq, r) in seqs.into_iter().zip(results) {
                    self.ack(seq, r);
                }
                self.malformed(malformed)
            }
            Err(e) => {
                self.fail(&e.to_string());
                false
            }
        }
    }

    /// Acks a malformed row, if there was one; false then: the stream ends.
    fn malformed(&mut self, malformed: Option<(u64, String)>) -> bool {
        match malformed {
            Some((seq, message)) => {
                self.ack(seq, Err(message));
                false
            }
            None => true,
        }
    }

    fn ack(&mut self, seq: u64, result: Result<(), String>) {
        let line = match result {
            Ok(()) => json!({"status": "ok", "seq": seq}),
            Err(message) => json!({
                "@type": "generic_error", "error_code": 40000, "message": message,
                "status": "error", "seq": seq,
            }),
        };
        self.write(&line);
    }

    fn fail(&mut self, message: &str) {
        let mut e = error(40000, message);
        e["status"] = json!("error");
        self.write(&e);
    }

    fn write(&mut self, ack: &Json) {
        let text = match (self.json, self.acked) {
            (false, _) => format!("{ack}\n"),
            (true, false) => format!("[{ack}"),
            (true, true) => format!(",{ack}"),
        };
        self.acked = true;
        self.out.push(text);
    }

    /// Closes the JSON array once no more acks can come.
    fn end(&mut self) {
        if self.json {
            self.out
                .push(if self.acked { "]" } else { "[]" }.to_string());
        }
    }
}

/// Writes a query's header, rows and end in one of the [`Wire`] shapes.
struct RowWriter<'a> {
    wire: Wire,
    plan: &'a QueryPlan,
    tx: &'a mpsc::Sender<Bytes>,
    first: std::cell::Cell<bool>,
    /// Text not sent yet: rows go out in chunks, not one frame each.
    pending: std::cell::RefCell<String>,
    /// Send each line in a frame of its own: a delimited push query's rows
    /// come one at a time anyway, and HTTP/2 clients such as npm's
    /// ksqldb-client parse each DATA frame as one JSON line, as ksqlDB
    /// writes them.
    line_per_frame: bool,
}

/// How much text a response gathers before it sends a chunk.
const CHUNK: usize = 64 << 10;

/// The ksqlDB release whose REST API and dialect ddsql follows, reported
/// by `/info` (0.29.0, the last standalone ksqlDB release).
pub const KSQLDB_VERSION: &str = "0.29.0";

impl RowWriter<'_> {
    /// Queues text, sending a chunk once enough is gathered; false once
    /// the client has gone.
    fn send(&self, text: String) -> bool {
        let full = {
            let mut pending = self.pending.borrow_mut();
            pending.push_str(&text);
            self.line_per_frame || pending.len() >= CHUNK
        };
        !full || self.flush()
    }

    /// Sends what is queued; false once the client has gone.
    fn flush(&self) -> bool {
        let text = std::mem::take(&mut *self.pending.borrow_mut());
        text.is_empty() || self.tx.blocking_send(Bytes::from(text)).is_ok()
    }

    /// An element of the JSON array shapes, comma-separated.
    fn element(&self, value: &Json) -> bool {
        let sep = if self.first.replace(false) {
            "["
        } else {
            ",\n"
        };
        self.send(format!("{sep}{value}"))
    }

    fn header(&self, query_id: Option<&str>) -> bool {
        let names: Vec<&str> = self.plan.columns.iter().map(|c| c.name.as_str()).collect();
        let types: Vec<String> = self.plan.columns.iter().map(|c| c.ty.to_string()).collect();
        match self.wire {
            Wire::StreamedRows => {
                let schema: Vec<String> = self
                    .plan
                    .columns
                    .iter()
                    .map(|c| format!("`{}` {}{}", c.name, c.ty, if c.key { " KEY" } else { "" }))
                    .collect();
                self.element(&json!({"header": {"queryId": query_id.unwrap_or(""), "schema": schema.join(", ")}}))
            }
            Wire::Delimited | Wire::JsonArray => {
                let mut meta = json!({"columnNames": names, "columnTypes": types});
                if let Some(id) = query_id {
                    meta["queryId"] = json!(id);
                }
                if self.wire == Wire::JsonArray {
                    self.element(&meta)
                } else {
                    self.send(format!("{meta}\n"))
                }
            }
        }
    }

    fn change(&self, change: &Change) -> bool {
        let (columns, tombstone) = match change {
            Change::Row(row) => (row_json(self.plan, row), false),
            Change::Delete { key } => {
                // A windowed table's key ends with its window: not a column.
                let key_arity = self.plan.columns.iter().filter(|c| c.key).count();
                let mut row = vec![ddsql_sql::types::Value::Null];
                row.extend(key.iter().take(key_arity).cloned());
                row.resize(self.plan.columns.len() + 1, ddsql_sql::types::Value::Null);
                (row_json(self.plan, &row), true)
            }
        };
        match self.wire {
            Wire::StreamedRows if tombstone => {
                self.element(&json!({"row": {"columns": columns, "tombstone": true}}))
            }
            Wire::StreamedRows => self.element(&json!({"row": {"columns": columns}})),
            // ksqlDB drops tombstones on /query-stream.
            _ if tombstone => true,
            Wire::JsonArray => self.element(&Json::Array(columns)),
            Wire::Delimited => self.send(format!("{}\n", Json::Array(columns))),
        }
    }

    fn error(&self, message: &str) {
        let e = error(50000, message);
        match self.wire {
            Wire::StreamedRows => self.element(&json!({"errorMessage": e})),
            Wire::JsonArray => self.element(&e),
            Wire::Delimited => self.send(format!("{e}\n")),
        };
    }

    fn finish(&self, final_message: Option<&str>) {
        if let (Wire::StreamedRows, Some(m)) = (self.wire, final_message) {
            self.element(&json!({"finalMessage": m}));
        }
        if self.wire != Wire::Delimited {
            if self.first.get() {
                self.send("[".into());
            }
            self.send("]\n".into());
        }
    }
}
