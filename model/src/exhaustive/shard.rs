//! One exhaustive check split into N shards that run apart (on other machines) and whose
//! verdicts join exactly.
//!
//! - **The prefix.** Every shard explores the same prefix, breadth-first from the initial
//!   state, level by level, until a level (the *frontier*: the states first reached at depth
//!   d) holds at least [`FRONTIER_PER_SHARD`] × N states, or until a depth given instead, or
//!   until the space is exhausted. It checks every property on the prefix's states as the
//!   checker would, and does not expand a state that breaks a safety invariant.
//! - **The deal.** The frontier, sorted by fingerprint, is dealt by index: shard I takes the
//!   states whose index is I mod N. Every shard computes the same frontier, so the slices
//!   are disjoint and together the whole frontier.
//! - **The shard's check.** stateright explores from the shard's frontier states (BFS or
//!   DFS, with the check's own options), recording the fingerprint of every state it
//!   expands. Shards overlap (a state may be reached from frontier states of two shards),
//!   so the unique states of the whole check are the union of the shards' fingerprints.
//!
//! Why the join is exact:
//!
//! - Every reachable state is in the prefix or reachable from a frontier state (a shortest
//!   path to a state deeper than the frontier passes through the frontier), so the union of
//!   the prefix and the shards' explored states is the unsharded check's state space.
//! - For the same reason the shortest counterexample of all shards is the shortest there is,
//!   when each shard's breadth-first search verified its own.
//! - stateright tracks an `eventually` property along each path from an initial state; a
//!   frontier state whose path from the real initial state already met it is told to the
//!   model ([`CowModel::with_eventually_met`]), so that the shard counts it met, as the
//!   unsharded check would on the same first path (a power loss after the copy completed
//!   can make a finished world unfinished again, so this can matter).
//!
//! Fingerprints are this module's own ([`fingerprint`]): stateright keeps its own private.
//! `DefaultHasher` may hash differently under another Rust release; shards built so would
//! disagree on the frontier, which the merge compares (its digest) and refuses.

use super::check::{self, Counterexample, Options, Progress, Verdict};
use super::{CowModel, State, Step, EVENTUALLY_FINISHED};
use rustc_hash::{FxHashMap, FxHashSet};
use stateright::{Expectation, Model};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The frontier is at least this many states per shard (unless the space is smaller): with
/// a few states each, a shard whose states lead to a large part of the space is evened out
/// by others whose states lead to little.
pub const FRONTIER_PER_SHARD: usize = 16;

/// The most shards a check splits into: the prefix keeps [`FRONTIER_PER_SHARD`] states per
/// shard (and the levels before them) in memory on every machine.
pub const MAX_SHARDS: usize = 4096;

/// A set of state fingerprints.
pub type Fingerprints = FxHashSet<u64>;

/// A state's fingerprint: a 64-bit hash of everything that tells states apart (its
/// `Hash`), the same in every shard built from the same source with the same compiler.
pub fn fingerprint(s: &State) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// One of N shards: its 0-based index and N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The index-th of `count` shards; refuses an index not below the count.
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "the shard count must be from 1 to {MAX_SHARDS}, got {count}"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is not below the shard count {count}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether the frontier state at this index (in fingerprint order) is this shard's.
    pub fn takes(&self, index: usize) -> bool {
        index % self.count == self.index
    }
}

/// Where the checker's threads leave the fingerprint of each state they expand.
pub struct Recorder {
    /// Split by fingerprint so that threads seldom wait for one another.
    stripes: Vec<Mutex<Vec<u64>>>,
}

const STRIPES: usize = 16;

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            stripes: (0..STRIPES).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }
}

