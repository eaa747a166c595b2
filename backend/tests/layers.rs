//! The backend's layers (ARCHITECTURE.md, "Layers"): every `crate::<module>`
//! a source file names must be in its own layer or a lower one, and the
//! modules must not form a cycle. Read from the source files, so a new upward
//! import or a new circle fails `cargo xtask test` (step `unit`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Low to high. A module may use its own layer and those before it.
const LAYERS: &[&[&str]] = &[
    &["clock", "metrics"],
    &["store"],
    &["auth", "limits"],
    &["outbox", "hub"],
    &["cluster"],
    &["session"],
    &["transport"],
    &["http"],
    &["lib", "serve", "config", "main"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `store/write/messages.rs` → `store`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    first.unwrap_or_default().trim_end_matches(".rs").to_owned()
}

/// The top-level modules `text` names as `crate::<name>`, including inside
/// `use crate::{a::X, b}` groups. Comments are skipped.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    // `crate::Config`, `crate::DRAIN_TIMEOUT`: items of lib.rs itself.
    let top = |name: &str| -> String {
        if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
            "lib".to_owned()
        } else {
            name.to_owned()
        }
    };
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first name of each entry.
            let mut depth = 0usize;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_ascii_alphabetic() || c == '_') => {
                        found.insert(top(&ident(&group[j..])));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(top(&name));
            }
        }
    }
    found
}

#[test]
fn modules_import_only_their_layer_or_lower_ones_and_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    assert!(files.len() > 10, "no sources found in {}", src.display());

    let mut problems = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(own) = layer_of(&module) else {
            problems.push(format!(
                "{}: module `{module}` is in no layer (add it to LAYERS in tests/layers.rs and to ARCHITECTURE.md)",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for used in crate_refs(&text) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer <= own => {
                    edges.entry(module.clone()).or_default().insert(used);
                }
                Some(_) => problems.push(format!(
                    "{}: `{module}` (layer {own}) uses `crate::{used}`, a higher layer",
                    file.display()
                )),
                None => problems.push(format!(
                    "{}: uses `crate::{used}`, a module in no layer",
                    file.display()
                )),
            }
        }
    }

    // A cycle within one layer (between layers there can be none left).
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|n| n == node) {
            cycles.push(format!("{} -> {node}", path[i..].join(" -> ")));
            return;
        }
        if !done.insert(node.to_owned()) {
            return;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    for node in edges.keys() {
        visit(
            node,
            &edges,
            &mut Vec::new(),
            &mut BTreeSet::new(),
            &mut cycles,
        );
    }
    cycles.sort();
    cycles.dedup();
    problems.extend(cycles.into_iter().map(|c| format!("cycle: {c}")));
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_reference_reader_sees_groups_and_skips_comments() {
    let text = "use crate::{hub::Hub, store::{A, B}, clock, AppState};\n// crate::http in a comment\nlet x = crate::session::f();\nfn g(_: crate::Config) {}";
    let found: Vec<String> = crate_refs(text).into_iter().collect();
    assert_eq!(found, ["clock", "hub", "lib", "session", "store"]);
}
