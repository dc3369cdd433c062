//! Topologies as data: devices (disks and RAIDs), links, the device and links of each role
//! (source, destination, snapshot, cache), the control path, the presets, and the names
//! those are chosen by. It owns what a topology *is* and when it is valid; the TOML file
//! format is [`file`] (`sim/src/topology/file.rs`) and the timing of an I/O through a
//! topology is [`fabric`] (`sim/src/topology/fabric.rs`, whose top comment gives the model).
//!
//! A topology changes what an I/O costs and which resources it queues on, never what the
//! engine does.

pub mod fabric;
pub mod file;

pub use fabric::{Fabric, LinkStats, MemberCounts, MemberKind};

use crate::device::DeviceModel;
use crate::tomlfile::FileError;
use cowlab_model::names::{Named, UnknownName};
use cowlab_model::Device;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Devices, links, roles and the control path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub devices: BTreeMap<String, DeviceSpec>,
    pub links: BTreeMap<String, Link>,
    /// Indexed by `Device as usize`: source, destination, snapshot, cache.
    pub roles: [Role; 4],
    pub control: Control,
}

/// A disk with its queue, or a RAID of other devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceSpec {
    Disk {
        model: DeviceModel,
        queue_depth: u32,
    },
    Raid {
        level: RaidLevel,
        /// Bytes per unit; also raid1's (unused).
        stripe_unit: u64,
        /// Device names, in member order.
        members: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RaidLevel {
    Raid0,
    Raid1,
    Raid5,
}

impl Named for RaidLevel {
    const WHAT: &'static str = "RAID level";
    const ALL: &'static [RaidLevel] = &RaidLevel::ALL;
    fn name(self) -> &'static str {
        RaidLevel::name(self)
    }
}

impl RaidLevel {
    pub const ALL: [RaidLevel; 3] = [RaidLevel::Raid0, RaidLevel::Raid1, RaidLevel::Raid5];

    /// The level called `name` (`raid0`, `raid1`, `raid5`).
    pub fn parse(name: &str) -> Result<RaidLevel, UnknownName> {
        RaidLevel::from_name(name)
    }

    pub fn name(self) -> &'static str {
        match self {
            RaidLevel::Raid0 => "raid0",
            RaidLevel::Raid1 => "raid1",
            RaidLevel::Raid5 => "raid5",
        }
    }

    /// The fewest members a RAID of this level may have.
    pub fn min_members(self) -> usize {
        match self {
            RaidLevel::Raid5 => 3,
            _ => 2,
        }
    }
}

/// A link: each hop costs `latency_ns`; transfers hold it at `bandwidth` bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub latency_ns: u64,
    pub bandwidth: u64,
}

impl Link {
    /// `ceil(bytes × 10^9 / bandwidth)`, as a device transfers (`sim/src/device.rs`).
    pub fn transfer_ns(&self, bytes: u64) -> u64 {
        let pipe = DeviceModel {
            overhead_ns: 0,
            bandwidth: self.bandwidth,
            seek_ns: 0,
        };
        pipe.service_ns(bytes, true)
    }
}

/// The device playing a role, the links its I/O crosses (host side first), and where
/// the role's region starts on that device (bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub device: String,
    pub links: Vec<String>,
    pub offset: u64,
}

impl Role {
    pub fn on(device: &str) -> Role {
        Role {
            device: device.to_string(),
            links: Vec::new(),
            offset: 0,
        }
    }

    fn over(mut self, links: &[&str]) -> Role {
        self.links = links.iter().map(|l| l.to_string()).collect();
        self
    }
}

/// How commands travel, and their size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    pub path: ControlPath,
    pub command_bytes: u64,
}

