//! Core's layers (docs/architecture.md): a module imports only from modules below it. This
//! test reads every source file of core and fails on any `crate::` path that points at a
//! module of the same rank or higher (up, or sideways across a boundary). Test modules
//! (`#[cfg(test)]` at the end of a file) may use anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Core's top-level modules, lowest first. Keep in step with docs/architecture.md.
const LAYERS: &[&str] = &[
    // Foundation: no domain knowledge.
    "limits", "error", "clock", "money", "net", "wire", "config",
    // The vocabulary: entities, fields, argument schemas, the event catalog.
    "model", // Persistence and pricing: pure functions of their inputs.
    "store", "rating",
    // Who is calling, what they may do; where changes are recorded for outside systems.
    "auth", "outbox", // The only writer of balances.
    "ledger", // Services built on the ledger.
    "charging", "packages", "events",   // The one context every front door shares.
    "services", // Front doors inside core.
    "api", "rest", // The façade.
    "engine",
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/ledger/charging/plan.rs` -> `ledger`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

/// The code of a file without its trailing test module, comments and string literals (so a
/// doc comment or a message naming `crate::x` is not an import).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The crate root's re-exports (`pub use engine::{Engine, ...}` in lib.rs): name -> module, so
/// that `crate::Engine` counts as an import of `engine`.
fn root_exports(lib: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stmt in lib.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = first_segment(rest);
        let names = match (rest.find('{'), rest.rfind('}')) {
            (Some(a), Some(b)) => rest[a + 1..b].to_string(),
            _ => rest.rsplit("::").next().unwrap_or_default().to_string(),
        };
        for name in names.split(',') {
            let name = first_segment(name.rsplit("::").next().unwrap_or_default());
            if !name.is_empty() {
                out.push((name, module.clone()));
            }
        }
    }
    out
}

/// Every top-level module named after `crate::`, including those in `use crate::{a, b::c}`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // A group: the first segment of each comma-separated item at depth 0.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            found.insert(first_segment(&item));
        } else {
            found.insert(first_segment(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn first_segment(s: &str) -> String {
    s.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn every_import_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let exports = root_exports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let resolve = |name: &str| -> Option<String> {
        if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            return Some(name.to_string());
        }
        // A root re-export names its module; anything else at the root (a macro, a type of a
        // dependency re-exported like `Decimal`) is not one of core's modules.
        exports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.clone())
            .filter(|m| rank(m).is_some())
    };
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        seen.insert(module.clone());
        let Some(own) = rank(&module) else {
            wrong.push(format!(
                "{}: module `{module}` has no layer",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        if text.contains("#![cfg(test)]") {
            continue; // a test-only file
        }
        let code = code_of(&text);
        for target in imports(&code).iter().filter_map(|n| resolve(n)) {
            if target == module {
                continue;
            }
            match rank(&target) {
                Some(r) if r < own => {}
                Some(_) => wrong.push(format!(
                    "{}: `{module}` imports `{target}`, which is not below it",
                    file.strip_prefix(&src).unwrap().display()
                )),
                None => wrong.push(format!(
                    "{}: imports `{target}`, which has no layer",
                    file.strip_prefix(&src).unwrap().display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
    // Every layer named exists, so the list cannot drift from the tree.
    for m in LAYERS {
        assert!(seen.contains(*m), "layer `{m}` names no module of core");
    }
}

#[test]
fn the_import_reader_sees_groups_and_ignores_text() {
    let code = code_of(
        "use crate::{model::{A, B}, store};\n// crate::engine in a comment\nlet s = \"crate::api\";\nuse crate::money::x;\n",
    );
    let got: Vec<String> = imports(&code).into_iter().collect();
    assert_eq!(got, ["model", "money", "store"]);
    let exports = root_exports("pub use engine::{Engine, EngineConfig};\npub use charging::rate_file::{RateRequest, Rated};\npub use auth::rbac;");
    assert!(exports.contains(&("Engine".into(), "engine".into())));
    assert!(exports.contains(&("Rated".into(), "charging".into())));
    assert!(exports.contains(&("rbac".into(), "auth".into())));
}
