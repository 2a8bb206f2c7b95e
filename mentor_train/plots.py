"""The accuracy-vs-similarity figure of eval summaries (the paper's plot)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SUMMARY_FILE = "summary.json"
"""What `EvalResult.write` names its summary (read back by `read_summary`)."""


def read_summary(path: str | Path) -> dict[str, Any]:
    """A `summary.json`, given the file or the folder `evaluate` wrote."""
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no eval summary (run `mentor-train eval --out DIR`)")
    return json.loads(path.read_text())


def plot_results(
    results: Sequence[str | Path],
    out: str | Path,
    *,
    title: str = "Accuracy vs tool-use similarity to the teacher",
) -> Path:
    """Accuracy against tool-use similarity, one point per evaluated model (the paper's figure).

    Args:
        results: eval output folders (or their `summary.json`).
        out: the image file to write (`.png`, `.pdf`, `.svg`).
        title: the figure title.

    Returns:
        The written file.

    Raises:
        ValueError: a summary without a similarity (evaluated without `--teacher-data`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = []
    for path in results:
        summary = read_summary(path)
        sim = summary["overall"].get("tool_similarity")
        if sim is None:
            raise ValueError(f"{path}: no tool_similarity; evaluate with --teacher-data NAME@vN")
        points.append((summary["label"], sim, 100 * summary["overall"]["accuracy"]))
    fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=150)
    for i, (label, sim, acc) in enumerate(points):
        ax.scatter([sim], [acc], s=60, zorder=3, label=label)
        # staggered offsets keep the names of models that land on one spot readable
        ax.annotate(
            label, (sim, acc), textcoords="offset points", xytext=(6, 6 + 11 * (i % 4)), fontsize=8
        )
    ax.set_xlabel("tool-use similarity to the teacher (1 - JSD)")
    ax.set_ylabel("accuracy (%)")
    ax.set_xlim(-0.02, 1.02)
    accs = [p[2] for p in points]
    low, high = min(accs), max(accs)
    pad = max(2.0, (high - low) * 0.15)
    ax.set_ylim(max(low - pad, -0.5), min(100.5, high + 2 * pad))  # -0.5: a 0% point stays whole
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