impl Default for Control {
    /// In-band, 512 bytes.
    fn default() -> Self {
        Control {
            path: ControlPath::InBand,
            command_bytes: 512,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlPath {
    /// Over the source's links.
    InBand,
    /// Over a control link of its own.
    OutOfBand(Link),
}

/// The names of the presets ([`TopologyPreset`]), in their order.
pub const PRESETS: [&str; 5] = ["separate", "shared", "raid5-source", "san", "raid5-san"];

/// The links of the `san` presets: 10 µs and 1.25 GB/s each.
pub const SAN_LINK: Link = Link {
    latency_ns: 10_000,
    bandwidth: 1_250_000_000,
};

/// The roles' names, indexed by `Device as usize`.
pub const ROLE_NAMES: [&str; 4] = ["source", "destination", "snapshot", "cache"];

/// The roles, in the order of [`ROLE_NAMES`].
const ROLES: [Device; 4] = [
    Device::Source,
    Device::Destination,
    Device::Snapshot,
    Device::Cache,
];

/// The role called `name` (`source`, `destination`, `snapshot`, `cache`).
pub fn parse_role(name: &str) -> Result<Device, UnknownName> {
    match ROLE_NAMES.iter().position(|n| *n == name) {
        Some(i) => Ok(ROLES[i]),
        None => Err(UnknownName::new("role", name, ROLE_NAMES)),
    }
}

/// A topology built for the run's disks: its name is one of [`PRESETS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopologyPreset {
    /// [`Topology::separate`].
    Separate,
    /// [`Topology::shared`].
    Shared,
    /// [`Topology::raid5_source`].
    Raid5Source,
    /// [`Topology::san`].
    San,
    /// [`Topology::raid5_san`].
    Raid5San,
}

impl Named for TopologyPreset {
    const WHAT: &'static str = "topology preset";
    const ALL: &'static [TopologyPreset] = &TopologyPreset::ALL;
    fn name(self) -> &'static str {
        TopologyPreset::name(self)
    }
}

impl TopologyPreset {
    pub const ALL: [TopologyPreset; 5] = [
        TopologyPreset::Separate,
        TopologyPreset::Shared,
        TopologyPreset::Raid5Source,
        TopologyPreset::San,
        TopologyPreset::Raid5San,
    ];

    /// The preset called `name` (one of [`PRESETS`]).
    pub fn parse(name: &str) -> Result<TopologyPreset, UnknownName> {
        TopologyPreset::from_name(name)
    }

    pub fn name(self) -> &'static str {
        PRESETS[self as usize]
    }

    /// The preset for the run's disk model, queue depth and volume (the volume places the
    /// roles' regions of `shared`).
    pub fn build(self, model: DeviceModel, depth: u32, volume: u64) -> Topology {
        match self {
            TopologyPreset::Separate => Topology::separate(model, depth),
            TopologyPreset::Shared => Topology::shared(model, depth, volume),
            TopologyPreset::Raid5Source => Topology::raid5_source(model, depth),
            TopologyPreset::San => Topology::san(model, depth),
            TopologyPreset::Raid5San => Topology::raid5_san(model, depth),
        }
    }
}

/// What a run's `--topology` (or a sweep's `topologies` entry) names, resolved once: a
/// preset, built for the run's disks when the run asks ([`TopologyChoice::topology`]), or a
/// topology file, read and parsed here and carried parsed. A name that is neither is
/// carried with its refusal, which the run's validation reports (`sim/src/config.rs`).
///
/// It reads, writes (serde) and dereferences as the name as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopologyChoice {
    Preset(TopologyPreset),
    File {
        path: String,
        topology: Box<Topology>,
    },
    /// Neither a preset nor a readable valid file: why (the flag's or key's reason).
    Refused {
        name: String,
        reason: String,
    },
}

impl TopologyChoice {
    /// Resolves `name`: a preset's name, else the path of a topology file, read now.
    pub fn named(name: &str) -> TopologyChoice {
        let unknown = match TopologyPreset::parse(name) {
            Ok(preset) => return TopologyChoice::Preset(preset),
            Err(unknown) => unknown,
        };
        let refused = |reason: String| TopologyChoice::Refused {
            name: name.to_string(),
            reason,
        };
        let text = match std::fs::read_to_string(name) {
            Ok(text) => text,
            Err(e) => {
                let expected = unknown.expected();
                return refused(format!(
                    "neither a preset ({expected}) nor a readable file: {e}"
                ));
            }
        };
        match Topology::parse(&text, name) {
            Ok(topology) => TopologyChoice::File {
                path: name.to_string(),
                topology: Box::new(topology),
            },
            Err(e) => refused(e.to_string()),
        }
    }

