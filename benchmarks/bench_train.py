"""Training benchmarks: (a) reward throughput, (b) the overhead of `mentor-train grpo` over TRL.

(a) Completions scored per second by each reward variant, called as GRPOTrainer calls it (a batch
    of conversational multi-turn completions with every dataset column), with the judge's caches
    cold (cleared first, the worker already started) and warm (the same batch again). The mix is
    what a GRPO batch of arithmetic problems looks like: groups of `--group` completions per
    problem; 70% boxed numbers (right or wrong, plain, `\\frac{}{}` or comma forms), 10% LaTeX
    that takes the judge's math-verify path, 12% without a boxed answer, 8% truncated; 1-3 tool
    calls, some of them hallucinated or malformed. The reference implementation scores ~1,100
    completions/s on one core (docs/method.md).

(b) Seconds per GRPO step through the library entry point (`mentor_train.grpo.train`: recipe,
    start-up check, data, tools, bound rewards, smoke check, saving) against a plain TRL script
    (`GRPOTrainer` with the same config values, seed, reward functions, tools and rows), in
    alternating runs on the same machine; the ratio of the medians should be <= 1.05. The student
    is the tiny tool-calling model of the tests (built once, ~20 s), so every step runs tools.

    python benchmarks/bench_train.py [--completions 4096] [--steps 10] [--repeats 4] [--skip-grpo]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mentor_data.formats import messages_to_text  # noqa: E402
from mentor_data.tools import ARITHMETIC  # noqa: E402
from mentor_train.rewards import VARIANTS, get_reward  # noqa: E402

NAMES = ARITHMETIC.names()


# -- (a) reward throughput ------------------------------------------------------------------------
def _answer_forms(rng: random.Random, gold: int, right: bool) -> str:
    value = gold if right else gold + rng.choice([-10, -1, 1, 7])
    form = rng.random()
    if form < 0.6:
        return str(value)
    if form < 0.8:
        return f"\\frac{{{2 * value}}}{{2}}"
    return f"{value:,}"


def make_batch(n: int, group: int, seed: int = 0) -> dict:
    """A GRPO batch: completions plus every column TRL passes (see the module docstring)."""
    rng = random.Random(seed)
    completions, columns = (
        [],
        {k: [] for k in ("answer", "teacher_tools", "tool_names", "problem_id", "family")},
    )
    ids = []
    for i in range(n):
        problem = i // group
        gold = 1000 + 37 * problem + seed * 100_000
        teacher = sorted(rng.sample(NAMES, rng.randint(1, 3)))
        kind = rng.random()
        calls = rng.sample(NAMES, rng.randint(1, 3))
        if rng.random() < 0.1:
            calls.append("launch_rocket")
        turn = {
            "role": "assistant",
            "content": "<tool_call>{bad json</tool_call>" if rng.random() < 0.05 else "",
            "tool_calls": [
                {"type": "function", "function": {"name": c, "arguments": {"a": 1, "b": 2}}}
                for c in calls
            ],
        }
        tail = [turn, *({"role": "tool", "name": c, "content": "3"} for c in calls)]
        if kind < 0.70:
            final = f"So the answer is \\boxed{{{_answer_forms(rng, gold, rng.random() < 0.6)}}}."
        elif kind < 0.80:
            final = f"\\boxed{{\\sqrt{{{problem % 50 + 2}}} + {rng.randint(1, 9)}}}"
        else:
            final = "I need more steps."
        tail.append({"role": "assistant", "content": final})
        completions.append(tail)
        ids.append([5, 6, 7] if kind >= 0.92 else [5, 6, 2])  # 8% end without EOS
        columns["answer"].append(
            str(gold) if kind < 0.70 or kind >= 0.80 else f"\\sqrt{{{problem % 50 + 2}}} + 1"
        )
        columns["teacher_tools"].append(teacher)
        columns["tool_names"].append(NAMES)
        columns["problem_id"].append(f"p{problem}")
        columns["family"].append("shopping")
    return {"completions": completions, "completion_ids": ids, **columns}


def clear_judge_caches() -> None:
    """Empty the judge's verdict and number caches (private helpers; best effort)."""
    from mentor_data import answers

    for name in ("_VERDICTS", "_GOLD_PROBLEMS"):
        cache = getattr(answers, name, None)
        if cache is not None and hasattr(cache, "clear"):
            cache.clear()
    parse = getattr(answers, "_parse_number_cached", None)
    if parse is not None and hasattr(parse, "cache_clear"):
        parse.cache_clear()


def bench_rewards(n: int, group: int) -> dict:
    from mentor_data.answers import check_answer

    check_answer("\\sqrt{2}", "\\sqrt{2}")  # start the judge's worker outside the timings
    warmup = make_batch(64, group, seed=1)  # imports and first calls outside the timings too
    for variant in VARIANTS:
        get_reward(variant)(prompts=[None] * 64, **warmup)
    batch = make_batch(n, group)
    text_batch = dict(batch, completions=[messages_to_text(c) for c in batch["completions"]])
    prompts = [[{"role": "user", "content": "q"}]] * n
    hooks = {"log_extra": lambda *a: None, "log_metric": lambda *a: None, "trainer_state": None}
    out = {}
    for variant in VARIANTS:
        reward = get_reward(variant, eos_token_ids=[2, 0])
        clear_judge_caches()
        start = time.perf_counter()
        scores = reward(prompts=prompts, **batch, **hooks)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        reward(prompts=prompts, **batch, **hooks)
        warm = time.perf_counter() - start
        start = time.perf_counter()
        reward(prompts=prompts, **text_batch, **hooks)
        text = time.perf_counter() - start
        out[variant] = {
            "cold": n / cold,
            "warm": n / warm,
            "warm_text": n / text,
            "unscorable": sum(s is None for s in scores),
        }
    return out


