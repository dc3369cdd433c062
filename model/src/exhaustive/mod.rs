//! The exhaustive driver: a stateright [`Model`] over the engine's [`World`] whose actions are
//! "process i takes its next step". It runs the engine's own step machines (there is no
//! second copy of the algorithm here), and checks every invariant (`model/src/invariants.rs`) as a named
//! property on every reachable state.
//!
//! - [`config`]: sizes, policy and mutant from the command line, validated into a [`Spec`].
//! - [`check`]: running BFS/DFS/simulation, the shortest counterexample, the summary.
//! - [`symmetry`]: the representative of a state under permutations of identical writers.
//! - [`reduction`]: readers' reads judged where they stand instead of interleaved.
//! - [`ChaChaChooser`]: a `Chooser` for `spawn_simulation` that is stable across versions.

pub mod check;
mod chooser;
pub mod config;
pub mod reduction;
pub mod shard;
pub mod symmetry;

pub use chooser::ChaChaChooser;
pub use config::{Config, ConfigError};

use crate::client::ClientPc;
use crate::copier::CopierPc;
use crate::disk::{Device, Stamp, UNWRITTEN};
use crate::event::Event;
use crate::fault::FailNext;
use crate::geometry::Block;
use crate::invariants::{self, Invariant, Violation};
use crate::meta::stamp_of;
use crate::spec::{Pid, Spec};
use crate::workload::Op;
use crate::world::{Process, World};
use stateright::{Model, Property};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// The model: a spec fixed for the whole check, and whether states are reduced to their
/// representative under permutations of identical writers.
#[derive(Clone)]
pub struct CowModel {
    spec: &'static Spec,
    symmetry: bool,
    renamer: Option<symmetry::Renamer>,
    /// Where exploration starts (the spec's initial world unless a test sets another).
    init: Option<World>,
    /// For simulation: runs started (shared with the chooser) and how many to run.
    budget: Option<(Arc<AtomicU64>, u64)>,
    /// Says when the check's time is up: the model then offers no more actions.
    stop: Option<Arc<AtomicU8>>,
    /// Faults each path may inject.
    faults: u8,
    /// Tasks each path may make a worker hand back.
    hand_backs: u8,
    /// Power losses each path may inject.
    power_losses: u8,
    /// Readers' reads are judged where they stand instead of interleaved ([`reduction`]).
    reduction: bool,
    /// Where a shard's exploration starts: its frontier states (see [`shard`]).
    inits: Option<Arc<Vec<World>>>,
    /// Takes the fingerprint of every state the checker expands (see [`shard`]).
    recorder: Option<Arc<shard::Recorder>>,
    /// Fingerprints of the initial states whose path from the spec's initial world already
    /// met [`EVENTUALLY_FINISHED`] (see [`shard`]).
    eventually_met: Option<Arc<shard::Fingerprints>>,
}

/// A state of the model: the engine's whole world. It carries a pointer to the spec only so
/// that it can render itself in domain words (the Explorer prints states with `{:#?}`); the
/// pointer takes no part in hashing or equality.
#[derive(Clone)]
pub struct State {
    spec: &'static Spec,
    pub world: World,
    /// Whether every safety invariant holds: a function of `world`, not hashed, computed
    /// the first time it is asked (when the checker takes the state up to check and expand
    /// it), so a step that leads to a state seen before costs no invariant.
    safe: std::sync::OnceLock<bool>,
}

impl State {
    /// A state of a model over `spec` (take it from [`CowModel::spec`]).
    pub fn from_world(spec: &'static Spec, world: World) -> Self {
        State {
            spec,
            world,
            safe: std::sync::OnceLock::new(),
        }
    }

    /// Whether every safety invariant holds in this state.
    pub fn safe(&self) -> bool {
        *self
            .safe
            .get_or_init(|| invariants::check_safety(self.spec, &self.world).is_ok())
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        self.world == other.world
    }
}

