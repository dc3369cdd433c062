//! proptest strategies over small cases: geometry, copy order, workload and scheduler seed.
//! A designer's own tests can use them to check a policy of their own.

use crate::disk::Device;
use crate::fault::{Break, ErrorPolicy, FaultPlan, PlannedError, When};
use crate::geometry::Geometry;
use crate::mutant::Mutant;
use crate::order::CopyOrder;
use crate::policy::{self, Policy};
use crate::random::{self, PowerPlan, Run};
use crate::spec::{Spec, SpecError};
use crate::workload::{Op, Request, Role, Workload};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::sync::Arc;

/// One generated case, runnable under any policy.
#[derive(Clone, Debug)]
pub struct Case {
    pub geometry: Geometry,
    pub order: CopyOrder,
    pub workload: Workload,
    /// The scheduler's seed.
    pub schedule: u64,
}

impl Case {
    pub fn spec(&self, policy: Arc<dyn Policy>, mutant: Option<Mutant>) -> Result<Spec, SpecError> {
        Spec::new(
            self.geometry,
            policy,
            self.order,
            mutant,
            self.workload.clone(),
        )
    }

    /// Runs the case under every built-in policy; the first failing run, with its trace.
    pub fn first_failure(&self, mutant: Option<Mutant>) -> Option<(Spec, Run)> {
        policy::builtins().into_iter().find_map(|p| {
            let spec = self
                .spec(p, mutant)
                .expect("generated requests lie inside the volume");
            let run = random::run(&spec, self.schedule, false);
            run.violation
                .is_some()
                .then(|| (spec.clone(), random::run(&spec, self.schedule, true)))
        })
    }
}

/// A case whose copier runs as several workers, which may hand tasks back (the random
/// driver then hands back at most a few, when its draw says so).
#[derive(Clone, Debug)]
pub struct WorkersCase {
    pub case: Case,
    pub workers: u32,
    pub hand_backs: bool,
}

impl WorkersCase {
    pub fn spec(&self, policy: Arc<dyn Policy>, mutant: Option<Mutant>) -> Result<Spec, SpecError> {
        let spec = self.case.spec(policy, mutant)?.with_workers(self.workers)?;
        Ok(match self.hand_backs {
            true => spec.with_hand_backs(),
            false => spec,
        })
    }

    /// Runs the case under every built-in policy; the first failing run, with its trace.
    pub fn first_failure(&self, mutant: Option<Mutant>) -> Option<(Spec, Run)> {
        policy::builtins().into_iter().find_map(|p| {
            let spec = self
                .spec(p, mutant)
                .expect("generated requests lie inside the volume");
            let schedule = self.case.schedule;
            let run = random::run(&spec, schedule, false);
            run.violation
                .is_some()
                .then(|| (spec.clone(), random::run(&spec, schedule, true)))
        })
    }
}

/// A [`case`] with 1-3 copy workers, handing tasks back or not.
pub fn workers_case() -> impl Strategy<Value = WorkersCase> {
    (case(), 1u32..=3, any::<bool>()).prop_map(|(case, workers, hand_backs)| WorkersCase {
        case,
        workers,
        hand_backs,
    })
}

/// Small geometries: 1-4 segments of 1-4 blocks, any chunk size dividing the segment, an
/// optional short last segment, blocks of 1, 512 or 4096 bytes.
pub fn geometry() -> impl Strategy<Value = Geometry> {
    (1u64..=4, prop::sample::select(vec![1u64, 2, 4]))
        .prop_flat_map(|(segments, seg)| {
            let cows: Vec<u64> = (1..=seg).filter(|c| seg % c == 0).collect();
            let max_short = if segments > 1 { seg - 1 } else { 0 };
            (
                Just(segments),
                Just(seg),
                prop::sample::select(cows),
                0..=max_short,
                prop::sample::select(vec![1u64, 512, 4096]),
            )
        })
        .prop_map(|(segments, seg, cow, short, bs)| {
            Geometry::new(segments * seg - short, bs, seg, cow).expect("valid by construction")
        })
}

