//! The local default: each finished trace printed to stderr as a tree, so that an app
//! run without Langfuse credentials still shows what it would send.

// Finished observations stay boxed: they move between threads as pointers.
#![allow(clippy::vec_box)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

use langfuse_tracing_core::__layer::state::{Batch, ObservationState};
use langfuse_tracing_core::Level;

use crate::export::destination::{Destination, Undelivered};

/// Collects observations per trace and prints a trace when its local root ends.
#[derive(Debug, Default)]
pub(crate) struct ConsoleDestination {
    pending: HashMap<u128, Batch>,
    environment: Option<String>,
}

impl ConsoleDestination {
    pub(crate) fn new(environment: Option<String>) -> Self {
        ConsoleDestination {
            pending: HashMap::new(),
            environment,
        }
    }
}

impl Destination for ConsoleDestination {
    fn export(&mut self, batch: &mut Batch) -> Result<(), Undelivered> {
        let mut complete = Vec::new();
        for st in batch.drain(..) {
            let trace_id = st.trace_id;
            let root = st.is_app_root;
            self.pending.entry(trace_id).or_default().push(st);
            if root {
                complete.push(trace_id);
            }
        }
        let mut out = String::new();
        for trace_id in complete {
            if let Some(spans) = self.pending.remove(&trace_id) {
                render_trace(&mut out, trace_id, spans, self.environment.as_deref());
            }
        }
        print(&out);
        Ok(())
    }

    fn shutdown(&mut self) {
        // Traces whose root never ended (a manual observation left open) still show.
        let mut out = String::new();
        for (trace_id, spans) in std::mem::take(&mut self.pending) {
            render_trace(&mut out, trace_id, spans, self.environment.as_deref());
        }
        print(&out);
    }
}

fn print(out: &str) {
    if !out.is_empty() {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

/// Renders one trace; public within the crate for tests.
pub(crate) fn render_trace(
    out: &mut String,
    trace_id: u128,
    mut spans: Batch,
    environment: Option<&str>,
) {
    spans.sort_by_key(|s| s.start_time);
    let ids: Vec<u64> = spans.iter().map(|s| s.span_id).collect();
    let roots: Vec<usize> = (0..spans.len())
        .filter(|&i| spans[i].parent_span_id.is_none_or(|p| !ids.contains(&p)))
        .collect();
    let total = spans
        .iter()
        .map(|s| s.end_time.unwrap_or(s.start_time))
        .max()
        .and_then(|end| {
            let start = spans.iter().map(|s| s.start_time).min()?;
            end.duration_since(start).ok()
        });
    let _ = write!(
        out,
        "langfuse trace {trace_id:032x}  {} observation{}",
        spans.len(),
        if spans.len() == 1 { "" } else { "s" }
    );
    if let Some(t) = total {
        let _ = write!(out, ", {}", duration(t));
    }
    if let Some(env) = environment {
        let _ = write!(out, ", environment {env}");
    }
    out.push('\n');
    for (n, &i) in roots.iter().enumerate() {
        render_node(out, &spans, i, "", n + 1 == roots.len());
    }
}

fn render_node(
    out: &mut String,
    spans: &[Box<ObservationState>],
    i: usize,
    prefix: &str,
    last: bool,
) {
    let st = &spans[i];
    let _ = write!(
        out,
        "{prefix}{}{} {}",
        if last { "└─ " } else { "├─ " },
        st.as_type,
        st.name.as_deref().unwrap_or("?")
    );
    let end = st.end_time.unwrap_or(st.start_time);
    let _ = write!(
        out,
        "  {}",
        duration(end.duration_since(st.start_time).unwrap_or_default())
    );
    if let Some(g) = &st.generation {
        if let Some(m) = &g.model {
            let _ = write!(out, "  model={m}");
        }
        if let Some(u) = &g.usage_details {
            let _ = write!(out, "  usage={}", one_line(u, 80));
        }
        if let Some(c) = &g.cost_details {
            let _ = write!(out, "  cost={}", one_line(c, 80));
        }
    }
    if let Some(level) = st.level.filter(|l| *l != Level::Default) {
        let _ = write!(out, "  [{level}");
        if let Some(m) = &st.status_message {
            let _ = write!(out, ": {}", one_line(m, 120));
        }
        out.push(']');
    }
    out.push('\n');
    let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
    if let Some(input) = &st.input {
        let _ = writeln!(out, "{child_prefix}   in:  {}", one_line(input, 100));
    }
    if let Some(output) = &st.output {
        let _ = writeln!(out, "{child_prefix}   out: {}", one_line(output, 100));
    }
    let children: Vec<usize> = (0..spans.len())
        .filter(|&j| j != i && spans[j].parent_span_id == Some(st.span_id))
        .collect();
    for (n, &j) in children.iter().enumerate() {
        render_node(out, spans, j, &child_prefix, n + 1 == children.len());
    }
}

fn duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// Newlines and tabs folded to spaces, cut to `max` characters with an ellipsis.
fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 3));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

#[allow(dead_code)]
fn _now() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use langfuse_tracing_core::ObservationType;

    fn obs(
        id: u64,
        parent: Option<u64>,
        name: &'static str,
        t: ObservationType,
        start_ms: u64,
        end_ms: u64,
    ) -> ObservationState {
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut s = ObservationState::new(0xabc, id, parent, true);
        s.name = Some(name.into());
        s.as_type = t;
        s.start_time = base + Duration::from_millis(start_ms);
        s.end_time = Some(base + Duration::from_millis(end_ms));
        s.is_app_root = parent.is_none();
        s
    }

    #[test]
    fn renders_a_tree_with_model_usage_errors_and_one_line_io() {
        let mut root = obs(1, None, "pipeline", ObservationType::Span, 0, 120);
        root.input = Some("{\"q\": \"line one\nline two\"}".into());
        let mut gen = obs(2, Some(1), "llm", ObservationType::Generation, 10, 90);
        gen.generation_mut().model = Some("gpt-4o".into());
        gen.generation_mut().usage_details = Some("{\"input\": 10, \"output\": 50}".into());
        let mut tool = obs(3, Some(1), "weather", ObservationType::Tool, 95, 100);
        tool.set_error("tool failed".into());
        tool.output = Some("x".repeat(300));
        let mut out = String::new();
        let spans = [tool, root, gen].into_iter().map(Box::new).collect();
        render_trace(&mut out, 0xabc, spans, Some("dev"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "langfuse trace 00000000000000000000000000000abc  3 observations, 120.0ms, environment dev");
        assert_eq!(lines[1], "└─ span pipeline  120.0ms");
        assert_eq!(lines[2], "      in:  {\"q\": \"line one line two\"}");
        assert_eq!(
            lines[3],
            "   ├─ generation llm  80.0ms  model=gpt-4o  usage={\"input\": 10, \"output\": 50}"
        );
        assert_eq!(lines[4], "   └─ tool weather  5.0ms  [ERROR: tool failed]");
        assert!(lines[5].starts_with("         out: xxxx") && lines[5].ends_with('…'));
        assert_eq!(lines[5].chars().filter(|&c| c == 'x').count(), 100);
    }
}
