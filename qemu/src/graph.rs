//! The block graph of each copy as data: the QMP commands that build it, in order, and the
//! blkdebug rules that inject the planned errors. Nothing here talks to QEMU, so what a
//! configuration asks of QEMU can be read (and tested) without running it.
//!
//! ```text
//! backup:    guest ─NBD─▶ [copy-before-write, added by the job] ─▶ source
//!                                  └─ copies a cluster out of turn ─▶ destination ◀─ job
//! fleecing:  guest ─NBD─▶ [copy-before-write] ─▶ source
//!                             └─ preserves a cluster ─▶ snapshot
//!            image reads ─NBD─▶ [snapshot-access] ─▶ job ─▶ destination
//! ```

use crate::config::{Copy, Injection, Rule, Setup, Target, MIN_CLUSTER};
use serde_json::{json, Value};
use std::path::Path;

/// Names of the nodes, exports and the job.
pub const SOURCE: &str = "source";
pub const DESTINATION: &str = "destination";
pub const SNAPSHOT: &str = "snapshot";
pub const FILTER: &str = "cbw";
pub const IMAGE: &str = "image";
pub const JOB: &str = "copy";
/// The export the guest writes and reads the volume through.
pub const VOLUME_EXPORT: &str = "volume";
/// The export of the point-in-time image (fleecing).
pub const IMAGE_EXPORT: &str = "image";

/// The image file of each role, inside the run's directory.
pub fn image_file(role: &str) -> String {
    format!("{role}.img")
}

/// One QMP command.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    pub execute: &'static str,
    pub arguments: Value,
}

fn cmd(execute: &'static str, arguments: Value) -> Command {
    Command { execute, arguments }
}

/// A raw node over its file, with blkdebug between them when errors are injected there.
fn raw_node(name: &str, dir: &Path, rules: &[&Rule], cluster: u64) -> Command {
    let file = json!({"driver": "file", "filename": dir.join(image_file(name))});
    let file = match rules.is_empty() {
        true => file,
        false => {
            let mut d = json!({
                "driver": "blkdebug", "image": file,
                "inject-error": inject_errors(rules, cluster),
            });
            // blkdebug refuses an empty list.
            let states = set_states(rules);
            if states.as_array().is_some_and(|s| !s.is_empty()) {
                d["set-state"] = states;
            }
            d
        }
    };
    cmd(
        "blockdev-add",
        json!({"driver": "raw", "node-name": name, "file": file}),
    )
}

/// blkdebug counts writes with its state: each `write_aio` event moves state k to k + 1
/// (states start at 1), so the rule of the n-th write is armed in state n.
fn set_states(rules: &[&Rule]) -> Value {
    let last = rules
        .iter()
        .filter_map(|r| match r {
            Rule::Nth(n) => Some(*n),
            Rule::Bytes { .. } => None,
        })
        .max()
        .unwrap_or(0);
    (1..last)
        .map(|k| json!({"event": "write_aio", "state": k, "new_state": k + 1}))
        .collect()
}

/// blkdebug fails an I/O that contains a rule's sector. Every write to these nodes is the
/// block-copy's, cluster-aligned, so a write that touches `start..end` contains `start` or
/// a cluster boundary inside the range: one rule each covers the range.
fn inject_errors(rules: &[&Rule], cluster: u64) -> Value {
    let mut out = Vec::new();
    for r in rules {
        match r {
            Rule::Nth(n) => out.push(json!({
                "event": "write_aio", "state": n, "iotype": "write", "errno": 5, "once": true,
            })),
            Rule::Bytes { start, end } => {
                let boundaries = (start / cluster + 1..)
                    .map(|c| c * cluster)
                    .take_while(|b| b < end);
                for byte in std::iter::once(*start).chain(boundaries) {
                    out.push(json!({
                        "event": "write_aio", "iotype": "write", "errno": 5,
                        "sector": byte / crate::stamp::SECTOR,
                    }));
                }
            }
        }
    }
    Value::Array(out)
}

fn rules_for(injections: &[Injection], target: Target) -> Vec<&Rule> {
    injections
        .iter()
        .filter(|i| i.target == target)
        .map(|i| &i.rule)
        .collect()
}

