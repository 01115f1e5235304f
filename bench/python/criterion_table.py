"""Markdown table of the `observe` criterion group: per-call median and min-max over
the samples of the last run, and the target ratios.

    python3 bench/python/criterion_table.py [TARGET_DIR/criterion]

Reads `observe/<id>/new/sample.json` (criterion's raw samples: iterations and total
time per sample); the time per call of a sample is time / iterations.
"""

import json
import os
import statistics
import sys

ROWS = [
    ("a_plain", "a. plain function"),
    ("b_observe_bare_no_subscriber", "b. `#[observe]`, no subscriber (macro only)"),
    ("b_instrument_bare_no_subscriber", "b (reference). `#[tracing::instrument]`, same span, no subscriber"),
    ("b_observe_no_subscriber", "b. `#[observe]` + `update_current_generation(model)`, no subscriber"),
    ("e0_floor_json", "e'. plain + building input/output JSON (floor)"),
    ("r_registry_only_manual_span", "r. the same span in `tracing_subscriber::registry()` alone (substrate)"),
    ("c_observe_langfuse_noop", "c. `#[observe]` + LangfuseLayer, discarding exporter"),
    ("c_manual_langfuse_noop", "c. hand-written span (model as field), discarding exporter"),
    ("d_instrument_otel_noop", "d. `#[instrument]` + tracing-opentelemetry, discarding exporter"),
    ("c_observe_langfuse_otlp", "c. `#[observe]` + LangfuseLayer → loopback OTLP"),
    ("d_instrument_otel_otlp", "d. `#[instrument]` + tracing-opentelemetry + otlp → loopback"),
    ("e_fastrace_otel_otlp", "e. fastrace `#[trace]` + fastrace-opentelemetry → loopback"),
    ("f_observe_langfuse_otlp_4k", "f. c with 4 KiB input/output"),
    ("f_observe_langfuse_otlp_4k_lossless", "f. c with 4 KiB, `queue_full_wait` (waits instead of dropping)"),
    ("f_instrument_otel_otlp_4k", "f. d with 4 KiB input/output"),
    ("g_root100_observe_langfuse_otlp", "g. root + 100 children, c-style, per span"),
    ("g_root100_observe_langfuse_otlp_lossless", "g. c-style with `queue_full_wait` (waits instead of dropping), per span"),
    ("g_root100_instrument_otel_otlp", "g. root + 100 children, d-style, per span"),
    ("g_root100_fastrace_otel_otlp", "g. root + 100 children, e-style, per span"),
    ("s_c_observe_langfuse_otlp", "sustained c"),
    ("s_d_instrument_otel_otlp", "sustained d"),
    ("s_d_instrument_otel_otlp_lossless", "sustained d, 1 Mi-span queue (no loss)"),
    ("s_e_fastrace_otel_otlp", "sustained e"),
    ("s_f_observe_langfuse_otlp_4k", "sustained f (c, 4 KiB)"),
    ("s_f_instrument_otel_otlp_4k", "sustained f (d, 4 KiB)"),
    ("s_g_root100_observe_langfuse_otlp", "sustained g, c-style, per span"),
    ("s_g_root100_instrument_otel_otlp", "sustained g, d-style, per span"),
    ("s_g_root100_fastrace_otel_otlp", "sustained g, e-style, per span"),
]

RATIOS = [
    ("c ≤ 0.25 × d (hot path)", "c_observe_langfuse_otlp", "d_instrument_otel_otlp", "/", 0.25),
    ("c ≤ 0.6 × e (hot path)", "c_observe_langfuse_otlp", "e_fastrace_otel_otlp", "/", 0.6),
    ("c ≤ 2 × e' (hot path)", "c_observe_langfuse_otlp", "e0_floor_json", "/", 2.0),
    ("c ≤ 0.25 × d (sustained)", "s_c_observe_langfuse_otlp", "s_d_instrument_otel_otlp", "/", 0.25),
    ("c ≤ 0.25 × d lossless (sustained)", "s_c_observe_langfuse_otlp", "s_d_instrument_otel_otlp_lossless", "/", 0.25),
    ("c ≤ 0.6 × e (sustained)", "s_c_observe_langfuse_otlp", "s_e_fastrace_otel_otlp", "/", 0.6),
    ("c ≤ 2 × e' (sustained)", "s_c_observe_langfuse_otlp", "e0_floor_json", "/", 2.0),
    ("layer only: c ≤ 0.25 × d (discarding exporters)", "c_observe_langfuse_noop", "d_instrument_otel_noop", "/", 0.25),
    ("g: c-style ≤ 0.25 × d-style (hot path)", "g_root100_observe_langfuse_otlp", "g_root100_instrument_otel_otlp", "/", 0.25),
    ("g: c-style ≤ 0.6 × e-style (hot path)", "g_root100_observe_langfuse_otlp", "g_root100_fastrace_otel_otlp", "/", 0.6),
    ("b − a ≤ 5 ns (macro only; criterion medians, minutes apart: the paired `overhead` program is the figure)", "b_observe_bare_no_subscriber", "a_plain", "-", 5e-9),
    ("b − a ≤ 5 ns (with the model update)", "b_observe_no_subscriber", "a_plain", "-", 5e-9),
    ("reference: #[tracing::instrument] − a", "b_instrument_bare_no_subscriber", "a_plain", "-", 5e-9),
]


def fmt(seconds: float) -> str:
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e9:.1f} ns"


def load(root: str, bench_id: str):
    path = os.path.join(root, "observe", bench_id, "new", "sample.json")
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    per_call = [t * 1e-9 / i for t, i in zip(data["times"], data["iters"])]
    return statistics.median(per_call), min(per_call), max(per_call)


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join("target", "criterion")
    stats = {}
    print("| id | scenario | median | min – max |")
    print("|---|---|---|---|")
    for bench_id, label in ROWS:
        s = load(root, bench_id)
        if s is None:
            continue
        stats[bench_id] = s
        print(f"| `{bench_id}` | {label} | {fmt(s[0])} | {fmt(s[1])} – {fmt(s[2])} |")
    print()
    print("| target | measured (medians) | met |")
    print("|---|---|---|")
    for label, x, y, op, limit in RATIOS:
        if x not in stats or y not in stats:
            continue
        if op == "/":
            value = stats[x][0] / stats[y][0]
            shown = f"{value:.2f}"
        else:
            value = stats[x][0] - stats[y][0]
            shown = fmt(value) if value > 0 else f"-{fmt(-value)}"
        met = "yes" if value <= limit else "**no**"
        print(f"| {label} | {shown} | {met} |")


if __name__ == "__main__":
    main()
