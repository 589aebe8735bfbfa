//! Every stock filter of fail2ban's package compiles in ferroban, and how many regexes each
//! engine takes. (That every stock action loads is the config crate's unit test
//! `every_stock_action_loads`.)

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use ferroban_filter::{Engine, Filter};

use crate::support;

fn conf_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|f| f.strip_suffix(".conf").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn every_stock_filter_compiles_and_engines_are_counted() {
    let Some(dir) = support::fail2ban_dir() else {
        return;
    };
    let config = dir.join("etc/fail2ban");
    let mut engines: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut loaded = 0;
    for name in conf_names(&config.join("filter.d")) {
        // Include-only pieces: fail2ban cannot load these as filters either.
        if name.ends_with("-common") || name == "common" {
            continue;
        }
        let spec = match ferroban_config::load_filter(&config, &name, &[]) {
            Ok(spec) => spec,
            Err(e) => {
                errors.push(format!("{name}: {e}"));
                continue;
            }
        };
        match Filter::new(&spec.definition()) {
            Ok(filter) => {
                loaded += 1;
                let infos = filter
                    .prefregex_info()
                    .into_iter()
                    .chain(filter.failregex_info())
                    .chain(filter.ignoreregex_info());
                for info in infos {
                    let engine = match info.engine {
                        Engine::Linear => "regex (linear)".to_string(),
                        Engine::Backtracking(why) => format!("backtracking ({why:?})"),
                    };
                    *engines.entry(engine).or_default() += 1;
                }
            }
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    let total: usize = engines.values().sum();
    eprintln!("{loaded} stock filters compiled, {total} regexes:");
    for (engine, count) in &engines {
        eprintln!(
            "  {count:4} {engine} ({:.0}%)",
            *count as f64 * 100.0 / total.max(1) as f64
        );
    }
    assert!(
        errors.is_empty(),
        "stock filters that do not load:\n{}",
        errors.join("\n")
    );
    assert!(loaded > 80, "only {loaded} stock filters found");
}