    /// The name as given: the preset's, or the file's path.
    pub fn name(&self) -> &str {
        match self {
            TopologyChoice::Preset(p) => p.name(),
            TopologyChoice::File { path, .. } => path,
            TopologyChoice::Refused { name, .. } => name,
        }
    }

    /// The topology for the run's disk model, queue depth and volume (a file's topology
    /// ignores them), or why the name was refused.
    pub fn topology(&self, model: DeviceModel, depth: u32, volume: u64) -> Result<Topology, &str> {
        match self {
            TopologyChoice::Preset(p) => Ok(p.build(model, depth, volume)),
            TopologyChoice::File { topology, .. } => Ok(Topology::clone(topology)),
            TopologyChoice::Refused { reason, .. } => Err(reason),
        }
    }
}

impl std::ops::Deref for TopologyChoice {
    type Target = str;

    /// The name as given (`sim/src/driver/mod.rs` quotes it in a refusal).
    fn deref(&self) -> &str {
        self.name()
    }
}

impl fmt::Display for TopologyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for TopologyChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TopologyChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|name| TopologyChoice::named(&name))
    }
}

impl Topology {
    /// Today's default: four disks of one model, no links.
    pub fn separate(model: DeviceModel, depth: u32) -> Topology {
        let disk = DeviceSpec::Disk {
            model,
            queue_depth: depth,
        };
        Topology {
            devices: ROLE_NAMES
                .iter()
                .map(|n| (n.to_string(), disk.clone()))
                .collect(),
            links: BTreeMap::new(),
            roles: ROLE_NAMES.map(Role::on),
            control: Control::default(),
        }
    }

    /// Today's `--shared-disk`: one disk for every role, role `i` at `i × volume`.
    pub fn shared(model: DeviceModel, depth: u32, volume: u64) -> Topology {
        let mut t = Topology::separate(model, depth);
        let disk = t.devices.remove("source").expect("a source disk");
        t.devices = BTreeMap::from([("disk".to_string(), disk)]);
        for (i, role) in t.roles.iter_mut().enumerate() {
            *role = Role::on("disk");
            role.offset = (i as u64).saturating_mul(volume);
        }
        t
    }

    /// `separate`, with the source a RAID-5 of four such disks and 64 KiB units.
    pub fn raid5_source(model: DeviceModel, depth: u32) -> Topology {
        let mut t = Topology::separate(model, depth);
        let disk = t.devices.remove("source").expect("a source disk");
        let members: Vec<String> = (0..4).map(|i| format!("source-{i}")).collect();
        for m in &members {
            t.devices.insert(m.clone(), disk.clone());
        }
        let raid = DeviceSpec::Raid {
            level: RaidLevel::Raid5,
            stripe_unit: 64 << 10,
            members,
        };
        t.devices.insert("source".into(), raid);
        t
    }

    /// `separate`, with the source and the destination behind a switch: the host's link
    /// to the switch (shared by both) and the switch's link to each array, all
    /// [`SAN_LINK`]s.
    pub fn san(model: DeviceModel, depth: u32) -> Topology {
        Topology::separate(model, depth).behind_switch()
    }

    /// `raid5-source` behind the `san` switch.
    pub fn raid5_san(model: DeviceModel, depth: u32) -> Topology {
        Topology::raid5_source(model, depth).behind_switch()
    }

    fn behind_switch(mut self) -> Topology {
        for name in ["host-switch", "switch-source", "switch-destination"] {
            self.links.insert(name.into(), SAN_LINK);
        }
        self.roles[0] = Role::on("source").over(&["host-switch", "switch-source"]);
        self.roles[1] = Role::on("destination").over(&["host-switch", "switch-destination"]);
        self
    }

    /// The preset called `name` (one of [`PRESETS`]) for the run's disk model, queue depth
    /// and volume (see [`TopologyPreset::build`]).
    pub fn preset(name: &str, model: DeviceModel, depth: u32, volume: u64) -> Option<Topology> {
        let preset = TopologyPreset::parse(name).ok()?;
        Some(preset.build(model, depth, volume))
    }

