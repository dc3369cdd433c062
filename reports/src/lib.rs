//! Reports of cowlab sweeps: turns simulation results into charts that a
//! storage designer reads to choose a segment size and a copy-on-write chunk
//! size.
//!
//! The chart renderer has its own input types ([`chart::Chart`] and friends)
//! so that it does not depend on how the sweep stores its results.

#![warn(missing_docs)]

pub mod chart;