/// The commands that build the graph and export it, before the copy starts.
pub fn build(setup: &Setup, dir: &Path) -> Vec<Command> {
    let c = setup.cluster;
    let dest_rules = rules_for(&setup.injections, Target::Destination);
    let mut out = vec![raw_node(SOURCE, dir, &[], c)];
    if setup.copy != Copy::FileCopy {
        out.push(raw_node(DESTINATION, dir, &dest_rules, c));
    }
    let guest_node = match setup.copy {
        Copy::Fleecing => {
            let snap_rules = rules_for(&setup.injections, Target::Snapshot);
            out.push(raw_node(SNAPSHOT, dir, &snap_rules, c));
            let mut filter = json!({
                "driver": "copy-before-write", "node-name": FILTER,
                "file": SOURCE, "target": SNAPSHOT,
                "on-cbw-error": on_cbw_error(setup),
            });
            if c > MIN_CLUSTER {
                filter["min-cluster-size"] = json!(c);
            }
            if let Some(t) = setup.cbw_timeout_s {
                filter["cbw-timeout"] = json!(t);
            }
            out.push(cmd("blockdev-add", filter));
            out.push(cmd(
                "blockdev-add",
                // Without discard=unmap QEMU ignores the job's discards (discard-source)
                // on this node, and the filter goes on preserving what the job copied.
                json!({"driver": "snapshot-access", "node-name": IMAGE, "file": FILTER,
                       "discard": "unmap"}),
            ));
            FILTER
        }
        // The backup job puts its filter above the source, and the export with it.
        _ => SOURCE,
    };
    out.push(cmd(
        "nbd-server-start",
        json!({"addr": {"type": "unix", "data": {"path": dir.join("nbd.sock")}}}),
    ));
    out.push(cmd(
        "block-export-add",
        json!({"type": "nbd", "id": VOLUME_EXPORT, "node-name": guest_node,
               "name": VOLUME_EXPORT, "writable": true}),
    ));
    if setup.copy == Copy::Fleecing {
        out.push(cmd(
            "block-export-add",
            json!({"type": "nbd", "id": IMAGE_EXPORT, "node-name": IMAGE,
                   "name": IMAGE_EXPORT, "writable": false}),
        ));
    }
    out
}

fn on_cbw_error(setup: &Setup) -> &'static str {
    match setup.on_error {
        cowlab_model::fault::Break::GuestWrite => "break-guest-write",
        cowlab_model::fault::Break::Snapshot => "break-snapshot",
    }
}

/// The command that starts the copy: its begin time is when it returns. `None` for the
/// file copy, which QEMU does not run.
pub fn start(setup: &Setup) -> Option<Command> {
    let mut perf = json!({"max-chunk": setup.max_chunk});
    // Without the option QEMU uses 64 KiB, so a QEMU older than the option can run that.
    if setup.cluster > MIN_CLUSTER {
        perf["min-cluster-size"] = json!(setup.cluster);
    }
    if let Some(w) = setup.max_workers {
        perf["max-workers"] = json!(w);
    }
    let mut job = match setup.copy {
        // The filter's options, should blockdev-backup take them ([`needs`] checks first).
        Copy::Backup => {
            let mut j = json!({"device": SOURCE, "x-perf": perf});
            if setup.on_error == cowlab_model::fault::Break::Snapshot {
                j["on-cbw-error"] = json!("break-snapshot");
            }
            if let Some(t) = setup.cbw_timeout_s {
                j["cbw-timeout"] = json!(t);
            }
            j
        }
        // Discarding what the job has copied tells the filter those clusters need no more
        // preservation, as cowlab's snapshot-redirect (and Proxmox's fleecing) have it.
        Copy::Fleecing => json!({"device": IMAGE, "x-perf": perf, "discard-source": true}),
        Copy::Mirror => json!({"device": SOURCE}),
        Copy::FileCopy => return None,
    };
    job["job-id"] = json!(JOB);
    job["target"] = json!(DESTINATION);
    job["sync"] = json!("full");
    job["auto-dismiss"] = json!(false);
    if let Some(s) = setup.speed {
        job["speed"] = json!(s);
    }
    Some(cmd(
        match setup.copy {
            Copy::Mirror => "blockdev-mirror",
            _ => "blockdev-backup",
        },
        job,
    ))
}

/// Each option a command of this setup sends, as a path the schema must have, with the
/// flag that asked for it and a hint for a QEMU that lacks it: what the installed QEMU is
/// checked for before the run.
pub fn needs(setup: &Setup) -> Vec<(Need, &'static str, &'static str)> {
    use Need::*;
    let mut out = vec![(Command("block-export-add", &["type"]), "cowlab qemu", "")];
    let job = match setup.copy {
        Copy::Mirror => "blockdev-mirror",
        _ => "blockdev-backup",
    };
    if setup.copy == Copy::FileCopy {
        return out;
    }
    out.push((Command(job, &["sync"]), "cowlab qemu", ""));
    if setup.copy.is_point_in_time() {
        out.push((Command(job, &["x-perf", "max-chunk"]), "--segment-size", ""));
        if setup.cluster > MIN_CLUSTER {
            let hint = " (its cluster is 64 KiB: leave --cow-size at 64KiB)";
            out.push((
                Command(job, &["x-perf", "min-cluster-size"]),
                "--cow-size",
                hint,
            ));
        }
        if setup.max_workers.is_some() {
            out.push((Command(job, &["x-perf", "max-workers"]), "--workers", ""));
        }
    }
    if !setup.injections.is_empty() {
        out.push((
            Driver("blkdebug", &["inject-error", "iotype"]),
            "--fail",
            "",
        ));
    }
    let fleecing = " (fleecing needs QEMU 9.1 or newer)";
    let own_filter = " (the filter blockdev-backup adds takes no options; fleecing's filter \
                      does: --preset qemu-fleecing)";
    match setup.copy {
        Copy::Backup => {
            if setup.on_error == cowlab_model::fault::Break::Snapshot {
                out.push((Command(job, &["on-cbw-error"]), "--on-error", own_filter));
            }
            if setup.cbw_timeout_s.is_some() {
                out.push((Command(job, &["cbw-timeout"]), "--cbw-timeout", own_filter));
            }
        }
        Copy::Fleecing => {
            out.push((
                Command(job, &["discard-source"]),
                "--preset qemu-fleecing",
                fleecing,
            ));
            out.push((
                Driver("snapshot-access", &[]),
                "--preset qemu-fleecing",
                fleecing,
            ));
            out.push((
                Driver("copy-before-write", &["on-cbw-error"]),
                "--on-error",
                "",
            ));
            if setup.cluster > MIN_CLUSTER {
                out.push((
                    Driver("copy-before-write", &["min-cluster-size"]),
                    "--cow-size",
                    "",
                ));
            }
            if setup.cbw_timeout_s.is_some() {
                out.push((
                    Driver("copy-before-write", &["cbw-timeout"]),
                    "--cbw-timeout",
                    "",
                ));
            }
        }
        _ => {}
    }
    out
}

