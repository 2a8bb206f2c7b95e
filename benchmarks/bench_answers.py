"""How many answer verdicts per second does the judge give?

Builds a realistic mix of (prediction, gold) pairs, every pair distinct, half of them right:

- 90% plain numbers: integers, decimals and fractions, the prediction written as the model
  writes it (`1,234`, `x = 7`, `7.0`, `$7`, `7 apples`) or wrong (off by a little or a lot);
- 10% LaTeX: fractions, roots, multiples of pi, polynomials, sets (most go to the worker).

and times `check_answer` on it with a cold cache (every pair seen for the first time; the
worker is started before timing, its start-up is printed separately) and a warm one (the same
pairs again, as in GRPO where a group's rollouts repeat answers). It also times the reference
style judge, math-verify's `verify(parse(gold), parse(pred))` in-process, on the same pairs,
and prints every rate against the method doc's anchor (~1,100 completions/s/core). A last
row scores pairs as GRPO does (8 rollouts per prompt share a gold; answers repeat), cold.

Most LaTeX pairs (roots, multiples of pi, polynomials, sets of numbers) are judged exactly
in-process; `--worker-baseline` adds a row with that path off (every LaTeX pair through the
worker, as before it existed), and `--latex-share` changes the share of LaTeX pairs. The
last lines print the cold rate against the reference measured in the same run (target: 5x).

    python benchmarks/bench_answers.py [--pairs 5000] [--seed 0] [--latex-share 0.1]
                                       [--worker-baseline]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mentor_data import answers  # noqa: E402
from mentor_data.answers import Verdict, check_answer  # noqa: E402

ANCHOR_PER_S = 1_100  # the reference reward's completions/s on one core (method doc)


def numeric_pair(rng: random.Random) -> tuple[str, str]:
    """A plain-number gold and a prediction, right or wrong, in the forms models write."""
    kind = rng.random()
    if kind < 0.7:
        value = rng.randint(-50, 10**6)
        gold = str(value)
    elif kind < 0.85:
        value = rng.randint(1, 10**6) / 100
        gold = f"{value:.2f}"
    else:
        num, den = rng.randint(1, 999), rng.randint(2, 999)
        return f"{num}/{den}", rng.choice(
            [f"\\frac{{{num}}}{{{den}}}", f"{num * 2}/{den * 2}", f"{num + 1}/{den}"]
        )
    if rng.random() < 0.5:  # right, dressed
        forms = [gold, f"x = {gold}", f"{gold}.0" if "." not in gold else gold + "0", f"${gold}"]
        if value >= 1000 and "." not in gold:
            forms.append(f"{int(value):,}")
        forms.append(f"{gold} apples")
        return gold, rng.choice(forms)
    wrong = value + rng.choice([1, -1, 10, 2 * abs(value) + 1])  # wrong, near or far
    return gold, f"{wrong:.2f}" if "." in gold else str(wrong)


def latex_pair(rng: random.Random) -> tuple[str, str]:
    """A LaTeX gold and an equivalent or wrong LaTeX prediction."""
    a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.choice([2, 3, 5, 6, 7, 10, 11])
    right = rng.random() < 0.5
    templates = [
        (
            f"\\frac{{{a}\\sqrt{{{c}}}}}{{{b}}}",
            f"\\frac{{{a}}}{{{b}}}\\sqrt{{{c}}}",
            f"\\frac{{{a}}}{{{b}}}\\sqrt{{{c + 1}}}",
        ),
        (f"{a}\\pi", f"\\pi \\cdot {a}", f"{a + 1}\\pi"),
        (f"x^2 + {2 * a}x + {a * a}", f"(x+{a})^2", f"(x-{a})^2"),
        (f"\\sqrt{{{a * a * c}}}", f"{a}\\sqrt{{{c}}}", f"{a}\\sqrt{{{c * 4}}}"),
        (f"\\{{{a}, {b}\\}}", f"{b}, {a}", f"{a}, {b + 1}"),
        (f"\\frac{{{a}}}{{{b}}}", f"\\dfrac{{{a}}}{{{b}}}", f"\\frac{{{b}}}{{{a + b}}}"),
    ]
    gold, good, bad = rng.choice(templates)
    return gold, good if right else bad


def build_mix(n: int, seed: int, latex_share: float = 0.1) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        pair = latex_pair(rng) if rng.random() < latex_share else numeric_pair(rng)
        gold, pred = pair
        if (pred, gold) not in seen:
            seen.add((pred, gold))
            pairs.append((pred, gold))
    return pairs


def grpo_groups(n: int, seed: int, group: int = 8) -> list[tuple[str, str]]:
    """n pairs as GRPO scores them: `group` rollouts per prompt share the gold, and a model
    writes its right answer the same way most of the time, so pairs repeat within a group."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        gold, pred = latex_pair(rng) if rng.random() < 0.1 else numeric_pair(rng)
        right = gold if rng.random() < 0.7 else pred
        wrong = [numeric_pair(rng)[1] for _ in range(2)] + [pred]
        for _ in range(group):
            pairs.append((right if rng.random() < 0.5 else rng.choice(wrong), gold))
    return pairs[:n]


