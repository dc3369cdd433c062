//! `cowlab check --shard I/N`: one of N slices of an exhaustive check (the design is in
//! `cowlab_model::exhaustive::shard`), written as a verdict file (JSON) and a fingerprint
//! file beside it, for `cowlab check-merge` to join.

use super::{print_counterexample, reporter, Args, ModelArgs, SHORTEST};
use crate::CliError;
use cowlab_model::exhaustive::check::Strategy;
use cowlab_model::exhaustive::shard::{self, Prefix, Shard, ShardOutcome, FRONTIER_PER_SHARD};
use cowlab_model::exhaustive::{CowModel, Fault, Step};
use serde::{Deserialize, Serialize};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What a shard's verdict file says it is (a file of another layout is refused).
pub const FORMAT: &str = "cowlab check shard, version 1";

/// The binary that wrote a shard: its version and, when it was built in a git checkout,
/// the commit.
pub fn build_version() -> String {
    match env!("COWLAB_COMMIT") {
        "" => env!("CARGO_PKG_VERSION").to_string(),
        commit => format!("{} (commit {commit})", env!("CARGO_PKG_VERSION")),
    }
}

/// A shard's verdict file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardFile {
    pub format: String,
    pub version: String,
    /// This shard's 0-based index, and how many shards there are.
    pub shard: usize,
    pub shards: usize,
    /// Every flag that shapes the state space.
    pub configuration: Configuration,
    /// The configuration in words, for people reading the file.
    pub described: String,
    /// `breadth-first` or `depth-first`, and the threads it ran on.
    pub search: String,
    pub threads: u32,
    pub prefix: PrefixFile,
    /// The shard's exploration from its frontier states, as stateright counts it: unique
    /// and total states (its frontier states included).
    pub unique: usize,
    pub states: usize,
    /// Seconds, prefix and exploration.
    pub seconds: f64,
    /// Every state of the shard's slice was explored: no limit stopped it and it found no
    /// counterexample.
    pub complete: bool,
    pub timed_out: bool,
    pub memory_full: bool,
    /// The most memory in use (bytes), and the limit it ran under.
    pub peak_memory: u64,
    pub max_memory: Option<u64>,
    /// Properties broken, and `sometimes` properties reached (prefix and exploration).
    pub failed: Vec<String>,
    pub reached: Vec<String>,
    pub counterexample: Option<CounterexampleFile>,
    pub fingerprints: FingerprintsFile,
}

/// The flags that shape the state space: the model's, and the frontier's depth if given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Configuration {
    #[serde(flatten)]
    pub model: ModelArgs,
    pub shard_depth: Option<u32>,
    /// Every interleaving of the reads too (`--no-reduction`).
    #[serde(default)]
    pub no_reduction: bool,
}

/// The prefix every shard explores alike.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrefixFile {
    /// The frontier's depth and size, and this shard's part of it.
    pub depth: usize,
    pub frontier: usize,
    pub taken: usize,
    /// A digest of the frontier's fingerprints (16 hex digits): shards of one check agree.
    pub frontier_digest: String,
    /// Unique and total states of the prefix, the frontier included.
    pub unique: usize,
    pub states: usize,
    /// The prefix is the whole space.
    pub exhausted: bool,
}

/// A broken property and the path to a state that breaks it, from the initial state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CounterexampleFile {
    pub property: String,
    /// No counterexample in the shard's slice is shorter.
    pub shortest_verified: bool,
    pub actions: Vec<ActionFile>,
}

/// One action of the model: a process steps (on the range it chooses, if it chooses one),
/// perhaps injecting a fault. `says` is the action in words (not read back).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActionFile {
    pub process: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<[u64; 2]>,
    #[serde(default, skip_serializing_if = "Fault::is_none")]
    pub fault: Fault,
    #[serde(default)]
    pub says: String,
}

impl ActionFile {
    pub fn of(model: &CowModel, a: &Step) -> ActionFile {
        ActionFile {
            process: a.0,
            blocks: a.1.map(|(s, e)| [s, e]),
            fault: a.2,
            says: shard::action_words(model, a),
        }
    }

    pub fn step(&self) -> Step {
        Step(self.process, self.blocks.map(|[s, e]| (s, e)), self.fault)
    }
}

/// The shard's fingerprint file: its name (beside the verdict file) and how many it holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FingerprintsFile {
    pub file: String,
    pub count: u64,
}

/// The fingerprint file starts with these 8 bytes, then the count (u64, little-endian),
/// then the fingerprints (u64 each, little-endian), ascending, each once.
pub const FINGERPRINTS_MAGIC: [u8; 8] = *b"cowlabfp";

/// `I/N`, 0-based: the I-th of N shards.
pub fn parse_shard(text: &str) -> Result<Shard, CliError> {
    let refused = |why: String| CliError::refused("--shard", text, why);
    let Some((i, n)) = text.split_once('/') else {
        return Err(refused(
            "expected I/N, shard I (from 0) of N shards, e.g. 0/4".into(),
        ));
    };
    let number = |what: &str, s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| refused(format!("the {what} '{s}' is not a whole number")))
    };
    let (index, count) = (number("shard index", i)?, number("shard count", n)?);
    Shard::new(index, count).map_err(refused)
}

/// The fingerprint file of a verdict file: `x.json` gives `x.fingerprints`.
pub fn fingerprints_path(verdict: &Path) -> PathBuf {
    match verdict.extension() {
        Some(e) if e == "json" => verdict.with_extension("fingerprints"),
        _ => {
            let mut name = verdict.as_os_str().to_owned();
            name.push(".fingerprints");
            PathBuf::from(name)
        }
    }
}

