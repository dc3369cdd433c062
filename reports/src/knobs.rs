//! The pick in real knobs: for a configuration cowlab recommends (a policy, a segment, a
//! chunk, a speed), what to set in each real system that works that way, and where the real
//! system cannot say it exactly.
//!
//! The correspondences (the README's policy table and its QEMU section say the same):
//!
//! - `out-of-turn` is QEMU's backup job (the copy-before-write filter it adds copies a
//!   written cluster to the target before the write goes on, and the job skips it) and
//!   Linux dm-clone (a write to a region not yet copied waits while that region is copied,
//!   and the background copy skips it). dm-clone differs in where the writes go: to the
//!   destination, the source staying read-only, so the destination ends as the live volume,
//!   not a point-in-time image; that is said as a caveat.
//! - `snapshot-redirect` is QEMU fleecing (a copy-before-write filter preserving into a
//!   temporary image, read through `snapshot-access`) and an LVM snapshot read while
//!   copying (dm-snapshot preserves a chunk on its first write; the copier reads the
//!   snapshot device, preserved chunks coming from its store).
//! - `snapshot-overlay`, `out-of-turn-cache` and `next-range`: no real system does them as
//!   such; the nearest one is named with that caveat.
//! - `offline`: stop the writers, copy, resume; no copy-on-write.
//!
//! Each limit below is a named constant saying where it comes from; the rules are data
//! ([`SizeRule`]) checked by one function, so a test can move a limit by one step.

use crate::chart::format_bytes;

/// One real system's way to run a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealKnob {
    /// The real system, e.g. "QEMU backup job".
    pub system: &'static str,
    /// What to set there, in that system's own option names.
    pub settings: String,
    /// Where the real system cannot express the configuration exactly (out of its range,
    /// not a power of two, not settable, or it does not work that way), and what it does
    /// instead; `None` when it can.
    pub caveat: Option<String>,
}

/// A sector, the unit of device-mapper table sizes.
pub const SECTOR: u64 = 512;

/// QEMU's block-copy (the backup job and the copy-before-write filter) never uses a cluster
/// below 64 KiB: its cluster is the largest of 64 KiB, the target image's cluster and the
/// `min-cluster-size` option (block/block-copy.c, its default cluster size).
pub const QEMU_MIN_CLUSTER: u64 = 64 << 10;
/// QEMU's block-copy cluster is the granularity of a dirty bitmap, which is a 32-bit power
/// of two: at most 2 GiB.
pub const QEMU_MAX_CLUSTER: u64 = 2 << 30;
/// The qcow2 format accepts cluster sizes of 512 B to 2 MiB (QEMU's qcow2 driver: 9 to 21
/// cluster bits); a qcow2 target made with `cluster_size` sets the block-copy cluster.
pub const QCOW2_MIN_CLUSTER: u64 = 512;
/// See [`QCOW2_MIN_CLUSTER`].
pub const QCOW2_MAX_CLUSTER: u64 = 2 << 20;
/// Without copy offload, block-copy reads and writes at most the larger of the cluster and
/// 1 MiB per request, whatever `x-perf.max-chunk` allows (its largest buffer).
pub const QEMU_MAX_BUFFERED_REQUEST: u64 = 1 << 20;
/// With `x-perf.use-copy-range` and devices that offload the copy, block-copy's requests
/// grow to the larger of the cluster and 16 MiB (its largest copy-range request).
pub const QEMU_MAX_OFFLOADED_REQUEST: u64 = 16 << 20;
/// QEMU's default number of concurrent block-copy requests (`x-perf.max-workers`).
pub const QEMU_DEFAULT_WORKERS: u32 = 64;
/// The QEMU release that first takes `min-cluster-size` (the filter's option and the
/// backup job's `x-perf.min-cluster-size`), per its QAPI schema.
pub const QEMU_MIN_CLUSTER_SIZE_SINCE: &str = "9.1";
/// dm-clone's region is 8 to 2,097,152 sectors, a power of two (its table's region size
/// argument): 4 KiB to 1 GiB.
pub const DM_CLONE_MIN_REGION: u64 = 8 * SECTOR;
/// See [`DM_CLONE_MIN_REGION`].
pub const DM_CLONE_MAX_REGION: u64 = 2_097_152 * SECTOR;
/// An LVM (dm-snapshot) snapshot's chunk is a power of two from 4 KiB to 512 KiB
/// (`lvcreate --chunksize`, lvcreate(8)); its default is 4 KiB.
pub const LVM_SNAPSHOT_MIN_CHUNK: u64 = 4 << 10;
/// See [`LVM_SNAPSHOT_MIN_CHUNK`].
pub const LVM_SNAPSHOT_MAX_CHUNK: u64 = 512 << 10;

