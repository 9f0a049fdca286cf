//! The pure core: no I/O, no async, no SQL, no SDK types. Time is always passed in.

pub mod audit;
pub mod isolation;
pub mod model;
pub mod names;
pub mod planner;
pub mod policy;
pub mod restore_plan;
pub mod retention;
pub mod schedule;
pub mod selection;
pub mod site;
#[cfg(test)]
pub(crate) mod testkit;
pub mod time;
pub mod web_tier;
pub mod wiring;
