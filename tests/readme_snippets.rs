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

#[test]
fn every_readme_snippet_is_an_example_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
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
    let blocks = rust_blocks(&readme);
    assert!(blocks.len() >= 3, "the README's snippets were found");
    for block in blocks {
        assert!(
            examples.iter().any(|(_, text)| text.contains(&block)),
            "this README snippet is not an example verbatim (add it to examples/ \
             and to tests/examples_run.rs):\n{block}"
        );
    }
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