impl Eq for State {}

impl Hash for State {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.world.hash(h)
    }
}

/// An action: this process takes its next step; a request whose range is chosen when it
/// arrives (see [`Spec::with_open_ranges`]) comes with the range chosen; with faults left
/// to inject, the step may be one whose first I/O fails, or the copier's crash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step(pub Pid, pub Option<(Block, Block)>, pub Fault);

/// The fault an action injects (in a shard's verdict file, by its name in kebab case).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    #[default]
    None,
    /// The step's first I/O fails.
    Io,
    /// The copier crashes and restarts instead of stepping.
    Crash,
    /// The worker hands its task back instead of copying it.
    HandBack,
    /// The power fails: the cached writes and records whose bits are set survive (all of
    /// them when every bit is set).
    PowerLoss(u32),
    /// Not a fault: an image read's reads and then the release of the chunks it tracked,
    /// as one action (the reduction's, see [`reduction`]).
    ReadThenRelease,
}

impl Fault {
    /// Whether the action injects nothing (a plain step).
    pub fn is_none(&self) -> bool {
        *self == Fault::None
    }
}

impl Step {
    fn choice(&self) -> Option<std::ops::Range<Block>> {
        self.1.map(|(a, b)| a..b)
    }

    /// Takes the action on `world` (spending a fault if it injects one).
    pub fn take(&self, spec: &Spec, world: &mut World) -> Event {
        if let (Some(r), Process::Client(c)) = (self.choice(), &mut world.procs[self.0]) {
            c.choose(r);
        }
        match self.2 {
            Fault::None => world.step(spec, self.0),
            Fault::Io => {
                world.faults_left -= 1;
                let mut fail = FailNext {
                    armed: true,
                    ios: 0,
                };
                world.step_with(spec, self.0, &mut fail)
            }
            Fault::Crash => {
                world.faults_left -= 1;
                world.crash_copier(spec)
            }
            Fault::HandBack => {
                world.hand_backs_left -= 1;
                world.hand_back(spec, self.0)
            }
            Fault::PowerLoss(mask) => {
                if let Some(p) = &mut world.power {
                    p.losses_left -= 1;
                }
                world.power_loss(spec, mask)
            }
            Fault::ReadThenRelease => self.take_all(spec, world).pop().expect("two steps"),
        }
    }

    /// Takes the action on `world`: the events of each engine step it is made of (two for
    /// [`Fault::ReadThenRelease`], else one).
    pub fn take_all(&self, spec: &Spec, world: &mut World) -> Vec<Event> {
        match self.2 {
            Fault::ReadThenRelease => {
                let read = world.step(spec, self.0);
                debug_assert!(
                    matches!(&world.procs[self.0], Process::Client(c) if matches!(c.pc, ClientPc::Untrack { .. })),
                    "an image read that tracked chunks releases them next"
                );
                let release = world.step(spec, self.0);
                vec![read, release]
            }
            _ => vec![self.take(spec, world)],
        }
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fault = match self.2 {
            Fault::None => "",
            Fault::Io => ", its I/O failing",
            Fault::Crash => ", crashing",
            Fault::HandBack => ", handing its task back",
            Fault::PowerLoss(_) => ", the power failing",
            Fault::ReadThenRelease => ", reading and releasing its chunks",
        };
        match self.1 {
            None => write!(f, "process {} steps{fault}", self.0),
            Some((a, b)) => write!(
                f,
                "process {} steps on {}{fault}",
                self.0,
                crate::geometry::show_blocks(&(a..b))
            ),
        }
    }
}

/// Whether a step does any I/O (only such a step can have its I/O fail).
fn does_io(spec: &Spec, world: &World, pid: Pid, choice: Option<(Block, Block)>) -> bool {
    let mut trial = world.clone();
    if let (Some((a, b)), Process::Client(c)) = (choice, &mut trial.procs[pid]) {
        c.choose(a..b);
    }
    let mut count = FailNext::default();
    trial.step_with(spec, pid, &mut count);
    count.ios > 0
}

