//! The declared `rust-version` is what the dependency tree really needs: no crate the
//! published packages depend on (normal or build dependency, any platform) asks for a
//! newer compiler than the workspace declares, and the declaration is not higher than
//! the tree needs (so it stays honest when dependencies allow an older compiler).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// The packages published to crates.io (the others are tests, examples and benches).
const PUBLISHED: [&str; 3] = [
    "langfuse-tracing-core",
    "langfuse-tracing-macros",
    "langfuse-tracing",
];

fn version(v: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = v.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    parts.resize(3, 0);
    parts
}

#[test]
fn declared_rust_version_matches_the_dependency_tree() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p))
        .collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve")
        .iter()
        .map(|n| (n["id"].as_str().expect("id"), n))
        .collect();

    // Walk normal and build dependencies from the published packages.
    let mut todo: Vec<&str> = packages
        .iter()
        .filter(|(_, p)| PUBLISHED.contains(&p["name"].as_str().unwrap_or_default()))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(todo.len(), PUBLISHED.len(), "every published package found");
    let declared: BTreeSet<&str> = todo
        .iter()
        .map(|id| {
            packages[id]["rust_version"]
                .as_str()
                .expect("rust-version declared")
        })
        .collect();
    assert_eq!(
        declared.len(),
        1,
        "one rust-version for the workspace: {declared:?}"
    );
    let declared = *declared.iter().next().expect("one");

    let mut seen = BTreeSet::new();
    let mut needed = (vec![0, 0, 0], String::new());
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let package = packages[id];
        if !PUBLISHED.contains(&package["name"].as_str().unwrap_or_default()) {
            if let Some(v) = package["rust_version"].as_str() {
                if version(v) > needed.0 {
                    needed = (
                        version(v),
                        format!("{} {} needs {v}", package["name"], package["version"]),
                    );
                }
            }
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let runtime = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if runtime {
                todo.push(dep["pkg"].as_str().expect("pkg"));
            }
        }
    }
    assert_eq!(
        version(declared),
        needed.0,
        "workspace rust-version {declared}, but the tree needs exactly: {}",
        needed.1
    );
}
