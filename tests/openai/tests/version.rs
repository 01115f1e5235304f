//! The `async-openai` version the README states is the one `langfuse-tracing` requires,
//! the one this crate's tests build against (Cargo.lock), and the one they compile
//! the integration with (issue 21, item 5).

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `version` requirement of the `async-openai` dependency in a manifest.
fn requirement(manifest: &str) -> String {
    let line = manifest
        .lines()
        .find(|l| l.starts_with("async-openai = {"))
        .expect("an async-openai dependency");
    let after = line.split("version = \"").nth(1).expect("a version");
    after[..after.find('"').expect("closing quote")].to_owned()
}

/// The version of `async-openai` in the lock file.
fn locked(lock: &str) -> String {
    let entry = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"async-openai\"\n"))
        .expect("async-openai in Cargo.lock");
    let after = entry.split("\nversion = \"").nth(1).expect("a version");
    after[..after.find('"').expect("closing quote")].to_owned()
}

/// The README's section on the integration.
fn readme_section(readme: &str) -> &str {
    let start = readme
        .find("## OpenAI (async-openai)")
        .expect("README section `## OpenAI (async-openai)`");
    let rest = &readme[start + 3..];
    &readme[start..start + 3 + rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn the_readme_states_the_async_openai_version_that_is_required_locked_and_built() {
    // The integration compiles in this crate, against the locked version.
    let _ = std::any::type_name::<
        langfuse_tracing::openai::Observed<async_openai::config::OpenAIConfig>,
    >();

    let required = requirement(&read("../../langfuse-subscriber/Cargo.toml"));
    assert_eq!(
        requirement(&read("Cargo.toml")),
        required,
        "tests/openai requires what langfuse-tracing does"
    );
    let locked = locked(&read("../../Cargo.lock"));
    assert!(
        locked.starts_with(&format!("{required}.")),
        "Cargo.lock has async-openai {locked}, outside the requirement {required}"
    );

    let readme = read("../../README.md");
    let section = readme_section(&readme);
    let stated = format!("Supported version: `async-openai` {required} (tested with {locked})");
    assert!(
        section.contains(&stated),
        "the README's OpenAI section should say {stated:?}:\n{section}"
    );
}
