"""Issue 18's guard from one run of the `observe` criterion group: per-call medians of
r, c, d (and the sustained pair when present) and their ratios, on one line.

    CRITERION_HOME=/tmp/crit-1 target/release/deps/observe-* --bench '<filter>' ...
    python3 bench/python/guard_medians.py /tmp/crit-1

Reads `observe/<id>/new/sample.json` (criterion's raw samples); a sample's time per
call is time / iterations, and the median is taken over the samples.
"""

import json
import os
import statistics
import sys


def median(root: str, bench_id: str):
    path = os.path.join(root, "observe", bench_id, "new", "sample.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        data = json.load(f)
    return statistics.median(t / i for t, i in zip(data["times"], data["iters"]))


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    r = median(root, "r_registry_only_manual_span")
    c = median(root, "c_observe_langfuse_noop")
    d = median(root, "d_instrument_otel_noop")
    line = f"r {r:.1f} ns | c {c:.1f} ns | d {d:.1f} ns | c/d {c / d:.2f} | (c-r)/r {(c - r) / r:.2f}"
    sc = median(root, "s_c_observe_langfuse_otlp")
    sd = median(root, "s_d_instrument_otel_otlp_lossless")
    if sc is not None and sd is not None:
        line += f" | sustained c {sc:.1f} ns, lossless d {sd:.1f} ns, ratio {sc / sd:.2f}"
    print(line)


if __name__ == "__main__":
    main()