/// A path in QEMU's schema: a command's argument, or a `blockdev-add` driver's option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Command(&'static str, &'static [&'static str]),
    Driver(&'static str, &'static [&'static str]),
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Need::Command(c, []) => write!(f, "the command {c}"),
            Need::Command(c, path) => write!(f, "{c}'s {}", path.join(".")),
            Need::Driver(d, []) => write!(f, "the block driver {d}"),
            Need::Driver(d, path) => write!(f, "the {d} driver's {}", path.join(".")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(copy: Copy) -> Setup {
        Setup {
            copy,
            volume: 8 << 20,
            cluster: 256 << 10,
            max_chunk: 2 << 20,
            speed: Some(16_777_217),
            on_error: cowlab_model::fault::Break::Snapshot,
            max_workers: Some(3),
            cbw_timeout_s: Some(7),
            injections: Vec::new(),
            connections: 1,
            hold_bound_ns: 1,
        }
    }

    #[test]
    fn every_knob_reaches_qemu_as_given() {
        let backup = start(&setup(Copy::Backup)).expect("a job");
        assert_eq!(backup.execute, "blockdev-backup");
        let a = &backup.arguments;
        assert_eq!(a["speed"], 16_777_217);
        assert_eq!(a["x-perf"]["max-chunk"], 2 << 20);
        assert_eq!(a["x-perf"]["min-cluster-size"], 256 << 10);
        assert_eq!(a["x-perf"]["max-workers"], 3);
        assert_eq!(
            (a["device"].as_str(), a["sync"].as_str()),
            (Some(SOURCE), Some("full"))
        );
        let fleecing = start(&setup(Copy::Fleecing)).expect("a job");
        assert_eq!(fleecing.arguments["device"], IMAGE);
        assert_eq!(fleecing.arguments["discard-source"], true);
        let cmds = build(&setup(Copy::Fleecing), Path::new("/run"));
        let filter = cmds
            .iter()
            .find(|c| c.arguments["driver"] == "copy-before-write")
            .expect("a filter");
        assert_eq!(filter.arguments["on-cbw-error"], "break-snapshot");
        assert_eq!(filter.arguments["cbw-timeout"], 7);
        assert_eq!(filter.arguments["min-cluster-size"], 256 << 10);
        // At 64 KiB QEMU's own default is used, so older QEMUs can run it.
        let mut small = setup(Copy::Backup);
        small.cluster = MIN_CLUSTER;
        let job = start(&small).expect("a job");
        assert!(job.arguments["x-perf"].get("min-cluster-size").is_none());
        assert!(start(&setup(Copy::FileCopy)).is_none());
    }

    #[test]
    fn the_nth_write_is_armed_by_a_chain_of_states() {
        let rules = [&Rule::Nth(3)];
        let states = set_states(&rules);
        assert_eq!(states.as_array().map(Vec::len), Some(2));
        assert_eq!(
            states[1],
            json!({"event": "write_aio", "state": 2, "new_state": 3})
        );
        let inject = inject_errors(&rules, 65536);
        assert_eq!(inject[0]["state"], 3);
        assert_eq!(inject[0]["once"], true);
    }

    #[test]
    fn a_byte_range_is_covered_at_its_start_and_at_each_cluster_boundary_inside_it() {
        let c = 65536;
        let rules = [&Rule::Bytes {
            start: 4096,
            end: 2 * c + 1,
        }];
        let sectors: Vec<u64> = inject_errors(&rules, c)
            .as_array()
            .expect("a list")
            .iter()
            .map(|r| r["sector"].as_u64().expect("a sector"))
            .collect();
        assert_eq!(sectors, vec![8, 128, 256]);
        // A range inside one cluster needs one rule.
        let one = [&Rule::Bytes { start: 0, end: c }];
        assert_eq!(inject_errors(&one, c).as_array().map(Vec::len), Some(1));
    }
}
