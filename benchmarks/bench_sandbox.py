"""How fast is a `python` tool call? The sandbox pool against a cold interpreter per call.

Runs a trivial snippet (`print(1+1)`) N times, one call after another, and prints calls per
second and p50/p99 latency for:

* `pool`: `SandboxPool.run`: a warm worker hands the code to a child it prepared in advance
  (namespaces, mounts, limits, dropped privileges, seccomp), then prepares the next one;
* `pool, paced`: the same with a pause between calls (`--pause`), as in a rollout where the
  model generates between tool calls: the next child is always ready, so this is the latency
  a caller sees;
* `cold`: `python -I -S -c CODE` in a fresh subprocess per call, with no sandboxing at all:
  a lower bound for any design that starts an interpreter per call;
* `cold, sandboxed`: a fresh one-worker `SandboxPool` per call (interpreter start, namespace
  probe, child setup, run, shutdown): the same protections without the warm pool.

    python benchmarks/bench_sandbox.py [--n 300] [--size 2] [--pause 0.02]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mentor_data.tools.sandbox import SandboxPool  # noqa: E402

CODE = "print(1+1)"


def measure(call, n: int, pause: float = 0.0) -> dict:
    """Time n calls; the pauses are not counted in calls/s."""
    latencies = []
    for _ in range(n):
        if pause:
            time.sleep(pause)
        start = time.perf_counter()
        out = call()
        latencies.append(time.perf_counter() - start)
        if out.strip() != "2":
            raise RuntimeError(f"unexpected output {out!r}")
    latencies.sort()
    return {
        "calls_per_s": n / sum(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(n - 1, round(0.99 * (n - 1)))],
    }


def cold() -> str:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CODE], capture_output=True, text=True, env=env
    )
    return done.stdout


def cold_sandboxed() -> str:
    with SandboxPool(size=1) as pool:
        return pool.run(CODE).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="calls per measurement")
    parser.add_argument("--size", type=int, default=2, help="pool workers")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between paced calls")
    args = parser.parse_args()

    rows = {}
    with SandboxPool(size=args.size) as pool:
        protections = pool.run("pass").protections
        for _ in range(10):  # warm-up
            pool.run(CODE)
        rows["pool"] = measure(lambda: pool.run(CODE).stdout, args.n)
        rows["pool, paced"] = measure(lambda: pool.run(CODE).stdout, args.n, args.pause)
    for _ in range(5):
        cold()
    rows["cold"] = measure(cold, args.n)
    rows["cold, paced"] = measure(cold, args.n, args.pause)
    rows["cold, sandboxed"] = measure(cold_sandboxed, max(10, args.n // 5))

    print(f"{'mode':<17}{'calls/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in rows.items():
        print(f"{name:<17}{row['calls_per_s']:>10.0f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}")
    pairs = (("pool", "cold"), ("pool, paced", "cold, paced"), ("pool", "cold, sandboxed"))
    for a, b in pairs:
        print(
            f"{a} vs {b}: {rows[a]['calls_per_s'] / rows[b]['calls_per_s']:.1f}x calls/s, "
            f"p50 {rows[b]['p50_ms'] / rows[a]['p50_ms']:.1f}x lower"
        )
    active = sorted(name for name, on in protections.items() if on)
    print(f"pool size {args.size}; protections in force: {', '.join(active)}")


if __name__ == "__main__":
    main()
