"""The experiment's tables: one row per model, the mean +- sd of each arm over its seeds, and what
each GRPO run says about the method's mechanism (the fraction of zero-variance groups).

GRPO learns from the spread of rewards inside a group of rollouts of one prompt. A group whose
rollouts all get the same reward has zero advantage and moves nothing: with a sparse
correct/wrong reward and a student that is never right, every group is such a group. MENTOR's
dense terms (tool-set agreement, no hallucination) are meant to give those groups a spread. TRL
logs the share of zero-variance groups of every step as `frac_reward_zero_std`; `zero_variance`
reads it back from a run's log history (or from its last checkpoint while it is still running).

Pure functions over files a run leaves behind; `mentor_train.pipeline` calls them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ZERO_STD_KEY = "frac_reward_zero_std"
"""TRL's per-step share of groups whose rewards all agree."""

SPLIT_NAMES = {"in_domain": "in-domain", "held_out": "held-out families"}
"""How the table names the pipeline's evaluation splits."""


def _history(output_dir: Path) -> list[dict[str, Any]]:
    """The log history of a finished run, else of its last checkpoint, else []."""
    done = output_dir / "log_history.json"
    if done.is_file():
        return json.loads(done.read_text())
    states = sorted(
        output_dir.glob("checkpoint-*/trainer_state.json"),
        key=lambda p: int(p.parent.name.split("-")[-1]),
    )
    if states:
        return json.loads(states[-1].read_text()).get("log_history", [])
    return []


def zero_variance(output_dir: str | Path) -> float | None:
    """Mean over logged steps of the share of zero-variance reward groups (None: nothing logged)."""
    values = [h[ZERO_STD_KEY] for h in _history(Path(output_dir)) if ZERO_STD_KEY in h]
    return sum(values) / len(values) if values else None


def steps_done(output_dir: str | Path) -> int:
    """Optimizer steps a run has logged or checkpointed so far."""
    steps = [int(h.get("step", 0)) for h in _history(Path(output_dir))]
    return max(steps, default=0)