    pub fn role(&self, role: Device) -> &Role {
        &self.roles[role as usize]
    }

    /// Refuses what a [`Fabric`] could not run: unknown names, a RAID with too few or
    /// repeated members, a cycle of RAIDs, a stripe unit, bandwidth or queue depth of 0.
    /// The error's file is `topology` and its line 0 (see [`Topology::parse`] for files).
    pub fn validate(&self) -> Result<(), TopologyError> {
        let bad = |key: String, value: &dyn fmt::Display, reason: &str| {
            Err(refused(key, value.to_string(), reason))
        };
        for (name, spec) in &self.devices {
            match spec {
                DeviceSpec::Disk { model, queue_depth } => {
                    if model.bandwidth == 0 {
                        return bad(format!("devices.{name}.bandwidth"), &0, "must be positive");
                    }
                    if *queue_depth == 0 {
                        let key = format!("devices.{name}.queue_depth");
                        return bad(key, &0, "must be at least 1");
                    }
                }
                DeviceSpec::Raid {
                    level,
                    stripe_unit,
                    members,
                } => {
                    let key = format!("devices.{name}.members");
                    if *stripe_unit == 0 {
                        let key = format!("devices.{name}.stripe_unit");
                        return bad(key, &0, "must be at least one byte");
                    }
                    if members.len() < level.min_members() {
                        let reason = format!(
                            "a {} needs at least {} members",
                            level.name(),
                            level.min_members()
                        );
                        return bad(key, &members.len(), &reason);
                    }
                    for (i, m) in members.iter().enumerate() {
                        if !self.devices.contains_key(m) {
                            return bad(key, m, "unknown device");
                        }
                        if members[..i].contains(m) {
                            return bad(key, m, "member listed twice");
                        }
                    }
                }
            }
        }
        if let Some(name) = self.cycle() {
            let key = format!("devices.{name}.members");
            return bad(key, &name, "a RAID that contains itself");
        }
        for (name, link) in &self.links {
            if link.bandwidth == 0 {
                return bad(format!("links.{name}.bandwidth"), &0, "must be positive");
            }
        }
        for (role, name) in self.roles.iter().zip(ROLE_NAMES) {
            if !self.devices.contains_key(&role.device) {
                let key = format!("roles.{name}.device");
                return bad(key, &role.device, "unknown device");
            }
            if let Some(l) = role.links.iter().find(|l| !self.links.contains_key(*l)) {
                return bad(format!("roles.{name}.links"), l, "unknown link");
            }
        }
        if let ControlPath::OutOfBand(link) = self.control.path {
            if link.bandwidth == 0 {
                return bad("control.bandwidth".into(), &0, "must be positive");
            }
        }
        Ok(())
    }

    /// A RAID on a cycle of membership, if any (members must exist).
    fn cycle(&self) -> Option<String> {
        // Absent: unseen; 1: on the current path; 2: done.
        fn visit<'a>(
            t: &'a Topology,
            name: &'a str,
            mark: &mut BTreeMap<&'a str, u8>,
        ) -> Option<&'a str> {
            match mark.get(name) {
                Some(1) => return Some(name),
                Some(_) => return None,
                None => {}
            }
            mark.insert(name, 1);
            if let Some(DeviceSpec::Raid { members, .. }) = t.devices.get(name) {
                if let Some(c) = members.iter().find_map(|m| visit(t, m, mark)) {
                    return Some(c);
                }
            }
            mark.insert(name, 2);
            None
        }
        let mut mark = BTreeMap::new();
        self.devices
            .keys()
            .find_map(|n| visit(self, n, &mut mark))
            .map(str::to_string)
    }
}

/// A refused topology: where, which key, which value, why.
pub type TopologyError = FileError;

/// A validation error: the file is `topology` and the line 0 until a file places it.
fn refused(key: String, value: String, reason: &str) -> TopologyError {
    FileError::unplaced("topology", key, value, reason)
}
