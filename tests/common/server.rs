//! A `ddsql server` process driven over HTTP by a real client (ureq), for
//! the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

/// A `ddsql server` process on a free port; killed when dropped.
pub struct Server {
    pub url: String,
    pub child: Child,
    pub agent: ureq::Agent,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[])
    }

    pub fn start_with(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ddsql"))
            .arg("--data-dir")
            .arg(dir)
            .args(["server", "--listen", "127.0.0.1:0", "--idle-ms", "20"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting ddsql server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Server { child, url, agent }
    }

    pub fn post(&self, path: &str, body: &Json) -> (u16, Json) {
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.url))
            .send_json(body)
            .unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        (
            r.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Json::String(text)),
        )
    }

    /// Runs statements; panics unless the server accepts them all.
    pub fn ksql(&self, sql: &str) -> Vec<Json> {
        let (status, body) = self.post("/ksql", &json!({"ksql": sql}));
        assert_eq!(status, 200, "{body:#}");
        body.as_array().unwrap().clone()
    }

    /// Streams rows to `/inserts-stream`; returns the acks.
    pub fn insert(&self, target: &str, rows: &[Json]) -> Vec<Json> {
        let mut body = json!({"target": target}).to_string();
        for r in rows {
            body.push('\n');
            body.push_str(&r.to_string());
        }
        let mut r = self
            .agent
            .post(&format!("{}/inserts-stream", self.url))
            .send(body.as_bytes())
            .unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A pull query on `/query-stream`: the rows.
    pub fn pull(&self, sql: &str) -> Vec<Json> {
        let mut r = self
            .agent
            .post(&format!("{}/query-stream", self.url))
            .send_json(json!({"sql": sql}))
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let text = r.body_mut().read_to_string().unwrap();
        text.lines()
            .skip(1)
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A push query from the earliest offsets, read until `n` rows came
    /// (LIMIT ends it on the server).
    pub fn push(&self, sql: &str, n: usize) -> Vec<Json> {
        let sql = format!("{} LIMIT {n};", sql.trim_end_matches(';'));
        let r = self
            .agent
            .post(&format!("{}/query-stream", self.url))
            .config()
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .send_json(json!({"sql": sql, "properties": {"auto.offset.reset": "earliest"}}))
            .unwrap();
        let mut lines = BufReader::new(r.into_body().into_reader()).lines();
        let header: Json = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert!(header["queryId"].is_string(), "{header}");
        lines
            .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
            .collect()
    }

    /// Waits until a pull query returns `n` rows.
    pub fn pull_until(&self, sql: &str, n: usize) -> Vec<Json> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let rows = self.pull(sql);
            if rows.len() >= n || Instant::now() > deadline {
                return rows;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
