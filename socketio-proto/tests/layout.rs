//! The shape of the crate: modules that depend on each other in one
//! direction only, and files small enough to read.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_cycles() {
    engineio_proto::testing::assert_no_module_cycles(&src());
}

/// The code of each file of `src`, its tests excluded (from the first
/// `#[cfg(test)]` line on, as the module graph reads it, and the files of
/// test modules, `tests.rs`), stays under 800 lines.
#[test]
fn no_source_file_over_800_lines() {
    fn visit(dir: &Path, out: &mut Vec<(PathBuf, usize)>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.map(|e| e.path()).unwrap_or_default();
            if path.is_dir() {
                visit(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let code = text
                    .lines()
                    .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
                    .count();
                out.push((path, code));
            }
        }
    }
    let mut files = Vec::new();
    visit(&src(), &mut files);
    assert!(files.len() > 20, "read {} files", files.len());
    let over: Vec<_> = files.iter().filter(|(_, n)| *n > 800).collect();
    assert!(over.is_empty(), "files over 800 lines: {over:?}");
}
