//! Copy policies: what a write to a not-yet-copied range does, where the copier reads, and
//! whether an overlay pass runs. One engine answers every policy through these decision
//! points; adding a policy is one file here plus its name in [`builtins`].

mod next_range;
mod offline;
mod out_of_turn;
mod out_of_turn_cache;
mod snapshot_overlay;
mod snapshot_redirect;

pub use next_range::NextRange;
pub use offline::Offline;
pub use out_of_turn::OutOfTurn;
pub use out_of_turn_cache::OutOfTurnCache;
pub use snapshot_overlay::SnapshotOverlay;
pub use snapshot_redirect::SnapshotRedirect;

use crate::disk::Device;
use crate::durability::{Commit, CommitStep, Recovery, DATA_THEN_RECORD};
use std::fmt;
use std::sync::Arc;

/// What a write does to a chunk whose begin-time data is not yet safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteRule {
    /// Copy the chunk's begin-time data to this device first, then apply the write.
    Preserve(Target),
    /// Hold the write until the whole copy is complete (the offline baseline).
    WaitForCopy,
}

/// Where a preserver saves a chunk's begin-time data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The snapshot store; the chunk's bit is set in the snapshot map.
    Snapshot,
    /// A cache the copier later moves to the destination; also tracked by the snapshot map.
    Cache,
    /// The destination itself, out of turn; the chunk is marked copied and the copier skips it.
    Destination,
}

impl Target {
    pub fn device(self) -> Device {
        match self {
            Target::Snapshot => Device::Snapshot,
            Target::Cache => Device::Cache,
            Target::Destination => Device::Destination,
        }
    }
}

/// The decision points of a copy policy. Implement it to check a policy of your own with the
/// same drivers and invariants as the built-in ones.
pub trait Policy: Send + Sync + fmt::Debug {
    /// Kebab-case name, as the command line spells it.
    fn name(&self) -> &'static str;
    fn write_rule(&self) -> WriteRule;
    /// Whether the copier reads a chunk in the snapshot map from where it was preserved
    /// (instead of from the source).
    fn copier_reads_preserved(&self) -> bool {
        false
    }
    /// Whether the snapshot is copied over the destination once every segment is copied.
    fn overlay_pass(&self) -> bool {
        false
    }
    /// Claim 54: whether a write also preserves the next chunk not yet preserved.
    fn preserve_next_range(&self) -> bool {
        false
    }
    /// With volatile caches: the steps that make `what` durable, in order, before anyone
    /// relies on it (a held write is applied, the cursor moves). The built-in policies flush
    /// the data, then write the record that points at it and flush the metadata.
    fn commit(&self, _what: Commit) -> &'static [CommitStep] {
        DATA_THEN_RECORD
    }
    /// What recovery does after a power loss: resume from the records, or declare the
    /// snapshot invalid.
    fn recovery(&self) -> Recovery {
        Recovery::Resume
    }
}

/// The built-in policies, in the order tables list them.
pub fn builtins() -> Vec<Arc<dyn Policy>> {
    vec![
        Arc::new(SnapshotOverlay),
        Arc::new(SnapshotRedirect),
        Arc::new(OutOfTurn),
        Arc::new(OutOfTurnCache),
        Arc::new(NextRange),
        Arc::new(Offline),
    ]
}

/// Looks a built-in policy up by name.
pub fn by_name(name: &str) -> Option<Arc<dyn Policy>> {
    builtins().into_iter().find(|p| p.name() == name)
}

pub fn names() -> Vec<&'static str> {
    builtins().iter().map(|p| p.name()).collect()
}

/// A policy as a user names it: a built-in one ([`builtins`]) or a designer's own, resolved
/// by name against the policies a front end knows. Parsing it (`FromStr`, or
/// [`PolicyName::among`] with a caller's own policies) is the one check that the name is
/// known; the registry then resolves it ([`PolicyName::resolve`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyName(String);

impl PolicyName {
    /// The name of a policy in hand (a built-in or a caller's own).
    pub fn of(policy: &dyn Policy) -> PolicyName {
        PolicyName(policy.name().to_string())
    }

    /// `text`, if it is one of the `known` names (a front end's built-in and own policies).
    pub fn among(text: &str, known: &[&str]) -> Result<PolicyName, crate::names::UnknownName> {
        match known.contains(&text) {
            true => Ok(PolicyName(text.to_string())),
            false => Err(crate::names::UnknownName::new(
                "policy",
                text,
                known.iter().copied(),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The policy of this name: one of the caller's `own` first, then a built-in one.
    pub fn resolve(
        &self,
        own: &[Arc<dyn Policy>],
    ) -> Result<Arc<dyn Policy>, crate::names::UnknownName> {
        own.iter()
            .find(|p| p.name() == self.0)
            .cloned()
            .or_else(|| by_name(&self.0))
            .ok_or_else(|| {
                let mut names: Vec<&str> = own.iter().map(|p| p.name()).collect();
                names.extend(self::names());
                crate::names::UnknownName::new("policy", &self.0, names)
            })
    }

    /// The built-in policy of this name.
    pub fn builtin(&self) -> Result<Arc<dyn Policy>, crate::names::UnknownName> {
        self.resolve(&[])
    }
}

impl std::str::FromStr for PolicyName {
    type Err = crate::names::UnknownName;

    /// A built-in policy's name.
    fn from_str(text: &str) -> Result<PolicyName, Self::Err> {
        PolicyName::among(text, &names())
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl serde::Serialize for PolicyName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for PolicyName {
    /// A name cowlab wrote itself (a sweep's results, a shard): it may be a designer's own
    /// policy, which only the registry that runs it knows; [`PolicyName::resolve`] checks it.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PolicyName, D::Error> {
        String::deserialize(d).map(PolicyName)
    }
}
