//! ferroban's integration tests: one binary, one module per feature.

// A failed expectation in a test is the test failing: panicking on it is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod config_check;
mod conformance;
mod daemon_actions;
mod daemon_common;
mod daemon_control;
mod daemon_database;
mod daemon_gaps;
mod daemon_journal;
mod daemon_latency;
mod daemon_reban;
mod daemon_restart;
mod daemon_rotation;
mod daemon_seed;
mod daemon_syslog;
mod daemon_takeover;
mod fail2ban_runtime;
mod fail2ban_socket;
mod firewall_lab;
mod regex_cli;
mod stock_config;
