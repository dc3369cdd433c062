//! `cowlab check-merge FILE...`: the verdicts of `cowlab check --shard I/N` joined into the
//! verdict of the whole check. The unique states are the union of the shards' fingerprint
//! files (a k-way merge of the sorted files, read as streams); the summary line is the one
//! `cowlab check` prints.

use super::shard::{fingerprints_path, ShardFile, FINGERPRINTS_MAGIC, FORMAT};
use super::{print_counterexample, SHORTEST};
use crate::CliError;
use cowlab_model::exhaustive::check::{Progress, Verdict};
use cowlab_model::exhaustive::shard::{self as model_shard, MAX_SHARDS};
use cowlab_model::exhaustive::{CowModel, Step};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The verdict files of every shard, written by `cowlab check --shard I/N` (each with
    /// its .fingerprints file beside it).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &MergeArgs) -> Result<u8, CliError> {
    let files = args
        .files
        .iter()
        .map(|p| read(p).map(|f| (p.as_path(), f)))
        .collect::<Result<Vec<_>, _>>()?;
    let (first_path, first) = &files[0];
    for (path, f) in &files[1..] {
        agree(first_path, first, path, f)?;
    }
    let n = first.shards;
    let mut given: Vec<Option<&Path>> = vec![None; n];
    for (path, f) in &files {
        if let Some(other) = given[f.shard] {
            return Err(CliError::usage(format!(
                "shard {} of {n} is given twice: {} and {}",
                f.shard,
                other.display(),
                path.display()
            )));
        }
        given[f.shard] = Some(path);
    }
    let missing: Vec<String> = (0..n)
        .filter(|i| given[*i].is_none())
        .map(|i| i.to_string())
        .collect();
    match missing.len() {
        0 => {}
        1 => {
            return Err(CliError::usage(format!(
                "shard {} of {n} is missing",
                missing[0]
            )))
        }
        _ => {
            return Err(CliError::usage(format!(
                "shards {} of {n} are missing",
                missing.join(", ")
            )))
        }
    }
    let model = first
        .configuration
        .model
        .model()
        .map_err(|e| {
            CliError::usage(format!(
                "{}: its configuration is refused: {}",
                first_path.display(),
                e.message
            ))
        })?
        .with_reduction(!first.configuration.no_reduction);
    let properties = model_shard::properties(&model);
    let name = |path: &Path, text: &str| {
        properties
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(n, _)| *n)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "{}: '{text}' is not a property of this configuration",
                    path.display()
                ))
            })
    };
    let mut failed = Vec::new();
    let mut reached = Vec::new();
    // The shortest counterexample of all shards (by steps, then property name, as a check
    // picks), each one checked to replay first.
    let mut shortest: Option<(&'static str, Vec<Step>)> = None;
    for (path, f) in &files {
        for text in &f.failed {
            failed.push(name(path, text)?);
        }
        for text in &f.reached {
            reached.push(name(path, text)?);
        }
        if let Some(c) = &f.counterexample {
            let property = name(path, &c.property)?;
            let actions: Vec<Step> = c.actions.iter().map(|a| a.step()).collect();
            model_shard::refute(&model, property, &actions).map_err(|why| {
                CliError::usage(format!(
                    "{}: its counterexample of '{property}' does not replay: {why}",
                    path.display()
                ))
            })?;
            let shorter = shortest
                .as_ref()
                .is_none_or(|(p, a)| (actions.len(), property) < (a.len(), *p));
            if shorter {
                shortest = Some((property, actions));
            }
        }
    }
    let unique = union(&files)?;
    failed.sort();
    failed.dedup();
    let sometimes: Vec<&'static str> = properties
        .iter()
        .filter(|(_, s)| *s)
        .map(|(n, _)| *n)
        .collect();
    let (reached, unreached): (Vec<_>, Vec<_>) =
        sometimes.into_iter().partition(|n| reached.contains(n));
    let counterexample = shortest.map(|(p, a)| model_shard::counterexample(&model, p, a));
    // Shards ran apart, perhaps at once: the longest is how long the check took.
    let seconds = files.iter().map(|(_, f)| f.seconds).fold(0.0, f64::max);
    let found = counterexample.is_some();
    let timed_out = !found && files.iter().any(|(_, f)| f.timed_out);
    let memory_full = !found && files.iter().any(|(_, f)| f.memory_full);
    let bfs = files.iter().all(|(_, f)| f.search == "breadth-first");
    let verdict = Verdict {
        progress: Progress {
            // The prefix once, then each shard's transitions (its frontier states were
            // counted as the prefix's).
            states: first.prefix.states
                + files
                    .iter()
                    .map(|(_, f)| f.states.saturating_sub(f.prefix.taken))
                    .sum::<usize>(),
            unique: unique as usize,
            depth: 0,
            seconds,
            timed_out,
            memory: 0,
            peak_memory: files.iter().map(|(_, f)| f.peak_memory).max().unwrap_or(0),
            memory_full,
            runs: None,
        },
        complete: !found && files.iter().all(|(_, f)| f.complete),
        timed_out,
        memory_full,
        max_memory: files
            .iter()
            .filter(|(_, f)| f.memory_full)
            .find_map(|(_, f)| f.max_memory),
        to_try: [
            Some("more shards"),
            (!model.symmetry()).then_some("--symmetry"),
            bfs.then_some("--dfs (less memory, no shortest trace)"),
            Some("--max-memory with more"),
        ]
        .into_iter()
        .flatten()
        .collect(),
        fingerprinted: true,
        counterexample,
        failed,
        // The shortest of the shards' is the shortest there is when every shard verified
        // its own or explored its slice to the end without one (every shortest path passes
        // through a frontier state: see `cowlab_model::exhaustive::shard`).
        shortest_verified: files.iter().all(|(_, f)| match &f.counterexample {
            Some(c) => c.shortest_verified,
            None => f.complete,
        }),
        reached,
        unreached,
    };
    print(&model, &files, &verdict, bfs);
    Ok(if verdict.holds() { 0 } else { 1 })
}