/// A size a real system accepts: a range, and maybe the rule of a power of two.
#[derive(Clone, Copy, Debug)]
pub struct SizeRule {
    /// What the size is, in the real system's words.
    pub what: &'static str,
    pub min: u64,
    pub max: u64,
    pub power_of_two: bool,
}

/// QEMU's block-copy cluster (the chunk of `out-of-turn` and `snapshot-redirect` there).
pub const QEMU_CLUSTER: SizeRule = SizeRule {
    what: "QEMU's block-copy cluster",
    min: QEMU_MIN_CLUSTER,
    max: QEMU_MAX_CLUSTER,
    power_of_two: true,
};
/// A qcow2 image's cluster.
pub const QCOW2_CLUSTER: SizeRule = SizeRule {
    what: "a qcow2 cluster",
    min: QCOW2_MIN_CLUSTER,
    max: QCOW2_MAX_CLUSTER,
    power_of_two: true,
};
/// dm-clone's region.
pub const DM_CLONE_REGION: SizeRule = SizeRule {
    what: "dm-clone's region",
    min: DM_CLONE_MIN_REGION,
    max: DM_CLONE_MAX_REGION,
    power_of_two: true,
};
/// An LVM snapshot's chunk.
pub const LVM_SNAPSHOT_CHUNK: SizeRule = SizeRule {
    what: "an LVM snapshot's chunk",
    min: LVM_SNAPSHOT_MIN_CHUNK,
    max: LVM_SNAPSHOT_MAX_CHUNK,
    power_of_two: true,
};

impl SizeRule {
    /// Whether `size` is one the system accepts.
    pub fn accepts(&self, size: u64) -> bool {
        (self.min..=self.max).contains(&size) && (!self.power_of_two || size.is_power_of_two())
    }

    /// The accepted size nearest to `size`: clamped to the range, and a power of two
    /// rounded up (down at the top of the range).
    pub fn nearest(&self, size: u64) -> u64 {
        let clamped = size.clamp(self.min, self.max);
        match self.power_of_two && !clamped.is_power_of_two() {
            false => clamped,
            true => match clamped.checked_next_power_of_two() {
                Some(up) if up <= self.max => up,
                _ => 1 << (63 - clamped.leading_zeros()),
            },
        }
    }

    /// Why `size` is refused and what the system would use instead, or `None`.
    pub fn caveat(&self, size: u64) -> Option<String> {
        if self.accepts(size) {
            return None;
        }
        let range = format!(
            "{}{} from {} to {}",
            self.what,
            match self.power_of_two {
                true => " is a power of two",
                false => " is",
            },
            format_bytes(self.min),
            format_bytes(self.max)
        );
        let why = match (size < self.min, size > self.max) {
            (true, _) => "below that",
            (_, true) => "above that",
            _ => "not a power of two",
        };
        Some(format!(
            "{range}: {} is {why}; the nearest it takes is {}",
            format_bytes(size),
            format_bytes(self.nearest(size))
        ))
    }
}

/// The real systems' knobs for a configuration: `policy` (a built-in policy's name),
/// `segment` and `chunk` in bytes, the volume's `block_size`, and the copier's `speed` in
/// bytes per second (`None`: unlimited). An unknown policy gives an empty list.
pub fn real_knobs(
    policy: &str,
    segment: u64,
    chunk: u64,
    block_size: u64,
    speed: Option<u64>,
) -> Vec<RealKnob> {
    real_knobs_with_workers(policy, segment, chunk, block_size, speed, 1)
}

