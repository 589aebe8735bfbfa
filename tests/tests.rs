//! ferroban's integration tests: one binary, one module per feature.

mod support;

mod conformance;
mod firewall_lab;
mod daemon_actions;
mod daemon_common;
mod daemon_journal;
mod daemon_restart;
mod daemon_rotation;
mod daemon_seed;