fn print(model: &CowModel, files: &[(&Path, ShardFile)], v: &Verdict, bfs: bool) {
    let (_, first) = &files[0];
    println!(
        "{} shards of one exhaustive check, merged: {}{}",
        first.shards,
        match bfs {
            true => "breadth-first",
            false => "depth-first (some shards or all)",
        },
        match model.symmetry() {
            true => ", symmetry over identical writers",
            false => "",
        }
    );
    print!("{}", model.spec());
    let p = &first.prefix;
    println!(
        "prefix: breadth-first to depth {}, {} unique states; frontier of {} states (digest {})",
        p.depth, p.unique, p.frontier, p.frontier_digest
    );
    let mut shards: Vec<&ShardFile> = files.iter().map(|(_, f)| f).collect();
    shards.sort_by_key(|f| f.shard);
    for f in &shards {
        println!(
            "shard {}: {} frontier states, {} unique states, {} total states, {:.2} s, {}{}",
            f.shard,
            f.prefix.taken,
            f.unique,
            f.states,
            f.seconds,
            match (f.complete, f.timed_out, f.memory_full) {
                (true, _, _) => "complete",
                (_, true, _) => "stopped at the time limit",
                (_, _, true) => "stopped at the memory limit",
                _ => "stopped",
            },
            match &f.counterexample {
                Some(c) => format!(
                    " at a counterexample of '{}' ({} step{})",
                    c.property,
                    c.actions.len(),
                    if c.actions.len() == 1 { "" } else { "s" }
                ),
                None => String::new(),
            }
        );
    }
    let sum: usize = shards.iter().map(|f| f.unique).sum();
    let unique = v.progress.unique.max(1);
    println!(
        "the shards' unique states sum to {sum}, {:.3} times the {} unique states of their union (with the prefix's); {:.2} s all shards together",
        sum as f64 / unique as f64,
        v.progress.unique,
        shards.iter().map(|f| f.seconds).sum::<f64>()
    );
    if let Some(c) = &v.counterexample {
        let how = match (v.shortest_verified, bfs) {
            (true, _) => SHORTEST,
            (false, true) => "breadth-first",
            (false, false) => "depth-first: perhaps not the shortest",
        };
        print_counterexample(model.spec(), c, how);
    }
    if !v.reached.is_empty() {
        println!("reached: {}", v.reached.join("; "));
    }
    println!("{}", v.summary());
}

/// A shard's verdict file, refused (naming it) if it cannot be read or is not one.
fn read(path: &Path) -> Result<ShardFile, CliError> {
    let refuse = |why: String| CliError::usage(format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| refuse(format!("cannot read: {e}")))?;
    let file: ShardFile = serde_json::from_str(&text)
        .map_err(|e| refuse(format!("not a shard verdict of cowlab check: {e}")))?;
    if file.format != FORMAT {
        return Err(refuse(format!(
            "its format is '{}', not '{FORMAT}'",
            file.format
        )));
    }
    if !(1..=MAX_SHARDS).contains(&file.shards) || file.shard >= file.shards {
        return Err(refuse(format!(
            "shard {} of {}: expected an index below a count from 1 to {MAX_SHARDS}",
            file.shard, file.shards
        )));
    }
    Ok(file)
}

