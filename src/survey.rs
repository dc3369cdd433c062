//! The default job: the random driver over every policy for a fixed set of seeds.

use crate::Failure;
use cowlab_model::fault::{DeviceError, ErrorPolicy, FaultPlan, When};
use cowlab_model::{policy, random, Mutant, Policy, Spec, World};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// Generated cases per policy (seeds first-seed .. first-seed + seeds).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Give every case an error policy and a fault plan drawn from its seed: device errors,
    /// a full store, copier crashes.
    #[arg(long)]
    pub faults: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            seeds: 10_000,
            first_seed: 0,
            faults: false,
        }
    }
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The case seed printed by a failing run.
    #[arg(long)]
    pub seed: u64,
    /// The policy to run the case under.
    #[arg(long)]
    pub policy: String,
    /// Switch on a mutant of the catalogue.
    #[arg(long)]
    pub mutant: Option<String>,
    /// The case with the fault plan `cowlab survey --faults` drew for it.
    #[arg(long, conflicts_with_all = ["fail", "crash_at", "store_blocks", "fault_seed", "on_error"])]
    pub faults: bool,
    /// A fault plan of your own instead, in the words a replay prints on its `faults:` line:
    /// fail a device's I/O (DEVICE:nth=N, DEVICE:blocks=A..B, DEVICE:p=P). Repeatable.
    #[arg(long, allow_hyphen_values = true)]
    pub fail: Vec<String>,
    /// The copier crashes before its n-th step. Repeatable.
    #[arg(long)]
    pub crash_at: Vec<u64>,
    /// Blocks the snapshot store (or cache) can hold.
    #[arg(long)]
    pub store_blocks: Option<u64>,
    /// Seed of the probabilistic errors (DEVICE:p=P).
    #[arg(long)]
    pub fault_seed: Option<u64>,
    /// What the copy does about a failed I/O (the replay's `on error:` line).
    #[arg(long)]
    pub on_error: Option<String>,
}

/// The case of a seed, with or without its fault plan, run and checked.
pub fn case(
    seed: u64,
    policy: Arc<dyn Policy>,
    mutant: Option<Mutant>,
    faults: bool,
    trace: bool,
) -> (Spec, random::Run) {
    let (spec, schedule, plan) = match faults {
        true => random::generate_faulty(seed, policy, mutant),
        false => {
            let (spec, schedule) = random::generate(seed, policy, mutant);
            (spec, schedule, FaultPlan::default())
        }
    };
    let run = random::run_faulty(&spec, World::new(&spec), schedule, &plan, trace);
    (spec, run)
}

pub fn policy_arg(name: &str) -> Result<Arc<dyn Policy>, Failure> {
    policy::by_name(name).ok_or_else(|| {
        Failure::usage(format!(
            "--policy: unknown policy '{name}' (expected one of: {})",
            policy::names().join(", ")
        ))
    })
}

pub fn mutant_arg(name: &str) -> Result<Mutant, Failure> {
    Mutant::by_name(name).ok_or_else(|| {
        let names: Vec<&str> = Mutant::ALL.iter().map(|m| m.name()).collect();
        Failure::usage(format!(
            "--mutant: unknown mutant '{name}' (expected one of: {})",
            names.join(", ")
        ))
    })
}

pub fn run(args: &Args) -> Result<u8, Failure> {
    let seeds = args.first_seed..args.first_seed.saturating_add(args.seeds);
    println!(
        "random driver: seeds {}..{} per policy{}, every invariant checked after every step",
        seeds.start,
        seeds.end,
        if args.faults {
            ", each with a fault plan"
        } else {
            ""
        }
    );
    println!(
        "{:<20} {:>6} {:>10} {:>10}",
        "policy", "runs", "steps", "violations"
    );
    let mut failures = Vec::new();
    let policies = policy::builtins();
    let total = (seeds.end - seeds.start).saturating_mul(policies.len() as u64) as usize;
    let feedback = crate::report::Feedback::new(total);
    let mut done = 0;
    for p in policies {
        let (mut steps, mut violations) = (0, 0);
        for seed in seeds.clone() {
            done += 1;
            if done % 4096 == 0 || done == total {
                feedback.tell(done, total);
            }
            let (_, run) = case(seed, p.clone(), None, args.faults, false);
            steps += run.steps;
            if run.violation.is_some() {
                violations += 1;
                if failures.len() < 3 {
                    let (spec, run) = case(seed, p.clone(), None, args.faults, true);
                    failures.push((seed, spec.policy.name(), run.report(&spec)));
                }
            }
        }
        feedback.suspend(|| {
            println!(
                "{:<20} {:>6} {:>10} {:>10}",
                p.name(),
                seeds.end - seeds.start,
                steps,
                violations
            )
        });
    }
    feedback.finish();
    let faults = if args.faults { " --faults" } else { "" };
    for (seed, name, report) in &failures {
        println!("\nFAILED: case seed {seed} (replay: cowlab replay{faults} --seed {seed} --policy {name})\n{report}");
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}

/// The fault plan and error policy the replay flags give, if any is given.
fn own_plan(args: &ReplayArgs, blocks: u64) -> Result<Option<(FaultPlan, ErrorPolicy)>, Failure> {
    let given = !args.fail.is_empty()
        || !args.crash_at.is_empty()
        || args.store_blocks.is_some()
        || args.fault_seed.is_some()
        || args.on_error.is_some();
    if !given {
        return Ok(None);
    }
    let bad = |flag: &str, value: &dyn std::fmt::Display, why: String| {
        Failure::usage(format!("{flag} {value}: {why}"))
    };
    let mut plan = FaultPlan {
        seed: args.fault_seed.unwrap_or(0),
        ..FaultPlan::default()
    };
    for text in &args.fail {
        let e = DeviceError::parse(text).map_err(|why| bad("--fail", text, why))?;
        if let When::Blocks(r) = &e.when {
            if r.end > blocks {
                return Err(bad("--fail", text, format!("the case has {blocks} blocks")));
            }
        }
        plan.errors.push(e);
    }
    for n in &args.crash_at {
        if *n == 0 {
            return Err(bad("--crash-at", n, "steps are counted from 1".into()));
        }
        plan.crashes.push(*n);
    }
    if let Some(b) = args.store_blocks {
        if b == 0 {
            return Err(bad("--store-blocks", &b, "must be at least 1".into()));
        }
        plan.store_blocks = Some(b);
    }
    let on_error = match &args.on_error {
        Some(text) => ErrorPolicy::parse(text).map_err(|why| bad("--on-error", text, why))?,
        None => ErrorPolicy::default(),
    };
    Ok(Some((plan, on_error)))
}

pub fn replay(args: &ReplayArgs) -> Result<u8, Failure> {
    let policy = policy_arg(&args.policy)?;
    let mutant = args.mutant.as_deref().map(mutant_arg).transpose()?;
    let (spec, schedule) = random::generate(args.seed, policy.clone(), mutant);
    let (spec, run) = match own_plan(args, spec.geometry.blocks)? {
        Some((plan, on_error)) => {
            let spec = spec.with_faults(on_error);
            let run = random::run_faulty(&spec, World::new(&spec), schedule, &plan, true);
            (spec, run)
        }
        None => case(args.seed, policy, mutant, args.faults, true),
    };
    println!("case seed: {}", args.seed);
    print!("{}", run.report(&spec));
    match &run.violation {
        None => {
            println!("every invariant held");
            Ok(0)
        }
        Some(_) => Ok(1),
    }
}
