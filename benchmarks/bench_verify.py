"""How fast does `mentor-data verify` check trajectories?

Builds N solver trajectories of the built-in families (the `solver` teacher: real executor
outputs, 1-5 calls each), writes them to a temporary store, then runs `verify_dataset` on them
with 1 worker and with all cores, and prints

    trajectories/s/core = rows / seconds / workers      (target >= 2,000)

The time covers decoding the rows, the structure checks, re-executing every call and judging
every answer (cold judge cache: each problem's answer is judged once per run).

    python benchmarks/bench_verify.py [--n 10000] [--workers N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mentor_data.problems import load_problems  # noqa: E402
from mentor_data.store import Store  # noqa: E402
from mentor_data.teachers import GenerationConfig, run_conversations  # noqa: E402
from mentor_data.teachers.solver import SolverTeacher  # noqa: E402
from mentor_data.verify import VerifyConfig, default_workers, verify_dataset  # noqa: E402


def build(store: Store, n: int) -> str:
    """Write n solver trajectories (one sample per problem) and return the reference."""
    summary = run_conversations(
        SolverTeacher(), load_problems(f"builtin:all?n={n}"), GenerationConfig()
    )
    return store.write_version("bench", summary.rows).ref


def run(store: Store, ref: str, workers: int) -> dict:
    # A fresh process pool per run, so the judge's per-process cache starts cold each time.
    start = time.perf_counter()
    summary = verify_dataset(ref, store=store, config=VerifyConfig(workers=workers))
    wall = time.perf_counter() - start
    if summary.passed != summary.rows:
        raise RuntimeError(f"solver rows failed verification: {summary.reasons}")
    return {
        "workers": summary.workers,
        "rows": summary.rows,
        "check_s": summary.seconds,
        "wall_s": wall,
        "per_s": summary.rows / summary.seconds,
        "per_s_per_core": summary.rows / summary.seconds / summary.workers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="trajectories to verify")
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="processes of the parallel run (default: all cores)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        start = time.perf_counter()
        ref = build(store, args.n)
        print(f"built {args.n} solver trajectories in {time.perf_counter() - start:.1f} s")
        for workers in sorted({1, args.workers}):
            r = run(store, ref, workers)
            print(
                f"workers={r['workers']}: {r['rows']} rows verified in {r['check_s']:.2f} s "
                f"(wall {r['wall_s']:.2f} s incl. load and write): {r['per_s']:,.0f} "
                f"trajectories/s, {r['per_s_per_core']:,.0f} trajectories/s/core "
                f"(target >= 2,000)"
            )


if __name__ == "__main__":
    main()
