//! The topology file format: reading a TOML file into a [`Topology`] (errors give the file,
//! the line, the key and the value) and writing a topology as a file that reads back to
//! it ([`Topology::to_toml`] shows the format).

use super::{
    parse_role, Control, ControlPath, DeviceSpec, Link, RaidLevel, Role, Topology, TopologyError,
    ROLE_NAMES,
};
use crate::device::{DeviceModel, DiskName, QueueDepth};
use crate::size::{parse_duration, parse_rate, parse_size};
use crate::tomlfile::{self, toml_string};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// A number as a file writes it: an integer, or text (`64KiB`, `10us`, `1.25GB/s`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Num {
    Int(u64),
    Text(String),
}

#[derive(Clone, Copy)]
enum Quantity {
    Size,
    Duration,
    Rate,
    Count,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFile {
    devices: Option<BTreeMap<String, Spanned<DeviceFile>>>,
    links: Option<BTreeMap<String, Spanned<LinkFile>>>,
    roles: Option<Spanned<RolesFile>>,
    control: Option<ControlFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceFile {
    model: Option<Spanned<String>>,
    overhead_ns: Option<Spanned<Num>>,
    bandwidth: Option<Spanned<Num>>,
    seek_ns: Option<Spanned<Num>>,
    queue_depth: Option<Spanned<Num>>,
    raid: Option<Spanned<String>>,
    stripe_unit: Option<Spanned<Num>>,
    members: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkFile {
    latency_ns: Option<Spanned<Num>>,
    bandwidth: Spanned<Num>,
}

/// The `[roles.NAME]` tables, by name (each name read by [`parse_role`]).
type RolesFile = BTreeMap<String, Spanned<RoleFile>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    device: Spanned<String>,
    links: Option<Spanned<Vec<Spanned<String>>>>,
    offset: Option<Spanned<Num>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlFile {
    path: Option<Spanned<String>>,
    command_bytes: Option<Spanned<Num>>,
    latency_ns: Option<Spanned<Num>>,
    bandwidth: Option<Spanned<Num>>,
}

/// The text of a topology file, to point at its lines.
struct TopologyText<'a> {
    doc: tomlfile::SourceText<'a>,
    /// Where each dotted key's value stands, for errors found after reading.
    spans: BTreeMap<String, Range<usize>>,
}

impl TopologyText<'_> {
    /// An error at a value's place, quoting the value as written.
    fn at(&self, span: Range<usize>, key: &str, reason: impl ToString) -> TopologyError {
        self.doc.at(span, key, reason)
    }

    /// A validation error, placed at its key (or the nearest enclosing key) in the file.
    fn place(&self, mut e: TopologyError) -> TopologyError {
        let mut key = e.key.as_str();
        let start = loop {
            if let Some(span) = self.spans.get(key) {
                break span.start;
            }
            match key.rsplit_once('.') {
                Some((outer, _)) => key = outer,
                None => break 0,
            }
        };
        e.file = self.doc.file.to_string();
        e.line = self.doc.line(start);
        e
    }

    fn note<T>(&mut self, key: String, v: &Spanned<T>) {
        self.spans.insert(key, v.span());
    }

    fn num(&mut self, v: &Spanned<Num>, key: String, q: Quantity) -> Result<u64, TopologyError> {
        self.note(key.clone(), v);
        let text = match v.get_ref() {
            Num::Int(n) => return Ok(*n),
            Num::Text(t) => t,
        };
        if let Ok(n) = text.trim().parse::<u64>() {
            return Ok(n);
        }
        let parsed =
            match q {
                Quantity::Size => parse_size(text).map_err(|e| e.to_string()),
                Quantity::Duration => parse_duration(text).map_err(|e| e.to_string()),
                Quantity::Rate => parse_rate(text)
                    .map_err(|e| e.to_string())
                    .and_then(|r| match r.round() {
                        r if r < 1.0 => Err("must be at least 1 byte per second".into()),
                        r if r >= u64::MAX as f64 => Err("too large".into()),
                        r => Ok(r as u64),
                    }),
                Quantity::Count => Err("must be a whole number".into()),
            };
        parsed.map_err(|reason| self.at(v.span(), &key, reason))
    }

    fn names(&mut self, list: &Spanned<Vec<Spanned<String>>>, key: String) -> Vec<String> {
        self.note(key, list);
        list.get_ref().iter().map(|n| n.get_ref().clone()).collect()
    }
}

impl Topology {
    /// Reads a topology file; `file` names it in errors, which give the line, the key and
    /// the value. See [`Topology::to_toml`] for the format.
    pub fn parse(text: &str, file: &str) -> Result<Topology, TopologyError> {
        let mut doc = TopologyText {
            doc: tomlfile::SourceText::new(text, file),
            spans: BTreeMap::new(),
        };
        let f: TopologyFile = toml::from_str(text).map_err(|e| doc.doc.toml_error(&e))?;
        let mut devices = BTreeMap::new();
        for (name, d) in f.devices.iter().flatten() {
            doc.note(format!("devices.{name}"), d);
            let spec = doc.device(name, d)?;
            devices.insert(name.clone(), spec);
        }
        let mut links = BTreeMap::new();
        for (name, l) in f.links.iter().flatten() {
            doc.note(format!("links.{name}"), l);
            let key = |k: &str| format!("links.{name}.{k}");
            let link = Link {
                latency_ns: match &l.get_ref().latency_ns {
                    Some(v) => doc.num(v, key("latency_ns"), Quantity::Duration)?,
                    None => 0,
                },
                bandwidth: doc.num(&l.get_ref().bandwidth, key("bandwidth"), Quantity::Rate)?,
            };
            links.insert(name.clone(), link);
        }
        let roles = doc.roles(f.roles.as_ref())?;
        let control = doc.control(f.control.as_ref())?;
        let topology = Topology {
            devices,
            links,
            roles,
            control,
        };
        topology.validate().map_err(|e| doc.place(e))?;
        Ok(topology)
    }
}

impl TopologyText<'_> {
    fn device(&mut self, name: &str, d: &Spanned<DeviceFile>) -> Result<DeviceSpec, TopologyError> {
        let key = |k: &str| format!("devices.{name}.{k}");
        let f = d.get_ref();
        let Some(level) = &f.raid else {
            if let Some(v) = &f.members {
                return Err(self.at(v.span(), &key("members"), "only a RAID has members"));
            }
            if let Some(v) = &f.stripe_unit {
                let reason = "only a RAID has a stripe unit";
                return Err(self.at(v.span(), &key("stripe_unit"), reason));
            }
            let mut preset = None;
            let mut model = match &f.model {
                Some(m) => match m.get_ref().parse::<DiskName>() {
                    Ok(disk) => {
                        preset = Some(disk);
                        disk.model()
                    }
                    Err(unknown) => return Err(self.at(m.span(), &key("model"), unknown)),
                },
                None => match &f.bandwidth {
                    Some(_) => DeviceModel {
                        overhead_ns: 0,
                        bandwidth: 0,
                        seek_ns: 0,
                    },
                    None => {
                        let reason = "a disk needs a model or a bandwidth";
                        return Err(self.at(d.span(), &format!("devices.{name}"), reason));
                    }
                },
            };
            if let Some(v) = &f.overhead_ns {
                model.overhead_ns = self.num(v, key("overhead_ns"), Quantity::Duration)?;
            }
            if let Some(v) = &f.seek_ns {
                model.seek_ns = self.num(v, key("seek_ns"), Quantity::Duration)?;
            }
            if let Some(v) = &f.bandwidth {
                model.bandwidth = self.num(v, key("bandwidth"), Quantity::Rate)?;
            }
            let queue_depth = match &f.queue_depth {
                None => 1,
                // The model preset's own depth (`sim/src/device.rs`, `DiskName::native_depth`).
                Some(v) if matches!(v.get_ref(), Num::Text(t) if t == "native") => {
                    self.note(key("queue_depth"), v);
                    match preset {
                        Some(disk) => QueueDepth::Native.resolve(disk),
                        None => {
                            let reason = "`native` needs a model preset (nvme, ssd or hdd)";
                            return Err(self.at(v.span(), &key("queue_depth"), reason));
                        }
                    }
                }
                Some(v) if matches!(v.get_ref(), Num::Text(t) if t.trim().parse::<u64>().is_err()) =>
                {
                    let reason = "must be a whole number or \"native\"";
                    return Err(self.at(v.span(), &key("queue_depth"), reason));
                }
                Some(v) => {
                    let n = self.num(v, key("queue_depth"), Quantity::Count)?;
                    u32::try_from(n)
                        .map_err(|_| self.at(v.span(), &key("queue_depth"), "too large"))?
                }
            };
            return Ok(DeviceSpec::Disk { model, queue_depth });
        };
        let disk_only = [
            (f.model.as_ref().map(|v| v.span()), "model"),
            (f.overhead_ns.as_ref().map(|v| v.span()), "overhead_ns"),
            (f.bandwidth.as_ref().map(|v| v.span()), "bandwidth"),
            (f.seek_ns.as_ref().map(|v| v.span()), "seek_ns"),
            (f.queue_depth.as_ref().map(|v| v.span()), "queue_depth"),
        ];
        if let Some((Some(span), k)) = disk_only.into_iter().find(|(s, _)| s.is_some()) {
            let reason = "a RAID takes raid, stripe_unit and members (its members are disks)";
            return Err(self.at(span, &key(k), reason));
        }
        let level = RaidLevel::parse(level.get_ref())
            .map_err(|unknown| self.at(level.span(), &key("raid"), unknown))?;
        let stripe_unit = match &f.stripe_unit {
            Some(v) => self.num(v, key("stripe_unit"), Quantity::Size)?,
            None => 64 << 10,
        };
        let members = match &f.members {
            Some(list) => self.names(list, key("members")),
            None => {
                let reason = "a RAID needs members";
                return Err(self.at(d.span(), &format!("devices.{name}"), reason));
            }
        };
        Ok(DeviceSpec::Raid {
            level,
            stripe_unit,
            members,
        })
    }