impl CowModel {
    /// A model of `spec`. The spec is leaked (a few hundred bytes per model) so that states
    /// can point at it without reference counting on every clone.
    pub fn new(spec: Spec, symmetry: bool) -> Self {
        CowModel {
            renamer: symmetry.then(|| symmetry::Renamer::new(&spec)),
            spec: Box::leak(Box::new(spec)),
            symmetry,
            init: None,
            budget: None,
            stop: None,
            faults: 0,
            hand_backs: 0,
            power_losses: 0,
            reduction: false,
            inits: None,
            recorder: None,
            eventually_met: None,
        }
    }

    /// Explores the readers' reads as checks where they stand ([`reduction`]) when `on`
    /// and nothing is injected (no fault, hand-back or power loss); otherwise every
    /// interleaving of every step, as without it.
    pub fn with_reduction(mut self, on: bool) -> Self {
        self.reduction = on;
        self
    }

    /// Whether finished writes are renamed ([`reduction::retire_writes`]): with the
    /// reduction, where the world keeps stamps only on its devices and in its ghost image.
    pub fn retiring(&self) -> bool {
        self.reduced() && reduction::retires_writes(self.spec)
    }

    /// Whether the reduction is in effect (asked for, and nothing injected).
    pub fn reduced(&self) -> bool {
        self.reduction && self.faults == 0 && self.hand_backs == 0 && self.power_losses == 0
    }

    /// Explores from these states (already representatives, with their faults, hand-backs
    /// and power losses left) instead of the initial state: a shard's frontier.
    pub fn with_inits(mut self, worlds: Vec<World>) -> Self {
        self.inits = Some(Arc::new(worlds));
        self
    }

