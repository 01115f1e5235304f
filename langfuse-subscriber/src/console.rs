//! The local default: each finished trace printed to stderr as a tree, so that an app
//! run without Langfuse credentials still shows what it would send.

// Finished observations stay boxed: they move between threads as pointers.
#![allow(clippy::vec_box)]

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime};

use langfuse_tracing_core::__layer::state::{Batch, ObservationState};
use langfuse_tracing_core::Level;

use crate::export::destination::{Destination, Undelivered};

/// Observations waiting for their trace's root, at most: beyond, the oldest traces are
/// printed as they are (a long-running root must not hold its children without bound).
const MAX_WAITING: usize = 10_000;
/// How long a trace waits for its root before it is printed as it is (a child ending
/// after its root was printed, a root that runs for hours).
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Collects observations per trace and prints a trace when its local root ends.
#[derive(Debug, Default)]
pub(crate) struct ConsoleDestination {
    pending: HashMap<u128, Waiting>,
    /// Observations in `pending`.
    waiting: usize,
    /// [`MAX_WAITING`] and [`MAX_WAIT`] (smaller in tests).
    max_waiting: usize,
    max_wait: Duration,
    environment: Option<String>,
}

/// A trace's observations waiting for its root, since the first of them arrived.
#[derive(Debug)]
struct Waiting {
    since: Instant,
    spans: Batch,
}

impl ConsoleDestination {
    pub(crate) fn new(environment: Option<String>) -> Self {
        ConsoleDestination {
            environment,
            max_waiting: MAX_WAITING,
            max_wait: MAX_WAIT,
            ..ConsoleDestination::default()
        }
    }

    fn print_trace(&mut self, out: &mut String, trace_id: u128, partial: bool) {
        let Some(waiting) = self.pending.remove(&trace_id) else {
            return;
        };
        self.waiting -= waiting.spans.len();
        let start = out.len();
        render_trace(out, trace_id, waiting.spans, self.environment.as_deref());
        if partial {
            if let Some(end_of_header) = out[start..].find('\n') {
                out.insert_str(
                    start + end_of_header,
                    "  (partial: its root has not ended yet)",
                );
            }
        }
    }

    /// Prints, as they are, the traces that waited too long and, while too many
    /// observations wait, the oldest.
    fn print_overdue(&mut self, out: &mut String, now: Instant) {
        let overdue: Vec<u128> = self
            .pending
            .iter()
            .filter(|(_, w)| now.duration_since(w.since) >= self.max_wait)
            .map(|(id, _)| *id)
            .collect();
        for trace_id in overdue {
            self.print_trace(out, trace_id, true);
        }
        if self.waiting <= self.max_waiting {
            return;
        }
        let mut by_age: Vec<(Instant, u128)> =
            self.pending.iter().map(|(id, w)| (w.since, *id)).collect();
        by_age.sort_unstable();
        for (_, trace_id) in by_age {
            if self.waiting <= self.max_waiting {
                break;
            }
            self.print_trace(out, trace_id, true);
        }
    }
}

impl Destination for ConsoleDestination {
    fn exported(&self, n: usize) -> String {
        format!(
            "printed {n} observation{} to stderr (the console; nothing sent without both \
             LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY)",
            if n == 1 { "" } else { "s" }
        )
    }

    fn export(&mut self, batch: &mut Batch) -> Result<(), Undelivered> {
        let out = self.take(batch, Instant::now());
        print(&out);
        Ok(())
    }

    fn shutdown(&mut self) {
        // Traces whose root never ended (a manual observation left open) still show.
        let mut out = String::new();
        let ids: Vec<u128> = self.pending.keys().copied().collect();
        for trace_id in ids {
            self.print_trace(&mut out, trace_id, false);
        }
        print(&out);
    }
}

