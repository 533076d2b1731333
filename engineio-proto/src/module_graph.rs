//! The graph of a crate's top-level modules, read from its sources, and a
//! check that it has no cycle (feature `testing`).
//!
//! A crate whose modules depend on each other in a circle has no place to
//! start reading and no piece that can be tested alone. Each crate of the
//! workspace calls [`assert_no_module_cycles`] on its own `src` from a
//! test, so a cycle fails the build's tests the day it appears.
//!
//! How the sources are read (text, not a Rust parser; enough for code
//! formatted by rustfmt):
//! - a file's module is its top-level module: `src/server.rs` and
//!   `src/server/*.rs` are both `server`; `lib.rs` is the crate root, which
//!   declares the modules and is no node of the graph;
//! - its dependencies are the `crate::` paths in its code (`use crate::...`
//!   lines, grouped or not, and paths written inline), comments excluded;
//! - a path through an item the root re-exports (`crate::Config` where
//!   lib.rs says `pub use config::Config`) counts as a dependency on the
//!   module that defines the item;
//! - code from a file's first `#[cfg(test)]` line on is its tests, which may
//!   use anything, and is not read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top-level module -> the top-level modules it uses.
pub type ModuleGraph = BTreeMap<String, BTreeSet<String>>;

/// Reads the sources under `src` (the crate's `src` directory) into its
/// module graph.
///
/// # Panics
///
/// When `src/lib.rs` or a file under `src` cannot be read: the check is for
/// tests, and an unreadable tree is a failed test.
#[must_use]
pub fn module_graph(src: &Path) -> ModuleGraph {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(src, f)).collect();
    let lib = fs::read_to_string(src.join("lib.rs"))
        .unwrap_or_else(|e| panic!("reading {}: {e}", src.join("lib.rs").display()));
    let reexports = root_reexports(&code_of(&lib), &modules);

    let mut graph: ModuleGraph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for file in &files {
        let Some(module) = top_module(src, file) else {
            continue;
        };
        let text =
            fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        for first in crate_path_heads(&code_of(&text)) {
            let target = if modules.contains(&first) {
                Some(first)
            } else {
                reexports.get(&first).cloned()
            };
            if let Some(target) = target.filter(|t| *t != module) {
                graph.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

/// A cycle of `graph` as the list of modules around it (the first repeated
/// at the end), or `None` when it has none.
#[must_use]
pub fn find_cycle(graph: &ModuleGraph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &ModuleGraph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let start = stack.iter().position(|m| m == next).unwrap_or(0);
                    let mut cycle = stack.get(start..).unwrap_or_default().to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(next, graph, marks, stack) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

/// Fails (panics) with the modules around the first cycle found between
/// the top-level modules of the crate whose `src` directory is given.
///
/// ```no_run
/// // In a crate's tests:
/// engineio_proto::testing::assert_no_module_cycles(
///     &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
/// );
/// ```
///
/// # Panics
///
/// On a cycle, or when the sources cannot be read.
pub fn assert_no_module_cycles(src: &Path) {
    let graph = module_graph(src);
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "the modules of {} depend on each other in a circle: {}",
            src.display(),
            cycle.join(" -> ")
        );
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to; `None` for the crate root.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// The code of a file: line comments removed, and nothing from the first
/// `#[cfg(test)]` on.
fn code_of(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The first segment after every `crate::` in `code`, and, for grouped
/// uses (`crate::{a::X, b}`), the first segment of each branch.
fn crate_path_heads(code: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest.get(..at).and_then(|b| b.chars().last());
        let after = rest.get(at + "crate::".len()..).unwrap_or("");
        rest = after;
        // `$crate::` (a macro) and `foo_crate::` are not this crate's paths.
        if before.is_some_and(|c| c == '$' || c == '_' || c.is_alphanumeric()) {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            heads.extend(group_heads(group));
        } else {
            heads.extend(ident_at(after));
        }
    }
    heads
}

/// The first segment of each branch of a use group, `group` starting just
/// after its `{`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut branch_start = true;
    let mut chars = group.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => branch_start = true,
            c if c.is_whitespace() => {}
            _ if branch_start && depth == 0 => {
                branch_start = false;
                if let Some(ident) = ident_at(group.get(i..).unwrap_or("")) {
                    // Skip the rest of the identifier.
                    for _ in 1..ident.len() {
                        chars.next();
                    }
                    heads.push(ident);
                }
            }
            _ => {}
        }
    }
    heads
}

fn ident_at(text: &str) -> Option<String> {
    let ident: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!ident.is_empty() && ident != "self").then_some(ident)
}

