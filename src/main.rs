//! The `ddsql` command line.

// Rows are vectors of values: the allocator is on the hot path, and the
// system allocator spent half the first-order benchmark in malloc/free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};

use ddsql::topics::Encoding;

use ddsql::session::{check_script, Connections, ScriptError, Session, TransportTopics};
use ddsql_connectors::kafka::KafkaConfig;
use ddsql_engine::RunOptions;
use ddsql_sql::catalog::Catalog;

/// A streaming SQL engine with ksqlDB's dialect on differential dataflow.
///
/// Statements run against topics in an embedded, durable log kept in the
/// data directory, or on a Kafka cluster with --kafka-bootstrap.
#[derive(Parser)]
#[command(name = "ddsql", version, about, long_about = None)]
struct Cli {
    /// Where topics and state live when no Kafka cluster is named; created
    /// if missing.
    #[arg(
        long,
        global = true,
        env = "DDSQL_DATA_DIR",
        default_value = "./ddsql-data"
    )]
    data_dir: PathBuf,
    /// Use the Kafka cluster at HOST:PORT[,HOST:PORT...] instead of the
    /// embedded log: sources, sinks, the processing log and the server's
    /// catalog (topic _ddsql_commands) all live there.
    #[arg(
        long,
        global = true,
        env = "DDSQL_KAFKA_BOOTSTRAP",
        value_name = "HOST:PORT"
    )]
    kafka_bootstrap: Option<String>,
    /// A properties file (key=value lines) of librdkafka settings for every
    /// Kafka client: security.protocol, sasl.*, ssl.*, group.id, ...
    #[arg(long, global = true, env = "DDSQL_KAFKA_CONFIG", value_name = "FILE")]
    kafka_config: Option<PathBuf>,
    /// How long (ms) a Kafka metadata, admin or produce request, or the
    /// read of records the broker says exist, may take before it fails.
    #[arg(long, global = true, default_value_t = 10_000, value_name = "MS")]
    kafka_timeout_ms: u64,
    /// The Confluent Schema Registry: columns of AVRO, JSON_SR and PROTOBUF
    /// sources declared without them are inferred from subject
    /// <topic>-value (and -key), or the schema KEY_/VALUE_SCHEMA_ID names;
    /// AVRO records are read with their writer's schema, and AVRO sinks
    /// register theirs.
    #[arg(
        long,
        global = true,
        env = "DDSQL_SCHEMA_REGISTRY_URL",
        value_name = "URL"
    )]
    schema_registry_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    fn connections(&self) -> anyhow::Result<Connections> {
        let kafka = match (&self.kafka_bootstrap, &self.kafka_config) {
            (Some(bootstrap), config) => {
                let mut k = KafkaConfig::new(bootstrap);
                k.timeout = std::time::Duration::from_millis(self.kafka_timeout_ms.max(1));
                Some(match config {
                    Some(path) => k.with_properties_file(path).map_err(|e| anyhow!(e))?,
                    None => k,
                })
            }
            (None, Some(_)) => bail!("--kafka-config needs --kafka-bootstrap"),
            (None, None) => None,
        };
        Ok(Connections {
            data_dir: self.data_dir.clone(),
            kafka,
            schema_registry: self.schema_registry_url.clone(),
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Execute a SQL script, then run its persistent queries until every
    /// source is caught up, and exit.
    ///
    /// The whole script is checked first: if any statement has an error,
    /// it is printed with its line and column and nothing is executed.
    /// Running a script again over the same data writes nothing twice: its
    /// queries skip what they wrote before, and an INSERT VALUES an
    /// earlier run executed is not executed again.
    Run {
        /// The script: ksqlDB statements separated by `;`.
        file: PathBuf,
        /// Worker threads for the dataflow.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Records read per partition per step (a throughput knob; results
        /// do not depend on it).
        #[arg(long, default_value_t = 1024)]
        batch: usize,
    },
    /// Parse and bind a SQL script without running anything; print every
    /// error with its line and column, and exit non-zero if there is one.
    ///
    /// Topics are not looked up: each topic the script names is taken to
    /// exist. With --schema-registry-url, sources declared without columns
    /// get them from the registry, as when the script runs. Use it to lint
    /// scripts in CI.
    Check {
        /// The script: ksqlDB statements separated by `;`.
        file: PathBuf,
    },
    /// Run ksqlDB query-validation test files (QTT JSON): one line per case
    /// (PASS, FAIL with the first difference, SKIP with the reason), then
    /// `N passed, N failed, N skipped`. Exits non-zero if a case failed.
    Qtt {
        /// QTT JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print only failures and the summary.
        #[arg(long)]
        quiet: bool,
    },
    /// Serve ksqlDB's REST API (/ksql, /query, /query-stream,
    /// /inserts-stream, /close-query, /info, /healthcheck, /status).
    ///
    /// The catalog is durable: persistent queries created over the API
    /// survive a restart and resume over the same data directory. Stop
    /// with Ctrl-C or SIGTERM: the persistent queries finish their writes.
    Server {
        /// Address to listen on (port 0 picks a free port; the address is
        /// printed once the server accepts requests).
        #[arg(long, default_value = "127.0.0.1:8088")]
        listen: std::net::SocketAddr,
        /// Worker threads for the persistent queries' dataflow.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// How long (ms) a caught-up partition holds back the others before
        /// they go on without it (ksqlDB's max.task.idle.ms): the wait for
        /// a live result when some partitions are idle.
        #[arg(long, default_value_t = 500)]
        idle_ms: i64,
        /// The largest request body accepted, in bytes (for
        /// /inserts-stream: the largest row).
        #[arg(long, default_value_t = 16 << 20)]
        max_request_bytes: usize,
    },
    /// An interactive shell against a server: multi-line statements ending
    /// in `;`, results as tables, push queries until Ctrl-C, history in
    /// ~/.ddsql_history, `RUN SCRIPT 'file.sql'`; `help`, `version`, `exit`.
    ///
    /// With --file, the file's statements run up to the first that fails;
    /// the exit status is non-zero if one failed or the server could not
    /// be reached.
    Cli {
        /// The server's URL.
        #[arg(long, default_value = "http://127.0.0.1:8088", env = "DDSQL_SERVER")]
        server: String,
        /// Run this file's statements and exit instead of reading the
        /// terminal.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Serve an in-memory Schema Registry (Confluent's REST API: subjects,
    /// versions, schemas by id, AVRO, JSON and PROTOBUF with references)
    /// until Ctrl-C or SIGTERM.
    ///
    /// For demos and tests where no Confluent Schema Registry runs: point
    /// producers' serializers and ddsql's --schema-registry-url at it. It
    /// keeps nothing on disk: a restart starts empty.
    SchemaRegistry {
        /// Address to listen on (port 0 picks a free port; the address is
        /// printed on the first line).
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
    },
    /// Run a test the way ksqlDB's ksql-test-runner does: the statements
    /// on a fresh embedded log, the input records fed in order, the output
    /// topics compared with the expected records. Prints `Test passed!`
    /// and exits 0, or prints the first difference and exits 1.
    TestRunner {
        /// The SQL statements.
        #[arg(short = 's', long)]
        sql_file: PathBuf,
        /// Input records: {"inputs": [{"topic", "key", "value", "timestamp"}, ...]}.
        #[arg(short = 'i', long)]
        input_file: PathBuf,
        /// Expected output records: {"outputs": [...]}, same shape.
        #[arg(short = 'o', long)]
        output_file: PathBuf,
    },
    /// Write records to and read records from topics.
    ///
    /// While `ddsql server` holds the data directory, these go through the
    /// server (its /topics endpoints; it writes its address to
    /// <data-dir>/server.url), and produced records take its ordered write
    /// path as every write does.
    #[command(subcommand)]
    Topic(TopicCommand),
}

#[derive(Subcommand)]
enum TopicCommand {
    /// Append JSON lines from stdin to TOPIC, one record per line:
    /// {"key": .., "value": .., "timestamp": .., "partition": .., "headers": {..}}.
    /// Only "value" is required; the topic is created if missing.
    Produce {
        topic: String,
        /// Partitions, if the topic must be created.
        #[arg(long, default_value_t = 1)]
        partitions: u32,
        /// How "key" becomes bytes.
        #[arg(long, value_enum, default_value_t = Encoding::Json)]
        key_encoding: Encoding,
        /// How "value" becomes bytes.
        #[arg(long, value_enum, default_value_t = Encoding::Json)]
        value_encoding: Encoding,
        /// With --key-encoding avro: the Avro schema to write keys with
        /// (a file, or the schema's JSON text), registered under subject
        /// TOPIC-key; the subject's latest schema if not given.
        #[arg(long, value_name = "SCHEMA")]
        key_schema: Option<String>,
        /// With --value-encoding avro: the Avro schema to write values
        /// with (a file, or the schema's JSON text), registered under
        /// subject TOPIC-value; the subject's latest schema if not given.
        #[arg(long, value_name = "SCHEMA")]
        value_schema: Option<String>,
    },
    /// Print the records of TOPIC as JSON lines, from the beginning.
    Consume {
        topic: String,
        /// Stop after this many records.
        #[arg(long)]
        max: Option<u64>,
        /// How key bytes are shown.
        #[arg(long, value_enum, default_value_t = Encoding::Auto)]
        key_encoding: Encoding,
        /// How value bytes are shown.
        #[arg(long, value_enum, default_value_t = Encoding::Auto)]
        value_encoding: Encoding,
        /// With --value-encoding avro: read values as this Avro schema (a
        /// file, or the schema's JSON text), resolved from each record's
        /// writer's schema by Avro's rules (defaults for added fields,
        /// aliases, promotions); each writer's own schema if not given.
        #[arg(long, value_name = "SCHEMA")]
        value_reader_schema: Option<String>,
        /// Also print headers (including ddsql's own `ddsql` stamp: a
        /// record's logical time, its cause's, the query that wrote it).
        #[arg(long)]
        headers: bool,
    },
    /// List topics with their partitions and record counts.
    List,
}

/// The command line, parsed. The connection flags are global (they may
/// come before or after the subcommand), but `ddsql cli` talks to a server
/// over HTTP and uses none of them: its `--help` leaves them out.
fn parse_args() -> Cli {
    use clap::{Arg, CommandFactory, FromArgMatches};
    // A hidden flag of the subcommand's own with a global's id keeps the
    // global out of it (clap propagates a global only where its id is free).
    let command = Cli::command().mut_subcommand("cli", |cli| {
        [
            ("data_dir", "data-dir"),
            ("kafka_bootstrap", "kafka-bootstrap"),
            ("kafka_config", "kafka-config"),
            ("kafka_timeout_ms", "kafka-timeout-ms"),
            ("schema_registry_url", "schema-registry-url"),
        ]
        .into_iter()
        .fold(cli, |cli, (id, long)| {
            cli.arg(Arg::new(id).long(long).num_args(1).hide(true))
        })
    });
    Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    ddsql::tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DDSQL_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour for a person at a terminal, none in a redirected log.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = parse_args();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let connections = cli.connections()?;
    match cli.command {
        Command::Run {
            file,
            workers,
            batch,
        } => {
            let sql = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            // Syntax first, so a broken script does not even create the data directory.
            let substituted = ddsql_sql::variables::substitute(&sql, &mut Default::default())
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
            ddsql_sql::parser::parse(&substituted)
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
            let mut session = Session::connect(&connections)?;
            let started = std::time::Instant::now();
            // Statement by statement, as a server would take them one
            // request at a time: each query installed once the ones before
            // it are caught up; idle partitions are not waited for.
            session.start_runtime(
                ddsql_engine::RuntimeConfig {
                    workers: workers.max(1),
                    batch: batch.max(1),
                    max_drift_ms: RunOptions::default().max_drift_ms,
                    idle_ms: Some(0),
                    sequence_header: None,
                },
                true,
            )?;
            for done in session
                .execute_script_once(&sql)
                .map_err(|e| anyhow!("{}: {e}", file.display()))?
            {
                if let Some(output) = done.output {
                    println!("{output}");
                }
                if !done.message.is_empty() {
                    eprintln!("{}", done.message);
                }
            }
            let report = session.stop_runtime()?;
            if session.catalog().queries().is_empty() {
                return Ok(());
            }
            eprintln!(
                "ran {} persistent queries in {:.2?}: read {} records, wrote {}, {} processing errors{}",
                session.catalog().queries().len(),
                started.elapsed(),
                report.records_read,
                report.records_written,
                report.processing_errors,
                if report.processing_errors > 0 { format!(" (see topic {})", ddsql_engine::PROCESSING_LOG_TOPIC) } else { String::new() }
            );
            Ok(())
        }
        Command::Server {
            listen,
            workers,
            idle_ms,
            max_request_bytes,
        } => {
            let config = ddsql::server::Config {
                listen,
                connections: connections.clone(),
                workers: workers.max(1),
                idle_ms: idle_ms.max(0),
                max_request_bytes,
            };
            ddsql::server::serve(config, |addr| {
                println!(
                    "ddsql server listening on http://{addr} (topics in {})",
                    connections.describe()
                );
                let _ = std::io::stdout().flush();
            })
        }
        Command::Cli { server, file } => match file {
            None => ddsql::shell::interactive(&server),
            Some(file) => {
                let sql = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let client = ddsql::shell::Client::new(&server);
                client.info().map_err(|e| anyhow!(e))?;
                let mut shell = ddsql::shell::Shell::new(client);
                shell.run(&sql, &mut std::io::stdout())?;
                if shell.failed() {
                    bail!(
                        "{}: a statement failed (above); the statements after it did not run",
                        file.display()
                    );
                }
                Ok(())
            }
        },
        Command::SchemaRegistry { listen } => {
            let registry =
                ddsql_connectors::schema_registry::MemoryRegistry::start_on(&listen.to_string())
                    .with_context(|| {
                        format!("cannot listen on {listen}: choose another address with --listen")
                    })?;
            println!(
                "ddsql schema registry listening on http://{}:{} (in memory)",
                listen.ip(),
                registry.port()
            );
            std::io::stdout().flush()?;
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(async {
                    let mut terminate =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                    tokio::select! {
                        r = tokio::signal::ctrl_c() => r,
                        _ = terminate.recv() => Ok(()),
                    }
                })?;
            drop(registry);
            Ok(())
        }
        Command::TestRunner {
            sql_file,
            input_file,
            output_file,
        } => test_runner(&sql_file, &input_file, &output_file),
        Command::Qtt { files, quiet } => {
            let (mut passed, mut failed, mut skipped) = (0, 0, 0);
            for file in &files {
                for outcome in ddsql::qtt::run_file(file)
                    .with_context(|| format!("reading {}", file.display()))?
                {
                    match outcome.verdict {
                        ddsql::qtt::Verdict::Pass => passed += 1,
                        ddsql::qtt::Verdict::Fail(_) => failed += 1,
                        ddsql::qtt::Verdict::Skip(_) => skipped += 1,
                    }
                    if !quiet || matches!(outcome.verdict, ddsql::qtt::Verdict::Fail(_)) {
                        println!("{outcome}");
                    }
                }
            }
            println!("{passed} passed, {failed} failed, {skipped} skipped");
            if failed > 0 {
                bail!("{failed} QTT case(s) failed");
            }
            Ok(())
        }
        Command::Check { file } => {
            let sql = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            // Only the registry is consulted: topics are taken to exist.
            let checked = check_script(
                &Catalog::default(),
                &TransportTopics {
                    transport: None,
                    formats: &connections.formats(),
                },
                &Default::default(),
                &Default::default(),
                &sql,
                true,
            );
            for e in &checked.errors {
                match e {
                    ScriptError::Sql { error, .. } if !error.pos.is_unknown() => {
                        eprintln!(
                            "{}:{}:{}: {}",
                            file.display(),
                            error.pos.line,
                            error.pos.column,
                            error.message
                        )
                    }
                    other => eprintln!("{}: {other}", file.display()),
                }
            }
            if checked.errors.is_empty() {
                eprintln!(
                    "{}: {} statements, no errors",
                    file.display(),
                    checked.bound.len()
                );
                Ok(())
            } else {
                bail!("{}: {} error(s)", file.display(), checked.errors.len())
            }
        }
        Command::Topic(command) => topic_command(&cli.data_dir, &connections, command),
    }
}

/// `ddsql topic ...` on the topics themselves, or, while a server holds
/// the data directory, through the server ([`ddsql::topics::Remote`]).
fn topic_command(
    data_dir: &std::path::Path,
    connections: &Connections,
    command: TopicCommand,
) -> anyhow::Result<()> {
    use ddsql::topics::{self, AvroLines, Encodings, MappedLines, Remote};
    // A schema given on the command line: a file, or the JSON text itself.
    let schema_text = |arg: &str| -> anyhow::Result<String> {
        if arg.trim_start().starts_with(['{', '[', '"']) {
            Ok(arg.to_string())
        } else {
            std::fs::read_to_string(arg).with_context(|| format!("reading the Avro schema {arg}"))
        }
    };
    let registry = connections.schema_registry.as_deref();
    let (log, remote) = match connections.open() {
        Ok((log, _)) => (Some(log), None),
        Err(e) => match Remote::of(data_dir) {
            Some(remote) if connections.kafka.is_none() => (None, Some(remote)),
            _ => return Err(e.into()),
        },
    };
    match command {
        TopicCommand::Produce {
            topic,
            partitions,
            key_encoding,
            value_encoding,
            key_schema,
            value_schema,
        } => {
            let encodings = Encodings {
                key: key_encoding,
                value: value_encoding,
            };
            let avro = match AvroLines::new(&topic, encodings, registry)? {
                Some(mut avro) => {
                    let writing = |codec: Option<ddsql_connectors::format::avro_json::AvroJson>,
                                   schema: Option<String>| {
                        codec
                            .map(|c| match &schema {
                                Some(s) => c.writing(&schema_text(s)?).map_err(anyhow::Error::msg),
                                None => c.writing_latest().map_err(anyhow::Error::msg),
                            })
                            .transpose()
                    };
                    avro.key = writing(avro.key, key_schema)?;
                    avro.value = writing(avro.value, value_schema)?;
                    Some(avro)
                }
                None => {
                    if key_schema.is_some() || value_schema.is_some() {
                        anyhow::bail!("--key-schema and --value-schema are for --key-encoding avro and --value-encoding avro");
                    }
                    None
                }
            };
            let encodings = AvroLines::wire(encodings);
            let stdin = MappedLines::new(std::io::stdin().lock(), |line: &str| match &avro {
                Some(avro) => avro.encode_line(line),
                None => Ok(line.to_string()),
            });
            let count = match (&log, &remote) {
                (Some(log), _) => {
                    let clock = ddsql_engine::clock::Clock::open(log.clone())?;
                    topics::produce(
                        log.as_ref(),
                        &clock,
                        &topic,
                        partitions,
                        ("stdin", stdin),
                        encodings,
                    )?
                }
                (None, Some(remote)) => remote.produce(&topic, partitions, stdin, encodings)?,
                (None, None) => unreachable!("one of the two"),
            };
            eprintln!("produced {count} records to {topic}");
            Ok(())
        }
        TopicCommand::Consume {
            topic,
            max,
            key_encoding,
            value_encoding,
            value_reader_schema,
            headers,
        } => {
            let encodings = Encodings {
                key: key_encoding,
                value: value_encoding,
            };
            let mut avro = AvroLines::new(&topic, encodings, registry)?;
            if let Some(schema) = &value_reader_schema {
                let Some(codec) = avro.as_mut().and_then(|a| a.value.take()) else {
                    anyhow::bail!("--value-reader-schema is for --value-encoding avro");
                };
                let codec = codec
                    .reading_as(&schema_text(schema)?)
                    .map_err(anyhow::Error::msg)?;
                avro.as_mut().expect("avro").value = Some(codec);
            }
            let encodings = AvroLines::wire(encodings);
            let mut out = std::io::stdout().lock();
            let mut print = |line: serde_json::Value| {
                let line = match &avro {
                    Some(avro) => avro.decode_line(line)?,
                    None => line,
                };
                writeln!(out, "{line}")?;
                Ok(true)
            };
            match (&log, &remote) {
                (Some(log), _) => {
                    topics::consume(log.as_ref(), &topic, max, encodings, headers, &mut print)?;
                }
                (None, Some(remote)) => {
                    remote.consume(&topic, max, encodings, headers, &mut print)?
                }
                (None, None) => unreachable!("one of the two"),
            }
            Ok(())
        }
        TopicCommand::List => {
            let listed = match (&log, &remote) {
                (Some(log), _) => topics::list(log.as_ref())?,
                (None, Some(remote)) => remote.list()?,
                (None, None) => unreachable!("one of the two"),
            };
            for (name, partitions, records) in listed {
                println!("{}", topics::list_line(&name, partitions, records));
            }
            Ok(())
        }
    }
}

fn test_runner(
    sql_file: &std::path::Path,
    input_file: &std::path::Path,
    output_file: &std::path::Path,
) -> anyhow::Result<()> {
    match ddsql::test_runner::run(sql_file, input_file, output_file)? {
        ddsql::test_runner::Verdict::Passed => {
            println!("Test passed!");
            Ok(())
        }
        ddsql::test_runner::Verdict::Failed(difference) => {
            println!("Test failed: {difference}");
            std::process::exit(1)
        }
    }
}