    fn roles(&mut self, f: Option<&Spanned<RolesFile>>) -> Result<[Role; 4], TopologyError> {
        let span = f.map_or(0..0, |r| r.span());
        let mut files: [Option<&Spanned<RoleFile>>; 4] = [None; 4];
        for (name, file) in f.iter().flat_map(|r| r.get_ref()) {
            let role = parse_role(name).map_err(|unknown| {
                let mut e = self.at(file.span(), "roles", unknown);
                e.value = name.clone();
                e
            })?;
            files[role as usize] = Some(file);
        }
        let mut roles = ROLE_NAMES.map(Role::on);
        for ((role, file), name) in roles.iter_mut().zip(files).zip(ROLE_NAMES) {
            let key = |k: &str| format!("roles.{name}.{k}");
            let Some(file) = file else {
                let mut e = self.at(
                    span.clone(),
                    &format!("roles.{name}"),
                    "no device plays this role",
                );
                e.value = "(none)".into();
                return Err(e);
            };
            self.note(format!("roles.{name}"), file);
            let file = file.get_ref();
            self.note(key("device"), &file.device);
            role.device = file.device.get_ref().clone();
            if let Some(list) = &file.links {
                role.links = self.names(list, key("links"));
            }
            if let Some(v) = &file.offset {
                role.offset = self.num(v, key("offset"), Quantity::Size)?;
            }
        }
        Ok(roles)
    }

