//! The checks of a run, at its level: after each step, at the end, and the driver's own
//! (a parked process must be blocked); a violation is reported with the last steps.

use super::*;

impl<S: BlockStore, G: Ghost, V: Verify<S, G>> Sim<'_, S, G, V> {
    /// The checks after a step, at the run's level.
    pub(super) fn after_step(&mut self, pid: Pid, event: &Event, ios: &[IoPlan]) {
        self.account(pid, event);
        if self.verify.checks() {
            self.remember(pid, event);
            let info = StepInfo {
                pid,
                event,
                ios,
                quiescent: self.live_writes == 0 && self.world.meta.hold.is_empty(),
            };
            if let Err(v) = self.verify.step(self.spec, &self.world, &info) {
                self.fail(v);
            }
        }
    }

    /// Keeps the last steps in words, for a violation's report.
    pub(super) fn remember(&mut self, pid: Pid, event: &Event) {
        if self.recent.len() == RING {
            self.recent.pop_front();
        }
        self.recent.push_back((self.now, pid, event.clone()));
    }

    /// Every parked process is still blocked: a wake-up the engine's `Event::frees` did not
    /// announce would leave one asleep for nothing (a bug of the driver or of `frees`).
    pub(super) fn assert_parked_are_blocked(&self) {
        let p = &self.parked;
        let parked = p
            .chunk
            .values()
            .flatten()
            .chain(p.turn.values())
            .chain(&p.copy);
        for pid in parked.chain(&p.any) {
            let proc = &self.world.procs[*pid as usize];
            assert!(
                proc.blocked(self.spec, &self.world.meta),
                "the timed driver missed a wake-up: {} is parked but could step ({:?}); last step {:?}",
                self.spec.process_name(*pid as usize),
                proc,
                self.recent.back()
            );
        }
    }

    /// At the end: a process that never finished is a deadlock (or a missed wake-up, which
    /// is the driver's bug); then the level's whole-state check.
    pub(super) fn finish_checks(&mut self) {
        let spec = self.spec;
        let stuck: Vec<Pid> = (0..self.world.procs.len())
            .filter(|p| !self.world.procs[*p].finished())
            .collect();
        for pid in &stuck {
            let p = &self.world.procs[*pid];
            assert!(
                p.needs_meta() && p.blocked(spec, &self.world.meta),
                "the timed driver lost a wake-up: {} could step",
                spec.process_name(*pid)
            );
        }
        let result = match stuck.is_empty() {
            true => self.verify.end(spec, &self.world),
            false => cowlab_model::invariants::progress(spec, &self.world),
        };
        if let Err(violation) = result {
            self.fail(violation);
        }
    }

    pub(super) fn fail(&mut self, violation: Violation) {
        let spec = self.spec;
        let last_steps = self
            .recent
            .iter()
            .map(|(t, pid, event)| {
                format!(
                    "{:.6} s  {}: {}",
                    *t as f64 / 1e9,
                    spec.process_name(*pid),
                    event.describe(spec)
                )
            })
            .collect();
        self.failure = Some(TimedViolation {
            violation,
            at_ns: self.now,
            last_steps,
        });
    }
}