    /// Records the fingerprint of every state the checker expands into `recorder`.
    pub fn with_recorder(mut self, recorder: Arc<shard::Recorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Counts [`EVENTUALLY_FINISHED`] as met at the initial states with these fingerprints
    /// (their path from the spec's initial world met it already).
    pub fn with_eventually_met(mut self, met: shard::Fingerprints) -> Self {
        self.eventually_met = Some(Arc::new(met));
        self
    }

    fn met_before(&self, s: &State) -> bool {
        self.eventually_met
            .as_ref()
            .is_some_and(|met| !met.is_empty() && met.contains(&shard::fingerprint(s)))
    }

    /// Lets every path cut the power up to `k` times, at every step, with every subset of
    /// the cached writes surviving. The spec must have volatile caches
    /// ([`Spec::with_volatile_caches`]).
    pub fn with_power_losses(mut self, k: u8) -> Self {
        assert!(
            k == 0 || self.spec.volatile,
            "a spec without volatile caches"
        );
        self.power_losses = k;
        self
    }

    pub fn power_losses(&self) -> u8 {
        self.power_losses
    }

    /// Lets every path make workers hand back up to `k` tasks before copying them. The spec
    /// must be one whose writes look again after a wait ([`Spec::with_hand_backs`]).
    pub fn with_hand_backs(mut self, k: u8) -> Self {
        assert!(k == 0 || self.spec.hand_backs, "a spec without hand-backs");
        self.hand_backs = k;
        self
    }

    pub fn hand_backs(&self) -> u8 {
        self.hand_backs
    }

    /// Lets every path inject up to `k` faults: a step whose first I/O fails, or a crash of
    /// the copier. The spec must be one whose I/O can fail ([`Spec::with_faults`]).
    pub fn with_faults(mut self, k: u8) -> Self {
        assert!(k == 0 || self.spec.faults, "a spec whose I/O cannot fail");
        self.faults = k;
        self
    }

    pub fn faults(&self) -> u8 {
        self.faults
    }

    /// Stops offering actions once `stop` is set (how a check ends at its time limit).
    pub fn with_stop(mut self, stop: Arc<AtomicU8>) -> Self {
        self.stop = Some(stop);
        self
    }

    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| {
            matches!(
                s.load(Ordering::Relaxed),
                check::TIME_UP | check::MEMORY_FULL
            )
        })
    }

    /// Explores from `world` instead of the spec's initial world: for tests that build a
    /// state by hand (a deadlock, say) to show that a property catches it.
    pub fn with_init(mut self, world: World) -> Self {
        self.init = Some(world);
        self
    }

    /// Limits a simulation to `runs` runs, counted by `started` (the chooser's counter).
    /// stateright's simulation has no run limit of its own: once the last run has started,
    /// the `sometimes` property [`BUDGET_SPENT`] is reached, and the simulation's finish
    /// condition waits for it (each thread then ends after its current run). Actions stay a
    /// function of the state alone, as stateright needs to rebuild paths.
    pub fn with_budget(mut self, started: Arc<AtomicU64>, runs: u64) -> Self {
        self.budget = Some((started, runs));
        self
    }

    fn budget_spent(&self) -> bool {
        self.budget
            .as_ref()
            .is_some_and(|(started, runs)| started.load(Ordering::SeqCst) >= *runs)
    }

    pub fn spec(&self) -> &'static Spec {
        self.spec
    }

    pub fn symmetry(&self) -> bool {
        self.symmetry
    }

    /// The initial state (already a representative when symmetry is on).
    pub fn init(&self) -> State {
        let mut world = self.init.clone().unwrap_or_else(|| World::new(self.spec));
        world.faults_left = self.faults;
        world.hand_backs_left = self.hand_backs;
        if let Some(p) = &mut world.power {
            p.losses_left = self.power_losses;
        }
        State::from_world(self.spec, world)
    }

    /// The first safety violation of a state, if any.
    pub fn safety(&self, s: &State) -> Result<(), Violation> {
        invariants::check_safety(self.spec, &s.world)
    }

    /// The violation behind a failed property, with its block, expected and found stamps.
    pub fn violation(&self, property: &str, s: &State) -> Option<Violation> {
        let spec = self.spec;
        let w = &s.world;
        let result = match INVARIANTS.iter().find(|(_, name, _)| *name == property) {
            Some((_, _, f)) => f(spec, w),
            None if property == EVENTUALLY_FINISHED => match w.finished() {
                true => Ok(()),
                false => invariants::progress(spec, w)
                    .and_then(|_| invariants::check_safety(spec, w))
                    .and(Err(Violation {
                        invariant: Invariant::Progress,
                        detail: "a path ends before the copy and every write complete".into(),
                    })),
            },
            None => Ok(()),
        };
        result.err()
    }
}

type Check = fn(&Spec, &World) -> Result<(), Violation>;

/// The `always` properties: one per invariant of `invariants.rs`, named as the invariant is.
const INVARIANTS: [(Invariant, &str, Check); 6] = [
    (
        Invariant::PointInTimeCopy,
        "point-in-time copy",
        invariants::point_in_time_copy,
    ),
    (
        Invariant::PointInTimeImage,
        "point-in-time image",
        invariants::point_in_time_image,
    ),
    (
        Invariant::NoLostWrite,
        "no lost or reordered write",
        invariants::no_lost_write,
    ),
    (
        Invariant::ReadYourWrites,
        "read-your-writes",
        invariants::read_your_writes,
    ),
    (
        Invariant::MapSoundness,
        "map soundness",
        invariants::map_soundness,
    ),
    (
        Invariant::Progress,
        "progress: a state where no process can step is finished",
        invariants::progress,
    ),
];

