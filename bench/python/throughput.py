"""The throughput program of bench/src/bin/throughput.rs, written with the Langfuse
Python SDK 5.0.4: the peer figure.

Several threads, each running an asyncio loop with many tasks; every task is one
request: an @observe root awaiting CHILDREN @observe(as_type="generation") children,
each recording input, output, type and model. Export goes (gzip, the SDK default) to
the loopback receiver started by run.sh (`throughput --serve-only PORT`), whose
/stats endpoint says how many spans and bytes arrived.

Environment: LANGFUSE_BASE_URL (the receiver), ROOTS (1000), CHILDREN (100),
THREADS (4). Prints one JSON line.
"""

import asyncio
import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

QUERY = "Summarise the attached report in 3 lines"
assert len(QUERY) == 40


def receiver_call(base_url: str, method: str, path: str) -> dict:
    req = urllib.request.Request(base_url + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def main() -> None:
    base_url = os.environ["LANGFUSE_BASE_URL"].rstrip("/")
    roots = int(os.environ.get("ROOTS", "1000"))
    children = int(os.environ.get("CHILDREN", "100"))
    threads = int(os.environ.get("THREADS", "4"))

    from langfuse import Langfuse, observe

    langfuse = Langfuse(
        public_key="pk-lf-bench",
        secret_key="sk-lf-bench",
        base_url=base_url,
    )

    @observe(as_type="generation")
    async def child(query: str, n: int) -> str:
        langfuse.update_current_generation(model="gpt-4o")
        out = query.upper()
        if n % 2 == 1:
            out = out.lower()
        return out

    @observe()
    async def request(query: str, n: int, children: int) -> str:
        last = ""
        for i in range(children):
            last = await child(query, n + i)
            if i % 25 == 24:
                await asyncio.sleep(0)
        return last

    def worker(ids: list) -> None:
        async def run() -> None:
            await asyncio.gather(*(request(QUERY, r * 1000, children) for r in ids))

        asyncio.run(run())

    chunks = [list(range(t, roots, threads)) for t in range(threads)]
    receiver_call(base_url, "POST", "/reset")
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, chunks))
    created_s = time.perf_counter() - start
    langfuse.shutdown()
    total_s = time.perf_counter() - start
    time.sleep(0.5)
    stats = receiver_call(base_url, "GET", "/stats")

    created = roots * (children + 1)
    delivered = stats["spans"]
    print(
        json.dumps(
            {
                "pipeline": "langfuse-python-5.0.4",
                "python": sys.version.split()[0],
                "threads": threads,
                "spans": created,
                "delivered": delivered,
                "lost": created - delivered,
                "create_s": round(created_s, 3),
                "total_s": round(total_s, 3),
                "us_per_call": round(1e6 * created_s / created, 1),
                "delivered_spans_per_s": round(delivered / total_s),
                "wire_bytes_per_span": round(stats["wire_bytes"] / max(delivered, 1), 1),
                "protobuf_bytes_per_span": round(stats["decoded_bytes"] / max(delivered, 1), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
