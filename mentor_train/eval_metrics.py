"""Scoring eval conversations: per-problem rows, aggregate metrics, tool-use similarity.

`score_row` judges one finished conversation through its problem's domain and counts its calls;
`metrics` aggregates scored rows (the definitions are in `mentor_train.evaluate`'s docstring);
`tool_similarity` is 1 - JSD of two tool-frequency distributions, and `teacher_tool_frequencies`
reads the teacher's from a verified dataset.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


# -- similarity -----------------------------------------------------------------------------------
def tool_similarity(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """1 - Jensen-Shannon divergence (base 2) of two tool-frequency distributions.

    Args:
        p, q: counts (or probabilities) by tool name; normalised here.

    Returns:
        A similarity in [0, 1]: 1.0 for the same distribution (and for two empty ones), 0.0 for
        disjoint supports (and for an empty one against a non-empty one).

    Example:
        >>> tool_similarity({"add": 2, "multiply": 2}, {"add": 1, "multiply": 1})
        1.0
        >>> tool_similarity({"add": 1}, {"sqrt": 5})
        0.0
        >>> round(tool_similarity({"add": 1}, {"add": 1, "sqrt": 1}), 4)
        0.6887
    """
    p_total = sum(v for v in p.values() if v > 0)
    q_total = sum(v for v in q.values() if v > 0)
    if p_total == 0 and q_total == 0:
        return 1.0
    if p_total == 0 or q_total == 0:
        return 0.0
    jsd = 0.0
    for name in set(p) | set(q):
        pi = max(p.get(name, 0), 0) / p_total
        qi = max(q.get(name, 0), 0) / q_total
        mi = (pi + qi) / 2
        if pi > 0:
            jsd += 0.5 * pi * math.log2(pi / mi)
        if qi > 0:
            jsd += 0.5 * qi * math.log2(qi / mi)
    return max(0.0, min(1.0, 1.0 - jsd))


@dataclass
class ToolFrequencies:
    """Tool-call counts of a dataset, overall and by problem family.

    Attributes:
        overall: counts by tool name.
        by_family: counts by tool name for each family.
        source: where they came from (a dataset reference).
    """

    overall: dict[str, int] = field(default_factory=dict)
    by_family: dict[str, dict[str, int]] = field(default_factory=dict)
    source: str | None = None

    @classmethod
    def from_calls(
        cls, calls: Iterable[tuple[str | None, Mapping[str, int]]], source: str | None = None
    ) -> ToolFrequencies:
        """Sum `(family, counts)` pairs."""
        overall: Counter = Counter()
        by_family: dict[str, Counter] = defaultdict(Counter)
        for family, counts in calls:
            clean = {k: int(v) for k, v in (counts or {}).items() if isinstance(k, str)}
            overall.update(clean)
            if family is not None:
                by_family[str(family)].update(clean)
        return cls(dict(overall), {k: dict(v) for k, v in by_family.items()}, source)


def teacher_tool_frequencies(spec: str, *, data_dir: str | None = None) -> ToolFrequencies:
    """The teacher's tool frequencies from a verified dataset (`NAME@vN` or a GRPO export path).

    Counts come from the `teacher_tool_counts` column of the verified rows (the GRPO view).
    """
    from mentor_train.data import load_training_data

    view = load_training_data(spec, "grpo", data_dir=data_dir)
    if "teacher_tool_counts" not in view.column_names:
        from mentor_train.data import DataError

        raise DataError(f"{spec} has no teacher_tool_counts column: give a verified version")
    families = view["family"] if "family" in view.column_names else [None] * len(view)
    counts = view["teacher_tool_counts"]
    counts = [json.loads(c) if isinstance(c, str) else c for c in counts]
    return ToolFrequencies.from_calls(zip(families, counts, strict=True), source=spec)


# -- scoring one conversation ---------------------------------------------------------------------
def score_row(row: Mapping[str, Any], offered: Iterable[str]) -> dict[str, Any]:
    """Score one finished conversation row of `run_conversations` (a trajectory row).

    The row's domain judges it (`Domain.judge` with its leaderboard rule, `strict=False`): the
    boxed answer for answer-judged domains, BFCL's checker for BFCL rows, whose judgement adds
    its own columns (`prediction` as the calls per user turn, `parse_failure`, `bfcl_reason`).
    """
    from mentor_data.domains import domain_of, metadata_family
    from mentor_data.formats import parse_completion

    truncated = row.get("finish_reason") == "length"
    messages = row.get("messages") or []
    parsed = parse_completion(messages, truncated=truncated)
    domain = domain_of(row)
    judgement = domain.judge(row, messages, parsed=parsed, strict=False, timeout_s=2.0)
    verdict = (
        _VERDICTS.get(judgement.reason)
        or {True: "pass", False: "fail", None: "error"}[judgement.correct]
    )
    metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    reference = reference_tools(metadata)
    family = domain.family(metadata) if metadata else metadata_family(row.get("metadata"))
    return {
        "problem_id": row.get("problem_id"),
        "domain": domain.name,
        "family": family,
        "question": row.get("question"),
        "answer": row.get("answer"),
        "prediction": parsed.answer,
        "verdict": verdict,
        "correct": judgement.correct is True,
        **_call_columns(row, parsed, set(offered)),
        "reference_tools": reference,
        "tool_set_match": None if reference is None else set(parsed.tool_names) == set(reference),
        **judgement.extra,
    }


# Judge reasons with a verdict name of their own in the eval table.
_VERDICTS = {"no_answer": "no_answer", "no_ground_truth": "no_gold"}


def reference_tools(metadata: Mapping[str, Any]) -> list[str] | None:
    """The sorted tool set of a problem's reference program, or None when it has none.

    Example:
        >>> reference_tools({"program": [{"tool": "multiply"}, {"tool": "add"}, {"tool": "add"}]})
        ['add', 'multiply']
    """
    program = metadata.get("program")
    if not isinstance(program, list) or not program:
        return None
    names = {step.get("tool") for step in program if isinstance(step, Mapping)}
    return sorted(n for n in names if isinstance(n, str)) or None


def _call_columns(row: Mapping[str, Any], parsed: Any, offered: set[str]) -> dict[str, Any]:
    """The columns both domains share: finish, calls, turns, timing, the conversation."""
    names = parsed.tool_names
    return {
        "finish_reason": row.get("finish_reason"),
        "n_calls": len(names),
        "n_invalid_calls": sum(1 for n in names if n not in offered),
        "n_malformed": len(parsed.malformed),
        "tool_names": names,
        "num_turns": parsed.num_turns,
        "latency_s": row.get("latency_s"),
        "messages": json.dumps(row.get("messages") or [], ensure_ascii=False, default=str),
    }


def metrics(rows: Sequence[Mapping[str, Any]], teacher: Mapping[str, int] | None) -> dict[str, Any]:
    """Aggregate scored rows (see the module docstring for the definitions)."""
    n = len(rows)
    calls = sum(r["n_calls"] for r in rows)
    blocks = calls + sum(r["n_malformed"] for r in rows)
    freq = Counter(name for r in rows for name in r["tool_names"])
    matched = [r["tool_set_match"] for r in rows if r.get("tool_set_match") is not None]
    out: dict[str, Any] = {
        "n": n,
        "accuracy": sum(r["correct"] for r in rows) / n if n else 0.0,
        "tool_call_rate": sum(r["n_calls"] > 0 for r in rows) / n if n else 0.0,
        "invalid_tool_rate": sum(r["n_invalid_calls"] for r in rows) / calls if calls else 0.0,
        "malformed_call_rate": sum(r["n_malformed"] for r in rows) / blocks if blocks else 0.0,
        "calls_per_problem": calls / n if n else 0.0,
        "truncated_rate": sum(r["finish_reason"] == "length" for r in rows) / n if n else 0.0,
        "judge_errors": sum(r["verdict"] == "error" for r in rows),
        "tool_frequencies": dict(freq),
        "tool_similarity": None if teacher is None else tool_similarity(freq, teacher),
        "tool_set_match_rate": sum(matched) / len(matched) if matched else None,
    }
    return out
