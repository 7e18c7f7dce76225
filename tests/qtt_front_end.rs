//! Issue 3's yardstick for the front end: every `statements` list in
//! ksqlDB's QTT files (../shared/qtt) through parse and bind, with the
//! case's topics, registered schemas and properties, as `ddsql check` would
//! see them. Cases without `expectedException` should bind; cases with one
//! should be rejected, unless ksqlDB only fails when the query runs.
//!
//! The counts are printed, with the reasons good cases fail; the floors
//! only rise.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ddsql::qtt;

fn qtt_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/qtt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; the QTT files live in ../shared/qtt",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn qtt_cases_parse_and_bind() {
    let (mut good, mut good_ok, mut bad, mut bad_rejected) = (0, 0, 0, 0);
    let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in qtt_files() {
        for case in qtt::check_file(&file).unwrap() {
            match (case.expects_error, case.outcome) {
                (true, outcome) => {
                    bad += 1;
                    bad_rejected += usize::from(outcome.is_err());
                }
                (false, Ok(())) => {
                    good += 1;
                    good_ok += 1;
                }
                (false, Err(e)) => {
                    good += 1;
                    // Grouped by the message without its position.
                    let reason = e.split(": ").skip(1).collect::<Vec<_>>().join(": ");
                    let reason: String = reason.chars().take(90).collect();
                    reasons
                        .entry(reason)
                        .or_default()
                        .push(format!("{}: {}", case.file, case.name));
                }
            }
        }
    }
    println!("qtt front end: {good_ok} of {good} cases without expectedException bind; {bad_rejected} of {bad} cases with one are rejected before running");
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort_by_key(|(_, cases)| std::cmp::Reverse(cases.len()));
    println!("why the other good cases do not bind:");
    for (reason, cases) in &reasons {
        println!("  {:4}  {reason}  (e.g. {})", cases.len(), cases[0]);
    }
    assert!(
        good_ok >= FLOOR_GOOD_BIND,
        "{good_ok} good cases bind, fewer than the floor {FLOOR_GOOD_BIND}"
    );
    assert!(
        bad_rejected >= FLOOR_BAD_REJECTED,
        "{bad_rejected} bad cases rejected, fewer than the floor {FLOOR_BAD_REJECTED}"
    );
}

const FLOOR_GOOD_BIND: usize = 869;
const FLOOR_BAD_REJECTED: usize = 259;
