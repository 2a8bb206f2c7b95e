"""Which verified rows a run keeps: `--keep`, then `--dedupe`, then `--per-problem` (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from mentor_data.verify.rows import RowVerdict

KEEP_CHOICES = ("passed", "failed", "all")
"""The `--keep` values: verified rows, the others, or every row."""


@dataclass(frozen=True)
class Selection:
    """Which rows a verify run keeps, and how many each rule dropped."""

    indices: list[int]
    dropped_by_keep: int
    dropped_duplicates: int
    dropped_per_problem: int


def select_rows(
    verdicts: Sequence[RowVerdict],
    problem_ids: Sequence[str],
    sample_ids: Sequence[int],
    *,
    keep: str = "passed",
    dedupe: bool = False,
    per_problem: int | None = None,
) -> Selection:
    """Apply `--keep`, then `--dedupe`, then `--per-problem` (pure; input order is kept).

    Rows are ranked best first by (not verified, fewest calls, lowest sample_id). `dedupe`
    keeps the best row of each group with the same `problem_id` and the same `signature`
    (calls, in order, with canonical arguments, and the answer with whitespace removed; rows
    that failed before their calls were read have no signature and are never duplicates);
    `per_problem` keeps the K best rows of each problem.

    Args:
        verdicts: one verdict per row.
        problem_ids: the `problem_id` column.
        sample_ids: the `sample_id` column.
        keep: `passed` (verified rows), `failed` (the others) or `all`.
        dedupe: drop duplicates (see above).
        per_problem: keep at most this many rows per problem (None: no limit).

    Returns:
        The kept row indices in input order and the number each rule dropped.
    """
    if keep not in KEEP_CHOICES:
        raise ValueError(f"keep={keep!r}: use one of {', '.join(KEEP_CHOICES)}")
    wanted = {"passed": (True,), "failed": (False,), "all": (True, False)}[keep]
    kept = [i for i, v in enumerate(verdicts) if v.verified in wanted]
    after_keep = len(kept)

    def rank(i: int) -> tuple[bool, int, int, int]:
        return (not verdicts[i].verified, verdicts[i].teacher_n_calls, int(sample_ids[i]), i)

    ranked = sorted(kept, key=rank)
    duplicates = 0
    if dedupe:
        seen: set[tuple[str, str]] = set()
        unique = []
        for i in ranked:
            key = (problem_ids[i], verdicts[i].signature)
            # No signature: the row failed before its calls were read; never call it a copy.
            if key in seen and key[1]:
                duplicates += 1
                continue
            seen.add(key)
            unique.append(i)
        ranked = unique
    over = 0
    if per_problem is not None:
        taken: Counter[str] = Counter()
        limited = []
        for i in ranked:
            if taken[problem_ids[i]] >= per_problem:
                over += 1
                continue
            taken[problem_ids[i]] += 1
            limited.append(i)
        ranked = limited
    return Selection(sorted(ranked), len(verdicts) - after_keep, duplicates, over)
