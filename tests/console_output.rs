//! The local default: without credentials, each finished trace is printed to stderr as a
//! tree. The test re-runs itself as a child process (so `init()` can install a global
//! subscriber and stderr can be read) and checks what the child printed.

use std::process::Command;

use std::time::{Duration, SystemTime};

use langfuse_tracing::observation::{
    generation, span, tool, update_current_generation, update_current_trace, GenerationUpdate,
    SpanUpdate, TraceUpdate,
};
use langfuse_tracing::Level;
use serde_json::json;

const CHILD: &str = "LANGFUSE_TEST_CONSOLE_CHILD";

fn child_main() {
    let _langfuse = langfuse_tracing::init().expect("init");
    span("answer-question")
        .input(&"What is the capital of France?")
        .run(|root| {
            update_current_trace(
                TraceUpdate::new()
                    .user_id("user_123")
                    .session_id("session_abc")
                    .tags(["beta", "eu"]),
            );
            generation("llm-call").model("gpt-4o").run(|g| {
                // The first token 250 ms after the start (a recorded time, not a wait).
                let first = SystemTime::now() + Duration::from_millis(250);
                g.update(
                    GenerationUpdate::new()
                        .usage_details(&json!({"input": 10, "output": 50}))
                        .completion_start_time(first)
                        .output(&"Paris"),
                );
            });
            tool("weather").run(|t| {
                // A model on a tool is not exported: one warning for both updates,
                // and the tree does not show it as a model.
                update_current_generation(GenerationUpdate::new().model("gpt-4o-mini"));
                update_current_generation(GenerationUpdate::new().model("gpt-4o-mini"));
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
    let warning = "langfuse: update_current_generation: model, usage, cost, completion start \
                   time and prompt are only exported for generation-like observations \
                   (generation, embedding); not sent for this `tool` observation";
    assert_eq!(
        lines.iter().filter(|l| l.starts_with(warning)).count(),
        1,
        "one warning, shown once:\n{stderr}"
    );
    let tree = &lines[start..];
    assert!(tree[0].contains(" 3 observations, "), "{}", tree[0]);
    assert!(
        tree[0].ends_with(", user user_123, session session_abc, tags [beta, eu]"),
        "{}",
        tree[0]
    );
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
    // Time to first token: completion start time minus start (≥ the 250 ms recorded).
    let ttft = tree[4]
        .split("ttft=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no ttft: {}", tree[4]));
    let secs = match (ttft.strip_suffix("ms"), ttft.strip_suffix('s')) {
        (Some(ms), _) => ms.parse::<f64>().unwrap() / 1e3,
        (None, Some(s)) => s.parse::<f64>().unwrap(),
        _ => panic!("{ttft}"),
    };
    assert!(secs >= 0.25, "{ttft}");
    assert!(
        tree[4].starts_with("   ├─ generation llm-call  ")
            && tree[4].contains("  model=gpt-4o  ttft=")
            && tree[4].ends_with(r#"  usage={"input": 10, "output": 50}"#),
        "{}",
        tree[4]
    );
    assert_eq!(tree[5], "   │     out: Paris");
    assert!(
        tree[6].starts_with("   └─ tool weather  ")
            && tree[6].ends_with("  [not exported on a tool: model]  [ERROR: tool failed for 7]"),
        "{}",
        tree[6]
    );
    assert!(!stderr.contains("gpt-4o-mini"), "{stderr}");
}

#[test]
fn console_can_be_turned_off_explicitly() {
    let stderr = run_child(&[("LANGFUSE_CONSOLE", "false")]);
    assert!(!stderr.contains("langfuse trace "), "{stderr}");
}
