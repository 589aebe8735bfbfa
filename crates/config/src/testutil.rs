//! Helpers shared by the unit tests.

use std::fs;
use std::path::{Path, PathBuf};

/// Writes `text` to `dir/name`, creating directories.
pub(crate) fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, text).unwrap();
}

/// The stock fail2ban configuration (`$FERROBAN_F2B_DIR/etc/fail2ban`), or `None` (with a
/// message) when it is not there and not required.
pub(crate) fn stock_config() -> Option<PathBuf> {
    ferroban_testdata::stock_config()
}

/// A copy of the stock configuration with `overlay`'s files laid over it.
pub(crate) fn overlay(stock: &Path, overlay: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(stock, dir.path());
    copy_tree(overlay, dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
