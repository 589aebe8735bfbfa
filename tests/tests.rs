//! ferroban's integration tests: one binary, one module per feature.

mod support;

mod firewall_lab;