# -- (b) step time: mentor-train grpo vs plain TRL -------------------------------------------------
GRPO_SETTINGS = [
    "tools=[add]",
    "num_generations=4",
    "per_device_train_batch_size=4",
    "max_completion_length=64",
    "max_tool_calling_iterations=2",
    "learning_rate=1e-5",
    "logging_steps=1",
    "save_strategy=no",
]


def _recipe(model: Path, out: Path, steps: int):
    """The one recipe both sides of the step-time comparison run."""
    from mentor_train.configs import load_recipe
    from tests.train_helpers import CPU

    overrides = [f"model_name_or_path={model}", "dataset=unused", f"output_dir={out}"]
    return load_recipe(None, "grpo", [*overrides, f"max_steps={steps}", *GRPO_SETTINGS, *CPU])


def _rows(n: int) -> list[dict]:
    from tests.train_helpers import grpo_rows

    return grpo_rows(n)


def _step_times(history: list[dict]) -> list[float]:
    return [h["step_time"] for h in history if "step_time" in h][1:]  # the first one warms up


def run_mentor(model: Path, out: Path, steps: int) -> list[float]:
    from datasets import Dataset

    from mentor_train.grpo import train

    recipe = _recipe(model, out, steps)
    result = train(recipe, train_dataset=Dataset.from_list(_rows(steps)))
    return _step_times(result.log_history)


def run_plain_trl(model: Path, out: Path, steps: int) -> list[float]:
    """What a user would write with TRL alone: same config values, rewards, tools and rows."""
    import dataclasses

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from mentor_data.tools import get_registry

    recipe = _recipe(model, out, steps)
    fields = {f.name for f in dataclasses.fields(GRPOConfig) if f.init}
    args = GRPOConfig(**{k: v for k, v in recipe.values.items() if k in fields})
    registry = get_registry().subset(["add"])
    reward = get_reward("mentor", tools=registry)
    trainer = GRPOTrainer(
        model=str(model),
        reward_funcs=[reward],
        args=args,
        train_dataset=Dataset.from_list(_rows(steps)),
        tools=registry.trl_tools(),
    )
    reward.eos_token_ids = [*trainer.eos_token_ids, trainer.processing_class.pad_token_id]
    trainer.train()
    return _step_times(trainer.state.log_history)


def tool_student(workdir: Path) -> Path:
    from tests.train_helpers import build_tiny, train_tool_student

    tiny = build_tiny(workdir / "tiny")
    train_tool_student(tiny, workdir / "tool")
    return workdir / "tool"


def bench_grpo(steps: int, repeats: int, model: Path | None) -> dict:
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = model or tool_student(tmp)
        steps_s: dict[str, list[float]] = {"mentor": [], "plain": []}
        runs_s: dict[str, list[float]] = {"mentor": [], "plain": []}
        for r in range(repeats):  # alternate, so both see the same machine load
            order = [("plain", run_plain_trl), ("mentor", run_mentor)]
            if r % 2:
                order.reverse()
            for name, fn in order:
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):  # the trainers print every log
                    steps_s[name].extend(fn(model, tmp / f"{name}-{r}", steps))
                runs_s[name].append(time.perf_counter() - start)
    m, p = statistics.median(steps_s["mentor"]), statistics.median(steps_s["plain"])
    return {
        "steps_per_run": steps,
        "repeats": repeats,
        "mentor_median_s": m,
        "plain_trl_median_s": p,
        "ratio": m / p,
        "mentor_run_s": statistics.median(runs_s["mentor"]),
        "plain_trl_run_s": statistics.median(runs_s["plain"]),
        "mentor_s": steps_s["mentor"],
        "plain_trl_s": steps_s["plain"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--completions", type=int, default=4096)
    parser.add_argument("--group", type=int, default=8, help="completions per problem")
    parser.add_argument("--steps", type=int, default=10, help="GRPO steps per run")
    parser.add_argument("--repeats", type=int, default=4, help="runs of each side")
    parser.add_argument("--model", type=Path, help="a tool-calling student (default: build one)")
    parser.add_argument("--skip-grpo", action="store_true", help="only (a)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results = {"rewards": bench_rewards(args.completions, args.group)}
    print(f"(a) reward throughput, {args.completions} multi-turn completions, completions/s")
    print(f"{'variant':<24}{'cold':>10}{'warm':>10}{'warm text':>11}{'None':>6}")
    for variant, r in results["rewards"].items():
        print(
            f"{variant:<24}{r['cold']:>10,.0f}{r['warm']:>10,.0f}{r['warm_text']:>11,.0f}"
            f"{r['unscorable']:>6}"
        )
    if not args.skip_grpo:
        g = results["grpo"] = bench_grpo(args.steps, args.repeats, args.model)
        print(f"\n(b) GRPO step time (median of {len(g['mentor_s'])} steps per side, tools on)")
        print(f"mentor-train grpo  {g['mentor_median_s']:.3f} s/step")
        print(f"plain TRL script   {g['plain_trl_median_s']:.3f} s/step")
        print(f"ratio              {g['ratio']:.3f}   (target <= 1.05)")
        print(
            f"whole run ({g['steps_per_run']} steps, start-up and saving included): "
            f"mentor {g['mentor_run_s']:.1f} s, plain TRL {g['plain_trl_run_s']:.1f} s"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
