//! The `cowlab` command line: a thin layer over the crates below it (model, sim, reports,
//! qemu), which it alone imports together; the flags are parsed here, once.

mod check;
mod explore;
mod fault_flags;
mod mutants;
mod qemu;
mod report;
mod run;
mod sim;
mod survey;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cowlab",
    version,
    about = "Prove copy-on-write online-copy algorithms correct and measure their granularity trade-offs"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// Every subcommand allows negative numbers as values, so that `--seed -1` is refused by
/// the flag's own parser, naming the flag, not as "unexpected argument '-1'".
#[derive(Subcommand)]
enum Command {
    /// Run a granularity sweep of timed simulations and write its report (the default:
    /// the built-in sweep into reports/out).
    #[command(allow_negative_numbers = true)]
    Report(report::Args),
    /// Join the shard folders of `cowlab report --shard I/N` into one report.
    Merge(report::MergeArgs),
    /// Run the random driver over every policy for a fixed set of seeds.
    #[command(allow_negative_numbers = true)]
    Survey(survey::Args),
    /// Print the mutant catalogue: which checker catches each mutant, in how many seeds.
    #[command(allow_negative_numbers = true)]
    Mutants(mutants::Args),
    /// Replay one generated case by its seed and print its trace.
    #[command(allow_negative_numbers = true)]
    Replay(survey::ReplayArgs),
    /// Run one case of your own (geometry, policy, workload) and print its trace.
    #[command(allow_negative_numbers = true)]
    Run(run::Args),
    /// Check every interleaving (stateright BFS/DFS, or random simulation) of one configuration.
    #[command(allow_negative_numbers = true)]
    Check(check::Args),
    /// Join the verdicts of `cowlab check --shard I/N` into the verdict of the whole check.
    CheckMerge(check::merge::MergeArgs),
    /// Serve stateright's Explorer on 127.0.0.1 to step through interleavings in a browser.
    #[command(allow_negative_numbers = true)]
    Explore(explore::Args),
    /// Run one timed simulation and print its metrics (text, or --json).
    #[command(allow_negative_numbers = true)]
    Sim(Box<sim::Args>),
    /// Run QEMU's real backup job (or fleecing) under a workload and fault plan, judge it
    /// by cowlab's invariants and set it beside the simulator's prediction.
    #[command(allow_negative_numbers = true)]
    Qemu(Box<qemu::Args>),
}

/// A command's failure: a message for the user and the exit code.
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// Bad input: exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    /// A flag's value refused: `--flag value: why`.
    pub fn refused(flag: &str, value: impl std::fmt::Display, why: impl std::fmt::Display) -> Self {
        CliError::usage(cowlab_sim::ConfigError::new(flag, value, why).to_string())
    }
}

/// A flag's value read by its type's one parser (`FromStr`: a name of a policy, an order, a
/// mutant, a disk, ...); a refusal names the flag and the value.
pub fn flag_value<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, CliError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| CliError::refused(flag, text, e))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help and --version
        Err(e) => {
            // One clear line, not clap's usage block; a first line that announces a list
            // ("required arguments were not provided:") takes the list's first item.
            let text = e.to_string();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or("error: bad arguments");
            match first.ends_with(':') {
                true => eprintln!("{first} {}", lines.next().unwrap_or_default()),
                false => eprintln!("{first}"),
            }
            return ExitCode::from(2);
        }
    };
    let result = match cli
        .command
        .unwrap_or(Command::Report(report::Args::main_job()))
    {
        Command::Report(args) => report::run(&args),
        Command::Merge(args) => report::merge(&args),
        Command::Survey(args) => survey::run(&args),
        Command::Mutants(args) => mutants::run(&args),
        Command::Replay(args) => survey::replay(&args),
        Command::Run(args) => run::run(&args),
        Command::Check(args) => check::run(&args),
        Command::CheckMerge(args) => check::merge::run(&args),
        Command::Explore(args) => explore::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Qemu(args) => qemu::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
