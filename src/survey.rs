//! The default job: the random driver over every policy for a fixed set of seeds.

use crate::{flag_value, CliError};
use cowlab_model::fault::{ErrorPolicy, FaultPlan};
use cowlab_model::{policy, random, Mutant, Policy, PolicyName, Spec, World};
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
    /// Give every case volatile device caches, FUA writes and flushes now and then, and one
    /// or two power losses with recovery, drawn from its seed.
    #[arg(long)]
    pub power_loss: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            seeds: 10_000,
            first_seed: 0,
            faults: false,
            power_loss: false,
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
    /// The case with the volatile caches and power losses `cowlab survey --power-loss` drew
    /// for it.
    #[arg(long, conflicts_with_all = ["fail", "crash_at", "store_blocks", "fault_seed", "on_error"])]
    pub power_loss: bool,
    /// A fault plan of your own instead, in the flags a replay prints on its `faults:` and
    /// `on error:` lines.
    #[command(flatten)]
    pub plan: crate::fault_flags::FaultFlags,
}

/// The case of a seed, with or without its fault plan and its power losses, run and
/// checked.
pub fn case(
    seed: u64,
    policy: Arc<dyn Policy>,
    mutant: Option<Mutant>,
    faults: bool,
    power_loss: bool,
    trace: bool,
) -> (Spec, random::Run) {
    let (spec, schedule, plan, power) = match power_loss {
        true => random::generate_power(seed, policy, mutant, faults),
        false => {
            let (spec, schedule, plan) = random::generate_with(seed, policy, mutant, faults);
            (spec, schedule, plan, Default::default())
        }
    };
    let run = random::run_powered(&spec, World::new(&spec), schedule, &plan, &power, trace);
    (spec, run)
}

/// The built-in policy `--policy` names.
pub fn policy_arg(name: &str) -> Result<Arc<dyn Policy>, CliError> {
    let policy: PolicyName = flag_value("--policy", name)?;
    policy
        .builtin()
        .map_err(|e| CliError::refused("--policy", name, e))
}

/// The mutant `--mutant` names.
pub fn mutant_arg(name: &str) -> Result<Mutant, CliError> {
    flag_value("--mutant", name)
}

pub fn run(args: &Args) -> Result<u8, CliError> {
    let seeds = args.first_seed..args.first_seed.saturating_add(args.seeds);
    println!(
        "random driver: seeds {}..{} per policy{}{}, every invariant checked after every step",
        seeds.start,
        seeds.end,
        if args.faults {
            ", each with a fault plan"
        } else {
            ""
        },
        if args.power_loss {
            ", each with volatile caches and power losses"
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
            let (_, run) = case(seed, p.clone(), None, args.faults, args.power_loss, false);
            steps += run.steps;
            if run.violation.is_some() {
                violations += 1;
                if failures.len() < 3 {
                    let (spec, run) =
                        case(seed, p.clone(), None, args.faults, args.power_loss, true);
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
    let faults = format!(
        "{}{}",
        if args.faults { " --faults" } else { "" },
        if args.power_loss { " --power-loss" } else { "" }
    );
    for (seed, name, report) in &failures {
        println!("\nFAILED: case seed {seed} (replay: cowlab replay{faults} --seed {seed} --policy {name})\n{report}");
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}

pub fn replay(args: &ReplayArgs) -> Result<u8, CliError> {
    let policy = policy_arg(&args.policy)?;
    let mutant = args.mutant.as_deref().map(mutant_arg).transpose()?;
    let (spec, schedule) = random::generate(args.seed, policy.clone(), mutant);
    let (spec, run) = match args.plan.given() {
        true => {
            let (mut plan, mut on_error) = (FaultPlan::default(), ErrorPolicy::default());
            args.plan
                .apply(&mut plan, &mut on_error, spec.geometry.blocks)?;
            let spec = spec.with_faults(on_error);
            let run = random::run_faulty(&spec, World::new(&spec), schedule, &plan, true);
            (spec, run)
        }
        false => case(
            args.seed,
            policy,
            mutant,
            args.faults,
            args.power_loss,
            true,
        ),
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
