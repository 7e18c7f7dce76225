//! `ddsql cli`: an interactive shell against a ddsql (or ksqlDB) server.
//!
//! The shell is a [`Shell`] fed one line at a time, so the same code serves
//! the terminal (rustyline: line editing, history) and tests, which drive
//! it through [`Shell::line`] against a real server. Statements end with
//! `;` and may span lines; each complete statement goes to the server:
//! SELECT and PRINT to `/query-stream` (rows or lines shown as they
//! arrive), everything else to `/ksql`, whose entities are drawn as
//! ksqlDB's CLI draws them.
//! `SET`/`UNSET` are the shell's own properties, sent with each request,
//! and `RUN SCRIPT 'file.sql'` sends a file's statements.

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use ddsql_sql::ast::Statement;
use ddsql_sql::parser::parse;
use ddsql_sql::properties;

use crate::render::{cell, table};

/// A ksqlDB REST client (blocking).
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(server: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            base: server.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// POSTs `body` to `path`: the status and the body read as JSON.
    pub fn post(&self, path: &str, body: &Json) -> Result<(u16, Json), String> {
        let mut response = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Accept", "application/vnd.ksql.v1+json")
            .send_json(body)
            .map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading the server's answer: {e}"))?;
        let json = serde_json::from_str(&text).unwrap_or(Json::String(text));
        Ok((status, json))
    }

    /// The server's `/info`: its `KsqlServerInfo`, or why it cannot be
    /// reached.
    pub fn info(&self) -> Result<Json, String> {
        let mut response = self
            .agent
            .get(&format!("{}/info", self.base))
            .call()
            .map_err(|e| self.unreachable(e))?;
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading the server's answer: {e}"))?;
        let info: Json = serde_json::from_str(&text)
            .map_err(|_| format!("{} does not answer as a ksqlDB server: {text}", self.base))?;
        Ok(info["KsqlServerInfo"].clone())
    }

    /// The server's address, as given.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: ureq::Error) -> String {
        format!(
            "cannot reach the server at {}: {e} (is `ddsql server` running? pass its address with --server)",
            self.base
        )
    }

    /// Runs a query on `/query-stream`, calling `row` with the column
    /// names first and then each row, until the query ends, `row` returns
    /// false or `stop` is set (the query is then closed on the server).
    pub fn query(
        &self,
        sql: &str,
        properties: &Map<String, Json>,
        stop: &AtomicBool,
        mut row: impl FnMut(Event) -> bool,
    ) -> Result<(), String> {
        let mut query_id = None;
        let mut first = true;
        self.stream(sql, properties, stop, |line| {
            let value: Json = serde_json::from_str(&line)
                .map_err(|e| format!("the server sent a malformed row: {e}"))?;
            if first {
                first = false;
                query_id = value["queryId"].as_str().map(str::to_string);
                let names = value["columnNames"]
                    .as_array()
                    .map(|a| a.iter().map(cell).collect())
                    .unwrap_or_default();
                Ok(row(Event::Columns(names)))
            } else if let Json::Array(values) = value {
                Ok(row(Event::Row(values)))
            } else {
                Err(error_message(&value))
            }
        })?;
        if let Some(id) = query_id {
            self.post("/close-query", &json!({"queryId": id}))?;
        }
        Ok(())
    }

    /// Runs `PRINT` on `/query-stream`, calling `line` with each line of
    /// text, until the server ends it, `line` returns false or `stop` is set.
    pub fn print(
        &self,
        sql: &str,
        properties: &Map<String, Json>,
        stop: &AtomicBool,
        mut line: impl FnMut(String) -> bool,
    ) -> Result<(), String> {
        self.stream(sql, properties, stop, |text| Ok(line(text)))
    }

    /// Posts `sql` to `/query-stream` (delimited) and calls `line` with
    /// each line of the response, until it ends, `line` returns false or
    /// `stop` is set.
    fn stream(
        &self,
        sql: &str,
        properties: &Map<String, Json>,
        stop: &AtomicBool,
        mut line: impl FnMut(String) -> Result<bool, String>,
    ) -> Result<(), String> {
        let response = self
            .agent
            .post(&format!("{}/query-stream", self.base))
            .header("Accept", "application/vnd.ksqlapi.delimited.v1")
            .send_json(json!({"sql": sql, "properties": properties}))
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            let text = response.into_body().read_to_string().unwrap_or_default();
            return Err(error_message(
                &serde_json::from_str(&text).unwrap_or(Json::String(text)),
            ));
        }
        // Lines are read on a thread of their own, so Ctrl-C (`stop`) is
        // seen even while the server has nothing to send.
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = BufReader::new(response.into_body().into_reader());
        std::thread::spawn(move || {
            for line in reader.lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while !stop.load(Ordering::Relaxed) {
            let text = match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(Ok(text)) => text,
                Ok(Err(e)) => return Err(format!("reading the response: {e}")),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if !line(text)? {
                break;
            }
        }
        Ok(())
    }
}