pub const EVENTUALLY_FINISHED: &str = "eventually the copy and every write complete";
pub const HELD_WHILE_PRESERVED: &str = "a write is held while its chunk is preserved";
pub const LANDS_IN_SEGMENT: &str = "a write lands in the segment being copied";
pub const READ_FROM_HOLD: &str = "a read is served from the hold queue";
pub const FAULT_SURVIVED: &str = "a fault strikes and the copy still completes";
pub const COPY_FAILS: &str = "the copy fails";
/// Not a property of the algorithm: how a simulation with `--runs N` stops.
pub const BUDGET_SPENT: &str = "simulation runs spent";

/// `sometimes`: a client holds its write in the queue while preserving a chunk it claimed.
fn held_while_preserved(_: &CowModel, s: &State) -> bool {
    s.world
        .clients()
        .any(|(_, c)| matches!(c.pc, ClientPc::Preserving { held: true, .. }))
}

/// `sometimes`: the copier is between claiming and finishing a segment, and a write that
/// overlaps that segment has arrived and is held or preserving.
fn lands_in_segment(m: &CowModel, s: &State) -> bool {
    let spec = m.spec;
    s.world.workers(spec).any(|(_, w)| {
        let Some(seg) = w.segment_in_progress() else {
            return false;
        };
        let seg = spec.geometry.segment_blocks_range(seg);
        s.world.clients().any(|(_, c)| {
            matches!(c.pc, ClientPc::Preserving { .. } | ClientPc::Release)
                && c.current().is_some_and(|r| {
                    r.op == Op::Write && r.blocks.start < seg.end && seg.start < r.blocks.end
                })
        })
    })
}

/// `sometimes`: a volume reader's next step reads a block whose newest data is a held write
/// (so the read is served from the hold queue, not the source).
fn read_from_hold(m: &CowModel, s: &State) -> bool {
    let hold = &s.world.meta.hold;
    s.world.clients().any(|(_, c)| {
        c.pc == ClientPc::Start
            && c.current().is_some_and(|r| {
                // A reader that chooses its range can choose a held write's.
                r.op == Op::Read
                    && match c.choosing(m.spec) {
                        true => !hold.is_empty(),
                        false => r.blocks.clone().any(|b| hold.newest_covering(b).is_some()),
                    }
            })
    })
}

impl CowModel {
    /// The ranges process `pid` may choose for its next step, or `[None]` if it chooses none.
    fn choices(&self, w: &World, pid: Pid) -> Vec<Option<(Block, Block)>> {
        match w.choices(self.spec, pid) {
            None => vec![None],
            Some(ranges) => ranges.into_iter().map(|r| Some((r.start, r.end))).collect(),
        }
    }

    /// The actions of a reduced model (see [`reduction`]): every step of a process that is
    /// not an observation; an observation that would read wrongly; an image read that
    /// tracked chunks as one read-then-release step; the other observations only once
    /// nothing else can step.
    fn reduced_actions(&self, w: &World, actions: &mut Vec<Step>) {
        use reduction::Observation;
        let spec = self.spec;
        let mut deferred: Vec<Step> = Vec::new();
        for pid in w.runnable(spec) {
            let choices = self.choices(w, pid);
            match reduction::observation(spec, w, pid) {
                None => actions.extend(choices.into_iter().map(|c| Step(pid, c, Fault::None))),
                Some(observed @ (Observation::ImageRoute | Observation::Volume)) => {
                    for choice in choices {
                        let Some(blocks) = reduction::request_blocks(w, pid, choice) else {
                            continue;
                        };
                        let defer = match observed {
                            Observation::ImageRoute => {
                                reduction::image_route_preserved(spec, w, &blocks)
                            }
                            _ => !reduction::volume_read_wrong(w, blocks),
                        };
                        match defer {
                            true => deferred.push(Step(pid, choice, Fault::None)),
                            false => actions.push(Step(pid, choice, Fault::None)),
                        }
                    }
                }
                Some(observed) => {
                    let wrong = reduction::image_read_wrong(spec, w, pid);
                    match (wrong, observed) {
                        (true, _) => actions.push(Step(pid, None, Fault::None)),
                        (false, Observation::ImageTracking) => {
                            actions.push(Step(pid, None, Fault::ReadThenRelease))
                        }
                        (false, _) => deferred.push(Step(pid, None, Fault::None)),
                    }
                }
            }
        }
        if actions.is_empty() {
            actions.extend(deferred);
        }
    }
}

