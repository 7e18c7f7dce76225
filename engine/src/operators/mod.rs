//! The dataflow operators SQL needs beyond differential dataflow's own.
//!
//! They share one discipline: buffer updates until their time is
//! *complete* (no input can still bring an update at or before it), then
//! process complete updates in time order. That makes their output a
//! function of the logical times alone, independent of batching, worker
//! count and arrival order: the consistency contract.

pub mod aggregate;
pub mod as_of_join;
pub mod changelog;
pub mod emit_final;
pub mod sink;
pub mod source;
pub mod unmatched;
pub mod upsert;

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::progress::frontier::MutableAntichain;

use crate::time::{Diff, Time};
use crate::ProcessingError;

/// The least time an input may still deliver, or `None` once it is closed.
/// Times are totally ordered, so a frontier has at most one element.
pub(crate) fn frontier_min(f: &MutableAntichain<Time>) -> Option<Time> {
    f.frontier().iter().min().copied()
}

/// The least of several frontiers: everything strictly before it is complete.
pub(crate) fn complete_before(frontiers: &[&MutableAntichain<Time>]) -> Option<Time> {
    frontiers.iter().filter_map(|f| frontier_min(f)).min()
}

/// Updates waiting for their times to complete.
///
/// An operator whose input runs ahead of its other input (an as-of join
/// whose table lags its stream) holds a long incomplete tail, and is
/// activated once per arriving batch. Sorting or scanning all of it at
/// each activation would cost the tail's length every time. Instead the
/// updates sit in sorted runs, each less than half as long as the one
/// before (a merge batcher's discipline), each sorted latest first, so
/// that taking the complete updates splits off the end of each run: an
/// update is moved O(log n) times however long it waits.
///
/// For example, after batches `[b@5, a@2]` and `[c@3]`, taking what is
/// complete before 5 gives `[a@2, c@3]`, and `b@5` waits.
pub(crate) struct Pending<D> {
    runs: Vec<Vec<(D, Time, Diff)>>,
}

impl<D> Default for Pending<D> {
    fn default() -> Self {
        Pending { runs: Vec::new() }
    }
}

/// The order updates are processed in: by time, then by data, so that
/// equal times come out the same however they arrived.
fn update_order<D: Ord>(a: &(D, Time, Diff), b: &(D, Time, Diff)) -> std::cmp::Ordering {
    a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0))
}

impl<D: Ord> Pending<D> {
    /// Takes the updates out of `batch`.
    pub(crate) fn push(&mut self, batch: &mut Vec<(D, Time, Diff)>) {
        if batch.is_empty() {
            return;
        }
        let mut run = std::mem::take(batch);
        run.sort_by(|a, b| update_order(b, a));
        self.runs.push(run);
        while self.runs.len() >= 2
            && self.runs[self.runs.len() - 2].len() < 2 * self.runs[self.runs.len() - 1].len()
        {
            let mut last = self.runs.pop().expect("two runs");
            let into = self.runs.last_mut().expect("two runs");
            into.append(&mut last);
            into.sort_by(|a, b| update_order(b, a));
        }
    }

    /// Moves the updates with times strictly before `bound` (all of them
    /// when `bound` is `None`) out, sorted by time.
    pub(crate) fn take(&mut self, bound: Option<Time>) -> Vec<(D, Time, Diff)> {
        let mut ready = Vec::new();
        for run in &mut self.runs {
            let at = match bound {
                Some(b) => run.partition_point(|u| u.1 >= b),
                None => 0,
            };
            ready.extend(run.drain(at..));
        }
        self.runs.retain(|r| !r.is_empty());
        ready.sort_by(update_order);
        ready
    }
}

/// Holds an operator's output capability at `bound`, the least time it may
/// still emit at, and drops it once every input is closed.
pub(crate) fn advance(cap: &mut Option<Capability<Time>>, bound: Option<Time>) {
    match (bound, cap.as_mut()) {
        (Some(b), Some(c)) if *c.time() < b => c.downgrade(&b),
        (None, _) => *cap = None,
        _ => {}
    }
}