/// What a query sends: its column names, then rows.
pub enum Event {
    Columns(Vec<String>),
    Row(Vec<Json>),
}

fn error_message(body: &Json) -> String {
    match body["message"].as_str() {
        Some(m) => m.to_string(),
        None => body.to_string(),
    }
}

/// The shell's state between lines.
pub struct Shell {
    client: Client,
    /// Lines of an unfinished statement.
    pending: String,
    /// `SET` properties, sent with every request.
    properties: Map<String, Json>,
    /// Set by Ctrl-C: ends the running query.
    pub interrupt: Arc<AtomicBool>,
    /// Set by `exit` or `quit`.
    done: bool,
    /// How many statements failed (`ddsql cli --file` exits non-zero if
    /// any did).
    errors: usize,
}

/// What `help` prints.
const HELP: &str = "\
Statements end with ';' and may span lines; each goes to the server:
  CREATE STREAM|TABLE ..., INSERT INTO ..., SELECT ... [EMIT CHANGES], PRINT 'topic' [FROM BEGINNING],
  SHOW STREAMS|TABLES|QUERIES|TOPICS|PROPERTIES|FUNCTIONS|TYPES|VARIABLES, DESCRIBE name [EXTENDED],
  EXPLAIN query_id, DROP STREAM|TABLE name, TERMINATE query_id, ...
Handled by the shell itself:
  SET 'property'='value';   UNSET 'property';   sent with every statement (for example auto.offset.reset)
  RUN SCRIPT 'file.sql';    runs a file's statements
  help                      this text
  version                   the shell's and the server's versions
  exit, quit                leave (so does Ctrl-D); Ctrl-C stops a running query
";

impl Shell {
    pub fn new(client: Client) -> Shell {
        Shell {
            client,
            pending: String::new(),
            properties: Map::new(),
            interrupt: Arc::new(AtomicBool::new(false)),
            done: false,
            errors: 0,
        }
    }

    /// Whether `exit` or `quit` was given.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Whether a statement failed: a syntax error, an error from the
    /// server, or a server that could not be reached.
    pub fn failed(&self) -> bool {
        self.errors > 0
    }

    /// Writes an error and remembers that one happened.
    fn error(&mut self, out: &mut dyn Write, message: &str) -> std::io::Result<()> {
        self.errors += 1;
        writeln!(out, "{message}")
    }

