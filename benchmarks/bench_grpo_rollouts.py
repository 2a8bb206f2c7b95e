"""GRPO step time with vLLM rollouts against transformers rollouts, and where the time goes.

Both sides run the same recipe (default `recipes/tiny-cpu-grpo-mentor.yaml`: the 12 arithmetic
tools, 4 rollouts of up to 256 tokens per prompt) with the same prompts, seed, num_generations
and max_completion_length; only the rollout backend differs (vLLM side: the settings of
`recipes/tiny-cpu-grpo-mentor-vllm.yaml`: `vllm_mode: colocate` through `mentor_train.vllm_sync`,
the policy's dtype, no importance-sampling correction unless `--vllm-is-correction`). Each side
runs in its own process through `mentor_train.grpo.build_trainer`, one after the other
(`--repeats N`: N runs each, alternating, so both see the same machine load). The first
`--warmup` steps of each run are left out of the figures.

A step's wall time (a TrainerCallback, optimizer included) is split with TRL's own profiling
contexts (recorded instead of sent to wandb) plus timers around the tool functions:

  generation       `transformers.generate` / `vLLM.generate` calls (tool rounds included)
  weight sync      `sync_weights` (vLLM only: policy -> engine, once per step)
  tool execution   the registry's tool functions, as TRL calls them
  rewards          `_calculate_rewards`
  old log-probs    the no-grad forward pass of the rollouts in `_prepare_inputs` (TRL runs it for
                   vLLM's importance-sampling correction, `--vllm-is-correction`)
  rollout other    the rest of `_prepare_inputs`: tokenizing, parsing tool calls, padding
  loss forward     `compute_loss` (forward with grad over prompt + completion)
  backward+optim   the rest of the step: backward, clipping, optimizer, logging

A side `BACKEND+shared` also sets `share_prompt_prefix: true` (`mentor_train.shared_prefix`:
each group's prompt computed once in the loss, the same gradient). The ratios printed are each
side's mean step time over the `transformers` side's (today's default: transformers rollouts,
the prompt computed per rollout). Generation speed differs less than it seems when two sides
sample completions of different lengths: the mean completion length and the tool calls per
rollout are printed next to it.

    python benchmarks/bench_grpo_rollouts.py [--steps 4] [--student runs/smollm2-base]
        [--backends transformers,vllm,transformers+shared,vllm+shared]
        [--tools all|add] [--threads N] [--vllm-dtype auto|float32|bfloat16]
        [--vllm-is-correction] [--json out.json]

Run it with `.venv-vllm/bin/python` for both halves; without vLLM only the transformers half runs.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BACKENDS = ("transformers", "vllm")
SIDES = (*BACKENDS, *(f"{b}+shared" for b in BACKENDS))
PHASES = (
    "generation",
    "weight sync",
    "tool execution",
    "rewards",
    "old log-probs",
    "rollout other",
    "loss forward",
    "backward+optim",
)
GENERATE = ("transformers.generate", "transformers.generate_batch", "vLLM.generate")


# -- timers ---------------------------------------------------------------------------------------
class StepTimer:
    """Per-step wall times and TRL's profiled sections, keyed by the step they ran in."""

    def __init__(self) -> None:
        self.step = 0
        self.step_s: dict[int, float] = {}
        self.sections: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._open: list[str] = []
        self._start = 0.0

    def install(self) -> None:
        """Record TRL's `profiling_context` sections (they otherwise go to wandb/mlflow only)."""
        from trl.extras.profiling import ProfilingContext

        enter, leave, timer = ProfilingContext.__enter__, ProfilingContext.__exit__, self

        def recording_enter(ctx):
            timer._open.append(ctx.name.split(".", 1)[-1])  # "MentorGRPOTrainer.X" -> "X"
            return enter(ctx)

        def recording_exit(ctx, *exc):
            name = timer._open.pop()
            if name == "_get_per_token_logps_and_entropies" and "_prepare_inputs" in timer._open:
                name = "old log-probs"
            timer.sections[timer.step][name] += time.perf_counter() - ctx._start_time
            return leave(ctx, *exc)

        ProfilingContext.__enter__ = recording_enter
        ProfilingContext.__exit__ = recording_exit

    def wrap_tools(self, trainer) -> None:
        """Time the tool functions TRL calls (`_standalone_tools`, a TRL 1.16 attribute)."""
        tools = getattr(trainer, "_standalone_tools", None) or []

        def timed(tool):
            @functools.wraps(tool)
            def call(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return tool(*args, **kwargs)
                finally:
                    self.sections[self.step]["tool execution"] += time.perf_counter() - start

            return call

        trainer._standalone_tools = [timed(t) for t in tools]

    def callback(self):
        from transformers import TrainerCallback

        timer = self

        class Steps(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                timer.step = state.global_step
                timer._start = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                timer.step_s[timer.step] = time.perf_counter() - timer._start

        return Steps()

    def phases(self, step: int) -> dict[str, float]:
        """The step's time split into PHASES (seconds)."""
        s, total = self.sections[step], self.step_s[step]
        generation = sum(s.get(k, 0.0) for k in GENERATE)
        prepare = s.get("_prepare_inputs", 0.0)
        out = {
            "generation": generation,
            "weight sync": s.get("sync_weights", 0.0),
            "tool execution": s.get("tool execution", 0.0),
            "rewards": s.get("_calculate_rewards", 0.0),
            "old log-probs": s.get("old log-probs", 0.0),
            "loss forward": s.get("compute_loss", 0.0),
        }
        inside = sum(out[k] for k in PHASES[:5])
        out["rollout other"] = max(prepare - inside, 0.0)
        out["backward+optim"] = max(total - prepare - out["loss forward"], 0.0)
        return {k: out[k] for k in PHASES}


# -- one side (a child process) -------------------------------------------------------------------
def rows(n: int) -> list[dict]:
    """`n` GRPO rows in the `to_grpo` format, each a different sum."""
    from tests.train_helpers import conversation, grpo_rows

    out = grpo_rows(n)
    for i, row in enumerate(out):
        a, b = 1 + i % 7, 2 + (3 * i) % 11
        row["prompt"] = conversation(a, b)[:2]
        row["answer"] = row["teacher_answer"] = str(a + b)
    return out


def overrides(args: argparse.Namespace, backend: str, out: Path) -> list[str]:
    """The recipe overrides of one side: only `use_vllm` and `share_prompt_prefix` differ."""
    sets = [
        f"model_name_or_path={args.student}",
        "dataset=unused",
        f"output_dir={out}",
        f"max_steps={args.steps}",
        f"num_generations={args.num_generations}",
        f"per_device_train_batch_size={args.num_generations * args.prompts}",
        f"max_completion_length={args.max_completion_length}",
        "save_strategy=no",
        "log_completions=false",
        "num_completions_to_print=0",
        "smoke_check_steps=0",  # a base model that never calls tools still times the step
        "logging_steps=1",
        "disable_tqdm=true",
    ]
    if args.tools == "add":
        sets.append("tools=[add]")
    backend, _, shared = backend.partition("+")
    if shared:
        sets.append("share_prompt_prefix=true")
    if backend == "vllm":
        sets += ["use_vllm=true", "vllm_mode=colocate", f"vllm_dtype={args.vllm_dtype}"]
        sets.append(f"vllm_max_model_length={args.vllm_max_model_length}")
        sets.append(f"vllm_importance_sampling_correction={args.vllm_is_correction}")
    return sets


def run_side(args: argparse.Namespace) -> dict[str, Any]:
    """Train `--steps` steps with one backend; the timings as a dict."""
    import logging

    import torch
    from datasets import Dataset

    from mentor_train.configs import load_recipe
    from mentor_train.grpo import build_trainer

    logging.disable(logging.WARNING)
    timer = StepTimer()
    timer.install()
    with tempfile.TemporaryDirectory() as tmp:
        recipe = load_recipe(args.recipe, "grpo", overrides(args, args.side, Path(tmp)))
        data = Dataset.from_list(rows(args.steps * args.prompts))
        start = time.perf_counter()
        trainer = build_trainer(
            recipe.script_args,
            recipe.training_args,
            train_dataset=data,
            callbacks=[timer.callback()],
        )
        startup = time.perf_counter() - start
        timer.wrap_tools(trainer)
        trainer.train()
    history = trainer.state.log_history
    measured = sorted(s for s in timer.step_s if s >= args.warmup)
    if not measured:
        raise SystemExit(f"--steps {args.steps} leaves no step after --warmup {args.warmup}")

    def logged(key: str) -> float | None:
        values = [h[key] for h in history[args.warmup :] if key in h]
        return statistics.fmean(values) if values else None

    return {
        "backend": args.side,
        "startup_s": startup,
        "torch_threads": torch.get_num_threads(),
        "steps": len(measured),
        "step_s": [timer.step_s[s] for s in measured],
        "phases_s": {k: statistics.fmean(timer.phases(s)[k] for s in measured) for k in PHASES},
        "completion_length": logged("completions/mean_length"),
        "tool_calls": logged("tools/call_frequency"),
        "reward": logged("reward"),
        # with the importance-sampling correction: how far vLLM's sampling log-probs are from the
        # policy's, per token (the off-policy gap the correction pays a forward pass for)
        "logp_gap_max": logged("sampling/sampling_logp_difference/max"),
        # rows of the loss's forward passes and the prompt passes they took (share_prompt_prefix)
        "prompt_passes": "{passes}/{rows}".format(**trainer.prompt_passes),
    }


# -- the parent: both sides, the report -----------------------------------------------------------
def vllm_missing() -> str | None:
    """Why vLLM cannot run in this interpreter (None when it can)."""
    try:
        import vllm  # noqa: F401
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def tool_student(workdir: Path) -> Path:
    """The tiny tool-calling student of the tests (built in ~30 s)."""
    from tests.train_helpers import build_tiny, train_tool_student

    train_tool_student(build_tiny(workdir / "tiny"), workdir / "tool")
    return workdir / "tool"


def spawn(args: argparse.Namespace, backend: str, workdir: Path) -> dict[str, Any]:
    result = workdir / f"{backend}.json"
    cmd = [sys.executable, __file__, "--side", backend, "--result", str(result)]
    for key in ("recipe", "student", "steps", "warmup", "prompts", "num_generations"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    cmd += ["--max-completion-length", str(args.max_completion_length), "--tools", args.tools]
    cmd += ["--vllm-dtype", args.vllm_dtype]
    cmd += ["--vllm-max-model-length", str(args.vllm_max_model_length)]
    cmd += ["--vllm-is-correction"] if args.vllm_is_correction else []
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {backend} side failed:\n{done.stderr[-4000:]}")
    return json.loads(result.read_text())


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's repeats as one result: all measured steps, phase means weighted by steps."""
    if len(runs) == 1:
        return runs[0]
    steps = sum(r["steps"] for r in runs)

    def mean(key: str) -> float | None:
        values = [(r[key], r["steps"]) for r in runs if r[key] is not None]
        return sum(v * n for v, n in values) / sum(n for _, n in values) if values else None

    return {
        **runs[0],
        "steps": steps,
        "step_s": [s for r in runs for s in r["step_s"]],
        "phases_s": {k: sum(r["phases_s"][k] * r["steps"] for r in runs) / steps for k in PHASES},
        **{k: mean(k) for k in ("startup_s", "completion_length", "tool_calls", "reward")},
        "logp_gap_max": mean("logp_gap_max"),
    }


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    threads = args.threads or os.environ.get("OMP_NUM_THREADS", "unset")
    print(
        f"GRPO step time, {args.recipe.name} on {args.student.name}: {args.prompts} prompt(s) x "
        f"{args.num_generations} rollouts x <= {args.max_completion_length} tokens per step, "
        f"tools: {args.tools}; mean of {args.steps - args.warmup} step(s) after {args.warmup} "
        f"warm-up, {args.repeats} run(s) per side; OMP_NUM_THREADS={threads}"
    )
    names = list(results)
    print(f"\n{'s/step':<16}" + "".join(f"{n:>20}{'%':>6}" for n in names))
    for phase in PHASES:
        line = f"{phase:<16}"
        for n in names:
            r = results[n]
            total = statistics.fmean(r["step_s"])
            line += f"{r['phases_s'][phase]:>20.3f}{100 * r['phases_s'][phase] / total:>6.0f}"
        print(line)
    print(
        f"{'step total':<16}"
        + "".join(f"{statistics.fmean(results[n]['step_s']):>26.3f}" for n in names)
    )
    for key, label, fmt in (
        ("completion_length", "mean length", "{:>26.1f}"),
        ("tool_calls", "tool calls", "{:>26.2f}"),
        ("startup_s", "start-up s", "{:>26.1f}"),
        ("torch_threads", "torch threads", "{:>26d}"),
        ("logp_gap_max", "logp gap max", "{:>26.2e}"),
        ("prompt_passes", "prompt passes", "{:>26}"),
    ):
        print(
            f"{label:<16}"
            + "".join(
                fmt.format(results[n][key]) if results[n][key] is not None else f"{'-':>26}"
                for n in names
            )
        )
    base = names[0]
    t, gt = statistics.fmean(results[base]["step_s"]), results[base]["phases_s"]["generation"]
    for n in names[1:]:
        v, gv = statistics.fmean(results[n]["step_s"]), results[n]["phases_s"]["generation"]
        print(f"ratio {n} / {base}: step {v / t:.2f}, generation {gv / max(gt, 1e-9):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--recipe", type=Path, default=ROOT / "recipes" / "tiny-cpu-grpo-mentor.yaml"
    )
    parser.add_argument(
        "--student", type=Path, help="a student folder (default: build the tiny tool student)"
    )
    parser.add_argument("--steps", type=int, default=4, help="GRPO steps per side")
    parser.add_argument("--warmup", type=int, default=1, help="first steps left out")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side, alternating")
    parser.add_argument("--prompts", type=int, default=1, help="prompts per step")
    parser.add_argument("--num-generations", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=256)
    parser.add_argument(
        "--tools",
        choices=("all", "add"),
        default="all",
        help="the registry's 12 tools, or add only",
    )
    parser.add_argument(
        "--threads", type=int, help="OMP_NUM_THREADS of both sides (default: inherited)"
    )
    parser.add_argument("--vllm-dtype", default="auto", help="vllm_dtype of the vLLM side")
    parser.add_argument("--vllm-max-model-length", type=int, default=4096)
    parser.add_argument(
        "--vllm-is-correction",
        action="store_true",
        help="keep TRL's importance-sampling correction on the vLLM side (an extra forward pass; "
        "off in recipes/tiny-cpu-grpo-mentor-vllm.yaml)",
    )
    parser.add_argument(
        "--backends",
        default="transformers,vllm,vllm+shared",
        help=f"sides to run, among {','.join(SIDES)}; ratios are against the first",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:  # a child: one backend
        args.result.write_text(json.dumps(run_side(args)))
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in SIDES]
    if unknown or not backends:
        parser.error(f"--backends {args.backends!r}: use some of {', '.join(SIDES)}")
    uses_vllm = [b for b in backends if b.startswith("vllm")]
    missing = vllm_missing() if uses_vllm else None
    if missing:
        print(
            f"vLLM sides skipped: vLLM is not importable in {sys.executable} ({missing}); "
            "`make setup-vllm` and run this with .venv-vllm/bin/python"
        )
        backends = [b for b in backends if b not in uses_vllm]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.student is None:
            args.student = tool_student(tmp)
        runs: dict[str, list[dict[str, Any]]] = {b: [] for b in backends}
        for r in range(args.repeats):  # alternate, so both sides see the same machine load
            for backend in backends if r % 2 == 0 else backends[::-1]:
                runs[backend].append(spawn(args, backend, tmp))
        results = {b: merge(runs[b]) for b in backends}
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