    fn control(&mut self, f: Option<&ControlFile>) -> Result<Control, TopologyError> {
        let mut control = Control::default();
        let Some(f) = f else {
            return Ok(control);
        };
        if let Some(v) = &f.command_bytes {
            control.command_bytes = self.num(v, "control.command_bytes".into(), Quantity::Size)?;
        }
        let path = f.path.as_ref().map_or("in-band", |p| p.get_ref().as_str());
        match path {
            "in-band" => {
                let extra = [(&f.latency_ns, "latency_ns"), (&f.bandwidth, "bandwidth")];
                if let Some((Some(v), k)) = extra.into_iter().find(|(v, _)| v.is_some()) {
                    let reason = "only an out-of-band control path has a link of its own";
                    return Err(self.at(v.span(), &format!("control.{k}"), reason));
                }
            }
            "out-of-band" => {
                let latency_ns = match &f.latency_ns {
                    Some(v) => self.num(v, "control.latency_ns".into(), Quantity::Duration)?,
                    None => 0,
                };
                let Some(bw) = &f.bandwidth else {
                    let span = f.path.as_ref().map_or(0..0, |p| p.span());
                    let reason = "an out-of-band control path needs a bandwidth";
                    return Err(self.at(span, "control.path", reason));
                };
                let bandwidth = self.num(bw, "control.bandwidth".into(), Quantity::Rate)?;
                control.path = ControlPath::OutOfBand(Link {
                    latency_ns,
                    bandwidth,
                });
            }
            _ => {
                let span = f.path.as_ref().map_or(0..0, |p| p.span());
                let reason = "unknown control path (expected one of: in-band, out-of-band)";
                return Err(self.at(span, "control.path", reason));
            }
        }
        Ok(control)
    }
}

