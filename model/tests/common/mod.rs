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
/// it: its row of the catalogue (`Facts::shows_under`, `Facts::min_cow_blocks`).
pub fn catching(m: Mutant) -> (Vec<&'static str>, u32) {
    let facts = m.facts();
    let policies = policy::builtins()
        .iter()
        .filter(|p| (facts.shows_under)(p.as_ref()))
        .map(|p| p.name())
        .collect();
    (policies, facts.min_cow_blocks as u32)
}
