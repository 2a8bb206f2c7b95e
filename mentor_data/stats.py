"""`mentor-data stats`: what a version holds, computed with polars.

`compute_stats(df)` is pure (a polars DataFrame of trajectory rows in, a JSON-ready dict out);
`version_stats(ref)` loads a store version first; `plot_stats(stats, path)` draws the tool
distribution, pass rates by family and the reason codes with matplotlib (Agg backend, no display).

Pass rates need the verification columns (`mentor-data verify`); on an unverified version they
are null and only the other numbers are reported. Tool counts are over well-formed calls (a
`tool_calls` entry with a name), whether or not the tool was offered.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_TOP_TOOLS = 30  # bars in the plot; the JSON keeps every tool


def _json_text(column: str):
    """A JSON extension column as its text (polars has no JSON functions on the extension)."""
    import polars as pl

    return pl.col(column).ext.storage()


def _histogram(series) -> dict[str, int]:
    counts = series.drop_nulls().value_counts(sort=False)
    return {
        str(k): int(v) for k, v in sorted(zip(counts[series.name], counts["count"], strict=True))
    }


def _ranked(series) -> dict[str, int]:
    """Value counts, most frequent first, ties by name (stable output for cards and tests)."""
    counts = series.drop_nulls().value_counts(sort=False)
    pairs = zip(counts[series.name], counts["count"], strict=True)
    return {str(k): int(v) for k, v in sorted(pairs, key=lambda kv: (-kv[1], str(kv[0])))}


def _summary(series) -> dict[str, float | int | None]:
    """count, sum, mean, p50, p95 and max of a numeric series (nulls left out)."""
    values = series.drop_nulls()
    if values.len() == 0:
        return {"count": 0, "sum": None, "mean": None, "p50": None, "p95": None, "max": None}
    return {
        "count": int(values.len()),
        "sum": float(values.sum()),
        "mean": float(values.mean()),
        "p50": float(values.quantile(0.5, "nearest")),
        "p95": float(values.quantile(0.95, "nearest")),
        "max": float(values.max()),
    }


def compute_stats(df) -> dict[str, Any]:
    """Statistics of a DataFrame of trajectory rows (`Store.load_polars`).

    Args:
        df: a polars DataFrame with the trajectory columns, verification columns optional.

    Returns:
        A JSON-ready dict: `rows`, `verified` (whether pass rates exist), `pass_rate`,
        `reasons` (code -> rows), `by_family` (family, or BFCL category -> rows, passed,
        pass_rate), `domains` (domain -> rows),
        `finish_reasons`, `teachers` ("backend/model" -> rows), `tools` (name -> calls),
        `tool_rows` (name -> rows that call it), `tool_errors` (calls that returned an error),
        `calls_histogram` (calls per row -> rows), `turns_histogram` (assistant turns -> rows),
        `tokens` (prompt and completion: count, sum, mean, p50, p95, max) and `latency_s`
        (the same summary).
    """
    import polars as pl

    rows = df.height
    verified = "verified" in df.columns
    names = pl.col("tool_calls").list.eval(pl.element().struct.field("name").drop_nulls())
    errors = (
        pl.col("tool_calls")
        .list.eval(pl.element().struct.field("error").is_not_null().sum())
        .list.first()
    )
    from mentor_data.domains import family_of

    # Each row's family as its domain reads it (BFCL: the category; docs/domains.md).
    metadata = df.select(_json_text("metadata")).to_series().to_list()
    families = [
        family_of(d, m) or "(none)" for d, m in zip(df["domain"].to_list(), metadata, strict=True)
    ]
    frame = df.select(
        pl.Series("family", families, dtype=pl.String),
        pl.col("domain"),
        names.alias("names"),
        errors.alias("errors"),
        pl.col("num_turns"),
        pl.col("finish_reason"),
        pl.concat_str(
            pl.col("teacher").struct.field("backend"),
            pl.col("teacher").struct.field("model").fill_null("-"),
            separator="/",
        ).alias("teacher"),
        pl.col("usage").struct.field("prompt_tokens").alias("prompt_tokens"),
        pl.col("usage").struct.field("completion_tokens").alias("completion_tokens"),
        pl.col("latency_s"),
        (pl.col("verified") if verified else pl.lit(None, dtype=pl.Boolean)).alias("verified"),
        (pl.col("reason") if verified else pl.lit(None, dtype=pl.String)).alias("reason"),
    ).with_columns(pl.col("names").list.len().alias("n_calls"))

    by_family = {}
    grouped = (
        frame.group_by("family")
        .agg(pl.len().alias("rows"), pl.col("verified").sum().alias("passed"))
        .sort("family")
    )
    for family, n, passed in grouped.iter_rows():
        by_family[family] = {
            "rows": int(n),
            "passed": int(passed) if verified else None,
            "pass_rate": (passed / n if n else 0.0) if verified else None,
        }
    tools = _ranked(frame["names"].explode())
    tool_rows = _ranked(frame["names"].list.unique().explode())
    passed = int(frame["verified"].sum()) if verified else None
    return {
        "rows": rows,
        "verified": verified,
        "passed": passed,
        "pass_rate": (passed / rows if rows else 0.0) if verified else None,
        "reasons": _histogram(frame["reason"]) if verified else {},
        "by_family": by_family,
        "domains": _histogram(frame["domain"]),
        "finish_reasons": _histogram(frame["finish_reason"]),
        "teachers": _histogram(frame["teacher"]),
        "tools": tools,
        "tool_rows": tool_rows,
        "tool_errors": int(frame["errors"].fill_null(0).sum()),
        "calls_histogram": {
            str(k): v
            for k, v in sorted((int(k), v) for k, v in _histogram(frame["n_calls"]).items())
        },
        "turns_histogram": {
            str(k): v
            for k, v in sorted((int(k), v) for k, v in _histogram(frame["num_turns"]).items())
        },
        "tokens": {
            "prompt": _summary(frame["prompt_tokens"]),
            "completion": _summary(frame["completion_tokens"]),
        },
        "latency_s": _summary(frame["latency_s"]),
    }


def version_stats(ref: str, *, store: Any = None) -> dict[str, Any]:
    """`compute_stats` of a store version, with its `ref` added.

    Args:
        ref: `NAME` or `NAME@vN`.
        store: the `Store` (default: `Store()`).
    """
    from mentor_data.store import Store

    store = store or Store()
    info = store.resolve(ref)
    return {"ref": info.ref, **compute_stats(store.load_polars(info))}


def plot_stats(stats: dict[str, Any], path: str | Path) -> Path:
    """Draw the tool distribution, pass rate by family and reason codes into a PNG.

    Args:
        stats: the output of `compute_stats` / `version_stats`.
        path: the image file to write (parent folders are created).

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    tools = list(stats["tools"].items())[:_TOP_TOOLS]
    ax = axes[0]
    ax.barh([k for k, _ in tools][::-1], [v for _, v in tools][::-1], color="tab:blue")
    ax.set_title(f"tool calls ({sum(stats['tools'].values())} in {stats['rows']} rows)")
    ax.set_xlabel("calls")
    ax = axes[1]
    families = list(stats["by_family"].items())
    if stats["verified"]:
        ax.bar([k for k, _ in families], [v["pass_rate"] for _, v in families], color="tab:green")
        ax.set_ylim(0, 1)
        ax.set_ylabel("pass rate")
        ax.set_title(f"pass rate by family (overall {stats['pass_rate']:.1%})")
    else:
        ax.bar([k for k, _ in families], [v["rows"] for _, v in families], color="tab:gray")
        ax.set_ylabel("rows")
        ax.set_title("rows by family (not verified)")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    ax = axes[2]
    reasons = stats["reasons"] or stats["finish_reasons"]
    ax.bar(list(reasons), list(reasons.values()), color="tab:orange")
    ax.set_title("reason codes" if stats["reasons"] else "finish reasons")
    ax.set_ylabel("rows")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    fig.suptitle(stats.get("ref", ""))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    logger.info("wrote %s", path)
    return path


__all__ = ["compute_stats", "plot_stats", "version_stats"]
