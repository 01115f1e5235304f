//! The local default: without credentials, each finished trace is printed to stderr as a
//! tree. The test re-runs itself as a child process (so `init()` can install a global
//! subscriber and stderr can be read) and checks what the child printed.

use std::process::Command;

use langfuse_tracing::observation::{generation, span, tool, GenerationUpdate, SpanUpdate};
use langfuse_tracing::Level;
use serde_json::json;

const CHILD: &str = "LANGFUSE_TEST_CONSOLE_CHILD";

fn child_main() {
    let _langfuse = langfuse_tracing::init().expect("init");
    span("answer-question")
        .input(&"What is the capital of France?")
        .run(|root| {
            generation("llm-call").model("gpt-4o").run(|g| {
                g.update(
                    GenerationUpdate::new()
                        .usage_details(&json!({"input": 10, "output": 50}))
                        .output(&"Paris"),
                );
            });
            tool("weather").run(|t| {
                t.update(
                    SpanUpdate::new()
                        .level(Level::Error)
                        .status_message("tool failed\nfor 7"),
                );
            });
            root.update(SpanUpdate::new().output(&"x".repeat(500)));
        });
}

fn run_child(extra_env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "console_prints_each_finished_trace_as_a_tree",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1");
    for (k, _) in std::env::vars() {
        if k.starts_with("LANGFUSE_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run child");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn console_prints_each_finished_trace_as_a_tree() {
    if std::env::var_os(CHILD).is_some() {
        return child_main();
    }
    let stderr = run_child(&[]);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("running") && !l.starts_with("test "))
        .collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("langfuse trace "))
        .unwrap_or_else(|| panic!("no tree in:\n{stderr}"));
    let tree = &lines[start..];
    assert!(tree[0].contains(" 3 observations, "), "{}", tree[0]);
    assert!(
        tree[1].starts_with("└─ span answer-question  "),
        "{}",
        tree[1]
    );
    assert_eq!(tree[2], "      in:  What is the capital of France?");
    assert!(
        tree[3].starts_with("      out: xxxx") && tree[3].ends_with('…'),
        "output cut to one line: {}",
        tree[3]
    );
    assert!(
        tree[4].starts_with("   ├─ generation llm-call  ")
            && tree[4].ends_with(r#"model=gpt-4o  usage={"input": 10, "output": 50}"#),
        "{}",
        tree[4]
    );
    assert_eq!(tree[5], "   │     out: Paris");
    assert!(
        tree[6].starts_with("   └─ tool weather  ")
            && tree[6].ends_with("[ERROR: tool failed for 7]"),
        "{}",
        tree[6]
    );
}

#[test]
fn console_can_be_turned_off_explicitly() {
    let stderr = run_child(&[("LANGFUSE_CONSOLE", "false")]);
    assert!(!stderr.contains("langfuse trace "), "{stderr}");
}