pub fn run(args: &Args, text: &str) -> Result<u8, CliError> {
    let shard = parse_shard(text)?;
    let model = args.model.model()?.with_reduction(super::reduced(args));
    let spec = model.spec();
    let options = super::options(args)?;
    let out = args.shard_out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "cowlab-shard-{}-of-{}.json",
            shard.index, shard.count
        ))
    });
    // Refuse a place it cannot write before the check, not after it.
    let folder = out.parent().filter(|p| !p.as_os_str().is_empty());
    if folder.is_some_and(|f| !f.is_dir()) || out.is_dir() {
        return Err(CliError::refused(
            "--shard-out",
            out.display(),
            "not a file in an existing folder",
        ));
    }
    let configuration = Configuration {
        model: args.model.canonical()?,
        shard_depth: args.shard_depth,
        no_reduction: args.no_reduction,
    };
    super::print_header(
        &model,
        &options,
        &format!(", shard {} of {}", shard.index, shard.count),
    );
    let start = std::time::Instant::now();
    let prefix = Prefix::explore(&model, shard.count, args.shard_depth.map(|d| d as usize));
    let p = prefix.figures(shard);
    println!(
        "prefix: breadth-first to depth {}, {} unique states, {} total; {}",
        p.depth,
        p.unique,
        p.states,
        match (p.exhausted, prefix.broken()) {
            (_, true) => "a property broke in the prefix".to_string(),
            (true, _) => "that is the whole space".to_string(),
            (false, _) => format!(
                "frontier of {} states at depth {} ({}), this shard takes {}",
                p.frontier,
                p.depth,
                match args.shard_depth {
                    Some(_) => "by --shard-depth".to_string(),
                    None => format!("at least {FRONTIER_PER_SHARD} per shard"),
                },
                p.taken
            ),
        }
    );
    let _ = std::io::stdout().flush();
    let mut report = reporter(args, &options);
    let outcome = shard::run_from(&model, &prefix, shard, start, &options, &mut report);
    let v = &outcome.verdict;
    if let Some(c) = &v.counterexample {
        let how = match options.strategy {
            _ if v.shortest_verified && prefix.broken() => SHORTEST,
            Strategy::Bfs if v.shortest_verified => {
                "shortest in this shard: no counterexample through its frontier states has fewer steps"
            }
            Strategy::Dfs => "depth-first: perhaps not the shortest",
            _ => "breadth-first",
        };
        print_counterexample(spec, c, how);
    }
    if !v.reached.is_empty() {
        println!("reached: {}", v.reached.join("; "));
    }
    println!("shard {} of {}: {}", shard.index, shard.count, v.summary());
    let file = shard_file(&model, &outcome, &options, args, configuration, &out);
    write(&out, &file, &outcome.fingerprints)?;
    println!(
        "written to {} and {}; join the {} shards with: cowlab check-merge FILE...",
        out.display(),
        fingerprints_path(&out).display(),
        shard.count
    );
    Ok(if v.counterexample.is_some() { 1 } else { 0 })
}

fn shard_file(
    model: &CowModel,
    outcome: &ShardOutcome,
    options: &cowlab_model::exhaustive::check::Options,
    args: &Args,
    configuration: Configuration,
    out: &Path,
) -> ShardFile {
    let v = &outcome.verdict;
    let p = &outcome.prefix;
    ShardFile {
        format: FORMAT.into(),
        version: build_version(),
        shard: outcome.shard.index,
        shards: outcome.shard.count,
        configuration,
        described: args
            .model
            .config()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        search: match options.strategy {
            Strategy::Dfs => "depth-first",
            _ => "breadth-first",
        }
        .into(),
        threads: args.threads,
        prefix: PrefixFile {
            depth: p.depth,
            frontier: p.frontier,
            taken: p.taken,
            frontier_digest: format!("{:016x}", p.digest),
            unique: p.unique,
            states: p.states,
            exhausted: p.exhausted,
        },
        unique: v.progress.unique,
        states: v.progress.states,
        seconds: v.progress.seconds,
        complete: v.complete,
        timed_out: v.timed_out,
        memory_full: v.memory_full,
        peak_memory: v.progress.peak_memory,
        max_memory: v.max_memory,
        failed: v.failed.iter().map(|s| s.to_string()).collect(),
        reached: v.reached.iter().map(|s| s.to_string()).collect(),
        counterexample: v.counterexample.as_ref().map(|c| CounterexampleFile {
            property: c.property.into(),
            shortest_verified: v.shortest_verified,
            actions: c.actions.iter().map(|a| ActionFile::of(model, a)).collect(),
        }),
        fingerprints: FingerprintsFile {
            file: fingerprints_path(out)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            count: outcome.fingerprints.len() as u64,
        },
    }
}

/// Writes the fingerprints, then the verdict (each to a temporary file renamed into
/// place), so that a verdict file on disk always has its fingerprints beside it.
fn write(out: &Path, file: &ShardFile, fingerprints: &[u64]) -> Result<(), CliError> {
    let fp_path = fingerprints_path(out);
    write_atomically(&fp_path, |w| {
        w.write_all(&FINGERPRINTS_MAGIC)?;
        w.write_all(&(fingerprints.len() as u64).to_le_bytes())?;
        for f in fingerprints {
            w.write_all(&f.to_le_bytes())?;
        }
        Ok(())
    })?;
    let text = serde_json::to_string_pretty(file).expect("a shard verdict serialises");
    write_atomically(out, |w| {
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")
    })
}

fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let temp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let mut w = BufWriter::new(std::fs::File::create(&temp)?);
        fill(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        CliError::usage(format!("{}: cannot write: {e}", path.display()))
    })
}