/// A key, bare when TOML allows it.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match bare {
        true => name.to_string(),
        false => toml_string(name),
    }
}

/// An integer TOML can hold, else its digits as text (which [`Topology::parse`] reads).
fn toml_u64(n: u64) -> String {
    match i64::try_from(n) {
        Ok(_) => n.to_string(),
        Err(_) => format!("\"{n}\""),
    }
}

fn toml_list(names: &[String]) -> String {
    let items: Vec<String> = names.iter().map(|n| toml_string(n)).collect();
    format!("[{}]", items.join(", "))
}

impl Topology {
    /// The topology as a file [`Topology::parse`] reads back to the same topology:
    ///
    /// ```toml
    /// [devices.d0]                # a disk: a model, or explicit fields over one
    /// model = "hdd"               # nvme, ssd or hdd
    /// overhead_ns = 4170000       # integers, or text with a unit: "4.17ms"
    /// bandwidth = 150000000       # bytes/s, or "150MB/s"
    /// seek_ns = 4000000
    /// queue_depth = 1             # or "native": the model preset's (nvme 64, ssd 32, hdd 1)
    ///
    /// [devices.array]             # a RAID of devices named in `devices`
    /// raid = "raid5"              # raid0, raid1 or raid5
    /// stripe_unit = 65536         # bytes, or "64KiB" (default 64 KiB)
    /// members = ["d0", "d1", "d2"]
    ///
    /// [links.host-switch]
    /// latency_ns = 10000          # or "10us"
    /// bandwidth = 1250000000      # or "1.25GB/s"
    ///
    /// [roles.source]              # also destination, snapshot and cache: all four
    /// device = "array"
    /// links = ["host-switch"]     # host side first (default none)
    /// offset = 0                  # where the role's region starts (default 0)
    ///
    /// [control]                   # optional; default in-band, 512 bytes
    /// path = "out-of-band"        # or "in-band"
    /// command_bytes = 512
    /// latency_ns = 5000           # out-of-band only
    /// bandwidth = 100000000       # out-of-band only
    /// ```
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        for (name, spec) in &self.devices {
            out.push_str(&format!("[devices.{}]\n", toml_key(name)));
            match spec {
                DeviceSpec::Disk { model, queue_depth } => {
                    out.push_str(&format!("overhead_ns = {}\n", toml_u64(model.overhead_ns)));
                    out.push_str(&format!("bandwidth = {}\n", toml_u64(model.bandwidth)));
                    out.push_str(&format!("seek_ns = {}\n", toml_u64(model.seek_ns)));
                    out.push_str(&format!("queue_depth = {queue_depth}\n"));
                }
                DeviceSpec::Raid {
                    level,
                    stripe_unit,
                    members,
                } => {
                    out.push_str(&format!("raid = \"{}\"\n", level.name()));
                    out.push_str(&format!("stripe_unit = {}\n", toml_u64(*stripe_unit)));
                    out.push_str(&format!("members = {}\n", toml_list(members)));
                }
            }
            out.push('\n');
        }
        for (name, link) in &self.links {
            out.push_str(&format!("[links.{}]\n", toml_key(name)));
            out.push_str(&format!("latency_ns = {}\n", toml_u64(link.latency_ns)));
            out.push_str(&format!("bandwidth = {}\n\n", toml_u64(link.bandwidth)));
        }
        for (role, name) in self.roles.iter().zip(ROLE_NAMES) {
            out.push_str(&format!("[roles.{name}]\n"));
            out.push_str(&format!("device = {}\n", toml_string(&role.device)));
            out.push_str(&format!("links = {}\n", toml_list(&role.links)));
            out.push_str(&format!("offset = {}\n\n", toml_u64(role.offset)));
        }
        out.push_str("[control]\n");
        match self.control.path {
            ControlPath::InBand => out.push_str("path = \"in-band\"\n"),
            ControlPath::OutOfBand(link) => {
                out.push_str("path = \"out-of-band\"\n");
                out.push_str(&format!("latency_ns = {}\n", toml_u64(link.latency_ns)));
                out.push_str(&format!("bandwidth = {}\n", toml_u64(link.bandwidth)));
            }
        }
        let bytes = toml_u64(self.control.command_bytes);
        out.push_str(&format!("command_bytes = {bytes}\n"));
        out
    }
}