    /// The shell's own commands (ksqlDB's CLI has them, without `;`):
    /// whether `line` was one.
    fn command(&mut self, line: &str, out: &mut dyn Write) -> std::io::Result<bool> {
        if !self.pending.trim().is_empty() {
            return Ok(false);
        }
        let word = line
            .trim()
            .trim_end_matches(';')
            .trim()
            .to_ascii_lowercase();
        match word.as_str() {
            "exit" | "quit" => self.done = true,
            "help" => write!(out, "{HELP}")?,
            "version" => {
                writeln!(out, "ddsql shell {}", env!("CARGO_PKG_VERSION"))?;
                match self.client.info() {
                    Ok(info) => writeln!(
                        out,
                        "server {}: ksqlDB {} API, ddsql {}",
                        self.client.base(),
                        cell(&info["version"]),
                        cell(&info["ddsqlVersion"]),
                    )?,
                    Err(e) => self.error(out, &e)?,
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The prompt for the next line.
    pub fn prompt(&self) -> &'static str {
        if self.pending.trim().is_empty() {
            "ksql> "
        } else {
            ">     "
        }
    }

    /// Takes one input line; runs each statement it completes, writing
    /// results to `out`.
    pub fn line(&mut self, line: &str, out: &mut dyn Write) -> std::io::Result<()> {
        if self.command(line, out)? {
            return Ok(());
        }
        self.pending.push_str(line);
        self.pending.push('\n');
        if !ends_statement(&self.pending) {
            return Ok(());
        }
        let text = std::mem::take(&mut self.pending);
        self.run(&text, out)
    }

    /// Runs the complete statements of `text`, up to the first that fails.
    pub fn run(&mut self, text: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let parsed = match parse(text) {
            Ok(p) => p,
            Err(e) => return self.error(out, &e.to_string()),
        };
        let errors = self.errors;
        for p in parsed {
            if self.errors > errors {
                break;
            }
            match &p.statement {
                // Checked here as the server checks a request's properties,
                // so a misspelling is caught when typed, not at the next
                // statement.
                Statement::Set { name, value } => match properties::check(name, value) {
                    Ok(checked) => {
                        let same = |k: &String| properties::canonical(k) == Some(checked.name);
                        self.properties.retain(|k, _| !same(k));
                        self.properties.insert(name.clone(), json!(value));
                        writeln!(
                            out,
                            "Successfully changed local property '{name}' to '{value}'."
                        )?;
                        if let Some(w) = checked.warning {
                            writeln!(out, "WARNING: {w}")?;
                        }
                    }
                    Err(e) => self.error(out, &e)?,
                },
                Statement::Unset(name) => {
                    self.properties.remove(name);
                    writeln!(out, "Successfully unset local property '{name}'.")?;
                }
                Statement::RunScript(path) => match std::fs::read_to_string(path) {
                    Ok(script) => self.run(&script, out)?,
                    Err(e) => self.error(out, &format!("cannot read {path}: {e}"))?,
                },
                Statement::Select(_) => self.select(&p.text, out)?,
                Statement::Print { .. } => self.print(&p.text, out)?,
                _ => self.ksql(&p.text, out)?,
            }
        }
        Ok(())
    }

    fn select(&mut self, sql: &str, out: &mut dyn Write) -> std::io::Result<()> {
        self.interrupt.store(false, Ordering::Relaxed);
        let mut widths: Vec<usize> = Vec::new();
        let mut rows = 0;
        let mut failed = None;
        let result = self
            .client
            .query(sql, &self.properties, &self.interrupt, |event| {
                let line = match event {
                    Event::Columns(names) => {
                        widths = names.iter().map(|n| n.len().max(12)).collect();
                        let header = format_row(&names, &widths);
                        let rule = "-".repeat(header.len() + 1);
                        format!("{rule}\n{header}\n{rule}")
                    }
                    Event::Row(values) => {
                        rows += 1;
                        let cells: Vec<String> = values.iter().map(cell).collect();
                        format_row(&cells, &widths)
                    }
                };
                shown(out, &line, &mut failed)
            });
        if let Some(e) = failed {
            return Err(e);
        }
        match result {
            Ok(()) => writeln!(
                out,
                "{}\n{rows} row{} returned",
                "-".repeat(widths.iter().map(|w| w + 3).sum::<usize>()),
                if rows == 1 { "" } else { "s" }
            ),
            Err(e) => self.error(out, &e),
        }
    }

    /// PRINT's lines as the server sends them, until its LIMIT or Ctrl-C.
    fn print(&mut self, sql: &str, out: &mut dyn Write) -> std::io::Result<()> {
        self.interrupt.store(false, Ordering::Relaxed);
        let mut failed = None;
        let result = self
            .client
            .print(sql, &self.properties, &self.interrupt, |line| {
                shown(out, &line, &mut failed)
            });
        if let Some(e) = failed {
            return Err(e);
        }
        match result {
            Ok(()) => Ok(()),
            Err(e) => self.error(out, &e),
        }
    }

    fn ksql(&mut self, sql: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let body = json!({"ksql": sql, "streamsProperties": self.properties});
        match self.client.post("/ksql", &body) {
            Ok((200, Json::Array(entities))) => {
                for e in &entities {
                    writeln!(out, "{}", draw_entity(e))?;
                }
                Ok(())
            }
            Ok((_, body)) => self.error(out, &error_message(&body)),
            Err(e) => self.error(out, &e),
        }
    }
}

/// Writes `line` to `out` as soon as it comes; false (the query is to
/// stop) once writing fails, with the error kept in `failed`.
fn shown(out: &mut dyn Write, line: &str, failed: &mut Option<std::io::Error>) -> bool {
    match writeln!(out, "{line}").and_then(|_| out.flush()) {
        Ok(()) => true,
        Err(e) => {
            *failed = Some(e);
            false
        }
    }
}

fn format_row(cells: &[String], widths: &[usize]) -> String {
    let parts: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(c, w)| format!(" {c:<w$} "))
        .collect();
    format!("|{}|", parts.join("|"))
}

/// Whether `text` ends with a `;` outside quotes and comments.
fn ends_statement(text: &str) -> bool {
    let (mut quote, mut last) = (None::<char>, None);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '`' || c == '"' => quote = Some(c),
            None if c == '-' && chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                continue;
            }
            None if !c.is_whitespace() => last = Some(c),
            None => {}
        }
        if quote.is_some() {
            last = Some(c);
        }
    }
    quote.is_none() && last == Some(';')
}

