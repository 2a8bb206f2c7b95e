"""How close does the `openai` teacher get to ideal concurrency?

Starts the fake OpenAI-compatible server (`tests/fake_openai_server.py`) in its own process with a
fixed per-call latency L and no faults, runs N conversations of T turns at concurrency C
through the real `openai` client and the one tool loop, and prints

    efficiency = ideal / measured,   ideal = N * T * L / C

1.0 means no overhead at all; the target is >= 0.9 at C=64 (N=256, T=3, L=0.2 s).

    python benchmarks/bench_generate.py [--n 256] [--turns 3] [--latency 0.2] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mentor_data.problems import Problem  # noqa: E402
from mentor_data.teachers import GenerationConfig, run_conversations  # noqa: E402
from mentor_data.teachers.openai_teacher import OpenAITeacher  # noqa: E402


def start_server(latency: float, turns: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fake_openai_server",
            "--latency",
            str(latency),
            "--fixed-turns",
            str(turns),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise RuntimeError("the fake server did not start")
    return proc, base_url


def run(n: int, turns: int, latency: float, concurrency: int, base_url: str) -> dict:
    problems = [Problem(id=f"bench-{i}", question=f"Question {i}?", answer=None) for i in range(n)]
    config = GenerationConfig(concurrency=concurrency, max_turns=turns + 1, max_tokens=256)
    teacher = OpenAITeacher(model="fake", base_url=base_url)
    start = time.perf_counter()
    summary = run_conversations(teacher, problems, config)
    measured = time.perf_counter() - start
    requests = sum(r["num_turns"] for r in summary.rows)
    if requests != n * turns or summary.finish_reasons.get("stop") != n:
        raise RuntimeError(f"unexpected run: {summary} ({requests} requests)")
    ideal = n * turns * latency / concurrency
    return {
        "ideal_s": ideal,
        "measured_s": measured,
        "efficiency": ideal / measured,
        "requests": requests,
        "requests_per_s": requests / measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="conversations")
    parser.add_argument("--turns", type=int, default=3, help="assistant turns per conversation")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per server reply")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[64], help="concurrency levels to measure"
    )
    args = parser.parse_args()
    proc, base_url = start_server(args.latency, args.turns)
    try:
        run(16, args.turns, args.latency, 16, base_url)  # warm-up: imports, connections
        for c in args.concurrency:
            r = run(args.n, args.turns, args.latency, c, base_url)
            print(
                f"N={args.n} T={args.turns} L={args.latency}s C={c}: ideal {r['ideal_s']:.2f}s "
                f"measured {r['measured_s']:.2f}s ({r['requests_per_s']:.0f} req/s) "
                f"efficiency {r['efficiency']:.3f}"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