/// [`real_knobs`] for a configuration of `workers` copy workers: QEMU's block-copy sets
/// them as `x-perf.max-workers`; the other systems' settings are for one copier, and say so
/// in a caveat when `workers` is more than 1.
pub fn real_knobs_with_workers(
    policy: &str,
    segment: u64,
    chunk: u64,
    block_size: u64,
    speed: Option<u64>,
    workers: u32,
) -> Vec<RealKnob> {
    let c = Config {
        segment,
        chunk,
        block_size,
        speed,
        workers,
    };
    let mut knobs = match policy {
        "out-of-turn" => vec![qemu_backup(&c), dm_clone(&c)],
        "snapshot-redirect" => vec![qemu_fleecing(&c, None), lvm_snapshot_read(&c)],
        "snapshot-overlay" => vec![lvm_snapshot_overlay(&c, OVERLAY_CAVEAT)],
        "next-range" => vec![lvm_snapshot_overlay(&c, NEXT_RANGE_CAVEAT)],
        "out-of-turn-cache" => vec![qemu_fleecing(&c, Some(CACHE_CAVEAT))],
        "offline" => vec![offline_dd(&c), offline_qemu_img(&c)],
        _ => Vec::new(),
    };
    if workers > 1 {
        // QEMU's block-copy jobs set them; every other translation is for one copier.
        let sets_workers = |k: &RealKnob| k.settings.contains("x-perf.max-workers");
        for k in knobs.iter_mut().filter(|k| !sets_workers(k)) {
            let one = format!(
                "cowlab ran {workers} copy workers; these settings are for one copier, and \
                 this translation sets no count of parallel copies"
            );
            k.caveat = Some(match k.caveat.take() {
                Some(w) => format!("{w}; {one}"),
                None => one,
            });
        }
    }
    knobs
}

/// The configuration being translated.
struct Config {
    segment: u64,
    chunk: u64,
    block_size: u64,
    speed: Option<u64>,
    /// Copy workers: QEMU's `x-perf.max-workers`.
    workers: u32,
}

const OVERLAY_CAVEAT: &str = "no real system copies this way as such: dm-snapshot preserves a \
     chunk on its first write as here, but copying the live origin and then copying the \
     snapshot's preserved chunks over the destination is a procedure of one's own (the \
     snapshot's list of preserved chunks is its on-disk store, not an interface)";
const NEXT_RANGE_CAVEAT: &str = "no real system preserves the next chunk ahead of a write: \
     dm-snapshot preserves only the chunk written (the nearest is a chunk twice as large, \
     which preserves the neighbour in the same copy but aligned, not the next one), and \
     the overlay pass at the end is a procedure of one's own";
const CACHE_CAVEAT: &str = "no real system implements it as such: QEMU fleecing preserves a \
     written cluster into a temporary image as here, but its copier reads that cluster in \
     its turn (snapshot-redirect) instead of moving it to the destination ahead of it";

/// `bytes` with a binary suffix as command-line tools take it (`64K`, `1M`), or in bytes.
fn suffixed(bytes: u64, lower: bool) -> String {
    let (n, s) = match bytes {
        0 => (0, ""),
        b if b % (1 << 30) == 0 => (b >> 30, "G"),
        b if b % (1 << 20) == 0 => (b >> 20, "M"),
        b if b % (1 << 10) == 0 => (b >> 10, "K"),
        b => (b, ""),
    };
    match lower {
        true => format!("{n}{}", s.to_lowercase()),
        false => format!("{n}{s}"),
    }
}

/// A size as QEMU's JSON takes it, in bytes, with its reading.
fn bytes(size: u64) -> String {
    format!("{size} ({})", format_bytes(size))
}

/// The caveats that apply, as one sentence list, or `None`.
fn joined(caveats: Vec<String>) -> Option<String> {
    match caveats.is_empty() {
        true => None,
        false => Some(caveats.join("; ")),
    }
}