pub fn order() -> impl Strategy<Value = CopyOrder> {
    prop_oneof![
        Just(CopyOrder::Sequential),
        Just(CopyOrder::Reverse),
        any::<u64>().prop_map(|seed| CopyOrder::Random { seed }),
        Just(CopyOrder::WrittenFirst),
    ]
}

/// A byte range inside the volume, one byte to two segments long (unaligned as often as not).
fn range(g: Geometry) -> impl Strategy<Value = (u64, u64)> {
    let bytes = g.bytes();
    let max_len = 2 * g.segment_blocks as u64 * g.block_size as u64;
    (0..bytes).prop_flat_map(move |offset| (Just(offset), 1..=max_len.min(bytes - offset)))
}

/// 1-3 writers with 1-6 requests (mostly writes, some reads of their own), and at times a
/// reader of the volume and a reader of the point-in-time image.
pub fn workload(g: Geometry) -> impl Strategy<Value = Workload> {
    let writer_request = (range(g), 0u8..5).prop_map(|((o, l), kind)| match kind {
        0 => Request::read(o, l),
        _ => Request::write(o, l),
    });
    let writers = prop::collection::vec(prop::collection::vec(writer_request, 1..=6), 1..=3);
    let reads = prop::collection::vec(range(g).prop_map(|(o, l)| Request::read(o, l)), 0..=2);
    let image_reads =
        prop::collection::vec(range(g).prop_map(|(o, l)| Request::read_image(o, l)), 0..=2);
    (writers, reads, image_reads).prop_map(|(writers, reads, image_reads)| {
        let mut w = Workload::default();
        for requests in writers {
            w = w.client(Role::Writer, requests);
        }
        if !reads.is_empty() {
            w = w.client(Role::Reader, reads);
        }
        if !image_reads.is_empty() {
            w = w.client(Role::ImageReader, image_reads);
        }
        w
    })
}

pub fn case() -> impl Strategy<Value = Case> {
    geometry().prop_flat_map(|g| {
        (order(), workload(g), any::<u64>()).prop_map(move |(order, workload, schedule)| Case {
            geometry: g,
            order,
            workload,
            schedule,
        })
    })
}

/// A case with faults: the case, the copy's error policy, and the faults it meets.
#[derive(Clone, Debug)]
pub struct FaultyCase {
    pub case: Case,
    pub on_error: ErrorPolicy,
    pub plan: FaultPlan,
}

impl FaultyCase {
    /// Runs the case with its faults under every built-in policy; the first failing run,
    /// with its trace.
    pub fn first_failure(&self, mutant: Option<Mutant>) -> Option<(Spec, Run)> {
        let run = |spec: &Spec, trace| {
            let world = crate::world::World::new(spec);
            random::run_faulty(spec, world, self.case.schedule, &self.plan, trace)
        };
        policy::builtins().into_iter().find_map(|p| {
            let spec = self
                .case
                .spec(p, mutant)
                .expect("generated requests lie inside the volume")
                .with_faults(self.on_error);
            run(&spec, false)
                .violation
                .is_some()
                .then(|| (spec.clone(), run(&spec, true)))
        })
    }
}

pub fn error_policy() -> impl Strategy<Value = ErrorPolicy> {
    (0u8..=2, any::<bool>()).prop_map(|(retries, snapshot)| ErrorPolicy {
        retries,
        then: match snapshot {
            true => Break::Snapshot,
            false => Break::GuestWrite,
        },
    })
}

