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
