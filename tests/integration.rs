//! The one integration test binary: modules under `tests/integration/`.

#[path = "integration/support.rs"]
mod support;

#[path = "integration/audit.rs"]
mod audit;
#[path = "integration/aws_mocks.rs"]
mod aws_mocks;
#[path = "integration/aws_moto.rs"]
mod aws_moto;
#[path = "integration/catalog.rs"]
mod catalog;
#[path = "integration/catalog_contract.rs"]
mod catalog_contract;
#[path = "integration/cli.rs"]
mod cli;
#[path = "integration/cloud_contract.rs"]
mod cloud_contract;
#[path = "integration/crash.rs"]
mod crash;
#[path = "integration/daemon.rs"]
mod daemon;
#[path = "integration/doc_commands.rs"]
mod doc_commands;
#[path = "integration/fleet.rs"]
mod fleet;
#[path = "integration/health_check.rs"]
mod health_check;
#[path = "integration/monitoring.rs"]
mod monitoring;
#[path = "integration/no_panic.rs"]
mod no_panic;
#[path = "integration/policy_validation.rs"]
mod policy_validation;
#[path = "integration/progress.rs"]
mod progress;
#[path = "integration/restore.rs"]
mod restore;
#[path = "integration/restore_asg.rs"]
mod restore_asg;
#[path = "integration/restore_moto.rs"]
mod restore_moto;
#[path = "integration/web_tier_contract.rs"]
mod web_tier_contract;
