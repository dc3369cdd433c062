//! `cowlab run`: one case of your own (geometry, policy, order, workload) under the random
//! driver, with its trace.

use crate::survey::{mutant_arg, policy_arg};
use crate::{flag_value, CliError};
use cowlab_model::{random, Geometry, OrderName, Request, Role, Spec, Workload};
use cowlab_sim::config::MAX_DATA_BYTES;
use cowlab_sim::size::format_size;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "snapshot-overlay")]
    pub policy: String,
    /// Volume size in blocks.
    #[arg(long, default_value_t = 8)]
    pub blocks: u64,
    /// Block size in bytes; requests are by byte offset and length.
    #[arg(long, default_value_t = 512)]
    pub block_size: u64,
    #[arg(long, default_value_t = 2)]
    pub segment_blocks: u64,
    #[arg(long, default_value_t = 1)]
    pub cow_blocks: u64,
    /// sequential, reverse, random (seeded by --seed) or written-first.
    #[arg(long, default_value = "sequential")]
    pub order: String,
    /// One writer's requests, e.g. `w0+1024,r512+512` (w = write, r = read; offset+length in
    /// bytes). Repeat for more writers.
    #[arg(long = "writer")]
    pub writers: Vec<String>,
    /// One image reader's reads, e.g. `0+4096,1024+10`. Repeat for more readers.
    #[arg(long = "image-reader")]
    pub image_readers: Vec<String>,
    /// The scheduler's seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub mutant: Option<String>,
}

/// A request letter and the constructor it stands for.
type Kind = (char, fn(u64, u64) -> Request);

/// Parses `w0+1024,r512+512` (with `kinds` saying which letters are allowed; a request
/// without a letter takes the first kind); `flag` names it in errors.
fn requests(flag: &str, text: &str, kinds: &[Kind]) -> Result<Vec<Request>, CliError> {
    text.split(',')
        .map(|item| {
            let item = item.trim();
            let (make, body) = match kinds.iter().find(|(k, _)| item.starts_with(*k)) {
                Some((k, make)) => (*make, &item[k.len_utf8()..]),
                None => (kinds[0].1, item),
            };
            let bad = || {
                CliError::usage(format!(
                    "{flag}: bad request '{item}': expected OFFSET+LENGTH in bytes, e.g. 'w0+512'"
                ))
            };
            let (offset, len) = body.split_once('+').ok_or_else(bad)?;
            let offset = offset.trim().parse().map_err(|_| bad())?;
            let len = len.trim().parse().map_err(|_| bad())?;
            Ok(make(offset, len))
        })
        .collect()
}

pub fn spec(args: &Args) -> Result<Spec, CliError> {
    let policy = policy_arg(&args.policy)?;
    let mutant = args.mutant.as_deref().map(mutant_arg).transpose()?;
    // The engine's own refusals name its fields; these name the flags.
    for (flag, value) in [
        ("--blocks", args.blocks),
        ("--block-size", args.block_size),
        ("--segment-blocks", args.segment_blocks),
        ("--cow-blocks", args.cow_blocks),
    ] {
        if value == 0 {
            return Err(CliError::usage(format!("{flag} 0: must be at least 1")));
        }
    }
    if !args.segment_blocks.is_multiple_of(args.cow_blocks) {
        return Err(CliError::usage(format!(
            "--cow-blocks {}: must divide --segment-blocks ({})",
            args.cow_blocks, args.segment_blocks
        )));
    }
    let geometry = Geometry::new(
        args.blocks,
        args.block_size,
        args.segment_blocks,
        args.cow_blocks,
    )
    .map_err(|e| CliError::usage(format!("bad geometry: {e}")))?;
    let order = flag_value::<OrderName>("--order", &args.order)?.order(args.seed);
    let mut workload = Workload::default();
    for w in &args.writers {
        let reqs = requests(
            "--writer",
            w,
            &[('w', Request::write), ('r', Request::read)],
        )?;
        workload = workload.client(Role::Writer, reqs);
    }
    for r in &args.image_readers {
        workload = workload.client(
            Role::ImageReader,
            requests("--image-reader", r, &[('i', Request::read_image)])?,
        );
    }
    Spec::new(geometry, policy, order, mutant, workload)
        .map_err(|e| CliError::usage(format!("bad request: {e}")))
}

/// What a run keeps per block: four devices of 4-byte stamps and the newest write's stamp.
const BYTES_PER_BLOCK: u64 = 20;

/// Block reads a run may spend on checking: the invariants read the whole volume after every
/// step (about half a minute at this many).
const MAX_BLOCK_CHECKS: u64 = 20_000_000_000;

/// Refuses, before allocating anything, a run that cannot fit in memory or would check for
/// hours, with the estimate and the limit.
fn check_size(g: &Geometry) -> Result<(), CliError> {
    let need = g.blocks.saturating_mul(BYTES_PER_BLOCK);
    if need > MAX_DATA_BYTES {
        return Err(CliError::usage(format!(
            "--blocks {}: the run keeps every block's data, about {:.1} GiB, more than the {} \
             limit; `cowlab sim --check off` simulates volumes this large",
            g.blocks,
            need as f64 / (1u64 << 30) as f64,
            format_size(MAX_DATA_BYTES)
        )));
    }
    // The copier alone takes three steps a segment (claim, copy, mark).
    let steps = 3 * u64::from(g.segments());
    let checks = steps.saturating_mul(g.blocks);
    if checks > MAX_BLOCK_CHECKS {
        return Err(CliError::usage(format!(
            "--blocks {}: checking every invariant after each of at least {steps} steps reads \
             about {checks} blocks, more than the limit of {MAX_BLOCK_CHECKS}; use larger \
             segments (--segment-blocks) or `cowlab sim`, which checks at the end",
            g.blocks
        )));
    }
    Ok(())
}

pub fn run(args: &Args) -> Result<u8, CliError> {
    let spec = spec(args)?;
    check_size(&spec.geometry)?;
    let run = random::run(&spec, args.seed, true);
    print!("{}", run.report(&spec));
    match run.violation {
        None => {
            println!("every invariant held");
            Ok(0)
        }
        Some(_) => Ok(1),
    }
}