/// Names the root re-exports, by the module that defines them:
/// `pub use server::{Server, MAX}` gives `Server -> server`, `MAX -> server`
/// (an `as` alias under its new name).
fn root_reexports(lib: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in lib.split(';') {
        let statement = statement.trim();
        let Some(path) = statement
            .strip_prefix("pub use ")
            .or_else(|| statement.strip_prefix("pub(crate) use "))
            .or_else(|| statement.strip_prefix("use "))
        else {
            continue;
        };
        let path = path
            .trim()
            .trim_start_matches("crate::")
            .trim_start_matches("self::");
        let Some(module) = ident_at(path).filter(|m| modules.contains(m)) else {
            continue;
        };
        for leaf in leaves(path) {
            names.insert(leaf, module.clone());
        }
    }
    names
}

/// The names a use tree brings into scope (aliases under their alias).
fn leaves(tree: &str) -> Vec<String> {
    tree.split(['{', '}', ','])
        .filter_map(|part| {
            let part = part.trim();
            if part.is_empty() || part.ends_with("::") {
                return None;
            }
            let name = match part.split_once(" as ") {
                Some((_, alias)) => alias.trim(),
                None => part.rsplit("::").next().unwrap_or(part).trim(),
            };
            (name != "*" && name != "self" && !name.is_empty()).then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempdir::Dir {
        let dir = tempdir::Dir::new();
        for (path, text) in files {
            let path = dir.0.join(path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).unwrap();
            }
            fs::write(path, text).unwrap();
        }
        dir
    }

    /// A directory removed on drop (no dev-dependency for one helper).
    mod tempdir {
        use std::path::PathBuf;
        use std::sync::atomic::{AtomicU32, Ordering};

        pub(super) struct Dir(pub(super) PathBuf);

        impl Dir {
            pub(super) fn new() -> Self {
                static NEXT: AtomicU32 = AtomicU32::new(0);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let path =
                    std::env::temp_dir().join(format!("module-graph-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&path);
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn reads_uses_groups_inline_paths_and_reexports() {
        let dir = tree(&[
            (
                "lib.rs",
                "mod a;\nmod b;\nmod c;\nmod d;\npub use c::{Config, Limit as Max};\npub use d::*;\n",
            ),
            (
                "a.rs",
                "use crate::{\n    b::Thing,\n    Config,\n};\nfn f() -> crate::Max { todo!() }\n",
            ),
            ("b.rs", "// use crate::a::X; (a comment)\nuse std::io;\n"),
            (
                "c.rs",
                "pub struct Config;\npub struct Limit;\nmacro_rules! m { () => { $crate::a::f() } }\n",
            ),
            ("d/mod.rs", "mod inner;\n"),
            (
                "d/inner.rs",
                "use crate::b::Thing;\n#[cfg(test)]\nmod tests { use crate::a::X; }\n",
            ),
        ]);
        let graph = module_graph(&dir.0);
        assert_eq!(graph.get("a"), Some(&set(&["b", "c"])));
        assert_eq!(graph.get("b"), Some(&set(&[])));
        assert_eq!(graph.get("c"), Some(&set(&[])));
        assert_eq!(graph.get("d"), Some(&set(&["b"])));
        assert_eq!(graph.len(), 4);
        assert_eq!(find_cycle(&graph), None);
        assert_no_module_cycles(&dir.0);
    }

    #[test]
    fn finds_a_cycle_and_names_it() {
        let dir = tree(&[
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use crate::b::B;\n"),
            ("b.rs", "pub(crate) use crate::c::C;\n"),
            ("c.rs", "fn f() { let _ = crate::a::A; }\n"),
        ]);
        let graph = module_graph(&dir.0);
        assert_eq!(
            find_cycle(&graph),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        let caught = std::panic::catch_unwind(|| assert_no_module_cycles(&dir.0));
        let message = caught
            .err()
            .and_then(|e| e.downcast::<String>().ok())
            .map(|s| *s)
            .unwrap_or_default();
        assert!(
            message.ends_with("in a circle: a -> b -> c -> a"),
            "{message}"
        );
    }

    #[test]
    fn this_crate_has_no_module_cycle() {
        assert_no_module_cycles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    }
}
