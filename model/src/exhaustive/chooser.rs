//! A `Chooser` for stateright's `spawn_simulation` built on `rand_chacha`: stateright's own
//! uses `StdRng`, whose streams may change between versions, so a seed would not replay.

use crate::random::below;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use stateright::{Chooser, Model};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Picks uniformly among the enabled steps. Run `i` (counted across threads, from 0) draws
/// from a ChaCha8 stream seeded by the user's seed and `i` alone: stateright's simulation
/// reseeds every run after the first from its own `StdRng`, and that seed is ignored here, so
/// a single-threaded simulation replays exactly from its seed whatever stateright's version.
#[derive(Clone)]
pub struct ChaChaChooser {
    seed: u64,
    runs: Arc<AtomicU64>,
}

impl ChaChaChooser {
    pub fn new(seed: u64) -> Self {
        ChaChaChooser {
            seed,
            runs: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Runs started so far (shared by every clone, so by every simulation thread).
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.runs)
    }

    /// The generator of run `run`.
    pub fn rng(&self, run: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.seed ^ run.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

impl<M: Model> Chooser<M> for ChaChaChooser {
    type State = ChaCha8Rng;

    fn new_state(&self, _stateright_seed: u64) -> ChaCha8Rng {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        self.rng(run)
    }

    fn choose_initial_state(&self, rng: &mut ChaCha8Rng, initial: &[M::State]) -> usize {
        below(rng, initial.len() as u64) as usize
    }

    fn choose_action(&self, rng: &mut ChaCha8Rng, _: &M::State, actions: &[M::Action]) -> usize {
        below(rng, actions.len() as u64) as usize
    }
}