impl ConsoleDestination {
    /// Takes a batch; returns the text of the traces it completes or that are overdue.
    fn take(&mut self, batch: &mut Batch, now: Instant) -> String {
        let mut complete = Vec::new();
        for st in batch.drain(..) {
            let trace_id = st.trace_id;
            let root = st.is_app_root;
            self.pending
                .entry(trace_id)
                .or_insert_with(|| Waiting {
                    since: now,
                    spans: Batch::new(),
                })
                .spans
                .push(st);
            self.waiting += 1;
            if root {
                complete.push(trace_id);
            }
        }
        let mut out = String::new();
        for trace_id in complete {
            self.print_trace(&mut out, trace_id, false);
        }
        self.print_overdue(&mut out, now);
        out
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
    let ids: HashSet<u64> = spans.iter().map(|s| s.span_id).collect();
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
    write_trace_attributes(out, &spans);
    out.push('\n');
    // Depth first with a stack of its own, not recursion: a trace may be thousands of
    // observations deep, and this runs on the export thread's small stack.
    let mut children: HashMap<u64, Vec<usize>> = HashMap::new();
    for (j, st) in spans.iter().enumerate() {
        if let Some(parent) = st.parent_span_id {
            children.entry(parent).or_default().push(j);
        }
    }
    let mut stack: Vec<(usize, String, bool)> = roots
        .iter()
        .enumerate()
        .rev()
        .map(|(n, &i)| (i, String::new(), n + 1 == roots.len()))
        .collect();
    // Each observation once, even if ids repeat.
    let mut shown = vec![false; spans.len()];
    while let Some((i, prefix, last)) = stack.pop() {
        if std::mem::replace(&mut shown[i], true) {
            continue;
        }
        let mut child_prefix = render_node(out, &spans, i, &prefix, last);
        if child_prefix.chars().count() > MAX_INDENT {
            // Deeper levels keep this indentation: the output stays linear in depth.
            child_prefix = prefix;
        }
        let kids: Vec<usize> = children.get(&spans[i].span_id).map_or(Vec::new(), |k| {
            k.iter().copied().filter(|&j| j != i).collect()
        });
        for (n, &j) in kids.iter().enumerate().rev() {
            stack.push((j, child_prefix.clone(), n + 1 == kids.len()));
        }
    }
}

/// User, session and tags as sent: each observation's own trace update, else what it
/// was propagated (as `span_attributes::walk`); every distinct value, in start order.
fn write_trace_attributes(out: &mut String, spans: &[Box<ObservationState>]) {
    let mut users: Vec<&str> = Vec::new();
    let mut sessions: Vec<&str> = Vec::new();
    let mut tags: Vec<&str> = Vec::new();
    for st in spans {
        let trace = st.trace.as_deref();
        let prop = st.propagated.as_deref();
        let user = trace.and_then(|t| t.user_id.as_deref());
        if let Some(u) = user.or(prop.and_then(|p| p.user_id.as_deref())) {
            if !users.contains(&u) {
                users.push(u);
            }
        }
        let session = trace.and_then(|t| t.session_id.as_deref());
        if let Some(v) = session.or(prop.and_then(|p| p.session_id.as_deref())) {
            if !sessions.contains(&v) {
                sessions.push(v);
            }
        }
        let own = trace.map(|t| t.tags.as_slice()).unwrap_or_default();
        let propagated = prop.map(|p| p.tags.as_slice()).unwrap_or_default();
        for t in propagated.iter().chain(own) {
            if !tags.contains(&t.as_str()) {
                tags.push(t);
            }
        }
    }
    let list = |v: &[&str]| {
        v.iter()
            .map(|s| one_line(s, 60))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !users.is_empty() {
        let _ = write!(out, ", user {}", list(&users));
    }
    if !sessions.is_empty() {
        let _ = write!(out, ", session {}", list(&sessions));
    }
    if !tags.is_empty() {
        let _ = write!(out, ", tags [{}]", list(&tags));
    }
}

/// Columns of indentation beyond which deeper observations are shown at the same
/// depth (30 levels).
const MAX_INDENT: usize = 90;

/// Writes one observation's lines; returns the prefix of its children's lines.
fn render_node(
    out: &mut String,
    spans: &[Box<ObservationState>],
    i: usize,
    prefix: &str,
    last: bool,
) -> String {
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
    // Generation fields as the exporter writes them: only for generation-like types.
    match &st.generation {
        Some(g) if st.as_type.is_generation_like() => {
            if let Some(m) = &g.model {
                let _ = write!(out, "  model={}", one_line(m, 80));
            }
            if let Some(first) = g.completion_start_time.as_deref().and_then(parse_iso8601) {
                let ttft = first.duration_since(st.start_time).unwrap_or_default();
                let _ = write!(out, "  ttft={}", duration(ttft));
            }
            if let Some(u) = &g.usage_details {
                let _ = write!(out, "  usage={}", one_line(u, 80));
            }
            if let Some(c) = &g.cost_details {
                let _ = write!(out, "  cost={}", one_line(c, 80));
            }
        }
        Some(g) => {
            let set = [
                ("model", g.model.is_some()),
                ("model parameters", g.model_parameters.is_some()),
                ("usage", g.usage_details.is_some()),
                ("cost", g.cost_details.is_some()),
                ("completion start time", g.completion_start_time.is_some()),
                ("prompt", g.prompt.is_some()),
            ];
            let names: Vec<&str> = set.iter().filter(|f| f.1).map(|f| f.0).collect();
            if !names.is_empty() {
                let _ = write!(
                    out,
                    "  [not exported on a {}: {}]",
                    st.as_type,
                    names.join(", ")
                );
            }
        }
        None => {}
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
    child_prefix
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

/// A completion start time as recorded: `2025-01-02T03:04:05.678901Z`, in JSON quotes
/// or not, with any number of fraction digits, `Z` or a `+hh:mm` / `-hh:mm` offset.
/// `None` for anything else (the console then leaves the figure out).
fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let t = text.trim();
    let t = t
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(t);
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = (i - start).min(9);
        if digits == 0 {
            return None;
        }
        nanos *= 10u64.pow(9 - digits as u32);
    }
    let offset = match t.get(i..)? {
        "Z" | "z" => 0,
        // `get`, not indexing: the text is the user's, and may hold non-ASCII bytes.
        o if o.len() == 6 && matches!(o.get(..1), Some("+" | "-")) && o.get(3..4) == Some(":") => {
            let mins = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if o.starts_with('+') {
                mins * 60
            } else {
                -mins * 60
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos as u32))
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

    #[test]
    fn shows_user_session_tags_and_ttft_and_marks_generation_fields_not_exported() {
        use langfuse_tracing_core::__layer::time::io_encoded_timestamp;
        let mut root = obs(1, None, "pipeline", ObservationType::Span, 0, 120);
        root.trace_mut().user_id = Some("user_123".into());
        root.trace_mut().session_id = Some("session_abc".into());
        root.trace_mut().tags = vec!["beta".into(), "eu".into()];
        // A model on a span is not exported: not shown as if it were.
        root.generation_mut().model = Some("gpt-4o".into());
        root.generation_mut().usage_details = Some("{}".into());
        let mut gen = obs(2, Some(1), "llm", ObservationType::Generation, 10, 90);
        gen.generation_mut().model = Some("gpt-4o".into());
        let first = gen.start_time + Duration::from_millis(25);
        gen.generation_mut().completion_start_time = Some(io_encoded_timestamp(first));
        gen.trace_mut().tags = vec!["eu".into(), "llm".into()];
        let mut out = String::new();
        let spans = [root, gen].into_iter().map(Box::new).collect();
        render_trace(&mut out, 0xabc, spans, None);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].ends_with(", user user_123, session session_abc, tags [beta, eu, llm]"),
            "{}",
            lines[0]
        );
        assert_eq!(
            lines[1],
            "└─ span pipeline  120.0ms  [not exported on a span: model, usage]"
        );
        assert_eq!(
            lines[2],
            "   └─ generation llm  80.0ms  model=gpt-4o  ttft=25.0ms"
        );
    }

    /// Children of a root that has not ended wait at most `max_waiting` observations
    /// or `max_wait`: then their trace is printed as it is, marked partial, and nothing
    /// stays held (a long-running root held every child before).
    #[test]
    fn waiting_traces_are_bounded_by_count_and_age() {
        let mut console = ConsoleDestination::new(None);
        console.max_waiting = 5;
        let now = Instant::now();
        let children = |range: std::ops::Range<u64>| -> Batch {
            range
                .map(|id| Box::new(obs(id, Some(1), "child", ObservationType::Span, id, id + 1)))
                .collect()
        };
        assert_eq!(console.take(&mut children(2..6), now), "");
        assert_eq!(console.waiting, 4);
        let out = console.take(&mut children(6..9), now);
        assert!(out.starts_with("langfuse trace "), "{out}");
        assert!(out
            .lines()
            .next()
            .unwrap()
            .ends_with("(partial: its root has not ended yet)"));
        assert_eq!(out.matches("span child").count(), 7);
        assert_eq!((console.waiting, console.pending.len()), (0, 0));
        // A child ending after its root was printed waits `max_wait` at most.
        assert_eq!(console.take(&mut children(9..10), now), "");
        let later = now + MAX_WAIT;
        let out = console.take(&mut Batch::new(), later);
        assert_eq!(out.matches("span child").count(), 1, "{out}");
        assert_eq!(console.waiting, 0);
    }

    /// Rendered with a stack of its own: a 100,000-deep chain (far past what recursion on
    /// a test thread's stack holds) renders every observation once, indented.
    #[test]
    fn renders_a_very_deep_chain_without_recursion() {
        let depth = 100_000u64;
        let spans = (1..=depth)
            .map(|id| {
                let parent = (id > 1).then(|| id - 1);
                Box::new(obs(id, parent, "s", ObservationType::Span, id, id + 1))
            })
            .collect();
        let mut out = String::new();
        render_trace(&mut out, 0xabc, spans, None);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len() as u64, depth + 1);
        assert!(lines[1].starts_with("└─ span s"));
        assert!(lines[3].starts_with("      └─ span s"), "{}", lines[3]);
        // Indentation stops growing, so the output is linear in the depth.
        let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(widest < MAX_INDENT + 40, "{widest}");
    }