def clear_caches() -> None:
    answers._VERDICTS.clear()
    answers._parse_number_cached.cache_clear()
    answers._exact_of.cache_clear()


def time_judge(pairs: list[tuple[str, str]]) -> tuple[float, dict[str, int]]:
    counts = {v.value: 0 for v in Verdict}
    start = time.perf_counter()
    for pred, gold in pairs:
        counts[check_answer(pred, gold).value] += 1
    return time.perf_counter() - start, counts


def time_reference(pairs: list[tuple[str, str]]) -> float:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    start = time.perf_counter()
    for pred, gold in pairs:
        verify(parse(gold), parse(pred))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5_000, help="distinct pairs in the mix")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latex-share", type=float, default=0.1, help="share of LaTeX pairs")
    parser.add_argument(
        "--worker-baseline",
        action="store_true",
        help="also time the cold mix with the exact in-process LaTeX path off",
    )
    args = parser.parse_args()

    pairs = build_mix(args.pairs, args.seed, args.latex_share)
    n_latex = sum(1 for p, g in pairs if "\\" in p + g or "x^2" in g)
    start = time.perf_counter()
    check_answer("\\sqrt{2}", "2")  # start the worker outside the timings (a number gold
    startup = time.perf_counter() - start  # against LaTeX goes to the worker)
    clear_caches()

    cold, counts = time_judge(pairs)
    warm, _ = time_judge(pairs)
    fast = [(p, g) for p, g in pairs if answers._number_of(g) and answers._number_of(p)]
    clear_caches()
    fast_s, _ = time_judge(fast)
    baseline_s = None
    if args.worker_baseline:
        clear_caches()
        answers._EXACT_PATH = False
        try:
            baseline_s, baseline_counts = time_judge(pairs)
        finally:
            answers._EXACT_PATH = True
        if baseline_counts != counts:  # a worker timeout on a loaded machine is an ERROR
            print(f"verdicts with the exact LaTeX path off: {baseline_counts}")
    reference = time_reference(pairs)
    grpo = grpo_groups(args.pairs, args.seed + 1)
    clear_caches()
    grpo_s, _ = time_judge(grpo)

    n = len(pairs)
    rows = [
        ("cold cache", n / cold),
        ("warm cache", n / warm),
        (f"fast path only ({len(fast)} pairs, cold)", len(fast) / fast_s),
        ("GRPO-like (8 rollouts/prompt), cold start", len(grpo) / grpo_s),
    ]
    if baseline_s is not None:
        rows.append(("cold cache, exact LaTeX path off (worker)", n / baseline_s))
    rows += [
        ("math-verify parse+verify, in-process", n / reference),
    ]
    print(f"{n} pairs ({n_latex} with LaTeX), verdicts {counts}")
    print(f"worker start-up: {startup * 1000:.0f} ms (once per process, not in the timings)")
    print(f"{'judge':45s} {'verdicts/s':>12s} {'vs anchor':>10s} {'vs math-verify':>15s}")
    for name, rate in rows:
        print(
            f"{name:45s} {rate:12,.0f} {rate / ANCHOR_PER_S:9.1f}x {rate / (n / reference):14.1f}x"
        )
    print(f"anchor: {ANCHOR_PER_S:,} completions/s/core (reference MENTOR reward, method doc)")
    ratio = reference / cold
    print(f"cold / reference, same mix, same run: {ratio:.1f}x (target >= 5x)")
    if baseline_s is not None:
        print(f"cold with the exact LaTeX path off / reference: {reference / baseline_s:.1f}x")


if __name__ == "__main__":
    main()