impl Model for CowModel {
    type State = State;
    type Action = Step;

    fn init_states(&self) -> Vec<State> {
        match &self.inits {
            Some(worlds) => worlds
                .iter()
                .map(|w| State::from_world(self.spec, w.clone()))
                .collect(),
            None => vec![self.init()],
        }
    }

    /// Every runnable process may step. A state that breaks a safety invariant is a
    /// counterexample already: it is not expanded, so a violation's successors cannot
    /// replace it with a longer trace.
    fn actions(&self, s: &State, actions: &mut Vec<Step>) {
        // stateright asks once per state it takes from its queue, unsafe and terminal ones too.
        if let Some(r) = &self.recorder {
            r.record(s);
        }
        if !s.safe() || self.stopped() {
            return;
        }
        let w = &s.world;
        if self.reduced() {
            return self.reduced_actions(w, actions);
        }
        for pid in w.runnable(self.spec) {
            for choice in self.choices(w, pid) {
                actions.push(Step(pid, choice, Fault::None));
                if w.faults_left > 0 && does_io(self.spec, w, pid, choice) {
                    actions.push(Step(pid, choice, Fault::Io));
                }
            }
            if w.hand_backs_left > 0 {
                if let Process::Copier(c) = &w.procs[pid] {
                    if c.can_hand_back(self.spec) {
                        actions.push(Step(pid, None, Fault::HandBack));
                    }
                }
            }
        }
        if w.faults_left > 0 && w.crash_loses_work(self.spec) {
            actions.push(Step(0, None, Fault::Crash));
        }
        if let Some(p) = w.power.as_ref().filter(|p| p.losses_left > 0) {
            for mask in p.outcomes() {
                actions.push(Step(0, None, Fault::PowerLoss(mask)));
            }
        }
    }

    fn next_state(&self, s: &State, action: Step) -> Option<State> {
        let mut world = s.world.clone();
        action.take(self.spec, &mut world);
        if self.retiring() {
            reduction::retire_writes(self.spec, &mut world);
        }
        if let Some(r) = &self.renamer {
            world = r.canonical(self.spec, world);
        }
        Some(State::from_world(self.spec, world))
    }

    fn format_action(&self, action: &Step) -> String {
        let name = self.spec.process_name(action.0);
        let fault = match action.2 {
            Fault::None => "",
            Fault::Io => " (I/O fails)",
            Fault::Crash => " (crashes)",
            Fault::HandBack => " (hands its task back)",
            Fault::PowerLoss(_) => return "power loss".into(),
            Fault::ReadThenRelease => " (reads, then releases its chunks)",
        };
        match action.1 {
            None => format!("{name}{fault}"),
            Some((a, b)) => format!("{name} on {}{fault}", crate::geometry::show_blocks(&(a..b))),
        }
    }