    /// Ids that repeat (a child naming an id two observations hold) never loop.
    #[test]
    fn repeated_ids_render_each_observation_once() {
        let root = obs(1, None, "root", ObservationType::Span, 0, 10);
        let a = obs(2, Some(1), "a", ObservationType::Span, 1, 9);
        let b = obs(1, Some(2), "b", ObservationType::Span, 2, 8);
        let mut out = String::new();
        render_trace(
            &mut out,
            0xabc,
            vec![Box::new(root), Box::new(a), Box::new(b)],
            None,
        );
        assert_eq!(out.lines().count(), 4, "{out}");
    }

    /// The offset is the user's text: non-ASCII bytes there are no time, never a panic.
    #[test]
    fn a_non_ascii_offset_is_no_time() {
        assert_eq!(parse_iso8601("2025-01-02T03:04:05+0\u{e9}00"), None);
        assert_eq!(parse_iso8601("2025-01-02T03:04:05\u{e9}0:00"), None);
        assert_eq!(parse_iso8601("2025-01-02T03:04:05\u{1f600}"), None);
    }

    #[test]
    fn parses_the_completion_start_time_forms() {
        let t = |s: u64, n: u32| Some(SystemTime::UNIX_EPOCH + Duration::new(s, n));
        assert_eq!(
            parse_iso8601("\"2025-01-02T03:04:05.678901Z\""),
            t(1_735_787_045, 678_901_000)
        );
        assert_eq!(parse_iso8601("2025-01-02T03:04:05Z"), t(1_735_787_045, 0));
        assert_eq!(
            parse_iso8601("2025-01-02T05:04:05.5+02:00"),
            t(1_735_787_045, 500_000_000)
        );
        assert_eq!(parse_iso8601("2000-02-29T00:00:00Z"), t(951_782_400, 0));
        for bad in [
            "",
            "\"",
            "yesterday",
            "2025-13-02T03:04:05Z",
            "2025-01-02T03:04:05",
            "2025-01-02T03:04:05.Z",
            "2025-01-02T03:04:05Zx",
            "１２３４-01-02T03:04:05Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