impl Recorder {
    pub fn record(&self, s: &State) {
        let fp = fingerprint(s);
        let mut stripe = self.stripes[(fp % STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        stripe.push(fp);
    }

    /// Every fingerprint recorded so far (in no order, perhaps repeated), leaving none.
    pub fn take(&self) -> Vec<u64> {
        let mut all = Vec::new();
        for s in &self.stripes {
            all.append(&mut s.lock().unwrap_or_else(|e| e.into_inner()));
        }
        all
    }
}

/// A state of the prefix and how it was first reached.
struct Node {
    state: State,
    fingerprint: u64,
    /// The state it was first reached from, and by which action.
    parent: Option<(usize, Step)>,
    depth: usize,
    /// The `eventually` properties not yet met on its path, by property index.
    pending: u64,
}

/// The breadth-first prefix every shard explores alike.
pub struct Prefix {
    nodes: Vec<Node>,
    /// The frontier's depth (steps from the initial state).
    pub depth: usize,
    /// The frontier, sorted by fingerprint: node indices. Empty when the prefix exhausted
    /// the space or broke a property.
    frontier: Vec<usize>,
    /// States generated, the initial state and every transition, as stateright counts them.
    pub states: usize,
    /// The prefix is the whole space: no state at its depth.
    pub exhausted: bool,
    /// Properties broken: the property and the state that breaks it.
    failures: Vec<(&'static str, usize)>,
    /// `sometimes` properties reached.
    pub reached: Vec<&'static str>,
}

impl Prefix {
    /// Explores breadth-first until a level holds [`FRONTIER_PER_SHARD`] × `shards` states,
    /// or reaches `depth` if one is given, or the space ends, or a property breaks.
    pub fn explore(model: &CowModel, shards: usize, depth: Option<usize>) -> Prefix {
        let props = model.properties();
        let eventually: u64 = props
            .iter()
            .enumerate()
            .filter(|(_, p)| p.expectation == Expectation::Eventually)
            .fold(0, |bits, (i, _)| bits | 1 << i);
        let mut p = Prefix {
            nodes: Vec::new(),
            depth: 0,
            frontier: Vec::new(),
            states: 0,
            exhausted: false,
            failures: Vec::new(),
            reached: Vec::new(),
        };
        let mut seen: FxHashMap<u64, usize> = FxHashMap::default();
        let mut level = Vec::new();
        for s in model.init_states() {
            p.states += 1;
            if let Some(i) = p.add(model, &props, &mut seen, s, None, eventually) {
                level.push(i);
            }
        }
        let mut actions = Vec::new();
        loop {
            let broken = p.failures.iter().any(|(_, n)| p.nodes[*n].depth <= p.depth);
            let enough = match depth {
                Some(d) => p.depth >= d,
                None => level.len() >= FRONTIER_PER_SHARD.saturating_mul(shards),
            };
            if level.is_empty() || (enough && !broken) {
                p.exhausted = level.is_empty();
                level.sort_by_key(|i| p.nodes[*i].fingerprint);
                p.frontier = level;
                return p;
            }
            // A property broke at this depth: expand the level anyway (its dead ends may
            // break an `eventually` property, which would come first by name), then stop
            // with the shortest counterexample.
            let mut next = Vec::new();
            for &i in &level {
                model.actions(&p.nodes[i].state, &mut actions);
                let mut terminal = true;
                for a in actions.drain(..) {
                    let Some(s) = model.next_state(&p.nodes[i].state, a) else {
                        continue;
                    };
                    p.states += 1;
                    terminal = false;
                    let pending = p.nodes[i].pending;
                    if let Some(j) = p.add(model, &props, &mut seen, s, Some((i, a)), pending) {
                        next.push(j);
                    }
                }
                if terminal {
                    for (k, prop) in props.iter().enumerate() {
                        if p.nodes[i].pending & 1 << k != 0 {
                            p.failures.push((prop.name, i));
                        }
                    }
                }
            }
            if broken {
                return p;
            }
            level = next;
            p.depth += 1;
        }
    }

    /// Adds a state first reached now, checking every property on it; `None` if it was
    /// reached before.
    fn add(
        &mut self,
        model: &CowModel,
        props: &[stateright::Property<CowModel>],
        seen: &mut FxHashMap<u64, usize>,
        state: State,
        parent: Option<(usize, Step)>,
        mut pending: u64,
    ) -> Option<usize> {
        let fp = fingerprint(&state);
        if seen.contains_key(&fp) {
            return None;
        }
        let i = self.nodes.len();
        seen.insert(fp, i);
        for (k, prop) in props.iter().enumerate() {
            let holds = (prop.condition)(model, &state);
            match prop.expectation {
                Expectation::Always if !holds => self.failures.push((prop.name, i)),
                Expectation::Sometimes if holds && !self.reached.contains(&prop.name) => {
                    self.reached.push(prop.name)
                }
                Expectation::Eventually if holds => pending &= !(1 << k),
                _ => {}
            }
        }
        let depth = parent.map_or(0, |(p, _)| self.nodes[p].depth + 1);
        self.nodes.push(Node {
            state,
            fingerprint: fp,
            parent,
            depth,
            pending,
        });
        Some(i)
    }

    /// States in the prefix, the frontier included.
    pub fn unique(&self) -> usize {
        self.nodes.len()
    }

    pub fn frontier_len(&self) -> usize {
        self.frontier.len()
    }

    /// A digest of the frontier: shards that agree on it explore slices of one frontier.
    pub fn digest(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.depth.hash(&mut h);
        for &i in &self.frontier {
            self.nodes[i].fingerprint.hash(&mut h);
        }
        h.finish()
    }

    /// The frontier states a shard takes (node indices).
    fn taken(&self, shard: Shard) -> Vec<usize> {
        self.frontier
            .iter()
            .enumerate()
            .filter(|(k, _)| shard.takes(*k))
            .map(|(_, i)| *i)
            .collect()
    }

    /// The actions from the initial state to a state of the prefix.
    fn path(&self, mut node: usize) -> Vec<Step> {
        let mut actions = Vec::new();
        while let Some((parent, a)) = self.nodes[node].parent {
            actions.push(a);
            node = parent;
        }
        actions.reverse();
        actions
    }

    /// Property names broken in the prefix, sorted.
    fn failed(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.failures.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// The figures of a shard's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixFigures {
    pub depth: usize,
    pub frontier: usize,
    /// Frontier states this shard took.
    pub taken: usize,
    pub unique: usize,
    pub states: usize,
    pub digest: u64,
    pub exhausted: bool,
}

/// What one shard found.
pub struct ShardOutcome {
    pub shard: Shard,
    pub prefix: PrefixFigures,
    /// The shard's verdict: its exploration's figures (not the prefix's; the seconds are
    /// the prefix's and the exploration's), its counterexample from the initial state, the
    /// `sometimes` properties reached in the prefix or the exploration. Whether one was
    /// never reached is for the merge to say: `unreached` is empty.
    pub verdict: Verdict,
    /// The fingerprints of the prefix's states and of every state the shard expanded,
    /// sorted, each once.
    pub fingerprints: Vec<u64>,
}

/// Runs one shard of the check of `model` (`depth`: the frontier's depth, if not chosen by
/// its size). `options.max_depth` would bound paths from the frontier, not from the initial
/// state: leave it unset.
pub fn run(
    model: &CowModel,
    shard: Shard,
    depth: Option<usize>,
    options: &Options,
    report: &mut dyn FnMut(&Progress),
) -> ShardOutcome {
    let start = Instant::now();
    let prefix = Prefix::explore(model, shard.count, depth);
    run_from(model, &prefix, shard, start, options, report)
}

impl Prefix {
    /// The prefix's figures as `shard` sees them.
    pub fn figures(&self, shard: Shard) -> PrefixFigures {
        PrefixFigures {
            depth: self.depth,
            frontier: self.frontier_len(),
            taken: self.taken(shard).len(),
            unique: self.unique(),
            states: self.states,
            digest: self.digest(),
            exhausted: self.exhausted,
        }
    }

    /// Whether a property broke in the prefix (the shard then explores nothing more).
    pub fn broken(&self) -> bool {
        !self.failures.is_empty()
    }
}

/// Runs one shard from its prefix, explored since `start`.
pub fn run_from(
    model: &CowModel,
    prefix: &Prefix,
    shard: Shard,
    start: Instant,
    options: &Options,
    report: &mut dyn FnMut(&Progress),
) -> ShardOutcome {
    let taken = prefix.taken(shard);
    let figures = prefix.figures(shard);
    let mut fingerprints: Vec<u64> = prefix.nodes.iter().map(|n| n.fingerprint).collect();
    let mut verdict = Verdict {
        progress: Progress::default(),
        complete: prefix.failures.is_empty(),
        timed_out: false,
        memory_full: false,
        max_memory: options.max_memory,
        to_try: Vec::new(),
        fingerprinted: true,
        counterexample: None,
        failed: prefix.failed(),
        shortest_verified: false,
        reached: Vec::new(),
        unreached: Vec::new(),
    };
    if let Some(&(property, node)) = prefix
        .failures
        .iter()
        .min_by_key(|(name, n)| (prefix.nodes[*n].depth, *name))
    {
        // Breadth-first to this depth: no counterexample is shorter.
        verdict.counterexample = Some(counterexample(model, property, prefix.path(node)));
        verdict.shortest_verified = true;
    } else if !taken.is_empty() {
        let met = taken
            .iter()
            .filter(|i| prefix.nodes[**i].pending & eventually_bit(model) == 0)
            .map(|i| prefix.nodes[*i].fingerprint)
            .collect();
        let recorder = Arc::new(Recorder::default());
        let slice = model
            .clone()
            .with_inits(
                taken
                    .iter()
                    .map(|i| prefix.nodes[*i].state.world.clone())
                    .collect(),
            )
            .with_recorder(recorder.clone())
            .with_eventually_met(met);
        verdict = check::run(&slice, options, report);
        verdict.unreached.clear();
        verdict.counterexample = verdict.counterexample.take().map(|c| {
            let node = taken
                .iter()
                .copied()
                .find(|i| prefix.nodes[*i].state.world == c.start)
                .expect("a path starts at one of the shard's frontier states");
            let mut actions = prefix.path(node);
            actions.extend(c.actions);
            counterexample(model, c.property, actions)
        });
        fingerprints.extend(recorder.take());
    }
    // In the model's order of properties, as a check lists them.
    let reached: Vec<&'static str> = model
        .properties()
        .iter()
        .map(|p| p.name)
        .filter(|n| prefix.reached.contains(n) || verdict.reached.contains(n))
        .collect();
    verdict.reached = reached;
    verdict.progress.seconds = start.elapsed().as_secs_f64();
    fingerprints.sort_unstable();
    fingerprints.dedup();
    ShardOutcome {
        shard,
        prefix: figures,
        verdict,
        fingerprints,
    }
}

/// The model's properties by name, each with whether it is a `sometimes` one (for a merge,
/// which reads their names from files).
pub fn properties(model: &CowModel) -> Vec<(&'static str, bool)> {
    model
        .properties()
        .iter()
        .map(|p| (p.name, p.expectation == Expectation::Sometimes))
        .collect()
}

/// An action in words, as a trace names it (`writer 1 on blocks 2..4`).
pub fn action_words(model: &CowModel, a: &Step) -> String {
    model.format_action(a)
}

/// The bit of [`EVENTUALLY_FINISHED`] among the model's properties (0 if it has none).
fn eventually_bit(model: &CowModel) -> u64 {
    model
        .properties()
        .iter()
        .position(|p| p.name == EVENTUALLY_FINISHED)
        .map_or(0, |k| 1 << k)
}

/// A counterexample from the spec's initial state, replayed.
pub fn counterexample(
    model: &CowModel,
    property: &'static str,
    actions: Vec<Step>,
) -> Counterexample {
    Counterexample::replayed(model, property, model.init().world, actions)
}

/// Why a list of actions is not a counterexample of `property`, if it is not one: each
/// action must be one the model offers in the state it is taken in, and the last state must
/// break the property (for input read from a file, which [`check::replay`] trusts).
pub fn refute(model: &CowModel, property: &str, actions: &[Step]) -> Result<(), String> {
    let props = model.properties();
    let Some(prop) = props.iter().find(|p| p.name == property) else {
        return Err(format!("'{property}' is not a property of this model"));
    };
    let mut state = model.init();
    // For an `eventually` property: whether a state on the path met it.
    let mut met = (prop.condition)(model, &state);
    let mut offered = Vec::new();
    for (k, a) in actions.iter().enumerate() {
        offered.clear();
        model.actions(&state, &mut offered);
        if !offered.contains(a) {
            return Err(format!(
                "step {} ({}) is not one the model can take there",
                k + 1,
                model.format_action(a)
            ));
        }
        match model.next_state(&state, *a) {
            Some(s) => state = s,
            None => return Err(format!("step {} leads nowhere", k + 1)),
        }
        met |= (prop.condition)(model, &state);
    }
    let breaks = match prop.expectation {
        Expectation::Always => !(prop.condition)(model, &state),
        Expectation::Eventually => {
            offered.clear();
            model.actions(&state, &mut offered);
            offered.is_empty() && !met
        }
        Expectation::Sometimes => false,
    };
    match breaks {
        true => Ok(()),
        false => Err(format!("its last state does not break '{property}'")),
    }
}