def row(label: str, summaries: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """One table row: per split, the eval summary's headline metrics (None where not evaluated)."""
    out: dict[str, Any] = {"model": label}
    for split, s in summaries.items():
        s = s or {}
        out[f"{split}_accuracy"] = s.get("accuracy")
        out[f"{split}_similarity"] = s.get("tool_similarity")
        out[f"{split}_tool_call_rate"] = s.get("tool_call_rate")
        out[f"{split}_set_match"] = s.get("tool_set_match_rate")
        out[f"{split}_invalid_tool_rate"] = s.get("invalid_tool_rate")
    return out


def pct(x: Any) -> str:
    """`0.25` -> `25.0%`; None -> `-`."""
    return "-" if x is None else f"{100 * x:.1f}%"


def num(x: Any) -> str:
    """`0.8123` -> `0.81`; None -> `-`."""
    return "-" if x is None else f"{x:.2f}"


def format_table(rows: list[dict[str, Any]], splits: list[str] | None = None) -> str:
    """The results as a Markdown table: per split, accuracy, similarity, the per-problem tool-set
    match (a dash where the problems have no reference program: BFCL) and the tool-call rate;
    then, where any row has them, the GRPO runs' zero-variance groups and each run's status."""
    splits = splits or ["in_domain", "held_out"]
    extra = [k for k in ("zero_variance", "status") if any(r.get(k) is not None for r in rows)]
    names = {"zero_variance": "zero-variance groups", "status": "status"}
    head = ["model"]
    for split in splits:
        name = SPLIT_NAMES.get(split, split)
        head += [f"{name} acc", f"{name} sim", f"{name} set match", f"{name} tool calls"]
    head += [names[k] for k in extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"]]
        for split in splits:
            cells += [
                pct(r.get(f"{split}_accuracy")),
                num(r.get(f"{split}_similarity")),
                pct(r.get(f"{split}_set_match")),
                pct(r.get(f"{split}_tool_call_rate")),
            ]
        if "zero_variance" in extra:
            cells.append(pct(r.get("zero_variance")))
        if "status" in extra:
            cells.append(r.get("status") or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mean_sd(values: Sequence[float]) -> tuple[float, float] | None:
    """Mean and sample standard deviation (0 for one value); None for no values."""
    if not values:
        return None
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


AGGREGATED = ("accuracy", "set_match")
"""Per-split metrics the seed table averages (with the zero-variance share)."""


def aggregate(
    rows: list[dict[str, Any]], arms: dict[str, list[str]], splits: list[str]
) -> list[dict[str, Any]]:
    """Mean +- sd over seeds for each arm, from the rows of its finished runs.

    Args:
        rows: the per-model rows (`row` plus `zero_variance` and `status`).
        arms: arm name -> the labels of its runs (one per seed).
        splits: the evaluation splits.

    Returns:
        One dict per arm: `arm`, `finished` (`k/n` runs), and for each metric `(mean, sd)` or None.
    """
    by_label = {r["model"]: r for r in rows}
    out = []
    for arm, labels in arms.items():
        done = [by_label[x] for x in labels if by_label.get(x, {}).get("status") == "done"]
        agg: dict[str, Any] = {"arm": arm, "finished": f"{len(done)}/{len(labels)}"}
        for split in splits:
            for metric in AGGREGATED:
                key = f"{split}_{metric}"
                agg[key] = mean_sd([r[key] for r in done if r.get(key) is not None])
        agg["zero_variance"] = mean_sd(
            [r["zero_variance"] for r in done if r.get("zero_variance") is not None]
        )
        out.append(agg)
    return out


def format_aggregate(aggregated: list[dict[str, Any]], splits: list[str]) -> str:
    """The seed table: mean +- sd (percentage points) of each arm's finished runs."""

    def cell(x: tuple[float, float] | None) -> str:
        return "-" if x is None else f"{100 * x[0]:.1f} ± {100 * x[1]:.1f}"

    head = ["arm", "runs finished"]
    for split in splits:
        name = SPLIT_NAMES.get(split, split)
        head += [f"{name} acc", f"{name} set match"]
    head.append("zero-variance groups")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for a in aggregated:
        cells = [a["arm"], a["finished"]]
        for split in splits:
            cells += [cell(a[f"{split}_{m}"]) for m in AGGREGATED]
        cells.append(cell(a["zero_variance"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure_panels(
    run_dir: Path,
    arms: dict[str, list[str]],
    models: dict[str, str],
    splits: list[str],
    summaries: dict[str, dict[str, Any]],
) -> dict[str, dict[str, list[Path]]]:
    """What the figure draws: split name -> group -> its finished evals' folders.

    A group is an arm (its seeds, drawn at their mean) or a model outside every arm (`vanilla`,
    `sft`); splits and groups with nothing evaluated yet are left out.
    """
    in_arm = {label for labels in arms.values() for label in labels}
    groups = {label: [label] for label in models if label not in in_arm} | arms
    panels = {}
    for split in splits:
        done = {
            name: [run_dir / "eval" / x / split for x in labels if f"{x}/{split}" in summaries]
            for name, labels in groups.items()
        }
        if any(done.values()):
            panels[SPLIT_NAMES.get(split, split)] = {k: v for k, v in done.items() if v}
    return panels


def write_report(
    run_dir: Path,
    config: dict[str, Any],
    arms: dict[str, list[str]],
    models: dict[str, str],
    splits: list[str],
    summaries: dict[str, dict[str, Any]],
    status: dict[str, str],
) -> dict[str, Any]:
    """The pipeline's report: the per-model table, the seed table (more than one seed), and in
    `run_dir` results.md, results.json and the accuracy-vs-similarity plot.

    Args:
        run_dir: the run's folder (nothing is written when it does not exist yet).
        config: the run's config, recorded in results.json.
        arms: arm -> the labels of its runs (one per seed).
        models: label -> model folder, in table order (`vanilla`, `sft`, then the GRPO runs).
        splits: the evaluation splits.
        summaries: `LABEL/SPLIT` -> eval summary, for the evals that finished.
        status: label -> why a model has no results yet (`not started`, `training 3/8 steps`).

    Returns:
        `config`, `rows`, `arms` (the seed table's values), `table` (Markdown) and `plot` (or None).
    """
    from mentor_train.plots import plot_groups

    rows = []
    for label, path in models.items():
        r = row(label, {s: summaries.get(f"{label}/{s}") for s in splits})
        done = all(f"{label}/{s}" in summaries for s in splits)
        r["status"] = "done" if done else status.get(label, "eval pending")
        if label not in ("vanilla", "sft"):
            r["zero_variance"] = zero_variance(path)
        rows.append(r)
    aggregated = aggregate(rows, arms, splits)
    table = format_table(rows, splits)
    if any(len(labels) > 1 for labels in arms.values()):
        seeds = format_aggregate(aggregated, splits)
        table += "\n\nMean ± sd over seeds (finished runs):\n\n" + seeds
    results: dict[str, Any] = {"config": config, "rows": rows, "arms": aggregated}
    if not run_dir.is_dir():  # (report mode before anything ran)
        return {**results, "table": table, "plot": None}
    (run_dir / "results.md").write_text(table + "\n")
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    panels = figure_panels(run_dir, arms, models, splits, summaries)
    plot = None
    if panels:
        title = "accuracy vs tool-use similarity (arms: mean ± sd over finished seeds)"
        plot = str(plot_groups(panels, run_dir / "accuracy_vs_similarity.png", title=title))
    return {**results, "table": table, "plot": plot}
