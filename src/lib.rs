//! wpbackup — backup and disaster-recovery orchestrator for WordPress sites on AWS.
//!
//! Layers (outside in): `cli` → `engine` → `domain` (pure), with `cloud` ports
//! implemented by `cloud::sim` (the embedded default) and `cloud::aws` (the real
//! aws-sdk clients);
//! `catalog` is the only code that speaks SQL. See `docs/architecture.md`.

pub mod catalog;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod engine;
pub mod exit;