/// The block-copy cluster QEMU would use for `chunk`, how to set it (`set` names the
/// options, given the size in bytes), and the caveats of the cluster and of the segment
/// (`x-perf.max-chunk`).
fn qemu_cluster_and_chunk(c: &Config, set: &dyn Fn(&str) -> String) -> (String, Vec<String>) {
    let mut caveats = Vec::new();
    caveats.extend(QEMU_CLUSTER.caveat(c.chunk));
    let cluster = QEMU_CLUSTER.nearest(c.chunk);
    let how = match cluster {
        QEMU_MIN_CLUSTER => format!(
            "cluster {}: QEMU's default (a raw target, or qcow2 with its default clusters), \
             nothing to set",
            format_bytes(cluster)
        ),
        _ if QCOW2_CLUSTER.accepts(cluster) => format!(
            "cluster {}: {} (QEMU {QEMU_MIN_CLUSTER_SIZE_SINCE} and later), or a qcow2 \
             target made with `qemu-img create -f qcow2 -o cluster_size={}`",
            format_bytes(cluster),
            set(&bytes(cluster)),
            suffixed(cluster, false)
        ),
        _ => format!(
            "cluster {}: {} (QEMU {QEMU_MIN_CLUSTER_SIZE_SINCE} and later; {} is above a \
             qcow2 cluster's {})",
            format_bytes(cluster),
            set(&bytes(cluster)),
            format_bytes(cluster),
            format_bytes(QCOW2_MAX_CLUSTER)
        ),
    };
    let request = cluster.max(QEMU_MAX_BUFFERED_REQUEST);
    let offloaded = cluster.max(QEMU_MAX_OFFLOADED_REQUEST);
    if c.segment < cluster {
        caveats.push(format!(
            "QEMU refuses an x-perf.max-chunk below the cluster: the segment becomes {}",
            format_bytes(cluster)
        ));
    } else if c.segment > offloaded {
        caveats.push(format!(
            "QEMU's block-copy never asks for more than {} at once (with \
             x-perf.use-copy-range=true and copy offload; {} without): a {} segment is \
             copied in requests of at most that",
            format_bytes(offloaded),
            format_bytes(request),
            format_bytes(c.segment)
        ));
    } else if c.segment > request {
        caveats.push(format!(
            "without copy offload QEMU's block-copy asks for at most {} at once, whatever \
             x-perf.max-chunk says: a {} segment needs x-perf.use-copy-range=true and \
             devices that offload the copy",
            format_bytes(request),
            format_bytes(c.segment)
        ));
    }
    let segment = c.segment.max(cluster);
    let workers = match c.workers {
        1 => format!(
            "x-perf.max-workers=1 (one copy request in flight, as cowlab's copier; QEMU's \
             default is {QEMU_DEFAULT_WORKERS})"
        ),
        n => format!(
            "x-perf.max-workers={n} ({n} copy requests in flight, as cowlab's {n} workers; \
             QEMU's default is {QEMU_DEFAULT_WORKERS})"
        ),
    };
    let mut settings = format!("{how}; x-perf.max-chunk={}; {workers}", bytes(segment));
    match c.speed {
        Some(s) => {
            settings += &format!("; speed={s} ({}/s)", format_bytes(s));
            caveats.push(
                "QEMU counts the copies made for writes against the job's speed too; cowlab \
                 paces only the copier's own reads"
                    .into(),
            );
        }
        None => settings += "; no speed (unlimited)",
    }
    (settings, caveats)
}

fn qemu_backup(c: &Config) -> RealKnob {
    let (settings, caveats) =
        qemu_cluster_and_chunk(c, &|size| format!("x-perf.min-cluster-size={size}"));
    RealKnob {
        system: "QEMU backup job (copy-before-write)",
        settings: format!("blockdev-backup sync=full from the source: {settings}"),
        caveat: joined(caveats),
    }
}

fn qemu_fleecing(c: &Config, extra: Option<&str>) -> RealKnob {
    let (settings, mut caveats) = qemu_cluster_and_chunk(c, &|size| {
        format!(
            "min-cluster-size={size} on the copy-before-write filter and \
             x-perf.min-cluster-size={size} on the job"
        )
    });
    if let Some(extra) = extra {
        caveats.insert(0, extra.to_string());
    }
    RealKnob {
        system: "QEMU fleecing (copy-before-write filter and snapshot-access)",
        settings: format!(
            "a copy-before-write filter over the source preserving into a temporary image, a \
             snapshot-access node over the filter, and blockdev-backup sync=full from that \
             node to the destination: {settings}"
        ),
        caveat: joined(caveats),
    }
}

