//! A driver of a real copy-before-write implementation: QEMU's backup job (cowlab's
//! `out-of-turn`) and its fleecing scheme (`snapshot-redirect`), run by
//! `qemu-storage-daemon` and driven through its own interfaces — QMP for the block graph
//! and the job, NBD for the guest's requests, blkdebug for injected errors and its trace
//! events for who copied what. The workloads, traces and fault plans are the simulator's
//! (`cowlab-sim`), the invariants the model's (`cowlab-model`), judged on the images and
//! the request history the run leaves ([`check`]); [`compare`] sets the measured figures
//! beside the simulator's prediction of the same run.
//!
//! Layers, each using only those before it: [`stamp`], [`nbd`], [`qmp`], [`schema`] and
//! [`qtrace`] speak the formats; [`config`] validates a run; [`graph`] says what to ask of
//! QEMU; [`daemon`] owns the process and its directory; [`load`] is the guest; [`check`]
//! judges; [`run`] puts them together; [`compare`] sets a run beside its prediction.
//!
//! It imports the engine (`cowlab-model`) and the simulator (`cowlab-sim`); nothing below it
//! imports it, and the reports beside it do not.

pub mod check;
pub mod compare;
pub mod config;
pub mod daemon;
pub mod graph;
pub mod load;
pub mod nbd;
pub mod qmp;
pub mod qtrace;
pub mod run;
pub mod schema;
pub mod stamp;

pub use check::{Check, Finding, JobEnd, Status, Verdict};
pub use config::{Copy, QemuConfig, Setup};
pub use run::{run, QemuError, RealOutcome};
