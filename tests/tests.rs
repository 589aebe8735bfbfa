//! ferroban's integration tests: one binary, one module per feature.

// A failed expectation in a test is the test failing: panicking on it is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod config_check;
mod conformance;
mod crash_exact;
mod daemon_action_options;
mod daemon_actions;
mod daemon_commands;
mod daemon_common;
mod daemon_concurrency;
mod daemon_control;
mod daemon_database;
mod daemon_ignore;
mod daemon_journal;
mod daemon_latency;
mod daemon_metrics;
mod daemon_reban;
mod daemon_restart;
mod daemon_rotation;
mod daemon_seed;
mod daemon_sources;
mod daemon_syslog;
mod daemon_takeover;
mod docs;
mod fail2ban_runtime;
mod fail2ban_socket;
mod firewall_lab;
mod first_run;
mod fleet;
mod native_ipset;
mod native_nftables;
mod package;
mod record_jail;
mod regex_cli;
mod snapshots;
mod stock_config;
