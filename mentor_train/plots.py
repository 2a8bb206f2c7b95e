"""The accuracy-vs-similarity figure of eval summaries (the paper's plot).

`plot_results` puts one point per evaluated model (`mentor-train plot`). `plot_groups` is the
experiment's figure: one panel per evaluation split, one point per arm at the mean of its seeds
with the seeds' sd as error bars, so twelve runs read as four methods and the held-out families
sit beside the in-domain problems.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUMMARY_FILE = "summary.json"
"""What `EvalResult.write` names its summary (read back by `read_summary`)."""

MARKERS = "osD^vP*Xph<>"
"""One marker per point of a panel: points that land on one spot stay distinguishable."""


def read_summary(path: str | Path) -> dict[str, Any]:
    """A `summary.json`, given the file or the folder `evaluate` wrote."""
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no eval summary (run `mentor-train eval --out DIR`)")
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Point:
    """One point of the figure: a model, or an arm's seeds (mean, sample sd, how many)."""

    label: str
    similarity: float
    accuracy: float
    """Percent."""
    similarity_sd: float = 0.0
    accuracy_sd: float = 0.0
    n: int = 1


def group_point(label: str, summaries: Sequence[str | Path]) -> Point:
    """The mean +- sd of the eval summaries of one group (an arm's seeds, or a single model).

    Raises:
        ValueError: no summaries, or one without a similarity (evaluated without
            `--teacher-data`).
    """
    from mentor_train.report import mean_sd

    if not summaries:
        raise ValueError(f"{label}: no eval summary to plot")
    sims, accs = [], []
    for path in summaries:
        overall = read_summary(path)["overall"]
        if overall.get("tool_similarity") is None:
            raise ValueError(f"{path}: no tool_similarity; evaluate with --teacher-data NAME@vN")
        sims.append(overall["tool_similarity"])
        accs.append(100 * overall["accuracy"])
    (sim, sim_sd), (acc, acc_sd) = mean_sd(sims), mean_sd(accs)
    return Point(label, sim, acc, sim_sd, acc_sd, len(summaries))


def plot_groups(
    panels: Mapping[str, Mapping[str, Sequence[str | Path]]],
    out: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Accuracy against tool-use similarity: one panel per split, one point per group.

    Args:
        panels: panel title (a split) -> group label -> its eval folders (or `summary.json`
            files); a group of several (an arm's seeds) is drawn at their mean with sd bars.
        out: the image file to write (`.png`, `.pdf`, `.svg`).
        title: the figure title.

    Returns:
        The written file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = {name: [group_point(g, s) for g, s in gs.items()] for name, gs in panels.items()}
    labels = list(dict.fromkeys(p.label for points in drawn.values() for p in points))
    # later points drawn smaller: one inside the other where two methods land on one spot
    style = {
        label: (f"C{i % 10}", MARKERS[i % len(MARKERS)], max(5.0, 11.0 - 1.2 * i))
        for i, label in enumerate(labels)
    }
    fig, axes = plt.subplots(
        1, len(drawn), figsize=(4.6 * len(drawn) + 1.8, 4.2), dpi=150, squeeze=False
    )
    for ax, (name, points) in zip(axes[0], drawn.items(), strict=True):
        for p in points:
            color, marker, size = style[p.label]
            n = f" (n={p.n})" if p.n > 1 else ""
            ax.errorbar(
                p.similarity,
                p.accuracy,
                xerr=p.similarity_sd or None,
                yerr=p.accuracy_sd or None,
                fmt=marker,
                ms=size,
                mfc="none",  # hollow: several methods on one spot stay visible
                mew=1.6,
                color=color,
                capsize=3,
                zorder=3,
                label=p.label + n,
            )
        accs = [p.accuracy + p.accuracy_sd for p in points] + [0.0]
        ax.set_xlim(-0.04, 1.04)
        ax.set_ylim(-2.0, min(102.0, max(10.0, 1.15 * max(accs))))
        ax.set_xlabel("tool-use similarity to the teacher (1 - JSD)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(name, fontsize=10)
        ax.grid(True, alpha=0.3)
    handles, names = [], []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in names:
                handles.append(h)
                names.append(lab)
    fig.legend(handles, names, fontsize=8, loc="center right", frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1 - 1.7 / fig.get_figwidth(), 1))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_results(
    results: Sequence[str | Path],
    out: str | Path,
    *,
    title: str = "Accuracy vs tool-use similarity to the teacher",
) -> Path:
    """Accuracy against tool-use similarity, one point per evaluated model (the paper's figure).

    Args:
        results: eval output folders (or their `summary.json`), labelled by their summaries.
        out: the image file to write (`.png`, `.pdf`, `.svg`).
        title: the figure title.

    Returns:
        The written file.

    Raises:
        ValueError: a summary without a similarity (evaluated without `--teacher-data`).
    """
    labels = [read_summary(path)["label"] for path in results]
    if len(set(labels)) < len(labels):  # two evals of one label: keep both, told apart
        labels = [f"{label} ({path})" for label, path in zip(labels, results, strict=True)]
    return plot_groups({title: {x: [p] for x, p in zip(labels, results, strict=True)}}, out)
