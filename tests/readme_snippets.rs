//! Every Rust snippet of the README is an example, verbatim: the README cannot drift
//! from code that compiles, and `tests/examples_run.rs` runs each of those examples
//! against the in-process receiver and checks what arrived.

use std::path::Path;

/// The Rust code blocks of a Markdown text.
fn rust_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.starts_with("```rust") => current = Some(String::new()),
            None => {}
            Some(_) if line.starts_with("```") => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

/// The README of the repository and that of the published `langfuse-tracing` crate (the
/// one crates.io shows): their snippets are what a new user copies.
const READMES: [&str; 2] = ["README.md", "langfuse-subscriber/README.md"];

#[test]
fn every_readme_snippet_is_an_example_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples: Vec<(String, String)> = std::fs::read_dir(root.join("examples"))
        .expect("examples/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("example source");
            (p.display().to_string(), text)
        })
        .collect();
    for name in READMES {
        let readme = std::fs::read_to_string(root.join(name)).expect("the README");
        let blocks = rust_blocks(&readme);
        assert!(!blocks.is_empty(), "the snippets of {name} were found");
        for block in blocks {
            assert!(
                examples.iter().any(|(_, text)| text.contains(&block)),
                "this snippet of {name} is not an example verbatim (add it to examples/ \
                 and to tests/examples_run.rs):\n{block}"
            );
        }
    }
}

/// The names a snippet's `use` lines bring into scope (`fmt` of
/// `use tracing_subscriber::{fmt, EnvFilter};`): paths starting with them are not crates.
fn imported_names(snippet: &str) -> Vec<&str> {
    snippet
        .lines()
        .filter_map(|line| line.trim().strip_prefix("use "))
        .flat_map(|path| {
            let tail = path.rsplit("::").next().unwrap_or_default();
            tail.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|name| !name.is_empty())
        })
        .collect()
}

/// The crates a snippet names at the start of a path (`use serde_json::Value`,
/// `#[tokio::main]`, `tracing::info!`), in Cargo's spelling with `_`.
fn crates_named(snippet: &str) -> Vec<String> {
    let imported = imported_names(snippet);
    let mut crates = Vec::new();
    for (i, _) in snippet.match_indices("::") {
        let start = snippet[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |j| j + 1);
        let name = &snippet[start..i];
        let preceded_by_path = snippet[..start].ends_with("::");
        if !name.is_empty()
            && !preceded_by_path
            && !imported.contains(&name)
            && name.starts_with(|c: char| c.is_ascii_lowercase())
        {
            crates.push(name.to_owned());
        }
    }
    crates.sort();
    crates.dedup();
    crates
}

/// A new user pastes the `[dependencies]` block and then a snippet: every crate the
/// snippets use is in that block (or is `std`).
#[test]
fn the_readme_dependencies_cover_every_crate_its_snippets_use() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let toml = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's [dependencies] block");
    let listed: Vec<String> = toml
        .lines()
        .filter_map(|line| {
            line.split_once('=')
                .map(|(name, _)| name.trim().replace('-', "_"))
        })
        .collect();
    for block in rust_blocks(&readme) {
        for name in crates_named(&block) {
            if ["std", "self", "super", "crate"].contains(&name.as_str()) {
                continue;
            }
            assert!(
                listed.contains(&name),
                "a README snippet uses `{name}`, missing from its [dependencies] block \
                 {listed:?}:\n{block}"
            );
        }
    }
}

#[test]
fn crates_named_finds_path_roots_only() {
    let snippet = "use serde_json::Value;\nuse tracing_subscriber::{fmt, EnvFilter};\n\
                   #[tokio::main]\nlet x = std::io::Error::other(a::b);\nfmt::layer();";
    assert_eq!(
        crates_named(snippet),
        ["a", "serde_json", "std", "tokio", "tracing_subscriber"]
    );
}

/// The targets of the Markdown links `[text](target)` and autolinks `<target>` of a text.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for (i, _) in markdown.match_indices("](") {
        let rest = &markdown[i + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].to_owned());
        }
    }
    for (i, _) in markdown.match_indices('<') {
        let rest = &markdown[i + 1..];
        if let Some(end) = rest.find('>') {
            let target = &rest[..end];
            if target.contains("://") {
                targets.push(target.to_owned());
            }
        }
    }
    targets
}

#[test]
fn the_readme_links_only_files_of_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let targets = link_targets(&readme);
    assert!(!targets.is_empty(), "the README's links were found");
    for target in targets {
        let path = target.split('#').next().unwrap_or_default();
        assert!(
            !target.contains("://") && !target.starts_with("//"),
            "the README links outside the repository: {target}"
        );
        assert!(
            path.is_empty() || root.join(path).exists(),
            "the README links a file that does not exist: {target}"
        );
    }
}
