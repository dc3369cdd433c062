//! `cowlab mutants`: the catalogue, and whether the random checks catch each mutant (the
//! mistakes in handling faults in cases with fault plans, those of the claim structure with
//! the workers and hand-backs they need, those of durability with volatile caches and power
//! losses).

use crate::CliError;
use cowlab_model::{policy, random, Invariant, Mutant, World};
use std::collections::BTreeMap;

#[derive(clap::Args)]
pub struct Args {
    /// Generated cases per mutant; case seed s runs under the policy s mod 6.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
}

/// How often the random checks caught one mutant, and by which invariants.
pub struct Catch {
    pub caught: u64,
    pub by: BTreeMap<Invariant, u64>,
}

pub fn hunt(m: Mutant, seeds: u64) -> Catch {
    let policies = policy::builtins();
    let mut catch = Catch {
        caught: 0,
        by: BTreeMap::new(),
    };
    for seed in 0..seeds {
        let p = policies[(seed % policies.len() as u64) as usize].clone();
        // A mistake in handling faults shows only in cases with faults, one of the claim
        // structure only with the workers (and hand-backs) it needs.
        // A durability mistake only in cases with volatile caches and power losses.
        let (spec, schedule, plan, power) = random::generate_showing_powered(seed, p, m);
        let run = random::run_powered(&spec, World::new(&spec), schedule, &plan, &power, false);
        if let Some(v) = run.violation {
            catch.caught += 1;
            *catch.by.entry(v.invariant).or_default() += 1;
        }
    }
    catch
}

pub fn run(args: &Args) -> Result<u8, CliError> {
    let mut missed = 0;
    for m in Mutant::ALL {
        let c = hunt(m, args.seeds);
        let verdict = if c.caught > 0 { "caught" } else { "not caught" };
        let by: Vec<&str> = c.by.keys().map(|i| i.name()).collect();
        let by = if by.is_empty() {
            "-".to_string()
        } else {
            by.join(", ")
        };
        println!(
            "{:<31} {:<10} by {:<45} in {:>4} of {} seeds  {}",
            m.name(),
            verdict,
            by,
            c.caught,
            args.seeds,
            m.description()
        );
        missed += u8::from(c.caught == 0);
    }
    Ok(if missed == 0 { 0 } else { 1 })
}
