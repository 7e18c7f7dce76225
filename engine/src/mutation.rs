//! Deliberate bugs for the correctness harness (feature `mutation`).
//!
//! A harness that never fails proves nothing. The harness switches one of
//! these on, runs a scenario, and checks that it reports a difference and
//! shrinks it to a small counterexample. Without the feature this module
//! does not exist and the operators carry no trace of it.

use std::sync::atomic::{AtomicU8, Ordering};

/// A deliberate bug, one at a time for the whole process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mutation {
    /// The stream-table join reads the table as of just *before* the stream
    /// record's time instead of inclusively: the race ksqlDB has.
    AsOfJoinExclusive = 1,
    /// A query's output reaches its readers at the time of the input that
    /// caused it, even when the partition it is written to already holds
    /// later rows: the feed jumps ahead of records that precede it in the
    /// partition (what ddsql did before offset order held in every
    /// partition).
    FeedAtCauseTime = 2,
}

static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// Switches `mutation` on (or every mutation off, with `None`).
pub fn set(mutation: Option<Mutation>) {
    ACTIVE.store(mutation.map_or(0, |m| m as u8), Ordering::SeqCst);
}

/// Whether `mutation` is on.
pub fn active(mutation: Mutation) -> bool {
    ACTIVE.load(Ordering::Relaxed) == mutation as u8
}