/// Up to two device errors (the n-th I/O of a device, a block range, or a probability), at
/// times a store too small, at times a copier crash; shrinking removes faults and moves
/// them earlier. Drawn independently of the case's geometry (ranges within the largest
/// volume [`geometry`] makes, 16 blocks), so that shrinking the case keeps the plan.
pub fn fault_plan() -> impl Strategy<Value = FaultPlan> {
    let blocks = 16;
    let device = prop::sample::select(Device::ALL.to_vec());
    let when = prop_oneof![
        (1u64..=12).prop_map(When::Nth),
        (0..blocks)
            .prop_flat_map(move |a| (Just(a), a + 1..=blocks))
            .prop_map(|(a, b)| When::Blocks(a..b)),
        prop::sample::select(vec![0.1, 0.3, 0.6]).prop_map(When::Probability),
    ];
    let errors = prop::collection::vec(
        (device, when).prop_map(|(device, when)| PlannedError { device, when }),
        0..=2,
    );
    let store = prop::option::weighted(0.25, 0..=blocks);
    let crashes = prop::collection::vec(1..=16u64, 0..=1);
    (any::<u64>(), errors, store, crashes).prop_map(|(seed, errors, store_blocks, crashes)| {
        FaultPlan {
            seed,
            errors,
            store_blocks,
            crashes,
        }
    })
}

pub fn faulty_case() -> impl Strategy<Value = FaultyCase> {
    (case(), error_policy(), fault_plan()).prop_map(|(case, on_error, plan)| FaultyCase {
        case,
        on_error,
        plan,
    })
}

/// A proptest configuration with a fixed seed unless `PROPTEST_RNG_SEED` sets one, so that
/// CI runs are reproducible and a failure can be replayed.
pub fn config(cases: u32, seed: u64) -> Config {
    let mut config = Config {
        cases,
        ..Config::default()
    };
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(seed);
    }
    config
}

/// A case with volatile caches and power losses: the case, whether its writes are FUA and
/// whether each writer flushes after its writes, and when the power fails.
#[derive(Clone, Debug)]
pub struct PowerCase {
    pub case: Case,
    pub fua_writes: bool,
    pub guest_flush: bool,
    pub power: PowerPlan,
}

impl PowerCase {
    /// The case's spec under `policy`: its workload with FUA writes and flushes as drawn,
    /// devices with volatile caches.
    pub fn spec(&self, policy: Arc<dyn Policy>, mutant: Option<Mutant>) -> Spec {
        let mut case = self.case.clone();
        for client in &mut case.workload.clients {
            let writes = client.requests.iter().any(|r| r.op == Op::Write);
            for r in &mut client.requests {
                r.fua = self.fua_writes && r.op == Op::Write;
            }
            if self.guest_flush && writes {
                client.requests.push(Request::flush());
            }
        }
        case.spec(policy, mutant)
            .expect("generated requests lie inside the volume")
            .with_volatile_caches()
    }

    /// Runs the case with its power losses under every built-in policy; the first failing
    /// run, with its trace.
    pub fn first_failure(&self, mutant: Option<Mutant>) -> Option<(Spec, Run)> {
        let run = |spec: &Spec, trace| {
            let world = crate::world::World::new(spec);
            let none = FaultPlan::default();
            random::run_powered(spec, world, self.case.schedule, &none, &self.power, trace)
        };
        policy::builtins().into_iter().find_map(|p| {
            let spec = self.spec(p, mutant);
            run(&spec, false)
                .violation
                .is_some()
                .then(|| (spec.clone(), run(&spec, true)))
        })
    }
}

/// One or two power losses within a run's first 40 steps, with any survivors; shrinking
/// removes a loss and moves the others earlier.
pub fn power_plan() -> impl Strategy<Value = PowerPlan> {
    (prop::collection::vec(1..=40u64, 1..=2), any::<u64>())
        .prop_map(|(at, seed)| PowerPlan { at, seed })
}

pub fn power_case() -> impl Strategy<Value = PowerCase> {
    (case(), any::<bool>(), any::<bool>(), power_plan()).prop_map(
        |(case, fua_writes, guest_flush, power)| PowerCase {
            case,
            fua_writes,
            guest_flush,
            power,
        },
    )
}
