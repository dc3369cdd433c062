//! cowlab's engine: the copy-on-write online-copy algorithm family, written once as step
//! machines over a simulated disk, with the invariants, the mutant catalogue and the drivers
//! that decide who steps next.

pub mod client;
pub mod copier;
pub mod disk;
pub mod engine;
pub mod event;
pub mod exhaustive;
pub mod geometry;
pub mod invariants;
pub mod meta;
pub mod mutant;
pub mod order;
pub mod policy;
pub mod preserver;
pub mod random;
pub mod strategy;
pub mod threaded;
pub mod workload;

pub use disk::{Device, Stamp, BEGIN};
pub use engine::{Env, Pid, Process, Spec, SpecError, World};
pub use event::{render_trace, Event, TraceStep};
pub use geometry::{Geometry, GeometryError};
pub use invariants::{Invariant, Violation};
pub use meta::{HoldQueue, Meta, SnapshotMap};
pub use mutant::Mutant;
pub use order::CopyOrder;
pub use policy::Policy;
pub use workload::{Op, Request, Role, Workload};
