//! The oracle: PostgreSQL, a batch SQL engine, in a throwaway cluster.
//!
//! The harness starts its own cluster in a temporary directory (`initdb`,
//! `pg_ctl`), listening on a Unix socket only, and stops it when dropped.
//! Each scenario's inputs are loaded into tables with two extra columns,
//! `seq` (the record's rank in ddsql's logical time order, from 1) and
//! `rowtime`; the scenario's oracle queries are plain SQL over them.

use std::path::PathBuf;
use std::process::Command;

use postgres::{Client, Config, NoTls};
use serde_json::Value as Json;

use crate::scenarios::{Oracle, Scenario};

pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Run the server's programs as the `postgres` user (initdb refuses root).
    as_postgres: bool,
    client: Client,
}

impl Postgres {
    pub fn start() -> Result<Postgres, String> {
        let bin = find_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("ddsql-oracle-")
            .tempdir()
            .map_err(|e| format!("creating the oracle's directory: {e}"))?;
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()))
            .map_err(|e| {
                format!("{e} (is there a `postgres` user? Debian's postgresql package creates it)")
            })?;
        }
        let data = dir.path().join("data");
        let pg = |program: &str| {
            let path = bin.join(program);
            if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(path);
                c
            } else {
                Command::new(path)
            }
        };
        run(pg("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]))?;
        let options = format!(
            "-c listen_addresses='' -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=8 -c shared_buffers=256MB",
            dir.path().display()
        );
        run(pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("server.log"))
            .args(["-w", "-o", &options, "start"]))?;
        let client = Config::new()
            .host_path(dir.path())
            .user("postgres")
            .dbname("postgres")
            .connect(NoTls)
            .map_err(|e| format!("connecting to the oracle: {e}"))?;
        Ok(Postgres {
            bin,
            dir,
            as_postgres,
            client,
        })
    }

    pub fn version(&mut self) -> String {
        self.client
            .query_one("SHOW server_version", &[])
            .map(|r| r.get(0))
            .unwrap_or_default()
    }

    /// Loads a scenario's inputs, `(table, row)` with `seq` and `rowtime`
    /// in every row, into a fresh schema, then runs the scenario's setup.
    pub fn load(&mut self, scenario: &Scenario, rows: &[(&str, Json)]) -> Result<(), String> {
        let mut ddl =
            String::from("DROP SCHEMA IF EXISTS h CASCADE; CREATE SCHEMA h; SET search_path TO h;");
        for t in scenario.topics {
            ddl += &format!(
                "CREATE TABLE {} (seq bigint NOT NULL, rowtime bigint NOT NULL, {});",
                t.table, t.columns
            );
        }
        self.client
            .batch_execute(&ddl)
            .map_err(|e| pg_error("creating the input tables", e))?;
        for t in scenario.topics {
            let mine: Vec<&Json> = rows
                .iter()
                .filter(|(n, _)| *n == t.table)
                .map(|(_, r)| r)
                .collect();
            let json = serde_json::to_string(&mine).expect("rows serialise");
            self.client
                .execute(
                    &format!(
                        "INSERT INTO {0} SELECT * FROM json_populate_recordset(NULL::{0}, $1::text::json)",
                        t.table
                    ),
                    &[&json],
                )
                .map_err(|e| pg_error(&format!("loading {}", t.table), e))?;
        }
        self.client
            .batch_execute(&format!("{}; ANALYZE;", scenario.oracle_setup))
            .map_err(|e| pg_error("the scenario's oracle setup", e))
    }

    /// Answers one output's oracle query. Streams and table changes come
    /// back as `(seq, row)`; a table's contents as of each of `times`, in
    /// order, come back as `(t, rows of the table at t)`.
    pub fn answer(&mut self, oracle: &Oracle, times: &[u64]) -> Result<Answer, String> {
        match oracle {
            Oracle::Stream(sql) | Oracle::TableChanges(sql) => {
                let rows = self
                    .client
                    .query(
                        &format!("SELECT q.seq, (to_jsonb(q) - 'seq')::text FROM ({sql}) q"),
                        &[],
                    )
                    .map_err(|e| pg_error(sql, e))?;
                let rows = rows
                    .iter()
                    .map(|r| (r.get::<_, i64>(0) as u64, parse(r.get(1))))
                    .collect();
                Ok(match oracle {
                    Oracle::Stream(_) => Answer::Stream(rows),
                    _ => Answer::TableChanges(rows),
                })
            }
            Oracle::TableAt(sql) => {
                let statement = self
                    .client
                    .prepare(&format!("SELECT to_jsonb(q)::text FROM ({sql}) q"))
                    .map_err(|e| pg_error(sql, e))?;
                let mut states = Vec::with_capacity(times.len());
                for &t in times {
                    let rows = self
                        .client
                        .query(&statement, &[&(t as i64)])
                        .map_err(|e| pg_error(sql, e))?;
                    states.push((t, rows.iter().map(|r| parse(r.get(0))).collect()));
                }
                Ok(Answer::TableAt(states))
            }
        }
    }
}

/// An oracle query's result (see [`Postgres::answer`]).
pub enum Answer {
    Stream(Vec<(u64, Json)>),
    TableChanges(Vec<(u64, Json)>),
    /// The table's rows as of each time asked, in order.
    TableAt(Vec<(u64, Vec<Json>)>),
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let _ = c
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn parse(text: &str) -> Json {
    serde_json::from_str(text).expect("PostgreSQL's jsonb text is JSON")
}

fn pg_error(what: &str, e: postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("oracle: {what}: {} ({})", db.message(), db.code().code()),
        None => format!("oracle: {what}: {e}"),
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .output()
        .map_err(|e| format!("running {:?}: {e}", command.get_program()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{:?} failed ({}): {}{}",
        command,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// The directory of `initdb` and `pg_ctl`: Debian keeps them off PATH, in
/// `/usr/lib/postgresql/<version>/bin`.
fn find_bin() -> Result<PathBuf, String> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists());
    on_path.ok_or_else(|| {
        "the correctness harness needs PostgreSQL as its oracle, and found no initdb/pg_ctl in \
         /usr/lib/postgresql/*/bin or on PATH: run scripts/setup.sh (it installs Debian's \
         `postgresql` package) or `apt-get install postgresql`"
            .to_string()
    })
}
