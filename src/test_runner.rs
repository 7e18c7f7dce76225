//! A runner for ksqlDB's `ksql-test-runner` files: a statements file (a
//! ksqlDB script), an input file `{"inputs": [...]}` and an output file
//! `{"outputs": [...]}`, whose records have a `topic`, a `key`, a `value`
//! (JSON) and maybe a `timestamp`.
//!
//! The machinery is the QTT runner's ([`crate::qtt`]): the statements run on
//! a fresh embedded log, the inputs are encoded with the formats of the
//! source declared over their topic and fed in file order, and what the
//! queries write is compared with the outputs topic by topic: values by
//! JSON equality (doubles within 1e-6), timestamps only where the output
//! file gives them; a table update repeating the key's previous value may
//! be elided on either side. Input headers are not read.

use std::path::Path;

use anyhow::{anyhow, bail};
use serde_json::Value as Json;

use crate::qtt::{self, Difference, Mismatch, Produced, Stopped};

/// How a test went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// The first difference between the expected and the produced records.
    Failed(String),
}

/// Runs the statements of `statements` over the records of `input` and
/// compares what they write with the records of `output`.
///
/// A file that cannot be read, bad JSON, a statement that does not check
/// (with its line and column), an input that cannot be encoded or a
/// feature ddsql does not have yet is an error naming the file; wrong
/// outputs are a [`Verdict::Failed`].
pub fn run(statements: &Path, input: &Path, output: &Path) -> anyhow::Result<Verdict> {
    let sql = std::fs::read_to_string(statements)
        .map_err(|e| anyhow!("reading {}: {e}", statements.display()))?;
    let inputs = records(input, "inputs")?;
    let outputs = records(output, "outputs")?;
    let ran = match qtt::execute(&[sql], &inputs, &[]) {
        Ok(ran) => ran,
        Err(Stopped::Setup(why)) => bail!("{why}"),
        Err(Stopped::Statement(why)) => bail!("{}: {why}", statements.display()),
        Err(Stopped::Input(qtt::Verdict::Skip(why) | qtt::Verdict::Fail(why))) => {
            bail!("{}: {why}", input.display())
        }
        Err(Stopped::Input(qtt::Verdict::Pass)) => unreachable!("inputs fail with a reason"),
        Err(Stopped::Run(why)) => bail!("{}: running the queries: {why}", statements.display()),
    };
    Ok(match qtt::compare_outputs(&ran.session, &outputs) {
        Ok(()) => Verdict::Passed,
        Err(difference) => Verdict::Failed(describe(&difference)),
    })
}

/// The records of `path`, a JSON object whose `field` is an array of
/// records, each with a `topic`.
fn records(path: &Path, field: &str) -> anyhow::Result<Vec<Json>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow!("reading {}: {e}", path.display()))?;
    let mut json: Json =
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: bad JSON: {e}", path.display()))?;
    let Some(Json::Array(records)) = json.get_mut(field).map(Json::take) else {
        bail!(
            "{}: expected an object with an array \"{field}\"",
            path.display()
        );
    };
    if let Some(i) = records
        .iter()
        .position(|r| r.get("topic").and_then(Json::as_str).is_none())
    {
        bail!("{}: {field}[{i}] has no \"topic\"", path.display());
    }
    Ok(records)
}

/// A difference as `ksql-test-runner` words it: `Topic 'T', message I:
/// Expected <key, value> with timestamp=... but was <key, value> with
/// timestamp=...`, messages counted from 0.
fn describe(difference: &Difference) -> String {
    let Difference::Records {
        topic,
        expected_count,
        actual_count,
        index,
        mismatch,
    } = difference
    else {
        return difference.to_string();
    };
    let expected = |e: &Json, actual_ts: Option<i64>| {
        let ts = e.get("timestamp").and_then(Json::as_i64).or(actual_ts);
        format!(
            "<{}, {}>{}",
            e["key"],
            e["value"],
            ts.map(|t| format!(" with timestamp={t}"))
                .unwrap_or_default()
        )
    };
    let actual = |(k, v, ts): &Produced| format!("<{k}, {v}> with timestamp={ts}");
    let counts = format!("({expected_count} records expected, {actual_count} produced)");
    match &**mismatch {
        Mismatch::Differs {
            expected: e,
            actual: a,
        } => format!(
            "Topic '{topic}', message {index}: Expected {} but was {}",
            expected(e, Some(a.2)),
            actual(a)
        ),
        Mismatch::Missing { expected: e } => format!(
            "Topic '{topic}', message {index}: Expected {} but was no record {counts}",
            expected(e, None)
        ),
        Mismatch::Extra { actual: a } => format!(
            "Topic '{topic}', message {index}: Expected no record but was {} {counts}",
            actual(a)
        ),
    }
}