fn dm_clone(c: &Config) -> RealKnob {
    let mut caveats = vec![
        "dm-clone sends the writes to the destination and keeps the source read-only, so \
         the destination ends as the live volume, not a point-in-time image; it also pauses \
         the background copy while application I/O is in flight, and a write covering a \
         whole region skips that region's copy"
            .to_string(),
    ];
    caveats.extend(DM_CLONE_REGION.caveat(c.chunk));
    let region = DM_CLONE_REGION.nearest(c.chunk);
    if c.block_size > 0 && !region.is_multiple_of(c.block_size) {
        caveats.push(format!(
            "dm-clone's region is a whole number of the devices' logical blocks: {} is not \
             one of {}",
            format_bytes(region),
            format_bytes(c.block_size)
        ));
    }
    let batch = (c.segment / region).max(1);
    if !c.segment.is_multiple_of(region) || c.segment < region {
        caveats.push(format!(
            "dm-clone copies whole regions: the segment becomes {} regions of {} ({})",
            batch,
            format_bytes(region),
            format_bytes(batch * region)
        ));
    }
    if let Some(s) = c.speed {
        caveats.push(format!(
            "dm-clone has no bytes-per-second limit for {}/s: the nearest is the dm_clone \
             module's clone_hydration_throttle parameter, a percentage of time",
            format_bytes(s)
        ));
    }
    RealKnob {
        system: "Linux dm-clone",
        settings: format!(
            "table `clone <metadata dev> <destination dev> <source dev> {} 0 4 \
             hydration_threshold {batch} hydration_batch_size {batch}`: region {} sectors \
             ({}), background copies in batches of {batch} regions ({}), and a threshold of \
             {batch} regions in flight so that a whole batch may start",
            region / SECTOR,
            region / SECTOR,
            format_bytes(region),
            format_bytes(batch * region)
        ),
        caveat: joined(caveats),
    }
}

/// `dd` copying in segment-sized requests, and the caveat of a speed it cannot keep.
fn dd(c: &Config, from: &str) -> (String, Option<String>) {
    let command = format!(
        "dd if={from} of=<destination> bs={} iflag=direct oflag=direct",
        suffixed(c.segment, false)
    );
    let caveat = c.speed.map(|s| {
        format!(
            "dd has no speed limit for {}/s: the nearest is a cgroup v2 io.max rbps limit on \
             the copier",
            format_bytes(s)
        )
    });
    (command, caveat)
}

fn lvm_snapshot_read(c: &Config) -> RealKnob {
    let mut caveats = Vec::new();
    caveats.extend(LVM_SNAPSHOT_CHUNK.caveat(c.chunk));
    let chunk = LVM_SNAPSHOT_CHUNK.nearest(c.chunk);
    let (copy, speed) = dd(c, "/dev/<vg>/snap");
    caveats.extend(speed);
    RealKnob {
        system: "LVM snapshot read while copying",
        settings: format!(
            "`lvcreate --snapshot --chunksize {} --size <room for the writes> --name snap \
             <vg>/<lv>`, then `{copy}` (the copier reads the snapshot in {} requests), then \
             `lvremove <vg>/snap`",
            suffixed(chunk, true),
            format_bytes(c.segment)
        ),
        caveat: joined(caveats),
    }
}

fn lvm_snapshot_overlay(c: &Config, how: &str) -> RealKnob {
    let mut caveats = vec![how.to_string()];
    caveats.extend(LVM_SNAPSHOT_CHUNK.caveat(c.chunk));
    let chunk = LVM_SNAPSHOT_CHUNK.nearest(c.chunk);
    let (copy, speed) = dd(c, "/dev/<vg>/<lv>");
    caveats.extend(speed);
    RealKnob {
        system: "LVM snapshot (nearest)",
        settings: format!(
            "`lvcreate --snapshot --chunksize {} --size <room for the writes> --name snap \
             <vg>/<lv>`, then `{copy}` from the live volume, then copy each chunk the \
             snapshot preserved from /dev/<vg>/snap over the destination",
            suffixed(chunk, true)
        ),
        caveat: joined(caveats),
    }
}

