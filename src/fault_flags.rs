//! The fault flags `sim` (and through it `qemu`) and `replay` share, parsed in one place:
//! they print as a plan's flags (`FaultPlan`'s display), and read back the same plan.

use crate::CliError;
use cowlab_model::fault::{ErrorPolicy, FaultPlan};
use cowlab_sim::config::ConfigError;
use cowlab_sim::faults;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct FaultFlags {
    /// Fail I/O of a device: DEVICE:nth=N (its n-th I/O), DEVICE:blocks=A..B (every I/O
    /// touching blocks A to B-1: the range is half-open) or DEVICE:p=P (each I/O with
    /// probability P); devices are source, destination, snapshot, cache. Repeatable.
    #[arg(long, allow_hyphen_values = true)]
    pub fail: Vec<String>,
    /// Blocks the snapshot store (or cache) can hold (how a printed plan gives it).
    #[arg(long)]
    pub store_blocks: Option<u64>,
    /// The copier crashes before its n-th step and restarts from what it persisted.
    /// Repeatable.
    #[arg(long)]
    pub crash_at: Vec<u64>,
    /// Seed of the probabilistic errors (DEVICE:p=P) [default: 0].
    #[arg(long)]
    pub fault_seed: Option<u64>,
    /// What the copy does about a failed I/O: break-guest-write, break-snapshot, retry:N or
    /// retry:N:break-snapshot [default: break-guest-write].
    #[arg(long)]
    pub on_error: Option<String>,
}

fn refused(flag: &str, value: impl std::fmt::Display, reason: impl std::fmt::Display) -> CliError {
    CliError::usage(ConfigError::new(flag, value, reason).to_string())
}

impl FaultFlags {
    /// Whether any of the flags was given.
    pub fn given(&self) -> bool {
        !self.fail.is_empty()
            || self.store_blocks.is_some()
            || !self.crash_at.is_empty()
            || self.fault_seed.is_some()
            || self.on_error.is_some()
    }

    /// Adds the flags to `plan` and `on_error`: device errors and crashes add to the plan's,
    /// the store, the seed and the policy replace them. A block range is checked against a
    /// volume of `volume_blocks`.
    pub fn apply(
        &self,
        plan: &mut FaultPlan,
        on_error: &mut ErrorPolicy,
        volume_blocks: u64,
    ) -> Result<(), CliError> {
        for text in &self.fail {
            let e = faults::parse_device_error(text).map_err(|e| refused("--fail", text, e))?;
            faults::check_blocks(&e, volume_blocks).map_err(|r| refused("--fail", text, r))?;
            plan.errors.push(e);
        }
        if let Some(n) = self.store_blocks {
            if n == 0 {
                return Err(refused("--store-blocks", n, "must be at least 1"));
            }
            plan.store_blocks = Some(n);
        }
        for n in &self.crash_at {
            if *n == 0 {
                return Err(refused("--crash-at", n, "steps are counted from 1"));
            }
            plan.crashes.push(*n);
        }
        if let Some(seed) = self.fault_seed {
            plan.seed = seed;
        }
        if let Some(text) = &self.on_error {
            *on_error =
                faults::parse_error_policy(text).map_err(|e| refused("--on-error", text, e))?;
        }
        Ok(())
    }
}