/// An entity as ksqlDB's CLI draws it.
pub fn draw_entity(e: &Json) -> String {
    let s = |v: &Json| cell(v);
    let sources = |list: &Json, title: &str| -> String {
        let rows: Vec<Vec<String>> = list
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        vec![
                            s(&x["name"]),
                            s(&x["topic"]),
                            s(&x["keyFormat"]),
                            s(&x["valueFormat"]),
                            s(&x["isWindowed"]),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        table(
            &[
                title,
                "Kafka Topic",
                "Key Format",
                "Value Format",
                "Windowed",
            ],
            &rows,
        )
    };
    let rows_of = |list: &Json, fields: &[&str]| -> Vec<Vec<String>> {
        list.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| fields.iter().map(|f| s(&x[*f])).collect())
                    .collect()
            })
            .unwrap_or_default()
    };
    match e["@type"].as_str().unwrap_or("") {
        "currentStatus" => table(&["Message"], &[vec![s(&e["commandStatus"]["message"])]]),
        "streams" => sources(&e["streams"], "Stream Name"),
        "tables" => sources(&e["tables"], "Table Name"),
        "queries" => table(
            &[
                "Query ID",
                "Query Type",
                "Status",
                "Sink Name",
                "Sink Kafka Topic",
                "Query String",
            ],
            &rows_of(
                &e["queries"],
                &[
                    "id",
                    "queryType",
                    "state",
                    "sinks",
                    "sinkKafkaTopics",
                    "queryString",
                ],
            ),
        ),
        "kafka_topics" => table(
            &["Kafka Topic", "Partitions"],
            &e["topics"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| {
                            let n = t["replicaInfo"].as_array().map_or(0, Vec::len);
                            vec![s(&t["name"]), n.to_string()]
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        ),
        "function_names" => table(
            &["Function Name", "Type"],
            &rows_of(&e["functions"], &["name", "type"]),
        ),
        "properties" => table(
            &["Property", "Scope", "Value"],
            &rows_of(&e["properties"], &["name", "scope", "value"]),
        ),
        "variables" => table(
            &["Variable Name", "Value"],
            &rows_of(&e["variables"], &["name", "value"]),
        ),
        "sourceDescription" => {
            let d = &e["sourceDescription"];
            let fields: Vec<Vec<String>> = d["fields"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|f| {
                            let key = match f["type"].as_str() {
                                Some("KEY") if d["type"] == "TABLE" => " (primary key)",
                                Some("KEY") => " (key)",
                                _ => "",
                            };
                            vec![s(&f["name"]), format!("{}{key}", s(&f["schema"]["type"]))]
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "Name                 : {}\nType                 : {}\nKafka topic          : {} (partitions: {})\nKey format           : {}\nValue format         : {}\n\n{}",
                s(&d["name"]),
                s(&d["type"]),
                s(&d["topic"]),
                s(&d["partitions"]),
                s(&d["keyFormat"]),
                s(&d["valueFormat"]),
                table(&["Field", "Type"], &fields)
            )
        }
        "source_descriptions" => e["sourceDescriptions"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|d| {
                        draw_entity(&json!({"@type": "sourceDescription", "sourceDescription": d}))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        "queryDescription" => {
            let d = &e["queryDescription"];
            let names = |v: &Json| {
                v.as_array()
                    .map(|a| a.iter().map(s).collect::<Vec<_>>())
                    .unwrap_or_default()
            };
            crate::render::explanation(
                &s(&d["id"]),
                &s(&d["statementText"]),
                &names(&d["sources"]),
                &names(&d["sinks"]),
                &s(&d["executionPlan"]),
            )
        }
        "describe_function" => format!(
            "Name        : {}\nType        : {}\nDescription : {}\n\n{}",
            s(&e["name"]),
            s(&e["type"]),
            s(&e["description"]),
            table(&["Signatures"], &rows_of(&e["functions"], &["signature"]))
        ),
        _ => e.to_string(),
    }
}

/// The interactive loop: rustyline for editing and history, Ctrl-C to
/// end a running query, Ctrl-D to leave.
pub fn interactive(server: &str) -> anyhow::Result<()> {
    let mut shell = Shell::new(Client::new(server));
    let interrupt = shell.interrupt.clone();
    ctrlc_flag(interrupt);
    let mut editor = rustyline::DefaultEditor::new()?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".ddsql_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    match shell.client.info() {
        Ok(info) => println!(
            "ddsql {} shell, connected to {server} (ksqlDB {} API). Statements end with ';'; `help` lists the shell's commands; `exit` or Ctrl-D leaves.",
            env!("CARGO_PKG_VERSION"),
            cell(&info["version"]),
        ),
        Err(e) => println!(
            "ddsql {} shell. WARNING: {e}. Statements fail until the server is up; `exit` or Ctrl-D leaves.",
            env!("CARGO_PKG_VERSION"),
        ),
    }
    let mut stdout = std::io::stdout();
    loop {
        match editor.readline(shell.prompt()) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                shell.line(&line, &mut stdout)?;
                if shell.done() {
                    break;
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

/// Routes SIGINT to `flag` (rustyline reads Ctrl-C itself while editing,
/// so this fires only while a query runs).
fn ctrlc_flag(flag: Arc<AtomicBool>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    if let Ok(rt) = rt {
        std::thread::spawn(move || {
            rt.block_on(async {
                while tokio::signal::ctrl_c().await.is_ok() {
                    flag.store(true, Ordering::Relaxed);
                }
            })
        });
    }
}
