//! Shards: a sweep too big for one machine runs as N disjoint slices, each writing a shard
//! folder; `merge` joins them into the report one run would have written.

use crate::results::Results;
use crate::run::{Shard, Timing};
use crate::ReportError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a shard folder holds (`shard.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    pub shard: Shard,
    pub results: Results,
    pub timing: Timing,
    /// The same shard of the topology panel's sweep, in the built-in report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<Results>,
}

pub const SHARD_FILE: &str = "shard.json";

impl ShardFile {
    /// A shard of a report's sweeps: one [`Results`] per sweep, as [`crate::run::run`]
    /// gives them (the report's, then the panel's if any).
    /// Refuses no results, or more than a report shows.
    pub fn new(
        shard: Shard,
        results: Vec<Results>,
        timing: Timing,
    ) -> Result<ShardFile, ReportError> {
        let n = results.len();
        let mut sweeps = results.into_iter();
        match (sweeps.next(), sweeps.next(), sweeps.next()) {
            (Some(results), panel, None) => Ok(ShardFile {
                shard,
                results,
                timing,
                panel,
            }),
            _ => Err(ReportError::Other(format!(
                "a shard holds a report's sweep and at most one topology panel's, not {n} sweeps"
            ))),
        }
    }
}

/// Writes a shard folder.
pub fn write(dir: &Path, shard: &ShardFile) -> Result<PathBuf, ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let path = dir.join(SHARD_FILE);
    let text = serde_json::to_string(shard).expect("a shard serialises");
    crate::render::write_file(&path, &text)?;
    Ok(path)
}

fn read(dir: &Path) -> Result<ShardFile, ReportError> {
    let path = dir.join(SHARD_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| ReportError::io(&path, e))?;
    let file: ShardFile = serde_json::from_str(&text).map_err(|e| {
        ReportError::Merge(format!(
            "{}: not a shard of a cowlab sweep: {e}",
            path.display()
        ))
    })?;
    // `merge` indexes its table of slices by the shard's place; an edited file must not
    // take it out of bounds.
    let s = file.shard;
    if !(1..=s.count).contains(&s.index) {
        return Err(ReportError::Merge(format!(
            "{}: shard {}/{}: expected I/N with 1 <= I <= N",
            path.display(),
            s.index,
            s.count
        )));
    }
    Ok(file)
}

/// Shard folders joined: the results of each sweep (the report's, then the panel's if
/// any), the shards' timings.
pub type Merged = (Vec<Results>, Vec<Timing>);

/// Joins shard folders into the results of the whole sweep (in the sweep's job order), and
/// of its topology panel if the shards have one, and the shards' timings. Refuses shards of
/// different sweeps (or panels), a shard given twice or two shards covering the same slice,
/// and an incomplete set.
pub fn merge(dirs: &[PathBuf]) -> Result<Merged, ReportError> {
    let Some(first_dir) = dirs.first() else {
        return Err(ReportError::Merge("no shard folders given".into()));
    };
    let first = read(first_dir)?;
    let count = first.shard.count;
    let mut seen: Vec<Option<&PathBuf>> = vec![None; count];
    let mut merged = Results {
        sweep: first.results.sweep.clone(),
        runs: Vec::new(),
        no_writes: Vec::new(),
    };
    let mut panel = first.panel.as_ref().map(|p| Results {
        sweep: p.sweep.clone(),
        runs: Vec::new(),
        no_writes: Vec::new(),
    });
    let mut timings = Vec::new();
    for dir in dirs {
        let s = read(dir)?;
        let panel_sweep = |f: &ShardFile| f.panel.as_ref().map(|p| p.sweep.clone());
        if s.results.sweep != first.results.sweep
            || s.shard.count != count
            || panel_sweep(&s) != panel_sweep(&first)
        {
            return Err(ReportError::Merge(format!(
                "{} and {} are shards of different sweeps (or split into a different number of shards)",
                first_dir.display(),
                dir.display()
            )));
        }
        let i = s.shard.index;
        if let Some(other) = seen[i - 1] {
            return Err(ReportError::Merge(format!(
                "{} and {} both hold shard {i}/{count}: their slices overlap",
                other.display(),
                dir.display()
            )));
        }
        seen[i - 1] = Some(dir);
        merged.runs.extend(s.results.runs);
        merged.no_writes.extend(s.results.no_writes);
        if let (Some(all), Some(mine)) = (&mut panel, s.panel) {
            all.runs.extend(mine.runs);
            all.no_writes.extend(mine.no_writes);
        }
        timings.push(s.timing);
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| seen[i - 1].is_none())
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(ReportError::Merge(format!(
            "shards missing: {} (a report needs every slice of the sweep)",
            missing.join(", ")
        )));
    }
    for r in std::iter::once(&mut merged).chain(panel.as_mut()) {
        r.runs.sort_by_key(|r| r.job);
        r.no_writes.sort_by_key(|n| n.job);
    }
    Ok((std::iter::once(merged).chain(panel).collect(), timings))
}