/// Refuses a shard of another build, shard count, configuration or frontier than the first.
fn agree(a_path: &Path, a: &ShardFile, b_path: &Path, b: &ShardFile) -> Result<(), CliError> {
    let (a_name, b_name) = (a_path.display(), b_path.display());
    let refuse = |why: String| Err(CliError::usage(format!("{b_name}: {why}")));
    if a.version != b.version {
        return refuse(format!(
            "written by cowlab {}, but {a_name} by cowlab {}: merge shards of one build",
            b.version, a.version
        ));
    }
    if a.shards != b.shards {
        return refuse(format!(
            "shard {} of {}, but {a_name} is one of {} shards",
            b.shard, b.shards, a.shards
        ));
    }
    let (va, vb) = (
        serde_json::to_value(&a.configuration).expect("a configuration serialises"),
        serde_json::to_value(&b.configuration).expect("a configuration serialises"),
    );
    if va != vb {
        let (ma, mb) = (va.as_object(), vb.as_object());
        let keys = ma.into_iter().chain(mb).flat_map(|m| m.keys());
        for key in keys {
            let (x, y) = (ma.and_then(|m| m.get(key)), mb.and_then(|m| m.get(key)));
            if x != y {
                return refuse(format!(
                    "--{key} {}, but {a_name} has --{key} {}: merge shards of one configuration",
                    show(y),
                    show(x)
                ));
            }
        }
    }
    let frontier = |f: &ShardFile| {
        (
            f.prefix.depth,
            f.prefix.frontier,
            f.prefix.frontier_digest.clone(),
        )
    };
    if frontier(a) != frontier(b) {
        return refuse(format!(
            "its frontier (depth {}, {} states, digest {}) is not {a_name}'s (depth {}, {} states, digest {}): built differently?",
            b.prefix.depth,
            b.prefix.frontier,
            b.prefix.frontier_digest,
            a.prefix.depth,
            a.prefix.frontier,
            a.prefix.frontier_digest
        ));
    }
    Ok(())
}

/// A configuration value as the flag would take it.
fn show(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "(not given)".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// A shard's fingerprints, read in order from its file.
struct Fingerprints {
    path: PathBuf,
    reader: BufReader<File>,
    left: u64,
    last: Option<u64>,
}

impl Fingerprints {
    fn open(verdict: &Path, f: &ShardFile) -> Result<Fingerprints, CliError> {
        // The file the verdict names, in the verdict's folder (never elsewhere).
        let named = Path::new(&f.fingerprints.file);
        let path = match named.file_name() {
            Some(n) if named.components().count() == 1 => verdict.with_file_name(n),
            _ => fingerprints_path(verdict),
        };
        let refuse = |why: String| CliError::usage(format!("{}: {why}", path.display()));
        let file = File::open(&path).map_err(|e| refuse(format!("cannot read: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| refuse(format!("cannot read: {e}")))?
            .len();
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut head = [0u8; 16];
        reader
            .read_exact(&mut head)
            .map_err(|_| refuse("not a fingerprint file of cowlab check: too short".into()))?;
        if head[..8] != FINGERPRINTS_MAGIC {
            return Err(refuse("not a fingerprint file of cowlab check".into()));
        }
        let count = u64::from_le_bytes(head[8..].try_into().expect("8 bytes"));
        if count != f.fingerprints.count || Some(len) != count.checked_mul(8).map(|b| b + 16) {
            return Err(refuse(format!(
                "holds {len} bytes with a count of {count}, but {} says {} fingerprints ({} bytes)",
                verdict.display(),
                f.fingerprints.count,
                f.fingerprints.count.saturating_mul(8).saturating_add(16)
            )));
        }
        Ok(Fingerprints {
            path,
            reader,
            left: count,
            last: None,
        })
    }

    fn next(&mut self) -> Result<Option<u64>, CliError> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut b = [0u8; 8];
        self.reader
            .read_exact(&mut b)
            .map_err(|e| CliError::usage(format!("{}: cannot read: {e}", self.path.display())))?;
        self.left -= 1;
        let fp = u64::from_le_bytes(b);
        if self.last.is_some_and(|l| l >= fp) {
            return Err(CliError::usage(format!(
                "{}: the fingerprints are not in ascending order",
                self.path.display()
            )));
        }
        self.last = Some(fp);
        Ok(Some(fp))
    }
}

/// How many fingerprints the shards' files hold between them, each counted once: a k-way
/// merge of the sorted files, one fingerprint of each in memory at a time.
fn union(files: &[(&Path, ShardFile)]) -> Result<u64, CliError> {
    let mut streams = files
        .iter()
        .map(|(p, f)| Fingerprints::open(p, f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut heap = BinaryHeap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        if let Some(fp) = s.next()? {
            heap.push(Reverse((fp, i)));
        }
    }
    let (mut count, mut last) = (0u64, None);
    while let Some(Reverse((fp, i))) = heap.pop() {
        if last != Some(fp) {
            count += 1;
            last = Some(fp);
        }
        if let Some(next) = streams[i].next()? {
            heap.push(Reverse((next, i)));
        }
    }
    Ok(count)
}
