//! The folder a report (or a shard) goes to: checked before any run is made — it must be
//! writable and hold nothing but what a report writes — and cleared of an older report's
//! files just before the new one is written, so no stale chart outlives its sweep.

use crate::page::PAGE_FILE;
use crate::render::PANEL_DIR;
use crate::shard::SHARD_FILE;
use crate::ReportError;
use std::path::{Path, PathBuf};

/// Whether `rel` (a path inside the folder) is a file a report or a shard writes.
fn written_by_a_report(rel: &Path) -> bool {
    let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
    match parts.as_slice() {
        [f] => matches!(
            *f,
            "summary.md" | PAGE_FILE | "results.json" | "results.csv" | "timing.json" | SHARD_FILE
        ),
        ["charts", f] => f.ends_with(".svg") || f.ends_with(".png"),
        [dir, f] if *dir == PANEL_DIR => {
            matches!(*f, "results.json" | "results.csv" | "sweep.toml")
        }
        _ => false,
    }
}

/// Every file below `dir`, relative to it.
fn files(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| ReportError::io(&d, e))? {
            let entry = entry.map_err(|e| ReportError::io(&d, e))?;
            let path = entry.path();
            match path.is_dir() {
                true => todo.push(path),
                false => out.push(path.strip_prefix(dir).unwrap_or(&path).to_path_buf()),
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Refuses, before any work, a folder that cannot be written or that holds files a report
/// does not write (they are not cowlab's to overwrite or remove).
pub fn check(out: &Path) -> Result<(), ReportError> {
    let refuse = |why: String| ReportError::Other(format!("--out {}: {why}", out.display()));
    if out.exists() && !out.is_dir() {
        return Err(refuse("not a folder".into()));
    }
    if out.is_dir() {
        let foreign: Vec<PathBuf> = files(out)?
            .into_iter()
            .filter(|f| !written_by_a_report(f))
            .collect();
        if let Some(first) = foreign.first() {
            return Err(refuse(format!(
                "holds {} file(s) a report does not write ({}{}): choose an empty or new folder",
                foreign.len(),
                first.display(),
                if foreign.len() > 1 { ", ..." } else { "" }
            )));
        }
    }
    // Made for the test and taken down again: a run refused later leaves nothing behind.
    let first_made = out
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .last()
        .map(Path::to_path_buf);
    std::fs::create_dir_all(out).map_err(|e| refuse(format!("cannot be made: {e}")))?;
    let probe = out.join(".cowlab-write-test");
    let written = std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe));
    if let Some(d) = first_made {
        let _ = std::fs::remove_dir_all(d);
    }
    written.map_err(|e| refuse(format!("cannot be written: {e}")))
}

/// Removes an older report's files (all [`check`] let through), and the folders they
/// leave empty.
pub fn clear(out: &Path) -> Result<(), ReportError> {
    if !out.is_dir() {
        return Ok(());
    }
    for f in files(out)?.into_iter().filter(|f| written_by_a_report(f)) {
        let path = out.join(f);
        std::fs::remove_file(&path).map_err(|e| ReportError::io(&path, e))?;
    }
    for dir in ["charts", PANEL_DIR] {
        let _ = std::fs::remove_dir(out.join(dir));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reports_own_files_are_told_from_others() {
        for f in [
            "summary.md",
            "report.html",
            "charts/hold_p99_us_by_chunk.png",
            "panel/sweep.toml",
            "shard.json",
        ] {
            assert!(written_by_a_report(Path::new(f)), "{f}");
        }
        for f in [
            "notes.txt",
            "charts/x.txt",
            "panel/summary.md",
            "charts/report.html",
            "a/results.csv",
        ] {
            assert!(!written_by_a_report(Path::new(f)), "{f}");
        }
    }
}