fn offline_dd(c: &Config) -> RealKnob {
    let (copy, speed) = dd(c, "<source>");
    RealKnob {
        system: "writers stopped, then dd",
        settings: format!(
            "stop the writers (QEMU: the QMP command `stop`; a file system: unmount it or \
             `fsfreeze --freeze`), `{copy}`, then resume them (`cont`, mount, or \
             `fsfreeze --unfreeze`); no copy-on-write, so the chunk sets nothing"
        ),
        caveat: speed,
    }
}

fn offline_qemu_img(c: &Config) -> RealKnob {
    RealKnob {
        system: "QEMU stopped, then qemu-img convert",
        settings: "stop the guest (the QMP command `stop`), `qemu-img convert -p -O raw \
                   <source> <destination>`, then `cont`"
            .to_string(),
        caveat: Some(format!(
            "qemu-img convert chooses its own request size (up to 2 MiB): the {} segment is \
             not a setting there; use dd for it",
            format_bytes(c.segment)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;

    fn knob<'a>(knobs: &'a [RealKnob], system: &str) -> &'a RealKnob {
        knobs
            .iter()
            .find(|k| k.system.starts_with(system))
            .unwrap_or_else(|| panic!("no {system} in {knobs:#?}"))
    }

    fn caveat(k: &RealKnob) -> &str {
        k.caveat.as_deref().unwrap_or("")
    }

    /// Each rule's range ends: the limit itself is taken, one power of two past it is not
    /// (and the caveat names the nearest size taken: the limit).
    #[test]
    fn each_size_rule_takes_its_limits_and_refuses_one_step_past_them() {
        for rule in [
            QEMU_CLUSTER,
            QCOW2_CLUSTER,
            DM_CLONE_REGION,
            LVM_SNAPSHOT_CHUNK,
        ] {
            assert!(rule.accepts(rule.min), "{} {}", rule.what, rule.min);
            assert!(rule.accepts(rule.max), "{} {}", rule.what, rule.max);
            assert!(rule.caveat(rule.max).is_none(), "{}", rule.what);
            for (past, limit) in [(rule.min / 2, rule.min), (rule.max * 2, rule.max)] {
                assert!(!rule.accepts(past), "{} {past}", rule.what);
                let why = rule.caveat(past).unwrap();
                assert!(
                    why.ends_with(&format!("the nearest it takes is {}", format_bytes(limit))),
                    "{why}"
                );
            }
            let odd = rule.min * 3;
            assert!(!rule.accepts(odd), "{} {odd}", rule.what);
            assert!(rule.caveat(odd).unwrap().contains("not a power of two"));
            assert_eq!(rule.nearest(odd), rule.min * 4, "{}", rule.what);
        }
    }

    /// The limits as the sources state them.
    #[test]
    fn the_limits_are_the_sources() {
        assert_eq!(QEMU_MIN_CLUSTER, 65_536);
        assert_eq!(QEMU_MAX_CLUSTER, 1 << 31);
        assert_eq!((QCOW2_MIN_CLUSTER, QCOW2_MAX_CLUSTER), (1 << 9, 1 << 21));
        assert_eq!(
            (DM_CLONE_MIN_REGION / SECTOR, DM_CLONE_MAX_REGION / SECTOR),
            (8, 1 << 21)
        );
        assert_eq!(
            (LVM_SNAPSHOT_MIN_CHUNK, LVM_SNAPSHOT_MAX_CHUNK),
            (4096, 524_288)
        );
    }

    /// The qemu-backup preset's configuration: out-of-turn, 64 KiB chunks, 1 MiB segments.
    #[test]
    fn the_qemu_backup_preset_is_cluster_64_kib_and_max_chunk_1_mib() {
        let knobs = real_knobs("out-of-turn", MIB, 64 * KIB, 4 * KIB, None);
        let qemu = knob(&knobs, "QEMU backup");
        assert!(
            qemu.settings.contains("cluster 64 KiB"),
            "{}",
            qemu.settings
        );
        assert!(
            qemu.settings.contains("x-perf.max-chunk=1048576 (1 MiB)"),
            "{}",
            qemu.settings
        );
        assert!(
            qemu.settings.contains("nothing to set"),
            "{}",
            qemu.settings
        );
        assert_eq!(qemu.caveat, None);
        let clone = knob(&knobs, "Linux dm-clone");
        assert!(
            clone
                .settings
                .contains("128 0 4 hydration_threshold 16 hydration_batch_size 16"),
            "{}",
            clone.settings
        );
        assert!(caveat(clone).contains("live volume"), "{:?}", clone.caveat);
        assert!(!caveat(clone).contains("region is a power of two"));
    }

    #[test]
    fn a_qemu_chunk_past_its_range_gets_the_caveat_and_the_largest_does_not() {
        let below = real_knobs("out-of-turn", MIB, QEMU_MIN_CLUSTER / 2, 4 * KIB, None);
        let q = knob(&below, "QEMU backup");
        assert!(caveat(q).contains("below that"), "{:?}", q.caveat);
        assert!(q.settings.contains("cluster 64 KiB"), "{}", q.settings);
        let top = real_knobs("out-of-turn", 4 << 30, QEMU_MAX_CLUSTER, 4 * KIB, None);
        assert!(!caveat(knob(&top, "QEMU backup")).contains("cluster is a power of two"));
        let past = real_knobs("out-of-turn", 8 << 30, QEMU_MAX_CLUSTER * 2, 4 * KIB, None);
        assert!(caveat(knob(&past, "QEMU backup")).contains("above that"));
    }

    #[test]
    fn a_chunk_past_a_qcow2_cluster_is_set_by_min_cluster_size_only() {
        let at = real_knobs("out-of-turn", 4 * MIB, QCOW2_MAX_CLUSTER, 4 * KIB, None);
        assert!(knob(&at, "QEMU backup")
            .settings
            .contains("cluster_size=2M"));
        let past = real_knobs("out-of-turn", 4 * MIB, QCOW2_MAX_CLUSTER * 2, 4 * KIB, None);
        let s = &knob(&past, "QEMU backup").settings;
        assert!(
            !s.contains("cluster_size=") && s.contains("above a qcow2 cluster"),
            "{s}"
        );
        assert!(s.contains("x-perf.min-cluster-size=4194304 (4 MiB)"), "{s}");
    }

    #[test]
    fn a_segment_past_qemus_request_sizes_gets_the_caveat() {
        let at = real_knobs(
            "out-of-turn",
            QEMU_MAX_BUFFERED_REQUEST,
            64 * KIB,
            4 * KIB,
            None,
        );
        assert_eq!(knob(&at, "QEMU backup").caveat, None);
        let past = real_knobs("out-of-turn", 2 * MIB, 64 * KIB, 4 * KIB, None);
        assert!(caveat(knob(&past, "QEMU backup")).contains("x-perf.use-copy-range=true"));
        let at = real_knobs(
            "out-of-turn",
            QEMU_MAX_OFFLOADED_REQUEST,
            64 * KIB,
            4 * KIB,
            None,
        );
        assert!(!caveat(knob(&at, "QEMU backup")).contains("never asks for more"));
        let past = real_knobs("out-of-turn", 32 * MIB, 64 * KIB, 4 * KIB, None);
        assert!(caveat(knob(&past, "QEMU backup")).contains("never asks for more than 16 MiB"));
        // A cluster larger than the request caps raises them.
        let big = real_knobs("out-of-turn", 32 * MIB, 32 * MIB, 4 * KIB, None);
        assert_eq!(knob(&big, "QEMU backup").caveat, None);
        let fleecing = real_knobs("snapshot-redirect", 2 * MIB, 256 * KIB, 4 * KIB, None);
        let s = &knob(&fleecing, "QEMU fleecing").settings;
        assert!(
            s.contains("min-cluster-size=262144 (256 KiB) on the copy-before-write filter"),
            "{s}"
        );
    }

    #[test]
    fn a_dm_clone_region_past_its_range_gets_the_caveat_and_the_largest_does_not() {
        let at = real_knobs("out-of-turn", 1 << 30, DM_CLONE_MAX_REGION, 4 * KIB, None);
        let past = real_knobs(
            "out-of-turn",
            2 << 30,
            DM_CLONE_MAX_REGION * 2,
            4 * KIB,
            None,
        );
        assert!(!caveat(knob(&at, "Linux dm-clone")).contains("region is a power of two"));
        assert!(caveat(knob(&past, "Linux dm-clone")).contains("region is a power of two"));
        let small = real_knobs("out-of-turn", MIB, DM_CLONE_MIN_REGION / 2, 512, None);
        assert!(caveat(knob(&small, "Linux dm-clone")).contains("below that"));
        let sectors = real_knobs("out-of-turn", MIB, DM_CLONE_MIN_REGION, 4 * KIB, None);
        assert!(knob(&sectors, "Linux dm-clone")
            .settings
            .contains(" 8 0 4 "));
    }

    #[test]
    fn an_lvm_chunk_past_its_range_gets_the_caveat_and_the_largest_does_not() {
        let at = real_knobs(
            "snapshot-redirect",
            MIB,
            LVM_SNAPSHOT_MAX_CHUNK,
            4 * KIB,
            None,
        );
        let lvm = knob(&at, "LVM snapshot");
        assert_eq!(lvm.caveat, None);
        assert!(
            lvm.settings.contains("--chunksize 512k"),
            "{}",
            lvm.settings
        );
        assert!(lvm.settings.contains("bs=1M"), "{}", lvm.settings);
        let past = real_knobs(
            "snapshot-redirect",
            2 * MIB,
            LVM_SNAPSHOT_MAX_CHUNK * 2,
            4 * KIB,
            None,
        );
        let lvm = knob(&past, "LVM snapshot");
        assert!(caveat(lvm).contains("above that"), "{:?}", lvm.caveat);
        assert!(
            lvm.settings.contains("--chunksize 512k"),
            "{}",
            lvm.settings
        );
    }

    #[test]
    fn a_speed_is_set_where_it_can_be_and_a_caveat_where_it_cannot() {
        let knobs = real_knobs("out-of-turn", MIB, 64 * KIB, 4 * KIB, Some(16 * MIB));
        let qemu = knob(&knobs, "QEMU backup");
        assert!(
            qemu.settings.contains("speed=16777216 (16 MiB/s)"),
            "{}",
            qemu.settings
        );
        assert!(caveat(knob(&knobs, "Linux dm-clone")).contains("clone_hydration_throttle"));
        let none = real_knobs("out-of-turn", MIB, 64 * KIB, 4 * KIB, None);
        assert!(!caveat(knob(&none, "Linux dm-clone")).contains("throttle"));
        let offline = real_knobs("offline", MIB, 64 * KIB, 4 * KIB, Some(MIB));
        assert!(caveat(knob(&offline, "writers stopped")).contains("io.max"));
    }

    #[test]
    fn every_built_in_policy_has_real_knobs_and_an_unknown_one_none() {
        for name in cowlab_model::policy::names() {
            let knobs = real_knobs(name, MIB, 64 * KIB, 4 * KIB, None);
            assert!(!knobs.is_empty(), "{name}");
        }
        for name in ["snapshot-overlay", "next-range", "out-of-turn-cache"] {
            let knobs = real_knobs(name, MIB, 64 * KIB, 4 * KIB, None);
            assert!(
                knobs
                    .iter()
                    .all(|k| caveat(k).starts_with("no real system")),
                "{name}: {knobs:#?}"
            );
        }
        assert!(real_knobs("my-own", MIB, 64 * KIB, 4 * KIB, None).is_empty());
    }

    #[test]
    fn sizes_are_written_as_the_tools_take_them() {
        assert_eq!(suffixed(64 * KIB, false), "64K");
        assert_eq!(suffixed(MIB, false), "1M");
        assert_eq!(suffixed(3 << 30, true), "3g");
        assert_eq!(suffixed(1536, false), "1536");
        assert_eq!(suffixed(1536 * KIB, false), "1536K");
    }
}
