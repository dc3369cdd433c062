//! Helpers shared by the model's integration tests (each test file includes this module; not
//! every file uses every helper).
#![allow(dead_code)]

use cowlab_model::invariants::check_safety;
use cowlab_model::{policy, Event, Mutant, Pid, Spec, World};

/// Steps one process, which must be able to step, then checks every invariant.
pub fn step(spec: &Spec, world: &mut World, pid: Pid) -> Event {
    assert!(
        world.enabled(spec, pid),
        "{} cannot step",
        spec.process_name(pid)
    );
    let e = world.step(spec, pid);
    if let Err(v) = check_safety(spec, world) {
        panic!("after {}: {v}", e.describe(spec));
    }
    e
}

/// Steps the script, asserting every invariant after each step; returns the events.
pub fn script(spec: &Spec, world: &mut World, pids: &[Pid]) -> Vec<Event> {
    pids.iter().map(|&pid| step(spec, world, pid)).collect()
}

/// Each mutant, and the policies and chunk size under which the exhaustive check must catch
/// it. (skip-overlay matters only to overlay policies; copier-ignores-in-flight only where
/// the copier takes claims that a write could be waiting on; a partial chunk copy needs a
/// chunk larger than a block.)
pub fn catching(m: Mutant) -> (Vec<&'static str>, u32) {
    let all_but_offline = vec![
        "snapshot-overlay",
        "snapshot-redirect",
        "out-of-turn",
        "out-of-turn-cache",
        "next-range",
    ];
    match m {
        Mutant::SkipOverlay => (vec!["snapshot-overlay", "next-range"], 1),
        Mutant::CopierIgnoresInFlight => (
            vec!["snapshot-redirect", "out-of-turn", "out-of-turn-cache"],
            1,
        ),
        Mutant::PartialChunkCopy => (all_but_offline, 2),
        Mutant::CheckThenAct | Mutant::PreserveTwice => (all_but_offline, 1),
        _ => (policy::names(), 1),
    }
}