/// Splits results into values and processing errors (made by `to_error`).
// `Ok`/`Err` here route data between two outputs; nothing is propagated,
// so the size of the error variant does not matter.
#[allow(clippy::result_large_err)]
pub(crate) fn split_errors<'s, D, E, F>(
    results: VecCollection<'s, Time, Result<D, E>, Diff>,
    to_error: F,
) -> (
    VecCollection<'s, Time, D, Diff>,
    VecCollection<'s, Time, ProcessingError, Diff>,
)
where
    D: Clone + 'static,
    E: Clone + 'static,
    F: Fn(E) -> ProcessingError + 'static,
{
    let (ok, err) = results
        .inner
        .ok_err(move |(r, t, d): (Result<D, E>, Time, Diff)| match r {
            Ok(v) => Ok((v, t, d)),
            Err(e) => Err((to_error(e), t, d)),
        });
    (ok.as_collection(), err.as_collection())
}

/// The discipline of the module docs as one operator: routes updates by
/// `route`, buffers them until complete, and hands `logic` each batch of
/// complete updates sorted by time, collecting its output (whose times must
/// not precede the batch's).
pub(crate) fn in_time_order<'s, D, D2, R, L>(
    input: VecCollection<'s, Time, D, Diff>,
    name: &str,
    route: R,
    mut logic: L,
) -> VecCollection<'s, Time, D2, Diff>
where
    D: timely::ExchangeData + Ord,
    D2: Clone + 'static,
    R: Fn(&D) -> u64 + 'static,
    L: FnMut(Vec<(D, Time, Diff)>, &mut Vec<(D2, Time, Diff)>) + 'static,
{
    input
        .inner
        .unary_frontier(
            Exchange::new(move |u: &(D, Time, Diff)| route(&u.0)),
            name,
            move |cap, _info| {
                let mut cap = Some(cap);
                let mut pending = Pending::default();
                let mut out = Vec::new();
                move |(input, frontier), output| {
                    input.for_each(|_, data| pending.push(data));
                    let bound = complete_before(&[frontier]);
                    let ready = pending.take(bound);
                    if let (false, Some(c)) = (ready.is_empty(), cap.as_ref()) {
                        logic(ready, &mut out);
                        output.session(c).give_iterator(out.drain(..));
                    }
                    advance(&mut cap, bound);
                }
            },
        )
        .as_collection()
}

#[cfg(test)]
mod tests {
    use super::Pending;

    #[test]
    fn pending_gives_complete_updates_in_time_order() {
        let mut pending = Pending::default();
        pending.push(&mut vec![("b", 5, 1), ("a", 2, 1)]);
        pending.push(&mut vec![("c", 3, 1)]);
        assert_eq!(pending.take(Some(5)), vec![("a", 2, 1), ("c", 3, 1)]);
        assert_eq!(pending.take(Some(5)), vec![]);
        // Many batches, taken in steps: each take sorted and complete,
        // what stays not, and every update out exactly once.
        let mut taken = Vec::new();
        for i in (0..1000u128).rev() {
            let data = if i % 2 == 0 { "x" } else { "y" };
            pending.push(&mut vec![(data, i % 97 + 10, 1)]);
            if i % 10 == 0 {
                let bound = i % 97 + 10;
                let ready = pending.take(Some(bound));
                assert!(ready.iter().all(|u| u.1 < bound));
                assert!(ready
                    .windows(2)
                    .all(|w| (w[0].1, w[0].0) <= (w[1].1, w[1].0)));
                assert!(pending.runs.iter().flatten().all(|u| u.1 >= bound));
                taken.extend(ready);
            }
        }
        taken.extend(pending.take(None));
        assert_eq!(taken.len(), 1001);
        assert_eq!(taken.iter().filter(|u| u.0 == "x").count(), 500);
    }
}