    fn format_step(&self, s: &State, action: Step) -> Option<String> {
        let mut world = s.world.clone();
        let event = action.take(self.spec, &mut world);
        let who = match action.2 {
            Fault::PowerLoss(_) => "power".to_string(),
            _ => self.spec.process_name(action.0).to_string(),
        };
        Some(format!("{who}: {}", event.describe(self.spec)))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let spec = self.spec;
        // The five safety properties: `safe` (every one holds) is computed once per state,
        // so each property evaluates its own invariant only in a state that breaks one.
        let mut props = vec![
            Property::always(INVARIANTS[0].1, |m: &CowModel, s: &State| {
                s.safe() || (INVARIANTS[0].2)(m.spec, &s.world).is_ok()
            }),
            Property::always(INVARIANTS[1].1, |m: &CowModel, s: &State| {
                s.safe() || (INVARIANTS[1].2)(m.spec, &s.world).is_ok()
            }),
            Property::always(INVARIANTS[2].1, |m: &CowModel, s: &State| {
                s.safe() || (INVARIANTS[2].2)(m.spec, &s.world).is_ok()
            }),
            Property::always(INVARIANTS[3].1, |m: &CowModel, s: &State| {
                s.safe() || (INVARIANTS[3].2)(m.spec, &s.world).is_ok()
            }),
            Property::always(INVARIANTS[4].1, |m: &CowModel, s: &State| {
                s.safe() || (INVARIANTS[4].2)(m.spec, &s.world).is_ok()
            }),
            Property::always(INVARIANTS[5].1, |m: &CowModel, s: &State| {
                (INVARIANTS[5].2)(m.spec, &s.world).is_ok()
            }),
            // The second opinion on progress. A path cut at a safety violation (see
            // `actions`) counts as ended: that state is reported by its own property.
            Property::eventually(EVENTUALLY_FINISHED, |m: &CowModel, s: &State| {
                s.world.finished() || !s.safe() || m.stopped() || m.met_before(s)
            }),
        ];
        if self.budget.is_some() {
            props.push(Property::sometimes(
                BUDGET_SPENT,
                |m: &CowModel, _: &State| m.budget_spent(),
            ));
        }
        let writes = spec
            .clients()
            .flat_map(|p| spec.requests(p))
            .any(|r| r.op == Op::Write);
        let reads = spec
            .clients()
            .flat_map(|p| spec.requests(p))
            .any(|r| r.op == Op::Read);
        if writes && spec.target().is_some() {
            props.push(Property::sometimes(
                HELD_WHILE_PRESERVED,
                held_while_preserved,
            ));
        }
        if writes {
            props.push(Property::sometimes(LANDS_IN_SEGMENT, lands_in_segment));
        }
        if writes && reads {
            props.push(Property::sometimes(READ_FROM_HOLD, read_from_hold));
        }
        if self.faults > 0 {
            // That the faults were explored at all: paths where one struck and the copy
            // survived it, and paths where the copy failed.
            props.push(Property::sometimes(
                FAULT_SURVIVED,
                |m: &CowModel, s: &State| {
                    s.world.meta.copy_complete && s.world.faults_left < m.faults
                },
            ));
            // A copy fails only when one I/O fails past its retries: with no more faults
            // than retries, every fault is retried and no path can fail the copy, which
            // is the error policy working, not a check that explored too little.
            if u32::from(self.faults) > u32::from(spec.on_error.retries) {
                props.push(Property::sometimes(
                    COPY_FAILS,
                    |_: &CowModel, s: &State| s.world.meta.copy_failed,
                ));
            }
        }
        props
    }
}

impl stateright::Representative for State {
    /// The state with identical writers renumbered into a canonical order (see
    /// [`symmetry`]). The BFS checker of stateright 0.31 ignores `symmetry()`, so the model
    /// applies it itself when built with `symmetry = true`; this impl serves DFS and
    /// simulation users who call `CheckerBuilder::symmetry`.
    fn representative(&self) -> Self {
        State {
            spec: self.spec,
            world: symmetry::representative(self.spec, &self.world).0,
            safe: self.safe.clone(),
        }
    }
}

