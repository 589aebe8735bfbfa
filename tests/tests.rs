//! ferroban's integration tests: one binary, one module per feature.

mod support;

mod conformance;
mod stock_config;
mod firewall_lab;
mod regex_cli;
mod daemon_actions;
mod daemon_common;
mod daemon_control;
mod daemon_journal;
mod daemon_latency;
mod daemon_restart;
mod daemon_rotation;
mod daemon_seed;
