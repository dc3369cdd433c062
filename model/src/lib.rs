//! cowlab's engine: the copy-on-write online-copy algorithm family, written once as step
//! machines over a simulated disk, with the invariants, the mutant catalogue and the drivers
//! that decide who steps next.
//!
//! Layers, lowest first: geometry, devices (`disk`), metadata (`meta`, `ghost`), the
//! configuration (`policy`, `rules`, `order`, `spec`), the step machines (`copier`,
//! `preserver`, `client`) behind `env`, the state they step (`world`), then the invariants
//! and the drivers (`random`, `exhaustive`, `threaded`; the timed one is its own crate).
//!
//! It imports no other cowlab crate; every other crate builds on it (`tests/layering.rs`
//! holds the stack and the absence of import circles).

pub mod client;
pub mod copier;
pub mod disk;
pub mod durability;
pub mod env;
pub mod event;
#[cfg(feature = "checkers")]
pub mod exhaustive;
pub mod fault;
pub mod geometry;
pub mod ghost;
pub mod invariants;
pub mod meta;
pub mod mutant;
pub mod names;
pub mod order;
pub mod policy;
pub mod preserver;
pub mod progress;
pub mod random;
pub mod rules;
pub mod spec;
#[cfg(feature = "checkers")]
pub mod strategy;
#[cfg(feature = "checkers")]
pub mod threaded;
pub mod workload;
pub mod world;

pub use disk::{BlockStore, Device, Disk, NoData, Stamp, BEGIN};
pub use env::{Direct, Env};
pub use event::{render_trace, Event, Freed, TraceStep};
pub use geometry::{Block, Chunk, Geometry, GeometryError, Segment};
pub use ghost::{Ghost, GhostImage, NoGhost};
pub use invariants::{Invariant, Violation};
pub use meta::{HoldQueue, Meta, SnapshotMap, WriteId};
pub use mutant::Mutant;
pub use order::{CopyOrder, OrderName};
pub use policy::{Policy, PolicyName};
pub use rules::Rules;
pub use spec::{OpenRanges, Pid, Resolved, Spec, SpecError};
pub use workload::{Op, Request, Role, Workload};
pub use world::{Process, Wait, World};