fn show_stamps(stamps: &[Stamp]) -> String {
    stamps
        .iter()
        .map(|s| match *s {
            UNWRITTEN => ".".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line per process and device and one for the metadata, in domain words.
pub fn describe_world(spec: &Spec, w: &World) -> String {
    let mut out = String::new();
    let g = &spec.geometry;
    for (pid, p) in w.procs.iter().enumerate() {
        let what = match p {
            Process::Copier(c) => match (&c.pc, c.segment_in_progress()) {
                (_, Some(s)) => format!(
                    "copying segment {s} ({} of {} segments done)",
                    w.segments_done(),
                    g.segments()
                ),
                (CopierPc::Claim, _) => format!(
                    "next: claim a segment ({} of {} done)",
                    w.segments_done(),
                    g.segments()
                ),
                (CopierPc::Overlay { next }, _) => {
                    format!("overlay pass, next snapshot chunk at or after {next}")
                }
                (CopierPc::Complete, _) => "next: declare the copy complete".into(),
                (CopierPc::Finished, _) => "finished".into(),
                (CopierPc::Failed { error, .. }, _) => format!("next: fail the copy ({error})"),
                _ => format!("{:?}", c.pc),
            },
            Process::Client(c) => {
                let req = c.current();
                let what = |r: &crate::spec::Resolved| match r.op {
                    Op::Write => format!(
                        "write {} (stamp {}) to {}",
                        r.write,
                        stamp_of(r.write),
                        crate::geometry::show_blocks(&r.blocks)
                    ),
                    Op::Read => format!("read of {}", crate::geometry::show_blocks(&r.blocks)),
                    Op::ReadImage => {
                        format!("image read of {}", crate::geometry::show_blocks(&r.blocks))
                    }
                    Op::Flush => "flush".into(),
                };
                match (&c.pc, req) {
                    (ClientPc::Finished, _) | (_, None) => "finished".into(),
                    (ClientPc::Start, Some(r)) => format!("next: {}", what(r)),
                    (ClientPc::Preserving { preserver, held }, Some(r)) => {
                        let (claims, done) = preserver.progress();
                        format!(
                            "{} {}, preserving chunks {:?} ({} done)",
                            what(r),
                            if *held { "held" } else { "applied" },
                            claims,
                            done
                        )
                    }
                    (ClientPc::Release, Some(r)) => format!("{} held in the queue", what(r)),
                    (ClientPc::ReadImage { routes }, Some(r)) => {
                        let devs: Vec<String> = routes.iter().map(|(d, _)| d.to_string()).collect();
                        format!("{} routed to [{}]", what(r), devs.join(", "))
                    }
                    (ClientPc::Untrack { .. }, Some(r)) => {
                        format!("{} read, next: untrack", what(r))
                    }
                }
            }
        };
        let blocked = if !p.finished() && p.blocked(spec, &w.meta) {
            format!(" [waits for {}]", p.waiting_for(spec, &w.meta))
        } else {
            String::new()
        };
        out.push_str(&format!("{}: {what}{blocked}\n", spec.process_name(pid)));
    }
    for dev in Device::ALL {
        let used = match dev {
            Device::Source | Device::Destination => true,
            d => spec.target().map(|t| t.device()) == Some(d),
        };
        if used {
            out.push_str(&format!("{dev:<12} {}\n", show_stamps(w.disk.device(dev))));
        }
    }
    let m = &w.meta;
    let set = |s: crate::meta::MapView| format!("{:?}", s.iter().collect::<Vec<_>>());
    out.push_str(&format!(
        "snapshot map {}, copied {}, in flight {}, hold queue {:?}{}{}\n",
        set(m.snapshot_map()),
        set(m.copied()),
        set(m.in_flight()),
        m.hold.iter().collect::<Vec<_>>(),
        if m.tracked.is_empty() {
            String::new()
        } else {
            let reads: Vec<String> = m
                .tracked
                .iter()
                .map(|(c, n)| format!("chunk {c} by {n} read(s)"))
                .collect();
            format!(", tracked {}", reads.join(", "))
        },
        match (m.copy_complete, m.copy_failed) {
            (true, _) => ", copy complete",
            (_, true) => ", copy failed",
            _ => "",
        }
    ));
    out
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe_world(self.spec, &self.world))
    }
}

/// What one step of a state does, in domain words (without changing the state).
pub fn describe_step(spec: &Spec, w: &World, pid: Pid) -> Event {
    let mut w = w.clone();
    w.step(spec, pid)
}
